/* test_dtype_reduce.c -- reductions, losses, dropout and batch norm per dtype (core/ops/reduce.c,
 * loss.c, nn.c): float64 values against double references, float64 gradients by central
 * differences in double, float64 agreeing with float32, integer and bool reductions (exact
 * int64 sums, dtypes kept by max/min, int64 indices), class targets, non-contiguous inputs,
 * dtype promotion and the error messages. */
#include "testutil.h"

static const int64_t S34[] = { 3, 4 }, S4[] = { 4 }, S3[] = { 3 };
static const int64_t ZERO[DM_MAX_DIMS];

/* ---- helpers ---------------------------------------------------------------------------- */

static dm_tensor *t64(int ndim, const int64_t *shape, const double *v)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_FLOAT64);
    memcpy(dm_data_ptr(t), v, (size_t)dm_numel(t) * sizeof *v);
    return t;
}

static dm_tensor *tl(int ndim, const int64_t *shape, const int64_t *v)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_INT64);
    memcpy(dm_data_ptr(t), v, (size_t)dm_numel(t) * sizeof *v);
    return t;
}

/* a float64 tensor with values sin(1.3 k + seed) * scale + shift, k row-major */
static dm_tensor *pattern(int ndim, const int64_t *shape, double seed, double scale, double shift)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_FLOAT64);
    double *d = dm_data_ptr(t);
    for (int64_t k = 0, n = dm_numel(t); k < n; k++) d[k] = sin(1.3 * (double)k + seed) * scale + shift;
    return t;
}

static double v64(const dm_tensor *t, int64_t k)        /* element k, row-major, any dtype */
{
    int64_t idx[DM_MAX_DIMS] = { 0 };
    for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = k % t->shape[d]; k /= t->shape[d]; }
    return dm_get_f64(t, idx);
}

static int64_t vi(const dm_tensor *t, int64_t k)
{
    int64_t idx[DM_MAX_DIMS] = { 0 };
    for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = k % t->shape[d]; k /= t->shape[d]; }
    return dm_get_i64(t, idx);
}

/* t has dtype dt and the n values want (tolerance tol, relative above 1) */
static void check64(const dm_tensor *t, dm_dtype dt, const double *want, int64_t n, double tol,
                    const char *what)
{
    CHECKF(t && t->dtype == dt && dm_numel(t) == n, "%s: %s, dtype %s, %lld values", what,
           t ? "got a tensor" : dm_errmsg(), t ? dm_dtype_name(t->dtype) : "-",
           t ? (long long)dm_numel(t) : -1LL);
    if (!t || dm_numel(t) != n) return;
    for (int64_t k = 0; k < n; k++)
        CHECKF(tu_close(v64(t, k), want[k], tol), "%s: element %lld is %.17g, expected %.17g",
               what, (long long)k, v64(t, k), want[k]);
}

/* ---- 1. float64 values against double references --------------------------------------- */

