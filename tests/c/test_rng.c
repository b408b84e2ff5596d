/*
 * test_rng.c -- the random number generator and the random fills (core/rng.c).
 *
 * The known-answer test checks the documented algorithm, not just the code against itself:
 * a second, deliberately plain implementation of the text at the top of rng.c lives below
 * (ref_*), and both it and dm_rng_* must reproduce the hard-coded outputs.
 */
#include "testutil.h"

/* ---- reference implementation, written from rng.c's comment ------------------------- */

typedef struct {
    uint64_t s;
    int cached;
    double spare;
} ref_rng;

static void ref_seed(ref_rng *r, uint64_t seed) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z ^= z >> 30; z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27; z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    uint64_t s = 1442695040888963407ULL;                 /* 0 * MULT + INC */
    s += z;
    r->s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    r->cached = 0;
}

static uint32_t ref_u32(ref_rng *r) {
    uint64_t old = r->s;
    r->s = old * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t x = (uint32_t)((old ^ (old >> 18)) >> 27);
    unsigned rot = (unsigned)(old >> 59);
    /* rotate right done by doubling the word instead of two shifts */
    uint64_t xx = ((uint64_t)x << 32) | x;
    return (uint32_t)(xx >> rot);
}

static float ref_uniformf(ref_rng *r) {
    return (float)ldexp((double)(ref_u32(r) >> 8), -24);
}

static double ref_uniform(ref_rng *r) {
    uint64_t hi = ref_u32(r) >> 5, lo = ref_u32(r) >> 6;
    return ldexp((double)((hi << 26) | lo), -53);
}

static double ref_normal(ref_rng *r) {
    if (r->cached) { r->cached = 0; return r->spare; }
    double u1 = 1.0 - ref_uniform(r), u2 = ref_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 2.0 * 3.14159265358979323846 * u2;
    r->spare = rad * sin(th);
    r->cached = 1;
    return rad * cos(th);
}

static uint64_t ref_below(ref_rng *r, uint64_t n) {
    if (n == 0) return 0;
    if (n <= 4294967296ULL) {
        uint64_t t = (4294967296ULL - n) % n;
        for (;;) {
            uint64_t m = (uint64_t)ref_u32(r) * n;
            if ((m & 0xffffffffULL) >= t) return m >> 32;
        }
    }
    uint64_t t = (UINT64_MAX - n + 1) % n;
    for (;;) {
        uint64_t hi = ref_u32(r);
        uint64_t x = hi * 4294967296ULL + ref_u32(r);
        if (x >= t) return x % n;
    }
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_known_answers(void) {
    /* first five dm_rng_u32 outputs for seed 42 (also reproduced by a Python port) */
    static const uint32_t kat42[5] = {
        3992575617u, 663484459u, 616330932u, 3956720663u, 2621497582u
    };
    dm_rng *g = dm_rng_new(42);
    ref_rng r;
    ref_seed(&r, 42);
    for (int i = 0; i < 5; i++) {
        uint32_t a = dm_rng_u32(g), b = ref_u32(&r);
        CHECKF(a == kat42[i], "seed 42 draw %d: dm_rng_u32 %u, expected %u", i, a, kat42[i]);
        CHECKF(b == kat42[i], "seed 42 draw %d: reference %u, expected %u", i, b, kat42[i]);
    }

    /* the implementation and the reference agree over long runs and awkward seeds */
    static const uint64_t seeds[] = { 0, 1, 42, 0x8000000000000000ULL, UINT64_MAX };
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        dm_rng_seed(g, seeds[s]);
        ref_seed(&r, seeds[s]);
        int bad = -1;
        for (int i = 0; i < 10000 && bad < 0; i++)
            if (dm_rng_u32(g) != ref_u32(&r)) bad = i;
        CHECKF(bad < 0, "seed %llu: u32 differs from reference at draw %d",
               (unsigned long long)seeds[s], bad);

        int badf = -1, badd = -1, badn = -1, badb = -1;
        for (int i = 0; i < 2000; i++) {
            if (dm_rng_uniformf(g) != ref_uniformf(&r) && badf < 0) badf = i;
            if (dm_rng_uniform(g) != ref_uniform(&r) && badd < 0) badd = i;
            if (dm_rng_normal(g) != ref_normal(&r) && badn < 0) badn = i;
            /* n cycles through small, 2^32 and huge bounds */
            static const uint64_t ns[] = { 0, 1, 2, 3, 10, 1000003, 4294967295ULL,
                                           4294967296ULL, 4294967297ULL,
                                           0xc000000000000000ULL, UINT64_MAX };
            uint64_t n = ns[i % (sizeof ns / sizeof ns[0])];
            if (dm_rng_below(g, n) != ref_below(&r, n) && badb < 0) badb = i;
        }
        CHECKF(badf < 0, "seed %llu: uniformf differs from reference at %d",
               (unsigned long long)seeds[s], badf);
        CHECKF(badd < 0, "seed %llu: uniform differs from reference at %d",
               (unsigned long long)seeds[s], badd);
        CHECKF(badn < 0, "seed %llu: normal differs from reference at %d",
               (unsigned long long)seeds[s], badn);
        CHECKF(badb < 0, "seed %llu: below differs from reference at %d",
               (unsigned long long)seeds[s], badb);
    }
    dm_rng_free(g);
}

