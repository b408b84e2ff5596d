/* sgemm.c -- the sgemm ceiling of this machine: OpenBLAS's cblas_sgemm on square n x n
 * matrices, best of several runs, at a given thread count.  make bench builds it and
 * bench/run.lua runs it; it prints one line of key=value pairs:
 *
 *     sgemm [threads [n]]   ->   threads=2 n=1024 gflops=312.4 config=OpenBLAS ... core=Zen
 *
 * 2 n^3 flops per product.  The matrices are filled once and reused, so the figure is the
 * kernel's, without page faults or allocation. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int n = argc > 2 ? atoi(argv[2]) : 1024;
    if (threads < 1 || n < 16) {
        fprintf(stderr, "usage: sgemm [threads >= 1 [n >= 16]]\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) { fprintf(stderr, "sgemm: out of memory\n"); return 1; }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        c[i] = 0.0f;
    }
    double flops = 2.0 * n * (double)n * n, best = 0;
    /* warm up (thread pool, buffers), then the best of runs lasting ~0.1 s each */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int run = 0; run < 7; run++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                        0.0f, c, n);
            reps++;
            t = now() - t0;
        } while (t < 0.1);
        double g = flops * reps / t / 1e9;
        if (g > best) best = g;
    }
    const char *cfg = openblas_get_config(), *core = openblas_get_corename();
    printf("threads=%d n=%d gflops=%.1f core=%s config=%s\n", openblas_get_num_threads(), n,
           best, core ? core : "?", cfg ? cfg : "?");
    free(a); free(b); free(c);
    return 0;
}
