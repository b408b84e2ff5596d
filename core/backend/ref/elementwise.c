/* ref/elementwise.c -- the naive elementwise kernels: the cpu:ref device's, and the
 * reference the cpu device's vectorised kernels (cpu/elementwise.c) are tested against in
 * tests/c/test_backend_ops.c.
 *
 * One obvious loop per op: element i of the result (row-major in out's shape) is computed
 * from the inputs' elements found by their own index arithmetic (no walker, no fast path),
 * in double for floating types and in int64 (wrapping) for integers, and stored in out's
 * dtype.  For float32 that is the formula in double rounded once, so it may differ from the
 * float computation in the last bits (within 1e-6 relative); float64 follows the same
 * formulas as cpu, PyTorch's (s / x is reciprocal(x) * s, x ^ s special-cases a few s). */
#include "internal.h"
#include "ref.h"
#include "specfun.h"
#include <math.h>
#include <string.h>

/* the storage offset of out's element i in t, t broadcast to out's shape */
static int64_t at(const dm_tensor *t, const dm_tensor *out, int64_t i)
{
    int64_t off = t->offset;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int64_t k = i % out->shape[d];
        i /= out->shape[d];
        int dt = d - (out->ndim - t->ndim);
        if (dt >= 0 && t->shape[dt] != 1) off += k * t->stride[dt];
    }
    return off;
}

static double get(const dm_tensor *t, int64_t off)
{
    const void *p = t->storage->data;
    switch (t->dtype) {
    case DM_FLOAT32: return ((const float *)p)[off];
    case DM_FLOAT64: return ((const double *)p)[off];
    case DM_INT64: return (double)((const int64_t *)p)[off];
    default: return ((const uint8_t *)p)[off];
    }
}
static int64_t geti(const dm_tensor *t, int64_t off)
{
    return t->dtype == DM_INT64 ? ((const int64_t *)t->storage->data)[off]
                                : (int64_t)((const uint8_t *)t->storage->data)[off];
}

/* out[i] = v, out contiguous */
static void put(dm_tensor *out, int64_t i, double v)
{
    void *p = dm__ptr(out);
    switch (out->dtype) {
    case DM_FLOAT32: ((float *)p)[i] = (float)v; break;
    case DM_FLOAT64: ((double *)p)[i] = v; break;
    case DM_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: ((uint8_t *)p)[i] = v != 0; break;
    }
}
static void puti(dm_tensor *out, int64_t i, int64_t v)
{
    if (out->dtype == DM_INT64) ((int64_t *)dm__ptr(out))[i] = v;
    else ((uint8_t *)dm__ptr(out))[i] = v != 0;
}

/* int64 arithmetic wraps (two's complement), as PyTorch's */
static int64_t wrap(uint64_t v) { return (int64_t)v; }

/* b ^ e, exact and wrapping; a negative e gives 0 but for b = 1 and b = -1 */
static int64_t ipow(int64_t b, int64_t e)
{
    if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1;
    for (uint64_t x = (uint64_t)b; e; e >>= 1, x *= x) if (e & 1) r *= x;
    return (int64_t)r;
}

/* x op y for floating types (in double) and integers (int64, wrapping) */
static double bin_f(dm_binop op, double x, double y)
{
    switch (op) {
    case DM_BIN_ADD: return x + y;
    case DM_BIN_SUB: return x - y;
    case DM_BIN_MUL: return x * y;
    case DM_BIN_DIV: return x / y;
    case DM_BIN_POW: return pow(x, y);
    case DM_BIN_EQ: return x == y;
    case DM_BIN_NE: return x != y;
    case DM_BIN_LT: return x < y;
    case DM_BIN_LE: return x <= y;
    case DM_BIN_GT: return x > y;
    case DM_BIN_GE: return x >= y;
    /* NaN on either side gives NaN */
    case DM_BIN_MAXIMUM: return isnan(x) ? x : isnan(y) ? y : x < y ? y : x;
    case DM_BIN_MINIMUM: return isnan(x) ? x : isnan(y) ? y : y < x ? y : x;
    }
    return 0;
}
static int64_t bin_i(dm_binop op, int64_t x, int64_t y)
{
    switch (op) {
    case DM_BIN_ADD: return wrap((uint64_t)x + (uint64_t)y);
    case DM_BIN_SUB: return wrap((uint64_t)x - (uint64_t)y);
    case DM_BIN_MUL: return wrap((uint64_t)x * (uint64_t)y);
    case DM_BIN_POW: return ipow(x, y);
    case DM_BIN_EQ: return x == y;
    case DM_BIN_NE: return x != y;
    case DM_BIN_LT: return x < y;
    case DM_BIN_LE: return x <= y;
    case DM_BIN_GT: return x > y;
    case DM_BIN_GE: return x >= y;
    case DM_BIN_MAXIMUM: return x < y ? y : x;
    case DM_BIN_MINIMUM: return y < x ? y : x;
    case DM_BIN_DIV: break;                 /* the op divides integers in float32 */
    }
    return 0;
}

