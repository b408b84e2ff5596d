/* test_loss.c -- the losses of core/ops/loss.c.
 *
 * Hand-computed values for every loss and reduction (PyTorch 1.13's formulas: BCE's logs
 * clamped at -100, nll's mean over the summed weights of the targets not ignored, label
 * smoothing as cross_entropy_loss_label_smoothing), gradient checks of every loss under
 * every reduction (input, and target where it has a gradient), the same losses on
 * non-contiguous views, error messages verbatim, grad_fn names and no leaks.  Agreement
 * with PyTorch itself is tests/parity_kernels_spec.lua's job. */
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------------------- */

static const dm_reduction REDS[3] = { DM_REDUCTION_NONE, DM_REDUCTION_MEAN, DM_REDUCTION_SUM };
static const char *const RED_NAME[3] = { "none", "mean", "sum" };

/* value of a loss under each reduction: want_none[0..n), their sum and mean */
static void check_reductions(dm_tensor *(*f)(dm_reduction, void *), void *ctx,
                             const double *want_none, int64_t n, const char *what)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += want_none[i];
    dm_tensor *y = f(DM_REDUCTION_NONE, ctx);
    tu_check_vals(y, want_none, n, 1e-6, what);
    dm_tensor_release(y);
    y = f(DM_REDUCTION_SUM, ctx);
    CHECK(y && y->ndim == 0, what);
    CHECK_NEAR(tu_val0(y), s, 1e-6, what);
    dm_tensor_release(y);
    y = f(DM_REDUCTION_MEAN, ctx);
    CHECK_NEAR(tu_val0(y), s / (double)n, 1e-6, what);
    dm_tensor_release(y);
}

/* ---- 1. forward values ----------------------------------------------------------------- */

typedef struct { dm_tensor *x, *t, *w, *pw; int kind; double par; int64_t ignore; } lctx;

enum { K_BCE, K_BCEL, K_MSE, K_L1, K_SL1, K_HUBER, K_NLL, K_CE };

/* class targets are int64: f's values as a new int64 tensor (f released) */
static dm_tensor *lt(dm_tensor *f)
{
    dm_tensor *l = dm_to_dtype(f, DM_INT64);
    dm_tensor_release(f);
    return l;
}

static dm_tensor *call_loss(const lctx *c, const dm_tensor *x, const dm_tensor *t,
                            dm_reduction r)
{
    switch (c->kind) {
    case K_BCE: return dm_bce_loss(x, t, c->w, r);
    case K_BCEL: return dm_bce_with_logits_loss(x, t, c->w, c->pw, r);
    case K_MSE: return dm_mse_loss(x, t, r);
    case K_L1: return dm_l1_loss(x, t, r);
    case K_SL1: return dm_smooth_l1_loss(x, t, r, c->par);
    case K_HUBER: return dm_huber_loss(x, t, r, c->par);
    case K_NLL: return dm_nll_loss(x, t, c->w, r, c->ignore);
    default: return dm_cross_entropy(x, t, c->w, r, c->ignore, c->par);
    }
}

static dm_tensor *loss_red(dm_reduction r, void *ctx)
{
    lctx *c = ctx;
    return call_loss(c, c->x, c->t, r);
}

