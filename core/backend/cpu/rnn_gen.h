/* cpu/rnn_gen.h -- the recurrent layers' pointwise gate loops for one floating type,
 * included by cpu/rnn.c once per type (T the element type, S its suffix, TSIGM / TTANH its
 * sigmoid and tanh).  The gemms and the walk through time are core/ops/rnn.c's (rnn_gen.h);
 * these are one step's rows, backend.h's rnn_gates and rnn_gates_bw.
 *
 * G gates of H each: RNN 1, LSTM 4 (i, f, g, o), GRU 3 (r, z, n).  The workspace rows ws
 * ([m x W], saved for backward) hold:
 *   LSTM: i f g o (after their activations) | c_t | (proj) h_t before the projection
 *   GRU:  r z n | W_hn h + b_hn
 *   RNN:  nothing (the output is all its rule needs). */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s

/* One row of a step's gates (H wide), separate arrays (restrict: the loops vectorize).
   a: the hidden side (W_h h + b_h) of every gate, G x H.  Elman: o holds the input side in
   and the new state out, h the state. */
DM_VMATH_CLONES static void KN(rnn_row)(int64_t H, int tanh_, T *restrict o, const T *restrict a,
                        T *restrict h)
{
    if (tanh_)
        for (int64_t j = 0; j < H; j++) { T v = TTANH(o[j] + a[j]); o[j] = v; h[j] = v; }
    else
        for (int64_t j = 0; j < H; j++) {
            T v = o[j] + a[j];
            v = v > 0 ? v : 0;
            o[j] = v;
            h[j] = v;
        }
}

/* LSTM: gi gf gg go the input side in, the activations out; cs the cell saved; c the cell
   state; hp the new h (before any projection) */
DM_VMATH_CLONES static void KN(lstm_row)(int64_t H, T *restrict gi, T *restrict gf, T *restrict gg,
                         T *restrict go, T *restrict cs, const T *restrict a, T *restrict c,
                         T *restrict hp)
{
    for (int64_t j = 0; j < H; j++) {
        T ig = TSIGM(gi[j] + a[j]);
        T fg = TSIGM(gf[j] + a[H + j]);
        T g_ = TTANH(gg[j] + a[2 * H + j]);
        T og = TSIGM(go[j] + a[3 * H + j]);
        T cn = fg * c[j] + ig * g_;
        gi[j] = ig; gf[j] = fg; gg[j] = g_; go[j] = og;
        cs[j] = cn;
        c[j] = cn;
        hp[j] = og * TTANH(cn);
    }
}

/* GRU: gr gz gn the input side in, r z n out; hn gets W_hn h + b_hn; o the output row, h
   the state */
DM_VMATH_CLONES static void KN(gru_row)(int64_t H, T *restrict gr, T *restrict gz, T *restrict gn,
                        T *restrict hn, const T *restrict a, T *restrict o, T *restrict h)
{
    for (int64_t j = 0; j < H; j++) {
        T rg = TSIGM(gr[j] + a[j]);
        T zg = TSIGM(gz[j] + a[H + j]);
        T hv = a[2 * H + j];
        T ng = TTANH(gn[j] + rg * hv);
        T v = ((T)1 - zg) * ng + zg * h[j];
        gr[j] = rg; gz[j] = zg; gn[j] = ng; hn[j] = hv;
        o[j] = v;
        h[j] = v;
    }
}

/* LSTM backward of one row: w the saved gates and cell, cp the cell before, d = dL/dh
   (before any projection); dc the cell's gradient in (from the step after) and out (to the
   step before); a the gates' pre-activation gradients */
DM_VMATH_CLONES static void KN(lstm_row_bw)(int64_t H, const T *restrict w, const T *restrict cp,
                            const T *restrict d, T *restrict dc, T *restrict a)
{
    for (int64_t j = 0; j < H; j++) {
        T ig = w[j], fg = w[H + j], gg = w[2 * H + j], og = w[3 * H + j];
        T tc = TTANH(w[4 * H + j]), dj = d[j];
        T dct = dc[j] + dj * og * ((T)1 - tc * tc);
        a[j] = dct * gg * ig * ((T)1 - ig);
        a[H + j] = dct * cp[j] * fg * ((T)1 - fg);
        a[2 * H + j] = dct * ig * ((T)1 - gg * gg);
        a[3 * H + j] = dj * tc * og * ((T)1 - og);
        dc[j] = dct * fg;
    }
}

