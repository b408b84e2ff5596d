/*
 * rng.c -- random numbers: the generator and the random fills.
 *
 * One seed must give the same numbers on every machine and build, so the generator is
 * spelled out here exactly enough to be reimplemented elsewhere bit for bit.  All integer
 * arithmetic is unsigned and wraps modulo 2^64 (or 2^32 where noted).
 *
 * Generator: PCG32, the pcg_setseq_64_xsh_rr variant of O'Neill's PCG family.
 *
 *   MULT = 6364136223846793005                (0x5851f42d4c957f2d)
 *   INC  = 1442695040888963407                (0x14057b7ef767814f, odd; one fixed stream)
 *
 *   step():      state = state * MULT + INC
 *
 * Seeding a generator with a 64-bit user seed s:
 *
 *   z = s + 0x9e3779b97f4a7c15                (one splitmix64 output, so that small or
 *   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9   similar seeds start from unrelated states)
 *   z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *   z =  z ^ (z >> 31)
 *   state = 0; step(); state = state + z; step();
 *   the Box-Muller cache (below) is emptied.
 *
 * dm_rng_u32 -- one PCG32 output (XSH-RR), computed from the state *before* the step:
 *
 *   old   = state; step()
 *   x     = (uint32)(((old >> 18) ^ old) >> 27)      (low 32 bits)
 *   rot   = old >> 59                                 (0 .. 31)
 *   out   = (x >> rot) | (x << ((32 - rot) & 31))     (rotate right by rot, 32-bit)
 *
 * dm_rng_uniformf -- float in [0, 1) with 24 random bits:
 *
 *   (u32() >> 8) * 2^-24
 *
 * dm_rng_uniform -- double in [0, 1) with 53 random bits, from two draws in this order:
 *
 *   hi = u32(); lo = u32()
 *   ((hi >> 5) * 2^26 + (lo >> 6)) * 2^-53
 *
 * dm_rng_normal -- N(0, 1) by the Box-Muller transform in double precision, two values per
 * pair of uniforms.  If the cache is full, return the cached value and empty the cache.
 * Otherwise:
 *
 *   u1 = 1 - uniform()          (in (0, 1], so the log is finite)
 *   u2 = uniform()
 *   r  = sqrt(-2 ln u1)
 *   cache r * sin(2 pi u2); return r * cos(2 pi u2)
 *
 * The cache is part of the generator state: dm_rng_get_state / dm_rng_set_state carry it
 * and seeding empties it.  (u32, uniformf, uniform and below are exact integer/binary
 * arithmetic; normal goes through libm's log, sqrt, sin and cos, which a platform's libm may
 * round differently in the last bit.)
 *
 * dm_rng_below(n) -- uniform integer in [0, n), unbiased:
 *
 *   n == 0:        0 (no draw)
 *   n <= 2^32:     Lemire's multiply-and-reject on 32-bit draws:
 *                    x = u32(); m = x * n (as a 64-bit product); l = m mod 2^32
 *                    if l < n:
 *                        t = (2^32 - n) mod n
 *                        while l < t: x = u32(); m = x * n; l = m mod 2^32
 *                    return m >> 32
 *   n >  2^32:     rejection on 64-bit values built from two draws:
 *                    t = (2^64 - n) mod n
 *                    repeat: hi = u32(); lo = u32(); x = hi * 2^32 + lo   until x >= t
 *                    return x mod n
 *
 * Tensor fills visit the elements of t in row-major order (whatever t's strides) and draw
 * for each one in turn, so a fill equals the same draws made one by one:
 *
 *   dm_uniform_(t, a, b)      a + (b - a) * uniformf(), in double, then rounded to float.
 *                             Rounding may give exactly b (PyTorch's uniform_ can too).
 *   dm_normal_(t, mean, std)  mean + std * normal(), in double, then rounded to float.
 *   dm_randint_(t, lo, hi)    lo + below(hi - lo), converted to float; hi <= lo is an error.
 *   dm_bernoulli_(t, p)       1 if uniform() < p else 0; p outside [0, 1] is an error.
 *   dm_randperm(n)            a new [n] tensor holding 0 .. n-1, then Fisher-Yates:
 *                             for i = n-1 down to 1: j = below(i + 1); swap(v[i], v[j]).
 *                             (Values are floats: exact up to 2^24.)
 *
 * The default generator (dm_default_rng) is per thread: each thread has its own, seeded with 0
 * on its first use in that thread, so threads never race on it and a thread's stream does not
 * depend on what the others draw (reproducible whatever the scheduling).  The Lua module does
 * not use it: each Lua state has its own default generator.  Generators are not locked:
 * share one between threads only with the caller's own locking.
 */
#include "internal.h"
#include "backend.h"

/* the fill loops are the device's kernels (backend.h: random; backend/cpu/fill.c, the
   reference backend/ref/fill.c) */
#define DEV (dm__kernels(dm__cur_device))

#include "draw.h"            /* struct dm_rng and the draws, inline */

#define PCG_MULT DM_PCG_MULT
#define PCG_INC  DM_PCG_INC

