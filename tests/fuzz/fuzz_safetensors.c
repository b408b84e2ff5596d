/* fuzz_safetensors.c -- libFuzzer target for deepmoon's file readers (core/io/safetensors.c,
 * npy.c).
 *
 * Every input goes to the safetensors reader and the .npy reader, from memory and from a
 * file.  Whatever the bytes, a reader must return a result or NULL with a message naming
 * the file ("load: fuzz: ..."), never crash, read out of bounds (ASan) or leak (the live
 * byte counter must be back at zero).  An input that loads is saved and loaded again and
 * must come back identical (names, metadata, shapes, values bit for bit).
 *
 * Build and run with tests/fuzz/run.sh (see tests/fuzz/README).  Built with -DFUZZ_CLASSIFY
 * instead, it is a plain program that prints, for each file named on the command line, the
 * two readers' messages (run.sh uses it to pick regression inputs, one per distinct error). */
#define _POSIX_C_SOURCE 200809L
#include "../../core/deepmoon.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpfile_path[256];

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_safetensors: %s (last message: %s)\n", what, dm_errmsg());
    abort();
}

static const char *scratch(void)
{
    if (!tmpfile_path[0]) {
        /* tmpfs where there is one: the writers fsync, which is slow on a disk */
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmpfile_path, sizeof tmpfile_path, "%s/dm_fuzz_%ld.bin", dir, (long)getpid());
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

/* same dtype, shape and bytes (the readers give contiguous tensors of any dtype) */
static int same_tensor(const dm_tensor *a, const dm_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) if (a->shape[d] != b->shape[d]) return 0;
    int64_t n = dm_numel(a);
    return n == 0 || memcmp(dm_data_ptr(a), dm_data_ptr(b), (size_t)n * dm_dtype_size(a->dtype)) == 0;
}

/* the message must be "<fn>: <name>: <something>" */
static void check_msg(const char *fn, const char *name)
{
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s: %s: ", fn, name);
    const char *m = dm_errmsg();
    if (strncmp(m, prefix, strlen(prefix)) != 0 || strlen(m) == strlen(prefix))
        fail("message does not name the reader and the file");
}

static void safetensors(const uint8_t *data, size_t size)
{
    dm_named_tensors *nt = dm_safetensors_load_buffer(data, size, "fuzz");
    if (!nt) check_msg("load", "fuzz");
    spill(data, size);
    dm_named_tensors *nf = dm_safetensors_load(scratch());
    if (!nf) check_msg("load", scratch());
    if (!nt != !nf) fail("memory and file readers disagree");
    if (nt) {
        for (int64_t i = 0; i < nt->count; i++) {
            if (!nt->names[i] || !nt->tensors[i] || !dm_is_contiguous(nt->tensors[i]))
                fail("malformed result");
            if (strcmp(nt->names[i], nf->names[i]) != 0 || !same_tensor(nt->tensors[i], nf->tensors[i]))
                fail("memory and file readers give different tensors");
        }
        /* save, load again: the same names, metadata and values */
        if (dm_safetensors_save(scratch(), nt) != 0) fail("cannot save what was loaded");
        dm_named_tensors *back = dm_safetensors_load(scratch());
        if (!back) fail("cannot load what was saved");
        if (back->count != nt->count || back->meta_count != nt->meta_count)
            fail("round trip changed the counts");
        for (int64_t i = 0; i < nt->count; i++) {
            dm_tensor *t = dm_named_tensors_get(back, nt->names[i]);
            if (!t || !same_tensor(t, nt->tensors[i])) fail("round trip changed a tensor");
        }
        for (int64_t i = 0; i < nt->meta_count; i++) {
            const char *v = dm_named_tensors_get_meta(back, nt->meta_keys[i]);
            if (!v || strcmp(v, nt->meta_values[i]) != 0) fail("round trip changed metadata");
        }
        dm_named_tensors_free(back);
    }
    dm_named_tensors_free(nt);
    dm_named_tensors_free(nf);
}

static void npy(const uint8_t *data, size_t size)
{
    dm_tensor *t = dm_npy_load_buffer(data, size, "fuzz");
    if (!t) check_msg("load_npy", "fuzz");
    spill(data, size);
    dm_tensor *tf = dm_npy_load(scratch());
    if (!tf) check_msg("load_npy", scratch());
    if (!t != !tf) fail("memory and file readers disagree");
    if (t) {
        if (!same_tensor(t, tf)) fail("memory and file readers give different tensors");
        if (dm_npy_save(scratch(), t) != 0) fail("cannot save what was loaded");
        dm_tensor *back = dm_npy_load(scratch());
        if (!back || !same_tensor(back, t)) fail("npy round trip changed the tensor");
        dm_tensor_release(back);
    }
    dm_tensor_release(t);
    dm_tensor_release(tf);
}

#ifndef FUZZ_CLASSIFY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    safetensors(data, size);
    npy(data, size);
    remove(scratch());
    if (dm_live_bytes() != 0 || dm_live_tensors() != 0) fail("tensors leaked");
    return 0;
}

#else

/* classify FILE...: "<file>\t<safetensors message or OK>\t<npy message or OK>" per file */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char st[600];
        dm_named_tensors *nt = dm_safetensors_load(argv[i]);
        snprintf(st, sizeof st, "%s", nt ? "OK" : dm_errmsg());
        dm_named_tensors_free(nt);
        dm_tensor *t = dm_npy_load(argv[i]);
        printf("%s\t%s\t%s\n", argv[i], st, t ? "OK" : dm_errmsg());
        dm_tensor_release(t);
    }
    return 0;
}

#endif
