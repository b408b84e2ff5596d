/* ops_shape.c -- products (bmm, baddbmm, addmm, outer/ger, einsum), diagonals (diag,
 * diagonal, trace, tril, triu) and shape ops (repeat, tile, chunk, split, unbind, flip,
 * roll, narrow_copy, movedim) for Lua, as Tensor methods and dm.<name> functions.
 *
 * Dims are 1-based (negative from the end); counts, shifts and diagonal offsets are
 * PyTorch's values.  chunk, split and unbind return a Lua array of tensors (PyTorch returns
 * a tuple): `for i, piece in ipairs(t:chunk(3)) do ... end`.  `repeat` is a Lua keyword:
 * t["repeat"](t, 2, 3) reaches it, and so does its alias t:repeat_tensor(2, 3) (Torch7's
 * repeatTensor). */
#include "binding.h"
#include <stdlib.h>
#include <string.h>

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

/* a dim or a list of dims at idx (a number or a table) into dims; returns the count */
static int dims_arg(lua_State *L, int idx, int *dims, const char *fn)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        dims[0] = lb_dim(L, idx, fn);
        return 1;
    }
    lua_Integer ln = luaL_len(L, idx);
    if (ln < 0 || ln > DM_MAX_DIMS)
        luaL_error(L, "%s: %I dims given (at most %d)", fn, ln, DM_MAX_DIMS);
    int n = (int)ln;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        dims[i - 1] = lb_dim(L, lua_gettop(L), fn);
        lua_pop(L, 1);
    }
    return n;
}

/* an integer or a list of integers at idx into v (at most max); returns the count */
static int ints_arg(lua_State *L, int idx, int64_t *v, int max, const char *fn,
                    const char *what)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        v[0] = luaL_checkinteger(L, idx);
        return 1;
    }
    lua_Integer ln = luaL_len(L, idx);
    if (ln < 0 || ln > max) luaL_error(L, "%s: %I %s given (at most %d)", fn, ln, what, max);
    int n = (int)ln;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: %s must be integers, got %s at position %d", fn, what,
                            luaL_typename(L, -1), i);
        v[i - 1] = x;
        lua_pop(L, 1);
    }
    return n;
}

/* ---- products ---------------------------------------------------------------------- */

static int o_bmm(lua_State *L)
{
    dm_tensor *a = lb_check(L, 1), *b = lb_check(L, 2);
    RESULT(dm_bmm(a, b));
}

/* {beta = , alpha = } at idx */
static void beta_alpha(lua_State *L, int idx, const char *fn, double *beta, double *alpha)
{
    static const char *const known[] = { "beta", "alpha", NULL };
    *beta = 1;
    *alpha = 1;
    if (!lb_opts_check(L, idx, fn, known)) return;
    lua_getfield(L, idx, "beta");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_error(L, "%s: beta must be a number, got %s", fn,
                                             luaL_typename(L, -1));
        *beta = lua_tonumber(L, -1);
    }
    lua_getfield(L, idx, "alpha");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_error(L, "%s: alpha must be a number, got %s", fn,
                                             luaL_typename(L, -1));
        *alpha = lua_tonumber(L, -1);
    }
    lua_pop(L, 2);
}

/* baddbmm(input, batch1, batch2, {beta = 1, alpha = 1}) */
static int o_baddbmm(lua_State *L)
{
    dm_tensor *in = lb_check(L, 1), *a = lb_check(L, 2), *b = lb_check(L, 3);
    double beta, alpha;
    beta_alpha(L, 4, "baddbmm", &beta, &alpha);
    RESULT(dm_baddbmm(in, a, b, beta, alpha));
}

/* addmm(input, mat1, mat2, {beta = 1, alpha = 1}) */
static int o_addmm(lua_State *L)
{
    dm_tensor *in = lb_check(L, 1), *a = lb_check(L, 2), *b = lb_check(L, 3);
    double beta, alpha;
    beta_alpha(L, 4, "addmm", &beta, &alpha);
    RESULT(dm_addmm(in, a, b, beta, alpha));
}

static int o_outer(lua_State *L)
{
    dm_tensor *a = lb_check(L, 1), *b = lb_check(L, 2);
    RESULT(dm_outer(a, b));
}

