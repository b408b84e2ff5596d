/*
 * test_linalg.c -- dm_gemm (BLAS and naive), dm_matmul and dm_linear (core/backend/, linalg.c).
 *
 * The references here are deliberately plain: a triple loop in double over logical indices
 * (dm_get), with torch.matmul's promotion rules spelled out case by case.
 */
#include "testutil.h"

/* ---- gemm ------------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C, the textbook way, in double */
static void ref_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, double beta,
                     const float *c0, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = (float)(alpha * s + (beta != 0 ? beta * c0[i * ldc + j] : 0));
        }
}

static float *rnd_buf(int64_t n, unsigned seed)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    tu_fill_buf(p, n, -1, 1, seed);
    return p;
}

static double worst_rel(const float *x, const float *ref, int64_t m, int64_t n, int64_t ld)
{
    double w = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double r = ref[i * ld + j], s = fabs(r) > 1 ? fabs(r) : 1;
            double e = fabs(x[i * ld + j] - r) / s;
            if (!(e <= w)) w = e;          /* NaN counts as worst */
        }
    return w;
}

static void test_gemm(void)
{
    static const int64_t sz[] = { 1, 17, 64, 129 };
    int saved = 1;
    unsigned seed = 1;
    double worst_naive = 0, worst_fast = 0;
    int cases = 0;
    for (int im = 0; im < 4; im++)
    for (int in = 0; in < 4; in++)
    for (int ik = 0; ik < 4; ik++)
    for (int tr = 0; tr < 4; tr++) {
        int64_t m = sz[im], n = sz[in], k = sz[ik];
        int ta = tr & 1, tb = tr >> 1;
        /* leading dims padded past the row length on some cases */
        int64_t pad = (im + in + ik + tr) % 3;
        int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        float *a = rnd_buf((ta ? k : m) * lda, seed++);
        float *b = rnd_buf((tb ? n : k) * ldb, seed++);
        float *c0 = rnd_buf(m * ldc, seed++);
        float *ref = malloc((size_t)(m * ldc) * sizeof *ref);
        float *c1 = malloc((size_t)(m * ldc) * sizeof *c1);
        float *c2 = malloc((size_t)(m * ldc) * sizeof *c2);
        float alpha = (tr & 1) ? 0.75f : 1.0f, beta = (tr == 3) ? -0.5f : (tr == 1 ? 1.0f : 0.0f);
        ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ref, ldc);
        memcpy(c1, c0, (size_t)(m * ldc) * sizeof *c1);
        memcpy(c2, c0, (size_t)(m * ldc) * sizeof *c2);
        if (beta == 0) {                  /* C must not be read: poison it */
            for (int64_t i = 0; i < m * ldc; i++) c1[i] = c2[i] = NAN;
        }
        dm_gemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
        dm_set_use_blas(1);
        dm_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
        double wn = worst_rel(c1, ref, m, n, ldc), wf = worst_rel(c2, ref, m, n, ldc);
        double wx = worst_rel(c2, c1, m, n, ldc);
        CHECKF(wn <= 1e-6, "naive gemm m=%lld n=%lld k=%lld ta=%d tb=%d: rel err %g",
               (long long)m, (long long)n, (long long)k, ta, tb, wn);
        CHECKF(wx <= 1e-4, "dm_gemm vs naive m=%lld n=%lld k=%lld ta=%d tb=%d: rel err %g",
               (long long)m, (long long)n, (long long)k, ta, tb, wx);
        /* padding after each row of C is left alone */
        int untouched = 1;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = n; j < ldc; j++)
                if (!(c2[i * ldc + j] == c0[i * ldc + j] || (beta == 0 && isnan(c2[i * ldc + j]))))
                    untouched = 0;
        CHECK(untouched, "gemm leaves C's row padding alone");
        if (wn > worst_naive) worst_naive = wn;
        if (wf > worst_fast) worst_fast = wf;
        cases++;
        free(a); free(b); free(c0); free(ref); free(c1); free(c2);
    }
    printf("gemm: %d cases, BLAS %s; worst rel err naive %.2g, dm_gemm %.2g\n", cases,
           dm_have_blas() ? "on" : "not built", worst_naive, worst_fast);
    dm_set_use_blas(saved);

    /* k = 0 scales C by beta (and zeroes it when beta = 0) on both paths */
    for (int blas = 0; blas < 2; blas++) {
        dm_set_use_blas(blas);
        float c[4] = { 1, 2, NAN, 4 }, a1[1] = { 0 }, b1[1] = { 0 };
        dm_gemm(0, 0, 2, 2, 0, 1.0f, a1, 0, b1, 0, 0.0f, c, 2);
        CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == 0, "gemm k=0 beta=0 zeroes C");
        float d[4] = { 1, 2, 3, 4 };
        dm_gemm(0, 0, 2, 2, 0, 1.0f, a1, 0, b1, 0, 2.0f, d, 2);
        CHECK(d[0] == 2 && d[3] == 8, "gemm k=0 beta=2 scales C");
        /* m = 0 / n = 0 touch nothing */
        float e[1] = { 5 };
        dm_gemm(0, 0, 0, 1, 3, 1.0f, a1, 3, b1, 1, 0.0f, e, 1);
        dm_gemm(1, 1, 1, 0, 3, 1.0f, a1, 1, b1, 3, 0.0f, e, 1);
        CHECK(e[0] == 5, "gemm m=0 or n=0 writes nothing");
        /* a small hand-computed product: [[1,2],[3,4]] @ [[5,6],[7,8]] */
        float A[4] = { 1, 2, 3, 4 }, B[4] = { 5, 6, 7, 8 }, C[4];
        dm_gemm(0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
        CHECK(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50, "gemm 2x2 by hand");
        dm_gemm(1, 1, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);   /* A^T B^T */
        CHECK(C[0] == 23 && C[1] == 31 && C[2] == 34 && C[3] == 46, "gemm A^T B^T by hand");
    }
    dm_set_use_blas(1);
}

