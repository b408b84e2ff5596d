/* inplace.c -- ops that write into an existing tensor.  They record no autograd history;
 * writing into a leaf that requires grad is refused while grad mode is on (as PyTorch does),
 * so optimizers and initializers run under no_grad. */
#include "internal.h"
#include "backend.h"

int dm__check_inplace(const char *fn, const dm_tensor *t)
{
    if (dm_grad_enabled() && t->requires_grad) {
        dm_seterr("%s: a leaf tensor that requires grad is being used in an in-place "
                  "operation; wrap it in no_grad", fn);
        return -1;
    }
    return 0;
}

/* dst op= src elementwise with src broadcast to dst's shape, float32: the device's kernel
   (backend.h) after the shape check, with an overlapping source read first */
static int apply_pair(const char *fn, dm_tensor *dst, const dm_tensor *src, dm_ip_kind f,
                      float a)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    /* src must broadcast to dst's shape exactly */
    int ok = src->ndim <= dst->ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t s = src->shape[d], t = dst->shape[d + dst->ndim - src->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("%s: source %s cannot be broadcast to destination %s", fn, SHAPE(src, b1),
                  SHAPE(dst, b2));
        return -1;
    }
    /* src may overlap dst (x:copy_(x:t())): read it first when storages are shared */
    dm_tensor *c = NULL;
    if (src->storage == dst->storage && !(dm_same_shape(src, dst) && src->offset == dst->offset &&
                                          !memcmp(src->stride, dst->stride, sizeof src->stride))) {
        if (!(c = dm_tensor_new_dtype(src->ndim, src->shape, DM_FLOAT32))) return -1;
        dm_to_buffer(src, dm__ptr(c));
    }
    dm__kernels(dst->storage->device)->inplace_f32(f, dst, c ? c : src, a, 0);
    dm_tensor_release(c);
    return 0;
}

int dm_copy_(dm_tensor *dst, const dm_tensor *src)
{
    if (dm__check_inplace("copy_", dst)) return -1;
    if (dst->dtype == DM_FLOAT32 && src->dtype == DM_FLOAT32)
        return apply_pair("copy_", dst, src, DM_IP_COPY, 0);
    /* another dtype on either side: convert, through a contiguous copy of src (which also
       takes care of overlap) */
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int ok = src->ndim <= dst->ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t s = src->shape[d], t = dst->shape[d + dst->ndim - src->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("copy_: source %s cannot be broadcast to destination %s", SHAPE(src, b1),
                  SHAPE(dst, b2));
        return -1;
    }
    dm_tensor *c = dm_tensor_new_dtype(src->ndim, src->shape, src->dtype);
    if (!c) return -1;
    dm_to_buffer_dtype(src, dm__ptr(c), src->dtype);
    dm__copy_convert(dst, c);
    dm_tensor_release(c);
    return 0;
}

int dm_add_(dm_tensor *t, const dm_tensor *o, float alpha)
{
    if (dm__check_inplace("add_", t)) return -1;
    if ((t->dtype | o->dtype) != DM_FLOAT32) {             /* DM_FLOAT32 is 0 */
        if (alpha == 1.0f) return dm_binary_(DM_BIN_ADD, t, o);
        dm_tensor *ao = dm_binary_scalar_f64(DM_BIN_MUL, o, alpha, 0);
        int rc = ao ? dm_binary_(DM_BIN_ADD, t, ao) : -1;
        dm_tensor_release(ao);
        return rc;
    }
    return apply_pair("add_", t, o, DM_IP_AXPY, alpha);
}

int dm_mul_(dm_tensor *t, const dm_tensor *o)
{
    if (dm__check_inplace("mul_", t)) return -1;
    if ((t->dtype | o->dtype) != DM_FLOAT32) return dm_binary_(DM_BIN_MUL, t, o);
    return apply_pair("mul_", t, o, DM_IP_MUL, 0);
}

/* float32 t op= a scalar, the device's kernel */
#define INPLACE(t, k, a, b) dm__kernels((t)->storage->device)->inplace_f32(k, t, NULL, a, b)

/* fill t (any dtype) with src's one value, converted */
static int fill_other(const char *fn, dm_tensor *t, double x)
{
    if (dm__check_inplace(fn, t)) return -1;
    dm_tensor *s = dm_tensor_full_dtype(0, NULL, x, DM_FLOAT64);
    if (!s) return -1;
    dm__copy_convert(t, s);
    dm_tensor_release(s);
    return 0;
}

int dm_fill_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return fill_other("fill_", t, x);
    if (dm__check_inplace("fill_", t)) return -1;
    dm__kernels(t->storage->device)->fill(t, &x);
    return 0;
}

int dm_zero_(dm_tensor *t)
{
    if (t->dtype != DM_FLOAT32) return fill_other("zero_", t, 0);
    if (dm__check_inplace("zero_", t)) return -1;
    const float z = 0.0f;
    dm__kernels(t->storage->device)->fill(t, &z);
    return 0;
}

