/* test_reduce.c -- reductions, dm_max_dim, dm_sum_to, softmax / log_softmax (core/ops/reduce.c).
 *
 * Hand-computed values (checked against PyTorch's documented semantics: NaN wins max/min,
 * ties go to the first index, var/std with correction, mean of nothing is nan, max of
 * nothing is an error), gradient checks for every differentiable reduction, the same ops
 * on non-contiguous views, the vectorised sum paths against a plain reference, error
 * messages verbatim, grad_fn names, and no leaks. */
#include "testutil.h"

/* ---- 1. forward values ----------------------------------------------------------------- */

static const float M23[] = { 1, 2, 3, 4, 5, 6 };      /* [[1 2 3] [4 5 6]] */
static const int64_t S23[] = { 2, 3 };

static void test_values(void)
{
    dm_tensor *x = tu_tensor(2, S23, M23), *y;
    struct { dm_redop op; int dim; float want[3]; int n; } cases[] = {
        { DM_RED_SUM, DM_ALL, { 21 }, 1 },
        { DM_RED_SUM, 0, { 5, 7, 9 }, 3 },
        { DM_RED_SUM, 1, { 6, 15 }, 2 },
        { DM_RED_SUM, -1, { 6, 15 }, 2 },
        { DM_RED_MEAN, DM_ALL, { 3.5f }, 1 },
        { DM_RED_MEAN, 0, { 2.5f, 3.5f, 4.5f }, 3 },
        { DM_RED_MEAN, 1, { 2, 5 }, 2 },
        { DM_RED_PROD, DM_ALL, { 720 }, 1 },
        { DM_RED_PROD, 0, { 4, 10, 18 }, 3 },
        { DM_RED_PROD, 1, { 6, 120 }, 2 },
        { DM_RED_MAX, DM_ALL, { 6 }, 1 },
        { DM_RED_MAX, 1, { 3, 6 }, 2 },
        { DM_RED_MIN, DM_ALL, { 1 }, 1 },
        { DM_RED_MIN, 0, { 1, 2, 3 }, 3 },
        { DM_RED_ARGMAX, DM_ALL, { 5 }, 1 },
        { DM_RED_ARGMAX, 0, { 1, 1, 1 }, 3 },
        { DM_RED_ARGMAX, 1, { 2, 2 }, 2 },
        { DM_RED_ARGMIN, DM_ALL, { 0 }, 1 },
        { DM_RED_ARGMIN, -2, { 0, 0, 0 }, 3 },
        { DM_RED_VAR, DM_ALL, { 3.5f }, 1 },
        { DM_RED_VAR, 0, { 4.5f, 4.5f, 4.5f }, 3 },
        { DM_RED_VAR, 1, { 1, 1 }, 2 },
        { DM_RED_STD, DM_ALL, { 1.8708287f }, 1 },
        { DM_RED_STD, 0, { 2.1213203f, 2.1213203f, 2.1213203f }, 3 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        y = dm_reduce(cases[k].op, x, cases[k].dim, 0, 1);
        char what[96];
        snprintf(what, sizeof what, "values case %zu", k);
        tu_check_valsf(y, cases[k].want, cases[k].n, 1e-6, what);
        if (y) {
            int64_t want_nd = cases[k].dim == DM_ALL ? 0 : 1;
            CHECK(y->ndim == want_nd, "result ndim");
        }
        dm_tensor_release(y);
    }

    /* correction: population variance 17.5 / 6, and correction 2 */
    y = dm_reduce(DM_RED_VAR, x, DM_ALL, 0, 0);
    CHECK_NEAR(tu_val0(y), 17.5 / 6, 1e-6, "var correction 0");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_STD, x, 1, 0, 0);
    tu_check_valsf(y, (float[]){ 0.81649658f, 0.81649658f }, 2, 1e-6, "std dim 1 correction 0");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_VAR, x, DM_ALL, 0, 2);
    CHECK_NEAR(tu_val0(y), 17.5 / 4, 1e-6, "var correction 2");
    dm_tensor_release(y);

    /* keepdim shapes */
    y = dm_reduce(DM_RED_SUM, x, 1, 1, 1);
    CHECK(tu_shape_is(y, 2, (int64_t[]){ 2, 1 }), "keepdim dim 1 -> [2 x 1]");
    tu_check_valsf(y, (float[]){ 6, 15 }, 2, 0, "keepdim values");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MEAN, x, DM_ALL, 1, 1);
    CHECK(tu_shape_is(y, 2, (int64_t[]){ 1, 1 }), "keepdim full -> [1 x 1]");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMAX, x, 0, 1, 1);
    CHECK(tu_shape_is(y, 2, (int64_t[]){ 1, 3 }), "argmax keepdim -> [1 x 3]");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MAX, x, 0, 1, 1);
    CHECK(tu_shape_is(y, 2, (int64_t[]){ 1, 3 }), "max keepdim -> [1 x 3]");
    tu_check_valsf(y, (float[]){ 4, 5, 6 }, 3, 0, "max keepdim values");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* a 3-D case with inner > 1: [2 x 2 x 2] = 0..7, sum over dim 1 */
    x = tu_tensor(3, (int64_t[]){ 2, 2, 2 }, (float[]){ 0, 1, 2, 3, 4, 5, 6, 7 });
    y = dm_reduce(DM_RED_SUM, x, 1, 0, 1);
    tu_check_valsf(y, (float[]){ 2, 4, 10, 12 }, 4, 0, "3-D sum dim 2");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMAX, x, 1, 0, 1);
    tu_check_valsf(y, (float[]){ 1, 1, 1, 1 }, 4, 0, "3-D argmax dim 2");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* ties: first occurrence */
    x = tu_tensor(1, (int64_t[]){ 5 }, (float[]){ 1, 3, 3, 2, 1 });
    y = dm_reduce(DM_RED_ARGMAX, x, DM_ALL, 0, 1);
    CHECK(tu_val0(y) == 1, "argmax tie -> first");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMIN, x, 0, 0, 1);
    CHECK(tu_val0(y) == 0, "argmin tie -> first");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* NaN counts as the extreme for max and min alike, first NaN wins */
    x = tu_tensor(1, (int64_t[]){ 4 }, (float[]){ 1, NAN, 5, NAN });
    y = dm_reduce(DM_RED_ARGMAX, x, DM_ALL, 0, 1);
    CHECK(tu_val0(y) == 1, "argmax nan");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_ARGMIN, x, 0, 0, 1);
    CHECK(tu_val0(y) == 1, "argmin nan");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MAX, x, DM_ALL, 0, 1);
    CHECK(isnan(tu_val0(y)), "max nan");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MIN, x, 0, 0, 1);
    CHECK(isnan(tu_val0(y)), "min dim nan");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* empty tensors: sum 0, prod 1, mean/var nan */
    x = dm_tensor_new(1, (int64_t[]){ 0 });
    y = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 0, "sum of empty");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_PROD, x, 0, 0, 1);
    CHECK(y && tu_val0(y) == 1, "prod of empty");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MEAN, x, DM_ALL, 0, 1);
    CHECK(y && isnan(tu_val0(y)), "mean of empty is nan");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_VAR, x, DM_ALL, 0, 1);
    CHECK(y && isnan(tu_val0(y)), "var of empty is nan");
    dm_tensor_release(y);
    CHECK_ERR(dm_reduce(DM_RED_MAX, x, DM_ALL, 0, 1),
              "max: cannot reduce an empty tensor of size [0]");
    CHECK_ERR(dm_reduce(DM_RED_ARGMIN, x, DM_ALL, 0, 1),
              "argmin: cannot reduce an empty tensor of size [0]");
    dm_tensor_release(x);
    x = dm_tensor_new(2, (int64_t[]){ 0, 3 });
    CHECK_ERR(dm_reduce(DM_RED_MIN, x, 0, 0, 1),
              "min: cannot reduce over dim 1 of size 0 (tensor of size [0 x 3])");
    y = dm_reduce(DM_RED_MAX, x, 1, 0, 1);           /* reducing a non-empty dim is fine */
    CHECK(tu_shape_is(y, 1, (int64_t[]){ 0 }), "max over dim 2 of [0 x 3] -> [0]");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MEAN, x, 0, 0, 1);
    tu_check_valsf(y, (float[]){ NAN, NAN, NAN }, 3, 0, "mean over an empty dim");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_SUM, x, 0, 1, 1);
    CHECK(tu_shape_is(y, 2, (int64_t[]){ 1, 3 }), "sum keepdim over empty dim -> [1 x 3]");
    tu_check_valsf(y, (float[]){ 0, 0, 0 }, 3, 0, "sum over an empty dim");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* one element: unbiased var is nan, biased is 0 */
    x = tu_tensor(1, (int64_t[]){ 1 }, (float[]){ 2 });
    y = dm_reduce(DM_RED_VAR, x, DM_ALL, 0, 1);
    CHECK(isnan(tu_val0(y)), "var of one element, correction 1");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_STD, x, 0, 0, 0);
    CHECK(tu_val0(y) == 0, "std of one element, correction 0");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* 0-dim input: dim 0 and -1 are allowed and keep it 0-dim */
    x = dm_tensor_scalar(3);
    for (int d = -1; d <= 0; d++) {
        y = dm_reduce(DM_RED_SUM, x, d, 0, 1);
        CHECK(y && y->ndim == 0 && tu_val0(y) == 3, "sum of 0-dim over dim");
        dm_tensor_release(y);
        y = dm_reduce(DM_RED_ARGMAX, x, d, 1, 1);
        CHECK(y && y->ndim == 0 && tu_val0(y) == 0, "argmax of 0-dim");
        dm_tensor_release(y);
    }
    y = dm_reduce(DM_RED_MAX, x, 0, 0, 1);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 3, "max of 0-dim over dim");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_PROD, x, DM_ALL, 1, 1);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 3, "prod of 0-dim, keepdim");
    dm_tensor_release(y);
    CHECK_ERR(dm_reduce(DM_RED_SUM, x, 1, 0, 1),
              "sum: dim 2 out of range for a tensor of 0 dimensions (expected 1 to 1, or -1 to -1)");
    dm_tensor_release(x);

    /* precision: a million 0.1f sum to 1e6 * 0.1f within float rounding of the result */
    int64_t big = 1000000;
    x = dm_tensor_full(1, &big, 0.1f);
    y = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
    CHECK_NEAR(tu_val0(y), 1e6 * (double)0.1f, 1e-7, "sum of 1e6 x 0.1f");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_MEAN, x, 0, 0, 1);
    CHECK_NEAR(tu_val0(y), (double)0.1f, 1e-7, "mean of 1e6 x 0.1f");
    dm_tensor_release(y);
    y = dm_reduce(DM_RED_VAR, x, DM_ALL, 0, 1);
    CHECK(fabs(tu_val0(y)) < 1e-12, "var of constant is 0");
    dm_tensor_release(y);
    dm_tensor_release(x);
}

