/* gather.c -- gather, scatter (with src or a value, plain or reducing), scatter_add,
 * index_add, bincount and one_hot, with PyTorch 1.13's rules.  Positions are 0-based here
 * (the bindings shift them); index tensors are int64.
 *
 * gather/scatter walk the index: element j of index (row-major) with coordinates c names
 * the element of self at c with c[dim] replaced by index[j], and the element of src (or of
 * the output, for gather) at c.  Both offsets are computed once per call by the device's
 * index_offsets, which also checks the positions; the elements move in its kernels
 * (backend.h's put, index_add_alpha, index_add_bw, bincount, one_hot). */
#include "ops_index.h"
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

dm_tensor *dm__contig_copy(const dm_tensor *x, dm_dtype dt)
{
    dm_tensor *c = dm_tensor_new_dtype(x->ndim, x->shape, dt);
    if (c) dm__copy_convert(c, x);
    return c;
}

/* a shape with 0 dims seen as [1] (PyTorch's ensure_nonempty_dim) */
typedef struct { int nd; int64_t s[DM_MAX_DIMS]; } eshape;
static eshape eshape_of(const dm_tensor *t)
{
    eshape e = { t->ndim ? t->ndim : 1, { 1 } };
    for (int d = 0; d < t->ndim; d++) e.s[d] = t->shape[d];
    return e;
}

static int need_index(const char *fn, const dm_tensor *idx)
{
    if (idx->dtype != DM_INT64) {
        dm_seterr("%s: expected an int64 index tensor, got %s", fn, dm_dtype_name(idx->dtype));
        return -1;
    }
    return 0;
}

/* For each element j of idx (contiguous int64, shape is): xo[j], the offset in a contiguous
 * tensor of shape xs of the element it names along d, and so[j] (when so is not NULL) the
 * offset of c in a contiguous tensor of shape ss (the device's index_offsets).  Positions are
 * checked against xs[d]. */
static int index_offsets(const char *fn, const int64_t *idx, const eshape *is, int d,
                         const eshape *xs, const eshape *ss, int64_t *xo, int64_t *so)
{
    int64_t bad = DEV->index_offsets(idx, is->nd, is->s, d, xs->s, ss ? ss->s : NULL, xo, so);
    if (bad >= 0) {                          /* shown 1-based, as the caller passed it */
        int64_t p = idx[bad];
        dm_seterr("%s: index %lld is out of bounds for dim %d with size %lld", fn,
                  (long long)(p == INT64_MAX ? p : p + 1), d + 1, (long long)xs->s[d]);
        return -1;
    }
    return 0;
}

/* the index's offsets for a gather (so NULL) or scatter of self [xs] (src [ss]); checks
   the shapes as PyTorch's gather_shape_check / scatter_shape_check; *m the count */
static int64_t *offsets_for(const char *fn, const dm_tensor *x, int d, const int64_t *idx,
                            const dm_tensor *index, const dm_tensor *src, int64_t **so,
                            int64_t *m)
{
    eshape xs = eshape_of(x), is = eshape_of(index), ss = src ? eshape_of(src) : xs;
    *m = dm__numel(index);
    int64_t *xo = malloc((size_t)(*m ? *m : 1) * sizeof *xo);
    *so = src ? malloc((size_t)(*m ? *m : 1) * sizeof **so) : NULL;
    if (!xo || (src && !*so)) {
        free(xo); free(*so); *so = NULL;
        dm_seterr("%s: out of memory", fn);
        return NULL;
    }
    if (index_offsets(fn, idx, &is, d, &xs, src ? &ss : NULL, xo, *so)) {
        free(xo); free(*so); *so = NULL;
        return NULL;
    }
    return xo;
}

