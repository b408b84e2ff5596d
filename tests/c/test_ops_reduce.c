/* test_ops_reduce.c -- the C API of reduce_multi.c and bitwise.c: hand-computed values
 * (amax ties, norms at zero, logsumexp of large values, remainder/fmod/floor_divide signs,
 * integer edge cases), a non-contiguous input, and the messages.  PyTorch fixtures and the
 * options tables are tested from Lua (tests/ops_reduce_spec.lua); gradients against central
 * differences in test_optable.c. */
#include "testutil.h"

static dm_tensor *f64(int ndim, const int64_t *shape, const double *v)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_FLOAT64);
    memcpy(dm_data_ptr(t), v, (size_t)dm_numel(t) * sizeof(double));
    return t;
}

static dm_tensor *i64(int ndim, const int64_t *shape, const int64_t *v)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_INT64);
    memcpy(dm_data_ptr(t), v, (size_t)dm_numel(t) * sizeof(int64_t));
    return t;
}

static void test_amax_ties(void)
{
    /* [[1, 3, 3], [2, 2, 2]]: amax over dim 1 shares the gradient among the ties */
    dm_tensor *x = f64(2, (int64_t[]){2, 3}, (double[]){1, 3, 3, 2, 2, 2});
    dm_set_requires_grad(x, 1);
    dm_tensor *y = dm_amax(x, 1, (int[]){1}, 0);
    CHECK(tu_shape_is(y, 1, (int64_t[]){2}), "amax: [2 x 3] over dim 1 is [2]");
    tu_check_vals(y, (double[]){3, 2}, 2, 0, "amax values");
    dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_backward(s, NULL, 0) == 0, "amax backward runs");
    tu_check_vals(x->grad, (double[]){0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 6, 1e-7,
                  "amax gradient shared by ties");
    dm_tensor_release(s);
    dm_tensor_release(y);
    /* amin over both dims with keepdim: [1 x 1] */
    dm_tensor *m = dm_amin(x, 2, (int[]){0, -1}, 1);
    CHECK(tu_shape_is(m, 2, (int64_t[]){1, 1}), "amin keepdim over both dims is [1 x 1]");
    CHECK(tu_val0(m) == 1, "amin value");
    dm_tensor_release(m);
    dm_tensor_release(x);
}

static void test_norm(void)
{
    dm_tensor *x = f64(2, (int64_t[]){2, 3}, (double[]){0, 0, 0, 3, -4, 0});
    dm_set_requires_grad(x, 1);
    dm_tensor *y = dm_norm(x, 2, 1, (int[]){1}, 0);
    tu_check_vals(y, (double[]){0, 5}, 2, 1e-15, "norm p=2 per row");
    dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_backward(s, NULL, 0) == 0, "norm backward runs");
    /* 0 at the zero row (PyTorch's subgradient), x / |x| elsewhere */
    tu_check_vals(x->grad, (double[]){0, 0, 0, 0.6, -0.8, 0}, 6, 1e-7, "norm gradient");
    dm_tensor_release(s);
    dm_tensor_release(y);
    struct { double p, want; } pw[] = {
        { 1, 7 }, { 0, 2 }, { INFINITY, 4 }, { -INFINITY, 0 }, { 3, cbrt(91) },
    };
    for (size_t k = 0; k < sizeof pw / sizeof *pw; k++) {
        dm_tensor *n = dm_norm(x, pw[k].p, 0, NULL, 0);
        CHECKF(n && fabs(tu_val0(n) - pw[k].want) < 1e-12, "norm p=%g of everything is %g",
               pw[k].p, pw[k].want);
        dm_tensor_release(n);
    }
    dm_tensor *xi = i64(1, (int64_t[]){2}, (int64_t[]){3, 4});
    CHECK_ERR(dm_norm(xi, 2, 0, NULL, 0),
              "norm: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_norm(x, 2, 2, (int[]){1, -1}, 0),
              "norm: dim 2 appears multiple times in the list of dims");
    dm_tensor_release(xi);
    dm_tensor_release(x);
}

