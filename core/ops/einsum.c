/* einsum.c -- torch.einsum: any number of operands, repeated subscripts in one operand
 * (diagonals), implicit and explicit ("->") output, summed subscripts, and "..." for
 * broadcast dims.
 *
 * Nothing here loops over elements.  Each operand first loses its repeated subscripts
 * (dm_diagonal) and the subscripts no other operand or the output names (dm_reduce sum);
 * then the operands are contracted left to right, two at a time: the subscripts both share
 * and still need are batch dims, those both share and nobody needs later are contracted,
 * the rest belong to one side.  Each side is permuted to [batch, own, contracted] (or
 * [batch, contracted, own]), folded to 3-D with reshape and multiplied with dm_matmul (one
 * gemm per batch through the device's kernel table), and the product unfolded.  A size-1
 * dim against a larger one broadcasts (dm_expand).  Everything is a differentiable op, so
 * the backward pass comes from theirs. */
#include "internal.h"
#include <stdio.h>

#define NLETTERS 52                     /* A-Z, a-z */
#define NLABELS (NLETTERS + DM_MAX_DIMS) /* then one label per broadcast dim of "..." */

typedef struct {
    const char *text;                   /* the subscripts as written, for messages */
    int len;
    int nnamed;                         /* letters */
    int ell;                            /* index among the letters where "..." stands, -1 */
    int lab[DM_MAX_DIMS + 1];           /* the letters' labels, in order */
} term;

typedef struct {                        /* an operand on the way */
    dm_tensor *t;
    int lab[DM_MAX_DIMS];               /* label of each dim */
} opnd;

static int letter_label(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + c - 'a';
    return -1;
}

static char label_char(int l)
{
    return l < 26 ? (char)('A' + l) : l < NLETTERS ? (char)('a' + l - 26) : '.';
}

/* parse one term [p, end) */
static int parse_term(const char *p, const char *end, term *tm, const char *what)
{
    memset(tm, 0, sizeof *tm);
    tm->ell = -1;
    while (p < end && *p == ' ') p++;
    while (end > p && end[-1] == ' ') end--;
    tm->text = p;
    tm->len = (int)(end - p);
    for (const char *c = p; c < end; c++) {
        if (*c == ' ') continue;
        if (*c == '.') {
            if (end - c < 3 || c[1] != '.' || c[2] != '.') {
                dm_seterr("einsum: '.' in %s '%.*s' is not part of '...'", what, tm->len, p);
                return -1;
            }
            if (tm->ell >= 0) {
                dm_seterr("einsum: %s '%.*s' has more than one '...'", what, tm->len, p);
                return -1;
            }
            tm->ell = tm->nnamed;
            c += 2;
            continue;
        }
        int l = letter_label(*c);
        if (l < 0) {
            dm_seterr("einsum: invalid subscript '%c' in %s '%.*s' (letters and '...' only)",
                      *c, what, tm->len, p);
            return -1;
        }
        if (tm->nnamed >= DM_MAX_DIMS) {
            dm_seterr("einsum: %s '%.*s' names more than %d dims", what, tm->len, p,
                      DM_MAX_DIMS);
            return -1;
        }
        tm->lab[tm->nnamed++] = l;
    }
    return 0;
}

static void opnd_set(opnd *o, dm_tensor *t)       /* takes the reference */
{
    dm_tensor_release(o->t);
    o->t = t;
}

/* sum o over its dims whose label is not wanted (want[label] == 0), highest dim first */
static int sum_unwanted(opnd *o, const char *want)
{
    for (int d = o->t->ndim - 1; d >= 0; d--) {
        if (want[o->lab[d]]) continue;
        dm_tensor *s = dm_reduce(DM_RED_SUM, o->t, d, 0, 0);
        if (!s) return -1;
        opnd_set(o, s);
        for (int k = d; k < o->t->ndim; k++) o->lab[k] = o->lab[k + 1];
    }
    return 0;
}

/* permute o so its labels come in the order `order` (n labels, all of o's) */
static int permute_to(opnd *o, const int *order, int n)
{
    int perm[DM_MAX_DIMS], ident = 1, lab[DM_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < n; d++) if (o->lab[d] == order[i]) perm[i] = d;
        if (perm[i] != i) ident = 0;
        lab[i] = order[i];
    }
    if (ident) return 0;
    dm_tensor *p = dm_permute(o->t, perm);
    if (!p) return -1;
    opnd_set(o, p);
    memcpy(o->lab, lab, sizeof lab);
    return 0;
}

static int64_t size_of(const opnd *o, int l)
{
    for (int d = 0; d < o->t->ndim; d++) if (o->lab[d] == l) return o->t->shape[d];
    return -1;
}

