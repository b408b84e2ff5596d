/* inplace.c -- ops that write into an existing tensor.
 *
 * Every write bumps the version counter of the tensor's storage (dm__bump), which its views
 * and detach() share.  With grad mode off, or when neither the tensor written nor the source
 * requires grad, an op writes directly through the device's kernels: float32 copies, axpy,
 * products, scalars and clamp through inplace_f32 (the fast path), every other dtype and op
 * through inplace (below: the out-of-place op's values, without its intermediate tensor).
 * Otherwise it is recorded as PyTorch records it: the result is computed out of
 * place (recording its node) and dm__inplace_commit hands the tensor written that node (PyTorch's
 * rebase_history).  A leaf that requires grad is refused in grad mode, as in PyTorch, so
 * optimizers and initializers run under no_grad.  A destination whose elements share memory
 * (an expanded tensor) is refused by every op here but fill_ and zero_, with PyTorch's
 * message (dm__check_overlap: a look at the strides, before any fast path). */
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

/* PyTorch's assert_no_internal_overlap: a dim of size > 1 and stride 0 (an expanded tensor)
   makes elements share memory; an empty tensor has none.  Only t's strides are read. */
int dm__check_overlap(const char *fn, const dm_tensor *t)
{
    int hit = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return 0;
        hit |= t->shape[d] > 1 && t->stride[d] == 0;
    }
    if (!hit) return 0;
    /* PyTorch's autograd refuses a view of a leaf that requires grad before the kernel looks
       (as rebase_view below does) */
    if (dm_grad_enabled() && t->grad_fn && dm__is_view_op(t->grad_fn->op)) {
        dm_node *bottom = t->grad_fn;
        while (bottom->in[0] && bottom->in[0]->grad_fn &&
               dm__is_view_op(bottom->in[0]->grad_fn->op))
            bottom = bottom->in[0]->grad_fn;
        const dm_tensor *base = bottom->in[0];
        if (!base || dm__edges(bottom)[0] == DM_EDGE_LEAF || !base->grad_fn) {
            dm_seterr("%s: a view of a leaf Variable that requires grad is being used in an "
                      "in-place operation.", fn);
            return -1;
        }
    }
    dm_seterr("%s: unsupported operation: more than one element of the written-to tensor "
              "refers to a single memory location. Please clone() the tensor before "
              "performing the operation.", fn);
    return -1;
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

/* copy_ (fn "copy_", refused on an expanded dst as PyTorch refuses it) and fill_ with a
   0-dim tensor (fn "fill_", allowed there: every element gets the one value) */
static int copy_into(const char *fn, dm_tensor *dst, const dm_tensor *src)
{
    if (src != dst && fn[0] == 'c' && dm__check_overlap(fn, dst)) return -1;
    if (!dm__inplace_records(dst, src)) return copy_raw(fn, dst, src);
    /* CopyBackwards: the old values get a zero gradient, src the gradient summed back to
       its shape */
    if (dm__check_inplace(fn, dst) || check_broadcast(fn, dst, src)) return -1;
    dm_tensor *r = dm_tensor_new_dtype(dst->ndim, dst->shape, dst->dtype);
    if (!r) return -1;
    dm__copy_convert(r, src);
    if (!dm__record(DM_OP_COPY, DM_COPY_COPY, r, 2, (const dm_tensor *[]){ dst, src })) {
        dm_tensor_release(r);
        return -1;
    }
    return dm__inplace_commit(fn, dst, r);
}

int dm_copy_(dm_tensor *dst, const dm_tensor *src) { return copy_into("copy_", dst, src); }

