/* zip.h -- the core's own zip reader and writer (core/io/zip.c), enough for PyTorch's
 * checkpoint container: stored (uncompressed) entries, zip64 on reading.  Internal: never
 * installed. */
#ifndef DM_ZIP_H
#define DM_ZIP_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

/* one stored entry: its name and where its bytes are in the file */
typedef struct {
    char *name;
    uint64_t data;      /* offset of the first byte of the entry's data */
    uint64_t size;
    uint32_t crc;
} dm__zentry;

/* an open archive: a file or a memory buffer, and its directory (sorted by name) */
typedef struct {
    const char *fn, *name;          /* messages read "<fn>: <name>: <problem>" */
    const unsigned char *mem;       /* memory source, or NULL for a file */
    FILE *f;
    uint64_t size, pos;
    dm__zentry *entries;
    int64_t count;
    char *first;                    /* the name of the first entry in the directory */
} dm__zip;

/* "<fn>: <name>: <problem>" as the error message; returns -1 */
int dm__zip_fail(const dm__zip *z, const char *fmt, ...);
/* open and read the central directory; on failure -1 with a message and nothing to close.
   A compressed or encrypted entry, a duplicate name, or any offset or length outside the
   file is refused. */
int dm__zip_open_file(dm__zip *z, const char *fn, const char *path);
int dm__zip_open_mem(dm__zip *z, const char *fn, const void *data, size_t len, const char *name);
void dm__zip_close(dm__zip *z);
const dm__zentry *dm__zip_find(const dm__zip *z, const char *name);   /* NULL: absent */
/* n bytes at off in the file, checked against its size */
int dm__zip_read(dm__zip *z, uint64_t off, void *buf, size_t n);
/* entry e's data into buf (e->size bytes), its CRC-32 checked */
int dm__zip_read_entry(dm__zip *z, const dm__zentry *e, void *buf);
/* does the stream start like a zip file ("PK\3\4", or "PK\5\6" for an empty archive)? */
int dm__zip_magic(const unsigned char *p, size_t n);

uint32_t dm__crc32(uint32_t crc, const void *p, size_t n);

/* A writer: entries are added whole, stored, each entry's data aligned to 64 bytes (as
 * PyTorch's writer does, through padding in the local header's extra field), into a
 * temporary file renamed over path by dm__zw_close(w, 1). */
typedef struct {
    const char *fn, *path;
    char *tmp;
    FILE *f;
    uint64_t pos;
    struct dm__zwent { char *name; uint64_t header; uint64_t size; uint32_t crc; } *ents;
    int64_t count, cap;
} dm__zwriter;

int dm__zw_open(dm__zwriter *w, const char *fn, const char *path);
/* an entry of n bytes; crc as computed by dm__crc32 over them (the caller may have it) */
int dm__zw_add(dm__zwriter *w, const char *name, const void *data, size_t n);
/* commit: write the directory and rename (commit != 0), or drop the temporary file; 0/-1 */
int dm__zw_close(dm__zwriter *w, int commit);

#endif
