/* embedding.c -- PyTorch 1.13's F.embedding, embedding_renorm_ (max_norm) and
 * F.embedding_bag (sum, mean, max; offsets or fixed-size bags; per_sample_weights).
 *
 * Ids are 0-based here, as every position in the core (the Lua binding shifts the 1-based ids
 * it is given, and messages report ids + 1: the 1-based terms the user wrote, as loss.c does).
 *
 * DM_OP_EMBEDDING: in {weight}, saved[0] the contiguous int64 ids.  Forward gathers rows of
 *   weight (any strides) into a contiguous [ids... x dim]; backward scatter-adds the gradient
 *   rows into a zero [num x dim], skipping padding_idx, each divided by its id's count in the
 *   batch when scale_grad_by_freq.
 * DM_OP_EMBEDDING_BAG (sub: the mode): in {weight, per_sample_weights or NULL}, saved[0] the
 *   ids, saved[1] the int64 bag bounds [B + 1], saved[2] (max) the int64 row of weight each
 *   output element came from (-1: an empty bag). */
#include "internal.h"
#include "backend.h"
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#define DEV (dm__kernels(dm__cur_device))

static const char *const bag_modes[] = { "sum", "mean", "max" };

static int check_weight(const char *fn, const dm_tensor *w)
{
    char b[DM_SHAPE_BUF];
    if (w->dtype != DM_FLOAT32 && w->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 weight, got %s", fn,
                  dm_dtype_name(w->dtype));
        return -1;
    }
    if (w->ndim != 2) {
        dm_seterr("%s: expected weight [num_embeddings x embedding_dim], got %s", fn,
                  SHAPE(w, b));
        return -1;
    }
    return 0;
}

/* the ids as a contiguous int64 tensor, every one checked against num rows (NULL and a
   message naming the first bad id, 1-based) */
static dm_tensor *checked_ids(const char *fn, const dm_tensor *ids, int64_t num)
{
    if (ids->dtype != DM_INT64) {
        dm_seterr("%s: expected an int64 tensor of token ids, got %s (use :long())", fn,
                  dm_dtype_name(ids->dtype));
        return NULL;
    }
    dm_tensor *c = dm__contig_nograd(ids);
    if (!c) return NULL;
    const int64_t *v = dm__ptr(c);
    for (int64_t i = 0, n = dm__numel(c); i < n; i++) {
        if (v[i] < 0 || v[i] >= num) {
            dm_seterr("%s: token id %lld out of range for %lld embeddings (ids are 1-based, 1 "
                      "to %lld)", fn, (long long)((uint64_t)v[i] + 1), (long long)num,
                      (long long)num);
            dm_tensor_release(c);
            return NULL;
        }
    }
    return c;
}

/* padding_idx: -1 none, else 0..num-1 (negatives already wrapped by the caller's layer) */
static int check_padding(const char *fn, int64_t padding_idx, int64_t num)
{
    if (padding_idx < -1 || padding_idx >= num) {
        dm_seterr("%s: padding_idx %lld must be within num_embeddings (1 to %lld)", fn,
                  (long long)(padding_idx + 1), (long long)num);
        return -1;
    }
    return 0;
}

/* ---- embedding -------------------------------------------------------------------------- */

dm_tensor *dm_embedding(const dm_tensor *weight, const dm_tensor *ids, int64_t padding_idx,
                        int scale_grad_by_freq)
{
    const char *fn = "embedding";
    char b[DM_SHAPE_BUF];
    if (dm__same_device(fn, 2, (const dm_tensor *[]){ weight, ids }) < 0) return NULL;
    if (check_weight(fn, weight)) return NULL;
    int64_t num = weight->shape[0], dim = weight->shape[1];
    if (check_padding(fn, padding_idx, num)) return NULL;
    if (ids->ndim >= DM_MAX_DIMS) {
        dm_seterr("%s: ids %s have %d dims (at most %d)", fn, SHAPE(ids, b), ids->ndim,
                  DM_MAX_DIMS - 1);
        return NULL;
    }
    dm_tensor *c = checked_ids(fn, ids, num);
    if (!c) return NULL;
    int64_t oshape[DM_MAX_DIMS];
    for (int d = 0; d < ids->ndim; d++) oshape[d] = ids->shape[d];
    oshape[ids->ndim] = dim;
    dm_tensor *out = dm_tensor_new_dtype(ids->ndim + 1, oshape, weight->dtype);
    if (!out) { dm_tensor_release(c); return NULL; }
    const int64_t *v = dm__ptr(c);
    int64_t n = dm__numel(c), s0 = weight->stride[0], s1 = weight->stride[1];
    DEV->embedding(weight->dtype, (const char *)weight->storage->data +
                   (size_t)weight->offset * dm__esize(weight->dtype), s0, s1, v, n, dim,
                   dm__ptr(out));
    if (dm__needs_grad(1, &weight)) {
        dm_node *nd = dm__record(DM_OP_EMBEDDING, 0, out, 1, &weight);
        if (!nd || !dm__save(nd, 0, c)) {
            dm_tensor_release(out); dm_tensor_release(c);
            return NULL;
        }
        nd->par.embedding.padding_idx = padding_idx;
        nd->par.embedding.scale_grad_by_freq = scale_grad_by_freq != 0;
    }
    dm_tensor_release(c);
    return out;
}

