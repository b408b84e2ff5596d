/* model.c -- run a saved model from plain C: no Lua, no autograd, float arrays in and out.
 *
 * A model file is a safetensors file (safetensors.c) written by the Lua helper
 * nn.save_model(model, path): the tensors are the model's state_dict() under PyTorch's names
 * ("0.weight"), so PyTorch's load_state_dict reads the same file, and the metadata key
 * "deepmoon.model" describes the chain of layers in a line-based text this file parses:
 *
 *     deepmoon.model 1
 *     in_features=4                                    (input_shape=1,28,28 for images)
 *     layer 0 Linear in_features=4 out_features=8 bias=true
 *     layer 1 ReLU
 *     layer 2 BatchNorm1d num_features=8 eps=1e-05 momentum=0.1 affine=true
 *         track_running_stats=true                     (one line in the file)
 *     layer 3 Dropout p=0.5
 *     layer 4 Linear in_features=8 out_features=3 bias=true
 *     layer - Softmax dim=2
 *     end
 *
 * Grammar (strict: anything else is an error naming the line):
 *   - lines end in "\n" (the last may omit it); fields are separated by one space; only
 *     printable ASCII; at most 16 fields a line and DM_MODEL_MAX_LAYERS layer lines
 *   - line 1 "deepmoon.model 1" (the format version), line 2 "in_features=N" (rows of N
 *     values) or "input_shape=C,H,W" (one sample's sizes, 1 .. 7 of them, at most 2^30
 *     values in all: images), then layer lines "layer NAME TYPE [key=value ...]", then "end"
 *   - NAME is the layer's state_dict prefix (its tensors are NAME.weight, NAME.bias, ...),
 *     or "-" for a layer that has no tensors; names use [A-Za-z0-9_.] only, at most 200
 *     characters, no empty part between dots
 *   - TYPE is a row of the layer registry (registry.c; the Lua side lists it with
 *     deepmoon.core._layer_kinds()).  Its keys are the row's options, in the row's order;
 *     a key with a default may be left out (nn.save_model writes them all).  Values:
 *       INT     a decimal integer in the option's range (widths: 1 .. 2^30)
 *       NUM     a finite decimal number as strtod reads it (no inf, nan or hex)
 *       BOOL    true | false
 *       CHOICE  one of the option's words (GELU approximate=none|tanh)
 *       DIM     a dim of [batch x sample]: 1-based, negative from the end, not 0
 *       SIZE    PyTorch's int or tuple: "5" (every spatial dim) or "3,2" (at most 3
 *               sizes); "none" entries where the option takes none (output_size=7,none);
 *               or one of the option's words (Conv2d padding=same|valid)
 *       none    PyTorch's None, where the option allows it (BatchNorm1d momentum)
 *   - shapes chain: the sample flowing into a layer is line 2's for the first, the
 *     previous layer's output after; each row's shape rule checks it ("Linear:
 *     in_features 3 does not match the width 2 before it") and gives the layer's output,
 *     which must hold at most 2^30 values
 *   - every tensor the options call for exists with exactly the shape the rule gives
 *     (optional ones, num_batches_tracked, only when present); other tensors are ignored.
 *     All of a line is checked before its tensors are kept, and nothing of the size a
 *     description names is allocated: a small file cannot make the loader allocate a
 *     large layer.
 *
 * Inference is eval mode, each layer through its row's forward, which runs the core's own
 * ops (dm_linear, dm_unary, dm_softmax, ...), so results equal the Lua model's bit for bit
 * on the same build. */
#include "deepmoon.h"
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DM_MODEL_MAX_LAYERS 10000
#define DM_MODEL_MAX_SAMPLE ((int64_t)1 << 30)  /* values in one sample, anywhere in a chain */
#define MAX_FIELDS 16
#define MAX_NAME 200
#define META_KEY "deepmoon.model"

/* a layer line is "layer NAME TYPE" and every option of its row */
_Static_assert(MAX_FIELDS >= 3 + DM_LAYER_MAX_OPTS, "a layer line must hold every option");

typedef struct {
    const dm_layer_kind *kind;
    char *name;                                 /* owned */
    dm_opt_value opt[DM_LAYER_MAX_OPTS];
    dm_tensor *t[DM_LAYER_MAX_TENSORS];         /* owned references, NULL where absent */
} layer;

