/* registry.c -- the layer registry: one row per layer kind a model file can hold.
 *
 * A row says everything the rest of deepmoon needs to save, check, rebuild and run a kind
 * (deepmoon.h, "inference", has the fields): its options as the text writes them (PyTorch's
 * argument names and defaults), its tensors under PyTorch's state_dict names, a shape rule
 * and an eval-mode forward.  model.c reads and runs descriptions with the rows and
 * lua/deepmoon/nn/serialize.lua writes and rebuilds them from the same rows (through
 * deepmoon.core._layer_kinds), so nothing else lists the kinds.  Adding one: core/README.md.
 *
 * Shapes are of one sample (the batch dim left out): a row [width] (BatchNorm1d), an image
 * [C x L] / [C x H x W] (the convolutions, pools, BatchNorm2d), token ids [T] (Embedding),
 * a sequence [T x F] (RNN, LSTM, GRU), any rank for Linear (its last dim); sizes such as
 * kernel_size are DM_OPT_SIZE options ("3" or "3,2").  Shape rules check and report; they
 * never allocate, so a description is checked against its tensors before anything of its
 * size exists. */
#include "deepmoon.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_WIDTH ((double)((int64_t)1 << 30))
#define MAX_SAMPLE ((int64_t)1 << 30)         /* values in one sample (model.c checks outputs) */

/* ---- shape helpers ------------------------------------------------------------------ */

static void set1(dm_layer_shape *s, int64_t a) { s->ndim = 1; s->d[0] = a; }
static void set2(dm_layer_shape *s, int64_t a, int64_t b) { s->ndim = 2; s->d[0] = a; s->d[1] = b; }
static int64_t iv(const dm_opt_value *o) { return (int64_t)o->v; }

/* the sample flowing in must be a row of n values, named by the option key; an unknown
   input becomes that row (this layer fixes the model's input) */
static int need_row(dm_layer_shape *in, const char *key, int64_t n)
{
    if (in->ndim < 0) set1(in, n);
    if (in->ndim != 1) {
        char s[128];
        dm_seterr("%s %lld needs rows of values, got samples of %s", key, (long long)n,
                  dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    if (in->d[0] != n) {
        dm_seterr("%s %lld does not match the width %lld before it", key, (long long)n,
                  (long long)in->d[0]);
        return -1;
    }
    return 0;
}

static int need_planes(const dm_layer_shape *in, const char *key, int64_t c, int sp);

/* any sample: out = in */
static int same_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                      dm_layer_shape *t)
{
    (void)opt; (void)t;
    *out = *in;
    return 0;
}

/* a dim option (1-based, of [batch x sample...]) must exist in the input: in 1 .. rank or
   -rank .. -1 */
static int check_dim(const char *key, const dm_opt_value *o, const dm_layer_shape *in)
{
    if (o->none || in->ndim < 0) return 0;
    int64_t rank = in->ndim + 1, d = iv(o);
    if (d < -rank || d > rank) {
        dm_seterr("%s must be in %lld .. %lld, got %lld", key, (long long)-rank,
                  (long long)rank, (long long)d);
        return -1;
    }
    return 0;
}

/* 1-based dim as written (or none) -> 0-based for x; none is PyTorch's implicit choice
   (_get_softmax_dim): the first dim for 0-, 1- and 3-D inputs, else the second */
static int dim0(const dm_opt_value *o, int ndim)
{
    if (o->none) return (ndim == 0 || ndim == 1 || ndim == 3) ? 0 : 1;
    int d = (int)o->v;
    return d > 0 ? d - 1 : d + ndim;
}

/* ---- Linear --------------------------------------------------------------------------- */

/* options: in_features, out_features, bias; tensors: weight [out x in], bias [out].  As
   PyTorch's Linear, on the last dim of a sample of any rank: [... x in] -> [... x out] (a row
   [in], or [T x in] after a recurrent layer) */
static int linear_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                        dm_layer_shape *t)
{
    int64_t nin = iv(&opt[0]), nout = iv(&opt[1]);
    if (in->ndim > 1) {
        if (in->d[in->ndim - 1] != nin) {
            char s[128];
            dm_seterr("in_features %lld does not match the last dim of the samples %s before it",
                      (long long)nin, dm_shape_str(in->ndim, in->d, s, sizeof s));
            return -1;
        }
    } else if (need_row(in, "in_features", nin)) {
        return -1;
    }
    set2(&t[0], nout, nin);
    set1(&t[1], nout);
    *out = *in;
    out->d[out->ndim - 1] = nout;
    return 0;
}

static dm_tensor *linear_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)opt;
    return dm_linear(x, t[0], t[1]);    /* [B x ... x in] @ [out x in]^T + [out] -> [B x ... x out] */
}

/* ---- activations ---------------------------------------------------------------------- */

#define UNARY(fn, op) \
    static dm_tensor *fn(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x) \
    { (void)opt; (void)t; return dm_unary(op, x); }
UNARY(relu_forward, DM_UN_RELU)
UNARY(sigmoid_forward, DM_UN_SIGMOID)
UNARY(tanh_forward, DM_UN_TANH)
UNARY(selu_forward, DM_UN_SELU)

/* Identity, Dropout (eval mode), Flatten of a row: the input itself */
static dm_tensor *pass_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)opt; (void)t;
    return dm_tensor_retain(x);
}

static dm_tensor *leaky_relu_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return dm_leaky_relu(x, (float)opt[0].v);
}

static dm_tensor *elu_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return dm_elu(x, (float)opt[0].v);
}

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

/* approximate: 0 none (the exact erf form), 1 tanh */
static dm_tensor *gelu_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return opt[0].v != 0 ? gelu_tanh(x) : dm_unary(DM_UN_GELU, x);
}

/* Softmax, LogSoftmax: dim must exist in [batch x sample...] */
static int softmax_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                         dm_layer_shape *t)
{
    if (check_dim("dim", &opt[0], in)) return -1;
    return same_shape(opt, in, out, t);
}

static dm_tensor *softmax_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return dm_softmax(x, dim0(&opt[0], x->ndim));
}

static dm_tensor *log_softmax_forward(const dm_opt_value *opt, dm_tensor *const *t,
                                      dm_tensor *x)
{
    (void)t;
    return dm_log_softmax(x, dim0(&opt[0], x->ndim));
}

/* ---- Flatten -------------------------------------------------------------------------- */

