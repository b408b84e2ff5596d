/* elementwise.c -- broadcasting binary ops, tensor-scalar ops, unary maths and activations,
 * clamp and where, with their backward rules.
 *
 * Every op computes one float function per output element.  The loops are organised as
 *
 *   kernel:  a row of n elements, each operand with its own stride (0 = broadcast),
 *            written for one op so the compiler can inline and vectorise the function;
 *   plan:    the output shape with size-1 dims dropped and mergeable dims merged, walked
 *            row by row (the last, merged dim is the row);
 *   op:      validation, the fast paths, autograd recording.
 *
 * The plan walk is the general path and the reference: it handles any strides, offsets and
 * broadcasting.  The fast paths are that same kernel called once on the whole buffer, for
 * (a) contiguous operands of one shape and (b) one operand holding a single element.
 *
 * Numerics follow PyTorch 1.13's CPU kernels, including their quirks: x / s is a true
 * division, s / x is reciprocal(x) * s, x ^ s special-cases s = 0, 1, 2, 3, 0.5, -0.5, -1, -2,
 * elu and selu use exp(x) - 1 (not expm1), round is half-to-even. */
#include "internal.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
/* The elementwise kernels also get an AVX copy, picked at load time where the CPU has AVX
 * (GCC's target clones): 8 floats per instruction instead of 4.  Without FMA contraction
 * (C11 mode) and with the same libm calls, both copies give bit-identical results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DM_AVX_CLONES __attribute__((target_clones("avx", "default")))
#else
#define DM_AVX_CLONES
#endif

/* ---- the plan: row-by-row walk over a broadcast shape --------------------------------- */

#define PLAN_MAX_IN 3

typedef struct {
    int nd;                                /* >= 1 after init */
    int nin;
    int64_t shape[DM_MAX_DIMS];
    int64_t st[PLAN_MAX_IN][DM_MAX_DIMS];  /* strides in elements, 0 where broadcast */
    int64_t off[PLAN_MAX_IN];              /* current storage offset of each operand */
    int64_t idx[DM_MAX_DIMS];
    const float *base[PLAN_MAX_IN];        /* storage->data of each operand */
} plan;

/* t[k] broadcast to (ndim, shape); shape must hold no zero */
static void plan_init(plan *p, int nin, const dm_tensor *const *t, int ndim,
                      const int64_t *shape)
{
    p->nd = 0;
    p->nin = nin;
    for (int k = 0; k < nin; k++) {
        p->off[k] = t[k]->offset;
        p->base[k] = dm__fbase(t[k]);
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;       /* a size-1 dim never moves any operand */
        int64_t s[PLAN_MAX_IN];
        for (int k = 0; k < nin; k++) {
            int lead = ndim - t[k]->ndim;
            s[k] = (d < lead || t[k]->shape[d - lead] == 1) ? 0 : t[k]->stride[d - lead];
        }
        /* merge with the previous kept dim when every operand steps through both as one */
        int merge = p->nd > 0;
        for (int k = 0; merge && k < nin; k++)
            if (p->st[k][p->nd - 1] != s[k] * shape[d]) merge = 0;
        if (merge) {
            p->shape[p->nd - 1] *= shape[d];
            for (int k = 0; k < nin; k++) p->st[k][p->nd - 1] = s[k];
        } else {
            p->shape[p->nd] = shape[d];
            for (int k = 0; k < nin; k++) p->st[k][p->nd] = s[k];
            p->nd++;
        }
    }
    if (p->nd == 0) {                      /* a single element */
        p->nd = 1;
        p->shape[0] = 1;
        for (int k = 0; k < nin; k++) p->st[k][0] = 0;
    }
    for (int d = 0; d < p->nd; d++) p->idx[d] = 0;
}

static inline int64_t plan_row_len(const plan *p) { return p->shape[p->nd - 1]; }
static inline int64_t plan_row_stride(const plan *p, int k) { return p->st[k][p->nd - 1]; }
static inline const float *plan_ptr(const plan *p, int k) { return p->base[k] + p->off[k]; }

/* step to the next row (odometer over every dim but the last) */
static inline void plan_next_row(plan *p)
{
    for (int d = p->nd - 2; d >= 0; d--) {
        for (int k = 0; k < p->nin; k++) p->off[k] += p->st[k][d];
        if (++p->idx[d] < p->shape[d]) return;
        for (int k = 0; k < p->nin; k++) p->off[k] -= p->st[k][d] * p->shape[d];
        p->idx[d] = 0;
    }
}

/* ---- binary kernels: o[i] = f(a[i*sa], b[i*sb]) --------------------------------------- */

typedef void (*binkern)(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                        float *restrict o);

/* for (i = 0; i < n; i++) BODY, split so the main loop's trip count is a multiple of 8:
 * GCC's -O2 vectoriser (the "very cheap" cost model) only takes loops it needs no scalar
 * epilogue for. */
#define VLOOP(n, ...) do {                                                                  \
        int64_t n_ = (n), m_ = n_ & ~(int64_t)7;                                            \
        for (int64_t i = 0; i < m_; i++) { __VA_ARGS__ }                                    \
        for (int64_t i = m_; i < n_; i++) { __VA_ARGS__ }                                   \
    } while (0)

/* the same over a strided row x (stride sx) of n elements, the element named v */
#define ROWLOOP(...) do {                                                                   \
        if (sx == 1) VLOOP(n, const float v = x[i]; __VA_ARGS__);                           \
        else for (int64_t i = 0; i < n; i++) { const float v = x[i * sx]; __VA_ARGS__ }     \
    } while (0)

