/* ref/index.c -- the naive nonzero and masked_fill: the cpu:ref device's, and the reference
 * for cpu/index.c.  nonzero finds each position's coordinates by division, from scratch. */
#include "internal.h"
#include "ref.h"

int64_t dm__ref_nonzero(const double *v, int64_t n, int nd, const int64_t *shape, int64_t *o)
{
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(v[i] != 0)) continue;
        if (o) {
            int64_t rest = i;
            for (int d = nd - 1; d >= 0; d--) {
                o[cnt * nd + d] = rest % shape[d];
                rest /= shape[d];
            }
        }
        cnt++;
    }
    return cnt;
}

void dm__ref_masked_fill(dm_dtype dt, void *out, const uint8_t *mask, int64_t n,
                         const void *value)
{
    size_t es = dm__esize(dt);
    for (int64_t i = 0; i < n; i++)
        if (mask[i] != 0) memcpy((char *)out + i * (int64_t)es, value, es);
}

/* each result element's coordinates found by division, its offset summed from scratch */
void dm__ref_adv_offsets(const dm_adv_plan *p)
{
    for (int64_t i = 0; i < p->n; i++) {
        int64_t ri[DM_MAX_DIMS], rest = i;
        for (int r = p->rnd - 1; r >= 0; r--) {
            ri[r] = rest % p->rshape[r];
            rest /= p->rshape[r];
        }
        int64_t o = p->xoffset, bi = 0;
        for (int r = 0; r < p->rnd; r++) {
            if (p->src[r] >= 0) o += ri[r] * p->xstride[p->src[r]];
            else bi = bi * p->rshape[r] + ri[r];
        }
        for (int q = 0; q < p->k; q++) o += p->ix[q * p->nB + bi] * p->xstride[p->kdim[q]];
        p->off[i] = o;
    }
}
