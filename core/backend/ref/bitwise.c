/* ref/bitwise.c -- the naive loops of the bitwise and logical ops, floor_divide, remainder
 * and fmod (backend.h: binop2, unop2, divmod_bw): the cpu:ref device's, and the reference for
 * cpu/bitwise.c.  One element at a time from the definitions: truth values as x != 0, the
 * floating ops in double (c10's div_floor_floating written out; remainder = fmod with the
 * divisor's sign) rounded once to the compute type, integers in int64 (two's complement:
 * INT64_MIN by -1 wraps), a zero integer divisor found before anything is written. */
#include "internal.h"
#include "ref.h"
#include <math.h>

/* floor(a / b) as c10's div_floor_floating, in double */
static double floor_div(double a, double b)
{
    if (b == 0) return a / b;
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0)) div = div - 1;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5) fl = fl + 1;
    return fl;
}

static double remainder_(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && (b < 0) != (r < 0)) r = r + b;
    return r;
}

static int64_t int_op(int op, int64_t x, int64_t d)
{
    int64_t q, r;
    if (d == -1) { q = (int64_t)(0 - (uint64_t)x); r = 0; }    /* no overflow trap */
    else { q = x / d; r = x % d; }
    int off = r != 0 && (r < 0) != (d < 0);                     /* signs differ */
    if (op == DM_B2_FLOOR_DIVIDE) return off ? q - 1 : q;
    if (op == DM_B2_REMAINDER) return off ? r + d : r;
    return r;                                                   /* fmod: C's % */
}

int dm__ref_binop2(int op, dm_dtype ct, const void *a, const void *b, void *y, int64_t n)
{
    if (op >= DM_B2_LOGICAL_AND && op <= DM_B2_LOGICAL_XOR) {
        for (int64_t i = 0; i < n; i++) {
            int p = ((const double *)a)[i] != 0, q = ((const double *)b)[i] != 0;
            int r = op == DM_B2_LOGICAL_AND ? (p && q) : op == DM_B2_LOGICAL_OR ? (p || q)
                                                                                : (p != q);
            ((uint8_t *)y)[i] = (uint8_t)r;
        }
        return 0;
    }
    if (ct == DM_INT64) {
        const int64_t *x = a, *z = b;
        if (op > DM_B2_BITWISE_XOR)
            for (int64_t i = 0; i < n; i++)
                if (z[i] == 0) return -1;
        for (int64_t i = 0; i < n; i++) {
            int64_t r;
            if (op == DM_B2_BITWISE_AND) r = x[i] & z[i];
            else if (op == DM_B2_BITWISE_OR) r = x[i] | z[i];
            else if (op == DM_B2_BITWISE_XOR) r = x[i] ^ z[i];
            else r = int_op(op, x[i], z[i]);
            ((int64_t *)y)[i] = r;
        }
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        double p = ct == DM_FLOAT32 ? ((const float *)a)[i] : ((const double *)a)[i];
        double q = ct == DM_FLOAT32 ? ((const float *)b)[i] : ((const double *)b)[i];
        double r = op == DM_B2_FLOOR_DIVIDE ? floor_div(p, q)
                   : op == DM_B2_REMAINDER ? remainder_(p, q) : fmod(p, q);
        if (ct == DM_FLOAT32) ((float *)y)[i] = (float)r;
        else ((double *)y)[i] = r;
    }
    return 0;
}

void dm__ref_unop2(int logical, const void *x, void *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (logical) ((uint8_t *)y)[i] = ((const double *)x)[i] == 0 ? 1 : 0;
        else ((int64_t *)y)[i] = ~((const int64_t *)x)[i];
    }
}

void dm__ref_divmod_bw(int fmod_, const double *g, const double *a, const double *b, double *y,
                       int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double q = fmod_ ? trunc(a[i] / b[i]) : floor_div(a[i], b[i]);
        y[i] = -g[i] * q;
    }
}
