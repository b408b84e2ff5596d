/* ref/pad.c -- the naive F.pad: the cpu:ref device's, and the reference for cpu/pad.c.
 * Written from PyTorch's definitions, one output element at a time: its multi-index, each
 * coordinate mapped back to the input by the mode's rule (reflect mirrors about the edge
 * element, replicate clamps, circular wraps within the kept part), values moved as doubles. */
#include "internal.h"
#include "ref.h"
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

/* input coordinate of output coordinate o along a dim: n input elements, l added before and
   r after (negative: cropped); -1 for the fill value */
static int64_t coord(int mode, int64_t o, int64_t l, int64_t r, int64_t n)
{
    int64_t i = o - l;                  /* where o sits relative to the input's start */
    if (mode == DM_PAD_CONSTANT) return i >= 0 && i < n ? i : -1;
    if (mode == DM_PAD_REPLICATE) return i < 0 ? 0 : i > n - 1 ? n - 1 : i;
    if (mode == DM_PAD_REFLECT) {
        while (i < 0 || i > n - 1) {    /* mirror about element 0 or element n - 1 */
            if (i < 0) i = -i;
            if (i > n - 1) i = 2 * (n - 1) - i;
        }
        return i;
    }
    /* circular: the kept part is input [a, b); the output is that part with r' of its end
       copied before and l' of its start after (l', r' the positive pads) */
    int64_t a = l < 0 ? -l : 0, b = r < 0 ? n + r : n, m = b - a;
    int64_t before = l > 0 ? l : 0;
    int64_t q = o - before;             /* position within the kept part, wrapped */
    while (q < 0) q += m;
    while (q >= m) q -= m;
    return a + q;
}

static int64_t numel(int nd, const int64_t *s)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= s[d];
    return n;
}

/* the input offset of output element e, or -1 */
static int64_t source(int nd, const int64_t *ishape, const int64_t *oshape, const int32_t *lo,
                      int mode, int64_t e)
{
    int64_t off = 0, stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t o = e % oshape[d];
        e /= oshape[d];
        int64_t r = oshape[d] - ishape[d] - lo[d];
        int64_t i = coord(mode, o, lo[d], r, ishape[d]);
        if (i < 0) return -1;
        off += i * stride;
        stride *= ishape[d];
    }
    return off;
}

int dm__ref_pad(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                const int32_t *lo, int mode, double value, const void *x, void *out)
{
    int64_t total = numel(nd, oshape);
    for (int64_t e = 0; e < total; e++) {
        int64_t s = source(nd, ishape, oshape, lo, mode, e);
        st(dt, out, e, s < 0 ? value : ld(dt, x, s));
    }
    return 0;
}

int dm__ref_pad_bw(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                   const int32_t *lo, int mode, const void *g, void *r)
{
    int64_t total = numel(nd, oshape), rn = numel(nd, ishape);
    /* each input element: the sum, in double, of the gradients of the outputs that read it */
    double *acc = calloc((size_t)(rn ? rn : 1), sizeof *acc);
    if (!acc) { dm_seterr("pad: out of memory"); return -1; }
    for (int64_t e = 0; e < total; e++) {
        int64_t s = source(nd, ishape, oshape, lo, mode, e);
        if (s >= 0) acc[s] += ld(dt, g, e);
    }
    for (int64_t i = 0; i < rn; i++) st(dt, r, i, acc[i]);
    free(acc);
    return 0;
}
