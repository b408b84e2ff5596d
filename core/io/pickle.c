/* pickle.c -- Python's pickle, restricted to what a weights file holds (see pickle.h).
 *
 * The unpickler is a loop over opcodes with a value stack, a mark stack and a memo, as
 * CPython's _pickle.c; it knows the opcodes of protocols 2 (what torch.save writes) and
 * the few of 4 that a weights file can meet (FRAME, SHORT_BINUNICODE, MEMOIZE,
 * STACK_GLOBAL).  Anything else is refused by name and offset.  Every length read from the
 * pickle is checked against the bytes left, the memo index against a bound, and each value
 * is allocated in the document (dm_pydoc), so a malformed pickle can neither read out of
 * bounds nor leak, and self-referencing containers (a list appended to itself through the
 * memo) cost nothing to free.  Nothing here calls anything a pickle names: GLOBAL,
 * BINPERSID, REDUCE and BUILD go to the caller's hooks. */
#include "internal.h"
#include "pickle.h"
#include <stdarg.h>
#include <stdio.h>

/* ---- documents: every value owned by one list --------------------------------------- */

dm_pydoc *dm_pydoc_new(void)
{
    dm_pydoc *d = calloc(1, sizeof *d);
    if (!d) dm_seterr("pydoc: out of memory");
    return d;
}

void dm_pydoc_free(dm_pydoc *d)
{
    if (!d) return;
    for (int64_t i = 0; i < d->count_; i++) {
        dm_pyval *v = d->all_[i];
        dm_tensor_release(v->t);
        free(v->s);
        free(v->items);
        free(v);
    }
    free(d->all_);
    free(d);
}

dm_pyval *dm_pyval_new(dm_pydoc *d, dm_pykind kind)
{
    if (d->count_ == d->cap_) {
        int64_t cap = d->cap_ ? 2 * d->cap_ : 64;
        void *p = realloc(d->all_, (size_t)cap * sizeof *d->all_);
        if (!p) { dm_seterr("out of memory"); return NULL; }
        d->all_ = p;
        d->cap_ = cap;
    }
    dm_pyval *v = calloc(1, sizeof *v);
    if (!v) { dm_seterr("out of memory"); return NULL; }
    v->kind = kind;
    d->all_[d->count_++] = v;
    return v;
}

dm_pyval *dm_pyval_str(dm_pydoc *d, const char *s, size_t len)
{
    dm_pyval *v = dm_pyval_new(d, DM_PY_STR);
    if (!v) return NULL;
    v->s = malloc(len + 1);
    if (!v->s) { dm_seterr("out of memory"); return NULL; }
    if (len) memcpy(v->s, s, len);
    v->s[len] = 0;
    v->len = len;
    return v;
}

dm_pyval *dm_pyval_tensor(dm_pydoc *d, dm_tensor *t)
{
    dm_pyval *v = dm_pyval_new(d, DM_PY_TENSOR);
    if (v) v->t = dm_tensor_retain(t);
    return v;
}

int dm_pyval_append(dm_pyval *c, dm_pyval *v)
{
    int64_t slots = c->kind == DM_PY_DICT ? 2 * c->n + c->half_ : c->n;
    if (slots == c->cap_) {
        int64_t cap = c->cap_ ? 2 * c->cap_ : 8;
        void *p = realloc(c->items, (size_t)cap * sizeof *c->items);
        if (!p) { dm_seterr("out of memory"); return -1; }
        c->items = p;
        c->cap_ = cap;
    }
    c->items[slots] = v;
    if (c->kind == DM_PY_DICT) {    /* half_: a key waits for its value */
        if (c->half_) c->n++;
        c->half_ ^= 1;
    } else {
        c->n++;
    }
    return 0;
}

