/* test_engine.c -- the backward walk calling its host (core/autograd/engine.c): tensor hooks,
 * a walk's node and leaf-ready callbacks, and custom nodes whose rule is a host function.
 *
 * Expected gradients are worked out by hand beside each case.  Every host datum handed
 * over with a free_ud is counted: it must be freed exactly once on every path (removed,
 * released without backward, after backward, with retain_graph, on errors). */
#include "testutil.h"

static const int64_t S3[1] = { 3 }, S2[1] = { 2 }, S23[2] = { 2, 3 }, S43[2] = { 4, 3 };

/* ---- host data: a counter that knows how often it was freed ----------------------------- */
typedef struct {
    int calls;                    /* times the callback ran */
    int freed;                    /* times free_ud ran on it */
    float scale;                  /* what a replacing hook multiplies by (0: no replacement) */
    int fail;                     /* the hook fails */
    int wrong_shape;              /* the hook (or custom rule) returns a [2] gradient */
    int transposed;               /* the replacement is a non-contiguous view */
    float seen[8];                /* the gradient it saw, first 8 values */
    int order;                    /* its place among the hooks that ran */
} host;

static int hook_order;

static void host_free(void *ud) { ((host *)ud)->freed++; }

static void copy_vals(float *dst, const dm_tensor *g)
{
    float *v = tu_values(g);
    int64_t n = dm_numel(g) < 8 ? dm_numel(g) : 8;
    memcpy(dst, v, (size_t)n * sizeof *v);
    free(v);
}

static int hook(void *ud, dm_tensor *t, const dm_tensor *grad, dm_tensor **replace)
{
    host *h = ud;
    h->calls++;
    h->order = ++hook_order;
    copy_vals(h->seen, grad);
    if (h->fail) { dm_seterr("hook: refused"); return -1; }
    if (h->wrong_shape) { *replace = dm_tensor_zeros(1, S2); return 0; }
    if (h->scale == 0) return 0;
    dm_tensor *r = dm_binary_scalar(DM_BIN_MUL, grad, h->scale, 0);
    if (r && h->transposed) {                  /* the same values, laid out transposed */
        dm_tensor *rt = dm_tensor_new(2, (int64_t[]){ t->shape[1], t->shape[0] });
        dm_tensor *v = dm_transpose(r, 0, 1);
        dm_copy_(rt, v);
        dm_tensor_release(v);
        dm_tensor_release(r);
        r = dm_transpose(rt, 0, 1);          /* t's shape, strides of the transpose */
        dm_tensor_release(rt);
    }
    *replace = r;
    return r ? 0 : -1;
}

static int add_hook(dm_tensor *t, host *h)
{
    return dm_tensor_add_hook(t, hook, h, host_free);
}

static dm_tensor *leaf(int ndim, const int64_t *shape, const float *v)
{
    dm_tensor *t = tu_tensor(ndim, shape, v);
    dm_set_requires_grad(t, 1);
    return t;
}

static dm_tensor *sum(dm_tensor *x) { return dm_reduce(DM_RED_SUM, x, DM_ALL, 0, 0); }

/* sum(f) released as it goes: the caller's own references stay */
static int backward_sum(dm_tensor *y, int retain)
{
    dm_tensor *s = sum(y);
    int rc = s ? dm_backward(s, NULL, retain) : -1;
    dm_tensor_release(s);
    return rc;
}

