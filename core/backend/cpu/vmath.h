/* cpu/vmath.h -- branch-free float32 exp, sigmoid and tanh that GCC vectorises.
 *
 * libm's expf is an opaque call per element, so a loop over it never vectorises; these are
 * inline, written with selects instead of branches and bit casts instead of ldexpf, so a loop
 * calling them becomes SSE2/AVX code (the kernels using them set #pragma GCC optimize("O3")
 * and DM_VMATH_CLONES).  Only float32 uses them: float64 stays on libm.  The reference backend
 * (backend/ref/) stays on libm too, and tests/c/test_vmath.c sweeps these against libm.
 *
 *   dm_vexpf:  Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2 (ln2 in two parts, the
 *              first with 9 significant bits so n * C1 is exact), Cephes's degree-7 polynomial
 *              for e^r, then 2^n built in the exponent bits in two halves (2^n1 * 2^n2) so
 *              that subnormal results round once and n = 128 does not overflow early.
 *              x is clamped to [-104, 89] first: results overflow to +inf above
 *              ln(FLT_MAX) ~ 88.7228 and underflow to 0 (through the subnormals) below
 *              ~ -103.97, as expf does; +inf -> +inf, -inf -> 0, NaN -> NaN.
 *              Max error 1 ulp over the float range (tests/c/test_vmath.c).
 *   dm_vsigmoidf: 1 / (1 + exp(-x)), PyTorch's formula (its vectorised kernel's too).
 *   dm_vtanhf: |x| < 0.625: Cephes's odd polynomial x + x^3 P(x^2) (no cancellation near 0,
 *              -0 stays -0); else 1 - 2 / (exp(2|x|) + 1) with x's sign (exp -> inf gives
 *              exactly +-1).  Max error 1.5 ulp.
 *
 * No FMA contraction (C11 mode sets -ffp-contract=off) and no libm call: every clone (AVX2,
 * AVX, SSE2) gives bit-identical results.
 *
 * A file whose loops call these sets #pragma GCC optimize("O3", "no-trapping-math"): O3 for
 * the vectoriser (loops.h), and no-trapping-math because GCC threads the clamps' constant
 * branches (x > 89 -> the whole formula folded at 89, where 2^64 * 2^64 "could trap" by
 * overflowing) and then refuses to if-convert them, so the loop would stay scalar.  It changes
 * no value (no reassociation, no contraction): only the floating-point exception flags, which
 * nothing here reads, are no longer kept exact.  Include this header after that pragma: an
 * inline function compiled under other options does not vectorise where it is inlined. */
#ifndef DM_VMATH_H
#define DM_VMATH_H

#include <stdint.h>
#include <string.h>

/* the kernels whose loops call these get an AVX2 copy (256-bit integer ops for the exponent
   bits) and an AVX one beside the SSE2 default, picked at load time (see loops.h) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
#define DM_VMATH_CLONES __attribute__((target_clones("avx2", "avx", "default")))
#else
#define DM_VMATH_CLONES
#endif

static inline uint32_t dm_vm_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float dm_vm_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float dm_vexpf(float x)
{
    /* min/max as selects (NaN passes through both: the comparisons are false) */
    float xc = x > 89.0f ? 89.0f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    /* n = round(x / ln2): adding 1.5 * 2^23 leaves n in the low mantissa bits */
    const float shift = 12582912.0f;                   /* 0x1.8p23 */
    float z = xc * 1.44269504088896341f + shift;
    float n = z - shift;
    int32_t ni = (int32_t)(dm_vm_bits(z) - dm_vm_bits(shift));   /* n, |n| <= 151 */
    float r = xc - n * 0.693359375f;                   /* exact */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^n = 2^n1 * 2^n2, n1 = floor(n / 2): both halves are normal numbers for
       n in [-151, 129] */
    int32_t n1 = ni >> 1, n2 = ni - n1;
    float s1 = dm_vm_float((uint32_t)(n1 + 127) << 23);
    float s2 = dm_vm_float((uint32_t)(n2 + 127) << 23);
    return (p * s1) * s2;
}

static inline float dm_vsigmoidf(float x)
{
    return 1.0f / (1.0f + dm_vexpf(-x));
}

static inline float dm_vtanhf(float x)
{
    uint32_t sign = dm_vm_bits(x) & 0x80000000u;
    float a = dm_vm_float(dm_vm_bits(x) & 0x7fffffffu);            /* |x| */
    /* on |x|, the sign put back at the end (so tanh(-0) = -0):
       large: 1 - 2 / (e^2|x| + 1);  small: |x| + |x|^3 P(x^2) */
    float e = dm_vexpf(a + a);
    float big = 1.0f - 2.0f / (e + 1.0f);
    float z = a * a;
    float q = -5.70498872745e-3f;
    q = q * z + 2.06390887954e-2f;
    q = q * z - 5.37397155531e-2f;
    q = q * z + 1.33314422036e-1f;
    q = q * z - 3.33332819422e-1f;
    float small = q * z * a + a;
    float t = a < 0.625f ? small : big;                /* NaN: big, which is NaN */
    return dm_vm_float(dm_vm_bits(t) | sign);
}

#endif
