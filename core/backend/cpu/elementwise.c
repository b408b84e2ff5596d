/* cpu/elementwise.c -- the cpu device's elementwise kernels: binary ops, tensor-scalar ops,
 * unary maths and activations, clamp, leaky_relu, elu and where, every compute dtype.
 *
 *   row kernel:  a row of n elements, each operand with its own stride (0 = broadcast),
 *                written once over its element type for one op, so the compiler inlines and
 *                vectorises the function (float32 and float64 share the formula: <tgmath.h>
 *                picks the float or double libm function by type, but for float32's exp,
 *                sigmoid and tanh (also under selu and elu), which are vmath.h's inline,
 *                vectorisable ones; int64 has its own exact, wrapping formula);
 *   table entry: the fast paths (contiguous operands of one shape, one operand a single
 *                element: the row kernel once on the whole buffer), else the strided walker
 *                (walk.h) row by row.
 *
 * The reference for every kernel here is the naive loop of the same op in ref/elementwise.c;
 * tests/c/test_backend_ops.c compares the two.  Numerics follow PyTorch 1.13's CPU kernels,
 * including their quirks: x / s is a true division, s / x is reciprocal(x) * s, x ^ s
 * special-cases s = 0, 1, 2, 3, 0.5, -0.5, -1, -2, elu and selu use exp(x) - 1 (not expm1),
 * round is half-to-even. */
#include "internal.h"
#include "backend.h"
#include "cpu.h"
#include "walk.h"
#include "loops.h"
#include "specfun.h"  /* digamma, erfinv: before tgmath.h, in math.h's terms */
#include <tgmath.h>   /* exp, log, pow ... pick the float or double function by type */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math")   /* see loops.h, vmath.h */
#endif
#include "vmath.h"    /* after the pragma (see there) */

/* float32's exp, sigmoid and tanh are vmath.h's (inline, vectorisable); float64's libm's */
#define VEXP(x) _Generic((x), float: dm_vexpf, default: exp)(x)
#define VTANH(x) _Generic((x), float: dm_vtanhf, default: tanh)(x)
#define VSIGMOID(x) _Generic((x), float: dm_vsigmoidf, default: sigmoid_d)(x)
static inline double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }

/* ---- binary kernels: o[i] = f(a[i*sa], b[i*sb]) --------------------------------------- */

typedef void (*binkern)(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                        float *restrict o);
/* any element types: the kernels' entry points for the dtype-generic path */
typedef void (*vkern)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb,
                      void *o);

