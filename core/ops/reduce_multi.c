/* reduce_multi.c -- reductions over several dims at once (sum, mean, amax/amin, logsumexp,
 * norm), any/all, and the elementwise tests isnan/isinf/isfinite and nan_to_num, with their
 * backward rules.
 *
 * A reduction over a set of dims sees its input as rows: the input permuted so the kept dims
 * come first (in order) and the reduced ones last, copied contiguous, is a [K x R] block,
 * K the product of the kept sizes and R of the reduced ones.  Row k's result is output
 * element k whether or not keepdim is set, and the backward rules work in the same layout
 * and permute their [K x R] gradient back into the input's.  Values are computed in double
 * (int64 for integer amax/amin) and converted to the result's dtype.
 *
 * sum and mean over several dims are built from existing ops (permute, reshape, the one-dim
 * reduction, view), so their gradients are those ops'; one dim goes straight to dm_reduce.
 *
 * The loops over the values are the device's kernels (backend.h: mreduce, mreduce_bw,
 * any_all, isclass, nan_to_num, nan_to_num_bw; backend/cpu/reduce_multi.c and
 * backend/ref/reduce_multi.c); this file checks, lays the rows out and builds the results.
 *
 * Node parameters: par.dims .mask (bit d: input dim d reduced), .p (norm's order).
 *   saved[0]  the output (amax/amin, logsumexp, norm) */
#include "internal.h"
#include "backend.h"
#include <float.h>

#define DEV (dm__kernels(dm__cur_device))

/* ---- dims ------------------------------------------------------------------------------ */

/* the mask of dims (n of them, 0-based or negative; n == 0: every dim); -1 and a message on
   a dim out of range or repeated ("sum: dim 2 appears multiple times in the list of dims") */
static int dims_mask(const char *fn, const dm_tensor *x, int n, const int *dims, uint32_t *mask)
{
    *mask = 0;
    if (n == 0) {
        *mask = x->ndim ? (uint32_t)((1u << x->ndim) - 1) : 0;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int d = dm_wrap_dim(fn, dims[i], x->ndim, 0);
        if (d < 0) return -1;
        if (x->ndim == 0) continue;                 /* a 0-dim tensor's dim 0 (or -1) */
        if (*mask & (1u << d)) {
            dm_seterr("%s: dim %d appears multiple times in the list of dims", fn, d + 1);
            return -1;
        }
        *mask |= 1u << d;
    }
    return 0;
}

/* the output shape (kept dims, or 1 in reduced ones with keepdim); returns its ndim */
static int out_shape(const dm_tensor *x, uint32_t mask, int keepdim, int64_t *os)
{
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) { if (keepdim) os[nd++] = 1; }
        else os[nd++] = x->shape[d];
    }
    return nd;
}

/* the permutation kept dims first, reduced last; K and R */
static void rows_perm(int ndim, const int64_t *shape, uint32_t mask, int *perm, int64_t *K,
                      int64_t *R)
{
    int k = 0;
    *K = *R = 1;
    for (int d = 0; d < ndim; d++) if (!(mask & (1u << d))) { perm[k++] = d; *K *= shape[d]; }
    for (int d = 0; d < ndim; d++) if (mask & (1u << d)) { perm[k++] = d; *R *= shape[d]; }
}

/* x as a [K x R] row block of dtype dt (contiguous; *hold to release) */
static const void *rows_of(const dm_tensor *x, uint32_t mask, dm_dtype dt, int64_t *K,
                           int64_t *R, dm_tensor **hold)
{
    int perm[DM_MAX_DIMS];
    rows_perm(x->ndim, x->shape, mask, perm, K, R);
    int prev = dm_set_grad_enabled(0);
    dm_tensor *p = dm_permute(x, perm);
    dm_set_grad_enabled(prev);
    if (!p) return NULL;
    dm_tensor *h = NULL;
    const void *d = dm__contig_as(p, dt, &h);
    if (d && !h) h = dm_tensor_retain(p);          /* p itself is the block: keep it alive */
    dm_tensor_release(p);
    *hold = h;
    return d;
}

/* a new float64 [K x R] block for x's shape (ndim, shape) and mask: the shape permuted
   kept dims first, as unrows reads it */
static dm_tensor *rows_block(int ndim, const int64_t *shape, uint32_t mask)
{
    int perm[DM_MAX_DIMS];
    int64_t K, R, ps[DM_MAX_DIMS];
    rows_perm(ndim, shape, mask, perm, &K, &R);
    for (int d = 0; d < ndim; d++) ps[d] = shape[perm[d]];
    return dm_tensor_new_dtype(ndim, ps, DM_FLOAT64);
}

