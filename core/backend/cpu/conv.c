/* cpu/conv.c -- the convolutions' loops (core/ops/conv.c checks, shapes, records the node and
 * calls these through the table).  Both sides of a convolution are named by their geometry
 * (dm_conv_geom, backend.h): the "big" side is the convolution's input [Cb x Hb x Wb] (x for
 * conv2d, the output for conv_transpose2d), the "small" side its output [R x Hs x Ws]; w is
 * [R x Cb/G x kh x kw] in both cases.  Three primitives serve the forward and backward of both
 * ops, each an im2col/col2im and this device's gemm:
 *   small = W @ im2col(big)           conv forward, transposed conv's grad input
 *   big   = col2im(W^T @ small)       conv's grad input, transposed conv forward
 *   gw   += small @ im2col(big)^T     both ops' grad weight
 * The fast path takes as many whole images as fit in 2 MB at once (at least one, up to 8 MB):
 * their columns side by side [Cb*kh*kw x nb*L] and the small side gathered to [R x nb*L], so
 * each primitive is one gemm per group over nb images (long rows for BLAS instead of nb thin
 * products), with the im2col/col2im rows as contiguous runs (stride 1) and the bias added in
 * the scatter.  A geometry whose one image needs more than 8 MB takes the chunked path: one
 * image at a time and a chunk of its output rows, its im2col workspace holding the columns of
 * that chunk (at most 8 MB unless one row needs more).  Both share one per-thread workspace,
 * grown to the largest request and kept between calls: no allocation per call once warm.
 * A float32 convolution with at most 8 output channels (forward and weight gradient) is
 * computed directly, without im2col or gemm (direct_f32 and direct_wgrad_f32 below: LeNet's
 * first layer).  The naive double loops of cpu:ref are ref/conv.c. */
#ifdef DM_CONV_PROFILE          /* (clock_gettime for the timers below) */
#define _POSIX_C_SOURCE 200809L
#endif
#pragma GCC optimize("O3")      /* vectorize the copy loops (no fast-math: results unchanged) */
#include "internal.h"
#include "cpu.h"
#include "loops.h"
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>

typedef dm_conv_geom geom;

/* the per-thread workspace: grows to the largest request, kept for the next call, freed when
   its thread exits (a key's destructor holds it) */
static DM_TLS void *ws_buf;
static DM_TLS size_t ws_cap;
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_keyed;

static void ws_key_make(void) { ws_keyed = pthread_key_create(&ws_key, free) == 0; }

static void *workspace(size_t bytes)
{
    if (bytes <= ws_cap) return ws_buf;
    void *p = realloc(ws_buf, bytes);
    if (!p) { dm_seterr("conv: out of memory (%zu bytes of workspace)", bytes); return NULL; }
    ws_buf = p;
    ws_cap = bytes;
    pthread_once(&ws_once, ws_key_make);
    if (ws_keyed) pthread_setspecific(ws_key, p);
    return p;
}

/* cols [Cb*kh*kw x nr*Ws] from one image [Cb x Hb x Wb] for the output rows r0 .. r0+nr-1
   (zeros outside the image); col2im adds them back */
