/* shape_ops.c -- diagonals (diagonal, diag, trace), triangles (tril, triu), flip, and the
 * ops built from views and joins (repeat, tile, split, chunk, unbind, roll, narrow_copy,
 * movedim), with PyTorch 1.13's semantics.
 *
 * Four ops have nodes of their own: diagonal (a view, DiagonalBackward0), diag of a vector
 * (DiagBackward0), tril/triu and flip (copies).  Everything else is a composition of
 * differentiable ops (narrow, select, cat, permute, reshape, clone), so its backward is
 * theirs.  Every dtype is taken: the kernels move elements, they do no arithmetic (the
 * device's tri and flip, backend/cpu/shape.c, ref/shape.c; diagonal is a view, and diag's,
 * trace's and diagonal's backward copies and sums are the table's copy and reduce). */
#include "internal.h"
#include "backend.h"
#include <stdio.h>

static int want(dm_node *n, int k) { return n->in[k] && n->in[k]->requires_grad; }

/* t's values as a contiguous tensor with no history (t itself, retained, when it is one) */
/* ---- diagonal ------------------------------------------------------------------------- */

/* the length of the diagonal `offset` of a [s1 x s2] matrix */
static int64_t diag_len(int64_t s1, int64_t s2, int64_t offset)
{
    int64_t n = offset >= 0 ? (s1 < s2 - offset ? s1 : s2 - offset)
                            : (s1 + offset < s2 ? s1 + offset : s2);
    return n > 0 ? n : 0;
}

/* the view without a node: dims d1 and d2 go, the diagonal comes last */
static dm_tensor *diagonal_alias(const dm_tensor *t, int64_t offset, int d1, int d2)
{
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < t->ndim; d++)
        if (d != d1 && d != d2) { sh[k] = t->shape[d]; st[k++] = t->stride[d]; }
    int64_t len = diag_len(t->shape[d1], t->shape[d2], offset);
    int64_t off = t->offset;
    if (len > 0) off += offset >= 0 ? offset * t->stride[d2] : -offset * t->stride[d1];
    sh[k] = len;
    st[k++] = t->stride[d1] + t->stride[d2];
    return dm_tensor_alias(t, k, sh, st, off);
}

dm_tensor *dm_diagonal(const dm_tensor *t, int64_t offset, int dim1, int dim2)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim < 2) {
        dm_seterr("diagonal: expected a tensor of at least 2 dims, got %s", SHAPE(t, b));
        return NULL;
    }
    int d1 = dm_wrap_dim("diagonal", dim1, t->ndim, 0);
    if (d1 < 0) return NULL;
    int d2 = dm_wrap_dim("diagonal", dim2, t->ndim, 0);
    if (d2 < 0) return NULL;
    if (d1 == d2) {
        dm_seterr("diagonal: dim1 and dim2 cannot be the same dim (%d) of %s", d1 + 1,
                  SHAPE(t, b));
        return NULL;
    }
    dm_tensor *out = diagonal_alias(t, offset, d1, d2);
    if (!out) return NULL;
    const dm_tensor *in = t;
    if (dm__needs_grad(1, &in)) {
        dm_node *nd = dm__record(DM_OP_DIAGONAL, 0, out, 1, &in);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.diagonal.offset = offset;
        nd->par.diagonal.dim1 = d1;
        nd->par.diagonal.dim2 = d2;
    }
    return out;
}

/* zeros of the input's shape with g copied onto the diagonal */
int dm__bw_diagonal(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                    dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    dm_tensor *z = dm_tensor_zeros_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!z) return -1;
    dm_tensor *w = diagonal_alias(z, n->par.diagonal.offset, n->par.diagonal.dim1,
                                  n->par.diagonal.dim2);
    if (!w || dm_copy_(w, g)) { dm_tensor_release(w); dm_tensor_release(z); return -1; }
    dm_tensor_release(w);
    gin[0] = z;
    return 0;
}

