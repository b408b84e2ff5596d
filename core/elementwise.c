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
 * Dtypes.  Every kernel is written once over its element type (BINARY_KERNEL_T,
 * UNARY_KERNEL_T, ROW_T, the BW_* rules) and instantiated for float32, float64 (the same
 * formula in double: <tgmath.h> picks exp or expf by type) and, where integers need their
 * own, int64 (exact, wrapping).  Two float32 operands take the float32 code as before, after
 * one dtype compare; anything else finds the result type (torch.result_type), converts the
 * operands to the type it computes in (uint8 and bool arithmetic in int64, integer division
 * in float32), runs the kernels through the plan and converts back where needed.
 *
 * Numerics follow PyTorch 1.13's CPU kernels, including their quirks: x / s is a true
 * division, s / x is reciprocal(x) * s, x ^ s special-cases s = 0, 1, 2, 3, 0.5, -0.5, -1, -2,
 * elu and selu use exp(x) - 1 (not expm1), round is half-to-even. */
#include "internal.h"
#include <tgmath.h>   /* exp, log, pow ... pick the float or double function by type */
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
/* The elementwise kernels also get an AVX copy, picked at load time where the CPU has AVX
 * (GCC's target clones): 8 floats per instruction instead of 4.  Without FMA contraction
 * (C11 mode) and with the same libm calls, both copies give bit-identical results. */
/* not under ThreadSanitizer: the loader runs the clones' resolvers before its runtime is up,
   and the instrumented resolver crashes */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
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
    const char *base[PLAN_MAX_IN];         /* storage->data of each operand */
    int esz[PLAN_MAX_IN];                  /* its element size in bytes */
} plan;

/* t[k] broadcast to (ndim, shape); shape must hold no zero */
static void plan_init(plan *p, int nin, const dm_tensor *const *t, int ndim,
                      const int64_t *shape)
{
    p->nd = 0;
    p->nin = nin;
    for (int k = 0; k < nin; k++) {
        p->off[k] = t[k]->offset;
        p->base[k] = (const char *)t[k]->storage->data;
        p->esz[k] = (int)dm__esize(t[k]->dtype);
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
static inline const void *plan_ptr(const plan *p, int k)
{
    return p->base[k] + p->off[k] * p->esz[k];
}

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

/* ---- binary kernels: o[i] = f(a[i*sa], b[i*sb]) ---------------------------------------
 * Each is written once over the element type T (output type OT); float32 and float64 get
 * the same formula (tgmath picks expf or exp), int64 its own exact one. */

typedef void (*binkern)(int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                        float *restrict o);
/* any element types: the kernels' entry points for the dtype-generic path */
typedef void (*vkern)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb,
                      void *o);

/* for (i = 0; i < n; i++) BODY, split so the main loop's trip count is a multiple of 8:
 * GCC's -O2 vectoriser (the "very cheap" cost model) only takes loops it needs no scalar
 * epilogue for. */
#define VLOOP(n, ...) do {                                                                  \
        int64_t n_ = (n), m_ = n_ & ~(int64_t)7;                                            \
        for (int64_t i = 0; i < m_; i++) { __VA_ARGS__ }                                    \
        for (int64_t i = m_; i < n_; i++) { __VA_ARGS__ }                                   \
    } while (0)

/* the same over a strided row x (stride sx) of n elements of type T, the element named v */
#define ROWLOOP_T(T, ...) do {                                                              \
        if (sx == 1) VLOOP(n, const T v = x[i]; __VA_ARGS__);                               \
        else for (int64_t i = 0; i < n; i++) { const T v = x[i * sx]; __VA_ARGS__ }         \
    } while (0)
#define ROWLOOP(...) ROWLOOP_T(float, __VA_ARGS__)

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

/* int64 arithmetic wraps around as PyTorch's (two's complement), without C's overflow UB */
#define WRAP(x, OP, y) ((int64_t)((uint64_t)(x) OP (uint64_t)(y)))
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
#define IS_CMP(op) ((op) >= DM_BIN_EQ && (op) <= DM_BIN_GE)

/* kernels by compute type: [0] float32, [1] float64, [2] int64 (NULL: none, as for int64
   division, which is a true division computed in float32) */
#define KERNS(k) k, { k##_v, k##_d_v, k##_i_v }
#define KERNS_F(k) k, { k##_v, k##_d_v, NULL }
#define KERNS_C(k) NULL, { k##_v, k##_d_v, k##_i_v }
static const struct {
    const char *name;
    binkern kern;           /* the float32 fast path; NULL for comparisons (their output is bool) */
    vkern vk[3];
    dm_op op;               /* DM_OP_NONE: a comparison, no gradient */
} bininfo[NBINOPS] = {
    [DM_BIN_ADD] = { "add", KERNS(k_add), DM_OP_ADD },
    [DM_BIN_SUB] = { "sub", KERNS(k_sub), DM_OP_SUB },
    [DM_BIN_MUL] = { "mul", KERNS(k_mul), DM_OP_MUL },
    [DM_BIN_DIV] = { "div", KERNS_F(k_div), DM_OP_DIV },
    [DM_BIN_POW] = { "pow", KERNS(k_pow), DM_OP_POW },
    [DM_BIN_EQ] = { "eq", KERNS_C(k_eq), DM_OP_NONE },
    [DM_BIN_NE] = { "ne", KERNS_C(k_ne), DM_OP_NONE },
    [DM_BIN_LT] = { "lt", KERNS_C(k_lt), DM_OP_NONE },
    [DM_BIN_LE] = { "le", KERNS_C(k_le), DM_OP_NONE },
    [DM_BIN_GT] = { "gt", KERNS_C(k_gt), DM_OP_NONE },
    [DM_BIN_GE] = { "ge", KERNS_C(k_ge), DM_OP_NONE },
    [DM_BIN_MAXIMUM] = { "maximum", KERNS(k_maximum), DM_OP_MAXIMUM },
    [DM_BIN_MINIMUM] = { "minimum", KERNS(k_minimum), DM_OP_MINIMUM },
};

