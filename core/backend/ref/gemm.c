/* ref/gemm.c -- the naive gemm: the kernel of the cpu:ref device, the reference the cpu
 * device's BLAS and small-product paths are tested against, and the path of BLAS=0 builds.
 *
 * Everything is row-major: C[m x n] = alpha * op(A) @ op(B) + beta * C, where op(A) is
 * [m x k] (A stored [m x k] with row stride lda, or stored [k x m] when transa) and op(B)
 * is [k x n] (B stored [k x n] with row stride ldb, or [n x k] when transb).  Floating
 * kernels accumulate each dot product in double, so they are at least as accurate as any
 * float kernel and their results do not depend on the loop order; the loops are arranged to
 * walk memory contiguously where the layout allows (BLAS=0 builds run on them). */
#include "internal.h"
#include "backend.h"

/* The naive kernel, one definition per element type T with accumulator ACC: float and
 * double accumulate in double, int64 and uint8 in uint64 (wrapping on overflow as PyTorch's
 * integer mm does, without signed-overflow UB).  C[i][j] = alpha * s + beta * C[i][j], never reading
 * C when beta is 0 (it may hold uninitialised memory or NaN, and BLAS semantics say it is
 * then ignored). */
#define GEMM_BLOCK 256

#define DEF_GEMM_NAIVE(NAME, T, ACC) \
void NAME(int transa, int transb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, \
          int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc) \
{ \
    if (m <= 0 || n <= 0) return; \
    for (int64_t i = 0; i < m; i++) { \
        T *ci = c + i * ldc; \
        if (!transb) { \
            /* B is [k x n]: sweep its rows, accumulating a block of C's row */ \
            for (int64_t j0 = 0; j0 < n; j0 += GEMM_BLOCK) { \
                int64_t jn = n - j0 < GEMM_BLOCK ? n - j0 : GEMM_BLOCK; \
                ACC acc[GEMM_BLOCK]; \
                for (int64_t jj = 0; jj < jn; jj++) acc[jj] = 0; \
                for (int64_t p = 0; p < k; p++) { \
                    ACC av = (ACC)(transa ? a[p * lda + i] : a[i * lda + p]); \
                    const T *bp = b + p * ldb + j0; \
                    for (int64_t jj = 0; jj < jn; jj++) acc[jj] += av * (ACC)bp[jj]; \
                } \
                for (int64_t jj = 0; jj < jn; jj++) \
                    ci[j0 + jj] = beta == 0 ? (T)((ACC)alpha * acc[jj]) \
                        : (T)((ACC)alpha * acc[jj] + (ACC)beta * (ACC)ci[j0 + jj]); \
            } \
        } else { \
            /* B is stored [n x k]: each C[i][j] is a dot product along B's rows */ \
            for (int64_t j = 0; j < n; j++) { \
                const T *bj = b + j * ldb; \
                ACC s = 0; \
                if (transa) for (int64_t p = 0; p < k; p++) s += (ACC)a[p * lda + i] * (ACC)bj[p]; \
                else { \
                    const T *ai = a + i * lda; \
                    for (int64_t p = 0; p < k; p++) s += (ACC)ai[p] * (ACC)bj[p]; \
                } \
                ci[j] = beta == 0 ? (T)((ACC)alpha * s) \
                    : (T)((ACC)alpha * s + (ACC)beta * (ACC)ci[j]); \
            } \
        } \
    } \
}

DEF_GEMM_NAIVE(dm_gemm_naive, float, double)
DEF_GEMM_NAIVE(dm_dgemm_naive, double, double)
DEF_GEMM_NAIVE(dm__gemm_i64, int64_t, uint64_t)
DEF_GEMM_NAIVE(dm__gemm_u8, uint8_t, uint64_t)