static void test_max_dim(void)
{
    dm_tensor *x = tu_tensor(2, (int64_t[]){ 2, 3 }, (float[]){ 1, 7, 7, 5, 2, 9 }), *v, *ix;
    CHECK(dm_max_dim(x, 1, 0, 0, &v, &ix) == 0, "max_dim");
    tu_check_valsf(v, (float[]){ 7, 9 }, 2, 0, "max_dim values");
    tu_check_valsf(ix, (float[]){ 1, 2 }, 2, 0, "max_dim indices (first of ties)");
    CHECK(ix && !ix->requires_grad, "indices need no grad");
    dm_tensor_release(v);
    dm_tensor_release(ix);
    CHECK(dm_max_dim(x, 0, 1, 1, &v, &ix) == 0, "min_dim keepdim");
    CHECK(tu_shape_is(v, 2, (int64_t[]){ 1, 3 }) && tu_shape_is(ix, 2, (int64_t[]){ 1, 3 }),
          "min_dim keepdim shapes");
    tu_check_valsf(v, (float[]){ 1, 2, 7 }, 3, 0, "min_dim values");
    tu_check_valsf(ix, (float[]){ 0, 1, 0 }, 3, 0, "min_dim indices");
    dm_tensor_release(v);
    dm_tensor_release(ix);
    /* the caller may rewrite the indices (the binding makes them 1-based): backward keeps
       its own copy */
    dm_set_requires_grad(x, 1);
    CHECK(dm_max_dim(x, 1, 0, 0, &v, &ix) == 0, "max_dim with grad");
    dm_add_scalar_(ix, 1.0f);
    dm_tensor *s = dm_reduce(DM_RED_SUM, v, DM_ALL, 0, 1);
    CHECK(s && dm_backward(s, NULL, 0) == 0, "max_dim backward after indices rewritten");
    if (x->grad) tu_check_valsf(x->grad, (float[]){ 0, 1, 0, 0, 0, 1 }, 6, 0, "max_dim grad");
    else CHECK(0, "max_dim grad");
    dm_tensor_release(s);
    dm_tensor_release(v);
    dm_tensor_release(ix);
    CHECK_ERR(dm_max_dim(x, 2, 0, 0, &v, &ix),
              "max: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    CHECK(v == NULL && ix == NULL, "outputs NULL on error");
    dm_tensor_release(x);
}

/* ---- 2. softmax ------------------------------------------------------------------------ */

static void test_softmax(void)
{
    const float sm[] = { 0.09003057f, 0.24472847f, 0.66524096f };
    const float lsm[] = { -2.40760596f, -1.40760596f, -0.40760596f };
    dm_tensor *x = tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 1, 2, 3 }), *y;
    y = dm_softmax(x, 0);
    tu_check_valsf(y, sm, 3, 1e-6, "softmax [1 2 3]");
    dm_tensor_release(y);
    y = dm_log_softmax(x, -1);
    tu_check_valsf(y, lsm, 3, 1e-6, "log_softmax [1 2 3]");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* large inputs do not overflow (the max is subtracted) */
    x = tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 1000, 1001, 1002 });
    y = dm_softmax(x, 0);
    tu_check_valsf(y, sm, 3, 1e-6, "softmax stable");
    dm_tensor_release(y);
    y = dm_log_softmax(x, 0);
    tu_check_valsf(y, lsm, 3, 1e-5, "log_softmax stable");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* over dim 1 (first) of [3 x 2]: columns [1 2 3] and [0 0 0] */
    x = tu_tensor(2, (int64_t[]){ 3, 2 }, (float[]){ 1, 0, 2, 0, 3, 0 });
    y = dm_softmax(x, 0);
    const float third = 1.0f / 3;
    tu_check_valsf(y, (float[]){ sm[0], third, sm[1], third, sm[2], third }, 6, 1e-6,
                   "softmax over dim 1");
    dm_tensor_release(y);
    y = dm_log_softmax(x, 0);
    const float lt = -1.0986123f;
    tu_check_valsf(y, (float[]){ lsm[0], lt, lsm[1], lt, lsm[2], lt }, 6, 1e-6,
                   "log_softmax over dim 1");
    dm_tensor_release(y);
    CHECK_ERR(dm_softmax(x, 2),
              "softmax: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    CHECK_ERR(dm_log_softmax(x, -3),
              "log_softmax: dim -3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    dm_tensor_release(x);

    /* 0-dim: softmax 1, log_softmax 0 */
    x = dm_tensor_scalar(5);
    y = dm_softmax(x, 0);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 1, "softmax of 0-dim");
    dm_tensor_release(y);
    y = dm_log_softmax(x, -1);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 0, "log_softmax of 0-dim");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* -inf entries get probability 0 */
    x = tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 0, -INFINITY, 0 });
    y = dm_softmax(x, 0);
    tu_check_valsf(y, (float[]){ 0.5f, 0, 0.5f }, 3, 1e-7, "softmax with -inf");
    dm_tensor_release(y);
    dm_tensor_release(x);
}