/* o (contiguous, broadcast shape, osz bytes an element) = kern(a, b); the general path */
static void binary_general(vkern kern, const dm_tensor *a, const dm_tensor *b, int ndim,
                           const int64_t *shape, int64_t n, char *o, size_t osz)
{
    const dm_tensor *ts[2] = { a, b };
    plan p;
    plan_init(&p, 2, ts, ndim, shape);
    int64_t len = plan_row_len(&p), sa = plan_row_stride(&p, 0), sb = plan_row_stride(&p, 1);
    for (int64_t done = 0; done < n; done += len) {
        kern(len, plan_ptr(&p, 0), sa, plan_ptr(&p, 1), sb, o + done * (int64_t)osz);
        plan_next_row(&p);
    }
}

/* out (dtype odt) = a op b with the kernel k of a and b's common dtype; no autograd */
static dm_tensor *binary_forward(const char *fn, vkern kern, const dm_tensor *a,
                                 const dm_tensor *b, dm_dtype odt)
{
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(fn, a, b, shape);
    if (nd < 0) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, shape, odt);
    if (!out) return NULL;
    int64_t n = dm__numel(out);
    if (n == 0) return out;
    void *o = dm__ptr(out);
    int ca = dm__is_contig(a), cb = dm__is_contig(b);
    int64_t na = dm__numel(a), nb = dm__numel(b);
    if (ca && cb && na == n && nb == n)                    /* (a) same shape, contiguous */
        kern(n, dm__ptr(a), 1, dm__ptr(b), 1, o);
    else if (nb == 1 && ca && na == n)                     /* (b) b is one element */
        kern(n, dm__ptr(a), 1, dm__ptr(b), 0, o);
    else if (na == 1 && cb && nb == n)                     /* (b) a is one element */
        kern(n, dm__ptr(a), 0, dm__ptr(b), 1, o);
    else                                                   /* (c) anything */
        binary_general(kern, a, b, nd, shape, n, o, dm__esize(odt));
    return out;
}

/* ---- type promotion (torch.result_type) ------------------------------------------------ */

/* the type of hi (a tensor with dims, or a 0-dim one against a Lua number) meeting lo (a
   0-dim tensor or a number): lo promotes hi only from a higher category (bool < integer <
   floating), or when hi is bool */
static dm_dtype combine_types(dm_dtype hi, dm_dtype lo)
{
    if (dm_is_floating(hi)) return hi;
    if (hi == DM_BOOL || dm_is_floating(lo)) return dm_promote_types(hi, lo);
    return hi;
}

static dm_dtype result_type2(const dm_tensor *a, const dm_tensor *b)
{
    if ((a->ndim == 0) == (b->ndim == 0)) return dm_promote_types(a->dtype, b->dtype);
    return a->ndim ? combine_types(a->dtype, b->dtype) : combine_types(b->dtype, a->dtype);
}

/* a number's own type: integral numbers are int64, floating ones the default float32 */
static dm_dtype scalar_type(int is_int) { return is_int ? DM_INT64 : DM_FLOAT32; }

/* the errors PyTorch raises on types before computing anything (fn names the op) */
static int check_types(dm_binop op, dm_dtype ta, dm_dtype tb, dm_dtype rt, int neg_int_exp)
{
    if (op == DM_BIN_SUB && ta == DM_BOOL && tb == DM_BOOL) {
        dm_seterr("sub: subtraction, the `-` operator, with two bool tensors is not "
                  "supported; use the `^` or logical_xor() operator instead");
        return -1;
    }
    if (op == DM_BIN_SUB && (ta == DM_BOOL || tb == DM_BOOL)) {
        dm_seterr("sub: subtraction, the `-` operator, with a bool tensor is not supported; "
                  "to invert a mask, use logical_not()");
        return -1;
    }
    if (op == DM_BIN_POW && rt == DM_BOOL) {
        dm_seterr("pow: not implemented for bool tensors");
        return -1;
    }
    if (op == DM_BIN_POW && neg_int_exp && !dm_is_floating(rt)) {
        dm_seterr("pow: integers to negative integer powers are not allowed");
        return -1;
    }
    return 0;
}

/* the dtype op computes in for a promoted type rt: true division of integers is float32;
   uint8 and bool arithmetic is done in int64 and converted back (wrapping as PyTorch's) */
static dm_dtype compute_type(dm_binop op, dm_dtype rt)
{
    if (dm_is_floating(rt)) return rt;
    return op == DM_BIN_DIV ? DM_FLOAT32 : DM_INT64;
}
static int kclass(dm_dtype ct) { return ct == DM_FLOAT32 ? 0 : ct == DM_FLOAT64 ? 1 : 2; }

/* a op b for any dtypes, rt their promoted type: the inputs converted to the compute type
   (differentiably, between floating types) are left in *ca, *cb for the caller to record
   with and release */
static dm_tensor *binary_any(dm_binop op, const dm_tensor *a, const dm_tensor *b, dm_dtype rt,
                             dm_tensor **ca, dm_tensor **cb)
{
    *ca = *cb = NULL;
    dm_dtype ct = compute_type(op, rt);
    if (!(*ca = dm_to_dtype(a, ct)) || !(*cb = dm_to_dtype(b, ct))) return NULL;
    int cmp = IS_CMP(op);
    dm_tensor *out = binary_forward(bininfo[op].name, bininfo[op].vk[kclass(ct)], *ca, *cb,
                                    cmp ? DM_BOOL : ct);
    if (out && !cmp && ct != rt && op != DM_BIN_DIV) {      /* uint8, bool: back from int64 */
        dm_tensor *r = dm_to_dtype(out, rt);
        dm_tensor_release(out);
        out = r;
    }
    return out;
}

/* record the node of a binary op on out (a floating result whose inputs need grad);
   releases out and returns NULL on failure */
