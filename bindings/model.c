/* model.c -- the layer registry (core/io/registry.c) and the description checks of
 * core/io/model.c for Lua, as private functions of deepmoon.core that
 * lua/deepmoon/nn/serialize.lua (nn.save_model, nn.load_model) builds on, so that Lua keeps
 * no list of layer kinds and no second parser:
 *   _layer_kinds()             the rows, as Lua tables
 *   _layer_parse(spec [, in])  one layer's "TYPE key=value ..." checked by its row
 *   _model_parse(text, tensors, name)   a whole description checked against tensors
 * A description that does not check out is an environmental failure: nil and the core's
 * message.  Option values cross as Lua values: INT and DIM integers, NUM numbers, BOOL
 * booleans, CHOICE the word, SIZE an integer, a list of them ("none" entries false) or its
 * word, and none (PyTorch's None) as false. */
#include "binding.h"
#include <string.h>

#define LB_MODELBOX "deepmoon.ModelCheck"

static const char *const type_names[] = { "int", "number", "boolean", "choice", "dim", "size" };

/* the word of index i in the space-separated list s */
static void push_word(lua_State *L, const char *s, int i)
{
    for (;;) {
        size_t n = strcspn(s, " ");
        if (i-- == 0 || s[n] == '\0') { lua_pushlstring(L, s, n); return; }
        s += n + 1;
    }
}

