/* test_backend_kernels.c -- the kernel-table entries that the op table's cases do not
 * reach, on both devices and compared (as test_backend_ops.c does for the op table): the
 * optimizer updates (sgd, adam), the random and init fills (random, pattern, fill), the
 * join copies (slabs, index_rows, index_add), dropout and batch norm (dropout,
 * dropout_bw, batch_norm, batch_norm_bw) and the losses' options that the op table's one
 * case per loss leaves out (loss, loss_bw, nll, nll_bw, ce_log_softmax, cross_entropy,
 * cross_entropy_bw: weights, pos_weight, ignored rows, label smoothing, probability
 * targets, every reduction, strided inputs), layer and group norm's options (rownorm,
 * rownorm_bw: no weight or bias, one of them, only some gradients wanted, several dims)
 * and the samplers (multinomial, bernoulli_p, normal_p: from generators seeded alike,
 * exactly), orthogonal_'s QR and sparse_'s zeroing (qr, sparse_zero), the in-place ops on
 * every dtype (inplace: each result also against the out-of-place op's on its device),
 * dm_sum_to of integers (sum_to_i64), the bitwise and logical ops, floor_divide, remainder
 * and fmod with their gradients on every dtype they take (binop2, unop2, divmod_bw), tril,
 * triu and flip on every dtype with diag and trace (tri, flip), arange, linspace and eye
 * (range), linear's small float32 product (linear_small) and its bias (bias_rows,
 * bias_sum: strided, accumulated into an existing gradient); amax/amin, logsumexp and norm over several dims with
 * their gradients, any/all, isnan/isinf/isfinite and nan_to_num (mreduce, mreduce_bw,
 * any_all, isclass, nan_to_num, nan_to_num_bw), cumsum and cumprod with their gradients
 * (scan, scan_bw), sort, topk, kthvalue and unique (sort, sort_bw, unique, unique_out), on
 * every dtype each takes, transposed, permuted and sliced, with ties, zeros, NaN and
 * infinities (integers exactly); the ops of gather.c and index.c on every dtype,
 * strided and contiguous, with the floats' gradients (put, index_add_alpha, index_add_bw,
 * bincount, one_hot, nonzero, masked_fill, index_offsets, adv_offsets: exactly for
 * integers);
 * core/backend/backend.h describes each.
 *
 * Every scenario runs once on cpu (core/backend/cpu/) and once on cpu:ref (the naive loops of
 * core/backend/ref/) from the same inputs and, for the random ones, a generator seeded alike;
 * its results (tensors, updated state, the generator's next draw) are collected as doubles
 * and compared.  The updates, fills, copies and dropout are the same arithmetic on both
 * devices and must agree exactly; batch norm and the losses sum in another order on each, and
 * the losses' float32 exp is cpu's own (relative 1e-6 in float32, 1e-12 in float64).
 * Inputs are transposed views where the entry takes strides. */
#include "testutil.h"
#include "../../core/internal.h"
#include "../../core/backend/backend.h"

/* ---- collecting results ----------------------------------------------------------------- */

typedef struct { double *v; int64_t n, cap; int dev_ok; } vals;

static void put(vals *o, const dm_tensor *t, int dev)
{
    if (!t) { o->dev_ok = 0; return; }
    if (dm_tensor_device(t) != dev) o->dev_ok = 0;
    int64_t k = dm_numel(t);
    if (o->n + k > o->cap) {
        o->cap = (o->n + k) * 2 + 16;
        o->v = realloc(o->v, (size_t)o->cap * sizeof *o->v);
    }
    dm_to_buffer_dtype(t, o->v + o->n, DM_FLOAT64);
    o->n += k;
}

static void put1(vals *o, double x)
{
    if (o->n + 1 > o->cap) {
        o->cap = o->n * 2 + 16;
        o->v = realloc(o->v, (size_t)o->cap * sizeof *o->v);
    }
    o->v[o->n++] = x;
}

/* the worst relative difference (to max(1, |x|)); NaNs match NaNs */
static double worst(const vals *a, const vals *b)
{
    if (a->n != b->n) return INFINITY;
    double w = 0;
    for (int64_t i = 0; i < a->n; i++) {
        double x = a->v[i], y = b->v[i];
        if (x == y || (isnan(x) && isnan(y))) continue;
        double d = fabs(x - y) / fmax(1.0, fmax(fabs(x), fabs(y)));
        if (!(d <= w)) w = isnan(d) ? INFINITY : d;
    }
    return w;
}

typedef void (*scenario)(int dev, dm_dtype dt, int variant, vals *out);

static int ncompared;

/* run s on both devices and compare within tol */
static void compare(const char *name, scenario s, dm_dtype dt, int variant, double tol)
{
    vals a = { NULL, 0, 0, 1 }, b = { NULL, 0, 0, 1 };
    s(DM_CPU, dt, variant, &a);
    dm_set_device(DM_CPU);
    s(DM_CPU_REF, dt, variant, &b);
    dm_set_device(DM_CPU);
    double e = worst(&a, &b);
    CHECKF(a.n > 0 && a.dev_ok && b.dev_ok, "%s %s (variant %d): ran, results on their device",
           name, dm_dtype_name(dt), variant);
    CHECKF(e <= tol, "%s %s (variant %d): cpu and cpu:ref agree (rel %.1e, %lld values)", name,
           dm_dtype_name(dt), variant, e, (long long)a.n);
    ncompared++;
    free(a.v);
    free(b.v);
}

/* a [r x c] tensor of dt on dev with tu_fill's values in [lo, hi) (seeded), as the
   transposed view [c x r] in *view; returns the base (the caller releases both) */
static dm_tensor *mkT(dm_dtype dt, int dev, int64_t r, int64_t c, float lo, float hi,
                      unsigned seed, dm_tensor **view)
{
    dm_set_device(DM_CPU);
    dm_tensor *f = dm_tensor_new(2, (int64_t[]){ r, c });
    tu_fill(f, lo, hi, seed);
    dm_tensor *d = dm_to_dtype(f, dt), *t = dm_to_device(d, dev);
    dm_tensor_release(f);
    dm_tensor_release(d);
    *view = dm_transpose(t, 0, 1);
    dm_set_device(dev);
    return t;
}

/* a contiguous tensor of dt on dev with tu_fill's values */
static dm_tensor *mk(dm_dtype dt, int dev, int ndim, const int64_t *shape, float lo, float hi,
                     unsigned seed)
{
    dm_set_device(DM_CPU);
    dm_tensor *f = dm_tensor_new(ndim, shape);
    tu_fill(f, lo, hi, seed);
    dm_tensor *d = dm_to_dtype(f, dt), *t = dm_to_device(d, dev);
    dm_tensor_release(f);
    dm_tensor_release(d);
    dm_set_device(dev);
    return t;
}

/* ---- embedding (max_norm) -------------------------------------------------------------------- */

/* embedding_renorm_ (max_norm), which no op-table case reaches: norm_type 2, 1, inf, -inf, 0
   and 3 (variant % 6), the weight [9 x 5] contiguous (variants 0-5) or the transposed view of a
   [5 x 9] (6-11); ids name rows more than once, some rows stay under max_norm */
static void sc_renorm(int dev, dm_dtype dt, int v, vals *out)
{
    static const double nt[6] = { 2, 1, INFINITY, -INFINITY, 0, 3 };
    static const double mn[6] = { 0.9, 1.8, 0.7, 0.1, 4, 0.8 };
    dm_tensor *wv, *base = mkT(dt, dev, 5, 9, -1, 1, 21, &wv);
    dm_tensor *w = v < 6 ? dm_contiguous(wv) : dm_tensor_retain(wv);
    int64_t ids[7] = { 3, 0, 8, 3, 5, 0, 1 };
    dm_set_device(DM_CPU);
    dm_tensor *pi = dm_tensor_new_dtype(1, (int64_t[]){ 7 }, DM_INT64);
    memcpy(dm__ptr(pi), ids, sizeof ids);
    dm_tensor *id = dm_to_device(pi, dev);
    dm_tensor_release(pi);
    dm_set_device(dev);
    CHECKF(dm_embedding_renorm_(w, id, mn[v % 6], nt[v % 6]) == 0, "renorm runs (%s)",
           dm_errmsg());
    put(out, w, dev);
    dm_tensor_release(id);
    dm_tensor_release(w);
    dm_tensor_release(wv);
    dm_tensor_release(base);
}

/* ---- optimizers --------------------------------------------------------------------------- */

/* SGD variants: 0 plain, 1 momentum, 2 momentum + dampening + weight decay, 3 nesterov +
   weight decay, 4 maximize + momentum; three steps (the first sets the buffer), the
   parameter a transposed view (gathered and written back) in odd variants */
static void sc_sgd(int dev, dm_dtype dt, int v, vals *out)
{
    static const double mom[5] = { 0, 0.9, 0.8, 0.9, 0.5 }, damp[5] = { 0, 0, 0.25, 0, 0 };
    static const double wd[5] = { 0, 0, 1e-2, 5e-3, 0 };
    dm_tensor *pv, *p = mkT(dt, dev, 7, 33, -1, 1, 11, &pv);
    dm_tensor *pc = v % 2 ? dm_tensor_retain(pv) : dm_contiguous(pv);
    dm_tensor *buf = dm_tensor_zeros_dtype(pc->ndim, pc->shape, dt);
    for (int step = 0; step < 3; step++) {
        dm_tensor *g = mk(dt, dev, pc->ndim, pc->shape, -0.5f, 0.5f, 100u + (unsigned)step);
        CHECKF(dm_sgd_step(pc, g, mom[v] != 0 ? buf : NULL, 0.05, mom[v], damp[v], wd[v],
                           v == 3, v == 4, step == 0) == 0, "sgd_step runs (%s)", dm_errmsg());
        dm_tensor_release(g);
    }
    put(out, pc, dev);
    put(out, buf, dev);
    dm_tensor_release(buf);
    dm_tensor_release(pc);
    dm_tensor_release(pv);
    dm_tensor_release(p);
}

/* Adam variants: 0 Adam, 1 amsgrad, 2 AdamW, 3 Adam with weight decay (L2), 4 maximize and
   amsgrad; four steps */