/* ---- 3. dm_sum_to ---------------------------------------------------------------------- */

/* plain reference: every element of x adds into its right-aligned position in the target */
static dm_tensor *ref_sum_to(const dm_tensor *x, int ndim, const int64_t *shape)
{
    dm_tensor *out = dm_tensor_zeros(ndim, shape);
    int64_t n = dm_numel(x), idx[DM_MAX_DIMS] = { 0 }, m = dm_numel(out);
    double *acc = calloc((size_t)(m ? m : 1), sizeof *acc);
    for (int64_t k = 0; k < n; k++) {
        int64_t o = 0;
        for (int d = 0; d < ndim; d++) {
            int xd = d - (ndim - x->ndim);
            int64_t i = xd >= 0 && shape[d] != 1 ? idx[xd] : 0;
            o = o * shape[d] + i;
        }
        acc[o] += dm_get(x, idx);
        tu_next_index(x->ndim, x->shape, idx);
    }
    for (int64_t k = 0; k < m; k++) dm_data(out)[k] = (float)acc[k];
    free(acc);
    return out;
}

static void test_sum_to(void)
{
    dm_tensor *x = tu_tensor(2, S23, M23), *y;
    y = dm_sum_to(x, 1, (int64_t[]){ 3 });
    tu_check_valsf(y, (float[]){ 5, 7, 9 }, 3, 0, "sum_to [3]");
    dm_tensor_release(y);
    y = dm_sum_to(x, 2, (int64_t[]){ 2, 1 });
    tu_check_valsf(y, (float[]){ 6, 15 }, 2, 0, "sum_to [2 x 1]");
    dm_tensor_release(y);
    y = dm_sum_to(x, 0, NULL);
    CHECK(y && y->ndim == 0 && tu_val0(y) == 21, "sum_to []");
    dm_tensor_release(y);
    y = dm_sum_to(x, 2, S23);
    CHECK(y && y != x && y->storage != x->storage, "sum_to same shape gives a new tensor");
    tu_check_valsf(y, M23, 6, 0, "sum_to same shape");
    dm_tensor_release(y);
    y = dm_sum_to(x, 3, (int64_t[]){ 1, 1, 3 });
    tu_check_valsf(y, (float[]){ 5, 7, 9 }, 3, 0, "sum_to extra leading 1");
    CHECK(tu_shape_is(y, 3, (int64_t[]){ 1, 1, 3 }), "sum_to [1 x 1 x 3] shape");
    dm_tensor_release(y);
    CHECK_ERR(dm_sum_to(x, 1, (int64_t[]){ 4 }),
              "sum_to: size [4] is not expandable to size [2 x 3]");
    CHECK_ERR(dm_sum_to(x, 3, (int64_t[]){ 2, 2, 3 }),
              "sum_to: size [2 x 2 x 3] is not expandable to size [2 x 3]");
    dm_tensor_release(x);

    /* the run-merging fast path against the reference, on many targets */
    const int64_t xs[4] = { 3, 4, 5, 6 };
    x = tu_rand(4, xs, -1, 1, 11);
    dm_tensor *xt = dm_tensor_alias(x, 4, (int64_t[]){ 3, 4, 6, 5 }, (int64_t[]){ 120, 30, 1, 6 }, 0);
    for (int mask = 0; mask < 16; mask++)
        for (int drop = 0; drop <= 2; drop++) {
            for (int v = 0; v < 2; v++) {
                const dm_tensor *src = v ? xt : x;
                int64_t t[4];
                for (int d = 0; d < 4; d++) t[d] = (mask >> d) & 1 ? 1 : src->shape[d];
                int nd = 4 - drop;
                y = dm_sum_to(src, nd, t + drop);
                dm_tensor *r = ref_sum_to(src, nd, t + drop);
                int ok = y && dm_same_shape(y, r);
                for (int64_t k = 0; ok && k < dm_numel(r); k++)
                    if (fabs(dm_data(y)[k] - dm_data(r)[k]) > 1e-5) ok = 0;
                char what[96];
                snprintf(what, sizeof what, "sum_to vs reference mask %d drop %d view %d",
                         mask, drop, v);
                CHECK(ok, what);
                dm_tensor_release(y);
                dm_tensor_release(r);
            }
        }
    dm_tensor_release(xt);
    dm_tensor_release(x);

    /* size-1 dims of x and empty x */
    x = tu_rand(3, (int64_t[]){ 4, 1, 3 }, -1, 1, 12);
    y = dm_sum_to(x, 2, (int64_t[]){ 1, 3 });
    dm_tensor *r = ref_sum_to(x, 2, (int64_t[]){ 1, 3 });
    tu_check_valsf(y, dm_data(r), 3, 1e-6, "sum_to [4 x 1 x 3] -> [1 x 3]");
    dm_tensor_release(y);
    dm_tensor_release(r);
    dm_tensor_release(x);
    x = dm_tensor_new(2, (int64_t[]){ 0, 3 });
    y = dm_sum_to(x, 2, (int64_t[]){ 1, 3 });
    tu_check_valsf(y, (float[]){ 0, 0, 0 }, 3, 0, "sum_to of empty");
    dm_tensor_release(y);
    dm_tensor_release(x);

    /* big [B x N] -> [N] and [B x 1] paths */
    x = tu_rand(2, (int64_t[]){ 257, 131 }, -1, 1, 13);
    y = dm_sum_to(x, 1, (int64_t[]){ 131 });
    r = ref_sum_to(x, 1, (int64_t[]){ 131 });
    tu_check_valsf(y, dm_data(r), 131, 1e-6, "sum_to [257 x 131] -> [131]");
    dm_tensor_release(y);
    dm_tensor_release(r);
    y = dm_sum_to(x, 2, (int64_t[]){ 257, 1 });
    r = ref_sum_to(x, 2, (int64_t[]){ 257, 1 });
    tu_check_valsf(y, dm_data(r), 257, 1e-6, "sum_to [257 x 131] -> [257 x 1]");
    dm_tensor_release(y);
    dm_tensor_release(r);
    dm_tensor_release(x);
}

