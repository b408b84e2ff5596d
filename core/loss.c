/* loss.c -- loss functions, each one fused kernel forward and one backward.
 *
 * A training step evaluates a loss once per batch, so the losses are written as single
 * passes over the data (no chains of generic ops, no temporaries beyond the output) and
 * recorded as one node, DM_OP_LOSS, whose `sub` is the dm_loss_kind.  The formulas are
 * PyTorch 1.13's (aten/src/ATen/native/Loss.cpp, LossNLL.cpp and derivatives.yaml), with
 * the sums accumulated in double.
 *
 * Node layout (all kinds):
 *   in    {input, target, weight, pos_weight}   (elementwise kinds; unused entries NULL)
 *         {input, target, weight}               (nll, cross entropy)
 *   i[0]  reduction, i[1] ignore_index, i[2] 1 when cross entropy has probability targets
 *   f[0]  beta / delta / label_smoothing, f[1] the mean's divisor (nll, cross entropy)
 *   saved[0]  log_softmax of the input (cross entropy)
 */
#include "internal.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define BCE_EPSILON 1e-12     /* PyTorch's clamp of x (1 - x) in the BCE gradient */

static const char *loss_name[DM_LOSS_COUNT] = {
    [DM_LOSS_BCE] = "binary_cross_entropy",
    [DM_LOSS_BCE_LOGITS] = "binary_cross_entropy_with_logits",
    [DM_LOSS_MSE] = "mse_loss", [DM_LOSS_L1] = "l1_loss",
    [DM_LOSS_SMOOTH_L1] = "smooth_l1_loss", [DM_LOSS_HUBER] = "huber_loss",
    [DM_LOSS_NLL] = "nll_loss", [DM_LOSS_CROSS_ENTROPY] = "cross_entropy",
};

static int check_reduction(const char *fn, dm_reduction r)
{
    if (r != DM_REDUCTION_NONE && r != DM_REDUCTION_MEAN && r != DM_REDUCTION_SUM) {
        dm_seterr("%s: unknown reduction %d", fn, (int)r);
        return -1;
    }
    return 0;
}

/* element i of a 1-D tensor (any stride) */
static inline float at1(const dm_tensor *t, int64_t i)
{
    return dm__fbase(t)[t->offset + i * (t->ndim ? t->stride[0] : 0)];
}

/* t's values broadcast to shape (numel n), as a contiguous array: t's own data when it is
 * already contiguous with exactly that shape (*owned = 0), else a new buffer */
static float *bcast_data(const dm_tensor *t, int nd, const int64_t *shape, int64_t n,
                         int *owned)
{
    int same = t->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = t->shape[d] == shape[d];
    if (same && dm_is_contiguous(t)) { *owned = 0; return dm_data(t); }
    float *buf = dm__alloc_floats(n);
    if (!buf) return NULL;
    dm_iter it;
    dm_iter_init_bcast(&it, t, nd, shape);
    const float *base = dm__fbase(t);
    for (int64_t i = 0; i < n; i++) { buf[i] = base[it.off]; dm_iter_next(&it); }
    *owned = 1;
    return buf;
}

static int64_t shape_numel(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    return n;
}

/* an optional tensor (weight, pos_weight) must broadcast to the loss's shape */
static int check_bcast_to(const char *fn, const char *what, const dm_tensor *t, int nd,
                          const int64_t *shape)
{
    if (!t) return 0;
    int ok = t->ndim <= nd;
    for (int d = 0; ok && d < t->ndim; d++) {
        int64_t s = t->shape[d], o = shape[d + nd - t->ndim];
        if (s != o && s != 1) ok = 0;
    }
    if (!ok) {
        char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
        dm_seterr("%s: %s %s cannot be broadcast to input %s", fn, what, SHAPE(t, b1),
                  dm_shape_str(nd, shape, b2, sizeof b2));
        return -1;
    }
    return 0;
}

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

#define W_(i) (w ? (double)w[i] : 1.0)
#define PW_(i) (pw ? (double)pw[i] : 1.0)