/* ---- matmul forward ----------------------------------------------------------------- */

/* torch.matmul in double: a as [Ba x m x k] (1-D: a row vector), b as [Bb x k x n]
 * (1-D: a column vector), batch broadcast; out is written row-major [nbo x m x n]. */
static void ref_matmul(const dm_tensor *a, const dm_tensor *b, double *out)
{
    int64_t Ba = a->ndim == 3 ? a->shape[0] : 1, Bb = b->ndim == 3 ? b->shape[0] : 1;
    int64_t m = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1, k = a->shape[a->ndim - 1];
    int64_t n = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
    int64_t nbo = Ba == 1 ? Bb : Ba;
    for (int64_t z = 0; z < nbo; z++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) {
                    int64_t ia[3], ib[3];
                    if (a->ndim == 1) ia[0] = p;
                    else if (a->ndim == 2) { ia[0] = i; ia[1] = p; }
                    else { ia[0] = Ba == 1 ? 0 : z; ia[1] = i; ia[2] = p; }
                    if (b->ndim == 1) ib[0] = p;
                    else if (b->ndim == 2) { ib[0] = p; ib[1] = j; }
                    else { ib[0] = Bb == 1 ? 0 : z; ib[1] = p; ib[2] = j; }
                    s += (double)dm_get(a, ia) * dm_get(b, ib);
                }
                out[(z * m + i) * n + j] = s;
            }
}

typedef struct {
    int na; int64_t sa[3];
    int nb; int64_t sb[3];
    int no; int64_t so[3];
    int sub;                    /* expected grad_fn variant: 0 mm 1 dot 2 mv 3 bmm 4 vm */
} mm_case;

