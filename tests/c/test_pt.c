/* test_pt.c -- PyTorch checkpoints (core/io/pt.c, pickle.c, zip.c) against hostile bytes:
 * every truncation of a file and of its pickle, thousands of seeded bit flips (in the file
 * as it is, where the CRC catches most, and in the pickle with the CRC made right again, so
 * the unpickler itself sees them), and crafted pickles, each refused with its message.  A
 * load must give a document or NULL and a "load: " message, never a crash or an
 * out-of-bounds read (run under `make test SANITIZE=1`); every tensor a load gives is read
 * to its last element. */
#include "testutil.h"

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)len;
    return p;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* a stored zip of k records in memory (malloc'd, length in *len) */
typedef struct { const char *name; const unsigned char *data; size_t n; } rec;

static unsigned char *make_zip(const rec *r, int k, size_t *len)
{
    size_t total = 22;
    for (int i = 0; i < k; i++) total += 30 + 46 + 2 * strlen(r[i].name) + r[i].n;
    unsigned char *z = calloc(1, total), *p = z;
    size_t offs[16];
    for (int i = 0; i < k; i++) {
        size_t nl = strlen(r[i].name);
        offs[i] = (size_t)(p - z);
        put(p, 0x04034b50u, 4); put(p + 4, 20, 2);
        put(p + 14, crc32_of(r[i].data, r[i].n), 4);
        put(p + 18, r[i].n, 4); put(p + 22, r[i].n, 4); put(p + 26, nl, 2);
        memcpy(p + 30, r[i].name, nl);
        if (r[i].n) memcpy(p + 30 + nl, r[i].data, r[i].n);
        p += 30 + nl + r[i].n;
    }
    size_t cd = (size_t)(p - z);
    for (int i = 0; i < k; i++) {
        size_t nl = strlen(r[i].name);
        put(p, 0x02014b50u, 4); put(p + 4, 20, 2); put(p + 6, 20, 2);
        put(p + 16, crc32_of(r[i].data, r[i].n), 4);
        put(p + 20, r[i].n, 4); put(p + 24, r[i].n, 4); put(p + 28, nl, 2);
        put(p + 42, offs[i], 4);
        memcpy(p + 46, r[i].name, nl);
        p += 46 + nl;
    }
    put(p, 0x06054b50u, 4);
    put(p + 8, (uint64_t)k, 2); put(p + 10, (uint64_t)k, 2);
    put(p + 12, (uint64_t)(p - z) - cd, 4); put(p + 16, cd, 4);
    p += 22;
    *len = (size_t)(p - z);
    return z;
}

/* read every tensor of d to its last element (ASan checks the views' bounds) */
static double touch(const dm_pydoc *d)
{
    double s = 0;
    for (int64_t i = 0; i < d->count_; i++) {
        const dm_pyval *v = d->all_[i];
        if (v->kind != DM_PY_TENSOR) continue;
        int64_t n = dm_numel(v->t);
        double *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
        dm_to_buffer_dtype(v->t, buf, DM_FLOAT64);
        for (int64_t k = 0; k < n; k++) s += buf[k] == buf[k] ? buf[k] * 0 : 0;
        free(buf);
    }
    return s;
}

static int outcomes[2];

/* one load of hostile bytes: a document or NULL with a "load: " message */
static void load_any(const unsigned char *p, size_t n, const char *what)
{
    dm_pydoc *d = dm_pt_load_buffer(p, n, "fuzz");
    if (d) {
        CHECKF(d->root != NULL, "%s: a document has a root", what);
        touch(d);
        dm_pydoc_free(d);
        outcomes[1]++;
    } else {
        const char *m = dm_errmsg();
        if (strncmp(m, "load: fuzz: ", 12) != 0) {
            CHECKF(0, "%s: message \"%s\"", what, m);
        }
        outcomes[0]++;
    }
}

/* the records of a torch.save file: data.pkl's index in *pkl */
static int records(const unsigned char *z, size_t n, rec *r, unsigned char **names, int *pkl)
{
    dm_pydoc *d = dm_pt_load_buffer(z, n, "orig");  /* validates it first */
    if (!d) return -1;
    dm_pydoc_free(d);
    /* walk the central directory of a file we know is sound */
    size_t e = n - 22;
    uint64_t cnt = z[e + 10] | (uint64_t)z[e + 11] << 8;
    size_t cd = (size_t)(z[e + 16] | z[e + 17] << 8 | (uint64_t)z[e + 18] << 16 | (uint64_t)z[e + 19] << 24);
    int k = 0;
    for (uint64_t i = 0; i < cnt && k < 16; i++) {
        const unsigned char *h = z + cd;
        size_t nl = h[28] | h[29] << 8, xl = h[30] | h[31] << 8, cl = h[32] | h[33] << 8;
        size_t size = (size_t)(h[24] | h[25] << 8 | (uint64_t)h[26] << 16 | (uint64_t)h[27] << 24);
        size_t lho = (size_t)(h[42] | h[43] << 8 | (uint64_t)h[44] << 16 | (uint64_t)h[45] << 24);
        names[k] = calloc(1, nl + 1);
        memcpy(names[k], h + 46, nl);
        const unsigned char *l = z + lho;
        size_t data = lho + 30 + (size_t)(l[26] | l[27] << 8) + (size_t)(l[28] | l[29] << 8);
        r[k].name = (const char *)names[k];
        r[k].data = z + data;
        r[k].n = size;
        if (nl > 9 && !strcmp((char *)names[k] + nl - 9, "/data.pkl")) *pkl = k;
        k++;
        cd += 46 + nl + xl + cl;
    }
    return k;
}

static void test_fixture(void)
{
    dm_pydoc *d = dm_pt_load("tests/fixtures/pt_views.pt");
    CHECKF(d != NULL, "pt_views.pt loads: %s", dm_errmsg());
    if (!d) return;
    CHECK(d->root->kind == DM_PY_DICT && d->root->n == 5, "a dict of five");
    const dm_tensor *base = NULL, *slice = NULL;
    for (int64_t i = 0; i < d->root->n; i++) {
        const dm_pyval *k = d->root->items[2 * i], *v = d->root->items[2 * i + 1];
        if (!strcmp(k->s, "base")) base = v->t;
        if (!strcmp(k->s, "slice")) slice = v->t;
    }
    CHECK(base && slice && base->storage == slice->storage, "views share the storage");
    if (slice) {
        CHECK(slice->offset == 8 && slice->stride[0] == 6 && slice->stride[1] == 1,
              "slice: offset 8, strides (6, 1)");
        double want[6] = { 8, 9, 10, 14, 15, 16 };
        tu_check_vals(slice, want, 6, 0, "slice values");
    }
    dm_pydoc_free(d);
    CHECK_ERR(dm_pt_load("tests/fixtures/no_such.pt"),
              "load: tests/fixtures/no_such.pt: No such file or directory");
}

static void test_truncations(const char *path)
{
    size_t n;
    unsigned char *z = read_file(path, &n);
    CHECKF(z != NULL, "read %s", path);
    if (!z) return;
    int before = tu_fail;
    for (size_t k = 0; k < n; k++) {
        unsigned char *cut = malloc(k ? k : 1);     /* its own block: ASan sees the end */
        memcpy(cut, z, k);
        dm_pydoc *d = dm_pt_load_buffer(cut, k, "cut");
        if (d) { CHECKF(0, "%s cut to %zu bytes loads", path, k); dm_pydoc_free(d); }
        else if (strncmp(dm_errmsg(), "load: cut: ", 11) != 0)
            CHECKF(0, "%s cut to %zu: message \"%s\"", path, k, dm_errmsg());
        free(cut);
    }
    /* every truncation of the pickle inside a sound zip */
    rec r[16];
    unsigned char *names[16];
    int pkl = -1, k = records(z, n, r, names, &pkl);
    CHECKF(k > 0 && pkl >= 0, "%s: records", path);
    if (k > 0 && pkl >= 0) {
        size_t full = r[pkl].n;
        const unsigned char *orig = r[pkl].data;
        for (size_t m = 0; m < full; m++) {
            unsigned char *cut = malloc(m ? m : 1);
            memcpy(cut, orig, m);
            r[pkl].data = cut;
            r[pkl].n = m;
            size_t zl;
            unsigned char *zz = make_zip(r, k, &zl);
            dm_pydoc *d = dm_pt_load_buffer(zz, zl, "fuzz");
            if (d) { CHECKF(0, "%s: pickle cut to %zu bytes loads", path, m); dm_pydoc_free(d); }
            else if (strncmp(dm_errmsg(), "load: fuzz: data.pkl, offset ", 29) != 0)
                CHECKF(0, "%s: pickle cut to %zu: message \"%s\"", path, m, dm_errmsg());
            free(zz);
            free(cut);
        }
    }
    for (int i = 0; i < k; i++) free(names[i]);
    free(z);
    CHECKF(tu_fail == before, "%s: every truncation refused with a message", path);
}

static uint32_t rng_state = 12345;
static uint32_t next_rand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void test_bitflips(const char *path, int rounds)
{
    size_t n;
    unsigned char *z = read_file(path, &n);
    if (!z) { CHECKF(0, "read %s", path); return; }
    int before = tu_fail;
    outcomes[0] = outcomes[1] = 0;
    unsigned char *buf = malloc(n);
    for (int i = 0; i < rounds; i++) {               /* the file as it is */
        memcpy(buf, z, n);
        int flips = 1 + (int)(next_rand() % 3);
        for (int f = 0; f < flips; f++) {
            uint32_t bit = next_rand() % (uint32_t)(n * 8);
            buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
        load_any(buf, n, path);
    }
    rec r[16];
    unsigned char *names[16];
    int pkl = -1, k = records(z, n, r, names, &pkl);
    if (k > 0 && pkl >= 0) {                          /* the pickle, CRC made right */
        size_t m = r[pkl].n;
        const unsigned char *orig = r[pkl].data;
        unsigned char *p = malloc(m);
        for (int i = 0; i < rounds; i++) {
            memcpy(p, orig, m);
            int flips = 1 + (int)(next_rand() % 3);
            for (int f = 0; f < flips; f++) {
                uint32_t bit = next_rand() % (uint32_t)(m * 8);
                p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
            r[pkl].data = p;
            size_t zl;
            unsigned char *zz = make_zip(r, k, &zl);
            load_any(zz, zl, path);
            free(zz);
        }
        free(p);
    }
    for (int i = 0; i < k; i++) free(names[i]);
    free(buf);
    free(z);
    CHECKF(tu_fail == before, "%s: %d bit-flipped loads, each a document or a message", path,
           2 * rounds);
    CHECKF(outcomes[0] > 0 && outcomes[1] > 0, "%s: flips gave both outcomes (%d refused, %d "
           "loaded)", path, outcomes[0], outcomes[1]);
}

/* a zip of one pickle (and a storage record of 12 float32 bytes) -> the load's result */
static dm_pydoc *load_pickle(const char *pk, size_t n)
{
    static const unsigned char store[12] = { 0 };
    rec r[3] = {
        { "archive/data.pkl", (const unsigned char *)pk, n },
        { "archive/data/0", store, sizeof store },
        { "archive/version", (const unsigned char *)"3\n", 2 },
    };
    size_t zl;
    unsigned char *z = make_zip(r, 3, &zl);
    dm_pydoc *d = dm_pt_load_buffer(z, zl, "crafted");
    free(z);
    return d;
}
#define PK(s) load_pickle(s, sizeof s - 1)

/* a _rebuild_tensor_v2 call on storage '0' (3 floats) with the given offset/size/stride */
#define REBUILD(off, size, stride) \
    "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n" \
    "((X\x07\0\0\0storage" "ctorch\nFloatStorage\n" "X\x01\0\0\0" "0" "X\x03\0\0\0cpu" "K\x03tQ" \
    off size stride "\x89" "ccollections\nOrderedDict\n)R" "tR."

static void test_crafted(void)
{
    CHECK_ERR(PK("\x80\x02i__main__\nX\n."),
              "load: crafted: data.pkl, offset 2: unsupported pickle opcode 0x69 ('i')");
    CHECK_ERR(PK("\x80\x02" "cos\nsystem\n" "X\x02\0\0\0ls\x85R."),
              "load: crafted: data.pkl, offset 2: global 'os.system' is not allowed (a weights "
              "file needs only PyTorch's tensor rebuilders; refused, never called)");
    CHECK_ERR(PK("\x80\x02" "cbuiltins\neval\n."),
              "load: crafted: data.pkl, offset 2: global 'builtins.eval' is not allowed (a "
              "weights file needs only PyTorch's tensor rebuilders; refused, never called)");
    CHECK_ERR(PK("\x80\x02" "ctorch\nFloatStorage\n)R."),
              "load: crafted: data.pkl, offset 23: REDUCE of torch.FloatStorage is not allowed "
              "(only PyTorch's tensor rebuilders and OrderedDict are called)");
    CHECK_ERR(PK("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R."),
              "load: crafted: data.pkl, offset 30: collections.OrderedDict called with 1 "
              "arguments of an unexpected form");
    CHECK_ERR(PK("\x80\x02" "ctorch\nComplexFloatStorage\n."),
              "load: crafted: data.pkl, offset 2: storage type torch.ComplexFloatStorage is not "
              "supported (float, double, half, bfloat16, long, int, short, char, byte and bool "
              "are)");
    CHECK_ERR(PK("\x80\x02\x8a\x09\1\2\3\4\5\6\7\x08\x09."),
              "load: crafted: data.pkl, offset 2: integer of 9 bytes does not fit in int64");
    CHECK_ERR(PK("\x80\x02h\x05."), "load: crafted: data.pkl, offset 2: memo index 5 was never set");
    CHECK_ERR(PK("\x80\x02Nr\xff\xff\xff\x7f."),
              "load: crafted: data.pkl, offset 3: memo index 2147483647 out of range");
    CHECK_ERR(PK("\x80\x02N"), "load: crafted: data.pkl, offset 3: ends without STOP");
    CHECK_ERR(PK("\x80\x02X\xff\0\0\0ab."),
              "load: crafted: data.pkl, offset 2: string of 255 bytes runs past the end");
    CHECK_ERR(PK("\x80\x02" "a."), "load: crafted: data.pkl, offset 2: stack underflow");
    CHECK_ERR(PK("\x80\x02" "K\x01K\x02s."), "load: crafted: data.pkl, offset 6: stack underflow");
    CHECK_ERR(PK("\x80\x02" "]K\x01K\x02s."), "load: crafted: data.pkl, offset 7: SETITEM on a list");
    CHECK_ERR(PK("\x80\x02" "(."), "load: crafted: data.pkl, offset 3: stack underflow");
    CHECK_ERR(PK("\x80\x02" "]}b."), "load: crafted: data.pkl, offset 4: BUILD of a list is not "
              "supported");
    CHECK_ERR(PK("\x80\x02" "(X\x07\0\0\0storageK\x01tQ."),
              "load: crafted: data.pkl, offset 18: persistent id is not ('storage', type, key, "
              "location, numel)");
    /* views: inside the storage of 3 floats, or refused */
    dm_pydoc *d = PK(REBUILD("K\x01", "K\x02\x85", "K\x01\x85"));
    CHECKF(d && d->root->kind == DM_PY_TENSOR && d->root->t->offset == 1 &&
           dm_numel(d->root->t) == 2, "a view at offset 1 of 2 elements: %s", d ? "" : dm_errmsg());
    dm_pydoc_free(d);
    d = PK(REBUILD("K\x00", "K\x02K\x02\x86", "K\x00K\x01\x86"));
    CHECKF(d != NULL, "a stride of 0 (expand) inside the storage: %s", d ? "" : dm_errmsg());
    dm_pydoc_free(d);
    CHECK_ERR(PK(REBUILD("K\x02", "K\x02\x85", "K\x01\x85")),
              "load: crafted: data.pkl, offset 124: _rebuild_tensor_v2: a view of size [2] at "
              "offset 2 runs past its storage of 3 elements");
    CHECK_ERR(PK(REBUILD("K\x00", "K\x02K\x02\x86", "J\xff\xff\xff\x7fK\x01\x86")),
              "load: crafted: data.pkl, offset 131: _rebuild_tensor_v2: a view of size [2 x 2] "
              "at offset 0 runs past its storage of 3 elements");
    CHECK_ERR(PK(REBUILD("\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f", "K\x01\x85", "K\x01\x85")),
              "load: crafted: data.pkl, offset 132: _rebuild_tensor_v2: a view of size [1] at "
              "offset 9223372036854775807 runs past its storage of 3 elements");
    CHECK_ERR(PK(REBUILD("K\x00", "K\x01K\x01\x86", "K\x01\x85")),
              "load: crafted: data.pkl, offset 126: _rebuild_tensor_v2: size has 2 dims, stride 1");
    /* a list that holds itself (through the memo) loads and frees */
    d = PK("\x80\x02]q\x00h\x00" "a.");
    CHECKF(d && d->root->kind == DM_PY_LIST && d->root->n == 1 && d->root->items[0] == d->root,
           "a list inside itself: %s", d ? "" : dm_errmsg());
    dm_pydoc_free(d);
    /* records: missing, too short */
    static const char need5[] = "\x80\x02" "((X\x07\0\0\0storage" "ctorch\nFloatStorage\n"
                                "X\x01\0\0\0" "1" "X\x03\0\0\0cpu" "K\x03tQ.";
    CHECK_ERR(load_pickle(need5, sizeof need5 - 1),
              "load: crafted: data.pkl, offset 53: record 'archive/data/1' is missing");
    static const char big[] = "\x80\x02" "((X\x07\0\0\0storage" "ctorch\nFloatStorage\n"
                              "X\x01\0\0\0" "0" "X\x03\0\0\0cpu" "K\x04tQ.";
    CHECK_ERR(load_pickle(big, sizeof big - 1),
              "load: crafted: data.pkl, offset 53: record 'archive/data/0' holds 12 bytes, its "
              "storage of 4 elements needs 16");
    CHECK_ERR(dm_pt_load_buffer("\x80\x02K\x01.", 6, "raw"),
              "load: raw: a bare pickle, not a torch.save checkpoint (a zip archive)");
    CHECK_ERR(dm_pt_load_buffer("{\"a\": 1}", 8, "json"),
              "load: json: not a PyTorch checkpoint (a zip archive)");
    rec r[1] = { { "x/other", (const unsigned char *)"1", 1 } };
    size_t zl;
    unsigned char *z = make_zip(r, 1, &zl);
    CHECK_ERR(dm_pt_load_buffer(z, zl, "zip"),
              "load: zip: no '<name>/data.pkl' record: not a torch.save checkpoint");
    free(z);
}

int main(void)
{
    tu_live start = tu_live_now();
    test_fixture();
    test_crafted();
    test_truncations("tests/fixtures/pt_views.pt");
    test_truncations("tests/fixtures/pt_nested.pt");
    test_bitflips("tests/fixtures/pt_views.pt", 1500);
    test_bitflips("tests/fixtures/pt_nested.pt", 1500);
    test_bitflips("tests/fixtures/pt_dtypes.pt", 500);
    CHECK_NO_LEAKS(start);
    return TEST_END("test_pt");
}
