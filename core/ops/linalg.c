/* linalg.c -- matmul (torch.matmul's rules) and linear (x @ w^T + b), forward and backward.
 *
 * Every product goes through dm_gemm.  An operand is first described as a stack of
 * matrices (the `mat` below): a batch count, the logical rows and columns, and how each
 * matrix sits in memory -- row-major with a row stride (ld), or "transposed", i.e. stored
 * as its transpose in row-major order, which is what a transposed view of a contiguous
 * matrix is.  Both layouts go to gemm as they are, with the trans flag set for the second,
 * so transposed and narrowed views cost no copy; any other layout is copied once.
 *
 * Element types: float32 (dm_gemm), float64 (dm_dgemm), int64 and uint8 (exact naive
 * kernels wrapping as PyTorch's integer mm on the CPU); the code below moves bytes and leaves arithmetic to
 * gemm_dt, so one body serves all three.  Both operands must have one dtype. */
#include "internal.h"
#include "backend.h"
/* -O2's vectorizer ("very cheap" cost model) skips loops whose trip count is not known to be
 * a multiple of the vector width, i.e. nearly all of these kernels; O3 vectorizes them and
 * unswitches loops on invariant flags.  No fast-math: results are the same as at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

typedef struct {
    const char *p;          /* first element of batch 0 */
    size_t es;              /* element size in bytes */
    int64_t nb, r, c;       /* batch count, logical rows and columns of each matrix */
    int64_t sb;             /* batch stride (unused when nb == 1) */
    int64_t ld;             /* row stride of the stored matrix */
    int trans;              /* stored as its [c x r] transpose */
    dm_tensor *copy;        /* the contiguous copy p points into, or NULL */
} mat;

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

static void mat_free(mat *m)
{
    dm_tensor_release(m->copy);
    m->copy = NULL;
}

/* Describe t as [nb x r x c].  A 1-D operand is a row vector [1 x k] on the left (role 0)
 * and a column vector [k x 1] on the right (role 1); a 2-D one is a batch of one. */
static int mat_init(mat *m, const dm_tensor *t, int role)
{
    int64_t sr, sc;
    memset(m, 0, sizeof *m);
    m->es = dm__esize(t->dtype);
    m->nb = 1;
    if (t->ndim == 1) {
        if (role == 0) { m->r = 1; m->c = t->shape[0]; sr = 0; sc = t->stride[0]; }
        else { m->r = t->shape[0]; m->c = 1; sr = t->stride[0]; sc = 0; }
    } else {
        int d = t->ndim - 2;
        if (t->ndim == 3) { m->nb = t->shape[0]; m->sb = t->stride[0]; }
        m->r = t->shape[d]; m->c = t->shape[d + 1];
        sr = t->stride[d]; sc = t->stride[d + 1];
    }
    m->p = dm__ptr(t);
    if (dm_numel(t) == 0) {             /* nothing is read; any valid geometry will do */
        m->ld = max1(m->c);
        m->sb = m->r * m->c;
        return 0;
    }
    /* a stride matters only along a dim of size > 1 */
    int row_ok = (m->c == 1 || sc == 1) && (m->r == 1 || sr >= m->c);
    int tr_ok = (m->r == 1 || sr == 1) && (m->c == 1 || sc >= m->r);
    if (m->nb > 1 && m->sb < 0) row_ok = tr_ok = 0;
    if (row_ok) {
        m->ld = m->r == 1 ? max1(m->c) : sr;
        return 0;
    }
    if (tr_ok) {
        m->trans = 1;
        m->ld = m->c == 1 ? max1(m->r) : sc;
        return 0;
    }
    const void *buf = dm__contig_as(t, t->dtype, &m->copy);
    if (!buf) return -1;
    m->p = buf;
    m->ld = max1(m->c);
    m->sb = m->r * m->c;
    return 0;
}

/* matrix `b` of the batch (a single matrix is broadcast over all batches) */
static const void *mat_at(const mat *m, int64_t b)
{
    return m->nb == 1 ? m->p : m->p + b * m->sb * (int64_t)m->es;
}

/* element i of a contiguous buffer of element size es */
#define AT(p, i, es) ((char *)(p) + (i) * (int64_t)(es))

