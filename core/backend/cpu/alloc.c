/* cpu/alloc.c -- the cpu device's memory: a caching allocator (backend.h: alloc, free; the
 * cpu:ref device shares it, both hold host memory), the host objects made on it (autograd
 * nodes, tensor structs of views: dm__obj_alloc, dm__tensor_alloc), and the tensor blocks
 * (a tensor, its storage and its bytes in one block) taken from the current device's
 * allocator, with the live-byte counter the Lua binding reads to keep its collector
 * informed (Lua cannot see malloc'd bytes by itself).  Storages from a host's allocator
 * (dm_tensor_new_with) are mem.c's.
 *
 * The cache sits under every tensor, storage and object.  A training step frees what the
 * previous step allocated, in the same sizes, so freed blocks are kept on free lists by size
 * class and handed out again: in steady state a step makes no call to malloc, and a large output
 * lands on pages that are already mapped (a fresh block of a few hundred KB comes from mmap
 * and costs a page fault per 4 KB on first touch, which used to dominate large ops).
 *
 * Size classes: up to 256 bytes in steps of 32; above, four classes per power of two (so a
 * block wastes at most 25%).  Blocks above CACHE_MAX_BLOCK go straight to malloc/free.  The
 * cache holds at most cache_limit bytes; a block freed beyond that goes back to the system.
 *
 * The default limit is an eighth of the machine's memory, between CACHE_BASE (256 MB) and
 * CACHE_DEFAULT_MAX (2 GB).  256 MB was too small for evaluation in large batches: a
 * Fashion-MNIST CNN run on 1000 test images at a time frees some 700 MB per batch (im2col
 * workspaces of 100-200 MB, activations of 100 MB); what did not fit went back to glibc,
 * which maps blocks that large afresh each time (mmap above 32 MB at most), and every 4 KB
 * page of them faulted again: 1.3 million page faults and ~7 s of system time per pass over
 * the 10 000 test images, more than the pass's arithmetic on a loaded machine.  Beyond
 * CACHE_BASE the cache grows only while the system has memory to spare (MemAvailable at
 * least an eighth of RAM, looked at once per PRESSURE_STEP bytes kept); under pressure it
 * is trimmed back to CACHE_BASE.
 *
 * dm_live_bytes() counts float buffers in use (requested sizes, not class sizes); cached
 * blocks are not live.  dm_cached_bytes() counts cached blocks (class sizes, every kind). */
#define _DEFAULT_SOURCE                   /* sysconf's _SC_PHYS_PAGES */
#include "internal.h"
#include "cpu.h"
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>

/* ---- the block cache ------------------------------------------------------------------
 *
 * Two caches: the owner's, used without any lock by the first thread that allocates (the
 * thread running the Lua state, in practice: a lock costs more than a small op's
 * arithmetic), and a shared one under a spin lock for every other thread.  A block goes
 * back to the cache of the thread that frees it.  Each counter is the sum of an owner part
 * (written by the owner only) and a shared part (written under the lock); they are read
 * with relaxed loads, so a thread sees its own changes exactly. */

#define NCLASS 100
#define CACHE_MAX_BLOCK ((size_t)1 << 30)
#define CACHE_BASE ((int64_t)256 << 20)
#define CACHE_DEFAULT_MAX ((int64_t)2 << 30)
#define PRESSURE_STEP ((int64_t)64 << 20)

typedef struct block { struct block *next; } block;

typedef struct {
    block *free[NCLASS];
    _Atomic int64_t cached, live_bytes, live_tensors;
    int64_t check_in;           /* bytes to keep beyond CACHE_BASE before looking at memory again */
    int tight;                  /* the last look found memory short */
} cache;

static cache own, shared;                       /* shared: under the lock */
static _Atomic int64_t cache_limit = -1;     /* -1: the default, worked out on first use */
static _Atomic int64_t fast_limit;              /* min(limit, CACHE_BASE) once known (keep) */
static atomic_flag lock = ATOMIC_FLAG_INIT;
static atomic_int owner_taken;
static DM_TLS int role;                         /* 0: not yet known, 1: owner, 2: other */