/* options: start_dim, end_dim (1-based dims of [batch x sample...]); the batch dim stays, so
   start_dim must name a sample dim: [batch x a x b x c] with start_dim=3 -> [batch x a x bc] */
static int flatten_dims(const dm_opt_value *opt, int rank, int *s, int *e)
{
    *s = dim0(&opt[0], rank);
    *e = dim0(&opt[1], rank);
    if (*s == 0) {
        dm_seterr("start_dim=%lld flattens the batch dim (a model keeps it: start_dim >= 2)",
                  (long long)iv(&opt[0]));
        return -1;
    }
    if (*s > *e && rank > 1) {
        dm_seterr("start_dim=%lld comes after end_dim=%lld", (long long)iv(&opt[0]),
                  (long long)iv(&opt[1]));
        return -1;
    }
    return 0;
}

static int flatten_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                         dm_layer_shape *t)
{
    (void)t;
    if (in->ndim < 0) {
        if (iv(&opt[0]) == 1 || iv(&opt[1]) == 1) {
            dm_seterr("start_dim=%lld flattens the batch dim (a model keeps it: start_dim >= 2)",
                      (long long)iv(&opt[0]));
            return -1;
        }
        out->ndim = -1;
        return 0;
    }
    if (check_dim("start_dim", &opt[0], in) || check_dim("end_dim", &opt[1], in)) return -1;
    int s, e;
    if (flatten_dims(opt, in->ndim + 1, &s, &e)) return -1;
    /* dims of the sample: s - 1 .. e - 1 joined */
    out->ndim = 0;
    for (int d = 0; d < in->ndim; d++) {
        if (d + 1 > s && d + 1 <= e) out->d[out->ndim - 1] *= in->d[d];
        else out->d[out->ndim++] = in->d[d];
    }
    return 0;
}

static dm_tensor *flatten_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    int s, e;
    if (flatten_dims(opt, x->ndim, &s, &e)) return NULL;
    return s >= e ? dm_tensor_retain(x) : dm_flatten(x, s, e);
}

/* ---- BatchNorm1d ---------------------------------------------------------------------- */

/* options: num_features, eps, momentum, affine, track_running_stats; tensors: weight, bias,
   running_mean, running_var [num_features], num_batches_tracked [].  Samples [C] or [C x L]
   (after a Conv1d); an unknown input becomes [C] */
static int batch_norm_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                            dm_layer_shape *t)
{
    int64_t c = iv(&opt[0]);
    if (in->ndim == 2 ? need_planes(in, "num_features", c, 1) : need_row(in, "num_features", c))
        return -1;
    for (int i = 0; i < 4; i++) set1(&t[i], c);
    t[4].ndim = 0;
    *out = *in;
    return 0;
}

/* eval mode: the running statistics; without them, the batch's own (PyTorch's rule) */
static dm_tensor *batch_norm_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    return dm_batch_norm(x, t[2], t[3], t[0], t[1], t[2] == NULL, 0.1, opt[1].v);
}

/* ---- images: samples [C x L] or [C x H x W] ------------------------------------------ */

static const char *const planes_text[] = { "", "[C x L]", "[C x H x W]" };

/* the sample flowing in must be [C x spatial...] with sp spatial dims and, when c > 0, c
   channels (key names c); an unknown input is an error: these layers cannot tell the
   model's input (save_model takes {input_shape = ...}) */
