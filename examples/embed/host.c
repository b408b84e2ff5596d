/* host.c -- a C program that hosts Lua with deepmoon: it opens deepmoon in its own
 * lua_State (no Lua files needed: the modules are built into libdeepmoon_lua.a), gets a
 * model through Lua, and runs it on its own C arrays.
 *
 *   embed_host                    build a small classifier in Lua, train it on XOR, run it
 *   embed_host model.safetensors  load a model saved with nn.save_model, run it on rows
 *              [x1,x2,... ...]    given as comma-separated arguments (default: XOR inputs)
 *
 * Prints one output row per line, values separated by spaces (%.9g). */
#include "deepmoon_lua.h"
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lua code that returns a model: trained here when no file is given, else loaded */
static const char *const build_model =
    "local dm = require 'deepmoon'\n"
    "local nn, optim = dm.nn, dm.optim\n"
    "local path = ...\n"
    "if path then return assert(nn.load_model(path)) end\n"
    "dm.manual_seed(7)\n"
    "local model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())\n"
    "local x = dm.tensor({{0.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {1.0, 1.0}})\n"
    "local y = dm.tensor({{0.0}, {1.0}, {1.0}, {0.0}})\n"
    "local opt = optim.Adam(model:parameters(), {lr = 0.05})\n"
    "local loss_fn = nn.BCELoss()\n"
    "for _ = 1, 500 do\n"
    "  opt:zero_grad()\n"
    "  loss_fn(model(x), y):backward()\n"
    "  opt:step()\n"
    "end\n"
    "return model:eval()\n";

/* parse "a,b,c" into row (n values); 0 or -1 */
static int parse_row(const char *s, float *row, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        char *end;
        row[j] = strtof(s, &end);
        if (end == s || (j + 1 < n ? *end != ',' : *end != '\0')) return -1;
        s = end + 1;
    }
    return 0;
}

/* called through lua_pcall so that any Lua error is caught: (argc, argv) as light userdata */
static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);

    /* open deepmoon: pushes the module and sets the global `deepmoon` */
    luaL_requiref(L, "deepmoon", luaopen_deepmoon, 1);
    lua_pop(L, 1);

    /* the model, kept in the registry while C uses it */
    if (luaL_loadbuffer(L, build_model, strlen(build_model), "=build_model") != LUA_OK)
        return lua_error(L);
    if (argc > 1) lua_pushstring(L, argv[1]);
    else lua_pushnil(L);
    lua_call(L, 1, 1);
    int model = luaL_ref(L, LUA_REGISTRYINDEX);

    /* the input rows, from the command line or XOR's four */
    static const float xor_rows[] = { 0, 0, 0, 1, 1, 0, 1, 1 };
    int64_t rows = argc > 2 ? argc - 2 : 4, cols;
    if (argc > 2) {
        cols = 1;
        for (const char *c = argv[2]; *c; c++) cols += *c == ',';
    } else {
        cols = 2;
    }
    float *x = malloc((size_t)(rows * cols) * sizeof *x);
    if (!x) return luaL_error(L, "out of memory");
    for (int64_t i = 0; i < rows; i++) {
        if (argc > 2 ? parse_row(argv[2 + i], x + i * cols, cols) != 0
                     : (memcpy(x + i * cols, xor_rows + i * cols, 2 * sizeof *x), 0)) {
            free(x);
            return luaL_error(L, "row %d: expected %d comma-separated numbers, got '%s'",
                              (int)i + 1, (int)cols, argv[2 + i]);
        }
    }

    /* C array -> Tensor -> model(x) -> Tensor -> C array */
    dm_tensor *t = dm_tensor_from_data(2, (int64_t[]){ rows, cols }, x);
    free(x);
    if (!t) return luaL_error(L, "%s", dm_errmsg());
    lua_rawgeti(L, LUA_REGISTRYINDEX, model);
    dm_lua_push_tensor(L, t);                   /* Lua holds its own reference now */
    dm_tensor_release(t);
    lua_call(L, 1, 1);                          /* model(x): a Sequential is callable */
    const dm_tensor *y = dm_lua_totensor(L, -1);
    if (!y || y->ndim != 2 || y->shape[0] != rows)
        return luaL_error(L, "the model did not return a [%d x N] tensor", (int)rows);
    int64_t outs = y->shape[1];
    float *out = malloc((size_t)(rows * outs) * sizeof *out);
    if (!out) return luaL_error(L, "out of memory");
    dm_to_buffer(y, out);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < outs; j++)
            printf("%.9g%s", out[i * outs + j], j + 1 < outs ? " " : "\n");
    free(out);
    luaL_unref(L, LUA_REGISTRYINDEX, model);
    return 0;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) { fprintf(stderr, "embed_host: cannot create a Lua state\n"); return 1; }
    luaL_openlibs(L);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK) fprintf(stderr, "embed_host: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