/* the losses of n elements (all arrays contiguous, w and pw may be NULL): written to out
 * (then 0 is returned), or summed when out is NULL (four partial sums: no serial chain) */
static double forward_kernel(dm_loss_kind k, int64_t n, const float *x, const float *t,
                             const float *w, const float *pw, double par, float *out)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#define FWD_LOOP(K) \
    if (out) { \
        for (int64_t i = 0; i < n; i++) \
            out[i] = (float)elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
    } else { \
        int64_t i = 0; \
        for (; i + 4 <= n; i += 4) { \
            s0 += elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
            s1 += elem_loss(K, x[i + 1], t[i + 1], W_(i + 1), PW_(i + 1), par); \
            s2 += elem_loss(K, x[i + 2], t[i + 2], W_(i + 2), PW_(i + 2), par); \
            s3 += elem_loss(K, x[i + 3], t[i + 3], W_(i + 3), PW_(i + 3), par); \
        } \
        for (; i < n; i++) s0 += elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
    }
    FOR_EACH_KIND(k, FWD_LOOP);
#undef FWD_LOOP
    return (s0 + s1) + (s2 + s3);
}

/* gradients of n elements into dx and/or dt (either may be NULL); the incoming gradient
 * is go[i] when go is given, else g0 for every element */
static void backward_kernel(dm_loss_kind k, int64_t n, const float *x, const float *t,
                            const float *w, const float *pw, double par, const float *go,
                            double g0, float *dx, float *dt)
{
#define BWD_LOOP(K) \
    for (int64_t i = 0; i < n; i++) { \
        double g = go ? (double)go[i] : g0; \
        if (dx) dx[i] = (float)elem_dx(K, x[i], t[i], W_(i), PW_(i), par, g); \
        if (dt) dt[i] = (float)elem_dt(K, x[i], t[i], W_(i), PW_(i), par, g); \
    }
    FOR_EACH_KIND(k, BWD_LOOP);
#undef BWD_LOOP
}

#undef W_
#undef PW_

static dm_tensor *elementwise_loss(dm_loss_kind k, const dm_tensor *input,
                                   const dm_tensor *target, const dm_tensor *weight,
                                   const dm_tensor *pos_weight, dm_reduction r, double par)
{
    const char *fn = loss_name[k];
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (check_reduction(fn, r)) return NULL;
    int64_t shape[DM_MAX_DIMS];
    int nd;
    if (k == DM_LOSS_BCE || k == DM_LOSS_BCE_LOGITS) {
        if (!dm_same_shape(input, target)) {
            dm_seterr("%s: target size %s differs from input size %s", fn, SHAPE(target, b1),
                      SHAPE(input, b2));
            return NULL;
        }
        nd = input->ndim;
        memcpy(shape, input->shape, sizeof shape);
    } else {
        nd = dm__broadcast_shape(fn, input, target, shape);
        if (nd < 0) return NULL;
    }
    if (check_bcast_to(fn, "weight", weight, nd, shape) ||
        check_bcast_to(fn, "pos_weight", pos_weight, nd, shape))
        return NULL;

    int64_t n = shape_numel(nd, shape);
    int ox = 0, ot = 0, ow = 0, op = 0;
    float *x = bcast_data(input, nd, shape, n, &ox);
    float *t = x ? bcast_data(target, nd, shape, n, &ot) : NULL;
    float *w = t && weight ? bcast_data(weight, nd, shape, n, &ow) : NULL;
    float *pw = t && pos_weight ? bcast_data(pos_weight, nd, shape, n, &op) : NULL;
    dm_tensor *out = NULL;
    if (!x || !t || (weight && !w) || (pos_weight && !pw)) goto done;

    if (k == DM_LOSS_BCE) {
        for (int64_t i = 0; i < n; i++)
            if (!(x[i] >= 0 && x[i] <= 1)) {
                dm_seterr("%s: all elements of input should be between 0 and 1", fn);
                goto done;
            }
    }

    if (r == DM_REDUCTION_NONE) {
        out = dm_tensor_new(nd, shape);
        if (!out) goto done;
        forward_kernel(k, n, x, t, w, pw, par, dm_data(out));
    } else {
        double s = forward_kernel(k, n, x, t, w, pw, par, NULL);
        if (r == DM_REDUCTION_MEAN) s = n ? s / (double)n : NAN;
        out = dm_tensor_scalar((float)s);
        if (!out) goto done;
    }

    const dm_tensor *ins[4] = { input, target, weight, pos_weight };
    if (dm__needs_grad(4, ins)) {
        dm_node *nd_ = dm__record(DM_OP_LOSS, k, out, 4, ins);
        if (!nd_) { dm_tensor_release(out); out = NULL; goto done; }
        nd_->i[0] = r;
        nd_->f[0] = par;
    }
done:
    if (x && ox) dm__free_floats(x, n);
    if (t && ot) dm__free_floats(t, n);
    if (w && ow) dm__free_floats(w, n);
    if (pw && op) dm__free_floats(pw, n);
    return out;
}

