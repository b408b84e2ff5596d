/* dtype.c -- dtypes and devices for Lua: dm.float32 ... dm.bool, t.dtype, t:to(...),
 * t:float() and friends, t.device, and values of any dtype going to and from Lua. */
#include "binding.h"
#include <string.h>

/* The dtype objects are tables (dm.float32 ...) with a metatable that prints them as
 * "deepmoon.float32"; each knows its code.  They live in the registry under dtype_key as an
 * array indexed by code + 1, so the C side maps both ways without string compares. */
static const char dtype_key = 0;

static const char *const short_names[DM_NDTYPES] = {
    [DM_FLOAT32] = "float", [DM_FLOAT64] = "double", [DM_INT64] = "long",
    [DM_UINT8] = "byte", [DM_BOOL] = "bool",
};
static const char *const type_names[DM_NDTYPES] = {
    [DM_FLOAT32] = "deepmoon.FloatTensor", [DM_FLOAT64] = "deepmoon.DoubleTensor",
    [DM_INT64] = "deepmoon.LongTensor", [DM_UINT8] = "deepmoon.ByteTensor",
    [DM_BOOL] = "deepmoon.BoolTensor",
};

void lb_push_dtype(lua_State *L, dm_dtype dt)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &dtype_key);
    lua_rawgeti(L, -1, (lua_Integer)dt + 1);
    lua_remove(L, -2);
}

/* the dtype at idx: a dtype object, or a name ("float32", "float", "int64", "long", ...);
   -1 when it is neither */
static int to_dtype(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        if (strncmp(s, "deepmoon.", 9) == 0) s += 9;
        for (int d = 0; d < DM_NDTYPES; d++)
            if (!strcmp(s, dm_dtype_name((dm_dtype)d)) || !strcmp(s, short_names[d])) return d;
        return -1;
    }
    if (!lua_istable(L, idx)) return -1;
    int code = -1;
    if (lua_getfield(L, idx, "_code") == LUA_TNUMBER) code = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (code < 0 || code >= DM_NDTYPES) return -1;
    lb_push_dtype(L, (dm_dtype)code);      /* the very object, not a look-alike */
    int same = lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
    return same ? code : -1;
}

dm_dtype lb_check_dtype(lua_State *L, int idx)
{
    int d = to_dtype(L, idx);
    if (d < 0) luaL_typeerror(L, idx, "deepmoon dtype");
    return (dm_dtype)d;
}

