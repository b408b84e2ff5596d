/* test_model.c -- plain-C inference (model.c): models described in C the way nn.save_model
 * writes them, run through dm_model_forward and compared with a double-precision reference
 * written here, one case per layer type; then hostile descriptions and damaged files, which
 * must fail with a message and never crash.  (tests/embed_spec.lua compares files saved by
 * Lua with the Lua forward.) */
#define _POSIX_C_SOURCE 200809L     /* mkdtemp */
#include "testutil.h"
#include <unistd.h>

/* tmodel and tlayer literals leave their later fields out (zero) */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

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
    const char *spec;          /* the image kinds: the layer's text, "Conv2d in_channels=..."
                                  (type unused); tensors of the shapes its rule gives */
} tlayer;

typedef struct {
    int64_t in;                /* in_features, or 0 with in_shape */
    int n;
    tlayer l[12];
    int in_nd;                 /* input_shape=..., when in is 0 */
    int64_t in_shape[4];
    int64_t ids;               /* > 0: the input is token ids 1 .. ids (an Embedding first) */
} tmodel;

/* inputs of m: token ids as floats when m->ids, else values in lo .. hi */
static void fill_input(const tmodel *m, float *x, int64_t n, float lo, float hi, unsigned seed)
{
    tu_fill_buf(x, n, lo, hi, seed);
    for (int64_t i = 0; m->ids > 0 && i < n; i++) x[i] = (float)(1 + (i * 7 + seed) % m->ids);
}

static int64_t in_numel(const tmodel *m)
{
    if (m->in) return m->in;
    int64_t n = 1;
    for (int d = 0; d < m->in_nd; d++) n *= m->in_shape[d];
    return n;
}

/* fill a new tensor named "i.suffix": BatchNorm statistics and scales positive */
static void add_tensor(dm_named_tensors *nt, int i, const char *suffix, const dm_layer_shape *s)
{
    char key[64];
    snprintf(key, sizeof key, "%d.%s", i, suffix);
    dm_tensor *t = dm_tensor_new(s->ndim, s->d);
    int positive = strcmp(suffix, "running_var") == 0 || strcmp(suffix, "weight") == 0;
    if (strcmp(suffix, "num_batches_tracked") == 0) tu_fill(t, 1, 2, 3);
    else if (positive && s->ndim == 1) tu_fill(t, 0.5f, 1.5f, 51u + (unsigned)i);
    else tu_fill(t, -0.6f, 0.6f, 61u + (unsigned)i * 7u + (unsigned)strlen(suffix));
    dm_named_tensors_add(nt, key, t);
    dm_tensor_release(t);
}

/* the description text and the tensors ("0.weight", ...), widths chained from m->in */
static dm_named_tensors *describe(const tmodel *m, char *text, size_t cap)
{
    dm_named_tensors *nt = dm_named_tensors_new();
    size_t len;
    dm_layer_shape cur = { 1, { m->in } };
    if (m->in) {
        len = (size_t)snprintf(text, cap, "deepmoon.model 1\nin_features=%lld\n",
                               (long long)m->in);
    } else {
        len = (size_t)snprintf(text, cap, "deepmoon.model 1\ninput_shape=");
        cur.ndim = m->in_nd;
        for (int d = 0; d < m->in_nd; d++) {
            cur.d[d] = m->in_shape[d];
            len += (size_t)snprintf(text + len, cap - len, "%s%lld", d ? "," : "",
                                    (long long)m->in_shape[d]);
        }
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    int64_t w = in_numel(m);
    for (int i = 0; i < m->n; i++) {
        const tlayer *L = &m->l[i];
        char name[16], key[48];
        snprintf(name, sizeof name, "%d", i);
        if (L->spec) {                           /* shapes from the row's rule */
            const dm_layer_kind *k;
            dm_opt_value opt[DM_LAYER_MAX_OPTS];
            dm_layer_shape out, t[DM_LAYER_MAX_TENSORS];
            if (dm_layer_parse(L->spec, &k, opt, &cur, &out, t) != 0) {
                printf("  describe: %s: %s\n", L->spec, dm_errmsg());
                continue;
            }
            for (int j = 0; j < DM_LAYER_MAX_TENSORS && k->tensor[j].name; j++)
                if (t[j].ndim >= 0) add_tensor(nt, i, k->tensor[j].name, &t[j]);
            len += (size_t)snprintf(text + len, cap - len, "layer %s %s\n", name, L->spec);
            cur = out;
            w = 1;
            for (int d = 0; d < cur.ndim; d++) w *= cur.d[d];
            continue;
        }
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
        if (strcmp(L->type, "Flatten") == 0 || strcmp(L->type, "Linear") == 0) {
            cur.ndim = 1;
            cur.d[0] = w;
        }
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

/* ---- the image kinds' reference: x [B x C x H x W] in double, 1-d as H = 1 ------------- */

typedef struct { int nd; int64_t d[4]; } rshape;      /* one sample */

/* a SIZE option as 2 (h, w) values; sp 1: h = one_h */
static void opt2(const dm_opt_value *o, int sp, int64_t one_h, int64_t *v)
{
    if (sp == 1) { v[0] = one_h; v[1] = o->size[0]; return; }
    v[0] = o->size[0];
    v[1] = o->size[o->n == 1 ? 0 : 1];
}

/* index i of a dim of size n padded by lo: reflect, replicate, circular; -1: zero */
static int64_t pad_index(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n) return i;
    if (mode == 0) return -1;
    if (mode == 1) return i < 0 ? -i : 2 * (n - 1) - i;
    if (mode == 2) return i < 0 ? 0 : n - 1;
    return ((i % n) + n) % n;
}

static double *ref_conv(const dm_opt_value *o, const dm_named_tensors *nt, int li,
                        const double *x, int64_t B, rshape *sh, int sp, int transposed)
{
    int64_t C = sh->d[0], H = sp == 1 ? 1 : sh->d[1], W = sh->d[sp];
    int64_t cout = (int64_t)o[1].v, k[2], st[2], dl[2], lo[2], hi[2], op[2] = { 0, 0 };
    int64_t groups = (int64_t)o[transposed ? 6 : 6].v;
    int mode = transposed ? 0 : (int)o[8].v;
    opt2(&o[2], sp, 1, k);
    opt2(&o[3], sp, 1, st);
    opt2(&o[transposed ? 8 : 5], sp, 1, dl);
    if (transposed) {
        int64_t p[2];
        opt2(&o[4], sp, 0, p);
        opt2(&o[5], sp, 0, op);
        lo[0] = p[0]; lo[1] = p[1];
    } else if (o[4].n == 0) {                    /* valid 0, same 1 */
        for (int i = 0; i < 2; i++) {
            int64_t total = o[4].v == 1 ? dl[i] * (k[i] - 1) : 0;
            lo[i] = total / 2;
            hi[i] = total - lo[i];
        }
    } else {
        opt2(&o[4], sp, 0, lo);
        hi[0] = lo[0]; hi[1] = lo[1];
    }
    int64_t OH, OW, cin_g = C / groups, cout_g = cout / groups;
    if (transposed) {
        OH = (H - 1) * st[0] - 2 * lo[0] + dl[0] * (k[0] - 1) + op[0] + 1;
        OW = (W - 1) * st[1] - 2 * lo[1] + dl[1] * (k[1] - 1) + op[1] + 1;
    } else {
        OH = (H + lo[0] + hi[0] - dl[0] * (k[0] - 1) - 1) / st[0] + 1;
        OW = (W + lo[1] + hi[1] - dl[1] * (k[1] - 1) - 1) / st[1] + 1;
    }
    double *y = calloc((size_t)(B * cout * OH * OW), sizeof *y);
    int bias = o[7].v != 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < cout; oc++)
            for (int64_t i = 0; i < OH * OW; i++)
                y[(b * cout + oc) * OH * OW + i] = bias ? tget(nt, li, "bias", oc) : 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < cout; oc++) {
            int64_t g = oc / cout_g;
            for (int64_t ic = 0; ic < cin_g; ic++)
                for (int64_t kh = 0; kh < k[0]; kh++)
                    for (int64_t kw = 0; kw < k[1]; kw++) {
                        int64_t c = g * cin_g + ic;
                        double wv = transposed
                            ? tget(nt, li, "weight", ((c * cout_g + oc % cout_g) * k[0] + kh) * k[1] + kw)
                            : tget(nt, li, "weight", ((oc * cin_g + ic) * k[0] + kh) * k[1] + kw);
                        if (transposed) {        /* scatter each input value */
                            for (int64_t ih = 0; ih < H; ih++)
                                for (int64_t iw = 0; iw < W; iw++) {
                                    int64_t oh = ih * st[0] - lo[0] + kh * dl[0];
                                    int64_t ow = iw * st[1] - lo[1] + kw * dl[1];
                                    if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                                    y[((b * cout + oc) * OH + oh) * OW + ow] +=
                                        wv * x[((b * C + c) * H + ih) * W + iw];
                                }
                            continue;
                        }
                        for (int64_t oh = 0; oh < OH; oh++)
                            for (int64_t ow = 0; ow < OW; ow++) {
                                int64_t ih = pad_index(oh * st[0] - lo[0] + kh * dl[0], H, mode);
                                int64_t iw = pad_index(ow * st[1] - lo[1] + kw * dl[1], W, mode);
                                if (ih < 0 || iw < 0) continue;
                                y[((b * cout + oc) * OH + oh) * OW + ow] +=
                                    wv * x[((b * C + c) * H + ih) * W + iw];
                            }
                    }
        }
    sh->d[0] = cout;
    if (sp == 2) sh->d[1] = OH;
    sh->d[sp] = OW;
    return y;
}