// out[i] = a[i] op b[i], a and b broadcast to out's shape [n]
void dm__ref_binary(dm_binop op, dm_tensor *out, const dm_tensor *a, const dm_tensor *b)
{
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        if (a->dtype == DM_INT64)
            puti(out, i, bin_i(op, geti(a, at(a, out, i)), geti(b, at(b, out, i))));
        else
            put(out, i, bin_f(op, get(a, at(a, out, i)), get(b, at(b, out, i))));
    }
}

// the same over float32 rows: o[i] = a[i * sa] op b[i * sb], i < n
#define REF_F32(name, op)                                                                   \
    static void name(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,     \
                     float *o)                                                              \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) o[i] = (float)bin_f(op, a[i * sa], b[i * sb]);      \
    }
REF_F32(add_f32, DM_BIN_ADD)
REF_F32(sub_f32, DM_BIN_SUB)
REF_F32(mul_f32, DM_BIN_MUL)
REF_F32(div_f32, DM_BIN_DIV)
REF_F32(pow_f32, DM_BIN_POW)
REF_F32(maximum_f32, DM_BIN_MAXIMUM)
REF_F32(minimum_f32, DM_BIN_MINIMUM)
const dm_f32_row_fn dm__ref_binary_f32[DM_BIN_MINIMUM + 1] = {
    [DM_BIN_ADD] = add_f32, [DM_BIN_SUB] = sub_f32, [DM_BIN_MUL] = mul_f32,
    [DM_BIN_DIV] = div_f32, [DM_BIN_POW] = pow_f32, [DM_BIN_MAXIMUM] = maximum_f32,
    [DM_BIN_MINIMUM] = minimum_f32,
};

/* torch.selu and gelu's constants */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT1_2 0.70710678118654752440

