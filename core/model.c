/* model.c -- run a saved model from plain C: no Lua, no autograd, float arrays in and out.
 *
 * A model file is a safetensors file (io.c) written by the Lua helper nn.save_model(model,
 * path): the tensors are the model's state_dict() under PyTorch's names ("0.weight"), so
 * PyTorch's load_state_dict reads the same file, and the metadata key "deepmoon.model"
 * describes the chain of layers in a line-based text this file parses:
 *
 *     deepmoon.model 1
 *     in_features=4
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
 *     printable ASCII; at most DM_MODEL_MAX_LAYERS layer lines
 *   - line 1 "deepmoon.model 1" (the format version), line 2 "in_features=N", then layer
 *     lines "layer NAME TYPE [key=value ...]", then "end"
 *   - NAME is the layer's state_dict prefix (its tensors are NAME.weight, NAME.bias,
 *     NAME.running_mean, NAME.running_var), or "-" for a layer that has no tensors; names
 *     use [A-Za-z0-9_.] only, at most 200 characters
 *   - each TYPE takes exactly the keys below, in this order (PyTorch's argument names):
 *       Linear in_features=N out_features=N bias=true|false
 *       ReLU | Sigmoid | Tanh | SELU | Identity
 *       LeakyReLU negative_slope=X          ELU alpha=X
 *       GELU approximate=none|tanh
 *       Softmax dim=D | LogSoftmax dim=D    D in 1, 2, -1, -2 (1-based, of [batch x width])
 *                                           or none (PyTorch's implicit choice: 2)
 *       Dropout p=X                         0 <= p <= 1; the identity at inference
 *       Flatten start_dim=2 end_dim=-1      only the default: the identity on [batch x width]
 *       BatchNorm1d num_features=N eps=X momentum=X|none affine=true|false
 *                   track_running_stats=true|false
 *   - N: decimal integer in 1 .. 2^30; X: a finite decimal number (as strtod reads it)
 *   - widths chain: a Linear's in_features and a BatchNorm1d's num_features equal the width
 *     flowing into them (in_features for the first); the last width is out_features
 *   - every tensor a layer needs exists with exactly the shape it needs (weight [out x in],
 *     bias [out], BatchNorm1d's [num_features]); other tensors in the file are ignored
 *
 * Inference is eval mode: Dropout passes values through, BatchNorm1d normalises with the
 * running statistics (with the batch's own when it keeps none, as PyTorch does).  Forward
 * runs the core's own ops (dm_linear, dm_unary, dm_softmax, ...), so results equal the Lua
 * model's bit for bit on the same build. */
#include "deepmoon.h"
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DM_MODEL_MAX_LAYERS 10000
#define MAX_NAME 200
#define MAX_WIDTH ((int64_t)1 << 30)
#define META_KEY "deepmoon.model"

typedef enum {
    L_LINEAR, L_RELU, L_SIGMOID, L_TANH, L_SELU, L_IDENTITY, L_LEAKY_RELU, L_ELU, L_GELU,
    L_SOFTMAX, L_LOG_SOFTMAX, L_DROPOUT, L_FLATTEN, L_BATCH_NORM
} layer_kind;

typedef struct {
    layer_kind kind;
    double arg;                 /* negative_slope, alpha, eps */
    int flag;                   /* GELU: tanh approximation */
    int dim;                    /* Softmax, LogSoftmax: 0-based dim of [batch x width] */
    dm_tensor *weight, *bias, *mean, *var;    /* owned references, NULL where absent */
} layer;

struct dm_model {
    int64_t in_features, out_features;
    int n;
    layer *layers;
};

/* ---- parsing ------------------------------------------------------------------------ */

