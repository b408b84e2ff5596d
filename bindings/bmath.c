/* bmath.c -- Tensor methods and dm.<name> for the two-input math functions atan2, hypot,
 * xlogy, logaddexp, logaddexp2, copysign, fmax, fmin and heaviside (core/ops/bmath.c).
 * Either argument may be a number (or a boolean), taken as a 0-dim tensor as the bitwise
 * ops take it (ops_reduce.c): an integer as int64, a float as float64 that does not promote
 * a tensor with dims, and a float with an integer tensor gives the default float dtype, as
 * a Python float; heaviside's number takes the tensor's dtype (it wants one dtype).
 * Also lerp (a number or tensor weight) and float_power (pow in float64), and the in-place
 * methods PyTorch has: atan2_, hypot_, xlogy_, copysign_, heaviside_, lerp_, float_power_. */
#include "binding.h"

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

/* a new box holding t converted to dt (collected with the stack) */
static dm_tensor *boxed_to(lua_State *L, const dm_tensor *t, dm_dtype dt)
{
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_to_dtype(t, dt);
    lb_done(L, slot);
    return *slot;
}

/* the operand at i: a Tensor, or a number or boolean as a 0-dim tensor in a box on the
   stack (of dtype like when given, else integers int64, floats float64, booleans bool) */
static dm_tensor *operand(lua_State *L, int i, const dm_tensor *like)
{
    dm_tensor *t = lb_totensor(L, i);
    if (t) return t;
    dm_tensor **slot;
    switch (lua_type(L, i)) {
    case LUA_TNUMBER:
        slot = lb_newbox(L);
        if (like)
            *slot = lua_isinteger(L, i) ? dm_tensor_full_i64(0, NULL, lua_tointeger(L, i), like->dtype)
                                        : dm_tensor_full_dtype(0, NULL, lua_tonumber(L, i), like->dtype);
        else
            *slot = lua_isinteger(L, i) ? dm_tensor_full_i64(0, NULL, lua_tointeger(L, i), DM_INT64)
                                        : dm_tensor_full_dtype(0, NULL, lua_tonumber(L, i), DM_FLOAT64);
        lb_done(L, slot);
        return *slot;
    case LUA_TBOOLEAN:
        slot = lb_newbox(L);
        *slot = dm_tensor_full_i64(0, NULL, lua_toboolean(L, i), like ? like->dtype : DM_BOOL);
        lb_done(L, slot);
        return *slot;
    default:
        luaL_typeerror(L, i, "deepmoon.Tensor, number or boolean");
        return NULL;
    }
}

static int bmath(lua_State *L, dm_bmath op)
{
    const char *fn = dm_bmath_name(op);
    int ta = lb_is_tensor(L, 1), tb = lb_is_tensor(L, 2);
    if (!ta && !tb) return luaL_error(L, "%s: expected at least one tensor", fn);
    lua_settop(L, 2);
    int same = op == DM_BM_HEAVISIDE;
    dm_tensor *a = operand(L, 1, same && tb ? lb_totensor(L, 2) : NULL);
    dm_tensor *b = operand(L, 2, same && ta ? lb_totensor(L, 1) : NULL);
    if (!same && ta && !tb && lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2) &&
        !dm_is_floating(a->dtype))
        a = boxed_to(L, a, lb_default_dtype(L));
    if (!same && tb && !ta && lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) &&
        !dm_is_floating(b->dtype))
        b = boxed_to(L, b, lb_default_dtype(L));
    RESULT(dm_bmath_apply(op, a, b));
}

#define BM(name, op) static int t_##name(lua_State *L) { return bmath(L, op); }
BM(atan2, DM_BM_ATAN2) BM(hypot, DM_BM_HYPOT) BM(xlogy, DM_BM_XLOGY)
BM(logaddexp, DM_BM_LOGADDEXP) BM(logaddexp2, DM_BM_LOGADDEXP2)
BM(copysign, DM_BM_COPYSIGN) BM(fmax, DM_BM_FMAX) BM(fmin, DM_BM_FMIN)
BM(heaviside, DM_BM_HEAVISIDE)

