/* module.c -- luaopen_deepmoon_core and the helpers every binding file shares. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "binding.h"
#include <string.h>
#include <time.h>

/* ---- the Tensor box ------------------------------------------------------------------ */

/* Per-state data.  Everything mutable that the module keeps lives in one userdata per
 * lua_State (lb_state, anchored in the registry under &state_key), so several states, in one
 * thread or one per thread (lighttpd, OpenResty workers), share nothing through this
 * library: each has its own Tensor metatable, collector accounting and default generator.
 *
 * Finding it must cost little, since every new box needs the metatable: every C function of
 * the module is a closure whose upvalues are the state's lb_state and its Tensor metatable
 * (luaopen wraps them), so the hot path reads upvalues (no table lookup), and a box keeps its
 * state's pointer for lb_done.  The rule that makes reading upvalues safe: a C function of
 * this module that calls lb_newbox or get_state either has the lb_state first and the
 * metatable second, or has no userdata first (t_index has a table; functions registered with
 * lua_pushcfunction have no upvalues), and these use the registry.  Host C functions, whose
 * upvalues are unknown, never come here: dm_lua_push_tensor goes through lb_push_foreign.
 * The tag is checked as well (a load, no API call).
 *
 * Not here, and why: the grad-box cache and the default dtype are registry tables (already
 * per state); lb_next_device is thread-local and lives within one call (set by a constructor's
 * options, consumed by its lb_newbox). */
typedef struct {
    const void *tag;
    int64_t pending_bytes, soft_limit;      /* lb_account's */
    int mt_ref;                             /* the Tensor metatable's registry reference */
    dm_rng *rng;                            /* the state's default generator */
} lb_state;

static const char state_tag = 0;
static const char state_key = 0;

/* the lb_state in the running C function's first upvalue, or NULL (see the rule above) */
static inline lb_state *upvalue_state(lua_State *L)
{
    lb_state *S = lua_touserdata(L, lua_upvalueindex(1));
    return S && S->tag == &state_tag ? S : NULL;
}

static lb_state *registry_state(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
    lb_state *S = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!S) luaL_error(L, "deepmoon: the module is not open in this Lua state");
    return S;
}

static inline lb_state *get_state(lua_State *L)
{
    lb_state *S = upvalue_state(L);
    return S ? S : registry_state(L);
}

dm_rng *lb_default_rng(lua_State *L)
{
    lb_state *S = get_state(L);
    if (!S->rng) luaL_error(L, "the default generator was released (the Lua state is closing)");
    return S->rng;
}

static int state_gc(lua_State *L)
{
    lb_state *S = lua_touserdata(L, 1);
    dm_rng_free(S->rng);
    S->rng = NULL;
    return 0;
}

/* the state's lb_state, made on first use; pushes it */
static lb_state *push_state(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key) == LUA_TUSERDATA)
        return lua_touserdata(L, -1);
    lua_pop(L, 1);
    lb_state *S = lua_newuserdatauv(L, sizeof *S, 0);
    S->tag = NULL;                              /* not valid until the generator exists */
    S->pending_bytes = 0;
    S->soft_limit = (int64_t)16 << 20;
    S->rng = NULL;
    S->mt_ref = LUA_NOREF;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    S->rng = dm_rng_new(0);                     /* seeded with 0, as PyTorch's at start */
    if (!S->rng) luaL_error(L, "%s", dm_errmsg());
    S->tag = &state_tag;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
    return S;
}

/* Type checks run several times per op, and reading a value's metatable through the API
 * costs more than a small op itself, so a box is recognised by its contents instead: a
 * full userdata of exactly sizeof(lb_box) bytes whose tag is the address of box_tag, a
 * value only this library writes (Lua code cannot write a userdata's bytes).  The tag is a
 * constant, the same for every state.  The tensor pointer comes first, so a box's address
 * is also its dm_tensor ** slot (lb_done finds the box's state through it). */
typedef struct {
    dm_tensor *t;
    const void *tag;
    lb_state *state;    /* its Lua state's, for lb_done (a box never leaves its state) */
} lb_box;

static const char box_tag = 0;
static const char tensor_mt_key = 0;