static void test_f64_values(void)
{
    dm_tensor *x = pattern(2, S34, 0.5, 2, 0.25);      /* [3 x 4] */
    const double *xd = dm_data_ptr(x);
    double rs[3], rm[3], rp[3], rv[3], rsd[3], rmx[3], ram[3], sm[12], lsm[12], all = 0;
    for (int i = 0; i < 3; i++) {
        double s = 0, p = 1, mx = -INFINITY, am = 0;
        for (int j = 0; j < 4; j++) {
            double v = xd[i * 4 + j];
            s += v; p *= v;
            if (v > mx) { mx = v; am = j; }
        }
        double m = s / 4, q = 0, e = 0;
        for (int j = 0; j < 4; j++) q += (xd[i * 4 + j] - m) * (xd[i * 4 + j] - m);
        for (int j = 0; j < 4; j++) e += exp(xd[i * 4 + j] - mx);
        for (int j = 0; j < 4; j++) {
            sm[i * 4 + j] = exp(xd[i * 4 + j] - mx) / e;
            lsm[i * 4 + j] = xd[i * 4 + j] - mx - log(e);
        }
        rs[i] = s; rm[i] = m; rp[i] = p; rv[i] = q / 3; rsd[i] = sqrt(q / 3);
        rmx[i] = mx; ram[i] = am;
        all += s;
    }
    struct { dm_redop op; const double *want; dm_dtype dt; const char *what; } cases[] = {
        { DM_RED_SUM, rs, DM_FLOAT64, "f64 sum(dim 2)" },
        { DM_RED_MEAN, rm, DM_FLOAT64, "f64 mean(dim 2)" },
        { DM_RED_PROD, rp, DM_FLOAT64, "f64 prod(dim 2)" },
        { DM_RED_VAR, rv, DM_FLOAT64, "f64 var(dim 2)" },
        { DM_RED_STD, rsd, DM_FLOAT64, "f64 std(dim 2)" },
        { DM_RED_MAX, rmx, DM_FLOAT64, "f64 max(dim 2)" },
        { DM_RED_ARGMAX, ram, DM_INT64, "f64 argmax(dim 2) is int64" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        dm_tensor *y = dm_reduce(cases[c].op, x, 1, 0, 1);
        check64(y, cases[c].dt, cases[c].want, 3, 1e-14, cases[c].what);
        dm_tensor_release(y);
    }
    dm_tensor *y = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
    check64(y, DM_FLOAT64, &all, 1, 1e-14, "f64 sum()");
    dm_tensor_release(y);
    y = dm_softmax(x, 1);
    check64(y, DM_FLOAT64, sm, 12, 1e-15, "f64 softmax");
    dm_tensor_release(y);
    y = dm_log_softmax(x, -1);
    check64(y, DM_FLOAT64, lsm, 12, 1e-14, "f64 log_softmax");
    dm_tensor_release(y);
    dm_tensor *v, *ix;
    CHECK(dm_max_dim(x, 1, 1, 0, &v, &ix) == 0, "f64 max_dim");
    check64(v, DM_FLOAT64, rmx, 3, 0, "f64 max_dim values");
    check64(ix, DM_INT64, ram, 3, 0, "f64 max_dim indices are int64 (0-based in the core)");
    CHECK(v && v->ndim == 2 && v->shape[1] == 1, "f64 max_dim keepdim");
    dm_tensor_release(v);
    dm_tensor_release(ix);
    /* sum_to [3 x 4] -> [4] */
    double cols[4];
    for (int j = 0; j < 4; j++) cols[j] = xd[j] + xd[4 + j] + xd[8 + j];
    y = dm_sum_to(x, 1, S4);
    check64(y, DM_FLOAT64, cols, 4, 1e-15, "f64 sum_to");
    dm_tensor_release(y);
    /* a value float32 cannot hold: 1 + 2^-40 survives in float64 */
    dm_tensor *fine = t64(1, (int64_t[]){ 2 }, (double[]){ 1 + 0x1p-40, 0x1p-40 });
    y = dm_reduce(DM_RED_SUM, fine, DM_ALL, 0, 1);
    CHECK(y && *(double *)dm_data_ptr(y) == 1 + 0x1p-39, "f64 sum keeps bits float32 lacks");
    dm_tensor_release(y);
    dm_tensor_release(fine);
    dm_tensor_release(x);
}

/* float64 agrees with float32 on the same data, and keeps float32 results unchanged */
static void test_f64_vs_f32(void)
{
    dm_tensor *x = pattern(2, S34, 1.5, 3, 0);
    dm_tensor *xf = dm_to_dtype(x, DM_FLOAT32);
    for (int op = DM_RED_SUM; op <= DM_RED_STD; op++)
        for (int dim = -1; dim <= 1; dim++) {
            int d = dim < 0 ? DM_ALL : dim;
            dm_tensor *a = dm_reduce((dm_redop)op, x, d, 0, 1);
            dm_tensor *b = dm_reduce((dm_redop)op, xf, d, 0, 1);
            char what[64];
            snprintf(what, sizeof what, "f64 vs f32: op %d dim %d", op, dim);
            CHECK(a && b && tu_same_values(a, b, 1e-5), what);
            int arg = op == DM_RED_ARGMAX || op == DM_RED_ARGMIN;
            CHECK(a && b && a->dtype == (arg ? DM_INT64 : DM_FLOAT64) &&
                  b->dtype == (arg ? DM_INT64 : DM_FLOAT32), what);
            dm_tensor_release(a);
            dm_tensor_release(b);
        }
    dm_tensor_release(x);
    dm_tensor_release(xf);
}

/* ---- 2. integer and bool inputs --------------------------------------------------------- */

static void test_integers(void)
{
    /* int64 sums are exact where double is not (2^53 + 1) */
    int64_t big = ((int64_t)1 << 53) + 1;
    dm_tensor *x = tl(1, S3, (int64_t[]){ big, 1, -2 });
    dm_tensor *y = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == big - 1, "int64 sum exact");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_PROD, x, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == -2 * big, "int64 prod exact");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* [2 x 3]: max/min keep int64, argmax int64, ties to the first */
    x = tl(2, (int64_t[]){ 2, 3 }, (int64_t[]){ 5, -7, 5, 0, 9, 9 });
    y = dm_reduce(DM_RED_MAX, x, 1, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 5 && vi(y, 1) == 9, "int64 max(dim)");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MIN, x, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && y->ndim == 0 && vi(y, 0) == -7, "int64 min()");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMAX, x, 1, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 0 && vi(y, 1) == 1, "int64 argmax first tie");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMIN, x, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 1, "int64 argmin()");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_SUM, x, 0, 1, 1);
    CHECK(y && y->dtype == DM_INT64 && y->ndim == 2 && vi(y, 0) == 5 && vi(y, 1) == 2 &&
          vi(y, 2) == 14, "int64 sum(dim 1, keepdim)");
    dm_tensor_release(y);
    dm_tensor *v, *ix;
    CHECK(dm_max_dim(x, 0, 0, 1, &v, &ix) == 0 && v->dtype == DM_INT64 && ix->dtype == DM_INT64 &&
          vi(v, 1) == -7 && vi(ix, 1) == 0 && vi(ix, 2) == 0, "int64 min_dim");
    dm_tensor_release(v);
    dm_tensor_release(ix);
    /* a transposed (non-contiguous) int64 view */
    dm_tensor *xt = dm_transpose(x, 0, 1);
    y = dm_reduce(DM_RED_ARGMAX, xt, 0, 0, 1);
    CHECK(y && vi(y, 0) == 0 && vi(y, 1) == 1, "int64 argmax of a transposed view");
    dm_tensor_release(y);
    y = dm_sum_to(xt, 1, (int64_t[]){ 2 });
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 3 && vi(y, 1) == 18, "int64 sum_to of a view");
    dm_tensor_release(y);
    y = dm_sum_to(x, 3, (int64_t[]){ 1, 1, 3 });
    CHECK(y && y->dtype == DM_INT64 && vi(y, 2) == 14, "int64 sum_to with leading dims");
    dm_tensor_release(y);
    dm_tensor_release(xt);
    dm_tensor_release(x);

    /* uint8 and bool: sums and products to int64 (no wrap at 256), max/min keep the dtype */
    dm_tensor *u = dm_tensor_full_dtype(1, S3, 255, DM_UINT8);
    y = dm_reduce(DM_RED_SUM, u, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 765, "uint8 sum -> int64");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_PROD, u, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 255 * 255 * 255, "uint8 prod -> int64");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MAX, u, 0, 0, 1);
    CHECK(y && y->dtype == DM_UINT8 && vi(y, 0) == 255, "uint8 max keeps uint8");
    dm_tensor_release(y);
    dm_tensor_release(u);
    dm_tensor *b = dm_tensor_new_dtype(1, S4, DM_BOOL);
    memcpy(dm_data_ptr(b), (uint8_t[]){ 1, 0, 1, 1 }, 4);
    y = dm_reduce(DM_RED_SUM, b, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 3, "bool sum -> int64");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MIN, b, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_BOOL && vi(y, 0) == 0, "bool min keeps bool");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMIN, b, DM_ALL, 0, 1);
    CHECK(y && y->dtype == DM_INT64 && vi(y, 0) == 1, "bool argmin");
    dm_tensor_release(y);
    dm_tensor_release(b);
}