/* ---- tensor hooks ----------------------------------------------------------------------- */
static void test_hooks(void)
{
    /* the whole gradient, once: x used by two nodes, sum(2x + x*x) -> 2 + 2x */
    {
        host h = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        CHECK(add_hook(x, &h) == 1, "first hook id is 1");
        dm_tensor *a = dm_binary_scalar(DM_BIN_MUL, x, 2, 0), *b = dm_mul(x, x);
        dm_tensor *y = dm_add(a, b);
        CHECK(backward_sum(y, 0) == 0, "backward with a leaf hook");
        CHECK(h.calls == 1, "leaf hook runs once per walk");
        CHECK(!memcmp(h.seen, (float[]){ 4, 6, 8 }, 3 * sizeof(float)),
              "leaf hook sees the summed gradient 2 + 2x");
        tu_check_vals(x->grad, (double[]){ 4, 6, 8 }, 3, 0, "x.grad unchanged by a watcher");
        /* a second walk: the hook sees this walk's gradient, not .grad */
        dm_tensor *y2 = dm_binary_scalar(DM_BIN_MUL, x, 5, 0);
        CHECK(backward_sum(y2, 0) == 0 && h.calls == 2 &&
              !memcmp(h.seen, (float[]){ 5, 5, 5 }, 3 * sizeof(float)),
              "hook sees the walk's gradient, before it is added to .grad");
        tu_check_vals(x->grad, (double[]){ 9, 11, 13 }, 3, 0, "x.grad accumulated");
        dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(y);
        dm_tensor_release(y2);
        CHECK(h.freed == 0, "hook lives while its tensor does");
        dm_tensor_release(x);
        CHECK(h.freed == 1, "hook freed once with its tensor (after backward)");
    }
    /* replacement, chained in the order added; on a leaf the engine would otherwise write
       straight into (linear's weight, .grad present) */
    {
        host h1 = { .scale = 10 }, h2 = { 0 };
        dm_tensor *w = leaf(2, S23, (float[]){ 1, 2, 3, 4, 5, 6 });
        dm_tensor *x = tu_tensor(2, S43, (float[]){ 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1 });
        w->grad = dm_tensor_zeros(2, S23);
        CHECK(add_hook(w, &h1) == 1 && add_hook(w, &h2) == 2, "two hooks, ids 1 and 2");
        dm_tensor *y = dm_linear(x, w, NULL);             /* [4 x 2] */
        /* dw[j][k] = sum_i x[i][k] = [2 2 2; 2 2 2] */
        CHECK(backward_sum(y, 0) == 0, "backward through linear with hooks on w");
        CHECK(h1.calls == 1 && h2.calls == 1 && h1.order < h2.order, "hooks in order added");
        CHECK(!memcmp(h1.seen, (float[]){ 2, 2, 2, 2, 2, 2 }, 6 * sizeof(float)),
              "first hook sees dw");
        CHECK(!memcmp(h2.seen, (float[]){ 20, 20, 20, 20, 20, 20 }, 6 * sizeof(float)),
              "second hook sees the first one's replacement");
        tu_check_vals(w->grad, (double[]){ 20, 20, 20, 20, 20, 20 }, 6, 0,
                      "w.grad holds the replacement");
        dm_tensor_release(y); dm_tensor_release(x); dm_tensor_release(w);
        CHECK(h1.freed == 1 && h2.freed == 1, "both hooks freed once");
    }
    /* a non-contiguous replacement is fine; a non-leaf hook runs before its grad_fn */
    {
        host h = { .scale = 3, .transposed = 1 };
        dm_tensor *x = leaf(2, S23, (float[]){ 1, 2, 3, 4, 5, 6 });
        dm_tensor *m = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);    /* non-leaf */
        dm_tensor *y = dm_mul(m, m);                              /* dy/dm = 2m */
        CHECK(add_hook(m, &h) > 0, "hook on a non-leaf");
        dm_retain_grad(m);
        CHECK(backward_sum(y, 0) == 0 && h.calls == 1, "non-leaf hook runs once");
        CHECK(!memcmp(h.seen, (float[]){ 4, 8, 12, 16, 20, 24 }, 6 * sizeof(float)),
              "non-leaf hook sees 2m");
        /* retain_grad keeps the gradient after the hooks: 3 * 2m */
        tu_check_vals(m->grad, (double[]){ 12, 24, 36, 48, 60, 72 }, 6, 0,
                      "retained grad is the hooked one");
        /* dx = 2 * 3 * 2m = 12m = 24x */
        tu_check_vals(x->grad, (double[]){ 24, 48, 72, 96, 120, 144 }, 6, 0,
                      "x.grad through the transposed replacement");
        dm_tensor_release(x); dm_tensor_release(y);
        CHECK(h.freed == 0, "non-leaf hook alive while the non-leaf is");
        dm_tensor_release(m);
        CHECK(h.freed == 1, "non-leaf hook freed with it");
    }
    /* a non-leaf the caller let go: its hook lives as long as the graph holds it */
    {
        host h = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *m = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
        add_hook(m, &h);
        dm_tensor *y = dm_binary_scalar(DM_BIN_ADD, m, 1, 0);
        dm_tensor_release(m);
        CHECK(h.freed == 0, "graph keeps the hooked non-leaf");
        CHECK(backward_sum(y, 0) == 0 && h.calls == 1, "hook on a released non-leaf runs");
        CHECK(h.freed == 1, "freed as backward frees the graph");
        dm_tensor_release(y); dm_tensor_release(x);
        CHECK(h.freed == 1, "freed once");
    }
    /* remove */
    {
        host h1 = { .scale = 100 }, h2 = { .scale = 2 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        int id1 = add_hook(x, &h1), id2 = add_hook(x, &h2);
        CHECK(dm_tensor_remove_hook(x, id1) == 0 && h1.freed == 1, "remove frees its ud");
        CHECK_ERR(dm_tensor_remove_hook(x, id1), "remove_hook: the tensor has no hook 1");
        CHECK_ERR(dm_tensor_remove_hook(x, 7), "remove_hook: the tensor has no hook 7");
        dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, x, 1, 0);
        CHECK(backward_sum(y, 0) == 0 && h1.calls == 0 && h2.calls == 1, "removed hook silent");
        tu_check_vals(x->grad, (double[]){ 2, 2, 2 }, 3, 0, "only the kept hook applied");
        CHECK(dm_tensor_remove_hook(x, id2) == 0, "last hook removed");
        dm_tensor *y3 = dm_binary_scalar(DM_BIN_MUL, x, 1, 0);
        CHECK(backward_sum(y3, 0) == 0 && h2.calls == 1, "no hook runs");
        tu_check_vals(x->grad, (double[]){ 3, 3, 3 }, 3, 0, "plain accumulation again");
        dm_tensor_release(y3);
        CHECK(add_hook(x, &h2) == 3, "ids are not reused");
        dm_tensor_release(y); dm_tensor_release(x);
        CHECK(h1.freed == 1 && h2.freed == 2, "each ud freed once per registration");
    }
    /* errors */
    {
        host h = { 0 };
        dm_tensor *c = tu_tensor(1, S3, (float[]){ 1, 2, 3 });
        CHECK_ERR(add_hook(c, &h),
                  "add_hook: cannot register a hook on a tensor that doesn't require gradient");
        CHECK(h.freed == 1, "a refused hook's ud is freed at once");
        dm_tensor_release(c);
    }
    /* a failing hook fails backward with its message; with retain_graph the graph can run
       again once the hook is gone */
    {
        host bad = { .fail = 1 }, ok = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *m = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
        dm_tensor *y = dm_mul(m, x);
        dm_tensor *s = sum(y);
        int id = add_hook(m, &bad);
        add_hook(x, &ok);
        CHECK_ERR(dm_backward(s, NULL, 1), "hook: refused");
        CHECK(x->grad == NULL && ok.calls == 0, "nothing reached x");
        dm_tensor_remove_hook(m, id);
        CHECK(dm_backward(s, NULL, 0) == 0, "the kept graph runs once the hook is gone");
        /* d/dx sum(2x * x) = 4x */
        tu_check_vals(x->grad, (double[]){ 4, 8, 12 }, 3, 0, "then the gradient is right");
        dm_tensor_release(s); dm_tensor_release(y); dm_tensor_release(m);
        dm_tensor_release(x);
        CHECK(bad.freed == 1 && ok.freed == 1, "hooks freed once after a failed walk");
    }
    {
        host bad = { .wrong_shape = 1 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        add_hook(x, &bad);
        dm_tensor *y = dm_binary_scalar(DM_BIN_MUL, x, 2, 0);
        dm_tensor *s = sum(y);
        CHECK_ERR(dm_backward(s, NULL, 0),
                  "backward: a hook on a tensor of shape [3] returned a gradient of shape [2]");
        CHECK(x->grad == NULL, "a refused replacement adds nothing");
        dm_tensor_release(s); dm_tensor_release(y); dm_tensor_release(x);
        CHECK(bad.freed == 1, "freed once");
    }
    /* a leaf as the root: the seed goes through its hooks */
    {
        host h = { .scale = 2 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *g = tu_tensor(1, S3, (float[]){ 1, 2, 3 });
        add_hook(x, &h);
        CHECK(dm_backward(x, g, 0) == 0 && h.calls == 1, "hook on a leaf root");
        tu_check_vals(x->grad, (double[]){ 2, 4, 6 }, 3, 0, "leaf root's grad replaced");
        dm_tensor_release(g); dm_tensor_release(x);
        CHECK(h.freed == 1, "freed once");
    }
    /* retain_grad on the root keeps the seed (as PyTorch) */
    {
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *s = sum(x);
        dm_retain_grad(s);
        CHECK(dm_backward(s, NULL, 0) == 0 && s->grad && tu_val0(s->grad) == 1,
              "root.retain_grad() gives root.grad = 1");
        dm_tensor_release(s); dm_tensor_release(x);
    }
}

/* ---- a walk's callbacks ----------------------------------------------------------------- */
#define MAXEV 64
typedef struct {
    int n;
    const dm_tensor *out[MAXEV];
    int after[MAXEV];
    char name[MAXEV][32];
    float gval[MAXEV];            /* first value of the gradient flowing in (NaN: none) */
    /* leaf-ready */
    int nleaf;
    dm_tensor *leaf[8];
    float grad_then[8][8];        /* the leaf's .grad when it was reported */
    int events_then[8];           /* node events seen by then */
    int fail_node, fail_leaf;     /* fail at this event number (1-based; 0: never) */
} walklog;

static int on_node(void *ud, const char *name, const dm_tensor *out, const dm_tensor *grad,
                   int after)
{
    walklog *w = ud;
    if (w->n < MAXEV) {
        w->out[w->n] = out;
        w->after[w->n] = after;
        snprintf(w->name[w->n], sizeof w->name[0], "%s", name);
        w->gval[w->n] = grad ? dm_data(grad)[0] : NAN;
    }
    w->n++;
    if (w->n == w->fail_node) { dm_seterr("on_node: stop at %s", name); return -1; }
    return 0;
}

static int on_leaf(void *ud, dm_tensor *x)
{
    walklog *w = ud;
    if (w->nleaf < 8) {
        w->leaf[w->nleaf] = x;
        memset(w->grad_then[w->nleaf], 0, sizeof w->grad_then[0]);
        if (x->grad) copy_vals(w->grad_then[w->nleaf], x->grad);
        w->events_then[w->nleaf] = w->n;
    }
    w->nleaf++;
    if (w->nleaf == w->fail_leaf) { dm_seterr("on_leaf_grad: stop"); return -1; }
    return 0;
}

/* the event index of out's node (after = 0 or 1), -1 when absent */
static int event_of(const walklog *w, const dm_tensor *out, int after)
{
    for (int i = 0; i < w->n && i < MAXEV; i++)
        if (w->out[i] == out && w->after[i] == after) return i;
    return -1;
}

static int count_leaf(const walklog *w, const dm_tensor *x)
{
    int k = 0;
    for (int i = 0; i < w->nleaf && i < 8; i++) k += w->leaf[i] == x;
    return k;
}

static void test_walk(void)
{
    /* w is used by three nodes (w*a, w*w, linear(x, w, b)); its .grad exists, so linear
     * adds into it directly:
     *   loss = sum(w*a) + sum(w*w) + sum(x @ w^T + b)
     *   dw = a + 2w + [colsum(x); colsum(x)], db = [4 4] */
    const float wv[6] = { 1, 2, 3, 4, 5, 6 }, av[6] = { 1, -1, 2, -2, 3, -3 };
    const float xv[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1 };    /* colsum = 2 2 2 */
    double dw[6];
    for (int i = 0; i < 6; i++) dw[i] = 0.5 + av[i] + 2 * wv[i] + 2;   /* + the old .grad */
    for (int retain = 0; retain <= 1; retain++) {
        dm_tensor *w = leaf(2, S23, wv), *a = tu_tensor(2, S23, av);
        dm_tensor *b = leaf(1, S2, (float[]){ 0, 0 });
        dm_tensor *x = tu_tensor(2, S43, xv);
        w->grad = dm_tensor_full(2, S23, 0.5f);
        dm_tensor *u1 = dm_mul(w, a), *u2 = dm_mul(w, w), *u3 = dm_linear(x, w, b);
        dm_tensor *s1 = sum(u1), *s2 = sum(u2), *s3 = sum(u3);
        dm_tensor *l12 = dm_add(s1, s2), *loss = dm_add(l12, s3);
        walklog lg = { 0 };
        dm_backward_hooks cb = { on_node, on_leaf, &lg };
        CHECK(dm_backward_ex(loss, NULL, retain, &cb) == 0, "backward_ex runs");
        /* nodes: u1 u2 u3 s1 s2 s3 l12 loss, each once before and once after */
        const dm_tensor *outs[8] = { u1, u2, u3, s1, s2, s3, l12, loss };
        CHECK(lg.n == 16, "16 node events for 8 nodes");
        int once = 1;
        for (int i = 0; i < 8; i++) {
            int bi = event_of(&lg, outs[i], 0), ai = event_of(&lg, outs[i], 1);
            once &= bi >= 0 && ai == bi + 1;        /* a node's after follows its before */
        }
        CHECK(once, "every node once, before then after");
        /* consumers first: (producer, consumer) pairs */
        const dm_tensor *edges[][2] = { { u1, s1 }, { u2, s2 }, { u3, s3 }, { s1, l12 },
                                        { s2, l12 }, { l12, loss }, { s3, loss } };
        int order = 1;
        for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
            order &= event_of(&lg, edges[e][1], 1) < event_of(&lg, edges[e][0], 0);
        CHECK(order, "a node runs after every node that uses its output");
        CHECK(!strcmp(lg.name[event_of(&lg, loss, 0)], "AddBackward0") &&
              !strcmp(lg.name[event_of(&lg, s1, 0)], "SumBackward0") &&
              !strcmp(lg.name[event_of(&lg, u2, 0)], "MulBackward0") &&
              !strcmp(lg.name[event_of(&lg, u3, 0)], "AddmmBackward0"), "node names");
        CHECK(lg.gval[event_of(&lg, loss, 0)] == 1, "the root gets the seed");
        /* leaf-ready: w and b once each (x and a do not require grad) */
        CHECK(lg.nleaf == 2 && count_leaf(&lg, w) == 1 && count_leaf(&lg, b) == 1,
              "each leaf reported once");
        tu_check_vals(w->grad, dw, 6, 1e-6, "final w.grad");
        tu_check_vals(b->grad, (double[]){ 4, 4 }, 2, 0, "final b.grad");
        for (int i = 0; i < lg.nleaf && i < 2; i++) {
            dm_tensor *l = lg.leaf[i];
            float *fin = tu_values(l->grad);
            CHECKF(!memcmp(lg.grad_then[i], fin, (size_t)dm_numel(l) * sizeof(float)),
                   "leaf %d: .grad when reported is the final one", i);
            free(fin);
        }
        /* by the time w is reported, all three of its users have run */
        int wi = lg.leaf[0] == w ? 0 : 1;
        CHECK(event_of(&lg, u1, 0) < lg.events_then[wi] &&
              event_of(&lg, u2, 0) < lg.events_then[wi] &&
              event_of(&lg, u3, 0) < lg.events_then[wi], "w reported after its users ran");
        if (retain) {                  /* the kept graph runs again, reports again */
            walklog lg2 = { 0 };
            dm_backward_hooks cb2 = { on_node, on_leaf, &lg2 };
            CHECK(dm_backward_ex(loss, NULL, 0, &cb2) == 0 && lg2.n == 16 && lg2.nleaf == 2,
                  "a retained graph reports again");
        }
        dm_tensor *ts[] = { w, a, b, x, u1, u2, u3, s1, s2, s3, l12, loss };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) dm_tensor_release(ts[i]);
    }
    /* only the leaf callback, a leaf root, no callbacks at all */
    {
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        walklog lg = { 0 };
        dm_backward_hooks cb = { NULL, on_leaf, &lg };
        dm_tensor *g = tu_tensor(1, S3, (float[]){ 1, 1, 1 });
        CHECK(dm_backward_ex(x, g, 0, &cb) == 0 && lg.nleaf == 1 && lg.leaf[0] == x &&
              lg.grad_then[0][2] == 1, "leaf root reported with its grad");
        dm_backward_hooks none = { NULL, NULL, NULL };
        dm_tensor *y = dm_mul(x, x);
        CHECK(backward_sum(y, 0) == 0, "empty callbacks");
        dm_tensor *y2 = dm_mul(x, x), *s = sum(y2);
        CHECK(dm_backward_ex(s, NULL, 0, &none) == 0, "empty callbacks, _ex");
        tu_check_vals(x->grad, (double[]){ 5, 9, 13 }, 3, 0, "1 + 2x + 2x");
        dm_tensor_release(g); dm_tensor_release(y); dm_tensor_release(y2);
        dm_tensor_release(s); dm_tensor_release(x);
    }
    /* a failing callback fails backward with its message */
    for (int which = 0; which < 3; which++) {
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *y = dm_mul(x, x), *z = dm_binary_scalar(DM_BIN_MUL, x, 3, 0);
        dm_tensor *yz = dm_add(y, z), *s = sum(yz);
        walklog lg = { .fail_node = which == 0 ? 1 : which == 1 ? 4 : 0,
                       .fail_leaf = which == 2 ? 1 : 0 };
        dm_backward_hooks cb = { on_node, on_leaf, &lg };
        const char *msg = which == 0 ? "on_node: stop at SumBackward0"
                        : which == 1 ? "on_node: stop at AddBackward0" : "on_leaf_grad: stop";
        CHECK_ERR(dm_backward_ex(s, NULL, 0, &cb), msg);
        dm_tensor_release(s); dm_tensor_release(yz); dm_tensor_release(y);
        dm_tensor_release(z); dm_tensor_release(x);
    }
}

