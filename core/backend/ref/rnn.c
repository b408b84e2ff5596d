/* ref/rnn.c -- the naive recurrent gates: the cpu:ref device's, and the reference for
 * cpu/rnn.c.  Written from PyTorch's equations, one element at a time, values loaded as
 * doubles and computed with libm (exp, tanh) in double, each result rounded once to dt:
 *   RNN:  h' = tanh(x_side + h_side) or relu(...)
 *   LSTM: i, f, o = sigmoid(.), g = tanh(.), c' = f c + i g, h' = o tanh(c')
 *   GRU:  r, z = sigmoid(.), n = tanh(x_n + r (W_hn h + b_hn)), h' = (1 - z) n + z h
 * and their derivatives (backend.h describes the layouts). */
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

static double sigm(double a) { return 1.0 / (1.0 + exp(-a)); }

void dm__ref_rnn_gates(dm_dtype dt, const dm_rnn_step *s, const void *hh, void *out, void *ws,
                       void *h, void *c)
{
    int64_t H = s->H, Ho = s->Hout, GH = s->G * H, W = s->W;
    for (int64_t i = 0; i < s->m; i++)
        for (int64_t j = 0; j < H; j++) {
            int64_t a = i * GH + j, w = i * W + j, o = i * Ho + j;
            if (s->mode == DM_RNN_TANH || s->mode == DM_RNN_RELU) {
                double v = ld(dt, out, o) + ld(dt, hh, a);
                v = s->mode == DM_RNN_TANH ? tanh(v) : v > 0 ? v : 0;
                st(dt, out, o, v);
                st(dt, h, o, v);
            } else if (s->mode == DM_RNN_LSTM) {
                double ig = sigm(ld(dt, ws, w) + ld(dt, hh, a));
                double fg = sigm(ld(dt, ws, w + H) + ld(dt, hh, a + H));
                double gg = tanh(ld(dt, ws, w + 2 * H) + ld(dt, hh, a + 2 * H));
                double og = sigm(ld(dt, ws, w + 3 * H) + ld(dt, hh, a + 3 * H));
                double cn = fg * ld(dt, c, i * H + j) + ig * gg;
                st(dt, ws, w, ig); st(dt, ws, w + H, fg);
                st(dt, ws, w + 2 * H, gg); st(dt, ws, w + 3 * H, og);
                st(dt, ws, w + 4 * H, cn);
                st(dt, c, i * H + j, cn);
                double hv = og * tanh(cn);
                if (s->proj) st(dt, ws, w + 5 * H, hv);
                else { st(dt, out, o, hv); st(dt, h, o, hv); }
            } else {
                double rg = sigm(ld(dt, ws, w) + ld(dt, hh, a));
                double zg = sigm(ld(dt, ws, w + H) + ld(dt, hh, a + H));
                double hv = ld(dt, hh, a + 2 * H);
                double ng = tanh(ld(dt, ws, w + 2 * H) + rg * hv);
                double v = (1 - zg) * ng + zg * ld(dt, h, o);
                st(dt, ws, w, rg); st(dt, ws, w + H, zg);
                st(dt, ws, w + 2 * H, ng); st(dt, ws, w + 3 * H, hv);
                st(dt, out, o, v);
                st(dt, h, o, v);
            }
        }
}

void dm__ref_rnn_gates_bw(dm_dtype dt, const dm_rnn_step *s, const void *out, const void *ws,
                          const void *cprev, const void *hprev, const void *dhpre, int64_t ldd,
                          void *dh, void *dc, void *dA, void *dAh)
{
    int64_t H = s->H, Ho = s->Hout, GH = s->G * H, W = s->W;
    for (int64_t i = 0; i < s->m; i++)
        for (int64_t j = 0; j < H; j++) {
            int64_t a = i * GH + j, w = i * W + j, o = i * Ho + j;
            if (s->mode == DM_RNN_TANH || s->mode == DM_RNN_RELU) {
                double v = ld(dt, out, o), d = ld(dt, dh, o);
                st(dt, dA, a, s->mode == DM_RNN_TANH ? d * (1 - v * v) : v > 0 ? d : 0);
            } else if (s->mode == DM_RNN_LSTM) {
                double ig = ld(dt, ws, w), fg = ld(dt, ws, w + H), gg = ld(dt, ws, w + 2 * H);
                double og = ld(dt, ws, w + 3 * H), tc = tanh(ld(dt, ws, w + 4 * H));
                double d = ld(dt, dhpre, i * ldd + j);
                double dct = ld(dt, dc, i * H + j) + d * og * (1 - tc * tc);
                st(dt, dA, a, dct * gg * ig * (1 - ig));
                st(dt, dA, a + H, dct * ld(dt, cprev, i * H + j) * fg * (1 - fg));
                st(dt, dA, a + 2 * H, dct * ig * (1 - gg * gg));
                st(dt, dA, a + 3 * H, d * tc * og * (1 - og));
                st(dt, dc, i * H + j, dct * fg);
            } else {
                double rg = ld(dt, ws, w), zg = ld(dt, ws, w + H), ng = ld(dt, ws, w + 2 * H);
                double hn = ld(dt, ws, w + 3 * H), d = ld(dt, dh, o);
                double dan = d * (1 - zg) * (1 - ng * ng);
                double dar = dan * hn * rg * (1 - rg);
                double daz = d * (ld(dt, hprev, o) - ng) * zg * (1 - zg);
                st(dt, dA, a, dar); st(dt, dAh, a, dar);
                st(dt, dA, a + H, daz); st(dt, dAh, a + H, daz);
                st(dt, dA, a + 2 * H, dan);
                st(dt, dAh, a + 2 * H, dan * rg);
                st(dt, dh, o, d * zg);
            }
        }
}
