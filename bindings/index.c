/* index.c (bindings) -- t[key] and t[key] = v in Torch7's forms, 1-based, and the mask ops.
 *
 *   t[i]                 select along dim 1 (a view; -1 is the last)
 *   t[{i, j}]            index dims 1 and 2: a 0-dim tensor when every dim is given
 *   in a dim slot:       i (selects: the dim goes), {a, b} (a..b inclusive), {a} (a..a),
 *                        {} (the whole dim), {a, b, step}: views; an int64 tensor (advanced
 *                        indexing, PyTorch's rules), a bool mask (the dims it covers)
 *   t[mask], t[idx]      a copy (masked_select, index_select along dim 1)
 *
 * Reads apply the numbers and ranges as views (select, narrow, slice) and then the tensor
 * indices (dm_index).  Writes are one op on the whole tensor (dm_index_put_ex_ over the
 * window the numbers and ranges pick), so autograd sees a write, not a copy into a view.
 * Every index is checked against the dim it indexes, in the tensor as given. */
#include "binding.h"
#include <string.h>

#define DM_SHAPE_BUF 160

enum { K_ALL, K_SEL, K_RANGE, K_ADV, K_MASK };

typedef struct {
    int kind;
    int dim;                      /* the dim of t it starts at (0-based) */
    int64_t a, len, step;         /* K_SEL: a; K_RANGE: a, len, step (0-based) */
    dm_tensor *ix;                /* K_ADV: 0-based copy (owned); K_MASK: borrowed */
} slot;

typedef struct {
    int n;                        /* slots used */
    slot s[DM_MAX_DIMS];
} key;

static void key_free(key *k)
{
    for (int i = 0; i < k->n; i++) if (k->s[i].kind == K_ADV) dm_tensor_release(k->s[i].ix);
    k->n = 0;
}

/* raise after freeing what the key holds (the message is formatted first) */
#define KEY_ERROR(L, k, ...) do { luaL_where(L, 1); lua_pushfstring(L, __VA_ARGS__); \
                                  lua_concat(L, 2); key_free(k); lua_error(L); } while (0)

static const char *shape_of(const dm_tensor *t, char *b, size_t n)
{
    return dm_shape_str(t->ndim, t->shape, b, n);
}

/* a Lua position i (1-based, negative from the end) of dim d: 0-based, or raise */
static int64_t position(lua_State *L, key *k, const dm_tensor *t, int d, lua_Integer i)
{
    char b[DM_SHAPE_BUF];
    int64_t size = t->shape[d];
    if (i == 0) {
        key_free(k);
        luaL_error(L, "index: index 0 is invalid (indices are 1-based)");
    }
    int64_t z = i > 0 ? i - 1 : size + i;
    if (z < 0 || z >= size) {
        key_free(k);
        luaL_error(L, "index: index %I is out of range for dim %d of size %s", i, d + 1,
                   shape_of(t, b, sizeof b));
    }
    return z;
}

static lua_Integer integer_at(lua_State *L, key *k, int idx, const char *what)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) {
        const char *tn = luaL_typename(L, idx);
        key_free(k);
        luaL_error(L, "index: %s must be an integer, got %s", what, tn);
    }
    return v;
}

/* the tensor at idx as the slot at dim d: an int64 index (copied 0-based, each value checked)
   or a bool mask */
