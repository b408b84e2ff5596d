/* ref/reduce.c -- the naive reductions and softmax, their backward kernels and dm_sum_to's
 * sum: the cpu:ref device's, and the reference for the cpu device's (cpu/reduce_gen.h,
 * reduce_bw_gen.h).  One slice at a time, element r of slice (o, i) at
 * x[(o * r_count + r) * inner + i], accumulated in double in plain order (int64 exact,
 * wrapping); the result stored in the input's type. */
#include "internal.h"
#include "ref.h"
#include <math.h>

/* element k of a contiguous buffer of dtype dt */
static double ld(dm_dtype dt, const void *x, int64_t k)
{
    return dt == DM_FLOAT32 ? ((const float *)x)[k] : ((const double *)x)[k];
}
static void st(dm_dtype dt, void *y, int64_t k, double v)
{
    if (dt == DM_FLOAT32) ((float *)y)[k] = (float)v;
    else ((double *)y)[k] = v;
}

/* index of the first NaN of the slice, else of the first max (min); r > 0 */
static int64_t extreme(dm_dtype dt, const void *x, dm_geom G, int64_t o, int64_t i, int is_min)
{
    int64_t at = 0;
    for (int64_t r = 0; r < G.r; r++) {
        int64_t k = (o * G.r + r) * G.inner + i;
        if (dt == DM_INT64) {
            int64_t v = ((const int64_t *)x)[k], b = ((const int64_t *)x)[(o * G.r + at) * G.inner + i];
            if (is_min ? v < b : v > b) at = r;
        } else {
            double v = ld(dt, x, k), b = ld(dt, x, (o * G.r + at) * G.inner + i);
            if (isnan(b)) return at;
            if (isnan(v) || (is_min ? v < b : v > b)) at = r;
        }
    }
    return at;
}

int dm__ref_reduce(dm_redop op, dm_dtype dt, const void *x, dm_geom G, double scale,
                   int64_t correction, void *y)
{
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            int64_t out = o * G.inner + i;
#define AT(j) (((o) * G.r + (j)) * G.inner + i)
            if (op == DM_RED_ARGMAX || op == DM_RED_ARGMIN) {
                ((int64_t *)y)[out] = extreme(dt, x, G, o, i, op == DM_RED_ARGMIN);
                continue;
            }
            if (op == DM_RED_MAX || op == DM_RED_MIN) {
                int64_t at = extreme(dt, x, G, o, i, op == DM_RED_MIN);
                if (dt == DM_INT64) ((int64_t *)y)[out] = ((const int64_t *)x)[AT(at)];
                else st(dt, y, out, ld(dt, x, AT(at)));
                continue;
            }
            if (dt == DM_INT64) {                       /* sum, prod: exact, wrapping */
                uint64_t acc = op == DM_RED_PROD;
                for (int64_t r = 0; r < G.r; r++) {
                    uint64_t v = (uint64_t)((const int64_t *)x)[AT(r)];
                    acc = op == DM_RED_PROD ? acc * v : acc + v;
                }
                ((int64_t *)y)[out] = (int64_t)acc;
                continue;
            }
            double acc = op == DM_RED_PROD, mean, m2 = 0, div;
            switch (op) {
            case DM_RED_SUM: case DM_RED_MEAN:
                for (int64_t r = 0; r < G.r; r++) acc += ld(dt, x, AT(r));
                st(dt, y, out, acc * scale);
                break;
            case DM_RED_PROD:
                for (int64_t r = 0; r < G.r; r++) acc *= ld(dt, x, AT(r));
                st(dt, y, out, acc);
                break;
            default:                                    /* var, std: two passes */
                if (G.r == 0) { st(dt, y, out, NAN); break; }
                for (int64_t r = 0; r < G.r; r++) acc += ld(dt, x, AT(r));
                mean = acc / (double)G.r;
                for (int64_t r = 0; r < G.r; r++) {
                    double d = ld(dt, x, AT(r)) - mean;
                    m2 += d * d;
                }
                div = (double)G.r > (double)correction ? (double)G.r - (double)correction : 0;
                acc = div > 0 ? m2 / div : (m2 > 0 ? INFINITY : NAN);
                st(dt, y, out, op == DM_RED_STD ? sqrt(acc) : acc);
                break;
            }
#undef AT
        }
    return 0;
}