static dm_tensor *record_binary(dm_binop op, dm_tensor *out, const dm_tensor *a,
                                const dm_tensor *b)
{
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

/* dm_binary for anything but two float32 operands of an arithmetic op */
static dm_tensor *binary_other(dm_binop op, const dm_tensor *a, const dm_tensor *b)
{
    dm_dtype rt = result_type2(a, b);
    if (check_types(op, a->dtype, b->dtype, rt, 0)) return NULL;
    dm_tensor *ca, *cb;
    dm_tensor *out = binary_any(op, a, b, rt, &ca, &cb);
    if (out && dm_is_floating(out->dtype)) out = record_binary(op, out, ca, cb);
    dm_tensor_release(ca);
    dm_tensor_release(cb);
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
    if (dm__same_device2(bininfo[op].name, a, b) < 0) return NULL;
    if ((a->dtype | b->dtype) != DM_FLOAT32 || !bininfo[op].kern)  /* DM_FLOAT32 is 0 */
        return binary_other(op, a, b);
    dm_tensor *out;
    if (dm__same_shape(a, b) && dm__is_contig(a) && dm__is_contig(b)) {
        /* the common case, without the broadcasting machinery: same shape, contiguous */
        int64_t n = dm__numel(a);
        out = dm__tensor_new_checked(a->ndim, a->shape, n);
        if (!out) return NULL;
        if (n) bininfo[op].kern(n, dm__data(a), 1, dm__data(b), 1, dm__data(out));
    } else {
        out = binary_forward(bininfo[op].name, bininfo[op].vk[0], a, b, DM_FLOAT32);
        if (!out) return NULL;
    }
    return record_binary(op, out, a, b);
}

dm_tensor *dm_add(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_ADD, a, b); }
dm_tensor *dm_sub(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_SUB, a, b); }
dm_tensor *dm_mul(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_MUL, a, b); }
dm_tensor *dm_div(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_DIV, a, b); }
dm_tensor *dm_pow(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_POW, a, b); }

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

