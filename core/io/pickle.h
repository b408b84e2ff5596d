/* pickle.h -- a restricted unpickler and a small pickler (core/io/pickle.c): the pickle
 * opcodes a PyTorch weights file uses, over the dm_pyval values of deepmoon.h.  What a
 * GLOBAL names, what a persistent id loads and what a REDUCE or BUILD does are the caller's
 * (pt.c), through hooks: the unpickler itself never calls anything a file names.
 * Internal: never installed. */
#ifndef DM_PICKLE_H
#define DM_PICKLE_H

#include "deepmoon.h"
#include <stddef.h>

typedef struct {
    void *ctx;
    /* GLOBAL module name: a value standing for it (usually DM_PY_OTHER with a tag), or NULL
       and a message (an object that is not allowed) */
    dm_pyval *(*global)(void *ctx, dm_pydoc *d, const char *module, const char *name);
    dm_pyval *(*persistent_load)(void *ctx, dm_pydoc *d, dm_pyval *pid);
    dm_pyval *(*reduce)(void *ctx, dm_pydoc *d, dm_pyval *callable, dm_pyval *args);
    int (*build)(void *ctx, dm_pyval *inst, dm_pyval *state);   /* 0, or -1 and a message */
} dm__unpickle_hooks;

/* the value a pickle of n bytes at p holds (owned by d), or NULL and a message (no prefix:
   "unsupported pickle opcode 0x63 at offset 12") */
dm_pyval *dm__unpickle(dm_pydoc *d, const unsigned char *p, size_t n,
                       const dm__unpickle_hooks *h);

/* ---- writing: protocol 2 opcodes into a growing buffer ------------------------------ */
typedef struct { unsigned char *p; size_t n, cap; int oom; } dm__pkbuf;
void dm__pk_op(dm__pkbuf *b, int op);                           /* one opcode byte */
void dm__pk_int(dm__pkbuf *b, int64_t v);                       /* BININT1/2, BININT, LONG1 */
void dm__pk_float(dm__pkbuf *b, double v);                      /* BINFLOAT */
void dm__pk_str(dm__pkbuf *b, const char *s, size_t len);      /* BINUNICODE */
void dm__pk_global(dm__pkbuf *b, const char *module, const char *name);

enum {
    PK_MARK = '(', PK_STOP = '.', PK_BINPERSID = 'Q', PK_REDUCE = 'R', PK_BUILD = 'b',
    PK_EMPTY_DICT = '}', PK_EMPTY_LIST = ']', PK_EMPTY_TUPLE = ')', PK_TUPLE = 't',
    PK_SETITEMS = 'u', PK_APPENDS = 'e', PK_NONE = 'N', PK_NEWTRUE = 0x88, PK_NEWFALSE = 0x89,
    PK_PROTO = 0x80
};

#endif
