/* test_model.c -- plain-C inference (model.c): models described in C the way nn.save_model
 * writes them, run through dm_model_forward and compared with a double-precision reference
 * written here, one case per layer type; then hostile descriptions and damaged files, which
 * must fail with a message and never crash.  (tests/embed_spec.lua compares files saved by
 * Lua with the Lua forward.) */
#define _POSIX_C_SOURCE 200809L     /* mkdtemp */
#include "testutil.h"
#include <unistd.h>

static char tmpdir[256];

/* ---- a model described in C ---------------------------------------------------------- */

typedef struct {
    const char *type;          /* "Linear", "ReLU", ... */
    int64_t out;               /* Linear: out_features */
    int bias;                  /* Linear */
    double arg;                /* LeakyReLU slope, ELU alpha, BatchNorm1d eps, Dropout p */
    int dim;                   /* Softmax / LogSoftmax: 1-based, 0 = none */
    int tanh_approx;           /* GELU */
    int affine, track;         /* BatchNorm1d */
} tlayer;

typedef struct {
    int64_t in;
    int n;
    tlayer l[12];
} tmodel;

/* the description text and the tensors ("0.weight", ...), widths chained from m->in */
static dm_named_tensors *describe(const tmodel *m, char *text, size_t cap)
{
    dm_named_tensors *nt = dm_named_tensors_new();
    size_t len = (size_t)snprintf(text, cap, "deepmoon.model 1\nin_features=%lld\n",
                                  (long long)m->in);
    int64_t w = m->in;
    for (int i = 0; i < m->n; i++) {
        const tlayer *L = &m->l[i];
        char name[16], key[48];
        snprintf(name, sizeof name, "%d", i);
        len += (size_t)snprintf(text + len, cap - len, "layer %s %s", name, L->type);
        if (strcmp(L->type, "Linear") == 0) {
            len += (size_t)snprintf(text + len, cap - len,
                                    " in_features=%lld out_features=%lld bias=%s",
                                    (long long)w, (long long)L->out, L->bias ? "true" : "false");
            dm_tensor *wt = dm_tensor_new(2, (int64_t[]){ L->out, w });
            tu_fill(wt, -0.8f, 0.8f, 11u + (unsigned)i);
            snprintf(key, sizeof key, "%s.weight", name);
            dm_named_tensors_add(nt, key, wt);
            dm_tensor_release(wt);
            if (L->bias) {
                dm_tensor *b = dm_tensor_new(1, (int64_t[]){ L->out });
                tu_fill(b, -0.5f, 0.5f, 23u + (unsigned)i);
                snprintf(key, sizeof key, "%s.bias", name);
                dm_named_tensors_add(nt, key, b);
                dm_tensor_release(b);
            }
            w = L->out;
        } else if (strcmp(L->type, "LeakyReLU") == 0) {
            len += (size_t)snprintf(text + len, cap - len, " negative_slope=%.17g", L->arg);
        } else if (strcmp(L->type, "ELU") == 0) {
            len += (size_t)snprintf(text + len, cap - len, " alpha=%.17g", L->arg);
        } else if (strcmp(L->type, "GELU") == 0) {
            len += (size_t)snprintf(text + len, cap - len, " approximate=%s",
                                    L->tanh_approx ? "tanh" : "none");
        } else if (strcmp(L->type, "Softmax") == 0 || strcmp(L->type, "LogSoftmax") == 0) {
            if (L->dim) len += (size_t)snprintf(text + len, cap - len, " dim=%d", L->dim);
            else len += (size_t)snprintf(text + len, cap - len, " dim=none");
        } else if (strcmp(L->type, "Dropout") == 0) {
            len += (size_t)snprintf(text + len, cap - len, " p=%.17g", L->arg);
        } else if (strcmp(L->type, "Flatten") == 0) {
            len += (size_t)snprintf(text + len, cap - len, " start_dim=2 end_dim=-1");
        } else if (strcmp(L->type, "BatchNorm1d") == 0) {
            len += (size_t)snprintf(text + len, cap - len,
                                    " num_features=%lld eps=%.17g momentum=0.1 affine=%s "
                                    "track_running_stats=%s", (long long)w, L->arg,
                                    L->affine ? "true" : "false", L->track ? "true" : "false");
            const char *names[4] = { "weight", "bias", "running_mean", "running_var" };
            const float lo[4] = { 0.5f, -0.5f, -0.3f, 0.4f }, hi[4] = { 1.5f, 0.5f, 0.3f, 2.0f };
            for (int k = 0; k < 4; k++) {
                if (k < 2 ? !L->affine : !L->track) continue;
                dm_tensor *t = dm_tensor_new(1, (int64_t[]){ w });
                tu_fill(t, lo[k], hi[k], 31u + (unsigned)(i * 4 + k));
                snprintf(key, sizeof key, "%s.%s", name, names[k]);
                dm_named_tensors_add(nt, key, t);
                dm_tensor_release(t);
            }
            if (L->track) {
                dm_tensor *t = dm_tensor_scalar(7);
                snprintf(key, sizeof key, "%s.num_batches_tracked", name);
                dm_named_tensors_add(nt, key, t);
                dm_tensor_release(t);
            }
        }
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    snprintf(text + len, cap - len, "end\n");
    dm_named_tensors_set_meta(nt, "deepmoon.model", text);
    return nt;
}

/* the whole file in memory (malloc'd) */
static unsigned char *file_bytes(const dm_named_tensors *nt, size_t *len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    if (dm_safetensors_save(path, nt) != 0) { printf("save: %s\n", dm_errmsg()); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    remove(path);
    return b;
}

/* ---- the reference, in double -------------------------------------------------------- */

static double tget(const dm_named_tensors *nt, int layer, const char *what, int64_t i)
{
    char key[48];
    snprintf(key, sizeof key, "%d.%s", layer, what);
    const dm_tensor *t = dm_named_tensors_get(nt, key);
    return dm_data(t)[i];
}

/* x [B x w] (double, malloc'd) through the model; returns the output, *w updated */
static double *reference(const tmodel *m, const dm_named_tensors *nt, const float *input,
                         int64_t B, int64_t *wout)
{
    int64_t w = m->in;
    double *x = malloc((size_t)(B * w) * sizeof *x);
    for (int64_t i = 0; i < B * w; i++) x[i] = input[i];
    for (int li = 0; li < m->n; li++) {
        const tlayer *L = &m->l[li];
        const char *t = L->type;
        if (strcmp(t, "Linear") == 0) {          // y [B x out] = x [B x w] @ W^T [w x out] + b
            double *y = malloc((size_t)(B * L->out) * sizeof *y);
            for (int64_t b = 0; b < B; b++)
                for (int64_t o = 0; o < L->out; o++) {
                    double s = L->bias ? tget(nt, li, "bias", o) : 0;
                    for (int64_t k = 0; k < w; k++)
                        s += x[b * w + k] * tget(nt, li, "weight", o * w + k);
                    y[b * L->out + o] = s;
                }
            free(x);
            x = y;
            w = L->out;
        } else if (strcmp(t, "Softmax") == 0 || strcmp(t, "LogSoftmax") == 0) {
            int across_batch = L->dim == 1 || L->dim == -2;
            int64_t groups = across_batch ? w : B, len = across_batch ? B : w;
            for (int64_t g = 0; g < groups; g++) {
                #define AT(k) x[across_batch ? (k) * w + g : g * w + (k)]
                double mx = -INFINITY, s = 0;
                for (int64_t k = 0; k < len; k++) if (AT(k) > mx) mx = AT(k);
                for (int64_t k = 0; k < len; k++) s += exp(AT(k) - mx);
                for (int64_t k = 0; k < len; k++)
                    AT(k) = t[0] == 'S' ? exp(AT(k) - mx) / s : AT(k) - mx - log(s);
                #undef AT
            }
        } else if (strcmp(t, "BatchNorm1d") == 0) {
            for (int64_t c = 0; c < w; c++) {
                double mean = 0, var = 0;
                if (L->track) {
                    mean = tget(nt, li, "running_mean", c);
                    var = tget(nt, li, "running_var", c);
                } else {                         // batch statistics, biased variance
                    for (int64_t b = 0; b < B; b++) mean += x[b * w + c];
                    mean /= (double)B;
                    for (int64_t b = 0; b < B; b++) var += pow(x[b * w + c] - mean, 2);
                    var /= (double)B;
                }
                double g = L->affine ? tget(nt, li, "weight", c) : 1;
                double be = L->affine ? tget(nt, li, "bias", c) : 0;
                for (int64_t b = 0; b < B; b++)
                    x[b * w + c] = (x[b * w + c] - mean) / sqrt(var + L->arg) * g + be;
            }
        } else {
            static const char *const known[] = { "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU",
                "SELU", "GELU", "Identity", "Dropout", "Flatten" };
            int found = 0;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                found |= strcmp(t, known[k]) == 0;
            if (!found) {                        // a new layer kind needs its reference here
                printf("  no reference for the layer kind '%s'\n", t);
                free(x);
                return NULL;
            }
            for (int64_t i = 0; i < B * w; i++) {
                double v = x[i];
                if (strcmp(t, "ReLU") == 0) v = v > 0 ? v : 0;
                else if (strcmp(t, "Sigmoid") == 0) v = 1 / (1 + exp(-v));
                else if (strcmp(t, "Tanh") == 0) v = tanh(v);
                else if (strcmp(t, "LeakyReLU") == 0) v = v >= 0 ? v : L->arg * v;
                else if (strcmp(t, "ELU") == 0) v = v > 0 ? v : L->arg * (exp(v) - 1);
                else if (strcmp(t, "SELU") == 0)
                    v = 1.0507009873554804934193349852946 *
                        (v > 0 ? v : 1.6732632423543772848170429916717 * (exp(v) - 1));
                else if (strcmp(t, "GELU") == 0)
                    v = L->tanh_approx
                        ? 0.5 * v * (1 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)))
                        : 0.5 * v * (1 + erf(v / sqrt(2.0)));
                x[i] = v;                        // Identity, Dropout, Flatten: unchanged
            }
        }
    }
    *wout = w;
    return x;
}

