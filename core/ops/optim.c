/* optim.c -- parameter updates of SGD, Adam and AdamW, written in place.
 *
 * These are PyTorch 1.13's single-tensor ("for-loop") implementations in torch/optim/sgd.py
 * and adam.py / adamw.py, one element at a time, with the same float32 operations in the
 * same order: each tensor op there (mul_, add_ with alpha, addcmul_, addcdiv_, sqrt, div by
 * a Python float) becomes one float expression here, its scalar rounded to float first as
 * aten does.  Scalars PyTorch computes in Python (bias corrections, step size) are doubles.
 * aten's CPU kernels (AVX2 and up) compute `a.add_(b, alpha=s)` as fma(b, s, a) and
 * `a.addcmul_(b, c, value=s)` as fma(s * b, c, a), with one rounding: so do we, with fmaf,
 * which makes the results bit-identical to PyTorch's on such machines.
 *
 * Callers run these with grad mode off (optimizers do); no autograd is recorded.  The
 * functions here check and gather the tensors; the update loops are the device's kernels
 * (backend.h: sgd, adam; backend/cpu/optim.c, the reference backend/ref/optim.c). */
#include "internal.h"
#include "backend.h"

/* every state tensor must have p's shape */
static int check_same(const char *fn, const char *what, const dm_tensor *t, const dm_tensor *p)
{
    if (t && !dm_same_shape(t, p)) {
        char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
        dm_seterr("%s: %s size %s differs from parameter size %s", fn, what, SHAPE(t, b1),
                  SHAPE(p, b2));
        return -1;
    }
    return 0;
}

/* Parameters and their state are float32 or float64 (PyTorch keeps the state in the
 * parameter's dtype); every tensor of one step has the parameter's dtype. */
static int check_dtype(const char *fn, const char *what, const dm_tensor *t, const dm_tensor *p)
{
    if (t && t->dtype != p->dtype) {
        dm_seterr("%s: %s dtype %s differs from parameter dtype %s", fn, what,
                  dm_dtype_name(t->dtype), dm_dtype_name(p->dtype));
        return -1;
    }
    return 0;
}

static int check_param(const char *fn, const dm_tensor *p)
{
    if (p->dtype != DM_FLOAT32 && p->dtype != DM_FLOAT64) {
        dm_seterr("%s: expected a float32 or float64 parameter, got %s", fn,
                  dm_dtype_name(p->dtype));
        return -1;
    }
    return 0;
}

/* A contiguous view of t's values to update: its own data when contiguous, else a gathered
 * copy that put_back() scatters into t afterwards. */
/* t's values as a contiguous array d: t's own, or those of a copy (held) written back */
typedef struct { dm_tensor *t; void *d; dm_tensor *held; } span;

static int get_span(span *s, const dm_tensor *t)
{
    s->t = (dm_tensor *)t;
    s->held = NULL;
    s->d = NULL;
    if (!t) return 0;
    s->d = (void *)dm__contig_as(t, t->dtype, &s->held);
    return s->d ? 0 : -1;
}

static void put_back(span *s, int write)
{
    if (write && s->t) dm__bump(s->t);            /* a step is an in-place write (version) */
    if (!s->t || !s->held) return;
    if (write) dm__copy_convert(s->t, s->held);    /* the updated values into t's strides */
    dm_tensor_release(s->held);
    s->held = NULL;
}

/* torch.optim.SGD, per element:
 *   d = maximize ? -g : g                              (a + s * b below is fma(s, b, a))
 *   if weight_decay != 0:  d = d + wd * p
 *   if momentum != 0:      buf = first ? d : buf * momentum + (1 - dampening) * d
 *                          d = nesterov ? d + momentum * buf : buf
 *   p = p + (-lr) * d                                                                    */
int dm_sgd_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *buf, double lr,
                double momentum, double dampening, double weight_decay, int nesterov,
                int maximize, int first)
{
    const char *fn = "sgd_step";
    /* one device for all (made current: a gathered copy of a view is made there) */
    const int dev = p->storage->device;
    if ((grad && grad->storage->device != dev) || (buf && buf->storage->device != dev))
        return dm__device_mismatch(fn, 3, (const dm_tensor *[]){ p, grad, buf });
    dm__cur_device = dev;
    if (check_same(fn, "grad", grad, p) || check_same(fn, "momentum_buffer", buf, p))
        return -1;
    if ((p->dtype | (grad ? grad->dtype : DM_FLOAT32) | (buf ? buf->dtype : DM_FLOAT32)) != DM_FLOAT32 &&
        (check_param(fn, p) || check_dtype(fn, "grad", grad, p) ||
         check_dtype(fn, "momentum_buffer", buf, p)))
        return -1;
    if (momentum != 0 && !buf) {
        dm_seterr("%s: momentum %g needs a momentum buffer", fn, momentum);
        return -1;
    }
    if (nesterov && (momentum <= 0 || dampening != 0)) {
        dm_seterr("%s: nesterov momentum requires a momentum and zero dampening", fn);
        return -1;
    }
    span sp, sg, sb;
    get_span(&sp, NULL); get_span(&sg, NULL); get_span(&sb, NULL);
    if (get_span(&sp, p) || get_span(&sg, grad) || (momentum != 0 && get_span(&sb, buf))) {
        put_back(&sp, 0); put_back(&sg, 0); put_back(&sb, 0);
        return -1;
    }
    const dm_sgd_par par = { lr, momentum, dampening, weight_decay, nesterov, maximize, first };
    dm__kernels(dev)->sgd(p->dtype, dm_numel(p), sp.d, sg.d, sb.d, &par);
    put_back(&sp, 1); put_back(&sg, 0); put_back(&sb, 1);
    return 0;
}

