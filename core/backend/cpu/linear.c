/* cpu/linear.c -- linear's small float32 product (backend.h: linear_small; core/ops/linalg.c
 * takes it for products of at most a few hundred multiply-adds): dot products in place, in
 * float, then the bias, as addmm adds it; and linear's bias around its gemm (bias_rows: the
 * rows seeded, bias_sum: the gradient's column sums).  The reference is ref/linear.c. */
#include "internal.h"
#include "cpu.h"
#include <string.h>
/* as in linalg.c, where these loops were: O3 vectorizes them (no fast-math: the same results
   as at -O2) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

void dm__cpu_linear_small(int64_t N, int64_t in, int64_t nout, const float *xd, const float *wd,
                          const float *bd, float *yd)
{
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < nout; j++) {
            float acc = 0;
            for (int64_t k = 0; k < in; k++) acc += xd[i * in + k] * wd[j * in + k];
            yd[i * nout + j] = bd ? acc + bd[j] : acc;
        }
}

/* y's first row = b (one memcpy when contiguous), then copied into every other row */
void dm__cpu_bias_rows(size_t es, const void *b, int64_t bs, int64_t N, int64_t nout, void *y)
{
    if (N <= 0) return;
    char *row0 = y;
    if (bs == 1 || nout == 1) {
        memcpy(row0, b, (size_t)nout * es);
    } else {
        const char *bd = b;
        for (int64_t j = 0; j < nout; j++)
            memcpy(row0 + j * (int64_t)es, bd + j * bs * (int64_t)es, es);
    }
    for (int64_t i = 1; i < N; i++)
        memcpy(row0 + i * nout * (int64_t)es, row0, (size_t)nout * es);
}

/* d[j] (+)= column sum j of g [N x nout] (added when acc), a block of columns at a time,
   in double; one definition per float type */
#define DEF_BIAS_SUM(NAME, T) \
static void NAME(const void *g_, void *d_, int64_t N, int64_t nout, int acc) \
{ \
    const T *g = g_; \
    T *d = d_; \
    for (int64_t j0 = 0; j0 < nout; j0 += 256) { \
        int64_t jn = nout - j0 < 256 ? nout - j0 : 256; \
        double s[256]; \
        for (int64_t jj = 0; jj < jn; jj++) s[jj] = 0.0; \
        for (int64_t i = 0; i < N; i++) { \
            const T *row = g + i * nout + j0; \
            for (int64_t jj = 0; jj < jn; jj++) s[jj] += row[jj]; \
        } \
        if (acc) for (int64_t jj = 0; jj < jn; jj++) d[j0 + jj] += (T)s[jj]; \
        else for (int64_t jj = 0; jj < jn; jj++) d[j0 + jj] = (T)s[jj]; \
    } \
}
DEF_BIAS_SUM(bias_sum_f32, float)
DEF_BIAS_SUM(bias_sum_f64, double)

void dm__cpu_bias_sum(dm_dtype dt, const void *g, int64_t N, int64_t nout, int acc, void *d)
{
    (dt == DM_FLOAT32 ? bias_sum_f32 : bias_sum_f64)(g, d, N, nout, acc);
}