int dm_fill_tensor_(dm_tensor *t, const dm_tensor *v)
{
    if (v->ndim != 0) {
        dm_seterr("fill_: expected a 0-dim value tensor, got %d dims", v->ndim);
        return -1;
    }
    return copy_into("fill_", t, v);
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


/* t's values as they are now: an alias, or a copy when they will be read after the write */
static dm_tensor *old_value(dm_tensor *t, int copy)
{
    if (!copy) return dm_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
    dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    if (c) dm_to_buffer_dtype(t, dm__ptr(c), t->dtype);
    return c;
}

/* r's node, or one recorded for it when nothing of t flows into r (fill_, zero_, ...) */
static dm_node *result_node(const char *fn, dm_tensor *t, dm_tensor *r)
{
    if (r->grad_fn) return r->grad_fn;
    int sub = !strcmp(fn, "fill_") ? DM_COPY_FILL
            : !strcmp(fn, "zero_") ? DM_COPY_ZERO : DM_COPY_COPY;
    return dm__record(DM_OP_COPY, sub, r, 1, (const dm_tensor *[]){ t });
}

/* ---- in place into a view: the base's history is rewritten (PyTorch's CopySlices) -------
 * v is a view (its grad_fn a chain of view nodes) of base.  r's node n stays on r, which
 * the new node keeps (saved[0]); where n had v as an input it gets a copy of v's old values
 * instead (its rule may read them; its gradient is routed by CopySlices, not by the engine).
 * base gets the CopySlices node, in {old base, n's inputs}; the view node next to base is
 * pointed at it, so v and the views beside it now lead to the new history. */
static int rebase_view(const char *fn, dm_tensor *v, dm_tensor *r)
{
    dm_node *bottom = v->grad_fn;
    while (bottom->in[0] && bottom->in[0]->grad_fn && dm__is_view_op(bottom->in[0]->grad_fn->op))
        bottom = bottom->in[0]->grad_fn;
    dm_tensor *base = bottom->in[0];
    if (!base || dm__edges(bottom)[0] == DM_EDGE_LEAF || !base->grad_fn) {
        dm_seterr("%s: a view of a leaf Variable that requires grad is being used in an "
                  "in-place operation.", fn);
        return -1;
    }
    const char *why = NULL;
    if (dm__edges(bottom)[0] != base->grad_fn)
        why = "its base was itself written in place after the view was taken";
    else if (!dm__is_contig(base) || base->storage != v->storage)
        why = "its base is not contiguous";
    else if (r->dtype != v->dtype)
        why = "the result has another dtype";
    if (why) {
        dm_seterr("%s: an in-place operation on a view (%s) of a tensor that requires grad "
                  "is not supported when %s", fn, dm__node_name(v->grad_fn), why);
        return -1;
    }
    dm_node *n = result_node(fn, v, r);
    if (!n) return -1;
    /* the view's geometry within base: [ndim, offset, shape..., stride...] */
    int64_t ng = 2 + 2 * (int64_t)v->ndim;
    dm_tensor *geo = dm_tensor_new_dtype(1, &ng, DM_INT64);
    if (!geo) return -1;
    int64_t *gd = dm__ptr(geo);
    gd[0] = v->ndim;
    gd[1] = v->offset - base->offset;
    for (int d = 0; d < v->ndim; d++) { gd[2 + d] = v->shape[d]; gd[2 + v->ndim + d] = v->stride[d]; }
    int vk = -1;
    dm_tensor *vold = NULL;
    for (int k = 0; k < n->ninputs; k++) {
        if (n->in[k] != v) continue;
        if (!vold && !(vold = old_value(v, 1))) { dm_tensor_release(geo); return -1; }
        vold->requires_grad = 1;       /* the rule computes its gradient: CopySlices uses it */
        n->in[k] = dm_tensor_retain(vold);
        dm__vers(n)[k] = vold->storage->version;
        dm__edges(n)[k] = NULL;
        dm_tensor_release(v);
        if (vk < 0) vk = k;
    }
    dm_tensor_release(vold);
    /* base's old history moves to an alias of it, the new node's first input */
    dm_tensor *old = old_value(base, 0);
    int ni = 1 + n->ninputs;
    const dm_tensor **ins = old ? malloc((size_t)ni * sizeof *ins) : NULL;
    if (!ins) {
        if (old) dm_seterr("%s: out of memory", fn);
        dm_tensor_release(old);
        dm_tensor_release(geo);
        return -1;
    }
    old->requires_grad = 1;
    old->grad_fn = base->grad_fn;
    old->grad_fn->out = old;
    base->grad_fn = NULL;
    ins[0] = old;
    for (int k = 0; k < n->ninputs; k++) ins[1 + k] = n->in[k];
    dm_node *cs = dm__record(DM_OP_COPY_SLICES, vk, base, ni, ins);
    free(ins);
    dm_tensor_release(old);
    if (!cs) {           /* base lost its history to old, which is gone: nothing to undo to */
        dm_tensor_release(geo);
        return -1;
    }
    for (int k = 0; k < n->ninputs; k++) dm__edges(cs)[1 + k] = dm__edges(n)[k];
    cs->saved[0] = dm_tensor_retain(r);
    cs->ver_saved[0] = (uint16_t)r->storage->version;
    cs->saved[1] = geo;
    cs->ver_saved[1] = (uint16_t)geo->storage->version;
    dm__edges(bottom)[0] = cs;
    int rc = copy_raw(fn, v, r);
    cs->ver_out = base->storage->version;
    return rc;
}

/* gout is base's; the view's part of it goes through the op's rule, whose gradient for the
   view's old values takes that part's place; the rest passes to the old base unchanged */
int dm__bw_copy_slices(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *cs, const dm_tensor *gout,
                       dm_tensor **gin)
{
    dm_tensor *r = cs->saved[0];
    dm_node *n = r->grad_fn;
    const int64_t *gd = dm__ptr(cs->saved[1]);
    int nd = (int)gd[0];
    if (dm__check_versions(n)) return -1;
    dm_tensor *gb = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype);
    if (!gb) return -1;
    dm_to_buffer_dtype(gout, dm__ptr(gb), gout->dtype);
    dm_tensor *gview = dm_tensor_alias(gb, nd, gd + 2, gd + 2 + nd, gb->offset + gd[1]);
    dm_tensor *gv = gview ? dm_tensor_new_dtype(nd, gd + 2, gout->dtype) : NULL;
    dm_tensor **gn = gv ? calloc((size_t)n->ninputs, sizeof *gn) : NULL;
    int rc = -1;
    if (gn) {
        dm_to_buffer_dtype(gview, dm__ptr(gv), gout->dtype);
        dm_bwctx c2;
        c2.node = n;
        memset(c2.done, 0, sizeof c2.done);
        rc = dm__opdef(n->op)->backward(&c2, n, gv, gn);
    }
    if (rc == 0) {
        int vk = cs->sub;
        if (vk >= 0 && gn[vk]) {
            dm__copy_convert(gview, gn[vk]);
        } else {
            dm_tensor *z = dm_tensor_full_dtype(0, NULL, 0.0, gout->dtype);
            if (z) dm__copy_convert(gview, z);
            else rc = -1;
            dm_tensor_release(z);
        }
        for (int k = 0; k < n->ninputs; k++) {
            if (k == vk || !dm__edges(n)[k]) continue;
            gin[1 + k] = gn[k];           /* (a rule that added into a leaf's .grad left NULL) */
            gn[k] = NULL;
        }
        if (cs->in[0] && cs->in[0]->requires_grad) { gin[0] = gb; gb = NULL; }
    }
    for (int k = 0; gn && k < n->ninputs; k++) dm_tensor_release(gn[k]);
    free(gn);
    dm_tensor_release(gv);
    dm_tensor_release(gview);
    dm_tensor_release(gb);
    return rc;
}

