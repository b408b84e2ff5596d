/* cpu/range.c -- arange's and linspace's fills (backend.h: range; core/create.c checks the
 * bounds and counts); the reference is ref/range.c. */
#include "internal.h"
#include "cpu.h"

void dm__cpu_range(dm_dtype dt, int linspace, double start, double end, double step,
                   int64_t n, void *out)
{
    if (dt == DM_FLOAT32) {
        float *d = out;
        if (!linspace) {
            for (int64_t i = 0; i < n; i++) d[i] = (float)(start + (double)i * step);
            return;
        }
        if (n == 1) d[0] = (float)start;
        /* PyTorch fills the first half from start and the second half from end */
        int64_t half = n / 2;
        for (int64_t i = 0; i < n && n > 1; i++)
            d[i] = i < half ? (float)(start + step * (double)i)
                            : (float)(end - step * (double)(n - 1 - i));
    } else {
        double *d = out;
        if (!linspace) {
            for (int64_t i = 0; i < n; i++) d[i] = start + (double)i * step;
            return;
        }
        if (n == 1) d[0] = start;
        int64_t half = n / 2;
        for (int64_t i = 0; i < n && n > 1; i++)
            d[i] = i < half ? start + step * (double)i : end - step * (double)(n - 1 - i);
    }
}
