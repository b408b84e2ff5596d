/* test_io.c -- safetensors and .npy: round trips, the fixtures written by PyTorch and numpy
 * (tests/fixtures/gen_safetensors.py), hostile inputs (each with its message verbatim), the
 * write-to-temp-then-rename guarantee, and the fuzzer's regression inputs (tests/fuzz/regress).
 * Run from the repository root (make test does). */
#define _POSIX_C_SOURCE 200809L     /* mkdtemp, opendir, setrlimit */
#include "testutil.h"
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* the whole file, or NULL */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spill(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) { printf("cannot write %s\n", path); exit(1); }
    fwrite(data, 1, len, f);
    fclose(f);
}

/* 8-byte length + header + data */
static unsigned char *st_make(const char *header, const void *data, size_t dlen, size_t *len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + dlen + 1);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(b + 8, header, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    *len = 8 + h + dlen;
    return b;
}

static int count_tmp_files(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) n++;
    if (d) closedir(d);
    return n;
}

static void expect_fail_msg(int failed, const char *msg, int line)
{
    if (failed && strcmp(dm_errmsg(), msg) == 0) tu_pass++;
    else {
        tu_fail++;
        printf("FAIL %s:%d: expected error \"%s\", got %s \"%s\"\n", __FILE__, line, msg,
               failed ? "error" : "success", dm_errmsg());
    }
}

/* a safetensors buffer of this header and data must fail with "load: bad.st: <msg>" */
static void st_err(const char *header, const void *data, size_t dlen, const char *msg, int line)
{
    size_t n;
    unsigned char *b = st_make(header, data, dlen, &n);
    dm_named_tensors *nt = dm_safetensors_load_buffer(b, n, "bad.st");
    char want[600];
    snprintf(want, sizeof want, "load: bad.st: %s", msg);
    expect_fail_msg(nt == NULL, want, line);
    dm_named_tensors_free(nt);
    free(b);
}
#define ST_ERR(h, d, n, msg) st_err((h), (d), (n), (msg), __LINE__)

static void npy_err(const void *data, size_t len, const char *msg, int line)
{
    dm_tensor *t = dm_npy_load_buffer(data, len, "bad.npy");
    char want[600];
    snprintf(want, sizeof want, "load_npy: bad.npy: %s", msg);
    expect_fail_msg(t == NULL, want, line);
    dm_tensor_release(t);
}
#define NPY_ERR(d, n, msg) npy_err((d), (n), (msg), __LINE__)

/* a .npy buffer: magic, version 1.0, the header padded as given, then data */
static unsigned char *npy_make(const char *header, const void *data, size_t dlen, size_t *len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(10 + h + dlen + 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(h & 0xff);
    b[9] = (unsigned char)(h >> 8);
    memcpy(b + 10, header, h);
    if (dlen) memcpy(b + 10 + h, data, dlen);
    *len = 10 + h + dlen;
    return b;
}

static void npy_hdr_err(const char *header, const void *data, size_t dlen, const char *msg,
                        int line)
{
    size_t n;
    unsigned char *b = npy_make(header, data, dlen, &n);
    npy_err(b, n, msg, line);
    free(b);
}
#define NPY_HDR_ERR(h, d, n, msg) npy_hdr_err((h), (d), (n), (msg), __LINE__)

static int values_equal(const dm_tensor *t, const float *want, int64_t n)
{
    if (dm_numel(t) != n) return 0;
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    dm_to_buffer_dtype(t, buf, DM_FLOAT32);     /* any dtype, compared as float32 */
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&buf[i], &want[i], sizeof(float)) != 0 && !(buf[i] == want[i])) ok = 0;
    free(buf);
    return ok;
}

static int shape_is(const dm_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++) if (t->shape[d] != shape[d]) return 0;
    return 1;
}

/* ---- safetensors round trip ------------------------------------------------------------ */