/* t = r, t taking r's history; t or r requires grad and grad mode is on */
static int rebase(const char *fn, dm_tensor *t, dm_tensor *r)
{
    dm_node *old_fn = t->grad_fn;
    if (old_fn && dm__is_view_op(old_fn->op)) return rebase_view(fn, t, r);
    dm_node *n = result_node(fn, t, r);
    if (!n) return -1;
    /* Where r's node has t as an input, it gets an alias of t's old value instead, which
       carries t's old history (a copy of the values when its rule reads them).  When it has
       not, a saved slot keeps the old history alive for the nodes recorded before, whose
       gradients still go there (their edges). */
    int uses = 0, reads = 0, keep = -1;
    for (int k = 0; k < n->ninputs; k++)
        if (n->in[k] == t) { uses = 1; reads |= dm__reads_in(dm__op_reads(n->op, n->sub), k); }
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
            dm__vers(n)[k] = old->storage->version;
            dm_tensor_release(t);
        }
        if (keep >= 0) {
            n->saved[keep] = dm_tensor_retain(old);
            n->ver_saved[keep] = (uint16_t)old->storage->version;
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

/* ---- writing directly on any dtype: the device's inplace kernel --------------------------
 * With nothing to record, t op= x is written by the device's inplace kernel (backend.h) when
 * the out-of-place op accepts the types, its result casts back to t's dtype and x broadcasts
 * to t's shape: the values the out-of-place op and the copy back would give, without the
 * intermediate tensor.  Anything else returns 0 and the op takes the out-of-place path,
 * which raises what is wrong with PyTorch's messages. */

/* no two elements of t share memory (the ops above refuse an expanded t; one that reaches
   here through dm__inplace_commit takes the out-of-place path, which writes each location
   once) */
static int no_self_overlap(const dm_tensor *t)
{
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > 1 && t->stride[d] == 0) return 0;
    return 1;
}

