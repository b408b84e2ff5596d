/* idx.c -- IDX files (MNIST's format) for Lua: core.idx_load, which deepmoon.data wraps as
 * data.read_idx.  A missing or corrupt file is an environmental failure: nil plus the core's
 * message. */
#include "binding.h"

/* idx_load(path) -> tensor | nil, message */
static int m_idx_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_idx_load(path);
    if (!*slot) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    return lb_done(L, slot);
}

static const luaL_Reg idx_fns[] = {
    { "idx_load", m_idx_load },
    { NULL, NULL }
};

void lb_open_idx(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushvalue(L, module);
    luaL_setfuncs(L, idx_fns, 0);
    lua_pop(L, 1);
}