/* The common stride patterns get their own loops so they vectorise. */
#define BINARY_KERNEL(name, EXPR)                                                           \
    DM_AVX_CLONES                                                                           \
    static void name(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,     \
                     float *restrict o)                                                     \
    {                                                                                       \
        if (sa == 1 && sb == 1) {                                                           \
            VLOOP(n, float x = a[i]; float y = b[i]; o[i] = (EXPR););                       \
        } else if (sa == 1 && sb == 0) {                                                    \
            const float y = b[0];                                                           \
            VLOOP(n, float x = a[i]; o[i] = (EXPR););                                       \
        } else if (sa == 0 && sb == 1) {                                                    \
            const float x = a[0];                                                           \
            VLOOP(n, float y = b[i]; o[i] = (EXPR););                                       \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) {                                               \
                float x = a[i * sa], y = b[i * sb];                                         \
                o[i] = (EXPR);                                                              \
            }                                                                               \
        }                                                                                   \
    }

/* maximum/minimum propagate NaN from either side, as torch.maximum does */
static inline float max_nan(float x, float y)
{
    float r = x < y ? y : x;
    r = y != y ? y : r;
    return x != x ? x : r;
}
static inline float min_nan(float x, float y)
{
    float r = y < x ? y : x;
    r = y != y ? y : r;
    return x != x ? x : r;
}

BINARY_KERNEL(k_add, x + y)
BINARY_KERNEL(k_sub, x - y)
BINARY_KERNEL(k_mul, x * y)
BINARY_KERNEL(k_div, x / y)
BINARY_KERNEL(k_pow, powf(x, y))
BINARY_KERNEL(k_eq, (float)(x == y))
BINARY_KERNEL(k_ne, (float)(x != y))
BINARY_KERNEL(k_lt, (float)(x < y))
BINARY_KERNEL(k_le, (float)(x <= y))
BINARY_KERNEL(k_gt, (float)(x > y))
BINARY_KERNEL(k_ge, (float)(x >= y))
BINARY_KERNEL(k_maximum, max_nan(x, y))
BINARY_KERNEL(k_minimum, min_nan(x, y))

#define NBINOPS (DM_BIN_MINIMUM + 1)

static const struct {
    const char *name;
    binkern kern;
    dm_op op;               /* DM_OP_NONE: a comparison, no gradient */
} bininfo[NBINOPS] = {
    [DM_BIN_ADD] = { "add", k_add, DM_OP_ADD },
    [DM_BIN_SUB] = { "sub", k_sub, DM_OP_SUB },
    [DM_BIN_MUL] = { "mul", k_mul, DM_OP_MUL },
    [DM_BIN_DIV] = { "div", k_div, DM_OP_DIV },
    [DM_BIN_POW] = { "pow", k_pow, DM_OP_POW },
    [DM_BIN_EQ] = { "eq", k_eq, DM_OP_NONE },
    [DM_BIN_NE] = { "ne", k_ne, DM_OP_NONE },
    [DM_BIN_LT] = { "lt", k_lt, DM_OP_NONE },
    [DM_BIN_LE] = { "le", k_le, DM_OP_NONE },
    [DM_BIN_GT] = { "gt", k_gt, DM_OP_NONE },
    [DM_BIN_GE] = { "ge", k_ge, DM_OP_NONE },
    [DM_BIN_MAXIMUM] = { "maximum", k_maximum, DM_OP_MAXIMUM },
    [DM_BIN_MINIMUM] = { "minimum", k_minimum, DM_OP_MINIMUM },
};

/* o (contiguous, broadcast shape) = kern(a, b); the general path */
static void binary_general(binkern kern, const dm_tensor *a, const dm_tensor *b, int ndim,
                           const int64_t *shape, int64_t n, float *o)
{
    const dm_tensor *ts[2] = { a, b };
    plan p;
    plan_init(&p, 2, ts, ndim, shape);
    int64_t len = plan_row_len(&p), sa = plan_row_stride(&p, 0), sb = plan_row_stride(&p, 1);
    for (int64_t done = 0; done < n; done += len) {
        kern(len, plan_ptr(&p, 0), sa, plan_ptr(&p, 1), sb, o + done);
        plan_next_row(&p);
    }
}

/* out = a op b where out has the broadcast shape; no autograd */
static dm_tensor *binary_forward(dm_binop op, const dm_tensor *a, const dm_tensor *b)
{
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(bininfo[op].name, a, b, shape);
    if (nd < 0) return NULL;
    dm_tensor *out = dm_tensor_new(nd, shape);
    if (!out) return NULL;
    int64_t n = dm_numel(out);
    if (n == 0) return out;
    binkern kern = bininfo[op].kern;
    float *o = dm_data(out);
    int ca = dm_is_contiguous(a), cb = dm_is_contiguous(b);
    int64_t na = dm_numel(a), nb = dm_numel(b);
    if (ca && cb && na == n && nb == n)                    /* (a) same shape, contiguous */
        kern(n, dm_data(a), 1, dm_data(b), 1, o);
    else if (nb == 1 && ca && na == n)                     /* (b) b is one element */
        kern(n, dm_data(a), 1, dm_data(b), 0, o);
    else if (na == 1 && cb && nb == n)                     /* (b) a is one element */
        kern(n, dm_data(a), 0, dm_data(b), 1, o);
    else                                                   /* (c) anything */
        binary_general(kern, a, b, nd, shape, n, o);
    return out;
}

