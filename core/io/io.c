/* io.c -- tensors to and from files: safetensors (named tensors + string metadata, the
 * format PyTorch and Hugging Face exchange weights in) and NumPy's .npy (one array).
 *
 * Readers treat every byte as hostile.  Nothing read from a file is used as a size, an
 * offset or a count before it has been checked against the file's real size, so a reader
 * never allocates more than a small multiple of the file size and never reads out of
 * bounds; the header JSON is parsed by a strict, schema-directed parser below (no
 * recursion, no general-purpose JSON library).  Every failure leaves a message of the form
 * "load: <file>: <problem>".
 *
 * Writers write a temporary file next to the target and rename it over the target once
 * everything is on disk, so a failed save never leaves a truncated file where a good one
 * was.
 *
 * Safetensors layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON (an object: tensor
 * name -> {"dtype", "shape", "data_offsets": [begin, end]}, optional "__metadata__": string
 * map; space padded), then the data buffer.  Offsets are relative to the buffer and must
 * tile it exactly: sorted by offset, each tensor starts where the previous one ended, the
 * first at 0, the last ends at the buffer's end.  Data are row-major little-endian.
 *
 * Element types: F32, F64, I64, U8 and BOOL (numpy's <f4, <f8, <i8, |u1, |b1) are ours and
 * round-trip bit for bit.  The others load into the nearest of ours, as PyTorch would hold
 * them: F16 and BF16 as float32 (exact), I32, I16, I8, U16, U32 and U64 as int64 (exact, but
 * a U64 above INT64_MAX wraps to a negative value, as numpy's astype does).  A BOOL byte
 * other than 0 reads as true. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* fstat, fsync, getpid */
#endif
#include "internal.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#if defined(__unix__) || defined(__APPLE__)
#define DM_IO_POSIX 1
#include <sys/stat.h>
#include <unistd.h>
#endif

#define ST_MAX_HEADER 100000000u    /* the safetensors crate's limit: 100 MB */
#define NPY_MAX_HEADER (1u << 20)   /* numpy writes a few hundred bytes */
#define CHUNK 65536                 /* bytes converted at a time */

/* ---- element types ------------------------------------------------------------------ */

typedef enum {
    K_F32, K_F16, K_BF16, K_F64, K_I64, K_I32, K_I16, K_I8, K_U8, K_U16, K_U32, K_U64, K_BOOL
} kind;

typedef struct { const char *name; int size; kind k; } dtype_info;

static const dtype_info st_dtypes[] = {
    { "F32", 4, K_F32 }, { "F16", 2, K_F16 }, { "BF16", 2, K_BF16 }, { "F64", 8, K_F64 },
    { "I64", 8, K_I64 }, { "I32", 4, K_I32 }, { "I16", 2, K_I16 }, { "I8", 1, K_I8 },
    { "U8", 1, K_U8 }, { "U16", 2, K_U16 }, { "U32", 4, K_U32 }, { "U64", 8, K_U64 },
    { "BOOL", 1, K_BOOL },
};

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* an unsigned integer of n bytes (n <= 8) in the given byte order */
static uint64_t get_uint(const unsigned char *p, int n, int big)
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

/* the dtype a file's element kind loads as (see the top of the file) */
static dm_dtype kind_dtype(kind k)
{
    switch (k) {
    case K_F32: case K_F16: case K_BF16: return DM_FLOAT32;
    case K_F64: return DM_FLOAT64;
    case K_U8: return DM_UINT8;
    case K_BOOL: return DM_BOOL;
    default: return DM_INT64;
    }
}

/* the file's name of one of our dtypes: safetensors' and numpy's */
static const char *st_name(dm_dtype dt)
{
    static const char *const n[DM_NDTYPES] = { "F32", "F64", "I64", "U8", "BOOL" };
    return n[dt];
}
static const char *npy_name(dm_dtype dt)
{
    static const char *const n[DM_NDTYPES] = { "<f4", "<f8", "<i8", "|u1", "|b1" };
    return n[dt];
}

