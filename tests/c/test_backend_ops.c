/* test_backend_ops.c -- every op of the op table on two devices, compared (ggml's
 * test-backend-ops): cpu (BLAS, vectorised loops) against cpu:ref (the naive reference
 * kernels), forward and backward, float32 and float64.
 *
 * The cases are test_optable.c's (included below, its main renamed), so an op added to the
 * table with its gradient case is compared here too, and an op without one fails there.  For
 * each case and dtype the same inputs are made on both devices; the op runs on each, and the
 * test checks that the result and every input's gradient sit on that device and agree:
 *   ops with two kernels (elementwise, reductions, softmax, losses: core/backend/{cpu,ref}/,
 *            and their backward kernels):
 *            float32 relative 1e-6 (the reference computes in double and rounds once, the
 *            cpu kernels in float, or sum in another order), float64 1e-12
 *   matrix products: float32 1e-4 (BLAS sums in float in its own order, the reference in
 *            double), float64 1e-12
 *   the rest (one implementation on both devices: nn, joins, views, conversions):
 *            float32 1e-5, float64 1e-12; for them this checks that the device propagates
 *            (results, temporaries, gradients) and the numbers agree.
 * (relative to max(1, |x|), so tiny values are compared absolutely.)  test_kernels below
 * compares the two-kernel ops directly too, on what the op table's cases do not reach:
 * broadcasting, transposed and offset views, integer and bool dtypes, comparisons;
 * test_backward_kernels the elementwise ops', reductions', softmax's and sum_to's backward
 * kernels on a transposed view (and a broadcast second input); test_copy_kernels the copies
 * with conversion between every pair of dtypes, fills and float32 in-place updates, exactly with an upstream gradient that is not all ones.  A case that fails on
 * cpu for a dtype must fail on cpu:ref with the same message (printed as a note), so nothing
 * is skipped silently.  Backward starts from a float32 copy of the result (see run_on). */
#define main optable_main
int optable_main(void);
#include "test_optable.c"
#undef main
#include "../../core/backend/backend.h"

/* a value-for-value copy of t as doubles (any device: both hold host memory) */
static double *values_f64(const dm_tensor *t)
{
    double *v = malloc((size_t)(dm_numel(t) ? dm_numel(t) : 1) * sizeof *v);
    dm_to_buffer_dtype(t, v, DM_FLOAT64);
    return v;
}

static double rel_diff(const dm_tensor *a, const dm_tensor *b)
{
    if (!dm_same_shape(a, b)) return INFINITY;
    int64_t n = dm_numel(a);
    double *x = values_f64(a), *y = values_f64(b), worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(x[i] - y[i]), s = fmax(1.0, fmax(fabs(x[i]), fabs(y[i])));
        if ((isnan(x[i]) && isnan(y[i])) || x[i] == y[i]) continue;   /* also equal infinities */
        if (!(d / s <= worst)) worst = isnan(d) ? INFINITY : d / s;
    }
    free(x);
    free(y);
    return worst;
}

typedef struct {
    int ok;                     /* forward and backward ran */
    char err[256];
    dm_tensor *y;               /* the result */
    dm_tensor *g[3];            /* the inputs' gradients */
} outcome;

/* run case c on device dev in dtype dt: the inputs are test_optable's, converted */
static void run_on(const gcase *c, dm_dtype dt, int dev, outcome *o)
{
    memset(o, 0, sizeof *o);
    dm_tensor *in[3] = {0};
    for (int i = 0; i < c->n; i++) {
        dm_set_device(DM_CPU);
        dm_tensor *x = dm_tensor_new(c->ndim[i], c->shape[i]);
        tu_fill(x, c->lo, c->hi, (unsigned)(i + 3) * 17u + (unsigned)c->op);
        dm_tensor *xd = dm_to_dtype(x, dt);
        in[i] = dm_to_device(xd, dev);
        dm_tensor_release(x);
        dm_tensor_release(xd);
        dm_set_requires_grad(in[i], 1);
    }
    dm_set_device(dev);         /* what a case makes for itself (indices, targets) goes there */
    dm_tensor *y = c->f(in, NULL);
    if (!y) {
        snprintf(o->err, sizeof o->err, "%s", dm_errmsg());
    } else {
        dm_tensor *w = dm_tensor_new(y->ndim, y->shape);
        tu_fill(w, -1, 1, 7);
        /* backward from a float32 view of y: the engine seeds float32 today, and several
           rules (matmul, linear, index_select) read their incoming gradient as their own
           dtype; ToCopyBackward0 hands them float64 */
        dm_tensor *root = dm_is_floating(y->dtype) ? dm_to_dtype(y, DM_FLOAT32) : NULL;
        if (!root || dm_backward(root, w, 1) != 0) {
            snprintf(o->err, sizeof o->err, "backward: %s", dm_errmsg());
        } else {
            o->ok = 1;
            for (int i = 0; i < c->n; i++) o->g[i] = in[i]->grad ? dm_detach(in[i]->grad) : NULL;
        }
        dm_tensor_release(w);
        dm_tensor_release(root);
        o->y = dm_detach(y);
        dm_tensor_release(y);
    }
    for (int i = 0; i < c->n; i++) dm_tensor_release(in[i]);
    dm_set_device(DM_CPU);
}

