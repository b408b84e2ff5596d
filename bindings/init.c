/* init.c -- the weight initialisers of core/ops/init.c for Lua, as the private table
 * deepmoon.core._init that lua/deepmoon/nn/init.lua (deepmoon.nn.init) wraps with PyTorch's
 * argument handling (defaults, options tables, type checks).
 *
 * Arguments here are positional in PyTorch's order and all present (the Lua layer fills in
 * the defaults); a trailing generator may be nil for the default one.  The fills return
 * their tensor.  Like PyTorch's, which run under no_grad, they write into leaves that
 * require grad without complaint and record no autograd. */
#include "binding.h"
#include <string.h>

static dm_rng *opt_generator(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? lb_default_rng(L) : lb_check_generator(L, idx);
}

/* the tensor at 1 back to Lua, or the core's message (which names the function) */
static int filled(lua_State *L, int rc)
{
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

/* _init.calculate_gain(nonlinearity, param): param nil means none */
static int i_calculate_gain(lua_State *L)
{
    const char *nl = luaL_checkstring(L, 1);
    int has = lua_type(L, 2) == LUA_TNUMBER;
    /* PyTorch checks the parameter only where it is used */
    if (!has && !lua_isnoneornil(L, 2) && strcmp(nl, "leaky_relu") == 0)
        return luaL_error(L, "calculate_gain: negative_slope must be a number, got %s",
                          luaL_typename(L, 2));
    double gain;
    if (dm_calculate_gain(nl, has ? lua_tonumber(L, 2) : 0, has, &gain) != 0)
        return luaL_error(L, "%s", dm_errmsg());
    lua_pushnumber(L, gain);
    return 1;
}

/* _init.fans(t, fname) -> fan_in, fan_out; fname names the caller in errors */
static int i_fans(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t fin, fout;
    if (dm_fans(luaL_optstring(L, 2, "calculate_fan_in_and_fan_out"), t, &fin, &fout) != 0)
        return luaL_error(L, "%s", dm_errmsg());
    lua_pushinteger(L, (lua_Integer)fin);
    lua_pushinteger(L, (lua_Integer)fout);
    return 2;
}

static int i_erfinv(lua_State *L)
{
    lua_pushnumber(L, dm_erfinv(luaL_checknumber(L, 1)));
    return 1;
}

/* _init.uniform_(t, a, b, g) */
static int i_uniform_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double a = luaL_checknumber(L, 2), b = luaL_checknumber(L, 3);
    return filled(L, dm_init_uniform_(t, a, b, opt_generator(L, 4)));
}

/* _init.normal_(t, mean, std, g) */
static int i_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double mean = luaL_checknumber(L, 2), std = luaL_checknumber(L, 3);
    return filled(L, dm_init_normal_(t, mean, std, opt_generator(L, 4)));
}

/* _init.trunc_normal_(t, mean, std, a, b, g) */
static int i_trunc_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double mean = luaL_checknumber(L, 2), std = luaL_checknumber(L, 3);
    double a = luaL_checknumber(L, 4), b = luaL_checknumber(L, 5);
    return filled(L, dm_init_trunc_normal_(t, mean, std, a, b, opt_generator(L, 6)));
}

/* _init.constant_(t, val) */
static int i_constant_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_constant_(t, luaL_checknumber(L, 2)));
}

static int i_eye_(lua_State *L)
{
    return filled(L, dm_init_eye_(lb_check(L, 1)));
}

/* _init.dirac_(t, groups) */
static int i_dirac_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_dirac_(t, (int64_t)luaL_checkinteger(L, 2)));
}

/* _init.xavier_uniform_(t, gain, g), xavier_normal_ likewise */
static int i_xavier_uniform_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_xavier_uniform_(t, luaL_checknumber(L, 2), opt_generator(L, 3)));
}

static int i_xavier_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_xavier_normal_(t, luaL_checknumber(L, 2), opt_generator(L, 3)));
}

/* _init.kaiming_uniform_(t, a, mode, nonlinearity, g), kaiming_normal_ likewise */
static int i_kaiming_uniform_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double a = luaL_checknumber(L, 2);
    const char *mode = luaL_checkstring(L, 3), *nl = luaL_checkstring(L, 4);
    return filled(L, dm_init_kaiming_uniform_(t, a, mode, nl, opt_generator(L, 5)));
}

static int i_kaiming_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double a = luaL_checknumber(L, 2);
    const char *mode = luaL_checkstring(L, 3), *nl = luaL_checkstring(L, 4);
    return filled(L, dm_init_kaiming_normal_(t, a, mode, nl, opt_generator(L, 5)));
}

/* _init.lecun_uniform_(t, g), lecun_normal_ likewise */
static int i_lecun_uniform_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_lecun_uniform_(t, opt_generator(L, 2)));
}

static int i_lecun_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_lecun_normal_(t, opt_generator(L, 2)));
}

/* _init.orthogonal_(t, gain, g) */
static int i_orthogonal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    return filled(L, dm_init_orthogonal_(t, luaL_checknumber(L, 2), opt_generator(L, 3)));
}

/* _init.sparse_(t, sparsity, std, g) */
static int i_sparse_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double sparsity = luaL_checknumber(L, 2), std = luaL_checknumber(L, 3);
    return filled(L, dm_init_sparse_(t, sparsity, std, opt_generator(L, 4)));
}

void lb_open_init(lua_State *L, int methods, int module)
{
    (void)methods;
    static const luaL_Reg fns[] = {
        { "calculate_gain", i_calculate_gain }, { "fans", i_fans }, { "erfinv", i_erfinv },
        { "uniform_", i_uniform_ }, { "normal_", i_normal_ },
        { "trunc_normal_", i_trunc_normal_ }, { "constant_", i_constant_ },
        { "eye_", i_eye_ }, { "dirac_", i_dirac_ },
        { "xavier_uniform_", i_xavier_uniform_ }, { "xavier_normal_", i_xavier_normal_ },
        { "kaiming_uniform_", i_kaiming_uniform_ }, { "kaiming_normal_", i_kaiming_normal_ },
        { "lecun_uniform_", i_lecun_uniform_ }, { "lecun_normal_", i_lecun_normal_ },
        { "orthogonal_", i_orthogonal_ }, { "sparse_", i_sparse_ },
        { NULL, NULL }
    };
    luaL_newlib(L, fns);
    lua_setfield(L, module, "_init");
}
