/* cpu/reduce_multi.c -- the loops of core/ops/reduce_multi.c (which checks the dims, lays the
 * input out as [K x R] rows in double or int64, and builds the results): amax/amin,
 * logsumexp and norm over rows with their backward, any/all, isnan/isinf/isfinite and
 * nan_to_num with its backward (backend.h describes each). */
#include "internal.h"
#include "cpu.h"
#include <math.h>

void dm__cpu_mreduce(int kind, dm_dtype dt, const void *vp, int64_t K, int64_t R, double p,
                     void *yp)
{
    if (dt == DM_INT64) {                          /* integer amax/amin, exactly */
        const int64_t *v = vp;
        int64_t *y = yp;
        for (int64_t k = 0; k < K; k++) {
            const int64_t *row = v + k * R;
            int64_t m = row[0];
            for (int64_t r = 1; r < R; r++)
                if (kind == 0 ? row[r] > m : row[r] < m) m = row[r];
            y[k] = m;
        }
        return;
    }
    const double *v = vp;
    double *y = yp;
    for (int64_t k = 0; k < K; k++) {
        const double *row = v + k * R;
        double acc = 0;
        switch (kind) {
        case 0: case 1: {
            double m = row[0];
            for (int64_t r = 1; r < R && !isnan(m); r++) {
                if (isnan(row[r])) m = row[r];
                else if (kind == 0 ? row[r] > m : row[r] < m) m = row[r];
            }
            acc = m;
            break;
        }
        case 2: {
            double m = -INFINITY;
            for (int64_t r = 0; r < R; r++) if (row[r] > m || isnan(row[r])) m = row[r];
            if (isinf(m)) m = 0;                  /* PyTorch: infinite maxima shift by 0 */
            for (int64_t r = 0; r < R; r++) acc += exp(row[r] - m);
            acc = log(acc) + m;
            break;
        }
        default:
            if (p == 0) for (int64_t r = 0; r < R; r++) acc += row[r] != 0;
            else if (p == 1) for (int64_t r = 0; r < R; r++) acc += fabs(row[r]);
            else if (p == 2) {
                for (int64_t r = 0; r < R; r++) acc += row[r] * row[r];
                acc = sqrt(acc);
            } else if (isinf(p)) {
                acc = R ? fabs(row[0]) : 0;       /* PyTorch: 0 over nothing */
                for (int64_t r = 1; r < R; r++) {
                    double a = fabs(row[r]);
                    if (isnan(a) || (p > 0 ? a > acc : a < acc)) acc = a;
                    if (isnan(acc)) break;
                }
            } else {
                for (int64_t r = 0; r < R; r++) acc += pow(fabs(row[r]), p);
                acc = pow(acc, 1.0 / p);
            }
            break;
        }
        y[k] = acc;
    }
}

static double sgn(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

void dm__cpu_mreduce_bw(int kind, const double *xv, const double *yv, const double *g,
                        int64_t K, int64_t R, double p, double *gi)
{
    for (int64_t k = 0; k < K; k++) {
        const double *row = xv + k * R;
        double *o = gi + k * R, yk = yv[k], gk = g[k];
        switch (kind) {
        case 0: case 1: {
            int64_t cnt = 0;
            for (int64_t r = 0; r < R; r++) cnt += row[r] == yk;
            for (int64_t r = 0; r < R; r++) o[r] = row[r] == yk ? gk / (double)cnt : 0;
            break;
        }
        case 2:
            for (int64_t r = 0; r < R; r++) o[r] = gk * exp(row[r] - yk);
            break;
        default:                                  /* norm */
            if (p == 0) {
                for (int64_t r = 0; r < R; r++) o[r] = 0;
            } else if (p == 1) {
                for (int64_t r = 0; r < R; r++) o[r] = sgn(row[r]) * gk;
            } else if (isinf(p)) {
                int64_t cnt = 0;
                for (int64_t r = 0; r < R; r++) cnt += fabs(row[r]) == yk;
                for (int64_t r = 0; r < R; r++)
                    o[r] = fabs(row[r]) == yk ? sgn(row[r]) * gk / (double)cnt : 0;
            } else if (yk == 0) {
                for (int64_t r = 0; r < R; r++) o[r] = 0;
            } else if (p == 2) {
                for (int64_t r = 0; r < R; r++) o[r] = row[r] * (gk / yk);
            } else {
                double s = gk / pow(yk, p - 1);
                for (int64_t r = 0; r < R; r++)
                    o[r] = (p < 2 ? sgn(row[r]) * pow(fabs(row[r]), p - 1)
                                  : row[r] * pow(fabs(row[r]), p - 2)) * s;
            }
            break;
        }
    }
}

void dm__cpu_any_all(int is_all, const double *v, int64_t K, int64_t R, uint8_t *y)
{
    for (int64_t k = 0; k < K; k++) {
        int acc = is_all;
        for (int64_t r = 0; r < R; r++) {
            int nz = v[k * R + r] != 0;
            if (is_all ? !nz : nz) { acc = !is_all; break; }
        }
        y[k] = (uint8_t)acc;
    }
}

void dm__cpu_isclass(int kind, const double *v, int64_t n, uint8_t *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)(kind == 0 ? !!isnan(v[i]) : kind == 1 ? !!isinf(v[i])   /* isinf(-inf): -1 */
                       : kind == 2 ? !!isfinite(v[i]) : kind == 3 ? v[i] == INFINITY
                       : kind == 4 ? v[i] == -INFINITY : !!signbit(v[i]));
}

void dm__cpu_nan_to_num(const double *v, int64_t n, double nan, double pi, double ni,
                        double *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = isnan(v[i]) ? nan : isinf(v[i]) ? (v[i] > 0 ? pi : ni) : v[i];
}

void dm__cpu_nan_to_num_bw(const double *xv, const double *g, int64_t n, double *gi)
{
    for (int64_t i = 0; i < n; i++) gi[i] = isfinite(xv[i]) ? g[i] : 0;
}
