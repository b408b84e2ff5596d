/* reduce.c -- reductions (sum, mean, prod, max/min, argmax/argmin, var/std), dm_sum_to,
 * softmax and log_softmax, and their backward rules.
 *
 * Every reduction over one dim sees its input as a contiguous [outer x R x inner] block:
 * R elements along the reduced dim, `outer` the product of the dims before it and `inner`
 * of those after it.  Reducing everything is outer = inner = 1, R = numel, and a 0-dim
 * tensor reduced over "its" dim 0 is one slice of one element.  The result of slice (o, i)
 * sits at o*inner + i whether or not keepdim is set, and so does its gradient, which is why
 * the backward rules never reshape anything.  Non-contiguous inputs are copied once to a
 * contiguous buffer rather than giving every kernel a strided twin.
 *
 * Sums, means, variances and products accumulate in double, so long reductions agree with
 * PyTorch (which sums floats pairwise) to ~1e-7 relative.  Variance is two-pass (mean, then
 * squared deviations) in double.
 *
 * Node parameters:
 *   i[0]  reduced dim (0-based), -1 for a full reduction, -2 for dm_sum_to
 *   i[1]  keepdim          i[2]  correction (var/std)
 *   f[0]  the max/min value (DM_OP_MAXMIN_ALL)
 *   saved[0]  a private copy of the indices (DM_OP_MAXMIN); the output (DM_OP_STD, DM_OP_SOFTMAX, _LOG_SOFTMAX)
 */
#include "internal.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define DIM_ALL (-1)        /* i[0] of a full reduction */
#define DIM_SUM_TO (-2)     /* i[0] of dm_sum_to: output right-aligned against the input */

/* ---- geometry -------------------------------------------------------------------------- */

typedef struct { int64_t outer, r, inner; } geom;

static geom geom_of(int ndim, const int64_t *shape, int dim)
{
    geom g = { 1, 1, 1 };
    if (dim < 0) {
        for (int d = 0; d < ndim; d++) g.r *= shape[d];
        return g;
    }
    if (ndim == 0) return g;
    for (int d = 0; d < dim; d++) g.outer *= shape[d];
    g.r = shape[dim];
    for (int d = dim + 1; d < ndim; d++) g.inner *= shape[d];
    return g;
}

/* shape after reducing dim (everything when dim < 0); returns its ndim */
static int reduced_shape(const dm_tensor *x, int dim, int keepdim, int64_t *os)
{
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (dim < 0 || d == dim) { if (keepdim) os[nd++] = 1; }
        else os[nd++] = x->shape[d];
    }
    return nd;
}

/* ---- kernels --------------------------------------------------------------------------- */

/* sum of n contiguous floats in double; eight independent lanes let the compiler vectorise
   without reassociating (no -ffast-math needed) */
