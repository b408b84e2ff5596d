/* test_optable.c -- every entry of the op table has a gradient check.
 *
 * The loop runs over every dm_op (and every variant that names a different rule: each unary
 * function, each loss).  For each it looks up a case below, runs it once to confirm the case
 * really records that op, then compares autograd with central differences.  Adding an op to
 * the table without adding a case here fails this test.
 *
 * Each case runs twice: in float64 (inputs, weights and the whole backward walk in double;
 * central differences with eps 1e-6 against a 1e-8 tolerance relative to max(1, |numeric|):
 * the honest error is below 5e-10 for every case, while one float32 rounding on the way, e.g.
 * a pass-through gradient sent through float32, shows as 2e-8 to 4e-8), and in float32 as a
 * smoke check of the float32 kernels and the engine's float32 path (finite differences in
 * float32 hide errors, hence the loose 2e-2). */
#include "testutil.h"
#include "../../core/internal.h"

typedef struct {
    dm_op op;
    int sub;                   /* -1: any */
    const char *name;
    tu_fn f;
    int n;                     /* inputs */
    int ndim[3];
    int64_t shape[3][4];       /* up to 4 dims (images: N x C x H x W) */
    float lo, hi;              /* input range */
    int grid;                  /* float64: inputs, weights and steps exact in float32 */
} gcase;

#define A (in[0])
#define B (in[1])
#define C (in[2])

static dm_tensor *f_view(dm_tensor *const *in, void *c) { (void)c; return dm_view(A, 2, (int64_t[]){3, 2}); }
static dm_tensor *f_transpose(dm_tensor *const *in, void *c) { (void)c; return dm_transpose(A, 0, 1); }
static dm_tensor *f_permute(dm_tensor *const *in, void *c) { (void)c; return dm_permute(A, (int[]){2, 0, 1}); }
static dm_tensor *f_narrow(dm_tensor *const *in, void *c) { (void)c; return dm_narrow(A, 1, 1, 2); }
static dm_tensor *f_select(dm_tensor *const *in, void *c) { (void)c; return dm_select(A, 0, 1); }
static dm_tensor *f_expand(dm_tensor *const *in, void *c) { (void)c; return dm_expand(A, 3, (int64_t[]){2, 2, 3}); }
static dm_tensor *f_clone(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *t = dm_transpose(A, 0, 1);
    dm_tensor *y = dm_contiguous(t);      /* a non-contiguous input makes a clone */
    dm_tensor_release(t);
    return y;
}

static dm_tensor *f_binary(dm_tensor *const *in, void *c) { return dm_binary(*(dm_binop *)c, A, B); }
static dm_binop b_add = DM_BIN_ADD, b_sub = DM_BIN_SUB, b_mul = DM_BIN_MUL, b_div = DM_BIN_DIV,
                b_pow = DM_BIN_POW, b_max = DM_BIN_MAXIMUM, b_min = DM_BIN_MINIMUM;
static dm_tensor *f_add(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_add); }
static dm_tensor *f_sub(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_sub); }
static dm_tensor *f_mul(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_mul); }
static dm_tensor *f_div(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_div); }
static dm_tensor *f_pow(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_pow); }
static dm_tensor *f_maximum(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_max); }
static dm_tensor *f_minimum(dm_tensor *const *in, void *c) { (void)c; return f_binary(in, &b_min); }

static dm_tensor *f_adds(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_ADD, A, 1.5f, 0); }
static dm_tensor *f_subs(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_SUB, A, 1.5f, 0); }
static dm_tensor *f_muls(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_MUL, A, -2.5f, 0); }
static dm_tensor *f_divs(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_DIV, A, 3.0f, 0); }
static dm_tensor *f_rsubs(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_SUB, A, 2.0f, 1); }
static dm_tensor *f_rdivs(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_DIV, A, 2.0f, 1); }
static dm_tensor *f_pows(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_POW, A, 2.5f, 0); }
static dm_tensor *f_rpows(dm_tensor *const *in, void *c) { (void)c; return dm_binary_scalar(DM_BIN_POW, A, 1.7f, 1); }

/* to the other floating dtype and back: the outer conversion records ToCopyBackward0 (in
   float64 through float32, exact for the case's grid inputs, see gcase.grid) */
static dm_tensor *f_to_dtype(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_dtype dt = A->dtype, other = dt == DM_FLOAT32 ? DM_FLOAT64 : DM_FLOAT32;
    dm_tensor *d = dm_to_dtype(A, other);
    dm_tensor *y = d ? dm_to_dtype(d, dt) : NULL;
    dm_tensor_release(d);
    return y;
}

static dm_unop cur_unop;
static dm_tensor *f_unary(dm_tensor *const *in, void *c) { (void)c; return dm_unary(cur_unop, A); }
static dm_tensor *f_clamp(dm_tensor *const *in, void *c) { (void)c; return dm_clamp(A, -0.5f, 0.5f); }
static dm_tensor *f_leaky(dm_tensor *const *in, void *c) { (void)c; return dm_leaky_relu(A, 0.1f); }
static dm_tensor *f_elu(dm_tensor *const *in, void *c) { (void)c; return dm_elu(A, 1.3f); }
static dm_tensor *f_where(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *cond = dm_binary_scalar(DM_BIN_GT, C, 0.0f, 0);
    dm_tensor *y = dm_where(cond, A, B);
    dm_tensor_release(cond);
    return y;
}

static dm_tensor *f_sum(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_SUM, A, 1, 0, 1); }
static dm_tensor *f_mean(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_MEAN, A, 0, 1, 1); }
static dm_tensor *f_prod(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_PROD, A, 1, 0, 1); }
static dm_tensor *f_maxdim(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_MAX, A, 1, 0, 1); }
static dm_tensor *f_maxall(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_MIN, A, DM_ALL, 0, 1); }
static dm_tensor *f_var(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_VAR, A, 1, 0, 1); }
static dm_tensor *f_std(dm_tensor *const *in, void *c) { (void)c; return dm_reduce(DM_RED_STD, A, DM_ALL, 0, 1); }
static dm_tensor *f_softmax(dm_tensor *const *in, void *c) { (void)c; return dm_softmax(A, 1); }
static dm_tensor *f_log_softmax(dm_tensor *const *in, void *c) { (void)c; return dm_log_softmax(A, 0); }

static dm_tensor *f_matmul(dm_tensor *const *in, void *c) { (void)c; return dm_matmul(A, B); }
static dm_tensor *f_linear(dm_tensor *const *in, void *c) { (void)c; return dm_linear(A, B, C); }
static dm_tensor *f_cat(dm_tensor *const *in, void *c) { (void)c; return dm_cat(2, (dm_tensor *[]){A, B}, 1); }
static dm_tensor *f_index_select(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *idx = dm_tensor_from_data(1, (int64_t[]){4}, (float[]){2, 0, 2, 1});
    dm_tensor *y = dm_index_select(A, 1, idx);
    dm_tensor_release(idx);
    return y;
}
static dm_tensor *f_dropout(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_rng *g = dm_rng_new(5);             /* the same mask on every call */
    dm_tensor *y = dm_dropout(A, 0.3, 1, g);
    dm_rng_free(g);
    return y;
}
static dm_tensor *f_batchnorm(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_batch_norm(A, NULL, NULL, B, C, 1, 0.1, 1e-5);
}

static dm_tensor *f_layer_norm(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_layer_norm(A, 2, (int64_t[]){3, 2}, B, C, 1e-5);
}
static dm_tensor *f_group_norm(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_group_norm(A, 2, B, C, 1e-5);
}

