/* pt.c -- PyTorch checkpoints for Lua (deepmoon.io uses these for dm.load and for dm.save
 * with a .pt or .pth name).  A checkpoint's tree (core/io/pt.c) becomes Lua values: a dict a
 * table with the same keys (str, int, float, bool keys), a list or tuple a 1-based array,
 * None nil, a tensor a Tensor; a value met twice (shared through the pickle's memo) is the
 * same Lua value twice.  A file that cannot be read gives nil and a message; wrong
 * arguments to pt_save raise. */
#include "binding.h"
#include <stdlib.h>
#include <string.h>

#define LB_PYDOC "deepmoon.PyDoc"
#define MAX_DEPTH 200

typedef struct { dm_pydoc *d; } docbox;

static int doc_gc(lua_State *L)
{
    docbox *b = luaL_checkudata(L, 1, LB_PYDOC);
    dm_pydoc_free(b->d);
    b->d = NULL;
    return 0;
}

static docbox *new_docbox(lua_State *L)
{
    docbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->d = NULL;
    luaL_setmetatable(L, LB_PYDOC);
    return b;
}

/* ---- reading ------------------------------------------------------------------------ */

/* push v's Lua value; 0, or -1 with a message in err and nothing pushed.  memo: the index of
   a table pointer -> value of what has been converted already */
/* the dtype a storage type of the file had when it is not the one it loads as */
static const char *widened(const char *storage)
{
    static const char *const map[][2] = {
        { "torch.HalfStorage", "float16" }, { "torch.BFloat16Storage", "bfloat16" },
        { "torch.IntStorage", "int32" }, { "torch.ShortStorage", "int16" },
        { "torch.CharStorage", "int8" },
    };
    for (size_t i = 0; storage && i < sizeof map / sizeof *map; i++)
        if (!strcmp(storage, map[i][0])) return map[i][1];
    return NULL;
}

static int push_py(lua_State *L, const dm_pyval *v, int depth, int memo, char *err, size_t errlen)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "values nested more than %d deep", MAX_DEPTH);
        return -1;
    }
    luaL_checkstack(L, 8, "load: nested too deep");
    switch (v->kind) {
    case DM_PY_NONE: lua_pushnil(L); return 0;
    case DM_PY_BOOL: lua_pushboolean(L, v->i != 0); return 0;
    case DM_PY_INT: lua_pushinteger(L, (lua_Integer)v->i); return 0;
    case DM_PY_FLOAT: lua_pushnumber(L, v->f); return 0;
    case DM_PY_STR: lua_pushlstring(L, v->s, v->len); return 0;
    case DM_PY_OTHER:
        snprintf(err, errlen, "the checkpoint holds a %s object, which has no value here "
                 "(tensors, numbers, strings, booleans, None, dicts, lists and tuples do)",
                 v->s ? v->s : "?");
        return -1;
    default: break;
    }
    if (lua_rawgetp(L, memo, v) != LUA_TNIL) return 0;
    lua_pop(L, 1);
    if (v->kind == DM_PY_TENSOR) {
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_tensor_retain(v->t);
        lb_done(L, slot);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, memo, v);
        const char *was = widened(v->s);
        if (was) {                      /* memo[1]: tensor -> the file's dtype */
            lua_rawgeti(L, memo, 1);
            lua_pushvalue(L, -2);
            lua_pushstring(L, was);
            lua_rawset(L, -3);
            lua_pop(L, 1);
        }
        return 0;
    }
    int dict = v->kind == DM_PY_DICT;
    lua_createtable(L, dict ? 0 : (int)(v->n > 100000 ? 100000 : v->n),
                    dict ? (int)(v->n > 100000 ? 100000 : v->n) : 0);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, memo, v);
    int t = lua_gettop(L);
    for (int64_t i = 0; i < v->n; i++) {
        if (dict) {
            const dm_pyval *k = v->items[2 * i];
            if (k->kind != DM_PY_STR && k->kind != DM_PY_INT && k->kind != DM_PY_BOOL &&
                !(k->kind == DM_PY_FLOAT && k->f == k->f)) {
                snprintf(err, errlen, "a dict key is a %s (keys here are strings, numbers and "
                         "booleans)", k->kind == DM_PY_FLOAT ? "NaN" : dm_pykind_name(k->kind));
                lua_settop(L, t - 1);
                return -1;
            }
            if (push_py(L, k, depth + 1, memo, err, errlen) != 0 ||
                push_py(L, v->items[2 * i + 1], depth + 1, memo, err, errlen) != 0) {
                lua_settop(L, t - 1);
                return -1;
            }
            lua_rawset(L, t);           /* a later equal key wins, as in Python */
        } else {
            if (push_py(L, v->items[i], depth + 1, memo, err, errlen) != 0) {
                lua_settop(L, t - 1);
                return -1;
            }
            lua_rawseti(L, t, (lua_Integer)i + 1);
        }
    }
    return 0;
}

/* pt_load(path) -> value, {tensor = dtype in the file} (for the tensors whose dtype was
   widened: float16, bfloat16 -> float32; int32, int16, int8 -> int64) | nil, message */
static int m_pt_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    docbox *b = new_docbox(L);
    b->d = dm_pt_load(path);
    if (!b->d) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    lua_newtable(L);
    int memo = lua_gettop(L);
    lua_newtable(L);
    int types = lua_gettop(L);
    lua_pushvalue(L, types);
    lua_rawseti(L, memo, 1);            /* no pointer key is 1 */
    char err[400];
    if (b->d->root->kind == DM_PY_NONE) {
        luaL_pushfail(L);
        lua_pushfstring(L, "load: %s: the checkpoint holds None", path);
        return 2;
    }
    if (push_py(L, b->d->root, 0, memo, err, sizeof err) != 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "load: %s: %s", path, err);
        return 2;
    }
    lua_pushvalue(L, types);
    return 2;
}