#define DEF_IM2COL(name, T)                                                                   \
static void name##_im2col(const geom *g, const T *img, T *cols, int64_t r0, int64_t nr)       \
{                                                                                             \
    int64_t L = nr * g->Ws;                                                                   \
    for (int64_t c = 0; c < g->Cb; c++)                                                       \
        for (int64_t ki = 0; ki < g->kh; ki++)                                                \
            for (int64_t kj = 0; kj < g->kw; kj++) {                                          \
                T *row = cols + ((c * g->kh + ki) * g->kw + kj) * L;                          \
                const T *plane = img + c * g->Hb * g->Wb;                                     \
                for (int64_t oi = 0; oi < nr; oi++) {                                         \
                    int64_t i = (r0 + oi) * g->sh - g->ph + ki * g->dh;                       \
                    T *r = row + oi * g->Ws;                                                  \
                    if (i < 0 || i >= g->Hb) {                                                \
                        for (int64_t oj = 0; oj < g->Ws; oj++) r[oj] = 0;                     \
                        continue;                                                             \
                    }                                                                         \
                    const T *src = plane + i * g->Wb;                                         \
                    for (int64_t oj = 0; oj < g->Ws; oj++) {                                  \
                        int64_t j = oj * g->sw - g->pw + kj * g->dw;                          \
                        r[oj] = j >= 0 && j < g->Wb ? src[j] : 0;                             \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
}                                                                                             \
static void name##_col2im(const geom *g, const T *cols, T *img, int64_t r0, int64_t nr)       \
{                                                                                             \
    int64_t L = nr * g->Ws;                                                                   \
    for (int64_t c = 0; c < g->Cb; c++)                                                       \
        for (int64_t ki = 0; ki < g->kh; ki++)                                                \
            for (int64_t kj = 0; kj < g->kw; kj++) {                                          \
                const T *row = cols + ((c * g->kh + ki) * g->kw + kj) * L;                    \
                T *plane = img + c * g->Hb * g->Wb;                                           \
                for (int64_t oi = 0; oi < nr; oi++) {                                         \
                    int64_t i = (r0 + oi) * g->sh - g->ph + ki * g->dh;                       \
                    if (i < 0 || i >= g->Hb) continue;                                        \
                    const T *r = row + oi * g->Ws;                                            \
                    T *dst = plane + i * g->Wb;                                               \
                    for (int64_t oj = 0; oj < g->Ws; oj++) {                                  \
                        int64_t j = oj * g->sw - g->pw + kj * g->dw;                          \
                        if (j >= 0 && j < g->Wb) dst[j] += r[oj];                             \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
}
DEF_IM2COL(f32, float)
DEF_IM2COL(f64, double)

static void gemm_dt(dm_dtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                    const void *a, int64_t lda, const void *b, int64_t ldb, int acc,
                    void *c, int64_t ldc)
{
    const dm_kernels *K = &dm__cpu_kernels;     /* this device's products */
    if (m == 0 || n == 0) return;
    if (dt == DM_FLOAT32)
        K->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, acc ? 1.0f : 0.0f, c, ldc);
    else
        K->dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, acc ? 1.0 : 0.0, c, ldc);
}

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

static void im2col_dt(dm_dtype dt, const geom *g, const void *img, void *cols, int64_t r0,
                      int64_t nr)
{
    if (dt == DM_FLOAT32) f32_im2col(g, img, cols, r0, nr); else f64_im2col(g, img, cols, r0, nr);
}
static void col2im_dt(dm_dtype dt, const geom *g, const void *cols, void *img, int64_t r0,
                      int64_t nr)
{
    if (dt == DM_FLOAT32) f32_col2im(g, cols, img, r0, nr); else f64_col2im(g, cols, img, r0, nr);
}

/* the workspace bound: the output rows of one chunk are as many as fit in it (at least one) */
#define WS_BYTES ((int64_t)8 << 20)
static int64_t chunk_rows(const geom *g, size_t es)
{
    int64_t row = g->Cb * g->kh * g->kw * g->Ws * (int64_t)es;
    int64_t nr = row > 0 ? WS_BYTES / row : g->Hs;
    return nr < 1 ? 1 : nr > g->Hs ? g->Hs : nr;
}

#define AT(p, i, es) ((char *)(p) + (i) * (int64_t)(es))

/* small [N x R x Hs x Ws] = W @ im2col(big [N x Cb x Hb x Wb]), all contiguous */
static int big_to_small(dm_dtype dt, const geom *g, const void *big, const void *w, void *small)
{
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, Kg = g->Cb / g->G * g->kh * g->kw, Rg = g->R / g->G;
    int64_t NR = chunk_rows(g, es);
    void *cols = workspace((size_t)max1(Kg * g->G * NR * g->Ws) * es);
    if (!cols) return -1;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r0 = 0; r0 < g->Hs; r0 += NR) {
            int64_t nr = g->Hs - r0 < NR ? g->Hs - r0 : NR, lc = nr * g->Ws;
            im2col_dt(dt, g, AT(big, n * g->Cb * g->Hb * g->Wb, es), cols, r0, nr);
            for (int64_t gr = 0; gr < g->G; gr++)
                gemm_dt(dt, 0, 0, Rg, lc, Kg, AT(w, gr * Rg * Kg, es), max1(Kg),
                        AT(cols, gr * Kg * lc, es), max1(lc), 0,
                        AT(small, (n * g->R + gr * Rg) * L + r0 * g->Ws, es), max1(L));
        }
    return 0;
}

/* big = col2im(W^T @ small), big written (zeroed first) */
static int small_to_big(dm_dtype dt, const geom *g, const void *small, const void *w, void *big)
{
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, Kg = g->Cb / g->G * g->kh * g->kw, Rg = g->R / g->G;
    int64_t B = g->Cb * g->Hb * g->Wb;
    int64_t NR = chunk_rows(g, es);
    void *cols = workspace((size_t)max1(Kg * g->G * NR * g->Ws) * es);
    if (!cols) return -1;
    memset(big, 0, (size_t)(g->N * B) * es);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r0 = 0; r0 < g->Hs; r0 += NR) {
            int64_t nr = g->Hs - r0 < NR ? g->Hs - r0 : NR, lc = nr * g->Ws;
            for (int64_t gr = 0; gr < g->G; gr++)
                gemm_dt(dt, 1, 0, Kg, lc, Rg, AT(w, gr * Rg * Kg, es), max1(Kg),
                        AT(small, (n * g->R + gr * Rg) * L + r0 * g->Ws, es), max1(L), 0,
                        AT(cols, gr * Kg * lc, es), max1(lc));
            col2im_dt(dt, g, cols, AT(big, n * B, es), r0, nr);
        }
    return 0;
}

/* gw [R x Kg] (+)= small @ im2col(big)^T, summed over the batch */
static int weight_grad(dm_dtype dt, const geom *g, const void *big, const void *small, int acc,
                       void *gw)
{
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, Kg = g->Cb / g->G * g->kh * g->kw, Rg = g->R / g->G;
    int64_t NR = chunk_rows(g, es);
    void *cols = workspace((size_t)max1(Kg * g->G * NR * g->Ws) * es);
    if (!cols) return -1;
    if (!acc) memset(gw, 0, (size_t)(g->R * Kg) * es);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r0 = 0; r0 < g->Hs; r0 += NR) {
            int64_t nr = g->Hs - r0 < NR ? g->Hs - r0 : NR, lc = nr * g->Ws;
            im2col_dt(dt, g, AT(big, n * g->Cb * g->Hb * g->Wb, es), cols, r0, nr);
            for (int64_t gr = 0; gr < g->G; gr++)
                gemm_dt(dt, 0, 1, Rg, Kg, lc, AT(small, (n * g->R + gr * Rg) * L + r0 * g->Ws,
                        es), max1(L), AT(cols, gr * Kg * lc, es), max1(lc), 1,
                        AT(gw, gr * Rg * Kg, es), max1(Kg));
        }
    return 0;
}

/* Timers for BENCHMARKS.md's breakdown, compiled in only with -DDM_CONV_PROFILE (never in a
   normal build: no cost on the hot path), in the calling thread's CPU time (run with one
   thread).  Totals by part go to stderr at exit. */
#ifdef DM_CONV_PROFILE
#include <stdlib.h>
#include <time.h>
static double prof_t[9];
static long prof_n[9];
static const char *prof_name[9] = { "im2col", "conv gemm", "col2im", "scatter/gather",
                                     "maxpool fwd", "maxpool bw", "conv fwd total",
                                     "conv bw total", "direct conv" };
double dm__prof_now(void);
void dm__prof_add(int k, double t);
double dm__prof_now(void)
{
    struct timespec ts;              /* the thread's CPU time: the machine is shared */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static void prof_dump(void)
{
    for (int k = 0; k < 9; k++)
        fprintf(stderr, "prof %-16s %10.3f ms %8ld calls\n", prof_name[k], prof_t[k] * 1e3,
                prof_n[k]);
}
void dm__prof_add(int k, double t)
{
    static int reg;
    if (!reg) { reg = 1; atexit(prof_dump); }
    prof_t[k] += t;
    prof_n[k]++;
}
#define PROF(k, ...) do { double t0_ = dm__prof_now(); __VA_ARGS__; \
                          dm__prof_add(k, dm__prof_now() - t0_); } while (0)
#else
#define PROF(k, ...) do { __VA_ARGS__; } while (0)
#endif

/* ---- the fast path ----------------------------------------------------------------------
 * cols [Cb*kh*kw x ld]: image img's columns at cols + col0 (L = Hs*Ws of them); a row of
 * output positions reads a contiguous run of the input row between lo and hi (zeros outside)
 * when the stride is 1, and a strided one otherwise. */
static inline void out_range(const geom *g, int64_t kj, int64_t *lo, int64_t *hi)
{
    int64_t off = kj * g->dw - g->pw;     /* j = oj * sw + off */
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->Wb - off <= 0 ? 0 : (g->Wb - off + g->sw - 1) / g->sw;  /* first oj past */
    if (a > g->Ws) a = g->Ws;
    if (b > g->Ws) b = g->Ws;
    if (b < a) b = a;
    *lo = a; *hi = b;
}

/* dst[0 .. n) = src[0 .. n): the rows of im2col are short (10 to 30 elements in LeNet), and a
   loop's or memcpy's handling of the tail cost more than the copy: 8-element blocks (one AVX
   register in the AVX clones of the callers below), else 4-element ones, the last block
   overlapping the one before (a copy, so writing an element twice is harmless) */
#define DM_NOINLINE __attribute__((noinline))    /* (each its own symbol in a profile) */
typedef float v8f_c __attribute__((vector_size(32)));
typedef float v4f_c __attribute__((vector_size(16)));
#define COPY_BLOCKS(V, W) do {                                                                \
        int64_t i_ = 0;                                                                       \
        for (; i_ + (W) < n; i_ += (W)) {                                                     \
            V v_;                                                                             \
            memcpy(&v_, src + i_, sizeof v_);                                                 \
            memcpy(dst + i_, &v_, sizeof v_);                                                 \
        }                                                                                     \
        V v_;                                                                                 \
        memcpy(&v_, src + n - (W), sizeof v_);                                                \
        memcpy(dst + n - (W), &v_, sizeof v_);                                                \
    } while (0)
