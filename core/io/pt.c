/* pt.c -- PyTorch checkpoints (torch.save's zip format, PyTorch 1.6 and later), both ways.
 *
 * Reading: the zip directory (zip.c) gives "<name>/data.pkl", whose pickle (pickle.c) is
 * run with the hooks below.  They are PyTorch's weights_only unpickler cut down to weights:
 * GLOBAL resolves only names on the allowlist (the tensor rebuilders, OrderedDict, the
 * storage types), REDUCE calls only those, BINPERSID loads only ('storage', type, key,
 * location, numel) from "<name>/data/<key>" (once per key: views share it), BUILD only sets
 * state on a dict (OrderedDict's _metadata, which PyTorch keeps as an attribute and we drop).
 * Every size, stride and offset is checked against the storage before a view is made.
 *
 * Writing: the pickle torch.save makes of a state_dict (an OrderedDict of
 * _rebuild_tensor_v2 calls, one storage per tensor), then the records in PyTorch's order
 * (data.pkl, byteorder, data/<k>, version), 64-byte aligned. */
#include "internal.h"
#include "pickle.h"
#include "zip.h"
#include <stdio.h>

/* ---- what a GLOBAL may name --------------------------------------------------------- */

enum {
    G_ODICT = 1, G_REBUILD_V2, G_REBUILD, G_PARAM, G_PARAM_STATE, G_PARAM_CLS, G_STORAGE,
    G_SIZE,
    T_STORAGE = 100             /* a loaded storage (not a global) */
};

typedef enum {
    K_F32, K_F64, K_F16, K_BF16, K_I64, K_I32, K_I16, K_I8, K_U8, K_BOOL
} skind;

static const struct { const char *name; skind k; int size; dm_dtype dt; } storages[] = {
    { "FloatStorage", K_F32, 4, DM_FLOAT32 }, { "DoubleStorage", K_F64, 8, DM_FLOAT64 },
    { "HalfStorage", K_F16, 2, DM_FLOAT32 }, { "BFloat16Storage", K_BF16, 2, DM_FLOAT32 },
    { "LongStorage", K_I64, 8, DM_INT64 }, { "IntStorage", K_I32, 4, DM_INT64 },
    { "ShortStorage", K_I16, 2, DM_INT64 }, { "CharStorage", K_I8, 1, DM_INT64 },
    { "ByteStorage", K_U8, 1, DM_UINT8 }, { "BoolStorage", K_BOOL, 1, DM_BOOL },
};
#define NSTORAGES ((int)(sizeof storages / sizeof *storages))