/* the shape rules shared by gather and scatter; d is the wrapped dim */
static int check_shapes(const char *fn, const dm_tensor *x, int d, const dm_tensor *index,
                        const dm_tensor *src)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF], b3[DM_SHAPE_BUF];
    eshape xs = eshape_of(x), is = eshape_of(index);
    if (is.nd != xs.nd) {
        dm_seterr("%s: index %s has %d dims but input %s has %d", fn, SHAPE(index, b1),
                  index->ndim, SHAPE(x, b2), x->ndim);
        return -1;
    }
    if (src) {
        eshape ss = eshape_of(src);
        if (ss.nd != xs.nd) {
            dm_seterr("%s: src %s has %d dims but input %s has %d", fn, SHAPE(src, b1),
                      src->ndim, SHAPE(x, b2), x->ndim);
            return -1;
        }
    }
    if (dm__numel(index) == 0) return 0;
    for (int k = 0; k < xs.nd; k++) {
        if (k != d && is.s[k] > xs.s[k]) {
            dm_seterr("%s: index %s is larger than input %s at dim %d (only dim %d may differ)",
                      fn, SHAPE(index, b1), SHAPE(x, b2), k + 1, d + 1);
            return -1;
        }
        if (src && is.s[k] > eshape_of(src).s[k]) {
            dm_seterr("%s: index %s is larger than src %s at dim %d", fn, SHAPE(index, b1),
                      SHAPE(src, b3), k + 1);
            return -1;
        }
    }
    return 0;
}

static void set_dim_params(dm_node *nd, int d, double alpha)
{
    nd->par.index.dim = d;
    nd->par.index.keepdim = 0;
    nd->par.index.alpha = alpha;
}

/* ---- gather ---------------------------------------------------------------------------- */

dm_tensor *dm_gather(const dm_tensor *x, int dim, const dm_tensor *index)
{
    if (dm__same_device("gather", 2, (const dm_tensor *[]){ x, index }) < 0) return NULL;
    if (need_index("gather", index)) return NULL;
    int d = dm_wrap_dim("gather", dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0 || check_shapes("gather", x, d, index, NULL)) return NULL;
    dm_tensor *hx = NULL, *hi = NULL;
    const char *src = dm__contig_as(x, x->dtype, &hx);
    const int64_t *idx = src ? dm__contig_as(index, DM_INT64, &hi) : NULL;
    int64_t m, *so;
    int64_t *xo = idx ? offsets_for("gather", x, d, idx, index, NULL, &so, &m) : NULL;
    dm_tensor *out = xo ? dm_tensor_new_dtype(index->ndim, index->shape, x->dtype) : NULL;
    if (out) DEV->put(DM_PUT_SET, x->dtype, dm__ptr(out), NULL, src, xo, NULL, m);
    free(xo);
    dm_tensor_release(hx);
    if (out && dm__needs_grad(1, (const dm_tensor *[]){ x })) {
        dm_node *nd = dm__record(DM_OP_GATHER, 0, out, 1, (const dm_tensor *[]){ x });
        if (!nd || !(hi ? dm__save(nd, 0, hi) : dm__save(nd, 0, index))) {
            dm_tensor_release(out);
            out = NULL;
        } else set_dim_params(nd, d, 1);
    }
    dm_tensor_release(hi);
    return out;
}

/* zeros of x's shape (the node's in_shape), g added at the gathered positions */
int dm__bw_gather(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                  dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *index = n->saved[0];
    if (!x->requires_grad) return 0;
    int64_t m, *so;
    int64_t *xo = offsets_for("gather", x, n->par.index.dim, dm__ptr(index), index, NULL,
                              &so, &m);
    dm_tensor *gx = xo ? dm_tensor_zeros_dtype(x->ndim, x->shape, gout->dtype) : NULL;
    if (gx) DEV->put(DM_PUT_ADD, gout->dtype, dm__ptr(gx), xo, dm__ptr(gout), NULL, NULL, m);
    free(xo);
    gin[0] = gx;
    return gx ? 0 : -1;
}

/* ---- scatter ---------------------------------------------------------------------------- */