static inline void f32_copy_run(float *dst, const float *src, int64_t n)
{
    if (n >= 8) COPY_BLOCKS(v8f_c, 8);
    else if (n >= 4) COPY_BLOCKS(v4f_c, 4);
    else for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}
static inline void f64_copy_run(double *dst, const double *src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *dst);
}

#define DEF_FAST(name, T)                                                                     \
static DM_AVX_CLONES DM_NOINLINE void name##_im2col_fast(const geom *g, const T *img, T *cols,\
                                                         int64_t ld)                          \
{                                                                                             \
    for (int64_t c = 0; c < g->Cb; c++)                                                       \
        for (int64_t ki = 0; ki < g->kh; ki++)                                                \
            for (int64_t kj = 0; kj < g->kw; kj++) {                                          \
                T *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;                         \
                const T *plane = img + c * g->Hb * g->Wb;                                     \
                int64_t lo, hi, off = kj * g->dw - g->pw, sw = g->sw, Ws = g->Ws;             \
                out_range(g, kj, &lo, &hi);                                                   \
                for (int64_t oi = 0; oi < g->Hs; oi++) {                                      \
                    int64_t i = oi * g->sh - g->ph + ki * g->dh;                              \
                    T *r = row + oi * Ws;                                                     \
                    if (i < 0 || i >= g->Hb) {                                                \
                        for (int64_t oj = 0; oj < Ws; oj++) r[oj] = 0;                        \
                        continue;                                                             \
                    }                                                                         \
                    const T *src = plane + i * g->Wb + off;                                   \
                    if (lo) memset(r, 0, (size_t)lo * sizeof(T));                             \
                    if (sw == 1)                                                              \
                        name##_copy_run(r + lo, src + lo, hi - lo);                           \
                    else                                                                      \
                        for (int64_t oj = lo; oj < hi; oj++) r[oj] = src[oj * sw];            \
                    if (hi < Ws) memset(r + hi, 0, (size_t)(Ws - hi) * sizeof(T));            \
                }                                                                             \
            }                                                                                 \
}                                                                                             \
static DM_AVX_CLONES DM_NOINLINE void name##_col2im_fast(const geom *g, const T *cols, T *img,\
                                                         int64_t ld)                          \
{                                                                                             \
    for (int64_t c = 0; c < g->Cb; c++)                                                       \
        for (int64_t ki = 0; ki < g->kh; ki++)                                                \
            for (int64_t kj = 0; kj < g->kw; kj++) {                                          \
                const T *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;                   \
                T *plane = img + c * g->Hb * g->Wb;                                           \
                int64_t lo, hi, off = kj * g->dw - g->pw, sw = g->sw, Ws = g->Ws;             \
                out_range(g, kj, &lo, &hi);                                                   \
                for (int64_t oi = 0; oi < g->Hs; oi++) {                                      \
                    int64_t i = oi * g->sh - g->ph + ki * g->dh;                              \
                    if (i < 0 || i >= g->Hb) continue;                                        \
                    const T *r = row + oi * Ws;                                               \
                    T *dst = plane + i * g->Wb + off;                                         \
                    if (sw == 1)                                                              \
                        for (int64_t oj = lo; oj < hi; oj++) dst[oj] += r[oj];                \
                    else                                                                      \
                        for (int64_t oj = lo; oj < hi; oj++) dst[oj * sw] += r[oj];           \
                }                                                                             \
            }                                                                                 \
}                                                                                             \
/* small [N x R x L] images n0 .. n0+nb-1 <-> buf [R x nb*L]; the scatter adds bias[r] */     \
static DM_AVX_CLONES DM_NOINLINE void name##_scatter(const T *buf, T *small, const T *bias,   \
                                                     int64_t R, int64_t L, int64_t nb)        \
{                                                                                             \
    for (int64_t r = 0; r < R; r++)                                                           \
        for (int64_t i = 0; i < nb; i++) {                                                    \
            const T *s = buf + (r * nb + i) * L;                                              \
            T *d = small + (i * R + r) * L, b = bias ? bias[r] : 0;                           \
            if (bias) for (int64_t l = 0; l < L; l++) d[l] = s[l] + b;                        \
            else for (int64_t l = 0; l < L; l++) d[l] = s[l];                                 \
        }                                                                                     \
}                                                                                             \
static DM_AVX_CLONES DM_NOINLINE void name##_gather(const T *small, T *buf, int64_t R,        \
                                                    int64_t L, int64_t nb)                    \
{                                                                                             \
    for (int64_t r = 0; r < R; r++)                                                           \
        for (int64_t i = 0; i < nb; i++)                                                      \
            memcpy(buf + (r * nb + i) * L, small + (i * R + r) * L, (size_t)L * sizeof(T));   \
}
DEF_FAST(f32, float)
DEF_FAST(f64, double)