/* a new tensor of shape [nd: shape] reduced (summed) to in's shape */
static dm_tensor *reduce_to_input(dm_tensor *g, const dm_tensor *in)
{
    if (dm_same_shape(g, in)) return g;
    dm_tensor *s = dm_sum_to(g, in->ndim, in->shape);
    dm_tensor_release(g);
    return s;
}

static int bw_elementwise(dm_node *nd_, const dm_tensor *gout, dm_tensor **gin)
{
    dm_loss_kind k = (dm_loss_kind)nd_->sub;
    const dm_tensor *input = nd_->in[0], *target = nd_->in[1];
    const dm_tensor *weight = nd_->in[2], *pos_weight = nd_->in[3];
    dm_reduction r = (dm_reduction)nd_->i[0];
    double par = nd_->f[0];
    int want_x = input->requires_grad, want_t = target->requires_grad;
    if (!want_x && !want_t) return 0;

    int64_t shape[DM_MAX_DIMS];
    int nd;
    if (k == DM_LOSS_BCE || k == DM_LOSS_BCE_LOGITS) {
        nd = input->ndim;
        memcpy(shape, input->shape, sizeof shape);
    } else {
        nd = dm__broadcast_shape(loss_name[k], input, target, shape);
        if (nd < 0) return -1;
    }
    int64_t n = shape_numel(nd, shape);
    int ox = 0, ot = 0, ow = 0, op = 0;
    int rc = -1;
    dm_tensor *gx = NULL, *gt = NULL;
    float *x = bcast_data(input, nd, shape, n, &ox);
    float *t = x ? bcast_data(target, nd, shape, n, &ot) : NULL;
    float *w = t && weight ? bcast_data(weight, nd, shape, n, &ow) : NULL;
    float *pw = t && pos_weight ? bcast_data(pos_weight, nd, shape, n, &op) : NULL;
    if (!x || !t || (weight && !w) || (pos_weight && !pw)) goto done;
    if (want_x && !(gx = dm_tensor_new(nd, shape))) goto done;
    if (want_t && !(gt = dm_tensor_new(nd, shape))) goto done;

    const float *go = dm_data(gout);
    double g0 = r == DM_REDUCTION_MEAN ? go[0] / (double)n : go[0];
    backward_kernel(k, n, x, t, w, pw, par, r == DM_REDUCTION_NONE ? go : NULL, g0,
                    gx ? dm_data(gx) : NULL, gt ? dm_data(gt) : NULL);
    if (gx && !(gx = reduce_to_input(gx, input))) goto done;
    if (gt && !(gt = reduce_to_input(gt, target))) goto done;
    gin[0] = gx;
    gin[1] = gt;
    gx = gt = NULL;
    rc = 0;
done:
    dm_tensor_release(gx);
    dm_tensor_release(gt);
    if (x && ox) dm__free_floats(x, n);
    if (t && ot) dm__free_floats(t, n);
    if (w && ow) dm__free_floats(w, n);
    if (pw && op) dm__free_floats(pw, n);
    return rc;
}

