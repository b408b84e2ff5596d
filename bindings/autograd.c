/* autograd.c -- Lua functions the backward walk calls: tensor hooks (t:register_hook),
 * custom nodes (dm.autograd.Function) and dm.autograd.grad.
 *
 * The walk runs inside a C function of this module (t:backward, core._autograd_grad) that
 * names its Lua state in lb_walk_L for the duration; a callback calls Lua there, under
 * lua_pcall, so that a Lua error becomes the core's error (the walk stops, frees what it
 * must, and the caller raises the message) and never longjmps through the core.
 * Each callback's Lua function is held by a registry reference, dropped when the core
 * frees the hook or node (free_ud).  A hook function that holds the tensor it is on keeps
 * that tensor alive until the hook is removed (the core retains nothing for a callback,
 * but the registry is a root the collector cannot see past). */
#include "binding.h"
#include <stdlib.h>
#include <string.h>

DM_LB_TLS lua_State *lb_walk_L;

typedef struct {
    lua_State *main;              /* the main thread: frees may come from any coroutine */
    int ref;                      /* the Lua function, in the registry */
} fnref;

static void fnref_free(void *ud)
{
    fnref *r = ud;
    if (!r) return;
    luaL_unref(r->main, LUA_REGISTRYINDEX, r->ref);
    free(r);
}

/* a reference to the function at idx; raises (having made nothing) on failure */
static fnref *fnref_new(lua_State *L, int idx)
{
    fnref *r = malloc(sizeof *r);
    if (!r) luaL_error(L, "out of memory");
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    r->main = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return r;
}

/* call the protected C function pf with nargs light userdata already pushed after it; a
   Lua error becomes the core's message.  0 or -1. */
static int call_lua(lua_State *L, int nargs)
{
    int top = lua_gettop(L) - nargs - 1;
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (msg) dm_seterr("%s", msg);
        else dm_seterr("%s", luaL_tolstring(L, -1, NULL));
        lua_settop(L, top);
        return -1;
    }
    lua_settop(L, top);
    return 0;
}

static lua_State *walk_state(const char *what)
{
    lua_State *L = lb_walk_L;
    if (!L) dm_seterr("%s: a Lua function cannot run in a backward pass not started from Lua",
                      what);
    else if (!lua_checkstack(L, 8)) {
        dm_seterr("%s: Lua stack overflow", what);
        return NULL;
    }
    return L;
}

/* ---- tensor hooks ---------------------------------------------------------------------- */

static int hook_protected(lua_State *L)
{
    fnref *r = lua_touserdata(L, 1);
    const dm_tensor *g = lua_touserdata(L, 2);
    dm_tensor **replace = lua_touserdata(L, 3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    lb_push(L, dm_tensor_retain((dm_tensor *)g));
    lua_call(L, 1, 1);
    if (!lua_isnil(L, -1)) {
        dm_tensor *x = lb_totensor(L, -1);
        if (!x)
            return luaL_error(L, "hook: a tensor hook must return a Tensor or nil, got %s",
                              luaL_typename(L, -1));
        *replace = dm_tensor_retain(x);
    }
    return 0;
}

static int hook_cb(void *ud, dm_tensor *t, const dm_tensor *grad, dm_tensor **replace)
{
    (void)t;
    lua_State *L = walk_state("hook");
    if (!L) return -1;
    lua_pushcfunction(L, hook_protected);
    lua_pushlightuserdata(L, ud);
    lua_pushlightuserdata(L, (void *)grad);
    lua_pushlightuserdata(L, replace);
    return call_lua(L, 3);
}

/* core._add_hook(t, fn) -> id */
static int a_add_hook(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!t->requires_grad)
        return luaL_error(L, "register_hook: cannot register a hook on a tensor that doesn't "
                             "require gradient");
    fnref *r = fnref_new(L, 2);
    int id = dm_tensor_add_hook(t, hook_cb, r, fnref_free);    /* frees r on failure */
    if (id < 0) return luaL_error(L, "register_hook: %s", dm_errmsg());
    lua_pushinteger(L, id);
    return 1;
}

/* core._remove_hook(t, id) -> true, or false when t has no such hook (already removed) */
static int a_remove_hook(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_pushboolean(L, dm_tensor_remove_hook(t, (int)luaL_checkinteger(L, 2)) == 0);
    return 1;
}

