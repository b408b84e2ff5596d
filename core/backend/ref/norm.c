/* ref/norm.c -- the naive layer and group norm: the cpu:ref device's, and the reference for
 * cpu/norm.c.  Every value loaded as a double and stored rounded once to the element type;
 * each row's statistics are the defining sums in double (mean, then the biased variance of
 * the deviations), and the backward rule is PyTorch's formula written out term by term. */
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

/* the affine index of element k of row r */
static int64_t aff(int64_t r, int64_t k, int64_t K, int64_t G, int64_t HW)
{
    return ((r % G) * K + k) / HW;
}

void dm__ref_rownorm(dm_dtype dt, const void *x, int64_t R, int64_t K, int64_t G, int64_t HW,
                     double eps, const void *w, const void *b, void *y, void *mean, void *inv)
{
    for (int64_t r = 0; r < R; r++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++) s += ld(dt, x, r * K + k);
        double m = s / (double)K, v = 0;
        for (int64_t k = 0; k < K; k++) {
            double d = ld(dt, x, r * K + k) - m;
            v += d * d;
        }
        v /= (double)K;
        double is = 1.0 / sqrt(v + eps);
        st(dt, mean, r, m);
        st(dt, inv, r, is);
        for (int64_t k = 0; k < K; k++) {
            int64_t a = aff(r, k, K, G, HW);
            double xh = (ld(dt, x, r * K + k) - m) * is;
            double wa = w ? ld(dt, w, a) : 1, ba = b ? ld(dt, b, a) : 0;
            st(dt, y, r * K + k, xh * wa + ba);
        }
    }
}

/* xhat = (x - mean) inv, dxhat = g w: dx = inv (dxhat - mean_k(dxhat) - xhat mean_k(dxhat
   xhat)); dw[a] += g xhat, db[a] += g, mean and inv the saved (rounded) ones */
void dm__ref_rownorm_bw(dm_dtype dt, const void *x, const void *g, const void *mean,
                        const void *inv, int64_t R, int64_t K, int64_t G, int64_t HW,
                        const void *w, void *gx, double *dw, double *db)
{
    for (int64_t r = 0; r < R; r++) {
        double m = ld(dt, mean, r), is = ld(dt, inv, r);
        double s1 = 0, s2 = 0;
        for (int64_t k = 0; k < K; k++) {
            int64_t a = aff(r, k, K, G, HW);
            double gk = ld(dt, g, r * K + k), xh = (ld(dt, x, r * K + k) - m) * is;
            double dxh = gk * (w ? ld(dt, w, a) : 1);
            s1 += dxh;
            s2 += dxh * xh;
            if (dw) dw[a] += gk * xh;
            if (db) db[a] += gk;
        }
        if (!gx) continue;
        for (int64_t k = 0; k < K; k++) {
            int64_t a = aff(r, k, K, G, HW);
            double gk = ld(dt, g, r * K + k), xh = (ld(dt, x, r * K + k) - m) * is;
            double dxh = gk * (w ? ld(dt, w, a) : 1);
            st(dt, gx, r * K + k, is * (dxh - s1 / (double)K - xh * (s2 / (double)K)));
        }
    }
}
