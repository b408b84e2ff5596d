/* ops_reduce.c -- Tensor methods and dm.<name> for amax/amin, logsumexp, norm, any/all,
 * isnan/isinf/isfinite, nan_to_num, the bitwise and logical ops, floor_divide, remainder and
 * fmod, and the Lua operators & | ~ // % on tensors (__band, __bor, __bxor, __bnot, __idiv,
 * __mod).  Dims are 1-based; reductions read their dims through lb_reduce_args. */
#include "binding.h"
#include <math.h>
#include <string.h>

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

/* ---- reductions ------------------------------------------------------------------------- */

/* amax/amin([dim | {dims}] [, keepdim] [, {dim =, keepdim =}]): all dims by default */
static int amaxmin(lua_State *L, int is_min)
{
    const char *fn = is_min ? "amin" : "amax";
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, LB_RA_MULTI, 0, NULL, &a);
    int n = a.n < 0 ? 0 : a.n;
    RESULT(is_min ? dm_amin(t, n, a.dims, a.keepdim) : dm_amax(t, n, a.dims, a.keepdim));
}
static int t_amax(lua_State *L) { return amaxmin(L, 0); }
static int t_amin(lua_State *L) { return amaxmin(L, 1); }

/* logsumexp(dim | {dims} [, keepdim] [, {dim =, keepdim =}]): dim is required (PyTorch) */
static int t_logsumexp(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, "logsumexp", LB_RA_MULTI, 0, NULL, &a);
    if (a.n < 0) return luaL_error(L, "logsumexp: dim is required");
    if (!dm_is_floating(t->dtype) && lb_default_dtype(L) == DM_FLOAT64) {
        dm_tensor **slot = lb_newbox(L);            /* integers: the default float dtype */
        *slot = dm_to_dtype(t, DM_FLOAT64);
        lb_done(L, slot);
        t = *slot;
    }
    RESULT(dm_logsumexp(t, a.n, a.dims, a.keepdim));
}

/* p: a number (math.huge for inf), "fro" (2) or nil (2) */
static double norm_p(lua_State *L, int i)
{
    if (lua_isnoneornil(L, i)) return 2;
    if (lua_type(L, i) == LUA_TNUMBER) return lua_tonumber(L, i);
    if (lua_type(L, i) == LUA_TSTRING) {
        const char *s = lua_tostring(L, i);
        if (strcmp(s, "fro") == 0) return 2;
        if (strcmp(s, "inf") == 0) return INFINITY;
        if (strcmp(s, "-inf") == 0) return -INFINITY;
        return luaL_error(L, "norm: p must be a number, \"fro\", \"inf\" or \"-inf\", got '%s'",
                          s);
    }
    return luaL_error(L, "norm: p must be a number or \"fro\", got %s", luaL_typename(L, i));
}

/* norm([p] [, dim | {dims}] [, keepdim] [, {p =, dim =, keepdim =}]) */
static int t_norm(lua_State *L)
{
    static const char *const extra[] = { "p", NULL };
    dm_tensor *t = lb_check(L, 1);
    if (lua_gettop(L) == 2 && lua_type(L, 2) == LUA_TTABLE && !lb_is_tensor(L, 2)) {
        lua_pushnil(L);                             /* norm({...}): no positional p */
        lua_insert(L, 2);
    }
    lb_rargs a;
    lb_reduce_args(L, 3, "norm", LB_RA_MULTI, 0, extra, &a);
    double p = norm_p(L, 2);
    if (a.opts) {
        lua_getfield(L, a.opts, "p");
        if (!lua_isnil(L, -1)) {
            if (!lua_isnoneornil(L, 2)) return luaL_error(L, "norm: p given twice");
            p = norm_p(L, lua_gettop(L));
        }
        lua_pop(L, 1);
    }
    RESULT(dm_norm(t, p, a.n < 0 ? 0 : a.n, a.dims, a.keepdim));
}

/* any/all([dim] [, keepdim] [, {dim =, keepdim =}]) */
static int any_all(lua_State *L, int is_all)
{
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, is_all ? "all" : "any", 0, 0, NULL, &a);
    RESULT(dm_any_all(t, a.n < 0 ? DM_ALL : a.dims[0], a.keepdim, is_all));
}
static int t_any(lua_State *L) { return any_all(L, 0); }
static int t_all(lua_State *L) { return any_all(L, 1); }

/* ---- tests of values --------------------------------------------------------------------- */

static int t_isnan(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 0)); }
static int t_isinf(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 1)); }
static int t_isfinite(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 2)); }

/* nan_to_num([nan] [, posinf] [, neginf]) or nan_to_num({nan =, posinf =, neginf =}) */
static int t_nan_to_num(lua_State *L)
{
    static const char *const names[] = { "nan", "posinf", "neginf", NULL };
    dm_tensor *t = lb_check(L, 1);
    double v[3] = { 0, 0, 0 };
    int given[3] = { 0, 0, 0 };
    int top = lua_gettop(L), opts = 0;
    if (top >= 2 && lua_type(L, top) == LUA_TTABLE) opts = top;
    for (int k = 0; k < 3 && 2 + k <= top && 2 + k != opts; k++) {
        if (lua_isnil(L, 2 + k)) continue;
        v[k] = luaL_checknumber(L, 2 + k);
        given[k] = 1;
    }
    if (opts) {
        lb_opts_check(L, opts, "nan_to_num", names);
        for (int k = 0; k < 3; k++) {
            if (lua_getfield(L, opts, names[k]) != LUA_TNIL) {
                if (given[k]) return luaL_error(L, "nan_to_num: %s given twice", names[k]);
                if (lua_type(L, -1) != LUA_TNUMBER)
                    return luaL_error(L, "nan_to_num: %s must be a number, got %s", names[k],
                                      luaL_typename(L, -1));
                v[k] = lua_tonumber(L, -1);
                given[k] = 1;
            }
            lua_pop(L, 1);
        }
    }
    RESULT(dm_nan_to_num(t, v[0], given[1] ? &v[1] : NULL, given[2] ? &v[2] : NULL));
}

