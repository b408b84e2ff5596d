/* cpu/pad.c -- F.pad's loops (core/ops/pad.c checks and shapes): every output element comes from
 * one input element (or the fill value), so the forward is a gather through a per-element
 * source map and the backward a scatter-add of the gradient into the source positions. */
#include "internal.h"
#include "cpu.h"
#include <stdint.h>
#include <stdlib.h>

/* the source index along a dim of size n (padded to size on, l before it) for output index
   o, or -1 (the fill value).  Circular wraps within what is left after negative pads crop
   (PyTorch 1.13's _pad_circular crops first) */
static int64_t src_index(int mode, int64_t o, int64_t l, int64_t n, int64_t on)
{
    int64_t i = o - l;
    switch (mode) {
    case DM_PAD_REFLECT:
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        return i;
    case DM_PAD_REPLICATE:
        return i < 0 ? 0 : i >= n ? n - 1 : i;
    case DM_PAD_CIRCULAR: {
        int64_t r = on - n - l, cs = l < 0 ? -l : 0, m = n - cs - (r < 0 ? -r : 0);
        int64_t q = o - (l > 0 ? l : 0);
        return cs + ((q % m) + m) % m;
    }
    default:
        return i >= 0 && i < n ? i : -1;
    }
}

/* for each element of out (shape oshape, contiguous), its offset in the contiguous input (of
   shape ishape), or -1; map has numel(out) entries */
#if defined(__GNUC__)
__attribute__((aligned(64)))    /* the hot loop's placement otherwise varies with the link */
#endif
static void build_map(int nd, const int64_t *ishape, const int64_t *oshape, const int32_t *lo,
                      int mode, int64_t *map, int64_t total)
{
    int64_t cs[DM_MAX_DIMS], idx[DM_MAX_DIMS] = {0}, s = 1;
    for (int d = nd - 1; d >= 0; d--) { cs[d] = s; s *= ishape[d]; }
    for (int64_t o = 0; o < total; o++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++) {
            int64_t si = src_index(mode, idx[d], lo[d], ishape[d], oshape[d]);
            if (si < 0) { off = -1; break; }
            off += si * cs[d];
        }
        map[o] = off;
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < oshape[d]) break;
            idx[d] = 0;
        }
    }
}

static int64_t numel(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    return n;
}

int dm__cpu_pad(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                const int32_t *lo, int mode, double value, const void *x, void *out)
{
    int64_t total = numel(nd, oshape);
    int64_t *map = total ? malloc((size_t)total * sizeof *map) : NULL;
    if (total && !map) { dm_seterr("pad: out of memory"); return -1; }
    build_map(nd, ishape, oshape, lo, mode, map, total);
    if (dt == DM_FLOAT64) {
        const double *s = x; double *o = out;
        for (int64_t i = 0; i < total; i++) o[i] = map[i] < 0 ? value : s[map[i]];
    } else {
        const float *s = x; float *o = out;
        for (int64_t i = 0; i < total; i++) o[i] = map[i] < 0 ? (float)value : s[map[i]];
    }
    free(map);
    return 0;
}

int dm__cpu_pad_bw(dm_dtype dt, int nd, const int64_t *ishape, const int64_t *oshape,
                   const int32_t *lo, int mode, const void *g, void *r)
{
    int64_t total = numel(nd, oshape), rn = numel(nd, ishape);
    int64_t *map = total ? malloc((size_t)total * sizeof *map) : NULL;
    if (total && !map) { dm_seterr("pad: out of memory"); return -1; }
    build_map(nd, ishape, oshape, lo, mode, map, total);
    if (dt == DM_FLOAT64) {
        const double *s = g; double *o = r;
        for (int64_t i = 0; i < rn; i++) o[i] = 0;
        for (int64_t i = 0; i < total; i++) if (map[i] >= 0) o[map[i]] += s[i];
    } else {
        const float *s = g; float *o = r;
        for (int64_t i = 0; i < rn; i++) o[i] = 0;
        for (int64_t i = 0; i < total; i++) if (map[i] >= 0) o[map[i]] += s[i];
    }
    free(map);
    return 0;
}
