/* test_vmath.c -- the vectorisable float32 exp, sigmoid and tanh of core/backend/cpu/vmath.h
 * against libm: a dense sweep of the float bit patterns over each function's interesting
 * range (every STRIDE-th pattern, plus every pattern near the overflow and underflow
 * thresholds, 0 and tanh's switch point), the edge values (+-0, +-inf, NaN, FLT_MAX,
 * subnormals), and the maximum error in ulps asserted.  The reference is libm in double
 * (exp, tanh) rounded to float: the errors are those of the float results against the
 * (nearly) exact ones; libm's own float functions' distance is printed beside them.  The
 * evaluation loops are compiled as the kernels are (O3, no-trapping-math, the same target clones), so the
 * vector code is what is measured. */
#include "testutil.h"
#include "backend/cpu/vmath.h"
#include <float.h>
#include <stdint.h>

#define STRIDE 251u        /* about 9 million patterns per sweep */
#define CHUNK 4096

#if defined(__GNUC__) && !defined(__clang__)
#define VM_O3 __attribute__((optimize("O3", "no-trapping-math")))
#else
#define VM_O3
#endif

DM_VMATH_CLONES VM_O3 static void run_exp(int n, const float *x, float *y)
{
    for (int i = 0; i < n; i++) y[i] = dm_vexpf(x[i]);
}
DM_VMATH_CLONES VM_O3 static void run_sigmoid(int n, const float *x, float *y)
{
    for (int i = 0; i < n; i++) y[i] = dm_vsigmoidf(x[i]);
}
DM_VMATH_CLONES VM_O3 static void run_tanh(int n, const float *x, float *y)
{
    for (int i = 0; i < n; i++) y[i] = dm_vtanhf(x[i]);
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* the ulp of float at |w| (subnormals: 2^-149) */
static double ulp_at(double w)
{
    w = fabs(w);
    if (w < FLT_MIN) return ldexp(1, -149);
    int e;
    frexp(w, &e);                              /* w = m 2^e, m in [0.5, 1) */
    return ldexp(1, e - 24);
}

/* error of got against the exact value w, in ulps of float at w; inf/NaN must match */
static double ulps(float got, double w)
{
    if (isnan(w)) return isnan(got) ? 0 : INFINITY;
    if ((double)got == w) return 0;
    if (isinf(got) || isinf(w)) {
        /* an exact value beyond FLT_MAX that rounds to inf is right */
        if (isinf(got) && !isinf(w) && (float)w == got) return 0;
        return INFINITY;
    }
    if (fabs(w) > FLT_MAX) return fabs((double)got - w) / ulp_at(FLT_MAX);
    return fabs((double)got - w) / ulp_at(w);
}

typedef struct {
    const char *name;
    void (*run)(int, const float *, float *);
    double (*exact)(double);
    float (*libm)(float);
    double tiny;        /* below this exact value only an absolute error of tiny is asked */
    double maxulp, maxlibm, worst_x;
    long count;
} fcase;

static double ex_exp(double x) { return exp(x); }
static double ex_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ex_tanh(double x) { return tanh(x); }
static float lm_exp(float x) { return expf(x); }
static float lm_sigmoid(float x) { return 1 / (1 + expf(-x)); }
static float lm_tanh(float x) { return tanhf(x); }

static float xs[CHUNK], ys[CHUNK];
static int nx;

static void flush(fcase *c)
{
    c->run(nx, xs, ys);
    for (int i = 0; i < nx; i++) {
        double w = c->exact((double)xs[i]);
        double u;
        if (fabs(w) < c->tiny)
            u = fabs((double)ys[i] - w) <= c->tiny ? 0 : INFINITY;
        else
            u = ulps(ys[i], w);
        if (u > c->maxulp) { c->maxulp = u; c->worst_x = xs[i]; }
        double ul = fabs(w) < c->tiny ? 0 : ulps(c->libm(xs[i]), w);
        if (ul > c->maxlibm && !isinf(ul)) c->maxlibm = ul;
        c->count++;
    }
    nx = 0;
}
static void push(fcase *c, float x)
{
    xs[nx++] = x;
    if (nx == CHUNK) flush(c);
}

/* every STRIDE-th float in [lo, hi] (both signs handled by bit order), then every float
   within 2^16 patterns of each of the points in dense[] */
static void sweep(fcase *c, float lo, float hi, const float *dense, int ndense)
{
    /* negative part: patterns from -0 down to lo; positive: +0 up to hi */
    if (lo < 0)
        for (uint32_t b = 0x80000000u; b <= to_bits(lo) && b >= 0x80000000u; b += STRIDE)
            push(c, from_bits(b));
    if (hi > 0)
        for (uint32_t b = 0; b <= to_bits(hi); b += STRIDE) push(c, from_bits(b));
    for (int k = 0; k < ndense; k++) {
        float p = dense[k];
        uint32_t b = to_bits(p);
        for (uint32_t d = 0; d < 65536; d++) {
            push(c, from_bits(b + d - 32768));
        }
    }
    static const float edges[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX,
                                   -FLT_MAX, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f, 1e-40f,
                                   -1e-40f, 1, -1, 88.7228317f, 88.7228394f, 89, 100,
                                   -87.33654f, -103.972084f, -103.97209f, -104, -150, 1e30f,
                                   -1e30f, 0.625f, -0.625f, 0.62499994f, 9, -9, 20, -20 };
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) push(c, edges[k]);
    flush(c);
}

