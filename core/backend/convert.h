/* convert.h -- one element converted between dtypes, as PyTorch 1.13 on x86 (dtype.c's
 * header comment): shared by the element accessors (dtype.c) and the cpu device's copy
 * kernels (cpu/copy.c); the reference spells its conversions out for itself (ref/copy.c). */
#ifndef DM_CONVERT_H
#define DM_CONVERT_H

#include "deepmoon.h"
#include <stdint.h>

static inline int64_t dm__f2i(double x)
{
    /* [-2^63, 2^63) converts exactly by truncation; anything else (and NaN) is INT64_MIN */
    if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) return (int64_t)x;
    return INT64_MIN;
}

static inline double dm__load_f(const char *p, dm_dtype dt)
{
    switch (dt) {
    case DM_FLOAT32: return *(const float *)p;
    case DM_FLOAT64: return *(const double *)p;
    case DM_INT64: return (double)*(const int64_t *)p;
    default: return (double)*(const uint8_t *)p;
    }
}

static inline int64_t dm__load_i(const char *p, dm_dtype dt)
{
    switch (dt) {
    case DM_FLOAT32: return dm__f2i(*(const float *)p);
    case DM_FLOAT64: return dm__f2i(*(const double *)p);
    case DM_INT64: return *(const int64_t *)p;
    default: return *(const uint8_t *)p;
    }
}

/* *d (of type dd) = *s (of type sd) */
static inline void dm__convert1(char *d, dm_dtype dd, const char *s, dm_dtype sd)
{
    switch (dd) {
    case DM_FLOAT32:
        /* int64 -> float32 directly: through double it would round twice */
        *(float *)d = sd == DM_FLOAT32 ? *(const float *)s
                    : sd == DM_INT64 ? (float)*(const int64_t *)s : (float)dm__load_f(s, sd);
        break;
    case DM_FLOAT64: *(double *)d = dm__load_f(s, sd); break;
    case DM_INT64: *(int64_t *)d = dm__load_i(s, sd); break;
    case DM_UINT8: *(uint8_t *)d = (uint8_t)(uint64_t)dm__load_i(s, sd); break;
    default:
        *(uint8_t *)d = dm_is_floating(sd) ? dm__load_f(s, sd) != 0 : dm__load_i(s, sd) != 0;
        break;
    }
}

#endif
