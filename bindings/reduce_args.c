/* reduce_args.c -- the dims and keepdim of a reduction, from positional arguments or an
 * options table with PyTorch's keyword names, one parser for every reduction binding.
 *
 *   t:sum()  t:sum(2)  t:sum(2, true)  t:sum({1, 3}, true)        positional
 *   t:sum({dim = {1, 3}, keepdim = true})  t:sum(2, {keepdim = true})   options
 *
 * A table whose [1] is set is a list of dims; any other plain table (no metatable: not a
 * dtype) is the options table, which is the last argument.  The same argument given both ways is an error (`sum: dim given
 * twice`), and so is an unknown option.  Plain numbers take the first branch only: a few
 * lua_type calls, no table is touched. */
#include "binding.h"
#include <string.h>

static int is_dims_list(lua_State *L, int i)
{
    int set = lua_rawgeti(L, i, 1) != LUA_TNIL;
    lua_pop(L, 1);
    return set;
}

static int has_metatable(lua_State *L, int i)
{
    if (!lua_getmetatable(L, i)) return 0;
    lua_pop(L, 1);
    return 1;
}

/* one Lua dim (1-based, negative from the end) at stack index i -> core dim */
static int to_dim(lua_State *L, int i, const char *fn)
{
    int isint = 0;
    lua_Integer d = lua_tointegerx(L, i, &isint);
    if (!isint)
        return luaL_error(L, "%s: dims must be integers, got %s", fn, luaL_typename(L, i));
    if (d == 0) return luaL_error(L, "%s: dim 0 is invalid (dims are 1-based)", fn);
    if (d > 1000 || d < -1000) return luaL_error(L, "%s: dim %I out of range", fn, d);
    return d > 0 ? (int)d - 1 : (int)d;
}

/* a number or a list of numbers at i into a */
static void read_dims(lua_State *L, int i, const char *fn, int flags, int positional,
                      lb_rargs *a)
{
    if (lua_type(L, i) == LUA_TNUMBER) {
        a->n = 1;
        a->dims[0] = positional ? lb_dim(L, i, fn) : to_dim(L, i, fn);
        return;
    }
    if (lua_type(L, i) != LUA_TTABLE || lb_is_tensor(L, i))
        luaL_error(L, "%s: dim must be an integer%s, got %s", fn,
                   flags & LB_RA_MULTI ? " or a list of integers" : "", luaL_typename(L, i));
    if (!(flags & LB_RA_MULTI))
        luaL_error(L, "%s: dim must be one integer, got a list of dims", fn);
    lua_Integer n = luaL_len(L, i);
    if (n > DM_MAX_DIMS)
        luaL_error(L, "%s: %d dims given (at most %d supported)", fn, (int)n, DM_MAX_DIMS);
    int keys = 0;                                   /* only 1..n: no names in a dims list */
    lua_pushnil(L);
    while (lua_next(L, i)) { keys++; lua_pop(L, 1); }
    if (keys != n) luaL_error(L, "%s: a list of dims holds integers only", fn);
    for (int k = 0; k < (int)n; k++) {
        lua_rawgeti(L, i, k + 1);
        a->dims[k] = to_dim(L, -1, fn);
        lua_pop(L, 1);
    }
    a->n = (int)n;
}

void lb_reduce_args(lua_State *L, int idx, const char *fn, int flags, int nmid,
                    const char *const *extra, lb_rargs *a)
{
    a->n = -1;
    a->keepdim = 0;
    a->opts = 0;
    int top = lua_gettop(L), last = top;
    if (top >= idx && lua_type(L, top) == LUA_TTABLE && !is_dims_list(L, top) &&
        !has_metatable(L, top))                   /* a dtype (a table with one) is no options */
        { a->opts = top; last = top - 1; }
    if (last >= idx && !lua_isnil(L, idx)) read_dims(L, idx, fn, flags, 1, a);
    int kpos = idx + 1 + nmid, kgiven = 0;
    if (!(flags & LB_RA_NOKEEP) && last >= kpos && !lua_isnil(L, kpos)) {
        a->keepdim = lua_toboolean(L, kpos);
        kgiven = 1;
    }
    if (!a->opts) return;
    const char *known[12];
    int nk = 0;
    known[nk++] = "dim";
    if (!(flags & LB_RA_NOKEEP)) known[nk++] = "keepdim";
    for (int i = 0; extra && extra[i] && nk < 11; i++) known[nk++] = extra[i];
    known[nk] = NULL;
    lb_opts_check(L, a->opts, fn, known);
    if (lua_getfield(L, a->opts, "dim") != LUA_TNIL) {
        if (a->n >= 0) luaL_error(L, "%s: dim given twice", fn);
        read_dims(L, lua_gettop(L), fn, flags, 0, a);
    }
    lua_pop(L, 1);
    if (!(flags & LB_RA_NOKEEP)) {
        if (lua_getfield(L, a->opts, "keepdim") != LUA_TNIL) {
            if (kgiven) luaL_error(L, "%s: keepdim given twice", fn);
            a->keepdim = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
    }
}