static dm_loss_kind cur_loss;
static dm_tensor *f_loss(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *y = NULL, *t = NULL;
    switch (cur_loss) {
    case DM_LOSS_BCE: {
        dm_tensor *p = dm_unary(DM_UN_SIGMOID, A);
        y = dm_bce_loss(p, B, NULL, DM_REDUCTION_MEAN);
        dm_tensor_release(p);
        return y;
    }
    case DM_LOSS_BCE_LOGITS: return dm_bce_with_logits_loss(A, B, NULL, NULL, DM_REDUCTION_SUM);
    case DM_LOSS_MSE: return dm_mse_loss(A, B, DM_REDUCTION_MEAN);
    case DM_LOSS_L1: return dm_l1_loss(A, B, DM_REDUCTION_NONE);
    case DM_LOSS_SMOOTH_L1: return dm_smooth_l1_loss(A, B, DM_REDUCTION_MEAN, 0.5);
    case DM_LOSS_HUBER: return dm_huber_loss(A, B, DM_REDUCTION_SUM, 0.7);
    case DM_LOSS_NLL: {
        dm_tensor *lp = dm_log_softmax(A, 1);
        t = dm_tensor_new_dtype(1, (int64_t[]){2}, DM_INT64);          /* classes 2, 0 */
        memcpy(dm_data_ptr(t), (int64_t[]){2, 0}, 2 * sizeof(int64_t));
        y = dm_nll_loss(lp, t, NULL, DM_REDUCTION_MEAN, -100);
        dm_tensor_release(lp);
        dm_tensor_release(t);
        return y;
    }
    case DM_LOSS_CROSS_ENTROPY:
        t = dm_tensor_new_dtype(1, (int64_t[]){2}, DM_INT64);          /* classes 1, 2 */
        memcpy(dm_data_ptr(t), (int64_t[]){1, 2}, 2 * sizeof(int64_t));
        y = dm_cross_entropy(A, t, NULL, DM_REDUCTION_MEAN, -100, 0.1);
        dm_tensor_release(t);
        return y;
    default: return NULL;
    }
}

/* a host-computed product with a host backward rule (a custom node): da = g b, db = g a */
static int custom_mul_bw(void *ud, const dm_tensor *g, int n, const dm_tensor *const *in,
                         dm_tensor **gin)
{
    (void)ud; (void)n;
    gin[0] = dm_mul(g, in[1]);
    gin[1] = dm_mul(g, in[0]);
    return gin[0] && gin[1] ? 0 : -1;
}
static dm_tensor *f_custom(dm_tensor *const *in, void *c)
{
    (void)c;
    int prev = dm_set_grad_enabled(0);
    dm_tensor *y = dm_mul(A, B);
    dm_set_grad_enabled(prev);
    if (y && dm_record_custom(y, 2, (const dm_tensor *const *)in, custom_mul_bw, NULL, NULL,
                              "CustomMulBackward")) {
        dm_tensor_release(y);
        return NULL;
    }
    return y;
}

/* in-place writes into a non-leaf: CopyBackwards (from B, broadcast), FillBackward2,
   ZeroBackward0, each taking y's history (y = 2 A) as an input that gets a zero gradient */
static dm_tensor *f_copy(dm_tensor *const *in, void *c)
{
    dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, A, 2.0f, 0);
    int k = *(const int *)c, rc = !y ? -1 : k == DM_COPY_COPY ? dm_copy_(y, B)
                                        : k == DM_COPY_FILL ? dm_fill_(y, 1.5f) : dm_zero_(y);
    if (rc) { dm_tensor_release(y); return NULL; }
    return y;
}
static const int copy_subs[] = { DM_COPY_COPY, DM_COPY_FILL, DM_COPY_ZERO };
static dm_tensor *f_copy_(dm_tensor *const *in, void *c) { (void)c; return f_copy(in, (void *)&copy_subs[0]); }
static dm_tensor *f_fill_(dm_tensor *const *in, void *c) { (void)c; return f_copy(in, (void *)&copy_subs[1]); }
static dm_tensor *f_zero_(dm_tensor *const *in, void *c) { (void)c; return f_copy(in, (void *)&copy_subs[2]); }

/* in place into a view of a non-leaf (CopySlices): y = 2 A; y[:, 1:3] += B (broadcast),
   then a column scaled (a rule that reads its inputs) */
static dm_tensor *f_copy_slices(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, A, 2.0f, 0);
    dm_tensor *v = y ? dm_narrow(y, 1, 1, 2) : NULL;
    int rc = v ? dm_add_(v, B, 1.0f) : -1;
    dm_tensor_release(v);
    if (rc) { dm_tensor_release(y); return NULL; }
    return y;
}

/* several-dim reductions, nan_to_num and the integer-division family (reduce_multi.c,
   bitwise.c) */
static dm_tensor *f_amax(dm_tensor *const *in, void *c) { (void)c; return dm_amax(A, 2, (int[]){0, 2}, 0); }
static dm_tensor *f_amin(dm_tensor *const *in, void *c) { (void)c; return dm_amin(A, 1, (int[]){-1}, 1); }
static dm_tensor *f_logsumexp(dm_tensor *const *in, void *c) { (void)c; return dm_logsumexp(A, 2, (int[]){2, 0}, 1); }
static double cur_p;
static dm_tensor *f_norm(dm_tensor *const *in, void *c) { (void)c; return dm_norm(A, cur_p, 2, (int[]){0, 1}, 0); }
#define NORM_CASE(name, p) \
    static dm_tensor *f_norm_##name(dm_tensor *const *in, void *c) { cur_p = p; return f_norm(in, c); }
