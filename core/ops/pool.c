/* pool.c -- PyTorch 1.13's max_pool2d (with indices) and avg_pool2d over the last two dims of
 * [N x C x H x W] or [C x H x W] (float32, float64).
 *
 * Two nodes: DM_OP_MAX_POOL2D (saved[0]: the int64 flat index per plane of each output's
 * maximum; the backward scatter-adds the gradient there) and DM_OP_AVG_POOL2D (the window
 * geometry in par.pool; the backward spreads each output's gradient over its window).  The
 * loops, forward and backward, are kernels of the device's table (core/backend/{cpu,ref}/
 * pool.c; cpu's max pool has the float32 2x2 stride-2 fast path). */
#include "internal.h"
#include <math.h>
#include <stdint.h>
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

/* PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the input
   or the left padding */
static int64_t out_size(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, int ceil)
{
    int64_t num = in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
    int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil && (o - 1) * s >= in + pad) o--;
    return o;
}

/* checks the arguments; fills planes, H, W, OH, OW and the output shape */
static int geometry(const char *fn, const dm_tensor *x, const int64_t *k, const int64_t *s,
                    const int64_t *p, const int64_t *d, int ceil, int64_t *planes, int64_t *oh,
                    int64_t *ow, int64_t *oshape)
{
    char b1[DM_SHAPE_BUF];
    if (x->ndim != 3 && x->ndim != 4) {
        dm_seterr("%s: expected 3D or 4D input, got %s", fn, SHAPE(x, b1));
        return -1;
    }
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 input, got %s", fn,
                  dm_dtype_name(x->dtype));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (k[i] <= 0 || s[i] <= 0 || d[i] <= 0 || p[i] < 0) {
            dm_seterr("%s: kernel_size, stride and dilation must be greater than zero and "
                      "padding non-negative, got kernel_size (%lld, %lld), stride (%lld, %lld),"
                      " padding (%lld, %lld), dilation (%lld, %lld)", fn, (long long)k[0],
                      (long long)k[1], (long long)s[0], (long long)s[1], (long long)p[0],
                      (long long)p[1], (long long)d[0], (long long)d[1]);
            return -1;
        }
        if (p[i] > k[i] / 2) {
            dm_seterr("%s: pad should be at most half of kernel size, but got padding (%lld, "
                      "%lld) and kernel_size (%lld, %lld)", fn, (long long)p[0],
                      (long long)p[1], (long long)k[0], (long long)k[1]);
            return -1;
        }
        if (k[i] > INT32_MAX || s[i] > INT32_MAX || d[i] > INT32_MAX) {
            dm_seterr("%s: kernel_size, stride or dilation too large", fn);
            return -1;
        }
    }
    int nd = x->ndim;
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    for (int i = 0; i < nd - 2; i++)
        if (x->shape[i] == 0) {
            dm_seterr("%s: expected non-empty batch and channel dims, got input %s", fn,
                      SHAPE(x, b1));
            return -1;
        }
    *oh = out_size(H, k[0], p[0], s[0], d[0], ceil);
    *ow = out_size(W, k[1], p[1], s[1], d[1], ceil);
    if (*oh < 1 || *ow < 1) {
        dm_seterr("%s: input %s is too small for kernel_size (%lld, %lld) with padding (%lld, "
                  "%lld) and dilation (%lld, %lld): output size %lld x %lld", fn, SHAPE(x, b1),
                  (long long)k[0], (long long)k[1], (long long)p[0], (long long)p[1],
                  (long long)d[0], (long long)d[1], (long long)*oh, (long long)*ow);
        return -1;
    }
    *planes = 1;
    for (int i = 0; i < nd - 2; i++) { oshape[i] = x->shape[i]; *planes *= x->shape[i]; }
    oshape[nd - 2] = *oh;
    oshape[nd - 1] = *ow;
    return 0;
}

dm_tensor *dm_max_pool2d(const dm_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], const int64_t dilation[2], int ceil_mode,
                         dm_tensor **indices)
{
    int64_t P, OH, OW, oshape[4];
    if (indices) *indices = NULL;
    if (geometry("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode, &P, &OH, &OW,
                 oshape))
        return NULL;
    int nd = x->ndim;
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    dm__device_of(x);
    dm_tensor *c = dm__contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, oshape, x->dtype);
    dm_tensor *ix = dm_tensor_new_dtype(nd, oshape, DM_INT64);
    if (!out || !ix) {
        dm_tensor_release(c); dm_tensor_release(out); dm_tensor_release(ix);
        return NULL;
    }