static void test_elementwise_values(void)
{
    const int64_t s3[] = { 3 };
    dm_tensor *x = tu_tensor(1, s3, (float[]){ 1, 2, 3 });
    dm_tensor *t = tu_tensor(1, s3, (float[]){ 0, 2, 5 });
    lctx c = { x, t, NULL, NULL, K_MSE, 0, 0 };
    check_reductions(loss_red, &c, (double[]){ 1, 0, 4 }, 3, "mse values");
    c.kind = K_L1;
    check_reductions(loss_red, &c, (double[]){ 1, 0, 2 }, 3, "l1 values");
    c.kind = K_SL1; c.par = 1;          /* |d| = 1 is not below beta: 1 - 0.5 */
    check_reductions(loss_red, &c, (double[]){ 0.5, 0, 1.5 }, 3, "smooth_l1 beta 1");
    c.par = 4;                          /* all quadratic: d^2 / 8 */
    check_reductions(loss_red, &c, (double[]){ 0.125, 0, 0.5 }, 3, "smooth_l1 beta 4");
    c.par = 0;                          /* l1 */
    check_reductions(loss_red, &c, (double[]){ 1, 0, 2 }, 3, "smooth_l1 beta 0");
    c.kind = K_HUBER; c.par = 1;
    check_reductions(loss_red, &c, (double[]){ 0.5, 0, 1.5 }, 3, "huber delta 1");
    c.par = 1.5;                        /* 0.5 d^2 below 1.5, else 1.5 (|d| - 0.75) */
    check_reductions(loss_red, &c, (double[]){ 0.5, 0, 1.875 }, 3, "huber delta 1.5");
    dm_tensor_release(x);
    dm_tensor_release(t);

    /* bce: -(t log x + (1 - t) log(1 - x)), logs clamped at -100 */
    const int64_t s4[] = { 4 };
    x = tu_tensor(1, s4, (float[]){ 0.5f, 0.9f, 0, 1 });
    t = tu_tensor(1, s4, (float[]){ 1, 0, 1, 1 });
    c = (lctx){ x, t, NULL, NULL, K_BCE, 0, 0 };
    check_reductions(loss_red, &c, (double[]){ log(2), -log(1 - (double)0.9f), 100, 0 }, 4,
                     "bce values");
    dm_tensor *w = tu_tensor(1, (int64_t[]){ 1 }, (float[]){ 2 });     /* broadcast */
    c.w = w;
    check_reductions(loss_red, &c, (double[]){ 2 * log(2), -2 * log(1 - (double)0.9f), 200, 0 },
                     4, "bce weight values");
    dm_tensor_release(w);
    dm_tensor_release(x);
    dm_tensor_release(t);

    /* bce with logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x) */
    const int64_t s22[] = { 2, 2 };
    x = tu_tensor(2, s22, (float[]){ 0, 2, -3, 50 });
    t = tu_tensor(2, s22, (float[]){ 1, 0, 0.25f, 1 });
    c = (lctx){ x, t, NULL, NULL, K_BCEL, 0, 0 };
    double sp2 = log1p(exp(-2.0)), sp3 = log1p(exp(-3.0));
    double want[4] = { log(2), 2 + sp2, 0.75 * -3 + (3 + sp3), log1p(exp(-50.0)) };
    check_reductions(loss_red, &c, want, 4, "bce_logits values");
    dm_tensor *pw = tu_tensor(1, (int64_t[]){ 2 }, (float[]){ 3, 0.5f });   /* along the last dim */
    c.pw = pw;
    double wantp[4] = { 3 * log(2), 2 + sp2, 0.75 * -3 + (1 + 2 * 0.25) * (3 + sp3),
                        0.5 * log1p(exp(-50.0)) };
    check_reductions(loss_red, &c, wantp, 4, "bce_logits pos_weight values");
    dm_tensor_release(pw);
    dm_tensor_release(x);
    dm_tensor_release(t);

    /* broadcasting target (as PyTorch, which warns) */
    dm_tensor *xb = tu_tensor(2, (int64_t[]){ 2, 2 }, (float[]){ 1, 2, 3, 4 });
    dm_tensor *tb = tu_tensor(1, (int64_t[]){ 2 }, (float[]){ 1, 1 });
    c = (lctx){ xb, tb, NULL, NULL, K_MSE, 0, 0 };
    check_reductions(loss_red, &c, (double[]){ 0, 1, 4, 9 }, 4, "mse broadcast target");
    dm_tensor_release(xb);
    dm_tensor_release(tb);

    /* mean of nothing is nan, sum is 0 */
    dm_tensor *e = dm_tensor_new(1, (int64_t[]){ 0 });
    dm_tensor *y = dm_mse_loss(e, e, DM_REDUCTION_MEAN);
    CHECK(y && isnan(tu_val0(y)), "mse of empty is nan");
    dm_tensor_release(y);
    y = dm_mse_loss(e, e, DM_REDUCTION_SUM);
    CHECK(y && tu_val0(y) == 0, "sum of empty mse is 0");
    dm_tensor_release(y);
    dm_tensor_release(e);
}

