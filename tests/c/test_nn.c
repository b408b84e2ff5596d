/* test_nn.c -- dropout and batch norm (core/ops/nn.c).
 *
 * Dropout: identity when not training or p == 0, zeros at p == 1, the mask equal to
 * bernoulli(1 - p) draws from the given generator scaled by 1 / (1 - p), its gradient
 * mask * grad (checked exactly and by central differences with a generator reseeded per
 * call).  Batch norm: hand-computed values and running statistics (biased variance to
 * normalise, unbiased in the running estimate), gradient checks in training and eval mode,
 * [N x C] and [N x C x L], non-contiguous inputs, errors verbatim, names, no leaks. */
#include "testutil.h"

/* ---- dropout --------------------------------------------------------------------------- */

typedef struct { double p; dm_rng *g; uint64_t seed; } dctx;

static dm_tensor *dropout_fixed(dm_tensor *const *in, void *ctx)
{
    dctx *c = ctx;
    dm_rng_seed(c->g, c->seed);          /* the same mask on every call */
    return dm_dropout(in[0], c->p, 1, c->g);
}

static void test_dropout(void)
{
    const int64_t s[] = { 6, 50 };
    dm_tensor *x = tu_rand(2, s, -2, 2, 1);
    int64_t n = dm_numel(x);

    /* identity: not training, or p == 0 */
    dm_tensor *y = dm_dropout(x, 0.5, 0, NULL);
    CHECK(y == x && x->refcount == 2, "eval dropout returns its input");
    dm_tensor_release(y);
    y = dm_dropout(x, 0, 1, NULL);
    CHECK(y == x, "p = 0 returns its input");
    dm_tensor_release(y);

    /* the mask: bernoulli(0.7) draws in row-major order, scaled by 1 / 0.7f */
    dm_rng *g = dm_rng_new(123), *ref = dm_rng_new(123);
    dm_set_requires_grad(x, 1);
    y = dm_dropout(x, 0.3, 1, g);
    CHECK(y && y->grad_fn && strcmp(dm_grad_fn_name(y), "NativeDropoutBackward0") == 0,
          "dropout records NativeDropoutBackward0");
    float scale = 1.0f / 0.7f;
    int ok = 1, kept = 0;
    float *mask = malloc((size_t)n * sizeof *mask);
    for (int64_t i = 0; i < n; i++) {
        int keep = dm_rng_uniform(ref) < 0.7;
        mask[i] = keep ? scale : 0.0f;
        kept += keep;
        if (dm_data(y)[i] != dm_data(x)[i] * mask[i]) ok = 0;
    }
    CHECK(ok, "dropout output is x * mask from the generator's draws");
    CHECK(kept > 0.6 * n && kept < 0.8 * n, "about 70% kept");
    /* gradient: mask * gout exactly */
    dm_tensor *go = tu_rand(2, s, -1, 1, 2);
    CHECK(dm_backward(y, go, 0) == 0, "dropout backward");
    ok = x->grad != NULL;
    for (int64_t i = 0; ok && i < n; i++)
        if (dm_data(x->grad)[i] != dm_data(go)[i] * mask[i]) ok = 0;
    CHECK(ok, "dropout gradient is mask * grad");
    dm_tensor_release(y);
    dm_tensor_release(go);

    /* central differences with a fixed mask */
    dctx c = { 0.4, g, 99 };
    dm_tensor *in[1] = { x };
    double err = gradcheck(dropout_fixed, 1, in, &c, 1e-3);
    CHECK(err < 2e-3, "gradcheck dropout");

    /* p == 1: zeros, zero gradient */
    y = dm_dropout(x, 1, 1, g);
    ok = y != NULL;
    for (int64_t i = 0; ok && i < n; i++) if (dm_data(y)[i] != 0) ok = 0;
    CHECK(ok, "p = 1 gives zeros");
    dm_zero_(x->grad);
    CHECK(y && dm_backward(y, NULL, 0) != 0, "backward needs a gradient for non-scalars");
    dm_tensor *ones = dm_tensor_full(2, s, 1);
    CHECK(y && dm_backward(y, ones, 0) == 0, "p = 1 backward");
    ok = 1;
    for (int64_t i = 0; i < n; i++) if (dm_data(x->grad)[i] != 0) ok = 0;
    CHECK(ok, "p = 1 gradient is zero");
    dm_tensor_release(y);
    dm_tensor_release(ones);

    /* NULL generator: the default one */
    dm_rng_seed(dm_default_rng(), 5);
    dm_rng_seed(ref, 5);
    y = dm_dropout(x, 0.5, 1, NULL);
    ok = y != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        float m = dm_rng_uniform(ref) < 0.5 ? 2.0f : 0.0f;
        if (dm_data(y)[i] != dm_data(x)[i] * m) ok = 0;
    }
    CHECK(ok, "dropout draws from the default generator");
    dm_tensor_release(y);

    /* non-contiguous: draws follow the view's row-major order */
    dm_tensor *xt = dm_transpose(x, 0, 1), *xc = dm_clone(xt);
    dm_rng_seed(g, 7);
    dm_tensor *a = dm_dropout(xt, 0.25, 1, g);
    dm_rng_seed(g, 7);
    dm_tensor *b = dm_dropout(xc, 0.25, 1, g);
    CHECK(tu_same_values(a, b, 0), "dropout on a transposed view");
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor_release(xt);
    dm_tensor_release(xc);

    CHECK_ERR(dm_dropout(x, 1.5, 1, g),
              "dropout: probability has to be between 0 and 1, but got 1.5");
    CHECK_ERR(dm_dropout(x, -0.1, 0, g),
              "dropout: probability has to be between 0 and 1, but got -0.1");
    free(mask);
    dm_rng_free(g);
    dm_rng_free(ref);
    dm_tensor_release(x);
}