static void test_seeding(void) {
    dm_rng *a = dm_rng_new(1234), *b = dm_rng_new(1234);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= dm_rng_u32(a) == dm_rng_u32(b);
    CHECKF(same, "two generators seeded 1234 give different sequences");
    CHECKF(dm_rng_initial_seed(a) == 1234, "initial_seed: got %llu",
           (unsigned long long)dm_rng_initial_seed(a));

    /* reseeding restarts the sequence */
    dm_rng_seed(a, 1234);
    dm_rng_seed(b, 1234);
    uint32_t first = dm_rng_u32(a);
    for (int i = 0; i < 10; i++) dm_rng_u32(a);
    dm_rng_seed(a, 1234);
    CHECKF(dm_rng_u32(a) == first, "reseeding does not restart the sequence");

    /* neighbouring seeds give unrelated sequences */
    static const uint64_t pairs[][2] = { {0, 1}, {1, 2}, {42, 43}, {0, UINT64_MAX} };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        dm_rng_seed(a, pairs[p][0]);
        dm_rng_seed(b, pairs[p][1]);
        int equal = 0;
        for (int i = 0; i < 1000; i++) equal += dm_rng_u32(a) == dm_rng_u32(b);
        CHECKF(equal <= 2, "seeds %llu and %llu: %d of 1000 draws equal",
               (unsigned long long)pairs[p][0], (unsigned long long)pairs[p][1], equal);
    }
    CHECKF(dm_rng_initial_seed(b) == UINT64_MAX, "initial_seed after dm_rng_seed");

    /* seeding empties the Box-Muller cache */
    dm_rng_seed(a, 5);
    double n0 = dm_rng_normal(a);
    dm_rng_seed(a, 5);
    CHECKF(dm_rng_normal(a) == n0, "seeding does not clear the normal cache");

    dm_rng_free(a);
    dm_rng_free(b);
    dm_rng_free(NULL);
}

static void test_uniform_stats(void) {
    dm_rng *g = dm_rng_new(7);
    const int n = 1000000;
    double sum = 0, dsum = 0;
    int out = 0, dout = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        float u = dm_rng_uniformf(g);
        double d = dm_rng_uniform(g);
        out += !(u >= 0.0f && u < 1.0f);
        dout += !(d >= 0.0 && d < 1.0);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        sum += u;
        dsum += d;
    }
    CHECKF(out == 0, "uniformf: %d values outside [0, 1)", out);
    CHECKF(dout == 0, "uniform: %d values outside [0, 1)", dout);
    CHECKF(fabs(sum / n - 0.5) < 0.002, "uniformf mean %g", sum / n);
    CHECKF(fabs(dsum / n - 0.5) < 0.002, "uniform mean %g", dsum / n);
    CHECKF(lo < 1e-5f && hi > 1.0f - 1e-5f, "uniformf range [%g, %g]", lo, hi);
    dm_rng_free(g);
}

static void test_normal_stats(void) {
    dm_rng *g = dm_rng_new(11);
    const int n = 1000000;
    double sum = 0, sq = 0;
    int bad = 0, beyond3 = 0;
    for (int i = 0; i < n; i++) {
        double x = dm_rng_normal(g);
        bad += !isfinite(x);
        beyond3 += fabs(x) > 3.0;
        sum += x;
        sq += x * x;
    }
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    CHECKF(bad == 0, "normal: %d non-finite values", bad);
    CHECKF(fabs(mean) < 0.005, "normal mean %g", mean);
    CHECKF(fabs(sd - 1.0) < 0.005, "normal std %g", sd);
    /* P(|x| > 3) = 0.0027 */
    CHECKF(beyond3 > 2200 && beyond3 < 3200, "normal: %d of 1e6 beyond 3 sigma", beyond3);
    dm_rng_free(g);
}

