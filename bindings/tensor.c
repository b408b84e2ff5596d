/* tensor.c -- the Tensor type for Lua: creation, inspection, views, math, autograd. */
#include "binding.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* expr runs after the box is pushed: parse every argument before using RESULT */
#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

/* ---- creation from nested tables ------------------------------------------------------ */

/* walk the first elements to find the shape */
static int nested_shape(lua_State *L, int idx, int64_t *shape)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1) && !lb_is_tensor(L, -1)) {
        if (nd >= DM_MAX_DIMS) luaL_error(L, "tensor: nested deeper than %d levels", DM_MAX_DIMS);
        shape[nd++] = (int64_t)luaL_len(L, -1);
        if (shape[nd - 1] == 0) break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

static void path_str(luaL_Buffer *b, const int64_t *path, int depth)
{
    for (int d = 0; d < depth; d++) {
        char s[32];
        snprintf(s, sizeof s, "[%lld]", (long long)path[d] + 1);
        luaL_addstring(b, s);
    }
}

static void nested_error(lua_State *L, const char *what, const int64_t *path, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor: ");
    luaL_addstring(&b, what);
    luaL_addstring(&b, " at ");
    if (depth == 0) luaL_addstring(&b, "top level");
    else path_str(&b, path, depth);
    luaL_pushresult(&b);
    lua_error(L);
}

/* the leaves of a nested table into out (float32) or, when out is NULL, into flat (a 1-D
   tensor of any dtype, converted as its dtype converts) */
static void nested_fill(lua_State *L, int nd, const int64_t *shape, float *out, dm_tensor *flat,
                        int64_t *pos, int64_t *path, int depth)
{
    /* table on top of stack */
    if (depth == nd) {
        int t = lua_type(L, -1);
        if (t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
            const char *tn = luaL_typename(L, -1);
            lua_pushfstring(L, "expected a number, got %s", tn);
            nested_error(L, lua_tostring(L, -1), path, depth);
        }
        if (out) out[(*pos)++] = t == LUA_TBOOLEAN ? (float)lua_toboolean(L, -1)
                                                   : (float)lua_tonumber(L, -1);
        else { lb_set_value(L, flat, pos, lua_gettop(L)); (*pos)++; }
        return;
    }
    if (!lua_istable(L, -1) || lb_is_tensor(L, -1)) {
        lua_pushfstring(L, "expected a table of %I elements, got %s", (lua_Integer)shape[depth],
                        luaL_typename(L, -1));
        nested_error(L, lua_tostring(L, -1), path, depth);
    }
    int64_t len = (int64_t)luaL_len(L, -1);
    if (len != shape[depth]) {
        lua_pushfstring(L, "ragged nested table: expected %I elements, got %I",
                        (lua_Integer)shape[depth], (lua_Integer)len);
        nested_error(L, lua_tostring(L, -1), path, depth);
    }
    luaL_checkstack(L, 4, "tensor: nesting too deep");
    for (int64_t i = 0; i < len; i++) {
        lua_geti(L, -1, i + 1);
        path[depth] = i;
        nested_fill(L, nd, shape, out, flat, pos, path, depth + 1);
        lua_pop(L, 1);
    }
}

/* the kinds of leaf a Lua value holds, or-ed together: PyTorch infers float from any float
   leaf, else int64 from any integer leaf, else bool from booleans (an empty table: float) */
enum { LEAF_BOOL = 1, LEAF_INT = 2, LEAF_FLOAT = 4 };

static int leaf_kinds(lua_State *L, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return LEAF_BOOL;
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? LEAF_INT : LEAF_FLOAT;
    default: break;
    }
    if (!lua_istable(L, idx) || lb_is_tensor(L, idx) || depth > DM_MAX_DIMS) return 0;
    lua_Integer n = luaL_len(L, idx);
    luaL_checkstack(L, 2, "tensor: nesting too deep");
    int kinds = 0;
    for (lua_Integer i = 1; !(kinds & LEAF_FLOAT) && i <= n; i++) {
        /* a hole (a __len larger than the table) ends the walk: filling reports it, and a
           length of math.maxinteger is not walked to the end */
        if (lua_geti(L, idx, i) == LUA_TNIL) { lua_pop(L, 1); break; }
        kinds |= leaf_kinds(L, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    return kinds;
}

static dm_dtype infer_dtype(lua_State *L, int idx)
{
    int k = leaf_kinds(L, idx, 0);
    if (k & LEAF_FLOAT) return lb_default_dtype(L);
    if (k & LEAF_INT) return DM_INT64;
    if (k & LEAF_BOOL) return DM_BOOL;
    return lb_default_dtype(L);
}

/* dst = the Lua value at vidx (a number or a boolean), converted once in dst's dtype (exact
   for int64) and broadcast; 0, or -1 with the core's message */
static int fill_value(lua_State *L, dm_tensor *dst, int vidx)
{
    dm_tensor *one = dm_tensor_new_dtype(0, NULL, dst->dtype);
    if (!one) return -1;
    lb_set_value(L, one, NULL, vidx);
    int rc = dm_fill_tensor_(dst, one);
    dm_tensor_release(one);
    return rc;
}

static const char *const grad_opts[] = { "requires_grad", "generator", "dtype", "device", NULL };

/* trailing {requires_grad = true} */
static void apply_requires_grad(lua_State *L, int opts, dm_tensor *t)
{
    if (opts && lua_istable(L, opts)) {
        lua_getfield(L, opts, "requires_grad");
        if (lua_toboolean(L, -1) && dm_set_requires_grad(t, 1) != 0)
            luaL_error(L, "%s", dm_errmsg());
        lua_pop(L, 1);
    }
}

/* {device = "cpu"} or "cpu:ref": the device the next box's tensor is made on */
static void check_device(lua_State *L, int opts)
{
    if (!opts || !lua_istable(L, opts)) return;
    if (lua_getfield(L, opts, "device") != LUA_TNIL) {
        const char *d = lua_tostring(L, -1);
        int dev = dm_device_parse(d);
        if (dev < 0)
            luaL_error(L, "device: unknown device '%s' (deepmoon has \"cpu\" and \"cpu:ref\")",
                       d ? d : luaL_typename(L, -1));
        lb_next_device = dev;
    }
    lua_pop(L, 1);
}

static int t_tensor(lua_State *L)
{
    int64_t shape[DM_MAX_DIMS], path[DM_MAX_DIMS];
    lb_opts_check(L, 2, "tensor", grad_opts);
    check_device(L, 2);
    int given = lua_istable(L, 2) && lua_getfield(L, 2, "dtype") != LUA_TNIL;
    if (lua_istable(L, 2)) lua_pop(L, 1);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, lua_istable(L, 2) ? 2 : 0, lb_default_dtype(L));
    dm_tensor **slot = lb_newbox(L);
    if (lb_is_tensor(L, 1)) {
        dm_tensor *src = lb_check(L, 1);
        if (!given) dt = src->dtype;
        *slot = dm_tensor_new_dtype(src->ndim, src->shape, dt);
        if (*slot) dm_to_buffer_dtype(src, dm_data_ptr(*slot), dt);
    } else if (lua_type(L, 1) == LUA_TNUMBER || lua_type(L, 1) == LUA_TBOOLEAN) {
        if (!given) dt = infer_dtype(L, 1);
        *slot = dm_tensor_new_dtype(0, NULL, dt);
        if (*slot) lb_set_value(L, *slot, NULL, 1);
    } else {
        if (!lua_istable(L, 1))
            luaL_argerror(L, 1, lua_pushfstring(L, "tensor: expected a number or a nested table, got %s",
                                                luaL_typename(L, 1)));
        if (!given) dt = infer_dtype(L, 1);
        int nd = nested_shape(L, 1, shape);
        *slot = dm_tensor_new_dtype(nd, shape, dt);
        if (!*slot) return luaL_error(L, "tensor: %s", dm_errmsg());
        int64_t pos = 0, n = dm_numel(*slot);
        dm_tensor *flat = dt == DM_FLOAT32 ? NULL : dm_view(*slot, 1, &n);
        if (dt != DM_FLOAT32 && !flat) return luaL_error(L, "tensor: %s", dm_errmsg());
        lua_pushvalue(L, 1);
        /* a Lua error inside leaves flat to the collector's care: hold it in a box */
        dm_tensor **fslot = NULL;
        if (flat) { fslot = lb_newbox(L); *fslot = flat; lua_insert(L, -2); }
        nested_fill(L, nd, shape, flat ? NULL : dm_data(*slot), flat, &pos, path, 0);
        lua_pop(L, flat ? 2 : 1);
    }
    lb_done(L, slot);
    apply_requires_grad(L, 2, *slot);
    return 1;
}

/* sizes then an optional options table */
static int creation(lua_State *L, const char *fn, int64_t *shape, int *opts)
{
    int nd = lb_sizes(L, 1, shape, fn);
    int next = (lua_istable(L, 1) && !lb_is_tensor(L, 1)) ? 2 : nd + 1;
    if (!lua_isnoneornil(L, next) && !lua_istable(L, next))
        luaL_argerror(L, next, lua_pushfstring(L, "%s: expected a size or an options table, got %s",
                                               fn, luaL_typename(L, next)));
    lb_opts_check(L, next, fn, grad_opts);
    *opts = lua_istable(L, next) ? next : 0;
    return nd;
}

static int make_filled(lua_State *L, const char *fn, int mode, float v)
{
    int64_t shape[DM_MAX_DIMS];
    int opts;
    int nd = creation(L, fn, shape, &opts);
    check_device(L, opts);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, opts, lb_default_dtype(L));
    dm_tensor **slot = lb_newbox(L);
    switch (mode) {
    case 0: *slot = dt == DM_FLOAT32 ? dm_tensor_full(nd, shape, v)
                                     : dm_tensor_full_dtype(nd, shape, v, dt); break;
    case 1: *slot = dm_tensor_zeros_dtype(nd, shape, dt); break;  /* empty: zeroed for safety */
    case 2: case 3: {
        if (!dm_is_floating(dt))
            return luaL_error(L, "%s: expected a floating-point dtype, got %s", fn, dm_dtype_name(dt));
        /* drawn in the dtype's own precision */
        *slot = dm_tensor_new_dtype(nd, shape, dt);
        if (*slot) {
            dm_rng *g = lb_generator(L, opts);
            if (mode == 2) dm_uniform_(*slot, 0, 1, g); else dm_normal_(*slot, 0, 1, g);
        }
        break;
    }
    }
    lb_done(L, slot);
    apply_requires_grad(L, opts, *slot);
    return 1;
}