/* the Tensor box at idx, or NULL when the value is not one (pushes nothing); a light
 * userdata has length 0, so only full userdata of the box's size are read */
static inline dm_tensor **to_box(lua_State *L, int idx)
{
    lb_box *b = lua_touserdata(L, idx);
    if (!b || lua_rawlen(L, idx) != sizeof(lb_box) || b->tag != &box_tag) return NULL;
    return &b->t;
}

DM_LB_TLS int lb_next_device = -1;

static dm_tensor **newbox(lua_State *L, int upvalue)
{
    /* a constructor makes its tensor on the device its options named, else on cpu; an op
       makes its result on its inputs' device whatever is current */
    dm_set_device(lb_next_device >= 0 ? lb_next_device : DM_CPU);
    lb_next_device = -1;
    lb_state *S = upvalue ? upvalue_state(L) : NULL;
    if (!S) S = registry_state(L);
    lb_box *b = lua_newuserdatauv(L, sizeof(lb_box), 0);
    b->t = NULL;
    b->tag = &box_tag;
    b->state = S;
    /* the metatable by the state's integer reference: a registry array read costs less
       than pushing an upvalue (or a pointer-keyed read) */
    if (S->mt_ref != LUA_NOREF) lua_rawgeti(L, LUA_REGISTRYINDEX, S->mt_ref);
    else lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    lua_setmetatable(L, -2);
    return &b->t;
}

dm_tensor **lb_newbox(lua_State *L) { return newbox(L, 1); }

int lb_is_tensor(lua_State *L, int idx)
{
    return to_box(L, idx) != NULL;
}

dm_tensor **lb_checkbox(lua_State *L, int idx)
{
    dm_tensor **slot = to_box(L, idx);
    if (!slot) luaL_typeerror(L, idx, LB_TENSOR);
    return slot;
}

dm_tensor *lb_totensor(lua_State *L, int idx)
{
    dm_tensor **slot = to_box(L, idx);
    if (!slot) return NULL;
    if (!*slot) luaL_argerror(L, idx, "tensor was released");
    return *slot;
}

dm_tensor *lb_check(lua_State *L, int idx)
{
    dm_tensor **slot = to_box(L, idx);
    if (!slot) luaL_typeerror(L, idx, LB_TENSOR);
    if (!*slot) luaL_argerror(L, idx, "tensor was released");
    return *slot;
}

dm_tensor *lb_opt(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : lb_check(L, idx);
}

/* Bytes the core allocated are invisible to Lua's collector; without telling it, a loop of
 * temporaries grows without bound (Torch7's failure).  Two mechanisms, measured on the
 * benchmarks (BENCHMARKS.md):
 *
 * - Each new tensor is reported as collector debt (lua_gc STEP, in batches of STEP_BATCH),
 *   counting at most REPORT_CAP bytes per tensor.  Small temporaries are thus collected
 *   within a few dozen KB, so their memory comes back through the core's cache while still
 *   in the CPU cache (a training step of small tensors ran 1.5x slower when its garbage was
 *   left to pile up to megabytes).  The cap keeps the collector's work per large tensor
 *   bounded: reporting all 256 KB of an activation made it traverse the Lua heap several
 *   times per step of a large model, a tenth of its training time.  Each new tensor also
 *   counts TENSOR_OVERHEAD bytes besides its data, for what it holds outside the Lua heap
 *   (its struct and storage header, 240 bytes, its node and saved aliases): counting the
 *   data alone, a loop of Linear(2, 2) calls (8-byte outputs, each keeping a node and two
 *   aliases) reported so little that its garbage kept growing, past 100 000 live tensors
 *   after 300 000 calls; with it, about 5 000 at most (and fewer trips to malloc).
 * - Large garbage is bounded by Torch7's rule: when live tensor bytes (which include tensors
 *   whose boxes are garbage not yet collected) pass a soft limit, run a full collection,
 *   then set the limit to twice what is still live, and at least SOFT_MIN. */
#define REPORT_CAP ((int64_t)16 << 10)
#define STEP_BATCH ((int64_t)32 << 10)
#define SOFT_MIN ((int64_t)16 << 20)
#define TENSOR_OVERHEAD 128