/* C = op(A) @ op(B) (+ C when acc) in dtype dt; the kernels' alpha is always 1 here */
static void gemm_dt(dm_dtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                    const void *a, int64_t lda, const void *b, int64_t ldb, int acc,
                    void *c, int64_t ldc)
{
    const dm_kernels *K = dm__kernels(dm__cur_device);     /* the operands' device */
    if (dt == DM_FLOAT32)
        K->sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, acc ? 1.0f : 0.0f, c, ldc);
    else if (dt == DM_FLOAT64)
        K->dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, acc ? 1.0 : 0.0, c, ldc);
    else if (dt == DM_INT64)
        K->gemm_i64(ta, tb, m, n, k, 1, a, lda, b, ldb, acc ? 1 : 0, c, ldc);
    else
        K->gemm_u8(ta, tb, m, n, k, 1, a, lda, b, ldb, acc ? 1 : 0, c, ldc);
}

/* The slow path of the dtype check (the caller has seen some operand that is not float32):
 * every operand must have the first one's dtype, and that must be one gemm_dt handles.
 * names[k] labels operand k in the message; NULL operands (an absent bias) are skipped. */
static int check_dtypes(const char *fn, int n, const dm_tensor *const *t,
                        const char *const *names)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    dm_dtype dt = t[0]->dtype;
    for (int k = 1; k < n; k++)
        if (t[k] && t[k]->dtype != dt) {
            dm_seterr("%s: expected %s and %s of one dtype, got %s %s %s and %s %s %s "
                      "(convert one with :to())", fn, names[0], names[k], names[0],
                      dm_dtype_name(dt), SHAPE(t[0], b1), names[k],
                      dm_dtype_name(t[k]->dtype), SHAPE(t[k], b2));
            return -1;
        }
    if (dt == DM_BOOL) {
        dm_seterr("%s: not implemented for %s tensors (float32, float64, int64 and uint8 are)",
                  fn, dm_dtype_name(dt));
        return -1;
    }
    return 0;
}

/* Can the batches be read as one tall row-major matrix [nb * r x c]? */
static int mat_foldable(const mat *m)
{
    return !m->trans && (m->nb == 1 || m->sb == m->r * m->ld);
}

/* ---- matmul ----------------------------------------------------------------------- */

enum { MM_MM = 0, MM_DOT = 1, MM_MV = 2, MM_BMM = 3, MM_VM = 4 };

/* Validate, and work out the output shape and the variant (the autograd node's sub). */
static int matmul_shape(const dm_tensor *a, const dm_tensor *b, int *ndim, int64_t *shape,
                        int *sub)
{
    char ba[DM_SHAPE_BUF], bb[DM_SHAPE_BUF];
    if (a->ndim == 0 || b->ndim == 0) {
        dm_seterr("matmul: both arguments need at least 1 dimension, got a %s and b %s",
                  SHAPE(a, ba), SHAPE(b, bb));
        return -1;
    }
    int64_t k_a = a->shape[a->ndim - 1];
    int64_t k_b = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (k_a != k_b) {
        dm_seterr("matmul: shape mismatch: a %s, b %s", SHAPE(a, ba), SHAPE(b, bb));
        return -1;
    }
    int64_t nba = a->ndim == 3 ? a->shape[0] : 1, nbb = b->ndim == 3 ? b->shape[0] : 1;
    if (nba != nbb && nba != 1 && nbb != 1) {
        dm_seterr("matmul: batch dimensions differ: a %s, b %s", SHAPE(a, ba), SHAPE(b, bb));
        return -1;
    }
    int nd = 0;
    if (a->ndim == 3 || b->ndim == 3) shape[nd++] = nba == 1 ? nbb : nba;
    if (a->ndim >= 2) shape[nd++] = a->shape[a->ndim - 2];
    if (b->ndim >= 2) shape[nd++] = b->shape[b->ndim - 1];
    *ndim = nd;
    if (a->ndim == 3 || b->ndim == 3) *sub = MM_BMM;
    else if (a->ndim == 1) *sub = b->ndim == 1 ? MM_DOT : MM_VM;
    else *sub = b->ndim == 1 ? MM_MV : MM_MM;
    return 0;
}