/* out = f(x), a new contiguous tensor of x's shape and dtype */
static dm_tensor *map1(const dm_tensor *x, const rowctx *c)
{
    int64_t n = dm__numel(x);
    dm_tensor *out = dm__tensor_new_checked_dt(x->ndim, x->shape, n, x->dtype);
    if (!out) return NULL;
    if (n == 0) return out;
    char *o = dm__ptr(out);
    if (dm__is_contig(x)) {                /* fast path: one row */
        c->fn(c, n, dm__ptr(x), 1, o);
        return out;
    }
    plan p;
    plan_init(&p, 1, &x, x->ndim, x->shape);
    int64_t len = plan_row_len(&p), sx = plan_row_stride(&p, 0), esz = p.esz[0];
    for (int64_t done = 0; done < n; done += len) {
        c->fn(c, len, plan_ptr(&p, 0), sx, o + done * esz);
        plan_next_row(&p);
    }
    return out;
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

#define UNARY_KERNEL_T(name, T, EXPR)                                                       \
    DM_AVX_CLONES                                                                           \
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

/* torch.selu is elu with these (scale * alpha on the negative side, computed in the
   tensor's type) */
#define SELU_ALPHA_D 1.6732632423543772848170429916717
#define SELU_SCALE_D 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
/* gelu (exact): x * Phi(x); its derivative uses Phi and the normal density */
#define GELU_ALPHA_D 0.70710678118654752440                                  /* 1/sqrt(2) */
#define GELU_BETA_D (1.12837916709551257390 * 0.70710678118654752440 * 0.5)  /* 1/sqrt(2 pi) */
#define GELU_ALPHA ((float)GELU_ALPHA_D)
#define GELU_BETA ((float)GELU_BETA_D)
/* the constant c in the type of x */
#define KT(x, c) _Generic((x), float: c, default: c##_D)

#define SIGN_OF(x) ((0 < (x)) - ((x) < 0))        /* sign(NaN) = 0 */
static inline float sign_of(float x) { return (float)SIGN_OF(x); }
static inline float selu_f(float x)
{
    return x <= 0 ? (expf(x) - 1.0f) * (SELU_ALPHA * SELU_SCALE) : x * SELU_SCALE;
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
UNARY_FLOATS(u_exp, exp(x))
UNARY_FLOATS(u_log, log(x))
UNARY_FLOATS(u_sqrt, sqrt(x))
UNARY_FLOATS(u_abs, fabs(x))
UNARY_FLOATS(u_sign, (__typeof__(x))SIGN_OF(x))
UNARY_FLOATS(u_round, nearbyint(x))
UNARY_FLOATS(u_floor, floor(x))
UNARY_FLOATS(u_ceil, ceil(x))
UNARY_FLOATS(u_tanh, tanh(x))
UNARY_FLOATS(u_sigmoid, 1 / (1 + exp(-x)))
UNARY_FLOATS(u_relu, x < 0 ? 0 : x)          /* keeps NaN, as clamp_min(x, 0) does */
UNARY_FLOATS(u_reciprocal, 1 / x)
UNARY_FLOATS(u_sin, sin(x))
UNARY_FLOATS(u_cos, cos(x))
UNARY_FLOATS(u_selu, SELU(x))
UNARY_FLOATS(u_gelu, GELU(x))
UNARY_FLOATS(u_square, x * x)
UNARY_FLOATS(u_log1p, log1p(x))
/* integers: exact, wrapping as PyTorch's (-INT64_MIN is INT64_MIN) */
UNARY_KERNEL_T(u_neg_i, int64_t, WRAP(0, -, x))
UNARY_KERNEL_T(u_abs_i, int64_t, x < 0 ? WRAP(0, -, x) : x)
UNARY_KERNEL_T(u_sign_i, int64_t, SIGN_OF(x))
UNARY_KERNEL_T(u_square_i, int64_t, WRAP(x, *, x))
UNARY_KERNEL_T(u_relu_i, int64_t, x < 0 ? 0 : x)

/* what an op does on integer and bool inputs */
enum { UN_FLOAT,            /* a float function: computed in float32 */
       UN_INT,              /* integer in, the same integer type out (ki) */
       UN_SAME,             /* round, floor, ceil: the input itself (a copy) */
       UN_NONE };           /* floating types only (selu, gelu) */

#define UK(k) k##_v, k##_d_v
static const struct {
    const char *name;
    ukern kern, kd, ki;     /* float32, float64, int64 */
    char need_x, need_y;    /* what the backward rule reads: the input, the output */
    char ints, bools;       /* on integers, on bool: UN_*; bools UN_NONE is an error */
} uninfo[DM_UN_COUNT] = {
    [DM_UN_NEG] = { "neg", UK(u_neg), u_neg_i_v, 0, 0, UN_INT, UN_NONE },
    [DM_UN_EXP] = { "exp", UK(u_exp), NULL, 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_LOG] = { "log", UK(u_log), NULL, 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SQRT] = { "sqrt", UK(u_sqrt), NULL, 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_ABS] = { "abs", UK(u_abs), u_abs_i_v, 1, 0, UN_INT, UN_NONE },
    [DM_UN_SIGN] = { "sign", UK(u_sign), u_sign_i_v, 0, 0, UN_INT, UN_INT },
    [DM_UN_ROUND] = { "round", UK(u_round), NULL, 0, 0, UN_SAME, UN_NONE },
    [DM_UN_FLOOR] = { "floor", UK(u_floor), NULL, 0, 0, UN_SAME, UN_NONE },
    [DM_UN_CEIL] = { "ceil", UK(u_ceil), NULL, 0, 0, UN_SAME, UN_NONE },
    [DM_UN_TANH] = { "tanh", UK(u_tanh), NULL, 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_SIGMOID] = { "sigmoid", UK(u_sigmoid), NULL, 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_RELU] = { "relu", UK(u_relu), u_relu_i_v, 0, 1, UN_INT, UN_NONE },
    [DM_UN_RECIPROCAL] = { "reciprocal", UK(u_reciprocal), NULL, 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_SIN] = { "sin", UK(u_sin), NULL, 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_COS] = { "cos", UK(u_cos), NULL, 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SELU] = { "selu", UK(u_selu), NULL, 1, 0, UN_NONE, UN_NONE },
    [DM_UN_GELU] = { "gelu", UK(u_gelu), NULL, 1, 0, UN_NONE, UN_NONE },
    [DM_UN_SQUARE] = { "square", UK(u_square), u_square_i_v, 1, 0, UN_INT, UN_INT },
    [DM_UN_LOG1P] = { "log1p", UK(u_log1p), NULL, 1, 0, UN_FLOAT, UN_FLOAT },
};

static void row_unary(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    uninfo[c->which].kern(n, x, sx, o);
}
static void row_unary_d(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    uninfo[c->which].kd(n, x, sx, o);
}
static void row_unary_i(const rowctx *c, int64_t n, const void *x, int64_t sx, void *o)
{
    uninfo[c->which].ki(n, x, sx, o);
}

/* unary ops on integer and bool tensors, as PyTorch types them */
static dm_tensor *unary_int(dm_unop op, const dm_tensor *x)
{
    int kind = x->dtype == DM_BOOL ? uninfo[op].bools : uninfo[op].ints;
    if (kind == UN_NONE) {
        if (op == DM_UN_NEG)
            dm_seterr("neg: negation, the `-` operator, on a bool tensor is not supported; "
                      "to invert a mask, use logical_not()");
        else
            dm_seterr("%s: not implemented for %s tensors", uninfo[op].name,
                      dm_dtype_name(x->dtype));
        return NULL;
    }
    if (kind == UN_SAME) return dm_clone(x);
    dm_dtype ct = kind == UN_FLOAT ? DM_FLOAT32 : DM_INT64;
    dm_tensor *cx = dm_to_dtype(x, ct);
    if (!cx) return NULL;
    dm_tensor *out = kind == UN_FLOAT ? dm_unary(op, cx)
                   : map1(cx, &(rowctx){ .fn = row_unary_i, .which = (int)op });
    dm_tensor_release(cx);
    /* integer results keep the input's type; bool's square is int64, its sign bool */
    dm_dtype rt = op == DM_UN_SQUARE && x->dtype == DM_BOOL ? DM_INT64 : x->dtype;
    if (out && kind == UN_INT && rt != DM_INT64) {
        dm_tensor *r = dm_to_dtype(out, rt);
        dm_tensor_release(out);
        out = r;
    }
    return out;
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
    dm__device_of(x);
    rowctx c = { .fn = row_unary, .which = (int)op };
    if (x->dtype != DM_FLOAT32) {
        if (x->dtype != DM_FLOAT64) return unary_int(op, x);
        c.fn = row_unary_d;
    }
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

static dm_tensor *record_scalar(dm_tensor *out, const dm_tensor *x, dm_op op, int sub,
                                dm_params par, int save_out)
{
    if (!dm__needs_grad(1, &x)) return out;
    dm_node *nd = dm__record(op, sub, out, 1, &x);
    if (!nd || (save_out && !dm__save(nd, 0, out))) {
        dm_tensor_release(out);
        return NULL;
    }
    nd->par = par;
    return out;
}

/* a op s (s op a when reversed) for a floating a of a floating result: the float32 path
   (d = 0), and for float64 (d = 1) the same rows in double (s is then the double sd) */
static inline dm_tensor *scalar_floating(dm_binop op, const dm_tensor *a, double sd,
                                         int reversed, int d)
{
    float s = (float)sd;
    double sv = d ? sd : s;                        /* the scalar as the kernels see it */
    rowctx c = { .fn = d ? row_scalar_d : row_scalar, .s = s, .sd = sd };
    int k = d;
#define PICK(f) (d ? f##_d : f)
    dm_tensor *out;
    switch (op) {
    case DM_BIN_ADD:                                   /* x + s = s + x */
        c.bk = bininfo[DM_BIN_ADD].vk[k];
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_ADD, (dm_params){ .scalar.s = sv }, 0);
    case DM_BIN_SUB:
        if (reversed) {                                /* s - x */
            c.bk = bininfo[DM_BIN_SUB].vk[k];
            c.reversed = 1;
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RSUBS, DM_BIN_SUB, (dm_params){ .scalar.s = sv }, 0);
        }
        c.bk = bininfo[DM_BIN_ADD].vk[k];              /* x - s = x + (-s), exactly */
        c.s = -s;
        c.sd = -sd;
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_SUB, (dm_params){ .scalar.s = -sv }, 0);
    case DM_BIN_MUL:
        c.bk = bininfo[DM_BIN_MUL].vk[k];
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_MUL, (dm_params){ .scalar.s = sv }, 0);
    case DM_BIN_DIV:
        if (reversed) {                                /* s / x */
            c.fn = PICK(row_rdiv);
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RDIVS, DM_BIN_DIV, (dm_params){ .scalar.s = sv }, 0);
        }
        c.bk = bininfo[DM_BIN_DIV].vk[k];              /* x / s, a true division */
        if (!(out = map1(a, &c))) return NULL;
        /* the node stands for the multiplier 1/s; the divisor itself goes with it */
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_DIV,
                             (dm_params){ .scalar = { .s = 1.0 / sv, .div = sv } }, 0);
    case DM_BIN_POW:
        if (reversed) {                                /* s ^ x */
            c.fn = PICK(row_rpows);
            if (!(out = map1(a, &c))) return NULL;
            return record_scalar(out, a, DM_OP_RPOWS, DM_BIN_POW, (dm_params){ .scalar.s = sv }, 1);
        }
        c.fn = PICK(row_pows);                         /* x ^ s */
        if (!(out = map1(a, &c))) return NULL;
        return record_scalar(out, a, DM_OP_POWS, DM_BIN_POW, (dm_params){ .scalar.s = sv }, 0);
    default:
        break;
    }
