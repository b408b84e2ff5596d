/* random.c -- generators and random tensors for Lua.  Every random function takes a
 * trailing {generator = g}; without it the module's default generator is used. */
#include "binding.h"
#include <stdlib.h>
#include <string.h>

typedef struct { dm_rng *g; } genbox;

/* a generator whose finalizer has run (reachable again from another finalizer) holds NULL:
   using it is an error, as for a released tensor */
dm_rng *lb_check_generator(lua_State *L, int idx)
{
    genbox *b = luaL_checkudata(L, idx, LB_GENERATOR);
    if (!b->g) luaL_argerror(L, idx, "generator was released");
    return b->g;
}

dm_rng *lb_generator(lua_State *L, int opts)
{
    if (!opts || !lua_istable(L, opts)) return lb_default_rng(L);
    lua_getfield(L, opts, "generator");
    dm_rng *g = lb_default_rng(L);
    if (!lua_isnil(L, -1)) {
        genbox *b = luaL_testudata(L, -1, LB_GENERATOR);
        if (!b) luaL_error(L, "generator option must be a deepmoon.Generator, got %s", luaL_typename(L, -1));
        if (!b->g) luaL_error(L, "generator option: generator was released");
        g = b->g;
    }
    lua_pop(L, 1);
    return g;
}

static uint64_t check_seed(lua_State *L, int idx)
{
    lua_Integer s = luaL_checkinteger(L, idx);
    return (uint64_t)s;
}

static int g_new(lua_State *L)
{
    genbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->g = NULL;
    luaL_setmetatable(L, LB_GENERATOR);
    b->g = dm_rng_new(lua_isnoneornil(L, 1) ? 0 : check_seed(L, 1));
    if (!b->g) return luaL_error(L, "%s", dm_errmsg());
    return 1;
}

static int g_gc(lua_State *L)
{
    genbox *b = luaL_checkudata(L, 1, LB_GENERATOR);
    dm_rng_free(b->g);
    b->g = NULL;
    return 0;
}

static int g_manual_seed(lua_State *L)
{
    dm_rng_seed(lb_check_generator(L, 1), check_seed(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int g_initial_seed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)dm_rng_initial_seed(lb_check_generator(L, 1)));
    return 1;
}

static int push_state(lua_State *L, dm_rng *g)
{
    size_t n = dm_rng_state_size();
    char *buf = malloc(n);
    if (!buf) return luaL_error(L, "get_state: out of memory");
    dm_rng_get_state(g, buf);
    lua_pushlstring(L, buf, n);
    free(buf);
    return 1;
}

static void set_state(lua_State *L, dm_rng *g, int idx)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    if (n != dm_rng_state_size())
        luaL_error(L, "set_state: expected a state of %d bytes, got %d", (int)dm_rng_state_size(), (int)n);
    dm_rng_set_state(g, s);
}

static int g_get_state(lua_State *L) { return push_state(L, lb_check_generator(L, 1)); }
static int g_set_state(lua_State *L) { set_state(L, lb_check_generator(L, 1), 2); lua_settop(L, 1); return 1; }

static int m_manual_seed(lua_State *L)
{
    dm_rng_seed(lb_default_rng(L), check_seed(L, 1));
    return 0;
}
static int m_initial_seed(lua_State *L) { lua_pushinteger(L, (lua_Integer)dm_rng_initial_seed(lb_default_rng(L))); return 1; }
static int m_get_rng_state(lua_State *L) { return push_state(L, lb_default_rng(L)); }
static int m_set_rng_state(lua_State *L) { set_state(L, lb_default_rng(L), 1); return 0; }

static const char *const rand_opts[] = { "generator", "requires_grad", NULL };
static const char *const randint_opts[] = { "generator", "requires_grad", "dtype", NULL };

/* randint(low, high, size [, opts]) or randint(high, size [, opts]); high exclusive; int64
   unless {dtype = ...} says otherwise, as PyTorch */
static int m_randint(lua_State *L)
{
    lua_Integer low = 0, high;
    int at;
    if (lua_type(L, 2) == LUA_TNUMBER) { low = luaL_checkinteger(L, 1); high = luaL_checkinteger(L, 2); at = 3; }
    else { high = luaL_checkinteger(L, 1); at = 2; }
    int64_t shape[DM_MAX_DIMS];
    luaL_checktype(L, at, LUA_TTABLE);
    int nd = lb_sizes(L, at, shape, "randint");
    lb_opts_check(L, at + 1, "randint", randint_opts);
    int opts = lua_istable(L, at + 1) ? at + 1 : 0;
    dm_rng *g = lb_generator(L, opts);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, opts, DM_INT64);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_new_dtype(nd, shape, dt);
    if (*slot && dm_randint_(*slot, low, high, g) != 0) { dm_tensor_release(*slot); *slot = NULL; }
    return lb_done(L, slot);
}

