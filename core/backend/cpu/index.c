/* cpu/index.c -- the loops of index.c's nonzero and masked_fill (backend.h: nonzero,
 * masked_fill); advanced indexing and index_put move their elements with put (gather.c).
 * The reference is ref/index.c. */
#include "internal.h"
#include "cpu.h"
#include <stdint.h>
#include <string.h>

int64_t dm__cpu_nonzero(const double *v, int64_t n, int nd, const int64_t *shape, int64_t *o)
{
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) cnt += v[i] != 0;
    if (!o) return cnt;
    int64_t idx[DM_MAX_DIMS] = { 0 };
    for (int64_t i = 0; i < n; i++) {
        if (v[i] != 0) for (int d = 0; d < nd; d++) *o++ = idx[d];
        for (int d = nd - 1; d >= 0; d--) {            /* the next row-major position */
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
    return cnt;
}

void dm__cpu_masked_fill(dm_dtype dt, void *out, const uint8_t *mask, int64_t n,
                         const void *value)
{
    switch (dt) {
    case DM_FLOAT32: {
        float *o = out, v = *(const float *)value;
        for (int64_t i = 0; i < n; i++) if (mask[i]) o[i] = v;
        break;
    }
    case DM_FLOAT64: {
        double *o = out, v = *(const double *)value;
        for (int64_t i = 0; i < n; i++) if (mask[i]) o[i] = v;
        break;
    }
    case DM_INT64: {
        int64_t *o = out, v = *(const int64_t *)value;
        for (int64_t i = 0; i < n; i++) if (mask[i]) o[i] = v;
        break;
    }
    default: {
        uint8_t *o = out, v = *(const uint8_t *)value;
        for (int64_t i = 0; i < n; i++) if (mask[i]) o[i] = v;
        break;
    }
    }
}

/* advanced indexing's offsets: the result's coordinates ri stepped in row-major order */
void dm__cpu_adv_offsets(const dm_adv_plan *p)
{
    int64_t ri[DM_MAX_DIMS] = { 0 };
    for (int64_t i = 0; i < p->n; i++) {
        int64_t o = p->xoffset, bi = 0;
        for (int r = 0; r < p->rnd; r++) {
            if (p->src[r] >= 0) o += ri[r] * p->xstride[p->src[r]];
            else bi = bi * p->rshape[r] + ri[r];
        }
        for (int q = 0; q < p->k; q++) o += p->ix[q * p->nB + bi] * p->xstride[p->kdim[q]];
        p->off[i] = o;
        for (int r = p->rnd - 1; r >= 0; r--) {
            if (++ri[r] < p->rshape[r]) break;
            ri[r] = 0;
        }
    }
}