/* ---- writing ------------------------------------------------------------------------ */

typedef struct { dm_pyval *k, *v; } pair;

static int cmp_pair(const void *a, const void *b)
{
    const dm_pyval *x = ((const pair *)a)->k, *y = ((const pair *)b)->k;
    /* booleans, then numbers (in value), then strings (bytewise) */
    int rx = x->kind == DM_PY_BOOL ? 0 : x->kind == DM_PY_STR ? 2 : 1;
    int ry = y->kind == DM_PY_BOOL ? 0 : y->kind == DM_PY_STR ? 2 : 1;
    if (rx != ry) return rx < ry ? -1 : 1;
    if (rx == 0) return (int)(x->i - y->i);
    if (rx == 2) {
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->s, y->s, n);
        return c ? c : x->len < y->len ? -1 : x->len > y->len;
    }
    double a1 = x->kind == DM_PY_INT ? (double)x->i : x->f;
    double b1 = y->kind == DM_PY_INT ? (double)y->i : y->f;
    return a1 < b1 ? -1 : a1 > b1;
}

static dm_pyval *need(lua_State *L, dm_pyval *v)
{
    if (!v) luaL_error(L, "save: %s", dm_errmsg());
    return v;
}

/* the value at idx as a pyval of d; raises on what cannot be saved.  seen: tables on the
   way down (a table inside itself cannot be written) */
static dm_pyval *from_lua(lua_State *L, dm_pydoc *d, int idx, int depth, int seen)
{
    luaL_checkstack(L, 8, "save: nested too deep");
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: {
        dm_pyval *v = need(L, dm_pyval_new(d, DM_PY_BOOL));
        v->i = lua_toboolean(L, idx);
        return v;
    }
    case LUA_TNUMBER: {
        dm_pyval *v;
        if (lua_isinteger(L, idx)) {
            v = need(L, dm_pyval_new(d, DM_PY_INT));
            v->i = (int64_t)lua_tointeger(L, idx);
        } else {
            v = need(L, dm_pyval_new(d, DM_PY_FLOAT));
            v->f = (double)lua_tonumber(L, idx);
        }
        return v;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return need(L, dm_pyval_str(d, s, len));
    }
    case LUA_TTABLE: break;
    case LUA_TUSERDATA: {
        dm_tensor *t = lb_totensor(L, idx);
        if (t) return need(L, dm_pyval_tensor(d, t));
    }   /* fall through */
    default:
        luaL_error(L, "save: a %s cannot be written to a .pt file (tensors, numbers, strings, "
                   "booleans and tables of them can)", luaL_typename(L, idx));
        return NULL;
    }
    if (depth > MAX_DEPTH) luaL_error(L, "save: tables nested more than %d deep", MAX_DEPTH);
    idx = lua_absindex(L, idx);
    if (lua_rawgetp(L, seen, lua_topointer(L, idx)) != LUA_TNIL)
        luaL_error(L, "save: a table contains itself");
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, seen, lua_topointer(L, idx));
    lua_Integer count = 0, n = (lua_Integer)lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
    dm_pyval *c;
    if (n > 0 && count == n) {          /* 1..n and nothing else: a list */
        c = need(L, dm_pyval_new(d, DM_PY_LIST));
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            if (dm_pyval_append(c, from_lua(L, d, -1, depth + 1, seen)) != 0)
                luaL_error(L, "save: %s", dm_errmsg());
            lua_pop(L, 1);
        }
    } else {
        c = need(L, dm_pyval_new(d, DM_PY_DICT));
        pair *pairs = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *pairs, 0);
        int64_t np = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int kt = lua_type(L, -2);
            if (kt != LUA_TSTRING && kt != LUA_TNUMBER && kt != LUA_TBOOLEAN)
                luaL_error(L, "save: a table key is a %s (strings, numbers and booleans can be "
                           "written)", lua_typename(L, kt));
            if (np == count) luaL_error(L, "save: a table changed while it was written");
            pairs[np].k = from_lua(L, d, -2, depth + 1, seen);
            pairs[np].v = from_lua(L, d, -1, depth + 1, seen);
            np++;
            lua_pop(L, 1);
        }
        qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
        for (int64_t i = 0; i < np; i++)
            if (dm_pyval_append(c, pairs[i].k) != 0 || dm_pyval_append(c, pairs[i].v) != 0)
                luaL_error(L, "save: %s", dm_errmsg());
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_rawsetp(L, seen, lua_topointer(L, idx));
    return c;
}

/* pt_save(path, value) -> true | nil, message */
static int m_pt_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    docbox *b = new_docbox(L);
    b->d = dm_pydoc_new();
    if (!b->d) return luaL_error(L, "save: out of memory");
    lua_newtable(L);
    dm_pyval *root = from_lua(L, b->d, 2, 0, lua_gettop(L));
    int rc = dm_pt_save(path, root);
    dm_pydoc_free(b->d);
    b->d = NULL;
    if (rc != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg pt_fns[] = {
    { "pt_load", m_pt_load },
    { "pt_save", m_pt_save },
    { NULL, NULL }
};

void lb_open_pt(lua_State *L, int methods, int module)
{
    (void)methods;
    if (luaL_newmetatable(L, LB_PYDOC)) {
        lua_pushcfunction(L, doc_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, pt_fns, 0);
    lua_pop(L, 1);
}