const char *dm_pykind_name(dm_pykind k)
{
    static const char *const names[] = {
        "None", "bool", "int", "float", "str", "tensor", "list", "tuple", "dict", "object"
    };
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

/* ---- the unpickler ------------------------------------------------------------------ */

typedef struct {
    dm_pydoc *d;
    const unsigned char *p;
    size_t n, pos, op_at;
    dm_pyval **stack;
    size_t sp, scap;
    size_t *marks;
    size_t mp, mcap;
    dm_pyval **memo;
    size_t memo_cap, memo_next;
} up;

static dm_pyval *upfail(up *u, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_seterr("data.pkl, offset %zu: %s", u->op_at, msg);
    return NULL;
}

static int need(up *u, size_t k)
{
    if (u->n - u->pos < k) {
        upfail(u, "truncated: %zu bytes wanted, %zu left", k, u->n - u->pos);
        return -1;
    }
    return 0;
}

static uint64_t rd(up *u, int k)       /* little-endian, k bytes; need() checked first */
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | u->p[u->pos + (size_t)i];
    u->pos += (size_t)k;
    return v;
}

static int push(up *u, dm_pyval *v)
{
    if (!v) return -1;
    if (u->sp == u->scap) {
        size_t cap = u->scap ? 2 * u->scap : 64;
        void *q = realloc(u->stack, cap * sizeof *u->stack);
        if (!q) { upfail(u, "out of memory"); return -1; }
        u->stack = q;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return 0;
}

/* the bottom of the current mark's frame */
static size_t mark_base(up *u) { return u->mp ? u->marks[u->mp - 1] : 0; }

static dm_pyval *pop(up *u)
{
    if (u->sp == 0 || u->sp <= mark_base(u)) return upfail(u, "stack underflow");
    return u->stack[--u->sp];
}

static dm_pyval *top(up *u)
{
    if (u->sp == 0 || u->sp <= mark_base(u)) return upfail(u, "stack underflow");
    return u->stack[u->sp - 1];
}

/* pop to the last mark: the items are stack[*from .. sp) */
static int pop_mark(up *u, size_t *from)
{
    if (u->mp == 0) { upfail(u, "no MARK on the stack"); return -1; }
    *from = u->marks[--u->mp];
    return 0;
}

static dm_pyval *new_tuple(up *u, dm_pyval **items, size_t k)
{
    dm_pyval *t = dm_pyval_new(u->d, DM_PY_TUPLE);
    if (!t) return NULL;
    for (size_t i = 0; i < k; i++) if (dm_pyval_append(t, items[i]) != 0) return NULL;
    return t;
}

static int memo_put(up *u, uint64_t idx, dm_pyval *v)
{
    if (!v) return -1;
    /* indices are sequential in what pickle writes; one far past the pickle's own size
       would only be a way to make us allocate */
    if (idx > u->n) { upfail(u, "memo index %llu out of range", (unsigned long long)idx); return -1; }
    if (idx >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 64;
        while (cap <= idx) cap *= 2;
        void *q = realloc(u->memo, cap * sizeof *u->memo);
        if (!q) { upfail(u, "out of memory"); return -1; }
        memset((dm_pyval **)q + u->memo_cap, 0, (cap - u->memo_cap) * sizeof *u->memo);
        u->memo = q;
        u->memo_cap = cap;
    }
    u->memo[idx] = v;
    if (idx >= u->memo_next) u->memo_next = (size_t)idx + 1;
    return 0;
}

static int memo_get(up *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx]) {
        upfail(u, "memo index %llu was never set", (unsigned long long)idx);
        return -1;
    }
    return push(u, u->memo[idx]);
}

/* a line of GLOBAL's argument: printable ASCII up to '\n' */
static int read_line(up *u, char *out, size_t cap)
{
    size_t k = 0;
    for (;;) {
        if (u->pos >= u->n) { upfail(u, "truncated GLOBAL"); return -1; }
        unsigned char c = u->p[u->pos++];
        if (c == '\n') break;
        if (c < 0x20 || c > 0x7e || k + 1 >= cap) { upfail(u, "malformed GLOBAL name"); return -1; }
        out[k++] = (char)c;
    }
    out[k] = 0;
    return 0;
}

static int do_global(up *u, const dm__unpickle_hooks *h, const char *module, const char *name)
{
    dm_pyval *g = h->global(h->ctx, u->d, module, name);
    if (!g) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", dm_errmsg());
        upfail(u, "%s", msg);
        return -1;
    }
    return push(u, g);
}

