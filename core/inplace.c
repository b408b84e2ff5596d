/* inplace.c -- ops that write into an existing tensor.  They record no autograd history;
 * writing into a leaf that requires grad is refused while grad mode is on (as PyTorch does),
 * so optimizers and initializers run under no_grad. */
#include "internal.h"
#include "walk.h"

int dm__check_inplace(const char *fn, const dm_tensor *t)
{
    if (dm_grad_enabled() && t->requires_grad) {
        dm_seterr("%s: a leaf tensor that requires grad is being used in an in-place "
                  "operation; wrap it in no_grad", fn);
        return -1;
    }
    return 0;
}

/* apply f(dst, src) elementwise with src broadcast to dst's shape */
typedef void (*pairfn)(float *d, float s, float a);

static void f_copy(float *d, float s, float a) { (void)a; *d = s; }
static void f_axpy(float *d, float s, float a) { *d += a * s; }
static void f_mul(float *d, float s, float a) { (void)a; *d *= s; }

static int apply_pair(const char *fn, dm_tensor *dst, const dm_tensor *src, pairfn f, float a)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    /* src must broadcast to dst's shape exactly */
    int ok = src->ndim <= dst->ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t s = src->shape[d], t = dst->shape[d + dst->ndim - src->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("%s: source %s cannot be broadcast to destination %s", fn, SHAPE(src, b1),
                  SHAPE(dst, b2));
        return -1;
    }
    int64_t n = dm_numel(dst);
    float *dd = dm__fbase(dst);
    const float *sd = dm__fbase(src);
    /* src may overlap dst (x:copy_(x:t())): read it first when storages are shared */
    float *tmp = NULL;
    dm_tensor *srcv = (dm_tensor *)src;
    dm_tensor *tsrc = NULL;
    if (src->storage == dst->storage && !(dm_same_shape(src, dst) && src->offset == dst->offset &&
                                          !memcmp(src->stride, dst->stride, sizeof src->stride))) {
        tmp = dm__alloc_floats(dm_numel(src));
        if (!tmp) return -1;
        dm_to_buffer(src, tmp);
        int64_t st[DM_MAX_DIMS], s = 1;
        for (int d = src->ndim - 1; d >= 0; d--) { st[d] = s; s *= src->shape[d]; }
        tsrc = calloc(1, sizeof *tsrc);
        if (!tsrc) { dm__free_floats(tmp, dm_numel(src)); dm_seterr("out of memory"); return -1; }
        *tsrc = *src;
        memcpy(tsrc->stride, st, sizeof st);
        tsrc->offset = 0;
        srcv = tsrc;
        sd = tmp;
    }
    if (dm_is_contiguous(dst) && dm_is_contiguous(srcv) && dm_same_shape(dst, srcv)) {
        float *dp = dd + dst->offset;
        const float *sp = sd + srcv->offset;
        if (f == f_copy) memmove(dp, sp, (size_t)n * sizeof(float));
        else if (f == f_axpy) for (int64_t i = 0; i < n; i++) dp[i] += a * sp[i];
        else for (int64_t i = 0; i < n; i++) f(dp + i, sp[i], a);
    } else {
        // dst and srcv (broadcast) walked together, row by row
        dm_walk w;
        dm_walk_init(&w, 2, (const dm_tensor *[]){ dst, srcv }, dst->ndim, dst->shape);
        int64_t len = dm_walk_row_len(&w), s0 = dm_walk_row_stride(&w, 0),
                s1 = dm_walk_row_stride(&w, 1);
        for (int64_t done = 0; n > 0 && done < n; done += len) {
            for (int64_t j = 0; j < len; j++) f(dd + w.off[0] + j * s0, sd[w.off[1] + j * s1], a);
            dm_walk_next_row(&w);
        }
    }
    if (tmp) { dm__free_floats(tmp, dm_numel(src)); free(tsrc); }
    return 0;
}

