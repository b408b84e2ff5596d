/* testutil.h -- tiny harness for the core's C unit tests.
 *
 * Checks (each counts one pass or one failure; a failure prints file:line and the message):
 *   CHECK(cond, "what")            cond holds
 *   CHECKF(cond, fmt, ...)         the same with a printf-style message
 *   CHECK_NEAR(a, b, tol, "what")  |a - b| <= tol * max(1, |b|)
 *   CHECK_ERR(expr, "expected message")   expr must return NULL/-1 and set exactly that text
 *   CHECK_NO_LEAKS(start)          live bytes and live tensors back to start (two checks);
 *                                  take start = tu_live_now() first thing in main
 *   TEST_END("name")               print "name: N passed, M failed", return status
 *
 * Tensors (each returns one new reference, or a malloc'd buffer the caller frees):
 *   tu_tensor(ndim, shape, v)      a tensor with the values v (row-major)
 *   tu_rand(ndim, shape, lo, hi, seed)    a tensor filled by tu_fill
 *   tu_fill(t, lo, hi, seed)       deterministic pseudo-random fill in [lo, hi) of a
 *                                  contiguous t; tu_fill_buf does the same to a float buffer
 *   tu_strided_copy(src, order, step, pad), tu_transposed_copy(src)
 *                                  the same values in a non-contiguous layout, NaN around them
 *   tu_values(t)                   malloc'd copy of t's values in row-major order (any dtype, as float)
 *   tu_next_index(ndim, shape, idx)   step idx through shape in row-major order
 *
 * Comparisons.  One rule for every value compared with an expected one: tu_close(got, want,
 * tol) is |got - want| <= tol * max(1, |want|); a NaN want matches only NaN, an infinite want
 * only itself (so tol 0 means ==).  Expected values come as doubles; the names ending in f
 * take a float array instead (float fixtures, compared at their exact float values).
 *   tu_val0(t)                     t's first value as a double (NaN for a NULL or empty t)
 *   tu_shape_is(t, ndim, shape)    t is non-NULL with exactly that shape
 *   tu_vals_match(t, want, n, tol, "what")  / tu_vals_matchf
 *                                  1 if t holds n values each tu_close to want; else prints
 *                                  the first mismatch and returns 0 (use inside CHECK)
 *   tu_check_vals(t, want, n, tol, "what")  / tu_check_valsf
 *                                  the same, counted: one check for the element count, then
 *                                  one per element (a failure prints "what", not a line)
 *   tu_same_values(a, b, tol)      same shape, each value of a tu_close to b's (NaN matches NaN)
 *   tu_same_bits(a, b)             same shape, values equal bit for bit (any NaN matches any
 *                                  NaN; -0 differs from 0)
 *
 * gradcheck(): central differences in double on a scalar function of the inputs, compared
 * with dm_backward().  f must build its output from the given inputs with core ops. */
#ifndef DM_TESTUTIL_H
#define DM_TESTUTIL_H

#include "../../core/deepmoon.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_pass, tu_fail;

#define CHECK(cond, what) do { \
    if (cond) tu_pass++; \
    else { tu_fail++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, (what)); } \
} while (0)

#define CHECKF(cond, ...) do { \
    if (cond) tu_pass++; \
    else { tu_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); \
           printf("\n"); } \
} while (0)

#define CHECK_NEAR(a, b, tol, what) do { \
    double a_ = (a), b_ = (b); \
    double s_ = fabs(b_) > 1 ? fabs(b_) : 1; \
    if (fabs(a_ - b_) <= (tol) * s_) tu_pass++; \
    else { tu_fail++; printf("FAIL %s:%d: %s: got %.9g, expected %.9g\n", \
                            __FILE__, __LINE__, (what), a_, b_); } \
} while (0)

/* expr returns a pointer (NULL on error) or an int (nonzero on error); evaluated once */
static inline int tu_int_failed(int rc) { return rc != 0; }
static inline int tu_ptr_failed(const void *p) { return p == NULL; }
#define TU_FAILED(expr) _Generic((expr), int: tu_int_failed, default: tu_ptr_failed)(expr)
#define CHECK_ERR(expr, msg) do { \
    int failed_ = TU_FAILED(expr); \
    if (failed_ && strcmp(dm_errmsg(), (msg)) == 0) tu_pass++; \
    else { tu_fail++; printf("FAIL %s:%d: expected error \"%s\", got %s \"%s\"\n", \
                            __FILE__, __LINE__, (msg), failed_ ? "error" : "success", \
                            dm_errmsg()); } \
} while (0)

#define TEST_END(name) \
    (printf("%s: %d passed, %d failed\n", (name), tu_pass, tu_fail), tu_fail ? 1 : 0)