/* x with src (or value, src NULL) written, added or multiplied at index along dim */
static dm_tensor *scatter_impl(const char *fn, const dm_tensor *x, int dim,
                               const dm_tensor *index, const dm_tensor *src, double value,
                               dm_scatter_reduce reduce, dm_op op)
{
    if (dm__same_device(fn, 3, (const dm_tensor *[]){ x, index, src }) < 0) return NULL;
    if (need_index(fn, index)) return NULL;
    if (src && src->dtype != x->dtype) {
        dm_seterr("%s: expected src of the input's dtype %s, got %s", fn,
                  dm_dtype_name(x->dtype), dm_dtype_name(src->dtype));
        return NULL;
    }
    if ((unsigned)reduce > DM_SCATTER_MUL) {
        dm_seterr("%s: unknown reduce %d", fn, (int)reduce);
        return NULL;
    }
    int d = dm_wrap_dim(fn, dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0 || check_shapes(fn, x, d, index, src)) return NULL;
    const dm_tensor *ins[2] = { x, src };
    int grad = dm__needs_grad(2, ins);
    if (grad && reduce != DM_SCATTER_NONE && op == DM_OP_SCATTER) {
        dm_seterr("%s: the derivative with reduce='%s' is not implemented (as in PyTorch)",
                  fn, reduce == DM_SCATTER_ADD ? "add" : "multiply");
        return NULL;
    }
    dm_tensor *hi = NULL, *hs = NULL;
    const int64_t *idx = dm__contig_as(index, DM_INT64, &hi);
    const void *sp = idx && src ? dm__contig_as(src, src->dtype, &hs) : NULL;
    int64_t m, *so = NULL;
    int64_t *xo = idx && (sp || !src) ? offsets_for(fn, x, d, idx, index, src, &so, &m) : NULL;
    dm_tensor *out = xo ? dm__contig_copy(x, x->dtype) : NULL;
    if (out) {
        /* the value in x's dtype: integer types through int64 (PyTorch's cast of the
           Scalar); the sums and products of int64 wrap (the kernel's unsigned arithmetic) */
        union { float f; double d; int64_t i; uint8_t b; } v = { 0 };
        switch (x->dtype) {
        case DM_FLOAT32: v.f = (float)value; break;
        case DM_FLOAT64: v.d = value; break;
        case DM_INT64: v.i = (int64_t)value; break;
        case DM_UINT8: v.b = (uint8_t)(int64_t)value; break;
        default: v.b = value != 0; break;
        }
        DEV->put(reduce == DM_SCATTER_ADD ? DM_PUT_ADD : reduce == DM_SCATTER_MUL ? DM_PUT_MUL
                 : DM_PUT_SET, x->dtype, dm__ptr(out), xo, sp, so, &v, m);
    }
    free(xo);
    free(so);
    dm_tensor_release(hs);
    if (out && grad) {
        dm_node *nd = dm__record(op, 0, out, 2, ins);
        if (!nd || !(hi ? dm__save(nd, 0, hi) : dm__save(nd, 0, index))) {
            dm_tensor_release(out);
            out = NULL;
        } else set_dim_params(nd, d, 1);
    }
    dm_tensor_release(hi);
    return out;
}

dm_tensor *dm_scatter(const dm_tensor *x, int dim, const dm_tensor *index,
                      const dm_tensor *src, dm_scatter_reduce reduce)
{
    return scatter_impl("scatter", x, dim, index, src, 0, reduce, DM_OP_SCATTER);
}

dm_tensor *dm_scatter_value(const dm_tensor *x, int dim, const dm_tensor *index, double value,
                            dm_scatter_reduce reduce)
{
    return scatter_impl("scatter", x, dim, index, NULL, value, reduce, DM_OP_SCATTER);
}