static void outcome_free(outcome *o)
{
    dm_tensor_release(o->y);
    for (int i = 0; i < 3; i++) dm_tensor_release(o->g[i]);
}

static int ncompared, nnoted;

/* ops whose forward kernels are in both tables (core/backend/{cpu,ref}/) */
static int two_kernels(dm_op op)
{
    return (op >= DM_OP_ADD && op <= DM_OP_WHERE) || (op >= DM_OP_SUM && op <= DM_OP_LOG_SOFTMAX) ||
           op == DM_OP_LOSS;
}

static void compare_case(const gcase *c, int sub)
{
    static const dm_dtype dts[2] = { DM_FLOAT32, DM_FLOAT64 };
    int gemm = c->op == DM_OP_MATMUL || c->op == DM_OP_LINEAR;
    for (int k = 0; k < 2; k++) {
        dm_dtype dt = dts[k];
        double tol = dt == DM_FLOAT32 ? (gemm ? 1e-4 : two_kernels(c->op) ? 1e-6 : 1e-5) : 1e-12;
        outcome a, b;
        run_on(c, dt, DM_CPU, &a);
        run_on(c, dt, DM_CPU_REF, &b);
        char what[200];
        const char *dn = dm_dtype_name(dt);
        if (!a.ok) {
            printf("note: %s (sub %d) %s: fails on both devices alike: %s\n", c->name, sub, dn,
                   a.err);
            CHECKF(!b.ok && !strcmp(a.err, b.err), "%s (sub %d) %s: cpu:ref fails as cpu does "
                   "(cpu: %s; cpu:ref: %s)", c->name, sub, dn, a.err, b.ok ? "ran" : b.err);
            nnoted++;
        } else {
            CHECKF(b.ok, "%s (sub %d) %s runs on cpu:ref (%s)", c->name, sub, dn, b.err);
            if (b.ok) {
                ncompared++;
                CHECKF(dm_tensor_device(a.y) == DM_CPU && dm_tensor_device(b.y) == DM_CPU_REF,
                       "%s (sub %d) %s: results on their inputs' device (%s, %s)", c->name, sub,
                       dn, dm_device_name(dm_tensor_device(a.y)),
                       dm_device_name(dm_tensor_device(b.y)));
                double e = rel_diff(a.y, b.y);
                snprintf(what, sizeof what, "%s (sub %d) %s forward agrees (rel %.1e)", c->name,
                         sub, dn, e);
                CHECK(e <= tol, what);
                for (int i = 0; i < c->n; i++) {
                    CHECKF(!a.g[i] == !b.g[i], "%s (sub %d) %s: input %d has a gradient on both",
                           c->name, sub, dn, i);
                    if (!a.g[i] || !b.g[i]) continue;
                    CHECKF(dm_tensor_device(b.g[i]) == DM_CPU_REF, "%s (sub %d) %s: gradient %d "
                           "on cpu:ref, got %s", c->name, sub, dn, i,
                           dm_device_name(dm_tensor_device(b.g[i])));
                    e = rel_diff(a.g[i], b.g[i]);
                    snprintf(what, sizeof what, "%s (sub %d) %s gradient %d agrees (rel %.1e)",
                             c->name, sub, dn, i, e);
                    CHECK(e <= tol, what);
                }
            }
        }
        outcome_free(&a);
        outcome_free(&b);
    }
}