/* o broadcasts to t's shape (silently) */
static int broadcasts_to(const dm_tensor *t, const dm_tensor *o)
{
    if (o->ndim > t->ndim) return 0;
    for (int d = 0; d < o->ndim; d++) {
        int64_t s = o->shape[d];
        if (s != 1 && s != t->shape[d + t->ndim - o->ndim]) return 0;
    }
    return 1;
}

/* t op= src (of ct) through the kernel (the caller bumps t's version); src converted to ct
   first, or read first when it overlaps t otherwise than element for element
   (x:add_(x:t())) */
static int run_direct(int op, dm_dtype ct, dm_tensor *t, const dm_tensor *o, double lo,
                      double hi)
{
    dm__device_of(t);
    dm_tensor *s = NULL;
    if (o) {
        if (o->dtype == ct && o->storage == t->storage &&
            !(dm_same_shape(o, t) && o->offset == t->offset &&
              !memcmp(o->stride, t->stride, sizeof o->stride))) {
            if ((s = dm_tensor_new_dtype(o->ndim, o->shape, ct)))
                dm_to_buffer_dtype(o, dm__ptr(s), ct);
        } else {
            s = dm_to_dtype(o, ct);
        }
        if (!s) return -1;
    }
    if (dm__numel(t)) dm__kernels(t->storage->device)->inplace(op, ct, t, s, lo, hi);
    dm_tensor_release(s);
    return 1;
}

/* t op= o, nothing recording: 1 written, 0 not (the out-of-place path runs), -1 failed */
static int binary_direct(dm_binop op, dm_tensor *t, const dm_tensor *o)
{
    dm_dtype ct, ot, sdt;
    int flt;
    if (!o || o->storage->device != t->storage->device || !broadcasts_to(t, o) ||
        !no_self_overlap(t) ||
        dm__binary_types(op, t, o, 0, 0, &ct, &ot, &sdt, &flt) || !can_cast(ot, t->dtype))
        return 0;
    return run_direct(op, ct, t, o, 0, 0);
}