typedef struct {
    const char *path;           /* for messages */
    int line;                   /* 1-based line being parsed */
    char *fields[16];           /* the current line split at spaces */
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

/* split line (modified in place) at single spaces; an empty field is an error */
static int split(parser *p, char *line)
{
    p->nfields = 0;
    for (char *s = line;;) {
        if (p->nfields == (int)(sizeof p->fields / sizeof p->fields[0]))
            return perr(p, "too many fields");
        p->fields[p->nfields++] = s;
        char *sp = strchr(s, ' ');
        if (sp) *sp = '\0';
        if (*s == '\0') return perr(p, p->nfields == 1 && !sp ? "empty line" : "extra space");
        if (!sp) return 0;
        s = sp + 1;
    }
}

/* the value of field i, which must read "key=value" */
static const char *keyval(parser *p, int i, const char *key, const char *type)
{
    size_t n = strlen(key);
    if (i >= p->nfields) {
        perr(p, "%s: missing %s", type, key);
        return NULL;
    }
    const char *f = p->fields[i];
    if (strncmp(f, key, n) != 0 || f[n] != '=') {
        perr(p, "%s: expected %s=..., got '%.60s'", type, key, f);
        return NULL;
    }
    return f + n + 1;
}

static int parse_int(parser *p, const char *s, const char *key, const char *type,
                     int64_t lo, int64_t hi, int64_t *out)
{
    const char *c = s;
    if (*c == '-') c++;
    if (!isdigit((unsigned char)*c)) goto bad;
    for (; *c; c++) if (!isdigit((unsigned char)*c)) goto bad;
    if (strlen(s) > 12) goto range;           /* well past 2^30, before strtoll could clip */
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) goto range;
    *out = v;
    return 0;
bad:
    return perr(p, "%s: %s must be an integer, got '%.60s'", type, key, s);
range:
    return perr(p, "%s: %s must be in %lld .. %lld, got %.60s", type, key, (long long)lo,
                (long long)hi, s);
}

static int parse_num(parser *p, const char *s, const char *key, const char *type, double *out)
{
    /* digits, sign, point and exponent only: no "inf", "nan" or hex floats */
    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s) || strlen(s) > 40)
        return perr(p, "%s: %s must be a number, got '%.60s'", type, key, s);
    char *end;
    double v = strtod(s, &end);                /* underflow gives 0 or a denormal: fine */
    if (*end != '\0' || end == s)
        return perr(p, "%s: %s must be a number, got '%.60s'", type, key, s);
    if (!isfinite(v)) return perr(p, "%s: %s must be finite, got %.60s", type, key, s);
    *out = v;
    return 0;
}

static int parse_bool(parser *p, const char *s, const char *key, const char *type, int *out)
{
    if (strcmp(s, "true") == 0) *out = 1;
    else if (strcmp(s, "false") == 0) *out = 0;
    else return perr(p, "%s: %s must be true or false, got '%.60s'", type, key, s);
    return 0;
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

/* the tensor NAME.suffix with exactly the shape [d0] or [d0 x d1] (d1 < 0: 1-D); retained */
static int need_tensor(parser *p, const dm_named_tensors *nt, const char *name,
                       const char *suffix, const char *type, int64_t d0, int64_t d1,
                       dm_tensor **out)
{
    if (strcmp(name, "-") == 0) return perr(p, "%s: a layer with tensors needs a name", type);
    char key[MAX_NAME + 32];
    snprintf(key, sizeof key, "%s.%s", name, suffix);
    dm_tensor *t = dm_named_tensors_get(nt, key);
    if (!t) return perr(p, "%s: tensor '%s' is missing", type, key);
    int ndim = d1 < 0 ? 1 : 2;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[128], want[64];
        int64_t ws[2] = { d0, d1 };
        dm_shape_str(t->ndim, t->shape, got, sizeof got);
        dm_shape_str(ndim, ws, want, sizeof want);
        return perr(p, "%s: tensor '%s' is %s, expected %s", type, key, got, want);
    }
    *out = dm_contiguous(t);
    if (!*out) return perr(p, "%s", dm_errmsg());
    return 0;
}

static int expect_fields(parser *p, int n, const char *type)
{
    if (p->nfields > n) return perr(p, "%s: unexpected field '%.60s'", type, p->fields[n]);
    return 0;
}