/* max (dil) or average windows; PyTorch's sizes and avg_pool2d's divisor */
static double *ref_pool(const dm_opt_value *o, const double *x, int64_t B, rshape *sh, int sp,
                        int is_max)
{
    int64_t C = sh->d[0], H = sp == 1 ? 1 : sh->d[1], W = sh->d[sp];
    int64_t k[2], st[2], p[2], dl[2] = { 1, 1 }, O[2], I[2] = { H, W };
    opt2(&o[0], sp, 1, k);
    if (o[1].none) { st[0] = k[0]; st[1] = k[1]; } else opt2(&o[1], sp, 1, st);
    opt2(&o[2], sp, 0, p);
    if (is_max) opt2(&o[3], sp, 1, dl);
    int cm = is_max ? o[5].v != 0 : o[3].v != 0, cip = !is_max && o[4].v != 0;
    int64_t dv = !is_max && sp == 2 && !o[5].none ? (int64_t)o[5].v : 0;
    for (int i = 0; i < 2; i++) {
        double num = (double)(I[i] + 2 * p[i] - dl[i] * (k[i] - 1) - 1) / (double)st[i];
        O[i] = (int64_t)(cm ? ceil(num) : floor(num)) + 1;
        if (cm && (O[i] - 1) * st[i] >= I[i] + p[i]) O[i]--;
    }
    double *y = malloc((size_t)(B * C * O[0] * O[1]) * sizeof *y);
    for (int64_t pl = 0; pl < B * C; pl++)
        for (int64_t oh = 0; oh < O[0]; oh++)
            for (int64_t ow = 0; ow < O[1]; ow++) {
                const double *xp = x + pl * H * W;
                double v;
                if (is_max) {
                    v = -INFINITY;
                    for (int64_t a = 0; a < k[0]; a++)
                        for (int64_t c = 0; c < k[1]; c++) {
                            int64_t h = oh * st[0] - p[0] + a * dl[0], w = ow * st[1] - p[1] + c * dl[1];
                            if (h >= 0 && h < H && w >= 0 && w < W && xp[h * W + w] > v) v = xp[h * W + w];
                        }
                } else {
                    int64_t h0 = oh * st[0] - p[0], w0 = ow * st[1] - p[1];
                    int64_t h1 = h0 + k[0] < H + p[0] ? h0 + k[0] : H + p[0];
                    int64_t w1 = w0 + k[1] < W + p[1] ? w0 + k[1] : W + p[1];
                    int64_t size = (h1 - h0) * (w1 - w0);
                    if (h0 < 0) h0 = 0;
                    if (w0 < 0) w0 = 0;
                    if (h1 > H) h1 = H;
                    if (w1 > W) w1 = W;
                    double sum = 0;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) sum += xp[h * W + w];
                    v = sum / (double)(dv ? dv : cip ? size : (h1 - h0) * (w1 - w0));
                }
                y[(pl * O[0] + oh) * O[1] + ow] = v;
            }
    if (sp == 2) sh->d[1] = O[0];
    sh->d[sp] = O[1];
    return y;
}

static double *ref_adaptive(const dm_opt_value *o, const double *x, int64_t B, rshape *sh,
                            int is_max)
{
    int64_t C = sh->d[0], I[2] = { sh->d[1], sh->d[2] }, O[2];
    for (int i = 0; i < 2; i++) {
        int64_t v = o[0].size[o[0].n == 1 ? 0 : i];
        O[i] = v < 0 ? I[i] : v;
    }
    double *y = malloc((size_t)(B * C * O[0] * O[1]) * sizeof *y);
    for (int64_t pl = 0; pl < B * C; pl++)
        for (int64_t oh = 0; oh < O[0]; oh++)
            for (int64_t ow = 0; ow < O[1]; ow++) {
                int64_t h0 = oh * I[0] / O[0], h1 = ((oh + 1) * I[0] + O[0] - 1) / O[0];
                int64_t w0 = ow * I[1] / O[1], w1 = ((ow + 1) * I[1] + O[1] - 1) / O[1];
                double v = is_max ? -INFINITY : 0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) {
                        double e = x[(pl * I[0] + h) * I[1] + w];
                        if (is_max) { if (e > v) v = e; } else v += e;
                    }
                y[(pl * O[0] + oh) * O[1] + ow] = is_max ? v : v / (double)((h1 - h0) * (w1 - w0));
            }
    sh->d[1] = O[0];
    sh->d[2] = O[1];
    return y;
}

/* Linear on the last dim of x [B x sample sh] */
static double *ref_linear(const dm_opt_value *o, const dm_named_tensors *nt, int li,
                          const double *x, int64_t B, rshape *sh)
{
    int64_t in = (int64_t)o[0].v, out = (int64_t)o[1].v, per = 1;
    for (int d = 0; d < sh->nd; d++) per *= sh->d[d];
    int64_t rows = B * per / in;
    double *y = malloc((size_t)(rows * out) * sizeof *y);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < out; j++) {
            double s = o[2].v != 0 ? tget(nt, li, "bias", j) : 0;
            for (int64_t k = 0; k < in; k++) s += x[r * in + k] * tget(nt, li, "weight", j * in + k);
            y[r * out + j] = s;
        }
    sh->d[sh->nd - 1] = out;
    return y;
}

/* Embedding: x [B x ids...] -> [B x ids... x dim], the weight's rows */
static double *ref_embedding(const dm_opt_value *o, const dm_named_tensors *nt, int li,
                             const double *x, int64_t B, rshape *sh)
{
    int64_t dim = (int64_t)o[1].v, per = 1;
    for (int d = 0; d < sh->nd; d++) per *= sh->d[d];
    double *y = malloc((size_t)(B * per * dim) * sizeof *y);
    for (int64_t i = 0; i < B * per; i++)
        for (int64_t j = 0; j < dim; j++)
            y[i * dim + j] = tget(nt, li, "weight", ((int64_t)x[i] - 1) * dim + j);
    sh->d[sh->nd++] = dim;
    return y;
}

static double sigm(double v) { return 1 / (1 + exp(-v)); }

/* RNN (kind 0), LSTM (1), GRU (2), batch_first: x [B x T x I] -> [B x T x D*Ho], zero
   initial states, every sequence on its own, step by step, in double */