static void test_roundtrip(void)
{
    float v[6] = { 1, -2, 3.5f, 1e-30f, -0.0f, 6 };
    dm_tensor *a = tu_tensor(2, (int64_t[]){ 2, 3 }, v);
    dm_tensor *at = dm_transpose(a, 0, 1);              /* non-contiguous [3 x 2] */
    dm_tensor *s = dm_tensor_scalar(4.25f);
    dm_tensor *e = dm_tensor_zeros(2, (int64_t[]){ 0, 3 });
    dm_named_tensors *nt = dm_named_tensors_new();
    CHECK(dm_named_tensors_add(nt, "z.weight", a) == 0, "add");
    CHECK(dm_named_tensors_add(nt, "a.t", at) == 0, "add transposed");
    CHECK(dm_named_tensors_add(nt, "scalar", s) == 0, "add scalar");
    CHECK(dm_named_tensors_add(nt, "empty", e) == 0, "add empty");
    CHECK(dm_named_tensors_add(nt, "\xc3\xa9t\xc3\xa9 \"q\"\n", a) == 0, "add a UTF-8 name");
    CHECK_ERR(dm_named_tensors_add(nt, "scalar", a), "named_tensors_add: duplicate name 'scalar'");
    CHECK(dm_named_tensors_set_meta(nt, "format", "pt") == 0, "meta");
    CHECK(dm_named_tensors_set_meta(nt, "epoch", "3") == 0, "meta");
    CHECK(dm_named_tensors_set_meta(nt, "epoch", "4") == 0, "meta replaced");
    CHECK(strcmp(dm_named_tensors_get_meta(nt, "epoch"), "4") == 0, "get_meta");
    CHECK(dm_named_tensors_get_meta(nt, "nope") == NULL, "get_meta absent");
    CHECK(dm_named_tensors_get(nt, "scalar") == s, "get borrowed");
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("rt.safetensors"));
    CHECK(dm_safetensors_save(path, nt) == 0, "save");
    CHECK(count_tmp_files() == 0, "no temporary file left");

    dm_named_tensors *back = dm_safetensors_load(path);
    CHECK(back != NULL, "load");
    if (back) {
        CHECK(back->count == 5 && back->meta_count == 2, "counts");
        /* data are in name order */
        const char *order[] = { "a.t", "empty", "scalar", "z.weight", "\xc3\xa9t\xc3\xa9 \"q\"\n" };
        for (int i = 0; i < 5 && i < back->count; i++)
            CHECK(strcmp(back->names[i], order[i]) == 0, "name order");
        float vt[6] = { 1, -2, 3.5f, 1e-30f, -0.0f, 6 };
        float tv[6] = { 1, 1e-30f, -2, -0.0f, 3.5f, 6 };
        CHECK(shape_is(dm_named_tensors_get(back, "a.t"), 2, (int64_t[]){ 3, 2 }), "shape");
        CHECK(values_equal(dm_named_tensors_get(back, "a.t"), tv, 6), "transposed values");
        CHECK(values_equal(dm_named_tensors_get(back, "z.weight"), vt, 6), "values");
        CHECK(shape_is(dm_named_tensors_get(back, "scalar"), 0, NULL), "scalar shape");
        CHECK(dm_data(dm_named_tensors_get(back, "scalar"))[0] == 4.25f, "scalar value");
        CHECK(shape_is(dm_named_tensors_get(back, "empty"), 2, (int64_t[]){ 0, 3 }), "empty");
        CHECK(strcmp(dm_named_tensors_get_meta(back, "format"), "pt") == 0, "meta back");
        CHECK(strcmp(dm_named_tensors_get_meta(back, "epoch"), "4") == 0, "meta back");
        CHECK(!back->tensors[0]->requires_grad, "loaded tensors do not require grad");
    }
    dm_named_tensors_free(back);

    /* the exact bytes: compact JSON, metadata first, padded to 8 with spaces */
    dm_named_tensors *small = dm_named_tensors_new();
    dm_tensor *b2 = tu_tensor(1, (int64_t[]){ 2 }, (float[]){ 1, 2 });
    dm_named_tensors_add(small, "b", b2);
    dm_named_tensors_add(small, "a", s);
    dm_named_tensors_set_meta(small, "k", "v");
    CHECK(dm_safetensors_save(path, small) == 0, "save small");
    size_t n;
    unsigned char *bytes = slurp(path, &n);
    const char *hdr = "{\"__metadata__\":{\"k\":\"v\"},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    CHECK(bytes && n == 8 + padded + 12, "file size");
    if (bytes && n == 8 + padded + 12) {
        CHECK(bytes[0] == padded && bytes[1] == 0 && bytes[7] == 0, "length prefix");
        CHECK(memcmp(bytes + 8, hdr, hl) == 0, "header text");
        int spaces = 1;
        for (size_t i = 8 + hl; i < 8 + padded; i++) if (bytes[i] != ' ') spaces = 0;
        CHECK(spaces, "space padding");
        float d[3];
        memcpy(d, bytes + 8 + padded, 12);
        CHECK(d[0] == 4.25f && d[1] == 1 && d[2] == 2, "data in name order");
    }
    free(bytes);

    /* writer refusals leave the existing file alone */
    dm_named_tensors *bad = dm_named_tensors_new();
    dm_named_tensors_add(bad, "__metadata__", a);
    char want[600];
    snprintf(want, sizeof want, "save: %s: '__metadata__' is reserved and cannot name a tensor",
             path);
    expect_fail_msg(dm_safetensors_save(path, bad) != 0, want, __LINE__);
    dm_named_tensors_free(bad);
    bad = dm_named_tensors_new();
    dm_named_tensors_add(bad, "x\xff", a);
    snprintf(want, sizeof want, "save: %s: a tensor name is not valid UTF-8", path);
    expect_fail_msg(dm_safetensors_save(path, bad) != 0, want, __LINE__);
    dm_named_tensors_free(bad);
    bytes = slurp(path, &n);
    CHECK(bytes && n == 8 + padded + 12, "refused saves keep the old file");
    free(bytes);
    snprintf(want, sizeof want, "save: %s/no/such/dir.safetensors: No such file or directory",
             tmpdir);
    expect_fail_msg(dm_safetensors_save(tmp_path("no/such/dir.safetensors"), small) != 0, want,
                    __LINE__);
    snprintf(want, sizeof want, "load: %s/missing.safetensors: No such file or directory", tmpdir);
    expect_fail_msg(dm_safetensors_load(tmp_path("missing.safetensors")) == NULL, want, __LINE__);
    snprintf(want, sizeof want, "load: %s: not a regular file", tmpdir);
    expect_fail_msg(dm_safetensors_load(tmpdir) == NULL, want, __LINE__);
    spill(tmp_path("zero.safetensors"), "", 0);
    snprintf(want, sizeof want, "load: %s/zero.safetensors: file of 0 bytes is too short for a "
             "safetensors header", tmpdir);
    expect_fail_msg(dm_safetensors_load(tmp_path("zero.safetensors")) == NULL, want, __LINE__);
    remove(tmp_path("zero.safetensors"));

    dm_named_tensors_free(small);
    dm_named_tensors_free(nt);
    dm_tensor_release(b2);
    dm_tensor_release(a);
    dm_tensor_release(at);
    dm_tensor_release(s);
    dm_tensor_release(e);
    remove(path);
}

/* A save that fails half way (the file size limit stops the write) leaves the previous file
 * as it was and no temporary file behind. */
static void test_failed_write_keeps_old_file(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("keep.safetensors"));
    dm_tensor *small = dm_tensor_full(1, (int64_t[]){ 4 }, 1.0f);
    dm_tensor *big = dm_tensor_full(1, (int64_t[]){ 100000 }, 2.0f);
    dm_named_tensors *a = dm_named_tensors_new(), *b = dm_named_tensors_new();
    dm_named_tensors_add(a, "w", small);
    dm_named_tensors_add(b, "w", big);
    CHECK(dm_safetensors_save(path, a) == 0, "first save");
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 65536;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        int rc = dm_safetensors_save(path, b);
        char want[600];
        snprintf(want, sizeof want, "save: %s: write failed: File too large", path);
        expect_fail_msg(rc != 0, want, __LINE__);
        rc = dm_npy_save(tmp_path("keep.npy"), big);
        snprintf(want, sizeof want, "save_npy: %s: write failed: File too large",
                 tmp_path("keep.npy"));
        expect_fail_msg(rc != 0, want, __LINE__);
        setrlimit(RLIMIT_FSIZE, &old);
    } else {
        printf("test_io: setrlimit(RLIMIT_FSIZE) refused; failed-write check skipped\n");
    }
    signal(SIGXFSZ, prev);
    unsigned char *after = slurp(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0,
          "the old file is untouched");
    CHECK(access(tmp_path("keep.npy"), F_OK) != 0, "no half-written npy");
    CHECK(count_tmp_files() == 0, "temporary files removed");
    free(before);
    free(after);
    dm_named_tensors_free(a);
    dm_named_tensors_free(b);
    dm_tensor_release(small);
    dm_tensor_release(big);
    remove(path);
}

