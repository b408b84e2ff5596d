/* ref/join.c -- the naive slab copies: the cpu:ref device's, and the reference for
 * cpu/join.c.  Byte by byte, element by element, each index computed from scratch. */
#include "internal.h"
#include "ref.h"

void dm__ref_slabs(size_t es, int64_t outer, int64_t run, void *dst, int64_t dstep,
                   const void *src, int64_t sstep)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < run; i++)
            for (size_t b = 0; b < es; b++)
                ((char *)dst)[(o * dstep + i) * (int64_t)es + (int64_t)b] =
                    ((const char *)src)[(o * sstep + i) * (int64_t)es + (int64_t)b];
}

void dm__ref_index_rows(size_t es, int64_t outer, int64_t m, int64_t size, int64_t inner,
                        const int64_t *pos, const void *src, void *dst)
{
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = 0; r < inner; r++)
                memcpy((char *)dst + ((a * m + j) * inner + r) * (int64_t)es,
                       (const char *)src + ((a * size + pos[j]) * inner + r) * (int64_t)es, es);
}

void dm__ref_index_add(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                       const int64_t *pos, const void *g, void *dst)
{
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = 0; r < inner; r++) {
                int64_t di = (a * size + pos[j]) * inner + r, gi = (a * m + j) * inner + r;
                if (dt == DM_FLOAT64) ((double *)dst)[di] += ((const double *)g)[gi];
                else ((float *)dst)[di] += ((const float *)g)[gi];
            }
}