/* one "layer NAME TYPE ..." line; *width is the width flowing in, updated */
static int parse_layer(parser *p, const dm_named_tensors *nt, layer *L, int64_t *width)
{
    if (p->nfields < 3 || strcmp(p->fields[0], "layer") != 0)
        return perr(p, "expected 'layer NAME TYPE ...' or 'end', got '%.60s'", p->fields[0]);
    const char *name = p->fields[1], *type = p->fields[2];
    if (check_name(p, name)) return -1;
    const char *v;
    static const struct { const char *name; layer_kind kind; } simple[] = {
        { "ReLU", L_RELU }, { "Sigmoid", L_SIGMOID }, { "Tanh", L_TANH }, { "SELU", L_SELU },
        { "Identity", L_IDENTITY },
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(type, simple[i].name) == 0) {
            L->kind = simple[i].kind;
            return expect_fields(p, 3, type);
        }
    }
    if (strcmp(type, "Linear") == 0) {
        int64_t in = 0, out = 0;
        int bias = 0;
        L->kind = L_LINEAR;
        if (!(v = keyval(p, 3, "in_features", type))
            || parse_int(p, v, "in_features", type, 1, MAX_WIDTH, &in)) return -1;
        if (!(v = keyval(p, 4, "out_features", type))
            || parse_int(p, v, "out_features", type, 1, MAX_WIDTH, &out)) return -1;
        if (!(v = keyval(p, 5, "bias", type)) || parse_bool(p, v, "bias", type, &bias))
            return -1;
        if (expect_fields(p, 6, type)) return -1;
        if (in != *width)
            return perr(p, "Linear: in_features %lld does not match the width %lld before it",
                        (long long)in, (long long)*width);
        if (need_tensor(p, nt, name, "weight", type, out, in, &L->weight)) return -1;
        if (bias && need_tensor(p, nt, name, "bias", type, out, -1, &L->bias)) return -1;
        *width = out;
        return 0;
    }
    if (strcmp(type, "LeakyReLU") == 0 || strcmp(type, "ELU") == 0) {
        const char *key = type[0] == 'L' ? "negative_slope" : "alpha";
        L->kind = type[0] == 'L' ? L_LEAKY_RELU : L_ELU;
        if (!(v = keyval(p, 3, key, type)) || parse_num(p, v, key, type, &L->arg)) return -1;
        return expect_fields(p, 4, type);
    }
    if (strcmp(type, "GELU") == 0) {
        L->kind = L_GELU;
        if (!(v = keyval(p, 3, "approximate", type))) return -1;
        if (strcmp(v, "none") == 0) L->flag = 0;
        else if (strcmp(v, "tanh") == 0) L->flag = 1;
        else return perr(p, "GELU: approximate must be none or tanh, got '%.60s'", v);
        return expect_fields(p, 4, type);
    }
    if (strcmp(type, "Softmax") == 0 || strcmp(type, "LogSoftmax") == 0) {
        int64_t d = 0;
        L->kind = type[0] == 'S' ? L_SOFTMAX : L_LOG_SOFTMAX;
        if (!(v = keyval(p, 3, "dim", type))) return -1;
        if (strcmp(v, "none") == 0) d = 2;
        else if (parse_int(p, v, "dim", type, -2, 2, &d)) return -1;
        if (d == 0) return perr(p, "%s: dim 0 is invalid (dims are 1-based)", type);
        L->dim = d > 0 ? (int)d - 1 : (int)d + 2;
        return expect_fields(p, 4, type);
    }
    if (strcmp(type, "Dropout") == 0) {
        double prob = 0;
        L->kind = L_DROPOUT;
        if (!(v = keyval(p, 3, "p", type)) || parse_num(p, v, "p", type, &prob)) return -1;
        if (prob < 0 || prob > 1) return perr(p, "Dropout: p must be in 0 .. 1, got %.60s", v);
        return expect_fields(p, 4, type);
    }
    if (strcmp(type, "Flatten") == 0) {
        L->kind = L_FLATTEN;
        const char *s, *e;
        if (!(s = keyval(p, 3, "start_dim", type)) || !(e = keyval(p, 4, "end_dim", type)))
            return -1;
        if (strcmp(s, "2") != 0 || strcmp(e, "-1") != 0)
            return perr(p, "Flatten: only start_dim=2 end_dim=-1 is supported, got "
                        "start_dim=%.20s end_dim=%.20s", s, e);
        return expect_fields(p, 5, type);
    }
    if (strcmp(type, "BatchNorm1d") == 0) {
        int64_t c = 0;
        int affine = 0, track = 0;
        double momentum = 0;
        L->kind = L_BATCH_NORM;
        if (!(v = keyval(p, 3, "num_features", type))
            || parse_int(p, v, "num_features", type, 1, MAX_WIDTH, &c)) return -1;
        if (!(v = keyval(p, 4, "eps", type)) || parse_num(p, v, "eps", type, &L->arg))
            return -1;
        if (L->arg < 0) return perr(p, "BatchNorm1d: eps must be >= 0, got %.60s", v);
        if (!(v = keyval(p, 5, "momentum", type))) return -1;
        if (strcmp(v, "none") != 0 && parse_num(p, v, "momentum", type, &momentum)) return -1;
        if (!(v = keyval(p, 6, "affine", type)) || parse_bool(p, v, "affine", type, &affine))
            return -1;
        if (!(v = keyval(p, 7, "track_running_stats", type))
            || parse_bool(p, v, "track_running_stats", type, &track)) return -1;
        if (expect_fields(p, 8, type)) return -1;
        if (c != *width)
            return perr(p, "BatchNorm1d: num_features %lld does not match the width %lld "
                        "before it", (long long)c, (long long)*width);
        if (affine && (need_tensor(p, nt, name, "weight", type, c, -1, &L->weight)
                       || need_tensor(p, nt, name, "bias", type, c, -1, &L->bias))) return -1;
        if (track && (need_tensor(p, nt, name, "running_mean", type, c, -1, &L->mean)
                      || need_tensor(p, nt, name, "running_var", type, c, -1, &L->var)))
            return -1;
        return 0;
    }
    return perr(p, "unknown layer type '%.60s'", type);
}