static int t_zeros(lua_State *L) { return make_filled(L, "zeros", 0, 0.0f); }
static int t_ones(lua_State *L) { return make_filled(L, "ones", 0, 1.0f); }
static int t_empty(lua_State *L) { return make_filled(L, "empty", 1, 0.0f); }
static int t_rand(lua_State *L) { return make_filled(L, "rand", 2, 0.0f); }
static int t_randn(lua_State *L) { return make_filled(L, "randn", 3, 0.0f); }

static int t_full(lua_State *L)
{
    int64_t shape[DM_MAX_DIMS];
    int nd;
    /* full(size_table, value [, opts]) or full(d1, ..., dn, value) is ambiguous: require
       the table form as PyTorch does */
    luaL_checktype(L, 1, LUA_TTABLE);
    nd = lb_sizes(L, 1, shape, "full");
    if (lua_type(L, 2) != LUA_TBOOLEAN) luaL_checknumber(L, 2);
    lb_opts_check(L, 3, "full", grad_opts);
    check_device(L, lua_istable(L, 3) ? 3 : 0);
    /* PyTorch: the fill value's kind gives the dtype (bool, int64, or the default float) */
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, lua_istable(L, 3) ? 3 : 0, infer_dtype(L, 2));
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_new_dtype(nd, shape, dt);
    if (*slot && fill_value(L, *slot, 2) != 0) { dm_tensor_release(*slot); *slot = NULL; }
    lb_done(L, slot);
    apply_requires_grad(L, lua_istable(L, 3) ? 3 : 0, *slot);
    return 1;
}

/* x_like(t [, value] [, opts]) */
static int like(lua_State *L, const char *fn, int mode)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = 2;
    if (mode == 4) { if (lua_type(L, 2) != LUA_TBOOLEAN) luaL_checknumber(L, 2); opts = 3; }
    lb_opts_check(L, opts, fn, grad_opts);
    int o = lua_istable(L, opts) ? opts : 0;
    check_device(L, o);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, o, t->dtype);
    if ((mode == 2 || mode == 3) && !dm_is_floating(dt))
        return luaL_error(L, "%s: expected a floating-point dtype, got %s", fn, dm_dtype_name(dt));
    dm_tensor **slot = lb_newbox(L);
    dm_rng *g = lb_generator(L, o);
    switch (mode) {
    case 0: *slot = dm_tensor_zeros_dtype(t->ndim, t->shape, dt); break;
    case 1: *slot = dm_tensor_full_dtype(t->ndim, t->shape, 1.0, dt); break;
    case 2: case 3: {
        *slot = dm_tensor_new_dtype(t->ndim, t->shape, dt);
        if (*slot) { if (mode == 2) dm_uniform_(*slot, 0, 1, g); else dm_normal_(*slot, 0, 1, g); }
        break;
    }
    case 4: {
        *slot = dm_tensor_new_dtype(t->ndim, t->shape, dt);
        if (*slot && fill_value(L, *slot, 2) != 0) { dm_tensor_release(*slot); *slot = NULL; }
        break;
    }
    }
    lb_done(L, slot);
    apply_requires_grad(L, o, *slot);
    return 1;
}
static int t_zeros_like(lua_State *L) { return like(L, "zeros_like", 0); }
static int t_empty_like(lua_State *L) { return like(L, "empty_like", 0); }
static int t_ones_like(lua_State *L) { return like(L, "ones_like", 1); }
static int t_rand_like(lua_State *L) { return like(L, "rand_like", 2); }
static int t_randn_like(lua_State *L) { return like(L, "randn_like", 3); }
static int t_full_like(lua_State *L) { return like(L, "full_like", 4); }

static int t_arange(lua_State *L)
{
    double start = 0, end, step = 1;
    int top = lua_gettop(L);
    while (top > 0 && lua_istable(L, top)) top--;   /* trailing options */
    if (top <= 1) end = luaL_checknumber(L, 1);
    else { start = luaL_checknumber(L, 1); end = luaL_checknumber(L, 2); if (top >= 3) step = luaL_checknumber(L, 3); }
    /* PyTorch: int64 when every bound is an integer, else the default floating type */
    int ints = 1;
    for (int i = 1; i <= (top < 1 ? 1 : top) && i <= 3; i++) ints = ints && lua_isinteger(L, i);
    lb_opts_check(L, top + 1, "arange", grad_opts);
    int o = lua_istable(L, top + 1) ? top + 1 : 0;
    check_device(L, o);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, o, ints ? DM_INT64 : lb_default_dtype(L));
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_arange(start, end, step);
    if (*slot && dt != DM_FLOAT32) {
        /* the values again in dt, computed in double (exact for integers below 2^53) */
        dm_tensor *f = *slot;
        *slot = dm_tensor_new_dtype(f->ndim, f->shape, dt);
        for (int64_t i = 0; *slot && i < f->shape[0]; i++)
            dm_set_f64(*slot, &i, start + (double)i * step);
        dm_tensor_release(f);
    }
    lb_done(L, slot);
    apply_requires_grad(L, lua_istable(L, top + 1) ? top + 1 : 0, *slot);
    return 1;
}

/* linspace(start, end, steps [, {dtype =, device =, requires_grad =}]): the default dtype
   unless told, as PyTorch; computed in double and converted once */
static int t_linspace(lua_State *L)
{
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer n = luaL_checkinteger(L, 3);
    lb_opts_check(L, 4, "linspace", grad_opts);
    int o = lua_istable(L, 4) ? 4 : 0;
    check_device(L, o);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, o, lb_default_dtype(L));
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_linspace(a, b, n);
    if (*slot && dt != DM_FLOAT32) {
        dm_tensor *f = *slot;
        *slot = dm_tensor_new_dtype(1, f->shape, dt);
        /* PyTorch fills the first half from start and the second half from end */
        double step = n > 1 ? (b - a) / (double)(n - 1) : 0;
        for (int64_t i = 0; *slot && i < n; i++)
            dm_set_f64(*slot, &i, n == 1 ? a : i < n / 2 ? a + step * (double)i
                                                         : b - step * (double)(n - 1 - i));
        dm_tensor_release(f);
    }
    lb_done(L, slot);
    apply_requires_grad(L, o, *slot);
    return 1;
}

/* eye(n [, m] [, {dtype =, device =, requires_grad =}]) */
static int t_eye(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    int o = lua_istable(L, 2) ? 2 : lua_istable(L, 3) ? 3 : 0;
    lua_Integer m = o == 2 || lua_isnoneornil(L, 2) ? n : luaL_checkinteger(L, 2);
    if (o) lb_opts_check(L, o, "eye", grad_opts);
    check_device(L, o);
    dm_dtype dt = (dm_dtype)lb_opt_dtype(L, o, lb_default_dtype(L));
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_eye(n, m);
    if (*slot && dt != (*slot)->dtype) {
        dm_tensor *f = *slot;
        *slot = dm_to_dtype(f, dt);
        dm_tensor_release(f);
    }
    lb_done(L, slot);
    apply_requires_grad(L, o, *slot);
    return 1;
}

/* ---- inspection ----------------------------------------------------------------------- */

static int t_size(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        int d = lb_dim(L, 2, "size");
        int w = dm_wrap_dim("size", d, t->ndim, 0);
        if (w < 0 || t->ndim == 0) return luaL_error(L, "%s", t->ndim ? dm_errmsg() :
                                                     "size: a 0-dim tensor has no dims");
        lua_pushinteger(L, t->shape[w]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) { lua_pushinteger(L, t->shape[d]); lua_rawseti(L, -2, d + 1); }
    return 1;
}

