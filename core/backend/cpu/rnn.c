/* cpu/rnn.c -- the recurrent layers' pointwise gate loops (core/ops/rnn.c and rnn_gen.h walk the
 * steps and do the products): one step's rows of RNN tanh/relu, LSTM and GRU, forward and
 * backward (backend.h's rnn_gates, rnn_gates_bw), from cpu/rnn_gen.h once per type.
 *
 * float32's sigmoid and tanh are vmath.h's (branch-free, inline), so the row loops vectorize
 * (AVX2, AVX and SSE2 clones, bit-identical); float64 keeps libm's. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see loops.h, vmath.h */
#endif
#include "internal.h"
#include "cpu.h"
#include "vmath.h"      /* after the pragma (see there) */
#include <math.h>
#include <string.h>

static inline double sigm_d(double a) { return 1.0 / (1.0 + exp(-a)); }

#define T float
#define S f
#define TSIGM dm_vsigmoidf
#define TTANH dm_vtanhf
#include "rnn_gen.h"
#define T double
#define S d
#define TSIGM sigm_d
#define TTANH tanh
#include "rnn_gen.h"

void dm__cpu_rnn_gates(dm_dtype dt, const dm_rnn_step *s, const void *hh, void *out, void *ws,
                       void *h, void *c)
{
    if (dt == DM_FLOAT64) gates_d(s, hh, out, ws, h, c);
    else gates_f(s, hh, out, ws, h, c);
}

void dm__cpu_rnn_gates_bw(dm_dtype dt, const dm_rnn_step *s, const void *out, const void *ws,
                          const void *cprev, const void *hprev, const void *dhpre, int64_t ldd,
                          void *dh, void *dc, void *dA, void *dAh)
{
    if (dt == DM_FLOAT64) gates_bw_d(s, out, ws, cprev, hprev, dhpre, ldd, dh, dc, dA, dAh);
    else gates_bw_f(s, out, ws, cprev, hprev, dhpre, ldd, dh, dc, dA, dAh);
}
