/* engine.c -- grad mode, node recording and the backward pass (the op table: optable.c).
 *
 * The graph is made of nodes owned by their output tensors; a node retains its inputs,
 * whose own nodes lead further back.  dm_backward() finds every node reachable from the
 * root, counts how many consumers each has, then runs the backward rules in an order where
 * a node runs only once all gradient flowing into it has been summed (Kahn's algorithm).
 * Nothing recurses, so very deep graphs are fine.  The walk calls its host where asked:
 * tensor hooks when a tensor's gradient is complete, custom nodes whose rule is a host
 * function, and a walk's own callbacks per node run and per leaf whose .grad is final. */
#include "internal.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")           /* vectorize the accumulation loop (see elementwise.c) */
#endif
#include <stdio.h>

static DM_TLS int grad_disabled;

int dm_grad_enabled(void) { return !grad_disabled; }

int dm_set_grad_enabled(int on)
{
    int prev = !grad_disabled;
    grad_disabled = !on;
    return prev;
}


/* ---- custom nodes ----------------------------------------------------------------------
 * A custom node's block carries, after its input array, the host's backward function, its
 * user data and the node's name:
 *     [dm_node][in[0] .. in[n-1]][custom_ext, name]                                       */
typedef struct {
    dm_custom_backward fn;
    void *ud;
    void (*free_ud)(void *);
    size_t bytes;                 /* the node's whole block */
    char name[];
} custom_ext;

/* [dm_node][in[0] .. in[n-1]][edge[0] .. edge[n-1]][ver[0] .. ver[n-1], to 8 bytes] */
static size_t node_bytes(int ninputs)
{
    size_t n = (size_t)(ninputs ? ninputs : 1);
    return sizeof(dm_node) + n * 2 * sizeof(dm_tensor *) + (n * sizeof(uint32_t) + 7) / 8 * 8;
}

const char dm__edge_leaf = 0;

static inline unsigned op_reads(dm_op op, int sub)
{
    return op == DM_OP_UNARY ? dm__unary_reads(sub) : dm__optable[op].reads;
}
unsigned dm__op_reads(dm_op op, int sub) { return op_reads(op, sub); }

static custom_ext *custom_of(const dm_node *n)
{
    return (custom_ext *)((char *)n + node_bytes(n->ninputs));
}

/* the host's data goes back once: when the node is cleared by backward or freed */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static void custom_drop(custom_ext *c)
{
    void (*free_ud)(void *) = c->free_ud;
    void *ud = c->ud;
    c->fn = NULL;
    c->ud = NULL;
    c->free_ud = NULL;
    if (free_ud) free_ud(ud);
}