/* sum over one dim by plain index loops, the reference for the vectorised kernels */
static dm_tensor *ref_sum_dim(const dm_tensor *x, int dim)
{
    int64_t ts[DM_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) ts[d] = d == dim ? 1 : x->shape[d];
    return ref_sum_to(x, x->ndim, ts);
}

static void test_sum_fast_paths(void)
{
    const int64_t shapes[][3] = { { 5, 7, 9 }, { 1, 33, 17 }, { 13, 1, 40 }, { 3, 100, 1 } };
    for (int s = 0; s < 4; s++) {
        dm_tensor *x = tu_rand(3, shapes[s], -2, 2, 20 + (unsigned)s);
        for (int dim = 0; dim < 3; dim++) {
            dm_tensor *y = dm_reduce(DM_RED_SUM, x, dim, 1, 1);
            dm_tensor *r = ref_sum_dim(x, dim);
            CHECK(y && dm_same_shape(y, r), "sum keepdim shape vs reference");
            if (y && dm_same_shape(y, r))
                tu_check_valsf(y, dm_data(r), dm_numel(r), 1e-6, "sum vs reference");
            dm_tensor_release(y);
            y = dm_reduce(DM_RED_MEAN, x, dim, 1, 1);
            for (int64_t k = 0; y && k < dm_numel(r); k++) dm_data(r)[k] /= (float)shapes[s][dim];
            if (y && dm_same_shape(y, r))
                tu_check_valsf(y, dm_data(r), dm_numel(r), 1e-6, "mean vs reference");
            dm_tensor_release(y);
            dm_tensor_release(r);
        }
        dm_tensor *y = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
        dm_tensor *r = ref_sum_to(x, 0, NULL);
        CHECK_NEAR(tu_val0(y), tu_val0(r), 1e-6, "full sum vs reference");
        dm_tensor_release(y);
        dm_tensor_release(r);
        dm_tensor_release(x);
    }
}

