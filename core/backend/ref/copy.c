/* ref/copy.c -- the naive copies with conversion and fills: the cpu:ref device's, and the
 * reference for cpu/copy.c.  Element i of the destination (row-major) is found by its own
 * index arithmetic, and each conversion is spelled out (dtype.c's rules: C's casts where
 * defined, INT64_MIN for a float out of int64's range or NaN, uint8 the low byte, bool
 * v != 0). */
#include "internal.h"
#include "ref.h"
#include <math.h>

/* the storage offset of element i (row-major in shape [ndim]) of t broadcast to that shape */
static int64_t offset(const dm_tensor *t, int ndim, const int64_t *shape, int64_t i)
{
    int64_t off = t->offset;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t k = i % shape[d];
        i /= shape[d];
        int td = d - (ndim - t->ndim);
        if (td >= 0 && t->shape[td] != 1) off += k * t->stride[td];
    }
    return off;
}

// one element of dtype sd at s, stored as dtype dd at d
static void conv(void *d, dm_dtype dd, const void *s, dm_dtype sd)
{
    int isf = sd == DM_FLOAT32 || sd == DM_FLOAT64;
    double f = sd == DM_FLOAT32 ? *(const float *)s : sd == DM_FLOAT64 ? *(const double *)s : 0;
    int64_t k = sd == DM_INT64 ? *(const int64_t *)s
              : isf ? 0 : (int64_t)*(const uint8_t *)s;
    if (isf) {                                       /* the integer value of a float */
        if (f >= -9223372036854775808.0 && f < 9223372036854775808.0) k = (int64_t)f;
        else k = INT64_MIN;
    }
    switch (dd) {
    case DM_FLOAT32: *(float *)d = isf ? (float)f : (float)k; break;
    case DM_FLOAT64: *(double *)d = isf ? f : (double)k; break;
    case DM_INT64: *(int64_t *)d = k; break;
    case DM_UINT8: *(uint8_t *)d = (uint8_t)((uint64_t)k & 0xff); break;
    default: *(uint8_t *)d = isf ? f != 0 : k != 0; break;
    }
}

void dm__ref_gather(const dm_tensor *src, void *out, dm_dtype od)
{
    size_t se = dm__esize(src->dtype), oe = dm__esize(od);
    for (int64_t i = 0, n = dm__numel(src); i < n; i++)
        conv((char *)out + i * (int64_t)oe, od,
             (const char *)src->storage->data + offset(src, src->ndim, src->shape, i) * (int64_t)se,
             src->dtype);
}

void dm__ref_copy(dm_tensor *dst, const dm_tensor *src)
{
    size_t se = dm__esize(src->dtype), de = dm__esize(dst->dtype);
    for (int64_t i = 0, n = dm__numel(dst); i < n; i++)
        conv((char *)dst->storage->data + offset(dst, dst->ndim, dst->shape, i) * (int64_t)de,
             dst->dtype,
             (const char *)src->storage->data + offset(src, dst->ndim, dst->shape, i) * (int64_t)se,
             src->dtype);
}

void dm__ref_fill(dm_tensor *t, const void *v)
{
    size_t e = dm__esize(t->dtype);
    for (int64_t i = 0, n = dm__numel(t); i < n; i++)
        memcpy((char *)t->storage->data + offset(t, t->ndim, t->shape, i) * (int64_t)e, v, e);
}

// t [any strides] op= src broadcast to t's shape (or a scalar), element by element
void dm__ref_inplace_f32(dm_ip_kind k, dm_tensor *t, const dm_tensor *src, float a, float b)
{
    float *dd = t->storage->data;
    const float *sd = src ? src->storage->data : NULL;
    for (int64_t i = 0, n = dm__numel(t); i < n; i++) {
        float *d = dd + offset(t, t->ndim, t->shape, i);
        float s = src ? sd[offset(src, t->ndim, t->shape, i)] : 0;
        switch (k) {
        case DM_IP_COPY: *d = s; break;
        case DM_IP_AXPY: *d = (float)((double)*d + (double)a * s); break;
        case DM_IP_MUL: *d = *d * s; break;
        case DM_IP_ADDS: *d = *d + a; break;
        case DM_IP_MULS: *d = *d * a; break;
        default:
            if (!isnan(a) && *d < a) *d = a;
            if (!isnan(b) && *d > b) *d = b;
            break;
        }
    }
}
