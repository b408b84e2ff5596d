/* test_init.c -- weight initialisers (core/ops/init.c): PyTorch's torch.nn.init.
 *
 * Random initialisers are checked statistically on large tensors (mean, std and bounds
 * against the formula, to a few percent at most; with 10^5 to 10^6 samples the sampling
 * error is far below that), structured ones exactly. */
#include "testutil.h"

#define SQRT2 1.4142135623730951
#define PI 3.14159265358979323846

typedef struct {
    double mean, std, min, max;
    int64_t n, zeros;
} stats;

/* mean, population std, extremes and zero count of t's values */
static stats stats_of(const dm_tensor *t)
{
    stats s = { 0, 0, INFINITY, -INFINITY, dm_numel(t), 0 };
    float *v = malloc((size_t)(s.n > 0 ? s.n : 1) * sizeof *v);
    dm_to_buffer(t, v);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s.n; i++) sum += v[i];
    s.mean = sum / (double)s.n;
    for (int64_t i = 0; i < s.n; i++) {
        double d = v[i] - s.mean;
        sq += d * d;
        if (v[i] < s.min) s.min = v[i];
        if (v[i] > s.max) s.max = v[i];
        if (v[i] == 0) s.zeros++;
    }
    s.std = sqrt(sq / (double)s.n);
    free(v);
    return s;
}

static dm_tensor *new2(int64_t a, int64_t b) { return dm_tensor_zeros(2, (int64_t[]){ a, b }); }

/* a uniform sample on [-bound, bound]: inside, reaching close to both ends, flat */
static void check_uniform(const dm_tensor *t, double lo, double hi, const char *what)
{
    stats s = stats_of(t);
    char msg[200];
    snprintf(msg, sizeof msg, "%s: within [%g, %g]", what, lo, hi);
    CHECK(s.min >= (float)lo && s.max <= (float)hi, msg);
    snprintf(msg, sizeof msg, "%s: reaches both ends", what);
    CHECK(s.min < lo + 1e-3 * (hi - lo) && s.max > hi - 1e-3 * (hi - lo), msg);
    snprintf(msg, sizeof msg, "%s: mean", what);
    CHECK_NEAR(s.mean, (lo + hi) / 2, 0.01 * (hi - lo), msg);
    snprintf(msg, sizeof msg, "%s: std", what);
    CHECK_NEAR(s.std / ((hi - lo) / sqrt(12.0)), 1.0, 0.01, msg);
}

static void check_normal(const dm_tensor *t, double mean, double std, const char *what)
{
    stats s = stats_of(t);
    char msg[200];
    snprintf(msg, sizeof msg, "%s: mean", what);
    CHECK(fabs(s.mean - mean) < 6 * std / sqrt((double)s.n) + 1e-6, msg);
    snprintf(msg, sizeof msg, "%s: std", what);
    CHECK_NEAR(s.std / std, 1.0, 0.01, msg);
    /* a normal sample has tails: past 4 std about 30 times per 10^6 draws per side, past 3
       std 1350 times */
    double z = s.n >= 400000 ? 4 : 3;
    snprintf(msg, sizeof msg, "%s: tails past %g std", what, z);
    CHECK(s.max > mean + z * std && s.min < mean - z * std, msg);
}

/* ---- gains and fans ------------------------------------------------------------------- */

static void test_gain(void)
{
    static const char *const ones[] = { "linear", "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid", NULL };
    double g = -1;
    for (int i = 0; ones[i]; i++) {
        g = -1;
        CHECK(dm_calculate_gain(ones[i], 0, 0, &g) == 0 && g == 1.0, ones[i]);
    }
    CHECK(dm_calculate_gain("tanh", 0, 0, &g) == 0 && g == 5.0 / 3, "tanh 5/3");
    CHECK(dm_calculate_gain("relu", 0, 0, &g) == 0 && g == sqrt(2.0), "relu sqrt 2");
    CHECK(dm_calculate_gain("selu", 0, 0, &g) == 0 && g == 0.75, "selu 3/4");
    CHECK(dm_calculate_gain("leaky_relu", 0, 0, &g) == 0, "leaky_relu default");
    CHECK_NEAR(g, 1.4141428569978354, 1e-15, "leaky_relu default slope 0.01");
    CHECK(dm_calculate_gain("leaky_relu", 0.2, 1, &g) == 0, "leaky_relu 0.2");
    CHECK_NEAR(g, 1.3867504905630728, 1e-15, "leaky_relu slope 0.2");
    CHECK(dm_calculate_gain("leaky_relu", 0, 1, &g) == 0 && g == sqrt(2.0), "leaky_relu 0");
    CHECK(dm_calculate_gain("leaky_relu", sqrt(5.0), 1, &g) == 0, "leaky_relu sqrt 5");
    CHECK_NEAR(g, sqrt(1.0 / 3), 1e-15, "leaky_relu sqrt(5): Linear's gain");
    CHECK_ERR(dm_calculate_gain("foo", 0, 0, &g), "calculate_gain: unsupported nonlinearity 'foo'");
    CHECK_ERR(dm_calculate_gain("Tanh", 0, 0, &g),
              "calculate_gain: unsupported nonlinearity 'Tanh'");
}