/* v [n] -> [n + |k| x n + |k|] with v on diagonal k, zeros elsewhere */
static dm_tensor *diag_embed(const dm_tensor *v, int64_t k)
{
    dm__device_of(v);
    int64_t n = v->shape[0];
    if (k < -DM_MAX_NUMEL || k > DM_MAX_NUMEL) {       /* |k| and n + |k| must not overflow */
        dm_seterr("diag: offset %lld is out of range for a vector of %lld elements",
                  (long long)k, (long long)n);
        return NULL;
    }
    int64_t ak = k < 0 ? -k : k;
    int64_t m = n + ak;
    dm_tensor *out = dm_tensor_zeros_dtype(2, (int64_t[]){ m, m }, v->dtype);
    if (!out) return NULL;
    dm_tensor *w = diagonal_alias(out, k, 0, 1);
    if (!w) { dm_tensor_release(out); return NULL; }
    dm__copy_convert(w, v);
    dm_tensor_release(w);
    if (dm__needs_grad(1, &v)) {
        dm_node *nd = dm__record(DM_OP_DIAG, 0, out, 1, &v);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.diagonal.offset = k;
    }
    return out;
}

int dm__bw_diag(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    dm_tensor *d = diagonal_alias(g, n->par.diagonal.offset, 0, 1);
    if (!d) return -1;
    gin[0] = dm_clone(d);
    dm_tensor_release(d);
    return gin[0] ? 0 : -1;
}

dm_tensor *dm_diag(const dm_tensor *t, int64_t offset)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim == 1) return diag_embed(t, offset);
    if (t->ndim != 2) {
        dm_seterr("diag: expected a 1-D or 2-D tensor, got %s", SHAPE(t, b));
        return NULL;
    }
    dm_tensor *d = dm_diagonal(t, offset, 0, 1);
    if (!d) return NULL;
    dm_tensor *out = dm_clone(d);
    dm_tensor_release(d);
    return out;
}

dm_tensor *dm_trace(const dm_tensor *t)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim != 2) {
        dm_seterr("trace: expected a matrix, got %s", SHAPE(t, b));
        return NULL;
    }
    if (t->dtype == DM_BOOL) {
        dm_seterr("trace: not implemented for bool tensors");
        return NULL;
    }
    dm_tensor *d = dm_diagonal(t, 0, 0, 1);
    if (!d) return NULL;
    dm_tensor *out = dm_reduce(DM_RED_SUM, d, DM_ALL, 0, 0);
    dm_tensor_release(d);
    return out;
}

/* ---- tril / triu ---------------------------------------------------------------------- */

/* out (contiguous, t's shape and dtype) = t (contiguous) with the elements above (tril) or
 * below (triu) diagonal k of every matrix (the last two dims) zeroed: the device's tri */
static void tri_kernel(const dm_tensor *t, dm_tensor *out, int64_t k, int upper)
{
    int64_t r = t->shape[t->ndim - 2], c = t->shape[t->ndim - 1];
    int64_t nb = r != 0 && c != 0 ? dm__numel(t) / (r * c) : 0;
    dm__kernels(dm__cur_device)->tri(dm__esize(t->dtype), nb, r, c, k, upper, dm__ptr(t),
                                     dm__ptr(out));
}

static dm_tensor *tri(const char *fn, dm_op op, const dm_tensor *t, int64_t k)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim < 2) {
        dm_seterr("%s: expected a tensor of at least 2 dims, got %s", fn, SHAPE(t, b));
        return NULL;
    }
    dm__device_of(t);
    dm_tensor *c = dm__contig_nograd(t);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    if (out) tri_kernel(c, out, k, op == DM_OP_TRIU);
    dm_tensor_release(c);
    if (!out) return NULL;
    if (dm__needs_grad(1, &t)) {
        dm_node *nd = dm__record(op, 0, out, 1, &t);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.diagonal.offset = k;
    }
    return out;
}

dm_tensor *dm_tril(const dm_tensor *t, int64_t k) { return tri("tril", DM_OP_TRIL, t, k); }
dm_tensor *dm_triu(const dm_tensor *t, int64_t k) { return tri("triu", DM_OP_TRIU, t, k); }

