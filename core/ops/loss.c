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
 *   par   .loss (elementwise kinds: reduction, beta / delta), .nll (reduction,
 *         ignore_index, the mean's divisor), .cross_entropy (reduction, ignore_index,
 *         probability targets, label_smoothing, the mean's divisor)
 *   saved[0]  log_softmax of the input (cross entropy)
 */
#include "internal.h"
#include "walk.h"
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

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

/* t's values broadcast to shape (numel n) as a contiguous array of t's dtype: t's own data
 * when it is already contiguous with exactly that shape (*hold NULL), else the data of a
 * new tensor *hold for the caller to release */
static __attribute__((noinline)) void *operand_copy(const dm_tensor *t, int nd,
                                                    const int64_t *shape, dm_tensor **hold)
{
    if (!(*hold = dm_tensor_new_dtype(nd, shape, t->dtype))) return NULL;
    if (t->dtype != DM_FLOAT32) {
        dm__copy_convert(*hold, t);
    } else {
        float *buf = dm__ptr(*hold);
        const float *base = dm__fbase(t);
        DM_WALK_EACH_TO(t, nd, shape, i, off, buf[i] = base[off];);
    }
    return dm__ptr(*hold);
}

/* the usual case inline (t contiguous, of that shape); the copy out of line */
static inline void *operand(const dm_tensor *t, int nd, const int64_t *shape, int64_t n,
                            dm_tensor **hold)
{
    *hold = NULL;
    (void)n;                                  /* the walk counts shape's elements itself */
    int same = t->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = t->shape[d] == shape[d];
    if (same && dm__is_contig(t)) return dm__ptr(t);
    return operand_copy(t, nd, shape, hold);
}

/* t converted to dt (retained when it already is; differentiable between floating types):
   the drivers call themselves again with every operand of one dtype */
static dm_tensor *as_dtype(const dm_tensor *t, dm_dtype dt, int *bad)
{
    if (!t) return NULL;
    dm_tensor *c = dm_to_dtype(t, dt);
    if (!c) *bad = 1;
    return c;
}

static void release4(dm_tensor *a, dm_tensor *b, dm_tensor *c, dm_tensor *d)
{
    dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(c); dm_tensor_release(d);
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
 * Class losses: nll, cross entropy.  input [N x C] (or [C], N = 1), rows read with the
 * input's own strides; [N x C x d1 x ...] goes through kdim_loss below.
 * ==================================================================================== */

/* the rows' geometry (N, C, sn, sc) into G, everything else cleared */
static int class_geom(const char *fn, const dm_tensor *input, dm_class_loss *G)
{
    char b[DM_SHAPE_BUF];
    memset(G, 0, sizeof *G);
    if (input->ndim == 2) {
        G->N = input->shape[0]; G->C = input->shape[1];
        G->sn = input->stride[0]; G->sc = input->stride[1];
    } else if (input->ndim == 1) {
        G->N = 1; G->C = input->shape[0];
        G->sn = 0; G->sc = input->stride[0];
    } else {
        dm_seterr("%s: expected input [N x C], [C] or [N x C x d1 x ...], got %s", fn,
                  SHAPE(input, b));
        return -1;
    }
    return 0;
}

static int check_class_target(const char *fn, const dm_tensor *input, const dm_tensor *target,
                              const dm_class_loss *G)
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

/* the class index of row i (an int64 or uint8 target, checked by check_class_dtype), -1
   when ignored, -2 on error (message set; indices reported 1-based, as Lua passes them) */
static int64_t class_of(const char *fn, const dm_tensor *target, int64_t i, int64_t C,
                        int64_t ignore_index)
{
    int64_t off = target->offset + i * (target->ndim ? target->stride[0] : 0);
    int64_t v = target->dtype == DM_INT64 ? ((const int64_t *)target->storage->data)[off]
                                          : ((const uint8_t *)target->storage->data)[off];
    if (v == ignore_index) return -1;
    if (v < 0 || v >= C) {
        dm_seterr("%s: target %lld out of range for %lld classes (class labels are 1-based, "
                  "1 to %lld%s)", fn, (long long)((uint64_t)v + 1), (long long)C, (long long)C,
                  v == -1 ? "; 0-based labels need + 1" : "");
        return -2;
    }
    return v;
}

/* the class of every row of target into cls (class_of: -1 ignored), G->cls pointed at it;
   cls is buf when the N rows fit in nbuf, else malloc'ed (free it when it is not buf) */
static int64_t *resolve_classes(const char *fn, const dm_tensor *target, dm_class_loss *G,
                                int64_t ignore_index, int64_t *buf, int64_t nbuf)
{
    int64_t *cls = G->N <= nbuf ? buf : malloc((size_t)G->N * sizeof *cls);
    if (!cls) {
        dm_seterr("%s: out of memory", fn);
        return NULL;
    }
    for (int64_t i = 0; i < G->N; i++) {
        if ((cls[i] = class_of(fn, target, i, G->C, ignore_index)) == -2) {
            if (cls != buf) free(cls);
            return NULL;
        }
    }
    G->cls = cls;
    return cls;
}

#define NBUF 256    /* rows whose classes fit on the stack */

/* class targets are int64 (uint8 accepted, as PyTorch); floats are refused with advice */
static int check_class_dtype(const char *fn, const dm_tensor *target, int probs_ok)
{
    if (target->dtype == DM_INT64 || target->dtype == DM_UINT8) return 0;
    dm_seterr("%s: expected an int64 tensor of class indices%s, got %s (use :long())", fn,
              probs_ok ? " (or probabilities of the input's size)" : "",
              dm_dtype_name(target->dtype));
    return -1;
}

/* ---- elementwise losses: drivers ----------------------------------------------------- */

static dm_tensor *elementwise_loss(dm_loss_kind k, const dm_tensor *input,
                                   const dm_tensor *target, const dm_tensor *weight,
                                   const dm_tensor *pos_weight, dm_reduction r, double par)
{
    const char *fn = loss_name[k];
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (dm__same_device(fn, 4, (const dm_tensor *[]){ input, target, weight, pos_weight }) < 0)
        return NULL;
    if (check_reduction(fn, r) || dm__need_float(fn, input, "input")) return NULL;
    int bce = k == DM_LOSS_BCE || k == DM_LOSS_BCE_LOGITS;
    if (bce && dm__need_float(fn, target, "target")) return NULL;
    if (k == DM_LOSS_BCE && target->dtype != input->dtype) {    /* PyTorch refuses too */
        dm_seterr("%s: target is %s but input is %s (convert one of them)", fn,
                  dm_dtype_name(target->dtype), dm_dtype_name(input->dtype));
        return NULL;
    }
    /* everything in the promoted type (mse of float32 and float64 is float64, as PyTorch) */
    dm_dtype dt = dm_promote_types(input->dtype, target->dtype);
    if (input->dtype != dt || target->dtype != dt || (weight && weight->dtype != dt) ||
        (pos_weight && pos_weight->dtype != dt)) {
        int bad = 0;
        dm_tensor *x = as_dtype(input, dt, &bad), *t = as_dtype(target, dt, &bad);
        dm_tensor *w = as_dtype(weight, dt, &bad), *pw = as_dtype(pos_weight, dt, &bad);
        dm_tensor *out = bad ? NULL : elementwise_loss(k, x, t, w, pw, r, par);
        release4(x, t, w, pw);
        return out;
    }
    int64_t shape[DM_MAX_DIMS];
    int nd;
    if (bce) {
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
    dm_tensor *hx, *ht = NULL, *hw = NULL, *hp = NULL, *out = NULL;
    const void *x = operand(input, nd, shape, n, &hx);
    const void *t = x ? operand(target, nd, shape, n, &ht) : NULL;
    const void *w = t && weight ? operand(weight, nd, shape, n, &hw) : NULL;
    const void *pw = t && pos_weight ? operand(pos_weight, nd, shape, n, &hp) : NULL;
    if (!x || !t || (weight && !w) || (pos_weight && !pw)) goto done;

    if (k == DM_LOSS_BCE) {
        int ok = 1;
        if (dt == DM_FLOAT32) {
            const float *xf = x;
            for (int64_t i = 0; i < n && ok; i++) ok = xf[i] >= 0 && xf[i] <= 1;
        } else {
            const double *xd = x;
            for (int64_t i = 0; i < n && ok; i++) ok = xd[i] >= 0 && xd[i] <= 1;
        }
        if (!ok) {
            dm_seterr("%s: all elements of input should be between 0 and 1", fn);
            goto done;
        }
    }

    if (r == DM_REDUCTION_NONE) {
        out = dm_tensor_new_dtype(nd, shape, dt);
        if (!out) goto done;
        DEV->loss(dt, k, n, x, t, w, pw, par, dm__ptr(out));
    } else {
        double s = DEV->loss(dt, k, n, x, t, w, pw, par, NULL);
        if (r == DM_REDUCTION_MEAN) s = n ? s / (double)n : NAN;
        out = dm_tensor_full_dtype(0, NULL, s, dt);
        if (!out) goto done;
    }

    const dm_tensor *ins[4] = { input, target, weight, pos_weight };
    if (dm__needs_grad(4, ins)) {
        dm_node *nd_ = dm__record(DM_OP_LOSS, k, out, 4, ins);
        if (!nd_) { dm_tensor_release(out); out = NULL; goto done; }
        nd_->par.loss.reduction = r;
        nd_->par.loss.param = par;
    }
done:
    release4(hx, ht, hw, hp);
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
    dm_reduction r = nd_->par.loss.reduction;
    double par = nd_->par.loss.param;
    int want_x = input->requires_grad, want_t = target->requires_grad;
    if (!want_x && !want_t) return 0;
    dm_dtype dt = input->dtype;                 /* every operand's (elementwise_loss) */

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
    int rc = -1;
    dm_tensor *gx = NULL, *gt = NULL, *hx, *ht = NULL, *hw = NULL, *hp = NULL, *hg = NULL;
    const void *x = operand(input, nd, shape, n, &hx);
    const void *t = x ? operand(target, nd, shape, n, &ht) : NULL;
    const void *w = t && weight ? operand(weight, nd, shape, n, &hw) : NULL;
    const void *pw = t && pos_weight ? operand(pos_weight, nd, shape, n, &hp) : NULL;
    const void *g = t ? dm__contig_as(gout, dt, &hg) : NULL;
    if (!x || !t || !g || (weight && !w) || (pos_weight && !pw)) goto done;
    if (want_x && !(gx = dm_tensor_new_dtype(nd, shape, dt))) goto done;
    if (want_t && !(gt = dm_tensor_new_dtype(nd, shape, dt))) goto done;

    const void *go = r == DM_REDUCTION_NONE ? g : NULL;
    double g0 = dt == DM_FLOAT32 ? *(const float *)g : *(const double *)g;
    if (r == DM_REDUCTION_MEAN) g0 /= (double)n;
    DEV->loss_bw(dt, k, n, x, t, w, pw, par, go, g0, gx ? dm__ptr(gx) : NULL,
                 gt ? dm__ptr(gt) : NULL);
    if (gx && !(gx = reduce_to_input(gx, input))) goto done;
    if (gt && !(gt = reduce_to_input(gt, target))) goto done;
    gin[0] = gx;
    gin[1] = gt;
    gx = gt = NULL;
    rc = 0;
done:
    dm_tensor_release(gx);
    dm_tensor_release(gt);
    release4(hx, ht, hw, hp);
    dm_tensor_release(hg);
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

/* ---- class losses: drivers ------------------------------------------------------------ */

/* weight (of the input's dtype after the drivers' conversion) as base and stride in G */
static void set_weight(dm_class_loss *G, const dm_tensor *weight)
{
    G->wb = weight ? (const char *)weight->storage->data +
                     weight->offset * (int64_t)dm_dtype_size(weight->dtype) : NULL;
    G->ws = weight ? weight->stride[0] : 0;
}

/* ---- the K-dimensional form: input [N x C x d1 x ...], target [N x d1 x ...] (class
 * indices) or the input's shape (probabilities) ------------------------------------------
 * PyTorch's nll_loss2d / nd forms give exactly the losses of the rows of the input with the
 * class dim moved last and flattened: [N d1 ... x C] against [N d1 ...].  The drivers call
 * themselves on those views (moved and reshaped with autograd, so gradients flow back to the
 * original layout) and give a "none" result the target's shape [N x d1 x ...]. */
typedef dm_tensor *(*class_loss_fn)(const dm_tensor *, const dm_tensor *, const void *);

static dm_tensor *kdim_loss(const char *fn, const dm_tensor *input, const dm_tensor *target,
                            int prob, dm_reduction r, class_loss_fn f, const void *ctx)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int nd = input->ndim;
    int64_t C = input->shape[1], rshape[DM_MAX_DIMS];
    rshape[0] = input->shape[0];
    for (int d = 2; d < nd; d++) rshape[d - 1] = input->shape[d];
    int ok = prob ? 1 : target->ndim == nd - 1;
    for (int d = 0; ok && !prob && d < nd - 1; d++) ok = target->shape[d] == rshape[d];
    if (!ok) {
        char b3[DM_SHAPE_BUF];
        dm_seterr("%s: expected target %s of class indices for input %s [N x C x d1 x ...], "
                  "got %s", fn, dm_shape_str(nd - 1, rshape, b3, sizeof b3), SHAPE(input, b1),
                  SHAPE(target, b2));
        return NULL;
    }
    int src = 1, dst = -1;
    int64_t two[2] = { -1, C }, one[1] = { -1 };
    dm_tensor *xm = dm_movedim(input, 1, &src, &dst);
    dm_tensor *x2 = xm ? dm_reshape(xm, 2, two) : NULL;
    dm_tensor_release(xm);
    dm_tensor *t2 = NULL;
    if (x2) {
        if (prob) {
            dm_tensor *tm = dm_movedim(target, 1, &src, &dst);
            t2 = tm ? dm_reshape(tm, 2, two) : NULL;
            dm_tensor_release(tm);
        } else {
            t2 = dm_reshape(target, 1, one);
        }
    }
    dm_tensor *out = x2 && t2 ? f(x2, t2, ctx) : NULL;
    dm_tensor_release(x2);
    dm_tensor_release(t2);
    if (out && r == DM_REDUCTION_NONE) {
        dm_tensor *o = dm_reshape(out, nd - 1, rshape);
        dm_tensor_release(out);
        out = o;
    }
    return out;
}

typedef struct {
    const dm_tensor *weight;
    dm_reduction r;
    int64_t ignore_index;
    double label_smoothing;
} class_loss_args;

static dm_tensor *nll_rows(const dm_tensor *x, const dm_tensor *t, const void *ctx)
{
    const class_loss_args *a = ctx;
    return dm_nll_loss(x, t, a->weight, a->r, a->ignore_index);
}

static dm_tensor *ce_rows(const dm_tensor *x, const dm_tensor *t, const void *ctx)
{
    const class_loss_args *a = ctx;
    return dm_cross_entropy(x, t, a->weight, a->r, a->ignore_index, a->label_smoothing);
}

dm_tensor *dm_nll_loss(const dm_tensor *input, const dm_tensor *target,
                       const dm_tensor *weight, dm_reduction r, int64_t ignore_index)
{
    const char *fn = "nll_loss";
    dm_class_loss G;
    if (dm__same_device(fn, 3, (const dm_tensor *[]){ input, target, weight }) < 0) return NULL;
    if (check_reduction(fn, r) || dm__need_float(fn, input, "input") ||
        check_class_dtype(fn, target, 0))
        return NULL;
    if (input->ndim > 2) {
        if (check_class_weight(fn, weight, input->shape[1])) return NULL;
        class_loss_args a = { weight, r, ignore_index, 0 };
        return kdim_loss(fn, input, target, 0, r, nll_rows, &a);
    }
    if (class_geom(fn, input, &G) ||
        check_class_target(fn, input, target, &G) || check_class_weight(fn, weight, G.C))
        return NULL;
    dm_dtype dt = input->dtype;
    if (weight && weight->dtype != dt) {
        int bad = 0;
        dm_tensor *w = as_dtype(weight, dt, &bad);
        dm_tensor *out = bad ? NULL : dm_nll_loss(input, target, w, r, ignore_index);
        dm_tensor_release(w);
        return out;
    }
    int none = r == DM_REDUCTION_NONE;
    dm_tensor *out = none ? dm_tensor_new_dtype(target->ndim, target->shape, dt)
                          : dm_tensor_zeros_dtype(0, NULL, dt);
    if (!out) return NULL;
    double sum = 0, tw = 0;
    int64_t buf[NBUF], *cls = resolve_classes(fn, target, &G, ignore_index, buf, NBUF);
    if (!cls) { dm_tensor_release(out); return NULL; }
    set_weight(&G, weight);
    DEV->nll(dt, dm__ptr(input), &G, none, dm__ptr(out), &sum, &tw);
    if (cls != buf) free(cls);
    if (!none) {
        double v = r == DM_REDUCTION_SUM ? sum : tw != 0 ? sum / tw : NAN;
        if (dt == DM_FLOAT32) *(float *)dm__ptr(out) = (float)v;
        else *(double *)dm__ptr(out) = v;
    }

    const dm_tensor *ins[3] = { input, target, weight };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_LOSS, DM_LOSS_NLL, out, 3, ins);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.nll.reduction = r;
        nd->par.nll.ignore_index = ignore_index;
        nd->par.nll.total_weight = tw;
    }
    return out;
}

static int bw_nll(dm_node *nd, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *input = nd->in[0], *target = nd->in[1], *weight = nd->in[2];
    if (!input->requires_grad) return 0;
    dm_reduction r = nd->par.nll.reduction;
    int64_t ignore = nd->par.nll.ignore_index;
    dm_dtype dt = input->dtype;
    dm_class_loss G;
    if (class_geom("nll_loss", input, &G)) return -1;
    dm_tensor *hg, *gx = dm_tensor_zeros_dtype(input->ndim, input->shape, dt);
    const void *g = gx ? dm__contig_as(gout, dt, &hg) : NULL;
    if (!g) { dm_tensor_release(gx); return -1; }
    const void *go = r == DM_REDUCTION_NONE ? g : NULL;
    double g0 = dt == DM_FLOAT32 ? *(const float *)g : *(const double *)g;
    if (r == DM_REDUCTION_MEAN) g0 /= nd->par.nll.total_weight;
    int64_t buf[NBUF], *cls = resolve_classes("nll_loss", target, &G, ignore, buf, NBUF);
    if (cls) {
        set_weight(&G, weight);
        DEV->nll_bw(dt, &G, go, g0, dm__ptr(gx));
        if (cls != buf) free(cls);
    }
    dm_tensor_release(hg);
    if (!cls) { dm_tensor_release(gx); return -1; }
    gin[0] = gx;
    return 0;
}

dm_tensor *dm_cross_entropy(const dm_tensor *input, const dm_tensor *target,
                            const dm_tensor *weight, dm_reduction r, int64_t ignore_index,
                            double label_smoothing)
{
    const char *fn = "cross_entropy";
    dm_class_loss G;
    if (dm__same_device(fn, 3, (const dm_tensor *[]){ input, target, weight }) < 0) return NULL;
    if (check_reduction(fn, r) || dm__need_float(fn, input, "input")) return NULL;
    if (!(label_smoothing >= 0 && label_smoothing <= 1)) {
        dm_seterr("%s: label_smoothing must be between 0.0 and 1.0, got %g", fn,
                  label_smoothing);
        return NULL;
    }
    if (input->ndim > 2) {
        int kprob = dm_is_floating(target->dtype) && dm_same_shape(input, target);
        if (!kprob && check_class_dtype(fn, target, 1)) return NULL;
        if (check_class_weight(fn, weight, input->shape[1])) return NULL;
        class_loss_args a = { weight, r, ignore_index, label_smoothing };
        return kdim_loss(fn, input, target, kprob, r, ce_rows, &a);
    }
    if (class_geom(fn, input, &G)) return NULL;
    /* a floating target is probabilities, and only when it has the input's shape */
    int prob = dm_is_floating(target->dtype) && dm_same_shape(input, target);
    if (!prob && (check_class_dtype(fn, target, 1) || check_class_target(fn, input, target, &G)))
        return NULL;
    if (check_class_weight(fn, weight, G.C)) return NULL;
    dm_dtype dt = prob ? dm_promote_types(input->dtype, target->dtype) : input->dtype;
    if (input->dtype != dt || (prob && target->dtype != dt) || (weight && weight->dtype != dt)) {
        int bad = 0;
        dm_tensor *x = as_dtype(input, dt, &bad), *w = as_dtype(weight, dt, &bad);
        dm_tensor *t = prob ? as_dtype(target, dt, &bad) : dm_tensor_retain((dm_tensor *)target);
        dm_tensor *out = bad ? NULL : dm_cross_entropy(x, t, w, r, ignore_index, label_smoothing);
        release4(x, t, w, NULL);
        return out;
    }

    dm_tensor *lpt = dm_tensor_new_dtype(input->ndim, input->shape, dt);
    if (!lpt) return NULL;
    DEV->ce_log_softmax(dt, dm__ptr(input), &G, dm__ptr(lpt));

    int none = r == DM_REDUCTION_NONE;
    dm_tensor *out = none ? (prob ? dm_tensor_new_dtype(input->ndim - 1, input->shape, dt)
                                  : dm_tensor_new_dtype(target->ndim, target->shape, dt))
                          : dm_tensor_zeros_dtype(0, NULL, dt);
    if (!out) { dm_tensor_release(lpt); return NULL; }
    double sum = 0, div = 1;
    int64_t buf[NBUF], *cls = NULL;
    if (prob) {
        G.tb = dm__ptr(target);
        G.tn = target->ndim == 2 ? target->stride[0] : 0;
        G.tc = target->stride[target->ndim - 1];
    } else if (!(cls = resolve_classes(fn, target, &G, ignore_index, buf, NBUF))) {
        dm_tensor_release(out); dm_tensor_release(lpt);
        return NULL;
    }
    set_weight(&G, weight);
    G.ls = label_smoothing;
    DEV->cross_entropy(dt, dm__ptr(lpt), &G, none, dm__ptr(out), &sum, &div);
    if (cls && cls != buf) free(cls);
    if (!none) {
        double v = r == DM_REDUCTION_SUM ? sum : div != 0 ? sum / div : NAN;
        if (dt == DM_FLOAT32) *(float *)dm__ptr(out) = (float)v;
        else *(double *)dm__ptr(out) = v;
    }

    const dm_tensor *ins[3] = { input, target, weight };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_LOSS, DM_LOSS_CROSS_ENTROPY, out, 3, ins);
        if (!nd || !dm__save(nd, 0, lpt)) {
            dm_tensor_release(out); dm_tensor_release(lpt);
            return NULL;
        }
        nd->par.cross_entropy.reduction = r;
        nd->par.cross_entropy.ignore_index = ignore_index;
        nd->par.cross_entropy.prob = prob;
        nd->par.cross_entropy.label_smoothing = label_smoothing;
        nd->par.cross_entropy.divisor = div;
    }
    dm_tensor_release(lpt);
    return out;
}

