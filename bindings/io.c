/* io.c -- safetensors and .npy files for Lua (deepmoon.io wraps these as dm.save, dm.load,
 * dm.save_npy, dm.load_npy).  A file that cannot be read or written is an environmental
 * failure: nil plus the core's message, as Lua's io library does.  Wrong argument types
 * raise. */
#include "binding.h"
#include <string.h>

#define LB_NAMED "deepmoon.NamedTensors"

/* a dm_named_tensors list owned by a userdata while it is turned into Lua values, so that a
   memory error raised by Lua half way cannot leak it */
typedef struct { dm_named_tensors *nt; } namedbox;

static int named_gc(lua_State *L)
{
    namedbox *b = luaL_checkudata(L, 1, LB_NAMED);
    dm_named_tensors_free(b->nt);
    b->nt = NULL;
    return 0;
}

static namedbox *new_namedbox(lua_State *L)
{
    namedbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->nt = NULL;
    luaL_setmetatable(L, LB_NAMED);
    return b;
}

static const char *check_name(lua_State *L, int idx, const char *what)
{
    size_t len;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "save: %s must be a string, got %s", what, luaL_typename(L, idx));
    const char *s = lua_tolstring(L, idx, &len);
    if (strlen(s) != len) luaL_error(L, "save: %s contains a zero byte", what);
    return s;
}

/* safetensors_save(path, names, tensors [, meta]): names and tensors are parallel lists,
   meta a table of string keys and values.  Returns true, or nil and a message. */
static int m_safetensors_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (luaL_len(L, 3) != n) return luaL_error(L, "save: %d names for %d tensors", (int)n, (int)luaL_len(L, 3));
    namedbox *b = new_namedbox(L);
    int box = lua_gettop(L);
    b->nt = dm_named_tensors_new();
    if (!b->nt) return luaL_error(L, "save: %s", dm_errmsg());
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        const char *name = check_name(L, -1, "a tensor name");
        lua_geti(L, 3, i);
        dm_tensor **slot = luaL_testudata(L, -1, LB_TENSOR);
        if (!slot || !*slot)
            return luaL_error(L, "save: value for '%s' must be a tensor, got %s", name,
                              slot ? "a released tensor" : luaL_typename(L, -1));
        if (dm_named_tensors_add(b->nt, name, *slot) != 0)
            return luaL_error(L, "save: %s", dm_errmsg());
        lua_pop(L, 2);
    }
    if (lua_istable(L, 4)) {
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            const char *k = check_name(L, -2, "a metadata key");
            const char *v = check_name(L, -1, "a metadata value");
            if (dm_named_tensors_set_meta(b->nt, k, v) != 0)
                return luaL_error(L, "save: %s", dm_errmsg());
            lua_pop(L, 1);
        }
    }
    int rc = dm_safetensors_save(path, b->nt);
    dm_named_tensors_free(b->nt);
    b->nt = NULL;
    lua_settop(L, box - 1);
    if (rc != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* safetensors_load(path) -> {name = tensor}, {key = value} | nil, message */
static int m_safetensors_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    namedbox *b = new_namedbox(L);
    b->nt = dm_safetensors_load(path);
    if (!b->nt) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    dm_named_tensors *nt = b->nt;
    lua_createtable(L, 0, nt->count > 1000000 ? 1000000 : (int)nt->count);
    for (int64_t i = 0; i < nt->count; i++) {
        dm_tensor **slot = lb_newbox(L);    /* the box takes over the list's reference */
        *slot = nt->tensors[i];
        nt->tensors[i] = NULL;
        lb_done(L, slot);
        lua_setfield(L, -2, nt->names[i]);
    }
    lua_createtable(L, 0, nt->meta_count > 1000 ? 1000 : (int)nt->meta_count);
    for (int64_t i = 0; i < nt->meta_count; i++) {
        lua_pushstring(L, nt->meta_values[i]);
        lua_setfield(L, -2, nt->meta_keys[i]);
    }
    dm_named_tensors_free(nt);
    b->nt = NULL;
    return 2;
}

/* npy_save(path, t) -> true | nil, message */
static int m_npy_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    dm_tensor *t = lb_check(L, 2);
    if (dm_npy_save(path, t) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* npy_load(path) -> tensor | nil, message */
static int m_npy_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_npy_load(path);
    if (!*slot) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    return lb_done(L, slot);
}

static const luaL_Reg io_fns[] = {
    { "safetensors_save", m_safetensors_save },
    { "safetensors_load", m_safetensors_load },
    { "npy_save", m_npy_save },
    { "npy_load", m_npy_load },
    { NULL, NULL }
};

void lb_open_io(lua_State *L, int methods, int module)
{
    (void)methods;
    if (luaL_newmetatable(L, LB_NAMED)) {
        lua_pushcfunction(L, named_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, io_fns, 0);
    lua_pop(L, 1);
}
