/* SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
 *
 * deepmoon.h -- the public C API of deepmoon's core.
 *
 * A tensor is an N-dimensional array (N <= DM_MAX_DIMS) of one dtype (float32 by default;
 * float64, int64, uint8, bool) that views a refcounted storage through a shape, strides (in
 * elements) and an offset.  A storage is bytes on a device, from an allocator (the core's
 * own cache unless a host gives one).  Several tensors may view one storage (transpose,
 * narrow, select, ...); the storage lives while any of them does.  A tensor of 0 dimensions
 * holds one value (a scalar).  Every shape is checked once (no size may be negative, and
 * the product of the nonzero sizes is at most 2^60), so no count or stride overflows.
 *
 * Ownership: "borrowed in, new reference out".  Every function that returns a dm_tensor *
 * returns a new reference that the caller releases with dm_tensor_release(); arguments are
 * borrowed.  Accessors marked "borrowed" return pointers that stay valid while their owner
 * does.  Anything that stores a pointer retains it.
 *
 * Errors: no function aborts, exits or longjmps.  A failing function returns NULL (or a
 * negative status) and leaves a message, readable with dm_errmsg(), that names the function
 * and the shapes involved, e.g. "shape mismatch: a [2 x 3], b [4 x 5]".
 *
 * Autograd: a tensor with requires_grad records, for every op applied to it while grad mode
 * is on, a node (its grad_fn) that retains the op's inputs.  dm_backward() walks the graph
 * from a tensor, accumulates gradients into the .grad of leaf tensors that require grad,
 * and frees the graph unless asked to keep it.
 *
 * Dims and indices are 0-based here; the Lua binding converts from Lua's 1-based ones.
 *
 * Threads: any thread may call the core; a tensor (its reference count is not atomic), a
 * generator and a model belong to one thread at a time (hand them over with the caller's own
 * synchronisation).  State the core keeps, and whose it is:
 *   per thread  the error message (dm_errmsg), grad mode (dm_set_grad_enabled), the current
 *               device (dm_set_device) and the default generator (dm_default_rng: each
 *               thread has its own, seeded with 0 on first use, so no lock is needed and a
 *               thread's draws do not depend on the others').
 *               Also the convolutions' im2col workspace (conv.c): at most 8 MB per thread
 *               unless one output row needs more, kept for the next call, never freed.
 *   per Lua state (the binding, not the core) the Tensor metatable, the collector's
 *               accounting and the default generator of dm.manual_seed: states in one thread
 *               or in several share none of them.
 *   process-wide, and why:
 *     - the live-byte and live-tensor counters (dm_live_bytes): they measure the process's
 *       memory, which is what a soft limit protects; atomic counters.
 *     - the block caches (dm_cached_bytes, dm_empty_cache, dm_cache_limit): blocks freed by
 *       one thread are reused by any; the first thread that allocates owns a lock-free cache,
 *       the others share one under a spin lock.
 *     - the BLAS thread count (dm_set_num_threads): OpenBLAS has one pool per process.
 *     - the BLAS switch (dm_set_use_blas, a testing aid; an atomic flag) and the text of
 *       dm_blas_info (filled once per thread).
 *     - the layer registry (dm_layer_kinds) and the device kernel tables: constant.
 *
 *     dm_tensor *a = dm_tensor_new(2, (int64_t[]){2, 3});
 *     dm_tensor *b = dm_tensor_new(2, (int64_t[]){3, 4});
 *     dm_fill_(a, 1.0f); dm_fill_(b, 2.0f);
 *     dm_tensor *c = dm_matmul(a, b);          // [2 x 4], every value 6
 *     if (!c) fprintf(stderr, "%s\n", dm_errmsg());
 *     dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(c);
 */
#ifndef DEEPMOON_H
#define DEEPMOON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DM_VERSION "0.1.0"
#define DM_MAX_DIMS 8

typedef struct dm_storage dm_storage;      /* opaque: bytes, a device, an allocator */
typedef struct dm_tensor dm_tensor;
typedef struct dm_node dm_node;
typedef struct dm_rng dm_rng;
typedef struct dm_hook_list dm_hook_list;

/* Element types, as PyTorch's.  float32 is the default; integer and bool tensors carry
   indices, labels and masks and never require grad. */
typedef enum {
    DM_FLOAT32 = 0, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL,
    DM_NDTYPES
} dm_dtype;

/* Devices: where a storage's bytes live and whose kernels run on them; each has a kernel
   table (core/backend/backend.h, core/README.md).  DM_CPU ("cpu") runs the fast kernels
   (BLAS, vectorised loops); DM_CPU_REF ("cpu:ref") holds host memory too but runs the naive
   reference kernels, so every op can be compared between the two (tests/c/test_backend_ops.c).
   A storage's device is fixed when it is made; ops refuse inputs on different devices. */
typedef enum { DM_CPU = 0, DM_CPU_REF, DM_NDEVICES } dm_device;

/* Where a storage's bytes come from (Torch7's THAllocator).  Tensors made by the core's own
   constructors use the core's caching allocator and need none; a host (or a device backend)
   passes its own to dm_tensor_new_with, and the storage calls free(ctx, p, bytes) when its
   last view dies. */
typedef struct dm_allocator {
    const char *name;
    void *(*alloc)(void *ctx, size_t bytes);          /* NULL on failure */
    void (*free)(void *ctx, void *p, size_t bytes);
    void *ctx;
} dm_allocator;

struct dm_tensor {
    int refcount;
    int ndim;
    dm_dtype dtype;
    int64_t shape[DM_MAX_DIMS];
    int64_t stride[DM_MAX_DIMS];  /* in elements */
    int64_t offset;               /* in elements, from the start of the storage */
    dm_storage *storage;          /* opaque; reach the values through dm_data / dm_data_ptr */
    /* autograd */
    int requires_grad;
    int retains_grad;             /* non-leaf that keeps its .grad (retain_grad) */
    dm_tensor *grad;              /* owned; NULL until a backward pass writes it */
    dm_node *grad_fn;             /* owned; NULL for leaves */
    dm_hook_list *hooks;          /* owned; gradient hooks (dm_tensor_add_hook), or NULL */
};

/* ---- errors and memory ------------------------------------------------------------- */
const char *dm_errmsg(void);                  /* last error of this thread (borrowed) */
void dm_seterr(const char *fmt, ...);         /* set it (printf-style); used by bindings too */
int64_t dm_live_bytes(void);                  /* bytes of tensor storage now allocated */
int64_t dm_live_tensors(void);                /* tensor structs now allocated */
/* Freed tensor structs and storage blocks are kept in a cache (by size class, at most
   dm_cache_limit bytes) and handed out again, so a training loop allocates nothing from the
   system in steady state.  Live bytes count blocks in use only, never cached ones. */
int64_t dm_cached_bytes(void);                /* bytes held in the cache, free for reuse */
void dm_empty_cache(void);                    /* give every cached block back to the system */
int64_t dm_cache_limit(int64_t bytes);        /* set the limit (bytes < 0: keep); returns it */

/* shape as "[2 x 3]" ("[]" for a scalar) into buf; returns buf */
char *dm_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* ---- lifecycle ---------------------------------------------------------------------- */
dm_tensor *dm_tensor_new(int ndim, const int64_t *shape);    /* uninitialised, contiguous */
dm_tensor *dm_tensor_zeros(int ndim, const int64_t *shape);
dm_tensor *dm_tensor_full(int ndim, const int64_t *shape, float v);
dm_tensor *dm_tensor_scalar(float v);                        /* 0-dim */
dm_tensor *dm_tensor_from_data(int ndim, const int64_t *shape, const float *data); /* copies */
dm_tensor *dm_tensor_retain(dm_tensor *t);                   /* returns t */
void dm_tensor_release(dm_tensor *t);                        /* NULL is fine */
/* a new tensor struct viewing t's storage with the given geometry; no autograd link */
dm_tensor *dm_tensor_alias(const dm_tensor *t, int ndim, const int64_t *shape,
                           const int64_t *stride, int64_t offset);
dm_tensor *dm_tensor_like(const dm_tensor *t);               /* new, same shape, uninit */

/* ---- dtypes ------------------------------------------------------------------------ */
const char *dm_dtype_name(dm_dtype dt);        /* "float32", "float64", "int64", "uint8", "bool" */
size_t dm_dtype_size(dm_dtype dt);             /* bytes per element: 4, 8, 8, 1, 1 */
int dm_is_floating(dm_dtype dt);               /* float32, float64 */
/* PyTorch's promote_types: bool < uint8 < int64 < float32 < float64 (the higher category
   wins; float32 with an integer type gives float32) */
dm_dtype dm_promote_types(dm_dtype a, dm_dtype b);
/* contiguous tensors of a given dtype; full's value is converted as dm_copy_ converts */
dm_tensor *dm_tensor_new_dtype(int ndim, const int64_t *shape, dm_dtype dt);  /* uninit */
dm_tensor *dm_tensor_zeros_dtype(int ndim, const int64_t *shape, dm_dtype dt);
dm_tensor *dm_tensor_full_dtype(int ndim, const int64_t *shape, double v, dm_dtype dt);
dm_tensor *dm_tensor_full_i64(int ndim, const int64_t *shape, int64_t v, dm_dtype dt);
/* storage from a host's allocator (see dm_allocator); contiguous, uninitialised */
dm_tensor *dm_tensor_new_with(int ndim, const int64_t *shape, dm_dtype dt,
                              const dm_allocator *a);
/* t converted to dt (a new tensor; t itself, retained, when it already is dt).  Between
   floating types it is differentiable (ToCopyBackward0).  Conversions as PyTorch's on x86:
   float -> integer truncates toward zero (NaN and out-of-range values give INT64_MIN for
   int64, their int64 value modulo 256 for uint8); anything -> bool is v != 0. */