static inline void lock_cache(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire)) { /* spin */ }
}
static inline void unlock_cache(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

static inline int is_owner(void)
{
    if (role == 0) {
        int expected = 0;
        role = atomic_compare_exchange_strong(&owner_taken, &expected, 1) ? 1 : 2;
    }
    return role == 1;
}

/* add to a counter with a single writer (the owner, or whoever holds the lock) */
static inline void bump(_Atomic int64_t *c, int64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}
static inline int64_t get(_Atomic int64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

int64_t dm_live_bytes(void) { return get(&own.live_bytes) + get(&shared.live_bytes); }
int64_t dm_live_tensors(void) { return get(&own.live_tensors) + get(&shared.live_tensors); }

void dm__count_tensor(int delta)
{
    if (is_owner()) { bump(&own.live_tensors, delta); return; }
    lock_cache();
    bump(&shared.live_tensors, delta);
    unlock_cache();
}

void dm__count_bytes(int64_t delta)
{
    if (is_owner()) { bump(&own.live_bytes, delta); return; }
    lock_cache();
    bump(&shared.live_bytes, delta);
    unlock_cache();
}

/* the class of a block of `bytes` (> 0) and its rounded size; -1 when not cached */
static inline int size_class(size_t bytes, size_t *rounded)
{
    if (bytes <= 256) {
        size_t c = (bytes + 31) / 32;                       /* 1 .. 8 */
        *rounded = c * 32;
        return (int)c - 1;
    }
    if (bytes > CACHE_MAX_BLOCK) { *rounded = bytes; return -1; }
    int e = 63 - __builtin_clzll((unsigned long long)(bytes - 1));   /* 2^e < bytes <= 2^(e+1) */
    size_t step = (size_t)1 << (e - 2);
    size_t r = (bytes + step - 1) & ~(step - 1);            /* 5, 6, 7 or 8 steps */
    *rounded = r;
    return 8 + (e - 8) * 4 + (int)(r / step - 5);
}

/* take a block of class c from k, or NULL; the counters change by dbytes and dtensors */
static inline block *take(cache *k, int c, size_t r, int64_t dbytes, int dtensors)
{
    block *b = NULL;
    if (c >= 0 && (b = k->free[c]) != NULL) {
        k->free[c] = b->next;
        bump(&k->cached, -(int64_t)r);
    }
    bump(&k->live_bytes, dbytes);
    bump(&k->live_tensors, dtensors);
    return b;
}

static int64_t phys_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (int64_t)pages * psize : 0;
}

static int64_t limit_now(void)
{
    int64_t l = get(&cache_limit);
    if (l < 0) {                          /* the default (threads racing here agree on it) */
        l = phys_bytes() / 8;
        l = l < CACHE_BASE ? CACHE_BASE : l > CACHE_DEFAULT_MAX ? CACHE_DEFAULT_MAX : l;
        int64_t unset = -1;
        atomic_compare_exchange_strong(&cache_limit, &unset, l);
        l = get(&cache_limit);
    }
    return l;
}

/* is the system short of memory?  MemAvailable (or, elsewhere, free pages) below an eighth
 * of RAM; no allocation here (the allocator calls it) */
static int memory_tight(void)
{
    int64_t total = phys_bytes(), avail = -1;
#ifdef __linux__
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[512];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            const char *m = strstr(buf, "MemAvailable:");
            if (m) avail = strtoll(m + 13, NULL, 10) * 1024;
        }
    }
#endif
#ifdef _SC_AVPHYS_PAGES
    if (avail < 0) {
        long pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psize > 0) avail = (int64_t)pages * psize;
    }
#endif
    if (total <= 0 || avail < 0) return 1;        /* unknown: stay within CACHE_BASE */
    return avail < total / 8;
}

static void trim(cache *k, int64_t keep_bytes);

/* may k keep r more bytes beyond CACHE_BASE?  Looks at the system's memory once per
 * PRESSURE_STEP bytes (a read of /proc/meminfo); when it is short, trims k to CACHE_BASE */
static int room_beyond_base(cache *k, size_t r)
{
    if ((k->check_in -= (int64_t)r) < 0) {
        k->check_in = PRESSURE_STEP;
        k->tight = memory_tight();
        if (k->tight) trim(k, CACHE_BASE);
    }
    return !k->tight;
}

/* may the caches hold r more bytes (k's total then `total`)?  The limit and the pressure
 * check beyond CACHE_BASE; out of line: keep's fast path answers for totals up to
 * fast_limit */
static __attribute__((noinline)) int room_slow(cache *k, size_t r, int64_t total)
{
    int64_t l = limit_now();
    atomic_store_explicit(&fast_limit, l < CACHE_BASE ? l : CACHE_BASE, memory_order_relaxed);
    if (get(&cache_limit) != l)           /* changed meanwhile: no fast path until next time */
        atomic_store_explicit(&fast_limit, 0, memory_order_relaxed);
    return total <= l && (total <= CACHE_BASE || room_beyond_base(k, r));
}