static void test_logsumexp(void)
{
    /* large values: no overflow; a transposed view reads the same */
    dm_tensor *x = f64(2, (int64_t[]){2, 2}, (double[]){1000, 1000, -1000, -1000});
    dm_tensor *y = dm_logsumexp(x, 1, (int[]){1}, 0);
    tu_check_vals(y, (double[]){1000 + log(2.0), -1000 + log(2.0)}, 2, 1e-7,
                  "logsumexp stable");
    dm_tensor *xt = dm_transpose(x, 0, 1);
    dm_tensor *yt = dm_logsumexp(xt, 1, (int[]){0}, 1);
    CHECK(tu_shape_is(yt, 2, (int64_t[]){1, 2}), "logsumexp keepdim of a transposed view");
    tu_check_vals(yt, (double[]){1000 + log(2.0), -1000 + log(2.0)}, 2, 1e-7,
                  "logsumexp over a non-contiguous input");
    dm_tensor_release(xt);
    dm_tensor_release(yt);
    dm_tensor_release(y);
    dm_tensor_release(x);
}

static void test_sum_dims(void)
{
    dm_tensor *x = f64(3, (int64_t[]){2, 2, 2}, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
    dm_tensor *y = dm_reduce_dims(DM_RED_SUM, x, 2, (int[]){0, 2}, 1);
    CHECK(tu_shape_is(y, 3, (int64_t[]){1, 2, 1}), "sum over dims 0 and 2, keepdim");
    tu_check_vals(y, (double[]){1 + 2 + 5 + 6, 3 + 4 + 7 + 8}, 2, 0, "sum over two dims");
    dm_tensor *m = dm_reduce_dims(DM_RED_MEAN, x, 2, (int[]){1, 0}, 0);
    tu_check_vals(m, (double[]){4, 5}, 2, 1e-15, "mean over two dims");
    CHECK_ERR(dm_reduce_dims(DM_RED_PROD, x, 2, (int[]){0, 1}, 0),
              "reduce_dims: only sum and mean reduce over several dims");
    dm_tensor_release(m);
    dm_tensor_release(y);
    dm_tensor_release(x);
}

static void test_divmod(void)
{
    dm_tensor *a = i64(1, (int64_t[]){4}, (int64_t[]){7, -7, 7, -7});
    dm_tensor *b = i64(1, (int64_t[]){4}, (int64_t[]){2, 2, -2, -2});
    dm_tensor *q = dm_binop2_apply(DM_B2_FLOOR_DIVIDE, a, b);
    dm_tensor *r = dm_binop2_apply(DM_B2_REMAINDER, a, b);
    dm_tensor *f = dm_binop2_apply(DM_B2_FMOD, a, b);
    tu_check_vals(q, (double[]){3, -4, -4, 3}, 4, 0, "floor_divide int64");
    tu_check_vals(r, (double[]){1, 1, -1, -1}, 4, 0, "remainder int64: the divisor's sign");
    tu_check_vals(f, (double[]){1, -1, 1, -1}, 4, 0, "fmod int64: the dividend's sign");
    dm_tensor *z = i64(1, (int64_t[]){1}, (int64_t[]){0});
    CHECK_ERR(dm_binop2_apply(DM_B2_FLOOR_DIVIDE, a, z), "floor_divide: integer division by zero");
    CHECK_ERR(dm_binop2_apply(DM_B2_REMAINDER, a, z), "remainder: integer division by zero");
    dm_tensor *fl = f64(1, (int64_t[]){2}, (double[]){1.5, 2});
    CHECK_ERR(dm_binop2_apply(DM_B2_BITWISE_AND, fl, a),
              "bitwise_and: shapes [2] and [4] cannot be broadcast (dim 1: 2 vs 4)");
    CHECK_ERR(dm_binop2_apply(DM_B2_BITWISE_AND, fl, fl),
              "bitwise_and: not implemented for float64 tensors (bitwise ops take integer and "
              "bool tensors)");
    dm_tensor *x = dm_binop2_apply(DM_B2_BITWISE_XOR, a, b);
    tu_check_vals(x, (double[]){7 ^ 2, -7 ^ 2, 7 ^ -2, -7 ^ -2}, 4, 0, "bitwise_xor int64");
    dm_tensor *n = dm_unop2_apply(0, a);
    tu_check_vals(n, (double[]){-8, 6, -8, 6}, 4, 0, "bitwise_not int64");
    dm_tensor *l = dm_unop2_apply(1, fl);
    CHECK(l && l->dtype == DM_BOOL && tu_val0(l) == 0, "logical_not of a float is bool");
    dm_tensor *ff = f64(1, (int64_t[]){4}, (double[]){-7.5, 7.5, -0.0, 1});
    dm_tensor *fd = f64(1, (int64_t[]){4}, (double[]){2, -2, 3, 0});
    dm_tensor *fq = dm_binop2_apply(DM_B2_FLOOR_DIVIDE, ff, fd);
    dm_tensor *fr = dm_binop2_apply(DM_B2_REMAINDER, ff, fd);
    tu_check_vals(fq, (double[]){-4, -4, -0.0, INFINITY}, 4, 0, "floor_divide float64");
    tu_check_vals(fr, (double[]){0.5, -0.5, 0, NAN}, 4, 0, "remainder float64");
    CHECK(signbit(((double *)dm_data_ptr(fq))[2]), "floor_divide keeps -0 as PyTorch");
    dm_tensor_release(fq); dm_tensor_release(fr); dm_tensor_release(ff); dm_tensor_release(fd);
    dm_tensor_release(l); dm_tensor_release(n); dm_tensor_release(x); dm_tensor_release(fl);
    dm_tensor_release(z); dm_tensor_release(q); dm_tensor_release(r); dm_tensor_release(f);
    dm_tensor_release(a); dm_tensor_release(b);
}

static void test_tests(void)
{
    dm_tensor *x = f64(1, (int64_t[]){4}, (double[]){1, NAN, INFINITY, -INFINITY});
    dm_tensor *n = dm_isclass(x, 0), *i = dm_isclass(x, 1), *f = dm_isclass(x, 2);
    tu_check_vals(n, (double[]){0, 1, 0, 0}, 4, 0, "isnan");
    tu_check_vals(i, (double[]){0, 0, 1, 1}, 4, 0, "isinf");
    tu_check_vals(f, (double[]){1, 0, 0, 0}, 4, 0, "isfinite");
    double big = 7;
    dm_tensor *c = dm_nan_to_num(x, -1, &big, NULL);
    const double *cv = c ? dm_data_ptr(c) : NULL;
    CHECK(cv && cv[0] == 1 && cv[1] == -1 && cv[2] == 7 && cv[3] == -1.7976931348623157e308,
          "nan_to_num: nan -1, +inf 7, -inf float64's lowest value");
    dm_tensor *a = dm_any_all(x, DM_ALL, 0, 1), *y = dm_any_all(n, 0, 1, 0);
    CHECK(a && a->dtype == DM_BOOL && tu_val0(a) == 1, "all of nonzeros (nan counts)");
    CHECK(tu_shape_is(y, 1, (int64_t[]){1}) && tu_val0(y) == 1, "any over dim 0, keepdim");
    dm_tensor_release(a); dm_tensor_release(y); dm_tensor_release(c);
    dm_tensor_release(n); dm_tensor_release(i); dm_tensor_release(f); dm_tensor_release(x);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_amax_ties();
    test_norm();
    test_logsumexp();
    test_sum_dims();
    test_divmod();
    test_tests();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_ops_reduce");
}