/* n elements of kind k, size bytes each, at in -> n elements of kind_dtype(k) at out */
static void convert(kind k, int size, int big, const unsigned char *in, void *out, size_t n)
{
    float *f = out;
    double *d = out;
    int64_t *l = out;
    uint8_t *b = out;
    for (size_t i = 0; i < n; i++, in += size) {
        uint64_t u = get_uint(in, size, big);
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

typedef struct {
    const char *fn, *name;          /* for messages: "<fn>: <name>: <problem>" */
    const unsigned char *mem;       /* memory source, or NULL for a file */
    FILE *f;
    uint64_t size, pos;             /* total bytes; the file position */
} src;

static int src_fail(const src *s, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_seterr("%s: %s: %s", s->fn, s->name, msg);
    return -1;
}

static int src_open_file(src *s, const char *fn, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->name = path;
    s->f = fopen(path, "rb");
    if (!s->f) return src_fail(s, "%s", strerror(errno));
#ifdef DM_IO_POSIX
    struct stat st;
    if (fstat(fileno(s->f), &st) != 0) return src_fail(s, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return src_fail(s, "not a regular file");
    s->size = (uint64_t)st.st_size;
#else
    long end;
    if (fseek(s->f, 0, SEEK_END) != 0 || (end = ftell(s->f)) < 0 || fseek(s->f, 0, SEEK_SET))
        return src_fail(s, "cannot determine the file size: %s", strerror(errno));
    s->size = (uint64_t)end;
#endif
    return 0;
}

static void src_mem(src *s, const char *fn, const void *data, size_t len, const char *name)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->name = name ? name : "<buffer>";
    s->mem = data;
    s->size = len;
}

static void src_close(src *s)
{
    if (s->f) fclose(s->f);
    s->f = NULL;
}

/* n bytes at off; callers have checked the range against s->size already */
static int src_read(src *s, uint64_t off, void *buf, size_t n)
{
    if (off > s->size || n > s->size - off)
        return src_fail(s, "truncated: %zu bytes at offset %llu are past the end (%llu bytes)",
                        n, (unsigned long long)off, (unsigned long long)s->size);
    if (n == 0) return 0;
    if (s->mem) { memcpy(buf, s->mem + off, n); return 0; }
    if (off != s->pos) {
        if (off > (uint64_t)LONG_MAX || fseek(s->f, (long)off, SEEK_SET) != 0)
            return src_fail(s, "seek failed: %s", strerror(errno));
        s->pos = off;
    }
    size_t got = fread(buf, 1, n, s->f);
    s->pos += got;
    if (got != n)
        return ferror(s->f) ? src_fail(s, "read failed: %s", strerror(errno))
                            : src_fail(s, "the file shrank while it was read");
    return 0;
}

/* read numel elements of (k, size, big) at off into t's (contiguous) storage, t being of
   dtype kind_dtype(k) */
static int src_read_tensor(src *s, uint64_t off, kind k, int size, int big, dm_tensor *t)
{
    uint64_t n = (uint64_t)dm_numel(t);
    unsigned char *out = dm__ptr(t);
    size_t esize = dm__esize(t->dtype);
    /* our own layouts are read straight in; bools still go through convert, which makes
       every byte 0 or 1 */
    if ((k == K_F32 || k == K_F64 || k == K_I64 || k == K_U8) && (!big || size == 1) &&
        host_little_endian())
        return src_read(s, off, out, (size_t)n * esize);
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return src_fail(s, "out of memory");
    uint64_t per = (uint64_t)(CHUNK / size);
    for (uint64_t i = 0; i < n; i += per) {
        size_t m = (size_t)(n - i < per ? n - i : per);
        if (src_read(s, off + i * (uint64_t)size, buf, m * (size_t)size) != 0) {
            free(buf);
            return -1;
        }
        convert(k, size, big, buf, out + i * esize, m);
    }
    free(buf);
    return 0;
}

/* a name as it appears in messages: at most ~80 bytes, cut at a UTF-8 character boundary */
static const char *shown(const char *name, char *buf, size_t len)
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

/* ---- named tensors ------------------------------------------------------------------ */

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int grow(void *pptr, int64_t *cap, int64_t need, size_t elem)
{
    void **pp = pptr;
    if (need <= *cap) return 0;
    int64_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*pp, (size_t)ncap * elem);
    if (!np) return -1;
    *pp = np;
    *cap = ncap;
    return 0;
}

dm_named_tensors *dm_named_tensors_new(void)
{
    dm_named_tensors *nt = calloc(1, sizeof *nt);
    if (!nt) dm_seterr("out of memory");
    return nt;
}

void dm_named_tensors_free(dm_named_tensors *nt)
{
    if (!nt) return;
    for (int64_t i = 0; i < nt->count; i++) {
        free(nt->names[i]);
        dm_tensor_release(nt->tensors[i]);
    }
    for (int64_t i = 0; i < nt->meta_count; i++) {
        free(nt->meta_keys[i]);
        free(nt->meta_values[i]);
    }
    free(nt->names);
    free(nt->tensors);
    free(nt->meta_keys);
    free(nt->meta_values);
    free(nt);
}

/* append without checks; takes over name (malloc'd) and the reference t */
static int named_append(dm_named_tensors *nt, char *name, dm_tensor *t)
{
    int64_t cap = nt->cap_;
    if (grow(&nt->names, &cap, nt->count + 1, sizeof *nt->names) != 0) return -1;
    if (grow(&nt->tensors, &nt->cap_, nt->count + 1, sizeof *nt->tensors) != 0) return -1;
    nt->names[nt->count] = name;
    nt->tensors[nt->count] = t;
    nt->count++;
    return 0;
}

static int meta_append(dm_named_tensors *nt, char *key, char *value)
{
    int64_t cap = nt->meta_cap_;
    if (grow(&nt->meta_keys, &cap, nt->meta_count + 1, sizeof *nt->meta_keys) != 0) return -1;
    if (grow(&nt->meta_values, &nt->meta_cap_, nt->meta_count + 1, sizeof *nt->meta_values))
        return -1;
    nt->meta_keys[nt->meta_count] = key;
    nt->meta_values[nt->meta_count] = value;
    nt->meta_count++;
    return 0;
}

int dm_named_tensors_add(dm_named_tensors *nt, const char *name, dm_tensor *t)
{
    char b[96];
    if (!nt || !name || !t) {
        dm_seterr("named_tensors_add: %s is NULL", !nt ? "the list" : !name ? "name" : "tensor");
        return -1;
    }
    for (int64_t i = 0; i < nt->count; i++)
        if (strcmp(nt->names[i], name) == 0) {
            dm_seterr("named_tensors_add: duplicate name '%s'", shown(name, b, sizeof b));
            return -1;
        }
    char *copy = dupstr(name);
    if (!copy || named_append(nt, copy, t) != 0) {
        free(copy);
        dm_seterr("out of memory");
        return -1;
    }
    dm_tensor_retain(t);
    return 0;
}

dm_tensor *dm_named_tensors_get(const dm_named_tensors *nt, const char *name)
{
    for (int64_t i = 0; nt && name && i < nt->count; i++)
        if (strcmp(nt->names[i], name) == 0) return nt->tensors[i];
    return NULL;
}

int dm_named_tensors_set_meta(dm_named_tensors *nt, const char *key, const char *value)
{
    if (!nt || !key || !value) {
        dm_seterr("named_tensors_set_meta: %s is NULL", !nt ? "the list" : !key ? "key" : "value");
        return -1;
    }
    char *v = dupstr(value);
    if (!v) { dm_seterr("out of memory"); return -1; }
    for (int64_t i = 0; i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[i], key) == 0) {
            free(nt->meta_values[i]);
            nt->meta_values[i] = v;
            return 0;
        }
    char *k = dupstr(key);
    if (!k || meta_append(nt, k, v) != 0) {
        free(k);
        free(v);
        dm_seterr("out of memory");
        return -1;
    }
    return 0;
}

const char *dm_named_tensors_get_meta(const dm_named_tensors *nt, const char *key)
{
    for (int64_t i = 0; nt && key && i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[i], key) == 0) return nt->meta_values[i];
    return NULL;
}

/* ---- the header JSON ---------------------------------------------------------------- */

typedef struct {
    const unsigned char *beg, *p, *end;
    src *s;
} jp;

static int jfail(jp *j, const char *what)
{
    if (j->p >= j->end)
        return src_fail(j->s, "invalid header JSON: unexpected end of header (%s)", what);
    return src_fail(j->s, "invalid header JSON at byte %zu: %s", (size_t)(j->p - j->beg), what);
}

