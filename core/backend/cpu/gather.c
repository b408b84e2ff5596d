/* cpu/gather.c -- the loops of gather.c and index.c's indexed copies (backend.h: put,
 * index_add_alpha, index_add_bw, bincount, one_hot): gather.c and index.c check the indices
 * and compute the offsets they name; these kernels move the elements, typed, one loop per
 * combination of offsets.  The reference is ref/gather.c. */
#include "internal.h"
#include "cpu.h"
#include <stdint.h>
#include <string.h>

/* the loop over j with a the destination's and b the source's position */
#define PUT_LOOP(BODY) do {                                                                  \
        if (doff && soff) for (int64_t j = 0; j < m; j++) { int64_t a = doff[j], b = soff[j]; BODY } \
        else if (doff) for (int64_t j = 0; j < m; j++) { int64_t a = doff[j], b = j; BODY }  \
        else if (soff) for (int64_t j = 0; j < m; j++) { int64_t a = j, b = soff[j]; BODY }  \
        else for (int64_t j = 0; j < m; j++) { int64_t a = j, b = j; BODY }                   \
    } while (0)

/* T the element type, U the one its sums and products are taken in (unsigned for int64:
   wrapping, as PyTorch's) */
#define DEF_PUT(NAME, T, U)                                                                  \
static void NAME(int op, void *dst, const int64_t *doff, const void *src,                    \
                 const int64_t *soff, const void *value, int64_t m)                          \
{                                                                                            \
    T *d = dst;                                                                              \
    const T *s = src;                                                                        \
    T v = *(const T *)value;                                                                 \
    if (s) {                                                                                 \
        if (op == DM_PUT_ADD) PUT_LOOP(d[a] = (T)((U)d[a] + (U)s[b]););                      \
        else if (op == DM_PUT_MUL) PUT_LOOP(d[a] = (T)((U)d[a] * (U)s[b]););                 \
        else PUT_LOOP(d[a] = s[b];);                                                         \
    } else {                                                                                 \
        if (op == DM_PUT_ADD) PUT_LOOP((void)b; d[a] = (T)((U)d[a] + (U)v););                \
        else if (op == DM_PUT_MUL) PUT_LOOP((void)b; d[a] = (T)((U)d[a] * (U)v););           \
        else PUT_LOOP((void)b; d[a] = v;);                                                   \
    }                                                                                        \
}
DEF_PUT(put_f32, float, float)
DEF_PUT(put_f64, double, double)
DEF_PUT(put_i64, int64_t, uint64_t)
DEF_PUT(put_u8, uint8_t, unsigned)

void dm__cpu_put(int op, dm_dtype dt, void *dst, const int64_t *doff, const void *src,
                 const int64_t *soff, const void *value, int64_t m)
{
    static const int64_t zero = 0;
    if (!value) value = &zero;
    switch (dt) {
    case DM_FLOAT32: put_f32(op, dst, doff, src, soff, value, m); return;
    case DM_FLOAT64: put_f64(op, dst, doff, src, soff, value, m); return;
    case DM_INT64: put_i64(op, dst, doff, src, soff, value, m); return;
    default: break;
    }
    uint8_t *d = dst;
    if (op == DM_PUT_OR) {
        const uint8_t *s = src, v = *(const uint8_t *)value;
        if (s) PUT_LOOP(d[a] |= s[b];);
        else PUT_LOOP((void)b; d[a] |= v;);
        return;
    }
    put_u8(op, dst, doff, src, soff, value, m);
    if (dt == DM_BOOL && op == DM_PUT_ADD)       /* bool results hold 0 or 1 */
        for (int64_t j = 0; j < m; j++) {
            int64_t a = doff ? doff[j] : j;
            d[a] = d[a] != 0;
        }
}

/* dst [outer x size x inner] += alpha * src [outer x m x inner] at the slabs pos */
#define DEF_INDEX_ADD(NAME, T)                                                               \
static void NAME(int64_t outer, int64_t m, int64_t size, int64_t inner, const int64_t *pos,  \
                 const T *s, T a, int one, T *o)                                             \
{                                                                                            \
    for (int64_t q = 0; q < outer; q++)                                                      \
        for (int64_t j = 0; j < m; j++) {                                                    \
            T *row = o + (q * size + pos[j]) * inner;                                        \
            const T *srow = s + (q * m + j) * inner;                                         \
            if (one) for (int64_t r = 0; r < inner; r++) row[r] += srow[r];                  \
            else for (int64_t r = 0; r < inner; r++) row[r] += a * srow[r];                  \
        }                                                                                    \
}
DEF_INDEX_ADD(index_add_f32, float)
DEF_INDEX_ADD(index_add_f64, double)
DEF_INDEX_ADD(index_add_u8, uint8_t)