/* the device seam itself: to/from cpu:ref, its gradient, and the mismatch message */
static void test_seam(void)
{
    CHECK(!strcmp(dm_device_name(DM_CPU_REF), "cpu:ref") && dm_device_parse("cpu:ref") == DM_CPU_REF
          && dm_device_parse("cuda") == -1, "device names");
    const dm_kernels *kc = dm__kernels(DM_CPU), *kr = dm__kernels(DM_CPU_REF);
    CHECK(kc->binary && kc->binary_f32 && kc->unary && kc->scalar && kc->clamp &&
          kc->leaky_relu && kc->elu && kc->where && kc->reduce && kc->maxmin && kc->softmax &&
          kr->binary != kc->binary && kr->binary_f32[DM_BIN_ADD] != kc->binary_f32[DM_BIN_ADD] &&
          kr->unary != kc->unary && kr->scalar != kc->scalar && kr->clamp != kc->clamp &&
          kr->leaky_relu != kc->leaky_relu && kr->elu != kc->elu && kr->where != kc->where &&
          kr->reduce != kc->reduce && kr->maxmin != kc->maxmin && kr->softmax != kc->softmax &&
          kc->sum_to && kc->softmax_bw && kc->reduce_bw && kr->sum_to != kc->sum_to &&
          kr->softmax_bw != kc->softmax_bw && kr->reduce_bw != kc->reduce_bw &&
          kc->unary_bw && kc->scalar_bw && kc->param_bw && kc->binary_bw && kc->where_bw &&
          kr->unary_bw != kc->unary_bw && kr->scalar_bw != kc->scalar_bw &&
          kr->param_bw != kc->param_bw && kr->binary_bw != kc->binary_bw &&
          kr->where_bw != kc->where_bw && kc->copy && kc->gather && kc->fill &&
          kc->inplace_f32 && kr->copy != kc->copy && kr->gather != kc->gather &&
          kr->fill != kc->fill && kr->inplace_f32 != kc->inplace_f32,
          "elementwise, reduction, softmax and their backward kernels: one of each in each "
          "table, different");
    CHECK(dm__kernels(DM_CPU_REF)->sgemm == dm_gemm_naive &&
          dm__kernels(DM_CPU_REF)->dgemm == dm_dgemm_naive && dm__kernels(DM_CPU)->sgemm == dm_gemm,
          "cpu:ref's table holds the naive gemm, cpu's the BLAS one");
    dm_tensor *x = tu_tensor(1, (int64_t[]){3}, (float[]){1, 2, 3});
    dm_set_requires_grad(x, 1);
    dm_tensor *r = dm_to_device(x, DM_CPU_REF);
    CHECK(r && dm_tensor_device(r) == DM_CPU_REF && dm_tensor_device(x) == DM_CPU,
          "to_device copies to cpu:ref");
    CHECK(r && dm_grad_fn_name(r) && !strcmp(dm_grad_fn_name(r), "ToCopyBackward0"),
          "to_device records ToCopyBackward0");
    dm_tensor *same = dm_to_device(r, DM_CPU_REF);
    CHECK(same == r, "to_device on the same device returns the tensor");
    dm_tensor_release(same);
    CHECK_ERR(dm_add(x, r), "add: expected all tensors on one device, got cpu and cpu:ref");
    CHECK_ERR(dm_matmul(r, x), "matmul: expected all tensors on one device, got cpu:ref and cpu");
    dm_tensor *sq = dm_mul(r, r);
    dm_tensor *s = sq ? dm_reduce(DM_RED_SUM, sq, DM_ALL, 0, 1) : NULL;
    CHECK(s && dm_tensor_device(s) == DM_CPU_REF, "ops on cpu:ref stay there");
    CHECK(s && dm_backward(s, NULL, 0) == 0, "backward through a device copy");
    CHECK(x->grad && dm_tensor_device(x->grad) == DM_CPU, "the gradient comes back to cpu");
    if (x->grad) tu_check_vals(x->grad, (double[]){2, 4, 6}, 3, 0, "d sum(x^2) = 2x");
    dm_tensor_release(s);
    dm_tensor_release(sq);
    dm_tensor_release(r);
    dm_tensor_release(x);
    dm_set_device(DM_CPU);
}

/* ---- the two-kernel ops on what the op table's cases do not reach ------------------------ */