static int need_planes(const dm_layer_shape *in, const char *key, int64_t c, int sp)
{
    char s[128];
    if (in->ndim < 0) {
        dm_seterr("needs to know its input, samples %s, and no layer before it fixes them",
                  planes_text[sp]);
        return -1;
    }
    if (in->ndim != sp + 1) {
        dm_seterr("needs samples %s, got samples of %s", planes_text[sp],
                  dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    if (c > 0 && in->d[0] != c) {
        dm_seterr("%s %lld does not match the %lld channels of the samples %s before it", key,
                  (long long)c, (long long)in->d[0], dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    return 0;
}

/* a SIZE option as sp sizes: one for every dim, or exactly sp; no "none" entries */
static int sizes(const char *key, const dm_opt_value *o, int sp, int64_t *out)
{
    if (o->n != 1 && o->n != sp) {
        dm_seterr("%s must be one size or %d, got %d", key, sp, o->n);
        return -1;
    }
    for (int i = 0; i < sp; i++) {
        out[i] = o->size[o->n == 1 ? 0 : i];
        if (out[i] < 0) {
            dm_seterr("%s cannot have none entries", key);
            return -1;
        }
    }
    return 0;
}

/* "(3, 2)" of sp sizes, for messages */
static const char *tup(const int64_t *v, int sp, char *buf, size_t cap)
{
    if (sp == 1) snprintf(buf, cap, "(%lld,)", (long long)v[0]);
    else snprintf(buf, cap, "(%lld, %lld)", (long long)v[0], (long long)v[1]);
    return buf;
}

/* ---- Conv1d, Conv2d --------------------------------------------------------------------- */

/* options: in_channels out_channels kernel_size stride padding dilation groups bias
   padding_mode (PyTorch's order); tensors: weight [out x in/groups x k...], bias [out] */
enum { CV_IN, CV_OUT, CV_K, CV_S, CV_P, CV_D, CV_G, CV_BIAS, CV_MODE };
enum { PAD_WORD_VALID = 0, PAD_WORD_SAME = 1 };

typedef struct {
    int64_t k[2], s[2], d[2];
    int64_t lo[2], hi[2];       /* padding before and after, per spatial dim */
} conv_geom;

/* kernel_size, stride, dilation and the padding on each side ("same": PyTorch's split, the
   odd one on the right) */
static int conv_geometry(const dm_opt_value *opt, int sp, conv_geom *g)
{
    if (sizes("kernel_size", &opt[CV_K], sp, g->k) || sizes("stride", &opt[CV_S], sp, g->s)
        || sizes("dilation", &opt[CV_D], sp, g->d))
        return -1;
    const dm_opt_value *p = &opt[CV_P];
    if (p->n == 0) {
        for (int i = 0; i < sp; i++) {
            if (p->v == PAD_WORD_SAME && g->s[i] != 1) {
                dm_seterr("padding=same needs stride 1, got stride %lld", (long long)g->s[i]);
                return -1;
            }
            int64_t total = p->v == PAD_WORD_SAME ? g->d[i] * (g->k[i] - 1) : 0;
            g->lo[i] = total / 2;
            g->hi[i] = total - total / 2;
        }
        return 0;
    }
    int64_t pad[2];
    if (sizes("padding", p, sp, pad)) return -1;
    for (int i = 0; i < sp; i++) g->lo[i] = g->hi[i] = pad[i];
    return 0;
}

static int conv_shape_sp(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                         dm_layer_shape *t, int sp)
{
    int64_t cin = iv(&opt[CV_IN]), cout = iv(&opt[CV_OUT]), groups = iv(&opt[CV_G]);
    conv_geom g;
    char b1[64], b2[64];
    if (cin % groups || cout % groups) {
        dm_seterr("%s %lld is not divisible by groups %lld", cin % groups ? "in_channels"
                  : "out_channels", (long long)(cin % groups ? cin : cout), (long long)groups);
        return -1;
    }
    if (conv_geometry(opt, sp, &g) || need_planes(in, "in_channels", cin, sp)) return -1;
    int mode = (int)opt[CV_MODE].v;            /* zeros reflect replicate circular */
    /* the padded input (dm_pad makes it for the modes other than zeros) is a sample too */
    int64_t padded = cin;
    for (int i = 0; i < sp; i++) {
        int64_t n = in->d[1 + i] + g.lo[i] + g.hi[i];    /* each term at most 2^30 */
        if (n > MAX_SAMPLE / padded) {
            dm_seterr("padding %s makes padded samples of more than %lld values",
                      tup(g.lo, sp, b1, sizeof b1), (long long)MAX_SAMPLE);
            return -1;
        }
        padded *= n;
    }
    out->ndim = sp + 1;
    out->d[0] = cout;
    for (int i = 0; i < sp; i++) {
        int64_t n = in->d[1 + i], ek = g.d[i] * (g.k[i] - 1) + 1;
        if ((mode == 1 && (g.lo[i] >= n || g.hi[i] >= n))
            || (mode == 3 && (g.lo[i] > n || g.hi[i] > n))) {
            dm_seterr("padding (%lld, %lld) is too large for %s padding of size %lld",
                      (long long)g.lo[i], (long long)g.hi[i], mode == 1 ? "reflect" : "circular",
                      (long long)n);
            return -1;
        }
        if (n + g.lo[i] + g.hi[i] < ek) {
            dm_seterr("kernel_size %s (dilation %s) is larger than the padded input %s",
                      tup(g.k, sp, b1, sizeof b1), tup(g.d, sp, b2, sizeof b2),
                      dm_shape_str(in->ndim, in->d, (char[128]){ 0 }, 128));
            return -1;
        }
        out->d[1 + i] = (n + g.lo[i] + g.hi[i] - ek) / g.s[i] + 1;
    }
    t[0].ndim = sp + 2;
    t[0].d[0] = cout;
    t[0].d[1] = cin / groups;
    for (int i = 0; i < sp; i++) t[0].d[2 + i] = g.k[i];
    set1(&t[1], cout);
    return 0;
}

static int conv1d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                        dm_layer_shape *t)
{
    return conv_shape_sp(opt, in, out, t, 1);
}

static int conv2d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                        dm_layer_shape *t)
{
    return conv_shape_sp(opt, in, out, t, 2);
}

/* as nn.Conv1d/Conv2d's forward: a padding_mode other than zeros pads with F.pad first and
   convolves unpadded; "same" with an odd total pads the extra zero on the right first */
static dm_tensor *conv_forward_sp(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x,
                                  int sp)
{
    conv_geom g;
    if (conv_geometry(opt, sp, &g)) return NULL;
    int mode = (int)opt[CV_MODE].v, extra = 0;
    int64_t pads[4] = { 0 }, conv_pad[2];
    for (int i = 0; i < sp; i++) {
        int64_t l = mode ? g.lo[i] : 0, r = mode ? g.hi[i] : g.hi[i] - g.lo[i];
        pads[2 * (sp - 1 - i)] = l;             /* F.pad's order: the last dim first */
        pads[2 * (sp - 1 - i) + 1] = r;
        extra |= l != 0 || r != 0;
        conv_pad[i] = mode ? 0 : g.lo[i];
    }
    static const int modes[] = { DM_PAD_CONSTANT, DM_PAD_REFLECT, DM_PAD_REPLICATE,
                                 DM_PAD_CIRCULAR };
    dm_tensor *xp = extra ? dm_pad(x, 2 * sp, pads, modes[mode], 0) : dm_tensor_retain(x);
    if (!xp) return NULL;
    dm_tensor *y = sp == 1 ? dm_conv1d(xp, t[0], t[1], g.s, conv_pad, g.d, iv(&opt[CV_G]))
                           : dm_conv2d(xp, t[0], t[1], g.s, conv_pad, g.d, iv(&opt[CV_G]));
    dm_tensor_release(xp);
    return y;
}

static dm_tensor *conv1d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    return conv_forward_sp(opt, t, x, 1);
}

static dm_tensor *conv2d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    return conv_forward_sp(opt, t, x, 2);
}

/* ---- ConvTranspose2d -------------------------------------------------------------------- */

/* options: in_channels out_channels kernel_size stride padding output_padding groups bias
   dilation padding_mode (zeros only); tensors: weight [in x out/groups x kh x kw], bias [out] */
enum { CT_IN, CT_OUT, CT_K, CT_S, CT_P, CT_OP, CT_G, CT_BIAS, CT_D };

typedef struct { int64_t k[2], s[2], p[2], op[2], d[2]; } convt_geom;

static int convt_geometry(const dm_opt_value *opt, convt_geom *g)
{
    if (sizes("kernel_size", &opt[CT_K], 2, g->k) || sizes("stride", &opt[CT_S], 2, g->s)
        || sizes("padding", &opt[CT_P], 2, g->p) || sizes("output_padding", &opt[CT_OP], 2, g->op)
        || sizes("dilation", &opt[CT_D], 2, g->d))
        return -1;
    for (int i = 0; i < 2; i++)
        if (g->op[i] >= g->s[i] && g->op[i] >= g->d[i]) {
            dm_seterr("output_padding %lld must be smaller than either stride %lld or "
                      "dilation %lld", (long long)g->op[i], (long long)g->s[i],
                      (long long)g->d[i]);
            return -1;
        }
    return 0;
}

