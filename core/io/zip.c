/* zip.c -- a small zip reader and writer for PyTorch's checkpoint container (pt.c).
 *
 * Reading trusts only the central directory (PyTorch's writer leaves the local headers'
 * sizes at zero and puts them in data descriptors): the end-of-central-directory record is
 * found from the end of the file (zip64 records when the 32-bit fields overflow), every
 * directory entry is checked to lie inside the directory, every entry's local header and
 * data to lie before the directory, and only stored (method 0), unencrypted entries are
 * accepted.  Entry data is read through dm__zip_read_entry, which checks the CRC-32.
 *
 * Writing puts each entry whole: local header (sizes and CRC filled in, no data descriptor,
 * an extra field "FB" of padding so the data starts on a 64-byte boundary, as PyTorch's
 * writer aligns it), the data, then the central directory.  Archives past 4 GiB would need
 * zip64 records, which the writer does not make: it refuses them. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* fstat, fsync, getpid */
#endif
#include "internal.h"
#include "zip.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#if defined(__unix__) || defined(__APPLE__)
#define DM_ZIP_POSIX 1
#include <sys/stat.h>
#include <unistd.h>
#endif

#define ZIP_ALIGN 64

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

uint32_t dm__crc32(uint32_t crc, const void *data, size_t n)
{
    uint32_t table[256];    /* 2k operations to build: nothing beside the bytes it covers */
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int dm__zip_magic(const unsigned char *p, size_t n)
{
    return n >= 4 && p[0] == 'P' && p[1] == 'K' &&
           ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6));
}

int dm__zip_fail(const dm__zip *z, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_seterr("%s: %s: %s", z->fn, z->name, msg);
    return -1;
}

int dm__zip_read(dm__zip *z, uint64_t off, void *buf, size_t n)
{
    if (off > z->size || n > z->size - off)
        return dm__zip_fail(z, "truncated: %zu bytes at offset %llu are past the end "
                            "(%llu bytes)", n, (unsigned long long)off,
                            (unsigned long long)z->size);
    if (n == 0) return 0;
    if (z->mem) { memcpy(buf, z->mem + off, n); return 0; }
    if (off != z->pos) {
        if (off > (uint64_t)LONG_MAX || fseek(z->f, (long)off, SEEK_SET) != 0)
            return dm__zip_fail(z, "seek failed: %s", strerror(errno));
        z->pos = off;
    }
    size_t got = fread(buf, 1, n, z->f);
    z->pos += got;
    if (got != n)
        return ferror(z->f) ? dm__zip_fail(z, "read failed: %s", strerror(errno))
                            : dm__zip_fail(z, "the file shrank while it was read");
    return 0;
}

int dm__zip_read_entry(dm__zip *z, const dm__zentry *e, void *buf)
{
    if (dm__zip_read(z, e->data, buf, (size_t)e->size) != 0) return -1;
    if (dm__crc32(0, buf, (size_t)e->size) != e->crc)
        return dm__zip_fail(z, "record '%s': CRC-32 mismatch (the file is corrupt)", e->name);
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const dm__zentry *)a)->name, ((const dm__zentry *)b)->name);
}

const dm__zentry *dm__zip_find(const dm__zip *z, const char *name)
{
    dm__zentry key = { .name = (char *)name };
    if (z->count == 0) return NULL;
    return bsearch(&key, z->entries, (size_t)z->count, sizeof key, cmp_entry);
}

void dm__zip_close(dm__zip *z)
{
    if (z->f) fclose(z->f);
    z->f = NULL;
    for (int64_t i = 0; i < z->count; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->first);
    z->entries = NULL;
    z->first = NULL;
    z->count = 0;
}

