/* nn.c -- Lua functions for layers, losses and optimizer updates (core/ops/nn.c, loss.c,
 * optim.c).  These are the kernels the Lua nn and optim layers call; arguments are
 * positional, in PyTorch's order, optional ones nil.
 *
 * Class targets arrive 1-based from Lua, as int64 (or uint8) tensors.  The core wants 0-based
 * indices, so nll_loss and cross_entropy pass a temporary int64 `target - 1` and
 * `ignore_index - 1`: a target equal to ignore_index stays equal, and the core's messages
 * report indices + 1, i.e. in the same 1-based terms the user wrote. */
#include "binding.h"
#include <string.h>

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

static const char *const reductions[] = { "none", "mean", "sum", NULL };

/* the reduction string at idx (default "mean"); luaL_checkoption's error names the
   function being called */
static dm_reduction check_reduction(lua_State *L, int idx)
{
    switch (luaL_checkoption(L, idx, "mean", reductions)) {
    case 0: return DM_REDUCTION_NONE;
    case 2: return DM_REDUCTION_SUM;
    default: return DM_REDUCTION_MEAN;
    }
}

/* boolean argument: none or nil means def, anything else is Lua truth */
static int opt_bool(lua_State *L, int idx, int def)
{
    return lua_isnoneornil(L, idx) ? def : lua_toboolean(L, idx);
}

/* a new int64 tensor holding t - 1 for an integer class target (no autograd: class indices
   are never differentiated); any other target is returned retained, unchanged, for the core
   to refuse with its message */
static dm_tensor *minus_one(const dm_tensor *t)
{
    if (t->dtype != DM_INT64 && t->dtype != DM_UINT8) return dm_tensor_retain((dm_tensor *)t);
    dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, DM_INT64);
    if (!c) return NULL;
    int64_t *d = dm_data_ptr(c);
    dm_to_buffer_dtype(t, d, DM_INT64);
    /* wrapping (math.mininteger - 1 is math.maxinteger, as Lua computes it): no overflow,
       and a target equal to ignore_index stays equal to it after both are shifted */
    for (int64_t i = 0, n = dm_numel(c); i < n; i++) d[i] = (int64_t)((uint64_t)d[i] - 1);
    return c;
}

/* ---- layers --------------------------------------------------------------------------- */

/* core.dropout(x, p = 0.5, training = true, generator = default) */
static int l_dropout(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    int training = opt_bool(L, 3, 1);
    dm_rng *g = lua_isnoneornil(L, 4) ? lb_default_rng(L) : lb_check_generator(L, 4);
    RESULT(dm_dropout(x, p, training, g));
}

/* core.batch_norm(x, running_mean, running_var, weight, bias, training, momentum = 0.1,
   eps = 1e-5); running statistics are updated in place when training */
static int l_batch_norm(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1);
    dm_tensor *rm = lb_opt(L, 2), *rv = lb_opt(L, 3);
    dm_tensor *w = lb_opt(L, 4), *b = lb_opt(L, 5);
    int training = opt_bool(L, 6, 1);
    double momentum = luaL_optnumber(L, 7, 0.1), eps = luaL_optnumber(L, 8, 1e-5);
    RESULT(dm_batch_norm(x, rm, rv, w, b, training, momentum, eps));
}

/* core.layer_norm(x, normalized_shape (a table), weight, bias, eps) */
static int l_layer_norm(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t shape[DM_MAX_DIMS];
    int n = lb_sizes(L, 2, shape, "layer_norm");
    dm_tensor *w = lb_opt(L, 3), *b = lb_opt(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    RESULT(dm_layer_norm(x, n, shape, w, b, eps));
}

/* core.group_norm(x, num_groups, weight, bias, eps) */
static int l_group_norm(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1);
    lua_Integer g = luaL_checkinteger(L, 2);
    dm_tensor *w = lb_opt(L, 3), *b = lb_opt(L, 4);
    double eps = luaL_optnumber(L, 5, 1e-5);
    RESULT(dm_group_norm(x, (int64_t)g, w, b, eps));
}

/* ---- losses --------------------------------------------------------------------------- */

/* core.bce_loss(input, target, weight, reduction) */
static int l_bce_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2), *w = lb_opt(L, 3);
    dm_reduction r = check_reduction(L, 4);
    RESULT(dm_bce_loss(x, t, w, r));
}

