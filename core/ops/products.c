/* products.c -- bmm, baddbmm, addmm, outer, and matmul of operands with more than 3 dims,
 * as PyTorch 1.13 computes them.
 *
 * All of them are compositions: the product itself is dm_matmul (linalg.c: one gemm per
 * batch, or one tall gemm, through the device's kernel table), the scaling and the added
 * input are elementwise ops, and matmul's extra batch dims are folded with expand and
 * reshape.  Their backward is therefore that of the ops they are made of. */
#include "internal.h"
#include <stdio.h>

/* PyTorch's matmul for operands of any number of dims (called by dm_matmul when one has
 * more than 3): the batch dims (all but the last two; a 1-D operand has none) broadcast,
 * each operand is expanded to them and folded to [B x n x k], one batched product runs,
 * and the result is unfolded to batch + [n x m] (without n or m for a 1-D operand). */
dm_tensor *dm__matmul_nd(const dm_tensor *a, const dm_tensor *b)
{
    char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
    int64_t n = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1, k = a->shape[a->ndim - 1];
    int64_t kb = b->ndim >= 2 ? b->shape[b->ndim - 2] : b->shape[0];
    int64_t m = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    if (k != kb) {
        dm_seterr("matmul: shape mismatch: a %s, b %s", SHAPE(a, ba), SHAPE(b, bb));
        return NULL;
    }
    if (b->ndim <= 2) {
        /* [*, n, k] @ [k, m] (or [k]): a's batch dims fold into its rows, one product */
        int64_t rows = 1;
        for (int d = 0; d < a->ndim - 1; d++) rows *= a->shape[d];
        dm_tensor *f = dm_reshape(a, 2, (int64_t[]){ rows, k });
        dm_tensor *p = f ? dm_matmul(f, b) : NULL;
        dm_tensor_release(f);
        if (!p) return NULL;
        int64_t osh[DM_MAX_DIMS];
        memcpy(osh, a->shape, (size_t)(a->ndim - 1) * sizeof *osh);
        if (b->ndim == 2) osh[a->ndim - 1] = m;
        dm_tensor *out = dm_reshape(p, a->ndim - (b->ndim == 1), osh);
        dm_tensor_release(p);
        return out;
    }
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0;
    int nbat = na > nb ? na : nb;
    int64_t bat[DM_MAX_DIMS], B = 1;
    for (int i = 0; i < nbat; i++) {
        int ia = i - (nbat - na), ib = i - (nbat - nb);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            dm_seterr("matmul: batch dimensions differ: a %s, b %s", SHAPE(a, ba),
                      SHAPE(b, bb));
            return NULL;
        }
        bat[i] = sa == 1 ? sb : sa;
    }
    /* the broadcast batch of two expanded operands can pass the size limit (the product
       overflowed): through the checked helper */
    if ((B = dm__check_shape("matmul", nbat, bat)) < 0) return NULL;
    /* each operand as [B x r x c] (a 1-D a is [1 x k], a 1-D b [k x 1]) */
    dm_tensor *f[2] = { NULL, NULL };
    const dm_tensor *src[2] = { a, b };
    int64_t rc[2][2] = { { n, k }, { k, m } };
    for (int s = 0; s < 2; s++) {
        const dm_tensor *t = src[s];
        int64_t sh[DM_MAX_DIMS];
        memcpy(sh, bat, (size_t)nbat * sizeof *sh);
        sh[nbat] = rc[s][0];
        sh[nbat + 1] = rc[s][1];
        dm_tensor *v = t->ndim == 1 ? dm_reshape(t, 2, rc[s]) : dm_tensor_retain((dm_tensor *)t);
        dm_tensor *e = v ? dm_expand(v, nbat + 2, sh) : NULL;
        f[s] = e ? dm_reshape(e, 3, (int64_t[]){ B, rc[s][0], rc[s][1] }) : NULL;
        dm_tensor_release(v);
        dm_tensor_release(e);
        if (!f[s]) { dm_tensor_release(f[0]); return NULL; }
    }
    dm_tensor *p = dm_matmul(f[0], f[1]);
    dm_tensor_release(f[0]);
    dm_tensor_release(f[1]);
    if (!p) return NULL;
    int64_t osh[DM_MAX_DIMS];
    int on = nbat;
    memcpy(osh, bat, (size_t)nbat * sizeof *osh);
    if (a->ndim >= 2) osh[on++] = n;
    if (b->ndim >= 2) osh[on++] = m;
    dm_tensor *out = dm_reshape(p, on, osh);
    dm_tensor_release(p);
    return out;
}

dm_tensor *dm_bmm(const dm_tensor *a, const dm_tensor *b)
{
    char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
    if (a->ndim != 3 || b->ndim != 3) {
        dm_seterr("bmm: expected 3-D tensors, got batch1 %s and batch2 %s", SHAPE(a, ba),
                  SHAPE(b, bb));
        return NULL;
    }
    if (a->shape[0] != b->shape[0]) {
        dm_seterr("bmm: batch1 %s and batch2 %s differ in batch size", SHAPE(a, ba),
                  SHAPE(b, bb));
        return NULL;
    }
    if (a->shape[2] != b->shape[1]) {
        dm_seterr("bmm: batch1 %s and batch2 %s cannot be multiplied (%lld columns, %lld rows)",
                  SHAPE(a, ba), SHAPE(b, bb), (long long)a->shape[2], (long long)b->shape[1]);
        return NULL;
    }
    if (a->dtype != b->dtype) {
        dm_seterr("bmm: expected batch1 and batch2 of one dtype, got %s and %s (convert one "
                  "with :to())", dm_dtype_name(a->dtype), dm_dtype_name(b->dtype));
        return NULL;
    }
    return dm_matmul(a, b);
}

