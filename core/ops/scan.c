/* scan.c -- cumsum and cumprod along a dim, with their backward rules.  Dtypes as PyTorch:
 * floating inputs keep their dtype, integer and bool inputs give int64 (wrapping). */
#include "ops_index.h"

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
    if (rt == DM_INT64) {               /* int64 wraps (as PyTorch's): unsigned arithmetic,
                                           signed overflow would be undefined */
        int64_t *o = dm__ptr(out);
        for (int64_t q = 0; q < outer; q++)
            for (int64_t i = 1; i < n; i++) {
                int64_t *cur = o + (q * n + i) * inner, *prev = cur - inner;
                for (int64_t r = 0; r < inner; r++)
                    cur[r] = (int64_t)(op == DM_OP_CUMSUM ? (uint64_t)cur[r] + (uint64_t)prev[r]
                                                          : (uint64_t)cur[r] * (uint64_t)prev[r]);
            }
    } else
    DM_TYPED(rt,
        T *o = dm__ptr(out);
        for (int64_t q = 0; q < outer; q++)
            for (int64_t i = 1; i < n; i++) {
                T *cur = o + (q * n + i) * inner, *prev = cur - inner;
                if (op == DM_OP_CUMSUM) for (int64_t r = 0; r < inner; r++) cur[r] += prev[r];
                else for (int64_t r = 0; r < inner; r++) cur[r] *= prev[r];
            });
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
    DM_TYPED(gout->dtype,
        T *o = dm__ptr(gx);
        const T *g = dm__ptr(gout), *xs = xv;
        for (int64_t q = 0; q < outer; q++)
            for (int64_t r = 0; r < inner; r++) {
                const int64_t base = q * n * inner + r;
                T *oo = o + base;
                const T *gg = g + base, *xx = xs ? xs + base : NULL;
                if (nd->op == DM_OP_CUMSUM) {
                    T acc = 0;
                    for (int64_t i = n - 1; i >= 0; i--) { acc += gg[(i) * inner]; oo[(i) * inner] = acc; }
                    continue;
                }
                int64_t z = 0;
                while (z < n && xx[(z) * inner] != 0) z++;
                /* i < z: suffix sums of g y over the nonzero prefix (y is 0 from z on) */
                T y = 1, pre;
                for (int64_t i = 0; i < z; i++) { y *= xx[(i) * inner]; oo[(i) * inner] = gg[(i) * inner] * y; }
                pre = y;                               /* prod of x before z */
                T acc = 0;
                for (int64_t i = z - 1; i >= 0; i--) {
                    acc += oo[(i) * inner];
                    oo[(i) * inner] = acc / xx[(i) * inner];
                }
                if (z < n) {
                    T run = 1, s = 0;
                    for (int64_t k = z; k < n; k++) {
                        if (k > z) run *= xx[(k) * inner];
                        s += gg[(k) * inner] * run;
                    }
                    oo[(z) * inner] = pre * s;
                    for (int64_t i = z + 1; i < n; i++) oo[(i) * inner] = 0;
                }
            });
    dm_tensor_release(hx);
    gin[0] = gx;
    return 0;
}