/* a hook failed: say where */
static int hook_fail(up *u)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", dm_errmsg());
    upfail(u, "%s", msg);
    return -1;
}

static int step_items(up *u, int op)
{
    size_t from;
    if (op == 'u' || op == 'e' || op == 't') { if (pop_mark(u, &from) != 0) return -1; }
    if (op == 't') {
        /* no pointer arithmetic on a stack never allocated (MARK, TUPLE on an empty pickle) */
        dm_pyval *t = new_tuple(u, u->sp > from ? u->stack + from : NULL, u->sp - from);
        u->sp = from;
        return push(u, t);
    }
    if (op == 's') {
        if (u->sp < 3 || u->sp - 2 <= mark_base(u)) { upfail(u, "stack underflow"); return -1; }
        from = u->sp - 2;
    } else if (op == 'a') {
        if (u->sp < 2 || u->sp - 1 <= mark_base(u)) { upfail(u, "stack underflow"); return -1; }
        from = u->sp - 1;
    }
    if (from == 0 || from <= mark_base(u)) { upfail(u, "stack underflow"); return -1; }
    dm_pyval *c = u->stack[from - 1];
    int is_dict = op == 's' || op == 'u';
    if (is_dict && c->kind != DM_PY_DICT) {
        upfail(u, "SETITEM%s on a %s", op == 'u' ? "S" : "", dm_pykind_name(c->kind));
        return -1;
    }
    if (!is_dict && c->kind != DM_PY_LIST) {
        upfail(u, "APPEND%s on a %s", op == 'e' ? "S" : "", dm_pykind_name(c->kind));
        return -1;
    }
    if (is_dict && (u->sp - from) % 2 != 0) { upfail(u, "SETITEMS with an odd number of items"); return -1; }
    for (size_t i = from; i < u->sp; i++)
        if (dm_pyval_append(c, u->stack[i]) != 0) return hook_fail(u);
    u->sp = from;
    return 0;
}