/* core.bce_with_logits_loss(input, target, weight, pos_weight, reduction) */
static int l_bce_with_logits_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2);
    dm_tensor *w = lb_opt(L, 3), *pw = lb_opt(L, 4);
    dm_reduction r = check_reduction(L, 5);
    RESULT(dm_bce_with_logits_loss(x, t, w, pw, r));
}

/* core.mse_loss(input, target, reduction) */
static int l_mse_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2);
    dm_reduction r = check_reduction(L, 3);
    RESULT(dm_mse_loss(x, t, r));
}

/* core.l1_loss(input, target, reduction) */
static int l_l1_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2);
    dm_reduction r = check_reduction(L, 3);
    RESULT(dm_l1_loss(x, t, r));
}

/* core.smooth_l1_loss(input, target, reduction, beta = 1) */
static int l_smooth_l1_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2);
    dm_reduction r = check_reduction(L, 3);
    double beta = luaL_optnumber(L, 4, 1.0);
    RESULT(dm_smooth_l1_loss(x, t, r, beta));
}

/* core.huber_loss(input, target, reduction, delta = 1) */
static int l_huber_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2);
    dm_reduction r = check_reduction(L, 3);
    double delta = luaL_optnumber(L, 4, 1.0);
    RESULT(dm_huber_loss(x, t, r, delta));
}

/* ignore_index from Lua (1-based terms, default -100) */
static int64_t check_ignore(lua_State *L, int idx)
{
    return (int64_t)luaL_optinteger(L, idx, -100);
}

/* ignore_index shifted to 0-based as the targets are (wrapping, see minus_one) */
static int64_t zero_based(int64_t ignore) { return (int64_t)((uint64_t)ignore - 1); }

/* core.nll_loss(input, target, weight, reduction, ignore_index = -100); target 1-based */
static int l_nll_loss(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2), *w = lb_opt(L, 3);
    dm_reduction r = check_reduction(L, 4);
    int64_t ignore = check_ignore(L, 5);
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *t0 = minus_one(t);
    if (t0) *slot = dm_nll_loss(x, t0, w, r, zero_based(ignore));
    dm_tensor_release(t0);
    return lb_done(L, slot);
}

/* core.cross_entropy(input, target, weight, reduction, ignore_index = -100,
   label_smoothing = 0); target holds 1-based classes, or probabilities of input's shape */
static int l_cross_entropy(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *t = lb_check(L, 2), *w = lb_opt(L, 3);
    dm_reduction r = check_reduction(L, 4);
    int64_t ignore = check_ignore(L, 5);
    double ls = luaL_optnumber(L, 6, 0.0);
    dm_tensor **slot = lb_newbox(L);
    if (dm_is_floating(t->dtype)) {             /* probabilities (the core checks the shape) */
        *slot = dm_cross_entropy(x, t, w, r, zero_based(ignore), ls);
        return lb_done(L, slot);
    }
    dm_tensor *t0 = minus_one(t);
    if (t0) *slot = dm_cross_entropy(x, t0, w, r, zero_based(ignore), ls);
    dm_tensor_release(t0);
    return lb_done(L, slot);
}

/* core._try_loss(kind, input, target, weight, pos_weight, reduction, ignore_index,
   label_smoothing): the loss modules' fast path.  kind: 1 bce, 2 bce with logits, 3 mse,
   4 l1, 5 cross entropy, 6 nll.  Returns the loss, or nil whenever anything is not as the
   Lua layer's own checks would accept it (not tensors, shapes that differ, a setting of the
   wrong type or value) or the core fails: the caller then takes its checked path, which
   raises the message the user should see.  Never raises itself (except out of memory). */