dm_tensor *dm_binary(dm_binop op, const dm_tensor *a, const dm_tensor *b)
{
    if ((unsigned)op >= NBINOPS) {
        dm_seterr("binary: unknown op %d", (int)op);
        return NULL;
    }
    if (!a || !b) {
        dm_seterr("%s: expected two tensors, got NULL", bininfo[op].name);
        return NULL;
    }
    dm_tensor *out;
    if (dm__same_shape(a, b) && dm__is_contig(a) && dm__is_contig(b)) {
        /* the common case, without the broadcasting machinery: same shape, contiguous */
        int64_t n = dm__numel(a);
        out = dm__tensor_new_checked(a->ndim, a->shape, n);
        if (!out) return NULL;
        if (n) bininfo[op].kern(n, dm__data(a), 1, dm__data(b), 1, dm__data(out));
    } else {
        out = binary_forward(op, a, b);
        if (!out) return NULL;
    }
    const dm_tensor *ins[2] = { a, b };
    if (bininfo[op].op != DM_OP_NONE && dm__needs_grad(2, ins)) {
        dm_node *nd = dm__record(bininfo[op].op, (int)op, out, 2, ins);
        if (!nd || (op == DM_BIN_POW && !dm__save(nd, 0, out))) {
            dm_tensor_release(out);
            return NULL;
        }
    }
    return out;
}

dm_tensor *dm_add(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_ADD, a, b); }
dm_tensor *dm_sub(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_SUB, a, b); }
dm_tensor *dm_mul(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_MUL, a, b); }
dm_tensor *dm_div(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_DIV, a, b); }
dm_tensor *dm_pow(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_POW, a, b); }

/* ---- one-input maps: o = f(x) row by row ------------------------------------------------ */

typedef struct rowctx rowctx;
typedef void (*rowfn)(const rowctx *c, int64_t n, const float *x, int64_t sx,
                      float *restrict o);
struct rowctx {
    rowfn fn;
    int which;              /* dm_unop for unary rows */
    binkern bk;             /* for tensor-scalar rows */
    int reversed;
    float s, lo, hi;        /* scalar operand / parameters */
};

/* out = f(x), a new contiguous tensor of x's shape */
static dm_tensor *map1(const dm_tensor *x, const rowctx *c)
{
    dm_tensor *out = dm_tensor_new(x->ndim, x->shape);
    if (!out) return NULL;
    int64_t n = dm_numel(x);
    if (n == 0) return out;
    float *o = dm_data(out);
    if (dm_is_contiguous(x)) {             /* fast path: one row */
        c->fn(c, n, dm_data(x), 1, o);
        return out;
    }
    plan p;
    plan_init(&p, 1, &x, x->ndim, x->shape);
    int64_t len = plan_row_len(&p), sx = plan_row_stride(&p, 0);
    for (int64_t done = 0; done < n; done += len) {
        c->fn(c, len, plan_ptr(&p, 0), sx, o + done);
        plan_next_row(&p);
    }
    return out;
}

/* ---- unary kernels ---------------------------------------------------------------------- */

typedef void (*unkern)(int64_t n, const float *x, int64_t sx, float *restrict o);

#define UNARY_KERNEL(name, EXPR)                                                            \
    DM_AVX_CLONES                                                                           \
    static void name(int64_t n, const float *xs, int64_t sx, float *restrict o)             \
    {                                                                                       \
        if (sx == 1) {                                                                      \
            VLOOP(n, float x = xs[i]; o[i] = (EXPR););                                      \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) { float x = xs[i * sx]; o[i] = (EXPR); }        \
        }                                                                                   \
    }

/* torch.selu is elu with these (scale * alpha on the negative side, computed in float) */
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
/* gelu (exact): x * Phi(x); its derivative uses Phi and the normal density */
#define GELU_ALPHA ((float)0.70710678118654752440)                 /* 1/sqrt(2) */
#define GELU_BETA ((float)(1.12837916709551257390 * 0.70710678118654752440 * 0.5)) /* 1/sqrt(2 pi) */

static inline float sign_of(float x) { return (float)((0 < x) - (x < 0)); }   /* sign(NaN) = 0 */
static inline float selu_f(float x)
{
    return x <= 0 ? (expf(x) - 1.0f) * (SELU_ALPHA * SELU_SCALE) : x * SELU_SCALE;
}
static inline float gelu_f(float x) { return x * 0.5f * (1.0f + erff(x * GELU_ALPHA)); }

UNARY_KERNEL(u_neg, -x)
UNARY_KERNEL(u_exp, expf(x))
UNARY_KERNEL(u_log, logf(x))
UNARY_KERNEL(u_sqrt, sqrtf(x))
UNARY_KERNEL(u_abs, fabsf(x))
UNARY_KERNEL(u_sign, sign_of(x))
UNARY_KERNEL(u_round, nearbyintf(x))
UNARY_KERNEL(u_floor, floorf(x))
UNARY_KERNEL(u_ceil, ceilf(x))
UNARY_KERNEL(u_tanh, tanhf(x))
UNARY_KERNEL(u_sigmoid, 1.0f / (1.0f + expf(-x)))
UNARY_KERNEL(u_relu, x < 0 ? 0.0f : x)          /* keeps NaN, as clamp_min(x, 0) does */
UNARY_KERNEL(u_reciprocal, 1.0f / x)
UNARY_KERNEL(u_sin, sinf(x))
UNARY_KERNEL(u_cos, cosf(x))
UNARY_KERNEL(u_selu, selu_f(x))
UNARY_KERNEL(u_gelu, gelu_f(x))
UNARY_KERNEL(u_square, x * x)
UNARY_KERNEL(u_log1p, log1pf(x))