/* t op= a number (is_int: the integer si, else sd), nothing recording: as binary_direct */
static int scalar_direct(dm_binop op, dm_tensor *t, double sd, int64_t si, int is_int)
{
    dm_dtype ct, ot, sdt;
    int flt, kop = op;
    if (!no_self_overlap(t) ||
        dm__binary_types(op, t, NULL, is_int, si < 0, &ct, &ot, &sdt, &flt) ||
        !can_cast(ot, t->dtype))
        return 0;
    dm__device_of(t);
    dm_tensor *s;
    if (flt) {                      /* as scalar_floating: the number rounded to ct */
        double sv = is_int ? (double)si : sd;
        if (ct == DM_FLOAT32) sv = (float)sv;
        if (op == DM_BIN_SUB) { kop = DM_BIN_ADD; sv = -sv; }
        else if (op == DM_BIN_POW) kop = DM_IPX_POWS;
        s = dm_tensor_full_dtype(0, NULL, sv, ct);
    } else {                        /* a 0-dim tensor of sdt, converted to ct */
        dm_tensor *s0 = is_int ? dm_tensor_full_i64(0, NULL, si, sdt)
                               : dm_tensor_full_dtype(0, NULL, sd, sdt);
        s = s0 ? dm_to_dtype(s0, ct) : NULL;
        dm_tensor_release(s0);
    }
    if (!s) return -1;
    int rc = run_direct(kop, ct, t, s, 0, 0);
    dm_tensor_release(s);
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
    if (dm__check_overlap(fn, t)) return -1;
    if ((t->dtype | o->dtype) == DM_FLOAT32 && !dm__inplace_records(t, o))  /* DM_FLOAT32 is 0 */
        return apply_pair(fn, t, o, DM_IP_AXPY, op == DM_BIN_SUB ? -alpha : alpha);
    if (dm__check_inplace(fn, t)) return -1;
    dm_tensor *ao = alpha == 1.0f ? dm_tensor_retain((dm_tensor *)o)
                                  : dm_binary_scalar_f64(DM_BIN_MUL, o, alpha, 0);
    if (!ao) return -1;
    int rc = dm__inplace_records(t, ao) ? 0 : binary_direct(op, t, ao);
    if (rc > 0) dm__bump(t);
    rc = rc ? (rc < 0 ? -1 : 0) : dm__inplace_commit(fn, t, dm_binary(op, t, ao));
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
    if (dm__check_overlap("add_", t)) return -1;
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return dm_binary_scalar_(DM_BIN_ADD, t, x, 0);
    inplace_scalar(t, DM_IP_ADDS, x, 0);
    return 0;
}

int dm_mul_scalar_(dm_tensor *t, float x)
{
    if (dm__check_overlap("mul_", t)) return -1;
    if (t->dtype != DM_FLOAT32 || t->requires_grad) return dm_binary_scalar_(DM_BIN_MUL, t, x, 0);
    inplace_scalar(t, DM_IP_MULS, x, 0);
    return 0;
}

int dm_clamp_(dm_tensor *t, float lo, float hi) { return dm_clamp_ex_(t, lo, hi, 0); }

/* ---- in-place ops on any dtype: t = t op x, directly (binary_direct, scalar_direct) or,
 * recording or refused, computed out of place and written back -------------------------- */

int dm_binary_(dm_binop op, dm_tensor *t, const dm_tensor *o)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    const char *fn = inplace_name[op];
    if (dm__check_overlap(fn, t)) return -1;
    if (t->dtype == DM_FLOAT32 && o->dtype == DM_FLOAT32 && !dm__inplace_records(t, o)) {
        if (op == DM_BIN_ADD) return apply_pair(fn, t, o, DM_IP_AXPY, 1.0f);
        if (op == DM_BIN_SUB) return apply_pair(fn, t, o, DM_IP_AXPY, -1.0f);
        if (op == DM_BIN_MUL) return apply_pair(fn, t, o, DM_IP_MUL, 0);
    }
    if (dm__check_inplace(fn, t)) return -1;
    int rc = dm__inplace_records(t, o) ? 0 : binary_direct(op, t, o);
    if (rc > 0) dm__bump(t);
    if (rc) return rc < 0 ? -1 : 0;
    return dm__inplace_commit(fn, t, dm_binary(op, t, o));
}

