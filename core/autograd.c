/* autograd.c -- grad mode, node recording, the op table and the backward pass.
 *
 * The graph is made of nodes owned by their output tensors; a node retains its inputs,
 * whose own nodes lead further back.  dm_backward() finds every node reachable from the
 * root, counts how many consumers each has, then runs the backward rules in an order where
 * a node runs only once all gradient flowing into it has been summed (Kahn's algorithm).
 * Nothing recurses, so very deep graphs are fine. */
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

static const dm_opdef optable[DM_OP_COUNT] = {
    [DM_OP_NONE]         = { NULL, NULL },
    [DM_OP_VIEW]         = { "ViewBackward0", dm__bw_view },
    [DM_OP_TRANSPOSE]    = { "TransposeBackward0", dm__bw_transpose },
    [DM_OP_PERMUTE]      = { "PermuteBackward0", dm__bw_permute },
    [DM_OP_NARROW]       = { "SliceBackward0", dm__bw_narrow },
    [DM_OP_SELECT]       = { "SelectBackward0", dm__bw_select },
    [DM_OP_EXPAND]       = { "ExpandBackward0", dm__bw_expand },
    [DM_OP_CLONE]        = { "CloneBackward0", dm__bw_clone },
    [DM_OP_ADD]          = { "AddBackward0", dm__bw_binary },
    [DM_OP_SUB]          = { "SubBackward0", dm__bw_binary },
    [DM_OP_MUL]          = { "MulBackward0", dm__bw_binary },
    [DM_OP_DIV]          = { "DivBackward0", dm__bw_binary },
    [DM_OP_POW]          = { "PowBackward1", dm__bw_binary },
    [DM_OP_MAXIMUM]      = { "MaximumBackward0", dm__bw_binary },
    [DM_OP_MINIMUM]      = { "MinimumBackward0", dm__bw_binary },
    [DM_OP_ADDS]         = { "AddBackward0", dm__bw_scalar },
    [DM_OP_MULS]         = { "MulBackward0", dm__bw_scalar },
    [DM_OP_RSUBS]        = { "RsubBackward1", dm__bw_scalar },
    [DM_OP_RDIVS]        = { "MulBackward0", dm__bw_scalar },
    [DM_OP_POWS]         = { "PowBackward0", dm__bw_scalar },
    [DM_OP_RPOWS]        = { "PowBackward1", dm__bw_scalar },
    [DM_OP_UNARY]        = { "UnaryBackward0", dm__bw_unary },
    [DM_OP_CLAMP]        = { "ClampBackward1", dm__bw_clamp },
    [DM_OP_LEAKY_RELU]   = { "LeakyReluBackward0", dm__bw_leaky_relu },
    [DM_OP_ELU]          = { "EluBackward0", dm__bw_elu },
    [DM_OP_WHERE]        = { "WhereBackward0", dm__bw_where },
    [DM_OP_SUM]          = { "SumBackward", dm__bw_reduce },
    [DM_OP_MEAN]         = { "MeanBackward", dm__bw_reduce },
    [DM_OP_PROD]         = { "ProdBackward", dm__bw_reduce },
    [DM_OP_MAXMIN]       = { "MaxBackward0", dm__bw_reduce },
    [DM_OP_MAXMIN_ALL]   = { "MaxBackward1", dm__bw_reduce },
    [DM_OP_VAR]          = { "VarBackward0", dm__bw_reduce },
    [DM_OP_STD]          = { "StdBackward0", dm__bw_reduce },
    [DM_OP_SOFTMAX]      = { "SoftmaxBackward0", dm__bw_softmax },
    [DM_OP_LOG_SOFTMAX]  = { "LogSoftmaxBackward0", dm__bw_softmax },
    [DM_OP_MATMUL]       = { "MmBackward0", dm__bw_matmul },
    [DM_OP_LINEAR]       = { "AddmmBackward0", dm__bw_linear },
    [DM_OP_CAT]          = { "CatBackward0", dm__bw_cat },
    [DM_OP_INDEX_SELECT] = { "IndexSelectBackward0", dm__bw_index_select },
    [DM_OP_DROPOUT]      = { "NativeDropoutBackward0", dm__bw_dropout },
    [DM_OP_BATCHNORM]    = { "NativeBatchNormBackward0", dm__bw_batchnorm },
    [DM_OP_LOSS]         = { "LossBackward0", dm__bw_loss },
};

