/* cpu/bitwise.c -- the loops of core/ops/bitwise.c (backend.h: binop2, unop2, divmod_bw):
 * the bitwise and logical ops, floor_divide, remainder and fmod over flat arrays of the
 * compute type, and the divisor's gradient of remainder and fmod.  Floating results in
 * their own type with PyTorch's formulas (c10's div_floor_floating, remainder's sign fix);
 * integers in int64.  The reference is ref/bitwise.c. */
#include "internal.h"
#include "cpu.h"
#include <math.h>

/* c10's div_floor_floating: floor(a / b) computed from fmod so that a == b q + r exactly */
#define DIV_FLOOR(T, FMOD, FLOOR, a, b, out) do {                               \
        T a_ = (a), b_ = (b);                                                   \
        if (b_ == 0) { out = a_ / b_; break; }                                  \
        T mod_ = FMOD(a_, b_), div_ = (a_ - mod_) / b_;                          \
        if (mod_ != 0 && (b_ < 0) != (mod_ < 0)) div_ -= 1;                     \
        T fl_;                                                                  \
        if (div_ != 0) { fl_ = FLOOR(div_); if (div_ - fl_ > (T)0.5) fl_ += 1; } \
        else fl_ = copysign((T)0, a_ / b_);                                     \
        out = fl_;                                                              \
    } while (0)

static void arith_f64(int op, const double *a, const double *b, double *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double r;
        if (op == DM_B2_FLOOR_DIVIDE) DIV_FLOOR(double, fmod, floor, a[i], b[i], r);
        else {
            r = fmod(a[i], b[i]);
            if (op == DM_B2_REMAINDER && r != 0 && (b[i] < 0) != (r < 0)) r += b[i];
        }
        y[i] = r;
    }
}

static void arith_f32(int op, const float *a, const float *b, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float r;
        if (op == DM_B2_FLOOR_DIVIDE) DIV_FLOOR(float, fmodf, floorf, a[i], b[i], r);
        else {
            r = fmodf(a[i], b[i]);
            if (op == DM_B2_REMAINDER && r != 0 && (b[i] < 0) != (r < 0)) r += b[i];
        }
        y[i] = r;
    }
}

/* integers: b == 0 refused before; INT64_MIN by -1 wraps (PyTorch traps) */
static void arith_i64(int op, const int64_t *a, const int64_t *b, int64_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t x = a[i], d = b[i], q, r;
        if (d == -1) { q = (int64_t)(0 - (uint64_t)x); r = 0; }
        else { q = x / d; r = x % d; }
        if (op == DM_B2_FLOOR_DIVIDE) y[i] = (r != 0 && ((r < 0) != (d < 0))) ? q - 1 : q;
        else if (op == DM_B2_REMAINDER) y[i] = (r != 0 && ((r < 0) != (d < 0))) ? r + d : r;
        else y[i] = r;
    }
}

int dm__cpu_binop2(int op, dm_dtype ct, const void *pa, const void *pb, void *py, int64_t n)
{
    if (op >= DM_B2_LOGICAL_AND && op <= DM_B2_LOGICAL_XOR) {
        const double *x = pa, *z = pb;
        uint8_t *y = py;
        for (int64_t i = 0; i < n; i++) {
            int p = x[i] != 0, q = z[i] != 0;
            y[i] = (uint8_t)(op == DM_B2_LOGICAL_AND ? p && q : op == DM_B2_LOGICAL_OR ? p || q
                             : p != q);
        }
    } else if (ct == DM_INT64) {
        const int64_t *x = pa, *z = pb;
        int64_t *y = py;
        if (op <= DM_B2_BITWISE_XOR) {
            for (int64_t i = 0; i < n; i++)
                y[i] = op == DM_B2_BITWISE_AND ? x[i] & z[i] : op == DM_B2_BITWISE_OR
                       ? x[i] | z[i] : x[i] ^ z[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                if (z[i] == 0) return -1;
            arith_i64(op, x, z, y, n);
        }
    } else if (ct == DM_FLOAT32) {
        arith_f32(op, pa, pb, py, n);
    } else {
        arith_f64(op, pa, pb, py, n);
    }
    return 0;
}

void dm__cpu_unop2(int logical, const void *px, void *py, int64_t n)
{
    if (logical) {
        const double *v = px;
        uint8_t *y = py;
        for (int64_t i = 0; i < n; i++) y[i] = v[i] == 0;
    } else {
        const int64_t *v = px;
        int64_t *y = py;
        for (int64_t i = 0; i < n; i++) y[i] = ~v[i];
    }
}

void dm__cpu_divmod_bw(int fmod_, const double *g, const double *a, const double *b, double *y,
                       int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double q;
        if (!fmod_) DIV_FLOOR(double, fmod, floor, a[i], b[i], q);
        else q = trunc(a[i] / b[i]);
        y[i] = -g[i] * q;
    }
}