static void free_layers(layer *ls, int n)
{
    for (int i = 0; i < n; i++) {
        dm_tensor_release(ls[i].weight);
        dm_tensor_release(ls[i].bias);
        dm_tensor_release(ls[i].mean);
        dm_tensor_release(ls[i].var);
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
    size_t len = strlen(meta);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)meta[i];
        if (c == '\n') continue;
        if (c < 0x20 || c > 0x7e) {
            p.line = 1;
            for (size_t j = 0; j < i; j++) p.line += meta[j] == '\n';
            perr(&p, "character 0x%02x is not printable ASCII", c);
            return NULL;
        }
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
    int64_t width = 0;
    char *s = text;
    for (p.line = 1; *s; p.line++) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        if (ended) { perr(&p, "text after 'end'"); goto fail; }
        if (split(&p, s)) goto fail;
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
            const char *v;
            if (p.nfields != 1 || !(v = keyval(&p, 0, "in_features", "model"))
                || parse_int(&p, v, "in_features", "model", 1, MAX_WIDTH, &width)) {
                if (p.nfields != 1) perr(&p, "expected 'in_features=N'");
                goto fail;
            }
            m->in_features = width;
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
            if (parse_layer(&p, nt, L, &width)) goto fail;
        }
        if (!nl) break;
        s = nl + 1;
    }
    if (!ended) {
        p.line = 0;
        perr(&p, "the model description is truncated (no 'end' line)");
        goto fail;
    }
    m->out_features = width;
    free(text);
    return m;
fail:
    free(text);
    dm_model_free(m);
    return NULL;
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

int64_t dm_model_in_features(const dm_model *m) { return m ? m->in_features : -1; }
int64_t dm_model_out_features(const dm_model *m) { return m ? m->out_features : -1; }

/* ---- forward ------------------------------------------------------------------------ */

#define SQRT_2_OVER_PI 0.79788456080286535588   /* sqrt(2 / pi), as nn.functional.gelu */