static int l_try_loss(lua_State *L)
{
    lua_Integer kind = lua_tointeger(L, 1);
    dm_tensor *x = lb_totensor(L, 2), *t = lb_totensor(L, 3);
    dm_tensor *w = NULL, *pw = NULL;
    if (!x || !t) return 0;
    if (!lua_isnil(L, 4) && !(w = lb_totensor(L, 4))) return 0;
    if (!lua_isnoneornil(L, 5) && !(pw = lb_totensor(L, 5))) return 0;
    dm_reduction r = DM_REDUCTION_MEAN;
    if (!lua_isnoneornil(L, 6)) {
        if (lua_type(L, 6) != LUA_TSTRING) return 0;
        const char *s = lua_tostring(L, 6);
        if (strcmp(s, "mean") == 0) r = DM_REDUCTION_MEAN;
        else if (strcmp(s, "sum") == 0) r = DM_REDUCTION_SUM;
        else if (strcmp(s, "none") == 0) r = DM_REDUCTION_NONE;
        else return 0;
    }
    int64_t ignore = -100;
    if (!lua_isnoneornil(L, 7)) {
        if (!lua_isinteger(L, 7)) return 0;
        ignore = (int64_t)lua_tointeger(L, 7);
    }
    double ls = 0;
    if (!lua_isnoneornil(L, 8)) {
        if (lua_type(L, 8) != LUA_TNUMBER) return 0;
        ls = lua_tonumber(L, 8);
        if (!(ls >= 0 && ls <= 1)) return 0;
    }
    dm_tensor *out = NULL, *t0 = NULL;
    switch (kind) {
    case 1: case 2: case 3: case 4:
        if (!dm_same_shape(x, t)) return 0;
        if (kind == 1 && !pw) out = dm_bce_loss(x, t, w, r);
        else if (kind == 2) out = dm_bce_with_logits_loss(x, t, w, pw, r);
        else if (kind == 3 && !w && !pw) out = dm_mse_loss(x, t, r);
        else if (kind == 4 && !w && !pw) out = dm_l1_loss(x, t, r);
        break;
    case 5: case 6:
        /* class indices: input [N x C] with target [N], or [C] with a 0-dim target */
        if (pw || !((x->ndim == 2 && t->ndim == 1 && t->shape[0] == x->shape[0]) ||
                    (x->ndim == 1 && t->ndim == 0)))
            return 0;
        if (t->dtype != DM_INT64 && t->dtype != DM_UINT8) return 0;
        if (!(t0 = minus_one(t))) return 0;
        out = kind == 5 ? dm_cross_entropy(x, t0, w, r, zero_based(ignore), ls)
                        : (ls == 0 ? dm_nll_loss(x, t0, w, r, zero_based(ignore)) : NULL);
        dm_tensor_release(t0);
        break;
    default:
        return 0;
    }
    if (!out) return 0;
    return lb_push(L, out);
}

/* ---- optimizer updates (write into p and the state tensors; return nothing) ---------- */

/* the gradient argument of an update: a tensor, or nil for p's own .grad (no box is made
   for it); NULL when p has none */
static dm_tensor *update_grad(lua_State *L, int idx, dm_tensor *p)
{
    return lua_isnoneornil(L, idx) ? p->grad : lb_check(L, idx);
}

/* core.sgd_step(p, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize,
   first); grad nil = p.grad.  Returns true, or false (nothing done) when p has no grad. */
static int l_sgd_step(lua_State *L)
{
    dm_tensor *p = lb_check(L, 1), *g = update_grad(L, 2, p), *buf = lb_opt(L, 3);
    double lr = luaL_checknumber(L, 4);
    double momentum = luaL_optnumber(L, 5, 0), dampening = luaL_optnumber(L, 6, 0);
    double wd = luaL_optnumber(L, 7, 0);
    int nesterov = lua_toboolean(L, 8), maximize = lua_toboolean(L, 9);
    int first = lua_toboolean(L, 10);
    if (!g) { lua_pushboolean(L, 0); return 1; }
    if (dm_sgd_step(p, g, buf, lr, momentum, dampening, wd, nesterov, maximize, first))
        return luaL_error(L, "%s", dm_errmsg());
    lua_pushboolean(L, 1);
    return 1;
}

/* core.adam_step(p, grad, exp_avg, exp_avg_sq, max_sq, step, lr, beta1, beta2, eps,
   weight_decay, decoupled, maximize); step counts from 1; grad nil = p.grad.  Returns true,
   or false when p has no grad. */
