/* ref/scan.c -- the naive loops of scan.c's ops: the cpu:ref device's, and the reference for
 * cpu/scan.c.  cumsum and cumprod run along each row with one accumulator of the result's
 * type (int64 wrapping, as uint64); the backward from the definitions: cumsum's gradient the
 * suffix sums, cumprod's gi[i] = sum over k >= i of g[k] prod_{j <= k, j != i} x[j], in
 * double, without dividing (zeros need no special case). */
#include "internal.h"
#include "ref.h"

void dm__ref_scan(int prod, dm_dtype dt, void *o, int64_t outer, int64_t n, int64_t inner)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++)
            for (int64_t i = 1; i < n; i++) {
                int64_t at = (q * n + i) * inner + r, pv = at - inner;
                if (dt == DM_INT64) {
                    uint64_t a = (uint64_t)((int64_t *)o)[at], b = (uint64_t)((int64_t *)o)[pv];
                    ((int64_t *)o)[at] = (int64_t)(prod ? a * b : a + b);
                } else if (dt == DM_FLOAT64) {
                    double *d = o;
                    d[at] = prod ? d[at] * d[pv] : d[at] + d[pv];
                } else {
                    float *f = o;
                    f[at] = prod ? f[at] * f[pv] : f[at] + f[pv];
                }
            }
}

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

void dm__ref_scan_bw(int prod, dm_dtype dt, const void *g, const void *x, int64_t outer,
                     int64_t n, int64_t inner, void *gi)
{
    for (int64_t q = 0; q < outer; q++)
        for (int64_t r = 0; r < inner; r++)
            for (int64_t i = 0; i < n; i++) {
                int64_t base = q * n * inner + r;
                double s = 0, before = 1;         /* before: prod_{j < i} x[j] */
                if (prod) for (int64_t j = 0; j < i; j++) before *= ld(dt, x, base + j * inner);
                double run = before;              /* prod_{j <= k, j != i} x[j] */
                for (int64_t k = i; k < n; k++) {
                    if (prod && k > i) run *= ld(dt, x, base + k * inner);
                    s += ld(dt, g, base + k * inner) * (prod ? run : 1);
                }
                if (dt == DM_FLOAT32) ((float *)gi)[base + i * inner] = (float)s;
                else ((double *)gi)[base + i * inner] = s;
            }
}