static double sum_contig(const float *x, int64_t n)
{
    double lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)x[i + j];
    double s = 0;
    for (; i < n; i++) s += (double)x[i];
    return s + (((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                ((lane[4] + lane[5]) + (lane[6] + lane[7])));
}

/* acc[k] += x[k], k < n; blocks of eight so -O2's cheap vectoriser takes it too */
static void add_row(double *restrict acc, const float *restrict x, int64_t n)
{
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[k + j] += (double)x[k + j];
    for (; k < n; k++) acc[k] += (double)x[k];
}

/* y[o, i] = scale * sum_r x[o, r, i]; x is [outer x R x inner], y is [outer x inner] */
static int sum_kernel(const float *x, geom G, double scale, float *y)
{
    if (G.inner == 1) {
        for (int64_t o = 0; o < G.outer; o++)
            y[o] = (float)(sum_contig(x + o * G.r, G.r) * scale);
        return 0;
    }
    double *acc = malloc((size_t)G.inner * sizeof *acc);
    if (!acc) { dm_seterr("out of memory"); return -1; }
    for (int64_t o = 0; o < G.outer; o++) {
        const float *xo = x + o * G.r * G.inner;
        for (int64_t i = 0; i < G.inner; i++) acc[i] = 0;
        for (int64_t r = 0; r < G.r; r++) add_row(acc, xo + r * G.inner, G.inner);
        for (int64_t i = 0; i < G.inner; i++) y[o * G.inner + i] = (float)(acc[i] * scale);
    }
    free(acc);
    return 0;
}

/* index of the extreme among s[0], s[stride], ... (R > 0): the first NaN if any (NaN wins,
   as in PyTorch), else the first occurrence of the max (min) */
static int64_t extreme_index(const float *s, int64_t R, int64_t stride, int is_min)
{
    float best = s[0];
    int64_t at = 0;
    if (isnan(best)) return 0;
    for (int64_t r = 1; r < R; r++) {
        float v = s[r * stride];
        if (isnan(v)) return r;
        if (is_min ? v < best : v > best) { best = v; at = r; }
    }
    return at;
}

static double slice_mean(const float *s, int64_t R, int64_t stride)
{
    double sum = 0;
    for (int64_t r = 0; r < R; r++) sum += (double)s[r * stride];
    return R > 0 ? sum / (double)R : NAN;
}

/* variance of one slice: sum (x - mean)^2 / max(0, R - correction), as PyTorch */
static double slice_var(const float *s, int64_t R, int64_t stride, int correction)
{
    if (R == 0) return NAN;
    double mean = slice_mean(s, R, stride), m2 = 0;
    for (int64_t r = 0; r < R; r++) {
        double d = (double)s[r * stride] - mean;
        m2 += d * d;
    }
    double div = R > correction ? (double)(R - correction) : 0.0;
    return div > 0 ? m2 / div : (m2 > 0 ? INFINITY : NAN);
}

/* ---- forward --------------------------------------------------------------------------- */

static const char *const red_name[] = {
    [DM_RED_SUM] = "sum", [DM_RED_MEAN] = "mean", [DM_RED_PROD] = "prod",
    [DM_RED_MAX] = "max", [DM_RED_MIN] = "min", [DM_RED_ARGMAX] = "argmax",
    [DM_RED_ARGMIN] = "argmin", [DM_RED_VAR] = "var", [DM_RED_STD] = "std",
};

/* refuse max/min/argmax/argmin over nothing */
static int check_nonempty(const char *fn, const dm_tensor *x, int dim, geom G)
{
    char b[DM_SHAPE_BUF];
    if (G.r > 0) return 0;
    if (dim < 0)
        dm_seterr("%s: cannot reduce an empty tensor of size %s", fn, SHAPE(x, b));
    else
        dm_seterr("%s: cannot reduce over dim %d of size 0 (tensor of size %s)", fn, dim + 1,
                  SHAPE(x, b));
    return -1;
}

/* max/min along a wrapped dim (0 for a 0-dim tensor) -> values and 0-based indices */
static int maxmin_dim(const char *fn, const dm_tensor *x, int dim, int keepdim, int is_min,
                      dm_tensor **values, dm_tensor **indices)
{
    *values = *indices = NULL;
    geom G = geom_of(x->ndim, x->shape, dim);
    if (check_nonempty(fn, x, dim, G)) return -1;
    int64_t os[DM_MAX_DIMS];
    int ond = reduced_shape(x, dim, keepdim, os);
    dm_tensor *val = dm_tensor_new(ond, os), *idx = dm_tensor_new(ond, os);
    int owned = 0;
    const float *xd = val && idx ? dm__contig_data(x, &owned) : NULL;
    if (!xd) goto fail;
    float *vd = dm_data(val), *id = dm_data(idx);
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            const float *s = xd + o * G.r * G.inner + i;
            int64_t at = extreme_index(s, G.r, G.inner, is_min);
            vd[o * G.inner + i] = s[at * G.inner];
            id[o * G.inner + i] = (float)at;
        }
    dm__buf_release(x, (float *)xd, owned);
    if (dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(DM_OP_MAXMIN, is_min, val, 1, &x);
        if (!nd) goto fail;
        nd->i[0] = dim;
        nd->i[1] = keepdim;
        /* a private copy: the caller owns idx and may rewrite it (1-based, in place) */
        dm_tensor *keep = dm_tensor_from_data(ond, os, id);
        if (!keep) goto fail;
        dm_tensor *saved = dm__save(nd, 0, keep);
        dm_tensor_release(keep);
        if (!saved) goto fail;
    }
    *values = val;
    *indices = idx;
    return 0;
fail:
    dm_tensor_release(val);
    dm_tensor_release(idx);
    return -1;
}

