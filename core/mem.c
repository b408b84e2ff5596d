/* mem.c -- tensors whose storage comes from a host's allocator (dm_allocator,
 * dm_tensor_new_with): a storage header and a tensor from the core's objects, the bytes from
 * the host.  Every other tensor is a block from its device's allocator (backend.h: alloc,
 * free; the cpu device's caching allocator and the blocks, backend/cpu/alloc.c, which also
 * releases both kinds of storage, dm__storage_release).  dm_live_bytes, dm_cached_bytes,
 * dm_empty_cache and dm_cache_limit are the cpu allocator's. */
#include "internal.h"

/* a storage whose bytes come from a host's allocator: a separate object */
dm_tensor *dm_tensor_new_with(int ndim, const int64_t *shape, dm_dtype dt,
                              const dm_allocator *a)
{
    if (!a || !a->alloc || !a->free) {
        dm_seterr("tensor: an allocator needs alloc and free functions");
        return NULL;
    }
    if ((unsigned)dt >= DM_NDTYPES) { dm_seterr("tensor: unknown dtype %d", (int)dt); return NULL; }
    int64_t n = dm__check_shape("tensor", ndim, shape);
    if (n < 0) return NULL;
    int64_t nbytes = n * (int64_t)dm__esize(dt);
    dm_storage *s = dm__obj_alloc(sizeof *s);
    dm_tensor *t = s ? dm__tensor_alloc() : NULL;
    void *data = t ? a->alloc(a->ctx, (size_t)(nbytes ? nbytes : 1)) : NULL;
    if (!data) {
        if (t) dm_seterr("out of memory: allocator '%s' could not give %lld bytes",
                         a->name ? a->name : "?", (long long)nbytes);
        if (t) dm__tensor_free(t);
        if (s) dm__obj_free(s, sizeof *s);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    s->data = data;
    s->nbytes = nbytes;
    s->refcount = 1;
    s->device = DM_CPU;
    s->allocator = a;
    s->version = 0;
    dm__count_bytes(nbytes);
    t->refcount = 1;
    t->storage = s;
    t->dtype = dt;
    t->ndim = ndim;
    int64_t st = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->stride[d] = st;
        st *= shape[d] ? shape[d] : 1;
    }
    return t;
}

