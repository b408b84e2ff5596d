/* loops.h -- what the cpu kernels and the backward rules' loops share: the vectorising loop
 * shapes, the AVX clones, and the formulas' constants (the reference kernels in ref/ spell
 * their formulas out for themselves, in double). */
#ifndef DM_LOOPS_H
#define DM_LOOPS_H

#include <stdint.h>

/* The kernels also get an AVX copy, picked at load time where the CPU has AVX (GCC's target
 * clones): 8 floats per instruction instead of 4.  Without FMA contraction (C11 mode) and with
 * the same libm calls, both copies give bit-identical results.  A file using them also sets
 * #pragma GCC optimize("O3"): -O2's vectorizer ("very cheap" cost model) skips loops whose
 * trip count is not known to be a multiple of the vector width; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2.
 * Not under ThreadSanitizer: the loader runs the clones' resolvers before its runtime is up,
 * and the instrumented resolver crashes. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
#define DM_AVX_CLONES __attribute__((target_clones("avx", "default")))
#else
#define DM_AVX_CLONES
#endif

/* for (i = 0; i < n; i++) BODY, split so the main loop's trip count is a multiple of 8:
 * GCC's -O2 vectoriser (the "very cheap" cost model) only takes loops it needs no scalar
 * epilogue for. */
#define VLOOP(n, ...) do {                                                                  \
        int64_t n_ = (n), m_ = n_ & ~(int64_t)7;                                            \
        for (int64_t i = 0; i < m_; i++) { __VA_ARGS__ }                                    \
        for (int64_t i = m_; i < n_; i++) { __VA_ARGS__ }                                   \
    } while (0)

/* the same over a strided row x (stride sx) of n elements of type T, the element named v */
#define ROWLOOP_T(T, ...) do {                                                              \
        if (sx == 1) VLOOP(n, const T v = x[i]; __VA_ARGS__);                               \
        else for (int64_t i = 0; i < n; i++) { const T v = x[i * sx]; __VA_ARGS__ }         \
    } while (0)

/* torch.selu is elu with these (scale * alpha on the negative side, computed in the
   tensor's type) */
#define SELU_ALPHA_D 1.6732632423543772848170429916717
#define SELU_SCALE_D 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
/* gelu (exact): x * Phi(x); its derivative uses Phi and the normal density */
#define GELU_ALPHA_D 0.70710678118654752440                                  /* 1/sqrt(2) */
#define GELU_BETA_D (1.12837916709551257390 * 0.70710678118654752440 * 0.5)  /* 1/sqrt(2 pi) */
#define GELU_ALPHA ((float)GELU_ALPHA_D)
#define GELU_BETA ((float)GELU_BETA_D)
/* the constant c in the type of x */
#define KT(x, c) _Generic((x), float: c, default: c##_D)

#define SIGN_OF(x) ((0 < (x)) - ((x) < 0))        /* sign(NaN) = 0 */

/* int64 arithmetic wraps around as PyTorch's (two's complement), without C's overflow UB */
#define WRAP(x, OP, y) ((int64_t)((uint64_t)(x) OP (uint64_t)(y)))

#endif