static void sc_adam(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *pv, *p = mkT(dt, dev, 9, 21, -1, 1, 21, &pv);
    dm_tensor *pc = v % 2 ? dm_tensor_retain(pv) : dm_contiguous(pv);
    dm_tensor *m = dm_tensor_zeros_dtype(pc->ndim, pc->shape, dt);
    dm_tensor *s = dm_tensor_zeros_dtype(pc->ndim, pc->shape, dt);
    dm_tensor *x = v == 1 || v == 4 ? dm_tensor_zeros_dtype(pc->ndim, pc->shape, dt) : NULL;
    for (int step = 1; step <= 4; step++) {
        dm_tensor *g = mk(dt, dev, pc->ndim, pc->shape, -0.5f, 0.5f, 200u + (unsigned)step);
        CHECKF(dm_adam_step(pc, g, m, s, x, step, 1e-2, 0.9, 0.999, 1e-8,
                            v == 2 ? 1e-2 : v == 3 ? 1e-3 : 0, v == 2, v == 4) == 0,
               "adam_step runs (%s)", dm_errmsg());
        dm_tensor_release(g);
    }
    put(out, pc, dev);
    put(out, m, dev);
    put(out, s, dev);
    if (x) put(out, x, dev);
    dm_tensor_release(x);
    dm_tensor_release(s);
    dm_tensor_release(m);
    dm_tensor_release(pc);
    dm_tensor_release(pv);
    dm_tensor_release(p);
}

/* ---- random and init fills ----------------------------------------------------------------- */

/* a fill into a transposed view of a tensor of dt, from a generator seeded 7; the values and
   the generator's next draw.  0 uniform_, 1 normal_, 2 bernoulli_, 3 randint_, 4
   trunc_normal_, 5 randperm, 6 constant_, 7 eye_, 8 dirac_ (groups 2), 9 orthogonal_ (wide),
   10 orthogonal_ (tall, 3-D), 11 kaiming_normal_, 12 sparse_ (sparsity 0.4: 3 rows of each
   column of the view), 13 orthogonal_ ([40 x 9]); orthogonal_'s QR is another algorithm on
   each device (agreeing to rounding), the rest draw and store alike (exactly) */
static void sc_fill(int dev, dm_dtype dt, int v, vals *out)
{
    dm_rng *g = dm_rng_new(7);
    dm_tensor *tv, *t = mkT(dt, dev, 5, 6, -3, 3, 31, &tv);
    dm_tensor *extra = NULL;
    int rc = 0;
    switch (v) {
    case 0: rc = dm_uniform_(tv, -2, 3, g); break;
    case 1: rc = dm_normal_(tv, 0.5, 2, g); break;
    case 2: rc = dm_bernoulli_(tv, 0.3, g); break;
    case 3: rc = dm_randint_(tv, -40, 200, g); break;
    case 4: rc = dm_init_trunc_normal_(tv, 0.1, 1, -1.5, 0.75, g); break;
    case 5: extra = dm_randperm(37, g); rc = extra ? 0 : -1; break;
    case 6: rc = dm_init_constant_(tv, -2.75); break;
    case 7: rc = dm_init_eye_(tv); break;
    case 8: {
        dm_tensor *w = dm_tensor_zeros_dtype(4, (int64_t[]){ 4, 3, 3, 5 }, dt);
        dm_tensor *wv = w ? dm_transpose(w, 2, 3) : NULL;
        rc = wv ? dm_init_dirac_(wv, 2) : -1;
        extra = w;
        dm_tensor_release(wv);
        break;
    }
    case 9: rc = dm_init_orthogonal_(tv, 1.5, g); break;
    case 10: {
        extra = dm_tensor_zeros_dtype(3, (int64_t[]){ 12, 2, 2 }, dt);
        rc = extra ? dm_init_orthogonal_(extra, 1, g) : -1;
        break;
    }
    case 11: rc = dm_init_kaiming_normal_(tv, 0, "fan_in", "relu", g); break;
    case 12: rc = dm_init_sparse_(tv, 0.4, 1.5, g); break;
    default: {
        extra = dm_tensor_zeros_dtype(2, (int64_t[]){ 40, 9 }, dt);
        rc = extra ? dm_init_orthogonal_(extra, 0.5, g) : -1;
        break;
    }
    }
    CHECKF(rc == 0, "fill %d runs on %s (%s)", v, dm_device_name(dev), rc ? dm_errmsg() : "");
    put(out, extra ? extra : t, dev);
    put1(out, (double)dm_rng_u32(g));              /* the stream moved alike */
    dm_tensor_release(extra);
    dm_tensor_release(tv);
    dm_tensor_release(t);
    dm_rng_free(g);
}

/* ---- joins -------------------------------------------------------------------------------- */

/* 0 cat along dim 1 of a contiguous, a transposed and a contiguous input, and its backward;
   1 stack along dim 0 and its backward; 2 index_select along dim 0 with repeats, and its
   backward (repeats add up); 3 index_select along dim 1 */
static void sc_join(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *av, *a = mkT(dt, dev, 4, 3, -1, 1, 41, &av);          /* av [3 x 4] */
    dm_tensor *b = mk(dt, dev, 2, (int64_t[]){ 3, 2 }, -1, 1, 42);
    dm_tensor *c = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, -1, 1, 43);
    dm_tensor *in[3] = { av, v == 1 ? c : b, c };
    int fl = dt == DM_FLOAT32 || dt == DM_FLOAT64;
    for (int k = 0; fl && k < 3; k++) dm_set_requires_grad(in[k], 1);
    dm_tensor *y;
    dm_tensor *idx = NULL;
    if (v >= 2) {
        int64_t pos[5] = { 2, 0, 2, 1, 2 };
        dm_tensor *pi = dm_tensor_new_dtype(1, (int64_t[]){ 5 }, DM_INT64);
        memcpy(dm__ptr(pi), pos, sizeof pos);
        idx = dm_to_device(pi, dev);
        dm_tensor_release(pi);
        dm_set_device(dev);
    }
    if (v == 0) y = dm_cat(3, in, 1);
    else if (v == 1) y = dm_stack(3, in, 0);
    else y = dm_index_select(v == 2 ? c : av, v == 2 ? 0 : 1, idx);
    CHECKF(y != NULL, "join %d runs (%s)", v, y ? "" : dm_errmsg());
    if (y && !fl) { put(out, y, dev); dm_tensor_release(y); }
    if (y && fl) {
        dm_tensor *w = mk(dt, dev, y->ndim, y->shape, -2, 2, 44);
        dm_tensor *yw = dm_mul(y, w), *s = dm_reduce(DM_RED_SUM, yw, DM_ALL, 0, 0);
        CHECK(s && dm_backward(s, NULL, 0) == 0, "join backward runs");
        put(out, y, dev);
        for (int k = 0; k < 3; k++)
            if (in[k]->grad) put(out, in[k]->grad, dev);
        dm_tensor_release(s);
        dm_tensor_release(yw);
        dm_tensor_release(w);
        dm_tensor_release(y);
    }
    dm_tensor_release(idx);
    dm_tensor_release(c);
    dm_tensor_release(b);
    dm_tensor_release(av);
    dm_tensor_release(a);
}

/* ---- dropout and batch norm --------------------------------------------------------------- */

/* dropout of a transposed view (p 0.3, and 1 in variant 1), forward and backward, from a
   generator seeded 9 */
static void sc_dropout(int dev, dm_dtype dt, int v, vals *out)
{
    dm_rng *g = dm_rng_new(9);
    dm_tensor *x0, *x = mkT(dt, dev, 6, 11, -2, 2, 51, &x0);
    dm_tensor_release(x0);
    dm_set_requires_grad(x, 1);
    dm_tensor *xv = dm_transpose(x, 0, 1);
    dm_tensor *y = dm_dropout(xv, v ? 1.0 : 0.3, 1, g);
    CHECKF(y != NULL, "dropout runs (%s)", y ? "" : dm_errmsg());
    if (y) {
        dm_tensor *w = mk(dt, dev, y->ndim, y->shape, -2, 2, 52);
        dm_tensor *yw = dm_mul(y, w), *s = dm_reduce(DM_RED_SUM, yw, DM_ALL, 0, 0);
        CHECK(s && dm_backward(s, NULL, 0) == 0, "dropout backward runs");
        put(out, y, dev);
        put(out, x->grad, dev);
        dm_tensor_release(s);
        dm_tensor_release(yw);
        dm_tensor_release(w);
        dm_tensor_release(y);
    }
    put1(out, (double)dm_rng_u32(g));
    dm_tensor_release(xv);
    dm_tensor_release(x);
    dm_rng_free(g);
}

/* batch norm of x [5 x 3 x 4] (a permuted view): 0 training with running statistics (the
   running mean a strided view), weight and bias; 1 eval; 2 training without affine
   parameters or running statistics; forward, backward, the updated statistics */
static void sc_bn(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *x0 = mk(dt, dev, 3, (int64_t[]){ 4, 5, 3 }, -2, 3, 61);
    dm_set_requires_grad(x0, 1);
    dm_tensor *x = dm_permute(x0, (int[]){ 1, 2, 0 });               /* [5 x 3 x 4] */
    dm_tensor *rm2 = mk(dt, dev, 2, (int64_t[]){ 3, 2 }, -0.5f, 0.5f, 62);
    dm_tensor *rm = dm_select(rm2, 1, 1);                             /* stride 2 */
    dm_tensor *rv = mk(dt, dev, 1, (int64_t[]){ 3 }, 0.5f, 2, 63);
    dm_tensor *w = mk(dt, dev, 1, (int64_t[]){ 3 }, 0.5f, 1.5f, 64);
    dm_tensor *b = mk(dt, dev, 1, (int64_t[]){ 3 }, -1, 1, 65);
    dm_set_requires_grad(w, 1);
    dm_set_requires_grad(b, 1);
    int affine = v != 2;
    dm_tensor *y = dm_batch_norm(x, v == 2 ? NULL : rm, v == 2 ? NULL : rv, affine ? w : NULL,
                                 affine ? b : NULL, v != 1, 0.1, 1e-5);
    CHECKF(y != NULL, "batch_norm runs (%s)", y ? "" : dm_errmsg());
    if (y) {
        dm_tensor *g = mk(dt, dev, y->ndim, y->shape, -2, 2, 66);
        dm_tensor *yg = dm_mul(y, g), *s = dm_reduce(DM_RED_SUM, yg, DM_ALL, 0, 0);
        CHECK(s && dm_backward(s, NULL, 0) == 0, "batch_norm backward runs");
        put(out, y, dev);
        put(out, x0->grad, dev);
        if (affine) { put(out, w->grad, dev); put(out, b->grad, dev); }
        put(out, rm, dev);
        put(out, rv, dev);
        dm_tensor_release(s);
        dm_tensor_release(yg);
        dm_tensor_release(g);
        dm_tensor_release(y);
    }
    dm_tensor_release(b);
    dm_tensor_release(w);
    dm_tensor_release(rv);
    dm_tensor_release(rm);
    dm_tensor_release(rm2);
    dm_tensor_release(x);
    dm_tensor_release(x0);
}

/* ---- layer and group norm ----------------------------------------------------------------- */

