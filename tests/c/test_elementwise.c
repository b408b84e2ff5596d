/*
 * test_elementwise.c -- broadcasting binary ops, tensor-scalar ops, unary ops, clamp,
 * leaky_relu, elu and where (core/ops/elementwise.c), forward and backward.
 *
 * The fixtures (forward values and gradients for a gradient of ones) come from PyTorch 1.13
 * (Debian's python3-torch); they were printed by this script and pasted below:
 *
 *   import torch, math
 *   F = torch.nn.functional
 *   def fmt(t): ...                      # floats as %.9g, nan/inf as NAN/INFINITY
 *   X = [-2.5, -1.0, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7]
 *   for name, f in [("NEG", torch.neg), ("EXP", torch.exp), ..., ("GELU", F.gelu), ...]:
 *       x = torch.tensor(X, requires_grad=True); y = f(x); y.backward(torch.ones_like(y))
 *       print(name, fmt(y.detach()), fmt(x.grad))
 *   A = [0.0, -1.5, 2.0, 0.5, 3.0, -2.0, 0.0, 1.0]; B = [0.0, 2.0, 0.5, 0.0, 3.0, 0.5, -1.0, 1.0]
 *   for torch.add, sub, mul, div, pow, maximum, minimum: y = f(a, b), backward, print y, a.grad, b.grad
 *   XS = [-2.0, -0.5, 0.0, 0.5, 3.0]
 *   for (x + s, s + x, x - s, s - x, x * s, x / s, s / x, x ** s, s ** x) with the listed s:
 *       print y, x.grad, y.grad_fn.name()
 *   XP = [-2.0, -0.5, 0.0, 0.5, 3.0, nan]: clamp(x, -0.5, 0.5), clamp(x, min=0),
 *       clamp(x, max=0.5), clamp(x, 1, -1), leaky_relu(x, 0.1), elu(x, 0.7)
 */
#include "testutil.h"

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* ---- helpers --------------------------------------------------------------------------- */

/* comparisons give bool tensors: their values as float32, to compare with the formulas */
static dm_tensor *as_f32(dm_tensor *t)
{
    if (!t || t->dtype == DM_FLOAT32) return t;
    dm_tensor *f = dm_to_dtype(t, DM_FLOAT32);
    dm_tensor_release(t);
    return f;
}
static dm_tensor *binf(dm_binop op, const dm_tensor *a, const dm_tensor *b)
{
    return as_f32(dm_binary(op, a, b));
}
/* a float 0/1 mask as the bool condition where() takes */
static dm_tensor *to_bool(dm_tensor *t)
{
    dm_tensor *b = dm_to_dtype(t, DM_BOOL);
    dm_tensor_release(t);
    return b;
}

static dm_tensor *leaf(dm_tensor *t)
{
    dm_set_requires_grad(t, 1);
    return t;
}

/* the same values as t in a non-contiguous layout: column-major, NaN around them */
static dm_tensor *noncontig(const dm_tensor *t)
{
    int order[DM_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) order[d] = t->ndim - 1 - d;
    return tu_strided_copy(t, order, 1, 0);
}

/* a one-element tensor seen as (ndim, shape) through zero strides: numel > 1, so the op
   cannot take its single-element fast path */
static dm_tensor *expanded(const dm_tensor *one, int ndim, const int64_t *shape)
{
    int64_t st[DM_MAX_DIMS] = {0};
    return dm_tensor_alias(one, ndim, shape, st, one->offset);
}

/* per-element reference formulas, written from PyTorch's CPU kernels */
static float ref_bin(dm_binop op, float x, float y)
{
    switch (op) {
    case DM_BIN_ADD: return x + y;
    case DM_BIN_SUB: return x - y;
    case DM_BIN_MUL: return x * y;
    case DM_BIN_DIV: return x / y;
    case DM_BIN_POW: return powf(x, y);
    case DM_BIN_EQ: return x == y;
    case DM_BIN_NE: return x != y;
    case DM_BIN_LT: return x < y;
    case DM_BIN_LE: return x <= y;
    case DM_BIN_GT: return x > y;
    case DM_BIN_GE: return x >= y;
    case DM_BIN_MAXIMUM: return isnan(x) || isnan(y) ? NAN : (x > y ? x : y);
    case DM_BIN_MINIMUM: return isnan(x) || isnan(y) ? NAN : (x < y ? x : y);
    }
    return NAN;
}

/* independent double references of the special functions: digamma by the recurrence to
   x >= 6 and the asymptotic series (reflection below 0), erfinv by Newton's method on erf from
   0 (erf is concave there: monotone convergence) */
#define REF_PI 3.14159265358979323846
static double ref_digamma(double x)
{
    if (x == 0) return copysign(INFINITY, -x);
    if (x < 0) return x == floor(x) ? NAN : ref_digamma(1 - x) - REF_PI / tan(REF_PI * x);
    double r = 0;
    for (; x < 6; x += 1) r -= 1 / x;
    double z = 1 / (x * x);
    return r + log(x) - 0.5 / x - z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z / 240)));
}
static double ref_erfinv(double y)
{
    if (!(fabs(y) <= 1)) return NAN;
    if (fabs(y) == 1) return copysign(INFINITY, y);
    double x = 0;
    for (int i = 0; i < 200; i++) x -= (erf(x) - y) / (1.12837916709551257390 * exp(-x * x));
    return x;
}

static float ref_un(dm_unop op, float x)
{
    switch (op) {
    case DM_UN_NEG: return -x;
    case DM_UN_EXP: return expf(x);
    case DM_UN_LOG: return logf(x);
    case DM_UN_SQRT: return sqrtf(x);
    case DM_UN_ABS: return fabsf(x);
    case DM_UN_SIGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
    case DM_UN_ROUND: return nearbyintf(x);
    case DM_UN_FLOOR: return floorf(x);
    case DM_UN_CEIL: return ceilf(x);
    case DM_UN_TANH: return tanhf(x);
    case DM_UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case DM_UN_RELU: return x > 0 ? x : 0.0f;
    case DM_UN_RECIPROCAL: return 1.0f / x;
    case DM_UN_SIN: return sinf(x);
    case DM_UN_COS: return cosf(x);
    case DM_UN_SELU: return (float)(x > 0 ? 1.0507009873554805 * x
                                          : 1.0507009873554805 * 1.6732632423543772 * expm1(x));
    case DM_UN_GELU: return (float)(0.5 * x * (1 + erf(x / sqrt(2.0))));
    case DM_UN_SQUARE: return x * x;
    case DM_UN_LOG1P: return log1pf(x);
    case DM_UN_TRUNC: return truncf(x);
    case DM_UN_FRAC: return x - truncf(x);
    case DM_UN_EXPM1: return expm1f(x);
    case DM_UN_LOG2: return log2f(x);
    case DM_UN_LOG10: return log10f(x);
    case DM_UN_EXP2: return exp2f(x);
    case DM_UN_RSQRT: return 1.0f / sqrtf(x);
    case DM_UN_TAN: return tanf(x);
    case DM_UN_ASIN: return asinf(x);
    case DM_UN_ACOS: return acosf(x);
    case DM_UN_ATAN: return atanf(x);
    case DM_UN_SINH: return sinhf(x);
    case DM_UN_COSH: return coshf(x);
    case DM_UN_ASINH: return asinhf(x);
    case DM_UN_ACOSH: return acoshf(x);
    case DM_UN_ATANH: return atanhf(x);
    case DM_UN_ERF: return erff(x);
    case DM_UN_ERFC: return erfcf(x);
    case DM_UN_DEG2RAD: return (float)(x * (3.14159265358979323846 / 180));
    case DM_UN_RAD2DEG: return (float)(x * (180 / 3.14159265358979323846));
    case DM_UN_SGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
    case DM_UN_LGAMMA: return (float)lgamma(x);
    case DM_UN_DIGAMMA: return (float)ref_digamma(x);
    case DM_UN_ERFINV: return (float)ref_erfinv(x);
    case DM_UN_LOGIT: return (float)log((double)x / (1 - (double)x));
    case DM_UN_SINC: return x == 0 ? 1.0f : (float)(sin(REF_PI * x) / (REF_PI * x));
    case DM_UN_COUNT: break;
    }
    return NAN;
}

static const char *binname[] = { "add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le",
                                 "gt", "ge", "maximum", "minimum" };
#define NBIN 13

/* ---- fixtures from PyTorch ---------------------------------------------------------------- */