static double *ref_rnn(int kind, const dm_opt_value *o, const dm_named_tensors *nt, int li,
                       const double *x, int64_t B, rshape *sh)
{
    int of = kind == 0;
    int relu = kind == 0 && o[3].v != 0, bias = o[3 + of].v != 0;
    int64_t H = (int64_t)o[1].v, L = (int64_t)o[2].v, D = o[6 + of].v != 0 ? 2 : 1;
    int64_t P = kind == 1 ? (int64_t)o[7].v : 0, Ho = P > 0 ? P : H;
    int64_t G = kind == 1 ? 4 : kind == 2 ? 3 : 1, T = sh->d[0], F = sh->d[1];
    double *in = malloc((size_t)(B * T * F) * sizeof *in);
    memcpy(in, x, (size_t)(B * T * F) * sizeof *in);
    double *gi = malloc((size_t)(G * H) * sizeof *gi), *gh = malloc((size_t)(G * H) * sizeof *gh);
    double *h = malloc((size_t)Ho * sizeof *h), *c = malloc((size_t)H * sizeof *c);
    double *hf = malloc((size_t)H * sizeof *hf);
    for (int64_t l = 0; l < L; l++) {
        double *out = malloc((size_t)(B * T * D * Ho) * sizeof *out);
        for (int64_t d = 0; d < D; d++) {
            char wi[40], wh[40], bi[40], bh[40], wr[40];
            const char *sfx = d ? "_reverse" : "";
            snprintf(wi, sizeof wi, "weight_ih_l%lld%s", (long long)l, sfx);
            snprintf(wh, sizeof wh, "weight_hh_l%lld%s", (long long)l, sfx);
            snprintf(bi, sizeof bi, "bias_ih_l%lld%s", (long long)l, sfx);
            snprintf(bh, sizeof bh, "bias_hh_l%lld%s", (long long)l, sfx);
            snprintf(wr, sizeof wr, "weight_hr_l%lld%s", (long long)l, sfx);
            for (int64_t b = 0; b < B; b++) {
                for (int64_t j = 0; j < Ho; j++) h[j] = 0;
                for (int64_t j = 0; j < H; j++) c[j] = 0;
                for (int64_t s = 0; s < T; s++) {
                    int64_t t = d ? T - 1 - s : s;
                    const double *xt = in + (b * T + t) * F;
                    for (int64_t g = 0; g < G * H; g++) {
                        double a = bias ? tget(nt, li, bi, g) : 0, e = bias ? tget(nt, li, bh, g) : 0;
                        for (int64_t k = 0; k < F; k++) a += tget(nt, li, wi, g * F + k) * xt[k];
                        for (int64_t k = 0; k < Ho; k++) e += tget(nt, li, wh, g * Ho + k) * h[k];
                        gi[g] = a;
                        gh[g] = e;
                    }
                    if (kind == 0) {
                        for (int64_t j = 0; j < H; j++) {
                            double v = gi[j] + gh[j];
                            h[j] = relu ? (v > 0 ? v : 0) : tanh(v);
                        }
                    } else if (kind == 1) {
                        for (int64_t j = 0; j < H; j++) {
                            double ig = sigm(gi[j] + gh[j]), fg = sigm(gi[H + j] + gh[H + j]);
                            double gg = tanh(gi[2 * H + j] + gh[2 * H + j]);
                            double og = sigm(gi[3 * H + j] + gh[3 * H + j]);
                            c[j] = fg * c[j] + ig * gg;
                            hf[j] = og * tanh(c[j]);
                        }
                        for (int64_t j = 0; j < Ho; j++) {
                            if (P == 0) { h[j] = hf[j]; continue; }
                            double v = 0;
                            for (int64_t k = 0; k < H; k++) v += tget(nt, li, wr, j * H + k) * hf[k];
                            h[j] = v;
                        }
                    } else {
                        for (int64_t j = 0; j < H; j++) {
                            double r = sigm(gi[j] + gh[j]), z = sigm(gi[H + j] + gh[H + j]);
                            double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
                            h[j] = (1 - z) * n + z * h[j];
                        }
                    }
                    for (int64_t j = 0; j < Ho; j++) out[((b * T + t) * D + d) * Ho + j] = h[j];
                }
            }
        }
        free(in);
        in = out;
        F = D * Ho;
    }
    free(gi);
    free(gh);
    free(h);
    free(c);
    free(hf);
    sh->d[1] = F;
    return in;
}

/* one image layer of spec on x [B x sample sh]; x is replaced (or NULL: no reference) */
static double *ref_image(const char *spec, const dm_named_tensors *nt, int li, double *x,
                         int64_t B, rshape *sh)
{
    const dm_layer_kind *k;
    dm_opt_value o[DM_LAYER_MAX_OPTS];
    dm_layer_shape in = { sh->nd, { 0 } }, out, t[DM_LAYER_MAX_TENSORS];
    memcpy(in.d, sh->d, sizeof sh->d);
    if (dm_layer_parse(spec, &k, o, &in, &out, t) != 0) {
        printf("  reference: %s: %s\n", spec, dm_errmsg());
        free(x);
        return NULL;
    }
    const char *n = k->name;
    double *y = NULL;
    int64_t per = 1;
    for (int d = 0; d < sh->nd; d++) per *= sh->d[d];
    if (strcmp(n, "Conv1d") == 0) y = ref_conv(o, nt, li, x, B, sh, 1, 0);
    else if (strcmp(n, "Conv2d") == 0) y = ref_conv(o, nt, li, x, B, sh, 2, 0);
    else if (strcmp(n, "ConvTranspose2d") == 0) y = ref_conv(o, nt, li, x, B, sh, 2, 1);
    else if (strcmp(n, "MaxPool1d") == 0) y = ref_pool(o, x, B, sh, 1, 1);
    else if (strcmp(n, "MaxPool2d") == 0) y = ref_pool(o, x, B, sh, 2, 1);
    else if (strcmp(n, "AvgPool1d") == 0) y = ref_pool(o, x, B, sh, 1, 0);
    else if (strcmp(n, "AvgPool2d") == 0) y = ref_pool(o, x, B, sh, 2, 0);
    else if (strcmp(n, "AdaptiveAvgPool2d") == 0) y = ref_adaptive(o, x, B, sh, 0);
    else if (strcmp(n, "AdaptiveMaxPool2d") == 0) y = ref_adaptive(o, x, B, sh, 1);
    else if (strcmp(n, "Dropout2d") == 0) return x;
    else if (strcmp(n, "Linear") == 0) y = ref_linear(o, nt, li, x, B, sh);
    else if (strcmp(n, "Embedding") == 0) y = ref_embedding(o, nt, li, x, B, sh);
    else if (strcmp(n, "RNN") == 0) y = ref_rnn(0, o, nt, li, x, B, sh);
    else if (strcmp(n, "LSTM") == 0) y = ref_rnn(1, o, nt, li, x, B, sh);
    else if (strcmp(n, "GRU") == 0) y = ref_rnn(2, o, nt, li, x, B, sh);
    else if (strcmp(n, "Flatten") == 0) {           /* values as they are; the shape joins */
        int s0 = o[0].v > 0 ? (int)o[0].v - 1 : (int)o[0].v + sh->nd + 1;
        int e0 = o[1].v > 0 ? (int)o[1].v - 1 : (int)o[1].v + sh->nd + 1;
        rshape r = { 0, { 0 } };
        for (int d = 0; d < sh->nd; d++) {
            if (d + 1 > s0 && d + 1 <= e0) r.d[r.nd - 1] *= sh->d[d];
            else r.d[r.nd++] = sh->d[d];
        }
        *sh = r;
        return x;
    } else if (strcmp(n, "BatchNorm2d") == 0 || strcmp(n, "BatchNorm1d") == 0) {
        int64_t C = sh->d[0], P = per / C;
        int track = o[4].v != 0, affine = o[3].v != 0;
        for (int64_t c = 0; c < C; c++) {
            double mean = 0, var = 0;
            if (track) {
                mean = tget(nt, li, "running_mean", c);
                var = tget(nt, li, "running_var", c);
            } else {
                for (int64_t b = 0; b < B; b++)
                    for (int64_t i = 0; i < P; i++) mean += x[(b * C + c) * P + i];
                mean /= (double)(B * P);
                for (int64_t b = 0; b < B; b++)
                    for (int64_t i = 0; i < P; i++) var += pow(x[(b * C + c) * P + i] - mean, 2);
                var /= (double)(B * P);
            }
            double g = affine ? tget(nt, li, "weight", c) : 1, be = affine ? tget(nt, li, "bias", c) : 0;
            for (int64_t b = 0; b < B; b++)
                for (int64_t i = 0; i < P; i++) {
                    double *v = &x[(b * C + c) * P + i];
                    *v = (*v - mean) / sqrt(var + o[1].v) * g + be;
                }
        }
        return x;
    } else {
        printf("  no reference for the layer kind '%s'\n", n);
        free(x);
        return NULL;
    }
    free(x);
    return y;
}