/* the same triangle of the gradient */
int dm__bw_tri(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    dm_tensor *out = dm_tensor_new_dtype(g->ndim, g->shape, g->dtype);
    if (!out) return -1;
    tri_kernel(g, out, n->par.diagonal.offset, n->op == DM_OP_TRIU);
    gin[0] = out;
    return 0;
}

/* ---- flip ----------------------------------------------------------------------------- */

/* out (contiguous) = t (contiguous) reversed along the dims whose bit is set in mask: the
   device's flip */
static void flip_kernel(const dm_tensor *t, dm_tensor *out, unsigned mask)
{
    dm__kernels(dm__cur_device)->flip(dm__esize(t->dtype), t->ndim, t->shape, mask,
                                      dm__ptr(t), dm__ptr(out));
}

static dm_tensor *flip_mask(const dm_tensor *t, unsigned mask)
{
    dm__device_of(t);
    dm_tensor *c = dm__contig_nograd(t);
    if (!c) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    if (out) flip_kernel(c, out, mask);
    dm_tensor_release(c);
    return out;
}

dm_tensor *dm_flip(const dm_tensor *t, int n, const int *dims)
{
    unsigned mask = 0;
    int nd = t->ndim ? t->ndim : 1;
    for (int i = 0; i < n; i++) {
        int d = dm_wrap_dim("flip", dims[i], nd, 0);
        if (d < 0) return NULL;
        if (mask >> d & 1) {
            dm_seterr("flip: dim %d appears more than once in the list of dims", d + 1);
            return NULL;
        }
        mask |= 1u << d;
    }
    if (t->ndim == 0) mask = 0;
    dm_tensor *out = flip_mask(t, mask);
    if (!out) return NULL;
    if (dm__needs_grad(1, &t)) {
        dm_node *nd2 = dm__record(DM_OP_FLIP, 0, out, 1, &t);
        if (!nd2) { dm_tensor_release(out); return NULL; }
        nd2->par.flip_dims = mask;
    }
    return out;
}

int dm__bw_flip(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    gin[0] = flip_mask(g, n->par.flip_dims);
    return gin[0] ? 0 : -1;
}

/* ---- compositions ----------------------------------------------------------------------- */

/* "[2, 3]" for a list of counts */
static char *list_str(int n, const int64_t *v, char *buf, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)v[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

/* t repeated reps[d] times along dim d, one cat per dim (the copies' gradients sum) */
static dm_tensor *repeat_dims(const dm_tensor *t, const int64_t *reps)
{
    /* the result's shape first, through the checked helper: sizes * repeats must neither
       overflow nor pass the size limit */
    int64_t osh[DM_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] != 0 && reps[d] > DM_MAX_NUMEL / t->shape[d]) {
            char b[DM_SHAPE_BUF];
            dm_seterr("repeat: %lld repeats of dim %d of %s are too many (the result would "
                      "have more than %lld elements)", (long long)reps[d], d + 1, SHAPE(t, b),
                      (long long)DM_MAX_NUMEL);
            return NULL;
        }
        osh[d] = t->shape[d] * reps[d];
    }
    int64_t on = dm__check_shape("repeat", t->ndim, osh);
    if (on < 0) return NULL;
    if (on == 0 && t->ndim > 0) {       /* nothing to copy (however many repeats): t's zero
                                           elements (narrowed where a repeat is 0) reshaped */
        int z = -1;
        if (dm__numel(t) != 0) for (int d = 0; d < t->ndim && z < 0; d++) if (!reps[d]) z = d;
        dm_tensor *e = z < 0 ? dm_tensor_retain((dm_tensor *)t) : dm_narrow(t, z, 0, 0);
        dm_tensor *r = e ? dm_reshape(e, t->ndim, osh) : NULL;
        dm_tensor *out = r ? dm_clone(r) : NULL;
        dm_tensor_release(e);
        dm_tensor_release(r);
        return out;
    }
    for (int d = 0; d < t->ndim; d++)
        if (reps[d] > INT32_MAX) {
            dm_seterr("repeat: %lld repeats are too many", (long long)reps[d]);
            return NULL;
        }
    dm_tensor *cur = dm_tensor_retain((dm_tensor *)t);
    for (int d = 0; d < t->ndim && cur; d++) {
        if (reps[d] == 1) continue;
        dm_tensor *next;
        if (reps[d] == 0) {
            dm_tensor *e = dm_narrow(cur, d, 0, 0);
            next = e ? dm_contiguous(e) : NULL;
            dm_tensor_release(e);
        } else {
            dm_tensor **list = malloc((size_t)reps[d] * sizeof *list);
            if (!list) { dm_seterr("repeat: out of memory"); next = NULL; }
            else {
                for (int64_t i = 0; i < reps[d]; i++) list[i] = cur;
                next = dm_cat((int)reps[d], list, d);
                free(list);
            }
        }
        dm_tensor_release(cur);
        cur = next;
    }
    if (cur == t) {                     /* nothing repeated: still a copy, as PyTorch's */
        dm_tensor_release(cur);
        cur = dm_clone(t);
    }
    return cur;
}

