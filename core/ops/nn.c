/* nn.c -- layers that need more than a chain of ops: dropout and batch norm.
 *
 * Both follow PyTorch 1.13 on the CPU: dropout multiplies by a mask of 0 and 1 / (1 - p)
 * drawn as bernoulli(1 - p) (the same draws as dm_bernoulli_(mask, 1 - p, g)); batch norm is
 * aten's native_batch_norm, statistics accumulated in double.  The functions here check,
 * allocate and record; the loops are the device's kernels (backend.h). */
#include "internal.h"
#include "backend.h"

/* the loops are the device's kernels (backend.h: dropout, dropout_bw, batch_norm,
   batch_norm_bw; backend/cpu/nn.c and nn_gen.h, the reference backend/ref/nn.c) */
#define DEV (dm__kernels(dm__cur_device))

/* ---- dropout -------------------------------------------------------------------------- */

dm_tensor *dm_dropout(const dm_tensor *x, double p, int training, dm_rng *g)
{
    if (!(p >= 0 && p <= 1)) {
        dm_seterr("dropout: probability has to be between 0 and 1, but got %g", p);
        return NULL;
    }
    dm__device_of(x);
    if (dm__need_float("dropout", x, "tensor")) return NULL;
    if (!training || p == 0) return dm_tensor_retain((dm_tensor *)x);
    if (!g) g = dm_default_rng();

    int64_t n = dm__numel(x);
    dm_tensor *mask = dm_tensor_new_dtype(x->ndim, x->shape, x->dtype);
    dm_tensor *out = mask ? dm_tensor_new_dtype(x->ndim, x->shape, x->dtype) : NULL;
    if (!out) { dm_tensor_release(mask); return NULL; }
    DEV->dropout(x->dtype, x, n, p, g, dm__ptr(mask), dm__ptr(out));

    const dm_tensor *ins[1] = { x };
    if (dm__needs_grad(1, ins)) {
        dm_node *nd = dm__record(DM_OP_DROPOUT, 0, out, 1, ins);
        if (!nd || !dm__save(nd, 0, mask)) {
            dm_tensor_release(mask); dm_tensor_release(out);
            return NULL;
        }
        nd->par.dropout.p = p;
    }
    dm_tensor_release(mask);
    return out;
}

int dm__bw_dropout(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                   dm_tensor **gin)
{
    if (!n->in[0]->requires_grad) return 0;
    const dm_tensor *mask = n->saved[0];          /* contiguous, x's shape and dtype */
    dm_dtype dt = mask->dtype;
    dm_tensor *hg, *gx = dm_tensor_new_dtype(gout->ndim, gout->shape, dt);
    const void *g = gx ? dm__contig_as(gout, dt, &hg) : NULL;
    if (!g) { dm_tensor_release(gx); return -1; }
    DEV->dropout_bw(dt, g, dm__ptr(mask), dm__ptr(gx), dm__numel(gout));
    dm_tensor_release(hg);
    gin[0] = gx;
    return 0;
}

/* ---- batch norm ----------------------------------------------------------------------- */

/* a parameter or running statistic: C elements of the input's dtype (as PyTorch, which
   refuses a float32 module's buffers for a float64 input) */
static int check_param(const char *what, const dm_tensor *t, int64_t C, dm_dtype dt)
{
    if (t && !(t->ndim == 1 && t->shape[0] == C)) {
        dm_seterr("batch_norm: %s should contain %lld elements not %lld", what, (long long)C,
                  (long long)dm_numel(t));
        return -1;
    }
    if (t && t->dtype != dt) {
        dm_seterr("batch_norm: %s is %s but the input is %s (convert the module or the input)",
                  what, dm_dtype_name(t->dtype), dm_dtype_name(dt));
        return -1;
    }
    return 0;
}

