/* index.c -- indexing: strided slices (a view), advanced indexing by int64 and bool tensors
 * (index, index_put), masks (masked_fill, masked_select) and nonzero, with their backward
 * rules.  Positions are 0-based here; negative indices count from the end.
 *
 * Advanced indexing follows PyTorch: the index tensors, one per indexed dim (a bool mask
 * stands for the nonzero() columns of the dims it covers), broadcast together to a shape B;
 * the result has B in place of the indexed dims when those are adjacent, else B first, and
 * the dims not indexed in order.  Internally the broadcast indices are stacked into one
 * contiguous int64 tensor [k x B...], wrapped to 0..size-1, which the node saves.
 *
 * The indices are checked and wrapped here (prep_indices); the offsets they name
 * (adv_offsets, from make_plan) and the elements moved are the device's kernels (backend.h's
 * put, nonzero, masked_fill). */
#include "internal.h"
#include "backend.h"
#include "convert.h"
#include <stdio.h>

#define DEV (dm__kernels(dm__cur_device))

/* ---- strided slice (a view) ---------------------------------------------------------- */

dm_tensor *dm_slice(const dm_tensor *t, int dim, int64_t start, int64_t len, int64_t step)
{
    char b[DM_SHAPE_BUF];
    if (t->ndim == 0) { dm_seterr("slice: cannot slice a 0-dim tensor"); return NULL; }
    if ((dim = dm_wrap_dim("slice", dim, t->ndim, 0)) < 0) return NULL;
    if (step <= 0) { dm_seterr("slice: step must be positive, got %lld", (long long)step); return NULL; }
    int64_t size = t->shape[dim];
    /* (len - 1) * step <= size - 1 - start, without the product (a huge step overflows) */
    if (start < 0 || len < 0 || start > size ||
        (len > 0 && (start >= size || len - 1 > (size - 1 - start) / step))) {
        dm_seterr("slice: start %lld, length %lld and step %lld out of range for dim %d of "
                  "size %s", (long long)start + 1, (long long)len, (long long)step, dim + 1,
                  SHAPE(t, b));
        return NULL;
    }
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[dim] = len;
    if (len > 1) st[dim] = t->stride[dim] * step;   /* len <= 1: the step is never taken */
    dm_tensor *out = dm_tensor_alias(t, t->ndim, sh, st, t->offset + start * t->stride[dim]);
    if (!out) return NULL;
    if (dm__needs_grad(1, &t)) {
        dm_node *nd = dm__record(DM_OP_SLICE, 0, out, 1, &t);
        if (!nd) { dm_tensor_release(out); return NULL; }
        nd->par.slice.dim = dim;
        nd->par.slice.start = start;
        nd->par.slice.step = step;
    }
    return out;
}

int dm__bw_slice(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    dm_tensor *z = dm_tensor_zeros_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!z) return -1;
    int dim = n->par.slice.dim;
    dm_tensor *w = dm_slice(z, dim, n->par.slice.start, g->shape[dim], n->par.slice.step);
    if (!w || dm_copy_(w, g)) { dm_tensor_release(w); dm_tensor_release(z); return -1; }
    dm_tensor_release(w);
    gin[0] = z;
    return 0;
}

/* ---- nonzero ------------------------------------------------------------------------- */

dm_tensor *dm_nonzero(const dm_tensor *t)
{
    dm__device_of(t);
    dm_tensor *hold = NULL;
    const double *v = dm__contig_as(t, DM_FLOAT64, &hold);
    if (!v) return NULL;
    int64_t n = dm__numel(t), cnt = DEV->nonzero(v, n, t->ndim, t->shape, NULL);
    int64_t sh[2] = { cnt, t->ndim };
    dm_tensor *out = dm_tensor_new_dtype(2, sh, DM_INT64);
    if (!out) { dm_tensor_release(hold); return NULL; }
    DEV->nonzero(v, n, t->ndim, t->shape, dm__ptr(out));
    dm_tensor_release(hold);
    return out;
}

/* ---- the index tensors --------------------------------------------------------------- */

/* idx[0..n-1] over the first dims of a tensor of shape (nd, shape): NULL (the whole dim),
 * int64 (one dim) or bool (as many dims as it has).  *dims gets a bit per indexed dim and
 * *stack the broadcast, wrapped indices [k x B...] (NULL when none is indexed). */
