/* cpu/init.c -- the cpu device's kernels for orthogonal_ and sparse_ (backend.h: qr,
 * sparse_zero): init.c's Householder QR and the per-column partial shuffle, moved unchanged
 * (the draws draw.h's inline ones, rng.c's dm_rng_below).  The reference is ref/init.c. */
#include "internal.h"
#include "cpu.h"
#include "draw.h"
#include <math.h>
#include <string.h>

/* Reduced QR of a [m x n] matrix (m >= n), column-major in a (column j at a + j*m), by
 * Householder reflections in double.  On return q [m x n] (column-major) has orthonormal
 * columns and rdiag[j] is R's diagonal, so that a = q r. */
void dm__cpu_qr(double *a, int64_t m, int64_t n, double *q, double *rdiag)
{
    /* reflection k is I - 2 v v^T with unit v, v[0..k-1] = 0, stored in a's column k */
    for (int64_t k = 0; k < n; k++) {
        double *x = a + k * m;
        double norm = 0;
        for (int64_t i = k; i < m; i++) norm += x[i] * x[i];
        norm = sqrt(norm);
        if (norm == 0) {            /* column already zero below the diagonal: no reflection */
            rdiag[k] = 0;
            for (int64_t i = k; i < m; i++) x[i] = 0;
            continue;
        }
        /* reflect x onto alpha e_k, alpha of x[k]'s opposite sign: no cancellation in v */
        double alpha = x[k] >= 0 ? -norm : norm;
        rdiag[k] = alpha;
        x[k] -= alpha;
        double vnorm = 0;
        for (int64_t i = k; i < m; i++) vnorm += x[i] * x[i];
        vnorm = sqrt(vnorm);
        for (int64_t i = k; i < m; i++) x[i] /= vnorm;
        for (int64_t j = k + 1; j < n; j++) {
            double *c = a + j * m, s = 0;
            for (int64_t i = k; i < m; i++) s += x[i] * c[i];
            s *= 2;
            for (int64_t i = k; i < m; i++) c[i] -= s * x[i];
        }
    }
    /* q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity */
    memset(q, 0, (size_t)(m * n) * sizeof *q);
    for (int64_t j = 0; j < n; j++) q[j * m + j] = 1;
    for (int64_t k = n - 1; k >= 0; k--) {
        const double *v = a + k * m;
        if (rdiag[k] == 0) continue;
        for (int64_t j = 0; j < n; j++) {
            double *c = q + j * m, s = 0;
            for (int64_t i = k; i < m; i++) s += v[i] * c[i];
            s *= 2;
            for (int64_t i = k; i < m; i++) c[i] -= s * v[i];
        }
    }
}

void dm__cpu_sparse_zero(dm_tensor *t, int64_t nzero, dm_rng *g, int64_t *perm)
{
    int64_t rows = t->shape[0], cols = t->shape[1];
    for (int64_t c = 0; c < cols; c++) {
        /* perm stays a permutation across columns, so each column's pick is uniform */
        for (int64_t k = 0; k < nzero; k++) {
            int64_t j = k + (int64_t)dm__draw_below(g, (uint64_t)(rows - k));
            int64_t tmp = perm[k];
            perm[k] = perm[j];
            perm[j] = tmp;
            dm__store_f64(t, t->offset + perm[k] * t->stride[0] + c * t->stride[1], 0.0);
        }
    }
}
