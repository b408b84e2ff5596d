/* ref/reduce.c -- the naive reductions and softmax: the cpu:ref device's, and the reference
 * for the cpu device's (cpu/reduce_gen.h).  One slice at a time, element r of slice (o, i)
 * at x[(o * r_count + r) * inner + i], accumulated in double in plain order (int64 exact,
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
