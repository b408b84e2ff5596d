/* ref/shape.c -- the naive element moves of tril, triu and flip (backend.h: tri, flip): the
 * cpu:ref device's, and the reference for cpu/shape.c.  One element at a time: tril/triu
 * decide each element from j - i against k (no overflow for any k), flip computes each output
 * element's index and reads the source element at the mirrored one. */
#include "internal.h"
#include "ref.h"
#include <string.h>

void dm__ref_tri(size_t es, int64_t nb, int64_t r, int64_t c, int64_t k, int upper,
                 const void *src, void *dst)
{
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++) {
                int64_t e = (b * r + i) * c + j;
                int keep = upper ? j - i >= k : j - i <= k;
                char *o = (char *)dst + e * (int64_t)es;
                if (keep) memcpy(o, (const char *)src + e * (int64_t)es, es);
                else memset(o, 0, es);
            }
}

void dm__ref_flip(size_t es, int nd, const int64_t *shape, unsigned mask, const void *src,
                  void *dst)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    for (int64_t e = 0; e < n; e++) {
        /* e's index, mirrored along the flipped dims, back to a flat position */
        int64_t rest = e, from = 0, step = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t i = rest % shape[d];
            rest /= shape[d];
            if (mask >> d & 1) i = shape[d] - 1 - i;
            from += i * step;
            step *= shape[d];
        }
        memcpy((char *)dst + e * (int64_t)es, (const char *)src + from * (int64_t)es, es);
    }
}
