/* create.c -- tensors made from ranges and patterns. */
#include "internal.h"

dm_tensor *dm_arange(double start, double end, double step)
{
    if (step == 0 || isnan(step) || isnan(start) || isnan(end)) {
        dm_seterr("arange: step must be nonzero and bounds finite (start %g, end %g, step %g)",
                  start, end, step);
        return NULL;
    }
    if ((step > 0 && end < start) || (step < 0 && end > start)) {
        dm_seterr("arange: upper bound and larger bound inconsistent with step sign "
                  "(start %g, end %g, step %g)", start, end, step);
        return NULL;
    }
    double count = ceil((end - start) / step);
    if (!(count < 1e12)) { dm_seterr("arange: too many elements (%g)", count); return NULL; }
    int64_t n = (int64_t)count;
    dm_tensor *t = dm_tensor_new(1, &n);
    if (!t) return NULL;
    float *d = dm_data(t);
    for (int64_t i = 0; i < n; i++) d[i] = (float)(start + (double)i * step);
    return t;
}

dm_tensor *dm_linspace(double start, double end, int64_t steps)
{
    if (steps < 0) { dm_seterr("linspace: number of steps must be non-negative, got %lld", (long long)steps); return NULL; }
    dm_tensor *t = dm_tensor_new(1, &steps);
    if (!t) return NULL;
    float *d = dm_data(t);
    if (steps == 1) d[0] = (float)start;
    /* PyTorch fills the first half from start and the second half from end */
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps && steps > 1; i++)
        d[i] = i < half ? (float)(start + step * (double)i)
                        : (float)(end - step * (double)(steps - 1 - i));
    return t;
}

dm_tensor *dm_eye(int64_t n, int64_t m)
{
    if (n < 0 || m < 0) {
        dm_seterr("eye: sizes must be non-negative, got %lld x %lld", (long long)n, (long long)m);
        return NULL;
    }
    dm_tensor *t = dm_tensor_zeros(2, (int64_t[]){n, m});
    if (!t) return NULL;
    float *d = dm_data(t);
    for (int64_t i = 0; i < n && i < m; i++) d[i * m + i] = 1.0f;
    return t;
}