static void tensor_slot(lua_State *L, key *k, const dm_tensor *t, int d, int idx)
{
    char b1[DM_SHAPE_BUF], b2[DM_SHAPE_BUF];
    dm_tensor *x = lb_check(L, idx);
    slot *s = &k->s[k->n];
    s->dim = d;
    if (x->dtype == DM_BOOL) {
        if (x->ndim == 0) KEY_ERROR(L, k, "index: a 0-dim bool mask is not supported");
        if (d + x->ndim > t->ndim)
            KEY_ERROR(L, k, "index: too many indices for a tensor of size %s",
                      shape_of(t, b1, sizeof b1));
        for (int j = 0; j < x->ndim; j++)
            if (x->shape[j] != t->shape[d + j])
                KEY_ERROR(L, k, "index: mask %s does not match the size %s of the tensor at "
                          "dim %d", shape_of(x, b1, sizeof b1), shape_of(t, b2, sizeof b2),
                          d + j + 1);
        s->kind = K_MASK;
        s->ix = x;
        k->n++;
        return;
    }
    if (x->dtype != DM_INT64)
        KEY_ERROR(L, k, "index: tensors used as indices must be int64 or bool, got %s",
                  dm_dtype_name(x->dtype));
    if (d >= t->ndim)
        KEY_ERROR(L, k, "index: too many indices for a tensor of size %s",
                  shape_of(t, b1, sizeof b1));
    dm_tensor *c = dm_tensor_new_dtype(x->ndim, x->shape, DM_INT64);
    if (!c) KEY_ERROR(L, k, "%s", dm_errmsg());
    dm_to_buffer_dtype(x, dm_data_ptr(c), DM_INT64);
    int64_t *p = dm_data_ptr(c), size = t->shape[d];
    for (int64_t i = 0, n = dm_numel(c); i < n; i++) {
        int64_t v = p[i];
        if (v == 0 || v > size || v < -size) {
            dm_tensor_release(c);
            if (v == 0) KEY_ERROR(L, k, "index: index 0 is invalid (indices are 1-based)");
            KEY_ERROR(L, k, "index: index %I is out of range for dim %d of size %s",
                      (lua_Integer)v, d + 1, shape_of(t, b1, sizeof b1));
        }
        if (v > 0) p[i] = v - 1;
    }
    s->kind = K_ADV;
    s->ix = c;
    k->n++;
}

/* the key at idx for tensor t, one slot per dim it names (the dims after them whole) */
static void parse_key(lua_State *L, const dm_tensor *t, int idx, key *k)
{
    char b[DM_SHAPE_BUF];
    k->n = 0;
    int kt = lua_type(L, idx);
    if (kt == LUA_TNUMBER || lb_is_tensor(L, idx)) {
        if (t->ndim == 0) luaL_error(L, "index: cannot index a 0-dim tensor");
        if (kt == LUA_TNUMBER) {
            lua_Integer i = integer_at(L, k, idx, "an index");
            k->s[0] = (slot){ K_SEL, 0, position(L, k, t, 0, i), 1, 0, NULL };
            k->n = 1;
        } else {
            tensor_slot(L, k, t, 0, idx);
        }
        return;
    }
    if (kt != LUA_TTABLE)
        luaL_error(L, "index: expected a number, a table or a tensor as index, got %s",
                   luaL_typename(L, idx));
    lua_Integer n = luaL_len(L, idx);
    int d = 0;
    for (lua_Integer j = 1; j <= n; j++) {
        lua_geti(L, idx, j);
        int top = lua_gettop(L), vt = lua_type(L, top);
        int need = lb_is_tensor(L, top) && lb_check(L, top)->dtype == DM_BOOL
                   ? lb_check(L, top)->ndim : 1;
        if (d + need > t->ndim || k->n >= DM_MAX_DIMS)
            KEY_ERROR(L, k, "index: too many indices for a tensor of size %s (%I given)",
                      shape_of(t, b, sizeof b), n);
        slot *s = &k->s[k->n];
        if (vt == LUA_TNUMBER) {
            lua_Integer i = integer_at(L, k, top, "an index");
            *s = (slot){ K_SEL, d, position(L, k, t, d, i), 1, 0, NULL };
            k->n++;
        } else if (lb_is_tensor(L, top)) {
            tensor_slot(L, k, t, d, top);
        } else if (vt == LUA_TTABLE) {
            lua_Integer m = luaL_len(L, top);
            int64_t size = t->shape[d];
            if (m == 0) {
                *s = (slot){ K_ALL, d, 0, size, 1, NULL };
            } else {
                if (m > 3)
                    KEY_ERROR(L, k, "index: a range has at most 3 entries {first, last, step}, "
                              "got %I", m);
                lua_geti(L, top, 1);
                int64_t a = position(L, k, t, d, integer_at(L, k, -1, "a range's first"));
                int64_t e = a;
                lua_Integer step = 1;
                if (m >= 2) {
                    lua_geti(L, top, 2);
                    e = position(L, k, t, d, integer_at(L, k, -1, "a range's last"));
                }
                if (m == 3) {
                    lua_geti(L, top, 3);
                    step = integer_at(L, k, -1, "a range's step");
                    if (step <= 0)
                        KEY_ERROR(L, k, "index: a range's step must be positive, got %I",
                                  step);
                }
                lua_settop(L, top);
                if (e < a - 1)
                    KEY_ERROR(L, k, "index: range {%I, %I} ends before it starts in dim %d of "
                              "size %s", (lua_Integer)a + 1, (lua_Integer)e + 1, d + 1,
                              shape_of(t, b, sizeof b));
                *s = (slot){ K_RANGE, d, a, e < a ? 0 : (e - a) / step + 1, step, NULL };
            }
            k->n++;
        } else {
            KEY_ERROR(L, k, "index: entry %I of the index: expected a number, a range table "
                      "or a tensor, got %s", j, luaL_typename(L, top));
        }
        d += need;
        lua_settop(L, top - 1);
    }
}