static int convt_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                       dm_layer_shape *t)
{
    int64_t cin = iv(&opt[CT_IN]), cout = iv(&opt[CT_OUT]), groups = iv(&opt[CT_G]);
    convt_geom g;
    if (cin % groups || cout % groups) {
        dm_seterr("%s %lld is not divisible by groups %lld", cin % groups ? "in_channels"
                  : "out_channels", (long long)(cin % groups ? cin : cout), (long long)groups);
        return -1;
    }
    if (convt_geometry(opt, &g) || need_planes(in, "in_channels", cin, 2)) return -1;
    out->ndim = 3;
    out->d[0] = cout;
    for (int i = 0; i < 2; i++) {
        /* every term is at most 2^30: no overflow */
        int64_t o = (in->d[1 + i] - 1) * g.s[i] - 2 * g.p[i] + g.d[i] * (g.k[i] - 1)
                    + g.op[i] + 1;
        if (o < 1) {
            char sh[128];
            dm_seterr("the output size %lld is below 1 for the input %s", (long long)o,
                      dm_shape_str(in->ndim, in->d, sh, sizeof sh));
            return -1;
        }
        out->d[1 + i] = o;
    }
    t[0].ndim = 4;
    t[0].d[0] = cin;
    t[0].d[1] = cout / groups;
    t[0].d[2] = g.k[0];
    t[0].d[3] = g.k[1];
    set1(&t[1], cout);
    return 0;
}

static dm_tensor *convt_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    convt_geom g;
    if (convt_geometry(opt, &g)) return NULL;
    return dm_conv_transpose2d(x, t[0], t[1], g.s, g.p, g.op, g.d, iv(&opt[CT_G]));
}

/* ---- pooling ------------------------------------------------------------------------------ */

/* PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the input
   or the left padding */
static int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, int ceil)
{
    int64_t num = in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
    int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil && (o - 1) * s >= in + pad) o--;
    return o;
}

/* the windows of MaxPool (dilation d) and AvgPool (d NULL); stride none is kernel_size;
   padding at most half the kernel */
typedef struct { int64_t k[2], s[2], p[2], d[2]; } pool_geom;

static int pool_geometry(const dm_opt_value *k, const dm_opt_value *s, const dm_opt_value *p,
                         const dm_opt_value *d, int sp, pool_geom *g)
{
    char b1[64], b2[64];
    if (sizes("kernel_size", k, sp, g->k)) return -1;
    if (s->none) memcpy(g->s, g->k, sizeof g->s);
    else if (sizes("stride", s, sp, g->s)) return -1;
    if (sizes("padding", p, sp, g->p)) return -1;
    if (d && sizes("dilation", d, sp, g->d)) return -1;
    for (int i = 0; i < sp; i++) {
        if (!d) g->d[i] = 1;
        if (g->p[i] > g->k[i] / 2) {
            dm_seterr("padding %s must be at most half of kernel_size %s",
                      tup(g->p, sp, b1, sizeof b1), tup(g->k, sp, b2, sizeof b2));
            return -1;
        }
    }
    return 0;
}

/* the output sample of the pool g with ceil over in ([C x L] or [C x H x W]) */
static int pool_shape_of(const pool_geom *g, int sp, int ceil, dm_layer_shape *in,
                         dm_layer_shape *out)
{
    if (need_planes(in, NULL, 0, sp)) return -1;
    *out = *in;
    for (int i = 0; i < sp; i++) {
        int64_t o = pool_out(in->d[1 + i], g->k[i], g->p[i], g->s[i], g->d[i], ceil);
        if (o < 1) {
            char b1[64], sh[128];
            dm_seterr("the input %s is too small for kernel_size %s: output size %lld",
                      dm_shape_str(in->ndim, in->d, sh, sizeof sh), tup(g->k, sp, b1, sizeof b1),
                      (long long)o);
            return -1;
        }
        out->d[1 + i] = o;
    }
    return 0;
}

/* MaxPool options: kernel_size stride padding dilation return_indices ceil_mode */
static int maxpool_shape_sp(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                            int sp)
{
    pool_geom g;
    if (opt[4].v != 0) {
        dm_seterr("return_indices=true gives two outputs; a model's layers pass one");
        return -1;
    }
    if (pool_geometry(&opt[0], &opt[1], &opt[2], &opt[3], sp, &g)) return -1;
    return pool_shape_of(&g, sp, opt[5].v != 0, in, out);
}

static int maxpool1d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                           dm_layer_shape *t)
{
    (void)t;
    return maxpool_shape_sp(opt, in, out, 1);
}

static int maxpool2d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                           dm_layer_shape *t)
{
    (void)t;
    return maxpool_shape_sp(opt, in, out, 2);
}

/* the 1-d pools run the 2-d op on [N x C x 1 x L], as F.max_pool1d does */
static dm_tensor *pool1d_as_2d(dm_tensor *x, const pool_geom *g, int is_max, int ceil,
                               int count_include_pad)
{
    int64_t k[2] = { 1, g->k[0] }, s[2] = { 1, g->s[0] }, p[2] = { 0, g->p[0] },
            d[2] = { 1, g->d[0] };
    dm_tensor *x4 = dm_unsqueeze(x, x->ndim - 1), *y4 = NULL, *y = NULL;
    if (x4) y4 = is_max ? dm_max_pool2d(x4, k, s, p, d, ceil, NULL)
                        : dm_avg_pool2d(x4, k, s, p, ceil, count_include_pad, 0);
    if (y4) y = dm_squeeze(y4, y4->ndim - 2);
    dm_tensor_release(x4);
    dm_tensor_release(y4);
    return y;
}

static dm_tensor *maxpool_forward_sp(const dm_opt_value *opt, dm_tensor *x, int sp)
{
    pool_geom g;
    if (pool_geometry(&opt[0], &opt[1], &opt[2], &opt[3], sp, &g)) return NULL;
    if (sp == 1) return pool1d_as_2d(x, &g, 1, opt[5].v != 0, 0);
    return dm_max_pool2d(x, g.k, g.s, g.p, g.d, opt[5].v != 0, NULL);
}

static dm_tensor *maxpool1d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return maxpool_forward_sp(opt, x, 1);
}

static dm_tensor *maxpool2d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return maxpool_forward_sp(opt, x, 2);
}

/* AvgPool options: kernel_size stride padding ceil_mode count_include_pad [divisor_override] */
static int avgpool_shape_sp(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                            int sp)
{
    pool_geom g;
    if (pool_geometry(&opt[0], &opt[1], &opt[2], NULL, sp, &g)) return -1;
    return pool_shape_of(&g, sp, opt[3].v != 0, in, out);
}

