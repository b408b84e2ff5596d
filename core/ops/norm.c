/* norm.c -- layer norm and group norm: statistics per row of the input seen as [R x K].
 *
 * layer_norm normalises the last dims of x (K elements each, R = numel / K rows); group_norm
 * normalises each of G channel groups of every sample of x [N x C x ...] (R = N * G rows of
 * K = C / G * HW elements, HW the product of the dims after C).  Both then apply the affine
 * weight and bias per element of the normalised shape (layer norm: index k of the row) or per
 * channel (group norm: channel g * C / G + k / HW of row n * G + g), as PyTorch 1.13's
 * native_layer_norm and native_group_norm do: biased variance, statistics in double, eps
 * inside the square root.  The mean and 1 / sqrt(var + eps) of every row are saved for the
 * backward rule.  The functions here check, allocate and record; the loops are the device's
 * kernels (backend.h: rownorm, rownorm_bw; backend/cpu/norm.c, the reference
 * backend/ref/norm.c). */
#include "internal.h"
#include "backend.h"
#include <math.h>
#include <stdlib.h>

/* the shared op: x any strides, w and b NULL or of A elements (contiguous after conversion) */
static dm_tensor *rownorm(dm_op op, const char *fn, const dm_tensor *x, int64_t R, int64_t K,
                          int64_t G, int64_t HW, const dm_tensor *w, const dm_tensor *b,
                          double eps)
{
    dm_dtype dt = x->dtype;
    dm_tensor *hx = NULL, *hw = NULL, *hb = NULL;
    const void *xd = dm__contig_as(x, dt, &hx);
    const void *wd = xd && w ? dm__contig_as(w, dt, &hw) : NULL;
    const void *bd = xd && b ? dm__contig_as(b, dt, &hb) : NULL;
    int64_t rr = R;
    dm_tensor *out = NULL, *mean = NULL, *inv = NULL;
    if (xd && (!w || wd) && (!b || bd)) {
        out = dm_tensor_new_dtype(x->ndim, x->shape, dt);
        mean = out ? dm_tensor_new_dtype(1, &rr, dt) : NULL;
        inv = mean ? dm_tensor_new_dtype(1, &rr, dt) : NULL;
    }
    if (inv) {
        dm__kernels(dm__cur_device)->rownorm(dt, xd, R, K, G, HW, eps, wd, bd, dm__ptr(out),
                                             dm__ptr(mean), dm__ptr(inv));
    }
    dm_tensor_release(hx);
    dm_tensor_release(hw);
    dm_tensor_release(hb);
    if (!inv) {
        (void)fn;
        dm_tensor_release(out); dm_tensor_release(mean);
        return NULL;
    }
    const dm_tensor *ins[3] = { x, w, b };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(op, 0, out, 3, ins);
        if (!nd || !dm__save(nd, 0, mean) || !dm__save(nd, 1, inv)) {
            dm_tensor_release(out); dm_tensor_release(mean); dm_tensor_release(inv);
            return NULL;
        }
        nd->par.rownorm.rows = R;
        nd->par.rownorm.groups = G;
        nd->par.rownorm.hw = HW;
        nd->par.rownorm.eps = eps;
    }
    dm_tensor_release(mean);
    dm_tensor_release(inv);
    return out;
}

/* w and b: NULL, or A elements of x's dtype and the given shape (ndim dims) */
static int check_affine(const char *fn, const char *what, const dm_tensor *t, const dm_tensor *x,
                        int ndim, const int64_t *shape)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!t) return 0;
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        dm_seterr("%s: expected %s of shape %s, got %s", fn, what,
                  dm_shape_str(ndim, shape, b1, sizeof b1), SHAPE(t, b2));
        return -1;
    }
    if (t->dtype != x->dtype) {
        dm_seterr("%s: %s is %s but the input is %s (convert the module or the input)", fn, what,
                  dm_dtype_name(t->dtype), dm_dtype_name(x->dtype));
        return -1;
    }
    return 0;
}

dm_tensor *dm_layer_norm(const dm_tensor *x, int nnorm, const int64_t *shape,
                         const dm_tensor *weight, const dm_tensor *bias, double eps)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (dm__same_device("layer_norm", 3, (const dm_tensor *[]){ x, weight, bias }) < 0)
        return NULL;
    if (dm__need_float("layer_norm", x, "input")) return NULL;
    if (nnorm < 1 || nnorm > x->ndim) {
        dm_seterr("layer_norm: normalized_shape %s has %d dims, more than the input %s "
                  "(or none)", nnorm >= 1 && nnorm <= DM_MAX_DIMS ?
                  dm_shape_str(nnorm, shape, b1, sizeof b1) : "[]", nnorm, SHAPE(x, b2));
        return NULL;
    }
    int64_t K = 1;
    for (int d = 0; d < nnorm; d++) {
        if (shape[d] != x->shape[x->ndim - nnorm + d]) {
            dm_seterr("layer_norm: expected input [* x %s, got %s",
                      dm_shape_str(nnorm, shape, b1, sizeof b1) + 1, SHAPE(x, b2));
            return NULL;
        }
        K *= shape[d];
    }
    if (check_affine("layer_norm", "weight", weight, x, nnorm, shape) ||
        check_affine("layer_norm", "bias", bias, x, nnorm, shape))
        return NULL;
    int64_t n = dm__numel(x);
    return rownorm(DM_OP_LAYER_NORM, "layer_norm", x, K ? n / K : 0, K, 1, 1, weight, bias,
                   eps);
}