dm_tensor *dm_to_dtype(const dm_tensor *t, dm_dtype dt);
int dm_tensor_device(const dm_tensor *t);      /* dm_device of its storage */
const char *dm_device_name(int device);        /* "cpu", "cpu:ref"; NULL for no device */
int dm_device_parse(const char *name);         /* "cpu" -> DM_CPU ...; -1 for no device */
/* t copied to device (a new tensor; t itself, retained, when it is already there).
   Differentiable: the gradient is copied back (ToCopyBackward0, as PyTorch's .to()). */
dm_tensor *dm_to_device(const dm_tensor *t, int device);
/* The current device (thread-local, DM_CPU at start): constructors make tensors there, and
   every op makes its inputs' device current (so an op's results follow its inputs). */
void dm_set_device(int device);
int dm_current_device(void);
const dm_allocator *dm_tensor_allocator(const dm_tensor *t);  /* NULL: the core's own */
int64_t dm_storage_nbytes(const dm_tensor *t); /* bytes of t's storage */
int64_t dm_fresh_bytes(const dm_tensor *t);    /* t's storage bytes when no other tensor
                                                  views it, else 0 (a new op result's cost) */
int dm_storage_shared(const dm_tensor *t);     /* another tensor views t's storage */
/* the dtype form of dm_tensor_from_data: numel elements of dt copied from data (a host's
   int64 labels, uint8 pixels, bool masks, float64 values); bool bytes other than 0 are true.
   NULL with a message for an unknown dtype or NULL data */
dm_tensor *dm_tensor_from_data_dtype(int ndim, const int64_t *shape, const void *data,
                                     dm_dtype dt);

/* ---- inspection --------------------------------------------------------------------- */
int64_t dm_numel(const dm_tensor *t);
int dm_is_contiguous(const dm_tensor *t);
int dm_same_shape(const dm_tensor *a, const dm_tensor *b);
float *dm_data(const dm_tensor *t);            /* borrowed: the first value (float32 only) */
void *dm_data_ptr(const dm_tensor *t);         /* borrowed: the first element, any dtype */
float dm_get(const dm_tensor *t, const int64_t *idx);        /* float32; no checks */
void dm_set(dm_tensor *t, const int64_t *idx, float v);      /* float32; no checks */
/* any dtype, converted through double or int64 (exact for int64); no checks */
double dm_get_f64(const dm_tensor *t, const int64_t *idx);
int64_t dm_get_i64(const dm_tensor *t, const int64_t *idx);
void dm_set_f64(dm_tensor *t, const int64_t *idx, double v);
void dm_set_i64(dm_tensor *t, const int64_t *idx, int64_t v);
int dm_check_index(const char *fn, const dm_tensor *t, int n, const int64_t *idx);
/* copy values in row-major order into out (numel floats; t float32) */
void dm_to_buffer(const dm_tensor *t, float *out);
/* the same for any dtype into a buffer of dtype out_dt, converting as dm_to_dtype */
void dm_to_buffer_dtype(const dm_tensor *t, void *out, dm_dtype out_dt);
/* normalise a possibly negative dim against ndim (+1 when allow_end); -1 and a message on error */
int dm_wrap_dim(const char *fn, int dim, int ndim, int allow_end);

/* ---- grad mode ---------------------------------------------------------------------- */
int dm_grad_enabled(void);
int dm_set_grad_enabled(int on);               /* returns the previous mode */

/* ---- creation ----------------------------------------------------------------------- */
dm_tensor *dm_arange(double start, double end, double step);        /* [ceil((end-start)/step)] */
dm_tensor *dm_linspace(double start, double end, int64_t steps);
dm_tensor *dm_eye(int64_t n, int64_t m);

/* ---- random numbers (see rng.c for the algorithm) ----------------------------------- */
dm_rng *dm_rng_new(uint64_t seed);
void dm_rng_free(dm_rng *g);
void dm_rng_seed(dm_rng *g, uint64_t seed);
uint64_t dm_rng_initial_seed(const dm_rng *g);
uint32_t dm_rng_u32(dm_rng *g);
double dm_rng_uniform(dm_rng *g);                /* [0, 1), 53 bits */
float dm_rng_uniformf(dm_rng *g);                /* [0, 1), 24 bits */
double dm_rng_normal(dm_rng *g);                 /* N(0, 1) */
uint64_t dm_rng_below(dm_rng *g, uint64_t n);    /* uniform integer in [0, n), unbiased */
size_t dm_rng_state_size(void);
void dm_rng_get_state(const dm_rng *g, void *buf);    /* dm_rng_state_size() bytes */
void dm_rng_set_state(dm_rng *g, const void *buf);
dm_rng *dm_default_rng(void);                    /* this thread's default (thread-local) */
/* fill in place; t may be non-contiguous */
int dm_uniform_(dm_tensor *t, double a, double b, dm_rng *g);        /* U[a, b) */
int dm_normal_(dm_tensor *t, double mean, double std, dm_rng *g);
int dm_randint_(dm_tensor *t, int64_t low, int64_t high, dm_rng *g); /* [low, high) */
dm_tensor *dm_randperm(int64_t n, dm_rng *g);    /* int64 0 .. n-1 shuffled (Fisher-Yates) */
int dm_bernoulli_(dm_tensor *t, double p, dm_rng *g);                /* 1 with probability p */

/* ---- views (share storage; record autograd) ----------------------------------------- */
dm_tensor *dm_view(const dm_tensor *t, int ndim, const int64_t *shape);   /* one -1 allowed */
dm_tensor *dm_reshape(const dm_tensor *t, int ndim, const int64_t *shape);/* view or copy */
dm_tensor *dm_transpose(const dm_tensor *t, int d0, int d1);
dm_tensor *dm_permute(const dm_tensor *t, const int *dims);
dm_tensor *dm_narrow(const dm_tensor *t, int dim, int64_t start, int64_t len);
dm_tensor *dm_select(const dm_tensor *t, int dim, int64_t index);       /* drops dim */
dm_tensor *dm_squeeze(const dm_tensor *t, int dim);                      /* dim < 0: all */
dm_tensor *dm_unsqueeze(const dm_tensor *t, int dim);
dm_tensor *dm_flatten(const dm_tensor *t, int start, int end);
dm_tensor *dm_expand(const dm_tensor *t, int ndim, const int64_t *shape);/* -1 keeps */
dm_tensor *dm_contiguous(const dm_tensor *t);    /* t itself (retained) when contiguous */
dm_tensor *dm_clone(const dm_tensor *t);
dm_tensor *dm_detach(const dm_tensor *t);        /* shares storage, no grad */

/* ---- in-place ---------------------------------------------------------------------------
 * Every in-place write bumps the version counter that a tensor shares with its views and
 * its detach() (it sits on the storage).  In grad mode, writing into a tensor that requires
 * grad, or from one, is recorded as in PyTorch: the tensor written takes the op's node (its
 * grad_fn becomes AddBackward0, ...), its old history reached through that node; writing
 * into a view of a non-leaf gives its base a CopySlices node.  Refused in grad mode: a leaf
 * that requires grad and views of one.  backward raises when a value a node's rule reads
 * was written in place after the node was recorded. */
uint32_t dm_tensor_version(const dm_tensor *t);       /* t._version */
int dm_copy_(dm_tensor *dst, const dm_tensor *src);   /* src broadcast to dst, converted */
/* fill_ with a 0-dim tensor's value, converted: as dm_copy_, but allowed on an expanded t */
int dm_fill_tensor_(dm_tensor *t, const dm_tensor *v);
int dm_fill_(dm_tensor *t, float v);
int dm_zero_(dm_tensor *t);
int dm_add_(dm_tensor *t, const dm_tensor *o, float alpha);   /* t += alpha * o (broadcast) */
int dm_sub_(dm_tensor *t, const dm_tensor *o, float alpha);   /* t -= alpha * o (broadcast) */
int dm_add_scalar_(dm_tensor *t, float v);
int dm_mul_(dm_tensor *t, const dm_tensor *o);
int dm_mul_scalar_(dm_tensor *t, float v);
int dm_clamp_(dm_tensor *t, float lo, float hi);      /* NAN bound = none */

/* ---- elementwise ------------------------------------------------------------------- */
typedef enum {
    DM_BIN_ADD, DM_BIN_SUB, DM_BIN_MUL, DM_BIN_DIV, DM_BIN_POW,
    DM_BIN_EQ, DM_BIN_NE, DM_BIN_LT, DM_BIN_LE, DM_BIN_GT, DM_BIN_GE,
    DM_BIN_MAXIMUM, DM_BIN_MINIMUM
} dm_binop;
/* Elementwise ops take every dtype.  The result's dtype is torch.result_type's: tensors
   promote as dm_promote_types, but a 0-dim tensor or a number promotes a tensor with dims
   only from a higher category (bool < integer < floating): int64 [n] + 2 is int64, + 2.5
   float32; uint8 [n] + int64 0-dim is uint8.  Integer arithmetic is exact and wraps; div
   is true division (integers give float32); uint8 and bool results are computed in int64
   and converted back.  Unary float functions (exp, log, sigmoid, ...) of integers give
   float32; neg/abs/sign/square/relu keep integer types, round/floor/ceil return them. */
/* broadcasting binary op; comparisons give bool tensors and carry no gradient */
dm_tensor *dm_binary(dm_binop op, const dm_tensor *a, const dm_tensor *b);
dm_tensor *dm_add(const dm_tensor *a, const dm_tensor *b);
dm_tensor *dm_sub(const dm_tensor *a, const dm_tensor *b);
dm_tensor *dm_mul(const dm_tensor *a, const dm_tensor *b);
dm_tensor *dm_div(const dm_tensor *a, const dm_tensor *b);
dm_tensor *dm_pow(const dm_tensor *a, const dm_tensor *b);
/* a op scalar, or scalar op a when reversed (s - a, s / a, s ^ a) */
dm_tensor *dm_binary_scalar(dm_binop op, const dm_tensor *a, float s, int reversed);
/* the same with a floating (f64) or an integral (i64) number, typed as PyTorch types a
   Python float or int: x ^ s with integer x and s < 0 is an error */