static const float UX[8] = { -2.5f, -1.0f, -0.5f, 0.0f, 0.5f, 1.5f, 2.5f, 3.7f };
static const struct { dm_unop op; float y[8], dx[8]; } UFIX[] = {
    { DM_UN_NEG, {2.5f, 1, 0.5f, -0, -0.5f, -1.5f, -2.5f, -3.70000005f},
      {-1, -1, -1, -1, -1, -1, -1, -1} },
    { DM_UN_EXP, {0.0820849985f, 0.36787945f, 0.606530666f, 1, 1.64872122f, 4.48168898f, 12.1824942f, 40.4473076f},
      {0.0820849985f, 0.36787945f, 0.606530666f, 1, 1.64872122f, 4.48168898f, 12.1824942f, 40.4473076f} },
    { DM_UN_LOG, {NAN, NAN, NAN, -INFINITY, -0.693147182f, 0.405465096f, 0.91629076f, 1.3083328f},
      {-0.400000006f, -1, -2, INFINITY, 2, 0.666666687f, 0.400000006f, 0.270270258f} },
    { DM_UN_SQRT, {NAN, NAN, NAN, 0, 0.707106769f, 1.22474492f, 1.58113885f, 1.92353845f},
      {NAN, NAN, NAN, INFINITY, 0.707106769f, 0.408248276f, 0.316227764f, 0.259937614f} },
    { DM_UN_ABS, {2.5f, 1, 0.5f, 0, 0.5f, 1.5f, 2.5f, 3.70000005f},
      {-1, -1, -1, 0, 1, 1, 1, 1} },
    { DM_UN_SIGN, {-1, -1, -1, 0, 1, 1, 1, 1},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_ROUND, {-2, -1, -0, 0, 0, 2, 2, 4},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_FLOOR, {-3, -1, -1, 0, 0, 1, 2, 3},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_CEIL, {-2, -1, -0, 0, 1, 2, 3, 4},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_TANH, {-0.986614287f, -0.761594176f, -0.462117165f, 0, 0.462117165f, 0.905148268f, 0.986614287f, 0.998778224f},
      {0.0265922491f, 0.419974297f, 0.786447704f, 1, 0.786447704f, 0.18070662f, 0.0265922491f, 0.00244205934f} },
    { DM_UN_SIGMOID, {0.0758581758f, 0.268941432f, 0.377540678f, 0.5f, 0.622459352f, 0.817574441f, 0.924141824f, 0.975872993f},
      {0.0701037124f, 0.196611941f, 0.23500371f, 0.25f, 0.23500371f, 0.149146467f, 0.0701037124f, 0.0235448945f} },
    { DM_UN_RELU, {0, 0, 0, 0, 0.5f, 1.5f, 2.5f, 3.70000005f},
      {0, 0, 0, 0, 1, 1, 1, 1} },
    { DM_UN_RECIPROCAL, {-0.400000006f, -1, -2, INFINITY, 2, 0.666666687f, 0.400000006f, 0.270270258f},
      {-0.160000011f, -1, -4, -INFINITY, -4, -0.444444478f, -0.160000011f, -0.0730460137f} },
    { DM_UN_SIN, {-0.598472118f, -0.841470957f, -0.47942555f, 0, 0.47942555f, 0.997494996f, 0.598472118f, -0.529836178f},
      {-0.801143587f, 0.540302336f, 0.87758255f, 1, 0.87758255f, 0.070737198f, -0.801143587f, -0.848100007f} },
    { DM_UN_COS, {-0.801143587f, 0.540302336f, 0.87758255f, 1, 0.87758255f, 0.070737198f, -0.801143587f, -0.848100007f},
      {0.598472118f, 0.841470957f, 0.47942555f, -0, -0.47942555f, -0.997494996f, -0.598472118f, 0.529836178f} },
    { DM_UN_SELU, {-1.61378574f, -1.11133075f, -0.691758156f, 0, 0.525350511f, 1.57605147f, 2.62675261f, 3.88759375f},
      {0.144313574f, 0.64676863f, 1.06634116f, 1.75809932f, 1.05070102f, 1.05070102f, 1.05070102f, 1.05070102f} },
    { DM_UN_GELU, {-0.0155241787f, -0.158655286f, -0.154268786f, 0, 0.345731199f, 1.39978909f, 2.48447585f, 3.69960117f},
      {-0.0376110673f, -0.0833154321f, 0.13250491f, 0.5f, 0.86749506f, 1.12746918f, 1.03761101f, 1.00146389f} },
    { DM_UN_SQUARE, {6.25f, 1, 0.25f, 0, 0.25f, 2.25f, 6.25f, 13.6900005f},
      {-5, -2, -1, 0, 1, 3, 5, 7.4000001f} },
    { DM_UN_LOG1P, {NAN, -INFINITY, -0.693147182f, 0, 0.405465096f, 0.91629076f, 1.25276291f, 1.54756248f},
      {-0.666666687f, INFINITY, 2, 1, 0.666666687f, 0.400000006f, 0.285714298f, 0.212765962f} },
    { DM_UN_TRUNC, {-2, -1, -0, 0, 0, 1, 2, 3},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_FRAC, {-0.5f, 0, -0.5f, 0, 0.5f, 0.5f, 0.5f, 0.700000048f},
      {1, 1, 1, 1, 1, 1, 1, 1} },
    { DM_UN_EXPM1, {-0.917914987f, -0.63212055f, -0.393469334f, 0, 0.648721278f, 3.48168898f, 11.1824942f, 39.4473076f},
      {0.0820850134f, 0.36787945f, 0.606530666f, 1, 1.64872122f, 4.48168898f, 12.1824942f, 40.4473076f} },
    { DM_UN_LOG2, {NAN, NAN, NAN, -INFINITY, -1, 0.584962487f, 1.32192814f, 1.88752532f},
      {-0.577078044f, -1.44269502f, -2.88539004f, INFINITY, 2.88539004f, 0.961796701f, 0.577078044f, 0.389917582f} },
    { DM_UN_LOG10, {NAN, NAN, NAN, -INFINITY, -0.30103001f, 0.176091254f, 0.39794001f, 0.568201721f},
      {-0.173717782f, -0.434294462f, -0.868588924f, INFINITY, 0.868588924f, 0.289529651f, 0.173717782f, 0.117376886f} },
    { DM_UN_EXP2, {0.176776692f, 0.5f, 0.707106769f, 1, 1.41421354f, 2.82842708f, 5.65685415f, 12.9960384f},
      {0.122532263f, 0.346573591f, 0.490129054f, 0.693147182f, 0.980258107f, 1.96051621f, 3.92103243f, 9.00816727f} },
    { DM_UN_RSQRT, {NAN, NAN, NAN, INFINITY, 1.41421354f, 0.816496551f, 0.632455528f, 0.519875228f},
      {NAN, NAN, NAN, -INFINITY, -1.41421342f, -0.272165507f, -0.126491114f, -0.0702534094f} },
    { DM_UN_TAN, {0.747022331f, -1.55740774f, -0.546302497f, 0, 0.546302497f, 14.1014204f, -0.747022331f, 0.62473315f},
      {1.55804229f, 3.42551875f, 1.29844642f, 1, 1.29844642f, 199.850052f, 1.55804229f, 1.39029145f} },
    { DM_UN_ASIN, {NAN, -1.57079637f, -0.52359879f, 0, 0.52359879f, NAN, NAN, NAN},
      {NAN, INFINITY, 1.15470052f, 1, 1.15470052f, NAN, NAN, NAN} },
    { DM_UN_ACOS, {NAN, 3.14159274f, 2.09439516f, 1.57079637f, 1.04719758f, NAN, NAN, NAN},
      {NAN, -INFINITY, -1.15470052f, -1, -1.15470052f, NAN, NAN, NAN} },
    { DM_UN_ATAN, {-1.19028997f, -0.785398126f, -0.463647604f, 0, 0.463647604f, 0.982793748f, 1.19028997f, 1.30683255f},
      {0.137931034f, 0.5f, 0.800000012f, 1, 0.800000012f, 0.307692319f, 0.137931034f, 0.0680735186f} },
    { DM_UN_SINH, {-6.05020475f, -1.17520118f, -0.521095276f, 0, 0.521095276f, 2.12927938f, 6.05020475f, 20.2112923f},
      {6.13228941f, 1.54308057f, 1.12762594f, 1, 1.12762594f, 2.3524096f, 6.13228941f, 20.2360153f} },
    { DM_UN_COSH, {6.13228941f, 1.54308057f, 1.12762594f, 1, 1.12762594f, 2.3524096f, 6.13228941f, 20.2360153f},
      {-6.05020475f, -1.17520118f, -0.521095276f, 0, 0.521095276f, 2.12927938f, 6.05020475f, 20.2112923f} },
    { DM_UN_ASINH, {-1.64723122f, -0.881373584f, -0.481211841f, 0, 0.481211841f, 1.19476318f, 1.64723122f, 2.01926064f},
      {0.371390671f, 0.707106769f, 0.89442718f, 1, 0.89442718f, 0.554700196f, 0.371390671f, 0.260909021f} },
    { DM_UN_ACOSH, {NAN, NAN, NAN, NAN, NAN, 0.962423682f, 1.56679928f, 1.98269701f},
      {0.436435759f, INFINITY, NAN, NAN, NAN, 0.89442718f, 0.436435759f, 0.280717313f} },
    { DM_UN_ATANH, {NAN, -INFINITY, -0.549306154f, 0, 0.549306154f, NAN, NAN, NAN},
      {-0.190476194f, INFINITY, 1.33333337f, 1, 1.33333337f, -0.800000012f, -0.190476194f, -0.0788022056f} },
    { DM_UN_ERF, {-0.999593019f, -0.842700779f, -0.520499885f, 0, 0.520499885f, 0.966105163f, 0.999593019f, 0.999999821f},
      {0.00217828434f, 0.415107518f, 0.87878263f, 1.12837923f, 0.87878263f, 0.118930295f, 0.00217828434f, 1.27927342e-06f} },
    { DM_UN_ERFC, {1.99959302f, 1.84270084f, 1.52049994f, 1, 0.479500115f, 0.0338948518f, 0.000406952022f, 1.67151001e-07f},
      {-0.00217828434f, -0.415107518f, -0.87878263f, -1.12837923f, -0.87878263f, -0.118930295f, -0.00217828434f, -1.27927342e-06f} },
    { DM_UN_DEG2RAD, {-0.04363323f, -0.0174532924f, -0.00872664619f, 0, 0.00872664619f, 0.0261799395f, 0.04363323f, 0.0645771846f},
      {0.0174532924f, 0.0174532924f, 0.0174532924f, 0.0174532924f, 0.0174532924f, 0.0174532924f, 0.0174532924f, 0.0174532924f} },
    { DM_UN_RAD2DEG, {-143.239456f, -57.2957802f, -28.6478901f, 0, 28.6478901f, 85.9436722f, 143.239456f, 211.994385f},
      {57.2957802f, 57.2957802f, 57.2957802f, 57.2957802f, 57.2957802f, 57.2957802f, 57.2957802f, 57.2957802f} },
    { DM_UN_SGN, {-1, -1, -1, 0, 1, 1, 1, 1},
      {0, 0, 0, 0, 0, 0, 0, 0} },
    { DM_UN_LGAMMA, {-0.0562437177f, INFINITY, 1.26551211f, INFINITY, 0.572364926f, -0.120782234f, 0.28468287f, 1.42807233f},
      {1.10315669f, NAN, 0.0364899151f, -INFINITY, -1.96351087f, 0.0364899151f, 0.703156769f, 1.16715372f} },
    { DM_UN_DIGAMMA, {1.10315669f, NAN, 0.0364899151f, -INFINITY, -1.96351087f, 0.0364899151f, 0.703156769f, 1.16715372f},
      {9.53924751f, 1.2913697e+15f, 8.93480206f, INFINITY, 4.93480206f, 0.934802234f, 0.490357757f, 0.310037851f} },
    { DM_UN_ERFINV, {NAN, -INFINITY, -0.476936281f, 0, 0.476936281f, NAN, NAN, NAN},
      {NAN, INFINITY, 1.11258495f, 0.886226952f, 1.11258495f, NAN, NAN, NAN} },
    { DM_UN_LOGIT, {NAN, NAN, NAN, -INFINITY, 0, NAN, NAN, NAN},
      {NAN, NAN, NAN, INFINITY, 4, NAN, NAN, NAN} },
    { DM_UN_SINC, {0.127323955f, -2.78275341e-08f, 0.636619747f, 1, 0.636619747f, -0.212206587f, 0.127323955f, -0.0695994347f},
      {0.050929714f, 1, 1.27323961f, 0, -1.27323961f, 0.141471058f, -0.050929714f, 0.177671731f} },
};
static const char *UNAME[DM_UN_COUNT] = {
    "NegBackward0", "ExpBackward0", "LogBackward0", "SqrtBackward0", "AbsBackward0",
    "SignBackward0", "RoundBackward0", "FloorBackward0", "CeilBackward0", "TanhBackward0",
    "SigmoidBackward0", "ReluBackward0", "ReciprocalBackward0", "SinBackward0", "CosBackward0",
    "EluBackward0", "GeluBackward0", "PowBackward0", "Log1PBackward0",
    "TruncBackward0", "FracBackward0", "Expm1Backward0", "Log2Backward0", "Log10Backward0",
    "Exp2Backward0", "RsqrtBackward0", "TanBackward0", "AsinBackward0", "AcosBackward0",
    "AtanBackward0", "SinhBackward0", "CoshBackward0", "AsinhBackward0", "AcoshBackward0",
    "AtanhBackward0", "ErfBackward0", "ErfcBackward0", "Deg2RadBackward0", "Rad2DegBackward0",
    "SgnBackward0",
    "LgammaBackward0", "DigammaBackward0", "ErfinvBackward0", "LogitBackward0", "SincBackward0",
};

