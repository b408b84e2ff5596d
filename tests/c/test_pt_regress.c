/* test_pt_regress.c -- the PyTorch checkpoint fuzzer's finds (tests/fuzz/regress/pt/, one
 * input per distinct crash, leak, timeout or out-of-memory that tests/fuzz/fuzz_pt.c found
 * and the reader was fixed for).  Each is read from memory and from its file: both reads give
 * NULL with a "load: <name>: " message, or both give a document whose every tensor is read to
 * its last element (run under `make test SANITIZE=1` for the bounds); nothing leaks.  Run from
 * the repository root (make test does); needs no clang. */
#define _POSIX_C_SOURCE 200809L     /* opendir */
#include "testutil.h"
#include <dirent.h>
#include <sys/stat.h>

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* every tensor of d to its last element */
static void touch(const dm_pydoc *d)
{
    for (int64_t i = 0; i < d->count_; i++) {
        const dm_pyval *v = d->all_[i];
        if (v->kind != DM_PY_TENSOR && !(v->kind == DM_PY_OTHER && v->t)) continue;
        int64_t n = dm_numel(v->t);
        double *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
        dm_to_buffer_dtype(v->t, buf, DM_FLOAT64);
        free(buf);
    }
}

/* NULL with "load: <name>: something", or a document with a root */
static int clean(dm_pydoc *d, const char *name)
{
    if (d) { touch(d); return d->root != NULL; }
    char prefix[700];
    snprintf(prefix, sizeof prefix, "load: %s: ", name);
    const char *m = dm_errmsg();
    return strncmp(m, prefix, strlen(prefix)) == 0 && strlen(m) > strlen(prefix);
}

/* the finds whose message says what was wrong: a file name's start and a part of its message */
static const struct { const char *file, *msg; } expect[] = {
    { "oom-view-2p60-over-one-float", "views larger than their storages add up to more than" },
    { "timeout-100-expanded-views", "views larger than their storages add up to more than" },
};

int main(void)
{
    int64_t bytes0 = dm_live_bytes(), tensors0 = dm_live_tensors();
    const char *dir = "tests/fuzz/regress/pt";
    DIR *dp = opendir(dir);
    CHECK(dp != NULL, "tests/fuzz/regress/pt exists (run from the repository root)");
    int files = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, "README")) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        size_t n;
        unsigned char *b = slurp(path, &n);
        CHECKF(b != NULL, "%s: readable", path);
        if (!b) continue;
        files++;
        dm_pydoc *dm = dm_pt_load_buffer(b, n, "fuzz");
        CHECKF(clean(dm, "fuzz"), "%s from memory: a document or a clean error (got \"%s\")",
               path, dm ? "a document without a root" : dm_errmsg());
        dm_pydoc *df = dm_pt_load(path);
        CHECKF(clean(df, path), "%s from its file: a document or a clean error (got \"%s\")",
               path, df ? "a document without a root" : dm_errmsg());
        CHECKF(!dm == !df, "%s: memory and file reads agree", path);
        for (size_t k = 0; k < sizeof expect / sizeof *expect; k++)
            if (!strncmp(e->d_name, expect[k].file, strlen(expect[k].file)))
                CHECKF(!df && strstr(dm_errmsg(), expect[k].msg), "%s: message \"%s\" says \"%s\"",
                       path, df ? "(loaded)" : dm_errmsg(), expect[k].msg);
        dm_pydoc_free(dm);
        dm_pydoc_free(df);
        free(b);
    }
    if (dp) closedir(dp);
    CHECK(files > 0, "tests/fuzz/regress/pt holds inputs");
    CHECK(dm_live_bytes() == bytes0, "live bytes back to the start");
    CHECK(dm_live_tensors() == tensors0, "live tensors back to the start");
    return TEST_END("test_pt_regress");
}