// out[i] = f(x[i]), out and x of one shape
void dm__ref_unary(dm_unop op, dm_tensor *out, const dm_tensor *x)
{
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        if (x->dtype == DM_INT64) {
            int64_t v = geti(x, at(x, out, i)), r = 0;
            switch (op) {
            case DM_UN_NEG: r = wrap(0 - (uint64_t)v); break;
            case DM_UN_ABS: r = v < 0 ? wrap(0 - (uint64_t)v) : v; break;
            case DM_UN_SIGN: case DM_UN_SGN: r = (v > 0) - (v < 0); break;
            case DM_UN_SQUARE: r = wrap((uint64_t)v * (uint64_t)v); break;
            case DM_UN_RELU: r = v < 0 ? 0 : v; break;
            default: break;                     /* the others compute in float32 */
            }
            puti(out, i, r);
            continue;
        }
        double v = get(x, at(x, out, i)), r = 0;
        switch (op) {
        case DM_UN_NEG: r = -v; break;
        case DM_UN_EXP: r = exp(v); break;
        case DM_UN_LOG: r = log(v); break;
        case DM_UN_SQRT: r = sqrt(v); break;
        case DM_UN_ABS: r = fabs(v); break;
        case DM_UN_SIGN: r = (v > 0) - (v < 0); break;       /* sign(NaN) = 0 */
        case DM_UN_ROUND: r = nearbyint(v); break;           /* half to even */
        case DM_UN_FLOOR: r = floor(v); break;
        case DM_UN_CEIL: r = ceil(v); break;
        case DM_UN_TANH: r = tanh(v); break;
        case DM_UN_SIGMOID: r = 1 / (1 + exp(-v)); break;
        case DM_UN_RELU: r = v < 0 ? 0 : v; break;           /* keeps NaN */
        case DM_UN_RECIPROCAL: r = 1 / v; break;
        case DM_UN_SIN: r = sin(v); break;
        case DM_UN_COS: r = cos(v); break;
        case DM_UN_SELU: r = v <= 0 ? (exp(v) - 1) * (SELU_ALPHA * SELU_SCALE) : v * SELU_SCALE;
            break;
        case DM_UN_GELU: r = v * 0.5 * (1 + erf(v * SQRT1_2)); break;
        case DM_UN_SQUARE: r = v * v; break;
        case DM_UN_LOG1P: r = log1p(v); break;
        case DM_UN_TRUNC: r = trunc(v); break;
        case DM_UN_FRAC: r = v - trunc(v); break;
        case DM_UN_EXPM1: r = expm1(v); break;
        case DM_UN_LOG2: r = log2(v); break;
        case DM_UN_LOG10: r = log10(v); break;
        case DM_UN_EXP2: r = exp2(v); break;
        case DM_UN_RSQRT: r = 1 / sqrt(v); break;
        case DM_UN_TAN: r = tan(v); break;
        case DM_UN_ASIN: r = asin(v); break;
        case DM_UN_ACOS: r = acos(v); break;
        case DM_UN_ATAN: r = atan(v); break;
        case DM_UN_SINH: r = sinh(v); break;
        case DM_UN_COSH: r = cosh(v); break;
        case DM_UN_ASINH: r = asinh(v); break;
        case DM_UN_ACOSH: r = acosh(v); break;
        case DM_UN_ATANH: r = atanh(v); break;
        case DM_UN_ERF: r = erf(v); break;
        case DM_UN_ERFC: r = erfc(v); break;
        case DM_UN_DEG2RAD: r = v * (3.14159265358979323846 / 180); break;
        case DM_UN_RAD2DEG: r = v * (180 / 3.14159265358979323846); break;
        case DM_UN_SGN: r = (v > 0) - (v < 0); break;
        case DM_UN_LGAMMA: r = lgamma(v); break;
        case DM_UN_DIGAMMA: r = dm__digamma(v); break;
        case DM_UN_ERFINV: r = dm__erfinv(v); break;
        case DM_UN_LOGIT: r = log(v / (1 - v)); break;
        case DM_UN_SINC:
            r = v == 0 ? 1 : sin(v * 3.14159265358979323846) / (v * 3.14159265358979323846);
            break;
        case DM_UN_COUNT: break;
        }
        put(out, i, r);
    }
}

/* x ^ s as torch's pow(Tensor, Scalar) defines it */
static double pow_scalar(double v, double s)
{
    if (s == 0) return 1;
    if (s == 1) return v;
    if (s == 2) return v * v;
    if (s == 3) return v * v * v;
    if (s == 0.5) return sqrt(v);
    if (s == -0.5) return 1 / sqrt(v);
    if (s == -1) return 1 / v;
    if (s == -2) return 1 / (v * v);
    return pow(v, s);
}

// out[i] = x[i] op s, x floating
void dm__ref_scalar(dm_scalar_kind k, dm_tensor *out, const dm_tensor *x, double s)
{
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        double v = get(x, at(x, out, i)), r = 0;
        switch (k) {
        case DM_SC_ADD: r = v + s; break;
        case DM_SC_MUL: r = v * s; break;
        case DM_SC_DIV: r = v / s; break;
        case DM_SC_RSUB: r = s - v; break;
        case DM_SC_RDIV: r = (1 / v) * s; break;
        case DM_SC_POW: r = pow_scalar(v, s); break;
        case DM_SC_RPOW: r = s == 1 ? 1 : pow(s, v); break;   /* 1 ^ NaN is 1 */
        }
        put(out, i, r);
    }
}

// out[i] = min(max(x[i], lo), hi), a NaN bound is none; NaN x stays NaN, lo > hi gives hi
void dm__ref_clamp(dm_tensor *out, const dm_tensor *x, double lo, double hi)
{
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        double v = get(x, at(x, out, i));
        if (!isnan(lo) && v < lo) v = lo;
        if (!isnan(hi) && v > hi) v = hi;
        put(out, i, v);
    }
}

