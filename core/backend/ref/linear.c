/* ref/linear.c -- linear's small float32 product, naively (backend.h: linear_small): each
 * dot product summed in double, the bias added in double, rounded once -- what the cpu:ref
 * gemm gives with the bias seeded (ref/gemm.c).  The reference for cpu/linear.c. */
#include "internal.h"
#include "ref.h"

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
