/* cpu/pool.c -- the pooling loops (core/ops/pool.c checks and shapes): max pool (with the
 * float32 2x2 stride-2 fast path), avg pool, the adaptive pools, max_unpool2d, and their
 * backward loops; PyTorch 1.13's CPU rules (the first maximum, a NaN wins). */
#include "internal.h"
#include "cpu.h"
#include <math.h>
#include <stdint.h>

/* x is [P x H x W], y and ix [P x OH x OW]; PyTorch's CPU rule: the first maximum, and a NaN
   wins (the last NaN) */
#define MAXPOOL_KERNEL(T, NAME)                                                                \
static void NAME(const T *x, T *y, int64_t *ix, int64_t P, int64_t H, int64_t W, int64_t OH,  \
                 int64_t OW, const int64_t *k, const int64_t *s, const int64_t *p,             \
                 const int64_t *d)                                                              \
{                                                                                               \
    for (int64_t pl = 0; pl < P; pl++) {                                                        \
        const T *xp = x + pl * H * W;                                                           \
        T *yp = y + pl * OH * OW;                                                               \
        int64_t *ip = ix + pl * OH * OW;                                                        \
        for (int64_t oh = 0; oh < OH; oh++) {                                                   \
            int64_t h0 = oh * s[0] - p[0], h1 = h0 + (k[0] - 1) * d[0] + 1;                     \
            if (h1 > H) h1 = H;                                                                 \
            while (h0 < 0) h0 += d[0];                                                          \
            for (int64_t ow = 0; ow < OW; ow++) {                                               \
                int64_t w0 = ow * s[1] - p[1], w1 = w0 + (k[1] - 1) * d[1] + 1;                 \
                if (w1 > W) w1 = W;                                                             \
                while (w0 < 0) w0 += d[1];                                                      \
                int64_t mi = h0 * W + w0;                                                       \
                T mv = -INFINITY;                                                               \
                for (int64_t h = h0; h < h1; h += d[0])                                         \
                    for (int64_t w = w0; w < w1; w += d[1]) {                                   \
                        T v = xp[h * W + w];                                                    \
                        if (v > mv || isnan(v)) { mv = v; mi = h * W + w; }                     \
                    }                                                                           \
                yp[oh * OW + ow] = mv;                                                          \
                ip[oh * OW + ow] = mi;                                                          \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}
MAXPOOL_KERNEL(float, maxpool_f32)
MAXPOOL_KERNEL(double, maxpool_f64)

/* the common 2x2 stride-2 case without padding or dilation (LeNet's), float32: the window
   always lies inside the input (floor mode).  Branch-free, four outputs at a time with SSE2
   where the compiler has it: the comparisons select (after a ReLU half the inputs are 0, and
   the branches of the general loop mispredicted about once per output).  Same rule, in the
   same order: a, b (row 0), c, e (row 1); the first maximum, a NaN wins. */
#if defined(__SSE2__)
#include <emmintrin.h>
#define SEL_PS(t, a, b) _mm_or_ps(_mm_and_ps(t, a), _mm_andnot_ps(t, b))
#define SEL_I32(t, a, b) _mm_or_si128(_mm_and_si128(t, a), _mm_andnot_si128(t, b))
#endif
static void maxpool_2x2_f32(const float *x, float *y, int64_t *ix, int64_t P, int64_t H,
                            int64_t W, int64_t OH, int64_t OW)
{
    for (int64_t pl = 0; pl < P; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * OH * OW;
        int64_t *ip = ix + pl * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
            int64_t base = 2 * oh * W, ow = 0;
#if defined(__SSE2__)
            if (W <= INT32_MAX) {
                __m128i k1 = _mm_set1_epi32(1), kW = _mm_set1_epi32((int)W);
                __m128i kW1 = _mm_set1_epi32((int)W + 1);
                for (; ow + 4 <= OW; ow += 4) {
                    __m128 p0 = _mm_loadu_ps(r0 + 2 * ow), p1 = _mm_loadu_ps(r0 + 2 * ow + 4);
                    __m128 q0 = _mm_loadu_ps(r1 + 2 * ow), q1 = _mm_loadu_ps(r1 + 2 * ow + 4);
                    __m128 a = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0));
                    __m128 b = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
                    __m128 c = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
                    __m128 e = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
                    __m128 mv = a, t;
                    __m128i k = _mm_setzero_si128();
                    t = _mm_or_ps(_mm_cmpgt_ps(b, mv), _mm_cmpunord_ps(b, b));
                    mv = SEL_PS(t, b, mv); k = SEL_I32(_mm_castps_si128(t), k1, k);
                    t = _mm_or_ps(_mm_cmpgt_ps(c, mv), _mm_cmpunord_ps(c, c));
                    mv = SEL_PS(t, c, mv); k = SEL_I32(_mm_castps_si128(t), kW, k);
                    t = _mm_or_ps(_mm_cmpgt_ps(e, mv), _mm_cmpunord_ps(e, e));
                    mv = SEL_PS(t, e, mv); k = SEL_I32(_mm_castps_si128(t), kW1, k);
                    _mm_storeu_ps(yp + oh * OW + ow, mv);
                    int32_t kk[4];
                    _mm_storeu_si128((__m128i *)kk, k);
                    for (int q = 0; q < 4; q++)
                        ip[oh * OW + ow + q] = base + 2 * (ow + q) + kk[q];
                }
            }
#endif
            for (; ow < OW; ow++) {
                float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
                float mv = a;
                int64_t mi = base + 2 * ow;
                if (b > mv || isnan(b)) { mv = b; mi = base + 2 * ow + 1; }
                if (c > mv || isnan(c)) { mv = c; mi = base + W + 2 * ow; }
                if (e > mv || isnan(e)) { mv = e; mi = base + W + 2 * ow + 1; }
                yp[oh * OW + ow] = mv;
                ip[oh * OW + ow] = mi;
            }
        }
    }
}

