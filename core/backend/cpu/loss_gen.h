/* cpu/loss_gen.h -- the cpu device's loss kernels for one floating type, included by
 * cpu/loss.c once per type (as reduce_gen.h): T the element type, S its suffix (f float32,
 * d float64), TEXP its exp.
 * The drivers in core/ops/loss.c check arguments and targets, bring every operand to T, allocate
 * and record; these loops only compute (backend.h: loss, loss_bw, nll, nll_bw,
 * ce_log_softmax, cross_entropy, cross_entropy_bw).  Sums are in double for every T. */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s

#define W_(i) (w ? (double)w[i] : 1.0)
#define PW_(i) (pw ? (double)pw[i] : 1.0)

/* the losses of n elements (all arrays contiguous, w and pw may be NULL): written to out
 * (then 0 is returned), or summed when out is NULL (four partial sums: no serial chain) */
static double KN(forward_kernel)(dm_loss_kind k, int64_t n, const T *x, const T *t,
                                 const T *w, const T *pw, double par, T *out)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#define FWD_LOOP(K) \
    if (out) { \
        for (int64_t i = 0; i < n; i++) \
            out[i] = (T)elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
    } else { \
        int64_t i = 0; \
        for (; i + 4 <= n; i += 4) { \
            s0 += elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
            s1 += elem_loss(K, x[i + 1], t[i + 1], W_(i + 1), PW_(i + 1), par); \
            s2 += elem_loss(K, x[i + 2], t[i + 2], W_(i + 2), PW_(i + 2), par); \
            s3 += elem_loss(K, x[i + 3], t[i + 3], W_(i + 3), PW_(i + 3), par); \
        } \
        for (; i < n; i++) s0 += elem_loss(K, x[i], t[i], W_(i), PW_(i), par); \
    }
    FOR_EACH_KIND(k, FWD_LOOP);
#undef FWD_LOOP
    return (s0 + s1) + (s2 + s3);
}

/* gradients of n elements into dx and/or dt (either may be NULL); the incoming gradient
 * is go[i] when go is given, else g0 for every element */
static void KN(backward_kernel)(dm_loss_kind k, int64_t n, const T *x, const T *t,
                                const T *w, const T *pw, double par, const T *go,
                                double g0, T *dx, T *dt)
{
#define BWD_LOOP(K) \
    for (int64_t i = 0; i < n; i++) { \
        double g = go ? (double)go[i] : g0; \
        if (dx) dx[i] = (T)elem_dx(K, x[i], t[i], W_(i), PW_(i), par, g); \
        if (dt) dt[i] = (T)elem_dt(K, x[i], t[i], W_(i), PW_(i), par, g); \
    }
    FOR_EACH_KIND(k, BWD_LOOP);
#undef BWD_LOOP
}

#undef W_
#undef PW_

/* a class weight (wb/ws: base and stride of a 1-D tensor of type T, NULL: 1) */
#define CW_(c) (wb ? (double)wb[(c) * ws] : 1.0)

/* nll: o[i] (none) or the sum into *sum, the summed weight into *tw */
static void KN(nll_fwd)(const T *xb, const dm_class_loss *G, int none, T *o, double *sum,
                        double *tw)
{
    const T *wb = G->wb;
    int64_t ws = G->ws;
    for (int64_t i = 0; i < G->N; i++) {
        int64_t c = G->cls[i];
        double l = 0;
        if (c >= 0) {
            double w = CW_(c);
            l = -w * xb[i * G->sn + c * G->sc];
            *tw += w;
        }
        if (none) o[i] = (T)l;
        else *sum += l;
    }
}

/* nll's gradient into d (zeroed, contiguous [N x C]); go[i] when none, else g0 */
static void KN(nll_bw)(const dm_class_loss *G, const T *go, double g0, T *d)
{
    const T *wb = G->wb;
    int64_t ws = G->ws;
    for (int64_t i = 0; i < G->N; i++) {
        int64_t c = G->cls[i];
        if (c < 0) continue;
        double g = go ? (double)go[i] : g0;
        d[i * G->C + c] = (T)(-CW_(c) * g);
    }
}

/* log_softmax of every row into lp (contiguous [N x C]).  Contiguous rows (sc = 1) take
   loops that vectorise: the exps go to the row of lp first, summed in eight double lanes. */
DM_VMATH_CLONES
static void KN(log_softmax_rows)(const T *xb, const dm_class_loss *G, T *lp)
{
    for (int64_t i = 0; i < G->N; i++) {
        const T *x = xb + i * G->sn;
        T *y = lp + i * G->C;
        T mx = -INFINITY;
        if (G->sc == 1) {                          /* eight lanes of selects: vectorises */
            T lm[8] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                        -INFINITY, -INFINITY, -INFINITY, -INFINITY };
            int64_t c = 0;
            for (; c + 8 <= G->C; c += 8)
                for (int j = 0; j < 8; j++) lm[j] = x[c + j] > lm[j] ? x[c + j] : lm[j];
            for (; c < G->C; c++) if (x[c] > mx) mx = x[c];
            for (int j = 0; j < 8; j++) if (lm[j] > mx) mx = lm[j];
        } else {
            for (int64_t c = 0; c < G->C; c++) if (x[c * G->sc] > mx) mx = x[c * G->sc];
        }
        if (mx == -INFINITY || mx != mx) mx = 0;   /* all -inf row, or NaN: no shift */
        double s = 0;
        if (G->sc == 1) {
            for (int64_t c = 0; c < G->C; c++) y[c] = TEXP(x[c] - mx);
            double lane[8] = { 0 };
            int64_t c = 0;
            for (; c + 8 <= G->C; c += 8)
                for (int j = 0; j < 8; j++) lane[j] += (double)y[c + j];
            for (; c < G->C; c++) s += (double)y[c];
            s += ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                 ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        } else {
            for (int64_t c = 0; c < G->C; c++) s += TEXP(x[c * G->sc] - mx);
        }
        T lse = (T)log(s);
        for (int64_t c = 0; c < G->C; c++) y[c] = (x[c * G->sc] - mx) - lse;
    }
}