static void jws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* skip white space, then require character c */
static int jexpect(jp *j, char c, const char *what)
{
    jws(j);
    if (j->p >= j->end || *j->p != (unsigned char)c) return jfail(j, what);
    j->p++;
    return 0;
}

static int jpeek(jp *j)
{
    jws(j);
    return j->p < j->end ? *j->p : -1;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

/* A JSON string (after white space) -> a new NUL-terminated UTF-8 string, or NULL with a
 * message.  The header was checked to be valid UTF-8 as a whole, so raw bytes pass through;
 * escapes are decoded; \u0000 is refused (names are C strings). */
static char *jstring(jp *j, const char *what)
{
    if (jpeek(j) != '"') { jfail(j, what); return NULL; }
    const unsigned char *q = ++j->p;
    while (q < j->end && *q != '"') q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end) { j->p = j->end; jfail(j, "unterminated string"); return NULL; }
    char *out = malloc((size_t)(q - j->p) + 1);     /* decoding never lengthens */
    if (!out) { src_fail(j->s, "out of memory"); return NULL; }
    size_t n = 0;
    while (j->p < q) {
        unsigned char c = *j->p;
        if (c < 0x20) { jfail(j, "control character in a string"); goto bad; }
        if (c != '\\') { out[n++] = (char)c; j->p++; continue; }
        unsigned char e = j->p[1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            out[n++] = repl[simple - "\"\\/bfnrt"];
            j->p += 2;
            continue;
        }
        if (e != 'u') { jfail(j, "invalid escape in a string"); goto bad; }
        uint32_t cp, lo;
        if (q - j->p < 6 || hex4(j->p + 2, &cp) != 0) { jfail(j, "invalid \\u escape"); goto bad; }
        if (cp >= 0xdc00 && cp <= 0xdfff) { jfail(j, "lone surrogate in \\u escape"); goto bad; }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (q - j->p < 12 || j->p[6] != '\\' || j->p[7] != 'u' || hex4(j->p + 8, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff) {
                jfail(j, "lone surrogate in \\u escape");
                goto bad;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j->p += 6;
        }
        if (cp == 0) { jfail(j, "\\u0000 in a string is not supported"); goto bad; }
        j->p += 6;
        if (cp < 0x80) out[n++] = (char)cp;
        else if (cp < 0x800) {
            out[n++] = (char)(0xc0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xe0 | (cp >> 12));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[n++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[n++] = (char)(0xf0 | (cp >> 18));
            out[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[n++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    j->p = q + 1;
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* A JSON number, checked to be a non-negative integer that fits in 63 bits.  what names
 * the place for messages ("tensor 'w': shape"). */
static int juint(jp *j, int64_t *out, const char *what)
{
    jws(j);
    const unsigned char *start = j->p, *p = j->p;
    int neg = 0, integral = 1, overflow = 0;
    uint64_t v = 0;
    if (p < j->end && *p == '-') { neg = 1; p++; }
    if (p >= j->end || *p < '0' || *p > '9') return jfail(j, "expected a number");
    if (*p == '0' && p + 1 < j->end && p[1] >= '0' && p[1] <= '9')
        { j->p = p; return jfail(j, "number with a leading zero"); }
    for (; p < j->end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = *p - '0';
        if (v > ((uint64_t)INT64_MAX - d) / 10) overflow = 1;
        else v = v * 10 + d;
    }
    if (p < j->end && *p == '.') {
        integral = 0;
        p++;
        if (p >= j->end || *p < '0' || *p > '9') { j->p = p; return jfail(j, "invalid number"); }
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        integral = 0;
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) p++;
        if (p >= j->end || *p < '0' || *p > '9') { j->p = p; return jfail(j, "invalid number"); }
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    j->p = p;
    int len = (int)(p - start) > 40 ? 40 : (int)(p - start);
    const char *more = p - start > 40 ? "..." : "";
    if (neg && !(integral && v == 0 && !overflow))
        return src_fail(j->s, "%s holds a negative number %.*s%s", what, len,
                        (const char *)start, more);
    if (!integral)
        return src_fail(j->s, "%s holds %.*s%s, not an integer", what, len, (const char *)start,
                        more);
    if (overflow)
        return src_fail(j->s, "%s holds %.*s%s, too large", what, len, (const char *)start, more);
    *out = (int64_t)v;
    return 0;
}

/* [n, n, ...] of at most max non-negative integers; returns the count or -1 */
static int juint_array(jp *j, int64_t *out, int max, const char *what, const char *toomany)
{
    if (jpeek(j) != '[') {
        return src_fail(j->s, "%s must be an array", what);
    }
    j->p++;
    int n = 0;
    if (jpeek(j) == ']') { j->p++; return 0; }
    for (;;) {
        int64_t v = 0;
        if (juint(j, &v, what) != 0) return -1;
        if (n >= max) return src_fail(j->s, "%s %s", what, toomany);
        out[n++] = v;
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == ']') { j->p++; return n; }
        return jfail(j, "expected ',' or ']' in an array");
    }
}

/* one tensor's entry as parsed from the header */
typedef struct {
    char *name;
    const dtype_info *dt;
    int ndim;
    int64_t shape[DM_MAX_DIMS];
    int64_t begin, end;             /* data_offsets */
} entry;

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, each exactly once */
static int parse_entry(jp *j, entry *e)
{
    char nb[96], what[160];
    const char *name = shown(e->name, nb, sizeof nb);
    int seen = 0;
    if (jpeek(j) != '{')
        return src_fail(j->s, "tensor '%s': expected an object with dtype, shape and "
                        "data_offsets", name);
    j->p++;
    if (jpeek(j) == '}') j->p++;
    else for (;;) {
        char *field = jstring(j, "expected a field name");
        if (!field) return -1;
        int bit = strcmp(field, "dtype") == 0 ? 1 : strcmp(field, "shape") == 0 ? 2
                : strcmp(field, "data_offsets") == 0 ? 4 : 0;
        if (!bit || (seen & bit)) {
            char fb[96];
            src_fail(j->s, "tensor '%s': %s field '%s'", name, bit ? "duplicate" : "unknown",
                     shown(field, fb, sizeof fb));
            free(field);
            return -1;
        }
        free(field);
        seen |= bit;
        if (jexpect(j, ':', "expected ':' after a field name") != 0) return -1;
        if (bit == 1) {
            if (jpeek(j) != '"') return src_fail(j->s, "tensor '%s': dtype must be a string", name);
            char *dt = jstring(j, "expected a string");
            if (!dt) return -1;
            for (size_t k = 0; k < sizeof st_dtypes / sizeof *st_dtypes; k++)
                if (strcmp(dt, st_dtypes[k].name) == 0) e->dt = &st_dtypes[k];
            if (!e->dt) {
                char db[96];
                src_fail(j->s, "unsupported dtype '%s' for tensor '%s'", shown(dt, db, sizeof db),
                         name);
                free(dt);
                return -1;
            }
            free(dt);
        } else if (bit == 2) {
            snprintf(what, sizeof what, "tensor '%s': shape", name);
            char toomany[64];
            snprintf(toomany, sizeof toomany, "has more than %d dimensions", DM_MAX_DIMS);
            int nd = juint_array(j, e->shape, DM_MAX_DIMS, what, toomany);
            if (nd < 0) return -1;
            e->ndim = nd;
        } else {
            int64_t off[2];
            snprintf(what, sizeof what, "tensor '%s': data_offsets", name);
            int n = juint_array(j, off, 2, what, "must hold 2 numbers");
            if (n < 0) return -1;
            if (n != 2) return src_fail(j->s, "%s must hold 2 numbers", what);
            e->begin = off[0];
            e->end = off[1];
        }
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; break; }
        return jfail(j, "expected ',' or '}' in an object");
    }
    if ((seen & 7) != 7)
        return src_fail(j->s, "tensor '%s': missing '%s'", name,
                        !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
    return 0;
}

/* {"key": "value", ...} into nt's metadata (duplicates are found later) */
static int parse_metadata(jp *j, dm_named_tensors *nt)
{
    if (jpeek(j) != '{') return src_fail(j->s, "__metadata__ must be an object of strings");
    j->p++;
    if (jpeek(j) == '}') { j->p++; return 0; }
    for (;;) {
        char *k = jstring(j, "expected a metadata key");
        if (!k) return -1;
        if (jexpect(j, ':', "expected ':' after a key") != 0) { free(k); return -1; }
        if (jpeek(j) != '"') {
            char kb[96];
            src_fail(j->s, "__metadata__ value for '%s' must be a string", shown(k, kb, sizeof kb));
            free(k);
            return -1;
        }
        char *v = jstring(j, "expected a string");
        if (!v) { free(k); return -1; }
        if (meta_append(nt, k, v) != 0) {
            free(k);
            free(v);
            return src_fail(j->s, "out of memory");
        }
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; return 0; }
        return jfail(j, "expected ',' or '}' in an object");
    }
}

typedef struct {
    entry *e;
    int64_t n, cap;
} entries;

static void entries_free(entries *es)
{
    for (int64_t i = 0; i < es->n; i++) free(es->e[i].name);
    free(es->e);
}

/* the whole header: {name: entry | "__metadata__": {...}, ...} then only white space */
static int parse_header(jp *j, entries *es, dm_named_tensors *nt)
{
    int have_meta = 0;
    if (jexpect(j, '{', "expected '{' at the start of the header") != 0) return -1;
    if (jpeek(j) == '}') j->p++;
    else for (;;) {
        char *key = jstring(j, "expected a tensor name");
        if (!key) return -1;
        if (jexpect(j, ':', "expected ':' after a key") != 0) { free(key); return -1; }
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (have_meta) return src_fail(j->s, "duplicate key '__metadata__'");
            have_meta = 1;
            if (parse_metadata(j, nt) != 0) return -1;
        } else {
            if (grow(&es->e, &es->cap, es->n + 1, sizeof *es->e) != 0) {
                free(key);
                return src_fail(j->s, "out of memory");
            }
            entry *e = &es->e[es->n++];
            memset(e, 0, sizeof *e);
            e->name = key;
            if (parse_entry(j, e) != 0) return -1;
        }
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; break; }
        return jfail(j, "expected ',' or '}' in an object");
    }
    jws(j);
    if (j->p != j->end) return jfail(j, "unexpected data after the header object");
    return 0;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* duplicates among names and metadata keys */
static int check_duplicates(src *s, entries *es, dm_named_tensors *nt)
{
    char b[96];
    if (es->n > 1) {
        const entry **by = malloc((size_t)es->n * sizeof *by);
        if (!by) return src_fail(s, "out of memory");
        for (int64_t i = 0; i < es->n; i++) by[i] = &es->e[i];
        qsort(by, (size_t)es->n, sizeof *by, cmp_entry_name);
        for (int64_t i = 1; i < es->n; i++)
            if (strcmp(by[i]->name, by[i - 1]->name) == 0) {
                src_fail(s, "duplicate tensor name '%s'", shown(by[i]->name, b, sizeof b));
                free(by);
                return -1;
            }
        free(by);
    }
    if (nt->meta_count > 1) {
        char **keys = malloc((size_t)nt->meta_count * sizeof *keys);
        if (!keys) return src_fail(s, "out of memory");
        memcpy(keys, nt->meta_keys, (size_t)nt->meta_count * sizeof *keys);
        qsort(keys, (size_t)nt->meta_count, sizeof *keys, cmp_str);
        for (int64_t i = 1; i < nt->meta_count; i++)
            if (strcmp(keys[i], keys[i - 1]) == 0) {
                src_fail(s, "duplicate metadata key '%s'", shown(keys[i], b, sizeof b));
                free(keys);
                return -1;
            }
        free(keys);
    }
    return 0;
}

/* each entry's byte size matches its shape and dtype; the entries tile [0, datalen) */
static int check_layout(src *s, entries *es, uint64_t datalen)
{
    char b[96], b2[96], sb[DM_SHAPE_BUF];
    for (int64_t i = 0; i < es->n; i++) {
        entry *e = &es->e[i];
        const char *name = shown(e->name, b, sizeof b);
        /* numel * itemsize without overflow; zero-size dims count as 1 here so that a huge
           dim next to a 0 cannot produce strides that overflow later */
        uint64_t bound = 1, bytes = (uint64_t)e->dt->size;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t dim = (uint64_t)e->shape[d];
            if (dim > 1 && bound > ((uint64_t)INT64_MAX / 8) / dim)
                return src_fail(s, "tensor '%s': shape %s is too large", name,
                                dm_shape_str(e->ndim, e->shape, sb, sizeof sb));
            if (dim > 1) bound *= dim;
            bytes *= dim;
        }
        if (e->end < e->begin)
            return src_fail(s, "tensor '%s': data_offsets [%lld, %lld] end before they begin",
                            name, (long long)e->begin, (long long)e->end);
        if ((uint64_t)e->end > datalen)
            return src_fail(s, "tensor '%s': data_offsets [%lld, %lld] exceed the data size "
                            "%llu", name, (long long)e->begin, (long long)e->end,
                            (unsigned long long)datalen);
        if ((uint64_t)(e->end - e->begin) != bytes)
            return src_fail(s, "tensor '%s': shape %s of %s needs %llu bytes, data_offsets "
                            "[%lld, %lld] hold %lld", name,
                            dm_shape_str(e->ndim, e->shape, sb, sizeof sb), e->dt->name,
                            (unsigned long long)bytes, (long long)e->begin,
                            (long long)e->end, (long long)(e->end - e->begin));
    }
    if (es->n > 1) qsort(es->e, (size_t)es->n, sizeof *es->e, cmp_entry_offset);
    int64_t at = 0;
    for (int64_t i = 0; i < es->n; i++) {
        entry *e = &es->e[i];
        if (e->begin < at)
            return src_fail(s, "tensors '%s' and '%s' overlap", shown(es->e[i - 1].name, b2, sizeof b2),
                            shown(e->name, b, sizeof b));
        if (e->begin > at) {
            if (i == 0)
                return src_fail(s, "hole of %lld bytes before tensor '%s'", (long long)e->begin,
                                shown(e->name, b, sizeof b));
            return src_fail(s, "hole of %lld bytes between tensors '%s' and '%s'",
                            (long long)(e->begin - at), shown(es->e[i - 1].name, b2, sizeof b2),
                            shown(e->name, b, sizeof b));
        }
        at = e->end;
    }
    if ((uint64_t)at != datalen)
        return src_fail(s, "%llu bytes of data after the last tensor",
                        (unsigned long long)(datalen - (uint64_t)at));
    return 0;
}

static dm_named_tensors *st_load(src *s)
{
    unsigned char lenbuf[8];
    dm_named_tensors *nt = NULL;
    entries es = { NULL, 0, 0 };
    unsigned char *hdr = NULL;
    if (s->size < 8) {
        src_fail(s, "file of %llu bytes is too short for a safetensors header",
                 (unsigned long long)s->size);
        goto fail;
    }
    if (src_read(s, 0, lenbuf, 8) != 0) goto fail;
    uint64_t hlen = get_uint(lenbuf, 8, 0);
    if (hlen > s->size - 8) {
        src_fail(s, "header length %llu exceeds file size %llu", (unsigned long long)hlen,
                 (unsigned long long)s->size);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        src_fail(s, "header length %llu exceeds the limit of %u bytes",
                 (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    hdr = malloc(hlen ? (size_t)hlen : 1);
    if (!hdr) { src_fail(s, "out of memory"); goto fail; }
    if (src_read(s, 8, hdr, (size_t)hlen) != 0) goto fail;
    size_t bad = dm__utf8_valid_prefix(hdr, (size_t)hlen);
    if (bad != hlen) {
        src_fail(s, "header is not valid UTF-8 (byte %zu)", bad);
        goto fail;
    }
    nt = dm_named_tensors_new();
    if (!nt) goto fail;
    jp j = { hdr, hdr, hdr + hlen, s };
    if (parse_header(&j, &es, nt) != 0) goto fail;
    if (check_duplicates(s, &es, nt) != 0) goto fail;
    uint64_t data_at = 8 + hlen, datalen = s->size - data_at;
    if (check_layout(s, &es, datalen) != 0) goto fail;
    free(hdr);
    hdr = NULL;
    for (int64_t i = 0; i < es.n; i++) {
        entry *e = &es.e[i];
        dm_tensor *t = dm_tensor_new_dtype(e->ndim, e->shape, kind_dtype(e->dt->k));
        if (!t) { src_fail(s, "%s", dm_errmsg()); goto fail; }
        if (src_read_tensor(s, data_at + (uint64_t)e->begin, e->dt->k, e->dt->size, 0, t)) {
            dm_tensor_release(t);
            goto fail;
        }
        if (named_append(nt, e->name, t) != 0) {
            dm_tensor_release(t);
            src_fail(s, "out of memory");
            goto fail;
        }
        e->name = NULL;             /* nt owns it now */
    }
    entries_free(&es);
    return nt;
fail:
    free(hdr);
    entries_free(&es);
    dm_named_tensors_free(nt);
    return NULL;
}

dm_named_tensors *dm_safetensors_load(const char *path)
{
    src s;
    if (!path) { dm_seterr("load: path is NULL"); return NULL; }
    dm_named_tensors *nt = src_open_file(&s, "load", path) == 0 ? st_load(&s) : NULL;
    src_close(&s);
    return nt;
}

dm_named_tensors *dm_safetensors_load_buffer(const void *data, size_t len, const char *name)
{
    src s;
    src_mem(&s, "load", data, len, name);
    if (!data && len) { src_fail(&s, "data is NULL"); return NULL; }
    return st_load(&s);
}

/* ---- writing: temp file, then rename ------------------------------------------------ */

typedef struct {
    const char *fn, *path;
    char *tmp;
    FILE *f;
} wfile;

static int wfail(wfile *w, const char *what)
{
    int err = errno;
    dm_seterr("%s: %s: %s%s%s", w->fn, w->path, what, *what ? ": " : "", strerror(err));
    return -1;
}

static int wopen(wfile *w, const char *fn, const char *path)
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

static int wwrite(wfile *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n) return wfail(w, "write failed");
    return 0;
}

static void wabort(wfile *w)
{
    if (w->f) fclose(w->f);
    if (w->tmp) remove(w->tmp);
    free(w->tmp);
    w->f = NULL;
    w->tmp = NULL;
}

static int wcommit(wfile *w)
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
static int write_elems(wfile *w, const dm_tensor *t)
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
    if (host_little_endian() || es == 1) {
        rc = wwrite(w, d, (size_t)n * es);
    } else {
        unsigned char buf[4096];
        int64_t per = (int64_t)(sizeof buf / es);
        for (int64_t i = 0; i < n && rc == 0; i += per) {
            int64_t m = n - i < per ? n - i : per;
            for (int64_t k = 0; k < m; k++)
                for (size_t b = 0; b < es; b++)
                    buf[(size_t)k * es + b] = d[(size_t)(i + k) * es + es - 1 - b];
            rc = wwrite(w, buf, (size_t)m * es);
        }
    }
    free(copy);
    return rc;
}

/* a growable string */
typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
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

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* s as a JSON string literal */
static void sb_json(sbuf *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') sb_str(b, "\\\"");
        else if (c == '\\') sb_str(b, "\\\\");
        else if (c == '\n') sb_str(b, "\\n");
        else if (c == '\t') sb_str(b, "\\t");
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_add(b, (const char *)&c, 1);
    }
    sb_str(b, "\"");
}

static int check_utf8_name(const char *fn, const char *path, const char *what, const char *s)
{
    size_t n = strlen(s);
    if (dm__utf8_valid_prefix((const unsigned char *)s, n) != n) {
        dm_seterr("%s: %s: %s is not valid UTF-8", fn, path, what);
        return -1;
    }
    return 0;
}

/* indices of n strings in byte order */
typedef struct { const char *s; int64_t i; } keyed;

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->s, ((const keyed *)b)->s);
}

static int64_t *sorted_index(char *const *strs, int64_t n)
{
    keyed *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!k || !idx) { free(k); free(idx); return NULL; }
    for (int64_t i = 0; i < n; i++) { k[i].s = strs[i]; k[i].i = i; }
    qsort(k, (size_t)n, sizeof *k, cmp_keyed);
    for (int64_t i = 0; i < n; i++) idx[i] = k[i].i;
    free(k);
    return idx;
}