dm_tensor *dm_group_norm(const dm_tensor *x, int64_t groups, const dm_tensor *weight,
                         const dm_tensor *bias, double eps)
{
    char b1[DM_SHAPE_BUF];
    if (dm__same_device("group_norm", 3, (const dm_tensor *[]){ x, weight, bias }) < 0)
        return NULL;
    if (dm__need_float("group_norm", x, "input")) return NULL;
    if (x->ndim < 2) {
        dm_seterr("group_norm: expected input [N x C x *], got %s", SHAPE(x, b1));
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], HW = 1;
    for (int d = 2; d < x->ndim; d++) HW *= x->shape[d];
    if (groups < 1 || C % groups != 0) {
        dm_seterr("group_norm: expected the number of channels %lld to be divisible by "
                  "num_groups %lld, got input %s", (long long)C, (long long)groups,
                  SHAPE(x, b1));
        return NULL;
    }
    if (check_affine("group_norm", "weight", weight, x, 1, &C) ||
        check_affine("group_norm", "bias", bias, x, 1, &C))
        return NULL;
    return rownorm(DM_OP_GROUP_NORM, "group_norm", x, N * groups, C / groups * HW, groups, HW,
                   weight, bias, eps);
}

int dm__bw_rownorm(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int want_x = x->requires_grad, want_w = w && w->requires_grad, want_b = b && b->requires_grad;
    dm_dtype dt = x->dtype;
    int64_t R = n->par.rownorm.rows, G = n->par.rownorm.groups, HW = n->par.rownorm.hw;
    int64_t numel = dm__numel(x), K = R ? numel / R : 0, A = w ? dm__numel(w) : b ? dm__numel(b) : 0;
    dm_tensor *hx = NULL, *hg = NULL, *hw = NULL;
    const void *xd = dm__contig_as(x, dt, &hx);
    const void *g = xd ? dm__contig_as(gout, dt, &hg) : NULL;
    const void *wd = g && w ? dm__contig_as(w, dt, &hw) : NULL;
    double *acc = g && (!w || wd) ? calloc((size_t)(2 * A + 1), sizeof *acc) : NULL;
    dm_tensor *gx = acc && want_x ? dm_tensor_new_dtype(x->ndim, x->shape, dt) : NULL;
    dm_tensor *gw = acc && want_w ? dm_tensor_new_dtype(w->ndim, w->shape, dt) : NULL;
    dm_tensor *gb = acc && want_b ? dm_tensor_new_dtype(b->ndim, b->shape, dt) : NULL;
    int rc = 0;
    if (!acc || (want_x && !gx) || (want_w && !gw) || (want_b && !gb)) {
        if (g && !acc) dm_seterr("%s: out of memory", n->op == DM_OP_LAYER_NORM ? "layer_norm" : "group_norm");
        rc = -1;
    } else {
        double *dw = want_w ? acc : NULL, *db = want_b ? acc + A : NULL;
        dm__kernels(dm__cur_device)->rownorm_bw(dt, xd, g, dm__ptr(n->saved[0]),
                                                dm__ptr(n->saved[1]), R, K, G, HW, wd,
                                                gx ? dm__ptr(gx) : NULL, dw, db);
        for (int64_t a = 0; a < A; a++) {
            if (gw && dt == DM_FLOAT32) ((float *)dm__ptr(gw))[a] = (float)dw[a];
            if (gw && dt == DM_FLOAT64) ((double *)dm__ptr(gw))[a] = dw[a];
            if (gb && dt == DM_FLOAT32) ((float *)dm__ptr(gb))[a] = (float)db[a];
            if (gb && dt == DM_FLOAT64) ((double *)dm__ptr(gb))[a] = db[a];
        }
    }
    free(acc);
    dm_tensor_release(hx);
    dm_tensor_release(hg);
    dm_tensor_release(hw);
    if (rc) {
        dm_tensor_release(gx); dm_tensor_release(gw); dm_tensor_release(gb);
        return -1;
    }
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}
