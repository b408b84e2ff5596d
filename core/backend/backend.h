/* backend.h -- the device seam: one table of kernels per device (dm_device).
 *
 * An op function (core/ops/elementwise.c, linalg.c, ...) checks its arguments, computes the
 * result's shape, records the autograd node and calls the kernel of its inputs' device from
 * this table: dm__kernels(dm__cur_device), which is the inputs' device (internal.h).  A
 * backend is a directory under core/backend/ that defines one dm_kernels:
 *
 *   cpu/   DM_CPU, "cpu": BLAS and the in-place small-product path (gemm.c), the vectorised
 *          elementwise kernels and the in-place ops on any dtype (elementwise.c), reductions
 *          and softmax (reduce.c), their backward kernels and dm_sum_to's (reduce_bw.c), the elementwise backward kernels
 *          (elementwise_bw.c), copies with conversion, fills and float32 in place (copy.c),
 *          the optimizer updates (optim.c), random and init fills (fill.c), the join copies
 *          (join.c), dropout and batch norm (nn.c, nn_gen.h), F.pad, F.interpolate and the
 *          pools (pad.c, upsample.c, pool.c), the losses (loss.c, loss_gen.h), the caching
 *          allocator (alloc.c; cpu:ref's too), the convolutions (conv.c: batched im2col
 *          and gemm, the direct small-channel kernels, the per-thread workspace), layer
 *          and group norm (norm.c), the samplers (sample.c), orthogonal_'s QR and
 *          sparse_'s zeroing (init.c), the embeddings (embedding.c), the recurrent gates
 *          (rnn.c, rnn_gen.h), the bitwise and logical ops with floor_divide, remainder
 *          and fmod (bitwise.c), tril, triu and flip (shape.c), arange and linspace
 *          (range.c), linear's small float32 product (linear.c), amax/amin, logsumexp,
 *          norm over rows, any/all, the tests and nan_to_num (reduce_multi.c), cumsum and
 *          cumprod (scan.c), the sorts and unique (sort.c), the indexed copies of
 *          gather.c and index.c (gather.c, index.c)
 *   ref/   DM_CPU_REF, "cpu:ref": the naive reference kernels (gemm.c, elementwise.c,
 *          reduce.c, copy.c, optim.c, fill.c, join.c, nn.c, pad.c, upsample.c, pool.c,
 *          loss.c, conv.c, norm.c, sample.c, init.c, embedding.c, rnn.c, bitwise.c, shape.c,
 *          range.c, linear.c, reduce_multi.c, scan.c, sort.c, gather.c, index.c), compared
 *          with the
 *          cpu device op by op in
 *          tests/c/test_backend_ops.c and tests/c/test_backend_kernels.c
 *
 * What is behind the table today: the matrix products (matmul, linear and their backward
 * rules, every dtype), the elementwise forward kernels (binary, scalar, unary, clamp,
 * leaky_relu, elu, where) and their backward kernels, the reductions and softmax, their
 * backward kernels and dm_sum_to's sums (floating, and integers in int64), copies with
 * conversion, fills, the float32 in-place updates and the in-place ops on every dtype, the optimizer updates (SGD, Adam, AdamW), the random fills (uniform_,
 * normal_, bernoulli_, randint_, trunc_normal_, randperm) and the structured init fills
 * (eye_, dirac_; constant_ and orthogonal_'s result go through fill and copy), the copies of
 * cat, stack and index_select and index_select's backward, dropout and batch norm forward and
 * backward, pad, interpolate and the pools forward and backward, the losses forward and
 * backward, the device's memory (the caching allocator), and the convolutions forward and
 * backward (im2col/col2im with the products, the bias), layer and group norm forward and
 * backward, the samplers (multinomial, bernoulli and normal with tensor parameters),
 * orthogonal_'s QR and sparse_'s zeroing, the embeddings (gather, scatter-add, max_norm's
 * renorm, embedding_bag forward and backward) and the recurrent layers' pointwise gates
 * (their products are the gemms above), the bitwise and logical ops, floor_divide,
 * remainder and fmod and their gradients, tril, triu and flip (diagonal a view; diag, trace
 * through copy and reduce), arange, linspace and eye (eye: zeros and a fill), linear's
 * small float32 product and its bias (the rows seeded, the column sums), amax/amin,
 * logsumexp and norm over several dims, any/all, isnan/isinf/isfinite, nan_to_num, cumsum,
 * cumprod, sort, topk, kthvalue and unique with their backward, and the indexed copies of
 * gather.c and index.c (gather, scatter, scatter_add, index_add, bincount, one_hot,
 * advanced indexing, index_put, masked_fill, nonzero, forward and backward, and the
 * offsets their indices name): everything those ops
 * compute.  The op files keep no loop over tensor values: only host-side range checks of
 * index values (core/README.md).  Moving a new op's loop behind the table is adding its
 * field at the end of dm_kernels and a kernel in each backend, named in its table.c
 * (core/README.md). */
#ifndef DM_BACKEND_H
#define DM_BACKEND_H

#include "deepmoon.h"

/* C[m x n] = alpha * op(A) @ op(B) + beta * C, row-major, as dm_gemm (deepmoon.h) */
#define DM_GEMM_FN(name, T)                                                                  \
    void (*name)(int transa, int transb, int64_t m, int64_t n, int64_t k, T alpha,         \
                 const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc)

/* tensor-scalar maps, out = f(x, s): s is the number in x's type (rounded to float for a
   float32 x); x - s comes as DM_SC_ADD of -s */
typedef enum {
    DM_SC_ADD, DM_SC_MUL, DM_SC_DIV,  /* x + s, x * s, x / s (a true division) */
    DM_SC_RSUB, DM_SC_RDIV,           /* s - x, s / x (torch's reciprocal(x) * s) */
    DM_SC_POW, DM_SC_RPOW             /* x ^ s (torch's special cases), s ^ x */
} dm_scalar_kind;

/* The elementwise kernels write out, a new contiguous tensor (its shape the broadcast of
 * the inputs', at least one element); the inputs have any strides and offsets, broadcast to
 * out's shape (right-aligned, size-1 dims repeated).  Dtypes are the compute types the op
 * functions convert to (elementwise.c): float32, float64, or int64 where the op has an
 * integer kernel (not div, pow with a scalar, the float maps); out has the inputs' dtype, bool
 * for comparisons. */
typedef void (*dm_binary_fn)(dm_binop op, dm_tensor *out, const dm_tensor *a,
                             const dm_tensor *b);
/* the common case without the broadcasting machinery, float32 into float32: a row of n
   elements of a (stride sa) op b (stride sb) into o, one function per arithmetic dm_binop
   (NULL for comparisons, whose output is bool) */
typedef void (*dm_f32_row_fn)(int64_t n, const float *a, int64_t sa, const float *b,
                              int64_t sb, float *o);
typedef void (*dm_unary_fn)(dm_unop op, dm_tensor *out, const dm_tensor *x);
typedef void (*dm_scalar_fn)(dm_scalar_kind k, dm_tensor *out, const dm_tensor *x, double s);
/* p0, p1: clamp's lo and hi (NaN: none), leaky_relu's slope, elu's alpha; in x's type */
typedef void (*dm_param_fn)(dm_tensor *out, const dm_tensor *x, double p0, double p1);
/* out = cond ? a : b; cond bool, a and b of out's dtype (any) */
typedef void (*dm_where_fn)(dm_tensor *out, const dm_tensor *cond, const dm_tensor *a,
                            const dm_tensor *b);

