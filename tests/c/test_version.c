/* test_version.c -- version counters and in-place autograd from C.
 *
 * Every in-place write bumps the counter its tensor shares with its views; nodes note the
 * versions of what their rules read and backward refuses a change; in-place ops on non-leaves
 * take the op's node (rebase) and the old history stays reachable from the nodes recorded
 * before; nothing leaks on any of these paths. */
#include "testutil.h"
#include "../../core/internal.h"

#define MODIFIED "one of the variables needed for gradient computation has been modified by " \
                 "an inplace operation: "

static dm_tensor *ones_rg(int ndim, const int64_t *shape)
{
    dm_tensor *t = dm_tensor_full(ndim, shape, 1.0f);
    dm_set_requires_grad(t, 1);
    return t;
}

static void test_counters(void)
{
    dm_tensor *t = dm_tensor_zeros(2, (int64_t[]){2, 3});
    dm_tensor *o = dm_tensor_full(1, (int64_t[]){3}, 2.0f);
    dm_tensor *o64 = dm_tensor_full_dtype(1, (int64_t[]){3}, 2.0, DM_FLOAT64);
    CHECK(dm_tensor_version(t) == 0, "a new tensor is at version 0");
    uint32_t v = 0;
#define STEP(expr, what) do { CHECK((expr) == 0, what); v++; \
        CHECKF(dm_tensor_version(t) == v, "%s: version %u, want %u", what, \
               (unsigned)dm_tensor_version(t), (unsigned)v); } while (0)
    STEP(dm_add_(t, o, 1), "add_");
    STEP(dm_sub_(t, o, 2), "sub_");
    STEP(dm_add_scalar_(t, 1), "add_ scalar");
    STEP(dm_mul_(t, o), "mul_");
    STEP(dm_mul_scalar_(t, 0.5f), "mul_ scalar");
    STEP(dm_clamp_(t, -1, 1), "clamp_");
    STEP(dm_copy_(t, o), "copy_");
    STEP(dm_copy_(t, o64), "copy_ float64");
    STEP(dm_fill_(t, 3), "fill_");
    STEP(dm_zero_(t), "zero_");
    STEP(dm_binary_(DM_BIN_DIV, t, o), "div_");
    STEP(dm_binary_scalar_(DM_BIN_DIV, t, 2, 0), "div_ scalar");
    STEP(dm_binary_(DM_BIN_ADD, t, o64), "add_ float64 source");
    STEP(dm_uniform_(t, 0, 1, NULL), "uniform_");
    STEP(dm_normal_(t, 0, 1, NULL), "normal_");
    STEP(dm_init_constant_(t, 2), "constant_");
    STEP(dm_init_eye_(t), "eye_");
    dm_set(t, (int64_t[]){0, 0}, 4);
    v++;
    CHECK(dm_tensor_version(t) == v, "dm_set");
    CHECK(dm_tensor_version(o) == 0 && dm_tensor_version(o64) == 0, "sources keep theirs");
    /* views and detach share the counter */
    dm_tensor *tr = dm_transpose(t, 0, 1), *d = dm_detach(t), *row = dm_select(t, 0, 1);
    CHECK(dm_fill_(row, 1) == 0 && dm_tensor_version(t) == v + 1 &&
          dm_tensor_version(tr) == v + 1 && dm_tensor_version(d) == v + 1,
          "a write through a view moves the base's, the other views' and detach()'s version");
    /* optimizer steps: the parameter and its state, not the gradient */
    dm_tensor *p = dm_tensor_full(1, (int64_t[]){3}, 1.0f), *g = dm_tensor_full(1, (int64_t[]){3}, 0.5f);
    dm_tensor *buf = dm_tensor_zeros(1, (int64_t[]){3}), *m = dm_tensor_zeros(1, (int64_t[]){3});
    dm_tensor *s2 = dm_tensor_zeros(1, (int64_t[]){3});
    CHECK(dm_sgd_step(p, g, buf, 0.1, 0.9, 0, 0, 0, 0, 1) == 0 && dm_tensor_version(p) == 1 &&
          dm_tensor_version(buf) == 1 && dm_tensor_version(g) == 0, "sgd_step");
    CHECK(dm_adam_step(p, g, m, s2, NULL, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0) == 0 &&
          dm_tensor_version(p) == 2 && dm_tensor_version(m) == 1, "adam_step");
    dm_tensor *all[] = { t, o, o64, tr, d, row, p, g, buf, m, s2 };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dm_tensor_release(all[i]);
#undef STEP
}