int lb_opt_dtype(lua_State *L, int opts, dm_dtype def)
{
    if (!opts || !lua_istable(L, opts)) return def;
    int dt = def;
    if (lua_getfield(L, opts, "dtype") != LUA_TNIL) {
        dt = to_dtype(L, -1);
        if (dt < 0)             /* the value's type, before it is popped */
            return luaL_error(L, "dtype: expected a deepmoon dtype (deepmoon.float32, ...), got %s",
                              luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return dt;
}

/* ---- values to and from Lua -------------------------------------------------------------- */

void lb_push_value(lua_State *L, const dm_tensor *t, const int64_t *idx)
{
    switch (t->dtype) {
    case DM_INT64: case DM_UINT8: lua_pushinteger(L, dm_get_i64(t, idx)); break;
    case DM_BOOL: lua_pushboolean(L, dm_get_i64(t, idx) != 0); break;
    default: lua_pushnumber(L, dm_get_f64(t, idx)); break;
    }
}

/* the value at idx into element idx of t, as t's dtype converts it */
void lb_set_value(lua_State *L, dm_tensor *t, const int64_t *at, int vidx)
{
    if (lua_type(L, vidx) == LUA_TBOOLEAN) dm_set_i64(t, at, lua_toboolean(L, vidx));
    else if (lua_isinteger(L, vidx)) dm_set_i64(t, at, lua_tointeger(L, vidx));
    else dm_set_f64(t, at, luaL_checknumber(L, vidx));
}

/* ---- methods ----------------------------------------------------------------------------- */

/* t in dtype dt: t itself when it already is (PyTorch returns self), else a converted copy */
static int convert(lua_State *L, dm_dtype dt)
{
    dm_tensor *t = lb_check(L, 1);
    if (t->dtype == dt) { lua_settop(L, 1); return 1; }
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_to_dtype(t, dt);
    return lb_done(L, slot);
}

/* the dtype at i for to(): a dtype object or name, else an error naming the argument */
static int to_arg_dtype(lua_State *L, int i)
{
    int dt = to_dtype(L, i);
    if (dt >= 0) return dt;
    if (lua_type(L, i) == LUA_TSTRING)
        return luaL_argerror(L, i, lua_pushfstring(L, "unknown dtype or device '%s'",
                                                   lua_tostring(L, i)));
    return luaL_typeerror(L, i, "deepmoon dtype, device name or Tensor");
}

/* t:to(dtype), t:to(device [, dtype]), t:to(other), each with an optional options table
   {dtype =, device =, copy =, non_blocking =} (alone too: t:to({dtype = dm.float64})), as
   PyTorch's Tensor.to; t itself when nothing changes and copy is not asked for */
static int t_to(lua_State *L)
{
    static const char *const known[] = { "dtype", "device", "copy", "non_blocking", NULL };
    dm_tensor *t = lb_check(L, 1);
    int top = lua_gettop(L), a = 2, dt = -1, dev = -1, copy = 0;
    if (lua_type(L, a) == LUA_TSTRING && (dev = dm_device_parse(lua_tostring(L, a))) >= 0) a++;
    if (a <= top && lb_is_tensor(L, a)) {
        dm_tensor *o = lb_check(L, a++);        /* t:to(other): other's dtype and device */
        dt = o->dtype;
        dev = dm_tensor_device(o);
    } else if (a <= top && !lua_isnil(L, a) &&
               !(lua_type(L, a) == LUA_TTABLE && to_dtype(L, a) < 0)) {
        dt = to_arg_dtype(L, a++);
    }
    if (a <= top && lua_type(L, a) == LUA_TTABLE && !lb_is_tensor(L, a) &&
        to_dtype(L, a) < 0) {                               /* the options table */
        lb_opts_check(L, a, "to", known);
        if (lua_getfield(L, a, "dtype") != LUA_TNIL) {
            if (dt >= 0) return luaL_error(L, "to: dtype given twice");
            dt = to_arg_dtype(L, lua_gettop(L));
        }
        lua_pop(L, 1);
        if (lua_getfield(L, a, "device") != LUA_TNIL) {
            const char *name = lua_tostring(L, -1);
            int d = name ? dm_device_parse(name) : -1;
            if (d < 0) return luaL_error(L, "to: unknown device '%s'", name ? name : "?");
            if (dev >= 0 && d != dev) return luaL_error(L, "to: device given twice");
            dev = d;
        }
        lua_pop(L, 1);
        lua_getfield(L, a, "copy");
        copy = lua_toboolean(L, -1);
        lua_pop(L, 1);
        a++;
    } else if (a == 2) {
        return luaL_typeerror(L, 2, "deepmoon dtype, device name or Tensor");
    }
    if (a <= top && !lua_isnil(L, a))
        return luaL_error(L, "to: unexpected argument #%d (%s)", a - 1, luaL_typename(L, a));
    dm_tensor *r = t;
    if (dev >= 0 && dm_tensor_device(r) != dev) {
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_to_device(r, dev);           /* t:to("cpu:ref"), t:to("cpu") */
        lb_done(L, slot);
        r = *slot;
    }
    if (dt >= 0 && r->dtype != (dm_dtype)dt) {
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_to_dtype(r, (dm_dtype)dt);
        lb_done(L, slot);
        r = *slot;
    }
    if (r == t) {
        if (!copy) { lua_settop(L, 1); return 1; }      /* self, as PyTorch */
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_clone(t);
        return lb_done(L, slot);
    }
    return 1;                                   /* the last box pushed */
}

/* t:type_as(other): t in other's dtype */
static int t_type_as(lua_State *L)
{
    dm_dtype dt = lb_check(L, 2)->dtype;
    lua_settop(L, 1);
    return convert(L, dt);
}

static int t_float(lua_State *L) { return convert(L, DM_FLOAT32); }
static int t_double(lua_State *L) { return convert(L, DM_FLOAT64); }
static int t_long(lua_State *L) { return convert(L, DM_INT64); }
static int t_byte(lua_State *L) { return convert(L, DM_UINT8); }
static int t_bool(lua_State *L) { return convert(L, DM_BOOL); }

static int t_is_floating_point(lua_State *L)
{
    lua_pushboolean(L, dm_is_floating(lb_check(L, 1)->dtype));
    return 1;
}

static int t_type(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (lua_isnoneornil(L, 2)) { lua_pushstring(L, type_names[t->dtype]); return 1; }
    int dt = to_dtype(L, 2);
    if (dt < 0 && lua_type(L, 2) == LUA_TSTRING)
        for (int d = 0; d < DM_NDTYPES; d++)
            if (!strcmp(lua_tostring(L, 2), type_names[d])) dt = d;
    if (dt < 0) return luaL_typeerror(L, 2, "deepmoon dtype or type name");
    return convert(L, (dm_dtype)dt);
}

static int t_element_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)dm_dtype_size(lb_check(L, 1)->dtype));
    return 1;
}