int dm_max_dim(const dm_tensor *x, int dim, int keepdim, int is_min,
               dm_tensor **values, dm_tensor **indices)
{
    const char *fn = is_min ? "min" : "max";
    *values = *indices = NULL;
    int d = dm_wrap_dim(fn, dim, x->ndim, 0);
    if (d < 0) return -1;
    return maxmin_dim(fn, x, d, keepdim, is_min, values, indices);
}

dm_tensor *dm_reduce(dm_redop op, const dm_tensor *x, int dim, int keepdim, int correction)
{
    if ((int)op < 0 || op > DM_RED_STD) {
        dm_seterr("reduce: unknown reduction %d", (int)op);
        return NULL;
    }
    const char *fn = red_name[op];
    int is_min = op == DM_RED_MIN || op == DM_RED_ARGMIN;
    if (dim == DM_ALL) dim = DIM_ALL;
    else if ((dim = dm_wrap_dim(fn, dim, x->ndim, 0)) < 0) return NULL;

    if ((op == DM_RED_MAX || op == DM_RED_MIN) && dim >= 0) {
        dm_tensor *v, *ix;
        if (maxmin_dim(fn, x, dim, keepdim, is_min, &v, &ix)) return NULL;
        dm_tensor_release(ix);
        return v;
    }

    geom G = geom_of(x->ndim, x->shape, dim);
    int extreme = op == DM_RED_MAX || op == DM_RED_MIN || op == DM_RED_ARGMAX ||
                  op == DM_RED_ARGMIN;
    if (extreme && check_nonempty(fn, x, dim, G)) return NULL;
    int64_t os[DM_MAX_DIMS];
    int ond = reduced_shape(x, dim, keepdim, os);
    dm_tensor *out = dm_tensor_new(ond, os);
    if (!out) return NULL;
    int owned = 0;
    const float *xd = dm__contig_data(x, &owned);
    if (!xd) { dm_tensor_release(out); return NULL; }
    float *y = dm_data(out);
    int rc = 0;

    switch (op) {
    case DM_RED_SUM:
        rc = sum_kernel(xd, G, 1.0, y);
        break;
    case DM_RED_MEAN:                       /* mean of nothing is nan */
        rc = sum_kernel(xd, G, G.r > 0 ? 1.0 / (double)G.r : NAN, y);
        break;
    default:
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t i = 0; i < G.inner; i++) {
                const float *s = xd + o * G.r * G.inner + i;
                float *yo = y + o * G.inner + i;
                switch (op) {
                case DM_RED_PROD: {
                    double p = 1;
                    for (int64_t r = 0; r < G.r; r++) p *= (double)s[r * G.inner];
                    *yo = (float)p;
                    break;
                }
                case DM_RED_MAX: case DM_RED_MIN:
                    *yo = s[extreme_index(s, G.r, G.inner, is_min) * G.inner];
                    break;
                case DM_RED_ARGMAX: case DM_RED_ARGMIN:
                    *yo = (float)extreme_index(s, G.r, G.inner, is_min);
                    break;
                case DM_RED_VAR:
                    *yo = (float)slice_var(s, G.r, G.inner, correction);
                    break;
                case DM_RED_STD:
                    *yo = (float)sqrt(slice_var(s, G.r, G.inner, correction));
                    break;
                default:
                    break;
                }
            }
        break;
    }
    dm__buf_release(x, (float *)xd, owned);
    if (rc) { dm_tensor_release(out); return NULL; }

    /* argmax/argmin are not differentiable and never record */
    if (!(op == DM_RED_ARGMAX || op == DM_RED_ARGMIN) && dm__needs_grad(1, &x)) {
        dm_op nop;
        int sub = dim >= 0;
        switch (op) {
        case DM_RED_SUM: nop = DM_OP_SUM; break;
        case DM_RED_MEAN: nop = DM_OP_MEAN; break;
        case DM_RED_PROD: nop = DM_OP_PROD; break;
        case DM_RED_VAR: nop = DM_OP_VAR; sub = 0; break;
        case DM_RED_STD: nop = DM_OP_STD; sub = 0; break;
        default: nop = DM_OP_MAXMIN_ALL; sub = is_min; break;   /* full max/min */
        }
        dm_node *nd = dm__record(nop, sub, out, 1, &x);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->i[0] = dim;
        nd->i[1] = keepdim;
        nd->i[2] = correction;
        if (nop == DM_OP_MAXMIN_ALL) nd->f[0] = y[0];
        if (nop == DM_OP_STD && !dm__save(nd, 0, out)) { dm_tensor_release(out); return NULL; }
    }
    return out;
}