/* ---- 3. errors -------------------------------------------------------------------------- */

static void test_errors(void)
{
    dm_tensor *l = tl(1, S3, (int64_t[]){ 1, 2, 3 });
    dm_tensor *bo = dm_tensor_zeros_dtype(1, S3, DM_BOOL);
    dm_tensor *f = dm_tensor_zeros(1, S3), *d = dm_tensor_zeros_dtype(1, S3, DM_FLOAT64);
    dm_tensor *x23 = dm_tensor_zeros_dtype(2, (int64_t[]){ 2, 3 }, DM_FLOAT64);
    dm_tensor *t2 = tl(1, (int64_t[]){ 2 }, (int64_t[]){ 0, 1 });
    dm_tensor *t2d = dm_tensor_zeros_dtype(1, (int64_t[]){ 2 }, DM_FLOAT64);
    CHECK_ERR(dm_reduce(DM_RED_MEAN, l, DM_ALL, 0, 1),
              "mean: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_reduce(DM_RED_VAR, bo, 0, 0, 1),
              "var: expected a floating point tensor, got bool (use :float())");
    CHECK_ERR(dm_reduce(DM_RED_STD, l, DM_ALL, 0, 1),
              "std: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_softmax(l, 0), "softmax: not implemented for int64 tensors (convert with :float())");
    CHECK_ERR(dm_log_softmax(bo, 0),
              "log_softmax: not implemented for bool tensors (convert with :float())");
    CHECK_ERR(dm_mse_loss(l, f, DM_REDUCTION_MEAN),
              "mse_loss: expected a floating point input, got int64 (use :float())");
    CHECK_ERR(dm_bce_loss(f, l, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy: expected a floating point target, got int64 (use :float())");
    CHECK_ERR(dm_bce_with_logits_loss(f, bo, NULL, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy_with_logits: expected a floating point target, got bool "
              "(use :float())");
    CHECK_ERR(dm_bce_loss(f, d, NULL, DM_REDUCTION_MEAN),
              "binary_cross_entropy: target is float64 but input is float32 (convert one of them)");
    CHECK_ERR(dm_nll_loss(x23, t2d, NULL, DM_REDUCTION_MEAN, -100),
              "nll_loss: expected an int64 tensor of class indices, got float64 (use :long())");
    CHECK_ERR(dm_cross_entropy(x23, t2d, NULL, DM_REDUCTION_MEAN, -100, 0),
              "cross_entropy: expected an int64 tensor of class indices (or probabilities of the "
              "input's size), got float64 (use :long())");
    dm_tensor *li = dm_tensor_zeros_dtype(2, (int64_t[]){ 2, 3 }, DM_INT64);
    CHECK_ERR(dm_cross_entropy(li, t2, NULL, DM_REDUCTION_MEAN, -100, 0),
              "cross_entropy: expected a floating point input, got int64 (use :float())");
    dm_tensor *t3 = tl(1, (int64_t[]){ 2 }, (int64_t[]){ 3, -1 });
    CHECK_ERR(dm_nll_loss(x23, t3, NULL, DM_REDUCTION_MEAN, -100),
              "nll_loss: target 4 out of range for 3 classes (class labels are 1-based, 1 to 3)");
    CHECK_ERR(dm_dropout(l, 0.5, 1, NULL),
              "dropout: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_batch_norm(x23, NULL, NULL, f, NULL, 1, 0.1, 1e-5),
              "batch_norm: weight is float32 but the input is float64 (convert the module or the "
              "input)");
    dm_tensor *objs[] = { l, bo, f, d, x23, t2, t2d, t3, li };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

/* ---- 4. float64 gradients by central differences in double ------------------------------ */

typedef dm_tensor *(*f64fn)(dm_tensor *const *in, const void *ctx);

/* f's output made a scalar: itself when 0-dim, else sum (y - p)^2 with a fixed p, so every
   output element gets its own incoming gradient */
static dm_tensor *scalar_of(dm_tensor *y)
{
    if (!y || y->ndim == 0) return y;
    dm_tensor *p = pattern(y->ndim, y->shape, 0.3, 0.5, 0);
    dm_tensor *l = dm_mse_loss(y, p, DM_REDUCTION_SUM);
    dm_tensor_release(p);
    dm_tensor_release(y);
    return l;
}

static double eval(f64fn f, dm_tensor *const *in, const void *ctx)
{
    int prev = dm_set_grad_enabled(0);
    dm_tensor *l = scalar_of(f(in, ctx));
    dm_set_grad_enabled(prev);
    double v = l ? dm_get_f64(l, ZERO) : NAN;
    dm_tensor_release(l);
    return v;
}

/* the largest |numeric - analytic| / max(1, |numeric|) over every element of every input
   (each a contiguous float64 leaf used once by f: the engine's accumulation is float32's) */
static double gradcheck64(f64fn f, int n, dm_tensor *const *in, const void *ctx, const char *what)
{
    for (int k = 0; k < n; k++) {
        dm_set_requires_grad(in[k], 1);
        dm_tensor_release(in[k]->grad);
        in[k]->grad = NULL;
    }
    dm_tensor *l = scalar_of(f(in, ctx));
    if (!l || dm_backward(l, NULL, 0) != 0) {
        printf("%s: %s\n", what, dm_errmsg());
        dm_tensor_release(l);
        return INFINITY;
    }
    CHECKF(l->dtype == DM_FLOAT64, "%s: the loss is float64", what);
    dm_tensor_release(l);
    double worst = 0, h = 1e-6;
    for (int k = 0; k < n; k++) {
        const dm_tensor *g = in[k]->grad;
        CHECKF(g && g->dtype == DM_FLOAT64, "%s: input %d has a float64 grad", what, k);
        if (!g || g->dtype != DM_FLOAT64) return INFINITY;
        double *x = dm_data_ptr(in[k]);
        for (int64_t j = 0, m = dm_numel(in[k]); j < m; j++) {
            double x0 = x[j];
            x[j] = x0 + h;
            double fp = eval(f, in, ctx);
            x[j] = x0 - h;
            double fm = eval(f, in, ctx);
            x[j] = x0;
            double num = (fp - fm) / (2 * h), ana = v64(g, j);
            double err = fabs(num - ana) / (fabs(num) > 1 ? fabs(num) : 1);
            if (!(err <= worst)) worst = err;
        }
    }
    return worst;
}

typedef struct { dm_redop op; int dim; int keepdim; const dm_tensor *t, *w; int kind; } gctx;

static dm_tensor *g_reduce(dm_tensor *const *in, const void *c)
{
    const gctx *g = c;
    return dm_reduce(g->op, in[0], g->dim, g->keepdim, 1);
}
static dm_tensor *g_maxdim(dm_tensor *const *in, const void *c)
{
    dm_tensor *v, *ix;
    if (dm_max_dim(in[0], ((const gctx *)c)->dim, 0, 0, &v, &ix)) return NULL;
    dm_tensor_release(ix);
    return v;
}
static dm_tensor *g_softmax(dm_tensor *const *in, const void *c)
{
    return ((const gctx *)c)->kind ? dm_log_softmax(in[0], ((const gctx *)c)->dim)
                                   : dm_softmax(in[0], ((const gctx *)c)->dim);
}
static dm_tensor *g_sum_to(dm_tensor *const *in, const void *c)
{
    (void)c;
    return dm_sum_to(in[0], 2, (int64_t[]){ 1, 4 });
}
static dm_tensor *g_loss(dm_tensor *const *in, const void *c)
{
    const gctx *g = c;
    dm_reduction r = (dm_reduction)g->dim;
    switch (g->kind) {
    case 0: return dm_bce_loss(in[0], g->t, g->w, r);
    case 1: return dm_bce_with_logits_loss(in[0], g->t, g->w, g->w, r);
    case 2: return dm_mse_loss(in[0], g->t, r);
    case 3: return dm_l1_loss(in[0], g->t, r);
    case 4: return dm_smooth_l1_loss(in[0], g->t, r, 0.7);
    case 5: return dm_huber_loss(in[0], g->t, r, 0.6);
    case 6: return dm_nll_loss(in[0], g->t, g->w, r, 2);
    case 7: return dm_cross_entropy(in[0], g->t, g->w, r, 1, 0.15);
    default: return dm_cross_entropy(in[0], g->t, g->w, r, -100, 0.1);    /* probabilities */
    }
}
static dm_rng *drop_rng;
static dm_tensor *g_dropout(dm_tensor *const *in, const void *c)
{
    (void)c;
    dm_rng_seed(drop_rng, 7);                /* the same mask at every evaluation */
    return dm_dropout(in[0], 0.4, 1, drop_rng);
}
static dm_tensor *g_batchnorm(dm_tensor *const *in, const void *c)
{
    return dm_batch_norm(in[0], NULL, NULL, in[1], in[2], ((const gctx *)c)->kind, 0.1, 1e-5);
}

static void grad_case(const char *what, f64fn f, int n, dm_tensor **in, const gctx *c)
{
    double err = gradcheck64(f, n, in, c, what);
    CHECKF(err < 1e-6, "gradcheck float64 %s (err %.3g)", what, err);
}

static void test_f64_gradients(void)
{
    dm_tensor *x = pattern(2, S34, 0.7, 1.5, 0.1);
    dm_tensor *in[3] = { x };
    for (int op = DM_RED_SUM; op <= DM_RED_STD; op++) {
        if (op == DM_RED_ARGMAX || op == DM_RED_ARGMIN) continue;
        for (int dim = -1; dim <= 1; dim++) {
            gctx c = { (dm_redop)op, dim < 0 ? DM_ALL : dim, dim == 1, NULL, NULL, 0 };
            char what[48];
            snprintf(what, sizeof what, "reduce op %d dim %d", op, dim);
            grad_case(what, g_reduce, 1, in, &c);
        }
    }
    for (int d = 0; d < 2; d++) {
        gctx c = { 0, d, 0, NULL, NULL, 0 };
        grad_case("max_dim", g_maxdim, 1, in, &c);
        grad_case("softmax", g_softmax, 1, in, &c);
        c.kind = 1;
        grad_case("log_softmax", g_softmax, 1, in, &c);
    }
    grad_case("sum_to", g_sum_to, 1, in, &(gctx){ 0 });
    /* the op names are float32's */
    dm_set_requires_grad(x, 1);
    struct { dm_tensor *y; const char *name; } names[] = {
        { dm_reduce(DM_RED_SUM, x, 1, 0, 1), "SumBackward1" },
        { dm_reduce(DM_RED_STD, x, 0, 0, 1), "StdBackward0" },
        { dm_softmax(x, 1), "SoftmaxBackward0" },
        { dm_log_softmax(x, 1), "LogSoftmaxBackward0" },
        { dm_reduce(DM_RED_MAX, x, DM_ALL, 0, 1), "MaxBackward1" },
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *nm = names[i].y ? dm_grad_fn_name(names[i].y) : NULL;
        CHECKF(nm && strcmp(nm, names[i].name) == 0, "float64 grad_fn %s, got %s", names[i].name,
               nm ? nm : "none");
        dm_tensor_release(names[i].y);
    }

    /* losses under each reduction */
    dm_tensor *p = pattern(2, S34, 0.2, 0.4, 0.5);      /* in (0.1, 0.9) */
    dm_tensor *tgt = pattern(2, S34, 2.1, 0.45, 0.5);
    dm_tensor *w = pattern(1, S4, 0.9, 0.4, 1.1);
    dm_tensor *cls = tl(1, S3, (int64_t[]){ 3, 1, 0 });
    dm_tensor *prob = dm_softmax(tgt, 1);
    for (int r = 0; r < 3; r++) {
        char what[48];
        for (int kind = 0; kind <= 8; kind++) {
            gctx c = { 0, r, 0, kind >= 6 && kind <= 7 ? cls : kind == 8 ? prob : tgt,
                       kind == 0 || kind == 1 || kind >= 6 ? w : NULL, kind };
            in[0] = kind == 0 ? p : x;
            snprintf(what, sizeof what, "loss %d reduction %d", kind, r);
            grad_case(what, g_loss, 1, in, &c);
        }
    }
    in[0] = x;
    drop_rng = dm_rng_new(7);
    grad_case("dropout", g_dropout, 1, in, &(gctx){ 0 });
    dm_rng_free(drop_rng);
    dm_tensor *bw = pattern(1, S4, 0.1, 0.5, 1), *bb = pattern(1, S4, 0.4, 0.5, 0);
    in[1] = bw;
    in[2] = bb;
    grad_case("batch_norm training", g_batchnorm, 3, in, &(gctx){ .kind = 1 });
    dm_tensor *rm = dm_tensor_zeros_dtype(1, S4, DM_FLOAT64);
    dm_tensor *rv = dm_tensor_full_dtype(1, S4, 1, DM_FLOAT64);
    dm_tensor *y = dm_batch_norm(x, rm, rv, bw, bb, 1, 0.1, 1e-5);
    CHECK(y && y->dtype == DM_FLOAT64 && rm->dtype == DM_FLOAT64, "f64 batch_norm stats");
    double m0 = (v64(x, 0) + v64(x, 4) + v64(x, 8)) / 3;
    CHECK_NEAR(v64(rm, 0), 0.1 * m0, 1e-15, "f64 running_mean updated in double");
    dm_tensor_release(y);
    dm_tensor *objs[] = { x, p, tgt, w, cls, prob, bw, bb, rm, rv };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

/* ---- 5. losses: dtype promotion, class targets, non-contiguous inputs ------------------- */

static void test_losses(void)
{
    dm_tensor *x = pattern(2, S34, 0.3, 1, 0), *xf = dm_to_dtype(x, DM_FLOAT32);
    dm_tensor *t = pattern(2, S34, 1.1, 1, 0), *tf = dm_to_dtype(t, DM_FLOAT32);
    /* mse of float32 and float64 is float64, as PyTorch */
    dm_tensor *y = dm_mse_loss(xf, t, DM_REDUCTION_MEAN), *y2 = dm_mse_loss(xf, tf, DM_REDUCTION_MEAN);
    CHECK(y && y->dtype == DM_FLOAT64 && y2->dtype == DM_FLOAT32 &&
          fabs(dm_get_f64(y, ZERO) - dm_get_f64(y2, ZERO)) < 1e-6, "mse float32 x float64");
    dm_tensor_release(y);
    dm_tensor_release(y2);
    /* an int64 target of an elementwise loss takes the input's float type */
    dm_tensor *ti = tl(1, S4, (int64_t[]){ 1, 0, -1, 2 });
    y = dm_l1_loss(xf, ti, DM_REDUCTION_SUM);
    CHECK(y && y->dtype == DM_FLOAT32, "l1 float32 x int64 is float32");
    dm_tensor_release(y);
    dm_tensor_release(ti);
    /* gradients reach a float32 input through the promotion, as float32 */
    dm_set_requires_grad(xf, 1);
    y = dm_mse_loss(xf, t, DM_REDUCTION_SUM);
    CHECK(y && dm_backward(y, NULL, 0) == 0 && xf->grad && xf->grad->dtype == DM_FLOAT32,
          "promoted loss: float32 grad for the float32 input");
    if (xf->grad) CHECK_NEAR(v64(xf->grad, 5), 2 * (v64(x, 5) - v64(t, 5)), 1e-6, "its value");
    dm_tensor_release(y);

    /* class losses in float64 agree with float32; probability targets promote */
    dm_tensor *cls = tl(1, S3, (int64_t[]){ 2, 0, 3 });
    y = dm_cross_entropy(x, cls, NULL, DM_REDUCTION_MEAN, -100, 0);
    y2 = dm_cross_entropy(xf, cls, NULL, DM_REDUCTION_MEAN, -100, 0);
    double want = 0;
    for (int i = 0; i < 3; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += exp(v64(x, i * 4 + j));
        want += log(s) - v64(x, i * 4 + (int)vi(cls, i));
    }
    check64(y, DM_FLOAT64, (double[]){ want / 3 }, 1, 1e-14, "f64 cross_entropy value");
    CHECK(y2 && y2->dtype == DM_FLOAT32 && fabs(v64(y2, 0) - want / 3) < 1e-6, "f32 agrees");
    dm_tensor_release(y);
    dm_tensor_release(y2);
    dm_tensor *prob = dm_softmax(t, 1);
    y = dm_cross_entropy(xf, prob, NULL, DM_REDUCTION_SUM, -100, 0);
    CHECK(y && y->dtype == DM_FLOAT64, "cross_entropy float32 logits, float64 probabilities");
    dm_tensor_release(y);
    dm_tensor *u8 = dm_tensor_full_dtype(1, S3, 1, DM_UINT8);
    y = dm_nll_loss(x, u8, NULL, DM_REDUCTION_SUM, -100);
    CHECK(y && fabs(v64(y, 0) + v64(x, 1) + v64(x, 5) + v64(x, 9)) < 1e-14, "uint8 classes");
    dm_tensor_release(y);

    /* non-contiguous float64 inputs and int64 targets give the contiguous results */
    dm_tensor *base = pattern(2, (int64_t[]){ 4, 3 }, 0.3, 1, 0);
    dm_tensor *xv = dm_transpose(base, 0, 1);            /* [3 x 4] view */
    dm_tensor *xc = dm_to_dtype(xv, DM_FLOAT64);          /* already float64: the view itself */
    dm_tensor *xcc = dm_tensor_new_dtype(2, S34, DM_FLOAT64);
    dm_to_buffer_dtype(xv, dm_data_ptr(xcc), DM_FLOAT64);
    dm_tensor *tb = tl(1, (int64_t[]){ 6 }, (int64_t[]){ 2, 9, 0, 9, 3, 9 });
    dm_tensor *tv = dm_tensor_alias(tb, 1, S3, (int64_t[]){ 2 }, 0);
    for (int r = 0; r < 3; r++) {
        dm_tensor *a = dm_cross_entropy(xv, tv, NULL, (dm_reduction)r, -100, 0.1);
        dm_tensor *b = dm_cross_entropy(xcc, cls, NULL, (dm_reduction)r, -100, 0.1);
        CHECK(a && b && a->dtype == DM_FLOAT64 && tu_same_values(a, b, 1e-14),
              "f64 cross_entropy on views");
        dm_tensor_release(a);
        dm_tensor_release(b);
        a = dm_mse_loss(xv, t, (dm_reduction)r);
        b = dm_mse_loss(xcc, t, (dm_reduction)r);
        CHECK(a && b && tu_same_values(a, b, 1e-14), "f64 mse on a view");
        dm_tensor_release(a);
        dm_tensor_release(b);
    }
    for (int op = DM_RED_SUM; op <= DM_RED_STD; op++) {
        dm_tensor *a = dm_reduce((dm_redop)op, xv, 1, 0, 1), *b = dm_reduce((dm_redop)op, xcc, 1, 0, 1);
        CHECK(a && b && a->dtype == b->dtype && tu_same_values(a, b, 1e-14), "f64 reduce on a view");
        dm_tensor_release(a);
        dm_tensor_release(b);
    }
    dm_tensor *a = dm_softmax(xv, 1), *b = dm_softmax(xcc, 1);
    CHECK(a && b && tu_same_values(a, b, 1e-15), "f64 softmax on a view");
    dm_tensor_release(a);
    dm_tensor_release(b);
    a = dm_batch_norm(xv, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5);
    b = dm_batch_norm(xcc, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5);
    CHECK(a && b && a->dtype == DM_FLOAT64 && tu_same_values(a, b, 1e-14), "f64 batch_norm on a view");
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor *objs[] = { x, xf, t, tf, cls, prob, u8, base, xv, xc, xcc, tb, tv };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_f64_values();
    test_f64_vs_f32();
    test_integers();
    test_errors();
    test_f64_gradients();
    test_losses();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_dtype_reduce");
}