dm_tensor *dm_batch_norm(const dm_tensor *x, dm_tensor *running_mean, dm_tensor *running_var,
                         const dm_tensor *weight, const dm_tensor *bias, int training,
                         double momentum, double eps)
{
    char b[DM_SHAPE_BUF];
    if (dm__same_device("batch_norm", 5, (const dm_tensor *[]){ x, running_mean, running_var,
                                                                 weight, bias }) < 0)
        return NULL;
    if (x->ndim < 2) {
        dm_seterr("batch_norm: expected input [N x C] or [N x C x L], got %s", SHAPE(x, b));
        return NULL;
    }
    dm_dtype dt = x->dtype;
    if (dm__need_float("batch_norm", x, "input")) return NULL;
    // x is [N x C x L] (L = 1 for [N x C]; trailing dims beyond 3 fold into L)
    int64_t N = x->shape[0], C = x->shape[1], L = 1;
    for (int d = 2; d < x->ndim; d++) L *= x->shape[d];
    if (check_param("running_mean", running_mean, C, dt) ||
        check_param("running_var", running_var, C, dt) || check_param("weight", weight, C, dt) ||
        check_param("bias", bias, C, dt))
        return NULL;
    int64_t cnt = N * L;                  /* values per channel */
    if (training && cnt <= 1) {
        dm_seterr("batch_norm: expected more than 1 value per channel when training, got "
                  "input size %s", SHAPE(x, b));
        return NULL;
    }
    if (!training && (!running_mean || !running_var)) {
        dm_seterr("batch_norm: running_mean and running_var must be given when not training");
        return NULL;
    }

    dm_tensor *hx;
    const void *xd = dm__contig_as(x, dt, &hx);
    dm_tensor *out = xd ? dm_tensor_new_dtype(x->ndim, x->shape, dt) : NULL;
    dm_tensor *meant = out ? dm_tensor_new_dtype(1, &C, dt) : NULL;
    dm_tensor *invt = meant ? dm_tensor_new_dtype(1, &C, dt) : NULL;
    double *acc = invt ? calloc((size_t)(2 * C + 1), sizeof *acc) : NULL;
    if (!acc) {
        if (invt) dm_seterr("batch_norm: out of memory");
        dm_tensor_release(out); dm_tensor_release(meant); dm_tensor_release(invt);
        dm_tensor_release(hx);
        return NULL;
    }
    DEV->batch_norm(dt, xd, N, C, L, training, momentum, eps, running_mean, running_var, weight,
                    bias, acc, acc + C, dm__ptr(out), dm__ptr(meant), dm__ptr(invt));
    free(acc);
    dm_tensor_release(hx);
    /* the running statistics were updated in place (buffers no node reads: as in PyTorch,
       their versions move and nothing raises) */
    if (training && running_mean) dm__bump(running_mean);
    if (training && running_var) dm__bump(running_var);

    const dm_tensor *ins[3] = { x, weight, bias };
    if (dm__needs_grad(3, ins)) {
        dm_node *nd = dm__record(DM_OP_BATCHNORM, 0, out, 3, ins);
        if (!nd || !dm__save(nd, 0, meant) || !dm__save(nd, 1, invt)) {
            dm_tensor_release(out); dm_tensor_release(meant); dm_tensor_release(invt);
            return NULL;
        }
        nd->par.batchnorm.training = training ? 1 : 0;
        nd->par.batchnorm.eps = eps;
    }
    dm_tensor_release(meant);
    dm_tensor_release(invt);
    return out;
}

/* training:  dx = (g - mean(g) - xhat mean(g xhat)) invstd w   (the batch stats depend on x)
 * eval:      dx = g invstd w
 * both:      dw = sum(g xhat), db = sum(g) */
int dm__bw_batchnorm(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *gout,
                     dm_tensor **gin)
{
    const dm_tensor *x = n->in[0], *weight = n->in[1], *bias = n->in[2];
    int training = n->par.batchnorm.training;
    int want_x = x->requires_grad, want_w = weight && weight->requires_grad;
    int want_b = bias && bias->requires_grad;
    dm_dtype dt = x->dtype;
    int64_t N = x->shape[0], C = x->shape[1], L = 1;
    for (int d = 2; d < x->ndim; d++) L *= x->shape[d];

    dm_tensor *hx = NULL, *hg = NULL;
    const void *xd = dm__contig_as(x, dt, &hx);
    const void *g = xd ? dm__contig_as(gout, dt, &hg) : NULL;
    double *acc = g ? calloc((size_t)(2 * C + 1), sizeof *acc) : NULL;
    dm_tensor *gx = acc && want_x ? dm_tensor_new_dtype(x->ndim, x->shape, dt) : NULL;
    dm_tensor *gw = acc && want_w ? dm_tensor_new_dtype(1, &C, dt) : NULL;
    dm_tensor *gb = acc && want_b ? dm_tensor_new_dtype(1, &C, dt) : NULL;
    int rc = 0;
    if (!acc || (want_x && !gx) || (want_w && !gw) || (want_b && !gb)) {
        if (g && !acc) dm_seterr("batch_norm: out of memory");
        dm_tensor_release(gx); dm_tensor_release(gw); dm_tensor_release(gb);
        rc = -1;
    } else {
        DEV->batch_norm_bw(dt, xd, g, dm__ptr(n->saved[0]), dm__ptr(n->saved[1]), N, C, L,
                           training, weight, acc, acc + C, gx ? dm__ptr(gx) : NULL,
                           gw ? dm__ptr(gw) : NULL, gb ? dm__ptr(gb) : NULL);
    }
    free(acc);
    dm_tensor_release(hx);
    dm_tensor_release(hg);
    if (rc) return -1;
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    return 0;
}