int dm_safetensors_save(const char *path, const dm_named_tensors *nt)
{
    const char *fn = "save";
    char b[96];
    if (!path || !nt) { dm_seterr("save: %s is NULL", !path ? "path" : "the tensor list"); return -1; }
    for (int64_t i = 0; i < nt->count; i++) {
        if (!nt->names[i] || !nt->tensors[i]) {
            dm_seterr("save: %s: entry %lld has no %s", path, (long long)i + 1,
                      !nt->names[i] ? "name" : "tensor");
            return -1;
        }
        if (strcmp(nt->names[i], "__metadata__") == 0) {
            dm_seterr("save: %s: '__metadata__' is reserved and cannot name a tensor", path);
            return -1;
        }
        if (check_utf8_name(fn, path, "a tensor name", nt->names[i]) != 0) return -1;
    }
    for (int64_t i = 0; i < nt->meta_count; i++) {
        if (!nt->meta_keys[i] || !nt->meta_values[i]) {
            dm_seterr("save: %s: metadata entry %lld is NULL", path, (long long)i + 1);
            return -1;
        }
        if (check_utf8_name(fn, path, "a metadata key", nt->meta_keys[i]) != 0 ||
            check_utf8_name(fn, path, "a metadata value", nt->meta_values[i]) != 0)
            return -1;
    }
    int64_t *order = sorted_index(nt->names, nt->count);
    int64_t *morder = sorted_index(nt->meta_keys, nt->meta_count);
    sbuf h = { NULL, 0, 0, 0 };
    int rc = -1;
    if (!order || !morder) { dm_seterr("save: %s: out of memory", path); goto done; }
    for (int64_t i = 1; i < nt->count; i++)
        if (strcmp(nt->names[order[i]], nt->names[order[i - 1]]) == 0) {
            dm_seterr("save: %s: duplicate tensor name '%s'", path,
                      shown(nt->names[order[i]], b, sizeof b));
            goto done;
        }
    for (int64_t i = 1; i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[morder[i]], nt->meta_keys[morder[i - 1]]) == 0) {
            dm_seterr("save: %s: duplicate metadata key '%s'", path,
                      shown(nt->meta_keys[morder[i]], b, sizeof b));
            goto done;
        }
    /* the header, compact as the safetensors library writes it: metadata first, then the
       tensors in name order with their data in the same order */
    sb_str(&h, "{");
    if (nt->meta_count) {
        sb_str(&h, "\"__metadata__\":{");
        for (int64_t i = 0; i < nt->meta_count; i++) {
            if (i) sb_str(&h, ",");
            sb_json(&h, nt->meta_keys[morder[i]]);
            sb_str(&h, ":");
            sb_json(&h, nt->meta_values[morder[i]]);
        }
        sb_str(&h, "}");
    }
    int64_t off = 0;
    for (int64_t i = 0; i < nt->count; i++) {
        const dm_tensor *t = nt->tensors[order[i]];
        if (i || nt->meta_count) sb_str(&h, ",");
        sb_json(&h, nt->names[order[i]]);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) sb_printf(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        int64_t bytes = dm_numel(t) * (int64_t)dm__esize(t->dtype);
        sb_printf(&h, "],\"data_offsets\":[%lld,", (long long)off);
        sb_printf(&h, "%lld]}", (long long)(off + bytes));
        off += bytes;
    }
    sb_str(&h, "}");
    while ((8 + h.n) % 8) sb_str(&h, " ");    /* the data start 8-byte aligned */
    if (h.oom) { dm_seterr("save: %s: out of memory", path); goto done; }
    if (h.n > ST_MAX_HEADER) {
        dm_seterr("save: %s: header of %zu bytes exceeds the limit of %u bytes", path, h.n,
                  ST_MAX_HEADER);
        goto done;
    }
    unsigned char lenbuf[8];
    for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
    wfile w;
    if (wopen(&w, fn, path) != 0) goto done;
    if (wwrite(&w, lenbuf, 8) != 0 || wwrite(&w, h.p, h.n) != 0) { wabort(&w); goto done; }
    for (int64_t i = 0; i < nt->count; i++)
        if (write_elems(&w, nt->tensors[order[i]]) != 0) { wabort(&w); goto done; }
    rc = wcommit(&w);