/* lerp(start, end, weight): weight a Tensor or a number */
static int t_lerp(lua_State *L)
{
    dm_tensor *a = lb_check(L, 1), *b = lb_check(L, 2);
    if (lua_type(L, 3) == LUA_TNUMBER) RESULT(dm_lerp_scalar(a, b, lua_tonumber(L, 3)));
    dm_tensor *w = lb_totensor(L, 3);
    if (!w) return luaL_typeerror(L, 3, "deepmoon.Tensor or number");
    RESULT(dm_lerp(a, b, w));
}

/* float_power(a, b): a and b in float64 (either may be a number), a ^ b, float64 */
static int t_float_power(lua_State *L)
{
    int ta = lb_is_tensor(L, 1), tb = lb_is_tensor(L, 2);
    if (!ta && !tb) return luaL_error(L, "float_power: expected at least one tensor");
    lua_settop(L, 2);
    dm_tensor *a = ta ? boxed_to(L, lb_totensor(L, 1), DM_FLOAT64) : NULL;
    dm_tensor *b = tb ? boxed_to(L, lb_totensor(L, 2), DM_FLOAT64) : NULL;
    if (a && b) RESULT(dm_pow(a, b));
    int si = a ? 2 : 1;
    if (lua_type(L, si) != LUA_TNUMBER) return luaL_typeerror(L, si, "deepmoon.Tensor or number");
    RESULT(dm_binary_scalar_f64(DM_BIN_POW, a ? a : b, lua_tonumber(L, si), a == NULL));
}

static int inplace_result(lua_State *L, int rc)
{
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

/* t:op_(other): other a Tensor or a number (as the out-of-place form takes it) */
static int bmath_(lua_State *L, dm_bmath op)
{
    dm_tensor *t = lb_check(L, 1);
    lua_settop(L, 2);
    dm_tensor *o = operand(L, 2, op == DM_BM_HEAVISIDE ? t : NULL);
    if (op != DM_BM_HEAVISIDE && lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2) &&
        !dm_is_floating(t->dtype))
        o = boxed_to(L, o, lb_default_dtype(L));
    return inplace_result(L, dm_bmath_(op, t, o));
}
#define BM_(name, op) static int t_##name##_(lua_State *L) { return bmath_(L, op); }
BM_(atan2, DM_BM_ATAN2) BM_(hypot, DM_BM_HYPOT) BM_(xlogy, DM_BM_XLOGY)
BM_(copysign, DM_BM_COPYSIGN) BM_(heaviside, DM_BM_HEAVISIDE)

static int t_lerp_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *b = lb_check(L, 2);
    if (lua_type(L, 3) == LUA_TNUMBER) return inplace_result(L, dm_lerp_(t, b, NULL, lua_tonumber(L, 3)));
    dm_tensor *w = lb_totensor(L, 3);
    if (!w) return luaL_typeerror(L, 3, "deepmoon.Tensor or number");
    return inplace_result(L, dm_lerp_(t, b, w, 0));
}

static int t_float_power_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *o = lb_totensor(L, 2);
    if (!o && lua_type(L, 2) != LUA_TNUMBER) return luaL_typeerror(L, 2, "deepmoon.Tensor or number");
    return inplace_result(L, dm_float_power_(t, o, o ? 0 : lua_tonumber(L, 2)));
}

static const luaL_Reg inplace_fns[] = {
    { "atan2_", t_atan2_ }, { "hypot_", t_hypot_ }, { "xlogy_", t_xlogy_ },
    { "copysign_", t_copysign_ }, { "heaviside_", t_heaviside_ }, { "lerp_", t_lerp_ },
    { "float_power_", t_float_power_ },
    { NULL, NULL }
};

static const luaL_Reg methods_fns[] = {
    { "atan2", t_atan2 }, { "hypot", t_hypot }, { "xlogy", t_xlogy },
    { "logaddexp", t_logaddexp }, { "logaddexp2", t_logaddexp2 }, { "copysign", t_copysign },
    { "fmax", t_fmax }, { "fmin", t_fmin }, { "heaviside", t_heaviside },
    { "lerp", t_lerp }, { "float_power", t_float_power },
    { NULL, NULL }
};

void lb_open_bmath(lua_State *L, int methods, int module)
{
    lb_setfuncs_both(L, methods, module, methods_fns);
    lua_pushvalue(L, methods);                                /* methods only */
    luaL_setfuncs(L, inplace_fns, 0);
    lua_pop(L, 1);
}