/* rows_block's blk laid back into a new tensor of x's shape and dtype dt (blk released) */
static dm_tensor *unrows(dm_tensor *blk, int ndim, const int64_t *shape, uint32_t mask,
                         dm_dtype dt)
{
    int perm[DM_MAX_DIMS];
    int64_t K, R;
    rows_perm(ndim, shape, mask, perm, &K, &R);
    dm_tensor *out = dm_tensor_new_dtype(ndim, shape, dt);
    if (!out) { dm_tensor_release(blk); return NULL; }
    int prev = dm_set_grad_enabled(0);
    dm_tensor *pv = dm_permute(out, perm);      /* out seen in the block's order */
    int rc = pv ? dm_copy_(pv, blk) : -1;
    dm_set_grad_enabled(prev);
    dm_tensor_release(pv);
    dm_tensor_release(blk);
    if (rc) { dm_tensor_release(out); return NULL; }
    return out;
}

/* t (float64) as dtype dt (t released) */
static dm_tensor *as_dtype(dm_tensor *t, dm_dtype dt)
{
    if (!t || dt == DM_FLOAT64) return t;
    dm_tensor *c = dm_to_dtype(t, dt);
    dm_tensor_release(t);
    return c;
}

/* ---- sum and mean over several dims ------------------------------------------------------ */

dm_tensor *dm_reduce_dims(dm_redop op, const dm_tensor *x, int n, const int *dims, int keepdim)
{
    const char *fn = op == DM_RED_MEAN ? "mean" : "sum";
    if (op != DM_RED_SUM && op != DM_RED_MEAN) {
        dm_seterr("reduce_dims: only sum and mean reduce over several dims");
        return NULL;
    }
    dm__device_of(x);
    if (n == 1) return dm_reduce(op, x, dims[0], keepdim, 1);
    uint32_t mask;
    if (dims_mask(fn, x, n, dims, &mask)) return NULL;
    if (op == DM_RED_MEAN && dm__need_float(fn, x, "tensor")) return NULL;
    if (x->ndim == 0 || mask == (uint32_t)((1u << x->ndim) - 1)) {
        dm_tensor *r = dm_reduce(op, x, DM_ALL, 0, 1);
        if (!r || !keepdim || x->ndim == 0) return r;
        int64_t os[DM_MAX_DIMS];
        int nd = out_shape(x, mask, 1, os);
        dm_tensor *v = dm_view(r, nd, os);
        dm_tensor_release(r);
        return v;
    }
    int perm[DM_MAX_DIMS], k = 0;
    int64_t K, R, rs[DM_MAX_DIMS + 1], os[DM_MAX_DIMS];
    rows_perm(x->ndim, x->shape, mask, perm, &K, &R);
    for (int d = 0; d < x->ndim; d++) if (!(mask & (1u << d))) rs[k++] = x->shape[d];
    rs[k] = R;
    dm_tensor *p = dm_permute(x, perm);
    dm_tensor *r = p ? dm_reshape(p, k + 1, rs) : NULL;
    dm_tensor *s = r ? dm_reduce(op, r, k, 0, 1) : NULL;
    dm_tensor_release(p);
    dm_tensor_release(r);
    if (!s || !keepdim) return s;
    int nd = out_shape(x, mask, 1, os);
    dm_tensor *v = dm_view(s, nd, os);
    dm_tensor_release(s);
    return v;
}

/* ---- amax/amin, logsumexp, norm ------------------------------------------------------------ */

typedef enum { MR_AMAX, MR_AMIN, MR_LOGSUMEXP, MR_NORM } mred;