static const struct {
    const char *name;
    unkern kern;
    char need_x, need_y;    /* what the backward rule reads: the input, the output */
} uninfo[DM_UN_COUNT] = {
    [DM_UN_NEG] = { "neg", u_neg, 0, 0 },
    [DM_UN_EXP] = { "exp", u_exp, 0, 1 },
    [DM_UN_LOG] = { "log", u_log, 1, 0 },
    [DM_UN_SQRT] = { "sqrt", u_sqrt, 0, 1 },
    [DM_UN_ABS] = { "abs", u_abs, 1, 0 },
    [DM_UN_SIGN] = { "sign", u_sign, 0, 0 },
    [DM_UN_ROUND] = { "round", u_round, 0, 0 },
    [DM_UN_FLOOR] = { "floor", u_floor, 0, 0 },
    [DM_UN_CEIL] = { "ceil", u_ceil, 0, 0 },
    [DM_UN_TANH] = { "tanh", u_tanh, 0, 1 },
    [DM_UN_SIGMOID] = { "sigmoid", u_sigmoid, 0, 1 },
    [DM_UN_RELU] = { "relu", u_relu, 0, 1 },
    [DM_UN_RECIPROCAL] = { "reciprocal", u_reciprocal, 0, 1 },
    [DM_UN_SIN] = { "sin", u_sin, 1, 0 },
    [DM_UN_COS] = { "cos", u_cos, 1, 0 },
    [DM_UN_SELU] = { "selu", u_selu, 1, 0 },
    [DM_UN_GELU] = { "gelu", u_gelu, 1, 0 },
    [DM_UN_SQUARE] = { "square", u_square, 1, 0 },
    [DM_UN_LOG1P] = { "log1p", u_log1p, 1, 0 },
};

static void row_unary(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    uninfo[c->which].kern(n, x, sx, o);
}

dm_tensor *dm_unary(dm_unop op, const dm_tensor *x)
{
    if ((unsigned)op >= DM_UN_COUNT) {
        dm_seterr("unary: unknown op %d", (int)op);
        return NULL;
    }
    if (!x) {
        dm_seterr("%s: expected a tensor, got NULL", uninfo[op].name);
        return NULL;
    }
    rowctx c = { .fn = row_unary, .which = (int)op };
    dm_tensor *out = map1(x, &c);
    if (!out) return NULL;
    if (dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(DM_OP_UNARY, (int)op, out, 1, &x);
        if (!nd || (uninfo[op].need_y && !dm__save(nd, 0, out))) {
            dm_tensor_release(out);
            return NULL;
        }
    }
    return out;
}

/* ---- tensor-scalar ops ------------------------------------------------------------------ */

/* x op s through a binary kernel with a stride-0 scalar operand (or s op x when reversed) */
static void row_scalar(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    if (c->reversed) c->bk(n, &c->s, 0, x, sx, o);
    else c->bk(n, x, sx, &c->s, 0, o);
}

/* s / x is torch's reciprocal(x) * s */
static void row_rdiv(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    const float s = c->s;
    ROWLOOP(o[i] = (1.0f / v) * s;);
}

/* x ^ s with the special cases of torch's pow(Tensor, Scalar) kernel */
static void pow_scalar_row(int64_t n, const float *x, int64_t sx, float s, float *restrict o)
{
    if (s == 0.0f)       for (int64_t i = 0; i < n; i++) o[i] = 1.0f;
    else if (s == 1.0f)  ROWLOOP(o[i] = v;);
    else if (s == 2.0f)  ROWLOOP(o[i] = v * v;);
    else if (s == 3.0f)  ROWLOOP(o[i] = v * v * v;);
    else if (s == 0.5f)  ROWLOOP(o[i] = sqrtf(v););
    else if (s == -0.5f) ROWLOOP(o[i] = 1.0f / sqrtf(v););
    else if (s == -1.0f) ROWLOOP(o[i] = 1.0f / v;);
    else if (s == -2.0f) ROWLOOP(o[i] = 1.0f / (v * v););
    else                 ROWLOOP(o[i] = powf(v, s););
}

static void row_pows(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    pow_scalar_row(n, x, sx, c->s, o);
}

/* s ^ x; torch answers 1 everywhere for s = 1 (even for NaN exponents) */
static void row_rpows(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    if (c->s == 1.0f) for (int64_t i = 0; i < n; i++) o[i] = 1.0f;
    else k_pow(n, &c->s, 0, x, sx, o);
}

static dm_tensor *record_scalar(dm_tensor *out, const dm_tensor *x, dm_op op, int sub,
                                double f0, double f1, int save_out)
{
    if (!dm__needs_grad(1, &x)) return out;
    dm_node *nd = dm__record(op, sub, out, 1, &x);
    if (!nd || (save_out && !dm__save(nd, 0, out))) {
        dm_tensor_release(out);
        return NULL;
    }
    nd->f[0] = f0;
    nd->f[1] = f1;
    return out;
}

dm_tensor *dm_binary_scalar(dm_binop op, const dm_tensor *a, float s, int reversed)
{
    if ((unsigned)op >= NBINOPS) {
        dm_seterr("binary: unknown op %d", (int)op);
        return NULL;
    }
    if (!a) {
        dm_seterr("%s: expected a tensor, got NULL", bininfo[op].name);
        return NULL;
    }
    rowctx c = { .fn = row_scalar, .s = s };
    dm_tensor *out;
    switch (op) {
    case DM_BIN_ADD:                                   /* x + s = s + x */
        c.bk = k_add;
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_ADD, s, 0, 0);
    case DM_BIN_SUB:
        if (reversed) {                                /* s - x */
            c.bk = k_sub;
            c.reversed = 1;
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RSUBS, DM_BIN_SUB, s, 0, 0);
        }
        c.bk = k_add;                                  /* x - s = x + (-s), exactly */
        c.s = -s;
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_SUB, -(double)s, 0, 0);
    case DM_BIN_MUL:
        c.bk = k_mul;
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_MUL, s, 0, 0);
    case DM_BIN_DIV:
        if (reversed) {                                /* s / x */
            c.fn = row_rdiv;
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RDIVS, DM_BIN_DIV, s, 0, 0);
        }
        c.bk = k_div;                                  /* x / s, a true division */
        if (!(out = map1(a, &c))) return NULL;
        /* f[0] is the multiplier 1/s the node stands for, f[1] the divisor itself */
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_DIV, 1.0 / s, s, 0);
    case DM_BIN_POW:
        if (reversed) {                                /* s ^ x */
            c.fn = row_rpows;
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RPOWS, DM_BIN_POW, s, 0, 1);
        }
        c.fn = row_pows;                               /* x ^ s */
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_POWS, DM_BIN_POW, s, 0, 0);
    case DM_BIN_EQ: case DM_BIN_NE: case DM_BIN_LT: case DM_BIN_LE: case DM_BIN_GT:
    case DM_BIN_GE:
        c.bk = bininfo[op].kern;
        c.reversed = reversed;
        return map1(a, &c);                            /* comparisons record nothing */
    case DM_BIN_MAXIMUM: case DM_BIN_MINIMUM: {
        /* symmetric; through the tensor op so the gradient rule (ties share) is one */
        dm_tensor *st = dm_tensor_scalar(s);
        if (!st) return NULL;
        out = dm_binary(op, a, st);
        dm_tensor_release(st);
        return out;
    }
    }
    return NULL;
}

