/* view.c -- ops that return a new geometry over the same storage, and their backward rules.
 * A view shares storage: writing through it writes the original. */
#include "internal.h"

/* record a view node; returns out (or NULL after releasing it) */
static dm_tensor *finish(dm_tensor *out, dm_op op, const dm_tensor *in, dm_node **nd)
{
    *nd = NULL;
    if (!out) return NULL;
    if (dm__needs_grad(1, &in)) {
        *nd = dm__record(op, 0, out, 1, &in);
        if (!*nd) { dm_tensor_release(out); return NULL; }
    }
    return out;
}

/* strides for viewing t as shape, or -1 if t's layout does not allow it without a copy
 * (the rule PyTorch's view uses: each run of merged/split dims must be contiguous) */
static int view_strides(const dm_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t numel = dm_numel(t);
    if (numel == 0 || dm_is_contiguous(t)) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) { stride[d] = s; s *= shape[d] ? shape[d] : 1; }
        return 0;
    }
    int vd = ndim - 1;
    int64_t chunk = 1, base_stride = t->stride[t->ndim - 1];
    for (int td = t->ndim - 1; td >= 0; td--) {
        chunk *= t->shape[td];
        /* a chunk ends where t's dims stop being mergeable: the next dim's stride is not the
           chunk's extent (its element count times its innermost stride; comparing with the
           neighbouring dim alone merged across a size-1 dim of another stride, e.g. an
           expanded [3 x 1 x 2] with strides (1, 1, 0)) */
        if (td == 0 || (t->shape[td - 1] != 1 && t->stride[td - 1] != chunk * base_stride)) {
            int64_t acc = 1;
            while (vd >= 0 && (acc < chunk || shape[vd] == 1)) {
                stride[vd] = base_stride * acc;
                acc *= shape[vd];
                vd--;
            }
            if (acc != chunk) return -1;
            if (td > 0) { chunk = 1; base_stride = t->stride[td - 1]; }
        }
    }
    while (vd >= 0) { stride[vd] = 1; vd--; }   /* trailing size-1 dims */
    return 0;
}

/* resolve a -1 in shape; message names fn */
static int infer_shape(const char *fn, const dm_tensor *t, int ndim, const int64_t *in,
                       int64_t *out)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (ndim > DM_MAX_DIMS) {
        dm_seterr("%s: %d dimensions (at most %d supported)", fn, ndim, DM_MAX_DIMS);
        return -1;
    }
    int64_t known = 1, numel = dm_numel(t);
    int infer = -1;
    for (int d = 0; d < ndim; d++) {           /* sizes checked with -1 taken as 1 */
        out[d] = in[d] == -1 ? 1 : in[d];
        if (in[d] < -1) {
            dm_seterr("%s: invalid size %lld in %s", fn, (long long)in[d],
                      dm_shape_str(ndim, in, b1, sizeof b1));
            return -1;
        }
    }
    if (dm__check_shape(fn, ndim, out) < 0) return -1;
    for (int d = 0; d < ndim; d++) {
        out[d] = in[d];
        if (in[d] == -1) {
            if (infer >= 0) { dm_seterr("%s: only one dimension can be -1", fn); return -1; }
            infer = d;
        } else if (in[d] < 0) {
            dm_seterr("%s: invalid size %lld in %s", fn, (long long)in[d],
                      dm_shape_str(ndim, in, b1, sizeof b1));
            return -1;
        } else known *= in[d];
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            dm_seterr("%s: shape %s is invalid for input of size %lld %s", fn,
                      dm_shape_str(ndim, in, b1, sizeof b1), (long long)numel, SHAPE(t, b2));
            return -1;
        }
        out[infer] = numel / known;
        known *= out[infer];
    }
    if (known != numel) {
        dm_seterr("%s: shape %s is invalid for input of size %lld %s", fn,
                  dm_shape_str(ndim, out, b1, sizeof b1), (long long)numel, SHAPE(t, b2));
        return -1;
    }
    return 0;
}

