/* grad.c -- gradients of a root with respect to chosen tensors, returned rather
 * than accumulated (PyTorch's torch.autograd.grad).
 *
 * The walk is the ordinary one (dm_backward, so hooks and custom nodes run as usual); what
 * differs is where the gradients go.  Before the walk every .grad the walk could write (the
 * leaves that require grad, the non-leaves that retain theirs) is set aside; after it the
 * leaves' new .grad are taken as results and everything is put back as it was (each tensor
 * set aside is held meanwhile: the walk may free the graph's hold on it).  A non-leaf
 * input's gradient is caught by a hook added after the user's own (it sees their result). */
#include "internal.h"
#include <stdlib.h>

typedef struct { dm_tensor *x; dm_tensor *old; } stash_ent;
typedef struct { stash_ent *v; int64_t n, cap; } stash;
typedef struct { dm_node **v; int64_t n, cap; } nstack;

static int stash_push(stash *s, dm_tensor *x)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 32;
        stash_ent *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].x = dm_tensor_retain(x);  /* a walk without retain_graph may free the
                                           graph's last hold on a leaf */
    s->v[s->n].old = x->grad;         /* moved out: the walk starts from no .grad */
    x->grad = NULL;
    s->n++;
    return 0;
}

static int nstack_push(nstack *s, dm_node *n)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 32;
        dm_node **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return 0;
}

/* put every .grad back: the last entries first, so that a tensor met twice (its second
   entry holding NULL) ends with what its first entry saved; whatever the walk wrote goes */
static void stash_restore(stash *s)
{
    for (int64_t i = s->n - 1; i >= 0; i--) {
        dm_tensor *x = s->v[i].x;
        if (x->grad != s->v[i].old) dm_tensor_release(x->grad);
        x->grad = s->v[i].old;
        dm_tensor_release(x);
    }
    free(s->v);
}

static int wants_grad(const dm_tensor *x)
{
    return x->requires_grad && (!x->grad_fn || x->retains_grad);
}

/* every tensor of the graph under root whose .grad a walk may write, set aside */
static int stash_graph(dm_tensor *root, stash *st)
{
    nstack all = { 0 };
    int rc = 0;
    if (wants_grad(root) && stash_push(st, root)) rc = -1;
    if (rc == 0 && root->grad_fn) {
        root->grad_fn->mark = 1;
        if (nstack_push(&all, root->grad_fn)) rc = -1;
    }
    for (int64_t k = 0; rc == 0 && k < all.n; k++) {
        dm_node *n = all.v[k];
        for (int i = 0; rc == 0 && i < n->ninputs; i++) {
            dm_tensor *x = n->in[i];
            if (!x || !x->requires_grad) continue;
            if (wants_grad(x) && stash_push(st, x)) { rc = -1; break; }
            dm_node *m = x->grad_fn;
            if (m && !m->mark) {
                m->mark = 1;
                if (nstack_push(&all, m)) rc = -1;
            }
        }
    }
    for (int64_t k = 0; k < all.n; k++) all.v[k]->mark = 0;
    free(all.v);
    if (rc) dm_seterr("autograd.grad: out of memory");
    return rc;
}

static int catch_grad(void *ud, dm_tensor *t, const dm_tensor *grad, dm_tensor **replace)
{
    (void)t; (void)replace;
    dm_tensor **slot = ud;
    dm_tensor_release(*slot);
    *slot = dm_tensor_retain((dm_tensor *)grad);
    return 0;
}

int dm_autograd_grad(dm_tensor *root, const dm_tensor *gradient, int retain_graph, int n,
                     dm_tensor *const *inputs, dm_tensor **out)
{
    for (int k = 0; k < n; k++) out[k] = NULL;
    for (int k = 0; k < n; k++)
        if (!inputs[k]->requires_grad) {
            dm_seterr("autograd.grad: one of the differentiated Tensors (input %d) does not "
                      "require grad", k + 1);
            return -1;
        }
    stash st = { 0 };
    if (stash_graph(root, &st)) { stash_restore(&st); return -1; }
    int *ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    int rc = ids ? 0 : -1;
    if (!ids) dm_seterr("autograd.grad: out of memory");
    for (int k = 0; rc == 0 && k < n; k++)
        if (inputs[k]->grad_fn) {
            ids[k] = dm_tensor_add_hook(inputs[k], catch_grad, &out[k], NULL);
            if (ids[k] < 0) rc = -1;
        }
    if (rc == 0) rc = dm_backward(root, gradient, retain_graph);
    for (int k = 0; ids && k < n; k++)
        if (ids[k] > 0) dm_tensor_remove_hook(inputs[k], ids[k]);
    /* a leaf's result is what the walk left in its .grad (set aside before, so all new) */
    for (int k = 0; rc == 0 && k < n; k++)
        if (!inputs[k]->grad_fn && inputs[k]->grad) out[k] = dm_tensor_retain(inputs[k]->grad);
    stash_restore(&st);
    free(ids);
    if (rc) {
        for (int k = 0; k < n; k++) { dm_tensor_release(out[k]); out[k] = NULL; }
        return -1;
    }
    return 0;
}
