/* inplace.c -- ops that write into an existing tensor.
 *
 * Every write bumps the version counter of the tensor's storage (dm__bump), which its views
 * and detach() share.  With grad mode off, or when neither the tensor written nor the source
 * requires grad, an op writes directly (the float32 ones through the device's kernels: the
 * fast path).  Otherwise it is recorded as PyTorch records it: the result is computed out of
 * place (recording its node) and dm__inplace_commit hands the tensor written that node (PyTorch's
 * rebase_history).  A leaf that requires grad is refused in grad mode, as in PyTorch, so
 * optimizers and initializers run under no_grad. */
#include "internal.h"
#include "backend.h"

int dm__check_inplace(const char *fn, const dm_tensor *t)
{
    if (t->requires_grad && !t->grad_fn && dm_grad_enabled()) {
        dm_seterr("%s: a leaf Variable that requires grad is being used in an in-place "
                  "operation.", fn);
        return -1;
    }
    return 0;
}

/* src broadcasts to dst's shape exactly (0), or -1 and the message */
static int check_broadcast(const char *fn, const dm_tensor *dst, const dm_tensor *src)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int ok = src->ndim <= dst->ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t s = src->shape[d], t = dst->shape[d + dst->ndim - src->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (ok) return 0;
    dm_seterr("%s: source %s cannot be broadcast to destination %s", fn, SHAPE(src, b1),
              SHAPE(dst, b2));
    return -1;
}

/* dst op= src elementwise with src broadcast to dst's shape, float32: the device's kernel
   (backend.h) after the shape check, with an overlapping source read first */
static int apply_pair(const char *fn, dm_tensor *dst, const dm_tensor *src, dm_ip_kind f,
                      float a)
{
    if (check_broadcast(fn, dst, src)) return -1;
    /* src may overlap dst (x:copy_(x:t())): read it first when storages are shared */
    dm_tensor *c = NULL;
    if (src->storage == dst->storage && !(dm_same_shape(src, dst) && src->offset == dst->offset &&
                                          !memcmp(src->stride, dst->stride, sizeof src->stride))) {
        if (!(c = dm_tensor_new_dtype(src->ndim, src->shape, DM_FLOAT32))) return -1;
        dm_to_buffer(src, dm__ptr(c));
    }
    dm__kernels(dst->storage->device)->inplace_f32(f, dst, c ? c : src, a, 0);
    dm_tensor_release(c);
    dm__bump(dst);
    return 0;
}

/* dst = src broadcast and converted, recording nothing */
static int copy_raw(const char *fn, dm_tensor *dst, const dm_tensor *src)
{
    if (dst->dtype == DM_FLOAT32 && src->dtype == DM_FLOAT32)
        return apply_pair(fn, dst, src, DM_IP_COPY, 0);
    /* another dtype on either side: convert, through a contiguous copy of src (which also
       takes care of overlap) */
    if (check_broadcast(fn, dst, src)) return -1;
    dm_tensor *c = dm_tensor_new_dtype(src->ndim, src->shape, src->dtype);
    if (!c) return -1;
    dm_to_buffer_dtype(src, dm__ptr(c), src->dtype);
    dm__copy_convert(dst, c);
    dm_tensor_release(c);
    dm__bump(dst);
    return 0;
}

int dm_copy_(dm_tensor *dst, const dm_tensor *src)
{
    if (!dm__inplace_records(dst, src)) return copy_raw("copy_", dst, src);
    /* CopyBackwards: the old values get a zero gradient, src the gradient summed back to
       its shape */
    if (dm__check_inplace("copy_", dst) || check_broadcast("copy_", dst, src)) return -1;
    dm_tensor *r = dm_tensor_new_dtype(dst->ndim, dst->shape, dst->dtype);
    if (!r) return -1;
    dm__copy_convert(r, src);
    if (!dm__record(DM_OP_COPY, DM_COPY_COPY, r, 2, (const dm_tensor *[]){ dst, src })) {
        dm_tensor_release(r);
        return -1;
    }
    return dm__inplace_commit("copy_", dst, r);
}