NORM_CASE(2, 2) NORM_CASE(1, 1) NORM_CASE(3, 3) NORM_CASE(half, 0.5) NORM_CASE(1_5, 1.5)
NORM_CASE(inf, INFINITY) NORM_CASE(ninf, -INFINITY) NORM_CASE(0, 0)
static dm_tensor *f_norm_all(dm_tensor *const *in, void *c) { (void)c; return dm_norm(A, 2, 0, NULL, 0); }
static dm_tensor *f_nan_to_num(dm_tensor *const *in, void *c)
{
    (void)c;                                  /* log of the negative inputs: nan -> 0 */
    dm_tensor *l = dm_unary(DM_UN_LOG, A);
    dm_tensor *y = l ? dm_nan_to_num(l, 0, NULL, NULL) : NULL;
    dm_tensor_release(l);
    return y;
}
/* a' = 2a + 0.5 in [2.5, 2.7], b in [1, 1.1]: a'/b in (2.27, 2.7), away from the jumps */
static dm_tensor *divmod_case(dm_tensor *const *in, dm_binop2 op)
{
    dm_tensor *a2 = dm_binary_scalar(DM_BIN_MUL, A, 2.0f, 0);
    dm_tensor *a3 = a2 ? dm_binary_scalar(DM_BIN_ADD, a2, 0.5f, 0) : NULL;
    dm_tensor *y = a3 ? dm_binop2_apply(op, a3, B) : NULL;
    dm_tensor_release(a2);
    dm_tensor_release(a3);
    return y;
}
static dm_tensor *f_remainder(dm_tensor *const *in, void *c) { (void)c; return divmod_case(in, DM_B2_REMAINDER); }
static dm_tensor *f_fmod(dm_tensor *const *in, void *c) { (void)c; return divmod_case(in, DM_B2_FMOD); }
static dm_tensor *f_floor_divide(dm_tensor *const *in, void *c) { (void)c; return divmod_case(in, DM_B2_FLOOR_DIVIDE); }
/* index tensors for the gather/scatter/sort cases: int64, 0-based */
static dm_tensor *i64(int ndim, const int64_t *shape, const int64_t *v)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_INT64);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    memcpy(dm_data_ptr(t), v, (size_t)n * sizeof *v);
    return t;
}
static dm_tensor *f_gather(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *ix = i64(2, (int64_t[]){3, 2}, (int64_t[]){0, 3, 2, 2, 1, 0});
    dm_tensor *y = dm_gather(A, 1, ix);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_scatter(dm_tensor *const *in, void *c)
{
    (void)c;                 /* no position written twice: src's gradient is then exact */
    dm_tensor *ix = i64(2, (int64_t[]){2, 4}, (int64_t[]){0, 1, 2, 0, 2, 0, 1, 1});
    dm_tensor *y = dm_scatter(A, 0, ix, B, DM_SCATTER_NONE);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_scatter_add(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *ix = i64(2, (int64_t[]){2, 3}, (int64_t[]){0, 1, 2, 0, 0, 1});
    dm_tensor *y = dm_scatter_add(A, 0, ix, B);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_index_add(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *ix = i64(1, (int64_t[]){3}, (int64_t[]){2, 0, 2});
    dm_tensor *y = dm_index_add(A, 0, ix, B, 1.5);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_sort(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *v, *ix;
    if (dm_sort(A, 1, 1, 0, &v, &ix)) return NULL;
    dm_tensor_release(ix);
    return v;
}
static dm_tensor *f_topk(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *v, *ix;
    if (dm_topk(A, 2, 1, 1, 1, &v, &ix)) return NULL;
    dm_tensor_release(ix);
    return v;
}
static dm_tensor *f_kthvalue(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *v, *ix;
    if (dm_kthvalue(A, 3, 1, 0, &v, &ix)) return NULL;
    dm_tensor_release(ix);
    return v;
}
static dm_tensor *f_cumsum(dm_tensor *const *in, void *c) { (void)c; return dm_cumsum(A, 1); }
static dm_tensor *f_cumprod(dm_tensor *const *in, void *c) { (void)c; return dm_cumprod(A, 0); }
/* shape_ops.c: a view across dims 0 and 2, a vector onto a matrix, triangles, a flip */
static dm_tensor *f_diagonal(dm_tensor *const *in, void *c) { (void)c; return dm_diagonal(A, 1, 0, 2); }
static dm_tensor *f_diag(dm_tensor *const *in, void *c) { (void)c; return dm_diag(A, -1); }
static dm_tensor *f_tril(dm_tensor *const *in, void *c) { (void)c; return dm_tril(A, -1); }
static dm_tensor *f_triu(dm_tensor *const *in, void *c) { (void)c; return dm_triu(A, 1); }
static dm_tensor *f_flip(dm_tensor *const *in, void *c) { (void)c; return dm_flip(A, 2, (int[]){0, -1}); }
/* conv.c: conv2d plain and with every option, conv1d, conv_transpose2d with groups */
static dm_tensor *f_conv2d(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_conv2d(in[0], in[1], in[2], (int64_t[]){1, 1}, (int64_t[]){0, 0},
                     (int64_t[]){1, 1}, 1);
}
static dm_tensor *f_conv2d_opts(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_conv2d(in[0], in[1], in[2], (int64_t[]){2, 1}, (int64_t[]){1, 2},
                     (int64_t[]){2, 1}, 2);
}
static dm_tensor *f_conv1d(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_conv1d(in[0], in[1], in[2], (int64_t[]){2}, (int64_t[]){1}, (int64_t[]){1}, 1);
}
static dm_tensor *f_conv_transpose2d(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_conv_transpose2d(in[0], in[1], in[2], (int64_t[]){2, 1}, (int64_t[]){1, 0},
                               (int64_t[]){1, 0}, (int64_t[]){1, 2}, 2);
}
/* pad.c: constant with a crop, reflect and replicate of the last two dims, circular of one */
static dm_tensor *f_pad_constant(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_pad(A, 6, (int64_t[]){1, -1, 2, 0, 0, 1}, DM_PAD_CONSTANT, 0.5);
}
static dm_tensor *f_pad_reflect(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_pad(A, 4, (int64_t[]){2, 1, 1, 2}, DM_PAD_REFLECT, 0);
}
static dm_tensor *f_pad_replicate(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_pad(A, 4, (int64_t[]){2, 1, 0, 3}, DM_PAD_REPLICATE, 0);
}
static dm_tensor *f_pad_circular(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_pad(A, 2, (int64_t[]){3, 2}, DM_PAD_CIRCULAR, 0);
}
/* upsample.c: nearest 2d by a scale factor, bilinear both ways, linear 1d */
static dm_tensor *f_up_nearest(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_upsample(A, 2, (int64_t[]){5, 4}, (double[]){1.7, 0}, DM_UPSAMPLE_NEAREST, 0);
}
static dm_tensor *f_up_bilinear(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_upsample(A, 2, (int64_t[]){5, 3}, NULL, DM_UPSAMPLE_LINEAR, 0);
}
static dm_tensor *f_up_bilinear_ac(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_upsample(A, 2, (int64_t[]){4, 5}, NULL, DM_UPSAMPLE_LINEAR, 1);
}
static dm_tensor *f_up_linear(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_upsample(A, 1, (int64_t[]){7}, (double[]){2.5}, DM_UPSAMPLE_LINEAR, 0);
}
/* pool.c: max pool (the float32 2x2 fast path too), avg pool with every option */
static dm_tensor *f_max_pool2d(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_max_pool2d(A, (int64_t[]){2, 2}, (int64_t[]){2, 2}, (int64_t[]){0, 0},
                         (int64_t[]){1, 1}, 0, NULL);
}
static dm_tensor *f_max_pool2d_opts(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_max_pool2d(A, (int64_t[]){3, 2}, (int64_t[]){2, 1}, (int64_t[]){1, 1},
                         (int64_t[]){1, 2}, 1, NULL);
}
static dm_tensor *f_avg_pool2d(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_avg_pool2d(A, (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, 1, 1, 0);
}
static dm_tensor *f_avg_pool2d_opts(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_avg_pool2d(A, (int64_t[]){2, 3}, (int64_t[]){1, 2}, (int64_t[]){1, 1}, 1, 0, 3);
}
static dm_tensor *f_adaptive_avg(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_adaptive_avg_pool2d(A, (int64_t[]){3, 4});
}
static dm_tensor *f_adaptive_max(dm_tensor *const *in, void *c)
{
    (void)c;
    return dm_adaptive_max_pool2d(A, (int64_t[]){3, 2}, NULL);
}
static dm_tensor *f_max_unpool(dm_tensor *const *in, void *c)
{
    (void)c;                 /* A [2 x 2 x 3] into 2 planes of 4 x 6, each index once */
    dm_tensor *ix = i64(3, (int64_t[]){2, 2, 3},
                        (int64_t[]){0, 3, 5, 13, 14, 23, 7, 2, 10, 12, 20, 17});
    dm_tensor *y = dm_max_unpool2d(A, ix, (int64_t[]){4, 6});
    dm_tensor_release(ix);
    return y;
}
/* embedding.c: ids with repeats; bags of every mode (padding_idx's entries are left out of a
   bag's forward too, so its gradient is the true one; embedding's padding_idx and
   scale_grad_by_freq change the gradient on purpose: tests/embedding_spec.lua checks them) */
static dm_tensor *f_embedding(dm_tensor *const *in, void *c)
{
    (void)c;                 /* A [5 x 3] */
    dm_tensor *ix = i64(2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 1, 2, 4, 2});
    dm_tensor *y = dm_embedding(A, ix, -1, 0);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_bag_sum(dm_tensor *const *in, void *c)
{
    (void)c;                 /* A [5 x 3], B [6] per-sample weights; bags [0, 2), [2, 2), [2, 6) */
    dm_tensor *ix = i64(1, (int64_t[]){6}, (int64_t[]){0, 3, 1, 3, 4, 0});
    dm_tensor *of = i64(1, (int64_t[]){3}, (int64_t[]){0, 2, 2});
    dm_tensor *y = dm_embedding_bag(A, ix, of, DM_BAG_SUM, B, 0, -1, 0);
    dm_tensor_release(ix); dm_tensor_release(of);
    return y;
}
static dm_tensor *f_bag_mean(dm_tensor *const *in, void *c)
{
    (void)c;                 /* A [5 x 3]; 2 bags of 3, padding_idx 2 left out */
    dm_tensor *ix = i64(2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 4, 1, 1, 3});
    dm_tensor *y = dm_embedding_bag(A, ix, NULL, DM_BAG_MEAN, NULL, 0, 2, 0);
    dm_tensor_release(ix);
    return y;
}
static dm_tensor *f_bag_max(dm_tensor *const *in, void *c)
{
    (void)c;                 /* A [5 x 3]; include_last_offset: bags [0, 3), [3, 5) */
    dm_tensor *ix = i64(1, (int64_t[]){5}, (int64_t[]){0, 2, 4, 1, 3});
    dm_tensor *of = i64(1, (int64_t[]){3}, (int64_t[]){0, 3, 5});
    dm_tensor *y = dm_embedding_bag(A, ix, of, DM_BAG_MAX, NULL, 1, -1, 0);
    dm_tensor_release(ix); dm_tensor_release(of);
    return y;
}
/* indexing (index.c) */
static dm_tensor *i64v(int n, const int64_t *v)
{
    dm_tensor *t = dm_tensor_new_dtype(1, (int64_t[]){n}, DM_INT64);
    if (t) memcpy(dm_data_ptr(t), v, (size_t)n * sizeof *v);
    return t;
}
static dm_tensor *f_slice(dm_tensor *const *in, void *c) { (void)c; return dm_slice(A, 1, 0, 2, 2); }
static dm_tensor *f_index(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *idx = i64v(4, (int64_t[]){2, 0, 2, -2});         /* repeats sum back */
    dm_tensor *y = dm_index(A, 2, (const dm_tensor *[]){ NULL, idx });
    dm_tensor_release(idx);
    return y;
}
static dm_tensor *f_index_put(dm_tensor *const *in, void *c)
{
    (void)c;
    /* rows 1 and 3 of the window A[:, 0:3:2] = B */
    dm_tensor *idx = i64v(2, (int64_t[]){1, 3});
    dm_tensor *y = dm_index_put_ex(A, (int64_t[]){0, 0}, (int64_t[]){4, 2}, (int64_t[]){1, 2},
                                   1, (const dm_tensor *[]){ idx }, B, 0);
    dm_tensor_release(idx);
    return y;
}
static dm_tensor *f_index_put_acc(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *idx = i64v(3, (int64_t[]){1, 1, 0});
    dm_tensor *y = dm_index_put(A, 1, (const dm_tensor *[]){ idx }, B, 1);
    dm_tensor_release(idx);
    return y;
}
static dm_tensor *f_masked_fill(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *m = dm_tensor_new_dtype(1, (int64_t[]){3}, DM_BOOL);
    if (!m) return NULL;
    memcpy(dm_data_ptr(m), (uint8_t[]){1, 0, 1}, 3);
    dm_tensor *y = dm_masked_fill(A, m, -0.5);
    dm_tensor_release(m);
    return y;
}

#define S1(a) 1, {{a}}
/* rnn.c: the layer's tensors are views carved out of the case's inputs (so every gradient
   reaches one): x = A [N x I], B the flat state(s) (h0, then c0), C the flat weights and
   biases (w_ih, w_hh, b_ih, b_hh, w_hr) */
static dm_tensor *rnn_part(const dm_tensor *t, int64_t *o, int64_t d0, int64_t d1)
{
    dm_tensor *nt = dm_narrow(t, 0, *o, d1 ? d0 * d1 : d0);
    *o += d1 ? d0 * d1 : d0;
    if (!d1) return nt;
    dm_tensor *v = dm_view(nt, 2, (int64_t[]){ d0, d1 });
    dm_tensor_release(nt);
    return v;
}
static dm_tensor *rnn_case(dm_tensor *const *in, int mode, int rev, int64_t T, const int64_t *bs,
                           int64_t Bn, int64_t H, int64_t Ho, int bias)
{
    int64_t G = mode == DM_RNN_LSTM ? 4 : mode == DM_RNN_GRU ? 3 : 1, I = A->shape[1], o = 0;
    dm_tensor *t[8] = {0};
    t[1] = rnn_part(B, &o, Bn, Ho);
    if (mode == DM_RNN_LSTM) t[2] = rnn_part(B, &o, Bn, H);
    o = 0;
    t[3] = rnn_part(C, &o, G * H, I);
    t[4] = rnn_part(C, &o, G * H, Ho);
    if (bias) { t[5] = rnn_part(C, &o, G * H, 0); t[6] = rnn_part(C, &o, G * H, 0); }
    if (Ho != H) t[7] = rnn_part(C, &o, Ho, H);
    dm_tensor *y = dm_rnn_layer(mode, rev, A, T, bs, t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
    for (int k = 0; k < 8; k++) dm_tensor_release(t[k]);
    return y;
}
static dm_tensor *f_rnn_tanh(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_TANH, 0, 3, NULL, 2, 4, 4, 1);
}
static dm_tensor *f_rnn_relu_rev_packed(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_RELU, 1, 3, (int64_t[]){3, 2, 1}, 3, 4, 4, 1);
}
static dm_tensor *f_lstm(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_LSTM, 0, 3, NULL, 2, 3, 3, 1);
}
static dm_tensor *f_lstm_rev_proj_packed(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_LSTM, 1, 3, (int64_t[]){2, 2, 1}, 2, 3, 2, 1);
}
static dm_tensor *f_lstm_proj_packed(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_LSTM, 0, 3, (int64_t[]){3, 2, 1}, 3, 3, 2, 0);
}
static dm_tensor *f_gru_packed(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_GRU, 0, 2, (int64_t[]){3, 1}, 3, 3, 3, 1);
}
static dm_tensor *f_gru_rev_nobias(dm_tensor *const *in, void *c)
{
    (void)c;
    return rnn_case(in, DM_RNN_GRU, 1, 2, NULL, 2, 3, 3, 0);
}