#undef PICK
    return NULL;
}

/* a op s for any a: s is the number the caller has, integral (si) or floating (sd) */
static dm_tensor *binary_scalar_any(dm_binop op, const dm_tensor *a, double sd, int64_t si,
                                    int is_int, int reversed)
{
    if ((unsigned)op >= NBINOPS) {
        dm_seterr("binary: unknown op %d", (int)op);
        return NULL;
    }
    if (!a) {
        dm_seterr("%s: expected a tensor, got NULL", bininfo[op].name);
        return NULL;
    }
    dm_dtype st = scalar_type(is_int), rt = combine_types(a->dtype, st);
    if (check_types(op, reversed ? st : a->dtype, reversed ? a->dtype : st, rt,
                    !reversed && is_int && si < 0))
        return NULL;
    if (dm_is_floating(rt) && !IS_CMP(op) && op != DM_BIN_MAXIMUM && op != DM_BIN_MINIMUM) {
        double s = is_int ? (double)si : sd;
        int d = rt == DM_FLOAT64;
        if (a->dtype == rt) return scalar_floating(op, a, s, reversed, d);
        dm_tensor *fa = dm_to_dtype(a, rt);            /* an integer tensor, a float scalar */
        dm_tensor *out = fa ? scalar_floating(op, fa, s, reversed, d) : NULL;
        dm_tensor_release(fa);
        return out;
    }
    /* the rest through the tensor op with a 0-dim operand of the result type: integer
       results, comparisons (bool), and maximum/minimum (whose gradient rule shares ties) */
    /* the number in the result type (uint8 - 3 wraps as uint8 arithmetic does), but for a
       true division, which converts it to float32 as it is */
    dm_dtype sdt = op == DM_BIN_DIV && !dm_is_floating(rt) ? DM_FLOAT32 : rt;
    dm_tensor *s = is_int ? dm_tensor_full_i64(0, NULL, si, sdt)
                          : dm_tensor_full_dtype(0, NULL, sd, sdt);
    if (!s) return NULL;
    dm_tensor *ca, *cb;
    dm_tensor *out = reversed ? binary_any(op, s, a, rt, &ca, &cb)
                              : binary_any(op, a, s, rt, &ca, &cb);
    if (out && dm_is_floating(out->dtype)) out = record_binary(op, out, ca, cb);
    dm_tensor_release(ca);
    dm_tensor_release(cb);
    dm_tensor_release(s);
    return out;
}

dm_tensor *dm_binary_scalar(dm_binop op, const dm_tensor *a, float s, int reversed)
{
    dm__device_of(a);
    if (a && a->dtype == DM_FLOAT32 && (unsigned)op < DM_BIN_EQ)
        return scalar_floating(op, a, s, reversed, 0);
    return binary_scalar_any(op, a, s, 0, 0, reversed);
}

dm_tensor *dm_binary_scalar_f64(dm_binop op, const dm_tensor *a, double s, int reversed)
{
    dm__device_of(a);
    if (a && a->dtype == DM_FLOAT32 && (unsigned)op < DM_BIN_EQ)
        return scalar_floating(op, a, (float)s, reversed, 0);
    return binary_scalar_any(op, a, s, 0, 0, reversed);
}

dm_tensor *dm_binary_scalar_i64(dm_binop op, const dm_tensor *a, int64_t s, int reversed)
{
    dm__device_of(a);
    if (a && a->dtype == DM_FLOAT32 && (unsigned)op < DM_BIN_EQ)
        return scalar_floating(op, a, (float)s, reversed, 0);
    return binary_scalar_any(op, a, (double)s, s, 1, reversed);
}

/* ---- clamp, leaky_relu, elu ------------------------------------------------------------- */

/* min(max(x, lo), hi) as std::min/std::max compute it: NaN x stays NaN, lo > hi gives hi */
ROW_FLOATS(row_clamp,
    if (isnan(hi))      ROWLOOP_T(__typeof__(s), o[i] = v < lo ? lo : v;);
    else if (isnan(lo)) ROWLOOP_T(__typeof__(s), o[i] = hi < v ? hi : v;);
    else ROWLOOP_T(__typeof__(s), const __typeof__(s) w = v < lo ? lo : v; o[i] = hi < w ? hi : w;);)

ROW_FLOATS(row_leaky,
    ROWLOOP_T(__typeof__(s), const __typeof__(s) vs = v * s; o[i] = v > 0 ? v : vs;);)

ROW_FLOATS(row_elu, ROWLOOP_T(__typeof__(s), o[i] = v <= 0 ? (exp(v) - 1) * s : v;);)

/* x of a floating type: f over it with the parameters (s, lo, hi); other types an error */
static dm_tensor *map_param(const char *fn, const dm_tensor *x, rowfn f32, rowfn f64,
                            double s, double lo, double hi)
{
    if (!x) { dm_seterr("%s: expected a tensor, got NULL", fn); return NULL; }
    dm__device_of(x);
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: not implemented for %s tensors", fn, dm_dtype_name(x->dtype));
        return NULL;
    }
    rowctx c = { .fn = x->dtype == DM_FLOAT32 ? f32 : f64, .s = (float)s, .lo = (float)lo,
                 .hi = (float)hi, .sd = s, .lod = lo, .hid = hi };
    return map1(x, &c);
}

dm_tensor *dm_clamp_ex(const dm_tensor *x, double lo, double hi, int int_bounds)
{
    if (!x) { dm_seterr("clamp: expected a tensor, got NULL"); return NULL; }
    dm__device_of(x);
    if (isnan(lo) && isnan(hi)) {
        dm_seterr("clamp: at least one of min and max must be given");
        return NULL;
    }
    dm_dtype rt = combine_types(x->dtype, scalar_type(int_bounds));
    if (!dm_is_floating(rt)) {                     /* integers: exact, through max/min */
        dm_tensor *t = isnan(lo) ? dm_tensor_retain((dm_tensor *)x)
                     : dm_binary_scalar_i64(DM_BIN_MAXIMUM, x, (int64_t)lo, 0);
        dm_tensor *r = t && !isnan(hi) ? dm_binary_scalar_i64(DM_BIN_MINIMUM, t, (int64_t)hi, 0)
                     : dm_tensor_retain(t);
        dm_tensor_release(t);
        return r;
    }
    if (x->dtype != rt) {                          /* integers with a float bound */
        dm_tensor *fx = dm_to_dtype(x, rt);
        dm_tensor *out = fx ? dm_clamp_ex(fx, lo, hi, 0) : NULL;
        dm_tensor_release(fx);
        return out;
    }
    dm_tensor *out = map_param("clamp", x, row_clamp, row_clamp_d, 0, lo, hi);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_CLAMP, 0, (dm_params){ .clamp = { lo, hi } }, 0);
}