static const mm_case mm_cases[] = {
    { 1, {5}, 1, {5}, 0, {0}, 1 },
    { 2, {3, 5}, 1, {5}, 1, {3}, 2 },
    { 1, {5}, 2, {5, 4}, 1, {4}, 4 },
    { 2, {3, 5}, 2, {5, 4}, 2, {3, 4}, 0 },
    { 3, {2, 3, 5}, 3, {2, 5, 4}, 3, {2, 3, 4}, 3 },
    { 3, {1, 3, 5}, 3, {4, 5, 2}, 3, {4, 3, 2}, 3 },
    { 3, {4, 3, 5}, 3, {1, 5, 2}, 3, {4, 3, 2}, 3 },
    { 3, {4, 3, 5}, 2, {5, 2}, 3, {4, 3, 2}, 3 },
    { 2, {3, 5}, 3, {4, 5, 2}, 3, {4, 3, 2}, 3 },
    { 3, {4, 3, 5}, 1, {5}, 2, {4, 3}, 3 },
    { 1, {5}, 3, {4, 5, 2}, 2, {4, 2}, 3 },
    { 2, {1, 1}, 2, {1, 1}, 2, {1, 1}, 0 },
    { 2, {17, 64}, 2, {64, 129}, 2, {17, 129}, 0 },
    { 3, {3, 17, 33}, 2, {33, 9}, 3, {3, 17, 9}, 3 },
    /* empty: k = 0 gives zeros, m = 0 or batch 0 give empty results */
    { 2, {2, 0}, 2, {0, 3}, 2, {2, 3}, 0 },
    { 2, {0, 4}, 2, {4, 3}, 2, {0, 3}, 0 },
    { 3, {0, 2, 4}, 3, {1, 4, 3}, 3, {0, 2, 3}, 3 },
    { 1, {0}, 1, {0}, 0, {0}, 1 },
};
#define N_MM_CASES ((int)(sizeof mm_cases / sizeof mm_cases[0]))

static void check_against_ref(const dm_tensor *a, const dm_tensor *b, const mm_case *c,
                              const char *what, int ci)
{
    dm_tensor *out = dm_matmul(a, b);
    CHECKF(out != NULL, "%s case %d: matmul failed: %s", what, ci, dm_errmsg());
    if (!out) return;
    int shape_ok = out->ndim == c->no;
    for (int d = 0; shape_ok && d < c->no; d++) shape_ok = out->shape[d] == c->so[d];
    CHECKF(shape_ok, "%s case %d: output shape", what, ci);
    int64_t n = dm_numel(out);
    double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    float *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    ref_matmul(a, b, ref);
    dm_to_buffer(out, got);
    double w = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]) / (fabs(ref[i]) > 1 ? fabs(ref[i]) : 1);
        if (!(e <= w)) w = e;
    }
    CHECKF(w <= 1e-5, "%s case %d: worst rel err %g", what, ci, w);
    free(ref); free(got);
    dm_tensor_release(out);
}