/* the two-input math functions (bmath.c); copysign's b shifted to take both signs */
static dm_tensor *f_atan2(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_ATAN2, A, B); }
static dm_tensor *f_hypot(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_HYPOT, A, B); }
static dm_tensor *f_xlogy(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_XLOGY, A, B); }
static dm_tensor *f_logaddexp(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_LOGADDEXP, A, B); }
static dm_tensor *f_logaddexp2(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_LOGADDEXP2, A, B); }
static dm_tensor *f_fmax(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_FMAX, A, B); }
static dm_tensor *f_fmin(dm_tensor *const *in, void *c) { (void)c; return dm_bmath_apply(DM_BM_FMIN, A, B); }
static dm_tensor *f_copysign(dm_tensor *const *in, void *c)
{
    (void)c;
    dm_tensor *b = dm_binary_scalar(DM_BIN_SUB, B, 0.75f, 0);
    dm_tensor *y = b ? dm_bmath_apply(DM_BM_COPYSIGN, A, b) : NULL;
    dm_tensor_release(b);
    return y;
}
static dm_tensor *f_lerp(dm_tensor *const *in, void *c) { (void)c; return dm_lerp(A, B, C); }
static dm_tensor *f_lerp_scalar(dm_tensor *const *in, void *c) { (void)c; return dm_lerp_scalar(A, B, 0.7); }