typedef struct { int64_t bytes, tensors; } tu_live;
static inline tu_live tu_live_now(void)
{
    return (tu_live){ dm_live_bytes(), dm_live_tensors() };
}
#define CHECK_NO_LEAKS(start) do { \
    tu_live now_ = tu_live_now(), was_ = (start); \
    CHECKF(now_.bytes == was_.bytes, "no leaked bytes: %lld live, expected %lld", \
           (long long)now_.bytes, (long long)was_.bytes); \
    CHECKF(now_.tensors == was_.tensors, "no leaked tensors: %lld live, expected %lld", \
           (long long)now_.tensors, (long long)was_.tensors); \
} while (0)

/* ---- tensors ---------------------------------------------------------------------------- */

static inline dm_tensor *tu_tensor(int ndim, const int64_t *shape, const float *v)
{
    return dm_tensor_from_data(ndim, shape, v);
}

static inline void tu_fill_buf(float *d, int64_t n, float lo, float hi, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        d[i] = lo + (hi - lo) * (float)((s >> 8) * (1.0 / 16777216.0));
    }
}

static inline void tu_fill(dm_tensor *t, float lo, float hi, unsigned seed)
{
    tu_fill_buf(dm_data(t), dm_numel(t), lo, hi, seed);
}

static inline dm_tensor *tu_rand(int ndim, const int64_t *shape, float lo, float hi,
                                 unsigned seed)
{
    dm_tensor *t = dm_tensor_new(ndim, shape);
    tu_fill(t, lo, hi, seed);
    return t;
}

/* advance idx to the next index of shape in row-major order; 0 after the last one */
static inline int tu_next_index(int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* A non-contiguous tensor holding src's values.  order[] lists src's dims from outermost
 * to innermost in memory; the innermost gets stride `step`, and `pad` unused floats follow
 * each innermost run.  The rest of the buffer holds NaN so a stray read shows up. */
static inline dm_tensor *tu_strided_copy(const dm_tensor *src, const int *order, int64_t step,
                                         int64_t pad)
{
    int nd = src->ndim;
    int64_t st[DM_MAX_DIMS], s = step;
    for (int q = nd - 1; q >= 0; q--) {
        int d = order[q];
        st[d] = s;
        s = s * (src->shape[d] > 1 ? src->shape[d] : 1) + (q == nd - 1 ? pad : 0);
    }
    dm_tensor *buf = dm_tensor_full(1, (int64_t[]){ s + 3 }, NAN);
    dm_tensor *t = dm_tensor_alias(buf, nd, src->shape, st, 2);
    dm_tensor_release(buf);
    int64_t idx[DM_MAX_DIMS] = {0};
    if (dm_numel(src) > 0)
        do dm_set(t, idx, dm_get(src, idx)); while (tu_next_index(nd, src->shape, idx));
    return t;
}

/* the usual "transposed view": the last two dims swapped in memory */
static inline dm_tensor *tu_transposed_copy(const dm_tensor *src)
{
    int order[DM_MAX_DIMS];
    for (int d = 0; d < src->ndim; d++) order[d] = d;
    if (src->ndim >= 2) {
        order[src->ndim - 2] = src->ndim - 1;
        order[src->ndim - 1] = src->ndim - 2;
    }
    return tu_strided_copy(src, order, 1, 0);
}

static inline float *tu_values(const dm_tensor *t)
{
    int64_t n = dm_numel(t);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    dm_to_buffer_dtype(t, v, DM_FLOAT32);          /* any dtype, as float32 */
    return v;
}

/* ---- comparisons ------------------------------------------------------------------------ */

static inline int tu_close(double got, double want, double tol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * (fabs(want) > 1 ? fabs(want) : 1);
}

static inline double tu_val0(const dm_tensor *t)
{
    static const int64_t zero[DM_MAX_DIMS];
    return t && dm_numel(t) > 0 ? dm_get_f64(t, zero) : NAN;
}

static inline int tu_shape_is(const dm_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++) if (t->shape[d] != shape[d]) return 0;
    return 1;
}

/* t's values against want[0..n).  With count, the element count is one check and each
   element another, failures printed as CHECK does; without, the first mismatch is printed.
   Returns 1 when everything matched. */
static inline int tu_compare_vals_(const dm_tensor *t, const double *want, int64_t n,
                                   double tol, const char *what, int count)
{
    const char *lead = count ? "FAIL " : "  ";
    if (!t || dm_numel(t) != n) {
        if (count) tu_fail++;
        if (!t) printf("%s%s: no tensor (%s)\n", lead, what, dm_errmsg());
        else printf("%s%s: %lld elements, expected %lld\n", lead, what,
                    (long long)dm_numel(t), (long long)n);
        return 0;
    }
    if (count) tu_pass++;
    float *got = tu_values(t);
    int ok = 1;
    for (int64_t k = 0; k < n && (ok || count); k++) {
        if (tu_close(got[k], want[k], tol)) { if (count) tu_pass++; continue; }
        if (count) tu_fail++;
        printf("%s%s: element %lld is %.9g, expected %.9g\n", lead, what, (long long)k,
               got[k], want[k]);
        ok = 0;
    }
    free(got);
    return ok;
}