static const struct { const char *module, *name; int id; } allowed[] = {
    { "collections", "OrderedDict", G_ODICT },
    { "torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2 },
    { "torch._utils", "_rebuild_tensor", G_REBUILD },
    { "torch._utils", "_rebuild_parameter", G_PARAM },
    { "torch._utils", "_rebuild_parameter_with_state", G_PARAM_STATE },
    { "torch.nn.parameter", "Parameter", G_PARAM_CLS },
    { "torch", "Size", G_SIZE },
};

typedef struct {
    dm__zip *z;
    const char *prefix;         /* "<name>/" */
    int big;                    /* the byteorder record says "big" */
    dm_pyval **loaded;          /* by the index of its zip entry: each storage loaded once */
    int64_t spread;             /* elements of the views larger than their storages so far */
} ptload;

/* Views with more elements than their storage (stride 0: what torch.save keeps of an expanded
   tensor) may add up to this many elements in one file, plus one per byte of the file: past
   it a few bytes of pickle would stand for more values than anything could read (found by
   tests/fuzz/fuzz_pt.c: a 13 KB file of 100 views of [4000 x 4000] over one float) */
#define PT_SPREAD_LIMIT ((int64_t)1 << 24)

static dm_pyval *hook_global(void *ctx, dm_pydoc *d, const char *module, const char *name)
{
    (void)ctx;
    int id = 0, sk = -1;
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if (!strcmp(module, allowed[i].module) && !strcmp(name, allowed[i].name)) id = allowed[i].id;
    if (!id && !strcmp(module, "torch"))
        for (int i = 0; i < NSTORAGES; i++)
            if (!strcmp(name, storages[i].name)) { id = G_STORAGE; sk = i; }
    if (!id) {
        if (!strcmp(module, "torch") && strstr(name, "Storage"))
            dm_seterr("storage type torch.%s is not supported (float, double, half, bfloat16, "
                      "long, int, short, char, byte and bool are)", name);
        else
            dm_seterr("global '%s.%s' is not allowed (a weights file needs only PyTorch's "
                      "tensor rebuilders; refused, never called)", module, name);
        return NULL;
    }
    dm_pyval *v = dm_pyval_new(d, DM_PY_OTHER);
    if (!v) return NULL;
    char full[520];
    snprintf(full, sizeof full, "%s.%s", module, name);
    v->s = malloc(strlen(full) + 1);
    if (!v->s) { dm_seterr("out of memory"); return NULL; }
    strcpy(v->s, full);
    v->len = strlen(full);
    v->tag_ = id;
    v->i = sk;
    return v;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, b;
    if (exp == 0) {
        float f = (float)mant * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    b = exp == 31 ? sign | 0x7f800000u | (mant << 13) : sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* n elements of storage kind k from in (file byte order) into out (our dtype) */
static void convert(int si, int big, const unsigned char *in, void *out, size_t n)
{
    skind k = storages[si].k;
    int size = storages[si].size;
    for (size_t i = 0; i < n; i++, in += size) {
        uint64_t u = 0;
        for (int b = 0; b < size; b++) u |= (uint64_t)in[big ? size - 1 - b : b] << (8 * b);
        switch (k) {
        case K_F32: { uint32_t w = (uint32_t)u; memcpy((float *)out + i, &w, 4); break; }
        case K_F16: ((float *)out)[i] = half_to_float((uint16_t)u); break;
        case K_BF16: { uint32_t w = (uint32_t)u << 16; memcpy((float *)out + i, &w, 4); break; }
        case K_F64: memcpy((double *)out + i, &u, 8); break;
        case K_I64: memcpy((int64_t *)out + i, &u, 8); break;
        case K_I32: ((int64_t *)out)[i] = (int32_t)(uint32_t)u; break;
        case K_I16: ((int64_t *)out)[i] = (int16_t)(uint16_t)u; break;
        case K_I8: ((int64_t *)out)[i] = (int8_t)(uint8_t)u; break;
        case K_U8: ((uint8_t *)out)[i] = (uint8_t)u; break;
        case K_BOOL: ((uint8_t *)out)[i] = u != 0; break;
        }
    }
}

static int host_little(void) { const uint16_t one = 1; unsigned char c; memcpy(&c, &one, 1); return c; }

/* ('storage', <torch.XStorage>, key, location, numel) -> a 1-D tensor over the record */
static dm_pyval *hook_persid(void *ctx, dm_pydoc *d, dm_pyval *pid)
{
    ptload *L = ctx;
    if (pid->kind != DM_PY_TUPLE || pid->n != 5 || pid->items[0]->kind != DM_PY_STR ||
        strcmp(pid->items[0]->s, "storage") != 0) {
        dm_seterr("persistent id is not ('storage', type, key, location, numel)");
        return NULL;
    }
    dm_pyval *type = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (type->kind != DM_PY_OTHER || type->tag_ != G_STORAGE || key->kind != DM_PY_STR ||
        strlen(key->s) != key->len || pid->items[3]->kind != DM_PY_STR ||
        numel->kind != DM_PY_INT || numel->i < 0) {
        dm_seterr("persistent id is not ('storage', type, key, location, numel)");
        return NULL;
    }
    /* found by the zip entry (a binary search), not by comparing keys: a file of many
       storages must not cost their number squared (tests/fuzz: 60000 storages took 23 s) */
    char rec[1100];
    if ((size_t)snprintf(rec, sizeof rec, "%sdata/%s", L->prefix, key->s) >= sizeof rec) {
        dm_seterr("storage key of %zu bytes is too long", key->len);
        return NULL;
    }
    const dm__zentry *e = dm__zip_find(L->z, rec);
    if (!e) { dm_seterr("record '%s' is missing", rec); return NULL; }
    dm_pyval **slot = &L->loaded[e - L->z->entries];
    if (*slot) {
        dm_pyval *s = *slot;
        if (s->i != type->i || s->t->shape[0] != numel->i) {
            dm_seterr("storage '%s' is loaded twice with different types or sizes", key->s);
            return NULL;
        }
        return s;
    }
    int si = (int)type->i;
    uint64_t size = (uint64_t)storages[si].size;
    if ((uint64_t)numel->i > e->size / size) {
        dm_seterr("record '%s' holds %llu bytes, its storage of %lld elements needs %llu", rec,
                  (unsigned long long)e->size, (long long)numel->i,
                  (unsigned long long)((uint64_t)numel->i * size));
        return NULL;
    }
    int64_t shape[1] = { numel->i };
    dm_tensor *t = dm_tensor_new_dtype(1, shape, storages[si].dt);
    if (!t) return NULL;
    dm_pyval *v = dm_pyval_tensor(d, t);
    dm_tensor_release(t);
    if (!v) return NULL;
    v->kind = DM_PY_OTHER;
    v->tag_ = T_STORAGE;
    v->i = si;
    v->s = malloc(strlen(storages[si].name) + 7);
    if (!v->s) { dm_seterr("out of memory"); return NULL; }
    sprintf(v->s, "torch.%s", storages[si].name);
    v->len = strlen(v->s);
    int direct = host_little() && !L->big && storages[si].size == (int)dm__esize(t->dtype) &&
                 storages[si].k != K_BOOL && e->size == (uint64_t)numel->i * size;
    if (direct) {
        if (dm__zip_read_entry(L->z, e, dm__ptr(t)) != 0) return NULL;
    } else {
        unsigned char *buf = malloc(e->size ? (size_t)e->size : 1);
        if (!buf) { dm_seterr("out of memory reading '%s'", rec); return NULL; }
        if (dm__zip_read_entry(L->z, e, buf) != 0) { free(buf); return NULL; }
        convert(si, L->big, buf, dm__ptr(t), (size_t)numel->i);
        free(buf);
    }
    *slot = v;
    return v;
}

/* an int tuple of at most DM_MAX_DIMS non-negative entries */
static int int_tuple(const dm_pyval *v, int64_t *out, int *n, const char *what)
{
    if (v->kind != DM_PY_TUPLE && v->kind != DM_PY_LIST) {
        dm_seterr("_rebuild_tensor_v2: %s is a %s, not a tuple", what, dm_pykind_name(v->kind));
        return -1;
    }
    if (v->n > DM_MAX_DIMS) {
        dm_seterr("_rebuild_tensor_v2: %s has %lld dims (at most %d here)", what,
                  (long long)v->n, DM_MAX_DIMS);
        return -1;
    }
    for (int64_t i = 0; i < v->n; i++) {
        if (v->items[i]->kind != DM_PY_INT || v->items[i]->i < 0) {
            dm_seterr("_rebuild_tensor_v2: %s holds something other than a non-negative int", what);
            return -1;
        }
        out[i] = v->items[i]->i;
    }
    *n = (int)v->n;
    return 0;
}

/* storage, offset, size, stride -> a view, every element inside the storage */
static dm_pyval *rebuild(ptload *L, dm_pydoc *d, dm_pyval *const *a)
{
    if (a[0]->kind != DM_PY_OTHER || a[0]->tag_ != T_STORAGE) {
        dm_seterr("_rebuild_tensor_v2: the first argument is a %s, not a storage",
                  a[0]->kind == DM_PY_OTHER ? a[0]->s : dm_pykind_name(a[0]->kind));
        return NULL;
    }
    if (a[1]->kind != DM_PY_INT || a[1]->i < 0) {
        dm_seterr("_rebuild_tensor_v2: storage offset is not a non-negative int");
        return NULL;
    }
    int64_t size[DM_MAX_DIMS], stride[DM_MAX_DIMS];
    int nd, ns;
    if (int_tuple(a[2], size, &nd, "size") != 0 || int_tuple(a[3], stride, &ns, "stride") != 0)
        return NULL;
    if (nd != ns) {
        dm_seterr("_rebuild_tensor_v2: size has %d dims, stride %d", nd, ns);
        return NULL;
    }
    dm_tensor *st = a[0]->t;
    int64_t total = st->shape[0], off = a[1]->i, last = off, numel = 1;
    for (int k = 0; k < nd; k++) {
        if (size[k] == 0) numel = 0;
        else if (numel && size[k] > INT64_MAX / numel) numel = -1;
        if (numel < 0) break;
        if (numel) numel *= size[k];
    }
    for (int k = 0; numel > 0 && k < nd; k++) {
        /* (size - 1) * stride, overflow-checked; `last` is the last element's index */
        if (stride[k] && size[k] - 1 > (INT64_MAX - last) / stride[k]) { last = INT64_MAX; break; }
        last += (size[k] - 1) * stride[k];
    }
    if (numel < 0 || (numel > 0 && last >= total) || (numel == 0 && off > total)) {
        char b[DM_SHAPE_BUF];
        dm_seterr("_rebuild_tensor_v2: a view of size %s at offset %lld runs past its storage "
                  "of %lld elements", dm_shape_str(nd, size, b, sizeof b), (long long)off,
                  (long long)total);
        return NULL;
    }
    if (numel > total) {
        int64_t limit = PT_SPREAD_LIMIT + (int64_t)(L->z->size > (uint64_t)DM_MAX_NUMEL
                                                    ? (uint64_t)DM_MAX_NUMEL : L->z->size);
        if (numel > limit - L->spread) {
            char b[DM_SHAPE_BUF];
            dm_seterr("_rebuild_tensor_v2: a view of size %s over a storage of %lld elements: "
                      "views larger than their storages add up to more than %lld elements",
                      dm_shape_str(nd, size, b, sizeof b), (long long)total, (long long)limit);
            return NULL;
        }
        L->spread += numel;
    }
    dm_tensor *t = dm_tensor_alias(st, nd, size, stride, numel ? off : 0);
    if (!t) return NULL;
    dm_pyval *v = dm_pyval_tensor(d, t);
    dm_tensor_release(t);
    if (v && (v->s = malloc(a[0]->len + 1)) != NULL) {    /* the file's type, for hosts */
        memcpy(v->s, a[0]->s, a[0]->len + 1);
        v->len = a[0]->len;
    }
    return v;
}

static dm_pyval *hook_reduce(void *ctx, dm_pydoc *d, dm_pyval *fn, dm_pyval *args)
{
    ptload *L = ctx;
    int id = fn->kind == DM_PY_OTHER ? fn->tag_ : 0;
    dm_pyval *const *a = args->items;
    int64_t n = args->n;
    switch (id) {
    case G_ODICT:
        if (n != 0) break;
        return dm_pyval_new(d, DM_PY_DICT);
    case G_REBUILD_V2:
        if (n != 6 && n != 7) break;
        return rebuild(L, d, a);
    case G_REBUILD:
        if (n != 4) break;
        return rebuild(L, d, a);
    case G_SIZE:                /* torch.Size((2, 3)): the tuple */
        if (n != 1 || (a[0]->kind != DM_PY_TUPLE && a[0]->kind != DM_PY_LIST)) break;
        for (int64_t i = 0; i < a[0]->n; i++) if (a[0]->items[i]->kind != DM_PY_INT) goto bad;
        if (a[0]->kind == DM_PY_TUPLE) return a[0];
        else {
            dm_pyval *t = dm_pyval_new(d, DM_PY_TUPLE);
            for (int64_t i = 0; t && i < a[0]->n; i++)
                if (dm_pyval_append(t, a[0]->items[i]) != 0) return NULL;
            return t;
        }
    case G_PARAM: case G_PARAM_STATE: case G_PARAM_CLS:
        if (n < 1 || n > 4 || a[0]->kind != DM_PY_TENSOR) break;
        return a[0];
    default:
        dm_seterr("REDUCE of %s is not allowed (only PyTorch's tensor rebuilders and "
                  "OrderedDict are called)",
                  fn->kind == DM_PY_OTHER ? fn->s : dm_pykind_name(fn->kind));
        return NULL;
    }
bad:
    dm_seterr("%s called with %lld arguments of an unexpected form", fn->s, (long long)n);
    return NULL;
}

static int hook_build(void *ctx, dm_pyval *inst, dm_pyval *state)
{
    (void)ctx;
    (void)state;
    if (inst->kind == DM_PY_DICT) return 0;     /* OrderedDict's __dict__ (_metadata): dropped */
    dm_seterr("BUILD of a %s is not supported", inst->kind == DM_PY_OTHER ? inst->s
                                                    : dm_pykind_name(inst->kind));
    return -1;
}

/* ---- loading ------------------------------------------------------------------------ */

static const unsigned char legacy_magic[14] = {
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19
};

static dm_pydoc *pt_load(dm__zip *z)
{
    const dm__zentry *pkl = NULL;
    char prefix[1024];
    /* the archive's name is the folder of its first record, as PyTorch's reader has it */
    const char *slash = z->first ? strchr(z->first, '/') : NULL;
    if (slash && (size_t)(slash - z->first) + 2 < sizeof prefix) {
        size_t k = (size_t)(slash - z->first) + 1;
        memcpy(prefix, z->first, k);
        strcpy(prefix + k, "data.pkl");
        pkl = dm__zip_find(z, prefix);
        prefix[k] = 0;
    }
    if (!pkl) {
        char probe[1100];
        snprintf(probe, sizeof probe, "%sconstants.pkl", slash ? prefix : "");
        if (slash && dm__zip_find(z, probe)) {
            dm__zip_fail(z, "a TorchScript archive (torch.jit.save) without data.pkl; save the "
                         "state_dict with torch.save instead");
        } else {
            dm__zip_fail(z, "no '<name>/data.pkl' record: not a torch.save checkpoint");
        }
        return NULL;
    }
    ptload L = { .z = z, .prefix = prefix };
    char rec[1100];
    snprintf(rec, sizeof rec, "%sbyteorder", prefix);
    const dm__zentry *bo = dm__zip_find(z, rec);
    if (bo) {
        char b[8] = { 0 };
        if (bo->size > 6 || dm__zip_read_entry(z, bo, b) != 0) {
            if (bo->size > 6) dm__zip_fail(z, "record '%s' is not 'little' or 'big'", rec);
            return NULL;
        }
        if (!strcmp(b, "big")) L.big = 1;
        else if (strcmp(b, "little") != 0) {
            dm__zip_fail(z, "record '%s' is not 'little' or 'big'", rec);
            return NULL;
        }
    }
    unsigned char *p = malloc(pkl->size ? (size_t)pkl->size : 1);
    dm_pydoc *d = dm_pydoc_new();
    L.loaded = calloc((size_t)z->count, sizeof *L.loaded);     /* count >= 1: data.pkl */
    if (!p || !d || !L.loaded) {
        free(L.loaded);
        free(p);
        dm_pydoc_free(d);
        dm__zip_fail(z, "out of memory");
        return NULL;
    }
    if (dm__zip_read_entry(z, pkl, p) != 0) {
        free(L.loaded);
        free(p);
        dm_pydoc_free(d);
        return NULL;
    }
    dm__unpickle_hooks h = { &L, hook_global, hook_persid, hook_reduce, hook_build };
    d->root = dm__unpickle(d, p, (size_t)pkl->size, &h);
    free(p);
    free(L.loaded);
    if (!d->root) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dm_errmsg());
        dm__zip_fail(z, "%s", msg);
        dm_pydoc_free(d);
        return NULL;
    }
    return d;
}

/* not a zip: say what it is */
static void not_zip(const char *name, const unsigned char *head, size_t n)
{
    if (n >= sizeof legacy_magic && !memcmp(head, legacy_magic, sizeof legacy_magic))
        dm_seterr("load: %s: a PyTorch checkpoint in the legacy format (PyTorch before 1.6, or "
                  "_use_new_zipfile_serialization=False), which is not read; load it with "
                  "torch.load and save it again with torch.save in PyTorch 1.6 or later", name);
    else if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
        dm_seterr("load: %s: a bare pickle, not a torch.save checkpoint (a zip archive)", name);
    else
        dm_seterr("load: %s: not a PyTorch checkpoint (a zip archive)", name);
}

dm_pydoc *dm_pt_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        unsigned char head[16];
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        if (!dm__zip_magic(head, n)) { not_zip(path, head, n); return NULL; }
    }
    dm__zip z;
    if (dm__zip_open_file(&z, "load", path) != 0) return NULL;
    dm_pydoc *d = pt_load(&z);
    dm__zip_close(&z);
    return d;
}

