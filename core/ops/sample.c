/* sample.c -- multinomial, bernoulli with a tensor of probabilities, normal with tensor
 * means or stds.  The draws come from the project's generator (rng.c: PCG32, not PyTorch's
 * Mersenne twister, so a seed gives deepmoon's own stream); elements are drawn in row-major
 * order of the result.  The functions here check, allocate and convert; the draws are the
 * device's kernels (backend.h: multinomial, bernoulli_p, normal_p; backend/cpu/sample.c, the
 * reference backend/ref/sample.c). */
#include "ops_index.h"
#include "backend.h"
#include "walk.h"
#include <stdio.h>

#define DEV (dm__kernels(dm__cur_device))

/* probs [C] or [B x C] -> int64 [n] or [B x n], 0-based categories.  With replacement: the
 * cumulative distribution and a binary search per draw (as PyTorch's CPU kernel).  Without:
 * the exponential race (PyTorch's algorithm): key_i = p_i / E_i with E_i ~ Exp(1), the n
 * largest keys, in decreasing order. */
dm_tensor *dm_multinomial(const dm_tensor *probs, int64_t n, int replacement, dm_rng *g)
{
    char b1[DM_SHAPE_BUF];
    dm__device_of(probs);
    if (probs->ndim != 1 && probs->ndim != 2) {
        dm_seterr("multinomial: probs must be 1-D or 2-D, got %s", SHAPE(probs, b1));
        return NULL;
    }
    if (dm__need_float("multinomial", probs, "probs")) return NULL;
    int64_t rows = probs->ndim == 2 ? probs->shape[0] : 1, c = probs->shape[probs->ndim - 1];
    if (c == 0) {
        dm_seterr("multinomial: probs %s has no categories", SHAPE(probs, b1));
        return NULL;
    }
    if (n <= 0) {
        dm_seterr("multinomial: num_samples must be positive, got %lld", (long long)n);
        return NULL;
    }
    if (!replacement && n > c) {
        dm_seterr("multinomial: cannot sample %lld samples without replacement from %lld "
                  "categories", (long long)n, (long long)c);
        return NULL;
    }
    if (!g) g = dm_default_rng();
    dm_tensor *h = NULL;
    const double *p = dm__contig_as(probs, DM_FLOAT64, &h);
    if (!p) return NULL;
    for (int64_t b = 0; b < rows; b++) {
        double s = 0;
        for (int64_t i = 0; i < c; i++) {
            double v = p[b * c + i];
            if (!(v >= 0) || isinf(v)) {
                char vb[32];
                if (v != v) snprintf(vb, sizeof vb, "nan");
                else snprintf(vb, sizeof vb, "%g", v);
                dm_seterr("multinomial: probs hold inf, nan or a negative value (%s in row %lld)",
                          vb, (long long)b + 1);
                dm_tensor_release(h);
                return NULL;
            }
            s += v;
        }
        if (!(s > 0)) {
            dm_seterr("multinomial: row %lld of probs sums to 0 (invalid distribution)",
                      (long long)b + 1);
            dm_tensor_release(h);
            return NULL;
        }
    }
    int64_t shape[2] = { rows, n };
    dm_tensor *out = probs->ndim == 2 ? dm_tensor_new_dtype(2, shape, DM_INT64)
                                      : dm_tensor_new_dtype(1, &n, DM_INT64);
    double *w = out ? malloc((size_t)c * sizeof *w) : NULL;
    int64_t *perm = w ? malloc((size_t)c * sizeof *perm) : NULL;
    if (!perm) {
        if (out) dm_seterr("multinomial: out of memory");
        free(w); dm_tensor_release(out); dm_tensor_release(h);
        return NULL;
    }
    DEV->multinomial(p, rows, c, n, replacement, g, w, perm, dm__ptr(out));
    free(w); free(perm); dm_tensor_release(h);
    return out;
}

/* 1 with probability p[i], in p's dtype */
dm_tensor *dm_bernoulli(const dm_tensor *p, dm_rng *g)
{
    dm__device_of(p);
    if (dm__need_float("bernoulli", p, "input")) return NULL;
    if (!g) g = dm_default_rng();
    dm_tensor *h = NULL;
    const double *pv = dm__contig_as(p, DM_FLOAT64, &h);
    if (!pv) return NULL;
    int64_t n = dm__numel(p);
    for (int64_t i = 0; i < n; i++)
        if (!(pv[i] >= 0 && pv[i] <= 1)) {
            dm_seterr("bernoulli: probabilities must be in [0, 1], got %g", pv[i]);
            dm_tensor_release(h);
            return NULL;
        }
    dm_tensor *out = dm_tensor_new_dtype(p->ndim, p->shape, p->dtype);
    if (out) DEV->bernoulli_p(p->dtype, pv, n, g, dm__ptr(out));
    dm_tensor_release(h);
    return out;
}