/* The elementwise backward kernels write o, the input's gradient, from g, the output's, over
 * m contiguous elements of dt (float32, float64); x the input's values and y the output's,
 * contiguous, each NULL where the rule reads none.  op is the node's dm_op (internal.h). */
/* the rule of unary op u: x for log abs sin cos selu gelu square log1p log2 log10 asin acos
   atan sinh cosh asinh acosh atanh erf erfc lgamma digamma logit sinc, y for exp sqrt tanh
   sigmoid relu reciprocal expm1 exp2 rsqrt tan erfinv */
typedef void (*dm_unary_bw_fn)(dm_dtype dt, dm_unop u, int64_t m, const void *g,
                               const void *x, const void *y, void *o);
/* the tensor-scalar rules, s the scalar: DM_OP_MULS g * s (div: g / p1, x / s), DM_OP_RSUBS
   -g, DM_OP_RDIVS (x), DM_OP_POWS g * s * o, o holding x^(s-1) on entry (zeros for s = 0),
   DM_OP_RPOWS (y; x too for s = 0) */
typedef void (*dm_scalar_bw_fn)(dm_dtype dt, int op, int div, int64_t m, const void *g,
                                const void *x, const void *y, double s, double p1, void *o);
/* DM_OP_CLAMP (p0 lo, p1 hi; NaN: none), DM_OP_LEAKY_RELU (p0 slope), DM_OP_ELU (p0 alpha),
   reading x */
typedef void (*dm_param_bw_fn)(dm_dtype dt, int op, int64_t m, const void *g, const void *x,
                               double p0, double p1, void *o);
/* DM_OP_POW (y its output, contiguous), DM_OP_MAXIMUM, DM_OP_MINIMUM: the full gradients ga
   and gb (either NULL), contiguous in gout's shape, from gout (contiguous) and a, b (any
   strides, broadcast to gout's shape); all of dt */
typedef void (*dm_binary_bw_fn)(dm_dtype dt, int op, const dm_tensor *gout, const dm_tensor *a,
                                const dm_tensor *b, const dm_tensor *y, dm_tensor *ga,
                                dm_tensor *gb);
/* where: ga = cond ? g : 0, gb = cond ? 0 : g (either NULL); cond bool, broadcast to gout */
typedef void (*dm_where_bw_fn)(dm_dtype dt, const dm_tensor *cond, const dm_tensor *gout,
                               dm_tensor *ga, dm_tensor *gb);

/* Copies and fills (dtype.c, inplace.c).  copy: dst (any strides) = src broadcast to dst's
 * shape, converted to dst's dtype (dtype.c's rules); the caller handles overlap.  gather:
 * src's elements, row-major, converted into out, a contiguous buffer of od.  fill: every
 * element of t (any strides) = *v, one element of t's dtype. */
typedef void (*dm_copy_fn)(dm_tensor *dst, const dm_tensor *src);
typedef void (*dm_gather_fn)(const dm_tensor *src, void *out, dm_dtype od);
typedef void (*dm_fill_fn)(dm_tensor *t, const void *v);
/* float32 in place (inplace.c), t any strides: t = src, t += a * src, t *= src with src
   broadcast to t's shape (the caller handles overlap); t += a, t *= a, t = clamp(t, a, b)
   (NaN: no bound) with src NULL */
typedef enum { DM_IP_COPY, DM_IP_AXPY, DM_IP_MUL, DM_IP_ADDS, DM_IP_MULS, DM_IP_CLAMP } dm_ip_kind;
typedef void (*dm_inplace_f32_fn)(dm_ip_kind k, dm_tensor *t, const dm_tensor *src, float a,
                                  float b);

/* In place on any dtype (inplace.c): t (any dtype and strides) = f(t, src), each element of
 * t read in ct (the op's compute type: float32, float64, or int64, wrapping; dtype.c's
 * conversions), f computed there as the out-of-place kernels compute it (binary, scalar,
 * clamp), and the result (bool for a comparison) stored back converted to t's dtype
 * (dtype.c's rules: int64 to uint8 the low byte, to bool v != 0).  op is a dm_binop with src
 * (of ct, any strides, broadcast to t's shape; the caller handles overlap; the op defined
 * for ct: no int64 div), or DM_IPX_POWS (x ^ s, src 0-dim holding s: torch's pow(Tensor,
 * Scalar) with its special cases; floating ct), or DM_IPX_CLAMP (min(max(x, lo), hi), a NaN
 * bound none, NaN x stays NaN; floating ct; src NULL). */
enum { DM_IPX_POWS = DM_BIN_MINIMUM + 1, DM_IPX_CLAMP };
typedef void (*dm_inplace_fn)(int op, dm_dtype ct, dm_tensor *t, const dm_tensor *src,
                              double lo, double hi);

/* Reductions see their input as a contiguous [outer x r x inner] block: r elements along the
 * reduced dim, outer the product of the dims before it, inner of those after it (a full
 * reduction is 1 x numel x 1); slice (o, i)'s result sits at y[o * inner + i]. */
typedef struct { int64_t outer, r, inner; } dm_geom;
/* sum (times scale: 1, or 1/r for the mean), prod, max, min, argmax, argmin (int64 y), var
   and std (correction) of x of dtype dt: float32, float64, or int64 for sum, prod, max, min,
   argmax, argmin (exact, wrapping); y has dt but for argmax/argmin.  0, or -1 and a message */
typedef int (*dm_reduce_fn)(dm_redop op, dm_dtype dt, const void *x, dm_geom g, double scale,
                            int64_t correction, void *y);
/* max or min along r: values v (dt) and their first 0-based indices ix (NaN wins) */
typedef void (*dm_maxmin_fn)(dm_dtype dt, const void *x, dm_geom g, int is_min, void *v,
                             int64_t *ix);
/* softmax or log_softmax along r, x and y [outer x r x inner] of dt (float32, float64) */
typedef void (*dm_softmax_fn)(dm_dtype dt, const void *x, void *y, dm_geom g, int logsm);

/* dm_sum_to's sum: x (dt: float32, float64), contiguous, seen as nb runs of dims of
 * bsize[b] elements each, bred[b] whether the run is summed away (the innermost run last),
 * n elements in all; y [m] (dt) receives the sums, the kept elements in x's order.
 * Accumulates in double.  0, or -1 and a message */
typedef int (*dm_sum_to_fn)(dm_dtype dt, const void *x, int nb, const int64_t *bsize,
                            const int *bred, int64_t n, int64_t m, void *y);
/* dm_sum_to's sum of integers: x int64 (an int64, uint8 or bool input converted),
 * contiguous, seen as sum_to's runs; y [m] int64 receives the sums, exact modulo 2^64 (as
 * PyTorch's sum of integers). */
typedef void (*dm_sum_to_i64_fn)(const int64_t *x, int nb, const int64_t *bsize,
                                 const int *bred, int64_t n, int64_t m, int64_t *y);
/* softmax's (logsm 0) or log_softmax's backward along r: gi from the output y and its
   gradient g, all [outer x r x inner] of dt (float32, float64) */
typedef void (*dm_softmax_bw_fn)(dm_dtype dt, const void *y, const void *g, void *gi,
                                 dm_geom G, int logsm);