/* the end-of-central-directory record -> directory offset, size and entry count */
static int find_directory(dm__zip *z, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count)
{
    if (z->size < 22) return dm__zip_fail(z, "not a zip file: too short (%llu bytes)",
                                          (unsigned long long)z->size);
    uint64_t span = z->size < 22 + 65535 ? z->size : 22 + 65535;
    unsigned char *tail = malloc((size_t)span);
    if (!tail) return dm__zip_fail(z, "out of memory");
    uint64_t base = z->size - span;
    if (dm__zip_read(z, base, tail, (size_t)span) != 0) { free(tail); return -1; }
    int64_t at = -1;
    for (int64_t i = (int64_t)span - 22; i >= 0; i--) {
        const unsigned char *p = tail + i;
        if (le(p, 4) == 0x06054b50u && (uint64_t)i + 22 + le(p + 20, 2) == span) { at = i; break; }
    }
    if (at < 0) {
        free(tail);
        return dm__zip_fail(z, "not a zip file: no end of central directory record");
    }
    const unsigned char *e = tail + at;
    uint64_t eocd = base + (uint64_t)at;
    *count = le(e + 10, 2);
    *cd_size = le(e + 12, 4);
    *cd_off = le(e + 16, 4);
    int zip64 = *count == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu;
    if (le(e + 4, 2) != 0 || le(e + 6, 2) != 0 || le(e + 8, 2) != le(e + 10, 2)) {
        free(tail);
        return dm__zip_fail(z, "multi-disk zip archives are not supported");
    }
    free(tail);
    if (zip64) {
        unsigned char loc[20], rec[56];
        if (eocd < 20 || dm__zip_read(z, eocd - 20, loc, 20) != 0 || le(loc, 4) != 0x07064b50u)
            return dm__zip_fail(z, "zip64 end of central directory locator missing");
        uint64_t roff = le(loc + 8, 8);
        if (roff > eocd - 20 || eocd - 20 - roff < 56)
            return dm__zip_fail(z, "zip64 end of central directory record out of place");
        if (dm__zip_read(z, roff, rec, 56) != 0) return -1;
        if (le(rec, 4) != 0x06064b50u)
            return dm__zip_fail(z, "zip64 end of central directory record missing");
        *count = le(rec + 32, 8);
        *cd_size = le(rec + 40, 8);
        *cd_off = le(rec + 48, 8);
        eocd = roff;
    }
    if (*cd_off > eocd || *cd_size > eocd - *cd_off)
        return dm__zip_fail(z, "central directory (%llu bytes at %llu) runs past its end",
                            (unsigned long long)*cd_size, (unsigned long long)*cd_off);
    if (*count > *cd_size / 46)
        return dm__zip_fail(z, "central directory claims %llu entries in %llu bytes",
                            (unsigned long long)*count, (unsigned long long)*cd_size);
    return 0;
}

/* the zip64 extended information extra field: replaces the 32-bit fields that overflowed */
static int zip64_extra(dm__zip *z, const unsigned char *x, size_t xlen, const char *name,
                       uint64_t *usize, uint64_t *csize, uint64_t *lho)
{
    uint64_t *want[3] = { usize, csize, lho };
    uint64_t full[3] = { 0xffffffffu, 0xffffffffu, 0xffffffffu };
    size_t i = 0;
    while (i + 4 <= xlen) {
        size_t id = (size_t)le(x + i, 2), len = (size_t)le(x + i + 2, 2);
        if (len > xlen - i - 4) break;
        if (id == 1) {
            size_t k = 0;
            for (int f = 0; f < 3; f++) {
                if (*want[f] != full[f]) continue;
                if (k + 8 > len)
                    return dm__zip_fail(z, "entry '%s': zip64 extra field too short", name);
                *want[f] = le(x + i + 4 + k, 8);
                k += 8;
            }
            return 0;
        }
        i += 4 + len;
    }
    if (*usize == 0xffffffffu || *csize == 0xffffffffu || *lho == 0xffffffffu)
        return dm__zip_fail(z, "entry '%s': zip64 extra field missing", name);
    return 0;
}

