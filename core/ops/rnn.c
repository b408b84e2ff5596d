/* rnn.c -- one recurrent layer (Elman tanh/relu, LSTM with an optional projection, GRU) in
 * one direction over a whole sequence: PyTorch 1.13's nn.RNN / nn.LSTM / nn.GRU are a stack
 * of these, one node per layer and direction (the Lua side, nn/rnn.lua, stacks them,
 * concatenates the two directions and applies the dropout between layers).
 *
 * One node, DM_OP_RNN (sub: the mode + 4 x reverse).  The sequence is time-major and packed
 * as PyTorch's PackedSequence: x [N x I] holds step t's rows at off[t] .. off[t] + bs[t],
 * those of the first bs[t] sequences (bs non-increasing, bs[0] = B); a padded batch
 * [T x B x I] is the case bs[t] = B.  The forward does the input side of every step in one
 * gemm, then per step one gemm for the hidden side and the gates; rows past a sequence's end
 * are not touched, so the state left in them is that sequence's final state.  The backward
 * runs back through time in the same loop (no recursion: T = 1000 is as safe as T = 1) and
 * does the weight and input gradients as one gemm each over all steps.
 *
 * The output is one flat tensor [N*Hout + B*Hout (+ B*H for LSTM)]: the outputs of every
 * step, h_n, c_n (the binding hands out views of the three).  Saved: the output (the states
 * the steps started from), the gates after their activations (and the cells) per step,
 * and the batch sizes; nothing else.  Gates in PyTorch's order: LSTM i, f, g, o; GRU r, z, n
 * with r applied to W_hn h + b_hn.  Weights: w_ih [G*H x I], w_hh [G*H x Hout], b_ih and
 * b_hh [G*H], w_hr [Hout x H] (LSTM proj_size; Hout = H without it). */
#if defined(__GNUC__) && !defined(__clang__)
/* the bias and gradient-accumulation loops of rnn_gen.h vectorize (the gate loops are the
   device table's, backend/cpu/rnn.c) */
#pragma GCC optimize("O3")
#endif
#include "internal.h"
#include "backend/backend.h"
#include <math.h>
#include <string.h>

typedef struct {
    int mode, reverse, proj;
    int64_t nt, B, N, I, H, Hout, G, W;   /* nt: the steps */
    const int64_t *bs;            /* [T] rows per step */
    int64_t *off;                 /* [T] the first row of each step */
} rnn_geom;

static const char *const mode_names[] = { "RNN_TANH", "RNN_RELU", "LSTM", "GRU" };

#define T float
#define S f
#define DT DM_FLOAT32
#define GEMM dm__kernels(dm__cur_device)->sgemm
#define GATES dm__kernels(dm__cur_device)->rnn_gates
#define GATES_BW dm__kernels(dm__cur_device)->rnn_gates_bw
#include "rnn_gen.h"
#define T double
#define S d
#define DT DM_FLOAT64
#define GEMM dm__kernels(dm__cur_device)->dgemm
#include "rnn_gen.h"
#undef GATES
#undef GATES_BW

static int64_t gates_of(int mode) { return mode == DM_RNN_LSTM ? 4 : mode == DM_RNN_GRU ? 3 : 1; }

/* workspace columns per row */
static int64_t ws_width(int mode, int64_t H, int proj)
{
    return mode == DM_RNN_LSTM ? (proj ? 6 : 5) * H : mode == DM_RNN_GRU ? 4 * H : 0;
}

/* g->off from g->bs; -1 (out of memory) */
static int geom_offsets(rnn_geom *g)
{
    g->off = malloc((size_t)g->nt * sizeof *g->off);
    if (!g->off) { dm_seterr("rnn_layer: out of memory"); return -1; }
    int64_t o = 0;
    for (int64_t t = 0; t < g->nt; t++) { g->off[t] = o; o += g->bs[t]; }
    return 0;
}

static int need_shape(const char *what, const char *mname, const dm_tensor *t, int nd,
                      int64_t d0, int64_t d1)
{
    char b1[DM_SHAPE_BUF];
    if (t->ndim == nd && t->shape[0] == d0 && (nd == 1 || t->shape[1] == d1)) return 0;
    if (nd == 1)
        dm_seterr("rnn_layer (%s): expected %s [%lld], got %s", mname, what, (long long)d0,
                  SHAPE(t, b1));
    else
        dm_seterr("rnn_layer (%s): expected %s [%lld x %lld], got %s", mname, what,
                  (long long)d0, (long long)d1, SHAPE(t, b1));
    return -1;
}