dm_tensor *dm_binary_scalar_f64(dm_binop op, const dm_tensor *a, double s, int reversed);
dm_tensor *dm_binary_scalar_i64(dm_binop op, const dm_tensor *a, int64_t s, int reversed);
/* t = t op o (o broadcast to t) / t = t op s for any dtypes: the result type must cast to
   t's (no floating result into an integer tensor, only bool into bool); is_int: s is an
   integral number (typed as dm_binary_scalar_i64 types it) */
int dm_binary_(dm_binop op, dm_tensor *t, const dm_tensor *o);
int dm_binary_scalar_(dm_binop op, dm_tensor *t, double s, int is_int);
int dm_clamp_ex_(dm_tensor *t, double lo, double hi, int int_bounds);

typedef enum {
    DM_UN_NEG, DM_UN_EXP, DM_UN_LOG, DM_UN_SQRT, DM_UN_ABS, DM_UN_SIGN, DM_UN_ROUND,
    DM_UN_FLOOR, DM_UN_CEIL, DM_UN_TANH, DM_UN_SIGMOID, DM_UN_RELU, DM_UN_RECIPROCAL,
    DM_UN_SIN, DM_UN_COS, DM_UN_SELU, DM_UN_GELU, DM_UN_SQUARE, DM_UN_LOG1P,
    /* trunc (= fix), frac, ... rad2deg; sgn: sign on real tensors, its own grad_fn name */
    DM_UN_TRUNC, DM_UN_FRAC, DM_UN_EXPM1, DM_UN_LOG2, DM_UN_LOG10, DM_UN_EXP2, DM_UN_RSQRT,
    DM_UN_TAN, DM_UN_ASIN, DM_UN_ACOS, DM_UN_ATAN, DM_UN_SINH, DM_UN_COSH, DM_UN_ASINH,
    DM_UN_ACOSH, DM_UN_ATANH, DM_UN_ERF, DM_UN_ERFC, DM_UN_DEG2RAD, DM_UN_RAD2DEG, DM_UN_SGN,
    /* the special functions lgamma, digamma, erfinv, logit (without eps; dm_logit has eps),
       sinc */
    DM_UN_LGAMMA, DM_UN_DIGAMMA, DM_UN_ERFINV, DM_UN_LOGIT, DM_UN_SINC,
    DM_UN_COUNT
} dm_unop;
dm_tensor *dm_unary(dm_unop op, const dm_tensor *x);
dm_tensor *dm_clamp(const dm_tensor *x, double lo, double hi);   /* NAN bound = none */
/* int_bounds: the bounds are integral numbers (an integer x then stays integer) */
dm_tensor *dm_clamp_ex(const dm_tensor *x, double lo, double hi, int int_bounds);
dm_tensor *dm_leaky_relu(const dm_tensor *x, double slope);      /* floating x only */
dm_tensor *dm_elu(const dm_tensor *x, double alpha);             /* floating x only */
/* cond (bool) ? a : b, broadcast; a and b promoted as a binary op's operands */
dm_tensor *dm_where(const dm_tensor *cond, const dm_tensor *a, const dm_tensor *b);

/* ---- reductions (dim < 0 after wrapping is impossible; use dm_*_all for everything) -- */
typedef enum { DM_RED_SUM, DM_RED_MEAN, DM_RED_PROD, DM_RED_MAX, DM_RED_MIN,
               DM_RED_ARGMAX, DM_RED_ARGMIN, DM_RED_VAR, DM_RED_STD } dm_redop;
/* dim = DM_ALL reduces everything to a 0-dim tensor; correction is for var/std (1 = unbiased).
   argmax/argmin give 0-based int64 indices; max/min over everything give the value.
   Dtypes as PyTorch: float32 and float64 compute in their own type (sums in double);
   sum/prod of int64, uint8, bool give int64 (exact, wrapping); max/min keep the dtype;
   mean/var/std (and softmax) of an integer or bool tensor are refused. */
#define DM_ALL (-1000)
dm_tensor *dm_reduce(dm_redop op, const dm_tensor *x, int dim, int keepdim, int64_t correction);
/* max/min along dim giving both values (x's dtype) and 0-based int64 indices */
int dm_max_dim(const dm_tensor *x, int dim, int keepdim, int is_min,
               dm_tensor **values, dm_tensor **indices);
dm_tensor *dm_sum_to(const dm_tensor *x, int ndim, const int64_t *shape); /* undo broadcast */
dm_tensor *dm_softmax(const dm_tensor *x, int dim);
dm_tensor *dm_log_softmax(const dm_tensor *x, int dim);

/* ---- linear algebra ----------------------------------------------------------------- */
/* 1-D x 1-D -> scalar, 2-D x 1-D, 1-D x 2-D, 2-D x 2-D, and batched (all dims but the last
   two are batch dims, broadcast as torch.matmul's; a 1-D side has none); matmul and linear take
   float32, float64, int64 or uint8 (integers wrap as PyTorch's), all operands one dtype */
dm_tensor *dm_matmul(const dm_tensor *a, const dm_tensor *b);
/* y = x @ w^T + b; x [N x in], w [out x in], b [out] or NULL -> [N x out] */
dm_tensor *dm_linear(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b);
/* C[m x n] = alpha * op(A) @ op(B) + beta * C, row-major, contiguous leading dims */
void dm_gemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
             float *c, int64_t ldc);
void dm_gemm_naive(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                   float *c, int64_t ldc);
/* the same in double (cblas_dgemm; the naive kernel is its reference and BLAS=0 path) */
void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
              double *c, int64_t ldc);
void dm_dgemm_naive(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
                    const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                    double *c, int64_t ldc);
int dm_have_blas(void);
void dm_set_use_blas(int on);          /* testing: route dm_gemm to the naive kernel */
/* threads for BLAS (OpenBLAS's pool); n >= 1.  deepmoon's own loops run on the calling
   thread (split across threads they competed with OpenBLAS's spinning workers: BENCHMARKS.md),
   except the convolutions and max_pool2d over a batch: with n >= 2 they run in two halves at
   once, on the caller and one helper thread (core/backend/cpu/par.c) */
int dm_set_num_threads(int n);         /* 0, or -1 with a message */
int dm_get_num_threads(void);
const char *dm_blas_info(void);        /* e.g. "OpenBLAS 0.3.21 ... (core Zen)"; borrowed */

/* ---- joining and indexing ----------------------------------------------------------- */
dm_tensor *dm_cat(int n, dm_tensor *const *ts, int dim);
dm_tensor *dm_stack(int n, dm_tensor *const *ts, int dim);
/* idx holds 0-based indices as floats (1-D) */
dm_tensor *dm_index_select(const dm_tensor *x, int dim, const dm_tensor *idx);

/* ---- gather, scatter, sort, scans, sampling (gather.c, sort.c, scan.c, sample.c) ------
   PyTorch 1.13's semantics; positions (indices in and out) are 0-based int64 here. */
typedef enum { DM_SCATTER_NONE = 0, DM_SCATTER_ADD, DM_SCATTER_MUL } dm_scatter_reduce;
/* out[c] = x[c with c[dim] = index[c]]; out has index's shape */
dm_tensor *dm_gather(const dm_tensor *x, int dim, const dm_tensor *index);
/* x with src[c] written (or added, multiplied) at c with c[dim] = index[c]; a copy */
dm_tensor *dm_scatter(const dm_tensor *x, int dim, const dm_tensor *index,
                      const dm_tensor *src, dm_scatter_reduce reduce);
dm_tensor *dm_scatter_value(const dm_tensor *x, int dim, const dm_tensor *index, double value,
                            dm_scatter_reduce reduce);
dm_tensor *dm_scatter_add(const dm_tensor *x, int dim, const dm_tensor *index,
                          const dm_tensor *src);
/* x with alpha * src's slices j added at slice index[j] along dim (index 1-D) */
dm_tensor *dm_index_add(const dm_tensor *x, int dim, const dm_tensor *index,
                        const dm_tensor *src, double alpha);
/* the same written into t (the out-of-place result through the one in-place commit); src
   NULL: scatter value */
int dm_scatter_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src,
                double value, dm_scatter_reduce reduce);
int dm_scatter_add_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src);
int dm_index_add_(dm_tensor *t, int dim, const dm_tensor *index, const dm_tensor *src,
                  double alpha);
/* counts of the values 0 .. max of x [N] (or summed weights [N]); at least minlength long */
dm_tensor *dm_bincount(const dm_tensor *x, const dm_tensor *weights, int64_t minlength);
/* labels [...] (int64, 0 .. C-1) -> int64 [... x C]; num_classes -1: max + 1 */
dm_tensor *dm_one_hot(const dm_tensor *labels, int64_t num_classes);
/* sorted unique values (dim DM_ALL: of the flattened x) or slices along dim; inverse (x's
   shape, or [x.shape[dim]]) and counts; three new references */
int dm_unique(const dm_tensor *x, int dim, dm_tensor **values, dm_tensor **inverse,
              dm_tensor **counts);
/* values and int64 indices along dim; stable (ties keep their order), NaN sorts as largest */
int dm_sort(const dm_tensor *x, int dim, int descending, int stable, dm_tensor **values,
            dm_tensor **indices);
int dm_topk(const dm_tensor *x, int64_t k, int dim, int largest, int sorted,
            dm_tensor **values, dm_tensor **indices);
int dm_kthvalue(const dm_tensor *x, int64_t k, int dim, int keepdim, dm_tensor **values,
                dm_tensor **indices);   /* the k-th smallest, k in 1 .. size */