/* build the model, load it from a file, run it on B rows, compare with the reference */
static void check_model(const char *what, const tmodel *m, int64_t B)
{
    char text[4096], msg[200];
    dm_named_tensors *nt = describe(m, text, sizeof text);
    size_t len = 0;
    unsigned char *bytes = file_bytes(nt, &len);
    dm_model *mod = bytes ? dm_model_load_buffer(bytes, len, "m.safetensors") : NULL;
    snprintf(msg, sizeof msg, "%s: loads (%s)", what, mod ? "ok" : dm_errmsg());
    CHECK(mod != NULL, msg);
    if (mod) {
        float *x = malloc((size_t)(B * m->in) * sizeof *x);
        tu_fill_buf(x, B * m->in, -2.5f, 2.5f, 5u);
        int64_t w;
        double *want = reference(m, nt, x, B, &w);
        snprintf(msg, sizeof msg, "%s: has a reference", what);
        CHECK(want != NULL, msg);
        if (!want) {
            free(x);
            goto done;
        }
        snprintf(msg, sizeof msg, "%s: in_features", what);
        CHECK(dm_model_in_features(mod) == m->in, msg);
        snprintf(msg, sizeof msg, "%s: out_features", what);
        CHECK(dm_model_out_features(mod) == w, msg);
        float *y = malloc((size_t)(B * w) * sizeof *y);
        int rc = dm_model_forward(mod, x, B, y);
        snprintf(msg, sizeof msg, "%s: forward runs (%s)", what, rc ? dm_errmsg() : "ok");
        CHECK(rc == 0, msg);
        int close = 1;
        for (int64_t i = 0; rc == 0 && i < B * w; i++) {
            if (!tu_close(y[i], want[i], 2e-5)) {
                printf("  %s: value %lld is %.9g, reference %.9g\n", what, (long long)i,
                       y[i], want[i]);
                close = 0;
                break;
            }
        }
        snprintf(msg, sizeof msg, "%s: matches the reference", what);
        CHECK(close, msg);
        free(x);
        free(y);
        free(want);
    }
done:
    dm_model_free(mod);
    free(bytes);
    dm_named_tensors_free(nt);
}