/* x * x * x * 0.044715 + x, times sqrt(2/pi), tanh, + 1, times x, times 0.5: the same ops
   in the same order as nn.functional.gelu(x, "tanh"), so the floats agree exactly */
static dm_tensor *gelu_tanh(const dm_tensor *x)
{
    dm_tensor *t[8] = { 0 }, *y = NULL;
    if (!(t[0] = dm_mul(x, x)) || !(t[1] = dm_mul(t[0], x))
        || !(t[2] = dm_binary_scalar(DM_BIN_MUL, t[1], 0.044715f, 0))
        || !(t[3] = dm_add(t[2], x))
        || !(t[4] = dm_binary_scalar(DM_BIN_MUL, t[3], (float)SQRT_2_OVER_PI, 0))
        || !(t[5] = dm_unary(DM_UN_TANH, t[4]))
        || !(t[6] = dm_binary_scalar(DM_BIN_ADD, t[5], 1.0f, 0))
        || !(t[7] = dm_mul(t[6], x)))
        goto done;
    y = dm_binary_scalar(DM_BIN_MUL, t[7], 0.5f, 0);
done:
    for (int i = 0; i < 8; i++) dm_tensor_release(t[i]);
    return y;
}

/* x [batch x width] through one layer: a new reference, or NULL with a message */
static dm_tensor *apply(const layer *L, dm_tensor *x)
{
    switch (L->kind) {
    case L_LINEAR: return dm_linear(x, L->weight, L->bias);   /* [B x in] -> [B x out] */
    case L_RELU: return dm_unary(DM_UN_RELU, x);
    case L_SIGMOID: return dm_unary(DM_UN_SIGMOID, x);
    case L_TANH: return dm_unary(DM_UN_TANH, x);
    case L_SELU: return dm_unary(DM_UN_SELU, x);
    case L_LEAKY_RELU: return dm_leaky_relu(x, (float)L->arg);
    case L_ELU: return dm_elu(x, (float)L->arg);
    case L_GELU: return L->flag ? gelu_tanh(x) : dm_unary(DM_UN_GELU, x);
    case L_SOFTMAX: return dm_softmax(x, L->dim);
    case L_LOG_SOFTMAX: return dm_log_softmax(x, L->dim);
    case L_BATCH_NORM:
        /* eval mode: running statistics; without them, the batch's own (PyTorch's rule) */
        return dm_batch_norm(x, L->mean, L->var, L->weight, L->bias, L->mean == NULL, 0.1,
                             L->arg);
    case L_IDENTITY: case L_DROPOUT: case L_FLATTEN: break;
    }
    return dm_tensor_retain(x);
}

int dm_model_forward(const dm_model *m, const float *input, int64_t batch, float *output)
{
    if (!m || !input || !output) {
        dm_seterr("model_forward: %s is NULL", !m ? "the model" : !input ? "input" : "output");
        return -1;
    }
    if (batch < 0 || batch > INT64_MAX / m->in_features
        || batch > INT64_MAX / (m->out_features > 0 ? m->out_features : 1)) {
        dm_seterr("model_forward: batch must be in 0 .. %lld, got %lld",
                  (long long)(INT64_MAX / m->in_features), (long long)batch);
        return -1;
    }
    if (batch == 0) return 0;
    int prev = dm_set_grad_enabled(0);
    dm_tensor *x = dm_tensor_from_data(2, (int64_t[]){ batch, m->in_features }, input);
    for (int i = 0; x && i < m->n; i++) {
        dm_tensor *y = apply(&m->layers[i], x);
        dm_tensor_release(x);
        x = y;
    }
    dm_set_grad_enabled(prev);
    if (!x) return -1;
    int rc = 0;
    if (x->ndim != 2 || x->shape[0] != batch || x->shape[1] != m->out_features) {
        char s[128];
        dm_seterr("model_forward: internal error: output is %s",
                  dm_shape_str(x->ndim, x->shape, s, sizeof s));
        rc = -1;
    } else {
        dm_to_buffer(x, output);
    }
    dm_tensor_release(x);
    return rc;
}
