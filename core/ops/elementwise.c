/* elementwise.c -- broadcasting binary ops, tensor-scalar ops, unary maths and activations,
 * clamp and where, with their backward rules.
 *
 * An op here checks its arguments, finds the result's dtype and shape, converts the operands
 * to the type it computes in, calls its device's kernel (backend.h: the vectorised loops of
 * backend/cpu/elementwise.c, the naive ones of backend/ref/elementwise.c) and records the
 * autograd node.  The backward rules below are written with ops or the table's backward
 * kernels (backend/cpu/elementwise_bw.c, backend/ref/elementwise.c).
 *
 * Dtypes.  Two float32 operands take the float32 path after one dtype compare; anything else
 * finds the result type (torch.result_type), converts the operands to the type it computes in
 * (float32, float64, int64: uint8 and bool arithmetic in int64, integer division in float32),
 * runs the kernel and converts back where needed.  Numerics follow PyTorch 1.13's CPU kernels
 * (see the kernels' files for the quirks). */
#include "internal.h"
#include "backend.h"
#include "walk.h"
#include "loops.h"
#include <float.h>
#include <tgmath.h>   /* exp, log, pow ... pick the float or double function by type */
/* the backward rules' loops: O3 and AVX clones as the cpu kernels (loops.h) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* the kernels of the current device: the op's inputs' (dm__same_device, dm__device_of) */
#define K (dm__kernels(dm__cur_device))

#define NBINOPS (DM_BIN_MINIMUM + 1)
#define IS_CMP(op) ((op) >= DM_BIN_EQ && (op) <= DM_BIN_GE)

static const struct {
    const char *name;
    dm_op op;               /* DM_OP_NONE: a comparison, no gradient */
} bininfo[NBINOPS] = {
    [DM_BIN_ADD] = { "add", DM_OP_ADD },
    [DM_BIN_SUB] = { "sub", DM_OP_SUB },
    [DM_BIN_MUL] = { "mul", DM_OP_MUL },
    [DM_BIN_DIV] = { "div", DM_OP_DIV },
    [DM_BIN_POW] = { "pow", DM_OP_POW },
    [DM_BIN_EQ] = { "eq", DM_OP_NONE },
    [DM_BIN_NE] = { "ne", DM_OP_NONE },
    [DM_BIN_LT] = { "lt", DM_OP_NONE },
    [DM_BIN_LE] = { "le", DM_OP_NONE },
    [DM_BIN_GT] = { "gt", DM_OP_NONE },
    [DM_BIN_GE] = { "ge", DM_OP_NONE },
    [DM_BIN_MAXIMUM] = { "maximum", DM_OP_MAXIMUM },
    [DM_BIN_MINIMUM] = { "minimum", DM_OP_MINIMUM },
};

/* out (dtype odt) = a op b, a and b of the compute type; no autograd */
static dm_tensor *binary_forward(const char *fn, dm_binop op, const dm_tensor *a,
                                 const dm_tensor *b, dm_dtype odt)
{
    int64_t shape[DM_MAX_DIMS];
    int nd = dm__broadcast_shape(fn, a, b, shape);
    if (nd < 0) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, shape, odt);
    if (out && dm__numel(out)) K->binary(op, out, a, b);
    return out;
}

/* ---- type promotion (torch.result_type) ------------------------------------------------ */

/* the type of hi (a tensor with dims, or a 0-dim one against a Lua number) meeting lo (a
   0-dim tensor or a number): lo promotes hi only from a higher category (bool < integer <
   floating), or when hi is bool */
dm_dtype dm__combine_types(dm_dtype hi, dm_dtype lo)
{
    if (dm_is_floating(hi)) return hi;
    if (hi == DM_BOOL || dm_is_floating(lo)) return dm_promote_types(hi, lo);
    return hi;
}

/* torch.result_type of two tensors: a 0-dim one against one with dims counts only through
   dm__combine_types (elementwise.c, bitwise.c, bmath.c) */