dm_tensor *dm_clamp(const dm_tensor *x, double lo, double hi)
{
    return dm_clamp_ex(x, lo, hi, 0);
}

dm_tensor *dm_leaky_relu(const dm_tensor *x, double slope)
{
    dm_tensor *out = map_param("leaky_relu", x, row_leaky, row_leaky_d, slope, 0, 0);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_LEAKY_RELU, 0, (dm_params){ .slope = slope }, 0);
}

dm_tensor *dm_elu(const dm_tensor *x, double alpha)
{
    dm_tensor *out = map_param("elu", x, row_elu, row_elu_d, alpha, 0, 0);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_ELU, 0, (dm_params){ .alpha = alpha }, 0);
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

/* o[i] = c[i] ? a[i] : b[i] over rows of the plan, elements of type T */
#define WHERE_ROWS(T) do {                                                                  \
        T *o = dm__ptr(out);                                                                \
        for (int64_t done = 0; done < n; done += len) {                                     \
            const uint8_t *cp = plan_ptr(&p, 0);                                            \
            const T *ap = plan_ptr(&p, 1), *bp = plan_ptr(&p, 2);                           \
            for (int64_t i = 0; i < len; i++)                                               \
                o[done + i] = cp[i * sc] ? ap[i * sa] : bp[i * sb];                         \
            plan_next_row(&p);                                                              \
        }                                                                                   \
    } while (0)

dm_tensor *dm_where(const dm_tensor *cond, const dm_tensor *a0, const dm_tensor *b0)
{
    if (!cond || !a0 || !b0) {
        dm_seterr("where: expected three tensors, got NULL");
        return NULL;
    }
    if (dm__same_device("where", 3, (const dm_tensor *[]){ cond, a0, b0 }) < 0) return NULL;
    int64_t shape[DM_MAX_DIMS];
    int nd = broadcast3("where", cond, a0, b0, shape);
    if (nd < 0) return NULL;
    if (cond->dtype != DM_BOOL) {
        dm_seterr("where: expected a bool condition, got %s", dm_dtype_name(cond->dtype));
        return NULL;
    }
    dm_dtype rt = result_type2(a0, b0);
    dm_tensor *a = dm_to_dtype(a0, rt), *b = a ? dm_to_dtype(b0, rt) : NULL;
    dm_tensor *out = b ? dm_tensor_new_dtype(nd, shape, rt) : NULL;
    int64_t n = out ? dm__numel(out) : 0;
    if (n > 0) {
        const dm_tensor *ts[3] = { cond, a, b };
        plan p;
        plan_init(&p, 3, ts, nd, shape);
        int64_t len = plan_row_len(&p);
        // cond, a, b are rows of len elements with strides sc, sa, sb
        int64_t sc = plan_row_stride(&p, 0), sa = plan_row_stride(&p, 1),
                sb = plan_row_stride(&p, 2);
        switch (dm__esize(rt)) {
        case 4: WHERE_ROWS(float); break;
        case 8: WHERE_ROWS(int64_t); break;        /* float64 moves as its 8 bytes */
        default: WHERE_ROWS(uint8_t); break;
        }
    }
    if (out && dm__needs_grad(2, (const dm_tensor *const[]){ a, b })) {
        /* cond carries no gradient: keep it as a saved tensor, not an input */
        dm_node *node = dm__record(DM_OP_WHERE, 0, out, 2, (const dm_tensor *const[]){ a, b });
        if (!node || !dm__save(node, 0, cond)) {
            dm_tensor_release(out);
            out = NULL;
        }
    }
    dm_tensor_release(a);
    dm_tensor_release(b);
    return out;
}

/* ---- backward rules ---------------------------------------------------------------------
 * What the nodes hold:
 *   ADD SUB MUL DIV POW MAXIMUM MINIMUM   in {a, b}, sub = dm_binop; POW: saved[0] = output
 *   ADDS     par.scalar.s = the value added (s, or -s for x - s; sub DM_BIN_SUB: SubBackward0)
 *   MULS     par.scalar.s = the multiplier (s, or 1/s for x / s with sub DM_BIN_DIV),
 *            par.scalar.div = s for x / s
 *   RSUBS RDIVS POWS RPOWS   par.scalar.s = s; RPOWS: saved[0] = output
 *   UNARY    sub = dm_unop; saved[0] = output for exp sqrt tanh sigmoid relu reciprocal
 *   CLAMP    par.clamp.lo, .hi (NaN = none); LEAKY_RELU par.slope; ELU par.alpha
 *   WHERE    in {a, b}; saved[0] = cond (never differentiated) */

static int wants_grad(const dm_node *n, int k)
{
    return k < n->ninputs && n->in[k] && n->in[k]->requires_grad;
}

/* t's values as a contiguous buffer: t's own when contiguous, else a copy kept in *hold
   (release it after use) */
static const void *contig_any(const dm_tensor *t, dm_tensor **hold)
{
    *hold = NULL;
    if (dm__is_contig(t)) return dm__ptr(t);
    if (!(*hold = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype))) return NULL;
    dm_to_buffer_dtype(t, dm__ptr(*hold), t->dtype);
    return dm__ptr(*hold);
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

/* the gradient passed through unchanged, in x's dtype (a new reference) */
static dm_tensor *pass(const dm_tensor *g, const dm_tensor *x) { return dm_to_dtype(g, x->dtype); }

/* The rules below that loop over elements are written once over the element type T and
 * instantiated for float32 (name_f) and float64 (name_d).  gout has the output's dtype,
 * which is the inputs' (the node records the inputs converted to the compute type), so one
 * T serves gout, the inputs and the gradients; the engine casts what flows into a node to
 * its output's dtype, and a direct caller passes it so too (see dm_backward_fn). */