/* ---- dm_sum_to --------------------------------------------------------------------------
 * x's dims are split into maximal runs of summed-away dims and kept dims (size-1 dims of x
 * dropped); an odometer walks the outer runs and the innermost run is one tight loop: a
 * contiguous sum when it is summed away, a row accumulation when it is kept.  So
 * [B x N] -> [N] (bias gradients) and [B x N] -> [B x 1] both run as vectorisable loops.
 *
 * The target is right-aligned against x; each target size must equal x's or be 1, and
 * target dims beyond x's ndim must be 1.  The result is always a new tensor with its own
 * storage (callers may modify it in place).  When grad mode is on and x requires grad it
 * records DM_OP_SUM (SumBackward1, as PyTorch's sum_to_size), whose backward expands back. */
dm_tensor *dm_sum_to(const dm_tensor *x, int ndim, const int64_t *shape)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (ndim < 0 || ndim > DM_MAX_DIMS) {
        dm_seterr("sum_to: %d dimensions (at most %d supported)", ndim, DM_MAX_DIMS);
        return NULL;
    }
    int nd = x->ndim;
    for (int d = 0; d < ndim; d++) {
        int xd = d - (ndim - nd);
        int64_t xs = xd >= 0 ? x->shape[xd] : 1;
        if (shape[d] != xs && shape[d] != 1) {
            dm_seterr("sum_to: size %s is not expandable to size %s",
                      dm_shape_str(ndim, shape, b1, sizeof b1), SHAPE(x, b2));
            return NULL;
        }
    }
    dm_tensor *out = dm_tensor_new(ndim, shape);
    if (!out) return NULL;
    float *y = dm_data(out);
    int64_t n = dm_numel(x), m = dm_numel(out);

    /* runs of x's dims: size and whether summed away */
    int64_t bsize[DM_MAX_DIMS];
    int bred[DM_MAX_DIMS], nb = 0, any_red = 0;
    for (int d = 0; d < nd; d++) {
        int64_t s = x->shape[d];
        if (s == 1) continue;
        int td = d - (nd - ndim);
        int red = td < 0 || shape[td] == 1;
        any_red |= red;
        if (nb && bred[nb - 1] == red) bsize[nb - 1] *= s;
        else { bsize[nb] = s; bred[nb] = red; nb++; }
    }

    if (n == 0) {
        for (int64_t k = 0; k < m; k++) y[k] = 0.0f;
    } else if (!any_red) {
        dm_to_buffer(x, y);                 /* same elements, same order */
    } else {
        int owned = 0;
        const float *xd = dm__contig_data(x, &owned);
        double *acc = xd ? calloc((size_t)m, sizeof *acc) : NULL;
        if (!acc) {
            if (xd) dm_seterr("out of memory");
            dm__buf_release(x, (float *)xd, owned);
            dm_tensor_release(out);
            return NULL;
        }
        int64_t xstr[DM_MAX_DIMS], ostr[DM_MAX_DIMS], idx[DM_MAX_DIMS] = { 0 };
        int64_t xs = 1, ost = 1;
        for (int b = nb - 1; b >= 0; b--) {
            xstr[b] = xs;
            xs *= bsize[b];
            ostr[b] = bred[b] ? 0 : ost;
            if (!bred[b]) ost *= bsize[b];
        }
        int last = nb - 1;
        int64_t len = bsize[last], xoff = 0, ooff = 0;
        for (int64_t it = 0, nit = n / len; it < nit; it++) {
            if (bred[last]) acc[ooff] += sum_contig(xd + xoff, len);
            else add_row(acc + ooff, xd + xoff, len);
            for (int b = last - 1; b >= 0; b--) {
                xoff += xstr[b];
                ooff += ostr[b];
                if (++idx[b] < bsize[b]) break;
                xoff -= xstr[b] * bsize[b];
                ooff -= ostr[b] * bsize[b];
                idx[b] = 0;
            }
        }
        for (int64_t k = 0; k < m; k++) y[k] = (float)acc[k];
        free(acc);
        dm__buf_release(x, (float *)xd, owned);
    }
    if (dm__needs_grad(1, &x)) {
        dm_node *node = dm__record(DM_OP_SUM, 1, out, 1, &x);
        if (!node) { dm_tensor_release(out); return NULL; }
        node->i[0] = DIM_SUM_TO;
    }
    return out;
}