static int read_directory(dm__zip *z)
{
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    if (find_directory(z, &cd_off, &cd_size, &count) != 0) return -1;
    unsigned char *cd = malloc(cd_size ? (size_t)cd_size : 1);
    z->entries = calloc(count ? (size_t)count : 1, sizeof *z->entries);
    if (!cd || !z->entries) { free(cd); return dm__zip_fail(z, "out of memory"); }
    if (dm__zip_read(z, cd_off, cd, (size_t)cd_size) != 0) { free(cd); return -1; }
    uint64_t p = 0;
    int rc = 0;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        const unsigned char *h = cd + p;
        if (cd_size - p < 46 || le(h, 4) != 0x02014b50u) {
            rc = dm__zip_fail(z, "central directory entry %llu is damaged",
                              (unsigned long long)i + 1);
            break;
        }
        size_t nlen = (size_t)le(h + 28, 2), xlen = (size_t)le(h + 30, 2);
        size_t clen = (size_t)le(h + 32, 2);
        if (cd_size - p - 46 < (uint64_t)nlen + xlen + clen) {
            rc = dm__zip_fail(z, "central directory entry %llu runs past the directory",
                              (unsigned long long)i + 1);
            break;
        }
        char *name = malloc(nlen + 1);
        if (!name) { rc = dm__zip_fail(z, "out of memory"); break; }
        memcpy(name, h + 46, nlen);
        name[nlen] = 0;
        dm__zentry *e = &z->entries[z->count++];
        e->name = name;
        if (strlen(name) != nlen) {
            rc = dm__zip_fail(z, "entry %llu: name contains a zero byte", (unsigned long long)i + 1);
            break;
        }
        if (i == 0 && !(z->first = malloc(nlen + 1))) { rc = dm__zip_fail(z, "out of memory"); break; }
        if (i == 0) memcpy(z->first, name, nlen + 1);
        unsigned flags = (unsigned)le(h + 8, 2), method = (unsigned)le(h + 10, 2);
        uint64_t csize = le(h + 20, 4), usize = le(h + 24, 4), lho = le(h + 42, 4);
        e->crc = (uint32_t)le(h + 16, 4);
        if (zip64_extra(z, h + 46 + nlen, xlen, name, &usize, &csize, &lho) != 0) { rc = -1; break; }
        if (flags & 1) { rc = dm__zip_fail(z, "entry '%s' is encrypted", name); break; }
        if (method != 0) {
            rc = dm__zip_fail(z, "entry '%s' is compressed (method %u); only stored entries "
                              "are read (torch.save writes them stored)", name, method);
            break;
        }
        if (csize != usize) {
            rc = dm__zip_fail(z, "entry '%s': stored sizes differ (%llu and %llu)", name,
                              (unsigned long long)csize, (unsigned long long)usize);
            break;
        }
        unsigned char lh[30];
        if (lho > cd_off || cd_off - lho < 30) {
            rc = dm__zip_fail(z, "entry '%s': local header offset %llu out of range", name,
                              (unsigned long long)lho);
            break;
        }
        if (dm__zip_read(z, lho, lh, 30) != 0) { rc = -1; break; }
        if (le(lh, 4) != 0x04034b50u) {
            rc = dm__zip_fail(z, "entry '%s': local header signature missing", name);
            break;
        }
        uint64_t data = lho + 30 + le(lh + 26, 2) + le(lh + 28, 2);
        if (data > cd_off || usize > cd_off - data) {
            rc = dm__zip_fail(z, "entry '%s': %llu bytes at offset %llu run past the data",
                              name, (unsigned long long)usize, (unsigned long long)data);
            break;
        }
        e->data = data;
        e->size = usize;
        p += 46 + (uint64_t)nlen + xlen + clen;
    }
    free(cd);
    if (rc != 0) return -1;
    qsort(z->entries, (size_t)z->count, sizeof *z->entries, cmp_entry);
    for (int64_t i = 1; i < z->count; i++)
        if (strcmp(z->entries[i - 1].name, z->entries[i].name) == 0)
            return dm__zip_fail(z, "entry '%s' appears twice", z->entries[i].name);
    return 0;
}