/* ---- custom nodes ----------------------------------------------------------------------- */
typedef struct {
    host h;
    int ninputs_seen;
} custom_host;

/* square: d/dx x^2 = 2x g */
static int square_bw(void *ud, const dm_tensor *grad, int ninputs,
                     const dm_tensor *const *inputs, dm_tensor **grads)
{
    custom_host *c = ud;
    c->h.calls++;
    c->ninputs_seen = ninputs;
    copy_vals(c->h.seen, grad);
    if (c->h.fail) { dm_seterr("SquareBackward: refused"); return -1; }
    if (c->h.wrong_shape) { grads[0] = dm_tensor_zeros(1, S2); return 0; }
    dm_tensor *two_x = dm_binary_scalar(DM_BIN_MUL, inputs[0], 2, 0);
    grads[0] = two_x ? dm_mul(two_x, grad) : NULL;
    dm_tensor_release(two_x);
    return grads[0] ? 0 : -1;
}

static void custom_free(void *ud) { ((custom_host *)ud)->h.freed++; }

/* out = x * x computed by the host (no graph), then given a custom grad_fn */
static dm_tensor *custom_square(dm_tensor *x, custom_host *c)
{
    int prev = dm_set_grad_enabled(0);
    dm_tensor *out = dm_mul(x, x);
    dm_set_grad_enabled(prev);
    if (dm_record_custom(out, 1, (const dm_tensor *const *)&x, square_bw, c, custom_free,
                         "SquareBackward") != 0) {
        dm_tensor_release(out);
        return NULL;
    }
    return out;
}

