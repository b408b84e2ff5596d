/*
 * init.c -- weight initialisation: PyTorch 1.13's torch.nn.init.
 *
 * Every initialiser fills its tensor in place, whatever its strides, and returns 0 or -1
 * with a message that names the PyTorch function ("kaiming_normal_: ...").  They record no
 * autograd and, unlike the in-place ops of inplace.c, accept leaves that require grad in
 * grad mode: initialising a parameter is exactly that, and PyTorch does it under no_grad.
 *
 * Random initialisers draw from g (NULL = the default generator) through the fills of
 * rng.c, so they follow PyTorch's formulas but not its random stream.  A tensor with no
 * elements is left alone (PyTorch's "Initializing zero-element tensors is a no-op"), which
 * also means no initialiser ever divides by a zero fan: a fan is a product of sizes and is
 * zero only when some size is.
 *
 * The fans of a weight [out x in x k1 x k2 ...] (Linear's [out x in], Conv2d's
 * [out x in x kh x kw]) are
 *     fan_in  = in  * k1 * k2 * ...        fan_out = out * k1 * k2 * ...
 */
#include "internal.h"
#include "backend.h"
#include "convert.h"
#include <float.h>

/* the fill loops are the device's kernels (backend.h: random, pattern, fill, and qr and
   sparse_zero for orthogonal_ and sparse_; backend/cpu/, the reference backend/ref/) */
#define DEV (dm__kernels(dm__cur_device))

/* ---- gains and fans ------------------------------------------------------------------- */

/* equal ignoring ASCII case (PyTorch lower-cases the fan mode) */
static int ascii_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (*a >= 'A' && *a <= 'Z') ? *a + 32 : *a;
        int cb = (*b >= 'A' && *b <= 'Z') ? *b + 32 : *b;
        if (ca != cb) return 0;
        if (!ca) return 1;
    }
}

static int gain_for(const char *fn, const char *nonlinearity, double param, int has_param,
                    double *out)
{
    static const char *const linear[] = {
        "linear", "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid", NULL
    };
    if (!nonlinearity) nonlinearity = "(null)";
    for (int i = 0; linear[i]; i++) {
        if (strcmp(nonlinearity, linear[i]) == 0) {
            *out = 1.0;
            return 0;
        }
    }
    if (strcmp(nonlinearity, "tanh") == 0) {
        *out = 5.0 / 3;
    } else if (strcmp(nonlinearity, "relu") == 0) {
        *out = sqrt(2.0);
    } else if (strcmp(nonlinearity, "leaky_relu") == 0) {
        double slope = has_param ? param : 0.01;
        *out = sqrt(2.0 / (1 + slope * slope));
    } else if (strcmp(nonlinearity, "selu") == 0) {
        *out = 3.0 / 4;    /* found empirically by PyTorch (pull request 50664) */
    } else {
        dm_seterr("%s: unsupported nonlinearity '%s'", fn, nonlinearity);
        return -1;
    }
    return 0;
}

int dm_calculate_gain(const char *nonlinearity, double param, int has_param, double *out)
{
    return gain_for("calculate_gain", nonlinearity, param, has_param, out);
}

int dm_fans(const char *fn, const dm_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (t->ndim < 2) {
        char sb[DM_SHAPE_BUF];
        dm_seterr("%s: fan in and fan out can not be computed for tensor with fewer than 2 "
                  "dimensions, got %s", fn ? fn : "fans", SHAPE(t, sb));
        return -1;
    }
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
    *fan_in = t->shape[1] * receptive;
    *fan_out = t->shape[0] * receptive;
    return 0;
}

/* the fan a kaiming-style initialiser scales by */
static int mode_fan(const char *fn, const dm_tensor *t, const char *mode, int64_t *fan)
{
    int64_t fin, fout;
    if (dm_fans(fn, t, &fin, &fout) != 0) return -1;
    *fan = ascii_ieq(mode, "fan_in") ? fin : fout;
    return 0;
}

static int check_mode(const char *fn, const char *mode)
{
    if (ascii_ieq(mode, "fan_in") || ascii_ieq(mode, "fan_out")) return 0;
    dm_seterr("%s: mode must be 'fan_in' or 'fan_out', got '%s'", fn, mode);
    return -1;
}

/* ---- erfinv ----------------------------------------------------------------------------- */

/* Inverse error function in double precision: Giles' single-precision polynomial
 * ("Approximating the erfinv function", 2010) as the starting point, then Newton steps.
 * Past |x| = 0.5 they work with erfc and 1 - |x| (exact there), so the tail keeps its
 * relative precision up to |x| = 1 - 2^-53. */