/* ---- 4. non-contiguous inputs ---------------------------------------------------------- */

static void test_noncontig(void)
{
    /* base [3 x 4]; a transposed view [4 x 3] and a narrowed view [3 x 2] (columns 2..3) */
    dm_tensor *base = tu_rand(2, (int64_t[]){ 3, 4 }, -3, 3, 31);
    dm_tensor *views[2] = {
        dm_tensor_alias(base, 2, (int64_t[]){ 4, 3 }, (int64_t[]){ 1, 4 }, 0),
        dm_tensor_alias(base, 2, (int64_t[]){ 3, 2 }, (int64_t[]){ 4, 1 }, 1),
    };
    for (int v = 0; v < 2; v++) {
        dm_tensor *view = views[v];
        CHECK(!dm_is_contiguous(view), "view is non-contiguous");
        dm_tensor *copy = dm_tensor_new(view->ndim, view->shape);
        dm_to_buffer(view, dm_data(copy));
        const int dims[] = { DM_ALL, 0, 1, -1 };
        for (int op = DM_RED_SUM; op <= DM_RED_STD; op++)
            for (int di = 0; di < 4; di++)
                for (int kd = 0; kd < 2; kd++) {
                    dm_tensor *a = dm_reduce((dm_redop)op, view, dims[di], kd, 1);
                    dm_tensor *b = dm_reduce((dm_redop)op, copy, dims[di], kd, 1);
                    char what[96];
                    snprintf(what, sizeof what, "view %d op %d dim %d keepdim %d", v, op,
                             dims[di], kd);
                    CHECK(tu_same_values(a, b, 0), what);
                    dm_tensor_release(a);
                    dm_tensor_release(b);
                }
        for (int d = 0; d < 2; d++) {
            dm_tensor *a = dm_softmax(view, d), *b = dm_softmax(copy, d);
            CHECK(tu_same_values(a, b, 0), "softmax on a view");
            dm_tensor_release(a);
            dm_tensor_release(b);
            a = dm_log_softmax(view, d);
            b = dm_log_softmax(copy, d);
            CHECK(tu_same_values(a, b, 0), "log_softmax on a view");
            dm_tensor_release(a);
            dm_tensor_release(b);
            dm_tensor *av, *ai, *bv, *bi;
            dm_max_dim(view, d, 0, d, &av, &ai);
            dm_max_dim(copy, d, 0, d, &bv, &bi);
            CHECK(tu_same_values(av, bv, 0) && tu_same_values(ai, bi, 0), "max_dim on a view");
            dm_tensor_release(av); dm_tensor_release(ai);
            dm_tensor_release(bv); dm_tensor_release(bi);
        }
        dm_tensor *a = dm_sum_to(view, 1, (int64_t[]){ view->shape[1] });
        dm_tensor *b = dm_sum_to(copy, 1, (int64_t[]){ view->shape[1] });
        CHECK(tu_same_values(a, b, 0), "sum_to on a view");
        dm_tensor_release(a);
        dm_tensor_release(b);
        dm_tensor_release(copy);
    }

    /* gradients land in a non-contiguous leaf's shape */
    dm_tensor *view = views[0];
    dm_set_requires_grad(view, 1);
    dm_tensor *y = dm_reduce(DM_RED_PROD, view, 0, 0, 1);
    dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1);
    CHECK(dm_backward(s, NULL, 0) == 0, "backward through a view leaf");
    CHECK(view->grad && dm_same_shape(view->grad, view), "grad of the view's shape");
    if (view->grad) {
        int ok = 1;
        for (int64_t i = 0; i < 4; i++)
            for (int64_t j = 0; j < 3; j++) {
                double p = 1;
                for (int64_t k = 0; k < 4; k++)
                    if (k != i) p *= dm_get(view, (int64_t[]){ k, j });
                if (fabs(dm_get(view->grad, (int64_t[]){ i, j }) - p) > 1e-5 * (1 + fabs(p))) ok = 0;
            }
        CHECK(ok, "prod grad on a view");
    }
    dm_tensor_release(s);
    dm_tensor_release(y);
    dm_tensor_release(views[0]);
    dm_tensor_release(views[1]);
    dm_tensor_release(base);
}