struct dm_model {
    dm_layer_shape in, out;                     /* one sample's, batch left out */
    int n;
    layer *layers;
};

/* ---- fields and values ---------------------------------------------------------------- */

/* "<prefix>: <message>" as the error; returns -1 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int kerr(const char *prefix, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_seterr("%s: %s", prefix, msg);
    return -1;
}

/* split s (modified in place) at single spaces into at most MAX_FIELDS fields; 0, or -1
   with "too many fields", "extra space" or "empty line" */
static int split(char *s, char **fields, int *n)
{
    *n = 0;
    for (;;) {
        if (*n == MAX_FIELDS) { dm_seterr("too many fields"); return -1; }
        fields[(*n)++] = s;
        char *sp = strchr(s, ' ');
        if (sp) *sp = '\0';
        if (*s == '\0') {
            dm_seterr(*n == 1 && !sp ? "empty line" : "extra space");
            return -1;
        }
        if (!sp) return 0;
        s = sp + 1;
    }
}

/* a decimal integer, at most 12 characters (well past 2^30, before strtoll could clip) */
static int read_int(const dm_layer_opt *o, const char *s, const char *what, long long *out)
{
    const char *c = s;
    if (*c == '-') c++;
    if (!isdigit((unsigned char)*c) || strspn(c, "0123456789") != strlen(c))
        return kerr(what, "%s must be an integer, got '%.60s'", o->name, s);
    if (strlen(s) > 12)
        return kerr(what, "%s must be in %lld .. %lld, got %.60s", o->name, (long long)o->lo,
                    (long long)o->hi, s);
    *out = strtoll(s, NULL, 10);
    return 0;
}

/* the text s of option o into v; what ("Linear", "model") starts the message */
static int parse_value(const dm_layer_opt *o, const char *s, const char *what, dm_opt_value *v)
{
    memset(v, 0, sizeof *v);
    if (o->none_ok && strcmp(s, "none") == 0) { v->none = 1; return 0; }
    switch (o->type) {
    case DM_OPT_SIZE: {
        /* a word of choices, or 1 .. DM_OPT_MAX_SIZES integers (or "none" entries) */
        if (o->choices && !isdigit((unsigned char)*s) && *s != '-' && strncmp(s, "none", 4) != 0) {
            dm_layer_opt c = *o;
            c.type = DM_OPT_CHOICE;
            return parse_value(&c, s, what, v);
        }
        const char *p = s;
        for (;;) {
            size_t len = strcspn(p, ",");
            char item[16];
            if (v->n == DM_OPT_MAX_SIZES)
                return kerr(what, "%s takes at most %d sizes, got '%.60s'", o->name,
                            DM_OPT_MAX_SIZES, s);
            if (len == 0 || len >= sizeof item)
                return kerr(what, "%s must be a size (an integer or integers joined by commas), "
                            "got '%.60s'", o->name, s);
            memcpy(item, p, len);
            item[len] = '\0';
            if (o->none_ok && strcmp(item, "none") == 0) {
                v->size[v->n++] = -1;
            } else {
                long long i = 0;
                if (read_int(o, item, what, &i)) {
                    return kerr(what, "%s must be a size (an integer or integers joined by "
                                "commas), got '%.60s'", o->name, s);
                }
                if (i < o->lo || i > o->hi)
                    return kerr(what, "%s must be in %lld .. %lld, got %.60s", o->name,
                                (long long)o->lo, (long long)o->hi, s);
                v->size[v->n++] = i;
            }
            if (p[len] == '\0') break;
            p += len + 1;
        }
        v->v = (double)v->size[0];
        return 0;
    }
    case DM_OPT_INT: case DM_OPT_DIM: {
        long long i = 0;
        if (read_int(o, s, what, &i)) return -1;
        if (o->type == DM_OPT_DIM && i == 0)
            return kerr(what, "%s 0 is invalid (dims are 1-based)", o->name);
        if (i < o->lo || i > o->hi)
            return kerr(what, "%s must be in %lld .. %lld, got %.60s", o->name,
                        (long long)o->lo, (long long)o->hi, s);
        v->v = (double)i;
        return 0;
    }
    case DM_OPT_NUM: {
        /* digits, sign, point and exponent only: no "inf", "nan" or hex floats */
        if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s) || strlen(s) > 40)
            return kerr(what, "%s must be a number, got '%.60s'", o->name, s);
        char *end;
        double x = strtod(s, &end);            /* underflow gives 0 or a denormal: fine */
        if (*end != '\0' || end == s)
            return kerr(what, "%s must be a number, got '%.60s'", o->name, s);
        if (!isfinite(x)) return kerr(what, "%s must be finite, got %.60s", o->name, s);
        int has_lo = !isinf(o->lo), has_hi = !isinf(o->hi);
        if (has_lo && has_hi && (x < o->lo || x > o->hi))
            return kerr(what, "%s must be in %g .. %g, got %.60s", o->name, o->lo, o->hi, s);
        if (has_lo && !has_hi && x < o->lo)
            return kerr(what, "%s must be >= %g, got %.60s", o->name, o->lo, s);
        if (!has_lo && has_hi && x > o->hi)
            return kerr(what, "%s must be <= %g, got %.60s", o->name, o->hi, s);
        v->v = x;
        return 0;
    }
    case DM_OPT_BOOL:
        if (strcmp(s, "true") == 0) v->v = 1;
        else if (strcmp(s, "false") == 0) v->v = 0;
        else return kerr(what, "%s must be true or false, got '%.60s'", o->name, s);
        return 0;
    case DM_OPT_CHOICE: {
        /* the words of "a b c", listed in the message as "a, b or c" */
        char list[200] = "";
        size_t len = strlen(s), pos = 0;
        int idx = 0;
        for (const char *w = o->choices; *w; idx++) {
            size_t n = strcspn(w, " ");
            if (n == len && strncmp(w, s, n) == 0) { v->v = idx; return 0; }
            const char *sep = w[n] == '\0' ? " or " : ", ";
            pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%.*s",
                                    idx == 0 ? "" : sep, (int)n, w);
            if (pos >= sizeof list) pos = sizeof list - 1;
            w += n + (w[n] == ' ');
        }
        return kerr(what, "%s must be %s, got '%.60s'", o->name, list, s);
    }
    }
    return kerr(what, "%s has an unknown option type", o->name);
}