/* the entries dm_index/dm_index_put_ex take for the dims of the window (those not
   selected): NULL, or the slot's tensor; returns how many (trailing NULLs dropped) */
static int adv_entries(const key *k, const dm_tensor **e)
{
    int n = 0, last = 0;
    for (int i = 0; i < k->n; i++) {
        const slot *s = &k->s[i];
        if (s->kind == K_SEL) continue;
        if (s->kind == K_ADV || s->kind == K_MASK) { e[n++] = s->ix; last = n; }
        else e[n++] = NULL;
    }
    return last;
}

/* t[key]: pushes the result */
int lb_index_get(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    key k;
    parse_key(L, t, 2, &k);
    dm_tensor **slot_ = lb_newbox(L);
    dm_tensor *cur = dm_tensor_retain(t);
    int cd = 0;                                       /* dim of cur the next slot starts at */
    for (int i = 0; cur && i < k.n; i++) {
        const slot *s = &k.s[i];
        dm_tensor *v = NULL;
        switch (s->kind) {
        case K_SEL: v = dm_select(cur, cd, s->a); break;
        case K_RANGE:
            if (s->a == 0 && s->len == cur->shape[cd] && s->step == 1) { cd++; continue; }
            v = s->step == 1 ? dm_narrow(cur, cd, s->a, s->len)
                             : dm_slice(cur, cd, s->a, s->len, s->step);
            cd++;
            break;
        case K_MASK: cd += s->ix->ndim; continue;
        default: cd++; continue;
        }
        dm_tensor_release(cur);
        cur = v;
    }
    const dm_tensor *e[DM_MAX_DIMS];
    int ne = adv_entries(&k, e);
    if (cur == t) {                   /* t[{}], t[{ {} }]: a view of the whole, as t[:] */
        dm_tensor *v = dm_reshape(t, t->ndim, t->shape);
        dm_tensor_release(cur);
        cur = v;
    }
    if (cur && ne) {
        dm_tensor *r = dm_index(cur, ne, e);
        dm_tensor_release(cur);
        cur = r;
    }
    key_free(&k);
    *slot_ = cur;
    return lb_done(L, slot_);
}

/* t[key] = value (a number, a boolean or a tensor broadcast to the slot); not inplace: the
   result of that write as a new tensor, pushed (the op the assignment commits) */