dm_pyval *dm__unpickle(dm_pydoc *d, const unsigned char *p, size_t n,
                       const dm__unpickle_hooks *h)
{
    up u = { .d = d, .p = p, .n = n };
    dm_pyval *result = NULL;
    int rc = 0;
    while (rc == 0 && !result) {
        u.op_at = u.pos;
        if (u.pos >= u.n) { upfail(&u, "ends without STOP"); rc = -1; break; }
        int op = u.p[u.pos++];
        switch (op) {
        case 0x80:                                      /* PROTO */
            if ((rc = need(&u, 1)) == 0 && rd(&u, 1) > 5) {
                upfail(&u, "unsupported pickle protocol %d", u.p[u.pos - 1]);
                rc = -1;
            }
            break;
        case 0x95:                                      /* FRAME: a length, then opcodes */
            if ((rc = need(&u, 8)) == 0) rd(&u, 8);
            break;
        case '.': {                                     /* STOP */
            dm_pyval *v = pop(&u);
            if (!v) rc = -1;
            else result = v;
            break;
        }
        case '(':                                       /* MARK */
            if (u.mp == u.mcap) {
                size_t cap = u.mcap ? 2 * u.mcap : 32;
                void *q = realloc(u.marks, cap * sizeof *u.marks);
                if (!q) { upfail(&u, "out of memory"); rc = -1; break; }
                u.marks = q;
                u.mcap = cap;
            }
            u.marks[u.mp++] = u.sp;
            break;
        case 'N': rc = push(&u, dm_pyval_new(d, DM_PY_NONE)); break;
        case 0x88: case 0x89: {                         /* NEWTRUE, NEWFALSE */
            dm_pyval *v = dm_pyval_new(d, DM_PY_BOOL);
            if (v) v->i = op == 0x88;
            rc = push(&u, v);
            break;
        }
        case 'J': case 'K': case 'M': {                 /* BININT, BININT1, BININT2 */
            int k = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if ((rc = need(&u, (size_t)k)) != 0) break;
            uint64_t x = rd(&u, k);
            dm_pyval *v = dm_pyval_new(d, DM_PY_INT);
            if (v) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
            rc = push(&u, v);
            break;
        }
        case 0x8a: {                                    /* LONG1: n bytes, two's complement */
            if ((rc = need(&u, 1)) != 0) break;
            int k = (int)rd(&u, 1);
            if (k > 8) { upfail(&u, "integer of %d bytes does not fit in int64", k); rc = -1; break; }
            if ((rc = need(&u, (size_t)k)) != 0) break;
            uint64_t x = k ? rd(&u, k) : 0;
            if (k > 0 && k < 8 && (x >> (8 * k - 1)) & 1) x |= ~(uint64_t)0 << (8 * k);
            dm_pyval *v = dm_pyval_new(d, DM_PY_INT);
            if (v) v->i = (int64_t)x;
            rc = push(&u, v);
            break;
        }
        case 'G': {                                     /* BINFLOAT: big-endian double */
            if ((rc = need(&u, 8)) != 0) break;
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = x << 8 | u.p[u.pos++];
            dm_pyval *v = dm_pyval_new(d, DM_PY_FLOAT);
            if (v) memcpy(&v->f, &x, 8);
            rc = push(&u, v);
            break;
        }
        case 'X': case 0x8c: case 0x8d: {               /* BINUNICODE, SHORT_, 8 */
            int k = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            if ((rc = need(&u, (size_t)k)) != 0) break;
            uint64_t len = rd(&u, k);
            if (len > u.n - u.pos) {
                upfail(&u, "string of %llu bytes runs past the end", (unsigned long long)len);
                rc = -1;
                break;
            }
            rc = push(&u, dm_pyval_str(d, (const char *)u.p + u.pos, (size_t)len));
            u.pos += (size_t)len;
            break;
        }
        case ']': rc = push(&u, dm_pyval_new(d, DM_PY_LIST)); break;
        case '}': rc = push(&u, dm_pyval_new(d, DM_PY_DICT)); break;
        case ')': rc = push(&u, dm_pyval_new(d, DM_PY_TUPLE)); break;
        case 0x85: case 0x86: case 0x87: {              /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (u.sp < k || u.sp - k < mark_base(&u)) { upfail(&u, "stack underflow"); rc = -1; break; }
            dm_pyval *t = new_tuple(&u, u.stack + u.sp - k, k);
            u.sp -= k;
            rc = push(&u, t);
            break;
        }
        case 't': case 's': case 'u': case 'a': case 'e':
            rc = step_items(&u, op);
            break;
        case 'q': case 'r': {                           /* BINPUT, LONG_BINPUT */
            int k = op == 'q' ? 1 : 4;
            if ((rc = need(&u, (size_t)k)) != 0) break;
            uint64_t idx = rd(&u, k);
            rc = memo_put(&u, idx, top(&u));
            break;
        }
        case 0x94: rc = memo_put(&u, u.memo_next, top(&u)); break;   /* MEMOIZE */
        case 'h': case 'j': {                           /* BINGET, LONG_BINGET */
            int k = op == 'h' ? 1 : 4;
            if ((rc = need(&u, (size_t)k)) != 0) break;
            rc = memo_get(&u, rd(&u, k));
            break;
        }
        case 'c': {                                     /* GLOBAL "module\nname\n" */
            char module[256], name[256];
            if ((rc = read_line(&u, module, sizeof module)) != 0) break;
            if ((rc = read_line(&u, name, sizeof name)) != 0) break;
            rc = do_global(&u, h, module, name);
            break;
        }
        case 0x93: {                                    /* STACK_GLOBAL: module, name strs */
            dm_pyval *name = pop(&u), *module = name ? pop(&u) : NULL;
            if (!module) { rc = -1; break; }
            if (module->kind != DM_PY_STR || name->kind != DM_PY_STR ||
                strlen(module->s) != module->len || strlen(name->s) != name->len) {
                upfail(&u, "STACK_GLOBAL wants two strings");
                rc = -1;
                break;
            }
            rc = do_global(&u, h, module->s, name->s);
            break;
        }
        case 'Q': {                                     /* BINPERSID */
            dm_pyval *pid = pop(&u);
            if (!pid) { rc = -1; break; }
            dm_pyval *v = h->persistent_load(h->ctx, d, pid);
            rc = v ? push(&u, v) : hook_fail(&u);
            break;
        }
        case 'R': {                                     /* REDUCE: callable(*args) */
            dm_pyval *args = pop(&u), *fn = args ? pop(&u) : NULL;
            if (!fn) { rc = -1; break; }
            if (args->kind != DM_PY_TUPLE) { upfail(&u, "REDUCE with arguments that are not a tuple"); rc = -1; break; }
            dm_pyval *v = h->reduce(h->ctx, d, fn, args);
            rc = v ? push(&u, v) : hook_fail(&u);
            break;
        }
        case 'b': {                                     /* BUILD: inst.__setstate__(state) */
            dm_pyval *state = pop(&u), *inst = state ? top(&u) : NULL;
            if (!inst) { rc = -1; break; }
            rc = h->build(h->ctx, inst, state) == 0 ? 0 : hook_fail(&u);
            break;
        }
        case '0': rc = pop(&u) ? 0 : -1; break;         /* POP */
        case '2': rc = push(&u, top(&u)); break;        /* DUP */
        default:
            if (op >= 0x20 && op < 0x7f)
                upfail(&u, "unsupported pickle opcode 0x%02x ('%c')", op, op);
            else
                upfail(&u, "unsupported pickle opcode 0x%02x", op);
            rc = -1;
        }
    }
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return rc == 0 ? result : NULL;
}

