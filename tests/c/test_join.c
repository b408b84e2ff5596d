/*
 * test_join.c -- cat, stack and index_select (core/ops/join.c): values, gradients,
 * non-contiguous inputs and error texts.
 */
#include "testutil.h"

/* does t hold exactly these values, in this shape? */
static int is(const dm_tensor *t, int ndim, const int64_t *shape, const float *v)
{
    return tu_shape_is(t, ndim, shape) && tu_vals_matchf(t, v, dm_numel(t), 0, "values");
}

/* ---- cat -------------------------------------------------------------------------- */

static void test_cat(void)
{
    dm_tensor *a = tu_tensor(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    dm_tensor *b = tu_tensor(2, (int64_t[]){1, 2}, (float[]){5, 6});
    dm_tensor *c = tu_tensor(2, (int64_t[]){2, 1}, (float[]){7, 8});
    dm_tensor *ab[2] = { a, b }, *ac[2] = { a, c };
    dm_tensor *y = dm_cat(2, ab, 0);
    CHECK(is(y, 2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6}), "cat dim 1 (rows)");
    dm_tensor_release(y);
    y = dm_cat(2, ac, 1);
    CHECK(is(y, 2, (int64_t[]){2, 3}, (float[]){1, 2, 7, 3, 4, 8}), "cat dim 2 (columns)");
    dm_tensor_release(y);
    y = dm_cat(2, ac, -1);
    CHECK(is(y, 2, (int64_t[]){2, 3}, (float[]){1, 2, 7, 3, 4, 8}), "cat dim -1");
    dm_tensor_release(y);
    dm_tensor *aca[3] = { a, c, a };
    y = dm_cat(3, aca, 1);
    CHECK(is(y, 2, (int64_t[]){2, 5}, (float[]){1, 2, 7, 1, 2, 3, 4, 8, 3, 4}), "cat of three");
    dm_tensor_release(y);
    y = dm_cat(1, &a, 0);
    CHECK(is(y, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4}) && y != a, "cat of one is a copy");
    dm_tensor_release(y);

    /* PyTorch's legacy rule: 1-D empty tensors are skipped, whatever their neighbours */
    dm_tensor *e = dm_tensor_new(1, (int64_t[]){0});
    dm_tensor *eab[4] = { e, a, e, b };
    y = dm_cat(4, eab, 0);
    CHECK(is(y, 2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6}), "cat skips [0] tensors");
    dm_tensor_release(y);
    dm_tensor *ee[2] = { e, e };
    y = dm_cat(2, ee, 0);
    CHECK(y && y->ndim == 1 && y->shape[0] == 0, "cat of [0] tensors is [0]");
    dm_tensor_release(y);
    dm_tensor *z = dm_tensor_new(2, (int64_t[]){0, 2});   /* a real empty, not skipped */
    dm_tensor *za[2] = { z, a };
    y = dm_cat(2, za, 0);
    CHECK(is(y, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4}), "cat with a [0 x 2]");
    dm_tensor_release(y);

    /* non-contiguous inputs give the contiguous results */
    dm_tensor *at = tu_transposed_copy(a), *ct = tu_transposed_copy(c);
    dm_tensor *nc[3] = { at, ct, a };
    dm_tensor *y1 = dm_cat(3, nc, 1), *y2 = dm_cat(3, aca, 1);
    CHECK(tu_same_values(y1, y2, 0), "cat of transposed views");
    dm_tensor_release(y1); dm_tensor_release(y2);
    dm_tensor *big = tu_rand(3, (int64_t[]){3, 4, 5}, -1, 1, 3);
    dm_tensor *bigt = dm_transpose(big, 0, 2);                /* [5 x 4 x 3] view */
    dm_tensor *bigc = dm_contiguous(bigt);
    for (int d = 0; d < 3; d++) {
        dm_tensor *v2[2] = { bigt, bigt }, *c2[2] = { bigc, bigc };
        y1 = dm_cat(2, v2, d);
        y2 = dm_cat(2, c2, d);
        CHECKF(tu_same_values(y1, y2, 0), "cat of a 3-D transposed view along dim %d", d + 1);
        dm_tensor_release(y1); dm_tensor_release(y2);
    }

    /* errors */
    CHECK_ERR(dm_cat(2, ac, 0),
              "cat: tensors must have the same shape except in dim 1: [2 x 2] vs [2 x 1] at position 2");
    dm_tensor *w = dm_tensor_zeros(2, (int64_t[]){2, 3}), *w4 = dm_tensor_zeros(2, (int64_t[]){2, 4});
    dm_tensor *ww[3] = { w, w, w4 };
    CHECK_ERR(dm_cat(3, ww, 0),
              "cat: tensors must have the same shape except in dim 1: [2 x 3] vs [2 x 4] at position 3");
    dm_tensor *v = dm_tensor_zeros(1, (int64_t[]){3});
    dm_tensor *wv[2] = { w, v };
    CHECK_ERR(dm_cat(2, wv, 0),
              "cat: tensors must have the same number of dimensions: [2 x 3] vs [3] at position 2");
    dm_tensor *s = dm_tensor_scalar(1);
    dm_tensor *vs[2] = { v, s };
    CHECK_ERR(dm_cat(2, vs, 0), "cat: zero-dimensional tensor (at position 2) cannot be concatenated");
    CHECK_ERR(dm_cat(2, ab, 2),
              "cat: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    CHECK_ERR(dm_cat(0, ab, 0), "cat: expected a non-empty list of tensors");

    dm_tensor *list[] = { a, b, c, e, z, at, ct, big, bigt, bigc, w, w4, v, s };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) dm_tensor_release(list[i]);
}