static const gcase cases[] = {
    { DM_OP_VIEW, -1, "view", f_view, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_TRANSPOSE, -1, "transpose", f_transpose, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_PERMUTE, -1, "permute", f_permute, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NARROW, -1, "narrow", f_narrow, 1, {2}, {{2, 4}}, -1, 1, 0 },
    { DM_OP_SELECT, -1, "select", f_select, 1, {2}, {{3, 2}}, -1, 1, 0 },
    { DM_OP_EXPAND, -1, "expand", f_expand, 1, {2}, {{1, 3}}, -1, 1, 0 },
    { DM_OP_CLONE, -1, "clone", f_clone, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_ADD, -1, "add", f_add, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_SUB, -1, "sub", f_sub, 2, {2, 2}, {{2, 1}, {1, 3}}, -1, 1, 0 },
    { DM_OP_MUL, -1, "mul", f_mul, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_DIV, -1, "div", f_div, 2, {2, 2}, {{2, 3}, {2, 3}}, 0.5f, 2, 0 },
    { DM_OP_POW, -1, "pow", f_pow, 2, {2, 1}, {{2, 3}, {3}}, 0.5f, 2, 0 },
    { DM_OP_MAXIMUM, -1, "maximum", f_maximum, 2, {2, 2}, {{2, 3}, {2, 3}}, -1, 1, 0 },
    { DM_OP_MINIMUM, -1, "minimum", f_minimum, 2, {2, 2}, {{2, 3}, {2, 3}}, -1, 1, 0 },
    { DM_OP_ADDS, DM_BIN_ADD, "add scalar", f_adds, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_ADDS, DM_BIN_SUB, "sub scalar", f_subs, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_MULS, DM_BIN_MUL, "mul scalar", f_muls, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_MULS, DM_BIN_DIV, "div scalar", f_divs, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_RSUBS, -1, "scalar - x", f_rsubs, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_RDIVS, -1, "scalar / x", f_rdivs, 1, {2}, {{2, 3}}, 0.5f, 2, 0 },
    { DM_OP_POWS, -1, "x ^ scalar", f_pows, 1, {2}, {{2, 3}}, 0.5f, 2, 0 },
    { DM_OP_RPOWS, -1, "scalar ^ x", f_rpows, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_UNARY, -2, "unary", f_unary, 1, {2}, {{2, 3}}, 0.3f, 1.2f, 0 },
    { DM_OP_CLAMP, -1, "clamp", f_clamp, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_LEAKY_RELU, -1, "leaky_relu", f_leaky, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_ELU, -1, "elu", f_elu, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_WHERE, -1, "where", f_where, 3, {2, 2, 2}, {{2, 3}, {2, 3}, {2, 3}}, -1, 1, 0 },
    { DM_OP_SUM, -1, "sum", f_sum, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_MEAN, -1, "mean", f_mean, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_PROD, -1, "prod", f_prod, 1, {2}, {{2, 3}}, 0.5f, 1.5f, 0 },
    { DM_OP_MAXMIN, -1, "max(dim)", f_maxdim, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_MAXMIN_ALL, -1, "min()", f_maxall, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_VAR, -1, "var", f_var, 1, {2}, {{2, 4}}, -1, 1, 0 },
    { DM_OP_STD, -1, "std", f_std, 1, {2}, {{2, 4}}, -1, 1, 0 },
    { DM_OP_SOFTMAX, -1, "softmax", f_softmax, 1, {2}, {{2, 4}}, -2, 2, 0 },
    { DM_OP_LOG_SOFTMAX, -1, "log_softmax", f_log_softmax, 1, {2}, {{3, 2}}, -2, 2, 0 },
    { DM_OP_MATMUL, -1, "matmul", f_matmul, 2, {2, 2}, {{2, 3}, {3, 4}}, -1, 1, 0 },
    { DM_OP_LINEAR, -1, "linear", f_linear, 3, {2, 2, 1}, {{4, 3}, {2, 3}, {2}}, -1, 1, 0 },
    { DM_OP_CAT, -1, "cat", f_cat, 2, {2, 2}, {{2, 3}, {2, 1}}, -1, 1, 0 },
    { DM_OP_INDEX_SELECT, -1, "index_select", f_index_select, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_TO_DTYPE, -1, "to_dtype", f_to_dtype, 1, {2}, {{2, 3}}, -1, 1, 1 },
    { DM_OP_DROPOUT, -1, "dropout", f_dropout, 1, {2}, {{4, 5}}, -1, 1, 0 },
    { DM_OP_BATCHNORM, -1, "batch_norm", f_batchnorm, 3, {2, 1, 1}, {{5, 3}, {3}, {3}}, -1, 1, 0 },
    { DM_OP_LAYER_NORM, -1, "layer_norm", f_layer_norm, 3, {3, 2, 2}, {{2, 3, 2}, {3, 2}, {3, 2}}, -1, 1, 0 },
    { DM_OP_GROUP_NORM, -1, "group_norm", f_group_norm, 3, {4, 1, 1}, {{2, 4, 2, 2}, {4}, {4}}, -1, 1, 0 },
    { DM_OP_BATCHNORM, -1, "batch_norm [N x C x H x W]", f_batchnorm, 3, {4, 1, 1}, {{2, 3, 2, 2}, {3}, {3}}, -1, 1, 0 },
    { DM_OP_LOSS, -3, "loss", f_loss, 2, {2, 2}, {{2, 3}, {2, 3}}, 0.1f, 0.9f, 0 },
    { DM_OP_CUSTOM, -1, "custom", f_custom, 2, {2, 2}, {{2, 3}, {2, 3}}, -1, 1, 0 },
    { DM_OP_AMAX, -1, "amax", f_amax, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_AMIN, -1, "amin", f_amin, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_LOGSUMEXP, -1, "logsumexp", f_logsumexp, 1, {3}, {{2, 3, 2}}, -2, 2, 0 },
    { DM_OP_NORM, -1, "norm p=2", f_norm_2, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm p=1", f_norm_1, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm p=3", f_norm_3, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm p=0.5", f_norm_half, 1, {3}, {{2, 3, 2}}, 0.3f, 1.2f, 0 },
    { DM_OP_NORM, -1, "norm p=1.5", f_norm_1_5, 1, {3}, {{2, 3, 2}}, 0.3f, 1.2f, 0 },
    { DM_OP_NORM, -1, "norm p=inf", f_norm_inf, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm p=-inf", f_norm_ninf, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm p=0", f_norm_0, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_NORM, -1, "norm (all)", f_norm_all, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_NAN_TO_NUM, -1, "nan_to_num", f_nan_to_num, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_REMAINDER, -1, "remainder", f_remainder, 2, {2, 1}, {{2, 3}, {3}}, 1.0f, 1.1f, 0 },
    { DM_OP_FMOD, -1, "fmod", f_fmod, 2, {2, 1}, {{2, 3}, {3}}, 1.0f, 1.1f, 0 },
    { DM_OP_FLOOR_DIVIDE, -1, "floor_divide", f_floor_divide, 2, {2, 1}, {{2, 3}, {3}}, 1.0f, 1.1f, 0 },
    { DM_OP_GATHER, -1, "gather", f_gather, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_SCATTER, -1, "scatter", f_scatter, 2, {2, 2}, {{3, 4}, {2, 4}}, -1, 1, 0 },
    { DM_OP_SCATTER_ADD, -1, "scatter_add", f_scatter_add, 2, {2, 2}, {{3, 4}, {2, 3}}, -1, 1, 0 },
    { DM_OP_INDEX_ADD, -1, "index_add", f_index_add, 2, {2, 2}, {{4, 3}, {3, 3}}, -1, 1, 0 },
    { DM_OP_SORT, -1, "sort", f_sort, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_TOPK, -1, "topk", f_topk, 1, {2}, {{3, 5}}, -1, 1, 0 },
    { DM_OP_KTHVALUE, -1, "kthvalue", f_kthvalue, 1, {2}, {{3, 5}}, -1, 1, 0 },
    { DM_OP_CUMSUM, -1, "cumsum", f_cumsum, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_CUMPROD, -1, "cumprod", f_cumprod, 1, {2}, {{3, 4}}, 0.5f, 1.5f, 0 },
    { DM_OP_DIAGONAL, -1, "diagonal", f_diagonal, 1, {3}, {{3, 2, 4}}, -1, 1, 0 },
    { DM_OP_DIAG, -1, "diag", f_diag, 1, {1}, {{3}}, -1, 1, 0 },
    { DM_OP_TRIL, -1, "tril", f_tril, 1, {3}, {{2, 3, 4}}, -1, 1, 0 },
    { DM_OP_TRIU, -1, "triu", f_triu, 1, {2}, {{3, 4}}, -1, 1, 0 },
    { DM_OP_FLIP, -1, "flip", f_flip, 1, {3}, {{2, 3, 2}}, -1, 1, 0 },
    { DM_OP_SLICE, -1, "slice", f_slice, 1, {2}, {{2, 4}}, -1, 1, 0 },
    { DM_OP_INDEX, -1, "index", f_index, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_INDEX_PUT, -1, "index_put window", f_index_put, 2, {2, 1}, {{4, 3}, {2}}, -1, 1, 0 },
    { DM_OP_INDEX_PUT, -1, "index_put accumulate", f_index_put_acc, 2, {2, 2}, {{3, 2}, {3, 2}}, -1, 1, 0 },
    { DM_OP_MASKED_FILL, -1, "masked_fill", f_masked_fill, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_COPY, DM_COPY_COPY, "copy_", f_copy_, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_COPY, DM_COPY_FILL, "fill_", f_fill_, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_COPY, DM_COPY_ZERO, "zero_", f_zero_, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_COPY_SLICES, -1, "copy_slices", f_copy_slices, 2, {2, 1}, {{2, 3}, {2}}, -1, 1, 0 },
    { DM_OP_PAD, -1, "pad constant", f_pad_constant, 1, {3}, {{2, 3, 3}}, -1, 1, 0 },
    { DM_OP_PAD, -1, "pad reflect", f_pad_reflect, 1, {4}, {{1, 2, 3, 4}}, -1, 1, 0 },
    { DM_OP_PAD, -1, "pad replicate", f_pad_replicate, 1, {4}, {{2, 1, 3, 3}}, -1, 1, 0 },
    { DM_OP_PAD, -1, "pad circular", f_pad_circular, 1, {3}, {{2, 2, 4}}, -1, 1, 0 },
    { DM_OP_UPSAMPLE, 2, "upsample nearest", f_up_nearest, 1, {4}, {{1, 2, 3, 3}}, -1, 1, 0 },
    { DM_OP_UPSAMPLE, 3, "upsample bilinear", f_up_bilinear, 1, {4}, {{2, 1, 3, 4}}, -1, 1, 0 },
    { DM_OP_UPSAMPLE, 3, "upsample bilinear align", f_up_bilinear_ac, 1, {4}, {{1, 2, 2, 3}}, -1, 1, 0 },
    { DM_OP_UPSAMPLE, 1, "upsample linear", f_up_linear, 1, {3}, {{2, 2, 3}}, -1, 1, 0 },
    { DM_OP_CONV, 0, "conv2d", f_conv2d, 3, {4, 4, 1}, {{2, 2, 5, 4}, {3, 2, 3, 2}, {3}}, -1, 1, 0 },
    { DM_OP_CONV, 0, "conv2d stride padding dilation groups", f_conv2d_opts, 3, {4, 4, 1},
      {{2, 4, 6, 5}, {6, 2, 2, 3}, {6}}, -1, 1, 0 },
    { DM_OP_CONV, 0, "conv1d", f_conv1d, 3, {3, 3, 1}, {{2, 3, 7}, {4, 3, 3}, {4}}, -1, 1, 0 },
    { DM_OP_CONV, 1, "conv_transpose2d", f_conv_transpose2d, 3, {4, 4, 1},
      {{2, 4, 3, 3}, {4, 3, 2, 3}, {6}}, -1, 1, 0 },
    { DM_OP_MAX_POOL2D, -1, "max_pool2d 2x2", f_max_pool2d, 1, {4}, {{2, 2, 4, 5}}, -1, 1, 0 },
    { DM_OP_MAX_POOL2D, -1, "max_pool2d padded dilated ceil", f_max_pool2d_opts, 1, {3}, {{2, 5, 6}}, -1, 1, 0 },
    { DM_OP_AVG_POOL2D, -1, "avg_pool2d padded ceil", f_avg_pool2d, 1, {4}, {{1, 2, 5, 5}}, -1, 1, 0 },
    { DM_OP_AVG_POOL2D, -1, "avg_pool2d exclude pad, divisor", f_avg_pool2d_opts, 1, {3}, {{2, 4, 5}}, -1, 1, 0 },
    { DM_OP_ADAPTIVE_AVG_POOL2D, -1, "adaptive_avg_pool2d", f_adaptive_avg, 1, {4}, {{2, 2, 5, 7}}, -1, 1, 0 },
    { DM_OP_ADAPTIVE_MAX_POOL2D, -1, "adaptive_max_pool2d", f_adaptive_max, 1, {3}, {{2, 7, 5}}, -1, 1, 0 },
    { DM_OP_MAX_UNPOOL2D, -1, "max_unpool2d", f_max_unpool, 1, {3}, {{2, 2, 3}}, -1, 1, 0 },
    { DM_OP_EMBEDDING, -1, "embedding", f_embedding, 1, {2}, {{5, 3}}, -1, 1, 0 },
    { DM_OP_EMBEDDING_BAG, -1, "embedding_bag sum offsets per_sample_weights", f_bag_sum, 2, {2, 1}, {{5, 3}, {6}}, -1, 1, 0 },
    { DM_OP_EMBEDDING_BAG, -1, "embedding_bag mean padding", f_bag_mean, 1, {2}, {{5, 3}}, -1, 1, 0 },
    { DM_OP_EMBEDDING_BAG, -1, "embedding_bag max include_last_offset", f_bag_max, 1, {2}, {{5, 3}}, -1, 1, 0 },
    { DM_OP_RNN, 0, "rnn tanh", f_rnn_tanh, 3, {2, 1, 1}, {{6, 3}, {8}, {36}}, -1, 1, 0 },
    { DM_OP_RNN, 5, "rnn relu reverse packed", f_rnn_relu_rev_packed, 3, {2, 1, 1},
      {{6, 3}, {12}, {36}}, -1, 1, 0 },
    { DM_OP_RNN, 2, "lstm", f_lstm, 3, {2, 1, 1}, {{6, 2}, {12}, {84}}, -1, 1, 0 },
    { DM_OP_RNN, 6, "lstm reverse proj packed", f_lstm_rev_proj_packed, 3, {2, 1, 1},
      {{5, 2}, {10}, {78}}, -1, 1, 0 },
    { DM_OP_RNN, 2, "lstm proj packed no bias", f_lstm_proj_packed, 3, {2, 1, 1},
      {{6, 2}, {15}, {54}}, -1, 1, 0 },
    { DM_OP_RNN, 3, "gru packed", f_gru_packed, 3, {2, 1, 1}, {{4, 2}, {9}, {63}}, -1, 1, 0 },
    { DM_OP_RNN, 7, "gru reverse no bias", f_gru_rev_nobias, 3, {2, 1, 1}, {{4, 2}, {6}, {45}},
      -1, 1, 0 },
    /* the unary functions whose domain the generic unary case leaves */
    { DM_OP_UNARY, DM_UN_ASIN, "asin", f_unary, 1, {2}, {{2, 3}}, -0.8f, 0.8f, 0 },
    { DM_OP_UNARY, DM_UN_ACOS, "acos", f_unary, 1, {2}, {{2, 3}}, -0.8f, 0.8f, 0 },
    { DM_OP_UNARY, DM_UN_ATANH, "atanh", f_unary, 1, {2}, {{2, 3}}, -0.8f, 0.8f, 0 },
    { DM_OP_UNARY, DM_UN_ACOSH, "acosh", f_unary, 1, {2}, {{2, 3}}, 1.2f, 3, 0 },
    { DM_OP_UNARY, DM_UN_TAN, "tan", f_unary, 1, {2}, {{2, 3}}, -1, 1, 0 },
    { DM_OP_UNARY, DM_UN_FRAC, "frac", f_unary, 1, {2}, {{2, 3}}, 0.1f, 0.9f, 0 },
    { DM_OP_UNARY, DM_UN_TRUNC, "trunc", f_unary, 1, {2}, {{2, 3}}, 0.1f, 0.9f, 0 },
    { DM_OP_UNARY, DM_UN_ERFINV, "erfinv", f_unary, 1, {2}, {{2, 3}}, -0.8f, 0.8f, 0 },
    { DM_OP_UNARY, DM_UN_LOGIT, "logit", f_unary, 1, {2}, {{2, 3}}, 0.2f, 0.8f, 0 },
    { DM_OP_UNARY, DM_UN_DIGAMMA, "digamma", f_unary, 1, {2}, {{2, 3}}, -2.8f, -2.2f, 0 },
    { DM_OP_ATAN2, -1, "atan2", f_atan2, 2, {2, 1}, {{2, 3}, {3}}, 0.3f, 1.2f, 0 },
    { DM_OP_HYPOT, -1, "hypot", f_hypot, 2, {2, 1}, {{2, 3}, {3}}, 0.3f, 1.2f, 0 },
    { DM_OP_XLOGY, -1, "xlogy", f_xlogy, 2, {2, 1}, {{2, 3}, {3}}, 0.3f, 1.2f, 0 },
    { DM_OP_LOGADDEXP, -1, "logaddexp", f_logaddexp, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_LOGADDEXP2, -1, "logaddexp2", f_logaddexp2, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_COPYSIGN, -1, "copysign", f_copysign, 2, {2, 2}, {{2, 3}, {2, 3}}, 0.3f, 1.2f, 0 },
    { DM_OP_FMAX, -1, "fmax", f_fmax, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_FMIN, -1, "fmin", f_fmin, 2, {2, 2}, {{2, 3}, {2, 3}}, -1, 1, 0 },
    { DM_OP_LERP_SCALAR, -1, "lerp scalar weight", f_lerp_scalar, 2, {2, 1}, {{2, 3}, {3}}, -1, 1, 0 },
    { DM_OP_LERP, -1, "lerp tensor weight", f_lerp, 3, {2, 1, 2}, {{2, 3}, {3}, {1, 3}}, -1, 1, 0 },
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* n doubles in [lo, hi) with all 53 bits in play (two steps of the generator per value); on
   a grid, multiples of 2^-8 (exact in float32, and so are their sums with 2^-10) */
static void fill64(double *d, int64_t n, double lo, double hi, unsigned seed, int grid)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        double u = (double)s / 4294967296.0;
        s = s * 1664525u + 1013904223u;
        u += (double)s / 18446744073709551616.0;
        d[i] = lo + (hi - lo) * u;
        if (grid) d[i] = ldexp(floor(ldexp(d[i], 8)), -8);
    }
}