static void test_class_values(void)
{
    const int64_t s23[] = { 2, 3 }, s2[] = { 2 }, s3[] = { 3 };
    dm_tensor *lp = tu_tensor(2, s23, (float[]){ -1, -2, -3, -4, -5, -6 });
    dm_tensor *t = lt(tu_tensor(1, s2, (float[]){ 2, 0 }));
    dm_tensor *w = tu_tensor(1, s3, (float[]){ 1, 2, 3 });
    lctx c = { lp, t, NULL, NULL, K_NLL, 0, -100 };
    check_reductions(loss_red, &c, (double[]){ 3, 4 }, 2, "nll values");
    c.w = w;                            /* none: 9, 4; mean divides by 3 + 1 */
    dm_tensor *y = loss_red(DM_REDUCTION_MEAN, &c);
    CHECK_NEAR(tu_val0(y), 13.0 / 4, 1e-6, "nll weighted mean");
    dm_tensor_release(y);
    y = loss_red(DM_REDUCTION_NONE, &c);
    tu_check_vals(y, (double[]){ 9, 4 }, 2, 1e-6, "nll weighted none");
    dm_tensor_release(y);
    c.ignore = 0;                       /* the second row is ignored */
    y = loss_red(DM_REDUCTION_NONE, &c);
    tu_check_vals(y, (double[]){ 9, 0 }, 2, 1e-6, "nll ignore none");
    dm_tensor_release(y);
    y = loss_red(DM_REDUCTION_MEAN, &c);
    CHECK_NEAR(tu_val0(y), 3, 1e-6, "nll ignore mean");
    dm_tensor_release(y);
    c.ignore = 2;                       /* every target ignored: mean 0 / 0 */
    dm_tensor *t2 = lt(tu_tensor(1, s2, (float[]){ 2, 2 }));
    c.t = t2;
    y = loss_red(DM_REDUCTION_MEAN, &c);
    CHECK(y && isnan(tu_val0(y)), "nll all ignored mean is nan");
    dm_tensor_release(y);
    y = loss_red(DM_REDUCTION_SUM, &c);
    CHECK(y && tu_val0(y) == 0, "nll all ignored sum is 0");
    dm_tensor_release(y);
    dm_tensor_release(t2);

    /* 1-D input with a 0-dim target */
    dm_tensor *lp1 = tu_tensor(1, s3, (float[]){ -1, -2, -3 }), *t0 = lt(dm_tensor_scalar(1));
    y = dm_nll_loss(lp1, t0, NULL, DM_REDUCTION_NONE, -100);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 2, "nll 1-D input");
    dm_tensor_release(y);

    /* cross entropy: logits [1 2 3], target 2 */
    dm_tensor *x1 = tu_tensor(2, (int64_t[]){ 1, 3 }, (float[]){ 1, 2, 3 });
    dm_tensor *tt = lt(tu_tensor(1, (int64_t[]){ 1 }, (float[]){ 2 }));
    double lse = 3 + log(1 + exp(-1.0) + exp(-2.0));
    double nlp[3] = { lse - 1, lse - 2, lse - 3 };        /* -log_softmax */
    y = dm_cross_entropy(x1, tt, NULL, DM_REDUCTION_MEAN, -100, 0);
    CHECK_NEAR(tu_val0(y), nlp[2], 1e-6, "ce value");
    dm_tensor_release(y);
    y = dm_cross_entropy(x1, tt, NULL, DM_REDUCTION_MEAN, -100, 0.3);
    CHECK_NEAR(tu_val0(y), 0.7 * nlp[2] + 0.1 * (nlp[0] + nlp[1] + nlp[2]), 1e-6, "ce smoothing");
    dm_tensor_release(y);
    y = dm_cross_entropy(x1, tt, w, DM_REDUCTION_MEAN, -100, 0.3);
    /* both parts over the target's weight 3 */
    CHECK_NEAR(tu_val0(y), (0.7 * 3 * nlp[2] + 0.1 * (nlp[0] + 2 * nlp[1] + 3 * nlp[2])) / 3, 1e-6,
               "ce smoothing weight");
    dm_tensor_release(y);
    y = dm_cross_entropy(x1, tt, w, DM_REDUCTION_SUM, -100, 0.3);
    CHECK_NEAR(tu_val0(y), 0.7 * 3 * nlp[2] + 0.1 * (nlp[0] + 2 * nlp[1] + 3 * nlp[2]), 1e-6,
               "ce smoothing weight sum");
    dm_tensor_release(y);

    /* two rows, one ignored: the smoothing term's mean is over rows not ignored too */
    dm_tensor *x2 = tu_tensor(2, s23, (float[]){ 1, 2, 3, 0, 0, 0 });
    dm_tensor *tig = lt(tu_tensor(1, s2, (float[]){ 2, -100 }));
    y = dm_cross_entropy(x2, tig, NULL, DM_REDUCTION_MEAN, -100, 0.3);
    CHECK_NEAR(tu_val0(y), 0.7 * nlp[2] + 0.1 * (nlp[0] + nlp[1] + nlp[2]), 1e-6,
               "ce smoothing ignore mean");
    dm_tensor_release(y);
    y = dm_cross_entropy(x2, tig, NULL, DM_REDUCTION_NONE, -100, 0.3);
    tu_check_vals(y, (double[]){ 0.7 * nlp[2] + 0.1 * (nlp[0] + nlp[1] + nlp[2]), 0 }, 2, 1e-6,
                  "ce smoothing ignore none");
    dm_tensor_release(y);

    /* probability targets: -sum t lp; mean over rows; smoothing mixes in 1 / C */
    dm_tensor *tp = tu_tensor(2, (int64_t[]){ 1, 3 }, (float[]){ 0.2f, 0.3f, 0.5f });
    double p0 = 0.2 * nlp[0] + 0.3 * nlp[1] + 0.5 * nlp[2];
    y = dm_cross_entropy(x1, tp, NULL, DM_REDUCTION_MEAN, -100, 0);
    CHECK_NEAR(tu_val0(y), p0, 1e-6, "ce probabilities");
    dm_tensor_release(y);
    y = dm_cross_entropy(x1, tp, w, DM_REDUCTION_NONE, -100, 0.6);
    double tq[3] = { 0.2 * 0.4 + 0.2, 0.3 * 0.4 + 0.2, 0.5 * 0.4 + 0.2 };
    tu_check_vals(y, (double[]){ tq[0] * nlp[0] + 2 * tq[1] * nlp[1] + 3 * tq[2] * nlp[2] }, 1,
                  1e-6, "ce probabilities weight smoothing");
    dm_tensor_release(y);

    /* 1-D logits */
    dm_tensor *x1d = tu_tensor(1, s3, (float[]){ 1, 2, 3 }), *tz = lt(dm_tensor_scalar(0));
    y = dm_cross_entropy(x1d, tz, NULL, DM_REDUCTION_SUM, -100, 0);
    CHECK(y && y->ndim == 0, "ce 1-D is a scalar");
    CHECK_NEAR(tu_val0(y), nlp[0], 1e-6, "ce 1-D value");
    dm_tensor_release(y);

    dm_tensor *objs[] = { lp, t, w, lp1, t0, x1, tt, x2, tig, tp, x1d, tz };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