/* GRU backward of one row: w the saved r z n (W_hn h + b_hn), hp the state before; dh in,
   out its direct part z dh; a the input side's pre-activation gradients, ah the hidden
   side's (n's differs: r (1 - n^2) dn) */
DM_VMATH_CLONES static void KN(gru_row_bw)(int64_t H, const T *restrict w, const T *restrict hp,
                           T *restrict dh, T *restrict a, T *restrict ah)
{
    for (int64_t j = 0; j < H; j++) {
        T rg = w[j], zg = w[H + j], ng = w[2 * H + j], hn = w[3 * H + j];
        T d = dh[j];
        T dan = d * ((T)1 - zg) * ((T)1 - ng * ng);
        T dar = dan * hn * rg * ((T)1 - rg), daz = d * (hp[j] - ng) * zg * ((T)1 - zg);
        a[j] = dar; ah[j] = dar;
        a[H + j] = daz; ah[H + j] = daz;
        a[2 * H + j] = dan;
        ah[2 * H + j] = dan * rg;
        dh[j] = d * zg;
    }
}

/* one step's m rows, forward (backend.h's rnn_gates) */
static void KN(gates)(const dm_rnn_step *st, const void *hh_, void *out_, void *ws_, void *h_,
                      void *c_)
{
    const int64_t H = st->H, Ho = st->Hout, GH = st->G * H, W = st->W, m = st->m;
    const T *hh = hh_;
    T *out = out_, *ws = ws_, *h = h_, *c = c_;
    for (int64_t i = 0; i < m; i++) {
        const T *a = hh + i * GH;
        if (st->mode <= DM_RNN_RELU) {
            KN(rnn_row)(H, st->mode == DM_RNN_TANH, out + i * Ho, a, h + i * Ho);
        } else if (st->mode == DM_RNN_LSTM) {
            T *w = ws + i * W;
            T *hp = st->proj ? w + 5 * H : out + i * Ho;
            KN(lstm_row)(H, w, w + H, w + 2 * H, w + 3 * H, w + 4 * H, a, c + i * H, hp);
            if (!st->proj) memcpy(h + i * Ho, hp, (size_t)H * sizeof(T));
        } else {
            T *w = ws + i * W;
            KN(gru_row)(H, w, w + H, w + 2 * H, w + 3 * H, a, out + i * Ho, h + i * Ho);
        }
    }
}

/* one step's m rows, backward (backend.h's rnn_gates_bw) */
static void KN(gates_bw)(const dm_rnn_step *st, const void *out_, const void *ws_,
                         const void *cprev_, const void *hprev_, const void *dhpre_,
                         int64_t ldd, void *dh_, void *dc_, void *dA_, void *dAh_)
{
    const int64_t H = st->H, Ho = st->Hout, GH = st->G * H, W = st->W, m = st->m;
    const T *out = out_, *ws = ws_, *cprev = cprev_, *hprev = hprev_, *dhpre = dhpre_;
    T *dh = dh_, *dc = dc_, *dA = dA_, *dAh = dAh_;
    if (st->mode <= DM_RNN_RELU) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < H; j++) {
                T v = out[i * Ho + j], d = dh[i * Ho + j];
                dA[i * GH + j] = st->mode == DM_RNN_TANH ? d * ((T)1 - v * v)
                                                         : v > 0 ? d : 0;
            }
    } else if (st->mode == DM_RNN_LSTM) {
        for (int64_t i = 0; i < m; i++)
            KN(lstm_row_bw)(H, ws + i * W, cprev + i * H, dhpre + i * ldd, dc + i * H,
                            dA + i * GH);
    } else {                                       /* GRU */
        for (int64_t i = 0; i < m; i++)
            KN(gru_row_bw)(H, ws + i * W, hprev + i * Ho, dh + i * Ho, dA + i * GH,
                           dAh + i * GH);
    }
}

#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
#undef TSIGM
#undef TTANH
