/* test_dtype_elementwise.c -- the elementwise ops on every dtype: result types and values
 * against PyTorch 1.13 (tests/fixtures/dtype_elementwise_cases.h, made by the generator
 * beside it), float64 against double formulas, float64 gradients by central differences in
 * double, non-contiguous operands, exact int64 arithmetic, in-place casts and the errors. */
#include "testutil.h"
#include "internal.h"                   /* the node's backward rule, called directly */
#include "../fixtures/dtype_elementwise_cases.h"

static const dm_dtype DTS[5] = { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL };
static const double A[6] = { 3, -2, 0, 5, 7, -1 }, B[6] = { 2, 3, -4, 1, 0, 2 };

/* the fixture's inputs: integer bases, times 1.25 for floating types, converted to dt */
static dm_tensor *input(const double *base, dm_dtype dt)
{
    dm_tensor *d = dm_tensor_new_dtype(1, (int64_t[]){6}, DM_FLOAT64);
    for (int64_t i = 0; i < 6; i++)
        dm_set_f64(d, &i, base[i] * (dm_is_floating(dt) ? 1.25 : 1));
    dm_tensor *t = dm_to_dtype(d, dt);
    dm_tensor_release(d);
    return t;
}

/* the same values in a layout with stride 2 (every other element of a larger storage) */
static dm_tensor *strided(const dm_tensor *t)
{
    int64_t n = dm_numel(t);
    dm_tensor *big = dm_tensor_zeros_dtype(1, (int64_t[]){2 * n}, t->dtype);
    dm_tensor *v = dm_tensor_alias(big, 1, (int64_t[]){n}, (int64_t[]){2}, 1);
    dm_copy_(v, t);
    dm_tensor_release(big);
    return v;
}

static double tol_of(dm_dtype dt)
{
    return dt == DM_FLOAT32 ? 2e-6 : dt == DM_FLOAT64 ? 1e-12 : 0;
}

/* out has dtype rt and the values want (n of them) */
static int matches(const dm_tensor *out, int rt, const double *want, int64_t n)
{
    if (!out || (int)out->dtype != rt || dm_numel(out) != n) return 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t idx[1] = { i };
        double got = out->ndim ? dm_get_f64(out, idx) : dm_get_f64(out, NULL);
        if (!tu_close(got, want[i], tol_of(out->dtype))) return 0;
    }
    return 1;
}

static int same_values(const dm_tensor *a, const dm_tensor *b)
{
    if (!a || !b || a->dtype != b->dtype || !dm_same_shape(a, b)) return 0;
    int64_t n = dm_numel(a);
    for (int64_t i = 0; i < n; i++) {
        int64_t idx[1] = { i };
        double x = dm_get_f64(a, idx), y = dm_get_f64(b, idx);
        if (!(x == y || (isnan(x) && isnan(y)))) return 0;
    }
    return 1;
}

static const char *const BN[] = { "add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le",
                                  "gt", "ge", "maximum", "minimum" };