static int opt_index(const dm_layer_kind *k, const char *name)
{
    for (int j = 0; j < DM_LAYER_MAX_OPTS && k->opt[j].name; j++)
        if (strcmp(k->opt[j].name, name) == 0) return j;
    return -1;
}

/* f[0 .. n) = TYPE key=value ...: the row, its options and its shape rule's answer */
static int parse_spec(int n, char **f, const dm_layer_kind **kind, dm_opt_value *opt,
                      dm_layer_shape *in, dm_layer_shape *out, dm_layer_shape *t)
{
    const dm_layer_kind *k = dm_layer_kind_find(f[0]);
    if (!k) { dm_seterr("unknown layer type '%.60s'", f[0]); return -1; }
    int i = 1;
    memset(opt, 0, DM_LAYER_MAX_OPTS * sizeof *opt);
    for (int j = 0; j < DM_LAYER_MAX_OPTS && k->opt[j].name; j++) {
        const dm_layer_opt *o = &k->opt[j];
        size_t len = strlen(o->name);
        const char *v;
        if (i < n && strncmp(f[i], o->name, len) == 0 && f[i][len] == '=') v = f[i++] + len + 1;
        else if (o->def) v = o->def;
        else if (i < n) return kerr(k->name, "expected %s=..., got '%.60s'", o->name, f[i]);
        else return kerr(k->name, "missing %s", o->name);
        if (parse_value(o, v, k->name, &opt[j])) return -1;
    }
    if (i < n) return kerr(k->name, "unexpected field '%.60s'", f[i]);
    for (int j = 0; j < DM_LAYER_MAX_TENSORS; j++) t[j].ndim = -1;
    out->ndim = -1;
    if (k->shape(opt, in, out, t)) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", dm_errmsg());
        return kerr(k->name, "%s", msg);
    }
    /* a sample of at most DM_MODEL_MAX_SAMPLE values flows out (sizes >= 1 each, so the
       product is checked before it can overflow) */
    int64_t total = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (out->d[d] < 1 || out->d[d] > DM_MODEL_MAX_SAMPLE / total) {
            char sh[128];
            dm_shape_str(out->ndim, out->d, sh, sizeof sh);
            if (out->d[d] < 1) return kerr(k->name, "the output samples %s are empty", sh);
            return kerr(k->name, "the output samples %s have more than %lld values", sh,
                        (long long)DM_MODEL_MAX_SAMPLE);
        }
        total *= out->d[d];
    }
    for (int j = 0; j < DM_LAYER_MAX_TENSORS && k->tensor[j].name; j++) {
        const char *when = k->tensor[j].when;
        int w = when ? opt_index(k, when) : -1;
        if (w >= 0 && opt[w].v == 0) t[j].ndim = -1;
    }
    *kind = k;
    return 0;
}