void dm__ref_leaky_relu(dm_tensor *out, const dm_tensor *x, double slope, double unused)
{
    (void)unused;
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        double v = get(x, at(x, out, i));
        put(out, i, v > 0 ? v : v * slope);
    }
}

void dm__ref_elu(dm_tensor *out, const dm_tensor *x, double alpha, double unused)
{
    (void)unused;
    int64_t n = dm__numel(out);
    for (int64_t i = 0; i < n; i++) {
        double v = get(x, at(x, out, i));
        put(out, i, v <= 0 ? (exp(v) - 1) * alpha : v);
    }
}

// out[i] = cond[i] ? a[i] : b[i], the element's bytes as they are
void dm__ref_where(dm_tensor *out, const dm_tensor *cond, const dm_tensor *a,
                   const dm_tensor *b)
{
    int64_t n = dm__numel(out);
    size_t es = dm__esize(out->dtype);
    for (int64_t i = 0; i < n; i++) {
        const dm_tensor *src = ((const uint8_t *)cond->storage->data)[at(cond, out, i)] ? a : b;
        memcpy((char *)dm__ptr(out) + i * (int64_t)es,
               (const char *)src->storage->data + at(src, out, i) * (int64_t)es, es);
    }
}

/* ---- backward: each rule's formula in double, one element at a time ----------------------- */

/* element k of a contiguous buffer of dt (float32, float64), and its store */
static double ldk(dm_dtype dt, const void *p, int64_t k)
{
    return dt == DM_FLOAT32 ? ((const float *)p)[k] : ((const double *)p)[k];
}
static void stk(dm_dtype dt, void *p, int64_t k, double v)
{
    if (dt == DM_FLOAT32) ((float *)p)[k] = (float)v;
    else ((double *)p)[k] = v;
}
/* a parameter as the node's type holds it */
static double in_type(dm_dtype dt, double v) { return dt == DM_FLOAT32 ? (double)(float)v : v; }

// g, x, y, o are [m]: o = g * f'(x), f' read from x or from y = f(x)
void dm__ref_unary_bw(dm_dtype dt, dm_unop u, int64_t m, const void *g, const void *x,
                      const void *y, void *o)
{
    const double sa = 1.6732632423543772848170429916717, ss = 1.0507009873554804934193349852946;
    for (int64_t i = 0; i < m; i++) {
        double gv = ldk(dt, g, i), xv = x ? ldk(dt, x, i) : 0, yv = y ? ldk(dt, y, i) : 0, d;
        switch (u) {
        case DM_UN_NEG: d = -1; break;
        case DM_UN_EXP: d = yv; break;
        case DM_UN_LOG: d = 1 / xv; break;
        case DM_UN_SQRT: d = 1 / (2 * yv); break;
        case DM_UN_ABS: d = xv > 0 ? 1 : xv < 0 ? -1 : 0; break;
        case DM_UN_TANH: d = 1 - yv * yv; break;
        case DM_UN_SIGMOID: d = (1 - yv) * yv; break;
        case DM_UN_RELU: stk(dt, o, i, yv <= 0 ? 0 : gv); continue;
        case DM_UN_RECIPROCAL: d = -(yv * yv); break;
        case DM_UN_SIN: d = cos(xv); break;
        case DM_UN_COS: d = -sin(xv); break;
        case DM_UN_SELU: d = xv <= 0 ? sa * ss * exp(xv) : ss; break;
        case DM_UN_GELU:
            d = 0.5 * (1 + erf(xv / sqrt(2.0)))
                + xv * exp(-0.5 * xv * xv) / sqrt(2 * 3.14159265358979323846);
            break;
        case DM_UN_SQUARE: d = 2 * xv; break;
        case DM_UN_LOG1P: d = 1 / (xv + 1); break;
        case DM_UN_FRAC: d = 1; break;
        case DM_UN_EXPM1: d = yv + 1; break;
        case DM_UN_LOG2: d = 1 / (xv * 0.69314718055994530942); break;
        case DM_UN_LOG10: d = 1 / (xv * 2.30258509299404568402); break;
        case DM_UN_EXP2: d = yv * 0.69314718055994530942; break;
        case DM_UN_RSQRT: d = -0.5 * yv * yv * yv; break;
        case DM_UN_TAN: d = 1 + yv * yv; break;
        case DM_UN_ASIN: d = 1 / sqrt(1 - xv * xv); break;
        case DM_UN_ACOS: d = -1 / sqrt(1 - xv * xv); break;
        case DM_UN_ATAN: d = 1 / (xv * xv + 1); break;
        case DM_UN_SINH: d = cosh(xv); break;
        case DM_UN_COSH: d = sinh(xv); break;
        case DM_UN_ASINH: d = 1 / sqrt(xv * xv + 1); break;
        case DM_UN_ACOSH: d = 1 / sqrt(xv * xv - 1); break;
        case DM_UN_ATANH: d = 1 / (1 - xv * xv); break;
        case DM_UN_ERF: d = 1.12837916709551257390 * exp(-xv * xv); break;
        case DM_UN_ERFC: d = -1.12837916709551257390 * exp(-xv * xv); break;
        case DM_UN_DEG2RAD: d = 3.14159265358979323846 / 180; break;
        case DM_UN_RAD2DEG: d = 180 / 3.14159265358979323846; break;
        case DM_UN_LGAMMA: d = dm__digamma(xv); break;
        case DM_UN_DIGAMMA: d = dm__trigamma(xv); break;
        case DM_UN_ERFINV: d = 0.88622692545275801365 * exp(yv * yv); break;
        case DM_UN_LOGIT:                                   /* nan outside [0, 1] */
            stk(dt, o, i, xv < 0 || xv > 1 ? NAN : gv / (xv * (1 - xv)));
            continue;
        case DM_UN_SINC: {
            double t = xv * 3.14159265358979323846, s2 = xv * xv * 3.14159265358979323846;
            stk(dt, o, i, s2 == 0 ? 0 : gv * (t * cos(t) - sin(t)) / s2);
            continue;
        }
        default: stk(dt, o, i, 0); continue;  /* sign, round, floor, ceil, trunc, sgn: 0 */
        }
        stk(dt, o, i, gv * d);
    }
}

