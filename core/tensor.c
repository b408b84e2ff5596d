/* tensor.c -- tensor lifecycle, inspection and element iteration. */
#include "internal.h"
#include <stdio.h>


static dm_tensor *tensor_struct(void)
{
    dm_tensor *t = dm__tensor_alloc();
    if (!t) return NULL;
    dm__zero_tensor(t);                /* unused shape/stride slots too: some code compares them */
    t->refcount = 1;
    return t;
}

/* the usual shapes first: one or two sizes in [0, 2^30) cannot overflow (their product is
   below DM_MAX_NUMEL), nor be negative; anything else takes the full check below */
#define SMALL_SIZE(v) ((uint64_t)(v) < ((uint64_t)1 << 30))
_Static_assert(DM_MAX_NUMEL >= ((int64_t)1 << 60), "check_shape: the fast path's bound");

int64_t dm__check_shape(const char *fn, int ndim, const int64_t *shape)
{
    if (ndim == 1 && SMALL_SIZE(shape[0])) return shape[0];
    if (ndim == 2 && SMALL_SIZE(shape[0]) && SMALL_SIZE(shape[1])) return shape[0] * shape[1];
    if (ndim < 0 || ndim > DM_MAX_DIMS) {
        dm_seterr("%s: %d dimensions (at most %d supported)", fn, ndim, DM_MAX_DIMS);
        return -1;
    }
    /* The product of the nonzero sizes (the span: what contiguous strides multiply up to)
       must fit with room for 8-byte elements, even when a zero size makes the count 0, so
       that no stride, offset or byte count computed from the shape can overflow. */
    int64_t span = 1;
    int zero = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            char b[DM_SHAPE_BUF];
            dm_seterr("%s: negative size in %s", fn, dm_shape_str(ndim, shape, b, sizeof b));
            return -1;
        }
        if (shape[d] == 0) { zero = 1; continue; }
        if (span > DM_MAX_NUMEL / shape[d]) {
            char b[DM_SHAPE_BUF];
            dm_seterr("%s: size %s is too large (more than 2^60 elements)", fn,
                      dm_shape_str(ndim, shape, b, sizeof b));
            return -1;
        }
        span *= shape[d];
    }
    return zero ? 0 : span;
}

dm_tensor *dm_tensor_new(int ndim, const int64_t *shape)
{
    int64_t n = dm__check_shape("tensor", ndim, shape);
    if (n < 0) return NULL;
    return dm__tensor_new_checked(ndim, shape, n);
}

/* shape and contiguous strides in one loop (a new tensor's: a memcpy call of a few sizes
   cost more than the copy) */
static inline void set_shape_contiguous(dm_tensor *t, int ndim, const int64_t *shape)
{
    t->ndim = ndim;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t n = shape[d];
        t->shape[d] = n;
        t->stride[d] = s;
        s *= n ? n : 1;
    }
}

dm_tensor *dm_tensor_new_dtype(int ndim, const int64_t *shape, dm_dtype dt)
{
    if ((unsigned)dt >= DM_NDTYPES) { dm_seterr("tensor: unknown dtype %d", (int)dt); return NULL; }
    int64_t n = dm__check_shape("tensor", ndim, shape);
    if (n < 0) return NULL;
    return dm__tensor_new_checked_dt(ndim, shape, n, dt);
}

/* float32, the hot path of most ops: no element-size lookup (dm__tensor_block_bytes leaves
   the dtype float32) */
dm_tensor *dm__tensor_new_checked(int ndim, const int64_t *shape, int64_t n)
{
    dm_tensor *t = dm__tensor_block_bytes(n * (int64_t)sizeof(float));
    if (!t) return NULL;
    set_shape_contiguous(t, ndim, shape);
    return t;
}

dm_tensor *dm__tensor_new_checked_dt(int ndim, const int64_t *shape, int64_t n, dm_dtype dt)
{
    dm_tensor *t = dm__tensor_block_bytes(n * (int64_t)dm__esize(dt));
    if (!t) return NULL;
    t->dtype = dt;
    set_shape_contiguous(t, ndim, shape);
    return t;
}

dm_tensor *dm_tensor_zeros(int ndim, const int64_t *shape)
{
    return dm_tensor_zeros_dtype(ndim, shape, DM_FLOAT32);
}

