/* cpu/norm.c -- the cpu device's layer and group norm kernels (backend.h: rownorm,
 * rownorm_bw): norm.c's loops, moved unchanged, one definition per floating type.  Statistics
 * in double, two passes per row (the mean, then the squared deviations).  The reference is
 * ref/norm.c. */
#include "internal.h"
#include "cpu.h"
#include <math.h>

/* the affine index of element k of row r: ((r % G) * K + k) / HW (G = HW = 1: layer norm) */
#define AFF(r, k) ((((r) % G) * K + (k)) / HW)

#define ROWNORM_FWD(S, T)                                                                    \
static void fwd_##S(const T *x, int64_t R, int64_t K, int64_t G, int64_t HW, double eps,     \
                    const T *w, const T *b, T *y, T *mean, T *inv)                           \
{                                                                                            \
    for (int64_t r = 0; r < R; r++) {                                                        \
        const T *xr = x + r * K;                                                             \
        T *yr = y + r * K;                                                                   \
        double s = 0, ss = 0;                                                                \
        for (int64_t k = 0; k < K; k++) s += xr[k];                                          \
        double m = s / (double)K;                                                            \
        for (int64_t k = 0; k < K; k++) { double d = xr[k] - m; ss += d * d; }               \
        double is = 1.0 / sqrt(ss / (double)K + eps);                                        \
        mean[r] = (T)m;                                                                      \
        inv[r] = (T)is;                                                                      \
        for (int64_t k = 0; k < K; k++) {                                                    \
            double v = (xr[k] - m) * is;                                                     \
            int64_t a = AFF(r, k);                                                           \
            if (w) v *= w[a];                                                                \
            if (b) v += b[a];                                                                \
            yr[k] = (T)v;                                                                    \
        }                                                                                    \
    }                                                                                        \
}
ROWNORM_FWD(f, float)
ROWNORM_FWD(d, double)

/* dxhat = g w;  dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) per row;
   dw[a] += g xhat, db[a] += g over the elements of affine index a (sums in double) */
#define ROWNORM_BW(S, T)                                                                     \
static void bw_##S(const T *x, const T *g, const T *mean, const T *inv, int64_t R, int64_t K, \
                   int64_t G, int64_t HW, const T *w, T *gx, double *dw, double *db)         \
{                                                                                            \
    for (int64_t r = 0; r < R; r++) {                                                        \
        const T *xr = x + r * K, *gr = g + r * K;                                            \
        double m = mean[r], is = inv[r], s1 = 0, s2 = 0;                                     \
        for (int64_t k = 0; k < K; k++) {                                                    \
            int64_t a = AFF(r, k);                                                           \
            double xh = (xr[k] - m) * is, gk = gr[k];                                        \
            double dxh = w ? gk * w[a] : gk;                                                 \
            s1 += dxh;                                                                       \
            s2 += dxh * xh;                                                                  \
            if (dw) dw[a] += gk * xh;                                                        \
            if (db) db[a] += gk;                                                             \
        }                                                                                    \
        if (!gx) continue;                                                                   \
        s1 /= (double)K;                                                                     \
        s2 /= (double)K;                                                                     \
        for (int64_t k = 0; k < K; k++) {                                                    \
            int64_t a = AFF(r, k);                                                           \
            double xh = (xr[k] - m) * is;                                                    \
            double dxh = w ? gr[k] * (double)w[a] : gr[k];                                   \
            gx[r * K + k] = (T)(is * (dxh - s1 - xh * s2));                                  \
        }                                                                                    \
    }                                                                                        \
}
ROWNORM_BW(f, float)
ROWNORM_BW(d, double)

void dm__cpu_rownorm(dm_dtype dt, const void *x, int64_t R, int64_t K, int64_t G, int64_t HW,
                     double eps, const void *w, const void *b, void *y, void *mean, void *inv)
{
    if (dt == DM_FLOAT32)
        fwd_f(x, R, K, G, HW, eps, w, b, y, mean, inv);
    else
        fwd_d(x, R, K, G, HW, eps, w, b, y, mean, inv);
}

void dm__cpu_rownorm_bw(dm_dtype dt, const void *x, const void *g, const void *mean,
                        const void *inv, int64_t R, int64_t K, int64_t G, int64_t HW,
                        const void *w, void *gx, double *dw, double *db)
{
    if (dt == DM_FLOAT32)
        bw_f(x, g, mean, inv, R, K, G, HW, w, gx, dw, db);
    else
        bw_d(x, g, mean, inv, R, K, G, HW, w, gx, dw, db);
}