/* ---- bitwise, logical, floor_divide, remainder, fmod ------------------------------------- */

static const char *const b2_names[] = {
    "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor",
    "floor_divide", "remainder", "fmod",
};

/* a new box holding t converted to dt (collected with the stack) */
static dm_tensor *boxed_to(lua_State *L, const dm_tensor *t, dm_dtype dt)
{
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_to_dtype(t, dt);
    lb_done(L, slot);
    return *slot;
}

/* the operand at i as a tensor: a Tensor, or a number or boolean as a 0-dim one (integers
   int64, floats float64, booleans bool) in a box on the stack */
static dm_tensor *operand(lua_State *L, int i, const char *fn)
{
    dm_tensor *t = lb_totensor(L, i);
    if (t) return t;
    dm_tensor **slot;
    switch (lua_type(L, i)) {
    case LUA_TNUMBER:
        slot = lb_newbox(L);
        *slot = lua_isinteger(L, i) ? dm_tensor_full_i64(0, NULL, lua_tointeger(L, i), DM_INT64)
                                    : dm_tensor_full_dtype(0, NULL, lua_tonumber(L, i), DM_FLOAT64);
        lb_done(L, slot);
        return *slot;
    case LUA_TBOOLEAN:
        slot = lb_newbox(L);
        *slot = dm_tensor_full_i64(0, NULL, lua_toboolean(L, i), DM_BOOL);
        lb_done(L, slot);
        return *slot;
    default:
        luaL_typeerror(L, i, "deepmoon.Tensor, number or boolean");
        (void)fn;
        return NULL;
    }
}

static int binop2(lua_State *L, dm_binop2 op)
{
    const char *fn = b2_names[op];
    int ta = lb_is_tensor(L, 1), tb = lb_is_tensor(L, 2);
    if (!ta && !tb) return luaL_error(L, "%s: expected at least one tensor", fn);
    dm_tensor *a = operand(L, 1, fn), *b = operand(L, 2, fn);
    /* a Lua float with an integer tensor gives the default float dtype, as a Python float */
    if (ta && !tb && lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2) &&
        !dm_is_floating(a->dtype))
        a = boxed_to(L, a, lb_default_dtype(L));
    if (tb && !ta && lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) &&
        !dm_is_floating(b->dtype))
        b = boxed_to(L, b, lb_default_dtype(L));
    RESULT(dm_binop2_apply(op, a, b));
}

#define B2(name, op) static int t_##name(lua_State *L) { return binop2(L, op); }
B2(bitwise_and, DM_B2_BITWISE_AND) B2(bitwise_or, DM_B2_BITWISE_OR)
B2(bitwise_xor, DM_B2_BITWISE_XOR) B2(logical_and, DM_B2_LOGICAL_AND)
B2(logical_or, DM_B2_LOGICAL_OR) B2(logical_xor, DM_B2_LOGICAL_XOR)
B2(floor_divide, DM_B2_FLOOR_DIVIDE) B2(remainder, DM_B2_REMAINDER) B2(fmod, DM_B2_FMOD)

static int t_bitwise_not(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_unop2_apply(0, t)); }
static int t_logical_not(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_unop2_apply(1, t)); }

static const luaL_Reg methods_fns[] = {
    { "amax", t_amax }, { "amin", t_amin }, { "logsumexp", t_logsumexp }, { "norm", t_norm },
    { "any", t_any }, { "all", t_all }, { "isnan", t_isnan }, { "isinf", t_isinf },
    { "isfinite", t_isfinite }, { "nan_to_num", t_nan_to_num },
    { "bitwise_and", t_bitwise_and }, { "bitwise_or", t_bitwise_or },
    { "bitwise_xor", t_bitwise_xor }, { "bitwise_not", t_bitwise_not },
    { "logical_and", t_logical_and }, { "logical_or", t_logical_or },
    { "logical_xor", t_logical_xor }, { "logical_not", t_logical_not },
    { "floor_divide", t_floor_divide }, { "remainder", t_remainder }, { "fmod", t_fmod },
    { NULL, NULL }
};

void lb_open_ops_reduce(lua_State *L, int methods, int module)
{
    lb_setfuncs_both(L, methods, module, methods_fns);
    luaL_getmetatable(L, LB_TENSOR);
    static const luaL_Reg meta[] = {
        { "__band", t_bitwise_and }, { "__bor", t_bitwise_or }, { "__bxor", t_bitwise_xor },
        { "__bnot", t_bitwise_not }, { "__idiv", t_floor_divide }, { "__mod", t_remainder },
        { NULL, NULL }
    };
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
}
