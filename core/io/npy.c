/* npy.c -- one tensor to and from NumPy's .npy files (format versions 1.0 to 3.0; C or
 * Fortran order).  The reading and writing it shares with safetensors is in bytes.c (bytes.h
 * says how a reader treats the bytes and which element types load as which dtype). */
#include "bytes.h"
#include <stdint.h>

#define NPY_MAX_HEADER (1u << 20)   /* numpy writes a few hundred bytes */

/* the file's name of one of our dtypes: numpy's */
static const char *npy_name(dm_dtype dt)
{
    static const char *const n[DM_NDTYPES] = { "<f4", "<f8", "<i8", "|u1", "|b1" };
    return n[dt];
}

/* The header is a Python dict literal, e.g.
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * parsed here as exactly that grammar: three keys, each once, any order. */
typedef struct {
    const unsigned char *p, *end;
    dm__src *s;
} pyp;

static void py_ws(pyp *q)
{
    while (q->p < q->end && (*q->p == ' ' || *q->p == '\t' || *q->p == '\n' || *q->p == '\r'))
        q->p++;
}

static int py_bad(pyp *q, const char *what)
{
    return dm__src_fail(q->s, "invalid header: %s", what);
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
            return dm__src_fail(q->s, "shape has more than %d dimensions", DM_MAX_DIMS);
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
static int npy_descr(dm__src *s, const char *d, dm__kind *k, int *size, int *big)
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
    if (!ok) return dm__src_fail(s, "unsupported dtype '%s'", d);
    *size = n;
    *big = order == '>' || (order == '=' && !dm__host_little_endian());
    return 0;
}

static dm_tensor *npy_load(dm__src *s)
{
    unsigned char pre[12];
    char descr[32] = "";
    int fortran = -1, ndim = -1;
    int64_t shape[DM_MAX_DIMS];
    if (s->size < 10) {
        dm__src_fail(s, "file of %llu bytes is too short for a .npy header",
                     (unsigned long long)s->size);
        return NULL;
    }
    if (dm__src_read(s, 0, pre, 10) != 0) return NULL;
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        dm__src_fail(s, "not a .npy file (bad magic)");
        return NULL;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        dm__src_fail(s, "unsupported .npy format version %d.%d", major, minor);
        return NULL;
    }
    uint64_t hlen, start = major == 1 ? 10 : 12;
    if (major == 1) hlen = dm__get_uint(pre + 8, 2, 0);
    else {
        if (s->size < 12) { dm__src_fail(s, "file of %llu bytes is too short for a .npy header",
                                         (unsigned long long)s->size); return NULL; }
        if (dm__src_read(s, 0, pre, 12) != 0) return NULL;
        hlen = dm__get_uint(pre + 8, 4, 0);
    }
    if (hlen > s->size - start) {
        dm__src_fail(s, "header length %llu exceeds file size %llu", (unsigned long long)hlen,
                     (unsigned long long)s->size);
        return NULL;
    }
    if (hlen > NPY_MAX_HEADER) {
        dm__src_fail(s, "header length %llu exceeds the limit of %u bytes",
                     (unsigned long long)hlen, NPY_MAX_HEADER);
        return NULL;
    }
    unsigned char *hdr = malloc(hlen ? (size_t)hlen : 1);
    if (!hdr) { dm__src_fail(s, "out of memory"); return NULL; }
    if (dm__src_read(s, start, hdr, (size_t)hlen) != 0) { free(hdr); return NULL; }
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
            rc = dm__src_fail(s, "invalid header: %s key '%s'",
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
        dm__src_fail(s, "invalid header: missing '%s'",
                     !descr[0] ? "descr" : fortran < 0 ? "fortran_order" : "shape");
        return NULL;
    }
    dm__kind k = K_F32;
    int size = 1, big = 0;
    if (npy_descr(s, descr, &k, &size, &big) != 0) return NULL;
    char sb[DM_SHAPE_BUF];
    uint64_t bound = 1, bytes = (uint64_t)size;
    for (int d = 0; d < ndim; d++) {
        uint64_t dim = (uint64_t)shape[d];
        if (dim > 1 && bound > ((uint64_t)INT64_MAX / 8) / dim) {
            dm__src_fail(s, "shape %s is too large", dm_shape_str(ndim, shape, sb, sizeof sb));
            return NULL;
        }
        if (dim > 1) bound *= dim;
        bytes *= dim;
    }
    uint64_t data_at = start + hlen, have = s->size - data_at;
    if (have != bytes) {
        dm__src_fail(s, "shape %s of '%s' needs %llu bytes of data, the file holds %llu",
                     dm_shape_str(ndim, shape, sb, sizeof sb), descr, (unsigned long long)bytes,
                     (unsigned long long)have);
        return NULL;
    }
    /* Fortran order: the bytes are the C-order array of the reversed shape; transposing
       that back gives the array */
    int64_t fshape[DM_MAX_DIMS];
    for (int d = 0; d < ndim; d++) fshape[d] = fortran ? shape[ndim - 1 - d] : shape[d];
    dm_tensor *t = dm_tensor_new_dtype(ndim, fshape, dm__kind_dtype(k));
    if (!t) { dm__src_fail(s, "%s", dm_errmsg()); return NULL; }
    if (dm__src_read_tensor(s, data_at, k, size, big, t) != 0) {
        dm_tensor_release(t);
        return NULL;
    }
    if (!fortran || ndim < 2) return t;
    int64_t stride[DM_MAX_DIMS];
    for (int d = 0; d < ndim; d++) stride[d] = t->stride[ndim - 1 - d];
    dm_tensor *view = dm_tensor_alias(t, ndim, shape, stride, 0);
    dm_tensor *c = view ? dm_tensor_new_dtype(ndim, shape, t->dtype) : NULL;
    if (c) dm__copy_convert(c, view);
    else dm__src_fail(s, "%s", dm_errmsg());
    dm_tensor_release(view);
    dm_tensor_release(t);
    return c;
}

