/* cpu/join.c -- the cpu device's slab copies for cat, stack and index_select (backend.h:
 * slabs, index_rows, index_add): whole runs by memcpy, the scatter-add of index_select's
 * backward one row at a time.  The reference is ref/join.c. */
#include "internal.h"
#include "cpu.h"

void dm__cpu_slabs(size_t es, int64_t outer, int64_t run, void *dst, int64_t dstep,
                   const void *src, int64_t sstep)
{
    if (run <= 0) return;
    char *d = dst;
    const char *s = src;
    int64_t e = (int64_t)es;
    if (dstep == run && sstep == run) {                 /* one block */
        memcpy(d, s, (size_t)(outer * run) * es);
        return;
    }
    for (int64_t o = 0; o < outer; o++)
        memcpy(d + o * dstep * e, s + o * sstep * e, (size_t)run * es);
}

// src [outer x size x inner], dst [outer x m x inner]: dst slab (a, j) = src slab (a, pos[j])
void dm__cpu_index_rows(size_t es, int64_t outer, int64_t m, int64_t size, int64_t inner,
                        const int64_t *pos, const void *src, void *dst)
{
    if (inner <= 0) return;
    const char *s = src;
    char *o = dst;
    int64_t row = inner * (int64_t)es;                  /* bytes of one slab */
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < m; j++)
            memcpy(o + (a * m + j) * row, s + (a * size + pos[j]) * row, (size_t)row);
}

/* dst [outer x size x inner] += g [outer x m x inner] scattered by pos; one definition
   per float type */
#define DEF_SCATTER_ADD(NAME, T) \
static void NAME(void *dst_, const void *g_, const int64_t *pos, int64_t outer, int64_t m, \
                 int64_t size, int64_t inner) \
{ \
    T *dst = dst_; \
    const T *g = g_; \
    for (int64_t a = 0; a < outer; a++) \
        for (int64_t j = 0; j < m; j++) { \
            T *row = dst + (a * size + pos[j]) * inner; \
            const T *grow = g + (a * m + j) * inner; \
            for (int64_t r = 0; r < inner; r++) row[r] += grow[r]; \
        } \
}
DEF_SCATTER_ADD(scatter_add_f32, float)
DEF_SCATTER_ADD(scatter_add_f64, double)

void dm__cpu_index_add(dm_dtype dt, int64_t outer, int64_t m, int64_t size, int64_t inner,
                       const int64_t *pos, const void *g, void *dst)
{
    (dt == DM_FLOAT64 ? scatter_add_f64 : scatter_add_f32)(dst, g, pos, outer, m, size, inner);
}