/* ---- 2. gradient checks ------------------------------------------------------------------ */

typedef struct { lctx c; dm_reduction r; } gctx;

static dm_tensor *gfun(dm_tensor *const *in, void *ctx)
{
    gctx *g = ctx;
    return call_loss(&g->c, in[0], in[1], g->r);
}

static void grad_case(const char *name, lctx c, dm_tensor *x, dm_tensor *t, int target_grad)
{
    dm_set_requires_grad(x, 1);
    if (target_grad) dm_set_requires_grad(t, 1);
    for (int k = 0; k < 3; k++) {
        gctx g = { c, REDS[k] };
        dm_tensor *in[2] = { x, t };
        double err = gradcheck(gfun, 2, in, &g, 1e-3);
        char what[128];
        snprintf(what, sizeof what, "gradcheck %s %s (err %.3g)", name, RED_NAME[k], err);
        CHECK(err < 2e-3, what);
        CHECK(x->grad != NULL, what);
        if (target_grad) CHECK(t->grad != NULL, what);
    }
    dm_tensor_release(x);
    dm_tensor_release(t);
}

static void test_gradients(void)
{
    const int64_t s34[] = { 3, 4 }, s4[] = { 4 }, s5[] = { 5 }, s54[] = { 5, 4 };
    lctx c = { NULL, NULL, NULL, NULL, K_BCE, 0, -100 };
    grad_case("bce", c, tu_rand(2, s34, 0.1f, 0.9f, 1), tu_rand(2, s34, 0, 1, 2), 1);
    dm_tensor *w4 = tu_rand(1, s4, 0.5f, 2, 3), *pw4 = tu_rand(1, s4, 0.2f, 3, 4);
    c.w = w4;
    grad_case("bce weight", c, tu_rand(2, s34, 0.1f, 0.9f, 5), tu_rand(2, s34, 0, 1, 6), 1);
    c.kind = K_BCEL; c.w = NULL;
    grad_case("bce_logits", c, tu_rand(2, s34, -4, 4, 7), tu_rand(2, s34, 0, 1, 8), 1);
    c.w = w4; c.pw = pw4;
    grad_case("bce_logits weight pos_weight", c,
              tu_rand(2, s34, -4, 4, 9), tu_rand(2, s34, 0, 1, 10), 1);
    c.w = NULL;
    grad_case("bce_logits pos_weight", c, tu_rand(2, s34, -4, 4, 11), tu_rand(2, s34, 0, 1, 12), 1);
    c.pw = NULL;
    c.kind = K_MSE;
    grad_case("mse", c, tu_rand(2, s34, -2, 2, 13), tu_rand(2, s34, -2, 2, 14), 1);
    grad_case("mse broadcast target", c, tu_rand(2, s34, -2, 2, 15), tu_rand(1, s4, -2, 2, 16), 1);
    c.kind = K_L1;
    grad_case("l1", c, tu_rand(2, s34, -2, 2, 17), tu_rand(2, s34, -2, 2, 18), 1);
    c.kind = K_SL1; c.par = 1;
    grad_case("smooth_l1", c, tu_rand(2, s34, -2, 2, 19), tu_rand(2, s34, -2, 2, 20), 1);
    c.par = 0.3;
    grad_case("smooth_l1 beta 0.3", c, tu_rand(2, s34, -2, 2, 21), tu_rand(2, s34, -2, 2, 22), 1);
    c.kind = K_HUBER; c.par = 1;
    grad_case("huber", c, tu_rand(2, s34, -2, 2, 23), tu_rand(2, s34, -2, 2, 24), 1);
    c.par = 0.4;
    grad_case("huber delta 0.4", c, tu_rand(2, s34, -2, 2, 25), tu_rand(2, s34, -2, 2, 26), 1);

    /* class losses: targets 0 1 2 3 1 with class 1 ignored in some cases */
    dm_tensor *w5 = tu_rand(1, s4, 0.5f, 2, 27);
    const float tv[5] = { 0, 1, 2, 3, 1 };
    c = (lctx){ NULL, NULL, NULL, NULL, K_NLL, 0, -100 };
    grad_case("nll", c, tu_rand(2, s54, -3, 0, 28), lt(tu_tensor(1, s5, tv)), 0);
    c.w = w5;
    grad_case("nll weight", c, tu_rand(2, s54, -3, 0, 29), lt(tu_tensor(1, s5, tv)), 0);
    c.ignore = 1;
    grad_case("nll weight ignore", c, tu_rand(2, s54, -3, 0, 30), lt(tu_tensor(1, s5, tv)), 0);
    c.kind = K_CE; c.w = NULL; c.ignore = -100;
    grad_case("cross_entropy", c, tu_rand(2, s54, -3, 3, 31), lt(tu_tensor(1, s5, tv)), 0);
    c.w = w5; c.ignore = 1;
    grad_case("cross_entropy weight ignore", c,
              tu_rand(2, s54, -3, 3, 32), lt(tu_tensor(1, s5, tv)), 0);
    c.par = 0.2;
    grad_case("cross_entropy weight ignore smoothing", c, tu_rand(2, s54, -3, 3, 33),
              lt(tu_tensor(1, s5, tv)), 0);
    c.w = NULL;
    grad_case("cross_entropy smoothing ignore", c,
              tu_rand(2, s54, -3, 3, 34), lt(tu_tensor(1, s5, tv)), 0);
    c.ignore = -100; c.par = 0;
    grad_case("cross_entropy probabilities", c,
              tu_rand(2, s54, -3, 3, 35), tu_rand(2, s54, 0, 1, 36), 1);
    c.w = w5; c.par = 0.25;
    grad_case("cross_entropy probabilities weight smoothing", c, tu_rand(2, s54, -3, 3, 37),
              tu_rand(2, s54, 0, 1, 38), 1);
    c.w = NULL; c.par = 0;
    grad_case("cross_entropy 1-D", c, tu_rand(1, s4, -3, 3, 39), lt(dm_tensor_scalar(2)), 0);
    dm_tensor_release(w4);
    dm_tensor_release(pw4);
    dm_tensor_release(w5);
}