/* the float-array forms: the same comparison at the floats' exact values */
static inline int tu_compare_valsf_(const dm_tensor *t, const float *want, int64_t n,
                                    double tol, const char *what, int count)
{
    double *w = malloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    for (int64_t k = 0; k < n; k++) w[k] = want[k];
    int ok = tu_compare_vals_(t, w, n, tol, what, count);
    free(w);
    return ok;
}

static inline int tu_vals_match(const dm_tensor *t, const double *want, int64_t n, double tol,
                                const char *what)
{
    return tu_compare_vals_(t, want, n, tol, what, 0);
}

static inline int tu_vals_matchf(const dm_tensor *t, const float *want, int64_t n, double tol,
                                 const char *what)
{
    return tu_compare_valsf_(t, want, n, tol, what, 0);
}

static inline void tu_check_vals(const dm_tensor *t, const double *want, int64_t n, double tol,
                                 const char *what)
{
    tu_compare_vals_(t, want, n, tol, what, 1);
}

static inline void tu_check_valsf(const dm_tensor *t, const float *want, int64_t n, double tol,
                                  const char *what)
{
    tu_compare_valsf_(t, want, n, tol, what, 1);
}

static inline int tu_same_values(const dm_tensor *a, const dm_tensor *b, double tol)
{
    if (!a || !b || !dm_same_shape(a, b)) return 0;
    int64_t n = dm_numel(a);
    float *x = tu_values(a), *y = tu_values(b);
    int ok = 1;
    for (int64_t k = 0; k < n && ok; k++) ok = tu_close(x[k], y[k], tol);
    free(x);
    free(y);
    return ok;
}

static inline int tu_same_bits(const dm_tensor *a, const dm_tensor *b)
{
    if (!a || !b || !dm_same_shape(a, b)) return 0;
    int64_t n = dm_numel(a);
    float *x = tu_values(a), *y = tu_values(b);
    int ok = 1;
    for (int64_t k = 0; k < n && ok; k++)
        ok = memcmp(&x[k], &y[k], sizeof *x) == 0 || (isnan(x[k]) && isnan(y[k]));
    free(x);
    free(y);
    return ok;
}

/* ---- gradients -------------------------------------------------------------------------- */

typedef dm_tensor *(*tu_fn)(dm_tensor *const *in, void *ctx);

/* Sum of f(in) weighted by fixed pseudo-random weights makes a scalar; compare analytic
 * gradients of each input with central differences.  Inputs must be contiguous leaves with
 * requires_grad set.  Returns the worst relative error, or +inf on failure. */
static inline double gradcheck(tu_fn f, int n, dm_tensor *const *in, void *ctx, double eps)
{
    dm_tensor *y = f(in, ctx);
    if (!y) { printf("gradcheck: forward failed: %s\n", dm_errmsg()); return INFINITY; }
    dm_tensor *w = dm_tensor_new(y->ndim, y->shape);
    tu_fill(w, -1, 1, 7);
    for (int i = 0; i < n; i++) if (in[i]->grad) dm_zero_(in[i]->grad);
    if (dm_backward(y, w, 0) != 0) {
        printf("gradcheck: backward failed: %s\n", dm_errmsg());
        dm_tensor_release(y); dm_tensor_release(w);
        return INFINITY;
    }
    dm_tensor_release(y);
    double worst = 0;
    int prev = dm_set_grad_enabled(0);
    for (int i = 0; i < n; i++) {
        if (!in[i]->requires_grad) continue;
        float *x = dm_data(in[i]);
        int64_t m = dm_numel(in[i]);
        for (int64_t k = 0; k < m; k++) {
            float orig = x[k];
            double lossp = 0, lossm = 0;
            for (int sgn = 0; sgn < 2; sgn++) {
                x[k] = orig + (sgn ? -1 : 1) * (float)eps;
                dm_tensor *yy = f(in, ctx);
                if (!yy) { x[k] = orig; dm_set_grad_enabled(prev); dm_tensor_release(w); return INFINITY; }
                int64_t ny = dm_numel(yy);
                float *yb = malloc((size_t)ny * sizeof *yb);
                dm_to_buffer(yy, yb);
                double s = 0;
                for (int64_t j = 0; j < ny; j++) s += (double)yb[j] * dm_data(w)[j];
                free(yb);
                dm_tensor_release(yy);
                if (sgn) lossm = s; else lossp = s;
            }
            x[k] = orig;
            double num = (lossp - lossm) / (2 * eps);
            double ana = in[i]->grad ? dm_data(in[i]->grad)[k] : 0;
            double err = fabs(num - ana) / (fabs(num) > 1 ? fabs(num) : 1);
            if (err > worst) worst = err;
        }
    }
    dm_set_grad_enabled(prev);
    dm_tensor_release(w);
    return worst;
}

#endif