/* gradcheck in float64: dm_backward on sum(f(in) * w) (the whole engine, w a float64
 * gradient), each input's .grad against central differences in double.  Returns the worst
 * error relative to max(1, |numeric|), or +inf when anything is not float64. */
static double gradcheck64(tu_fn f, int n, dm_tensor *const *in, int grid)
{
    const double eps = grid ? 1.0 / 1024 : 1e-6;
    dm_tensor *y = f(in, NULL);
    if (!y || y->dtype != DM_FLOAT64) {
        printf("  gradcheck64: %s\n", y ? "the output is not float64" : dm_errmsg());
        dm_tensor_release(y);
        return INFINITY;
    }
    int64_t ny = dm_numel(y);
    dm_tensor *w = dm_tensor_new_dtype(y->ndim, y->shape, DM_FLOAT64);
    double *wd = dm_data_ptr(w), *yb = malloc((size_t)(ny ? ny : 1) * sizeof *yb);
    fill64(wd, ny, -1, 1, 7, grid);
    for (int i = 0; i < n; i++) if (in[i]->grad) dm_zero_grad(in[i], 1);
    int rc = dm_backward(y, w, 0);
    dm_tensor_release(y);
    double worst = rc ? INFINITY : 0;
    if (rc) printf("  gradcheck64: backward failed: %s\n", dm_errmsg());
    int prev = dm_set_grad_enabled(0);
    for (int i = 0; !rc && i < n; i++) {
        const dm_tensor *g = in[i]->grad;
        if (g && (g->dtype != DM_FLOAT64 || !dm_is_contiguous(g))) {
            printf("  gradcheck64: input %d got a %s gradient\n", i, dm_dtype_name(g->dtype));
            worst = INFINITY;
            break;
        }
        double *x = dm_data_ptr(in[i]);
        for (int64_t k = 0; k < dm_numel(in[i]); k++) {
            double orig = x[k], loss[2];
            for (int sg = 0; sg < 2; sg++) {
                x[k] = orig + (sg ? -eps : eps);
                dm_tensor *yy = f(in, NULL);
                loss[sg] = 0;
                if (yy) dm_to_buffer_dtype(yy, yb, DM_FLOAT64);
                for (int64_t j = 0; yy && j < ny; j++) loss[sg] += yb[j] * wd[j];
                if (!yy) loss[sg] = NAN;
                dm_tensor_release(yy);
            }
            x[k] = orig;
            double num = (loss[0] - loss[1]) / (2 * eps);
            double ana = g ? ((const double *)dm_data_ptr(g))[k] : 0;
            double err = fabs(num - ana) / (fabs(num) > 1 ? fabs(num) : 1);
            if (!(err <= worst)) worst = err;           /* NaN too */
        }
    }
    dm_set_grad_enabled(prev);
    free(yb);
    dm_tensor_release(w);
    return worst;
}