dm_tensor *dm_tensor_zeros_dtype(int ndim, const int64_t *shape, dm_dtype dt)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, dt);
    if (t) memset(dm__fbase(t), 0, (size_t)t->storage->nbytes);   /* 0 in every dtype */
    return t;
}

dm_tensor *dm_tensor_full(int ndim, const int64_t *shape, float v)
{
    dm_tensor *t = dm_tensor_new(ndim, shape);
    if (!t) return NULL;
    float *d = dm__fbase(t);
    for (int64_t i = 0, n = dm__numel(t); i < n; i++) d[i] = v;
    return t;
}

dm_tensor *dm_tensor_scalar(float v) { return dm_tensor_full(0, NULL, v); }

dm_tensor *dm_tensor_from_data(int ndim, const int64_t *shape, const float *data)
{
    dm_tensor *t = dm_tensor_new(ndim, shape);
    if (t) memcpy(dm__fbase(t), data, (size_t)t->storage->nbytes);
    return t;
}

dm_tensor *dm_tensor_from_data_dtype(int ndim, const int64_t *shape, const void *data,
                                     dm_dtype dt)
{
    if ((unsigned)dt >= DM_NDTYPES) {
        dm_seterr("tensor_from_data_dtype: unknown dtype %d", (int)dt);
        return NULL;
    }
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, dt);
    if (!t) return NULL;
    size_t n = (size_t)dm__numel(t) * dm_dtype_size(dt);
    if (n && !data) {
        dm_seterr("tensor_from_data_dtype: data is NULL");
        dm_tensor_release(t);
        return NULL;
    }
    if (n) memcpy(dm_data_ptr(t), data, n);
    if (dt == DM_BOOL) {                  /* any nonzero byte is true, stored as 1 */
        unsigned char *b = dm_data_ptr(t);
        for (size_t i = 0; i < n; i++) b[i] = b[i] != 0;
    }
    return t;
}

dm_tensor *dm_tensor_like(const dm_tensor *t) { return dm_tensor_new_dtype(t->ndim, t->shape, t->dtype); }