/* ---- stack ------------------------------------------------------------------------ */

static void test_stack(void)
{
    dm_tensor *a = tu_tensor(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    dm_tensor *b = tu_tensor(2, (int64_t[]){2, 2}, (float[]){5, 6, 7, 8});
    dm_tensor *ab[2] = { a, b };
    dm_tensor *y = dm_stack(2, ab, 0);
    CHECK(is(y, 3, (int64_t[]){2, 2, 2}, (float[]){1, 2, 3, 4, 5, 6, 7, 8}), "stack dim 1");
    dm_tensor_release(y);
    y = dm_stack(2, ab, 1);
    CHECK(is(y, 3, (int64_t[]){2, 2, 2}, (float[]){1, 2, 5, 6, 3, 4, 7, 8}), "stack dim 2");
    dm_tensor_release(y);
    y = dm_stack(2, ab, 2);                /* dim == ndim appends */
    CHECK(is(y, 3, (int64_t[]){2, 2, 2}, (float[]){1, 5, 2, 6, 3, 7, 4, 8}), "stack dim 3 (end)");
    dm_tensor_release(y);
    y = dm_stack(2, ab, -1);
    CHECK(is(y, 3, (int64_t[]){2, 2, 2}, (float[]){1, 5, 2, 6, 3, 7, 4, 8}), "stack dim -1");
    dm_tensor_release(y);
    dm_tensor *s1 = dm_tensor_scalar(3), *s2 = dm_tensor_scalar(4);
    dm_tensor *ss[2] = { s1, s2 };
    y = dm_stack(2, ss, 0);
    CHECK(is(y, 1, (int64_t[]){2}, (float[]){3, 4}), "stack of scalars");
    dm_tensor_release(y);

    /* non-contiguous */
    dm_tensor *at = tu_transposed_copy(a), *bt = tu_transposed_copy(b);
    dm_tensor *nc[2] = { at, bt };
    for (int d = -3; d < 3; d++) {
        dm_tensor *y1 = dm_stack(2, nc, d), *y2 = dm_stack(2, ab, d);
        CHECKF(tu_same_values(y1, y2, 0), "stack of transposed views, dim %d", d);
        dm_tensor_release(y1); dm_tensor_release(y2);
    }

    /* errors */
    dm_tensor *c = dm_tensor_zeros(2, (int64_t[]){2, 3});
    dm_tensor *abc[3] = { a, b, c };
    CHECK_ERR(dm_stack(3, abc, 0), "stack: expected each tensor to be equal size, but got "
                                   "[2 x 2] at position 1 and [2 x 3] at position 3");
    CHECK_ERR(dm_stack(2, ab, 3),
              "stack: dim 4 out of range for a tensor of 2 dimensions (expected 1 to 3, or -3 to -1)");
    CHECK_ERR(dm_stack(0, ab, 0), "stack: expected a non-empty list of tensors");
    dm_tensor *d8 = dm_tensor_zeros(8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    CHECK_ERR(dm_stack(1, &d8, 0), "stack: the result would have 9 dimensions (at most 8 supported)");
    dm_tensor_release(d8);
    dm_tensor *list[] = { a, b, c, s1, s2, at, bt };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) dm_tensor_release(list[i]);
}

/* ---- index_select ----------------------------------------------------------------- */

static void test_index_select(void)
{
    dm_tensor *x = tu_tensor(2, (int64_t[]){3, 4}, (float[]){0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23});
    dm_tensor *i0 = tu_tensor(1, (int64_t[]){3}, (float[]){2, 0, 2});
    dm_tensor *y = dm_index_select(x, 0, i0);
    CHECK(is(y, 2, (int64_t[]){3, 4}, (float[]){20, 21, 22, 23, 0, 1, 2, 3, 20, 21, 22, 23}),
          "index_select rows, repeated");
    dm_tensor_release(y);
    dm_tensor *i1 = tu_tensor(1, (int64_t[]){2}, (float[]){3, 1});
    y = dm_index_select(x, 1, i1);
    CHECK(is(y, 2, (int64_t[]){3, 2}, (float[]){3, 1, 13, 11, 23, 21}), "index_select columns");
    dm_tensor_release(y);
    y = dm_index_select(x, -1, i1);
    CHECK(is(y, 2, (int64_t[]){3, 2}, (float[]){3, 1, 13, 11, 23, 21}), "index_select dim -1");
    dm_tensor_release(y);
    dm_tensor *ie = dm_tensor_new(1, (int64_t[]){0});
    y = dm_index_select(x, 1, ie);
    CHECK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 0, "empty index gives [3 x 0]");
    dm_tensor_release(y);
    dm_tensor *is0 = dm_tensor_scalar(1);                 /* a 0-dim index acts as [1] */
    y = dm_index_select(x, 0, is0);
    CHECK(is(y, 2, (int64_t[]){1, 4}, (float[]){10, 11, 12, 13}), "0-dim index");
    dm_tensor_release(y);

    /* non-contiguous x and index */
    dm_tensor *xt = tu_transposed_copy(x);
    dm_tensor *ibuf = tu_tensor(1, (int64_t[]){6}, (float[]){3, -7, 1, -7, 0, -7});
    dm_tensor *istr = dm_tensor_alias(ibuf, 1, (int64_t[]){3}, (int64_t[]){2}, 0);  /* 3, 1, 0 */
    dm_tensor *icon = tu_tensor(1, (int64_t[]){3}, (float[]){3, 1, 0});
    for (int d = 0; d < 2; d++) {
        dm_tensor *id = d ? istr : i0, *idc = d ? icon : i0;
        dm_tensor *y1 = dm_index_select(xt, d, id), *y2 = dm_index_select(x, d, idc);
        CHECKF(tu_same_values(y1, y2, 0), "index_select of a transposed view, dim %d", d + 1);
        dm_tensor_release(y1); dm_tensor_release(y2);
    }

    /* errors, indices reported 1-based as Lua users write them */
    dm_tensor *bad = tu_tensor(1, (int64_t[]){2}, (float[]){0, 4});
    CHECK_ERR(dm_index_select(x, 1, bad), "index_select: index 5 out of range for dim 2 of size 4");
    dm_tensor *neg = tu_tensor(1, (int64_t[]){1}, (float[]){-1});
    CHECK_ERR(dm_index_select(x, 0, neg), "index_select: index 0 out of range for dim 1 of size 3");
    dm_tensor *frac = tu_tensor(1, (int64_t[]){1}, (float[]){1.5f});
    CHECK_ERR(dm_index_select(x, 0, frac), "index_select: index 2.5 is not an integer");
    dm_tensor *nan = tu_tensor(1, (int64_t[]){1}, (float[]){NAN});
    CHECK_ERR(dm_index_select(x, 0, nan), "index_select: index nan is not an integer");
    CHECK_ERR(dm_index_select(is0, 0, is0),
              "index_select: expected a tensor with at least 1 dimension, got []");
    dm_tensor *i2 = dm_tensor_zeros(2, (int64_t[]){2, 2});
    CHECK_ERR(dm_index_select(x, 0, i2), "index_select: index must be a vector (1-D), got [2 x 2]");
    CHECK_ERR(dm_index_select(x, 2, i0),
              "index_select: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");

    dm_tensor *list[] = { x, i0, i1, ie, is0, xt, ibuf, istr, icon, bad, neg, frac, nan, i2 };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) dm_tensor_release(list[i]);
}

