/* test_backend_ops.c -- every op of the op table on two devices, compared (ggml's
 * test-backend-ops): cpu (BLAS, vectorised loops) against cpu:ref (the naive reference
 * kernels), forward and backward, float32 and float64.
 *
 * The cases are test_optable.c's (included below, its main renamed), so an op added to the
 * table with its gradient case is compared here too, and an op without one fails there.  For
 * each case and dtype the same inputs are made on both devices; the op runs on each, and the
 * test checks that the result and every input's gradient sit on that device and agree:
 *   float32  relative 1e-5, and 1e-4 for the matrix products (BLAS sums in float in its own
 *            order, the reference in double)
 *   float64  relative 1e-12 (both sum in double; the orders differ only in the products)
 * Only the matrix products are behind the kernel table today (core/backend/backend.h); the
 * other ops run the same loops on both devices, and for them this checks that the device
 * propagates (results, temporaries, gradients) and the numbers agree.  A case that fails on
 * cpu for a dtype must fail on cpu:ref with the same message (printed as a note), so nothing
 * is skipped silently.  Backward starts from a float32 copy of the result (see run_on). */
#define main optable_main
int optable_main(void);
#include "test_optable.c"
#undef main
#include "../../core/backend/backend.h"

/* a value-for-value copy of t as doubles (any device: both hold host memory) */
static double *values_f64(const dm_tensor *t)
{
    double *v = malloc((size_t)(dm_numel(t) ? dm_numel(t) : 1) * sizeof *v);
    dm_to_buffer_dtype(t, v, DM_FLOAT64);
    return v;
}

static double rel_diff(const dm_tensor *a, const dm_tensor *b)
{
    if (!dm_same_shape(a, b)) return INFINITY;
    int64_t n = dm_numel(a);
    double *x = values_f64(a), *y = values_f64(b), worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(x[i] - y[i]), s = fmax(1.0, fmax(fabs(x[i]), fabs(y[i])));
        if (isnan(x[i]) && isnan(y[i])) continue;
        if (!(d / s <= worst)) worst = isnan(d) ? INFINITY : d / s;
    }
    free(x);
    free(y);
    return worst;
}

typedef struct {
    int ok;                     /* forward and backward ran */
    char err[256];
    dm_tensor *y;               /* the result */
    dm_tensor *g[3];            /* the inputs' gradients */
} outcome;

/* run case c on device dev in dtype dt: the inputs are test_optable's, converted */
static void run_on(const gcase *c, dm_dtype dt, int dev, outcome *o)
{
    memset(o, 0, sizeof *o);
    dm_tensor *in[3] = {0};
    for (int i = 0; i < c->n; i++) {
        dm_set_device(DM_CPU);
        dm_tensor *x = dm_tensor_new(c->ndim[i], c->shape[i]);
        tu_fill(x, c->lo, c->hi, (unsigned)(i + 3) * 17u + (unsigned)c->op);
        dm_tensor *xd = dm_to_dtype(x, dt);
        in[i] = dm_to_device(xd, dev);
        dm_tensor_release(x);
        dm_tensor_release(xd);
        dm_set_requires_grad(in[i], 1);
    }
    dm_set_device(dev);         /* what a case makes for itself (indices, targets) goes there */
    dm_tensor *y = c->f(in, NULL);
    if (!y) {
        snprintf(o->err, sizeof o->err, "%s", dm_errmsg());
    } else {
        dm_tensor *w = dm_tensor_new(y->ndim, y->shape);
        tu_fill(w, -1, 1, 7);
        /* backward from a float32 view of y: the engine seeds float32 today, and several
           rules (matmul, linear, index_select) read their incoming gradient as their own
           dtype; ToCopyBackward0 hands them float64 */
        dm_tensor *root = dm_is_floating(y->dtype) ? dm_to_dtype(y, DM_FLOAT32) : NULL;
        if (!root || dm_backward(root, w, 1) != 0) {
            snprintf(o->err, sizeof o->err, "backward: %s", dm_errmsg());
        } else {
            o->ok = 1;
            for (int i = 0; i < c->n; i++) o->g[i] = in[i]->grad ? dm_detach(in[i]->grad) : NULL;
        }
        dm_tensor_release(w);
        dm_tensor_release(root);
        o->y = dm_detach(y);
        dm_tensor_release(y);
    }
    for (int i = 0; i < c->n; i++) dm_tensor_release(in[i]);
    dm_set_device(DM_CPU);
}

static void outcome_free(outcome *o)
{
    dm_tensor_release(o->y);
    for (int i = 0; i < 3; i++) dm_tensor_release(o->g[i]);
}

static int ncompared, nnoted;