/* printable ASCII only, newlines aside (allowed where nl); the offending byte or -1 */
static int bad_char(const char *s, size_t len, int nl, size_t *at)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == '\n' && nl) || (c >= 0x20 && c <= 0x7e)) continue;
        *at = i;
        return c;
    }
    return -1;
}

int dm_layer_parse(const char *spec, const dm_layer_kind **kind, dm_opt_value *opt,
                   dm_layer_shape *in, dm_layer_shape *out, dm_layer_shape *t)
{
    if (!spec || !kind || !opt || !in || !out || !t) {
        dm_seterr("layer_parse: an argument is NULL");
        return -1;
    }
    size_t len = strlen(spec), at;
    int c = bad_char(spec, len, 0, &at);
    if (c >= 0) {
        dm_seterr("character 0x%02x is not printable ASCII", c);
        return -1;
    }
    char *copy = malloc(len + 1), *f[MAX_FIELDS];
    if (!copy) { dm_seterr("out of memory"); return -1; }
    memcpy(copy, spec, len + 1);
    int n, rc = split(copy, f, &n);
    if (rc == 0) rc = parse_spec(n, f, kind, opt, in, out, t);
    free(copy);
    return rc;
}

/* ---- the description ------------------------------------------------------------------ */

/* "C,H,W" (line 2's input_shape=): 1 .. DM_MAX_DIMS - 1 sizes, each >= 1, at most
   DM_MODEL_MAX_SAMPLE values in all */
static int parse_shape(const char *s, dm_layer_shape *x)
{
    static const dm_layer_opt dim_opt = { "input_shape", DM_OPT_INT, NULL, 1,
                                          (double)DM_MODEL_MAX_SAMPLE, NULL, 0 };
    const char *p = s;
    int64_t total = 1;
    x->ndim = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[16];
        long long i = 0;
        if (x->ndim == DM_MAX_DIMS - 1)
            return kerr("model", "input_shape has more than %d sizes", DM_MAX_DIMS - 1);
        if (len == 0 || len >= sizeof item)
            return kerr("model", "input_shape must be sizes joined by commas, got '%.60s'", s);
        memcpy(item, p, len);
        item[len] = '\0';
        if (read_int(&dim_opt, item, "model", &i)) return -1;
        if (i < 1 || i > DM_MODEL_MAX_SAMPLE)
            return kerr("model", "input_shape sizes must be in 1 .. %lld, got %.60s",
                        (long long)DM_MODEL_MAX_SAMPLE, item);
        if (total > DM_MODEL_MAX_SAMPLE / i)
            return kerr("model", "input_shape %.60s has more than %lld values", s,
                        (long long)DM_MODEL_MAX_SAMPLE);
        total *= i;
        x->d[x->ndim++] = i;
        if (p[len] == '\0') return 0;
        p += len + 1;
    }
}

typedef struct {
    const char *path;           /* for messages */
    int line;                   /* 1-based line being parsed */
    char *fields[MAX_FIELDS];   /* the current line split at spaces */
    int nfields;
} parser;