done:
    free(order);
    free(morder);
    free(h.p);
    return rc;
}

/* ---- .npy --------------------------------------------------------------------------- */

/* The header is a Python dict literal, e.g.
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * parsed here as exactly that grammar: three keys, each once, any order. */
typedef struct {
    const unsigned char *p, *end;
    src *s;
} pyp;

static void py_ws(pyp *q)
{
    while (q->p < q->end && (*q->p == ' ' || *q->p == '\t' || *q->p == '\n' || *q->p == '\r'))
        q->p++;
}

static int py_bad(pyp *q, const char *what)
{
    return src_fail(q->s, "invalid header: %s", what);
}

/* '...' or "..." without escapes -> buf */
static int py_string(pyp *q, char *buf, size_t len, const char *what)
{
    py_ws(q);
    if (q->p >= q->end || (*q->p != '\'' && *q->p != '"')) return py_bad(q, what);
    unsigned char quote = *q->p++;
    size_t n = 0;
    while (q->p < q->end && *q->p != quote) {
        if (*q->p == '\\' || *q->p < 0x20 || *q->p >= 0x7f || n + 1 >= len)
            return py_bad(q, what);
        buf[n++] = (char)*q->p++;
    }
    if (q->p >= q->end) return py_bad(q, "unterminated string");
    q->p++;
    buf[n] = '\0';
    return 0;
}