/* 0 layer_norm over the last dim of x [5 x 3 x 4] (a permuted view) without weight or bias;
   1 layer_norm over the last two dims with a weight only; 2 group_norm of x0 as [2 x 6 x 5]
   (3 groups of 2 channels, HW 5) with a bias only; 3 group_norm (3 groups of 1 channel) with both, only x's gradient wanted;
   forward and backward */
static void sc_norm(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *x0 = mk(dt, dev, 3, (int64_t[]){ 4, 5, 3 }, -2, 3, 71);
    dm_set_requires_grad(x0, 1);
    dm_tensor *x = dm_permute(x0, (int[]){ 1, 2, 0 });               /* [5 x 3 x 4] */
    dm_tensor *w1 = mk(dt, dev, 1, (int64_t[]){ 3 }, 0.5f, 1.5f, 72);
    dm_tensor *b1 = mk(dt, dev, 1, (int64_t[]){ 3 }, -1, 1, 73);
    dm_tensor *w2 = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, 0.5f, 1.5f, 74);
    dm_set_requires_grad(w1, v != 3);
    dm_set_requires_grad(b1, v != 3);
    dm_set_requires_grad(w2, 1);
    dm_tensor *y = NULL;
    switch (v) {
    case 0: y = dm_layer_norm(x, 1, (int64_t[]){ 4 }, NULL, NULL, 1e-5); break;
    case 1: y = dm_layer_norm(x, 2, (int64_t[]){ 3, 4 }, w2, NULL, 1e-3); break;
    case 2: {
        dm_tensor *x4 = dm_reshape(x0, 3, (int64_t[]){ 2, 6, 5 });
        dm_tensor *b5 = mk(dt, dev, 1, (int64_t[]){ 6 }, -1, 1, 75);
        dm_set_requires_grad(b5, 1);
        y = x4 ? dm_group_norm(x4, 3, NULL, b5, 1e-5) : NULL;
        if (y) {
            dm_tensor *g = mk(dt, dev, y->ndim, y->shape, -2, 2, 76);
            dm_tensor *yg = dm_mul(y, g), *s = dm_reduce(DM_RED_SUM, yg, DM_ALL, 0, 0);
            CHECK(s && dm_backward(s, NULL, 0) == 0, "group_norm backward runs");
            put(out, b5->grad, dev);
            dm_tensor_release(s); dm_tensor_release(yg); dm_tensor_release(g);
        }
        dm_tensor_release(b5);
        dm_tensor_release(x4);
        break;
    }
    default: y = dm_group_norm(x, 3, w1, b1, 1e-5); break;
    }
    CHECKF(y != NULL, "norm %d runs (%s)", v, y ? "" : dm_errmsg());
    if (y) {
        if (v != 2) {
            dm_tensor *g = mk(dt, dev, y->ndim, y->shape, -2, 2, 76);
            dm_tensor *yg = dm_mul(y, g), *s = dm_reduce(DM_RED_SUM, yg, DM_ALL, 0, 0);
            CHECK(s && dm_backward(s, NULL, 0) == 0, "norm backward runs");
            if (v == 1) put(out, w2->grad, dev);
            dm_tensor_release(s);
            dm_tensor_release(yg);
            dm_tensor_release(g);
        }
        put(out, y, dev);
        put(out, x0->grad, dev);
        dm_tensor_release(y);
    }
    dm_tensor_release(w2);
    dm_tensor_release(b1);
    dm_tensor_release(w1);
    dm_tensor_release(x);
    dm_tensor_release(x0);
}

/* ---- samplers ---------------------------------------------------------------------------- */

/* from a generator seeded 9, probabilities p [4 x 7] in [0, 1) with zeros (relu of a fill), a
   transposed view pt [7 x 4]: 0 multinomial of p with replacement, 40 draws a row; 1 without,
   5 a row; 2 of p's first row (1-D) with replacement, 300 draws; 3 without, every category;
   4 bernoulli of pt; 5 bernoulli_ into a [3 x 7 x 4] tensor from pt (broadcast); 6 normal
   with mean pt and std p^T + 0.1 broadcast from [7 x 1]; 7 mean only (std 2.5); 8 std only
   (mean -1); the results and the generator's next draw */
static void sc_sample(int dev, dm_dtype dt, int v, vals *out)
{
    dm_rng *g = dm_rng_new(9);
    dm_tensor *r = mk(dt, dev, 2, (int64_t[]){ 4, 7 }, -0.4f, 1, 81);
    dm_tensor *p = dm_unary(DM_UN_RELU, r), *pt = p ? dm_transpose(p, 0, 1) : NULL;
    dm_tensor *p0 = p ? dm_select(p, 0, 0) : NULL;
    dm_tensor *y = NULL, *t = NULL;
    switch (v) {
    case 0: y = dm_multinomial(p, 40, 1, g); break;
    case 1: y = dm_multinomial(p, 5, 0, g); break;
    case 2: y = dm_multinomial(p0, 300, 1, g); break;
    case 3: y = dm_multinomial(p0, 7, 0, g); break;
    case 4: y = dm_bernoulli(pt, g); break;
    case 5:
        t = dm_tensor_zeros_dtype(3, (int64_t[]){ 3, 7, 4 }, dt);
        if (t && dm_bernoulli_tensor_(t, pt, g) == 0) y = dm_tensor_retain(t);
        break;
    case 6: {
        dm_tensor *sd = mk(dt, dev, 2, (int64_t[]){ 7, 1 }, 0.1f, 2, 82);
        y = sd ? dm_normal_tensor(pt, 0, sd, 0, g) : NULL;
        dm_tensor_release(sd);
        break;
    }
    case 7: y = dm_normal_tensor(pt, 0, NULL, 2.5, g); break;
    default: y = dm_normal_tensor(NULL, -1, pt, 0, g); break;
    }
    CHECKF(y != NULL, "sample %d runs on %s (%s)", v, dm_device_name(dev), y ? "" : dm_errmsg());
    put(out, y, dev);
    put1(out, (double)dm_rng_u32(g));              /* the stream moved alike */
    dm_tensor_release(y);
    dm_tensor_release(t);
    dm_tensor_release(p0);
    dm_tensor_release(pt);
    dm_tensor_release(p);
    dm_tensor_release(r);
    dm_rng_free(g);
}

/* ---- losses ------------------------------------------------------------------------------ */

/* variants 0-5: the elementwise kinds (bce, bce with logits, mse, l1, smooth l1, huber) on a
   transposed input [3 x 4] with a class weight [4] (bce, bce with logits) and pos_weight
   (bce with logits), the reduction none, mean, sum in turn, gradients of input and target;
   6: nll with a weight and an ignored row, none; 7: cross entropy, class targets, weight,
   ignored row, label smoothing 0.2, mean; 8: cross entropy with probability targets (their
   gradient too), weight, label smoothing 0.1, sum; 9: cross entropy of a transposed input
   (strided rows), mean; 10: of [2 x 4 x 3] (the class dim second), none */
static void sc_loss(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *xb, *x, *tb, *t, *y = NULL;
    xb = mk(dt, dev, 2, (int64_t[]){ 4, 3 }, -2, 2, 71);
    dm_set_requires_grad(xb, 1);
    x = dm_transpose(xb, 0, 1);                                       /* x [3 x 4], strided */
    dm_tensor *w = mk(dt, dev, 1, (int64_t[]){ 4 }, 0.5f, 2, 72);
    dm_tensor *pw = mk(dt, dev, 1, (int64_t[]){ 4 }, 0.5f, 3, 73);
    dm_tensor *cls = NULL, *x3 = NULL;
    dm_reduction r = (dm_reduction)(v % 3 == 0 ? DM_REDUCTION_NONE
                                               : v % 3 == 1 ? DM_REDUCTION_MEAN : DM_REDUCTION_SUM);
    if (v <= 5) {
        tb = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, 0, 1, 74);
        t = dm_tensor_retain(tb);
        dm_set_requires_grad(tb, 1);
    } else {
        tb = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, 0.1f, 1, 75);         /* probabilities */
        dm_set_requires_grad(tb, v == 8);
        t = dm_tensor_retain(tb);
        dm_set_device(DM_CPU);
        dm_tensor *c = dm_tensor_new_dtype(1, (int64_t[]){ 3 }, DM_INT64);
        memcpy(dm_data_ptr(c), (int64_t[]){ 2, 0, 3 }, 3 * sizeof(int64_t));
        cls = dm_to_device(c, dev);
        dm_tensor_release(c);
        dm_set_device(dev);
    }
    dm_tensor *p = NULL;
    switch (v) {
    case 0:
        p = dm_unary(DM_UN_SIGMOID, x);
        y = dm_bce_loss(p, t, w, r);
        break;
    case 1: y = dm_bce_with_logits_loss(x, t, w, pw, r); break;
    case 2: y = dm_mse_loss(x, t, r); break;
    case 3: y = dm_l1_loss(x, t, r); break;
    case 4: y = dm_smooth_l1_loss(x, t, r, 0.6); break;
    case 5: y = dm_huber_loss(x, t, r, 0.8); break;
    case 6:
        p = dm_contiguous(x);
        y = dm_nll_loss(p, cls, w, DM_REDUCTION_NONE, 0);
        break;
    case 7:
        p = dm_contiguous(x);
        y = dm_cross_entropy(p, cls, w, DM_REDUCTION_MEAN, 0, 0.2);
        break;
    case 8:
        p = dm_contiguous(x);
        y = dm_cross_entropy(p, t, w, DM_REDUCTION_SUM, -100, 0.1);
        break;
    case 9: y = dm_cross_entropy(x, cls, NULL, DM_REDUCTION_MEAN, -100, 0); break;
    default:
        x3 = dm_view(xb, 3, (int64_t[]){ 2, 2, 3 });                  /* [N=2 x C=2 x 3] */
        dm_set_device(DM_CPU);
        dm_tensor *c = dm_tensor_new_dtype(2, (int64_t[]){ 2, 3 }, DM_INT64);
        memcpy(dm_data_ptr(c), (int64_t[]){ 1, 0, 1, 0, 0, 1 }, 6 * sizeof(int64_t));
        dm_tensor *c3 = dm_to_device(c, dev);
        dm_tensor_release(c);
        dm_set_device(dev);
        y = dm_cross_entropy(x3, c3, NULL, DM_REDUCTION_NONE, -100, 0.05);
        dm_tensor_release(c3);
        break;
    }
    CHECKF(y != NULL, "loss %d runs (%s)", v, y ? "" : dm_errmsg());
    if (y) {
        dm_tensor *g = mk(dt, dev, y->ndim, y->shape, 0.5f, 2, 76);
        dm_tensor *yg = dm_mul(y, g), *s = dm_reduce(DM_RED_SUM, yg, DM_ALL, 0, 0);
        CHECK(s && dm_backward(s, NULL, 0) == 0, "loss backward runs");
        put(out, y, dev);
        put(out, xb->grad, dev);
        if (tb->requires_grad) put(out, tb->grad, dev);
        dm_tensor_release(s);
        dm_tensor_release(yg);
        dm_tensor_release(g);
        dm_tensor_release(y);
    }
    dm_tensor_release(p);
    dm_tensor_release(x3);
    dm_tensor_release(cls);
    dm_tensor_release(pw);
    dm_tensor_release(w);
    dm_tensor_release(t);
    dm_tensor_release(tb);
    dm_tensor_release(x);
    dm_tensor_release(xb);
}