const dm_opdef *dm__opdef(dm_op op) { return op > DM_OP_NONE && op < DM_OP_COUNT ? &optable[op] : NULL; }

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
    default: return optable[n->op].name;
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

int dm__needs_grad(int n, const dm_tensor *const *in)
{
    if (grad_disabled) return 0;
    for (int i = 0; i < n; i++) if (in[i] && in[i]->requires_grad) return 1;
    return 0;
}

dm_node *dm__record(dm_op op, int sub, dm_tensor *out, int n, const dm_tensor *const *in)
{
    /* the node and its input array in one block from the core's cache */
    size_t bytes = sizeof(dm_node) + (size_t)(n ? n : 1) * sizeof(dm_tensor *);
    dm_node *node = dm__obj_alloc(bytes);
    if (!node) return NULL;
    memset(node, 0, bytes);
    dm_tensor **ins = (dm_tensor **)(node + 1);
    node->op = op;
    node->sub = sub;
    node->ninputs = n;
    node->in = ins;
    for (int i = 0; i < n; i++) ins[i] = in[i] ? dm_tensor_retain((dm_tensor *)in[i]) : NULL;
    if (n && in[0]) {
        node->in_ndim = in[0]->ndim;
        memcpy(node->in_shape, in[0]->shape, sizeof node->in_shape);
    }
    if (out->grad_fn) dm__node_free(out->grad_fn);
    out->grad_fn = node;
    out->requires_grad = 1;
    return node;
}

dm_tensor *dm__save(dm_node *n, int slot, const dm_tensor *t)
{
    dm_tensor *a = dm_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
    if (!a) return NULL;
    if (n->saved[slot]) dm_tensor_release(n->saved[slot]);
    n->saved[slot] = a;
    return a;
}

/* drop what the node retains; the node itself stays (owned by its output) */
static void node_clear(dm_node *n)
{
    for (int i = 0; i < n->ninputs; i++) { dm_tensor_release(n->in[i]); n->in[i] = NULL; }
    for (int i = 0; i < DM_NODE_MAX_SAVED; i++) { dm_tensor_release(n->saved[i]); n->saved[i] = NULL; }
    dm_tensor_release(n->gacc);
    n->gacc = NULL;
}

void dm__node_dealloc(dm_node *n)
{
    if (n) dm__obj_free(n, sizeof(dm_node) + (size_t)(n->ninputs ? n->ninputs : 1) * sizeof(dm_tensor *));
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
    dm_tensor *c = dm_tensor_new(g->ndim, g->shape);
    if (c) dm_to_buffer(g, c->storage->data);
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
    if (!x || !x->requires_grad || x->grad_fn || !x->grad) return NULL;
    dm_tensor *g = x->grad;
    if (dm__same_shape(g, x) && dm__is_contig(g) && !g->grad_fn && g->storage != x->storage)
        return g;
    return NULL;
}

void dm__grad_done(dm_bwctx *ctx, int k)
{
    if (dm__grad_dest(ctx, k)) ctx->done[k] = 1;
}