/* chi-square over 10 buckets for below(n), bucket = value * 10 / n */
static double chi2_below(dm_rng *g, uint64_t n, int draws, int *outside) {
    long count[10] = {0};
    *outside = 0;
    for (int i = 0; i < draws; i++) {
        uint64_t v = dm_rng_below(g, n);
        if (v >= n) { (*outside)++; continue; }
        int b = (int)((double)v / (double)n * 10.0);
        if (b > 9) b = 9;
        count[b]++;
    }
    double e = draws / 10.0, chi2 = 0;
    for (int b = 0; b < 10; b++) chi2 += (count[b] - e) * (count[b] - e) / e;
    return chi2;
}

static void test_below(void) {
    dm_rng *g = dm_rng_new(3);
    int outside;
    /* 9 degrees of freedom: P(chi2 > 27.9) = 0.001 */
    double c = chi2_below(g, 10, 1000000, &outside);
    CHECKF(outside == 0 && c < 27.9, "below(10): chi2 %g, %d out of range", c, outside);
    /* 3 * 2^62: plain x % n would put half again as many values in the low third */
    c = chi2_below(g, 0xc000000000000000ULL, 1000000, &outside);
    CHECKF(outside == 0 && c < 27.9, "below(3*2^62): chi2 %g, %d out of range", c, outside);
    /* 3 * 2^30 on the 32-bit path, the same trap */
    c = chi2_below(g, 0xc0000000ULL, 1000000, &outside);
    CHECKF(outside == 0 && c < 27.9, "below(3*2^30): chi2 %g, %d out of range", c, outside);
    c = chi2_below(g, 4294967296ULL, 200000, &outside);
    CHECKF(outside == 0 && c < 27.9, "below(2^32): chi2 %g, %d out of range", c, outside);

    int ones = 0;
    for (int i = 0; i < 1000; i++) ones += dm_rng_below(g, 1) != 0;
    CHECKF(ones == 0, "below(1) returned nonzero %d times", ones);

    /* below(0) is 0 and draws nothing */
    dm_rng *h = dm_rng_new(3);
    dm_rng_seed(g, 3);
    CHECKF(dm_rng_below(g, 0) == 0, "below(0) != 0");
    CHECKF(dm_rng_u32(g) == dm_rng_u32(h), "below(0) consumed a draw");
    dm_rng_free(h);
    dm_rng_free(g);
}

static void test_state(void) {
    CHECKF(dm_rng_state_size() > 0, "state size 0");
    dm_rng *g = dm_rng_new(99);
    void *buf = malloc(dm_rng_state_size());

    /* an odd number of normals leaves the second Box-Muller value cached */
    dm_rng_normal(g);
    dm_rng_get_state(g, buf);
    double want[6];
    for (int i = 0; i < 6; i++) want[i] = dm_rng_normal(g);
    uint32_t want_u = dm_rng_u32(g);

    dm_rng_set_state(g, buf);
    int same = 1;
    for (int i = 0; i < 6; i++) same &= dm_rng_normal(g) == want[i];
    CHECKF(same, "state round trip: normals differ (Box-Muller cache lost?)");
    CHECKF(dm_rng_u32(g) == want_u, "state round trip: u32 differs");

    /* a blob moves a generator's state, seed included, into another generator */
    dm_rng *h = dm_rng_new(1);
    dm_rng_set_state(h, buf);
    CHECKF(dm_rng_normal(h) == want[0], "state copied to another generator: normal differs");
    CHECKF(dm_rng_initial_seed(h) == 99, "state copied: initial_seed %llu",
           (unsigned long long)dm_rng_initial_seed(h));

    /* the cached value is the sine half of the pair drawn before it */
    ref_rng r;
    ref_seed(&r, 99);
    double c0 = ref_normal(&r);
    double c1 = ref_normal(&r);
    dm_rng_seed(g, 99);
    CHECKF(dm_rng_normal(g) == c0 && dm_rng_normal(g) == c1, "normal pair order");

    free(buf);
    dm_rng_free(h);
    dm_rng_free(g);
}

