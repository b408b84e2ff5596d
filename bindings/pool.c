/* pool.c -- max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices) and
 * avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
 * PyTorch's F.max_pool2d / F.avg_pool2d (core/ops/pool.c).  Sizes are {h, w} lists of integers;
 * indices come back 1-based (flat per H x W plane). */
#include "binding.h"

static void check_pair(lua_State *L, int idx, const char *fn, const char *name, int64_t *out)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: argument '%s' must be a list of 2 integers, got %s", fn, name,
                   luaL_typename(L, idx));
    for (int i = 0; i < 2; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "%s: argument '%s' must be a list of 2 integers, got %s at position "
                          "%d", fn, name, luaL_typename(L, -1), i + 1);
        out[i] = (int64_t)v;
        lua_pop(L, 1);
    }
}

/* 0-based indices from the core -> a 1-based copy for Lua (the node saved the 0-based ones
   for its backward); releases ix.  NULL when out of memory */
static dm_tensor *one_based(dm_tensor *ix)
{
    dm_tensor *c = dm_clone(ix);
    dm_tensor_release(ix);
    if (c) {
        int64_t *q = dm_data_ptr(c), n = dm_numel(c);
        for (int64_t i = 0; i < n; i++) q[i]++;
    }
    return c;
}

static int o_max_pool2d(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k[2], s[2], p[2], d[2];
    check_pair(L, 2, "max_pool2d", "kernel_size", k);
    check_pair(L, 3, "max_pool2d", "stride", s);
    check_pair(L, 4, "max_pool2d", "padding", p);
    check_pair(L, 5, "max_pool2d", "dilation", d);
    int ceil = lua_toboolean(L, 6), want = lua_toboolean(L, 7);
    dm_tensor **vs = lb_newbox(L);
    if (!want) {
        *vs = dm_max_pool2d(t, k, s, p, d, ceil, NULL);
        return lb_done(L, vs);
    }
    dm_tensor **is = lb_newbox(L), *ix = NULL;
    *vs = dm_max_pool2d(t, k, s, p, d, ceil, &ix);
    *is = ix ? one_based(ix) : NULL;
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}

static int o_avg_pool2d(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k[2], s[2], p[2];
    check_pair(L, 2, "avg_pool2d", "kernel_size", k);
    check_pair(L, 3, "avg_pool2d", "stride", s);
    check_pair(L, 4, "avg_pool2d", "padding", p);
    int ceil = lua_toboolean(L, 5), cip = lua_toboolean(L, 6);
    lua_Integer dv = luaL_optinteger(L, 7, 0);
    if (!lua_isnoneornil(L, 7) && dv == 0)
        return luaL_error(L, "avg_pool2d: divisor must be not zero");
    dm_tensor **vs = lb_newbox(L);
    *vs = dm_avg_pool2d(t, k, s, p, ceil, cip, (int64_t)dv);
    return lb_done(L, vs);
}

static int o_adaptive_avg_pool2d(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t o[2];
    check_pair(L, 2, "adaptive_avg_pool2d", "output_size", o);
    dm_tensor **vs = lb_newbox(L);
    *vs = dm_adaptive_avg_pool2d(t, o);
    return lb_done(L, vs);
}

static int o_adaptive_max_pool2d(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t o[2];
    check_pair(L, 2, "adaptive_max_pool2d", "output_size", o);
    int want = lua_toboolean(L, 3);
    dm_tensor **vs = lb_newbox(L);
    if (!want) {
        *vs = dm_adaptive_max_pool2d(t, o, NULL);
        return lb_done(L, vs);
    }
    dm_tensor **is = lb_newbox(L), *ix = NULL;
    *vs = dm_adaptive_max_pool2d(t, o, &ix);
    *is = ix ? one_based(ix) : NULL;
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}

/* max_unpool2d(x, indices (1-based), output_size {oh, ow}) */
static int o_max_unpool2d(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *ix = lb_check(L, 2);
    int64_t o[2];
    check_pair(L, 3, "max_unpool2d", "output_size", o);
    if (ix->dtype != DM_INT64)
        return luaL_error(L, "max_unpool2d: expected int64 indices, got %s",
                          dm_dtype_name(ix->dtype));
    dm_tensor *z = dm_clone(ix);   /* 0-based for the core */
    if (!z) return luaL_error(L, "%s", dm_errmsg());
    int64_t *q = dm_data_ptr(z), n = dm_numel(z);
    /* an index outside 1..oh*ow is reported as the caller gave it (1-based), not as the
       core's 0-based one; sizes below 1 are left to the core's output_size check */
    int same = t->ndim == ix->ndim;   /* indices of another shape: the core says so */
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == ix->shape[i];
    int64_t plane = (same && o[0] > 0 && o[1] > 0 && o[0] <= INT64_MAX / o[1]) ? o[0] * o[1]
                                                                                : -1;
    for (int64_t i = 0; i < n; i++) {
        if (plane > 0 && (q[i] < 1 || q[i] > plane)) {
            lua_Integer bad = (lua_Integer)q[i];
            dm_tensor_release(z);
            return luaL_error(L, "max_unpool2d: found an invalid max index %I (indices are "
                                 "1-based: 1 to %I for output planes of size %I x %I)",
                              bad, (lua_Integer)plane, (lua_Integer)o[0], (lua_Integer)o[1]);
        }
        q[i] = q[i] >= 1 ? q[i] - 1 : -1;   /* below 1: invalid */
    }
    dm_tensor **vs = lb_newbox(L);
    *vs = dm_max_unpool2d(t, z, o);
    dm_tensor_release(z);
    return lb_done(L, vs);
}

void lb_open_pool(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushcfunction(L, o_max_pool2d);
    lua_setfield(L, module, "max_pool2d");
    lua_pushcfunction(L, o_avg_pool2d);
    lua_setfield(L, module, "avg_pool2d");
    lua_pushcfunction(L, o_adaptive_avg_pool2d);
    lua_setfield(L, module, "adaptive_avg_pool2d");
    lua_pushcfunction(L, o_adaptive_max_pool2d);
    lua_setfield(L, module, "adaptive_max_pool2d");
    lua_pushcfunction(L, o_max_unpool2d);
    lua_setfield(L, module, "max_unpool2d");
}