const char *dm__node_name(const dm_node *n)
{
    static const char *unary[DM_UN_COUNT] = {
        [DM_UN_NEG] = "NegBackward0", [DM_UN_EXP] = "ExpBackward0",
        [DM_UN_LOG] = "LogBackward0", [DM_UN_SQRT] = "SqrtBackward0",
        [DM_UN_ABS] = "AbsBackward0", [DM_UN_SIGN] = "SignBackward0",
        [DM_UN_ROUND] = "RoundBackward0", [DM_UN_FLOOR] = "FloorBackward0",
        [DM_UN_CEIL] = "CeilBackward0", [DM_UN_TANH] = "TanhBackward0",
        [DM_UN_SIGMOID] = "SigmoidBackward0", [DM_UN_RELU] = "ReluBackward0",
        [DM_UN_RECIPROCAL] = "ReciprocalBackward0", [DM_UN_SIN] = "SinBackward0",
        [DM_UN_COS] = "CosBackward0", [DM_UN_SELU] = "EluBackward0",
        [DM_UN_GELU] = "GeluBackward0", [DM_UN_SQUARE] = "PowBackward0",
        [DM_UN_LOG1P] = "Log1PBackward0",
        [DM_UN_TRUNC] = "TruncBackward0", [DM_UN_FRAC] = "FracBackward0",
        [DM_UN_EXPM1] = "Expm1Backward0", [DM_UN_LOG2] = "Log2Backward0",
        [DM_UN_LOG10] = "Log10Backward0", [DM_UN_EXP2] = "Exp2Backward0",
        [DM_UN_RSQRT] = "RsqrtBackward0", [DM_UN_TAN] = "TanBackward0",
        [DM_UN_ASIN] = "AsinBackward0", [DM_UN_ACOS] = "AcosBackward0",
        [DM_UN_ATAN] = "AtanBackward0", [DM_UN_SINH] = "SinhBackward0",
        [DM_UN_COSH] = "CoshBackward0", [DM_UN_ASINH] = "AsinhBackward0",
        [DM_UN_ACOSH] = "AcoshBackward0", [DM_UN_ATANH] = "AtanhBackward0",
        [DM_UN_ERF] = "ErfBackward0", [DM_UN_ERFC] = "ErfcBackward0",
        [DM_UN_DEG2RAD] = "Deg2RadBackward0", [DM_UN_RAD2DEG] = "Rad2DegBackward0",
        [DM_UN_SGN] = "SgnBackward0",
        [DM_UN_LGAMMA] = "LgammaBackward0", [DM_UN_DIGAMMA] = "DigammaBackward0",
        [DM_UN_ERFINV] = "ErfinvBackward0", [DM_UN_LOGIT] = "LogitBackward0",
        [DM_UN_SINC] = "SincBackward0",
    };
    static const char *loss[DM_LOSS_COUNT] = {
        [DM_LOSS_BCE] = "BinaryCrossEntropyBackward0",
        [DM_LOSS_BCE_LOGITS] = "BinaryCrossEntropyWithLogitsBackward0",
        [DM_LOSS_MSE] = "MseLossBackward0", [DM_LOSS_L1] = "L1LossBackward0",
        [DM_LOSS_SMOOTH_L1] = "SmoothL1LossBackward0", [DM_LOSS_HUBER] = "HuberLossBackward0",
        [DM_LOSS_NLL] = "NllLossBackward0", [DM_LOSS_CROSS_ENTROPY] = "NllLossBackward0",
    };
    switch (n->op) {
    case DM_OP_UNARY: return n->sub >= 0 && n->sub < DM_UN_COUNT ? unary[n->sub] : "?";
    case DM_OP_LOSS: return n->sub >= 0 && n->sub < DM_LOSS_COUNT ? loss[n->sub] : "?";
    case DM_OP_ADDS: return n->sub == DM_BIN_SUB ? "SubBackward0" : "AddBackward0";
    case DM_OP_MULS: return n->sub == DM_BIN_DIV ? "DivBackward0" : "MulBackward0";
    case DM_OP_SUM: return n->sub ? "SumBackward1" : "SumBackward0";
    case DM_OP_MEAN: return n->sub ? "MeanBackward1" : "MeanBackward0";
    case DM_OP_PROD: return n->sub ? "ProdBackward1" : "ProdBackward0";
    case DM_OP_MAXMIN: return n->sub ? "MinBackward0" : "MaxBackward0";
    case DM_OP_MAXMIN_ALL: return n->sub ? "MinBackward1" : "MaxBackward1";
    case DM_OP_MATMUL: {
        static const char *mm[] = { "MmBackward0", "DotBackward0", "MvBackward0",
                                    "BmmBackward0", "SqueezeBackward1" };
        return n->sub >= 0 && n->sub < 5 ? mm[n->sub] : "MmBackward0";
    }
    case DM_OP_LINEAR: return n->sub ? "AddmmBackward0" : "MmBackward0";
    case DM_OP_CAT: return n->sub ? "StackBackward0" : "CatBackward0";
    case DM_OP_COPY:
        return n->sub == DM_COPY_FILL ? "FillBackward2"
             : n->sub == DM_COPY_ZERO ? "ZeroBackward0" : "CopyBackwards";
    case DM_OP_PAD: {
        static const char *pad[] = { "ConstantPadNdBackward0", "ReflectionPad1DBackward0",
            "ReflectionPad2DBackward0", "ReflectionPad3DBackward0", "ReplicationPad1DBackward0",
            "ReplicationPad2DBackward0", "ReplicationPad3DBackward0", "CircularPad1DBackward0",
            "CircularPad2DBackward0", "CircularPad3DBackward0" };
        int m = n->sub % 4, k = n->sub / 4;
        return m == 0 ? pad[0] : k >= 1 && k <= 3 ? pad[1 + 3 * (m - 1) + (k - 1)] : "?";
    }
    case DM_OP_UPSAMPLE: {
        static const char *up[] = { "UpsampleNearest1DBackward1", "UpsampleLinear1DBackward1",
            "UpsampleNearest2DBackward1", "UpsampleBilinear2DBackward1" };
        return n->sub >= 0 && n->sub < 4 ? up[n->sub] : "?";
    }
    /* PyTorch 1.13 takes a mean for a 1 x 1 adaptive average (sub 1) */
    case DM_OP_ADAPTIVE_AVG_POOL2D: return n->sub ? "MeanBackward1" : "AdaptiveAvgPool2DBackward0";
    case DM_OP_RNN: {
        static const char *rn[] = { "RnnTanhBackward0", "RnnReluBackward0", "LstmBackward0",
                                    "GruBackward0" };
        return rn[n->sub % 4];
    }
    case DM_OP_CUSTOM: return custom_of(n)->name;
    default: return dm__optable[n->op].name;
    }
}

const char *dm_grad_fn_name(const dm_tensor *t) { return t->grad_fn ? dm__node_name(t->grad_fn) : NULL; }
int dm_is_leaf(const dm_tensor *t) { return t->grad_fn == NULL; }

int dm_set_requires_grad(dm_tensor *t, int on)
{
    if (t->grad_fn) {
        if (!on) {
            dm_seterr("requires_grad_: you can only change requires_grad flags of leaf "
                      "tensors; use detach() for a non-leaf");
            return -1;
        }
        return 0;
    }
    if (on && !dm_is_floating(t->dtype)) {
        dm_seterr("requires_grad_: only tensors of floating point dtype can require gradients "
                  "(got %s; convert with :float())", dm_dtype_name(t->dtype));
        return -1;
    }
    t->requires_grad = on ? 1 : 0;
    return 0;
}

int dm_retain_grad(dm_tensor *t)
{
    if (!t->requires_grad) {
        dm_seterr("retain_grad: can't retain_grad on a tensor that has requires_grad=False");
        return -1;
    }
    if (t->grad_fn) t->retains_grad = 1;
    return 0;
}

/* a dim of more than one element and stride 0: writing the tensor writes a cell twice */
static int self_overlaps(const dm_tensor *t)
{
    for (int d = 0; d < t->ndim; d++) if (t->shape[d] > 1 && t->stride[d] == 0) return 1;
    return 0;
}

