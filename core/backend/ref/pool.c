/* ref/pool.c -- the naive pools: the cpu:ref device's, and the reference for cpu/pool.c.
 * Written from PyTorch's definitions, one output at a time: its window listed position by
 * position (the positions outside the input skipped), values as doubles, sums in double.
 * The backward loops gather where cpu/pool.c scatters: each input element sums, in double,
 * the gradients of the outputs that read it, stored rounded once. */
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

void dm__ref_max_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                        int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                        const int64_t *s, const int64_t *p, const int64_t *d, int ceil_mode)
{
    (void)ceil_mode;                    /* already in OH, OW */
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                /* the window's positions in row-major order, those outside skipped: the
                   first maximum, a NaN replaces it (PyTorch's CPU rule) */
                double best = -INFINITY;
                int64_t at = -1;
                for (int64_t i = 0; i < k[0]; i++)
                    for (int64_t j = 0; j < k[1]; j++) {
                        int64_t h = oh * s[0] - p[0] + i * d[0], w = ow * s[1] - p[1] + j * d[1];
                        if (h < 0 || h >= H || w < 0 || w >= W) continue;
                        double v = ld(dt, x, (pl * H + h) * W + w);
                        if (at < 0 || v > best || isnan(v)) { best = v; at = h * W + w; }
                    }
                int64_t o = (pl * OH + oh) * OW + ow;
                st(dt, y, o, best);
                ix[o] = at;
            }
}

/* each input element gathers, in double, the gradients of the outputs whose maximum it was */
void dm__ref_max_pool2d_bw(dm_dtype dt, const void *g, const int64_t *ix, void *r, int64_t P,
                           int64_t HW, int64_t OHW)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < HW; i++) {
            double acc = 0;
            for (int64_t o = 0; o < OHW; o++)
                if (ix[pl * OHW + o] == i) acc += ld(dt, g, pl * OHW + o);
            st(dt, r, pl * HW + i, acc);
        }
}

/* avg pool's window along one dim: [a, b) within the input, n its size within the padded
   input (the window clipped to [-pad, size + pad)) */
static void avg_span(int64_t o, int64_t size, int32_t k, int32_t s, int32_t pad, int64_t *a,
                     int64_t *b, int64_t *n)
{
    int64_t lo = o * s - pad, hi = lo + k;
    if (hi > size + pad) hi = size + pad;
    *n = hi - lo;
    *a = lo < 0 ? 0 : lo;
    *b = hi > size ? size : hi;
}

static double avg_divisor(int64_t nh, int64_t nw, int64_t h0, int64_t h1, int64_t w0,
                          int64_t w1, int cip, int64_t divisor)
{
    if (divisor) return (double)divisor;
    return cip ? (double)(nh * nw) : (double)((h1 - h0) * (w1 - w0));
}

void dm__ref_avg_pool2d(dm_dtype dt, const void *x, void *y, int64_t P, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, const int32_t *k, const int32_t *s,
                        const int32_t *p, int cip, int64_t divisor)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, nh, w0, w1, nw;
                avg_span(oh, H, k[0], s[0], p[0], &h0, &h1, &nh);
                avg_span(ow, W, k[1], s[1], p[1], &w0, &w1, &nw);
                double sum = 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) sum += ld(dt, x, (pl * H + h) * W + w);
                st(dt, y, (pl * OH + oh) * OW + ow,
                   sum / avg_divisor(nh, nw, h0, h1, w0, w1, cip, divisor));
            }
}

/* each input element gathers the shares of the outputs whose window holds it */
void dm__ref_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                           int64_t W, int64_t OH, int64_t OW, const int32_t *k,
                           const int32_t *s, const int32_t *p, int cip, int64_t divisor)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                double acc = 0;
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t h0, h1, nh, w0, w1, nw;
                        avg_span(oh, H, k[0], s[0], p[0], &h0, &h1, &nh);
                        avg_span(ow, W, k[1], s[1], p[1], &w0, &w1, &nw);
                        if (h < h0 || h >= h1 || w < w0 || w >= w1) continue;
                        acc += ld(dt, g, (pl * OH + oh) * OW + ow) /
                               avg_divisor(nh, nw, h0, h1, w0, w1, cip, divisor);
                    }
                st(dt, r, (pl * H + h) * W + w, acc);
            }
}

/* adaptive window of output o of O over I inputs: [floor(o I / O), ceil((o + 1) I / O)) */
static void adaptive_span(int64_t o, int64_t O, int64_t I, int64_t *a, int64_t *b)
{
    *a = (int64_t)floor((double)(o * I) / (double)O);
    *b = (int64_t)ceil((double)((o + 1) * I) / (double)O);
}

void dm__ref_adaptive_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                             int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1, o = (pl * OH + oh) * OW + ow;
                adaptive_span(oh, OH, H, &h0, &h1);
                adaptive_span(ow, OW, W, &w0, &w1);
                if (ix) {
                    double best = -INFINITY;
                    int64_t at = -1;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) {
                            double v = ld(dt, x, (pl * H + h) * W + w);
                            if (at < 0 || v > best || isnan(v)) { best = v; at = h * W + w; }
                        }
                    st(dt, y, o, best);
                    ix[o] = at;
                } else {
                    double sum = 0;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) sum += ld(dt, x, (pl * H + h) * W + w);
                    st(dt, y, o, sum / (double)((h1 - h0) * (w1 - w0)));
                }
            }
}

void dm__ref_adaptive_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                                    int64_t W, int64_t OH, int64_t OW)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                double acc = 0;
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t h0, h1, w0, w1;
                        adaptive_span(oh, OH, H, &h0, &h1);
                        adaptive_span(ow, OW, W, &w0, &w1);
                        if (h < h0 || h >= h1 || w < w0 || w >= w1) continue;
                        acc += ld(dt, g, (pl * OH + oh) * OW + ow) /
                               (double)((h1 - h0) * (w1 - w0));
                    }
                st(dt, r, (pl * H + h) * W + w, acc);
            }
}

/* each input element goes to its index in the output plane (a later one overwrites) */
void dm__ref_max_unpool2d(dm_dtype dt, const void *x, const int64_t *ip, void *y, int64_t P,
                          int64_t HW, int64_t OHW)
{
    for (int64_t i = 0; i < P * OHW; i++) st(dt, y, i, 0);
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < HW; i++)
            st(dt, y, pl * OHW + ip[pl * HW + i], ld(dt, x, pl * HW + i));
}

/* and reads its gradient back from there */
void dm__ref_max_unpool2d_bw(dm_dtype dt, const void *g, const int64_t *ip, void *r,
                             int64_t P, int64_t HW, int64_t OHW)
{
    for (int64_t pl = 0; pl < P; pl++)
        for (int64_t i = 0; i < HW; i++)
            st(dt, r, pl * HW + i, ld(dt, g, pl * OHW + ip[pl * HW + i]));
}
