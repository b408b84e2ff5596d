/* cpu/optim.c -- the cpu device's optimizer updates (backend.h: sgd, adam): PyTorch 1.13's
 * single-tensor SGD, Adam and AdamW, one element at a time with the same float32 operations
 * in the same order (core/ops/optim.c's comments give the formulas), the common SGD cases in
 * loops of their own that vectorize.  The reference is ref/optim.c. */
#include "internal.h"
#include "cpu.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>

/* fmaf is one instruction on processors with FMA, but without -mfma the compiler must call
 * libm's software fmaf, ~30 instructions per element.  The update loops are therefore
 * compiled twice, for FMA and for the baseline, and the loader picks one (GCC's
 * target_clones; elsewhere the baseline only).  Both compute the same correctly rounded
 * fmaf, so results do not depend on the machine. */
/* not under ThreadSanitizer: the loader runs the clones' resolvers before its runtime is up,
   and the instrumented resolver crashes */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
#define DM_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define DM_FMA_CLONES
#endif

/* The update loops, one definition per element type T (float with fmaf/sqrtf, double with
 * fma/sqrt): the same expressions in the same order for both. */
/* the two common cases in loops of their own, which vectorize (the same expressions as the
   general loop below) */
#define DEF_SGD(SFX, T, FMA) \
static inline void sgd_plain##SFX(int64_t n, T *restrict pd, const T *restrict gd, T neglr) \
{ \
    for (int64_t i = 0; i < n; i++) pd[i] = FMA(neglr, gd[i], pd[i]); \
} \
static inline void sgd_momentum##SFX(int64_t n, T *restrict pd, const T *restrict gd, \
                                     T *restrict bd, T mom, T damp1, T neglr) \
{ \
    for (int64_t i = 0; i < n; i++) { \
        T b = FMA(damp1, gd[i], bd[i] * mom); \
        bd[i] = b; \
        pd[i] = FMA(neglr, b, pd[i]); \
    } \
} \
DM_FMA_CLONES \
static void sgd_loop##SFX(int64_t n, T *pd, const T *gd, T *bd, T wd, T mom, T damp1, \
                          T neglr, int use_wd, int use_mom, int nesterov, int maximize, \
                          int first) \
{ \
    if (!maximize && !use_wd && !nesterov && !first && pd != gd && pd != bd && gd != bd) { \
        if (use_mom) sgd_momentum##SFX(n, pd, gd, bd, mom, damp1, neglr); \
        else sgd_plain##SFX(n, pd, gd, neglr); \
        return; \
    } \
    for (int64_t i = 0; i < n; i++) { \
        T d = maximize ? -gd[i] : gd[i]; \
        if (use_wd) d = FMA(wd, pd[i], d); \
        if (use_mom) { \
            T b = first ? d : FMA(damp1, d, bd[i] * mom); \
            bd[i] = b; \
            d = nesterov ? FMA(mom, b, d) : b; \
        } \
        pd[i] = FMA(neglr, d, pd[i]); \
    } \
}
DEF_SGD(_f32, float, fmaf)
DEF_SGD(_f64, double, fma)

#define DEF_ADAM(SFX, T, FMA, SQRT) \
DM_FMA_CLONES \
static void adam_loop##SFX(int64_t n, T *pd, const T *gd, T *md, T *vd, T *xd, \
                           T neg_step_size, T bc2_sqrt, T b1, T b2, T omb1, T omb2, T wd, \
                           T decay, T epsf, int l2, int decoupled, int maximize) \
{ \
    for (int64_t i = 0; i < n; i++) { \
        T g = maximize ? -gd[i] : gd[i]; \
        if (l2) g = FMA(wd, pd[i], g); \
        if (decoupled) pd[i] = pd[i] * decay; \
        T m = FMA(omb1, g, md[i] * b1); \
        T v = FMA(omb2 * g, g, vd[i] * b2); \
        md[i] = m; \
        vd[i] = v; \
        if (xd) { \
            /* torch.maximum: NaN wins */ \
            T x = xd[i]; \
            if (v > x || v != v) x = v; \
            xd[i] = x; \
            v = x; \
        } \
        T denom = SQRT(v) / bc2_sqrt + epsf; \
        pd[i] = pd[i] + neg_step_size * m / denom; \
    } \
}
DEF_ADAM(_f32, float, fmaf, sqrtf)
DEF_ADAM(_f64, double, fma, sqrt)

void dm__cpu_sgd(dm_dtype dt, int64_t n, void *p, const void *g, void *buf,
                 const dm_sgd_par *s)
{
    int use_wd = s->weight_decay != 0, use_mom = s->momentum != 0;
    if (dt == DM_FLOAT32)
        sgd_loop_f32(n, p, g, buf, (float)s->weight_decay, (float)s->momentum,
                     (float)(1 - s->dampening), (float)(-s->lr), use_wd, use_mom, s->nesterov,
                     s->maximize, s->first);
    else
        sgd_loop_f64(n, p, g, buf, s->weight_decay, s->momentum, 1 - s->dampening, -s->lr,
                     use_wd, use_mom, s->nesterov, s->maximize, s->first);
}

void dm__cpu_adam(dm_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, void *vmax,
                  const dm_adam_par *s)
{
    if (dt == DM_FLOAT64) {
        adam_loop_f64(n, p, g, m, v, vmax, s->neg_step_size, s->bc2_sqrt, s->beta1, s->beta2,
                      1 - s->beta1, 1 - s->beta2, s->weight_decay, s->decay, s->eps, s->l2,
                      s->decoupled, s->maximize);
        return;
    }
    adam_loop_f32(n, p, g, m, v, vmax, (float)s->neg_step_size, (float)s->bc2_sqrt,
                  (float)s->beta1, (float)s->beta2, (float)(1 - s->beta1), (float)(1 - s->beta2),
                  (float)s->weight_decay, (float)s->decay, (float)s->eps, s->l2, s->decoupled,
                  s->maximize);
}