static const float BA[8] = { 0.0f, -1.5f, 2.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f };
static const float BB[8] = { 0.0f, 2.0f, 0.5f, 0.0f, 3.0f, 0.5f, -1.0f, 1.0f };
static const struct { dm_binop op; float y[8], da[8], db[8]; const char *name; } BFIX[] = {
    { DM_BIN_ADD, {0, 0.5f, 2.5f, 0.5f, 6, -1.5f, -1, 2},
      {1, 1, 1, 1, 1, 1, 1, 1},
      {1, 1, 1, 1, 1, 1, 1, 1}, "AddBackward0" },
    { DM_BIN_SUB, {0, -3.5f, 1.5f, 0.5f, 0, -2.5f, 1, 0},
      {1, 1, 1, 1, 1, 1, 1, 1},
      {-1, -1, -1, -1, -1, -1, -1, -1}, "SubBackward0" },
    { DM_BIN_MUL, {0, -3, 1, 0, 9, -1, -0, 1},
      {0, 2, 0.5f, 0, 3, 0.5f, -1, 1},
      {0, -1.5f, 2, 0.5f, 3, -2, 0, 1}, "MulBackward0" },
    { DM_BIN_DIV, {NAN, -0.75f, 4, INFINITY, 1, -4, -0, 1},
      {INFINITY, 0.5f, 2, INFINITY, 0.333333343f, 2, -1, 1},
      {NAN, 0.375f, -8, -INFINITY, -0.333333343f, 8, -0, -1}, "DivBackward0" },
    { DM_BIN_POW, {1, 2.25f, 1.41421354f, 1, 27, NAN, INFINITY, 1},
      {0, -3, 0.353553385f, 0, 27, NAN, -INFINITY, 1},
      {0, NAN, 0.980258107f, -0.693147182f, 29.6625328f, NAN, -INFINITY, 0}, "PowBackward1" },
    { DM_BIN_MAXIMUM, {0, 2, 2, 0.5f, 3, 0.5f, 0, 1},
      {0.5f, 0, 1, 1, 0.5f, 0, 1, 0.5f},
      {0.5f, 1, 0, 0, 0.5f, 1, 0, 0.5f}, "MaximumBackward0" },
    { DM_BIN_MINIMUM, {0, -1.5f, 0.5f, 0, 3, -2, -1, 1},
      {0.5f, 1, 0, 0, 0.5f, 1, 0, 0.5f},
      {0.5f, 0, 1, 1, 0.5f, 0, 1, 0.5f}, "MinimumBackward0" },
};

static const float SX[5] = { -2.0f, -0.5f, 0.0f, 0.5f, 3.0f };
static const struct { dm_binop op; float s; int rev; float y[5], dx[5]; const char *name; } SFIX[] = {
    { DM_BIN_ADD, 1.5f, 0, {-0.5f, 1, 1.5f, 2, 4.5f},
      {1, 1, 1, 1, 1}, "AddBackward0" },
    { DM_BIN_ADD, 1.5f, 1, {-0.5f, 1, 1.5f, 2, 4.5f},
      {1, 1, 1, 1, 1}, "AddBackward0" },
    { DM_BIN_SUB, 1.5f, 0, {-3.5f, -2, -1.5f, -1, 1.5f},
      {1, 1, 1, 1, 1}, "SubBackward0" },
    { DM_BIN_SUB, 1.5f, 1, {3.5f, 2, 1.5f, 1, -1.5f},
      {-1, -1, -1, -1, -1}, "RsubBackward1" },
    { DM_BIN_MUL, -3, 0, {6, 1.5f, -0, -1.5f, -9},
      {-3, -3, -3, -3, -3}, "MulBackward0" },
    { DM_BIN_MUL, -3, 1, {6, 1.5f, -0, -1.5f, -9},
      {-3, -3, -3, -3, -3}, "MulBackward0" },
    { DM_BIN_DIV, 3, 0, {-0.666666687f, -0.166666672f, 0, 0.166666672f, 1},
      {0.333333343f, 0.333333343f, 0.333333343f, 0.333333343f, 0.333333343f}, "DivBackward0" },
    { DM_BIN_DIV, 3, 1, {-1.5f, -6, INFINITY, 6, 1},
      {-0.75f, -12, -INFINITY, -12, -0.333333373f}, "MulBackward0" },
    { DM_BIN_POW, 2, 0, {4, 0.25f, 0, 0.25f, 9},
      {-4, -1, 0, 1, 6}, "PowBackward0" },
    { DM_BIN_POW, 3, 0, {-8, -0.125f, 0, 0.125f, 27},
      {12, 0.75f, 0, 0.75f, 27}, "PowBackward0" },
    { DM_BIN_POW, 0.5f, 0, {NAN, NAN, 0, 0.707106769f, 1.73205078f},
      {NAN, NAN, INFINITY, 0.707106769f, 0.288675129f}, "PowBackward0" },
    { DM_BIN_POW, -0.5f, 0, {NAN, NAN, INFINITY, 1.41421354f, 0.577350259f},
      {NAN, NAN, -INFINITY, -1.41421354f, -0.0962250456f}, "PowBackward0" },
    { DM_BIN_POW, -1, 0, {-0.5f, -2, INFINITY, 2, 0.333333343f},
      {-0.25f, -4, -INFINITY, -4, -0.111111112f}, "PowBackward0" },
    { DM_BIN_POW, -2, 0, {0.25f, 4, INFINITY, 4, 0.111111112f},
      {0.25f, 16, -INFINITY, -16, -0.0740740746f}, "PowBackward0" },
    { DM_BIN_POW, 0, 0, {1, 1, 1, 1, 1},
      {0, 0, 0, 0, 0}, "PowBackward0" },
    { DM_BIN_POW, 1, 0, {-2, -0.5f, 0, 0.5f, 3},
      {1, 1, 1, 1, 1}, "PowBackward0" },
    { DM_BIN_POW, 2.5f, 0, {NAN, NAN, 0, 0.176776692f, 15.5884571f},
      {NAN, NAN, 0, 0.883883476f, 12.9903803f}, "PowBackward0" },
    { DM_BIN_POW, 1.5f, 0, {NAN, NAN, 0, 0.353553385f, 5.19615221f},
      {NAN, NAN, 0, 1.06066012f, 2.59807611f}, "PowBackward0" },
    { DM_BIN_POW, 2, 1, {0.25f, 0.707106769f, 1, 1.41421354f, 8},
      {0.173286796f, 0.490129054f, 0.693147182f, 0.980258107f, 5.54517746f}, "PowBackward1" },
    { DM_BIN_POW, 0, 1, {INFINITY, INFINITY, 1, 0, 0},
      {-INFINITY, -INFINITY, 0, 0, 0}, "PowBackward1" },
    { DM_BIN_POW, -2, 1, {0.25f, NAN, 1, NAN, -8},
      {NAN, NAN, NAN, NAN, NAN}, "PowBackward1" },
    { DM_BIN_POW, 1, 1, {1, 1, 1, 1, 1},
      {0, 0, 0, 0, 0}, "PowBackward1" },
    { DM_BIN_POW, 0.3f, 1, {11.1111107f, 1.82574177f, 1, 0.547722578f, 0.0270000026f},
      {-13.3774748f, -2.19814348f, -1.20397282f, -0.65944308f, -0.0325072706f}, "PowBackward1" },
};