/* the backward rules of sum, mean, prod, max/min and var/std (n->op, n->par.reduce): gi
 * [outer x r x inner], nin elements, from g [outer x inner]; x the input's values (NULL for
 * sum, mean, max/min(dim)), ix max/min(dim)'s saved 0-based indices, sd std's saved output;
 * full: a reduction over everything.  All of dt (float32, float64).  0, or -1 and a message */
struct dm_node;
typedef int (*dm_reduce_bw_fn)(dm_dtype dt, const struct dm_node *n, dm_geom G, int full,
                               const void *x, const void *g, const int64_t *ix, const void *sd,
                               void *gi, int64_t nin);

/* ---- optimizers, random and init fills, joins, dropout and batch norm ------------------ */

/* One optimizer update (optim.c) of n contiguous elements of dt (float32, float64) in place:
 * p the parameter, g its gradient, buf / m, v, vmax the state (NULL where unused), all
 * distinct or equal arrays.  The scalars come as the op computes them (double); a float32
 * kernel rounds each to float first, as aten does.  PyTorch 1.13's single-tensor formulas
 * (optim.c's comments), fused multiply-adds where aten's CPU kernels use them. */
typedef struct {
    double lr, momentum, dampening, weight_decay;
    int nesterov, maximize, first;        /* first: the momentum buffer is set, not updated */
} dm_sgd_par;
typedef void (*dm_sgd_fn)(dm_dtype dt, int64_t n, void *p, const void *g, void *buf,
                          const dm_sgd_par *s);
typedef struct {
    double neg_step_size, bc2_sqrt;       /* -(lr / bc1), sqrt(bc2) */
    double beta1, beta2, eps, weight_decay, decay;   /* decay: 1 - lr weight_decay (AdamW) */
    int l2, decoupled, maximize;          /* l2: Adam's weight decay into the gradient */
} dm_adam_par;
typedef void (*dm_adam_fn)(dm_dtype dt, int64_t n, void *p, const void *g, void *m, void *v,
                           void *vmax, const dm_adam_par *s);

/* Random fills (rng.c, init.c): t (any strides) filled in row-major order, one draw (or
 * Box-Muller value) per element in turn from g, so a fill equals the same draws made one by
 * one and both devices give the same stream.  Float kinds draw in t's precision (float32
 * from 24-bit uniforms, float64 from 53-bit).  rng.c's header spells each formula out. */
typedef enum {
    DM_RAND_UNIFORM,       /* a + (b - a) u: float32, float64 */
    DM_RAND_NORMAL,        /* a + b n (mean a, std b): float32, float64 */
    DM_RAND_BERNOULLI,     /* uniform() < a: any dtype */
    DM_RAND_RANDINT,       /* low + below(span): any dtype, stored exactly */
    DM_RAND_TRUNC_NORMAL,  /* a + b sqrt 2 erfinv(u), u in [ulo, uhi), clamped to [lo, hi] */
    DM_RAND_PERM           /* t int64 [n], contiguous: 0 .. n-1, then Fisher-Yates */
} dm_rand_kind;
typedef struct {
    double a, b, lo, hi, ulo, uhi;
    int64_t low;
    uint64_t span;
} dm_rand_par;
typedef void (*dm_random_fn)(dm_rand_kind k, dm_tensor *t, const dm_rand_par *r, dm_rng *g);
/* the structured init fills (init.c), any dtype and strides: eye_ (t 2-D: 1 where row ==
   col), dirac_ (t [out x in x k...], groups: 1 at the kernel's centre of in-channel d of
   out-channel gr * out/groups + d, d < min(out/groups, in)); 0 elsewhere */
typedef enum { DM_PAT_EYE, DM_PAT_DIRAC } dm_pattern_kind;
typedef void (*dm_pattern_fn)(dm_pattern_kind k, dm_tensor *t, int64_t groups);

/* Joins (join.c), es bytes an element: outer runs of run elements each, from src (run k at
 * src + k * sstep elements) to dst (at dst + k * dstep); cat, stack and cat's backward */
typedef void (*dm_slabs_fn)(size_t es, int64_t outer, int64_t run, void *dst, int64_t dstep,
                            const void *src, int64_t sstep);
/* index_select: src [outer x size x inner] (contiguous) -> dst [outer x m x inner], slab j
   of each outer row from slab pos[j] (0-based, checked); and its backward, dst [outer x size
   x inner] += g [outer x m x inner] scattered by pos (repeats add up; dt float32, float64) */
typedef void (*dm_index_rows_fn)(size_t es, int64_t outer, int64_t m, int64_t size,
                                 int64_t inner, const int64_t *pos, const void *src, void *dst);
typedef void (*dm_index_add_fn)(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                                int64_t inner, const int64_t *pos, const void *g, void *dst);

/* Dropout and batch norm (nn.c), dt float32 or float64.  dropout: the mask m (0 or
 * 1 / (1 - p), drawn as bernoulli(1 - p): uniform() < 1 - p per element in order) and
 * o = x * m, n elements, x any strides, m and o contiguous; dropout_bw: d = g * m (k
 * elements, contiguous). */
typedef void (*dm_dropout_fn)(dm_dtype dt, const dm_tensor *x, int64_t n, double p, dm_rng *g,
                              void *m, void *o);
typedef void (*dm_dropout_bw_fn)(dm_dtype dt, const void *g, const void *m, void *d, int64_t k);
/* batch norm over x [N x C x L] (contiguous): training uses the batch's statistics and
 * updates the running ones (any stride, may be NULL) with momentum; eval uses the running
 * ones.  mean and inv (C doubles each, zeroed) receive the mean and 1/sqrt(var + eps) used,
 * sm and si (C each, dt) their copies, o the output; weight and bias may be NULL.
 * Statistics in double, as aten's native_batch_norm. */
typedef void (*dm_bn_fn)(dm_dtype dt, const void *x, int64_t N, int64_t C, int64_t L,
                         int training, double momentum, double eps, dm_tensor *running_mean,
                         dm_tensor *running_var, const dm_tensor *weight,
                         const dm_tensor *bias, double *mean, double *inv, void *o, void *sm,
                         void *si);
/* its backward from g (contiguous, x's shape), the saved mean sm and inverse std si: gx,
 * gw, gb (each NULL when not wanted); s1, s2 C doubles each (zeroed), scratch */
typedef void (*dm_bn_bw_fn)(dm_dtype dt, const void *x, const void *g, const void *sm,
                            const void *si, int64_t N, int64_t C, int64_t L, int training,
                            const dm_tensor *weight, double *s1, double *s2, void *gx,
                            void *gw, void *gb);

/* ---- vision ops: pad, interpolate, pools (pad.c, upsample.c, pool.c) ----------------
 * All of dt (float32, float64), contiguous.  pad: o [oshape] from x [ishape] (nd dims; lo the
 * left pad per dim, negative crops), mode DM_PAD_*, value the constant fill; pad_bw: r
 * [ishape] (written whole) = the scatter-add of g [oshape] into the source positions.
 * 0, or -1 and a message (out of memory). */
typedef int (*dm_pad_fn)(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                         const int32_t *lo, int mode, double value, const void *x, void *o);
typedef int (*dm_pad_bw_fn)(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                            const int32_t *lo, int mode, const void *g, void *r);
/* interpolate over the last nsp (1, 2) dims of [N x C x ...]: mode DM_UPSAMPLE_*, sc the
   scale factors (0: none) per spatial dim; forward src x [ishape] -> dst [oshape]; backward
   src g [oshape] -> dst r [ishape] (written whole).  0, or -1 and a message */
