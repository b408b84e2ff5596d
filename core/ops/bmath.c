/* bmath.c -- the two-input math functions atan2, hypot, xlogy, logaddexp, logaddexp2,
 * copysign, fmax, fmin and heaviside (broadcasting, with torch.result_type's promotion), and
 * their gradients.
 *
 * Operands are broadcast to the result's shape and read as flat arrays of the compute type
 * (dm__contig_as of an expanded view, as bitwise.c), and the device's kernels (backend.h:
 * bmath, bmath_bw; backend/cpu/bmath.c, ref/bmath.c) loop over them.  Types as PyTorch 1.13:
 * atan2, xlogy and copysign of integer or bool operands give float32; hypot, logaddexp and
 * logaddexp2 refuse them; fmax and fmin keep integer and bool types (computed in int64 and
 * converted back); heaviside needs both operands of one dtype and has no gradient.
 *
 * Nodes: ATAN2 HYPOT XLOGY LOGADDEXP LOGADDEXP2 COPYSIGN FMAX FMIN record {a, b} as given
 * (either may not need grad); the rule computes in the output's dtype and sums each gradient
 * back to its input's shape and dtype (copysign's b gets zeros, as PyTorch's). */
#include "internal.h"
#include "backend.h"

static const char *const bm_name[DM_BM_COUNT] = {
    [DM_BM_ATAN2] = "atan2", [DM_BM_HYPOT] = "hypot", [DM_BM_XLOGY] = "xlogy",
    [DM_BM_LOGADDEXP] = "logaddexp", [DM_BM_LOGADDEXP2] = "logaddexp2",
    [DM_BM_COPYSIGN] = "copysign", [DM_BM_FMAX] = "fmax", [DM_BM_FMIN] = "fmin",
    [DM_BM_HEAVISIDE] = "heaviside",
};
static const dm_op bm_op[DM_BM_COUNT] = {
    [DM_BM_ATAN2] = DM_OP_ATAN2, [DM_BM_HYPOT] = DM_OP_HYPOT, [DM_BM_XLOGY] = DM_OP_XLOGY,
    [DM_BM_LOGADDEXP] = DM_OP_LOGADDEXP, [DM_BM_LOGADDEXP2] = DM_OP_LOGADDEXP2,
    [DM_BM_COPYSIGN] = DM_OP_COPYSIGN, [DM_BM_FMAX] = DM_OP_FMAX, [DM_BM_FMIN] = DM_OP_FMIN,
    [DM_BM_HEAVISIDE] = DM_OP_NONE,
};

const char *dm_bmath_name(dm_bmath op)
{
    return (int)op >= 0 && op < DM_BM_COUNT ? bm_name[op] : NULL;
}