dm_dtype dm__result_type2(const dm_tensor *a, const dm_tensor *b)
{
    if ((a->ndim == 0) == (b->ndim == 0)) return dm_promote_types(a->dtype, b->dtype);
    return a->ndim ? dm__combine_types(a->dtype, b->dtype)
                   : dm__combine_types(b->dtype, a->dtype);
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

/* a op b for any dtypes, rt their promoted type: the inputs converted to the compute type
   (differentiably, between floating types) are left in *ca, *cb for the caller to record
   with and release */
static dm_tensor *binary_any(dm_binop op, const dm_tensor *a, const dm_tensor *b, dm_dtype rt,
                             dm_tensor **ca, dm_tensor **cb)
{
    *ca = *cb = NULL;
    dm_dtype ct = compute_type(op, rt);
    if (rt == DM_UINT8 && ct != DM_UINT8 && op != DM_BIN_DIV) {
        /* a uint8 result type: both operands in uint8 first, as PyTorch casts them to the
           common dtype (a 0-dim int64 -1 compares and combines as 255); a true division
           takes the values as they are */
        dm_tensor *a8 = a->dtype == DM_UINT8 ? NULL : dm_to_dtype(a, DM_UINT8);
        dm_tensor *b8 = b->dtype == DM_UINT8 ? NULL : dm_to_dtype(b, DM_UINT8);
        if ((a->dtype == DM_UINT8 || a8) && (b->dtype == DM_UINT8 || b8)) {
            *ca = dm_to_dtype(a8 ? a8 : a, ct);
            *cb = *ca ? dm_to_dtype(b8 ? b8 : b, ct) : NULL;
        }
        dm_tensor_release(a8);
        dm_tensor_release(b8);
        if (!*ca || !*cb) return NULL;
    } else if (!(*ca = dm_to_dtype(a, ct)) || !(*cb = dm_to_dtype(b, ct))) {
        return NULL;
    }
    int cmp = IS_CMP(op);
    dm_tensor *out = binary_forward(bininfo[op].name, op, *ca, *cb, cmp ? DM_BOOL : ct);
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
    dm_dtype rt = dm__result_type2(a, b);
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
    if ((a->dtype | b->dtype) != DM_FLOAT32 || IS_CMP(op))  /* DM_FLOAT32 is 0 */
        return binary_other(op, a, b);
    dm_tensor *out;
    if (dm__same_shape(a, b) && dm__is_contig(a) && dm__is_contig(b)) {
        /* the common case, without the broadcasting machinery: same shape, contiguous */
        int64_t n = dm__numel(a);
        out = dm__tensor_new_checked(a->ndim, a->shape, n);
        if (!out) return NULL;
        if (n) K->binary_f32[op](n, dm__data(a), 1, dm__data(b), 1, dm__data(out));
    } else {
        out = binary_forward(bininfo[op].name, op, a, b, DM_FLOAT32);
        if (!out) return NULL;
    }
    return record_binary(op, out, a, b);
}

dm_tensor *dm_add(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_ADD, a, b); }
dm_tensor *dm_sub(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_SUB, a, b); }
dm_tensor *dm_mul(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_MUL, a, b); }
dm_tensor *dm_div(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_DIV, a, b); }
dm_tensor *dm_pow(const dm_tensor *a, const dm_tensor *b) { return dm_binary(DM_BIN_POW, a, b); }


/* ---- one-input maps --------------------------------------------------------------------- */

/* a new contiguous tensor of x's shape and dtype */
static dm_tensor *new_like(const dm_tensor *x)
{
    return dm__tensor_new_checked_dt(x->ndim, x->shape, dm__numel(x), x->dtype);
}

/* what an op does on integer and bool inputs */
enum { UN_FLOAT,            /* a float function: computed in float32 */
       UN_INT,              /* integer in, the same integer type out (the int64 kernel) */
       UN_SAME,             /* round, floor, ceil: the input itself (a copy) */
       UN_NONE };           /* floating types only (selu, gelu) */