/* randperm(n [, opts]): a permutation of 1..n (1-based, as Lua indices), int64 unless
   {dtype = ...} says otherwise, as PyTorch */
static int m_randperm(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    lb_opts_check(L, 2, "randperm", randint_opts);
    int opts = lua_istable(L, 2) ? 2 : 0;
    dm_rng *g = lb_generator(L, opts);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, opts, DM_INT64);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_randperm(n, g);
    if (*slot) {
        int64_t *v = dm_data_ptr(*slot);
        for (lua_Integer i = 0; i < n; i++) v[i] += 1;
    }
    if (*slot && dt != DM_INT64) {
        dm_tensor *p = *slot;
        *slot = dm_to_dtype(p, dt);
        dm_tensor_release(p);
    }
    return lb_done(L, slot);
}

static int inplace_done(lua_State *L, int rc)
{
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

static int refuse_leaf(lua_State *L, const char *fn, dm_tensor *t)
{
    if (dm_grad_enabled() && t->requires_grad) {
        if (dm_is_leaf(t))
            return luaL_error(L, "%s: a leaf Variable that requires grad is being used in an "
                              "in-place operation.", fn);
        return luaL_error(L, "%s: a random fill of a tensor that requires grad is not "
                          "supported yet; fill under no_grad", fn);
    }
    return 0;
}

/* trailing options table of an in-place random fill, or 0 */
static int fill_opts(lua_State *L)
{
    int top = lua_gettop(L);
    return top > 1 && lua_istable(L, top) ? top : 0;
}

static double optnum(lua_State *L, int idx, int opts, double def)
{
    return (opts && idx >= opts) ? def : luaL_optnumber(L, idx, def);
}

/* t:uniform_([a [, b]] [, opts]) */
static int t_uniform_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = fill_opts(L);
    double a = optnum(L, 2, opts, 0), b = optnum(L, 3, opts, 1);
    lb_opts_check(L, opts, "uniform_", rand_opts);
    refuse_leaf(L, "uniform_", t);
    return inplace_done(L, dm_uniform_(t, a, b, lb_generator(L, opts)));
}

/* t:normal_([mean [, std]] [, opts]) */
static int t_normal_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = fill_opts(L);
    double mean = optnum(L, 2, opts, 0), std = optnum(L, 3, opts, 1);
    if (std < 0) return luaL_error(L, "normal_: std must be non-negative, got %f", std);
    lb_opts_check(L, opts, "normal_", rand_opts);
    refuse_leaf(L, "normal_", t);
    return inplace_done(L, dm_normal_(t, mean, std, lb_generator(L, opts)));
}

static int t_bernoulli_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = fill_opts(L);
    double p = optnum(L, 2, opts, 0.5);
    lb_opts_check(L, opts, "bernoulli_", rand_opts);
    refuse_leaf(L, "bernoulli_", t);
    return inplace_done(L, dm_bernoulli_(t, p, lb_generator(L, opts)));
}

void lb_open_random(lua_State *L, int methods, int module)
{
    if (luaL_newmetatable(L, LB_GENERATOR)) {
        static const luaL_Reg gm[] = {
            { "manual_seed", g_manual_seed }, { "initial_seed", g_initial_seed },
            { "get_state", g_get_state }, { "set_state", g_set_state }, { NULL, NULL }
        };
        luaL_newlib(L, gm);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, g_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg mf[] = {
        { "Generator", g_new }, { "manual_seed", m_manual_seed },
        { "initial_seed", m_initial_seed }, { "get_rng_state", m_get_rng_state },
        { "set_rng_state", m_set_rng_state }, { "randint", m_randint },
        { "randperm", m_randperm }, { NULL, NULL }
    };
    lua_pushvalue(L, module);
    luaL_setfuncs(L, mf, 0);
    lua_pop(L, 1);
    static const luaL_Reg tm[] = {
        { "uniform_", t_uniform_ }, { "normal_", t_normal_ }, { "bernoulli_", t_bernoulli_ },
        { NULL, NULL }
    };
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, tm, 0);
    lua_pop(L, 1);
}
