/* internal.h -- shared by the core's .c files only; never installed. */
#ifndef DM_INTERNAL_H
#define DM_INTERNAL_H

#include "deepmoon.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define DM_UNUSED(x) ((void)(x))
/* a parameter that some definitions of a function type do not read (C23's [[maybe_unused]]) */
#if defined(__GNUC__)
#define DM_MAYBE_UNUSED __attribute__((unused))
#else
#define DM_MAYBE_UNUSED
#endif

/* Thread-local state read on every op: the initial-exec TLS model makes that a plain load
 * instead of a __tls_get_addr call per access (the core is a shared object; the few bytes
 * fit in the static TLS space glibc keeps for libraries loaded later). */
#if defined(__GNUC__) && defined(__ELF__)
#define DM_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define DM_TLS _Thread_local
#endif

/* A storage: bytes on a device.  One made by the core sits in its first tensor's block
 * (allocator NULL, see mem.c); one from a host's allocator is a separate object. */
struct dm_storage {
    void *data;
    int64_t nbytes;
    int refcount;
    int device;                       /* dm_device */
    const dm_allocator *allocator;    /* NULL: the core's cache, in a tensor block */
    /* The version counter (PyTorch's VariableVersion), bumped by every in-place write.  It
     * sits on the storage, so a tensor, its views and its detach() share one counter, as in
     * PyTorch.  t.data is detach() here and shares it too (PyTorch gives .data a fresh
     * counter, so writes through it go unseen; here they are seen and backward raises).
     * Nodes note the versions of what their rules read and backward compares them. */
    uint32_t version;
};

/* an in-place write to t's values: one more version of t (and of its views) */
static inline void dm__bump(dm_tensor *t) { t->storage->version++; }

static inline size_t dm__esize(dm_dtype dt)
{
    return dt == DM_FLOAT32 ? 4 : (dt == DM_FLOAT64 || dt == DM_INT64) ? 8 : 1;
}

/* The current device (thread-local; DM_CPU to start): the device every new storage is made
 * on.  Each op makes it its inputs' device on entry (dm__same_device, dm__device_of), and the
 * backward walk makes it each node's before its rule runs, so an op's outputs, temporaries
 * and gradients sit on its inputs' device without every constructor taking a device.  The
 * idea is PyTorch's DeviceGuard; C has no destructor to restore it on return, so it stays
 * set until the next op or constructor from a binding sets it (dm_set_device). */
extern DM_TLS int dm__cur_device;
/* the one device of an op's n inputs (NULL entries skipped), made the current device; -1 and
   "fn: expected all tensors on one device, got cpu and cpu:ref" when they differ */
int dm__device_mismatch(const char *fn, int n, const dm_tensor *const *t);  /* the message */
static inline int dm__same_device(const char *fn, int n, const dm_tensor *const *t)
{
    int dev = -1;
    for (int k = 0; k < n; k++) {
        if (!t[k]) continue;
        if (dev < 0) dev = t[k]->storage->device;
        else if (t[k]->storage->device != dev) return dm__device_mismatch(fn, n, t);
    }
    if (dev >= 0) dm__cur_device = dev;
    return dev;
}
static inline int dm__same_device2(const char *fn, const dm_tensor *a, const dm_tensor *b)
{
    return dm__same_device(fn, 2, (const dm_tensor *[]){ a, b });
}
static inline void dm__device_of(const dm_tensor *t)
{
    if (t) dm__cur_device = t->storage->device;
}

/* a tensor with its own storage of nbytes bytes, in one block (refcount 1, dtype float32,
   all else zero but the storage; shape, strides and dtype to fill in) */
dm_tensor *dm__tensor_block_bytes(int64_t nbytes);
void dm__count_bytes(int64_t delta);          /* live bytes held outside the cache */
/* a tensor whose refcount reached 0: drop its storage reference and free its memory
   (grad and grad_fn are the caller's) */