static dm_tensor *view_impl(const char *fn, const dm_tensor *t, int ndim, const int64_t *shape,
                            int allow_copy)
{
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    dm_node *nd;
    if (infer_shape(fn, t, ndim, shape, sh)) return NULL;
    if (view_strides(t, ndim, sh, st) == 0) {
        dm_tensor *out = finish(dm_tensor_alias(t, ndim, sh, st, t->offset), DM_OP_VIEW, t, &nd);
        return out;
    }
    if (!allow_copy) {
        char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
        dm_seterr("%s: size %s is not compatible with the input's layout %s (non-contiguous); "
                  "use reshape", fn, dm_shape_str(ndim, sh, b1, sizeof b1), SHAPE(t, b2));
        return NULL;
    }
    dm_tensor *c = dm_contiguous(t);          /* records CloneBackward when needed */
    if (!c) return NULL;
    dm_tensor *out = view_impl(fn, c, ndim, sh, 0);
    dm_tensor_release(c);
    return out;
}

dm_tensor *dm_view(const dm_tensor *t, int ndim, const int64_t *shape)
{
    return view_impl("view", t, ndim, shape, 0);
}

dm_tensor *dm_reshape(const dm_tensor *t, int ndim, const int64_t *shape)
{
    return view_impl("reshape", t, ndim, shape, 1);
}

dm_tensor *dm_transpose(const dm_tensor *t, int d0, int d1)
{
    dm_node *nd;
    int nd0 = t->ndim ? t->ndim : 1;
    if ((d0 = dm_wrap_dim("transpose", d0, nd0, 0)) < 0) return NULL;
    if ((d1 = dm_wrap_dim("transpose", d1, nd0, 0)) < 0) return NULL;
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    if (t->ndim) {
        int64_t x = sh[d0]; sh[d0] = sh[d1]; sh[d1] = x;
        x = st[d0]; st[d0] = st[d1]; st[d1] = x;
    }
    dm_tensor *out = finish(dm_tensor_alias(t, t->ndim, sh, st, t->offset), DM_OP_TRANSPOSE, t, &nd);
    if (nd) { nd->par.transpose.d0 = d0; nd->par.transpose.d1 = d1; }
    return out;
}

dm_tensor *dm_permute(const dm_tensor *t, const int *dims)
{
    dm_node *nd;
    int seen[DM_MAX_DIMS] = {0}, p[DM_MAX_DIMS];
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) {
        int k = dm_wrap_dim("permute", dims[d], t->ndim, 0);
        if (k < 0) return NULL;
        if (seen[k]) { dm_seterr("permute: dim %d repeated", k + 1); return NULL; }
        seen[k] = 1;
        p[d] = k;
        sh[d] = t->shape[k];
        st[d] = t->stride[k];
    }
    dm_tensor *out = finish(dm_tensor_alias(t, t->ndim, sh, st, t->offset), DM_OP_PERMUTE, t, &nd);
    if (nd) memcpy(nd->par.permute.perm, p, (size_t)t->ndim * sizeof *p);
    return out;
}