/* The common stride patterns get their own loops so they vectorise. */
#define BINARY_KERNEL_T(name, T, OT, EXPR)                                                  \
    DM_AVX_CLONES                                                                           \
    static void name(int64_t n, const T *a, int64_t sa, const T *b, int64_t sb,             \
                     OT *restrict o)                                                        \
    {                                                                                       \
        if (sa == 1 && sb == 1) {                                                           \
            VLOOP(n, T x = a[i]; T y = b[i]; o[i] = (EXPR););                               \
        } else if (sa == 1 && sb == 0) {                                                    \
            const T y = b[0];                                                               \
            VLOOP(n, T x = a[i]; o[i] = (EXPR););                                           \
        } else if (sa == 0 && sb == 1) {                                                    \
            const T x = a[0];                                                               \
            VLOOP(n, T y = b[i]; o[i] = (EXPR););                                           \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                               \
                T x = a[i * sa], y = b[i * sb];                                             \
                o[i] = (EXPR);                                                              \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    static void name##_v(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb,   \
                         void *o)                                                           \
    {                                                                                       \
        name(n, (const T *)a, sa, (const T *)b, sb, (OT *)o);                               \
    }
#define BINARY_KERNEL(name, EXPR) BINARY_KERNEL_T(name, float, float, EXPR)
/* the float32 and float64 kernels of one formula */
#define BINARY_FLOATS(name, EXPR) BINARY_KERNEL(name, EXPR) \
    BINARY_KERNEL_T(name##_d, double, double, EXPR)
/* a comparison for the three compute types, into bool (one byte, 0 or 1) */
#define BINARY_CMP(name, EXPR) BINARY_KERNEL_T(name, float, uint8_t, EXPR) \
    BINARY_KERNEL_T(name##_d, double, uint8_t, EXPR) BINARY_KERNEL_T(name##_i, int64_t, uint8_t, EXPR)

/* maximum/minimum propagate NaN from either side, as torch.maximum does */
#define MAXMIN_NAN(T, sfx)                                                                  \
    static inline T max_nan##sfx(T x, T y)                                                  \
    {                                                                                       \
        T r = x < y ? y : x;                                                                \
        r = y != y ? y : r;                                                                 \
        return x != x ? x : r;                                                              \
    }                                                                                       \
    static inline T min_nan##sfx(T x, T y)                                                  \
    {                                                                                       \
        T r = y < x ? y : x;                                                                \
        r = y != y ? y : r;                                                                 \
        return x != x ? x : r;                                                              \
    }
MAXMIN_NAN(float, )
MAXMIN_NAN(double, _d)
#define MAX_NAN(x, y) _Generic((x), float: max_nan, default: max_nan_d)(x, y)
#define MIN_NAN(x, y) _Generic((x), float: min_nan, default: min_nan_d)(x, y)

/* b ^ e for integers: exact, wrapping; a negative e gives 0 but for b = 1 and b = -1 */
static inline int64_t ipow(int64_t b, int64_t e)
{
    if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)b;
    for (; e; e >>= 1, x *= x) if (e & 1) r *= x;
    return (int64_t)r;
}

BINARY_FLOATS(k_add, x + y)
BINARY_FLOATS(k_sub, x - y)
BINARY_FLOATS(k_mul, x * y)
BINARY_FLOATS(k_div, x / y)
BINARY_FLOATS(k_pow, pow(x, y))
BINARY_FLOATS(k_maximum, MAX_NAN(x, y))
BINARY_FLOATS(k_minimum, MIN_NAN(x, y))
BINARY_KERNEL_T(k_add_i, int64_t, int64_t, WRAP(x, +, y))
BINARY_KERNEL_T(k_sub_i, int64_t, int64_t, WRAP(x, -, y))
BINARY_KERNEL_T(k_mul_i, int64_t, int64_t, WRAP(x, *, y))
BINARY_KERNEL_T(k_pow_i, int64_t, int64_t, ipow(x, y))
BINARY_KERNEL_T(k_maximum_i, int64_t, int64_t, x < y ? y : x)
BINARY_KERNEL_T(k_minimum_i, int64_t, int64_t, y < x ? y : x)
BINARY_CMP(k_eq, x == y)
BINARY_CMP(k_ne, x != y)
BINARY_CMP(k_lt, x < y)
BINARY_CMP(k_le, x <= y)
BINARY_CMP(k_gt, x > y)
BINARY_CMP(k_ge, x >= y)

#define NBINOPS (DM_BIN_MINIMUM + 1)

/* kernels by compute type: [0] float32, [1] float64, [2] int64 (NULL: none, as for int64
   division, which the op computes in float32) */
#define KERNS(k) { k##_v, k##_d_v, k##_i_v }
#define KERNS_F(k) { k##_v, k##_d_v, NULL }
static const vkern bink[NBINOPS][3] = {
    [DM_BIN_ADD] = KERNS(k_add), [DM_BIN_SUB] = KERNS(k_sub), [DM_BIN_MUL] = KERNS(k_mul),
    [DM_BIN_DIV] = KERNS_F(k_div), [DM_BIN_POW] = KERNS(k_pow),
    [DM_BIN_EQ] = KERNS(k_eq), [DM_BIN_NE] = KERNS(k_ne), [DM_BIN_LT] = KERNS(k_lt),
    [DM_BIN_LE] = KERNS(k_le), [DM_BIN_GT] = KERNS(k_gt), [DM_BIN_GE] = KERNS(k_ge),
    [DM_BIN_MAXIMUM] = KERNS(k_maximum), [DM_BIN_MINIMUM] = KERNS(k_minimum),
};
/* float32 into float32, typed (the common case's direct call); NULL for comparisons */
const dm_f32_row_fn dm__cpu_binary_f32[NBINOPS] = {
    [DM_BIN_ADD] = k_add, [DM_BIN_SUB] = k_sub, [DM_BIN_MUL] = k_mul, [DM_BIN_DIV] = k_div,
    [DM_BIN_POW] = k_pow, [DM_BIN_MAXIMUM] = k_maximum, [DM_BIN_MINIMUM] = k_minimum,
};

static inline int kclass(dm_dtype ct) { return ct == DM_FLOAT32 ? 0 : ct == DM_FLOAT64 ? 1 : 2; }

// a, b broadcast to out's shape [n], all of a's dtype (out: bool for comparisons)
void dm__cpu_binary(dm_binop op, dm_tensor *out, const dm_tensor *a, const dm_tensor *b)
{
    int64_t n = dm__numel(out);
    void *o = dm__ptr(out);
    int ca = dm__is_contig(a), cb = dm__is_contig(b);
    int64_t na = dm__numel(a), nb = dm__numel(b);
    vkern kern = bink[op][kclass(a->dtype)];
    if (ca && cb && na == n && nb == n)                    /* same shape, contiguous */
        kern(n, dm__ptr(a), 1, dm__ptr(b), 1, o);
    else if (nb == 1 && ca && na == n)                     /* b is one element */
        kern(n, dm__ptr(a), 1, dm__ptr(b), 0, o);
    else if (na == 1 && cb && nb == n)                     /* a is one element */
        kern(n, dm__ptr(a), 0, dm__ptr(b), 1, o);
    else {                                                 /* anything: row by row */
        dm_walk w;
        dm_walk_init(&w, 2, (const dm_tensor *[]){ a, b }, out->ndim, out->shape);
        int64_t len = dm_walk_row_len(&w), sa = dm_walk_row_stride(&w, 0),
                sb = dm_walk_row_stride(&w, 1), osz = (int64_t)dm__esize(out->dtype);
        for (int64_t done = 0; done < n; done += len) {
            kern(len, dm_walk_ptr(&w, 0), sa, dm_walk_ptr(&w, 1), sb, (char *)o + done * osz);
            dm_walk_next_row(&w);
        }
    }
}

/* ---- one-input maps: o = f(x) row by row ------------------------------------------------ */

typedef struct rowctx rowctx;
typedef void (*rowfn)(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o);
struct rowctx {
    rowfn fn;
    int which;              /* dm_unop for unary rows */
    vkern bk;               /* for tensor-scalar rows */
    int reversed;
    float s, lo, hi;        /* scalar operand / parameters (float32 rows) */
    double sd, lod, hid;    /* the same for float64 rows */
};

/* out = f(x), out contiguous of x's shape */
static void map1(dm_tensor *out, const dm_tensor *x, const rowctx *c)
{
    int64_t n = dm__numel(out);
    char *o = dm__ptr(out);
    if (dm__is_contig(x)) {                /* fast path: one row */
        c->fn(c, n, dm__ptr(x), 1, o);
        return;
    }
    dm_walk w;
    dm_walk_init(&w, 1, &x, x->ndim, x->shape);
    int64_t len = dm_walk_row_len(&w), sx = dm_walk_row_stride(&w, 0), esz = w.esz[0];
    for (int64_t done = 0; done < n; done += len) {
        c->fn(c, len, dm_walk_ptr(&w, 0), sx, o + done * esz);
        dm_walk_next_row(&w);
    }
}

/* a row function over float32 (name) and float64 (name_d) elements: the body sees x, o of
   type T and, for each of the rowctx parameters, its value in T (s, lo, hi) */
#define ROW_FLOATS(name, ...)                                                               \
    ROW_T(name, float, c->s, c->lo, c->hi, __VA_ARGS__)                                     \
    ROW_T(name##_d, double, c->sd, c->lod, c->hid, __VA_ARGS__)
#define ROW_T(name, T, S, LO, HI, ...)                                                      \
    static void name(const rowctx *c, int64_t n, const void *xv, int64_t sx, void *ov)      \
    {                                                                                       \
        const T *x = xv;                                                                    \
        T *restrict o = ov;                                                                 \
        const T s = S, lo = LO, hi = HI;                                                    \
        (void)s; (void)lo; (void)hi;                                                        \
        __VA_ARGS__                                                                         \
    }

/* ---- unary kernels ---------------------------------------------------------------------- */

typedef void (*ukern)(int64_t n, const void *x, int64_t sx, void *o);

#define UNARY_KERNEL_T(name, T, EXPR) UNARY_KERNEL_CT(name, T, DM_AVX_CLONES, EXPR)
#define UNARY_KERNEL_CT(name, T, CLONES, EXPR)                                              \
    CLONES                                                                                  \
    static void name(int64_t n, const T *xs, int64_t sx, T *restrict o)                     \
    {                                                                                       \
        if (sx == 1) {                                                                      \
            VLOOP(n, T x = xs[i]; o[i] = (EXPR););                                          \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) { T x = xs[i * sx]; o[i] = (EXPR); }            \
        }                                                                                   \
    }                                                                                       \
    static void name##_v(int64_t n, const void *x, int64_t sx, void *o)                     \
    {                                                                                       \
        name(n, (const T *)x, sx, (T *)o);                                                  \
    }
#define UNARY_FLOATS(name, EXPR) UNARY_KERNEL_T(name, float, EXPR) \
    UNARY_KERNEL_T(name##_d, double, EXPR)
/* the same where float32 calls vmath.h: its clones add AVX2 (256-bit integer ops) */
#define UNARY_FLOATS_VM(name, EXPR) UNARY_KERNEL_CT(name, float, DM_VMATH_CLONES, EXPR) \
    UNARY_KERNEL_T(name##_d, double, EXPR)

static inline float selu_f(float x)
{
    return x <= 0 ? (dm_vexpf(x) - 1.0f) * (SELU_ALPHA * SELU_SCALE) : x * SELU_SCALE;
}
static inline double selu_d(double x)
{
    return x <= 0 ? (exp(x) - 1.0) * (SELU_ALPHA_D * SELU_SCALE_D) : x * SELU_SCALE_D;
}
static inline float gelu_f(float x) { return x * 0.5f * (1.0f + erff(x * GELU_ALPHA)); }
static inline double gelu_d(double x) { return x * 0.5 * (1.0 + erf(x * GELU_ALPHA_D)); }
#define SELU(x) _Generic((x), float: selu_f, default: selu_d)(x)
#define GELU(x) _Generic((x), float: gelu_f, default: gelu_d)(x)

UNARY_FLOATS(u_neg, -x)
UNARY_FLOATS_VM(u_exp, VEXP(x))
UNARY_FLOATS(u_log, log(x))
UNARY_FLOATS(u_sqrt, sqrt(x))
UNARY_FLOATS(u_abs, fabs(x))
UNARY_FLOATS(u_sign, (__typeof__(x))SIGN_OF(x))
UNARY_FLOATS(u_round, nearbyint(x))
UNARY_FLOATS(u_floor, floor(x))
UNARY_FLOATS(u_ceil, ceil(x))
UNARY_FLOATS_VM(u_tanh, VTANH(x))
UNARY_FLOATS_VM(u_sigmoid, VSIGMOID(x))
UNARY_FLOATS(u_relu, x < 0 ? 0 : x)          /* keeps NaN, as clamp_min(x, 0) does */
UNARY_FLOATS(u_reciprocal, 1 / x)
UNARY_FLOATS(u_sin, sin(x))
UNARY_FLOATS(u_cos, cos(x))
UNARY_FLOATS_VM(u_selu, SELU(x))
UNARY_FLOATS(u_gelu, GELU(x))
UNARY_FLOATS(u_square, x * x)
UNARY_FLOATS(u_log1p, log1p(x))
/* the libm functions, in the input's type (float32 in float, as torch computes them) */
UNARY_FLOATS(u_trunc, trunc(x))
UNARY_FLOATS(u_frac, x - trunc(x))
UNARY_FLOATS(u_expm1, expm1(x))
UNARY_FLOATS(u_log2, log2(x))
UNARY_FLOATS(u_log10, log10(x))
UNARY_FLOATS(u_exp2, exp2(x))
UNARY_FLOATS(u_rsqrt, 1 / sqrt(x))
UNARY_FLOATS(u_tan, tan(x))
UNARY_FLOATS(u_asin, asin(x))
UNARY_FLOATS(u_acos, acos(x))
UNARY_FLOATS(u_atan, atan(x))
UNARY_FLOATS(u_sinh, sinh(x))
UNARY_FLOATS(u_cosh, cosh(x))
UNARY_FLOATS(u_asinh, asinh(x))
UNARY_FLOATS(u_acosh, acosh(x))
UNARY_FLOATS(u_atanh, atanh(x))
UNARY_FLOATS(u_erf, erf(x))
UNARY_FLOATS(u_erfc, erfc(x))
UNARY_FLOATS(u_deg2rad, x * (__typeof__(x))0.017453292519943295769)   /* x * (pi / 180) */
UNARY_FLOATS(u_rad2deg, x * (__typeof__(x))57.295779513082320877)     /* x * (180 / pi) */
/* the special functions: float32 in float, as PyTorch's kernels (specfun.h) */
#define DIGAMMA(x) _Generic((x), float: dm__digammaf, default: dm__digamma)(x)
#define ERFINV(x) _Generic((x), float: dm__erfinvf, default: dm__erfinv)(x)
UNARY_FLOATS(u_lgamma, lgamma(x))
UNARY_FLOATS(u_digamma, DIGAMMA(x))
UNARY_FLOATS(u_erfinv, ERFINV(x))
UNARY_FLOATS(u_logit, log(x / (1 - x)))                  /* x = 1: inf */
UNARY_FLOATS(u_sinc, x == 0 ? 1 : sin(x * (__typeof__(x))3.14159265358979323846) /
                                  (x * (__typeof__(x))3.14159265358979323846))
/* integers: exact, wrapping as PyTorch's (-INT64_MIN is INT64_MIN) */
UNARY_KERNEL_T(u_neg_i, int64_t, WRAP(0, -, x))
UNARY_KERNEL_T(u_abs_i, int64_t, x < 0 ? WRAP(0, -, x) : x)
UNARY_KERNEL_T(u_sign_i, int64_t, SIGN_OF(x))
UNARY_KERNEL_T(u_square_i, int64_t, WRAP(x, *, x))
UNARY_KERNEL_T(u_relu_i, int64_t, x < 0 ? 0 : x)

/* [0] float32, [1] float64, [2] int64 (NULL: the op has no integer kernel) */
#define UK(k) { k##_v, k##_d_v, NULL }
#define UKI(k) { k##_v, k##_d_v, k##_i_v }
static const ukern unk[DM_UN_COUNT][3] = {
    [DM_UN_NEG] = UKI(u_neg), [DM_UN_EXP] = UK(u_exp), [DM_UN_LOG] = UK(u_log),
    [DM_UN_SQRT] = UK(u_sqrt), [DM_UN_ABS] = UKI(u_abs), [DM_UN_SIGN] = UKI(u_sign),
    [DM_UN_ROUND] = UK(u_round), [DM_UN_FLOOR] = UK(u_floor), [DM_UN_CEIL] = UK(u_ceil),
    [DM_UN_TANH] = UK(u_tanh), [DM_UN_SIGMOID] = UK(u_sigmoid), [DM_UN_RELU] = UKI(u_relu),
    [DM_UN_RECIPROCAL] = UK(u_reciprocal), [DM_UN_SIN] = UK(u_sin), [DM_UN_COS] = UK(u_cos),
    [DM_UN_SELU] = UK(u_selu), [DM_UN_GELU] = UK(u_gelu), [DM_UN_SQUARE] = UKI(u_square),
    [DM_UN_LOG1P] = UK(u_log1p),
    [DM_UN_TRUNC] = UK(u_trunc), [DM_UN_FRAC] = UK(u_frac), [DM_UN_EXPM1] = UK(u_expm1),
    [DM_UN_LOG2] = UK(u_log2), [DM_UN_LOG10] = UK(u_log10), [DM_UN_EXP2] = UK(u_exp2),
    [DM_UN_RSQRT] = UK(u_rsqrt), [DM_UN_TAN] = UK(u_tan), [DM_UN_ASIN] = UK(u_asin),
    [DM_UN_ACOS] = UK(u_acos), [DM_UN_ATAN] = UK(u_atan), [DM_UN_SINH] = UK(u_sinh),
    [DM_UN_COSH] = UK(u_cosh), [DM_UN_ASINH] = UK(u_asinh), [DM_UN_ACOSH] = UK(u_acosh),
    [DM_UN_ATANH] = UK(u_atanh), [DM_UN_ERF] = UK(u_erf), [DM_UN_ERFC] = UK(u_erfc),
    [DM_UN_DEG2RAD] = UK(u_deg2rad), [DM_UN_RAD2DEG] = UK(u_rad2deg),
    [DM_UN_SGN] = UKI(u_sign),
    [DM_UN_LGAMMA] = UK(u_lgamma), [DM_UN_DIGAMMA] = UK(u_digamma),
    [DM_UN_ERFINV] = UK(u_erfinv), [DM_UN_LOGIT] = UK(u_logit), [DM_UN_SINC] = UK(u_sinc),
};

static void row_unary(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    unk[c->which][0](n, x, sx, o);
}
static void row_unary_d(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    unk[c->which][1](n, x, sx, o);
}
static void row_unary_i(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    unk[c->which][2](n, x, sx, o);
}

void dm__cpu_unary(dm_unop op, dm_tensor *out, const dm_tensor *x)
{
    rowfn f = x->dtype == DM_FLOAT32 ? row_unary : x->dtype == DM_FLOAT64 ? row_unary_d
            : row_unary_i;
    map1(out, x, &(rowctx){ .fn = f, .which = (int)op });
}

/* ---- tensor-scalar ops ------------------------------------------------------------------ */

/* x op s through a binary kernel with a stride-0 scalar operand (or s op x when reversed) */
static void row_scalar(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    if (c->reversed) c->bk(n, &c->s, 0, x, sx, o);
    else c->bk(n, x, sx, &c->s, 0, o);
}
static void row_scalar_d(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    if (c->reversed) c->bk(n, &c->sd, 0, x, sx, o);
    else c->bk(n, x, sx, &c->sd, 0, o);
}

/* s / x is torch's reciprocal(x) * s */
ROW_FLOATS(row_rdiv, ROWLOOP_T(__typeof__(s), o[i] = (1 / v) * s;);)

/* x ^ s with the special cases of torch's pow(Tensor, Scalar) kernel */
#define POW_SCALAR_ROW(name, T)                                                             \
    static void name(int64_t n, const T *x, int64_t sx, T s, T *restrict o)                 \
    {                                                                                       \
        if (s == 0)         for (int64_t i = 0; i < n; i++) o[i] = 1;                       \
        else if (s == 1)    ROWLOOP_T(T, o[i] = v;);                                        \
        else if (s == 2)    ROWLOOP_T(T, o[i] = v * v;);                                    \
        else if (s == 3)    ROWLOOP_T(T, o[i] = v * v * v;);                                \
        else if (s == 0.5)  ROWLOOP_T(T, o[i] = sqrt(v););                                  \
        else if (s == -0.5) ROWLOOP_T(T, o[i] = 1 / sqrt(v););                              \
        else if (s == -1)   ROWLOOP_T(T, o[i] = 1 / v;);                                    \
        else if (s == -2)   ROWLOOP_T(T, o[i] = 1 / (v * v););                              \
        else                ROWLOOP_T(T, o[i] = pow(v, s););                                \
    }
POW_SCALAR_ROW(pow_scalar_row, float)
POW_SCALAR_ROW(pow_scalar_row_d, double)
#define POW_SCALAR(n, x, sx, s, o) \
    _Generic((s), float: pow_scalar_row, default: pow_scalar_row_d)(n, x, sx, s, o)

ROW_FLOATS(row_pows, POW_SCALAR(n, x, sx, s, o);)

/* s ^ x; torch answers 1 everywhere for s = 1 (even for NaN exponents) */
ROW_FLOATS(row_rpows,
    if (s == 1) for (int64_t i = 0; i < n; i++) o[i] = 1;
    else _Generic(s, float: k_pow, default: k_pow_d)(n, &s, 0, x, sx, o);)

// x is float32 or float64, s in its type
void dm__cpu_scalar(dm_scalar_kind k, dm_tensor *out, const dm_tensor *x, double s)
{
    int d = x->dtype == DM_FLOAT64;
    rowctx c = { .fn = d ? row_scalar_d : row_scalar, .s = (float)s, .sd = s };
#define PICK(f) (d ? f##_d : f)
    switch (k) {
    case DM_SC_ADD:  c.bk = bink[DM_BIN_ADD][d]; break;
    case DM_SC_MUL:  c.bk = bink[DM_BIN_MUL][d]; break;
    case DM_SC_DIV:  c.bk = bink[DM_BIN_DIV][d]; break;
    case DM_SC_RSUB: c.bk = bink[DM_BIN_SUB][d]; c.reversed = 1; break;
    case DM_SC_RDIV: c.fn = PICK(row_rdiv); break;
    case DM_SC_POW:  c.fn = PICK(row_pows); break;
    case DM_SC_RPOW: c.fn = PICK(row_rpows); break;
    }
#undef PICK
    map1(out, x, &c);
}

/* ---- clamp, leaky_relu, elu ------------------------------------------------------------- */

/* min(max(x, lo), hi) as std::min/std::max compute it: NaN x stays NaN, lo > hi gives hi */
ROW_FLOATS(row_clamp,
    if (isnan(hi))      ROWLOOP_T(__typeof__(s), o[i] = v < lo ? lo : v;);
    else if (isnan(lo)) ROWLOOP_T(__typeof__(s), o[i] = hi < v ? hi : v;);
    else ROWLOOP_T(__typeof__(s), const __typeof__(s) w = v < lo ? lo : v; o[i] = hi < w ? hi : w;);)

ROW_FLOATS(row_leaky,
    ROWLOOP_T(__typeof__(s), const __typeof__(s) vs = v * s; o[i] = v > 0 ? v : vs;);)

ROW_FLOATS(row_elu, ROWLOOP_T(__typeof__(s), o[i] = v <= 0 ? (VEXP(v) - 1) * s : v;);)

void dm__cpu_clamp(dm_tensor *out, const dm_tensor *x, double lo, double hi)
{
    int d = x->dtype == DM_FLOAT64;
    map1(out, x, &(rowctx){ .fn = d ? row_clamp_d : row_clamp, .lo = (float)lo,
                            .hi = (float)hi, .lod = lo, .hid = hi });
}
void dm__cpu_leaky_relu(dm_tensor *out, const dm_tensor *x, double slope, double unused)
{
    (void)unused;
    int d = x->dtype == DM_FLOAT64;
    map1(out, x, &(rowctx){ .fn = d ? row_leaky_d : row_leaky, .s = (float)slope,
                            .sd = slope });
}
void dm__cpu_elu(dm_tensor *out, const dm_tensor *x, double alpha, double unused)
{
    (void)unused;
    int d = x->dtype == DM_FLOAT64;
    map1(out, x, &(rowctx){ .fn = d ? row_elu_d : row_elu, .s = (float)alpha, .sd = alpha });
}

/* ---- where ------------------------------------------------------------------------------ */

/* o[i] = c[i] ? a[i] : b[i] over rows of the walk, elements of type T */
#define WHERE_ROWS(T) do {                                                                  \
        T *o = dm__ptr(out);                                                                \
        for (int64_t done = 0; done < n; done += len) {                                     \
            const uint8_t *cp = dm_walk_ptr(&w, 0);                                         \
            const T *ap = dm_walk_ptr(&w, 1), *bp = dm_walk_ptr(&w, 2);                     \
            for (int64_t i = 0; i < len; i++)                                               \
                o[done + i] = cp[i * sc] ? ap[i * sa] : bp[i * sb];                         \
            dm_walk_next_row(&w);                                                           \
        }                                                                                   \
    } while (0)

void dm__cpu_where(dm_tensor *out, const dm_tensor *cond, const dm_tensor *a,
                      const dm_tensor *b)
{
    int64_t n = dm__numel(out);
    dm_walk w;
    dm_walk_init(&w, 3, (const dm_tensor *[]){ cond, a, b }, out->ndim, out->shape);
    int64_t len = dm_walk_row_len(&w);
    // cond, a, b are rows of len elements with strides sc, sa, sb
    int64_t sc = dm_walk_row_stride(&w, 0), sa = dm_walk_row_stride(&w, 1),
            sb = dm_walk_row_stride(&w, 2);
    switch (dm__esize(out->dtype)) {
    case 4: WHERE_ROWS(float); break;
    case 8: WHERE_ROWS(int64_t); break;        /* float64 moves as its 8 bytes */
    default: WHERE_ROWS(uint8_t); break;
    }
}


/* ---- in place on any dtype (inplace.c) ----------------------------------------------------
 * t and src walked together row by row; each row in chunks of IP_CHUNK elements: t's chunk
 * (read in place when it is of ct and contiguous, else converted into a buffer), the row
 * kernel of the out-of-place op into a second buffer, written back converted to t's dtype
 * (copied when the types agree).  So the values are the out-of-place kernels' exactly. */
#include "convert.h"

#define IP_CHUNK 256
#define IS_CMP_OP(op) ((op) >= DM_BIN_EQ && (op) <= DM_BIN_GE)

static void ip_chunk(int op, int kc, int64_t m, const void *a, const void *s, int64_t ss,
                     double lo, double hi, void *o)
{
    if (op == DM_IPX_POWS) {
        if (kc == 0) pow_scalar_row(m, a, 1, *(const float *)s, o);
        else pow_scalar_row_d(m, a, 1, *(const double *)s, o);
    } else if (op == DM_IPX_CLAMP) {
        rowctx c = { .lo = (float)lo, .hi = (float)hi, .lod = lo, .hid = hi };
        if (kc == 0) row_clamp(&c, m, a, 1, o);
        else row_clamp_d(&c, m, a, 1, o);
    } else {
        bink[op][kc](m, a, 1, s, ss, o);
    }
}

void dm__cpu_inplace(int op, dm_dtype ct, dm_tensor *t, const dm_tensor *src, double lo,
                     double hi)
{
    int64_t n = dm__numel(t);
    if (n == 0) return;
    int kc = kclass(ct), cmp = IS_CMP_OP(op);
    dm_dtype td = t->dtype, rt = cmp ? DM_BOOL : ct;        /* the row kernel's output */
    int64_t te = (int64_t)dm__esize(td), ce = (int64_t)dm__esize(ct),
            re = (int64_t)dm__esize(rt);
    dm_walk w;
    dm_walk_init(&w, src ? 2 : 1, (const dm_tensor *[]){ t, src }, t->ndim, t->shape);
    int64_t len = dm_walk_row_len(&w), st = dm_walk_row_stride(&w, 0),
            ss = src ? dm_walk_row_stride(&w, 1) : 0;
    uint64_t abuf[IP_CHUNK], obuf[IP_CHUNK];               /* 8-byte elements at most */
    for (int64_t done = 0; done < n; done += len) {
        char *tp = (char *)dm_walk_ptr(&w, 0);
        const char *sp = src ? dm_walk_ptr(&w, 1) : NULL;
        for (int64_t j = 0; j < len; j += IP_CHUNK) {
            int64_t m = len - j < IP_CHUNK ? len - j : IP_CHUNK;
            char *tj = tp + j * st * te;
            const void *a = tj;
            if (td != ct || st != 1) {
                for (int64_t i = 0; i < m; i++)
                    dm__convert1((char *)abuf + i * ce, ct, tj + i * st * te, td);
                a = abuf;
            }
            ip_chunk(op, kc, m, a, sp ? sp + j * ss * ce : NULL, ss, lo, hi, obuf);
            if (td == rt && st == 1) memcpy(tj, obuf, (size_t)(m * re));
            else
                for (int64_t i = 0; i < m; i++)
                    dm__convert1(tj + i * st * te, td, (const char *)obuf + i * re, rt);
        }
        dm_walk_next_row(&w);
    }
}
