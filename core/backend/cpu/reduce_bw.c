/* cpu/reduce_bw.c -- the cpu device's backward kernels of the reductions (sum, mean, prod,
 * max/min, var/std, softmax/log_softmax) and dm_sum_to's sum: the templates of
 * reduce_bw_gen.h for float32 and float64.  Sums accumulate in double.  The naive reference
 * for each is in ref/reduce.c. */
#include "internal.h"
#include "cpu.h"
#include <math.h>
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see loops.h, vmath.h */
#endif
#include "vmath.h"      /* after the pragma (see there) */

typedef dm_geom geom;

/* dm_sum_to's odometer over runs of dims (see core/ops/reduce.c): x [bsize...] read as rows
   of the last dim; the offsets of the current row in x and in the output, whose reduced dims
   (bred) have stride 0 */
typedef struct {
    int64_t xstr[DM_MAX_DIMS], ostr[DM_MAX_DIMS], idx[DM_MAX_DIMS];
    const int64_t *bsize;
    int last;
    int64_t xoff, ooff;
} runs;

static inline void runs_init(runs *o, int nb, const int64_t *bsize, const int *bred)
{
    int64_t xs = 1, ost = 1;
    for (int b = nb - 1; b >= 0; b--) {
        o->xstr[b] = xs;
        xs *= bsize[b];
        o->ostr[b] = bred[b] ? 0 : ost;
        if (!bred[b]) ost *= bsize[b];
        o->idx[b] = 0;
    }
    o->bsize = bsize;
    o->last = nb - 1;
    o->xoff = o->ooff = 0;
}

/* to the next row */
static inline void runs_next(runs *o)
{
    for (int b = o->last - 1; b >= 0; b--) {
        o->xoff += o->xstr[b];
        o->ooff += o->ostr[b];
        if (++o->idx[b] < o->bsize[b]) break;
        o->xoff -= o->xstr[b] * o->bsize[b];
        o->ooff -= o->ostr[b] * o->bsize[b];
        o->idx[b] = 0;
    }
}

#define IS_NAN(v) ((v) != (v))
#define T float
#define S f
#define TEXP dm_vexpf      /* vectorisable; float64 stays on libm */
#include "reduce_bw_gen.h"
#define T double
#define S d
#define TEXP exp
#include "reduce_bw_gen.h"

int dm__cpu_sum_to(dm_dtype dt, const void *x, int nb, const int64_t *bsize, const int *bred,
                   int64_t n, int64_t m, void *y)
{
    double *acc = calloc((size_t)(m > 0 ? m : 1), sizeof *acc);
    if (!acc) { dm_seterr("out of memory"); return -1; }
    if (dt == DM_FLOAT32) {
        sum_runs_f(x, nb, bsize, bred, n, acc);
        float *yf = y;
        for (int64_t k = 0; k < m; k++) yf[k] = (float)acc[k];
    } else {
        sum_runs_d(x, nb, bsize, bred, n, acc);
        memcpy(y, acc, (size_t)m * sizeof *acc);
    }
    free(acc);
    return 0;
}

/* dm_sum_to of integers: the odometer of sum_runs (reduce_bw_gen.h) in uint64 (wrapping, so
   exact modulo 2^64), the innermost run one tight loop: a sum when summed away, a row added
   into the kept elements when kept */
void dm__cpu_sum_to_i64(const int64_t *x, int nb, const int64_t *bsize, const int *bred,
                        int64_t n, int64_t m, int64_t *y)
{
    uint64_t *acc = (uint64_t *)y;
    memset(acc, 0, (size_t)m * sizeof *acc);
    const uint64_t *xd = (const uint64_t *)x;
    runs o;
    runs_init(&o, nb, bsize, bred);
    int64_t len = bsize[nb - 1];
    for (int64_t it = 0, nit = n / len; it < nit; it++, runs_next(&o)) {
        const uint64_t *r = xd + o.xoff;
        if (bred[nb - 1]) {
            uint64_t s = 0;
            for (int64_t i = 0; i < len; i++) s += r[i];
            acc[o.ooff] += s;
        } else {
            uint64_t *out = acc + o.ooff;
            for (int64_t i = 0; i < len; i++) out[i] += r[i];
        }
    }
}

void dm__cpu_softmax_bw(dm_dtype dt, const void *y, const void *g, void *gi, dm_geom G,
                        int logsm)
{
    if (dt == DM_FLOAT64) softmax_bw_d(y, g, gi, G, logsm);
    else softmax_bw_f(y, g, gi, G, logsm);
}

int dm__cpu_reduce_bw(dm_dtype dt, const struct dm_node *n, dm_geom G, int full, const void *x,
                      const void *g, const int64_t *ix, const void *sd, void *gi, int64_t nin)
{
    return dt == DM_FLOAT64 ? reduce_bw_d(n, G, full, x, g, ix, sd, gi, nin)
                            : reduce_bw_f(n, G, full, x, g, ix, sd, gi, nin);
}