static dm_tensor *mreduce(mred kind, const dm_tensor *x, double p, int n, const int *dims,
                          int keepdim)
{
    static const char *const names[] = { "amax", "amin", "logsumexp", "norm" };
    const char *fn = names[kind];
    dm__device_of(x);
    uint32_t mask;
    if (dims_mask(fn, x, n, dims, &mask)) return NULL;
    if (kind == MR_NORM && dm__need_float(fn, x, "tensor")) return NULL;
    int64_t os[DM_MAX_DIMS], K, R;
    int ond = out_shape(x, mask, keepdim, os);
    int perm[DM_MAX_DIMS];
    rows_perm(x->ndim, x->shape, mask, perm, &K, &R);
    char b[DM_SHAPE_BUF];
    if ((kind == MR_AMAX || kind == MR_AMIN) && R == 0) {
        dm_seterr("%s: cannot reduce over a dim of size 0 (tensor of size %s)", fn,
                  SHAPE(x, b));
        return NULL;
    }
    dm_dtype ot = x->dtype;
    if (kind == MR_LOGSUMEXP && !dm_is_floating(ot)) ot = DM_FLOAT32;   /* the default float */
    dm_tensor *hold = NULL, *out = NULL;

    if ((kind == MR_AMAX || kind == MR_AMIN) && !dm_is_floating(x->dtype)) {
        const int64_t *v = rows_of(x, mask, DM_INT64, &K, &R, &hold);
        dm_tensor *o = v ? dm_tensor_new_dtype(ond, os, DM_INT64) : NULL;
        if (!o) { dm_tensor_release(hold); return NULL; }
        DEV->mreduce((int)kind, DM_INT64, v, K, R, 0, dm__ptr(o));
        dm_tensor_release(hold);
        if (x->dtype == DM_INT64) return o;
        out = dm_to_dtype(o, x->dtype);
        dm_tensor_release(o);
        return out;                               /* integers never require grad */
    }

    const double *v = rows_of(x, mask, DM_FLOAT64, &K, &R, &hold);
    dm_tensor *y = v ? dm_tensor_new_dtype(ond, os, DM_FLOAT64) : NULL;
    if (!y) { dm_tensor_release(hold); return NULL; }
    DEV->mreduce((int)kind, DM_FLOAT64, v, K, R, p, dm__ptr(y));
    dm_tensor_release(hold);
    out = as_dtype(y, ot);
    if (!out) return NULL;
    if (dm_is_floating(x->dtype) && dm__needs_grad(1, &x)) {
        static const dm_op ops[] = { DM_OP_AMAX, DM_OP_AMIN, DM_OP_LOGSUMEXP, DM_OP_NORM };
        dm_node *nd = dm__record(ops[kind], 0, out, 1, &x);
        if (!nd || !dm__save(nd, 0, out)) { dm_tensor_release(out); return NULL; }
        nd->par.dims.mask = mask;
        nd->par.dims.p = p;
    }
    return out;
}

dm_tensor *dm_amax(const dm_tensor *x, int n, const int *dims, int keepdim)
{
    return mreduce(MR_AMAX, x, 0, n, dims, keepdim);
}
dm_tensor *dm_amin(const dm_tensor *x, int n, const int *dims, int keepdim)
{
    return mreduce(MR_AMIN, x, 0, n, dims, keepdim);
}
dm_tensor *dm_logsumexp(const dm_tensor *x, int n, const int *dims, int keepdim)
{
    return mreduce(MR_LOGSUMEXP, x, 0, n, dims, keepdim);
}
dm_tensor *dm_norm(const dm_tensor *x, double p, int n, const int *dims, int keepdim)
{
    if (isnan(p)) { dm_seterr("norm: the order p is nan"); return NULL; }
    return mreduce(MR_NORM, x, p, n, dims, keepdim);
}

/* amax/amin: the gradient shared evenly by the elements equal to the result;
   logsumexp: g exp(x - y); norm: PyTorch's norm_backward (0 where the norm is 0) */
int dm__bw_mreduce(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    dm_tensor *x = n->in[0];
    if (!x || !x->requires_grad) return 0;
    uint32_t mask = n->par.dims.mask;
    double p = n->par.dims.p;
    int64_t K, R;
    dm_tensor *hx = NULL, *hy = NULL, *hg = NULL;
    const double *xv = rows_of(x, mask, DM_FLOAT64, &K, &R, &hx);
    const double *yv = xv ? dm__contig_as(n->saved[0], DM_FLOAT64, &hy) : NULL;
    const double *g = yv ? dm__contig_as(gout, DM_FLOAT64, &hg) : NULL;
    dm_tensor *gi = g ? rows_block(n->in_ndim, n->in_shape, mask) : NULL;
    int rc = -1;
    if (gi) {
        DEV->mreduce_bw(n->op == DM_OP_AMAX ? MR_AMAX : n->op == DM_OP_AMIN ? MR_AMIN
                        : n->op == DM_OP_LOGSUMEXP ? MR_LOGSUMEXP : MR_NORM,
                        xv, yv, g, K, R, p, dm__ptr(gi));
        gin[0] = unrows(gi, n->in_ndim, n->in_shape, mask, x->dtype);
        rc = gin[0] ? 0 : -1;
    }
    dm_tensor_release(hx);
    dm_tensor_release(hy);
    dm_tensor_release(hg);
    return rc;
}