dm_tensor *dm_narrow(const dm_tensor *t, int dim, int64_t start, int64_t len)
{
    dm_node *nd;
    char b[DM_SHAPE_BUF];
    if (t->ndim == 0) { dm_seterr("narrow: cannot narrow a 0-dim tensor"); return NULL; }
    if ((dim = dm_wrap_dim("narrow", dim, t->ndim, 0)) < 0) return NULL;
    if (start < 0 || len < 0 || start > t->shape[dim] || len > t->shape[dim] - start) {
        dm_seterr("narrow: start %lld and length %lld out of range for dim %d of size %s",
                  (long long)start + 1, (long long)len, dim + 1, SHAPE(t, b));
        return NULL;
    }
    int64_t sh[DM_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[dim] = len;
    dm_tensor *out = finish(dm_tensor_alias(t, t->ndim, sh, t->stride,
                                            t->offset + start * t->stride[dim]),
                            DM_OP_NARROW, t, &nd);
    if (nd) { nd->par.narrow.dim = dim; nd->par.narrow.start = start; }
    return out;
}

dm_tensor *dm_select(const dm_tensor *t, int dim, int64_t index)
{
    dm_node *nd;
    char b[DM_SHAPE_BUF];
    if (t->ndim == 0) { dm_seterr("select: cannot select from a 0-dim tensor"); return NULL; }
    if ((dim = dm_wrap_dim("select", dim, t->ndim, 0)) < 0) return NULL;
    if (index < 0) index += t->shape[dim];
    if (index < 0 || index >= t->shape[dim]) {
        dm_seterr("select: index %lld out of range for dim %d of size %s",
                  (long long)(index >= 0 ? index + 1 : index - t->shape[dim]), dim + 1,
                  SHAPE(t, b));
        return NULL;
    }
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < t->ndim; d++) if (d != dim) { sh[k] = t->shape[d]; st[k++] = t->stride[d]; }
    dm_tensor *out = finish(dm_tensor_alias(t, t->ndim - 1, sh, st,
                                            t->offset + index * t->stride[dim]),
                            DM_OP_SELECT, t, &nd);
    if (nd) { nd->par.select.dim = dim; nd->par.select.index = index; }
    return out;
}

/* squeeze/unsqueeze/flatten are views recorded as ViewBackward (reshape-like) */
static dm_tensor *restride(const dm_tensor *t, int ndim, const int64_t *sh, const int64_t *st)
{
    dm_node *nd;
    return finish(dm_tensor_alias(t, ndim, sh, st, t->offset), DM_OP_VIEW, t, &nd);
}

dm_tensor *dm_squeeze(const dm_tensor *t, int dim)
{
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    int k = 0;
    if (dim != DM_ALL) {
        if ((dim = dm_wrap_dim("squeeze", dim, t->ndim ? t->ndim : 1, 0)) < 0) return NULL;
    }
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 1 && (dim == DM_ALL || d == dim)) continue;
        sh[k] = t->shape[d];
        st[k++] = t->stride[d];
    }
    return restride(t, k, sh, st);
}

dm_tensor *dm_unsqueeze(const dm_tensor *t, int dim)
{
    if (t->ndim >= DM_MAX_DIMS) {
        dm_seterr("unsqueeze: %d dimensions (at most %d supported)", t->ndim + 1, DM_MAX_DIMS);
        return NULL;
    }
    if ((dim = dm_wrap_dim("unsqueeze", dim, t->ndim, 1)) < 0) return NULL;
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    for (int d = 0, k = 0; d <= t->ndim; d++) {
        if (d == dim) {
            sh[d] = 1;
            st[d] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
        } else { sh[d] = t->shape[k]; st[d] = t->stride[k]; k++; }
    }
    return restride(t, t->ndim + 1, sh, st);
}

dm_tensor *dm_flatten(const dm_tensor *t, int start, int end)
{
    if (t->ndim == 0) return dm_reshape(t, 1, (int64_t[]){1});
    if ((start = dm_wrap_dim("flatten", start, t->ndim, 0)) < 0) return NULL;
    if ((end = dm_wrap_dim("flatten", end, t->ndim, 0)) < 0) return NULL;
    if (start > end) {
        dm_seterr("flatten: start dim %d must not come after end dim %d", start + 1, end + 1);
        return NULL;
    }
    int64_t sh[DM_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d <= start || d > end) sh[k++] = t->shape[d];
        else sh[k - 1] *= t->shape[d];
    }
    return dm_reshape(t, k, sh);
}

