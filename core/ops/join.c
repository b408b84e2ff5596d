/* join.c -- cat, stack and index_select, forward and backward.
 *
 * All three move whole slabs.  Seen around the dim they work on, a tensor is
 * [outer x size x inner] (outer: product of the dims before, inner: product of the dims
 * after); cat and stack lay their inputs side by side along the middle dim, index_select
 * picks slabs from it.  Outputs are contiguous; inputs are read through the walker (walk.h; or a
 * contiguous copy) when they are not. */
#include "internal.h"
#include "walk.h"
#include "backend.h"
#include <stdio.h>

/* the copies are the device's kernels (backend.h: slabs, index_rows, index_add;
   backend/cpu/join.c, the reference backend/ref/join.c) */
#define DEV (dm__kernels(dm__cur_device))

static int64_t prod(const int64_t *shape, int from, int to)
{
    int64_t p = 1;
    for (int d = from; d < to; d++) p *= shape[d];
    return p;
}

/* Copy t (any strides, any dtype) into out [outer x total x inner] at positions
 * [off, off + e) of the middle dim, where t holds outer * e * inner values in row-major
 * order (t's shape is out's with e in the middle, or without that dim for stack). */
static int put_slab(dm_tensor *out, const dm_tensor *t, int d, int stack, int64_t outer,
                    int64_t e, int64_t inner, int64_t total, int64_t off)
{
    int64_t run = e * inner;
    if (run == 0 || outer == 0) return 0;
    size_t es = dm__esize(out->dtype);
    if (t->dtype == out->dtype && dm_is_contiguous(t)) {
        DEV->slabs(es, outer, run, (char *)dm__ptr(out) + off * inner * (int64_t)es,
                   total * inner, dm__ptr(t), run);
        return 0;
    }
    /* strided or of another dtype: through a view of out's slab */
    dm_tensor *v = stack ? dm_select(out, d, off) : dm_narrow(out, d, off, e);
    if (!v) return -1;
    dm__copy_convert(v, t);
    dm_tensor_release(v);
    return 0;
}

/* the dtype of cat/stack's result: PyTorch's promotion over all inputs */
static dm_dtype join_dtype(int n, dm_tensor *const *ts)
{
    dm_dtype dt = ts[0]->dtype;
    for (int k = 1; k < n; k++) dt = dm_promote_types(dt, ts[k]->dtype);
    return dt;
}

/* PyTorch still skips 1-D empty tensors in cat, whatever the other shapes (legacy) */
static int cat_skipped(const dm_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

dm_tensor *dm_cat(int n, dm_tensor *const *ts, int dim)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (n <= 0) { dm_seterr("cat: expected a non-empty list of tensors"); return NULL; }
    for (int k = 0; k < n; k++)
        if (!ts[k]) { dm_seterr("cat: tensor at position %d is missing", k + 1); return NULL; }
    if (dm__same_device("cat", n, (const dm_tensor *const *)ts) < 0) return NULL;
    /* the first tensor not skipped sets the shape */
    int ref = 0;
    while (ref < n && cat_skipped(ts[ref])) ref++;
    if (ref == n) ref = 0;          /* all of them [0]: the result is [0] */
    const dm_tensor *r = ts[ref];
    for (int k = 0; k < n; k++)
        if (ts[k]->ndim == 0) {
            dm_seterr("cat: zero-dimensional tensor (at position %d) cannot be concatenated",
                      k + 1);
            return NULL;
        }
    int d = dm_wrap_dim("cat", dim, r->ndim, 0);
    if (d < 0) return NULL;
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        const dm_tensor *t = ts[k];
        if (k != ref && cat_skipped(t)) continue;
        if (t->ndim != r->ndim) {
            dm_seterr("cat: tensors must have the same number of dimensions: %s vs %s at "
                      "position %d", SHAPE(r, b1), SHAPE(t, b2), k + 1);
            return NULL;
        }
        for (int i = 0; i < r->ndim; i++)
            if (i != d && t->shape[i] != r->shape[i]) {
                dm_seterr("cat: tensors must have the same shape except in dim %d: %s vs %s "
                          "at position %d", d + 1, SHAPE(r, b1), SHAPE(t, b2), k + 1);
                return NULL;
            }
        if (t->shape[d] > DM_MAX_NUMEL - total) {      /* the sum stays countable */
            dm_seterr("cat: the sizes along dim %d add up to more than 2^60", d + 1);
            return NULL;
        }
        total += t->shape[d];
    }
    int64_t shape[DM_MAX_DIMS];
    memcpy(shape, r->shape, (size_t)r->ndim * sizeof *shape);
    shape[d] = total;
    dm_tensor *out = dm_tensor_new_dtype(r->ndim, shape, join_dtype(n, ts));
    if (!out) return NULL;
    // each input is [outer x e_k x inner]; out is [outer x total x inner]
    int64_t outer = prod(shape, 0, d), inner = prod(shape, d + 1, r->ndim), off = 0;
    for (int k = 0; k < n; k++) {
        if (k != ref && cat_skipped(ts[k])) continue;
        int64_t e = ts[k]->shape[d];
        if (put_slab(out, ts[k], d, 0, outer, e, inner, total, off)) {
            dm_tensor_release(out);
            return NULL;
        }
        off += e;
    }
    if (dm__needs_grad(n, (const dm_tensor *const *)ts)) {
        dm_node *nd = dm__record(DM_OP_CAT, 0, out, n, (const dm_tensor *const *)ts);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.dim = d;
    }
    return out;
}