double dm_erfinv(double x)
{
    if (isnan(x) || x < -1 || x > 1) return NAN;
    if (x == 1) return INFINITY;
    if (x == -1) return -INFINITY;
    if (x == 0) return x;    /* keeps the sign of -0 */
    double ax = fabs(x);
    double w = -log((1 - ax) * (1 + ax)), p;
    if (w < 5) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    double y = p * ax;
    /* Newton on erf(y) = |x| near 0, and on log erfc(y) = log(1 - |x|) in the tail, where
       erfc falls like exp(-y^2): its log is nearly quadratic, so Newton converges from the
       polynomial's guess even past the range it was fitted for (1 - |x| < 2^-24) */
    const double two_over_sqrt_pi = 1.1283791670955125739;
    double logc = log1p(-ax);
    for (int it = 0; it < 8; it++) {
        double dy;
        if (ax <= 0.5) {
            dy = (erf(y) - ax) / (two_over_sqrt_pi * exp(-y * y));
        } else {
            double c = erfc(y);
            dy = -(log(c) - logc) * c / (two_over_sqrt_pi * exp(-y * y));
        }
        y -= dy;
        if (fabs(dy) <= 1e-16 * fabs(y)) break;
    }
    return x < 0 ? -y : y;
}

/* ---- plain fills --------------------------------------------------------------------------
 * Random initialisers need a float tensor and draw in its precision (float64 values in
 * double throughout); the deterministic ones (constant_, eye_, dirac_) fill any dtype. */

int dm_init_uniform_(dm_tensor *t, double a, double b, dm_rng *g)
{
    if (!(a <= b)) {
        dm_seterr("uniform_: expected a <= b, got a = %g, b = %g", a, b);
        return -1;
    }
    return dm_uniform_(t, a, b, g);
}

static int normal_fill(const char *fn, dm_tensor *t, double mean, double std, dm_rng *g)
{
    if (!(std >= 0)) {
        dm_seterr("%s: std must be non-negative, got %g", fn, std);
        return -1;
    }
    return dm_normal_(t, mean, std, g);
}

int dm_init_normal_(dm_tensor *t, double mean, double std, dm_rng *g)
{
    return normal_fill("normal_", t, mean, std, g);
}

/* standard normal CDF */
static double norm_cdf(double x)
{
    return (1 + erf(x / sqrt(2.0))) / 2;
}

/* PyTorch's inverse-CDF method: u uniform in [2 cdf(a') - 1, 2 cdf(b') - 1) (a', b' the
 * standardised bounds), then mean + std sqrt(2) erfinv(u), clamped to [a, b] in float as
 * PyTorch's float tensor does.  Computed in double and rounded once before the clamp. */
int dm_init_trunc_normal_(dm_tensor *t, double mean, double std, double a, double b,
                          dm_rng *g)
{
    if (!(std > 0)) {
        dm_seterr("trunc_normal_: std must be positive, got %g", std);
        return -1;
    }
    if (!(a <= b)) {
        dm_seterr("trunc_normal_: expected a <= b, got a = %g, b = %g", a, b);
        return -1;
    }
    if (dm__need_float("trunc_normal_", t, "tensor") || dm__check_overlap("trunc_normal_", t))
        return -1;
    if (!g) g = dm_default_rng();
    double lo = 2 * norm_cdf((a - mean) / std) - 1;
    double hi = 2 * norm_cdf((b - mean) / std) - 1;
    dm__bump(t);
    dm__device_of(t);
    DEV->random(DM_RAND_TRUNC_NORMAL, t,
                &(dm_rand_par){ .a = mean, .b = std, .lo = a, .hi = b, .ulo = lo, .uhi = hi }, g);
    return 0;
}

int dm_init_constant_(dm_tensor *t, double v)
{
    dm__bump(t);
    char e[8];                              /* v in t's dtype, then the device's fill */
    dm__convert1(e, t->dtype, (const char *)&v, DM_FLOAT64);
    dm__device_of(t);
    DEV->fill(t, e);
    return 0;
}

/* ---- structured --------------------------------------------------------------------------- */

int dm_init_eye_(dm_tensor *t)
{
    if (t->ndim != 2) {
        char sb[DM_SHAPE_BUF];
        dm_seterr("eye_: only tensors with 2 dimensions are supported, got %s", SHAPE(t, sb));
        return -1;
    }
    dm__bump(t);
    dm__device_of(t);
    DEV->pattern(DM_PAT_EYE, t, 1);
    return 0;
}