static int prep_indices(const char *fn, int nd, const int64_t *shape, int n,
                        const dm_tensor *const *idx, unsigned *dims, dm_tensor **stack)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    const dm_tensor *ent[DM_MAX_DIMS];
    int edim[DM_MAX_DIMS], k = 0, d = 0, rc = -1;
    dm_tensor *hold[DM_MAX_DIMS];
    int nhold = 0;
    *dims = 0;
    *stack = NULL;
    for (int i = 0; i < n; i++) {
        const dm_tensor *x = idx[i];
        int need = x && x->dtype == DM_BOOL ? x->ndim : 1;
        if (d + need > nd) {
            dm_seterr("%s: too many indices for a tensor of size %s", fn,
                      dm_shape_str(nd, shape, b1, sizeof b1));
            goto done;
        }
        if (!x) { d++; continue; }
        if (x->dtype == DM_BOOL) {
            if (x->ndim == 0) { dm_seterr("%s: a 0-dim bool mask is not supported", fn); goto done; }
            for (int j = 0; j < x->ndim; j++) {
                if (x->shape[j] != shape[d + j]) {
                    dm_seterr("%s: mask %s does not match the size %s of the tensor at dim %d",
                              fn, SHAPE(x, b1), dm_shape_str(nd, shape, b2, sizeof b2),
                              d + j + 1);
                    goto done;
                }
            }
            dm_tensor *nz = dm_nonzero(x);
            if (!nz) goto done;
            hold[nhold++] = nz;
            for (int j = 0; j < x->ndim; j++) {
                dm_tensor *col = dm_tensor_alias(nz, 1, nz->shape, &nz->stride[0], nz->offset + j);
                if (!col) goto done;
                hold[nhold++] = col;
                ent[k] = col;
                edim[k++] = d++;
            }
            continue;
        }
        if (x->dtype != DM_INT64) {
            dm_seterr("%s: tensors used as indices must be int64 or bool, got %s", fn,
                      dm_dtype_name(x->dtype));
            goto done;
        }
        ent[k] = x;
        edim[k++] = d++;
    }
    if (k == 0) { rc = 0; goto done; }
    /* broadcast the k index shapes */
    int nb = 0;
    int64_t bs[DM_MAX_DIMS];
    for (int j = 0; j < k; j++) {
        const dm_tensor *x = ent[j];
        int m = x->ndim > nb ? x->ndim : nb;
        int64_t ns[DM_MAX_DIMS];
        for (int q = 0; q < m; q++) {
            int qa = q - (m - nb), qb = q - (m - x->ndim);
            int64_t a = qa >= 0 ? bs[qa] : 1, c = qb >= 0 ? x->shape[qb] : 1;
            if (a != c && a != 1 && c != 1) {
                char *p = b1;
                size_t left = sizeof b1;
                for (int r = 0; r < k && left > 1; r++) {
                    char s[DM_SHAPE_BUF];
                    int w = snprintf(p, left, "%s%s", r ? ", " : "", SHAPE(ent[r], s));
                    if (w < 0 || (size_t)w >= left) break;
                    p += w; left -= (size_t)w;
                }
                dm_seterr("%s: shape mismatch: indexing tensors could not be broadcast together "
                          "with shapes %s", fn, b1);
                goto done;
            }
            ns[q] = a == 1 ? c : a;
        }
        nb = m;
        memcpy(bs, ns, sizeof ns);
    }
    if (nb + 1 > DM_MAX_DIMS) {
        dm_seterr("%s: the indices have too many dims (%d)", fn, nb);
        goto done;
    }
    int64_t ss[DM_MAX_DIMS], nB;
    ss[0] = k;
    memcpy(ss + 1, bs, (size_t)nb * sizeof *bs);
    if ((nB = dm__check_shape(fn, nb, bs)) < 0) goto done;
    dm_tensor *s = dm_tensor_new_dtype(nb + 1, ss, DM_INT64);
    if (!s) goto done;
    int64_t *p = dm__ptr(s);
    for (int j = 0; j < k; j++) {
        dm_tensor *row = dm_tensor_alias(s, nb, bs, s->stride + 1, j * nB);
        if (!row) { dm_tensor_release(s); goto done; }
        dm__copy_convert(row, ent[j]);
        dm_tensor_release(row);
        int64_t size = shape[edim[j]];
        for (int64_t i = 0; i < nB; i++) {
            int64_t v = p[j * nB + i];
            if (v < -size || v >= size) {
                dm_seterr("%s: index %lld is out of range for dim %d of size %s", fn,
                          (long long)(v >= 0 ? v + 1 : v), edim[j] + 1,
                          dm_shape_str(nd, shape, b1, sizeof b1));
                dm_tensor_release(s);
                goto done;
            }
            if (v < 0) p[j * nB + i] = v + size;
        }
        *dims |= 1u << edim[j];
    }
    *stack = s;
    rc = 0;