/* ---- clamp, leaky_relu, elu ------------------------------------------------------------- */

/* min(max(x, lo), hi) as std::min/std::max compute it: NaN x stays NaN, lo > hi gives hi */
static void row_clamp(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    const float lo = c->lo, hi = c->hi;
    if (isnan(hi))      ROWLOOP(o[i] = v < lo ? lo : v;);
    else if (isnan(lo)) ROWLOOP(o[i] = hi < v ? hi : v;);
    else                ROWLOOP(const float w = v < lo ? lo : v; o[i] = hi < w ? hi : w;);
}

static void row_leaky(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    const float slope = c->s;
    ROWLOOP(const float vs = v * slope; o[i] = v > 0 ? v : vs;);
}

static void row_elu(const rowctx *c, int64_t n, const float *x, int64_t sx, float *restrict o)
{
    const float alpha = c->s;
    ROWLOOP(o[i] = v <= 0 ? (expf(v) - 1.0f) * alpha : v;);
}

dm_tensor *dm_clamp(const dm_tensor *x, float lo, float hi)
{
    if (!x) { dm_seterr("clamp: expected a tensor, got NULL"); return NULL; }
    if (isnan(lo) && isnan(hi)) {
        dm_seterr("clamp: at least one of min and max must be given");
        return NULL;
    }
    rowctx c = { .fn = row_clamp, .lo = lo, .hi = hi };
    dm_tensor *out = map1(x, &c);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_CLAMP, 0, lo, hi, 0);
}

dm_tensor *dm_leaky_relu(const dm_tensor *x, float slope)
{
    if (!x) { dm_seterr("leaky_relu: expected a tensor, got NULL"); return NULL; }
    rowctx c = { .fn = row_leaky, .s = slope };
    dm_tensor *out = map1(x, &c);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_LEAKY_RELU, 0, slope, 0, 0);
}

dm_tensor *dm_elu(const dm_tensor *x, float alpha)
{
    if (!x) { dm_seterr("elu: expected a tensor, got NULL"); return NULL; }
    rowctx c = { .fn = row_elu, .s = alpha };
    dm_tensor *out = map1(x, &c);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_ELU, 0, alpha, 0, 0);
}

/* ---- where ------------------------------------------------------------------------------ */

/* broadcast shape of three tensors.  Three shapes broadcast together exactly when every pair
 * does, so check the pairs (a, b), (cond, a), (cond, b): the message then names two of the
 * shapes the caller passed. */
static int broadcast3(const char *fn, const dm_tensor *c, const dm_tensor *a,
                      const dm_tensor *b, int64_t *out)
{
    int64_t tmp[DM_MAX_DIMS];
    if (dm__broadcast_shape(fn, a, b, tmp) < 0 || dm__broadcast_shape(fn, c, a, tmp) < 0 ||
        dm__broadcast_shape(fn, c, b, tmp) < 0)
        return -1;
    int nd = c->ndim;
    if (a->ndim > nd) nd = a->ndim;
    if (b->ndim > nd) nd = b->ndim;
    const dm_tensor *ts[3] = { c, a, b };
    for (int d = 0; d < nd; d++) {
        out[d] = 1;
        for (int k = 0; k < 3; k++) {
            int dk = d - (nd - ts[k]->ndim);
            if (dk >= 0 && ts[k]->shape[dk] != 1) out[d] = ts[k]->shape[dk];
        }
    }
    return nd;
}

dm_tensor *dm_where(const dm_tensor *cond, const dm_tensor *a, const dm_tensor *b)
{
    if (!cond || !a || !b) {
        dm_seterr("where: expected three tensors, got NULL");
        return NULL;
    }
    int64_t shape[DM_MAX_DIMS];
    int nd = broadcast3("where", cond, a, b, shape);
    if (nd < 0) return NULL;
    dm_tensor *out = dm_tensor_new(nd, shape);
    if (!out) return NULL;
    int64_t n = dm_numel(out);
    float *o = dm_data(out);
    if (n > 0) {
        const dm_tensor *ts[3] = { cond, a, b };
        plan p;
        plan_init(&p, 3, ts, nd, shape);
        int64_t len = plan_row_len(&p);
        int64_t sc = plan_row_stride(&p, 0), sa = plan_row_stride(&p, 1),
                sb = plan_row_stride(&p, 2);
        for (int64_t done = 0; done < n; done += len) {
            const float *cp = plan_ptr(&p, 0), *ap = plan_ptr(&p, 1), *bp = plan_ptr(&p, 2);
            // cond, a, b are rows of len elements with strides sc, sa, sb
            for (int64_t i = 0; i < len; i++)
                o[done + i] = cp[i * sc] != 0 ? ap[i * sa] : bp[i * sb];
            plan_next_row(&p);
        }
    }
    const dm_tensor *ins[2] = { a, b };
    if (dm__needs_grad(2, ins)) {
        /* cond carries no gradient: keep it as a saved tensor, not an input */
        dm_node *node = dm__record(DM_OP_WHERE, 0, out, 2, ins);
        if (!node || !dm__save(node, 0, cond)) {
            dm_tensor_release(out);
            return NULL;
        }
    }
    return out;
}