int dm_set_grad(dm_tensor *t, dm_tensor *g)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (g) {
        if (g == t || g->storage == t->storage) {
            dm_seterr("grad: can't assign a tensor (or a view of it) as its own grad");
            return -1;
        }
        if (g->dtype != t->dtype) {
            dm_seterr("grad: assigned grad has data of a different type (%s, expected %s)",
                      dm_dtype_name(g->dtype), dm_dtype_name(t->dtype));
            return -1;
        }
        if (!dm__same_shape(g, t)) {
            dm_seterr("grad: assigned grad has size %s, but the tensor has size %s",
                      SHAPE(g, b1), SHAPE(t, b2));
            return -1;
        }
        if (dm_tensor_device(g) != dm_tensor_device(t)) {
            dm_seterr("grad: assigned grad is on %s, but the tensor is on %s",
                      dm_device_name(dm_tensor_device(g)), dm_device_name(dm_tensor_device(t)));
            return -1;
        }
        if (self_overlaps(g)) {
            dm_seterr("grad: assigned grad %s overlaps itself (an expanded tensor); assign "
                      "a :clone() of it", SHAPE(g, b1));
            return -1;
        }
        dm_tensor_retain(g);
    }
    dm_tensor_release(t->grad);
    t->grad = g;
    return 0;
}

int dm_zero_grad(dm_tensor *t, int set_to_none)
{
    dm_tensor *g = t->grad;
    if (!g) return 0;
    if (set_to_none) {
        t->grad = NULL;
        dm_tensor_release(g);
        return 0;
    }
    if (dm__is_contig(g) && !g->requires_grad) {     /* the usual case: one memset */
        memset(dm__ptr(g), 0, (size_t)dm__numel(g) * dm__esize(g->dtype));
        return 0;
    }
    int prev = dm_set_grad_enabled(0);
    int rc = dm_zero_(g);
    dm_set_grad_enabled(prev);
    return rc;
}

dm_tensor *dm_tensor_with_data(dm_tensor *t, const dm_tensor *x)
{
    if (t->grad_fn) { dm_seterr("data: only a leaf tensor's data can be replaced"); return NULL; }
    if (t->requires_grad && !dm_is_floating(x->dtype)) {
        dm_seterr("data: a tensor that requires grad needs floating data, got %s",
                  dm_dtype_name(x->dtype));
        return NULL;
    }
    dm_tensor *n = dm_tensor_alias(x, x->ndim, x->shape, x->stride, x->offset);
    if (!n) return NULL;
    n->requires_grad = t->requires_grad;
    n->grad = t->grad;
    t->grad = NULL;
    return n;
}

int dm__needs_grad(int n, const dm_tensor *const *in)
{
    if (grad_disabled) return 0;
    for (int i = 0; i < n; i++) if (in[i] && in[i]->requires_grad) return 1;
    return 0;
}

/* the node and its input array (and extra bytes) in one block from the core's cache */
/* x is a view (through a chain of view ops) of a base written in place after the view was
   taken: its history leads to the base's old values.  PyTorch regenerates such a view's
   grad_fn from the base's new history; here an op that takes it is refused (an op recorded
   before the write keeps the old history, which is what it read, as PyTorch's does) */
static const char *op_name(dm_op op, int sub)
{
    if (op == DM_OP_CUSTOM) return "CustomBackward";
    dm_node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.op = op;
    tmp.sub = sub;
    return dm__node_name(&tmp);
}

static const dm_tensor *stale_view(const dm_tensor *x)
{
    for (int depth = 0; x && x->grad_fn && dm__is_view_op(x->grad_fn->op) && depth < 64;
         depth++) {
        const dm_node *v = x->grad_fn;
        const dm_tensor *base = v->in[0];
        dm_node *e = dm__edges(v)[0];
        if (base && e && e != DM_EDGE_LEAF && base->grad_fn != e) return base;
        x = base;
    }
    return NULL;
}

/* the error for input i, a view of `base` written in place since (stale_view) */
static __attribute__((noinline, cold)) void stale_error(dm_op op, int sub, int i,
                                                        const dm_tensor *x,
                                                        const dm_tensor *base)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    dm_seterr("%s: input %d [%s %s] is a view of [%s %s], which was modified by an "
              "inplace operation after the view was taken; this is not supported yet "
              "(take the view again after the in-place operation)",
              op_name(op, sub), i + 1, dm_dtype_name(x->dtype),
              SHAPE(x, b1), dm_dtype_name(base->dtype), SHAPE(base, b2));
}

/* A node is recorded per op on every forward with grad, so this is written for few
 * instructions: one pass over the inputs (retain, version, edge, and the stale-view check,
 * which only a view op's output can fail), and the struct zeroed only where nothing else is
 * written (memsets of at most 64 bytes each: stores, not a `rep stos`). */
static inline dm_node *node_new(dm_op op, int sub, dm_tensor *out, int n,
                                const dm_tensor *const *in, size_t extra)
{
    size_t bytes = node_bytes(n) + extra;
    dm_node *node = dm__obj_alloc(bytes);
    if (!node) return NULL;
    dm_tensor **ins = (dm_tensor **)(node + 1);
    node->op = op;
    node->sub = sub;
    node->ninputs = n;
    node->in = ins;
    node->ver_out = out->storage->version;
    memset(node->ver_saved, 0, sizeof node->ver_saved);
    memset(node->saved, 0, sizeof node->saved);
    memset(&node->par, 0, sizeof node->par);
    node->gacc = NULL;
    node->pending = 0;
    node->freed = 0;
    node->mark = 0;
    dm_node **edge = dm__edges(node);
    uint32_t *ver = dm__vers(node);
    if (!n) { ins[0] = NULL; edge[0] = NULL; ver[0] = 0; }
    for (int i = 0; i < n; i++) {
        dm_tensor *x = (dm_tensor *)in[i];
        if (!x) { ins[i] = NULL; ver[i] = 0; edge[i] = NULL; continue; }
        dm_node *e = NULL;
        if (x->requires_grad) {
            e = x->grad_fn;
            if (!e) e = DM_EDGE_LEAF;
            else if (dm__is_view_op(e->op)) {
                /* only a view op's output can be stale: most inputs are leaves or plain
                   results */
                const dm_tensor *base = stale_view(x);
                if (base) {
                    stale_error(op, sub, i, x, base);
                    for (int j = 0; j < i; j++) dm_tensor_release(ins[j]);
                    dm__obj_free(node, bytes);
                    return NULL;
                }
            }
        }
        x->refcount++;                    /* dm_tensor_retain, inline */
        ins[i] = x;
        ver[i] = x->storage->version;
        edge[i] = e;
    }
    if (n && in[0]) {
        node->in_ndim = in[0]->ndim;
        memcpy(node->in_shape, in[0]->shape, sizeof node->in_shape);
    } else {
        node->in_ndim = 0;
        memset(node->in_shape, 0, sizeof node->in_shape);
    }
    node->out = out;
    if (out->grad_fn) dm__node_free(out->grad_fn);
    out->grad_fn = node;
    out->requires_grad = 1;
    return node;
}