/* CopyBackwards, FillBackward2, ZeroBackward0: in {old self [, src]} */
int dm__bw_copy(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *src = n->ninputs > 1 ? n->in[1] : NULL;
    if (x && x->requires_grad &&
        !(gin[0] = dm_tensor_zeros_dtype(x->ndim, x->shape, x->dtype)))
        return -1;
    if (src && src->requires_grad) {
        dm_tensor *s = dm_same_shape(gout, src) ? dm_tensor_retain((dm_tensor *)gout)
                                                : dm_sum_to(gout, src->ndim, src->shape);
        if (s && s->dtype != src->dtype) {
            dm_tensor *c = dm_to_dtype(s, src->dtype);
            dm_tensor_release(s);
            s = c;
        }
        if (!s) { dm_tensor_release(gin[0]); gin[0] = NULL; return -1; }
        gin[1] = s;
    }
    return 0;
}

/* ---- recording an in-place write: PyTorch's rebase_history ----------------------------- */

static int is_view_op(dm_op op) { return op >= DM_OP_VIEW && op <= DM_OP_EXPAND; }

/* t's values as they are now: an alias, or a copy when they will be read after the write */
static dm_tensor *old_value(dm_tensor *t, int copy)
{
    if (!copy) return dm_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
    dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    if (c) dm_to_buffer_dtype(t, dm__ptr(c), t->dtype);
    return c;
}

/* t = r, t taking r's history; t or r requires grad and grad mode is on */
static int rebase(const char *fn, dm_tensor *t, dm_tensor *r)
{
    dm_node *old_fn = t->grad_fn;
    if (old_fn && is_view_op(old_fn->op)) {
        /* PyTorch rewrites the base's history (CopySlices); views do not know their base
           here yet */
        const dm_tensor *base = t;
        while (base->grad_fn && is_view_op(base->grad_fn->op) && base->grad_fn->in[0])
            base = base->grad_fn->in[0];
        if (!base->grad_fn && base->requires_grad)
            dm_seterr("%s: a view of a leaf Variable that requires grad is being used in an "
                      "in-place operation.", fn);
        else
            dm_seterr("%s: an in-place operation on a view (%s) of a tensor that requires "
                      "grad is not supported yet; write into a clone() of the view, or under "
                      "no_grad", fn, dm__node_name(old_fn));
        return -1;
    }
    dm_node *n = r->grad_fn;
    if (!n) {                          /* nothing of t flows into r: fill_, zero_, ... */
        int sub = !strcmp(fn, "fill_") ? DM_COPY_FILL
                : !strcmp(fn, "zero_") ? DM_COPY_ZERO : DM_COPY_COPY;
        if (!(n = dm__record(DM_OP_COPY, sub, r, 1, (const dm_tensor *[]){ t }))) return -1;
    }
    /* Where r's node has t as an input, it gets an alias of t's old value instead, which
       carries t's old history (a copy of the values when its rule reads them).  When it has
       not, a saved slot keeps the old history alive for the nodes recorded before, whose
       gradients still go there (their edges). */
    int uses = 0, reads = 0, keep = -1;
    for (int k = 0; k < n->ninputs; k++)
        if (n->in[k] == t) { uses = 1; reads |= dm__reads_in(n->reads, k); }
    if (!uses && old_fn) {
        for (int i = DM_NODE_MAX_SAVED - 1; i >= 0 && keep < 0; i--) if (!n->saved[i]) keep = i;
        if (keep < 0) {
            dm_seterr("%s: cannot record this in-place operation (its node has no room for "
                      "the old history)", fn);
            return -1;
        }
        reads = 1;                     /* a private copy: its version never moves */
    }
    if (uses || keep >= 0) {
        dm_tensor *old = old_value(t, reads);
        if (!old) return -1;
        old->requires_grad = t->requires_grad;
        old->grad_fn = old_fn;
        if (old_fn) old_fn->out = old;
        t->grad_fn = NULL;
        for (int k = 0; k < n->ninputs; k++) {
            if (n->in[k] != t) continue;
            n->in[k] = dm_tensor_retain(old);
            n->ver[k] = old->storage->version;
            dm_tensor_release(t);
        }
        if (keep >= 0) {
            n->saved[keep] = dm_tensor_retain(old);
            n->ver_saved[keep] = old->storage->version;
        }
        dm_tensor_release(old);
    }
    /* a result of another dtype (t float32, the source float64) is cast on the way, as
       PyTorch's in-place ops cast theirs: the node t takes is then ToCopyBackward0's */
    dm_tensor *rr = r;
    if (r->dtype != t->dtype) {
        if (!(rr = dm_to_dtype(r, t->dtype))) return -1;
        n = rr->grad_fn;
    }
    rr->grad_fn = NULL;
    rr->requires_grad = 0;
    n->out = t;
    t->grad_fn = n;
    t->requires_grad = 1;
    int rc = copy_raw(fn, t, rr);
    n->ver_out = t->storage->version;
    if (rr != r) dm_tensor_release(rr);
    return rc;
}