/* ---- 5. gradients ---------------------------------------------------------------------- */

typedef struct { int kind; dm_redop op; int dim, keepdim, correction; int64_t ndim; int64_t shape[4]; } gctx;
enum { K_REDUCE, K_MAXDIM, K_SOFTMAX, K_LOGSOFTMAX, K_SUMTO };

static dm_tensor *gfun(dm_tensor *const *in, void *p)
{
    const gctx *c = p;
    switch (c->kind) {
    case K_REDUCE: return dm_reduce(c->op, in[0], c->dim, c->keepdim, c->correction);
    case K_MAXDIM: {
        dm_tensor *v, *ix;
        if (dm_max_dim(in[0], c->dim, c->keepdim, c->op == DM_RED_MIN, &v, &ix)) return NULL;
        dm_tensor_release(ix);
        return v;
    }
    case K_SOFTMAX: return dm_softmax(in[0], c->dim);
    case K_LOGSOFTMAX: return dm_log_softmax(in[0], c->dim);
    default: return dm_sum_to(in[0], (int)c->ndim, c->shape);
    }
}

static void run_gradcheck(gctx c, int ndim, const int64_t *shape, float lo, float hi,
                          unsigned seed, const char *what)
{
    dm_tensor *x = tu_rand(ndim, shape, lo, hi, seed);
    dm_set_requires_grad(x, 1);
    double err = gradcheck(gfun, 1, &x, &c, 1e-3);
    if (!(err < 1e-2)) printf("  %s: worst error %g\n", what, err);
    CHECK(err < 1e-2, what);
    dm_tensor_release(x);
}

