/* cpu/bmath.c -- the loops of core/ops/bmath.c (backend.h: bmath, bmath_bw): atan2, hypot,
 * xlogy, logaddexp, logaddexp2, copysign, fmax, fmin and heaviside over flat arrays of the
 * compute type, and their gradients.  One loop per op and type, so each vectorises or calls
 * libm straight; the formulas are PyTorch 1.13's CPU kernels' (logaddexp's infinities of one
 * sign, xlogy's 0 * log 0 = 0 and NaN y, heaviside's a == 0 ? values : a > 0).  The
 * reference is ref/bmath.c. */
#include "internal.h"
#include "cpu.h"
#include <tgmath.h>   /* atan2, hypot, log ... pick the float or double function by type */

#define LN2_INV 1.4426950408889634073599246810018921

/* y[i] = EXPR(x = a[i], z = b[i]) over T */
#define LOOP(T, EXPR) do {                                                      \
        const T *a_ = a, *b_ = b;                                               \
        T *restrict y_ = y;                                                     \
        for (int64_t i = 0; i < n; i++) { T x = a_[i], z = b_[i]; y_[i] = (EXPR); } \
    } while (0)

#define FORWARD(T)                                                                           \
    switch (op) {                                                                            \
    case DM_BM_ATAN2: LOOP(T, atan2(x, z)); break;                                           \
    case DM_BM_HYPOT: LOOP(T, hypot(x, z)); break;                                           \
    case DM_BM_XLOGY: LOOP(T, z != z ? (T)NAN : x == 0 ? (T)0 : x * log(z)); break;          \
    case DM_BM_LOGADDEXP:                                                                    \
        LOOP(T, isinf(x) && x == z ? x                                                       \
                : (x > z ? x : z) + log1p(exp(-fabs(x - z)))); break;                        \
    case DM_BM_LOGADDEXP2:                                                                   \
        LOOP(T, isinf(x) && x == z ? x                                                       \
                : (x > z ? x : z) + log1p(exp2(-fabs(x - z))) * (T)LN2_INV); break;          \
    case DM_BM_COPYSIGN: LOOP(T, copysign(x, z)); break;                                     \
    case DM_BM_FMAX: LOOP(T, fmax(x, z)); break;                                             \
    case DM_BM_FMIN: LOOP(T, fmin(x, z)); break;                                             \
    case DM_BM_HEAVISIDE: LOOP(T, x == 0 ? z : (T)(x > 0)); break;                           \
    default: break;                                                                          \
    }

void dm__cpu_bmath(int op, dm_dtype ct, const void *a, const void *b, void *y, int64_t n)
{
    if (ct == DM_FLOAT32) {
        FORWARD(float)
    } else if (ct == DM_FLOAT64) {
        FORWARD(double)
    } else if (op == DM_BM_FMAX) {
        LOOP(int64_t, x < z ? z : x);
    } else if (op == DM_BM_FMIN) {
        LOOP(int64_t, z < x ? z : x);
    } else if (op == DM_BM_HEAVISIDE) {
        LOOP(int64_t, x == 0 ? z : (int64_t)(x > 0));
    }
}

/* ga[i] = GA, gb[i] = GB (x = a[i], z = b[i], g = g[i]) over T, each when wanted */
#define BW(T, GA, GB) do {                                                      \
        const T *g_ = g, *a_ = a, *b_ = b;                                      \
        T *ga_ = ga, *gb_ = gb;                                                 \
        if (ga_) for (int64_t i = 0; i < n; i++) {                              \
            T gg = g_[i], x = a_[i], z = b_[i]; (void)gg; (void)x; (void)z; ga_[i] = (GA); \
        }                                                                       \
        if (gb_) for (int64_t i = 0; i < n; i++) {                              \
            T gg = g_[i], x = a_[i], z = b_[i]; (void)gg; (void)x; (void)z; gb_[i] = (GB); \
        }                                                                       \
    } while (0)

/* derivatives.yaml's formulas, in its order of operations */
#define BACKWARD(T)                                                                          \
    switch (op) {                                                                            \
    case DM_BM_ATAN2:                                                                        \
        BW(T, gg * z * ((T)1 / (x * x + z * z)), gg * -x * ((T)1 / (x * x + z * z))); break; \
    case DM_BM_HYPOT: BW(T, gg * x / hypot(x, z), gg * z / hypot(x, z)); break;              \
    case DM_BM_XLOGY:                                                                        \
        BW(T, gg * (z != z ? (T)NAN : x != 0 ? log(z) : (T)0), gg * x / z); break;           \
    case DM_BM_LOGADDEXP:                                                                    \
        BW(T, gg / (1 + exp(z - x)), gg / (1 + exp(x - z))); break;                          \
    case DM_BM_LOGADDEXP2:                                                                   \
        BW(T, gg / (1 + exp2(z - x)), gg / (1 + exp2(x - z))); break;                        \
    case DM_BM_COPYSIGN: BW(T, gg * (x == 0 ? (T)0 : copysign(x, z) / x), (T)0); break; \
    case DM_BM_FMAX: BW(T, x >= z || z != z ? gg : (T)0, x >= z || z != z ? (T)0 : gg); break; \
    case DM_BM_FMIN: BW(T, x <= z || z != z ? gg : (T)0, x <= z || z != z ? (T)0 : gg); break; \
    default: break;                                                                          \
    }

void dm__cpu_bmath_bw(int op, dm_dtype ct, const void *g, const void *a, const void *b,
                      void *ga, void *gb, int64_t n)
{
    if (ct == DM_FLOAT32) {
        BACKWARD(float)
    } else {
        BACKWARD(double)
    }
}

/* lerp: PyTorch's two formulas, the one for small weights exact at w = 0, the other at 1 */
#define LERP(T) do {                                                            \
        const T *a_ = a, *b_ = b, *w_ = w;                                      \
        T *restrict y_ = y;                                                     \
        for (int64_t i = 0; i < n; i++) {                                       \
            T x = a_[i], z = b_[i], t = w_[i];                                  \
            y_[i] = fabs(t) < (T)0.5 ? x + t * (z - x) : z - (z - x) * ((T)1 - t); \
        }                                                                       \
    } while (0)

void dm__cpu_lerp(dm_dtype ct, const void *a, const void *b, const void *w, void *y, int64_t n)
{
    if (ct == DM_FLOAT32) LERP(float);
    else LERP(double);
}