dm_node *dm__record(dm_op op, int sub, dm_tensor *out, int n, const dm_tensor *const *in)
{
    return node_new(op, sub, out, n, in, 0);
}

int dm_record_custom(dm_tensor *out, int ninputs, const dm_tensor *const *inputs,
                     dm_custom_backward fn, void *ud, void (*free_ud)(void *),
                     const char *name)
{
    const char *err = NULL;
    if (!out || !fn || ninputs < 0 || (ninputs > 0 && !inputs))
        err = "record_custom: needs an output, a backward function and the inputs";
    else if (out->grad_fn || out->requires_grad || out->refcount != 1)
        err = "record_custom: the output must be a new tensor (no grad_fn, not requiring "
              "grad, referenced only by the caller)";
    for (int i = 0; !err && i < ninputs; i++)
        if (inputs[i] == out) err = "record_custom: the output cannot be one of the inputs";
    if (err) {
        dm_seterr("%s", err);
        if (free_ud) free_ud(ud);
        return -1;
    }
    if (!dm__needs_grad(ninputs, inputs)) {
        if (free_ud) free_ud(ud);
        return 0;
    }
    if (!name) name = "CustomBackward";
    size_t len = strlen(name), extra = sizeof(custom_ext) + len + 1;
    dm_node *node = node_new(DM_OP_CUSTOM, 0, out, ninputs, inputs, extra);
    if (!node) {
        if (free_ud) free_ud(ud);
        return -1;
    }
    custom_ext *c = custom_of(node);
    c->fn = fn;
    c->ud = ud;
    c->free_ud = free_ud;
    c->bytes = node_bytes(ninputs) + extra;
    memcpy(c->name, name, len + 1);
    return 0;
}

int dm__bw_custom(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                  dm_tensor **gin)
{
    custom_ext *c = custom_of(n);
    return c->fn(c->ud, gout, n->ninputs, (const dm_tensor *const *)n->in, gin);
}

dm_tensor *dm__save(dm_node *n, int slot, const dm_tensor *t)
{
    dm_tensor *a = dm_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
    if (!a) return NULL;
    if (n->saved[slot]) dm_tensor_release(n->saved[slot]);
    n->saved[slot] = a;
    n->ver_saved[slot] = (uint16_t)a->storage->version;
    return a;
}

/* drop what the node retains; the node itself stays (owned by its output) */
static void node_clear(dm_node *n)
{
    for (int i = 0; i < n->ninputs; i++) { dm_tensor_release(n->in[i]); n->in[i] = NULL; }
    for (int i = 0; i < DM_NODE_MAX_SAVED; i++) { dm_tensor_release(n->saved[i]); n->saved[i] = NULL; }
    dm_tensor_release(n->gacc);
    n->gacc = NULL;
    if (n->op == DM_OP_CUSTOM) custom_drop(custom_of(n));
}

void dm__node_dealloc(dm_node *n)
{
    if (!n) return;
    if (n->op != DM_OP_CUSTOM) {
        dm__obj_free(n, node_bytes(n->ninputs));
        return;
    }
    custom_ext *c = custom_of(n);
    custom_drop(c);
    dm__obj_free(n, c->bytes);
}

/* ---- tensor hooks ---------------------------------------------------------------------
 * A tensor's hooks in the order added.  Hooks may add or remove hooks while they run: a
 * removed entry is emptied then (its free_ud runs at once) and the list closed up after.
 * The list stays with its tensor once made, so that ids are never handed out twice. */
struct dm_hook_list {
    int n, cap, next_id;
    int live;                     /* entries not removed */
    int running;                  /* run_hooks calls in progress on this list */
    int emptied;                  /* entries removed while running, to close up */
    struct dm_hook { int id; dm_grad_hook fn; void *ud; void (*free_ud)(void *); } *v;
};

int dm_tensor_add_hook(dm_tensor *t, dm_grad_hook fn, void *ud, void (*free_ud)(void *))
{
    if (!fn || !t->requires_grad) {
        dm_seterr(fn ? "add_hook: cannot register a hook on a tensor that doesn't require "
                       "gradient" : "add_hook: no hook function");
        if (free_ud) free_ud(ud);
        return -1;
    }
    dm_hook_list *l = t->hooks;
    if (!l && !(l = t->hooks = calloc(1, sizeof *l))) goto oom;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 2;
        struct dm_hook *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) goto oom;
        l->v = v;
        l->cap = cap;
    }
    int id = ++l->next_id;
    l->v[l->n++] = (struct dm_hook){ id, fn, ud, free_ud };
    l->live++;
    return id;
oom:
    dm_seterr("add_hook: out of memory");
    if (free_ud) free_ud(ud);
    return -1;
}

static void hooks_close_up(dm_hook_list *l)
{
    int k = 0;
    for (int i = 0; i < l->n; i++) if (l->v[i].fn) l->v[k++] = l->v[i];
    l->n = k;
    l->emptied = 0;
}