/* images per chunk of the fast path: as many as fit in FAST_BYTES (2 MB: the columns stay in
   cache between im2col and the gemm; 8 MB chunks measured no faster) with their columns and
   their gathered small side, balanced over the chunks; 0 when one image needs more than
   WS_BYTES (the reference path then runs, by row chunks) */
#define FAST_BYTES ((int64_t)2 << 20)
static int64_t fast_images(const geom *g, size_t es)
{
    int64_t per = (g->Cb * g->kh * g->kw + g->R) * g->Hs * g->Ws * (int64_t)es;
    if (per <= 0 || per > WS_BYTES || g->N < 1) return 0;
    int64_t most = FAST_BYTES / per > 0 ? FAST_BYTES / per : 1;
    int64_t chunks = (g->N + most - 1) / most;
    return (g->N + chunks - 1) / chunks;
}

#define IM2COL_FAST(dt, g, img, cols, ld)                                                     \
    ((dt) == DM_FLOAT32 ? f32_im2col_fast(g, (const float *)(img), (float *)(cols), ld)       \
                        : f64_im2col_fast(g, (const double *)(img), (double *)(cols), ld))
#define COL2IM_FAST(dt, g, cols, img, ld)                                                     \
    ((dt) == DM_FLOAT32 ? f32_col2im_fast(g, (const float *)(cols), (float *)(img), ld)       \
                        : f64_col2im_fast(g, (const double *)(cols), (double *)(img), ld))