/* cross entropy from the log-probabilities lp: o[i] (none) or the sum into *sum; *div the
   mean's divisor.  G->tb/tn/tc: probability targets (G->cls NULL), else G->cls the classes */
static void KN(ce_fwd)(const T *lp, const dm_class_loss *G, int none, T *o, double *sum,
                       double *div)
{
    const T *wb = G->wb, *tb = G->tb;
    int64_t ws = G->ws, tn = G->tn, tc = G->tc;
    double ls = G->ls;
    double C = (double)G->C;
    if (!G->cls) {
        /* loss_i = -sum_c w_c t'_ic lp_ic,  t' = t (1 - ls) + ls / C;  mean divides by N */
        for (int64_t i = 0; i < G->N; i++) {
            double l = 0;
            for (int64_t c = 0; c < G->C; c++) {
                double t = tb[i * tn + c * tc];
                if (ls > 0) t = t * (1 - ls) + ls / C;
                l -= CW_(c) * t * lp[i * G->C + c];
            }
            if (none) o[i] = (T)l;
            else *sum += l;
        }
        *div = (double)G->N;
        return;
    }
    /* loss_i = (1 - ls) w_t (-lp_it) + ls / C sum_c w_c (-lp_ic), ignored rows 0;
       mean divides both parts by the summed weight of the rows not ignored */
    double tw = 0;
    for (int64_t i = 0; i < G->N; i++) {
        int64_t t = G->cls[i];
        double l = 0;
        if (t >= 0) {
            double wt = CW_(t);
            tw += wt;
            l = -(1 - ls) * wt * lp[i * G->C + t];
            if (ls > 0) {
                double sm = 0;
                for (int64_t c = 0; c < G->C; c++) sm -= CW_(c) * lp[i * G->C + c];
                l += ls / C * sm;
            }
        }
        if (none) o[i] = (T)l;
        else *sum += l;
    }
    *div = tw;
}

/* d loss / d x_ik = p_ik S_i - a_ik, where a_ic is the coefficient of -lp_ic in the loss
 * (times the incoming gradient) and S_i = sum_c a_ic; a is scratch of C doubles */
DM_VMATH_CLONES
static void KN(ce_bw)(const T *lp, const dm_class_loss *G, const T *go, double g0, double *a,
                      T *dx, T *dt)
{
    const T *wb = G->wb, *tb = G->tb;
    int64_t ws = G->ws, tn = G->tn, tc = G->tc;
    double ls = G->ls;
    int prob = !G->cls;
    double C = (double)G->C;
    for (int64_t i = 0; i < G->N; i++) {
        double g = go ? (double)go[i] : g0;
        const T *l = lp + i * G->C;
        double S = 0;
        if (prob) {
            for (int64_t c = 0; c < G->C; c++) {
                double w = CW_(c);
                double t = tb[i * tn + c * tc];
                if (ls > 0) t = t * (1 - ls) + ls / C;
                a[c] = g * w * t;
                S += a[c];
                if (dt) dt[i * G->C + c] = (T)(-g * w * (ls > 0 ? 1 - ls : 1) * l[c]);
            }
        } else {
            int64_t t = G->cls[i];
            if (ls == 0) {
                /* one class, no smoothing: a is zero but at t, S = a_t; the same values as
                   the general form below without its C-wide scratch passes */
                if (!dx) continue;
                T *dr = dx + i * G->C;
                if (t < 0) {               /* ignored: exp(l) * 0 (NaN stays NaN) */
                    for (int64_t c = 0; c < G->C; c++) dr[c] = (T)(TEXP(l[c]) * 0.0);
                    continue;
                }
                S = g * CW_(t);
                for (int64_t c = 0; c < G->C; c++) dr[c] = (T)(TEXP(l[c]) * S);
                dr[t] = (T)(TEXP(l[t]) * S - S);
                continue;
            }
            for (int64_t c = 0; c < G->C; c++) a[c] = 0;
            if (t >= 0) {
                if (ls > 0)
                    for (int64_t c = 0; c < G->C; c++) a[c] = g * ls / C * CW_(c);
                a[t] += g * (1 - ls) * CW_(t);
                for (int64_t c = 0; c < G->C; c++) S += a[c];
            }
        }
        if (dx)
            for (int64_t c = 0; c < G->C; c++)
                dx[i * G->C + c] = (T)(TEXP(l[c]) * S - a[c]);
    }
}

#undef CW_
#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
#undef TEXP
