/* cpu/gemm.c -- the cpu device's gemm: dm_gemm() is cblas_sgemm when built with BLAS, the
 * in-place small-product path below it for small products, the naive kernel (ref/gemm.c)
 * otherwise.
 *
 * Everything is row-major: C[m x n] = alpha * op(A) @ op(B) + beta * C, where op(A) is
 * [m x k] (A stored [m x k] with row stride lda, or stored [k x m] when transa) and op(B)
 * is [k x n] (B stored [k x n] with row stride ldb, or [n x k] when transb).
 *
 * dm_gemm_naive (dm_dgemm_naive for double, in ref/gemm.c) is the reference the BLAS path is
 * tested against, the kernel of the cpu:ref device, and what `make BLAS=0` builds run on. */
#include "internal.h"
#include "cpu.h"
#include <stdatomic.h>
#include <stdio.h>

#if defined(DM_USE_BLAS) && DM_USE_BLAS
#include <cblas.h>
#include <limits.h>
#define HAVE_BLAS 1
#else
#define HAVE_BLAS 0
#endif

/* the runtime switch (tests compare both paths); process-wide, read relaxed (a plain load) */
static _Atomic int use_blas = 1;

int dm_have_blas(void) { return HAVE_BLAS; }
void dm_set_use_blas(int on)
{
    atomic_store_explicit(&use_blas, on ? 1 : 0, memory_order_relaxed);
}
static inline int blas_on(void) { return atomic_load_explicit(&use_blas, memory_order_relaxed); }

/* ---- small products ---------------------------------------------------------------------
 * A BLAS call costs a few thousand instructions before any arithmetic (argument checks,
 * buffer set-up, packing), which is most of a [16 x 2] @ [2 x 64] product.  Small products
 * run here instead, in float like BLAS, register-blocked on 4-float vectors (GCC/Clang
 * vector extensions; SSE2 at least):
 *   axpy form: row i of C = sum over p of A(i, p) * (row p of B), B read row-major [k x n]
 *              (a B stored transposed is first copied to that layout: at most SMALL_KN floats)
 *   dot form:  C(i, j) = dot(row i of A, row j of B) when both are stored along k (A not
 *              transposed, B transposed) and k is long enough for a dot to pay
 *   few columns (n < 8) and many rows: C^T = op(B)^T op(A)^T is computed, with long rows. */
#define SMALL_WORK 32768            /* m * n * k at most */
#define SMALL_KN 4096               /* k * n (and m * n when transposing) at most */

#if defined(__GNUC__) || defined(__clang__)
/* 8 floats: one AVX register, or two SSE registers on the baseline; lanes are computed
 * independently, so both give bit-identical results */
typedef float v8f __attribute__((vector_size(32)));
/* macros, not functions: a function taking or returning v8f has a different ABI with and
   without AVX, which GCC warns about */
#define ld8(p) ({ v8f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define st8(p, v) do { v8f w_ = (v); memcpy((p), &w_, sizeof w_); } while (0)
#define hsum8(v) (((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7]))
#define HAVE_V8F 1
#else
#define HAVE_V8F 0
#endif
/* (not under ThreadSanitizer: see core/ops/elementwise.c) */
#if HAVE_V8F && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(__SANITIZE_THREAD__)
#define DM_AVX_CLONES __attribute__((target_clones("avx", "default")))
#else
#define DM_AVX_CLONES
#endif

DM_MAYBE_UNUSED static int small_ok(int64_t m, int64_t n, int64_t k)
{
    return HAVE_V8F && m * n * k <= SMALL_WORK && k * n <= SMALL_KN;
}

#if HAVE_V8F
static inline float dot(const float *x, const float *y, int64_t k)
{
    v8f s0 = { 0 };
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) s0 += ld8(x + p) * ld8(y + p);
    float t = hsum8(s0);
    for (; p < k; p++) t += x[p] * y[p];
    return t;
}

/* c[j] = alpha * v[j] + beta * c[j] (c not read when beta is 0) for 8 columns */
#define out8(c, v, alpha, beta) do { \
        v8f o_ = (v) * (alpha); \
        if ((beta) != 0.0f) o_ += ld8(c) * (beta); \
        st8((c), o_); \
    } while (0)

