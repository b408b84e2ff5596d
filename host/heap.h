/* heap.h -- the host's Lua state and the small-block allocator under it (heap.c). */
#ifndef DM_HOST_HEAP_H
#define DM_HOST_HEAP_H

#include "lua.h"

typedef struct host_heap host_heap;

/* a new Lua state on its own heap, with luaL_newstate's panic and warning behaviour; NULL
   when out of memory.  After lua_close, give the heap back with host_heap_free. */
lua_State *host_heap_newstate(host_heap **heap);
void host_heap_free(host_heap *h);

#endif
