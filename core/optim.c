/* optim.c -- parameter updates of SGD, Adam and AdamW, written in place.
 *
 * These are PyTorch 1.13's single-tensor ("for-loop") implementations in torch/optim/sgd.py
 * and adam.py / adamw.py, one element at a time, with the same float32 operations in the
 * same order: each tensor op there (mul_, add_ with alpha, addcmul_, addcdiv_, sqrt, div by
 * a Python float) becomes one float expression here, its scalar rounded to float first as
 * aten does.  Scalars PyTorch computes in Python (bias corrections, step size) are doubles.
 * aten's CPU kernels (AVX2 and up) compute `a.add_(b, alpha=s)` as fma(b, s, a) and
 * `a.addcmul_(b, c, value=s)` as fma(s * b, c, a), with one rounding: so do we, with fmaf,
 * which makes the results bit-identical to PyTorch's on such machines.
 *
 * Callers run these with grad mode off (optimizers do); no autograd is recorded. */
#include "internal.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

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

/* every state tensor must have p's shape */
static int check_same(const char *fn, const char *what, const dm_tensor *t, const dm_tensor *p)
{
    if (t && !dm_same_shape(t, p)) {
        char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
        dm_seterr("%s: %s size %s differs from parameter size %s", fn, what, SHAPE(t, b1),
                  SHAPE(p, b2));
        return -1;
    }
    return 0;
}

/* Parameters and their state are float32 or float64 (PyTorch keeps the state in the
 * parameter's dtype); every tensor of one step has the parameter's dtype. */
static int check_dtype(const char *fn, const char *what, const dm_tensor *t, const dm_tensor *p)
{
    if (t && t->dtype != p->dtype) {
        dm_seterr("%s: %s dtype %s differs from parameter dtype %s", fn, what,
                  dm_dtype_name(t->dtype), dm_dtype_name(p->dtype));
        return -1;
    }
    return 0;
}

static int check_param(const char *fn, const dm_tensor *p)
{
    if (p->dtype != DM_FLOAT32 && p->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 parameter, got %s", fn,
                  dm_dtype_name(p->dtype));
        return -1;
    }
    return 0;
}

/* A contiguous view of t's values to update: its own data when contiguous, else a gathered
 * copy that put_back() scatters into t afterwards. */
/* t's values as a contiguous array d: t's own, or those of a copy (held) written back */
typedef struct { dm_tensor *t; void *d; dm_tensor *held; } span;

static int get_span(span *s, const dm_tensor *t)
{
    s->t = (dm_tensor *)t;
    s->held = NULL;
    s->d = NULL;
    if (!t) return 0;
    s->d = (void *)dm__contig_as(t, t->dtype, &s->held);
    return s->d ? 0 : -1;
}

static void put_back(span *s, int write)
{
    if (write && s->t) dm__bump(s->t);            /* a step is an in-place write (version) */
    if (!s->t || !s->held) return;
    if (write) dm__copy_convert(s->t, s->held);    /* the updated values into t's strides */
    dm_tensor_release(s->held);
    s->held = NULL;
}

/* torch.optim.SGD, per element:
 *   d = maximize ? -g : g                              (a + s * b below is fma(s, b, a))
 *   if weight_decay != 0:  d = d + wd * p
 *   if momentum != 0:      buf = first ? d : buf * momentum + (1 - dampening) * d
 *                          d = nesterov ? d + momentum * buf : buf
 *   p = p + (-lr) * d                                                                    */
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

int dm_sgd_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *buf, double lr,
                double momentum, double dampening, double weight_decay, int nesterov,
                int maximize, int first)
{
    const char *fn = "sgd_step";
    if (check_same(fn, "grad", grad, p) || check_same(fn, "momentum_buffer", buf, p))
        return -1;
    if ((p->dtype | (grad ? grad->dtype : DM_FLOAT32) | (buf ? buf->dtype : DM_FLOAT32)) != DM_FLOAT32 &&
        (check_param(fn, p) || check_dtype(fn, "grad", grad, p) ||
         check_dtype(fn, "momentum_buffer", buf, p)))
        return -1;
    if (momentum != 0 && !buf) {
        dm_seterr("%s: momentum %g needs a momentum buffer", fn, momentum);
        return -1;
    }
    if (nesterov && (momentum <= 0 || dampening != 0)) {
        dm_seterr("%s: nesterov momentum requires a momentum and zero dampening", fn);
        return -1;
    }
    span sp, sg, sb;
    get_span(&sp, NULL); get_span(&sg, NULL); get_span(&sb, NULL);
    if (get_span(&sp, p) || get_span(&sg, grad) || (momentum != 0 && get_span(&sb, buf))) {
        put_back(&sp, 0); put_back(&sg, 0); put_back(&sb, 0);
        return -1;
    }
    if (p->dtype == DM_FLOAT32)
        sgd_loop_f32(dm_numel(p), sp.d, sg.d, sb.d, (float)weight_decay, (float)momentum,
                     (float)(1 - dampening), (float)(-lr), weight_decay != 0, momentum != 0,
                     nesterov, maximize, first);
    else
        sgd_loop_f64(dm_numel(p), sp.d, sg.d, sb.d, weight_decay, momentum, 1 - dampening,
                     -lr, weight_decay != 0, momentum != 0, nesterov, maximize, first);
    put_back(&sp, 1); put_back(&sg, 0); put_back(&sb, 1);
    return 0;
}