/* put p (class c) into k when the limit allows; returns p when it must go to free().  The
 * fast path: the caches' total stays within fast_limit (the limit, at most CACHE_BASE, set
 * once the limit is known: 0 before), where the limit and the pressure check both say yes */
static inline void *keep(cache *k, void *p, int c, size_t r, int64_t dbytes, int dtensors)
{
    int64_t total = get(&own.cached) + get(&shared.cached) + (int64_t)r;
    if (c >= 0 && (total <= get(&fast_limit) || room_slow(k, r, total))) {
        block *b = p;
        b->next = k->free[c];
        k->free[c] = b;
        bump(&k->cached, (int64_t)r);
        p = NULL;
    }
    bump(&k->live_bytes, -dbytes);
    bump(&k->live_tensors, -dtensors);
    return p;
}

/* A block of at least `bytes` (its class size in *size); the live counters change by
 * dbytes and dtensors. */
static inline __attribute__((always_inline)) void *cache_get(size_t bytes, size_t *size, int64_t dbytes, int dtensors)
{
    size_t r;
    int c = size_class(bytes ? bytes : 1, &r);
    *size = r;
    block *b;
    cache *k = &own;
    if (is_owner()) {
        b = take(&own, c, r, dbytes, dtensors);
    } else {
        k = &shared;
        lock_cache();
        b = take(&shared, c, r, dbytes, dtensors);
        unlock_cache();
    }
    if (!b) {
        b = malloc(r);
        if (!b) {                         /* undo the counts */
            if (k == &shared) lock_cache();
            bump(&k->live_bytes, -dbytes);
            bump(&k->live_tensors, -dtensors);
            if (k == &shared) unlock_cache();
        }
    }
    return b;
}

static inline __attribute__((always_inline)) void cache_put(void *p, size_t size, int64_t dbytes, int dtensors)
{
    size_t r;
    int c = size_class(size ? size : 1, &r);
    if (is_owner()) {
        p = keep(&own, p, c, r, dbytes, dtensors);
    } else {
        lock_cache();
        p = keep(&shared, p, c, r, dbytes, dtensors);
        unlock_cache();
    }
    free(p);
}

int64_t dm_cached_bytes(void) { return get(&own.cached) + get(&shared.cached); }

/* the rounded size of class c (the inverse of size_class) */
static size_t class_size(int c)
{
    if (c < 8) return (size_t)(c + 1) * 32;
    int e = 8 + (c - 8) / 4;
    return (size_t)(5 + (c - 8) % 4) << (e - 2);
}

/* free cached blocks of k, from the largest class down, until its cached bytes are at most
 * `keep_bytes` (the lock held for the shared cache) */
static void trim(cache *k, int64_t keep_bytes)
{
    for (int c = NCLASS - 1; c >= 0 && get(&k->cached) > keep_bytes; c--) {
        while (get(&k->cached) > keep_bytes && k->free[c]) {
            block *b = k->free[c];
            k->free[c] = b->next;
            bump(&k->cached, -(int64_t)class_size(c));
            free(b);
        }
    }
}

/* Only the owner may empty or trim the owner's cache; another thread does the shared one */
void dm_empty_cache(void)
{
    if (is_owner()) trim(&own, 0);
    lock_cache();
    trim(&shared, 0);
    unlock_cache();
}

int64_t dm_cache_limit(int64_t bytes)
{
    if (bytes >= 0) {
        atomic_store_explicit(&cache_limit, bytes, memory_order_relaxed);
        atomic_store_explicit(&fast_limit, bytes < CACHE_BASE ? bytes : CACHE_BASE,
                              memory_order_relaxed);
        int64_t own_part = 0;
        if (is_owner()) {
            trim(&own, bytes);
            own_part = get(&own.cached);
        }
        lock_cache();
        trim(&shared, bytes > own_part ? bytes - own_part : 0);
        unlock_cache();
    }
    return limit_now();
}

/* ---- host objects (mem.c) ------------------------------------------------------------- */

void *dm__obj_alloc(size_t bytes)
{
    size_t r;
    void *p = cache_get(bytes, &r, 0, 0);
    if (!p) dm_seterr("out of memory");
    return p;
}

void dm__obj_free(void *p, size_t bytes)
{
    if (p) cache_put(p, bytes, 0, 0);
}

void *dm__tensor_alloc(void)
{
    size_t r;
    void *p = cache_get(sizeof(dm_tensor), &r, 0, 1);
    if (!p) dm_seterr("out of memory");
    return p;
}

void dm__tensor_free(void *t)
{
    if (t) cache_put(t, sizeof(dm_tensor), 0, 1);
}