/* ---- backward rules ---------------------------------------------------------------------
 * What the nodes hold:
 *   ADD SUB MUL DIV POW MAXIMUM MINIMUM   in {a, b}, sub = dm_binop; POW: saved[0] = output
 *   ADDS     f[0] = the value added (s, or -s for x - s; sub DM_BIN_SUB names it SubBackward0)
 *   MULS     f[0] = the multiplier (s, or 1/s for x / s with sub DM_BIN_DIV), f[1] = s for x / s
 *   RSUBS RDIVS POWS RPOWS   f[0] = s; RPOWS: saved[0] = output
 *   UNARY    sub = dm_unop; saved[0] = output for exp sqrt tanh sigmoid relu reciprocal
 *   CLAMP    f[0] = lo, f[1] = hi (NaN = none); LEAKY_RELU f[0] = slope; ELU f[0] = alpha
 *   WHERE    in {a, b}; saved[0] = cond (never differentiated) */

static int wants_grad(const dm_node *n, int k)
{
    return k < n->ninputs && n->in[k] && n->in[k]->requires_grad;
}

/* g has the broadcast (output) shape; give it back in x's shape, taking ownership of g */
static dm_tensor *reduce_to(dm_tensor *g, const dm_tensor *x)
{
    if (!g || dm_same_shape(g, x)) return g;
    dm_tensor *r = dm_sum_to(g, x->ndim, x->shape);
    dm_tensor_release(g);
    return r;
}

/* hand out the two output-shaped gradients; returns 0, or -1 after releasing everything */
static int finish2(dm_node *n, dm_tensor *ga, dm_tensor *gb, int need_a, int need_b,
                   dm_tensor **gin)
{
    if ((need_a && !ga) || (need_b && !gb)) goto fail;
    if (need_a) { gin[0] = reduce_to(ga, n->in[0]); ga = NULL; if (!gin[0]) goto fail; }
    if (need_b) { gin[1] = reduce_to(gb, n->in[1]); gb = NULL; if (!gin[1]) goto fail; }
    return 0;
fail:
    dm_tensor_release(ga);
    dm_tensor_release(gb);
    dm_tensor_release(gin[0]); gin[0] = NULL;
    dm_tensor_release(gin[1]); gin[1] = NULL;
    return -1;
}

/* the gradient passed through unchanged (a new reference to gout) */
static dm_tensor *pass(const dm_tensor *g) { return dm_tensor_retain((dm_tensor *)g); }

/* pow, maximum and minimum: one pass over the output computing both full gradients */
static int bw_binary_loop(dm_node *n, const dm_tensor *gout, int need_a, int need_b,
                          dm_tensor **ga_out, dm_tensor **gb_out)
{
    const dm_tensor *a = n->in[0], *b = n->in[1];
    dm_tensor *ga = need_a ? dm_tensor_new(gout->ndim, gout->shape) : NULL;
    dm_tensor *gb = need_b ? dm_tensor_new(gout->ndim, gout->shape) : NULL;
    if ((need_a && !ga) || (need_b && !gb)) {
        dm_tensor_release(ga); dm_tensor_release(gb);
        return -1;
    }
    int64_t total = dm_numel(gout);
    const float *g = dm_data(gout);
    const float *y = n->saved[0] ? dm_data(n->saved[0]) : NULL;   /* pow's output */
    float *oa = ga ? dm_data(ga) : NULL, *ob = gb ? dm_data(gb) : NULL;
    if (total > 0) {
        const dm_tensor *ts[2] = { a, b };
        plan p;
        plan_init(&p, 2, ts, gout->ndim, gout->shape);
        int64_t len = plan_row_len(&p), sa = plan_row_stride(&p, 0), sb = plan_row_stride(&p, 1);
        for (int64_t done = 0; done < total; done += len) {
            const float *ap = plan_ptr(&p, 0), *bp = plan_ptr(&p, 1);
            for (int64_t i = 0; i < len; i++) {
                float x = ap[i * sa], e = bp[i * sb], gg = g[done + i], da = 0, db = 0;
                switch (n->op) {
                case DM_OP_POW:
                    /* d/da = e * a^(e-1), 0 where e == 0; d/de = y * log(a), 0 where
                       a == 0 and e >= 0 (both as torch masks them) */
                    da = e == 0 ? 0.0f : gg * (e * powf(x, e - 1.0f));
                    db = gg * ((x == 0 && e >= 0) ? 0.0f : y[done + i] * logf(x));
                    break;
                case DM_OP_MAXIMUM:
                    /* ties share the gradient equally; NaN on either side passes it to both */
                    da = db = x == e ? gg / 2 : gg;
                    if (x < e) da = 0;
                    if (x > e) db = 0;
                    break;
                default:                            /* DM_OP_MINIMUM */
                    da = db = x == e ? gg / 2 : gg;
                    if (x > e) da = 0;
                    if (x < e) db = 0;
                    break;
                }
                if (oa) oa[done + i] = da;
                if (ob) ob[done + i] = db;
            }
            plan_next_row(&p);
        }
    }
    *ga_out = ga;
    *gb_out = gb;
    return 0;
}