static void test_backward_refuses(void)
{
    int64_t s23[] = {2, 3};
    /* a leaf written under no_grad after the forward */
    dm_tensor *a = ones_rg(2, s23), *b = ones_rg(2, s23);
    dm_tensor *z = dm_mul(a, b), *zs = dm_reduce(DM_RED_SUM, z, DM_ALL, 0, 1);
    int prev = dm_set_grad_enabled(0);
    dm_add_scalar_(a, 1);
    dm_set_grad_enabled(prev);
    CHECK_ERR(dm_backward(zs, NULL, 0), MODIFIED "[float32 [2 x 3]], which is input 0 of "
              "MulBackward0, is at version 1; expected version 0 instead");
    dm_tensor_release(zs);
    dm_tensor_release(z);
    /* an unread input written: fine */
    z = dm_add(a, b);
    zs = dm_reduce(DM_RED_SUM, z, DM_ALL, 0, 1);
    prev = dm_set_grad_enabled(0);
    dm_add_scalar_(b, 1);
    dm_set_grad_enabled(prev);
    CHECK(dm_backward(zs, NULL, 0) == 0 && tu_val0(a->grad) == 1, "Add reads neither input");
    dm_tensor_release(zs);
    dm_tensor_release(z);
    /* an output written through detach() */
    dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, a, 2, 0), *e = dm_unary(DM_UN_TANH, y);
    dm_tensor *yd = dm_detach(e);
    dm_add_scalar_(yd, 1);
    zs = dm_reduce(DM_RED_SUM, e, DM_ALL, 0, 1);
    CHECK_ERR(dm_backward(zs, NULL, 0), MODIFIED "[float32 [2 x 3]], which is output 0 of "
              "TanhBackward0, is at version 1; expected version 0 instead");
    dm_tensor *tmp[] = { zs, yd, e, y, a, b };
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) dm_tensor_release(tmp[i]);
    /* linear forward, a step on the weight, backward */
    dm_tensor *x = dm_tensor_full(2, (int64_t[]){4, 3}, 1.0f);
    dm_tensor *w = ones_rg(2, s23), *bias = ones_rg(1, (int64_t[]){2});
    dm_tensor *g = dm_tensor_full(2, s23, 0.5f);
    y = dm_linear(x, w, bias);
    zs = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_sgd_step(w, g, NULL, 0.1, 0, 0, 0, 0, 0, 1) == 0, "a step");
    CHECK_ERR(dm_backward(zs, NULL, 0), MODIFIED "[float32 [2 x 3]], which is input 1 of "
              "AddmmBackward0, is at version 1; expected version 0 instead");
    dm_tensor *tmp2[] = { zs, y, x, w, bias, g };
    for (size_t i = 0; i < sizeof tmp2 / sizeof *tmp2; i++) dm_tensor_release(tmp2[i]);
}

static void test_rebase(void)
{
    int64_t s3[] = {3};
    /* y = x*2; y += 1; y *= 3: x.grad = 6, y's node MulBackward0, version 2 */
    dm_tensor *x = ones_rg(1, s3);
    dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    CHECK(dm_add_scalar_(y, 1) == 0 && dm_mul_scalar_(y, 3) == 0, "in place on a non-leaf");
    CHECK(!strcmp(dm_grad_fn_name(y), "MulBackward0") && dm_tensor_version(y) == 2,
          "y takes the last op's node");
    CHECK(tu_val0(y) == 9, "values");
    dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_backward(s, NULL, 0) == 0 && tu_val0(x->grad) == 6, "x.grad == 6");
    dm_tensor_release(s);
    dm_tensor_release(y);
    dm_zero_grad(x, 1);
    /* a tensor rule that reads the old value: y = x*2; y *= y2 (y2 = x*x) */
    y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    dm_tensor *o = dm_tensor_full(1, s3, 5.0f);
    dm_set_requires_grad(o, 1);
    CHECK(dm_mul_(y, o) == 0, "mul_ by a tensor that requires grad");
    s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_backward(s, NULL, 0) == 0 && tu_val0(x->grad) == 10 && tu_val0(o->grad) == 2,
          "the rule reads the old value (a copy kept for it)");
    dm_tensor_release(s);
    dm_tensor_release(y);
    /* the leaf refusal names the op called */
    CHECK_ERR(dm_sub_(x, o, 1), "sub_: a leaf Variable that requires grad is being used in an "
              "in-place operation.");
    CHECK_ERR(dm_binary_scalar_(DM_BIN_DIV, x, 2, 0), "div_: a leaf Variable that requires grad "
              "is being used in an in-place operation.");
    CHECK_ERR(dm_clamp_(x, 0, 1), "clamp_: a leaf Variable that requires grad is being used in "
              "an in-place operation.");
    /* into a view: the base takes CopySlices; y = 2x, y[1:3] *= o[1:3] */
    y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    dm_tensor *v = dm_narrow(y, 0, 1, 2), *ov = dm_narrow(o, 0, 1, 2);
    CHECK(dm_mul_(v, ov) == 0 && !strcmp(dm_grad_fn_name(y), "CopySlices") &&
          dm_tensor_version(y) == 1 && dm_get(y, (int64_t[]){1}) == 10, "CopySlices");
    s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    dm_zero_grad(x, 1);
    dm_zero_grad(o, 1);
    CHECK(dm_backward(s, NULL, 0) == 0 && dm_get(x->grad, (int64_t[]){0}) == 2 &&
          dm_get(x->grad, (int64_t[]){2}) == 10 && dm_get(o->grad, (int64_t[]){0}) == 0 &&
          dm_get(o->grad, (int64_t[]){1}) == 2, "through CopySlices: the view's part goes "
          "through mul's rule, the rest straight to the old base");
    dm_tensor_release(s);
    dm_tensor_release(v);
    dm_tensor_release(ov);
    dm_tensor_release(y);
    y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    /* fill_ on a non-leaf: the old history gets zeros, a node recorded before keeps it */
    dm_tensor *z = dm_binary_scalar(DM_BIN_MUL, y, 3, 0);
    CHECK(dm_fill_(y, 1) == 0 && !strcmp(dm_grad_fn_name(y), "FillBackward2"), "fill_");
    dm_tensor *sum = dm_add(z, y);
    s = dm_reduce(DM_RED_SUM, sum, DM_ALL, 0, 1);
    dm_zero_grad(x, 1);
    CHECK(dm_backward(s, NULL, 0) == 0 && tu_val0(x->grad) == 6,
          "z's gradient reaches y's old history; the filled y sends none");
    dm_tensor *tmp[] = { s, sum, z, y, o, x };
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) dm_tensor_release(tmp[i]);
    /* a graph dropped without backward after in-place ops frees everything */
    x = ones_rg(1, s3);
    y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    for (int i = 0; i < 1000; i++) dm_add_scalar_(y, 1);
    dm_tensor_release(y);
    dm_tensor_release(x);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_counters();
    test_backward_refuses();
    test_rebase();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_version");
}