DM_AVX_CLONES
DM_MAYBE_UNUSED static void gemm_small(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc)
{
    if (transb && !transa && k >= 16) {
        // C(i, j) = dot(a[i, :], b[j, :])
        for (int64_t i = 0; i < m; i++) {
            float *ci = c + i * ldc;
            for (int64_t j = 0; j < n; j++) {
                float v = alpha * dot(a + i * lda, b + j * ldb, k);
                ci[j] = beta == 0.0f ? v : v + beta * ci[j];
            }
        }
        return;
    }
    if (n < 8 && m >= 2 * n && m * n <= SMALL_KN && k * m <= SMALL_KN) {
        /* (the inner call's operands obey the same k * n bound as ours) */
        float d[SMALL_KN];          // d = C^T [n x m]
        gemm_small(!transb, !transa, n, m, k, alpha, b, ldb, a, lda, 0.0f, d, m);
        for (int64_t j = 0; j < n; j++) {        /* C = D^T (+ beta C), a column at a time */
            const float *dj = d + j * m;
            float *cj = c + j;
            if (beta == 0.0f) for (int64_t i = 0; i < m; i++) cj[i * ldc] = dj[i];
            else for (int64_t i = 0; i < m; i++) cj[i * ldc] = dj[i] + beta * cj[i * ldc];
        }
        return;
    }
    float bt[SMALL_KN];
    if (transb) {                   /* b is stored [n x k]: lay it out as [k x n] */
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < n; j++) bt[p * n + j] = b[j * ldb + p];
        b = bt;
        ldb = n;
    }
    // row i of C from 32 (then 8, then 1) columns at a time, accumulated in registers
    const int64_t sa_i = transa ? 1 : lda, sa_p = transa ? lda : 1;
    for (int64_t i = 0; i < m; i++) {
        const float *ai = a + i * sa_i;
        float *ci = c + i * ldc;
        int64_t j = 0;
        for (; j + 32 <= n; j += 32) {
            v8f c0 = { 0 }, c1 = c0, c2 = c0, c3 = c0;
            const float *bp = b + j;
            for (int64_t p = 0; p < k; p++, bp += ldb) {
                const float av = ai[p * sa_p];
                c0 += ld8(bp) * av;
                c1 += ld8(bp + 8) * av;
                c2 += ld8(bp + 16) * av;
                c3 += ld8(bp + 24) * av;
            }
            out8(ci + j, c0, alpha, beta);
            out8(ci + j + 8, c1, alpha, beta);
            out8(ci + j + 16, c2, alpha, beta);
            out8(ci + j + 24, c3, alpha, beta);
        }
        for (; j + 8 <= n; j += 8) {
            v8f c0 = { 0 };
            const float *bp = b + j;
            for (int64_t p = 0; p < k; p++, bp += ldb) c0 += ld8(bp) * ai[p * sa_p];
            out8(ci + j, c0, alpha, beta);
        }
        for (; j < n; j++) {
            float v = 0.0f;
            for (int64_t p = 0; p < k; p++) v += ai[p * sa_p] * b[p * ldb + j];
            ci[j] = beta == 0.0f ? alpha * v : alpha * v + beta * ci[j];
        }
    }
}
#endif

#if HAVE_BLAS
/* A leading dimension BLAS accepts: at least the stored row length, and at least 1.  When
 * the stored matrix has a single row its ld is never used, so any caller value is fine and
 * we substitute a valid one.  Returns 0 when the caller's value cannot be passed on. */
static int fix_ld(int64_t rows, int64_t cols, int64_t *ld)
{
    int64_t need = cols > 1 ? cols : 1;
    if (rows <= 1) *ld = need;
    return *ld >= need && *ld <= INT_MAX;
}

/* Can this product go to BLAS (switched on, k > 0, sizes and lds fit int)?  The leading
 * dimensions are fixed up in place (fix_ld). */
static int blas_args(int transa, int transb, int64_t m, int64_t n, int64_t k, int64_t *la,
                     int64_t *lb, int64_t *lc)
{
    return blas_on() && k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX
        && fix_ld(transa ? k : m, transa ? m : k, la)
        && fix_ld(transb ? n : k, transb ? k : n, lb)
        && fix_ld(m, n, lc);
}
#endif

void dm_gemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
             float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
#if HAVE_BLAS
    /* k == 0 only scales C; the naive loop does that without BLAS's ld checks on A and B */
#if HAVE_V8F
    if (blas_on() && k > 0 && small_ok(m, n, k)) {
        gemm_small(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    int64_t la = lda, lb = ldb, lc = ldc;
    if (blas_args(transa, transb, m, n, k, &la, &lb, &lc)) {
        cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                    transb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha,
                    a, (int)la, b, (int)lb, beta, c, (int)lc);
        return;
    }
#endif
    dm_gemm_naive(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* the same for double: cblas_dgemm, or the naive kernel (no small-product path: float64
   is for accuracy, not for the tiny products of a training step) */
void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
              double *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
#if HAVE_BLAS
    int64_t la = lda, lb = ldb, lc = ldc;
    if (blas_args(transa, transb, m, n, k, &la, &lb, &lc)) {
        cblas_dgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                    transb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha,
                    a, (int)la, b, (int)lb, beta, c, (int)lc);
        return;
    }
#endif
    dm_dgemm_naive(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- threads -------------------------------------------------------------------------- */

static _Atomic int nthreads;        /* 0 = not set: BLAS's own default */

int dm_set_num_threads(int n)
{
    if (n < 1) {
        dm_seterr("set_num_threads: expected a positive number of threads, got %d", n);
        return -1;
    }
    nthreads = n;
#if HAVE_BLAS
    openblas_set_num_threads(n);
#endif
    return 0;
}

int dm_get_num_threads(void)
{
#if HAVE_BLAS
    return openblas_get_num_threads();
#else
    return nthreads > 0 ? nthreads : 1;
#endif
}

const char *dm_blas_info(void)
{
#if HAVE_BLAS
    static _Thread_local char buf[256];  /* filled once per thread: no race, no lock */
    if (!buf[0]) {
        const char *cfg = openblas_get_config(), *core = openblas_get_corename();
        snprintf(buf, sizeof buf, "%s (core %s)", cfg ? cfg : "OpenBLAS", core ? core : "?");
    }
    return buf;
#else
    return "naive kernels (built without BLAS)";
#endif
}

/* the thread count set by dm_set_num_threads (0: not set), for the kernels' own parallel
   sections (par.c), and BLAS's count changed for the length of one */
int dm__cpu_threads(void)
{
    return nthreads;
}

void dm__blas_threads(int n)
{
#if HAVE_BLAS
    openblas_set_num_threads(n);
#else
    (void)n;
#endif
}