static const struct {
    const char *name;
    char need_x, need_y;    /* what the backward rule reads: the input, the output */
    char ints, bools;       /* on integers, on bool: UN_*; bools UN_NONE is an error */
} uninfo[DM_UN_COUNT] = {
    [DM_UN_NEG] = { "neg", 0, 0, UN_INT, UN_NONE },
    [DM_UN_EXP] = { "exp", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_LOG] = { "log", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SQRT] = { "sqrt", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_ABS] = { "abs", 1, 0, UN_INT, UN_NONE },
    [DM_UN_SIGN] = { "sign", 0, 0, UN_INT, UN_INT },
    [DM_UN_ROUND] = { "round", 0, 0, UN_SAME, UN_NONE },
    [DM_UN_FLOOR] = { "floor", 0, 0, UN_SAME, UN_NONE },
    [DM_UN_CEIL] = { "ceil", 0, 0, UN_SAME, UN_NONE },
    [DM_UN_TANH] = { "tanh", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_SIGMOID] = { "sigmoid", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_RELU] = { "relu", 0, 1, UN_INT, UN_NONE },
    [DM_UN_RECIPROCAL] = { "reciprocal", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_SIN] = { "sin", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_COS] = { "cos", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SELU] = { "selu", 1, 0, UN_NONE, UN_NONE },
    [DM_UN_GELU] = { "gelu", 1, 0, UN_NONE, UN_NONE },
    [DM_UN_SQUARE] = { "square", 1, 0, UN_INT, UN_INT },
    [DM_UN_LOG1P] = { "log1p", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_TRUNC] = { "trunc", 0, 0, UN_SAME, UN_NONE },
    [DM_UN_FRAC] = { "frac", 0, 0, UN_NONE, UN_NONE },      /* torch: not for integers */
    [DM_UN_EXPM1] = { "expm1", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_LOG2] = { "log2", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_LOG10] = { "log10", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_EXP2] = { "exp2", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_RSQRT] = { "rsqrt", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_TAN] = { "tan", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_ASIN] = { "asin", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ACOS] = { "acos", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ATAN] = { "atan", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SINH] = { "sinh", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_COSH] = { "cosh", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ASINH] = { "asinh", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ACOSH] = { "acosh", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ATANH] = { "atanh", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ERF] = { "erf", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ERFC] = { "erfc", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_DEG2RAD] = { "deg2rad", 0, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_RAD2DEG] = { "rad2deg", 0, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SGN] = { "sgn", 0, 0, UN_INT, UN_INT },
    [DM_UN_LGAMMA] = { "lgamma", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_DIGAMMA] = { "digamma", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_ERFINV] = { "erfinv", 0, 1, UN_FLOAT, UN_FLOAT },
    [DM_UN_LOGIT] = { "logit", 1, 0, UN_FLOAT, UN_FLOAT },
    [DM_UN_SINC] = { "sinc", 1, 0, UN_FLOAT, UN_FLOAT },
};

/* f(x) through the device's unary kernel (x float32, float64, or int64 for UN_INT ops) */
static dm_tensor *unary_kernel(dm_unop op, const dm_tensor *x)
{
    dm_tensor *out = new_like(x);
    if (out && dm__numel(out)) K->unary(op, out, x);
    return out;
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
                   : unary_kernel(op, cx);
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
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) return unary_int(op, x);
    dm_tensor *out = unary_kernel(op, x);
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

/* out = x op s through the device's scalar kernel */
static dm_tensor *scalar_kernel(dm_scalar_kind k, const dm_tensor *x, double s)
{
    dm_tensor *out = new_like(x);
    if (out && dm__numel(out)) K->scalar(k, out, x, s);
    return out;
}

/* a op s (s op a when reversed) for a floating a of a floating result: float32 (d = 0, s
   rounded to float as the kernels see it) or float64 (d = 1) */
