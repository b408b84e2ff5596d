/* cpu/reduce.c -- the cpu device's reductions (sum, mean, prod, max/min, argmax/argmin,
 * var/std) and softmax/log_softmax: the templates of reduce_gen.h for float32 and float64,
 * and exact int64 loops for integers.
 *
 * Sums, means, variances and products accumulate in double (eight lanes for sums, which the
 * compiler vectorises without reassociating), so long reductions agree with PyTorch (which
 * sums floats pairwise) to ~1e-7 relative.  Variance is two-pass (mean, then squared
 * deviations) in double.  The naive reference for each is in ref/reduce.c. */
#include "internal.h"
#include "cpu.h"
#include <math.h>
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see loops.h, vmath.h */
#endif
#include "vmath.h"      /* after the pragma: its functions are compiled under it too */

typedef dm_geom geom;

#define IS_NAN(v) ((v) != (v))
#define T float
#define S f
#define TEXP dm_vexpf      /* vectorisable; float64 stays on libm */
#include "reduce_gen.h"
#define T double
#define S d
#define TEXP exp
#include "reduce_gen.h"

/* index of the extreme of an int64 slice (R > 0): the first occurrence */
static int64_t extreme_index_l(const int64_t *s, int64_t R, int64_t stride, int is_min)
{
    int64_t best = s[0], at = 0;
    for (int64_t r = 1; r < R; r++) {
        int64_t v = s[r * stride];
        if (is_min ? v < best : v > best) { best = v; at = r; }
    }
    return at;
}

/* sum, prod (wrapping as PyTorch's int64 arithmetic), max, min, argmax, argmin of int64
   slices into y (int64; ix, when given, receives max/min's 0-based indices) */
static void fold_l(dm_redop op, const int64_t *xd, geom G, int64_t *y, int64_t *ix)
{
    int is_min = op == DM_RED_MIN || op == DM_RED_ARGMIN;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            const int64_t *s = xd + o * G.r * G.inner + i;
            int64_t k = o * G.inner + i, at;
            uint64_t acc = op == DM_RED_PROD;
            switch (op) {
            case DM_RED_SUM:
                for (int64_t r = 0; r < G.r; r++) acc += (uint64_t)s[r * G.inner];
                y[k] = (int64_t)acc;
                break;
            case DM_RED_PROD:
                for (int64_t r = 0; r < G.r; r++) acc *= (uint64_t)s[r * G.inner];
                y[k] = (int64_t)acc;
                break;
            case DM_RED_ARGMAX: case DM_RED_ARGMIN:
                y[k] = extreme_index_l(s, G.r, G.inner, is_min);
                break;
            default:
                at = extreme_index_l(s, G.r, G.inner, is_min);
                y[k] = s[at * G.inner];
                if (ix) ix[k] = at;
                break;
            }
        }
}

int dm__cpu_reduce(dm_redop op, dm_dtype dt, const void *x, dm_geom G, double scale,
                   int64_t correction, void *y)
{
    if (dt == DM_INT64) {
        fold_l(op, x, G, y, NULL);
        return 0;
    }
    int d = dt == DM_FLOAT64;
    if (op == DM_RED_SUM || op == DM_RED_MEAN) return d ? sum_d(x, G, scale, y) : sum_f(x, G, scale, y);
    if (d) fold_d(op, x, G, correction, y);
    else fold_f(op, x, G, correction, y);
    return 0;
}

void dm__cpu_maxmin(dm_dtype dt, const void *x, dm_geom G, int is_min, void *v, int64_t *ix)
{
    if (dt == DM_FLOAT32) maxmin_f(x, G, is_min, v, ix);
    else if (dt == DM_FLOAT64) maxmin_d(x, G, is_min, v, ix);
    else fold_l(is_min ? DM_RED_MIN : DM_RED_MAX, x, G, v, ix);
}

void dm__cpu_softmax(dm_dtype dt, const void *x, void *y, dm_geom G, int logsm)
{
    if (dt == DM_FLOAT64) softmax_d(x, y, G, logsm);
    else softmax_f(x, y, G, logsm);
}