/* ---- files written by PyTorch and numpy ---------------------------------------------- */

static void test_fixtures(void)
{
    dm_named_tensors *m = dm_safetensors_load("tests/fixtures/st_model.safetensors");
    CHECK(m != NULL, "st_model.safetensors loads (run from the repository root)");
    if (!m) printf("  %s\n", dm_errmsg());
    if (m) {
        CHECK(m->count == 9, "9 tensors");
        CHECK(strcmp(dm_named_tensors_get_meta(m, "format"), "pt") == 0, "format pt");
        /* I64 num_batches_tracked came first (sorted by dtype size), as a 0-dim int64 */
        CHECK(strcmp(m->names[0], "1.num_batches_tracked") == 0, "data order");
        dm_tensor *nb = dm_named_tensors_get(m, "1.num_batches_tracked");
        CHECK(nb && nb->ndim == 0 && nb->dtype == DM_INT64 && dm_get_i64(nb, NULL) == 1,
              "num_batches_tracked = 1, int64");
        CHECK(dm_named_tensors_get(m, "0.weight")->dtype == DM_FLOAT32, "F32 weight");
        CHECK(shape_is(dm_named_tensors_get(m, "0.weight"), 2, (int64_t[]){ 8, 4 }),
              "Linear weight is [out x in]");
        CHECK(shape_is(dm_named_tensors_get(m, "3.bias"), 1, (int64_t[]){ 3 }), "bias");
    }
    dm_named_tensors_free(m);

    dm_named_tensors *d = dm_safetensors_load("tests/fixtures/st_dtypes.safetensors");
    CHECK(d != NULL, "st_dtypes.safetensors loads");
    if (!d) printf("  %s\n", dm_errmsg());
    if (d) {
        /* our five dtypes are kept; F16/BF16 load as float32, the other integers as int64 */
        struct { const char *name; dm_dtype dt; float v[6]; } want[] = {
            { "f32", DM_FLOAT32, { 1.5f, -2.25f, 3e38f, 1e-45f, -0.0f, INFINITY } },
            { "f16", DM_FLOAT32, { 1, -2.5f, 65504, 5.9604644775390625e-8f, -0.0f, -INFINITY } },
            { "bf16", DM_FLOAT32, { 1, -3, 9.9999998e37f /* bf16 rounding */, 0.15625f, -0.0f, 7 } },
            { "f64", DM_FLOAT64, { 0.1f, -0.0f, INFINITY, 1.41421356f, -7, 1e-10f } },
            { "i64", DM_INT64, { 0, -1, 1099511627776.0f, -4611686018427387904.0f,
                       9223372036854775807.0f, 12345 } },
            { "i32", DM_INT64, { 0, -1, 2147483647.0f, -2147483648.0f, 7, -123456 } },
            { "i16", DM_INT64, { 0, -1, 32767, -32768, 300, -5 } },
            { "i8", DM_INT64, { 0, -1, 127, -128, 5, -6 } },
            { "u8", DM_UINT8, { 0, 1, 255, 128, 7, 200 } },
            { "bool", DM_BOOL, { 1, 0, 1, 0, 0, 1 } },
        };
        for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
            dm_tensor *t = dm_named_tensors_get(d, want[k].name);
            int ok = t && shape_is(t, 2, (int64_t[]){ 2, 3 }) && t->dtype == want[k].dt;
            if (ok && strcmp(want[k].name, "bf16") != 0) ok = values_equal(t, want[k].v, 6);
            if (ok && strcmp(want[k].name, "bf16") == 0) {     /* 1e38 in bf16 is inexact */
                float *p = dm_data(t);
                ok = p[0] == 1 && p[1] == -3 && fabsf(p[2] - 1e38f) < 1e36f && p[3] == 0.15625f
                     && p[5] == 7;
            }
            char what[64];
            snprintf(what, sizeof what, "dtype fixture %s", want[k].name);
            CHECK(ok, what);
        }
        /* int64 and float64 bit for bit, past what float32 holds */
        dm_tensor *i64 = dm_named_tensors_get(d, "i64");
        CHECK(i64 && dm_get_i64(i64, (int64_t[]){ 1, 1 }) == 9223372036854775807LL &&
              dm_get_i64(i64, (int64_t[]){ 1, 2 }) == 12345, "I64 exact");
        dm_tensor *f64 = dm_named_tensors_get(d, "f64");
        CHECK(f64 && dm_get_f64(f64, (int64_t[]){ 0, 0 }) == 0.1 &&
              dm_get_f64(f64, (int64_t[]){ 1, 2 }) == 1e-10, "F64 exact");
        CHECK(shape_is(dm_named_tensors_get(d, "empty"), 2, (int64_t[]){ 0, 3 }), "empty");
        CHECK(shape_is(dm_named_tensors_get(d, "scalar"), 0, NULL), "scalar");
        const char *note = dm_named_tensors_get_meta(d, "note");
        CHECK(note && strcmp(note, "dtypes \xc3\xa9\xe4\xb8\xad") == 0, "\\u escapes decoded");
        const char *esc = dm_named_tensors_get_meta(d, "escaped");
        CHECK(esc && strcmp(esc, "a\"b\\c\nd") == 0, "escapes decoded");
    }
    dm_named_tensors_free(d);

    dm_named_tensors *e = dm_safetensors_load("tests/fixtures/st_empty.safetensors");
    CHECK(e && e->count == 0 && e->meta_count == 0, "a file with no tensors");
    dm_named_tensors_free(e);
    CHECK_ERR(dm_safetensors_load("tests/fixtures/st_f8.safetensors"),
              "load: tests/fixtures/st_f8.safetensors: unsupported dtype 'F8_E5M2' for tensor 'x'");

    /* .npy */
    struct { const char *file; dm_dtype dt; int ndim; int64_t shape[3]; float v[8]; int nv; } np[] = {
        { "npy_f4_2d", DM_FLOAT32, 2, { 2, 3 }, { 1.5f, -2, 3, 4, 5.25f, -6 }, 6 },
        { "npy_f8_1d", DM_FLOAT64, 1, { 5 }, { 0.1f, -0.0f, INFINITY, 2, -0.5f }, 5 },
        { "npy_i8", DM_INT64, 2, { 2, 2 }, { 0, -1, 1099511627776.0f, -4611686018427387904.0f }, 4 },
        { "npy_fortran_2d", DM_FLOAT32, 2, { 3, 4 }, { 0, 1, 2, 3, 4, 5, 6, 7 }, 8 },
        { "npy_scalar", DM_FLOAT32, 0, { 0 }, { 2.5f }, 1 },
        { "npy_1d", DM_FLOAT32, 1, { 1 }, { 7 }, 1 },
        { "npy_empty", DM_FLOAT32, 2, { 0, 2 }, { 0 }, 0 },
        { "npy_be_f4", DM_FLOAT32, 2, { 2, 2 }, { 1, -2, 0.5f, 1e30f }, 4 },
        { "npy_bool", DM_BOOL, 1, { 3 }, { 1, 0, 1 }, 3 },
        { "npy_f2", DM_FLOAT32, 1, { 3 }, { 1, -0.5f, 65504 }, 3 },
        { "npy_u1", DM_UINT8, 1, { 3 }, { 0, 128, 255 }, 3 },
        { "npy_v2", DM_FLOAT32, 2, { 3, 2 }, { 0, 1, 2, 3, 4, 5 }, 6 },
    };
    for (size_t k = 0; k < sizeof np / sizeof *np; k++) {
        char path[128], what[160];
        snprintf(path, sizeof path, "tests/fixtures/%s.npy", np[k].file);
        dm_tensor *t = dm_npy_load(path);
        int ok = t && shape_is(t, np[k].ndim, np[k].shape) && t->dtype == np[k].dt;
        if (ok) {
            float *buf = malloc((size_t)(dm_numel(t) + 1) * sizeof *buf);
            dm_to_buffer_dtype(t, buf, DM_FLOAT32);
            for (int i = 0; i < np[k].nv; i++)
                if (!(buf[i] == np[k].v[i])) ok = 0;
            free(buf);
            ok = ok && dm_is_contiguous(t);
        }
        snprintf(what, sizeof what, "%s: %s", path, t ? "values" : dm_errmsg());
        CHECK(ok, what);
        dm_tensor_release(t);
    }
    /* Fortran order, 3-D: element [i][j][k] = (12 i + 4 j + k) / 8 - 1 */
    dm_tensor *f3 = dm_npy_load("tests/fixtures/npy_fortran_3d.npy");
    int ok = f3 && shape_is(f3, 3, (int64_t[]){ 2, 3, 4 }) && f3->dtype == DM_FLOAT64 &&
             dm_is_contiguous(f3);
    for (int i = 0; ok && i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                if (dm_get_f64(f3, (int64_t[]){ i, j, k }) != (12 * i + 4 * j + k) / 8.0 - 1)
                    ok = 0;
    CHECK(ok, "Fortran-order 3-D array transposed to row-major");
    dm_tensor_release(f3);
    dm_tensor *i4 = dm_npy_load("tests/fixtures/npy_i4_3d.npy");
    CHECK(i4 && shape_is(i4, 3, (int64_t[]){ 2, 3, 4 }) && i4->dtype == DM_INT64 &&
          dm_get_i64(i4, (int64_t[]){ 0, 0, 0 }) == -12 &&
          dm_get_i64(i4, (int64_t[]){ 1, 2, 3 }) == 11, "<i4 3-D as int64");
    dm_tensor_release(i4);
}

