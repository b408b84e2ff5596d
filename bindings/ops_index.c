/* ops_index.c -- gather, scatter, index_add, bincount, one_hot, unique, sort, argsort, topk,
 * kthvalue, cumsum, cumprod and the sampling functions for Lua.  Positions are 1-based here
 * (index tensors in, indices out, dims, class labels); the core takes and gives 0-based
 * int64 positions, and this file shifts them both ways. */
#include "binding.h"
#include <string.h>

/* ---- positions ------------------------------------------------------------------------ */

/* the int64 tensor at idx (1-based positions) as a new contiguous 0-based copy (values
   are not checked here: the core says which is out of range, shown 1-based again) */
static dm_tensor *index0(lua_State *L, int idx, const char *fn, const char *what)
{
    dm_tensor *t = lb_totensor(L, idx);
    if (!t) {
        luaL_error(L, "%s: %s must be an int64 Tensor of 1-based positions, got %s", fn, what,
                   luaL_typename(L, idx));
        return NULL;
    }
    if (t->dtype != DM_INT64) {
        luaL_error(L, "%s: expected an int64 %s tensor, got %s", fn, what,
                   dm_dtype_name(t->dtype));
        return NULL;
    }
    int nd = t->ndim;
    int64_t shape[DM_MAX_DIMS];
    for (int d = 0; d < nd; d++) shape[d] = t->shape[d];
    dm_tensor *z = dm_tensor_new_dtype(nd, shape, DM_INT64);
    if (!z) { luaL_error(L, "%s: %s", fn, dm_errmsg()); return NULL; }
    int64_t *p = dm_data_ptr(z);
    dm_to_buffer_dtype(t, p, DM_INT64);
    for (int64_t i = 0, n = dm_numel(z); i < n; i++) if (p[i] != INT64_MIN) p[i] -= 1;
    return z;
}

/* class labels 1..C at idx (int64) as a 0-based copy; 0 or a negative label is an error */
static dm_tensor *labels0(lua_State *L, int idx, const char *fn)
{
    dm_tensor *z = index0(L, idx, fn, "labels");
    int64_t *p = dm_data_ptr(z);
    for (int64_t i = 0, n = dm_numel(z); i < n; i++)
        if (p[i] < 0) {
            lua_Integer v = p[i] == INT64_MIN ? INT64_MIN : p[i] + 1;
            dm_tensor_release(z);
            luaL_error(L, "%s: labels are 1-based (1 .. C), got %I at position %I", fn, v,
                       (lua_Integer)i + 1);
        }
    return z;
}

/* a new copy of the core's 0-based int64 positions, 1-based; t released */
static dm_tensor *plus_one(dm_tensor *t)
{
    if (!t) return NULL;
    int nd = t->ndim;
    int64_t shape[DM_MAX_DIMS];
    for (int d = 0; d < nd; d++) shape[d] = t->shape[d];
    dm_tensor *z = dm_tensor_new_dtype(nd, shape, DM_INT64);
    if (z) {
        int64_t *p = dm_data_ptr(z);
        dm_to_buffer_dtype(t, p, DM_INT64);
        for (int64_t i = 0, n = dm_numel(z); i < n; i++) p[i] += 1;
    }
    dm_tensor_release(t);
    return z;
}

/* ---- options -------------------------------------------------------------------------- */

/* the trailing options table (at idx or later) or 0 */
static int opts_at(lua_State *L, int from)
{
    int top = lua_gettop(L);
    return top >= from && lua_istable(L, top) && !lb_is_tensor(L, top) ? top : 0;
}

static int opt_bool(lua_State *L, int opts, const char *name, int def)
{
    if (!opts) return def;
    int r = def;
    if (lua_getfield(L, opts, name) != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "option %s must be a boolean, got %s", name, luaL_typename(L, -1));
        r = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return r;
}

