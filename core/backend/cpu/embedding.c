/* cpu/embedding.c -- the embedding loops (core/ops/embedding.c checks ids, shapes and modes and
 * allocates): the row gather, its scatter-add backward, max_norm's renorm in place, and
 * embedding_bag's sum/mean/max forward and backward (backend.h describes each). */
#include "internal.h"
#include "cpu.h"
#include <stdint.h>
#include <string.h>
#include <math.h>

void dm__cpu_embedding(dm_dtype dt, const void *wp, int64_t s0, int64_t s1, const int64_t *v,
                       int64_t n, int64_t dim, void *out)
{
    if (dt == DM_FLOAT64) {
        const double *w = wp;
        double *o = out;
        for (int64_t i = 0; i < n; i++, o += dim) {
            const double *r = w + v[i] * s0;
            if (s1 == 1) memcpy(o, r, (size_t)dim * sizeof *o);
            else for (int64_t j = 0; j < dim; j++) o[j] = r[j * s1];
        }
    } else {
        const float *w = wp;
        float *o = out;
        for (int64_t i = 0; i < n; i++, o += dim) {
            const float *r = w + v[i] * s0;
            if (s1 == 1) memcpy(o, r, (size_t)dim * sizeof *o);
            else for (int64_t j = 0; j < dim; j++) o[j] = r[j * s1];
        }
    }
}

void dm__cpu_embedding_bw(dm_dtype dt, const void *gp, const int64_t *v, int64_t n,
                          int64_t dim, int64_t pad, const int64_t *cnt, void *r)
{
    if (dt == DM_FLOAT64) {
        const double *s = gp; double *o = r;
        for (int64_t i = 0; i < n; i++, s += dim) {
            if (v[i] == pad) continue;
            double *row = o + v[i] * dim;
            if (cnt) { double k = 1.0 / (double)cnt[v[i]]; for (int64_t j = 0; j < dim; j++) row[j] += s[j] * k; }
            else for (int64_t j = 0; j < dim; j++) row[j] += s[j];
        }
    } else {
        const float *s = gp; float *o = r;
        for (int64_t i = 0; i < n; i++, s += dim) {
            if (v[i] == pad) continue;
            float *row = o + v[i] * dim;
            if (cnt) { float k = (float)(1.0 / (double)cnt[v[i]]); for (int64_t j = 0; j < dim; j++) row[j] += s[j] * k; }
            else for (int64_t j = 0; j < dim; j++) row[j] += s[j];
        }
    }
}

void dm__cpu_embedding_renorm(dm_dtype dt, void *w, int64_t s0, int64_t s1, int64_t dim,
                              const int64_t *v, int64_t n, double max_norm, double norm_type,
                              unsigned char *seen)
{
    int dbl = dt == DM_FLOAT64;
    char *base = w;
    size_t es = dm__esize(dt);
    for (int64_t i = 0; i < n; i++) {
        if (seen[v[i]]) continue;
        seen[v[i]] = 1;
        char *row = base + (size_t)(v[i] * s0) * es;
        double norm = 0;
        for (int64_t j = 0; j < dim; j++) {
            double x = dbl ? ((double *)row)[j * s1] : ((float *)row)[j * s1];
            x = fabs(x);
            if (norm_type == 1) norm += x;
            else if (norm_type == 2) norm += x * x;
            else if (isinf(norm_type)) norm = norm_type > 0 ? (x > norm ? x : norm)
                                                            : (j == 0 || x < norm ? x : norm);
            else if (norm_type == 0) norm += x != 0;
            else norm += pow(x, norm_type);
        }
        if (norm_type == 2) norm = sqrt(norm);
        else if (!isinf(norm_type) && norm_type != 1 && norm_type != 0)
            norm = pow(norm, 1.0 / norm_type);
        if (norm > max_norm) {
            double scale = max_norm / (norm + 1e-7);
            for (int64_t j = 0; j < dim; j++) {
                if (dbl) ((double *)row)[j * s1] *= scale;
                else ((float *)row)[j * s1] = (float)(((float *)row)[j * s1] * scale);
            }
        }
    }
}

void dm__cpu_embedding_bag(dm_dtype dt, int mode, const void *wp, int64_t s0, int64_t s1,
                           int64_t dim, const int64_t *v, const int64_t *bd, int64_t B,
                           int64_t padding_idx, const void *pw, void *out, int64_t *am)
{
#define BAG_FWD(T) do { \
        const T *w = wp; \
        const T *p = pw; \
        T *o = out; \
        for (int64_t k = 0; k < B; k++) { \
            T *ob = o + k * dim; \
            int64_t *ab = am ? am + k * dim : NULL; \
            int64_t cntk = 0; \
            for (int64_t i = bd[k]; i < bd[k + 1]; i++) { \
                if (v[i] == padding_idx) continue; \
                const T *r = w + v[i] * s0; \
                if (mode == DM_BAG_MAX) { \
                    for (int64_t j = 0; j < dim; j++) \
                        if (ab[j] < 0 || r[j * s1] > ob[j]) { ob[j] = r[j * s1]; ab[j] = v[i]; } \
                } else { \
                    T f = p ? p[i] : (T)1; \
                    for (int64_t j = 0; j < dim; j++) ob[j] += f * r[j * s1]; \
                } \
                cntk++; \
            } \
            if (mode == DM_BAG_MEAN && cntk > 0) \
                for (int64_t j = 0; j < dim; j++) ob[j] /= (T)cntk; \
        } \
    } while (0)
    if (dt == DM_FLOAT64) BAG_FWD(double);
    else BAG_FWD(float);
#undef BAG_FWD
}

void dm__cpu_embedding_bag_bw(dm_dtype dt, int mode, const void *gd, int64_t dim,
                              const int64_t *v, const int64_t *bd, int64_t B, int64_t pad,
                              const void *pw, const int64_t *cnt, const int64_t *arg,
                              const void *wd, void *gw, void *gp)
{
#define BAG_BW(T) do { \
        const T *G = gd, *p = pw, *W = wd; \
        T *ow = gw, *op = gp; \
        if (mode == DM_BAG_MAX) { \
            const int64_t *a = arg; \
            for (int64_t k = 0; ow && k < B * dim; k++) \
                if (a[k] >= 0) ow[a[k] * dim + k % dim] += G[k]; \
            break; \
        } \
        for (int64_t k = 0; k < B; k++) { \
            const T *gk = G + k * dim; \
            int64_t cntk = 0; \
            if (mode == DM_BAG_MEAN) \
                for (int64_t i = bd[k]; i < bd[k + 1]; i++) cntk += v[i] != pad; \
            for (int64_t i = bd[k]; i < bd[k + 1]; i++) { \
                if (v[i] == pad) continue; \
                if (op) { \
                    double s = 0; \
                    for (int64_t j = 0; j < dim; j++) s += (double)gk[j] * W[v[i] * dim + j]; \
                    op[i] = (T)s; \
                } \
                if (!ow) continue; \
                T f = p ? p[i] : (T)1; \
                if (mode == DM_BAG_MEAN) f /= (T)cntk; \
                if (cnt) f /= (T)cnt[v[i]]; \
                T *row = ow + v[i] * dim; \
                for (int64_t j = 0; j < dim; j++) row[j] += f * gk[j]; \
            } \
        } \
    } while (0)
    if (dt == DM_FLOAT64) BAG_BW(double);
    else BAG_BW(float);
#undef BAG_BW
}