/* ---- batch norm ------------------------------------------------------------------------ */

static void test_batchnorm_values(void)
{
    /* x [4 x 2]: channel 0 is 1 3 5 7, channel 1 is 2 4 6 8: mean 4 and 5, biased var 5,
       unbiased 20 / 3 */
    const int64_t s42[] = { 4, 2 }, s2[] = { 2 };
    dm_tensor *x = tu_tensor(2, s42, (float[]){ 1, 2, 3, 4, 5, 6, 7, 8 });
    dm_tensor *w = tu_tensor(1, s2, (float[]){ 2, 1 }), *b = tu_tensor(1, s2, (float[]){ 0, 1 });
    dm_tensor *rm = dm_tensor_zeros(1, s2), *rv = dm_tensor_full(1, s2, 1);
    double eps = 1e-5, sd = sqrt(5 + eps);
    dm_tensor *y = dm_batch_norm(x, rm, rv, w, b, 1, 0.1, eps);
    double want[8];
    for (int i = 0; i < 4; i++) {
        want[2 * i] = 2 * ((1 + 2 * i) - 4) / sd;
        want[2 * i + 1] = ((2 + 2 * i) - 5) / sd + 1;
    }
    tu_check_vals(y, want, 8, 1e-6, "batch_norm training values");
    tu_check_vals(rm, (double[]){ 0.4, 0.5 }, 2, 1e-6, "running_mean");
    tu_check_vals(rv, (double[]){ 0.9 + 0.1 * 20 / 3.0, 0.9 + 0.1 * 20 / 3.0 }, 2, 1e-6,
                  "running_var (unbiased)");
    dm_tensor_release(y);

    /* eval: the running statistics */
    dm_tensor *rm2 = tu_tensor(1, s2, (float[]){ 1, -1 });
    dm_tensor *rv2 = tu_tensor(1, s2, (float[]){ 4, 0.25f });
    y = dm_batch_norm(x, rm2, rv2, w, b, 0, 0.1, eps);
    for (int i = 0; i < 4; i++) {
        want[2 * i] = 2 * ((1 + 2 * i) - 1) / sqrt(4 + eps);
        want[2 * i + 1] = ((2 + 2 * i) + 1) / sqrt(0.25 + eps) + 1;
    }
    tu_check_vals(y, want, 8, 1e-6, "batch_norm eval values");
    tu_check_vals(rm2, (double[]){ 1, -1 }, 2, 0, "eval leaves running_mean");
    dm_tensor_release(y);

    /* no affine parameters, no running statistics; [N x C x L] */
    const int64_t s223[] = { 2, 2, 3 };
    dm_tensor *x3 = tu_tensor(3, s223, (float[]){ 1, 2, 3, 10, 10, 10, 5, 6, 7, 10, 10, 14 });
    y = dm_batch_norm(x3, NULL, NULL, NULL, NULL, 1, 0.1, 0);
    /* channel 0: 1 2 3 5 6 7, mean 4, var (9+4+1+1+4+9)/6 = 14/3;
       channel 1: 10 x5 and 14, mean 32/3... */
    double m1 = 64.0 / 6, v1 = (5 * (10 - m1) * (10 - m1) + (14 - m1) * (14 - m1)) / 6;
    double s0 = sqrt(14.0 / 3), s1 = sqrt(v1);
    double w3[12] = { -3 / s0, -2 / s0, -1 / s0, (10 - m1) / s1, (10 - m1) / s1,
                      (10 - m1) / s1, 1 / s0, 2 / s0, 3 / s0, (10 - m1) / s1,
                      (10 - m1) / s1, (14 - m1) / s1 };
    tu_check_vals(y, w3, 12, 1e-5, "batch_norm [N x C x L]");
    dm_tensor_release(y);

    dm_tensor *objs[] = { x, w, b, rm, rv, rm2, rv2, x3 };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

typedef struct { int training; dm_tensor *rm, *rv; } bctx;

static dm_tensor *bn_fn(dm_tensor *const *in, void *ctx)
{
    bctx *c = ctx;
    return dm_batch_norm(in[0], c->rm, c->rv, in[1], in[2], c->training, 0.1, 1e-5);
}

static void bn_gradcheck(const char *what, int ndim, const int64_t *shape, int training)
{
    int64_t C = shape[1];
    dm_tensor *x = tu_rand(ndim, shape, -2, 2, 11 + (unsigned)ndim);
    dm_tensor *w = tu_rand(1, &C, 0.5f, 2, 12), *b = tu_rand(1, &C, -1, 1, 13);
    dm_tensor *rm = tu_rand(1, &C, -0.5f, 0.5f, 14), *rv = tu_rand(1, &C, 0.5f, 2, 15);
    dm_set_requires_grad(x, 1);
    dm_set_requires_grad(w, 1);
    dm_set_requires_grad(b, 1);
    /* training reads no running statistics, so leave them out (they would drift) */
    bctx c = { training, training ? NULL : rm, training ? NULL : rv };
    dm_tensor *in[3] = { x, w, b };
    double err = gradcheck(bn_fn, 3, in, &c, 1e-3);
    char buf[128];
    snprintf(buf, sizeof buf, "gradcheck %s (err %.3g)", what, err);
    CHECK(err < 5e-3, buf);
    CHECK(x->grad && w->grad && b->grad, what);
    dm_tensor *objs[] = { x, w, b, rm, rv };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

static void test_batchnorm_grad(void)
{
    bn_gradcheck("batch_norm [N x C] train", 2, (int64_t[]){ 6, 3 }, 1);
    bn_gradcheck("batch_norm [N x C x L] train", 3, (int64_t[]){ 3, 2, 4 }, 1);
    bn_gradcheck("batch_norm [N x C] eval", 2, (int64_t[]){ 6, 3 }, 0);
    bn_gradcheck("batch_norm [N x C x L] eval", 3, (int64_t[]){ 3, 2, 4 }, 0);

    /* only x requires grad, no affine */
    const int64_t s[] = { 5, 2 };
    dm_tensor *x = tu_rand(2, s, -1, 1, 21);
    dm_set_requires_grad(x, 1);
    dm_tensor *y = dm_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5);
    CHECK(y && strcmp(dm_grad_fn_name(y), "NativeBatchNormBackward0") == 0,
          "NativeBatchNormBackward0");
    dm_tensor *s1 = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 0);
    /* the sum of a normalised channel is constant: zero gradient */
    CHECK(s1 && dm_backward(s1, NULL, 0) == 0, "backward of sum");
    double zeros[10] = { 0 };
    tu_check_vals(x->grad, zeros, 10, 1e-5, "gradient of a normalised sum is zero");
    dm_tensor_release(s1);
    dm_tensor_release(y);
    dm_tensor_release(x);
}