/* ---- softmax / log_softmax ------------------------------------------------------------- */

/* one softmax over s[r * st], r < R, into y[r * st]; subtracting the max keeps exp finite.
   Like PyTorch, softmax multiplies by the reciprocal of the sum.  Inlined with st = 1 for
   the common last-dim case so those loops are plain contiguous ones. */
static inline void softmax_slice(const float *s, float *y, int64_t R, int64_t st, int logsm)
{
    float mx = -INFINITY;
    for (int64_t r = 0; r < R; r++) mx = s[r * st] > mx ? s[r * st] : mx;
    double sum = 0;
    if (logsm) {
        for (int64_t r = 0; r < R; r++) sum += (double)expf(s[r * st] - mx);
        float lse = (float)log(sum);
        for (int64_t r = 0; r < R; r++) y[r * st] = (s[r * st] - mx) - lse;
    } else {
        for (int64_t r = 0; r < R; r++) {
            float e = expf(s[r * st] - mx);
            y[r * st] = e;
            sum += (double)e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t r = 0; r < R; r++) y[r * st] *= inv;
    }
}

static dm_tensor *softmax_impl(const dm_tensor *x, int dim, int logsm)
{
    const char *fn = logsm ? "log_softmax" : "softmax";
    int d = dm_wrap_dim(fn, dim, x->ndim, 0);
    if (d < 0) return NULL;
    geom G = geom_of(x->ndim, x->shape, d);
    dm_tensor *out = dm_tensor_new(x->ndim, x->shape);
    if (!out) return NULL;
    int owned = 0;
    const float *xd = dm__contig_data(x, &owned);
    if (!xd) { dm_tensor_release(out); return NULL; }
    float *yd = dm_data(out);
    // x and y are [outer x R x inner]; one softmax per (o, i)
    for (int64_t o = 0; o < G.outer; o++) {
        int64_t base = o * G.r * G.inner;
        if (G.inner == 1) softmax_slice(xd + base, yd + base, G.r, 1, logsm);
        else
            for (int64_t i = 0; i < G.inner; i++)
                softmax_slice(xd + base + i, yd + base + i, G.r, G.inner, logsm);
    }
    dm__buf_release(x, (float *)xd, owned);
    if (dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(logsm ? DM_OP_LOG_SOFTMAX : DM_OP_SOFTMAX, 0, out, 1, &x);
        if (!nd || !dm__save(nd, 0, out)) { dm_tensor_release(out); return NULL; }
        nd->i[0] = d;
    }
    return out;
}

