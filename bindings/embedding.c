/* embedding.c -- embedding, embedding_renorm_ and embedding_bag (core/ops/embedding.c).
 *
 * Token ids, padding_idx and the bag offsets arrive 1-based from Lua; the core takes them
 * 0-based, so each is passed shifted by one (ids as a temporary int64 copy: int64 and uint8
 * ids are accepted, as PyTorch takes Long and Int; float or bool ids are refused naming their
 * dtype).  The core's messages report ids + 1, i.e. in the terms the user wrote. */
#include "binding.h"
#include <string.h>

#define RESULT(expr) do { dm_tensor **slot_ = lb_newbox(L); *slot_ = (expr); \
                          return lb_done(L, slot_); } while (0)

/* a new int64 tensor holding t - 1 (wrapping, as Lua's integers), or NULL and a message
   naming fn and the dtype when t holds no integers */
static dm_tensor *ids0(const char *fn, const char *what, const dm_tensor *t)
{
    if (t->dtype != DM_INT64 && t->dtype != DM_UINT8) {
        dm_seterr("%s: expected an int64 tensor of %s, got %s (use :long())", fn, what,
                  dm_dtype_name(t->dtype));
        return NULL;
    }
    dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, DM_INT64);
    if (!c) return NULL;
    int64_t *d = dm_data_ptr(c);
    dm_to_buffer_dtype(t, d, DM_INT64);
    for (int64_t i = 0, n = dm_numel(c); i < n; i++) d[i] = (int64_t)((uint64_t)d[i] - 1);
    return c;
}

/* padding_idx at idx: nil -> -1 (none), an integer p >= 1 -> p - 1 (the Lua layer has
   already turned a negative one into its position from the end) */
static int64_t opt_padding(lua_State *L, int idx, const char *fn)
{
    if (lua_isnoneornil(L, idx)) return -1;
    int ok;
    lua_Integer p = lua_tointegerx(L, idx, &ok);
    if (!ok || p < 1)
        return luaL_error(L, "%s: padding_idx must be a positive integer (1-based) or nil, "
                             "got %s", fn, lua_isinteger(L, idx) ? lua_tostring(L, idx)
                                                                  : luaL_typename(L, idx));
    return (int64_t)p - 1;
}

/* core.embedding(weight, ids, padding_idx = nil, scale_grad_by_freq = false) */
static int l_embedding(lua_State *L)
{
    dm_tensor *w = lb_check(L, 1), *ids = lb_check(L, 2);
    int64_t pad = opt_padding(L, 3, "embedding");
    int scale = lua_toboolean(L, 4);
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *z = ids0("embedding", "token ids", ids);
    if (z) *slot = dm_embedding(w, z, pad, scale);
    dm_tensor_release(z);
    return lb_done(L, slot);
}

/* core.embedding_renorm_(weight, ids, max_norm, norm_type = 2): weight, renormalised in place */
static int l_embedding_renorm_(lua_State *L)
{
    dm_tensor *w = lb_check(L, 1), *ids = lb_check(L, 2);
    double max_norm = luaL_checknumber(L, 3), norm_type = luaL_optnumber(L, 4, 2.0);
    dm_tensor *z = ids0("embedding_renorm_", "token ids", ids);
    int rc = z ? dm_embedding_renorm_(w, z, max_norm, norm_type) : -1;
    dm_tensor_release(z);
    if (rc) return luaL_error(L, "%s", dm_errmsg());
    lua_settop(L, 1);
    return 1;
}

/* core.embedding_bag(weight, ids, offsets = nil, mode = "mean", per_sample_weights = nil,
   include_last_offset = false, padding_idx = nil, scale_grad_by_freq = false); offsets are
   1-based start positions of the bags in ids */
static int l_embedding_bag(lua_State *L)
{
    static const char *const modes[] = { "sum", "mean", "max", NULL };
    dm_tensor *w = lb_check(L, 1), *ids = lb_check(L, 2), *off = lb_opt(L, 3);
    int mode = luaL_checkoption(L, 4, "mean", modes);
    dm_tensor *psw = lb_opt(L, 5);
    int last = lua_toboolean(L, 6);
    int64_t pad = opt_padding(L, 7, "embedding_bag");
    int scale = lua_toboolean(L, 8);
    dm_tensor **slot = lb_newbox(L);
    dm_tensor *z = ids0("embedding_bag", "token ids", ids);
    dm_tensor *o = z && off ? ids0("embedding_bag", "offsets", off) : NULL;
    if (z && (!off || o))
        *slot = dm_embedding_bag(w, z, o, mode, psw, last, pad, scale);
    dm_tensor_release(z);
    dm_tensor_release(o);
    return lb_done(L, slot);
}

void lb_open_embedding(lua_State *L, int methods, int module)
{
    (void)methods;
    static const luaL_Reg fns[] = {
        { "embedding", l_embedding }, { "embedding_renorm_", l_embedding_renorm_ },
        { "embedding_bag", l_embedding_bag }, { NULL, NULL },
    };
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, module, f->name);
    }
}