static int py_char(pyp *q, char c)
{
    py_ws(q);
    if (q->p < q->end && *q->p == (unsigned char)c) { q->p++; return 1; }
    return 0;
}

/* (), (n,), (n, m), (n, m,) ... of non-negative integers (Python 2's 3L accepted) */
static int py_shape(pyp *q, int64_t *shape, int *ndim)
{
    if (!py_char(q, '(')) return py_bad(q, "shape must be a tuple");
    int n = 0;
    for (;;) {
        py_ws(q);
        if (q->p < q->end && *q->p == ')') { q->p++; break; }
        if (q->p < q->end && *q->p == '-') return py_bad(q, "negative size in shape");
        if (q->p >= q->end || *q->p < '0' || *q->p > '9')
            return py_bad(q, "shape must hold integers");
        uint64_t v = 0;
        while (q->p < q->end && *q->p >= '0' && *q->p <= '9') {
            unsigned d = *q->p++ - '0';
            if (v > ((uint64_t)INT64_MAX - d) / 10) return py_bad(q, "size in shape too large");
            v = v * 10 + d;
        }
        if (q->p < q->end && *q->p == 'L') q->p++;
        if (n >= DM_MAX_DIMS)
            return src_fail(q->s, "shape has more than %d dimensions", DM_MAX_DIMS);
        shape[n++] = (int64_t)v;
        if (py_char(q, ',')) continue;
        if (py_char(q, ')')) {
            if (n == 1) return py_bad(q, "shape must be a tuple");   /* (3) is an int */
            break;
        }
        return py_bad(q, "expected ',' or ')' in shape");
    }
    *ndim = n;
    return 0;
}