typedef int (*dm_upsample_fn)(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                              const int64_t *ishape, const int64_t *oshape, const void *src,
                              void *dst);
/* pools over P planes of H x W -> OH x OW.  max: y and ix (0-based flat index within the
   plane of each window's first maximum, a NaN wins); k, s, p, d kernel, stride, padding,
   dilation (rows, cols); ceil the ceil_mode the output size was computed with */
typedef void (*dm_maxpool_fn)(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                              int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                              const int64_t *s, const int64_t *p, const int64_t *d, int ceil);
/* avg_pool2d (x -> y) and its backward (src g [P x OH x OW] -> dst r [P x H x W], written
   whole): cip count_include_pad, divisor the override (0: none) */
typedef void (*dm_avgpool_fn)(dm_dtype dt, const void *src, void *dst, int64_t P, int64_t H,
                              int64_t W, int64_t OH, int64_t OW, const int32_t *k,
                              const int32_t *s, const int32_t *p, int cip, int64_t divisor);
/* adaptive pools, windows [floor(o I / O), ceil((o + 1) I / O)): max with ix (as max
   pool's), avg with ix NULL; adaptive avg's backward g [P x OH x OW] -> r [P x H x W] */
typedef void (*dm_adaptive_fn)(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                               int64_t H, int64_t W, int64_t OH, int64_t OW);
typedef void (*dm_adaptive_bw_fn)(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                                  int64_t W, int64_t OH, int64_t OW);
/* the index moves, ix [P x HW] or [P x OHW] 0-based within a plane (checked by the caller):
   max_pool2d_bw: dst [P x HW] = 0, dst[ix] += src [P x OHW] (ix [P x OHW]);
   max_unpool2d: dst [P x OHW] = 0, dst[ix] = src [P x HW] (ix [P x HW]);
   max_unpool2d_bw: dst [P x HW] = src [P x OHW] at ix [P x HW] */
typedef void (*dm_index_move_fn)(dm_dtype dt, const void *src, const int64_t *ix, void *dst,
                                 int64_t P, int64_t HW, int64_t OHW);
/* ---- losses (loss.c) -------------------------------------------------------------------- */

/* The elementwise losses (k a dm_loss_kind: bce, bce with logits, mse, l1, smooth l1, huber;
 * par: beta or delta) of n elements of dt (float32, float64): x the input, t the target, w the
 * weight and pw the pos_weight (NULL: 1), all contiguous [n] (loss.c broadcasts them first).
 * loss: the losses into out and 0 returned, or with out NULL their sum (in double).
 * loss_bw: the gradients into dx and dt (either NULL), the incoming gradient go[i]
 * (contiguous) or g0 for every element when go is NULL (the mean's 1/n already in it). */
typedef double (*dm_loss_fn)(dm_dtype dt, int k, int64_t n, const void *x, const void *t,
                             const void *w, const void *pw, double par, void *out);
typedef void (*dm_loss_bw_fn)(dm_dtype dt, int k, int64_t n, const void *x, const void *t,
                              const void *w, const void *pw, double par, const void *go,
                              double g0, void *dx, void *dt_);
/* The class losses, nll and cross entropy, over rows: the input [N x C] read with strides
 * sn, sc (elements; the log-probabilities of cross entropy are contiguous [N x C]); the row
 * targets cls[i] (0-based class, -1: ignored; loss.c checks them) or, for cross entropy with
 * probabilities (cls NULL), tb [N x C] with strides tn, tc; class weights wb (stride ws; NULL:
 * 1) and label smoothing ls.  Every array of dt (float32, float64) but cls. */
typedef struct {
    int64_t N, C, sn, sc;
    const int64_t *cls;
    const void *tb;
    int64_t tn, tc;
    const void *wb;
    int64_t ws;
    double ls;
} dm_class_loss;
/* nll: the row losses into o (none) or their sum into *sum; the summed weight of the rows
   not ignored into *tw (both accumulate).  nll_bw: d (zeroed, contiguous [N x C]) at each
   row's class, from go[i] (none) or g0 */
typedef void (*dm_nll_fn)(dm_dtype dt, const void *x, const dm_class_loss *L, int none,
                          void *o, double *sum, double *tw);
typedef void (*dm_nll_bw_fn)(dm_dtype dt, const dm_class_loss *L, const void *go, double g0,
                             void *d);
/* cross entropy: log_softmax of every row of x into lp; the row losses from lp into o (none)
   or their sum into *sum, the mean's divisor into *div (N, or the summed weight of the rows
   not ignored); its backward into dx and dtg ([N x C] each, contiguous, either NULL; dtg the
   probability targets' gradient), a scratch of C doubles */
typedef void (*dm_ce_log_softmax_fn)(dm_dtype dt, const void *x, const dm_class_loss *L,
                                     void *lp);
typedef void (*dm_ce_fn)(dm_dtype dt, const void *lp, const dm_class_loss *L, int none,
                         void *o, double *sum, double *div);
typedef void (*dm_ce_bw_fn)(dm_dtype dt, const void *lp, const dm_class_loss *L,
                            const void *go, double g0, double *a, void *dx, void *dtg);

/* ---- memory (mem.c) ----------------------------------------------------------------------- */

/* The device's allocator: alloc gives a block of at least bytes (its size, as free wants it
 * back, in *size; NULL when out of memory, no message set) and free takes one back; dbytes
 * and dtensors are what the block adds to (removes from) the live counters, dm_live_bytes
 * and dm_live_tensors.  Blocks hold a tensor block (mem.c: tensor, storage header, data),
 * so they are host-addressable on the devices that exist today. */
typedef void *(*dm_alloc_fn)(size_t bytes, size_t *size, int64_t dbytes, int dtensors);
typedef void (*dm_free_fn)(void *p, size_t size, int64_t dbytes, int dtensors);

/* ---- convolutions (conv.c) ---------------------------------------------------------------
 * A convolution's geometry: the "big" side is its input [N x Cb x Hb x Wb] (conv1d's H = 1; the
 * output of conv_transpose2d), the "small" side its output [N x R x Hs x Ws]; w is
 * [R x Cb/G x kh x kw]; stride, padding, dilation per dim, G groups.  Every pointer is
 * contiguous.  big_to_small: small = W @ im2col(big) (+ bias[r]) (conv forward, transposed
 * conv's grad input); small_to_big: big = col2im(W^T @ small) (+ bias[c]) (transposed conv
 * forward, conv's grad input); weight_grad: gw [R x Cb/G*kh*kw] (+ when acc)= small @
 * im2col(big)^T over the batch; bias_grad: gb [C] = the sums of go [N x C x L].  float32 and
 * float64; -1 (message set) when out of workspace memory. */
typedef struct dm_conv_geom {
    int64_t N, Cb, Hb, Wb, R, Hs, Ws, kh, kw, sh, sw, ph, pw, dh, dw, G;
} dm_conv_geom;
typedef int (*dm_conv_fn)(dm_dtype dt, const dm_conv_geom *g, const void *in, const void *w,
                          const void *bias, void *out);
typedef int (*dm_conv_wgrad_fn)(dm_dtype dt, const dm_conv_geom *g, const void *big,
                                const void *small, int acc, void *gw);