static int l_adam_step(lua_State *L)
{
    dm_tensor *p = lb_check(L, 1), *g = update_grad(L, 2, p);
    dm_tensor *m = lb_check(L, 3), *v = lb_check(L, 4), *vmax = lb_opt(L, 5);
    lua_Integer step = luaL_checkinteger(L, 6);
    double lr = luaL_optnumber(L, 7, 1e-3);
    double beta1 = luaL_optnumber(L, 8, 0.9), beta2 = luaL_optnumber(L, 9, 0.999);
    double eps = luaL_optnumber(L, 10, 1e-8), wd = luaL_optnumber(L, 11, 0);
    int decoupled = lua_toboolean(L, 12), maximize = lua_toboolean(L, 13);
    if (!g) { lua_pushboolean(L, 0); return 1; }
    if (dm_adam_step(p, g, m, v, vmax, (int64_t)step, lr, beta1, beta2, eps, wd, decoupled,
                     maximize))
        return luaL_error(L, "%s", dm_errmsg());
    lua_pushboolean(L, 1);
    return 1;
}

/* core._sgd_steps(params, bufs, lr, momentum, dampening, weight_decay, nesterov, maximize):
   core.sgd_step(p, nil, bufs[i], ...) for every params[i] that has a grad, in one call;
   bufs is nil when momentum is 0, else a list with every buffer present (not first steps).
   Returns the number of parameters updated. */
static int l_sgd_steps(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int has_bufs = !lua_isnoneornil(L, 2);
    if (has_bufs) luaL_checktype(L, 2, LUA_TTABLE);
    double lr = luaL_checknumber(L, 3);
    double momentum = luaL_optnumber(L, 4, 0), dampening = luaL_optnumber(L, 5, 0);
    double wd = luaL_optnumber(L, 6, 0);
    int nesterov = lua_toboolean(L, 7), maximize = lua_toboolean(L, 8);
    if (momentum != 0 && !has_bufs) return luaL_error(L, "sgd_steps: momentum needs buffers");
    lua_Integer n = luaL_len(L, 1), done = 0;
    lua_settop(L, 8);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        dm_tensor *p = lb_check(L, 9), *buf = NULL;
        if (has_bufs) {
            lua_geti(L, 2, i);
            buf = lb_check(L, 10);
        }
        if (p->grad) {
            if (dm_sgd_step(p, p->grad, buf, lr, momentum, dampening, wd, nesterov, maximize, 0))
                return luaL_error(L, "%s", dm_errmsg());
            done++;
        }
        lua_settop(L, 8);
    }
    lua_pushinteger(L, done);
    return 1;
}

/* core.has_grad(p): p.grad ~= nil without making a box */
static int l_has_grad(lua_State *L)
{
    lua_pushboolean(L, lb_check(L, 1)->grad != NULL);
    return 1;
}

/* core.zero_grads(list, set_to_none): zero (or drop) the .grad of every tensor in the list,
   in one call */
static int l_zero_grads(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int to_none = lua_toboolean(L, 2);
    lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        dm_tensor *t = lb_totensor(L, -1);
        if (!t) return luaL_error(L, "zero_grad: element %d of the list is a %s, expected a "
                                  "tensor", (int)i, luaL_typename(L, -1));
        int had = t->grad != NULL;
        if (dm_zero_grad(t, to_none) != 0) return luaL_error(L, "zero_grad: %s", dm_errmsg());
        if (had && to_none) lb_grad_forget(L, -1);
        lua_pop(L, 1);
    }
    return 0;
}

static const luaL_Reg nn_fns[] = {
    { "dropout", l_dropout }, { "batch_norm", l_batch_norm },
    { "layer_norm", l_layer_norm }, { "group_norm", l_group_norm },
    { "bce_loss", l_bce_loss }, { "bce_with_logits_loss", l_bce_with_logits_loss },
    { "mse_loss", l_mse_loss }, { "l1_loss", l_l1_loss },
    { "smooth_l1_loss", l_smooth_l1_loss }, { "huber_loss", l_huber_loss },
    { "nll_loss", l_nll_loss }, { "cross_entropy", l_cross_entropy },
    { "sgd_step", l_sgd_step }, { "adam_step", l_adam_step },
    { "_sgd_steps", l_sgd_steps }, { "_try_loss", l_try_loss },
    { "has_grad", l_has_grad }, { "zero_grads", l_zero_grads },
    { NULL, NULL }
};

void lb_open_nn(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushvalue(L, module);
    luaL_setfuncs(L, nn_fns, 0);
    lua_pop(L, 1);
}
