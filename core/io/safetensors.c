/* safetensors.c -- named tensors + string metadata to and from safetensors files, the
 * format PyTorch and Hugging Face exchange weights in.  The reading and writing they share
 * with .npy is in bytes.c (bytes.h says how a reader treats the bytes and which element
 * types load as which dtype); the header JSON is parsed by a strict, schema-directed parser
 * below (no recursion, no general-purpose JSON library).
 *
 * Safetensors layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON (an object: tensor
 * name -> {"dtype", "shape", "data_offsets": [begin, end]}, optional "__metadata__": string
 * map; space padded), then the data buffer.  Offsets are relative to the buffer and must
 * tile it exactly: sorted by offset, each tensor starts where the previous one ended, the
 * first at 0, the last ends at the buffer's end.  Data are row-major little-endian. */
#include "bytes.h"
#include <stdio.h>

#define ST_MAX_HEADER 100000000u    /* the safetensors crate's limit: 100 MB */

typedef struct { const char *name; int size; dm__kind k; } dtype_info;

static const dtype_info st_dtypes[] = {
    { "F32", 4, K_F32 }, { "F16", 2, K_F16 }, { "BF16", 2, K_BF16 }, { "F64", 8, K_F64 },
    { "I64", 8, K_I64 }, { "I32", 4, K_I32 }, { "I16", 2, K_I16 }, { "I8", 1, K_I8 },
    { "U8", 1, K_U8 }, { "U16", 2, K_U16 }, { "U32", 4, K_U32 }, { "U64", 8, K_U64 },
    { "BOOL", 1, K_BOOL },
};

/* the file's name of one of our dtypes: safetensors' */
static const char *st_name(dm_dtype dt)
{
    static const char *const n[DM_NDTYPES] = { "F32", "F64", "I64", "U8", "BOOL" };
    return n[dt];
}

/* ---- the header JSON ---------------------------------------------------------------- */

typedef struct {
    const unsigned char *beg, *p, *end;
    dm__src *s;
} jp;

static int jfail(jp *j, const char *what)
{
    if (j->p >= j->end)
        return dm__src_fail(j->s, "invalid header JSON: unexpected end of header (%s)", what);
    return dm__src_fail(j->s, "invalid header JSON at byte %zu: %s", (size_t)(j->p - j->beg), what);
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
    if (!out) { dm__src_fail(j->s, "out of memory"); return NULL; }
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
        return dm__src_fail(j->s, "%s holds a negative number %.*s%s", what, len,
                            (const char *)start, more);
    if (!integral)
        return dm__src_fail(j->s, "%s holds %.*s%s, not an integer", what, len, (const char *)start,
                            more);
    if (overflow)
        return dm__src_fail(j->s, "%s holds %.*s%s, too large", what, len, (const char *)start,
                            more);
    *out = (int64_t)v;
    return 0;
}