/* einsum(equation, t1, t2, ...) or einsum(equation, {t1, t2, ...}) */
static int o_einsum(lua_State *L)
{
    const char *eq = luaL_checkstring(L, 1);
    int n;
    int list = lua_istable(L, 2) && !lb_is_tensor(L, 2);
    lua_Integer nl = list ? luaL_len(L, 2) : lua_gettop(L) - 1;
    if (nl > INT32_MAX) return luaL_error(L, "einsum: %I operands are too many", nl);
    n = (int)nl;
    if (n < 1) return luaL_error(L, "einsum: expected at least one tensor after the equation");
    dm_tensor **ts = lua_newuserdatauv(L, (size_t)n * sizeof *ts, 0);   /* freed by Lua */
    for (int i = 0; i < n; i++) {
        if (list) {
            lua_geti(L, 2, i + 1);
            if (!lb_is_tensor(L, -1))
                return luaL_error(L, "einsum: operand %d is a %s, expected a tensor", i + 1,
                                  luaL_typename(L, -1));
            ts[i] = lb_check(L, -1);
            lua_pop(L, 1);
        } else {
            if (!lb_is_tensor(L, i + 2))
                return luaL_error(L, "einsum: operand %d is a %s, expected a tensor", i + 1,
                                  luaL_typename(L, i + 2));
            ts[i] = lb_check(L, i + 2);
        }
    }
    RESULT(dm_einsum(eq, n, ts));
}

/* ---- diagonals ---------------------------------------------------------------------- */

/* the diagonal offset at idx: a number, or {diagonal = k}; 0 when absent */
static int64_t offset_arg(lua_State *L, int idx, const char *fn)
{
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_istable(L, idx)) {
        static const char *const known[] = { "diagonal", NULL };
        lb_opts_check(L, idx, fn, known);
        lua_getfield(L, idx, "diagonal");
        int ok;
        lua_Integer k = lua_tointegerx(L, -1, &ok);
        if (!ok && !lua_isnil(L, -1))
            luaL_error(L, "%s: diagonal must be an integer, got %s", fn, luaL_typename(L, -1));
        lua_pop(L, 1);
        return ok ? k : 0;
    }
    return luaL_checkinteger(L, idx);
}

static int o_diag(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k = offset_arg(L, 2, "diag");
    RESULT(dm_diag(t, k));
}

/* diagonal(offset = 0, dim1 = 1, dim2 = 2) */
static int o_diagonal(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k = luaL_optinteger(L, 2, 0);
    int d1 = lb_optdim(L, 3, "diagonal", 0), d2 = lb_optdim(L, 4, "diagonal", 1);
    RESULT(dm_diagonal(t, k, d1, d2));
}

static int o_trace(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    RESULT(dm_trace(t));
}

static int o_tril(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k = offset_arg(L, 2, "tril");
    RESULT(dm_tril(t, k));
}

static int o_triu(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t k = offset_arg(L, 2, "triu");
    RESULT(dm_triu(t, k));
}

/* ---- shapes ---------------------------------------------------------------------------- */

/* repeat(sizes...) or repeat({sizes}) */
static int o_repeat(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t r[DM_MAX_DIMS];
    int n = lb_sizes(L, 2, r, "repeat");
    RESULT(dm_repeat(t, n, r));
}

static int o_tile(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t r[DM_MAX_DIMS];
    int n = lb_sizes(L, 2, r, "tile");
    RESULT(dm_tile(t, n, r));
}

/* the n tensors of a core array as a Lua array (the array freed, the references boxed) */
static int push_list(lua_State *L, dm_tensor **ts, int64_t n)
{
    if (!ts) return luaL_error(L, "%s", dm_errmsg());
    /* box everything before anything can raise: a failed box leaks nothing later */
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        dm_tensor **slot = lb_newbox(L);
        *slot = ts[i];
        ts[i] = NULL;
        lua_seti(L, -2, i + 1);
    }
    free(ts);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, -1, i + 1);
        lb_done(L, (dm_tensor **)lua_touserdata(L, -1));
        lua_pop(L, 1);
    }
    return 1;
}

/* chunk(chunks, dim = 1) */
static int o_chunk(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_Integer c = luaL_checkinteger(L, 2);
    int d = lb_optdim(L, 3, "chunk", 0);
    int64_t n = 0;
    dm_tensor **ts = dm_chunk(t, c, d, &n);
    return push_list(L, ts, n);
}