/* the window of output (oh, ow) clipped to the input, and its divisor (PyTorch's rule: the
   window clipped to the padded input when count_include_pad, else to the input) */
typedef struct { int64_t h0, h1, w0, w1; double div; } win;

static win avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const int32_t *k,
                      const int32_t *s, const int32_t *p, int cip, int64_t divisor)
{
    win r;
    int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
    int64_t h1 = h0 + k[0], w1 = w0 + k[1];
    if (h1 > H + p[0]) h1 = H + p[0];
    if (w1 > W + p[1]) w1 = W + p[1];
    int64_t pool = (h1 - h0) * (w1 - w0);
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > H) h1 = H;
    if (w1 > W) w1 = W;
    r.h0 = h0; r.h1 = h1; r.w0 = w0; r.w1 = w1;
    r.div = divisor ? (double)divisor : cip ? (double)pool : (double)((h1 - h0) * (w1 - w0));
    return r;
}

#define AVGPOOL_KERNEL(T, NAME)                                                                 \
static void NAME(const T *x, T *y, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,    \
                 const int32_t *k, const int32_t *s, const int32_t *p, int cip, int64_t dv)    \
{                                                                                               \
    for (int64_t pl = 0; pl < P; pl++) {                                                        \
        const T *xp = x + pl * H * W;                                                           \
        T *yp = y + pl * OH * OW;                                                               \
        for (int64_t oh = 0; oh < OH; oh++)                                                     \
            for (int64_t ow = 0; ow < OW; ow++) {                                               \
                win w = avg_window(oh, ow, H, W, k, s, p, cip, dv);                             \
                T sum = 0;                                                                      \
                for (int64_t h = w.h0; h < w.h1; h++)                                           \
                    for (int64_t c = w.w0; c < w.w1; c++) sum += xp[h * W + c];                 \
                yp[oh * OW + ow] = sum / (T)w.div;                                              \
            }                                                                                   \
    }                                                                                           \
}
AVGPOOL_KERNEL(float, avgpool_f32)
AVGPOOL_KERNEL(double, avgpool_f64)

#define AVGPOOL_BW(T, NAME)                                                                     \
static void NAME(const T *g, T *r, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,    \
                 const int32_t *k, const int32_t *s, const int32_t *p, int cip, int64_t dv)    \
{                                                                                               \
    for (int64_t i = 0; i < P * H * W; i++) r[i] = 0;                                           \
    for (int64_t pl = 0; pl < P; pl++) {                                                        \
        const T *gp = g + pl * OH * OW;                                                         \
        T *rp = r + pl * H * W;                                                                 \
        for (int64_t oh = 0; oh < OH; oh++)                                                     \
            for (int64_t ow = 0; ow < OW; ow++) {                                               \
                win w = avg_window(oh, ow, H, W, k, s, p, cip, dv);                             \
                T v = gp[oh * OW + ow] / (T)w.div;                                              \
                for (int64_t h = w.h0; h < w.h1; h++)                                           \
                    for (int64_t c = w.w0; c < w.w1; c++) rp[h * W + c] += v;                   \
            }                                                                                   \
    }                                                                                           \
}
AVGPOOL_BW(float, avgpool_bw_f32)
AVGPOOL_BW(double, avgpool_bw_f64)