static void test_binary_table(void)
{
    int nc = (int)(sizeof bcases / sizeof bcases[0]);
    for (int k = 0; k < nc; k++) {
        const struct bcase *c = &bcases[k];
        dm_tensor *a = input(A, DTS[c->da]), *b = NULL, *b0 = NULL, *out;
        switch (c->kb) {
        case 0: b = input(B, DTS[c->db]); out = dm_binary((dm_binop)c->op, a, b); break;
        case 1:
            b0 = input(B, DTS[c->db]);
            b = dm_select(b0, 0, 1);
            out = dm_binary((dm_binop)c->op, a, b);
            break;
        case 2: out = dm_binary_scalar_i64((dm_binop)c->op, a, (int64_t)c->s, c->rev); break;
        default: out = dm_binary_scalar_f64((dm_binop)c->op, a, c->s, c->rev); break;
        }
        const char *kind[] = { "tensor", "0-dim", "integer", "float" };
        if (c->rt < 0)
            CHECKF(!out, "%s(%s, %s %s %g rev %d) is an error", BN[c->op],
                   dm_dtype_name(DTS[c->da]), kind[c->kb], dm_dtype_name(DTS[c->db]), c->s,
                   c->rev);
        else
            CHECKF(matches(out, c->rt, c->want, 6), "%s(%s, %s %s %g rev %d) -> %s: %s",
                   BN[c->op], dm_dtype_name(DTS[c->da]), kind[c->kb],
                   dm_dtype_name(DTS[c->db]), c->s, c->rev, dm_dtype_name(DTS[c->rt]),
                   out ? dm_dtype_name(out->dtype) : dm_errmsg());
        /* the same op on stride-2 copies of the operands gives the same values */
        if (out && c->kb == 0) {
            dm_tensor *as = strided(a), *bs = strided(b);
            dm_tensor *o2 = dm_binary((dm_binop)c->op, as, bs);
            CHECKF(same_values(out, o2), "%s(%s, %s): strided == contiguous", BN[c->op],
                   dm_dtype_name(DTS[c->da]), dm_dtype_name(DTS[c->db]));
            dm_tensor_release(o2);
            dm_tensor_release(as);
            dm_tensor_release(bs);
        }
        dm_tensor_release(out);
        dm_tensor_release(a);
        dm_tensor_release(b);
        dm_tensor_release(b0);
    }
}

static const char *const UN[] = { "neg", "exp", "log", "sqrt", "abs", "sign", "round", "floor",
                                  "ceil", "tanh", "sigmoid", "relu", "reciprocal", "sin",
                                  "cos", "selu", "gelu", "square", "log1p", "trunc", "frac",
                                  "expm1", "log2", "log10", "exp2", "rsqrt", "tan", "asin",
                                  "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                                  "erf", "erfc", "deg2rad", "rad2deg", "sgn", "lgamma",
                                  "digamma", "erfinv", "logit", "sinc" };

static void test_unary_table(void)
{
    int nc = (int)(sizeof ucases / sizeof ucases[0]);
    for (int k = 0; k < nc; k++) {
        const struct ucase *c = &ucases[k];
        dm_tensor *a = input(A, DTS[c->da]);
        dm_tensor *out = dm_unary((dm_unop)c->op, a);
        if (c->rt < 0) {
            CHECKF(!out, "%s(%s) is an error", UN[c->op], dm_dtype_name(DTS[c->da]));
        } else {
            CHECKF(matches(out, c->rt, c->want, 6), "%s(%s) -> %s: %s", UN[c->op],
                   dm_dtype_name(DTS[c->da]), dm_dtype_name(DTS[c->rt]),
                   out ? dm_dtype_name(out->dtype) : dm_errmsg());
            dm_tensor *as = strided(a), *o2 = dm_unary((dm_unop)c->op, as);
            CHECKF(same_values(out, o2), "%s(%s): strided == contiguous", UN[c->op],
                   dm_dtype_name(DTS[c->da]));
            dm_tensor_release(o2);
            dm_tensor_release(as);
        }
        dm_tensor_release(out);
        dm_tensor_release(a);
    }
}

/* ---- float64 against double formulas ----------------------------------------------------- */

static dm_tensor *rand_f64(int64_t n, double lo, double hi, unsigned seed)
{
    dm_tensor *t = dm_tensor_new_dtype(1, &n, DM_FLOAT64);
    double *p = dm_data_ptr(t);
    uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = lo + (hi - lo) * (double)(s >> 11) / 9007199254740992.0;
    }
    return t;
}

static double ref_un(int op, double x)
{
    switch (op) {
    case DM_UN_EXP: return exp(x);
    case DM_UN_LOG: return log(x);
    case DM_UN_SQRT: return sqrt(x);
    case DM_UN_TANH: return tanh(x);
    case DM_UN_SIGMOID: return 1 / (1 + exp(-x));
    case DM_UN_RECIPROCAL: return 1 / x;
    case DM_UN_SIN: return sin(x);
    case DM_UN_COS: return cos(x);
    case DM_UN_SELU:
        return x <= 0 ? 1.0507009873554804934 * 1.6732632423543772848 * (exp(x) - 1)
                      : 1.0507009873554804934 * x;
    case DM_UN_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case DM_UN_LOG1P: return log1p(x);
    default: return x * x;                      /* DM_UN_SQUARE */
    }
}