dm_tensor *dm_npy_load(const char *path)
{
    dm__src s;
    if (!path) { dm_seterr("load_npy: path is NULL"); return NULL; }
    dm_tensor *t = dm__src_open_file(&s, "load_npy", path) == 0 ? npy_load(&s) : NULL;
    dm__src_close(&s);
    return t;
}

dm_tensor *dm_npy_load_buffer(const void *data, size_t len, const char *name)
{
    dm__src s;
    dm__src_mem(&s, "load_npy", data, len, name);
    if (!data && len) { dm__src_fail(&s, "data is NULL"); return NULL; }
    return npy_load(&s);
}

int dm_npy_save(const char *path, const dm_tensor *t)
{
    if (!path || !t) { dm_seterr("save_npy: %s is NULL", !path ? "path" : "tensor"); return -1; }
    dm__sbuf h = { NULL, 0, 0, 0 };
    dm__sb_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        dm__sb_printf(&h, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    dm__sb_str(&h, t->ndim == 1 ? ",), }" : "), }");
    /* numpy pads with spaces so that the data start at a multiple of 64, then '\n' */
    while ((10 + h.n + 1) % 64) dm__sb_str(&h, " ");
    dm__sb_str(&h, "\n");
    if (h.oom) { free(h.p); dm_seterr("save_npy: %s: out of memory", path); return -1; }
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                              (unsigned char)(h.n & 0xff), (unsigned char)(h.n >> 8) };
    dm__wfile w;
    int rc = -1;
    if (dm__wopen(&w, "save_npy", path) == 0) {
        if (dm__wwrite(&w, pre, 10) != 0 || dm__wwrite(&w, h.p, h.n) != 0 ||
            dm__write_elems(&w, t) != 0)
            dm__wabort(&w);
        else
            rc = dm__wcommit(&w);
    }
    free(h.p);
    return rc;
}