dm_pydoc *dm_pt_load_buffer(const void *data, size_t len, const char *name)
{
    if (!name) name = "<buffer>";
    if (!data || !dm__zip_magic(data, len)) { not_zip(name, data, data ? len : 0); return NULL; }
    dm__zip z;
    if (dm__zip_open_mem(&z, "load", data, len, name) != 0) return NULL;
    dm_pydoc *d = pt_load(&z);
    dm__zip_close(&z);
    return d;
}

/* ---- saving ------------------------------------------------------------------------- */

typedef struct {
    dm__pkbuf pk;
    const dm_tensor **tensors;
    int64_t nt, capt;
    const char *path;
} ptsave;

static int save_fail(ptsave *S, const char *what)
{
    dm_seterr("save: %s: %s", S->path, what);
    return -1;
}

static int pk_value(ptsave *S, const dm_pyval *v, int depth, int top);

static int pk_tensor(ptsave *S, const dm_tensor *t)
{
    static const char *const names[DM_NDTYPES] = {
        "FloatStorage", "DoubleStorage", "LongStorage", "ByteStorage", "BoolStorage"
    };
    if (t->storage->device != DM_CPU && t->storage->device != DM_CPU_REF)
        return save_fail(S, "tensor on an unknown device");
    if (S->nt == S->capt) {
        int64_t cap = S->capt ? 2 * S->capt : 16;
        void *q = realloc(S->tensors, (size_t)cap * sizeof *S->tensors);
        if (!q) return save_fail(S, "out of memory");
        S->tensors = q;
        S->capt = cap;
    }
    int64_t key = S->nt;
    S->tensors[S->nt++] = t;
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)key);
    dm__pkbuf *b = &S->pk;
    int64_t numel = dm_numel(t), stride[DM_MAX_DIMS], s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) { stride[d] = s; s *= t->shape[d]; }
    dm__pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    dm__pk_op(b, PK_MARK);
    dm__pk_op(b, PK_MARK);
    dm__pk_str(b, "storage", 7);
    dm__pk_global(b, "torch", names[t->dtype]);
    dm__pk_str(b, k, strlen(k));
    dm__pk_str(b, "cpu", 3);
    dm__pk_int(b, numel);
    dm__pk_op(b, PK_TUPLE);
    dm__pk_op(b, PK_BINPERSID);
    dm__pk_int(b, 0);
    dm__pk_op(b, PK_MARK);
    for (int d = 0; d < t->ndim; d++) dm__pk_int(b, t->shape[d]);
    dm__pk_op(b, PK_TUPLE);
    dm__pk_op(b, PK_MARK);
    for (int d = 0; d < t->ndim; d++) dm__pk_int(b, stride[d]);
    dm__pk_op(b, PK_TUPLE);
    dm__pk_op(b, PK_NEWFALSE);
    dm__pk_global(b, "collections", "OrderedDict");
    dm__pk_op(b, PK_EMPTY_TUPLE);
    dm__pk_op(b, PK_REDUCE);
    dm__pk_op(b, PK_TUPLE);
    dm__pk_op(b, PK_REDUCE);
    return 0;
}

