/* cpu/elementwise_bw.c -- the cpu device's elementwise backward kernels: the rules of the
 * unary maths and activations, the tensor-scalar ops, clamp, leaky_relu and elu over
 * contiguous gradients, and the strided ones of pow, maximum, minimum and where.  Each is
 * written once over the element type T and instantiated for float32 (_f) and float64 (_d);
 * every operand is in T, as the op functions hand them (core/ops/elementwise.c).  The reference
 * for each is the naive loop in ref/elementwise.c. */
#include "internal.h"
#include "cpu.h"
#include "walk.h"
#include "loops.h"
#include "specfun.h"  /* digamma, trigamma: before tgmath.h */
#include <tgmath.h>   /* exp, log, pow ... pick the float or double function by type */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see loops.h, vmath.h */
#endif
#include "vmath.h"    /* after the pragma (see there) */

/* float32's exp is vmath.h's (inline, vectorisable); float64's libm's */
#define VEXP(x) _Generic((x), float: dm_vexpf, default: exp)(x)
#define DIGAMMA(x) _Generic((x), float: dm__digammaf, default: dm__digamma)(x)
#define TRIGAMMA(x) _Generic((x), float: dm__trigammaf, default: dm__trigamma)(x)

/* call name_f or name_d, by dt */
#define PICK(name, dt, ...) \
    ((dt) == DM_FLOAT64 ? name##_d(__VA_ARGS__) : name##_f(__VA_ARGS__))

/* pow, maximum and minimum: one pass over the output computing both full gradients */
#define BW_BINARY_LOOP(name, T)                                                             \
static void name(int op, const dm_tensor *gout, const dm_tensor *a, const dm_tensor *b,    \
                 const dm_tensor *yt, dm_tensor *ga, dm_tensor *gb)                         \
{                                                                                           \
    int64_t total = dm__numel(gout);                                                        \
    const T *g = dm__ptr(gout);                                                             \
    const T *y = yt ? dm__ptr(yt) : NULL;            /* pow's output */                     \
    T *oa = ga ? dm__ptr(ga) : NULL, *ob = gb ? dm__ptr(gb) : NULL;                          \
    if (total > 0) {                                                                        \
        const dm_tensor *ts[2] = { a, b };                                                  \
        dm_walk p;                                                                          \
        dm_walk_init(&p, 2, ts, gout->ndim, gout->shape);                                   \
        int64_t len = dm_walk_row_len(&p), sa = dm_walk_row_stride(&p, 0),                  \
                sb = dm_walk_row_stride(&p, 1);                                             \
        for (int64_t done = 0; done < total; done += len) {                                 \
            const T *ap = dm_walk_ptr(&p, 0), *bp = dm_walk_ptr(&p, 1);                     \
            for (int64_t i = 0; i < len; i++) {                                             \
                T x = ap[i * sa], e = bp[i * sb], gg = g[done + i], da = 0, db = 0;         \
                switch (op) {                                                               \
                case DM_OP_POW:                                                             \
                    /* d/da = e * a^(e-1), 0 where e == 0; d/de = y * log(a), 0 where       \
                       a == 0 and e >= 0 (both as torch masks them) */                      \
                    da = e == 0 ? 0 : gg * (e * pow(x, e - 1));                             \
                    db = gg * ((x == 0 && e >= 0) ? 0 : y[done + i] * log(x));              \
                    break;                                                                  \
                case DM_OP_MAXIMUM:                                                         \
                    /* ties share the gradient equally; NaN on either side passes it to both */ \
                    da = db = x == e ? gg / 2 : gg;                                         \
                    if (x < e) da = 0;                                                      \
                    if (x > e) db = 0;                                                      \
                    break;                                                                  \
                default:                            /* DM_OP_MINIMUM */                     \
                    da = db = x == e ? gg / 2 : gg;                                         \
                    if (x > e) da = 0;                                                      \
                    if (x < e) db = 0;                                                      \
                    break;                                                                  \
                }                                                                           \
                if (oa) oa[done + i] = da;                                                  \
                if (ob) ob[done + i] = db;                                                  \
            }                                                                               \
            dm_walk_next_row(&p);                                                           \
        }                                                                                   \
    }                                                                                       \
}
BW_BINARY_LOOP(binary_bw_f, float)
BW_BINARY_LOOP(binary_bw_d, double)

void dm__cpu_binary_bw(dm_dtype dt, int op, const dm_tensor *gout, const dm_tensor *a,
                       const dm_tensor *b, const dm_tensor *y, dm_tensor *ga, dm_tensor *gb)
{
    PICK(binary_bw, dt, op, gout, a, b, y, ga, gb);
}

/* o = rule(g, x, y) of the tensor-scalar ops, all [m] */
#define BW_SCALAR(name, T)                                                                  \
static void name(int op, int div, int64_t m, const T *g, const T *xv, const T *y, double sd, \
                 double p1, T *restrict o)                                                  \
{                                                                                           \
    const T s = (T)sd;                                                                      \
    switch (op) {                                                                           \
    case DM_OP_MULS:                                                                        \
        if (div) {                                 /* x / s: g / s */                       \
            const T d = (T)p1;                                                              \
            VLOOP(m, o[i] = g[i] / d;);                                                     \
        } else {                                                                            \
            VLOOP(m, o[i] = g[i] * s;);                                                     \
        }                                                                                   \
        break;                                                                              \
    case DM_OP_RSUBS:                              /* s - x */                              \
        VLOOP(m, o[i] = -g[i];);                                                            \
        break;                                                                              \
    case DM_OP_RDIVS:                              /* (1/x) * s: -(g * s) * (r * r), r = 1/x */ \
        for (int64_t i = 0; i < m; i++) {                                                   \
            T r = 1 / xv[i];                                                                \
            o[i] = -(g[i] * s) * (r * r);                                                   \
        }                                                                                   \
        break;                                                                              \
    case DM_OP_POWS:                               /* x ^ s: g * (s * x^(s-1)), 0 for s = 0 */ \
        if (s == 0) {                                                                       \
            VLOOP(m, o[i] = 0;);                                                            \
        } else {                                                                            \
            T *t = o;                              /* x^(s-1), in place */                  \
            VLOOP(m, o[i] = g[i] * (s * t[i]););                                            \
        }                                                                                   \
        break;                                                                              \
    case DM_OP_RPOWS: {                            /* s ^ x: g * (y * log s); 0 at s = 0, x >= 0 */ \
        const T ls = (T)log(sd);                                                            \
        if (s == 0) {                                                                       \
            VLOOP(m, o[i] = g[i] * (xv[i] >= 0 ? 0 : y[i] * ls););                          \
        } else {                                                                            \
            VLOOP(m, o[i] = g[i] * (y[i] * ls););                                           \
        }                                                                                   \
        break;                                                                              \
    }                                                                                       \
    default:                                                                                \
        break;                                                                              \
    }                                                                                       \
}
BW_SCALAR(scalar_bw_f, float)
BW_SCALAR(scalar_bw_d, double)

void dm__cpu_scalar_bw(dm_dtype dt, int op, int div, int64_t m, const void *g, const void *x,
                       const void *y, double s, double p1, void *o)
{
    PICK(scalar_bw, dt, op, div, m, g, x, y, s, p1, o);
}

/* o = rule(g, x, y) of unary op u, all [m] */
#define BW_UNARY(name, T)                                                                   \
DM_AVX_CLONES                                                                               \
static void name(dm_unop u, int64_t m, const T *g, const T *x, const T *y, T *restrict o)  \
{                                                                                           \
    switch (u) {                                                                            \
    case DM_UN_NEG:                                                                         \
        VLOOP(m, o[i] = -g[i];);                                                            \
        break;                                                                              \
    case DM_UN_EXP:                                                                         \
        VLOOP(m, o[i] = g[i] * y[i];);                                                      \
        break;                                                                              \
    case DM_UN_LOG:                                                                         \
        VLOOP(m, o[i] = g[i] / x[i];);                                                      \
        break;                                                                              \
    case DM_UN_SQRT:                                                                        \
        VLOOP(m, o[i] = g[i] / (2 * y[i]););                                                \
        break;                                                                              \
    case DM_UN_ABS:                                /* sign(0) = 0: no gradient at 0 */      \
        VLOOP(m, o[i] = g[i] * (T)SIGN_OF(x[i]););                                          \
        break;                                                                              \
    case DM_UN_SIGN: case DM_UN_ROUND: case DM_UN_FLOOR: case DM_UN_CEIL:                   \
        VLOOP(m, o[i] = 0;);                                                                \
        break;                                                                              \
    case DM_UN_TANH:                                                                        \
        VLOOP(m, o[i] = g[i] * (1 - y[i] * y[i]););                                         \
        break;                                                                              \
    case DM_UN_SIGMOID:                                                                     \
        VLOOP(m, o[i] = g[i] * (1 - y[i]) * y[i];);                                         \
        break;                                                                              \
    case DM_UN_RELU:                               /* relu'(0) = 0 */                       \
        VLOOP(m, const T gi = g[i]; o[i] = y[i] <= 0 ? 0 : gi;);  /* loads first: vectorizes */ \
        break;                                                                              \
    case DM_UN_RECIPROCAL:                                                                  \
        VLOOP(m, o[i] = -g[i] * (y[i] * y[i]););                                            \
        break;                                                                              \
    case DM_UN_SIN:                                                                         \
        VLOOP(m, o[i] = g[i] * cos(x[i]););                                                 \
        break;                                                                              \
    case DM_UN_COS:                                                                         \
        VLOOP(m, o[i] = g[i] * -sin(x[i]););                                                \
        break;                                                                              \
    case DM_UN_SELU:                                                                        \
        for (int64_t i = 0; i < m; i++)                                                     \
            o[i] = x[i] <= 0 ? g[i] * (KT(x[i], SELU_ALPHA) * KT(x[i], SELU_SCALE)) * VEXP(x[i]) \
                             : g[i] * KT(x[i], SELU_SCALE);                                 \
        break;                                                                              \
    case DM_UN_GELU:                                                                        \
        for (int64_t i = 0; i < m; i++) {                                                   \
            T cdf = (T)0.5 * (1 + erf(x[i] * KT(x[i], GELU_ALPHA)));                        \
            T pdf = KT(x[i], GELU_BETA) * exp(x[i] * x[i] * (T)-0.5);                       \
            o[i] = g[i] * (cdf + x[i] * pdf);                                               \
        }                                                                                   \
        break;                                                                              \
    case DM_UN_SQUARE:                                                                      \
        VLOOP(m, o[i] = g[i] * (2 * x[i]););                                                \
        break;                                                                              \
    case DM_UN_LOG1P:                                                                       \
        VLOOP(m, o[i] = g[i] / (x[i] + 1););                                                \
        break;                                                                              \
    case DM_UN_TRUNC: case DM_UN_SGN:                                                       \
        for (int64_t i = 0; i < m; i++) o[i] = 0;                                           \
        break;                                                                              \
    case DM_UN_FRAC:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i];                                        \
        break;                                                                              \
    case DM_UN_EXPM1:                              /* y + 1 = e^x */                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (y[i] + 1);                           \
        break;                                                                              \
    case DM_UN_LOG2:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] / (x[i] * (T)0.69314718055994530942);   \
        break;                                                                              \
    case DM_UN_LOG10:                                                                       \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] / (x[i] * (T)2.30258509299404568402);   \
        break;                                                                              \
    case DM_UN_EXP2:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (y[i] * (T)0.69314718055994530942);   \
        break;                                                                              \
    case DM_UN_RSQRT:                              /* -x^(-3/2) / 2 = -y^3 / 2 */           \
        for (int64_t i = 0; i < m; i++) o[i] = (T)-0.5 * g[i] * (y[i] * y[i] * y[i]);       \
        break;                                                                              \
    case DM_UN_TAN:                                                                         \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (1 + y[i] * y[i]);                    \
        break;                                                                              \
    case DM_UN_ASIN:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (1 / sqrt(1 - x[i] * x[i]));          \
        break;                                                                              \
    case DM_UN_ACOS:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * -(1 / sqrt(1 - x[i] * x[i]));         \
        break;                                                                              \
    case DM_UN_ATAN:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] / (x[i] * x[i] + 1);                    \
        break;                                                                              \
    case DM_UN_SINH:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * cosh(x[i]);                           \
        break;                                                                              \
    case DM_UN_COSH:                                                                        \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * sinh(x[i]);                           \
        break;                                                                              \
    case DM_UN_ASINH:                                                                       \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (1 / sqrt(x[i] * x[i] + 1));          \
        break;                                                                              \
    case DM_UN_ACOSH:                                                                       \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (1 / sqrt(x[i] * x[i] - 1));          \
        break;                                                                              \
    case DM_UN_ATANH:                                                                       \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (1 / (1 - x[i] * x[i]));              \
        break;                                                                              \
    case DM_UN_ERF:                                /* 2 / sqrt(pi) e^(-x^2) */              \
        for (int64_t i = 0; i < m; i++)                                                     \
            o[i] = g[i] * ((T)1.12837916709551257390 * exp(-(x[i] * x[i])));               \
        break;                                                                              \
    case DM_UN_ERFC:                                                                        \
        for (int64_t i = 0; i < m; i++)                                                     \
            o[i] = g[i] * ((T)-1.12837916709551257390 * exp(-(x[i] * x[i])));              \
        break;                                                                              \
    case DM_UN_DEG2RAD:                                                                     \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (T)0.017453292519943295769;           \
        break;                                                                              \
    case DM_UN_RAD2DEG:                                                                     \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * (T)57.295779513082320877;             \
        break;                                                                              \
    case DM_UN_LGAMMA:                                                                      \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * DIGAMMA(x[i]);                        \
        break;                                                                              \
    case DM_UN_DIGAMMA:                            /* polygamma(1, x) */                    \
        for (int64_t i = 0; i < m; i++) o[i] = g[i] * TRIGAMMA(x[i]);                       \
        break;                                                                              \
    case DM_UN_ERFINV:                             /* sqrt(pi) / 2 e^(y^2) */              \
        for (int64_t i = 0; i < m; i++)                                                     \
            o[i] = (T)0.88622692545275801365 * exp(y[i] * y[i]) * g[i];                     \
        break;                                                                              \
    case DM_UN_LOGIT:                              /* nan outside [0, 1] */                 \
        for (int64_t i = 0; i < m; i++)                                                     \
            o[i] = x[i] < 0 || x[i] > 1 ? (T)NAN                                            \
                 : x[i] == 0 || x[i] == 1 ? g[i] * (T)INFINITY                              \
                 : g[i] / (x[i] * (1 - x[i]));                                              \
        break;                                                                              \
    case DM_UN_SINC: {                             /* 0 where x^2 pi is 0 */                \
        const T pi = (T)3.14159265358979323846;                                             \
        for (int64_t i = 0; i < m; i++) {                                                   \
            T t = x[i] * pi, s2 = x[i] * x[i] * pi;                                         \
            o[i] = s2 == 0 ? 0 : g[i] * (t * cos(t) - sin(t)) / s2;                         \
        }                                                                                   \
        break;                                                                              \
    }                                                                                       \
    case DM_UN_COUNT:                                                                       \
        break;                                                                              \
    }                                                                                       \
}
BW_UNARY(unary_bw_f, float)
BW_UNARY(unary_bw_d, double)