dm_tensor *dm_rnn_layer(int mode, int reverse, const dm_tensor *x, int64_t nsteps,
                        const int64_t *batch_sizes, const dm_tensor *h0, const dm_tensor *c0,
                        const dm_tensor *w_ih, const dm_tensor *w_hh, const dm_tensor *b_ih,
                        const dm_tensor *b_hh, const dm_tensor *w_hr)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (mode < DM_RNN_TANH || mode > DM_RNN_GRU) {
        dm_seterr("rnn_layer: unknown mode %d (expected RNN_TANH, RNN_RELU, LSTM or GRU)", mode);
        return NULL;
    }
    const char *mn = mode_names[mode];
    if (!x || !h0 || !w_ih || !w_hh) {
        dm_seterr("rnn_layer (%s): x, h0, w_ih and w_hh are required", mn);
        return NULL;
    }
    if ((mode == DM_RNN_LSTM) != (c0 != NULL)) {
        dm_seterr("rnn_layer (%s): %s", mn, c0 ? "only an LSTM takes c0" : "an LSTM needs c0");
        return NULL;
    }
    if (w_hr && mode != DM_RNN_LSTM) {
        dm_seterr("rnn_layer (%s): only an LSTM takes w_hr (proj_size)", mn);
        return NULL;
    }
    const dm_tensor *ins[8] = { x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr };
    dm_dtype dt = x->dtype;
    if (dt != DM_FLOAT32 && dt != DM_FLOAT64) {
        dm_seterr("rnn_layer (%s): expected a float32 or float64 input, got %s", mn,
                  dm_dtype_name(dt));
        return NULL;
    }
    static const char *const names[8] = { "x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh",
                                          "w_hr" };
    for (int k = 1; k < 8; k++)
        if (ins[k] && ins[k]->dtype != dt) {
            dm_seterr("rnn_layer (%s): expected %s of dtype %s (the input's), got %s", mn,
                      names[k], dm_dtype_name(dt), dm_dtype_name(ins[k]->dtype));
            return NULL;
        }
    if (dm__same_device("rnn_layer", 8, ins) < 0) return NULL;
    if (x->ndim != 2) {
        dm_seterr("rnn_layer (%s): expected x [N x input_size] (time-major rows), got %s", mn,
                  SHAPE(x, b1));
        return NULL;
    }
    if (h0->ndim != 2 || w_hh->ndim != 2 || w_ih->ndim != 2) {
        dm_seterr("rnn_layer (%s): expected h0 [B x H], w_ih [G*H x I] and w_hh [G*H x H], got "
                  "h0 %s, w_ih %s", mn, SHAPE(h0, b1), SHAPE(w_ih, b2));
        return NULL;
    }
    rnn_geom g = { .mode = mode, .reverse = reverse ? 1 : 0, .proj = w_hr != NULL };
    g.G = gates_of(mode);
    g.N = x->shape[0];
    g.I = x->shape[1];
    g.B = h0->shape[0];
    g.Hout = h0->shape[1];
    if (w_ih->shape[0] % g.G || w_ih->shape[0] < g.G) {
        dm_seterr("rnn_layer (%s): expected w_ih [%lld*H x I], got %s", mn, (long long)g.G,
                  SHAPE(w_ih, b1));
        return NULL;
    }
    g.H = w_ih->shape[0] / g.G;
    if (!w_hr && g.Hout != g.H) {
        dm_seterr("rnn_layer (%s): expected h0 [%lld x %lld], got %s", mn, (long long)g.B,
                  (long long)g.H, SHAPE(h0, b1));
        return NULL;
    }
    if (need_shape("w_ih", mn, w_ih, 2, g.G * g.H, g.I) ||
        need_shape("w_hh", mn, w_hh, 2, g.G * g.H, g.Hout) ||
        (c0 && need_shape("c0", mn, c0, 2, g.B, g.H)) ||
        (b_ih && need_shape("b_ih", mn, b_ih, 1, g.G * g.H, 0)) ||
        (b_hh && need_shape("b_hh", mn, b_hh, 1, g.G * g.H, 0)) ||
        (w_hr && need_shape("w_hr", mn, w_hr, 2, g.Hout, g.H)))
        return NULL;
    if (nsteps < 1 || g.B < 1 || g.I < 1 || g.Hout < 1) {
        dm_seterr("rnn_layer (%s): expected at least one step, one sequence, one input feature "
                  "and one state feature, got %lld steps, x %s and h0 %s", mn, (long long)nsteps,
                  SHAPE(x, b1), SHAPE(h0, b2));
        return NULL;
    }
    if (!batch_sizes && (g.N % g.B || g.N / g.B != nsteps)) {
        dm_seterr("rnn_layer (%s): expected x with %lld steps of %lld rows (h0 %s), got %s", mn,
                  (long long)nsteps, (long long)g.B, SHAPE(h0, b1), SHAPE(x, b2));
        return NULL;
    }
    if (nsteps > g.N) {
        dm_seterr("rnn_layer (%s): %lld steps need at least as many rows of x, got %s", mn,
                  (long long)nsteps, SHAPE(x, b1));
        return NULL;
    }
    g.nt = nsteps;
    g.W = ws_width(mode, g.H, g.proj);
    dm_tensor *bst = dm_tensor_new_dtype(1, &g.nt, DM_INT64);
    if (!bst) return NULL;
    int64_t *bs = dm__ptr(bst), total = 0;
    for (int64_t t = 0; t < g.nt; t++) {
        int64_t b = batch_sizes ? batch_sizes[t] : g.B;
        if (b < 1 || b > (t ? bs[t - 1] : g.B) || (t == 0 && b != g.B)) {
            dm_seterr("rnn_layer (%s): batch sizes must start at the batch size %lld (h0 %s) "
                      "and not increase, got %lld at step %lld", mn, (long long)g.B,
                      SHAPE(h0, b1), (long long)b, (long long)(t + 1));
            dm_tensor_release(bst);
            return NULL;
        }
        bs[t] = b;
        total += b;
    }
    if (total != g.N) {
        dm_seterr("rnn_layer (%s): expected x with %lld rows (the batch sizes' sum), got %s", mn,
                  (long long)total, SHAPE(x, b1));
        dm_tensor_release(bst);
        return NULL;
    }
    g.bs = bs;
    if (geom_offsets(&g)) { dm_tensor_release(bst); return NULL; }
    dm_tensor *hold[8] = {0};
    const void *p[8] = {0};
    int ok = 1;
    for (int k = 0; k < 8 && ok; k++)
        if (ins[k]) ok = (p[k] = dm__contig_as(ins[k], dt, &hold[k])) != NULL;
    int64_t ysz = g.N * g.Hout + g.B * g.Hout + (mode == DM_RNN_LSTM ? g.B * g.H : 0);
    int64_t wshape[2] = { g.N, g.W }, hhs[2] = { g.B, g.G * g.H };
    dm_tensor *y = ok ? dm_tensor_new_dtype(1, &ysz, dt) : NULL;
    dm_tensor *ws = y && g.W ? dm_tensor_new_dtype(2, wshape, dt) : NULL;
    dm_tensor *hh = y && (ws || !g.W) ? dm_tensor_new_dtype(2, hhs, dt) : NULL;
    if (hh) {
        if (dt == DM_FLOAT32)
            rnn_fwd_f(&g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], dm__ptr(y),
                      ws ? dm__ptr(ws) : NULL, dm__ptr(hh));
        else
            rnn_fwd_d(&g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], dm__ptr(y),
                      ws ? dm__ptr(ws) : NULL, dm__ptr(hh));
    }
    for (int k = 0; k < 8; k++) dm_tensor_release(hold[k]);
    dm_tensor_release(hh);
    free(g.off);
    if (!hh) {
        dm_tensor_release(y); dm_tensor_release(ws); dm_tensor_release(bst);
        return NULL;
    }
    if (dm__needs_grad(8, ins)) {
        dm_node *n = dm__record(DM_OP_RNN, mode + 4 * g.reverse, y, 8, ins);
        if (!n || !dm__save(n, 0, y) || (ws && !dm__save(n, 1, ws)) || !dm__save(n, 2, bst)) {
            dm_tensor_release(y); dm_tensor_release(ws); dm_tensor_release(bst);
            return NULL;
        }
        n->par.rnn.nsteps = g.nt;
        n->par.rnn.hidden = g.H;
        n->par.rnn.proj = g.proj;
    }
    dm_tensor_release(ws);
    dm_tensor_release(bst);
    return y;
}