static int bw_cross_entropy(dm_node *nd, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *input = nd->in[0], *target = nd->in[1], *weight = nd->in[2];
    const dm_tensor *lpt = nd->saved[0];
    dm_reduction r = nd->par.cross_entropy.reduction;
    int prob = nd->par.cross_entropy.prob;
    int64_t ignore = nd->par.cross_entropy.ignore_index;
    double ls = nd->par.cross_entropy.label_smoothing, div = nd->par.cross_entropy.divisor;
    int want_x = input->requires_grad, want_t = prob && target->requires_grad;
    if (!want_x && !want_t) return 0;
    dm_dtype dt = input->dtype;
    dm_class_loss G;
    if (class_geom("cross_entropy", input, &G)) return -1;
    dm_tensor *hg = NULL;
    const void *g = dm__contig_as(gout, dt, &hg);
    dm_tensor *gx = want_x ? dm_tensor_new_dtype(input->ndim, input->shape, dt) : NULL;
    dm_tensor *gt = want_t ? dm_tensor_new_dtype(target->ndim, target->shape, dt) : NULL;
    double *a = malloc((size_t)(G.C ? G.C : 1) * sizeof *a);
    int64_t buf[NBUF], *cls = NULL;
    int rc = -1;
    if (!g || (want_x && !gx) || (want_t && !gt) || !a) {
        if (!a) dm_seterr("cross_entropy: out of memory");
        goto done;
    }
    const void *go = r == DM_REDUCTION_NONE ? g : NULL;
    double g0 = dt == DM_FLOAT32 ? *(const float *)g : *(const double *)g;
    if (r == DM_REDUCTION_MEAN) g0 /= div;
    if (prob) {
        G.tb = dm__ptr(target);
        G.tn = target->ndim == 2 ? target->stride[0] : 0;
        G.tc = target->ndim ? target->stride[target->ndim - 1] : 0;
    } else if (!(cls = resolve_classes("cross_entropy", target, &G, ignore, buf, NBUF))) {
        goto done;
    }
    set_weight(&G, weight);
    G.ls = ls;
    DEV->cross_entropy_bw(dt, dm__ptr(lpt), &G, go, g0, a, gx ? dm__ptr(gx) : NULL,
                          gt ? dm__ptr(gt) : NULL);
    rc = 0;
done:
    if (cls && cls != buf) free(cls);
    free(a);
    dm_tensor_release(hg);
    if (rc) { dm_tensor_release(gx); dm_tensor_release(gt); return -1; }
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