/* out[nbo x m x n] (contiguous, dtype dt) = A @ B, batches broadcast */
static void matmul_kernel(dm_dtype dt, const mat *A, const mat *B, int64_t nbo, void *out)
{
    int64_t m = A->r, k = A->c, n = B->c;
    if (B->nb == 1 && nbo > 1 && mat_foldable(A)) {
        /* [nbo x m x k] @ [k x n]: one tall gemm [nbo*m x k] @ [k x n] */
        gemm_dt(dt, 0, B->trans, nbo * m, n, k, A->p, A->ld, B->p, B->ld, 0, out, max1(n));
        return;
    }
    for (int64_t bo = 0; bo < nbo; bo++)
        gemm_dt(dt, A->trans, B->trans, m, n, k, mat_at(A, bo), A->ld, mat_at(B, bo),
                B->ld, 0, AT(out, bo * m * n, A->es), max1(n));
}

dm_tensor *dm_matmul(const dm_tensor *a, const dm_tensor *b)
{
    int ndim, sub;
    int64_t shape[3];
    const dm_tensor *ins[2] = { a, b };
    if (dm__same_device("matmul", 2, ins) < 0) return NULL;
    if ((a->dtype | b->dtype) != DM_FLOAT32) {      /* DM_FLOAT32 is 0: one compare */
        static const char *const names[2] = { "a", "b" };
        if (check_dtypes("matmul", 2, ins, names)) return NULL;
    }
    if ((a->ndim > 3 || b->ndim > 3) && a->ndim && b->ndim)
        return dm__matmul_nd(a, b);             /* products.c: folds the batch dims */
    if (matmul_shape(a, b, &ndim, shape, &sub)) return NULL;
    mat A, B;
    if (mat_init(&A, a, 0)) return NULL;
    if (mat_init(&B, b, 1)) { mat_free(&A); return NULL; }
    dm_tensor *out = dm_tensor_new_dtype(ndim, shape, a->dtype);
    if (out) {
        int64_t nbo = A.nb == 1 ? B.nb : A.nb;
        matmul_kernel(a->dtype, &A, &B, nbo, dm__ptr(out));
    }
    mat_free(&A);
    mat_free(&B);
    if (!out) return NULL;
    if (dm__needs_grad(2, ins)) {
        dm_node *nd = dm__record(DM_OP_MATMUL, sub, out, 2, ins);
        if (!nd) { dm_tensor_release(out); return NULL; }
    }
    return out;
}

/* dA = dC @ B^T and dB = A^T @ dC, batch by batch; an operand that was broadcast over the
 * batch gets the sum over batches, accumulated by gemm itself (beta = 1 after the first). */
