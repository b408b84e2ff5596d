/* registry.c -- the layer registry: one row per layer kind a model file can hold.
 *
 * A row says everything the rest of deepmoon needs to save, check, rebuild and run a kind
 * (deepmoon.h, "inference", has the fields): its options as the text writes them (PyTorch's
 * argument names and defaults), its tensors under PyTorch's state_dict names, a shape rule
 * and an eval-mode forward.  model.c reads and runs descriptions with the rows and
 * lua/deepmoon/nn/serialize.lua writes and rebuilds them from the same rows (through
 * deepmoon.core._layer_kinds), so nothing else lists the kinds.  Adding one: core/README.md.
 *
 * Shapes are of one sample (the batch dim left out); today every sample is a row of
 * `width` floats, [width].  Shape rules check and report; they never allocate, so a
 * description is checked against its tensors before anything of its size exists. */
#include "deepmoon.h"
#include <math.h>
#include <string.h>

#define MAX_WIDTH ((double)((int64_t)1 << 30))

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

/* options: in_features, out_features, bias; tensors: weight [out x in], bias [out] */
static int linear_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                        dm_layer_shape *t)
{
    int64_t nin = iv(&opt[0]), nout = iv(&opt[1]);
    if (need_row(in, "in_features", nin)) return -1;
    set2(&t[0], nout, nin);
    set1(&t[1], nout);
    set1(out, nout);
    return 0;
}

static dm_tensor *linear_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)opt;
    return dm_linear(x, t[0], t[1]);            /* [B x in] @ [out x in]^T + [out] -> [B x out] */
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

/* options: start_dim, end_dim.  Only the default, which keeps the batch dim and joins the
   sample's: [batch x a x b ...] -> [batch x (a * b ...)] */
static int flatten_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                         dm_layer_shape *t)
{
    (void)t;
    if (iv(&opt[0]) != 2 || iv(&opt[1]) != -1) {
        dm_seterr("only start_dim=2 end_dim=-1 is supported, got start_dim=%lld end_dim=%lld",
                  (long long)iv(&opt[0]), (long long)iv(&opt[1]));
        return -1;
    }
    if (in->ndim < 0) { out->ndim = -1; return 0; }
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++) n *= in->d[i];
    set1(out, n);
    return 0;
}

static dm_tensor *flatten_forward(const dm_opt_value *opt, dm_tensor *const *t, dm_tensor *x)
{
    (void)opt; (void)t;
    return x->ndim == 2 ? dm_tensor_retain(x) : dm_flatten(x, 1, -1);
}

/* ---- BatchNorm1d ---------------------------------------------------------------------- */

/* options: num_features, eps, momentum, affine, track_running_stats; tensors: weight, bias,
   running_mean, running_var [num_features], num_batches_tracked [] */
static int batch_norm_shape(const dm_opt_value *opt, dm_layer_shape *in, dm_layer_shape *out,
                            dm_layer_shape *t)
{
    int64_t c = iv(&opt[0]);
    if (need_row(in, "num_features", c)) return -1;
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

/* ---- the rows ------------------------------------------------------------------------- */

#define WIDTH(name) { name, DM_OPT_INT, NULL, 1, MAX_WIDTH, NULL, 0 }
#define NUMBER(name, def) { name, DM_OPT_NUM, def, -INFINITY, INFINITY, NULL, 0 }
#define BOOL(name, def) { name, DM_OPT_BOOL, def, 0, 1, NULL, 0 }
#define DIM(name, def, none) { name, DM_OPT_DIM, def, -DM_MAX_DIMS, DM_MAX_DIMS, NULL, none }
#define PARAM(name, when) { name, 0, when, 0 }
#define BUFFER(name, when, optional) { name, 1, when, optional }

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
    { "BatchNorm1d",
      { WIDTH("num_features"), { "eps", DM_OPT_NUM, "1e-05", 0, INFINITY, NULL, 0 },
        { "momentum", DM_OPT_NUM, "0.1", -INFINITY, INFINITY, NULL, 1 },
        BOOL("affine", "true"), BOOL("track_running_stats", "true") },
      { PARAM("weight", "affine"), PARAM("bias", "affine"),
        BUFFER("running_mean", "track_running_stats", 0),
        BUFFER("running_var", "track_running_stats", 0),
        BUFFER("num_batches_tracked", "track_running_stats", 1) },
      batch_norm_shape, batch_norm_forward },
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