#ifdef DM_CONV_PROFILE          /* the timers of core/ops/conv.c (BENCHMARKS.md's breakdown) */
    double dm__prof_now(void);
    void dm__prof_add(int k, double t);
    double tp0 = dm__prof_now();
#endif
    DEV->max_pool2d(x->dtype, dm__ptr(c), dm__ptr(out), dm__ptr(ix), P, H, W, OH, OW, kernel,
                    stride, padding, dilation, ceil_mode);
#ifdef DM_CONV_PROFILE
    dm__prof_add(4, dm__prof_now() - tp0);
#endif
    dm_tensor_release(c);
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(DM_OP_MAX_POOL2D, 0, out, 1, &x);
        if (!n || !dm__save(n, 0, ix)) {
            dm_tensor_release(out); dm_tensor_release(ix);
            return NULL;
        }
    }
    if (indices) *indices = ix;
    else dm_tensor_release(ix);
    return out;
}

int dm__bw_max_pool2d(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                      dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
#ifdef DM_CONV_PROFILE
    double dm__prof_now(void);
    void dm__prof_add(int k, double t);
    double tp0 = dm__prof_now();
#endif
    int nd = n->in_ndim;
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(nd, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int64_t HW = n->in_shape[nd - 2] * n->in_shape[nd - 1];
    int64_t OHW = gc->shape[nd - 2] * gc->shape[nd - 1];
    int64_t P = HW ? dm__numel(r) / HW : 0;
    DEV->max_pool2d_bw(g->dtype, dm__ptr(gc), dm__ptr(n->saved[0]), dm__ptr(r), P, HW, OHW);
    dm_tensor_release(gc);
    gin[0] = r;
#ifdef DM_CONV_PROFILE
    dm__prof_add(5, dm__prof_now() - tp0);
#endif
    return 0;
}

dm_tensor *dm_avg_pool2d(const dm_tensor *x, const int64_t kernel[2], const int64_t stride[2],
                         const int64_t padding[2], int ceil_mode, int count_include_pad,
                         int64_t divisor_override)
{
    int64_t P, OH, OW, oshape[4];
    static const int64_t one[2] = { 1, 1 };
    if (geometry("avg_pool2d", x, kernel, stride, padding, one, ceil_mode, &P, &OH, &OW,
                 oshape))
        return NULL;
    if (divisor_override < 0 || divisor_override > INT32_MAX) {
        dm_seterr("avg_pool2d: divisor must be not zero, got divisor_override %lld",
                  (long long)divisor_override);
        return NULL;
    }
    int nd = x->ndim;
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    int32_t k[2] = { (int32_t)kernel[0], (int32_t)kernel[1] };
    int32_t s[2] = { (int32_t)stride[0], (int32_t)stride[1] };
    int32_t p[2] = { (int32_t)padding[0], (int32_t)padding[1] };
    dm__device_of(x);
    dm_tensor *c = dm__contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, oshape, x->dtype);
    if (!out) { dm_tensor_release(c); return NULL; }
    DEV->avg_pool2d(x->dtype, dm__ptr(c), dm__ptr(out), P, H, W, OH, OW, k, s, p,
                    count_include_pad, divisor_override);
    dm_tensor_release(c);
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(DM_OP_AVG_POOL2D, count_include_pad ? 1 : 0, out, 1, &x);
        if (!n) { dm_tensor_release(out); return NULL; }
        for (int i = 0; i < 2; i++) {
            n->par.pool.k[i] = k[i];
            n->par.pool.s[i] = s[i];
            n->par.pool.p[i] = p[i];
        }
        n->par.pool.divisor = (int32_t)divisor_override;
    }
    return out;
}