/* v * s; an integer tensor takes s truncated toward zero, as PyTorch converts its scalar */
static dm_tensor *scale(const dm_tensor *v, double s)
{
    if (dm_is_floating(v->dtype)) return dm_binary_scalar_f64(DM_BIN_MUL, v, s, 0);
    return dm_binary_scalar_i64(DM_BIN_MUL, v, (int64_t)s, 0);
}

/* beta * input + alpha * prod (prod a new reference, consumed), input broadcast to prod's
 * shape; with beta 0 the input is not read (its NaNs do not spread), as PyTorch's; integer
 * tensors take beta and alpha truncated toward zero (PyTorch's conversion) */
static dm_tensor *add_scaled(const char *fn, const dm_tensor *input, dm_tensor *prod,
                             double beta, double alpha)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (!prod) return NULL;
    if (input->dtype != prod->dtype) {
        dm_seterr("%s: expected input of the products' dtype %s, got %s (convert it with "
                  ":to())", fn, dm_dtype_name(prod->dtype), dm_dtype_name(input->dtype));
        dm_tensor_release(prod);
        return NULL;
    }
    int ok = input->ndim <= prod->ndim;
    for (int d = 0; ok && d < input->ndim; d++) {
        int64_t s = input->shape[d], t = prod->shape[d + prod->ndim - input->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("%s: input %s cannot be broadcast to the product's shape %s", fn,
                  SHAPE(input, b1), SHAPE(prod, b2));
        dm_tensor_release(prod);
        return NULL;
    }
    if (!dm_is_floating(prod->dtype)) {      /* integers: the scalars truncated */
        beta = fabs(beta) < 9.2e18 ? (double)(int64_t)beta : 0;
        alpha = fabs(alpha) < 9.2e18 ? (double)(int64_t)alpha : 0;
    }
    if (alpha != 1) {
        dm_tensor *p = scale(prod, alpha);
        dm_tensor_release(prod);
        if (!(prod = p)) return NULL;
    }
    if (beta == 0) return prod;
    dm_tensor *in = beta == 1 ? dm_tensor_retain((dm_tensor *)input) : scale(input, beta);
    dm_tensor *out = in ? dm_add(in, prod) : NULL;
    dm_tensor_release(in);
    dm_tensor_release(prod);
    return out;
}

dm_tensor *dm_baddbmm(const dm_tensor *input, const dm_tensor *b1, const dm_tensor *b2,
                      double beta, double alpha)
{
    if (dm__same_device("baddbmm", 3, (const dm_tensor *[]){ input, b1, b2 }) < 0) return NULL;
    dm_tensor *p = dm_bmm(b1, b2);
    if (!p) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dm_errmsg());
        if (strncmp(msg, "bmm: ", 5) == 0) dm_seterr("baddbmm: %s", msg + 5);
        return NULL;
    }
    return add_scaled("baddbmm", input, p, beta, alpha);
}

dm_tensor *dm_addmm(const dm_tensor *input, const dm_tensor *m1, const dm_tensor *m2,
                    double beta, double alpha)
{
    char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
    if (dm__same_device("addmm", 3, (const dm_tensor *[]){ input, m1, m2 }) < 0) return NULL;
    if (m1->ndim != 2 || m2->ndim != 2) {
        dm_seterr("addmm: expected matrices, got mat1 %s and mat2 %s", SHAPE(m1, ba),
                  SHAPE(m2, bb));
        return NULL;
    }
    if (m1->shape[1] != m2->shape[0]) {
        dm_seterr("addmm: mat1 %s and mat2 %s cannot be multiplied (%lld columns, %lld rows)",
                  SHAPE(m1, ba), SHAPE(m2, bb), (long long)m1->shape[1],
                  (long long)m2->shape[0]);
        return NULL;
    }
    if (m1->dtype != m2->dtype) {
        dm_seterr("addmm: expected mat1 and mat2 of one dtype, got %s and %s (convert one "
                  "with :to())", dm_dtype_name(m1->dtype), dm_dtype_name(m2->dtype));
        return NULL;
    }
    return add_scaled("addmm", input, dm_matmul(m1, m2), beta, alpha);
}

/* a [n] and b [m] -> [n x m], a_i * b_j, promoted as a product of the two */
dm_tensor *dm_outer(const dm_tensor *a, const dm_tensor *b)
{
    char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
    if (a->ndim != 1 || b->ndim != 1) {
        dm_seterr("outer: expected 1-D vectors, got a %s and b %s", SHAPE(a, ba), SHAPE(b, bb));
        return NULL;
    }
    dm_tensor *col = dm_reshape(a, 2, (int64_t[]){ a->shape[0], 1 });
    dm_tensor *out = col ? dm_mul(col, b) : NULL;
    dm_tensor_release(col);
    return out;
}