static inline dm_tensor *scalar_floating(dm_binop op, const dm_tensor *a, double sd,
                                         int reversed, int d)
{
    double sv = d ? sd : (float)sd;                /* the scalar as the kernels see it */
    dm_tensor *out;
    switch (op) {
    case DM_BIN_ADD:                                   /* x + s = s + x */
        if (!(out = scalar_kernel(DM_SC_ADD, a, sv))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_ADD, (dm_params){ .scalar.s = sv }, 0);
    case DM_BIN_SUB:
        if (reversed) {                                /* s - x */
            if (!(out = scalar_kernel(DM_SC_RSUB, a, sv))) return NULL;
            return record_scalar(out, a, DM_OP_RSUBS, DM_BIN_SUB, (dm_params){ .scalar.s = sv }, 0);
        }
        /* x - s = x + (-s), exactly */
        if (!(out = scalar_kernel(DM_SC_ADD, a, -sv))) return NULL;
        return record_scalar(out, a, DM_OP_ADDS, DM_BIN_SUB, (dm_params){ .scalar.s = -sv }, 0);
    case DM_BIN_MUL:
        if (!(out = scalar_kernel(DM_SC_MUL, a, sv))) return NULL;
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_MUL, (dm_params){ .scalar.s = sv }, 0);
    case DM_BIN_DIV:
        if (reversed) {                                /* s / x */
            if (!(out = scalar_kernel(DM_SC_RDIV, a, sv))) return NULL;
            return record_scalar(out, a, DM_OP_RDIVS, DM_BIN_DIV, (dm_params){ .scalar.s = sv }, 0);
        }
        /* x / s, a true division */
        if (!(out = scalar_kernel(DM_SC_DIV, a, sv))) return NULL;
        /* the node stands for the multiplier 1/s; the divisor itself goes with it */
        return record_scalar(out, a, DM_OP_MULS, DM_BIN_DIV, (dm_params){ .scalar = { .s = 1.0 / sv, .div = sv } }, 0);
    case DM_BIN_POW:
        if (reversed) {                                /* s ^ x */
            if (!(out = scalar_kernel(DM_SC_RPOW, a, sv))) return NULL;
            return record_scalar(out, a, DM_OP_RPOWS, DM_BIN_POW, (dm_params){ .scalar.s = sv }, 1);
        }
        /* x ^ s */
        if (!(out = scalar_kernel(DM_SC_POW, a, sv))) return NULL;
        return record_scalar(out, a, DM_OP_POWS, DM_BIN_POW, (dm_params){ .scalar.s = sv }, 0);
    default:
        break;
    }
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
    dm_dtype st = scalar_type(is_int), rt = dm__combine_types(a->dtype, st);
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

/* x of a floating type: f over it with the parameters (s, lo, hi); other types an error */
static dm_tensor *map_param(const char *fn, const dm_tensor *x, dm_param_fn f, double p0,
                            double p1)
{
    if (!x) { dm_seterr("%s: expected a tensor, got NULL", fn); return NULL; }
    dm__device_of(x);
    if (x->dtype != DM_FLOAT32 && x->dtype != DM_FLOAT64) {
        dm_seterr("%s: not implemented for %s tensors", fn, dm_dtype_name(x->dtype));
        return NULL;
    }
    if (x->dtype == DM_FLOAT32) {          /* the parameters as the float kernels see them */
        p0 = (float)p0;
        p1 = (float)p1;
    }
    dm_tensor *out = new_like(x);
    if (out && dm__numel(out)) f(out, x, p0, p1);
    return out;
}

dm_tensor *dm_clamp_ex(const dm_tensor *x, double lo, double hi, int int_bounds)
{
    if (!x) { dm_seterr("clamp: expected a tensor, got NULL"); return NULL; }
    dm__device_of(x);
    if (isnan(lo) && isnan(hi)) {
        dm_seterr("clamp: at least one of min and max must be given");
        return NULL;
    }
    dm_dtype rt = dm__combine_types(x->dtype, scalar_type(int_bounds));
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
    dm_tensor *out = map_param("clamp", x, K->clamp, lo, hi);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_CLAMP, 0, (dm_params){ .clamp = { lo, hi } }, 0);
}

dm_tensor *dm_clamp(const dm_tensor *x, double lo, double hi)
{
    return dm_clamp_ex(x, lo, hi, 0);
}

dm_tensor *dm_leaky_relu(const dm_tensor *x, double slope)
{
    dm_tensor *out = map_param("leaky_relu", x, K->leaky_relu, slope, 0);
    if (!out) return NULL;
    return record_scalar(out, x, DM_OP_LEAKY_RELU, 0, (dm_params){ .slope = slope }, 0);
}

dm_tensor *dm_elu(const dm_tensor *x, double alpha)
{
    dm_tensor *out = map_param("elu", x, K->elu, alpha, 0);
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
    dm_dtype rt = dm__result_type2(a0, b0);
    dm_tensor *a = dm_to_dtype(a0, rt), *b = a ? dm_to_dtype(b0, rt) : NULL;
    dm_tensor *out = b ? dm_tensor_new_dtype(nd, shape, rt) : NULL;
    int64_t n = out ? dm__numel(out) : 0;
    if (n > 0) K->where(out, cond, a, b);
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

unsigned dm__unary_reads(int sub)
{
    if (sub < 0 || sub >= DM_UN_COUNT) return DM_READ_IN(0) | DM_READ_OUT;
    return (uninfo[sub].need_x ? DM_READ_IN(0) : 0u) | (uninfo[sub].need_y ? DM_READ_OUT : 0u);
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

/* The rules below that loop over elements call the device's backward kernels (backend.h),
 * in the node's floating type: gout has the output's dtype, which is the inputs' (the node
 * records the inputs converted to the compute type), so one type serves gout, the inputs and
 * the gradients; the engine casts what flows into a node to its output's dtype, and a direct
 * caller passes it so too (see dm_backward_fn). */

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
        /* one pass over the output computing both full gradients */
        if (need_a && !(ga = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype)))
            return -1;
        if (need_b && !(gb = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype))) {
            dm_tensor_release(ga);
            return -1;
        }
        K->binary_bw(gout->dtype, n->op, gout, a, b, n->saved[0], ga, gb);
        break;
    default:
        dm_seterr("backward: binary rule called for %s", dm__node_name(n));
        return -1;
    }
    return finish2(n, ga, gb, need_a, need_b, gin);
}

