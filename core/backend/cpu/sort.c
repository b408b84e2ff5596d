/* cpu/sort.c -- the loops of core/ops/sort.c (which checks k and the dim, allocates the
 * results and the scratch, and records): the stable merge sort of rows (sort, topk,
 * kthvalue), its scatter-add backward, and unique's sort and grouping of items (backend.h
 * describes each).  Ascending puts NaN last, descending first. */
#include "internal.h"
#include "cpu.h"
#include <string.h>

#define LT_NAN(a, b) ((a) < (b) || ((b) != (b) && (a) == (a)))

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
    if (c->m == 1) return c->desc ? LT_NAN(v[b], v[a]) : LT_NAN(v[a], v[b]); \
    const T *x = v + a * c->m, *y = v + b * c->m; \
    for (int64_t k = 0; k < c->m; k++) { \
        if (LT_NAN(x[k], y[k])) return !c->desc; \
        if (LT_NAN(y[k], x[k])) return c->desc; \
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

void dm__cpu_sort(dm_dtype dt, const void *xp, int64_t outer, int64_t n, int64_t inner,
                  int desc, int64_t k, void *rowp, int64_t *p, void *vp, int64_t *io)
{
    int64_t es = (int64_t)dm__esize(dt);
    const char *src = xp;
    char *row = rowp, *vo = vp;
    before_fn bf = before_of(dt);
    sctx c = { row, 1, desc };
    // x is [outer x n x inner], values and indices are [outer x k x inner]
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++) {
            for (int64_t i = 0; i < n; i++) {
                memcpy(row + i * es, src + ((q * n + i) * inner + r) * es, (size_t)es);
                p[i] = i;
            }
            msort(p, p + n, n, bf, &c);
            for (int64_t i = 0; i < k; i++) {
                int64_t o = (q * k + i) * inner + r;
                memcpy(vo + o * es, row + p[i] * es, (size_t)es);
                io[o] = p[i];
            }
        }
}

#define SORT_BW(T)                                                                          \
    do {                                                                                    \
        T *o = gip;                                                                         \
        const T *g = gp;                                                                    \
        for (int64_t q = 0; q < outer; q++)                                                 \
            for (int64_t j = 0; j < m; j++)                                                 \
                for (int64_t r = 0; r < inner; r++) {                                       \
                    int64_t a = (q * m + j) * inner + r;                                    \
                    o[(q * size + ix[a]) * inner + r] += g[a];                              \
                }                                                                           \
    } while (0)

void dm__cpu_sort_bw(dm_dtype dt, const void *gp, const int64_t *ix, int64_t outer, int64_t m,
                     int64_t size, int64_t inner, void *gip)
{
    if (dt == DM_FLOAT64) SORT_BW(double);
    else SORT_BW(float);
}

int64_t dm__cpu_unique(dm_dtype dt, const void *xp, int64_t outer, int64_t n, int64_t inner,
                       void *itemsp, int64_t *p)
{
    int64_t m = outer * inner, es = (int64_t)dm__esize(dt);
    const char *src = xp;
    char *items = itemsp;
    /* the items as [n x m] rows: slice i is x[q][i][r] in (q, r) order */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t q = 0; q < outer; q++)
            memcpy(items + (i * m + q * inner) * es, src + (q * n + i) * inner * es,
                   (size_t)(inner * es));
        p[i] = i;
    }
    before_fn bf = before_of(dt);
    sctx c = { items, m, 0 };
    msort(p, p + n, n, bf, &c);
    /* group: equal neighbours (neither before the other; NaNs are all equal here but PyTorch
       keeps each apart, so look for NaNs too for floats) */
    int64_t *grp = p + 2 * n, u = 0;        /* grp[i]: the unique number of sorted item i */
    for (int64_t i = 0; i < n; i++) {
        int same = i > 0 && !bf(&c, p[i - 1], p[i]) && !bf(&c, p[i], p[i - 1]);
        if (same && dt == DM_FLOAT32) {          /* NaN: never equal */
            const float *a = (const float *)items + p[i] * m;
            for (int64_t j = 0; j < m; j++) if (a[j] != a[j]) same = 0;
        } else if (same && dt == DM_FLOAT64) {
            const double *a = (const double *)items + p[i] * m;
            for (int64_t j = 0; j < m; j++) if (a[j] != a[j]) same = 0;
        }
        if (!same) u++;
        grp[i] = u - 1;
    }
    return u;
}

void dm__cpu_unique_out(dm_dtype dt, const void *itemsp, const int64_t *p, int64_t outer,
                        int64_t n, int64_t inner, int64_t u, void *vp, int64_t *io,
                        int64_t *co)
{
    int64_t m = outer * inner, es = (int64_t)dm__esize(dt);
    const int64_t *grp = p + 2 * n;
    const char *items = itemsp;
    char *vo = vp;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = grp[i];
        io[p[i]] = g;
        if (co[g]++ == 0)               /* first of its group: its values */
            for (int64_t q = 0; q < outer; q++)
                memcpy(vo + (q * u + g) * inner * es, items + (p[i] * m + q * inner) * es,
                       (size_t)(inner * es));
    }
}