static void test_layers(void)
{
    check_model("Linear", &(tmodel){ 3, 1, { { "Linear", 4, 1, 0, 0, 0, 0, 0 } } }, 5);
    check_model("Linear without bias",
                &(tmodel){ 3, 1, { { .type = "Linear", .out = 2 } } }, 4);
    const char *simple[] = { "ReLU", "Sigmoid", "Tanh", "SELU", "Identity", "Flatten" };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        tmodel m = { 3, 2, { { .type = "Linear", .out = 5, .bias = 1 }, { .type = simple[i] } } };
        check_model(simple[i], &m, 6);
    }
    check_model("LeakyReLU", &(tmodel){ 3, 2, { { .type = "Linear", .out = 5, .bias = 1 },
                                                 { .type = "LeakyReLU", .arg = 0.2 } } }, 6);
    check_model("ELU", &(tmodel){ 3, 2, { { .type = "Linear", .out = 5, .bias = 1 },
                                           { .type = "ELU", .arg = 0.7 } } }, 6);
    check_model("GELU", &(tmodel){ 3, 2, { { .type = "Linear", .out = 5, .bias = 1 },
                                            { .type = "GELU" } } }, 6);
    check_model("GELU tanh", &(tmodel){ 3, 2, { { .type = "Linear", .out = 5, .bias = 1 },
                                                 { .type = "GELU", .tanh_approx = 1 } } }, 6);
    check_model("Dropout", &(tmodel){ 3, 2, { { .type = "Linear", .out = 5, .bias = 1 },
                                               { .type = "Dropout", .arg = 0.5 } } }, 6);
    const int dims[] = { 2, -1, 0, 1, -2 };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "Softmax dim=%d", dims[i]);
        check_model(what, &(tmodel){ 3, 2, { { .type = "Linear", .out = 4, .bias = 1 },
                                              { .type = "Softmax", .dim = dims[i] } } }, 5);
        snprintf(what, sizeof what, "LogSoftmax dim=%d", dims[i]);
        check_model(what, &(tmodel){ 3, 2, { { .type = "Linear", .out = 4, .bias = 1 },
                                              { .type = "LogSoftmax", .dim = dims[i] } } }, 5);
    }
    for (int affine = 0; affine < 2; affine++)
        for (int track = 0; track < 2; track++) {
            char what[64];
            snprintf(what, sizeof what, "BatchNorm1d affine=%d track=%d", affine, track);
            check_model(what, &(tmodel){ 3, 2, { { .type = "Linear", .out = 4, .bias = 1 },
                                                  { .type = "BatchNorm1d", .arg = 1e-3,
                                                    .affine = affine, .track = track } } }, 7);
        }
    check_model("BatchNorm1d first", &(tmodel){ 4, 1, { { .type = "BatchNorm1d", .arg = 1e-5,
                                                          .affine = 1, .track = 1 } } }, 3);
    check_model("activations only", &(tmodel){ 4, 2, { { .type = "Tanh" },
                                                        { .type = "Softmax", .dim = 2 } } }, 3);
    check_model("empty chain", &(tmodel){ 4, 0, { { 0 } } }, 3);
    check_model("a deep chain", &(tmodel){ 6, 10, {
        { .type = "Linear", .out = 16, .bias = 1 }, { .type = "BatchNorm1d", .arg = 1e-5,
          .affine = 1, .track = 1 }, { .type = "ReLU" }, { .type = "Dropout", .arg = 0.1 },
        { .type = "Linear", .out = 8, .bias = 0 }, { .type = "GELU", .tanh_approx = 1 },
        { .type = "Linear", .out = 8, .bias = 1 }, { .type = "ELU", .arg = 1 },
        { .type = "Linear", .out = 3, .bias = 1 }, { .type = "LogSoftmax", .dim = 2 } } }, 9);
    check_model("batch of one", &(tmodel){ 2, 2, { { .type = "Linear", .out = 3, .bias = 1 },
                                                   { .type = "Sigmoid" } } }, 1);
}

/* ---- the layer registry ------------------------------------------------------------------ */

static int same_values(const dm_opt_value *a, const dm_opt_value *b)
{
    for (int j = 0; j < DM_LAYER_MAX_OPTS; j++)
        if (a[j].none != b[j].none || a[j].v != b[j].v) return 0;
    return 1;
}

/* what the rows must be for model.c and serialize.lua to work from them alone */
static void test_registry_rows(void)
{
    int n = 0;
    const dm_layer_kind *k = dm_layer_kinds(&n);
    CHECK(k != NULL && n >= 14, "the registry has its rows");
    int ok = 1;
    for (int i = 0; i < n; i++) {
        const dm_layer_kind *r = &k[i];
        if (!r->name || !r->shape || !r->forward || dm_layer_kind_find(r->name) != r) {
            printf("  row %d: name, shape rule or forward missing, or the name repeats\n", i);
            ok = 0;
            continue;
        }
        for (int j = 0; j < DM_LAYER_MAX_OPTS && r->opt[j].name; j++) {
            const dm_layer_opt *o = &r->opt[j];
            for (int j2 = 0; j2 < j; j2++)
                if (strcmp(r->opt[j2].name, o->name) == 0) {
                    printf("  %s: option %s twice\n", r->name, o->name);
                    ok = 0;
                }
            if (o->type == DM_OPT_BOOL && (o->none_ok || !o->def)) {
                printf("  %s: boolean %s has no default or takes none\n", r->name, o->name);
                ok = 0;
            }
            if (!o->def && o->type != DM_OPT_INT) {
                printf("  %s: only integer options may be required (%s)\n", r->name, o->name);
                ok = 0;
            }
            if (o->type == DM_OPT_CHOICE && (!o->choices || !*o->choices)) {
                printf("  %s: choice %s has no words\n", r->name, o->name);
                ok = 0;
            }
        }
        for (int j = 0; j < DM_LAYER_MAX_TENSORS && r->tensor[j].name; j++) {
            const char *when = r->tensor[j].when;
            int found = when == NULL;
            for (int j2 = 0; when && j2 < DM_LAYER_MAX_OPTS && r->opt[j2].name; j2++)
                found |= strcmp(r->opt[j2].name, when) == 0 && r->opt[j2].type == DM_OPT_BOOL;
            for (int j2 = 0; j2 < j; j2++) found &= strcmp(r->tensor[j2].name,
                                                           r->tensor[j].name) != 0;
            if (!found) {
                printf("  %s: tensor %s repeats or exists under no boolean option\n", r->name,
                       r->tensor[j].name);
                ok = 0;
            }
        }
    }
    CHECK(ok, "every row is well formed");
    CHECK(dm_layer_kind_find("Conv7d") == NULL && dm_layer_kind_find(NULL) == NULL,
          "an unknown kind is not found");
}