/* the BCE gradient's denominator is clamped at 1e-12, as PyTorch's */
static void test_bce_edge_gradient(void)
{
    const int64_t s2[] = { 2 };
    dm_tensor *x = tu_tensor(1, s2, (float[]){ 0, 1 }), *t = tu_tensor(1, s2, (float[]){ 1, 0 });
    dm_set_requires_grad(x, 1);
    dm_tensor *y = dm_bce_loss(x, t, NULL, DM_REDUCTION_SUM);
    CHECK_NEAR(tu_val0(y), 200, 1e-6, "bce at the edges");
    CHECK(dm_backward(y, NULL, 0) == 0, "bce edge backward");
    tu_check_vals(x->grad, (double[]){ -1e12, 1e12 }, 2, 1e-6, "bce edge gradient");
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(t);
}

/* ---- 3. non-contiguous inputs ------------------------------------------------------------ */

static void test_noncontiguous(void)
{
    /* x, t as transposed views of [4 x 3] buffers; compare with contiguous copies */
    const int64_t s43[] = { 4, 3 };
    dm_tensor *bx = tu_rand(2, s43, 0.1f, 0.9f, 40), *bt = tu_rand(2, s43, 0, 1, 41);
    dm_tensor *xv = dm_transpose(bx, 0, 1), *tv = dm_transpose(bt, 0, 1);
    dm_tensor *xc = dm_clone(xv), *tc = dm_clone(tv);
    CHECK(!dm_is_contiguous(xv) && dm_is_contiguous(xc), "views are non-contiguous");
    dm_tensor *w = tu_rand(1, (int64_t[]){ 4 }, 0.5f, 2, 42);
    dm_tensor *w2 = dm_tensor_new(1, (int64_t[]){ 8 });    /* a strided weight view */
    for (int i = 0; i < 8; i++) dm_data(w2)[i] = dm_data(w)[i / 2];
    dm_tensor *wv = dm_tensor_alias(w2, 1, (int64_t[]){ 4 }, (int64_t[]){ 2 }, 0);
    for (int kind = K_BCE; kind <= K_HUBER; kind++) {
        lctx c = { NULL, NULL, kind <= K_BCEL ? wv : NULL, NULL, kind, 0.5, 0 };
        lctx cc = c;
        cc.w = kind <= K_BCEL ? w : NULL;
        for (int k = 0; k < 3; k++) {
            dm_tensor *a = call_loss(&c, xv, tv, REDS[k]);
            dm_tensor *b = call_loss(&cc, xc, tc, REDS[k]);
            CHECK(tu_same_values(a, b, 1e-6), "elementwise loss on views");
            dm_tensor_release(a);
            dm_tensor_release(b);
        }
    }
    /* class losses: logits [3 x 4] as a transposed view; targets strided */
    dm_tensor *lg = tu_rand(2, s43, -2, 2, 43);
    dm_tensor *lv = dm_transpose(lg, 0, 1), *lc = dm_clone(lv);
    dm_tensor *tb = lt(tu_tensor(1, (int64_t[]){ 6 }, (float[]){ 2, 9, 0, 9, 3, 9 }));
    dm_tensor *tsv = dm_tensor_alias(tb, 1, (int64_t[]){ 3 }, (int64_t[]){ 2 }, 0);
    dm_tensor *tsc = lt(tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 2, 0, 3 }));
    for (int kind = K_NLL; kind <= K_CE; kind++)
        for (int k = 0; k < 3; k++) {
            lctx c = { NULL, NULL, wv, NULL, kind, 0.1, 0 }, cc = c;
            cc.w = w;
            dm_tensor *a = call_loss(&c, lv, tsv, REDS[k]);
            dm_tensor *b = call_loss(&cc, lc, tsc, REDS[k]);
            CHECK(tu_same_values(a, b, 1e-6), "class loss on views");
            dm_tensor_release(a);
            dm_tensor_release(b);
        }
    /* gradient flows through a view to the leaf */
    dm_set_requires_grad(lg, 1);
    dm_tensor *lv2 = dm_transpose(lg, 0, 1);
    dm_tensor *y = dm_cross_entropy(lv2, tsv, NULL, DM_REDUCTION_SUM, -100, 0);
    CHECK(y && dm_backward(y, NULL, 0) == 0, "backward through a view");
    dm_set_requires_grad(lc, 1);
    dm_tensor *y2 = dm_cross_entropy(lc, tsc, NULL, DM_REDUCTION_SUM, -100, 0);
    CHECK(y2 && dm_backward(y2, NULL, 0) == 0, "backward contiguous");
    dm_tensor *gt = lg->grad ? dm_transpose(lg->grad, 0, 1) : NULL;
    CHECK(gt && lc->grad && tu_same_values(gt, lc->grad, 1e-6), "gradient through a view");
    dm_tensor *objs[] = { bx, bt, xv, tv, xc, tc, w, w2, wv, lg, lv, lc, tb, tsv, tsc, lv2,
                          y, y2, gt };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