/* ---- in place on any dtype, dm_sum_to of integers ------------------------------------------ */

/* the in-place op of variant v on tv, a [3 x 4] transposed view of dt: op v / 8 (a dm_binop)
   with operand v % 8: 0 a tensor of dt, 1 an int64 row [4] (broadcast), 2 a float64 0-dim
   tensor, 3 a transposed view of dt, 4 the integer 3, 5 the number 0.5, 6 the integer -2,
   7 clamp_ (op 0: float bounds, 1: integer bounds, 2: an upper one only), add_ with alpha 2
   (op 3), or tv op= tv (the rest); v 104-106 (tv expanded: a [1 x 4] row seen as [3 x 4]) the
   integer 1 added, the integer -2 multiplied, clamp_ to integer bounds.  in: NULL to write in
   place (the rc), else the out-of-place result into *in (NULL when the op refuses) */
static int inplace_case(int v, dm_dtype dt, int dev, dm_tensor *tv, dm_tensor **in)
{
    int op = v / 8, kind = v % 8, rc = -1;
    dm_tensor *o = NULL, *ob = NULL, *r = NULL;
    if (v >= 104) {
        if (v == 106) {
            if (in) *in = dm_clamp_ex(tv, -1, 1, 1);
            else rc = dm_clamp_ex_(tv, -1, 1, 1);
        } else {
            dm_binop bop = v == 104 ? DM_BIN_ADD : DM_BIN_MUL;
            double sv = v == 104 ? 1 : -2;
            if (in) *in = dm_binary_scalar_i64(bop, tv, (int64_t)sv, 0);
            else rc = dm_binary_scalar_(bop, tv, sv, 1);
        }
        return rc;
    }
    if (kind == 0) o = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, -3, 3, 5);
    else if (kind == 1) o = mk(DM_INT64, dev, 1, (int64_t[]){ 4 }, -3, 3, 6);
    else if (kind == 2) o = mk(DM_FLOAT64, dev, 0, NULL, 0.5f, 2, 7);
    else if (kind == 3) ob = mkT(dt, dev, 4, 3, -3, 3, 8, &o);
    else if (kind == 7 && op == 3) o = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, -3, 3, 9);
    if (kind <= 3) {
        if (in) r = dm_binary(op, tv, o);
        else rc = dm_binary_(op, tv, o);
    } else if (kind <= 6) {
        static const double sv[3] = { 3, 0.5, -2 };
        double s = sv[kind - 4];
        if (in) r = kind == 5 ? dm_binary_scalar_f64(op, tv, s, 0)
                              : dm_binary_scalar_i64(op, tv, (int64_t)s, 0);
        else rc = dm_binary_scalar_(op, tv, s, kind != 5);
    } else if (op <= 2) {
        double lo = op == 2 ? NAN : -1, hi = op == 0 ? 1.5 : op == 1 ? 1 : 0;
        if (in) r = dm_clamp_ex(tv, lo, hi, op != 0);
        else rc = dm_clamp_ex_(tv, lo, hi, op != 0);
    } else if (op == 3) {
        dm_tensor *ao = in ? dm_binary_scalar_f64(DM_BIN_MUL, o, 2, 0) : NULL;
        if (in) r = ao ? dm_add(tv, ao) : NULL;
        else rc = dm_add_(tv, o, 2.0f);
        dm_tensor_release(ao);
    } else {
        if (in) r = dm_binary(op, tv, tv);
        else rc = dm_binary_(op, tv, tv);
    }
    if (in) *in = r;
    dm_tensor_release(o);
    dm_tensor_release(ob);
    return rc;
}

/* an in-place op on a view of dt: whether it ran, t's values and its version; on each device
   the values are those of the out-of-place op converted back to dt, exactly, and one version
   bump */
static void sc_inplace(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *tv, *t, *tv0, *t0;
    if (v < 104) {
        t = mkT(dt, dev, 4, 3, -3, 3, 11 + (unsigned)v, &tv);
        t0 = mkT(dt, dev, 4, 3, -3, 3, 11 + (unsigned)v, &tv0);
    } else {
        t = mk(dt, dev, 2, (int64_t[]){ 1, 4 }, -3, 3, 12);
        t0 = mk(dt, dev, 2, (int64_t[]){ 1, 4 }, -3, 3, 12);
        tv = dm_expand(t, 2, (int64_t[]){ 3, 4 });
        tv0 = dm_expand(t0, 2, (int64_t[]){ 3, 4 });
    }
    uint32_t ver = dm_tensor_version(t);
    int rc = inplace_case(v, dt, dev, tv, NULL);
    dm_tensor *r = NULL;
    inplace_case(v, dt, dev, tv0, &r);
    put1(out, rc);
    put(out, t, dev);
    put1(out, (double)(dm_tensor_version(t) - ver));
    /* (float32's fast path writes an expanded tensor element by element, each location
       once per element that refers to it) */
    if (rc == 0 && !(v >= 104 && dt == DM_FLOAT32)) {
        dm_tensor *want = r ? dm_to_dtype(r, dt) : NULL;
        vals a = { NULL, 0, 0, 1 }, b = { NULL, 0, 0, 1 };
        put(&a, tv, dev);
        if (want) put(&b, want, dm_tensor_device(want));
        /* but float32's x / s, which the float32 fast path takes as x * (1 / s) */
        int recip = dt == DM_FLOAT32 && v / 8 == DM_BIN_DIV && v % 8 >= 4 && v % 8 <= 6;
        CHECKF(want && worst(&a, &b) <= (recip ? 1e-7 : 0) && dm_tensor_version(t) == ver + 1,
               "in place %d on %s %s: the out-of-place values, one version", v,
               dm_dtype_name(dt), dm_device_name(dev));
        free(a.v);
        free(b.v);
        dm_tensor_release(want);
    }
    dm_tensor_release(r);
    dm_tensor_release(tv0);
    dm_tensor_release(t0);
    dm_tensor_release(tv);
    dm_tensor_release(t);
}

/* dm_sum_to of dt (int64, uint8, bool): x the [5 x 6] transposed view (variants 0-3: to [6],
   [5 x 1], [1 x 1], []) or [4 x 5 x 6] contiguous (4: [5 x 1], 5: [4 x 1 x 6], 6:
   [1 x 5 x 1], 7: [3 x 1 x 1 x 1]... a target of more dims, int64 times 2^61, wrapping) */
static void sc_sum_to_int(int dev, dm_dtype dt, int v, vals *out)
{
    static const int nds[8] = { 1, 2, 2, 0, 2, 3, 3, 4 };
    static const int64_t shp[8][4] = { { 6 }, { 5, 1 }, { 1, 1 }, { 0 }, { 5, 1 }, { 4, 1, 6 },
                                       { 1, 5, 1 }, { 1, 4, 1, 6 } };
    dm_tensor *xv = NULL, *x;
    if (v < 4) x = mkT(dt, dev, 6, 5, -40, 40, 21, &xv);
    else x = mk(dt, dev, 3, (int64_t[]){ 4, 5, 6 }, -40, 40, 22);
    dm_tensor *src = xv ? xv : x, *big = NULL;
    if (v == 7 && dt == DM_INT64) src = big = dm_binary_scalar_i64(DM_BIN_MUL, x, INT64_C(1) << 61, 0);
    dm_tensor *y = dm_sum_to(src, nds[v], shp[v]);
    CHECKF(y && y->dtype == DM_INT64, "sum_to %d of %s runs, int64", v,
           dm_dtype_name(dt));
    put(out, y, dev);
    dm_tensor_release(y);
    dm_tensor_release(big);
    dm_tensor_release(xv);
    dm_tensor_release(x);
}

/* ---- bitwise.c, shape_ops.c, create.c, linalg.c's small linear -------------------------------- */

/* the ops of bitwise.c that take dt: bool the bitwise and logical ones, the other integers
   all nine, the floating types the logical ones and floor_divide, remainder, fmod */
static int binop2_takes(dm_dtype dt, int op)
{
    if (dt == DM_BOOL) return op <= DM_B2_LOGICAL_XOR;
    if (dm_is_floating(dt)) return op >= DM_B2_LOGICAL_AND;
    return 1;
}

/* an integer divisor that is never 0: 2 t + 1 (odd, uint8 wrapping), for the divisions */
static dm_tensor *odd(dm_tensor *t)
{
    dm_tensor *m = dm_binary_scalar_i64(DM_BIN_MUL, t, 2, 0);
    dm_tensor *r = m ? dm_binary_scalar_i64(DM_BIN_ADD, m, 1, 0) : NULL;
    dm_tensor_release(m);
    dm_tensor_release(t);
    return r;
}

/* binop2 op v % 9 on dt, layout v / 9: 0 both [3 x 4] contiguous, 1 a the transposed view of a
   [4 x 3] and b a row [4] (broadcast), 2 a [3 x 4] and b a 0-dim tensor; floating: a's and b's
   gradients through the sum of the result (remainder, fmod, floor_divide); then unop2 on a
   (logical_not, and bitwise_not where dt takes it) */
static void sc_binop2(int dev, dm_dtype dt, int v, vals *out)
{
    int op = v % 9, lay = v / 9, fl = dm_is_floating(dt);
    dm_tensor *a, *ab = NULL, *b;
    if (lay == 1) ab = mkT(dt, dev, 4, 3, -9, 9, 31, &a);
    else a = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, -9, 9, 31);
    if (lay == 0) b = mk(dt, dev, 2, (int64_t[]){ 3, 4 }, -4, 4, 32);
    else if (lay == 1) b = mk(dt, dev, 1, (int64_t[]){ 4 }, -4, 4, 33);
    else b = mk(dt, dev, 0, NULL, -4, 4, 34);
    if (!fl && dt != DM_BOOL && op >= DM_B2_FLOOR_DIVIDE) b = odd(b);
    dm_set_device(dev);
    if (fl) {
        dm_set_requires_grad(ab ? ab : a, 1);
        dm_set_requires_grad(b, 1);
        if (ab) {                               /* the view again, now with a history */
            dm_tensor_release(a);
            a = dm_transpose(ab, 0, 1);
        }
    }
    dm_tensor *y = dm_binop2_apply((dm_binop2)op, a, b);
    CHECKF(y && y->dtype == (op >= DM_B2_LOGICAL_AND && op <= DM_B2_LOGICAL_XOR ? DM_BOOL : dt),
           "binop2 %d of %s runs, its dtype", op, dm_dtype_name(dt));
    put(out, y, dev);
    if (fl && y && y->requires_grad) {
        dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 0);
        CHECK(s && dm_backward(s, NULL, 0) == 0, "binop2 backward runs");
        put(out, (ab ? ab : a)->grad, dev);
        put(out, b->grad, dev);
        dm_tensor_release(s);
    }
    dm_tensor *n1 = dm_unop2_apply(1, a), *n2 = fl ? NULL : dm_unop2_apply(0, a);
    put(out, n1, dev);
    if (!fl) put(out, n2, dev);
    dm_tensor_release(n1);
    dm_tensor_release(n2);
    dm_tensor_release(y);
    dm_tensor_release(b);
    dm_tensor_release(a);
    dm_tensor_release(ab);
}