dm_tensor *dm_stack(int n, dm_tensor *const *ts, int dim)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (n <= 0) { dm_seterr("stack: expected a non-empty list of tensors"); return NULL; }
    for (int k = 0; k < n; k++)
        if (!ts[k]) { dm_seterr("stack: tensor at position %d is missing", k + 1); return NULL; }
    if (dm__same_device("stack", n, (const dm_tensor *const *)ts) < 0) return NULL;
    const dm_tensor *r = ts[0];
    for (int k = 1; k < n; k++)
        if (!dm_same_shape(ts[k], r)) {
            dm_seterr("stack: expected each tensor to be equal size, but got %s at position 1 "
                      "and %s at position %d", SHAPE(r, b1), SHAPE(ts[k], b2), k + 1);
            return NULL;
        }
    if (r->ndim + 1 > DM_MAX_DIMS) {
        dm_seterr("stack: the result would have %d dimensions (at most %d supported)",
                  r->ndim + 1, DM_MAX_DIMS);
        return NULL;
    }
    int d = dm_wrap_dim("stack", dim, r->ndim, 1);
    if (d < 0) return NULL;
    int64_t shape[DM_MAX_DIMS];
    for (int i = 0, j = 0; i <= r->ndim; i++) shape[i] = i == d ? n : r->shape[j++];
    dm_tensor *out = dm_tensor_new_dtype(r->ndim + 1, shape, join_dtype(n, ts));
    if (!out) return NULL;
    // each input is [outer x 1 x inner] of out [outer x n x inner]
    int64_t outer = prod(shape, 0, d), inner = prod(shape, d + 1, r->ndim + 1);
    for (int k = 0; k < n; k++)
        if (put_slab(out, ts[k], d, 1, outer, 1, inner, n, k)) {
            dm_tensor_release(out);
            return NULL;
        }
    if (dm__needs_grad(n, (const dm_tensor *const *)ts)) {
        dm_node *nd = dm__record(DM_OP_CAT, 1, out, n, (const dm_tensor *const *)ts);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.dim = d;
    }
    return out;
}

/* Cat and stack alike: input k owns e_k consecutive positions of the output's dim (its size
 * there for cat, 0 for an input cat skipped, 1 for stack).  The extents are read from the
 * inputs' shapes now, so the node needs no per-input storage. */
int dm__bw_cat(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int d = n->par.dim;
    int64_t total = gout->shape[d];
    int64_t outer = prod(gout->shape, 0, d), inner = prod(gout->shape, d + 1, gout->ndim);
    const char *g = dm__ptr(gout);
    size_t es = dm__esize(gout->dtype);
    int64_t off = 0;
    for (int k = 0; k < n->ninputs; k++) {
        const dm_tensor *x = n->in[k];
        int64_t e;
        if (n->sub) e = 1;
        else e = x->ndim == gout->ndim ? x->shape[d] : 0;   /* a skipped [0] otherwise */
        if (x->requires_grad) {
            /* the slab in the result's dtype, then back to the input's (a mixed cat) */
            dm_tensor *gx = dm_tensor_new_dtype(x->ndim, x->shape, gout->dtype);
            if (!gx) return -1;
            int64_t run = e * inner;
            DEV->slabs(es, outer, run, dm__ptr(gx), run, g + off * inner * (int64_t)es,
                       total * inner);
            if (x->dtype != gx->dtype) {
                dm_tensor *c = dm_to_dtype(gx, x->dtype);
                dm_tensor_release(gx);
                if (!c) return -1;
                gx = c;
            }
            gin[k] = gx;
        }
        off += e;
    }
    return 0;
}