/* The live-byte counter is the process's (the core's caches are shared): with several
 * states a collection in this one may free nothing of what pushed the counter up, and the
 * limit then doubles from what is live, so no state collects on every allocation. */
static __attribute__((noinline)) void account_step(lua_State *L, lb_state *S)
{
    int kb = (int)(S->pending_bytes >> 10);
    S->pending_bytes = 0;
    lua_gc(L, LUA_GCSTEP, kb);
}

static __attribute__((noinline)) void account_collect(lua_State *L, lb_state *S)
{
    lua_gc(L, LUA_GCCOLLECT);
    int64_t live = dm_live_bytes();
    S->soft_limit = live * 2 > SOFT_MIN ? live * 2 : SOFT_MIN;
}

static inline void account(lua_State *L, lb_state *S, int64_t bytes)
{
    S->pending_bytes += bytes < REPORT_CAP ? bytes : REPORT_CAP;
    if (S->pending_bytes >= STEP_BATCH) account_step(L, S);
    if (dm_live_bytes() > S->soft_limit) account_collect(L, S);
}

void lb_account(lua_State *L, int64_t bytes) { account(L, get_state(L), bytes); }

int lb_done(lua_State *L, dm_tensor **slot)
{
    dm_tensor *t = *slot;
    if (!t) return luaL_error(L, "%s", dm_errmsg());
    int64_t fresh = dm_fresh_bytes(t);
    if (fresh) account(L, ((lb_box *)slot)->state, fresh + TENSOR_OVERHEAD);
    return 1;
}

int lb_push(lua_State *L, dm_tensor *t)
{
    if (!t) return luaL_error(L, "%s", dm_errmsg());
    dm_tensor **slot = lb_newbox(L);
    *slot = t;
    return lb_done(L, slot);
}

void lb_push_foreign(lua_State *L, dm_tensor *t)
{
    dm_tensor **slot = newbox(L, 0);    /* the box first: a memory error leaks nothing */
    *slot = dm_tensor_retain(t);
    lb_done(L, slot);
}

/* The box last returned for a tensor's .grad (so `p.grad` gives the same object while the
 * gradient tensor is the same) is kept in a registry table with weak keys, box -> grad
 * box: an ephemeron, so the grad box lives as long as its tensor's box.  Boxes carry no
 * user value of their own: the collector handles one fewer reference per box, and most
 * boxes never have a grad. */
static const char gradbox_key = 0;

static void push_gradboxes(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &gradbox_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &gradbox_key);
}

/* Push the box of t->grad for the box at idx (a live tensor): the cached one while it
 * still holds that very tensor, else a new box, cached.  Pushes nil when t has no grad. */
void lb_grad_box(lua_State *L, int idx, dm_tensor *t)
{
    idx = lua_absindex(L, idx);
    if (!t->grad) { lua_pushnil(L); return; }
    push_gradboxes(L);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        dm_tensor **g = to_box(L, -1);
        if (g && *g == t->grad) {
            lua_remove(L, -2);
            return;
        }
    }
    lua_pop(L, 1);
    dm_tensor **slot = lb_newbox(L);
    *slot = dm_tensor_retain(t->grad);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);                           /* table[box] = grad box */
    lua_remove(L, -2);
}

void lb_grad_set(lua_State *L, int idx, int gidx)
{
    idx = lua_absindex(L, idx);
    gidx = lua_absindex(L, gidx);
    push_gradboxes(L);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, gidx);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void lb_grad_forget(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    lb_grad_set(L, idx, -1);
    lua_pop(L, 1);
}

/* ---- arguments ------------------------------------------------------------------------ */

int lb_dim(lua_State *L, int idx, const char *fn)
{
    lua_Integer d = luaL_checkinteger(L, idx);
    if (d == 0)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: dim 0 is invalid (dims are 1-based)", fn));
    if (d > 1000 || d < -1000)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: dim %I out of range", fn, d));
    return d > 0 ? (int)d - 1 : (int)d;
}

int lb_optdim(lua_State *L, int idx, const char *fn, int def)
{
    return lua_isnoneornil(L, idx) ? def : lb_dim(L, idx, fn);
}