/* tril (v even) or triu (odd) with k = ks[v / 2] of a [2 x 3 x 4] (v < 14) or of the
   transposed view [5 x 3] of a [3 x 5]; flip along the dims of variant v % 7 of the same input;
   diag (k = ks[v / 2] clamped to +-6) of a matrix and trace */
static void sc_shape(int dev, dm_dtype dt, int v, vals *out)
{
    static const int64_t ks[7] = { -5, -1, 0, 1, 3, 7, INT64_MAX };
    static const int dl[7][3] = { { 0 }, { 2 }, { 1 }, { 0, 2 }, { 0, 1, 2 }, { -1, 0 }, { 1 } };
    static const int dn[7] = { 0, 1, 1, 2, 3, 2, 1 };
    int64_t k = v % 14 / 2 < 7 ? ks[v % 14 / 2] : 0;
    dm_tensor *t, *tb = NULL;
    if (v < 14) t = mk(dt, dev, 3, (int64_t[]){ 2, 3, 4 }, -5, 5, 41);
    else tb = mkT(dt, dev, 3, 5, -5, 5, 42, &t);
    dm_tensor *tr = v % 2 ? dm_triu(t, k) : dm_tril(t, k);
    put(out, tr, dev);
    int nd = t->ndim, dims[3], nf = 0;
    for (int i = 0; i < dn[v % 7]; i++) {       /* wrapped to t's dims, each once */
        int d = dl[v % 7][i] % nd, seen = 0;
        for (int j = 0; j < nf; j++) seen |= dims[j] == d;
        if (!seen) dims[nf++] = d;
    }
    dm_tensor *f = dm_flip(t, nf, dims);
    put(out, f, dev);
    dm_tensor *m = tb ? dm_tensor_retain(t) : dm_select(t, 0, 1);
    int64_t dk = k > 6 ? 6 : k;
    dm_tensor *d = dm_diag(m, dk), *dd = d ? dm_diag(d, -dk) : NULL;
    put(out, d, dev);
    put(out, dd, dev);
    if (dt != DM_BOOL) {
        dm_tensor *tc = dm_trace(m);
        put(out, tc, dev);
        dm_tensor_release(tc);
    }
    dm_tensor_release(dd);
    dm_tensor_release(d);
    dm_tensor_release(m);
    dm_tensor_release(f);
    dm_tensor_release(tr);
    dm_tensor_release(t);
    dm_tensor_release(tb);
}

/* arange, linspace and eye made on dev (variant v: a set of bounds and counts each), and the
   small float32 linear (x [2 x 3] or [3], w [4 x 3], with and without a bias; float64 takes
   the gemm) */
static void sc_create(int dev, dm_dtype dt, int v, vals *out)
{
    static const double ar[5][3] = { { 0, 10, 1 }, { -3, 2.5, 0.7 }, { 5, -5, -0.3 },
                                     { 1, 1, 1 }, { 0.1, 1e3, 7.3 } };
    static const double ls[5][2] = { { 0, 1 }, { -2, 3 }, { 10, -10 }, { 1e-3, 1e3 }, { 4, 4 } };
    static const int64_t lsn[5] = { 0, 1, 2, 11, 100 };
    static const int64_t ey[5][2] = { { 3, 3 }, { 2, 5 }, { 6, 1 }, { 0, 4 }, { 7, 7 } };
    dm_set_device(dev);
    dm_tensor *r = dm_arange(ar[v][0], ar[v][1], ar[v][2]);
    dm_tensor *l = dm_linspace(ls[v][0], ls[v][1], lsn[v]);
    dm_tensor *e = dm_eye(ey[v][0], ey[v][1]);
    put(out, r, dev);
    put(out, l, dev);
    put(out, e, dev);
    put1(out, r ? (double)dm_numel(r) : -1);
    put1(out, l ? (double)dm_numel(l) : -1);
    dm_tensor *x = v % 2 ? mk(dt, dev, 1, (int64_t[]){ 3 }, -2, 2, 51)
                         : mk(dt, dev, 2, (int64_t[]){ 2, 3 }, -2, 2, 51);
    dm_tensor *w = mk(dt, dev, 2, (int64_t[]){ 4, 3 }, -2, 2, 52);
    dm_tensor *b = v < 3 ? mk(dt, dev, 1, (int64_t[]){ 4 }, -2, 2, 53) : NULL;
    dm_set_device(dev);
    dm_tensor *y = dm_linear(x, w, b);
    put(out, y, dev);
    dm_tensor_release(y);
    dm_tensor_release(b);
    dm_tensor_release(w);
    dm_tensor_release(x);
    dm_tensor_release(e);
    dm_tensor_release(l);
    dm_tensor_release(r);
}

/* linear past the small path, with its bias: x [5 x 7] (v odd: the transposed view of a
   [7 x 5]), w [6 x 7], the bias contiguous (v < 2) or every other element (bias_rows
   with a stride: a column of a [6 x 2]); floating: backward twice, the second adding into
   the existing gradients (bias_sum with acc) */
static void sc_linear_bias(int dev, dm_dtype dt, int v, vals *out)
{
    int fl = dm_is_floating(dt);
    dm_tensor *x, *xb = NULL, *bb = NULL, *b = NULL;
    if (v % 2) xb = mkT(dt, dev, 7, 5, -3, 3, 71, &x);
    else x = mk(dt, dev, 2, (int64_t[]){ 5, 7 }, -3, 3, 71);
    dm_tensor *w = mk(dt, dev, 2, (int64_t[]){ 6, 7 }, -3, 3, 72);
    if (v < 2) b = mk(dt, dev, 1, (int64_t[]){ 6 }, -3, 3, 73);
    else bb = mk(dt, dev, 2, (int64_t[]){ 6, 2 }, -3, 3, 73);
    if (fl) {
        dm_set_requires_grad(w, 1);
        dm_set_requires_grad(bb ? bb : b, 1);
    }
    dm_set_device(dev);
    for (int pass = 0; pass < (fl ? 2 : 1); pass++) {
        if (bb) {                               /* [6], stride 2; a new node each pass */
            dm_tensor_release(b);
            b = dm_select(bb, 1, 1);
        }
        dm_tensor *y = dm_linear(x, w, b);
        put(out, y, dev);
        if (fl && y) {
            dm_tensor *s = dm_reduce(DM_RED_SUM, y, DM_ALL, 0, 0);
            CHECKF(s && dm_backward(s, NULL, 0) == 0, "linear backward runs (%s)", dm_errmsg());
            put(out, w->grad, dev);
            put(out, (bb ? bb : b)->grad, dev);
            dm_tensor_release(s);
        }
        dm_tensor_release(y);
    }
    dm_tensor_release(b);
    dm_tensor_release(bb);
    dm_tensor_release(w);
    dm_tensor_release(x);
    dm_tensor_release(xb);
}

/* an integer division by zero is refused on both devices with one message */
static void test_div_zero(void)
{
    for (int dev = DM_CPU; dev <= DM_CPU_REF; dev++) {
        dm_tensor *a = mk(DM_INT64, dev, 1, (int64_t[]){ 3 }, 1, 5, 61);
        dm_tensor *b = mk(DM_INT64, dev, 1, (int64_t[]){ 3 }, 0, 0.5f, 62);
        CHECK_ERR(dm_binop2_apply(DM_B2_REMAINDER, a, b), "remainder: integer division by zero");
        dm_tensor_release(a);
        dm_tensor_release(b);
    }
    dm_set_device(DM_CPU);
}

/* ---- reductions over several dims, tests, scans and sorts ---------------------------------- */

/* the input of the reduce_multi, scan and sort scenarios, of dt on dev: layout 0 the
   transposed view [6 x 4] of a [4 x 6], 1 a [3 x 4 x 5] permuted to [5 x 3 x 4], 2 a 0-dim
   tensor, 3 columns 1-5 of a [6 x 8] (a slice); values tu_fill's in [lo, hi), rounded down
   to integers when ints (ties, zeros), with NaN, inf and -inf among them when specials (floats
   only); *base the leaf, requiring grad when grad and dt is floating */
static dm_tensor *mkV(dm_dtype dt, int dev, int layout, float lo, float hi, int ints,
                      int specials, int grad, unsigned seed, dm_tensor **base)
{
    static const int nds[4] = { 2, 3, 0, 2 };
    static const int64_t shp[4][3] = { { 4, 6 }, { 3, 4, 5 }, { 0 }, { 6, 8 } };
    dm_set_device(DM_CPU);
    dm_tensor *f = dm_tensor_new(nds[layout], shp[layout]);
    tu_fill(f, lo, hi, seed);
    float *fv = dm_data_ptr(f);
    int64_t n = dm_numel(f);
    for (int64_t i = 0; i < n; i++) {
        if (ints) fv[i] = floorf(fv[i]);
        if (specials && n > 1 && dm_is_floating(dt))
            if (i % 5 == 1) fv[i] = i / 5 % 3 == 0 ? NAN : i / 5 % 3 == 1 ? INFINITY : -INFINITY;
    }
    dm_tensor *d = dm_to_dtype(f, dt), *t = dm_to_device(d, dev);
    dm_tensor_release(f);
    dm_tensor_release(d);
    dm_set_device(dev);
    if (grad && dm_is_floating(dt)) dm_set_requires_grad(t, 1);
    *base = t;
    switch (layout) {
    case 0: return dm_transpose(t, 0, 1);
    case 1: return dm_permute(t, (int[]){ 2, 0, 1 });
    case 3: return dm_narrow(t, 1, 1, 5);
    default: return dm_tensor_retain(t);
    }
}