/* [n, n, ...] of at most max non-negative integers; returns the count or -1 */
static int juint_array(jp *j, int64_t *out, int max, const char *what, const char *toomany)
{
    if (jpeek(j) != '[') {
        return dm__src_fail(j->s, "%s must be an array", what);
    }
    j->p++;
    int n = 0;
    if (jpeek(j) == ']') { j->p++; return 0; }
    for (;;) {
        int64_t v = 0;
        if (juint(j, &v, what) != 0) return -1;
        if (n >= max) return dm__src_fail(j->s, "%s %s", what, toomany);
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
    const char *name = dm__shown(e->name, nb, sizeof nb);
    int seen = 0;
    if (jpeek(j) != '{')
        return dm__src_fail(j->s, "tensor '%s': expected an object with dtype, shape and "
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
            dm__src_fail(j->s, "tensor '%s': %s field '%s'", name, bit ? "duplicate" : "unknown",
                         dm__shown(field, fb, sizeof fb));
            free(field);
            return -1;
        }
        free(field);
        seen |= bit;
        if (jexpect(j, ':', "expected ':' after a field name") != 0) return -1;
        if (bit == 1) {
            if (jpeek(j) != '"')
                return dm__src_fail(j->s, "tensor '%s': dtype must be a string", name);
            char *dt = jstring(j, "expected a string");
            if (!dt) return -1;
            for (size_t k = 0; k < sizeof st_dtypes / sizeof *st_dtypes; k++)
                if (strcmp(dt, st_dtypes[k].name) == 0) e->dt = &st_dtypes[k];
            if (!e->dt) {
                char db[96];
                dm__src_fail(j->s, "unsupported dtype '%s' for tensor '%s'",
                             dm__shown(dt, db, sizeof db), name);
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
            if (n != 2) return dm__src_fail(j->s, "%s must hold 2 numbers", what);
            e->begin = off[0];
            e->end = off[1];
        }
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; break; }
        return jfail(j, "expected ',' or '}' in an object");
    }
    if ((seen & 7) != 7)
        return dm__src_fail(j->s, "tensor '%s': missing '%s'", name,
                            !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
    return 0;
}

/* {"key": "value", ...} into nt's metadata (duplicates are found later) */
static int parse_metadata(jp *j, dm_named_tensors *nt)
{
    if (jpeek(j) != '{') return dm__src_fail(j->s, "__metadata__ must be an object of strings");
    j->p++;
    if (jpeek(j) == '}') { j->p++; return 0; }
    for (;;) {
        char *k = jstring(j, "expected a metadata key");
        if (!k) return -1;
        if (jexpect(j, ':', "expected ':' after a key") != 0) { free(k); return -1; }
        if (jpeek(j) != '"') {
            char kb[96];
            dm__src_fail(j->s, "__metadata__ value for '%s' must be a string",
                         dm__shown(k, kb, sizeof kb));
            free(k);
            return -1;
        }
        char *v = jstring(j, "expected a string");
        if (!v) { free(k); return -1; }
        if (dm__meta_append(nt, k, v) != 0) {
            free(k);
            free(v);
            return dm__src_fail(j->s, "out of memory");
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
            if (have_meta) return dm__src_fail(j->s, "duplicate key '__metadata__'");
            have_meta = 1;
            if (parse_metadata(j, nt) != 0) return -1;
        } else {
            if (dm__grow(&es->e, &es->cap, es->n + 1, sizeof *es->e) != 0) {
                free(key);
                return dm__src_fail(j->s, "out of memory");
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
static int check_duplicates(dm__src *s, entries *es, dm_named_tensors *nt)
{
    char b[96];
    if (es->n > 1) {
        const entry **by = malloc((size_t)es->n * sizeof *by);
        if (!by) return dm__src_fail(s, "out of memory");
        for (int64_t i = 0; i < es->n; i++) by[i] = &es->e[i];
        qsort(by, (size_t)es->n, sizeof *by, cmp_entry_name);
        for (int64_t i = 1; i < es->n; i++)
            if (strcmp(by[i]->name, by[i - 1]->name) == 0) {
                dm__src_fail(s, "duplicate tensor name '%s'", dm__shown(by[i]->name, b, sizeof b));
                free(by);
                return -1;
            }
        free(by);
    }
    if (nt->meta_count > 1) {
        char **keys = malloc((size_t)nt->meta_count * sizeof *keys);
        if (!keys) return dm__src_fail(s, "out of memory");
        memcpy(keys, nt->meta_keys, (size_t)nt->meta_count * sizeof *keys);
        qsort(keys, (size_t)nt->meta_count, sizeof *keys, cmp_str);
        for (int64_t i = 1; i < nt->meta_count; i++)
            if (strcmp(keys[i], keys[i - 1]) == 0) {
                dm__src_fail(s, "duplicate metadata key '%s'", dm__shown(keys[i], b, sizeof b));
                free(keys);
                return -1;
            }
        free(keys);
    }
    return 0;
}

/* each entry's byte size matches its shape and dtype; the entries tile [0, datalen) */
static int check_layout(dm__src *s, entries *es, uint64_t datalen)
{
    char b[96], b2[96], sb[DM_SHAPE_BUF];
    for (int64_t i = 0; i < es->n; i++) {
        entry *e = &es->e[i];
        const char *name = dm__shown(e->name, b, sizeof b);
        /* numel * itemsize without overflow; zero-size dims count as 1 here so that a huge
           dim next to a 0 cannot produce strides that overflow later */
        uint64_t bound = 1, bytes = (uint64_t)e->dt->size;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t dim = (uint64_t)e->shape[d];
            if (dim > 1 && bound > ((uint64_t)INT64_MAX / 8) / dim)
                return dm__src_fail(s, "tensor '%s': shape %s is too large", name,
                                    dm_shape_str(e->ndim, e->shape, sb, sizeof sb));
            if (dim > 1) bound *= dim;
            bytes *= dim;
        }
        if (e->end < e->begin)
            return dm__src_fail(s, "tensor '%s': data_offsets [%lld, %lld] end before they begin",
                                name, (long long)e->begin, (long long)e->end);
        if ((uint64_t)e->end > datalen)
            return dm__src_fail(s, "tensor '%s': data_offsets [%lld, %lld] exceed the data size "
                                "%llu", name, (long long)e->begin, (long long)e->end,
                                (unsigned long long)datalen);
        if ((uint64_t)(e->end - e->begin) != bytes)
            return dm__src_fail(s, "tensor '%s': shape %s of %s needs %llu bytes, data_offsets "
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
            return dm__src_fail(s, "tensors '%s' and '%s' overlap",
                                dm__shown(es->e[i - 1].name, b2, sizeof b2),
                                dm__shown(e->name, b, sizeof b));
        if (e->begin > at) {
            if (i == 0)
                return dm__src_fail(s, "hole of %lld bytes before tensor '%s'", (long long)e->begin,
                                    dm__shown(e->name, b, sizeof b));
            return dm__src_fail(s, "hole of %lld bytes between tensors '%s' and '%s'",
                                (long long)(e->begin - at),
                                dm__shown(es->e[i - 1].name, b2, sizeof b2),
                                dm__shown(e->name, b, sizeof b));
        }
        at = e->end;
    }
    if ((uint64_t)at != datalen)
        return dm__src_fail(s, "%llu bytes of data after the last tensor",
                            (unsigned long long)(datalen - (uint64_t)at));
    return 0;
}

static dm_named_tensors *st_load(dm__src *s)
{
    unsigned char lenbuf[8];
    dm_named_tensors *nt = NULL;
    entries es = { NULL, 0, 0 };
    unsigned char *hdr = NULL;
    if (s->size < 8) {
        dm__src_fail(s, "file of %llu bytes is too short for a safetensors header",
                     (unsigned long long)s->size);
        goto fail;
    }
    if (dm__src_read(s, 0, lenbuf, 8) != 0) goto fail;
    uint64_t hlen = dm__get_uint(lenbuf, 8, 0);
    if (hlen > s->size - 8) {
        dm__src_fail(s, "header length %llu exceeds file size %llu", (unsigned long long)hlen,
                     (unsigned long long)s->size);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        dm__src_fail(s, "header length %llu exceeds the limit of %u bytes",
                     (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    hdr = malloc(hlen ? (size_t)hlen : 1);
    if (!hdr) { dm__src_fail(s, "out of memory"); goto fail; }
    if (dm__src_read(s, 8, hdr, (size_t)hlen) != 0) goto fail;
    size_t bad = dm__utf8_valid_prefix(hdr, (size_t)hlen);
    if (bad != hlen) {
        dm__src_fail(s, "header is not valid UTF-8 (byte %zu)", bad);
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
        dm_tensor *t = dm_tensor_new_dtype(e->ndim, e->shape, dm__kind_dtype(e->dt->k));
        if (!t) { dm__src_fail(s, "%s", dm_errmsg()); goto fail; }
        if (dm__src_read_tensor(s, data_at + (uint64_t)e->begin, e->dt->k, e->dt->size, 0, t)) {
            dm_tensor_release(t);
            goto fail;
        }
        if (dm__named_append(nt, e->name, t) != 0) {
            dm_tensor_release(t);
            dm__src_fail(s, "out of memory");
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
    dm__src s;
    if (!path) { dm_seterr("load: path is NULL"); return NULL; }
    dm_named_tensors *nt = dm__src_open_file(&s, "load", path) == 0 ? st_load(&s) : NULL;
    dm__src_close(&s);
    return nt;
}

dm_named_tensors *dm_safetensors_load_buffer(const void *data, size_t len, const char *name)
{
    dm__src s;
    dm__src_mem(&s, "load", data, len, name);
    if (!data && len) { dm__src_fail(&s, "data is NULL"); return NULL; }
    return st_load(&s);
}

/* ---- writing ------------------------------------------------------------------------ */

/* s as a JSON string literal */
static void sb_json(dm__sbuf *b, const char *s)
{
    dm__sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') dm__sb_str(b, "\\\"");
        else if (c == '\\') dm__sb_str(b, "\\\\");
        else if (c == '\n') dm__sb_str(b, "\\n");
        else if (c == '\t') dm__sb_str(b, "\\t");
        else if (c < 0x20) dm__sb_printf(b, "\\u%04x", c);
        else dm__sb_add(b, (const char *)&c, 1);
    }
    dm__sb_str(b, "\"");
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
    dm__sbuf h = { NULL, 0, 0, 0 };
    int rc = -1;
    if (!order || !morder) { dm_seterr("save: %s: out of memory", path); goto done; }
    for (int64_t i = 1; i < nt->count; i++)
        if (strcmp(nt->names[order[i]], nt->names[order[i - 1]]) == 0) {
            dm_seterr("save: %s: duplicate tensor name '%s'", path,
                      dm__shown(nt->names[order[i]], b, sizeof b));
            goto done;
        }
    for (int64_t i = 1; i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[morder[i]], nt->meta_keys[morder[i - 1]]) == 0) {
            dm_seterr("save: %s: duplicate metadata key '%s'", path,
                      dm__shown(nt->meta_keys[morder[i]], b, sizeof b));
            goto done;
        }
    /* the header, compact as the safetensors library writes it: metadata first, then the
       tensors in name order with their data in the same order */
    dm__sb_str(&h, "{");
    if (nt->meta_count) {
        dm__sb_str(&h, "\"__metadata__\":{");
        for (int64_t i = 0; i < nt->meta_count; i++) {
            if (i) dm__sb_str(&h, ",");
            sb_json(&h, nt->meta_keys[morder[i]]);
            dm__sb_str(&h, ":");
            sb_json(&h, nt->meta_values[morder[i]]);
        }
        dm__sb_str(&h, "}");
    }
    int64_t off = 0;
    for (int64_t i = 0; i < nt->count; i++) {
        const dm_tensor *t = nt->tensors[order[i]];
        if (i || nt->meta_count) dm__sb_str(&h, ",");
        sb_json(&h, nt->names[order[i]]);
        dm__sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            dm__sb_printf(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        int64_t bytes = dm_numel(t) * (int64_t)dm__esize(t->dtype);
        dm__sb_printf(&h, "],\"data_offsets\":[%lld,", (long long)off);
        dm__sb_printf(&h, "%lld]}", (long long)(off + bytes));
        off += bytes;
    }
    dm__sb_str(&h, "}");
    while ((8 + h.n) % 8) dm__sb_str(&h, " ");    /* the data start 8-byte aligned */
    if (h.oom) { dm_seterr("save: %s: out of memory", path); goto done; }
    if (h.n > ST_MAX_HEADER) {
        dm_seterr("save: %s: header of %zu bytes exceeds the limit of %u bytes", path, h.n,
                  ST_MAX_HEADER);
        goto done;
    }
    unsigned char lenbuf[8];
    for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
    dm__wfile w;
    if (dm__wopen(&w, fn, path) != 0) goto done;
    if (dm__wwrite(&w, lenbuf, 8) != 0 || dm__wwrite(&w, h.p, h.n) != 0) {
        dm__wabort(&w);
        goto done;
    }
    for (int64_t i = 0; i < nt->count; i++)
        if (dm__write_elems(&w, nt->tensors[order[i]]) != 0) { dm__wabort(&w); goto done; }
    rc = dm__wcommit(&w);
done:
    free(order);
    free(morder);
    free(h.p);
    return rc;
}