void dm__cpu_unary_bw(dm_dtype dt, dm_unop u, int64_t m, const void *g, const void *x,
                      const void *y, void *o)
{
    PICK(unary_bw, dt, u, m, g, x, y, o);
}

/* clamp, leaky_relu, elu: o = rule(g, x) with the parameters p0, p1 in T, all [m] */
#define BW_PARAM(name, T)                                                                   \
static void name(int op, int64_t m, const T *g, const T *x, double d0, double d1,          \
                 T *restrict o)                                                             \
{                                                                                           \
    const T p0 = (T)d0, p1 = (T)d1;                                                         \
    switch (op) {                                                                           \
    case DM_OP_CLAMP: {        /* the gradient passes where lo <= x <= hi, bounds included \
                                  (NaN x gets none) */                                      \
        int has_lo = !isnan(p0), has_hi = !isnan(p1);                                       \
        for (int64_t i = 0; i < m; i++) {                                                   \
            int in = (!has_lo || x[i] >= p0) && (!has_hi || x[i] <= p1);                    \
            o[i] = in ? g[i] : 0;                                                           \
        }                                                                                   \
        break;                                                                              \
    }                                                                                       \
    case DM_OP_LEAKY_RELU:                         /* p0 = slope */                         \
        VLOOP(m, const T gi = g[i], gs = gi * p0; o[i] = x[i] > 0 ? gi : gs;);              \
        break;                                                                              \
    default:                                       /* DM_OP_ELU, p0 = alpha */              \
        VLOOP(m, o[i] = x[i] <= 0 ? g[i] * p0 * VEXP(x[i]) : g[i];);                        \
        break;                                                                              \
    }                                                                                       \
}
BW_PARAM(param_bw_f, float)
BW_PARAM(param_bw_d, double)