static void test_fans(void)
{
    int64_t fi = -1, fo = -1;
    dm_tensor *lin = new2(7, 3);                          /* Linear(3, 7) weight */
    CHECK(dm_fans("x", lin, &fi, &fo) == 0 && fi == 3 && fo == 7, "linear [out x in]");
    dm_tensor *conv = dm_tensor_zeros(4, (int64_t[]){ 16, 8, 3, 5 });
    CHECK(dm_fans("x", conv, &fi, &fo) == 0 && fi == 8 * 15 && fo == 16 * 15,
          "conv [o x i x kh x kw]");
    dm_tensor *c1 = dm_tensor_zeros(3, (int64_t[]){ 4, 2, 7 });
    CHECK(dm_fans("x", c1, &fi, &fo) == 0 && fi == 14 && fo == 28, "conv1d");
    dm_tensor *v = dm_tensor_zeros(1, (int64_t[]){ 5 });
    CHECK_ERR(dm_fans("xavier_uniform_", v, &fi, &fo),
              "xavier_uniform_: fan in and fan out can not be computed for tensor with fewer "
              "than 2 dimensions, got [5]");
    dm_tensor *s = dm_tensor_scalar(1);
    CHECK_ERR(dm_init_xavier_normal_(s, 1, NULL),
              "xavier_normal_: fan in and fan out can not be computed for tensor with fewer "
              "than 2 dimensions, got []");
    CHECK_ERR(dm_init_kaiming_uniform_(v, 0, NULL, NULL, NULL),
              "kaiming_uniform_: fan in and fan out can not be computed for tensor with fewer "
              "than 2 dimensions, got [5]");
    CHECK_ERR(dm_init_lecun_normal_(v, NULL),
              "lecun_normal_: fan in and fan out can not be computed for tensor with fewer "
              "than 2 dimensions, got [5]");
    dm_tensor_release(lin);
    dm_tensor_release(conv);
    dm_tensor_release(c1);
    dm_tensor_release(v);
    dm_tensor_release(s);
}

/* ---- erfinv ----------------------------------------------------------------------------- */

static void test_erfinv(void)
{
    /* mpmath at 40 digits (torch.erfinv in float64 agrees to 1e-15 up to 0.999 and then
       drifts: 5.04202912791571 at 1 - 1e-12, 5.863948532247121 at 1 - 2^-53) */
    static const double ref[][2] = {
        { 0.5, 0.476936276204469873 }, { 0.9, 1.16308715367667416 },
        { 0.999, 2.32675376551352449 }, { -0.3, -0.272462714726754345 },
        { 0.001, 0.000886227157466552123 }, { 0.999999, 3.45891073727549878 },
        { 0.999999999999, 5.04203189857269613 }, { 0.9999999999999999, 5.86358474875516793 },
        { 1e-10, 8.86226925452758046e-11 }, { 0.7, 0.732869077959216785 },
        { -0.9999, -2.75106390571207969 },
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "erfinv(%.17g)", ref[i][0]);
        CHECK_NEAR(dm_erfinv(ref[i][0]), ref[i][1], 1e-14, msg);
    }
    double worst = 0;
    for (int k = -999; k <= 999; k++) {
        double x = k / 1000.0;
        double e = fabs(erf(dm_erfinv(x)) - x);
        if (e > worst) worst = e;
    }
    CHECK(worst < 4e-16, "erf(erfinv(x)) = x on a grid");
    CHECK(dm_erfinv(1) == INFINITY && dm_erfinv(-1) == -INFINITY, "erfinv(+-1) = +-inf");
    CHECK(isnan(dm_erfinv(1.5)) && isnan(dm_erfinv(NAN)), "erfinv outside [-1, 1] is nan");
    CHECK(dm_erfinv(0) == 0 && dm_erfinv(-1e-300) < 0, "erfinv near 0");
    CHECK_NEAR(dm_erfinv(1e-300) / 1e-300, sqrt(PI) / 2, 1e-15, "erfinv(x) ~ sqrt(pi)/2 x");
}

/* ---- plain fills -------------------------------------------------------------------------- */