// g, x, y, o are [m]: the tensor-scalar rules with s (o holds x^(s-1) for pow)
void dm__ref_scalar_bw(dm_dtype dt, int op, int div, int64_t m, const void *g, const void *x,
                       const void *y, double s, double p1, void *o)
{
    double sv = in_type(dt, s);
    for (int64_t i = 0; i < m; i++) {
        double gv = ldk(dt, g, i), v;
        switch (op) {
        case DM_OP_MULS: v = div ? gv / in_type(dt, p1) : gv * sv; break;
        case DM_OP_RSUBS: v = -gv; break;
        case DM_OP_RDIVS: { double r = 1 / ldk(dt, x, i); v = -(gv * sv) * (r * r); break; }
        case DM_OP_POWS: v = sv == 0 ? 0 : gv * sv * ldk(dt, o, i); break;
        default:                                     /* DM_OP_RPOWS */
            v = sv == 0 && ldk(dt, x, i) >= 0 ? 0 : gv * ldk(dt, y, i) * log(s);
            break;
        }
        stk(dt, o, i, v);
    }
}

// g, x, o are [m]: clamp passes g inside [lo, hi], leaky_relu and elu scale it below 0
void dm__ref_param_bw(dm_dtype dt, int op, int64_t m, const void *g, const void *x, double p0,
                      double p1, void *o)
{
    double a = in_type(dt, p0), b = in_type(dt, p1);
    for (int64_t i = 0; i < m; i++) {
        double gv = ldk(dt, g, i), xv = ldk(dt, x, i), v;
        if (op == DM_OP_CLAMP) v = (isnan(a) || xv >= a) && (isnan(b) || xv <= b) ? gv : 0;
        else if (op == DM_OP_LEAKY_RELU) v = xv > 0 ? gv : gv * a;
        else v = xv <= 0 ? gv * a * exp(xv) : gv;
        stk(dt, o, i, v);
    }
}