static int avgpool1d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                           dm_layer_shape *t)
{
    (void)t;
    return avgpool_shape_sp(opt, in, out, 1);
}

static int avgpool2d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                           dm_layer_shape *t)
{
    (void)t;
    return avgpool_shape_sp(opt, in, out, 2);
}

static dm_tensor *avgpool_forward_sp(const dm_opt_value *opt, dm_tensor *x, int sp)
{
    pool_geom g;
    if (pool_geometry(&opt[0], &opt[1], &opt[2], NULL, sp, &g)) return NULL;
    if (sp == 1) return pool1d_as_2d(x, &g, 0, opt[3].v != 0, opt[4].v != 0);
    return dm_avg_pool2d(x, g.k, g.s, g.p, opt[3].v != 0, opt[4].v != 0,
                         opt[5].none ? 0 : iv(&opt[5]));
}

static dm_tensor *avgpool1d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return avgpool_forward_sp(opt, x, 1);
}

static dm_tensor *avgpool2d_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)t;
    return avgpool_forward_sp(opt, x, 2);
}

/* Adaptive pools: output_size (entries none keep the input's size) [, return_indices] */
static int adaptive_size(const dm_opt_value *o, const dm_layer_shape *in, int64_t *out)
{
    if (o->none) { out[0] = in->d[1]; out[1] = in->d[2]; return 0; }
    if (o->n != 1 && o->n != 2) {
        dm_seterr("output_size must be one size or 2, got %d", o->n);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        int64_t v = o->size[o->n == 1 ? 0 : i];
        out[i] = v < 0 ? in->d[1 + i] : v;
    }
    return 0;
}

static int adaptive_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                          dm_layer_shape *t)
{
    (void)t;
    int64_t o[2];
    if (need_planes(in, NULL, 0, 2) || adaptive_size(&opt[0], in, o)) return -1;
    *out = *in;
    out->d[1] = o[0];
    out->d[2] = o[1];
    return 0;
}

static int adaptive_max_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                              dm_layer_shape *t)
{
    if (opt[1].v != 0) {
        dm_seterr("return_indices=true gives two outputs; a model's layers pass one");
        return -1;
    }
    return adaptive_shape(opt, in, out, t);
}

/* x [N x C x H x W]: its sample's shape for adaptive_size */
static int adaptive_out(const dm_opt_value *opt, const dm_tensor *x, int64_t *o)
{
    dm_layer_shape s = { 3, { x->shape[x->ndim - 3], x->shape[x->ndim - 2],
                              x->shape[x->ndim - 1] } };
    return adaptive_size(&opt[0], &s, o);
}

static dm_tensor *adaptive_avg_forward(const dm_opt_value *opt, dm_tensor *const *t,
                                       dm_tensor *x)
{
    (void)t;
    int64_t o[2];
    return adaptive_out(opt, x, o) ? NULL : dm_adaptive_avg_pool2d(x, o);
}

static dm_tensor *adaptive_max_forward(const dm_opt_value *opt, dm_tensor *const *t,
                                       dm_tensor *x)
{
    (void)t;
    int64_t o[2];
    return adaptive_out(opt, x, o) ? NULL : dm_adaptive_max_pool2d(x, o, NULL);
}

/* ---- BatchNorm2d ------------------------------------------------------------------------ */

/* BatchNorm1d's options and tensors over samples [C x H x W] */
static int batch_norm2d_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                              dm_layer_shape *t)
{
    int64_t c = iv(&opt[0]);
    if (need_planes(in, "num_features", c, 2)) return -1;
    for (int i = 0; i < 4; i++) set1(&t[i], c);
    t[4].ndim = 0;
    *out = *in;
    return 0;
}

/* ---- Embedding ---------------------------------------------------------------------------- */

/* options: num_embeddings embedding_dim padding_idx max_norm norm_type scale_grad_by_freq
   sparse (PyTorch's order; padding_idx 1-based as deepmoon's, negative from the end);
   tensors: weight [num x dim].  Samples of token ids of any shape -> [ids... x dim].  The ids
   come in as the C API's floats: each must be an integer in 1 .. num_embeddings (exact as
   float32 up to 2^24).  max_norm renormalises the weight in place at every lookup, which a
   saved (fixed) weight cannot do: only none.  padding_idx, norm_type, scale_grad_by_freq
   and sparse only change training */
enum { EM_NUM, EM_DIM, EM_PAD, EM_MAXNORM };

