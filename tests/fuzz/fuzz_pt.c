/* fuzz_pt.c -- libFuzzer target for deepmoon's PyTorch checkpoint reader (core/io/pt.c, pickle.c,
 * zip.c), through the entry points the Lua binding (bindings/pt.c) uses: dm_pt_load_buffer
 * and dm_pt_load.
 *
 * Every input is read from memory and from a file.  Whatever the bytes, the reader must
 * return a document or NULL with a message naming the file ("load: fuzz: ...", "load:
 * <path>: ..."), never crash, read out of bounds (ASan) or leak (LeakSanitizer, and the live
 * tensor and byte counters back at zero).  Both reads must agree.  A document that loads is
 * walked from its root (cycles through the memo followed once): every value is well formed
 * and every tensor's values are read to the last element.  Where the saver can write it (no
 * object without a value, UTF-8 strings, no cycle, not deeper than 200, not too large once
 * shared values are written out once per use), it is saved with dm_pt_save and loaded back,
 * and must come back the same tree (kinds, numbers bit for bit, strings, tensors' dtypes,
 * shapes and values).
 *
 * Build and run with tests/fuzz/run.sh (FUZZ_TARGET=pt) or `make fuzz-files` (see
 * tests/fuzz/README).  Built with -DFUZZ_CLASSIFY instead, it is a plain program that prints,
 * for each file named on the command line, the reader's message (or OK). */
#define _POSIX_C_SOURCE 200809L
#include "../../core/internal.h"   /* the core's UTF-8 check */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpfile_path[256], outfile_path[300];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_pt: %s (last message: %s)\n", what, dm_errmsg());
    abort();
}

static const char *scratch(void)
{
    if (!tmpfile_path[0]) {
        /* tmpfs where there is one: the writer fsyncs, which is slow on a disk */
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmpfile_path, sizeof tmpfile_path, "%s/dm_fuzz_pt_%ld.pt", dir, (long)getpid());
        snprintf(outfile_path, sizeof outfile_path, "%s.out.pt", tmpfile_path);
    }
    return tmpfile_path;
}

static void spill(const uint8_t *data, size_t size)
{
    FILE *f = fopen(scratch(), "wb");
    if (!f) fail("cannot write the scratch file");
    if (size && fwrite(data, 1, size, f) != size) fail("cannot write the scratch file");
    fclose(f);
}

/* the message must be "load: <name>: <something>" */
static void check_msg(const char *name)
{
    char prefix[400];
    snprintf(prefix, sizeof prefix, "load: %s: ", name);
    const char *m = dm_errmsg();
    if (strncmp(m, prefix, strlen(prefix)) != 0 || strlen(m) == strlen(prefix))
        fail("message does not name the reader and the file");
}

/* ---- the walk: a set of values met already ------------------------------------------ */

typedef struct { const dm_pyval **p; size_t cap, n; } vset;

static size_t vhash(const void *p, size_t cap) { return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull & (cap - 1); }

/* 1 if v was in the set; otherwise adds it and returns 0 */
static int vset_add(vset *s, const dm_pyval *v)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        const dm_pyval **q = calloc(cap, sizeof *q);
        if (!q) fail("out of memory in the walk");
        for (size_t i = 0; i < s->cap; i++)
            if (s->p[i]) {
                size_t h = vhash(s->p[i], cap);
                while (q[h]) h = (h + 1) & (cap - 1);
                q[h] = s->p[i];
            }
        free(s->p);
        s->p = q;
        s->cap = cap;
    }
    size_t h = vhash(v, s->cap);
    while (s->p[h]) {
        if (s->p[h] == v) return 1;
        h = (h + 1) & (s->cap - 1);
    }
    s->p[h] = v;
    s->n++;
    return 0;
}

static double sink;

