/* cpu/par.c -- two-way parallel sections for the cpu device's kernels.
 *
 * dm__cpu_par2(fn, arg) runs fn(arg, 0) on the calling thread and fn(arg, 1) on one helper
 * thread at the same time, and returns when both are done.  The helper is started on first
 * use and kept (it sleeps on a condition variable between sections; its per-thread
 * workspaces, e.g. the convolutions', are kept with it).  It is used only when the thread
 * count set by dm_set_num_threads is 2 or more (not set: one thread, as before); one section
 * runs at a time in the process: a caller that finds the helper busy (another Lua state in
 * another thread) runs both parts itself, one after the other.
 *
 * While a section runs, BLAS is told to use one thread (each part's products run on its own
 * core: two callers of OpenBLAS's threaded path would wait for each other), and the thread
 * count is restored after.  The mutex and condition variables order the helper's reads of
 * the job and the caller's reads of its results (ThreadSanitizer sees the same). */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "cpu.h"
#include <pthread.h>

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;   /* one section at a time */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;     /* guards everything below */
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int started, quit;
static pthread_t helper_tid;
static unsigned long posted, finished;
static int (*job_fn)(void *, int);
static void *job_arg;
static int job_rc;

static void *helper(void *unused)
{
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (posted == seen && !quit) pthread_cond_wait(&go, &mu);
        if (quit) break;
        seen = posted;
        int (*fn)(void *, int) = job_fn;
        void *arg = job_arg;
        pthread_mutex_unlock(&mu);
        int rc = fn(arg, 1);
        pthread_mutex_lock(&mu);
        job_rc = rc;
        finished = seen;
        pthread_cond_signal(&done);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* at exit: the helper is told to stop and joined, so its stack and workspace go back */
static void stop_helper(void)
{
    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&mu);
    pthread_join(helper_tid, NULL);
}

int dm__cpu_par_on(void)
{
    return dm__cpu_threads() >= 2;
}

int dm__cpu_par2(int (*fn)(void *, int), void *arg)
{
    if (dm__cpu_threads() < 2 || pthread_mutex_trylock(&busy) != 0) goto serial;
    pthread_mutex_lock(&mu);
    if (!started) {
        int ok = pthread_create(&helper_tid, NULL, helper, NULL) == 0;
        if (ok && atexit(stop_helper) != 0) {       /* no exit hook: keep it, unjoined */
            pthread_detach(helper_tid);
        }
        if (!ok) {
            pthread_mutex_unlock(&mu);
            pthread_mutex_unlock(&busy);
            goto serial;
        }
        started = 1;
    }
    int nt = dm__cpu_threads();
    dm__blas_threads(1);                /* before the helper can start a product */
    job_fn = fn;
    job_arg = arg;
    posted++;
    unsigned long mine = posted;
    pthread_cond_signal(&go);
    pthread_mutex_unlock(&mu);
    int rc0 = fn(arg, 0);
    pthread_mutex_lock(&mu);
    while (finished != mine) pthread_cond_wait(&done, &mu);
    int rc1 = job_rc;
    pthread_mutex_unlock(&mu);
    dm__blas_threads(nt);
    pthread_mutex_unlock(&busy);
    if (rc0) return rc0;
    if (rc1) dm_seterr("out of memory (a parallel section's workspace)");
    return rc1;
serial:
    {
        int rc = fn(arg, 0);
        return rc ? rc : fn(arg, 1);
    }
}