typedef void (*dm_conv_bgrad_fn)(dm_dtype dt, const void *go, int64_t N, int64_t C, int64_t L,
                                 void *gb);

/* ---- layer and group norm (norm.c) --------------------------------------------------------
 * rows of x [R x K] (contiguous, dt float32 or float64); the affine index of element k of row
 * r is ((r % G) * K + k) / HW (layer norm: G = HW = 1), w and b NULL or contiguous of dt.
 * rownorm: y [R x K], mean [R] and inv [R] (1 / sqrt(var + eps), biased var; dt), statistics
 * in double.  rownorm_bw from g [R x K] and the saved mean and inv: gx (NULL: not wanted),
 * and dw, db (doubles indexed by the affine index, accumulated; NULL: not wanted). */
typedef void (*dm_rownorm_fn)(dm_dtype dt, const void *x, int64_t R, int64_t K, int64_t G,
                              int64_t HW, double eps, const void *w, const void *b, void *y,
                              void *mean, void *inv);
typedef void (*dm_rownorm_bw_fn)(dm_dtype dt, const void *x, const void *g, const void *mean,
                                 const void *inv, int64_t R, int64_t K, int64_t G, int64_t HW,
                                 const void *w, void *gx, double *dw, double *db);

/* ---- samplers (sample.c) -------------------------------------------------------------------
 * Each draws from g in the order sample.c's header and rng.c's stream define (draw.h's
 * draws, inline), so every device gives the same values from a generator seeded alike.
 * multinomial: p [rows x c] (float64, contiguous; sample.c has checked every row: finite,
 * >= 0, a positive sum) -> o [rows x n] int64, 0-based categories.  With replacement one
 * uniform per draw scaled by the row's total, the first category whose cumulative sum
 * exceeds it (then the nearest one of nonzero probability, against rounding at the ends);
 * without, the exponential race: c uniforms per row, key_i = p_i / -log1p(-u_i), the n
 * largest keys in decreasing order, ties by position.  w (c doubles) and perm (c int64) are
 * scratch.  bernoulli_p: o [n] of dt (float32, float64) = uniform() < p[i] (p [n] float64 in
 * [0, 1]).  normal_p: o [n] = (mv ? mv[i] : mean_s) + (sv ? sv[i] : std_s) * normal(), all
 * float64 (mv, sv [n] or NULL). */
typedef void (*dm_multinomial_fn)(const double *p, int64_t rows, int64_t c, int64_t n,
                                  int replacement, dm_rng *g, double *w, int64_t *perm,
                                  int64_t *o);
typedef void (*dm_bernoulli_p_fn)(dm_dtype dt, const double *p, int64_t n, dm_rng *g, void *o);
typedef void (*dm_normal_p_fn)(const double *mv, double mean_s, const double *sv, double std_s,
                               int64_t n, dm_rng *g, double *o);

/* ---- orthogonal_ and sparse_ (init.c) --------------------------------------------------------
 * qr: the reduced QR of a [m x n] (m >= n, column-major: column j at a + j * m; a is
 * overwritten), in double: q [m x n] (column-major) with orthonormal columns and rdiag [n],
 * R's diagonal, a = q r (a zero column: rdiag 0).  The signs of q's columns follow rdiag's;
 * init.c makes them those of the QR with a positive diagonal, so every device gives the same
 * q up to rounding.  sparse_zero: t [rows x cols] (float32 or float64, any strides): in each
 * column in order, nzero distinct rows set to 0, chosen by a partial Fisher-Yates shuffle of
 * perm (rows int64, scratch; 0 .. rows-1 on entry to the first column, kept from column to
 * column) with draw_below(rows - k) for pick k. */
typedef void (*dm_qr_fn)(double *a, int64_t m, int64_t n, double *q, double *rdiag);
typedef void (*dm_sparse_zero_fn)(dm_tensor *t, int64_t nzero, dm_rng *g, int64_t *perm);
/* ---- embedding (embedding.c) --------------------------------------------------------------
 * All of dt (float32, float64); ids [n] int64, 0-based, checked by embedding.c; w the weight's
 * first element with its strides s0, s1 (any).  embedding: out [n x dim] (contiguous) = the
 * rows w[ids[i]].  embedding_bw: r [num x dim] (zero on entry) += g [n x dim] row by row,
 * skipping pad (-1: none), each divided by cnt[ids[i]] when cnt (scale_grad_by_freq).
 * embedding_renorm: every distinct row ids name whose norm_type-norm exceeds max_norm is
 * scaled by max_norm / (norm + 1e-7) in place; seen [num] zero on entry (workspace).
 * embedding_bag: out [B x dim] (zero on entry) from the bags ids[bd[k] .. bd[k+1]) (pad
 * skipped), mode a DM_BAG_*: sum (each row times psw[i] when psw), mean, max with arg
 * [B x dim] (-1 on entry) the row each element came from (the first maximum).
 * embedding_bag_bw: from g [B x dim] (contiguous) gw [num x dim] (zero on entry, or NULL) and
 * gp [n] (zero on entry, or NULL: psw's gradient, g . the contiguous weight wc's rows, summed
 * in double); cnt as embedding_bw's (not for max). */
typedef void (*dm_embedding_fn)(dm_dtype dt, const void *w, int64_t s0, int64_t s1,
                                const int64_t *ids, int64_t n, int64_t dim, void *out);
typedef void (*dm_embedding_bw_fn)(dm_dtype dt, const void *g, const int64_t *ids, int64_t n,
                                   int64_t dim, int64_t pad, const int64_t *cnt, void *r);
typedef void (*dm_embedding_renorm_fn)(dm_dtype dt, void *w, int64_t s0, int64_t s1,
                                       int64_t dim, const int64_t *ids, int64_t n,
                                       double max_norm, double norm_type, unsigned char *seen);
typedef void (*dm_embedding_bag_fn)(dm_dtype dt, int mode, const void *w, int64_t s0,
                                    int64_t s1, int64_t dim, const int64_t *ids,
                                    const int64_t *bd, int64_t B, int64_t pad, const void *psw,
                                    void *out, int64_t *arg);
typedef void (*dm_embedding_bag_bw_fn)(dm_dtype dt, int mode, const void *g, int64_t dim,
                                       const int64_t *ids, const int64_t *bd, int64_t B,
                                       int64_t pad, const void *psw, const int64_t *cnt,
                                       const int64_t *arg, const void *wc, void *gw, void *gp);

/* ---- recurrent layers (rnn.c) --------------------------------------------------------------
 * The pointwise gates of one step of one layer (rnn_gen.h walks the steps and does the
 * products with sgemm/dgemm), over the step's m rows, all of dt (float32, float64),
 * contiguous.  G gates of H each (RNN 1, LSTM 4: i f g o, GRU 3: r z n), Hout the state's
 * width (H, or LSTM's proj_size), W the workspace row's width.  rnn_gates: hh [m x G*H] the
 * hidden side (W_hh h + b_hh); RNN: out [m x Hout] the input side in, the new state out and
 * into h [m x Hout]; LSTM: ws [m x W] the input side of i f g o in, the activations out, then
 * the cell c_t, then (proj) h_t before the projection; c [m x H] the cell state updated;
 * without proj the new h into out and h (with proj rnn_gen.h projects); GRU: ws r z n in
 * (input side) and out (activations), then W_hn h + b_hn; the new state into out and h.
 * rnn_gates_bw: from the step's out and ws rows (as the forward left them), cprev [m x H]
 * (LSTM: the cells the step started from), hprev [m x Hout] (GRU: the states), dhpre
 * [m x ldd] (LSTM: d h_t before any projection), dh [m x Hout] d h_t (GRU: replaced by its
 * direct part z dh), dc [m x H] (LSTM: d c_t in, d c_{t-1} out), the pre-activation
 * gradients dA [m x G*H] of the input side and (GRU) dAh [m x G*H] of the hidden side. */