static void test_float64_reference(void)
{
    static const int ops[] = { DM_UN_EXP, DM_UN_LOG, DM_UN_SQRT, DM_UN_TANH, DM_UN_SIGMOID,
                               DM_UN_RECIPROCAL, DM_UN_SIN, DM_UN_COS, DM_UN_SELU,
                               DM_UN_GELU, DM_UN_LOG1P, DM_UN_SQUARE };
    dm_tensor *x = rand_f64(37, 0.1, 3, 1), *xn = rand_f64(37, -3, 3, 2);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        int pos = ops[k] == DM_UN_LOG || ops[k] == DM_UN_SQRT;
        dm_tensor *in = pos ? x : xn, *y = dm_unary((dm_unop)ops[k], in);
        int ok = y && y->dtype == DM_FLOAT64;
        for (int64_t i = 0; ok && i < 37; i++)
            ok = tu_close(((double *)dm_data_ptr(y))[i],
                          ref_un(ops[k], ((double *)dm_data_ptr(in))[i]), 1e-15);
        CHECKF(ok, "float64 %s matches the double formula", UN[ops[k]]);
        dm_tensor_release(y);
    }
    /* binary ops and the scalar forms in double: 0.1 stays the double 0.1 */
    dm_tensor *s = dm_binary_scalar_f64(DM_BIN_ADD, x, 0.1, 0);
    dm_tensor *p = dm_binary(DM_BIN_POW, x, xn), *d = dm_binary(DM_BIN_DIV, xn, x);
    int ok = s && p && d;
    for (int64_t i = 0; ok && i < 37; i++) {
        double a = ((double *)dm_data_ptr(x))[i], b = ((double *)dm_data_ptr(xn))[i];
        ok = ((double *)dm_data_ptr(s))[i] == a + 0.1 &&
             tu_close(((double *)dm_data_ptr(p))[i], pow(a, b), 1e-15) &&
             ((double *)dm_data_ptr(d))[i] == b / a;
    }
    CHECK(ok, "float64 x + 0.1, pow, div computed in double");
    dm_tensor_release(s);
    dm_tensor_release(p);
    dm_tensor_release(d);
    /* float32 with float64 is float64; a 0-dim float64 with a float32 [n] is float32 */
    dm_tensor *f = dm_to_dtype(x, DM_FLOAT32), *z = dm_select(x, 0, 0);
    dm_tensor *m1 = dm_add(f, x), *m2 = dm_add(f, z);
    CHECK(m1 && m1->dtype == DM_FLOAT64 && m2 && m2->dtype == DM_FLOAT32,
          "float32 + float64 [n] is float64; float32 [n] + float64 0-dim is float32");
    dm_tensor_release(m1);
    dm_tensor_release(m2);
    dm_tensor_release(f);
    dm_tensor_release(z);
    dm_tensor_release(x);
    dm_tensor_release(xn);
}

/* ---- float64 gradients by central differences in double ---------------------------------- */

typedef dm_tensor *(*gfn)(dm_tensor *const *in, int which);

/* The engine (autograd/engine.c) seeds and accumulates float32 gradients today, so the float64
 * rules are checked one node deep: the backward rule of y's node is called with a float64
 * gout = w, giving d sum(y * w) / d input for each input, compared with central differences
 * of sum(f(in) * w) in double. */