#define GATHER(dt, s, b, R, L, nb)                                                            \
    ((dt) == DM_FLOAT32 ? f32_gather((const float *)(s), (float *)(b), R, L, nb)              \
                        : f64_gather((const double *)(s), (double *)(b), R, L, nb))

/* ---- direct convolution for few output channels -----------------------------------------
 * A convolution with at most 8 output channels and a short kernel (LeNet's first: 6 channels,
 * 1 x 5 x 5) is a thin product (M = R <= 8) that BLAS runs far below its peak, after an
 * im2col that writes kh*kw times the input.  Computed directly instead (float32, stride 1,
 * dilation 1, one group, rows of at least 8 outputs): each image is copied once into a
 * zero-padded plane, and each block of 8 outputs of a row accumulates all R channels at once
 * in 8 vectors (AVX: one register each), tap by tap, the weights transposed to [K x 8]
 * (zeros past R).  The last block of a row overlaps the one before when Ws is not a multiple
 * of 8 (its outputs are computed twice, identically). */
static int direct_ok(dm_dtype dt, const geom *g)
{
    int64_t K = g->Cb * g->kh * g->kw;
    return dt == DM_FLOAT32 && g->G == 1 && g->R <= 8 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->Ws >= 8 && K <= 64 &&
           g->Cb * (g->Hb + 2 * g->ph) * (g->Wb + 2 * g->pw) * 4 <= WS_BYTES;
}

static DM_AVX_CLONES DM_NOINLINE void direct_f32(const geom *g, const float *pad,
                                                 const float *wt, const float *bias, float *y)
{
    int64_t Hp = g->Hb + 2 * g->ph, Wp = g->Wb + 2 * g->pw, Ws = g->Ws, L = g->Hs * Ws;
    int64_t R = g->R, kh = g->kh, kw = g->kw;
    for (int64_t oi = 0; oi < g->Hs; oi++)
        for (int64_t oj = 0; oj < Ws; oj += 8) {
            int64_t o = oj + 8 <= Ws ? oj : Ws - 8;
            v8f_c acc[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) acc[q] = (v8f_c){ 0 };
            for (int64_t c = 0; c < g->Cb; c++)
                for (int64_t ki = 0; ki < kh; ki++) {
                    const float *xr = pad + (c * Hp + oi + ki) * Wp + o;
                    const float *wk = wt + (c * kh + ki) * kw * 8;
                    for (int64_t kj = 0; kj < kw; kj++) {
                        v8f_c xv;
                        memcpy(&xv, xr + kj, sizeof xv);
#pragma GCC unroll 8
                        for (int q = 0; q < 8; q++) acc[q] += wk[kj * 8 + q] * xv;
                    }
                }
            for (int64_t q = 0; q < R; q++) {
                float b = bias ? bias[q] : 0;
                v8f_c v = acc[q] + b;
                memcpy(y + q * L + oi * Ws + o, &v, sizeof v);
            }
        }
}

static int direct_big_to_small(const geom *g, const float *big, const float *w,
                               const float *bias, float *small)
{
    int64_t Hp = g->Hb + 2 * g->ph, Wp = g->Wb + 2 * g->pw, K = g->Cb * g->kh * g->kw;
    float *ws = workspace((size_t)(g->Cb * Hp * Wp + K * 8) * sizeof(float));
    if (!ws) return -1;
    float *pad = ws, *wt = ws + g->Cb * Hp * Wp;
    for (int64_t k = 0; k < K; k++)
        for (int64_t q = 0; q < 8; q++) wt[k * 8 + q] = q < g->R ? w[q * K + k] : 0;
    memset(pad, 0, (size_t)(g->Cb * Hp * Wp) * sizeof(float));    /* the borders stay 0 */
    for (int64_t n = 0; n < g->N; n++) {
        const float *img = big + n * g->Cb * g->Hb * g->Wb;
        for (int64_t c = 0; c < g->Cb; c++)
            for (int64_t i = 0; i < g->Hb; i++)
                memcpy(pad + (c * Hp + g->ph + i) * Wp + g->pw, img + (c * g->Hb + i) * g->Wb,
                       (size_t)g->Wb * sizeof(float));
        direct_f32(g, pad, wt, bias, small + n * g->R * g->Hs * g->Ws);
    }
    return 0;
}

/* the weight gradient of the same geometry, gw [R x K] += gy @ im2col(pad)^T for one image:
   tap by tap, the R sums of the tap in 8-lane vectors over the image's outputs (the image's
   gradient and its padded plane stay in L1), the lanes summed at the end; the last block of a
   row masks the lanes the block before already counted */