/* PyTorch's canCast: no floating result into an integer tensor, nothing but bool into bool */
static int can_cast(dm_dtype from, dm_dtype to)
{
    if (dm_is_floating(from) && !dm_is_floating(to)) return 0;
    if (from != DM_BOOL && to == DM_BOOL) return 0;
    return 1;
}

/* t = r (a new reference, released here; NULL: the op failed): r must have t's shape and a
   dtype that casts to t's */
int dm__inplace_commit(const char *fn, dm_tensor *t, dm_tensor *r)
{
    if (!r) return -1;
    if (dm__check_inplace(fn, t)) { dm_tensor_release(r); return -1; }
    int rc = -1;
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!can_cast(r->dtype, t->dtype))
        dm_seterr("%s: result type %s can't be cast to the desired output type %s", fn,
                  dm_dtype_name(r->dtype), dm_dtype_name(t->dtype));
    else if (!dm__same_shape(r, t))
        dm_seterr("%s: the result's shape %s differs from the destination's %s", fn,
                  SHAPE(r, b1), SHAPE(t, b2));
    else if (dm__inplace_records(t, r))
        rc = rebase(fn, t, r);
    else
        rc = copy_raw(fn, t, r);
    dm_tensor_release(r);
    return rc;
}

/* ---- the ops ---------------------------------------------------------------------------- */

static const char *const inplace_name[] = {
    [DM_BIN_ADD] = "add_", [DM_BIN_SUB] = "sub_", [DM_BIN_MUL] = "mul_", [DM_BIN_DIV] = "div_",
    [DM_BIN_POW] = "pow_", [DM_BIN_EQ] = "eq_", [DM_BIN_NE] = "ne_", [DM_BIN_LT] = "lt_",
    [DM_BIN_LE] = "le_", [DM_BIN_GT] = "gt_", [DM_BIN_GE] = "ge_",
    [DM_BIN_MAXIMUM] = "maximum_", [DM_BIN_MINIMUM] = "minimum_",
};

/* t op= alpha * o for op add or sub */
static int add_like(dm_binop op, dm_tensor *t, const dm_tensor *o, float alpha)
{
    const char *fn = inplace_name[op];
    if ((t->dtype | o->dtype) == DM_FLOAT32 && !dm__inplace_records(t, o))  /* DM_FLOAT32 is 0 */
        return apply_pair(fn, t, o, DM_IP_AXPY, op == DM_BIN_SUB ? -alpha : alpha);
    if (dm__check_inplace(fn, t)) return -1;
    if (alpha == 1.0f) return dm__inplace_commit(fn, t, dm_binary(op, t, o));
    dm_tensor *ao = dm_binary_scalar_f64(DM_BIN_MUL, o, alpha, 0);
    int rc = ao ? dm__inplace_commit(fn, t, dm_binary(op, t, ao)) : -1;
    dm_tensor_release(ao);
    return rc;
}

int dm_add_(dm_tensor *t, const dm_tensor *o, float alpha) { return add_like(DM_BIN_ADD, t, o, alpha); }
int dm_sub_(dm_tensor *t, const dm_tensor *o, float alpha) { return add_like(DM_BIN_SUB, t, o, alpha); }

int dm_mul_(dm_tensor *t, const dm_tensor *o) { return dm_binary_(DM_BIN_MUL, t, o); }

/* float32 t op= a scalar, the device's kernel */
static void inplace_scalar(dm_tensor *t, dm_ip_kind k, float a, float b)
{
    dm__kernels(t->storage->device)->inplace_f32(k, t, NULL, a, b);
    dm__bump(t);
}