/* '<f4' and friends: byte order, kind, size */
static int npy_descr(src *s, const char *d, kind *k, int *size, int *big)
{
    char order = d[0], c = d[1];
    int n = 0;
    if (strlen(d) == 3 && d[2] >= '1' && d[2] <= '8') n = d[2] - '0';
    int ok = (order == '<' || order == '>' || order == '|' || order == '=') && n;
    if (ok && order == '|' && n != 1) ok = 0;
    if (ok) {
        if (c == 'f' && n == 2) *k = K_F16;
        else if (c == 'f' && n == 4) *k = K_F32;
        else if (c == 'f' && n == 8) *k = K_F64;
        else if (c == 'i' && n == 1) *k = K_I8;
        else if (c == 'i' && n == 2) *k = K_I16;
        else if (c == 'i' && n == 4) *k = K_I32;
        else if (c == 'i' && n == 8) *k = K_I64;
        else if (c == 'u' && n == 1) *k = K_U8;
        else if (c == 'u' && n == 2) *k = K_U16;
        else if (c == 'u' && n == 4) *k = K_U32;
        else if (c == 'u' && n == 8) *k = K_U64;
        else if (c == 'b' && n == 1) *k = K_BOOL;
        else ok = 0;
    }
    if (!ok) return src_fail(s, "unsupported dtype '%s'", d);
    *size = n;
    *big = order == '>' || (order == '=' && !host_little_endian());
    return 0;
}