static const float PX[6] = { -2.0f, -0.5f, 0.0f, 0.5f, 3.0f, NAN };
enum { P_CLAMP, P_LEAKY, P_ELU };
static const struct { int kind; float p0, p1; float y[6], dx[6]; const char *name; } PFIX[] = {
    { P_CLAMP, -0.5f, 0.5f, {-0.5f, -0.5f, 0, 0.5f, 0.5f, NAN},
      {0, 1, 1, 1, 0, 0}, "ClampBackward1" },
    { P_CLAMP, 0.0f, NAN, {0, 0, 0, 0.5f, 3, NAN},
      {0, 0, 1, 1, 1, 0}, "ClampBackward1" },
    { P_CLAMP, NAN, 0.5f, {-2, -0.5f, 0, 0.5f, 0.5f, NAN},
      {1, 1, 1, 1, 0, 0}, "ClampBackward1" },
    { P_CLAMP, 1.0f, -1.0f, {-1, -1, -1, -1, -1, NAN},       /* lo > hi: everything hi */
      {0, 0, 0, 0, 0, 0}, "ClampBackward1" },
    { P_LEAKY, 0.1f, 0, {-0.200000003f, -0.0500000007f, 0, 0.5f, 3, NAN},
      {0.100000001f, 0.100000001f, 0.100000001f, 1, 1, 0.100000001f}, "LeakyReluBackward0" },
    { P_ELU, 0.7f, 0, {-0.605265319f, -0.275428534f, 0, 0.5f, 3, NAN},
      {0.0947346985f, 0.424571455f, 0.699999988f, 1, 1, 1}, "EluBackward0" },
};

static dm_tensor *param_op(int kind, const dm_tensor *x, float p0, float p1)
{
    switch (kind) {
    case P_CLAMP: return dm_clamp(x, p0, p1);
    case P_LEAKY: return dm_leaky_relu(x, p0);
    default: return dm_elu(x, p0);
    }
}

/* backward from y with a gradient of ones */
static int backward_ones(dm_tensor *y)
{
    dm_tensor *g = dm_tensor_full(y->ndim, y->shape, 1.0f);
    int rc = dm_backward(y, g, 0);
    dm_tensor_release(g);
    return rc;
}

/* ---- forward and gradients against PyTorch ------------------------------------------------- */

static void test_fixtures(void)
{
    char what[128];
    int64_t s8[1] = { 8 }, s5[1] = { 5 }, s6[1] = { 6 };
    CHECK(N_OF(UFIX) == DM_UN_COUNT, "a fixture for every unary op");
    for (int k = 0; k < N_OF(UFIX); k++) {
        dm_unop op = UFIX[k].op;
        dm_tensor *x = leaf(tu_tensor(1, s8, UX));
        dm_tensor *y = dm_unary(op, x);
        snprintf(what, sizeof what, "unary %s forward", UNAME[op]);
        CHECK(tu_vals_matchf(y, UFIX[k].y, 8, 1e-6, what), what);
        snprintf(what, sizeof what, "unary %s grad_fn", UNAME[op]);
        CHECK(y && dm_grad_fn_name(y) && strcmp(dm_grad_fn_name(y), UNAME[op]) == 0, what);
        snprintf(what, sizeof what, "unary %s backward", UNAME[op]);
        CHECK(y && backward_ones(y) == 0 && tu_vals_matchf(x->grad, UFIX[k].dx, 8, 1e-6, what),
              what);
        dm_tensor_release(y);
        dm_tensor_release(x);
    }
    for (int k = 0; k < N_OF(BFIX); k++) {
        dm_tensor *a = leaf(tu_tensor(1, s8, BA)), *b = leaf(tu_tensor(1, s8, BB));
        dm_tensor *y = dm_binary(BFIX[k].op, a, b);
        const char *nm = binname[BFIX[k].op];
        snprintf(what, sizeof what, "%s forward", nm);
        CHECK(tu_vals_matchf(y, BFIX[k].y, 8, 1e-6, what), what);
        snprintf(what, sizeof what, "%s grad_fn", nm);
        CHECK(y && strcmp(dm_grad_fn_name(y), BFIX[k].name) == 0, what);
        snprintf(what, sizeof what, "%s backward", nm);
        CHECK(y && backward_ones(y) == 0 && tu_vals_matchf(a->grad, BFIX[k].da, 8, 1e-6, what) &&
              tu_vals_matchf(b->grad, BFIX[k].db, 8, 1e-6, what), what);
        dm_tensor_release(y);
        dm_tensor_release(a);
        dm_tensor_release(b);
    }
    for (int k = 0; k < N_OF(SFIX); k++) {
        dm_tensor *x = leaf(tu_tensor(1, s5, SX));
        dm_tensor *y = dm_binary_scalar(SFIX[k].op, x, SFIX[k].s, SFIX[k].rev);
        const char *nm = binname[SFIX[k].op];
        snprintf(what, sizeof what, "%s scalar %g reversed %d forward", nm, SFIX[k].s, SFIX[k].rev);
        CHECK(tu_vals_matchf(y, SFIX[k].y, 5, 1e-6, what), what);
        snprintf(what, sizeof what, "%s scalar %g reversed %d grad_fn", nm, SFIX[k].s, SFIX[k].rev);
        CHECK(y && strcmp(dm_grad_fn_name(y), SFIX[k].name) == 0, what);
        snprintf(what, sizeof what, "%s scalar %g reversed %d backward", nm, SFIX[k].s, SFIX[k].rev);
        CHECK(y && backward_ones(y) == 0 && tu_vals_matchf(x->grad, SFIX[k].dx, 5, 1e-6, what),
              what);
        dm_tensor_release(y);
        dm_tensor_release(x);
    }
    for (int k = 0; k < N_OF(PFIX); k++) {
        dm_tensor *x = leaf(tu_tensor(1, s6, PX));
        dm_tensor *y = param_op(PFIX[k].kind, x, PFIX[k].p0, PFIX[k].p1);
        snprintf(what, sizeof what, "%s(%g, %g) forward", PFIX[k].name, PFIX[k].p0, PFIX[k].p1);
        CHECK(tu_vals_matchf(y, PFIX[k].y, 6, 1e-6, what), what);
        snprintf(what, sizeof what, "%s(%g, %g) grad_fn", PFIX[k].name, PFIX[k].p0, PFIX[k].p1);
        CHECK(y && strcmp(dm_grad_fn_name(y), PFIX[k].name) == 0, what);
        snprintf(what, sizeof what, "%s(%g, %g) backward", PFIX[k].name, PFIX[k].p0, PFIX[k].p1);
        CHECK(y && backward_ones(y) == 0 && tu_vals_matchf(x->grad, PFIX[k].dx, 6, 1e-6, what),
              what);
        dm_tensor_release(y);
        dm_tensor_release(x);
    }
}

/* ---- hand-computed forward values ----------------------------------------------------------- */