void dm__ref_maxmin(dm_dtype dt, const void *x, dm_geom G, int is_min, void *v, int64_t *ix)
{
    dm__ref_reduce(is_min ? DM_RED_MIN : DM_RED_MAX, dt, x, G, 1, 0, v);
    dm__ref_reduce(is_min ? DM_RED_ARGMIN : DM_RED_ARGMAX, dt, x, G, 1, 0, ix);
}

// x, y are [outer x r x inner]: y = exp(x - max) / sum exp(x - max), or its log
void dm__ref_softmax(dm_dtype dt, const void *x, void *y, dm_geom G, int logsm)
{
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
#define AT(j) (((o) * G.r + (j)) * G.inner + i)
            double mx = -INFINITY, sum = 0;
            for (int64_t r = 0; r < G.r; r++) if (ld(dt, x, AT(r)) > mx) mx = ld(dt, x, AT(r));
            for (int64_t r = 0; r < G.r; r++) sum += exp(ld(dt, x, AT(r)) - mx);
            for (int64_t r = 0; r < G.r; r++) {
                double v = ld(dt, x, AT(r)) - mx;
                st(dt, y, AT(r), logsm ? v - log(sum) : exp(v) / sum);
            }
#undef AT
        }
}

/* ---- dm_sum_to and the backward kernels -------------------------------------------------- */

// x is the runs [bsize[0] x ... x bsize[nb-1]], y [m] the kept runs: one element at a time
int dm__ref_sum_to(dm_dtype dt, const void *x, int nb, const int64_t *bsize, const int *bred,
                   int64_t n, int64_t m, void *y)
{
    double *acc = calloc((size_t)(m > 0 ? m : 1), sizeof *acc);
    if (!acc) { dm_seterr("out of memory"); return -1; }
    int64_t idx[DM_MAX_DIMS] = { 0 };
    for (int64_t k = 0; k < n; k++) {
        int64_t at = 0;                   /* row-major index over the kept runs */
        for (int b = 0; b < nb; b++)
            if (!bred[b]) at = at * bsize[b] + idx[b];
        acc[at] += ld(dt, x, k);
        for (int b = nb - 1; b >= 0 && ++idx[b] == bsize[b]; b--) idx[b] = 0;
    }
    for (int64_t k = 0; k < m; k++) st(dt, y, k, acc[k]);
    free(acc);
    return 0;
}

// the same for integers: one element at a time, the sums in uint64 (exact modulo 2^64)
void dm__ref_sum_to_i64(const int64_t *x, int nb, const int64_t *bsize, const int *bred,
                        int64_t n, int64_t m, int64_t *y)
{
    for (int64_t k = 0; k < m; k++) y[k] = 0;
    int64_t idx[DM_MAX_DIMS] = { 0 };
    for (int64_t k = 0; k < n; k++) {
        int64_t at = 0;                   /* row-major index over the kept runs */
        for (int b = 0; b < nb; b++)
            if (!bred[b]) at = at * bsize[b] + idx[b];
        y[at] = (int64_t)((uint64_t)y[at] + (uint64_t)x[k]);
        for (int b = nb - 1; b >= 0 && ++idx[b] == bsize[b]; b--) idx[b] = 0;
    }
}