int dm_init_dirac_(dm_tensor *t, int64_t groups)
{
    char sb[DM_SHAPE_BUF];
    if (t->ndim < 3 || t->ndim > 5) {
        dm_seterr("dirac_: only tensors with 3, 4, or 5 dimensions are supported, got %s",
                  SHAPE(t, sb));
        return -1;
    }
    if (groups <= 0) {
        dm_seterr("dirac_: groups must be positive, got %lld", (long long)groups);
        return -1;
    }
    if (t->shape[0] % groups != 0) {
        dm_seterr("dirac_: dim 1 (size %lld) must be divisible by groups (%lld)",
                  (long long)t->shape[0], (long long)groups);
        return -1;
    }
    dm__bump(t);
    dm__device_of(t);
    DEV->pattern(DM_PAT_DIRAC, t, groups);
    return 0;
}

/* ---- fan-scaled ---------------------------------------------------------------------------- */

/* std = gain sqrt(2 / (fan_in + fan_out)); uniform bound sqrt(3) std */
static int xavier(const char *fn, dm_tensor *t, double gain, int uniform, dm_rng *g)
{
    int64_t fin, fout;
    if (dm_fans(fn, t, &fin, &fout) != 0 || dm__need_float(fn, t, "tensor")) return -1;
    if (dm_numel(t) == 0) return 0;    /* PyTorch divides by zero on [0 x 0] */
    double std = gain * sqrt(2.0 / (double)(fin + fout));
    if (uniform) {
        double bound = sqrt(3.0) * std;
        return dm_uniform_(t, -bound, bound, g);
    }
    return normal_fill(fn, t, 0, std, g);
}

int dm_init_xavier_uniform_(dm_tensor *t, double gain, dm_rng *g)
{
    return xavier("xavier_uniform_", t, gain, 1, g);
}

int dm_init_xavier_normal_(dm_tensor *t, double gain, dm_rng *g)
{
    return xavier("xavier_normal_", t, gain, 0, g);
}

/* std = gain(nonlinearity, a) / sqrt(fan); uniform bound sqrt(3) std */
static int kaiming(const char *fn, dm_tensor *t, double a, const char *mode,
                   const char *nonlinearity, int uniform, dm_rng *g)
{
    double gain;
    int64_t fan;
    if (!mode) mode = "fan_in";
    if (!nonlinearity) nonlinearity = "leaky_relu";
    if (check_mode(fn, mode) != 0 || dm__need_float(fn, t, "tensor")) return -1;
    if (gain_for(fn, nonlinearity, a, 1, &gain) != 0) return -1;
    /* before the fans, as PyTorch: a 1-D tensor with no elements is fine */
    if (dm_numel(t) == 0) return 0;
    if (mode_fan(fn, t, mode, &fan) != 0) return -1;
    double std = gain / sqrt((double)fan);
    if (uniform) {
        double bound = sqrt(3.0) * std;
        return dm_uniform_(t, -bound, bound, g);
    }
    return normal_fill(fn, t, 0, std, g);
}

int dm_init_kaiming_uniform_(dm_tensor *t, double a, const char *mode,
                             const char *nonlinearity, dm_rng *g)
{
    return kaiming("kaiming_uniform_", t, a, mode, nonlinearity, 1, g);
}

int dm_init_kaiming_normal_(dm_tensor *t, double a, const char *mode,
                            const char *nonlinearity, dm_rng *g)
{
    return kaiming("kaiming_normal_", t, a, mode, nonlinearity, 0, g);
}

int dm_init_lecun_uniform_(dm_tensor *t, dm_rng *g)
{
    return kaiming("lecun_uniform_", t, 0, "fan_in", "linear", 1, g);
}

int dm_init_lecun_normal_(dm_tensor *t, dm_rng *g)
{
    return kaiming("lecun_normal_", t, 0, "fan_in", "linear", 0, g);
}

/* ---- orthogonal ---------------------------------------------------------------------------- */

/* PyTorch's method: t flattened to [rows x cols] (cols = numel / rows) filled with N(0, 1);
 * the tall one of it and its transpose is factored as Q R; Q's columns are multiplied by
 * sign(diag(R)) (which makes Q independent of the reflection convention: it is the Q of
 * the QR whose R has a positive diagonal) and Q, transposed back when rows < cols, times
 * gain is written to t. */
