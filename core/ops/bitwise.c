/* bitwise.c -- bitwise and logical ops, floor_divide, remainder and fmod (broadcasting, with
 * torch.result_type's promotion), and the gradients of remainder, fmod and floor_divide.
 *
 * Operands are broadcast to the result's shape and read as flat arrays of the compute type
 * (dm__contig_as of an expanded view), so every kernel is one plain loop.  Integer results
 * are computed in int64 and converted back (uint8 wraps as PyTorch's); floating ones in
 * their own type, with PyTorch's formulas (c10's div_floor_floating, remainder's sign fix).
 *
 * Nodes: REMAINDER, FMOD, FLOOR_DIVIDE record {a, b} (either may not need grad). */
#include "internal.h"

static const char *const b2_name[] = {
    [DM_B2_BITWISE_AND] = "bitwise_and", [DM_B2_BITWISE_OR] = "bitwise_or",
    [DM_B2_BITWISE_XOR] = "bitwise_xor", [DM_B2_LOGICAL_AND] = "logical_and",
    [DM_B2_LOGICAL_OR] = "logical_or", [DM_B2_LOGICAL_XOR] = "logical_xor",
    [DM_B2_FLOOR_DIVIDE] = "floor_divide", [DM_B2_REMAINDER] = "remainder",
    [DM_B2_FMOD] = "fmod",
};

/* torch.result_type of two tensors: a 0-dim one promotes one with dims only from a higher
   category (bool < integer < floating), or when that one is bool (as elementwise.c) */
static dm_dtype combine(dm_dtype hi, dm_dtype lo)
{
    if (dm_is_floating(hi)) return hi;
    if (hi == DM_BOOL || dm_is_floating(lo)) return dm_promote_types(hi, lo);
    return hi;
}
static dm_dtype result_type(const dm_tensor *a, const dm_tensor *b)
{
    if ((a->ndim == 0) == (b->ndim == 0)) return dm_promote_types(a->dtype, b->dtype);
    return a->ndim ? combine(a->dtype, b->dtype) : combine(b->dtype, a->dtype);
}

/* t broadcast to (nd, shape) as a flat array of dt; *hold to release */
static const void *flat(const dm_tensor *t, int nd, const int64_t *shape, dm_dtype dt,
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

/* c10's div_floor_floating: floor(a / b) computed from fmod so that a == b q + r exactly */
#define DIV_FLOOR(T, FMOD, FLOOR, a, b, out) do {                               \
        T a_ = (a), b_ = (b);                                                   \
        if (b_ == 0) { out = a_ / b_; break; }                                  \
        T mod_ = FMOD(a_, b_), div_ = (a_ - mod_) / b_;                          \
        if (mod_ != 0 && (b_ < 0) != (mod_ < 0)) div_ -= 1;                     \
        T fl_;                                                                  \
        if (div_ != 0) { fl_ = FLOOR(div_); if (div_ - fl_ > (T)0.5) fl_ += 1; } \
        else fl_ = copysign((T)0, a_ / b_);                                     \
        out = fl_;                                                              \
    } while (0)

static void arith_f64(dm_binop2 op, const double *a, const double *b, double *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double r;
        if (op == DM_B2_FLOOR_DIVIDE) DIV_FLOOR(double, fmod, floor, a[i], b[i], r);
        else {
            r = fmod(a[i], b[i]);
            if (op == DM_B2_REMAINDER && r != 0 && (b[i] < 0) != (r < 0)) r += b[i];
        }
        y[i] = r;
    }
}

static void arith_f32(dm_binop2 op, const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float r;
        if (op == DM_B2_FLOOR_DIVIDE) DIV_FLOOR(float, fmodf, floorf, a[i], b[i], r);
        else {
            r = fmodf(a[i], b[i]);
            if (op == DM_B2_REMAINDER && r != 0 && (b[i] < 0) != (r < 0)) r += b[i];
        }
        y[i] = r;
    }
}