static int embedding_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                           dm_layer_shape *t)
{
    int64_t num = iv(&opt[EM_NUM]), dim = iv(&opt[EM_DIM]);
    if (!opt[EM_PAD].none) {
        int64_t p = iv(&opt[EM_PAD]);
        if (p == 0 || p > num || p < -num) {
            dm_seterr("padding_idx must be within num_embeddings (1 to %lld, or -%lld to -1 "
                      "from the end), got %lld", (long long)num, (long long)num, (long long)p);
            return -1;
        }
    }
    if (!opt[EM_MAXNORM].none) {
        dm_seterr("max_norm=%g renormalises the weight at every lookup; a model file's weight "
                  "is fixed (save the layer with max_norm = nil)", opt[EM_MAXNORM].v);
        return -1;
    }
    if (in->ndim < 0) {
        dm_seterr("needs to know its input, samples [T] of token ids, and no layer before it "
                  "fixes them");
        return -1;
    }
    if (in->ndim > DM_MAX_DIMS - 2) {
        char s[128];
        dm_seterr("samples of token ids %s have too many dims to add one",
                  dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    set2(&t[0], num, dim);
    *out = *in;
    out->d[out->ndim++] = dim;
    return 0;
}

/* x [B x ids...] float32 holding 1-based ids -> [B x ids... x dim] */
static dm_tensor *embedding_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    int64_t num = iv(&opt[EM_NUM]);
    if (x->dtype != DM_FLOAT32) {
        dm_seterr("Embedding: expected float32 token ids, got %s", dm_dtype_name(x->dtype));
        return NULL;
    }
    dm_tensor *xc = dm_contiguous(x), *ids = NULL, *y = NULL;
    if (!xc || !(ids = dm_tensor_new_dtype(xc->ndim, xc->shape, DM_INT64))) goto done;
    const float *v = dm_data(xc);
    int64_t *id = dm_data_ptr(ids), n = dm_numel(xc), per = n / (xc->shape[0] > 0 ? xc->shape[0] : 1);
    for (int64_t i = 0; i < n; i++) {
        float f = v[i];
        if (!(f >= 1.0f && f <= (float)num) || f != floorf(f)) {
            dm_seterr("Embedding: input %.9g (sample %lld, position %lld) is not a token id: "
                      "ids are integers in 1 .. %lld", (double)f, (long long)(i / per + 1),
                      (long long)(i % per + 1), (long long)num);
            goto done;
        }
        id[i] = (int64_t)f - 1;
    }
    {
        int64_t q = iv(&opt[EM_PAD]), pad = opt[EM_PAD].none ? -1 : q > 0 ? q - 1 : num + q;
        y = dm_embedding(t[0], ids, pad, 0);   /* 0-based padding_idx: training only */
    }
done:
    dm_tensor_release(xc);
    dm_tensor_release(ids);
    return y;
}

/* ---- RNN, LSTM, GRU ------------------------------------------------------------------------ */

/* PyTorch's options: input_size hidden_size num_layers [nonlinearity (RNN)] bias batch_first
   dropout bidirectional [proj_size (LSTM)]; tensors weight_ih_l<k>, weight_hh_l<k>, bias_ih_l<k>,
   bias_hh_l<k> [, weight_hr_l<k> (LSTM, proj_size > 0)], each also _reverse (bidirectional),
   for the layers k < num_layers (at most RNN_MAX_LAYERS): the row lists every name and the
   shape rule leaves out those these options do not call for.  Samples [T x input_size] ->
   [T x dirs*H_out] (H_out: proj_size when > 0, else hidden_size): the output sequence, which
   nn.Sequential passes on from these layers (their first result).  The model's batch is the
   layer's batch, so only batch_first=true: with batch_first=false the layer would read the
   batch dim as time.  Eval mode: dropout does nothing; the initial states are zeros */
#define RNN_MAX_LAYERS 8

typedef struct {
    int mode;                   /* DM_RNN_* */
    int64_t I, H, L, D, Ho, proj;
    int bias, batch_first;
} rnn_conf;

/* the options of a row (kind: 0 RNN, 1 LSTM, 2 GRU) */
static void rnn_options(const dm_opt_value *opt, int kind, rnn_conf *c)
{
    int o = kind == 0 ? 1 : 0;          /* RNN has nonlinearity at 3 */
    c->mode = kind == 1 ? DM_RNN_LSTM : kind == 2 ? DM_RNN_GRU
              : opt[3].v != 0 ? DM_RNN_RELU : DM_RNN_TANH;
    c->I = iv(&opt[0]);
    c->H = iv(&opt[1]);
    c->L = iv(&opt[2]);
    c->bias = opt[3 + o].v != 0;
    c->batch_first = opt[4 + o].v != 0;
    c->D = opt[6 + o].v != 0 ? 2 : 1;
    c->proj = kind == 1 ? iv(&opt[7]) : 0;
    c->Ho = c->proj > 0 ? c->proj : c->H;
}

static int64_t rnn_gates(int mode) { return mode == DM_RNN_LSTM ? 4 : mode == DM_RNN_GRU ? 3 : 1; }

/* tensors per layer and direction in the row: 4, or 5 for an LSTM (weight_hr) */
static int rnn_per(int kind) { return kind == 1 ? 5 : 4; }

static int rnn_shape_kind(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                          dm_layer_shape *t, int kind)
{
    rnn_conf c;
    char s[128];
    rnn_options(opt, kind, &c);
    if (c.proj >= c.H) {
        dm_seterr("proj_size %lld has to be smaller than hidden_size %lld", (long long)c.proj,
                  (long long)c.H);
        return -1;
    }
    if (!c.batch_first) {
        dm_seterr("batch_first=false reads [T x batch x input_size], but a model's batch dim "
                  "comes first: build the layer with batch_first = true");
        return -1;
    }
    if (in->ndim < 0) {
        dm_seterr("needs to know its input, samples [T x %lld], and no layer before it fixes "
                  "them", (long long)c.I);
        return -1;
    }
    if (in->ndim != 2) {
        dm_seterr("needs samples [T x %lld] (sequences), got samples of %s", (long long)c.I,
                  dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    if (in->d[1] != c.I) {
        dm_seterr("input_size %lld does not match the samples %s before it", (long long)c.I,
                  dm_shape_str(in->ndim, in->d, s, sizeof s));
        return -1;
    }
    int64_t G = rnn_gates(c.mode) * c.H, per = rnn_per(kind);
    for (int64_t l = 0; l < c.L; l++)
        for (int64_t d = 0; d < c.D; d++) {
            dm_layer_shape *p = &t[(l * 2 + d) * per];
            set2(&p[0], G, l == 0 ? c.I : c.D * c.Ho);
            set2(&p[1], G, c.Ho);
            if (c.bias) { set1(&p[2], G); set1(&p[3], G); }
            if (c.proj > 0) set2(&p[4], c.proj, c.H);
        }
    set2(out, in->d[0], c.D * c.Ho);
    return 0;
}

static int rnn_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                     dm_layer_shape *t) { return rnn_shape_kind(opt, in, out, t, 0); }
static int lstm_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                      dm_layer_shape *t) { return rnn_shape_kind(opt, in, out, t, 1); }
static int gru_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                     dm_layer_shape *t) { return rnn_shape_kind(opt, in, out, t, 2); }

/* the output rows [N x Ho] of dm_rnn_layer's flat result */
static dm_tensor *rnn_part(dm_tensor *y, int64_t n, int64_t ho)
{
    dm_tensor *nt = y ? dm_narrow(y, 0, 0, n * ho) : NULL;
    dm_tensor *v = nt ? dm_view(nt, 2, (int64_t[]){ n, ho }) : NULL;
    dm_tensor_release(nt);
    return v;
}

/* x [B x T x I] -> [B x T x D*Ho], as nn.RNN / LSTM / GRU's forward with batch_first: the
   sequence time-major [T*B x I], each layer and direction one dm_rnn_layer from zero states,
   the directions joined */