static int64_t astart(int64_t o, int64_t O, int64_t I) { return (o * I) / O; }
static int64_t aend(int64_t o, int64_t O, int64_t I) { return ((o + 1) * I + O - 1) / O; }

#define ADAPTIVE_KERNEL(T, NAME)                                                                \
static void NAME(const T *x, T *y, int64_t *ix, int64_t P, int64_t H, int64_t W, int64_t OH,   \
                 int64_t OW)                                                                    \
{                                                                                               \
    for (int64_t pl = 0; pl < P; pl++) {                                                        \
        const T *xp = x + pl * H * W;                                                           \
        for (int64_t oh = 0; oh < OH; oh++) {                                                   \
            int64_t h0 = astart(oh, OH, H), h1 = aend(oh, OH, H);                               \
            for (int64_t ow = 0; ow < OW; ow++) {                                               \
                int64_t w0 = astart(ow, OW, W), w1 = aend(ow, OW, W);                           \
                int64_t o = pl * OH * OW + oh * OW + ow;                                        \
                if (ix) {                                                                       \
                    T mv = -INFINITY;                                                           \
                    int64_t mi = h0 * W + w0;                                                   \
                    for (int64_t h = h0; h < h1; h++)                                           \
                        for (int64_t w = w0; w < w1; w++) {                                     \
                            T v = xp[h * W + w];                                                \
                            if (v > mv || isnan(v)) { mv = v; mi = h * W + w; }                 \
                        }                                                                       \
                    y[o] = mv;                                                                  \
                    ix[o] = mi;                                                                 \
                } else {                                                                        \
                    T sum = 0;                                                                  \
                    for (int64_t h = h0; h < h1; h++)                                           \
                        for (int64_t w = w0; w < w1; w++) sum += xp[h * W + w];                 \
                    y[o] = sum / (T)((h1 - h0) * (w1 - w0));                                    \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}
ADAPTIVE_KERNEL(float, adaptive_f32)
ADAPTIVE_KERNEL(double, adaptive_f64)

#define ADAPTIVE_BW(T, NAME)                                                                    \
static void NAME(const T *g, T *r, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW)    \
{                                                                                               \
    for (int64_t i = 0; i < P * H * W; i++) r[i] = 0;                                           \
    for (int64_t pl = 0; pl < P; pl++)                                                          \
        for (int64_t oh = 0; oh < OH; oh++) {                                                   \
            int64_t h0 = astart(oh, OH, H), h1 = aend(oh, OH, H);                               \
            for (int64_t ow = 0; ow < OW; ow++) {                                               \
                int64_t w0 = astart(ow, OW, W), w1 = aend(ow, OW, W);                           \
                T v = g[pl * OH * OW + oh * OW + ow] / (T)((h1 - h0) * (w1 - w0));              \
                for (int64_t h = h0; h < h1; h++)                                               \
                    for (int64_t w = w0; w < w1; w++) r[pl * H * W + h * W + w] += v;           \
            }                                                                                   \
        }                                                                                       \
}
ADAPTIVE_BW(float, adaptive_bw_f32)
ADAPTIVE_BW(double, adaptive_bw_f64)

static void max_pool2d_planes(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                              int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                              const int64_t *s, const int64_t *p, const int64_t *d,
                              int ceil_mode)
{
    if (dt == DM_FLOAT64)
        maxpool_f64(x, y, ix, P, H, W, OH, OW, k, s, p, d);
    else if (k[0] == 2 && k[1] == 2 && s[0] == 2 && s[1] == 2 && !p[0] && !p[1] &&
             d[0] == 1 && d[1] == 1 && !ceil_mode)
        maxpool_2x2_f32(x, y, ix, P, H, W, OH, OW);
    else
        maxpool_f32(x, y, ix, P, H, W, OH, OW, k, s, p, d);
}

/* with dm_set_num_threads(2 or more) and enough inputs, the planes in two halves at once
   (par.c); each plane's outputs and indices are its own, so the results are the same */
#define POOL_PAR_ELEMS 65536
typedef struct {
    dm_dtype dt;
    const char *x;
    char *y;
    int64_t *ix, P0, P, H, W, OH, OW;
    const int64_t *k, *s, *p, *d;
    int ceil_mode;
} pool_job;

static int pool_part(void *arg, int part)
{
    pool_job *j = arg;
    int64_t p0 = part ? j->P0 : 0, np = part ? j->P - j->P0 : j->P0;
    size_t es = dm_dtype_size(j->dt);
    int64_t in = j->H * j->W, out = j->OH * j->OW;
    max_pool2d_planes(j->dt, j->x + (size_t)(p0 * in) * es, j->y + (size_t)(p0 * out) * es,
                      j->ix + p0 * out, np, j->H, j->W, j->OH, j->OW, j->k, j->s, j->p, j->d,
                      j->ceil_mode);
    return 0;
}

void dm__cpu_max_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                        int64_t H, int64_t W, int64_t OH, int64_t OW, const int64_t *k,
                        const int64_t *s, const int64_t *p, const int64_t *d, int ceil_mode)
{
    if (P >= 2 && P * H * W >= POOL_PAR_ELEMS && dm__cpu_par_on()) {
        pool_job j = { dt, x, y, ix, P / 2, P, H, W, OH, OW, k, s, p, d, ceil_mode };
        dm__cpu_par2(pool_part, &j);
        return;
    }
    max_pool2d_planes(dt, x, y, ix, P, H, W, OH, OW, k, s, p, d, ceil_mode);
}

void dm__cpu_max_pool2d_bw(dm_dtype dt, const void *g, const int64_t *ix, void *r, int64_t P,
                           int64_t HW, int64_t OHW)
{
    int64_t rn = P * HW;
    if (dt == DM_FLOAT64) {
        const double *s = g; double *o = r;
        for (int64_t i = 0; i < rn; i++) o[i] = 0;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < OHW; i++) o[pl * HW + ix[pl * OHW + i]] += s[pl * OHW + i];
    } else {
        const float *s = g; float *o = r;
        for (int64_t i = 0; i < rn; i++) o[i] = 0;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < OHW; i++) o[pl * HW + ix[pl * OHW + i]] += s[pl * OHW + i];
    }
}

void dm__cpu_avg_pool2d(dm_dtype dt, const void *x, void *y, int64_t P, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, const int32_t *k, const int32_t *s,
                        const int32_t *p, int cip, int64_t divisor)
{
    if (dt == DM_FLOAT64) avgpool_f64(x, y, P, H, W, OH, OW, k, s, p, cip, divisor);
    else avgpool_f32(x, y, P, H, W, OH, OW, k, s, p, cip, divisor);
}

void dm__cpu_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                           int64_t W, int64_t OH, int64_t OW, const int32_t *k,
                           const int32_t *s, const int32_t *p, int cip, int64_t divisor)
{
    if (dt == DM_FLOAT64) avgpool_bw_f64(g, r, P, H, W, OH, OW, k, s, p, cip, divisor);
    else avgpool_bw_f32(g, r, P, H, W, OH, OW, k, s, p, cip, divisor);
}

