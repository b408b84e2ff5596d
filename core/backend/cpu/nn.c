/* cpu/nn.c -- the cpu device's dropout and batch norm kernels (backend.h: dropout,
 * dropout_bw, batch_norm, batch_norm_bw), one definition per floating type from nn_gen.h.
 * The reference is ref/nn.c. */
#include "internal.h"
#include "cpu.h"
#include "walk.h"
#include "draw.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#define T float
#define S f
#include "nn_gen.h"
#define T double
#define S d
#include "nn_gen.h"

void dm__cpu_dropout(dm_dtype dt, const dm_tensor *x, int64_t n, double p, dm_rng *g, void *m,
                     void *o)
{
    if (dt == DM_FLOAT32) dropout_fwd_f(x, n, p, g, m, o);
    else dropout_fwd_d(x, n, p, g, m, o);
}

void dm__cpu_dropout_bw(dm_dtype dt, const void *g, const void *m, void *d, int64_t k)
{
    if (dt == DM_FLOAT32) dropout_bw_f(g, m, d, k);
    else dropout_bw_d(g, m, d, k);
}

void dm__cpu_batch_norm(dm_dtype dt, const void *x, int64_t N, int64_t C, int64_t L,
                        int training, double momentum, double eps, dm_tensor *running_mean,
                        dm_tensor *running_var, const dm_tensor *weight, const dm_tensor *bias,
                        double *mean, double *inv, void *o, void *sm, void *si)
{
    if (dt == DM_FLOAT32)
        bn_fwd_f(x, N, C, L, training, momentum, eps, running_mean, running_var, weight, bias,
                 mean, inv, o, sm, si);
    else
        bn_fwd_d(x, N, C, L, training, momentum, eps, running_mean, running_var, weight, bias,
                 mean, inv, o, sm, si);
}

void dm__cpu_batch_norm_bw(dm_dtype dt, const void *x, const void *g, const void *sm,
                           const void *si, int64_t N, int64_t C, int64_t L, int training,
                           const dm_tensor *weight, double *s1, double *s2, void *gx, void *gw,
                           void *gb)
{
    if (dt == DM_FLOAT32)
        bn_bw_f(x, g, sm, si, N, C, L, training, weight, s1, s2, gx, gw, gb);
    else
        bn_bw_d(x, g, sm, si, N, C, L, training, weight, s1, s2, gx, gw, gb);
}
