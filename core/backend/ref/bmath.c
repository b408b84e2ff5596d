/* ref/bmath.c -- the reference loops of ops/bmath.c (backend.h: bmath, bmath_bw): one
 * element at a time in double (float32 operands widened and the result rounded once, so a
 * float32 value may differ from cpu/bmath.c's float loops by an ulp), the same formulas. */
#include "internal.h"
#include "ref.h"
#include <math.h>

static double fwd(int op, double x, double z)
{
    switch (op) {
    case DM_BM_ATAN2: return atan2(x, z);
    case DM_BM_HYPOT: return hypot(x, z);
    case DM_BM_XLOGY: return isnan(z) ? NAN : x == 0 ? 0.0 : x * log(z);
    case DM_BM_LOGADDEXP:
        if (isinf(x) && x == z) return x;
        return fmax(x, z) + log1p(exp(-fabs(x - z)));
    case DM_BM_LOGADDEXP2:
        if (isinf(x) && x == z) return x;
        return fmax(x, z) + log1p(exp2(-fabs(x - z))) / log(2.0);
    case DM_BM_COPYSIGN: return copysign(x, z);
    case DM_BM_FMAX: return fmax(x, z);
    case DM_BM_FMIN: return fmin(x, z);
    case DM_BM_HEAVISIDE: return x == 0 ? z : (double)(x > 0);
    default: return NAN;
    }
}

static int64_t fwd_i(int op, int64_t x, int64_t z)
{
    if (op == DM_BM_FMAX) return x > z ? x : z;
    if (op == DM_BM_FMIN) return x < z ? x : z;
    return x == 0 ? z : x > 0;           /* heaviside */
}

void dm__ref_bmath(int op, dm_dtype ct, const void *a, const void *b, void *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (ct == DM_FLOAT32)
            ((float *)y)[i] = (float)fwd(op, ((const float *)a)[i], ((const float *)b)[i]);
        else if (ct == DM_FLOAT64)
            ((double *)y)[i] = fwd(op, ((const double *)a)[i], ((const double *)b)[i]);
        else
            ((int64_t *)y)[i] = fwd_i(op, ((const int64_t *)a)[i], ((const int64_t *)b)[i]);
    }
}

/* d op / d a (k = 0) or d b (k = 1) at (x, z), times g */
static double grad(int op, int k, double g, double x, double z)
{
    int first;
    switch (op) {
    case DM_BM_ATAN2: return g * (k ? -x : z) / (x * x + z * z);
    case DM_BM_HYPOT: return g * (k ? z : x) / hypot(x, z);
    case DM_BM_XLOGY:
        if (k) return g * x / z;
        return g * (isnan(z) ? NAN : x != 0 ? log(z) : 0.0);
    case DM_BM_LOGADDEXP: return g / (1 + exp(k ? x - z : z - x));
    case DM_BM_LOGADDEXP2: return g / (1 + exp2(k ? x - z : z - x));
    case DM_BM_COPYSIGN: return k ? 0.0 : g * (x == 0 ? 0.0 : copysign(x, z) / x);
    case DM_BM_FMAX: case DM_BM_FMIN:       /* ties and a NaN b: to a */
        first = (op == DM_BM_FMAX ? x >= z : x <= z) || isnan(z);
        return first == !k ? g : 0.0;
    default: return NAN;
    }
}

void dm__ref_bmath_bw(int op, dm_dtype ct, const void *g, const void *a, const void *b,
                      void *ga, void *gb, int64_t n)
{
    void *out[2] = { ga, gb };
    for (int k = 0; k < 2; k++) {
        if (!out[k]) continue;
        for (int64_t i = 0; i < n; i++) {
            if (ct == DM_FLOAT32)
                ((float *)out[k])[i] = (float)grad(op, k, ((const float *)g)[i],
                                                   ((const float *)a)[i], ((const float *)b)[i]);
            else
                ((double *)out[k])[i] = grad(op, k, ((const double *)g)[i],
                                             ((const double *)a)[i], ((const double *)b)[i]);
        }
    }
}

void dm__ref_lerp(dm_dtype ct, const void *a, const void *b, const void *w, void *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (ct == DM_FLOAT32) {
            float x = ((const float *)a)[i], z = ((const float *)b)[i], t = ((const float *)w)[i];
            ((float *)y)[i] = fabsf(t) < 0.5f ? x + t * (z - x) : z - (z - x) * (1.0f - t);
        } else {
            double x = ((const double *)a)[i], z = ((const double *)b)[i];
            double t = ((const double *)w)[i];
            ((double *)y)[i] = fabs(t) < 0.5 ? x + t * (z - x) : z - (z - x) * (1.0 - t);
        }
    }
}
