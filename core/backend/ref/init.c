/* ref/init.c -- the naive kernels of orthogonal_ and sparse_: the cpu:ref device's, and the
 * reference for cpu/init.c.  The QR is modified Gram-Schmidt in double (another algorithm
 * than cpu's Householder reflections: its R has a nonnegative diagonal, which is the Q that
 * init.c's sign correction makes of cpu's); sparse_'s zeroing draws exactly as cpu's does
 * (a random stream can only be compared draw for draw) and finds each element's storage
 * offset and type afresh. */
#include "internal.h"
#include "ref.h"
#include "draw.h"
#include <math.h>

void dm__ref_qr(double *a, int64_t m, int64_t n, double *q, double *rdiag)
{
    for (int64_t j = 0; j < n; j++) {
        double *v = a + j * m;
        for (int64_t i = 0; i < j; i++) {           /* remove column i of q from v */
            const double *qi = q + i * m;
            double r = 0;
            for (int64_t k = 0; k < m; k++) r += qi[k] * v[k];
            for (int64_t k = 0; k < m; k++) v[k] -= r * qi[k];
        }
        double norm = 0;
        for (int64_t k = 0; k < m; k++) norm += v[k] * v[k];
        norm = sqrt(norm);
        rdiag[j] = norm;
        for (int64_t k = 0; k < m; k++) q[j * m + k] = norm > 0 ? v[k] / norm : 0;
    }
}

void dm__ref_sparse_zero(dm_tensor *t, int64_t nzero, dm_rng *g, int64_t *perm)
{
    int64_t rows = t->shape[0], cols = t->shape[1];
    for (int64_t c = 0; c < cols; c++)
        for (int64_t k = 0; k < nzero; k++) {
            int64_t j = k + (int64_t)dm__draw_below(g, (uint64_t)(rows - k));
            int64_t row = perm[j];
            perm[j] = perm[k];
            perm[k] = row;
            int64_t off = t->offset + row * t->stride[0] + c * t->stride[1];
            if (t->dtype == DM_FLOAT32) ((float *)t->storage->data)[off] = 0.0f;
            else ((double *)t->storage->data)[off] = 0.0;
        }
}