done:
    for (int i = nhold - 1; i >= 0; i--) dm_tensor_release(hold[i]);
    return rc;
}

/* where each element of x[indices] sits in x: the result's shape and its offsets */
typedef struct {
    int rnd;
    int64_t rshape[DM_MAX_DIMS];
    int64_t n;                    /* elements of the result */
    int64_t *off;                 /* n offsets into x's storage (in elements), malloc'd */
} plan;

static int make_plan(const char *fn, const dm_tensor *x, unsigned dims, const dm_tensor *stack,
                     plan *p)
{
    int k = stack ? (int)stack->shape[0] : 0, nb = stack ? stack->ndim - 1 : 0;
    int kdim[DM_MAX_DIMS], src[DM_MAX_DIMS], first = -1, last = -1, adjacent = 1, j = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!(dims >> d & 1)) continue;
        if (first < 0) first = d;
        else if (d != last + 1) adjacent = 0;
        last = d;
        kdim[j++] = d;
    }
    int rnd = 0;
    /* src[r]: the x dim of result dim r, or -1 for a dim of B */
    if (k == 0) {
        for (int d = 0; d < x->ndim; d++) src[rnd++] = d;
    } else {
        int at = adjacent ? first : 0;
        for (int d = 0; d < at; d++) src[rnd++] = d;
        if (rnd + nb + (x->ndim - k - at) > DM_MAX_DIMS) {
            dm_seterr("%s: the result would have more than %d dims", fn, DM_MAX_DIMS);
            return -1;
        }
        for (int q = 0; q < nb; q++) src[rnd++] = -1;
        for (int d = at; d < x->ndim; d++) if (!(dims >> d & 1)) src[rnd++] = d;
    }
    p->rnd = rnd;
    for (int r = 0, q = 0; r < rnd; r++)
        p->rshape[r] = src[r] >= 0 ? x->shape[src[r]] : stack->shape[1 + q++];
    int64_t n = dm__check_shape(fn, rnd, p->rshape);   /* B x the other dims can overflow */
    if (n < 0) return -1;
    p->n = n;
    p->off = malloc((size_t)(n ? n : 1) * sizeof *p->off);
    if (!p->off) { dm_seterr("%s: out of memory", fn); return -1; }
    int64_t nB = 1;
    for (int q = 0; q < nb; q++) nB *= stack->shape[1 + q];
    dm_adv_plan ap = { rnd, k, n, nB, x->offset, p->rshape, x->stride,
                       stack ? dm__ptr(stack) : NULL, src, kdim, p->off };
    DEV->adv_offsets(&ap);
    return 0;
}

/* a new contiguous tensor: x's elements at p->off */
static dm_tensor *gather(const dm_tensor *x, const plan *p)
{
    dm_tensor *out = dm_tensor_new_dtype(p->rnd, p->rshape, x->dtype);
    if (!out) return NULL;
    DEV->put(DM_PUT_SET, x->dtype, dm__ptr(out), NULL, x->storage->data, p->off, NULL, p->n);
    return out;
}

/* x's elements at p->off = (or +=) v's, v contiguous of p's shape and x's dtype */
static void scatter(dm_tensor *x, const plan *p, const dm_tensor *v, int acc)
{
    /* accumulating into bool: or */
    int op = !acc ? DM_PUT_SET : x->dtype == DM_BOOL ? DM_PUT_OR : DM_PUT_ADD;
    DEV->put(op, x->dtype, x->storage->data, p->off, dm__ptr(v), NULL, NULL, p->n);
}

/* v converted to dt and broadcast to a contiguous tensor of p's shape (fn names the op) */
static dm_tensor *values_for(const char *fn, const dm_tensor *v, const plan *p, dm_dtype dt)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    int ok = v->ndim <= p->rnd;
    for (int d = 0; ok && d < v->ndim; d++) {
        int64_t s = v->shape[d], t = p->rshape[d + p->rnd - v->ndim];
        if (s != t && s != 1) ok = 0;
    }
    if (!ok) {
        dm_seterr("%s: shape mismatch: value tensor of shape %s cannot be broadcast to "
                  "indexing result of shape %s", fn, SHAPE(v, b1),
                  dm_shape_str(p->rnd, p->rshape, b2, sizeof b2));
        return NULL;
    }
    dm_tensor *e = dm_tensor_new_dtype(p->rnd, p->rshape, dt);
    if (e) dm__copy_convert(e, v);
    return e;
}

