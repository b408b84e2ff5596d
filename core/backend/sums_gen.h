/* sums_gen.h -- summation helpers for one element type, shared by the reduction kernels
 * (backend/cpu/reduce_gen.h) and the reductions' backward kernels (reduce_gen.h); included
 * after T, S and KN are defined, once per type. */

/* sum of n contiguous values in double; eight independent lanes let the compiler vectorise
   without reassociating (no -ffast-math needed) */
static inline double KN(sum_contig)(const T *x, int64_t n)
{
    double lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)x[i + j];
    double s = 0;
    for (; i < n; i++) s += (double)x[i];
    return s + (((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                ((lane[4] + lane[5]) + (lane[6] + lane[7])));
}

/* acc[k] += x[k], k < n; blocks of eight so -O2's cheap vectoriser takes it too */
static inline void KN(add_row)(double *restrict acc, const T *restrict x, int64_t n)
{
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[k + j] += (double)x[k + j];
    for (; k < n; k++) acc[k] += (double)x[k];
}
