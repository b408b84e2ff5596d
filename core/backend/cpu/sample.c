/* cpu/sample.c -- the cpu device's samplers (backend.h: multinomial, bernoulli_p, normal_p):
 * sample.c's loops, moved unchanged but for the draws, which are draw.h's inline ones (the
 * same stream as rng.c's dm_rng_uniform and dm_rng_normal).  The reference is ref/sample.c. */
#include "internal.h"
#include "cpu.h"
#include "draw.h"

void dm__cpu_multinomial(const double *p, int64_t rows, int64_t c, int64_t n, int replacement,
                         dm_rng *g, double *w, int64_t *perm, int64_t *o)
{
    for (int64_t b = 0; b < rows; b++) {
        const double *pr = p + b * c;
        if (replacement) {
            double s = 0;
            for (int64_t i = 0; i < c; i++) w[i] = s += pr[i];
            for (int64_t k = 0; k < n; k++) {
                double u = dm__draw_uniform(g) * s;
                int64_t lo = 0, hi = c - 1;            /* first i with w[i] > u */
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (w[mid] > u) hi = mid; else lo = mid + 1;
                }
                while (lo > 0 && pr[lo] == 0) lo--;    /* rounding at the top: a real one */
                while (pr[lo] == 0 && lo < c - 1) lo++;
                o[b * n + k] = lo;
            }
        } else {
            for (int64_t i = 0; i < c; i++) {
                double e = -log1p(-dm__draw_uniform(g));   /* Exp(1), > 0 but for u = 0 */
                w[i] = e > 0 ? pr[i] / e : (pr[i] > 0 ? INFINITY : 0);
                perm[i] = i;
            }
            /* the n largest keys by selection (n is usually small), ties by position */
            for (int64_t k = 0; k < n; k++) {
                int64_t best = k;
                for (int64_t i = k + 1; i < c; i++)
                    if (w[perm[i]] > w[perm[best]] ||
                        (w[perm[i]] == w[perm[best]] && perm[i] < perm[best])) best = i;
                int64_t t = perm[k]; perm[k] = perm[best]; perm[best] = t;
                o[b * n + k] = perm[k];
            }
        }
    }
}

void dm__cpu_bernoulli_p(dm_dtype dt, const double *pv, int64_t n, dm_rng *g, void *out)
{
    if (dt == DM_FLOAT64) {
        double *o = out;
        for (int64_t i = 0; i < n; i++) o[i] = dm__draw_uniform(g) < pv[i];
    } else {
        float *o = out;
        for (int64_t i = 0; i < n; i++) o[i] = dm__draw_uniform(g) < pv[i];
    }
}

void dm__cpu_normal_p(const double *mv, double mean_s, const double *sv, double std_s,
                      int64_t n, dm_rng *g, double *o)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = (mv ? mv[i] : mean_s) + (sv ? sv[i] : std_s) * dm__draw_normal(g);
}