int dm__bw_matmul(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *a = n->in[0], *b = n->in[1];
    int need_a = a && a->requires_grad, need_b = b && b->requires_grad;
    dm_dtype dt = a->dtype;
    mat A, B;
    if (mat_init(&A, a, 0)) return -1;
    if (mat_init(&B, b, 1)) { mat_free(&A); return -1; }
    int64_t m = A.r, k = A.c, nn = B.c;
    int64_t nbo = A.nb == 1 ? B.nb : A.nb;
    size_t es = A.es;
    const void *g = dm__ptr(gout);           /* [nbo x m x n], contiguous */
    int rc = 0;
    if (need_a) {
        /* [A.nb x m x k]; zeros when no batch adds to it (a broadcast over 0 batches) */
        dm_tensor *ga = A.nb != nbo && nbo == 0 ? dm_tensor_zeros_dtype(a->ndim, a->shape, dt)
                                                : dm_tensor_new_dtype(a->ndim, a->shape, dt);
        if (!ga) rc = -1;
        else {
            void *d = dm__ptr(ga);
            int bt = !B.trans;               /* B^T as gemm's op(B) */
            if (A.nb == nbo && B.nb == 1 && nbo > 1) {
                gemm_dt(dt, 0, bt, nbo * m, k, nn, g, max1(nn), B.p, B.ld, 0, d, max1(k));
            } else if (A.nb == nbo) {
                for (int64_t bo = 0; bo < nbo; bo++)
                    gemm_dt(dt, 0, bt, m, k, nn, AT(g, bo * m * nn, es), max1(nn),
                            mat_at(&B, bo), B.ld, 0, AT(d, bo * m * k, es), max1(k));
            } else {                         /* a broadcast over nbo batches */
                for (int64_t bo = 0; bo < nbo; bo++)
                    gemm_dt(dt, 0, bt, m, k, nn, AT(g, bo * m * nn, es), max1(nn),
                            mat_at(&B, bo), B.ld, bo != 0, d, max1(k));
            }
            gin[0] = ga;
        }
    }
    if (need_b && rc == 0) {
        /* [B.nb x k x n]; zeros when no batch adds to it (b broadcast over 0 batches) */
        dm_tensor *gb = B.nb != nbo && nbo == 0 ? dm_tensor_zeros_dtype(b->ndim, b->shape, dt)
                                                : dm_tensor_new_dtype(b->ndim, b->shape, dt);
        if (!gb) rc = -1;
        else {
            void *d = dm__ptr(gb);
            int at = !A.trans;               /* A^T as gemm's op(A) */
            if (B.nb == nbo) {
                for (int64_t bo = 0; bo < nbo; bo++)
                    gemm_dt(dt, at, 0, k, nn, m, mat_at(&A, bo), A.ld, AT(g, bo * m * nn, es),
                            max1(nn), 0, AT(d, bo * k * nn, es), max1(nn));
            } else if (mat_foldable(&A)) {   /* b broadcast: A_flat^T @ dC_flat */
                gemm_dt(dt, 1, 0, k, nn, nbo * m, A.p, A.ld, g, max1(nn), 0, d, max1(nn));
            } else {
                for (int64_t bo = 0; bo < nbo; bo++)
                    gemm_dt(dt, at, 0, k, nn, m, mat_at(&A, bo), A.ld, AT(g, bo * m * nn, es),
                            max1(nn), bo != 0, d, max1(nn));
            }
            gin[1] = gb;
        }
    }
    mat_free(&A);
    mat_free(&B);
    return rc;
}

/* ---- linear ----------------------------------------------------------------------- */

/* Describe x [*, in] as one matrix [N x in]; leading dims fold into N. */
static int linear_x(mat *m, const dm_tensor *x)
{
    if (x->ndim <= 2) return mat_init(m, x, 0);
    memset(m, 0, sizeof *m);
    m->es = dm__esize(x->dtype);
    m->nb = 1;
    m->c = x->shape[x->ndim - 1];
    m->r = 1;
    for (int d = 0; d < x->ndim - 1; d++) m->r *= x->shape[d];
    m->ld = max1(m->c);
    const void *buf = dm__contig_as(x, x->dtype, &m->copy);
    if (!buf) return -1;
    m->p = buf;
    return 0;
}

/* up to this many multiply-adds (N x out x in), linear computes in place */
#define TINY_LINEAR 256

