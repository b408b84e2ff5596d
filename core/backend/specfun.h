/* specfun.h -- the special functions libm lacks, as PyTorch 1.13's CPU kernels compute them
 * (aten/src/ATen/native/Math.h): digamma (calc_digamma), trigamma (its gradient, polygamma(1, x)),
 * erfinv (calc_erfinv), each in float and in double; shared by the cpu and ref devices.
 *
 *   digamma: 0 -> -inf (-0 -> +inf), negative integers and -inf -> nan; x < 0 by the
 *            reflection psi(1 - x) - pi / tan(pi frac(x)); else the recurrence up to x >= 10
 *            (exactly 10: psi(10)), then the asymptotic series (Cephes' coefficients);
 *   trigamma: x < 1/2 by the reflection -(psi1(1 - x) - pi^2 / sin^2(pi x)), then six steps
 *            of the recurrence and the asymptotic series;
 *   erfinv:  a rational initial approximation (|y| <= 0.7 and the tail) refined by two Newton
 *            steps on erf; +-1 -> +-inf, |y| > 1 -> nan. */
#ifndef DM_SPECFUN_H
#define DM_SPECFUN_H
#include <math.h>

#define DM_SF_PI 3.14159265358979323846

static inline double dm__digamma(double x)
{
    static const double A[] = {
        8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
        -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
        8.33333333333333333333E-2,
    };
    if (x == 0) return copysign(INFINITY, -x);
    if (x < 0) {
        if (x == trunc(x)) return NAN;
        double q, r = modf(x, &q);
        return dm__digamma(1 - x) - DM_SF_PI / tan(DM_SF_PI * r);
    }
    double result = 0;
    while (x < 10) {
        result -= 1 / x;
        x += 1;
    }
    if (x == 10) return result + 2.25175258906672110764;
    double y = 0;
    if (x < 1.0e17) {
        double z = 1.0 / (x * x), p = 0;
        for (int i = 0; i <= 6; i++) p = p * z + A[i];
        y = z * p;
    }
    return result + log(x) - (0.5 / x) - y;
}

static inline float dm__digammaf(float x)
{
    static const float A[] = {
        8.33333333333333333333E-2f, -2.10927960927960927961E-2f, 7.57575757575757575758E-3f,
        -4.16666666666666666667E-3f, 3.96825396825396825397E-3f, -8.33333333333333333333E-3f,
        8.33333333333333333333E-2f,
    };
    if (x == 0) return copysignf(INFINITY, -x);
    if (x < 0) {
        if (x == truncf(x)) return NAN;
        double q, r = modf((double)x, &q);
        float pi_over_tan = (float)(DM_SF_PI / tan(DM_SF_PI * r));
        return dm__digammaf(1 - x) - pi_over_tan;
    }
    float result = 0;
    while (x < 10) {
        result -= 1 / x;
        x += 1;
    }
    if (x == 10) return result + 2.25175258906672110764f;
    float y = 0;
    if (x < 1.0e17f) {
        float z = 1 / (x * x), p = 0;
        for (int i = 0; i <= 6; i++) p = p * z + A[i];
        y = z * p;
    }
    return result + logf(x) - (0.5f / x) - y;
}

static inline double dm__trigamma(double x)
{
    double sign = +1, result = 0;
    if (x < 0.5) {
        sign = -1;
        const double s = sin(DM_SF_PI * x);
        result -= (DM_SF_PI * DM_SF_PI) / (s * s);
        x = 1 - x;
    }
    for (int i = 0; i < 6; ++i) {
        result += 1 / (x * x);
        x += 1;
    }
    const double ixx = 1 / (x * x);
    result += (1 + 1 / (2 * x) + ixx * (1. / 6 - ixx * (1. / 30 - ixx * (1. / 42)))) / x;
    return sign * result;
}

static inline float dm__trigammaf(float x)
{
    const float pi = (float)DM_SF_PI;
    float sign = +1, result = 0;
    if (x < 0.5f) {
        sign = -1;
        const float s = sinf(pi * x);
        result -= (pi * pi) / (s * s);
        x = 1 - x;
    }
    for (int i = 0; i < 6; ++i) {
        result += 1 / (x * x);
        x += 1;
    }
    const float ixx = 1 / (x * x);
    result += (1 + 1 / (2 * x) + ixx * (1.f / 6 - ixx * (1.f / 30 - ixx * (1.f / 42)))) / x;
    return sign * result;
}

/* the type-generic body of erfinv: T the type, ERF EXP LOG SQRT its functions */
#define DM__ERFINV_BODY(T, ERF, EXP, LOG, SQRT, FABS, COPYSIGN)                              \
    static const T a[4] = { (T)0.886226899, (T)-1.645349621, (T)0.914624893, (T)-0.140543331 }; \
    static const T b[4] = { (T)-2.118377725, (T)1.442710462, (T)-0.329097515, (T)0.012229801 }; \
    static const T c[4] = { (T)-1.970840454, (T)-1.624906493, (T)3.429567803, (T)1.641345311 }; \
    static const T d[2] = { (T)3.543889200, (T)1.637067800 };                                \
    const T two_over_sqrt_pi = (T)2.0 / (T)1.77245385090551602730;                         \
    T x, z, num, dem, ya = FABS(y);                                                         \
    if (ya > 1) return NAN;                                                                 \
    if (ya == 1) return COPYSIGN((T)INFINITY, y);                                           \
    if (ya <= (T)0.7) {                                                                     \
        z = y * y;                                                                          \
        num = (((a[3] * z + a[2]) * z + a[1]) * z + a[0]);                                  \
        dem = ((((b[3] * z + b[2]) * z + b[1]) * z + b[0]) * z + (T)1);                     \
        x = y * num / dem;                                                                  \
    } else {                                                                                \
        z = SQRT(-LOG(((T)1 - ya) / (T)2));                                                 \
        num = ((c[3] * z + c[2]) * z + c[1]) * z + c[0];                                    \
        dem = (d[1] * z + d[0]) * z + (T)1;                                                 \
        x = COPYSIGN(num, y) / dem;                                                         \
    }                                                                                       \
    x = x - (ERF(x) - y) / (two_over_sqrt_pi * EXP(-x * x));                                \
    x = x - (ERF(x) - y) / (two_over_sqrt_pi * EXP(-x * x));                                \
    return x;

static inline double dm__erfinv(double y)
{
    DM__ERFINV_BODY(double, erf, exp, log, sqrt, fabs, copysign)
}

static inline float dm__erfinvf(float y)
{
    DM__ERFINV_BODY(float, erff, expf, logf, sqrtf, fabsf, copysignf)
}

#endif