static void test_uniform_normal(void)
{
    dm_rng *g = dm_rng_new(1);
    dm_tensor *t = new2(1000, 1000);
    CHECK(dm_init_uniform_(t, -0.5, 2, g) == 0, "uniform_");
    check_uniform(t, -0.5, 2, "uniform_");
    CHECK(dm_init_uniform_(t, 3, 3, g) == 0 && stats_of(t).min == 3 && stats_of(t).max == 3,
          "uniform_ a == b");
    CHECK_ERR(dm_init_uniform_(t, 1, 0, g), "uniform_: expected a <= b, got a = 1, b = 0");
    CHECK(dm_init_normal_(t, 1, 3, g) == 0, "normal_");
    check_normal(t, 1, 3, "normal_");
    CHECK_ERR(dm_init_normal_(t, 0, -1, g), "normal_: std must be non-negative, got -1");
    CHECK(dm_init_constant_(t, 0.25f) == 0 && stats_of(t).min == 0.25f &&
          stats_of(t).max == 0.25f, "constant_");
    dm_tensor_release(t);
    dm_rng_free(g);
}

/* mean and std of N(mu, sigma^2) truncated to [a, b] */
static void trunc_moments(double mu, double sigma, double a, double b, double *m, double *sd)
{
    double al = (a - mu) / sigma, be = (b - mu) / sigma;
    double pa = exp(-al * al / 2) / sqrt(2 * PI), pb = exp(-be * be / 2) / sqrt(2 * PI);
    double z = (erf(be / SQRT2) - erf(al / SQRT2)) / 2;
    double r = (pa - pb) / z;
    *m = mu + sigma * r;
    *sd = sigma * sqrt(1 + (al * pa - be * pb) / z - r * r);
}

