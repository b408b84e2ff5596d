/* test_autograd_grad.c -- dm_autograd_grad (core/autograd/grad.c): gradients returned, no
 * .grad touched (leaves' and retained non-leaves', set aside and put back), non-leaf inputs,
 * unused inputs, errors, and the graph freed or kept as asked. */
#include "testutil.h"

static const int64_t S3[1] = { 3 };

static dm_tensor *leaf(const float *v)
{
    dm_tensor *t = tu_tensor(1, S3, v);
    dm_set_requires_grad(t, 1);
    return t;
}

static dm_tensor *sum(dm_tensor *x) { return dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 0); }

int main(void)
{
    tu_live live0 = tu_live_now();
    int64_t tensors0 = dm_live_tensors();
    /* s = sum(x*x*w) + sum(m) with m = 3x: ds/dx = 2xw + 3, ds/dw = x^2, ds/dm = 1 */
    {
        dm_tensor *x = leaf((float[]){ 1, 2, 3 }), *w = leaf((float[]){ 2, 1, -1 });
        dm_tensor *z = leaf((float[]){ 0, 0, 0 });                 /* not in the graph */
        w->grad = tu_tensor(1, S3, (float[]){ 7, 7, 7 });           /* must stay 7 */
        dm_tensor *xx = dm_mul(x, x), *xxw = dm_mul(xx, w);
        dm_tensor *m = dm_binary_scalar(DM_BIN_MUL, x, 3, 0);
        dm_retain_grad(m);
        dm_tensor *s1 = sum(xxw), *s2 = sum(m), *s = dm_add(s1, s2);
        dm_tensor *in[4] = { x, w, m, z }, *out[4];
        CHECK(dm_autograd_grad(s, NULL, 1, 4, in, out) == 0, "grad runs");
        tu_check_vals(out[0], (double[]){ 7, 7, -3 }, 3, 0, "d/dx = 2xw + 3");
        tu_check_vals(out[1], (double[]){ 1, 4, 9 }, 3, 0, "d/dw = x^2");
        tu_check_vals(out[2], (double[]){ 1, 1, 1 }, 3, 0, "d/dm (a non-leaf input) = 1");
        CHECK(out[3] == NULL, "an input outside the graph gets NULL");
        CHECK(x->grad == NULL && m->grad == NULL, "no .grad written");
        tu_check_vals(w->grad, (double[]){ 7, 7, 7 }, 3, 0, "an existing .grad untouched");
        for (int k = 0; k < 4; k++) dm_tensor_release(out[k]);
        /* the graph was kept: an ordinary backward still runs and now writes .grad */
        CHECK(dm_backward(s, NULL, 0) == 0, "kept graph runs again");
        tu_check_vals(x->grad, (double[]){ 7, 7, -3 }, 3, 0, "backward writes x.grad");
        /* and now it is freed */
        CHECK(dm_autograd_grad(s, NULL, 0, 1, in, out) == -1 && out[0] == NULL,
              "a freed graph fails");
        dm_tensor *ts[] = { x, w, z, xx, xxw, m, s1, s2, s };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) dm_tensor_release(ts[i]);
    }
    /* a seed, a leaf root, and an input that does not require grad */
    {
        dm_tensor *x = leaf((float[]){ 1, 2, 3 });
        dm_tensor *g = tu_tensor(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *y = dm_mul(x, x), *out[1];
        CHECK(dm_autograd_grad(y, g, 0, 1, &x, out) == 0, "seeded grad");
        tu_check_vals(out[0], (double[]){ 2, 8, 18 }, 3, 0, "2x g");
        dm_tensor_release(out[0]);
        CHECK(dm_autograd_grad(x, g, 0, 1, &x, out) == 0, "a leaf root");
        tu_check_vals(out[0], (double[]){ 1, 2, 3 }, 3, 0, "the seed itself");
        CHECK(x->grad == NULL, "leaf root's .grad untouched");
        dm_tensor_release(out[0]);
        dm_tensor *c = tu_tensor(1, S3, (float[]){ 1, 1, 1 });
        dm_tensor *y2 = dm_mul(x, c);
        CHECK_ERR(dm_autograd_grad(y2, g, 0, 1, &c, out),
                  "autograd.grad: one of the differentiated Tensors (input 1) does not require grad");
        dm_tensor_release(y2); dm_tensor_release(c);
        dm_tensor_release(y); dm_tensor_release(g); dm_tensor_release(x);
    }
    /* a leaf only the graph holds: the walk (no retain_graph) frees it while its .grad is
       set aside; putting that back must not touch freed memory (ASan would see it) */
    {
        dm_tensor *held = leaf((float[]){ 1, 2, 3 }), *x = leaf((float[]){ 4, 5, 6 });
        held->grad = tu_tensor(1, S3, (float[]){ 9, 9, 9 });
        dm_tensor *y = dm_mul(held, x), *s = sum(y), *out[1];
        dm_tensor_release(held);
        dm_tensor_release(y);
        CHECK(dm_autograd_grad(s, NULL, 0, 1, &x, out) == 0, "grad frees the graph");
        tu_check_vals(out[0], (double[]){ 1, 2, 3 }, 3, 0, "d/dx = held");
        dm_tensor_release(out[0]);
        dm_tensor_release(s);
        dm_tensor_release(x);
    }
    CHECK(dm_live_tensors() == tensors0, "dm_live_tensors() back at its baseline");
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_autograd_grad");
}
