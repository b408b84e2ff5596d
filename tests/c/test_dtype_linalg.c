/* test_dtype_linalg.c -- matmul, linear, cat/stack/index_select, view backward rules,
 * optimizer steps, init and random fills on float64 and int64 tensors.
 *
 * float64 results are compared with references computed here in double (1e-12), BLAS with
 * the naive kernel, gradients with central differences in double (1e-6); int64 products
 * must be exact. */
#include "testutil.h"
#include "../../core/internal.h"   /* the backward rules, called directly */
#include <stdint.h>

static const int64_t S23[] = { 2, 3 };

/* deterministic values in [-1, 1) that are not float32-representable */
static double dval(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((double)(*s >> 8) / (double)(1u << 24)) * 2 - 1 + 1e-9 * (double)(*s & 255);
}

static dm_tensor *tdouble(int ndim, const int64_t *shape, unsigned seed)
{
    dm_tensor *t = dm_tensor_new_dtype(ndim, shape, DM_FLOAT64);
    double *d = dm_data_ptr(t);
    for (int64_t i = 0, n = dm_numel(t); i < n; i++) d[i] = dval(&seed);
    return t;
}

/* t's values (any dtype, any strides) as doubles, row-major; caller frees */
static double *dvals(const dm_tensor *t)
{
    int64_t n = dm_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    dm_to_buffer_dtype(t, v, DM_FLOAT64);
    return v;
}

static int close_all(const dm_tensor *t, const double *want, int64_t n, double tol)
{
    if (!t || dm_numel(t) != n) return 0;
    double *v = dvals(t);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++)
        if (!tu_close(v[i], want[i], tol)) {
            printf("  [%lld] got %.17g want %.17g\n", (long long)i, v[i], want[i]);
            ok = 0;
        }
    free(v);
    return ok;
}

/* ---- gemm ------------------------------------------------------------------------------- */

static void test_dgemm(void)
{
    unsigned seed = 11;
    double worst = 0, worst_def = 0;
    int cases = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int m = 1; m <= 9; m += 4)
                for (int n = 1; n <= 300; n += 149)
                    for (int k = 0; k <= 33; k += 11) {
                        int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
                        int64_t ra = ta ? k : m, rb = tb ? n : k;
                        double *a = malloc((size_t)(ra * lda + 1) * sizeof *a);
                        double *b = malloc((size_t)(rb * ldb + 1) * sizeof *b);
                        double *c1 = malloc((size_t)(m * ldc) * sizeof *c1);
                        double *c2 = malloc((size_t)(m * ldc) * sizeof *c2);
                        for (int64_t i = 0; i < ra * lda + 1; i++) a[i] = dval(&seed);
                        for (int64_t i = 0; i < rb * ldb + 1; i++) b[i] = dval(&seed);
                        for (int64_t i = 0; i < m * ldc; i++) c1[i] = c2[i] = dval(&seed);
                        double beta = (m + n + k) % 2 ? 0.5 : 0.0;
                        double *c0 = malloc((size_t)(m * ldc) * sizeof *c0);
                        memcpy(c0, c1, (size_t)(m * ldc) * sizeof *c0);
                        dm_dgemm_naive(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c1, ldc);
                        dm_dgemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c2, ldc);
                        /* and the triple loop, straight from the definition */
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < n; j++) {
                                double s = 0;
                                for (int p = 0; p < k; p++)
                                    s += (ta ? a[p * lda + i] : a[i * lda + p]) *
                                         (tb ? b[j * ldb + p] : b[p * ldb + j]);
                                double want = 1.5 * s + beta * c0[i * ldc + j];
                                double e = fabs(c1[i * ldc + j] - c2[i * ldc + j]) /
                                           fmax(1, fabs(c1[i * ldc + j]));
                                double e0 = fabs(c1[i * ldc + j] - want) / fmax(1, fabs(want));
                                if (e > worst) worst = e;
                                if (e0 > worst_def) worst_def = e0;
                            }
                        cases++;
                        free(a); free(b); free(c0); free(c1); free(c2);
                    }
    CHECKF(worst < 1e-13, "dgemm: BLAS vs naive over %d cases, worst rel err %g", cases, worst);
    CHECKF(worst_def < 1e-13, "dgemm_naive vs the definition, worst rel err %g", worst_def);

    /* the naive kernel against the definition, beta included */
    double A[6] = { 1, 2, 3, 4, 5, 6 }, B[6] = { 1e-10, 1, 2, 3, 4, 5 }, C[4] = { 1, 1, 1, 1 };
    dm_dgemm_naive(0, 0, 2, 2, 3, 2.0, A, 3, B, 2, 3.0, C, 2);   // [2 x 3] @ [3 x 2]
    double want[4] = { 2 * (1e-10 + 4 + 12) + 3, 2 * (1 + 6 + 15) + 3,
                       2 * (4e-10 + 10 + 24) + 3, 2 * (4 + 15 + 30) + 3 };
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= C[i] == want[i];
    CHECK(ok, "dgemm_naive: [2 x 3] @ [3 x 2] with alpha 2, beta 3 exactly");
}

/* ---- matmul ------------------------------------------------------------------------------- */

/* reference: a [nba x m x k] (or 2-D/1-D) @ b, by torch.matmul's rules, in double */
static double *ref_matmul(const dm_tensor *a, const dm_tensor *b, int64_t *count)
{
    double *av = dvals(a), *bv = dvals(b);
    int64_t k = a->shape[a->ndim - 1];
    int64_t m = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    int64_t n = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    int64_t nba = a->ndim == 3 ? a->shape[0] : 1, nbb = b->ndim == 3 ? b->shape[0] : 1;
    int64_t nb = nba > nbb ? nba : nbb;
    double *out = malloc((size_t)(nb * m * n + 1) * sizeof *out);
    for (int64_t bb = 0; bb < nb; bb++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                const double *ap = av + (nba == 1 ? 0 : bb) * m * k;
                const double *bp = bv + (nbb == 1 ? 0 : bb) * k * n;
                for (int64_t p = 0; p < k; p++) s += ap[i * k + p] * bp[p * n + j];
                out[(bb * m + i) * n + j] = s;
            }
    *count = nb * m * n;
    free(av); free(bv);
    return out;
}