static void push_shape(lua_State *L, const dm_layer_shape *s)
{
    lua_createtable(L, s->ndim > 0 ? s->ndim : 0, 0);
    for (int d = 0; d < s->ndim; d++) {
        lua_pushinteger(L, (lua_Integer)s->d[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

static void push_value(lua_State *L, const dm_layer_opt *o, const dm_opt_value *v)
{
    if (v->none) { lua_pushboolean(L, 0); return; }
    switch (o->type) {
    case DM_OPT_INT: case DM_OPT_DIM: lua_pushinteger(L, (lua_Integer)v->v); break;
    case DM_OPT_NUM: lua_pushnumber(L, v->v); break;
    case DM_OPT_BOOL: lua_pushboolean(L, v->v != 0); break;
    case DM_OPT_CHOICE: push_word(L, o->choices, (int)v->v); break;
    case DM_OPT_SIZE:
        /* a word ("same"), a number, or a list of them with false for "none" entries */
        if (v->n == 0) { push_word(L, o->choices ? o->choices : "", (int)v->v); break; }
        if (v->n == 1 && v->size[0] >= 0) { lua_pushinteger(L, (lua_Integer)v->size[0]); break; }
        lua_createtable(L, v->n, 0);
        for (int i = 0; i < v->n; i++) {
            if (v->size[i] < 0) lua_pushboolean(L, 0);
            else lua_pushinteger(L, (lua_Integer)v->size[i]);
            lua_rawseti(L, -2, i + 1);
        }
        break;
    }
}

/* _layer_kinds() -> { {name =, options = {...}, tensors = {...}}, ... } in the registry's
   order; an option is {name =, type = "int"|"number"|"boolean"|"choice"|"dim", default =
   the text or nil when required, min =, max = (int, number, dim, size: each size), choices =
   {words} (choice; size: the words it also takes), none_ok =}; a tensor is {name =, buffer =, when = option or nil, optional =} */
static int m_layer_kinds(lua_State *L)
{
    int n;
    const dm_layer_kind *k = dm_layer_kinds(&n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, k[i].name);
        lua_setfield(L, -2, "name");
        lua_newtable(L);
        for (int j = 0; j < DM_LAYER_MAX_OPTS && k[i].opt[j].name; j++) {
            const dm_layer_opt *o = &k[i].opt[j];
            lua_createtable(L, 0, 7);
            lua_pushstring(L, o->name);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, type_names[o->type]);
            lua_setfield(L, -2, "type");
            if (o->def) {
                lua_pushstring(L, o->def);
                lua_setfield(L, -2, "default");
            }
            if (o->type == DM_OPT_INT || o->type == DM_OPT_DIM || o->type == DM_OPT_SIZE) {
                lua_pushinteger(L, (lua_Integer)o->lo);
                lua_setfield(L, -2, "min");
                lua_pushinteger(L, (lua_Integer)o->hi);
                lua_setfield(L, -2, "max");
            } else if (o->type == DM_OPT_NUM) {
                lua_pushnumber(L, o->lo);
                lua_setfield(L, -2, "min");
                lua_pushnumber(L, o->hi);
                lua_setfield(L, -2, "max");
            }
            if (o->choices) {
                lua_newtable(L);
                const char *w = o->choices;
                for (int c = 1; *w; c++) {
                    size_t len = strcspn(w, " ");
                    lua_pushlstring(L, w, len);
                    lua_rawseti(L, -2, c);
                    w += len + (w[len] == ' ');
                }
                lua_setfield(L, -2, "choices");
            }
            lua_pushboolean(L, o->none_ok);
            lua_setfield(L, -2, "none_ok");
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "options");
        lua_newtable(L);
        for (int j = 0; j < DM_LAYER_MAX_TENSORS && k[i].tensor[j].name; j++) {
            const dm_layer_tensor *t = &k[i].tensor[j];
            lua_createtable(L, 0, 4);
            lua_pushstring(L, t->name);
            lua_setfield(L, -2, "name");
            lua_pushboolean(L, t->buffer);
            lua_setfield(L, -2, "buffer");
            if (t->when) {
                lua_pushstring(L, t->when);
                lua_setfield(L, -2, "when");
            }
            lua_pushboolean(L, t->optional);
            lua_setfield(L, -2, "optional");
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "tensors");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* _layer_parse(spec [, in]) -> in, out, tensors | nil, message.  in is one sample's shape
   flowing in (a list of sizes; nil: not known yet); the results are the shape the layer
   takes (false when still not known), the shape it gives (the same) and {suffix = shape}
   for each tensor these options call for.  The message is the core's, "TYPE: problem". */
static int m_layer_parse(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    dm_layer_shape in = { .ndim = -1 }, out, t[DM_LAYER_MAX_TENSORS];
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 2);
        if (n < 0 || n >= DM_MAX_DIMS)
            return luaL_argerror(L, 2, lua_pushfstring(L, "at most %d sizes expected",
                                                       DM_MAX_DIMS - 1));
        in.ndim = (int)n;
        for (int d = 0; d < in.ndim; d++) {
            lua_geti(L, 2, d + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 0 || v > ((lua_Integer)1 << 30))
                return luaL_argerror(L, 2, "sizes must be integers in 0 .. 1073741824");
            in.d[d] = v;
            lua_pop(L, 1);
        }
    }
    const dm_layer_kind *k;
    dm_opt_value opt[DM_LAYER_MAX_OPTS];
    if (dm_layer_parse(spec, &k, opt, &in, &out, t) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    if (in.ndim < 0) lua_pushboolean(L, 0); else push_shape(L, &in);
    if (out.ndim < 0) lua_pushboolean(L, 0); else push_shape(L, &out);
    lua_newtable(L);
    for (int j = 0; j < DM_LAYER_MAX_TENSORS && k->tensor[j].name; j++) {
        if (t[j].ndim < 0) continue;
        push_shape(L, &t[j]);
        lua_setfield(L, -2, k->tensor[j].name);
    }
    return 3;
}

/* what _model_parse holds while it makes Lua values, freed by __gc if Lua raises */
typedef struct {
    dm_named_tensors *nt;
    dm_model *m;
} modelbox;

static int modelbox_gc(lua_State *L)
{
    modelbox *b = luaL_checkudata(L, 1, LB_MODELBOX);
    dm_model_free(b->m);
    dm_named_tensors_free(b->nt);
    b->m = NULL;
    b->nt = NULL;
    return 0;
}

/* _model_parse(text, tensors, name) -> { {name =, kind =, options = {key = value}}, ... },
   input shape (dm_model_input_shape: one sample's sizes, {1, 28, 28}) | nil, message.  text is the "deepmoon.model" description (nil: the file has none),
   tensors {state_dict name = Tensor}, name the file in messages.  Everything is checked
   (the description, every tensor it calls for and their shapes) before anything else
   happens, so the caller may build the layers it returns. */
static int m_model_parse(lua_State *L)
{
    const char *text = luaL_optstring(L, 1, NULL);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *name = luaL_checkstring(L, 3);
    modelbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->nt = NULL;
    b->m = NULL;
    luaL_setmetatable(L, LB_MODELBOX);
    int box = lua_gettop(L);
    if (!(b->nt = dm_named_tensors_new())) return luaL_error(L, "%s", dm_errmsg());
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        dm_tensor *t = lb_totensor(L, -1);   /* num_batches_tracked is int64 */
        if (lua_type(L, -2) != LUA_TSTRING || !t)
            return luaL_error(L, "load_model: tensors must map names to tensors, got %s = %s",
                              luaL_typename(L, -2), luaL_typename(L, -1));
        if (dm_named_tensors_add(b->nt, lua_tostring(L, -2), t) != 0)
            return luaL_error(L, "%s", dm_errmsg());
        lua_pop(L, 1);
    }
    if (text && dm_named_tensors_set_meta(b->nt, "deepmoon.model", text) != 0)
        return luaL_error(L, "%s", dm_errmsg());
    /* as dm_model_load: the model is checked in float32 */
    if (dm_named_tensors_to_dtype(b->nt, DM_FLOAT32, 1) != 0) return luaL_error(L, "%s", dm_errmsg());
    if (!(b->m = dm_model_from_named(b->nt, name))) {
        luaL_pushfail(L);
        lua_pushstring(L, dm_errmsg());
        return 2;
    }
    int n = dm_model_num_layers(b->m);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const dm_layer_kind *k;
        const dm_opt_value *opt;
        const char *lname = dm_model_layer(b->m, i, &k, &opt);
        lua_createtable(L, 0, 3);
        lua_pushstring(L, lname);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, k->name);
        lua_setfield(L, -2, "kind");
        lua_newtable(L);
        for (int j = 0; j < DM_LAYER_MAX_OPTS && k->opt[j].name; j++) {
            push_value(L, &k->opt[j], &opt[j]);
            lua_setfield(L, -2, k->opt[j].name);
        }
        lua_setfield(L, -2, "options");
        lua_rawseti(L, -2, i + 1);
    }
    int64_t shape[DM_MAX_DIMS];
    dm_layer_shape in = { .ndim = dm_model_input_shape(b->m, shape) };
    for (int d = 0; d < in.ndim; d++) in.d[d] = shape[d];
    push_shape(L, &in);
    dm_model_free(b->m);
    dm_named_tensors_free(b->nt);
    b->m = NULL;
    b->nt = NULL;
    lua_remove(L, box);
    return 2;
}

static const luaL_Reg model_fns[] = {
    { "_layer_kinds", m_layer_kinds },
    { "_layer_parse", m_layer_parse },
    { "_model_parse", m_model_parse },
    { NULL, NULL }
};

void lb_open_model(lua_State *L, int methods, int module)
{
    (void)methods;
    if (luaL_newmetatable(L, LB_MODELBOX)) {
        lua_pushcfunction(L, modelbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, model_fns, 0);
    lua_pop(L, 1);
}