dm_tensor *dm_scatter_add(const dm_tensor *x, int dim, const dm_tensor *index,
                          const dm_tensor *src)
{
    if (!src) { dm_seterr("scatter_add: src is required"); return NULL; }
    return scatter_impl("scatter_add", x, dim, index, src, 0, DM_SCATTER_ADD,
                        DM_OP_SCATTER_ADD);
}

/* scatter: self's gradient is g with the written positions zeroed, src's is g read back at
   them (zeros where src was not read); scatter_add: self's is g itself */
int dm__bw_scatter(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *src = n->in[1], *index = n->saved[0];
    int add = n->op == DM_OP_SCATTER_ADD;
    int64_t m, *so = NULL;
    int64_t *xo = offsets_for("scatter", x, n->par.index.dim, dm__ptr(index), index,
                              src ? src : x, &so, &m);
    if (!xo) return -1;
    int rc = 0;
    if (x->requires_grad) {
        dm_tensor *gx = dm__contig_copy(gout, gout->dtype);
        if (gx && !add)
            DEV->put(DM_PUT_SET, gout->dtype, dm__ptr(gx), xo, NULL, NULL, &(int64_t){ 0 }, m);
        gin[0] = gx;
        if (!gx) rc = -1;
    }
    if (src && src->requires_grad && !rc) {
        dm_tensor *gs = dm_tensor_zeros_dtype(src->ndim, src->shape, gout->dtype);
        if (gs) DEV->put(DM_PUT_SET, gout->dtype, dm__ptr(gs), so, dm__ptr(gout), xo, NULL, m);
        gin[1] = gs;
        if (!gs) rc = -1;
    }
    free(xo);
    free(so);
    return rc;
}

/* ---- index_add ------------------------------------------------------------------------- */

/* x [outer x size x inner] with alpha * src [outer x m x inner] added at rows pos */
static dm_tensor *index_add_impl(const char *fn, const dm_tensor *x, int dim,
                                 const dm_tensor *index, const dm_tensor *src, double alpha)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (dm__same_device(fn, 3, (const dm_tensor *[]){ x, index, src }) < 0) return NULL;
    if (need_index(fn, index)) return NULL;
    if (index->ndim > 1) {
        dm_seterr("%s: index must be a vector (1-D), got %s", fn, SHAPE(index, b1));
        return NULL;
    }
    if (src->dtype != x->dtype) {
        dm_seterr("%s: expected source of the input's dtype %s, got %s", fn,
                  dm_dtype_name(x->dtype), dm_dtype_name(src->dtype));
        return NULL;
    }
    if (!dm_is_floating(x->dtype) && (alpha != floor(alpha) || !(fabs(alpha) < 0x1p63))) {
        dm_seterr("%s: alpha %g must be an integer (within int64's range) for a %s input", fn,
                  alpha, dm_dtype_name(x->dtype));
        return NULL;
    }
    int d = dm_wrap_dim(fn, dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0) return NULL;
    eshape xs = eshape_of(x), ss = eshape_of(src);
    int64_t m = dm__numel(index);
    int ok = ss.nd == xs.nd && ss.s[d] == m;
    for (int k = 0; ok && k < xs.nd; k++) if (k != d && ss.s[k] != xs.s[k]) ok = 0;
    if (!ok) {
        dm_seterr("%s: source %s does not fit input %s with %lld indices along dim %d "
                  "(expected the input's shape with %lld at dim %d)", fn, SHAPE(src, b1),
                  SHAPE(x, b2), (long long)m, d + 1, (long long)m, d + 1);
        return NULL;
    }
    const dm_tensor *ins[2] = { x, src };
    dm_tensor *hi = NULL, *hs = NULL;
    const int64_t *pos = dm__contig_as(index, DM_INT64, &hi);
    const void *sp = pos ? dm__contig_as(src, src->dtype, &hs) : NULL;
    for (int64_t j = 0; sp && j < m; j++)
        if (pos[j] < 0 || pos[j] >= xs.s[d]) {
            dm_seterr("%s: index %lld is out of bounds for dim %d with size %lld", fn,
                      (long long)(pos[j] == INT64_MAX ? pos[j] : pos[j] + 1), d + 1,
                      (long long)xs.s[d]);
            sp = NULL;
        }
    dm_tensor *out = sp ? dm__contig_copy(x, x->dtype) : NULL;
    if (out) {
        int64_t outer, size, inner;
        dm__split_dim(out, d, &outer, &size, &inner);
        if (x->ndim == 0) size = 1;
        // out is [outer x size x inner], src is [outer x m x inner]
        DEV->index_add_alpha(x->dtype, outer, m, size, inner, pos, sp, alpha, dm__ptr(out));
    }
    dm_tensor_release(hs);
    if (out && dm__needs_grad(2, ins)) {
        dm_node *nd = dm__record(DM_OP_INDEX_ADD, 0, out, 2, ins);
        if (!nd || !(hi ? dm__save(nd, 0, hi) : dm__save(nd, 0, index))) {
            dm_tensor_release(out);
            out = NULL;
        } else set_dim_params(nd, d, alpha);
    }
    dm_tensor_release(hi);
    return out;
}

