/* upsample.c -- PyTorch 1.13's F.interpolate for "nearest" and "linear"/"bilinear" over the
 * last 1 or 2 dims of an [N x C x L] or [N x C x H x W] input (float32, float64).
 *
 * One node, DM_OP_UPSAMPLE (sub: mode + 2 x (spatial dims - 1)).  Each output element is a
 * weighted sum of at most 2 (1d) or 4 (2d) input elements; per spatial dim the source
 * indices and weights follow PyTorch's CPU kernels (UpSample.h): nearest
 * src = min(floor(dst * scale), in - 1) in float, scale = 1 / scale_factor when given, else
 * in / out; linear with align_corners: src = dst * (in - 1) / (out - 1), without:
 * max(scale * (dst + 0.5) - 0.5, 0).  Backward scatters the same weights. */
#include "internal.h"
#include <math.h>
#include <stdio.h>
#include <stdint.h>

/* source indices and weights of output index o along a dim (in -> out) */
static void coeff(int mode, int align, int64_t in, int64_t out, double sc, int f32, int64_t o,
                  int64_t *i0, int64_t *i1, double *l0, double *l1)
{
    if (mode == DM_UPSAMPLE_NEAREST) {
        int64_t s;
        if (out == in) s = o;
        else if (out == 2 * in) s = o >> 1;
        else {
            float scale = sc > 0 ? (float)(1.0 / sc) : (float)in / (float)out;
            s = (int64_t)floorf((float)o * scale);
            if (s > in - 1) s = in - 1;
        }
        *i0 = *i1 = s; *l0 = 1; *l1 = 0;
        return;
    }
    double real, lam;
    int64_t k;
    if (f32) {
        float scale = align ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f)
                            : sc > 0 ? (float)(1.0 / sc) : (float)in / (float)out;
        float r = align ? scale * (float)o : (float)(scale * (o + 0.5) - 0.5);
        if (r < 0) r = 0;
        k = (int64_t)r;
        float lf = r - (float)k;
        if (lf < 0) lf = 0;
        if (lf > 1) lf = 1;
        real = r; lam = lf;
        *l1 = lf; *l0 = 1.0f - lf;
    } else {
        double scale = align ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.)
                             : sc > 0 ? 1.0 / sc : (double)in / (double)out;
        real = align ? scale * (double)o : scale * (o + 0.5) - 0.5;
        if (real < 0) real = 0;
        k = (int64_t)real;
        lam = real - (double)k;
        if (lam < 0) lam = 0;
        if (lam > 1) lam = 1;
        *l1 = lam; *l0 = 1 - lam;
    }
    if (k > in - 1) k = in - 1;
    *i0 = k; *i1 = k < in - 1 ? k + 1 : k;
}

typedef struct { int64_t *i0, *i1; double *l0, *l1; } dimc;

static int build(dimc *c, int mode, int align, int64_t in, int64_t out, double sc, int f32)
{
    c->i0 = malloc((size_t)(out ? out : 1) * 2 * sizeof(int64_t));
    c->l0 = malloc((size_t)(out ? out : 1) * 2 * sizeof(double));
    if (!c->i0 || !c->l0) {
        free(c->i0); free(c->l0);
        dm_seterr("interpolate: out of memory");
        return -1;
    }
    c->i1 = c->i0 + out; c->l1 = c->l0 + out;
    for (int64_t o = 0; o < out; o++)
        coeff(mode, align, in, out, sc, f32, o, &c->i0[o], &c->i1[o], &c->l0[o], &c->l1[o]);
    return 0;
}

static dm_tensor *contig_nograd(const dm_tensor *t)
{
    if (dm__is_contig(t)) return dm_tensor_retain((dm_tensor *)t);
    int g = dm_set_grad_enabled(0);
    dm_tensor *c = dm_clone(t);
    dm_set_grad_enabled(g);
    return c;
}

