/* conv.c -- PyTorch 1.13's conv1d, conv2d and conv_transpose2d (zero padding, symmetric).
 *
 * One node, DM_OP_CONV (sub 0: convolution, 1: transposed convolution).  Both sides of a
 * convolution are named here by their geometry (dm_conv_geom, backend/backend.h): the "big"
 * side is the convolution's input [Cb x Hb x Wb] (x for conv2d, the output for
 * conv_transpose2d), the "small" side its output [R x Hs x Ws]; w is [R x Cb/G x kh x kw] in
 * both cases.  Three primitives then serve the forward and backward of both ops, each an entry
 * of the device's kernel table:
 *   small = W @ im2col(big)           conv forward, transposed conv's grad input
 *   big   = col2im(W^T @ small)       conv's grad input, transposed conv forward
 *   gw   += small @ im2col(big)^T     both ops' grad weight
 * and the bias gradient a fourth.  This file checks the arguments, computes the shapes and the
 * geometry, records the node and calls them; the loops are backend/cpu/conv.c's (batched
 * im2col and gemm, the direct small-channel kernels, the per-thread workspace) and
 * backend/ref/conv.c's (the defining sums, in double).
 * tests/c/test_backend_ops.c compares the two (cpu against cpu:ref) on every conv case. */
#include "internal.h"
#include "backend/backend.h"
#include <stdint.h>
#include <string.h>

typedef dm_conv_geom geom;

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

#ifdef DM_CONV_PROFILE      /* the timers of backend/cpu/conv.c (BENCHMARKS.md's breakdown) */
double dm__prof_now(void);
void dm__prof_add(int k, double t);
#endif

/* out [N x C x H x W] (+)= b[c] */
static const char *op_name(int sp, int transposed)
{
    return transposed ? "conv_transpose2d" : sp == 1 ? "conv1d" : "conv2d";
}

/* the geometry of a node or call: x and w shapes, the params; sp spatial dims (1 or 2) */
static void fill_geom(geom *g, int transposed, int sp, const int64_t *xs, int xnd,
                      const int64_t *ws, const int32_t *st, const int32_t *pd, const int32_t *dl,
                      int64_t groups, const int64_t *ys)
{
    int batched = xnd == sp + 2;
    int64_t xsh[4], ysh[4], wsh[4];
    /* [N x C x H x W] views of x, y and w, 1d as H = 1 */
    xsh[0] = batched ? xs[0] : 1; ysh[0] = xsh[0];
    xsh[1] = xs[batched]; ysh[1] = ys[batched];
    xsh[2] = sp == 2 ? xs[batched + 1] : 1; ysh[2] = sp == 2 ? ys[batched + 1] : 1;
    xsh[3] = xs[xnd - 1]; ysh[3] = ys[xnd - 1];
    wsh[0] = ws[0]; wsh[1] = ws[1]; wsh[2] = sp == 2 ? ws[2] : 1; wsh[3] = ws[sp + 1];
    const int64_t *big = transposed ? ysh : xsh, *small = transposed ? xsh : ysh;
    g->N = xsh[0];
    g->Cb = big[1]; g->Hb = big[2]; g->Wb = big[3];
    g->R = small[1]; g->Hs = small[2]; g->Ws = small[3];
    g->kh = wsh[2]; g->kw = wsh[3];
    g->sh = sp == 2 ? st[0] : 1; g->sw = st[sp - 1];
    g->ph = sp == 2 ? pd[0] : 0; g->pw = pd[sp - 1];
    g->dh = sp == 2 ? dl[0] : 1; g->dw = dl[sp - 1];
    g->G = groups;
}