/* how often each id occurs (for scale_grad_by_freq), num counts; NULL and a message */
static int64_t *id_counts(const int64_t *v, int64_t n, int64_t num)
{
    int64_t *cnt = calloc((size_t)(num ? num : 1), sizeof *cnt);
    if (!cnt) { dm_seterr("embedding: out of memory"); return NULL; }
    for (int64_t i = 0; i < n; i++) cnt[v[i]]++;
    return cnt;
}

int dm__bw_embedding(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *nd, const dm_tensor *g,
                     dm_tensor **gin)
{
    if (!nd->in[0] || !nd->in[0]->requires_grad) return 0;
    const dm_tensor *ids = nd->saved[0];
    int64_t num = nd->in_shape[0], dim = nd->in_shape[1];
    int64_t pad = nd->par.embedding.padding_idx;
    dm_tensor *r = dm_tensor_zeros_dtype(2, nd->in_shape, g->dtype);
    if (!r) return -1;
    dm_tensor *hg = NULL;
    const void *gp = dm__contig_as(g, g->dtype, &hg);
    if (!gp) { dm_tensor_release(r); return -1; }
    const int64_t *v = dm__ptr(ids);
    int64_t n = dm__numel(ids), *cnt = NULL;
    if (nd->par.embedding.scale_grad_by_freq && !(cnt = id_counts(v, n, num))) {
        dm_tensor_release(r); dm_tensor_release(hg);
        return -1;
    }
    DEV->embedding_bw(g->dtype, gp, v, n, dim, pad, cnt, dm__ptr(r));
    free(cnt);
    dm_tensor_release(hg);
    gin[0] = r;
    return 0;
}

/* ---- max_norm ------------------------------------------------------------------------------
 * PyTorch's embedding_renorm_: each distinct row the ids name whose norm_type-norm exceeds
 * max_norm is scaled by max_norm / (norm + 1e-7), in place, outside autograd. */
int dm_embedding_renorm_(dm_tensor *weight, const dm_tensor *ids, double max_norm,
                         double norm_type)
{
    const char *fn = "embedding_renorm_";
    if (dm__same_device(fn, 2, (const dm_tensor *[]){ weight, ids }) < 0) return -1;
    if (check_weight(fn, weight)) return -1;
    if (!(max_norm >= 0)) {
        dm_seterr("%s: max_norm must be a non-negative number, got %g", fn, max_norm);
        return -1;
    }
    int64_t num = weight->shape[0], dim = weight->shape[1];
    dm_tensor *c = checked_ids(fn, ids, num);
    if (!c) return -1;
    unsigned char *seen = calloc((size_t)(num ? num : 1), 1);
    if (!seen) { dm_tensor_release(c); dm_seterr("%s: out of memory", fn); return -1; }
    const int64_t *v = dm__ptr(c);
    int64_t n = dm__numel(c), s0 = weight->stride[0], s1 = weight->stride[1];
    DEV->embedding_renorm(weight->dtype, (char *)weight->storage->data +
                          (size_t)weight->offset * dm__esize(weight->dtype), s0, s1, dim, v,
                          n, max_norm, norm_type, seen);
    free(seen);
    dm_tensor_release(c);
    dm__bump(weight);
    return 0;
}

/* ---- embedding_bag ---------------------------------------------------------------------- */