/* *slot += g, taking ownership of g */
static int accumulate(dm_tensor **slot, dm_tensor *g)
{
    if (!*slot) {
        *slot = owned_grad(g);
        return *slot ? 0 : -1;
    }
    dm_tensor *s = *slot;
    int rc = 0;
    if (dm_same_shape(s, g) && dm_is_contiguous(s) && dm_is_contiguous(g) &&
        s->storage != g->storage) {
        /* the usual case (a leaf's grad from the last step, zeroed) without the general
           broadcasting add */
        float *restrict d = dm_data(s);
        const float *restrict x = dm_data(g);
        for (int64_t i = 0, n = dm_numel(s); i < n; i++) d[i] += x[i];
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

int dm_backward(dm_tensor *t, const dm_tensor *gradient, int retain_graph)
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
    dm_tensor *g0 = gradient ? dm_tensor_new(t->ndim, t->shape) : dm_tensor_full(t->ndim, t->shape, 1.0f);
    if (!g0) return -1;
    if (gradient) dm_to_buffer(gradient, g0->storage->data);

    int prev = dm_set_grad_enabled(0);
    int rc = 0;
    if (!t->grad_fn) {                       /* a leaf: its gradient is the seed */
        rc = accumulate(&t->grad, g0);
        dm_set_grad_enabled(prev);
        return rc;
    }

    /* 1. discover nodes, counting consumers; keep their owners alive for the walk */
    nodevec all, ready;
    tensvec owners;
    all.v = all.inl; ready.v = ready.inl; owners.v = owners.inl;
    all.n = ready.n = owners.n = 0;
    all.cap = ready.cap = owners.cap = VEC_INLINE;
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
            if (!x || !x->requires_grad || !x->grad_fn) continue;
            dm_node *m = x->grad_fn;
            if (!m->mark) {
                m->mark = 1;
                m->pending = 0;
                if (vec_push(&all, m) || tvec_push(&owners, x)) { rc = -1; break; }
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
        dm_tensor **gin = n->ninputs <= 8 ? gin_small : calloc((size_t)n->ninputs, sizeof *gin);
        if (!gin) { dm_seterr("backward: out of memory"); rc = -1; break; }
        memset(gin, 0, (size_t)n->ninputs * sizeof *gin);
        const dm_opdef *def = dm__opdef(n->op);
        ctx.node = n;
        memset(ctx.done, 0, sizeof ctx.done);
        if (!n->gacc) {
            /* no gradient reached this node (all paths were non-differentiable) */
        } else if (!def || !def->backward) {
            dm_seterr("backward: no backward rule for %s", dm__node_name(n));
            rc = -1;
        } else {
            if (def->backward(&ctx, n, n->gacc, gin) != 0) rc = -1;
        }
        for (int i = 0; i < n->ninputs; i++) {
            dm_tensor *x = n->in[i];
            dm_tensor *g = gin[i];
            if (!x || !x->requires_grad) { dm_tensor_release(g); continue; }
            if (i < 8 && ctx.done[i]) {         /* the rule added it to x->grad itself */
                dm_tensor_release(g);
                continue;
            }
            if (rc == 0 && g && !dm_same_shape(g, x)) {
                dm_seterr("backward: %s produced a gradient of shape %s for an input of "
                          "shape %s", dm__node_name(n), SHAPE(g, b1), SHAPE(x, b2));
                rc = -1;
            }
            if (rc != 0) { dm_tensor_release(g); continue; }
            if (!x->grad_fn) {
                if (g && accumulate(&x->grad, g)) rc = -1;
                continue;
            }
            if (g && x->retains_grad) {
                dm_tensor *c = dm_clone(g);
                if (!c || accumulate(&x->grad, c)) rc = -1;
            }
            dm_node *m = x->grad_fn;
            if (g && accumulate(&m->gacc, g)) rc = -1;
            if (--m->pending == 0 && rc == 0) rc = vec_push(&ready, m);
        }
        if (gin != gin_small) free(gin);
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
    if (all.v != all.inl) free(all.v);
    if (ready.v != ready.inl) free(ready.v);
    if (owners.v != owners.inl) free(owners.v);
    dm_tensor_release(g0);
    dm_set_grad_enabled(prev);
    return rc;
}