/* {name = n} as an integer (present: 1) */
static int opt_int(lua_State *L, int opts, const char *name, lua_Integer *v, const char *fn)
{
    if (!opts) return 0;
    int has = lua_getfield(L, opts, name) != LUA_TNIL;
    if (has) {
        int ok;
        *v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: option %s must be an integer, got %s", fn, name,
                            luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return has;
}

/* {dim = d} (1-based) as a core dim, or def */
static int opt_dim(lua_State *L, int opts, const char *fn, int def)
{
    if (!opts) return def;
    int d = def;
    if (lua_getfield(L, opts, "dim") != LUA_TNIL) d = lb_dim(L, lua_gettop(L), fn);
    lua_pop(L, 1);
    return d;
}

static dm_scatter_reduce opt_reduce(lua_State *L, int opts, const char *fn)
{
    if (!opts) return DM_SCATTER_NONE;
    dm_scatter_reduce r = DM_SCATTER_NONE;
    if (lua_getfield(L, opts, "reduce") != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        if (s && strcmp(s, "add") == 0) r = DM_SCATTER_ADD;
        else if (s && strcmp(s, "multiply") == 0) r = DM_SCATTER_MUL;
        else luaL_error(L, "%s: reduce must be \"add\" or \"multiply\", got %s", fn,
                        s ? s : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return r;
}

static int check_rc(lua_State *L, int rc)
{
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

/* ---- gather, scatter, index_add -------------------------------------------------------- */

/* gather(t, dim, index) */
static int t_gather(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, "gather");
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *ix = index0(L, 3, "gather", "index");
    *slot = dm_gather(t, dim, ix);
    dm_tensor_release(ix);
    return lb_done(L, slot);
}

static const char *const scatter_opts[] = { "reduce", NULL };

/* scatter(t, dim, index, src | value [, {reduce = "add" | "multiply"}]) and scatter_ */
static int scatter(lua_State *L, int inplace)
{
    const char *fn = inplace ? "scatter_" : "scatter";
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, fn);
    dm_tensor *src = lb_totensor(L, 4);
    double value = 0;
    if (!src) {
        if (lua_type(L, 4) != LUA_TNUMBER && !lua_isboolean(L, 4))
            return luaL_error(L, "%s: src must be a Tensor or a number, got %s", fn,
                              luaL_typename(L, 4));
        value = lua_isboolean(L, 4) ? lua_toboolean(L, 4) : lua_tonumber(L, 4);
    }
    int opts = opts_at(L, 5);
    lb_opts_check(L, opts, fn, scatter_opts);
    dm_scatter_reduce red = opt_reduce(L, opts, fn);
    if (inplace) {
        dm_tensor *ix = index0(L, 3, fn, "index");
        int rc = dm_scatter_(t, dim, ix, src, value, red);
        dm_tensor_release(ix);
        return check_rc(L, rc);
    }
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *ix = index0(L, 3, fn, "index");
    *slot = src ? dm_scatter(t, dim, ix, src, red) : dm_scatter_value(t, dim, ix, value, red);
    dm_tensor_release(ix);
    return lb_done(L, slot);
}
static int t_scatter(lua_State *L) { return scatter(L, 0); }
static int t_scatter_(lua_State *L) { return scatter(L, 1); }

/* scatter_add(t, dim, index, src) and scatter_add_ */
static int scatter_add(lua_State *L, int inplace)
{
    const char *fn = inplace ? "scatter_add_" : "scatter_add";
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, fn);
    dm_tensor *src = lb_check(L, 4);
    if (inplace) {
        dm_tensor *ix = index0(L, 3, fn, "index");
        int rc = dm_scatter_add_(t, dim, ix, src);
        dm_tensor_release(ix);
        return check_rc(L, rc);
    }
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *ix = index0(L, 3, fn, "index");
    *slot = dm_scatter_add(t, dim, ix, src);
    dm_tensor_release(ix);
    return lb_done(L, slot);
}
static int t_scatter_add(lua_State *L) { return scatter_add(L, 0); }
static int t_scatter_add_(lua_State *L) { return scatter_add(L, 1); }

static const char *const index_add_opts[] = { "alpha", NULL };

/* index_add(t, dim, index, source [, {alpha = 1}]) and index_add_ */
static int index_add(lua_State *L, int inplace)
{
    const char *fn = inplace ? "index_add_" : "index_add";
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, fn);
    dm_tensor *src = lb_check(L, 4);
    double alpha = 1;
    if (lua_type(L, 5) == LUA_TNUMBER) alpha = lua_tonumber(L, 5);
    int opts = opts_at(L, 5);
    lb_opts_check(L, opts, fn, index_add_opts);
    if (opts) {
        if (lua_getfield(L, opts, "alpha") != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TNUMBER)
                return luaL_error(L, "%s: option alpha must be a number, got %s", fn,
                                  luaL_typename(L, -1));
            alpha = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    if (inplace) {
        dm_tensor *ix = index0(L, 3, fn, "index");
        int rc = dm_index_add_(t, dim, ix, src, alpha);
        dm_tensor_release(ix);
        return check_rc(L, rc);
    }
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *ix = index0(L, 3, fn, "index");
    *slot = dm_index_add(t, dim, ix, src, alpha);
    dm_tensor_release(ix);
    return lb_done(L, slot);
}
static int t_index_add(lua_State *L) { return index_add(L, 0); }
static int t_index_add_(lua_State *L) { return index_add(L, 1); }

/* ---- bincount, one_hot, unique --------------------------------------------------------- */

static const char *const bincount_opts[] = { "weights", "minlength", NULL };

/* bincount(input [, weights [, minlength]] | [, {weights =, minlength =}]): input holds
   labels 1..C; result[c] counts label c (or sums its weights) */
static int t_bincount(lua_State *L)
{
    lb_check(L, 1);
    dm_tensor *w = NULL;
    lua_Integer minlength = 0;
    int opts = opts_at(L, 2);
    lb_opts_check(L, opts, "bincount", bincount_opts);
    if (opts) {
        lua_getfield(L, opts, "weights");
        if (!lua_isnil(L, -1)) {
            w = lb_totensor(L, -1);
            if (!w) return luaL_error(L, "bincount: option weights must be a Tensor, got %s",
                                      luaL_typename(L, -1));
        }
        lua_pop(L, 1);
        opt_int(L, opts, "minlength", &minlength, "bincount");
    } else {
        w = lb_opt(L, 2);
        if (!lua_isnoneornil(L, 3)) minlength = luaL_checkinteger(L, 3);
    }
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *x = labels0(L, 1, "bincount");
    *slot = dm_bincount(x, w, minlength);
    dm_tensor_release(x);
    return lb_done(L, slot);
}

/* one_hot(labels [, num_classes = -1]): labels 1..C -> int64 [... x C] */
static int t_one_hot(lua_State *L)
{
    lb_check(L, 1);
    lua_Integer c = luaL_optinteger(L, 2, -1);
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *x = labels0(L, 1, "one_hot");
    *slot = dm_one_hot(x, c);
    dm_tensor_release(x);
    return lb_done(L, slot);
}

static const char *const unique_opts[] = { "sorted", "return_inverse", "return_counts", "dim",
                                           NULL };

/* unique(input [, {sorted = true, return_inverse = false, return_counts = false, dim}]) ->
   values [, inverse (1-based)] [, counts] */
static int t_unique(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = opts_at(L, 2);
    lb_opts_check(L, opts, "unique", unique_opts);
    (void)opt_bool(L, opts, "sorted", 1);             /* the values always come sorted */
    int inv = opt_bool(L, opts, "return_inverse", 0);
    int cnt = opt_bool(L, opts, "return_counts", 0);
    int dim = opt_dim(L, opts, "unique", DM_ALL);
    dm_tensor **vs = lb_newbox(L);
    dm_tensor **is = inv ? lb_newbox(L) : NULL;
    dm_tensor **cs = cnt ? lb_newbox(L) : NULL;
    dm_tensor *v, *i, *c;
    if (dm_unique(t, dim, &v, &i, &c) != 0) return luaL_error(L, "%s", dm_errmsg());
    *vs = v;
    if (is) *is = plus_one(i); else dm_tensor_release(i);
    if (cs) *cs = c; else dm_tensor_release(c);
    lb_done(L, vs);
    if (is) lb_done(L, is);
    if (cs) lb_done(L, cs);
    return 1 + inv + cnt;
}

/* ---- sort, argsort, topk, kthvalue ------------------------------------------------------ */

static const char *const sort_opts[] = { "dim", "descending", "stable", NULL };

/* sort([dim = -1] [, descending] | [, {descending, stable}]) -> values, indices (1-based) */
static int sort_args(lua_State *L, const char *fn, int *dim, int *desc, int *stable)
{
    lb_check(L, 1);
    int opts = opts_at(L, 2);
    lb_opts_check(L, opts, fn, sort_opts);
    *dim = lua_type(L, 2) == LUA_TNUMBER ? lb_dim(L, 2, fn) : opt_dim(L, opts, fn, -1);
    *desc = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : opt_bool(L, opts, "descending", 0);
    *stable = opt_bool(L, opts, "stable", 0);
    return 0;
}

static int t_sort(lua_State *L)
{
    int dim, desc, stable;
    sort_args(L, "sort", &dim, &desc, &stable);
    dm_tensor *t = lb_check(L, 1);
    dm_tensor **vs = lb_newbox(L), **is = lb_newbox(L);
    dm_tensor *v, *i;
    if (dm_sort(t, dim, desc, stable, &v, &i) != 0) return luaL_error(L, "%s", dm_errmsg());
    *vs = v;
    *is = plus_one(i);
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}

static int t_argsort(lua_State *L)
{
    int dim, desc, stable;
    sort_args(L, "argsort", &dim, &desc, &stable);
    dm_tensor *t = lb_check(L, 1);
    dm_tensor **is = lb_newbox(L);
    dm_tensor *v, *i;
    int prev = dm_set_grad_enabled(0);
    int rc = dm_sort(t, dim, desc, stable, &v, &i);
    dm_set_grad_enabled(prev);
    if (rc != 0) return luaL_error(L, "%s", dm_errmsg());
    dm_tensor_release(v);
    *is = plus_one(i);
    return lb_done(L, is);
}

static const char *const topk_opts[] = { "dim", "largest", "sorted", NULL };

/* topk(k [, dim = -1 [, largest [, sorted]]] | [, {dim, largest = true, sorted = true}]) */
static int t_topk(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int opts = opts_at(L, 3);
    lb_opts_check(L, opts, "topk", topk_opts);
    int dim = lua_type(L, 3) == LUA_TNUMBER ? lb_dim(L, 3, "topk") : opt_dim(L, opts, "topk", -1);
    int largest = lua_isboolean(L, 4) ? lua_toboolean(L, 4) : opt_bool(L, opts, "largest", 1);
    int sorted = lua_isboolean(L, 5) ? lua_toboolean(L, 5) : opt_bool(L, opts, "sorted", 1);
    dm_tensor **vs = lb_newbox(L), **is = lb_newbox(L);
    dm_tensor *v, *i;
    if (dm_topk(t, k, dim, largest, sorted, &v, &i) != 0) return luaL_error(L, "%s", dm_errmsg());
    *vs = v;
    *is = plus_one(i);
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}

static const char *const kth_opts[] = { "dim", "keepdim", NULL };

/* kthvalue(k [, dim = -1 [, keepdim]] | [, {dim, keepdim = false}]): the k-th smallest */
static int t_kthvalue(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int opts = opts_at(L, 3);
    lb_opts_check(L, opts, "kthvalue", kth_opts);
    int dim = lua_type(L, 3) == LUA_TNUMBER ? lb_dim(L, 3, "kthvalue")
                                            : opt_dim(L, opts, "kthvalue", -1);
    int keepdim = lua_isboolean(L, 4) ? lua_toboolean(L, 4) : opt_bool(L, opts, "keepdim", 0);
    dm_tensor **vs = lb_newbox(L), **is = lb_newbox(L);
    dm_tensor *v, *i;
    if (dm_kthvalue(t, k, dim, keepdim, &v, &i) != 0) return luaL_error(L, "%s", dm_errmsg());
    *vs = v;
    *is = plus_one(i);
    lb_done(L, vs);
    lb_done(L, is);
    return 2;
}

/* ---- cumsum, cumprod ------------------------------------------------------------------ */

static const char *const scan_opts[] = { "dtype", NULL };

/* cumsum(dim [, {dtype =}]): with dtype, the input is converted first (PyTorch's dtype=) */
static int scan(lua_State *L, int prod)
{
    const char *fn = prod ? "cumprod" : "cumsum";
    dm_tensor *t = lb_check(L, 1);
    int dim = lb_dim(L, 2, fn);
    int opts = opts_at(L, 3);
    lb_opts_check(L, opts, fn, scan_opts);
    int dt = lb_opt_dtype(L, opts, (dm_dtype)-1);
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *x = dt >= 0 ? dm_to_dtype(t, (dm_dtype)dt) : dm_tensor_retain(t);
    if (!x) return luaL_error(L, "%s", dm_errmsg());
    *slot = prod ? dm_cumprod(x, dim) : dm_cumsum(x, dim);
    dm_tensor_release(x);
    return lb_done(L, slot);
}
static int t_cumsum(lua_State *L) { return scan(L, 0); }
static int t_cumprod(lua_State *L) { return scan(L, 1); }

/* ---- sampling -------------------------------------------------------------------------- */

static const char *const multinomial_opts[] = { "replacement", "generator", NULL };

/* multinomial(probs, num_samples [, replacement] | [, {replacement = false, generator}]) ->
   1-based int64 categories */
static int t_multinomial(lua_State *L)
{
    dm_tensor *p = lb_check(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    int opts = opts_at(L, 3);
    lb_opts_check(L, opts, "multinomial", multinomial_opts);
    int repl = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : opt_bool(L, opts, "replacement", 0);
    dm_rng *g = lb_generator(L, opts);
    dm_tensor **slot = lb_newbox(L);
    *slot = plus_one(dm_multinomial(p, n, repl, g));
    return lb_done(L, slot);
}

static const char *const gen_opts[] = { "generator", NULL };

/* bernoulli(p [, {generator}]): 1 with probability p, in p's dtype */
static int t_bernoulli(lua_State *L)
{
    dm_tensor *p = lb_check(L, 1);
    int opts = opts_at(L, 2);
    lb_opts_check(L, opts, "bernoulli", gen_opts);
    dm_rng *g = lb_generator(L, opts);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_bernoulli(p, g);
    return lb_done(L, slot);
}

/* t:bernoulli_([p = 0.5] [, {generator}]): p a number or a tensor broadcast to t */
static int t_bernoulli_(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    int opts = opts_at(L, 2);
    lb_opts_check(L, opts, "bernoulli_", gen_opts);
    dm_rng *g = lb_generator(L, opts);
    dm_tensor *p = lb_totensor(L, 2);
    if (p) return check_rc(L, dm_bernoulli_tensor_(t, p, g));
    double pv = (opts == 2 || lua_isnoneornil(L, 2)) ? 0.5 : luaL_checknumber(L, 2);
    if (dm_grad_enabled() && t->requires_grad) {
        if (dm_is_leaf(t))
            return luaL_error(L, "bernoulli_: a leaf Variable that requires grad is being used "
                              "in an in-place operation.");
        return luaL_error(L, "bernoulli_: a random fill of a tensor that requires grad is not "
                          "supported yet; fill under no_grad");
    }
    return check_rc(L, dm_bernoulli_(t, pv, g));
}

static const char *const normal_opts[] = { "generator", "dtype", NULL };

/* normal(mean, std [, size...] [, {generator, dtype}]): tensor/tensor, tensor/number,
   number/tensor, or number/number with a size (the default dtype, or dtype =) */
static int m_normal(lua_State *L)
{
    dm_tensor *mt = lb_totensor(L, 1), *st = lb_totensor(L, 2);
    if (!mt && lua_type(L, 1) != LUA_TNUMBER)
        return luaL_error(L, "normal: mean must be a Tensor or a number, got %s",
                          luaL_typename(L, 1));
    if (!st && !lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TNUMBER && !lua_istable(L, 2))
        return luaL_error(L, "normal: std must be a Tensor or a number, got %s",
                          luaL_typename(L, 2));
    double ms = mt ? 0 : lua_tonumber(L, 1);
    double ss = st ? 0 : (lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) : 1);
    if (mt || st) {
        int opts = opts_at(L, 2);
        lb_opts_check(L, opts, "normal", normal_opts);
        dm_rng *g = lb_generator(L, opts);
        dm_tensor **slot = lb_newbox(L);
        *slot = dm_normal_tensor(mt, ms, st, ss, g);
        return lb_done(L, slot);
    }
    int64_t shape[DM_MAX_DIMS];
    if (lua_isnoneornil(L, 3))
        return luaL_error(L, "normal: with a number mean and std, give a size");
    int nd = lb_sizes(L, 3, shape, "normal");
    int opts = opts_at(L, 4);
    lb_opts_check(L, opts, "normal", normal_opts);
    dm_rng *g = lb_generator(L, opts);
    int dt = lb_opt_dtype(L, opts, lb_default_dtype(L));
    if (!(ss >= 0)) return luaL_error(L, "normal: std must be >= 0, got %f", ss);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_new_dtype(nd, shape, (dm_dtype)dt);
    if (*slot && dm_normal_(*slot, ms, ss, g) != 0) { dm_tensor_release(*slot); *slot = NULL; }
    return lb_done(L, slot);
}

static const char *const randint_like_opts[] = { "generator", "dtype", NULL };

/* randint_like(t, [low,] high [, {generator, dtype}]): t's shape (and dtype), [low, high) */
static int m_randint_like(lua_State *L)
{
    dm_tensor *t = lb_check(L, 1);
    lua_Integer low = 0, high;
    int at;
    if (lua_type(L, 3) == LUA_TNUMBER) { low = luaL_checkinteger(L, 2); high = luaL_checkinteger(L, 3); at = 4; }
    else { high = luaL_checkinteger(L, 2); at = 3; }
    int opts = opts_at(L, at);
    lb_opts_check(L, opts, "randint_like", randint_like_opts);
    dm_rng *g = lb_generator(L, opts);
    int dt = lb_opt_dtype(L, opts, t->dtype);
    int nd = t->ndim;
    int64_t shape[DM_MAX_DIMS];
    for (int d = 0; d < nd; d++) shape[d] = t->shape[d];
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_new_dtype(nd, shape, (dm_dtype)dt);
    if (*slot && dm_randint_(*slot, low, high, g) != 0) { dm_tensor_release(*slot); *slot = NULL; }
    return lb_done(L, slot);
}

/* ---- registration ----------------------------------------------------------------------- */

void lb_open_ops_index(lua_State *L, int methods, int module)
{
    static const luaL_Reg both[] = {
        { "gather", t_gather }, { "scatter", t_scatter }, { "scatter_add", t_scatter_add },
        { "index_add", t_index_add }, { "bincount", t_bincount }, { "one_hot", t_one_hot },
        { "unique", t_unique }, { "sort", t_sort }, { "argsort", t_argsort },
        { "topk", t_topk }, { "kthvalue", t_kthvalue }, { "cumsum", t_cumsum },
        { "cumprod", t_cumprod }, { "multinomial", t_multinomial },
        { "bernoulli", t_bernoulli }, { NULL, NULL }
    };
    static const luaL_Reg methods_only[] = {
        { "scatter_", t_scatter_ }, { "scatter_add_", t_scatter_add_ },
        { "index_add_", t_index_add_ }, { "bernoulli_", t_bernoulli_ }, { NULL, NULL }
    };
    static const luaL_Reg module_only[] = {
        { "normal", m_normal }, { "randint_like", m_randint_like }, { NULL, NULL }
    };
    lb_setfuncs_both(L, methods, module, both);
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, methods_only, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, module_only, 0);
    lua_pop(L, 1);
}