/* y and, when base requires grad, the gradient of sum(y * g) into base (g seeded) */
static void put_grad(vals *out, dm_tensor *y, dm_tensor *base, int dev)
{
    put(out, y, dev);
    if (!y || !base->requires_grad || !y->requires_grad) return;
    dm_tensor *g = mk(y->dtype, dev, y->ndim, y->shape, 0.5f, 2, 91);
    dm_tensor *yg = dm_mul(y, g), *s = dm_reduce(DM_RED_SUM, yg, DM_ALL, 0, 0);
    CHECK(s && dm_backward(s, NULL, 0) == 0, "backward runs");
    put(out, base->grad, dev);
    dm_tensor_release(s);
    dm_tensor_release(yg);
    dm_tensor_release(g);
}

/* amax, amin, logsumexp, norm (kind v % 4 for v < 24, norm of order ps[v - 24] after, in
   layout (v - 21) % 6, or 4 for v 31, 32) over the dims of layout (v / 4) % 6: 0 dim 0 of the transposed view, 1 dim 1 kept, 2 every dim,
   3 dims 0 and 2 of the permuted one, 4 dim 1 of the transposed view with NaN and infinities,
   5 dims 0 and 1 of the slice kept; integer rows (ties) in odd layouts; forward and the
   input's gradient */