typedef dm_tensor *(*kfn)(dm_tensor *const *in);
static dm_tensor *k_add(dm_tensor *const *in) { return dm_add(in[0], in[1]); }
static dm_tensor *k_sub(dm_tensor *const *in) { return dm_sub(in[0], in[1]); }
static dm_tensor *k_mul(dm_tensor *const *in) { return dm_mul(in[0], in[1]); }
static dm_tensor *k_div(dm_tensor *const *in) { return dm_div(in[0], in[1]); }
static dm_tensor *k_pow(dm_tensor *const *in) { return dm_pow(in[0], in[1]); }
static dm_tensor *k_max(dm_tensor *const *in) { return dm_binary(DM_BIN_MAXIMUM, in[0], in[1]); }
static dm_tensor *k_lt(dm_tensor *const *in) { return dm_binary(DM_BIN_LT, in[0], in[1]); }
static dm_tensor *k_ge(dm_tensor *const *in) { return dm_binary(DM_BIN_GE, in[0], in[1]); }
static dm_tensor *k_neg(dm_tensor *const *in) { return dm_unary(DM_UN_NEG, in[0]); }
static dm_tensor *k_abs(dm_tensor *const *in) { return dm_unary(DM_UN_ABS, in[0]); }
static dm_tensor *k_square(dm_tensor *const *in) { return dm_unary(DM_UN_SQUARE, in[0]); }
static dm_tensor *k_exp(dm_tensor *const *in) { return dm_unary(DM_UN_EXP, in[0]); }
static dm_tensor *k_sig(dm_tensor *const *in) { return dm_unary(DM_UN_SIGMOID, in[0]); }
static dm_tensor *k_rsub(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_SUB, in[0], 2.5, 1); }
static dm_tensor *k_rdiv(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_DIV, in[0], 3, 1); }
static dm_tensor *k_pows(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_POW, in[0], 2, 0); }
static dm_tensor *k_clamp(dm_tensor *const *in) { return dm_clamp(in[0], -0.5, 0.25); }
static dm_tensor *k_where(dm_tensor *const *in)
{
    dm_tensor *c = dm_binary(DM_BIN_LT, in[0], in[1]);
    dm_tensor *r = c ? dm_where(c, in[0], in[1]) : NULL;
    dm_tensor_release(c);
    return r;
}
static dm_tensor *k_sum1(dm_tensor *const *in) { return dm_reduce(DM_RED_SUM, in[0], 1, 0, 0); }
static dm_tensor *k_prod0(dm_tensor *const *in) { return dm_reduce(DM_RED_PROD, in[0], 0, 1, 0); }
static dm_tensor *k_var(dm_tensor *const *in) { return dm_reduce(DM_RED_VAR, in[0], 1, 0, 1); }
static dm_tensor *k_argmin(dm_tensor *const *in) { return dm_reduce(DM_RED_ARGMIN, in[0], 0, 0, 0); }
static dm_tensor *k_maxall(dm_tensor *const *in) { return dm_reduce(DM_RED_MAX, in[0], DM_ALL, 0, 0); }
static dm_tensor *k_max1(dm_tensor *const *in) { return dm_reduce(DM_RED_MAX, in[0], 1, 0, 0); }
static dm_tensor *k_lsm(dm_tensor *const *in) { return dm_log_softmax(in[0], 0); }

/* x [3 x 4] as a transposed view of a [4 x 3] tensor, y [4], z [3 x 1]; values in
   [-2, 2] (integers rounded) */
static void inputs(dm_dtype dt, int dev, dm_tensor **x, dm_tensor **y, dm_tensor **z)
{
    dm_set_device(DM_CPU);
    dm_tensor *b = dm_tensor_new(2, (int64_t[]){4, 3}), *v = dm_tensor_new(1, (int64_t[]){4});
    dm_tensor *w = dm_tensor_new(2, (int64_t[]){3, 1});
    tu_fill(b, -2, 2, 11);
    tu_fill(v, -2, 2, 12);
    tu_fill(w, -2, 2, 13);
    dm_tensor *src[3] = { b, v, w }, **dst[3] = { x, y, z };
    for (int k = 0; k < 3; k++) {
        dm_tensor *r = dm_is_floating(dt) ? dm_tensor_retain(src[k]) : dm_unary(DM_UN_ROUND, src[k]);
        dm_tensor *c = dm_to_dtype(r, dt), *d = dm_to_device(c, dev);
        *dst[k] = d;
        dm_tensor_release(r);
        dm_tensor_release(c);
        dm_tensor_release(src[k]);
    }
    dm_tensor *t = dm_transpose(*x, 0, 1);
    dm_tensor_release(*x);
    *x = t;
    dm_set_device(dev);
}

