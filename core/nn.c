/* nn.c -- layers that need more than a chain of ops: dropout and batch norm.
 *
 * Both follow PyTorch 1.13 on the CPU: dropout multiplies by a mask of 0 and 1 / (1 - p)
 * drawn as bernoulli(1 - p) (the same draws as dm_bernoulli_(mask, 1 - p, g)); batch norm is
 * aten's native_batch_norm, statistics accumulated in double. */
#include "internal.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* element i of a 1-D tensor (any stride) */
static inline float *at1p(const dm_tensor *t, int64_t i)
{
    return dm__fbase(t) + t->offset + i * t->stride[0];
}

/* ---- dropout -------------------------------------------------------------------------- */

dm_tensor *dm_dropout(const dm_tensor *x, double p, int training, dm_rng *g)
{
    if (!(p >= 0 && p <= 1)) {
        dm_seterr("dropout: probability has to be between 0 and 1, but got %g", p);
        return NULL;
    }
    if (!training || p == 0) return dm_tensor_retain((dm_tensor *)x);
    if (!g) g = dm_default_rng();

    int64_t n = dm_numel(x);
    dm_tensor *mask = dm_tensor_new(x->ndim, x->shape);
    dm_tensor *out = mask ? dm_tensor_new(x->ndim, x->shape) : NULL;
    if (!out) { dm_tensor_release(mask); return NULL; }
    float *m = dm_data(mask), *o = dm_data(out);
    /* PyTorch: noise.bernoulli_(1 - p); noise.div_(1 - p); input * noise (all float) */
    double q = 1 - p;
    float scale = p == 1 ? 0.0f : 1.0f / (float)q;
    if (p == 1) {
        for (int64_t i = 0; i < n; i++) m[i] = 0.0f;
    } else {
        for (int64_t i = 0; i < n; i++) m[i] = dm_rng_uniform(g) < q ? scale : 0.0f;
    }
    if (dm_is_contiguous(x)) {
        const float *xd = dm_data(x);
        for (int64_t i = 0; i < n; i++) o[i] = xd[i] * m[i];
    } else {
        dm_iter it;
        dm_iter_init(&it, x);
        const float *base = dm__fbase(x);
        for (int64_t i = 0; i < n; i++) { o[i] = base[it.off] * m[i]; dm_iter_next(&it); }
    }

    const dm_tensor *ins[1] = { x };
    if (dm__needs_grad(1, ins)) {
        dm_node *nd = dm__record(DM_OP_DROPOUT, 0, out, 1, ins);
        if (!nd || !dm__save(nd, 0, mask)) {
            dm_tensor_release(mask); dm_tensor_release(out);
            return NULL;
        }
        nd->f[0] = p;
    }
    dm_tensor_release(mask);
    return out;
}

int dm__bw_dropout(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    if (!n->in[0]->requires_grad) return 0;
    const dm_tensor *mask = n->saved[0];          /* contiguous, x's shape */
    dm_tensor *gx = dm_tensor_new(gout->ndim, gout->shape);
    if (!gx) return -1;
    int64_t k = dm_numel(gout);
    const float *g = dm_data(gout), *m = dm_data(mask);
    float *d = dm_data(gx);
    for (int64_t i = 0; i < k; i++) d[i] = g[i] * m[i];
    gin[0] = gx;
    return 0;
}

/* ---- batch norm ----------------------------------------------------------------------- */

static int check_param(const char *what, const dm_tensor *t, int64_t C)
{
    if (t && !(t->ndim == 1 && t->shape[0] == C)) {
        dm_seterr("batch_norm: %s should contain %lld elements not %lld", what, (long long)C,
                  (long long)dm_numel(t));
        return -1;
    }
    return 0;
}

