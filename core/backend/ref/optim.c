/* ref/optim.c -- the naive optimizer updates: the cpu:ref device's, and the reference for
 * cpu/optim.c.  One loop per update, element by element, the formulas of core/ops/optim.c in
 * PyTorch's order with its roundings (float32 scalars rounded to float first, fused
 * multiply-adds where aten's CPU kernels fuse), so both devices agree exactly. */
#include "internal.h"
#include "ref.h"
#include <math.h>

void dm__ref_sgd(dm_dtype dt, int64_t n, void *pv, const void *gv, void *bv,
                 const dm_sgd_par *s)
{
    int use_mom = s->momentum != 0;
    for (int64_t i = 0; i < n; i++) {
        if (dt == DM_FLOAT32) {
            float *p = pv, *b = bv;
            const float *g = gv;
            float wd = (float)s->weight_decay, mom = (float)s->momentum;
            float damp1 = (float)(1 - s->dampening), neglr = (float)(-s->lr);
            float d = s->maximize ? -g[i] : g[i];
            if (s->weight_decay != 0) d = fmaf(wd, p[i], d);          /* d + wd p */
            if (use_mom) {
                b[i] = s->first ? d : fmaf(damp1, d, b[i] * mom);      /* buf mom + (1-damp) d */
                d = s->nesterov ? fmaf(mom, b[i], d) : b[i];
            }
            p[i] = fmaf(neglr, d, p[i]);                               /* p - lr d */
        } else {
            double *p = pv, *b = bv;
            const double *g = gv;
            double d = s->maximize ? -g[i] : g[i];
            if (s->weight_decay != 0) d = fma(s->weight_decay, p[i], d);
            if (use_mom) {
                b[i] = s->first ? d : fma(1 - s->dampening, d, b[i] * s->momentum);
                d = s->nesterov ? fma(s->momentum, b[i], d) : b[i];
            }
            p[i] = fma(-s->lr, d, p[i]);
        }
    }
}

void dm__ref_adam(dm_dtype dt, int64_t n, void *pv, const void *gv, void *mv, void *vv,
                  void *xv, const dm_adam_par *s)
{
    for (int64_t i = 0; i < n; i++) {
        if (dt == DM_FLOAT32) {
            float *p = pv, *m = mv, *v = vv, *x = xv;
            const float *gg = gv;
            float g = s->maximize ? -gg[i] : gg[i];
            if (s->l2) g = fmaf((float)s->weight_decay, p[i], g);
            if (s->decoupled) p[i] = p[i] * (float)s->decay;
            m[i] = fmaf((float)(1 - s->beta1), g, m[i] * (float)s->beta1);
            v[i] = fmaf((float)(1 - s->beta2) * g, g, v[i] * (float)s->beta2);
            float vh = v[i];
            if (x) {                                      /* torch.maximum: NaN wins */
                if (vh > x[i] || isnan(vh)) x[i] = vh;
                vh = x[i];
            }
            float denom = sqrtf(vh) / (float)s->bc2_sqrt + (float)s->eps;
            p[i] = p[i] + (float)s->neg_step_size * m[i] / denom;
        } else {
            double *p = pv, *m = mv, *v = vv, *x = xv;
            const double *gg = gv;
            double g = s->maximize ? -gg[i] : gg[i];
            if (s->l2) g = fma(s->weight_decay, p[i], g);
            if (s->decoupled) p[i] = p[i] * s->decay;
            m[i] = fma(1 - s->beta1, g, m[i] * s->beta1);
            v[i] = fma((1 - s->beta2) * g, g, v[i] * s->beta2);
            double vh = v[i];
            if (x) {
                if (vh > x[i] || isnan(vh)) x[i] = vh;
                vh = x[i];
            }
            double denom = sqrt(vh) / s->bc2_sqrt + s->eps;
            p[i] = p[i] + s->neg_step_size * m[i] / denom;
        }
    }
}