int dm_add_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return dm_binary_scalar_(DM_BIN_ADD, t, x, 0);
    if (dm__check_inplace("add_", t)) return -1;
    INPLACE(t, DM_IP_ADDS, x, 0);
    return 0;
}

int dm_mul_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return dm_binary_scalar_(DM_BIN_MUL, t, x, 0);
    if (dm__check_inplace("mul_", t)) return -1;
    INPLACE(t, DM_IP_MULS, x, 0);
    return 0;
}

int dm_clamp_(dm_tensor *t, float lo, float hi)
{
    if (t->dtype != DM_FLOAT32) return dm_clamp_ex_(t, lo, hi, 0);
    if (dm__check_inplace("clamp_", t)) return -1;
    INPLACE(t, DM_IP_CLAMP, lo, hi);               /* min(max(x, lo), hi), NaN stays NaN */
    return 0;
}

/* ---- in-place ops on any dtype: t = t op x, computed out of place and written back ----- */

/* PyTorch's canCast: no floating result into an integer tensor, nothing but bool into bool */
static int can_cast(dm_dtype from, dm_dtype to)
{
    if (dm_is_floating(from) && !dm_is_floating(to)) return 0;
    if (from != DM_BOOL && to == DM_BOOL) return 0;
    return 1;
}

/* t = r (a new reference, released here; NULL: the op failed): r must have t's shape and a
   dtype that casts to t's */
int dm__inplace_commit(const char *fn, dm_tensor *t, dm_tensor *r)
{
    if (!r) return -1;
    if (dm__check_inplace(fn, t)) { dm_tensor_release(r); return -1; }
    int rc = -1;
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!can_cast(r->dtype, t->dtype))
        dm_seterr("%s: result type %s can't be cast to the desired output type %s", fn,
                  dm_dtype_name(r->dtype), dm_dtype_name(t->dtype));
    else if (!dm__same_shape(r, t))
        dm_seterr("%s: the result's shape %s differs from the destination's %s", fn,
                  SHAPE(r, b1), SHAPE(t, b2));
    else
        rc = dm_copy_(t, r);
    dm_tensor_release(r);
    return rc;
}

static const char *const inplace_name[] = {
    [DM_BIN_ADD] = "add_", [DM_BIN_SUB] = "sub_", [DM_BIN_MUL] = "mul_", [DM_BIN_DIV] = "div_",
    [DM_BIN_POW] = "pow_", [DM_BIN_EQ] = "eq_", [DM_BIN_NE] = "ne_", [DM_BIN_LT] = "lt_",
    [DM_BIN_LE] = "le_", [DM_BIN_GT] = "gt_", [DM_BIN_GE] = "ge_",
    [DM_BIN_MAXIMUM] = "maximum_", [DM_BIN_MINIMUM] = "minimum_",
};

int dm_binary_(dm_binop op, dm_tensor *t, const dm_tensor *o)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    if (dm__check_inplace(inplace_name[op], t)) return -1;
    if (t->dtype == DM_FLOAT32 && o->dtype == DM_FLOAT32) {
        if (op == DM_BIN_ADD) return apply_pair("add_", t, o, DM_IP_AXPY, 1.0f);
        if (op == DM_BIN_MUL) return apply_pair("mul_", t, o, DM_IP_MUL, 0);
    }
    return dm__inplace_commit(inplace_name[op], t, dm_binary(op, t, o));
}

int dm_binary_scalar_(dm_binop op, dm_tensor *t, double s, int is_int)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    if (dm__check_inplace(inplace_name[op], t)) return -1;
    if (t->dtype == DM_FLOAT32 && (op == DM_BIN_ADD || op == DM_BIN_SUB || op == DM_BIN_MUL)) {
        float x = (float)s;
        /* v - x is v + (-x) exactly (IEEE negation is exact) */
        if (op == DM_BIN_MUL) INPLACE(t, DM_IP_MULS, x, 0);
        else INPLACE(t, DM_IP_ADDS, op == DM_BIN_ADD ? x : -x, 0);
        return 0;
    }
    dm_tensor *r = is_int ? dm_binary_scalar_i64(op, t, (int64_t)s, 0)
                          : dm_binary_scalar_f64(op, t, s, 0);
    return dm__inplace_commit(inplace_name[op], t, r);
}

int dm_clamp_ex_(dm_tensor *t, double lo, double hi, int int_bounds)
{
    if (t->dtype == DM_FLOAT32) return dm_clamp_(t, (float)lo, (float)hi);
    if (dm__check_inplace("clamp_", t)) return -1;
    return dm__inplace_commit("clamp_", t, dm_clamp_ex(t, lo, hi, int_bounds));
}