/* t (any dtype) filled with x, converted: directly, or recorded (FillBackward2,
   ZeroBackward0) */
static int fill_value(const char *fn, dm_tensor *t, double x)
{
    if (dm__check_inplace(fn, t)) return -1;
    if (dm__inplace_records(t, NULL))
        return dm__inplace_commit(fn, t, dm_tensor_full_dtype(t->ndim, t->shape, x, t->dtype));
    dm_tensor *s = dm_tensor_full_dtype(0, NULL, x, DM_FLOAT64);
    if (!s) return -1;
    dm__copy_convert(t, s);
    dm_tensor_release(s);
    dm__bump(t);
    return 0;
}

int dm_fill_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return fill_value("fill_", t, x);
    dm__kernels(t->storage->device)->fill(t, &x);
    dm__bump(t);
    return 0;
}

int dm_zero_(dm_tensor *t)
{
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return fill_value("zero_", t, 0);
    const float z = 0.0f;
    dm__kernels(t->storage->device)->fill(t, &z);
    dm__bump(t);
    return 0;
}

int dm_add_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return dm_binary_scalar_(DM_BIN_ADD, t, x, 0);
    inplace_scalar(t, DM_IP_ADDS, x, 0);
    return 0;
}

int dm_mul_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return dm_binary_scalar_(DM_BIN_MUL, t, x, 0);
    inplace_scalar(t, DM_IP_MULS, x, 0);
    return 0;
}

int dm_clamp_(dm_tensor *t, float lo, float hi) { return dm_clamp_ex_(t, lo, hi, 0); }

/* ---- in-place ops on any dtype: t = t op x, computed out of place and written back ----- */

int dm_binary_(dm_binop op, dm_tensor *t, const dm_tensor *o)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    const char *fn = inplace_name[op];
    if (t->dtype == DM_FLOAT32 && o->dtype == DM_FLOAT32 && !dm__inplace_records(t, o)) {
        if (op == DM_BIN_ADD) return apply_pair(fn, t, o, DM_IP_AXPY, 1.0f);
        if (op == DM_BIN_SUB) return apply_pair(fn, t, o, DM_IP_AXPY, -1.0f);
        if (op == DM_BIN_MUL) return apply_pair(fn, t, o, DM_IP_MUL, 0);
    }
    if (dm__check_inplace(fn, t)) return -1;
    return dm__inplace_commit(fn, t, dm_binary(op, t, o));
}

int dm_binary_scalar_(dm_binop op, dm_tensor *t, double s, int is_int)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    const char *fn = inplace_name[op];
    if (t->dtype == DM_FLOAT32 && !dm__inplace_records(t, NULL) &&
        (op == DM_BIN_ADD || op == DM_BIN_SUB || op == DM_BIN_MUL || op == DM_BIN_DIV)) {
        float x = (float)s;
        /* v - x is v + (-x) exactly (IEEE negation is exact); v / x is v * (1 / x), as the
           out-of-place op computes it */
        if (op == DM_BIN_MUL) inplace_scalar(t, DM_IP_MULS, x, 0);
        else if (op == DM_BIN_DIV) inplace_scalar(t, DM_IP_MULS, 1.0f / x, 0);
        else inplace_scalar(t, DM_IP_ADDS, op == DM_BIN_ADD ? x : -x, 0);
        return 0;
    }
    if (dm__check_inplace(fn, t)) return -1;
    dm_tensor *r = is_int ? dm_binary_scalar_i64(op, t, (int64_t)s, 0)
                          : dm_binary_scalar_f64(op, t, s, 0);
    return dm__inplace_commit(fn, t, r);
}

int dm_clamp_ex_(dm_tensor *t, double lo, double hi, int int_bounds)
{
    if (t->dtype == DM_FLOAT32 && !dm__inplace_records(t, NULL)) {
        /* min(max(x, lo), hi), NaN stays NaN */
        inplace_scalar(t, DM_IP_CLAMP, (float)lo, (float)hi);
        return 0;
    }
    if (dm__check_inplace("clamp_", t)) return -1;
    return dm__inplace_commit("clamp_", t, dm_clamp_ex(t, lo, hi, int_bounds));
}