/* x [B x w] (double, malloc'd) through the model; returns the output, *w updated */
static double *reference(const tmodel *m, const dm_named_tensors *nt, const float *input,
                         int64_t B, int64_t *wout)
{
    int64_t w = in_numel(m);
    rshape sh = { 1, { w } };
    if (!m->in) {
        sh.nd = m->in_nd;
        for (int d = 0; d < m->in_nd; d++) sh.d[d] = m->in_shape[d];
    }
    double *x = malloc((size_t)(B * w) * sizeof *x);
    for (int64_t i = 0; i < B * w; i++) x[i] = input[i];
    for (int li = 0; li < m->n; li++) {
        const tlayer *L = &m->l[li];
        const char *t = L->type;
        if (L->spec) {
            if (!(x = ref_image(L->spec, nt, li, x, B, &sh))) return NULL;
            w = 1;
            for (int d = 0; d < sh.nd; d++) w *= sh.d[d];
            continue;
        }
        if (strcmp(t, "Flatten") == 0) { sh.nd = 1; sh.d[0] = w; }
        if (strcmp(t, "Linear") == 0) {
            sh.nd = 1;
            sh.d[0] = L->out;          // y [B x out] = x [B x w] @ W^T [w x out] + b
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
    char text[8192], msg[200];
    dm_named_tensors *nt = describe(m, text, sizeof text);
    size_t len = 0;
    unsigned char *bytes = file_bytes(nt, &len);
    dm_model *mod = bytes ? dm_model_load_buffer(bytes, len, "m.safetensors") : NULL;
    snprintf(msg, sizeof msg, "%s: loads (%s)", what, mod ? "ok" : dm_errmsg());
    CHECK(mod != NULL, msg);
    if (mod) {
        float *x = malloc((size_t)(B * in_numel(m)) * sizeof *x);
        fill_input(m, x, B * in_numel(m), -2.5f, 2.5f, 5u);
        int64_t w;
        double *want = reference(m, nt, x, B, &w);
        snprintf(msg, sizeof msg, "%s: has a reference", what);
        CHECK(want != NULL, msg);
        if (!want) {
            free(x);
            goto done;
        }
        snprintf(msg, sizeof msg, "%s: in_features", what);
        CHECK(dm_model_in_features(mod) == in_numel(m), msg);
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

/* one image layer (spec) on samples of in_shape, batch B, through check_model */
static void check_image(const char *spec, int nd, int64_t c, int64_t h, int64_t w, int64_t B)
{
    tmodel m = { 0, 1, { { .spec = spec } }, nd, { c, h, w } };
    check_model(spec, &m, B);
}

static void test_image_layers(void)
{
    static const char *const conv2d[] = {
        "Conv2d in_channels=2 out_channels=3 kernel_size=3",
        "Conv2d in_channels=2 out_channels=4 kernel_size=3,2 stride=2,1 padding=1,0 bias=false",
        "Conv2d in_channels=4 out_channels=2 kernel_size=2 dilation=2 groups=2",
        "Conv2d in_channels=2 out_channels=3 kernel_size=3 padding=same",
        "Conv2d in_channels=2 out_channels=3 kernel_size=4,3 padding=same dilation=1,2",
        "Conv2d in_channels=2 out_channels=3 kernel_size=3 padding=valid",
        "Conv2d in_channels=2 out_channels=3 kernel_size=3 padding=1 padding_mode=reflect",
        "Conv2d in_channels=2 out_channels=3 kernel_size=2 padding=same padding_mode=replicate",
        "Conv2d in_channels=2 out_channels=2 kernel_size=3 stride=2 padding=2 "
        "padding_mode=circular",
        "MaxPool2d kernel_size=2",
        "MaxPool2d kernel_size=3,2 stride=2,1 padding=1,0 dilation=1,2 ceil_mode=true",
        "MaxPool2d kernel_size=2 stride=3 ceil_mode=true",
        "AvgPool2d kernel_size=2",
        "AvgPool2d kernel_size=3 stride=2 padding=1 ceil_mode=true",
        "AvgPool2d kernel_size=3 stride=2 padding=1 count_include_pad=false",
        "AvgPool2d kernel_size=2,3 padding=1 divisor_override=5",
        "AdaptiveAvgPool2d output_size=3",
        "AdaptiveAvgPool2d output_size=2,none",
        "AdaptiveMaxPool2d output_size=4,3",
        "AdaptiveMaxPool2d output_size=none,2",
        "BatchNorm2d num_features=4",
        "BatchNorm2d num_features=4 eps=0.001 affine=false",
        "BatchNorm2d num_features=4 track_running_stats=false",
        "Dropout2d p=0.3",
        "Flatten",
        "Flatten start_dim=3",
        "Flatten start_dim=2 end_dim=3",
        "ConvTranspose2d in_channels=4 out_channels=2 kernel_size=3",
        "ConvTranspose2d in_channels=4 out_channels=6 kernel_size=3,2 stride=2 padding=1 "
        "output_padding=1 groups=2 dilation=1,2",
    };
    for (size_t i = 0; i < sizeof conv2d / sizeof conv2d[0]; i++) {
        int64_t c = strstr(conv2d[i], "in_channels=2") ? 2 : 4;
        check_image(conv2d[i], 3, c, 7, 6, 3);
    }
    static const char *const conv1d[] = {
        "Conv1d in_channels=3 out_channels=2 kernel_size=3",
        "Conv1d in_channels=3 out_channels=6 kernel_size=2 stride=2 padding=1 dilation=2 "
        "groups=3 bias=false",
        "Conv1d in_channels=3 out_channels=2 kernel_size=4 padding=same padding_mode=reflect",
        "Conv1d in_channels=3 out_channels=2 kernel_size=3 padding=2 padding_mode=circular",
        "MaxPool1d kernel_size=2",
        "MaxPool1d kernel_size=3 stride=2 padding=1 dilation=2 ceil_mode=true",
        "AvgPool1d kernel_size=3 stride=2 padding=1",
        "AvgPool1d kernel_size=3 stride=2 padding=1 ceil_mode=true count_include_pad=false",
        "BatchNorm1d num_features=3",
        "BatchNorm1d num_features=3 affine=false track_running_stats=false",
    };
    for (size_t i = 0; i < sizeof conv1d / sizeof conv1d[0]; i++)
        check_image(conv1d[i], 2, 3, 9, 0, 2);

    /* a small LeNet-like chain, as nn.save_model writes it */
    tmodel lenet = { 0, 9, {
        { .spec = "Conv2d in_channels=1 out_channels=4 kernel_size=5 padding=2" },
        { .spec = "BatchNorm2d num_features=4" }, { .type = "ReLU" },
        { .spec = "MaxPool2d kernel_size=2" },
        { .spec = "Conv2d in_channels=4 out_channels=6 kernel_size=3" }, { .type = "ReLU" },
        { .spec = "AdaptiveAvgPool2d output_size=2" },
        { .spec = "Flatten" },
        { .type = "Linear", .out = 3, .bias = 1 } }, 3, { 1, 12, 12 } };
    check_model("a LeNet-like chain", &lenet, 4);
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
    test_image_layers();
}

/* Embedding and the recurrent layers: chains as nn.save_model writes them, and what the
   rows refuse */
static void test_recurrent(void)
{
    static const struct { const char *what; int nd; int64_t d0, d1; int64_t ids; int n;
                          const char *spec[3]; } cases[] = {
        { "Embedding -> LSTM -> Linear", 1, 6, 0, 9, 3, {
          "Embedding num_embeddings=9 embedding_dim=4 padding_idx=1",
          "LSTM input_size=4 hidden_size=3 batch_first=true",
          "Linear in_features=3 out_features=2" } },
        { "Embedding -> GRU 2 layers", 1, 5, 0, 7, 2, {
          "Embedding num_embeddings=7 embedding_dim=3",
          "GRU input_size=3 hidden_size=4 num_layers=2 batch_first=true" } },
        { "RNN relu, bidirectional, 2 layers", 2, 6, 3, 0, 1, {
          "RNN input_size=3 hidden_size=4 num_layers=2 nonlinearity=relu batch_first=true "
          "bidirectional=true" } },
        { "RNN tanh without bias", 2, 4, 3, 0, 1, {
          "RNN input_size=3 hidden_size=2 bias=false batch_first=true dropout=0.5" } },
        { "LSTM proj_size, bidirectional, 2 layers", 2, 5, 3, 0, 2, {
          "LSTM input_size=3 hidden_size=4 num_layers=2 batch_first=true bidirectional=true "
          "proj_size=2",
          "Linear in_features=4 out_features=3 bias=false" } },
        { "GRU bidirectional -> Linear", 2, 3, 2, 0, 2, {
          "GRU input_size=2 hidden_size=3 batch_first=true bidirectional=true",
          "Linear in_features=6 out_features=2" } },
        { "Embedding of [2 x 3] ids", 2, 2, 3, 4, 1, {
          "Embedding num_embeddings=4 embedding_dim=2 padding_idx=-1" } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tmodel m = { 0, cases[i].n, { { 0 } }, cases[i].nd, { cases[i].d0, cases[i].d1 },
                     cases[i].ids };
        for (int j = 0; j < cases[i].n; j++) m.l[j].spec = cases[i].spec[j];
        check_model(cases[i].what, &m, 3);
    }

    const dm_layer_kind *k;
    dm_opt_value opt[DM_LAYER_MAX_OPTS];
    dm_layer_shape in = { 2, { 5, 3 } }, out, t[DM_LAYER_MAX_TENSORS];
    CHECK_ERR(dm_layer_parse("LSTM input_size=3 hidden_size=4", &k, opt, &in, &out, t),
              "LSTM: batch_first=false reads [T x batch x input_size], but a model's batch dim "
              "comes first: build the layer with batch_first = true");
    CHECK_ERR(dm_layer_parse("GRU input_size=4 hidden_size=4 batch_first=true", &k, opt, &in,
                             &out, t),
              "GRU: input_size 4 does not match the samples [5 x 3] before it");
    CHECK_ERR(dm_layer_parse("RNN input_size=3 hidden_size=4 num_layers=9 batch_first=true", &k,
                             opt, &in, &out, t),
              "RNN: num_layers must be in 1 .. 8, got 9");
    CHECK_ERR(dm_layer_parse("RNN input_size=3 hidden_size=4 nonlinearity=gelu", &k, opt, &in,
                             &out, t),
              "RNN: nonlinearity must be tanh or relu, got 'gelu'");
    CHECK_ERR(dm_layer_parse("LSTM input_size=3 hidden_size=4 batch_first=true proj_size=4", &k,
                             opt, &in, &out, t),
              "LSTM: proj_size 4 has to be smaller than hidden_size 4");
    in = (dm_layer_shape){ 1, { 5 } };
    CHECK_ERR(dm_layer_parse("LSTM input_size=5 hidden_size=4 batch_first=true", &k, opt, &in,
                             &out, t),
              "LSTM: needs samples [T x 5] (sequences), got samples of [5]");
    in = (dm_layer_shape){ .ndim = -1 };
    CHECK_ERR(dm_layer_parse("GRU input_size=5 hidden_size=4 batch_first=true", &k, opt, &in,
                             &out, t),
              "GRU: needs to know its input, samples [T x 5], and no layer before it fixes them");
    CHECK_ERR(dm_layer_parse("Embedding num_embeddings=5 embedding_dim=2", &k, opt, &in, &out, t),
              "Embedding: needs to know its input, samples [T] of token ids, and no layer "
              "before it fixes them");
    in = (dm_layer_shape){ 1, { 5 } };
    CHECK_ERR(dm_layer_parse("Embedding num_embeddings=5 embedding_dim=2 padding_idx=6", &k, opt,
                             &in, &out, t),
              "Embedding: padding_idx must be within num_embeddings (1 to 5, or -5 to -1 from "
              "the end), got 6");
    CHECK_ERR(dm_layer_parse("Embedding num_embeddings=5 embedding_dim=2 max_norm=1", &k, opt,
                             &in, &out, t),
              "Embedding: max_norm=1 renormalises the weight at every lookup; a model file's "
              "weight is fixed (save the layer with max_norm = nil)");
    in = (dm_layer_shape){ 2, { 5, 3 } };
    int rc = dm_layer_parse("LSTM input_size=3 hidden_size=4 num_layers=2 bias=false "
                            "batch_first=true bidirectional=true", &k, opt, &in, &out, t);
    /* the tensors: (layer * 2 + direction) * 5 + weight_ih, weight_hh, bias_ih, bias_hh, hr */
    CHECK(rc == 0 && out.ndim == 2 && out.d[0] == 5 && out.d[1] == 8 && t[0].ndim == 2
          && t[0].d[0] == 16 && t[0].d[1] == 3 && t[2].ndim == -1 && t[4].ndim == -1
          && t[5].ndim == 2 && t[10].d[1] == 8 && t[15].ndim == 2 && t[20].ndim == -1
          && strcmp(k->tensor[15].name, "weight_ih_l1_reverse") == 0,
          "LSTM: the tensors of 2 layers, both directions, no bias");

    /* ids the forward refuses, and a missing tensor */
    tmodel em = { 0, 1, { { .spec = "Embedding num_embeddings=4 embedding_dim=2" } }, 1, { 3 } };
    char text[2048];
    dm_named_tensors *nt = describe(&em, text, sizeof text);
    dm_model *mod = dm_model_from_named(nt, "emb");
    CHECK(mod != NULL, "an Embedding model loads");
    float y[2 * 3 * 2];
    CHECK_ERR(dm_model_forward(mod, (float[]){ 1, 2, 3, 4, 2.5f, 1 }, 2, y),
              "Embedding: input 2.5 (sample 2, position 2) is not a token id: ids are integers "
              "in 1 .. 4");
    CHECK_ERR(dm_model_forward(mod, (float[]){ 1, 5, 3 }, 1, y),
              "Embedding: input 5 (sample 1, position 2) is not a token id: ids are integers "
              "in 1 .. 4");
    CHECK_ERR(dm_model_forward(mod, (float[]){ 0, 1, 3 }, 1, y),
              "Embedding: input 0 (sample 1, position 1) is not a token id: ids are integers "
              "in 1 .. 4");
    CHECK_ERR(dm_model_forward(mod, (float[]){ 1, NAN, 3 }, 1, y),
              "Embedding: input nan (sample 1, position 2) is not a token id: ids are integers "
              "in 1 .. 4");
    CHECK(dm_model_forward(mod, (float[]){ 4, 1, 3 }, 1, y) == 0
          && y[0] == dm_data(dm_named_tensors_get(nt, "0.weight"))[6], "ids 1 .. 4 run");
    dm_model_free(mod);
    dm_named_tensors_free(nt);
    /* one layer's tensors under a description of two */
    tmodel gm = { 0, 1, { { .spec = "GRU input_size=2 hidden_size=3 batch_first=true" } }, 2,
                  { 4, 2 } };
    nt = describe(&gm, text, sizeof text);
    dm_named_tensors_set_meta(nt, "deepmoon.model", "deepmoon.model 1\ninput_shape=4,2\n"
                              "layer 0 GRU input_size=2 hidden_size=3 num_layers=2 "
                              "batch_first=true\nend\n");
    mod = dm_model_from_named(nt, "gru");
    CHECK(mod == NULL && strcmp(dm_errmsg(), "load_model: gru: line 3: GRU: tensor "
                                "'0.weight_ih_l1' is missing") == 0,
          "a recurrent layer's missing tensor is named");
    dm_named_tensors_free(nt);
}

/* ---- the layer registry ------------------------------------------------------------------ */

static int same_values(const dm_opt_value *a, const dm_opt_value *b)
{
    for (int j = 0; j < DM_LAYER_MAX_OPTS; j++)
        if (a[j].none != b[j].none || a[j].v != b[j].v || a[j].n != b[j].n
            || memcmp(a[j].size, b[j].size, sizeof a[j].size) != 0)
            return 0;
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
            if (!o->def && o->type != DM_OPT_INT && o->type != DM_OPT_SIZE) {
                printf("  %s: only integer and size options may be required (%s)\n", r->name,
                       o->name);
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
        if (strcmp(o->name, "batch_first") == 0)   /* a model's batch comes first: only true */
            len += (size_t)snprintf(buf + len, cap - len, " batch_first=true");
        else if (o->def && all)
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
    /* the samples tried: rows, [C x L], [C x H x W]; a row takes the first it accepts */
    static const dm_layer_shape tries[] = { { 1, { 5 } }, { 2, { 5, 7 } }, { 3, { 5, 7, 7 } },
                                            { 2, { 7, 5 } } };
    static const char *const image_kinds = " Conv1d Conv2d ConvTranspose2d MaxPool1d MaxPool2d "
        "AvgPool1d AvgPool2d AdaptiveAvgPool2d AdaptiveMaxPool2d BatchNorm2d Dropout2d "
        "Embedding RNN LSTM GRU ";
    int n;
    const dm_layer_kind *k = dm_layer_kinds(&n);
    for (int i = 0; i < n; i++) {
        char spec[512], full[512], text[1200], msg[200], word[64];
        const char *name = k[i].name;
        spec_of(&k[i], 0, 5, spec, sizeof spec);
        spec_of(&k[i], 1, 5, full, sizeof full);
        const dm_layer_kind *kind = NULL, *kind2 = NULL;
        dm_opt_value opt[DM_LAYER_MAX_OPTS], opt2[DM_LAYER_MAX_OPTS];
        dm_layer_shape in, out, t[DM_LAYER_MAX_TENSORS];
        dm_layer_shape in2, out2, t2[DM_LAYER_MAX_TENSORS];
        int rc = -1;
        size_t try = 0;
        for (; rc != 0 && try < sizeof tries / sizeof tries[0]; try++) {
            in = tries[try];
            rc = dm_layer_parse(spec, &kind, opt, &in, &out, t);
        }
        in2 = in;
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
        tmodel tm = { 5, 1, { { 0 } } };
        if (in.ndim == 1) {
            snprintf(text, sizeof text, "deepmoon.model 1\nin_features=5\nlayer 0 %s\nend\n", spec);
        } else {
            tm.in = 0;
            tm.in_nd = in.ndim;
            int64_t *d = tm.in_shape;
            for (int j = 0; j < in.ndim; j++) d[j] = in.d[j];
            snprintf(text, sizeof text, "deepmoon.model 1\ninput_shape=%lld,%lld%s\nlayer 0 %s\nend\n",
                     (long long)d[0], (long long)d[1], in.ndim == 3 ? ",7" : "", spec);
        }
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
            int id = dm_model_input_shape(m, shape), same_in = id == in.ndim;
            for (int d = 0; same_in && d < id; d++) same_in = shape[d] == in.d[d];
            CHECKF(same_in, "%s: the input shape", name);
            int od = dm_model_output_shape(m, shape);
            int same = od == out.ndim;
            for (int d = 0; same && d < od; d++) same = shape[d] == out.d[d];
            CHECKF(same, "%s: the output shape is the shape rule's", name);
            snprintf(word, sizeof word, " %s ", name);
            if (strstr(image_kinds, word)) tm.l[0].spec = spec;
            else to_tlayer(&k[i], lo, &tm.l[0]);
            if (strcmp(name, "Embedding") == 0) tm.ids = 5;     /* num_embeddings=5 */
            const int64_t B = 4, nin = dm_model_in_features(m);
            float *x = malloc((size_t)(B * nin) * sizeof *x);
            float *y = malloc((size_t)(B * dm_model_out_features(m)) * sizeof *y);
            fill_input(&tm, x, B * nin, -2.0f, 2.0f, 7u + (unsigned)i);
            int64_t w = 0;
            double *want = reference(&tm, nt, x, B, &w);
            snprintf(msg, sizeof msg, "%s: has a reference in this test", name);
            CHECK(want != NULL, msg);
            if (want && w == dm_model_out_features(m)) {
                rc = dm_model_forward(m, x, B, y);
                int close = rc == 0;
                for (int64_t j = 0; close && j < B * w; j++) close = tu_close(y[j], want[j], 2e-5);
                CHECKF(close, "%s: runs as the reference (%s)", name, rc ? dm_errmsg() : "ok");
            } else if (want) {
                CHECKF(0, "%s: the reference gives %lld values a row", name, (long long)w);
            }
            free(want);
            free(x);
            free(y);
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
        { HEAD "layer 0 Conv7d\nend\n",
          "load_model: m.safetensors: line 3: unknown layer type 'Conv7d'" },
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
          "load_model: m.safetensors: line 2: expected 'in_features=N' or 'input_shape=N,N,...'" },
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
          "load_model: m.safetensors: line 4: Flatten: start_dim=1 flattens the batch dim (a "
          "model keeps it: start_dim >= 2)" },
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

/* image descriptions that must fail, each with its message, before any tensor is looked at */
#define IMG "deepmoon.model 1\ninput_shape=1,8,8\n"
static void test_hostile_images(void)
{
    static const struct { const char *meta, *msg; } cases[] = {
        { IMG "layer 0 Conv2d in_channels=3 out_channels=2 kernel_size=3\nend\n",
          "line 3: Conv2d: in_channels 3 does not match the 1 channels of the samples "
          "[1 x 8 x 8] before it" },
        { "deepmoon.model 1\nin_features=64\nlayer 0 Conv2d in_channels=1 out_channels=2 "
          "kernel_size=3\nend\n",
          "line 3: Conv2d: needs samples [C x H x W], got samples of [64]" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=9\nend\n",
          "line 3: Conv2d: kernel_size (9, 9) (dilation (1, 1)) is larger than the padded "
          "input [1 x 8 x 8]" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=3 kernel_size=3 groups=2\nend\n",
          "line 3: Conv2d: in_channels 1 is not divisible by groups 2" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3,3,3\nend\n",
          "line 3: Conv2d: kernel_size must be one size or 2, got 3" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3,3,3,3\nend\n",
          "line 3: Conv2d: kernel_size takes at most 3 sizes, got '3,3,3,3'" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3,\nend\n",
          "line 3: Conv2d: kernel_size must be a size (an integer or integers joined by "
          "commas), got '3,'" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=0\nend\n",
          "line 3: Conv2d: kernel_size must be in 1 .. 1073741824, got 0" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3 padding=full\nend\n",
          "line 3: Conv2d: padding must be valid or same, got 'full'" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3 stride=2 "
          "padding=same\nend\n",
          "line 3: Conv2d: padding=same needs stride 1, got stride 2" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3 padding=8 "
          "padding_mode=reflect\nend\n",
          "line 3: Conv2d: padding (8, 8) is too large for reflect padding of size 8" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3 stride=1073741824 "
          "padding=1073741824 padding_mode=replicate\nend\n",
          "line 3: Conv2d: padding (1073741824, 1073741824) makes padded samples of more than "
          "1073741824 values" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=none\nend\n",
          "line 3: Conv2d: kernel_size must be a size (an integer or integers joined by "
          "commas), got 'none'" },
        { IMG "layer 0 MaxPool2d kernel_size=2 return_indices=true\nend\n",
          "line 3: MaxPool2d: return_indices=true gives two outputs; a model's layers pass one" },
        { IMG "layer 0 MaxPool2d kernel_size=2 padding=2\nend\n",
          "line 3: MaxPool2d: padding (2, 2) must be at most half of kernel_size (2, 2)" },
        { IMG "layer 0 MaxPool2d kernel_size=9\nend\n",
          "line 3: MaxPool2d: the input [1 x 8 x 8] is too small for kernel_size (9, 9): "
          "output size 0" },
        { IMG "layer 0 MaxPool2d kernel_size=2,none\nend\n",
          "line 3: MaxPool2d: kernel_size must be a size (an integer or integers joined by "
          "commas), got '2,none'" },
        { IMG "layer 0 MaxPool1d kernel_size=2\nend\n",
          "line 3: MaxPool1d: needs samples [C x L], got samples of [1 x 8 x 8]" },
        { IMG "layer 0 AdaptiveMaxPool2d output_size=2 return_indices=true\nend\n",
          "line 3: AdaptiveMaxPool2d: return_indices=true gives two outputs; a model's layers "
          "pass one" },
        { IMG "layer 0 BatchNorm2d num_features=2\nend\n",
          "line 3: BatchNorm2d: num_features 2 does not match the 1 channels of the samples "
          "[1 x 8 x 8] before it" },
        { IMG "layer 0 Flatten start_dim=5\nend\n",
          "line 3: Flatten: start_dim must be in -4 .. 4, got 5" },
        { IMG "layer 0 Flatten start_dim=4 end_dim=3\nend\n",
          "line 3: Flatten: start_dim=4 comes after end_dim=3" },
        { IMG "layer 0 ConvTranspose2d in_channels=1 out_channels=2 kernel_size=3 "
          "stride=1073741824\nend\n",
          "line 3: ConvTranspose2d: the output samples [2 x 7516192771 x 7516192771] have more "
          "than 1073741824 values" },
        { IMG "layer 0 ConvTranspose2d in_channels=1 out_channels=2 kernel_size=3 "
          "output_padding=1\nend\n",
          "line 3: ConvTranspose2d: output_padding 1 must be smaller than either stride 1 or "
          "dilation 1" },
        { IMG "layer 0 ConvTranspose2d in_channels=1 out_channels=2 kernel_size=1 padding=5\nend\n",
          "line 3: ConvTranspose2d: the output size -2 is below 1 for the input [1 x 8 x 8]" },
        { IMG "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3\nend\n",
          "line 3: Conv2d: tensor '0.weight' is [3 x 2], expected [2 x 1 x 3 x 3]" },
        { "deepmoon.model 1\ninput_shape=1,0,8\nend\n",
          "line 2: model: input_shape sizes must be in 1 .. 1073741824, got 0" },
        { "deepmoon.model 1\ninput_shape=65536,65536\nend\n",
          "line 2: model: input_shape 65536,65536 has more than 1073741824 values" },
        { "deepmoon.model 1\ninput_shape=1,,8\nend\n",
          "line 2: model: input_shape must be sizes joined by commas, got '1,,8'" },
        { "deepmoon.model 1\ninput_shape=1,2,3,4,5,6,7,8\nend\n",
          "line 2: model: input_shape has more than 7 sizes" },
        { "deepmoon.model 1\ninput_shape=x\nend\n",
          "line 2: model: input_shape must be an integer, got 'x'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[400];
        snprintf(want, sizeof want, "load_model: m.safetensors: %s", cases[i].msg);
        dm_model *m = with_meta(cases[i].meta);
        CHECKF(m == NULL && strcmp(dm_errmsg(), want) == 0,
               "image case %zu: expected \"%s\", got %s \"%s\"", i, want,
               m ? "success" : "error", m ? "" : dm_errmsg());
        dm_model_free(m);
    }
    /* a flat input of C*H*W floats is one [C x H x W] sample */
    dm_model *m = with_meta(IMG "layer - MaxPool2d kernel_size=2\nlayer - Flatten\nend\n");
    int64_t shape[DM_MAX_DIMS];
    CHECK(m && dm_model_input_shape(m, shape) == 3 && shape[0] == 1 && shape[1] == 8
          && shape[2] == 8 && dm_model_in_features(m) == 64 && dm_model_out_features(m) == 16
          && dm_model_output_shape(m, shape) == 1 && shape[0] == 16,
          "dm_model_input_shape gives [1 x 8 x 8], in_features 64");
    float x[2 * 64], y[2 * 16];
    for (int i = 0; i < 128; i++) x[i] = (float)i;
    CHECK(m && dm_model_forward(m, x, 2, y) == 0 && y[0] == 9 && y[1] == 11 && y[16] == 73,
          "rows of 64 floats are viewed as [1 x 8 x 8]");
    dm_model_free(m);
}

/* image descriptions with random option values (a small mutation fuzz, seeded): each loads
   or fails with a message, and each that loads runs on 2 samples (a Conv2d whose replicate
   padding of 2^30 asked dm_pad for 300 GB was found so) */
static unsigned mut_seed = 12345;
static unsigned mut_rand(void)
{
    mut_seed = mut_seed * 1103515245u + 12345u;
    return (mut_seed >> 8) & 0xffffff;
}

static void test_image_mutations(void)
{
    static const char *const lines[] = {
        "layer 0 Conv2d in_channels=1 out_channels=2 kernel_size=3,3 stride=%s padding=%s "
        "dilation=%s groups=1 bias=true padding_mode=%s",
        "layer - MaxPool2d kernel_size=%s stride=%s padding=%s dilation=%s "
        "return_indices=false ceil_mode=%s",
        "layer - AvgPool2d kernel_size=%s stride=%s padding=%s ceil_mode=%s "
        "count_include_pad=%s divisor_override=%s",
        "layer - AdaptiveAvgPool2d output_size=%s",
        "layer - AdaptiveMaxPool2d output_size=%s",
        "layer - Flatten start_dim=%s end_dim=%s",
        "layer - MaxPool1d kernel_size=%s stride=%s padding=%s dilation=%s "
        "return_indices=false ceil_mode=%s",
        "layer - AvgPool1d kernel_size=%s stride=%s padding=%s ceil_mode=%s count_include_pad=%s",
        "layer - BatchNorm2d num_features=%s affine=false track_running_stats=false",
        "layer 1 ConvTranspose2d in_channels=%s out_channels=2 kernel_size=2,2 stride=%s "
        "padding=%s output_padding=%s groups=1 bias=true dilation=%s padding_mode=zeros",
    };
    static const char *const small[] = { "1", "2", "3", "1,2", "2,1", "0", "none", "false",
        "true", "zeros", "reflect", "circular", "replicate", "same", "valid" };
    static const char *const any[] = { "1", "2", "3", "0", "-1", "none", "same", "valid", "1,2",
        "2,1", "3,3,3", "1073741824", "5", "7", "9", "true", "false", "zeros", "reflect",
        "replicate", "circular", "4", "2,none", "none,2", "", "-2", "100000", "33", "-3" };
    static const char *const shapes[] = { "1,8,8", "1,5,7", "1,1,1", "2,3,4", "1,64", "64",
                                          "1,2,3,4" };
    dm_named_tensors *nt = dm_named_tensors_new();
    dm_tensor *w = dm_tensor_full(4, (int64_t[]){ 2, 1, 3, 3 }, 0.1f);
    dm_tensor *b = dm_tensor_full(1, (int64_t[]){ 2 }, 0.1f);
    dm_tensor *w1 = dm_tensor_full(4, (int64_t[]){ 1, 2, 2, 2 }, 0.1f);
    dm_named_tensors_add(nt, "0.weight", w);
    dm_named_tensors_add(nt, "0.bias", b);
    dm_named_tensors_add(nt, "1.weight", w1);
    dm_named_tensors_add(nt, "1.bias", b);
    dm_tensor_release(w);
    dm_tensor_release(b);
    dm_tensor_release(w1);
    float *x = malloc(sizeof(float) * 2 * 64), *y = NULL;
    for (int i = 0; i < 128; i++) x[i] = (float)(i % 17) - 8;
    int loaded = 0, ran = 0, clean = 1;
    for (int it = 0; it < 10000; it++) {
        char text[4096];
        int n = snprintf(text, sizeof text, "deepmoon.model 1\ninput_shape=%s\n",
                         shapes[mut_rand() % 7]);
        for (int l = 0, nl = 1 + (int)(mut_rand() % 3); l < nl; l++) {
            const char *v[6];
            for (int k = 0; k < 6; k++)
                v[k] = mut_rand() % 4 ? small[mut_rand() % 15]
                                      : any[mut_rand() % (sizeof any / sizeof any[0])];
            n += snprintf(text + n, sizeof text - (size_t)n,
                          lines[mut_rand() % (sizeof lines / sizeof lines[0])],
                          v[0], v[1], v[2], v[3], v[4], v[5]);
            n += snprintf(text + n, sizeof text - (size_t)n, "\n");
        }
        snprintf(text + n, sizeof text - (size_t)n, "end\n");
        dm_named_tensors_set_meta(nt, "deepmoon.model", text);
        dm_model *m = dm_model_from_named(nt, "mut");
        if (!m) {
            if (strncmp(dm_errmsg(), "load_model: mut: line ", 22) != 0) {
                printf("  mutation %d: message '%s'\n", it, dm_errmsg());
                clean = 0;
            }
            continue;
        }
        loaded++;
        int64_t nout = dm_model_out_features(m);
        y = realloc(y, sizeof(float) * 2 * (size_t)nout);
        if (dm_model_forward(m, x, 2, y) == 0) ran++;
        else if (!strstr(dm_errmsg(), "more than 1 value per channel")) {
            printf("  mutation %d: a loaded model fails: %s\n%s", it, dm_errmsg(), text);
            clean = 0;
        }
        dm_model_free(m);
    }
    free(x);
    free(y);
    dm_named_tensors_free(nt);
    CHECKF(clean && loaded > 100 && ran > 80,
           "10000 mutated image descriptions: %d load, %d run, the rest fail with a message",
           loaded, ran);
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

/* ---- the dtype forms of the C API --------------------------------------------------------- */

static void test_forward_dtype(void)
{
    /* dm_tensor_from_data_dtype: every dtype copied exactly; bool bytes normalised */
    int64_t sh[2] = { 2, 2 };
    int64_t iv[4] = { INT64_MIN, INT64_MAX, -1, (INT64_C(1) << 53) + 1 };
    dm_tensor *t = dm_tensor_from_data_dtype(2, sh, iv, DM_INT64);
    CHECK(t && t->dtype == DM_INT64 && memcmp(dm_data_ptr(t), iv, sizeof iv) == 0,
          "from_data_dtype: int64 exact");
    dm_tensor_release(t);
    double dv[4] = { -0.0, 5e-324, 1.7976931348623157e308, 0.1 };
    t = dm_tensor_from_data_dtype(2, sh, dv, DM_FLOAT64);
    CHECK(t && t->dtype == DM_FLOAT64 && memcmp(dm_data_ptr(t), dv, sizeof dv) == 0,
          "from_data_dtype: float64 exact");
    dm_tensor_release(t);
    unsigned char bv[4] = { 0, 1, 2, 255 }, want_b[4] = { 0, 1, 1, 1 };
    t = dm_tensor_from_data_dtype(2, sh, bv, DM_BOOL);
    CHECK(t && t->dtype == DM_BOOL && memcmp(dm_data_ptr(t), want_b, 4) == 0,
          "from_data_dtype: bool bytes other than 0 are true");
    dm_tensor_release(t);
    t = dm_tensor_from_data_dtype(2, sh, bv, DM_UINT8);
    CHECK(t && t->dtype == DM_UINT8 && memcmp(dm_data_ptr(t), bv, 4) == 0,
          "from_data_dtype: uint8 exact");
    dm_tensor_release(t);
    int64_t sh0[2] = { 0, 3 };
    t = dm_tensor_from_data_dtype(2, sh0, NULL, DM_INT64);
    CHECK(t && dm_numel(t) == 0, "from_data_dtype: empty from NULL");
    dm_tensor_release(t);
    t = dm_tensor_from_data_dtype(0, NULL, dv, DM_FLOAT64);
    CHECK(t && t->ndim == 0 && ((double *)dm_data_ptr(t))[0] == 0.0, "from_data_dtype: 0-d");
    dm_tensor_release(t);
    CHECK(dm_tensor_from_data_dtype(2, sh, dv, (dm_dtype)17) == NULL
          && strcmp(dm_errmsg(), "tensor_from_data_dtype: unknown dtype 17") == 0,
          "from_data_dtype: unknown dtype");
    CHECK(dm_tensor_from_data_dtype(2, sh, NULL, DM_INT64) == NULL
          && strcmp(dm_errmsg(), "tensor_from_data_dtype: data is NULL") == 0,
          "from_data_dtype: NULL data");

    /* dm_model_forward_dtype on an Embedding model: int64 ids in, float64 values out */
    tmodel em = { 0, 1, { { .spec = "Embedding num_embeddings=4 embedding_dim=2" } }, 1, { 3 } };
    char text[2048];
    dm_named_tensors *nt = describe(&em, text, sizeof text);
    dm_model *mod = dm_model_from_named(nt, "emb");
    CHECK(mod != NULL, "forward_dtype: an Embedding model loads");
    float yf[3 * 2];
    double yd[3 * 2];
    int64_t ids[3] = { 4, 1, 3 };
    unsigned char ids8[3] = { 4, 1, 3 };
    CHECK(dm_model_forward(mod, (float[]){ 4, 1, 3 }, 1, yf) == 0, "forward_dtype: float32");
    CHECK(dm_model_forward_dtype(mod, ids, DM_INT64, 1, yd, DM_FLOAT64) == 0,
          "forward_dtype: int64 in, float64 out");
    int same = 1;
    for (int i = 0; i < 6; i++) same &= yd[i] == (double)yf[i];
    CHECK(same, "forward_dtype: the same values as dm_model_forward");
    float yf2[6];
    CHECK(dm_model_forward_dtype(mod, ids8, DM_UINT8, 1, yf2, DM_FLOAT32) == 0
          && memcmp(yf2, yf, sizeof yf) == 0, "forward_dtype: uint8 in, float32 out");
    CHECK_ERR(dm_model_forward_dtype(mod, (int64_t[]){ 1, 5, 3 }, DM_INT64, 1, yd, DM_FLOAT64),
              "Embedding: input 5 (sample 1, position 2) is not a token id: ids are integers "
              "in 1 .. 4");
    CHECK_ERR(dm_model_forward_dtype(mod, ids, (dm_dtype)9, 1, yd, DM_FLOAT64),
              "model_forward_dtype: unknown input dtype 9");
    CHECK_ERR(dm_model_forward_dtype(mod, ids, DM_INT64, 1, yd, (dm_dtype)-1),
              "model_forward_dtype: unknown output dtype -1");
    CHECK_ERR(dm_model_forward_dtype(mod, NULL, DM_INT64, 1, yd, DM_FLOAT64),
              "model_forward_dtype: input is NULL");
    CHECK_ERR(dm_model_forward_dtype(mod, ids, DM_INT64, -1, yd, DM_FLOAT64),
              "model_forward_dtype: batch must be in 0 .. 3074457345618258602, got -1");
    dm_model_free(mod);
    dm_named_tensors_free(nt);
}

int main(void)
{
    tu_live start = tu_live_now();
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/dm_test_model_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }

    test_layers();
    test_recurrent();
    test_file_and_forward();
    test_hostile();
    test_hostile_images();
    test_image_mutations();
    test_damaged();
    test_saved_v1();
    test_registry_rows();
    test_every_row();
    test_layer_parse();
    test_large_layer();
    test_forward_dtype();

    CHECK(rmdir(tmpdir) == 0, "no files left in the temporary directory");
    CHECK_NO_LEAKS(start);
    return TEST_END("test_model");
}