static void test_kernels(void)
{
    static const struct { const char *name; kfn f; int nin; } ops[] = {
        { "add", k_add, 2 }, { "sub", k_sub, 2 }, { "mul", k_mul, 2 }, { "div", k_div, 2 },
        { "pow", k_pow, 2 }, { "maximum", k_max, 2 }, { "lt", k_lt, 2 }, { "ge", k_ge, 2 },
        { "where", k_where, 2 }, { "neg", k_neg, 1 }, { "abs", k_abs, 1 },
        { "square", k_square, 1 }, { "exp", k_exp, 1 }, { "sigmoid", k_sig, 1 },
        { "2.5 - x", k_rsub, 1 }, { "3 / x", k_rdiv, 1 }, { "x ^ 2", k_pows, 1 },
        { "clamp", k_clamp, 1 }, { "sum(1)", k_sum1, 1 }, { "prod(0, keepdim)", k_prod0, 1 },
        { "var(1)", k_var, 1 }, { "argmin(0)", k_argmin, 1 }, { "max()", k_maxall, 1 },
        { "max(1)", k_max1, 1 }, { "log_softmax(0)", k_lsm, 1 },
    };
    static const dm_dtype dts[] = { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL };
    int compared = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (int pair = 0; pair < (ops[o].nin == 2 ? 2 : 1); pair++)
            for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
                dm_dtype dt = dts[k];
                dm_tensor *r[2] = { NULL, NULL };
                char err[2][256] = { "", "" };
                for (int dev = 0; dev < 2; dev++) {
                    dm_tensor *x, *y, *z;
                    inputs(dt, dev ? DM_CPU_REF : DM_CPU, &x, &y, &z);
                    /* x [3 x 4] (transposed) with y [4], or with z [3 x 1] */
                    dm_tensor *in[2] = { x, pair ? z : y };
                    r[dev] = ops[o].f(in);
                    if (!r[dev]) snprintf(err[dev], sizeof err[dev], "%s", dm_errmsg());
                    dm_tensor_release(x);
                    dm_tensor_release(y);
                    dm_tensor_release(z);
                    dm_set_device(DM_CPU);
                }
                const char *dn = dm_dtype_name(dt);
                if (!r[0]) {
                    CHECKF(!r[1] && !strcmp(err[0], err[1]), "kernels: %s %s fails alike (%s; %s)",
                           ops[o].name, dn, err[0], r[1] ? "ran" : err[1]);
                    continue;
                }
                CHECKF(r[1] && r[0]->dtype == r[1]->dtype && dm_tensor_device(r[1]) == DM_CPU_REF,
                       "kernels: %s %s runs on cpu:ref, same dtype", ops[o].name, dn);
                if (r[1]) {
                    double e = rel_diff(r[0], r[1]);
                    /* float32: the reference rounds a double result once; the rest exact
                       but for float64's libm-against-libm formulas */
                    double tol = r[0]->dtype == DM_FLOAT32 ? 1e-6 : r[0]->dtype == DM_FLOAT64 ? 1e-12 : 0;
                    CHECKF(e <= tol, "kernels: %s (%s) %s agrees (rel %.1e)", ops[o].name,
                           pair ? "with [3 x 1]" : "with [4]", dn, e);
                    compared++;
                }
                dm_tensor_release(r[0]);
                dm_tensor_release(r[1]);
            }
    printf("test_backend_ops: %d kernel cases compared on views, broadcasts and dtypes\n",
           compared);
}

/* ---- the backward kernels on a transposed view, a broadcast second input ---------------- */

