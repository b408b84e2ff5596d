/* nn_gen.h -- dropout and batch norm kernels for one floating type, included by cpu/nn.c
 * once per type (as reduce_gen.h): T the element type, S its suffix (f float32, d float64).
 * The drivers in core/ops/nn.c check arguments, allocate and record; these loops only compute,
 * with statistics in double for every T. */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s
/* element i of a 1-D tensor of type T (any stride) */
#define AT1(t, i) ((T *)(t)->storage->data + (t)->offset + (i) * (t)->stride[0])

#ifndef DM_DROPOUT_LANES
#define DM_DROPOUT_LANES
/* as DM_AVX_CLONES (backend/loops.h): not under ThreadSanitizer */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
#define DM_DROPOUT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DM_DROPOUT_CLONES
#endif
/* The uniform draws of dropout's mask, the same stream as n calls of dm__draw_uniform (two
   PCG32 outputs an element): one generator's steps are a chain of dependent multiplies, so
   eight copies run interleaved, each jumping eight steps ahead (state' = A8 state + C8), as
   two vectors of four (GCC's vector extensions: AVX2 in that clone), and g is left where
   the serial calls would leave it.  u = v 2^-53 with v = (hi >> 5) 2^26 + (lo >> 6) an
   integer below 2^53, so u < q exactly when v < ceil(q 2^53) (scaling by 2^53 is exact). */
typedef uint64_t dm__u64x4 __attribute__((vector_size(32)));
typedef uint32_t dm__u32x4 __attribute__((vector_size(16)));

static inline dm__u32x4 dm__pcg_out4(dm__u64x4 old)
{
    dm__u32x4 x = __builtin_convertvector(((old >> 18) ^ old) >> 27, dm__u32x4);
    dm__u32x4 rot = __builtin_convertvector(old >> 59, dm__u32x4);
    return (x >> rot) | (x << ((32u - rot) & 31u));
}

/* the first n4 (a multiple of 4) keep flags, 1 where the uniform is below q */
DM_DROPOUT_CLONES static void dm__dropout_keep(dm_rng *g, int64_t n4, double q,
                                               unsigned char *keep)
{
    uint64_t thr = (uint64_t)ceil(q * 0x1.0p53);
    uint64_t s[8], a8 = 1, c8 = 0;
    s[0] = g->state;
    for (int k = 1; k < 8; k++) s[k] = s[k - 1] * DM_PCG_MULT + DM_PCG_INC;
    for (int k = 0; k < 8; k++) { a8 *= DM_PCG_MULT; c8 = c8 * DM_PCG_MULT + DM_PCG_INC; }
    dm__u64x4 sa = { s[0], s[1], s[2], s[3] }, sb = { s[4], s[5], s[6], s[7] };
    for (int64_t i = 0; i < n4; i += 4) {
        dm__u32x4 oa = dm__pcg_out4(sa), ob = dm__pcg_out4(sb);
        keep[i] = ((uint64_t)(oa[0] >> 5) << 26 | (oa[1] >> 6)) < thr;
        keep[i + 1] = ((uint64_t)(oa[2] >> 5) << 26 | (oa[3] >> 6)) < thr;
        keep[i + 2] = ((uint64_t)(ob[0] >> 5) << 26 | (ob[1] >> 6)) < thr;
        keep[i + 3] = ((uint64_t)(ob[2] >> 5) << 26 | (ob[3] >> 6)) < thr;
        sa = sa * a8 + c8;
        sb = sb * a8 + c8;
    }
    g->state = sa[0];
}
#endif

/* m = the mask (0 or 1 / (1 - p)), o = x * m; n elements, x any strides */
static void KN(dropout_fwd)(const dm_tensor *x, int64_t n, double p, dm_rng *g, T *m, T *o)
{
    /* PyTorch: noise.bernoulli_(1 - p); noise.div_(1 - p); input * noise (all in T) */
    double q = 1 - p;
    T scale = p == 1 ? (T)0 : (T)1 / (T)q;
    if (p == 1) {
        for (int64_t i = 0; i < n; i++) m[i] = (T)0;
    } else {
        /* blocks of 4096 keep flags through the interleaved generators, the tail serially */
        unsigned char keep[4096];
        int64_t i = 0;
        for (; i + 4 <= n; ) {
            int64_t k = n - i < 4096 ? (n - i) & ~(int64_t)3 : 4096;
            dm__dropout_keep(g, k, q, keep);
            for (int64_t j = 0; j < k; j++) m[i + j] = keep[j] ? scale : (T)0;
            i += k;
        }
        for (; i < n; i++) m[i] = dm__draw_uniform(g) < q ? scale : (T)0;
    }
    const T *base = x->storage->data;
    if (dm__is_contig(x)) {
        const T *xd = base + x->offset;
        for (int64_t i = 0; i < n; i++) o[i] = xd[i] * m[i];
    } else {
        DM_WALK_EACH(x, i, off, o[i] = base[off] * m[i];);
    }
}