/* gx = rule(g, x) elementwise over x's shape; x may be non-contiguous */
int dm__bw_scalar(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                 dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    if (n->op == DM_OP_ADDS) {                     /* x + s, x - s */
        gin[0] = pass(gout, n->in[0]);
        return gin[0] ? 0 : -1;
    }
    if (n->op != DM_OP_MULS && n->op != DM_OP_RSUBS && n->op != DM_OP_RDIVS &&
        n->op != DM_OP_POWS && n->op != DM_OP_RPOWS) {
        dm_seterr("backward: scalar rule called for %s", dm__node_name(n));
        return -1;
    }
    const dm_tensor *x = n->in[0];
    dm_dtype dt = gout->dtype;
    dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, dt);
    if (!gx) return -1;
    int64_t m = dm__numel(gout);
    double s = n->par.scalar.s;
    /* the scalar as the kernels see it, in the node's type */
    double st = dt == DM_FLOAT32 ? (double)(float)s : s;
    dm_tensor *hold = NULL;
    const void *xv = NULL;
    if (n->op == DM_OP_RDIVS || (n->op == DM_OP_RPOWS && st == 0)) {
        xv = dm__contig_as(x, x->dtype, &hold);
        if (!xv) { dm_tensor_release(gx); return -1; }
    }
    if (n->op == DM_OP_POWS && st != 0 && m)     /* x^(s-1) first, into gx */
        K->scalar(DM_SC_POW, gx, x, dt == DM_FLOAT32 ? (double)(float)(s - 1.0) : s - 1.0);
    K->scalar_bw(dt, n->op, n->op == DM_OP_MULS && n->sub == DM_BIN_DIV, m, dm__ptr(gout), xv,
                 n->op == DM_OP_RPOWS ? dm__ptr(n->saved[0]) : NULL, s, n->par.scalar.div,
                 dm__ptr(gx));
    dm_tensor_release(hold);
    gin[0] = gx;
    return 0;
}

int dm__bw_unary(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                 dm_tensor **gin)
{
    if (!wants_grad(n, 0)) return 0;
    if (n->sub < 0 || n->sub >= DM_UN_COUNT) {
        dm_seterr("backward: unknown unary op %d", n->sub);
        return -1;
    }
    dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype);
    if (!gx) return -1;
    dm_tensor *hold = NULL;
    const void *x = NULL, *y = NULL;
    if (uninfo[n->sub].need_x && !(x = dm__contig_as(n->in[0], n->in[0]->dtype, &hold))) {
        dm_tensor_release(gx);
        return -1;
    }
    if (uninfo[n->sub].need_y) y = dm__ptr(n->saved[0]);
    /* g, x, y, gx are all [m], row-major in x's shape */
    K->unary_bw(gout->dtype, (dm_unop)n->sub, dm__numel(gout), dm__ptr(gout), x, y,
                dm__ptr(gx));
    if (n->sub == DM_UN_LOGIT && n->par.logit.has_eps) {
        /* logit with eps: 0 where eps clamped x (and at NaN), clamp's backward rule */
        dm_tensor *m = dm_tensor_new_dtype(gx->ndim, gx->shape, gx->dtype);
        if (m) K->param_bw(gx->dtype, DM_OP_CLAMP, dm__numel(gx), dm__ptr(gx), x,
                           n->par.logit.lo, n->par.logit.hi, dm__ptr(m));
        dm_tensor_release(gx);
        gx = m;
    }
    dm_tensor_release(hold);
    if (!gx) return -1;
    gin[0] = gx;
    return 0;
}