/* t has hooks to run (and its gradient must be summed apart for them) */
static inline int has_hooks(const dm_tensor *t) { return t->hooks && t->hooks->live > 0; }

int dm_tensor_remove_hook(dm_tensor *t, int id)
{
    dm_hook_list *l = t->hooks;
    for (int i = 0; l && id > 0 && i < l->n; i++) {
        if (l->v[i].id != id || !l->v[i].fn) continue;
        struct dm_hook h = l->v[i];
        l->v[i].fn = NULL;
        l->v[i].free_ud = NULL;
        l->emptied = 1;
        l->live--;
        if (!l->running) hooks_close_up(l);
        if (h.free_ud) h.free_ud(h.ud);
        return 0;
    }
    dm_seterr("remove_hook: the tensor has no hook %d", id);
    return -1;
}

void dm__hooks_free(dm_tensor *t)
{
    dm_hook_list *l = t->hooks;
    t->hooks = NULL;
    if (!l) return;
    for (int i = 0; i < l->n; i++) if (l->v[i].free_ud) l->v[i].free_ud(l->v[i].ud);
    free(l->v);
    free(l);
}

/* Run t's hooks on its gradient *g (owned), each on the one before's result; a replacement
 * takes *g's place (contiguous, as rules expect).  On failure *g is left as it was. */
static int run_hooks(dm_tensor *t, dm_tensor **g)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    dm_hook_list *l = t->hooks;
    int rc = 0;
    l->running++;
    for (int i = 0; rc == 0 && i < l->n; i++) {
        if (!l->v[i].fn) continue;
        dm_tensor *r = NULL;
        if (l->v[i].fn(l->v[i].ud, t, *g, &r) != 0) {
            dm_tensor_release(r);
            rc = -1;
        } else if (r && !dm__same_shape(r, t)) {
            dm_seterr("backward: a hook on a tensor of shape %s returned a gradient of shape "
                      "%s", SHAPE(t, b1), SHAPE(r, b2));
            dm_tensor_release(r);
            rc = -1;
        } else if (r && r->dtype != t->dtype) {    /* PyTorch refuses it too */
            dm_seterr("backward: a hook on a tensor of dtype %s returned a gradient of dtype "
                      "%s", dm_dtype_name(t->dtype), dm_dtype_name(r->dtype));
            dm_tensor_release(r);
            rc = -1;
        } else if (r) {
            dm_tensor *c = dm__is_contig(r) ? r : dm_contiguous(r);
            if (c != r) dm_tensor_release(r);
            if (!c) rc = -1;
            else {
                dm_tensor_release(*g);
                *g = c;
            }
        }
    }
    if (--l->running == 0 && l->emptied) hooks_close_up(l);
    return rc;
}

void dm__node_free(dm_node *n)
{
    if (!n) return;
    node_clear(n);
    dm__node_dealloc(n);
}

/* a gradient we may own and add into: contiguous and referenced by nobody else */
static dm_tensor *owned_grad(dm_tensor *g)
{
    if (g->refcount == 1 && g->storage->refcount == 1 && dm_is_contiguous(g) && !g->grad_fn)
        return g;
    dm_tensor *c = dm_tensor_new_dtype(g->ndim, g->shape, g->dtype);
    if (c) dm_to_buffer_dtype(g, dm__ptr(c), g->dtype);
    dm_tensor_release(g);
    return c;
}

/* ---- accumulating straight into a leaf's .grad -----------------------------------------
 * A leaf's gradient is usually added to its existing .grad (zeroed by zero_grad), which
 * costs a temporary and a pass over both.  While a rule runs, dm__grad_dest(ctx, k) offers
 * the .grad of input k when that is a leaf whose .grad is contiguous and of its shape; a
 * rule that adds its gradient there itself (a gemm with beta = 1) calls
 * dm__grad_done(ctx, k) and leaves gin[k] NULL, and the engine then has nothing to add.
 * The offer is worked out when asked (few rules ask), not before every rule. */
dm_tensor *dm__grad_dest(dm_bwctx *ctx, int k)
{
    const dm_node *n = ctx->node;
    if (k < 0 || k >= 8 || k >= n->ninputs) return NULL;
    const dm_tensor *x = n->in[k];
    /* a leaf with hooks gets its gradient summed apart, for them to see whole */
    if (!x || dm__edges(n)[k] != DM_EDGE_LEAF || !x->requires_grad || !x->grad || has_hooks(x))
        return NULL;
    dm_tensor *g = x->grad;
    if (dm__same_shape(g, x) && dm__is_contig(g) && g->dtype == x->dtype && !g->grad_fn &&
        g->storage != x->storage)
        return g;
    return NULL;
}

void dm__grad_done(dm_bwctx *ctx, int k)
{
    if (k >= 0 && k < 8) ctx->done[k] = 1;       /* only ever after dm__grad_dest offered it */
}

/* d[i] += x[i] over n elements of T: the usual accumulation (a leaf's grad from the last
   step, zeroed) without the general broadcasting add */
#define ACC_LOOP(T, s, g) do {                                                           \
    T *restrict d_ = dm__ptr(s);                                                         \
    const T *restrict x_ = dm__ptr(g);                                                   \
    for (int64_t i_ = 0, n_ = dm__numel(s); i_ < n_; i_++) d_[i_] += x_[i_];             \
} while (0)

/* *slot += g, taking ownership of g.  The sum has dtype dt, that of the tensor whose
 * gradient it is (or of *slot when there is one already): a gradient of another dtype, from
 * a rule or a hook that did not convert, is cast first, as PyTorch's engine does in
 * validate_outputs. */