int dm_copy_(dm_tensor *dst, const dm_tensor *src)
{
    if (dm__check_inplace("copy_", dst)) return -1;
    if (dst->dtype == DM_FLOAT32 && src->dtype == DM_FLOAT32)
        return apply_pair("copy_", dst, src, f_copy, 0);
    /* another dtype on either side: convert, through a contiguous copy of src (which also
       takes care of overlap) */
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int ok = src->ndim <= dst->ndim;
    for (int d = 0; ok && d < src->ndim; d++) {
        int64_t s = src->shape[d], t = dst->shape[d + dst->ndim - src->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("copy_: source %s cannot be broadcast to destination %s", SHAPE(src, b1),
                  SHAPE(dst, b2));
        return -1;
    }
    dm_tensor *c = dm_tensor_new_dtype(src->ndim, src->shape, src->dtype);
    if (!c) return -1;
    dm_to_buffer_dtype(src, dm__ptr(c), src->dtype);
    dm__copy_convert(dst, c);
    dm_tensor_release(c);
    return 0;
}

int dm_add_(dm_tensor *t, const dm_tensor *o, float alpha)
{
    if (dm__check_inplace("add_", t)) return -1;
    if ((t->dtype | o->dtype) != DM_FLOAT32) {             /* DM_FLOAT32 is 0 */
        if (alpha == 1.0f) return dm_binary_(DM_BIN_ADD, t, o);
        dm_tensor *ao = dm_binary_scalar_f64(DM_BIN_MUL, o, alpha, 0);
        int rc = ao ? dm_binary_(DM_BIN_ADD, t, ao) : -1;
        dm_tensor_release(ao);
        return rc;
    }
    return apply_pair("add_", t, o, f_axpy, alpha);
}

int dm_mul_(dm_tensor *t, const dm_tensor *o)
{
    if (dm__check_inplace("mul_", t)) return -1;
    if ((t->dtype | o->dtype) != DM_FLOAT32) return dm_binary_(DM_BIN_MUL, t, o);
    return apply_pair("mul_", t, o, f_mul, 0);
}

/* v = f(v) over every element of t */
#define FOR_EACH(t, expr) do { \
    int64_t n_ = dm_numel(t); \
    if (dm_is_contiguous(t)) { \
        float *p_ = dm_data(t); \
        for (int64_t i_ = 0; i_ < n_; i_++) { float *v = p_ + i_; expr; } \
    } else { \
        float *b_ = (t)->storage->data; \
        DM_WALK_EACH(t, i_, off_, float *v = b_ + off_; expr;); \
    } \
} while (0)

/* fill t (any dtype) with src's one value, converted */
static int fill_other(const char *fn, dm_tensor *t, double x)
{
    if (dm__check_inplace(fn, t)) return -1;
    dm_tensor *s = dm_tensor_full_dtype(0, NULL, x, DM_FLOAT64);
    if (!s) return -1;
    dm__copy_convert(t, s);
    dm_tensor_release(s);
    return 0;
}

int dm_fill_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return fill_other("fill_", t, x);
    if (dm__check_inplace("fill_", t)) return -1;
    FOR_EACH(t, *v = x);
    return 0;
}

int dm_zero_(dm_tensor *t)
{
    if (t->dtype != DM_FLOAT32) return fill_other("zero_", t, 0);
    if (dm__check_inplace("zero_", t)) return -1;
    FOR_EACH(t, *v = 0.0f);
    return 0;
}

int dm_add_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return dm_binary_scalar_(DM_BIN_ADD, t, x, 0);
    if (dm__check_inplace("add_", t)) return -1;
    FOR_EACH(t, *v += x);
    return 0;
}

int dm_mul_scalar_(dm_tensor *t, float x)
{
    if (t->dtype != DM_FLOAT32) return dm_binary_scalar_(DM_BIN_MUL, t, x, 0);
    if (dm__check_inplace("mul_", t)) return -1;
    FOR_EACH(t, *v *= x);
    return 0;
}

