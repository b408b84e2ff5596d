/* testutil.h -- tiny harness for the core's C unit tests.
 *
 *   CHECK(cond, "what")            count a pass or print the failure with file:line
 *   CHECK_NEAR(a, b, tol, "what")  |a - b| <= tol * max(1, |b|)
 *   CHECK_ERR(expr, "expected message")   expr must return NULL/-1 and set exactly that text
 *   TEST_END("name")               print "name: N passed, M failed", return status
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

/* a tensor with given values (row-major) */
static inline dm_tensor *tu_tensor(int ndim, const int64_t *shape, const float *v)
{
    return dm_tensor_from_data(ndim, shape, v);
}

/* deterministic pseudo-random fill in [lo, hi) */
static inline void tu_fill(dm_tensor *t, float lo, float hi, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    int64_t n = dm_numel(t);
    float *d = dm_data(t);
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        d[i] = lo + (hi - lo) * (float)((s >> 8) * (1.0 / 16777216.0));
    }
}

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