/* ---- every dtype keeps its dtype and its bits, through both formats ------------------- */

static int contains(const unsigned char *p, size_t n, const char *s)
{
    size_t m = strlen(s);
    for (size_t i = 0; i + m <= n; i++) if (memcmp(p + i, s, m) == 0) return 1;
    return 0;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void test_dtype_roundtrip(void)
{
    static const char *const st_names[] = { "F32", "F64", "I64", "U8", "BOOL" };
    static const char *const npy_names[] = { "<f4", "<f8", "<i8", "|u1", "|b1" };
    int64_t shape[2] = { 2, 3 };
    double dv[6] = { 0.1, -2.5, 1e300, -0.0, 7, 1e-310 };
    int64_t iv[6] = { INT64_MIN, -1, 0, 255, 9007199254740993LL, INT64_MAX };
    char path[512], npath[512], what[96];
    snprintf(path, sizeof path, "%s", tmp_path("dt.safetensors"));
    snprintf(npath, sizeof npath, "%s", tmp_path("dt.npy"));
    for (int dt = 0; dt < DM_NDTYPES; dt++) {
        dm_tensor *t = dm_tensor_new_dtype(2, shape, (dm_dtype)dt);
        for (int i = 0; i < 6; i++) {
            int64_t idx[2] = { i / 3, i % 3 };
            if (dm_is_floating((dm_dtype)dt)) dm_set_f64(t, idx, dv[i]);
            else dm_set_i64(t, idx, dt == DM_INT64 ? iv[i] : i % 2 ? 200 + i : 0);
        }
        /* a transposed view: written row-major as it reads */
        dm_tensor *tt = dm_transpose(t, 0, 1);
        dm_named_tensors *nt = dm_named_tensors_new();
        dm_named_tensors_add(nt, "t", t);
        dm_named_tensors_add(nt, "tt", tt);
        CHECK(dm_safetensors_save(path, nt) == 0, "save any dtype");
        size_t n;
        unsigned char *bytes = slurp(path, &n);
        char want[32];
        snprintf(want, sizeof want, "\"dtype\":\"%s\"", st_names[dt]);
        snprintf(what, sizeof what, "header says %s", st_names[dt]);
        CHECK(bytes && contains(bytes, n, want), what);
        CHECK(bytes && n == 8 + (size_t)get_le64(bytes) + 12 * dm_dtype_size((dm_dtype)dt),
              "data sized by the dtype");
        free(bytes);
        dm_named_tensors *back = dm_safetensors_load(path);
        int ok = back != NULL;
        for (int k = 0; ok && k < 2; k++) {
            const dm_tensor *a = k ? tt : t, *b = dm_named_tensors_get(back, k ? "tt" : "t");
            ok = b && b->dtype == (dm_dtype)dt && dm_same_shape(a, b);
            for (int i = 0; ok && i < 2; i++)
                for (int j = 0; j < 3; j++) {
                    int64_t idx[2] = { k ? j : i, k ? i : j };
                    if (dm_is_floating((dm_dtype)dt)) {
                        double x = dm_get_f64(a, idx), y = dm_get_f64(b, idx);
                        if (memcmp(&x, &y, 8) != 0) ok = 0;
                    } else if (dm_get_i64(a, idx) != dm_get_i64(b, idx)) ok = 0;
                }
        }
        snprintf(what, sizeof what, "safetensors round trip %s", dm_dtype_name((dm_dtype)dt));
        CHECK(ok, what);
        dm_named_tensors_free(back);

        CHECK(dm_npy_save(npath, tt) == 0, "save_npy any dtype");
        bytes = slurp(npath, &n);
        snprintf(want, sizeof want, "'descr': '%s'", npy_names[dt]);
        snprintf(what, sizeof what, "npy descr %s", npy_names[dt]);
        CHECK(bytes && contains(bytes, n, want) && n % 64 ==
              (6 * dm_dtype_size((dm_dtype)dt)) % 64, what);
        free(bytes);
        dm_tensor *nb = dm_npy_load(npath);
        ok = nb && nb->dtype == (dm_dtype)dt && dm_same_shape(nb, tt);
        for (int i = 0; ok && i < 3; i++)
            for (int j = 0; j < 2; j++) {
                int64_t idx[2] = { i, j };
                if (dm_is_floating((dm_dtype)dt)) {
                    double x = dm_get_f64(tt, idx), y = dm_get_f64(nb, idx);
                    if (memcmp(&x, &y, 8) != 0) ok = 0;
                } else if (dm_get_i64(tt, idx) != dm_get_i64(nb, idx)) ok = 0;
            }
        snprintf(what, sizeof what, "npy round trip %s", dm_dtype_name((dm_dtype)dt));
        CHECK(ok, what);
        dm_tensor_release(nb);
        dm_named_tensors_free(nt);
        dm_tensor_release(tt);
        dm_tensor_release(t);
    }
    /* a BOOL byte other than 0/1 reads as true, stored as 1 */
    unsigned char bb[8 + 56 + 3];
    const char *hdr = "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}";
    size_t hl = strlen(hdr);
    memset(bb, 0, sizeof bb);
    bb[0] = (unsigned char)hl;
    memcpy(bb + 8, hdr, hl);
    bb[8 + hl] = 0; bb[8 + hl + 1] = 7; bb[8 + hl + 2] = 255;
    dm_named_tensors *b = dm_safetensors_load_buffer(bb, 8 + hl + 3, "bool");
    dm_tensor *bt = b ? dm_named_tensors_get(b, "b") : NULL;
    CHECK(bt && bt->dtype == DM_BOOL && ((unsigned char *)dm_data_ptr(bt))[0] == 0 &&
          ((unsigned char *)dm_data_ptr(bt))[1] == 1 && ((unsigned char *)dm_data_ptr(bt))[2] == 1,
          "BOOL bytes normalised to 0/1");
    /* dm_named_tensors_to_dtype: floating ones only, or all */
    if (b) {
        dm_tensor *f = dm_tensor_full_dtype(1, (int64_t[]){ 2 }, 0.1, DM_FLOAT64);
        dm_named_tensors_add(b, "f", f);
        dm_tensor_release(f);
        CHECK(dm_named_tensors_to_dtype(b, DM_FLOAT32, 1) == 0 &&
              dm_named_tensors_get(b, "f")->dtype == DM_FLOAT32 &&
              dm_named_tensors_get(b, "b")->dtype == DM_BOOL &&
              dm_data(dm_named_tensors_get(b, "f"))[1] == 0.1f, "to_dtype floating only");
        CHECK(dm_named_tensors_to_dtype(b, DM_FLOAT32, 0) == 0 &&
              dm_named_tensors_get(b, "b")->dtype == DM_FLOAT32 &&
              dm_data(dm_named_tensors_get(b, "b"))[1] == 1.0f, "to_dtype all");
    }
    dm_named_tensors_free(b);
    remove(path);
    remove(npath);
}

/* ---- .npy writing ------------------------------------------------------------------- */

static void test_npy_roundtrip(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("a.npy"));
    dm_tensor *a = tu_tensor(2, (int64_t[]){ 2, 3 }, (float[]){ 1, 2, 3, 4, 5, 6 });
    CHECK(dm_npy_save(path, a) == 0, "save_npy");
    size_t n;
    unsigned char *b = slurp(path, &n);
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(b && n == 128 + 24, "header padded so the data start at 128");
    if (b && n == 128 + 24) {
        CHECK(memcmp(b, "\x93NUMPY\x01\x00\x76\x00", 10) == 0, "magic, version 1.0, length 118");
        CHECK(memcmp(b + 10, h, strlen(h)) == 0, "header text as numpy writes it");
        CHECK(b[127] == '\n' && b[126] == ' ', "space padding and newline");
    }
    free(b);
    dm_tensor *back = dm_npy_load(path);
    CHECK(back && shape_is(back, 2, (int64_t[]){ 2, 3 }) &&
          values_equal(back, (float[]){ 1, 2, 3, 4, 5, 6 }, 6), "npy round trip");
    dm_tensor_release(back);

    /* 0-d, 1-d and a non-contiguous view */
    dm_tensor *s = dm_tensor_scalar(-1.5f);
    dm_tensor *v = tu_tensor(1, (int64_t[]){ 3 }, (float[]){ 7, 8, 9 });
    dm_tensor *t = dm_transpose(a, 0, 1);
    CHECK(dm_npy_save(path, s) == 0, "save scalar");
    b = slurp(path, &n);
    CHECK(b && strstr((char *)b + 10, "'shape': (), }") != NULL, "scalar shape ()");
    free(b);
    back = dm_npy_load(path);
    CHECK(back && back->ndim == 0 && dm_data(back)[0] == -1.5f, "scalar round trip");
    dm_tensor_release(back);
    CHECK(dm_npy_save(path, v) == 0, "save 1-d");
    b = slurp(path, &n);
    CHECK(b && strstr((char *)b + 10, "'shape': (3,), }") != NULL, "1-d shape (3,)");
    free(b);
    CHECK(dm_npy_save(path, t) == 0, "save transposed");
    back = dm_npy_load(path);
    CHECK(back && shape_is(back, 2, (int64_t[]){ 3, 2 }) &&
          values_equal(back, (float[]){ 1, 4, 2, 5, 3, 6 }, 6), "transposed round trip");
    dm_tensor_release(back);
    CHECK(count_tmp_files() == 0, "no temporary files");
    char want[600];
    snprintf(want, sizeof want, "save_npy: %s/no/dir.npy: No such file or directory", tmpdir);
    expect_fail_msg(dm_npy_save(tmp_path("no/dir.npy"), a) != 0, want, __LINE__);
    dm_tensor_release(a);
    dm_tensor_release(s);
    dm_tensor_release(v);
    dm_tensor_release(t);
    remove(path);
}