static double gradcheck64(gfn f, int which, int n, dm_tensor *const *in)
{
    for (int i = 0; i < n; i++) dm_set_requires_grad(in[i], 1);
    dm_tensor *y = f(in, which);
    if (!y || !y->grad_fn) { printf("gradcheck64: %s\n", dm_errmsg()); return INFINITY; }
    dm_node *node = y->grad_fn;
    int64_t ny = dm_numel(y);
    dm_tensor *w = rand_f64(ny, -1, 1, 77);
    dm_tensor *wv = dm_view(w, y->ndim, y->shape);
    dm_tensor *gin[8] = { 0 };
    int prev = dm_set_grad_enabled(0);
    dm_bwctx cx = { node, { 0 } };
    int rc = dm__opdef(node->op)->backward(&cx, node, wv, gin);
    if (rc) printf("gradcheck64: backward: %s\n", dm_errmsg());
    double worst = rc ? INFINITY : 0, eps = 1e-6;
    double *wb = dm_data_ptr(w), *yb = malloc((size_t)ny * sizeof *yb);
    for (int i = 0; !rc && i < n; i++) {
        const dm_tensor *g = NULL;
        for (int k = 0; k < node->ninputs; k++) if (node->in[k] == in[i]) g = gin[k];
        if (!g || g->dtype != DM_FLOAT64 || !dm_is_contiguous(g)) { worst = INFINITY; break; }
        double *x = dm_data_ptr(in[i]);
        for (int64_t k = 0; k < dm_numel(in[i]); k++) {
            double orig = x[k], loss[2];
            for (int sg = 0; sg < 2; sg++) {
                x[k] = orig + (sg ? -eps : eps);
                dm_tensor *yy = f(in, which);
                dm_to_buffer_dtype(yy, yb, DM_FLOAT64);
                loss[sg] = 0;
                for (int64_t j = 0; j < ny; j++) loss[sg] += yb[j] * wb[j];
                dm_tensor_release(yy);
            }
            x[k] = orig;
            double num = (loss[0] - loss[1]) / (2 * eps), ana = ((double *)dm_data_ptr(g))[k];
            double err = fabs(num - ana) / (fabs(num) > 1 ? fabs(num) : 1);
            if (err > worst) worst = err;
        }
    }
    dm_set_grad_enabled(prev);
    free(yb);
    for (int k = 0; k < 8; k++) dm_tensor_release(gin[k]);
    for (int i = 0; i < n; i++) dm_set_requires_grad(in[i], 0);
    dm_tensor_release(y);
    dm_tensor_release(wv);
    dm_tensor_release(w);
    return worst;
}

static dm_tensor *g_unary(dm_tensor *const *in, int op) { return dm_unary((dm_unop)op, in[0]); }
static dm_tensor *g_binary(dm_tensor *const *in, int op) { return dm_binary((dm_binop)op, in[0], in[1]); }

/* the scalar forms, the parameterised ops and where, numbered */
static dm_tensor *g_misc(dm_tensor *const *in, int k)
{
    dm_tensor *x = in[0];
    switch (k) {
    case 0: return dm_binary_scalar_f64(DM_BIN_ADD, x, 0.3, 0);
    case 1: return dm_binary_scalar_f64(DM_BIN_SUB, x, 0.3, 1);
    case 2: return dm_binary_scalar_f64(DM_BIN_MUL, x, -1.7, 0);
    case 3: return dm_binary_scalar_f64(DM_BIN_DIV, x, 0.7, 0);
    case 4: return dm_binary_scalar_f64(DM_BIN_DIV, x, 0.7, 1);
    case 5: return dm_binary_scalar_f64(DM_BIN_POW, x, 2.5, 0);
    case 6: return dm_binary_scalar_i64(DM_BIN_POW, x, 3, 0);
    case 7: return dm_binary_scalar_f64(DM_BIN_POW, x, 0.5, 0);
    case 8: return dm_binary_scalar_f64(DM_BIN_POW, x, 1.3, 1);
    case 9: return dm_binary_scalar_f64(DM_BIN_MAXIMUM, x, 0.9, 0);
    case 10: return dm_clamp(x, 0.5, 1.5);
    case 11: return dm_leaky_relu(x, 0.1);
    case 12: return dm_elu(x, 0.7);
    case 13: {
        dm_tensor *c = dm_binary_scalar_f64(DM_BIN_GT, x, 1.0, 0);
        dm_tensor *y = dm_where(c, x, in[1]);
        dm_tensor_release(c);
        return y;
    }
    default: return dm_binary_scalar_i64(DM_BIN_ADD, x, 2, 0);
    }
}