/* float64 inputs of case c, requiring grad */
static void make_inputs(const gcase *c, dm_tensor **in)
{
    for (int i = 0; i < c->n; i++) {
        unsigned seed = (unsigned)(i + 3) * 17u + (unsigned)c->op;
        in[i] = dm_tensor_new_dtype(c->ndim[i], c->shape[i], DM_FLOAT64);
        fill64(dm_data_ptr(in[i]), dm_numel(in[i]), c->lo, c->hi, seed, c->grid);
        dm_set_requires_grad(in[i], 1);
    }
}

/* backward of f(in) with a gradient of ones, after writing in place (under no_grad) into the
   recorded node's input k (k = -1: its output) when k >= -1; 0 or -1 (the message set) */
static int backward_after_write(const gcase *c, dm_tensor *const *in, int k, unsigned *reads)
{
    for (int i = 0; i < c->n; i++) dm_zero_grad(in[i], 1);
    dm_tensor *y = c->f(in, NULL);
    if (!y || !y->grad_fn) { dm_tensor_release(y); dm_seterr("no node"); return -2; }
    dm_node *n = y->grad_fn;
    *reads = dm__op_reads(n->op, n->sub);
    dm_tensor *x = k == -1 ? y : k >= 0 && k < n->ninputs ? n->in[k] : NULL;
    if (k >= -1 && !x) { dm_tensor_release(y); return -2; }
    if (x) {
        int prev = dm_set_grad_enabled(0);
        /* a floating tensor's values move; another's version only (a copy onto itself) */
        int rc = dm_is_floating(x->dtype) ? dm_add_scalar_(x, 0.25f) : dm_copy_(x, x);
        dm_set_grad_enabled(prev);
        if (rc) { dm_tensor_release(y); return -2; }
    }
    dm_tensor *w = dm_tensor_full_dtype(y->ndim, y->shape, 1.0, DM_FLOAT64);
    int rc = dm_backward(y, w, 0);
    dm_tensor_release(w);
    dm_tensor_release(y);
    return rc;
}