dm_tensor *dm_bmath_apply(dm_bmath op, const dm_tensor *a, const dm_tensor *b)
{
    if ((int)op < 0 || op >= DM_BM_COUNT) {
        dm_seterr("bmath: unknown op %d", (int)op);
        return NULL;
    }
    const char *fn = bm_name[op];
    if (!a || !b) { dm_seterr("%s: expected two tensors, got NULL", fn); return NULL; }
    if (dm__same_device2(fn, a, b) < 0) return NULL;
    if (op == DM_BM_HEAVISIDE && a->dtype != b->dtype) {
        dm_seterr("heaviside: heaviside is not yet implemented for tensors with different "
                  "dtypes (got %s and %s)", dm_dtype_name(a->dtype), dm_dtype_name(b->dtype));
        return NULL;
    }
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(fn, a, b, shape);
    if (nd < 0) return NULL;
    dm_dtype rt = dm__result_type2(a, b);
    int keeps = op == DM_BM_FMAX || op == DM_BM_FMIN || op == DM_BM_HEAVISIDE;
    if (!dm_is_floating(rt) && (op == DM_BM_HYPOT || op == DM_BM_LOGADDEXP ||
                                op == DM_BM_LOGADDEXP2)) {
        dm_seterr("%s: not implemented for %s tensors", fn, dm_dtype_name(rt));
        return NULL;
    }
    dm_dtype ot = dm_is_floating(rt) ? rt : keeps ? rt : DM_FLOAT32;
    dm_dtype ct = dm_is_floating(ot) ? ot : DM_INT64;
    /* a uint8 result: the other operand converted to uint8 first, as PyTorch casts both to
       the common dtype (as bitwise.c) */
    dm_tensor *wa = NULL, *wb = NULL;
    if (ot == DM_UINT8) {
        if (a->dtype != DM_UINT8 && !(a = wa = dm_to_dtype(a, DM_UINT8))) return NULL;
        if (b->dtype != DM_UINT8 && !(b = wb = dm_to_dtype(b, DM_UINT8))) {
            dm_tensor_release(wa);
            return NULL;
        }
    }
    dm_tensor *ha = NULL, *hb = NULL, *tmp = NULL, *out = dm_tensor_new_dtype(nd, shape, ot);
    const void *pa = out ? dm__flat_broadcast(a, nd, shape, ct, &ha) : NULL;
    const void *pb = pa ? dm__flat_broadcast(b, nd, shape, ct, &hb) : NULL;
    if (pb && ct != ot && !(tmp = dm_tensor_new_dtype(nd, shape, ct))) pb = NULL;
    if (!pb) {
        dm_tensor_release(out);
        out = NULL;
    } else {
        int64_t n = dm__numel(out);
        if (n) dm__kernels(dm__cur_device)->bmath(op, ct, pa, pb, dm__ptr(tmp ? tmp : out), n);
        if (tmp) dm__copy_convert(out, tmp);      /* int64 back to the integer type */
    }
    dm_tensor_release(tmp);
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    if (out && dm_is_floating(ot) && bm_op[op] != DM_OP_NONE &&
        dm__needs_grad(2, (const dm_tensor *const[]){ a, b }) &&
        !dm__record(bm_op[op], op, out, 2, (const dm_tensor *const[]){ a, b })) {
        dm_tensor_release(out);
        out = NULL;
    }
    dm_tensor_release(wa);
    dm_tensor_release(wb);
    return out;
}

/* the gradients at the output's shape in its dtype, each summed back to its input's shape
   and converted to its dtype */
int dm__bw_bmath(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                 dm_tensor **gin)
{
    const dm_tensor *a = n->in[0], *b = n->in[1];
    int need[2] = { a && a->requires_grad, b && b->requires_grad };
    if (!need[0] && !need[1]) return 0;
    if (n->sub < 0 || n->sub >= DM_BM_COUNT) {
        dm_seterr("backward: unknown bmath op %d", n->sub);
        return -1;
    }
    int nd = gout->ndim;
    const int64_t *shape = gout->shape;
    dm_dtype ct = gout->dtype;
    dm_tensor *hg = NULL, *ha = NULL, *hb = NULL, *full[2] = { NULL, NULL };
    const void *pg = dm__contig_as(gout, ct, &hg);
    const void *pa = pg ? dm__flat_broadcast(a, nd, shape, ct, &ha) : NULL;
    const void *pb = pa ? dm__flat_broadcast(b, nd, shape, ct, &hb) : NULL;
    int ok = pb != NULL;
    for (int k = 0; k < 2 && ok; k++)
        if (need[k] && !(full[k] = dm_tensor_new_dtype(nd, shape, ct))) ok = 0;
    if (ok && dm__numel(gout))
        dm__kernels(dm__cur_device)->bmath_bw(n->sub, ct, pg, pa, pb,
                                              full[0] ? dm__ptr(full[0]) : NULL,
                                              full[1] ? dm__ptr(full[1]) : NULL,
                                              dm__numel(gout));
    dm_tensor_release(hg);
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    for (int k = 0; k < 2; k++) {
        if (!full[k]) continue;
        const dm_tensor *in = n->in[k];
        dm_tensor *s = NULL;
        if (ok) {
            int prev = dm_set_grad_enabled(0);
            s = dm_sum_to(full[k], in->ndim, in->shape);
            if (s && s->dtype != in->dtype) {
                dm_tensor *c = dm_to_dtype(s, in->dtype);
                dm_tensor_release(s);
                s = c;
            }
            dm_set_grad_enabled(prev);
        }
        dm_tensor_release(full[k]);
        if (!s) ok = 0;
        gin[k] = s;
    }
    if (!ok) {
        dm_tensor_release(gin[0]); gin[0] = NULL;
        dm_tensor_release(gin[1]); gin[1] = NULL;
        return -1;
    }
    return 0;
}

