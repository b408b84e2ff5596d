/* ref/embedding.c -- the naive embedding loops: the cpu:ref device's, and the reference for
 * cpu/embedding.c.  Written from PyTorch's definitions, one element at a time through the
 * strides, values moved and summed as doubles (a bag's sum, a row's norm, the dot products of
 * per_sample_weights' gradient); the scatter-adds of the backward add each term in double
 * into the stored element. */
#include "internal.h"
#include "ref.h"
#include <math.h>

static double ld(dm_dtype dt, const void *p, int64_t i)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void st(dm_dtype dt, void *p, int64_t i, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* the scale of a gradient row: 1 / its id's count (scale_grad_by_freq), in the dtype */
static double freq(dm_dtype dt, const int64_t *cnt, int64_t id)
{
    if (!cnt) return 1;
    double k = 1.0 / (double)cnt[id];
    return dt == DM_FLOAT32 ? (double)(float)k : k;
}

void dm__ref_embedding(dm_dtype dt, const void *w, int64_t s0, int64_t s1, const int64_t *ids,
                       int64_t n, int64_t dim, void *out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dim; j++)
            st(dt, out, i * dim + j, ld(dt, w, ids[i] * s0 + j * s1));
}

void dm__ref_embedding_bw(dm_dtype dt, const void *g, const int64_t *ids, int64_t n,
                          int64_t dim, int64_t pad, const int64_t *cnt, void *r)
{
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] == pad) continue;
        double k = freq(dt, cnt, ids[i]);
        for (int64_t j = 0; j < dim; j++) {
            int64_t o = ids[i] * dim + j;
            st(dt, r, o, ld(dt, r, o) + ld(dt, g, i * dim + j) * k);
        }
    }
}

void dm__ref_embedding_renorm(dm_dtype dt, void *w, int64_t s0, int64_t s1, int64_t dim,
                              const int64_t *ids, int64_t n, double max_norm, double norm_type,
                              unsigned char *seen)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids[i];
        if (seen[id]) continue;
        seen[id] = 1;
        double norm = 0;
        if (isinf(norm_type) && norm_type > 0) {
            for (int64_t j = 0; j < dim; j++) norm = fmax(norm, fabs(ld(dt, w, id * s0 + j * s1)));
        } else if (isinf(norm_type)) {
            norm = dim ? INFINITY : 0;
            for (int64_t j = 0; j < dim; j++) norm = fmin(norm, fabs(ld(dt, w, id * s0 + j * s1)));
        } else if (norm_type == 0) {
            for (int64_t j = 0; j < dim; j++) norm += ld(dt, w, id * s0 + j * s1) != 0;
        } else {
            for (int64_t j = 0; j < dim; j++)
                norm += pow(fabs(ld(dt, w, id * s0 + j * s1)), norm_type);
            norm = pow(norm, 1.0 / norm_type);
        }
        if (norm > max_norm) {
            double scale = max_norm / (norm + 1e-7);
            for (int64_t j = 0; j < dim; j++) {
                int64_t o = id * s0 + j * s1;
                st(dt, w, o, ld(dt, w, o) * scale);
            }
        }
    }
}

void dm__ref_embedding_bag(dm_dtype dt, int mode, const void *w, int64_t s0, int64_t s1,
                           int64_t dim, const int64_t *ids, const int64_t *bd, int64_t B,
                           int64_t pad, const void *psw, void *out, int64_t *arg)
{
    for (int64_t k = 0; k < B; k++)
        for (int64_t j = 0; j < dim; j++) {
            double acc = 0;
            int64_t cnt = 0, at = -1;
            for (int64_t i = bd[k]; i < bd[k + 1]; i++) {
                if (ids[i] == pad) continue;
                double x = ld(dt, w, ids[i] * s0 + j * s1);
                if (mode == DM_BAG_MAX) {
                    if (at < 0 || x > acc) { acc = x; at = ids[i]; }
                } else {
                    acc += (psw ? ld(dt, psw, i) : 1) * x;
                }
                cnt++;
            }
            if (mode == DM_BAG_MEAN && cnt > 0) acc /= (double)cnt;
            st(dt, out, k * dim + j, acc);
            if (mode == DM_BAG_MAX) arg[k * dim + j] = at;
        }
}

void dm__ref_embedding_bag_bw(dm_dtype dt, int mode, const void *g, int64_t dim,
                              const int64_t *ids, const int64_t *bd, int64_t B, int64_t pad,
                              const void *psw, const int64_t *cnt, const int64_t *arg,
                              const void *wc, void *gw, void *gp)
{
    for (int64_t k = 0; k < B; k++) {
        if (mode == DM_BAG_MAX) {
            for (int64_t j = 0; gw && j < dim; j++) {
                int64_t a = arg[k * dim + j];
                if (a < 0) continue;
                st(dt, gw, a * dim + j, ld(dt, gw, a * dim + j) + ld(dt, g, k * dim + j));
            }
            continue;
        }
        int64_t m = 0;
        for (int64_t i = bd[k]; i < bd[k + 1]; i++) m += ids[i] != pad;
        for (int64_t i = bd[k]; i < bd[k + 1]; i++) {
            int64_t id = ids[i];
            if (id == pad) continue;
            if (gp) {
                double s = 0;
                for (int64_t j = 0; j < dim; j++) s += ld(dt, g, k * dim + j) * ld(dt, wc, id * dim + j);
                st(dt, gp, i, s);
            }
            if (!gw) continue;
            double f = (psw ? ld(dt, psw, i) : 1) / (mode == DM_BAG_MEAN ? (double)m : 1)
                       * freq(DM_FLOAT64, cnt, id);
            for (int64_t j = 0; j < dim; j++) {
                int64_t o = id * dim + j;
                st(dt, gw, o, ld(dt, gw, o) + f * ld(dt, g, k * dim + j));
            }
        }
    }
}