static void test_float64_gradients(void)
{
    /* values in (0.15, 2.4), away from 1 (the where and clamp edges) */
    dm_tensor *x = rand_f64(7, 0.15, 2.4, 11), *x2 = rand_f64(7, -2, 2, 12);
    double *p = dm_data_ptr(x);
    for (int i = 0; i < 7; i++) if (fabs(p[i] - 1) < 0.05 || fabs(p[i] - 0.5) < 0.05 ||
                                     fabs(p[i] - 1.5) < 0.05 || fabs(p[i] - 0.9) < 0.05) p[i] += 0.1;
    /* inside (-1, 1) for asin, acos, atanh (tan and frac too: no pole, no step); above 1 for
       acosh */
    dm_tensor *x3 = rand_f64(7, -0.8, 0.8, 14), *x4 = rand_f64(7, 1.2, 3, 15);
    dm_tensor *x5 = rand_f64(7, 0.1, 0.9, 16);                  /* inside (0, 1) for logit */
    for (int op = 0; op < DM_UN_COUNT; op++) {
        if (op == DM_UN_SIGN || op == DM_UN_ROUND || op == DM_UN_FLOOR || op == DM_UN_CEIL ||
            op == DM_UN_TRUNC || op == DM_UN_SGN)
            continue;                               /* zero gradients, steps at integers */
        int neg = op == DM_UN_SELU || op == DM_UN_GELU || op == DM_UN_RELU || op == DM_UN_ABS;
        int unit = op == DM_UN_ASIN || op == DM_UN_ACOS || op == DM_UN_ATANH ||
                   op == DM_UN_TAN || op == DM_UN_FRAC || op == DM_UN_ERFINV;
        double err = gradcheck64(g_unary, op, 1, neg ? &x2 : unit ? &x3
                                                 : op == DM_UN_ACOSH ? &x4
                                                 : op == DM_UN_LOGIT ? &x5 : &x);
        CHECKF(err < 1e-6, "float64 gradcheck %s (err %.3g)", UN[op], err);
    }
    dm_tensor_release(x3);
    dm_tensor_release(x4);
    dm_tensor_release(x5);
    static const int bops[] = { DM_BIN_ADD, DM_BIN_SUB, DM_BIN_MUL, DM_BIN_DIV, DM_BIN_POW,
                                DM_BIN_MAXIMUM, DM_BIN_MINIMUM };
    for (size_t k = 0; k < sizeof bops / sizeof bops[0]; k++) {
        double err = gradcheck64(g_binary, bops[k], 2, (dm_tensor *[]){ x, x2 });
        CHECKF(err < 1e-6, "float64 gradcheck %s (err %.3g)", BN[bops[k]], err);
    }
    /* broadcast: [2 x 7] op [7], the [7] side's gradient summed over the rows */
    dm_tensor *r14 = rand_f64(14, 0.2, 2.2, 13), *m = dm_view(r14, 2, (int64_t[]){2, 7});
    for (size_t k = 0; k < sizeof bops / sizeof bops[0]; k++) {
        double err = gradcheck64(g_binary, bops[k], 2, (dm_tensor *[]){ m, x });
        CHECKF(err < 1e-6, "float64 gradcheck %s [2 x 7] with [7] (err %.3g)", BN[bops[k]], err);
        err = gradcheck64(g_binary, bops[k], 2, (dm_tensor *[]){ x, m });
        CHECKF(err < 1e-6, "float64 gradcheck %s [7] with [2 x 7] (err %.3g)", BN[bops[k]], err);
    }
    dm_tensor_release(m);
    dm_tensor_release(r14);
    for (int k = 0; k <= 14; k++) {
        double err = gradcheck64(g_misc, k, k == 13 ? 2 : 1, (dm_tensor *[]){ x, x2 });
        CHECKF(err < 1e-6, "float64 gradcheck of scalar/param form %d (err %.3g)", k, err);
    }
    /* names as for float32 */
    dm_set_requires_grad(x, 1);
    dm_tensor *f = dm_to_dtype(x2, DM_FLOAT32);
    dm_set_requires_grad(f, 1);
    dm_tensor *y1 = dm_unary(DM_UN_EXP, x), *y2 = dm_binary_scalar_f64(DM_BIN_POW, x, 2.5, 0);
    dm_tensor *y3 = dm_mul(f, x);
    CHECK(y1 && !strcmp(dm_grad_fn_name(y1), "ExpBackward0") && y2 &&
          !strcmp(dm_grad_fn_name(y2), "PowBackward0") && y3 &&
          !strcmp(dm_grad_fn_name(y3), "MulBackward0") && y3->dtype == DM_FLOAT64,
          "float64 nodes carry the float32 names");
    /* float32 * float64: the float32 operand is converted differentiably (its gradient
       comes back through ToCopyBackward0 as float32) */
    CHECK(y3->grad_fn->in[0] && y3->grad_fn->in[0]->grad_fn &&
          !strcmp(dm_grad_fn_name(y3->grad_fn->in[0]), "ToCopyBackward0"),
          "mixed float32 * float64: the float32 operand goes through ToCopyBackward0");
    /* the engine seeds a walk with a float32 gradient today: the float64 rules convert it,
       so a single-path float64 graph gets its float64 gradient end to end */
    dm_tensor *s0 = dm_tensor_full_dtype(0, NULL, 0.7, DM_FLOAT64);
    dm_set_requires_grad(s0, 1);
    dm_tensor *s1 = dm_binary_scalar_f64(DM_BIN_MUL, s0, 3, 0), *s2 = dm_unary(DM_UN_EXP, s1);
    CHECK(s2 && dm_backward(s2, NULL, 0) == 0 && s0->grad && s0->grad->dtype == DM_FLOAT64 &&
          fabs(dm_get_f64(s0->grad, NULL) - 3 * exp(2.1)) < 1e-12,
          "exp(3 x) in float64 backward from a float32 seed: a float64 gradient, exact");
    dm_tensor_release(s2);
    dm_tensor_release(s1);
    dm_tensor_release(s0);
    dm_tensor *in = input(A, DM_INT64), *yi = dm_mul(in, in);
    CHECK(yi && !yi->requires_grad && !dm_grad_fn_name(yi), "integer results record nothing");
    dm_tensor *objs[] = { y1, y2, y3, f, in, yi, x, x2 };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dm_tensor_release(objs[i]);
}