static void sc_mreduce(int dev, dm_dtype dt, int v, vals *out)
{
    static const double ps[9] = { 1, INFINITY, -INFINITY, 0, 3, 0.5, 1.5, -INFINITY, 3 };
    static const int lay[6] = { 0, 0, 0, 1, 0, 3 }, nd[6] = { 1, 1, 0, 2, 1, 2 };
    static const int dims[6][2] = { { 0 }, { 1 }, { 0 }, { 0, 2 }, { 1 }, { 0, 1 } };
    int kind = v < 24 ? v % 4 : 3, l = v < 24 ? v / 4 : v < 31 ? (v - 21) % 6 : 4;
    double p = v < 24 ? 2 : ps[v - 24];
    dm_tensor *base, *x = mkV(dt, dev, lay[l], dt == DM_UINT8 || dt == DM_BOOL ? 0 : -2, 3,
                              l % 2, l == 4, 1, 31 + (unsigned)v, &base);
    int keep = l == 1 || l == 5;
    dm_tensor *y = kind == 0 ? dm_amax(x, nd[l], dims[l], keep)
                 : kind == 1 ? dm_amin(x, nd[l], dims[l], keep)
                 : kind == 2 ? dm_logsumexp(x, nd[l], dims[l], keep)
                             : dm_norm(x, p, nd[l], dims[l], keep);
    CHECKF(y != NULL, "mreduce %d on %s runs (%s)", v, dm_dtype_name(dt), y ? "" : dm_errmsg());
    put_grad(out, y, base, dev);
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* any (even v) and all (odd) of integer values with zeros: v / 2 = 0 dim 0 of the transposed
   view, 1 dim 1 kept, 2 everything, 3 dim 1 of the permuted one, 4 dim 0 of the slice */
static void sc_any_all(int dev, dm_dtype dt, int v, vals *out)
{
    static const int lay[5] = { 0, 0, 0, 1, 3 }, dim[5] = { 0, 1, DM_ALL, 1, 0 };
    int l = v / 2;
    dm_tensor *base, *x = mkV(dt, dev, lay[l], dt == DM_UINT8 || dt == DM_BOOL ? 0 : -1.5f, 3,
                              1, 0, 0, 41 + (unsigned)v, &base);
    dm_tensor *y = dm_any_all(x, dim[l], l == 1, v % 2);
    CHECKF(y != NULL, "any_all %d runs (%s)", v, y ? "" : dm_errmsg());
    put(out, y, dev);
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* isnan, isinf, isfinite (v 0-2), nan_to_num with the defaults (3) and with values given
   (4, with the gradient), of the transposed view (v < 5) or the slice (5-9) with NaN and
   infinities */
static void sc_isclass(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *base, *x = mkV(dt, dev, v < 5 ? 0 : 3, dt == DM_UINT8 || dt == DM_BOOL ? 0 : -2, 3,
                              0, 1, 1, 51 + (unsigned)v, &base);
    int k = v % 5;
    double pi = 7.5, ni = -3.25;
    dm_tensor *y = k < 3 ? dm_isclass(x, k) : k == 3 ? dm_nan_to_num(x, 0, NULL, NULL)
                                                     : dm_nan_to_num(x, 1.5, &pi, &ni);
    CHECKF(y != NULL, "isclass %d runs (%s)", v, y ? "" : dm_errmsg());
    put_grad(out, y, base, dev);
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* isposinf, isneginf, signbit (v % 3) of the transposed view (v < 3) or the slice with NaN and
   infinities */
static void sc_isclass_sign(int dev, dm_dtype dt, int v, vals *out)
{
    dm_tensor *base, *x = mkV(dt, dev, v < 3 ? 0 : 3, dt == DM_UINT8 || dt == DM_BOOL ? 0 : -2, 3,
                              0, 1, 1, 61 + (unsigned)v, &base);
    dm_tensor *y = dm_isclass(x, 3 + v % 3);
    CHECKF(y != NULL, "isclass %d runs (%s)", 3 + v % 3, y ? "" : dm_errmsg());
    put_grad(out, y, base, dev);
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* cumsum (even v) and cumprod (odd) along: v / 2 = 0 dim 0 of the transposed view, 1 dim -1
   of it, 2 dim 1 of the permuted one, 3 dim 1 of the transposed view of integers with zeros
   (cumprod's zero rule), 4 the 0-dim tensor, 5 dim 0 of the slice; the gradient too */
static void sc_scan(int dev, dm_dtype dt, int v, vals *out)
{
    static const int lay[6] = { 0, 0, 1, 0, 2, 3 }, dim[6] = { 0, -1, 1, 1, 0, 0 };
    int l = v / 2, small = dt == DM_UINT8 || dt == DM_BOOL;
    dm_tensor *base, *x = mkV(dt, dev, lay[l], l == 3 ? (small ? 0 : -2) : (small ? 0 : 0.5f),
                              l == 3 ? 3 : 2, l == 3 || !dm_is_floating(dt), 0, 1,
                              61 + (unsigned)v, &base);
    dm_tensor *y = v % 2 ? dm_cumprod(x, dim[l]) : dm_cumsum(x, dim[l]);
    CHECKF(y != NULL, "scan %d runs (%s)", v, y ? "" : dm_errmsg());
    put_grad(out, y, base, dev);
    dm_tensor_release(y);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* sort, topk, kthvalue, unique: v = 0 sort dim 0 of the transposed view, 1 sort descending
   along dim -1, 2 topk 3 largest along dim 1, 3 topk 2 smallest along dim 0, 4 kthvalue 2
   along dim 1, 5 kthvalue 3 along dim 0 kept, 6 sort descending along dim 1 of the permuted
   one, 7 and 8 sort ascending and descending along dim 1 with NaN and infinities, 9 unique
   of everything, 10 unique(dim 0), 11 unique(dim 1) of the slice, 12 sort of the 0-dim
   tensor, 13 unique of everything with NaNs, 14 kthvalue 4 along dim 0 of the slice; integer
   values (ties) in even v; values, indices and the gradient (sort, topk, kthvalue), or
   values, inverse and counts (unique) */
static void sc_sort(int dev, dm_dtype dt, int v, vals *out)
{
    static const int lay[15] = { 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 2, 0, 3 };
    int small = dt == DM_UINT8 || dt == DM_BOOL;
    int ints = v % 2 == 0 || v >= 9, spec = v == 7 || v == 8 || v == 13;
    dm_tensor *base, *x = mkV(dt, dev, lay[v], small ? 0 : -3, 3, ints || !dm_is_floating(dt),
                              spec, 1, 71 + (unsigned)v, &base);
    dm_tensor *a = NULL, *b = NULL, *c = NULL;
    int rc;
    switch (v) {
    case 0: case 12: rc = dm_sort(x, 0, 0, 1, &a, &b); break;
    case 1: rc = dm_sort(x, -1, 1, 1, &a, &b); break;
    case 2: rc = dm_topk(x, 3, 1, 1, 1, &a, &b); break;
    case 3: rc = dm_topk(x, 2, 0, 0, 1, &a, &b); break;
    case 4: rc = dm_kthvalue(x, 2, 1, 0, &a, &b); break;
    case 5: rc = dm_kthvalue(x, 3, 0, 1, &a, &b); break;
    case 6: case 8: rc = dm_sort(x, 1, 1, 1, &a, &b); break;
    case 7: rc = dm_sort(x, 1, 0, 1, &a, &b); break;
    case 9: case 13: rc = dm_unique(x, DM_ALL, &a, &b, &c); break;
    case 10: rc = dm_unique(x, 0, &a, &b, &c); break;
    case 11: rc = dm_unique(x, 1, &a, &b, &c); break;
    default: rc = dm_kthvalue(x, 4, 0, 0, &a, &b); break;
    }
    CHECKF(rc == 0, "sort %d on %s runs (%s)", v, dm_dtype_name(dt), rc ? dm_errmsg() : "");
    if (rc == 0) {
        put(out, b, dev);
        if (c) put(out, c, dev);
        put_grad(out, a, base, dev);
    }
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor_release(c);
    dm_tensor_release(x);
    dm_tensor_release(base);
}

/* ---- gather.c and index.c (put, index_add_alpha, index_add_bw, bincount, one_hot, nonzero,
   masked_fill) ---------------------------------------------------------------------------- */

/* an int64 tensor on dev holding v */
static dm_tensor *ids(int dev, int ndim, const int64_t *shape, const int64_t *v)
{
    dm_set_device(DM_CPU);
    dm_tensor *p = dm_tensor_new_dtype(ndim, shape, DM_INT64);
    memcpy(dm__ptr(p), v, (size_t)dm_numel(p) * sizeof *v);
    dm_tensor *t = dm_to_device(p, dev);
    dm_tensor_release(p);
    dm_set_device(dev);
    return t;
}

/* y's values, and for floats the gradients of the leaves l0, l1 (either NULL) after
   backward with a seeded gradient of y's shape */
static void put_with_grads(vals *out, dm_tensor *y, int dev, dm_dtype dt, dm_tensor *l0,
                           dm_tensor *l1)
{
    CHECKF(y != NULL, "%s runs on %s (%s)", dm_dtype_name(dt), dm_device_name(dev),
           y ? "" : dm_errmsg());
    put(out, y, dev);
    if (!y || !dm_is_floating(dt) || !y->requires_grad) return;
    dm_tensor *g = mk(dt, dev, y->ndim, y->shape, -1, 1, 77);
    CHECKF(dm_backward(y, g, 0) == 0, "backward runs (%s)", dm_errmsg());
    if (l0) put(out, l0->grad, dev);
    if (l1) put(out, l1->grad, dev);
    dm_tensor_release(g);
}

/* a [r x c] leaf of dt on dev (requiring grad when grad) and its transposed view in *view */
static dm_tensor *leafT(dm_dtype dt, int dev, int64_t r, int64_t c, float lo, float hi,
                        unsigned seed, int grad, dm_tensor **view)
{
    dm_tensor *b = mk(dt, dev, 2, (int64_t[]){ r, c }, lo, hi, seed);
    if (grad) dm_set_requires_grad(b, 1);
    *view = dm_transpose(b, 0, 1);
    return b;
}

/* gather, scatter (src or value; none, add, multiply), scatter_add, index_add (alpha 1, and
   2.5 for floats, 2 for integers) along dim 0 or 1 (v % 2) of x, the transposed view of a
   [5 x 4] (v < 16) or its contiguous copy; src a transposed view; indices repeat; the floats'
   gradients where PyTorch has them (gather, scatter without reduce, scatter_add, index_add) */
static void sc_gather(int dev, dm_dtype dt, int v, vals *out)
{
    int d = v % 2, kind = v / 2 % 8, strided = v < 16;
    int grad = dm_is_floating(dt) && kind != 2 && kind != 3 && kind != 5;
    dm_tensor *xv, *xb = leafT(dt, dev, 5, 4, -3, 3, 31, grad, &xv);
    dm_tensor *x = strided ? dm_tensor_retain(xv) : dm_contiguous(xv);
    dm_tensor *sv, *sb = leafT(dt, dev, 5, 4, -2, 2, 32, grad, &sv);      /* src [4 x 5] */
    /* index [3 x 4] along dim 0 (values < 4) or [4 x 3] along dim 1 (values < 5) */
    static const int64_t i0[12] = { 3, 0, 1, 3, 0, 0, 2, 1, 3, 2, 0, 3 };
    static const int64_t i1[12] = { 4, 0, 4, 1, 2, 2, 3, 0, 1, 1, 4, 0 };
    dm_tensor *ix = d == 0 ? ids(dev, 2, (int64_t[]){ 3, 4 }, i0)
                           : ids(dev, 2, (int64_t[]){ 4, 3 }, i1);
    static const int64_t p0[6] = { 3, 0, 3, 1, 0, 3 }, p1[6] = { 4, 0, 4, 2, 1, 4 };
    static const dm_scatter_reduce red[3] = { DM_SCATTER_NONE, DM_SCATTER_ADD, DM_SCATTER_MUL };
    dm_tensor *y = NULL;
    if (kind == 0) {
        y = dm_gather(x, d, ix);
        put_with_grads(out, y, dev, dt, xb, NULL);
    } else if (kind <= 3) {
        y = dm_scatter(x, d, ix, sv, red[kind - 1]);
        put_with_grads(out, y, dev, dt, xb, sb);
    } else if (kind == 4) {
        y = dm_scatter_add(x, d, ix, sv);
        put_with_grads(out, y, dev, dt, xb, sb);
    } else if (kind == 5) {
        for (int r = 0; r < 3; r++) {
            dm_tensor *yr = dm_scatter_value(x, d, ix, r == 2 ? -1.5 : 2.5, red[r]);
            put_with_grads(out, yr, dev, dt, NULL, NULL);
            dm_tensor_release(yr);
        }
    } else {             /* index_add of src [6 rows along d], alpha 1 (6) or 2.5 / 2 (7) */
        dm_tensor *pos = ids(dev, 1, (int64_t[]){ 6 }, d == 0 ? p0 : p1);
        int64_t r = d == 0 ? 6 : 4, c = d == 0 ? 5 : 6;
        dm_tensor *src, *s2 = leafT(dt, dev, c, r, -2, 2, 33, grad, &src);
        y = dm_index_add(x, d, pos, src, kind == 6 ? 1 : dm_is_floating(dt) ? 2.5 : 2);
        put_with_grads(out, y, dev, dt, xb, s2);
        dm_tensor_release(src);
        dm_tensor_release(s2);
        dm_tensor_release(pos);
    }
    dm_tensor_release(y);
    dm_tensor_release(ix);
    dm_tensor_release(sv);
    dm_tensor_release(sb);
    dm_tensor_release(x);
    dm_tensor_release(xv);
    dm_tensor_release(xb);
}

/* advanced indexing of x (the transposed view of a [6 x 5] with zeros, or its contiguous
   copy: v % 2): 0 x[i] (negative and repeated int64 indices), 1 x[:, i], 2 x[i, j] (two
   broadcast indices), 3 x[mask] (a bool mask [5 x 6]), 4 index_put (values broadcast),
   5 index_put accumulating (repeats add up; bool: or), 6 masked_fill (a mask broadcast from
   [1 x 6]), 7 masked_select, 8 nonzero; the floats' gradients */
static void sc_index(int dev, dm_dtype dt, int v, vals *out)
{
    int kind = v / 2, grad = dm_is_floating(dt) && kind != 8;
    dm_set_device(DM_CPU);
    dm_tensor *f = dm_tensor_new(2, (int64_t[]){ 6, 5 });
    tu_fill(f, -2, 2, 41);
    dm_tensor *fi = dm_to_dtype(f, DM_INT64), *fd = dm_to_dtype(fi, dt);   /* zeros among */
    dm_tensor *xb = dm_to_device(fd, dev);
    dm_tensor_release(f);
    dm_tensor_release(fi);
    dm_tensor_release(fd);
    dm_set_device(dev);
    if (grad) dm_set_requires_grad(xb, 1);
    dm_tensor *xv = dm_transpose(xb, 0, 1);
    dm_tensor *x = v % 2 ? dm_contiguous(xv) : dm_tensor_retain(xv);      /* [5 x 6] */
    dm_tensor *i = ids(dev, 1, (int64_t[]){ 4 }, (const int64_t[]){ 4, -1, 0, 4 });
    dm_tensor *j = ids(dev, 2, (int64_t[]){ 2, 1 }, (const int64_t[]){ -6, 2 });
    dm_tensor *mf = mk(DM_FLOAT32, dev, 2, (int64_t[]){ 5, 6 }, -1, 1, 42);
    dm_tensor *mask = dm_binary_scalar_f64(DM_BIN_GT, mf, 0, 0);
    dm_tensor *mf1 = mk(DM_FLOAT32, dev, 2, (int64_t[]){ 1, 6 }, -1, 1, 43);
    dm_tensor *mask1 = dm_binary_scalar_f64(DM_BIN_GT, mf1, 0, 0);
    dm_tensor *vb, *vals_ = leafT(dt, dev, 6, 1, -3, 3, 44, grad, &vb);    /* [1 x 6] */
    dm_tensor *y = NULL;
    switch (kind) {
    case 0: y = dm_index(x, 1, (const dm_tensor *[]){ i }); break;
    case 1: y = dm_index(x, 2, (const dm_tensor *[]){ NULL, i }); break;
    case 2: y = dm_index(x, 2, (const dm_tensor *[]){ i, j }); break;
    case 3: y = dm_index(x, 1, (const dm_tensor *[]){ mask }); break;
    case 4: case 5:
        y = dm_index_put(x, 1, (const dm_tensor *[]){ i }, vb, kind == 5);
        break;
    case 6: y = dm_masked_fill(x, mask1, -7.5); break;
    case 7: y = dm_masked_select(x, mask); break;
    default: y = dm_nonzero(x); break;
    }
    put_with_grads(out, y, dev, dt, xb, kind >= 4 && kind <= 5 ? vals_ : NULL);
    dm_tensor_release(y);
    dm_tensor_release(vb);
    dm_tensor_release(vals_);
    dm_tensor_release(mask1);
    dm_tensor_release(mf1);
    dm_tensor_release(mask);
    dm_tensor_release(mf);
    dm_tensor_release(j);
    dm_tensor_release(i);
    dm_tensor_release(x);
    dm_tensor_release(xv);
    dm_tensor_release(xb);
}

/* bincount of a strided int64, uint8 or bool input (v % 3) without weights (dt int64) or
   with float32 / float64 weights (a strided view), minlength 0 or 9; one_hot of int64
   labels [2 x 5] (transposed) with num_classes -1 and 7 */
static void sc_count(int dev, dm_dtype dt, int v, vals *out)
{
    static const dm_dtype in[3] = { DM_INT64, DM_UINT8, DM_BOOL };
    dm_tensor *xb = mk(DM_FLOAT32, dev, 2, (int64_t[]){ 8, 2 }, 0, 6, 51);
    dm_tensor *xi = dm_to_dtype(xb, in[v % 3]);
    dm_tensor *x = dm_select(xi, 1, 1), *x1 = dm_slice(x, 0, 1, 7, 1);    /* [7], stride 2 */
    dm_tensor *w = NULL, *wv = NULL, *wb = NULL;
    if (dt != DM_INT64) {
        wb = mk(dt, dev, 2, (int64_t[]){ 7, 2 }, -1, 2, 52);
        wv = dm_select(wb, 1, 0);                                           /* stride 2 */
        w = wv;
    }
    dm_tensor *y = dm_bincount(x1, w, v / 3 ? 9 : 0);
    put_with_grads(out, y, dev, dt, NULL, NULL);
    dm_tensor_release(y);
    dm_tensor *lb = mk(DM_FLOAT32, dev, 2, (int64_t[]){ 5, 2 }, 0, 6, 53);
    dm_tensor *li = dm_to_dtype(lb, DM_INT64), *lt = dm_transpose(li, 0, 1);
    for (int k = 0; k < 2; k++) {
        dm_tensor *oh = dm_one_hot(lt, k ? 7 : -1);
        put_with_grads(out, oh, dev, DM_INT64, NULL, NULL);
        dm_tensor_release(oh);
    }
    dm_tensor_release(lt);
    dm_tensor_release(li);
    dm_tensor_release(lb);
    dm_tensor_release(wv);
    dm_tensor_release(wb);
    dm_tensor_release(x1);
    dm_tensor_release(x);
    dm_tensor_release(xi);
    dm_tensor_release(xb);
}

/* ---- the table ------------------------------------------------------------------------------ */

static void test_table(void)
{
    const dm_kernels *c = dm__kernels(DM_CPU), *r = dm__kernels(DM_CPU_REF);
    const void *cp[] = { (void *)c->sgd, (void *)c->adam, (void *)c->random, (void *)c->pattern,
                         (void *)c->slabs, (void *)c->index_rows, (void *)c->index_add,
                         (void *)c->dropout, (void *)c->dropout_bw, (void *)c->batch_norm,
                         (void *)c->batch_norm_bw, (void *)c->loss, (void *)c->loss_bw,
                         (void *)c->nll, (void *)c->nll_bw, (void *)c->ce_log_softmax,
                         (void *)c->cross_entropy, (void *)c->cross_entropy_bw,
                         (void *)c->rownorm, (void *)c->rownorm_bw, (void *)c->multinomial,
                         (void *)c->bernoulli_p, (void *)c->normal_p, (void *)c->qr,
                         (void *)c->sparse_zero,
                         (void *)c->embedding, (void *)c->embedding_bw,
                         (void *)c->embedding_renorm, (void *)c->embedding_bag,
                         (void *)c->embedding_bag_bw, (void *)c->rnn_gates,
                         (void *)c->rnn_gates_bw, (void *)c->sum_to_i64, (void *)c->inplace,
                         (void *)c->binop2, (void *)c->unop2, (void *)c->divmod_bw,
                         (void *)c->tri, (void *)c->flip, (void *)c->range,
                         (void *)c->linear_small, (void *)c->bias_rows, (void *)c->bias_sum,
                         (void *)c->mreduce, (void *)c->mreduce_bw, (void *)c->any_all,
                         (void *)c->isclass, (void *)c->nan_to_num, (void *)c->nan_to_num_bw,
                         (void *)c->scan, (void *)c->scan_bw, (void *)c->sort,
                         (void *)c->sort_bw, (void *)c->unique, (void *)c->unique_out,
                         (void *)c->put, (void *)c->index_add_alpha, (void *)c->index_add_bw,
                         (void *)c->bincount, (void *)c->one_hot, (void *)c->nonzero,
                         (void *)c->masked_fill, (void *)c->index_offsets,
                         (void *)c->adv_offsets };
    const void *rp[] = { (void *)r->sgd, (void *)r->adam, (void *)r->random, (void *)r->pattern,
                         (void *)r->slabs, (void *)r->index_rows, (void *)r->index_add,
                         (void *)r->dropout, (void *)r->dropout_bw, (void *)r->batch_norm,
                         (void *)r->batch_norm_bw, (void *)r->loss, (void *)r->loss_bw,
                         (void *)r->nll, (void *)r->nll_bw, (void *)r->ce_log_softmax,
                         (void *)r->cross_entropy, (void *)r->cross_entropy_bw,
                         (void *)r->rownorm, (void *)r->rownorm_bw, (void *)r->multinomial,
                         (void *)r->bernoulli_p, (void *)r->normal_p, (void *)r->qr,
                         (void *)r->sparse_zero,
                         (void *)r->embedding, (void *)r->embedding_bw,
                         (void *)r->embedding_renorm, (void *)r->embedding_bag,
                         (void *)r->embedding_bag_bw, (void *)r->rnn_gates,
                         (void *)r->rnn_gates_bw, (void *)r->sum_to_i64, (void *)r->inplace,
                         (void *)r->binop2, (void *)r->unop2, (void *)r->divmod_bw,
                         (void *)r->tri, (void *)r->flip, (void *)r->range,
                         (void *)r->linear_small, (void *)r->bias_rows, (void *)r->bias_sum,
                         (void *)r->mreduce, (void *)r->mreduce_bw, (void *)r->any_all,
                         (void *)r->isclass, (void *)r->nan_to_num, (void *)r->nan_to_num_bw,
                         (void *)r->scan, (void *)r->scan_bw, (void *)r->sort,
                         (void *)r->sort_bw, (void *)r->unique, (void *)r->unique_out,
                         (void *)r->put, (void *)r->index_add_alpha, (void *)r->index_add_bw,
                         (void *)r->bincount, (void *)r->one_hot, (void *)r->nonzero,
                         (void *)r->masked_fill, (void *)r->index_offsets,
                         (void *)r->adv_offsets };
    for (size_t k = 0; k < sizeof cp / sizeof *cp; k++)
        CHECKF(cp[k] && rp[k] && cp[k] != rp[k], "kernel entry %d: one in each table, different",
               (int)k);
    /* the allocator: one, shared (both devices hold host memory) */
    CHECK(c->alloc && c->free && r->alloc == c->alloc && r->free == c->free,
          "alloc and free: cpu's caching allocator in both tables");
}

/* an update whose tensors sit on two devices is refused, naming the function */
static void test_mismatch(void)
{
    dm_set_device(DM_CPU);
    dm_tensor *p = dm_tensor_zeros(1, (int64_t[]){ 3 }), *g = dm_tensor_zeros(1, (int64_t[]){ 3 });
    dm_tensor *gr = dm_to_device(g, DM_CPU_REF), *pr = dm_to_device(p, DM_CPU_REF);
    CHECK_ERR(dm_sgd_step(p, gr, NULL, 0.1, 0, 0, 0, 0, 0, 0),
              "sgd_step: expected all tensors on one device, got cpu and cpu:ref");
    CHECK_ERR(dm_adam_step(pr, gr, p, pr, NULL, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: expected all tensors on one device, got cpu:ref and cpu");
    dm_tensor_release(pr);
    dm_tensor_release(gr);
    dm_tensor_release(g);
    dm_tensor_release(p);
    dm_set_device(DM_CPU);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_table();
    test_mismatch();
    static const dm_dtype fl[2] = { DM_FLOAT32, DM_FLOAT64 };
    for (int k = 0; k < 2; k++) {
        dm_dtype dt = fl[k];
        for (int v = 0; v < 5; v++) compare("sgd", sc_sgd, dt, v, 0);
        for (int v = 0; v < 5; v++) compare("adam", sc_adam, dt, v, 0);
        for (int v = 0; v < 14; v++)
            compare("fill", sc_fill, dt, v,
                    v == 9 || v == 10 || v == 13 ? (dt == DM_FLOAT32 ? 1e-6 : 1e-12) : 0);
        for (int v = 0; v < 4; v++) compare("join", sc_join, dt, v, 0);
        for (int v = 0; v < 2; v++) compare("dropout", sc_dropout, dt, v, 0);
        for (int v = 0; v < 3; v++)
            compare("batch_norm", sc_bn, dt, v, dt == DM_FLOAT32 ? 1e-6 : 1e-12);
        for (int v = 0; v < 11; v++)
            compare("loss", sc_loss, dt, v, dt == DM_FLOAT32 ? 1e-6 : 1e-12);
        for (int v = 0; v < 4; v++)
            compare("norm", sc_norm, dt, v, dt == DM_FLOAT32 ? 1e-6 : 1e-12);
        for (int v = 0; v < 9; v++) compare("sample", sc_sample, dt, v, 0);
        for (int v = 0; v < 12; v++)
            compare("embedding_renorm", sc_renorm, dt, v, dt == DM_FLOAT32 ? 1e-6 : 1e-12);
    }
    /* the fills that take any dtype, on integer and bool tensors */
    static const dm_dtype ints[3] = { DM_INT64, DM_UINT8, DM_BOOL };
    static const int any_dtype[] = { 2, 3, 6, 7, 8 };
    for (int k = 0; k < 3; k++)
        for (size_t j = 0; j < sizeof any_dtype / sizeof *any_dtype; j++)
            compare("fill", sc_fill, ints[k], any_dtype[j], 0);
    compare("join", sc_join, DM_INT64, 3, 0);         /* index_select of int64 (no grad) */
    /* in place on every dtype (cpu's float32 in its own type, cpu:ref's in double: pow's
       last bits), dm_sum_to of integers (exactly) */
    static const dm_dtype all[5] = { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL };
    for (int k = 0; k < 5; k++)
        for (int v = 0; v < 13 * 8 + 3; v++)
            compare("inplace", sc_inplace, all[k], v,
                    all[k] == DM_FLOAT32 ? 1e-6 : all[k] == DM_FLOAT64 ? 1e-12 : 0);
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 8; v++) compare("sum_to", sc_sum_to_int, ints[k], v, 0);
    /* bitwise.c's ops on every dtype they take, tril/triu/flip/diag/trace on every dtype,
       arange, linspace, eye and the small linear; integers and bool exactly */
    test_div_zero();
    for (int k = 0; k < 5; k++) {
        double tol = all[k] == DM_FLOAT32 ? 1e-6 : all[k] == DM_FLOAT64 ? 1e-12 : 0;
        for (int v = 0; v < 27; v++)
            if (binop2_takes(all[k], v % 9)) compare("binop2", sc_binop2, all[k], v, tol);
        for (int v = 0; v < 28; v++) compare("shape", sc_shape, all[k], v, tol);
    }
    for (int k = 0; k < 2; k++)
        for (int v = 0; v < 5; v++)
            compare("create", sc_create, fl[k], v, fl[k] == DM_FLOAT32 ? 1e-6 : 1e-12);
    for (int k = 0; k < 4; k++)
        for (int v = 0; v < 4; v++)
            compare("linear_bias", sc_linear_bias, all[k], v,
                    all[k] == DM_FLOAT32 ? 1e-6 : all[k] == DM_FLOAT64 ? 1e-12 : 0);
    /* reductions over several dims, any/all, the tests and nan_to_num, the scans and sorts
       on every dtype they take (integers exactly; norm takes floats only) */
    for (int k = 0; k < 5; k++) {
        dm_dtype dt = all[k];
        double tol = dt == DM_FLOAT32 ? 1e-6 : dt == DM_FLOAT64 ? 1e-12 : 0;
        for (int v = 0; v < 33; v++)
            if (dm_is_floating(dt) || (v < 24 && v % 4 != 3))
                compare("mreduce", sc_mreduce, dt, v, v % 4 == 2 && v < 24 && !dm_is_floating(dt)
                                                          ? 1e-6 : tol);
        for (int v = 0; v < 10; v++) compare("any_all", sc_any_all, dt, v, 0);
        for (int v = 0; v < 10; v++) compare("isclass", sc_isclass, dt, v, tol);
        for (int v = 0; v < 6; v++) compare("isclass sign", sc_isclass_sign, dt, v, 0);
        for (int v = 0; v < 12; v++) compare("scan", sc_scan, dt, v, tol);
        for (int v = 0; v < 15; v++) compare("sort", sc_sort, dt, v, tol);
    }
    /* gather.c's and index.c's ops on every dtype, their gradients on floats; bincount
       with float weights (float32, float64) or counting (int64) */
    for (int k = 0; k < 5; k++) {
        double tol = all[k] == DM_FLOAT32 ? 1e-6 : all[k] == DM_FLOAT64 ? 1e-12 : 0;
        for (int v = 0; v < 32; v++) compare("gather", sc_gather, all[k], v, tol);
        for (int v = 0; v < 18; v++) compare("index", sc_index, all[k], v, tol);
    }
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 6; v++)
            compare("count", sc_count, all[k], v, all[k] == DM_FLOAT32 ? 1e-6 : 1e-12);
    printf("test_backend_kernels: %d scenarios compared\n", ncompared);
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_backend_kernels");
}