dm_tensor *dm_tensor_retain(dm_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

static void release_graph(dm_tensor *t);

void dm_tensor_release(dm_tensor *t)
{
    if (!t) return;
    if (t->refcount > 1) { t->refcount--; return; }
    if (!t->grad_fn && !t->grad && !t->hooks) {  /* the common case: nothing hangs off it */
        dm__tensor_dispose(t);
        return;
    }
    release_graph(t);
}

/* Releasing a graph can chain through many tensors (a long training history); walk it
 * with an explicit stack instead of recursion so deep graphs cannot overflow the C stack. */
static void release_graph(dm_tensor *t)
{
    dm_tensor *stackbuf[64];
    dm_tensor **stack = stackbuf;
    int64_t top = 0, cap = 64;
    stack[top++] = t;
    while (top > 0) {
        dm_tensor *x = stack[--top];
        if (--x->refcount > 0) continue;
        if (x->hooks) dm__hooks_free(x);
        dm_node *n = x->grad_fn;
        dm_tensor *g = x->grad;
        dm__tensor_dispose(x);
        /* children to release: the grad, and the node's inputs and saved tensors */
        int64_t need = 1 + (n ? n->ninputs + DM_NODE_MAX_SAVED : 0);
        if (top + need > cap) {
            int64_t ncap = (top + need) * 2;
            dm_tensor **ns = malloc((size_t)ncap * sizeof *ns);
            if (!ns) {          /* cannot grow: fall back to recursion for this node */
                if (g) dm_tensor_release(g);
                if (n) dm__node_free(n);
                continue;
            }
            memcpy(ns, stack, (size_t)top * sizeof *ns);
            if (stack != stackbuf) free(stack);
            stack = ns;
            cap = ncap;
        }
        if (g) stack[top++] = g;
        if (n) {
            for (int i = 0; i < n->ninputs; i++) if (n->in[i]) stack[top++] = n->in[i];
            for (int i = 0; i < DM_NODE_MAX_SAVED; i++) if (n->saved[i]) stack[top++] = n->saved[i];
            if (n->gacc) stack[top++] = n->gacc;
            dm__node_dealloc(n);
        }
    }
    if (stack != stackbuf) free(stack);
}

dm_tensor *dm_tensor_alias(const dm_tensor *t, int ndim, const int64_t *shape,
                           const int64_t *stride, int64_t offset)
{
    dm_tensor *a = tensor_struct();
    if (!a) return NULL;
    a->ndim = ndim;
    for (int d = 0; d < ndim; d++) {    /* a few sizes: a loop, not two calls to memcpy */
        a->shape[d] = shape[d];
        a->stride[d] = stride[d];
    }
    a->offset = offset;
    a->dtype = t->dtype;
    a->storage = t->storage;
    t->storage->refcount++;
    return a;
}

int64_t dm_numel(const dm_tensor *t) { return dm__numel(t); }
uint32_t dm_tensor_version(const dm_tensor *t) { return t->storage->version; }
int dm_is_contiguous(const dm_tensor *t) { return dm__is_contig(t); }
int dm_same_shape(const dm_tensor *a, const dm_tensor *b) { return dm__same_shape(a, b); }
float *dm_data(const dm_tensor *t) { return dm__data(t); }

static int64_t offset_of(const dm_tensor *t, const int64_t *idx)
{
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return off;
}

void *dm_data_ptr(const dm_tensor *t) { return dm__ptr(t); }
float dm_get(const dm_tensor *t, const int64_t *idx) { return dm__fbase(t)[offset_of(t, idx)]; }
void dm_set(dm_tensor *t, const int64_t *idx, float v) { dm__fbase(t)[offset_of(t, idx)] = v; dm__bump(t); }
int64_t dm__offset_of(const dm_tensor *t, const int64_t *idx) { return offset_of(t, idx); }

int dm_check_index(const char *fn, const dm_tensor *t, int n, const int64_t *idx)
{
    char b[DM_SHAPE_BUF];
    if (n != t->ndim) {
        dm_seterr("%s: %d indices for a tensor of size %s", fn, n, SHAPE(t, b));
        return -1;
    }
    for (int d = 0; d < n; d++)
        if (idx[d] < 0 || idx[d] >= t->shape[d]) {
            dm_seterr("%s: index %lld out of range for dim %d of size %s", fn,
                      (long long)idx[d] + 1, d + 1, SHAPE(t, b));
            return -1;
        }
    return 0;
}

int dm_wrap_dim(const char *fn, int dim, int ndim, int allow_end)
{
    int n = ndim + (allow_end ? 1 : 0);
    int lo = n > 0 ? -n : -1, hi = n > 0 ? n - 1 : 0;
    if (dim < lo || dim > hi) {
        /* report in the 1-based terms users see */
        dm_seterr("%s: dim %d out of range for a tensor of %d dimension%s "
                  "(expected 1 to %d, or %d to -1)", fn, dim >= 0 ? dim + 1 : dim, ndim,
                  ndim == 1 ? "" : "s", hi + 1, lo);
        return -1;
    }
    if (dim < 0) dim += n > 0 ? n : 1;
    return dim;
}

void dm_to_buffer(const dm_tensor *t, float *out)
{
    dm_to_buffer_dtype(t, out, DM_FLOAT32);
}

static __attribute__((noinline)) const void *contig_copy(const dm_tensor *t, dm_dtype dt,
                                                         dm_tensor **hold)
{
    if (!(*hold = dm_tensor_new_dtype(t->ndim, t->shape, dt))) return NULL;
    dm_to_buffer_dtype(t, dm__ptr(*hold), dt);
    return dm__ptr(*hold);
}

dm_tensor *dm__contig_nograd(const dm_tensor *t)
{
    if (dm__is_contig(t)) return dm_tensor_retain((dm_tensor *)t);
    int g = dm_set_grad_enabled(0);
    dm_tensor *c = dm_clone(t);
    dm_set_grad_enabled(g);
    return c;
}

const void *dm__contig_as(const dm_tensor *t, dm_dtype dt, dm_tensor **hold)
{
    *hold = NULL;
    if (t->dtype == dt && dm__is_contig(t)) return dm__ptr(t);
    return contig_copy(t, dt, hold);
}

int dm__broadcast_shape(const char *fn, const dm_tensor *a, const dm_tensor *b, int64_t *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
            dm_seterr("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", fn,
                      SHAPE(a, ba), SHAPE(b, bb), d + 1, (long long)sa, (long long)sb);
            return -1;
        }
        out[d] = sa == 1 ? sb : sa;
    }
    return nd;
}