int dm__bw_binary(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int need_a = wants_grad(n, 0), need_b = wants_grad(n, 1);
    const dm_tensor *a = n->in[0], *b = n->in[1];
    dm_tensor *ga = NULL, *gb = NULL;
    switch (n->op) {
    case DM_OP_ADD:
        if (need_a) ga = pass(gout);
        if (need_b) gb = pass(gout);
        break;
    case DM_OP_SUB:
        if (need_a) ga = pass(gout);
        if (need_b) gb = dm_unary(DM_UN_NEG, gout);
        break;
    case DM_OP_MUL:
        if (need_a) ga = dm_mul(gout, b);
        if (need_b) gb = dm_mul(gout, a);
        break;
    case DM_OP_DIV:
        if (need_a) ga = dm_div(gout, b);
        if (need_b) {                               /* -g * ((a / b) / b) */
            dm_tensor *q = dm_div(a, b), *q2 = q ? dm_div(q, b) : NULL;
            dm_tensor *ng = q2 ? dm_unary(DM_UN_NEG, gout) : NULL;
            gb = ng ? dm_mul(ng, q2) : NULL;
            dm_tensor_release(q); dm_tensor_release(q2); dm_tensor_release(ng);
        }
        break;
    case DM_OP_POW: case DM_OP_MAXIMUM: case DM_OP_MINIMUM:
        if (bw_binary_loop(n, gout, need_a, need_b, &ga, &gb)) return -1;
        break;
    default:
        dm_seterr("backward: binary rule called for %s", dm__node_name(n));
        return -1;
    }
    return finish2(n, ga, gb, need_a, need_b, gin);
}

/* gx = rule(g, x) elementwise over x's shape; x may be non-contiguous */
int dm__bw_scalar(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    const dm_tensor *x = n->in[0];
    if (n->op == DM_OP_ADDS) {                     /* x + s, x - s */
        gin[0] = pass(gout);
        return 0;
    }
    dm_tensor *gx = dm_tensor_new(gout->ndim, gout->shape);
    if (!gx) return -1;
    int64_t m = dm_numel(gout);
    const float *g = dm_data(gout);
    float *restrict o = dm_data(gx);
    const float s = (float)n->f[0];
    int owned = 0;
    const float *xv = NULL;
    if (n->op == DM_OP_RDIVS || n->op == DM_OP_POWS) {
        xv = dm__contig_data(x, &owned);
        if (!xv) { dm_tensor_release(gx); return -1; }
    }
    switch (n->op) {
    case DM_OP_MULS:
        if (n->sub == DM_BIN_DIV) {                /* x / s: g / s */
            const float d = (float)n->f[1];
            VLOOP(m, o[i] = g[i] / d;);
        } else {
            VLOOP(m, o[i] = g[i] * s;);
        }
        break;
    case DM_OP_RSUBS:                              /* s - x */
        VLOOP(m, o[i] = -g[i];);
        break;
    case DM_OP_RDIVS:                              /* (1/x) * s: -(g * s) * (r * r), r = 1/x */
        for (int64_t i = 0; i < m; i++) {
            float r = 1.0f / xv[i];
            o[i] = -(g[i] * s) * (r * r);
        }
        break;
    case DM_OP_POWS:                               /* x ^ s: g * (s * x^(s-1)), 0 for s = 0 */
        if (s == 0.0f) {
            VLOOP(m, o[i] = 0.0f;);
        } else {
            float *t = o;                          /* x^(s-1) first, in place */
            pow_scalar_row(m, xv, 1, (float)(n->f[0] - 1.0), t);
            VLOOP(m, o[i] = g[i] * (s * t[i]););
        }
        break;
    case DM_OP_RPOWS: {                            /* s ^ x: g * (y * log s); 0 at s = 0, x >= 0 */
        const float *y = dm_data(n->saved[0]);
        const float ls = (float)log(n->f[0]);
        if (s == 0.0f) {
            xv = dm__contig_data(x, &owned);
            if (!xv) { dm_tensor_release(gx); return -1; }
            VLOOP(m, o[i] = g[i] * (xv[i] >= 0 ? 0.0f : y[i] * ls););
        } else {
            VLOOP(m, o[i] = g[i] * (y[i] * ls););
        }
        break;
    }
    default:
        dm__buf_release(x, (float *)xv, owned);
        dm_tensor_release(gx);
        dm_seterr("backward: scalar rule called for %s", dm__node_name(n));
        return -1;
    }
    dm__buf_release(x, (float *)xv, owned);
    gin[0] = gx;
    return 0;
}