/* split(split_size or {sizes}, dim = 1) */
static int o_split(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_optdim(L, 3, "split", 0);
    int64_t n = 0;
    dm_tensor **ts;
    if (lua_istable(L, 2)) {
        lua_Integer ml = luaL_len(L, 2);
        if (ml < 0 || ml > INT32_MAX)
            return luaL_error(L, "split: a list of %I sizes", ml);
        int m = (int)ml;
        int64_t *sizes = lua_newuserdatauv(L, (size_t)(m ? m : 1) * sizeof *sizes, 0);
        for (int i = 1; i <= m; i++) {
            lua_geti(L, 2, i);
            int ok;
            sizes[i - 1] = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_error(L, "split: sizes must be integers, got %s at position %d",
                                       luaL_typename(L, -1), i);
            lua_pop(L, 1);
        }
        ts = dm_split_sizes(t, m, sizes, d, &n);
    } else {
        ts = dm_split(t, luaL_checkinteger(L, 2), d, &n);
    }
    return push_list(L, ts, n);
}

static int o_unbind(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_optdim(L, 2, "unbind", 0);
    int64_t n = 0;
    dm_tensor **ts = dm_unbind(t, d, &n);
    return push_list(L, ts, n);
}

/* flip(dims...) or flip({dims}) */
static int o_flip(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int dims[DM_MAX_DIMS], n = 0;
    if (lua_istable(L, 2)) {
        n = dims_arg(L, 2, dims, "flip");
    } else {
        int top = lua_gettop(L);
        if (top - 1 > DM_MAX_DIMS)
            return luaL_error(L, "flip: %d dims given (at most %d)", top - 1, DM_MAX_DIMS);
        for (int i = 2; i <= top; i++) dims[n++] = lb_dim(L, i, "flip");
    }
    RESULT(dm_flip(t, n, dims));
}

/* roll(shifts, dims): numbers or lists; dims absent: over the flattened tensor */
static int o_roll(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t shifts[DM_MAX_DIMS];
    int dims[DM_MAX_DIMS], nd = 0;
    int ns = ints_arg(L, 2, shifts, DM_MAX_DIMS, "roll", "shifts");
    if (!lua_isnoneornil(L, 3)) nd = dims_arg(L, 3, dims, "roll");
    RESULT(dm_roll(t, ns, shifts, nd, dims));
}

/* narrow_copy(dim, start, length): start 1-based as narrow's, negative from the end */
static int o_narrow_copy(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_dim(L, 2, "narrow_copy");
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    int w = t->ndim ? dm_wrap_dim("narrow_copy", d, t->ndim, 0) : 0;
    if (w < 0) return luaL_error(L, "%s", dm_errmsg());
    if (start < 0 && t->ndim) start += t->shape[w] + 1;
    if (!t->ndim) start = 1;            /* narrow refuses a 0-dim tensor; start - 1 stays defined */
    RESULT(dm_narrow_copy(t, d, start - 1, len));
}

/* movedim(source, destination): dims or lists of dims */
static int o_movedim(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int src[DM_MAX_DIMS], dst[DM_MAX_DIMS];
    luaL_checkany(L, 3);
    int ns = dims_arg(L, 2, src, "movedim"), nd = dims_arg(L, 3, dst, "movedim");
    if (ns != nd)
        return luaL_error(L, "movedim: source and destination must name as many dims, got %d "
                             "and %d", ns, nd);
    RESULT(dm_movedim(t, ns, src, dst));
}

static const luaL_Reg shared_fns[] = {
    { "bmm", o_bmm }, { "baddbmm", o_baddbmm }, { "addmm", o_addmm }, { "outer", o_outer },
    { "ger", o_outer }, { "diag", o_diag }, { "diagonal", o_diagonal }, { "trace", o_trace },
    { "tril", o_tril }, { "triu", o_triu }, { "repeat", o_repeat }, { "repeat_tensor", o_repeat },
    { "tile", o_tile },
    { "chunk", o_chunk }, { "split", o_split }, { "unbind", o_unbind }, { "flip", o_flip },
    { "roll", o_roll }, { "narrow_copy", o_narrow_copy }, { "movedim", o_movedim },
    { NULL, NULL }
};

void lb_open_ops_shape(lua_State *L, int methods, int module)
{
    lb_setfuncs_both(L, methods, module, shared_fns);
    lua_pushcfunction(L, o_einsum);
    lua_setfield(L, module, "einsum");
}