/* clamp, leaky_relu, elu: gx = rule(g, x) with the node's parameters p0, p1, each op's read
   from its own record by its accessor */
typedef struct { double p0, p1; } param2;
static inline param2 clamp_param(const dm_node *n)
{
    return (param2){ n->par.clamp.lo, n->par.clamp.hi };
}
static inline param2 leaky_relu_param(const dm_node *n) { return (param2){ n->par.slope, 0 }; }
static inline param2 elu_param(const dm_node *n) { return (param2){ n->par.alpha, 0 }; }
#define BW_PARAM(name, PARAM)                                                               \
    int dm__##name(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,        \
                   dm_tensor **gin)                                                         \
    {                                                                                       \
        if (!wants_grad(n, 0)) return 0;                                                    \
        dm_tensor *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, gout->dtype), *hold;   \
        const void *x = gx ? dm__contig_as(n->in[0], n->in[0]->dtype, &hold) : NULL;       \
        if (!x) { dm_tensor_release(gx); return -1; }                                       \
        const param2 pp = PARAM(n);                                                         \
        K->param_bw(gout->dtype, n->op, dm__numel(gout), dm__ptr(gout), x, pp.p0, pp.p1,    \
                    dm__ptr(gx));                                                           \
        dm_tensor_release(hold);                                                            \
        gin[0] = gx;                                                                        \
        return 0;                                                                           \
    }
BW_PARAM(bw_clamp, clamp_param)
BW_PARAM(bw_leaky_relu, leaky_relu_param)
BW_PARAM(bw_elu, elu_param)

int dm__bw_where(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    int need_a = wants_grad(n, 0), need_b = wants_grad(n, 1);
    if (!need_a && !need_b) return 0;
    const dm_tensor *cond = n->saved[0], *g = gout;
    dm_tensor *ga = need_a ? dm_tensor_new_dtype(g->ndim, g->shape, g->dtype) : NULL;
    dm_tensor *gb = need_b ? dm_tensor_new_dtype(g->ndim, g->shape, g->dtype) : NULL;
    if (dm__numel(g) > 0 && (!need_a || ga) && (!need_b || gb))
        K->where_bw(g->dtype, cond, g, ga, gb);
    return finish2(n, ga, gb, need_a, need_b, gin);
}

/* ---- the types of an in-place op (inplace.c) ------------------------------------------- */

int dm__binary_types(dm_binop op, const dm_tensor *t, const dm_tensor *o, int is_int, int neg,
                     dm_dtype *ct, dm_dtype *ot, dm_dtype *sdt, int *flt)
{
    if ((unsigned)op >= NBINOPS) return -1;
    dm_dtype st = o ? o->dtype : scalar_type(is_int);
    dm_dtype rt = o ? dm__result_type2(t, o) : dm__combine_types(t->dtype, st);
    if (check_types(op, t->dtype, st, rt, !o && is_int && neg)) return -1;
    *ct = compute_type(op, rt);
    *ot = IS_CMP(op) ? DM_BOOL : op == DM_BIN_DIV ? *ct : rt;
    /* a number: binary_scalar_any's two paths */
    *flt = !o && dm_is_floating(rt) && !IS_CMP(op) && op != DM_BIN_MAXIMUM &&
           op != DM_BIN_MINIMUM;
    *sdt = op == DM_BIN_DIV && !dm_is_floating(rt) ? DM_FLOAT32 : rt;
    return 0;
}

/* ---- add and sub with alpha: a op alpha * b (PyTorch's add/sub(Tensor, Tensor, alpha)) ----
 * alpha is checked against rt, the result's dtype (PyTorch's alpha_check): a boolean alpha
 * only for a bool result, a floating one only for a floating result; an integer alpha must
 * be within +-255 for a uint8 result (c10's checked conversion, negatives wrapping), a
 * finite one within float's range for a float32 result.  The
 * product is made in rt (b converted, then scaled by the number: integers wrap as rt's
 * arithmetic does) and added with the ordinary op, which records the gradients (b's through
 * the product); a float32 result's values are then made again rounded once, as PyTorch's
 * CPU kernel fuses a + alpha * b (one fma; fused_f32). */