/* every value of t, read through its view (ASan checks the bounds) */
static void read_tensor(const dm_tensor *t)
{
    if (!t || t->ndim < 0 || t->ndim > DM_MAX_DIMS) fail("malformed tensor");
    if (t->dtype != DM_FLOAT32 && t->dtype != DM_FLOAT64 && t->dtype != DM_INT64 &&
        t->dtype != DM_UINT8 && t->dtype != DM_BOOL)
        fail("tensor of an unknown dtype");
    int64_t n = dm_numel(t);
    if (n < 0) fail("negative numel");
    double *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf) fail("out of memory reading a tensor");
    dm_to_buffer_dtype(t, buf, DM_FLOAT64);
    for (int64_t k = 0; k < n; k++) sink += buf[k] == buf[k] ? buf[k] * 0 : 0;
    free(buf);
}

/* walk every value reachable from v once; check its form; read its tensors */
static void walk(vset *seen, const dm_pyval *v)
{
    if (!v) fail("a NULL value in the tree");
    if (vset_add(seen, v)) return;
    switch (v->kind) {
    case DM_PY_NONE: case DM_PY_INT: case DM_PY_FLOAT: return;
    case DM_PY_BOOL:
        if (v->i != 0 && v->i != 1) fail("a bool that is not 0 or 1");
        return;
    case DM_PY_STR:
        if (!v->s || v->s[v->len] != 0) fail("a string without its terminating 0");
        return;
    case DM_PY_OTHER:
        if (!v->s || strlen(v->s) != v->len) fail("an object without a name");
        return;
    case DM_PY_TENSOR:
        read_tensor(v->t);
        return;
    case DM_PY_LIST: case DM_PY_TUPLE: case DM_PY_DICT: {
        int64_t k = v->kind == DM_PY_DICT ? 2 * v->n : v->n;
        if (k < 0 || (k && !v->items)) fail("a container without its items");
        for (int64_t i = 0; i < k; i++) walk(seen, v->items[i]);
        return;
    }
    default:
        fail("a value of an unknown kind");
    }
}

/* ---- can the saver write it, and is it the same after a round trip ------------------- */

#define MAX_NODES 20000                 /* values once shared ones are written out per use */
#define MAX_ELEMS ((int64_t)1 << 22)    /* tensor elements, the same way */


typedef struct { int64_t nodes, elems; } budget;

/* 1 if dm_pt_save can write v (depth counted as the saver counts it) */
static int savable(const dm_pyval *v, int depth, budget *b)
{
    if (depth > 200 || ++b->nodes > MAX_NODES) return 0;
    switch (v->kind) {
    case DM_PY_NONE: case DM_PY_BOOL: case DM_PY_INT: case DM_PY_FLOAT: return 1;
    case DM_PY_STR:
        return dm__utf8_valid_prefix((const unsigned char *)v->s, v->len) == v->len;
    case DM_PY_TENSOR:
        b->elems += dm_numel(v->t);
        return b->elems <= MAX_ELEMS;
    case DM_PY_LIST: case DM_PY_TUPLE: case DM_PY_DICT: {
        int64_t k = v->kind == DM_PY_DICT ? 2 * v->n : v->n;
        for (int64_t i = 0; i < k; i++) if (!savable(v->items[i], depth + 1, b)) return 0;
        return 1;
    }
    default: return 0;
    }
}