dm_tensor *dm_repeat(const dm_tensor *t, int n, const int64_t *reps)
{
    char b[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (n < t->ndim) {
        dm_seterr("repeat: %d repeats given for a tensor %s of %d dims (at least %d needed)",
                  n, SHAPE(t, b), t->ndim, t->ndim);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (reps[i] < 0) {
            dm_seterr("repeat: repeats %s must not be negative",
                      list_str(n, reps, b2, sizeof b2));
            return NULL;
        }
    int64_t sh[DM_MAX_DIMS];
    if (n > DM_MAX_DIMS) {
        dm_seterr("repeat: %d dims (at most %d supported)", n, DM_MAX_DIMS);
        return NULL;
    }
    int lead = n - t->ndim;
    for (int d = 0; d < n; d++) sh[d] = d < lead ? 1 : t->shape[d - lead];
    dm_tensor *v = dm_reshape(t, n, sh);
    if (!v) return NULL;
    dm_tensor *out = repeat_dims(v, reps);
    dm_tensor_release(v);
    return out;
}

dm_tensor *dm_tile(const dm_tensor *t, int n, const int64_t *reps)
{
    int64_t r[DM_MAX_DIMS];
    if (n > DM_MAX_DIMS) {
        dm_seterr("tile: %d dims (at most %d supported)", n, DM_MAX_DIMS);
        return NULL;
    }
    if (n >= t->ndim) return dm_repeat(t, n, reps);
    int lead = t->ndim - n;
    for (int d = 0; d < t->ndim; d++) r[d] = d < lead ? 1 : reps[d - lead];
    for (int i = 0; i < n; i++)
        if (reps[i] < 0) {
            char b[DM_SHAPE_BUF];
            dm_seterr("tile: repeats %s must not be negative", list_str(n, reps, b, sizeof b));
            return NULL;
        }
    return dm_repeat(t, t->ndim, r);
}

/* pieces[k] = narrow(t, dim, starts[k], lens[k]) for k < n; a malloc'd array */
static dm_tensor **pieces(const dm_tensor *t, int dim, int64_t n, const int64_t *lens)
{
    dm_tensor **out = calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out) { dm_seterr("split: out of memory"); return NULL; }
    int64_t start = 0;
    for (int64_t k = 0; k < n; k++) {
        out[k] = dm_narrow(t, dim, start, lens[k]);
        if (!out[k]) {
            for (int64_t j = 0; j < k; j++) dm_tensor_release(out[j]);
            free(out);
            return NULL;
        }
        start += lens[k];
    }
    return out;
}

static int split_dim(const char *fn, const dm_tensor *t, int dim)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim == 0) {
        dm_seterr("%s: expected a tensor of at least 1 dim, got %s", fn, SHAPE(t, b));
        return -1;
    }
    return dm_wrap_dim(fn, dim, t->ndim, 0);
}