static void test_batchnorm_views_errors(void)
{
    /* x [5 x 3] as a transposed view; running stats as strided views */
    const int64_t s35[] = { 3, 5 }, s3[] = { 3 }, s6[] = { 6 };
    dm_tensor *base = tu_rand(2, s35, -2, 2, 31);
    dm_tensor *xv = dm_transpose(base, 0, 1), *xc = dm_clone(xv);
    dm_tensor *rs = dm_tensor_zeros(1, s6), *rc = dm_tensor_zeros(1, s3);
    dm_tensor *rmv = dm_tensor_alias(rs, 1, s3, (int64_t[]){ 2 }, 0);
    dm_tensor *w = tu_rand(1, s3, 0.5f, 2, 32), *b = tu_rand(1, s3, -1, 1, 33);
    for (int training = 1; training >= 0; training--) {
        dm_tensor *a = dm_batch_norm(xv, rmv, NULL, w, b, training, 0.2, 1e-5);
        dm_tensor *c = training ? dm_batch_norm(xc, rc, NULL, w, b, 1, 0.2, 1e-5) : NULL;
        if (training) {
            CHECK(tu_same_values(a, c, 1e-6), "batch_norm on a transposed view");
            CHECK(dm_data(rs)[0] == dm_data(rc)[0] && dm_data(rs)[2] == dm_data(rc)[1] &&
                  dm_data(rs)[4] == dm_data(rc)[2] && dm_data(rs)[1] == 0,
                  "strided running_mean updated in place");
        }
        dm_tensor_release(a);
        dm_tensor_release(c);
    }
    CHECK_ERR(dm_batch_norm(xv, rmv, NULL, w, b, 0, 0.1, 1e-5),
              "batch_norm: running_mean and running_var must be given when not training");

    dm_tensor *x14 = dm_tensor_zeros(2, (int64_t[]){ 1, 4 });
    CHECK_ERR(dm_batch_norm(x14, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5),
              "batch_norm: expected more than 1 value per channel when training, got input "
              "size [1 x 4]");
    dm_tensor *x131 = dm_tensor_zeros(3, (int64_t[]){ 1, 3, 1 });
    CHECK_ERR(dm_batch_norm(x131, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5),
              "batch_norm: expected more than 1 value per channel when training, got input "
              "size [1 x 3 x 1]");
    dm_tensor *y = dm_batch_norm(x14, NULL, NULL, NULL, NULL, 0, 0.1, 1e-5);
    CHECK(y == NULL, "eval without statistics fails");
    dm_tensor *r4 = dm_tensor_zeros(1, (int64_t[]){ 4 }), *r4b = dm_tensor_full(1, (int64_t[]){ 4 }, 1);
    y = dm_batch_norm(x14, r4, r4b, NULL, NULL, 0, 0.1, 1e-5);
    CHECK(y != NULL, "eval with one sample is fine");
    dm_tensor_release(y);
    CHECK_ERR(dm_batch_norm(xc, w, NULL, r4, NULL, 1, 0.1, 1e-5),
              "batch_norm: weight should contain 3 elements not 4");
    CHECK_ERR(dm_batch_norm(xc, r4, NULL, NULL, NULL, 1, 0.1, 1e-5),
              "batch_norm: running_mean should contain 3 elements not 4");
    CHECK_ERR(dm_batch_norm(w, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5),
              "batch_norm: expected input [N x C] or [N x C x L], got [3]");
    dm_tensor *objs[] = { base, xv, xc, rs, rc, rmv, w, b, x14, x131, r4, r4b };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_dropout();
    test_batchnorm_values();
    test_batchnorm_grad();
    test_batchnorm_views_errors();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_nn");
}