static int64_t check_size(lua_State *L, int idx, const char *fn, int k)
{
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || v < 0)
        return luaL_error(L, "%s: size %d must be a non-negative integer, got %s", fn, k,
                          isnum ? lua_pushfstring(L, "%I", v) : luaL_tolstring(L, idx, NULL));
    return v;
}

int lb_sizes(lua_State *L, int idx, int64_t *shape, const char *fn)
{
    int n = 0;
    if (lua_istable(L, idx) && !lb_is_tensor(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > DM_MAX_DIMS) luaL_error(L, "%s: %d dimensions (at most %d supported)", fn, n, DM_MAX_DIMS);
        for (int k = 1; k <= n; k++) {
            lua_geti(L, idx, k);
            shape[k - 1] = check_size(L, -1, fn, k);
            lua_pop(L, 1);
        }
        return n;
    }
    while (lua_type(L, idx + n) == LUA_TNUMBER) {
        if (n >= DM_MAX_DIMS) luaL_error(L, "%s: more than %d dimensions", fn, DM_MAX_DIMS);
        shape[n] = check_size(L, idx + n, fn, n + 1);
        n++;
    }
    return n;
}

int lb_opts_check(lua_State *L, int idx, const char *fn, const char *const *known)
{
    if (idx <= 0 || lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; known[i]; i++) if (strcmp(known[i], k) == 0) ok = 1;
            if (!ok) luaL_error(L, "%s: unknown option '%s'", fn, k);
        } else {
            luaL_error(L, "%s: option names must be strings", fn);
        }
    }
    return 1;
}

/* ---- module ------------------------------------------------------------------------- */

static int m_live_bytes(lua_State *L) { lua_pushinteger(L, dm_live_bytes()); return 1; }
static int m_live_tensors(lua_State *L) { lua_pushinteger(L, dm_live_tensors()); return 1; }
static int m_set_grad_enabled(lua_State *L)
{
    lua_pushboolean(L, dm_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}
static int m_is_grad_enabled(lua_State *L) { lua_pushboolean(L, dm_grad_enabled()); return 1; }
static int m_have_blas(lua_State *L) { lua_pushboolean(L, dm_have_blas()); return 1; }
static int m_set_use_blas(lua_State *L) { dm_set_use_blas(lua_toboolean(L, 1)); return 0; }
static int m_memory_cached(lua_State *L) { lua_pushinteger(L, dm_cached_bytes()); return 1; }
static int m_empty_cache(lua_State *L) { (void)L; dm_empty_cache(); return 0; }

/* dm.set_num_threads(n): threads for BLAS (OpenBLAS's pool) */
static int m_set_num_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1 || n > 4096)
        return luaL_argerror(L, 1, lua_pushfstring(L, "set_num_threads: expected a positive "
                                                   "number of threads, got %I", n));
    if (dm_set_num_threads((int)n) != 0) return luaL_error(L, "%s", dm_errmsg());
    return 0;
}
static int m_get_num_threads(lua_State *L) { lua_pushinteger(L, dm_get_num_threads()); return 1; }
static int m_blas_info(lua_State *L) { lua_pushstring(L, dm_blas_info()); return 1; }

/* dm.clock(): seconds on a monotonic wall clock (arbitrary origin), for timing */
static int m_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static const luaL_Reg module_fns[] = {
    { "memory", m_live_bytes },
    { "live_tensors", m_live_tensors },
    { "set_grad_enabled", m_set_grad_enabled },
    { "is_grad_enabled", m_is_grad_enabled },
    { "have_blas", m_have_blas },
    { "set_use_blas", m_set_use_blas },
    { "memory_cached", m_memory_cached },
    { "empty_cache", m_empty_cache },
    { "set_num_threads", m_set_num_threads },
    { "get_num_threads", m_get_num_threads },
    { "blas_info", m_blas_info },
    { "clock", m_clock },
    { NULL, NULL }
};

/* The core keeps freed blocks in a process-wide cache.  When the Lua state closes, Lua
 * unloads this library after running finalizers; hand the cached blocks back first, or they
 * would be lost with the library's static data (valgrind reports them as leaks). */
static int cache_sentinel_gc(lua_State *L)
{
    (void)L;
    dm_empty_cache();
    return 0;
}

