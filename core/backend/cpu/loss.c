/* cpu/loss.c -- the cpu device's loss kernels (backend.h: loss, loss_bw, nll, nll_bw,
 * ce_log_softmax, cross_entropy, cross_entropy_bw), one definition per floating type from
 * loss_gen.h.  The formulas are PyTorch 1.13's (aten/src/ATen/native/Loss.cpp, LossNLL.cpp
 * and derivatives.yaml), with the sums accumulated in double.  The reference is ref/loss.c. */
#include "internal.h"
#include "cpu.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see vmath.h */
#endif
#include "vmath.h"    /* after the pragma (see there) */
#include <math.h>

#define BCE_EPSILON 1e-12     /* PyTorch's clamp of x (1 - x) in the BCE gradient */

/* ====================================================================================
 * Elementwise losses: bce, bce with logits, mse, l1, smooth l1, huber
 * ==================================================================================== */

/* max(log(v), -100) as PyTorch's binary_cross_entropy */
static inline double clamped_log(double v)
{
    double l = log(v);
    return l < -100 ? -100 : l;
}

/* loss of one element; w, pw are 1 when absent */
static inline double elem_loss(dm_loss_kind k, double x, double t, double w, double pw,
                               double par)
{
    double d, z;
    switch (k) {
    case DM_LOSS_BCE:
        return w * ((t - 1) * clamped_log(1 - x) - t * clamped_log(x));
    case DM_LOSS_BCE_LOGITS: {
        /* (1 - t) x + (1 + (pw - 1) t) (log(exp(-m) + exp(-x - m)) + m), m = max(-x, 0) */
        double m = -x > 0 ? -x : 0;
        double lw = (pw - 1) * t + 1;
        return w * ((1 - t) * x + lw * (log(exp(-m) + exp(-x - m)) + m));
    }
    case DM_LOSS_MSE:
        d = x - t;
        return d * d;
    case DM_LOSS_L1:
        return fabs(x - t);
    case DM_LOSS_SMOOTH_L1:         /* par = beta > 0 */
        z = fabs(x - t);
        return z < par ? 0.5 * z * z / par : z - 0.5 * par;
    case DM_LOSS_HUBER:             /* par = delta > 0 */
        z = fabs(x - t);
        return z < par ? 0.5 * z * z : par * (z - 0.5 * par);
    default:
        return 0;
    }
}

/* d loss / d x of one element, times g (which already holds the mean's 1/n) */
static inline double elem_dx(dm_loss_kind k, double x, double t, double w, double pw,
                             double par, double g)
{
    double d;
    switch (k) {
    case DM_LOSS_BCE: {
        double den = (1 - x) * x;
        if (den < BCE_EPSILON) den = BCE_EPSILON;
        return g * (x - t) / den * w;
    }
    case DM_LOSS_BCE_LOGITS: {
        double s = 1 / (1 + exp(-x));
        double pt = pw * t;
        return ((pt + 1 - t) * s - pt) * g * w;
    }
    case DM_LOSS_MSE:
        return 2 * (x - t) * g;
    case DM_LOSS_L1:
        d = x - t;
        return d > 0 ? g : d < 0 ? -g : 0;
    case DM_LOSS_SMOOTH_L1:
        d = x - t;
        return d <= -par ? -g : d >= par ? g : d * g / par;
    case DM_LOSS_HUBER:
        d = x - t;
        return d <= -par ? -g * par : d >= par ? g * par : d * g;
    default:
        return 0;
    }
}

/* d loss / d t of one element, times g */
static inline double elem_dt(dm_loss_kind k, double x, double t, double w, double pw,
                             double par, double g)
{
    switch (k) {
    case DM_LOSS_BCE:               /* PyTorch's binary_cross_entropy_target_backward */
        return g * w * (clamped_log(1 - x) - clamped_log(x));
    case DM_LOSS_BCE_LOGITS: {      /* -x + (pw - 1) softplus(-x) */
        double sp = (-x > 0 ? -x : 0) + log1p(exp(-fabs(x)));
        return g * w * (-x + (pw - 1) * sp);
    }
    default:                        /* the rest depend on x - t only */
        return -elem_dx(k, x, t, w, pw, par, g);
    }
}

/* The loops below are instantiated once per kind (K a constant), so that elem_* inline
 * into straight-line code with no switch per element. */
#define FOR_EACH_KIND(k, LOOP) do { switch (k) { \
    case DM_LOSS_BCE: LOOP(DM_LOSS_BCE); break; \
    case DM_LOSS_BCE_LOGITS: LOOP(DM_LOSS_BCE_LOGITS); break; \
    case DM_LOSS_MSE: LOOP(DM_LOSS_MSE); break; \
    case DM_LOSS_L1: LOOP(DM_LOSS_L1); break; \
    case DM_LOSS_SMOOTH_L1: LOOP(DM_LOSS_SMOOTH_L1); break; \
    case DM_LOSS_HUBER: LOOP(DM_LOSS_HUBER); break; \
    default: break; } } while (0)

#define T float
#define S f
#define TEXP dm_vexpf      /* inline, vectorisable; float64 stays on libm */
#include "loss_gen.h"
#define T double
#define S d
#define TEXP exp
#include "loss_gen.h"

double dm__cpu_loss(dm_dtype dt, int k, int64_t n, const void *x, const void *t, const void *w,
                    const void *pw, double par, void *out)
{
    return dt == DM_FLOAT32 ? forward_kernel_f((dm_loss_kind)k, n, x, t, w, pw, par, out)
                            : forward_kernel_d((dm_loss_kind)k, n, x, t, w, pw, par, out);
}

void dm__cpu_loss_bw(dm_dtype dt, int k, int64_t n, const void *x, const void *t,
                     const void *w, const void *pw, double par, const void *go, double g0,
                     void *dx, void *dt_)
{
    if (dt == DM_FLOAT32) backward_kernel_f((dm_loss_kind)k, n, x, t, w, pw, par, go, g0, dx, dt_);
    else backward_kernel_d((dm_loss_kind)k, n, x, t, w, pw, par, go, g0, dx, dt_);
}

void dm__cpu_nll(dm_dtype dt, const void *x, const dm_class_loss *L, int none, void *o,
                 double *sum, double *tw)
{
    if (dt == DM_FLOAT32) nll_fwd_f(x, L, none, o, sum, tw);
    else nll_fwd_d(x, L, none, o, sum, tw);
}

void dm__cpu_nll_bw(dm_dtype dt, const dm_class_loss *L, const void *go, double g0, void *d)
{
    if (dt == DM_FLOAT32) nll_bw_f(L, go, g0, d);
    else nll_bw_d(L, go, g0, d);
}

void dm__cpu_ce_log_softmax(dm_dtype dt, const void *x, const dm_class_loss *L, void *lp)
{
    if (dt == DM_FLOAT32) log_softmax_rows_f(x, L, lp);
    else log_softmax_rows_d(x, L, lp);
}

void dm__cpu_cross_entropy(dm_dtype dt, const void *lp, const dm_class_loss *L, int none,
                           void *o, double *sum, double *div)
{
    if (dt == DM_FLOAT32) ce_fwd_f(lp, L, none, o, sum, div);
    else ce_fwd_d(lp, L, none, o, sum, div);
}

void dm__cpu_cross_entropy_bw(dm_dtype dt, const void *lp, const dm_class_loss *L,
                              const void *go, double g0, double *a, void *dx, void *dtg)
{
    if (dt == DM_FLOAT32) ce_bw_f(lp, L, go, g0, a, dx, dtg);
    else ce_bw_d(lp, L, go, g0, a, dx, dtg);
}