/* ---- lerp ------------------------------------------------------------------------------
 * start + weight (end - start) through the device's lerp kernel, weight a tensor or a
 * number (a 0-dim tensor of the compute type, rounded to it as PyTorch's scalar is).
 * Types as torch.lerp: floating only; start, end and a tensor weight of one dtype. */

static dm_tensor *lerp_any(const dm_tensor *start, const dm_tensor *end, const dm_tensor *wt,
                           double ws)
{
    const char *fn = "lerp";
    if (!start || !end) { dm_seterr("lerp: expected tensors, got NULL"); return NULL; }
    if (dm__same_device2(fn, start, end) < 0 || (wt && dm__same_device2(fn, start, wt) < 0))
        return NULL;
    dm_dtype dt = start->dtype;
    if (!dm_is_floating(dt)) {
        dm_seterr("lerp: not implemented for %s tensors", dm_dtype_name(dt));
        return NULL;
    }
    if (end->dtype != dt) {
        dm_seterr("lerp: expected dtype %s for `end` but got dtype %s", dm_dtype_name(dt),
                  dm_dtype_name(end->dtype));
        return NULL;
    }
    if (wt && wt->dtype != dt) {
        dm_seterr("lerp: expected dtype %s for `weight` but got dtype %s", dm_dtype_name(dt),
                  dm_dtype_name(wt->dtype));
        return NULL;
    }
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(fn, start, end, shape);
    if (nd < 0) return NULL;
    dm_tensor *w0 = wt ? dm_tensor_retain((dm_tensor *)wt) : dm_tensor_full_dtype(0, NULL, ws, dt);
    if (!w0) return NULL;
    if (wt) {                                  /* the weight broadcast in as well */
        int prev = dm_set_grad_enabled(0);
        dm_tensor *se = dm_expand(start, nd, shape);
        dm_set_grad_enabled(prev);
        nd = se ? dm__broadcast_shape(fn, se, wt, shape) : -1;
        dm_tensor_release(se);
        if (nd < 0) { dm_tensor_release(w0); return NULL; }
    }
    dm_tensor *ha = NULL, *hb = NULL, *hw = NULL, *out = dm_tensor_new_dtype(nd, shape, dt);
    const void *pa = out ? dm__flat_broadcast(start, nd, shape, dt, &ha) : NULL;
    const void *pb = pa ? dm__flat_broadcast(end, nd, shape, dt, &hb) : NULL;
    const void *pw = pb ? dm__flat_broadcast(w0, nd, shape, dt, &hw) : NULL;
    if (pw && dm__numel(out))
        dm__kernels(dm__cur_device)->lerp(dt, pa, pb, pw, dm__ptr(out), dm__numel(out));
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    dm_tensor_release(hw);
    dm_tensor_release(w0);
    if (!pw) { dm_tensor_release(out); return NULL; }
    const dm_tensor *ins[3] = { start, end, wt };
    int nin = wt ? 3 : 2;
    if (dm__needs_grad(nin, ins)) {
        dm_node *node = dm__record(wt ? DM_OP_LERP : DM_OP_LERP_SCALAR, 0, out, nin, ins);
        if (!node) { dm_tensor_release(out); return NULL; }
        if (!wt) node->par = (dm_params){ .scalar.s = ws };
    }
    return out;
}

dm_tensor *dm_lerp(const dm_tensor *start, const dm_tensor *end, const dm_tensor *weight)
{
    if (!weight) { dm_seterr("lerp: expected a weight tensor, got NULL"); return NULL; }
    return lerp_any(start, end, weight, 0);
}

dm_tensor *dm_lerp_scalar(const dm_tensor *start, const dm_tensor *end, double weight)
{
    return lerp_any(start, end, NULL, weight);
}

/* g summed back to x's shape (a new reference; takes g) */
static dm_tensor *to_shape(dm_tensor *g, const dm_tensor *x)
{
    if (!g || dm_same_shape(g, x)) return g;
    dm_tensor *r = dm_sum_to(g, x->ndim, x->shape);
    dm_tensor_release(g);
    return r;
}