/* ---- int64 exactness and the in-place ops ------------------------------------------------ */

static dm_tensor *i64s(int n, const int64_t *v)
{
    dm_tensor *t = dm_tensor_new_dtype(1, (int64_t[]){n}, DM_INT64);
    memcpy(dm_data_ptr(t), v, (size_t)n * sizeof *v);
    return t;
}

static void test_int64(void)
{
    const int64_t big = ((int64_t)1 << 53) + 1;
    dm_tensor *a = i64s(4, (int64_t[]){ big, INT64_MAX, INT64_MIN, -7 });
    dm_tensor *y = dm_binary_scalar_i64(DM_BIN_ADD, a, 1, 0);
    int64_t *v = y ? dm_data_ptr(y) : NULL;
    CHECK(y && y->dtype == DM_INT64 && v[0] == big + 1 && v[1] == INT64_MIN &&
          v[2] == INT64_MIN + 1 && v[3] == -6, "int64 + 1 exact beyond 2^53, wrapping at the ends");
    dm_tensor_release(y);
    y = dm_binary_scalar_i64(DM_BIN_MUL, a, -1, 0);
    v = y ? dm_data_ptr(y) : NULL;
    CHECK(y && v[0] == -big && v[2] == INT64_MIN && v[3] == 7, "int64 * -1: INT64_MIN stays");
    dm_tensor_release(y);
    y = dm_unary(DM_UN_NEG, a);
    v = y ? dm_data_ptr(y) : NULL;
    CHECK(y && v[1] == -INT64_MAX && v[2] == INT64_MIN, "neg of INT64_MIN wraps, no trap");
    dm_tensor_release(y);
    /* true division goes through float32: by zero and INT64_MIN / -1 do not trap */
    dm_tensor *m1 = i64s(4, (int64_t[]){ -1, 0, -1, 0 });
    y = dm_div(a, m1);
    CHECK(y && y->dtype == DM_FLOAT32 && isinf(dm_get_f64(y, (int64_t[]){1})) &&
          dm_get_f64(y, (int64_t[]){2}) == 9223372036854775808.0, "int64 / int64 is float32");
    dm_tensor_release(y);
    dm_tensor *b3 = i64s(3, (int64_t[]){ 3, -1, 2 }), *e = i64s(3, (int64_t[]){ 39, -3, -2 });
    y = dm_pow(b3, e);
    v = y ? dm_data_ptr(y) : NULL;
    CHECK(y && v[0] == 4052555153018976267LL && v[1] == -1 && v[2] == 0,
          "int64 pow: exact, 3^39 fits; (-1)^-3 = -1, 2^-2 = 0");
    dm_tensor_release(y);
    CHECK_ERR(dm_binary_scalar_i64(DM_BIN_POW, b3, -1, 0),
              "pow: integers to negative integer powers are not allowed");
    dm_tensor *objs[] = { a, m1, b3, e };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dm_tensor_release(objs[i]);
}