/* call name_f or name_d, by gout's dtype (the node's floating type) */
#define BW_PICK(name, gout, ...) \
    ((gout)->dtype == DM_FLOAT64 ? name##_d(__VA_ARGS__) : name##_f(__VA_ARGS__))

/* pow, maximum and minimum: one pass over the output computing both full gradients */
#define BW_BINARY_LOOP(name, T)                                                             \
static int name(dm_node *n, const dm_tensor *gout, int need_a, int need_b,                 \
                dm_tensor **ga_out, dm_tensor **gb_out)                                    \
{                                                                                           \
    const dm_tensor *a = n->in[0], *b = n->in[1];                                           \
    dm_tensor *ga = need_a ? dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype) : NULL; \
    dm_tensor *gb = need_b ? dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype) : NULL; \
    if ((need_a && !ga) || (need_b && !gb)) {                                               \
        dm_tensor_release(ga); dm_tensor_release(gb);                                       \
        return -1;                                                                          \
    }                                                                                       \
    int64_t total = dm__numel(gout);                                                        \
    const T *g = dm__ptr(gout);                                                             \
    const T *y = n->saved[0] ? dm__ptr(n->saved[0]) : NULL;   /* pow's output */            \
    T *oa = ga ? dm__ptr(ga) : NULL, *ob = gb ? dm__ptr(gb) : NULL;                          \
    if (total > 0) {                                                                        \
        const dm_tensor *ts[2] = { a, b };                                                  \
        plan p;                                                                             \
        plan_init(&p, 2, ts, gout->ndim, gout->shape);                                      \
        int64_t len = plan_row_len(&p), sa = plan_row_stride(&p, 0),                        \
                sb = plan_row_stride(&p, 1);                                                \
        for (int64_t done = 0; done < total; done += len) {                                 \
            const T *ap = plan_ptr(&p, 0), *bp = plan_ptr(&p, 1);                           \
            for (int64_t i = 0; i < len; i++) {                                             \
                T x = ap[i * sa], e = bp[i * sb], gg = g[done + i], da = 0, db = 0;         \
                switch (n->op) {                                                            \
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
            plan_next_row(&p);                                                              \
        }                                                                                   \
    }                                                                                       \
    *ga_out = ga;                                                                           \
    *gb_out = gb;                                                                           \
    return 0;                                                                               \
}
BW_BINARY_LOOP(bw_binary_loop_f, float)
BW_BINARY_LOOP(bw_binary_loop_d, double)

int dm__bw_binary(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int need_a = wants_grad(n, 0), need_b = wants_grad(n, 1);
    const dm_tensor *a = n->in[0], *b = n->in[1];
    dm_tensor *ga = NULL, *gb = NULL;
    switch (n->op) {
    case DM_OP_ADD:
        if (need_a) ga = pass(gout, a);
        if (need_b) gb = pass(gout, b);
        break;
    case DM_OP_SUB:
        if (need_a) ga = pass(gout, a);
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
        if (BW_PICK(bw_binary_loop, gout, n, gout, need_a, need_b, &ga, &gb)) return -1;
        break;
    default:
        dm_seterr("backward: binary rule called for %s", dm__node_name(n));
        return -1;
    }
    return finish2(n, ga, gb, need_a, need_b, gin);
}

/* gx = rule(g, x) elementwise over x's shape; x may be non-contiguous */
#define BW_SCALAR(name, T)                                                                  \
static int name(dm_node *n, const dm_tensor *gout, dm_tensor **gin)                        \
{                                                                                           \
    const dm_tensor *x = n->in[0];                                                          \
    dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype);              \
    if (!gx) return -1;                                                                     \
    int64_t m = dm__numel(gout);                                                            \
    const T *g = dm__ptr(gout);                                                             \
    T *restrict o = dm__ptr(gx);                                                            \
    const T s = (T)n->par.scalar.s;                                                         \
    dm_tensor *hold = NULL;                                                                 \
    const T *xv = NULL;                                                                     \
    if (n->op == DM_OP_RDIVS || n->op == DM_OP_POWS ||                                      \
        (n->op == DM_OP_RPOWS && s == 0)) {                                                 \
        xv = contig_any(x, &hold);                                                          \
        if (!xv) { dm_tensor_release(gx); return -1; }                                      \
    }                                                                                       \
    switch (n->op) {                                                                        \
    case DM_OP_MULS:                                                                        \
        if (n->sub == DM_BIN_DIV) {                /* x / s: g / s */                       \
            const T d = (T)n->par.scalar.div;                                               \
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
            T *t = o;                              /* x^(s-1) first, in place */            \
            POW_SCALAR(m, xv, 1, (T)(n->par.scalar.s - 1.0), t);                            \
            VLOOP(m, o[i] = g[i] * (s * t[i]););                                            \
        }                                                                                   \
        break;                                                                              \
    case DM_OP_RPOWS: {                            /* s ^ x: g * (y * log s); 0 at s = 0, x >= 0 */ \
        const T *y = dm__ptr(n->saved[0]);                                                  \
        const T ls = (T)log(n->par.scalar.s);                                               \
        if (s == 0) {                                                                       \
            VLOOP(m, o[i] = g[i] * (xv[i] >= 0 ? 0 : y[i] * ls););                          \
        } else {                                                                            \
            VLOOP(m, o[i] = g[i] * (y[i] * ls););                                           \
        }                                                                                   \
        break;                                                                              \
    }                                                                                       \
    default:                                                                                \
        dm_tensor_release(hold);                                                            \
        dm_tensor_release(gx);                                                              \
        dm_seterr("backward: scalar rule called for %s", dm__node_name(n));                 \
        return -1;                                                                          \
    }                                                                                       \
    dm_tensor_release(hold);                                                                \
    gin[0] = gx;                                                                            \
    return 0;                                                                               \
}
BW_SCALAR(bw_scalar_f, float)
BW_SCALAR(bw_scalar_d, double)

int dm__bw_scalar(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                 dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    if (n->op == DM_OP_ADDS) {                     /* x + s, x - s */
        gin[0] = pass(gout, n->in[0]);
        return gin[0] ? 0 : -1;
    }
    return BW_PICK(bw_scalar, gout, n, gout, gin);
}