dm_tensor **dm_split(const dm_tensor *t, int64_t size, int dim, int64_t *count)
{
    char b[DM_SHAPE_BUF];
    if ((dim = split_dim("split", t, dim)) < 0) return NULL;
    int64_t len = t->shape[dim];
    if (size < 0 || (size == 0 && len != 0)) {
        dm_seterr("split: split_size %lld is invalid for dim %d of %s (it must be positive, "
                  "or 0 for a dim of size 0)", (long long)size, dim + 1, SHAPE(t, b));
        return NULL;
    }
    int64_t n = size == 0 || len == 0 ? 1 : (len - 1) / size + 1;   /* no len + size */
    if (n < 1) n = 1;
    int64_t *lens = malloc((size_t)n * sizeof *lens);
    if (!lens) { dm_seterr("split: out of memory"); return NULL; }
    for (int64_t k = 0; k < n; k++) {
        int64_t rest = len - k * size;
        lens[k] = rest < size ? rest : size;
    }
    dm_tensor **out = pieces(t, dim, n, lens);
    free(lens);
    if (out) *count = n;
    return out;
}

dm_tensor **dm_split_sizes(const dm_tensor *t, int n, const int64_t *sizes, int dim,
                           int64_t *count)
{
    char b[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if ((dim = split_dim("split", t, dim)) < 0) return NULL;
    int64_t sum = 0;
    int bad = 0;
    for (int k = 0; k < n && !bad; k++) {    /* each within the dim: the sum cannot overflow */
        if (sizes[k] < 0 || sizes[k] > t->shape[dim] - sum) bad = 1;
        else sum += sizes[k];
    }
    if (bad || sum != t->shape[dim]) {
        dm_seterr("split: sizes %s must be non-negative and sum to %lld, the size of dim %d "
                  "of %s", list_str(n, sizes, b2, sizeof b2), (long long)t->shape[dim],
                  dim + 1, SHAPE(t, b));
        return NULL;
    }
    dm_tensor **out = pieces(t, dim, n, sizes);
    if (out) *count = n;
    return out;
}

dm_tensor **dm_chunk(const dm_tensor *t, int64_t chunks, int dim, int64_t *count)
{
    if (chunks <= 0) {
        dm_seterr("chunk: expected a positive number of chunks, got %lld", (long long)chunks);
        return NULL;
    }
    if ((dim = split_dim("chunk", t, dim)) < 0) return NULL;
    int64_t len = t->shape[dim];
    if (len == 0) {                     /* PyTorch: chunks empty pieces */
        int64_t *z = calloc((size_t)chunks, sizeof *z);
        if (!z) { dm_seterr("chunk: out of memory"); return NULL; }
        dm_tensor **out = pieces(t, dim, chunks, z);
        free(z);
        if (out) *count = chunks;
        return out;
    }
    return dm_split(t, (len - 1) / chunks + 1, dim, count);    /* ceil, no len + chunks */
}

dm_tensor **dm_unbind(const dm_tensor *t, int dim, int64_t *count)
{
    if ((dim = split_dim("unbind", t, dim)) < 0) return NULL;
    int64_t n = t->shape[dim];
    dm_tensor **out = calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out) { dm_seterr("unbind: out of memory"); return NULL; }
    for (int64_t k = 0; k < n; k++) {
        out[k] = dm_select(t, dim, k);
        if (!out[k]) {
            for (int64_t j = 0; j < k; j++) dm_tensor_release(out[j]);
            free(out);
            return NULL;
        }
    }
    *count = n;
    return out;
}

/* t rolled by shift along dim: cat(last shift elements, the rest) */
static dm_tensor *roll1(const dm_tensor *t, int64_t shift, int dim)
{
    int64_t len = t->shape[dim];
    int64_t s = len ? ((shift % len) + len) % len : 0;
    if (s == 0) return dm_clone(t);
    dm_tensor *a = dm_narrow(t, dim, len - s, s);
    dm_tensor *b = a ? dm_narrow(t, dim, 0, len - s) : NULL;
    dm_tensor *out = b ? dm_cat(2, (dm_tensor *[]){ a, b }, dim) : NULL;
    dm_tensor_release(a);
    dm_tensor_release(b);
    return out;
}