static int t_stride(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) { lua_pushinteger(L, t->stride[d]); lua_rawseti(L, -2, d + 1); }
    return 1;
}

static int t_dim(lua_State *L) { lua_pushinteger(L, lb_check(L, 1)->ndim); return 1; }
static int t_numel(lua_State *L) { lua_pushinteger(L, dm_numel(lb_check(L, 1))); return 1; }
static int t_is_contiguous(lua_State *L) { lua_pushboolean(L, dm_is_contiguous(lb_check(L, 1))); return 1; }

static int t_len(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (t->ndim == 0) return luaL_error(L, "len: a 0-dim tensor has no length");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

static int t_item(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    char b[64];
    if (dm_numel(t) != 1)
        return luaL_error(L, "item: a tensor with %I elements (size %s) cannot be converted to a number",
                          (lua_Integer)dm_numel(t), dm_shape_str(t->ndim, t->shape, b, sizeof b));
    int64_t idx[DM_MAX_DIMS] = { 0 };
    lb_push_value(L, t, idx);
    return 1;
}

static void push_nested(lua_State *L, const dm_tensor *t, int d, int64_t *idx)
{
    if (d == t->ndim) { lb_push_value(L, t, idx); return; }
    luaL_checkstack(L, 3, "totable");
    lua_createtable(L, (int)t->shape[d], 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        idx[d] = i;
        push_nested(L, t, d + 1, idx);
        lua_rawseti(L, -2, i + 1);
    }
}

static int t_totable(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t idx[DM_MAX_DIMS] = { 0 };
    push_nested(L, t, 0, idx);
    return 1;
}

/* flat row-major values as a Lua array (used by printing) */
static int t_values(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t n = dm_numel(t);
    if (t->dtype != DM_FLOAT32) {
        dm_tensor *c = dm_contiguous(t);
        if (!c) return luaL_error(L, "%s", dm_errmsg());
        dm_tensor *flat = dm_view(c, 1, &n);
        dm_tensor_release(c);
        if (!flat) return luaL_error(L, "%s", dm_errmsg());
        lua_createtable(L, (int)n, 0);
        for (int64_t i = 0; i < n; i++) { lb_push_value(L, flat, &i); lua_rawseti(L, -2, i + 1); }
        dm_tensor_release(flat);
        return 1;
    }
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf) return luaL_error(L, "values: out of memory");
    dm_to_buffer(t, buf);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) { lua_pushnumber(L, buf[i]); lua_rawseti(L, -2, i + 1); }
    free(buf);
    return 1;
}

/* 1-based indices (negative from the end) from idx on; n of them */
static void get_index(lua_State *L, dm_tensor *t, int idx, int n, int64_t *out, const char *fn)
{
    char b[64];
    if (n != t->ndim)
        luaL_error(L, "%s: %d indices for a tensor of size %s", fn, n,
                   dm_shape_str(t->ndim, t->shape, b, sizeof b));
    for (int d = 0; d < n; d++) {
        lua_Integer i = luaL_checkinteger(L, idx + d);
        int64_t z = i > 0 ? i - 1 : (i < 0 ? t->shape[d] + i : -1);
        if (z < 0 || z >= t->shape[d])
            luaL_argerror(L, idx + d, lua_pushfstring(L, "index %I out of range for dim %d of "
                          "size %s", i, d + 1, dm_shape_str(t->ndim, t->shape, b, sizeof b)));
        out[d] = z;
    }
}

static int t_get(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t idx[DM_MAX_DIMS];
    get_index(L, t, 2, lua_gettop(L) - 1, idx, "get");
    lb_push_value(L, t, idx);
    return 1;
}

static int t_set(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t idx[DM_MAX_DIMS];
    int n = lua_gettop(L) - 2;
    if (n < 0) return luaL_error(L, "set: expected indices and a value");
    if (lua_type(L, n + 2) != LUA_TBOOLEAN) luaL_checknumber(L, n + 2);
    get_index(L, t, 2, n, idx, "set");
    if (dm_grad_enabled() && t->requires_grad) {
        if (dm_is_leaf(t))
            return luaL_error(L, "set: a leaf Variable that requires grad is being used in an "
                              "in-place operation.");
        /* a non-leaf: the element as a view, written through copy_ (recorded: CopySlices) */
        dm_tensor *v = dm_tensor_retain(t);
        for (int d = 0; v && d < n; d++) {
            dm_tensor *s = dm_select(v, 0, idx[d]);
            dm_tensor_release(v);
            v = s;
        }
        int rc = v ? fill_value(L, v, n + 2) : -1;
        dm_tensor_release(v);
        if (rc) return luaL_error(L, "%s", dm_errmsg());
        return 0;
    }
    if (t->dtype == DM_FLOAT32) dm_set(t, idx, (float)lua_tonumber(L, n + 2));
    else lb_set_value(L, t, idx, n + 2);
    return 0;
}

/* ---- views ---------------------------------------------------------------------------- */

static int view_like(lua_State *L, const char *fn, int reshape)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t shape[DM_MAX_DIMS];
    int nd = 0;
    if (lua_istable(L, 2)) {
        nd = (int)luaL_len(L, 2);
        if (nd > DM_MAX_DIMS) return luaL_error(L, "%s: more than %d dimensions", fn, DM_MAX_DIMS);
        for (int i = 1; i <= nd; i++) {
            lua_geti(L, 2, i);
            shape[i - 1] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    } else {
        for (int i = 2; i <= lua_gettop(L); i++) {
            if (nd >= DM_MAX_DIMS) return luaL_error(L, "%s: more than %d dimensions", fn, DM_MAX_DIMS);
            shape[nd++] = luaL_checkinteger(L, i);
        }
    }
    RESULT(reshape ? dm_reshape(t, nd, shape) : dm_view(t, nd, shape));
}
static int t_view(lua_State *L) { return view_like(L, "view", 0); }
static int t_reshape(lua_State *L) { return view_like(L, "reshape", 1); }

static int t_t(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with at most 2 dimensions, got %d", t->ndim);
    if (t->ndim < 2) RESULT(dm_transpose(t, 0, 0));
    RESULT(dm_transpose(t, 0, 1));
}

static int t_transpose(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int a = lb_dim(L, 2, "transpose"), b = lb_dim(L, 3, "transpose");
    RESULT(dm_transpose(t, a, b));
}

static int t_permute(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int dims[DM_MAX_DIMS], n = 0;
    if (lua_istable(L, 2)) {
        n = (int)luaL_len(L, 2);
        lua_settop(L, 2);
        for (int i = 1; i <= n && i <= DM_MAX_DIMS; i++) {
            lua_geti(L, 2, i);
            dims[i - 1] = lb_dim(L, 3, "permute");
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        for (int i = 0; i < n && i < DM_MAX_DIMS; i++) dims[i] = lb_dim(L, i + 2, "permute");
    }
    if (n != t->ndim) {
        char b[64];
        return luaL_error(L, "permute: %d dims given for a tensor of size %s", n,
                          dm_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    RESULT(dm_permute(t, dims));
}

static int t_narrow(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_dim(L, 2, "narrow");
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    int w = t->ndim ? dm_wrap_dim("narrow", d, t->ndim, 0) : 0;
    if (w < 0) return luaL_error(L, "%s", dm_errmsg());
    if (start < 0 && t->ndim) start += t->shape[w] + 1;     /* -1 = last */
    RESULT(dm_narrow(t, d, start - 1, len));
}

static int t_select(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_dim(L, 2, "select");
    lua_Integer i = luaL_checkinteger(L, 3);
    if (i == 0) return luaL_error(L, "select: index 0 is invalid (indices are 1-based)");
    RESULT(dm_select(t, d, i > 0 ? i - 1 : i));
}

static int t_squeeze(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_optdim(L, 2, "squeeze", DM_ALL);
    RESULT(dm_squeeze(t, d));
}

static int t_unsqueeze(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = lb_dim(L, 2, "unsqueeze");
    RESULT(dm_unsqueeze(t, d));
}

static int t_flatten(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int a = lb_optdim(L, 2, "flatten", 0), b = lb_optdim(L, 3, "flatten", -1);
    RESULT(dm_flatten(t, a, b));
}

static int t_expand(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int64_t shape[DM_MAX_DIMS];
    int nd = 0;
    if (lua_istable(L, 2) && !lb_is_tensor(L, 2)) {
        nd = (int)luaL_len(L, 2);
        if (nd > DM_MAX_DIMS) return luaL_error(L, "expand: more than %d dimensions", DM_MAX_DIMS);
        for (int i = 1; i <= nd; i++) { lua_geti(L, 2, i); shape[i - 1] = luaL_checkinteger(L, -1); lua_pop(L, 1); }
    } else if (lb_is_tensor(L, 2)) {        /* expand_as */
        dm_tensor *o = lb_check(L, 2);
        nd = o->ndim;
        memcpy(shape, o->shape, sizeof shape);
    } else {
        for (int i = 2; i <= lua_gettop(L); i++) {
            if (nd >= DM_MAX_DIMS) return luaL_error(L, "expand: more than %d dimensions", DM_MAX_DIMS);
            shape[nd++] = luaL_checkinteger(L, i);
        }
    }
    RESULT(dm_expand(t, nd, shape));
}

static int t_contiguous(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_contiguous(t)); }
static int t_clone(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_clone(t)); }
static int t_detach(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_detach(t)); }

