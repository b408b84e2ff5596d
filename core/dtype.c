/* dtype.c -- element types: names, promotion, conversion between them, and element access
 * for any dtype (one element: backend/convert.h; whole tensors: the device's copy kernels).
 *
 * Conversions follow PyTorch 1.13 on x86: integer and float values convert by C's casts
 * where those are defined; where C leaves them undefined (a float out of an integer's range,
 * NaN) the result is what x86's truncating conversion gives, INT64_MIN, so no conversion is
 * undefined behaviour here.  uint8 takes the low byte of the int64 value (-1 -> 255); bool is
 * v != 0 (NaN -> true). */
#include "internal.h"
#include "backend.h"
#include "convert.h"

static const char *const names[DM_NDTYPES] = {
    [DM_FLOAT32] = "float32", [DM_FLOAT64] = "float64", [DM_INT64] = "int64",
    [DM_UINT8] = "uint8", [DM_BOOL] = "bool",
};

const char *dm_dtype_name(dm_dtype dt) { return (unsigned)dt < DM_NDTYPES ? names[dt] : "?"; }
size_t dm_dtype_size(dm_dtype dt) { return (unsigned)dt < DM_NDTYPES ? dm__esize(dt) : 0; }
int dm_is_floating(dm_dtype dt) { return dt == DM_FLOAT32 || dt == DM_FLOAT64; }

/* rank along PyTorch's lattice for the five types: bool < uint8 < int64 < float32 < float64 */
static int rank(dm_dtype dt)
{
    switch (dt) {
    case DM_BOOL: return 0;
    case DM_UINT8: return 1;
    case DM_INT64: return 2;
    case DM_FLOAT32: return 3;
    default: return 4;
    }
}

dm_dtype dm_promote_types(dm_dtype a, dm_dtype b) { return rank(a) >= rank(b) ? a : b; }

int dm_tensor_device(const dm_tensor *t) { return t->storage->device; }

/* ---- devices -------------------------------------------------------------------------- */

DM_TLS int dm__cur_device = DM_CPU;
static const char *const device_names[DM_NDEVICES] = { "cpu", "cpu:ref" };

const char *dm_device_name(int device)
{
    return (unsigned)device < DM_NDEVICES ? device_names[device] : NULL;
}

int dm_device_parse(const char *name)
{
    for (int d = 0; name && d < DM_NDEVICES; d++)
        if (!strcmp(name, device_names[d])) return d;
    return -1;
}

void dm_set_device(int device) { if ((unsigned)device < DM_NDEVICES) dm__cur_device = device; }
int dm_current_device(void) { return dm__cur_device; }

int dm__device_mismatch(const char *fn, int n, const dm_tensor *const *t)
{
    int dev = -1;
    for (int k = 0; k < n; k++) {
        if (!t[k]) continue;
        int d = t[k]->storage->device;
        if (dev < 0) dev = d;
        else if (d != dev) {
            dm_seterr("%s: expected all tensors on one device, got %s and %s", fn,
                      device_names[dev], device_names[d]);
            break;
        }
    }
    return -1;
}

/* A copy on another device.  Both devices hold host memory, so the copy is the same
   gather as a clone; a device with memory of its own would copy through its table. */
dm_tensor *dm_to_device(const dm_tensor *t, int device)
{
    if ((unsigned)device >= DM_NDEVICES) { dm_seterr("to: unknown device %d", device); return NULL; }
    if (t->storage->device == device) return dm_tensor_retain((dm_tensor *)t);
    int was = dm__cur_device;
    dm__cur_device = device;
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    dm__cur_device = was;
    if (!out) return NULL;
    dm__copy_convert(out, t);
    const dm_tensor *in[1] = { t };
    if (dm_is_floating(t->dtype) && dm__needs_grad(1, in)) {
        dm_node *nd = dm__record(DM_OP_TO_DTYPE, 1, out, 1, in);   /* sub 1: a device copy */
        if (!nd) { dm_tensor_release(out); return NULL; }
    }
    return out;
}

const dm_allocator *dm_tensor_allocator(const dm_tensor *t) { return t->storage->allocator; }
int64_t dm_storage_nbytes(const dm_tensor *t) { return t->storage->nbytes; }
int dm_storage_shared(const dm_tensor *t) { return t->storage->refcount > 1; }
int64_t dm_fresh_bytes(const dm_tensor *t) { return t->storage->refcount > 1 ? 0 : t->storage->nbytes; }