/* the sum of n inputs: every gradient is g (more inputs than the engine's small array) */
static int sum_bw(void *ud, const dm_tensor *grad, int ninputs,
                  const dm_tensor *const *inputs, dm_tensor **grads)
{
    custom_host *c = ud;
    c->h.calls++;
    c->ninputs_seen = ninputs;
    for (int i = 0; i < ninputs; i++)
        if (inputs[i]->requires_grad && !(grads[i] = dm_clone(grad))) return -1;
    return 0;
}

static void test_custom(void)
{
    /* known gradient: loss = sum(c * square(x)) -> dx = 2 x c */
    {
        custom_host c = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *k = tu_tensor(1, S3, (float[]){ 1, 10, 100 });
        dm_tensor *y = custom_square(x, &c);
        CHECK(y && y->grad_fn && !strcmp(dm_grad_fn_name(y), "SquareBackward"),
              "custom node named");
        tu_check_vals(y, (double[]){ 1, 4, 9 }, 3, 0, "forward is the host's");
        dm_tensor *z = dm_mul(y, k);
        walklog lg = { 0 };
        dm_backward_hooks cb = { on_node, NULL, &lg };
        dm_tensor *s = sum(z);
        CHECK(dm_backward_ex(s, NULL, 0, &cb) == 0 && c.h.calls == 1 && c.ninputs_seen == 1,
              "custom backward runs once");
        CHECK(!memcmp(c.h.seen, (float[]){ 1, 10, 100 }, 3 * sizeof(float)),
              "custom backward sees the output's gradient");
        tu_check_vals(x->grad, (double[]){ 2, 40, 600 }, 3, 0, "dx = 2 x c");
        int e = event_of(&lg, y, 0);
        CHECK(e >= 0 && !strcmp(lg.name[e], "SquareBackward"), "on_node names the custom node");
        CHECK(c.h.freed == 1, "freed once when backward frees the graph");
        dm_tensor_release(s); dm_tensor_release(z); dm_tensor_release(y);
        dm_tensor_release(k); dm_tensor_release(x);
        CHECK(c.h.freed == 1, "and not again with its tensor");
    }
    /* retain_graph: runs twice, freed with its output */
    {
        custom_host c = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *y = custom_square(x, &c);
        dm_tensor *s = sum(y);
        CHECK(dm_backward(s, NULL, 1) == 0 && dm_backward(s, NULL, 1) == 0 && c.h.calls == 2,
              "retained custom node runs twice");
        tu_check_vals(x->grad, (double[]){ 4, 8, 12 }, 3, 0, "2 * 2x");
        CHECK(c.h.freed == 0, "alive while its graph is kept");
        dm_tensor_release(s); dm_tensor_release(y);
        CHECK(c.h.freed == 1, "freed once with its output");
        dm_tensor_release(x);
    }
    /* released without backward */
    {
        custom_host c = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *y = custom_square(x, &c);
        dm_tensor_release(y);
        CHECK(c.h.freed == 1 && c.h.calls == 0, "freed once without backward");
        dm_tensor_release(x);
    }
    /* a wrong shape, a failing rule */
    for (int fail = 0; fail <= 1; fail++) {
        custom_host c = { .h = { .wrong_shape = !fail, .fail = fail } };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        dm_tensor *y = custom_square(x, &c);
        dm_tensor *s = sum(y);
        CHECK_ERR(dm_backward(s, NULL, 0), fail ? "SquareBackward: refused"
                  : "backward: SquareBackward produced a gradient of shape [2] for an input "
                    "of shape [3]");
        CHECK(x->grad == NULL, "no gradient from a failed custom rule");
        dm_tensor_release(s); dm_tensor_release(y); dm_tensor_release(x);
        CHECK(c.h.freed == 1, "freed once after a failed walk");
    }
    /* ten inputs, two of them constants */
    {
        custom_host c = { 0 };
        dm_tensor *in[10];
        for (int i = 0; i < 10; i++) {
            in[i] = tu_tensor(1, S2, (float[]){ (float)i, 1 });
            if (i % 5) dm_set_requires_grad(in[i], 1);
        }
        dm_tensor *out = dm_tensor_zeros(1, S2);
        CHECK(dm_record_custom(out, 10, (const dm_tensor *const *)in, sum_bw, &c, custom_free,
                               "Sum10Backward") == 0, "custom node with 10 inputs");
        dm_tensor *g = tu_tensor(1, S2, (float[]){ 3, 4 });
        CHECK(dm_backward(out, g, 0) == 0 && c.ninputs_seen == 10, "runs");
        int ok = 1;
        for (int i = 0; i < 10; i++)
            ok &= i % 5 ? in[i]->grad && dm_data(in[i]->grad)[1] == 4 : in[i]->grad == NULL;
        CHECK(ok, "gradients to the inputs that require them");
        dm_tensor_release(g); dm_tensor_release(out);
        for (int i = 0; i < 10; i++) dm_tensor_release(in[i]);
        CHECK(c.h.freed == 1, "freed once");
    }
    /* refused, or nothing to record: the ud is freed at once */
    {
        custom_host c = { 0 };
        dm_tensor *x = leaf(1, S3, (float[]){ 1, 2, 3 });
        const dm_tensor *const *in = (const dm_tensor *const *)&x;
        const char *msg = "record_custom: the output must be a new tensor (no grad_fn, not "
                          "requiring grad, referenced only by the caller)";
        dm_tensor *y = dm_mul(x, x);                       /* has a grad_fn */
        CHECK_ERR(dm_record_custom(y, 1, in, square_bw, &c, custom_free, "S"), msg);
        CHECK(c.h.freed == 1, "freed when refused (grad_fn)");
        dm_tensor *o = dm_tensor_zeros(1, S3);
        dm_tensor_retain(o);                               /* someone else holds it */
        CHECK_ERR(dm_record_custom(o, 1, in, square_bw, &c, custom_free, "S"), msg);
        dm_tensor_release(o);
        dm_tensor_release(o);
        CHECK(c.h.freed == 2, "freed when refused (shared)");
        CHECK_ERR(dm_record_custom(x, 1, in, square_bw, &c, custom_free, "S"), msg);
        dm_tensor *p = dm_tensor_zeros(1, S3);
        const dm_tensor *pin[2] = { x, p };
        CHECK_ERR(dm_record_custom(p, 2, pin, square_bw, &c, custom_free, "S"),
                  "record_custom: the output cannot be one of the inputs");
        CHECK_ERR(dm_record_custom(p, 1, in, NULL, &c, custom_free, "S"),
                  "record_custom: needs an output, a backward function and the inputs");
        CHECK(c.h.freed == 5, "freed every time it was refused");
        int prev = dm_set_grad_enabled(0);
        CHECK(dm_record_custom(p, 1, in, square_bw, &c, custom_free, "S") == 0 &&
              p->grad_fn == NULL && c.h.freed == 6, "no-grad mode: nothing recorded, ud freed");
        dm_set_grad_enabled(prev);
        dm_tensor *k = tu_tensor(1, S3, (float[]){ 1, 2, 3 });
        const dm_tensor *kin[1] = { k };
        CHECK(dm_record_custom(p, 1, kin, square_bw, &c, custom_free, NULL) == 0 &&
              p->grad_fn == NULL && c.h.freed == 7, "no input requires grad: nothing recorded");
        CHECK(dm_record_custom(p, 1, in, square_bw, &c, custom_free, NULL) == 0 &&
              !strcmp(dm_grad_fn_name(p), "CustomBackward"), "default name");
        dm_tensor_release(p);
        CHECK(c.h.freed == 8, "freed with its output");
        dm_tensor_release(k); dm_tensor_release(y); dm_tensor_release(x);
    }
}