/* the window a spec [3 x ndim] (start, len, step per dim; step 0: the dim is selected at
   start) picks from x (a tensor of the spec's dims); NULL spec: x itself */
static dm_tensor *window_of(const dm_tensor *x, const dm_tensor *spec)
{
    if (!spec) return dm_tensor_alias(x, x->ndim, x->shape, x->stride, x->offset);
    const int64_t *sp = dm__ptr(spec);
    int nd = x->ndim, w = 0;
    int64_t sh[DM_MAX_DIMS], st[DM_MAX_DIMS], off = x->offset;
    for (int d = 0; d < nd; d++) {
        off += sp[d] * x->stride[d];
        if (sp[2 * nd + d] == 0) continue;
        sh[w] = sp[nd + d];
        st[w++] = sp[2 * nd + d] * x->stride[d];
    }
    return dm_tensor_alias(x, w, sh, st, off);
}

/* ---- index: x[indices] ---------------------------------------------------------------- */

dm_tensor *dm_index(const dm_tensor *x, int n, const dm_tensor *const *idx)
{
    unsigned dims;
    dm_tensor *stack;
    for (int i = 0; i < n; i++)
        if (idx[i] && dm__same_device2("index", x, idx[i]) < 0) return NULL;
    dm__device_of(x);
    if (prep_indices("index", x->ndim, x->shape, n, idx, &dims, &stack)) return NULL;
    plan p;
    if (make_plan("index", x, dims, stack, &p)) { dm_tensor_release(stack); return NULL; }
    dm_tensor *out = gather(x, &p);
    free(p.off);
    if (out && dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(DM_OP_INDEX, 0, out, 1, &x);
        if (!nd || (stack && !dm__save(nd, 1, stack))) {
            dm_tensor_release(out);
            out = NULL;
        } else {
            nd->par.adv.dims = dims;
            nd->par.adv.accumulate = 0;
        }
    }
    dm_tensor_release(stack);
    return out;
}

/* x's shape zeros with g added at the indexed positions */
int dm__bw_index(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g, dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    dm_tensor *z = dm_tensor_zeros_dtype(n->in_ndim, n->in_shape, g->dtype);
    if (!z) return -1;
    plan p;
    if (make_plan("index", z, n->par.adv.dims, n->saved[1], &p)) { dm_tensor_release(z); return -1; }
    dm_tensor *gc = dm__is_contig(g) ? dm_tensor_retain((dm_tensor *)g) : dm_contiguous(g);
    if (!gc) { free(p.off); dm_tensor_release(z); return -1; }
    scatter(z, &p, gc, 1);
    dm_tensor_release(gc);
    free(p.off);
    gin[0] = z;
    return 0;
}

/* ---- index_put: a copy of t with the window's indexed elements = (+=) values --------- */

