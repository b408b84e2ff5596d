/* ref/loss.c -- the naive losses: the cpu:ref device's, and the reference for cpu/loss.c
 * (backend.h: loss, loss_bw, nll, nll_bw, ce_log_softmax, cross_entropy, cross_entropy_bw).
 * One obvious loop per kind; every value loaded as a double, every result computed in double
 * and stored rounded once to the element type; sums element by element in order.  The
 * formulas are PyTorch 1.13's, written in their plainest stable form. */
#include "internal.h"
#include "ref.h"
#include <math.h>

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void st(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* an optional operand (weight, pos_weight, class weight): 1 when absent */
static double opt(dm_dtype dt, const void *p, int64_t i)
{
    return p ? ld(dt, p, i) : 1.0;
}

/* log clamped below at -100, as binary_cross_entropy */
static double clamped_log(double v)
{
    double l = log(v);
    return l < -100 ? -100 : l;
}

/* softplus(v) = log(1 + e^v), stable */
static double softplus(double v)
{
    return (v > 0 ? v : 0) + log1p(exp(-fabs(v)));
}

static double sgn(double v)
{
    return v > 0 ? 1 : v < 0 ? -1 : 0;
}

double dm__ref_loss(dm_dtype dt, int k, int64_t n, const void *x, const void *t, const void *w,
                    const void *pw, double par, void *out)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double xv = ld(dt, x, i), tv = ld(dt, t, i), wv = opt(dt, w, i), l = 0;
        double z = fabs(xv - tv);
        switch (k) {
        case DM_LOSS_BCE:           /* -w (t log x + (1 - t) log(1 - x)) */
            l = -wv * (tv * clamped_log(xv) + (1 - tv) * clamped_log(1 - xv));
            break;
        case DM_LOSS_BCE_LOGITS:    /* w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)) */
            l = wv * ((1 - tv) * xv + (1 + (opt(dt, pw, i) - 1) * tv) * softplus(-xv));
            break;
        case DM_LOSS_MSE: l = (xv - tv) * (xv - tv); break;
        case DM_LOSS_L1: l = z; break;
        case DM_LOSS_SMOOTH_L1: l = z < par ? 0.5 * z * z / par : z - 0.5 * par; break;
        case DM_LOSS_HUBER: l = z < par ? 0.5 * z * z : par * (z - 0.5 * par); break;
        default: break;
        }
        if (out) st(dt, out, i, l);
        else sum += l;
    }
    return out ? 0 : sum;
}

void dm__ref_loss_bw(dm_dtype dt, int k, int64_t n, const void *x, const void *t,
                     const void *w, const void *pw, double par, const void *go, double g0,
                     void *dx, void *dt_)
{
    for (int64_t i = 0; i < n; i++) {
        double xv = ld(dt, x, i), tv = ld(dt, t, i), wv = opt(dt, w, i);
        double g = go ? ld(dt, go, i) : g0, d = xv - tv, gx = 0, gt = 0;
        switch (k) {
        case DM_LOSS_BCE:           /* w (x - t) / max(x (1 - x), 1e-12) */
            gx = g * wv * d / fmax(xv * (1 - xv), 1e-12);
            gt = g * wv * (clamped_log(1 - xv) - clamped_log(xv));
            break;
        case DM_LOSS_BCE_LOGITS: {  /* w ((1 + (pw - 1) t) sigmoid(x) - pw t) */
            double p = opt(dt, pw, i);
            gx = g * wv * ((1 + (p - 1) * tv) / (1 + exp(-xv)) - p * tv);
            gt = g * wv * (-xv + (p - 1) * softplus(-xv));
            break;
        }
        case DM_LOSS_MSE: gx = 2 * d * g; break;
        case DM_LOSS_L1: gx = sgn(d) * g; break;
        case DM_LOSS_SMOOTH_L1: gx = fabs(d) < par ? d / par * g : sgn(d) * g; break;
        case DM_LOSS_HUBER: gx = fabs(d) < par ? d * g : sgn(d) * par * g; break;
        default: break;
        }
        if (k != DM_LOSS_BCE && k != DM_LOSS_BCE_LOGITS) gt = -gx;
        if (dx) st(dt, dx, i, gx);
        if (dt_) st(dt, dt_, i, gt);
    }
}