/* ---- float64 through the engine --------------------------------------------------------
 * The seed, every gradient summed on the way and every .grad in float64, bit for bit what
 * PyTorch 1.13 computes in float64 (the same sums in the same order). */
static dm_tensor *leaf64(int64_t n, const double *v)
{
    dm_tensor *t = dm_tensor_new_dtype(1, (int64_t[]){ n }, DM_FLOAT64);
    memcpy(dm_data_ptr(t), v, (size_t)n * sizeof *v);
    dm_set_requires_grad(t, 1);
    return t;
}

static double d_at(const dm_tensor *t, int64_t i) { return dm_get_f64(t, (int64_t[]){ i }); }

/* a custom rule that answers in float32 for its float64 input: d(2x)/dx = 2, the engine casts */
static int twice_bw32(void *ud, const dm_tensor *grad, int ninputs, const dm_tensor *const *in,
                      dm_tensor **gin)
{
    (void)ud; (void)ninputs; (void)in;
    dm_tensor *g32 = dm_to_dtype(grad, DM_FLOAT32);
    gin[0] = g32 ? dm_binary_scalar(DM_BIN_MUL, g32, 2.0f, 0) : NULL;
    dm_tensor_release(g32);
    return gin[0] ? 0 : -1;
}

static dm_dtype seen_dtype;
static int dtype_hook(void *ud, dm_tensor *t, const dm_tensor *grad, dm_tensor **replace)
{
    (void)t;
    seen_dtype = grad->dtype;
    if (ud) *replace = dm_to_dtype(grad, DM_FLOAT32);        /* changes the dtype: refused */
    return 0;
}

