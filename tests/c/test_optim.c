/* test_optim.c -- the SGD and Adam / AdamW updates (core/ops/optim.c).
 *
 * Every option combination runs five steps with changing gradients and is compared with a
 * plain double-precision transcription of torch.optim's single-tensor code (below, ref_*);
 * then the same steps on non-contiguous tensors, the error messages verbatim, and no leaks.
 * Bit-for-bit agreement with PyTorch is tests/parity_kernels_spec.lua's job. */
#include "testutil.h"

#define NSTEP 5
#define NEL 12
static const int64_t SHAPE[2] = { 3, 4 };

static float P0[NEL], G[NSTEP][NEL];

/* ---- reference: torch/optim/sgd.py, adam.py, adamw.py (1.13) in double ------------------ */

typedef struct {
    double lr, momentum, dampening, wd;
    int nesterov, maximize;
} sgd_opts;

static void ref_sgd(const sgd_opts *o, double *p, double *buf, int step, const float *g)
{
    for (int i = 0; i < NEL; i++) {
        double d = o->maximize ? -(double)g[i] : g[i];
        if (o->wd != 0) d += o->wd * p[i];
        if (o->momentum != 0) {
            buf[i] = step == 1 ? d : o->momentum * buf[i] + (1 - o->dampening) * d;
            d = o->nesterov ? d + o->momentum * buf[i] : buf[i];
        }
        p[i] -= o->lr * d;
    }
}

typedef struct {
    double lr, beta1, beta2, eps, wd;
    int amsgrad, decoupled, maximize;
} adam_opts;

static void ref_adam(const adam_opts *o, double *p, double *m, double *v, double *vmax,
                     int step, const float *g)
{
    double bc1 = 1 - pow(o->beta1, step), bc2 = 1 - pow(o->beta2, step);
    for (int i = 0; i < NEL; i++) {
        double gi = o->maximize ? -(double)g[i] : g[i];
        if (o->decoupled) p[i] *= 1 - o->lr * o->wd;
        else if (o->wd != 0) gi += o->wd * p[i];
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * gi;
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * gi * gi;
        if (v[i] > vmax[i]) vmax[i] = v[i];
        double denom = sqrt(o->amsgrad ? vmax[i] : v[i]) / sqrt(bc2) + o->eps;
        p[i] -= o->lr / bc1 * m[i] / denom;
    }
}

/* ---- helpers ------------------------------------------------------------------------- */

static dm_tensor *from(const float *v) { return tu_tensor(2, SHAPE, v); }

/* t's values within tol (relative) of want; *worst keeps the largest error seen (NaN counts
   as the worst, and as a failure) */
static int close_to(const dm_tensor *t, const double *want, double tol, double *worst)
{
    int ok = 1;
    for (int i = 0; i < NEL; i++) {
        double e = fabs(dm_data(t)[i] - want[i]) / fmax(1, fabs(want[i]));
        if (!(e <= *worst)) *worst = e;
        if (!(e <= tol)) ok = 0;
    }
    return ok;
}

/* ---- SGD ------------------------------------------------------------------------------ */

static void run_sgd(const sgd_opts *o)
{
    char what[160];
    snprintf(what, sizeof what, "sgd lr %g momentum %g dampening %g wd %g nesterov %d "
             "maximize %d", o->lr, o->momentum, o->dampening, o->wd, o->nesterov, o->maximize);
    dm_tensor *p = from(P0), *buf = dm_tensor_zeros(2, SHAPE);
    double rp[NEL], rb[NEL] = { 0 }, worst = 0;
    for (int i = 0; i < NEL; i++) rp[i] = P0[i];
    int ok = 1;
    for (int k = 1; k <= NSTEP; k++) {
        dm_tensor *g = from(G[k - 1]);
        if (dm_sgd_step(p, g, o->momentum != 0 ? buf : NULL, o->lr, o->momentum, o->dampening,
                        o->wd, o->nesterov, o->maximize, k == 1) != 0) {
            printf("  %s\n", dm_errmsg());
            ok = 0;
        }
        ref_sgd(o, rp, rb, k, G[k - 1]);
        if (!close_to(p, rp, 1e-5, &worst)) ok = 0;
        dm_tensor_release(g);
    }
    if (!ok) printf("  worst relative error %.3g\n", worst);
    CHECK(ok, what);
    dm_tensor_release(p);
    dm_tensor_release(buf);
}

