/* cpu/reduce_bw_gen.h -- the cpu device's backward kernels of the reductions and
 * dm_sum_to's kernel for one element type, included by cpu/reduce_bw.c once per type
 * (Torch7's generic/ pattern): T is the element type, S its suffix (f float32, d float64),
 * TEXP its exp.
 * Each inclusion defines the kernels as T_S-suffixed static functions.  Kernels see
 * contiguous [outer x R x inner] blocks (dm_geom, backend.h); none allocates tensors or
 * records nodes.  The naive reference for each is in ref/reduce.c. */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s

#include "../sums_gen.h"

static inline double KN(slice_mean)(const T *s, int64_t R, int64_t stride)
{
    double sum = 0;
    for (int64_t r = 0; r < R; r++) sum += (double)s[r * stride];
    return R > 0 ? sum / (double)R : NAN;
}

/* dm_sum_to's odometer over runs of dims (see core/ops/reduce.c): acc[m] += the summed elements */
static void KN(sum_runs)(const void *xv, int nb, const int64_t *bsize, const int *bred,
                         int64_t n, double *acc)
{
    const T *xd = xv;
    runs o;
    runs_init(&o, nb, bsize, bred);
    int64_t len = bsize[nb - 1];
    for (int64_t it = 0, nit = n / len; it < nit; it++, runs_next(&o)) {
        if (bred[nb - 1]) acc[o.ooff] += KN(sum_contig)(xd + o.xoff, len);
        else KN(add_row)(acc + o.ooff, xd + o.xoff, len);
    }
}

/* sum of a[k] * b[k], k < n, in double: eight lanes, as sum_contig */
static inline double KN(dot_contig)(const T *a, const T *b, int64_t n)
{
    double lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)a[i + j] * (double)b[i + j];
    double s = 0;
    for (; i < n; i++) s += (double)a[i] * (double)b[i];
    return s + (((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                ((lane[4] + lane[5]) + (lane[6] + lane[7])));
}

/* softmax:     gin = y * (g - sum_r g*y)
   log_softmax: gin = g - exp(y) * sum_r g
   (TEXP: vmath.h's exp for float32, libm's for float64.)  The last-dim case (inner = 1)
   has contiguous loops of its own, which vectorise. */
DM_VMATH_CLONES
static void KN(softmax_bw)(const void *yv, const void *gv, void *giv, geom G, int logsm)
{
    const T *yd = yv, *g = gv;
    T *gd = giv;
    int64_t st = G.inner;
    if (st == 1) {
        for (int64_t o = 0; o < G.outer; o++) {
            const T *ys = yd + o * G.r, *gs = g + o * G.r;
            T *out = gd + o * G.r;
            if (logsm) {
                double acc = KN(sum_contig)(gs, G.r);
                for (int64_t r = 0; r < G.r; r++)
                    out[r] = (T)((double)gs[r] - (double)TEXP(ys[r]) * acc);
            } else {
                double acc = KN(dot_contig)(gs, ys, G.r);
                for (int64_t r = 0; r < G.r; r++)
                    out[r] = (T)((double)ys[r] * ((double)gs[r] - acc));
            }
        }
        return;
    }
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            int64_t base = o * G.r * G.inner + i;
            const T *ys = yd + base, *gs = g + base;
            T *out = gd + base;
            double acc = 0;
            if (logsm) {
                for (int64_t r = 0; r < G.r; r++) acc += (double)gs[r * st];
                for (int64_t r = 0; r < G.r; r++)
                    out[r * st] = (T)((double)gs[r * st] - (double)TEXP(ys[r * st]) * acc);
            } else {
                for (int64_t r = 0; r < G.r; r++) acc += (double)gs[r * st] * ys[r * st];
                for (int64_t r = 0; r < G.r; r++)
                    out[r * st] = (T)((double)ys[r * st] * ((double)gs[r * st] - acc));
            }
        }
}

/* d var / dx = 2 (x - mean) / (R - correction), scaled by gv[o, i] for each slice; for a
   full reduction with R - correction <= 0 PyTorch gives nan where x == mean, inf elsewhere */
