/* upsample.c -- PyTorch 1.13's F.interpolate for "nearest" and "linear"/"bilinear" over the
 * last 1 or 2 dims of an [N x C x L] or [N x C x H x W] input (float32, float64).
 *
 * One node, DM_OP_UPSAMPLE (sub: mode + 2 x (spatial dims - 1)).  Each output element is a
 * weighted sum of at most 2 (1d) or 4 (2d) input elements; per spatial dim the source
 * indices and weights follow PyTorch's CPU kernels (UpSample.h): nearest
 * src = min(floor(dst * scale), in - 1) in float, scale = 1 / scale_factor when given, else
 * in / out; linear with align_corners: src = dst * (in - 1) / (out - 1), without:
 * max(scale * (dst + 0.5) - 0.5, 0).  Backward scatters the same weights.  The loops are the
 * kernels upsample and upsample_bw of the device's table (core/backend/{cpu,ref}/upsample.c). */
#include "internal.h"
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

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
    dm_tensor *c = dm__contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nsp + 2, oshape, x->dtype);
    if (!out) { dm_tensor_release(c); return NULL; }
    int rc = DEV->upsample(x->dtype, nsp, mode, align_corners, sc, x->shape, oshape,
                           dm__ptr(c), dm__ptr(out));
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
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int rc = DEV->upsample_bw(g->dtype, nsp, mode, n->par.upsample.align_corners,
                              n->par.upsample.scales, n->in_shape, gc->shape, dm__ptr(gc),
                              dm__ptr(r));
    dm_tensor_release(gc);
    if (rc) { dm_tensor_release(r); return -1; }
    gin[0] = r;
    return 0;
}