static void test_sgd(void)
{
    const double moms[] = { 0, 0.9 }, damps[] = { 0, 0.5 }, wds[] = { 0, 0.01 };
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                for (int nest = 0; nest < 2; nest++)
                    for (int mx = 0; mx < 2; mx++) {
                        if (nest && (moms[a] == 0 || damps[b] != 0)) continue;
                        sgd_opts o = { 0.1, moms[a], damps[b], wds[c], nest, mx };
                        run_sgd(&o);
                    }
}

/* ---- Adam / AdamW ------------------------------------------------------------------------ */

static void run_adam(const adam_opts *o)
{
    char what[160];
    snprintf(what, sizeof what, "%s lr %g betas %g %g eps %g wd %g amsgrad %d maximize %d",
             o->decoupled ? "adamw" : "adam", o->lr, o->beta1, o->beta2, o->eps, o->wd,
             o->amsgrad, o->maximize);
    dm_tensor *p = from(P0), *m = dm_tensor_zeros(2, SHAPE), *v = dm_tensor_zeros(2, SHAPE);
    dm_tensor *vmax = o->amsgrad ? dm_tensor_zeros(2, SHAPE) : NULL;
    double rp[NEL], rm[NEL] = { 0 }, rv[NEL] = { 0 }, rx[NEL] = { 0 }, worst = 0;
    for (int i = 0; i < NEL; i++) rp[i] = P0[i];
    int ok = 1;
    for (int k = 1; k <= NSTEP; k++) {
        dm_tensor *g = from(G[k - 1]);
        if (dm_adam_step(p, g, m, v, vmax, k, o->lr, o->beta1, o->beta2, o->eps, o->wd,
                         o->decoupled, o->maximize) != 0) {
            printf("  %s\n", dm_errmsg());
            ok = 0;
        }
        ref_adam(o, rp, rm, rv, rx, k, G[k - 1]);
        if (!close_to(p, rp, 1e-5, &worst)) ok = 0;
        if (vmax) for (int i = 0; i < NEL; i++)
            if (fabs(dm_data(vmax)[i] - rx[i]) > 1e-5 * fmax(1, rx[i])) ok = 0;
        dm_tensor_release(g);
    }
    if (!ok) printf("  worst relative error %.3g\n", worst);
    CHECK(ok, what);
    dm_tensor *objs[] = { p, m, v, vmax };
    for (int i = 0; i < 4; i++) dm_tensor_release(objs[i]);
}

static void test_adam(void)
{
    const double wds[] = { 0, 0.1 };
    for (int dec = 0; dec < 2; dec++)
        for (int ams = 0; ams < 2; ams++)
            for (int w = 0; w < 2; w++)
                for (int mx = 0; mx < 2; mx++) {
                    adam_opts o = { 0.01, 0.9, 0.999, 1e-8, wds[w], ams, dec, mx };
                    run_adam(&o);
                }
    adam_opts o = { 0.05, 0.8, 0.9, 1e-3, 0.05, 1, 0, 0 };
    run_adam(&o);
    o.decoupled = 1;
    run_adam(&o);
}

/* ---- non-contiguous, errors ------------------------------------------------------------ */

static void test_views(void)
{
    /* p, grad and buffers as transposed views of [4 x 3] storages */
    float T0[NEL], TG[NEL];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) { T0[j * 3 + i] = P0[i * 4 + j]; TG[j * 3 + i] = G[0][i * 4 + j]; }
    const int64_t s43[] = { 4, 3 };
    dm_tensor *pb = tu_tensor(2, s43, T0), *gb = tu_tensor(2, s43, TG);
    dm_tensor *bb = dm_tensor_zeros(2, s43), *mb = dm_tensor_zeros(2, s43);
    dm_tensor *vb = dm_tensor_zeros(2, s43), *xb = dm_tensor_zeros(2, s43);
    dm_tensor *pv = dm_transpose(pb, 0, 1), *gv = dm_transpose(gb, 0, 1);
    dm_tensor *bv = dm_transpose(bb, 0, 1), *mv = dm_transpose(mb, 0, 1);
    dm_tensor *vv = dm_transpose(vb, 0, 1), *xv = dm_transpose(xb, 0, 1);
    dm_tensor *pc = from(P0), *gc = from(G[0]), *bc = dm_tensor_zeros(2, SHAPE);
    dm_tensor *mc = dm_tensor_zeros(2, SHAPE), *vc = dm_tensor_zeros(2, SHAPE);
    dm_tensor *xc = dm_tensor_zeros(2, SHAPE);
    for (int k = 1; k <= 3; k++) {
        CHECK(dm_sgd_step(pv, gv, bv, 0.1, 0.9, 0, 0.01, 1, 0, k == 1) == 0, "sgd on views");
        CHECK(dm_sgd_step(pc, gc, bc, 0.1, 0.9, 0, 0.01, 1, 0, k == 1) == 0, "sgd contiguous");
        CHECK(dm_adam_step(pv, gv, mv, vv, xv, k, 0.01, 0.9, 0.999, 1e-8, 0.1, 1, 0) == 0,
              "adam on views");
        CHECK(dm_adam_step(pc, gc, mc, vc, xc, k, 0.01, 0.9, 0.999, 1e-8, 0.1, 1, 0) == 0,
              "adam contiguous");
    }
    int ok = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            int a = j * 3 + i, c = i * 4 + j;
            if (dm_data(pb)[a] != dm_data(pc)[c] || dm_data(bb)[a] != dm_data(bc)[c] ||
                dm_data(mb)[a] != dm_data(mc)[c] || dm_data(vb)[a] != dm_data(vc)[c] ||
                dm_data(xb)[a] != dm_data(xc)[c])
                ok = 0;
        }
    CHECK(ok, "updates through views write the same values");
    dm_tensor *objs[] = { pb, gb, bb, mb, vb, xb, pv, gv, bv, mv, vv, xv, pc, gc, bc, mc, vc, xc };
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) dm_tensor_release(objs[i]);
}