static int accumulate(dm_tensor **slot, dm_tensor *g, dm_dtype dt)
{
    dm_tensor *s = *slot;
    if (s) dt = s->dtype;
    if (g->dtype != dt) {
        dm_tensor *c = dm_to_dtype(g, dt);        /* grad mode is off: records nothing */
        dm_tensor_release(g);
        if (!(g = c)) return -1;
    }
    if (!s) {
        *slot = owned_grad(g);
        return *slot ? 0 : -1;
    }
    int rc = 0;
    if (dm__same_shape(s, g) && dm__is_contig(s) && dm__is_contig(g) &&
        s->storage != g->storage && (dt == DM_FLOAT32 || dt == DM_FLOAT64)) {
        if (dt == DM_FLOAT32) ACC_LOOP(float, s, g);
        else ACC_LOOP(double, s, g);
    } else {
        rc = dm_add_(s, g, 1.0f);
    }
    dm_tensor_release(g);
    return rc;
}

/* growable arrays that start in the struct itself: a small graph's backward mallocs nothing */
#define VEC_INLINE 32
typedef struct { dm_node **v; int64_t n, cap; dm_node *inl[VEC_INLINE]; } nodevec;
typedef struct { dm_tensor **v; int64_t n, cap; dm_tensor *inl[VEC_INLINE]; } tensvec;

/* a twice larger copy of the array v (cap elements of elem bytes); inl: v is the inline one */
static void *grow(void *v, int inl, int64_t cap, size_t elem)
{
    void *nv = inl ? malloc((size_t)(2 * cap) * elem) : realloc(v, (size_t)(2 * cap) * elem);
    if (!nv) { dm_seterr("backward: out of memory"); return NULL; }
    if (inl) memcpy(nv, v, (size_t)cap * elem);
    return nv;
}