/* expand o's size-1 dims to the other operand's size for the labels both carry */
static int broadcast_to(opnd *o, const opnd *other)
{
    int64_t sh[DM_MAX_DIMS];
    int need = 0;
    for (int d = 0; d < o->t->ndim; d++) {
        int64_t s = size_of(other, o->lab[d]);
        sh[d] = o->t->shape[d];
        if (s > 1 && sh[d] == 1) { sh[d] = s; need = 1; }
    }
    if (!need) return 0;
    dm_tensor *e = dm_expand(o->t, o->t->ndim, sh);
    if (!e) return -1;
    opnd_set(o, e);
    return 0;
}

/* a and b contracted into a (b released): labels in keep stay, shared ones not in keep
 * are summed by the product */
static int contract(opnd *a, opnd *b, const char *keep)
{
    char in_a[NLABELS] = {0}, in_b[NLABELS] = {0}, want[NLABELS];
    for (int d = 0; d < a->t->ndim; d++) in_a[a->lab[d]] = 1;
    for (int d = 0; d < b->t->ndim; d++) in_b[b->lab[d]] = 1;
    /* a side's own labels that nobody needs go first */
    for (int l = 0; l < NLABELS; l++) want[l] = keep[l] || in_b[l];
    if (sum_unwanted(a, want)) return -1;
    for (int l = 0; l < NLABELS; l++) want[l] = keep[l] || in_a[l];
    if (sum_unwanted(b, want)) return -1;
    if (broadcast_to(a, b) || broadcast_to(b, a)) return -1;
    int bat[DM_MAX_DIMS], lo[DM_MAX_DIMS], con[DM_MAX_DIMS], ro[DM_MAX_DIMS];
    int nbat = 0, nlo = 0, ncon = 0, nro = 0;
    int64_t Bs = 1, Ls = 1, Cs = 1, Rs = 1;
    int64_t osh[2 * DM_MAX_DIMS];
    int olab[2 * DM_MAX_DIMS];
    for (int d = 0; d < a->t->ndim; d++) {
        int l = a->lab[d];
        int64_t s = a->t->shape[d];
        if (in_b[l] && keep[l]) { bat[nbat++] = l; Bs *= s; }
        else if (in_b[l]) { con[ncon++] = l; Cs *= s; }
        else { lo[nlo++] = l; Ls *= s; }
    }
    for (int d = 0; d < b->t->ndim; d++) {
        int l = b->lab[d];
        if (!in_a[l]) { ro[nro++] = l; Rs *= b->t->shape[d]; }
    }
    int oa[DM_MAX_DIMS], ob[DM_MAX_DIMS], no = 0;
    for (int i = 0; i < nbat; i++) { oa[i] = bat[i]; ob[i] = bat[i]; }
    for (int i = 0; i < nlo; i++) oa[nbat + i] = lo[i];
    for (int i = 0; i < ncon; i++) { oa[nbat + nlo + i] = con[i]; ob[nbat + i] = con[i]; }
    for (int i = 0; i < nro; i++) ob[nbat + ncon + i] = ro[i];
    for (int i = 0; i < nbat; i++) { olab[no] = bat[i]; osh[no++] = size_of(a, bat[i]); }
    for (int i = 0; i < nlo; i++) { olab[no] = lo[i]; osh[no++] = size_of(a, lo[i]); }
    for (int i = 0; i < nro; i++) { olab[no] = ro[i]; osh[no++] = size_of(b, ro[i]); }
    if (no > DM_MAX_DIMS) {
        dm_seterr("einsum: an intermediate product has %d dims (at most %d supported)", no,
                  DM_MAX_DIMS);
        return -1;
    }
    if (permute_to(a, oa, nbat + nlo + ncon) || permute_to(b, ob, nbat + ncon + nro))
        return -1;
    dm_tensor *a3, *b3;
    if (nbat) {
        a3 = dm_reshape(a->t, 3, (int64_t[]){ Bs, Ls, Cs });
        b3 = a3 ? dm_reshape(b->t, 3, (int64_t[]){ Bs, Cs, Rs }) : NULL;
    } else {
        a3 = dm_reshape(a->t, 2, (int64_t[]){ Ls, Cs });
        b3 = a3 ? dm_reshape(b->t, 2, (int64_t[]){ Cs, Rs }) : NULL;
    }
    dm_tensor *p = b3 ? dm_matmul(a3, b3) : NULL;
    dm_tensor_release(a3);
    dm_tensor_release(b3);
    dm_tensor *r = p ? dm_reshape(p, no, osh) : NULL;
    dm_tensor_release(p);
    if (!r) return -1;
    opnd_set(a, r);
    memcpy(a->lab, olab, (size_t)no * sizeof *olab);
    opnd_set(b, NULL);
    return 0;
}