static dm_tensor *k_mean0(dm_tensor *const *in) { return dm_reduce(DM_RED_MEAN, in[0], 0, 0, 0); }
static dm_tensor *k_stdall(dm_tensor *const *in) { return dm_reduce(DM_RED_STD, in[0], DM_ALL, 0, 1); }
static dm_tensor *k_min0(dm_tensor *const *in) { return dm_reduce(DM_RED_MIN, in[0], 0, 1, 0); }
static dm_tensor *k_sm1(dm_tensor *const *in) { return dm_softmax(in[0], 1); }
static dm_tensor *k_sumto4(dm_tensor *const *in) { return dm_sum_to(in[0], 1, (int64_t[]){4}); }
static dm_tensor *k_sumto31(dm_tensor *const *in) { return dm_sum_to(in[0], 2, (int64_t[]){3, 1}); }
static dm_tensor *k_sumto11(dm_tensor *const *in) { return dm_sum_to(in[0], 2, (int64_t[]){1, 1}); }

static dm_tensor *k_relu(dm_tensor *const *in) { return dm_unary(DM_UN_RELU, in[0]); }
static dm_tensor *k_gelu(dm_tensor *const *in) { return dm_unary(DM_UN_GELU, in[0]); }
static dm_tensor *k_selu(dm_tensor *const *in) { return dm_unary(DM_UN_SELU, in[0]); }
static dm_tensor *k_sin(dm_tensor *const *in) { return dm_unary(DM_UN_SIN, in[0]); }
static dm_tensor *k_divs(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_DIV, in[0], 3, 0); }
static dm_tensor *k_rpow(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_POW, in[0], 2, 1); }
static dm_tensor *k_pow3(dm_tensor *const *in) { return dm_binary_scalar_f64(DM_BIN_POW, in[0], 3, 0); }
static dm_tensor *k_lrelu(dm_tensor *const *in) { return dm_leaky_relu(in[0], 0.1); }
static dm_tensor *k_elu(dm_tensor *const *in) { return dm_elu(in[0], 1.5); }
static dm_tensor *k_min(dm_tensor *const *in) { return dm_binary(DM_BIN_MINIMUM, in[0], in[1]); }
static dm_tensor *k_powab(dm_tensor *const *in)
{
    dm_tensor *a = dm_unary(DM_UN_ABS, in[0]);      /* a positive base */
    dm_tensor *r = a ? dm_pow(a, in[1]) : NULL;
    dm_tensor_release(a);
    return r;
}

