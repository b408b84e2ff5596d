/* ref/linear.c -- linear's small float32 product, naively (backend.h: linear_small): each
 * dot product summed in double, the bias added in double, rounded once -- what the cpu:ref
 * gemm gives with the bias seeded (ref/gemm.c); linear's bias copied into y's rows one
 * element at a time, and its gradient's column sums in double.  The reference for
 * cpu/linear.c. */
#include "internal.h"
#include "ref.h"
#include <string.h>

void dm__ref_linear_small(int64_t N, int64_t in, int64_t nout, const float *x, const float *w,
                          const float *b, float *y)
{
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < nout; j++) {
            double s = 0;
            for (int64_t k = 0; k < in; k++) s += (double)x[i * in + k] * (double)w[j * in + k];
            y[i * nout + j] = b ? (float)(s + (double)b[j]) : (float)s;
        }
}

/* every element of y [N x nout] = b[j], one element at a time */
void dm__ref_bias_rows(size_t es, const void *b, int64_t bs, int64_t N, int64_t nout, void *y)
{
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < nout; j++)
            memcpy((char *)y + (i * nout + j) * (int64_t)es,
                   (const char *)b + j * bs * (int64_t)es, es);
}

/* each column's sum in double, down the rows, then stored (or added) in dt */
void dm__ref_bias_sum(dm_dtype dt, const void *g, int64_t N, int64_t nout, int acc, void *d)
{
    for (int64_t j = 0; j < nout; j++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++)
            s += dt == DM_FLOAT32 ? ((const float *)g)[i * nout + j]
                                  : ((const double *)g)[i * nout + j];
        if (dt == DM_FLOAT32) {
            float *o = (float *)d + j;
            *o = acc ? *o + (float)s : (float)s;
        } else {
            double *o = (double *)d + j;
            *o = acc ? *o + s : s;
        }
    }
}