/* "KIND" and its required integer options (widths) = w; all: every option, defaults as
   their text */
static void spec_of(const dm_layer_kind *k, int all, int64_t w, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "%s", k->name);
    for (int j = 0; j < DM_LAYER_MAX_OPTS && k->opt[j].name; j++) {
        const dm_layer_opt *o = &k->opt[j];
        if (o->def && all)
            len += (size_t)snprintf(buf + len, cap - len, " %s=%s", o->name, o->def);
        else if (!o->def)
            len += (size_t)snprintf(buf + len, cap - len, " %s=%lld", o->name, (long long)w);
    }
}

/* the test's own record of a layer, from the values the registry parsed */
static int to_tlayer(const dm_layer_kind *k, const dm_opt_value *o, tlayer *L)
{
    memset(L, 0, sizeof *L);
    L->type = k->name;
    const char *t = k->name;
    if (strcmp(t, "Linear") == 0) { L->out = (int64_t)o[1].v; L->bias = o[2].v != 0; }
    else if (strcmp(t, "LeakyReLU") == 0 || strcmp(t, "ELU") == 0 || strcmp(t, "Dropout") == 0)
        L->arg = o[0].v;
    else if (strcmp(t, "GELU") == 0) L->tanh_approx = o[0].v != 0;
    else if (strcmp(t, "Softmax") == 0 || strcmp(t, "LogSoftmax") == 0)
        L->dim = o[0].none ? 0 : (int)o[0].v;
    else if (strcmp(t, "BatchNorm1d") == 0) {
        L->arg = o[1].v;
        L->affine = o[3].v != 0;
        L->track = o[4].v != 0;
    }
    return 0;
}

/* every row: a description written from the row alone (its defaults left out, then all
   written out), tensors of the shapes its rule gives, loaded from a file, run, and compared
   with the double reference above (a new row without one fails here) */
static void test_every_row(void)
{
    int n;
    const dm_layer_kind *k = dm_layer_kinds(&n);
    for (int i = 0; i < n; i++) {
        char spec[512], full[512], text[1200], msg[200];
        const char *name = k[i].name;
        spec_of(&k[i], 0, 5, spec, sizeof spec);
        spec_of(&k[i], 1, 5, full, sizeof full);
        const dm_layer_kind *kind = NULL, *kind2 = NULL;
        dm_opt_value opt[DM_LAYER_MAX_OPTS], opt2[DM_LAYER_MAX_OPTS];
        dm_layer_shape in = { 1, { 5 } }, out, t[DM_LAYER_MAX_TENSORS];
        dm_layer_shape in2 = { 1, { 5 } }, out2, t2[DM_LAYER_MAX_TENSORS];
        int rc = dm_layer_parse(spec, &kind, opt, &in, &out, t);
        CHECKF(rc == 0 && kind == &k[i], "%s: '%s' parses (%s)", name, spec,
               rc ? dm_errmsg() : "ok");
        rc |= dm_layer_parse(full, &kind2, opt2, &in2, &out2, t2);
        CHECKF(rc == 0 && same_values(opt, opt2) && out.ndim == out2.ndim,
               "%s: the defaults are what '%s' writes", name, full);
        if (rc) continue;

        dm_named_tensors *nt = dm_named_tensors_new();
        for (int j = 0; j < DM_LAYER_MAX_TENSORS && k[i].tensor[j].name; j++) {
            if (t[j].ndim < 0) continue;
            char key[64];
            snprintf(key, sizeof key, "0.%s", k[i].tensor[j].name);
            dm_tensor *v = dm_tensor_new(t[j].ndim, t[j].d);
            tu_fill(v, 0.5f, 1.5f, 40u + (unsigned)(i * 8 + j));   /* variances stay > 0 */
            dm_named_tensors_add(nt, key, v);
            dm_tensor_release(v);
        }
        snprintf(text, sizeof text, "deepmoon.model 1\nin_features=5\nlayer 0 %s\nend\n", spec);
        dm_named_tensors_set_meta(nt, "deepmoon.model", text);
        size_t len = 0;
        unsigned char *bytes = file_bytes(nt, &len);
        dm_model *m = bytes ? dm_model_load_buffer(bytes, len, name) : NULL;
        CHECKF(m != NULL, "%s: the file loads (%s)", name, m ? "ok" : dm_errmsg());
        if (m) {
            const dm_layer_kind *lk = NULL;
            const dm_opt_value *lo = NULL;
            const char *lname = dm_model_layer(m, 0, &lk, &lo);
            int64_t shape[DM_MAX_DIMS];
            CHECKF(dm_model_num_layers(m) == 1 && lname && strcmp(lname, "0") == 0
                   && lk == &k[i] && same_values(lo, opt), "%s: the loaded layer", name);
            CHECKF(dm_model_input_shape(m, shape) == 1 && shape[0] == 5,
                   "%s: the input shape", name);
            int od = dm_model_output_shape(m, shape);
            int same = od == out.ndim;
            for (int d = 0; same && d < od; d++) same = shape[d] == out.d[d];
            CHECKF(same, "%s: the output shape is the shape rule's", name);
            tmodel tm = { 5, 1, { { 0 } } };
            to_tlayer(&k[i], lo, &tm.l[0]);
            const int64_t B = 4;
            float x[4 * 5], y[4 * 64];
            tu_fill_buf(x, B * 5, -2.0f, 2.0f, 7u + (unsigned)i);
            int64_t w = 0;
            double *want = reference(&tm, nt, x, B, &w);
            snprintf(msg, sizeof msg, "%s: has a reference in this test", name);
            CHECK(want != NULL, msg);
            if (want && w == dm_model_out_features(m) && w <= 64) {
                rc = dm_model_forward(m, x, B, y);
                int close = rc == 0;
                for (int64_t j = 0; close && j < B * w; j++) close = tu_close(y[j], want[j], 2e-5);
                CHECKF(close, "%s: runs as the reference (%s)", name, rc ? dm_errmsg() : "ok");
            } else if (want) {
                CHECKF(0, "%s: the reference gives %lld values a row", name, (long long)w);
            }
            free(want);
        }
        dm_model_free(m);
        free(bytes);
        dm_named_tensors_free(nt);
    }
}

