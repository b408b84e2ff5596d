/* bytes.c -- what the file formats share (bytes.h says what and why): element kinds and
 * their conversion, byte sources that check every read against the real size, the writer
 * that renames a finished temporary file over the target, a growable string, and the UTF-8
 * check of every reader and writer. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* fstat, fsync, getpid */
#endif
#include "bytes.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#if defined(__unix__) || defined(__APPLE__)
#define DM_IO_POSIX 1
#include <sys/stat.h>
#include <unistd.h>
#endif

#define CHUNK 65536                 /* bytes converted at a time */

/* ---- element types ------------------------------------------------------------------ */

int dm__host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* an unsigned integer of n bytes (n <= 8) in the given byte order */
uint64_t dm__get_uint(const unsigned char *p, int n, int big)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
    return v;
}

static float bits_to_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

/* IEEE half -> float, exact (every half is a float) */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {                             /* zero or subnormal: mant * 2^-24 */
        float f = (float)mant * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));  /* inf, nan */
    return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
}

/* the dtype a file's element kind loads as (see bytes.h) */
dm_dtype dm__kind_dtype(dm__kind k)
{
    switch (k) {
    case K_F32: case K_F16: case K_BF16: return DM_FLOAT32;
    case K_F64: return DM_FLOAT64;
    case K_U8: return DM_UINT8;
    case K_BOOL: return DM_BOOL;
    default: return DM_INT64;
    }
}

/* n elements of kind k, size bytes each, at in -> n elements of dm__kind_dtype(k) at out */
static void convert(dm__kind k, int size, int big, const unsigned char *in, void *out, size_t n)
{
    float *f = out;
    double *d = out;
    int64_t *l = out;
    uint8_t *b = out;
    for (size_t i = 0; i < n; i++, in += size) {
        uint64_t u = dm__get_uint(in, size, big);
        switch (k) {
        case K_F32: f[i] = bits_to_float((uint32_t)u); break;
        case K_F16: f[i] = half_to_float((uint16_t)u); break;
        case K_BF16: f[i] = bits_to_float((uint32_t)u << 16); break;
        case K_F64: memcpy(&d[i], &u, 8); break;
        case K_I64: case K_U64: memcpy(&l[i], &u, 8); break;
        case K_I32: l[i] = (int64_t)u - (u & 0x80000000u ? 4294967296LL : 0); break;
        case K_I16: l[i] = (int64_t)u - (u & 0x8000u ? 65536 : 0); break;
        case K_I8: l[i] = (int64_t)u - (u & 0x80u ? 256 : 0); break;
        case K_U16: case K_U32: l[i] = (int64_t)u; break;
        case K_U8: b[i] = (uint8_t)u; break;
        case K_BOOL: b[i] = u != 0; break;
        }
    }
}

/* ---- byte sources: a file or a memory buffer ---------------------------------------- */

int dm__src_fail(const dm__src *s, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_seterr("%s: %s: %s", s->fn, s->name, msg);
    return -1;
}

int dm__src_open_file(dm__src *s, const char *fn, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->name = path;
    s->f = fopen(path, "rb");
    if (!s->f) return dm__src_fail(s, "%s", strerror(errno));
#ifdef DM_IO_POSIX
    struct stat st;
    if (fstat(fileno(s->f), &st) != 0) return dm__src_fail(s, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return dm__src_fail(s, "not a regular file");
    s->size = (uint64_t)st.st_size;
#else
    long end;
    if (fseek(s->f, 0, SEEK_END) != 0 || (end = ftell(s->f)) < 0 || fseek(s->f, 0, SEEK_SET))
        return dm__src_fail(s, "cannot determine the file size: %s", strerror(errno));
    s->size = (uint64_t)end;
#endif
    return 0;
}

void dm__src_mem(dm__src *s, const char *fn, const void *data, size_t len, const char *name)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->name = name ? name : "<buffer>";
    s->mem = data;
    s->size = len;
}

void dm__src_close(dm__src *s)
{
    if (s->f) fclose(s->f);
    s->f = NULL;
}

/* n bytes at off; callers have checked the range against s->size already */
int dm__src_read(dm__src *s, uint64_t off, void *buf, size_t n)
{
    if (off > s->size || n > s->size - off)
        return dm__src_fail(s, "truncated: %zu bytes at offset %llu are past the end (%llu bytes)",
                            n, (unsigned long long)off, (unsigned long long)s->size);
    if (n == 0) return 0;
    if (s->mem) { memcpy(buf, s->mem + off, n); return 0; }
    if (off != s->pos) {
        if (off > (uint64_t)LONG_MAX || fseek(s->f, (long)off, SEEK_SET) != 0)
            return dm__src_fail(s, "seek failed: %s", strerror(errno));
        s->pos = off;
    }
    size_t got = fread(buf, 1, n, s->f);
    s->pos += got;
    if (got != n)
        return ferror(s->f) ? dm__src_fail(s, "read failed: %s", strerror(errno))
                            : dm__src_fail(s, "the file shrank while it was read");
    return 0;
}

/* read numel elements of (k, size, big) at off into t's (contiguous) storage, t being of
   dtype dm__kind_dtype(k) */