// gout, ga, gb, y contiguous [out]; a, b broadcast to it
void dm__ref_binary_bw(dm_dtype dt, int op, const dm_tensor *gout, const dm_tensor *a,
                       const dm_tensor *b, const dm_tensor *y, dm_tensor *ga, dm_tensor *gb)
{
    int64_t n = dm__numel(gout);
    const void *g = dm__ptr(gout);
    for (int64_t i = 0; i < n; i++) {
        double x = get(a, at(a, gout, i)), e = get(b, at(b, gout, i)), gg = ldk(dt, g, i);
        double da, db;
        if (op == DM_OP_POW) {
            da = e == 0 ? 0 : gg * e * pow(x, e - 1);
            db = x == 0 && e >= 0 ? 0 : gg * ldk(dt, dm__ptr(y), i) * log(x);
        } else {                                    /* maximum, minimum: ties share */
            int a_wins = op == DM_OP_MAXIMUM ? x > e : x < e;
            int b_wins = op == DM_OP_MAXIMUM ? x < e : x > e;
            da = a_wins ? gg : b_wins ? 0 : x == e ? gg / 2 : gg;
            db = b_wins ? gg : a_wins ? 0 : x == e ? gg / 2 : gg;
        }
        if (ga) put(ga, i, da);
        if (gb) put(gb, i, db);
    }
}

// gout, ga, gb contiguous [out]; cond broadcast to it
void dm__ref_where_bw(dm_dtype dt, const dm_tensor *cond, const dm_tensor *gout, dm_tensor *ga,
                      dm_tensor *gb)
{
    int64_t n = dm__numel(gout);
    for (int64_t i = 0; i < n; i++) {
        int c = get(cond, at(cond, gout, i)) != 0;
        double gv = ldk(dt, dm__ptr(gout), i);
        if (ga) put(ga, i, c ? gv : 0);
        if (gb) put(gb, i, c ? 0 : gv);
    }
}

/* ---- in place on any dtype (inplace.c) ----------------------------------------------------
 * Element i of t (row-major) by its own index arithmetic: read and rounded to ct, the op in
 * int64 (wrapping) or in double (a float32 ct rounded once), stored back spelled out in t's
 * dtype (int64 to uint8 the low byte, to bool v != 0). */

// t's element at off as an integer of ct int64 (t is int64, uint8 or bool there)
static int64_t ip_geti(const dm_tensor *t, int64_t off) { return geti(t, off); }

// t's element at off rounded to the floating ct
static double ip_getf(const dm_tensor *t, int64_t off, dm_dtype ct)
{
    double v = get(t, off);
    if (ct == DM_FLOAT32)
        v = t->dtype == DM_INT64 ? (float)((const int64_t *)t->storage->data)[off] : (float)v;
    return v;
}

static void ip_puti(dm_tensor *t, int64_t off, int64_t v)
{
    void *p = t->storage->data;
    switch (t->dtype) {
    case DM_FLOAT32: ((float *)p)[off] = (float)v; break;      /* a comparison's 0 or 1 */
    case DM_FLOAT64: ((double *)p)[off] = (double)v; break;
    case DM_INT64: ((int64_t *)p)[off] = v; break;
    case DM_UINT8: ((uint8_t *)p)[off] = (uint8_t)((uint64_t)v & 0xff); break;
    default: ((uint8_t *)p)[off] = v != 0; break;
    }
}

void dm__ref_inplace(int op, dm_dtype ct, dm_tensor *t, const dm_tensor *src, double lo,
                     double hi)
{
    int cmp = op >= DM_BIN_EQ && op <= DM_BIN_GE;
    for (int64_t i = 0, n = dm__numel(t); i < n; i++) {
        int64_t off = at(t, t, i);
        if (ct == DM_INT64) {
            int64_t y = geti(src, at(src, t, i));
            ip_puti(t, off, bin_i(op == DM_IPX_POWS ? DM_BIN_POW : (dm_binop)op,
                                  ip_geti(t, off), y));
            continue;
        }
        double x = ip_getf(t, off, ct), r;
        if (op == DM_IPX_CLAMP) {
            r = x;
            if (!isnan(lo) && r < lo) r = lo;
            if (!isnan(hi) && r > hi) r = hi;
        } else {
            double y = get(src, at(src, t, i));
            r = op == DM_IPX_POWS ? pow_scalar(x, y) : bin_f((dm_binop)op, x, y);
        }
        if (cmp) { ip_puti(t, off, r != 0); continue; }
        if (ct == DM_FLOAT32) r = (float)r;
        if (t->dtype == DM_FLOAT32) ((float *)t->storage->data)[off] = (float)r;
        else ((double *)t->storage->data)[off] = r;
    }
}