// y, g, gi are [outer x r x inner]: gi = y (g - sum g y), or g - exp(y) sum g
void dm__ref_softmax_bw(dm_dtype dt, const void *y, const void *g, void *gi, dm_geom G,
                        int logsm)
{
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
#define AT(j) (((o) * G.r + (j)) * G.inner + i)
            double s = 0;
            for (int64_t r = 0; r < G.r; r++)
                s += logsm ? ld(dt, g, AT(r)) : ld(dt, g, AT(r)) * ld(dt, y, AT(r));
            for (int64_t r = 0; r < G.r; r++) {
                double yv = ld(dt, y, AT(r)), gv = ld(dt, g, AT(r));
                st(dt, gi, AT(r), logsm ? gv - exp(yv) * s : yv * (gv - s));
            }
#undef AT
        }
}

// d var / dx of slice (o, i), times gs: 2 (x - mean) / (r - correction)
static void var_bw(dm_dtype dt, const void *x, dm_geom G, int full, int64_t correction,
                   int64_t o, int64_t i, double gs, void *gi)
{
#define AT(j) (((o) * G.r + (j)) * G.inner + i)
    double mean = 0, dof = (double)G.r - (double)correction;
    for (int64_t r = 0; r < G.r; r++) mean += ld(dt, x, AT(r));
    mean = G.r > 0 ? mean / (double)G.r : NAN;
    for (int64_t r = 0; r < G.r; r++) {
        double xv = ld(dt, x, AT(r));
        if (full && dof <= 0) st(dt, gi, AT(r), gs * (xv == mean ? NAN : INFINITY));
        else st(dt, gi, AT(r), gs * (dof != 0 ? 2.0 / dof : INFINITY) * (xv - mean));
    }
#undef AT
}

int dm__ref_reduce_bw(dm_dtype dt, const struct dm_node *n, dm_geom G, int full, const void *x,
                      const void *g, const int64_t *ix, const void *sd, void *gi, int64_t nin)
{
    if (n->op == DM_OP_MAXMIN_ALL) {          /* shared evenly among ties */
        double v = dt == DM_FLOAT32 ? (double)(float)n->par.reduce.value : n->par.reduce.value;
        int64_t count = 0;
        for (int64_t k = 0; k < nin; k++) {
            double xv = ld(dt, x, k);
            count += xv == v || (isnan(xv) && isnan(v));
        }
        for (int64_t k = 0; k < nin; k++) {
            double xv = ld(dt, x, k);
            st(dt, gi, k, xv == v || (isnan(xv) && isnan(v)) ? ld(dt, g, 0) / (double)count : 0);
        }
        return 0;
    }
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
#define AT(j) (((o) * G.r + (j)) * G.inner + i)
            int64_t k = o * G.inner + i;
            double gv = ld(dt, g, k);
            switch (n->op) {
            case DM_OP_SUM: case DM_OP_MEAN:
                for (int64_t r = 0; r < G.r; r++)
                    st(dt, gi, AT(r), n->op == DM_OP_MEAN ? gv / (double)G.r : gv);
                break;
            case DM_OP_PROD:                  /* the product of the others */
                for (int64_t r = 0; r < G.r; r++) {
                    double p = gv;
                    for (int64_t q = 0; q < G.r; q++) if (q != r) p *= ld(dt, x, AT(q));
                    st(dt, gi, AT(r), p);
                }
                break;
            case DM_OP_MAXMIN:
                if (!(ix[k] >= 0 && ix[k] < G.r)) {
                    dm_seterr("backward: %s: saved index %lld out of range", dm__node_name(n),
                              (long long)ix[k]);
                    return -1;
                }
                for (int64_t r = 0; r < G.r; r++) st(dt, gi, AT(r), r == ix[k] ? gv : 0);
                break;
            case DM_OP_VAR:
                var_bw(dt, x, G, full, n->par.reduce.correction, o, i, gv, gi);
                break;
            case DM_OP_STD: {                 /* d std = d var / (2 std), 0 where std == 0 */
                double s = ld(dt, sd, k);
                var_bw(dt, x, G, full, n->par.reduce.correction, o, i, s == 0 ? 0 : gv / (2 * s),
                       gi);
                break;
            }
            default:
                dm_seterr("backward: %s is not a reduction", dm__node_name(n));
                return -1;
            }
#undef AT
        }
    return 0;
}