int dm__alpha_check(const char *fn, dm_dtype rt, double alpha, int kind)
{
    if (kind == DM_ALPHA_BOOL && rt != DM_BOOL) {
        dm_seterr("%s: Boolean alpha only supported for Boolean results.", fn);
        return -1;
    }
    if (kind == DM_ALPHA_FLOAT && !dm_is_floating(rt)) {
        dm_seterr("%s: For integral input tensors, argument alpha must not be a floating point "
                  "number.", fn);
        return -1;
    }
    if (kind == DM_ALPHA_INT && rt == DM_UINT8 && !(alpha >= -255 && alpha <= 255)) {
        dm_seterr("%s: value cannot be converted to type uint8_t without overflow", fn);
        return -1;
    }
    if (rt == DM_FLOAT32 && isfinite(alpha) && fabs(alpha) > FLT_MAX) {
        dm_seterr("%s: value cannot be converted to type float without overflow", fn);
        return -1;
    }
    return 0;
}

dm_tensor *dm__alpha_scaled(const dm_tensor *b, dm_dtype rt, double alpha, int kind)
{
    if (rt == DM_BOOL)                            /* alpha as a bool: b, or nothing added */
        return alpha != 0 ? dm_tensor_retain((dm_tensor *)b)
                          : dm_tensor_zeros_dtype(b->ndim, b->shape, DM_BOOL);
    dm_tensor *bc = b->dtype == rt ? dm_tensor_retain((dm_tensor *)b) : dm_to_dtype(b, rt);
    if (!bc) return NULL;
    dm_tensor *s = kind == DM_ALPHA_FLOAT ? dm_binary_scalar_f64(DM_BIN_MUL, bc, alpha, 0)
                                          : dm_binary_scalar_i64(DM_BIN_MUL, bc, (int64_t)alpha, 0);
    dm_tensor_release(bc);
    return s;
}

/* out's values (float32) made again as PyTorch's kernel makes them, a + alpha b rounded
 * once (its fused multiply-add): the operands in float32, then in float64, where alpha
 * (rounded to float, as PyTorch does) times b is exact and the sum rounds once before the
 * last rounding to float.  out's graph (b's gradient through the product) stays; its values
 * are written in place before anyone sees them.  0, or -1 with the message. */
static int fused_f32(dm_binop op, const dm_tensor *a, const dm_tensor *b, double alpha,
                     dm_tensor *out)
{
    int g = dm_set_grad_enabled(0);
    dm_tensor *a32 = dm_to_dtype(a, DM_FLOAT32), *b32 = dm_to_dtype(b, DM_FLOAT32);
    dm_tensor *a64 = a32 ? dm_to_dtype(a32, DM_FLOAT64) : NULL;
    dm_tensor *b64 = b32 ? dm_to_dtype(b32, DM_FLOAT64) : NULL;
    dm_tensor *p = b64 ? dm_binary_scalar_f64(DM_BIN_MUL, b64, (double)(float)alpha, 0) : NULL;
    dm_tensor *f = a64 && p ? dm_binary(op, a64, p) : NULL;
    dm_set_grad_enabled(g);
    if (f) dm__copy_convert(out, f);
    dm_tensor_release(a32);
    dm_tensor_release(b32);
    dm_tensor_release(a64);
    dm_tensor_release(b64);
    dm_tensor_release(p);
    dm_tensor_release(f);
    return f ? 0 : -1;
}

dm_tensor *dm_binary_alpha(dm_binop op, const dm_tensor *a, const dm_tensor *b, double alpha,
                           int kind)
{
    if (op != DM_BIN_ADD && op != DM_BIN_SUB) {
        dm_seterr("binary_alpha: alpha goes with add or sub only");
        return NULL;
    }
    const char *fn = bininfo[op].name;
    if (!a || !b) {
        dm_seterr("%s: expected a tensor, got NULL", fn);
        return NULL;
    }
    dm_dtype rt = dm__result_type2(a, b);
    if (check_types(op, a->dtype, b->dtype, rt, 0) || dm__alpha_check(fn, rt, alpha, kind))
        return NULL;
    if (alpha == 1) return dm_binary(op, a, b);
    dm_tensor *s = dm__alpha_scaled(b, rt, alpha, kind);
    dm_tensor *out = s ? dm_binary(op, a, s) : NULL;
    dm_tensor_release(s);
    if (out && rt == DM_FLOAT32 && fused_f32(op, a, b, alpha, out)) {
        dm_tensor_release(out);
        return NULL;
    }
    return out;
}
