/* test_mem.c -- the block cache and the live counters: one block per new tensor, views
 * outliving their tensor, the owner's and the shared cache, several threads at once. */
#include "testutil.h"
#include <pthread.h>

static void test_tensor_block(void)
{
    int64_t b0 = dm_live_bytes(), t0 = dm_live_tensors();
    dm_tensor *t = dm_tensor_full(2, (int64_t[]){5, 7}, 2.5f);
    CHECK(dm_live_bytes() - b0 == 35 * 4 && dm_live_tensors() - t0 == 1, "one tensor, its bytes");
    dm_tensor *v = dm_narrow(t, 1, 2, 3);
    dm_tensor *w = dm_transpose(v, 0, 1);
    CHECK(dm_live_tensors() - t0 == 3 && dm_live_bytes() - b0 == 35 * 4, "views share the bytes");
    dm_tensor_release(t);
    CHECK(dm_live_tensors() - t0 == 2, "the tensor is gone");
    CHECK(dm_live_bytes() - b0 == 35 * 4, "its storage lives on in the views");
    float *d = dm_data(w);
    d[0] = -1;
    CHECK(dm_get(v, (int64_t[]){0, 0}) == -1, "the views still read and write it");
    CHECK(dm_get(v, (int64_t[]){4, 2}) == 2.5f, "its values are intact");
    dm_tensor_release(v);
    CHECK(dm_live_bytes() - b0 == 35 * 4, "one view keeps it");
    dm_tensor_release(w);
    CHECK(dm_live_bytes() == b0 && dm_live_tensors() == t0, "the last view returns the block");
    /* empty tensors and scalars get blocks too */
    dm_tensor *e = dm_tensor_new(2, (int64_t[]){0, 3});
    dm_tensor *s = dm_tensor_scalar(4);
    CHECK(e && s && dm_numel(e) == 0 && dm_data(s)[0] == 4, "empty and scalar tensors");
    dm_tensor_release(e);
    dm_tensor_release(s);
    CHECK(dm_live_bytes() == b0 && dm_live_tensors() == t0, "and give them back");
}

static void test_cache_limit(void)
{
    int64_t lim = dm_cache_limit(-1);
    CHECKF(lim >= ((int64_t)256 << 20) && lim <= ((int64_t)2 << 30),
           "the default limit is an eighth of RAM within 256 MB .. 2 GB (got %lld)", (long long)lim);
    dm_tensor *t = dm_tensor_zeros(1, (int64_t[]){1000});
    dm_tensor_release(t);
    CHECK(dm_cached_bytes() >= 4000, "a freed block is cached");
    CHECK(dm_cache_limit(0) == 0, "the limit is set");
    CHECK(dm_cached_bytes() == 0, "lowering the limit trims the cache");
    t = dm_tensor_zeros(1, (int64_t[]){1000});
    dm_tensor_release(t);
    CHECK(dm_cached_bytes() == 0, "nothing is kept beyond the limit");
    CHECK(dm_cache_limit(lim) == lim, "the limit is restored");
    t = dm_tensor_zeros(1, (int64_t[]){1000});
    dm_tensor_release(t);
    CHECK(dm_cached_bytes() > 0, "blocks are kept again");
    dm_empty_cache();
    CHECK(dm_cached_bytes() == 0, "empty_cache gives every block back");
}

/* Each worker makes and frees tensors of several sizes, runs ops on them, and hands some
 * to the main thread to free (a block allocated in one cache, freed into another). */
#define NWORK 2
#define ROUNDS 4000
#define HANDOFF 64

typedef struct {
    unsigned seed;
    int ok;
    dm_tensor *handoff[HANDOFF];
} work;

static void *worker(void *arg)
{
    work *w = arg;
    w->ok = 1;
    for (int i = 0; i < ROUNDS; i++) {
        w->seed = w->seed * 1103515245u + 12345u;
        int64_t n = 1 + (int64_t)(w->seed >> 16) % 3000;
        dm_tensor *a = dm_tensor_full(1, &n, 1.5f);
        dm_tensor *b = dm_tensor_full(1, &n, 2.0f);
        dm_tensor *c = dm_add(a, b);
        dm_tensor *v = dm_narrow(c, 0, 0, 1);
        if (!a || !b || !c || !v || dm_data(v)[0] != 3.5f) w->ok = 0;
        dm_tensor_release(a);
        dm_tensor_release(b);
        dm_tensor_release(c);
        if (i < HANDOFF) w->handoff[i] = v;
        else dm_tensor_release(v);
    }
    return NULL;
}

static void test_threads(void)
{
    int64_t b0 = dm_live_bytes(), t0 = dm_live_tensors();
    dm_tensor *mine = dm_tensor_full(1, (int64_t[]){100}, 1);   /* this thread owns its cache */
    pthread_t th[NWORK];
    work w[NWORK];
    int started = 1;
    for (int k = 0; k < NWORK; k++) {
        memset(&w[k], 0, sizeof w[k]);
        w[k].seed = 17u + (unsigned)k;
        if (pthread_create(&th[k], NULL, worker, &w[k]) != 0) started = 0;
    }
    CHECK(started, "workers started");
    /* the owner allocates at the same time */
    for (int i = 0; i < ROUNDS; i++) {
        dm_tensor *x = dm_tensor_full(1, (int64_t[]){1 + i % 500}, 1);
        dm_tensor *y = dm_mul(x, mine);          /* broadcast fails unless sizes match */
        if (y) dm_tensor_release(y);
        dm_tensor_release(x);
    }
    for (int k = 0; k < NWORK && started; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < NWORK; k++) {
        CHECK(w[k].ok, "workers computed right");
        for (int i = 0; i < HANDOFF; i++) dm_tensor_release(w[k].handoff[i]);
    }
    dm_tensor_release(mine);
    CHECKF(dm_live_bytes() == b0, "live bytes back after the threads (off by %lld)",
           (long long)(dm_live_bytes() - b0));
    CHECKF(dm_live_tensors() == t0, "live tensors back after the threads (off by %lld)",
           (long long)(dm_live_tensors() - t0));
    CHECK(dm_cached_bytes() <= dm_cache_limit(-1), "the cache stays within its limit");
    dm_empty_cache();
    CHECK(dm_cached_bytes() == 0, "the owner empties both caches");
}

int main(void)
{
    tu_live t0 = tu_live_now();
    test_tensor_block();
    test_cache_limit();
    test_threads();
    CHECK_NO_LEAKS(t0);
    return TEST_END("test_mem");
}
