/* idx.c -- IDX files, the format MNIST is distributed in (Y. LeCun's train-images-idx3-ubyte).
 *
 * Layout: two zero bytes, a type byte, a dimension count byte, that many big-endian uint32
 * sizes, then the elements big-endian in row-major order.  Types: 0x08 uint8, 0x09 int8,
 * 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64; they load as uint8, int64 (the three
 * signed integers: exact), float32 and float64.
 *
 * A file whose name ends in ".gz" or which starts with gzip's magic (1f 8b) is read through
 * zlib.  Every byte is hostile: the whole (decompressed) file is read into memory first, and
 * nothing in the header becomes a size before it has been checked against the bytes actually
 * there, so a lying header never causes a large allocation: plain files are read at their
 * size, gzip streams grow a buffer as data arrive and stop one byte past what the header
 * asks for.  Failures leave "read_idx: <path>: <problem>". */
#include "internal.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_PLAIN ((uint64_t)1 << 40)     /* sanity bound on any buffer we grow */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* the element size and our dtype for an IDX type byte; 0 when unknown */
static size_t idx_type(int code, dm_dtype *dt)
{
    switch (code) {
    case 0x08: *dt = DM_UINT8; return 1;
    case 0x09: *dt = DM_INT64; return 1;
    case 0x0B: *dt = DM_INT64; return 2;
    case 0x0C: *dt = DM_INT64; return 4;
    case 0x0D: *dt = DM_FLOAT32; return 4;
    case 0x0E: *dt = DM_FLOAT64; return 8;
    default: return 0;
    }
}

/* Checks the header in buf[0..len): 0 and the geometry when it is whole and valid, 1 when
   more bytes are needed to tell (only when !complete), -1 after dm_seterr. */
static int idx_header(const unsigned char *buf, size_t len, const char *name, int complete,
                      int *ndim, int64_t *shape, dm_dtype *dt, size_t *esize,
                      uint64_t *hdr, uint64_t *nbytes)
{
    if (len < 4) {
        if (!complete) return 1;
        dm_seterr("read_idx: %s: too short for an IDX header (%zu bytes)", name, len);
        return -1;
    }
    if (buf[0] != 0 || buf[1] != 0) {
        dm_seterr("read_idx: %s: bad magic %02x %02x (an IDX file starts with two zero bytes)",
                  name, buf[0], buf[1]);
        return -1;
    }
    *esize = idx_type(buf[2], dt);
    if (!*esize) {
        dm_seterr("read_idx: %s: unknown element type 0x%02x", name, buf[2]);
        return -1;
    }
    int nd = buf[3];
    if (nd == 0 || nd > DM_MAX_DIMS) {
        dm_seterr("read_idx: %s: %d dimensions (1 to %d are supported)", name, nd, DM_MAX_DIMS);
        return -1;
    }
    *hdr = 4 + 4 * (uint64_t)nd;
    if (len < *hdr) {
        if (!complete) return 1;
        dm_seterr("read_idx: %s: header truncated (%d dimensions need %llu bytes, file has %zu)",
                  name, nd, (unsigned long long)*hdr, len);
        return -1;
    }
    uint64_t n = *esize;
    int zero = 0;
    for (int d = 0; d < nd; d++) {
        uint32_t s = be32(buf + 4 + 4 * d);
        shape[d] = s;
        if (s == 0) zero = 1;
        else if (!zero && n > (UINT64_MAX >> 1) / s) {
            dm_seterr("read_idx: %s: sizes overflow (their product is too large)", name);
            return -1;
        }
        if (!zero) n *= s;
    }
    *ndim = nd;
    *nbytes = zero ? 0 : n;
    return 0;
}

/* zlib's gzerror text without the "<path>: " it puts in front (our message has the path) */
static const char *gz_msg(const char *msg, const char *path, const char *dflt)
{
    if (!msg || !*msg) return dflt;
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return *msg ? msg : dflt;
}