static void test_trunc_normal(void)
{
    dm_rng *g = dm_rng_new(2);
    dm_tensor *t = new2(1000, 1000);
    static const double cases[][4] = {    /* mean, std, a, b */
        { 0, 1, -2, 2 }, { 1, 2, 0, 3 }, { 0, 0.02, -0.04, 0.04 }, { 0, 1, 0.5, 10 },
        { -1, 0.5, -5, -1.2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double mu = cases[i][0], sg = cases[i][1], a = cases[i][2], b = cases[i][3], m, sd;
        char msg[120];
        snprintf(msg, sizeof msg, "trunc_normal_(%g, %g, %g, %g)", mu, sg, a, b);
        CHECK(dm_init_trunc_normal_(t, mu, sg, a, b, g) == 0, msg);
        trunc_moments(mu, sg, a, b, &m, &sd);
        stats s = stats_of(t);
        CHECK(s.min >= (float)a && s.max <= (float)b, msg);
        /* the sample reaches each end unless the density there is negligible */
        if (fabs(a - mu) <= 3 * sg) CHECK(s.min < a + 0.01 * (b - a), msg);
        if (fabs(b - mu) <= 3 * sg) CHECK(s.max > b - 0.01 * (b - a), msg);
        CHECK(fabs(s.mean - m) < 6 * sd / 1000 + 1e-7, msg);
        CHECK_NEAR(s.std / sd, 1, 0.01, msg);
    }
    CHECK_ERR(dm_init_trunc_normal_(t, 0, 0, -2, 2, g),
              "trunc_normal_: std must be positive, got 0");
    CHECK_ERR(dm_init_trunc_normal_(t, 0, 1, 2, -2, g),
              "trunc_normal_: expected a <= b, got a = 2, b = -2");
    dm_tensor_release(t);
    dm_rng_free(g);
}

/* a view of every other row of a [2r x c] tensor, transposed: [c x r], non-contiguous;
   writes through it must touch only its elements */
static void test_noncontiguous(void)
{
    dm_tensor *base = dm_tensor_full(2, (int64_t[]){ 400, 300 }, 7.0f);
    dm_tensor *v = dm_tensor_alias(base, 2, (int64_t[]){ 300, 200 }, (int64_t[]){ 1, 600 }, 0);
    CHECK(!dm_is_contiguous(v), "view is non-contiguous");
    dm_rng *g1 = dm_rng_new(5), *g2 = dm_rng_new(5);
    dm_tensor *c = new2(300, 200);
    /* each initialiser with the same seed on the view and on a contiguous tensor */
    for (int k = 0; k < 8; k++) {
        int r1, r2;
        switch (k) {
        case 0: r1 = dm_init_uniform_(v, -1, 1, g1); r2 = dm_init_uniform_(c, -1, 1, g2); break;
        case 1: r1 = dm_init_normal_(v, 0, 1, g1); r2 = dm_init_normal_(c, 0, 1, g2); break;
        case 2: r1 = dm_init_trunc_normal_(v, 0, 1, -2, 2, g1);
                r2 = dm_init_trunc_normal_(c, 0, 1, -2, 2, g2); break;
        case 3: r1 = dm_init_xavier_uniform_(v, 1, g1);
                r2 = dm_init_xavier_uniform_(c, 1, g2); break;
        case 4: r1 = dm_init_kaiming_normal_(v, 0, "fan_out", "relu", g1);
                r2 = dm_init_kaiming_normal_(c, 0, "fan_out", "relu", g2); break;
        case 5: r1 = dm_init_orthogonal_(v, 1, g1); r2 = dm_init_orthogonal_(c, 1, g2); break;
        case 6: r1 = dm_init_sparse_(v, 0.3, 1, g1); r2 = dm_init_sparse_(c, 0.3, 1, g2); break;
        default: r1 = dm_init_eye_(v); r2 = dm_init_eye_(c); break;
        }
        char msg[80];
        snprintf(msg, sizeof msg, "initialiser %d: view equals contiguous", k);
        CHECK(r1 == 0 && r2 == 0 && tu_same_bits(v, c), msg);
    }
    CHECK(dm_init_lecun_uniform_(v, g1) == 0 && dm_init_lecun_uniform_(c, g2) == 0 &&
          tu_same_bits(v, c), "lecun_uniform_ view");
    /* the odd rows of base were never touched */
    int untouched = 1;
    for (int64_t i = 1; i < 400; i += 2)
        for (int64_t j = 0; j < 300; j++)
            if (dm_get(base, (int64_t[]){ i, j }) != 7.0f) untouched = 0;
    CHECK(untouched, "writes stay inside the view");
    CHECK(dm_init_constant_(v, 2) == 0 && dm_get(base, (int64_t[]){ 0, 5 }) == 2 &&
          dm_get(base, (int64_t[]){ 1, 5 }) == 7, "constant_ through a view");
    dm_rng_free(g1);
    dm_rng_free(g2);
    dm_tensor_release(c);
    dm_tensor_release(v);
    dm_tensor_release(base);
}

/* ---- structured --------------------------------------------------------------------------- */

static void test_eye(void)
{
    int64_t shapes[][2] = { { 3, 5 }, { 5, 3 }, { 4, 4 }, { 0, 3 } };
    for (int k = 0; k < 4; k++) {
        dm_tensor *t = dm_tensor_full(2, shapes[k], 9.0f);
        CHECK(dm_init_eye_(t) == 0, "eye_");
        int ok = 1;
        for (int64_t i = 0; i < shapes[k][0]; i++)
            for (int64_t j = 0; j < shapes[k][1]; j++)
                if (dm_get(t, (int64_t[]){ i, j }) != (i == j ? 1.0f : 0.0f)) ok = 0;
        CHECK(ok, "eye_ values");
        dm_tensor_release(t);
    }
    dm_tensor *t3 = dm_tensor_zeros(3, (int64_t[]){ 2, 3, 4 });
    CHECK_ERR(dm_init_eye_(t3),
              "eye_: only tensors with 2 dimensions are supported, got [2 x 3 x 4]");
    dm_tensor_release(t3);
}

/* dirac_ by PyTorch's loops */
static void dirac_ref(float *w, int nd, const int64_t *sh, int64_t groups)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= sh[d];
    memset(w, 0, (size_t)n * sizeof *w);
    int64_t per = sh[0] / groups, mind = per < sh[1] ? per : sh[1];
    for (int64_t gr = 0; gr < groups; gr++)
        for (int64_t d = 0; d < mind; d++) {
            int64_t idx[5] = { gr * per + d, d, 0, 0, 0 };
            for (int k = 2; k < nd; k++) idx[k] = sh[k] / 2;
            int64_t off = 0;
            for (int k = 0; k < nd; k++) off = off * sh[k] + idx[k];
            w[off] = 1;
        }
}

