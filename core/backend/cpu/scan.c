/* cpu/scan.c -- the loops of core/ops/scan.c (which checks the dim, makes the contiguous
 * result and records): cumsum and cumprod in place along a dim, and their backward
 * (backend.h describes each; scan.c's comment derives cumprod's rule). */
#include "internal.h"
#include "cpu.h"

#define SCAN_ROWS(T)                                                                        \
    do {                                                                                    \
        T *o = op;                                                                          \
        for (int64_t q = 0; q < outer; q++)                                                 \
            for (int64_t i = 1; i < n; i++) {                                               \
                T *cur = o + (q * n + i) * inner, *prev = cur - inner;                      \
                if (!prod) for (int64_t r = 0; r < inner; r++) cur[r] += prev[r];           \
                else for (int64_t r = 0; r < inner; r++) cur[r] *= prev[r];                 \
            }                                                                               \
    } while (0)

void dm__cpu_scan(int prod, dm_dtype dt, void *op, int64_t outer, int64_t n, int64_t inner)
{
    if (dt == DM_INT64) {               /* int64 wraps (as PyTorch's): unsigned arithmetic,
                                           signed overflow would be undefined */
        int64_t *o = op;
        for (int64_t q = 0; q < outer; q++)
            for (int64_t i = 1; i < n; i++) {
                int64_t *cur = o + (q * n + i) * inner, *prev = cur - inner;
                for (int64_t r = 0; r < inner; r++)
                    cur[r] = (int64_t)(!prod ? (uint64_t)cur[r] + (uint64_t)prev[r]
                                             : (uint64_t)cur[r] * (uint64_t)prev[r]);
            }
    } else if (dt == DM_FLOAT64) SCAN_ROWS(double);
    else SCAN_ROWS(float);
}

#define SCAN_BW(T)                                                                          \
    do {                                                                                    \
        T *o = gip;                                                                         \
        const T *g = gp, *xs = xp;                                                          \
        for (int64_t q = 0; q < outer; q++)                                                 \
            for (int64_t r = 0; r < inner; r++) {                                           \
                const int64_t base = q * n * inner + r;                                     \
                T *oo = o + base;                                                           \
                const T *gg = g + base, *xx = xs ? xs + base : NULL;                        \
                if (!prod) {                                                                \
                    T acc = 0;                                                              \
                    for (int64_t i = n - 1; i >= 0; i--) {                                  \
                        acc += gg[i * inner];                                               \
                        oo[i * inner] = acc;                                                \
                    }                                                                       \
                    continue;                                                               \
                }                                                                           \
                int64_t z = 0;                                                              \
                while (z < n && xx[z * inner] != 0) z++;                                    \
                /* i < z: suffix sums of g y over the nonzero prefix (y is 0 from z on) */  \
                T y = 1, pre;                                                               \
                for (int64_t i = 0; i < z; i++) {                                           \
                    y *= xx[i * inner];                                                     \
                    oo[i * inner] = gg[i * inner] * y;                                      \
                }                                                                           \
                pre = y;                               /* prod of x before z */             \
                T acc = 0;                                                                  \
                for (int64_t i = z - 1; i >= 0; i--) {                                      \
                    acc += oo[i * inner];                                                   \
                    oo[i * inner] = acc / xx[i * inner];                                    \
                }                                                                           \
                if (z < n) {                                                                \
                    T run = 1, s = 0;                                                       \
                    for (int64_t k = z; k < n; k++) {                                       \
                        if (k > z) run *= xx[k * inner];                                    \
                        s += gg[k * inner] * run;                                           \
                    }                                                                       \
                    oo[z * inner] = pre * s;                                                \
                    for (int64_t i = z + 1; i < n; i++) oo[i * inner] = 0;                  \
                }                                                                           \
            }                                                                               \
    } while (0)

void dm__cpu_scan_bw(int prod, dm_dtype dt, const void *gp, const void *xp, int64_t outer,
                     int64_t n, int64_t inner, void *gip)
{
    if (dt == DM_FLOAT64) SCAN_BW(double);
    else SCAN_BW(float);
}