static uint64_t splitmix64(uint64_t s) {
    uint64_t z = s + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dm_rng_seed(dm_rng *g, uint64_t seed) {
    /* PCG's own seeding dance: step once from 0 so the seed is mixed through the LCG. */
    g->state = 0;
    g->state = g->state * PCG_MULT + PCG_INC;
    g->state += splitmix64(seed);
    g->state = g->state * PCG_MULT + PCG_INC;
    g->seed = seed;
    g->has_normal = 0;
    g->normal = 0.0;
}

dm_rng *dm_rng_new(uint64_t seed) {
    dm_rng *g = malloc(sizeof *g);
    if (!g) {
        dm_seterr("Generator: out of memory");
        return NULL;
    }
    dm_rng_seed(g, seed);
    return g;
}

/* thread-local (a 32-byte struct and a flag; not on a hot path, so the default TLS model) */
static _Thread_local dm_rng default_rng;
static _Thread_local int default_ready;

void dm_rng_free(dm_rng *g) {
    /* this thread's default generator is not malloc'd; freeing it by mistake must not
       corrupt the heap */
    if (g && g != &default_rng) free(g);
}

uint64_t dm_rng_initial_seed(const dm_rng *g) {
    return g->seed;
}

dm_rng *dm_default_rng(void) {
    if (!default_ready) {
        dm_rng_seed(&default_rng, 0);
        default_ready = 1;
    }
    return &default_rng;
}

uint32_t dm_rng_u32(dm_rng *g) { return dm__draw_u32(g); }
float dm_rng_uniformf(dm_rng *g) { return dm__draw_uniformf(g); }
double dm_rng_uniform(dm_rng *g) { return dm__draw_uniform(g); }
double dm_rng_normal(dm_rng *g) { return dm__draw_normal(g); }
uint64_t dm_rng_below(dm_rng *g, uint64_t n) { return dm__draw_below(g, n); }

size_t dm_rng_state_size(void) {
    return sizeof(dm_rng);
}

void dm_rng_get_state(const dm_rng *g, void *buf) {
    memcpy(buf, g, sizeof *g);
}

void dm_rng_set_state(dm_rng *g, const void *buf) {
    memcpy(g, buf, sizeof *g);
}

/* ---- tensor fills ------------------------------------------------------------------- */

/* Fills take a tensor of any strides.  Float values are drawn in the tensor's precision
 * (float32 from 24-bit draws as before, float64 from 53-bit ones, as PyTorch's CPU
 * generator does); integer fills store exact integers in any dtype. */

int dm_uniform_(dm_tensor *t, double a, double b, dm_rng *g) {
    if (t->dtype != DM_FLOAT32 && dm__need_float("uniform_", t, "tensor")) return -1;
    if (dm__check_overlap("uniform_", t)) return -1;
    dm__bump(t);
    if (!g) g = dm_default_rng();
    dm__device_of(t);
    DEV->random(DM_RAND_UNIFORM, t, &(dm_rand_par){ .a = a, .b = b }, g);
    return 0;
}

int dm_normal_(dm_tensor *t, double mean, double std, dm_rng *g) {
    if (t->dtype != DM_FLOAT32 && dm__need_float("normal_", t, "tensor")) return -1;
    if (dm__check_overlap("normal_", t)) return -1;
    dm__bump(t);
    if (!g) g = dm_default_rng();
    dm__device_of(t);
    DEV->random(DM_RAND_NORMAL, t, &(dm_rand_par){ .a = mean, .b = std }, g);
    return 0;
}

int dm_randint_(dm_tensor *t, int64_t low, int64_t high, dm_rng *g) {
    if (high <= low) {
        dm_seterr("randint: high (%lld) must be greater than low (%lld)",
                  (long long)high, (long long)low);
        return -1;
    }
    if (dm__check_overlap("random_", t)) return -1;
    dm__bump(t);
    if (!g) g = dm_default_rng();
    /* the span can exceed INT64_MAX (low very negative): it is taken modulo 2^64 */
    dm__device_of(t);
    DEV->random(DM_RAND_RANDINT, t,
                &(dm_rand_par){ .low = low, .span = (uint64_t)high - (uint64_t)low }, g);
    return 0;
}

dm_tensor *dm_randperm(int64_t n, dm_rng *g) {
    if (n < 0) {
        dm_seterr("randperm: n must be non-negative, got %lld", (long long)n);
        return NULL;
    }
    if (!g) g = dm_default_rng();
    dm_tensor *t = dm_tensor_new_dtype(1, &n, DM_INT64);
    if (!t) return NULL;
    DEV->random(DM_RAND_PERM, t, &(dm_rand_par){ 0 }, g);
    return t;
}

int dm_bernoulli_(dm_tensor *t, double p, dm_rng *g) {
    /* written so that NaN fails too */
    if (!(p >= 0.0 && p <= 1.0)) {
        dm_seterr("bernoulli_: p must be in [0, 1], got %g", p);
        return -1;
    }
    if (dm__check_overlap("bernoulli_", t)) return -1;
    dm__bump(t);
    if (!g) g = dm_default_rng();
    dm__device_of(t);
    DEV->random(DM_RAND_BERNOULLI, t, &(dm_rand_par){ .a = p }, g);
    return 0;
}