dm_tensor *dm_index_add(const dm_tensor *x, int dim, const dm_tensor *index,
                        const dm_tensor *src, double alpha)
{
    return index_add_impl("index_add", x, dim, index, src, alpha);
}

/* self: g; source: alpha * g read at the indexed rows */
int dm__bw_index_add(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                     dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *src = n->in[1], *index = n->saved[0];
    if (x->requires_grad && !(gin[0] = dm__contig_copy(gout, gout->dtype))) return -1;
    if (!src->requires_grad) return 0;
    int d = n->par.index.dim;
    double alpha = n->par.index.alpha;
    dm_tensor *gs = dm_tensor_new_dtype(src->ndim, src->shape, gout->dtype);
    if (!gs) return -1;
    const int64_t *pos = dm__ptr(index);
    int64_t outer, m, inner, size = x->ndim ? x->shape[d] : 1;
    dm__split_dim(src, d, &outer, &m, &inner);
    if (src->ndim == 0) m = 1;
    DEV->index_add_bw(gout->dtype, outer, m, size, inner, pos, dm__ptr(gout), alpha,
                      dm__ptr(gs));
    gin[1] = gs;
    return 0;
}

/* ---- bincount, one_hot ----------------------------------------------------------------- */

dm_tensor *dm_bincount(const dm_tensor *x, const dm_tensor *weights, int64_t minlength)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (dm__same_device("bincount", 2, (const dm_tensor *[]){ x, weights }) < 0) return NULL;
    if (x->dtype != DM_INT64 && x->dtype != DM_UINT8 && x->dtype != DM_BOOL) {
        dm_seterr("bincount: expected an integer input, got %s", dm_dtype_name(x->dtype));
        return NULL;
    }
    if (x->ndim != 1) {
        dm_seterr("bincount: input must be 1-D, got %s", SHAPE(x, b1));
        return NULL;
    }
    if (minlength < 0) {
        dm_seterr("bincount: minlength should be >= 0, got %lld", (long long)minlength);
        return NULL;
    }
    if (weights && (weights->ndim != 1 || weights->shape[0] != x->shape[0])) {
        dm_seterr("bincount: weights %s should have the input's length, input %s",
                  SHAPE(weights, b1), SHAPE(x, b2));
        return NULL;
    }
    int64_t n = x->shape[0];
    dm_tensor *hx = NULL, *hw = NULL;
    const int64_t *v = dm__contig_as(x, DM_INT64, &hx);
    if (!v) return NULL;
    int64_t len = minlength;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            dm_seterr("bincount: input must hold non-negative values, got %lld at %lld",
                      (long long)v[i], (long long)i + 1);
            dm_tensor_release(hx);
            return NULL;
        }
        if (v[i] >= len) len = v[i] == INT64_MAX ? v[i] : v[i] + 1;   /* checked below */
    }
    dm_dtype rt = !weights ? DM_INT64 : weights->dtype == DM_FLOAT32 ? DM_FLOAT32 : DM_FLOAT64;
    dm_tensor *out = dm_tensor_zeros_dtype(1, &len, rt);
    const void *w = out && weights ? dm__contig_as(weights, rt, &hw) : NULL;
    if (out && weights && !w) { dm_tensor_release(out); out = NULL; }
    if (out) DEV->bincount(rt, v, n, weights ? w : NULL, dm__ptr(out));
    dm_tensor_release(hx);
    dm_tensor_release(hw);
    return out;
}