static void test_inplace(void)
{
    dm_tensor *i = input(A, DM_INT64), *f = input(B, DM_FLOAT32), *u = input(A, DM_UINT8);
    dm_tensor *bl = input(A, DM_BOOL), *d = input(A, DM_FLOAT64);
    CHECK_ERR(dm_binary_(DM_BIN_ADD, i, f),
              "add_: result type float32 can't be cast to the desired output type int64");
    CHECK_ERR(dm_binary_scalar_(DM_BIN_MUL, i, 2.5, 0),
              "mul_: result type float32 can't be cast to the desired output type int64");
    CHECK_ERR(dm_binary_scalar_(DM_BIN_DIV, i, 2, 1),
              "div_: result type float32 can't be cast to the desired output type int64");
    CHECK(dm_binary_scalar_(DM_BIN_MUL, i, 2, 1) == 0 && dm_get_i64(i, (int64_t[]){1}) == -4 &&
          i->dtype == DM_INT64, "int64 mul_(2) stays int64");
    CHECK(dm_binary_(DM_BIN_ADD, f, i) == 0 && dm_get_f64(f, (int64_t[]){0}) == 2.5 + 6,
          "float32 add_(int64)");
    CHECK(dm_binary_(DM_BIN_ADD, u, i) == 0 && dm_get_i64(u, (int64_t[]){1}) == 250 &&
          u->dtype == DM_UINT8, "uint8 add_(int64) wraps in uint8");
    CHECK(dm_binary_(DM_BIN_ADD, bl, bl) == 0 && bl->dtype == DM_BOOL &&
          dm_get_i64(bl, (int64_t[]){2}) == 0, "bool add_(bool) is or");
    CHECK_ERR(dm_binary_(DM_BIN_ADD, bl, i),
              "add_: result type int64 can't be cast to the desired output type bool");
    CHECK(dm_clamp_ex_(i, 0, 5, 1) == 0 && dm_get_i64(i, (int64_t[]){0}) == 5 &&
          dm_get_i64(i, (int64_t[]){1}) == 0, "int64 clamp_(0, 5)");
    CHECK(dm_add_scalar_(d, 0.25f) == 0 && dm_get_f64(d, (int64_t[]){0}) == 4.0,
          "float64 add_ of a float");
    CHECK(dm_mul_(d, d) == 0 && dm_get_f64(d, (int64_t[]){0}) == 16.0, "float64 mul_");
    /* broadcasting into the destination only */
    dm_tensor *row = input(A, DM_INT64), *col = dm_tensor_zeros_dtype(2, (int64_t[]){2, 6}, DM_INT64);
    CHECK(dm_binary_(DM_BIN_SUB, col, row) == 0 && dm_get_i64(col, (int64_t[]){1, 0}) == -3,
          "int64 [2 x 6] sub_ [6]");
    CHECK_ERR(dm_binary_(DM_BIN_ADD, row, col),
              "add_: the result's shape [2 x 6] differs from the destination's [6]");
    dm_tensor *objs[] = { i, f, u, bl, d, row, col };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) dm_tensor_release(objs[k]);
}

