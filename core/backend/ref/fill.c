/* ref/fill.c -- the naive random and structured fills: the cpu:ref device's, and the
 * reference for cpu/fill.c.  Element i of t (row-major) is found by its own index
 * arithmetic and gets the i-th draw, so both devices give the same values from one stream. */
#include "internal.h"
#include "ref.h"
#include <math.h>

/* the storage offset of element i (row-major) of t, and its index */
static int64_t offset(const dm_tensor *t, int64_t i, int64_t *idx)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->shape[d];
        i /= t->shape[d];
        off += idx[d] * t->stride[d];
    }
    return off;
}

void dm__ref_random(dm_rand_kind k, dm_tensor *t, const dm_rand_par *r, dm_rng *g)
{
    int64_t n = dm__numel(t), idx[DM_MAX_DIMS];
    if (k == DM_RAND_PERM) {
        int64_t *v = dm__ptr(t);
        for (int64_t i = 0; i < n; i++) v[i] = i;
        for (int64_t i = n - 1; i >= 1; i--) {                   /* Fisher-Yates */
            int64_t j = (int64_t)dm_rng_below(g, (uint64_t)i + 1), tmp = v[i];
            v[i] = v[j];
            v[j] = tmp;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t off = offset(t, i, idx);
        double x;                                   /* the value, exact in t's dtype */
        int f32 = t->dtype == DM_FLOAT32;
        switch (k) {
        case DM_RAND_UNIFORM:
            x = f32 ? (float)(r->a + (r->b - r->a) * (double)dm_rng_uniformf(g))
                    : r->a + (r->b - r->a) * dm_rng_uniform(g);
            break;
        case DM_RAND_NORMAL:
            x = r->a + r->b * dm_rng_normal(g);
            if (f32) x = (float)x;
            break;
        case DM_RAND_BERNOULLI:
            x = dm_rng_uniform(g) < r->a;
            break;
        case DM_RAND_RANDINT: {
            uint64_t v = (uint64_t)r->low + dm_rng_below(g, r->span);
            /* two's complement, spelled out */
            int64_t sv = v > (uint64_t)INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v;
            dm__store_i64(t, off, sv);
            continue;
        }
        default: {                                  /* DM_RAND_TRUNC_NORMAL */
            double u = r->ulo + (r->uhi - r->ulo) * (f32 ? (double)dm_rng_uniformf(g)
                                                          : dm_rng_uniform(g));
            x = r->a + r->b * sqrt(2.0) * dm_erfinv(u);
            double lo = r->lo, hi = r->hi;
            if (f32) { x = (float)x; lo = (float)lo; hi = (float)hi; }
            x = x < lo ? lo : x > hi ? hi : x;
            break;
        }
        }
        dm__store_f64(t, off, x);
    }
}

void dm__ref_pattern(dm_pattern_kind k, dm_tensor *t, int64_t groups)
{
    int64_t n = dm__numel(t), idx[DM_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        int64_t off = offset(t, i, idx);
        int one;
        if (k == DM_PAT_EYE) {
            one = idx[0] == idx[1];
        } else {                                    /* dirac */
            int64_t per = t->shape[0] / groups, d = idx[0] % per;
            one = d < per && d < t->shape[1] && idx[1] == d;
            for (int q = 2; q < t->ndim; q++) one = one && idx[q] == t->shape[q] / 2;
        }
        dm__store_f64(t, off, one);
    }
}