int dm__src_read_tensor(dm__src *s, uint64_t off, dm__kind k, int size, int big, dm_tensor *t)
{
    uint64_t n = (uint64_t)dm_numel(t);
    unsigned char *out = dm__ptr(t);
    size_t esize = dm__esize(t->dtype);
    /* our own layouts are read straight in; bools still go through convert, which makes
       every byte 0 or 1 */
    if ((k == K_F32 || k == K_F64 || k == K_I64 || k == K_U8) && (!big || size == 1) &&
        dm__host_little_endian())
        return dm__src_read(s, off, out, (size_t)n * esize);
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return dm__src_fail(s, "out of memory");
    uint64_t per = (uint64_t)(CHUNK / size);
    for (uint64_t i = 0; i < n; i += per) {
        size_t m = (size_t)(n - i < per ? n - i : per);
        if (dm__src_read(s, off + i * (uint64_t)size, buf, m * (size_t)size) != 0) {
            free(buf);
            return -1;
        }
        convert(k, size, big, buf, out + i * esize, m);
    }
    free(buf);
    return 0;
}

/* a name as it appears in messages: at most ~80 bytes, cut at a UTF-8 character boundary */
const char *dm__shown(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n < 80 || len < 90) return name;
    size_t cut = 76;
    while (cut > 0 && ((unsigned char)name[cut] & 0xc0) == 0x80) cut--;
    memcpy(buf, name, cut);
    memcpy(buf + cut, "...", 4);
    return buf;
}

/* Is p[0..n) valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF)?  Returns
 * n, or the offset of the first bad byte.  The one check for every reader and writer. */
size_t dm__utf8_valid_prefix(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        int len;
        unsigned char lo = 0x80, hi = 0xbf;     /* range of the second byte */
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else return i;
        if ((size_t)len > n - i) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (int k = 2; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80) return i;
        i += (size_t)len;
    }
    return n;
}

/* ---- writing: temp file, then rename ------------------------------------------------ */

static int wfail(dm__wfile *w, const char *what)
{
    int err = errno;
    dm_seterr("%s: %s: %s%s%s", w->fn, w->path, what, *what ? ": " : "", strerror(err));
    return -1;
}

int dm__wopen(dm__wfile *w, const char *fn, const char *path)
{
    static _Atomic unsigned counter;
    w->fn = fn;
    w->path = path;
    w->f = NULL;
    size_t n = strlen(path) + 48;
    w->tmp = malloc(n);
    if (!w->tmp) { dm_seterr("%s: %s: out of memory", fn, path); return -1; }
    long pid = 0;
#ifdef DM_IO_POSIX
    pid = (long)getpid();
#endif
    snprintf(w->tmp, n, "%s.tmp%ld.%u", path, pid, ++counter);
    w->f = fopen(w->tmp, "wbx");
    if (!w->f) {
        wfail(w, "");
        free(w->tmp);
        w->tmp = NULL;
        return -1;
    }
    return 0;
}

int dm__wwrite(dm__wfile *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n) return wfail(w, "write failed");
    return 0;
}

void dm__wabort(dm__wfile *w)
{
    if (w->f) fclose(w->f);
    if (w->tmp) remove(w->tmp);
    free(w->tmp);
    w->f = NULL;
    w->tmp = NULL;
}

int dm__wcommit(dm__wfile *w)
{
    int rc = 0;
    if (fflush(w->f) != 0) rc = wfail(w, "write failed");
#ifdef DM_IO_POSIX
    if (rc == 0 && fsync(fileno(w->f)) != 0) rc = wfail(w, "write failed");
#endif
    if (fclose(w->f) != 0 && rc == 0) rc = wfail(w, "write failed");
    w->f = NULL;
    if (rc == 0 && rename(w->tmp, w->path) != 0) rc = wfail(w, "cannot replace the file");
    if (rc != 0) remove(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    return rc;
}

/* t's values in its own dtype, little-endian, row-major, whatever its strides */
int dm__write_elems(dm__wfile *w, const dm_tensor *t)
{
    int64_t n = dm_numel(t);
    if (n == 0) return 0;
    size_t es = dm__esize(t->dtype);
    const unsigned char *d = dm__ptr(t);
    unsigned char *copy = NULL;
    if (!dm__is_contig(t)) {
        copy = malloc((size_t)n * es);
        if (!copy) { dm_seterr("%s: %s: out of memory", w->fn, w->path); return -1; }
        dm_to_buffer_dtype(t, copy, t->dtype);
        d = copy;
    }
    int rc = 0;
    if (dm__host_little_endian() || es == 1) {
        rc = dm__wwrite(w, d, (size_t)n * es);
    } else {
        unsigned char buf[4096];
        int64_t per = (int64_t)(sizeof buf / es);
        for (int64_t i = 0; i < n && rc == 0; i += per) {
            int64_t m = n - i < per ? n - i : per;
            for (int64_t k = 0; k < m; k++)
                for (size_t b = 0; b < es; b++)
                    buf[(size_t)k * es + b] = d[(size_t)(i + k) * es + es - 1 - b];
            rc = dm__wwrite(w, buf, (size_t)m * es);
        }
    }
    free(copy);
    return rc;
}

/* ---- a growable string ------------------------------------------------------------- */

void dm__sb_add(dm__sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void dm__sb_str(dm__sbuf *b, const char *s) { dm__sb_add(b, s, strlen(s)); }

void dm__sb_printf(dm__sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) dm__sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