static int pk_value(ptsave *S, const dm_pyval *v, int depth, int top)
{
    dm__pkbuf *b = &S->pk;
    if (depth > 200) return save_fail(S, "values nested more than 200 deep");
    switch (v->kind) {
    case DM_PY_NONE: dm__pk_op(b, PK_NONE); return 0;
    case DM_PY_BOOL: dm__pk_op(b, v->i ? PK_NEWTRUE : PK_NEWFALSE); return 0;
    case DM_PY_INT: dm__pk_int(b, v->i); return 0;
    case DM_PY_FLOAT: dm__pk_float(b, v->f); return 0;
    case DM_PY_STR:
        if (dm__utf8_valid_prefix((const unsigned char *)v->s, v->len) != v->len)
            return save_fail(S, "a string is not valid UTF-8");
        dm__pk_str(b, v->s, v->len);
        return 0;
    case DM_PY_TENSOR: return pk_tensor(S, v->t);
    case DM_PY_LIST: case DM_PY_TUPLE:
        dm__pk_op(b, v->kind == DM_PY_LIST ? PK_EMPTY_LIST : PK_MARK);
        if (v->kind == DM_PY_LIST && v->n) dm__pk_op(b, PK_MARK);
        for (int64_t i = 0; i < v->n; i++)
            if (pk_value(S, v->items[i], depth + 1, 0) != 0) return -1;
        if (v->kind == DM_PY_TUPLE) dm__pk_op(b, PK_TUPLE);
        else if (v->n) dm__pk_op(b, PK_APPENDS);
        return 0;
    case DM_PY_DICT:
        if (top) {              /* what state_dict() gives: an OrderedDict */
            dm__pk_global(b, "collections", "OrderedDict");
            dm__pk_op(b, PK_EMPTY_TUPLE);
            dm__pk_op(b, PK_REDUCE);
        } else {
            dm__pk_op(b, PK_EMPTY_DICT);
        }
        if (!v->n) return 0;
        dm__pk_op(b, PK_MARK);
        for (int64_t i = 0; i < 2 * v->n; i++)
            if (pk_value(S, v->items[i], depth + 1, 0) != 0) return -1;
        dm__pk_op(b, PK_SETITEMS);
        return 0;
    default:
        return save_fail(S, "a value that is not None, a bool, number, string, tensor, "
                         "list, tuple or dict");
    }
}