/* Read idx's values as 0-based positions checked against size; NULL with a message.  The
 * index is int64 (PyTorch's form, exact at any size); float32 indices are still read, as
 * older code passes them (exact up to 2^24). */
static int64_t *read_index(const char *fn, const dm_tensor *idx, int d, int64_t size,
                           int64_t *count)
{
    if (idx->dtype != DM_INT64 && idx->dtype != DM_FLOAT32) {
        dm_seterr("%s: expected an int64 index tensor, got %s", fn, dm_dtype_name(idx->dtype));
        return NULL;
    }
    int64_t m = dm_numel(idx);
    int64_t *pos = malloc((size_t)(m ? m : 1) * sizeof *pos);
    if (!pos) { dm_seterr("%s: out of memory", fn); return NULL; }
    DM_WALK_EACH(idx, j, off,
        int64_t p;
        if (idx->dtype == DM_INT64) {
            p = ((const int64_t *)idx->storage->data)[off];
            if (p < 0 || p >= size) {       /* shown 1-based, as the caller passed it */
                dm_seterr("%s: index %lld out of range for dim %d of size %lld", fn,
                          (long long)(p == INT64_MAX ? p : p + 1), d + 1, (long long)size);
                free(pos);
                return NULL;
            }
        } else {
            float v = dm__fbase(idx)[off];
            if (!(v == floorf(v))) {        /* also NaN and infinities */
                dm_seterr("%s: index %g is not an integer", fn, (double)v + 1);
                free(pos);
                return NULL;
            }
            if (v < 0 || v >= (double)size) {
                dm_seterr("%s: index %.0f out of range for dim %d of size %lld", fn,
                          (double)v + 1, d + 1, (long long)size);
                free(pos);
                return NULL;
            }
            p = (int64_t)v;
        }
        pos[j] = p;);
    *count = m;
    return pos;
}

dm_tensor *dm_index_select(const dm_tensor *x, int dim, const dm_tensor *idx)
{
    char b1[DM_SHAPE_BUF];
    if (dm__same_device("index_select", 2, (const dm_tensor *[]){ x, idx }) < 0) return NULL;
    if (idx->ndim > 1) {
        dm_seterr("index_select: index must be a vector (1-D), got %s", SHAPE(idx, b1));
        return NULL;
    }
    if (x->ndim == 0) {
        dm_seterr("index_select: expected a tensor with at least 1 dimension, got []");
        return NULL;
    }
    int d = dm_wrap_dim("index_select", dim, x->ndim, 0);
    if (d < 0) return NULL;
    int64_t m;
    int64_t *pos = read_index("index_select", idx, d, x->shape[d], &m);
    if (!pos) return NULL;
    int64_t shape[DM_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[d] = m;
    dm_tensor *out = dm_tensor_new_dtype(x->ndim, shape, x->dtype);
    dm_tensor *held = NULL;
    const char *src = out ? dm__contig_as(x, x->dtype, &held) : NULL;
    if (!src) { free(pos); dm_tensor_release(out); return NULL; }
    // x is [outer x size x inner], out is [outer x m x inner]
    int64_t outer = prod(x->shape, 0, d), inner = prod(x->shape, d + 1, x->ndim);
    int64_t size = x->shape[d];
    DEV->index_rows(dm__esize(x->dtype), outer, m, size, inner, pos, src, dm__ptr(out));
    dm_tensor_release(held);
    free(pos);
    const dm_tensor *ins[2] = { x, idx };
    if (dm__needs_grad(1, ins)) {       /* the index itself is not differentiable */
        dm_node *nd = dm__record(DM_OP_INDEX_SELECT, 0, out, 2, ins);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.dim = d;
    }
    return out;
}

/* Scatter the gradient back; repeated indices accumulate. */
int dm__bw_index_select(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                        dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *idx = n->in[1];
    if (!x->requires_grad) return 0;
    int d = n->par.dim;
    int64_t m;
    int64_t *pos = read_index("index_select", idx, d, x->shape[d], &m);
    if (!pos) return -1;
    dm_tensor *gx = dm_tensor_zeros_dtype(x->ndim, x->shape, x->dtype);
    if (!gx) { free(pos); return -1; }
    int64_t outer = prod(x->shape, 0, d), inner = prod(x->shape, d + 1, x->ndim);
    // g is [outer x m x inner], gx is [outer x size x inner]
    DEV->index_add(x->dtype, outer, m, x->shape[d], inner, pos, dm__ptr(gout), dm__ptr(gx));
    free(pos);
    gin[0] = gx;
    return 0;
}
