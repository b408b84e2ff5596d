/* ref/reduce_multi.c -- the naive loops of reduce_multi.c's ops: the cpu:ref device's, and
 * the reference for cpu/reduce_multi.c.  Each row reduced by its definition in double
 * (int64 for integer amax/amin): the maximum with NaN winning, log sum exp(x - m) + m, the
 * p-norm (sum |x|^p)^(1/p); the gradients from PyTorch's formulas, one element at a time. */
#include "internal.h"
#include "ref.h"
#include <math.h>

/* max (is_min 0) or min of row[0..R) with a NaN winning */
static double extreme(const double *row, int64_t R, int is_min)
{
    double m = row[0];
    for (int64_t r = 1; r < R; r++) {
        if (isnan(m)) return m;
        if (isnan(row[r]) || (is_min ? row[r] < m : row[r] > m)) m = row[r];
    }
    return m;
}

void dm__ref_mreduce(int kind, dm_dtype dt, const void *vp, int64_t K, int64_t R, double p,
                     void *yp)
{
    for (int64_t k = 0; k < K; k++) {
        if (dt == DM_INT64) {
            const int64_t *row = (const int64_t *)vp + k * R;
            int64_t m = row[0];
            for (int64_t r = 1; r < R; r++)
                if (kind == 1 ? row[r] < m : row[r] > m) m = row[r];
            ((int64_t *)yp)[k] = m;
            continue;
        }
        const double *row = (const double *)vp + k * R;
        double y = 0;
        if (kind <= 1) {
            y = extreme(row, R, kind == 1);
        } else if (kind == 2) {                   /* logsumexp */
            double m = R ? extreme(row, R, 0) : -INFINITY, s = 0;
            if (isinf(m)) m = 0;                  /* an infinite maximum shifts by 0 */
            for (int64_t r = 0; r < R; r++) s += exp(row[r] - m);
            y = log(s) + m;
        } else if (p == 0) {                      /* norm: the nonzero count */
            for (int64_t r = 0; r < R; r++) if (row[r] != 0) y += 1;
        } else if (isinf(p)) {                    /* max or min of |x|, 0 over nothing */
            for (int64_t r = 0; r < R; r++) {
                double a = fabs(row[r]);
                if (r == 0 || isnan(a) || (p > 0 ? a > y : a < y)) y = a;
                if (isnan(y)) break;
            }
        } else {
            for (int64_t r = 0; r < R; r++) y += pow(fabs(row[r]), p);
            y = pow(y, 1.0 / p);
        }
        ((double *)yp)[k] = y;
    }
}

static double sign(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

void dm__ref_mreduce_bw(int kind, const double *x, const double *y, const double *g,
                        int64_t K, int64_t R, double p, double *gi)
{
    for (int64_t k = 0; k < K; k++) {
        const double *row = x + k * R;
        double yk = y[k], gk = g[k];
        int64_t ties = 0;                         /* the elements that attain amax/amin/inf-norm */
        if (kind <= 1) for (int64_t r = 0; r < R; r++) ties += row[r] == yk;
        if (kind == 3 && isinf(p)) for (int64_t r = 0; r < R; r++) ties += fabs(row[r]) == yk;
        for (int64_t r = 0; r < R; r++) {
            double xr = row[r], o;
            if (kind <= 1) o = xr == yk ? gk / (double)ties : 0;
            else if (kind == 2) o = gk * exp(xr - yk);
            else if (p == 0) o = 0;
            else if (p == 1) o = gk * sign(xr);
            else if (isinf(p)) o = fabs(xr) == yk ? gk * sign(xr) / (double)ties : 0;
            else if (yk == 0) o = 0;
            else o = gk * sign(xr) * pow(fabs(xr), p - 1) / pow(yk, p - 1);
            gi[k * R + r] = o;
        }
    }
}

void dm__ref_any_all(int is_all, const double *v, int64_t K, int64_t R, uint8_t *y)
{
    for (int64_t k = 0; k < K; k++) {
        int64_t nz = 0;
        for (int64_t r = 0; r < R; r++) nz += v[k * R + r] != 0;
        y[k] = (uint8_t)(is_all ? nz == R : nz > 0);
    }
}

void dm__ref_isclass(int kind, const double *v, int64_t n, uint8_t *y)
{
    for (int64_t i = 0; i < n; i++) {
        int c = kind == 0 ? v[i] != v[i] : kind == 1 ? (v[i] == INFINITY || v[i] == -INFINITY)
              : kind == 2 ? (v[i] == v[i] && fabs(v[i]) != INFINITY)
              : kind == 3 ? v[i] == INFINITY : kind == 4 ? v[i] == -INFINITY
              : copysign(1.0, v[i]) < 0;                            /* signbit, -0 and -nan too */
        y[i] = (uint8_t)c;
    }
}

void dm__ref_nan_to_num(const double *v, int64_t n, double nan, double pi, double ni, double *y)
{
    for (int64_t i = 0; i < n; i++) {
        double x = v[i];
        if (x != x) x = nan;
        else if (x == INFINITY) x = pi;
        else if (x == -INFINITY) x = ni;
        y[i] = x;
    }
}

void dm__ref_nan_to_num_bw(const double *x, const double *g, int64_t n, double *gi)
{
    for (int64_t i = 0; i < n; i++) gi[i] = x[i] == x[i] && fabs(x[i]) != INFINITY ? g[i] : 0;
}