static void test_forward_by_hand(void)
{
    /* a [2 x 3] with b [3]: row broadcast */
    dm_tensor *a = tu_tensor(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    dm_tensor *b = tu_tensor(1, (int64_t[]){3}, (float[]){10, 20, 30});
    dm_tensor *y = dm_add(a, b);
    CHECK(tu_shape_is(y, 2, (int64_t[]){2, 3}), "add: broadcast shape [2 x 3]");
    CHECK(tu_vals_matchf(y, (float[]){11, 22, 33, 14, 25, 36}, 6, 0, "add"), "add [2 x 3] + [3]");
    dm_tensor_release(y);
    y = dm_sub(b, a);
    CHECK(tu_vals_matchf(y, (float[]){9, 18, 27, 6, 15, 24}, 6, 0, "sub"), "sub [3] - [2 x 3]");
    dm_tensor_release(y);
    y = dm_mul(a, b);
    CHECK(tu_vals_matchf(y, (float[]){10, 40, 90, 40, 100, 180}, 6, 0, "mul"), "mul");
    dm_tensor_release(y);
    y = dm_div(b, a);
    CHECK(tu_vals_matchf(y, (float[]){10, 10, 10, 2.5f, 4, 5}, 6, 0, "div"), "div");
    dm_tensor_release(y);
    dm_tensor_release(b);

    /* column [2 x 1] against row [1 x 3]: an outer sum; a 0-dim exponent */
    dm_tensor *c = tu_tensor(2, (int64_t[]){2, 1}, (float[]){1, 2});
    dm_tensor *r = tu_tensor(2, (int64_t[]){1, 3}, (float[]){0, 10, 20});
    y = dm_add(c, r);
    CHECK(tu_vals_matchf(y, (float[]){1, 11, 21, 2, 12, 22}, 6, 0, "outer"),
          "add [2 x 1] + [1 x 3]");
    dm_tensor_release(y);
    dm_tensor *two = dm_tensor_scalar(2);
    y = dm_pow(a, two);
    CHECK(tu_vals_matchf(y, (float[]){1, 4, 9, 16, 25, 36}, 6, 0, "pow"),
          "pow with a 0-dim exponent");
    CHECK(tu_shape_is(y, 2, (int64_t[]){2, 3}), "pow: shape of a");
    dm_tensor_release(y);
    y = dm_binary(DM_BIN_MAXIMUM, c, r);
    CHECK(tu_vals_matchf(y, (float[]){1, 10, 20, 2, 10, 20}, 6, 0, "maximum"), "maximum");
    dm_tensor_release(y);
    y = dm_binary(DM_BIN_MINIMUM, c, r);
    CHECK(tu_vals_matchf(y, (float[]){0, 1, 1, 0, 2, 2}, 6, 0, "minimum"), "minimum");
    dm_tensor_release(y);

    /* two 0-dim tensors give a 0-dim result; [1] with [] gives [1] */
    dm_tensor *three = dm_tensor_scalar(3);
    y = dm_mul(two, three);
    CHECK(y && y->ndim == 0 && dm_data(y)[0] == 6, "0-dim * 0-dim is 0-dim");
    dm_tensor_release(y);
    dm_tensor *one1 = tu_tensor(1, (int64_t[]){1}, (float[]){5});
    y = dm_sub(three, one1);
    CHECK(tu_shape_is(y, 1, (int64_t[]){1}) && dm_data(y)[0] == -2, "[] - [1] is [1]");
    dm_tensor_release(y);

    /* empty tensors broadcast to empty results */
    dm_tensor *e = dm_tensor_new(2, (int64_t[]){0, 3});
    dm_tensor *e3 = dm_tensor_new(1, (int64_t[]){3});
    dm_fill_(e3, 1);
    y = dm_add(e, e3);
    CHECK(tu_shape_is(y, 2, (int64_t[]){0, 3}), "[0 x 3] + [3] is [0 x 3]");
    dm_tensor_release(y);
    y = dm_unary(DM_UN_EXP, e);
    CHECK(tu_shape_is(y, 2, (int64_t[]){0, 3}), "exp of [0 x 3]");
    dm_tensor_release(y);

    /* comparisons: 0/1, NaN compares unequal to everything */
    dm_tensor *p = tu_tensor(1, (int64_t[]){4}, (float[]){1, 2, 3, NAN});
    dm_tensor *q = tu_tensor(1, (int64_t[]){4}, (float[]){2, 2, 2, NAN});
    static const float cmp_want[6][4] = {
        {0, 1, 0, 0}, {1, 0, 1, 1}, {1, 0, 0, 0}, {1, 1, 0, 0}, {0, 0, 1, 0}, {0, 1, 1, 0},
    };
    for (int op = DM_BIN_EQ; op <= DM_BIN_GE; op++) {
        y = dm_binary((dm_binop)op, p, q);
        CHECK(tu_vals_matchf(y, cmp_want[op - DM_BIN_EQ], 4, 0, binname[op]), binname[op]);
        dm_tensor_release(y);
        /* x op 2 (scalar), and 2 op x reversed: 2 < x is x > 2 */
        y = dm_binary_scalar((dm_binop)op, p, 2.0f, 0);
        CHECK(tu_vals_matchf(y, cmp_want[op - DM_BIN_EQ], 4, 0, binname[op]),
              "comparison with a scalar");
        dm_tensor_release(y);
    }
    y = dm_binary_scalar(DM_BIN_LT, p, 2.0f, 1);
    CHECK(tu_vals_matchf(y, (float[]){0, 0, 1, 0}, 4, 0, "2 < x"), "reversed lt: 2 < x");
    dm_tensor_release(y);
    y = dm_binary_scalar(DM_BIN_GE, p, 2.0f, 1);
    CHECK(tu_vals_matchf(y, (float[]){1, 1, 0, 0}, 4, 0, "2 >= x"), "reversed ge: 2 >= x");
    dm_tensor_release(y);
    y = dm_binary_scalar(DM_BIN_MAXIMUM, p, 2.0f, 0);
    CHECK(tu_vals_matchf(y, (float[]){2, 2, 3, NAN}, 4, 0, "maximum(x, 2)"),
          "maximum with a scalar (NaN propagates)");
    dm_tensor_release(y);
    y = dm_binary_scalar(DM_BIN_MINIMUM, p, 2.0f, 1);
    CHECK(tu_vals_matchf(y, (float[]){1, 2, 2, NAN}, 4, 0, "minimum(2, x)"),
          "minimum with a scalar");
    dm_tensor_release(y);
    y = dm_binary(DM_BIN_MAXIMUM, q, p);
    CHECK(tu_vals_matchf(y, (float[]){2, 2, 3, NAN}, 4, 0, "maximum"), "maximum propagates NaN");
    dm_tensor_release(y);

    /* where: cond [2 x 1], a [2 x 3], b [3] */
    dm_tensor *cond = to_bool(tu_tensor(2, (int64_t[]){2, 1}, (float[]){1, 0}));
    dm_tensor *wb = tu_tensor(1, (int64_t[]){3}, (float[]){-1, -2, -3});
    y = dm_where(cond, a, wb);
    CHECK(tu_shape_is(y, 2, (int64_t[]){2, 3}), "where: broadcast shape");
    CHECK(tu_vals_matchf(y, (float[]){1, 2, 3, -1, -2, -3}, 6, 0, "where"),
          "where [2 x 1], [2 x 3], [3]");
    dm_tensor_release(y);
    /* NaN and negative conditions count as true (nonzero) */
    dm_tensor *cond2 = to_bool(tu_tensor(1, (int64_t[]){3}, (float[]){NAN, -1, 0}));
    dm_tensor *seven = dm_tensor_scalar(7);
    y = dm_where(cond2, seven, wb);
    CHECK(tu_vals_matchf(y, (float[]){7, 7, -3}, 3, 0, "where nan"), "where: NaN and -1 are true");
    dm_tensor_release(y);

    /* round is half-to-even; relu keeps NaN; sign(NaN) = 0 */
    dm_tensor *h = tu_tensor(1, (int64_t[]){7}, (float[]){-1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 2.6f, NAN});
    y = dm_unary(DM_UN_ROUND, h);
    CHECK(tu_vals_matchf(y, (float[]){-2, -0.0f, 0, 2, 2, 3, NAN}, 7, 0, "round"),
          "round half to even");
    dm_tensor_release(y);
    y = dm_unary(DM_UN_RELU, h);
    CHECK(tu_vals_matchf(y, (float[]){0, 0, 0.5f, 1.5f, 2.5f, 2.6f, NAN}, 7, 0, "relu"),
          "relu keeps NaN");
    dm_tensor_release(y);
    y = dm_unary(DM_UN_SIGN, h);
    CHECK(tu_vals_matchf(y, (float[]){-1, -1, 1, 1, 1, 1, 0}, 7, 0, "sign"), "sign(NaN) = 0");
    dm_tensor_release(y);

    dm_tensor *objs[] = { a, c, r, two, three, one1, e, e3, p, q, cond, wb, cond2, seven, h };
    for (int i = 0; i < N_OF(objs); i++) dm_tensor_release(objs[i]);
}

/* ---- gradient checks ---------------------------------------------------------------------- */

typedef struct { int op; int rev; float s, p1; const dm_tensor *cond; } gctx;

static dm_tensor *g_binary(dm_tensor *const *in, void *ctx)
{
    return dm_binary((dm_binop)((gctx *)ctx)->op, in[0], in[1]);
}
static dm_tensor *g_scalar(dm_tensor *const *in, void *ctx)
{
    gctx *c = ctx;
    return dm_binary_scalar((dm_binop)c->op, in[0], c->s, c->rev);
}
static dm_tensor *g_unary(dm_tensor *const *in, void *ctx)
{
    return dm_unary((dm_unop)((gctx *)ctx)->op, in[0]);
}
static dm_tensor *g_param(dm_tensor *const *in, void *ctx)
{
    gctx *c = ctx;
    return param_op(c->op, in[0], c->s, c->p1);
}
static dm_tensor *g_where(dm_tensor *const *in, void *ctx)
{
    return dm_where(((gctx *)ctx)->cond, in[0], in[1]);
}

/* keep |v| >= margin so no sample sits on a kink (0 for abs, relu, selu, ...) */
static void push_from_zero(dm_tensor *t, float margin)
{
    float *d = dm_data(t);
    for (int64_t i = 0; i < dm_numel(t); i++) d[i] = d[i] < 0 ? d[i] - margin : d[i] + margin;
}

static void test_gradcheck(void)
{
    char what[128];
    const double eps = 1e-3, tol = 1e-2;
    /* every differentiable binary op on three broadcast patterns */
    static const struct { int na; int64_t sa[2]; int nb; int64_t sb[2]; } pats[] = {
        { 2, {2, 3}, 1, {3, 0} },          /* row broadcast */
        { 2, {2, 1}, 2, {1, 3} },          /* both sides broadcast */
        { 2, {2, 3}, 0, {0, 0} },          /* 0-dim right side */
    };
    static const dm_binop diff_ops[] = { DM_BIN_ADD, DM_BIN_SUB, DM_BIN_MUL, DM_BIN_DIV,
                                         DM_BIN_POW, DM_BIN_MAXIMUM, DM_BIN_MINIMUM };
    for (int k = 0; k < N_OF(diff_ops); k++)
        for (int p = 0; p < N_OF(pats); p++) {
            dm_binop op = diff_ops[k];
            dm_tensor *a = tu_rand(pats[p].na, pats[p].sa, -2, 2, 11 + (unsigned)p);
            dm_tensor *b = tu_rand(pats[p].nb, pats[p].sb, -2, 2, 23 + (unsigned)p);
            if (op == DM_BIN_DIV) push_from_zero(b, 0.5f);
            if (op == DM_BIN_POW) { tu_fill(a, 0.5f, 2, 5 + (unsigned)p); tu_fill(b, -1.5f, 1.5f, 6); }
            if (op == DM_BIN_MAXIMUM || op == DM_BIN_MINIMUM) {
                /* a in [-2, -0.1] U [0.1, 2] against b in (-0.05, 0.05): never within eps */
                push_from_zero(a, 0.1f);
                tu_fill(b, -0.05f, 0.05f, 9);
            }
            leaf(a);
            leaf(b);
            gctx c = { .op = op };
            double err = gradcheck(g_binary, 2, (dm_tensor *[]){ a, b }, &c, eps);
            snprintf(what, sizeof what, "gradcheck %s pattern %d (err %.3g)", binname[op], p, err);
            CHECK(err < tol, what);
            dm_tensor_release(a);
            dm_tensor_release(b);
        }

    /* every unary op; the loop covers the whole op table so a new op needs a domain here */
    static const struct { float lo, hi, margin; } dom[DM_UN_COUNT] = {
        [DM_UN_NEG] = { -2, 2, 0 }, [DM_UN_EXP] = { -2, 2, 0 }, [DM_UN_LOG] = { 0.5f, 2, 0 },
        [DM_UN_SQRT] = { 0.5f, 2, 0 }, [DM_UN_ABS] = { -2, 2, 0.1f },
        [DM_UN_SIGN] = { -2, 2, 0.1f }, [DM_UN_ROUND] = { 0.1f, 0.4f, 0 },
        [DM_UN_FLOOR] = { 0.1f, 0.9f, 0 }, [DM_UN_CEIL] = { 0.1f, 0.9f, 0 },
        [DM_UN_TANH] = { -2, 2, 0 }, [DM_UN_SIGMOID] = { -3, 3, 0 },
        [DM_UN_RELU] = { -2, 2, 0.1f }, [DM_UN_RECIPROCAL] = { 0.5f, 2, 0 },
        [DM_UN_SIN] = { -3, 3, 0 }, [DM_UN_COS] = { -3, 3, 0 }, [DM_UN_SELU] = { -2, 2, 0.1f },
        [DM_UN_GELU] = { -3, 3, 0 }, [DM_UN_SQUARE] = { -2, 2, 0 }, [DM_UN_LOG1P] = { -0.5f, 2, 0 },
        [DM_UN_TRUNC] = { 0.1f, 0.9f, 0 }, [DM_UN_FRAC] = { 0.1f, 0.9f, 0 },
        [DM_UN_EXPM1] = { -2, 2, 0 }, [DM_UN_LOG2] = { 0.5f, 2, 0 }, [DM_UN_LOG10] = { 0.5f, 2, 0 },
        [DM_UN_EXP2] = { -2, 2, 0 }, [DM_UN_RSQRT] = { 0.5f, 2, 0 }, [DM_UN_TAN] = { -1, 1, 0 },
        [DM_UN_ASIN] = { -0.8f, 0.8f, 0 }, [DM_UN_ACOS] = { -0.8f, 0.8f, 0 },
        [DM_UN_ATAN] = { -3, 3, 0 }, [DM_UN_SINH] = { -2, 2, 0 }, [DM_UN_COSH] = { -2, 2, 0 },
        [DM_UN_ASINH] = { -3, 3, 0 }, [DM_UN_ACOSH] = { 1.2f, 3, 0 },
        [DM_UN_ATANH] = { -0.8f, 0.8f, 0 }, [DM_UN_ERF] = { -2, 2, 0 }, [DM_UN_ERFC] = { -2, 2, 0 },
        [DM_UN_DEG2RAD] = { -2, 2, 0 }, [DM_UN_RAD2DEG] = { -2, 2, 0 },
        [DM_UN_SGN] = { -2, 2, 0.1f },
        [DM_UN_LGAMMA] = { 0.5f, 3, 0 }, [DM_UN_DIGAMMA] = { 0.5f, 3, 0 },
        [DM_UN_ERFINV] = { -0.8f, 0.8f, 0 }, [DM_UN_LOGIT] = { 0.2f, 0.8f, 0 },
        [DM_UN_SINC] = { 0.2f, 2, 0 },
    };
    for (int op = 0; op < DM_UN_COUNT; op++) {
        CHECK(dom[op].hi > dom[op].lo, "a gradcheck domain for every unary op");
        dm_tensor *x = tu_rand(2, (int64_t[]){3, 4}, dom[op].lo, dom[op].hi, 100 + (unsigned)op);
        if (dom[op].margin > 0) push_from_zero(x, dom[op].margin);
        leaf(x);
        gctx c = { .op = op };
        double err = gradcheck(g_unary, 1, &x, &c, eps);
        snprintf(what, sizeof what, "gradcheck %s (err %.3g)", UNAME[op], err);
        CHECK(err < tol, what);
        dm_tensor_release(x);
    }

    /* every tensor-scalar case of the fixture table, on positive inputs */
    for (int k = 0; k < N_OF(SFIX); k++) {
        dm_tensor *x = leaf(tu_rand(2, (int64_t[]){2, 3}, 0.5f, 2, 200 + (unsigned)k));
        gctx c = { .op = SFIX[k].op, .s = SFIX[k].s, .rev = SFIX[k].rev };
        double err = gradcheck(g_scalar, 1, &x, &c, eps);
        snprintf(what, sizeof what, "gradcheck %s scalar %g reversed %d (err %.3g)",
                 binname[SFIX[k].op], SFIX[k].s, SFIX[k].rev, err);
        CHECK(err < tol, what);
        dm_tensor_release(x);
    }
    /* scalar maximum/minimum go through the tensor rule */
    for (int op = DM_BIN_MAXIMUM; op <= DM_BIN_MINIMUM; op++) {
        dm_tensor *x = tu_rand(1, (int64_t[]){6}, -2, 2, 300 + (unsigned)op);
        push_from_zero(x, 0.1f);
        leaf(x);
        gctx c = { .op = op, .s = 0.0f };
        double err = gradcheck(g_scalar, 1, &x, &c, eps);
        snprintf(what, sizeof what, "gradcheck %s with a scalar (err %.3g)", binname[op], err);
        CHECK(err < tol, what);
        dm_tensor_release(x);
    }

    /* clamp (both bounds, one bound), leaky_relu, elu: samples kept off the kinks */
    static const struct { int kind; float p0, p1; } pc[] = {
        { P_CLAMP, -0.5f, 0.5f }, { P_CLAMP, 0.0f, NAN }, { P_CLAMP, NAN, 0.0f },
        { P_LEAKY, 0.1f, 0 }, { P_LEAKY, 0.01f, 0 }, { P_ELU, 1.0f, 0 }, { P_ELU, 0.7f, 0 },
    };
    for (int k = 0; k < N_OF(pc); k++) {
        dm_tensor *x = tu_rand(2, (int64_t[]){3, 4}, -2, 2, 400 + (unsigned)k);
        push_from_zero(x, 0.1f);
        float *d = dm_data(x);
        for (int i = 0; i < 12; i++)               /* and off the clamp bounds +-0.5 */
            if (fabsf(fabsf(d[i]) - 0.5f) < 0.05f) d[i] += 0.1f;
        leaf(x);
        gctx c = { .op = pc[k].kind, .s = pc[k].p0, .p1 = pc[k].p1 };
        double err = gradcheck(g_param, 1, &x, &c, eps);
        snprintf(what, sizeof what, "gradcheck param op %d (%g, %g) (err %.3g)", pc[k].kind,
                 pc[k].p0, pc[k].p1, err);
        CHECK(err < tol, what);
        dm_tensor_release(x);
    }

    /* where with cond [2 x 1], a [2 x 3], b [3] */
    dm_tensor *cond = to_bool(tu_tensor(2, (int64_t[]){2, 1}, (float[]){0, 1}));
    dm_tensor *a = leaf(tu_rand(2, (int64_t[]){2, 3}, -1, 1, 501));
    dm_tensor *b = leaf(tu_rand(1, (int64_t[]){3}, -1, 1, 502));
    gctx c = { .cond = cond };
    double err = gradcheck(g_where, 2, (dm_tensor *[]){ a, b }, &c, eps);
    snprintf(what, sizeof what, "gradcheck where (err %.3g)", err);
    CHECK(err < tol, what);
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor_release(cond);
}

/* ---- fast paths against the general path, and both against per-element formulas ---------- */

static void test_fast_vs_reference(void)
{
    char what[128];
    /* 37 x 45: odd sizes, so vector loops have tails */
    int64_t sh[2] = { 37, 45 };
    for (int op = 0; op < NBIN; op++) {
        dm_tensor *a = tu_rand(2, sh, -2, 2, 700 + (unsigned)op);
        dm_tensor *b = tu_rand(2, sh, -2, 2, 800 + (unsigned)op);
        if (op == DM_BIN_POW) tu_fill(a, 0, 2, 7);
        /* some exact ties for the comparisons and maximum/minimum */
        for (int i = 0; i < 37 * 45; i += 7) dm_data(b)[i] = dm_data(a)[i];
        dm_tensor *an = noncontig(a), *bn = noncontig(b);
        dm_tensor *fast = binf((dm_binop)op, a, b);           /* path (a) */
        dm_tensor *gen = binf((dm_binop)op, an, bn);          /* general path */
        snprintf(what, sizeof what, "%s: contiguous fast path == general path", binname[op]);
        CHECK(tu_same_bits(fast, gen), what);
        /* against the formula, element by element */
        int ok = fast != NULL;
        for (int64_t i = 0; ok && i < 37 * 45; i++)
            ok = tu_close(dm_data(fast)[i], ref_bin((dm_binop)op, dm_data(a)[i], dm_data(b)[i]), 1e-6);
        snprintf(what, sizeof what, "%s: matches the per-element reference", binname[op]);
        CHECK(ok, what);
        dm_tensor_release(fast);
        dm_tensor_release(gen);

        /* path (b): one side a single element, against the same value expanded */
        dm_tensor *one = tu_tensor(2, (int64_t[]){1, 1}, (float[]){0.75f});
        dm_tensor *onex = expanded(one, 2, sh);
        fast = binf((dm_binop)op, a, one);
        gen = binf((dm_binop)op, an, onex);
        snprintf(what, sizeof what, "%s: single-element right side == general path", binname[op]);
        CHECK(tu_same_bits(fast, gen), what);
        dm_tensor_release(fast);
        dm_tensor_release(gen);
        fast = binf((dm_binop)op, one, a);
        gen = binf((dm_binop)op, onex, an);
        snprintf(what, sizeof what, "%s: single-element left side == general path", binname[op]);
        CHECK(tu_same_bits(fast, gen), what);
        dm_tensor_release(gen);
        /* and the scalar form gives the same values (pow and div have their own scalar
           kernels, as in PyTorch; compare those within rounding) */
        gen = as_f32(dm_binary_scalar((dm_binop)op, a, 0.75f, 1));
        snprintf(what, sizeof what, "%s: scalar reversed == tensor op", binname[op]);
        if (op == DM_BIN_DIV || op == DM_BIN_POW) {
            ok = gen != NULL;
            for (int64_t i = 0; ok && i < 37 * 45; i++)
                ok = tu_close(dm_data(gen)[i], dm_data(fast)[i], 1e-6);
            CHECK(ok, what);
        } else {
            CHECK(tu_same_bits(fast, gen), what);
        }
        dm_tensor_release(fast);
        dm_tensor_release(gen);
        dm_tensor_release(onex);
        dm_tensor_release(one);

        /* a 3-D broadcast [4 x 1 x 5] op [3 x 1] -> [4 x 3 x 5], against the formula */
        dm_tensor *p = tu_rand(3, (int64_t[]){4, 1, 5}, -2, 2, 900 + (unsigned)op);
        dm_tensor *q = tu_rand(2, (int64_t[]){3, 1}, -2, 2, 950 + (unsigned)op);
        if (op == DM_BIN_POW) tu_fill(p, 0, 2, 8);
        dm_tensor *y = binf((dm_binop)op, p, q);
        ok = tu_shape_is(y, 3, (int64_t[]){4, 3, 5});
        for (int i = 0; ok && i < 4; i++)
            for (int j = 0; ok && j < 3; j++)
                for (int k = 0; ok && k < 5; k++)
                    ok = tu_close(dm_get(y, (int64_t[]){i, j, k}),
                                  ref_bin((dm_binop)op, dm_get(p, (int64_t[]){i, 0, k}),
                                          dm_get(q, (int64_t[]){j, 0})), 1e-6);
        snprintf(what, sizeof what, "%s: [4 x 1 x 5] with [3 x 1] matches the reference", binname[op]);
        CHECK(ok, what);
        dm_tensor *pn = noncontig(p);
        dm_tensor *yn = binf((dm_binop)op, pn, q);
        snprintf(what, sizeof what, "%s: 3-D broadcast, non-contiguous == contiguous", binname[op]);
        CHECK(tu_same_bits(y, yn), what);
        dm_tensor_release(yn);
        dm_tensor_release(pn);
        dm_tensor_release(y);
        dm_tensor_release(p);
        dm_tensor_release(q);
        dm_tensor_release(an);
        dm_tensor_release(bn);
        dm_tensor_release(a);
        dm_tensor_release(b);
    }

    /* unary: contiguous vs non-contiguous, and against the formula */
    for (int op = 0; op < DM_UN_COUNT; op++) {
        dm_tensor *x = tu_rand(2, sh, -3, 3, 1000 + (unsigned)op);
        dm_tensor *xn = noncontig(x);
        dm_tensor *fast = dm_unary((dm_unop)op, x), *gen = dm_unary((dm_unop)op, xn);
        snprintf(what, sizeof what, "%s: contiguous == non-contiguous", UNAME[op]);
        CHECK(tu_same_bits(fast, gen), what);
        int ok = fast != NULL;
        for (int64_t i = 0; ok && i < 37 * 45; i++)
            ok = tu_close(dm_data(fast)[i], ref_un((dm_unop)op, dm_data(x)[i]), 2e-6);
        snprintf(what, sizeof what, "%s: matches the per-element reference", UNAME[op]);
        CHECK(ok, what);
        dm_tensor_release(fast);
        dm_tensor_release(gen);
        dm_tensor_release(xn);
        dm_tensor_release(x);
    }
}

/* ---- non-contiguous inputs, forward and backward ------------------------------------------ */

typedef dm_tensor *(*op1)(const dm_tensor *x);
static dm_tensor *o_adds(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_ADD, x, 0.3f, 0); }
static dm_tensor *o_subs(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_SUB, x, 0.3f, 0); }
static dm_tensor *o_muls(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_MUL, x, -1.3f, 1); }
static dm_tensor *o_maxs(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_MAXIMUM, x, 1, 0); }
static dm_tensor *o_rsub(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_SUB, x, 2, 1); }
static dm_tensor *o_divs(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_DIV, x, 3, 0); }
static dm_tensor *o_rdiv(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_DIV, x, 3, 1); }
static dm_tensor *o_pows(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_POW, x, 2.5f, 0); }
static dm_tensor *o_rpow(const dm_tensor *x) { return dm_binary_scalar(DM_BIN_POW, x, 1.7f, 1); }
static dm_tensor *o_clamp(const dm_tensor *x) { return dm_clamp(x, 0.6f, 1.4f); }
static dm_tensor *o_leaky(const dm_tensor *x) { return dm_leaky_relu(x, 0.2f); }
static dm_tensor *o_elu(const dm_tensor *x) { return dm_elu(x, 0.5f); }
static dm_tensor *o_gelu(const dm_tensor *x) { return dm_unary(DM_UN_GELU, x); }
static dm_tensor *o_sqrt(const dm_tensor *x) { return dm_unary(DM_UN_SQRT, x); }