dm_tensor *dm_bce_loss(const dm_tensor *input, const dm_tensor *target,
                       const dm_tensor *weight, dm_reduction r)
{
    return elementwise_loss(DM_LOSS_BCE, input, target, weight, NULL, r, 0);
}

dm_tensor *dm_bce_with_logits_loss(const dm_tensor *input, const dm_tensor *target,
                                   const dm_tensor *weight, const dm_tensor *pos_weight,
                                   dm_reduction r)
{
    return elementwise_loss(DM_LOSS_BCE_LOGITS, input, target, weight, pos_weight, r, 0);
}

dm_tensor *dm_mse_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r)
{
    return elementwise_loss(DM_LOSS_MSE, input, target, NULL, NULL, r, 0);
}

dm_tensor *dm_l1_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r)
{
    return elementwise_loss(DM_LOSS_L1, input, target, NULL, NULL, r, 0);
}

dm_tensor *dm_smooth_l1_loss(const dm_tensor *input, const dm_tensor *target,
                             dm_reduction r, double beta)
{
    if (!(beta >= 0)) {
        dm_seterr("smooth_l1_loss: beta must be non-negative, got %g", beta);
        return NULL;
    }
    if (beta == 0)          /* PyTorch falls back to l1_loss */
        return elementwise_loss(DM_LOSS_L1, input, target, NULL, NULL, r, 0);
    return elementwise_loss(DM_LOSS_SMOOTH_L1, input, target, NULL, NULL, r, beta);
}

dm_tensor *dm_huber_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r,
                         double delta)
{
    if (!(delta > 0)) {
        dm_seterr("huber_loss: delta must be positive, got %g", delta);
        return NULL;
    }
    return elementwise_loss(DM_LOSS_HUBER, input, target, NULL, NULL, r, delta);
}

/* ====================================================================================
 * Class losses: nll, cross entropy.  input [N x C] (or [C], N = 1), rows read with the
 * input's own strides.
 * ==================================================================================== */

typedef struct {
    int64_t N, C;
    int64_t sn, sc;       /* input strides of the batch and class dims */
} classgeom;

static int class_geom(const char *fn, const dm_tensor *input, classgeom *G)
{
    char b[DM_SHAPE_BUF];
    if (input->ndim == 2) {
        G->N = input->shape[0]; G->C = input->shape[1];
        G->sn = input->stride[0]; G->sc = input->stride[1];
    } else if (input->ndim == 1) {
        G->N = 1; G->C = input->shape[0];
        G->sn = 0; G->sc = input->stride[0];
    } else {
        dm_seterr("%s: expected input [N x C] or [C], got %s", fn, SHAPE(input, b));
        return -1;
    }
    return 0;
}

static int check_class_target(const char *fn, const dm_tensor *input, const dm_tensor *target,
                              const classgeom *G)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int ok = input->ndim == 2 ? target->ndim == 1 && target->shape[0] == G->N
                              : target->ndim <= 1 && dm_numel(target) == 1;
    if (!ok) {
        dm_seterr("%s: size mismatch (got input: %s, target: %s)", fn, SHAPE(input, b1),
                  SHAPE(target, b2));
        return -1;
    }
    return 0;
}

static int check_class_weight(const char *fn, const dm_tensor *weight, int64_t C)
{
    char b[DM_SHAPE_BUF];
    if (weight && !(weight->ndim == 1 && weight->shape[0] == C)) {
        dm_seterr("%s: weight should have one element per class (%lld), got %s", fn,
                  (long long)C, SHAPE(weight, b));
        return -1;
    }
    return 0;
}