int dm__bw_avg_pool2d(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                      dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    int nd = n->in_ndim;
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(nd, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int64_t H = n->in_shape[nd - 2], W = n->in_shape[nd - 1];
    int64_t OH = gc->shape[nd - 2], OW = gc->shape[nd - 1];
    int64_t P = H * W > 0 ? dm__numel(r) / (H * W) : 0;
    const int32_t *k = n->par.pool.k, *s = n->par.pool.s, *p = n->par.pool.p;
    DEV->avg_pool2d_bw(g->dtype, dm__ptr(gc), dm__ptr(r), P, H, W, OH, OW, k, s, p, n->sub,
                       n->par.pool.divisor);
    dm_tensor_release(gc);
    gin[0] = r;
    return 0;
}

/* ---- adaptive pools and max_unpool2d ------------------------------------------------------
 * Adaptive windows are PyTorch's: output o of O over an input of I covers
 * [floor(o I / O), ceil((o + 1) I / O)). */

static int adaptive_geometry(const char *fn, const dm_tensor *x, const int64_t *out,
                             int64_t *planes, int64_t *oshape)
{
    char b1[DM_SHAPE_BUF];
    if (x->ndim != 3 && x->ndim != 4) {
        dm_seterr("%s: expected 3D or 4D input, got %s", fn, SHAPE(x, b1));
        return -1;
    }
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 input, got %s", fn,
                  dm_dtype_name(x->dtype));
        return -1;
    }
    int nd = x->ndim;
    for (int i = 0; i < nd; i++)
        if (x->shape[i] == 0) {
            dm_seterr("%s: expected input with non-zero sizes, got %s", fn, SHAPE(x, b1));
            return -1;
        }
    if (out[0] < 1 || out[1] < 1) {
        dm_seterr("%s: output_size must be positive, got (%lld, %lld)", fn, (long long)out[0],
                  (long long)out[1]);
        return -1;
    }
    *planes = 1;
    for (int i = 0; i < nd - 2; i++) { oshape[i] = x->shape[i]; *planes *= x->shape[i]; }
    oshape[nd - 2] = out[0];
    oshape[nd - 1] = out[1];
    return 0;
}

static dm_tensor *adaptive(const char *fn, const dm_tensor *x, const int64_t out[2],
                           dm_tensor **indices)
{
    int64_t P, oshape[4];
    if (indices) *indices = NULL;
    if (adaptive_geometry(fn, x, out, &P, oshape)) return NULL;
    int nd = x->ndim, is_max = indices != NULL;
    int64_t H = x->shape[nd - 2], W = x->shape[nd - 1];
    dm__device_of(x);
    dm_tensor *c = dm__contig_nograd(x);
    if (!c) return NULL;
    dm_tensor *y = dm_tensor_new_dtype(nd, oshape, x->dtype);
    dm_tensor *ix = is_max ? dm_tensor_new_dtype(nd, oshape, DM_INT64) : NULL;
    if (!y || (is_max && !ix)) {
        dm_tensor_release(c); dm_tensor_release(y); dm_tensor_release(ix);
        return NULL;
    }
    int64_t *ip = is_max ? dm__ptr(ix) : NULL;
    DEV->adaptive_pool2d(x->dtype, dm__ptr(c), dm__ptr(y), ip, P, H, W, out[0], out[1]);
    dm_tensor_release(c);
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(is_max ? DM_OP_ADAPTIVE_MAX_POOL2D : DM_OP_ADAPTIVE_AVG_POOL2D,
                                !is_max && out[0] == 1 && out[1] == 1, y, 1, &x);
        if (!n || (is_max && !dm__save(n, 0, ix))) {
            dm_tensor_release(y); dm_tensor_release(ix);
            return NULL;
        }
    }
    if (is_max) *indices = ix;
    return y;
}

dm_tensor *dm_adaptive_avg_pool2d(const dm_tensor *x, const int64_t out[2])
{
    return adaptive("adaptive_avg_pool2d", x, out, NULL);
}

dm_tensor *dm_adaptive_max_pool2d(const dm_tensor *x, const int64_t out[2], dm_tensor **indices)
{
    dm_tensor *ix = NULL;
    dm_tensor *y = adaptive("adaptive_max_pool2d", x, out, &ix);
    if (indices) *indices = ix;
    else dm_tensor_release(ix);
    return y;
}