static const struct { int na; int64_t a[3]; int nb; int64_t b[3]; } forms[] = {
    { 1, { 5 }, 1, { 5 } },                   /* dot */
    { 2, { 3, 5 }, 1, { 5 } },                /* mv */
    { 1, { 5 }, 2, { 5, 4 } },                /* vm */
    { 2, { 3, 5 }, 2, { 5, 4 } },             /* mm */
    { 3, { 2, 3, 5 }, 3, { 2, 5, 4 } },       /* bmm */
    { 3, { 2, 3, 5 }, 2, { 5, 4 } },          /* batch broadcast, either side */
    { 2, { 3, 5 }, 3, { 2, 5, 4 } },
    { 3, { 1, 3, 5 }, 3, { 2, 5, 4 } },
    { 3, { 2, 3, 5 }, 1, { 5 } },
    { 2, { 40, 70 }, 2, { 70, 30 } },         /* big enough for BLAS proper */
};
#define NFORMS (int)(sizeof forms / sizeof forms[0])

static void test_matmul_f64(void)
{
    for (int blas = 1; blas >= 0; blas--) {
        dm_set_use_blas(blas);
        for (int f = 0; f < NFORMS; f++) {
            dm_tensor *a = tdouble(forms[f].na, forms[f].a, 3 + f);
            dm_tensor *b = tdouble(forms[f].nb, forms[f].b, 50 + f);
            dm_tensor *c = dm_matmul(a, b);
            int64_t n;
            double *want = ref_matmul(a, b, &n);
            CHECKF(c && c->dtype == DM_FLOAT64 && close_all(c, want, n, 1e-12),
                   "matmul float64 form %d (blas %d) matches the double reference", f, blas);
            /* the same product through float32 agrees to float precision only */
            dm_tensor *a32 = dm_to_dtype(a, DM_FLOAT32), *b32 = dm_to_dtype(b, DM_FLOAT32);
            dm_tensor *c32 = dm_matmul(a32, b32);
            CHECKF(c32 && c32->dtype == DM_FLOAT32 && close_all(c32, want, n, 1e-5),
                   "matmul float32 form %d still works", f);
            dm_tensor_release(a32); dm_tensor_release(b32); dm_tensor_release(c32);
            free(want);
            dm_tensor_release(c); dm_tensor_release(a); dm_tensor_release(b);
        }
    }
    dm_set_use_blas(1);

    /* non-contiguous operands: a transposed view (no copy) and a layout that is copied */
    int64_t s53[] = { 5, 3 }, s352[] = { 3, 5, 2 }, s54[] = { 5, 4 };
    dm_tensor *base = tdouble(2, s53, 7), *at = dm_transpose(base, 0, 1);     // [3 x 5]
    dm_tensor *base3 = tdouble(3, s352, 8), *as = dm_select(base3, 2, 1);     // [3 x 5]
    dm_tensor *b = tdouble(2, s54, 9);
    CHECK(!dm_is_contiguous(at) && !dm_is_contiguous(as), "views are non-contiguous");
    const dm_tensor *views[2] = { at, as };
    for (int v = 0; v < 2; v++) {
        dm_tensor *c = dm_matmul(views[v], b), *cc = dm_contiguous(views[v]);
        dm_tensor *c2 = dm_matmul(cc, b);
        int64_t n;
        double *want = ref_matmul(cc, b, &n);
        CHECKF(close_all(c, want, n, 1e-12) && tu_same_values(c2, c, 0) == 1,
               "matmul float64 of a non-contiguous operand (%d)", v);
        free(want);
        dm_tensor_release(c); dm_tensor_release(c2); dm_tensor_release(cc);
    }
    dm_tensor_release(at); dm_tensor_release(base); dm_tensor_release(as);
    dm_tensor_release(base3); dm_tensor_release(b);
}