dm_tensor *dm_expand(const dm_tensor *t, int ndim, const int64_t *shape)
{
    dm_node *nd;
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    if (ndim < t->ndim || ndim > DM_MAX_DIMS) {
        dm_seterr("expand: the number of sizes (%d) must be at least the tensor's dimensions "
                  "(%d), for size %s", ndim, t->ndim, SHAPE(t, b1));
        return NULL;
    }
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int64_t want = shape[d];
        if (d < lead) {
            if (want < 0) {
                dm_seterr("expand: -1 is not allowed in a new leading dimension (%s)",
                          dm_shape_str(ndim, shape, b1, sizeof b1));
                return NULL;
            }
            sh[d] = want; st[d] = 0;
            continue;
        }
        int64_t have = t->shape[d - lead];
        if (want == -1) want = have;
        if (want < 0) {
            dm_seterr("expand: negative size %lld in %s", (long long)want,
                      dm_shape_str(ndim, shape, b1, sizeof b1));
            return NULL;
        }
        if (want != have && have != 1) {
            dm_seterr("expand: size %s cannot be expanded to %s (dim %d: %lld vs %lld)",
                      SHAPE(t, b1), dm_shape_str(ndim, shape, b2, sizeof b2), d + 1,
                      (long long)have, (long long)want);
            return NULL;
        }
        sh[d] = want;
        st[d] = (have == 1 && want != 1) ? 0 : t->stride[d - lead];
    }
    if (dm__check_shape("expand", ndim, sh) < 0) return NULL;
    return finish(dm_tensor_alias(t, ndim, sh, st, t->offset), DM_OP_EXPAND, t, &nd);
}

dm_tensor *dm_clone(const dm_tensor *t)
{
    dm_node *nd;
    dm__device_of(t);
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    if (!out) return NULL;
    dm_to_buffer_dtype(t, dm__ptr(out), t->dtype);
    return finish(out, DM_OP_CLONE, t, &nd);
}

dm_tensor *dm_contiguous(const dm_tensor *t)
{
    if (dm_is_contiguous(t)) return dm_tensor_retain((dm_tensor *)t);
    return dm_clone(t);
}

dm_tensor *dm_detach(const dm_tensor *t)
{
    return dm_tensor_alias(t, t->ndim, t->shape, t->stride, t->offset);
}

/* ---- backward rules ------------------------------------------------------------------ */

static int want(dm_node *n, int k) { return n->in[k] && n->in[k]->requires_grad; }

int dm__bw_view(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    gin[0] = dm_reshape(g, n->in_ndim, n->in_shape);
    return gin[0] ? 0 : -1;
}

int dm__bw_clone(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    gin[0] = dm_tensor_retain((dm_tensor *)g);
    return 0;
}

int dm__bw_transpose(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    gin[0] = dm_transpose(g, n->par.transpose.d0, n->par.transpose.d1);
    return gin[0] ? 0 : -1;
}

int dm__bw_permute(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    int inv[DM_MAX_DIMS];
    for (int d = 0; d < n->in_ndim; d++) inv[n->par.permute.perm[d]] = d;
    gin[0] = dm_permute(g, inv);
    return gin[0] ? 0 : -1;
}

/* gradient of a view into a zero tensor of the input's shape: write g into the same window */
static int scatter_window(dm_node *n, const dm_tensor *g, dm_tensor **gin,
                          dm_tensor *(*window)(const dm_tensor *, dm_node *))
{
    dm_tensor *z = dm_tensor_zeros_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!z) return -1;
    dm_tensor *w = window(z, n);
    if (!w || dm_copy_(w, g)) { dm_tensor_release(w); dm_tensor_release(z); return -1; }
    dm_tensor_release(w);
    gin[0] = z;
    return 0;
}

int dm__bw_narrow(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    dm_tensor *z = dm_tensor_zeros_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!z) return -1;
    int dim = n->par.narrow.dim;
    dm_tensor *w = dm_narrow(z, dim, n->par.narrow.start, g->shape[dim]);
    if (!w || dm_copy_(w, g)) { dm_tensor_release(w); dm_tensor_release(z); return -1; }
    dm_tensor_release(w);
    gin[0] = z;
    return 0;
}

static dm_tensor *select_window(const dm_tensor *z, dm_node *n)
{
    return dm_select(z, n->par.select.dim, n->par.select.index);
}

int dm__bw_select(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    return scatter_window(n, g, gin, select_window);
}

int dm__bw_expand(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!want(n, 0)) return 0;
    gin[0] = dm_sum_to(g, n->in_ndim, n->in_shape);
    return gin[0] ? 0 : -1;
}