static dm_tensor *rnn_forward_kind(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x,
                                   int kind)
{
    rnn_conf c;
    rnn_options(opt, kind, &c);
    int64_t B = x->shape[0], T = x->shape[1], per = rnn_per(kind);
    dm_tensor *xt = dm_transpose(x, 0, 1), *h0 = NULL, *c0 = NULL, *y = NULL;
    dm_tensor *in = xt ? dm_reshape(xt, 2, (int64_t[]){ T * B, c.I }) : NULL;
    dm_tensor_release(xt);
    if (!in) return NULL;
    if (!(h0 = dm_tensor_zeros(2, (int64_t[]){ B, c.Ho }))) goto fail;
    if (c.mode == DM_RNN_LSTM && !(c0 = dm_tensor_zeros(2, (int64_t[]){ B, c.H }))) goto fail;
    for (int64_t l = 0; l < c.L; l++) {
        dm_tensor *outs[2] = { NULL, NULL };
        int ok = 1;
        for (int64_t d = 0; ok && d < c.D; d++) {
            dm_tensor *const *p = &t[(l * 2 + d) * per];
            dm_tensor *r = dm_rnn_layer(c.mode, (int)d, in, T, NULL, h0, c0, p[0], p[1],
                                        c.bias ? p[2] : NULL, c.bias ? p[3] : NULL,
                                        c.proj > 0 ? p[4] : NULL);
            outs[d] = rnn_part(r, T * B, c.Ho);
            dm_tensor_release(r);
            ok = outs[d] != NULL;
        }
        dm_tensor *next = !ok ? NULL : c.D == 2 ? dm_cat(2, outs, 1) : dm_tensor_retain(outs[0]);
        dm_tensor_release(outs[0]);
        dm_tensor_release(outs[1]);
        dm_tensor_release(in);
        in = next;
        if (!in) goto fail;
    }
    {
        dm_tensor *v = dm_view(in, 3, (int64_t[]){ T, B, c.D * c.Ho });
        dm_tensor *vt = v ? dm_transpose(v, 0, 1) : NULL;
        y = vt ? dm_contiguous(vt) : NULL;
        dm_tensor_release(v);
        dm_tensor_release(vt);
    }
fail:
    dm_tensor_release(in);
    dm_tensor_release(h0);
    dm_tensor_release(c0);
    return y;
}

static dm_tensor *rnn_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{ return rnn_forward_kind(opt, t, x, 0); }
static dm_tensor *lstm_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{ return rnn_forward_kind(opt, t, x, 1); }
static dm_tensor *gru_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{ return rnn_forward_kind(opt, t, x, 2); }

/* ---- the rows ------------------------------------------------------------------------- */

#define WIDTH(name) { name, DM_OPT_INT, NULL, 1, MAX_WIDTH, NULL, 0 }
#define NUMBER(name, def) { name, DM_OPT_NUM, def, -INFINITY, INFINITY, NULL, 0 }
#define BOOL(name, def) { name, DM_OPT_BOOL, def, 0, 1, NULL, 0 }
#define DIM(name, def, none) { name, DM_OPT_DIM, def, -DM_MAX_DIMS, DM_MAX_DIMS, NULL, none }
#define PARAM(name, when) { name, 0, when, 0 }
#define BUFFER(name, when, optional) { name, 1, when, optional }
#define KSIZE(name, def) { name, DM_OPT_SIZE, def, 1, MAX_WIDTH, NULL, 0 }
#define PSIZE(name, def) { name, DM_OPT_SIZE, def, 0, MAX_WIDTH, NULL, 0 }
#define BN_OPTS WIDTH("num_features"), { "eps", DM_OPT_NUM, "1e-05", 0, INFINITY, NULL, 0 }, \
    { "momentum", DM_OPT_NUM, "0.1", -INFINITY, INFINITY, NULL, 1 }, \
    BOOL("affine", "true"), BOOL("track_running_stats", "true")
#define BN_TENSORS PARAM("weight", "affine"), PARAM("bias", "affine"), \
    BUFFER("running_mean", "track_running_stats", 0), \
    BUFFER("running_var", "track_running_stats", 0), \
    BUFFER("num_batches_tracked", "track_running_stats", 1)
/* Conv1d, Conv2d: padding a size or "valid" | "same" (word 0, 1) */
#define CONV_OPTS WIDTH("in_channels"), WIDTH("out_channels"), KSIZE("kernel_size", NULL), \
    KSIZE("stride", "1"), { "padding", DM_OPT_SIZE, "0", 0, MAX_WIDTH, "valid same", 0 }, \
    KSIZE("dilation", "1"), { "groups", DM_OPT_INT, "1", 1, MAX_WIDTH, NULL, 0 }, \
    BOOL("bias", "true"), \
    { "padding_mode", DM_OPT_CHOICE, "zeros", 0, 0, "zeros reflect replicate circular", 0 }
/* stride none: kernel_size */
#define MAXPOOL_OPTS KSIZE("kernel_size", NULL), \
    { "stride", DM_OPT_SIZE, "none", 1, MAX_WIDTH, NULL, 1 }, PSIZE("padding", "0"), \
    KSIZE("dilation", "1"), BOOL("return_indices", "false"), BOOL("ceil_mode", "false")
#define AVGPOOL_OPTS KSIZE("kernel_size", NULL), \
    { "stride", DM_OPT_SIZE, "none", 1, MAX_WIDTH, NULL, 1 }, PSIZE("padding", "0"), \
    BOOL("ceil_mode", "false"), BOOL("count_include_pad", "true")

/* the recurrent layers: options and tensors (see "RNN, LSTM, GRU" above) */
#define RNN_HEAD WIDTH("input_size"), WIDTH("hidden_size"), \
    { "num_layers", DM_OPT_INT, "1", 1, RNN_MAX_LAYERS, NULL, 0 }
#define RNN_TAIL BOOL("bias", "true"), BOOL("batch_first", "false"), \
    { "dropout", DM_OPT_NUM, "0", 0, 1, NULL, 0 }, BOOL("bidirectional", "false")