/* the class index of row i (float target), -1 when ignored, -2 on error (message set) */
static int64_t class_of(const char *fn, const dm_tensor *target, int64_t i, int64_t C,
                        int64_t ignore_index)
{
    double v = at1(target, i);
    if (v == (double)ignore_index) return -1;
    if (v != floor(v)) {
        dm_seterr("%s: target %g is not an integer class index", fn, v + 1);
        return -2;
    }
    if (v < 0 || v >= (double)C) {
        dm_seterr("%s: target %.17g out of range for %lld classes", fn, v + 1, (long long)C);
        return -2;
    }
    return (int64_t)v;
}

dm_tensor *dm_nll_loss(const dm_tensor *input, const dm_tensor *target,
                       const dm_tensor *weight, dm_reduction r, int64_t ignore_index)
{
    const char *fn = "nll_loss";
    classgeom G;
    if (check_reduction(fn, r) || class_geom(fn, input, &G) ||
        check_class_target(fn, input, target, &G) || check_class_weight(fn, weight, G.C))
        return NULL;
    const float *xb = dm__fbase(input) + input->offset;
    dm_tensor *out = r == DM_REDUCTION_NONE ? dm_tensor_new(target->ndim, target->shape)
                                            : dm_tensor_scalar(0);
    if (!out) return NULL;
    float *o = dm_data(out);
    double sum = 0, tw = 0;
    for (int64_t i = 0; i < G.N; i++) {
        int64_t c = class_of(fn, target, i, G.C, ignore_index);
        if (c == -2) { dm_tensor_release(out); return NULL; }
        double l = 0;
        if (c >= 0) {
            double w = weight ? at1(weight, c) : 1;
            l = -w * xb[i * G.sn + c * G.sc];
            tw += w;
        }
        if (r == DM_REDUCTION_NONE) o[i] = (float)l;
        else sum += l;
    }
    if (r == DM_REDUCTION_SUM) o[0] = (float)sum;
    if (r == DM_REDUCTION_MEAN) o[0] = (float)(tw != 0 ? sum / tw : NAN);

    const dm_tensor *ins[3] = { input, target, weight };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_LOSS, DM_LOSS_NLL, out, 3, ins);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->i[0] = r;
        nd->i[1] = ignore_index;
        nd->f[1] = tw;
    }
    return out;
}

static int bw_nll(dm_node *nd, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *input = nd->in[0], *target = nd->in[1], *weight = nd->in[2];
    if (!input->requires_grad) return 0;
    dm_reduction r = (dm_reduction)nd->i[0];
    classgeom G;
    if (class_geom("nll_loss", input, &G)) return -1;
    dm_tensor *gx = dm_tensor_zeros(input->ndim, input->shape);
    if (!gx) return -1;
    float *d = dm_data(gx);         /* contiguous: row stride C */
    const float *go = dm_data(gout);
    double g0 = r == DM_REDUCTION_MEAN ? go[0] / nd->f[1] : go[0];
    for (int64_t i = 0; i < G.N; i++) {
        int64_t c = class_of("nll_loss", target, i, G.C, nd->i[1]);
        if (c == -2) { dm_tensor_release(gx); return -1; }
        if (c < 0) continue;
        double g = r == DM_REDUCTION_NONE ? go[i] : g0;
        d[i * G.C + c] = (float)(-(weight ? at1(weight, c) : 1) * g);
    }
    gin[0] = gx;
    return 0;
}

/* log_softmax of every row into lp (contiguous [N x C]) */
static void log_softmax_rows(const dm_tensor *input, const classgeom *G, float *lp)
{
    const float *xb = dm__fbase(input) + input->offset;
    for (int64_t i = 0; i < G->N; i++) {
        const float *x = xb + i * G->sn;
        float *y = lp + i * G->C;
        float mx = -INFINITY;
        for (int64_t c = 0; c < G->C; c++) if (x[c * G->sc] > mx) mx = x[c * G->sc];
        if (mx == -INFINITY || mx != mx) mx = 0;   /* all -inf row, or NaN: no shift */
        double s = 0;
        for (int64_t c = 0; c < G->C; c++) s += expf(x[c * G->sc] - mx);
        float lse = (float)log(s);
        for (int64_t c = 0; c < G->C; c++) y[c] = (x[c * G->sc] - mx) - lse;
    }
}