typedef struct dm_rnn_step {
    int mode, proj;                   /* a DM_RNN_* mode; LSTM with w_hr */
    int64_t m, H, Hout, G, W;
} dm_rnn_step;
typedef void (*dm_rnn_gates_fn)(dm_dtype dt, const dm_rnn_step *s, const void *hh, void *out,
                                void *ws, void *h, void *c);
typedef void (*dm_rnn_gates_bw_fn)(dm_dtype dt, const dm_rnn_step *s, const void *out,
                                   const void *ws, const void *cprev, const void *hprev,
                                   const void *dhpre, int64_t ldd, void *dh, void *dc,
                                   void *dA, void *dAh);

/* ---- bitwise and logical ops, floor_divide, remainder, fmod (bitwise.c) -------------------
 * Flat loops over n elements, every pointer contiguous (bitwise.c broadcasts the operands and
 * converts them to the compute type ct first).  binop2: y = a op b, op a dm_binop2; ct
 * float64 for the logical ops (y bool: nonzero is true), int64 for the bitwise ops and the
 * integer floor_divide, remainder, fmod (y int64, converted back by bitwise.c; a zero divisor
 * anywhere: -1 and nothing written, no message; INT64_MIN by -1 wraps), float32 or float64
 * for the floating ones (y of ct): c10's div_floor_floating, remainder with the divisor's
 * sign, fmod.  0, or -1.  unop2: logical_not (logical 1: x float64, y bool: x == 0) or
 * bitwise_not (x, y int64: ~x).  divmod_bw: the divisor's gradient of remainder (fmod_ 0:
 * y = -g floor_divide(a, b)) or fmod (1: y = -g trunc(a / b)), all float64. */
typedef int (*dm_binop2_fn)(int op, dm_dtype ct, const void *a, const void *b, void *y,
                            int64_t n);
typedef void (*dm_unop2_fn)(int logical, const void *x, void *y, int64_t n);
typedef void (*dm_divmod_bw_fn)(int fmod_, const double *g, const double *a, const double *b,
                                double *y, int64_t n);

/* ---- tril, triu and flip (shape_ops.c): moves of es-byte elements, src and dst contiguous
 * (the views -- diagonal -- stay views; diag, trace and the backward rules of diagonal and
 * diag are copies and sums through copy and reduce).  tri: nb matrices [r x c], the elements
 * off the triangle zeroed: tril (upper 0) keeps j <= i + k, triu (upper 1) j >= i + k, any k.
 * flip: dst = src [nd dims of shape] reversed along the dims whose bit is set in mask. */
typedef void (*dm_tri_fn)(size_t es, int64_t nb, int64_t r, int64_t c, int64_t k, int upper,
                          const void *src, void *dst);
typedef void (*dm_flip_fn)(size_t es, int nd, const int64_t *shape, unsigned mask,
                           const void *src, void *dst);

/* ---- arange and linspace (create.c; eye is zeros and a fill of its diagonal view) --------
 * out [n] of dt (float32, float64), contiguous, each value computed in double and rounded
 * once: linspace 0 (arange) start + i step; 1 (linspace, n >= 2) PyTorch's halves, start +
 * step i for i < n / 2, end - step (n - 1 - i) after; n == 1: start. */
typedef void (*dm_range_fn)(dm_dtype dt, int linspace, double start, double end, double step,
                            int64_t n, void *out);

/* ---- linear's small float32 product (linalg.c) ---------------------------------------------
 * y [N x nout] = x [N x in] @ w [nout x in]^T (+ b [nout], NULL: none), all contiguous; for
 * products of at most a few hundred multiply-adds, where a call into gemm costs more than the
 * dot products themselves (cpu: float sums in place; cpu:ref: as its gemm, in double) */
typedef void (*dm_linear_small_fn)(int64_t N, int64_t in, int64_t nout, const float *x,
                                   const float *w, const float *b, float *y);
/* linear's bias: bias_rows seeds y [N x nout] (contiguous, es-byte elements) with b [nout]
 * (stride bs) in every row, before gemm adds the product; bias_sum: d [nout] = (acc: +=) the
 * column sums of g [N x nout] (contiguous), summed in double, dt float32 or float64 */
typedef void (*dm_bias_rows_fn)(size_t es, const void *b, int64_t bs, int64_t N, int64_t nout,
                                void *y);
typedef void (*dm_bias_sum_fn)(dm_dtype dt, const void *g, int64_t N, int64_t nout, int acc,
                               void *d);
/* ---- reductions over several dims, tests, scans, sorts (reduce_multi.c, scan.c, sort.c) ----
 * mreduce: the rows of v [K x R] (contiguous) reduced into y [K]: kind 0 amax, 1 amin
 * (NaN wins; dt float64, or int64 exactly), 2 logsumexp (the maximum shifted out, an
 * infinite one by 0), 3 norm of order p (0: the nonzero count, inf/-inf: max/min of |v|, 0
 * over nothing), in double for float64.  mreduce_bw: gi [K x R] from the rows x, the results
 * y [K] and their gradient g [K], float64: kind 0/1 g shared evenly by the elements equal to
 * y, 2 g exp(x - y), 3 PyTorch's norm_backward (0 where the norm is 0).  any_all: y[k] = 1
 * when some (any) / every (all) element of row k of v [K x R] (float64) is nonzero.
 * isclass: y [n] = isnan, isinf, isfinite, isposinf, isneginf, signbit (kind 0..5) of v [n]
 * (float64).  nan_to_num: y [n] = v with NaN, +inf, -inf replaced by nan, pi, ni (float64);
 * nan_to_num_bw: gi = g where x is finite, 0 elsewhere (float64, [n] each). */
typedef void (*dm_mreduce_fn)(int kind, dm_dtype dt, const void *v, int64_t K, int64_t R,
                              double p, void *y);
typedef void (*dm_mreduce_bw_fn)(int kind, const double *x, const double *y, const double *g,
                                 int64_t K, int64_t R, double p, double *gi);
typedef void (*dm_any_all_fn)(int is_all, const double *v, int64_t K, int64_t R, uint8_t *y);
typedef void (*dm_isclass_fn)(int kind, const double *v, int64_t n, uint8_t *y);
typedef void (*dm_nan_to_num_fn)(const double *v, int64_t n, double nan, double pi, double ni,
                                 double *y);
typedef void (*dm_nan_to_num_bw_fn)(const double *x, const double *g, int64_t n, double *gi);
/* scan: o [outer x n x inner] (dt float32, float64, or int64 wrapping) replaced in place by
 * its running sums (prod 0) or products (prod 1) along n.  scan_bw: gi [outer x n x inner]
 * (dt float32, float64) from g (its gradient) and, for cumprod, x (contiguous): cumsum's
 * suffix sums, cumprod's rule with the row's first zero (scan.c's comment). */
typedef void (*dm_scan_fn)(int prod, dm_dtype dt, void *o, int64_t outer, int64_t n,
                           int64_t inner);