int dm__zip_open_file(dm__zip *z, const char *fn, const char *path)
{
    memset(z, 0, sizeof *z);
    z->fn = fn;
    z->name = path;
    z->f = fopen(path, "rb");
    if (!z->f) return dm__zip_fail(z, "%s", strerror(errno));
#ifdef DM_ZIP_POSIX
    struct stat st;
    if (fstat(fileno(z->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        dm__zip_fail(z, "not a regular file");
        dm__zip_close(z);
        return -1;
    }
    z->size = (uint64_t)st.st_size;
#else
    long end;
    if (fseek(z->f, 0, SEEK_END) != 0 || (end = ftell(z->f)) < 0 || fseek(z->f, 0, SEEK_SET)) {
        dm__zip_fail(z, "cannot determine the file size");
        dm__zip_close(z);
        return -1;
    }
    z->size = (uint64_t)end;
#endif
    if (read_directory(z) != 0) { dm__zip_close(z); return -1; }
    return 0;
}

int dm__zip_open_mem(dm__zip *z, const char *fn, const void *data, size_t len, const char *name)
{
    memset(z, 0, sizeof *z);
    z->fn = fn;
    z->name = name ? name : "<buffer>";
    z->mem = data;
    z->size = data ? len : 0;
    if (read_directory(z) != 0) { dm__zip_close(z); return -1; }
    return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

static int zw_fail(dm__zwriter *w, const char *what)
{
    int err = errno;
    dm_seterr("%s: %s: %s: %s", w->fn, w->path, what, strerror(err));
    return -1;
}

static int zw_put(dm__zwriter *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n) return zw_fail(w, "write failed");
    w->pos += n;
    return 0;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int dm__zw_open(dm__zwriter *w, const char *fn, const char *path)
{
    static _Atomic unsigned counter;
    memset(w, 0, sizeof *w);
    w->fn = fn;
    w->path = path;
    size_t n = strlen(path) + 48;
    w->tmp = malloc(n);
    if (!w->tmp) { dm_seterr("%s: %s: out of memory", fn, path); return -1; }
    long pid = 0;
#ifdef DM_ZIP_POSIX
    pid = (long)getpid();
#endif
    snprintf(w->tmp, n, "%s.tmp%ld.%u", path, pid, ++counter);
    w->f = fopen(w->tmp, "wbx");
    if (!w->f) {
        dm_seterr("%s: %s: %s", fn, path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        return -1;
    }
    return 0;
}

#define ZIP_LIMIT 0xfffffffeu       /* past this a field would need zip64 */

int dm__zw_add(dm__zwriter *w, const char *name, const void *data, size_t n)
{
    size_t nlen = strlen(name);
    if (nlen > 0xffff) { dm_seterr("%s: %s: record name too long", w->fn, w->path); return -1; }
    if ((uint64_t)n > ZIP_LIMIT || w->pos > ZIP_LIMIT - (uint64_t)n - nlen - 30 - 2 * ZIP_ALIGN) {
        dm_seterr("%s: %s: files past 4 GiB are not written (no zip64 support yet)",
                  w->fn, w->path);
        return -1;
    }
    if (w->count == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 16;
        void *p = realloc(w->ents, (size_t)cap * sizeof *w->ents);
        if (!p) { dm_seterr("%s: %s: out of memory", w->fn, w->path); return -1; }
        w->ents = p;
        w->cap = cap;
    }
    struct dm__zwent *e = &w->ents[w->count];
    e->name = malloc(nlen + 1);
    if (!e->name) { dm_seterr("%s: %s: out of memory", w->fn, w->path); return -1; }
    memcpy(e->name, name, nlen + 1);
    w->count++;
    e->header = w->pos;
    e->size = n;
    e->crc = dm__crc32(0, data, n);
    /* data at pos + 30 + nlen + extra: pad with an "FB" field (4 + k bytes) to a multiple
       of 64, as PyTorch's writer does */
    uint64_t start = w->pos + 30 + nlen;
    size_t pad = (size_t)((ZIP_ALIGN - (start + 4) % ZIP_ALIGN) % ZIP_ALIGN);
    size_t xlen = 4 + pad;
    unsigned char h[30], x[4 + ZIP_ALIGN];
    put_le(h, 0x04034b50u, 4);
    put_le(h + 4, 20, 2);           /* version needed: 2.0 */
    put_le(h + 6, 0, 2);            /* flags */
    put_le(h + 8, 0, 2);            /* stored */
    put_le(h + 10, 0, 4);           /* time, date: none, so equal files are equal bytes */
    put_le(h + 14, e->crc, 4);
    put_le(h + 18, n, 4);
    put_le(h + 22, n, 4);
    put_le(h + 26, nlen, 2);
    put_le(h + 28, xlen, 2);
    put_le(x, 0x4246, 2);           /* "FB" */
    put_le(x + 2, pad, 2);
    memset(x + 4, 'Z', pad);
    if (zw_put(w, h, 30) || zw_put(w, name, nlen) || zw_put(w, x, xlen) || zw_put(w, data, n))
        return -1;
    return 0;
}

static int zw_directory(dm__zwriter *w)
{
    uint64_t cd_off = w->pos;
    for (int64_t i = 0; i < w->count; i++) {
        const struct dm__zwent *e = &w->ents[i];
        unsigned char h[46];
        size_t nlen = strlen(e->name);
        put_le(h, 0x02014b50u, 4);
        put_le(h + 4, 20, 2);       /* made by: 2.0, MS-DOS attributes */
        put_le(h + 6, 20, 2);
        put_le(h + 8, 0, 2);
        put_le(h + 10, 0, 2);
        put_le(h + 12, 0, 4);
        put_le(h + 16, e->crc, 4);
        put_le(h + 20, e->size, 4);
        put_le(h + 24, e->size, 4);
        put_le(h + 28, nlen, 2);
        put_le(h + 30, 0, 2);
        put_le(h + 32, 0, 2);
        put_le(h + 34, 0, 2);
        put_le(h + 36, 0, 2);
        put_le(h + 38, 0, 4);
        put_le(h + 42, e->header, 4);
        if (zw_put(w, h, 46) || zw_put(w, e->name, nlen)) return -1;
    }
    uint64_t cd_size = w->pos - cd_off;
    if (w->count > 0xfffe || w->pos > ZIP_LIMIT) {
        dm_seterr("%s: %s: too many records or too large for a zip file without zip64",
                  w->fn, w->path);
        return -1;
    }
    unsigned char e[22];
    put_le(e, 0x06054b50u, 4);
    put_le(e + 4, 0, 4);
    put_le(e + 8, (uint64_t)w->count, 2);
    put_le(e + 10, (uint64_t)w->count, 2);
    put_le(e + 12, cd_size, 4);
    put_le(e + 16, cd_off, 4);
    put_le(e + 20, 0, 2);
    return zw_put(w, e, 22);
}

int dm__zw_close(dm__zwriter *w, int commit)
{
    int rc = 0;
    if (commit) {
        rc = zw_directory(w);
        if (rc == 0 && fflush(w->f) != 0) rc = zw_fail(w, "write failed");
#ifdef DM_ZIP_POSIX
        if (rc == 0 && fsync(fileno(w->f)) != 0) rc = zw_fail(w, "write failed");
#endif
    }
    if (w->f && fclose(w->f) != 0 && rc == 0 && commit) rc = zw_fail(w, "write failed");
    w->f = NULL;
    if (commit && rc == 0 && rename(w->tmp, w->path) != 0)
        rc = zw_fail(w, "cannot replace the file");
    if (!commit || rc != 0) remove(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    for (int64_t i = 0; i < w->count; i++) free(w->ents[i].name);
    free(w->ents);
    w->ents = NULL;
    w->count = w->cap = 0;
    return commit ? rc : 0;
}