dm_tensor *dm_cross_entropy(const dm_tensor *input, const dm_tensor *target,
                            const dm_tensor *weight, dm_reduction r, int64_t ignore_index,
                            double label_smoothing)
{
    const char *fn = "cross_entropy";
    classgeom G;
    if (check_reduction(fn, r) || class_geom(fn, input, &G)) return NULL;
    if (!(label_smoothing >= 0 && label_smoothing <= 1)) {
        dm_seterr("%s: label_smoothing must be between 0.0 and 1.0, got %g", fn,
                  label_smoothing);
        return NULL;
    }
    int prob = dm_same_shape(input, target);
    if (!prob && check_class_target(fn, input, target, &G)) return NULL;
    if (check_class_weight(fn, weight, G.C)) return NULL;

    dm_tensor *lpt = dm_tensor_new(input->ndim, input->shape);
    if (!lpt) return NULL;
    float *lp = dm_data(lpt);
    log_softmax_rows(input, &G, lp);

    int none = r == DM_REDUCTION_NONE;
    dm_tensor *out = none ? (prob ? dm_tensor_new(input->ndim - 1, input->shape)
                                  : dm_tensor_new(target->ndim, target->shape))
                          : dm_tensor_scalar(0);
    if (!out) { dm_tensor_release(lpt); return NULL; }
    float *o = dm_data(out);
    double ls = label_smoothing, C = (double)G.C;
    double sum = 0, div = 1;
    if (prob) {
        /* loss_i = -sum_c w_c t'_ic lp_ic,  t' = t (1 - ls) + ls / C;  mean divides by N */
        const float *tb = dm__fbase(target) + target->offset;
        int64_t tn = target->ndim == 2 ? target->stride[0] : 0;
        int64_t tc = target->stride[target->ndim - 1];
        for (int64_t i = 0; i < G.N; i++) {
            double l = 0;
            for (int64_t c = 0; c < G.C; c++) {
                double t = tb[i * tn + c * tc];
                if (ls > 0) t = t * (1 - ls) + ls / C;
                l -= (weight ? at1(weight, c) : 1) * t * lp[i * G.C + c];
            }
            if (none) o[i] = (float)l;
            else sum += l;
        }
        div = (double)G.N;
    } else {
        /* loss_i = (1 - ls) w_t (-lp_it) + ls / C sum_c w_c (-lp_ic), ignored rows 0;
           mean divides both parts by the summed weight of the rows not ignored */
        double tw = 0;
        for (int64_t i = 0; i < G.N; i++) {
            int64_t t = class_of(fn, target, i, G.C, ignore_index);
            if (t == -2) { dm_tensor_release(out); dm_tensor_release(lpt); return NULL; }
            double l = 0;
            if (t >= 0) {
                double wt = weight ? at1(weight, t) : 1;
                tw += wt;
                l = -(1 - ls) * wt * lp[i * G.C + t];
                if (ls > 0) {
                    double sm = 0;
                    for (int64_t c = 0; c < G.C; c++)
                        sm -= (weight ? at1(weight, c) : 1) * lp[i * G.C + c];
                    l += ls / C * sm;
                }
            }
            if (none) o[i] = (float)l;
            else sum += l;
        }
        div = tw;
    }
    if (r == DM_REDUCTION_SUM) o[0] = (float)sum;
    if (r == DM_REDUCTION_MEAN) o[0] = (float)(div != 0 ? sum / div : NAN);

    const dm_tensor *ins[3] = { input, target, weight };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_LOSS, DM_LOSS_CROSS_ENTROPY, out, 3, ins);
        if (!nd || !dm__save(nd, 0, lpt)) {
            dm_tensor_release(out); dm_tensor_release(lpt);
            return NULL;
        }
        nd->i[0] = r;
        nd->i[1] = ignore_index;
        nd->i[2] = prob;
        nd->f[0] = ls;
        nd->f[1] = div;
    }
    dm_tensor_release(lpt);
    return out;
}

