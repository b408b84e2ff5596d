/* named.c -- the named-tensors list (dm_named_tensors in deepmoon.h): names, tensors and
 * string metadata, what a safetensors file holds (safetensors.c reads and writes it). */
#include "bytes.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int dm__grow(void *pptr, int64_t *cap, int64_t need, size_t elem)
{
    void **pp = pptr;
    if (need <= *cap) return 0;
    int64_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*pp, (size_t)ncap * elem);
    if (!np) return -1;
    *pp = np;
    *cap = ncap;
    return 0;
}

dm_named_tensors *dm_named_tensors_new(void)
{
    dm_named_tensors *nt = calloc(1, sizeof *nt);
    if (!nt) dm_seterr("out of memory");
    return nt;
}

void dm_named_tensors_free(dm_named_tensors *nt)
{
    if (!nt) return;
    for (int64_t i = 0; i < nt->count; i++) {
        free(nt->names[i]);
        dm_tensor_release(nt->tensors[i]);
    }
    for (int64_t i = 0; i < nt->meta_count; i++) {
        free(nt->meta_keys[i]);
        free(nt->meta_values[i]);
    }
    free(nt->names);
    free(nt->tensors);
    free(nt->meta_keys);
    free(nt->meta_values);
    free(nt);
}

/* append without checks; takes over name (malloc'd) and the reference t */
int dm__named_append(dm_named_tensors *nt, char *name, dm_tensor *t)
{
    int64_t cap = nt->cap_;
    if (dm__grow(&nt->names, &cap, nt->count + 1, sizeof *nt->names) != 0) return -1;
    if (dm__grow(&nt->tensors, &nt->cap_, nt->count + 1, sizeof *nt->tensors) != 0) return -1;
    nt->names[nt->count] = name;
    nt->tensors[nt->count] = t;
    nt->count++;
    return 0;
}

int dm__meta_append(dm_named_tensors *nt, char *key, char *value)
{
    int64_t cap = nt->meta_cap_;
    if (dm__grow(&nt->meta_keys, &cap, nt->meta_count + 1, sizeof *nt->meta_keys) != 0) return -1;
    if (dm__grow(&nt->meta_values, &nt->meta_cap_, nt->meta_count + 1, sizeof *nt->meta_values))
        return -1;
    nt->meta_keys[nt->meta_count] = key;
    nt->meta_values[nt->meta_count] = value;
    nt->meta_count++;
    return 0;
}

int dm_named_tensors_add(dm_named_tensors *nt, const char *name, dm_tensor *t)
{
    char b[96];
    if (!nt || !name || !t) {
        dm_seterr("named_tensors_add: %s is NULL", !nt ? "the list" : !name ? "name" : "tensor");
        return -1;
    }
    for (int64_t i = 0; i < nt->count; i++)
        if (strcmp(nt->names[i], name) == 0) {
            dm_seterr("named_tensors_add: duplicate name '%s'", dm__shown(name, b, sizeof b));
            return -1;
        }
    char *copy = dupstr(name);
    if (!copy || dm__named_append(nt, copy, t) != 0) {
        free(copy);
        dm_seterr("out of memory");
        return -1;
    }
    dm_tensor_retain(t);
    return 0;
}

dm_tensor *dm_named_tensors_get(const dm_named_tensors *nt, const char *name)
{
    for (int64_t i = 0; nt && name && i < nt->count; i++)
        if (strcmp(nt->names[i], name) == 0) return nt->tensors[i];
    return NULL;
}

int dm_named_tensors_set_meta(dm_named_tensors *nt, const char *key, const char *value)
{
    if (!nt || !key || !value) {
        dm_seterr("named_tensors_set_meta: %s is NULL", !nt ? "the list" : !key ? "key" : "value");
        return -1;
    }
    char *v = dupstr(value);
    if (!v) { dm_seterr("out of memory"); return -1; }
    for (int64_t i = 0; i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[i], key) == 0) {
            free(nt->meta_values[i]);
            nt->meta_values[i] = v;
            return 0;
        }
    char *k = dupstr(key);
    if (!k || dm__meta_append(nt, k, v) != 0) {
        free(k);
        free(v);
        dm_seterr("out of memory");
        return -1;
    }
    return 0;
}

const char *dm_named_tensors_get_meta(const dm_named_tensors *nt, const char *key)
{
    for (int64_t i = 0; nt && key && i < nt->meta_count; i++)
        if (strcmp(nt->meta_keys[i], key) == 0) return nt->meta_values[i];
    return NULL;
}

int dm_named_tensors_to_dtype(dm_named_tensors *nt, dm_dtype dt, int floating_only)
{
    for (int64_t i = 0; i < nt->count; i++) {
        dm_tensor *t = nt->tensors[i];
        if (t->dtype == dt || (floating_only && !dm_is_floating(t->dtype))) continue;
        dm_tensor *c = dm_tensor_new_dtype(t->ndim, t->shape, dt);
        if (!c) return -1;
        dm__copy_convert(c, t);
        nt->tensors[i] = c;
        dm_tensor_release(t);
    }
    return 0;
}