static void test_dirac(void)
{
    struct { int nd; int64_t sh[5]; int64_t groups; } cases[] = {
        { 3, { 4, 3, 5 }, 1 }, { 3, { 2, 5, 4 }, 1 }, { 4, { 6, 4, 3, 3 }, 2 },
        { 4, { 6, 2, 2, 4 }, 3 }, { 5, { 3, 3, 3, 2, 5 }, 1 }, { 4, { 8, 8, 1, 1 }, 4 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dm_tensor *t = dm_tensor_full(cases[c].nd, cases[c].sh, 5.0f);
        int64_t n = dm_numel(t);
        float *ref = malloc((size_t)n * sizeof *ref), *got = malloc((size_t)n * sizeof *got);
        dirac_ref(ref, cases[c].nd, cases[c].sh, cases[c].groups);
        CHECK(dm_init_dirac_(t, cases[c].groups) == 0, "dirac_");
        dm_to_buffer(t, got);
        CHECK(memcmp(ref, got, (size_t)n * sizeof *ref) == 0, "dirac_ values");
        int64_t ones = 0;
        for (int64_t i = 0; i < n; i++) ones += got[i] == 1;
        int64_t per = cases[c].sh[0] / cases[c].groups;
        CHECK(ones == cases[c].groups * (per < cases[c].sh[1] ? per : cases[c].sh[1]),
              "dirac_ count of ones");
        free(ref);
        free(got);
        dm_tensor_release(t);
    }
    /* a [4 x 4 x 3] conv weight from dirac_ passes a signal through unchanged: w[o, i, 1]
       (the centre tap) is the identity */
    dm_tensor *t = dm_tensor_zeros(3, (int64_t[]){ 4, 4, 3 });
    dm_init_dirac_(t, 1);
    int ok = 1;
    for (int64_t o = 0; o < 4; o++)
        for (int64_t i = 0; i < 4; i++)
            for (int64_t k = 0; k < 3; k++)
                if (dm_get(t, (int64_t[]){ o, i, k }) != (o == i && k == 1)) ok = 0;
    CHECK(ok, "dirac_ centre tap identity");
    CHECK_ERR(dm_init_dirac_(t, 3), "dirac_: dim 1 (size 4) must be divisible by groups (3)");
    CHECK_ERR(dm_init_dirac_(t, 0), "dirac_: groups must be positive, got 0");
    dm_tensor_release(t);
    dm_tensor *t2 = new2(3, 3);
    CHECK_ERR(dm_init_dirac_(t2, 1),
              "dirac_: only tensors with 3, 4, or 5 dimensions are supported, got [3 x 3]");
    dm_tensor_release(t2);
}

/* ---- fan-scaled ---------------------------------------------------------------------------- */

static void test_xavier_kaiming(void)
{
    dm_rng *g = dm_rng_new(3);
    dm_tensor *w = new2(500, 800);                /* fan_in 800, fan_out 500 */
    char what[120];

    CHECK(dm_init_xavier_uniform_(w, 2, g) == 0, "xavier_uniform_");
    check_uniform(w, -2 * sqrt(6.0 / 1300), 2 * sqrt(6.0 / 1300), "xavier_uniform_ gain 2");
    CHECK(dm_init_xavier_normal_(w, 1, g) == 0, "xavier_normal_");
    check_normal(w, 0, sqrt(2.0 / 1300), "xavier_normal_");

    dm_tensor *conv = dm_tensor_zeros(4, (int64_t[]){ 64, 32, 5, 5 });   /* 800, 1600 */
    CHECK(dm_init_xavier_uniform_(conv, 1, g) == 0, "xavier_uniform_ conv");
    check_uniform(conv, -sqrt(6.0 / 2400), sqrt(6.0 / 2400), "xavier_uniform_ conv");

    /* kaiming: (a, mode, nonlinearity) -> gain and fan */
    struct { double a; const char *mode, *nl; double gain; int fan_out; } ks[] = {
        { 0, NULL, NULL, SQRT2, 0 },                    /* defaults: leaky_relu, a = 0 */
        { sqrt(5.0), "fan_in", "leaky_relu", sqrt(1.0 / 3), 0 },  /* nn.Linear's init */
        { 0, "fan_out", "relu", SQRT2, 1 },
        { 0.2, "FAN_OUT", "leaky_relu", sqrt(2 / 1.04), 1 },      /* mode ignores case */
        { 0, "fan_in", "tanh", 5.0 / 3, 0 },
        { 7, "fan_in", "linear", 1, 0 },                          /* a only for leaky_relu */
    };
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
        double fan = ks[k].fan_out ? 500 : 800;
        double std = ks[k].gain / sqrt(fan);
        snprintf(what, sizeof what, "kaiming_uniform_(a=%g, %s, %s)", ks[k].a,
                 ks[k].mode ? ks[k].mode : "default", ks[k].nl ? ks[k].nl : "default");
        CHECK(dm_init_kaiming_uniform_(w, ks[k].a, ks[k].mode, ks[k].nl, g) == 0, what);
        check_uniform(w, -sqrt(3.0) * std, sqrt(3.0) * std, what);
        snprintf(what, sizeof what, "kaiming_normal_(a=%g, %s, %s)", ks[k].a,
                 ks[k].mode ? ks[k].mode : "default", ks[k].nl ? ks[k].nl : "default");
        CHECK(dm_init_kaiming_normal_(w, ks[k].a, ks[k].mode, ks[k].nl, g) == 0, what);
        check_normal(w, 0, std, what);
    }
    CHECK(dm_init_kaiming_normal_(conv, 0, "fan_out", "relu", g) == 0, "kaiming_normal_ conv");
    check_normal(conv, 0, SQRT2 / sqrt(1600.0), "kaiming_normal_ conv fan_out");

    CHECK(dm_init_lecun_normal_(w, g) == 0, "lecun_normal_");
    check_normal(w, 0, 1 / sqrt(800.0), "lecun_normal_");
    CHECK(dm_init_lecun_uniform_(conv, g) == 0, "lecun_uniform_");
    check_uniform(conv, -sqrt(3.0 / 800), sqrt(3.0 / 800), "lecun_uniform_ conv");

    CHECK_ERR(dm_init_kaiming_normal_(w, 0, "fan", "relu", g),
              "kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan'");
    CHECK_ERR(dm_init_kaiming_uniform_(w, 0, "fan_in", "foo", g),
              "kaiming_uniform_: unsupported nonlinearity 'foo'");
    dm_tensor_release(conv);
    dm_tensor_release(w);
    dm_rng_free(g);
}