/* torch.optim.Adam (decoupled = 0) and AdamW (decoupled = 1), per element:
 *   g = maximize ? -g : g
 *   Adam:   if weight_decay != 0:  g = g + wd * p
 *   AdamW:  p = p * (1 - lr wd)
 *   m = m * beta1 + (1 - beta1) * g
 *   v = v * beta2 + (1 - beta2) * g * g
 *   bc1 = 1 - beta1^step, bc2 = 1 - beta2^step          (double, as Python computes them)
 *   amsgrad: vmax = max(vmax, v), and vmax replaces v below
 *   denom = sqrt(v) / sqrt(bc2) + eps
 *   p = p + (-lr / bc1) * m / denom                                                      */
int dm_adam_step(dm_tensor *p, const dm_tensor *grad, dm_tensor *exp_avg,
                 dm_tensor *exp_avg_sq, dm_tensor *max_sq, int64_t step, double lr,
                 double beta1, double beta2, double eps, double weight_decay,
                 int decoupled, int maximize)
{
    const char *fn = "adam_step";
    const int dev = p->storage->device;
    if ((grad && grad->storage->device != dev) || (exp_avg && exp_avg->storage->device != dev) ||
        (exp_avg_sq && exp_avg_sq->storage->device != dev) ||
        (max_sq && max_sq->storage->device != dev))
        return dm__device_mismatch(fn, 5, (const dm_tensor *[]){ p, grad, exp_avg, exp_avg_sq,
                                                                  max_sq });
    dm__cur_device = dev;
    if (check_same(fn, "grad", grad, p) || check_same(fn, "exp_avg", exp_avg, p) ||
        check_same(fn, "exp_avg_sq", exp_avg_sq, p) ||
        check_same(fn, "max_exp_avg_sq", max_sq, p))
        return -1;
    if (!exp_avg || !exp_avg_sq) {
        dm_seterr("%s: exp_avg and exp_avg_sq are required", fn);
        return -1;
    }
    if (step < 1) {
        dm_seterr("%s: step must be at least 1, got %lld", fn, (long long)step);
        return -1;
    }
    if ((p->dtype | (grad ? grad->dtype : DM_FLOAT32) | exp_avg->dtype | exp_avg_sq->dtype |
         (max_sq ? max_sq->dtype : DM_FLOAT32)) != DM_FLOAT32 &&
        (check_param(fn, p) || check_dtype(fn, "grad", grad, p) ||
         check_dtype(fn, "exp_avg", exp_avg, p) || check_dtype(fn, "exp_avg_sq", exp_avg_sq, p) ||
         check_dtype(fn, "max_exp_avg_sq", max_sq, p)))
        return -1;
    span sp, sg, sm, sv, sx;
    get_span(&sp, NULL); get_span(&sg, NULL); get_span(&sm, NULL);
    get_span(&sv, NULL); get_span(&sx, NULL);
    if (get_span(&sp, p) || get_span(&sg, grad) || get_span(&sm, exp_avg) ||
        get_span(&sv, exp_avg_sq) || get_span(&sx, max_sq)) {
        put_back(&sp, 0); put_back(&sg, 0); put_back(&sm, 0);
        put_back(&sv, 0); put_back(&sx, 0);
        return -1;
    }
    double bc1 = 1 - pow(beta1, (double)step), bc2 = 1 - pow(beta2, (double)step);
    const dm_adam_par par = { -(lr / bc1), sqrt(bc2), beta1, beta2, eps, weight_decay,
                              1 - lr * weight_decay, !decoupled && weight_decay != 0,
                              decoupled, maximize };
    dm__kernels(dev)->adam(p->dtype, dm_numel(p), sp.d, sg.d, sm.d, sv.d, sx.d, &par);
    put_back(&sp, 1); put_back(&sg, 0); put_back(&sm, 1);
    put_back(&sv, 1); put_back(&sx, 1);
    return 0;
}
