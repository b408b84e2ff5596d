/* test_par_threads.c -- the cpu device's two-thread sections (core/backend/cpu/par.c) under
 * several calling threads at once.
 *
 * With dm_set_num_threads(2), a convolution over a batch (forward, input and weight
 * gradients) and a max-pool over enough planes run in two halves on the caller and one
 * helper thread; one section runs at a time, and a caller finding the helper busy runs both
 * halves itself.  Each of NT threads runs the same small network (conv 1->6 5x5 padding 2,
 * max-pool 2, conv 6->16 5x5) forward and backward on its own inputs, twice; the values must
 * be those its inputs give on the main thread alone (within rounding: OpenBLAS, when built
 * in, may take two threads for a product outside a section).  `make test-tsan` runs this
 * under ThreadSanitizer (BLAS=0). */
#include "../../core/deepmoon.h"
#include "testutil.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

#define NT 3
#define BATCH 16
#define NOUT 3

typedef struct {
    uint64_t seed;
    double out[2][NOUT];        /* two rounds: sum of the output, of w1's and of x's grad */
    int ok;
} job;

static double total(const dm_tensor *t)
{
    double s = 0;
    const float *p = dm_data(t);
    for (int64_t i = 0; i < dm_numel(t); i++) s += p[i];
    return s;
}

static dm_tensor *randn(int nd, const int64_t *shape, dm_rng *g)
{
    dm_tensor *t = dm_tensor_new(nd, shape);
    if (t && dm_normal_(t, 0, 1, g) != 0) { dm_tensor_release(t); return NULL; }
    return t;
}

/* one forward and backward of the network for seed j->seed; 0 or -1 */
static int run(job *j, int round)
{
    int rc = -1;
    dm_rng *g = dm_rng_new(j->seed);
    dm_tensor *x = randn(4, (int64_t[]){ BATCH, 1, 28, 28 }, g);
    dm_tensor *w1 = randn(4, (int64_t[]){ 6, 1, 5, 5 }, g);
    dm_tensor *b1 = randn(1, (int64_t[]){ 6 }, g);
    dm_tensor *w2 = randn(4, (int64_t[]){ 16, 6, 5, 5 }, g);
    dm_tensor *y = NULL, *p = NULL, *z = NULL, *gz = NULL;
    if (!x || !w1 || !b1 || !w2) goto out;
    dm_set_requires_grad(x, 1);
    dm_set_requires_grad(w1, 1);
    dm_set_requires_grad(w2, 1);
    const int64_t one[2] = { 1, 1 }, two[2] = { 2, 2 }, zero[2] = { 0, 0 };
    y = dm_conv2d(x, w1, b1, one, two, one, 1);
    if (!y) goto out;
    p = dm_max_pool2d(y, two, two, zero, one, 0, NULL);
    if (!p) goto out;
    z = dm_conv2d(p, w2, NULL, one, zero, one, 1);
    if (!z) goto out;
    gz = dm_tensor_new(z->ndim, z->shape);
    if (!gz || dm_normal_(gz, 0, 1, g) != 0 || dm_backward(z, gz, 0) != 0) goto out;
    if (!w1->grad || !x->grad) goto out;
    j->out[round][0] = total(z);
    j->out[round][1] = total(w1->grad);
    j->out[round][2] = total(x->grad);
    rc = 0;
out:
    dm_tensor_release(gz); dm_tensor_release(z); dm_tensor_release(p); dm_tensor_release(y);
    dm_tensor_release(w2); dm_tensor_release(b1); dm_tensor_release(w1); dm_tensor_release(x);
    dm_rng_free(g);
    return rc;
}

static void *thread_main(void *arg)
{
    job *j = arg;
    j->ok = run(j, 0) == 0 && run(j, 1) == 0;
    return NULL;
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-4 * (1 + fabs(b));
}

int main(void)
{
    int64_t live0 = dm_live_bytes();
    CHECK(dm_set_num_threads(2) == 0, "set_num_threads(2)");
    job want[NT], got[NT];
    for (int k = 0; k < NT; k++) {
        want[k] = (job){ .seed = 40 + (uint64_t)k };
        got[k] = want[k];
        CHECKF(run(&want[k], 0) == 0, "seed %d alone", k);
    }
    pthread_t t[NT];
    for (int k = 0; k < NT; k++)
        CHECK(pthread_create(&t[k], NULL, thread_main, &got[k]) == 0, "pthread_create");
    for (int k = 0; k < NT; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < NT; k++) {
        CHECKF(got[k].ok, "thread %d ran", k);
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < NOUT; i++)
                CHECKF(near(got[k].out[r][i], want[k].out[0][i]),
                       "thread %d round %d value %d: %.9g, alone %.9g", k, r, i,
                       got[k].out[r][i], want[k].out[0][i]);
    }
    CHECK(dm_set_num_threads(1) == 0, "set_num_threads(1)");
    job one = { .seed = 40 };
    CHECK(run(&one, 0) == 0, "one thread");
    for (int i = 0; i < NOUT; i++)
        CHECKF(near(one.out[0][i], want[0].out[0][i]), "value %d on one thread: %.9g, two %.9g",
               i, one.out[0][i], want[0].out[0][i]);
    dm_empty_cache();
    CHECK(dm_live_bytes() == live0, "live bytes back to the start");
    return TEST_END("test_par_threads");
}
