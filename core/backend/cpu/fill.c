/* cpu/fill.c -- the cpu device's random and structured fills (backend.h: random, pattern):
 * the loops of rng.c's and init.c's fills, walking t in row-major order with the strided
 * walker (walk.h) and drawing from the generator once per element in turn (draw.h, inline),
 * so the stream is rng.c's documented one.  The reference is ref/fill.c. */
#include "internal.h"
#include "cpu.h"
#include "walk.h"
#include "draw.h"

void dm__cpu_random(dm_rand_kind k, dm_tensor *t, const dm_rand_par *r, dm_rng *g)
{
    const int f64 = t->dtype == DM_FLOAT64;
    const double a = r->a, b = r->b;
    switch (k) {
    case DM_RAND_UNIFORM:
        if (f64) {
            double *base = t->storage->data;
            DM_WALK_EACH(t, i, off, base[off] = a + (b - a) * dm__draw_uniform(g););
        } else {
            float *base = dm__fbase(t);
            DM_WALK_EACH(t, i, off, base[off] = (float)(a + (b - a) * (double)dm__draw_uniformf(g)););
        }
        break;
    case DM_RAND_NORMAL:
        if (f64) {
            double *base = t->storage->data;
            DM_WALK_EACH(t, i, off, base[off] = a + b * dm__draw_normal(g););
        } else {
            float *base = dm__fbase(t);
            DM_WALK_EACH(t, i, off, base[off] = (float)(a + b * dm__draw_normal(g)););
        }
        break;
    case DM_RAND_BERNOULLI:
        if (t->dtype == DM_FLOAT32) {
            float *base = dm__fbase(t);
            DM_WALK_EACH(t, i, off, base[off] = dm__draw_uniform(g) < a ? 1.0f : 0.0f;);
        } else {
            DM_WALK_EACH(t, i, off, dm__store_i64(t, off, dm__draw_uniform(g) < a););
        }
        break;
    case DM_RAND_RANDINT: {
        /* the span can exceed INT64_MAX (low very negative); unsigned arithmetic wraps back
           to the right signed value */
        uint64_t low = (uint64_t)r->low, span = r->span;
        DM_WALK_EACH(t, i, off,
            uint64_t v = low + dm__draw_below(g, span);
            int64_t sv = v > (uint64_t)INT64_MAX ? -(int64_t)(~v) - 1 : (int64_t)v;
            dm__store_i64(t, off, sv););
        break;
    }
    case DM_RAND_TRUNC_NORMAL: {
        const double lo = r->ulo, hi = r->uhi;
        if (f64) {
            double *base = t->storage->data;
            DM_WALK_EACH(t, i, off,
                double u = lo + (hi - lo) * dm__draw_uniform(g);
                double v = a + b * sqrt(2.0) * dm_erfinv(u);
                base[off] = v < r->lo ? r->lo : v > r->hi ? r->hi : v;);
        } else {
            float fa = (float)r->lo, fb = (float)r->hi;
            float *base = dm__fbase(t);
            DM_WALK_EACH(t, i, off,
                double u = lo + (hi - lo) * (double)dm__draw_uniformf(g);
                float v = (float)(a + b * sqrt(2.0) * dm_erfinv(u));
                base[off] = v < fa ? fa : v > fb ? fb : v;);
        }
        break;
    }
    case DM_RAND_PERM: {
        int64_t n = dm__numel(t), *v = dm__ptr(t);
        for (int64_t i = 0; i < n; i++) v[i] = i;
        for (int64_t i = n - 1; i >= 1; i--) {
            int64_t j = (int64_t)dm__draw_below(g, (uint64_t)i + 1);
            int64_t tmp = v[i];
            v[i] = v[j];
            v[j] = tmp;
        }
        break;
    }
    }
}

void dm__cpu_pattern(dm_pattern_kind k, dm_tensor *t, int64_t groups)
{
    if (k == DM_PAT_EYE) {
        // t is [rows x cols]: 1 where row == col
        int64_t cols = t->shape[1];
        DM_WALK_EACH(t, i, off, dm__store_f64(t, off, i / cols == i % cols););
        return;
    }
    // t is [out x in x k1 (x k2 (x k3))]: in group gr, output channel gr * per + d passes
    // input channel d through the kernel's centre, for d < min(per, in)
    int64_t per = t->shape[0] / groups;
    int64_t min_dim = per < t->shape[1] ? per : t->shape[1];
    DM_WALK_EACH(t, i, off,
        int64_t idx[DM_MAX_DIMS] = { 0 }, rest = i;           /* element i's index */
        for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = rest % t->shape[d]; rest /= t->shape[d]; }
        int64_t d = idx[0] % per;
        int one = d < min_dim && idx[1] == d;
        for (int q = 2; one && q < t->ndim; q++) one = idx[q] == t->shape[q] / 2;
        dm__store_f64(t, off, one););
}