/* ---- hostile safetensors ------------------------------------------------------------ */

#define T1 "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

static void test_st_hostile(void)
{
    float two[2] = { 1, 2 };
    char big[64];

    /* lengths */
    dm_named_tensors *nt = dm_safetensors_load_buffer("abc", 3, "bad.st");
    expect_fail_msg(nt == NULL, "load: bad.st: file of 3 bytes is too short for a safetensors "
                    "header", __LINE__);
    unsigned char hdr[200] = { 0 };
    uint64_t huge = 1000000000000ull;
    for (int k = 0; k < 8; k++) hdr[k] = (unsigned char)(huge >> (8 * k));
    nt = dm_safetensors_load_buffer(hdr, 200, "model.safetensors");
    expect_fail_msg(nt == NULL, "load: model.safetensors: header length 1000000000000 exceeds "
                    "file size 200", __LINE__);
    for (int k = 0; k < 8; k++) hdr[k] = 0xff;
    nt = dm_safetensors_load_buffer(hdr, 200, "bad.st");
    expect_fail_msg(nt == NULL, "load: bad.st: header length 18446744073709551615 exceeds file "
                    "size 200", __LINE__);
    memset(hdr, 0, 8);
    hdr[0] = 193;
    nt = dm_safetensors_load_buffer(hdr, 200, "bad.st");
    expect_fail_msg(nt == NULL, "load: bad.st: header length 193 exceeds file size 200", __LINE__);

    /* a header over the 100 MB limit, in a sparse 200 MB file */
    const char *sparse = tmp_path("sparse.safetensors");
    FILE *f = fopen(sparse, "wb");
    uint64_t hl = 150000000;
    for (int k = 0; k < 8; k++) hdr[k] = (unsigned char)(hl >> (8 * k));
    fwrite(hdr, 1, 8, f);
    fseek(f, 200000000L - 1, SEEK_SET);
    fputc(0, f);
    fclose(f);
    char want[600];
    snprintf(want, sizeof want, "load: %s: header length 150000000 exceeds the limit of "
             "100000000 bytes", sparse);
    expect_fail_msg(dm_safetensors_load(sparse) == NULL, want, __LINE__);
    remove(sparse);

    /* a good file, to be sure the helpers build valid ones */
    size_t n;
    unsigned char *b = st_make(T1, two, 8, &n);
    nt = dm_safetensors_load_buffer(b, n, "good.st");
    CHECK(nt && nt->count == 1 && dm_data(nt->tensors[0])[1] == 2, "helper makes valid files");
    dm_named_tensors_free(nt);
    free(b);
    b = st_make("  {\"t\" : {\"shape\":[ 2 ] ,\"data_offsets\":[0,8],\"dtype\":\"F32\"}}\n\t ",
                two, 8, &n);
    nt = dm_safetensors_load_buffer(b, n, "good.st");
    CHECK(nt && nt->count == 1, "white space and any field order are fine");
    dm_named_tensors_free(nt);
    free(b);

    /* truncation and padding */
    ST_ERR(T1, two, 4, "tensor 't': data_offsets [0, 8] exceed the data size 4");
    ST_ERR(T1, two, 0, "tensor 't': data_offsets [0, 8] exceed the data size 0");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", two, 8,
           "4 bytes of data after the last tensor");
    ST_ERR("{}", two, 8, "8 bytes of data after the last tensor");
    ST_ERR("", NULL, 0, "invalid header JSON: unexpected end of header (expected '{' at the "
           "start of the header)");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", two, 8,
           "invalid header JSON: unexpected end of header (expected ',' or '}' in an object)");

    /* not JSON, not UTF-8 */
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", two, 8,
           "invalid header JSON at byte 54: unexpected data after the header object");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", two, 8,
           "invalid header JSON at byte 54: expected a tensor name");
    ST_ERR("{\"t\" {}}", NULL, 0, "invalid header JSON at byte 5: expected ':' after a key");
    ST_ERR("{\"t\xff\":{}}", NULL, 0, "header is not valid UTF-8 (byte 3)");
    ST_ERR("{\"t\xc0\x80\":{}}", NULL, 0, "header is not valid UTF-8 (byte 3)");   /* overlong */
    ST_ERR("{\"\xed\xa0\x80\":{}}", NULL, 0, "header is not valid UTF-8 (byte 2)"); /* surrogate */
    {   /* padding must be white space: a NUL is not */
        size_t hn = strlen(T1) + 2;
        unsigned char *nb = malloc(8 + hn + 8);
        memset(nb, 0, 8);
        nb[0] = (unsigned char)hn;
        memcpy(nb + 8, T1 " \0", hn);
        memcpy(nb + 8 + hn, two, 8);
        dm_named_tensors *z = dm_safetensors_load_buffer(nb, 8 + hn + 8, "bad.st");
        expect_fail_msg(z == NULL, "load: bad.st: invalid header JSON at byte 55: unexpected "
                        "data after the header object", __LINE__);
        dm_named_tensors_free(z);
        free(nb);
    }
    ST_ERR("{\"a\x01\":{}}", NULL, 0, "invalid header JSON at byte 3: control character in a "
           "string");
    ST_ERR("{\"a\\u0000\":{}}", NULL, 0, "invalid header JSON at byte 3: \\u0000 in a string is "
           "not supported");
    ST_ERR("{\"a\\ud800x\":{}}", NULL, 0, "invalid header JSON at byte 3: lone surrogate in \\u "
           "escape");
    ST_ERR("{\"a\\q\":{}}", NULL, 0, "invalid header JSON at byte 3: invalid escape in a string");
    ST_ERR("{\"abc", NULL, 0, "invalid header JSON: unexpected end of header (unterminated "
           "string)");
    ST_ERR("[]", NULL, 0, "invalid header JSON at byte 0: expected '{' at the start of the "
           "header");
    ST_ERR("{'t':{}}", NULL, 0, "invalid header JSON at byte 1: expected a tensor name");

    /* duplicates */
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two, 8,
           "duplicate tensor name 't'");
    ST_ERR("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", NULL, 0, "duplicate metadata key 'a'");
    ST_ERR("{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0,
           "duplicate key '__metadata__'");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", NULL, 0,
           "tensor 't': duplicate field 'dtype'");

    /* schema */
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", NULL, 0, "tensor 't': missing "
           "'data_offsets'");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", two, 8,
           "tensor 't': unknown field 'x'");
    ST_ERR("{\"t\":[]}", NULL, 0, "tensor 't': expected an object with dtype, shape and "
           "data_offsets");
    ST_ERR("{\"t\":{\"dtype\":32}}", NULL, 0, "tensor 't': dtype must be a string");
    ST_ERR("{\"t\":{\"dtype\":\"F16\",\"shape\":2}}", NULL, 0, "tensor 't': shape must be an "
           "array");
    ST_ERR("{\"t\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,16]}}", NULL, 0,
           "unsupported dtype 'C64' for tensor 't'");
    ST_ERR("{\"__metadata__\":{\"a\":1}}", NULL, 0, "__metadata__ value for 'a' must be a string");
    ST_ERR("{\"__metadata__\":[]}", NULL, 0, "__metadata__ must be an object of strings");

    /* numbers */
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", two, 8,
           "tensor 't': shape holds a negative number -2");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", two, 8,
           "tensor 't': data_offsets holds a negative number -8");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", two, 8,
           "tensor 't': shape holds 2.5, not an integer");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", two, 8,
           "tensor 't': shape holds 2e0, not an integer");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", two, 8,
           "invalid header JSON at byte 29: number with a leading zero");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
           two, 8, "tensor 't': shape holds 99999999999999999999, too large");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", two, 8,
           "invalid header JSON at byte 31: expected a number");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
           two, 8, "tensor 't': shape has more than 8 dimensions");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", two, 8,
           "tensor 't': data_offsets must hold 2 numbers");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", two, 8,
           "tensor 't': data_offsets must hold 2 numbers");
    /* products that overflow 64 bits, also hidden behind a zero-size dim */
    snprintf(big, sizeof big, "[%lld,%lld]", 4294967296LL, 4294967296LL);
    char h2[256];
    snprintf(h2, sizeof h2, "{\"t\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,0]}}", big);
    ST_ERR(h2, NULL, 0, "tensor 't': shape [4294967296 x 4294967296] is too large");
    ST_ERR("{\"t\":{\"dtype\":\"F64\",\"shape\":[0,4611686018427387904],\"data_offsets\":[0,0]}}",
           NULL, 0, "tensor 't': shape [0 x 4611686018427387904] is too large");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", two, 8,
           "tensor 't': shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8");
    ST_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", two, 8,
           "tensor 't': data_offsets [8, 0] end before they begin");

    /* layout: holes and overlaps */
    float four[4] = { 1, 2, 3, 4 };
    ST_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", four, 12,
           "tensors 'a' and 'b' overlap");
    ST_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", four, 16,
           "hole of 4 bytes between tensors 'a' and 'b'");
    ST_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", four, 8,
           "hole of 4 bytes before tensor 'a'");
    ST_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", four, 8,
           "tensors 'a' and 'b' overlap");
    ST_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", four, 16,
           "tensors 'a' and 'b' overlap");
    /* zero-size tensors between others, and names in any header order, are fine */
    b = st_make("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]},"
                "\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", four, 16, &n);
    nt = dm_safetensors_load_buffer(b, n, "ok.st");
    CHECK(nt && nt->count == 3 && strcmp(nt->names[0], "a") == 0 &&
          strcmp(nt->names[1], "z") == 0 && strcmp(nt->names[2], "b") == 0,
          "tensors come in data order");
    dm_named_tensors_free(nt);
    free(b);
    /* long names are cut in messages */
    char lh[400], longname[201];
    memset(longname, 'n', 200);
    longname[200] = '\0';
    snprintf(lh, sizeof lh, "{\"%s\":{\"dtype\":\"X\"}}", longname);
    char lw[200];
    snprintf(lw, sizeof lw, "unsupported dtype 'X' for tensor '%.76s...'", longname);
    ST_ERR(lh, NULL, 0, lw);
}

