/* sort.c -- sort, argsort (the bindings), topk, kthvalue and unique, with PyTorch 1.13's
 * order: ascending puts NaN last, descending first; every sort here is a stable merge sort,
 * so ties keep their order (what PyTorch guarantees with stable=true).  Indices are 0-based
 * int64.  The values of sort, topk and kthvalue are differentiable: the gradient goes back
 * to the positions they came from (one rule, dm__bw_sort).  The loops are the device's
 * kernels (backend.h: sort, sort_bw, unique, unique_out; backend/cpu/sort.c, a stable merge
 * sort, and backend/ref/sort.c, a stable insertion sort). */
#include "ops_index.h"
#include "backend.h"

#define DEV (dm__kernels(dm__cur_device))

/* Sort x along d; keep the first k of each row (k = n: all) into values and indices of
 * x's shape with k at d.  The rows are [outer x n x inner]. */
static int sort_rows(const char *fn, const dm_tensor *x, int d, int desc, int64_t k,
                     dm_tensor **values, dm_tensor **indices)
{
    int64_t outer, n, inner;
    dm__split_dim(x, d, &outer, &n, &inner);
    int64_t shape[DM_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    if (x->ndim) shape[d] = k;
    size_t es = dm__esize(x->dtype);
    dm_tensor *hx = NULL;
    const char *src = dm__contig_as(x, x->dtype, &hx);
    dm_tensor *v = src ? dm_tensor_new_dtype(x->ndim, shape, x->dtype) : NULL;
    dm_tensor *ix = v ? dm_tensor_new_dtype(x->ndim, shape, DM_INT64) : NULL;
    char *row = ix ? malloc((size_t)(n ? n : 1) * es) : NULL;
    int64_t *p = row ? malloc((size_t)(n ? n : 1) * 2 * sizeof *p) : NULL;
    if (!p) {
        if (src && v && ix) dm_seterr("%s: out of memory", fn);
        free(row); dm_tensor_release(hx); dm_tensor_release(v); dm_tensor_release(ix);
        return -1;
    }
    // x is [outer x n x inner], values and indices are [outer x k x inner]
    DEV->sort(x->dtype, src, outer, n, inner, desc, k, row, p, dm__ptr(v), dm__ptr(ix));
    free(p); free(row); dm_tensor_release(hx);
    *values = v;
    *indices = ix;
    return 0;
}

/* record op on values (x's gradient: g at the saved indices) */
static int record_values(dm_op op, const dm_tensor *x, int d, int keepdim, dm_tensor **values,
                         dm_tensor **indices)
{
    if (!dm__needs_grad(1, (const dm_tensor *[]){ x })) return 0;
    dm_node *nd = dm__record(op, 0, *values, 1, (const dm_tensor *[]){ x });
    if (!nd || !dm__save(nd, 0, *indices)) {
        dm_tensor_release(*values); dm_tensor_release(*indices);
        *values = *indices = NULL;
        return -1;
    }
    nd->par.index.dim = d;
    nd->par.index.keepdim = keepdim;
    nd->par.index.alpha = 1;
    return 0;
}

int dm_sort(const dm_tensor *x, int dim, int descending, int stable, dm_tensor **values,
            dm_tensor **indices)
{
    (void)stable;                         /* always stable */
    *values = *indices = NULL;
    dm__device_of(x);
    int d = dm_wrap_dim("sort", dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0) return -1;
    int64_t n = x->ndim ? x->shape[d] : 1;
    if (sort_rows("sort", x, d, descending, n, values, indices)) return -1;
    return record_values(DM_OP_SORT, x, d, 1, values, indices);
}

int dm_topk(const dm_tensor *x, int64_t k, int dim, int largest, int sorted,
            dm_tensor **values, dm_tensor **indices)
{
    (void)sorted;                         /* always sorted (PyTorch leaves the order open) */
    char b1[DM_SHAPE_BUF];
    *values = *indices = NULL;
    dm__device_of(x);
    int d = dm_wrap_dim("topk", dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0) return -1;
    int64_t n = x->ndim ? x->shape[d] : 1;
    if (k < 0 || k > n) {
        dm_seterr("topk: k (%lld) is out of range for dim %d of input %s (size %lld)",
                  (long long)k, d + 1, SHAPE(x, b1), (long long)n);
        return -1;
    }
    if (sort_rows("topk", x, d, largest, k, values, indices)) return -1;
    return record_values(DM_OP_TOPK, x, d, 1, values, indices);
}

/* the k-th (1-based) along d of the sorted t, copied, shaped (nd, shape) */
static dm_tensor *kth_of(dm_tensor *t, int d, int64_t k, int nd, const int64_t *shape)
{
    if (t->ndim == 0) return dm_tensor_retain(t);
    int prev = dm_set_grad_enabled(0);
    dm_tensor *n = dm_narrow(t, d, k - 1, 1), *c = n ? dm_clone(n) : NULL;
    dm_tensor *r = c ? dm_view(c, nd, shape) : NULL;
    dm_set_grad_enabled(prev);
    dm_tensor_release(n);
    dm_tensor_release(c);
    return r;
}

int dm_kthvalue(const dm_tensor *x, int64_t k, int dim, int keepdim, dm_tensor **values,
                dm_tensor **indices)
{
    char b1[DM_SHAPE_BUF];
    *values = *indices = NULL;
    dm__device_of(x);
    int d = dm_wrap_dim("kthvalue", dim, x->ndim ? x->ndim : 1, 0);
    if (d < 0) return -1;
    int64_t n = x->ndim ? x->shape[d] : 1;
    if (k < 1 || k > n) {
        dm_seterr("kthvalue: k (%lld) is out of range for dim %d of input %s (k must be in "
                  "1 .. %lld)", (long long)k, d + 1, SHAPE(x, b1), (long long)n);
        return -1;
    }
    dm_tensor *v, *ix;
    if (sort_rows("kthvalue", x, d, 0, k, &v, &ix)) return -1;
    /* the k-th is the last of the k smallest: narrow to it, keep or drop the dim */
    int64_t shape[DM_MAX_DIMS];
    int nd = 0;
    for (int e = 0; e < x->ndim; e++)
        if (e != d) shape[nd++] = x->shape[e];
        else if (keepdim) shape[nd++] = 1;
    dm_tensor *v1 = kth_of(v, d, k, nd, shape), *i1 = v1 ? kth_of(ix, d, k, nd, shape) : NULL;
    dm_tensor_release(v);
    dm_tensor_release(ix);
    if (!i1) { dm_tensor_release(v1); return -1; }
    *values = v1;
    *indices = i1;
    return record_values(DM_OP_KTHVALUE, x, d, keepdim, values, indices);
}

/* sort, topk, kthvalue: zeros of x's shape with g added where each value came from; the
   saved indices are [outer x m x inner] (m = 1 for kthvalue, its dim kept or not) */
int dm__bw_sort(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *ix = n->saved[0];
    if (!x->requires_grad) return 0;
    dm_tensor *gx = dm_tensor_zeros_dtype(x->ndim, x->shape, gout->dtype);
    if (!gx) return -1;
    int64_t outer, size, inner;
    dm__split_dim(x, n->par.index.dim, &outer, &size, &inner);
    int64_t m = outer * inner != 0 ? dm__numel(ix) / (outer * inner) : 0;
    DEV->sort_bw(gout->dtype, dm__ptr(gout), dm__ptr(ix), outer, m, size, inner, dm__ptr(gx));
    gin[0] = gx;
    return 0;
}

/* ---- unique ----------------------------------------------------------------------------- */

int dm_unique(const dm_tensor *x, int dim, dm_tensor **values, dm_tensor **inverse,
              dm_tensor **counts)
{
    *values = *inverse = *counts = NULL;
    dm__device_of(x);
    int d = -1;
    if (dim != DM_ALL && (d = dm_wrap_dim("unique", dim, x->ndim ? x->ndim : 1, 0)) < 0)
        return -1;
    int64_t outer = 1, n = dm__numel(x), inner = 1;
    if (d >= 0) dm__split_dim(x, d, &outer, &n, &inner);
    if (d >= 0 && x->ndim == 0) n = 1;
    int64_t m = outer * inner;               /* values per item */
    size_t es = dm__esize(x->dtype);
    dm_tensor *hx = NULL;
    const char *src = dm__contig_as(x, x->dtype, &hx);
    char *items = src ? malloc((size_t)(n * m != 0 ? n * m : 1) * es) : NULL;
    int64_t *p = items ? malloc((size_t)(n ? n : 1) * 3 * sizeof *p) : NULL;
    if (!p) {
        if (src) dm_seterr("unique: out of memory");
        free(items); dm_tensor_release(hx);
        return -1;
    }
    /* sorted and grouped by the device: u groups */
    int64_t u = DEV->unique(x->dtype, src, outer, n, inner, items, p);
    dm_tensor_release(hx);
    int64_t vshape[DM_MAX_DIMS], cshape[1] = { u }, ishape[1] = { n };
    int vnd = 1;
    vshape[0] = u;
    if (d >= 0) {
        vnd = x->ndim;
        memcpy(vshape, x->shape, (size_t)x->ndim * sizeof *vshape);
        if (x->ndim) vshape[d] = u;
        else vnd = 0;
    }
    dm_tensor *v = dm_tensor_new_dtype(vnd, vshape, x->dtype);
    dm_tensor *inv = v ? (d >= 0 ? dm_tensor_new_dtype(1, ishape, DM_INT64)
                               : dm_tensor_new_dtype(x->ndim, x->shape, DM_INT64)) : NULL;
    dm_tensor *cnt = inv ? dm_tensor_zeros_dtype(1, cshape, DM_INT64) : NULL;
    if (cnt) {
        DEV->unique_out(x->dtype, items, p, outer, n, inner, u, dm__ptr(v), dm__ptr(inv),
                        dm__ptr(cnt));
    } else {
        dm_tensor_release(v); dm_tensor_release(inv);
        v = inv = NULL;
    }
    free(p); free(items);
    if (!cnt) return -1;
    *values = v; *inverse = inv; *counts = cnt;
    return 0;
}
