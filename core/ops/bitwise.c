/* bitwise.c -- bitwise and logical ops, floor_divide, remainder and fmod (broadcasting, with
 * torch.result_type's promotion), and the gradients of remainder, fmod and floor_divide.
 *
 * Operands are broadcast to the result's shape and read as flat arrays of the compute type
 * (dm__contig_as of an expanded view), and the device's kernels (backend.h: binop2, unop2,
 * divmod_bw; backend/cpu/bitwise.c, ref/bitwise.c) loop over them.  Integer results are
 * computed in int64 and converted back (uint8 wraps as PyTorch's); floating ones in their
 * own type, with PyTorch's formulas (c10's div_floor_floating, remainder's sign fix).
 *
 * Nodes: REMAINDER, FMOD, FLOOR_DIVIDE record {a, b} (either may not need grad). */
#include "internal.h"
#include "backend.h"

static const char *const b2_name[] = {
    [DM_B2_BITWISE_AND] = "bitwise_and", [DM_B2_BITWISE_OR] = "bitwise_or",
    [DM_B2_BITWISE_XOR] = "bitwise_xor", [DM_B2_LOGICAL_AND] = "logical_and",
    [DM_B2_LOGICAL_OR] = "logical_or", [DM_B2_LOGICAL_XOR] = "logical_xor",
    [DM_B2_FLOOR_DIVIDE] = "floor_divide", [DM_B2_REMAINDER] = "remainder",
    [DM_B2_FMOD] = "fmod",
};

/* t broadcast to (nd, shape) as a flat array of dt; *hold to release */
const void *dm__flat_broadcast(const dm_tensor *t, int nd, const int64_t *shape, dm_dtype dt,
                               dm_tensor **hold)
{
    int prev = dm_set_grad_enabled(0);
    dm_tensor *e = dm_expand(t, nd, shape);
    dm_set_grad_enabled(prev);
    if (!e) return NULL;
    dm_tensor *h = NULL;
    const void *p = dm__contig_as(e, dt, &h);
    if (p && !h) h = dm_tensor_retain(e);
    dm_tensor_release(e);
    *hold = h;
    return p;
}

dm_tensor *dm_binop2_apply(dm_binop2 op, const dm_tensor *a, const dm_tensor *b)
{
    if ((int)op < 0 || op >= DM_B2_COUNT) {
        dm_seterr("binop2: unknown op %d", (int)op);
        return NULL;
    }
    const char *fn = b2_name[op];
    if (!a || !b) { dm_seterr("%s: expected two tensors, got NULL", fn); return NULL; }
    if (dm__same_device2(fn, a, b) < 0) return NULL;
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(fn, a, b, shape);
    if (nd < 0) return NULL;
    dm_dtype rt = dm__result_type2(a, b);
    int bitwise = op <= DM_B2_BITWISE_XOR, logical = op >= DM_B2_LOGICAL_AND &&
                  op <= DM_B2_LOGICAL_XOR;
    if (bitwise && dm_is_floating(rt)) {
        dm_seterr("%s: not implemented for %s tensors (bitwise ops take integer and bool "
                  "tensors)", fn, dm_dtype_name(rt));
        return NULL;
    }
    if (!bitwise && !logical && rt == DM_BOOL) {
        dm_seterr("%s: not implemented for bool tensors", fn);
        return NULL;
    }
    dm_dtype ct = logical ? DM_FLOAT64 : dm_is_floating(rt) ? rt : DM_INT64;
    dm_dtype ot = logical ? DM_BOOL : rt;
    /* a uint8 result: the other operand converted to uint8 first, as PyTorch casts both to
       the common dtype (uint8 // -3 divides by 253, 300 % uint8 takes 44) */
    dm_tensor *wa = NULL, *wb = NULL;
    if (!logical && rt == DM_UINT8) {
        if (a->dtype != DM_UINT8 && !(a = wa = dm_to_dtype(a, DM_UINT8))) return NULL;
        if (b->dtype != DM_UINT8 && !(b = wb = dm_to_dtype(b, DM_UINT8))) {
            dm_tensor_release(wa);
            return NULL;
        }
    }
    dm_tensor *ha = NULL, *hb = NULL, *out = dm_tensor_new_dtype(nd, shape, ot);
    const void *pa = out ? dm__flat_broadcast(a, nd, shape, ct, &ha) : NULL;
    const void *pb = pa ? dm__flat_broadcast(b, nd, shape, ct, &hb) : NULL;
    if (!pb) goto fail;
    int64_t n = dm__numel(out);
    /* integers computed in int64 and converted back (uint8 wraps as PyTorch's) */
    dm_tensor *tmp = ct == DM_INT64 && ot != DM_INT64 ? dm_tensor_new_dtype(nd, shape, DM_INT64)
                                                       : NULL;
    if (ct == DM_INT64 && ot != DM_INT64 && !tmp) goto fail;
    if (dm__kernels(dm__cur_device)->binop2(op, ct, pa, pb, dm__ptr(tmp ? tmp : out), n) < 0) {
        dm_tensor_release(tmp);
        dm_seterr("%s: integer division by zero", fn);
        goto fail;
    }
    if (tmp) {
        dm__copy_convert(out, tmp);
        dm_tensor_release(tmp);
    }
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    dm_tensor_release(wa);
    dm_tensor_release(wb);
    if (dm_is_floating(ot) && dm__needs_grad(2, (const dm_tensor *const[]){ a, b })) {
        dm_op nop = op == DM_B2_REMAINDER ? DM_OP_REMAINDER : op == DM_B2_FMOD ? DM_OP_FMOD
                    : DM_OP_FLOOR_DIVIDE;
        if (!dm__record(nop, 0, out, 2, (const dm_tensor *const[]){ a, b })) {
            dm_tensor_release(out);
            return NULL;
        }
    }
    return out;
fail:
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    dm_tensor_release(wa);
    dm_tensor_release(wb);
    dm_tensor_release(out);
    return NULL;
}