void dm__ref_nll(dm_dtype dt, const void *x, const dm_class_loss *L, int none, void *o,
                 double *sum, double *tw)
{
    for (int64_t i = 0; i < L->N; i++) {
        int64_t c = L->cls[i];
        double l = 0;
        if (c >= 0) {
            double w = opt(dt, L->wb, c * L->ws);
            l = -w * ld(dt, x, i * L->sn + c * L->sc);
            *tw += w;
        }
        if (none) st(dt, o, i, l);
        else *sum += l;
    }
}

void dm__ref_nll_bw(dm_dtype dt, const dm_class_loss *L, const void *go, double g0, void *d)
{
    for (int64_t i = 0; i < L->N; i++) {
        int64_t c = L->cls[i];
        if (c >= 0)
            st(dt, d, i * L->C + c, -opt(dt, L->wb, c * L->ws) * (go ? ld(dt, go, i) : g0));
    }
}

/* lp_ic = x_ic - m_i - log sum_c exp(x_ic - m_i), m_i the row's max (0 for a row of -inf
   or with a NaN) */
void dm__ref_ce_log_softmax(dm_dtype dt, const void *x, const dm_class_loss *L, void *lp)
{
    for (int64_t i = 0; i < L->N; i++) {
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < L->C; c++) m = fmax(m, ld(dt, x, i * L->sn + c * L->sc));
        if (m == -INFINITY || isnan(m)) m = 0;
        for (int64_t c = 0; c < L->C; c++) s += exp(ld(dt, x, i * L->sn + c * L->sc) - m);
        for (int64_t c = 0; c < L->C; c++)
            st(dt, lp, i * L->C + c, ld(dt, x, i * L->sn + c * L->sc) - m - log(s));
    }
}

/* the coefficient of -lp_ic in row i's loss (before the incoming gradient): w_c t'_ic for
   probabilities (t' the smoothed target), else (1 - ls) w_t [c == t] + ls / C w_c for a row
   not ignored */
static double coef(dm_dtype dt, const dm_class_loss *L, int64_t i, int64_t c)
{
    double w = opt(dt, L->wb, c * L->ws), C = (double)L->C;
    if (!L->cls) {
        double t = ld(dt, L->tb, i * L->tn + c * L->tc);
        return w * (L->ls > 0 ? t * (1 - L->ls) + L->ls / C : t);
    }
    int64_t t = L->cls[i];
    if (t < 0) return 0;
    return (c == t ? (1 - L->ls) * w : 0) + L->ls / C * w;
}

void dm__ref_cross_entropy(dm_dtype dt, const void *lp, const dm_class_loss *L, int none,
                           void *o, double *sum, double *div)
{
    *div = L->cls ? 0 : (double)L->N;
    for (int64_t i = 0; i < L->N; i++) {
        double l = 0;
        for (int64_t c = 0; c < L->C; c++) l -= coef(dt, L, i, c) * ld(dt, lp, i * L->C + c);
        if (L->cls && L->cls[i] >= 0) *div += opt(dt, L->wb, L->cls[i] * L->ws);
        if (none) st(dt, o, i, l);
        else *sum += l;
    }
}

/* d/dx_ik = g_i (softmax_ik sum_c a_ic - a_ik), a the coefficients; d/dt_ik (probabilities)
   = -g_i w_k (1 - ls) lp_ik */
void dm__ref_cross_entropy_bw(dm_dtype dt, const void *lp, const dm_class_loss *L,
                              const void *go, double g0, double *a, void *dx, void *dtg)
{
    for (int64_t i = 0; i < L->N; i++) {
        double g = go ? ld(dt, go, i) : g0, S = 0;
        for (int64_t c = 0; c < L->C; c++) S += a[c] = coef(dt, L, i, c);
        for (int64_t c = 0; c < L->C; c++) {
            double l = ld(dt, lp, i * L->C + c);
            if (dx) st(dt, dx, i * L->C + c, g * (exp(l) * S - a[c]));
            if (dtg) st(dt, dtg, i * L->C + c, -g * opt(dt, L->wb, c * L->ws) * (1 - L->ls) * l);
        }
    }
}
