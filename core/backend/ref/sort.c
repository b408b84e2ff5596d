/* ref/sort.c -- the naive loops of sort.c's ops: the cpu:ref device's, and the reference for
 * cpu/sort.c.  A stable insertion sort (each element placed after every one not after it),
 * one comparison of two elements at a time in their own type (NaN last ascending, first
 * descending); items of unique compared value by value in (q, r) order. */
#include "internal.h"
#include "ref.h"
#include <string.h>

/* element i of p (dt) strictly below element j of q, NaN above everything */
static int below(dm_dtype dt, const void *p, int64_t i, const void *q, int64_t j)
{
    switch (dt) {
    case DM_FLOAT32: case DM_FLOAT64: {
        double a = dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
        double b = dt == DM_FLOAT32 ? ((const float *)q)[j] : ((const double *)q)[j];
        if (a != a) return 0;                     /* NaN is below nothing */
        if (b != b) return 1;                     /* and above every number */
        return a < b;
    }
    case DM_INT64: return ((const int64_t *)p)[i] < ((const int64_t *)q)[j];
    default: return ((const uint8_t *)p)[i] < ((const uint8_t *)q)[j];
    }
}

static int is_nan(dm_dtype dt, const void *p, int64_t i)
{
    if (dt == DM_FLOAT32) return ((const float *)p)[i] != ((const float *)p)[i];
    if (dt == DM_FLOAT64) return ((const double *)p)[i] != ((const double *)p)[i];
    return 0;
}

/* the elements of row r of the sort: x[(q * n + i) * inner + r] */
void dm__ref_sort(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                  int desc, int64_t k, void *row, int64_t *perm, void *v, int64_t *ix)
{
    size_t es = dm__esize(dt);
    (void)row;
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++) {
            int64_t base = q * n * inner + r;
            for (int64_t i = 0; i < n; i++) {     /* insert position i after its equals */
                int64_t at = i;
                while (at > 0) {
                    int64_t a = base + perm[at - 1] * inner, b = base + i * inner;
                    int after = desc ? below(dt, x, a, x, b) : below(dt, x, b, x, a);
                    if (!after) break;
                    perm[at] = perm[at - 1];
                    at--;
                }
                perm[at] = i;
            }
            for (int64_t i = 0; i < k; i++) {
                int64_t o = (q * k + i) * inner + r;
                memcpy((char *)v + o * (int64_t)es, (const char *)x + (base + perm[i] * inner) *
                       (int64_t)es, es);
                ix[o] = perm[i];
            }
        }
}

void dm__ref_sort_bw(dm_dtype dt, const void *g, const int64_t *ix, int64_t outer, int64_t m,
                     int64_t size, int64_t inner, void *gi)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = 0; r < inner; r++) {
                int64_t a = (q * m + j) * inner + r, to = (q * size + ix[a]) * inner + r;
                if (dt == DM_FLOAT32) ((float *)gi)[to] += ((const float *)g)[a];
                else ((double *)gi)[to] += ((const double *)g)[a];
            }
}

/* item a of x before item b (lexicographically over (q, r)); 0 when equal */
static int item_below(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                      int64_t a, int64_t b)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++) {
            int64_t ia = (q * n + a) * inner + r, ib = (q * n + b) * inner + r;
            if (below(dt, x, ia, x, ib)) return 1;
            if (below(dt, x, ib, x, ia)) return 0;
        }
    return 0;
}

static int item_equal(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                      int64_t a, int64_t b)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++) {
            int64_t ia = (q * n + a) * inner + r, ib = (q * n + b) * inner + r;
            if (is_nan(dt, x, ia) || is_nan(dt, x, ib)) return 0;    /* NaN: never equal */
            if (below(dt, x, ia, x, ib) || below(dt, x, ib, x, ia)) return 0;
        }
    return 1;
}

/* items: x copied as it is ([outer x n x inner]), the layout unique_out reads */
int64_t dm__ref_unique(dm_dtype dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                       void *items, int64_t *perm)
{
    memcpy(items, x, (size_t)(outer * n * inner) * dm__esize(dt));
    for (int64_t i = 0; i < n; i++) {
        int64_t at = i;
        while (at > 0 && item_below(dt, x, outer, n, inner, i, perm[at - 1])) {
            perm[at] = perm[at - 1];
            at--;
        }
        perm[at] = i;
    }
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || !item_equal(dt, x, outer, n, inner, perm[i - 1], perm[i])) u++;
        perm[2 * n + i] = u - 1;
    }
    return u;
}

void dm__ref_unique_out(dm_dtype dt, const void *items, const int64_t *perm, int64_t outer,
                        int64_t n, int64_t inner, int64_t u, void *v, int64_t *inv,
                        int64_t *cnt)
{
    size_t es = dm__esize(dt);
    for (int64_t i = 0; i < n; i++) {
        int64_t g = perm[2 * n + i], it = perm[i];
        inv[it] = g;
        if (cnt[g]++ > 0) continue;
        for (int64_t q = 0; q < outer; q++)
            for (int64_t r = 0; r < inner; r++)
                memcpy((char *)v + ((q * u + g) * inner + r) * (int64_t)es,
                       (const char *)items + ((q * n + it) * inner + r) * (int64_t)es, es);
    }
}