static void test_gradcheck(void)
{
    const int64_t s2[] = { 3, 4 }, s3[] = { 2, 3, 4 };
    const dm_redop ops[] = { DM_RED_SUM, DM_RED_MEAN, DM_RED_PROD, DM_RED_MAX, DM_RED_MIN,
                             DM_RED_VAR, DM_RED_STD };
    const int dims[] = { DM_ALL, 0, 1, -1 };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (int di = 0; di < 4; di++)
            for (int kd = 0; kd < 2; kd++) {
                gctx c = { K_REDUCE, ops[o], dims[di], kd, 1, 0, { 0 } };
                char what[96];
                snprintf(what, sizeof what, "gradcheck op %d dim %d keepdim %d", (int)ops[o],
                         dims[di], kd);
                /* prod wants values near 1 so products stay O(1) */
                float lo = ops[o] == DM_RED_PROD ? 0.5f : -2, hi = ops[o] == DM_RED_PROD ? 1.5f : 2;
                run_gradcheck(c, 2, s2, lo, hi, 40 + (unsigned)(o * 8 + (size_t)di * 2) + (unsigned)kd, what);
                if (dims[di] != DM_ALL) {
                    snprintf(what, sizeof what, "gradcheck 3-D op %d dim %d keepdim %d",
                             (int)ops[o], dims[di], kd);
                    run_gradcheck(c, 3, s3, lo, hi, 90 + (unsigned)(o * 8 + (size_t)di * 2) + (unsigned)kd, what);
                }
            }
    /* var/std with other corrections */
    for (int corr = 0; corr <= 2; corr += 2) {
        gctx c = { K_REDUCE, DM_RED_VAR, 1, 0, corr, 0, { 0 } };
        run_gradcheck(c, 2, s2, -2, 2, 140 + (unsigned)corr, "gradcheck var correction");
        c.op = DM_RED_STD;
        c.dim = DM_ALL;
        run_gradcheck(c, 2, s2, -2, 2, 150 + (unsigned)corr, "gradcheck std correction");
    }
    /* max_dim values, softmax, log_softmax, sum_to */
    for (int d = -3; d < 3; d++) {
        gctx c = { K_MAXDIM, d & 1 ? DM_RED_MIN : DM_RED_MAX, d, d & 1, 1, 0, { 0 } };
        run_gradcheck(c, 3, s3, -2, 2, 160 + (unsigned)(d + 3), "gradcheck max_dim");
        c.kind = K_SOFTMAX;
        run_gradcheck(c, 3, s3, -2, 2, 170 + (unsigned)(d + 3), "gradcheck softmax");
        c.kind = K_LOGSOFTMAX;
        run_gradcheck(c, 3, s3, -2, 2, 180 + (unsigned)(d + 3), "gradcheck log_softmax");
    }
    {
        gctx c = { K_SUMTO, DM_RED_SUM, 0, 0, 0, 2, { 3, 1 } };
        run_gradcheck(c, 3, s3, -2, 2, 190, "gradcheck sum_to [2x3x4] -> [3 x 1]");
        gctx c2 = { K_SUMTO, DM_RED_SUM, 0, 0, 0, 3, { 2, 1, 4 } };
        run_gradcheck(c2, 3, s3, -2, 2, 191, "gradcheck sum_to [2x3x4] -> [2 x 1 x 4]");
    }
    /* prod through zeros: central differences are exact there (prod is linear per entry) */
    {
        gctx c = { K_REDUCE, DM_RED_PROD, DM_ALL, 0, 1, 0, { 0 } };
        const float one0[] = { 2, 0, 3, 0.5f }, two0[] = { 0, 2, 0, 1.5f };
        const float *cases[] = { one0, two0 };
        for (int k = 0; k < 2; k++)
            for (int dim = DM_ALL; dim <= 1; dim = dim == DM_ALL ? 0 : dim + 1) {
                dm_tensor *x = tu_tensor(2, (int64_t[]){ 2, 2 }, cases[k]);
                dm_set_requires_grad(x, 1);
                c.dim = dim;
                CHECK(gradcheck(gfun, 1, &x, &c, 1e-3) < 1e-2, "gradcheck prod with zeros");
                dm_tensor_release(x);
            }
    }
}

/* hand-computed gradients of the special cases */
static void grad_of(dm_redop op, int ndim, const int64_t *shape, const float *v, int dim,
                    int correction, const float *want, const char *what)
{
    dm_tensor *x = tu_tensor(ndim, shape, v);
    dm_set_requires_grad(x, 1);
    dm_tensor *y = dm_reduce(op, x, dim, 0, correction);
    dm_tensor *s = y && y->ndim ? dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 1) : dm_tensor_retain(y);
    CHECK(s && dm_backward(s, NULL, 0) == 0, what);
    if (x->grad) tu_check_valsf(x->grad, want, dm_numel(x), 1e-6, what);
    else CHECK(0, what);
    dm_tensor_release(s);
    dm_tensor_release(y);
    dm_tensor_release(x);
}

static void test_grad_values(void)
{
    const int64_t s3[] = { 3 }, s22[] = { 2, 2 }, s1[] = { 1 };
    /* max over everything shares the gradient among ties; max over a dim does not */
    grad_of(DM_RED_MAX, 1, s3, (float[]){ 1, 3, 3 }, DM_ALL, 1, (float[]){ 0, 0.5f, 0.5f },
            "max all ties split");
    grad_of(DM_RED_MIN, 1, s3, (float[]){ 1, -3, -3 }, DM_ALL, 1, (float[]){ 0, 0.5f, 0.5f },
            "min all ties split");
    grad_of(DM_RED_MAX, 1, s3, (float[]){ 1, 3, 3 }, 0, 1, (float[]){ 0, 1, 0 },
            "max dim ties -> first index");
    grad_of(DM_RED_MAX, 1, s3, (float[]){ 1, NAN, 3 }, DM_ALL, 1, (float[]){ 0, 1, 0 },
            "max all with nan");
    /* prod with zeros */
    grad_of(DM_RED_PROD, 1, s3, (float[]){ 2, 0, 3 }, DM_ALL, 1, (float[]){ 0, 6, 0 },
            "prod one zero");
    grad_of(DM_RED_PROD, 1, s3, (float[]){ 0, 2, 0 }, DM_ALL, 1, (float[]){ 0, 0, 0 },
            "prod two zeros");
    grad_of(DM_RED_PROD, 2, s22, (float[]){ 0, 2, 3, 4 }, 1, 1, (float[]){ 2, 0, 4, 3 },
            "prod dim with a zero");
    /* sum and mean */
    grad_of(DM_RED_MEAN, 2, s22, (float[]){ 1, 2, 3, 4 }, 0, 1,
            (float[]){ 0.5f, 0.5f, 0.5f, 0.5f }, "mean dim grad");
    grad_of(DM_RED_SUM, 2, s22, (float[]){ 1, 2, 3, 4 }, DM_ALL, 1, (float[]){ 1, 1, 1, 1 },
            "sum grad");
    /* var: 2 (x - mean) / (N - 1); std of a constant has zero gradient (PyTorch masks it) */
    grad_of(DM_RED_VAR, 1, s3, (float[]){ 1, 2, 6 }, DM_ALL, 1, (float[]){ -2, -1, 3 },
            "var grad");
    grad_of(DM_RED_STD, 1, s3, (float[]){ 4, 4, 4 }, DM_ALL, 1, (float[]){ 0, 0, 0 },
            "std of constant: grad 0");
    /* var of one element, correction 1: nan gradient as PyTorch */
    grad_of(DM_RED_VAR, 1, s1, (float[]){ 2 }, DM_ALL, 1, (float[]){ NAN }, "var N=1 grad nan");
}