dm_tensor *dm_embedding_bag(const dm_tensor *weight, const dm_tensor *ids,
                            const dm_tensor *offsets, int mode,
                            const dm_tensor *per_sample_weights, int include_last_offset,
                            int64_t padding_idx, int scale_grad_by_freq)
{
    const char *fn = "embedding_bag";
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    const dm_tensor *psw = per_sample_weights;
    if (dm__same_device(fn, 4, (const dm_tensor *[]){ weight, ids, offsets, psw }) < 0)
        return NULL;
    if (check_weight(fn, weight)) return NULL;
    if (mode < DM_BAG_SUM || mode > DM_BAG_MAX) {
        dm_seterr("%s: unknown mode %d (expected sum, mean or max)", fn, mode);
        return NULL;
    }
    int64_t num = weight->shape[0], dim = weight->shape[1];
    if (check_padding(fn, padding_idx, num)) return NULL;
    if (scale_grad_by_freq && mode == DM_BAG_MAX) {
        dm_seterr("%s: scale_grad_by_freq is not supported for mode='max'", fn);
        return NULL;
    }
    if (psw && mode != DM_BAG_SUM) {
        dm_seterr("%s: per_sample_weights is only supported for mode='sum' (got mode='%s')",
                  fn, bag_modes[mode]);
        return NULL;
    }
    if (psw && !dm_same_shape(psw, ids)) {
        dm_seterr("%s: per_sample_weights %s must have the shape of the input %s", fn,
                  SHAPE(psw, b1), SHAPE(ids, b2));
        return NULL;
    }
    if (psw && psw->dtype != weight->dtype) {
        dm_seterr("%s: per_sample_weights is %s but weight is %s", fn,
                  dm_dtype_name(psw->dtype), dm_dtype_name(weight->dtype));
        return NULL;
    }
    int64_t B, n = dm__numel(ids);
    dm_tensor *bounds;
    if (ids->ndim == 2) {
        if (offsets) {
            dm_seterr("%s: offsets has to be None (nil) if input is 2D, got input %s", fn,
                      SHAPE(ids, b1));
            return NULL;
        }
        B = ids->shape[0];
        int64_t L = ids->shape[1];
        if (!(bounds = dm_tensor_new_dtype(1, (int64_t[]){ B + 1 }, DM_INT64))) return NULL;
        int64_t *bd = dm__ptr(bounds);
        for (int64_t k = 0; k <= B; k++) bd[k] = k * L;
    } else if (ids->ndim == 1) {
        if (!offsets) {
            dm_seterr("%s: offsets has to be a 1D tensor for a 1D input", fn);
            return NULL;
        }
        if (offsets->ndim != 1 || offsets->dtype != DM_INT64) {
            dm_seterr("%s: offsets has to be a 1D int64 tensor, got %s %s", fn,
                      dm_dtype_name(offsets->dtype), SHAPE(offsets, b1));
            return NULL;
        }
        int64_t no = offsets->shape[0];
        B = include_last_offset ? no - 1 : no;
        if (B < 0) {
            dm_seterr("%s: include_last_offset needs at least one offset", fn);
            return NULL;
        }
        if (!(bounds = dm_tensor_new_dtype(1, (int64_t[]){ B + 1 }, DM_INT64))) return NULL;
        int64_t *bd = dm__ptr(bounds);
        dm_to_buffer_dtype(offsets, bd, DM_INT64);
        if (!include_last_offset) bd[B] = n;
        for (int64_t k = 0; k <= B; k++) {
            int64_t lo = k ? bd[k - 1] : 0;
            if (k == 0 && B > 0 && bd[0] != 0) {
                dm_seterr("%s: offsets[1] has to be 1: the first bag starts at the input's "
                          "first position (got %lld)", fn, (long long)((uint64_t)bd[0] + 1));
                dm_tensor_release(bounds);
                return NULL;
            }
            if (bd[k] < lo || bd[k] > n) {
                dm_seterr("%s: offsets must be non-decreasing positions within the input of "
                          "%lld ids (1-based; got %lld at position %lld)", fn, (long long)n,
                          (long long)((uint64_t)bd[k] + 1), (long long)(k + 1));
                dm_tensor_release(bounds);
                return NULL;
            }
        }
    } else {
        dm_seterr("%s: expected input [B x L] (bags of one size) or [n] with offsets, got %s",
                  fn, SHAPE(ids, b1));
        return NULL;
    }
    dm_tensor *c = checked_ids(fn, ids, num);
    if (!c) { dm_tensor_release(bounds); return NULL; }
    dm_tensor *hp = NULL, *out = NULL, *arg = NULL;
    const void *pw = psw ? dm__contig_as(psw, psw->dtype, &hp) : NULL;
    if (psw && !pw) goto fail;
    if (!(out = dm_tensor_zeros_dtype(2, (int64_t[]){ B, dim }, weight->dtype))) goto fail;
    if (mode == DM_BAG_MAX &&
        !(arg = dm_tensor_full_dtype(2, (int64_t[]){ B, dim }, -1, DM_INT64)))
        goto fail;
    const int64_t *v = dm__ptr(c), *bd = dm__ptr(bounds);
    int64_t s0 = weight->stride[0], s1 = weight->stride[1];
    int64_t *am = arg ? dm__ptr(arg) : NULL;
    DEV->embedding_bag(weight->dtype, mode, (const char *)weight->storage->data +
                       (size_t)weight->offset * dm__esize(weight->dtype), s0, s1, dim, v, bd,
                       B, padding_idx, pw, dm__ptr(out), am);
    const dm_tensor *ins[2] = { weight, psw };
    if (dm__needs_grad(2, ins)) {
        dm_node *nd = dm__record(DM_OP_EMBEDDING_BAG, mode, out, 2, ins);
        if (!nd || !dm__save(nd, 0, c) || !dm__save(nd, 1, bounds) ||
            (arg && !dm__save(nd, 2, arg)))
            goto fail;
        nd->par.embedding.padding_idx = padding_idx;
        nd->par.embedding.scale_grad_by_freq = scale_grad_by_freq != 0;
    }
    dm_tensor_release(c); dm_tensor_release(bounds); dm_tensor_release(hp);
    dm_tensor_release(arg);
    return out;
fail:
    dm_tensor_release(c); dm_tensor_release(bounds); dm_tensor_release(hp);
    dm_tensor_release(arg); dm_tensor_release(out);
    return NULL;
}

