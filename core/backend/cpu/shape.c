/* cpu/shape.c -- the element moves of core/ops/shape_ops.c (backend.h: tri, flip): tril and
 * triu a row at a time (a memset and one memcpy of the kept run), flip a row at a time (one
 * memcpy when the last dim keeps its order).  The reference is ref/shape.c. */
#include "internal.h"
#include "cpu.h"
#include <string.h>

void dm__cpu_tri(size_t es, int64_t nb, int64_t r, int64_t c, int64_t k, int upper,
                 const void *src_, void *dst_)
{
    /* beyond -r..c every k keeps or zeroes whole rows alike; clamped, i + k cannot overflow */
    if (k > c) k = c;
    if (k < -r) k = -r;
    const char *src = src_;
    char *dst = dst_;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < r; i++) {
            const char *s = src + (b * r + i) * c * (int64_t)es;
            char *o = dst + (b * r + i) * c * (int64_t)es;
            /* tril keeps j <= i + k, triu keeps j >= i + k */
            int64_t lim = i + k;
            int64_t lo = upper ? (lim < 0 ? 0 : lim > c ? c : lim) : 0;
            int64_t hi = upper ? c : (lim + 1 < 0 ? 0 : lim + 1 > c ? c : lim + 1);
            memset(o, 0, (size_t)c * es);
            if (hi > lo) memcpy(o + lo * (int64_t)es, s + lo * (int64_t)es, (size_t)(hi - lo) * es);
        }
}

void dm__cpu_flip(size_t es, int nd, const int64_t *shape, unsigned mask, const void *src_,
                  void *dst_)
{
    int64_t n, idx[DM_MAX_DIMS] = {0}, cs[DM_MAX_DIMS];
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) { cs[d] = s; s *= shape[d]; }
    n = s;
    const char *src = src_;
    char *dst = dst_;
    int64_t inner = nd ? shape[nd - 1] : 1;
    int rev_inner = nd && (mask >> (nd - 1) & 1);
    if (n == 0) return;
    for (int64_t o = 0; o < n; o += inner) {
        int64_t so = 0;
        for (int d = 0; d < nd - 1; d++)
            so += (mask >> d & 1 ? shape[d] - 1 - idx[d] : idx[d]) * cs[d];
        if (!rev_inner) {
            memcpy(dst + o * (int64_t)es, src + so * (int64_t)es, (size_t)inner * es);
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + (o + j) * (int64_t)es, src + (so + inner - 1 - j) * (int64_t)es, es);
        }
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}