static int index_set(lua_State *L, int inplace)
{
    dm_tensor *t = lb_check(L, 1);
    int vt = lua_type(L, 3);
    dm_tensor *src = lb_is_tensor(L, 3) ? lb_check(L, 3) : NULL;
    if (!src && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN)
        return luaL_typeerror(L, 3, "deepmoon.Tensor or number");
    key k;
    parse_key(L, t, 2, &k);
    int64_t start[DM_MAX_DIMS], len[DM_MAX_DIMS], step[DM_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) { start[d] = 0; len[d] = t->shape[d]; step[d] = 1; }
    for (int i = 0; i < k.n; i++) {
        const slot *s = &k.s[i];
        if (s->kind == K_SEL) { start[s->dim] = s->a; step[s->dim] = 0; }
        else if (s->kind == K_RANGE) {
            start[s->dim] = s->a; len[s->dim] = s->len; step[s->dim] = s->step;
        }
    }
    const dm_tensor *e[DM_MAX_DIMS];
    int ne = adv_entries(&k, e);
    dm_tensor *v = src;
    if (!src) {
        double x = vt == LUA_TBOOLEAN ? lua_toboolean(L, 3) : lua_tonumber(L, 3);
        v = dm_tensor_full_dtype(0, NULL, x, t->dtype);
        if (vt == LUA_TNUMBER && lua_isinteger(L, 3) && v && t->dtype == DM_INT64)
            *(int64_t *)dm_data_ptr(v) = lua_tointeger(L, 3);
    }
    if (!inplace) {
        dm_tensor **slot_ = lb_newbox(L);
        *slot_ = v ? dm_index_put_ex(t, start, len, step, ne, e, v, 0) : NULL;
        if (v != src) dm_tensor_release(v);
        key_free(&k);
        return lb_done(L, slot_);
    }
    int rc = v ? dm_index_put_ex_(t, start, len, step, ne, e, v, 0) : -1;
    if (v != src) dm_tensor_release(v);
    key_free(&k);
    if (rc) return luaL_error(L, "%s", dm_errmsg());
    return 0;
}

int lb_index_set(lua_State *L) { return index_set(L, 1); }

/* core._index_put_key(t, key, value): what t[key] = value writes, as a new tensor */
static int m_index_put_key(lua_State *L)
{
    lua_settop(L, 3);
    return index_set(L, 0);
}

/* ---- methods ----------------------------------------------------------------------------- */

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

static double fill_value(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN) return lua_toboolean(L, idx);
    dm_tensor *x = lb_totensor(L, idx);
    if (x) {
        if (dm_numel(x) != 1 || x->ndim != 0)
            luaL_error(L, "%s: only supports a 0-dimensional value tensor, but got tensor "
                       "with %d dimension(s)", fn, x->ndim);
        double v;
        dm_to_buffer_dtype(x, &v, DM_FLOAT64);
        return v;
    }
    return luaL_checknumber(L, idx);
}

static int t_masked_fill(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *m = lb_check(L, 2);
    double v = fill_value(L, 3, "masked_fill");
    RESULT(dm_masked_fill(t, m, v));
}

static int t_masked_fill_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *m = lb_check(L, 2);
    double v = fill_value(L, 3, "masked_fill_");
    if (dm_masked_fill_(t, m, v)) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

static int t_masked_select(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1), *m = lb_check(L, 2);
    RESULT(dm_masked_select(t, m));
}

/* the core's 0-based positions made 1-based */
static dm_tensor *nonzero_1(const dm_tensor *t)
{
    dm_tensor *z = dm_nonzero(t);
    if (z) {
        int64_t *p = dm_data_ptr(z);
        for (int64_t i = 0, n = dm_numel(z); i < n; i++) p[i] += 1;
    }
    return z;
}

/* each column of nz [n x d] as its own tensor [n], pushed; returns d */
static int push_columns(lua_State *L, dm_tensor *nz, int d)
{
    luaL_checkstack(L, d + 2, "nonzero");
    for (int j = 0; j < d; j++) {
        dm_tensor **slot_ = lb_newbox(L);
        dm_tensor *col = dm_tensor_alias(nz, 1, nz->shape, nz->stride, j);
        *slot_ = col ? dm_contiguous(col) : NULL;
        dm_tensor_release(col);
        if (!*slot_) { dm_tensor_release(nz); return luaL_error(L, "%s", dm_errmsg()); }
        lb_done(L, slot_);
    }
    dm_tensor_release(nz);
    return d;
}