int dm__bw_adaptive_avg_pool2d(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                               dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    int nd = n->in_ndim;
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(nd, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int64_t H = n->in_shape[nd - 2], W = n->in_shape[nd - 1];
    int64_t OH = gc->shape[nd - 2], OW = gc->shape[nd - 1], P = dm__numel(r) / (H * W);
    DEV->adaptive_avg_pool2d_bw(g->dtype, dm__ptr(gc), dm__ptr(r), P, H, W, OH, OW);
    dm_tensor_release(gc);
    gin[0] = r;
    return 0;
}

/* x and indices [.. x H x W] (indices 0-based flat in the OH x OW output plane) */
dm_tensor *dm_max_unpool2d(const dm_tensor *x, const dm_tensor *indices, const int64_t out[2])
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    const char *fn = "max_unpool2d";
    if (x->ndim != 3 && x->ndim != 4) {
        dm_seterr("%s: expected 3D or 4D input, got %s", fn, SHAPE(x, b1));
        return NULL;
    }
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 input, got %s", fn,
                  dm_dtype_name(x->dtype));
        return NULL;
    }
    if (indices->dtype != DM_INT64) {
        dm_seterr("%s: expected int64 indices, got %s", fn, dm_dtype_name(indices->dtype));
        return NULL;
    }
    int nd = x->ndim, same = indices->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = indices->shape[i] == x->shape[i];
    if (!same) {
        dm_seterr("%s: expected indices of the input's shape %s, got %s", fn, SHAPE(x, b1),
                  SHAPE(indices, b2));
        return NULL;
    }
    if (out[0] < 1 || out[1] < 1) {
        dm_seterr("%s: output_size must be positive, got (%lld, %lld)", fn, (long long)out[0],
                  (long long)out[1]);
        return NULL;
    }
    int64_t oshape[4], P = 1;
    for (int i = 0; i < nd - 2; i++) { oshape[i] = x->shape[i]; P *= x->shape[i]; }
    oshape[nd - 2] = out[0];
    oshape[nd - 1] = out[1];
    int64_t HW = x->shape[nd - 2] * x->shape[nd - 1], OHW = out[0] * out[1];
    dm__device_of(x);
    dm_tensor *c = dm__contig_nograd(x), *ic = c ? dm__contig_nograd(indices) : NULL;
    dm_tensor *y = ic ? dm_tensor_new_dtype(nd, oshape, x->dtype) : NULL;
    if (!y) { dm_tensor_release(c); dm_tensor_release(ic); return NULL; }
    const int64_t *ip = dm__ptr(ic);
    for (int64_t i = 0; i < P * HW; i++)
        if (ip[i] < 0 || ip[i] >= OHW) {
            dm_seterr("%s: found an invalid max index %lld (output planes are of size %lld x "
                      "%lld)", fn, (long long)ip[i], (long long)out[0], (long long)out[1]);
            dm_tensor_release(c); dm_tensor_release(ic); dm_tensor_release(y);
            return NULL;
        }
    DEV->max_unpool2d(x->dtype, dm__ptr(c), ip, dm__ptr(y), P, HW, OHW);
    dm_tensor_release(c);
    if (dm__needs_grad(1, &x)) {
        dm_node *n = dm__record(DM_OP_MAX_UNPOOL2D, 0, y, 1, &x);
        if (!n || !dm__save(n, 0, ic)) {
            dm_tensor_release(ic); dm_tensor_release(y);
            return NULL;
        }
    }
    dm_tensor_release(ic);
    return y;
}

/* the gradient of unpool gathers g at the indices */
int dm__bw_max_unpool2d(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                        dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    int nd = n->in_ndim;
    dm_tensor *gc = dm__contig_nograd(g);
    if (!gc) return -1;
    dm_tensor *r = dm_tensor_new_dtype(nd, n->in_shape, g->dtype);
    if (!r) { dm_tensor_release(gc); return -1; }
    int64_t HW = n->in_shape[nd - 2] * n->in_shape[nd - 1];
    int64_t OHW = gc->shape[nd - 2] * gc->shape[nd - 1], P = dm__numel(r) / HW;
    DEV->max_unpool2d_bw(g->dtype, dm__ptr(gc), dm__ptr(n->saved[0]), dm__ptr(r), P, HW,
                         OHW);
    dm_tensor_release(gc);
    gin[0] = r;
    return 0;
}