/* ---- 6. autograd bookkeeping ----------------------------------------------------------- */

static void check_name(dm_tensor *y, const char *want)
{
    const char *got = y ? dm_grad_fn_name(y) : NULL;
    int ok = got && strcmp(got, want) == 0;
    if (!ok) printf("  grad_fn: want %s, got %s\n", want, got ? got : "(none)");
    CHECK(ok, want);
    dm_tensor_release(y);
}

static void test_names(void)
{
    dm_tensor *x = tu_rand(2, (int64_t[]){ 2, 3 }, -1, 1, 60), *v, *ix;
    dm_set_requires_grad(x, 1);
    check_name(dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1), "SumBackward0");
    check_name(dm_reduce(DM_RED_SUM, x, 1, 0, 1), "SumBackward1");
    check_name(dm_reduce(DM_RED_MEAN, x, DM_ALL, 1, 1), "MeanBackward0");
    check_name(dm_reduce(DM_RED_MEAN, x, 0, 0, 1), "MeanBackward1");
    check_name(dm_reduce(DM_RED_PROD, x, DM_ALL, 0, 1), "ProdBackward0");
    check_name(dm_reduce(DM_RED_PROD, x, 0, 0, 1), "ProdBackward1");
    check_name(dm_reduce(DM_RED_MAX, x, DM_ALL, 0, 1), "MaxBackward1");
    check_name(dm_reduce(DM_RED_MIN, x, DM_ALL, 0, 1), "MinBackward1");
    check_name(dm_reduce(DM_RED_MAX, x, 1, 0, 1), "MaxBackward0");
    check_name(dm_reduce(DM_RED_MIN, x, 0, 1, 1), "MinBackward0");
    check_name(dm_reduce(DM_RED_VAR, x, 0, 0, 1), "VarBackward0");
    check_name(dm_reduce(DM_RED_STD, x, DM_ALL, 0, 1), "StdBackward0");
    check_name(dm_softmax(x, 1), "SoftmaxBackward0");
    check_name(dm_log_softmax(x, 0), "LogSoftmaxBackward0");
    check_name(dm_sum_to(x, 1, (int64_t[]){ 3 }), "SumBackward1");
    dm_max_dim(x, 1, 0, 0, &v, &ix);
    CHECK(ix && !ix->requires_grad && !dm_grad_fn_name(ix), "max_dim indices carry no grad");
    check_name(v, "MaxBackward0");
    dm_tensor_release(ix);

    dm_tensor *a = dm_reduce(DM_RED_ARGMAX, x, 1, 0, 1);
    CHECK(a && !a->requires_grad && !dm_grad_fn_name(a), "argmax never records");
    dm_tensor_release(a);
    int prev = dm_set_grad_enabled(0);
    a = dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 1);
    CHECK(a && !a->requires_grad && !a->grad_fn, "no recording with grad mode off");
    dm_tensor_release(a);
    a = dm_sum_to(x, 1, (int64_t[]){ 3 });
    CHECK(a && !a->grad_fn, "sum_to records nothing with grad mode off");
    dm_tensor_release(a);
    dm_set_grad_enabled(prev);

    CHECK_ERR(dm_reduce(DM_RED_SUM, x, 2, 0, 1),
              "sum: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    CHECK_ERR(dm_reduce(DM_RED_VAR, x, -3, 0, 1),
              "var: dim -3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)");
    CHECK_ERR(dm_reduce((dm_redop)42, x, 0, 0, 1), "reduce: unknown reduction 42");
    dm_tensor_release(x);

    /* the graph is freed after backward: nothing stays alive */
    x = tu_rand(2, (int64_t[]){ 4, 5 }, -1, 1, 61);
    dm_set_requires_grad(x, 1);
    dm_tensor *y1 = dm_softmax(x, 1);
    dm_tensor *y2 = dm_reduce(DM_RED_STD, y1, 0, 1, 1);
    dm_tensor *y3 = dm_reduce(DM_RED_MAX, y2, DM_ALL, 0, 1);
    dm_tensor_release(y1);
    dm_tensor_release(y2);
    CHECK(dm_backward(y3, NULL, 0) == 0, "backward through a chain");
    CHECK(x->grad != NULL, "chain reaches the leaf");
    dm_tensor_release(y3);
    dm_tensor_release(x);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_values();
    test_max_dim();
    test_softmax();
    test_sum_to();
    test_sum_fast_paths();
    test_noncontig();
    test_gradcheck();
    test_grad_values();
    test_names();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_reduce");
}