dm_tensor *dm_index_put_ex(const dm_tensor *t, const int64_t *start, const int64_t *len,
                           const int64_t *step, int n, const dm_tensor *const *idx,
                           const dm_tensor *values, int accumulate)
{
    char b[DM_SHAPE_BUF];
    if (dm__same_device2("index_put_", t, values) < 0) return NULL;
    for (int i = 0; i < n; i++)
        if (idx[i] && dm__same_device2("index_put_", t, idx[i]) < 0) return NULL;
    dm_tensor *spec = NULL;
    if (start) {
        int64_t two[2] = { 3, t->ndim };
        if (!(spec = dm_tensor_new_dtype(2, two, DM_INT64))) return NULL;
        int64_t *sp = dm__ptr(spec);
        for (int d = 0; d < t->ndim; d++) {
            int64_t s = start[d], l = len[d], st = step[d], size = t->shape[d];
            if (st < 0 || s < 0 || (st == 0 ? s >= size
                                   : (l < 0 || s > size ||
                                      (l > 0 && (s >= size || l - 1 > (size - 1 - s) / st))))) {
                dm_seterr("index_put_: window start %lld, length %lld, step %lld out of range "
                          "for dim %d of size %s", (long long)s + 1, (long long)l,
                          (long long)st, d + 1, SHAPE(t, b));
                dm_tensor_release(spec);
                return NULL;
            }
            if (st > 1 && l <= 1) st = 1;   /* one element: the step is never taken */
            sp[d] = s; sp[t->ndim + d] = st == 0 ? 1 : l; sp[2 * t->ndim + d] = st;
        }
    }
    dm_tensor *out = dm_tensor_new_dtype(t->ndim, t->shape, t->dtype);
    dm_tensor *w = out ? window_of(out, spec) : NULL, *stack = NULL, *v = NULL;
    unsigned dims = 0;
    plan p = { 0 };
    int ok = w && !prep_indices("index_put_", w->ndim, w->shape, n, idx, &dims, &stack) &&
             !make_plan("index_put_", w, dims, stack, &p) &&
             (v = values_for("index_put_", values, &p, t->dtype));
    if (ok) {
        dm__copy_convert(out, t);
        scatter(w, &p, v, accumulate);
    }
    free(p.off);
    dm_tensor_release(v);
    dm_tensor_release(w);
    if (!ok) { dm_tensor_release(out); out = NULL; }
    const dm_tensor *in[2] = { t, values };
    if (out && dm__needs_grad(2, in)) {
        dm_node *nd = dm__record(DM_OP_INDEX_PUT, 0, out, 2, in);
        if (!nd || (spec && !dm__save(nd, 0, spec)) || (stack && !dm__save(nd, 1, stack))) {
            dm_tensor_release(out);
            out = NULL;
        } else {
            nd->par.adv.dims = dims;
            nd->par.adv.accumulate = accumulate;
        }
    }
    dm_tensor_release(stack);
    dm_tensor_release(spec);
    return out;
}

dm_tensor *dm_index_put(const dm_tensor *t, int n, const dm_tensor *const *idx,
                        const dm_tensor *values, int accumulate)
{
    return dm_index_put_ex(t, NULL, NULL, NULL, n, idx, values, accumulate);
}

int dm_index_put_ex_(dm_tensor *t, const int64_t *start, const int64_t *len,
                     const int64_t *step, int n, const dm_tensor *const *idx,
                     const dm_tensor *values, int accumulate)
{
    if (dm__check_inplace("index_put_", t)) return -1;
    return dm__inplace_commit("index_put_", t,
                              dm_index_put_ex(t, start, len, step, n, idx, values, accumulate));
}

int dm_index_put_(dm_tensor *t, int n, const dm_tensor *const *idx, const dm_tensor *values,
                  int accumulate)
{
    return dm_index_put_ex_(t, NULL, NULL, NULL, n, idx, values, accumulate);
}

/* self: g with the written elements zeroed (kept when accumulating); values: g at the
   written elements, summed back to the values' shape */
int dm__bw_index_put(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                     dm_tensor **gin)
{
    dm_tensor *gc = dm__is_contig(g) ? dm_tensor_retain((dm_tensor *)g) : dm_contiguous(g);
    if (!gc) return -1;
    dm_tensor *w = window_of(gc, n->saved[0]);
    plan p = { 0 };
    int rc = -1;
    if (!w || make_plan("index_put_", w, n->par.adv.dims, n->saved[1], &p)) goto done;
    const dm_tensor *v = n->in[1];
    if (v && v->requires_grad) {
        dm_tensor *r = gather(w, &p);
        if (!r) goto done;
        if (dm__same_shape(r, v)) gin[1] = r;
        else {
            gin[1] = dm_sum_to(r, v->ndim, v->shape);
            dm_tensor_release(r);
            if (!gin[1]) goto done;
        }
    }
    if (n->in[0] && n->in[0]->requires_grad) {
        dm_tensor *gs = dm_clone(gc);
        if (!gs) goto done;
        if (!n->par.adv.accumulate) {
            dm_tensor *ws = window_of(gs, n->saved[0]);
            dm_tensor *z = ws ? dm_tensor_zeros_dtype(p.rnd, p.rshape, gs->dtype) : NULL;
            if (!z) { dm_tensor_release(ws); dm_tensor_release(gs); goto done; }
            plan q;
            if (make_plan("index_put_", ws, n->par.adv.dims, n->saved[1], &q)) {
                dm_tensor_release(z); dm_tensor_release(ws); dm_tensor_release(gs); goto done;
            }
            scatter(ws, &q, z, 0);
            free(q.off);
            dm_tensor_release(z);
            dm_tensor_release(ws);
        }
        gin[0] = gs;
    }
    rc = 0;
done:
    free(p.off);
    dm_tensor_release(w);
    dm_tensor_release(gc);
    return rc;
}

