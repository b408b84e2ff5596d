/* ref/nn.c -- the naive dropout and batch norm: the cpu:ref device's, and the reference for
 * cpu/nn.c.  Every value loaded as a double and stored rounded once to the element type;
 * the batch statistics are sums in double over each channel, element by element. */
#include "internal.h"
#include "ref.h"
#include <math.h>

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void st(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* element c of a 1-D tensor (any stride), as a double; 1 (or 0) when t is NULL */
static double at1(const dm_tensor *t, int64_t c, double none)
{
    if (!t) return none;
    return ld(t->dtype, t->storage->data, t->offset + c * t->stride[0]);
}

/* the storage offset of element i (row-major) of t */
static int64_t offset(const dm_tensor *t, int64_t i)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

void dm__ref_dropout(dm_dtype dt, const dm_tensor *x, int64_t n, double p, dm_rng *g, void *m,
                     void *o)
{
    /* the mask's non-zero value 1 / (1 - p), computed in the element type as PyTorch's
       noise.div_(1 - p) */
    double q = 1 - p;
    double scale = dt == DM_FLOAT32 ? (double)(1.0f / (float)q) : 1.0 / q;
    for (int64_t i = 0; i < n; i++) {
        double mi = p == 1 ? 0 : dm_rng_uniform(g) < q ? scale : 0;
        st(dt, m, i, mi);
        st(dt, o, i, ld(dt, x->storage->data, offset(x, i)) * mi);
    }
}

void dm__ref_dropout_bw(dm_dtype dt, const void *g, const void *m, void *d, int64_t k)
{
    for (int64_t i = 0; i < k; i++) st(dt, d, i, ld(dt, g, i) * ld(dt, m, i));
}

void dm__ref_batch_norm(dm_dtype dt, const void *x, int64_t N, int64_t C, int64_t L,
                        int training, double momentum, double eps, dm_tensor *running_mean,
                        dm_tensor *running_var, const dm_tensor *weight, const dm_tensor *bias,
                        double *mean, double *inv, void *o, void *sm, void *si)
{
    double cnt = (double)(N * L);
    for (int64_t c = 0; c < C; c++) {
        if (training) {
            double s = 0, v = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t l = 0; l < L; l++) s += ld(dt, x, (i * C + c) * L + l);
            mean[c] = s / cnt;
            for (int64_t i = 0; i < N; i++)
                for (int64_t l = 0; l < L; l++) {
                    double dv = ld(dt, x, (i * C + c) * L + l) - mean[c];
                    v += dv * dv;
                }
            inv[c] = 1 / sqrt(v / cnt + eps);
            if (running_mean) {
                int64_t off = running_mean->offset + c * running_mean->stride[0];
                st(dt, running_mean->storage->data, off,
                   momentum * mean[c] + (1 - momentum) * at1(running_mean, c, 0));
            }
            if (running_var) {
                int64_t off = running_var->offset + c * running_var->stride[0];
                st(dt, running_var->storage->data, off,
                   momentum * (v / (cnt - 1)) + (1 - momentum) * at1(running_var, c, 0));
            }
        } else {
            mean[c] = at1(running_mean, c, 0);
            inv[c] = 1 / sqrt(at1(running_var, c, 0) + eps);
        }
        for (int64_t i = 0; i < N; i++)           /* (x - mean) invstd w + b */
            for (int64_t l = 0; l < L; l++) {
                int64_t k = (i * C + c) * L + l;
                st(dt, o, k, (ld(dt, x, k) - mean[c]) * inv[c] * at1(weight, c, 1) +
                             at1(bias, c, 0));
            }
        st(dt, sm, c, mean[c]);
        st(dt, si, c, inv[c]);
    }
}

void dm__ref_batch_norm_bw(dm_dtype dt, const void *x, const void *g, const void *sm,
                           const void *si, int64_t N, int64_t C, int64_t L, int training,
                           const dm_tensor *weight, double *s1, double *s2, void *gx, void *gw,
                           void *gb)
{
    double cnt = (double)(N * L);
    for (int64_t c = 0; c < C; c++) {
        double m = ld(dt, sm, c), inv = ld(dt, si, c), w = at1(weight, c, 1);
        for (int64_t i = 0; i < N; i++)           /* sum(g), sum(g (x - mean)) */
            for (int64_t l = 0; l < L; l++) {
                int64_t k = (i * C + c) * L + l;
                s1[c] += ld(dt, g, k);
                s2[c] += (ld(dt, x, k) - m) * ld(dt, g, k);
            }
        if (gx)
            for (int64_t i = 0; i < N; i++)
                for (int64_t l = 0; l < L; l++) {
                    int64_t k = (i * C + c) * L + l;
                    double xhat = (ld(dt, x, k) - m) * inv;
                    double d = training
                        ? (ld(dt, g, k) - s1[c] / cnt - xhat * (s2[c] * inv / cnt)) * inv * w
                        : ld(dt, g, k) * inv * w;
                    st(dt, gx, k, d);
                }
        if (gw) st(dt, gw, c, s2[c] * inv);
        if (gb) st(dt, gb, c, s1[c]);
    }
}