int dm_pt_save(const char *path, const dm_pyval *root)
{
    ptsave S = { .path = path };
    if (!root) return save_fail(&S, "nothing to save");
    dm__pk_op(&S.pk, PK_PROTO);
    dm__pk_op(&S.pk, 2);
    int rc = pk_value(&S, root, 0, 1);
    dm__pk_op(&S.pk, PK_STOP);
    if (rc == 0 && S.pk.oom) rc = save_fail(&S, "out of memory");
    dm__zwriter w;
    if (rc == 0) rc = dm__zw_open(&w, "save", path);
    if (rc == 0) {
        char name[64];
        rc = dm__zw_add(&w, "archive/data.pkl", S.pk.p, S.pk.n);
        if (rc == 0) rc = dm__zw_add(&w, "archive/byteorder", host_little() ? "little" : "big",
                                     host_little() ? 6 : 3);
        for (int64_t i = 0; rc == 0 && i < S.nt; i++) {
            const dm_tensor *t = S.tensors[i];
            dm_tensor *hold = NULL;
            const void *data = dm__contig_as(t, t->dtype, &hold);
            if (!data) { rc = -1; break; }
            snprintf(name, sizeof name, "archive/data/%lld", (long long)i);
            rc = dm__zw_add(&w, name, data, (size_t)dm_numel(t) * dm__esize(t->dtype));
            dm_tensor_release(hold);
        }
        if (rc == 0) rc = dm__zw_add(&w, "archive/version", "3\n", 2);
        if (dm__zw_close(&w, rc == 0) != 0) rc = -1;
    }
    free(S.pk.p);
    free(S.tensors);
    return rc;
}