static void test_default(void) {
    dm_rng *d = dm_default_rng();
    CHECKF(d != NULL && d == dm_default_rng(), "default generator is not one object");
    dm_rng_free(d);                 /* must be harmless */

    dm_rng_seed(d, 2024);
    dm_rng *g = dm_rng_new(2024);
    dm_tensor *a = dm_tensor_new(1, (int64_t[]){50});
    dm_tensor *b = dm_tensor_new(1, (int64_t[]){50});
    dm_uniform_(a, 0, 1, NULL);
    dm_uniform_(b, 0, 1, g);
    CHECKF(memcmp(dm_data(a), dm_data(b), 50 * sizeof(float)) == 0,
           "uniform_ with g NULL does not use the default generator");
    dm_rng_seed(d, 0);
    dm_rng_seed(g, 0);
    CHECKF(dm_rng_u32(d) == dm_rng_u32(g), "default generator reseeded with 0");
    CHECKF(dm_rng_initial_seed(d) == 0, "default initial_seed");
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_rng_free(g);
}

static void test_fills(void) {
    dm_rng *g = dm_rng_new(8), *h = dm_rng_new(8);
    dm_tensor *t = dm_tensor_new(2, (int64_t[]){40, 25});
    float *v = dm_data(t);

    CHECKF(dm_uniform_(t, -2.0, 3.0, g) == 0, "uniform_ returned nonzero");
    int bad = 0, order = 0;
    double sum = 0;
    for (int i = 0; i < 1000; i++) {
        bad += !(v[i] >= -2.0f && v[i] <= 3.0f);
        order += v[i] != (float)(-2.0 + 5.0 * (double)dm_rng_uniformf(h));
        sum += v[i];
    }
    CHECKF(bad == 0, "uniform_(-2, 3): %d values out of range", bad);
    CHECKF(order == 0, "uniform_: %d values differ from a + (b - a) * uniformf", order);
    CHECKF(fabs(sum / 1000 - 0.5) < 0.2, "uniform_(-2, 3) mean %g", sum / 1000);

    CHECKF(dm_normal_(t, 10.0, 0.5, g) == 0, "normal_ returned nonzero");
    order = 0;
    for (int i = 0; i < 1000; i++)
        order += v[i] != (float)(10.0 + 0.5 * dm_rng_normal(h));
    CHECKF(order == 0, "normal_: %d values differ from mean + std * normal", order);

    CHECKF(dm_bernoulli_(t, 0.3, g) == 0, "bernoulli_ returned nonzero");
    int ones = 0;
    order = 0;
    for (int i = 0; i < 1000; i++) {
        ones += v[i] == 1.0f;
        order += v[i] != (dm_rng_uniform(h) < 0.3 ? 1.0f : 0.0f);
    }
    CHECKF(order == 0, "bernoulli_: %d values differ from uniform() < p", order);
    CHECKF(ones > 250 && ones < 350, "bernoulli_(0.3): %d ones of 1000", ones);
    dm_bernoulli_(t, 0.0, g);
    ones = 0;
    for (int i = 0; i < 1000; i++) ones += v[i] != 0.0f;
    CHECKF(ones == 0, "bernoulli_(0) gave %d ones", ones);
    dm_bernoulli_(t, 1.0, g);
    ones = 0;
    for (int i = 0; i < 1000; i++) ones += v[i] == 1.0f;
    CHECKF(ones == 1000, "bernoulli_(1) gave %d ones", ones);

    /* empty and 0-dim tensors */
    dm_tensor *e = dm_tensor_new(1, (int64_t[]){0});
    dm_rng_seed(g, 8);
    dm_rng_seed(h, 8);
    CHECKF(dm_uniform_(e, 0, 1, g) == 0 && dm_rng_u32(g) == dm_rng_u32(h),
           "uniform_ on an empty tensor drew numbers");
    dm_tensor *s = dm_tensor_new(0, (int64_t[]){1});
    dm_rng_seed(g, 8);
    dm_rng_seed(h, 8);
    dm_normal_(s, 1.0, 2.0, g);
    CHECKF(dm_data(s)[0] == (float)(1.0 + 2.0 * dm_rng_normal(h)), "normal_ on a 0-dim tensor");

    dm_tensor_release(s);
    dm_tensor_release(e);
    dm_tensor_release(t);
    dm_rng_free(g);
    dm_rng_free(h);
}

