/* cpu/reduce_gen.h -- the cpu device's reduction and softmax kernels for one element type,
 * included by cpu/reduce.c once per type (Torch7's generic/ pattern): T is the element type,
 * S its suffix (f float32, d float64), TEXP its exp.  Each inclusion defines the kernels as
 * T_S-suffixed static functions, so float32 runs the very loops it ran before and float64
 * the same loops in double.  Kernels see contiguous [outer x R x inner] blocks (dm_geom,
 * backend.h); none allocates tensors or records nodes.  The naive reference for each is in
 * ref/reduce.c. */
#define KN(name) KN2(name, S)
#define KN2(name, s) KN3(name, s)
#define KN3(name, s) name##_##s

#include "../sums_gen.h"

/* y[o, i] = scale * sum_r x[o, r, i]; x is [outer x R x inner], y is [outer x inner] */
static int KN(sum)(const void *xv, geom G, double scale, void *yv)
{
    const T *x = xv;
    T *y = yv;
    if (G.inner == 1) {
        for (int64_t o = 0; o < G.outer; o++)
            y[o] = (T)(KN(sum_contig)(x + o * G.r, G.r) * scale);
        return 0;
    }
    double *acc = malloc((size_t)G.inner * sizeof *acc);
    if (!acc) { dm_seterr("out of memory"); return -1; }
    for (int64_t o = 0; o < G.outer; o++) {
        const T *xo = x + o * G.r * G.inner;
        for (int64_t i = 0; i < G.inner; i++) acc[i] = 0;
        for (int64_t r = 0; r < G.r; r++) KN(add_row)(acc, xo + r * G.inner, G.inner);
        for (int64_t i = 0; i < G.inner; i++) y[o * G.inner + i] = (T)(acc[i] * scale);
    }
    free(acc);
    return 0;
}

/* index of the extreme among s[0], s[stride], ... (R > 0): the first NaN if any (NaN wins,
   as in PyTorch), else the first occurrence of the max (min) */
static inline int64_t KN(extreme_index)(const T *s, int64_t R, int64_t stride, int is_min)
{
    T best = s[0];
    int64_t at = 0;
    if (IS_NAN(best)) return 0;
    for (int64_t r = 1; r < R; r++) {
        T v = s[r * stride];
        if (IS_NAN(v)) return r;
        if (is_min ? v < best : v > best) { best = v; at = r; }
    }
    return at;
}

static inline double KN(slice_mean)(const T *s, int64_t R, int64_t stride)
{
    double sum = 0;
    for (int64_t r = 0; r < R; r++) sum += (double)s[r * stride];
    return R > 0 ? sum / (double)R : NAN;
}

/* variance of one slice: sum (x - mean)^2 / max(0, R - correction), as PyTorch */
static inline double KN(slice_var)(const T *s, int64_t R, int64_t stride, int64_t correction)
{
    if (R == 0) return NAN;
    double mean = KN(slice_mean)(s, R, stride), m2 = 0;
    for (int64_t r = 0; r < R; r++) {
        double d = (double)s[r * stride] - mean;
        m2 += d * d;
    }
    double div = (double)R > (double)correction ? (double)R - (double)correction : 0.0;
    return div > 0 ? m2 / div : (m2 > 0 ? INFINITY : NAN);
}

/* prod, max, min, var, std of every slice into y ([outer x inner], type T); argmax/argmin
   into y as int64 */
static void KN(fold)(dm_redop op, const void *xv, geom G, int64_t correction, void *yv)
{
    const T *xd = xv;
    int is_min = op == DM_RED_MIN || op == DM_RED_ARGMIN;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            const T *s = xd + o * G.r * G.inner + i;
            int64_t k = o * G.inner + i;
            switch (op) {
            case DM_RED_PROD: {
                double p = 1;
                for (int64_t r = 0; r < G.r; r++) p *= (double)s[r * G.inner];
                ((T *)yv)[k] = (T)p;
                break;
            }
            case DM_RED_MAX: case DM_RED_MIN:
                ((T *)yv)[k] = s[KN(extreme_index)(s, G.r, G.inner, is_min) * G.inner];
                break;
            case DM_RED_ARGMAX: case DM_RED_ARGMIN:
                ((int64_t *)yv)[k] = KN(extreme_index)(s, G.r, G.inner, is_min);
                break;
            case DM_RED_VAR:
                ((T *)yv)[k] = (T)KN(slice_var)(s, G.r, G.inner, correction);
                break;
            case DM_RED_STD:
                ((T *)yv)[k] = (T)sqrt(KN(slice_var)(s, G.r, G.inner, correction));
                break;
            default:
                break;
            }
        }
}

/* max/min along the reduced dim: values (type T) and 0-based indices */
static void KN(maxmin)(const void *xv, geom G, int is_min, void *vv, int64_t *id)
{
    const T *xd = xv;
    T *vd = vv;
    for (int64_t o = 0; o < G.outer; o++)
        for (int64_t i = 0; i < G.inner; i++) {
            const T *s = xd + o * G.r * G.inner + i;
            int64_t at = KN(extreme_index)(s, G.r, G.inner, is_min);
            vd[o * G.inner + i] = s[at * G.inner];
            id[o * G.inner + i] = at;
        }
}