static void compare_case(const gcase *c, int sub)
{
    static const dm_dtype dts[2] = { DM_FLOAT32, DM_FLOAT64 };
    int gemm = c->op == DM_OP_MATMUL || c->op == DM_OP_LINEAR;
    for (int k = 0; k < 2; k++) {
        dm_dtype dt = dts[k];
        double tol = dt == DM_FLOAT32 ? (gemm ? 1e-4 : 1e-5) : 1e-12;
        outcome a, b;
        run_on(c, dt, DM_CPU, &a);
        run_on(c, dt, DM_CPU_REF, &b);
        char what[200];
        const char *dn = dm_dtype_name(dt);
        if (!a.ok) {
            printf("note: %s (sub %d) %s: fails on both devices alike: %s\n", c->name, sub, dn,
                   a.err);
            CHECKF(!b.ok && !strcmp(a.err, b.err), "%s (sub %d) %s: cpu:ref fails as cpu does "
                   "(cpu: %s; cpu:ref: %s)", c->name, sub, dn, a.err, b.ok ? "ran" : b.err);
            nnoted++;
        } else {
            CHECKF(b.ok, "%s (sub %d) %s runs on cpu:ref (%s)", c->name, sub, dn, b.err);
            if (b.ok) {
                ncompared++;
                CHECKF(dm_tensor_device(a.y) == DM_CPU && dm_tensor_device(b.y) == DM_CPU_REF,
                       "%s (sub %d) %s: results on their inputs' device (%s, %s)", c->name, sub,
                       dn, dm_device_name(dm_tensor_device(a.y)),
                       dm_device_name(dm_tensor_device(b.y)));
                double e = rel_diff(a.y, b.y);
                snprintf(what, sizeof what, "%s (sub %d) %s forward agrees (rel %.1e)", c->name,
                         sub, dn, e);
                CHECK(e <= tol, what);
                for (int i = 0; i < c->n; i++) {
                    CHECKF(!a.g[i] == !b.g[i], "%s (sub %d) %s: input %d has a gradient on both",
                           c->name, sub, dn, i);
                    if (!a.g[i] || !b.g[i]) continue;
                    CHECKF(dm_tensor_device(b.g[i]) == DM_CPU_REF, "%s (sub %d) %s: gradient %d "
                           "on cpu:ref, got %s", c->name, sub, dn, i,
                           dm_device_name(dm_tensor_device(b.g[i])));
                    e = rel_diff(a.g[i], b.g[i]);
                    snprintf(what, sizeof what, "%s (sub %d) %s gradient %d agrees (rel %.1e)",
                             c->name, sub, dn, i, e);
                    CHECK(e <= tol, what);
                }
            }
        }
        outcome_free(&a);
        outcome_free(&b);
    }
}

/* the device seam itself: to/from cpu:ref, its gradient, and the mismatch message */
static void test_seam(void)
{
    CHECK(!strcmp(dm_device_name(DM_CPU_REF), "cpu:ref") && dm_device_parse("cpu:ref") == DM_CPU_REF
          && dm_device_parse("cuda") == -1, "device names");
    CHECK(dm__kernels(DM_CPU_REF)->sgemm == dm_gemm_naive &&
          dm__kernels(DM_CPU_REF)->dgemm == dm_dgemm_naive && dm__kernels(DM_CPU)->sgemm == dm_gemm,
          "cpu:ref's table holds the naive gemm, cpu's the BLAS one");
    dm_tensor *x = tu_tensor(1, (int64_t[]){3}, (float[]){1, 2, 3});
    dm_set_requires_grad(x, 1);
    dm_tensor *r = dm_to_device(x, DM_CPU_REF);
    CHECK(r && dm_tensor_device(r) == DM_CPU_REF && dm_tensor_device(x) == DM_CPU,
          "to_device copies to cpu:ref");
    CHECK(r && dm_grad_fn_name(r) && !strcmp(dm_grad_fn_name(r), "ToCopyBackward0"),
          "to_device records ToCopyBackward0");
    dm_tensor *same = dm_to_device(r, DM_CPU_REF);
    CHECK(same == r, "to_device on the same device returns the tensor");
    dm_tensor_release(same);
    CHECK_ERR(dm_add(x, r), "add: expected all tensors on one device, got cpu and cpu:ref");
    CHECK_ERR(dm_matmul(r, x), "matmul: expected all tensors on one device, got cpu:ref and cpu");
    dm_tensor *sq = dm_mul(r, r);
    dm_tensor *s = sq ? dm_reduce(DM_RED_SUM, sq, DM_ALL, 0, 1) : NULL;
    CHECK(s && dm_tensor_device(s) == DM_CPU_REF, "ops on cpu:ref stay there");
    CHECK(s && dm_backward(s, NULL, 0) == 0, "backward through a device copy");
    CHECK(x->grad && dm_tensor_device(x->grad) == DM_CPU, "the gradient comes back to cpu");
    if (x->grad) tu_check_vals(x->grad, (double[]){2, 4, 6}, 3, 0, "d sum(x^2) = 2x");
    dm_tensor_release(s);
    dm_tensor_release(sq);
    dm_tensor_release(r);
    dm_tensor_release(x);
    dm_set_device(DM_CPU);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    test_seam();
    for (int op = DM_OP_NONE + 1; op < DM_OP_COUNT; op++) {
        if (op == DM_OP_UNARY) {
            for (int u = 0; u < DM_UN_COUNT; u++) {
                const gcase *c = find(op, u);
                cur_unop = (dm_unop)u;
                if (c) compare_case(c, u);
            }
        } else if (op == DM_OP_LOSS) {
            for (int l = 0; l < DM_LOSS_COUNT; l++) {
                const gcase *c = find(op, l);
                cur_loss = (dm_loss_kind)l;
                if (c) compare_case(c, l);
            }
        } else {
            int found = 0;
            for (int i = 0; i < NCASES; i++)
                if ((int)cases[i].op == op) { found = 1; compare_case(&cases[i], cases[i].sub); }
            CHECKF(found, "op %d (%s) has a case to compare", op, dm__opdef((dm_op)op)->name);
        }
    }
    printf("test_backend_ops: %d case-dtypes compared, %d failing alike on both devices\n",
           ncompared, nnoted);
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_backend_ops");
}