dm_tensor *dm_one_hot(const dm_tensor *labels, int64_t num_classes)
{
    dm__device_of(labels);
    if (labels->dtype != DM_INT64) {
        dm_seterr("one_hot: expected an int64 tensor of class labels, got %s",
                  dm_dtype_name(labels->dtype));
        return NULL;
    }
    if (labels->ndim >= DM_MAX_DIMS) {
        dm_seterr("one_hot: labels have %d dims (at most %d)", labels->ndim, DM_MAX_DIMS - 1);
        return NULL;
    }
    int64_t n = dm__numel(labels);
    dm_tensor *h = NULL;
    const int64_t *v = dm__contig_as(labels, DM_INT64, &h);
    if (!v) return NULL;
    int64_t mx = -1;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            dm_seterr("one_hot: class values must be non-negative, got %lld", (long long)v[i]);
            dm_tensor_release(h);
            return NULL;
        }
        if (v[i] > mx) mx = v[i];
    }
    if (num_classes == -1) {
        if (n == 0) {
            dm_seterr("one_hot: can not infer the number of classes from an empty tensor");
            dm_tensor_release(h);
            return NULL;
        }
        num_classes = mx == INT64_MAX ? mx : mx + 1;   /* the size check refuses it below */
    } else if (num_classes < 0) {
        dm_seterr("one_hot: num_classes must be -1 or a count, got %lld", (long long)num_classes);
        dm_tensor_release(h);
        return NULL;
    } else if (mx >= num_classes) {
        dm_seterr("one_hot: class value %lld is larger than num_classes %lld", (long long)mx + 1,
                  (long long)num_classes);
        dm_tensor_release(h);
        return NULL;
    }
    int64_t shape[DM_MAX_DIMS];
    memcpy(shape, labels->shape, (size_t)labels->ndim * sizeof *shape);
    shape[labels->ndim] = num_classes;
    dm_tensor *out = dm_tensor_zeros_dtype(labels->ndim + 1, shape, DM_INT64);
    if (out) DEV->one_hot(v, n, num_classes, dm__ptr(out));
    dm_tensor_release(h);
    return out;
}

/* ---- in-place forms: the out-of-place result written through dm__inplace_commit -------- */

int dm_scatter_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src,
                double value, dm_scatter_reduce reduce)
{
    if (dm__check_inplace("scatter_", t) || dm__check_overlap("scatter_", t)) return -1;
    return dm__inplace_commit("scatter_", t,
        scatter_impl("scatter_", t, dim, index, src, value, reduce, DM_OP_SCATTER));
}

int dm_scatter_add_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src)
{
    if (dm__check_inplace("scatter_add_", t) || dm__check_overlap("scatter_add_", t)) return -1;
    if (!src) { dm_seterr("scatter_add_: src is required"); return -1; }
    return dm__inplace_commit("scatter_add_", t, scatter_impl("scatter_add_", t, dim, index, src,
                                                              0, DM_SCATTER_ADD,
                                                              DM_OP_SCATTER_ADD));
}

int dm_index_add_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src,
                  double alpha)
{
    if (dm__check_inplace("index_add_", t) || dm__check_overlap("index_add_", t)) return -1;
    return dm__inplace_commit("index_add_", t, index_add_impl("index_add_", t, dim, index, src,
                                                              alpha));
}