/* max of s[0..n) (-inf if none, NaN ignored): eight lanes of selects, which vectorise */
static inline T KN(max_contig)(const T *s, int64_t n)
{
    T lane[8] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = s[i + j] > lane[j] ? s[i + j] : lane[j];
    T mx = -INFINITY;
    for (; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    return mx;
}

/* y[r] = exp(s[r] - mx), r < n, contiguous */
static inline void KN(exp_shifted)(const T *restrict s, T *restrict y, int64_t n, T mx)
{
    for (int64_t r = 0; r < n; r++) y[r] = TEXP(s[r] - mx);
}

/* one softmax over s[r * st], r < R, into y[r * st] (y never overlaps s); subtracting the
   max keeps exp finite.  Like PyTorch, softmax multiplies by the reciprocal of the sum, which
   is in double.  The common last-dim case (st = 1) has loops of its own that vectorise: the
   exps go to y first (TEXP is vmath.h's for float32), summed in eight lanes after. */
static inline void KN(softmax_slice)(const T *s, T *y, int64_t R, int64_t st, int logsm)
{
    T mx;
    double sum = 0;
    if (st == 1) {
        mx = KN(max_contig)(s, R);
        KN(exp_shifted)(s, y, R, mx);
        sum = KN(sum_contig)(y, R);
    } else {
        mx = -INFINITY;
        for (int64_t r = 0; r < R; r++) mx = s[r * st] > mx ? s[r * st] : mx;
        for (int64_t r = 0; r < R; r++) {
            T e = TEXP(s[r * st] - mx);
            y[r * st] = e;
            sum += (double)e;
        }
    }
    if (logsm) {
        T lse = (T)log(sum);
        if (st == 1) for (int64_t r = 0; r < R; r++) y[r] = (s[r] - mx) - lse;
        else for (int64_t r = 0; r < R; r++) y[r * st] = (s[r * st] - mx) - lse;
    } else {
        T inv = (T)(1.0 / sum);
        if (st == 1) for (int64_t r = 0; r < R; r++) y[r] *= inv;
        else for (int64_t r = 0; r < R; r++) y[r * st] *= inv;
    }
}

/* the softmaxes over r of an [R x inner] block x into y, one per i, vectorised across i
   (rows of inner contiguous values): the same steps and roundings as softmax_slice's.
   mx and sum are scratch of inner values each. */
DM_VMATH_CLONES
static void KN(softmax_block)(const T *x, T *y, int64_t R, int64_t inner, int logsm, T *mx,
                              double *sum)
{
    for (int64_t i = 0; i < inner; i++) mx[i] = -INFINITY;
    for (int64_t r = 0; r < R; r++) {
        const T *xr = x + r * inner;
        for (int64_t i = 0; i < inner; i++) mx[i] = xr[i] > mx[i] ? xr[i] : mx[i];
    }
    for (int64_t i = 0; i < inner; i++) sum[i] = 0;
    for (int64_t r = 0; r < R; r++) {
        const T *xr = x + r * inner;
        T *yr = y + r * inner;
        for (int64_t i = 0; i < inner; i++) yr[i] = TEXP(xr[i] - mx[i]);
        KN(add_row)(sum, yr, inner);
    }
    if (logsm) {
        for (int64_t i = 0; i < inner; i++) sum[i] = (T)log(sum[i]);        /* lse, in T */
        for (int64_t r = 0; r < R; r++) {
            const T *xr = x + r * inner;
            T *yr = y + r * inner;
            for (int64_t i = 0; i < inner; i++) yr[i] = (xr[i] - mx[i]) - (T)sum[i];
        }
    } else {
        for (int64_t i = 0; i < inner; i++) sum[i] = (T)(1.0 / sum[i]);     /* inv, in T */
        for (int64_t r = 0; r < R; r++) {
            T *yr = y + r * inner;
            for (int64_t i = 0; i < inner; i++) yr[i] *= (T)sum[i];
        }
    }
}

// x and y are [outer x R x inner]; one softmax per (o, i)
DM_VMATH_CLONES
static void KN(softmax)(const void *xv, void *yv, geom G, int logsm)
{
    const T *xd = xv;
    T *yd = yv;
    T *mx = NULL;
    double *sum = NULL;
    if (G.inner > 1) {                 /* scratch for the blocks; without it, slice by slice */
        mx = malloc((size_t)G.inner * sizeof *mx);
        sum = mx ? malloc((size_t)G.inner * sizeof *sum) : NULL;
    }
    for (int64_t o = 0; o < G.outer; o++) {
        int64_t base = o * G.r * G.inner;
        if (G.inner == 1) KN(softmax_slice)(xd + base, yd + base, G.r, 1, logsm);
        else if (sum) KN(softmax_block)(xd + base, yd + base, G.r, G.inner, logsm, mx, sum);
        else
            for (int64_t i = 0; i < G.inner; i++)
                KN(softmax_slice)(xd + base + i, yd + base + i, G.r, G.inner, logsm);
    }
    free(mx);
    free(sum);
}

#undef KN
#undef KN2
#undef KN3
#undef T
#undef S
#undef TEXP