/* d loss / d x_ik = p_ik S_i - a_ik, where a_ic is the coefficient of -lp_ic in the loss
 * (times the incoming gradient) and S_i = sum_c a_ic */
static int bw_cross_entropy(dm_node *nd, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *input = nd->in[0], *target = nd->in[1], *weight = nd->in[2];
    const dm_tensor *lpt = nd->saved[0];
    dm_reduction r = (dm_reduction)nd->i[0];
    int prob = (int)nd->i[2];
    double ls = nd->f[0], div = nd->f[1];
    int want_x = input->requires_grad, want_t = prob && target->requires_grad;
    if (!want_x && !want_t) return 0;
    classgeom G;
    if (class_geom("cross_entropy", input, &G)) return -1;
    double C = (double)G.C;
    const float *lp = dm_data(lpt);
    const float *go = dm_data(gout);
    double g0 = r == DM_REDUCTION_MEAN ? go[0] / div : go[0];
    dm_tensor *gx = want_x ? dm_tensor_new(input->ndim, input->shape) : NULL;
    dm_tensor *gt = want_t ? dm_tensor_new(target->ndim, target->shape) : NULL;
    double *a = malloc((size_t)(G.C ? G.C : 1) * sizeof *a);
    if ((want_x && !gx) || (want_t && !gt) || !a) {
        if (!a) dm_seterr("cross_entropy: out of memory");
        dm_tensor_release(gx); dm_tensor_release(gt); free(a);
        return -1;
    }
    float *dx = gx ? dm_data(gx) : NULL, *dt = gt ? dm_data(gt) : NULL;
    const float *tb = dm__fbase(target) + target->offset;
    int64_t tn = prob && target->ndim == 2 ? target->stride[0] : 0;
    int64_t tc = target->ndim ? target->stride[target->ndim - 1] : 0;
    for (int64_t i = 0; i < G.N; i++) {
        double g = r == DM_REDUCTION_NONE ? go[i] : g0;
        const float *l = lp + i * G.C;
        double S = 0;
        if (prob) {
            for (int64_t c = 0; c < G.C; c++) {
                double w = weight ? at1(weight, c) : 1;
                double t = tb[i * tn + c * tc];
                if (ls > 0) t = t * (1 - ls) + ls / C;
                a[c] = g * w * t;
                S += a[c];
                if (dt) dt[i * G.C + c] = (float)(-g * w * (ls > 0 ? 1 - ls : 1) * l[c]);
            }
        } else {
            int64_t t = class_of("cross_entropy", target, i, G.C, nd->i[1]);
            if (t == -2) {
                dm_tensor_release(gx); dm_tensor_release(gt); free(a);
                return -1;
            }
            for (int64_t c = 0; c < G.C; c++) a[c] = 0;
            if (t >= 0) {
                if (ls > 0)
                    for (int64_t c = 0; c < G.C; c++)
                        a[c] = g * ls / C * (weight ? at1(weight, c) : 1);
                a[t] += g * (1 - ls) * (weight ? at1(weight, t) : 1);
                for (int64_t c = 0; c < G.C; c++) S += a[c];
            }
        }
        if (dx)
            for (int64_t c = 0; c < G.C; c++)
                dx[i * G.C + c] = (float)(expf(l[c]) * S - a[c]);
    }
    free(a);
    gin[0] = gx;
    gin[1] = gt;
    return 0;
}

int dm__bw_loss(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    switch (n->sub) {
    case DM_LOSS_NLL: return bw_nll(n, gout, gin);
    case DM_LOSS_CROSS_ENTROPY: return bw_cross_entropy(n, gout, gin);
    case DM_LOSS_BCE: case DM_LOSS_BCE_LOGITS: case DM_LOSS_MSE: case DM_LOSS_L1:
    case DM_LOSS_SMOOTH_L1: case DM_LOSS_HUBER:
        return bw_elementwise(n, gout, gin);
    default:
        dm_seterr("backward: unknown loss kind %d", n->sub);
        return -1;
    }
}