dm_tensor *dm_linear(const dm_tensor *x, const dm_tensor *w, const dm_tensor *b)
{
    char bx[DM_SHAPE_BUF], bw[DM_SHAPE_BUF];
    const dm_tensor *ins[3] = { x, w, b };
    if (dm__same_device("linear", 3, ins) < 0) return NULL;
    dm_dtype dt = x->dtype | w->dtype | (b ? b->dtype : DM_FLOAT32);
    if (dt != DM_FLOAT32) {                 /* DM_FLOAT32 is 0: one compare */
        static const char *const names[3] = { "input", "weight", "bias" };
        if (check_dtypes("linear", 3, ins, names)) return NULL;
        dt = x->dtype;
    }
    if (w->ndim != 2) {
        dm_seterr("linear: weight must be 2-D [out x in], got %s", SHAPE(w, bw));
        return NULL;
    }
    int64_t in = w->shape[1], nout = w->shape[0];
    if (x->ndim == 0 || x->shape[x->ndim - 1] != in) {
        dm_seterr("linear: expected input [N x %lld], got %s", (long long)in, SHAPE(x, bx));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != nout)) {
        dm_seterr("linear: expected bias [%lld], got %s", (long long)nout, SHAPE(b, bx));
        return NULL;
    }
    int64_t shape[DM_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);  /* all the slots: a fixed size, no memcpy call */
    shape[x->ndim - 1] = nout;
    if (dt == DM_FLOAT32 && x->ndim <= 2 && dm__numel(x) * nout <= TINY_LINEAR &&
        dm__is_contig(x) && dm__is_contig(w) && (!b || dm__is_contig(b))) {
        /* a product this small costs less than a call into any gemm: the device's dot
           products in place, then the bias, as addmm adds it */
        int64_t N = x->ndim == 2 ? x->shape[0] : 1;
        dm_tensor *y = dm__tensor_new_checked(x->ndim, shape, N * nout);
        if (!y) return NULL;
        dm__kernels(dm__cur_device)->linear_small(N, in, nout, dm__data(x), dm__data(w),
                                                  b ? dm__data(b) : NULL, dm__data(y));
        if (dm__needs_grad(3, ins) && !dm__record(DM_OP_LINEAR, b ? 1 : 0, y, 3, ins)) {
            dm_tensor_release(y);
            return NULL;
        }
        return y;
    }
    mat X, W;
    if (linear_x(&X, x)) return NULL;
    if (mat_init(&W, w, 0)) { mat_free(&X); return NULL; }
    dm_tensor *y = dm_tensor_new_dtype(x->ndim, shape, dt);
    if (y) {
        // x is [N x in], w is [out x in], y is [N x out]; the bias seeds y and gemm adds to it
        char *yd = dm__ptr(y);
        size_t es = X.es;
        int64_t N = X.r;
        if (b) dm__kernels(dm__cur_device)->bias_rows(es, dm__ptr(b), b->stride[0], N, nout,
                                                      yd);
        /* op(B) = w^T: w stored row-major needs the trans flag, a transposed w does not */
        gemm_dt(dt, X.trans, !W.trans, N, nout, in, X.p, X.ld, W.p, W.ld, b != NULL,
                yd, max1(nout));
    }
    mat_free(&X);
    mat_free(&W);
    if (!y) return NULL;
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_LINEAR, b ? 1 : 0, y, 3, ins);
        if (!nd) { dm_tensor_release(y); return NULL; }
    }
    return y;
}

/* dx = dy @ w, dw = dy^T @ x, db = column sums of dy */
int dm__bw_linear(dm_bwctx *ctx, dm_node *n, const dm_tensor *gout, dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *w = n->in[1], *b = n->ninputs > 2 ? n->in[2] : NULL;
    dm_dtype dt = x->dtype;
    const void *g = dm__ptr(gout);           // dy is [N x out], contiguous
    int64_t nout = w->shape[0], in = w->shape[1];
    int64_t N = 1;                           /* rows: the product of the leading dims */
    for (int d = 0; d < gout->ndim - 1; d++) N *= gout->shape[d];
    if (x->requires_grad) {
        mat W;
        if (mat_init(&W, w, 0)) return -1;
        dm_tensor *gx = dm_tensor_new_dtype(x->ndim, x->shape, dt);
        if (gx) gemm_dt(dt, 0, W.trans, N, in, nout, g, max1(nout), W.p, W.ld, 0,
                        dm__ptr(gx), max1(in));
        mat_free(&W);
        if (!gx) return -1;
        gin[0] = gx;
    }
    if (w->requires_grad) {
        mat X;
        if (linear_x(&X, x)) return -1;
        /* straight into w's existing .grad when the engine offers it (beta = 1) */
        dm_tensor *dst = dm__grad_dest(ctx, 1);
        dm_tensor *gw = dst ? NULL : dm_tensor_new_dtype(2, w->shape, dt);
        if (dst || gw)
            gemm_dt(dt, 1, X.trans, nout, in, N, g, max1(nout), X.p, X.ld, dst != NULL,
                    dm__ptr(dst ? dst : gw), max1(in));
        mat_free(&X);
        if (dst) dm__grad_done(ctx, 1);
        else if (!gw) return -1;
        else gin[1] = gw;
    }
    if (b && b->requires_grad) {
        dm_tensor *dst = dm__grad_dest(ctx, 2);
        dm_tensor *gb = dst ? NULL : dm_tensor_new_dtype(1, b->shape, dt);
        if (!dst && !gb) return -1;
        void *d = dm__ptr(dst ? dst : gb);
        dm__kernels(dm__cur_device)->bias_sum(dt, g, N, nout, dst != NULL, d);
        if (dst) dm__grad_done(ctx, 2);
        else gin[2] = gb;
    }
    return 0;
}
