/* draw.h -- the generator's state and its draws, inline, for the fills of rng.c and the
 * kernels that draw per element (cpu/fill.c, cpu/nn_gen.h, cpu/ and ref/sample.c): a call
 * per element into rng.c costs as much as the draw.  rng.c's header comment is the specification (PCG32
 * XSH-RR, the uniform and Box-Muller formulas, Lemire's bounded draw); dm_rng_u32,
 * dm_rng_uniformf, ... (rng.c) are these functions. */
#ifndef DM_DRAW_H
#define DM_DRAW_H

#include "deepmoon.h"
#include <math.h>
#include <stdint.h>

#define DM_PCG_MULT 6364136223846793005ULL
#define DM_PCG_INC  1442695040888963407ULL

/* Every field is 64 bits wide so the state blob has no padding bytes. */
struct dm_rng {
    uint64_t state;
    uint64_t seed;          /* what the generator was last seeded with */
    uint64_t has_normal;    /* 1 when `normal` holds the second Box-Muller value */
    double normal;
};

static inline uint32_t dm__draw_u32(dm_rng *g)
{
    uint64_t old = g->state;
    g->state = old * DM_PCG_MULT + DM_PCG_INC;
    uint32_t x = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    /* masking the left shift keeps rot == 0 defined behaviour */
    return (x >> rot) | (x << ((32u - rot) & 31u));
}

static inline float dm__draw_uniformf(dm_rng *g)
{
    /* 24 bits fill a float's significand exactly, so every value is representable */
    return (float)(dm__draw_u32(g) >> 8) * 0x1.0p-24f;
}

static inline double dm__draw_uniform(dm_rng *g)
{
    uint32_t hi = dm__draw_u32(g);
    uint32_t lo = dm__draw_u32(g);
    return ((double)(hi >> 5) * 67108864.0 + (double)(lo >> 6)) * 0x1.0p-53;
}

static inline double dm__draw_normal(dm_rng *g)
{
    if (g->has_normal) {
        g->has_normal = 0;
        return g->normal;
    }
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - dm__draw_uniform(g);
    double u2 = dm__draw_uniform(g);
    double r = sqrt(-2.0 * log(u1));
    g->normal = r * sin(two_pi * u2);
    g->has_normal = 1;
    return r * cos(two_pi * u2);
}

static inline uint64_t dm__draw_below(dm_rng *g, uint64_t n)
{
    if (n == 0) return 0;
    if (n <= (1ULL << 32)) {
        /* Lemire: the high word of x * n is in [0, n); the low word tells when x fell in
           the short final interval that would over-represent some results */
        uint64_t m = (uint64_t)dm__draw_u32(g) * n;
        uint32_t l = (uint32_t)m;
        if (l < n) {
            uint32_t t = (uint32_t)(((1ULL << 32) - n) % n);
            while (l < t) {
                m = (uint64_t)dm__draw_u32(g) * n;
                l = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    /* (2^64 - n) mod n values are cut from the bottom so the rest is a multiple of n */
    uint64_t t = (0 - n) % n;
    uint64_t x;
    do {
        uint64_t hi = dm__draw_u32(g);
        x = (hi << 32) | dm__draw_u32(g);
    } while (x < t);
    return x % n;
}

#endif