int dm__bw_embedding_bag(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *nd, const dm_tensor *g,
                         dm_tensor **gin)
{
    const dm_tensor *weight = nd->in[0], *psw = nd->in[1];
    int want_w = weight->requires_grad, want_p = psw && psw->requires_grad;
    if (!want_w && !want_p) return 0;
    const dm_tensor *ids = nd->saved[0], *bounds = nd->saved[1], *arg = nd->saved[2];
    int mode = nd->sub;
    int64_t num = weight->shape[0], dim = weight->shape[1];
    int64_t pad = nd->par.embedding.padding_idx;
    const int64_t *v = dm__ptr(ids), *bd = dm__ptr(bounds);
    int64_t n = dm__numel(ids), B = bounds->shape[0] - 1, *cnt = NULL;
    dm_tensor *hg = NULL, *hp = NULL, *hw = NULL, *gw = NULL, *gp = NULL;
    const void *gd = dm__contig_as(g, g->dtype, &hg);
    const void *pw = gd && psw ? dm__contig_as(psw, psw->dtype, &hp) : NULL;
    if (!gd || (psw && !pw)) goto fail;
    if (want_w && !(gw = dm_tensor_zeros_dtype(2, weight->shape, g->dtype))) goto fail;
    if (want_p && !(gp = dm_tensor_zeros_dtype(psw->ndim, psw->shape, g->dtype))) goto fail;
    const void *wd = want_p ? dm__contig_as(weight, weight->dtype, &hw) : NULL;
    if (want_p && !wd) goto fail;
    if (want_w && nd->par.embedding.scale_grad_by_freq && mode != DM_BAG_MAX &&
        !(cnt = id_counts(v, n, num)))
        goto fail;
    DEV->embedding_bag_bw(g->dtype, mode, gd, dim, v, bd, B, pad, pw, cnt,
                          arg ? dm__ptr(arg) : NULL, wd, gw ? dm__ptr(gw) : NULL,
                          gp ? dm__ptr(gp) : NULL);
    free(cnt);
    dm_tensor_release(hg); dm_tensor_release(hp); dm_tensor_release(hw);
    gin[0] = gw;
    gin[1] = gp;
    return 0;
fail:
    free(cnt);
    dm_tensor_release(hg); dm_tensor_release(hp); dm_tensor_release(hw);
    dm_tensor_release(gw); dm_tensor_release(gp);
    return -1;
}