void dm__tensor_dispose(dm_tensor *t);
void dm__storage_release(dm_storage *s);
void dm__count_tensor(int delta);
/* small objects (tensor structs, nodes) from the same cache; free with the same size */
void *dm__obj_alloc(size_t bytes);            /* uninitialised; NULL and a message on failure */
void dm__obj_free(void *p, size_t bytes);
void *dm__tensor_alloc(void);                 /* a dm_tensor's memory, counted as live */
void dm__tensor_free(void *t);
/* a new contiguous tensor of a shape already checked (n = its element count): the fast
   path of dm_tensor_new for ops whose output shape is an input's */
/* The one checked helper for sizes: the element count of a shape, or -1 and a message (fn
   names the caller): at most DM_MAX_DIMS dims, no negative size, and the product of the
   nonzero sizes at most DM_MAX_NUMEL (so counts, strides and byte sizes fit int64).  Every
   shape a tensor takes passes through it (constructors, view, expand, cat, ...). */
#define DM_MAX_NUMEL ((int64_t)1 << 60)
int64_t dm__check_shape(const char *fn, int ndim, const int64_t *shape);
dm_tensor *dm__tensor_new_checked(int ndim, const int64_t *shape, int64_t n);
dm_tensor *dm__tensor_new_checked_dt(int ndim, const int64_t *shape, int64_t n, dm_dtype dt);

/* dm_numel / dm_is_contiguous / dm_data / dm_same_shape, inline for the per-op fast paths
   (the exported functions, calls across translation units, are these) */
static inline int64_t dm__numel(const dm_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}
static inline int dm__is_contig(const dm_tensor *t)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) {
            /* a tensor with no elements is contiguous whatever its strides (PyTorch) */
            for (int k = 0; k < t->ndim; k++) if (t->shape[k] == 0) return 1;
            return 0;
        }
        s *= t->shape[d];
    }
    return 1;
}
static inline float *dm__data(const dm_tensor *t) { return (float *)t->storage->data + t->offset; }
static inline float *dm__fbase(const dm_tensor *t) { return (float *)t->storage->data; }
static inline void *dm__ptr(const dm_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)dm__esize(t->dtype);
}
/* 0 when t is float32 or float64, else -1 and "fn: expected a floating point <what>, got
   int64 (use :float())" (what: "tensor", "input", "target") */