dm_tensor *dm_cumsum(const dm_tensor *x, int dim);   /* integer and bool x give int64 */
dm_tensor *dm_cumprod(const dm_tensor *x, int dim);
/* probs [C] or [B x C] -> int64 [n] or [B x n], 0-based categories */
dm_tensor *dm_multinomial(const dm_tensor *probs, int64_t n, int replacement, dm_rng *g);
dm_tensor *dm_bernoulli(const dm_tensor *p, dm_rng *g);         /* 1 with probability p */
int dm_bernoulli_tensor_(dm_tensor *t, const dm_tensor *p, dm_rng *g);
/* (mean or mean_s) + (std or std_s) * N(0, 1); at least one of mean, std a tensor */
dm_tensor *dm_normal_tensor(const dm_tensor *mean, double mean_s, const dm_tensor *std,
                            double std_s, dm_rng *g);

/* ---- layers (nn.c) ------------------------------------------------------------------ */
/* inverted dropout: zero with probability p, scale the rest by 1/(1-p); identity when not
   training or p == 0 */
dm_tensor *dm_dropout(const dm_tensor *x, double p, int training, dm_rng *g);
/* batch norm over dim 1 of x [N x C] or [N x C x L]; weight, bias [C] or NULL; running
   statistics [C] (or NULL) are updated in place when training (unbiased variance, as
   PyTorch) and used when not; all of x's floating dtype */
dm_tensor *dm_batch_norm(const dm_tensor *x, dm_tensor *running_mean, dm_tensor *running_var,
                         const dm_tensor *weight, const dm_tensor *bias, int training,
                         double momentum, double eps);
/* layer_norm: x's last nnorm dims (equal to shape[0..nnorm-1]) normalised per row, then
   weight * xhat + bias (either NULL; of that shape).  group_norm: x [N x C x ...]'s channels
   in groups of C / groups normalised per sample and group, then weight and bias [C] per
   channel.  PyTorch's biased variance, eps inside the square root; float32 or float64 */
dm_tensor *dm_layer_norm(const dm_tensor *x, int nnorm, const int64_t *shape,
                         const dm_tensor *weight, const dm_tensor *bias, double eps);
dm_tensor *dm_group_norm(const dm_tensor *x, int64_t groups, const dm_tensor *weight,
                         const dm_tensor *bias, double eps);

/* ---- losses (loss.c) ----------------------------------------------------------------
   float32 or float64, computed in the promoted type of input and target (mse of float32
   and float64 is float64; an integer target of mse/l1/smooth_l1/huber takes the input's
   type); bce targets must be floating (bce's of the input's dtype); weights are converted. */
typedef enum { DM_REDUCTION_NONE, DM_REDUCTION_MEAN, DM_REDUCTION_SUM } dm_reduction;
/* input and target same shape; weight broadcast to it or NULL; log clamped at -100 */
dm_tensor *dm_bce_loss(const dm_tensor *input, const dm_tensor *target,
                       const dm_tensor *weight, dm_reduction r);
/* pos_weight broadcast along the last dim, or NULL */
dm_tensor *dm_bce_with_logits_loss(const dm_tensor *input, const dm_tensor *target,
                                   const dm_tensor *weight, const dm_tensor *pos_weight,
                                   dm_reduction r);
dm_tensor *dm_mse_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r);
dm_tensor *dm_l1_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r);
dm_tensor *dm_smooth_l1_loss(const dm_tensor *input, const dm_tensor *target,
                             dm_reduction r, double beta);
dm_tensor *dm_huber_loss(const dm_tensor *input, const dm_tensor *target, dm_reduction r,
                         double delta);
/* input [N x C] log-probabilities (or [C]); target [N] of 0-based class indices, int64 (or
   uint8); weight [C] or NULL; targets equal to ignore_index contribute nothing */
dm_tensor *dm_nll_loss(const dm_tensor *input, const dm_tensor *target,
                       const dm_tensor *weight, dm_reduction r, int64_t ignore_index);
/* input [N x C] logits; target [N] int64 class indices (0-based) or [N x C] floating
   probabilities */
dm_tensor *dm_cross_entropy(const dm_tensor *input, const dm_tensor *target,
                            const dm_tensor *weight, dm_reduction r, int64_t ignore_index,
                            double label_smoothing);

/* ---- optimizer updates (optim.c); p, grad and state buffers share p's shape --------- */
/* PyTorch's SGD; buf is the momentum buffer (needed when momentum != 0), first = 1 on the
   step that initialises it */
int dm_sgd_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *buf, double lr,
                double momentum, double dampening, double weight_decay, int nesterov,
                int maximize, int first);
/* PyTorch's Adam (decoupled = 0) and AdamW (decoupled = 1); step counts from 1;
   max_sq only with amsgrad, else NULL */
int dm_adam_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *exp_avg,
                 dm_tensor *exp_avg_sq, dm_tensor *max_sq, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay,
                 int decoupled, int maximize);

/* ---- weight initialisation (init.c) ------------------------------------------------- */
/* PyTorch's torch.nn.init: fill t in place (any strides), record no autograd and accept
   leaves that require grad; g NULL = the default generator; 0 or -1 with a message.
   Tensors with no elements are left alone.  Fans of [out x in x k...]: fan_in = in * k...,
   fan_out = out * k...  Random streams are deepmoon's, not PyTorch's. */
int dm_calculate_gain(const char *nonlinearity, double param, int has_param, double *out);
                        /* linear, conv*, sigmoid 1; tanh 5/3; relu sqrt 2; selu 3/4;
                           leaky_relu sqrt(2 / (1 + s^2)), s = param or 0.01 */
int dm_fans(const char *fn, const dm_tensor *t, int64_t *fan_in, int64_t *fan_out);
                        /* needs >= 2 dims; fn names the caller in the message */
double dm_erfinv(double x);                                    /* erf(dm_erfinv(x)) = x */
int dm_init_uniform_(dm_tensor *t, double a, double b, dm_rng *g);        /* U[a, b) */
int dm_init_normal_(dm_tensor *t, double mean, double std, dm_rng *g);
/* N(mean, std^2) truncated to [a, b] by the inverse CDF (PyTorch's method) */
int dm_init_trunc_normal_(dm_tensor *t, double mean, double std, double a, double b,
                          dm_rng *g);
int dm_init_constant_(dm_tensor *t, double v);
int dm_init_eye_(dm_tensor *t);                                /* 2-D: identity */
int dm_init_dirac_(dm_tensor *t, int64_t groups);  /* 3/4/5-D conv weight passing inputs */
int dm_init_xavier_uniform_(dm_tensor *t, double gain, dm_rng *g);
                        /* U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) */
int dm_init_xavier_normal_(dm_tensor *t, double gain, dm_rng *g);
                        /* N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)) */
/* mode "fan_in"/"fan_out" (NULL = fan_in), nonlinearity as calculate_gain with param a
   (NULL = leaky_relu): std = gain / sqrt(fan); the uniform bound is sqrt(3) std */
int dm_init_kaiming_uniform_(dm_tensor *t, double a, const char *mode,
                             const char *nonlinearity, dm_rng *g);
int dm_init_kaiming_normal_(dm_tensor *t, double a, const char *mode,
                            const char *nonlinearity, dm_rng *g);
int dm_init_lecun_uniform_(dm_tensor *t, dm_rng *g);    /* U(-b, b), b = sqrt(3 / fan_in) */
int dm_init_lecun_normal_(dm_tensor *t, dm_rng *g);     /* N(0, 1 / fan_in) */
/* >= 2-D, viewed as [shape[0] x numel / shape[0]]: (semi-)orthogonal rows or columns * gain */
int dm_init_orthogonal_(dm_tensor *t, double gain, dm_rng *g);
/* 2-D: N(0, std^2) with ceil(sparsity * rows) zeros in every column */
int dm_init_sparse_(dm_tensor *t, double sparsity, double std, dm_rng *g);

/* ---- files (named.c, safetensors.c, npy.c) ----------------------------------------- */
/* Named tensors with string metadata: what a safetensors file holds.  The struct is public
   so plain-C hosts can walk it:
       dm_named_tensors *w = dm_safetensors_load("model.safetensors");
       if (!w) { fprintf(stderr, "%s\n", dm_errmsg()); return 1; }
       for (int64_t i = 0; i < w->count; i++) use(w->names[i], w->tensors[i]);
       dm_named_tensors_free(w);
   The list owns its strings and one reference to each tensor. */
typedef struct dm_named_tensors {
    int64_t count;
    char **names;                  /* count UTF-8 names */
    dm_tensor **tensors;           /* count tensors; loaded ones are contiguous */
    int64_t meta_count;
    char **meta_keys, **meta_values;
    int64_t cap_, meta_cap_;       /* private */
} dm_named_tensors;
dm_named_tensors *dm_named_tensors_new(void);                   /* empty */
void dm_named_tensors_free(dm_named_tensors *nt);               /* releases the tensors */
int dm_named_tensors_add(dm_named_tensors *nt, const char *name, dm_tensor *t);
                        /* name copied, t retained; a duplicate name is an error */
dm_tensor *dm_named_tensors_get(const dm_named_tensors *nt, const char *name); /* borrowed */
int dm_named_tensors_set_meta(dm_named_tensors *nt, const char *key, const char *value);
                        /* copies; replaces the value of an existing key */
const char *dm_named_tensors_get_meta(const dm_named_tensors *nt, const char *key);
                        /* borrowed, or NULL when absent */