/* ---- custom nodes ---------------------------------------------------------------------- */

/* the node's Lua function gets the output's gradient and returns a list of ninputs
   gradients (nil where none); it has checked their shapes */
static int custom_protected(lua_State *L)
{
    fnref *r = lua_touserdata(L, 1);
    const dm_tensor *g = lua_touserdata(L, 2);
    int n = (int)lua_tointeger(L, 3);
    dm_tensor **grads = lua_touserdata(L, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    lb_push(L, dm_tensor_retain((dm_tensor *)g));
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "custom backward: expected a list of gradients");
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, -1, k + 1);
        dm_tensor *x = lb_totensor(L, -1);
        if (x) grads[k] = dm_tensor_retain(x);
        lua_pop(L, 1);
    }
    return 0;
}

static int custom_cb(void *ud, const dm_tensor *grad, int ninputs,
                     const dm_tensor *const *inputs, dm_tensor **grads)
{
    (void)inputs;
    lua_State *L = walk_state("autograd.Function");
    if (!L) return -1;
    lua_pushcfunction(L, custom_protected);
    lua_pushlightuserdata(L, ud);
    lua_pushlightuserdata(L, (void *)grad);
    lua_pushinteger(L, ninputs);
    lua_pushlightuserdata(L, grads);
    return call_lua(L, 4);
}

/* core._record_custom(out, {inputs...}, fn, name) -> out: fn(grad) becomes out's backward
   rule.  An out the rule cannot be recorded on as it is (an input returned as it came, a
   tensor held elsewhere) is cloned first, and the clone returned. */
static int a_record_custom(lua_State *L)
{
    dm_tensor *out = lb_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    const char *name = luaL_checkstring(L, 4);
    int n = (int)lua_rawlen(L, 2);
    const dm_tensor **in = lua_newuserdatauv(L, sizeof *in * (size_t)(n > 0 ? n : 1), 0);
    int same = 0;
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, 2, k + 1);
        in[k] = lb_check(L, -1);
        same |= in[k] == out;
        lua_pop(L, 1);
    }
    int box = 1;
    if (same || out->refcount != 1 || out->grad_fn || out->requires_grad) {
        int prev = dm_set_grad_enabled(0);
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_clone(out);
        dm_set_grad_enabled(prev);
        lb_done(L, slot);
        out = *slot;
        box = lua_gettop(L);
    }
    fnref *r = fnref_new(L, 3);
    if (dm_record_custom(out, n, in, custom_cb, r, fnref_free, name) != 0)
        return luaL_error(L, "%s", dm_errmsg());
    lua_pushvalue(L, box);
    return 1;
}

/* ---- walks started here ---------------------------------------------------------------- */

/* core._autograd_grad(root, gradient or nil, retain_graph, {inputs...}) -> {grads...}
   (nil where no gradient reached an input) */
static int a_autograd_grad(lua_State *L)
{
    dm_tensor *root = lb_check(L, 1);
    dm_tensor *g = lb_opt(L, 2);
    int retain = lua_toboolean(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 4);
    size_t sz = sizeof(dm_tensor *) * (size_t)(n > 0 ? n : 1);
    dm_tensor **in = lua_newuserdatauv(L, sz, 0);
    dm_tensor **out = lua_newuserdatauv(L, sz, 0);
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, 4, k + 1);
        in[k] = lb_check(L, -1);
        lua_pop(L, 1);
    }
    lua_createtable(L, n, 0);
    lua_State *prev = lb_walk_L;
    lb_walk_L = L;
    int rc = dm_autograd_grad(root, g, retain, n, in, out);
    lb_walk_L = prev;
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    int res = lua_gettop(L);
    for (int k = 0; k < n; k++) {
        dm_tensor *t = out[k];
        out[k] = NULL;
        if (!t) continue;
        lb_push(L, t);
        lua_rawseti(L, res, k + 1);
    }
    return 1;
}

void lb_open_autograd(lua_State *L, int methods, int module)
{
    (void)methods;
    static const luaL_Reg fns[] = {
        { "_add_hook", a_add_hook }, { "_remove_hook", a_remove_hook },
        { "_record_custom", a_record_custom }, { "_autograd_grad", a_autograd_grad },
        { NULL, NULL }
    };
    lua_pushvalue(L, module);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