/* start: g (1 - w), end: g w, weight: g (end - start), each summed to its input's shape */
int dm__bw_lerp(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                dm_tensor **gin)
{
    int scalar = n->op == DM_OP_LERP_SCALAR;
    const dm_tensor *st = n->in[0], *en = n->in[1], *w = scalar ? NULL : n->in[2];
    int need[3] = { st && st->requires_grad, en && en->requires_grad,
                    w && w->requires_grad };
    double ws = scalar ? n->par.scalar.s : 0;
    dm_tensor *g[3] = { NULL, NULL, NULL };
    int ok = 1;
    if (need[0]) {
        if (scalar) {
            g[0] = dm_binary_scalar_f64(DM_BIN_MUL, gout, 1.0 - ws, 0);
        } else {
            dm_tensor *w1 = dm_binary_scalar_f64(DM_BIN_SUB, w, 1.0, 1);
            g[0] = w1 ? dm_mul(gout, w1) : NULL;
            dm_tensor_release(w1);
        }
        ok = (g[0] = to_shape(g[0], st)) != NULL;
    }
    if (ok && need[1]) {
        g[1] = scalar ? dm_binary_scalar_f64(DM_BIN_MUL, gout, ws, 0) : dm_mul(gout, w);
        ok = (g[1] = to_shape(g[1], en)) != NULL;
    }
    if (ok && need[2]) {
        dm_tensor *d = dm_sub(en, st);
        g[2] = d ? dm_mul(gout, d) : NULL;
        dm_tensor_release(d);
        ok = (g[2] = to_shape(g[2], w)) != NULL;
    }
    if (!ok) {
        for (int k = 0; k < 3; k++) dm_tensor_release(g[k]);
        return -1;
    }
    for (int k = 0; k < 3; k++) gin[k] = g[k];
    return 0;
}

/* ---- in place: the out-of-place result written back (inplace.c's dm__inplace_commit) --- */

int dm_bmath_(dm_bmath op, dm_tensor *t, const dm_tensor *o)
{
    static const char *const names[DM_BM_COUNT] = {
        [DM_BM_ATAN2] = "atan2_", [DM_BM_HYPOT] = "hypot_", [DM_BM_XLOGY] = "xlogy_",
        [DM_BM_COPYSIGN] = "copysign_", [DM_BM_HEAVISIDE] = "heaviside_",
    };
    if ((int)op < 0 || op >= DM_BM_COUNT || !names[op]) {
        dm_seterr("bmath_: no in-place form of op %d", (int)op);
        return -1;
    }
    if (!t || !o) { dm_seterr("%s: expected two tensors, got NULL", names[op]); return -1; }
    if (dm__check_overlap(names[op], t) || dm__check_inplace(names[op], t)) return -1;
    return dm__inplace_commit(names[op], t, dm_bmath_apply(op, t, o));
}

int dm_lerp_(dm_tensor *t, const dm_tensor *end, const dm_tensor *weight, double ws)
{
    if (!t || !end) { dm_seterr("lerp_: expected tensors, got NULL"); return -1; }
    if (dm__check_overlap("lerp_", t) || dm__check_inplace("lerp_", t)) return -1;
    return dm__inplace_commit("lerp_", t, weight ? dm_lerp(t, end, weight)
                                                 : dm_lerp_scalar(t, end, ws));
}

int dm_float_power_(dm_tensor *t, const dm_tensor *o, double s)
{
    if (!t) { dm_seterr("float_power_: expected a tensor, got NULL"); return -1; }
    if (t->dtype != DM_FLOAT64) {
        dm_seterr("float_power_: the base given to float_power_ has dtype %s but the "
                  "operation's result requires dtype float64", dm_dtype_name(t->dtype));
        return -1;
    }
    if (dm__check_overlap("float_power_", t) || dm__check_inplace("float_power_", t)) return -1;
    dm_tensor *o64 = o ? dm_to_dtype(o, DM_FLOAT64) : NULL;
    if (o && !o64) return -1;
    dm_tensor *r = o ? dm_pow(t, o64) : dm_binary_scalar_f64(DM_BIN_POW, t, s, 0);
    dm_tensor_release(o64);
    return dm__inplace_commit("float_power_", t, r);
}