static int t_cpu(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    if (dm_tensor_device(t) == DM_CPU) { lua_settop(L, 1); return 1; }
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_to_device(t, DM_CPU);
    return lb_done(L, slot);
}

/* dm.set_default_dtype / get_default_dtype: kept in the registry of this state */
static const char default_key = 0;

dm_dtype lb_default_dtype(lua_State *L)
{
    int dt = DM_FLOAT32;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &default_key) == LUA_TNUMBER) dt = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return (dm_dtype)dt;
}

static int m_set_default_dtype(lua_State *L)
{
    dm_dtype dt = lb_check_dtype(L, 1);
    if (!dm_is_floating(dt))
        return luaL_argerror(L, 1, "only floating-point types are supported as the default type");
    lua_pushinteger(L, dt);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &default_key);
    return 0;
}

static int m_get_default_dtype(lua_State *L)
{
    lb_push_dtype(L, lb_default_dtype(L));
    return 1;
}

static int m_promote_types(lua_State *L)
{
    lb_push_dtype(L, dm_promote_types(lb_check_dtype(L, 1), lb_check_dtype(L, 2)));
    return 1;
}

static int dtype_tostring(lua_State *L)
{
    lua_getfield(L, 1, "name");
    lua_pushfstring(L, "deepmoon.%s", lua_tostring(L, -1));
    return 1;
}

static const luaL_Reg methods_fns[] = {
    { "to", t_to }, { "float", t_float }, { "double", t_double }, { "long", t_long },
    { "byte", t_byte }, { "bool", t_bool }, { "is_floating_point", t_is_floating_point },
    { "type", t_type }, { "element_size", t_element_size }, { "cpu", t_cpu },
    { "type_as", t_type_as },
    { NULL, NULL }
};

void lb_open_dtype(lua_State *L, int methods, int module)
{
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, methods_fns, 0);
    lua_pop(L, 1);
    lua_newtable(L);                               /* the dtype metatable */
    lua_pushcfunction(L, dtype_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "deepmoon.dtype");
    lua_setfield(L, -2, "__name");
    int mt = lua_gettop(L);
    lua_createtable(L, DM_NDTYPES, 0);             /* code + 1 -> object */
    int arr = lua_gettop(L);
    for (int d = 0; d < DM_NDTYPES; d++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, dm_dtype_name((dm_dtype)d));
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, d);
        lua_setfield(L, -2, "_code");
        lua_pushboolean(L, dm_is_floating((dm_dtype)d));
        lua_setfield(L, -2, "is_floating_point");
        lua_pushinteger(L, (lua_Integer)dm_dtype_size((dm_dtype)d));
        lua_setfield(L, -2, "itemsize");
        lua_pushvalue(L, mt);
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, module, dm_dtype_name((dm_dtype)d));
        lua_rawseti(L, arr, d + 1);
    }
    /* PyTorch's aliases */
    static const struct { const char *alias; dm_dtype dt; } aliases[] = {
        { "float", DM_FLOAT32 }, { "double", DM_FLOAT64 }, { "long", DM_INT64 },
    };
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        lua_rawgeti(L, arr, aliases[i].dt + 1);
        lua_setfield(L, module, aliases[i].alias);
    }
    lua_pushvalue(L, arr);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &dtype_key);
    lua_pop(L, 2);
    lua_pushcfunction(L, m_set_default_dtype);
    lua_setfield(L, module, "set_default_dtype");
    lua_pushcfunction(L, m_get_default_dtype);
    lua_setfield(L, module, "get_default_dtype");
    lua_pushcfunction(L, m_promote_types);
    lua_setfield(L, module, "promote_types");
}