/* ---- math --------------------------------------------------------------------------- */

/* Where PyTorch gives an integer tensor the default float dtype (an integer tensor with a
   float number, integer true division, float functions of integers), the core gives
   float32; with dm.set_default_dtype(dm.float64) the integer operand is made float64 first
   (a temporary box on the stack, collected after the call) */
static dm_tensor *default_float(lua_State *L, dm_tensor *t)
{
    if (dm_is_floating(t->dtype) || lb_default_dtype(L) != DM_FLOAT64) return t;
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_to_dtype(t, DM_FLOAT64);
    lb_done(L, slot);
    return *slot;
}

/* Lua numbers keep their kind: an integer is integral, a float floating (as Python's int
   and float), which decides the result's dtype (dm_binary_scalar_i64 / _f64) */
/* a Lua boolean as a 0-dim bool tensor in a box on the stack: PyTorch types a Python bool
   operand as a bool scalar, which the 0-dim tensor's promotion matches */
static dm_tensor *bool_operand(lua_State *L, int i)
{
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_full_i64(0, NULL, lua_toboolean(L, i), DM_BOOL);
    lb_done(L, slot);
    return *slot;
}

/* a boolean argument at i replaced by that 0-dim bool tensor (for the in-place ops) */
static void bool_arg(lua_State *L, int i)
{
    if (lua_type(L, i) != LUA_TBOOLEAN) return;
    bool_operand(L, i);
    lua_replace(L, i);
}

static int binary(lua_State *L, dm_binop op, const char *fn)
{
    dm_tensor *a = lb_totensor(L, 1), *b = lb_totensor(L, 2);
    if (a && !b && lua_type(L, 2) == LUA_TBOOLEAN) b = bool_operand(L, 2);
    else if (b && !a && lua_type(L, 1) == LUA_TBOOLEAN) a = bool_operand(L, 1);
    if (a && b) {
        if (op == DM_BIN_DIV && !dm_is_floating(a->dtype) && !dm_is_floating(b->dtype))
            a = default_float(L, a);
        RESULT(dm_binary(op, a, b));
    }
    int a_num = lua_type(L, 1) == LUA_TNUMBER, b_num = lua_type(L, 2) == LUA_TNUMBER;
    if (a_num && b_num) return luaL_error(L, "%s: expected at least one tensor", fn);
    if (!a_num && !a) return luaL_typeerror(L, 1, "deepmoon.Tensor or number");
    if (!b_num && !b) return luaL_typeerror(L, 2, "deepmoon.Tensor or number");
    int rev = !b_num, si = rev ? 1 : 2;
    dm_tensor *t = rev ? b : a;
    if (lua_isinteger(L, si)) {
        if (op == DM_BIN_DIV) t = default_float(L, t);
        RESULT(dm_binary_scalar_i64(op, t, lua_tointeger(L, si), rev));
    }
    /* outside RESULT: default_float may push a box of its own, which must lie below the
       result's box, the one returned */
    dm_tensor *ft = default_float(L, t);
    RESULT(dm_binary_scalar_f64(op, ft, lua_tonumber(L, si), rev));
}

/* alpha of add/sub at idx: a number (an integer or a float, typed as Python's int and
   float), a boolean, or an options table {alpha = }; 0 when none is given, else 1 with
   *alpha and *kind (DM_ALPHA_*) set */
static int alpha_arg(lua_State *L, int idx, const char *fn, double *alpha, int *kind)
{
    int v = idx;
    if (lua_type(L, idx) == LUA_TTABLE) {
        static const char *const known[] = { "alpha", NULL };
        lb_opts_check(L, idx, fn, known);
        lua_pushliteral(L, "alpha");
        lua_rawget(L, idx);
        v = lua_gettop(L);
    }
    switch (lua_type(L, v)) {
    case LUA_TNONE: case LUA_TNIL:
        return 0;
    case LUA_TBOOLEAN:
        *alpha = lua_toboolean(L, v);
        *kind = DM_ALPHA_BOOL;
        return 1;
    case LUA_TNUMBER:
        *alpha = lua_tonumber(L, v);
        *kind = lua_isinteger(L, v) ? DM_ALPHA_INT : DM_ALPHA_FLOAT;
        return 1;
    default:
        return luaL_error(L, "%s: alpha must be a number or a boolean, got %s", fn,
                          luaL_typename(L, v));
    }
}

/* t op alpha * x for a number x at idx, alpha checked against rt (the result's dtype, t's
   for the in-place forms; a number never makes it bool) as dm_binary_alpha checks it: the
   product made as one number, integral when both are (wrapping as int64): 1 with *si, or
   0 with *sd */
static int alpha_times(lua_State *L, int idx, const char *fn, dm_dtype rt, double alpha,
                       int kind, double *sd, lua_Integer *si)
{
    if (kind == DM_ALPHA_BOOL)
        return luaL_error(L, "%s: Boolean alpha only supported for Boolean results.", fn);
    if (kind == DM_ALPHA_FLOAT && !dm_is_floating(rt))
        return luaL_error(L, "%s: For integral input tensors, argument alpha must not be a "
                          "floating point number.", fn);
    if (rt == DM_UINT8 && !(alpha >= -255 && alpha <= 255))
        return luaL_error(L, "%s: value cannot be converted to type uint8_t without overflow", fn);
    if (rt == DM_FLOAT32 && alpha - alpha == 0 && (alpha > FLT_MAX || alpha < -FLT_MAX))
        return luaL_error(L, "%s: value cannot be converted to type float without overflow", fn);
    if (lua_isinteger(L, idx) && kind == DM_ALPHA_INT) {
        *si = (lua_Integer)((lua_Unsigned)lua_tointeger(L, idx) * (lua_Unsigned)(lua_Integer)alpha);
        return 1;
    }
    *sd = lua_tonumber(L, idx) * alpha;
    return 0;
}

/* add(a, b [, alpha | {alpha =}]) and sub: a op alpha * b */
static int add_sub(lua_State *L, dm_binop op, const char *fn)
{
    double alpha = 1;
    int kind = DM_ALPHA_INT;
    if (lua_gettop(L) < 3 || !alpha_arg(L, 3, fn, &alpha, &kind)) {
        lua_settop(L, 2);
        return binary(L, op, fn);
    }
    lua_settop(L, 3);
    dm_tensor *a = lb_totensor(L, 1), *b = lb_totensor(L, 2);
    if (!a) return luaL_typeerror(L, 1, "deepmoon.Tensor");
    if (b) RESULT(dm_binary_alpha(op, a, b, alpha, kind));
    if (lua_type(L, 2) != LUA_TNUMBER) return luaL_typeerror(L, 2, "deepmoon.Tensor or number");
    double sd = 0;
    lua_Integer si = 0;
    /* the result's dtype: a's when floating or x integral (bool with an integer: int64),
       else the default float dtype */
    dm_dtype rt = dm_is_floating(a->dtype) ? a->dtype
                : !lua_isinteger(L, 2) ? lb_default_dtype(L)
                : a->dtype == DM_BOOL ? DM_INT64 : a->dtype;
    if (alpha_times(L, 2, fn, rt, alpha, kind, &sd, &si))
        RESULT(dm_binary_scalar_i64(op, a, si, 0));
    dm_tensor *fa = default_float(L, a);     /* its box below the result's */
    RESULT(dm_binary_scalar_f64(op, fa, sd, 0));
}

static int t_add(lua_State *L) { return add_sub(L, DM_BIN_ADD, "add"); }
static int t_sub(lua_State *L) { return add_sub(L, DM_BIN_SUB, "sub"); }
static int t_mul(lua_State *L) { return binary(L, DM_BIN_MUL, "mul"); }
static int t_div(lua_State *L) { return binary(L, DM_BIN_DIV, "div"); }
static int t_pow(lua_State *L) { return binary(L, DM_BIN_POW, "pow"); }
static int t_eq(lua_State *L) { return binary(L, DM_BIN_EQ, "eq"); }
static int t_ne(lua_State *L) { return binary(L, DM_BIN_NE, "ne"); }
static int t_lt(lua_State *L) { return binary(L, DM_BIN_LT, "lt"); }
static int t_le(lua_State *L) { return binary(L, DM_BIN_LE, "le"); }
static int t_gt(lua_State *L) { return binary(L, DM_BIN_GT, "gt"); }
static int t_ge(lua_State *L) { return binary(L, DM_BIN_GE, "ge"); }
static int t_maximum(lua_State *L) { return binary(L, DM_BIN_MAXIMUM, "maximum"); }
static int t_minimum(lua_State *L) { return binary(L, DM_BIN_MINIMUM, "minimum"); }

static int t_unm(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_unary(DM_UN_NEG, t)); }