static void test_errors(void)
{
    dm_tensor *p = dm_tensor_zeros(2, (int64_t[]){ 2, 3 }), *g3 = dm_tensor_zeros(1, (int64_t[]){ 3 });
    dm_tensor *g = dm_tensor_zeros(2, (int64_t[]){ 2, 3 }), *b = dm_tensor_zeros(2, (int64_t[]){ 3, 2 });
    CHECK_ERR(dm_sgd_step(p, g3, NULL, 0.1, 0, 0, 0, 0, 0, 1),
              "sgd_step: grad size [3] differs from parameter size [2 x 3]");
    CHECK_ERR(dm_sgd_step(p, g, b, 0.1, 0.9, 0, 0, 0, 0, 1),
              "sgd_step: momentum_buffer size [3 x 2] differs from parameter size [2 x 3]");
    CHECK_ERR(dm_sgd_step(p, g, NULL, 0.1, 0.9, 0, 0, 0, 0, 1),
              "sgd_step: momentum 0.9 needs a momentum buffer");
    CHECK_ERR(dm_sgd_step(p, g, g, 0.1, 0.9, 0.1, 0, 1, 0, 1),
              "sgd_step: nesterov momentum requires a momentum and zero dampening");
    CHECK_ERR(dm_adam_step(p, g3, g, g, NULL, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: grad size [3] differs from parameter size [2 x 3]");
    CHECK_ERR(dm_adam_step(p, g, b, g, NULL, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: exp_avg size [3 x 2] differs from parameter size [2 x 3]");
    CHECK_ERR(dm_adam_step(p, g, g, g, b, 1, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: max_exp_avg_sq size [3 x 2] differs from parameter size [2 x 3]");
    CHECK_ERR(dm_adam_step(p, g, g, g, NULL, 0, 0.1, 0.9, 0.999, 1e-8, 0, 0, 0),
              "adam_step: step must be at least 1, got 0");
    /* a parameter that requires grad is updated even in grad mode (callers use no_grad) */
    dm_set_requires_grad(p, 1);
    dm_fill_(g, 1);
    CHECK(dm_sgd_step(p, g, NULL, 0.5, 0, 0, 0, 0, 0, 1) == 0 && dm_data(p)[0] == -0.5f,
          "sgd_step writes a leaf that requires grad");
    dm_tensor_release(p);
    dm_tensor_release(g3);
    dm_tensor_release(g);
    dm_tensor_release(b);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    dm_tensor *t = dm_tensor_new(2, SHAPE);
    tu_fill(t, -1, 1, 1);
    memcpy(P0, dm_data(t), sizeof P0);
    /* gradients of changing size, so that amsgrad's maximum differs from exp_avg_sq */
    const float scale[NSTEP] = { 2, 0.5f, 0.1f, 1.5f, 0.3f };
    for (int k = 0; k < NSTEP; k++) {
        tu_fill(t, -scale[k], scale[k], 10 + (unsigned)k);
        memcpy(G[k], dm_data(t), sizeof G[k]);
    }
    dm_tensor_release(t);
    test_sgd();
    test_adam();
    test_views();
    test_errors();
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_optim");
}