#define DEF_ADAM(SFX, T) \
static void adam_loop##SFX(int64_t n, T *pd, const T *gd, T *md, T *vd, T *xd, \
                           T neg_step_size, T bc2_sqrt, T b1, T b2, T omb1, T omb2, T wd, \
                           T decay, T epsf, int l2, int decoupled, int maximize);
DEF_ADAM(_f32, float)
DEF_ADAM(_f64, double)

/* torch.optim.Adam (decoupled = 0) and AdamW (decoupled = 1), per element:
 *   g = maximize ? -g : g
 *   Adam:   if weight_decay != 0:  g = g + wd * p
 *   AdamW:  p = p * (1 - lr wd)
 *   m = m * beta1 + (1 - beta1) * g
 *   v = v * beta2 + (1 - beta2) * g * g
 *   bc1 = 1 - beta1^step, bc2 = 1 - beta2^step          (double, as Python computes them)
 *   amsgrad: vmax = max(vmax, v), and vmax replaces v below
 *   denom = sqrt(v) / sqrt(bc2) + eps
 *   p = p + (-lr / bc1) * m / denom                                                      */
int dm_adam_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *exp_avg,
                 dm_tensor *exp_avg_sq, dm_tensor *max_sq, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay,
                 int decoupled, int maximize)
{
    const char *fn = "adam_step";
    if (check_same(fn, "grad", grad, p) || check_same(fn, "exp_avg", exp_avg, p) ||
        check_same(fn, "exp_avg_sq", exp_avg_sq, p) ||
        check_same(fn, "max_exp_avg_sq", max_sq, p))
        return -1;
    if (!exp_avg || !exp_avg_sq) {
        dm_seterr("%s: exp_avg and exp_avg_sq are required", fn);
        return -1;
    }
    if (step < 1) {
        dm_seterr("%s: step must be at least 1, got %lld", fn, (long long)step);
        return -1;
    }
    if ((p->dtype | (grad ? grad->dtype : DM_FLOAT32) | exp_avg->dtype | exp_avg_sq->dtype |
         (max_sq ? max_sq->dtype : DM_FLOAT32)) != DM_FLOAT32 &&
        (check_param(fn, p) || check_dtype(fn, "grad", grad, p) ||
         check_dtype(fn, "exp_avg", exp_avg, p) || check_dtype(fn, "exp_avg_sq", exp_avg_sq, p) ||
         check_dtype(fn, "max_exp_avg_sq", max_sq, p)))
        return -1;
    span sp, sg, sm, sv, sx;
    get_span(&sp, NULL); get_span(&sg, NULL); get_span(&sm, NULL);
    get_span(&sv, NULL); get_span(&sx, NULL);
    if (get_span(&sp, p) || get_span(&sg, grad) || get_span(&sm, exp_avg) ||
        get_span(&sv, exp_avg_sq) || get_span(&sx, max_sq)) {
        put_back(&sp, 0); put_back(&sg, 0); put_back(&sm, 0);
        put_back(&sv, 0); put_back(&sx, 0);
        return -1;
    }
    double bc1 = 1 - pow(beta1, (double)step), bc2 = 1 - pow(beta2, (double)step);
    const int l2 = !decoupled && weight_decay != 0;
    if (p->dtype == DM_FLOAT64) {
        adam_loop_f64(dm_numel(p), sp.d, sg.d, sm.d, sv.d, sx.d, -(lr / bc1), sqrt(bc2), beta1,
                      beta2, 1 - beta1, 1 - beta2, weight_decay, 1 - lr * weight_decay, eps,
                      l2, decoupled, maximize);
        goto done;
    }
    const float neg_step_size = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)beta1, b2 = (float)beta2;
    const float omb1 = (float)(1 - beta1), omb2 = (float)(1 - beta2);
    const float wd = (float)weight_decay, decay = (float)(1 - lr * weight_decay);
    const float epsf = (float)eps;
    adam_loop_f32(dm_numel(p), sp.d, sg.d, sm.d, sv.d, sx.d, neg_step_size, bc2_sqrt, b1, b2,
                  omb1, omb2, wd, decay, epsf, l2, decoupled, maximize);
done:
    put_back(&sp, 1); put_back(&sg, 0); put_back(&sm, 1);
    put_back(&sv, 1); put_back(&sx, 1);
    return 0;
}

#undef DEF_ADAM
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