static void test_noncontiguous(void) {
    /* base [3 x 4]; alias [4 x 3] with strides {1, 4}: its transpose */
    dm_tensor *base = dm_tensor_new(2, (int64_t[]){3, 4});
    float *b = dm_data(base);
    for (int i = 0; i < 12; i++) b[i] = -1.0f;
    dm_tensor *tr = dm_tensor_alias(base, 2, (int64_t[]){4, 3}, (int64_t[]){1, 4}, 0);
    CHECKF(tr && !dm_is_contiguous(tr), "transposed alias is contiguous?");

    dm_rng *g = dm_rng_new(5), *h = dm_rng_new(5);
    CHECKF(dm_uniform_(tr, 10.0, 20.0, g) == 0, "uniform_ on a transpose returned nonzero");
    /* element (i, j) of the alias is visited k-th in row-major order and lives at i + 4j */
    int wrong = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            float want = (float)(10.0 + 10.0 * (double)dm_rng_uniformf(h));
            wrong += b[i + 4 * j] != want;
        }
    CHECKF(wrong == 0, "uniform_ on a transpose: %d of 12 elements wrong or out of order", wrong);
    CHECKF(dm_rng_u32(g) == dm_rng_u32(h), "uniform_ on a transpose drew the wrong count");

    /* a strided, offset view must leave the elements between its own untouched */
    for (int i = 0; i < 12; i++) b[i] = -1.0f;
    dm_tensor *sv = dm_tensor_alias(base, 2, (int64_t[]){2, 2}, (int64_t[]){4, 2}, 5);
    dm_rng_seed(g, 6);
    dm_rng_seed(h, 6);
    dm_randint_(sv, 0, 100, g);
    static const int hit[4] = { 5, 7, 9, 11 };
    wrong = 0;
    for (int k = 0; k < 4; k++)
        wrong += b[hit[k]] != (float)dm_rng_below(h, 100);
    int touched = 0;
    for (int i = 0; i < 12; i++)
        if (i != 5 && i != 7 && i != 9 && i != 11) touched += b[i] != -1.0f;
    CHECKF(wrong == 0, "randint_ on a strided view: %d of 4 elements wrong", wrong);
    CHECKF(touched == 0, "randint_ on a strided view wrote %d elements outside it", touched);

    /* bernoulli_ and normal_ through the same transpose */
    dm_rng_seed(g, 4);
    dm_rng_seed(h, 4);
    dm_normal_(tr, 0.0, 1.0, g);
    wrong = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            wrong += b[i + 4 * j] != (float)dm_rng_normal(h);
    CHECKF(wrong == 0, "normal_ on a transpose: %d of 12 elements wrong", wrong);
    dm_bernoulli_(tr, 0.5, g);
    wrong = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            wrong += b[i + 4 * j] != (dm_rng_uniform(h) < 0.5 ? 1.0f : 0.0f);
    CHECKF(wrong == 0, "bernoulli_ on a transpose: %d of 12 elements wrong", wrong);

    dm_tensor_release(sv);
    dm_tensor_release(tr);
    dm_tensor_release(base);
    dm_rng_free(g);
    dm_rng_free(h);
}

static void test_randint(void) {
    dm_rng *g = dm_rng_new(21);
    dm_tensor *t = dm_tensor_new(1, (int64_t[]){10000});
    float *v = dm_data(t);
    CHECKF(dm_randint_(t, -3, 2, g) == 0, "randint_ returned nonzero");
    int seen[5] = {0}, bad = 0;
    for (int i = 0; i < 10000; i++) {
        if (v[i] != floorf(v[i]) || v[i] < -3.0f || v[i] >= 2.0f) { bad++; continue; }
        seen[(int)v[i] + 3]++;
    }
    CHECKF(bad == 0, "randint_(-3, 2): %d values not integers in [-3, 2)", bad);
    int all = 1;
    for (int k = 0; k < 5; k++) all &= seen[k] > 1700 && seen[k] < 2300;
    CHECKF(all, "randint_(-3, 2) counts %d %d %d %d %d", seen[0], seen[1], seen[2], seen[3],
           seen[4]);

    /* a span wider than INT64_MAX */
    dm_randint_(t, INT64_MIN, INT64_MAX, g);
    CHECKF(isfinite(v[0]), "randint_ over the whole int64 range");

    for (int i = 0; i < 10000; i++) v[i] = 7.0f;
    dm_seterr("none");
    CHECKF(dm_randint_(t, 5, 3, g) == -1, "randint_(5, 3) did not fail");
    CHECKF(strcmp(dm_errmsg(), "randint: high (3) must be greater than low (5)") == 0,
           "randint_(5, 3) message: '%s'", dm_errmsg());
    CHECKF(dm_randint_(t, -4, -4, g) == -1, "randint_(-4, -4) did not fail");
    CHECKF(strcmp(dm_errmsg(), "randint: high (-4) must be greater than low (-4)") == 0,
           "randint_(-4, -4) message: '%s'", dm_errmsg());
    CHECKF(v[0] == 7.0f && v[9999] == 7.0f, "failed randint_ wrote to the tensor");

    dm_tensor_release(t);
    dm_rng_free(g);
}