DM_AVX_CLONES
int dm__bw_unary(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    if (n->sub < 0 || n->sub >= DM_UN_COUNT) {
        dm_seterr("backward: unknown unary op %d", n->sub);
        return -1;
    }
    const dm_tensor *xt = n->in[0];
    dm_tensor *gx = dm_tensor_new(gout->ndim, gout->shape);
    if (!gx) return -1;
    int64_t m = dm_numel(gout);
    const float *g = dm_data(gout);
    float *restrict o = dm_data(gx);
    int owned = 0;
    const float *x = NULL, *y = NULL;
    if (uninfo[n->sub].need_x && !(x = dm__contig_data(xt, &owned))) {
        dm_tensor_release(gx);
        return -1;
    }
    if (uninfo[n->sub].need_y) y = dm_data(n->saved[0]);
    // g, x, y, o are all [m], row-major in x's shape
    switch ((dm_unop)n->sub) {
    case DM_UN_NEG:
        VLOOP(m, o[i] = -g[i];);
        break;
    case DM_UN_EXP:
        VLOOP(m, o[i] = g[i] * y[i];);
        break;
    case DM_UN_LOG:
        VLOOP(m, o[i] = g[i] / x[i];);
        break;
    case DM_UN_SQRT:
        VLOOP(m, o[i] = g[i] / (2.0f * y[i]););
        break;
    case DM_UN_ABS:                                /* sign(0) = 0: no gradient at 0 */
        VLOOP(m, o[i] = g[i] * sign_of(x[i]););
        break;
    case DM_UN_SIGN: case DM_UN_ROUND: case DM_UN_FLOOR: case DM_UN_CEIL:
        VLOOP(m, o[i] = 0.0f;);
        break;
    case DM_UN_TANH:
        VLOOP(m, o[i] = g[i] * (1.0f - y[i] * y[i]););
        break;
    case DM_UN_SIGMOID:
        VLOOP(m, o[i] = g[i] * (1.0f - y[i]) * y[i];);
        break;
    case DM_UN_RELU:                               /* relu'(0) = 0 */
        VLOOP(m, const float gi = g[i]; o[i] = y[i] <= 0 ? 0.0f : gi;);   /* loads first: vectorizes */
        break;
    case DM_UN_RECIPROCAL:
        VLOOP(m, o[i] = -g[i] * (y[i] * y[i]););
        break;
    case DM_UN_SIN:
        VLOOP(m, o[i] = g[i] * cosf(x[i]););
        break;
    case DM_UN_COS:
        VLOOP(m, o[i] = g[i] * -sinf(x[i]););
        break;
    case DM_UN_SELU:
        for (int64_t i = 0; i < m; i++)
            o[i] = x[i] <= 0 ? g[i] * (SELU_ALPHA * SELU_SCALE) * expf(x[i]) : g[i] * SELU_SCALE;
        break;
    case DM_UN_GELU:
        for (int64_t i = 0; i < m; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * GELU_ALPHA));
            float pdf = GELU_BETA * expf(x[i] * x[i] * -0.5f);
            o[i] = g[i] * (cdf + x[i] * pdf);
        }
        break;
    case DM_UN_SQUARE:
        VLOOP(m, o[i] = g[i] * (2.0f * x[i]););
        break;
    case DM_UN_LOG1P:
        VLOOP(m, o[i] = g[i] / (x[i] + 1.0f););
        break;
    case DM_UN_COUNT:
        break;
    }
    dm__buf_release(xt, (float *)x, owned);
    gin[0] = gx;
    return 0;
}

/* the input's values as a contiguous buffer, and a new gradient tensor beside it */
static int bw_param_setup(dm_node *n, const dm_tensor *gout, dm_tensor **gx, const float **x,
                          int *owned)
{
    *gx = dm_tensor_new(gout->ndim, gout->shape);
    if (!*gx) return -1;
    *x = dm__contig_data(n->in[0], owned);
    if (!*x) { dm_tensor_release(*gx); *gx = NULL; return -1; }
    return 0;
}

int dm__bw_clamp(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    dm_tensor *gx;
    const float *x;
    int owned;
    if (bw_param_setup(n, gout, &gx, &x, &owned)) return -1;
    int64_t m = dm_numel(gout);
    const float *g = dm_data(gout);
    float *restrict o = dm_data(gx);
    const float lo = (float)n->f[0], hi = (float)n->f[1];
    int has_lo = !isnan(lo), has_hi = !isnan(hi);
    /* the gradient passes where lo <= x <= hi, bounds included (NaN x gets none) */
    for (int64_t i = 0; i < m; i++) {
        int in = (!has_lo || x[i] >= lo) && (!has_hi || x[i] <= hi);
        o[i] = in ? g[i] : 0.0f;
    }
    dm__buf_release(n->in[0], (float *)x, owned);
    gin[0] = gx;
    return 0;
}

int dm__bw_leaky_relu(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                      dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    dm_tensor *gx;
    const float *x;
    int owned;
    if (bw_param_setup(n, gout, &gx, &x, &owned)) return -1;
    int64_t m = dm_numel(gout);
    const float *g = dm_data(gout);
    float *restrict o = dm_data(gx);
    const float slope = (float)n->f[0];
    VLOOP(m, const float gi = g[i], gs = gi * slope; o[i] = x[i] > 0 ? gi : gs;);
    dm__buf_release(n->in[0], (float *)x, owned);
    gin[0] = gx;
    return 0;
}

int dm__bw_elu(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    dm_tensor *gx;
    const float *x;
    int owned;
    if (bw_param_setup(n, gout, &gx, &x, &owned)) return -1;
    int64_t m = dm_numel(gout);
    const float *g = dm_data(gout);
    float *restrict o = dm_data(gx);
    const float alpha = (float)n->f[0];
    VLOOP(m, o[i] = x[i] <= 0 ? g[i] * alpha * expf(x[i]) : g[i];);
    dm__buf_release(n->in[0], (float *)x, owned);
    gin[0] = gx;
    return 0;
}

int dm__bw_where(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int need_a = wants_grad(n, 0), need_b = wants_grad(n, 1);
    if (!need_a && !need_b) return 0;
    const dm_tensor *cond = n->saved[0];
    dm_tensor *ga = need_a ? dm_tensor_new(gout->ndim, gout->shape) : NULL;
    dm_tensor *gb = need_b ? dm_tensor_new(gout->ndim, gout->shape) : NULL;
    int64_t total = dm_numel(gout);
    if (total > 0 && (!need_a || ga) && (!need_b || gb)) {
        const float *g = dm_data(gout);
        float *oa = ga ? dm_data(ga) : NULL, *ob = gb ? dm_data(gb) : NULL;
        plan p;
        plan_init(&p, 1, &cond, gout->ndim, gout->shape);
        int64_t len = plan_row_len(&p), sc = plan_row_stride(&p, 0);
        for (int64_t done = 0; done < total; done += len) {
            const float *cp = plan_ptr(&p, 0);
            for (int64_t i = 0; i < len; i++) {
                int c = cp[i * sc] != 0;
                if (oa) oa[done + i] = c ? g[done + i] : 0.0f;
                if (ob) ob[done + i] = c ? 0.0f : g[done + i];
            }
            plan_next_row(&p);
        }
    }
    return finish2(n, ga, gb, need_a, need_b, gin);
}