static dm_tensor *conv_common(int transposed, int sp, const dm_tensor *x, const dm_tensor *w,
                              const dm_tensor *b, const int64_t *stride, const int64_t *padding,
                              const int64_t *outpad, const int64_t *dilation, int64_t groups)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    const char *fn = op_name(sp, transposed);
    const dm_tensor *ins[3] = { x, w, b };
    if (dm__same_device(fn, 3, ins) < 0) return NULL;
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 input, got %s", fn,
                  dm_dtype_name(x->dtype));
        return NULL;
    }
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype)) {
        dm_seterr("%s: expected input, weight and bias of one dtype, got input %s, weight %s%s%s",
                  fn, dm_dtype_name(x->dtype), dm_dtype_name(w->dtype), b ? ", bias " : "",
                  b ? dm_dtype_name(b->dtype) : "");
        return NULL;
    }
    if (w->ndim != sp + 2) {
        dm_seterr("%s: expected a %d-dim weight, got weight %s", fn, sp + 2, SHAPE(w, b1));
        return NULL;
    }
    if (x->ndim != sp + 1 && x->ndim != sp + 2) {
        dm_seterr("%s: expected a %dD (unbatched) or %dD (batched) input, got input %s", fn,
                  sp + 1, sp + 2, SHAPE(x, b1));
        return NULL;
    }
    if (groups < 1 || groups > INT32_MAX) {
        dm_seterr("%s: groups must be positive, got %lld", fn, (long long)groups);
        return NULL;
    }
    for (int i = 0; i < sp; i++) {
        if (stride[i] < 1 || stride[i] > INT32_MAX || dilation[i] < 1 ||
            dilation[i] > INT32_MAX) {
            dm_seterr("%s: stride and dilation must be positive, got stride %lld, dilation "
                      "%lld", fn, (long long)stride[i], (long long)dilation[i]);
            return NULL;
        }
        if (padding[i] < 0 || padding[i] > INT32_MAX) {
            dm_seterr("%s: padding must be non-negative, got %lld", fn, (long long)padding[i]);
            return NULL;
        }
        if (outpad && (outpad[i] < 0 || (outpad[i] >= stride[i] && outpad[i] >= dilation[i]))) {
            dm_seterr("%s: output padding must be smaller than either stride or dilation, got "
                      "output_padding %lld, stride %lld, dilation %lld", fn,
                      (long long)outpad[i], (long long)stride[i], (long long)dilation[i]);
            return NULL;
        }
    }
    int batched = x->ndim == sp + 2;
    int64_t C = x->shape[batched];
    int64_t wc = transposed ? w->shape[0] : w->shape[1] * groups;
    int64_t cout = transposed ? w->shape[1] * groups : w->shape[0];
    if (transposed ? w->shape[0] % groups : w->shape[0] % groups) {
        dm_seterr("%s: %s (%lld) must be divisible by groups (%lld), got weight %s", fn,
                  transposed ? "in_channels" : "out_channels", (long long)w->shape[0],
                  (long long)groups, SHAPE(w, b1));
        return NULL;
    }
    if (C != wc) {
        dm_seterr("%s: expected input with %lld channels (weight %s, groups %lld), got input %s",
                  fn, (long long)wc, SHAPE(w, b1), (long long)groups, SHAPE(x, b2));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != cout)) {
        dm_seterr("%s: expected bias [%lld], got bias %s", fn, (long long)cout, SHAPE(b, b1));
        return NULL;
    }
    int64_t ys[4];
    for (int d = 0; d < x->ndim; d++) ys[d] = x->shape[d];
    ys[batched] = cout;
    for (int i = 0; i < sp; i++) {
        int64_t in = x->shape[batched + 1 + i], k = w->shape[2 + i];
        int64_t ek = dilation[i] * (k - 1) + 1, o;
        if (transposed) {
            o = (in - 1) * stride[i] - 2 * padding[i] + ek + outpad[i];
        } else {
            if (in + 2 * padding[i] < ek) {
                dm_seterr("%s: kernel size %lld (dilated %lld) can't be greater than the padded "
                          "input size %lld, got input %s, weight %s", fn, (long long)k,
                          (long long)ek, (long long)(in + 2 * padding[i]), SHAPE(x, b1),
                          SHAPE(w, b2));
                return NULL;
            }
            o = (in + 2 * padding[i] - ek) / stride[i] + 1;
        }
        if (o < 1) {
            dm_seterr("%s: output size is too small: %lld, got input %s, weight %s", fn,
                      (long long)o, SHAPE(x, b1), SHAPE(w, b2));
            return NULL;
        }
        ys[batched + 1 + i] = o;
    }
    int32_t st[2], pd[2], dl[2];
    for (int i = 0; i < sp; i++) {
        st[i] = (int32_t)stride[i]; pd[i] = (int32_t)padding[i]; dl[i] = (int32_t)dilation[i];
    }
    geom g;
    fill_geom(&g, transposed, sp, x->shape, x->ndim, w->shape, st, pd, dl, groups, ys);
    dm_tensor *xc = dm__contig_nograd(x), *wc_ = xc ? dm__contig_nograd(w) : NULL;
    dm_tensor *bc = wc_ && b ? dm__contig_nograd(b) : NULL;
    dm_tensor *y = wc_ && (bc || !b) ? dm_tensor_new_dtype(x->ndim, ys, x->dtype) : NULL;
    int rc = -1;
#ifdef DM_CONV_PROFILE
    double tf0 = dm__prof_now();
#endif
    if (y) {
        const dm_kernels *K = dm__kernels(dm__cur_device);
        const void *bp = bc ? dm__ptr(bc) : NULL;
        rc = transposed ? K->conv_small_to_big(x->dtype, &g, dm__ptr(xc), dm__ptr(wc_), bp,
                                               dm__ptr(y))
                        : K->conv_big_to_small(x->dtype, &g, dm__ptr(xc), dm__ptr(wc_), bp,
                                               dm__ptr(y));
    }