static void KN(dropout_bw)(const T *g, const T *m, T *d, int64_t k)
{
    for (int64_t i = 0; i < k; i++) d[i] = g[i] * m[i];
}

// x is [N x C x L]; mean and inv (C doubles each, zeroed) receive the statistics used,
// sm and si their T copies (saved for backward), o the output
static void KN(bn_fwd)(const T *xd, int64_t N, int64_t C, int64_t L, int training,
                       double momentum, double eps, dm_tensor *running_mean,
                       dm_tensor *running_var, const dm_tensor *weight, const dm_tensor *bias,
                       double *mean, double *inv, T *o, T *sm, T *si)
{
    int64_t cnt = N * L;                  /* values per channel */
    if (training) {
        /* two passes in row-major order: mean, then the sum of squared deviations */
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                const T *v = xd + (i * C + c) * L;
                double s = 0;
                for (int64_t l = 0; l < L; l++) s += v[l];
                mean[c] += s;
            }
        for (int64_t c = 0; c < C; c++) mean[c] /= (double)cnt;
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                const T *v = xd + (i * C + c) * L;
                double s = 0, m = mean[c];
                for (int64_t l = 0; l < L; l++) s += (v[l] - m) * (v[l] - m);
                inv[c] += s;                      /* var_sum for now */
            }
        for (int64_t c = 0; c < C; c++) {
            double var_sum = inv[c];
            inv[c] = 1 / sqrt(var_sum / (double)cnt + eps);
            if (running_mean) {
                T *rm = AT1(running_mean, c);
                *rm = (T)(momentum * mean[c] + (1 - momentum) * *rm);
            }
            if (running_var) {
                T *rv = AT1(running_var, c);
                *rv = (T)(momentum * (var_sum / (double)(cnt - 1)) + (1 - momentum) * *rv);
            }
        }
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = *AT1(running_mean, c);
            inv[c] = 1 / sqrt((double)*AT1(running_var, c) + eps);
        }
    }

    /* y = (x - mean) invstd w + b  =  x alpha + beta */
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            double w = weight ? *AT1(weight, c) : 1, bb = bias ? *AT1(bias, c) : 0;
            double alpha = inv[c] * w, beta = bb - mean[c] * alpha;
            const T *v = xd + (i * C + c) * L;
            T *y = o + (i * C + c) * L;
            for (int64_t l = 0; l < L; l++) y[l] = (T)(v[l] * alpha + beta);
        }
    for (int64_t c = 0; c < C; c++) { sm[c] = (T)mean[c]; si[c] = (T)inv[c]; }
}

/* training:  dx = (g - mean(g) - xhat mean(g xhat)) invstd w   (the batch stats depend on x)
 * eval:      dx = g invstd w
 * both:      dw = sum(g xhat), db = sum(g)
 * gsum and dotp: C doubles each, zeroed; gx, gw, gb may be NULL */
static void KN(bn_bw)(const T *xd, const T *g, const T *sm, const T *si, int64_t N, int64_t C,
                      int64_t L, int training, const dm_tensor *weight, double *gsum,
                      double *dotp, T *gx, T *gw, T *gb)
{
    double cnt = (double)(N * L);
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            const T *v = xd + (i * C + c) * L, *gv = g + (i * C + c) * L;
            double s = 0, d = 0, m = sm[c];
            for (int64_t l = 0; l < L; l++) { s += gv[l]; d += (v[l] - m) * gv[l]; }
            gsum[c] += s;
            dotp[c] += d;
        }
    if (gx) {
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++) {
                double w = weight ? *AT1(weight, c) : 1, inv = si[c], m = sm[c];
                const T *v = xd + (i * C + c) * L, *gv = g + (i * C + c) * L;
                T *dv = gx + (i * C + c) * L;
                if (training) {
                    double k = dotp[c] * inv * inv / cnt, gm = gsum[c] / cnt;
                    for (int64_t l = 0; l < L; l++)
                        dv[l] = (T)((gv[l] - gm - (v[l] - m) * k) * inv * w);
                } else {
                    for (int64_t l = 0; l < L; l++) dv[l] = (T)(gv[l] * inv * w);
                }
            }
    }
    for (int64_t c = 0; c < C; c++) {
        if (gw) gw[c] = (T)(dotp[c] * si[c]);
        if (gb) gb[c] = (T)gsum[c];
    }
}

#undef AT1
#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