/* Safetensors: every tensor is written in its own dtype (F32, F64, I64, U8, BOOL) in name
   order (bytewise), metadata sorted by key, through a temporary file renamed over path.
   Loading keeps those five dtypes bit for bit and reads the others into the nearest of ours,
   as PyTorch would hold them: F16 and BF16 as float32, I32, I16, I8, U16, U32 and U64 as
   int64 (a U64 above INT64_MAX wraps); PyTorch's BatchNorm num_batches_tracked is I64 and
   loads as int64.  Tensors come in the order of their data in the file.  A malformed or
   hostile file gives NULL and a message "load: <path>: <problem>", never a crash or a read
   out of bounds. */
int dm_safetensors_save(const char *path, const dm_named_tensors *nt);
dm_named_tensors *dm_safetensors_load(const char *path);
dm_named_tensors *dm_safetensors_load_buffer(const void *data, size_t len, const char *name);
                        /* from memory; name is used in messages */
/* every tensor of nt not already dt converted to dt (only the floating ones when
   floating_only): for hosts that want, say, all weights as float32; 0, or -1 with a message */
int dm_named_tensors_to_dtype(dm_named_tensors *nt, dm_dtype dt, int floating_only);
/* NumPy .npy (format 1.0-3.0): written in the tensor's dtype ('<f4', '<f8', '<i8', '|u1',
   '|b1'), C order, format 1.0; read: f2/f4/f8, i1-i8, u1-u8, b1 of either byte order, C or
   Fortran order (transposed to row-major), into dtypes as safetensors' (f2 -> float32, other
   integers -> int64).  Messages "save_npy: <path>: ..." and "load_npy: <path>: ...". */
int dm_npy_save(const char *path, const dm_tensor *t);
dm_tensor *dm_npy_load(const char *path);
dm_tensor *dm_npy_load_buffer(const void *data, size_t len, const char *name);
/* IDX (MNIST's format; gzipped when the name ends in ".gz" or the data start 1f 8b): uint8
   -> uint8, int8/int16/int32 -> int64, float32 -> float32, float64 -> float64, in the file's
   shape.  Messages "read_idx: <path>: ...".  The buffer form takes plain (not gzipped) bytes. */
dm_tensor *dm_idx_load(const char *path);
dm_tensor *dm_idx_load_buffer(const void *data, size_t len, const char *name);

/* ---- inference (model.c) and the layer registry (registry.c) ------------------------ */
/* Run a model saved from Lua (nn.save_model(model, path), or model:save(path)) from plain C,
   no Lua needed.  The file is safetensors: the model's state_dict under PyTorch's names (so
   PyTorch's load_state_dict reads it too) plus a description of the layers in the metadata
   key "deepmoon.model": a Sequential of the layer kinds of the registry below (Linear,
   BatchNorm1d, the activations, Conv1d/Conv2d/ConvTranspose2d, the pools, BatchNorm2d,
   Embedding (token ids passed as floats), RNN/LSTM/GRU (batch_first), ...:
   dm_layer_kinds() lists them; the text format is documented at the top of core/io/model.c).
   Inference is eval mode (Dropout and Dropout2d pass values through, BatchNorm1d/2d use
   their running statistics) on flat rows of in_features floats; a CNN's row is one image,
   C*H*W floats row-major, viewed as the [C x H x W] sample dm_model_input_shape gives:
       dm_model *m = dm_model_load("model.safetensors");
       if (!m) { fprintf(stderr, "%s\n", dm_errmsg()); return 1; }
       float x[2 * 4] = { ... }, y[2 * 3];          // in_features 4, out_features 3
       if (dm_model_forward(m, x, 2, y) != 0) fprintf(stderr, "%s\n", dm_errmsg());
       dm_model_free(m);
   A malformed or hostile file gives NULL and a message ("load: <path>: ..." for the file,
   "load_model: <path>: line 3: ..." for the description), never a crash; every tensor is
   checked against the description before the model is built, so a small file cannot make
   the loader allocate a large layer.  Tensor reference counts are not atomic, so threads
   that run a model at the same time each load their own.

   The layer registry is one row per layer kind a model file can hold: the kind's name, its
   options, its tensors, a shape rule and an eval-mode forward.  model.c parses, checks and
   runs descriptions with it, and nn.save_model / nn.load_model read it through the binding,
   so a new kind is one row plus its forward kernel (core/README.md walks through one).
   Shapes here are one sample's: the batch dim is left out ([in_features] for a Linear,
   [C x H x W] for a Conv2d); every sample in a chain holds at most 2^30 values. */
#define DM_LAYER_MAX_OPTS 12
#define DM_LAYER_MAX_TENSORS 80      /* LSTM: 5 tensors x 2 directions x 8 layers */
typedef enum {
    DM_OPT_INT,         /* a decimal integer in lo .. hi */
    DM_OPT_NUM,         /* a finite decimal number in lo .. hi */
    DM_OPT_BOOL,        /* true or false */
    DM_OPT_CHOICE,      /* one of the words of choices; its value is the word's index */
    DM_OPT_DIM,         /* a dim of [batch x sample...]: 1-based, negative from the end, not 0 */
    DM_OPT_SIZE         /* a size, PyTorch's int or tuple: one integer ("5", every spatial
                           dim) or up to DM_OPT_MAX_SIZES joined by commas ("3,2"), each in
                           lo .. hi; where none_ok, "none" (the whole) and entries "none"
                           (AdaptiveAvgPool2d's (7, None)); where choices is set, one of
                           those words instead (Conv2d's padding "valid" or "same") */
} dm_opt_type;
#define DM_OPT_MAX_SIZES 3
typedef struct dm_layer_opt {
    const char *name;   /* PyTorch's argument name (also the Lua module's field) */
    dm_opt_type type;
    const char *def;    /* PyTorch's default as the text writes it ("0.01", "true", "none"),
                           taken when the key is left out; NULL: the key is required */
    double lo, hi;      /* INT, NUM, DIM: the values accepted (NUM: +-INFINITY, none) */
    const char *choices;/* CHOICE: the words, space-separated ("none tanh") */
    int none_ok;        /* "none" (PyTorch's None) is accepted; never for BOOL */
} dm_layer_opt;
typedef struct dm_opt_value {
    int none;           /* the value is "none" */
    double v;           /* the number; BOOL 0 or 1; CHOICE the word's index; DIM as written;
                           SIZE the word's index when n is 0, else size[0] */
    int n;              /* SIZE: how many sizes were written (0: none or a word) */
    int64_t size[DM_OPT_MAX_SIZES];  /* SIZE: the sizes as written; -1 for an entry "none" */
} dm_opt_value;
typedef struct dm_layer_tensor {
    const char *name;   /* the state_dict suffix: "weight", "running_mean" */
    int buffer;         /* 1: a buffer (register_buffer), 0: a parameter */
    const char *when;   /* the BOOL option under which it exists; NULL: always */
    int optional;       /* the forward does without it: it may be missing, and is checked
                           when present (num_batches_tracked) */
} dm_layer_tensor;
typedef struct dm_layer_shape {
    int ndim;           /* -1: not known (a shape flowing in) or absent (a tensor) */
    int64_t d[DM_MAX_DIMS];
} dm_layer_shape;
typedef struct dm_layer_kind {
    const char *name;                               /* PyTorch's class name: "Linear" */
    dm_layer_opt opt[DM_LAYER_MAX_OPTS];            /* in the text's order; to a NULL name */
    dm_layer_tensor tensor[DM_LAYER_MAX_TENSORS];   /* to a NULL name */
    /* The shape rule: check the options together and against in, the sample flowing in
       (ndim -1: not known yet, when nn.save_model looks for the model's input; a layer that
       fixes its input then sets in), set out to the sample flowing out (ndim -1 when in is
       not known and the layer does not fix it) and t[i] to the shape tensor i must have.
       0, or -1 with the problem in dm_errmsg() without the kind's name ("in_features 3
       does not match the width 2 before it").  Allocates nothing. */
    int (*shape)(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                 dm_layer_shape *t);
    /* Eval mode: x [batch x sample...] (borrowed) -> a new reference, or NULL with a
       message; t[i] is tensor i, contiguous, NULL where absent or optional. */
    dm_tensor *(*forward)(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x);
} dm_layer_kind;
const dm_layer_kind *dm_layer_kinds(int *n);     /* the rows, *n of them (static, borrowed) */
const dm_layer_kind *dm_layer_kind_find(const char *name);     /* NULL when there is none */
/* One layer's description, "TYPE key=value ..." (a layer line after "layer NAME "): the
   kind, the options (DM_LAYER_MAX_OPTS values, in the row's order, defaults filled in) and
   the row's shape rule run on in and out as above, with t[i].ndim -1 for a tensor absent
   under these options.  0, or -1 with a message "TYPE: problem" ("unknown layer type 'X'"
   when no row has that name).  nn.save_model checks each layer with it. */
int dm_layer_parse(const char *spec, const dm_layer_kind **kind, dm_opt_value *opt,
                   dm_layer_shape *in, dm_layer_shape *out, dm_layer_shape *t);

typedef struct dm_model dm_model;
dm_model *dm_model_load(const char *path);
dm_model *dm_model_load_buffer(const void *data, size_t len, const char *name);
                        /* a model file's bytes in memory; name is used in messages */
dm_model *dm_model_from_named(const dm_named_tensors *nt, const char *name);
                        /* a model file's contents (tensors and metadata); the model
                           retains the tensors it uses, so nt may be freed after */
int dm_model_forward(const dm_model *m, const float *input, int64_t batch, float *output);
                        /* input [batch x in_features] -> output [batch x out_features],
                           row-major (an input row is one sample of dm_model_input_shape,
                           flattened); 0, or -1 with a message */
int64_t dm_model_in_features(const dm_model *m);    /* floats per input row; -1 for NULL */
int64_t dm_model_out_features(const dm_model *m);   /* floats per output row; -1 for NULL */
int dm_model_input_shape(const dm_model *m, int64_t *shape);
                        /* the sample the model expects, batch dim left out, into
                           shape[DM_MAX_DIMS]; returns its ndim, -1 for NULL: [in_features]
                           for a model that starts with a Linear, [C x H x W] for one that
                           starts with a Conv2d ([1 x 28 x 28] for Fashion-MNIST).  Inputs
                           stay flat: dm_model_forward reads rows of dm_model_in_features()
                           = C*H*W floats (row-major [C x H x W]) and views them so */