int dm_clamp_(dm_tensor *t, float lo, float hi)
{
    if (t->dtype != DM_FLOAT32) return dm_clamp_ex_(t, lo, hi, 0);
    if (dm__check_inplace("clamp_", t)) return -1;
    int has_lo = !isnan(lo), has_hi = !isnan(hi);
    /* PyTorch: min(max(x, lo), hi), NaN stays NaN */
    FOR_EACH(t, {
        if (has_lo && *v < lo) *v = lo;
        if (has_hi && *v > hi) *v = hi;
    });
    return 0;
}

/* ---- in-place ops on any dtype: t = t op x, computed out of place and written back ----- */

/* PyTorch's canCast: no floating result into an integer tensor, nothing but bool into bool */
static int can_cast(dm_dtype from, dm_dtype to)
{
    if (dm_is_floating(from) && !dm_is_floating(to)) return 0;
    if (from != DM_BOOL && to == DM_BOOL) return 0;
    return 1;
}

/* t = r (a new reference, released here; NULL: the op failed): r must have t's shape and a
   dtype that casts to t's */
static int assign_result(const char *fn, dm_tensor *t, dm_tensor *r)
{
    if (!r) return -1;
    int rc = -1;
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!can_cast(r->dtype, t->dtype))
        dm_seterr("%s: result type %s can't be cast to the desired output type %s", fn,
                  dm_dtype_name(r->dtype), dm_dtype_name(t->dtype));
    else if (!dm__same_shape(r, t))
        dm_seterr("%s: the result's shape %s differs from the destination's %s", fn,
                  SHAPE(r, b1), SHAPE(t, b2));
    else
        rc = dm_copy_(t, r);
    dm_tensor_release(r);
    return rc;
}

static const char *const inplace_name[] = {
    [DM_BIN_ADD] = "add_", [DM_BIN_SUB] = "sub_", [DM_BIN_MUL] = "mul_", [DM_BIN_DIV] = "div_",
    [DM_BIN_POW] = "pow_", [DM_BIN_EQ] = "eq_", [DM_BIN_NE] = "ne_", [DM_BIN_LT] = "lt_",
    [DM_BIN_LE] = "le_", [DM_BIN_GT] = "gt_", [DM_BIN_GE] = "ge_",
    [DM_BIN_MAXIMUM] = "maximum_", [DM_BIN_MINIMUM] = "minimum_",
};

int dm_binary_(dm_binop op, dm_tensor *t, const dm_tensor *o)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    if (dm__check_inplace(inplace_name[op], t)) return -1;
    if (t->dtype == DM_FLOAT32 && o->dtype == DM_FLOAT32) {
        if (op == DM_BIN_ADD) return apply_pair("add_", t, o, f_axpy, 1.0f);
        if (op == DM_BIN_MUL) return apply_pair("mul_", t, o, f_mul, 0);
    }
    return assign_result(inplace_name[op], t, dm_binary(op, t, o));
}

int dm_binary_scalar_(dm_binop op, dm_tensor *t, double s, int is_int)
{
    if ((unsigned)op > DM_BIN_MINIMUM) { dm_seterr("binary_: unknown op %d", (int)op); return -1; }
    if (dm__check_inplace(inplace_name[op], t)) return -1;
    if (t->dtype == DM_FLOAT32 && (op == DM_BIN_ADD || op == DM_BIN_SUB || op == DM_BIN_MUL)) {
        float x = (float)s;
        if (op == DM_BIN_MUL) FOR_EACH(t, *v *= x);
        else if (op == DM_BIN_ADD) FOR_EACH(t, *v += x);
        else FOR_EACH(t, *v -= x);
        return 0;
    }
    dm_tensor *r = is_int ? dm_binary_scalar_i64(op, t, (int64_t)s, 0)
                          : dm_binary_scalar_f64(op, t, s, 0);
    return assign_result(inplace_name[op], t, r);
}

int dm_clamp_ex_(dm_tensor *t, double lo, double hi, int int_bounds)
{
    if (t->dtype == DM_FLOAT32) return dm_clamp_(t, (float)lo, (float)hi);
    if (dm__check_inplace("clamp_", t)) return -1;
    return assign_result("clamp_", t, dm_clamp_ex(t, lo, hi, int_bounds));
}
