/* embed.c -- luaopen_deepmoon: deepmoon in any lua_State, its Lua modules compiled in
 * (deepmoon_lua.h documents it for hosts).
 *
 * The Makefile turns lua/deepmoon/ into lua_sources.h with tools/embed_lua.sh: one byte
 * array per module and the table embedded_modules[] of (module name, file, bytes).  Each
 * becomes a package.preload loader, so `require` finds the built-in copy before searching
 * package.path, and what runs is always the Lua code this library was built with. */
#include "binding.h"
#include "deepmoon_lua.h"

typedef struct {
    const char *name;              /* "deepmoon.nn.module" */
    const char *file;              /* "deepmoon/nn/module.lua", for messages and tracebacks */
    const unsigned char *src;
    size_t len;
} embedded_module;

#include "lua_sources.h"

/* the package.preload loader of one embedded module: called by require as loader(name,
   extra); runs the chunk as a file searcher would, with (name, file) as its `...` */
static int load_embedded(lua_State *L)
{
    const embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushfstring(L, "@%s", m->file);
    int rc = luaL_loadbufferx(L, (const char *)m->src, m->len, lua_tostring(L, -1), "t");
    if (rc != LUA_OK)
        return luaL_error(L, "error loading module '%s' (built into deepmoon):\n\t%s", m->name,
                          lua_tostring(L, -1));
    lua_pushstring(L, m->name);
    lua_pushstring(L, m->file);
    lua_call(L, 2, 1);
    return 1;
}

/* set preload[name] = the function on top of the stack unless the host set one; pops it */
static void preload(lua_State *L, int preload_idx, const char *name)
{
    if (lua_getfield(L, preload_idx, name) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_setfield(L, preload_idx, name);
    } else {
        lua_pop(L, 2);
    }
}

int luaopen_deepmoon(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);   /* package.preload */
    int idx = lua_gettop(L);
    lua_pushcfunction(L, luaopen_deepmoon_core);
    preload(L, idx, "deepmoon.core");
    for (size_t i = 0; i < sizeof embedded_modules / sizeof embedded_modules[0]; i++) {
        lua_pushlightuserdata(L, (void *)&embedded_modules[i]);
        lua_pushcclosure(L, load_embedded, 1);
        preload(L, idx, embedded_modules[i].name);
    }
    lua_pop(L, 1);
    if (lua_getglobal(L, "require") != LUA_TFUNCTION)
        return luaL_error(L, "luaopen_deepmoon: 'require' is missing; open the standard "
                          "libraries first (luaL_openlibs)");
    lua_pushliteral(L, "deepmoon");
    lua_call(L, 1, 1);
    return 1;
}

void dm_lua_push_tensor(lua_State *L, dm_tensor *t)
{
    if (!t) {
        luaL_error(L, "dm_lua_push_tensor: the tensor is NULL");
        return;
    }
    if (luaL_getmetatable(L, LB_TENSOR) != LUA_TTABLE) {
        luaL_error(L, "dm_lua_push_tensor: deepmoon is not open in this lua_State (call "
                   "luaL_requiref(L, \"deepmoon\", luaopen_deepmoon, 1) first)");
        return;
    }
    lua_pop(L, 1);
    lb_push_foreign(L, t);
}

dm_tensor *dm_lua_totensor(lua_State *L, int idx)
{
    if (!lb_is_tensor(L, idx)) return NULL;
    return *(dm_tensor **)lua_touserdata(L, idx);
}
