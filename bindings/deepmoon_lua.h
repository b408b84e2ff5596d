/* SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
 *
 * deepmoon_lua.h -- deepmoon for programs that host Lua 5.4 (the C API for embedding).
 *
 * A host opens deepmoon in any lua_State it owns; the Lua modules (deepmoon, deepmoon.nn,
 * deepmoon.optim, ...) are compiled into the library, so no Lua file needs to be on
 * package.path:
 *
 *     lua_State *L = luaL_newstate();
 *     luaL_openlibs(L);                                   // deepmoon needs the standard libs
 *     luaL_requiref(L, "deepmoon", luaopen_deepmoon, 1);  // pushes the module, sets global
 *     lua_pop(L, 1);                                      // `deepmoon` (0: no global)
 *     luaL_dostring(L, "print(deepmoon.nn.Linear(2, 3)(deepmoon.randn(4, 2)))");
 *
 * luaopen_deepmoon puts loaders for "deepmoon.core" (the C module) and for every Lua module
 * into package.preload, leaving entries the host already set there alone, and returns
 * require "deepmoon"; scripts then `require "deepmoon.nn"` as usual.  It needs the package
 * library (require) and the base, string, table and math libraries to be open.
 *
 * Linking: build/libdeepmoon_lua.a (make; installed as libdeepmoon_lua.a) holds the core,
 * the Lua binding and the embedded Lua sources, but not Lua itself: the host links Lua,
 * e.g.  cc host.c -ldeepmoon_lua $(pkg-config --libs lua5.4 openblas) -lm.  A host that
 * already loads deepmoon/core.so through require must not link this library as well (two
 * copies of the core in one process keep separate state).  The Lua module file
 * deepmoon/core.so exports luaopen_deepmoon too: package.loadlib(path_to_core_so,
 * "luaopen_deepmoon")() opens deepmoon from that one file in a stock interpreter.
 *
 * Tensors cross between C and Lua as deepmoon.Tensor values.  From a C array:
 *
 *     float x[3 * 2] = { ... };
 *     dm_tensor *t = dm_tensor_from_data(2, (int64_t[]){ 3, 2 }, x);   // copies x
 *     dm_lua_push_tensor(L, t);             // a Tensor on the stack, holding its own reference
 *     dm_tensor_release(t);                 // ours
 *     ... lua_pcall a model with it ...
 *     const dm_tensor *y = dm_lua_totensor(L, -1);          // borrowed, NULL if no Tensor
 *     if (y) dm_to_buffer(y, out);          // values row-major into a C array
 *
 * The plain-C inference API (dm_model_load, dm_model_forward) needs no Lua: see deepmoon.h.
 */
#ifndef DEEPMOON_LUA_H
#define DEEPMOON_LUA_H

#include "deepmoon.h"
#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

int luaopen_deepmoon(lua_State *L);        /* require "deepmoon" with the sources built in */
int luaopen_deepmoon_core(lua_State *L);   /* the C module alone (what require "deepmoon.core"
                                              loads); most hosts want luaopen_deepmoon */

/* push a Tensor holding a new reference to t (t is retained; the caller keeps its own).
   Raises a Lua error when deepmoon is not open in L; call it where Lua errors are caught
   (inside a lua_pcall'd function) unless deepmoon is known to be open. */
void dm_lua_push_tensor(lua_State *L, dm_tensor *t);
/* the tensor held by the Tensor at idx (borrowed: valid while that Lua value lives), or NULL
   when the value is not a Tensor or was released */
dm_tensor *dm_lua_totensor(lua_State *L, int idx);

#ifdef __cplusplus
}
#endif
#endif