/* "load_model: <path>: line N: <problem>"; returns -1 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int perr(const parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->line > 0) dm_seterr("load_model: %s: line %d: %s", p->path, p->line, msg);
    else dm_seterr("load_model: %s: %s", p->path, msg);
    return -1;
}

static int check_name(parser *p, const char *name)
{
    if (strcmp(name, "-") == 0) return 0;
    size_t n = strlen(name);
    if (n > MAX_NAME) return perr(p, "layer name longer than %d characters", MAX_NAME);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '_' || c == '.'))
            return perr(p, "layer name '%.60s' has a character other than A-Z a-z 0-9 _ .",
                        name);
    }
    if (name[0] == '.' || name[n - 1] == '.' || strstr(name, ".."))
        return perr(p, "layer name '%.60s' has an empty part", name);
    return 0;
}

static int same_dims(const dm_tensor *t, const dm_layer_shape *s)
{
    if (t->ndim != s->ndim) return 0;
    for (int d = 0; d < s->ndim; d++) if (t->shape[d] != s->d[d]) return 0;
    return 1;
}

/* one "layer NAME TYPE ..." line into L; x is the sample flowing in, then out */
static int parse_layer(parser *p, const dm_named_tensors *nt, layer *L, dm_layer_shape *x)
{
    if (p->nfields < 3 || strcmp(p->fields[0], "layer") != 0)
        return perr(p, "expected 'layer NAME TYPE ...' or 'end', got '%.60s'", p->fields[0]);
    const char *name = p->fields[1];
    if (check_name(p, name)) return -1;
    const dm_layer_kind *k;
    dm_layer_shape out, t[DM_LAYER_MAX_TENSORS];
    if (parse_spec(p->nfields - 2, p->fields + 2, &k, L->opt, x, &out, t))
        return perr(p, "%s", dm_errmsg());
    /* every tensor, with its shape, before any is kept */
    const dm_tensor *found[DM_LAYER_MAX_TENSORS] = { 0 };
    for (int j = 0; j < DM_LAYER_MAX_TENSORS && k->tensor[j].name; j++) {
        if (t[j].ndim < 0) continue;
        if (strcmp(name, "-") == 0)
            return perr(p, "%s: a layer with tensors needs a name", k->name);
        char key[MAX_NAME + 64];
        snprintf(key, sizeof key, "%s.%s", name, k->tensor[j].name);
        const dm_tensor *tt = dm_named_tensors_get(nt, key);
        if (!tt) {
            if (k->tensor[j].optional) continue;
            return perr(p, "%s: tensor '%s' is missing", k->name, key);
        }
        if (!same_dims(tt, &t[j])) {
            char got[128], want[128];
            dm_shape_str(tt->ndim, tt->shape, got, sizeof got);
            dm_shape_str(t[j].ndim, t[j].d, want, sizeof want);
            return perr(p, "%s: tensor '%s' is %s, expected %s", k->name, key, got, want);
        }
        if (!k->tensor[j].optional) found[j] = tt;
    }
    size_t len = strlen(name);
    L->kind = k;
    if (!(L->name = malloc(len + 1))) return perr(p, "out of memory");
    memcpy(L->name, name, len + 1);
    for (int j = 0; j < DM_LAYER_MAX_TENSORS; j++) {
        if (!found[j]) continue;
        if (!(L->t[j] = dm_contiguous(found[j]))) return perr(p, "%s", dm_errmsg());
    }
    *x = out;
    return 0;
}

static void free_layers(layer *ls, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < DM_LAYER_MAX_TENSORS; j++) dm_tensor_release(ls[i].t[j]);
        free(ls[i].name);
    }
    free(ls);
}

void dm_model_free(dm_model *m)
{
    if (!m) return;
    free_layers(m->layers, m->n);
    free(m);
}