#define RNN_DIR(l, s) PARAM("weight_ih_l" #l s, NULL), PARAM("weight_hh_l" #l s, NULL), \
    PARAM("bias_ih_l" #l s, "bias"), PARAM("bias_hh_l" #l s, "bias")
#define LSTM_DIR(l, s) RNN_DIR(l, s), PARAM("weight_hr_l" #l s, NULL)
#define RNN_LAYER(l) RNN_DIR(l, ""), RNN_DIR(l, "_reverse")
#define LSTM_LAYER(l) LSTM_DIR(l, ""), LSTM_DIR(l, "_reverse")
#define RNN_TENSORS RNN_LAYER(0), RNN_LAYER(1), RNN_LAYER(2), RNN_LAYER(3), RNN_LAYER(4), \
    RNN_LAYER(5), RNN_LAYER(6), RNN_LAYER(7)
#define LSTM_TENSORS LSTM_LAYER(0), LSTM_LAYER(1), LSTM_LAYER(2), LSTM_LAYER(3), \
    LSTM_LAYER(4), LSTM_LAYER(5), LSTM_LAYER(6), LSTM_LAYER(7)
_Static_assert(RNN_MAX_LAYERS * 2 * 5 <= DM_LAYER_MAX_TENSORS, "an LSTM row lists its tensors");

static const dm_layer_kind kinds[] = {
    { "Linear", { WIDTH("in_features"), WIDTH("out_features"), BOOL("bias", "true") },
      { PARAM("weight", NULL), PARAM("bias", "bias") },
      linear_shape, linear_forward },
    { "ReLU", { { 0 } }, { { 0 } }, same_shape, relu_forward },
    { "LeakyReLU", { NUMBER("negative_slope", "0.01") }, { { 0 } },
      same_shape, leaky_relu_forward },
    { "Sigmoid", { { 0 } }, { { 0 } }, same_shape, sigmoid_forward },
    { "Tanh", { { 0 } }, { { 0 } }, same_shape, tanh_forward },
    { "ELU", { NUMBER("alpha", "1") }, { { 0 } }, same_shape, elu_forward },
    { "SELU", { { 0 } }, { { 0 } }, same_shape, selu_forward },
    { "GELU", { { "approximate", DM_OPT_CHOICE, "none", 0, 0, "none tanh", 0 } }, { { 0 } },
      same_shape, gelu_forward },
    { "Softmax", { DIM("dim", "none", 1) }, { { 0 } }, softmax_shape, softmax_forward },
    { "LogSoftmax", { DIM("dim", "none", 1) }, { { 0 } }, softmax_shape, log_softmax_forward },
    { "Identity", { { 0 } }, { { 0 } }, same_shape, pass_forward },
    { "Flatten", { DIM("start_dim", "2", 0), DIM("end_dim", "-1", 0) }, { { 0 } },
      flatten_shape, flatten_forward },
    { "Dropout", { { "p", DM_OPT_NUM, "0.5", 0, 1, NULL, 0 } }, { { 0 } },
      same_shape, pass_forward },
    { "BatchNorm1d", { BN_OPTS }, { BN_TENSORS }, batch_norm_shape, batch_norm_forward },
    { "Conv1d", { CONV_OPTS }, { PARAM("weight", NULL), PARAM("bias", "bias") },
      conv1d_shape, conv1d_forward },
    { "Conv2d", { CONV_OPTS }, { PARAM("weight", NULL), PARAM("bias", "bias") },
      conv2d_shape, conv2d_forward },
    { "ConvTranspose2d",
      { WIDTH("in_channels"), WIDTH("out_channels"), KSIZE("kernel_size", NULL),
        KSIZE("stride", "1"), PSIZE("padding", "0"), PSIZE("output_padding", "0"),
        { "groups", DM_OPT_INT, "1", 1, MAX_WIDTH, NULL, 0 }, BOOL("bias", "true"),
        KSIZE("dilation", "1"), { "padding_mode", DM_OPT_CHOICE, "zeros", 0, 0, "zeros", 0 } },
      { PARAM("weight", NULL), PARAM("bias", "bias") }, convt_shape, convt_forward },
    { "MaxPool1d", { MAXPOOL_OPTS }, { { 0 } }, maxpool1d_shape, maxpool1d_forward },
    { "MaxPool2d", { MAXPOOL_OPTS }, { { 0 } }, maxpool2d_shape, maxpool2d_forward },
    { "AvgPool1d", { AVGPOOL_OPTS }, { { 0 } }, avgpool1d_shape, avgpool1d_forward },
    { "AvgPool2d", { AVGPOOL_OPTS, { "divisor_override", DM_OPT_INT, "none", 1, MAX_WIDTH,
                                     NULL, 1 } },
      { { 0 } }, avgpool2d_shape, avgpool2d_forward },
    { "AdaptiveAvgPool2d", { { "output_size", DM_OPT_SIZE, NULL, 1, MAX_WIDTH, NULL, 1 } },
      { { 0 } }, adaptive_shape, adaptive_avg_forward },
    { "AdaptiveMaxPool2d", { { "output_size", DM_OPT_SIZE, NULL, 1, MAX_WIDTH, NULL, 1 },
                             BOOL("return_indices", "false") },
      { { 0 } }, adaptive_max_shape, adaptive_max_forward },
    { "BatchNorm2d", { BN_OPTS }, { BN_TENSORS }, batch_norm2d_shape, batch_norm_forward },
    { "Dropout2d", { { "p", DM_OPT_NUM, "0.5", 0, 1, NULL, 0 } }, { { 0 } },
      same_shape, pass_forward },
    { "Embedding", { WIDTH("num_embeddings"), WIDTH("embedding_dim"),
                     { "padding_idx", DM_OPT_INT, "none", -MAX_WIDTH, MAX_WIDTH, NULL, 1 },
                     { "max_norm", DM_OPT_NUM, "none", 0, INFINITY, NULL, 1 },
                     NUMBER("norm_type", "2"), BOOL("scale_grad_by_freq", "false"),
                     BOOL("sparse", "false") },
      { PARAM("weight", NULL) }, embedding_shape, embedding_forward },
    { "RNN", { RNN_HEAD, { "nonlinearity", DM_OPT_CHOICE, "tanh", 0, 0, "tanh relu", 0 },
               RNN_TAIL },
      { RNN_TENSORS }, rnn_shape, rnn_forward },
    { "LSTM", { RNN_HEAD, RNN_TAIL, { "proj_size", DM_OPT_INT, "0", 0, MAX_WIDTH, NULL, 0 } },
      { LSTM_TENSORS }, lstm_shape, lstm_forward },
    { "GRU", { RNN_HEAD, RNN_TAIL }, { RNN_TENSORS }, gru_shape, gru_forward },
};

const dm_layer_kind *dm_layer_kinds(int *n)
{
    if (n) *n = (int)(sizeof kinds / sizeof kinds[0]);
    return kinds;
}

const dm_layer_kind *dm_layer_kind_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    return NULL;
}