static void test_matmul_i64(void)
{
    /* products near 2^62: exact in int64, rounded in any float type */
    int64_t s22[] = { 2, 2 }, s2[] = { 2 };
    dm_tensor *a = dm_tensor_new_dtype(2, s22, DM_INT64), *b = dm_tensor_new_dtype(2, s22, DM_INT64);
    int64_t *ad = dm_data_ptr(a), *bd = dm_data_ptr(b);
    int64_t big = ((int64_t)1 << 31) + 1;
    ad[0] = big; ad[1] = 3; ad[2] = -7; ad[3] = big - 2;
    bd[0] = big + 4; bd[1] = 1; bd[2] = 5; bd[3] = -(big + 6);
    for (int blas = 1; blas >= 0; blas--) {
        dm_set_use_blas(blas);
        dm_tensor *c = dm_matmul(a, b);
        int ok = c && c->dtype == DM_INT64;
        const int64_t *cd = ok ? dm_data_ptr(c) : NULL;
        for (int i = 0; ok && i < 2; i++)
            for (int j = 0; j < 2; j++)
                ok &= cd[i * 2 + j] == ad[i * 2] * bd[j] + ad[i * 2 + 1] * bd[2 + j];
        CHECKF(ok, "matmul int64 [2 x 2] @ [2 x 2] exact near 2^62 (blas %d)", blas);
        dm_tensor_release(c);
    }
    dm_set_use_blas(1);
    /* the other forms, against the double reference (values small enough to be exact) */
    for (int f = 0; f < NFORMS; f++) {
        dm_tensor *x = dm_tensor_new_dtype(forms[f].na, forms[f].a, DM_INT64);
        dm_tensor *y = dm_tensor_new_dtype(forms[f].nb, forms[f].b, DM_INT64);
        int64_t *xd = dm_data_ptr(x), *yd = dm_data_ptr(y);
        for (int64_t i = 0; i < dm_numel(x); i++) xd[i] = (i * 7919 + f) % 23 - 11;
        for (int64_t i = 0; i < dm_numel(y); i++) yd[i] = (i * 104729 + 3 * f) % 19 - 9;
        dm_tensor *z = dm_matmul(x, y);
        int64_t n;
        double *want = ref_matmul(x, y, &n);
        CHECKF(z && z->dtype == DM_INT64 && close_all(z, want, n, 0), "matmul int64 form %d", f);
        free(want);
        dm_tensor_release(x); dm_tensor_release(y); dm_tensor_release(z);
    }
    /* linear on int64 (PyTorch's addmm takes Long on the CPU) */
    int64_t s43[] = { 4, 3 }, s4[] = { 4 };
    dm_tensor *x = dm_tensor_full_i64(2, S23, 1, DM_INT64), *w = dm_tensor_full_i64(2, s43, 1, DM_INT64);
    dm_tensor *bias = dm_tensor_full_i64(1, s4, 1, DM_INT64);
    dm_tensor *y = dm_linear(x, w, bias);
    double w5[8] = { 4, 4, 4, 4, 4, 4, 4, 4 };
    CHECK(y && y->dtype == DM_INT64 && close_all(y, w5, 8, 0), "linear int64: ones -> 4");
    dm_tensor_release(x); dm_tensor_release(w); dm_tensor_release(bias); dm_tensor_release(y);

    /* errors: mixed dtypes name both operands with their shapes; bool is refused */
    dm_tensor *f32 = dm_tensor_full_dtype(2, S23, 1, DM_FLOAT32);
    int64_t s32[] = { 3, 2 };
    dm_tensor *f64 = dm_tensor_full_dtype(2, s32, 1, DM_FLOAT64);
    CHECK_ERR(dm_matmul(f32, f64), "matmul: expected a and b of one dtype, got a float32 [2 x 3] "
              "and b float64 [3 x 2] (convert one with :to())");
    CHECK_ERR(dm_matmul(a, f64), "matmul: expected a and b of one dtype, got a int64 [2 x 2] "
              "and b float64 [3 x 2] (convert one with :to())");
    dm_tensor *w64 = dm_tensor_full_dtype(2, s43, 1, DM_FLOAT64), *b32 = dm_tensor_full_dtype(1, s4, 1, DM_FLOAT32);
    dm_tensor *x64 = dm_tensor_full_dtype(2, S23, 1, DM_FLOAT64);
    CHECK_ERR(dm_linear(f32, w64, NULL), "linear: expected input and weight of one dtype, got "
              "input float32 [2 x 3] and weight float64 [4 x 3] (convert one with :to())");
    CHECK_ERR(dm_linear(x64, w64, b32), "linear: expected input and bias of one dtype, got "
              "input float64 [2 x 3] and bias float32 [4] (convert one with :to())");
    dm_tensor *bo = dm_tensor_full_dtype(1, s2, 1, DM_BOOL);
    CHECK_ERR(dm_matmul(bo, bo), "matmul: not implemented for bool tensors (float32, float64, "
              "int64 and uint8 are)");
    /* uint8 wraps modulo 256 as PyTorch's Byte mm: [200 3] @ [2 1]^T = 403 -> 147, + 100 -> 247 */
    {
        dm_tensor *ua = dm_tensor_new_dtype(2, (int64_t[]){ 1, 2 }, DM_UINT8);
        dm_tensor *ub = dm_tensor_new_dtype(2, (int64_t[]){ 1, 2 }, DM_UINT8);
        dm_tensor *ubias = dm_tensor_full_dtype(1, (int64_t[]){ 1 }, 100, DM_UINT8);
        uint8_t *p = dm_data_ptr(ua), *q = dm_data_ptr(ub);
        p[0] = 200; p[1] = 3; q[0] = 2; q[1] = 1;
        dm_tensor *ubt = dm_transpose(ub, 0, 1);
        dm_tensor *um = dm_matmul(ua, ubt), *ul = dm_linear(ua, ub, ubias);
        CHECK(um && um->dtype == DM_UINT8 && *(uint8_t *)dm_data_ptr(um) == 147,
              "matmul uint8 wraps modulo 256 (PyTorch: 147)");
        CHECK(ul && ul->dtype == DM_UINT8 && *(uint8_t *)dm_data_ptr(ul) == 247,
              "linear uint8 wraps modulo 256 (PyTorch: 247)");
        dm_tensor_release(um); dm_tensor_release(ul); dm_tensor_release(ubt);
        dm_tensor_release(ua); dm_tensor_release(ub); dm_tensor_release(ubias);
    }
    dm_tensor_release(f32); dm_tensor_release(f64); dm_tensor_release(w64);
    dm_tensor_release(b32); dm_tensor_release(x64); dm_tensor_release(bo);
    dm_tensor_release(a); dm_tensor_release(b);
}

/* ---- gradients in double ---------------------------------------------------------------- */

typedef dm_tensor *(*dfn)(dm_tensor *const *in, void *ctx);

/* loss = sum(w * f(in)) with fixed float64 weights w, f one op; the op's backward rule (called
 * directly: the engine's seed and accumulation are float32's for now, autograd/engine.c) against
 * central differences in double.  Returns the worst relative error (inf on failure). */
