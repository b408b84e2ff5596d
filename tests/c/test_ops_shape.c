/* test_ops_shape.c -- the C API of products.c, einsum.c and shape_ops.c: hand-computed
 * values, the several-tensor results (split, chunk, unbind) and their arrays, einsum against
 * matmul on float32 with BLAS and without, and errors that leave no tensor behind.  Values
 * against PyTorch, gradients and the Lua API are in tests/ops_shape_spec.lua; the nodes'
 * gradient checks in test_optable. */
#include "testutil.h"

static void release_all(dm_tensor **ts, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dm_tensor_release(ts[i]);
    free(ts);
}

static void test_values(void)
{
    /* [[1 2 3] [4 5 6] [7 8 9]] */
    dm_tensor *m = tu_tensor(2, (int64_t[]){3, 3}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    dm_tensor *d = dm_diag(m, 1);
    CHECK(tu_shape_is(d, 1, (int64_t[]){2}) && tu_vals_match(d, (double[]){2, 6}, 2, 0, "diag"),
          "diag(m, 1) = [2 6]");
    dm_tensor *tr = dm_trace(m);
    CHECK_NEAR(tu_val0(tr), 15, 0, "trace");
    dm_tensor *lo = dm_tril(m, -1);
    CHECK(tu_vals_match(lo, (double[]){0, 0, 0, 4, 0, 0, 7, 8, 0}, 9, 0, "tril"), "tril(m, -1)");
    dm_tensor *up = dm_triu(m, 2);
    CHECK(tu_vals_match(up, (double[]){0, 0, 3, 0, 0, 0, 0, 0, 0}, 9, 0, "triu"), "triu(m, 2)");
    dm_tensor *f = dm_flip(m, 1, (int[]){1});
    CHECK(tu_vals_match(f, (double[]){3, 2, 1, 6, 5, 4, 9, 8, 7}, 9, 0, "flip"), "flip dim 1");
    dm_tensor *r = dm_roll(m, 1, (int64_t[]){-1}, 1, (int[]){0});
    CHECK(tu_vals_match(r, (double[]){4, 5, 6, 7, 8, 9, 1, 2, 3}, 9, 0, "roll"), "roll -1 dim 0");
    dm_tensor *v = tu_tensor(1, (int64_t[]){2}, (float[]){1, 2});
    dm_tensor *e = dm_diag(v, -1);
    CHECK(tu_shape_is(e, 2, (int64_t[]){3, 3}) &&
          tu_vals_match(e, (double[]){0, 0, 0, 1, 0, 0, 0, 2, 0}, 9, 0, "diag embed"),
          "diag(v, -1)");
    dm_tensor *rep = dm_repeat(v, 2, (int64_t[]){2, 2});
    CHECK(tu_shape_is(rep, 2, (int64_t[]){2, 4}) &&
          tu_vals_match(rep, (double[]){1, 2, 1, 2, 1, 2, 1, 2}, 8, 0, "repeat"), "repeat");
    dm_tensor *o = dm_outer(v, v);
    CHECK(tu_vals_match(o, (double[]){1, 2, 2, 4}, 4, 0, "outer"), "outer");
    dm_tensor *list[] = { m, d, tr, lo, up, f, r, v, e, rep, o };
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) dm_tensor_release(list[i]);
}

static void test_pieces(void)
{
    dm_tensor *t = tu_rand(2, (int64_t[]){5, 3}, -1, 1, 3);
    int64_t n = -1;
    dm_tensor **p = dm_split(t, 2, 0, &n);
    CHECK(p && n == 3, "split 5 by 2: three pieces");
    if (p) {
        CHECK(tu_shape_is(p[2], 2, (int64_t[]){1, 3}), "the last piece is smaller");
        CHECK(dm_storage_shared(t), "the pieces view the input");
        release_all(p, n);
    }
    p = dm_chunk(t, 4, -1, &n);
    CHECK(p && n == 3, "chunk 3 columns in 4: three pieces of one");
    if (p) release_all(p, n);
    p = dm_unbind(t, 1, &n);
    CHECK(p && n == 3 && tu_shape_is(p[0], 1, (int64_t[]){5}), "unbind dim 1");
    if (p) release_all(p, n);
    p = dm_split_sizes(t, 2, (int64_t[]){4, 1}, 0, &n);
    CHECK(p && n == 2 && tu_shape_is(p[0], 2, (int64_t[]){4, 3}), "split by sizes");
    if (p) release_all(p, n);
    CHECK_ERR(dm_split_sizes(t, 2, (int64_t[]){4, 2}, 0, &n),
              "split: sizes [4, 2] must be non-negative and sum to 5, the size of dim 1 of "
              "[5 x 3]");
    dm_tensor_release(t);
}

/* einsum contracts through the same gemm as matmul: equal results, with BLAS and without */
static void test_einsum(void)
{
    dm_tensor *a = tu_rand(3, (int64_t[]){4, 5, 6}, -1, 1, 7);
    dm_tensor *b = tu_rand(3, (int64_t[]){4, 6, 3}, -1, 1, 8);
    for (int blas = 1; blas >= 0; blas--) {
        dm_set_use_blas(blas);
        dm_tensor *e = dm_einsum("bij,bjk->bik", 2, (dm_tensor *[]){a, b});
        dm_tensor *m = dm_bmm(a, b);
        CHECK(e && m && tu_same_values(e, m, 0), "einsum bij,bjk->bik is bmm exactly");
        dm_tensor *bt = dm_transpose(b, 1, 2);
        dm_tensor *e2 = dm_einsum("bij,bkj->bik", 2, (dm_tensor *[]){a, bt});
        CHECK(e2 && tu_same_values(e2, m, 1e-6), "einsum with a transposed operand");
        dm_tensor_release(e);
        dm_tensor_release(m);
        dm_tensor_release(bt);
        dm_tensor_release(e2);
    }
    dm_set_use_blas(1);
    CHECK_ERR(dm_einsum("bij,bjk->bik", 2, (dm_tensor *[]){a, a}),
              "einsum: subscript 'j' has size 5 in operand 2 [4 x 5 x 6] but 6 in operand 1");
    CHECK_ERR(dm_einsum("ij", 1, (dm_tensor *[]){a}),
              "einsum: operand 1 has 3 dims but the subscripts 'ij' name 2");
    dm_tensor_release(a);
    dm_tensor_release(b);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_values();
    test_pieces();
    test_einsum();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_ops_shape");
}