/* the values at the edges, exactly */
static void test_edges(void)
{
    float x[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 89, 88.7228317f, -104, -200,
                  1 };
    float y[10];
    run_exp(10, x, y);
    CHECK(y[0] == 1 && y[1] == 1, "exp(+-0) = 1");
    CHECK(isinf(y[2]) && y[2] > 0, "exp(inf) = inf");
    CHECK(y[3] == 0 && !signbit(y[3]), "exp(-inf) = +0");
    CHECK(isnan(y[4]), "exp(nan) = nan");
    CHECK(isinf(y[5]), "exp(89) overflows to inf");
    CHECK(isfinite(y[6]) && y[6] > 3.4e38f, "exp(88.7228317) (the last finite) is near FLT_MAX");
    CHECK(y[7] == 0 && y[8] == 0, "exp(-104), exp(-200) underflow to 0");
    CHECKF(fabsf(y[9] - 2.7182817f) <= 2.4e-7f, "exp(1) = %.9g", y[9]);
    run_sigmoid(10, x, y);
    CHECK(y[0] == 0.5f && y[1] == 0.5f, "sigmoid(+-0) = 0.5");
    CHECK(y[2] == 1 && y[3] == 0, "sigmoid(+-inf) = 1, 0");
    CHECK(isnan(y[4]), "sigmoid(nan) = nan");
    run_tanh(10, x, y);
    CHECK(y[0] == 0 && !signbit(y[0]), "tanh(0) = 0");
    CHECK(y[1] == 0 && signbit(y[1]), "tanh(-0) = -0");
    CHECK(y[2] == 1 && y[3] == -1, "tanh(+-inf) = +-1");
    CHECK(isnan(y[4]), "tanh(nan) = nan");
    CHECK(y[5] == 1 && y[7] == -1, "tanh(89) = 1, tanh(-104) = -1");
    float sub = 1e-40f;
    run_tanh(1, &sub, y);
    CHECK(y[0] == sub, "tanh(subnormal) = itself");
}

int main(void)
{
    test_edges();

    fcase ce = { "exp", run_exp, ex_exp, lm_exp, 0, 0, 0, 0, 0 };
    /* thresholds: overflow, underflow to subnormals and to 0, 0 */
    const float dexp[] = { 88.7228394f, -87.336544f, -103.972084f, 0.0f, -0.0f, 0.34657359f,
                           -0.34657359f };
    sweep(&ce, -110.0f, 95.0f, dexp, 7);

    /* sigmoid: below -87.3 the exact value is subnormal, which 1 / (1 + exp(-x)) (PyTorch's
       formula, and this kernel's before) gives only to within FLT_MIN */
    fcase cs = { "sigmoid", run_sigmoid, ex_sigmoid, lm_sigmoid, FLT_MIN, 0, 0, 0, 0 };
    const float dsig[] = { 0.0f, -0.0f, 16.6355f, -87.3365f, -88.7228317f };
    sweep(&cs, -110.0f, 30.0f, dsig, 5);

    fcase ct = { "tanh", run_tanh, ex_tanh, lm_tanh, 0, 0, 0, 0, 0 };
    const float dtanh[] = { 0.625f, -0.625f, 0.0f, -0.0f, 9.0f, -9.0f };
    sweep(&ct, -20.0f, 20.0f, dtanh, 6);

    fcase *cases[] = { &ce, &cs, &ct };
    const double bound[] = { 1.0, 3.0, 1.5 };   /* ulps (sigmoid: the formula's own rounding) */
    for (int k = 0; k < 3; k++) {
        fcase *c = cases[k];
        printf("vmath %-8s %ld values: max error %.3f ulp (at x = %.9g); libm float %.3f ulp\n",
               c->name, c->count, c->maxulp, c->worst_x, c->maxlibm);
        CHECKF(c->maxulp <= bound[k], "%s: max error %.3f ulp > %.1f at x = %.9g", c->name,
               c->maxulp, bound[k], c->worst_x);
    }
    return TEST_END("test_vmath");
}