#define UNARY(name, op) \
    static int t_##name(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_unary(op, t)); }
/* float functions: an integer input gives the default float dtype */
#define UNARY_F(name, op) \
    static int t_##name(lua_State *L) \
    { dm_tensor *t = default_float(L, lb_check(L, 1)); RESULT(dm_unary(op, t)); }
UNARY(neg, DM_UN_NEG) UNARY_F(exp, DM_UN_EXP) UNARY_F(log, DM_UN_LOG) UNARY_F(sqrt, DM_UN_SQRT)
UNARY(abs, DM_UN_ABS) UNARY(sign, DM_UN_SIGN) UNARY(round, DM_UN_ROUND)
UNARY(floor, DM_UN_FLOOR) UNARY(ceil, DM_UN_CEIL) UNARY_F(tanh, DM_UN_TANH)
UNARY_F(sigmoid, DM_UN_SIGMOID) UNARY(relu, DM_UN_RELU) UNARY_F(reciprocal, DM_UN_RECIPROCAL)
UNARY_F(sin, DM_UN_SIN) UNARY_F(cos, DM_UN_COS) UNARY(selu, DM_UN_SELU) UNARY(gelu, DM_UN_GELU)
UNARY(square, DM_UN_SQUARE) UNARY_F(log1p, DM_UN_LOG1P)
UNARY(trunc, DM_UN_TRUNC) UNARY(fix, DM_UN_TRUNC) UNARY(frac, DM_UN_FRAC)
UNARY_F(expm1, DM_UN_EXPM1) UNARY_F(log2, DM_UN_LOG2) UNARY_F(log10, DM_UN_LOG10)
UNARY_F(exp2, DM_UN_EXP2) UNARY_F(rsqrt, DM_UN_RSQRT) UNARY_F(tan, DM_UN_TAN)
UNARY_F(asin, DM_UN_ASIN) UNARY_F(acos, DM_UN_ACOS) UNARY_F(atan, DM_UN_ATAN)
UNARY_F(sinh, DM_UN_SINH) UNARY_F(cosh, DM_UN_COSH) UNARY_F(asinh, DM_UN_ASINH)
UNARY_F(acosh, DM_UN_ACOSH) UNARY_F(atanh, DM_UN_ATANH) UNARY_F(erf, DM_UN_ERF)
UNARY_F(erfc, DM_UN_ERFC) UNARY_F(deg2rad, DM_UN_DEG2RAD) UNARY_F(rad2deg, DM_UN_RAD2DEG)
UNARY(sgn, DM_UN_SGN)
UNARY_F(lgamma, DM_UN_LGAMMA) UNARY_F(digamma, DM_UN_DIGAMMA) UNARY_F(erfinv, DM_UN_ERFINV)
UNARY_F(sinc, DM_UN_SINC)

/* logit([eps]) or logit({eps =}): eps nil (none) or a number */
static int t_logit(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double eps = NAN;
    int ai = 2;
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "eps");
        lua_rawget(L, 2);
        ai = lua_gettop(L);
    }
    if (!lua_isnoneornil(L, ai)) {
        if (lua_type(L, ai) != LUA_TNUMBER)
            return luaL_error(L, "logit: eps must be a number or nil, got %s",
                              luaL_typename(L, ai));
        eps = lua_tonumber(L, ai);
    }
    t = default_float(L, t);
    RESULT(dm_logit(t, eps));
}

/* isposinf, isneginf, signbit: bool tensors (dm_isclass kinds 3, 4, 5) */
static int t_isposinf(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 3)); }
static int t_isneginf(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 4)); }
static int t_signbit(lua_State *L) { dm_tensor *t = lb_check(L, 1); RESULT(dm_isclass(t, 5)); }

/* core._try_unary(x, code): unary op `code` (core._unary_codes) on x, as the method of that
   name does, or nothing when x is not a Tensor: the nn activations make this one C call and
   raise their own message (naming the module, at the user's line) only when it returns
   nothing */
static int t_try_unary(lua_State *L)
{
    dm_tensor *x = lb_totensor(L, 1);
    if (!x) return 0;
    lua_Integer op = luaL_checkinteger(L, 2);
    if (op < 0 || op >= DM_UN_COUNT) return luaL_argerror(L, 2, "unknown unary op");
    if (op == DM_UN_SIGMOID || op == DM_UN_TANH) x = default_float(L, x);   /* as UNARY_F */
    RESULT(dm_unary((dm_unop)op, x));
}

/* a bound: NAN for none; *int_bounds is cleared by a float bound */
static double optbound(lua_State *L, int idx, int *int_bounds)
{
    if (lua_isnoneornil(L, idx)) return NAN;
    if (!lua_isinteger(L, idx)) *int_bounds = 0;
    return luaL_checknumber(L, idx);
}

/* clamp(min, max) or clamp{min = , max = }; int_bounds: every bound given is an integer */
static void clamp_args(lua_State *L, double *lo, double *hi, int *int_bounds)
{
    *int_bounds = 1;
    if (lua_istable(L, 2)) {
        static const char *const known[] = { "min", "max", NULL };
        lb_opts_check(L, 2, "clamp", known);
        lua_getfield(L, 2, "min");
        lua_getfield(L, 2, "max");
        *lo = optbound(L, -2, int_bounds);
        *hi = optbound(L, -1, int_bounds);
        lua_pop(L, 2);
    } else {
        *lo = optbound(L, 2, int_bounds);
        *hi = optbound(L, 3, int_bounds);
    }
}

static int t_clamp(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double lo, hi;
    int ib;
    clamp_args(L, &lo, &hi, &ib);
    if (!ib) t = default_float(L, t);
    RESULT(dm_clamp_ex(t, lo, hi, ib));
}

static int t_leaky_relu(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double slope = luaL_optnumber(L, 2, 0.01);
    RESULT(dm_leaky_relu(t, slope));
}

static int t_elu(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double alpha = luaL_optnumber(L, 2, 1.0);
    RESULT(dm_elu(t, alpha));
}

/* where's value at idx: a Tensor, or a number made a 0-dim tensor typed as the op types a
   number (an integer int64; a float float64 beside a float64 tensor or when that is the
   default dtype, else float32), so that the promotion is torch.where's */
static dm_tensor *where_value(lua_State *L, int idx, int other, int *made)
{
    *made = 0;
    if (lua_type(L, idx) == LUA_TBOOLEAN) {      /* a bool scalar: a 0-dim bool tensor */
        dm_tensor *bt = dm_tensor_full_i64(0, NULL, lua_toboolean(L, idx), DM_BOOL);
        if (!bt) luaL_error(L, "%s", dm_errmsg());
        *made = 1;
        return bt;
    }
    if (lua_type(L, idx) != LUA_TNUMBER) return lb_check(L, idx);
    dm_tensor *o = lb_totensor(L, other);
    dm_tensor *t = lua_isinteger(L, idx)
        ? dm_tensor_full_i64(0, NULL, lua_tointeger(L, idx), DM_INT64)
        : dm_tensor_full_dtype(0, NULL, lua_tonumber(L, idx),
                               (o && o->dtype == DM_FLOAT64) ||
                               lb_default_dtype(L) == DM_FLOAT64 ? DM_FLOAT64 : DM_FLOAT32);
    if (!t) luaL_error(L, "%s", dm_errmsg());
    *made = 1;
    return t;
}

/* where(cond, a, b): cond is a bool tensor, as in PyTorch 1.13 (a float mask is refused
   with the core's message; convert it with :bool() or build it with a comparison) */
static int t_where(lua_State *L)
{
    dm_tensor *c = lb_check(L, 1);
    int ma, mb;
    dm_tensor *a = where_value(L, 2, 3, &ma);
    dm_tensor *b = where_value(L, 3, 2, &mb);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_where(c, a, b);
    if (ma) dm_tensor_release(a);
    if (mb) dm_tensor_release(b);
    return lb_done(L, slot);
}

/* reductions: t:sum([dim | {dims}] [, keepdim] [, {dim =, keepdim =, dtype =}])
   (reduce_args.c); sum and mean over several dims at once, prod over one; a dtype converts
   the input to it first, as PyTorch's dtype= (so mean {dtype = dm.float32} of integers) */
static int reduce(lua_State *L, dm_redop op, const char *fn)
{
    static const char *const extra[] = { "dtype", NULL };
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, op == DM_RED_PROD ? 0 : LB_RA_MULTI, 0, extra, &a);
    int has_dt = a.opts && lua_getfield(L, a.opts, "dtype") != LUA_TNIL;
    if (a.opts) lua_pop(L, 1);
    dm_dtype dt = has_dt ? (dm_dtype)lb_opt_dtype(L, a.opts, t->dtype) : t->dtype;
    if (dt != t->dtype) {                       /* its box below the result's */
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_to_dtype(t, dt);
        lb_done(L, slot);
        t = *slot;
    }
    dm_tensor **slot = lb_newbox(L);
    *slot = a.n < 0 ? dm_reduce(op, t, DM_ALL, a.keepdim, 1)
          : a.n == 1 ? dm_reduce(op, t, a.dims[0], a.keepdim, 1)
          : dm_reduce_dims(op, t, a.n, a.dims, a.keepdim);
    /* {dtype = dm.uint8} of a uint8 sum: the int64 result wrapped back, as PyTorch's */
    if (*slot && has_dt && (*slot)->dtype != dt) {
        dm_tensor *r = *slot;
        *slot = dm_to_dtype(r, dt);
        dm_tensor_release(r);
    }
    return lb_done(L, slot);
}
static int t_sum(lua_State *L) { return reduce(L, DM_RED_SUM, "sum"); }
static int t_mean(lua_State *L) { return reduce(L, DM_RED_MEAN, "mean"); }
static int t_prod(lua_State *L) { return reduce(L, DM_RED_PROD, "prod"); }