int dm__need_float(const char *fn, const dm_tensor *t, const char *what)
{
    if (dm_is_floating(t->dtype)) return 0;
    dm_seterr("%s: expected a floating point %s, got %s (use :float())", fn, what,
              dm_dtype_name(t->dtype));
    return -1;
}

/* ---- one element (convert.h's dm__convert1) -------------------------------------------- */

/* the address of element off (in elements, from the storage's start) of t */
static inline char *elem(const dm_tensor *t, int64_t off)
{
    return (char *)t->storage->data + off * (int64_t)dm__esize(t->dtype);
}

double dm_get_f64(const dm_tensor *t, const int64_t *idx)
{
    return dm__load_f(elem(t, dm__offset_of(t, idx)), t->dtype);
}

int64_t dm_get_i64(const dm_tensor *t, const int64_t *idx)
{
    return dm__load_i(elem(t, dm__offset_of(t, idx)), t->dtype);
}

void dm__store_f64(dm_tensor *t, int64_t off, double v)
{
    dm__convert1(elem(t, off), t->dtype, (const char *)&v, DM_FLOAT64);
}

void dm__store_i64(dm_tensor *t, int64_t off, int64_t v)
{
    dm__convert1(elem(t, off), t->dtype, (const char *)&v, DM_INT64);
}

void dm_set_f64(dm_tensor *t, const int64_t *idx, double v) { dm__store_f64(t, dm__offset_of(t, idx), v); dm__bump(t); }
void dm_set_i64(dm_tensor *t, const int64_t *idx, int64_t v) { dm__store_i64(t, dm__offset_of(t, idx), v); dm__bump(t); }

/* ---- whole tensors -------------------------------------------------------------------- */

/* The loops are the device's (backend.h: cpu/copy.c, ref/copy.c), the source's for a
   gather and the destination's for a copy. */

void dm_to_buffer_dtype(const dm_tensor *t, void *out, dm_dtype out_dt)
{
    dm__kernels(t->storage->device)->gather(t, out, out_dt);
}

/* dst (any strides) = src broadcast to dst's shape, converted; no overlap handling (the
   caller reads an overlapping source into a temporary first) */
void dm__copy_convert(dm_tensor *dst, const dm_tensor *src)
{
    dm__kernels(dst->storage->device)->copy(dst, src);
}

/* a new tensor of dt filled with the value at v (of type vt), converted once */
static dm_tensor *full_of(int ndim, const int64_t *shape, dm_dtype dt, const void *v, dm_dtype vt)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, dt);
    if (!t) return NULL;
    char one[8];
    dm__convert1(one, dt, v, vt);
    dm__kernels(t->storage->device)->fill(t, one);
    return t;
}

dm_tensor *dm_tensor_full_dtype(int ndim, const int64_t *shape, double v, dm_dtype dt)
{
    return full_of(ndim, shape, dt, &v, DM_FLOAT64);
}

dm_tensor *dm_tensor_full_i64(int ndim, const int64_t *shape, int64_t v, dm_dtype dt)
{
    return full_of(ndim, shape, dt, &v, DM_INT64);
}

dm_tensor *dm_to_dtype(const dm_tensor *t, dm_dtype dt)
{
    if ((unsigned)dt >= DM_NDTYPES) { dm_seterr("to: unknown dtype %d", (int)dt); return NULL; }
    if (t->dtype == dt) return dm_tensor_retain((dm_tensor *)t);
    dm__device_of(t);
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, dt);
    if (!out) return NULL;
    dm_to_buffer_dtype(t, dm__ptr(out), dt);
    const dm_tensor *in[1] = { t };
    if (dm_is_floating(dt) && dm__needs_grad(1, in) && !dm__record(DM_OP_TO_DTYPE, 0, out, 1, in)) {
        dm_tensor_release(out);
        return NULL;
    }
    return out;
}

int dm__bw_to_dtype(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    if (n->sub == 1) {                   /* dm_to_device: the gradient goes back */
        gin[0] = dm_to_device(gout, n->in[0]->storage->device);
        return gin[0] ? 0 : -1;
    }
    gin[0] = dm_to_dtype(gout, n->in[0]->dtype);
    return gin[0] ? 0 : -1;
}