static int same_tensor(const dm_tensor *a, const dm_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    int64_t n = dm_numel(a);
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    if (!x || !y) fail("out of memory comparing tensors");
    dm_to_buffer_dtype(a, x, DM_FLOAT64);
    dm_to_buffer_dtype(b, y, DM_FLOAT64);
    int same = n == 0 || memcmp(x, y, (size_t)n * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

/* the same tree (a's shared values may be b's copies) */
static int same_tree(const dm_pyval *a, const dm_pyval *b, int depth)
{
    if (depth > 400) return 0;
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case DM_PY_NONE: return 1;
    case DM_PY_BOOL: case DM_PY_INT: return a->i == b->i;
    case DM_PY_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case DM_PY_STR: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    case DM_PY_TENSOR: return same_tensor(a->t, b->t);
    case DM_PY_LIST: case DM_PY_TUPLE: case DM_PY_DICT: {
        if (a->n != b->n) return 0;
        int64_t k = a->kind == DM_PY_DICT ? 2 * a->n : a->n;
        for (int64_t i = 0; i < k; i++)
            if (!same_tree(a->items[i], b->items[i], depth + 1)) return 0;
        return 1;
    }
    default: return 0;
    }
}

static void roundtrip(const dm_pydoc *d)
{
    budget b = { 0, 0 };
    if (!savable(d->root, 0, &b)) return;
    if (dm_pt_save(outfile_path, d->root) != 0) fail("cannot save what was loaded");
    dm_pydoc *back = dm_pt_load(outfile_path);
    if (!back) fail("cannot load what was saved");
    if (!same_tree(d->root, back->root, 0)) fail("round trip changed the tree");
    dm_pydoc_free(back);
    remove(outfile_path);
}

#ifndef FUZZ_CLASSIFY


/* ---- a mutator that keeps the zip sound ----------------------------------------------
   A byte flip inside a record fails the CRC-32 check, and an inserted byte moves every
   offset: plain mutation mostly tests the zip reader.  Half the time one record (data.pkl
   more often than the others) is mutated alone and the archive is written again around it;
   otherwise the whole input is mutated and the CRC-32 of every record it still describes is
   made right, so the pickle reader sees the mutations. */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed);

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#define MAX_RECS 32
typedef struct { size_t name, nlen, data, size, cd, lh; } zrec;

/* the records the central directory describes, whose headers and data lie inside data */
static int zip_records(const uint8_t *data, size_t size, zrec *r)
{
    if (size < 22) return 0;
    size_t e = size - 22;
    for (;; e--) {
        if (get_le(data + e, 4) == 0x06054b50u) break;
        if (e == 0 || size - e > 22 + 65535) return 0;
    }
    size_t cd = (size_t)get_le(data + e + 16, 4), count = (size_t)get_le(data + e + 10, 2), k = 0;
    for (size_t i = 0; i < count && k < MAX_RECS; i++) {
        if (cd > e || e - cd < 46 || get_le(data + cd, 4) != 0x02014b50u) break;
        size_t nl = (size_t)get_le(data + cd + 28, 2), xl = (size_t)get_le(data + cd + 30, 2);
        size_t cl = (size_t)get_le(data + cd + 32, 2), n = (size_t)get_le(data + cd + 24, 4);
        size_t lh = (size_t)get_le(data + cd + 42, 4);
        if (e - cd - 46 < nl + xl + cl || lh > size || size - lh < 30) break;
        size_t at = lh + 30 + (size_t)get_le(data + lh + 26, 2) + (size_t)get_le(data + lh + 28, 2);
        if (at > size || size - at < n) break;
        r[k++] = (zrec){ cd + 46, nl, at, n, cd, lh };
        cd += 46 + nl + xl + cl;
    }
    return (int)k;
}