static void KN(var_bw)(const T *xd, geom G, int full, int64_t correction, const T *gv, T *gd)
{
    double dof = (double)G.r - (double)correction;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            int64_t base = o * G.r * G.inner + i;
            const T *s = xd + base;
            T *out = gd + base;
            double g = gv[o * G.inner + i];
            double mean = KN(slice_mean)(s, G.r, G.inner);
            for (int64_t r = 0; r < G.r; r++) {
                double x = s[r * G.inner], v;
                if (full && dof <= 0) v = g * (x == mean ? NAN : INFINITY);
                else v = g * (dof != 0 ? 2.0 / dof : INFINITY) * (x - mean);
                out[r * G.inner] = (T)v;
            }
        }
}

/* the backward rules of sum, mean, prod, max/min and var/std: gin (gd, the input's shape)
   from g (the output's), x the input's values (NULL for sum, mean, max/min(dim)), ix the
   saved 0-based indices of max/min(dim), sd the saved std */
static int KN(reduce_bw)(const dm_node *n, geom G, int full, const void *xv, const void *gv,
                         const int64_t *ix, const void *sdv, void *giv, int64_t nin)
{
    const T *xd = xv, *g = gv, *sd = sdv;
    T *gd = giv;
    switch (n->op) {
    case DM_OP_SUM:
    case DM_OP_MEAN: {                        /* gout expanded (over R for the mean) */
        T div = n->op == DM_OP_MEAN ? (T)G.r : (T)1;
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t r = 0; r < G.r; r++) {
                T *row = gd + (o * G.r + r) * G.inner;
                const T *go = g + o * G.inner;
                for (int64_t i = 0; i < G.inner; i++) row[i] = go[i] / div;
            }
        return 0;
    }
    case DM_OP_PROD: {
        /* product of the others, from prefix and suffix products: exact with zeros */
        double *suf = malloc((size_t)(G.r > 0 ? G.r : 1) * sizeof *suf);
        if (!suf) { dm_seterr("out of memory"); return -1; }
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t i = 0; i < G.inner; i++) {
                int64_t base = o * G.r * G.inner + i, st = G.inner;
                const T *s = xd + base;
                double gval = g[o * G.inner + i], pre = 1;
                if (G.r == 0) continue;
                suf[G.r - 1] = 1;
                for (int64_t r = G.r - 2; r >= 0; r--) suf[r] = suf[r + 1] * s[(r + 1) * st];
                for (int64_t r = 0; r < G.r; r++) {
                    gd[base + r * st] = (T)(gval * pre * suf[r]);
                    pre *= s[r * st];
                }
            }
        free(suf);
        return 0;
    }
    case DM_OP_MAXMIN:                        /* the gradient goes to the returned index */
        memset(gd, 0, (size_t)nin * sizeof *gd);
        for (int64_t o = 0; o < G.outer; o++)
            for (int64_t i = 0; i < G.inner; i++) {
                int64_t at = ix[o * G.inner + i];
                if (!(at >= 0 && at < G.r)) {
                    dm_seterr("backward: %s: saved index %lld out of range", dm__node_name(n),
                              (long long)at);
                    return -1;
                }
                gd[(o * G.r + at) * G.inner + i] = g[o * G.inner + i];
            }
        return 0;
    case DM_OP_MAXMIN_ALL: {                  /* shared evenly among ties, as PyTorch */
        T v = (T)n->par.reduce.value;
        int64_t count = 0;
        for (int64_t k = 0; k < nin; k++)
            count += xd[k] == v || (IS_NAN(xd[k]) && IS_NAN(v));
        T share = g[0] / (T)count;
        for (int64_t k = 0; k < nin; k++)
            gd[k] = xd[k] == v || (IS_NAN(xd[k]) && IS_NAN(v)) ? share : (T)0;
        return 0;
    }
    case DM_OP_VAR:
        KN(var_bw)(xd, G, full, n->par.reduce.correction, g, gd);
        return 0;
    case DM_OP_STD: {                         /* d std = d var / (2 std), 0 where std == 0 */
        int64_t m = G.outer * G.inner;
        T *gs = malloc((size_t)(m > 0 ? m : 1) * sizeof *gs);
        if (!gs) { dm_seterr("out of memory"); return -1; }
        for (int64_t k = 0; k < m; k++) gs[k] = sd[k] == 0 ? (T)0 : g[k] / (sd[k] * 2);
        KN(var_bw)(xd, G, full, n->par.reduce.correction, gs, gd);
        free(gs);
        return 0;
    }
    default:
        dm_seterr("backward: %s is not a reduction", dm__node_name(n));
        return -1;
    }
}

#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
#undef TEXP