static void test_randperm(void) {
    dm_rng *g = dm_rng_new(17), *h = dm_rng_new(17);
    dm_tensor *p = dm_randperm(1000, g);
    CHECKF(p && p->ndim == 1 && p->shape[0] == 1000 && p->dtype == DM_INT64,
           "randperm(1000) shape and dtype (int64)");
    if (p) {
        const int64_t *v = dm_data_ptr(p);
        char *seen = calloc(1000, 1);
        int bad = 0, fixed = 0;
        for (int i = 0; i < 1000; i++) {
            int k = (int)v[i];
            if ((int64_t)k != v[i] || k < 0 || k >= 1000 || seen[k]) { bad++; continue; }
            seen[k] = 1;
            fixed += k == i;
        }
        CHECKF(bad == 0, "randperm(1000) is not a permutation (%d bad)", bad);
        CHECKF(fixed < 10, "randperm(1000) left %d elements in place", fixed);
        free(seen);

        /* the documented Fisher-Yates, replayed */
        int64_t w[1000];
        for (int i = 0; i < 1000; i++) w[i] = i;
        for (int i = 999; i >= 1; i--) {
            int j = (int)dm_rng_below(h, (uint64_t)i + 1);
            int64_t tmp = w[i]; w[i] = w[j]; w[j] = tmp;
        }
        CHECKF(memcmp(v, w, sizeof w) == 0, "randperm differs from the documented shuffle");
    }
    dm_tensor_release(p);

    p = dm_randperm(0, g);
    CHECKF(p && p->ndim == 1 && p->shape[0] == 0, "randperm(0) is not an empty [0] tensor");
    dm_tensor_release(p);
    p = dm_randperm(1, g);
    CHECKF(p && ((int64_t *)dm_data_ptr(p))[0] == 0, "randperm(1)");
    dm_tensor_release(p);

    dm_seterr("none");
    CHECK_ERR(p = dm_randperm(-1, g), "randperm: n must be non-negative, got -1");
    dm_tensor_release(p);
    dm_rng_free(g);
    dm_rng_free(h);
}

static void test_bernoulli_errors(void) {
    dm_tensor *t = dm_tensor_full(1, (int64_t[]){4}, 7.0f);
    dm_seterr("none");
    CHECKF(dm_bernoulli_(t, 1.5, NULL) == -1, "bernoulli_(1.5) did not fail");
    CHECKF(strcmp(dm_errmsg(), "bernoulli_: p must be in [0, 1], got 1.5") == 0,
           "bernoulli_(1.5) message: '%s'", dm_errmsg());
    CHECKF(dm_bernoulli_(t, -0.25, NULL) == -1, "bernoulli_(-0.25) did not fail");
    CHECKF(strcmp(dm_errmsg(), "bernoulli_: p must be in [0, 1], got -0.25") == 0,
           "bernoulli_(-0.25) message: '%s'", dm_errmsg());
    CHECKF(dm_bernoulli_(t, NAN, NULL) == -1, "bernoulli_(nan) did not fail");
    CHECKF(dm_data(t)[0] == 7.0f && dm_data(t)[3] == 7.0f, "failed bernoulli_ wrote");
    dm_tensor_release(t);
}

int main(void) {
    tu_live live0 = tu_live_now();

    test_known_answers();
    test_seeding();
    test_uniform_stats();
    test_normal_stats();
    test_below();
    test_state();
    test_default();
    test_fills();
    test_noncontiguous();
    test_randint();
    test_randperm();
    test_bernoulli_errors();

    CHECK_NO_LEAKS(live0);

    return TEST_END("test_rng");
}