/* ---- masks ------------------------------------------------------------------------------ */

static int need_bool_mask(const char *fn, const dm_tensor *mask)
{
    if (mask->dtype == DM_BOOL) return 0;
    dm_seterr("%s: expected a bool mask, got %s (compare with a value, e.g. x:gt(0))", fn,
              dm_dtype_name(mask->dtype));
    return -1;
}

dm_tensor *dm_masked_fill(const dm_tensor *t, const dm_tensor *mask, double value)
{
    int64_t sh[DM_MAX_DIMS];
    if (need_bool_mask("masked_fill", mask)) return NULL;
    if (dm__same_device2("masked_fill", t, mask) < 0) return NULL;
    int nd = dm__broadcast_shape("masked_fill", t, mask, sh);
    if (nd < 0) return NULL;
    dm_tensor *out = dm_tensor_new_dtype(nd, sh, t->dtype);
    dm_tensor *m = dm_tensor_new_dtype(nd, sh, DM_BOOL);
    if (!out || !m) { dm_tensor_release(out); dm_tensor_release(m); return NULL; }
    dm__copy_convert(out, t);
    dm__copy_convert(m, mask);
    union { double d; int64_t i; } ve;                /* the value in t's dtype */
    dm__convert1((char *)&ve, t->dtype, (const char *)&value, DM_FLOAT64);
    DEV->masked_fill(out->dtype, dm__ptr(out), dm__ptr(m), dm__numel(out), &ve);
    if (dm__needs_grad(1, &t)) {
        dm_node *nd_ = dm__record(DM_OP_MASKED_FILL, 0, out, 1, &t);
        if (!nd_ || !dm__save(nd_, 0, m)) { dm_tensor_release(out); out = NULL; }
    }
    dm_tensor_release(m);
    return out;
}

int dm_masked_fill_(dm_tensor *t, const dm_tensor *mask, double value)
{
    if (dm__check_inplace("masked_fill_", t)) return -1;
    return dm__inplace_commit("masked_fill_", t, dm_masked_fill(t, mask, value));
}

int dm__bw_masked_fill(dm_bwctx *ctx DM_MAYBE_UNUSED, dm_node *n, const dm_tensor *g,
                       dm_tensor **gin)
{
    if (!n->in[0] || !n->in[0]->requires_grad) return 0;
    dm_tensor *gs = dm_clone(g);
    if (!gs) return -1;
    DEV->masked_fill(gs->dtype, dm__ptr(gs), dm__ptr(n->saved[0]), dm__numel(gs),
                     &(int64_t){ 0 });
    if (dm__same_shape(gs, n->in[0])) { gin[0] = gs; return 0; }
    gin[0] = dm_sum_to(gs, n->in_ndim, n->in_shape);
    dm_tensor_release(gs);
    return gin[0] ? 0 : -1;
}

dm_tensor *dm_masked_select(const dm_tensor *t, const dm_tensor *mask)
{
    int64_t sh[DM_MAX_DIMS];
    if (need_bool_mask("masked_select", mask)) return NULL;
    if (dm__same_device2("masked_select", t, mask) < 0) return NULL;
    int nd = dm__broadcast_shape("masked_select", t, mask, sh);
    if (nd < 0) return NULL;
    /* t and the mask broadcast together, then t[mask]: the gradient flows through expand */
    dm_tensor *te = dm_expand(t, nd, sh);
    dm_tensor *me = dm_expand(mask, nd, sh);          /* a bool: records nothing */
    dm_tensor *out = NULL;
    if (te && me) {
        if (nd == 0) {          /* a 0-dim pair: one element or none */
            dm_tensor *f1 = dm_reshape(te, 1, (int64_t[]){ 1 });
            dm_tensor *m1 = dm_tensor_alias(me, 1, (int64_t[]){ 1 }, (int64_t[]){ 1 }, me->offset);
            if (f1 && m1) out = dm_index(f1, 1, (const dm_tensor *[]){ m1 });
            dm_tensor_release(f1);
            dm_tensor_release(m1);
        } else {
            out = dm_index(te, 1, (const dm_tensor *[]){ me });
        }
    }
    dm_tensor_release(te);
    dm_tensor_release(me);
    return out;
}