/* ---- the pickler -------------------------------------------------------------------- */

static void pk_bytes(dm__pkbuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) cap *= 2;
        void *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void dm__pk_op(dm__pkbuf *b, int op)
{
    unsigned char c = (unsigned char)op;
    pk_bytes(b, &c, 1);
}

void dm__pk_int(dm__pkbuf *b, int64_t v)
{
    unsigned char c[10];
    if (v >= 0 && v < 256) { c[0] = 'K'; c[1] = (unsigned char)v; pk_bytes(b, c, 2); return; }
    if (v >= 0 && v < 65536) {
        c[0] = 'M'; c[1] = (unsigned char)v; c[2] = (unsigned char)(v >> 8);
        pk_bytes(b, c, 3);
        return;
    }
    uint64_t u = (uint64_t)v;
    if (v >= INT32_MIN && v <= INT32_MAX) {
        c[0] = 'J';
        for (int i = 0; i < 4; i++) c[1 + i] = (unsigned char)(u >> (8 * i));
        pk_bytes(b, c, 5);
        return;
    }
    /* LONG1: the shortest two's complement that keeps the sign (as Python's encode_long) */
    int k = 8;
    while (k > 1) {
        int64_t shifted = v >> (8 * (k - 1) - 1);   /* the top byte and the next sign bit */
        if (shifted != 0 && shifted != -1) break;
        k--;
    }
    c[0] = 0x8a;
    c[1] = (unsigned char)k;
    for (int i = 0; i < k; i++) c[2 + i] = (unsigned char)(u >> (8 * i));
    pk_bytes(b, c, (size_t)k + 2);
}

void dm__pk_float(dm__pkbuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    unsigned char c[9];
    c[0] = 'G';
    for (int i = 0; i < 8; i++) c[1 + i] = (unsigned char)(u >> (8 * (7 - i)));
    pk_bytes(b, c, 9);
}

void dm__pk_str(dm__pkbuf *b, const char *s, size_t len)
{
    unsigned char c[5];
    c[0] = 'X';
    for (int i = 0; i < 4; i++) c[1 + i] = (unsigned char)((uint64_t)len >> (8 * i));
    if ((uint64_t)len > 0xffffffffu) { b->oom = 1; return; }
    pk_bytes(b, c, 5);
    pk_bytes(b, s, len);
}

void dm__pk_global(dm__pkbuf *b, const char *module, const char *name)
{
    dm__pk_op(b, 'c');
    pk_bytes(b, module, strlen(module));
    pk_bytes(b, "\n", 1);
    pk_bytes(b, name, strlen(name));
    pk_bytes(b, "\n", 1);
}