static double dgradcheck(dfn f, int n, dm_tensor *const *in, void *ctx)
{
    const double eps = 1e-6;
    dm_tensor *y = f(in, ctx);
    if (!y || !y->grad_fn) { printf("dgradcheck: forward failed: %s\n", dm_errmsg()); return INFINITY; }
    dm_tensor *w = tdouble(y->ndim, y->shape, 99);
    dm_tensor *gin[8] = { 0 };
    int prev = dm_set_grad_enabled(0);
    dm_node *node = y->grad_fn;
    dm_bwctx cx = { node, { 0 } };
    int rc = dm__opdef(node->op)->backward(&cx, node, w, gin);
    dm_tensor_release(y);
    if (rc != 0) {
        printf("dgradcheck: backward failed: %s\n", dm_errmsg());
        dm_set_grad_enabled(prev);
        dm_tensor_release(w);
        return INFINITY;
    }
    const double *wd = dm_data_ptr(w);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        if (!in[i]->requires_grad) continue;
        if (!gin[i] || gin[i]->dtype != DM_FLOAT64 || !dm_same_shape(gin[i], in[i])) {
            printf("dgradcheck: input %d: no float64 gradient of its shape\n", i);
            worst = INFINITY;
            break;
        }
        double *g = dvals(gin[i]);
        double *x = dm_data_ptr(in[i]);
        for (int64_t k = 0, m = dm_numel(in[i]); k < m; k++) {
            double orig = x[k], loss[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[k] = orig + (sgn ? -eps : eps);
                dm_tensor *yy = f(in, ctx);
                double *yv = dvals(yy), s = 0;
                for (int64_t j = 0, ny = dm_numel(yy); j < ny; j++) s += yv[j] * wd[j];
                free(yv);
                dm_tensor_release(yy);
                loss[sgn] = s;
            }
            x[k] = orig;
            double num = (loss[0] - loss[1]) / (2 * eps);
            double e = fabs(num - g[k]) / fmax(1, fabs(num));
            if (e > worst) worst = e;
        }
        free(g);
    }
    for (int i = 0; i < 8; i++) dm_tensor_release(gin[i]);
    dm_set_grad_enabled(prev);
    dm_tensor_release(w);
    return worst;
}

static dm_tensor *f_matmul(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_matmul(in[0], in[1]); }
static dm_tensor *f_linear(dm_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dm_linear(in[0], in[1], in[2]);
}
static dm_tensor *f_linear_nobias(dm_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dm_linear(in[0], in[1], NULL);
}

static void release_grads(int n, dm_tensor **t)
{
    for (int i = 0; i < n; i++) dm_tensor_release(t[i]);
}

static void test_grads_f64(void)
{
    for (int f = 0; f < NFORMS - 1; f++) {
        dm_tensor *in[2] = { tdouble(forms[f].na, forms[f].a, 30 + f),
                             tdouble(forms[f].nb, forms[f].b, 60 + f) };
        dm_set_requires_grad(in[0], 1);
        dm_set_requires_grad(in[1], 1);
        /* the grad_fn names are float32's */
        dm_tensor *c = dm_matmul(in[0], in[1]);
        dm_tensor *a32 = dm_to_dtype(in[0], DM_FLOAT32), *b32 = dm_to_dtype(in[1], DM_FLOAT32);
        dm_tensor *c32 = dm_matmul(a32, b32);
        CHECKF(c && c32 && dm_grad_fn_name(c) && strcmp(dm_grad_fn_name(c), dm_grad_fn_name(c32)) == 0,
               "matmul float64 form %d: grad_fn %s", f, c ? dm_grad_fn_name(c) : "?");
        dm_tensor_release(c); dm_tensor_release(c32); dm_tensor_release(a32); dm_tensor_release(b32);
        double e = dgradcheck(f_matmul, 2, in, NULL);
        CHECKF(e < 1e-6, "matmul float64 form %d: gradient vs central differences, err %g", f, e);
        release_grads(2, in);
    }
    /* linear: [N x in], [*, in] (3-D input), with and without bias */
    int64_t sx[] = { 4, 3 }, sx3[] = { 2, 2, 3 }, sw[] = { 5, 3 }, sb[] = { 5 };
    for (int v = 0; v < 3; v++) {
        dm_tensor *in[3] = { v == 1 ? tdouble(3, sx3, 5) : tdouble(2, sx, 5), tdouble(2, sw, 6),
                             tdouble(1, sb, 7) };
        for (int i = 0; i < 3; i++) dm_set_requires_grad(in[i], 1);
        dm_tensor *y = v == 2 ? dm_linear(in[0], in[1], NULL) : dm_linear(in[0], in[1], in[2]);
        CHECKF(y && y->dtype == DM_FLOAT64 && dm_grad_fn_name(y), "linear float64 (%d) records", v);
        dm_tensor_release(y);
        double e = dgradcheck(v == 2 ? f_linear_nobias : f_linear, v == 2 ? 2 : 3, in, NULL);
        CHECKF(e < 1e-6, "linear float64 (%d): gradient vs central differences, err %g", v, e);
        release_grads(3, in);
    }
}

/* ---- view backward rules ------------------------------------------------------------------ */

static dm_tensor *f_expand(dm_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dm_expand(in[0], 3, (int64_t[]){ 2, 4, 3 });  // [1 x 3] -> [2 x 4 x 3]
}
static dm_tensor *f_narrow(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_narrow(in[0], 0, 1, 2); }
static dm_tensor *f_select(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_select(in[0], 1, 1); }
static dm_tensor *f_transpose(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_transpose(in[0], 0, 1); }
static dm_tensor *f_cat(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_cat(2, in, 1); }
static dm_tensor *f_stack(dm_tensor *const *in, void *ctx) { (void)ctx; return dm_stack(2, in, 0); }

