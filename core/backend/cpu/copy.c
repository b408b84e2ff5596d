/* cpu/copy.c -- the cpu device's copies with conversion and fills: memcpy where dtypes and
 * layouts agree, one element at a time through convert.h otherwise, the strided walker
 * (walk.h) for views.  The reference is ref/copy.c. */
#include "internal.h"
#include "cpu.h"
#include "convert.h"
#include "walk.h"
#include <math.h>

/* n elements from src (walked by its iterator; row-major) into a contiguous buffer */
void dm__cpu_gather(const dm_tensor *src, void *outv, dm_dtype od)
{
    char *out = outv;
    int64_t n = dm__numel(src);
    size_t se = dm__esize(src->dtype), oe = dm__esize(od);
    if (dm__is_contig(src) && src->dtype == od) {
        memcpy(out, dm__ptr(src), (size_t)n * se);
        return;
    }
    const char *base = src->storage->data;
    if (dm__is_contig(src)) {
        const char *p = dm__ptr(src);
        for (int64_t i = 0; i < n; i++)
            dm__convert1(out + i * (int64_t)oe, od, p + i * (int64_t)se, src->dtype);
        return;
    }
    DM_WALK_EACH(src, i, off,
        dm__convert1(out + i * (int64_t)oe, od, base + off * (int64_t)se, src->dtype););
}

// dst [any strides] = src broadcast to dst's shape, converted
void dm__cpu_copy(dm_tensor *dst, const dm_tensor *src)
{
    int64_t n = dm__numel(dst);
    size_t de = dm__esize(dst->dtype), se = dm__esize(src->dtype);
    if (dm__is_contig(dst) && dm__same_shape(dst, src)) {
        dm__cpu_gather(src, dm__ptr(dst), dst->dtype);
        return;
    }
    if (n == 0) return;
    // dst and src (broadcast) walked together, row by row: strides sd and ss in a row
    dm_walk w;
    dm_walk_init(&w, 2, (const dm_tensor *[]){ dst, src }, dst->ndim, dst->shape);
    char *db = dst->storage->data;
    const char *sb = src->storage->data;
    int64_t len = dm_walk_row_len(&w), sd = dm_walk_row_stride(&w, 0),
            ss = dm_walk_row_stride(&w, 1);
    for (int64_t done = 0; done < n; done += len) {
        for (int64_t j = 0; j < len; j++)
            dm__convert1(db + (w.off[0] + j * sd) * (int64_t)de, dst->dtype,
                         sb + (w.off[1] + j * ss) * (int64_t)se, src->dtype);
        dm_walk_next_row(&w);
    }
}

/* t's elements = v, typed loops so the contiguous case vectorises */
#define FILL_T(T)                                                                           \
    do {                                                                                    \
        T x;                                                                                \
        memcpy(&x, v, sizeof x);                                                            \
        T *b = t->storage->data;                                                            \
        if (dm__is_contig(t)) {                                                             \
            T *p = b + t->offset;                                                           \
            for (int64_t i = 0; i < n; i++) p[i] = x;                                       \
        } else {                                                                            \
            DM_WALK_EACH(t, i, off, (void)i; b[off] = x;);                                  \
        }                                                                                   \
    } while (0)

void dm__cpu_fill(dm_tensor *t, const void *v)
{
    int64_t n = dm__numel(t);
    switch (dm__esize(t->dtype)) {
    case 8: FILL_T(uint64_t); break;
    case 4: FILL_T(float); break;
    default: FILL_T(uint8_t); break;
    }
}

/* ---- float32 in place (inplace.c) ------------------------------------------------------ */

static inline void ip1(dm_ip_kind k, float *d, float s, float a, float b)
{
    switch (k) {
    case DM_IP_COPY: *d = s; break;
    case DM_IP_AXPY: *d = (float)((double)*d + (double)a * s); break;   /* rounded once */
    case DM_IP_MUL: *d *= s; break;
    case DM_IP_ADDS: *d += a; break;
    case DM_IP_MULS: *d *= a; break;
    default:                                     /* min(max(x, lo), hi), NaN stays NaN */
        if (!isnan(a) && *d < a) *d = a;
        if (!isnan(b) && *d > b) *d = b;
        break;
    }
}

// t [any strides] op= src broadcast to t's shape, or op= a scalar when src is NULL
void dm__cpu_inplace_f32(dm_ip_kind k, dm_tensor *t, const dm_tensor *src, float a, float b)
{
    int64_t n = dm__numel(t);
    float *dd = t->storage->data;
    if (!src) {
        if (dm__is_contig(t)) {
            float *p = dd + t->offset;
            switch (k) {
            case DM_IP_ADDS: for (int64_t i = 0; i < n; i++) p[i] += a; break;
            case DM_IP_MULS: for (int64_t i = 0; i < n; i++) p[i] *= a; break;
            default: for (int64_t i = 0; i < n; i++) ip1(k, p + i, 0, a, b); break;
            }
        } else {
            DM_WALK_EACH(t, i, off, (void)i; ip1(k, dd + off, 0, a, b););
        }
        return;
    }
    const float *sd = src->storage->data;
    if (dm__is_contig(t) && dm__is_contig(src) && dm__same_shape(t, src)) {
        float *dp = dd + t->offset;
        const float *sp = sd + src->offset;
        if (k == DM_IP_COPY) memmove(dp, sp, (size_t)n * sizeof(float));
        else if (k == DM_IP_AXPY)          /* d + a s rounded once, as PyTorch's FMA */
            for (int64_t i = 0; i < n; i++) dp[i] = (float)((double)dp[i] + (double)a * sp[i]);
        else for (int64_t i = 0; i < n; i++) ip1(k, dp + i, sp[i], a, b);
        return;
    }
    // t and src (broadcast) walked together, row by row
    dm_walk w;
    dm_walk_init(&w, 2, (const dm_tensor *[]){ t, src }, t->ndim, t->shape);
    int64_t len = dm_walk_row_len(&w), s0 = dm_walk_row_stride(&w, 0),
            s1 = dm_walk_row_stride(&w, 1);
    for (int64_t done = 0; n > 0 && done < n; done += len) {
        for (int64_t j = 0; j < len; j++)
            ip1(k, dd + w.off[0] + j * s0, sd[w.off[1] + j * s1], a, b);
        dm_walk_next_row(&w);
    }
}
