/* pad.c -- PyTorch 1.13's F.pad(input, pad, mode, value): constant (any dims, negative pads
 * crop), reflect, replicate and circular (the last 1..3 dims of a [N x] C x ... input).
 *
 * One node, DM_OP_PAD (sub: the mode + 4 x the dims padded, 1..3, for the modes but constant).  Every output element comes from one input element
 * (or the fill value), so the forward is a gather through a per-dim source map and the
 * backward a scatter-add of the gradient into the source positions (float32, float64): the
 * kernels pad and pad_bw of the device's table (core/backend/{cpu,ref}/pad.c). */
#include "internal.h"
#include <stdio.h>
#include <stdint.h>
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

static const char *const mode_names[] = { "constant", "reflect", "replicate", "circular" };

dm_tensor *dm_pad(const dm_tensor *x, int npad, const int64_t *pad, int mode, double value)
{
    char b1[96];
    int nd = x->ndim;
    if (mode < DM_PAD_CONSTANT || mode > DM_PAD_CIRCULAR) {
        dm_seterr("pad: unknown mode %d (expected constant, reflect, replicate or circular)",
                  mode);
        return NULL;
    }
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("pad: expected a float32 or float64 input, got %s", dm_dtype_name(x->dtype));
        return NULL;
    }
    if (npad < 0 || npad % 2) {
        dm_seterr("pad: padding length must be divisible by 2, got %d values", npad);
        return NULL;
    }
    int k = npad / 2;
    if (k > nd) {
        dm_seterr("pad: padding length too large: %d values pad %d dims, but the input %s has "
                  "%d", npad, k, SHAPE(x, b1), nd);
        return NULL;
    }
    if (mode != DM_PAD_CONSTANT) {
        if (k < 1 || k > 3 || nd < k + 1 || nd > k + 2) {
            dm_seterr("pad: %s padding takes 2, 4 or 6 values for the last 1, 2 or 3 dims of a "
                      "%dD or %dD input (batch and channels first), got %d values and input %s",
                      mode_names[mode], k + 1, k + 2, npad, SHAPE(x, b1));
            return NULL;
        }
        if (value != 0) {
            dm_seterr("pad: padding mode \"%s\" doesn't take in value argument (got %g)",
                      mode_names[mode], value);
            return NULL;
        }
    }
    int32_t lo[DM_MAX_DIMS] = {0};
    int64_t oshape[DM_MAX_DIMS];
    for (int d = 0; d < nd; d++) oshape[d] = x->shape[d];
    for (int j = 0; j < k; j++) {
        int d = nd - 1 - j;
        int64_t l = pad[2 * j], r = pad[2 * j + 1], n = x->shape[d];
        if (l < -INT32_MAX || l > INT32_MAX || r < -INT32_MAX || r > INT32_MAX) {
            dm_seterr("pad: padding (%lld, %lld) at dimension %d of input %s is too large",
                      (long long)l, (long long)r, d + 1, SHAPE(x, b1));
            return NULL;
        }
        if (mode == DM_PAD_REFLECT && (l >= n || r >= n)) {
            dm_seterr("pad: padding size %lld should be less than the corresponding input "
                      "dimension, but got padding (%lld, %lld) at dimension %d of input %s",
                      (long long)(l >= n ? l : r), (long long)l, (long long)r, d + 1,
                      SHAPE(x, b1));
            return NULL;
        }
        if (mode == DM_PAD_CIRCULAR && (l > n || r > n)) {
            dm_seterr("pad: circular padding %lld wraps around more than once: padding (%lld, "
                      "%lld) at dimension %d of input %s", (long long)(l > n ? l : r),
                      (long long)l, (long long)r, d + 1, SHAPE(x, b1));
            return NULL;
        }
        if (mode != DM_PAD_CONSTANT && n == 0) {
            dm_seterr("pad: %s padding needs a non-empty dimension %d, got input %s",
                      mode_names[mode], d + 1, SHAPE(x, b1));
            return NULL;
        }
        int64_t kept = n - (l < 0 ? -l : 0) - (r < 0 ? -r : 0);
        if (mode == DM_PAD_CIRCULAR && kept < 1) {
            dm_seterr("pad: circular padding (%lld, %lld) at dimension %d of input %s crops "
                      "the whole dimension", (long long)l, (long long)r, d + 1, SHAPE(x, b1));
            return NULL;
        }
        if (n + l + r < 0 || (mode != DM_PAD_CONSTANT && n + l + r < 1)) {
            dm_seterr("pad: padding (%lld, %lld) at dimension %d of input %s leaves size %lld",
                      (long long)l, (long long)r, d + 1, SHAPE(x, b1), (long long)(n + l + r));
            return NULL;
        }
        lo[d] = (int32_t)l;
        oshape[d] = n + l + r;
    }
    dm__device_of(x);
    dm_tensor *c = dm__contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, oshape, x->dtype);
    if (!out) { dm_tensor_release(c); return NULL; }
    if (DEV->pad(x->dtype, nd, x->shape, oshape, lo, mode, value, dm__ptr(c), dm__ptr(out))) {
        dm_tensor_release(c); dm_tensor_release(out);
        return NULL;
    }
    dm_tensor_release(c);
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(DM_OP_PAD, mode + 4 * (mode == DM_PAD_CONSTANT ? 0 : k), out, 1, &x);
        if (!n) { dm_tensor_release(out); return NULL; }
        for (int d = 0; d < nd; d++) n->par.pad.lo[d] = lo[d];
    }
    return out;
}

int dm__bw_pad(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    int nd = n->in_ndim;
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(nd, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    if (DEV->pad_bw(g->dtype, nd, n->in_shape, gc->shape, n->par.pad.lo, n->sub % 4,
                    dm__ptr(gc), dm__ptr(r))) {
        dm_tensor_release(gc); dm_tensor_release(r);
        return -1;
    }
    dm_tensor_release(gc);
    gin[0] = r;
    return 0;
}