typedef int32_t v8i_c __attribute__((vector_size(32)));
static DM_AVX_CLONES DM_NOINLINE void direct_wgrad_f32(const geom *g, const float *pad,
                                                       const float *gy, float *gw)
{
    int64_t Hp = g->Hb + 2 * g->ph, Wp = g->Wb + 2 * g->pw, Ws = g->Ws, L = g->Hs * Ws;
    int64_t R = g->R, K = g->Cb * g->kh * g->kw, rem = Ws % 8, full = Ws - rem;
    v8i_c mask;
    for (int j = 0; j < 8; j++) mask[j] = j >= 8 - rem ? -1 : 0;
    for (int64_t c = 0; c < g->Cb; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                int64_t k = (c * g->kh + ki) * g->kw + kj;
                v8f_c acc[8];
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++) acc[q] = (v8f_c){ 0 };
                for (int64_t oi = 0; oi < g->Hs; oi++) {
                    const float *xr = pad + (c * Hp + oi + ki) * Wp + kj, *gr = gy + oi * Ws;
                    for (int64_t oj = 0; oj < full; oj += 8) {
                        v8f_c xv;
                        memcpy(&xv, xr + oj, sizeof xv);
#pragma GCC unroll 8
                        for (int q = 0; q < 8; q++)
                            if (q < R) {
                                v8f_c gv;
                                memcpy(&gv, gr + q * L + oj, sizeof gv);
                                acc[q] += gv * xv;
                            }
                    }
                    if (rem) {
                        v8f_c xv;
                        memcpy(&xv, xr + Ws - 8, sizeof xv);
#pragma GCC unroll 8
                        for (int q = 0; q < 8; q++)
                            if (q < R) {
                                v8f_c gv;
                                memcpy(&gv, gr + q * L + Ws - 8, sizeof gv);
                                gv = (v8f_c)((v8i_c)gv & mask);
                                acc[q] += gv * xv;
                            }
                    }
                }
                for (int64_t q = 0; q < R; q++) {
                    v8f_c a = acc[q];
                    gw[q * K + k] += ((a[0] + a[4]) + (a[1] + a[5])) +
                                     ((a[2] + a[6]) + (a[3] + a[7]));
                }
            }
}

static int direct_weight_grad(const geom *g, const float *big, const float *small, int acc,
                              float *gw)
{
    int64_t Hp = g->Hb + 2 * g->ph, Wp = g->Wb + 2 * g->pw, K = g->Cb * g->kh * g->kw;
    float *pad = workspace((size_t)(g->Cb * Hp * Wp) * sizeof(float));
    if (!pad) return -1;
    if (!acc) memset(gw, 0, (size_t)(g->R * K) * sizeof(float));
    memset(pad, 0, (size_t)(g->Cb * Hp * Wp) * sizeof(float));    /* the borders stay 0 */
    for (int64_t n = 0; n < g->N; n++) {
        const float *img = big + n * g->Cb * g->Hb * g->Wb;
        for (int64_t c = 0; c < g->Cb; c++)
            for (int64_t i = 0; i < g->Hb; i++)
                memcpy(pad + (c * Hp + g->ph + i) * Wp + g->pw, img + (c * g->Hb + i) * g->Wb,
                       (size_t)g->Wb * sizeof(float));
        direct_wgrad_f32(g, pad, small + n * g->R * g->Hs * g->Ws, gw);
    }
    return 0;
}

/* small (+ bias) = W @ im2col(big), nb images per gemm */
static int fast_big_to_small(dm_dtype dt, const geom *g, int64_t NB, const void *big,
                             const void *w, const void *bias, void *small)
{
    if (direct_ok(dt, g)) {
        int rc;
        PROF(8, rc = direct_big_to_small(g, big, w, bias, small));
        return rc;
    }
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, K = g->Cb * g->kh * g->kw, Kg = K / g->G, Rg = g->R / g->G;
    int64_t B = g->Cb * g->Hb * g->Wb;
    char *cols = workspace((size_t)((K + g->R) * NB * L) * es);
    if (!cols) return -1;
    char *buf = cols + (size_t)(K * NB * L) * es;
    for (int64_t n0 = 0; n0 < g->N; n0 += NB) {
        int64_t nb = g->N - n0 < NB ? g->N - n0 : NB, ld = nb * L;
        PROF(0, for (int64_t i = 0; i < nb; i++)
                    IM2COL_FAST(dt, g, AT(big, (n0 + i) * B, es), AT(cols, i * L, es), ld));
        PROF(1, for (int64_t gr = 0; gr < g->G; gr++)
            gemm_dt(dt, 0, 0, Rg, ld, Kg, AT(w, gr * Rg * Kg, es), max1(Kg),
                    AT(cols, gr * Kg * ld, es), max1(ld), 0, AT(buf, gr * Rg * ld, es), max1(ld)));
        void *out = AT(small, n0 * g->R * L, es);
        PROF(3, if (dt == DM_FLOAT32) f32_scatter((float *)buf, out, bias, g->R, L, nb);
                else f64_scatter((double *)buf, out, bias, g->R, L, nb));
    }
    return 0;
}

