/* upsample.c -- upsample(x, size [, scales] [, mode = "nearest"] [, align_corners = false]):
 * the core of F.interpolate (core/ops/upsample.c).  size lists the output's 1 or 2 spatial sizes;
 * scales, nil or a list of as many numbers (0: none), the scale_factor given. */
#include "binding.h"
#include <string.h>

static int o_upsample(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1 || n > 2)
        return luaL_error(L, "interpolate: expected 1 or 2 output sizes, got %I", n);
    int64_t size[2];
    double sc[2] = { 0, 0 };
    for (int i = 1; i <= (int)n; i++) {
        lua_geti(L, 2, i);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            return luaL_error(L, "interpolate: argument 'size' must be a list of integers, "
                                 "got %s at position %d", luaL_typename(L, -1), i);
        size[i - 1] = (int64_t)v;
        lua_pop(L, 1);
    }
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        for (int i = 1; i <= (int)n; i++) {
            lua_geti(L, 3, i);
            sc[i - 1] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
            lua_pop(L, 1);
        }
    }
    static const char *const modes[] = { "nearest", "linear", NULL };
    int mode = luaL_checkoption(L, 4, "nearest", modes);
    int align = lua_toboolean(L, 5);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_upsample(t, (int)n, size, sc, mode, align);
    return lb_done(L, slot);
}

void lb_open_upsample(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushcfunction(L, o_upsample);
    lua_setfield(L, module, "upsample");
}
