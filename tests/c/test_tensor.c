/* test_tensor.c -- lifecycle, views, in-place ops, errors and the backward engine, from C. */
#include "testutil.h"

static void test_lifecycle(void)
{
    int64_t b0 = dm_live_bytes();
    dm_tensor *t = dm_tensor_zeros(2, (int64_t[]){3, 4});
    CHECK(dm_live_bytes() - b0 == 48, "storage bytes counted");
    CHECK(dm_numel(t) == 12 && dm_is_contiguous(t), "numel and contiguity");
    dm_tensor *v = dm_view(t, 1, (int64_t[]){12});
    dm_tensor_release(t);
    CHECK(dm_live_bytes() - b0 == 48, "a view keeps its storage alive");
    dm_data(v)[5] = 3;
    CHECK(dm_data(v)[5] == 3, "the storage is still usable");
    dm_tensor_release(v);
    CHECK(dm_live_bytes() == b0, "released with the last view");
    char buf[64];
    CHECK(strcmp(dm_shape_str(3, (int64_t[]){2, 3, 4}, buf, sizeof buf), "[2 x 3 x 4]") == 0, "shape string");
    CHECK(strcmp(dm_shape_str(0, NULL, buf, sizeof buf), "[]") == 0, "scalar shape string");
    CHECK_ERR(dm_tensor_new(2, (int64_t[]){2, -1}), "tensor: negative size in [2 x -1]");
    CHECK_ERR(dm_tensor_new(9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
              "tensor: 9 dimensions (at most 8 supported)");
}

static void test_views(void)
{
    dm_tensor *a = dm_arange(0, 24, 1);
    dm_tensor *v = dm_view(a, 3, (int64_t[]){2, 3, 4});
    dm_tensor *t = dm_transpose(v, 0, 2);                 /* [4 x 3 x 2] */
    CHECK(t->shape[0] == 4 && t->shape[2] == 2 && !dm_is_contiguous(t), "transpose geometry");
    CHECK(dm_get(t, (int64_t[]){3, 1, 1}) == dm_get(v, (int64_t[]){1, 1, 3}), "transpose values");
    dm_tensor *n = dm_narrow(v, 2, 1, 2);                 /* [2 x 3 x 2] */
    CHECK(dm_get(n, (int64_t[]){1, 2, 0}) == 21, "narrow values");
    dm_tensor *s = dm_select(v, 1, 2);                    /* [2 x 4] */
    CHECK(s->ndim == 2 && dm_get(s, (int64_t[]){1, 3}) == 23, "select values");
    /* view of a non-contiguous tensor: allowed when dims merge, refused otherwise */
    dm_tensor *p = dm_permute(v, (int[]){1, 2, 0});       /* [3 x 4 x 2] */
    dm_tensor *ok = dm_view(n, 3, (int64_t[]){2, 3, 2});
    CHECK(ok != NULL, "viewing a tensor as its own shape");
    CHECK_ERR(dm_view(p, 1, (int64_t[]){24}),
              "view: size [24] is not compatible with the input's layout [3 x 4 x 2] "
              "(non-contiguous); use reshape");
    dm_tensor *r = dm_reshape(p, 1, (int64_t[]){24});
    CHECK(r && dm_get(r, (int64_t[]){1}) == 12, "reshape copies in row-major order");
    dm_tensor *merge = dm_view(t, 2, (int64_t[]){4, 6});   /* trailing [3 x 2] of a transpose */
    CHECK(merge == NULL, "transposed dims do not merge");
    dm_tensor *sq = dm_unsqueeze(s, 0);
    CHECK(sq->ndim == 3 && sq->shape[0] == 1, "unsqueeze");
    dm_tensor *sq2 = dm_squeeze(sq, DM_ALL);
    CHECK(sq2->ndim == 2, "squeeze");
    dm_tensor *fl = dm_flatten(v, 1, 2);
    CHECK(fl->ndim == 2 && fl->shape[1] == 12, "flatten");
    dm_tensor *one = dm_view(a, 2, (int64_t[]){1, 24});
    dm_tensor *e = dm_expand(one, 3, (int64_t[]){5, 1, -1});
    CHECK(e && e->shape[0] == 5 && e->stride[0] == 0, "expand to a new leading dim");
    CHECK_ERR(dm_expand(v, 3, (int64_t[]){2, 4, 4}),
              "expand: size [2 x 3 x 4] cannot be expanded to [2 x 4 x 4] (dim 2: 3 vs 4)");
    CHECK_ERR(dm_narrow(v, 2, 3, 2),
              "narrow: start 4 and length 2 out of range for dim 3 of size [2 x 3 x 4]");
    CHECK_ERR(dm_select(v, 3, 0),
              "select: dim 4 out of range for a tensor of 3 dimensions (expected 1 to 3, or -3 to -1)");
    CHECK_ERR(dm_view(a, 2, (int64_t[]){-1, -1}), "view: only one dimension can be -1");
    CHECK_ERR(dm_view(a, 1, (int64_t[]){7}), "view: shape [7] is invalid for input of size 24 [24]");
    dm_tensor *all[] = { a, v, t, n, s, p, ok, r, merge, sq, sq2, fl, one, e };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dm_tensor_release(all[i]);
}

static void test_inplace(void)
{
    dm_tensor *a = dm_tensor_zeros(2, (int64_t[]){2, 3});
    dm_tensor *row = tu_tensor(1, (int64_t[]){3}, (float[]){1, 2, 3});
    CHECK(dm_copy_(a, row) == 0 && dm_get(a, (int64_t[]){1, 2}) == 3, "copy_ broadcasts");
    CHECK(dm_add_(a, row, 2.0f) == 0 && dm_get(a, (int64_t[]){0, 0}) == 3, "add_ with alpha");
    dm_tensor *tr = dm_transpose(a, 0, 1);
    CHECK(dm_fill_(tr, 5) == 0 && dm_get(a, (int64_t[]){1, 1}) == 5, "fill_ through a view");
    /* overlapping copy: a square matrix into its own transpose */
    dm_tensor *m = tu_tensor(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    dm_tensor *mt = dm_transpose(m, 0, 1);
    CHECK(dm_copy_(m, mt) == 0 && dm_get(m, (int64_t[]){0, 1}) == 3 && dm_get(m, (int64_t[]){1, 0}) == 2,
          "copy_ from an overlapping view reads the source first");
    CHECK(dm_clamp_(m, NAN, 2.5f) == 0 && dm_get(m, (int64_t[]){1, 1}) == 2.5f, "clamp_ upper only");
    dm_tensor *four = tu_tensor(1, (int64_t[]){4}, (float[]){1, 2, 3, 4});
    CHECK_ERR(dm_copy_(a, four), "copy_: source [4] cannot be broadcast to destination [2 x 3]");
    dm_tensor *leaf = dm_tensor_zeros(1, (int64_t[]){2});
    dm_set_requires_grad(leaf, 1);
    CHECK_ERR(dm_fill_(leaf, 1), "fill_: a leaf Variable that requires grad is being used in an "
                                 "in-place operation.");
    int prev = dm_set_grad_enabled(0);
    CHECK(dm_fill_(leaf, 1) == 0, "allowed under no_grad");
    dm_set_grad_enabled(prev);
    dm_tensor *all[] = { a, row, tr, m, mt, leaf, four };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dm_tensor_release(all[i]);
}

static void test_create(void)
{
    dm_tensor *r = dm_arange(1, 2, 0.25);
    CHECK(dm_numel(r) == 4 && dm_data(r)[3] == 1.75f, "arange with a fractional step");
    dm_tensor *l = dm_linspace(-1, 1, 5);
    CHECK(dm_data(l)[0] == -1 && dm_data(l)[2] == 0 && dm_data(l)[4] == 1, "linspace ends exactly");
    dm_tensor *e = dm_eye(2, 3);
    CHECK(dm_data(e)[0] == 1 && dm_data(e)[4] == 1 && dm_data(e)[5] == 0, "eye");
    CHECK_ERR(dm_arange(0, 1, 0), "arange: step must be nonzero and bounds finite (start 0, end 1, step 0)");
    dm_tensor_release(r); dm_tensor_release(l); dm_tensor_release(e);
}

static void test_backward_engine(void)
{
    /* diamond: y = (x * 2) + (x * 3) sums both paths */
    dm_tensor *x = tu_tensor(1, (int64_t[]){2}, (float[]){1, 2});
    dm_set_requires_grad(x, 1);
    dm_tensor *a = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    dm_tensor *b = dm_binary_scalar(DM_BIN_MUL, x, 3, 0);
    dm_tensor *y = dm_add(a, b);
    dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(y);   /* the graph holds them */
    CHECK(dm_backward(s, NULL, 1) == 0, "backward on a scalar");
    CHECK(x->grad && dm_data(x->grad)[0] == 5 && dm_data(x->grad)[1] == 5, "both paths summed");
    CHECK(dm_backward(s, NULL, 0) == 0 && dm_data(x->grad)[0] == 10, "gradients accumulate");
    CHECK_ERR(dm_backward(s, NULL, 0),
              "trying to backward through the graph a second time (or directly access saved "
              "tensors after they have already been freed); pass {retain_graph = true} to the "
              "first backward");
    dm_tensor_release(s);

    /* a deep chain must not recurse: 200000 nodes */
    dm_tensor *h = dm_tensor_retain(x);
    for (int i = 0; i < 200000; i++) {
        dm_tensor *n = dm_binary_scalar(DM_BIN_ADD, h, 0.0f, 0);
        dm_tensor_release(h);
        h = n;
    }
    dm_tensor *hs = dm_reduce(DM_RED_SUM, h, DM_ALL, 0, 1);
    dm_tensor_release(h);
    dm_zero_(x->grad);
    CHECK(dm_backward(hs, NULL, 0) == 0 && dm_data(x->grad)[1] == 1, "deep chain backward");
    dm_tensor_release(hs);

    /* releasing a deep graph without backward must not recurse either */
    h = dm_tensor_retain(x);
    for (int i = 0; i < 200000; i++) {
        dm_tensor *n = dm_binary_scalar(DM_BIN_MUL, h, 1.0f, 0);
        dm_tensor_release(h);
        h = n;
    }
    dm_tensor_release(h);
    CHECK(1, "deep graph released");

    /* errors */
    dm_tensor *v = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    CHECK_ERR(dm_backward(v, NULL, 0), "grad can be implicitly created only for scalar outputs, got [2]");
    dm_tensor *g = tu_tensor(1, (int64_t[]){3}, (float[]){1, 1, 1});
    CHECK_ERR(dm_backward(v, g, 0), "gradient has shape [3] but the tensor has shape [2]");
    dm_tensor *c = dm_tensor_zeros(1, (int64_t[]){1});
    CHECK_ERR(dm_backward(c, NULL, 0), "element 0 of tensors does not require grad and does not have a grad_fn");
    CHECK(strcmp(dm_grad_fn_name(v), "MulBackward0") == 0, "grad_fn name");
    CHECK(!dm_is_leaf(v) && dm_is_leaf(x), "leaf flags");
    CHECK_ERR(dm_set_requires_grad(v, 0), "requires_grad_: you can only change requires_grad flags "
                                          "of leaf tensors; use detach() for a non-leaf");
    /* retain_grad keeps a non-leaf's gradient */
    dm_tensor *w = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    dm_retain_grad(w);
    dm_tensor *ws = dm_reduce(DM_RED_SUM, w, DM_ALL, 0, 1);
    dm_backward(ws, NULL, 0);
    CHECK(w->grad && dm_data(w->grad)[0] == 1, "retain_grad");
    /* no_grad records nothing */
    int prev = dm_set_grad_enabled(0);
    dm_tensor *ng = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
    CHECK(!ng->requires_grad && !ng->grad_fn, "no graph under no_grad");
    dm_set_grad_enabled(prev);
    dm_tensor *d = dm_detach(x);
    CHECK(!d->requires_grad && d->storage == x->storage, "detach shares storage without grad");
    dm_tensor *all[] = { x, v, g, c, w, ws, ng, d };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dm_tensor_release(all[i]);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_lifecycle();
    test_views();
    test_inplace();
    test_create();
    test_backward_engine();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_tensor");
}