static int nonzero_tuple(lua_State *L, const dm_tensor *t)
{
    dm_tensor *nz = nonzero_1(t);
    if (!nz) return luaL_error(L, "%s", dm_errmsg());
    if (t->ndim == 0) {                /* PyTorch: one index tensor for a 0-dim input */
        dm_tensor **slot_ = lb_newbox(L);
        *slot_ = dm_tensor_zeros_dtype(1, (int64_t[]){ nz->shape[0] }, DM_INT64);
        dm_tensor_release(nz);
        return lb_done(L, slot_);
    }
    return push_columns(L, nz, t->ndim);
}

static int t_nonzero(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    static const char *const known[] = { "as_tuple", NULL };
    int as_tuple = 0;
    if (!lua_isnoneornil(L, 2)) {
        lb_opts_check(L, 2, "nonzero", known);
        lua_getfield(L, 2, "as_tuple");
        as_tuple = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (as_tuple) return nonzero_tuple(L, t);
    RESULT(nonzero_1(t));
}

static int t_index_put(lua_State *L, int inplace)
{
    const char *fn = inplace ? "index_put_" : "index_put";
    dm_tensor *t = lb_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    dm_tensor *v = lb_check(L, 3);
    int acc = lua_toboolean(L, 4);
    lua_Integer n = luaL_len(L, 2);
    if (n > t->ndim || n > DM_MAX_DIMS)
        return luaL_error(L, "%s: too many indices (%I) for a tensor with %d dims", fn, n, t->ndim);
    key k = { 0 };
    const dm_tensor *e[DM_MAX_DIMS];
    int d = 0;
    for (lua_Integer j = 1; j <= n; j++) {
        lua_geti(L, 2, j);
        int top = lua_gettop(L);
        if (lua_istable(L, top) && luaL_len(L, top) == 0) {       /* {}: the whole dim */
            e[j - 1] = NULL;
            d++;
        } else if (!lb_is_tensor(L, top)) {
            KEY_ERROR(L, &k, "%s: indices[%I] must be an int64 or bool tensor or {}, got %s",
                      fn, j, luaL_typename(L, top));
        } else {
            tensor_slot(L, &k, t, d, top);
            e[j - 1] = k.s[k.n - 1].ix;
            d += k.s[k.n - 1].kind == K_MASK ? k.s[k.n - 1].ix->ndim : 1;
        }
        lua_settop(L, top - 1);
    }
    if (inplace) {
        int rc = dm_index_put_(t, (int)n, e, v, acc);
        key_free(&k);
        if (rc) return luaL_error(L, "%s", dm_errmsg());
        lua_settop(L, 1);
        return 1;
    }
    dm_tensor **slot_ = lb_newbox(L);
    *slot_ = dm_index_put(t, (int)n, e, v, acc);
    key_free(&k);
    return lb_done(L, slot_);
}
static int t_index_put_o(lua_State *L) { return t_index_put(L, 0); }
static int t_index_put_i(lua_State *L) { return t_index_put(L, 1); }

/* dm.where(cond): nonzero(cond, {as_tuple = true}); dm.where(cond, a, b): the original */
static int m_where(lua_State *L)
{
    if (lua_gettop(L) == 1) return nonzero_tuple(L, lb_check(L, 1));
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static const luaL_Reg index_methods[] = {
    { "masked_fill", t_masked_fill }, { "masked_fill_", t_masked_fill_ },
    { "masked_select", t_masked_select }, { "nonzero", t_nonzero },
    { "index_put", t_index_put_o }, { "index_put_", t_index_put_i },
    { NULL, NULL }
};

void lb_open_index(lua_State *L, int methods, int module)
{
    lb_setfuncs_both(L, methods, module, index_methods);
    lua_pushcfunction(L, m_index_put_key);
    lua_setfield(L, module, "_index_put_key");
    /* where: the module's functions keep the module state as their first upvalue */
    lua_getfield(L, module, "where");
    if (lua_getupvalue(L, -1, 1) == NULL) lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushcclosure(L, m_where, 2);
    lua_setfield(L, module, "where");
}
