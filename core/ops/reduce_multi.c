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
 * Node parameters: par.dims .mask (bit d: input dim d reduced), .p (norm's order).
 *   saved[0]  the output (amax/amin, logsumexp, norm) */
#include "internal.h"
#include <float.h>

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

/* a [K x R] float64 block laid back into a new tensor of x's shape and dtype dt */
static dm_tensor *unrows(const double *g, int ndim, const int64_t *shape, uint32_t mask,
                         dm_dtype dt)
{
    int perm[DM_MAX_DIMS];
    int64_t K, R, ps[DM_MAX_DIMS];
    rows_perm(ndim, shape, mask, perm, &K, &R);
    for (int d = 0; d < ndim; d++) ps[d] = shape[perm[d]];
    dm_tensor *out = dm_tensor_new_dtype(ndim, shape, dt);
    dm_tensor *blk = out ? dm_tensor_new_dtype(ndim, ps, DM_FLOAT64) : NULL;
    if (!blk) { dm_tensor_release(out); return NULL; }
    memcpy(dm__ptr(blk), g, (size_t)(K * R) * sizeof(double));
    int prev = dm_set_grad_enabled(0);
    dm_tensor *pv = dm_permute(out, perm);      /* out seen in the block's order */
    int rc = pv ? dm_copy_(pv, blk) : -1;
    dm_set_grad_enabled(prev);
    dm_tensor_release(pv);
    dm_tensor_release(blk);
    if (rc) { dm_tensor_release(out); return NULL; }
    return out;
}

/* a new tensor of shape (nd, os) and dtype dt from n doubles */
static dm_tensor *from_doubles(const double *v, int nd, const int64_t *os, dm_dtype dt)
{
    dm_tensor *t = dm_tensor_new_dtype(nd, os, DM_FLOAT64);
    if (!t) return NULL;
    memcpy(dm__ptr(t), v, (size_t)dm__numel(t) * sizeof(double));
    if (dt == DM_FLOAT64) return t;
    dm_tensor *c = dm_to_dtype(t, dt);
    dm_tensor_release(t);
    return c;
}

static double *dalloc(int64_t n)
{
    double *p = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!p) dm_seterr("out of memory");
    return p;
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
        int64_t *y = dm__ptr(o);
        for (int64_t k = 0; k < K; k++) {
            const int64_t *row = v + k * R;
            int64_t m = row[0];
            for (int64_t r = 1; r < R; r++)
                if (kind == MR_AMAX ? row[r] > m : row[r] < m) m = row[r];
            y[k] = m;
        }
        dm_tensor_release(hold);
        if (x->dtype == DM_INT64) return o;
        out = dm_to_dtype(o, x->dtype);
        dm_tensor_release(o);
        return out;                               /* integers never require grad */
    }

    const double *v = rows_of(x, mask, DM_FLOAT64, &K, &R, &hold);
    double *y = v ? dalloc(K) : NULL;
    if (!y) { dm_tensor_release(hold); return NULL; }
    for (int64_t k = 0; k < K; k++) {
        const double *row = v + k * R;
        double acc = 0;
        switch (kind) {
        case MR_AMAX: case MR_AMIN: {
            double m = row[0];
            for (int64_t r = 1; r < R && !isnan(m); r++) {
                if (isnan(row[r])) m = row[r];
                else if (kind == MR_AMAX ? row[r] > m : row[r] < m) m = row[r];
            }
            acc = m;
            break;
        }
        case MR_LOGSUMEXP: {
            double m = -INFINITY;
            for (int64_t r = 0; r < R; r++) if (row[r] > m || isnan(row[r])) m = row[r];
            if (isinf(m)) m = 0;                  /* PyTorch: infinite maxima shift by 0 */
            for (int64_t r = 0; r < R; r++) acc += exp(row[r] - m);
            acc = log(acc) + m;
            break;
        }
        case MR_NORM:
            if (p == 0) for (int64_t r = 0; r < R; r++) acc += row[r] != 0;
            else if (p == 1) for (int64_t r = 0; r < R; r++) acc += fabs(row[r]);
            else if (p == 2) {
                for (int64_t r = 0; r < R; r++) acc += row[r] * row[r];
                acc = sqrt(acc);
            } else if (isinf(p)) {
                acc = R ? fabs(row[0]) : 0;       /* PyTorch: 0 over nothing */
                for (int64_t r = 1; r < R; r++) {
                    double a = fabs(row[r]);
                    if (isnan(a) || (p > 0 ? a > acc : a < acc)) acc = a;
                    if (isnan(acc)) break;
                }
            } else {
                for (int64_t r = 0; r < R; r++) acc += pow(fabs(row[r]), p);
                acc = pow(acc, 1.0 / p);
            }
            break;
        }
        y[k] = acc;
    }
    dm_tensor_release(hold);
    out = from_doubles(y, ond, os, ot);
    free(y);
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

