/* cpu/linear.c -- linear's small float32 product (backend.h: linear_small; core/ops/linalg.c
 * takes it for products of at most a few hundred multiply-adds): dot products in place, in
 * float, then the bias, as addmm adds it.  The reference is ref/linear.c. */
#include "internal.h"
#include "cpu.h"

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
