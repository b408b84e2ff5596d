/* ref/upsample.c -- the naive F.interpolate (nearest, linear, bilinear): the cpu:ref
 * device's, and the reference for cpu/upsample.c.  Written from PyTorch's definitions, one
 * output element at a time, in double: along each spatial dim the output coordinate maps to
 * a source coordinate, and the value is the (bi)linear blend of the neighbouring inputs. */
#include "internal.h"
#include "ref.h"
#include <math.h>
#include <stdlib.h>

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void st(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* output coordinate o of out along a dim of in inputs: the two inputs it reads and their
   weights.  sc: the user's scale factor (0: none, the scale is then in / out). */
static void source(int mode, int align, int64_t in, int64_t out, double sc, int64_t o,
                   int64_t i[2], double w[2])
{
    if (mode == DM_UPSAMPLE_NEAREST) {
        /* PyTorch's nearest: floor(o * scale) with the scale a float (1 / scale_factor
           when given); its integer shortcuts agree with this for out = in and out = 2 in */
        float scale = sc > 0 ? (float)(1.0 / sc) : (float)in / (float)out;
        int64_t s = (int64_t)floorf((float)o * scale);
        if (s > in - 1) s = in - 1;
        i[0] = i[1] = s;
        w[0] = 1; w[1] = 0;
        return;
    }
    double x;                           /* the source coordinate */
    if (align) x = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0;
    else {
        double scale = sc > 0 ? 1.0 / sc : (double)in / (double)out;
        x = ((double)o + 0.5) * scale - 0.5;   /* pixel centres line up */
        if (x < 0) x = 0;
    }
    int64_t k = (int64_t)floor(x);
    if (k > in - 1) k = in - 1;
    double t = x - (double)k;           /* the weight of the right neighbour */
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    i[0] = k; i[1] = k + 1 < in ? k + 1 : k;
    w[0] = 1 - t; w[1] = t;
}

/* the geometry of [N x C x (H x) W]: planes, in and out sizes per dim (H 1 for 1d) */
static void dims(int nsp, const int64_t *ishape, const int64_t *oshape, int64_t *P,
                 int64_t *ih, int64_t *iw, int64_t *oh, int64_t *ow)
{
    *P = ishape[0] * ishape[1];
    *ih = nsp == 2 ? ishape[2] : 1; *oh = nsp == 2 ? oshape[2] : 1;
    *iw = ishape[1 + nsp]; *ow = oshape[1 + nsp];
}

/* calls f(output offset, input offset, weight) for each (output, input) pair */
#define EACH_PAIR(BODY)                                                                      \
    for (int64_t p = 0; p < P; p++)                                                          \
        for (int64_t y = 0; y < oh; y++)                                                     \
            for (int64_t x = 0; x < ow; x++) {                                               \
                int64_t hi[2], wi[2];                                                        \
                double hw[2], ww[2];                                                         \
                source(mode, align, ih, oh, nsp == 2 ? sc[0] : 0, y, hi, hw);                \
                source(mode, align, iw, ow, sc[nsp - 1], x, wi, ww);                         \
                int64_t oo = (p * oh + y) * ow + x;                                          \
                for (int a = 0; a < 2; a++)                                                  \
                    for (int b = 0; b < 2; b++) {                                            \
                        int64_t io = (p * ih + hi[a]) * iw + wi[b];                          \
                        double wt = hw[a] * ww[b];                                           \
                        BODY                                                                 \
                    }                                                                        \
            }

int dm__ref_upsample(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                     const int64_t *ishape, const int64_t *oshape, const void *src, void *dst)
{
    int64_t P, ih, iw, oh, ow;
    dims(nsp, ishape, oshape, &P, &ih, &iw, &oh, &ow);
    int64_t n = P * oh * ow;
    double *acc = calloc((size_t)(n ? n : 1), sizeof *acc);
    if (!acc) { dm_seterr("interpolate: out of memory"); return -1; }
    EACH_PAIR(acc[oo] += wt * ld(dt, src, io);)
    for (int64_t e = 0; e < n; e++) st(dt, dst, e, acc[e]);
    free(acc);
    return 0;
}

int dm__ref_upsample_bw(dm_dtype dt, int nsp, int mode, int align, const double *sc,
                        const int64_t *ishape, const int64_t *oshape, const void *src,
                        void *dst)
{
    int64_t P, ih, iw, oh, ow;
    dims(nsp, ishape, oshape, &P, &ih, &iw, &oh, &ow);
    int64_t n = P * ih * iw;
    double *acc = calloc((size_t)(n ? n : 1), sizeof *acc);
    if (!acc) { dm_seterr("interpolate: out of memory"); return -1; }
    EACH_PAIR(acc[io] += wt * ld(dt, src, oo);)
    for (int64_t e = 0; e < n; e++) st(dt, dst, e, acc[e]);
    free(acc);
    return 0;
}