/* ---- gradients -------------------------------------------------------------------- */

typedef struct { int n, dim, stack, transpose; } join_ctx;

static dm_tensor *f_join(dm_tensor *const *in, void *ctx)
{
    join_ctx *c = ctx;
    dm_tensor *v[16];
    for (int k = 0; k < c->n; k++)
        v[k] = c->transpose && in[k]->ndim == 2 ? dm_transpose(in[k], 0, 1) : dm_tensor_retain(in[k]);
    dm_tensor *y = c->stack ? dm_stack(c->n, v, c->dim) : dm_cat(c->n, v, c->dim);
    for (int k = 0; k < c->n; k++) dm_tensor_release(v[k]);
    return y;
}

typedef struct { int dim; dm_tensor *idx; int transpose; } isel_ctx;

static dm_tensor *f_isel(dm_tensor *const *in, void *ctx)
{
    isel_ctx *c = ctx;
    dm_tensor *x = c->transpose ? dm_transpose(in[0], 0, 1) : dm_tensor_retain(in[0]);
    dm_tensor *y = dm_index_select(x, c->dim, c->idx);
    dm_tensor_release(x);
    return y;
}

static void test_grad(void)
{
    /* cat along each dim, with a transposed view in the graph too */
    for (int tr = 0; tr < 2; tr++)
        for (int d = 0; d < 2; d++) {
            int64_t s0[2] = { 2, 3 }, s1[2] = { 2, 3 };
            if (tr) { s0[0] = 3; s0[1] = 2; s1[0] = 3; s1[1] = 2; }
            s1[tr ? 1 - d : d] = 4;         /* the second input differs along the cat dim */
            dm_tensor *in[3] = { tu_rand(2, s0, -1, 1, 1), tu_rand(2, s1, -1, 1, 2),
                                 tu_rand(2, s0, -1, 1, 3) };
            for (int k = 0; k < 3; k++) dm_set_requires_grad(in[k], 1);
            join_ctx c = { 3, d, 0, tr };
            double e = gradcheck(f_join, 3, in, &c, 1e-3);
            CHECKF(e < 1e-2, "gradcheck cat dim %d transpose %d: %g", d + 1, tr, e);
            for (int k = 0; k < 3; k++) dm_tensor_release(in[k]);
        }
    /* cat skipping a [0] that requires grad: it gets a [0] gradient */
    {
        dm_tensor *in[3] = { dm_tensor_new(1, (int64_t[]){0}),
                             tu_rand(2, (int64_t[]){2, 2}, -1, 1, 4),
                             tu_rand(2, (int64_t[]){1, 2}, -1, 1, 5) };
        for (int k = 0; k < 3; k++) dm_set_requires_grad(in[k], 1);
        join_ctx c = { 3, 0, 0, 0 };
        double e = gradcheck(f_join, 3, in, &c, 1e-3);
        CHECKF(e < 1e-2, "gradcheck cat with a skipped [0]: %g", e);
        CHECK(in[0]->grad && in[0]->grad->ndim == 1 && in[0]->grad->shape[0] == 0,
              "skipped [0] gets a [0] gradient");
        for (int k = 0; k < 3; k++) dm_tensor_release(in[k]);
    }
    /* many inputs (more than the engine's small buffer and the node's int slots) */
    {
        dm_tensor *in[12];
        for (int k = 0; k < 12; k++) {
            in[k] = tu_rand(2, (int64_t[]){k % 3 + 1, 2}, -1, 1, 10 + k);
            dm_set_requires_grad(in[k], k % 4 != 1);      /* some without grad */
        }
        join_ctx c = { 12, 0, 0, 0 };
        double e = gradcheck(f_join, 12, in, &c, 1e-3);
        CHECKF(e < 1e-2, "gradcheck cat of 12: %g", e);
        CHECK(in[1]->grad == NULL && in[0]->grad != NULL, "cat grads only where required");
        for (int k = 0; k < 12; k++) dm_tensor_release(in[k]);
    }
    /* stack along every position, including the end */
    for (int tr = 0; tr < 2; tr++)
        for (int d = -3; d < 3; d++) {
            dm_tensor *in[3];
            for (int k = 0; k < 3; k++) {
                in[k] = tu_rand(2, (int64_t[]){2, 3}, -1, 1, 20 + k);
                dm_set_requires_grad(in[k], 1);
            }
            join_ctx c = { 3, d, 1, tr };
            double e = gradcheck(f_join, 3, in, &c, 1e-3);
            CHECKF(e < 1e-2, "gradcheck stack dim %d transpose %d: %g", d, tr, e);
            for (int k = 0; k < 3; k++) dm_tensor_release(in[k]);
        }
    {
        dm_tensor *in[10];
        for (int k = 0; k < 10; k++) {
            in[k] = tu_rand(1, (int64_t[]){3}, -1, 1, 30 + k);
            dm_set_requires_grad(in[k], 1);
        }
        join_ctx c = { 10, 1, 1, 0 };
        double e = gradcheck(f_join, 10, in, &c, 1e-3);
        CHECKF(e < 1e-2, "gradcheck stack of 10: %g", e);
        for (int k = 0; k < 10; k++) dm_tensor_release(in[k]);
    }
    /* index_select with repeated indices (they accumulate) */
    dm_tensor *idx = tu_tensor(1, (int64_t[]){5}, (float[]){1, 0, 1, 1, 2});
    for (int tr = 0; tr < 2; tr++)
        for (int d = 0; d < 2; d++) {
            dm_tensor *x = tu_rand(2, (int64_t[]){3, 3}, -1, 1, 40 + d);
            dm_set_requires_grad(x, 1);
            isel_ctx c = { d, idx, tr };
            double e = gradcheck(f_isel, 1, &x, &c, 1e-3);
            CHECKF(e < 1e-2, "gradcheck index_select dim %d transpose %d: %g", d + 1, tr, e);
            dm_tensor_release(x);
        }
    {   /* by hand: d/dx sum(index_select(x, 0, [1,0,1,1,2])) counts each row's uses */
        dm_tensor *x = tu_rand(2, (int64_t[]){3, 2}, -1, 1, 50);
        dm_set_requires_grad(x, 1);
        dm_tensor *y = dm_index_select(x, 0, idx);
        dm_tensor *g = dm_tensor_full(2, (int64_t[]){5, 2}, 1.0f);
        CHECK(dm_backward(y, g, 0) == 0, "index_select backward runs");
        CHECK(x->grad && is(x->grad, 2, (int64_t[]){3, 2}, (float[]){1, 1, 3, 3, 1, 1}),
              "index_select grad counts repeats");
        dm_tensor_release(y); dm_tensor_release(g); dm_tensor_release(x);
    }

    /* grad_fn names */
    dm_tensor *a = tu_rand(2, (int64_t[]){2, 2}, -1, 1, 60);
    dm_set_requires_grad(a, 1);
    dm_tensor *aa[2] = { a, a };
    dm_tensor *y = dm_cat(2, aa, 0);
    CHECK(y && dm_grad_fn_name(y) && !strcmp(dm_grad_fn_name(y), "CatBackward0"), "CatBackward0");
    dm_tensor_release(y);
    y = dm_stack(2, aa, 0);
    CHECK(y && dm_grad_fn_name(y) && !strcmp(dm_grad_fn_name(y), "StackBackward0"), "StackBackward0");
    dm_tensor_release(y);
    CHECK_ERR(dm_index_select(a, 0, idx), "index_select: index 3 out of range for dim 1 of size 2");
    dm_tensor *i01 = tu_tensor(1, (int64_t[]){2}, (float[]){1, 0});
    y = dm_index_select(a, 0, i01);
    CHECK(y && dm_grad_fn_name(y) && !strcmp(dm_grad_fn_name(y), "IndexSelectBackward0"),
          "IndexSelectBackward0");
    dm_tensor_release(y);
    int prev = dm_set_grad_enabled(0);
    y = dm_cat(2, aa, 1);
    CHECK(y && !y->requires_grad && !dm_grad_fn_name(y), "cat records nothing under no_grad");
    dm_tensor_release(y);
    dm_set_grad_enabled(prev);
    dm_tensor_release(i01);
    dm_tensor_release(a);
    dm_tensor_release(idx);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_cat();
    test_stack();
    test_index_select();
    test_grad();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_join");
}