int dm__bw_rnn(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *h0 = n->in[1];
    const dm_tensor *yt = n->saved[0], *wst = n->saved[1], *bst = n->saved[2];
    dm_dtype dt = yt->dtype;
    rnn_geom g = { .mode = n->sub % 4, .reverse = n->sub / 4, .proj = n->par.rnn.proj };
    g.nt = n->par.rnn.nsteps;
    g.H = n->par.rnn.hidden;
    g.G = gates_of(g.mode);
    g.N = x->shape[0];
    g.I = x->shape[1];
    g.B = h0->shape[0];
    g.Hout = h0->shape[1];
    g.W = ws_width(g.mode, g.H, g.proj);
    g.bs = dm__ptr(bst);
    if (geom_offsets(&g)) return -1;
    int want[8], any = 0;
    for (int k = 0; k < 8; k++) any |= want[k] = n->in[k] && n->in[k]->requires_grad;
    dm_tensor *hold[8] = {0}, *ghold = NULL, *scratch[8] = {0};
    const void *p[8] = {0};
    int rc = -1;
    for (int k = 0; k < 8; k++) {
        /* the rule reads x, h0, c0, w_ih, w_hh and w_hr; the biases only for their shape */
        if (!n->in[k] || k == 5 || k == 6) continue;
        if (!(p[k] = dm__contig_as(n->in[k], dt, &hold[k]))) goto done;
    }
    const void *gy = dm__contig_as(gout, dt, &ghold);
    if (!gy) goto done;
    for (int k = 0; k < 8; k++)
        if (want[k] && !(gin[k] = dm_tensor_new_dtype(n->in[k]->ndim, n->in[k]->shape, dt)))
            goto done;
    int64_t GH = g.G * g.H;
    int64_t shp[8][2] = {
        { g.B, g.Hout }, { g.B, g.H }, { g.N, GH }, { g.N, g.mode == DM_RNN_GRU ? GH : 1 },
        { g.N, g.Hout }, { g.N, g.mode == DM_RNN_LSTM ? g.H : 1 },
        { g.N, g.proj ? g.Hout : 1 }, { g.B, g.proj ? g.H : 1 } };
    for (int k = 0; k < 8; k++)
        if (!(scratch[k] = dm_tensor_new_dtype(2, shp[k], dt))) goto done;
    if (any) {
#define GP(k) (gin[k] ? dm__ptr(gin[k]) : NULL)
#define SP(k) dm__ptr(scratch[k])
        if (dt == DM_FLOAT32)
            rnn_bwd_f(&g, p[0], p[1], p[2], p[3], p[4], p[7], dm__ptr(yt),
                      wst ? dm__ptr(wst) : NULL, gy, GP(0), GP(1), GP(2), GP(3), GP(4), GP(5),
                      GP(6), GP(7), SP(0), SP(1), SP(2), SP(3), SP(4), SP(5), SP(6), SP(7));
        else
            rnn_bwd_d(&g, p[0], p[1], p[2], p[3], p[4], p[7], dm__ptr(yt),
                      wst ? dm__ptr(wst) : NULL, gy, GP(0), GP(1), GP(2), GP(3), GP(4), GP(5),
                      GP(6), GP(7), SP(0), SP(1), SP(2), SP(3), SP(4), SP(5), SP(6), SP(7));
#undef GP
#undef SP
    }
    rc = 0;
done:
    if (rc)
        for (int k = 0; k < 8; k++) { dm_tensor_release(gin[k]); gin[k] = NULL; }
    for (int k = 0; k < 8; k++) { dm_tensor_release(hold[k]); dm_tensor_release(scratch[k]); }
    dm_tensor_release(ghold);
    free(g.off);
    return rc;
}