static int vec_push(nodevec *s, dm_node *x)
{
    if (s->n == s->cap) {
        dm_node **nv = grow(s->v, s->v == s->inl, s->cap, sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap *= 2;
    }
    s->v[s->n++] = x;
    return 0;
}

static int tvec_push(tensvec *s, dm_tensor *x)
{
    if (s->n == s->cap) {
        dm_tensor **nv = grow(s->v, s->v == s->inl, s->cap, sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap *= 2;
    }
    s->v[s->n++] = dm_tensor_retain(x);
    return 0;
}

/* ---- leaves followed one by one --------------------------------------------------------
 * Leaves with hooks, or all of them when the caller wants to hear when each is final: how
 * many of their uses are still to run and, for a leaf with hooks, its gradient of this walk
 * so far.  Open addressing keyed by address, inline for small graphs; untouched (and the
 * walk as cheap as ever) when nobody asked. */
typedef struct { dm_tensor *x; int64_t pending; dm_tensor *gbuf; } leafent;
typedef struct { leafent *v; int64_t n, cap; leafent inl[16]; } leafmap;

static leafent *leaf_slot(leafent *v, int64_t cap, const dm_tensor *x)
{
    uint64_t h = (uint64_t)(uintptr_t)x * 0x9E3779B97F4A7C15u;
    int64_t i = (int64_t)((h ^ (h >> 32)) & (uint64_t)(cap - 1));
    while (v[i].x && v[i].x != x) i = (i + 1) & (cap - 1);
    return &v[i];
}

static leafent *leaf_find(const leafmap *m, const dm_tensor *x)
{
    leafent *e = leaf_slot(m->v, m->cap, x);
    return e->x ? e : NULL;
}

/* one more use of leaf x */
static int leaf_use(leafmap *m, dm_tensor *x)
{
    if (!m->v) {
        memset(m->inl, 0, sizeof m->inl);
        m->v = m->inl;
        m->cap = 16;
    }
    if (2 * (m->n + 1) > m->cap) {
        int64_t cap = 2 * m->cap;
        leafent *v = calloc((size_t)cap, sizeof *v);
        if (!v) { dm_seterr("backward: out of memory"); return -1; }
        for (int64_t k = 0; k < m->cap; k++) if (m->v[k].x) *leaf_slot(v, cap, m->v[k].x) = m->v[k];
        if (m->v != m->inl) free(m->v);
        m->v = v;
        m->cap = cap;
    }
    leafent *e = leaf_slot(m->v, m->cap, x);
    if (!e->x) { e->x = x; m->n++; }
    e->pending++;
    return 0;
}

/* the last use of leaf e->x has run: its hooks, its gradient into .grad, then the host */
static int leaf_final(leafent *e, const dm_backward_hooks *h)
{
    dm_tensor *x = e->x, *g = e->gbuf;
    e->gbuf = NULL;
    if (g) {
        if (has_hooks(x) && run_hooks(x, &g)) { dm_tensor_release(g); return -1; }
        if (accumulate(&x->grad, g, x->dtype)) return -1;
    }
    return h && h->on_leaf_grad ? h->on_leaf_grad(h->ud, x) : 0;
}

/* the gradient flowing into non-leaf t is whole (*g, owned): t's hooks, then retain_grad */
static int nonleaf_final(dm_tensor *t, dm_tensor **g)
{
    if (has_hooks(t) && run_hooks(t, g)) return -1;
    if (t->retains_grad) {
        dm_tensor *c = dm_clone(*g);
        if (!c || accumulate(&t->grad, c, t->dtype)) return -1;
    }
    return 0;
}

/* one of the values n's rule reads was written in place since n was recorded: PyTorch's
   error, naming the tensor (dtype, shape) and the node it comes out of (or goes into) */
static int version_error(const dm_node *n, const dm_tensor *x, uint32_t want, const char *role,
                         int k, const dm_node *of)
{
    char b[DM_SHAPE_BUF], which[192] = "";
    if (of)
        snprintf(which, sizeof which, ", which is %s %d of %s,", role, k, dm__node_name(of));
    dm_seterr("one of the variables needed for gradient computation has been "
              "modified by an inplace operation: [%s %s]%s is at version %u; expected "
              "version %u instead", dm_dtype_name(x->dtype), SHAPE(x, b), which,
              (unsigned)x->storage->version, (unsigned)want);
    (void)n;
    return -1;
}

/* the versions n noted when it was recorded, of what its rule reads: output, inputs, saved;
   the error for the first that changed (out of line: dm__check_versions found one) */
static __attribute__((noinline, cold)) int versions_error(const dm_node *n)
{
    const unsigned reads = op_reads(n->op, n->sub);
    if ((reads & DM_READ_OUT) && n->out->storage->version != n->ver_out)
        return version_error(n, n->out, n->ver_out, "output", 0, n);
    for (int k = 0; (reads & DM_READ_INS) && k < n->ninputs; k++) {
        const dm_tensor *x = n->in[k];
        if (!dm__reads_in(reads, k) || !x || x->storage->version == dm__vers(n)[k]) continue;
        /* a non-leaf: named by where it comes from now, as PyTorch does; a leaf (or a tensor
           without history) by the node it goes into */
        return x->grad_fn ? version_error(n, x, dm__vers(n)[k], "output", 0, x->grad_fn)
                          : version_error(n, x, dm__vers(n)[k], "input", k, n);
    }
    for (int i = 0; i < DM_NODE_MAX_SAVED; i++) {
        const dm_tensor *x = n->saved[i];
        /* the rules that read their output read it from a saved alias */
        if (!x || (uint16_t)x->storage->version == n->ver_saved[i]) continue;
        /* the version then: the latest one with those low bits */
        uint32_t v = x->storage->version, want = v - (uint16_t)(v - n->ver_saved[i]);
        return version_error(n, x, want, "output", 0, reads & DM_READ_OUT ? n : NULL);
    }
    return 0;
}

/* the versions n noted when it was recorded, of what its rule reads: output, inputs, saved.
   Runs once per node in every backward: one pass that only compares, the message (which
   names the first that changed, in that order) made by versions_error */
int dm__check_versions(const dm_node *n)
{
    const unsigned reads = op_reads(n->op, n->sub);
    if ((reads & DM_READ_OUT) && n->out->storage->version != n->ver_out)
        return versions_error(n);
    if (reads & DM_READ_INS) {
        const uint32_t *ver = dm__vers(n);
        for (int k = 0; k < n->ninputs; k++) {
            const dm_tensor *x = n->in[k];
            if (x && x->storage->version != ver[k] && dm__reads_in(reads, k))
                return versions_error(n);
        }
    }
    _Static_assert(DM_NODE_MAX_SAVED == 4, "check_versions: the saved slots, unrolled");
    const dm_tensor *s0 = n->saved[0], *s1 = n->saved[1], *s2 = n->saved[2],
                    *s3 = n->saved[3];
    if ((s0 && (uint16_t)s0->storage->version != n->ver_saved[0]) ||
        (s1 && (uint16_t)s1->storage->version != n->ver_saved[1]) ||
        (s2 && (uint16_t)s2->storage->version != n->ver_saved[2]) ||
        (s3 && (uint16_t)s3->storage->version != n->ver_saved[3]))
        return versions_error(n);
    return 0;
}

int dm_backward(dm_tensor *t, const dm_tensor *gradient, int retain_graph)
{
    return dm_backward_ex(t, gradient, retain_graph, NULL);
}

int dm_backward_ex(dm_tensor *t, const dm_tensor *gradient, int retain_graph,
                   const dm_backward_hooks *h)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!t->requires_grad) {
        dm_seterr("element 0 of tensors does not require grad and does not have a grad_fn");
        return -1;
    }
    if (!gradient && dm_numel(t) != 1) {
        dm_seterr("grad can be implicitly created only for scalar outputs, got %s",
                  SHAPE(t, b1));
        return -1;
    }
    if (gradient && !dm_same_shape(gradient, t)) {
        dm_seterr("gradient has shape %s but the tensor has shape %s",
                  SHAPE(gradient, b1), SHAPE(t, b2));
        return -1;
    }
    if (t->grad_fn && t->grad_fn->freed) {
        dm_seterr("trying to backward through the graph a second time (or directly access "
                  "saved tensors after they have already been freed); pass "
                  "{retain_graph = true} to the first backward");
        return -1;
    }
    const dm_tensor *stale = stale_view(t);
    if (stale) {
        dm_seterr("the tensor [%s %s] is a view of [%s %s], which was modified by an inplace "
                  "operation after the view was taken; this is not supported yet (take the "
                  "view again after the in-place operation)", dm_dtype_name(t->dtype),
                  SHAPE(t, b1), dm_dtype_name(stale->dtype), SHAPE(stale, b2));
        return -1;
    }
    dm__device_of(t);                        /* the seed sits on t's device */
    /* the seed in the root's dtype: ones, or the given gradient converted (of any dtype, as
       PyTorch casts it) */
    dm_tensor *g0 = gradient ? dm_tensor_new_dtype(t->ndim, t->shape, t->dtype)
                  : t->dtype == DM_FLOAT32 ? dm_tensor_full(t->ndim, t->shape, 1.0f)
                  : dm_tensor_full_dtype(t->ndim, t->shape, 1.0, t->dtype);
    if (!g0) return -1;
    if (gradient) dm_to_buffer_dtype(gradient, dm__ptr(g0), t->dtype);

    int prev = dm_set_grad_enabled(0);
    int rc = 0;
    if (!t->grad_fn) {                       /* a leaf: its gradient is the seed */
        leafent e = { t, 0, g0 };
        rc = leaf_final(&e, h);
        dm_set_grad_enabled(prev);
        return rc;
    }

    /* 1. discover nodes, counting consumers; keep their owners alive for the walk; count
          the uses of the leaves followed one by one */
    int track = h && h->on_leaf_grad;
    nodevec all, ready;
    tensvec owners;
    leafmap lm;
    all.v = all.inl; ready.v = ready.inl; owners.v = owners.inl;
    all.n = ready.n = owners.n = 0;
    all.cap = ready.cap = owners.cap = VEC_INLINE;
    lm.v = NULL; lm.n = lm.cap = 0;
    dm_node *root = t->grad_fn;
    rc = vec_push(&all, root);
    root->mark = 1;
    root->pending = 0;
    for (int64_t k = 0; rc == 0 && k < all.n; k++) {
        dm_node *n = all.v[k];
        if (n->freed) {
            dm_seterr("trying to backward through the graph a second time (or directly "
                      "access saved tensors after they have already been freed); pass "
                      "{retain_graph = true} to the first backward");
            rc = -1;
            break;
        }
        for (int i = 0; i < n->ninputs; i++) {
            dm_tensor *x = n->in[i];
            dm_node *m = dm__edges(n)[i];
            if (!x || !m) continue;
            if (m == DM_EDGE_LEAF) {
                if ((track || has_hooks(x)) && leaf_use(&lm, x)) { rc = -1; break; }
                continue;
            }
            if (!m->mark) {
                m->mark = 1;
                m->pending = 0;
                if (vec_push(&all, m) || tvec_push(&owners, m->out)) { rc = -1; break; }
            }
            m->pending++;
        }
    }

    /* 2. run rules in dependency order */
    if (rc == 0) {
        root->gacc = g0;
        g0 = NULL;
        rc = vec_push(&ready, root);
    }
    dm_tensor *gin_small[8];
    dm_bwctx ctx;
    while (rc == 0 && ready.n > 0) {
        dm_node *n = ready.v[--ready.n];
        dm_tensor *o = n->out;
        if (n->gacc && (o->hooks || o->retains_grad) && nonleaf_final(o, &n->gacc)) {
            rc = -1;
            break;
        }
        const char *name = h && h->on_node ? dm__node_name(n) : NULL;
        if (name && h->on_node(h->ud, name, o, n->gacc, 0)) { rc = -1; break; }
        dm_tensor **gin = n->ninputs <= 8 ? gin_small : calloc((size_t)n->ninputs, sizeof *gin);
        if (!gin) { dm_seterr("backward: out of memory"); rc = -1; break; }
        memset(gin, 0, (size_t)n->ninputs * sizeof *gin);
        const dm_opdef *def = dm__opdef(n->op);
        dm__cur_device = o->storage->device;     /* the rule's tensors go where the op ran */
        ctx.node = n;
        memset(ctx.done, 0, sizeof ctx.done);
        if (!n->gacc) {
            /* no gradient reached this node (all paths were non-differentiable) */
        } else if (!def || !def->backward) {
            dm_seterr("backward: no backward rule for %s", dm__node_name(n));
            rc = -1;
        } else if (dm__check_versions(n)) {
            rc = -1;
        } else {
            if (def->backward(&ctx, n, n->gacc, gin) != 0) rc = -1;
        }
        for (int i = 0; i < n->ninputs; i++) {
            dm_tensor *x = n->in[i];
            dm_tensor *g = gin[i];
            dm_node *m = dm__edges(n)[i];
            if (!x || !m) { dm_tensor_release(g); continue; }
            if (i < 8 && ctx.done[i]) {         /* the rule added it to x->grad itself */
                dm_tensor_release(g);
                g = NULL;
            } else if (rc == 0 && g && !dm_same_shape(g, x)) {
                dm_seterr("backward: %s produced a gradient of shape %s for an input of "
                          "shape %s", dm__node_name(n), SHAPE(g, b1), SHAPE(x, b2));
                rc = -1;
            }
            if (rc != 0) { dm_tensor_release(g); continue; }
            if (m == DM_EDGE_LEAF) {
                leafent *e = lm.n && (track || has_hooks(x)) ? leaf_find(&lm, x) : NULL;
                if (!e) {
                    if (g && accumulate(&x->grad, g, x->dtype)) rc = -1;
                } else {
                    if (g && accumulate(has_hooks(x) ? &e->gbuf : &x->grad, g, x->dtype)) rc = -1;
                    if (rc == 0 && --e->pending == 0 && leaf_final(e, h)) rc = -1;
                }
                continue;
            }
            if (g && accumulate(&m->gacc, g, m->out->dtype)) rc = -1;
            if (--m->pending == 0 && rc == 0) rc = vec_push(&ready, m);
        }
        if (gin != gin_small) free(gin);
        if (name && rc == 0 && h->on_node(h->ud, name, o, n->gacc, 1)) rc = -1;
        dm_tensor_release(n->gacc);
        n->gacc = NULL;
        if (!retain_graph && rc == 0) { node_clear(n); n->freed = 1; }
    }

    for (int64_t k = 0; k < all.n; k++) {
        all.v[k]->mark = 0;
        dm_tensor_release(all.v[k]->gacc);
        all.v[k]->gacc = NULL;
    }
    for (int64_t k = 0; k < owners.n; k++) dm_tensor_release(owners.v[k]);
    for (int64_t k = 0; k < lm.cap; k++) if (lm.v[k].x) dm_tensor_release(lm.v[k].gbuf);
    if (all.v != all.inl) free(all.v);
    if (ready.v != ready.inl) free(ready.v);
    if (owners.v != owners.inl) free(owners.v);
    if (lm.v != lm.inl) free(lm.v);
    dm_tensor_release(g0);
    dm_set_grad_enabled(prev);
    return rc;
}
