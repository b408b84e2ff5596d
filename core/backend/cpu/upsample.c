/* cpu/upsample.c -- F.interpolate's loops (core/ops/upsample.c checks and shapes): per spatial
 * dim a table of source indices and weights (PyTorch's CPU rules, UpSample.h; float32 computes
 * them in float as aten does), then each output element is a weighted sum of at most 2 (1d)
 * or 4 (2d) input elements; the backward scatters the same weights. */
#include "internal.h"
#include "cpu.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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
static int apply(int bw, dm_dtype dt, const void *src, void *dst, const int64_t *ishape,
                 const int64_t *oshape, int nsp, int mode, int align, const double *sc)
{
    int64_t P = ishape[0] * ishape[1];
    int64_t ih = nsp == 2 ? ishape[2] : 1, iw = ishape[1 + nsp];
    int64_t oh = nsp == 2 ? oshape[2] : 1, ow = oshape[1 + nsp];
    int f32 = dt == DM_FLOAT32;
    dimc h, w;
    if (build(&h, mode, align, ih, oh, nsp == 2 ? sc[0] : 0, f32)) return -1;
    if (build(&w, mode, align, iw, ow, sc[nsp - 1], f32)) { free(h.i0); free(h.l0); return -1; }
    if (f32) run_float(bw, src, dst, P, ih, iw, oh, ow, &h, &w);
    else run_double(bw, src, dst, P, ih, iw, oh, ow, &h, &w);
    free(h.i0); free(h.l0); free(w.i0); free(w.l0);
    return 0;
}

int dm__cpu_upsample(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                     const int64_t *ishape, const int64_t *oshape, const void *x, void *y)
{
    return apply(0, dt, x, y, ishape, oshape, nsp, mode, align, sc);
}

int dm__cpu_upsample_bw(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                        const int64_t *ishape, const int64_t *oshape, const void *g, void *r)
{
    int64_t rn = 1;
    for (int d = 0; d < nsp + 2; d++) rn *= ishape[d];
    if (dt == DM_FLOAT64) { double *o = r; for (int64_t i = 0; i < rn; i++) o[i] = 0; }
    else { float *o = r; for (int64_t i = 0; i < rn; i++) o[i] = 0; }
    return apply(1, dt, g, r, ishape, oshape, nsp, mode, align, sc);
}