/* the table's entries (backend.h): cache_get and cache_put, out of line */
void *dm__cpu_alloc(size_t bytes, size_t *size, int64_t dbytes, int dtensors)
{
    return cache_get(bytes, size, dbytes, dtensors);
}

void dm__cpu_free(void *p, size_t size, int64_t dbytes, int dtensors)
{
    cache_put(p, size, dbytes, dtensors);
}

/* ---- tensor blocks, from the device's allocator ---------------------------------------
 *
 * A block comes from the current device's allocator (the table's alloc) and goes back to its
 * storage's device's (free).  Where that allocator is this one (cpu's, cpu:ref's) the cache is
 * called inline: a small op allocates and frees a block or two, and an indirect call each
 * was measurable there (5% on a [16] mul and add). */
static inline void *dev_get(int dev, size_t bytes, size_t *r, int64_t dbytes, int dtensors)
{
    const dm_kernels *K = dm__kernels(dev);
    return K->alloc == dm__cpu_alloc ? cache_get(bytes, r, dbytes, dtensors)
                                     : K->alloc(bytes, r, dbytes, dtensors);
}

static inline void dev_put(int dev, void *p, size_t size, int64_t dbytes, int dtensors)
{
    const dm_kernels *K = dm__kernels(dev);
    if (K->free == dm__cpu_free) cache_put(p, size, dbytes, dtensors);
    else K->free(p, size, dbytes, dtensors);
}

static int check_bytes(int64_t nbytes)
{
    if (nbytes < 0 || (uint64_t)nbytes > SIZE_MAX / 2) {
        dm_seterr("out of memory: cannot allocate %lld bytes", (long long)nbytes);
        return -1;
    }
    return 0;
}

/* A new tensor, its storage header and its bytes are one block (one trip to the cache):
 *
 *     [dm_tensor, padded to TENSOR_HEAD][dm_storage, padded to STORAGE_HEADER][bytes]
 *
 * The paddings keep the data at malloc's alignment.  Views share the storage but not the
 * block's tensor, so the block goes back when both the tensor and its storage are dead:
 * whichever dies last returns it (a storage outliving its tensor keeps the tensor's bytes
 * until then).  A tensor owns its block when its storage sits right after it; a storage
 * from a host's allocator (dm_tensor_new_with) is a separate object. */
#define STORAGE_HEADER 48                 /* a multiple of 16: the data keeps malloc's alignment */
#define TENSOR_HEAD (((sizeof(dm_tensor)) + 31) & ~(size_t)31)
_Static_assert(sizeof(dm_storage) <= STORAGE_HEADER, "storage header too small");


static size_t block_bytes(int64_t nbytes) { return TENSOR_HEAD + STORAGE_HEADER + (size_t)nbytes; }

dm_tensor *dm__tensor_block_bytes(int64_t nbytes)
{
    if (check_bytes(nbytes)) return NULL;
    size_t r;
    dm_tensor *t = dev_get(dm__cur_device, block_bytes(nbytes), &r, nbytes, 1);
    if (!t) {
        dm_seterr("out of memory: cannot allocate %lld bytes", (long long)block_bytes(nbytes));
        return NULL;
    }
    dm__zero_tensor(t);
    dm_storage *s = (dm_storage *)((char *)t + TENSOR_HEAD);
    s->data = (char *)s + STORAGE_HEADER;
    s->nbytes = nbytes;
    s->refcount = 1;
    s->device = dm__cur_device;
    s->allocator = NULL;
    s->version = 0;
    t->storage = s;
    t->refcount = 1;
    return t;
}

void dm__storage_release(dm_storage *s)
{
    if (!s || --s->refcount > 0) return;
    if (s->allocator) {
        const dm_allocator *a = s->allocator;
        a->free(a->ctx, s->data, (size_t)(s->nbytes ? s->nbytes : 1));
        dm__count_bytes(-s->nbytes);
        dm__obj_free(s, sizeof *s);
        return;
    }
    /* a storage made in a block; its tensor died first (it held a reference) */
    dev_put(s->device, (char *)s - TENSOR_HEAD, block_bytes(s->nbytes), s->nbytes, 0);
}

void dm__tensor_dispose(dm_tensor *t)
{
    dm_storage *s = t->storage;
    if (s && (char *)s == (char *)t + TENSOR_HEAD) {       /* its own block */
        if (--s->refcount == 0)
            dev_put(s->device, t, block_bytes(s->nbytes), s->nbytes, 1);
        else
            dm__count_tensor(-1);        /* views keep the block; the last one returns it */
        return;
    }
    dm__storage_release(s);
    dm__tensor_free(t);
}