/* zero-element tensors are left alone, with no division by a zero fan */
static void test_zero_element(void)
{
    dm_tensor *a = new2(0, 3), *b = new2(0, 0), *c = dm_tensor_zeros(1, (int64_t[]){ 0 });
    dm_tensor *d = dm_tensor_zeros(4, (int64_t[]){ 4, 0, 3, 3 });
    dm_tensor *ts[] = { a, b, d };
    for (int k = 0; k < 3; k++) {
        dm_tensor *t = ts[k];
        CHECK(dm_init_xavier_uniform_(t, 1, NULL) == 0, "xavier_uniform_ zero-element");
        CHECK(dm_init_xavier_normal_(t, 1, NULL) == 0, "xavier_normal_ zero-element");
        CHECK(dm_init_kaiming_uniform_(t, 0, "fan_in", "relu", NULL) == 0, "kaiming zero");
        CHECK(dm_init_kaiming_normal_(t, 0, "fan_out", "relu", NULL) == 0, "kaiming zero");
        CHECK(dm_init_lecun_normal_(t, NULL) == 0 && dm_init_lecun_uniform_(t, NULL) == 0,
              "lecun zero-element");
        CHECK(dm_init_orthogonal_(t, 1, NULL) == 0, "orthogonal_ zero-element");
        CHECK(dm_init_uniform_(t, 0, 1, NULL) == 0 && dm_init_normal_(t, 0, 1, NULL) == 0 &&
              dm_init_trunc_normal_(t, 0, 1, -2, 2, NULL) == 0, "fills zero-element");
    }
    CHECK(dm_init_sparse_(a, 0.5, 0.01, NULL) == 0 && dm_init_sparse_(b, 0.5, 0.01, NULL) == 0,
          "sparse_ zero-element");
    CHECK(dm_init_eye_(b) == 0 && dm_init_dirac_(d, 2) == 0, "structured zero-element");
    /* as PyTorch: kaiming returns before computing fans, xavier does not */
    CHECK(dm_init_kaiming_normal_(c, 0, NULL, NULL, NULL) == 0, "kaiming_normal_ on [0]");
    CHECK_ERR(dm_init_xavier_uniform_(c, 1, NULL),
              "xavier_uniform_: fan in and fan out can not be computed for tensor with fewer "
              "than 2 dimensions, got [0]");
    CHECK_ERR(dm_init_kaiming_normal_(c, 0, "fan", NULL, NULL),
              "kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan'");
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor_release(c);
    dm_tensor_release(d);
}

/* ---- orthogonal ---------------------------------------------------------------------------- */

/* worst |(W^T W or W W^T) - gain^2 I| over the smaller Gram matrix of W [rows x cols] */
static double gram_error(const dm_tensor *t, int64_t rows, int64_t cols, double gain)
{
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    dm_to_buffer(t, w);
    double worst = 0;
    if (rows >= cols) {          /* columns orthonormal */
        for (int64_t p = 0; p < cols; p++)
            for (int64_t q = p; q < cols; q++) {
                double s = 0;
                for (int64_t i = 0; i < rows; i++) s += (double)w[i * cols + p] * w[i * cols + q];
                double e = fabs(s - (p == q ? gain * gain : 0));
                if (e > worst) worst = e;
            }
    } else {                     /* rows orthonormal */
        for (int64_t p = 0; p < rows; p++)
            for (int64_t q = p; q < rows; q++) {
                double s = 0;
                for (int64_t j = 0; j < cols; j++) s += (double)w[p * cols + j] * w[q * cols + j];
                double e = fabs(s - (p == q ? gain * gain : 0));
                if (e > worst) worst = e;
            }
    }
    free(w);
    return worst;
}

/* R = (tall Q)^T (tall A) must be upper triangular with a positive diagonal, A being the
   normal draws orthogonal_ made (the same seed through dm_normal_ gives the same draws) */
