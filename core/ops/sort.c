/* sort.c -- sort, argsort (the bindings), topk, kthvalue and unique, with PyTorch 1.13's
 * order: ascending puts NaN last, descending first; every sort here is a stable merge sort,
 * so ties keep their order (what PyTorch guarantees with stable=true).  Indices are 0-based
 * int64.  The values of sort, topk and kthvalue are differentiable: the gradient goes back
 * to the positions they came from (one rule, dm__bw_sort). */
#include "ops_index.h"

/* a strictly before b (positions into ctx's values) */
typedef int (*before_fn)(const void *ctx, int64_t a, int64_t b);
typedef struct {
    const void *v;          /* the values: a row, or [n x m] slices for unique(dim) */
    int64_t m;              /* values per item (1 but for unique's slices) */
    int desc;
} sctx;

#define DEF_BEFORE(NAME, T) \
static int NAME(const void *c_, int64_t a, int64_t b) \
{ \
    const sctx *c = c_; \
    const T *v = c->v; \
    if (c->m == 1) return c->desc ? DM_LT_NAN(v[b], v[a]) : DM_LT_NAN(v[a], v[b]); \
    const T *x = v + a * c->m, *y = v + b * c->m; \
    for (int64_t k = 0; k < c->m; k++) { \
        if (DM_LT_NAN(x[k], y[k])) return !c->desc; \
        if (DM_LT_NAN(y[k], x[k])) return c->desc; \
    } \
    return 0; \
}
DEF_BEFORE(before_f32, float)
DEF_BEFORE(before_f64, double)
DEF_BEFORE(before_i64, int64_t)
DEF_BEFORE(before_u8, uint8_t)

static before_fn before_of(dm_dtype dt)
{
    return dt == DM_FLOAT32 ? before_f32 : dt == DM_FLOAT64 ? before_f64
         : dt == DM_INT64 ? before_i64 : before_u8;
}

/* p[0..n) sorted stably by bf (bottom-up merge sort; tmp holds n) */
static void msort(int64_t *p, int64_t *tmp, int64_t n, before_fn bf, const void *ctx)
{
    int64_t *a = p, *b = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = bf(ctx, a[j], a[i]) ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int64_t *t = a; a = b; b = t;
    }
    if (a != p) memcpy(p, a, (size_t)n * sizeof *p);
}

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
    before_fn bf = before_of(x->dtype);
    sctx c = { row, 1, desc };
    char *vo = dm__ptr(v);
    int64_t *io = dm__ptr(ix);
    // x is [outer x n x inner], values and indices are [outer x k x inner]
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++) {
            for (int64_t i = 0; i < n; i++) {
                memcpy(row + i * (int64_t)es, src + ((q * n + i) * inner + r) * (int64_t)es, es);
                p[i] = i;
            }
            msort(p, p + n, n, bf, &c);
            for (int64_t i = 0; i < k; i++) {
                int64_t o = (q * k + i) * inner + r;
                memcpy(vo + o * (int64_t)es, row + p[i] * (int64_t)es, es);
                io[o] = p[i];
            }
        }
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
    int64_t outer, kk, inner;
    dm__split_dim(v, d, &outer, &kk, &inner);
    int64_t shape[DM_MAX_DIMS];
    int nd = 0;
    for (int e = 0; e < x->ndim; e++)
        if (e != d) shape[nd++] = x->shape[e];
        else if (keepdim) shape[nd++] = 1;
    dm_tensor *v1 = dm_tensor_new_dtype(nd, shape, x->dtype);
    dm_tensor *i1 = v1 ? dm_tensor_new_dtype(nd, shape, DM_INT64) : NULL;
    if (i1) {
        size_t es = dm__esize(x->dtype);
        const char *vs = dm__ptr(v);
        char *vo = dm__ptr(v1);
        const int64_t *is = dm__ptr(ix);
        int64_t *io = dm__ptr(i1);
        for (int64_t q = 0; q < outer; q++)
            for (int64_t r = 0; r < inner; r++) {
                int64_t from = (q * kk + k - 1) * inner + r, to = q * inner + r;
                memcpy(vo + to * (int64_t)es, vs + from * (int64_t)es, es);
                io[to] = is[from];
            }
    }
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
    const int64_t *p = dm__ptr(ix);
    DM_TYPED(gout->dtype,
        T *o = dm__ptr(gx);
        const T *g = dm__ptr(gout);
        for (int64_t q = 0; q < outer; q++)
            for (int64_t j = 0; j < m; j++)
                for (int64_t r = 0; r < inner; r++) {
                    int64_t a = (q * m + j) * inner + r;
                    o[(q * size + p[a]) * inner + r] += g[a];
                });
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
    /* the items as [n x m] rows: slice i is x[q][i][r] in (q, r) order */
    char *items = src ? malloc((size_t)(n * m != 0 ? n * m : 1) * es) : NULL;
    int64_t *p = items ? malloc((size_t)(n ? n : 1) * 3 * sizeof *p) : NULL;
    if (!p) {
        if (src) dm_seterr("unique: out of memory");
        free(items); dm_tensor_release(hx);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t q = 0; q < outer; q++)
            memcpy(items + (i * m + q * inner) * (int64_t)es,
                   src + (q * n + i) * inner * (int64_t)es, (size_t)inner * es);
        p[i] = i;
    }
    dm_tensor_release(hx);
    before_fn bf = before_of(x->dtype);
    sctx c = { items, m, 0 };
    msort(p, p + n, n, bf, &c);
    /* group: equal neighbours (neither before the other; NaNs are all equal here but PyTorch
       keeps each apart, so compare the bytes too for floats) */
    int64_t *grp = p + 2 * n, u = 0;        /* grp[i]: the unique number of sorted item i */
    for (int64_t i = 0; i < n; i++) {
        int same = i > 0 && !bf(&c, p[i - 1], p[i]) && !bf(&c, p[i], p[i - 1]);
        if (same && dm_is_floating(x->dtype))     /* NaN: never equal */
            DM_TYPED(x->dtype, const T *a = (const T *)items + p[i] * m;
                     for (int64_t k = 0; k < m; k++) if (a[k] != a[k]) same = 0;);
        if (!same) u++;
        grp[i] = u - 1;
    }
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
        char *vo = dm__ptr(v);
        int64_t *io = dm__ptr(inv), *co = dm__ptr(cnt);
        for (int64_t i = 0; i < n; i++) {
            int64_t g = grp[i];
            io[p[i]] = g;
            if (co[g]++ == 0)               /* first of its group: its values */
                for (int64_t q = 0; q < outer; q++)
                    memcpy(vo + (q * u + g) * inner * (int64_t)es,
                           items + (p[i] * m + q * inner) * (int64_t)es, (size_t)inner * es);
        }
    } else {
        dm_tensor_release(v); dm_tensor_release(inv);
        v = inv = NULL;
    }
    free(p); free(items);
    if (!cnt) return -1;
    *values = v; *inverse = inv; *counts = cnt;
    return 0;
}