#ifdef DM_CONV_PROFILE
    dm__prof_add(6, dm__prof_now() - tf0);
#endif
    if (xc) dm_tensor_release(xc);
    if (wc_) dm_tensor_release(wc_);
    if (bc) dm_tensor_release(bc);
    if (rc) { if (y) dm_tensor_release(y); return NULL; }
    if (dm__needs_grad(3, ins)) {
        dm_node *n = dm__record(DM_OP_CONV, transposed, y, 3, ins);
        if (!n) { dm_tensor_release(y); return NULL; }
        for (int i = 0; i < 2; i++) {
            n->par.conv.stride[i] = i < sp ? st[i] : 1;
            n->par.conv.pad[i] = i < sp ? pd[i] : 0;
            n->par.conv.dil[i] = i < sp ? dl[i] : 1;
        }
        n->par.conv.groups = (int32_t)groups;
        n->par.conv.sp = sp;
    }
    return y;
}

dm_tensor *dm_conv2d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                     const int64_t stride[2], const int64_t padding[2],
                     const int64_t dilation[2], int64_t groups)
{
    return conv_common(0, 2, x, w, b, stride, padding, NULL, dilation, groups);
}

dm_tensor *dm_conv1d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                     const int64_t stride[1], const int64_t padding[1],
                     const int64_t dilation[1], int64_t groups)
{
    return conv_common(0, 1, x, w, b, stride, padding, NULL, dilation, groups);
}

dm_tensor *dm_conv_transpose2d(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b,
                               const int64_t stride[2], const int64_t padding[2],
                               const int64_t output_padding[2], const int64_t dilation[2],
                               int64_t groups)
{
    return conv_common(1, 2, x, w, b, stride, padding, output_padding, dilation, groups);
}

int dm__bw_conv(dm_bwctx *ctx, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int transposed = n->sub, sp = n->par.conv.sp;
    dm_dtype dt = x->dtype;
#ifdef DM_CONV_PROFILE
    double tb0 = dm__prof_now();
#endif
    dm_tensor *gc = dm__contig_nograd(gout);
    if (!gc) return -1;
    geom g;
    fill_geom(&g, transposed, sp, x->shape, x->ndim, w->shape, n->par.conv.stride,
              n->par.conv.pad, n->par.conv.dil, n->par.conv.groups, gc->shape);
    dm_tensor *xc = NULL, *wc = NULL;
    int rc = -1;
    const dm_kernels *K = dm__kernels(dm__cur_device);
    if (!(xc = dm__contig_nograd(x)) || !(wc = dm__contig_nograd(w))) goto done;
    if (x->requires_grad) {
        dm_tensor *gx = dm_tensor_new_dtype(x->ndim, x->shape, dt);
        if (!gx) goto done;
        int r = transposed ? K->conv_big_to_small(dt, &g, dm__ptr(gc), dm__ptr(wc), NULL,
                                                  dm__ptr(gx))
                           : K->conv_small_to_big(dt, &g, dm__ptr(gc), dm__ptr(wc), NULL,
                                                  dm__ptr(gx));
        if (r) { dm_tensor_release(gx); goto done; }
        gin[0] = gx;
    }
    if (w->requires_grad) {
        dm_tensor *dst = dm__grad_dest(ctx, 1);
        dm_tensor *gw = dst ? NULL : dm_tensor_new_dtype(w->ndim, w->shape, dt);
        if (!dst && !gw) goto done;
        const void *big = transposed ? dm__ptr(gc) : dm__ptr(xc);
        const void *small = transposed ? dm__ptr(xc) : dm__ptr(gc);
        int r = K->conv_weight_grad(dt, &g, big, small, dst != NULL, dm__ptr(dst ? dst : gw));
        if (dst) dm__grad_done(ctx, 1);
        if (r) { if (gw) dm_tensor_release(gw); goto done; }
        if (gw) gin[1] = gw;
    }
    if (b && b->requires_grad) {
        dm_tensor *gb = dm_tensor_new_dtype(1, b->shape, dt);
        if (!gb) goto done;
        int64_t C = b->shape[0], L = dm__numel(gc) / max1(g.N * C);
        K->conv_bias_grad(dt, dm__ptr(gc), g.N, C, L, dm__ptr(gb));
        gin[2] = gb;
    }
    rc = 0;
done:
#ifdef DM_CONV_PROFILE
    dm__prof_add(7, dm__prof_now() - tb0);
#endif
    if (xc) dm_tensor_release(xc);
    if (wc) dm_tensor_release(wc);
    dm_tensor_release(gc);
    return rc;
}