dm_tensor *dm_unop2_apply(int logical, const dm_tensor *x)
{
    const char *fn = logical ? "logical_not" : "bitwise_not";
    dm__device_of(x);
    if (!logical && dm_is_floating(x->dtype)) {
        dm_seterr("%s: not implemented for %s tensors (bitwise ops take integer and bool "
                  "tensors)", fn, dm_dtype_name(x->dtype));
        return NULL;
    }
    if (logical || x->dtype == DM_BOOL) {
        dm_tensor *hold = NULL;
        const double *v = dm__contig_as(x, DM_FLOAT64, &hold);
        dm_tensor *out = v ? dm_tensor_new_dtype(x->ndim, x->shape, DM_BOOL) : NULL;
        if (out) dm__kernels(dm__cur_device)->unop2(1, v, dm__ptr(out), dm__numel(x));
        dm_tensor_release(hold);
        return out;
    }
    dm_tensor *hold = NULL;
    const int64_t *v = dm__contig_as(x, DM_INT64, &hold);
    dm_tensor *out = v ? dm_tensor_new_dtype(x->ndim, x->shape, DM_INT64) : NULL;
    if (out) dm__kernels(dm__cur_device)->unop2(0, v, dm__ptr(out), dm__numel(x));
    dm_tensor_release(hold);
    if (!out || x->dtype == DM_INT64) return out;
    dm_tensor *c = dm_to_dtype(out, x->dtype);         /* uint8: ~1 = 254 */
    dm_tensor_release(out);
    return c;
}

/* remainder: da = g, db = -g floor(a / b); fmod: the same with trunc; floor_divide: 0.
   Each summed back to its input's shape. */
int dm__bw_divmod(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                  dm_tensor **gin)
{
    dm_tensor *a = n->in[0], *b = n->in[1];
    int need_a = a && a->requires_grad, need_b = b && b->requires_grad;
    int64_t shape[DM_MAX_DIMS];
    int nd = gout->ndim;
    memcpy(shape, gout->shape, sizeof shape);
    int64_t cnt = dm__numel(gout);
    dm_tensor *hg = NULL, *ha = NULL, *hb = NULL, *full = NULL;
    const double *g = dm__contig_as(gout, DM_FLOAT64, &hg);
    if (!g) return -1;
    for (int k = 0; k < 2; k++) {
        dm_tensor *in = n->in[k];
        if (!(k ? need_b : need_a)) continue;
        if (n->op == DM_OP_FLOOR_DIVIDE) {
            full = dm_tensor_zeros_dtype(nd, shape, DM_FLOAT64);
        } else if (k == 0) {
            full = dm_tensor_retain(hg ? hg : (dm_tensor *)gout);   /* g itself, float64 */
        } else {
            const double *pa = dm__flat_broadcast(a, nd, shape, DM_FLOAT64, &ha);
            const double *pb = pa ? dm__flat_broadcast(b, nd, shape, DM_FLOAT64, &hb) : NULL;
            full = pb ? dm_tensor_new_dtype(nd, shape, DM_FLOAT64) : NULL;
            if (full)
                dm__kernels(dm__cur_device)->divmod_bw(n->op == DM_OP_FMOD, g, pa, pb,
                                                       dm__ptr(full), cnt);
        }
        if (!full) goto fail;
        int prev = dm_set_grad_enabled(0);
        dm_tensor *s = dm_sum_to(full, in->ndim, in->shape);
        dm_set_grad_enabled(prev);
        dm_tensor_release(full);
        full = NULL;
        if (!s) goto fail;
        if (s->dtype != in->dtype) {
            dm_tensor *c = dm_to_dtype(s, in->dtype);
            dm_tensor_release(s);
            if (!(s = c)) goto fail;
        }
        gin[k] = s;
    }
    dm_tensor_release(hg);
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    return 0;
fail:
    dm_tensor_release(full);
    dm_tensor_release(hg);
    dm_tensor_release(ha);
    dm_tensor_release(hb);
    dm_tensor_release(gin[0]);
    gin[0] = NULL;
    return -1;
}