static void test_noncontiguous(void)
{
    char what[128];
    /* scalar comparisons: values only */
    {
        dm_tensor *x = tu_rand(2, (int64_t[]){13, 17}, -1, 1, 77);
        dm_tensor *xn = noncontig(x);
        for (int op = DM_BIN_EQ; op <= DM_BIN_GE; op++)
            for (int rev = 0; rev < 2; rev++) {
                dm_tensor *y1 = dm_binary_scalar((dm_binop)op, x, 0.1f, rev);
                dm_tensor *y2 = dm_binary_scalar((dm_binop)op, xn, 0.1f, rev);
                snprintf(what, sizeof what, "%s scalar (reversed %d) on a strided input", binname[op], rev);
                CHECK(tu_same_bits(y1, y2), what);
                dm_tensor_release(y1);
                dm_tensor_release(y2);
            }
        dm_tensor_release(xn);
        dm_tensor_release(x);
    }
    /* a transposed [17 x 13] view of [13 x 17] storage, and a narrowed [13 x 9] one (offset,
       gaps); their contiguous copies run the vectorised loops, main part and tail */
    dm_tensor *base = tu_rand(2, (int64_t[]){13, 17}, 0.2f, 2, 1234);
    dm_tensor *tr = dm_tensor_alias(base, 2, (int64_t[]){17, 13}, (int64_t[]){1, 17}, 0);
    dm_tensor *nar = dm_tensor_alias(base, 2, (int64_t[]){13, 9}, (int64_t[]){17, 1}, 2);
    dm_tensor *views[2] = { tr, nar };
    static const struct { const char *name; op1 f; } ops[] = {
        { "add scalar", o_adds }, { "sub scalar", o_subs }, { "mul scalar", o_muls },
        { "maximum scalar", o_maxs }, { "rsub", o_rsub }, { "div scalar", o_divs }, { "rdiv", o_rdiv }, { "pow scalar", o_pows },
        { "rpow", o_rpow }, { "clamp", o_clamp }, { "leaky_relu", o_leaky }, { "elu", o_elu },
        { "gelu", o_gelu }, { "sqrt", o_sqrt },
    };
    for (int v = 0; v < 2; v++) {
        CHECK(!dm_is_contiguous(views[v]), "the view is non-contiguous");
        for (int k = 0; k < N_OF(ops); k++) {
            /* forward: the view against a contiguous copy of it */
            dm_tensor *vw = dm_tensor_alias(views[v], views[v]->ndim, views[v]->shape,
                                            views[v]->stride, views[v]->offset);
            dm_tensor *cp = dm_tensor_new(vw->ndim, vw->shape);
            dm_to_buffer(vw, dm_data(cp));
            leaf(vw);
            leaf(cp);
            dm_tensor *y1 = ops[k].f(vw), *y2 = ops[k].f(cp);
            snprintf(what, sizeof what, "%s on view %d == on a contiguous copy", ops[k].name, v);
            CHECK(tu_same_bits(y1, y2), what);
            /* backward: the rule reads the strided input */
            CHECK(y1 && y2 && backward_ones(y1) == 0 && backward_ones(y2) == 0, "backward runs");
            snprintf(what, sizeof what, "%s on view %d: same gradient", ops[k].name, v);
            CHECK(vw->grad && cp->grad && tu_same_bits(vw->grad, cp->grad), what);
            dm_tensor_release(y1);
            dm_tensor_release(y2);
            dm_tensor_release(vw);
            dm_tensor_release(cp);
        }
    }

    /* binary and where with a transposed operand, forward and backward */
    dm_tensor *other = tu_rand(2, (int64_t[]){17, 13}, 0.5f, 1.5f, 4321);
    dm_tensor *trc = dm_tensor_new(2, (int64_t[]){17, 13});
    dm_to_buffer(tr, dm_data(trc));
    for (int op = 0; op < NBIN; op++) {
        dm_tensor *vw = leaf(dm_tensor_alias(tr, 2, tr->shape, tr->stride, 0));
        dm_tensor *cp = leaf(dm_tensor_new(2, tr->shape));
        dm_to_buffer(vw, dm_data(cp));
        dm_tensor *y1 = dm_binary((dm_binop)op, vw, other), *y2 = dm_binary((dm_binop)op, cp, other);
        snprintf(what, sizeof what, "%s with a transposed operand", binname[op]);
        CHECK(tu_same_bits(y1, y2), what);
        if (op < DM_BIN_EQ || op > DM_BIN_GE) {
            CHECK(backward_ones(y1) == 0 && backward_ones(y2) == 0, "backward runs");
            snprintf(what, sizeof what, "%s with a transposed operand: same gradient", binname[op]);
            CHECK(vw->grad && cp->grad && tu_same_bits(vw->grad, cp->grad), what);
        }
        dm_tensor_release(y1);
        dm_tensor_release(y2);
        dm_tensor_release(vw);
        dm_tensor_release(cp);
    }
    dm_tensor *cond = tu_rand(2, (int64_t[]){17, 1}, -1, 1, 99);
    for (int i = 0; i < 17; i += 3) dm_data(cond)[i] = 0;
    cond = to_bool(cond);
    dm_tensor *condt = dm_tensor_alias(cond, 2, (int64_t[]){17, 13}, (int64_t[]){1, 0}, 0);
    dm_tensor *y1 = dm_where(condt, tr, other), *y2 = dm_where(cond, trc, other);
    CHECK(tu_same_bits(y1, y2), "where with strided cond and a transposed operand");
    dm_tensor_release(y1);
    dm_tensor_release(y2);

    dm_tensor *objs[] = { condt, cond, trc, other, tr, nar, base };
    for (int i = 0; i < N_OF(objs); i++) dm_tensor_release(objs[i]);
}

