/* module.c -- luaopen_deepmoon_core and the helpers every binding file shares. */
#include "binding.h"
#include <string.h>

/* ---- the Tensor box ------------------------------------------------------------------ */

dm_tensor **lb_newbox(lua_State *L)
{
    dm_tensor **slot = lua_newuserdatauv(L, sizeof(dm_tensor *), 0);
    *slot = NULL;
    luaL_setmetatable(L, LB_TENSOR);
    return slot;
}

int lb_is_tensor(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LB_TENSOR) != NULL;
}

dm_tensor *lb_check(lua_State *L, int idx)
{
    dm_tensor **slot = luaL_checkudata(L, idx, LB_TENSOR);
    if (!*slot) luaL_argerror(L, idx, "tensor was released");
    return *slot;
}

dm_tensor *lb_opt(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : lb_check(L, idx);
}

/* Bytes the core allocated are invisible to Lua's collector; without telling it, a loop of
 * temporaries grows without bound (Torch7's failure).  Report them in batches as GC steps,
 * and force a full collection when live tensor bytes double since the last one. */
static int64_t pending_bytes, soft_limit = 64 << 20;

void lb_account(lua_State *L, int64_t bytes)
{
    pending_bytes += bytes;
    if (pending_bytes >= (256 << 10)) {
        int kb = (int)(pending_bytes >> 10);
        pending_bytes = 0;
        lua_gc(L, LUA_GCSTEP, kb);
    }
    if (dm_live_bytes() > soft_limit) {
        lua_gc(L, LUA_GCCOLLECT);
        int64_t live = dm_live_bytes();
        soft_limit = live * 2 > (64 << 20) ? live * 2 : (64 << 20);
    }
}

int lb_done(lua_State *L, dm_tensor *t)
{
    if (!t) return luaL_error(L, "%s", dm_errmsg());
    if (t->storage->refcount == 1) lb_account(L, t->storage->size * (int64_t)sizeof(float));
    return 1;
}

int lb_push(lua_State *L, dm_tensor *t)
{
    if (!t) return luaL_error(L, "%s", dm_errmsg());
    dm_tensor **slot = lua_newuserdatauv(L, sizeof(dm_tensor *), 0);
    *slot = t;
    luaL_setmetatable(L, LB_TENSOR);
    return lb_done(L, t);
}

dm_tensor *lb_tensor_or_number(lua_State *L, int idx, int *made)
{
    *made = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        dm_tensor *t = dm_tensor_scalar((float)lua_tonumber(L, idx));
        if (!t) luaL_error(L, "%s", dm_errmsg());
        *made = 1;
        return t;
    }
    return lb_check(L, idx);
}

/* ---- arguments ------------------------------------------------------------------------ */

int lb_dim(lua_State *L, int idx, const char *fn)
{
    lua_Integer d = luaL_checkinteger(L, idx);
    if (d == 0)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: dim 0 is invalid (dims are 1-based)", fn));
    if (d > 1000 || d < -1000)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: dim %I out of range", fn, d));
    return d > 0 ? (int)d - 1 : (int)d;
}

int lb_optdim(lua_State *L, int idx, const char *fn, int def)
{
    return lua_isnoneornil(L, idx) ? def : lb_dim(L, idx, fn);
}

static int64_t check_size(lua_State *L, int idx, const char *fn, int k)
{
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || v < 0)
        return luaL_error(L, "%s: size %d must be a non-negative integer, got %s", fn, k,
                          isnum ? lua_pushfstring(L, "%I", v) : luaL_tolstring(L, idx, NULL));
    return v;
}

int lb_sizes(lua_State *L, int idx, int64_t *shape, const char *fn)
{
    int n = 0;
    if (lua_istable(L, idx) && !lb_is_tensor(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > DM_MAX_DIMS) luaL_error(L, "%s: %d dimensions (at most %d supported)", fn, n, DM_MAX_DIMS);
        for (int k = 1; k <= n; k++) {
            lua_geti(L, idx, k);
            shape[k - 1] = check_size(L, -1, fn, k);
            lua_pop(L, 1);
        }
        return n;
    }
    while (lua_type(L, idx + n) == LUA_TNUMBER) {
        if (n >= DM_MAX_DIMS) luaL_error(L, "%s: more than %d dimensions", fn, DM_MAX_DIMS);
        shape[n] = check_size(L, idx + n, fn, n + 1);
        n++;
    }
    return n;
}

int lb_opts_check(lua_State *L, int idx, const char *fn, const char *const *known)
{
    if (idx <= 0 || lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; known[i]; i++) if (strcmp(known[i], k) == 0) ok = 1;
            if (!ok) luaL_error(L, "%s: unknown option '%s'", fn, k);
        } else {
            luaL_error(L, "%s: option names must be strings", fn);
        }
    }
    return 1;
}

/* ---- module ------------------------------------------------------------------------- */

static int m_live_bytes(lua_State *L) { lua_pushinteger(L, dm_live_bytes()); return 1; }
static int m_live_tensors(lua_State *L) { lua_pushinteger(L, dm_live_tensors()); return 1; }
static int m_set_grad_enabled(lua_State *L)
{
    lua_pushboolean(L, dm_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}
static int m_is_grad_enabled(lua_State *L) { lua_pushboolean(L, dm_grad_enabled()); return 1; }
static int m_have_blas(lua_State *L) { lua_pushboolean(L, dm_have_blas()); return 1; }
static int m_set_use_blas(lua_State *L) { dm_set_use_blas(lua_toboolean(L, 1)); return 0; }

static const luaL_Reg module_fns[] = {
    { "memory", m_live_bytes },
    { "live_tensors", m_live_tensors },
    { "set_grad_enabled", m_set_grad_enabled },
    { "is_grad_enabled", m_is_grad_enabled },
    { "have_blas", m_have_blas },
    { "set_use_blas", m_set_use_blas },
    { NULL, NULL }
};

int luaopen_deepmoon_core(lua_State *L);

int luaopen_deepmoon_core(lua_State *L)
{
    luaL_newlib(L, module_fns);                 /* module */
    int module = lua_gettop(L);
    lua_newtable(L);                            /* Tensor methods */
    int methods = lua_gettop(L);
    luaL_newmetatable(L, LB_TENSOR);
    lua_pop(L, 1);
    lb_open_tensor(L, methods, module);
    lb_open_random(L, methods, module);
    lb_open_nn(L, methods, module);
    lb_open_io(L, methods, module);
    lb_open_init(L, methods, module);
    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor");
    lua_pushliteral(L, DM_VERSION);
    lua_setfield(L, module, "version");
    lua_settop(L, module);
    return 1;
}
