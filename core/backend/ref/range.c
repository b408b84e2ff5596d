/* ref/range.c -- arange's and linspace's fills, one element at a time from the definitions
 * (backend.h: range): the cpu:ref device's, and the reference for cpu/range.c. */
#include "internal.h"
#include "ref.h"

void dm__ref_range(dm_dtype dt, int linspace, double start, double end, double step,
                   int64_t n, void *out)
{
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (!linspace) v = start + (double)i * step;
        else if (n == 1) v = start;
        else if (i < n / 2) v = start + step * (double)i;          /* from start ... */
        else v = end - step * (double)(n - 1 - i);                  /* ... and from end */
        if (dt == DM_FLOAT32) ((float *)out)[i] = (float)v;
        else ((double *)out)[i] = v;
    }
}