static void test_float64(void)
{
    /* x*x + x, x used three times: its gradient sums 1 (add), then x and x (mul) in double */
    const double v[4] = { 0.1, 1.0 / 3, -2.7, 1e-9 };
    const double torch[4] = { 1.2000000000000002, 1.6666666666666665, -4.4, 1.0000000020000002 };
    dm_tensor *x = leaf64(4, v);
    dm_tensor *xx = dm_mul(x, x), *y = dm_add(xx, x);
    CHECK(y && y->dtype == DM_FLOAT64, "x*x + x is float64");
    CHECK(backward_sum(y, 1) == 0, "backward through a float64 graph (seeded with float64 ones)");
    int ok = x->grad && x->grad->dtype == DM_FLOAT64;
    for (int i = 0; ok && i < 4; i++) ok = d_at(x->grad, i) == torch[i];
    CHECK(ok, "x*x + x: x.grad is PyTorch's float64 gradient bit for bit");
    /* a second walk adds each use's gradient into the float64 .grad (the same-shape fast
       path): ((g + 1) + x) + x, within an ulp or two of 2 g */
    CHECK(backward_sum(y, 0) == 0, "second backward");
    for (int i = 0; ok && i < 4; i++) {
        double want = ((torch[i] + 1) + v[i]) + v[i];
        ok = d_at(x->grad, i) == want && fabs(want - 2 * torch[i]) <= 1e-15 * fabs(want);
    }
    CHECK(ok, "a second backward adds to the float64 .grad in float64");
    dm_tensor_release(xx);
    dm_tensor_release(y);

    /* a float32 gradient given for a float64 root is converted, as PyTorch casts it */
    dm_zero_grad(x, 1);
    y = dm_binary_scalar(DM_BIN_MUL, x, 3.0f, 0);
    dm_tensor *g32 = dm_tensor_from_data(1, (int64_t[]){ 4 }, (float[]){ 0.5f, 2, -1, 0.25f });
    CHECK(dm_backward(y, g32, 0) == 0, "backward with a float32 gradient on a float64 root");
    CHECK(x->grad && x->grad->dtype == DM_FLOAT64 && d_at(x->grad, 0) == 1.5 &&
          d_at(x->grad, 1) == 6 && d_at(x->grad, 2) == -3 && d_at(x->grad, 3) == 0.75,
          "the float32 gradient arrives as float64");
    dm_tensor_release(y);
    dm_tensor_release(g32);

    /* a float64 gradient for a float32 graph: the seed takes the root's dtype */
    dm_tensor *x32 = leaf(1, S3, (float[]){ 1, 2, 3 });
    y = dm_binary_scalar(DM_BIN_MUL, x32, 2.0f, 0);
    dm_tensor *g64 = dm_tensor_full_dtype(1, S3, 0.1, DM_FLOAT64);
    CHECK(dm_backward(y, g64, 0) == 0 && x32->grad && x32->grad->dtype == DM_FLOAT32 &&
          dm_data(x32->grad)[0] == 2 * 0.1f, "a float64 gradient for a float32 root is cast");
    dm_tensor_release(y);
    dm_tensor_release(g64);
    dm_tensor_release(x32);

    /* a rule answering in another dtype: cast to the input's dtype before it is summed, into
       .grad and into a node's sum alike */
    dm_zero_grad(x, 1);
    int prev = dm_set_grad_enabled(0);
    dm_tensor *t = dm_binary_scalar(DM_BIN_MUL, x, 2.0f, 0);
    dm_set_grad_enabled(prev);
    CHECK(t && dm_record_custom(t, 1, (const dm_tensor *const[]){ x }, twice_bw32, NULL, NULL,
                                "Twice32Backward") == 0, "custom float64 node recorded");
    dm_tensor *u = dm_add(t, x);                        // x reaches u twice: 2x + x
    CHECK(backward_sum(u, 0) == 0, "backward through a rule answering in float32");
    CHECK(x->grad && x->grad->dtype == DM_FLOAT64 && d_at(x->grad, 0) == 3 &&
          d_at(x->grad, 3) == 3, "its float32 gradient is cast to float64 and summed");
    dm_tensor_release(u);
    dm_tensor_release(t);

    /* retain_grad and hooks see float64; a hook may not change the dtype */
    dm_zero_grad(x, 1);
    xx = dm_mul(x, x);
    CHECK(dm_retain_grad(xx) == 0, "retain_grad on a float64 non-leaf");
    int id = dm_tensor_add_hook(x, dtype_hook, NULL, NULL);
    seen_dtype = DM_BOOL;
    CHECK(backward_sum(xx, 0) == 0, "backward with a hook on a float64 leaf");
    CHECK(seen_dtype == DM_FLOAT64, "the hook saw a float64 gradient");
    CHECK(xx->grad && xx->grad->dtype == DM_FLOAT64 && d_at(xx->grad, 2) == 1,
          "retain_grad keeps a float64 gradient");
    CHECK(d_at(x->grad, 0) == 0.1 + 0.1, "x.grad = 2x in float64");
    dm_tensor_remove_hook(x, id);
    dm_tensor_release(xx);
    xx = dm_mul(x, x);
    dm_tensor_add_hook(xx, dtype_hook, (void *)1, NULL);
    CHECK_ERR(backward_sum(xx, 0), "backward: a hook on a tensor of dtype float64 returned a "
                                   "gradient of dtype float32");
    dm_tensor_release(xx);
    dm_tensor_release(x);
}

int main(void)
{
    tu_live live0 = tu_live_now();
    int64_t tensors0 = dm_live_tensors();
    test_hooks();
    test_walk();
    test_custom();
    test_float64();
    CHECK(dm_live_tensors() == tensors0, "dm_live_tensors() back at its baseline");
    CHECK_NO_LEAKS(live0);
    return TEST_END("test_engine");
}