int dm_binary_scalar_(dm_binop op, dm_tensor *t, double s, int is_int)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    const char *fn = inplace_name[op];
    if (dm__check_overlap(fn, t)) return -1;
    if (t->dtype == DM_FLOAT32 && !dm__inplace_records(t, NULL) &&
        (op == DM_BIN_ADD || op == DM_BIN_SUB || op == DM_BIN_MUL)) {
        float x = (float)s;
        /* v - x is v + (-x) exactly (IEEE negation is exact).  v / x is not v * (1 / x):
           division takes scalar_direct below, the true division of the out-of-place op
           (PyTorch's CPU kernel divides) */
        if (op == DM_BIN_MUL) inplace_scalar(t, DM_IP_MULS, x, 0);
        else inplace_scalar(t, DM_IP_ADDS, op == DM_BIN_ADD ? x : -x, 0);
        return 0;
    }
    if (dm__check_inplace(fn, t)) return -1;
    int rc = dm__inplace_records(t, NULL) ? 0
           : scalar_direct(op, t, s, is_int ? (int64_t)s : 0, is_int);
    if (rc > 0) dm__bump(t);
    if (rc) return rc < 0 ? -1 : 0;
    dm_tensor *r = is_int ? dm_binary_scalar_i64(op, t, (int64_t)s, 0)
                          : dm_binary_scalar_f64(op, t, s, 0);
    return dm__inplace_commit(fn, t, r);
}

int dm_clamp_ex_(dm_tensor *t, double lo, double hi, int int_bounds)
{
    if (dm__check_overlap("clamp_", t)) return -1;
    if (t->dtype == DM_FLOAT32 && !dm__inplace_records(t, NULL)) {
        /* min(max(x, lo), hi), NaN stays NaN */
        inplace_scalar(t, DM_IP_CLAMP, (float)lo, (float)hi);
        return 0;
    }
    if (dm__check_inplace("clamp_", t)) return -1;
    if (!dm__inplace_records(t, NULL) && !(isnan(lo) && isnan(hi)) && no_self_overlap(t)) {
        dm_dtype ct, ot, sdt;
        int flt;
        if (t->dtype == DM_FLOAT64) {                  /* dm_clamp_ex's clamp kernel */
            run_direct(DM_IPX_CLAMP, DM_FLOAT64, t, NULL, lo, hi);
            dm__bump(t);
            return 0;
        }
        /* integers with integer bounds: dm_clamp_ex's maximum, then minimum */
        if (int_bounds && !dm_is_floating(t->dtype) &&
            !dm__binary_types(DM_BIN_MAXIMUM, t, NULL, 1, 0, &ct, &ot, &sdt, &flt) &&
            ot == t->dtype) {
            int rc = isnan(lo) ? 1 : scalar_direct(DM_BIN_MAXIMUM, t, 0, (int64_t)lo, 1);
            if (rc > 0 && !isnan(hi)) rc = scalar_direct(DM_BIN_MINIMUM, t, 0, (int64_t)hi, 1);
            if (rc > 0) dm__bump(t);
            if (rc) return rc < 0 ? -1 : 0;
        }
    }
    return dm__inplace_commit("clamp_", t, dm_clamp_ex(t, lo, hi, int_bounds));
}

/* t = t op alpha * o for op add or sub, alpha typed by kind (deepmoon.h): the result type
   must cast to t's (checked first, as PyTorch does), then alpha is checked against the
   computing dtype (whether floating or bool is t's: the cast allows no other); float32 with
   float32 keeps dm_add_'s loops */
int dm_binary_alpha_(dm_binop op, dm_tensor *t, const dm_tensor *o, double alpha, int kind)
{
    if (op != DM_BIN_ADD && op != DM_BIN_SUB) {
        dm_seterr("binary_alpha_: alpha goes with add or sub only");
        return -1;
    }
    const char *fn = inplace_name[op];
    if (dm__check_inplace(fn, t) || dm__check_overlap(fn, t)) return -1;
    dm_dtype ct, ot, sdt;
    int flt;
    if (dm__binary_types(op, t, o, 0, 0, &ct, &ot, &sdt, &flt)) return -1;
    if (!can_cast(ot, t->dtype)) return dm_binary_(op, t, o);        /* its message */
    if (dm__alpha_check(fn, ot, alpha, kind)) return -1;
    if (alpha == 1) return dm_binary_(op, t, o);
    if ((t->dtype | o->dtype) == DM_FLOAT32)
        return add_like(op, t, o, (float)alpha);
    dm_tensor *s = dm__alpha_scaled(o, ot, alpha, kind);
    int rc = s ? dm_binary_(op, t, s) : -1;
    dm_tensor_release(s);
    return rc;
}
