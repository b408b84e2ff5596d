/* scan.c -- cumsum and cumprod along a dim, with their backward rules.  Dtypes as PyTorch:
 * floating inputs keep their dtype, integer and bool inputs give int64 (wrapping).  The
 * loops are the device's kernels (backend.h: scan, scan_bw; backend/cpu/scan.c,
 * backend/ref/scan.c). */
#include "ops_index.h"
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

static dm_tensor *scan(const char *fn, dm_op op, const dm_tensor *x, int dim)
{
    dm__device_of(x);
    int d = dm_wrap_dim(fn, dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0) return NULL;
    dm_dtype rt = dm_is_floating(x->dtype) ? x->dtype : DM_INT64;
    dm_tensor *out = dm__contig_copy(x, rt);
    if (!out) return NULL;
    int64_t outer, n, inner;
    dm__split_dim(x, d, &outer, &n, &inner);
    if (x->ndim == 0) n = 1;
    // out is [outer x n x inner]; each (q, r) row runs along n
    DEV->scan(op == DM_OP_CUMPROD, rt, dm__ptr(out), outer, n, inner);
    if (dm__needs_grad(1, (const dm_tensor *[]){ x })) {
        dm_node *nd = dm__record(op, 0, out, 1, (const dm_tensor *[]){ x });
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.index.dim = d;
        nd->par.index.keepdim = 0;
        nd->par.index.alpha = 1;
    }
    return out;
}

dm_tensor *dm_cumsum(const dm_tensor *x, int dim) { return scan("cumsum", DM_OP_CUMSUM, x, dim); }
dm_tensor *dm_cumprod(const dm_tensor *x, int dim) { return scan("cumprod", DM_OP_CUMPROD, x, dim); }

/* cumsum: gx[i] = sum over k >= i of g[k].
 * cumprod: gx[i] = sum over k >= i of g[k] prod_{j <= k, j != i} x[j].  With z the first zero
 * of the row: for i < z that is (sum_{k >= i} g[k] y[k]) / x[i]; at z it is
 * prod_{j < z} x[j] * sum_{k >= z} g[k] prod_{z < j <= k} x[j]; after z it is 0 (PyTorch's
 * cumprod_backward, which handles zeros the same way). */
int dm__bw_scan(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *nd, const dm_tensor *gout,
                dm_tensor **gin)
{
    const dm_tensor *x = nd->in[0];
    if (!x->requires_grad) return 0;
    int d = nd->par.index.dim;
    dm_tensor *gx = dm_tensor_new_dtype(x->ndim, x->shape, gout->dtype);
    dm_tensor *hx = NULL;
    const void *xv = gx && nd->op == DM_OP_CUMPROD ? dm__contig_as(x, gout->dtype, &hx) : NULL;
    if (!gx || (nd->op == DM_OP_CUMPROD && !xv)) { dm_tensor_release(gx); return -1; }
    int64_t outer, n, inner;
    dm__split_dim(x, d, &outer, &n, &inner);
    if (x->ndim == 0) n = 1;
    DEV->scan_bw(nd->op == DM_OP_CUMPROD, gout->dtype, dm__ptr(gout), xv, outer, n, inner,
                 dm__ptr(gx));
    dm_tensor_release(hx);
    gin[0] = gx;
    return 0;
}