int dm_model_output_shape(const dm_model *m, int64_t *shape);   /* the same for the output */
int dm_model_num_layers(const dm_model *m);         /* -1 for NULL */
/* layer i (0-based): its state_dict prefix ("0", "fc1"; "-" for a layer without tensors),
   with its kind and option values (the row's order) in *kind and *opt when not NULL;
   NULL when i is out of range.  Borrowed, valid while m is. */
const char *dm_model_layer(const dm_model *m, int i, const dm_layer_kind **kind,
                           const dm_opt_value **opt);
void dm_model_free(dm_model *m);                                /* NULL is fine */
/* dm_model_forward for hosts whose rows are not float32: input [batch x in_features] of
   in_dt (float64 values, uint8 pixels, int64 token ids for an Embedding model, ...) converted
   to float32 as dm_to_dtype converts (the model computes in float32), and the output written
   as out_dt (dm_to_buffer_dtype).  0, or -1 with a message "model_forward_dtype: ..." */
int dm_model_forward_dtype(const dm_model *m, const void *input, dm_dtype in_dt, int64_t batch,
                           void *output, dm_dtype out_dt);

/* ---- autograd ----------------------------------------------------------------------- */
/* gradient NULL means ones (t must then hold one element); a given gradient of any dtype is
   converted to t's, and every gradient of the walk has its tensor's dtype (one a rule or
   custom node gives in another dtype is cast, as PyTorch's engine does) */
int dm_backward(dm_tensor *t, const dm_tensor *gradient, int retain_graph);
const char *dm_grad_fn_name(const dm_tensor *t);     /* "AddBackward0" or NULL (borrowed) */
int dm_is_leaf(const dm_tensor *t);
int dm_set_requires_grad(dm_tensor *t, int on);      /* leaves only */
int dm_retain_grad(dm_tensor *t);
/* t.grad = g (retained; NULL clears): g must have t's shape, dtype and device, must not share
   t's memory and must not overlap itself (an expanded tensor would take one gradient cell's
   accumulation several times); 0, or -1 with a message */
int dm_set_grad(dm_tensor *t, dm_tensor *g);
int dm_zero_grad(dm_tensor *t, int set_to_none);     /* zero t.grad in place, or drop it */
/* PyTorch's `t.data = x`: a new leaf viewing x's values that takes over t's requires_grad and
   .grad (t keeps neither); t must be a leaf, and x floating when t requires grad */
dm_tensor *dm_tensor_with_data(dm_tensor *t, const dm_tensor *x);

/* ---- autograd: the walk calls its host ---------------------------------------------
 * Tensor hooks see (and may replace) the gradient flowing into a tensor; a custom node runs
 * a host function as its backward rule (an autograd.Function written in Lua); a walk's own
 * callbacks hear of every node it runs and of every leaf whose .grad is final (where
 * data-parallel training starts the allreduce of a bucket while backward goes on).
 * Callbacks run inside dm_backward with grad mode off and must not start a backward over
 * the graph being walked.  They return 0, or -1 after dm_seterr(): the walk then stops and
 * dm_backward fails with that message; nodes already run are freed as usual (gradients they
 * added to a .grad stay), the rest of the graph is left as it was.
 * A ud given with its free_ud belongs to the core from that call on: free_ud(ud) (when not
 * NULL) runs exactly once, when the hook is removed, when its tensor or node is freed
 * (after a backward without retain_graph, a custom node's), or at once when the call fails
 * or records nothing.  The core retains nothing for a callback: a ud that holds a tensor
 * the hook is on makes a cycle only the host can break.
 *
 *     static int twice(void *ud, dm_tensor *t, const dm_tensor *g, dm_tensor **replace)
 *     { *replace = dm_binary_scalar(DM_BIN_MUL, g, 2.0f, 0); return *replace ? 0 : -1; }
 *     int id = dm_tensor_add_hook(w, twice, NULL, NULL);  // w's gradients count double
 */
typedef int (*dm_grad_hook)(void *ud, dm_tensor *t, const dm_tensor *grad,
                            dm_tensor **replace);
                        /* grad is t's whole gradient of this walk (borrowed, t's dtype); may
                           set *replace to a new reference of t's shape and dtype to pass on
                           instead (another dtype is an error, as in PyTorch) */
int dm_tensor_add_hook(dm_tensor *t, dm_grad_hook fn, void *ud, void (*free_ud)(void *));
                        /* id > 0, or -1; t must require grad.  Hooks run in the order added,
                           each on the one before's result: on a leaf before the gradient is
                           added to .grad, on a non-leaf before its grad_fn runs (and before
                           retain_grad keeps it); not at all when no gradient reaches t */
int dm_tensor_remove_hook(dm_tensor *t, int id);     /* 0, or -1 when t has no hook id */

typedef int (*dm_custom_backward)(void *ud, const dm_tensor *grad, int ninputs,
                                  const dm_tensor *const *inputs, dm_tensor **grads);
                        /* grad: the output's gradient (contiguous, the output's dtype,
                           borrowed); set grads[k] to a new reference of inputs[k]'s shape
                           (cast to inputs[k]'s dtype when of another), or leave it NULL */
int dm_record_custom(dm_tensor *out, int ninputs, const dm_tensor *const *inputs,
                     dm_custom_backward fn, void *ud, void (*free_ud)(void *),
                     const char *name);
                        /* out = f(inputs) computed by the host: give out a grad_fn named name
                           (copied; NULL: "CustomBackward") running fn; inputs retained.  out
                           must be new (no grad_fn, no requires_grad, the caller's only
                           reference).  Records nothing (and frees ud) in no-grad mode or
                           when no input requires grad */

typedef struct dm_backward_hooks {
    int (*on_node)(void *ud, const char *name, const dm_tensor *out, const dm_tensor *grad,
                   int after);
                        /* before (after = 0) and after (1) each node of the walk runs, once
                           each: out its output tensor, grad the gradient flowing into it
                           (NULL when none reached it); borrowed */
    int (*on_leaf_grad)(void *ud, dm_tensor *leaf);
                        /* once per leaf that requires grad and that the walk reaches, when
                           its .grad holds its final value of this walk (every node using it
                           has run); leaf->grad is unchanged when no gradient reached it */
    void *ud;                   /* passed to both; h is read during the call only */
} dm_backward_hooks;
int dm_backward_ex(dm_tensor *t, const dm_tensor *gradient, int retain_graph,
                   const dm_backward_hooks *h);     /* dm_backward with callbacks (h may be NULL) */
/* PyTorch's torch.autograd.grad: the gradients of root (seeded with gradient, as
   dm_backward) with respect to inputs[0..n-1], as new references in out[k] (NULL for an input
   no gradient reached), touching no .grad: every .grad the walk writes is set aside before
   and put back after.  Hooks and custom nodes run as in dm_backward.  0, or -1 (out all NULL) */
int dm_autograd_grad(dm_tensor *root, const dm_tensor *gradient, int retain_graph, int n,
                     dm_tensor *const *inputs, dm_tensor **out);


/* ---- reductions over several dims, tests of values, bitwise and integer division ------
   (reduce_multi.c, bitwise.c) dims: n 0-based (or negative) dims; n == 0 reduces all. */
dm_tensor *dm_reduce_dims(dm_redop op, const dm_tensor *x, int n, const int *dims,
                          int keepdim);                    /* sum or mean over several dims */
dm_tensor *dm_amax(const dm_tensor *x, int n, const int *dims, int keepdim); /* ties share g */
dm_tensor *dm_amin(const dm_tensor *x, int n, const int *dims, int keepdim);
dm_tensor *dm_logsumexp(const dm_tensor *x, int n, const int *dims, int keepdim); /* stable */
/* (sum |x|^p)^(1/p); p = 0 counts nonzeros, +-INFINITY max/min |x|; floating x only */
dm_tensor *dm_norm(const dm_tensor *x, double p, int n, const int *dims, int keepdim);
/* any/all over dim (DM_ALL: everything): bool (uint8 for a uint8 x, as PyTorch 1.13) */
dm_tensor *dm_any_all(const dm_tensor *x, int dim, int keepdim, int is_all);
dm_tensor *dm_isclass(const dm_tensor *x, int kind);    /* kind 0 isnan, 1 isinf, 2 isfinite */
/* dm_isclass kinds 3 isposinf, 4 isneginf, 5 signbit (integers: x < 0; bool, uint8: false) */
/* logit(x), x first clamped to [eps, 1 - eps] (in x's type) when eps is not NAN */
dm_tensor *dm_logit(const dm_tensor *x, double eps);
/* nan -> nan, +inf -> *posinf, -inf -> *neginf (NULL: the dtype's largest/lowest value) */
dm_tensor *dm_nan_to_num(const dm_tensor *x, double nan, const double *posinf,
                         const double *neginf);
typedef enum {
    DM_B2_BITWISE_AND, DM_B2_BITWISE_OR, DM_B2_BITWISE_XOR,      /* integer and bool only */
    DM_B2_LOGICAL_AND, DM_B2_LOGICAL_OR, DM_B2_LOGICAL_XOR,      /* any dtypes -> bool */
    DM_B2_FLOOR_DIVIDE, DM_B2_REMAINDER, DM_B2_FMOD,             /* no bool; int / 0 errors */
    DM_B2_COUNT
} dm_binop2;
dm_tensor *dm_binop2_apply(dm_binop2 op, const dm_tensor *a, const dm_tensor *b); /* broadcast */
dm_tensor *dm_unop2_apply(int logical, const dm_tensor *x);   /* logical_not / bitwise_not */
/* ---- products, diagonals and shape ops (products.c, einsum.c, shape_ops.c) ------------
   PyTorch 1.13's semantics; dims 0-based.  Products take float32, float64, int64, uint8,
   every operand one dtype; the rest take every dtype. */