/* ---- hostile .npy ------------------------------------------------------------------- */

static void test_npy_hostile(void)
{
    float six[8] = { 0 };
    NPY_ERR("\x93NUM", 4, "file of 4 bytes is too short for a .npy header");
    NPY_ERR("PK\x03\x04xxxxxxxxxxxx", 16, "not a .npy file (bad magic)");
    NPY_ERR("\x93NUMPY\x04\x00\x00\x00", 10, "unsupported .npy format version 4.0");
    NPY_ERR("\x93NUMPY\x01\x00\xff\xff", 10, "header length 65535 exceeds file size 10");
    NPY_ERR("\x93NUMPY\x02\x00\x10\x00", 10, "file of 10 bytes is too short for a .npy header");
    NPY_ERR("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12, "header length 4294967295 exceeds file "
            "size 12");
    /* a 2 MB header (format 2.0) is over the limit */
    size_t bn = 12 + (2u << 20);
    unsigned char *bigh = calloc(1, bn);
    memcpy(bigh, "\x93NUMPY\x02\x00\x00\x00\x20\x00", 12);
    NPY_ERR(bigh, bn, "header length 2097152 exceeds the limit of 1048576 bytes");
    free(bigh);

    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    size_t n;
    unsigned char *b = npy_make(ok, six, 24, &n);
    dm_tensor *t = dm_npy_load_buffer(b, n, "ok.npy");
    CHECK(t && shape_is(t, 2, (int64_t[]){ 2, 3 }), "helper makes valid files");
    dm_tensor_release(t);
    NPY_ERR(b, n - 1, "shape [2 x 3] of '<f4' needs 24 bytes of data, the file holds 23");
    free(b);
    NPY_HDR_ERR(ok, six, 28, "shape [2 x 3] of '<f4' needs 24 bytes of data, the file holds 28");
    b = npy_make("{\"descr\": \"<f8\", \"shape\": (3,), \"fortran_order\": True}", six, 24, &n);
    t = dm_npy_load_buffer(b, n, "ok.npy");
    CHECK(t && shape_is(t, 1, (int64_t[]){ 3 }), "keys in any order; 1-d Fortran order");
    dm_tensor_release(t);
    free(b);
    NPY_HDR_ERR("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", six, 16,
                "unsupported dtype '<c8'");
    NPY_HDR_ERR("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", six, 16,
                "unsupported dtype '|O'");
    NPY_HDR_ERR("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", six, 8,
                "unsupported dtype '|f4'");
    NPY_HDR_ERR("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", six, 8,
                "invalid header: descr must be a string like '<f4'");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False}", six, 8, "invalid header: missing "
                "'shape'");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", six, 8,
                "invalid header: unexpected key 'x'");
    NPY_HDR_ERR("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", six,
                8, "invalid header: duplicate key 'descr'");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", six, 8,
                "invalid header: fortran_order must be True or False");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", six, 8,
                "invalid header: shape must be a tuple");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", six, 8,
                "invalid header: shape must be a tuple");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", six, 8,
                "invalid header: negative size in shape");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", six,
                4, "shape has more than 8 dimensions");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
                six, 4, "shape [4294967296 x 4294967296] is too large");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                six, 4, "invalid header: size in shape too large");
    NPY_HDR_ERR("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", six, 8,
                "invalid header: unexpected data after the dict");
    NPY_HDR_ERR("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", six, 8,
                "invalid header: expected ',' or '}'");
    NPY_HDR_ERR("{'descr': '<f4", six, 8, "invalid header: unterminated string");
    NPY_HDR_ERR("", six, 8, "invalid header: expected a dict");
    /* Python 2's long sizes and double quotes are numpy's too */
    b = npy_make("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L, 3L)}", six, 24,
                 &n);
    t = dm_npy_load_buffer(b, n, "ok.npy");
    CHECK(t && shape_is(t, 2, (int64_t[]){ 2, 3 }), "3L sizes, double quotes");
    dm_tensor_release(t);
    free(b);
}