/* out[p, oh, ow] (fw) or in-grad scatter (bw) over planes P, dims (ih, iw) -> (oh, ow) */
#define KERNEL(T)                                                                            \
    static void run_##T(int bw, const T *src, T *dst, int64_t P, int64_t ih, int64_t iw,     \
                        int64_t oh, int64_t ow, const dimc *h, const dimc *w)                \
    {                                                                                        \
        for (int64_t p = 0; p < P; p++) {                                                    \
            const T *sp = bw ? src + p * oh * ow : src + p * ih * iw;                        \
            T *dp = bw ? dst + p * ih * iw : dst + p * oh * ow;                              \
            for (int64_t y = 0; y < oh; y++) {                                               \
                int64_t y0 = h->i0[y] * iw, y1 = h->i1[y] * iw;                              \
                T a0 = (T)h->l0[y], a1 = (T)h->l1[y];                                        \
                for (int64_t x = 0; x < ow; x++) {                                           \
                    int64_t x0 = w->i0[x], x1 = w->i1[x];                                    \
                    T b0 = (T)w->l0[x], b1 = (T)w->l1[x];                                    \
                    if (!bw) {                                                               \
                        dp[y * ow + x] = a0 * (b0 * sp[y0 + x0] + b1 * sp[y0 + x1])          \
                                       + a1 * (b0 * sp[y1 + x0] + b1 * sp[y1 + x1]);         \
                    } else {                                                                 \
                        T g = sp[y * ow + x];                                                \
                        dp[y0 + x0] += a0 * b0 * g; dp[y0 + x1] += a0 * b1 * g;              \
                        dp[y1 + x0] += a1 * b0 * g; dp[y1 + x1] += a1 * b1 * g;              \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }
KERNEL(float)
KERNEL(double)

/* the shared pass: fw (x contiguous -> out) or bw (g contiguous -> r zeroed) */
static int apply(int bw, const dm_tensor *src, dm_tensor *dst, const int64_t *ishape,
                 const int64_t *oshape, int nsp, int mode, int align, const double *sc)
{
    int64_t P = ishape[0] * ishape[1];
    int64_t ih = nsp == 2 ? ishape[2] : 1, iw = ishape[1 + nsp];
    int64_t oh = nsp == 2 ? oshape[2] : 1, ow = oshape[1 + nsp];
    int f32 = src->dtype == DM_FLOAT32;
    dimc h, w;
    if (build(&h, mode, align, ih, oh, nsp == 2 ? sc[0] : 0, f32)) return -1;
    if (build(&w, mode, align, iw, ow, sc[nsp - 1], f32)) { free(h.i0); free(h.l0); return -1; }
    if (f32) run_float(bw, dm__ptr(src), dm__ptr(dst), P, ih, iw, oh, ow, &h, &w);
    else run_double(bw, dm__ptr(src), dm__ptr(dst), P, ih, iw, oh, ow, &h, &w);
    free(h.i0); free(h.l0); free(w.i0); free(w.l0);
    return 0;
}

dm_tensor *dm_upsample(const dm_tensor *x, int nsp, const int64_t *osize, const double *scales,
                       int mode, int align_corners)
{
    char b1[96];
    static const char *const names[] = { "nearest", "linear" };
    if (mode != DM_UPSAMPLE_NEAREST && mode != DM_UPSAMPLE_LINEAR) {
        dm_seterr("interpolate: unknown mode %d (expected nearest or linear)", mode);
        return NULL;
    }
    if (nsp < 1 || nsp > 2) {
        dm_seterr("interpolate: %d spatial dims (expected 1 or 2)", nsp);
        return NULL;
    }
    if (x->ndim != nsp + 2) {
        dm_seterr("interpolate: %s%s mode expects a %dD input [N x C x %s], got %s",
                  nsp == 2 && mode ? "bi" : "", names[mode], nsp + 2,
                  nsp == 2 ? "H x W" : "L", SHAPE(x, b1));
        return NULL;
    }
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("interpolate: expected a float32 or float64 input, got %s",
                  dm_dtype_name(x->dtype));
        return NULL;
    }
    if (mode == DM_UPSAMPLE_NEAREST && align_corners) {
        dm_seterr("interpolate: align_corners option can only be set with the interpolating "
                  "modes: linear | bilinear | bicubic | trilinear");
        return NULL;
    }
    int64_t oshape[4] = { x->shape[0], x->shape[1], 0, 0 };
    double sc[2] = { 0, 0 };
    for (int d = 0; d < nsp; d++) {
        if (osize[d] <= 0 || x->shape[2 + d] <= 0) {
            dm_seterr("interpolate: input and output sizes should be greater than 0, but got "
                      "input %s and output size %lld at dimension %d", SHAPE(x, b1),
                      (long long)osize[d], 3 + d);
            return NULL;
        }
        oshape[2 + d] = osize[d];
        sc[d] = scales && scales[d] > 0 ? scales[d] : 0;
    }
    dm__device_of(x);
    dm_tensor *c = contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nsp + 2, oshape, x->dtype);
    if (!out) { dm_tensor_release(c); return NULL; }
    int rc = apply(0, c, out, x->shape, oshape, nsp, mode, align_corners, sc);
    dm_tensor_release(c);
    if (rc) { dm_tensor_release(out); return NULL; }
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(DM_OP_UPSAMPLE, mode + 2 * (nsp - 1), out, 1, &x);
        if (!n) { dm_tensor_release(out); return NULL; }
        n->par.upsample.scales[0] = sc[0];
        n->par.upsample.scales[1] = sc[1];
        n->par.upsample.align_corners = align_corners != 0;
    }
    return out;
}

int dm__bw_upsample(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                    dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    int nsp = n->sub / 2 + 1, mode = n->sub % 2;
    dm_tensor *gc = contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int64_t rn = dm__numel(r);
    if (g->dtype == DM_FLOAT64) { double *o = dm__ptr(r); for (int64_t i = 0; i < rn; i++) o[i] = 0; }
    else { float *o = dm__ptr(r); for (int64_t i = 0; i < rn; i++) o[i] = 0; }
    int rc = apply(1, gc, r, n->in_shape, gc->shape, nsp, mode, n->par.upsample.align_corners,
                   n->par.upsample.scales);
    dm_tensor_release(gc);
    if (rc) { dm_tensor_release(r); return -1; }
    gin[0] = r;
    return 0;
}