dm_tensor *dm_bmm(const dm_tensor *a, const dm_tensor *b);  /* [B x n x k] @ [B x k x m] -> [B x n x m] */
/* beta * input + alpha * bmm(b1, b2), input broadcast to [B x n x m]; beta 0: input unread */
dm_tensor *dm_baddbmm(const dm_tensor *input, const dm_tensor *b1, const dm_tensor *b2,
                      double beta, double alpha);
/* beta * input + alpha * m1 @ m2; m1 [n x k], m2 [k x m], input broadcast to [n x m] */
dm_tensor *dm_addmm(const dm_tensor *input, const dm_tensor *m1, const dm_tensor *m2,
                    double beta, double alpha);
dm_tensor *dm_outer(const dm_tensor *a, const dm_tensor *b);   /* [n], [m] -> [n x m] a_i b_j */
/* torch.einsum("bij,bjk->bik", ...): n operands; repeated subscripts take diagonals,
   "..." broadcasts, no "->": the output is "..." then the letters named once, sorted */
dm_tensor *dm_einsum(const char *equation, int n, dm_tensor *const *operands);
/* view of the diagonal offset (> 0 above the main one) across dim1 and dim2, which go;
   the diagonal becomes the last dim */
dm_tensor *dm_diagonal(const dm_tensor *t, int64_t offset, int dim1, int dim2);
dm_tensor *dm_diag(const dm_tensor *t, int64_t offset);   /* [n] -> [n+|k| x n+|k|]; [r x c] -> [len] */
dm_tensor *dm_trace(const dm_tensor *t);                  /* [r x c] -> [] sum of the diagonal */
dm_tensor *dm_tril(const dm_tensor *t, int64_t k);        /* [.. x r x c]: zero where j > i + k */
dm_tensor *dm_triu(const dm_tensor *t, int64_t k);        /* [.. x r x c]: zero where j < i + k */
/* n repeats, n >= ndim (leading ones add dims): a copy of [r0 s0 x r1 s1 ...] */
dm_tensor *dm_repeat(const dm_tensor *t, int n, const int64_t *repeats);
dm_tensor *dm_tile(const dm_tensor *t, int n, const int64_t *repeats);  /* fewer: ones in front */
/* Several views along dim, as a malloc'd array of *count new references (free() it after
   releasing them): pieces of size (the last smaller), of the given sizes, chunks of
   ceil(len / chunks), or every index (unbind, dim removed) */
dm_tensor **dm_split(const dm_tensor *t, int64_t size, int dim, int64_t *count);
dm_tensor **dm_split_sizes(const dm_tensor *t, int n, const int64_t *sizes, int dim,
                           int64_t *count);
dm_tensor **dm_chunk(const dm_tensor *t, int64_t chunks, int dim, int64_t *count);
dm_tensor **dm_unbind(const dm_tensor *t, int dim, int64_t *count);
dm_tensor *dm_flip(const dm_tensor *t, int n, const int *dims);         /* a copy, reversed */
/* F.pad: pad (npad values, even) as PyTorch orders it: the last dim's left and right, then
   the dim before's, ...; constant pads any dims (negative values crop) with value; reflect,
   replicate and circular pad the last 1..3 dims of a [N x] C x ... input (float32/64) */
enum { DM_PAD_CONSTANT = 0, DM_PAD_REFLECT, DM_PAD_REPLICATE, DM_PAD_CIRCULAR };
dm_tensor *dm_pad(const dm_tensor *x, int npad, const int64_t *pad, int mode, double value);
/* F.interpolate "nearest" and "linear"/"bilinear" of an [N x C x L] (nsp 1) or [N x C x H x W]
   (nsp 2) input (float32/64) to the nsp sizes osize; scales (NULL, or per dim: the
   scale_factor given, 0 for none) set the index scale 1 / scale as PyTorch 1.13 does when
   recompute_scale_factor is not set (ignored with align_corners) */
enum { DM_UPSAMPLE_NEAREST = 0, DM_UPSAMPLE_LINEAR };
dm_tensor *dm_upsample(const dm_tensor *x, int nsp, const int64_t *osize, const double *scales,
                       int mode, int align_corners);
/* convolutions (zero padding, symmetric; PyTorch 1.13 F.conv*d); b may be NULL:
   x [N x Cin x H x W] or [Cin x H x W], w [Cout x Cin/groups x kh x kw], b [Cout]
   -> [N x Cout x (H + 2p - d(kh - 1) - 1) / s + 1 x ...] */
dm_tensor *dm_conv2d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                     const int64_t stride[2], const int64_t padding[2],
                     const int64_t dilation[2], int64_t groups);
/* x [N x Cin x L] or [Cin x L], w [Cout x Cin/groups x k] */
dm_tensor *dm_conv1d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                     const int64_t stride[1], const int64_t padding[1],
                     const int64_t dilation[1], int64_t groups);
/* x [N x Cin x H x W], w [Cin x Cout/groups x kh x kw], b [Cout]
   -> [N x Cout x (H - 1)s - 2p + d(kh - 1) + output_padding + 1 x ...] */
dm_tensor *dm_conv_transpose2d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                               const int64_t stride[2], const int64_t padding[2],
                               const int64_t output_padding[2], const int64_t dilation[2],
                               int64_t groups);
/* pooling over the last two dims of [N x C x H x W] or [C x H x W] (float32/64), PyTorch
   1.13's output sizes ((H + 2p - d(k-1) - 1) / s + 1, rounded up with ceil_mode, the last window
   starting inside the input or left padding); padding at most kernel / 2.  indices (NULL, or
   receives a new [.. x OH x OW] int64 tensor): the 0-based flat index in its H x W plane of
   each maximum; a NaN in a window wins */
dm_tensor *dm_max_pool2d(const dm_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], int ceil_mode,
                         dm_tensor **indices);
/* each output the mean of its window; divisor_override (0: none) replaces the window size */
dm_tensor *dm_avg_pool2d(const dm_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], int ceil_mode, int count_include_pad,
                         int64_t divisor_override);
/* adaptive pools to an out[0] x out[1] plane: output o of O over an input of I reduces
   [floor(o I / O), ceil((o + 1) I / O)); indices as dm_max_pool2d's */
dm_tensor *dm_adaptive_avg_pool2d(const dm_tensor *x, const int64_t out[2]);
dm_tensor *dm_adaptive_max_pool2d(const dm_tensor *x, const int64_t out[2], dm_tensor **indices);
/* the inverse of max pooling: x [.. x H x W] written at indices (0-based flat in each
   out[0] x out[1] output plane, of x's shape) into zeros */
dm_tensor *dm_max_unpool2d(const dm_tensor *x, const dm_tensor *indices, const int64_t out[2]);
/* elements shifted by shifts[i] along dims[i] (wrapping); ndims 0: over the flattened t */
dm_tensor *dm_roll(const dm_tensor *t, int nshifts, const int64_t *shifts, int ndims,
                   const int *dims);
dm_tensor *dm_narrow_copy(const dm_tensor *t, int dim, int64_t start, int64_t len);
/* dims src[i] moved to dst[i], the others in their order (a permuted view) */
dm_tensor *dm_movedim(const dm_tensor *t, int n, const int *src, const int *dst);
/* ---- indexing (index.c): positions 0-based, negative from the end ------------------------
 * idx lists: one entry per dim from the first: NULL (the whole dim), an int64 tensor (that
 * dim) or a bool mask (as many dims as it has, its shape theirs).  The index tensors
 * broadcast together to B; the result has B in place of the indexed dims when they are
 * adjacent, else first (PyTorch's advanced indexing). */
dm_tensor *dm_slice(const dm_tensor *t, int dim, int64_t start, int64_t len, int64_t step);
                        /* view: len elements of dim from start, step apart (step > 0) */
dm_tensor *dm_index(const dm_tensor *x, int n, const dm_tensor *const *idx);  /* x[idx], a copy */
dm_tensor *dm_index_put(const dm_tensor *t, int n, const dm_tensor *const *idx,
                        const dm_tensor *values, int accumulate);
                        /* a copy of t with t[idx] = values (+= when accumulate, repeated
                           indices summed); values broadcast to x[idx]'s shape, converted */
int dm_index_put_(dm_tensor *t, int n, const dm_tensor *const *idx, const dm_tensor *values,
                  int accumulate);                    /* the same, written into t */
dm_tensor *dm_index_put_ex(const dm_tensor *t, const int64_t *start, const int64_t *len,
                           const int64_t *step, int n, const dm_tensor *const *idx,
                           const dm_tensor *values, int accumulate);
                        /* index_put into a window of t: per dim of t, start, len and step
                           (step 0: the dim is selected at start and goes); idx index the
                           window's dims.  start NULL: the whole of t */
int dm_index_put_ex_(dm_tensor *t, const int64_t *start, const int64_t *len,
                     const int64_t *step, int n, const dm_tensor *const *idx,
                     const dm_tensor *values, int accumulate);
dm_tensor *dm_masked_fill(const dm_tensor *t, const dm_tensor *mask, double value);
                        /* t with value where the bool mask (broadcast) is true */
int dm_masked_fill_(dm_tensor *t, const dm_tensor *mask, double value);
dm_tensor *dm_masked_select(const dm_tensor *t, const dm_tensor *mask);
                        /* 1-d: t's elements where mask is true (both broadcast), row-major */