static double sgn(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

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
    double *gi = g ? dalloc(K * R) : NULL;
    int rc = -1;
    if (!gi) goto done;
    for (int64_t k = 0; k < K; k++) {
        const double *row = xv + k * R;
        double *o = gi + k * R, yk = yv[k], gk = g[k];
        switch (n->op) {
        case DM_OP_AMAX: case DM_OP_AMIN: {
            int64_t cnt = 0;
            for (int64_t r = 0; r < R; r++) cnt += row[r] == yk;
            for (int64_t r = 0; r < R; r++) o[r] = row[r] == yk ? gk / (double)cnt : 0;
            break;
        }
        case DM_OP_LOGSUMEXP:
            for (int64_t r = 0; r < R; r++) o[r] = gk * exp(row[r] - yk);
            break;
        default:                                  /* norm */
            if (p == 0) {
                for (int64_t r = 0; r < R; r++) o[r] = 0;
            } else if (p == 1) {
                for (int64_t r = 0; r < R; r++) o[r] = sgn(row[r]) * gk;
            } else if (isinf(p)) {
                int64_t cnt = 0;
                for (int64_t r = 0; r < R; r++) cnt += fabs(row[r]) == yk;
                for (int64_t r = 0; r < R; r++)
                    o[r] = fabs(row[r]) == yk ? sgn(row[r]) * gk / (double)cnt : 0;
            } else if (yk == 0) {
                for (int64_t r = 0; r < R; r++) o[r] = 0;
            } else if (p == 2) {
                for (int64_t r = 0; r < R; r++) o[r] = row[r] * (gk / yk);
            } else {
                double s = gk / pow(yk, p - 1);
                for (int64_t r = 0; r < R; r++)
                    o[r] = (p < 2 ? sgn(row[r]) * pow(fabs(row[r]), p - 1)
                                  : row[r] * pow(fabs(row[r]), p - 2)) * s;
            }
            break;
        }
    }
    gin[0] = unrows(gi, n->in_ndim, n->in_shape, mask, x->dtype);
    rc = gin[0] ? 0 : -1;
done:
    free(gi);
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
    uint8_t *y = dm__ptr(out);
    for (int64_t k = 0; k < K; k++) {
        int acc = is_all;
        for (int64_t r = 0; r < R; r++) {
            int nz = v[k * R + r] != 0;
            if (is_all ? !nz : nz) { acc = !is_all; break; }
        }
        y[k] = (uint8_t)acc;
    }
    dm_tensor_release(hold);
    return out;
}

/* ---- isnan / isinf / isfinite, nan_to_num ------------------------------------------------- */

dm_tensor *dm_isclass(const dm_tensor *x, int kind)
{
    dm__device_of(x);
    dm_tensor *out = dm_tensor_new_dtype(x->ndim, x->shape, DM_BOOL);
    if (!out) return NULL;
    uint8_t *y = dm__ptr(out);
    int64_t n = dm__numel(x);
    if (!dm_is_floating(x->dtype)) {               /* integers are finite numbers */
        memset(y, kind == 2, (size_t)n);
        return out;
    }
    dm_tensor *hold = NULL;
    const double *v = dm__contig_as(x, DM_FLOAT64, &hold);
    if (!v) { dm_tensor_release(out); return NULL; }
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)(kind == 0 ? !!isnan(v[i]) : kind == 1 ? !!isinf(v[i])   /* isinf(-inf): -1 */
                                                     : !!isfinite(v[i]));
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
    double *y = v ? dalloc(n) : NULL;
    if (!y) { dm_tensor_release(hold); return NULL; }
    for (int64_t i = 0; i < n; i++)
        y[i] = isnan(v[i]) ? nan : isinf(v[i]) ? (v[i] > 0 ? pi : ni) : v[i];
    dm_tensor_release(hold);
    dm_tensor *out = from_doubles(y, x->ndim, x->shape, x->dtype);
    free(y);
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
    double *gi = g ? dalloc(cnt) : NULL;
    if (gi) {
        for (int64_t i = 0; i < cnt; i++) gi[i] = isfinite(xv[i]) ? g[i] : 0;
        gin[0] = from_doubles(gi, n->in_ndim, n->in_shape, x->dtype);
    }
    free(gi);
    dm_tensor_release(hx);
    dm_tensor_release(hg);
    return gin[0] ? 0 : -1;
}
