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
 * Dtypes: the kernels (the device's, backend.h) take float32 and float64; integer and bool
 * inputs are read as int64 (sums and products exact in int64, max/min by comparison,
 * converted back to the input's dtype).  Backward rules compute in their input's dtype.
 *
 * Node parameters:
 *   par.reduce  .dim (0-based), -1 for a full reduction, -2 for dm_sum_to; .keepdim;
 *               .correction (var/std); .value, the max/min (DM_OP_MAXMIN_ALL)
 *   par.dim     the softmax dim (DM_OP_SOFTMAX, _LOG_SOFTMAX)
 *   saved[0]  a private copy of the int64 indices (DM_OP_MAXMIN); the output (DM_OP_STD,
 *             DM_OP_SOFTMAX, _LOG_SOFTMAX)
 */
#include "internal.h"
#include "backend.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define DIM_ALL (-1)        /* reduce.dim of a full reduction */
#define DIM_SUM_TO (-2)     /* reduce.dim of dm_sum_to: output right-aligned against the input */

/* ---- geometry -------------------------------------------------------------------------- */

typedef dm_geom geom;

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

/* ---- kernels ---------------------------------------------------------------------------
 * The forward reductions, softmax, their backward kernels and dm_sum_to's sums (floating,
 * and integers in int64) are the device's (backend.h: cpu/reduce.c, cpu/reduce_bw.c; ref/reduce.c). */

/* the kernels of the current device: the op's input's (dm__device_of) */
#define DEV (dm__kernels(dm__cur_device))

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

/* max/min along a wrapped dim (0 for a 0-dim tensor) -> values (x's dtype) and 0-based
   int64 indices */
static int maxmin_dim(const char *fn, const dm_tensor *x, int dim, int keepdim, int is_min,
                      dm_tensor **values, dm_tensor **indices)
{
    *values = *indices = NULL;
    geom G = geom_of(x->ndim, x->shape, dim);
    if (check_nonempty(fn, x, dim, G)) return -1;
    int64_t os[DM_MAX_DIMS];
    int ond = reduced_shape(x, dim, keepdim, os);
    int flt = dm_is_floating(x->dtype);
    dm_dtype kt = flt ? x->dtype : DM_INT64;             /* the kernel's type */
    dm_tensor *val = dm_tensor_new_dtype(ond, os, kt), *idx = dm_tensor_new_dtype(ond, os, DM_INT64);
    dm_tensor *held = NULL;
    const void *xd = val && idx ? dm__contig_as(x, kt, &held) : NULL;
    if (!xd) goto fail;
    DEV->maxmin(kt, xd, G, is_min, dm__ptr(val), dm__ptr(idx));
    dm_tensor_release(held);
    if (kt != x->dtype) {                               /* uint8, bool: back to x's dtype */
        dm_tensor *v = dm_to_dtype(val, x->dtype);
        dm_tensor_release(val);
        if (!(val = v)) goto fail;
    }
    if (dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(DM_OP_MAXMIN, is_min, val, 1, &x);
        if (!nd) goto fail;
        nd->par.reduce.dim = dim;
        nd->par.reduce.keepdim = keepdim;
        /* a private copy: the caller owns idx and may rewrite it (1-based, in place) */
        dm_tensor *keep = dm_tensor_new_dtype(ond, os, DM_INT64);
        if (!keep) goto fail;
        memcpy(dm__ptr(keep), dm__ptr(idx), (size_t)dm__numel(idx) * sizeof(int64_t));
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

/* a reduction of an integer or bool tensor: sum, prod -> int64; max, min -> x's dtype;
   argmax, argmin -> int64 (mean, var, std refused before) */
static dm_tensor *reduce_int(dm_redop op, const dm_tensor *x, int dim, geom G, int ond,
                             const int64_t *os)
{
    dm_tensor *out = dm_tensor_new_dtype(ond, os, DM_INT64);
    dm_tensor *held = NULL;
    const int64_t *xd = out ? dm__contig_as(x, DM_INT64, &held) : NULL;
    if (!xd) { dm_tensor_release(out); return NULL; }
    int rc = DEV->reduce(op, DM_INT64, xd, G, 1, 0, dm__ptr(out));
    dm_tensor_release(held);
    if (rc) { dm_tensor_release(out); return NULL; }
    DM_UNUSED(dim);
    if ((op == DM_RED_MAX || op == DM_RED_MIN) && x->dtype != DM_INT64) {
        dm_tensor *v = dm_to_dtype(out, x->dtype);
        dm_tensor_release(out);
        out = v;
    }
    return out;
}

dm_tensor *dm_reduce(dm_redop op, const dm_tensor *x, int dim, int keepdim, int64_t correction)
{
    if ((int)op < 0 || op > DM_RED_STD) {
        dm_seterr("reduce: unknown reduction %d", (int)op);
        return NULL;
    }
    const char *fn = red_name[op];
    dm__device_of(x);
    dm_dtype dt = x->dtype;
    if ((op == DM_RED_MEAN || op == DM_RED_VAR || op == DM_RED_STD) &&
        dm__need_float(fn, x, "tensor"))
        return NULL;
    if (dim == DM_ALL) dim = DIM_ALL;
    else if ((dim = dm_wrap_dim(fn, dim, x->ndim, 0)) < 0) return NULL;

    if ((op == DM_RED_MAX || op == DM_RED_MIN) && dim >= 0) {
        dm_tensor *v, *ix;
        if (maxmin_dim(fn, x, dim, keepdim, op == DM_RED_MIN, &v, &ix)) return NULL;
        dm_tensor_release(ix);
        return v;
    }

    geom G = geom_of(x->ndim, x->shape, dim);
    int arg = op == DM_RED_ARGMAX || op == DM_RED_ARGMIN;
    int extreme = arg || op == DM_RED_MAX || op == DM_RED_MIN;
    if (extreme && check_nonempty(fn, x, dim, G)) return NULL;
    int64_t os[DM_MAX_DIMS];
    int ond = reduced_shape(x, dim, keepdim, os);
    if (!dm_is_floating(dt)) return reduce_int(op, x, dim, G, ond, os);

    dm_tensor *out = dm_tensor_new_dtype(ond, os, arg ? DM_INT64 : dt);
    if (!out) return NULL;
    dm_tensor *held = NULL;
    const void *xd = dm__contig_as(x, dt, &held);
    if (!xd) { dm_tensor_release(out); return NULL; }
    void *y = dm__ptr(out);
    /* the mean is the sum times 1/r; the mean of nothing is nan */
    double scale = op != DM_RED_MEAN ? 1.0 : G.r > 0 ? 1.0 / (double)G.r : NAN;
    int rc = DEV->reduce(op, dt, xd, G, scale, correction, y);
    dm_tensor_release(held);
    if (rc) { dm_tensor_release(out); return NULL; }

    /* argmax/argmin are not differentiable and never record */
    if (!arg && dm__needs_grad(1, &x)) {
        dm_op nop;
        int sub = dim >= 0;
        switch (op) {
        case DM_RED_SUM: nop = DM_OP_SUM; break;
        case DM_RED_MEAN: nop = DM_OP_MEAN; break;
        case DM_RED_PROD: nop = DM_OP_PROD; break;
        case DM_RED_VAR: nop = DM_OP_VAR; sub = 0; break;
        case DM_RED_STD: nop = DM_OP_STD; sub = 0; break;
        default: nop = DM_OP_MAXMIN_ALL; sub = op == DM_RED_MIN; break;   /* full max/min */
        }
        dm_node *nd = dm__record(nop, sub, out, 1, &x);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.reduce.dim = dim;
        nd->par.reduce.keepdim = keepdim;
        nd->par.reduce.correction = correction;
        if (nop == DM_OP_MAXMIN_ALL)
            nd->par.reduce.value = dt == DM_FLOAT32 ? *(const float *)y : *(const double *)y;
        if (nop == DM_OP_STD && !dm__save(nd, 0, out)) { dm_tensor_release(out); return NULL; }
    }
    return out;
}

/* ---- dm_sum_to --------------------------------------------------------------------------
 * x's dims are split into maximal runs of summed-away dims and kept dims (size-1 dims of x
 * dropped); an odometer walks the outer runs and the innermost run is one tight loop: a
 * contiguous sum when it is summed away, a row accumulation when it is kept.  So
 * [B x N] -> [N] (bias gradients) and [B x N] -> [B x 1] both run as vectorisable loops.
 * Integer and bool inputs sum exactly in int64 (the device's sum_to_i64), floating ones in
 * double (sum_to).
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
    dm__device_of(x);
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
    /* integer and bool inputs sum to int64 (exactly), as PyTorch's sum */
    dm_dtype dt = x->dtype, ot = dm_is_floating(dt) ? dt : DM_INT64;
    dm_tensor *out = dm_tensor_new_dtype(ndim, shape, ot);
    if (!out) return NULL;
    int64_t n = dm__numel(x), m = dm__numel(out);

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
        memset(dm__ptr(out), 0, (size_t)m * dm__esize(ot));
    } else if (!any_red) {
        dm_to_buffer_dtype(x, dm__ptr(out), ot);       /* same elements, same order */
    } else if (ot == DM_INT64) {            /* integers and bool: exact, in int64 */
        dm_tensor *held = NULL;
        const int64_t *xd = dm__contig_as(x, DM_INT64, &held);
        if (!xd) { dm_tensor_release(out); return NULL; }
        DEV->sum_to_i64(xd, nb, bsize, bred, n, m, dm__ptr(out));
        dm_tensor_release(held);
    } else {
        dm_tensor *held = NULL;
        const void *xd = dm__contig_as(x, dt, &held);
        int rc = xd ? DEV->sum_to(dt, xd, nb, bsize, bred, n, m, dm__ptr(out)) : -1;
        dm_tensor_release(held);
        if (rc) { dm_tensor_release(out); return NULL; }
    }
    if (dm__needs_grad(1, &x)) {
        dm_node *node = dm__record(DM_OP_SUM, 1, out, 1, &x);
        if (!node) { dm_tensor_release(out); return NULL; }
        node->par.reduce.dim = DIM_SUM_TO;
    }
    return out;
}

/* ---- softmax / log_softmax ------------------------------------------------------------- */

static dm_tensor *softmax_impl(const dm_tensor *x, int dim, int logsm)
{
    const char *fn = logsm ? "log_softmax" : "softmax";
    dm__device_of(x);
    dm_dtype dt = x->dtype;
    if (!dm_is_floating(dt)) {                  /* PyTorch 1.13 has no integer kernel */
        dm_seterr("%s: not implemented for %s tensors (convert with :float())", fn,
                  dm_dtype_name(dt));
        return NULL;
    }
    int d = dm_wrap_dim(fn, dim, x->ndim, 0);
    if (d < 0) return NULL;
    geom G = geom_of(x->ndim, x->shape, d);
    dm_tensor *out = dm_tensor_new_dtype(x->ndim, x->shape, dt);
    if (!out) return NULL;
    dm_tensor *held = NULL;
    const void *xd = dm__contig_as(x, dt, &held);
    if (!xd) { dm_tensor_release(out); return NULL; }
    /* an empty tensor has nothing to compute: no loop over the other dims (which may be
       huge) */
    if (dm__numel(x) != 0) DEV->softmax(dt, xd, dm__ptr(out), G, logsm);
    dm_tensor_release(held);
    if (dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(logsm ? DM_OP_LOG_SOFTMAX : DM_OP_SOFTMAX, 0, out, 1, &x);
        if (!nd || !dm__save(nd, 0, out)) { dm_tensor_release(out); return NULL; }
        nd->par.dim = d;
    }
    return out;
}

dm_tensor *dm_softmax(const dm_tensor *x, int dim) { return softmax_impl(x, dim, 0); }
dm_tensor *dm_log_softmax(const dm_tensor *x, int dim) { return softmax_impl(x, dim, 1); }

/* ---- backward -------------------------------------------------------------------------- */

/* The rules work in their input's dtype: a gout already contiguous in it (what the engine
   hands) is read in place (dm__contig_as); another (a direct caller's view) is converted. */

/* softmax:     gin = y * (g - sum_r g*y)
   log_softmax: gin = g - exp(y) * sum_r g */
int dm__bw_softmax(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    const dm_tensor *yt = n->saved[0];
    dm_dtype dt = yt->dtype;
    geom G = geom_of(n->in_ndim, n->in_shape, n->par.dim);
    dm_tensor *gtmp, *gi = dm_tensor_new_dtype(n->in_ndim, n->in_shape, dt);
    const void *g = dm__contig_as(gout, dt, &gtmp);
    dm_tensor *held = NULL;
    const void *yd = gi && g ? dm__contig_as(yt, dt, &held) : NULL;
    if (!yd) { dm_tensor_release(gi); dm_tensor_release(gtmp); return -1; }
    if (dm__numel(yt) != 0)
        DEV->softmax_bw(dt, yd, g, dm__ptr(gi), G, n->op == DM_OP_LOG_SOFTMAX);
    dm_tensor_release(held);
    dm_tensor_release(gtmp);
    gin[0] = gi;
    return 0;
}

int dm__bw_reduce(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
            dm_tensor **gin)
{
    dm_tensor *x = n->in[0];
    if (!x || !x->requires_grad) return 0;
    int dim = n->par.reduce.dim;
    dm_dtype dt = x->dtype;
    dm_tensor *gtmp = NULL, *gi = dm_tensor_new_dtype(n->in_ndim, n->in_shape, dt);
    const void *g = gi ? dm__contig_as(gout, dt, &gtmp) : NULL;   /* the output's shape */
    if (!g) { dm_tensor_release(gi); return -1; }
    int64_t nin = dm__numel(gi);
    int rc = 0;

    if (dim == DIM_SUM_TO) {                  /* expand gout back over the summed dims */
        dm__copy_convert(gi, gout);
    } else {
        geom G = geom_of(n->in_ndim, n->in_shape, dim);
        int full = dim < 0 || n->in_ndim == 0;
        dm_tensor *held = NULL;
        const void *xd = NULL;
        if (n->op != DM_OP_SUM && n->op != DM_OP_MEAN && n->op != DM_OP_MAXMIN &&
            !(xd = dm__contig_as(x, dt, &held)))
            rc = -1;
        const int64_t *ix = n->op == DM_OP_MAXMIN ? dm__ptr(n->saved[0]) : NULL;
        const void *sd = n->op == DM_OP_STD ? dm__ptr(n->saved[0]) : NULL;
        if (rc == 0)
            rc = DEV->reduce_bw(dt, n, G, full, xd, g, ix, sd, dm__ptr(gi), nin);
        dm_tensor_release(held);
    }
    dm_tensor_release(gtmp);
    if (rc) { dm_tensor_release(gi); return -1; }
    gin[0] = gi;
    return 0;
}