/* The op table's reads, for the recorded node's every input and its output: writing one in
   place after the forward makes backward raise when the rule reads it; when it does not,
   backward runs and the gradients are those without the write. */
static void check_reads(const gcase *c, int want_sub)
{
    dm_tensor *in[3] = {0}, *ref[3] = {0};
    unsigned reads = 0;
    make_inputs(c, in);
    if (backward_after_write(c, in, -2, &reads)) {
        printf("  check_reads %s: %s\n", c->name, dm_errmsg());
        CHECK(0, "check_reads: the plain backward runs");
    }
    for (int i = 0; i < c->n; i++) ref[i] = in[i]->grad ? dm_clone(in[i]->grad) : NULL;
    for (int i = 0; i < c->n; i++) dm_tensor_release(in[i]);
    for (int k = -1; k < 4; k++) {
        make_inputs(c, in);
        int rc = backward_after_write(c, in, k, &reads);
        if (rc != -2) {
            int r = k < 0 ? (reads & DM_READ_OUT) != 0 : dm__reads_in(reads, k);
            const char *what = k < 0 ? "output" : "input";
            if (r) {
                CHECKF(rc == -1 && strstr(dm_errmsg(), "has been modified by an inplace "
                                          "operation"),
                       "%s (sub %d): writing the %s %d it reads makes backward raise (%s)",
                       c->name, want_sub, what, k, rc ? dm_errmsg() : "it ran");
            } else {
                double worst = 0;
                for (int i = 0; rc == 0 && i < c->n; i++) {
                    const dm_tensor *g = in[i]->grad;
                    if (!g != !ref[i]) { worst = INFINITY; break; }
                    for (int64_t e = 0; g && e < dm_numel(g); e++) {
                        double d = fabs(((const double *)dm_data_ptr(g))[e] -
                                        ((const double *)dm_data_ptr(ref[i]))[e]);
                        if (!(d <= worst)) worst = d;
                    }
                }
                CHECKF(rc == 0 && worst < 1e-12, "%s (sub %d): writing the %s %d it does not "
                       "read leaves backward as it was (%s, err %.2e)", c->name, want_sub, what,
                       k, rc ? dm_errmsg() : "ran", worst);
            }
        }
        for (int i = 0; i < c->n; i++) dm_tensor_release(in[i]);
    }
    for (int i = 0; i < c->n; i++) dm_tensor_release(ref[i]);
}

/* run one case (with the current unary/loss variant) in dtype dt; returns 1 if it recorded
   op/sub */
static int run_case(const gcase *c, int want_sub, dm_dtype dt)
{
    const char *dn = dm_dtype_name(dt);
    dm_tensor *in[3] = {0};
    for (int i = 0; i < c->n; i++) {
        unsigned seed = (unsigned)(i + 3) * 17u + (unsigned)c->op;
        in[i] = dm_tensor_new_dtype(c->ndim[i], c->shape[i], dt);
        if (dt == DM_FLOAT64) fill64(dm_data_ptr(in[i]), dm_numel(in[i]), c->lo, c->hi, seed,
                                     c->grid);
        else tu_fill(in[i], c->lo, c->hi, seed);
        dm_set_requires_grad(in[i], 1);
    }
    dm_tensor *y = c->f(in, NULL);
    int ok = y && y->grad_fn && (int)y->grad_fn->op == (int)c->op &&
             (want_sub < 0 || y->grad_fn->sub == want_sub) && y->dtype == dt;
    char what[160];
    snprintf(what, sizeof what, "%s (sub %d) in %s records its op: %s (%s)", c->name, want_sub,
             dn, y ? (dm_grad_fn_name(y) ? dm_grad_fn_name(y) : "no grad_fn") : dm_errmsg(),
             y ? dm_dtype_name(y->dtype) : "-");
    CHECK(ok, what);
    if (ok) {                       /* the node has as many inputs as its table row says */
        int arity = dm__opdef(y->grad_fn->op)->arity;
        CHECKF(arity < 0 || y->grad_fn->ninputs == arity, "%s: %d inputs recorded, the op "
               "table says %d", c->name, y->grad_fn->ninputs, arity);
    }
    dm_tensor_release(y);
    if (ok && dt == DM_FLOAT64) {
        double err = gradcheck64(c->f, c->n, in, c->grid);
        snprintf(what, sizeof what, "%s (sub %d) float64 gradient matches central differences "
                 "(err %.2e)", c->name, want_sub, err);
        CHECK(err < 1e-8, what);
        check_reads(c, want_sub);
    } else if (ok) {
        double err = gradcheck(c->f, c->n, in, NULL, 1e-3);
        snprintf(what, sizeof what, "%s (sub %d) float32 gradient matches finite differences "
                 "(err %.2e)", c->name, want_sub, err);
        CHECK(err < 2e-2, what);
    }
    for (int i = 0; i < c->n; i++) dm_tensor_release(in[i]);
    return ok;
}

static const gcase *find(dm_op op, int sub)
{
    for (int i = 0; i < NCASES; i++)           /* a case for this very variant first */
        if (cases[i].op == op && sub >= 0 && cases[i].sub == sub) return &cases[i];
    for (int i = 0; i < NCASES; i++)
        if (cases[i].op == op && (cases[i].sub == -1 || cases[i].sub == sub || cases[i].sub < -1))
            return &cases[i];
    return NULL;
}

/* every op and variant of the table in dtype dt */
static void run_table(dm_dtype dt)
{
    for (int op = DM_OP_NONE + 1; op < DM_OP_COUNT; op++) {
        if (op == DM_OP_UNARY) {
            for (int u = 0; u < DM_UN_COUNT; u++) {
                const gcase *c = find(op, u);
                CHECK(c != NULL, "unary op has a gradient case");
                cur_unop = (dm_unop)u;
                if (c) run_case(c, u, dt);
            }
        } else if (op == DM_OP_LOSS) {
            for (int l = 0; l < DM_LOSS_COUNT; l++) {
                const gcase *c = find(op, l);
                CHECK(c != NULL, "loss has a gradient case");
                cur_loss = (dm_loss_kind)l;
                if (c) run_case(c, l, dt);
            }
        } else {
            int found = 0;
            for (int i = 0; i < NCASES; i++)
                if ((int)cases[i].op == op) { found = 1; run_case(&cases[i], cases[i].sub, dt); }
            char what[96];
            snprintf(what, sizeof what, "op %d (%s) has a gradient case", op,
                     dm__opdef((dm_op)op)->name);
            CHECK(found, what);
        }
    }
}

int main(void)
{
    tu_live live0 = tu_live_now();
    printf("  dm_node: %zu bytes, of which its parameters (dm_params) %zu\n", sizeof(dm_node),
           sizeof(dm_params));
    run_table(DM_FLOAT64);
    run_table(DM_FLOAT32);
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_optable");
}