dm_tensor *dm_batch_norm(const dm_tensor *x, dm_tensor *running_mean, dm_tensor *running_var,
                         const dm_tensor *weight, const dm_tensor *bias, int training,
                         double momentum, double eps)
{
    char b[DM_SHAPE_BUF];
    if (x->ndim < 2) {
        dm_seterr("batch_norm: expected input [N x C] or [N x C x L], got %s", SHAPE(x, b));
        return NULL;
    }
    // x is [N x C x L] (L = 1 for [N x C]; trailing dims beyond 3 fold into L)
    int64_t N = x->shape[0], C = x->shape[1], L = 1;
    for (int d = 2; d < x->ndim; d++) L *= x->shape[d];
    if (check_param("running_mean", running_mean, C) ||
        check_param("running_var", running_var, C) || check_param("weight", weight, C) ||
        check_param("bias", bias, C))
        return NULL;
    int64_t cnt = N * L;                  /* values per channel */
    if (training && cnt <= 1) {
        dm_seterr("batch_norm: expected more than 1 value per channel when training, got "
                  "input size %s", SHAPE(x, b));
        return NULL;
    }
    if (!training && (!running_mean || !running_var)) {
        dm_seterr("batch_norm: running_mean and running_var must be given when not training");
        return NULL;
    }

    int owned = 0;
    const float *xd = dm__contig_data(x, &owned);
    dm_tensor *out = xd ? dm_tensor_new(x->ndim, x->shape) : NULL;
    dm_tensor *meant = out ? dm_tensor_new(1, &C) : NULL;
    dm_tensor *invt = meant ? dm_tensor_new(1, &C) : NULL;
    double *acc = invt ? calloc((size_t)(2 * C + 1), sizeof *acc) : NULL;
    if (!acc) {
        if (invt) dm_seterr("batch_norm: out of memory");
        dm_tensor_release(out); dm_tensor_release(meant); dm_tensor_release(invt);
        if (xd) dm__buf_release(x, (float *)xd, owned);
        return NULL;
    }
    double *mean = acc, *inv = acc + C;
    float *sm = dm_data(meant), *si = dm_data(invt);

    if (training) {
        /* two passes in row-major order: mean, then the sum of squared deviations */
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                const float *v = xd + (i * C + c) * L;
                double s = 0;
                for (int64_t l = 0; l < L; l++) s += v[l];
                mean[c] += s;
            }
        for (int64_t c = 0; c < C; c++) mean[c] /= (double)cnt;
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                const float *v = xd + (i * C + c) * L;
                double s = 0, m = mean[c];
                for (int64_t l = 0; l < L; l++) s += (v[l] - m) * (v[l] - m);
                inv[c] += s;                      /* var_sum for now */
            }
        for (int64_t c = 0; c < C; c++) {
            double var_sum = inv[c];
            inv[c] = 1 / sqrt(var_sum / (double)cnt + eps);
            if (running_mean) {
                float *rm = at1p(running_mean, c);
                *rm = (float)(momentum * mean[c] + (1 - momentum) * *rm);
            }
            if (running_var) {
                float *rv = at1p(running_var, c);
                *rv = (float)(momentum * (var_sum / (double)(cnt - 1)) + (1 - momentum) * *rv);
            }
        }
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = *at1p(running_mean, c);
            inv[c] = 1 / sqrt((double)*at1p(running_var, c) + eps);
        }
    }

    /* y = (x - mean) invstd w + b  =  x alpha + beta */
    float *o = dm_data(out);
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            double w = weight ? *at1p(weight, c) : 1, bb = bias ? *at1p(bias, c) : 0;
            double alpha = inv[c] * w, beta = bb - mean[c] * alpha;
            const float *v = xd + (i * C + c) * L;
            float *y = o + (i * C + c) * L;
            for (int64_t l = 0; l < L; l++) y[l] = (float)(v[l] * alpha + beta);
        }
    for (int64_t c = 0; c < C; c++) { sm[c] = (float)mean[c]; si[c] = (float)inv[c]; }
    free(acc);
    dm__buf_release(x, (float *)xd, owned);

    const dm_tensor *ins[3] = { x, weight, bias };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_BATCHNORM, 0, out, 3, ins);
        if (!nd || !dm__save(nd, 0, meant) || !dm__save(nd, 1, invt)) {
            dm_tensor_release(out); dm_tensor_release(meant); dm_tensor_release(invt);
            return NULL;
        }
        nd->i[0] = training ? 1 : 0;
        nd->f[0] = eps;
    }
    dm_tensor_release(meant);
    dm_tensor_release(invt);
    return out;
}

/* training:  dx = (g - mean(g) - xhat mean(g xhat)) invstd w   (the batch stats depend on x)
 * eval:      dx = g invstd w
 * both:      dw = sum(g xhat), db = sum(g) */
int dm__bw_batchnorm(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                     dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *weight = n->in[1], *bias = n->in[2];
    int training = (int)n->i[0];
    int want_x = x->requires_grad, want_w = weight && weight->requires_grad;
    int want_b = bias && bias->requires_grad;
    int64_t N = x->shape[0], C = x->shape[1], L = 1;
    for (int d = 2; d < x->ndim; d++) L *= x->shape[d];
    double cnt = (double)(N * L);
    const float *sm = dm_data(n->saved[0]), *si = dm_data(n->saved[1]);
    const float *g = dm_data(gout);

    int owned = 0;
    const float *xd = dm__contig_data(x, &owned);
    double *acc = xd ? calloc((size_t)(2 * C + 1), sizeof *acc) : NULL;
    if (!acc) {
        if (xd) { dm_seterr("batch_norm: out of memory"); dm__buf_release(x, (float *)xd, owned); }
        return -1;
    }
    double *gsum = acc, *dotp = acc + C;          /* sum(g), sum((x - mean) g) per channel */
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            const float *v = xd + (i * C + c) * L, *gv = g + (i * C + c) * L;
            double s = 0, d = 0, m = sm[c];
            for (int64_t l = 0; l < L; l++) { s += gv[l]; d += (v[l] - m) * gv[l]; }
            gsum[c] += s;
            dotp[c] += d;
        }

    dm_tensor *gx = want_x ? dm_tensor_new(x->ndim, x->shape) : NULL;
    dm_tensor *gw = want_w ? dm_tensor_new(1, &C) : NULL;
    dm_tensor *gb = want_b ? dm_tensor_new(1, &C) : NULL;
    if ((want_x && !gx) || (want_w && !gw) || (want_b && !gb)) {
        dm_tensor_release(gx); dm_tensor_release(gw); dm_tensor_release(gb);
        free(acc);
        dm__buf_release(x, (float *)xd, owned);
        return -1;
    }
    if (gx) {
        float *d = dm_data(gx);
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                double w = weight ? *at1p(weight, c) : 1, inv = si[c], m = sm[c];
                const float *v = xd + (i * C + c) * L, *gv = g + (i * C + c) * L;
                float *dv = d + (i * C + c) * L;
                if (training) {
                    double k = dotp[c] * inv * inv / cnt, gm = gsum[c] / cnt;
                    for (int64_t l = 0; l < L; l++)
                        dv[l] = (float)((gv[l] - gm - (v[l] - m) * k) * inv * w);
                } else {
                    for (int64_t l = 0; l < L; l++) dv[l] = (float)(gv[l] * inv * w);
                }
            }
    }
    for (int64_t c = 0; c < C; c++) {
        if (gw) dm_data(gw)[c] = (float)(dotp[c] * si[c]);
        if (gb) dm_data(gb)[c] = (float)gsum[c];
    }
    free(acc);
    dm__buf_release(x, (float *)xd, owned);
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}