int dm_init_orthogonal_(dm_tensor *t, double gain, dm_rng *g)
{
    if (t->ndim < 2) {
        char sb[DM_SHAPE_BUF];
        dm_seterr("orthogonal_: only tensors with 2 or more dimensions are supported, got %s",
                  SHAPE(t, sb));
        return -1;
    }
    if (dm__need_float("orthogonal_", t, "tensor") || dm__check_overlap("orthogonal_", t))
        return -1;
    int64_t total = dm_numel(t);
    if (total == 0) return 0;
    if (!g) g = dm_default_rng();
    int64_t rows = t->shape[0], cols = total / rows;
    int wide = rows < cols;
    int64_t m = wide ? cols : rows, n = wide ? rows : cols;    /* the tall shape */
    dm__device_of(t);
    /* draw the [rows x cols] matrix d in t's dtype (PyTorch's draw), row by row; column-major
       tall a ([n x m] row-major) is d's transpose (tall) or d itself (wide) */
    int64_t dshape[2] = { rows, cols }, qshape[2] = { n, m };
    dm_tensor *d = dm_tensor_new_dtype(2, dshape, t->dtype);
    dm_tensor *dv = d ? (wide ? dm_tensor_retain(d) : dm_transpose(d, 0, 1)) : NULL;
    dm_tensor *qt = dv ? dm_tensor_new_dtype(2, qshape, DM_FLOAT64) : NULL;
    double *a = qt ? malloc((size_t)(m * n) * sizeof *a) : NULL;
    double *rdiag = a ? malloc((size_t)n * sizeof *rdiag) : NULL;
    if (!rdiag) {
        if (qt) dm_seterr("orthogonal_: out of memory");
        free(a); dm_tensor_release(d); dm_tensor_release(dv); dm_tensor_release(qt);
        return -1;
    }
    DEV->random(DM_RAND_NORMAL, d, &(dm_rand_par){ .a = 0, .b = 1 }, g);
    dm_to_buffer_dtype(dv, a, DM_FLOAT64);
    double *q = dm__ptr(qt);            /* q, column-major [m x n], is qt [n x m] row-major */
    DEV->qr(a, m, n, q, rdiag);
    for (int64_t j = 0; j < n; j++) {
        double s = rdiag[j] < 0 ? -gain : gain;
        for (int64_t i = 0; i < m; i++) q[j * m + i] *= s;
    }
    free(a);
    free(rdiag);
    // result [rows x cols] is q (tall, [rows x cols]: qt's transpose) or q^T (wide: qt), in
    // t's shape
    dm_tensor *r = wide ? dm_tensor_retain(qt) : dm_transpose(qt, 0, 1);
    dm_tensor *rs = r ? dm_reshape(r, t->ndim, t->shape) : NULL;
    if (rs) {
        dm__bump(t);
        dm__copy_convert(t, rs);
    }
    dm_tensor_release(rs); dm_tensor_release(r); dm_tensor_release(qt);
    dm_tensor_release(dv); dm_tensor_release(d);
    return rs ? 0 : -1;
}

/* ---- sparse ---------------------------------------------------------------------------------- */

/* N(0, std^2) everywhere, then in each column ceil(sparsity * rows) distinct rows, chosen
 * uniformly, set to zero (a partial Fisher-Yates shuffle per column, columns in order) */
int dm_init_sparse_(dm_tensor *t, double sparsity, double std, dm_rng *g)
{
    if (t->ndim != 2) {
        char sb[DM_SHAPE_BUF];
        dm_seterr("sparse_: only tensors with 2 dimensions are supported, got %s",
                  SHAPE(t, sb));
        return -1;
    }
    if (!(sparsity >= 0 && sparsity <= 1)) {
        dm_seterr("sparse_: sparsity must be in [0, 1], got %g", sparsity);
        return -1;
    }
    if (!(std >= 0)) {
        dm_seterr("sparse_: std must be non-negative, got %g", std);
        return -1;
    }
    if (dm__need_float("sparse_", t, "tensor") || dm__check_overlap("sparse_", t)) return -1;
    if (!g) g = dm_default_rng();
    int64_t rows = t->shape[0];
    int64_t nzero = (int64_t)ceil(sparsity * (double)rows);
    if (nzero > rows) nzero = rows;
    int64_t *perm = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *perm);
    if (!perm) {
        dm_seterr("sparse_: out of memory");
        return -1;
    }
    dm_normal_(t, 0, std, g);
    for (int64_t i = 0; i < rows; i++) perm[i] = i;
    dm__device_of(t);
    DEV->sparse_zero(t, nzero, g, perm);
    free(perm);
    return 0;
}
