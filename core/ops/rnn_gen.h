/* rnn_gen.h -- one recurrent layer in one direction, forward and backward through time, for
 * one floating type; included by rnn.c once per type (T the element type, S its suffix, DT
 * its dm_dtype, GEMM the device table's gemm of that type).  The pointwise gate loops of each
 * step are the device table's rnn_gates / rnn_gates_bw (GATES, GATES_BW; backend/cpu/rnn.c,
 * backend/ref/rnn.c).
 *
 * Layout (rnn.c explains it): time-major packed rows, step t holding rows off[t] ..
 * off[t] + bs[t] (the first bs[t] sequences of the batch), so a padded batch is the case
 * bs[t] = B for every t.  G gates of H each: RNN 1, LSTM 4 (i, f, g, o), GRU 3 (r, z, n).
 * The workspace ws ([N x W], saved for backward) holds per row:
 *   LSTM: i f g o (after their activations) | c_t | (proj) h_t before the projection
 *   GRU:  r z n | W_hn h + b_hn
 *   RNN:  nothing (the output is all its rule needs). */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s

/* the forward pass: y = [out [N x Hout] | h_n [B x Hout] | c_n [B x H]], ws filled */
static void KN(rnn_fwd)(const rnn_geom *g, const T *x, const T *h0, const T *c0,
                        const T *wih, const T *whh, const T *bih, const T *bhh, const T *whr,
                        T *y, T *ws, T *hh)
{
    const int64_t H = g->H, Ho = g->Hout, GH = g->G * H, W = g->W, I = g->I, N = g->N;
    const int64_t B = g->B;
    T *out = y, *h = y + N * Ho, *c = h + B * Ho;
    memcpy(h, h0, (size_t)(B * Ho) * sizeof(T));
    if (g->mode == DM_RNN_LSTM) memcpy(c, c0, (size_t)(B * H) * sizeof(T));
    /* the input side of every step at once: [N x I] @ w_ih^T + b_ih, into ws (or out) */
    T *pre = g->mode <= DM_RNN_RELU ? out : ws;
    int64_t ldp = g->mode <= DM_RNN_RELU ? Ho : W;
    GEMM(0, 1, N, GH, I, (T)1, x, I, wih, I, (T)0, pre, ldp);
    if (bih)
        for (int64_t r = 0; r < N; r++)
            for (int64_t j = 0; j < GH; j++) pre[r * ldp + j] += bih[j];
    for (int64_t s = 0; s < g->nt; s++) {
        int64_t t = g->reverse ? g->nt - 1 - s : s, m = g->bs[t], r0 = g->off[t];
        /* the hidden side: hh [m x GH] = h @ w_hh^T (+ b_hh) */
        GEMM(0, 1, m, GH, Ho, (T)1, h, Ho, whh, Ho, (T)0, hh, GH);
        if (bhh)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < GH; j++) hh[i * GH + j] += bhh[j];
        const dm_rnn_step st = { g->mode, g->proj, m, H, Ho, g->G, W };
        GATES(DT, &st, hh, out + r0 * Ho, ws ? ws + r0 * W : NULL, h, c);
        if (g->mode == DM_RNN_LSTM && g->proj && m > 0) {
            /* out rows = h_t (before projection) @ w_hr^T, then the state */
            GEMM(0, 1, m, Ho, H, (T)1, ws + r0 * W + 5 * H, W, whr, H, (T)0, out + r0 * Ho, Ho);
            memcpy(h, out + r0 * Ho, (size_t)(m * Ho) * sizeof(T));
        }
    }
}

/* the state a step started from, per row: the previous step's output (or cell) of that
   sequence, or the initial state; rows [r0, r0 + m) of dst [N x n] */
static void KN(prev_rows)(const rnn_geom *g, int64_t t, const T *seq, int64_t lds,
                          const T *init, int64_t n, T *dst)
{
    int64_t m = g->bs[t], r0 = g->off[t];
    int64_t tp = g->reverse ? t + 1 : t - 1;
    int64_t mp = tp >= 0 && tp < g->nt ? g->bs[tp] : 0, rp = mp ? g->off[tp] : 0;
    for (int64_t i = 0; i < m; i++) {
        const T *src = i < mp ? seq + (rp + i) * lds : init + i * n;
        memcpy(dst + (r0 + i) * n, src, (size_t)n * sizeof(T));
    }
}

/* the backward pass.  gy = d loss / d y (y as the forward wrote it).  Gradients written
   where their pointer is not NULL: gx [N x I], gh0 [B x Hout], gc0 [B x H], the weights and
   biases.  dh [B x Hout], dc [B x H]; dA, dAh, hprev, dR are [N x ...] scratch. */