void dm__cpu_index_add_alpha(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                             int64_t inner, const int64_t *pos, const void *src, double alpha,
                             void *dst)
{
    switch (dt) {
    case DM_FLOAT32:
        index_add_f32(outer, m, size, inner, pos, src, (float)alpha, alpha == 1, dst);
        return;
    case DM_FLOAT64:
        index_add_f64(outer, m, size, inner, pos, src, alpha, alpha == 1, dst);
        return;
    case DM_INT64: {                /* wraps (as PyTorch's): unsigned arithmetic */
        uint64_t *o = dst;
        const uint64_t *s = src, a = (uint64_t)(int64_t)alpha;
        for (int64_t q = 0; q < outer; q++)
            for (int64_t j = 0; j < m; j++) {
                uint64_t *row = o + (q * size + pos[j]) * inner;
                const uint64_t *srow = s + (q * m + j) * inner;
                for (int64_t r = 0; r < inner; r++) row[r] += a * srow[r];
            }
        return;
    }
    default:
        index_add_u8(outer, m, size, inner, pos, src, (uint8_t)(int64_t)alpha, alpha == 1, dst);
        if (dt == DM_BOOL) {        /* bool results hold 0 or 1 */
            uint8_t *o = dst;
            for (int64_t i = 0, n = outer * size * inner; i < n; i++) o[i] = o[i] != 0;
        }
    }
}

/* dst [outer x m x inner] = alpha * g [outer x size x inner] read at the slabs pos */
#define DEF_INDEX_ADD_BW(NAME, T)                                                            \
static void NAME(int64_t outer, int64_t m, int64_t size, int64_t inner, const int64_t *pos,  \
                 const T *g, double alpha, T *o)                                             \
{                                                                                            \
    for (int64_t q = 0; q < outer; q++)                                                      \
        for (int64_t j = 0; j < m; j++)                                                      \
            for (int64_t r = 0; r < inner; r++)                                              \
                o[(q * m + j) * inner + r] = (T)(alpha * g[(q * size + pos[j]) * inner + r]); \
}
DEF_INDEX_ADD_BW(index_add_bw_f32, float)
DEF_INDEX_ADD_BW(index_add_bw_f64, double)

void dm__cpu_index_add_bw(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                          const int64_t *pos, const void *g, double alpha, void *dst)
{
    if (dt == DM_FLOAT64) index_add_bw_f64(outer, m, size, inner, pos, g, alpha, dst);
    else index_add_bw_f32(outer, m, size, inner, pos, g, alpha, dst);
}

void dm__cpu_bincount(dm_dtype rt, const int64_t *v, int64_t n, const void *w, void *out)
{
    if (!w) {
        int64_t *o = out;
        for (int64_t i = 0; i < n; i++) o[v[i]]++;
    } else if (rt == DM_FLOAT32) {
        float *o = out;
        const float *wf = w;
        for (int64_t i = 0; i < n; i++) o[v[i]] += wf[i];
    } else {
        double *o = out;
        const double *wd = w;
        for (int64_t i = 0; i < n; i++) o[v[i]] += wd[i];
    }
}

void dm__cpu_one_hot(const int64_t *v, int64_t n, int64_t nc, int64_t *o)
{
    for (int64_t i = 0; i < n; i++) o[i * nc + v[i]] = 1;
}

/* the offsets of gather's and scatter's index, the coordinates c stepped in row-major order
   with both offsets kept up to date (xbase without dim d, sbase with it) */
int64_t dm__cpu_index_offsets(const int64_t *idx, int nd, const int64_t *is, int d,
                              const int64_t *xs, const int64_t *ss, int64_t *xo, int64_t *so)
{
    int64_t xst[DM_MAX_DIMS], sst[DM_MAX_DIMS], c[DM_MAX_DIMS] = { 0 }, m = 1;
    int64_t a = 1, b = 1;
    for (int k = nd - 1; k >= 0; k--) {
        xst[k] = a; a *= xs[k];
        sst[k] = ss ? b : 0; if (ss) b *= ss[k];
        m *= is[k];
    }
    int64_t xbase = 0, sbase = 0;
    for (int64_t j = 0; j < m; j++) {
        int64_t p = idx[j];
        if (p < 0 || p >= xs[d]) return j;
        xo[j] = xbase + p * xst[d];
        if (so) so[j] = sbase;
        for (int k = nd - 1; k >= 0; k--) {   /* next c */
            if (++c[k] < is[k]) {
                if (k != d) xbase += xst[k];
                sbase += sst[k];
                break;
            }
            if (k != d) xbase -= (c[k] - 1) * xst[k];
            sbase -= (c[k] - 1) * sst[k];
            c[k] = 0;
        }
    }
    return -1;
}