/* ---- the fuzzer's finds ------------------------------------------------------------- */

static void test_regressions(void)
{
    const char *dir = "tests/fuzz/regress";
    DIR *d = opendir(dir);
    if (!d) { CHECK(0, "tests/fuzz/regress exists (run from the repository root)"); return; }
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, "README")) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;     /* regress/pt/ holds the .pt reader's (test_pt_regress.c) */
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        size_t n;
        unsigned char *b = slurp(path, &n);
        if (!b) continue;
        files++;
        /* every input must fail cleanly under both readers, from memory and from the file */
        dm_named_tensors *nt = dm_safetensors_load_buffer(b, n, path);
        int ok = nt == NULL && strncmp(dm_errmsg(), "load: ", 6) == 0;
        dm_named_tensors_free(nt);
        nt = dm_safetensors_load(path);
        ok = ok && nt == NULL && strncmp(dm_errmsg(), "load: ", 6) == 0;
        dm_named_tensors_free(nt);
        dm_tensor *t = dm_npy_load_buffer(b, n, path);
        ok = ok && t == NULL && strncmp(dm_errmsg(), "load_npy: ", 10) == 0;
        dm_tensor_release(t);
        t = dm_npy_load(path);
        ok = ok && t == NULL && strncmp(dm_errmsg(), "load_npy: ", 10) == 0;
        dm_tensor_release(t);
        char what[700];
        snprintf(what, sizeof what, "regression input %s fails cleanly", path);
        CHECK(ok, what);
        free(b);
    }
    closedir(d);
    CHECK(files > 0, "tests/fuzz/regress holds inputs");
}

int main(void)
{
    int64_t bytes0 = dm_live_bytes(), tensors0 = dm_live_tensors();
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/dm_test_io_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }

    test_roundtrip();
    test_failed_write_keeps_old_file();
    test_fixtures();
    test_npy_roundtrip();
    test_dtype_roundtrip();
    test_st_hostile();
    test_npy_hostile();
    test_regressions();

    CHECK(count_tmp_files() == 0, "no temporary files at the end");
    rmdir(tmpdir);
    CHECK(dm_live_bytes() == bytes0, "live bytes back to the start");
    CHECK(dm_live_tensors() == tensors0, "live tensors back to the start");
    return TEST_END("test_io");
}