typedef void (*dm_scan_bw_fn)(int prod, dm_dtype dt, const void *g, const void *x,
                              int64_t outer, int64_t n, int64_t inner, void *gi);
/* sort: x [outer x n x inner] (contiguous; float32, float64, int64, uint8, bool) sorted
 * stably along n, ascending with NaN last or descending (desc) with NaN first; the first k
 * of each row into v [outer x k x inner] (x's dtype) and their 0-based positions into ix
 * [outer x k x inner].  row (n elements of dt) and perm (2n int64) are scratch.  sort_bw:
 * gi [outer x size x inner] (zero on entry, dt float32 or float64) += g [outer x m x inner]
 * at the positions ix [outer x m x inner].  unique: the n items of x [outer x n x inner]
 * (item i is slice i, its outer * inner values compared in (q, r) order) sorted ascending,
 * lexicographically, stably: perm[0..n) the items in order, perm[2n..3n) each sorted item's
 * group (equal neighbours share one; NaNs never equal); returns the number of groups u.
 * perm [3n] and items (n * outer * inner elements of dt, the items in the layout the same
 * device's unique_out reads) are scratch.  unique_out from them: v [outer x u x inner] each
 * group's values, inv [n] each item's group, cnt [u] (zero on entry) the group sizes. */
typedef void (*dm_sort_fn)(dm_dtype dt, const void *x, int64_t outer, int64_t n,
                           int64_t inner, int desc, int64_t k, void *row, int64_t *perm,
                           void *v, int64_t *ix);
typedef void (*dm_sort_bw_fn)(dm_dtype dt, const void *g, const int64_t *ix, int64_t outer,
                              int64_t m, int64_t size, int64_t inner, void *gi);
typedef int64_t (*dm_unique_fn)(dm_dtype dt, const void *x, int64_t outer, int64_t n,
                                int64_t inner, void *items, int64_t *perm);
typedef void (*dm_unique_out_fn)(dm_dtype dt, const void *items, const int64_t *perm,
                                 int64_t outer, int64_t n, int64_t inner, int64_t u, void *v,
                                 int64_t *inv, int64_t *cnt);
/* ---- gather, scatter, index_add, bincount, one_hot (gather.c); advanced indexing,
 * index_put, masks, nonzero (index.c) --------------------------------------------------------
 * put: m elements of dt (any dtype), j = 0 .. m-1: dst[doff ? doff[j] : j] op= (src ?
 * src[soff ? soff[j] : j] : *value), offsets in elements from dst and src (value one element
 * of dt), in order (a repeated offset sees the earlier writes); op a DM_PUT_*: set, add,
 * multiply (int64 wrapping, modulo 2^64; uint8 modulo 2^8; bool add: the uint8 sum, then
 * every element written 0 or 1), or (bool accumulation: |).  The callers have checked every
 * offset (gather, scatter and their backward; advanced indexing's gather and index_put).
 * index_add_alpha: dst [outer x size x inner] (contiguous, dt any) += alpha * src [outer x m
 * x inner] scattered by pos (0-based, checked): alpha 1 adds, floats multiply in dt, int64
 * wraps, alpha an integer for integer dts; bool results 0 or 1.  index_add_bw: dst
 * [outer x m x inner] = alpha * g [outer x size x inner] read at pos (dt float32, float64;
 * the product in double).  bincount: o [len] (zero on entry) counts v[i] (int64, checked in
 * [0, len)) over n, int64, or adds w[i] in rt (float32, float64) when w.  one_hot: o
 * [n x nc] int64 (zero on entry) with o[i][v[i]] = 1.  nonzero: the count of v[i] != 0 (n
 * doubles, x's elements in row-major order; NaN counts); with o, also the coordinates of each
 * (row-major in a tensor of shape [nd], 0-based) into o [count x nd].  masked_fill: o[i] =
 * *value (one element of dt) where mask[i] (bool), n elements, both contiguous.
 * index_offsets (gather, scatter): for each element j of idx (contiguous int64 of shape
 * is[nd]) with coordinates c, xo[j] the offset in a contiguous tensor of shape xs[nd] of c
 * with c[d] replaced by idx[j], and (so not NULL) so[j] that of c in one of shape ss[nd];
 * returns -1, or the first j whose idx[j] is outside [0, xs[d]) (the offsets then partly
 * written).  adv_offsets (advanced indexing): p->off[i] for every element i of the result
 * (row-major in p->rshape), the storage offset of the element of x it reads (dm_adv_plan). */
enum { DM_PUT_SET, DM_PUT_ADD, DM_PUT_MUL, DM_PUT_OR };
/* where each element of x[indices] sits in x (index.c): result dim r is x's dim src[r], or
   (src[r] -1) one of B's, the k index tensors' broadcast shape (nB elements); ix [k x B]
   the wrapped indices, index q along x's dim kdim[q]; off [n] receives the offsets */
typedef struct dm_adv_plan {
    int rnd, k;
    int64_t n, nB, xoffset;
    const int64_t *rshape, *xstride, *ix;
    const int *src, *kdim;
    int64_t *off;
} dm_adv_plan;
typedef int64_t (*dm_index_offsets_fn)(const int64_t *idx, int nd, const int64_t *is, int d,
                                       const int64_t *xs, const int64_t *ss, int64_t *xo,
                                       int64_t *so);
typedef void (*dm_adv_offsets_fn)(const dm_adv_plan *p);
typedef void (*dm_put_fn)(int op, dm_dtype dt, void *dst, const int64_t *doff, const void *src,
                          const int64_t *soff, const void *value, int64_t m);
typedef void (*dm_index_add_alpha_fn)(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                                      int64_t inner, const int64_t *pos, const void *src,
                                      double alpha, void *dst);
typedef void (*dm_index_add_bw_fn)(dm_dtype dt, int64_t outer, int64_t m, int64_t size,
                                   int64_t inner, const int64_t *pos, const void *g,
                                   double alpha, void *dst);
typedef void (*dm_bincount_fn)(dm_dtype rt, const int64_t *v, int64_t n, const void *w,
                               void *o);
typedef void (*dm_one_hot_fn)(const int64_t *v, int64_t n, int64_t nc, int64_t *o);
typedef int64_t (*dm_nonzero_fn)(const double *v, int64_t n, int nd, const int64_t *shape,
                                 int64_t *o);
typedef void (*dm_masked_fill_fn)(dm_dtype dt, void *o, const uint8_t *mask, int64_t n,
                                  const void *value);

/* ---- two-input math functions (ops/bmath.c): a, b, y flat [n] of the compute type ct
 * (float32, float64; int64 for fmax, fmin, heaviside).  bmath: y = op(a, b), op a dm_bmath.
 * bmath_bw: ga, gb = the gradients of op at (a, b) times g, in ct (float32 or float64);
 * either may be NULL (not wanted). */
typedef void (*dm_bmath_fn)(int op, dm_dtype ct, const void *a, const void *b, void *y,
                            int64_t n);
typedef void (*dm_bmath_bw_fn)(int op, dm_dtype ct, const void *g, const void *a,
                               const void *b, void *ga, void *gb, int64_t n);
/* lerp: y = a + w (b - a) for |w| < 0.5, else b - (b - a) (1 - w); ct float32 or float64 */
typedef void (*dm_lerp_fn)(dm_dtype ct, const void *a, const void *b, const void *w, void *y,
                           int64_t n);