/* ---- autograd details ------------------------------------------------------------------- */

static void test_autograd(void)
{
    dm_tensor *x = leaf(tu_tensor(1, (int64_t[]){3}, (float[]){1, 2, 3}));
    dm_tensor *w = leaf(tu_tensor(1, (int64_t[]){3}, (float[]){3, 2, 1}));

    /* comparisons carry no gradient, whatever their inputs */
    for (int op = DM_BIN_EQ; op <= DM_BIN_GE; op++) {
        dm_tensor *y = dm_binary((dm_binop)op, x, w);
        CHECK(y && !y->requires_grad && !dm_grad_fn_name(y), "comparison: no grad_fn");
        dm_tensor_release(y);
        y = dm_binary_scalar((dm_binop)op, x, 2, op & 1);
        CHECK(y && !y->requires_grad && !dm_grad_fn_name(y), "scalar comparison: no grad_fn");
        dm_tensor_release(y);
    }

    /* x used twice: gradients from both inputs accumulate */
    dm_tensor *y = dm_add(x, x);
    CHECK(backward_ones(y) == 0 && tu_vals_matchf(x->grad, (float[]){2, 2, 2}, 3, 0, "x + x"),
          "d(x + x)/dx = 2");
    dm_tensor_release(y);
    dm_zero_(x->grad);
    dm_tensor *sq = dm_mul(x, x);
    y = dm_add(sq, x);
    CHECK(backward_ones(y) == 0 && tu_vals_matchf(x->grad, (float[]){3, 5, 7}, 3, 0, "x*x + x"),
          "d(x*x + x)/dx = 2x + 1");
    dm_tensor_release(y);
    dm_tensor_release(sq);

    /* a chain of ops keeps intermediate outputs alive only through the graph */
    dm_zero_(x->grad);
    dm_tensor *t1 = dm_unary(DM_UN_EXP, x);
    dm_tensor *t2 = dm_unary(DM_UN_TANH, t1);
    dm_tensor_release(t1);
    dm_tensor *t3 = dm_binary_scalar(DM_BIN_POW, t2, 2, 1);
    dm_tensor_release(t2);
    CHECK(t3 && strcmp(dm_grad_fn_name(t3), "PowBackward1") == 0, "2 ^ x is PowBackward1");
    CHECK(backward_ones(t3) == 0, "backward through exp, tanh, 2^x");
    int ok = x->grad != NULL;
    for (int i = 0; ok && i < 3; i++) {
        double xv = i + 1, e = exp(xv), th = tanh(e);
        double want = pow(2, th) * log(2.0) * (1 - th * th) * e;
        ok = fabs(dm_data(x->grad)[i] - want) <= 1e-5 * fmax(1, fabs(want));
    }
    CHECK(ok, "chain rule through three ops");
    dm_tensor_release(t3);

    /* only the inputs that require grad get one; grad mode off records nothing */
    dm_tensor *c = tu_tensor(1, (int64_t[]){3}, (float[]){1, 1, 1});
    dm_zero_(x->grad);
    y = dm_binary(DM_BIN_DIV, c, x);
    CHECK(y && strcmp(dm_grad_fn_name(y), "DivBackward0") == 0, "div records DivBackward0");
    CHECK(backward_ones(y) == 0 && !c->grad &&
          tu_vals_matchf(x->grad, (float[]){-1, -0.25f, -1.0f / 9}, 3, 1e-6, "d(1/x)"),
          "div: gradient only to the input that requires it");
    dm_tensor_release(y);
    int prev = dm_set_grad_enabled(0);
    y = dm_mul(x, w);
    CHECK(y && !y->requires_grad && !dm_grad_fn_name(y), "no_grad: mul records nothing");
    dm_tensor_release(y);
    y = dm_unary(DM_UN_RELU, x);
    CHECK(y && !dm_grad_fn_name(y), "no_grad: relu records nothing");
    dm_tensor_release(y);
    dm_set_grad_enabled(prev);

    /* where: no gradient to cond (a bool tensor, which cannot require grad); names */
    dm_tensor *cond = to_bool(tu_tensor(1, (int64_t[]){3}, (float[]){1, 0, 1}));
    dm_zero_(x->grad);
    y = dm_where(cond, x, w);
    CHECK(y && strcmp(dm_grad_fn_name(y), "WhereBackward0") == 0, "where is WhereBackward0");
    CHECK(backward_ones(y) == 0 && !cond->grad &&
          tu_vals_matchf(x->grad, (float[]){1, 0, 1}, 3, 0, "where da") &&
          tu_vals_matchf(w->grad, (float[]){0, 1, 0}, 3, 0, "where db"), "where gradients");
    dm_tensor_release(y);

    /* names of a few more nodes */
    static const struct { dm_binop op; float s; int rev; const char *name; } names[] = {
        { DM_BIN_SUB, 1, 0, "SubBackward0" }, { DM_BIN_SUB, 1, 1, "RsubBackward1" },
        { DM_BIN_DIV, 2, 0, "DivBackward0" }, { DM_BIN_DIV, 2, 1, "MulBackward0" },
        { DM_BIN_MAXIMUM, 0, 0, "MaximumBackward0" }, { DM_BIN_MINIMUM, 0, 1, "MinimumBackward0" },
    };
    for (int k = 0; k < N_OF(names); k++) {
        y = dm_binary_scalar(names[k].op, x, names[k].s, names[k].rev);
        CHECK(y && strcmp(dm_grad_fn_name(y), names[k].name) == 0, names[k].name);
        dm_tensor_release(y);
    }
    y = dm_clamp(x, NAN, 2);
    CHECK(y && strcmp(dm_grad_fn_name(y), "ClampBackward1") == 0, "clamp(max) is ClampBackward1");
    dm_tensor_release(y);

    /* the backward graph is freed: a second backward is refused */
    y = dm_unary(DM_UN_SIGMOID, x);
    CHECK(backward_ones(y) == 0, "first backward");
    CHECK(backward_ones(y) != 0, "second backward refused");
    dm_tensor_release(y);

    dm_tensor *objs[] = { x, w, c, cond };
    for (int i = 0; i < N_OF(objs); i++) dm_tensor_release(objs[i]);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_errors(void)
{
    dm_tensor *a = dm_tensor_zeros(2, (int64_t[]){2, 3});
    dm_tensor *b = dm_tensor_zeros(1, (int64_t[]){4});
    dm_tensor *c = dm_tensor_zeros(3, (int64_t[]){5, 1, 3});
    CHECK_ERR(dm_add(a, b), "add: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_sub(b, a), "sub: shapes [4] and [2 x 3] cannot be broadcast (dim 2: 4 vs 3)");
    CHECK_ERR(dm_pow(a, b), "pow: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_binary(DM_BIN_MAXIMUM, c, b),
              "maximum: shapes [5 x 1 x 3] and [4] cannot be broadcast (dim 3: 3 vs 4)");
    CHECK_ERR(dm_binary(DM_BIN_LT, a, b),
              "lt: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_where(a, b, b), "where: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    CHECK_ERR(dm_where(b, a, a), "where: shapes [4] and [2 x 3] cannot be broadcast (dim 2: 4 vs 3)");
    CHECK_ERR(dm_where(c, c, b), "where: shapes [5 x 1 x 3] and [4] cannot be broadcast (dim 3: 3 vs 4)");
    CHECK_ERR(dm_where(b, a, c),
              "where: shapes [4] and [2 x 3] cannot be broadcast (dim 2: 4 vs 3)");
    CHECK_ERR(dm_clamp(a, NAN, NAN), "clamp: at least one of min and max must be given");
    CHECK_ERR(dm_binary((dm_binop)99, a, a), "binary: unknown op 99");
    CHECK_ERR(dm_binary_scalar((dm_binop)-1, a, 1, 0), "binary: unknown op -1");
    CHECK_ERR(dm_unary((dm_unop)DM_UN_COUNT, a), "unary: unknown op 45");
    CHECK_ERR(dm_mul(a, NULL), "mul: expected two tensors, got NULL");
    /* an op that fails records nothing and leaks nothing */
    dm_tensor *g = leaf(dm_tensor_zeros(1, (int64_t[]){4}));
    CHECK_ERR(dm_add(a, g), "add: shapes [2 x 3] and [4] cannot be broadcast (dim 2: 3 vs 4)");
    dm_tensor_release(g);
    dm_tensor_release(a);
    dm_tensor_release(b);
    dm_tensor_release(c);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_fixtures();
    test_forward_by_hand();
    test_gradcheck();
    test_fast_vs_reference();
    test_noncontiguous();
    test_autograd();
    test_errors();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_elementwise");
}