dm_tensor *dm_softmax(const dm_tensor *x, int dim) { return softmax_impl(x, dim, 0); }
dm_tensor *dm_log_softmax(const dm_tensor *x, int dim) { return softmax_impl(x, dim, 1); }

/* ---- backward -------------------------------------------------------------------------- */

/* softmax:     gin = y * (g - sum_r g*y)
   log_softmax: gin = g - exp(y) * sum_r g */
int dm__bw_softmax(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    const dm_tensor *yt = n->saved[0];
    geom G = geom_of(n->in_ndim, n->in_shape, (int)n->i[0]);
    dm_tensor *gi = dm_tensor_new(n->in_ndim, n->in_shape);
    if (!gi) return -1;
    int owned = 0;
    const float *yd = dm__contig_data(yt, &owned);
    if (!yd) { dm_tensor_release(gi); return -1; }
    const float *g = dm_data(gout);
    float *gd = dm_data(gi);
    int64_t st = G.inner;
    int logsm = n->op == DM_OP_LOG_SOFTMAX;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            int64_t base = o * G.r * G.inner + i;
            const float *ys = yd + base, *gs = g + base;
            float *out = gd + base;
            double acc = 0;
            if (logsm) {
                for (int64_t r = 0; r < G.r; r++) acc += (double)gs[r * st];
                for (int64_t r = 0; r < G.r; r++)
                    out[r * st] = (float)((double)gs[r * st] - exp((double)ys[r * st]) * acc);
            } else {
                for (int64_t r = 0; r < G.r; r++) acc += (double)gs[r * st] * ys[r * st];
                for (int64_t r = 0; r < G.r; r++)
                    out[r * st] = (float)((double)ys[r * st] * ((double)gs[r * st] - acc));
            }
        }
    dm__buf_release(yt, (float *)yd, owned);
    gin[0] = gi;
    return 0;
}

/* d var / dx = 2 (x - mean) / (R - correction), scaled by gv[o, i] for each slice; for a
   full reduction with R - correction <= 0 PyTorch gives nan where x == mean, inf elsewhere */
static void var_backward(const float *xd, geom G, int full, int correction,
                         const float *gv, float *gd)
{
    double dof = (double)G.r - (double)correction;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            int64_t base = o * G.r * G.inner + i;
            const float *s = xd + base;
            float *out = gd + base;
            double g = gv[o * G.inner + i];
            double mean = slice_mean(s, G.r, G.inner);
            for (int64_t r = 0; r < G.r; r++) {
                double x = s[r * G.inner], v;
                if (full && dof <= 0) v = g * (x == mean ? NAN : INFINITY);
                else v = g * (dof != 0 ? 2.0 / dof : INFINITY) * (x - mean);
                out[r * G.inner] = (float)v;
            }
        }
}