/* integers: b == 0 refused before; INT64_MIN by -1 wraps (PyTorch traps) */
static void arith_i64(dm_binop2 op, const int64_t *a, const int64_t *b, int64_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t x = a[i], d = b[i], q, r;
        if (d == -1) { q = (int64_t)(0 - (uint64_t)x); r = 0; }
        else { q = x / d; r = x % d; }
        if (op == DM_B2_FLOOR_DIVIDE) y[i] = (r != 0 && ((r < 0) != (d < 0))) ? q - 1 : q;
        else if (op == DM_B2_REMAINDER) y[i] = (r != 0 && ((r < 0) != (d < 0))) ? r + d : r;
        else y[i] = r;
    }
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
    dm_dtype rt = result_type(a, b);
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
    dm_tensor *ha = NULL, *hb = NULL, *out = dm_tensor_new_dtype(nd, shape, ot);
    const void *pa = out ? flat(a, nd, shape, ct, &ha) : NULL;
    const void *pb = pa ? flat(b, nd, shape, ct, &hb) : NULL;
    if (!pb) goto fail;
    int64_t n = dm__numel(out);
    if (logical) {
        const double *x = pa, *z = pb;
        uint8_t *y = dm__ptr(out);
        for (int64_t i = 0; i < n; i++) {
            int p = x[i] != 0, q = z[i] != 0;
            y[i] = (uint8_t)(op == DM_B2_LOGICAL_AND ? p && q : op == DM_B2_LOGICAL_OR ? p || q
                             : p != q);
        }
    } else if (ct == DM_INT64) {
        const int64_t *x = pa, *z = pb;
        dm_tensor *tmp = ot == DM_INT64 ? NULL : dm_tensor_new_dtype(nd, shape, DM_INT64);
        if (ot != DM_INT64 && !tmp) goto fail;
        int64_t *y = dm__ptr(tmp ? tmp : out);
        if (bitwise) {
            for (int64_t i = 0; i < n; i++)
                y[i] = op == DM_B2_BITWISE_AND ? x[i] & z[i] : op == DM_B2_BITWISE_OR
                       ? x[i] | z[i] : x[i] ^ z[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                if (z[i] == 0) {
                    dm_tensor_release(tmp);
                    dm_seterr("%s: integer division by zero", fn);
                    goto fail;
                }
            arith_i64(op, x, z, y, n);
        }
        if (tmp) {
            dm__copy_convert(out, tmp);
            dm_tensor_release(tmp);
        }
    } else if (ct == DM_FLOAT32) {
        arith_f32(op, pa, pb, dm__ptr(out), n);
    } else {
        arith_f64(op, pa, pb, dm__ptr(out), n);
    }
    dm_tensor_release(ha);
    dm_tensor_release(hb);
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
        if (out) {
            uint8_t *y = dm__ptr(out);
            for (int64_t i = 0, n = dm__numel(x); i < n; i++) y[i] = v[i] == 0;
        }
        dm_tensor_release(hold);
        return out;
    }
    dm_tensor *hold = NULL;
    const int64_t *v = dm__contig_as(x, DM_INT64, &hold);
    dm_tensor *out = v ? dm_tensor_new_dtype(x->ndim, x->shape, DM_INT64) : NULL;
    if (out) {
        int64_t *y = dm__ptr(out);
        for (int64_t i = 0, n = dm__numel(x); i < n; i++) y[i] = ~v[i];
    }
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
        full = dm_tensor_new_dtype(nd, shape, DM_FLOAT64);
        if (!full) goto fail;
        double *y = dm__ptr(full);
        if (n->op == DM_OP_FLOOR_DIVIDE) {
            memset(y, 0, (size_t)cnt * sizeof *y);
        } else if (k == 0) {
            memcpy(y, g, (size_t)cnt * sizeof *y);
        } else {
            const double *pa = flat(a, nd, shape, DM_FLOAT64, &ha);
            const double *pb = pa ? flat(b, nd, shape, DM_FLOAT64, &hb) : NULL;
            if (!pb) goto fail;
            for (int64_t i = 0; i < cnt; i++) {
                double q;
                if (n->op == DM_OP_REMAINDER) DIV_FLOOR(double, fmod, floor, pa[i], pb[i], q);
                else q = trunc(pa[i] / pb[i]);
                y[i] = -g[i] * q;
            }
        }
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