static void test_layer_parse(void)
{
    const dm_layer_kind *k;
    dm_opt_value opt[DM_LAYER_MAX_OPTS];
    dm_layer_shape in = { .ndim = -1 }, out, t[DM_LAYER_MAX_TENSORS];
    int rc = dm_layer_parse("Linear in_features=3 out_features=4", &k, opt, &in, &out, t);
    CHECK(rc == 0 && strcmp(k->name, "Linear") == 0 && in.ndim == 1 && in.d[0] == 3
          && out.ndim == 1 && out.d[0] == 4 && t[0].ndim == 2 && t[0].d[0] == 4
          && t[0].d[1] == 3 && t[1].ndim == 1 && t[1].d[0] == 4 && opt[2].v == 1,
          "an unknown input becomes the input a Linear takes");
    in.ndim = -1;
    rc = dm_layer_parse("ReLU", &k, opt, &in, &out, t);
    CHECK(rc == 0 && in.ndim == -1 && out.ndim == -1, "a ReLU leaves an unknown input unknown");
    in = (dm_layer_shape){ 1, { 4 } };
    rc = dm_layer_parse("Linear in_features=4 out_features=2 bias=false", &k, opt, &in, &out, t);
    CHECK(rc == 0 && t[0].ndim == 2 && t[1].ndim == -1, "no bias: no bias tensor");
    in = (dm_layer_shape){ 1, { 4 } };
    rc = dm_layer_parse("BatchNorm1d num_features=4 affine=false", &k, opt, &in, &out, t);
    CHECK(rc == 0 && opt[1].v == 1e-5 && opt[2].v == 0.1 && opt[4].v == 1 && t[0].ndim == -1
          && t[1].ndim == -1 && t[2].ndim == 1 && t[4].ndim == 0,
          "options left out take their defaults; tensors follow affine");
    in = (dm_layer_shape){ 1, { 4 } };
    rc = dm_layer_parse("BatchNorm1d num_features=4 momentum=none", &k, opt, &in, &out, t);
    CHECK(rc == 0 && opt[2].none == 1, "momentum=none");
    in = (dm_layer_shape){ 1, { 2 } };
    CHECK_ERR(dm_layer_parse("Linear in_features=3 out_features=4", &k, opt, &in, &out, t),
              "Linear: in_features 3 does not match the width 2 before it");
    CHECK_ERR(dm_layer_parse("Conv7d kernel_size=3", &k, opt, &in, &out, t),
              "unknown layer type 'Conv7d'");
    CHECK_ERR(dm_layer_parse("ReLU\n", &k, opt, &in, &out, t),
              "character 0x0a is not printable ASCII");
    CHECK_ERR(dm_layer_parse("", &k, opt, &in, &out, t), "empty line");
    CHECK_ERR(dm_layer_parse("GELU approximate=erf", &k, opt, &in, &out, t),
              "GELU: approximate must be none or tanh, got 'erf'");
    CHECK_ERR(dm_layer_parse("ELU alpha=x", &k, opt, &in, &out, t),
              "ELU: alpha must be a number, got 'x'");
    in = (dm_layer_shape){ 1, { 2 } };
    CHECK_ERR(dm_layer_parse("Softmax dim=-3", &k, opt, &in, &out, t),
              "Softmax: dim must be in -2 .. 2, got -3");
    CHECK_ERR(dm_layer_parse(NULL, &k, opt, &in, &out, t), "layer_parse: an argument is NULL");
    int64_t shape[DM_MAX_DIMS];
    CHECK(dm_model_input_shape(NULL, shape) == -1 && dm_model_output_shape(NULL, shape) == -1
          && dm_model_num_layers(NULL) == -1 && dm_model_layer(NULL, 0, NULL, NULL) == NULL,
          "the accessors take NULL");
}

/* a description naming a layer far larger than the file's tensors fails before anything of
   that size exists (the file is a few hundred bytes) */