int dm__need_float(const char *fn, const dm_tensor *t, const char *what);
/* element off (in elements, from the storage's start) of t = v, converted as dm_to_dtype */
void dm__store_f64(dm_tensor *t, int64_t off, double v);
void dm__store_i64(dm_tensor *t, int64_t off, int64_t v);
int64_t dm__offset_of(const dm_tensor *t, const int64_t *idx);   /* in elements */
/* dst (any strides) = src broadcast to dst's shape, converted to dst's dtype */
void dm__copy_convert(dm_tensor *dst, const dm_tensor *src);
static inline int dm__same_shape(const dm_tensor *a, const dm_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* error helpers: dm_seterr("%s: ...", fn, ...) is the pattern; shapes via SHAPE() */
#define DM_SHAPE_BUF 160
#define SHAPE(t, buf) dm_shape_str((t)->ndim, (t)->shape, (buf), sizeof(buf))

/* broadcast shapes of a and b into out (ndim returned), -1 with message on mismatch */
int dm__broadcast_shape(const char *fn, const dm_tensor *a, const dm_tensor *b,
                        int64_t *out);
/* integer gemm (backend/ref/gemm.c), exact modulo 2^64 (2^8) as PyTorch's Long (Byte) mm; arguments
   as dm_gemm's */
void dm__gemm_i64(int transa, int transb, int64_t m, int64_t n, int64_t k, int64_t alpha,
                  const int64_t *a, int64_t lda, const int64_t *b, int64_t ldb, int64_t beta,
                  int64_t *c, int64_t ldc);
void dm__gemm_u8(int transa, int transb, int64_t m, int64_t n, int64_t k, uint8_t alpha,
                 const uint8_t *a, int64_t lda, const uint8_t *b, int64_t ldb, uint8_t beta,
                 uint8_t *c, int64_t ldc);
/* t's values as a contiguous row-major array of dtype dt: t's own when it already is one
   (*hold NULL), else those of a converted contiguous copy *hold, to release (NULL and a
   message on failure).  The one way kernels that want flat data get it (tensor.c). */
const void *dm__contig_as(const dm_tensor *t, dm_dtype dt, dm_tensor **hold);
/* torch.result_type: hi (a tensor with dims, or a 0-dim one against a number) meeting lo (a
   0-dim tensor or a number) promotes only from a higher category (bool < integer <
   floating) or when hi is bool; and of two tensors (elementwise.c) */
dm_dtype dm__combine_types(dm_dtype hi, dm_dtype lo);
dm_dtype dm__result_type2(const dm_tensor *a, const dm_tensor *b);
/* t broadcast to (nd, shape) as a flat array of dt, *hold to release (bitwise.c) */
const void *dm__flat_broadcast(const dm_tensor *t, int nd, const int64_t *shape, dm_dtype dt,
                               dm_tensor **hold);
/* t itself (retained) when contiguous, else a contiguous copy made without recording
   (tensor.c); NULL and a message on failure */
dm_tensor *dm__contig_nograd(const dm_tensor *t);

/* zero a tensor struct in stores of at most 64 bytes (a memset of all of it is a `rep stos`,
   some 30 instructions; this is 13) */
_Static_assert(sizeof(dm_tensor) > 128 && sizeof(dm_tensor) <= 192, "dm__zero_tensor: resize");
static inline void dm__zero_tensor(dm_tensor *t)
{
    char *c = (char *)t;
    memset(c, 0, 64);
    memset(c + 64, 0, 64);
    memset(c + 128, 0, sizeof *t - 128);
}

/* refuse in-place writes to leaves that require grad while grad mode is on */
int dm__check_inplace(const char *fn, const dm_tensor *t);
/* an in-place op on t (with source o, or NULL) must record history: grad mode is on and t
   or o requires grad (else the op writes t directly, its fast path) */
static inline int dm__inplace_records(const dm_tensor *t, const dm_tensor *o)
{
    return (t->requires_grad || (o && o->requires_grad)) && dm_grad_enabled();
}
/* The one way an in-place op fn ("index_put_", "scatter_") writes its result: r is the
 * out-of-place result (any history it has), t the tensor written.  t takes r's values
 * (r's dtype must cast to t's; shapes must match) and r is released (NULL r: returns -1,
 * the message already set).  Leaves that require grad are refused in grad mode.  t's version
 * is bumped.  In grad mode, when t or r requires grad, t takes r's history (PyTorch's
 * rebase_history): r's node moves to t, and where it had t as an input it gets instead an
 * alias of t's old value that carries t's old history (a copy of the old values when the
 * rule reads them).  r with no history but t with some (fill_, zero_) gets a node of its own
 * (FillBackward2, ZeroBackward0, CopyBackwards) that sends t's old history a zero gradient.
 * In-place on a view of a non-leaf rewrites the base's history instead (PyTorch's
 * CopySlices; inplace.c says when that is refused). */
int dm__inplace_commit(const char *fn, dm_tensor *t, dm_tensor *r);

/* n when p[0..n) is valid UTF-8, else the offset of the first bad byte (io/bytes.c) */
size_t dm__utf8_valid_prefix(const unsigned char *p, size_t n);

/* ---- autograd nodes ------------------------------------------------------------------
 * An op whose output needs grad records a node on the output (out->grad_fn).  The node
 * retains its inputs (never its output: no cycles) and any saved tensors.  Only the
 * output tensor owns the node.  Backward rules live next to the forward kernels. */
typedef enum {
    DM_OP_NONE = 0,
    /* views */
    DM_OP_VIEW, DM_OP_TRANSPOSE, DM_OP_PERMUTE, DM_OP_NARROW, DM_OP_SELECT,
    DM_OP_EXPAND, DM_OP_CLONE,
    /* elementwise */
    DM_OP_ADD, DM_OP_SUB, DM_OP_MUL, DM_OP_DIV, DM_OP_POW, DM_OP_MAXIMUM, DM_OP_MINIMUM,
    DM_OP_ADDS, DM_OP_MULS, DM_OP_RSUBS, DM_OP_RDIVS, DM_OP_POWS, DM_OP_RPOWS,
    DM_OP_UNARY, DM_OP_CLAMP, DM_OP_LEAKY_RELU, DM_OP_ELU, DM_OP_WHERE,
    /* reductions */
    DM_OP_SUM, DM_OP_MEAN, DM_OP_PROD, DM_OP_MAXMIN, DM_OP_MAXMIN_ALL, DM_OP_VAR, DM_OP_STD,
    DM_OP_SOFTMAX, DM_OP_LOG_SOFTMAX,
    /* linear algebra, joining */
    DM_OP_MATMUL, DM_OP_LINEAR, DM_OP_CAT, DM_OP_INDEX_SELECT,
    /* dtypes */
    DM_OP_TO_DTYPE,
    /* layers and losses (nn.c, loss.c) */
    DM_OP_DROPOUT, DM_OP_BATCHNORM, DM_OP_LOSS,
    /* a host function as the rule (dm_record_custom) */
    DM_OP_CUSTOM,
    /* several-dim reductions, nan_to_num, remainder/fmod/floor_divide (reduce_multi.c, bitwise.c) */
    DM_OP_AMAX, DM_OP_AMIN, DM_OP_LOGSUMEXP, DM_OP_NORM, DM_OP_NAN_TO_NUM,
    DM_OP_REMAINDER, DM_OP_FMOD, DM_OP_FLOOR_DIVIDE,
    /* indexing, sorting, scans (gather.c, sort.c, scan.c) */
    DM_OP_GATHER, DM_OP_SCATTER, DM_OP_SCATTER_ADD, DM_OP_INDEX_ADD, DM_OP_SORT, DM_OP_TOPK,
    DM_OP_KTHVALUE, DM_OP_CUMSUM, DM_OP_CUMPROD,
    /* diagonals, triangles, flip (shape_ops.c) */
    DM_OP_DIAGONAL, DM_OP_DIAG, DM_OP_TRIL, DM_OP_TRIU, DM_OP_FLIP,
    /* indexing (index.c) */
    DM_OP_SLICE, DM_OP_INDEX, DM_OP_INDEX_PUT, DM_OP_MASKED_FILL,
    /* an in-place write whose result does not depend on the old values: copy_, fill_, zero_
       (sub: DM_COPY_*); in {old self, src (copy_ only)} */
    DM_OP_COPY,
    /* an in-place write into a view of a tensor that requires grad: the base's new history
       (PyTorch's CopySlices); in {old base, the op's inputs}, saved[0] the op's result (its
       node the op's), saved[1] the view's geometry, sub the op's input that was the view */
    DM_OP_COPY_SLICES,
    /* layer norm and group norm (norm.c) */
    DM_OP_LAYER_NORM, DM_OP_GROUP_NORM,
    /* F.pad (pad.c; sub: the mode + 4 x the dims padded for the modes but constant) */
    DM_OP_PAD,
    /* F.interpolate nearest/linear (upsample.c; sub: mode + 2 x (spatial dims - 1)) */
    DM_OP_UPSAMPLE,
    /* conv1d/conv2d (sub 0) and conv_transpose2d (sub 1) (conv.c); in {x, w, b or NULL} */
    DM_OP_CONV,
    /* max_pool2d (saved[0]: the int64 flat index per plane), avg_pool2d (sub: count_include_pad)
       (pool.c) */
    DM_OP_MAX_POOL2D, DM_OP_AVG_POOL2D,
    /* adaptive pools (adaptive max: saved[0] its indices, the max pool rule), max_unpool2d
       (saved[0]: the 0-based indices into each output plane) (pool.c) */
    DM_OP_ADAPTIVE_AVG_POOL2D, DM_OP_ADAPTIVE_MAX_POOL2D, DM_OP_MAX_UNPOOL2D,
    /* embedding (in {weight}, saved[0] the int64 ids), embedding_bag (sub: DM_BAG_*; in
       {weight, per_sample_weights}, saved: ids, bag bounds, max's rows) (embedding.c) */
    DM_OP_EMBEDDING, DM_OP_EMBEDDING_BAG,
    /* one recurrent layer in one direction over a whole sequence (rnn.c; sub: dm_rnn_mode
       + 4 x reverse); in {x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr}, saved[0] the output,
       saved[1] the gates per step, saved[2] the batch sizes (int64 [T]) */
    DM_OP_RNN,
    /* two-input math functions (bmath.c); in {a, b} */
    DM_OP_ATAN2, DM_OP_HYPOT, DM_OP_XLOGY, DM_OP_LOGADDEXP, DM_OP_LOGADDEXP2, DM_OP_COPYSIGN,
    DM_OP_FMAX, DM_OP_FMIN,
    /* lerp (bmath.c): LERP_SCALAR in {start, end}, par.scalar.s the weight; LERP in {start,
       end, weight} */
    DM_OP_LERP_SCALAR, DM_OP_LERP,
    DM_OP_COUNT
} dm_op;

#define DM_NODE_MAX_SAVED 4
enum { DM_COPY_COPY, DM_COPY_FILL, DM_COPY_ZERO };    /* DM_OP_COPY's subs */
/* ops whose output is a view of their input (shares its storage): an in-place write into
   one goes to its base's history (CopySlices) */
static inline int dm__is_view_op(int op)
{
    return (op >= DM_OP_VIEW && op <= DM_OP_EXPAND) || op == DM_OP_DIAGONAL || op == DM_OP_SLICE;
}

/* What a backward rule reads (the op table's .reads): bit k for input k (bit 30 stands for
 * inputs 30 and above), DM_READ_OUT for the output.  The node notes their versions when it
 * is recorded, and backward refuses to run the rule when one has changed since. */
#define DM_READ_IN(k) (1u << (k))
#define DM_READ_OUT (1u << 31)
#define DM_READ_INS 0x7fffffffu      /* every input */
static inline int dm__reads_in(unsigned reads, int k) { return (int)((reads >> (k < 30 ? k : 30)) & 1u); }

/* A node's parameters: one typed record per kind of op, the one its op table row names
 * (autograd/optable.c's dm__optable, .params).  The op function writes it when it records the node and
 * the backward rule reads the same member back; no member is read through another. */
typedef union {
    struct {                      /* adds, muls, rsubs, rdivs, pows, rpows (a op s, s op a) */
        double s;                 /* the scalar as applied: -s for x - s, 1/s for x / s */
        double div;               /* x / s: s itself, the gradient's divisor (g / s) */
    } scalar;
    struct {                      /* clamp */
        double lo, hi;            /* the bounds; NaN: none on that side */
    } clamp;
    double slope;                 /* leaky_relu: negative_slope */
    double alpha;                 /* elu: alpha */
    struct {                      /* sum, mean, prod, max/min (by dim and over all), var, std */
        int dim;                  /* the reduced dim; -1 all of them, -2 dm_sum_to's marker */
        int keepdim;              /* the reduced dim kept as size 1 */
        int64_t correction;       /* var/std: the divisor is N - correction */
        double value;             /* max/min over all: the result, to find the ties */
    } reduce;
    int dim;                      /* softmax, log_softmax, cat, stack, index_select: the dim */
    struct {                      /* transpose */
        int d0, d1;               /* the two dims swapped */
    } transpose;
    struct {                      /* permute */
        int perm[DM_MAX_DIMS];    /* output dim d is input dim perm[d] */
    } permute;
    struct {                      /* narrow (SliceBackward0) */
        int dim;                  /* the dim narrowed */
        int64_t start;            /* the window's first index (0-based) */
    } narrow;
    struct {                      /* select */
        int dim;                  /* the dim removed */
        int64_t index;            /* the index taken (0-based, wrapped) */
    } select;
    struct {                      /* the elementwise losses (bce ... huber) */
        dm_reduction reduction;   /* none, mean or sum */
        double param;             /* smooth_l1's beta, huber's delta; unused by the others */
    } loss;
    struct {                      /* nll_loss */
        dm_reduction reduction;   /* none, mean or sum */
        int64_t ignore_index;     /* targets equal to it add nothing (0-based) */
        double total_weight;      /* mean: the divisor, the summed weight of the counted rows */
    } nll;
    struct {                      /* cross_entropy */
        dm_reduction reduction;   /* none, mean or sum */
        int prob;                 /* the target is probabilities, not class indices */
        int64_t ignore_index;     /* class targets equal to it add nothing (0-based) */
        double label_smoothing;   /* the mass spread evenly over the classes */
        double divisor;           /* mean: what the summed loss was divided by */
    } cross_entropy;
    struct {                      /* dropout */
        double p;                 /* the probability of a zero */
    } dropout;
    struct {                      /* batch_norm */
        int training;             /* batch statistics (1) or the running ones (0) */
        double eps;               /* added to the variance */
    } batchnorm;
    struct {                      /* amax, amin, logsumexp, norm (over several dims) */
        uint32_t mask;            /* bit d: input dim d reduced */
        double p;                 /* norm: the order (inf, -inf, 0, any real) */
    } dims;
    struct {                      /* gather, scatter(_add), index_add, sort, topk, kthvalue,
                                     cumsum, cumprod (their index, if any, is saved[0]) */
        int dim;                  /* the dim indexed, sorted or scanned (0-based) */
        int keepdim;              /* kthvalue: the dim kept as size 1 */
        double alpha;             /* index_add: the source's multiplier */
    } index;
    struct {                      /* diagonal, diag (of a vector), tril, triu */
        int64_t offset;           /* the diagonal: 0 main, > 0 above it (tril/triu's k) */
        int dim1, dim2;           /* diagonal: the two dims it runs across */
    } diagonal;
    unsigned flip_dims;           /* flip: bit d set when dim d is reversed */
    struct {                      /* slice (a strided narrow) */
        int dim;                  /* the dim sliced */
        int64_t start;            /* the first index taken (0-based) */
        int64_t step;             /* the distance between two taken (> 0) */
    } slice;
    struct {                      /* index, index_put (saved[0]: the window, saved[1]: the
                                     broadcast indices [k x B...]) */
        unsigned dims;            /* bit d: dim d of the (windowed) input is indexed */
        int accumulate;           /* index_put: values added, not written */
    } adv;
    struct {                      /* layer_norm, group_norm: x seen as [rows x K] */
        int64_t rows;             /* the rows normalised (saved[0] mean, saved[1] 1/std) */
        int64_t groups, hw;       /* group norm's G and spatial size (1, 1 for layer norm) */
        double eps;               /* added to the variance */
    } rownorm;
    struct {                      /* pad */
        int32_t lo[DM_MAX_DIMS];  /* output index i along dim d reads input i - lo[d]
                                     (int32: the record stays within the union's 32 bytes) */
    } pad;
    struct {                      /* upsample */
        double scales[2];         /* the scale_factor per spatial dim given, or 0: in / out */
        int align_corners;
    } upsample;
    struct {                      /* conv (dims beyond sp hold 1, 0, 1) */
        int32_t stride[2], pad[2], dil[2];
        int32_t groups;
        int32_t sp;               /* spatial dims: 1 (conv1d) or 2 */
    } conv;
    struct {                      /* avg_pool2d: the window geometry (H, W) */
        int32_t k[2], s[2], p[2];
        int32_t divisor;          /* divisor_override, 0: none */
    } pool;
    struct {                      /* embedding, embedding_bag */
        int64_t padding_idx;      /* 0-based, -1: none; its rows get no gradient */
        int scale_grad_by_freq;   /* each id's gradient divided by its count in the batch */
    } embedding;
    struct {                      /* rnn_layer */
        int64_t nsteps;           /* T, the steps */
        int64_t hidden;           /* H, the gates' width (the state's is h0's) */
        int proj;                 /* LSTM: w_hr given (proj_size) */
    } rnn;
    struct {                      /* the unary logit with eps (ops/special.c) */
        double lo, hi;            /* x was clamped to [lo, hi]: the gradient 0 outside */
        int has_eps;              /* 0: logit without eps (a plain unary node) */
    } logit;
} dm_params;
struct dm_node {
    dm_op op;
    int sub;                      /* op variant (dm_unop, dm_redop, loss kind, ...) */
    int ninputs;
    int in_ndim;                  /* shape of in[0] at record time */
    /* retained; an entry may be NULL.  After it, in the same block, dm__edges(n) and
     * dm__vers(n): where input k's gradient goes, fixed when the node is recorded (PyTorch's
     * edges: its grad_fn then, DM_EDGE_LEAF for a leaf that requires grad, or NULL for none;
     * an in-place op may later give in[k] a new grad_fn, and this node's gradient still goes
     * to the old one, kept alive by the alias the new node holds), and in[k]'s version when
     * recorded (those the rule reads are checked by backward). */
    dm_tensor **in;
    uint32_t ver_out;             /* the output's version when recorded */
    /* saved[i]'s version when saved, its low 16 bits (the node stays within 256 bytes for
       three inputs, the cache's small blocks; 65536 writes in between go unseen) */
    uint16_t ver_saved[DM_NODE_MAX_SAVED];
    dm_tensor *saved[DM_NODE_MAX_SAVED];   /* retained; detached aliases, masks, indices */
    dm_params par;                /* the op's parameters: the record its op table row names */
    int64_t in_shape[DM_MAX_DIMS];
    dm_tensor *out;               /* the output tensor, which owns the node (not retained) */
    /* backward bookkeeping */
    dm_tensor *gacc;              /* gradient flowing into this node's output */
    int pending;                  /* consumers not yet processed */
    unsigned char freed;          /* graph released by a backward pass */
    unsigned char mark;
};
static inline dm_node **dm__edges(const dm_node *n)
{
    return (dm_node **)(n->in + (n->ninputs ? n->ninputs : 1));
}
static inline uint32_t *dm__vers(const dm_node *n)
{
    return (uint32_t *)(n->in + 2 * (n->ninputs ? n->ninputs : 1));
}
/* the records stay small: a node is allocated per op on every recorded forward */
_Static_assert(sizeof(dm_params) <= 64, "dm_params: a record outgrew a cache line");

/* What the engine hands a backward rule besides its node: where it may write (today the
 * leaves' .grad it can accumulate into itself, through dm__grad_dest/dm__grad_done).  One
 * per walk, on the walk's stack: rules read no thread-local or global state. */
typedef struct dm_bwctx {
    dm_node *node;                /* the node whose rule runs */
    unsigned char done[8];        /* input k's gradient went straight into its .grad */
} dm_bwctx;

/* Backward rule: given the gradient of the output (contiguous, the output's shape and
 * dtype), set gin[k] to a new tensor of in[k]'s shape for each input with requires_grad
 * (leave NULL otherwise).  Return 0, or -1 with a message.  gin[k] should have in[k]'s
 * dtype; one of another dtype is cast by the engine before it is summed (as PyTorch's
 * validate_outputs does), so gout always arrives in the output's dtype. */
typedef int (*dm_backward_fn)(dm_bwctx *ctx, dm_node *n, const dm_tensor *gout,
                              dm_tensor **gin);
typedef struct {
    const char *name;             /* PyTorch's grad_fn class name, e.g. "AddBackward0" */
    int arity;                    /* tensor inputs its nodes record; -1: a variable count */
    const char *params;           /* the dm_params member its nodes carry (NULL: none) */
    dm_backward_fn backward;
    unsigned reads;               /* DM_READ_IN(k) | DM_READ_OUT: the values the rule reads;
                                     DM_READ_BY_SUB: the unary row, per function */
} dm_opdef;
#define DM_READ_BY_SUB (1u << 30)
/* the inputs of a node the rule reads (DM_READ_*), refined by sub where the row says so */
unsigned dm__op_reads(dm_op op, int sub);
unsigned dm__unary_reads(int sub);        /* elementwise.c: DM_READ_IN(0) and/or DM_READ_OUT */
#define DM_EDGE_LEAF ((dm_node *)&dm__edge_leaf)
extern const char dm__edge_leaf;
typedef enum {
    DM_LOSS_BCE, DM_LOSS_BCE_LOGITS, DM_LOSS_MSE, DM_LOSS_L1, DM_LOSS_SMOOTH_L1,
    DM_LOSS_HUBER, DM_LOSS_NLL, DM_LOSS_CROSS_ENTROPY, DM_LOSS_COUNT
} dm_loss_kind;
/* the op table (autograd/optable.c), indexed by dm_op; dm__opdef checks the index */
extern const dm_opdef dm__optable[DM_OP_COUNT];
const dm_opdef *dm__opdef(dm_op op);
/* name per op/sub: DM_OP_UNARY and DM_OP_LOSS pick by n->sub */
const char *dm__node_name(const dm_node *n);

/* Should an op with these inputs record a node?  (grad mode on and any input requires grad) */
int dm__needs_grad(int n, const dm_tensor *const *in);
/* Create the node on out (sets out->requires_grad, out->grad_fn); inputs retained.  NULL
 * inputs allowed.  Returns the node so the caller can fill parameters and saved tensors. */
dm_node *dm__record(dm_op op, int sub, dm_tensor *out, int n, const dm_tensor *const *in);
void dm__node_free(dm_node *n);
void dm__node_dealloc(dm_node *n);  /* the memory (and a custom node's ud): retains no tensor */
/* free t's gradient hooks (each free_ud once); for the release of a tensor */
void dm__hooks_free(dm_tensor *t);
/* For backward rules: the existing .grad of input k to accumulate into (a contiguous
 * tensor of in[k]'s shape), or NULL; after adding the gradient there, call dm__grad_done
 * and leave gin[k] NULL. */
dm_tensor *dm__grad_dest(dm_bwctx *ctx, int k);
void dm__grad_done(dm_bwctx *ctx, int k);
/* save a detached alias of t (breaks the out -> node -> out cycle) */
dm_tensor *dm__save(dm_node *n, int slot, const dm_tensor *t);

/* backward rules, one per op, defined beside the forward code */
int dm__bw_view(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_transpose(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_permute(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_narrow(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_select(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_expand(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_clone(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_binary(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_scalar(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_unary(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_clamp(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_leaky_relu(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_elu(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_where(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_reduce(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_softmax(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_matmul(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_linear(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_cat(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_index_select(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_dropout(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_batchnorm(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_rownorm(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_loss(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_custom(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_to_dtype(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_mreduce(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_nan_to_num(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_divmod(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_gather(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_scatter(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_index_add(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_sort(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_scan(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
/* matmul of operands of which one has more than 3 dims (products.c; dm_matmul calls it) */
dm_tensor *dm__matmul_nd(const dm_tensor *a, const dm_tensor *b);
int dm__bw_diagonal(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_diag(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_tri(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_flip(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_pad(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_upsample(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_conv(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_max_pool2d(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_avg_pool2d(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_adaptive_avg_pool2d(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_max_unpool2d(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_slice(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_index(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_index_put(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_masked_fill(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_copy(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_copy_slices(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_embedding(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_embedding_bag(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_rnn(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_bmath(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
int dm__bw_lerp(dm_bwctx *, dm_node *, const dm_tensor *, dm_tensor **);
/* 0 when nothing n's rule reads was written in place since n was recorded, else -1 and
   PyTorch's message (autograd/engine.c; the engine runs it before every rule) */
int dm__check_versions(const dm_node *n);

/* The types of t op= o as dm_binary (o a tensor) or dm_binary_scalar_* (o NULL: a number,
 * is_int, neg: a negative integer) give them (elementwise.c; inplace.c writes with them): 0
 * with *ct the compute type (float32, float64, int64), *ot the result's dtype (bool for a
 * comparison, float32 for a true division of integers), and for a number *flt, whether the
 * floating path takes it (rounded to ct; x - s as x + (-s), x ^ s with torch's special
 * cases), else *sdt, the dtype it is made in before its conversion to ct; -1 where the op
 * refuses the types (its message set) */
int dm__binary_types(dm_binop op, const dm_tensor *t, const dm_tensor *o, int is_int, int neg,
                     dm_dtype *ct, dm_dtype *ot, dm_dtype *sdt, int *flt);


/* In-place writes (inplace.c): -1 and PyTorch's message (prefixed fn) when t has internal
 * overlap -- a dim of size > 1 and stride 0 (an expanded tensor), an empty t has none;
 * PyTorch refuses such a destination in every in-place op but fill_ and zero_. */
int dm__check_overlap(const char *fn, const dm_tensor *t);
/* add/sub with alpha (elementwise.c): alpha checked against the result's dtype rt (-1 and
 * PyTorch's message prefixed fn), and alpha * b made in rt (bool: b or false) */
int dm__alpha_check(const char *fn, dm_dtype rt, double alpha, int kind);
dm_tensor *dm__alpha_scaled(const dm_tensor *b, dm_dtype rt, double alpha, int kind);

#endif
