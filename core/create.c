/* create.c -- tensors made from ranges and patterns: the bounds and counts checked here, the
 * values written by the current device's kernels (backend.h: range for arange and linspace,
 * fill on eye's diagonal). */
#include "internal.h"
#include "backend.h"

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
    dm__kernels(t->storage->device)->range(DM_FLOAT32, 0, start, end, step, n, dm__ptr(t));
    return t;
}

dm_tensor *dm_linspace(double start, double end, int64_t steps)
{
    if (steps < 0) { dm_seterr("linspace: number of steps must be non-negative, got %lld", (long long)steps); return NULL; }
    dm_tensor *t = dm_tensor_new(1, &steps);
    if (!t) return NULL;
    /* PyTorch fills the first half from start and the second half from end */
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    dm__kernels(t->storage->device)->range(DM_FLOAT32, 1, start, end, step, steps, dm__ptr(t));
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
    /* ones on the diagonal: a view of it [min(n, m)] (stride m + 1) filled */
    int64_t len = n < m ? n : m, st = m + 1;
    dm_tensor *d = dm_tensor_alias(t, 1, &len, &st, t->offset);
    if (!d) { dm_tensor_release(t); return NULL; }
    const float one = 1.0f;
    dm__kernels(t->storage->device)->fill(d, &one);
    dm_tensor_release(d);
    return t;
}
