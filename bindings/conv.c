/* conv.c -- conv(x, w, b, stride, padding, dilation, groups [, output_padding]): PyTorch's
 * F.conv1d / F.conv2d, and F.conv_transpose2d when output_padding is given (core/ops/conv.c).
 * The spatial dims (1 or 2) are the weight's dims less two; each size list has that many. */
#include "binding.h"

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

static void sizes(lua_State *L, int arg, const char *name, int sp, int64_t *out)
{
    if (!lua_istable(L, arg) || luaL_len(L, arg) != sp)
        luaL_error(L, "conv: argument '%s' must be a list of %d integers", name, sp);
    for (int i = 1; i <= sp; i++) {
        lua_geti(L, arg, i);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "conv: argument '%s' must be a list of %d integers", name, sp);
        out[i - 1] = (int64_t)v;
        lua_pop(L, 1);
    }
}

static int o_conv(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *w = lb_check(L, 2);
    dm_tensor *b = lua_isnoneornil(L, 3) ? NULL : lb_check(L, 3);
    int sp = w->ndim - 2;
    if (sp < 1 || sp > 2)
        return luaL_error(L, "conv: expected a 3-dim or 4-dim weight, got %d dims", w->ndim);
    int64_t st[2], pd[2], dl[2], op[2];
    sizes(L, 4, "stride", sp, st);
    sizes(L, 5, "padding", sp, pd);
    sizes(L, 6, "dilation", sp, dl);
    int64_t groups = (int64_t)luaL_checkinteger(L, 7);
    if (!lua_isnoneornil(L, 8)) {
        if (sp != 2) return luaL_error(L, "conv: transposed convolution takes a 4-dim weight");
        sizes(L, 8, "output_padding", sp, op);
        RESULT(dm_conv_transpose2d(x, w, b, st, pd, op, dl, groups));
    }
    if (sp == 1) RESULT(dm_conv1d(x, w, b, st, pd, dl, groups));
    RESULT(dm_conv2d(x, w, b, st, pd, dl, groups));
}

void lb_open_conv(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushcfunction(L, o_conv);
    lua_setfield(L, module, "conv");
}