dm_tensor *dm_einsum(const char *eq, int n, dm_tensor *const *ops)
{
    char b1[DM_SHAPE_BUF];
    if (!eq) { dm_seterr("einsum: no equation"); return NULL; }
    if (n < 1) { dm_seterr("einsum: expected at least one operand"); return NULL; }
    if (dm__same_device("einsum", n, (const dm_tensor *const *)ops) < 0) return NULL;
    const char *arrow = strstr(eq, "->");
    const char *lhs_end = arrow ? arrow : eq + strlen(eq);
    /* the terms */
    int nterms = 1;
    for (const char *c = eq; c < lhs_end; c++) if (*c == ',') nterms++;
    if (nterms != n) {
        dm_seterr("einsum: the equation '%s' has %d operand%s but %d tensor%s given", eq,
                  nterms, nterms == 1 ? "" : "s", n, n == 1 ? " was" : "s were");
        return NULL;
    }
    term *tm = calloc((size_t)n + 1, sizeof *tm);
    opnd *op = calloc((size_t)n, sizeof *op);
    dm_tensor *result = NULL;
    if (!tm || !op) { dm_seterr("einsum: out of memory"); goto done; }
    const char *p = eq;
    for (int k = 0; k < n; k++) {
        const char *c = p;
        while (c < lhs_end && *c != ',') c++;
        if (parse_term(p, c, &tm[k], "the subscripts")) goto done;
        p = c + 1;
    }
    /* dims of "..." per operand, and the largest count */
    int nell = 0;
    int64_t lsize[NLABELS];
    int lcount[NLABELS] = {0}, lops[NLABELS] = {0}, lfrom[NLABELS];
    for (int l = 0; l < NLABELS; l++) lsize[l] = -1;
    for (int k = 0; k < n; k++) {
        const dm_tensor *t = ops[k];
        if (!t) { dm_seterr("einsum: operand %d is missing", k + 1); goto done; }
        if (t->dtype != ops[0]->dtype) {
            dm_seterr("einsum: operands 1 and %d differ in dtype, %s and %s (convert one with "
                      ":to())", k + 1, dm_dtype_name(ops[0]->dtype), dm_dtype_name(t->dtype));
            goto done;
        }
        int nn = tm[k].nnamed;
        if (tm[k].ell < 0 ? t->ndim != nn : t->ndim < nn) {
            dm_seterr("einsum: operand %d has %d dims but the subscripts '%.*s' name %s%d",
                      k + 1, t->ndim, tm[k].len, tm[k].text, tm[k].ell < 0 ? "" : "at least ",
                      nn);
            goto done;
        }
        if (tm[k].ell >= 0 && t->ndim - nn > nell) nell = t->ndim - nn;
    }
    if (n > 1 && ops[0]->dtype == DM_BOOL) {
        dm_seterr("einsum: not implemented for bool tensors (float32, float64, int64 and uint8 "
                  "are)");
        goto done;
    }
    /* every dim's label; sizes must agree up to broadcasting of size 1 */
    for (int k = 0; k < n; k++) {
        const dm_tensor *t = ops[k];
        int e = tm[k].ell < 0 ? 0 : t->ndim - tm[k].nnamed, d = 0;
        char seen[NLABELS] = {0};
        for (int i = 0; i <= tm[k].nnamed; i++) {
            if (i == tm[k].ell)
                for (int j = 0; j < e; j++) op[k].lab[d++] = NLETTERS + nell - e + j;
            if (i < tm[k].nnamed) op[k].lab[d++] = tm[k].lab[i];
        }
        for (d = 0; d < t->ndim; d++) {
            int l = op[k].lab[d];
            int64_t s = t->shape[d];
            for (int d0 = 0; d0 < d; d0++)
                if (op[k].lab[d0] == l && t->shape[d0] != s) {
                    dm_seterr("einsum: subscript '%c' is repeated in operand %d %s with sizes "
                              "%lld and %lld", label_char(l), k + 1, SHAPE(t, b1),
                              (long long)t->shape[d0], (long long)s);
                    goto done;
                }
            lcount[l]++;
            if (!seen[l]) { seen[l] = 1; lops[l]++; }
            if (lsize[l] < 0 || lsize[l] == 1) {
                if (lsize[l] < 0 || s != 1) { lsize[l] = s; lfrom[l] = k; }
            } else if (s != lsize[l] && s != 1) {
                if (l < NLETTERS)
                    dm_seterr("einsum: subscript '%c' has size %lld in operand %d %s but %lld "
                              "in operand %d", label_char(l), (long long)s, k + 1,
                              SHAPE(t, b1), (long long)lsize[l], lfrom[l] + 1);
                else
                    dm_seterr("einsum: the '...' dims of operand %d %s do not broadcast with "
                              "those of operand %d", k + 1, SHAPE(t, b1), lfrom[l] + 1);
                goto done;
            }
        }
    }
    /* the output's labels */
    int out[DM_MAX_DIMS], nout = 0;
    char in_out[NLABELS] = {0};
    if (arrow) {
        term *to = &tm[n];
        if (parse_term(arrow + 2, arrow + strlen(arrow), to, "the output subscripts"))
            goto done;
        if (to->nnamed + (to->ell >= 0 ? nell : 0) > DM_MAX_DIMS) {
            dm_seterr("einsum: the output has more than %d dims", DM_MAX_DIMS);
            goto done;
        }
        for (int i = 0; i <= to->nnamed; i++) {
            if (i == to->ell) for (int j = 0; j < nell; j++) out[nout++] = NLETTERS + j;
            if (i == to->nnamed) break;
            int l = to->lab[i];
            if (!lcount[l]) {
                dm_seterr("einsum: output subscript '%c' does not appear in the operands' "
                          "subscripts", label_char(l));
                goto done;
            }
            if (in_out[l]) {
                dm_seterr("einsum: output subscript '%c' appears more than once",
                          label_char(l));
                goto done;
            }
            in_out[l] = 1;
            out[nout++] = l;
        }
        for (int j = 0; j < nout; j++) in_out[out[j]] = 1;
    } else {
        for (int j = 0; j < nell; j++) out[nout++] = NLETTERS + j;
        for (int l = 0; l < NLETTERS; l++)
            if (lcount[l] == 1) {
                if (nout >= DM_MAX_DIMS) {
                    dm_seterr("einsum: the output has more than %d dims", DM_MAX_DIMS);
                    goto done;
                }
                out[nout++] = l;
            }
        for (int j = 0; j < nout; j++) in_out[out[j]] = 1;
    }
    /* each operand: diagonals of repeated labels, then the labels only it carries summed */
    for (int k = 0; k < n; k++) {
        opnd *o = &op[k];
        o->t = dm_tensor_retain(ops[k]);
        for (int again = 1; again;) {
            again = 0;
            for (int i = 0; i < o->t->ndim && !again; i++)
                for (int j = i + 1; j < o->t->ndim && !again; j++) {
                    if (o->lab[i] != o->lab[j]) continue;
                    if (o->t->shape[i] != o->t->shape[j]) {
                        dm_seterr("einsum: subscript '%c' is repeated in operand %d %s with "
                                  "sizes %lld and %lld", label_char(o->lab[i]), k + 1,
                                  SHAPE(ops[k], b1), (long long)o->t->shape[i],
                                  (long long)o->t->shape[j]);
                        goto done;
                    }
                    dm_tensor *dg = dm_diagonal(o->t, 0, i, j);
                    if (!dg) goto done;
                    int l = o->lab[i], m = 0, nl[DM_MAX_DIMS];
                    for (int d = 0; d < o->t->ndim; d++)
                        if (d != i && d != j) nl[m++] = o->lab[d];
                    nl[m] = l;
                    opnd_set(o, dg);
                    memcpy(o->lab, nl, sizeof nl);
                    again = 1;
                }
        }
        char want[NLABELS];
        for (int l = 0; l < NLABELS; l++) want[l] = in_out[l] || lops[l] > 1;
        if (sum_unwanted(o, want)) goto done;
    }
    /* contract left to right; keep what the output or a later operand needs */
    for (int k = 1; k < n; k++) {
        char keep[NLABELS];
        memcpy(keep, in_out, sizeof keep);
        for (int j = k + 1; j < n; j++)
            for (int d = 0; d < op[j].t->ndim; d++) keep[op[j].lab[d]] = 1;
        if (contract(&op[0], &op[k], keep)) goto done;
    }
    if (sum_unwanted(&op[0], in_out)) goto done;
    /* labels of size-1 broadcast dims that only ever met their own kind are all present */
    if (permute_to(&op[0], out, nout)) goto done;
    if (op[0].t == ops[0] && n == 1) {
        /* 'ij->ij': a view, as PyTorch's */
        result = dm_reshape(op[0].t, op[0].t->ndim, op[0].t->shape);
    } else {
        result = op[0].t;
        op[0].t = NULL;
    }
done:
    if (op) for (int k = 0; k < n; k++) dm_tensor_release(op[k].t);
    free(op);
    free(tm);
    return result;
}