/* the core's 0-based int64 indices (a new contiguous tensor) made 1-based, as Lua sees them */
static void one_based(dm_tensor *ix)
{
    int64_t *p = dm_data_ptr(ix);
    for (int64_t i = 0, n = dm_numel(ix); i < n; i++) p[i] += 1;
}

/* argmax/argmin give 1-based int64 indices */
static int arg_reduce(lua_State *L, dm_redop op, const char *fn)
{
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, 0, 0, NULL, &a);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_reduce(op, t, a.n < 0 ? DM_ALL : a.dims[0], a.keepdim, 1);
    if (*slot) one_based(*slot);
    return lb_done(L, slot);
}
static int t_argmax(lua_State *L) { return arg_reduce(L, DM_RED_ARGMAX, "argmax"); }
static int t_argmin(lua_State *L) { return arg_reduce(L, DM_RED_ARGMIN, "argmin"); }

/* max() -> value tensor; max(dim [, keepdim]) -> values, 1-based int64 indices;
   max(other_tensor) -> elementwise maximum */
static int maxmin(lua_State *L, int is_min)
{
    const char *fn = is_min ? "min" : "max";
    dm_tensor *t = lb_check(L, 1);
    if (lb_is_tensor(L, 2)) return binary(L, is_min ? DM_BIN_MINIMUM : DM_BIN_MAXIMUM, fn);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, 0, 0, NULL, &a);
    if (a.n < 0) RESULT(dm_reduce(is_min ? DM_RED_MIN : DM_RED_MAX, t, DM_ALL, 0, 1));
    dm_tensor **vs = lb_newbox(L);
    dm_tensor **is = lb_newbox(L);
    if (dm_max_dim(t, a.dims[0], a.keepdim, is_min, vs, is) != 0)
        return luaL_error(L, "%s", dm_errmsg());
    one_based(*is);
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}
static int t_max(lua_State *L) { return maxmin(L, 0); }
static int t_min(lua_State *L) { return maxmin(L, 1); }

/* var([dim] [, unbiased] [, keepdim] [, {dim=, correction=, unbiased=, keepdim=}]) */
static int varstd(lua_State *L, dm_redop op, const char *fn)
{
    static const char *const extra[] = { "correction", "unbiased", NULL };
    dm_tensor *t = lb_check(L, 1);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, 0, 1, extra, &a);
    int64_t correction = 1;
    int ugiven = a.opts != 3 && !lua_isnoneornil(L, 3);
    if (ugiven) correction = lua_toboolean(L, 3);
    if (a.opts) {
        lua_getfield(L, a.opts, "unbiased");
        if (!lua_isnil(L, -1)) {
            if (ugiven) return luaL_error(L, "%s: unbiased given twice", fn);
            correction = lua_toboolean(L, -1);
        }
        lua_getfield(L, a.opts, "correction");
        if (!lua_isnil(L, -1)) {
            if (ugiven) return luaL_error(L, "%s: correction given twice (as unbiased)", fn);
            correction = (int64_t)luaL_checkinteger(L, -1);
        }
        lua_pop(L, 2);
    }
    RESULT(dm_reduce(op, t, a.n < 0 ? DM_ALL : a.dims[0], a.keepdim, correction));
}
static int t_var(lua_State *L) { return varstd(L, DM_RED_VAR, "var"); }
static int t_std(lua_State *L) { return varstd(L, DM_RED_STD, "std"); }

/* softmax(dim) or softmax({dim = }) */
static int softmax_dim(lua_State *L, const char *fn)
{
    if (lua_type(L, 2) == LUA_TNUMBER && lua_gettop(L) == 2) return lb_dim(L, 2, fn);
    lb_rargs a;
    lb_reduce_args(L, 2, fn, LB_RA_NOKEEP, 0, NULL, &a);
    if (a.n < 0 && a.opts) return luaL_error(L, "%s: dim is required", fn);
    if (a.n < 0) return lb_dim(L, 2, fn);              /* raises: dim is required */
    return a.dims[0];
}

static int t_softmax(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = softmax_dim(L, "softmax");
    RESULT(dm_softmax(t, d));
}

static int t_log_softmax(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int d = softmax_dim(L, "log_softmax");
    RESULT(dm_log_softmax(t, d));
}

static int t_matmul(lua_State *L)
{
    dm_tensor *a = lb_check(L, 1), *b = lb_check(L, 2);
    RESULT(dm_matmul(a, b));
}

static int t_linear(lua_State *L)
{
    dm_tensor *x = lb_check(L, 1), *w = lb_check(L, 2);
    dm_tensor *b = lua_isnoneornil(L, 3) ? NULL : lb_check(L, 3);
    RESULT(dm_linear(x, w, b));
}

/* core._try_linear(x, w, b): dm.linear for nn.Linear's fast path, or nil when the
   arguments are not tensors of matching shapes (the caller then raises its own message) */
static int t_try_linear(lua_State *L)
{
    /* any dtype: dm_linear itself names mismatched dtypes */
    dm_tensor *x = lb_totensor(L, 1), *w = lb_totensor(L, 2), *b = NULL;
    if (!lua_isnoneornil(L, 3) && !(b = lb_totensor(L, 3))) return 0;
    if (!x || !w || w->ndim != 2 || x->ndim == 0 || x->shape[x->ndim - 1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0])))
        return 0;
    RESULT(dm_linear(x, w, b));
}

/* core._is_tensor(x): x is a Tensor (released or not) */
static int t_is_tensor(lua_State *L)
{
    lua_pushboolean(L, lb_is_tensor(L, 1));
    return 1;
}

/* a Lua array of tensors at idx into a malloc'd array */
static dm_tensor **tensor_list(lua_State *L, int idx, int *n, const char *fn)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    if (*n == 0) { luaL_error(L, "%s: expected a non-empty list of tensors", fn); return NULL; }
    dm_tensor **ts = lua_newuserdatauv(L, (size_t)*n * sizeof *ts, 0);   /* freed by GC */
    for (int i = 1; i <= *n; i++) {
        lua_geti(L, idx, i);
        if (!lb_is_tensor(L, -1))
            luaL_error(L, "%s: element %d of the list is a %s, expected a tensor", fn, i, luaL_typename(L, -1));
        ts[i - 1] = lb_check(L, -1);
        lua_pop(L, 1);
    }
    return ts;
}

static int t_cat(lua_State *L)
{
    int n;
    int dim = lb_optdim(L, 2, "cat", 0);
    lua_settop(L, 2);
    dm_tensor **ts = tensor_list(L, 1, &n, "cat");
    RESULT(dm_cat(n, ts, dim));
}

static int t_stack(lua_State *L)
{
    int n;
    int dim = lb_optdim(L, 2, "stack", 0);
    lua_settop(L, 2);
    dm_tensor **ts = tensor_list(L, 1, &n, "stack");
    RESULT(dm_stack(n, ts, dim));
}

/* 1-based index tensor or Lua array -> 0-based index tensor (new reference): int64 from
   an int64 tensor or a Lua array, float32 from a float32 tensor (older code's form) */
static dm_tensor *index_arg(lua_State *L, int idx, const char *fn)
{
    dm_tensor *z;
    if (lb_is_tensor(L, idx) && lb_check(L, idx)->dtype == DM_INT64) {
        dm_tensor *src = lb_check(L, idx);
        z = dm_tensor_new_dtype(src->ndim, src->shape, DM_INT64);
        if (!z) { luaL_error(L, "%s: %s", fn, dm_errmsg()); return NULL; }
        int64_t *d = dm_data_ptr(z);
        dm_to_buffer_dtype(src, d, DM_INT64);
        /* 1-based to 0-based; 0 and negatives stay out of range for the core to reject */
        for (int64_t i = 0, n = dm_numel(z); i < n; i++)
            d[i] = d[i] == INT64_MIN ? d[i] : d[i] - 1;
        return z;
    }
    if (lb_is_tensor(L, idx)) {
        dm_tensor *src = lb_check(L, idx);
        if (src->dtype != DM_FLOAT32)
            luaL_error(L, "%s: expected an int64 index tensor, got %s", fn,
                       dm_dtype_name(src->dtype));
        z = dm_tensor_new(src->ndim, src->shape);
        if (z) {
            /* 1-based to 0-based in the copy; negative counts from the end stay for the
               core to reject */
            float *d = dm_data(z);
            dm_to_buffer(src, d);
            for (int64_t i = 0, n = dm_numel(z); i < n; i++) d[i] -= 1.0f;
            return z;
        }
    } else {
        luaL_checktype(L, idx, LUA_TTABLE);
        int64_t n = (int64_t)luaL_len(L, idx);
        z = dm_tensor_new_dtype(1, &n, DM_INT64);
        for (int64_t i = 0; z && i < n; i++) {
            lua_geti(L, idx, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok) {
                dm_tensor_release(z);
                luaL_error(L, "%s: index %d is not an integer", fn, (int)i + 1);
            }
            ((int64_t *)dm_data_ptr(z))[i] = v == LUA_MININTEGER ? v : v - 1;
        }
        if (!z) { luaL_error(L, "%s: %s", fn, dm_errmsg()); return NULL; }
        return z;
    }
    if (!z) { luaL_error(L, "%s: %s", fn, dm_errmsg()); return NULL; }
    /* 1-based to 0-based; negative counts from the end stays for the core to reject */
    dm_add_scalar_(z, -1.0f);
    return z;
}