#define BW_UNARY(name, T)                                                                   \
DM_AVX_CLONES                                                                               \
static int name(dm_node *n, const dm_tensor *gout, dm_tensor **gin)                        \
{                                                                                           \
    const dm_tensor *xt = n->in[0];                                                         \
    dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype);              \
    if (!gx) return -1;                                                                     \
    int64_t m = dm__numel(gout);                                                            \
    const T *g = dm__ptr(gout);                                                             \
    T *restrict o = dm__ptr(gx);                                                            \
    dm_tensor *hold = NULL;                                                                 \
    const T *x = NULL, *y = NULL;                                                           \
    if (uninfo[n->sub].need_x && !(x = contig_any(xt, &hold))) {                            \
        dm_tensor_release(gx);                                                              \
        return -1;                                                                          \
    }                                                                                       \
    if (uninfo[n->sub].need_y) y = dm__ptr(n->saved[0]);                                    \
    /* g, x, y, o are all [m], row-major in x's shape */                                    \
    switch ((dm_unop)n->sub) {                                                              \
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
            o[i] = x[i] <= 0 ? g[i] * (KT(x[i], SELU_ALPHA) * KT(x[i], SELU_SCALE)) * exp(x[i]) \
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
    case DM_UN_COUNT:                                                                       \
        break;                                                                              \
    }                                                                                       \
    dm_tensor_release(hold);                                                                \
    gin[0] = gx;                                                                            \
    return 0;                                                                               \
}
BW_UNARY(bw_unary_f, float)
BW_UNARY(bw_unary_d, double)

int dm__bw_unary(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                 dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    if (n->sub < 0 || n->sub >= DM_UN_COUNT) {
        dm_seterr("backward: unknown unary op %d", n->sub);
        return -1;
    }
    return BW_PICK(bw_unary, gout, n, gout, gin);
}

/* clamp, leaky_relu, elu: o = rule(g, x) with the node's parameters p0, p1 in T, each op's
   read from its own record by its accessor */
typedef struct { double p0, p1; } param2;
static inline param2 clamp_param(const dm_node *n)
{
    return (param2){ n->par.clamp.lo, n->par.clamp.hi };
}
static inline param2 leaky_relu_param(const dm_node *n) { return (param2){ n->par.slope, 0 }; }
static inline param2 elu_param(const dm_node *n) { return (param2){ n->par.alpha, 0 }; }
#define BW_PARAM(name, T, PARAM, ...)                                                       \
static int name(dm_node *n, const dm_tensor *gout, dm_tensor **gin)                        \
{                                                                                           \
    dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype), *hold;       \
    const T *x = gx ? contig_any(n->in[0], &hold) : NULL;                                   \
    if (!x) { dm_tensor_release(gx); return -1; }                                           \
    int64_t m = dm__numel(gout);                                                            \
    const T *g = dm__ptr(gout);                                                             \
    T *restrict o = dm__ptr(gx);                                                            \
    const param2 pp = PARAM(n);                                                             \
    const T p0 = (T)pp.p0, p1 = (T)pp.p1;                                                   \
    (void)p1;                                                                               \
    __VA_ARGS__                                                                             \
    dm_tensor_release(hold);                                                                \
    gin[0] = gx;                                                                            \
    return 0;                                                                               \
}
#define BW_PARAM_BOTH(name, PARAM, ...) \
    BW_PARAM(name##_f, float, PARAM, __VA_ARGS__) BW_PARAM(name##_d, double, PARAM, __VA_ARGS__) \
    int dm__##name(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, \
                   dm_tensor **gin) \
    { \
        if (!wants_grad(n, 0)) return 0; \
        return BW_PICK(name, gout, n, gout, gin); \
    }

/* clamp: the gradient passes where lo <= x <= hi, bounds included (NaN x gets none) */
BW_PARAM_BOTH(bw_clamp, clamp_param,
    int has_lo = !isnan(p0), has_hi = !isnan(p1);
    for (int64_t i = 0; i < m; i++) {
        int in = (!has_lo || x[i] >= p0) && (!has_hi || x[i] <= p1);
        o[i] = in ? g[i] : 0;
    })
BW_PARAM_BOTH(bw_leaky_relu, leaky_relu_param,     /* p0 = slope */
    VLOOP(m, const __typeof__(p0) gi = g[i], gs = gi * p0; o[i] = x[i] > 0 ? gi : gs;);)
BW_PARAM_BOTH(bw_elu, elu_param,                   /* p0 = alpha */
    VLOOP(m, o[i] = x[i] <= 0 ? g[i] * p0 * exp(x[i]) : g[i];);)

#define BW_WHERE(name, T)                                                                   \
static void name(const dm_tensor *cond, const dm_tensor *gout, dm_tensor *ga, dm_tensor *gb) \
{                                                                                           \
    int64_t total = dm__numel(gout);                                                        \
    const T *g = dm__ptr(gout);                                                             \
    T *oa = ga ? dm__ptr(ga) : NULL, *ob = gb ? dm__ptr(gb) : NULL;                          \
    plan p;                                                                                 \
    plan_init(&p, 1, &cond, gout->ndim, gout->shape);                                       \
    int64_t len = plan_row_len(&p), sc = plan_row_stride(&p, 0);                            \
    for (int64_t done = 0; done < total; done += len) {                                     \
        const uint8_t *cp = plan_ptr(&p, 0);                                                \
        for (int64_t i = 0; i < len; i++) {                                                 \
            int c = cp[i * sc] != 0;                                                        \
            if (oa) oa[done + i] = c ? g[done + i] : 0;                                     \
            if (ob) ob[done + i] = c ? 0 : g[done + i];                                     \
        }                                                                                   \
        plan_next_row(&p);                                                                  \
    }                                                                                       \
}
BW_WHERE(bw_where_f, float)
BW_WHERE(bw_where_d, double)

int dm__bw_where(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int need_a = wants_grad(n, 0), need_b = wants_grad(n, 1);
    if (!need_a && !need_b) return 0;
    const dm_tensor *cond = n->saved[0], *g = gout;
    dm_tensor *ga = need_a ? dm_tensor_new_dtype(g->ndim, g->shape, g->dtype) : NULL;
    dm_tensor *gb = need_b ? dm_tensor_new_dtype(g->ndim, g->shape, g->dtype) : NULL;
    if (dm__numel(g) > 0 && (!need_a || ga) && (!need_b || gb))
        BW_PICK(bw_where, g, cond, g, ga, gb);
    return finish2(n, ga, gb, need_a, need_b, gin);
}