typedef struct dm_kernels {
    const char *name;                 /* the device's name, dm_device_name */
    dm_binary_fn binary;              /* a op b, any dm_binop */
    const dm_f32_row_fn *binary_f32;  /* [dm_binop]: the same on float32 rows */
    dm_unary_fn unary;                /* f(x), any dm_unop (int64: neg abs sign square relu) */
    dm_scalar_fn scalar;              /* x op s */
    dm_param_fn clamp, leaky_relu, elu;
    dm_where_fn where;
    dm_unary_bw_fn unary_bw;          /* the elementwise backward kernels */
    dm_scalar_bw_fn scalar_bw;
    dm_param_bw_fn param_bw;
    dm_binary_bw_fn binary_bw;
    dm_where_bw_fn where_bw;
    dm_copy_fn copy;                  /* copies with conversion, fills */
    dm_gather_fn gather;
    dm_fill_fn fill;
    dm_inplace_f32_fn inplace_f32;
    dm_reduce_fn reduce;              /* reductions over one dim, or all */
    dm_maxmin_fn maxmin;
    dm_softmax_fn softmax;
    dm_sum_to_fn sum_to;              /* dm_sum_to's sum, and SumBackward1's */
    dm_softmax_bw_fn softmax_bw;      /* backward kernels of the reductions */
    dm_reduce_bw_fn reduce_bw;
    DM_GEMM_FN(sgemm, float);         /* float32 */
    DM_GEMM_FN(dgemm, double);        /* float64 */
    DM_GEMM_FN(gemm_i64, int64_t);    /* exact modulo 2^64 (PyTorch's Long mm) */
    DM_GEMM_FN(gemm_u8, uint8_t);     /* exact modulo 2^8 */
    dm_sgd_fn sgd;                    /* optimizer updates (optim.c) */
    dm_adam_fn adam;
    dm_random_fn random;              /* random and init fills (rng.c, init.c) */
    dm_pattern_fn pattern;
    dm_slabs_fn slabs;                /* joins (join.c) */
    dm_index_rows_fn index_rows;
    dm_index_add_fn index_add;
    dm_dropout_fn dropout;            /* dropout and batch norm (nn.c) */
    dm_dropout_bw_fn dropout_bw;
    dm_bn_fn batch_norm;
    dm_bn_bw_fn batch_norm_bw;
    /* ---- vision ops (pad.c, upsample.c, pool.c) ---- */
    dm_pad_fn pad;
    dm_pad_bw_fn pad_bw;
    dm_upsample_fn upsample;
    dm_upsample_fn upsample_bw;
    dm_maxpool_fn max_pool2d;
    dm_index_move_fn max_pool2d_bw;
    dm_avgpool_fn avg_pool2d;
    dm_avgpool_fn avg_pool2d_bw;
    dm_adaptive_fn adaptive_pool2d;
    dm_adaptive_bw_fn adaptive_avg_pool2d_bw;
    dm_index_move_fn max_unpool2d;
    dm_index_move_fn max_unpool2d_bw;
    dm_loss_fn loss;                  /* losses (loss.c) */
    dm_loss_bw_fn loss_bw;
    dm_nll_fn nll;
    dm_nll_bw_fn nll_bw;
    dm_ce_log_softmax_fn ce_log_softmax;
    dm_ce_fn cross_entropy;
    dm_ce_bw_fn cross_entropy_bw;
    dm_alloc_fn alloc;                /* the device's memory (mem.c) */
    dm_free_fn free;
    /* ---- convolutions (conv.c): im2col/col2im, the direct kernels, bias ---- */
    dm_conv_fn conv_big_to_small;
    dm_conv_fn conv_small_to_big;
    dm_conv_wgrad_fn conv_weight_grad;
    dm_conv_bgrad_fn conv_bias_grad;
    /* ---- layer and group norm (norm.c) ---- */
    dm_rownorm_fn rownorm;
    dm_rownorm_bw_fn rownorm_bw;
    /* ---- samplers (sample.c): multinomial, bernoulli and normal with tensor parameters ---- */
    dm_multinomial_fn multinomial;
    dm_bernoulli_p_fn bernoulli_p;
    dm_normal_p_fn normal_p;
    /* ---- orthogonal_'s QR and sparse_'s zeroing (init.c) ---- */
    dm_qr_fn qr;
    dm_sparse_zero_fn sparse_zero;
    /* ---- embedding (embedding.c) and recurrent layers (rnn.c) ---- */
    dm_embedding_fn embedding;
    dm_embedding_bw_fn embedding_bw;
    dm_embedding_renorm_fn embedding_renorm;
    dm_embedding_bag_fn embedding_bag;
    dm_embedding_bag_bw_fn embedding_bag_bw;
    dm_rnn_gates_fn rnn_gates;        /* one step's pointwise gates (rnn.c) */
    dm_rnn_gates_bw_fn rnn_gates_bw;
    /* ---- dm_sum_to of integers (reduce.c) and in place on any dtype (inplace.c) ---- */
    dm_sum_to_i64_fn sum_to_i64;
    dm_inplace_fn inplace;
    /* ---- bitwise.c, shape_ops.c (tril, triu, flip), create.c, linalg.c's small linear ---- */
    dm_binop2_fn binop2;
    dm_unop2_fn unop2;
    dm_divmod_bw_fn divmod_bw;
    dm_tri_fn tri;
    dm_flip_fn flip;
    dm_range_fn range;
    dm_linear_small_fn linear_small;
    dm_bias_rows_fn bias_rows;
    dm_bias_sum_fn bias_sum;
    /* ---- reductions over several dims and the tests (reduce_multi.c), scans (scan.c),
       sorts (sort.c) ---- */
    dm_mreduce_fn mreduce;
    dm_mreduce_bw_fn mreduce_bw;
    dm_any_all_fn any_all;
    dm_isclass_fn isclass;
    dm_nan_to_num_fn nan_to_num;
    dm_nan_to_num_bw_fn nan_to_num_bw;
    dm_scan_fn scan;
    dm_scan_bw_fn scan_bw;
    dm_sort_fn sort;
    dm_sort_bw_fn sort_bw;
    dm_unique_fn unique;
    dm_unique_out_fn unique_out;
    /* ---- gather, scatter, index_add, bincount, one_hot (gather.c); advanced indexing,
       index_put, masks, nonzero (index.c) ---- */
    dm_put_fn put;
    dm_index_add_alpha_fn index_add_alpha;
    dm_index_add_bw_fn index_add_bw;
    dm_bincount_fn bincount;
    dm_one_hot_fn one_hot;
    dm_nonzero_fn nonzero;
    dm_masked_fill_fn masked_fill;
    dm_index_offsets_fn index_offsets;
    dm_adv_offsets_fn adv_offsets;
    /* ---- two-input math functions (bmath.c) ---- */
    dm_bmath_fn bmath;
    dm_bmath_bw_fn bmath_bw;
    dm_lerp_fn lerp;
} dm_kernels;

extern const dm_kernels dm__cpu_kernels;      /* cpu/ */
extern const dm_kernels dm__ref_kernels;      /* ref/ */

/* the table of a device (an unknown device gets cpu's: both hold host memory) */
static inline const dm_kernels *dm__kernels(int device)
{
    return device == DM_CPU_REF ? &dm__ref_kernels : &dm__cpu_kernels;
}

#endif
