/* ref/gather.c -- the naive indexed copies: the cpu:ref device's, and the reference for
 * cpu/gather.c (put, index_add_alpha, index_add_bw, bincount, one_hot).  One element at a
 * time, each position computed from scratch; floating values added and multiplied as
 * doubles into the stored element, integers (int64, uint8, bool) as uint64 modulo 2^64,
 * stored truncated to their width. */
#include "internal.h"
#include "ref.h"

static double ldf(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void stf(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static uint64_t ldi(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_INT64 ? (uint64_t)((const int64_t *)p)[i] : ((const uint8_t *)p)[i];
}

static void sti(dm_dtype dt, void *p, int64_t i, uint64_t v)
{
    if (dt == DM_INT64) ((int64_t *)p)[i] = (int64_t)v;
    else ((uint8_t *)p)[i] = (uint8_t)v;
}

void dm__ref_put(int op, dm_dtype dt, void *dst, const int64_t *doff, const void *src,
                 const int64_t *soff, const void *value, int64_t m)
{
    int fl = dm_is_floating(dt);
    for (int64_t j = 0; j < m; j++) {
        int64_t a = doff ? doff[j] : j;
        const void *sp = src ? src : value;
        int64_t b = src ? (soff ? soff[j] : j) : 0;
        if (fl) {
            double d = ldf(dt, dst, a), x = ldf(dt, sp, b);
            stf(dt, dst, a, op == DM_PUT_ADD ? d + x : op == DM_PUT_MUL ? d * x : x);
        } else {
            uint64_t d = ldi(dt, dst, a), x = ldi(dt, sp, b);
            sti(dt, dst, a, op == DM_PUT_ADD ? d + x : op == DM_PUT_MUL ? d * x
                          : op == DM_PUT_OR ? (d | x) : x);
        }
    }
    if (dt == DM_BOOL)                  /* a bool holds 0 or 1 (the sums, modulo 2^8) */
        for (int64_t j = 0; j < m; j++) {
            int64_t a = doff ? doff[j] : j;
            ((uint8_t *)dst)[a] = ((uint8_t *)dst)[a] != 0;
        }
}

void dm__ref_index_add_alpha(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                             int64_t inner, const int64_t *pos, const void *src, double alpha,
                             void *dst)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = 0; r < inner; r++) {
                int64_t di = (q * size + pos[j]) * inner + r, si = (q * m + j) * inner + r;
                if (dm_is_floating(dt))
                    stf(dt, dst, di, ldf(dt, dst, di) + alpha * ldf(dt, src, si));
                else
                    sti(dt, dst, di, ldi(dt, dst, di) +
                                     (uint64_t)(int64_t)alpha * ldi(dt, src, si));
            }
    if (dt == DM_BOOL)
        for (int64_t i = 0; i < outer * size * inner; i++)
            ((uint8_t *)dst)[i] = ((uint8_t *)dst)[i] != 0;
}

void dm__ref_index_add_bw(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                          const int64_t *pos, const void *g, double alpha, void *dst)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = 0; r < inner; r++)
                stf(dt, dst, (q * m + j) * inner + r,
                    alpha * ldf(dt, g, (q * size + pos[j]) * inner + r));
}

void dm__ref_bincount(dm_dtype rt, const int64_t *v, int64_t n, const void *w, void *out)
{
    for (int64_t i = 0; i < n; i++) {
        if (w) stf(rt, out, v[i], ldf(rt, out, v[i]) + ldf(rt, w, i));
        else ((int64_t *)out)[v[i]] += 1;
    }
}

void dm__ref_one_hot(const int64_t *v, int64_t n, int64_t nc, int64_t *o)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < nc; c++)
            if (c == v[i]) o[i * nc + c] = 1;
}

/* each element's coordinates found by division, its offsets summed from scratch */
int64_t dm__ref_index_offsets(const int64_t *idx, int nd, const int64_t *is, int d,
                              const int64_t *xs, const int64_t *ss, int64_t *xo, int64_t *so)
{
    int64_t m = 1;
    for (int k = 0; k < nd; k++) m *= is[k];
    for (int64_t j = 0; j < m; j++) {
        if (idx[j] < 0 || idx[j] >= xs[d]) return j;
        int64_t c[DM_MAX_DIMS], rest = j;
        for (int k = nd - 1; k >= 0; k--) {
            c[k] = rest % is[k];
            rest /= is[k];
        }
        int64_t xoff = 0, soff = 0;
        for (int k = 0; k < nd; k++) {
            xoff = xoff * xs[k] + (k == d ? idx[j] : c[k]);
            if (ss) soff = soff * ss[k] + c[k];
        }
        xo[j] = xoff;
        if (so) so[j] = soff;
    }
    return -1;
}
