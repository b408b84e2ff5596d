/* ref/sample.c -- the naive samplers: the cpu:ref device's, and the reference for
 * cpu/sample.c.  A random stream can only be compared draw for draw, so these draw exactly
 * as the cpu kernels do (draw.h, in the order backend.h gives); what differs is the search:
 * a linear scan of the cumulative sums for multinomial with replacement, and for the
 * exponential race a scan of all the categories not yet taken for each of the n largest
 * keys (the first of equal keys wins). */
#include "internal.h"
#include "ref.h"
#include "draw.h"

void dm__ref_multinomial(const double *p, int64_t rows, int64_t c, int64_t n, int replacement,
                         dm_rng *g, double *w, int64_t *perm, int64_t *o)
{
    for (int64_t b = 0; b < rows; b++) {
        const double *pr = p + b * c;
        if (replacement) {
            double s = 0;
            for (int64_t i = 0; i < c; i++) {
                s += pr[i];
                w[i] = s;
            }
            for (int64_t k = 0; k < n; k++) {
                double u = dm__draw_uniform(g) * s;
                int64_t j = c - 1;
                for (int64_t i = 0; i < c; i++)
                    if (w[i] > u) { j = i; break; }
                /* a zero-probability category only by rounding: the nearest real one below,
                   else above */
                while (j > 0 && pr[j] == 0) j--;
                while (pr[j] == 0 && j < c - 1) j++;
                o[b * n + k] = j;
            }
        } else {
            for (int64_t i = 0; i < c; i++) {
                double e = -log1p(-dm__draw_uniform(g));
                w[i] = e > 0 ? pr[i] / e : (pr[i] > 0 ? INFINITY : 0);
                perm[i] = 0;                                   /* taken? */
            }
            for (int64_t k = 0; k < n; k++) {
                int64_t best = -1;
                for (int64_t i = 0; i < c; i++)
                    if (!perm[i] && (best < 0 || w[i] > w[best])) best = i;
                perm[best] = 1;
                o[b * n + k] = best;
            }
        }
    }
}

void dm__ref_bernoulli_p(dm_dtype dt, const double *p, int64_t n, dm_rng *g, void *o)
{
    for (int64_t i = 0; i < n; i++) {
        double v = dm__draw_uniform(g) < p[i] ? 1.0 : 0.0;
        if (dt == DM_FLOAT32) ((float *)o)[i] = (float)v;
        else ((double *)o)[i] = v;
    }
}

void dm__ref_normal_p(const double *mv, double mean_s, const double *sv, double std_s,
                      int64_t n, dm_rng *g, double *o)
{
    for (int64_t i = 0; i < n; i++) {
        double z = dm__draw_normal(g);
        double m = mv ? mv[i] : mean_s, s = sv ? sv[i] : std_s;
        o[i] = m + s * z;
    }
}