static void KN(rnn_bwd)(const rnn_geom *g, const T *x, const T *h0, const T *c0,
                        const T *wih, const T *whh, const T *whr, const T *y, const T *ws,
                        const T *gy, T *gx, T *gh0, T *gc0, T *gwih, T *gwhh, T *gbih,
                        T *gbhh, T *gwhr, T *dh, T *dc, T *dA, T *dAh, T *hprev, T *cprev,
                        T *dR, T *dhp)
{
    const int64_t H = g->H, Ho = g->Hout, GH = g->G * H, W = g->W, I = g->I, N = g->N;
    const int64_t B = g->B;
    const T *out = y, *gout = gy;
    memcpy(dh, gy + N * Ho, (size_t)(B * Ho) * sizeof(T));
    if (g->mode == DM_RNN_LSTM) memcpy(dc, gy + N * Ho + B * Ho, (size_t)(B * H) * sizeof(T));
    for (int64_t t = 0; t < g->nt; t++) {
        KN(prev_rows)(g, t, out, Ho, h0, Ho, hprev);
        if (g->mode == DM_RNN_LSTM) KN(prev_rows)(g, t, ws + 4 * H, W, c0, H, cprev);
    }
    for (int64_t s = 0; s < g->nt; s++) {
        int64_t t = g->reverse ? s : g->nt - 1 - s, m = g->bs[t], r0 = g->off[t];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < Ho; j++) dh[i * Ho + j] += gout[(r0 + i) * Ho + j];
        const T *dhpre = dh;
        int64_t ldd = Ho;
        if (g->mode == DM_RNN_LSTM && g->proj) {
            /* d h_t (before projection) = d out @ w_hr; dR keeps d out for d w_hr */
            memcpy(dR + r0 * Ho, dh, (size_t)(m * Ho) * sizeof(T));
            GEMM(0, 0, m, H, Ho, (T)1, dh, Ho, whr, H, (T)0, dhp, H);
            dhpre = dhp;
            ldd = H;
        }
        const dm_rnn_step st = { g->mode, g->proj, m, H, Ho, g->G, W };
        int lstm = g->mode == DM_RNN_LSTM, gru = g->mode == DM_RNN_GRU;
        GATES_BW(DT, &st, out + r0 * Ho, ws ? ws + r0 * W : NULL, lstm ? cprev + r0 * H : NULL,
                 hprev + r0 * Ho, dhpre, ldd, dh, lstm ? dc : NULL, dA + r0 * GH,
                 gru ? dAh + r0 * GH : NULL);
        /* d h_{t-1} = dA_h @ w_hh (GRU: added to the direct path z * dh) */
        const T *ah = g->mode == DM_RNN_GRU ? dAh : dA;
        if (m > 0)
            GEMM(0, 0, m, Ho, GH, (T)1, ah + r0 * GH, GH, whh, Ho,
                 g->mode == DM_RNN_GRU ? (T)1 : (T)0, dh, Ho);
    }
    const T *ah = g->mode == DM_RNN_GRU ? dAh : dA;
    if (gh0) memcpy(gh0, dh, (size_t)(B * Ho) * sizeof(T));
    if (gc0) memcpy(gc0, dc, (size_t)(B * H) * sizeof(T));
    if (gx) GEMM(0, 0, N, I, GH, (T)1, dA, GH, wih, I, (T)0, gx, I);
    if (gwih) GEMM(1, 0, GH, I, N, (T)1, dA, GH, x, I, (T)0, gwih, I);
    if (gwhh) GEMM(1, 0, GH, Ho, N, (T)1, ah, GH, hprev, Ho, (T)0, gwhh, Ho);
    if (gwhr) GEMM(1, 0, Ho, H, N, (T)1, dR, Ho, ws + 5 * H, W, (T)0, gwhr, H);
    /* the biases: column sums, row by row (dA's rows are contiguous) */
    if (gbih || gbhh) {
        for (int64_t j = 0; j < GH; j++) {
            if (gbih) gbih[j] = 0;
            if (gbhh) gbhh[j] = 0;
        }
        for (int64_t r = 0; r < N; r++) {
            const T *a = dA + r * GH, *b = ah + r * GH;
            if (gbih) for (int64_t j = 0; j < GH; j++) gbih[j] += a[j];
            if (gbhh) for (int64_t j = 0; j < GH; j++) gbhh[j] += b[j];
        }
    }
}

#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
#undef DT
#undef GEMM
