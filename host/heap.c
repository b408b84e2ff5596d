/*
 * heap.c -- the host's Lua state: a small-block allocator under it, and the panic and
 * warning functions luaL_newstate would install.
 *
 * Most of what Lua allocates in a training loop is small and short-lived: a tensor's box,
 * a table or closure per call.  glibc's malloc and free cost a few hundred instructions a
 * pair, more than a small tensor op itself, so blocks up to SMALL_MAX bytes come from free
 * lists by size class (16 bytes apart), carved from CHUNK-byte chunks; larger blocks go to
 * realloc/free.  Lua passes each block's size back when it frees or resizes it, so a block
 * needs no header.  Chunks are kept until the state closes: the small-block memory of a
 * run is its peak, which Lua's collector keeps near its live small objects.
 *
 * Under AddressSanitizer (and with DEEPMOON_LUA_MALLOC set in the environment) every block
 * goes to malloc instead, so the sanitizer or valgrind checks Lua's blocks too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua.h"

#include "heap.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_DEFAULT_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_DEFAULT_MALLOC 1
#endif
#endif
#ifndef HEAP_DEFAULT_MALLOC
#define HEAP_DEFAULT_MALLOC 0
#endif

#define GRAIN 16
#define SMALL_MAX 512
#define NCLASS (SMALL_MAX / GRAIN)
#define CHUNK ((size_t)64 << 10)

typedef struct freeblock { struct freeblock *next; } freeblock;
typedef struct chunk { struct chunk *next; } chunk;   /* at the start of each chunk */

struct host_heap {
    freeblock *free[NCLASS];
    char *cur, *end;          /* the unused tail of the newest chunk */
    chunk *chunks;
    int use_malloc;
    int warn_on, warn_cont;   /* warnings: enabled; inside a multi-part message */
};

static int small_class(size_t n) { return (int)((n + GRAIN - 1) / GRAIN) - 1; }  /* n >= 1 */

static void *small_alloc(host_heap *h, int c)
{
    freeblock *b = h->free[c];
    if (b) {
        h->free[c] = b->next;
        return b;
    }
    size_t bytes = (size_t)(c + 1) * GRAIN;
    if ((size_t)(h->end - h->cur) < bytes) {
        /* the old tail (less than one block of this class) is left unused */
        chunk *k = malloc(CHUNK);
        if (!k) return NULL;
        k->next = h->chunks;
        h->chunks = k;
        h->cur = (char *)k + GRAIN;           /* the link, padded to keep the alignment */
        h->end = (char *)k + CHUNK;
    }
    void *p = h->cur;
    h->cur += bytes;
    return p;
}

static void small_free(host_heap *h, void *p, int c)
{
    freeblock *b = p;
    b->next = h->free[c];
    h->free[c] = b;
}

/* lua_Alloc: when ptr is NULL, osize is a type tag, not a size */
static void *heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    host_heap *h = ud;
    if (h->use_malloc) {
        if (nsize == 0) { free(ptr); return NULL; }
        return realloc(ptr, nsize);
    }
    int oc = ptr && osize <= SMALL_MAX ? small_class(osize ? osize : 1) : -1;
    if (nsize == 0) {
        if (oc >= 0) small_free(h, ptr, oc);
        else free(ptr);
        return NULL;
    }
    int nc = nsize <= SMALL_MAX ? small_class(nsize) : -1;
    if (!ptr) return nc >= 0 ? small_alloc(h, nc) : malloc(nsize);
    if (oc < 0 && nc < 0) return realloc(ptr, nsize);
    if (oc == nc) return ptr;                   /* the block already has room */
    void *q = nc >= 0 ? small_alloc(h, nc) : malloc(nsize);
    if (!q) return NULL;                        /* Lua keeps the old block */
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (oc >= 0) small_free(h, ptr, oc);
    else free(ptr);
    return q;
}

static int heap_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                     : "error object is not a string";
    fflush(stdout);
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg);
    fflush(stderr);
    return 0;   /* Lua then aborts */
}

/* Warnings as lua5.4 shows them: off until "@on" (the -W option), "Lua warning: " before
 * each message, which may come in several pieces (tocont). */
static void heap_warn(void *ud, const char *msg, int tocont)
{
    host_heap *h = ud;
    if (!h->warn_cont && !tocont && msg[0] == '@') {      /* a control message */
        if (strcmp(msg, "@on") == 0) h->warn_on = 1;
        else if (strcmp(msg, "@off") == 0) h->warn_on = 0;
        return;
    }
    if (h->warn_on) {
        if (!h->warn_cont) fputs("Lua warning: ", stderr);
        fputs(msg, stderr);
        if (!tocont) fputs("\n", stderr);
        fflush(stderr);
    }
    h->warn_cont = tocont;
}

lua_State *host_heap_newstate(host_heap **heap)
{
    host_heap *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    const char *env = getenv("DEEPMOON_LUA_MALLOC");
    h->use_malloc = HEAP_DEFAULT_MALLOC || (env && *env);
    lua_State *L = lua_newstate(heap_alloc, h);
    if (!L) {
        host_heap_free(h);
        return NULL;
    }
    lua_atpanic(L, heap_panic);
    lua_setwarnf(L, heap_warn, h);
    *heap = h;
    return L;
}

void host_heap_free(host_heap *h)
{
    if (!h) return;
    for (chunk *k = h->chunks; k;) {
        chunk *next = k->next;
        free(k);
        k = next;
    }
    free(h);
}