static void test_backward_kernels(void)
{
    static const struct { const char *name; kfn f; int nin; } ops[] = {
        /* the elementwise rules, x [3 x 4] transposed, y [4] broadcast */
        { "pow", k_powab, 2 }, { "maximum", k_max, 2 }, { "minimum", k_min, 2 },
        { "where", k_where, 2 }, { "mul", k_mul, 2 }, { "exp", k_exp, 1 },
        { "sigmoid", k_sig, 1 }, { "relu", k_relu, 1 }, { "gelu", k_gelu, 1 },
        { "selu", k_selu, 1 }, { "sin", k_sin, 1 }, { "abs", k_abs, 1 },
        { "square", k_square, 1 }, { "x / 3", k_divs, 1 }, { "3 / x", k_rdiv, 1 },
        { "2.5 - x", k_rsub, 1 }, { "x ^ 3", k_pow3, 1 }, { "2 ^ x", k_rpow, 1 },
        { "clamp", k_clamp, 1 }, { "leaky_relu", k_lrelu, 1 }, { "elu", k_elu, 1 },
        /* the reductions' */
        { "sum(1)", k_sum1, 1 }, { "mean(0)", k_mean0, 1 }, { "prod(0, keepdim)", k_prod0, 1 },
        { "var(1)", k_var, 1 }, { "std()", k_stdall, 1 }, { "max(1)", k_max1, 1 },
        { "max()", k_maxall, 1 }, { "min(0, keepdim)", k_min0, 1 },
        { "log_softmax(0)", k_lsm, 1 }, { "softmax(1)", k_sm1, 1 },
        { "sum_to [4]", k_sumto4, 1 }, { "sum_to [3 x 1]", k_sumto31, 1 },
        { "sum_to [1 x 1]", k_sumto11, 1 },
    };
    static const dm_dtype dts[] = { DM_FLOAT32, DM_FLOAT64 };
    int compared = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t k = 0; k < 2; k++) {
            dm_dtype dt = dts[k];
            dm_tensor *r[2] = { NULL, NULL }, *gr[2] = { NULL, NULL }, *gy[2] = { NULL, NULL };
            for (int dev = 0; dev < 2; dev++) {
                dm_tensor *x, *y, *z;
                inputs(dt, dev ? DM_CPU_REF : DM_CPU, &x, &y, &z);
                dm_set_requires_grad(x, 1);
                dm_set_requires_grad(y, 1);
                dm_tensor *in[2] = { x, y };
                r[dev] = ops[o].f(in);
                if (r[dev]) {               /* an upstream gradient of r's shape, not all ones */
                    dm_set_device(DM_CPU);
                    dm_tensor *g = dm_tensor_new(r[dev]->ndim, r[dev]->shape);
                    tu_fill(g, -2, 2, 14);
                    dm_tensor *gc = dm_to_dtype(g, dt);
                    dm_tensor *gd = dm_to_device(gc, dev ? DM_CPU_REF : DM_CPU);
                    CHECKF(dm_backward(r[dev], gd, 0) == 0, "backward kernels: %s %s runs (%s)",
                           ops[o].name, dm_dtype_name(dt), dm_errmsg());
                    gr[dev] = x->grad ? dm_tensor_retain(x->grad) : NULL;
                    gy[dev] = y->grad ? dm_tensor_retain(y->grad) : NULL;
                    dm_tensor_release(g);
                    dm_tensor_release(gc);
                    dm_tensor_release(gd);
                }
                dm_tensor_release(x);
                dm_tensor_release(y);
                dm_tensor_release(z);
                dm_set_device(DM_CPU);
            }
            const char *dn = dm_dtype_name(dt);
            double tol = dt == DM_FLOAT32 ? 1e-6 : 1e-12;
            CHECKF(r[0] && r[1] && gr[0] && gr[1] && dm_tensor_device(gr[1]) == DM_CPU_REF,
                   "backward kernels: %s %s: gradients on both devices", ops[o].name, dn);
            if (r[0] && r[1]) {
                double e = rel_diff(r[0], r[1]);
                CHECKF(e <= tol, "backward kernels: %s %s forward agrees (rel %.1e)", ops[o].name,
                       dn, e);
            }
            if (gr[0] && gr[1]) {
                double e = rel_diff(gr[0], gr[1]);
                CHECKF(e <= tol, "backward kernels: %s %s gradient agrees (rel %.1e)",
                       ops[o].name, dn, e);
                compared++;
            }
            if (ops[o].nin == 2) {
                CHECKF(gy[0] && gy[1], "backward kernels: %s %s: y's gradients", ops[o].name, dn);
                double e = gy[0] && gy[1] ? rel_diff(gy[0], gy[1]) : INFINITY;
                CHECKF(e <= tol, "backward kernels: %s %s gradient of y agrees (rel %.1e)",
                       ops[o].name, dn, e);
            }
            for (int d = 0; d < 2; d++) {
                dm_tensor_release(r[d]);
                dm_tensor_release(gr[d]);
                dm_tensor_release(gy[d]);
            }
        }
    printf("test_backend_ops: %d backward kernel cases compared on a transposed view\n",
           compared);
}

/* ---- copies with conversion, fills and float32 in-place updates ------------------------- */

/* a [4 x 3] tensor of dt on dev holding awkward values (NaN, out of int64's range, negative,
   fractional, above 255), and v, its [3 x 4] transposed view */
static dm_tensor *awkward(dm_dtype dt, int dev, dm_tensor **v)
{
    static const double vals[12] = { -2.5, 0, 1, 255.7, -1, NAN, 1e20, 3e9, -0.0, 1.5, 7, -300 };
    dm_set_device(DM_CPU);
    dm_tensor *d = dm_tensor_new_dtype(2, (int64_t[]){4, 3}, DM_FLOAT64);
    memcpy(dm__ptr(d), vals, sizeof vals);
    dm_tensor *c = dm_to_dtype(d, dt), *r = dm_to_device(c, dev);
    dm_tensor_release(d);
    dm_tensor_release(c);
    *v = dm_transpose(r, 0, 1);
    dm_set_device(dev);
    return r;
}

