/* bytes.h -- what the readers and writers of safetensors (safetensors.c) and .npy (npy.c)
 * share, in bytes.c: the element kinds files hold and their conversion to our dtypes, byte
 * sources (a file or a memory buffer), the writer (a temporary file renamed over the target),
 * a growable string; and the named-tensors list's own appends (named.c).
 * Internal: never installed.
 *
 * Readers treat every byte as hostile.  Nothing read from a file is used as a size, an
 * offset or a count before it has been checked against the file's real size, so a reader
 * never allocates more than a small multiple of the file size and never reads out of
 * bounds.  Every failure leaves a message of the form "load: <file>: <problem>".
 *
 * Writers write a temporary file next to the target and rename it over the target once
 * everything is on disk, so a failed save never leaves a truncated file where a good one
 * was.
 *
 * Element types: F32, F64, I64, U8 and BOOL (numpy's <f4, <f8, <i8, |u1, |b1) are ours and
 * round-trip bit for bit.  The others load into the nearest of ours, as PyTorch would hold
 * them: F16 and BF16 as float32 (exact), I32, I16, I8, U16, U32 and U64 as int64 (exact, but
 * a U64 above INT64_MAX wraps to a negative value, as numpy's astype does).  A BOOL byte
 * other than 0 reads as true. */
#ifndef DM_IO_BYTES_H
#define DM_IO_BYTES_H

#include "internal.h"
#include <stdint.h>
#include <stdio.h>

/* ---- element types ------------------------------------------------------------------ */

typedef enum {
    K_F32, K_F16, K_BF16, K_F64, K_I64, K_I32, K_I16, K_I8, K_U8, K_U16, K_U32, K_U64, K_BOOL
} dm__kind;

int dm__host_little_endian(void);
/* an unsigned integer of n bytes (n <= 8) in the given byte order */
uint64_t dm__get_uint(const unsigned char *p, int n, int big);
/* the dtype a file's element kind loads as (see the top of this file) */
dm_dtype dm__kind_dtype(dm__kind k);

/* ---- byte sources: a file or a memory buffer ---------------------------------------- */

typedef struct {
    const char *fn, *name;          /* for messages: "<fn>: <name>: <problem>" */
    const unsigned char *mem;       /* memory source, or NULL for a file */
    FILE *f;
    uint64_t size, pos;             /* total bytes; the file position */
} dm__src;

/* fails with "<fn>: <name>: <problem>"; returns -1 */
int dm__src_fail(const dm__src *s, const char *fmt, ...);
int dm__src_open_file(dm__src *s, const char *fn, const char *path);
void dm__src_mem(dm__src *s, const char *fn, const void *data, size_t len, const char *name);
void dm__src_close(dm__src *s);
/* n bytes at off; callers have checked the range against s->size already */
int dm__src_read(dm__src *s, uint64_t off, void *buf, size_t n);
/* read numel elements of (k, size, big) at off into t's (contiguous) storage, t being of
   dtype dm__kind_dtype(k) */
int dm__src_read_tensor(dm__src *s, uint64_t off, dm__kind k, int size, int big, dm_tensor *t);

/* a name as it appears in messages: at most ~80 bytes, cut at a UTF-8 character boundary */
const char *dm__shown(const char *name, char *buf, size_t len);

/* ---- writing: temp file, then rename ------------------------------------------------ */

typedef struct {
    const char *fn, *path;
    char *tmp;
    FILE *f;
} dm__wfile;

/* dm__wopen, dm__wwrite, dm__wcommit: 0, or -1 and "<fn>: <path>: <problem>";
   dm__wabort removes the temporary file */
int dm__wopen(dm__wfile *w, const char *fn, const char *path);
int dm__wwrite(dm__wfile *w, const void *p, size_t n);
void dm__wabort(dm__wfile *w);
int dm__wcommit(dm__wfile *w);
/* t's values in its own dtype, little-endian, row-major, whatever its strides */
int dm__write_elems(dm__wfile *w, const dm_tensor *t);

/* a growable string */
typedef struct { char *p; size_t n, cap; int oom; } dm__sbuf;

void dm__sb_add(dm__sbuf *b, const char *s, size_t n);
void dm__sb_str(dm__sbuf *b, const char *s);
void dm__sb_printf(dm__sbuf *b, const char *fmt, ...);

/* ---- the named-tensors list (named.c) ----------------------------------------------- */

/* grows *pptr (an array of elem-byte items, *cap of them) to hold need; 0 or -1 */
int dm__grow(void *pptr, int64_t *cap, int64_t need, size_t elem);
/* append without checks; take over name/key and value (malloc'd) and the reference t */
int dm__named_append(dm_named_tensors *nt, char *name, dm_tensor *t);
int dm__meta_append(dm_named_tensors *nt, char *key, char *value);

#endif
