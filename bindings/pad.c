/* pad.c -- pad(x, pad_list [, mode = "constant"] [, value = 0]): PyTorch's F.pad (core/ops/pad.c).
 * The pad list is in PyTorch's order: the last dim's left and right, then the dim before's. */
#include "binding.h"
#include <string.h>

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

static int o_pad(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (!lua_istable(L, 2))
        return luaL_error(L, "pad: argument 'pad' must be a list of integers, got %s",
                          luaL_typename(L, 2));
    lua_Integer n = luaL_len(L, 2);
    if (n < 0 || n > 2 * DM_MAX_DIMS)
        return luaL_error(L, "pad: padding length too large: %I values (at most %d)", n,
                          2 * DM_MAX_DIMS);
    int64_t pad[2 * DM_MAX_DIMS];
    for (int i = 1; i <= (int)n; i++) {
        lua_geti(L, 2, i);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            return luaL_error(L, "pad: argument 'pad' must be a list of integers, got %s at "
                                 "position %d", luaL_typename(L, -1), i);
        pad[i - 1] = (int64_t)v;
        lua_pop(L, 1);
    }
    static const char *const modes[] = { "constant", "reflect", "replicate", "circular", NULL };
    int mode = 0;
    if (!lua_isnoneornil(L, 3)) {
        const char *m = lua_tostring(L, 3);
        if (lua_type(L, 3) != LUA_TSTRING)
            return luaL_error(L, "pad: argument 'mode' must be a string, got %s",
                              luaL_typename(L, 3));
        for (mode = 0; modes[mode] && strcmp(modes[mode], m); mode++) {}
        if (!modes[mode])
            return luaL_error(L, "pad: unknown padding mode '%s' (expected constant, reflect, "
                                 "replicate or circular)", m);
    }
    double value = 0;
    if (!lua_isnoneornil(L, 4)) {
        if (lua_type(L, 4) != LUA_TNUMBER)
            return luaL_error(L, "pad: argument 'value' must be a number, got %s",
                              luaL_typename(L, 4));
        value = lua_tonumber(L, 4);
    }
    RESULT(dm_pad(t, (int)n, pad, mode, value));
}

void lb_open_pad(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushcfunction(L, o_pad);
    lua_setfield(L, module, "pad");
}