/* the model described by nt's metadata, with nt's tensors; path names it in messages */
static dm_model *from_named(const dm_named_tensors *nt, const char *path)
{
    parser p = { .path = path, .line = 0 };
    const char *meta = dm_named_tensors_get_meta(nt, META_KEY);
    if (!meta) {
        perr(&p, "no '%s' metadata (write the file with nn.save_model)", META_KEY);
        return NULL;
    }
    size_t len = strlen(meta), at;
    int c = bad_char(meta, len, 1, &at);
    if (c >= 0) {
        p.line = 1;
        for (size_t j = 0; j < at; j++) p.line += meta[j] == '\n';
        perr(&p, "character 0x%02x is not printable ASCII", c);
        return NULL;
    }
    char *text = malloc(len + 1);
    dm_model *m = calloc(1, sizeof *m);
    if (!text || !m) {
        free(text);
        free(m);
        perr(&p, "out of memory");
        return NULL;
    }
    memcpy(text, meta, len + 1);
    int cap = 0, ended = 0;
    dm_layer_shape x = { .ndim = -1 };
    char *s = text;
    for (p.line = 1; *s; p.line++) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        if (ended) { perr(&p, "text after 'end'"); goto fail; }
        if (split(s, p.fields, &p.nfields)) { perr(&p, "%s", dm_errmsg()); goto fail; }
        if (p.line == 1) {
            if (p.nfields != 2 || strcmp(p.fields[0], META_KEY) != 0) {
                perr(&p, "expected '%s 1'", META_KEY);
                goto fail;
            }
            if (strcmp(p.fields[1], "1") != 0) {
                perr(&p, "format version '%.20s' is not supported (this build reads 1)",
                     p.fields[1]);
                goto fail;
            }
        } else if (p.line == 2) {
            static const dm_layer_opt in_opt = { "in_features", DM_OPT_INT, NULL, 1,
                                                 (double)((int64_t)1 << 30), NULL, 0 };
            const char *f = p.fields[0];
            dm_opt_value v;
            if (p.nfields != 1) {
                perr(&p, "expected 'in_features=N' or 'input_shape=N,N,...'");
                goto fail;
            }
            if (strncmp(f, "input_shape=", 12) == 0) {
                if (parse_shape(f + 12, &x)) { perr(&p, "%s", dm_errmsg()); goto fail; }
            } else if (strncmp(f, "in_features=", 12) != 0) {
                perr(&p, "model: expected in_features=... or input_shape=..., got '%.60s'", f);
                goto fail;
            } else {
                if (parse_value(&in_opt, f + 12, "model", &v)) { perr(&p, "%s", dm_errmsg()); goto fail; }
                x.ndim = 1;
                x.d[0] = (int64_t)v.v;
            }
            m->in = x;
        } else if (p.nfields == 1 && strcmp(p.fields[0], "end") == 0) {
            ended = 1;
        } else {
            if (m->n == DM_MODEL_MAX_LAYERS) {
                perr(&p, "more than %d layers", DM_MODEL_MAX_LAYERS);
                goto fail;
            }
            if (m->n == cap) {
                int ncap = cap ? cap * 2 : 8;
                if (ncap > DM_MODEL_MAX_LAYERS) ncap = DM_MODEL_MAX_LAYERS;
                layer *nl2 = realloc(m->layers, (size_t)ncap * sizeof *nl2);
                if (!nl2) { perr(&p, "out of memory"); goto fail; }
                m->layers = nl2;
                cap = ncap;
            }
            layer *L = &m->layers[m->n++];
            memset(L, 0, sizeof *L);
            if (parse_layer(&p, nt, L, &x)) goto fail;
        }
        if (!nl) break;
        s = nl + 1;
    }
    if (!ended) {
        p.line = 0;
        perr(&p, "the model description is truncated (no 'end' line)");
        goto fail;
    }
    m->out = x;
    free(text);
    return m;
fail:
    free(text);
    dm_model_free(m);
    return NULL;
}

dm_model *dm_model_from_named(const dm_named_tensors *nt, const char *name)
{
    if (!nt) { dm_seterr("load_model: the tensors are NULL"); return NULL; }
    return from_named(nt, name ? name : "(tensors)");
}

dm_model *dm_model_load(const char *path)
{
    if (!path) { dm_seterr("load_model: path is NULL"); return NULL; }
    dm_named_tensors *nt = dm_safetensors_load(path);
    if (!nt) return NULL;                     /* "load: <path>: <problem>" */
    /* the inference API computes in float32: a float64 model is read as float32 */
    if (dm_named_tensors_to_dtype(nt, DM_FLOAT32, 1) != 0) { dm_named_tensors_free(nt); return NULL; }
    dm_model *m = from_named(nt, path);
    dm_named_tensors_free(nt);
    return m;
}

dm_model *dm_model_load_buffer(const void *data, size_t len, const char *name)
{
    if (!name) name = "(buffer)";
    dm_named_tensors *nt = dm_safetensors_load_buffer(data, len, name);
    if (!nt) return NULL;
    if (dm_named_tensors_to_dtype(nt, DM_FLOAT32, 1) != 0) { dm_named_tensors_free(nt); return NULL; }
    dm_model *m = from_named(nt, name);
    dm_named_tensors_free(nt);
    return m;
}

/* ---- what a loaded model is --------------------------------------------------------------- */

static int64_t numel(const dm_layer_shape *s)
{
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->d[d];
    return n;
}