dm_tensor *dm_nonzero(const dm_tensor *t);   /* int64 [n x ndim]: positions of nonzeros */
/* ---- PyTorch checkpoints (pt.c; pickle.c, zip.c) ------------------------------------ */
/* What torch.save writes since PyTorch 1.6: a zip archive ("<name>/data.pkl", a pickle of
   the object, and "<name>/data/<key>", one stored record per storage).  A checkpoint is read
   as a tree of Python-like values (a dm_pydoc owns every value of one tree, shared and even
   self-referencing ones, and frees them at once).  Only what a weights file needs is
   understood: the pickle opcodes of protocol 2, and the callables of PyTorch's
   weights_only=True allowlist that rebuild tensors (torch._utils._rebuild_tensor_v2,
   _rebuild_parameter, collections.OrderedDict, the torch.*Storage types); anything else
   (another global, a REDUCE of anything but those, an unknown opcode, a compressed record,
   the pre-1.6 format) gives NULL and a message naming it, and nothing a file names is ever
   called.  Storages load as float32 (Float, Half, BFloat16), float64, int64 (Long, Int,
   Short, Char), uint8 and bool; tensors are views of them with the file's offset, sizes and
   strides, so tensors sharing a storage in the file share one here. */
typedef enum {
    DM_PY_NONE, DM_PY_BOOL, DM_PY_INT, DM_PY_FLOAT, DM_PY_STR, DM_PY_TENSOR,
    DM_PY_LIST, DM_PY_TUPLE, DM_PY_DICT,
    DM_PY_OTHER                 /* something with no value here (a callable, a bare storage) */
} dm_pykind;
typedef struct dm_pyval {
    dm_pykind kind;
    int64_t i;                  /* BOOL (0, 1), INT */
    double f;                   /* FLOAT */
    char *s;                    /* STR: UTF-8, len bytes and a 0; OTHER: what it is; a
                                   loaded TENSOR: the file's storage type ("torch.HalfStorage") */
    size_t len;
    dm_tensor *t;               /* TENSOR: one reference, owned by the document */
    int64_t n;                  /* LIST, TUPLE: items; DICT: pairs, keys items[2k], values items[2k+1] */
    struct dm_pyval **items;
    int64_t cap_;               /* private */
    int tag_, half_;
} dm_pyval;
typedef struct dm_pydoc {
    dm_pyval *root;
    dm_pyval **all_;            /* private: every value of the document */
    int64_t count_, cap_;
} dm_pydoc;
dm_pydoc *dm_pydoc_new(void);
void dm_pydoc_free(dm_pydoc *d);                      /* every value, and the tensors' references */
dm_pyval *dm_pyval_new(dm_pydoc *d, dm_pykind kind);  /* zeroed, owned by d; NULL on failure */
dm_pyval *dm_pyval_str(dm_pydoc *d, const char *s, size_t len);      /* copies */
dm_pyval *dm_pyval_tensor(dm_pydoc *d, dm_tensor *t);                /* retains t */
int dm_pyval_append(dm_pyval *c, dm_pyval *v);    /* a list or tuple item; a dict's key, then its value */
const char *dm_pykind_name(dm_pykind k);          /* "None", "bool", "int", ... "dict", "object" */
dm_pydoc *dm_pt_load(const char *path);           /* NULL and "load: <path>: <problem>" */
dm_pydoc *dm_pt_load_buffer(const void *data, size_t len, const char *name);
/* root as a checkpoint torch.load(path, weights_only=True) reads: the top dict as a
   collections.OrderedDict (what state_dict() gives), other dicts, lists and tuples as
   themselves, each tensor as a contiguous storage of its own in its dtype (float32 ->
   FloatStorage, float64, int64, uint8, bool); strings must be UTF-8.  Through a temporary
   file renamed over path; 0, or -1 and "save: <path>: <problem>". */
int dm_pt_save(const char *path, const dm_pyval *root);

/* ---- embeddings (embedding.c): PyTorch 1.13's F.embedding / F.embedding_bag.  Ids are
 * 0-based int64 (messages report them + 1, the 1-based ids the Lua layer takes); padding_idx
 * is 0-based, -1 for none; weight [num x dim], float32 or float64. */
/* weight's rows at ids: [ids... x dim]; padding_idx's row gets no gradient; with
   scale_grad_by_freq each id's gradient is divided by its count in ids */
dm_tensor *dm_embedding(const dm_tensor *weight, const dm_tensor *ids, int64_t padding_idx,
                        int scale_grad_by_freq);
/* max_norm: each distinct row named in ids with norm_type-norm above max_norm scaled to
   max_norm / (norm + 1e-7) of itself, in place and outside autograd (0 or -1) */
int dm_embedding_renorm_(dm_tensor *weight, const dm_tensor *ids, double max_norm,
                         double norm_type);
enum { DM_BAG_SUM = 0, DM_BAG_MEAN, DM_BAG_MAX };
/* bags of rows reduced to [B x dim]: ids [B x L] (offsets NULL) or [n] with int64 offsets
   [B] (0-based start of each bag; [B + 1] with include_last_offset, the last one the end);
   per_sample_weights (sum only) of ids' shape; padding_idx's entries left out of every bag
   (mean divides by the rest); an empty bag gives zeros */
dm_tensor *dm_embedding_bag(const dm_tensor *weight, const dm_tensor *ids,
                            const dm_tensor *offsets, int mode,
                            const dm_tensor *per_sample_weights, int include_last_offset,
                            int64_t padding_idx, int scale_grad_by_freq);
/* ---- recurrent layers (rnn.c) ----------------------------------------------------------
 * One layer of nn.RNN / nn.LSTM / nn.GRU in one direction over a whole sequence, as one op.
 * x [N x I] is time-major and packed (PyTorch's PackedSequence.data): step t's rows are the
 * first batch_sizes[t] sequences (non-increasing, batch_sizes[0] = B); batch_sizes NULL:
 * every step has B = h0's rows (a padded [T x B x I] seen as [T*B x I]).  reverse runs the
 * steps from the last (each sequence from its own last step).  h0 [B x Hout], c0 [B x H]
 * (LSTM only, else NULL), w_ih [G*H x I], w_hh [G*H x Hout], b_ih, b_hh [G*H] or NULL,
 * w_hr [Hout x H] (LSTM's proj_size) or NULL (Hout = H); G = 1, 4 (i f g o), 3 (r z n).
 * Returns one flat tensor [N*Hout + B*Hout (+ B*H)]: every step's output, h_n, c_n; the
 * final states are each sequence's at its own length. */
enum { DM_RNN_TANH = 0, DM_RNN_RELU, DM_RNN_LSTM, DM_RNN_GRU };
dm_tensor *dm_rnn_layer(int mode, int reverse, const dm_tensor *x, int64_t nsteps,
                        const int64_t *batch_sizes, const dm_tensor *h0, const dm_tensor *c0,
                        const dm_tensor *w_ih, const dm_tensor *w_hh, const dm_tensor *b_ih,
                        const dm_tensor *b_hh, const dm_tensor *w_hr);


/* a op alpha * b and t = t op alpha * o for op add or sub, as PyTorch's add/sub with alpha:
 * alpha typed by kind as a Python int (DM_ALPHA_INT), float (DM_ALPHA_FLOAT) or bool
 * (DM_ALPHA_BOOL, 0 or 1).  A boolean alpha is only for bool results, a floating one only
 * for floating results; integers with an integer alpha stay integers. */
enum { DM_ALPHA_INT = 0, DM_ALPHA_FLOAT, DM_ALPHA_BOOL };
dm_tensor *dm_binary_alpha(dm_binop op, const dm_tensor *a, const dm_tensor *b, double alpha,
                           int kind);
int dm_binary_alpha_(dm_binop op, dm_tensor *t, const dm_tensor *o, double alpha, int kind);

/* two-input math functions (ops/bmath.c), broadcasting with torch.result_type's promotion:
 * atan2, xlogy, copysign give float32 for integer and bool inputs; hypot, logaddexp and
 * logaddexp2 take floating types only; fmax and fmin keep integer and bool types (a NaN
 * operand is ignored); heaviside(a, values) needs both of one dtype and has no gradient. */
typedef enum {
    DM_BM_ATAN2, DM_BM_HYPOT, DM_BM_XLOGY, DM_BM_LOGADDEXP, DM_BM_LOGADDEXP2, DM_BM_COPYSIGN,
    DM_BM_FMAX, DM_BM_FMIN, DM_BM_HEAVISIDE,
    DM_BM_COUNT
} dm_bmath;
dm_tensor *dm_bmath_apply(dm_bmath op, const dm_tensor *a, const dm_tensor *b);
const char *dm_bmath_name(dm_bmath op);
/* lerp(start, end, weight) = start + weight (end - start), as torch.lerp (its two formulas
 * for |weight| < 0.5 and above): floating types; start, end and a tensor weight of one dtype,
 * broadcast together.  dm_lerp_scalar takes a number weight (LerpBackward0). */
dm_tensor *dm_lerp(const dm_tensor *start, const dm_tensor *end, const dm_tensor *weight);
dm_tensor *dm_lerp_scalar(const dm_tensor *start, const dm_tensor *end, double weight);
/* in place, as PyTorch's atan2_, hypot_, xlogy_, copysign_, heaviside_, lerp_ and
 * float_power_ (t = op(t, o), o broadcast to t's shape; the result's dtype must cast to
 * t's; recorded as the out-of-place op when t's history is wanted); 0 or -1 with the message.
 * dm_lerp_ takes a tensor weight, or NULL and the number ws; dm_float_power_ wants a float64
 * t and takes a tensor o, or NULL and the number s. */
int dm_bmath_(dm_bmath op, dm_tensor *t, const dm_tensor *o);
int dm_lerp_(dm_tensor *t, const dm_tensor *end, const dm_tensor *weight, double ws);
int dm_float_power_(dm_tensor *t, const dm_tensor *o, double s);

#ifdef __cplusplus
}
#endif
#endif