static void register_cache_sentinel(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, "deepmoon.cache_sentinel") != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newuserdatauv(L, 1, 0);
    lua_newtable(L);
    lua_pushcfunction(L, cache_sentinel_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "deepmoon.cache_sentinel");
}

/* Make every C function without upvalues in the table at t (and in the tables it holds, to
 * any depth) a closure over the lb_state at S and the Tensor metatable at mt; memo (a table)
 * maps each function to its closure, so a function stored under two names stays one value. */
void lb_setfuncs_both(lua_State *L, int methods, int module, const luaL_Reg *fns)
{
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, module);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

static void wrap_functions(lua_State *L, int t, int S, int mt, int memo)
{
    lua_pushvalue(L, t);
    if (lua_rawget(L, memo) != LUA_TNIL) { lua_pop(L, 1); return; }   /* seen */
    lua_pop(L, 1);
    lua_pushvalue(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, memo);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int v = lua_gettop(L);
        if (lua_type(L, v) == LUA_TTABLE) {
            wrap_functions(L, v, S, mt, memo);
        } else if (lua_tocfunction(L, v) && !lua_getupvalue(L, v, 1)) {
            lua_pushvalue(L, v);
            if (lua_rawget(L, memo) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_pushvalue(L, S);
                lua_pushvalue(L, mt);
                lua_pushcclosure(L, lua_tocfunction(L, v), 2);
                lua_pushvalue(L, v);
                lua_pushvalue(L, -2);
                lua_rawset(L, memo);
            }
            lua_pushvalue(L, v - 1);            /* key */
            lua_insert(L, -2);
            lua_rawset(L, t);                   /* replacing an existing key is allowed */
        } else if (lua_tocfunction(L, v)) {
            lua_pop(L, 1);                      /* the upvalue lua_getupvalue pushed */
        }
        lua_settop(L, v - 1);
    }
}

int luaopen_deepmoon_core(lua_State *L);

int luaopen_deepmoon_core(lua_State *L)
{
    register_cache_sentinel(L);
    push_state(L);
    int state = lua_gettop(L);
    luaL_newlib(L, module_fns);                 /* module */
    int module = lua_gettop(L);
    luaL_newmetatable(L, LB_TENSOR);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
    lb_state *S = lua_touserdata(L, state);
    if (S->mt_ref == LUA_NOREF) {
        lua_pushvalue(L, -1);
        S->mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    int mt = lua_gettop(L);
    lua_newtable(L);                            /* Tensor methods (lb_open_tensor: on top) */
    int methods = lua_gettop(L);
    lb_open_tensor(L, methods, module);
    lb_open_random(L, methods, module);
    lb_open_nn(L, methods, module);
    lb_open_io(L, methods, module);
    lb_open_idx(L, methods, module);
    lb_open_init(L, methods, module);
    lb_open_dtype(L, methods, module);
    lb_open_model(L, methods, module);
    lb_open_ops_reduce(L, methods, module);
    lb_open_ops_index(L, methods, module);
    lb_open_ops_shape(L, methods, module);
    lb_open_pad(L, methods, module);
    lb_open_upsample(L, methods, module);
    lb_open_conv(L, methods, module);
    lb_open_pool(L, methods, module);
    lb_open_index(L, methods, module);
    lb_open_pt(L, methods, module);
    lb_open_autograd(L, methods, module);
    lb_open_embedding(L, methods, module);
    lb_open_dist(L, methods, module);
    lb_open_rnn(L, methods, module);
    lb_open_bmath(L, methods, module);
    lua_pushvalue(L, methods);
    lua_setfield(L, module, "Tensor");
    lua_pushliteral(L, DM_VERSION);
    lua_setfield(L, module, "version");
    /* the module's functions and the metatables' (reached through the registry names) */
    lua_newtable(L);
    int memo = lua_gettop(L);
    wrap_functions(L, module, state, mt, memo);
    static const char *const metatables[] = { LB_TENSOR, LB_GENERATOR, NULL };
    for (int i = 0; metatables[i]; i++) {
        if (luaL_getmetatable(L, metatables[i]) == LUA_TTABLE)
            wrap_functions(L, lua_gettop(L), state, mt, memo);
        lua_pop(L, 1);
    }
    lua_settop(L, module);
    return 1;
}