int64_t dm_model_in_features(const dm_model *m) { return m ? numel(&m->in) : -1; }
int64_t dm_model_out_features(const dm_model *m) { return m ? numel(&m->out) : -1; }

static int shape_out(const dm_layer_shape *s, int64_t *shape)
{
    for (int d = 0; shape && d < s->ndim; d++) shape[d] = s->d[d];
    return s->ndim;
}

int dm_model_input_shape(const dm_model *m, int64_t *shape)
{
    return m ? shape_out(&m->in, shape) : -1;
}

int dm_model_output_shape(const dm_model *m, int64_t *shape)
{
    return m ? shape_out(&m->out, shape) : -1;
}

int dm_model_num_layers(const dm_model *m) { return m ? m->n : -1; }

const char *dm_model_layer(const dm_model *m, int i, const dm_layer_kind **kind,
                           const dm_opt_value **opt)
{
    if (!m || i < 0 || i >= m->n) return NULL;
    if (kind) *kind = m->layers[i].kind;
    if (opt) *opt = m->layers[i].opt;
    return m->layers[i].name;
}

/* ---- forward ------------------------------------------------------------------------ */

static int forward_any(const char *fn, const dm_model *m, const void *input, dm_dtype in_dt,
                       int64_t batch, void *output, dm_dtype out_dt)
{
    if (!m || !input || !output) {
        dm_seterr("%s: %s is NULL", fn, !m ? "the model" : !input ? "input" : "output");
        return -1;
    }
    if ((unsigned)in_dt >= DM_NDTYPES || (unsigned)out_dt >= DM_NDTYPES) {
        dm_seterr("%s: unknown %s dtype %d", fn, (unsigned)in_dt >= DM_NDTYPES ? "input"
                  : "output", (int)((unsigned)in_dt >= DM_NDTYPES ? in_dt : out_dt));
        return -1;
    }
    int64_t nin = numel(&m->in), nout = numel(&m->out);
    if (batch < 0 || batch > INT64_MAX / nin || batch > INT64_MAX / (nout > 0 ? nout : 1)) {
        dm_seterr("%s: batch must be in 0 .. %lld, got %lld", fn,
                  (long long)(INT64_MAX / nin), (long long)batch);
        return -1;
    }
    if (batch == 0) return 0;
    int64_t shape[DM_MAX_DIMS];                 /* [batch x sample...] */
    shape[0] = batch;
    for (int d = 0; d < m->in.ndim; d++) shape[d + 1] = m->in.d[d];
    int prev = dm_set_grad_enabled(0);
    dm_tensor *x = dm_tensor_from_data_dtype(m->in.ndim + 1, shape, input, in_dt);
    if (x && in_dt != DM_FLOAT32) {
        dm_tensor *f = dm_to_dtype(x, DM_FLOAT32);
        dm_tensor_release(x);
        x = f;
    }
    for (int i = 0; x && i < m->n; i++) {
        const layer *L = &m->layers[i];
        dm_tensor *y = L->kind->forward(L->opt, L->t, x);
        dm_tensor_release(x);
        x = y;
    }
    dm_set_grad_enabled(prev);
    if (!x) return -1;
    int rc = 0, ok = x->ndim == m->out.ndim + 1 && x->shape[0] == batch;
    for (int d = 0; ok && d < m->out.ndim; d++) ok = x->shape[d + 1] == m->out.d[d];
    if (!ok) {
        char s[128];
        dm_seterr("%s: internal error: output is %s", fn,
                  dm_shape_str(x->ndim, x->shape, s, sizeof s));
        rc = -1;
    } else if (out_dt == DM_FLOAT32) {
        dm_to_buffer(x, output);
    } else {
        dm_to_buffer_dtype(x, output, out_dt);
    }
    dm_tensor_release(x);
    return rc;
}

int dm_model_forward(const dm_model *m, const float *input, int64_t batch, float *output)
{
    return forward_any("model_forward", m, input, DM_FLOAT32, batch, output, DM_FLOAT32);
}

int dm_model_forward_dtype(const dm_model *m, const void *input, dm_dtype in_dt, int64_t batch,
                           void *output, dm_dtype out_dt)
{
    return forward_any("model_forward_dtype", m, input, in_dt, batch, output, out_dt);
}