/* big = col2im(W^T @ small) (+ bias[c] when given: the transposed convolution's) */
static int fast_small_to_big(dm_dtype dt, const geom *g, int64_t NB, const void *small,
                             const void *w, const void *bias, void *big)
{
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, K = g->Cb * g->kh * g->kw, Kg = K / g->G, Rg = g->R / g->G;
    int64_t B = g->Cb * g->Hb * g->Wb, HW = g->Hb * g->Wb;
    char *cols = workspace((size_t)((K + g->R) * NB * L) * es);
    if (!cols) return -1;
    char *buf = cols + (size_t)(K * NB * L) * es;
    for (int64_t n0 = 0; n0 < g->N; n0 += NB) {
        int64_t nb = g->N - n0 < NB ? g->N - n0 : NB, ld = nb * L;
        PROF(3, GATHER(dt, AT(small, n0 * g->R * L, es), (void *)buf, g->R, L, nb));
        PROF(1, for (int64_t gr = 0; gr < g->G; gr++)
            gemm_dt(dt, 1, 0, Kg, ld, Rg, AT(w, gr * Rg * Kg, es), max1(Kg),
                    AT(buf, gr * Rg * ld, es), max1(ld), 0, AT(cols, gr * Kg * ld, es), max1(ld)));
        PROF(2, for (int64_t i = 0; i < nb; i++) {
            char *img = AT(big, (n0 + i) * B, es);
            for (int64_t c = 0; c < g->Cb; c++) {
                if (dt == DM_FLOAT32) {
                    float *p = (float *)img + c * HW, v = bias ? ((const float *)bias)[c] : 0;
                    for (int64_t k = 0; k < HW; k++) p[k] = v;
                } else {
                    double *p = (double *)img + c * HW, v = bias ? ((const double *)bias)[c] : 0;
                    for (int64_t k = 0; k < HW; k++) p[k] = v;
                }
            }
            COL2IM_FAST(dt, g, AT(cols, i * L, es), img, ld);
        });
    }
    return 0;
}

/* gw [R x Kg] (+)= small @ im2col(big)^T over the batch, nb images per gemm */
static int fast_weight_grad(dm_dtype dt, const geom *g, int64_t NB, const void *big,
                            const void *small, int acc, void *gw)
{
    if (direct_ok(dt, g)) {
        int rc;
        PROF(8, rc = direct_weight_grad(g, big, small, acc, gw));
        return rc;
    }
    size_t es = dm_dtype_size(dt);
    int64_t L = g->Hs * g->Ws, K = g->Cb * g->kh * g->kw, Kg = K / g->G, Rg = g->R / g->G;
    int64_t B = g->Cb * g->Hb * g->Wb;
    char *cols = workspace((size_t)((K + g->R) * NB * L) * es);
    if (!cols) return -1;
    char *buf = cols + (size_t)(K * NB * L) * es;
    for (int64_t n0 = 0; n0 < g->N; n0 += NB) {
        int64_t nb = g->N - n0 < NB ? g->N - n0 : NB, ld = nb * L;
        PROF(0, for (int64_t i = 0; i < nb; i++)
                    IM2COL_FAST(dt, g, AT(big, (n0 + i) * B, es), AT(cols, i * L, es), ld));
        PROF(3, GATHER(dt, AT(small, n0 * g->R * L, es), (void *)buf, g->R, L, nb));
        PROF(1, for (int64_t gr = 0; gr < g->G; gr++)
            gemm_dt(dt, 0, 1, Rg, Kg, ld, AT(buf, gr * Rg * ld, es), max1(ld),
                    AT(cols, gr * Kg * ld, es), max1(ld), acc || n0 > 0,
                    AT(gw, gr * Rg * Kg, es), max1(Kg)));
    }
    if (g->N == 0 && !acc) memset(gw, 0, (size_t)(g->R * Kg) * es);
    return 0;
}

/* out [N x C x L] (+)= b[c] (the chunked path's bias) */
static void add_bias(dm_dtype dt, void *out, const void *bias, int64_t N, int64_t C,
                     int64_t L)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            if (dt == DM_FLOAT32) {
                float *o = (float *)out + (n * C + c) * L, v = ((const float *)bias)[c];
                for (int64_t i = 0; i < L; i++) o[i] += v;
            } else {
                double *o = (double *)out + (n * C + c) * L, v = ((const double *)bias)[c];
                for (int64_t i = 0; i < L; i++) o[i] += v;
            }
        }
}

/* ---- the table's entries ----
 * With dm_set_num_threads(2 or more), a fast-path call over a batch of at least two images
 * and enough work is split in two halves of the batch run at once (par.c), each with its own
 * workspace and BLAS at one thread: the outputs of the halves are disjoint, and the weight
 * gradient of the second half is summed into a buffer of its own, added to the first's after
 * (the sum's order differs from one thread's: equal within rounding). */
#define PAR_WORK 1000000            /* multiply-adds of a call worth splitting, at least */

typedef struct {
    int kind;                       /* 0 big_to_small, 1 small_to_big, 2 weight_grad */
    dm_dtype dt;
    dm_conv_geom g[2];              /* the halves' geometries (N differs) */
    char *big[2], *small[2];        /* each half's images, both sides (one is written) */
    const void *w, *bias;
    void *gw[2];                    /* weight_grad: the sum's destination, per half */
    int acc[2];
} par_job;

static int par_part(void *arg, int part)
{
    par_job *j = arg;
    const geom *g = &j->g[part];
    if (g->N == 0) return 0;
    int64_t nb = fast_images(g, dm_dtype_size(j->dt));
    switch (j->kind) {
    case 0: return fast_big_to_small(j->dt, g, nb, j->big[part], j->w, j->bias, j->small[part]);
    case 1: return fast_small_to_big(j->dt, g, nb, j->small[part], j->w, j->bias, j->big[part]);
    default: return fast_weight_grad(j->dt, g, nb, j->big[part], j->small[part], j->acc[part],
                                     j->gw[part]);
    }
}