/* ---- any / all ---------------------------------------------------------------------------- */

dm_tensor *dm_any_all(const dm_tensor *x, int dim, int keepdim, int is_all)
{
    const char *fn = is_all ? "all" : "any";
    dm__device_of(x);
    uint32_t mask = 0;
    if (dim == DM_ALL) dims_mask(fn, x, 0, NULL, &mask);
    else if (dims_mask(fn, x, 1, &dim, &mask)) return NULL;
    int64_t os[DM_MAX_DIMS], K, R;
    int ond = out_shape(x, mask, keepdim, os);
    dm_tensor *hold = NULL;
    const double *v = rows_of(x, mask, DM_FLOAT64, &K, &R, &hold);
    /* PyTorch 1.13 keeps uint8 for uint8 inputs, bool for all others */
    dm_tensor *out = v ? dm_tensor_new_dtype(ond, os, x->dtype == DM_UINT8 ? DM_UINT8
                                                                             : DM_BOOL) : NULL;
    if (!out) { dm_tensor_release(hold); return NULL; }
    DEV->any_all(is_all, v, K, R, dm__ptr(out));
    dm_tensor_release(hold);
    return out;
}

/* ---- isnan / isinf / isfinite, nan_to_num ------------------------------------------------- */

dm_tensor *dm_isclass(const dm_tensor *x, int kind)
{
    if ((unsigned)kind > 5) {          /* isnan isinf isfinite isposinf isneginf signbit */
        dm_seterr("isclass: unknown kind %d", kind);
        return NULL;
    }
    dm__device_of(x);
    dm_tensor *out = dm_tensor_new_dtype(x->ndim, x->shape, DM_BOOL);
    if (!out) return NULL;
    int64_t n = dm__numel(x);
    /* integers are finite numbers, never infinite; signbit reads their sign (below) */
    if (!dm_is_floating(x->dtype) && kind != 5) {
        uint8_t b = kind == 2;
        DEV->fill(out, &b);
        return out;
    }
    dm_tensor *hold = NULL;
    const double *v = dm__contig_as(x, DM_FLOAT64, &hold);
    if (!v) { dm_tensor_release(out); return NULL; }
    DEV->isclass(kind, v, n, dm__ptr(out));
    dm_tensor_release(hold);
    return out;
}

dm_tensor *dm_nan_to_num(const dm_tensor *x, double nan, const double *posinf,
                         const double *neginf)
{
    dm__device_of(x);
    if (!dm_is_floating(x->dtype)) {
        int prev = dm_set_grad_enabled(0);
        dm_tensor *c = dm_clone(x);
        dm_set_grad_enabled(prev);
        return c;
    }
    double big = x->dtype == DM_FLOAT32 ? FLT_MAX : DBL_MAX;
    double pi = posinf ? *posinf : big, ni = neginf ? *neginf : -big;
    dm_tensor *hold = NULL;
    const double *v = dm__contig_as(x, DM_FLOAT64, &hold);
    int64_t n = dm__numel(x);
    dm_tensor *y = v ? dm_tensor_new_dtype(x->ndim, x->shape, DM_FLOAT64) : NULL;
    if (!y) { dm_tensor_release(hold); return NULL; }
    DEV->nan_to_num(v, n, nan, pi, ni, dm__ptr(y));
    dm_tensor_release(hold);
    dm_tensor *out = as_dtype(y, x->dtype);
    if (out && dm__needs_grad(1, &x) && !dm__record(DM_OP_NAN_TO_NUM, 0, out, 1, &x)) {
        dm_tensor_release(out);
        return NULL;
    }
    return out;
}

/* the gradient where x was finite, 0 elsewhere */
int dm__bw_nan_to_num(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                      dm_tensor **gin)
{
    dm_tensor *x = n->in[0];
    if (!x || !x->requires_grad) return 0;
    dm_tensor *hx = NULL, *hg = NULL;
    const double *xv = dm__contig_as(x, DM_FLOAT64, &hx);
    const double *g = xv ? dm__contig_as(gout, DM_FLOAT64, &hg) : NULL;
    int64_t cnt = dm__numel(x);
    dm_tensor *gi = g ? dm_tensor_new_dtype(n->in_ndim, n->in_shape, DM_FLOAT64) : NULL;
    if (gi) {
        DEV->nan_to_num_bw(xv, g, cnt, dm__ptr(gi));
        gin[0] = as_dtype(gi, x->dtype);
    }
    dm_tensor_release(hx);
    dm_tensor_release(hg);
    return gin[0] ? 0 : -1;
}