static dm_tensor *npy_load(src *s)
{
    unsigned char pre[12];
    char descr[32] = "";
    int fortran = -1, ndim = -1;
    int64_t shape[DM_MAX_DIMS];
    if (s->size < 10) {
        src_fail(s, "file of %llu bytes is too short for a .npy header",
                 (unsigned long long)s->size);
        return NULL;
    }
    if (src_read(s, 0, pre, 10) != 0) return NULL;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) { src_fail(s, "not a .npy file (bad magic)"); return NULL; }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        src_fail(s, "unsupported .npy format version %d.%d", major, minor);
        return NULL;
    }
    uint64_t hlen, start = major == 1 ? 10 : 12;
    if (major == 1) hlen = get_uint(pre + 8, 2, 0);
    else {
        if (s->size < 12) { src_fail(s, "file of %llu bytes is too short for a .npy header",
                                     (unsigned long long)s->size); return NULL; }
        if (src_read(s, 0, pre, 12) != 0) return NULL;
        hlen = get_uint(pre + 8, 4, 0);
    }
    if (hlen > s->size - start) {
        src_fail(s, "header length %llu exceeds file size %llu", (unsigned long long)hlen,
                 (unsigned long long)s->size);
        return NULL;
    }
    if (hlen > NPY_MAX_HEADER) {
        src_fail(s, "header length %llu exceeds the limit of %u bytes",
                 (unsigned long long)hlen, NPY_MAX_HEADER);
        return NULL;
    }
    unsigned char *hdr = malloc(hlen ? (size_t)hlen : 1);
    if (!hdr) { src_fail(s, "out of memory"); return NULL; }
    if (src_read(s, start, hdr, (size_t)hlen) != 0) { free(hdr); return NULL; }
    pyp q = { hdr, hdr + hlen, s };
    int rc = 0;
    if (!py_char(&q, '{')) rc = py_bad(&q, "expected a dict");
    while (rc == 0) {
        char key[32];
        py_ws(&q);
        if (q.p < q.end && *q.p == '}') { q.p++; break; }
        if (py_string(&q, key, sizeof key, "expected a key") != 0) { rc = -1; break; }
        if (!py_char(&q, ':')) { rc = py_bad(&q, "expected ':' after a key"); break; }
        if (strcmp(key, "descr") == 0 && !descr[0]) {
            rc = py_string(&q, descr, sizeof descr, "descr must be a string like '<f4'");
            if (rc == 0 && !descr[0]) rc = py_bad(&q, "descr must be a string like '<f4'");
        } else if (strcmp(key, "fortran_order") == 0 && fortran < 0) {
            py_ws(&q);
            size_t left = (size_t)(q.end - q.p);
            if (left >= 4 && memcmp(q.p, "True", 4) == 0) { fortran = 1; q.p += 4; }
            else if (left >= 5 && memcmp(q.p, "False", 5) == 0) { fortran = 0; q.p += 5; }
            else rc = py_bad(&q, "fortran_order must be True or False");
        } else if (strcmp(key, "shape") == 0 && ndim < 0) {
            rc = py_shape(&q, shape, &ndim);
        } else {
            rc = src_fail(s, "invalid header: %s key '%s'",
                          strcmp(key, "descr") && strcmp(key, "fortran_order") &&
                          strcmp(key, "shape") ? "unexpected" : "duplicate", key);
        }
        if (rc == 0 && !py_char(&q, ',')) {
            if (py_char(&q, '}')) break;
            rc = py_bad(&q, "expected ',' or '}'");
        }
    }
    if (rc == 0) {
        py_ws(&q);
        if (q.p != q.end) rc = py_bad(&q, "unexpected data after the dict");
    }
    free(hdr);
    if (rc != 0) return NULL;
    if (!descr[0] || fortran < 0 || ndim < 0) {
        src_fail(s, "invalid header: missing '%s'",
                 !descr[0] ? "descr" : fortran < 0 ? "fortran_order" : "shape");
        return NULL;
    }
    kind k = K_F32;
    int size = 1, big = 0;
    if (npy_descr(s, descr, &k, &size, &big) != 0) return NULL;
    char sb[DM_SHAPE_BUF];
    uint64_t bound = 1, bytes = (uint64_t)size;
    for (int d = 0; d < ndim; d++) {
        uint64_t dim = (uint64_t)shape[d];
        if (dim > 1 && bound > ((uint64_t)INT64_MAX / 8) / dim) {
            src_fail(s, "shape %s is too large", dm_shape_str(ndim, shape, sb, sizeof sb));
            return NULL;
        }
        if (dim > 1) bound *= dim;
        bytes *= dim;
    }
    uint64_t data_at = start + hlen, have = s->size - data_at;
    if (have != bytes) {
        src_fail(s, "shape %s of '%s' needs %llu bytes of data, the file holds %llu",
                 dm_shape_str(ndim, shape, sb, sizeof sb), descr, (unsigned long long)bytes,
                 (unsigned long long)have);
        return NULL;
    }
    /* Fortran order: the bytes are the C-order array of the reversed shape; transposing
       that back gives the array */
    int64_t fshape[DM_MAX_DIMS];
    for (int d = 0; d < ndim; d++) fshape[d] = fortran ? shape[ndim - 1 - d] : shape[d];
    dm_tensor *t = dm_tensor_new_dtype(ndim, fshape, kind_dtype(k));
    if (!t) { src_fail(s, "%s", dm_errmsg()); return NULL; }
    if (src_read_tensor(s, data_at, k, size, big, t) != 0) { dm_tensor_release(t); return NULL; }
    if (!fortran || ndim < 2) return t;
    int64_t stride[DM_MAX_DIMS];
    for (int d = 0; d < ndim; d++) stride[d] = t->stride[ndim - 1 - d];
    dm_tensor *view = dm_tensor_alias(t, ndim, shape, stride, 0);
    dm_tensor *c = view ? dm_tensor_new_dtype(ndim, shape, t->dtype) : NULL;
    if (c) dm__copy_convert(c, view);
    else src_fail(s, "%s", dm_errmsg());
    dm_tensor_release(view);
    dm_tensor_release(t);
    return c;
}

dm_tensor *dm_npy_load(const char *path)
{
    src s;
    if (!path) { dm_seterr("load_npy: path is NULL"); return NULL; }
    dm_tensor *t = src_open_file(&s, "load_npy", path) == 0 ? npy_load(&s) : NULL;
    src_close(&s);
    return t;
}

dm_tensor *dm_npy_load_buffer(const void *data, size_t len, const char *name)
{
    src s;
    src_mem(&s, "load_npy", data, len, name);
    if (!data && len) { src_fail(&s, "data is NULL"); return NULL; }
    return npy_load(&s);
}

int dm_npy_save(const char *path, const dm_tensor *t)
{
    if (!path || !t) { dm_seterr("save_npy: %s is NULL", !path ? "path" : "tensor"); return -1; }
    sbuf h = { NULL, 0, 0, 0 };
    sb_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) sb_printf(&h, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    sb_str(&h, t->ndim == 1 ? ",), }" : "), }");
    /* numpy pads with spaces so that the data start at a multiple of 64, then '\n' */
    while ((10 + h.n + 1) % 64) sb_str(&h, " ");
    sb_str(&h, "\n");
    if (h.oom) { free(h.p); dm_seterr("save_npy: %s: out of memory", path); return -1; }
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                              (unsigned char)(h.n & 0xff), (unsigned char)(h.n >> 8) };
    wfile w;
    int rc = -1;
    if (wopen(&w, "save_npy", path) == 0) {
        if (wwrite(&w, pre, 10) != 0 || wwrite(&w, h.p, h.n) != 0 || write_elems(&w, t) != 0)
            wabort(&w);
        else
            rc = wcommit(&w);
    }
    free(h.p);
    return rc;
}

int dm_named_tensors_to_dtype(dm_named_tensors *nt, dm_dtype dt, int floating_only)
{
    for (int64_t i = 0; i < nt->count; i++) {
        dm_tensor *t = nt->tensors[i];
        if (t->dtype == dt || (floating_only && !dm_is_floating(t->dtype))) continue;
        dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, dt);
        if (!c) return -1;
        dm__copy_convert(c, t);
        nt->tensors[i] = c;
        dm_tensor_release(t);
    }
    return 0;
}
