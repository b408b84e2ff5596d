/* mem.c -- float buffers and storages, with the live-byte counter the Lua binding reads to
 * keep its collector informed (Lua cannot see malloc'd bytes by itself). */
#include "internal.h"
#include <stdatomic.h>

static _Atomic int64_t live_bytes;
static _Atomic int64_t live_tensors;

int64_t dm_live_bytes(void) { return atomic_load(&live_bytes); }
int64_t dm_live_tensors(void) { return atomic_load(&live_tensors); }
void dm__count_tensor(int delta) { atomic_fetch_add(&live_tensors, delta); }

float *dm__alloc_floats(int64_t n)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float) / 2) {
        dm_seterr("out of memory: cannot allocate %lld floats", (long long)n);
        return NULL;
    }
    /* plain malloc: glibc's aligned_alloc leaves fragments around large blocks that stop
     * freed blocks from being reused, and a loop of 1 MB temporaries then grew RSS to 2 GB
     * while live bytes stayed at 2 MB.  malloc's 16-byte alignment is enough for our
     * kernels (unaligned SIMD loads) and for OpenBLAS. */
    size_t bytes = (size_t)(n ? n : 1) * sizeof(float);
    float *p = malloc(bytes);
    if (!p) {
        dm_seterr("out of memory: cannot allocate %lld bytes", (long long)bytes);
        return NULL;
    }
    atomic_fetch_add(&live_bytes, (int64_t)n * (int64_t)sizeof(float));
    return p;
}

void dm__free_floats(float *p, int64_t n)
{
    if (!p) return;
    atomic_fetch_sub(&live_bytes, n * (int64_t)sizeof(float));
    free(p);
}

dm_storage *dm__storage_new(int64_t n)
{
    dm_storage *s = malloc(sizeof *s);
    if (!s) { dm_seterr("out of memory"); return NULL; }
    s->data = dm__alloc_floats(n);
    if (!s->data) { free(s); return NULL; }
    s->size = n;
    s->refcount = 1;
    return s;
}

void dm__storage_release(dm_storage *s)
{
    if (!s || --s->refcount > 0) return;
    dm__free_floats(s->data, s->size);
    free(s);
}