int dm__bw_reduce(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    dm_tensor *x = n->in[0];
    if (!x || !x->requires_grad) return 0;
    int dim = (int)n->i[0];
    const float *g = dm_data(gout);           /* contiguous, output's shape */
    dm_tensor *gi = dm_tensor_new(n->in_ndim, n->in_shape);
    if (!gi) return -1;
    float *gd = dm_data(gi);
    int64_t nin = dm_numel(gi);

    if (dim == DIM_SUM_TO) {                  /* expand gout back over the summed dims */
        dm_iter it;
        dm_iter_init_bcast(&it, gout, n->in_ndim, n->in_shape);
        const float *base = dm__fbase(gout);
        for (int64_t k = 0; k < nin; k++) { gd[k] = base[it.off]; dm_iter_next(&it); }
        gin[0] = gi;
        return 0;
    }

    geom G = geom_of(n->in_ndim, n->in_shape, dim);
    int full = dim < 0 || n->in_ndim == 0;
    int owned = 0;
    const float *xd = NULL;
    if (n->op != DM_OP_SUM && n->op != DM_OP_MEAN && n->op != DM_OP_MAXMIN) {
        xd = dm__contig_data(x, &owned);
        if (!xd) { dm_tensor_release(gi); return -1; }
    }
    int rc = 0;

    switch (n->op) {
    case DM_OP_SUM:
    case DM_OP_MEAN: {                        /* gout expanded (over R for the mean) */
        float div = n->op == DM_OP_MEAN ? (float)G.r : 1.0f;
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t r = 0; r < G.r; r++) {
                float *row = gd + (o * G.r + r) * G.inner;
                const float *go = g + o * G.inner;
                for (int64_t i = 0; i < G.inner; i++) row[i] = go[i] / div;
            }
        break;
    }
    case DM_OP_PROD: {
        /* product of the others, from prefix and suffix products: exact with zeros */
        double *suf = malloc((size_t)(G.r > 0 ? G.r : 1) * sizeof *suf);
        if (!suf) { dm_seterr("out of memory"); rc = -1; break; }
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t i = 0; i < G.inner; i++) {
                int64_t base = o * G.r * G.inner + i, st = G.inner;
                const float *s = xd + base;
                double gv = g[o * G.inner + i], pre = 1;
                if (G.r == 0) continue;
                suf[G.r - 1] = 1;
                for (int64_t r = G.r - 2; r >= 0; r--) suf[r] = suf[r + 1] * s[(r + 1) * st];
                for (int64_t r = 0; r < G.r; r++) {
                    gd[base + r * st] = (float)(gv * pre * suf[r]);
                    pre *= s[r * st];
                }
            }
        free(suf);
        break;
    }
    case DM_OP_MAXMIN: {                      /* the gradient goes to the returned index */
        const dm_tensor *ix = n->saved[0];
        int iowned = 0;
        const float *id = dm__contig_data(ix, &iowned);
        if (!id) { rc = -1; break; }
        memset(gd, 0, (size_t)nin * sizeof *gd);
        for (int64_t o = 0; o < G.outer && rc == 0; o++)
            for (int64_t i = 0; i < G.inner; i++) {
                float f = id[o * G.inner + i];
                if (!(f >= 0 && f < (float)G.r)) {
                    dm_seterr("backward: %s: saved index %g out of range", dm__node_name(n), f);
                    rc = -1;
                    break;
                }
                gd[(o * G.r + (int64_t)f) * G.inner + i] = g[o * G.inner + i];
            }
        dm__buf_release(ix, (float *)id, iowned);
        break;
    }
    case DM_OP_MAXMIN_ALL: {                  /* shared evenly among ties, as PyTorch */
        float v = (float)n->f[0];
        int64_t count = 0;
        for (int64_t k = 0; k < nin; k++)
            count += xd[k] == v || (isnan(xd[k]) && isnan(v));
        float share = g[0] / (float)count;
        for (int64_t k = 0; k < nin; k++)
            gd[k] = xd[k] == v || (isnan(xd[k]) && isnan(v)) ? share : 0.0f;
        break;
    }
    case DM_OP_VAR:
        var_backward(xd, G, full, (int)n->i[2], g, gd);
        break;
    case DM_OP_STD: {                         /* d std = d var / (2 std), 0 where std == 0 */
        const float *sd = dm_data(n->saved[0]);
        int64_t m = G.outer * G.inner;
        float *gv = malloc((size_t)(m > 0 ? m : 1) * sizeof *gv);
        if (!gv) { dm_seterr("out of memory"); rc = -1; break; }
        for (int64_t k = 0; k < m; k++) gv[k] = sd[k] == 0 ? 0.0f : g[k] / (sd[k] * 2);
        var_backward(xd, G, full, (int)n->i[2], gv, gd);
        free(gv);
        break;
    }
    default:
        dm_seterr("backward: %s is not a reduction", dm__node_name(n));
        rc = -1;
        break;
    }
    if (xd) dm__buf_release(x, (float *)xd, owned);
    if (rc) { dm_tensor_release(gi); return -1; }
    gin[0] = gi;
    return 0;
}