static void test_views_f64(void)
{
    static const struct { const char *name; dfn f; int n; int64_t shape[2]; } cases[] = {
        { "expand", f_expand, 1, { 1, 3 } }, { "narrow", f_narrow, 1, { 4, 3 } },
        { "select", f_select, 1, { 4, 3 } }, { "transpose", f_transpose, 1, { 4, 3 } },
        { "cat", f_cat, 2, { 4, 3 } }, { "stack", f_stack, 2, { 4, 3 } },
    };
    for (int c = 0; c < 6; c++) {
        dm_tensor *in[2] = { tdouble(2, cases[c].shape, 1 + c), tdouble(2, cases[c].shape, 20 + c) };
        dm_set_requires_grad(in[0], 1);
        dm_set_requires_grad(in[1], 1);
        double e = dgradcheck(cases[c].f, cases[c].n, in, NULL);
        CHECKF(e < 1e-6, "%s backward in float64 vs central differences, err %g", cases[c].name, e);
        release_grads(2, in);
    }
}

/* ---- cat, stack, index_select ------------------------------------------------------------- */

static void test_join(void)
{
    static const dm_dtype dts[] = { DM_FLOAT32, DM_FLOAT64, DM_INT64, DM_UINT8, DM_BOOL };
    int64_t s32[] = { 3, 2 };
    for (int k = 0; k < 5; k++) {
        dm_dtype dt = dts[k];
        dm_tensor *a = dm_tensor_new_dtype(2, S23, dt), *bt = dm_tensor_new_dtype(2, s32, dt);
        for (int64_t i = 0; i < 6; i++) {
            dm_set_i64(a, (int64_t[]){ i / 3, i % 3 }, dt == DM_BOOL ? i % 2 : i);
            dm_set_i64(bt, (int64_t[]){ i / 2, i % 2 }, dt == DM_BOOL ? (i + 1) % 2 : 10 + i);
        }
        dm_tensor *b = dm_transpose(bt, 0, 1);           /* [2 x 3], non-contiguous */
        dm_tensor *ts[2] = { a, b };
        dm_tensor *c0 = dm_cat(2, ts, 0), *c1 = dm_cat(2, ts, 1), *st = dm_stack(2, ts, 1);
        int ok = c0 && c1 && st && c0->dtype == dt && c1->dtype == dt && st->dtype == dt;
        for (int64_t i = 0; ok && i < 2; i++)
            for (int64_t j = 0; j < 3; j++) {
                int64_t av = dm_get_i64(a, (int64_t[]){ i, j }), bv = dm_get_i64(b, (int64_t[]){ i, j });
                ok &= dm_get_i64(c0, (int64_t[]){ i, j }) == av;
                ok &= dm_get_i64(c0, (int64_t[]){ i + 2, j }) == bv;
                ok &= dm_get_i64(c1, (int64_t[]){ i, j + 3 }) == bv;
                ok &= dm_get_i64(st, (int64_t[]){ i, 0, j }) == av;
                ok &= dm_get_i64(st, (int64_t[]){ i, 1, j }) == bv;
            }
        CHECKF(ok, "cat/stack of %s tensors (one non-contiguous)", dm_dtype_name(dt));
        /* index_select on any dtype, int64 index */
        int64_t s2[] = { 2 };
        dm_tensor *idx = dm_tensor_new_dtype(1, s2, DM_INT64);
        ((int64_t *)dm_data_ptr(idx))[0] = 2;
        ((int64_t *)dm_data_ptr(idx))[1] = 0;
        dm_tensor *sel = dm_index_select(b, 1, idx);
        ok = sel && sel->dtype == dt;
        for (int64_t i = 0; ok && i < 2; i++)
            ok &= dm_get_i64(sel, (int64_t[]){ i, 0 }) == dm_get_i64(b, (int64_t[]){ i, 2 }) &&
                  dm_get_i64(sel, (int64_t[]){ i, 1 }) == dm_get_i64(b, (int64_t[]){ i, 0 });
        CHECKF(ok, "index_select of a %s tensor with an int64 index", dm_dtype_name(dt));
        dm_tensor_release(sel); dm_tensor_release(idx);
        dm_tensor_release(c0); dm_tensor_release(c1); dm_tensor_release(st);
        dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(bt);
    }

    /* promotion as PyTorch 1.13: int64 + float32 -> float32, float32 + float64 -> float64,
       bool + uint8 -> uint8 */
    static const dm_dtype pairs[][3] = {
        { DM_INT64, DM_FLOAT32, DM_FLOAT32 }, { DM_FLOAT32, DM_FLOAT64, DM_FLOAT64 },
        { DM_BOOL, DM_UINT8, DM_UINT8 }, { DM_UINT8, DM_INT64, DM_INT64 },
    };
    for (int p = 0; p < 4; p++) {
        dm_tensor *x = dm_tensor_full_dtype(2, S23, 1, pairs[p][0]);
        dm_tensor *y = dm_tensor_full_dtype(2, S23, 1, pairs[p][1]);
        dm_tensor *ts[2] = { x, y };
        dm_tensor *c = dm_cat(2, ts, 0), *s = dm_stack(2, ts, 0);
        CHECKF(c && s && c->dtype == pairs[p][2] && s->dtype == pairs[p][2] &&
               dm_get_f64(c, (int64_t[]){ 3, 2 }) == 1,
               "cat/stack of %s and %s give %s", dm_dtype_name(pairs[p][0]),
               dm_dtype_name(pairs[p][1]), dm_dtype_name(pairs[p][2]));
        dm_tensor_release(c); dm_tensor_release(s); dm_tensor_release(x); dm_tensor_release(y);
    }

    /* mixed cat backward: each input's gradient in its own dtype (the rule, called
       directly as in dgradcheck) */
    {
        dm_tensor *x = dm_tensor_full_dtype(2, S23, 1, DM_FLOAT32);
        dm_tensor *y = tdouble(2, S23, 4);
        dm_set_requires_grad(x, 1);
        dm_set_requires_grad(y, 1);
        dm_tensor *ts[2] = { x, y };
        dm_tensor *c = dm_cat(2, ts, 1);                 // [2 x 6] float64
        dm_tensor *g = tdouble(2, (int64_t[]){ 2, 6 }, 5);
        CHECK(c && c->dtype == DM_FLOAT64 && dm_grad_fn_name(c) &&
              strcmp(dm_grad_fn_name(c), "CatBackward0") == 0, "mixed cat records CatBackward0");
        dm_tensor *gin[2] = { NULL, NULL };
        dm_bwctx cx = { c ? c->grad_fn : NULL, { 0 } };
        int rc = c ? dm__opdef(c->grad_fn->op)->backward(&cx, c->grad_fn, g, gin) : -1;
        int ok = rc == 0 && gin[0] && gin[1] && gin[0]->dtype == DM_FLOAT32 &&
                 gin[1]->dtype == DM_FLOAT64;
        for (int64_t i = 0; ok && i < 2; i++)
            for (int64_t j = 0; j < 3; j++) {
                double gx = dm_get_f64(g, (int64_t[]){ i, j }), gy = dm_get_f64(g, (int64_t[]){ i, j + 3 });
                ok &= dm_get_f64(gin[0], (int64_t[]){ i, j }) == (double)(float)gx;
                ok &= dm_get_f64(gin[1], (int64_t[]){ i, j }) == gy;
            }
        CHECK(ok, "mixed cat backward: float32 grad for the float32 input, float64 for the other");
        dm_tensor_release(gin[0]); dm_tensor_release(gin[1]);
        dm_tensor_release(c); dm_tensor_release(g); dm_tensor_release(x); dm_tensor_release(y);
    }

    /* an index above 2^24 (not a float32 integer) on a uint8 source */
    {
        int64_t n = ((int64_t)1 << 24) + 3, s2[] = { 2 };
        dm_tensor *src = dm_tensor_zeros_dtype(1, &n, DM_UINT8);
        uint8_t *sd = dm_data_ptr(src);
        sd[n - 2] = 9;
        sd[n - 3] = 5;
        sd[n - 1] = 7;
        dm_tensor *idx = dm_tensor_new_dtype(1, s2, DM_INT64);
        ((int64_t *)dm_data_ptr(idx))[0] = n - 2;         /* 2^24 + 1 */
        ((int64_t *)dm_data_ptr(idx))[1] = n - 1;
        dm_tensor *sel = dm_index_select(src, 0, idx);
        CHECK(sel && sel->dtype == DM_UINT8 && ((uint8_t *)dm_data_ptr(sel))[0] == 9 &&
              ((uint8_t *)dm_data_ptr(sel))[1] == 7, "index_select: int64 index 2^24 + 1 is exact");
        ((int64_t *)dm_data_ptr(idx))[1] = n;
        CHECK_ERR(dm_index_select(src, 0, idx),
                  "index_select: index 16777220 out of range for dim 1 of size 16777219");
        dm_tensor *fidx = dm_tensor_full_dtype(1, s2, 0, DM_FLOAT64);
        CHECK_ERR(dm_index_select(src, 0, fidx),
                  "index_select: expected an int64 index tensor, got float64");
        dm_tensor_release(fidx); dm_tensor_release(sel); dm_tensor_release(idx);
        dm_tensor_release(src);
    }
}