/* should this call be split? (the fast path, two images or more, enough work) */
static int par_ok(const geom *g, int64_t nb)
{
    return nb && g->N >= 2 && dm__cpu_par_on() &&
           g->N * g->R * g->Cb / g->G * g->kh * g->kw * g->Hs * g->Ws >= PAR_WORK;
}

/* j split into two halves of g's batch: kind, geometries, and each half's images on the big
   side [N x Cb x Hb x Wb] and the small side [N x R x Hs x Ws] */
static void par_halves(par_job *j, int kind, dm_dtype dt, const geom *g, const void *big,
                       const void *small)
{
    size_t es = dm_dtype_size(dt);
    j->kind = kind;
    j->dt = dt;
    j->g[0] = j->g[1] = *g;
    j->g[0].N = g->N / 2;
    j->g[1].N = g->N - g->N / 2;
    j->big[0] = (char *)big;
    j->big[1] = (char *)AT(big, j->g[0].N * g->Cb * g->Hb * g->Wb, es);
    j->small[0] = (char *)small;
    j->small[1] = (char *)AT(small, j->g[0].N * g->R * g->Hs * g->Ws, es);
}

int dm__cpu_conv_big_to_small(dm_dtype dt, const dm_conv_geom *g, const void *big,
                              const void *w, const void *bias, void *small)
{
    size_t es = dm_dtype_size(dt);
    int64_t nb = fast_images(g, es);
    if (par_ok(g, nb)) {
        par_job j;
        par_halves(&j, 0, dt, g, big, small);
        j.w = w;
        j.bias = bias;
        return dm__cpu_par2(par_part, &j);
    }
    if (nb) return fast_big_to_small(dt, g, nb, big, w, bias, small);
    int rc = big_to_small(dt, g, big, w, small);
    if (!rc && bias) add_bias(dt, small, bias, g->N, g->R, g->Hs * g->Ws);
    return rc;
}

int dm__cpu_conv_small_to_big(dm_dtype dt, const dm_conv_geom *g, const void *small,
                              const void *w, const void *bias, void *big)
{
    size_t es = dm_dtype_size(dt);
    int64_t nb = fast_images(g, es);
    if (par_ok(g, nb)) {
        par_job j;
        par_halves(&j, 1, dt, g, big, small);
        j.w = w;
        j.bias = bias;
        return dm__cpu_par2(par_part, &j);
    }
    if (nb) return fast_small_to_big(dt, g, nb, small, w, bias, big);
    int rc = small_to_big(dt, g, small, w, big);
    if (!rc && bias) add_bias(dt, big, bias, g->N, g->Cb, g->Hb * g->Wb);
    return rc;
}

int dm__cpu_conv_weight_grad(dm_dtype dt, const dm_conv_geom *g, const void *big,
                             const void *small, int acc, void *gw)
{
    size_t es = dm_dtype_size(dt);
    int64_t nb = fast_images(g, es);
    if (par_ok(g, nb)) {
        int64_t n = g->R * (g->Cb / g->G) * g->kh * g->kw;
        void *part = malloc((size_t)n * es);
        if (part) {
            par_job j;
            par_halves(&j, 2, dt, g, big, small);
            j.gw[0] = gw;
            j.gw[1] = part;
            j.acc[0] = acc;
            j.acc[1] = 0;
            int rc = dm__cpu_par2(par_part, &j);
            if (!rc) {
                if (dt == DM_FLOAT32)
                    for (int64_t i = 0; i < n; i++) ((float *)gw)[i] += ((float *)part)[i];
                else
                    for (int64_t i = 0; i < n; i++) ((double *)gw)[i] += ((double *)part)[i];
            }
            free(part);
            return rc;
        }
    }
    return nb ? fast_weight_grad(dt, g, nb, big, small, acc, gw)
              : weight_grad(dt, g, big, small, acc, gw);
}

/* gb [C] = the sums of go [N x C x L]: each plane summed in double, four partial sums
   (vectorized), then over the batch */
void dm__cpu_conv_bias_grad(dm_dtype dt, const void *go, int64_t N, int64_t C, int64_t L,
                            void *gb)
{
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++) {
            double p[4] = { 0, 0, 0, 0 };
            int64_t j = 0, k0 = (i * C + c) * L;
            if (dt == DM_FLOAT32) {
                const float *v = (const float *)go + k0;
                for (; j + 4 <= L; j += 4)
                    for (int q = 0; q < 4; q++) p[q] += v[j + q];
                for (; j < L; j++) p[0] += v[j];
            } else {
                const double *v = (const double *)go + k0;
                for (; j + 4 <= L; j += 4)
                    for (int q = 0; q < 4; q++) p[q] += v[j + q];
                for (; j < L; j++) p[0] += v[j];
            }
            s += (p[0] + p[1]) + (p[2] + p[3]);
        }
        if (dt == DM_FLOAT32) ((float *)gb)[c] = (float)s;
        else ((double *)gb)[c] = s;
    }
}