static int r_is_positive_triangular(const dm_tensor *t, int64_t rows, int64_t cols,
                                    uint64_t seed)
{
    dm_tensor *a = new2(rows, cols);
    dm_rng *g = dm_rng_new(seed);
    dm_normal_(a, 0, 1, g);
    dm_rng_free(g);
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    float *x = malloc((size_t)(rows * cols) * sizeof *x);
    dm_to_buffer(t, w);
    dm_to_buffer(a, x);
    int wide = rows < cols;
    int64_t m = wide ? cols : rows, n = wide ? rows : cols;
    int ok = 1;
    /* tall Q[i][p] and A[i][q], i < m, p, q < n */
    for (int64_t p = 0; p < n; p++)
        for (int64_t q = 0; q < n; q++) {
            double s = 0;
            for (int64_t i = 0; i < m; i++) {
                double qv = wide ? w[p * cols + i] : w[i * cols + p];
                double av = wide ? x[q * cols + i] : x[i * cols + q];
                s += qv * av;
            }
            if (p > q && fabs(s) > 1e-3) ok = 0;
            if (p == q && !(s > 0)) ok = 0;
        }
    free(w);
    free(x);
    dm_tensor_release(a);
    return ok;
}

static void test_orthogonal(void)
{
    struct { int nd; int64_t sh[4]; int64_t rows, cols; double gain; } cases[] = {
        { 2, { 300, 200 }, 300, 200, 1 },          /* tall */
        { 2, { 200, 300 }, 200, 300, 1 },          /* wide */
        { 2, { 128, 128 }, 128, 128, 1 },          /* square */
        { 2, { 150, 90 }, 150, 90, 2 },            /* gain */
        { 4, { 16, 3, 5, 5 }, 16, 75, 1 },         /* conv weight, flattened */
        { 2, { 1, 40 }, 1, 40, 1 },
        { 2, { 40, 1 }, 40, 1, 1 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char msg[120];
        dm_tensor *t = dm_tensor_zeros(cases[c].nd, cases[c].sh);
        dm_rng *g = dm_rng_new(100 + c);
        snprintf(msg, sizeof msg, "orthogonal_ [%lld x %lld] gain %g",
                 (long long)cases[c].rows, (long long)cases[c].cols, cases[c].gain);
        CHECK(dm_init_orthogonal_(t, cases[c].gain, g) == 0, msg);
        double err = gram_error(t, cases[c].rows, cases[c].cols, cases[c].gain);
        CHECK(err < 1e-4 * cases[c].gain * cases[c].gain, msg);
        if (cases[c].gain == 1)
            CHECK(r_is_positive_triangular(t, cases[c].rows, cases[c].cols, 100 + c), msg);
        dm_rng_free(g);
        dm_tensor_release(t);
    }
    dm_tensor *s = new2(128, 128);
    dm_rng *g = dm_rng_new(9);
    dm_init_orthogonal_(s, 1, g);
    CHECK(gram_error(s, 128, 128, 1) < 1e-4, "square: W^T W = I");
    /* and W W^T = I: the transposed view is orthogonal too */
    dm_tensor *st = dm_transpose(s, 0, 1);
    dm_tensor *sc = dm_contiguous(st);
    CHECK(gram_error(sc, 128, 128, 1) < 1e-4, "square: W W^T = I");
    dm_tensor_release(sc);
    dm_tensor_release(st);
    dm_tensor_release(s);
    dm_rng_free(g);
    dm_tensor *v = dm_tensor_zeros(1, (int64_t[]){ 5 });
    CHECK_ERR(dm_init_orthogonal_(v, 1, NULL),
              "orthogonal_: only tensors with 2 or more dimensions are supported, got [5]");
    dm_tensor_release(v);
}

/* ---- sparse ---------------------------------------------------------------------------------- */

static void test_sparse(void)
{
    dm_rng *g = dm_rng_new(4);
    struct { int64_t rows, cols; double sparsity; int64_t zeros; } cases[] = {
        { 200, 300, 0.1, 20 }, { 10, 500, 0.3, 3 },
        { 100, 300, 0.07, 8 },      /* 0.07 * 100 is 7.000000000000001: 8, as in PyTorch */
        { 50, 20, 0, 0 }, { 50, 20, 1, 50 }, { 7, 30, 0.5, 4 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char msg[120];
        snprintf(msg, sizeof msg, "sparse_ [%lld x %lld] %g", (long long)cases[c].rows,
                 (long long)cases[c].cols, cases[c].sparsity);
        dm_tensor *t = new2(cases[c].rows, cases[c].cols);
        CHECK(dm_init_sparse_(t, cases[c].sparsity, 0.01, g) == 0, msg);
        int ok = 1;
        int64_t *hits = calloc((size_t)cases[c].rows, sizeof *hits);
        double sq = 0;
        int64_t nz = 0;
        for (int64_t j = 0; j < cases[c].cols; j++) {
            int64_t zeros = 0;
            for (int64_t i = 0; i < cases[c].rows; i++) {
                float x = dm_get(t, (int64_t[]){ i, j });
                if (x == 0) { zeros++; hits[i]++; }
                else { sq += (double)x * x; nz++; }
            }
            if (zeros != cases[c].zeros) ok = 0;
        }
        CHECK(ok, msg);
        if (nz > 1000) CHECK_NEAR(sqrt(sq / (double)nz) / 0.01, 1, 0.02, "sparse_ std");
        if (cases[c].zeros > 0 && cases[c].zeros < cases[c].rows) {
            /* the zeros' rows are spread evenly: every row was picked about equally often */
            double expect = (double)cases[c].cols * cases[c].zeros / cases[c].rows;
            int even = 1;
            for (int64_t i = 0; i < cases[c].rows; i++)
                if (fabs(hits[i] - expect) > 6 * sqrt(expect) + 1) even = 0;
            CHECK(even, "sparse_ zero rows uniform");
        }
        free(hits);
        dm_tensor_release(t);
    }
    dm_tensor *t3 = dm_tensor_zeros(3, (int64_t[]){ 2, 3, 4 }), *t2 = new2(4, 4);
    CHECK_ERR(dm_init_sparse_(t3, 0.1, 0.01, g),
              "sparse_: only tensors with 2 dimensions are supported, got [2 x 3 x 4]");
    CHECK_ERR(dm_init_sparse_(t2, 1.5, 0.01, g), "sparse_: sparsity must be in [0, 1], got 1.5");
    CHECK_ERR(dm_init_sparse_(t2, 0.5, -1, g), "sparse_: std must be non-negative, got -1");
    dm_tensor_release(t3);
    dm_tensor_release(t2);
    dm_rng_free(g);
}

/* ---- seeds and autograd ---------------------------------------------------------------------- */

static int run_random(int k, dm_tensor *t, dm_rng *g)
{
    switch (k) {
    case 0: return dm_init_kaiming_normal_(t, 0, "fan_in", "relu", g);
    case 1: return dm_init_orthogonal_(t, 1, g);
    case 2: return dm_init_sparse_(t, 0.2, 0.5, g);
    case 3: return dm_init_trunc_normal_(t, 0, 1, -2, 2, g);
    case 4: return dm_init_xavier_uniform_(t, 1, g);
    case 5: return dm_init_lecun_normal_(t, g);
    default: return dm_init_uniform_(t, -1, 1, g);
    }
}

static void test_determinism(void)
{
    dm_tensor *a = new2(30, 20), *b = new2(30, 20);
    for (int k = 0; k < 7; k++) {
        char msg[80];
        dm_rng *g1 = dm_rng_new(42), *g2 = dm_rng_new(42);
        snprintf(msg, sizeof msg, "initialiser %d: same seed, same values", k);
        CHECK(run_random(k, a, g1) == 0 && run_random(k, b, g2) == 0 && tu_same_bits(a, b), msg);
        dm_rng_seed(g2, 43);
        run_random(k, b, g2);
        snprintf(msg, sizeof msg, "initialiser %d: another seed, other values", k);
        CHECK(!tu_same_bits(a, b), msg);
        dm_rng_free(g1);
        dm_rng_free(g2);
    }
    /* NULL is the default generator */
    dm_rng *d = dm_default_rng();
    dm_rng_seed(d, 7);
    dm_init_kaiming_uniform_(a, 0, NULL, NULL, NULL);
    dm_rng_seed(d, 7);
    dm_init_kaiming_uniform_(b, 0, NULL, NULL, d);
    CHECK(tu_same_bits(a, b), "NULL generator is the default");
    dm_tensor_release(a);
    dm_tensor_release(b);
}

/* parameters are leaves that require grad: initialising them needs no no_grad and records
   nothing */
static void test_leaf_requires_grad(void)
{
    dm_tensor *w = new2(20, 10);
    dm_set_requires_grad(w, 1);
    int prev = dm_set_grad_enabled(1);
    CHECK(dm_init_kaiming_uniform_(w, sqrt(5.0), "fan_in", "leaky_relu", NULL) == 0,
          "kaiming_uniform_ on a leaf requiring grad");
    CHECK(dm_init_orthogonal_(w, 1, NULL) == 0 && dm_init_constant_(w, 0) == 0 &&
          dm_init_eye_(w) == 0, "other initialisers on it");
    CHECK(dm_is_leaf(w) && w->grad_fn == NULL && w->requires_grad, "still a leaf");
    dm_set_grad_enabled(prev);
    dm_tensor_release(w);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_gain();
    test_fans();
    test_erfinv();
    test_uniform_normal();
    test_trunc_normal();
    test_noncontiguous();
    test_eye();
    test_dirac();
    test_xavier_kaiming();
    test_zero_element();
    test_orthogonal();
    test_sparse();
    test_determinism();
    test_leaf_requires_grad();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_init");
}