static dm_tensor *f_index_select(dm_tensor *const *in, void *ctx)
{
    return dm_index_select(in[0], 1, (const dm_tensor *)ctx);
}

static void test_index_select_grad(void)
{
    int64_t s34[] = { 3, 4 }, s5[] = { 5 };
    dm_tensor *idx = dm_tensor_new_dtype(1, s5, DM_INT64);
    int64_t iv[5] = { 3, 0, 3, 1, 3 };                   /* repeats accumulate */
    memcpy(dm_data_ptr(idx), iv, sizeof iv);
    dm_tensor *in[1] = { tdouble(2, s34, 12) };
    dm_set_requires_grad(in[0], 1);
    double e = dgradcheck(f_index_select, 1, in, idx);
    CHECKF(e < 1e-6, "index_select float64 backward vs central differences, err %g", e);
    release_grads(1, in);
    dm_tensor_release(idx);
}

/* ---- optimizers --------------------------------------------------------------------------- */

static void test_optim_f64(void)
{
    int64_t s[] = { 3, 4 };
    /* SGD with momentum, weight decay, nesterov, three steps, against the rule in double */
    dm_tensor *p = tdouble(2, s, 1), *g = tdouble(2, s, 2);
    dm_tensor *buf = dm_tensor_zeros_dtype(2, s, DM_FLOAT64);
    double rp[12], rb[12];
    memcpy(rp, dm_data_ptr(p), sizeof rp);
    const double *gd = dm_data_ptr(g);
    double lr = 0.1, mom = 0.9, wd = 0.01;
    int ok = 1;
    for (int step = 0; step < 3; step++) {
        ok &= dm_sgd_step(p, g, buf, lr, mom, 0, wd, 1, 0, step == 0) == 0;
        for (int i = 0; i < 12; i++) {
            double d = fma(wd, rp[i], gd[i]);
            rb[i] = step == 0 ? d : fma(1.0, d, rb[i] * mom);
            d = fma(mom, rb[i], d);
            rp[i] = fma(-lr, d, rp[i]);
        }
    }
    CHECK(ok && close_all(p, rp, 12, 1e-15) && close_all(buf, rb, 12, 1e-15),
          "sgd_step on float64: nesterov momentum and weight decay match the double rule");
    /* Adam (amsgrad) and AdamW on a non-contiguous (transposed) parameter */
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        dm_tensor *pb = tdouble(2, s, 3), *pt = dm_transpose(pb, 0, 1);     // [4 x 3]
        dm_tensor *gt = tdouble(2, (int64_t[]){ 4, 3 }, 4);
        dm_tensor *m = dm_tensor_zeros_dtype(2, (int64_t[]){ 4, 3 }, DM_FLOAT64);
        dm_tensor *v = dm_tensor_zeros_dtype(2, (int64_t[]){ 4, 3 }, DM_FLOAT64);
        dm_tensor *vx = dm_tensor_zeros_dtype(2, (int64_t[]){ 4, 3 }, DM_FLOAT64);
        double *pv = dvals(pt), rm[12] = { 0 }, rv[12] = { 0 }, rx[12] = { 0 };
        const double *gg = dm_data_ptr(gt);
        double b1 = 0.9, b2 = 0.999, eps = 1e-8, alr = 1e-2, awd = 0.05;
        ok = 1;
        for (int64_t step = 1; step <= 3; step++) {
            ok &= dm_adam_step(pt, gt, m, v, vx, step, alr, b1, b2, eps, awd, decoupled, 0) == 0;
            double bc1 = 1 - pow(b1, (double)step), bc2 = 1 - pow(b2, (double)step);
            for (int i = 0; i < 12; i++) {
                double gi = gg[i];
                if (!decoupled) gi = fma(awd, pv[i], gi);
                else pv[i] *= 1 - alr * awd;
                rm[i] = fma(1 - b1, gi, rm[i] * b1);
                rv[i] = fma((1 - b2) * gi, gi, rv[i] * b2);
                if (rv[i] > rx[i]) rx[i] = rv[i];
                double denom = sqrt(rx[i]) / sqrt(bc2) + eps;
                pv[i] = pv[i] + (-(alr / bc1)) * rm[i] / denom;
            }
        }
        CHECKF(ok && close_all(pt, pv, 12, 1e-14) && close_all(m, rm, 12, 1e-15) &&
               close_all(vx, rx, 12, 1e-15),
               "adam_step on a transposed float64 parameter (decoupled %d) matches double", decoupled);
        free(pv);
        dm_tensor_release(pt); dm_tensor_release(pb); dm_tensor_release(gt);
        dm_tensor_release(m); dm_tensor_release(v); dm_tensor_release(vx);
    }
    /* errors */
    dm_tensor *g32 = dm_tensor_zeros_dtype(2, s, DM_FLOAT32), *pi = dm_tensor_zeros_dtype(2, s, DM_INT64);
    CHECK_ERR(dm_sgd_step(p, g32, NULL, 0.1, 0, 0, 0, 0, 0, 0),
              "sgd_step: grad dtype float32 differs from parameter dtype float64");
    CHECK_ERR(dm_sgd_step(pi, pi, NULL, 0.1, 0, 0, 0, 0, 0, 0),
              "sgd_step: expected a float32 or float64 parameter, got int64");
    CHECK_ERR(dm_adam_step(p, g, buf, g32, NULL, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: exp_avg_sq dtype float32 differs from parameter dtype float64");
    dm_tensor_release(g32); dm_tensor_release(pi);
    dm_tensor_release(p); dm_tensor_release(g); dm_tensor_release(buf);
}

/* ---- init and rng -------------------------------------------------------------------------- */

/* some value of t (float64) is not a float32 value: drawn in double, not converted */
static int drawn_in_double(const dm_tensor *t)
{
    double *v = dvals(t);
    int any = 0;
    for (int64_t i = 0, n = dm_numel(t); i < n; i++) any |= (double)(float)v[i] != v[i];
    free(v);
    return any;
}

static void test_init_rng(void)
{
    dm_rng *g = dm_rng_new(5);
    int64_t s[] = { 64, 32 }, n = 64 * 32;
    dm_tensor *t = dm_tensor_new_dtype(2, s, DM_FLOAT64);

    CHECK(dm_uniform_(t, -2, 3, g) == 0 && drawn_in_double(t), "uniform_ float64 draws in double");
    double *v = dvals(t), lo = 1e9, hi = -1e9;
    for (int64_t i = 0; i < n; i++) { lo = fmin(lo, v[i]); hi = fmax(hi, v[i]); }
    free(v);
    CHECK(lo >= -2 && hi < 3 && lo < -1.9 && hi > 2.9, "uniform_ float64 covers [-2, 3)");

    CHECK(dm_normal_(t, 1, 2, g) == 0 && drawn_in_double(t), "normal_ float64 draws in double");
    v = dvals(t);
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    free(v);
    CHECKF(fabs(mean - 1) < 0.15, "normal_ float64 mean %g", mean);

    /* the initialisers */
    CHECK(dm_init_kaiming_uniform_(t, 0, NULL, "relu", g) == 0 && drawn_in_double(t),
          "kaiming_uniform_ float64");
    CHECK(dm_init_kaiming_normal_(t, 0, NULL, NULL, g) == 0 && drawn_in_double(t), "kaiming_normal_ float64");
    CHECK(dm_init_xavier_uniform_(t, 1, g) == 0 && drawn_in_double(t), "xavier_uniform_ float64");
    CHECK(dm_init_xavier_normal_(t, 1, g) == 0 && drawn_in_double(t), "xavier_normal_ float64");
    CHECK(dm_init_lecun_normal_(t, g) == 0 && drawn_in_double(t), "lecun_normal_ float64");
    CHECK(dm_init_trunc_normal_(t, 0, 1, -0.5, 0.5, g) == 0 && drawn_in_double(t),
          "trunc_normal_ float64");
    v = dvals(t);
    int inb = 1;
    for (int64_t i = 0; i < n; i++) inb &= v[i] >= -0.5 && v[i] <= 0.5;
    free(v);
    CHECK(inb, "trunc_normal_ float64 within [a, b]");
    CHECK(dm_init_constant_(t, 0.1) == 0 && dm_get_f64(t, (int64_t[]){ 3, 4 }) == 0.1,
          "constant_(0.1) on float64 is the double 0.1");
    CHECK(dm_init_eye_(t) == 0 && dm_get_f64(t, (int64_t[]){ 5, 5 }) == 1 &&
          dm_get_f64(t, (int64_t[]){ 5, 6 }) == 0, "eye_ float64");
    CHECK(dm_init_sparse_(t, 0.5, 1, g) == 0 && dm_get_f64(t, (int64_t[]){ 0, 0 }) == dm_get_f64(t, (int64_t[]){ 0, 0 }),
          "sparse_ float64");
    v = dvals(t);
    int zeros = 0;
    for (int64_t i = 0; i < 64; i++) zeros += v[i * 32] == 0;
    free(v);
    CHECKF(zeros == 32, "sparse_ float64: %d zeros in column 1 (want 32)", zeros);
    /* orthogonal in double: Q Q^T = I to double precision (float draws would give 1e-7) */
    dm_tensor *q = dm_tensor_new_dtype(2, (int64_t[]){ 8, 20 }, DM_FLOAT64);
    CHECK(dm_init_orthogonal_(q, 1, g) == 0, "orthogonal_ float64");
    double *qv = dvals(q), worst = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            double sij = 0;
            for (int k = 0; k < 20; k++) sij += qv[i * 20 + k] * qv[j * 20 + k];
            worst = fmax(worst, fabs(sij - (i == j)));
        }
    free(qv);
    CHECKF(worst < 1e-13, "orthogonal_ float64 rows orthonormal to %g", worst);
    dm_tensor_release(q);
    dm_tensor *dir = dm_tensor_new_dtype(3, (int64_t[]){ 2, 2, 3 }, DM_INT64);
    CHECK(dm_init_dirac_(dir, 1) == 0 && dm_get_i64(dir, (int64_t[]){ 1, 1, 1 }) == 1 &&
          dm_get_i64(dir, (int64_t[]){ 1, 0, 1 }) == 0, "dirac_ on int64");

    /* integer tensors: random float fills refuse, integer fills are exact */
    dm_tensor *it = dm_tensor_new_dtype(1, (int64_t[]){ 1000 }, DM_INT64);
    CHECK_ERR(dm_uniform_(it, 0, 1, g),
              "uniform_: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_normal_(it, 0, 1, g),
              "normal_: expected a floating point tensor, got int64 (use :float())");
    CHECK_ERR(dm_init_kaiming_uniform_(q = dm_tensor_new_dtype(2, (int64_t[]){ 2, 2 }, DM_INT64),
                                       0, NULL, NULL, g),
              "kaiming_uniform_: expected a floating point tensor, got int64 (use :float())");
    dm_tensor_release(q);
    int64_t base = ((int64_t)1 << 60) + 1;
    CHECK(dm_randint_(it, base, base + 10, g) == 0, "randint_ int64 near 2^60");
    const int64_t *iv = dm_data_ptr(it);
    int inr = 1, odd = 0;
    for (int i = 0; i < 1000; i++) { inr &= iv[i] >= base && iv[i] < base + 10; odd |= iv[i] & 1; }
    CHECK(inr && odd, "randint_ int64 near 2^60: exact values in range");
    CHECK(dm_bernoulli_(it, 0.5, g) == 0, "bernoulli_ int64");
    int64_t ones = 0, bad = 0;
    for (int i = 0; i < 1000; i++) { ones += iv[i]; bad += iv[i] != 0 && iv[i] != 1; }
    CHECKF(bad == 0 && ones > 400 && ones < 600, "bernoulli_ int64: %lld ones", (long long)ones);
    dm_tensor *bt = dm_tensor_new_dtype(1, (int64_t[]){ 100 }, DM_FLOAT64);
    CHECK(dm_bernoulli_(bt, 1, g) == 0 && dm_get_f64(bt, (int64_t[]){ 99 }) == 1, "bernoulli_ float64");
    /* a strided float64 view: only its elements are written */
    dm_tensor *whole = dm_tensor_zeros_dtype(2, (int64_t[]){ 4, 6 }, DM_FLOAT64);
    dm_tensor *col = dm_select(whole, 1, 2);
    dm_uniform_(col, 5, 6, g);
    double *wv = dvals(whole);
    int good = 1;
    for (int i = 0; i < 24; i++) good &= (i % 6 == 2) ? (wv[i] >= 5 && wv[i] < 6) : wv[i] == 0;
    free(wv);
    CHECK(good, "uniform_ on a strided float64 view writes only the view");
    dm_tensor *perm = dm_randperm(50, g);
    CHECK(perm && perm->dtype == DM_INT64, "randperm is int64");
    dm_tensor_release(perm);
    dm_tensor_release(col); dm_tensor_release(whole); dm_tensor_release(bt);
    dm_tensor_release(it); dm_tensor_release(dir); dm_tensor_release(t);
    dm_rng_free(g);
}

int main(void)
{
    tu_live start = tu_live_now();
    test_dgemm();
    test_matmul_f64();
    test_matmul_i64();
    test_grads_f64();
    test_views_f64();
    test_join();
    test_index_select_grad();
    test_optim_f64();
    test_init_rng();
    CHECK_NO_LEAKS(start);
    return TEST_END("test_dtype_linalg");
}