static void test_copy_kernels(void)
{
    static const dm_dtype dts[] = { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL };
    int compared = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            dm_tensor *res[2][3] = { { NULL } };
            for (int dev = 0; dev < 2; dev++) {
                int d = dev ? DM_CPU_REF : DM_CPU;
                dm_tensor *sv, *s = awkward(dts[i], d, &sv), *dv, *t = awkward(dts[j], d, &dv);
                res[dev][0] = dm_to_dtype(sv, dts[j]);          /* gather, converting */
                dm_tensor *row = dm_narrow(sv, 0, 1, 1);        /* [1 x 4], broadcast */
                CHECKF(row && dm_copy_(dv, row) == 0, "copies: copy_ %s -> %s runs",
                       dm_dtype_name(dts[i]), dm_dtype_name(dts[j]));
                res[dev][1] = dm_tensor_retain(t);
                dm_tensor *f, *fv = NULL;
                f = awkward(dts[j], d, &fv);
                CHECK(dm_fill_(fv, 2.5f) == 0, "copies: fill_ runs");
                res[dev][2] = f;
                dm_tensor_release(fv);
                dm_tensor_release(row);
                dm_tensor_release(sv);
                dm_tensor_release(s);
                dm_tensor_release(dv);
                dm_tensor_release(t);
                dm_set_device(DM_CPU);
            }
            for (int k = 0; k < 3; k++) {
                if (i && k == 2) continue;                    /* fill_ depends on j only */
                static const char *what[3] = { "to_dtype", "copy_ (broadcast, into a view)",
                                               "fill_ (a view)" };
                double e = res[0][k] && res[1][k] ? rel_diff(res[0][k], res[1][k]) : INFINITY;
                CHECKF(e == 0 && dm_tensor_device(res[1][k]) == DM_CPU_REF,
                       "copies: %s %s -> %s agrees exactly (rel %.1e)", what[k],
                       dm_dtype_name(dts[i]), dm_dtype_name(dts[j]), e);
                compared++;
            }
            for (int dev = 0; dev < 2; dev++)
                for (int k = 0; k < 3; k++) dm_tensor_release(res[dev][k]);
        }
    /* float32 in place: t op= a broadcast row, t op= a scalar, on a transposed view */
    for (int op = 0; op < 6; op++) {
        dm_tensor *res[2];
        for (int dev = 0; dev < 2; dev++) {
            int d = dev ? DM_CPU_REF : DM_CPU;
            dm_tensor *sv, *s = awkward(DM_FLOAT32, d, &sv), *tv, *t = awkward(DM_FLOAT32, d, &tv);
            dm_tensor *row = dm_narrow(sv, 0, 2, 1);
            int rc = op == 0 ? dm_copy_(tv, row) : op == 1 ? dm_add_(tv, row, 0.5f)
                   : op == 2 ? dm_mul_(tv, row) : op == 3 ? dm_add_scalar_(tv, 1.25f)
                   : op == 4 ? dm_mul_scalar_(tv, -3) : dm_clamp_(tv, -1, 2);
            CHECKF(rc == 0, "in place: op %d runs", op);
            res[dev] = t;
            dm_tensor_release(row);
            dm_tensor_release(sv);
            dm_tensor_release(s);
            dm_tensor_release(tv);
            dm_set_device(DM_CPU);
        }
        double e = rel_diff(res[0], res[1]);
        CHECKF(e == 0, "in place: float32 op %d agrees exactly (rel %.1e)", op, e);
        compared++;
        dm_tensor_release(res[0]);
        dm_tensor_release(res[1]);
    }
    printf("test_backend_ops: %d copy, fill and in-place cases compared\n", compared);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_seam();
    test_kernels();
    test_backward_kernels();
    test_copy_kernels();
    for (int op = DM_OP_NONE + 1; op < DM_OP_COUNT; op++) {
        if (op == DM_OP_UNARY) {
            for (int u = 0; u < DM_UN_COUNT; u++) {
                const gcase *c = find(op, u);
                cur_unop = (dm_unop)u;
                if (c) compare_case(c, u);
            }
        } else if (op == DM_OP_LOSS) {
            for (int l = 0; l < DM_LOSS_COUNT; l++) {
                const gcase *c = find(op, l);
                cur_loss = (dm_loss_kind)l;
                if (c) compare_case(c, l);
            }
        } else {
            int found = 0;
            for (int i = 0; i < NCASES; i++)
                if ((int)cases[i].op == op) { found = 1; compare_case(&cases[i], cases[i].sub); }
            CHECKF(found, "op %d (%s) has a case to compare", op, dm__opdef((dm_op)op)->name);
        }
    }
    printf("test_backend_ops: %d case-dtypes compared, %d failing alike on both devices\n",
           ncompared, nnoted);
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_backend_ops");
}