void dm__cpu_param_bw(dm_dtype dt, int op, int64_t m, const void *g, const void *x, double p0,
                      double p1, void *o)
{
    PICK(param_bw, dt, op, m, g, x, p0, p1, o);
}

#define BW_WHERE(name, T)                                                                   \
static void name(const dm_tensor *cond, const dm_tensor *gout, dm_tensor *ga, dm_tensor *gb) \
{                                                                                           \
    int64_t total = dm__numel(gout);                                                        \
    const T *g = dm__ptr(gout);                                                             \
    T *oa = ga ? dm__ptr(ga) : NULL, *ob = gb ? dm__ptr(gb) : NULL;                          \
    dm_walk p;                                                                              \
    dm_walk_init(&p, 1, &cond, gout->ndim, gout->shape);                                    \
    int64_t len = dm_walk_row_len(&p), sc = dm_walk_row_stride(&p, 0);                      \
    for (int64_t done = 0; done < total; done += len) {                                     \
        const uint8_t *cp = dm_walk_ptr(&p, 0);                                             \
        for (int64_t i = 0; i < len; i++) {                                                 \
            int c = cp[i * sc] != 0;                                                        \
            if (oa) oa[done + i] = c ? g[done + i] : 0;                                     \
            if (ob) ob[done + i] = c ? 0 : g[done + i];                                     \
        }                                                                                   \
        dm_walk_next_row(&p);                                                               \
    }                                                                                       \
}
BW_WHERE(where_bw_f, float)
BW_WHERE(where_bw_d, double)

void dm__cpu_where_bw(dm_dtype dt, const dm_tensor *cond, const dm_tensor *gout, dm_tensor *ga,
                      dm_tensor *gb)
{
    PICK(where_bw, dt, cond, gout, ga, gb);
}