/* t (in place) = bernoulli(p broadcast to t's shape), converted to t's dtype */
int dm_bernoulli_tensor_(dm_tensor *t, const dm_tensor *p, dm_rng *g)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (dm__same_device2("bernoulli_", t, p) < 0) return -1;
    if (dm__check_inplace("bernoulli_", t) || dm__check_overlap("bernoulli_", t)) return -1;
    dm_tensor *pe = dm_expand(p, t->ndim, t->shape);
    if (!pe) {
        dm_seterr("bernoulli_: p %s cannot be broadcast to the tensor's shape %s",
                  SHAPE(p, b1), SHAPE(t, b2));
        return -1;
    }
    dm_tensor *pf = dm_is_floating(pe->dtype) ? dm_tensor_retain(pe) : dm_to_dtype(pe, DM_FLOAT64);
    dm_tensor_release(pe);
    dm_tensor *r = pf ? dm_bernoulli(pf, g) : NULL;
    dm_tensor_release(pf);
    if (r && r->dtype != t->dtype) {
        dm_tensor *c = dm_to_dtype(r, t->dtype);
        dm_tensor_release(r);
        r = c;
    }
    return dm__inplace_commit("bernoulli_", t, r);
}

/* mean (tensor, or mean_s) + std (tensor, or std_s) * N(0, 1), broadcast; the result's
 * dtype is the floating tensors' */
dm_tensor *dm_normal_tensor(const dm_tensor *mean, double mean_s, const dm_tensor *std,
                            double std_s, dm_rng *g)
{
    if (dm__same_device2("normal", mean, std) < 0) return NULL;
    if (!mean && !std) { dm_seterr("normal: expected a tensor mean or std"); return NULL; }
    if (mean && dm__need_float("normal", mean, "mean")) return NULL;
    if (std && dm__need_float("normal", std, "std")) return NULL;
    int64_t shape[DM_MAX_DIMS];
    int nd;
    dm_dtype dt;
    if (mean && std) {
        if ((nd = dm__broadcast_shape("normal", mean, std, shape)) < 0) return NULL;
        dt = dm_promote_types(mean->dtype, std->dtype);
    } else {
        const dm_tensor *t = mean ? mean : std;
        nd = t->ndim;
        memcpy(shape, t->shape, (size_t)nd * sizeof *shape);
        dt = t->dtype;
    }
    if (!std && !(std_s >= 0)) {
        dm_seterr("normal: std must be >= 0, got %g", std_s);
        return NULL;
    }
    dm_tensor *out = dm_tensor_new_dtype(nd, shape, DM_FLOAT64);
    if (!out) return NULL;
    dm_tensor *me = NULL, *se = NULL, *hm = NULL, *hs = NULL;
    const double *mv = NULL, *sv = NULL;
    int ok = 1;
    if (mean) ok = (me = dm_expand(mean, nd, shape)) && (mv = dm__contig_as(me, DM_FLOAT64, &hm));
    if (ok && std) ok = (se = dm_expand(std, nd, shape)) && (sv = dm__contig_as(se, DM_FLOAT64, &hs));
    int64_t n = dm__numel(out);
    for (int64_t i = 0; ok && sv && i < n; i++)
        if (!(sv[i] >= 0)) {
            dm_seterr("normal: std must be >= 0 everywhere, got %g", sv[i]);
            ok = 0;
        }
    if (ok) {
        if (!g) g = dm_default_rng();
        DEV->normal_p(mv, mean_s, sv, std_s, n, g, dm__ptr(out));
    }
    dm_tensor_release(me); dm_tensor_release(se); dm_tensor_release(hm); dm_tensor_release(hs);
    if (!ok) { dm_tensor_release(out); return NULL; }
    if (dt != DM_FLOAT64) {
        dm_tensor *c = dm_to_dtype(out, dt);
        dm_tensor_release(out);
        out = c;
    }
    return out;
}