dm_tensor *dm_roll(const dm_tensor *t, int nshifts, const int64_t *shifts, int ndims,
                   const int *dims)
{
    if (ndims == 0) {
        if (nshifts != 1) {
            dm_seterr("roll: without dims, one shift is expected (the tensor is flattened), "
                      "got %d", nshifts);
            return NULL;
        }
        dm_tensor *f = dm_reshape(t, 1, (int64_t[]){ dm__numel(t) });
        dm_tensor *r = f ? roll1(f, shifts[0], 0) : NULL;
        dm_tensor *out = r ? dm_reshape(r, t->ndim, t->shape) : NULL;
        dm_tensor_release(f);
        dm_tensor_release(r);
        return out;
    }
    if (nshifts != ndims) {
        dm_seterr("roll: shifts and dims must have the same length, got %d and %d", nshifts,
                  ndims);
        return NULL;
    }
    int w[DM_MAX_DIMS];
    for (int i = 0; i < ndims; i++) {
        if (t->ndim == 0) {
            dm_seterr("roll: cannot roll a 0-dim tensor along a dim");
            return NULL;
        }
        if ((w[i] = dm_wrap_dim("roll", dims[i], t->ndim, 0)) < 0) return NULL;
    }
    dm_tensor *cur = dm_tensor_retain((dm_tensor *)t);
    for (int i = 0; i < ndims && cur; i++) {
        dm_tensor *next = roll1(cur, shifts[i], w[i]);
        dm_tensor_release(cur);
        cur = next;
    }
    return cur;
}

dm_tensor *dm_narrow_copy(const dm_tensor *t, int dim, int64_t start, int64_t len)
{
    dm_tensor *v = dm_narrow(t, dim, start, len);
    if (!v) {
        /* the message names narrow: name narrow_copy instead */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dm_errmsg());
        if (strncmp(msg, "narrow: ", 8) == 0) dm_seterr("narrow_copy: %s", msg + 8);
        return NULL;
    }
    dm_tensor *out = dm_clone(v);
    dm_tensor_release(v);
    return out;
}

dm_tensor *dm_movedim(const dm_tensor *t, int n, const int *src, const int *dst)
{
    int nd = t->ndim, perm[DM_MAX_DIMS], s[DM_MAX_DIMS], d[DM_MAX_DIMS];
    int used_src[DM_MAX_DIMS] = {0}, used_dst[DM_MAX_DIMS] = {0};
    if (n > nd && nd > 0) {
        dm_seterr("movedim: %d dims given for a tensor of %d dims", n, nd);
        return NULL;
    }
    int wd = nd ? nd : 1;
    for (int i = 0; i < n; i++) {
        if ((s[i] = dm_wrap_dim("movedim", src[i], wd, 0)) < 0) return NULL;
        if ((d[i] = dm_wrap_dim("movedim", dst[i], wd, 0)) < 0) return NULL;
        if (used_src[s[i]]++) {
            dm_seterr("movedim: source dim %d appears more than once", s[i] + 1);
            return NULL;
        }
        if (used_dst[d[i]]++) {
            dm_seterr("movedim: destination dim %d appears more than once", d[i] + 1);
            return NULL;
        }
    }
    if (nd == 0) return dm_reshape(t, 0, t->shape);
    for (int k = 0; k < nd; k++) perm[k] = -1;
    for (int i = 0; i < n; i++) perm[d[i]] = s[i];
    /* the other dims keep their order in the free places */
    int next = 0;
    for (int k = 0; k < nd; k++) {
        if (perm[k] >= 0) continue;
        while (used_src[next]) next++;
        perm[k] = next++;
    }
    return dm_permute(t, perm);
}