static void test_errors_and_where(void)
{
    dm_tensor *b = input(A, DM_BOOL), *i = input(A, DM_INT64), *f = input(B, DM_FLOAT32);
    CHECK_ERR(dm_sub(b, b), "sub: subtraction, the `-` operator, with two bool tensors is not "
                            "supported; use the `^` or logical_xor() operator instead");
    CHECK_ERR(dm_binary_scalar_i64(DM_BIN_SUB, b, 1, 1),
              "sub: subtraction, the `-` operator, with a bool tensor is not supported; to "
              "invert a mask, use logical_not()");
    CHECK_ERR(dm_unary(DM_UN_NEG, b), "neg: negation, the `-` operator, on a bool tensor is "
                                      "not supported; to invert a mask, use logical_not()");
    CHECK_ERR(dm_leaky_relu(i, 0.1), "leaky_relu: not implemented for int64 tensors");
    CHECK_ERR(dm_unary(DM_UN_SELU, i), "selu: not implemented for int64 tensors");
    CHECK_ERR(dm_where(f, i, f), "where: expected a bool condition, got float32");
    /* where promotes a and b: int64 with float32 is float32; a strided cond */
    dm_tensor *c = dm_binary_scalar_i64(DM_BIN_GT, i, 0, 0);
    dm_tensor *cs = strided(c), *y = dm_where(cs, i, f);
    CHECK(y && y->dtype == DM_FLOAT32 && dm_get_f64(y, (int64_t[]){0}) == 3 &&
          dm_get_f64(y, (int64_t[]){1}) == 3.75, "where(bool, int64, float32) is float32");
    dm_tensor_release(y);
    dm_tensor *two = dm_tensor_full_i64(0, NULL, 2, DM_INT64);
    y = dm_where(c, i, two);
    CHECK(y && y->dtype == DM_INT64 && dm_get_i64(y, (int64_t[]){1}) == 2,
          "where(bool, int64, 2) is int64");
    dm_tensor_release(y);
    /* clamp types as PyTorch: integer bounds keep integers, a float bound gives float32 */
    dm_tensor *u = input(A, DM_UINT8);
    y = dm_clamp_ex(u, 1, 5, 1);
    CHECK(y && y->dtype == DM_UINT8 && dm_get_i64(y, (int64_t[]){1}) == 5, "uint8 clamp(1, 5)");
    dm_tensor_release(y);
    y = dm_clamp_ex(b, 0, 1, 1);
    CHECK(y && y->dtype == DM_INT64, "bool clamp(0, 1) is int64");
    dm_tensor_release(y);
    y = dm_clamp_ex(i, 0.5, NAN, 0);
    CHECK(y && y->dtype == DM_FLOAT32 && dm_get_f64(y, (int64_t[]){1}) == 0.5,
          "int64 clamp(0.5) is float32");
    dm_tensor_release(y);
    dm_tensor *objs[] = { b, i, f, c, cs, two, u };
    for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) dm_tensor_release(objs[k]);
}

int main(void)
{
    tu_live start = tu_live_now();
    test_binary_table();
    test_unary_table();
    test_float64_reference();
    test_float64_gradients();
    test_int64();
    test_inplace();
    test_errors_and_where();
    CHECK_NO_LEAKS(start);
    return TEST_END("test_dtype_elementwise");
}