static int t_index_select(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, "index_select");
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *z = index_arg(L, 3, "index_select");
    *slot = dm_index_select(t, dim, z);
    dm_tensor_release(z);
    return lb_done(L, slot);
}

/* ---- in-place --------------------------------------------------------------------------- */

static int inplace_result(lua_State *L, int rc)
{
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

static int t_copy_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *s = lb_check(L, 2);
    return inplace_result(L, dm_copy_(t, s));
}

static int t_fill_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (t->dtype == DM_FLOAT32) return inplace_result(L, dm_fill_(t, (float)luaL_checknumber(L, 2)));
    if (lua_type(L, 2) != LUA_TBOOLEAN) luaL_checknumber(L, 2);
    return inplace_result(L, fill_value(L, t, 2));
}

static int t_zero_(lua_State *L) { return inplace_result(L, dm_zero_(lb_check(L, 1))); }

/* t:add_(x [, alpha]) and t:sub_: a float32 t keeps its own loops; other dtypes go through
   the typed ops, and a result that cannot be cast to t's dtype is refused as in PyTorch */
static int add_like(lua_State *L, int sign)
{
    dm_tensor *t = lb_check(L, 1);
    bool_arg(L, 2);
    dm_binop op = sign > 0 ? DM_BIN_ADD : DM_BIN_SUB;
    const char *fn = sign > 0 ? "add_" : "sub_";
    double alpha = 1;
    int kind = DM_ALPHA_INT;
    int has_alpha = alpha_arg(L, 3, fn, &alpha, &kind);
    if (has_alpha && lua_type(L, 2) == LUA_TNUMBER) {
        /* a float number into an integer tensor, anything into bool: the op's cast error */
        if (t->dtype == DM_BOOL || (!dm_is_floating(t->dtype) && !lua_isinteger(L, 2)))
            return inplace_result(L, dm_binary_scalar_(op, t, lua_tonumber(L, 2),
                                                       lua_isinteger(L, 2)));
        double sd = 0;
        lua_Integer si = 0;
        if (alpha_times(L, 2, fn, t->dtype, alpha, kind, &sd, &si))
            return inplace_result(L, dm_binary_scalar_(op, t, (double)si, 1));
        return inplace_result(L, dm_binary_scalar_(op, t, sd, 0));
    }
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (t->dtype == DM_FLOAT32)            /* float32: the scalar in float, as before */
            return inplace_result(L, dm_binary_scalar_(op, t, (float)lua_tonumber(L, 2), 0));
        return inplace_result(L, dm_binary_scalar_(op, t, lua_tonumber(L, 2), lua_isinteger(L, 2)));
    }
    dm_tensor *o = lb_check(L, 2);
    if (!has_alpha && (t->dtype | o->dtype) == DM_FLOAT32)
        return inplace_result(L, sign > 0 ? dm_add_(t, o, 1.0f) : dm_sub_(t, o, 1.0f));
    if (!has_alpha) return inplace_result(L, dm_binary_(op, t, o));
    /* t op= alpha * o, alpha typed as PyTorch types it (an integer keeps integer tensors) */
    return inplace_result(L, dm_binary_alpha_(op, t, o, alpha, kind));
}

static int t_add_(lua_State *L) { return add_like(L, 1); }
static int t_sub_(lua_State *L) { return add_like(L, -1); }

static int t_mul_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    bool_arg(L, 2);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (t->dtype == DM_FLOAT32) return inplace_result(L, dm_mul_scalar_(t, (float)lua_tonumber(L, 2)));
        return inplace_result(L, dm_binary_scalar_(DM_BIN_MUL, t, lua_tonumber(L, 2),
                                                   lua_isinteger(L, 2)));
    }
    return inplace_result(L, dm_mul_(t, lb_check(L, 2)));
}

static int t_div_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    bool_arg(L, 2);
    if (lua_type(L, 2) != LUA_TNUMBER) return inplace_result(L, dm_binary_(DM_BIN_DIV, t, lb_check(L, 2)));
    if (t->dtype == DM_FLOAT32)
        return inplace_result(L, dm_binary_scalar_(DM_BIN_DIV, t, (float)luaL_checknumber(L, 2), 0));
    return inplace_result(L, dm_binary_scalar_(DM_BIN_DIV, t, lua_tonumber(L, 2), lua_isinteger(L, 2)));
}

static int t_clamp_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    double lo, hi;
    int ib;
    clamp_args(L, &lo, &hi, &ib);
    if (t->dtype == DM_FLOAT32) return inplace_result(L, dm_clamp_(t, (float)lo, (float)hi));
    return inplace_result(L, dm_clamp_ex_(t, lo, hi, ib));
}

/* ---- autograd ------------------------------------------------------------------------- */

static int t_backward(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    dm_tensor *g = NULL;               /* of any dtype: converted to t's, as PyTorch does */
    int retain = 0, opts = 0;
    if (lb_is_tensor(L, 2)) { g = lb_check(L, 2); opts = 3; }
    else if (lua_istable(L, 2)) opts = 2;
    else if (!lua_isnoneornil(L, 2)) return luaL_typeerror(L, 2, "deepmoon.Tensor or options table");
    if (opts && lua_istable(L, opts)) {
        static const char *const known[] = { "retain_graph", "gradient", NULL };
        lb_opts_check(L, opts, "backward", known);
        lua_getfield(L, opts, "retain_graph");
        retain = lua_toboolean(L, -1);
        lua_getfield(L, opts, "gradient");
        if (!lua_isnil(L, -1)) g = lb_check(L, lua_gettop(L));
    }
    lua_State *prev = lb_walk_L;      /* hooks and custom nodes written in Lua run here */
    lb_walk_L = L;
    int rc = dm_backward(t, g, retain);
    lb_walk_L = prev;
    if (rc != 0) return luaL_error(L, "backward: %s", dm_errmsg());
    return 0;
}

static int t_requires_grad_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int on = lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2);
    if (dm_set_requires_grad(t, on) != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

static int t_retain_grad(lua_State *L)
{
    if (dm_retain_grad(lb_check(L, 1)) != 0) return luaL_error(L, "%s", dm_errmsg());
    return 0;
}

static int t_free(lua_State *L)
{
    dm_tensor **slot = lb_checkbox(L, 1);
    dm_tensor_release(*slot);
    *slot = NULL;
    return 0;
}

static int t_is_released(lua_State *L)
{
    dm_tensor **slot = lb_checkbox(L, 1);
    lua_pushboolean(L, *slot == NULL);
    return 1;
}

/* raw storage identity, for tests of sharing */
static int t_storage_id(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_pushfstring(L, "%p", (void *)t->storage);
    return 1;
}

/* ---- fields: t.grad, t.requires_grad, t.grad_fn, t.is_leaf, t.shape; t[i] selects ---- */

static int t_index(lua_State *L)
{
    /* methods first: the common case */
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    dm_tensor *t = lb_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return lb_index_get(L);   /* t[i], t[{...}], t[mask] */
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "grad") == 0) {
        lb_grad_box(L, 1, t);
        return 1;
    }
    if (strcmp(k, "requires_grad") == 0) { lua_pushboolean(L, t->requires_grad); return 1; }
    if (strcmp(k, "_version") == 0) { lua_pushinteger(L, dm_tensor_version(t)); return 1; }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, dm_is_leaf(t)); return 1; }
    if (strcmp(k, "grad_fn") == 0) {
        const char *n = dm_grad_fn_name(t);
        if (!n) return 0;
        lua_pushstring(L, n);
        return 1;
    }
    if (strcmp(k, "shape") == 0) { lua_settop(L, 1); return t_size(L); }
    if (strcmp(k, "ndim") == 0) { lua_pushinteger(L, t->ndim); return 1; }
    if (strcmp(k, "dtype") == 0) { lb_push_dtype(L, t->dtype); return 1; }
    if (strcmp(k, "device") == 0) { lua_pushstring(L, dm_device_name(dm_tensor_device(t))); return 1; }
    if (strcmp(k, "is_cuda") == 0) { lua_pushboolean(L, 0); return 1; }
    if (strcmp(k, "T") == 0) { lua_settop(L, 1); return t_t(L); }
    if (strcmp(k, "data") == 0) { lua_settop(L, 1); return t_detach(L); }   /* as PyTorch's */
    return luaL_error(L, "deepmoon.Tensor has no member '%s'", k);
}