static uint8_t *rebuilt;                /* a scratch buffer of max_size bytes */

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
    zrec r[MAX_RECS];
    int k = zip_records(data, size, r);
    if (k > 0 && seed % 2 == 0) {
        int pick = (int)(seed / 2 % (unsigned)k);
        for (int i = 0; i < k && seed % 8 < 6; i++)     /* data.pkl three times in four */
            if (r[i].nlen >= 8 && !memcmp(data + r[i].name + r[i].nlen - 8, "data.pkl", 8)) pick = i;
        if (!rebuilt) rebuilt = malloc(max_size > (1 << 20) ? max_size : (1 << 20));
        size_t fixed = 22;
        for (int i = 0; i < k; i++) fixed += 30 + 46 + 2 * r[i].nlen + (i == pick ? 0 : r[i].size);
        if (rebuilt && fixed < max_size) {
            size_t room = max_size - fixed;
            uint8_t *rec = malloc(room + 1);
            if (rec) {
                size_t n = r[pick].size < room ? r[pick].size : room;
                memcpy(rec, data + r[pick].data, n);
                n = LLVMFuzzerMutate(rec, n, room);
                uint8_t *p = rebuilt;
                size_t offs[MAX_RECS];
                for (int i = 0; i < k; i++) {
                    const uint8_t *src = i == pick ? rec : data + r[i].data;
                    size_t len = i == pick ? n : r[i].size;
                    offs[i] = (size_t)(p - rebuilt);
                    memset(p, 0, 30);
                    put_le(p, 0x04034b50u, 4); put_le(p + 4, 20, 2);
                    put_le(p + 14, crc32_of(src, len), 4);
                    put_le(p + 18, len, 4); put_le(p + 22, len, 4); put_le(p + 26, r[i].nlen, 2);
                    memcpy(p + 30, data + r[i].name, r[i].nlen);
                    memcpy(p + 30 + r[i].nlen, src, len);
                    p += 30 + r[i].nlen + len;
                }
                size_t cd = (size_t)(p - rebuilt);
                for (int i = 0; i < k; i++) {
                    const uint8_t *src = i == pick ? rec : data + r[i].data;
                    size_t len = i == pick ? n : r[i].size;
                    memset(p, 0, 46);
                    put_le(p, 0x02014b50u, 4); put_le(p + 4, 20, 2); put_le(p + 6, 20, 2);
                    put_le(p + 16, crc32_of(src, len), 4);
                    put_le(p + 20, len, 4); put_le(p + 24, len, 4); put_le(p + 28, r[i].nlen, 2);
                    put_le(p + 42, offs[i], 4);
                    memcpy(p + 46, data + r[i].name, r[i].nlen);
                    p += 46 + r[i].nlen;
                }
                memset(p, 0, 22);
                put_le(p, 0x06054b50u, 4);
                put_le(p + 8, (uint64_t)k, 2); put_le(p + 10, (uint64_t)k, 2);
                put_le(p + 12, (uint64_t)(p - rebuilt) - cd, 4); put_le(p + 16, cd, 4);
                p += 22;
                free(rec);
                size_t total = (size_t)(p - rebuilt);
                if (total <= max_size) {
                    memcpy(data, rebuilt, total);
                    return total;
                }
            }
        }
    }
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 4 != 3) {                /* now and then leave the CRCs as they fall */
        k = zip_records(data, size, r);
        for (int i = 0; i < k; i++) {
            uint32_t c = crc32_of(data + r[i].data, r[i].size);
            put_le(data + r[i].cd + 16, c, 4);
            put_le(data + r[i].lh + 14, c, 4);
        }
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_pydoc *dm = dm_pt_load_buffer(data, size, "fuzz");
    if (!dm) check_msg("fuzz");
    spill(data, size);
    dm_pydoc *df = dm_pt_load(scratch());
    if (!df) check_msg(scratch());
    if (!dm != !df) fail("memory and file readers disagree");
    if (dm) {
        vset seen = { 0 };
        if (!dm->root || !df->root) fail("a document without a root");
        walk(&seen, dm->root);
        free(seen.p);
        if (seen.n <= MAX_NODES) {
            budget b = { 0, 0 };
            if (savable(dm->root, 0, &b) && !same_tree(dm->root, df->root, 0))
                fail("memory and file readers give different trees");
        }
        roundtrip(dm);
    }
    dm_pydoc_free(dm);
    dm_pydoc_free(df);
    remove(scratch());
    if (dm_live_bytes() != 0 || dm_live_tensors() != 0) fail("tensors leaked");
    return 0;
}

#else

/* classify FILE...: "<file>\t<message or OK>" per file */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        dm_pydoc *d = dm_pt_load(argv[i]);
        printf("%s\t%s\n", argv[i], d ? "OK" : dm_errmsg());
        dm_pydoc_free(d);
    }
    return 0;
}

#endif