/* ---- 4. errors, names ------------------------------------------------------------------ */

static void test_errors(void)
{
    dm_tensor *x16 = dm_tensor_full(2, (int64_t[]){ 16, 1 }, 0.5f);
    dm_tensor *t16 = dm_tensor_full(1, (int64_t[]){ 16 }, 1);
    CHECK_ERR(dm_bce_loss(x16, t16, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy: target size [16] differs from input size [16 x 1]");
    CHECK_ERR(dm_bce_with_logits_loss(x16, t16, NULL, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy_with_logits: target size [16] differs from input size "
              "[16 x 1]");
    dm_tensor *bad = dm_tensor_full(1, (int64_t[]){ 16 }, 1.5f);
    CHECK_ERR(dm_bce_loss(bad, t16, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy: all elements of input should be between 0 and 1");
    dm_tensor *w3 = dm_tensor_full(1, (int64_t[]){ 3 }, 1);
    dm_tensor *x23 = dm_tensor_full(2, (int64_t[]){ 2, 3 }, 0.5f);
    dm_tensor *w2 = dm_tensor_full(1, (int64_t[]){ 2 }, 1);
    CHECK_ERR(dm_bce_loss(x23, x23, w2, DM_REDUCTION_MEAN),
              "binary_cross_entropy: weight [2] cannot be broadcast to input [2 x 3]");
    CHECK_ERR(dm_bce_with_logits_loss(x23, x23, NULL, w2, DM_REDUCTION_MEAN),
              "binary_cross_entropy_with_logits: pos_weight [2] cannot be broadcast to input "
              "[2 x 3]");
    dm_tensor *t4 = dm_tensor_full(1, (int64_t[]){ 4 }, 1);
    CHECK_ERR(dm_mse_loss(x23, t4, DM_REDUCTION_MEAN),
              "mse_loss: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_l1_loss(x23, t4, DM_REDUCTION_SUM),
              "l1_loss: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_mse_loss(x23, x23, (dm_reduction)7), "mse_loss: unknown reduction 7");
    CHECK_ERR(dm_smooth_l1_loss(x23, x23, DM_REDUCTION_MEAN, -1),
              "smooth_l1_loss: beta must be non-negative, got -1");
    CHECK_ERR(dm_huber_loss(x23, x23, DM_REDUCTION_MEAN, 0),
              "huber_loss: delta must be positive, got 0");

    /* class losses (indices in messages are 1-based, as users see them) */
    dm_tensor *x33 = dm_tensor_full(2, (int64_t[]){ 3, 3 }, -1);
    dm_tensor *tbad = lt(tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 0, 4, 1 }));
    CHECK_ERR(dm_nll_loss(x33, tbad, NULL, DM_REDUCTION_MEAN, -100),
              "nll_loss: target 5 out of range for 3 classes (class labels are 1-based, 1 to 3)");
    dm_tensor *tneg = lt(tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 0, -1, 1 }));
    CHECK_ERR(dm_cross_entropy(x33, tneg, NULL, DM_REDUCTION_MEAN, -100, 0),
              "cross_entropy: target 0 out of range for 3 classes (class labels are 1-based, 1 to "
              "3; 0-based labels need + 1)");
    dm_tensor *tfrac = tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 0, 1.5f, 1 });
    CHECK_ERR(dm_nll_loss(x33, tfrac, NULL, DM_REDUCTION_NONE, -100),
              "nll_loss: expected an int64 tensor of class indices, got float32 (use :long())");
    CHECK_ERR(dm_cross_entropy(x33, tfrac, NULL, DM_REDUCTION_NONE, -100, 0),
              "cross_entropy: expected an int64 tensor of class indices (or probabilities of "
              "the input's size), got float32 (use :long())");
    dm_tensor *t4l = dm_to_dtype(t4, DM_INT64), *t3l = lt(dm_tensor_zeros(1, (int64_t[]){ 3 }));
    CHECK_ERR(dm_nll_loss(x33, t4l, NULL, DM_REDUCTION_MEAN, -100),
              "nll_loss: size mismatch (got input: [3 x 3], target: [4])");
    CHECK_ERR(dm_nll_loss(x33, t3l, w2, DM_REDUCTION_MEAN, -100),
              "nll_loss: weight should have one element per class (3), got [2]");
    dm_tensor *x3d = dm_tensor_full(3, (int64_t[]){ 2, 3, 4 }, 0);
    CHECK_ERR(dm_cross_entropy(x3d, t4l, NULL, DM_REDUCTION_MEAN, -100, 0),
              "cross_entropy: expected target [2 x 4] of class indices for input [2 x 3 x 4] "
              "[N x C x d1 x ...], got [4]");
    CHECK_ERR(dm_cross_entropy(x33, w3, NULL, DM_REDUCTION_MEAN, -100, 1.5),
              "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5");
    dm_tensor *objs[] = { x16, t16, bad, w3, x23, w2, t4, x33, tbad, tneg, tfrac, x3d, t4l, t3l };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

static void test_names(void)
{
    const int64_t s2[] = { 2 }, s22[] = { 2, 2 };
    dm_tensor *x = tu_tensor(1, s2, (float[]){ 0.3f, 0.6f });
    dm_tensor *t = tu_tensor(1, s2, (float[]){ 0, 1 });
    dm_set_requires_grad(x, 1);
    struct { dm_tensor *y; const char *name; } cases[] = {
        { dm_bce_loss(x, t, NULL, DM_REDUCTION_MEAN), "BinaryCrossEntropyBackward0" },
        { dm_bce_with_logits_loss(x, t, NULL, NULL, DM_REDUCTION_SUM),
          "BinaryCrossEntropyWithLogitsBackward0" },
        { dm_mse_loss(x, t, DM_REDUCTION_NONE), "MseLossBackward0" },
        { dm_smooth_l1_loss(x, t, DM_REDUCTION_MEAN, 1), "SmoothL1LossBackward0" },
        { dm_huber_loss(x, t, DM_REDUCTION_MEAN, 1), "HuberLossBackward0" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *n = cases[i].y ? dm_grad_fn_name(cases[i].y) : NULL;
        CHECK(n && strcmp(n, cases[i].name) == 0, cases[i].name);
        dm_tensor_release(cases[i].y);
    }
    dm_tensor *lp = tu_tensor(2, s22, (float[]){ -1, -2, -3, -4 });
    dm_set_requires_grad(lp, 1);
    dm_tensor *tl = dm_to_dtype(t, DM_INT64);
    dm_tensor *y = dm_nll_loss(lp, tl, NULL, DM_REDUCTION_MEAN, -100);
    CHECK(y && strcmp(dm_grad_fn_name(y), "NllLossBackward0") == 0, "NllLossBackward0");
    dm_tensor_release(y);
    y = dm_cross_entropy(lp, tl, NULL, DM_REDUCTION_MEAN, -100, 0);
    CHECK(y && strcmp(dm_grad_fn_name(y), "NllLossBackward0") == 0, "cross_entropy's name");
    dm_tensor_release(y);
    dm_tensor_release(tl);
    /* no grad mode, no inputs requiring grad: no node */
    dm_tensor *t2 = tu_tensor(1, s2, (float[]){ 0, 1 });
    y = dm_mse_loss(t2, t, DM_REDUCTION_MEAN);
    CHECK(y && !y->grad_fn && !y->requires_grad, "no node without grad");
    dm_tensor_release(y);
    int prev = dm_set_grad_enabled(0);
    y = dm_mse_loss(x, t, DM_REDUCTION_MEAN);
    CHECK(y && !y->grad_fn, "no node in no-grad mode");
    dm_tensor_release(y);
    dm_set_grad_enabled(prev);
    dm_tensor_release(t2);
    dm_tensor_release(lp);
    dm_tensor_release(x);
    dm_tensor_release(t);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_elementwise_values();
    test_class_values();
    test_gradients();
    test_bce_edge_gradient();
    test_noncontiguous();
    test_errors();
    test_names();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_loss");
}