static void test_matmul_forward(void)
{
    /* hand-computed values */
    dm_tensor *A = tu_tensor(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    dm_tensor *B = tu_tensor(2, (int64_t[]){2, 2}, (float[]){5, 6, 7, 8});
    dm_tensor *C = dm_matmul(A, B);
    float *c = dm_data(C);
    CHECK(C->ndim == 2 && c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50, "mm by hand");
    dm_tensor_release(C);
    dm_tensor *u = tu_tensor(1, (int64_t[]){2}, (float[]){1, -1});
    C = dm_matmul(A, u);            /* [[1,2],[3,4]] @ [1,-1] = [-1, -1] */
    CHECK(C->ndim == 1 && C->shape[0] == 2 && dm_data(C)[0] == -1 && dm_data(C)[1] == -1,
          "mv by hand");
    dm_tensor_release(C);
    C = dm_matmul(u, A);            /* [1,-1] @ [[1,2],[3,4]] = [-2, -2] */
    CHECK(C->ndim == 1 && dm_data(C)[0] == -2 && dm_data(C)[1] == -2, "vm by hand");
    dm_tensor_release(C);
    dm_tensor *v1 = tu_tensor(1, (int64_t[]){3}, (float[]){1, 2, 3});
    dm_tensor *v2 = tu_tensor(1, (int64_t[]){3}, (float[]){4, 5, 6});
    C = dm_matmul(v1, v2);
    CHECK(C->ndim == 0 && dm_data(C)[0] == 32, "dot by hand is a 0-dim 32");
    dm_tensor_release(C);
    dm_tensor_release(A); dm_tensor_release(B); dm_tensor_release(u);
    dm_tensor_release(v1); dm_tensor_release(v2);

    for (int blas = 0; blas < 2; blas++) {
        dm_set_use_blas(blas);
        for (int ci = 0; ci < N_MM_CASES; ci++) {
            const mm_case *cs = &mm_cases[ci];
            dm_tensor *a = tu_rand(cs->na, cs->sa, -1, 1, 100 + ci);
            dm_tensor *b = tu_rand(cs->nb, cs->sb, -1, 1, 200 + ci);
            check_against_ref(a, b, cs, blas ? "matmul (blas)" : "matmul (naive)", ci);
            dm_tensor_release(a); dm_tensor_release(b);
        }
    }
    dm_set_use_blas(1);
}

/* the same products on non-contiguous inputs: transposed, row-padded, batch-permuted and
 * strided (the last forces the copy path) must give the contiguous results */
static void test_matmul_noncontig(void)
{
    for (int ci = 0; ci < N_MM_CASES; ci++) {
        const mm_case *cs = &mm_cases[ci];
        dm_tensor *a = tu_rand(cs->na, cs->sa, -1, 1, 300 + ci);
        dm_tensor *b = tu_rand(cs->nb, cs->sb, -1, 1, 400 + ci);
        dm_tensor *want = dm_matmul(a, b);
        for (int kind = 0; kind < 4; kind++) {
            dm_tensor *x[2] = { a, b }, *y[2];
            for (int s = 0; s < 2; s++) {
                int nd = x[s]->ndim;
                int order[3] = { 0, 1, 2 };
                if (kind == 0) { y[s] = tu_transposed_copy(x[s]); continue; }
                if (kind == 1) { y[s] = tu_strided_copy(x[s], order, 1, 3); continue; }
                if (kind == 2 && nd == 3) {      /* stored [r x B x c] */
                    int o2[3] = { 1, 0, 2 };
                    y[s] = tu_strided_copy(x[s], o2, 1, 0);
                    continue;
                }
                y[s] = tu_strided_copy(x[s], order, 2, 1);
            }
            for (int mix = 0; mix < 3; mix++) {   /* a only, b only, both */
                const dm_tensor *p = mix == 1 ? a : y[0], *q = mix == 0 ? b : y[1];
                dm_tensor *got = dm_matmul(p, q);
                CHECKF(tu_same_values(got, want, 1e-5),
                       "matmul non-contiguous case %d kind %d mix %d", ci, kind, mix);
                dm_tensor_release(got);
            }
            dm_tensor_release(y[0]); dm_tensor_release(y[1]);
        }
        dm_tensor_release(want);
        dm_tensor_release(a); dm_tensor_release(b);
    }
    /* a stride-0 (expanded) operand and a 1-D vector with a stride */
    dm_tensor *a = tu_rand(2, (int64_t[]){3, 4}, -1, 1, 11);
    dm_tensor *ones = dm_tensor_full(1, (int64_t[]){4}, 2.0f);
    dm_tensor *buf = dm_tensor_scalar(2.0f);
    dm_tensor *ex = dm_tensor_alias(buf, 1, (int64_t[]){4}, (int64_t[]){0}, 0);
    dm_tensor *w1 = dm_matmul(a, ones), *w2 = dm_matmul(a, ex);
    CHECK(tu_same_values(w2, w1, 1e-6), "matmul with an expanded (stride 0) vector");
    dm_tensor *e2 = dm_tensor_alias(buf, 2, (int64_t[]){4, 3}, (int64_t[]){0, 0}, 0);
    dm_tensor *full2 = dm_tensor_full(2, (int64_t[]){4, 3}, 2.0f);
    dm_tensor *w3 = dm_matmul(a, e2), *w4 = dm_matmul(a, full2);
    CHECK(tu_same_values(w3, w4, 1e-6), "matmul with an expanded (stride 0) matrix");
    dm_tensor_release(w1); dm_tensor_release(w2); dm_tensor_release(w3); dm_tensor_release(w4);
    dm_tensor_release(ex); dm_tensor_release(e2); dm_tensor_release(full2);
    dm_tensor_release(buf); dm_tensor_release(ones); dm_tensor_release(a);
}

/* ---- gradients -------------------------------------------------------------------- */

/* ctx: bit 0 transposes in[0] first (a view, so the transposed path runs in backward),
 * bit 1 transposes in[1] first */
static dm_tensor *f_matmul(dm_tensor *const *in, void *ctx)
{
    int flags = ctx ? *(int *)ctx : 0;
    dm_tensor *a = in[0], *b = in[1];
    dm_tensor *ta = NULL, *tb = NULL;
    if (flags & 1) a = ta = dm_transpose(in[0], -1, -2);
    if (flags & 2) b = tb = dm_transpose(in[1], -1, -2);
    dm_tensor *y = dm_matmul(a, b);
    dm_tensor_release(ta); dm_tensor_release(tb);
    return y;
}

static dm_tensor *f_linear(dm_tensor *const *in, void *ctx)
{
    int flags = ctx ? *(int *)ctx : 0;
    dm_tensor *x = in[0], *w = in[1];
    dm_tensor *tx = NULL, *tw = NULL;
    if (flags & 1) x = tx = dm_transpose(in[0], 0, 1);
    if (flags & 2) w = tw = dm_transpose(in[1], 0, 1);
    dm_tensor *y = dm_linear(x, w, (flags & 4) ? NULL : in[2]);
    dm_tensor_release(tx); dm_tensor_release(tw);
    return y;
}

static void gc_matmul(int na, const int64_t *sa, int nb, const int64_t *sb, int flags,
                      const char *what)
{
    dm_tensor *in[2] = { tu_rand(na, sa, -1, 1, 21), tu_rand(nb, sb, -1, 1, 22) };
    dm_set_requires_grad(in[0], 1);
    dm_set_requires_grad(in[1], 1);
    double e = gradcheck(f_matmul, 2, in, &flags, 1e-3);
    CHECKF(e < 1e-2, "gradcheck %s (flags %d): %g", what, flags, e);
    dm_tensor_release(in[0]); dm_tensor_release(in[1]);
}

static void test_matmul_grad(void)
{
    for (int blas = 0; blas < 2; blas++) {
        dm_set_use_blas(blas);
        for (int ci = 0; ci < N_MM_CASES; ci++) {
            const mm_case *cs = &mm_cases[ci];
            if (cs->na == 2 && cs->sa[0] == 17) continue;     /* large: the forward covers it */
            gc_matmul(cs->na, cs->sa, cs->nb, cs->sb, 0, "matmul");
        }
        /* transposed views in the graph: mm and bmm (broadcast too) on every side; the
           shapes are the logical ones, stored with the last two dims swapped when viewed */
        for (int f = 1; f < 4; f++) {
            static const struct { int na; int64_t sa[3]; int nb; int64_t sb[3]; } tc[] = {
                { 2, {3, 5}, 2, {5, 4} }, { 3, {2, 3, 5}, 3, {2, 5, 4} },
                { 3, {1, 3, 5}, 3, {3, 5, 4} }, { 3, {3, 3, 5}, 2, {5, 4} },
                { 2, {3, 5}, 3, {2, 5, 4} },
            };
            for (int t = 0; t < 5; t++) {
                int64_t sa[3], sb[3];
                memcpy(sa, tc[t].sa, sizeof sa);
                memcpy(sb, tc[t].sb, sizeof sb);
                int na = tc[t].na, nb = tc[t].nb;
                if (f & 1) { int64_t x = sa[na - 1]; sa[na - 1] = sa[na - 2]; sa[na - 2] = x; }
                if (f & 2) { int64_t x = sb[nb - 1]; sb[nb - 1] = sb[nb - 2]; sb[nb - 2] = x; }
                gc_matmul(na, sa, nb, sb, f, "matmul of transposed views");
            }
        }
    }
    dm_set_use_blas(1);

    /* only one side requiring grad; the other gets none */
    dm_tensor *a = tu_rand(2, (int64_t[]){2, 3}, -1, 1, 1);
    dm_tensor *b = tu_rand(2, (int64_t[]){3, 2}, -1, 1, 2);
    dm_set_requires_grad(a, 1);
    dm_tensor *y = dm_matmul(a, b);
    dm_tensor *g = dm_tensor_full(2, (int64_t[]){2, 2}, 1.0f);
    CHECK(dm_backward(y, g, 0) == 0 && a->grad && !b->grad, "matmul grad reaches a only");
    /* d/da sum(a @ b) = ones @ b^T: row i holds the row sums of b */
    float *bd = dm_data(b);
    CHECK_NEAR(dm_data(a->grad)[1], bd[2] + bd[3], 1e-6, "matmul grad value");
    dm_tensor_release(y); dm_tensor_release(g); dm_tensor_release(a); dm_tensor_release(b);

    /* grad_fn names follow PyTorch */
    static const char *names[] = { "MmBackward0", "DotBackward0", "MvBackward0",
                                   "BmmBackward0", "SqueezeBackward1" };
    for (int ci = 0; ci < 11; ci++) {
        const mm_case *cs = &mm_cases[ci];
        dm_tensor *p = tu_rand(cs->na, cs->sa, -1, 1, 5), *q = tu_rand(cs->nb, cs->sb, -1, 1, 6);
        dm_set_requires_grad(p, 1);
        dm_tensor *r = dm_matmul(p, q);
        const char *nm = r ? dm_grad_fn_name(r) : NULL;
        CHECKF(nm && strcmp(nm, names[cs->sub]) == 0, "case %d grad_fn %s, expected %s", ci,
               nm ? nm : "(none)", names[cs->sub]);
        dm_tensor_release(r);
        int prev = dm_set_grad_enabled(0);
        r = dm_matmul(p, q);
        CHECK(r && !r->requires_grad && !dm_grad_fn_name(r), "no node under no_grad");
        dm_tensor_release(r);
        dm_set_grad_enabled(prev);
        dm_tensor_release(p); dm_tensor_release(q);
    }
}

/* ---- linear ----------------------------------------------------------------------- */

static void test_linear(void)
{
    dm_tensor *x = tu_tensor(2, (int64_t[]){2, 2}, (float[]){1, 2, -1, 0});
    dm_tensor *w = tu_tensor(2, (int64_t[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1});
    dm_tensor *b = tu_tensor(1, (int64_t[]){3}, (float[]){0.5f, -1, 0});
    dm_tensor *y = dm_linear(x, w, b);
    float want[6] = { 1.5f, 1, 3, -0.5f, -1, -1 };
    int ok = y && y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3;
    for (int i = 0; ok && i < 6; i++) ok = dm_data(y)[i] == want[i];
    CHECK(ok, "linear by hand");
    dm_tensor_release(y);
    y = dm_linear(x, w, NULL);
    CHECK(y && dm_data(y)[0] == 1 && dm_data(y)[2] == 3 && dm_data(y)[5] == -1,
          "linear without bias by hand");
    dm_tensor_release(y);
    dm_tensor *x1 = tu_tensor(1, (int64_t[]){2}, (float[]){1, 2});
    y = dm_linear(x1, w, b);
    CHECK(y && y->ndim == 1 && y->shape[0] == 3 && dm_data(y)[0] == 1.5f && dm_data(y)[2] == 3,
          "linear of a 1-D input gives [out]");
    dm_tensor_release(y);
    dm_tensor_release(x1);

    /* against a double reference, both gemm paths, several shapes (including N = 1 and
       N = 0, and both sides of the in-place path's 256 multiply-adds) */
    static const int64_t shapes[][3] = { {1, 1, 1}, {4, 3, 5}, {17, 64, 129}, {129, 17, 1},
                                         {0, 3, 2}, {3, 0, 2}, {8, 4, 8}, {1, 257, 1} };
    for (int blas = 0; blas < 2; blas++) {
        dm_set_use_blas(blas);
        for (int s = 0; s < 8; s++) {
            int64_t N = shapes[s][0], I = shapes[s][1], O = shapes[s][2];
            dm_tensor *xx = tu_rand(2, (int64_t[]){N, I}, -1, 1, 31 + s);
            dm_tensor *ww = tu_rand(2, (int64_t[]){O, I}, -1, 1, 41 + s);
            dm_tensor *bb = tu_rand(1, (int64_t[]){O}, -1, 1, 51 + s);
            dm_tensor *yy = dm_linear(xx, ww, bb);
            double worst = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < O; j++) {
                    double r = dm_data(bb)[j];
                    for (int64_t p = 0; p < I; p++)
                        r += (double)dm_data(xx)[i * I + p] * dm_data(ww)[j * I + p];
                    double e = fabs(dm_data(yy)[i * O + j] - r) / (fabs(r) > 1 ? fabs(r) : 1);
                    if (!(e <= worst)) worst = e;
                }
            CHECKF(yy && yy->shape[0] == N && yy->shape[1] == O && worst < 1e-5,
                   "linear [%lld x %lld] -> %lld (blas %d): err %g", (long long)N, (long long)I,
                   (long long)O, blas, worst);
            /* non-contiguous x, w and b give the same values */
            dm_tensor *xt = tu_transposed_copy(xx), *wt = tu_transposed_copy(ww);
            int o1[1] = { 0 };
            dm_tensor *bs = tu_strided_copy(bb, o1, 3, 0);
            dm_tensor *y2 = dm_linear(xt, wt, bs);
            CHECKF(tu_same_values(y2, yy, 1e-5),
                   "linear on transposed x, w, strided b (case %d)", s);
            dm_tensor_release(y2);
            int o2[2] = { 0, 1 };
            dm_tensor *xs = tu_strided_copy(xx, o2, 2, 1);
            y2 = dm_linear(xs, ww, bb);
            CHECKF(tu_same_values(y2, yy, 1e-5), "linear on a strided x (case %d)", s);
            dm_tensor_release(y2);
            dm_tensor_release(xs); dm_tensor_release(xt); dm_tensor_release(wt); dm_tensor_release(bs);
            dm_tensor_release(xx); dm_tensor_release(ww); dm_tensor_release(bb); dm_tensor_release(yy);
        }
    }
    dm_set_use_blas(1);

    /* a 3-D input [B x T x in] works like PyTorch's F.linear over the leading dims */
    dm_tensor *x3 = tu_rand(3, (int64_t[]){2, 3, 2}, -1, 1, 61);
    dm_tensor *y3 = dm_linear(x3, w, b);
    CHECK(y3 && y3->ndim == 3 && y3->shape[0] == 2 && y3->shape[1] == 3 && y3->shape[2] == 3,
          "linear of [2 x 3 x 2] gives [2 x 3 x 3]");
    if (y3) {
        float *xv = dm_data(x3);
        CHECK_NEAR(dm_data(y3)[(1 * 3 + 2) * 3 + 2], xv[(1 * 3 + 2) * 2] + xv[(1 * 3 + 2) * 2 + 1],
                   1e-6, "linear 3-D value");
    }
    int perm3[3] = { 1, 0, 2 };
    dm_tensor *x3p = tu_strided_copy(x3, perm3, 1, 0);
    dm_tensor *y3p = dm_linear(x3p, w, b);
    CHECK(tu_same_values(y3p, y3, 1e-6), "linear of a non-contiguous 3-D input");
    dm_tensor_release(y3p); dm_tensor_release(x3p);
    dm_tensor_release(y3); dm_tensor_release(x3);

    /* grad_fn names */
    dm_set_requires_grad(w, 1);
    y = dm_linear(x, w, b);
    CHECK(y && dm_grad_fn_name(y) && !strcmp(dm_grad_fn_name(y), "AddmmBackward0"),
          "linear with bias is AddmmBackward0");
    dm_tensor_release(y);
    y = dm_linear(x, w, NULL);
    CHECK(y && dm_grad_fn_name(y) && !strcmp(dm_grad_fn_name(y), "MmBackward0"),
          "linear without bias is MmBackward0");
    dm_tensor_release(y);
    dm_tensor_release(x); dm_tensor_release(w); dm_tensor_release(b);

    /* gradients: with and without bias, transposed x and w in the graph, 1-D and 3-D x */
    for (int blas = 0; blas < 2; blas++) {
        dm_set_use_blas(blas);
        for (int flags = 0; flags < 8; flags++) {
            int64_t sx[2] = { 4, 3 }, sw[2] = { 5, 3 };
            if (flags & 1) { sx[0] = 3; sx[1] = 4; }
            if (flags & 2) { sw[0] = 3; sw[1] = 5; }
            dm_tensor *in[3] = { tu_rand(2, sx, -1, 1, 71), tu_rand(2, sw, -1, 1, 72),
                                 tu_rand(1, (int64_t[]){5}, -1, 1, 73) };
            for (int i = 0; i < 3; i++) dm_set_requires_grad(in[i], 1);
            double e = gradcheck(f_linear, 3, in, &flags, 1e-3);
            CHECKF(e < 1e-2, "gradcheck linear flags %d (blas %d): %g", flags, blas, e);
            if (flags & 4) CHECK(in[2]->grad == NULL, "no bias grad when bias is unused");
            for (int i = 0; i < 3; i++) dm_tensor_release(in[i]);
        }
        for (int nd = 1; nd <= 3; nd += 2) {
            int64_t sx[3] = { 2, 3, 4 };
            dm_tensor *in[3] = { nd == 1 ? tu_rand(1, (int64_t[]){4}, -1, 1, 81)
                                           : tu_rand(3, sx, -1, 1, 81),
                                 tu_rand(2, (int64_t[]){5, 4}, -1, 1, 82),
                                 tu_rand(1, (int64_t[]){5}, -1, 1, 83) };
            for (int i = 0; i < 3; i++) dm_set_requires_grad(in[i], 1);
            int flags = 0;
            double e = gradcheck(f_linear, 3, in, &flags, 1e-3);
            CHECKF(e < 1e-2, "gradcheck linear of a %d-D input: %g", nd, e);
            for (int i = 0; i < 3; i++) dm_tensor_release(in[i]);
        }
    }
    dm_set_use_blas(1);
}

/* ---- errors ----------------------------------------------------------------------- */

static void test_errors(void)
{
    dm_tensor *a = dm_tensor_zeros(2, (int64_t[]){2, 3});
    dm_tensor *b = dm_tensor_zeros(2, (int64_t[]){4, 5});
    CHECK_ERR(dm_matmul(a, b), "matmul: shape mismatch: a [2 x 3], b [4 x 5]");
    dm_tensor *v3 = dm_tensor_zeros(1, (int64_t[]){3}), *v4 = dm_tensor_zeros(1, (int64_t[]){4});
    CHECK_ERR(dm_matmul(v3, v4), "matmul: shape mismatch: a [3], b [4]");
    CHECK_ERR(dm_matmul(b, v3), "matmul: shape mismatch: a [4 x 5], b [3]");
    CHECK_ERR(dm_matmul(v4, a), "matmul: shape mismatch: a [4], b [2 x 3]");
    dm_tensor *s = dm_tensor_scalar(1);
    CHECK_ERR(dm_matmul(s, v3),
              "matmul: both arguments need at least 1 dimension, got a [] and b [3]");
    CHECK_ERR(dm_matmul(v3, s),
              "matmul: both arguments need at least 1 dimension, got a [3] and b []");
    dm_tensor *p = dm_tensor_zeros(3, (int64_t[]){2, 3, 4}), *q = dm_tensor_zeros(3, (int64_t[]){5, 4, 2});
    CHECK_ERR(dm_matmul(p, q), "matmul: batch dimensions differ: a [2 x 3 x 4], b [5 x 4 x 2]");
    dm_tensor *q2 = dm_tensor_zeros(3, (int64_t[]){2, 5, 2});
    CHECK_ERR(dm_matmul(p, q2), "matmul: shape mismatch: a [2 x 3 x 4], b [2 x 5 x 2]");
    dm_tensor *f4 = dm_tensor_zeros(4, (int64_t[]){1, 2, 3, 4});
    CHECK_ERR(dm_matmul(f4, v3), "matmul: shape mismatch: a [1 x 2 x 3 x 4], b [3]");

    dm_tensor *x = dm_tensor_zeros(2, (int64_t[]){16, 32});
    dm_tensor *w = dm_tensor_zeros(2, (int64_t[]){5, 3});
    CHECK_ERR(dm_linear(x, w, NULL), "linear: expected input [N x 3], got [16 x 32]");
    CHECK_ERR(dm_linear(s, w, NULL), "linear: expected input [N x 3], got []");
    dm_tensor *x2 = dm_tensor_zeros(2, (int64_t[]){16, 3});
    CHECK_ERR(dm_linear(x2, w, v4), "linear: expected bias [5], got [4]");
    CHECK_ERR(dm_linear(x2, w, a), "linear: expected bias [5], got [2 x 3]");
    CHECK_ERR(dm_linear(x2, v3, NULL), "linear: weight must be 2-D [out x in], got [3]");
    dm_tensor *list[] = { a, b, v3, v4, s, p, q, q2, f4, x, w, x2 };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) dm_tensor_release(list[i]);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_gemm();
    test_matmul_forward();
    test_matmul_noncontig();
    test_matmul_grad();
    test_linear();
    test_errors();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_linalg");
}
