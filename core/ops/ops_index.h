/* ops_index.h -- shared by gather.c, sort.c, scan.c and sample.c only (the index, sort, scan
 * and sampling ops): a typed dispatch over the dtypes and the [outer x n x inner] view of a
 * tensor along one dim. */
#ifndef DM_OPS_INDEX_H
#define DM_OPS_INDEX_H

#include "internal.h"

/* run the statements with T the C type of dt's elements (bool as uint8_t, 0 or 1) */
#define DM_TYPED(dt, ...) do {                                                              \
        switch (dt) {                                                                       \
        case DM_FLOAT32: { typedef float T; __VA_ARGS__ } break;                            \
        case DM_FLOAT64: { typedef double T; __VA_ARGS__ } break;                           \
        case DM_INT64: { typedef int64_t T; __VA_ARGS__ } break;                            \
        default: { typedef uint8_t T; __VA_ARGS__ } break;                                  \
        }                                                                                   \
    } while (0)

/* a before b in ascending order with NaN last (PyTorch's order for sort and topk); integer
   types never take the NaN branch */
#define DM_LT_NAN(a, b) ((a) < (b) || ((b) != (b) && (a) == (a)))

/* t seen as [outer x n x inner] around dim d (contiguous layout) */
static inline void dm__split_dim(const dm_tensor *t, int d, int64_t *outer, int64_t *n,
                                 int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int k = 0; k < d; k++) o *= t->shape[k];
    for (int k = d + 1; k < t->ndim; k++) in *= t->shape[k];
    *outer = o;
    *n = t->ndim ? t->shape[d] : 1;
    *inner = in;
}

/* bool results hold 0 or 1: an add or a product of bools is their or / and */
static inline void dm__bool_normalize(dm_tensor *t)
{
    if (t->dtype != DM_BOOL) return;
    uint8_t *p = dm__ptr(t);
    for (int64_t i = 0, n = dm__numel(t); i < n; i++) p[i] = p[i] != 0;
}

/* x (any dtype) as a new contiguous tensor of dtype dt (a copy even when x already is one) */
dm_tensor *dm__contig_copy(const dm_tensor *x, dm_dtype dt);

#endif
