/* walk.h -- the strided walker: tensors broadcast to one shape, walked row by row.
 *
 * The shape's size-1 dims are dropped and the dims every operand steps through as one are
 * merged, so a contiguous tensor is one row and a transposed or broadcast one a few; the last
 * (merged) dim is the row, handed to a row kernel with each operand's stride (0 where it is
 * broadcast).  The elementwise kernels (backend/cpu/elementwise.c), the backward rules that
 * loop over broadcast inputs (elementwise.c) and copy/convert (dtype.c) walk with it.
 *
 *   dm_walk w;
 *   dm_walk_init(&w, 2, (const dm_tensor *[]){ a, b }, ndim, shape);
 *   int64_t len = dm_walk_row_len(&w);
 *   for (int64_t done = 0; done < n; done += len) {
 *       kern(len, dm_walk_ptr(&w, 0), dm_walk_row_stride(&w, 0), ...);
 *       dm_walk_next_row(&w);
 *   }                                                                                     */
#ifndef DM_WALK_H
#define DM_WALK_H

#include "internal.h"

#define DM_WALK_MAX_IN 3

typedef struct {
    int nd;                                  /* >= 1 after init */
    int nin;
    int64_t shape[DM_MAX_DIMS];
    int64_t st[DM_WALK_MAX_IN][DM_MAX_DIMS]; /* strides in elements, 0 where broadcast */
    int64_t off[DM_WALK_MAX_IN];             /* current storage offset of each operand */
    int64_t idx[DM_MAX_DIMS];
    const char *base[DM_WALK_MAX_IN];        /* storage->data of each operand */
    int esz[DM_WALK_MAX_IN];                 /* its element size in bytes */
} dm_walk;

/* t[k] broadcast to (ndim, shape); shape must hold no zero */
static inline void dm_walk_init(dm_walk *p, int nin, const dm_tensor *const *t, int ndim,
                                const int64_t *shape)
{
    p->nd = 0;
    p->nin = nin;
    for (int k = 0; k < nin; k++) {
        p->off[k] = t[k]->offset;
        p->base[k] = (const char *)t[k]->storage->data;
        p->esz[k] = (int)dm__esize(t[k]->dtype);
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;         /* a size-1 dim never moves any operand */
        int64_t s[DM_WALK_MAX_IN];
        for (int k = 0; k < nin; k++) {
            int lead = ndim - t[k]->ndim;
            s[k] = (d < lead || t[k]->shape[d - lead] == 1) ? 0 : t[k]->stride[d - lead];
        }
        /* merge with the previous kept dim when every operand steps through both as one */
        int merge = p->nd > 0;
        for (int k = 0; merge && k < nin; k++)
            if (p->st[k][p->nd - 1] != s[k] * shape[d]) merge = 0;
        if (merge) {
            p->shape[p->nd - 1] *= shape[d];
            for (int k = 0; k < nin; k++) p->st[k][p->nd - 1] = s[k];
        } else {
            p->shape[p->nd] = shape[d];
            for (int k = 0; k < nin; k++) p->st[k][p->nd] = s[k];
            p->nd++;
        }
    }
    if (p->nd == 0) {                        /* a single element */
        p->nd = 1;
        p->shape[0] = 1;
        for (int k = 0; k < nin; k++) p->st[k][0] = 0;
    }
    for (int d = 0; d < p->nd; d++) p->idx[d] = 0;
}

static inline int64_t dm_walk_row_len(const dm_walk *p) { return p->shape[p->nd - 1]; }
static inline int64_t dm_walk_row_stride(const dm_walk *p, int k) { return p->st[k][p->nd - 1]; }
/* operand k's first element of the current row */
static inline const void *dm_walk_ptr(const dm_walk *p, int k)
{
    return p->base[k] + p->off[k] * p->esz[k];
}

/* operand k's current storage offset, in elements */
static inline int64_t dm_walk_offset(const dm_walk *p, int k) { return p->off[k]; }

/* step to the next row (odometer over every dim but the last) */
static inline void dm_walk_next_row(dm_walk *p)
{
    for (int d = p->nd - 2; d >= 0; d--) {
        for (int k = 0; k < p->nin; k++) p->off[k] += p->st[k][d];
        if (++p->idx[d] < p->shape[d]) return;
        for (int k = 0; k < p->nin; k++) p->off[k] -= p->st[k][d] * p->shape[d];
        p->idx[d] = 0;
    }
}

/* BODY for every element of t broadcast to (ndim, shape), in row-major order: i is the
 * element's index (0, 1, ...), off its storage offset in t (elements).  For loops that are
 * per element by nature (a converting copy, a random fill in order, index checks); they run
 * a row at a time like the kernels.  `continue` goes to the next element; leave with
 * `return` or `goto`, not `break`. */
#define DM_WALK_EACH_TO(t, ndim, shape, i, off, ...) do {                                   \
        const dm_tensor *wt_ = (t);                                                         \
        int wnd_ = (ndim);                                                                  \
        const int64_t *wsh_ = (shape);                                                      \
        int64_t wn_ = 1;                                                                    \
        for (int d_ = 0; d_ < wnd_; d_++) wn_ *= wsh_[d_];                                  \
        if (wn_ == 0) break;                                                                \
        dm_walk w_;                                                                         \
        dm_walk_init(&w_, 1, &wt_, wnd_, wsh_);                                             \
        int64_t wlen_ = dm_walk_row_len(&w_), wst_ = dm_walk_row_stride(&w_, 0);            \
        for (int64_t i = 0; i < wn_; dm_walk_next_row(&w_))                                 \
            for (int64_t wj_ = 0, off = dm_walk_offset(&w_, 0); wj_ < wlen_; wj_++, i++, off += wst_) {  \
                __VA_ARGS__                                                                 \
            }                                                                               \
    } while (0)
#define DM_WALK_EACH(t, i, off, ...) \
    DM_WALK_EACH_TO(t, (t)->ndim, (t)->shape, i, off, __VA_ARGS__)

#endif