void dm__cpu_adaptive_pool2d(dm_dtype dt, const void *x, void *y, int64_t *ix, int64_t P,
                             int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    if (dt == DM_FLOAT64) adaptive_f64(x, y, ix, P, H, W, OH, OW);
    else adaptive_f32(x, y, ix, P, H, W, OH, OW);
}

void dm__cpu_adaptive_avg_pool2d_bw(dm_dtype dt, const void *g, void *r, int64_t P, int64_t H,
                                    int64_t W, int64_t OH, int64_t OW)
{
    if (dt == DM_FLOAT64) adaptive_bw_f64(g, r, P, H, W, OH, OW);
    else adaptive_bw_f32(g, r, P, H, W, OH, OW);
}

void dm__cpu_max_unpool2d(dm_dtype dt, const void *x, const int64_t *ip, void *y, int64_t P,
                          int64_t HW, int64_t OHW)
{
    if (dt == DM_FLOAT64) {
        const double *s = x; double *o = y;
        for (int64_t i = 0; i < P * OHW; i++) o[i] = 0;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < HW; i++) o[pl * OHW + ip[pl * HW + i]] = s[pl * HW + i];
    } else {
        const float *s = x; float *o = y;
        for (int64_t i = 0; i < P * OHW; i++) o[i] = 0;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < HW; i++) o[pl * OHW + ip[pl * HW + i]] = s[pl * HW + i];
    }
}

void dm__cpu_max_unpool2d_bw(dm_dtype dt, const void *g, const int64_t *ip, void *r,
                             int64_t P, int64_t HW, int64_t OHW)
{
    if (dt == DM_FLOAT64) {
        const double *s = g; double *o = r;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < HW; i++) o[pl * HW + i] = s[pl * OHW + ip[pl * HW + i]];
    } else {
        const float *s = g; float *o = r;
        for (int64_t pl = 0; pl < P; pl++)
            for (int64_t i = 0; i < HW; i++) o[pl * HW + i] = s[pl * OHW + ip[pl * HW + i]];
    }
}