static void test_large_layer(void)
{
    static const struct { const char *meta, *msg; } cases[] = {
        { "deepmoon.model 1\nin_features=1073741824\nlayer 0 BatchNorm1d "
          "num_features=1073741824\nend\n",
          "load_model: big: line 3: BatchNorm1d: tensor '0.weight' is [2], expected "
          "[1073741824]" },
        { "deepmoon.model 1\nin_features=2\nlayer 0 Linear in_features=2 "
          "out_features=1073741824\nend\n",
          "load_model: big: line 3: Linear: tensor '0.weight' is [3 x 2], expected "
          "[1073741824 x 2]" },
        { "deepmoon.model 1\nin_features=1073741824\nlayer 1 BatchNorm1d "
          "num_features=1073741824 affine=false\nend\n",
          "load_model: big: line 3: BatchNorm1d: tensor '1.running_mean' is missing" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dm_named_tensors *nt = dm_named_tensors_new();
        dm_tensor *w = dm_tensor_full(2, (int64_t[]){ 3, 2 }, 0.5f);
        dm_tensor *b = dm_tensor_full(1, (int64_t[]){ 2 }, 0.1f);
        dm_named_tensors_add(nt, strstr(cases[i].meta, "Linear") ? "0.weight" : "0.bias", w);
        if (!strstr(cases[i].meta, "Linear")) dm_named_tensors_add(nt, "0.weight", b);
        dm_tensor_release(w);
        dm_tensor_release(b);
        dm_named_tensors_set_meta(nt, "deepmoon.model", cases[i].meta);
        size_t len = 0;
        unsigned char *bytes = file_bytes(nt, &len);
        dm_named_tensors_free(nt);
        int64_t before = dm_live_bytes();
        dm_model *m = dm_model_load_buffer(bytes, len, "big");
        CHECKF(m == NULL && strcmp(dm_errmsg(), cases[i].msg) == 0,
               "a large layer in a %zu-byte file: %s", len, m ? "loaded" : dm_errmsg());
        CHECK(dm_live_bytes() == before && len < 400, "a large layer: nothing allocated");
        dm_model_free(m);
        free(bytes);
    }
}

/* ---- a file written before the layer registry ----------------------------------------- */

/* "a,b;c,d" -> floats; returns the count (at most cap) and the number of rows */
static int64_t parse_rows(const char *s, float *out, int64_t cap, int64_t *rows)
{
    int64_t n = 0;
    *rows = s && *s ? 1 : 0;
    while (s && *s && n < cap) {
        char *end;
        out[n++] = strtof(s, &end);
        if (*end == ';') ++*rows;
        s = *end ? end + 1 : end;
    }
    return n;
}

static void test_saved_v1(void)
{
    const char *path = "tests/fixtures/st_saved_model_v1.safetensors";
    dm_named_tensors *nt = dm_safetensors_load(path);
    CHECK(nt != NULL, "the v1 fixture reads as safetensors");
    if (!nt) return;
    float x[64], want[64], y[64];
    int64_t bx, by;
    int64_t nx = parse_rows(dm_named_tensors_get_meta(nt, "test.x"), x, 64, &bx);
    int64_t ny = parse_rows(dm_named_tensors_get_meta(nt, "test.y"), want, 64, &by);
    dm_named_tensors_free(nt);
    dm_model *m = dm_model_load(path);
    CHECKF(m != NULL, "the v1 fixture loads (%s)", m ? "ok" : dm_errmsg());
    if (!m) return;
    CHECK(bx == 5 && by == 5 && dm_model_in_features(m) * bx == nx
          && dm_model_out_features(m) * by == ny, "the v1 fixture: shapes");
    int rc = dm_model_forward(m, x, bx, y);
    CHECKF(rc == 0, "the v1 fixture runs (%s)", rc ? dm_errmsg() : "ok");
    int close = rc == 0;
    for (int64_t i = 0; close && i < ny; i++) close = tu_close(y[i], want[i], 1e-6);
    CHECK(close, "the v1 fixture gives the output Lua saved with it");
    dm_model_free(m);
}

/* ---- from a file, and the forward's own errors --------------------------------------- */

static void test_file_and_forward(void)
{
    char text[2048], path[300];
    tmodel m = { 2, 2, { { .type = "Linear", .out = 3, .bias = 1 }, { .type = "Tanh" } } };
    dm_named_tensors *nt = describe(&m, text, sizeof text);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    CHECK(dm_safetensors_save(path, nt) == 0, "model file written");
    dm_model *mod = dm_model_load(path);
    CHECK(mod != NULL, "dm_model_load reads the file");
    float x[4] = { 0.5f, -1, 2, 0.25f }, y[6] = { 0 };
    if (mod) {
        CHECK(dm_model_forward(mod, x, 2, y) == 0, "forward from a file");
        double want0 = tanh(tget(nt, 0, "bias", 0) + 0.5 * tget(nt, 0, "weight", 0)
                            - 1.0 * tget(nt, 0, "weight", 1));
        CHECK_NEAR(y[0], want0, 1e-6, "first output by hand");
        float before = y[5];
        CHECK(dm_model_forward(mod, x, 0, y) == 0 && y[5] == before,
              "batch 0 writes nothing");
        CHECK_ERR(dm_model_forward(mod, x, -1, y),
                  "model_forward: batch must be in 0 .. 4611686018427387903, got -1");
        CHECK_ERR(dm_model_forward(mod, NULL, 1, y), "model_forward: input is NULL");
        CHECK_ERR(dm_model_forward(mod, x, 1, NULL), "model_forward: output is NULL");
        CHECK_ERR(dm_model_forward(NULL, x, 1, y), "model_forward: the model is NULL");
    }
    dm_model_free(mod);
    dm_model_free(NULL);
    CHECK(dm_model_in_features(NULL) == -1 && dm_model_out_features(NULL) == -1,
          "features of NULL are -1");
    remove(path);
    dm_named_tensors_free(nt);

    snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
    CHECK(dm_model_load(path) == NULL && strncmp(dm_errmsg(), "load: ", 6) == 0,
          "a missing file fails with the loader's message");
    CHECK_ERR(dm_model_load(NULL), "load_model: path is NULL");

    /* batch statistics need more than one row */
    tmodel bn = { 2, 1, { { .type = "BatchNorm1d", .arg = 1e-5 } } };
    nt = describe(&bn, text, sizeof text);
    size_t len;
    unsigned char *b = file_bytes(nt, &len);
    mod = dm_model_load_buffer(b, len, "bn");
    CHECK(mod != NULL, "BatchNorm1d without running statistics loads");
    CHECK(mod && dm_model_forward(mod, x, 1, y) == -1 && strlen(dm_errmsg()) > 0,
          "BatchNorm1d without running statistics refuses one row");
    dm_model_free(mod);
    free(b);
    dm_named_tensors_free(nt);
}

/* ---- hostile descriptions ------------------------------------------------------------- */

/* tensors for "0" Linear 2 -> 3 with bias, and meta as the description (NULL: none) */
static dm_model *with_meta(const char *meta)
{
    dm_named_tensors *nt = dm_named_tensors_new();
    dm_tensor *w = dm_tensor_full(2, (int64_t[]){ 3, 2 }, 0.5f);
    dm_tensor *b = dm_tensor_full(1, (int64_t[]){ 3 }, 0.1f);
    dm_named_tensors_add(nt, "0.weight", w);
    dm_named_tensors_add(nt, "0.bias", b);
    dm_tensor_release(w);
    dm_tensor_release(b);
    if (meta) dm_named_tensors_set_meta(nt, "deepmoon.model", meta);
    size_t len = 0;
    unsigned char *bytes = file_bytes(nt, &len);
    dm_named_tensors_free(nt);
    dm_model *m = bytes ? dm_model_load_buffer(bytes, len, "m.safetensors") : NULL;
    free(bytes);
    return m;
}

#define HEAD "deepmoon.model 1\nin_features=2\n"
#define LIN "layer 0 Linear in_features=2 out_features=3 bias=true\n"

static void test_hostile(void)
{
    dm_model *ok = with_meta(HEAD LIN "layer 1 ReLU\nend\n");
    CHECK(ok != NULL, "the well-formed base case loads");
    dm_model_free(ok);
    ok = with_meta(HEAD LIN "end");
    CHECK(ok != NULL, "the last newline is optional");
    dm_model_free(ok);

    static const struct { const char *meta, *msg; } cases[] = {
        { NULL, "load_model: m.safetensors: no 'deepmoon.model' metadata (write the file "
                "with nn.save_model)" },
        { "", "load_model: m.safetensors: the model description is truncated (no 'end' "
              "line)" },
        { "\n", "load_model: m.safetensors: line 1: empty line" },
        { "deepmoon.model 2\nin_features=2\nend\n",
          "load_model: m.safetensors: line 1: format version '2' is not supported (this "
          "build reads 1)" },
        { "deepmoon.modle 1\n", "load_model: m.safetensors: line 1: expected 'deepmoon.model 1'" },
        { HEAD LIN, "load_model: m.safetensors: the model description is truncated (no 'end' "
                    "line)" },
        { HEAD "end\nend\n", "load_model: m.safetensors: line 4: text after 'end'" },
        { HEAD "layer 0 Conv2d\nend\n",
          "load_model: m.safetensors: line 3: unknown layer type 'Conv2d'" },
        { HEAD "layer 0 Linear in_features=3 out_features=3 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: in_features 3 does not match the width "
          "2 before it" },
        { HEAD "layer 0 Linear in_features=2 out_features=4 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: tensor '0.weight' is [3 x 2], expected "
          "[4 x 2]" },
        { HEAD "layer 1 Linear in_features=2 out_features=3 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: tensor '1.weight' is missing" },
        { HEAD "layer - Linear in_features=2 out_features=3 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: a layer with tensors needs a name" },
        { "deepmoon.model 1\nin_features=99999999999999999999999\nend\n",
          "load_model: m.safetensors: line 2: model: in_features must be in 1 .. 1073741824, "
          "got 99999999999999999999999" },
        { "deepmoon.model 1\nin_features=0\nend\n",
          "load_model: m.safetensors: line 2: model: in_features must be in 1 .. 1073741824, "
          "got 0" },
        { "deepmoon.model 1\nin_features=-3\nend\n",
          "load_model: m.safetensors: line 2: model: in_features must be in 1 .. 1073741824, "
          "got -3" },
        { "deepmoon.model 1\nin_features=0x10\nend\n",
          "load_model: m.safetensors: line 2: model: in_features must be an integer, got "
          "'0x10'" },
        { "deepmoon.model 1\nin_features= 2\nend\n",
          "load_model: m.safetensors: line 2: expected 'in_features=N'" },
        { HEAD LIN "layer 1 LeakyReLU negative_slope=nan\nend\n",
          "load_model: m.safetensors: line 4: LeakyReLU: negative_slope must be a number, got "
          "'nan'" },
        { HEAD LIN "layer 1 ELU alpha=1e999\nend\n",
          "load_model: m.safetensors: line 4: ELU: alpha must be finite, got 1e999" },
        { HEAD LIN "layer 1 ELU alpha=1.2.3\nend\n",
          "load_model: m.safetensors: line 4: ELU: alpha must be a number, got '1.2.3'" },
        { HEAD "layer 0 Linear in_features=2\nend\n",
          "load_model: m.safetensors: line 3: Linear: missing out_features" },
        { HEAD "layer 0 Linear in_features=2 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: expected out_features=..., got 'bias=true'" },
        { HEAD LIN "layer 1 ReLU inplace=true\nend\n",
          "load_model: m.safetensors: line 4: ReLU: unexpected field 'inplace=true'" },
        { HEAD "layer 0 Linear out_features=3 in_features=2 bias=true\nend\n",
          "load_model: m.safetensors: line 3: Linear: expected in_features=..., got "
          "'out_features=3'" },
        { HEAD "layer 0 Linear in_features=2 out_features=3 bias=yes\nend\n",
          "load_model: m.safetensors: line 3: Linear: bias must be true or false, got 'yes'" },
        { HEAD LIN "layer 1 Softmax dim=3\nend\n",
          "load_model: m.safetensors: line 4: Softmax: dim must be in -2 .. 2, got 3" },
        { HEAD LIN "layer 1 LogSoftmax dim=0\nend\n",
          "load_model: m.safetensors: line 4: LogSoftmax: dim 0 is invalid (dims are 1-based)" },
        { HEAD LIN "layer 1 Dropout p=2\nend\n",
          "load_model: m.safetensors: line 4: Dropout: p must be in 0 .. 1, got 2" },
        { HEAD LIN "layer 1 Flatten start_dim=1 end_dim=-1\nend\n",
          "load_model: m.safetensors: line 4: Flatten: only start_dim=2 end_dim=-1 is "
          "supported, got start_dim=1 end_dim=-1" },
        { HEAD LIN "layer 1 GELU approximate=erf\nend\n",
          "load_model: m.safetensors: line 4: GELU: approximate must be none or tanh, got "
          "'erf'" },
        { HEAD LIN "layer 1 BatchNorm1d num_features=3 eps=-1 momentum=0.1 affine=false "
                   "track_running_stats=false\nend\n",
          "load_model: m.safetensors: line 4: BatchNorm1d: eps must be >= 0, got -1" },
        { HEAD LIN "layer 1 BatchNorm1d num_features=2 eps=1e-05 momentum=none affine=false "
                   "track_running_stats=false\nend\n",
          "load_model: m.safetensors: line 4: BatchNorm1d: num_features 2 does not match the "
          "width 3 before it" },
        { HEAD LIN "layer 1 BatchNorm1d num_features=3 eps=1e-05 momentum=0.1 affine=true "
                   "track_running_stats=false\nend\n",
          "load_model: m.safetensors: line 4: BatchNorm1d: tensor '1.weight' is missing" },
        { HEAD LIN "layer 1\tReLU\nend\n",
          "load_model: m.safetensors: line 4: character 0x09 is not printable ASCII" },
        { HEAD LIN "layer 1 ReLU\r\nend\n",
          "load_model: m.safetensors: line 4: character 0x0d is not printable ASCII" },
        { HEAD LIN "layer 1  ReLU\nend\n", "load_model: m.safetensors: line 4: extra space" },
        { HEAD LIN "layer 1 ReLU \nend\n", "load_model: m.safetensors: line 4: extra space" },
        { HEAD LIN "\nend\n", "load_model: m.safetensors: line 4: empty line" },
        { HEAD LIN "layer ../x ReLU\nend\n",
          "load_model: m.safetensors: line 4: layer name '../x' has a character other than "
          "A-Z a-z 0-9 _ ." },
        { HEAD LIN "layer a..b ReLU\nend\n",
          "load_model: m.safetensors: line 4: layer name 'a..b' has an empty part" },
        { HEAD LIN "relu\nend\n",
          "load_model: m.safetensors: line 4: expected 'layer NAME TYPE ...' or 'end', got "
          "'relu'" },
        { HEAD LIN "layer 1 ReLU a b c d e f g h i j k l m n\nend\n",
          "load_model: m.safetensors: line 4: too many fields" },
        { HEAD "layer 0 Linear in_features=2 out_features=3 bias=true in_features=2\nend\n",
          "load_model: m.safetensors: line 3: Linear: unexpected field 'in_features=2'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dm_model *m = with_meta(cases[i].meta);
        if (m == NULL && strcmp(dm_errmsg(), cases[i].msg) == 0) {
            tu_pass++;
        } else {
            tu_fail++;
            printf("FAIL hostile case %zu: expected \"%s\", got %s \"%s\"\n", i, cases[i].msg,
                   m ? "success" : "error", m ? "" : dm_errmsg());
        }
        dm_model_free(m);
    }

    /* sizes: a long name, a huge line, too many layers */
    char *big = malloc(1 << 20);
    int n = snprintf(big, 1 << 20, HEAD LIN "layer ");
    memset(big + n, 'a', 300);
    strcpy(big + n + 300, " ReLU\nend\n");
    dm_model *m = with_meta(big);
    CHECK(m == NULL && strcmp(dm_errmsg(), "load_model: m.safetensors: line 4: layer name "
                              "longer than 200 characters") == 0, "a layer name too long");
    dm_model_free(m);
    n = snprintf(big, 1 << 20, HEAD LIN);
    memset(big + n, 'x', 500000);
    strcpy(big + n + 500000, "\nend\n");
    m = with_meta(big);
    CHECK(m == NULL && strncmp(dm_errmsg(), "load_model: m.safetensors: line 4: expected "
                               "'layer NAME TYPE ...' or 'end', got 'xxxx", 70) == 0,
          "a huge line");
    dm_model_free(m);
    n = snprintf(big, 1 << 20, HEAD LIN);
    for (int i = 0; i < 10001; i++)
        n += snprintf(big + n, (size_t)((1 << 20) - n), "layer - ReLU\n");
    snprintf(big + n, (size_t)((1 << 20) - n), "end\n");
    m = with_meta(big);
    CHECK_ERR(m, "load_model: m.safetensors: line 10003: more than 10000 layers");
    dm_model_free(m);
    free(big);
}

/* ---- damaged files --------------------------------------------------------------------- */

static void test_damaged(void)
{
    char text[2048];
    tmodel mm = { 3, 3, { { .type = "Linear", .out = 4, .bias = 1 },
                          { .type = "BatchNorm1d", .arg = 1e-5, .affine = 1, .track = 1 },
                          { .type = "Softmax", .dim = 2 } } };
    dm_named_tensors *nt = describe(&mm, text, sizeof text);
    size_t len = 0;
    unsigned char *b = file_bytes(nt, &len);
    dm_named_tensors_free(nt);
    dm_model *m = dm_model_load_buffer(b, len, "whole");
    CHECK(m != NULL, "the undamaged file loads");
    dm_model_free(m);
    int all_fail = 1;
    for (size_t cut = 0; cut < len; cut++) {       // every truncation fails cleanly
        unsigned char *copy = malloc(cut + 1);     // exact size, so ASan sees overreads
        memcpy(copy, b, cut);
        m = dm_model_load_buffer(copy, cut, "cut");
        if (m) all_fail = 0;
        dm_model_free(m);
        free(copy);
    }
    CHECK(all_fail, "every truncated file fails to load");
    int no_crash = 1;                              // every byte changed: no crash, no leak
    for (size_t i = 0; i < len; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, b, len);
        copy[i] ^= (unsigned char)(0x55 + (i & 3));
        m = dm_model_load_buffer(copy, len, "flipped");
        if (m) {
            float x[6] = { 1, 2, 3, 4, 5, 6 }, y[8];
            if (dm_model_in_features(m) == 3 && dm_model_out_features(m) == 4)
                dm_model_forward(m, x, 2, y);
            else no_crash = no_crash && dm_model_in_features(m) > 0;
        }
        dm_model_free(m);
        free(copy);
    }
    CHECK(no_crash, "every one-byte change loads or fails cleanly");
    free(b);
}

int main(void)
{
    tu_live start = tu_live_now();
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/dm_test_model_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }

    test_layers();
    test_file_and_forward();
    test_hostile();
    test_damaged();
    test_saved_v1();
    test_registry_rows();
    test_every_row();
    test_layer_parse();
    test_large_layer();

    CHECK(rmdir(tmpdir) == 0, "no files left in the temporary directory");
    CHECK_NO_LEAKS(start);
    return TEST_END("test_model");
}