/* the whole file (decompressed when gzipped) into a malloc'd buffer; -1 after dm_seterr */
static int read_all(const char *path, unsigned char **out, size_t *outlen)
{
    int err;
    FILE *f = fopen(path, "rb");
    if (!f) {
        dm_seterr("read_idx: %s: cannot open file (%s)", path, strerror(errno));
        return -1;
    }
    unsigned char magic[2] = { 0, 0 };
    errno = 0;
    size_t m = fread(magic, 1, 2, f);
    size_t plen = strlen(path);
    int gz = (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
             || (plen >= 3 && strcmp(path + plen - 3, ".gz") == 0);
    if (!gz) {
        if (fseek(f, 0, SEEK_END) != 0) goto io_error;
        long sz = ftell(f);
        if (sz < 0 || (uint64_t)sz > IDX_MAX_PLAIN || fseek(f, 0, SEEK_SET) != 0) goto io_error;
        unsigned char *buf = malloc(sz ? (size_t)sz : 1);
        if (!buf) { fclose(f); dm_seterr("read_idx: %s: out of memory", path); return -1; }
        if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) { free(buf); goto io_error; }
        fclose(f);
        *out = buf;
        *outlen = (size_t)sz;
        return 0;
    }
    fclose(f);
    gzFile g = gzopen(path, "rb");
    if (!g) { dm_seterr("read_idx: %s: cannot open file", path); return -1; }
    size_t cap = 1 << 16, len = 0;
    uint64_t limit = UINT64_MAX;      /* known once the header is in: its size + data + 1 */
    unsigned char *buf = malloc(cap);
    if (!buf) goto gz_oom;
    for (;;) {
        if (limit == UINT64_MAX) {
            int nd; int64_t shape[DM_MAX_DIMS]; dm_dtype dt; size_t es; uint64_t hdr, nb;
            int rc = idx_header(buf, len, path, 0, &nd, shape, &dt, &es, &hdr, &nb);
            if (rc < 0) goto gz_fail;
            if (rc == 0) limit = hdr + nb + 1;
        }
        if (len >= limit) break;
        if (len == cap) {
            if (cap >= IDX_MAX_PLAIN) { dm_seterr("read_idx: %s: file too large", path);
                                        goto gz_fail; }
            size_t ncap = cap * 2;
            if (limit != UINT64_MAX && ncap > limit) ncap = (size_t)limit;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) goto gz_oom;
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len;
        if (limit != UINT64_MAX && want > limit - len) want = (size_t)(limit - len);
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(g, buf + len, (unsigned)want);
        if (got <= 0) {
            /* 0 is the end of the stream, or one cut short (zlib's Z_BUF_ERROR) */
            int zerr;
            const char *msg = gzerror(g, &zerr);
            if (got < 0 || zerr != Z_OK) {
                dm_seterr("read_idx: %s: corrupt gzip stream (%s)", path,
                          gz_msg(msg, path, got < 0 ? "read error" : "unexpected end of file"));
                goto gz_fail;
            }
            break;
        }
        len += (size_t)got;
    }
    gzclose(g);
    *out = buf;
    *outlen = len;
    return 0;
gz_oom:
    dm_seterr("read_idx: %s: out of memory", path);
gz_fail:
    free(buf);
    gzclose(g);
    return -1;
io_error:
    err = errno;
    fclose(f);
    dm_seterr("read_idx: %s: read error (%s)", path, strerror(err ? err : EIO));
    return -1;
}

dm_tensor *dm_idx_load_buffer(const void *data, size_t len, const char *name)
{
    if (!name) name = "<buffer>";
    if (!data && len) { dm_seterr("read_idx: %s: data is NULL", name); return NULL; }
    const unsigned char *buf = data;
    int nd; int64_t shape[DM_MAX_DIMS]; dm_dtype dt; size_t es; uint64_t hdr, nb;
    if (idx_header(buf, len, name, 1, &nd, shape, &dt, &es, &hdr, &nb) != 0) return NULL;
    if (len - hdr < nb) {
        char s[160];
        dm_seterr("read_idx: %s: truncated data (shape %s of %zu-byte elements needs %llu bytes, "
                  "file has %llu)", name, dm_shape_str(nd, shape, s, sizeof s), es,
                  (unsigned long long)nb, (unsigned long long)(len - hdr));
        return NULL;
    }
    if (len - hdr > nb) {     /* a gzip stream is read only one byte past, so no count */
        char s[160];
        dm_seterr("read_idx: %s: more data than shape %s needs (%llu bytes)", name,
                  dm_shape_str(nd, shape, s, sizeof s), (unsigned long long)nb);
        return NULL;
    }
    dm_tensor *t = dm_tensor_new_dtype(nd, shape, dt);
    if (!t) return NULL;
    const unsigned char *p = buf + hdr;
    size_t n = (size_t)(nb / es);
    void *out = dm_data_ptr(t);
    switch (buf[2]) {
    case 0x08: if (n) memcpy(out, p, n); break;
    case 0x09: for (size_t i = 0; i < n; i++) ((int64_t *)out)[i] = (int8_t)p[i]; break;
    case 0x0B:
        for (size_t i = 0; i < n; i++)
            ((int64_t *)out)[i] = (int16_t)(uint16_t)(p[2 * i] << 8 | p[2 * i + 1]);
        break;
    case 0x0C:
        for (size_t i = 0; i < n; i++) ((int64_t *)out)[i] = (int32_t)be32(p + 4 * i);
        break;
    case 0x0D:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = be32(p + 4 * i);
            memcpy((float *)out + i, &u, 4);
        }
        break;
    case 0x0E:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)be32(p + 8 * i) << 32 | be32(p + 8 * i + 4);
            memcpy((double *)out + i, &u, 8);
        }
        break;
    }
    return t;
}

dm_tensor *dm_idx_load(const char *path)
{
    if (!path) { dm_seterr("read_idx: path is NULL"); return NULL; }
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_all(path, &buf, &len) != 0) return NULL;
    dm_tensor *t = dm_idx_load_buffer(buf, len, path);
    free(buf);
    return t;
}