static int t_newindex(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return lb_index_set(L);   /* t[i] = v, t[{...}] = v */
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "grad") == 0) {
        dm_tensor *g = lua_isnil(L, 3) ? NULL : lb_check(L, 3);
        if (dm_set_grad(t, g) != 0) return luaL_error(L, "%s", dm_errmsg());
        if (g) lb_grad_set(L, 1, 3);    /* t.grad now returns the very box assigned */
        else lb_grad_forget(L, 1);
        return 0;
    }
    if (strcmp(k, "requires_grad") == 0) {
        if (dm_set_requires_grad(t, lua_toboolean(L, 3)) != 0) return luaL_error(L, "%s", dm_errmsg());
        return 0;
    }
    if (strcmp(k, "data") == 0) {
        /* PyTorch's `p.data = x`: this very Lua object now views x's values (x's dtype and
           shape), keeping requires_grad and .grad; what Module:to uses to convert parameters
           in place of the objects optimizers and tables hold */
        dm_tensor *n = dm_tensor_with_data(t, lb_check(L, 3));
        if (!n) return luaL_error(L, "%s", dm_errmsg());
        dm_tensor **slot = lb_checkbox(L, 1);
        dm_tensor_release(*slot);
        *slot = n;
        return 0;
    }
    return luaL_error(L, "Tensor: cannot set field '%s'", k);
}

static int t_gc(lua_State *L)
{
    dm_tensor **slot = lb_checkbox(L, 1);
    dm_tensor_release(*slot);
    *slot = NULL;
    return 0;
}

static const luaL_Reg methods_fns[] = {
    { "size", t_size }, { "stride", t_stride }, { "dim", t_dim }, { "numel", t_numel },
    { "nelement", t_numel }, { "is_contiguous", t_is_contiguous }, { "item", t_item },
    { "totable", t_totable }, { "values", t_values }, { "get", t_get }, { "set", t_set },
    { "view", t_view }, { "reshape", t_reshape }, { "t", t_t }, { "transpose", t_transpose },
    { "permute", t_permute }, { "narrow", t_narrow }, { "select", t_select },
    { "squeeze", t_squeeze }, { "unsqueeze", t_unsqueeze }, { "flatten", t_flatten },
    { "expand", t_expand }, { "expand_as", t_expand }, { "contiguous", t_contiguous },
    { "clone", t_clone }, { "detach", t_detach },
    { "add", t_add }, { "sub", t_sub }, { "mul", t_mul }, { "div", t_div }, { "pow", t_pow },
    { "eq", t_eq }, { "ne", t_ne }, { "lt", t_lt }, { "le", t_le }, { "gt", t_gt }, { "ge", t_ge },
    { "maximum", t_maximum }, { "minimum", t_minimum },
    { "neg", t_neg }, { "exp", t_exp }, { "log", t_log }, { "sqrt", t_sqrt }, { "abs", t_abs },
    { "sign", t_sign }, { "round", t_round }, { "floor", t_floor }, { "ceil", t_ceil },
    { "tanh", t_tanh }, { "sigmoid", t_sigmoid }, { "relu", t_relu },
    { "reciprocal", t_reciprocal }, { "sin", t_sin }, { "cos", t_cos }, { "selu", t_selu },
    { "gelu", t_gelu }, { "square", t_square }, { "log1p", t_log1p },
    { "clamp", t_clamp }, { "clip", t_clamp }, { "leaky_relu", t_leaky_relu }, { "elu", t_elu },
    { "sum", t_sum }, { "mean", t_mean }, { "prod", t_prod }, { "max", t_max }, { "min", t_min },
    { "argmax", t_argmax }, { "argmin", t_argmin }, { "var", t_var }, { "std", t_std },
    { "softmax", t_softmax }, { "log_softmax", t_log_softmax },
    { "matmul", t_matmul }, { "mm", t_matmul }, { "index_select", t_index_select },
    { "copy_", t_copy_ }, { "fill_", t_fill_ }, { "zero_", t_zero_ }, { "add_", t_add_ },
    { "sub_", t_sub_ }, { "mul_", t_mul_ }, { "div_", t_div_ }, { "clamp_", t_clamp_ },
    { "backward", t_backward }, { "requires_grad_", t_requires_grad_ },
    { "retain_grad", t_retain_grad }, { "free", t_free }, { "is_released", t_is_released },
    { "storage_id", t_storage_id },
    { "trunc", t_trunc }, { "fix", t_fix }, { "frac", t_frac }, { "expm1", t_expm1 },
    { "log2", t_log2 }, { "log10", t_log10 }, { "exp2", t_exp2 }, { "rsqrt", t_rsqrt },
    { "tan", t_tan }, { "asin", t_asin }, { "acos", t_acos }, { "atan", t_atan },
    { "sinh", t_sinh }, { "cosh", t_cosh }, { "asinh", t_asinh }, { "acosh", t_acosh },
    { "atanh", t_atanh }, { "erf", t_erf }, { "erfc", t_erfc }, { "deg2rad", t_deg2rad },
    { "rad2deg", t_rad2deg }, { "sgn", t_sgn },
    { "lgamma", t_lgamma }, { "digamma", t_digamma }, { "erfinv", t_erfinv },
    { "logit", t_logit }, { "sinc", t_sinc }, { "isposinf", t_isposinf },
    { "isneginf", t_isneginf }, { "signbit", t_signbit },
    { NULL, NULL }
};

static const luaL_Reg module_fns[] = {
    { "tensor", t_tensor }, { "zeros", t_zeros }, { "ones", t_ones }, { "empty", t_empty },
    { "full", t_full }, { "rand", t_rand }, { "randn", t_randn },
    { "zeros_like", t_zeros_like }, { "ones_like", t_ones_like }, { "empty_like", t_empty_like },
    { "full_like", t_full_like }, { "rand_like", t_rand_like }, { "randn_like", t_randn_like },
    { "arange", t_arange }, { "linspace", t_linspace }, { "eye", t_eye },
    { "where", t_where }, { "cat", t_cat }, { "stack", t_stack }, { "linear", t_linear },
    { "_try_linear", t_try_linear }, { "_is_tensor", t_is_tensor },
    { "_try_unary", t_try_unary },
    { NULL, NULL }
};

/* functions that exist both as methods and as dm.<name>(t, ...) */
static const char *const shared_names[] = {
    "add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le", "gt", "ge", "maximum",
    "minimum", "neg", "exp", "log", "sqrt", "abs", "sign", "round", "floor", "ceil", "tanh",
    "sigmoid", "relu", "reciprocal", "sin", "cos", "selu", "gelu", "square", "log1p", "clamp",
    "leaky_relu", "elu", "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std",
    "softmax", "log_softmax", "matmul", "mm", "index_select", "reshape", "transpose",
    "permute", "narrow", "select", "squeeze", "unsqueeze", "flatten", "clone", "detach",
    "numel", "t",
    "trunc", "fix", "frac", "expm1", "log2", "log10", "exp2", "rsqrt", "tan", "asin", "acos",
    "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfc", "deg2rad", "rad2deg",
    "sgn",
    "lgamma", "digamma", "erfinv", "logit", "sinc", "isposinf", "isneginf", "signbit", NULL
};

void lb_open_tensor(lua_State *L, int methods, int module)
{
    luaL_setfuncs(L, methods_fns, 0);           /* into methods (top of stack) */
    lua_pushvalue(L, module);
    luaL_setfuncs(L, module_fns, 0);
    lua_pop(L, 1);
    for (int i = 0; shared_names[i]; i++) {
        lua_getfield(L, methods, shared_names[i]);
        lua_setfield(L, module, shared_names[i]);
    }
    /* core._unary_codes: method name -> the code core._try_unary takes */
    static const struct { const char *name; dm_unop op; } codes[] = {
        { "relu", DM_UN_RELU }, { "selu", DM_UN_SELU }, { "sigmoid", DM_UN_SIGMOID },
        { "tanh", DM_UN_TANH }, { "gelu", DM_UN_GELU },
    };
    lua_createtable(L, 0, (int)(sizeof codes / sizeof *codes));
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        lua_pushinteger(L, codes[i].op);
        lua_setfield(L, -2, codes[i].name);
    }
    lua_setfield(L, module, "_unary_codes");
    luaL_getmetatable(L, LB_TENSOR);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -2, "__index");
    static const luaL_Reg meta[] = {
        { "__newindex", t_newindex }, { "__gc", t_gc }, { "__close", t_gc },
        { "__add", t_add }, { "__sub", t_sub }, { "__mul", t_mul }, { "__div", t_div },
        { "__pow", t_pow }, { "__unm", t_unm }, { "__len", t_len }, { NULL, NULL }
    };
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "deepmoon.Tensor");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}
