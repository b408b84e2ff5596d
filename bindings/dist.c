/* dist.c -- the MPI layer under deepmoon.distributed (lua/deepmoon/distributed.lua): Open MPI
 * wrapped in C, as the private table core._dist.  Built with MPI only when the Makefile's MPI
 * is 1 (DM_USE_MPI); otherwise core._dist.available() is false and every other function says
 * how to build with MPI.
 *
 * Two communicators, both duplicates of MPI_COMM_WORLD: `data` carries the tensors and `ctrl`
 * a small header that every rank exchanges before each collective (ctrl_check): the kind of
 * collective and its element count and dtype.  Because the header travels on its own
 * communicator, a rank that leaves (destroy_process_group, or the end of its script) while the
 * others start another collective is seen by all of them as a mismatch of headers -- a clear
 * error on every rank instead of a collective that never completes.
 *
 * Collectives work in place on the tensor's memory (CPU tensors of any dtype; a
 * non-contiguous tensor goes through a contiguous copy written back).  all_reduce of floating
 * types with sum, avg or prod is a reduce to rank 0 followed by a broadcast of rank 0's bytes:
 * every rank ends with bit-identical values by construction, whatever algorithm Open MPI
 * picks for the reduction. */
#include "binding.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if DM_USE_MPI
#include <mpi.h>

static int g_inited;          /* this process called MPI_Init through us */
static int g_finalized;
static int g_broken;          /* a header mismatch was seen: no more collectives */
static MPI_Comm g_data = MPI_COMM_NULL, g_ctrl = MPI_COMM_NULL;
static int g_rank, g_size;

enum { OP_SUM, OP_AVG, OP_MAX, OP_MIN, OP_PROD, OP_COUNT };
static const char *const op_names[] = { "sum", "avg", "max", "min", "prod", NULL };

static int mpi_fail(lua_State *L, const char *fn, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "code %d", rc);
    return luaL_error(L, "%s: MPI error on rank %d: %s", fn, g_rank, msg);
}

static void need_group(lua_State *L, const char *fn)
{
    if (!g_inited || g_finalized)
        luaL_error(L, "%s: the default process group is not initialized (call "
                      "dist.init_process_group(\"mpi\") first)", fn);
    if (g_broken)
        luaL_error(L, "%s: the process group is unusable after an earlier mismatch between "
                      "ranks (see the first error)", fn);
}

static MPI_Datatype mpi_type(dm_dtype dt)
{
    switch (dt) {
    case DM_FLOAT32: return MPI_FLOAT;
    case DM_FLOAT64: return MPI_DOUBLE;
    case DM_INT64: return MPI_INT64_T;
    default: return MPI_UNSIGNED_CHAR;          /* uint8, bool: one byte */
    }
}

/* the MPI op for an op name and dtype; avg reduces with sum (the caller divides) */
static MPI_Op mpi_op(lua_State *L, const char *fn, int op, dm_dtype dt)
{
    if (dt == DM_BOOL) {
        if (op == OP_AVG)
            luaL_error(L, "%s: op 'avg' is not defined for bool tensors (use max or min)", fn);
        return (op == OP_SUM || op == OP_MAX) ? MPI_LOR : MPI_LAND;
    }
    switch (op) {
    case OP_MAX: return MPI_MAX;
    case OP_MIN: return MPI_MIN;
    case OP_PROD: return MPI_PROD;
    default: return MPI_SUM;
    }
}

static int check_op(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return luaL_error(L, "%s: op must be a string, got %s", fn, luaL_typename(L, idx));
    const char *s = lua_tostring(L, idx);
    for (int i = 0; op_names[i]; i++)
        if (strcmp(s, op_names[i]) == 0) return i;
    return luaL_error(L, "%s: unknown op '%s' (expected sum, avg, max, min or prod)", fn, s);
}

static int check_rank(lua_State *L, int idx, const char *fn, const char *what)
{
    int ok;
    lua_Integer r = lua_tointegerx(L, idx, &ok);
    if (!ok) return luaL_error(L, "%s: %s must be an integer rank, got %s", fn, what,
                               luaL_typename(L, idx));
    if (r < 0 || r >= g_size)
        return luaL_error(L, "%s: %s %I is not a rank (0 to %d)", fn, what, r, g_size - 1);
    return (int)r;
}

/* A tensor's memory as one contiguous block: t itself, or a contiguous copy (*tmp) that
 * put_back writes back into t. */
typedef struct { dm_tensor *t, *tmp; void *p; int64_t n; dm_dtype dt; } buf;

static void get_buf(lua_State *L, int idx, const char *fn, buf *b)
{
    dm_tensor *t = lb_check(L, idx);
    int dev = dm_tensor_device(t);
    if (dev != DM_CPU && dev != DM_CPU_REF)
        luaL_error(L, "%s: expected a CPU tensor, got one on %s", fn, dm_device_name(dev));
    if (dm_numel(t) > (int64_t)0x7fffffff)
        luaL_error(L, "%s: tensor too large (%I elements; at most 2^31 - 1)", fn,
                   (lua_Integer)dm_numel(t));
    b->t = t;
    b->tmp = NULL;
    if (!dm_is_contiguous(t)) {
        b->tmp = dm_contiguous(t);
        if (!b->tmp) luaL_error(L, "%s: %s", fn, dm_errmsg());
    }
    b->p = dm_data_ptr(b->tmp ? b->tmp : t);
    b->n = dm_numel(t);
    b->dt = t->dtype;
}

/* write a contiguous copy back (through a detached view: no autograd record) and free it */
static void put_back(lua_State *L, const char *fn, buf *b, int write)
{
    if (!b->tmp) return;
    int rc = 0;
    if (write) {
        dm_tensor *d = dm_detach(b->t);
        rc = d ? dm_copy_(d, b->tmp) : -1;
        dm_tensor_release(d);
    }
    dm_tensor_release(b->tmp);
    b->tmp = NULL;
    if (rc != 0) luaL_error(L, "%s: %s", fn, dm_errmsg());
}

static void release_buf(buf *b)
{
    dm_tensor_release(b->tmp);
    b->tmp = NULL;
}

/* divide n values of dtype dt at p by d (avg); integers divide truncating, as C */
static void divide(void *p, int64_t n, dm_dtype dt, int d)
{
    switch (dt) {
    case DM_FLOAT32: { float *x = p; for (int64_t i = 0; i < n; i++) x[i] /= (float)d; break; }
    case DM_FLOAT64: { double *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    case DM_INT64: { int64_t *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    case DM_UINT8: { unsigned char *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    default: break;
    }
}

/* ---- the process group ------------------------------------------------------------------ */

static int d_available(lua_State *L) { lua_pushboolean(L, 1); return 1; }

static int d_init(lua_State *L)
{
    if (g_inited && !g_finalized) return luaL_error(L, "init_process_group: already initialized");
    if (g_finalized)
        return luaL_error(L, "init_process_group: MPI cannot be initialized again in a process "
                             "after destroy_process_group");
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        int provided;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail(L, "init_process_group", rc);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_data);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_ctrl);
    MPI_Comm_set_errhandler(g_data, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(g_ctrl, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g_data, &g_rank);
    MPI_Comm_size(g_data, &g_size);
    g_inited = 1;
    g_broken = 0;
    lua_pushinteger(L, g_rank);
    lua_pushinteger(L, g_size);
    return 2;
}

static int d_is_initialized(lua_State *L)
{
    lua_pushboolean(L, g_inited && !g_finalized);
    return 1;
}

static int d_rank(lua_State *L) { need_group(L, "get_rank"); lua_pushinteger(L, g_rank); return 1; }
static int d_size(lua_State *L) { need_group(L, "get_world_size"); lua_pushinteger(L, g_size); return 1; }

/* ctrl(code, count): exchange the header {code, count} with every rank.  Returns true when
 * all agree; else false, then the largest and smallest code and count seen (the group is
 * then marked unusable). */
static int d_ctrl(lua_State *L)
{
    need_group(L, "distributed");
    int64_t code = (int64_t)luaL_checkinteger(L, 1), count = (int64_t)luaL_optinteger(L, 2, 0);
    int64_t h[4] = { code, -code, count, -count };
    int rc = MPI_Allreduce(MPI_IN_PLACE, h, 4, MPI_INT64_T, MPI_MAX, g_ctrl);
    if (rc != MPI_SUCCESS) { g_broken = 1; return mpi_fail(L, "distributed", rc); }
    int same = h[0] == -h[1] && h[2] == -h[3];
    if (!same) g_broken = 1;
    lua_pushboolean(L, same);
    lua_pushinteger(L, h[0]);
    lua_pushinteger(L, -h[1]);
    lua_pushinteger(L, h[2]);
    lua_pushinteger(L, -h[3]);
    return 5;
}

static int d_finalize(lua_State *L)
{
    (void)L;
    if (g_inited && !g_finalized) {
        if (g_data != MPI_COMM_NULL) MPI_Comm_free(&g_data);
        if (g_ctrl != MPI_COMM_NULL) MPI_Comm_free(&g_ctrl);
        MPI_Finalize();
        g_finalized = 1;
    }
    return 0;
}

/* abort(code): end every rank of the job now (MPI_Abort) */
static int d_abort(lua_State *L)
{
    int code = (int)luaL_optinteger(L, 1, 1);
    fflush(stdout);
    fflush(stderr);
    if (g_inited && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
    return 0;
}

static int d_broken(lua_State *L)
{
    if (lua_toboolean(L, 1)) g_broken = 1;
    lua_pushboolean(L, g_broken);
    return 1;
}

/* ---- collectives (raw: the Lua side exchanges the header first) ------------------------ */

static int d_barrier(lua_State *L)
{
    need_group(L, "barrier");
    int rc = MPI_Barrier(g_data);
    if (rc != MPI_SUCCESS) return mpi_fail(L, "barrier", rc);
    return 0;
}

/* all_reduce(t, op): in place */
static int d_all_reduce(lua_State *L)
{
    const char *fn = "all_reduce";
    need_group(L, fn);
    int op = check_op(L, 2, fn);
    buf b;
    get_buf(L, 1, fn, &b);
    MPI_Op mop = mpi_op(L, fn, op, b.dt);
    int rc;
    if (dm_is_floating(b.dt) && (op == OP_SUM || op == OP_AVG || op == OP_PROD)) {
        /* reduce to rank 0, then everyone takes rank 0's bytes: identical on every rank */
        rc = MPI_Reduce(g_rank == 0 ? MPI_IN_PLACE : b.p, g_rank == 0 ? b.p : NULL, (int)b.n,
                        mpi_type(b.dt), mop, 0, g_data);
        if (rc == MPI_SUCCESS && op == OP_AVG && g_rank == 0) divide(b.p, b.n, b.dt, g_size);
        if (rc == MPI_SUCCESS) rc = MPI_Bcast(b.p, (int)b.n, mpi_type(b.dt), 0, g_data);
    } else {
        rc = MPI_Allreduce(MPI_IN_PLACE, b.p, (int)b.n, mpi_type(b.dt), mop, g_data);
        if (rc == MPI_SUCCESS && op == OP_AVG) divide(b.p, b.n, b.dt, g_size);
    }
    if (rc != MPI_SUCCESS) { release_buf(&b); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &b, 1);
    return 0;
}

/* reduce(t, dst, op): the result in dst's t; the others' t unchanged */
static int d_reduce(lua_State *L)
{
    const char *fn = "reduce";
    need_group(L, fn);
    int dst = check_rank(L, 2, fn, "dst");
    int op = check_op(L, 3, fn);
    buf b;
    get_buf(L, 1, fn, &b);
    MPI_Op mop = mpi_op(L, fn, op, b.dt);
    /* MPI needs no receive buffer off the root */
    int rc = MPI_Reduce(g_rank == dst ? MPI_IN_PLACE : b.p, g_rank == dst ? b.p : NULL,
                        (int)b.n, mpi_type(b.dt), mop, dst, g_data);
    if (rc == MPI_SUCCESS && op == OP_AVG && g_rank == dst) divide(b.p, b.n, b.dt, g_size);
    if (rc != MPI_SUCCESS) { release_buf(&b); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &b, g_rank == dst);
    return 0;
}

static int d_broadcast(lua_State *L)
{
    const char *fn = "broadcast";
    need_group(L, fn);
    int src = check_rank(L, 2, fn, "src");
    buf b;
    get_buf(L, 1, fn, &b);
    int rc = MPI_Bcast(b.p, (int)b.n, mpi_type(b.dt), src, g_data);
    if (rc != MPI_SUCCESS) { release_buf(&b); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &b, g_rank != src);
    return 0;
}

/* all_gather(out, t): out (contiguous, world x t's elements) receives every rank's t */
static int d_all_gather(lua_State *L)
{
    const char *fn = "all_gather";
    need_group(L, fn);
    buf o, b;
    get_buf(L, 1, fn, &o);
    get_buf(L, 2, fn, &b);
    int rc = (o.n != b.n * g_size || o.dt != b.dt) ? -1 :
             MPI_Allgather(b.p, (int)b.n, mpi_type(b.dt), o.p, (int)b.n, mpi_type(b.dt), g_data);
    release_buf(&b);
    if (rc == -1) { release_buf(&o); return luaL_error(L, "%s: output size or dtype differs", fn); }
    if (rc != MPI_SUCCESS) { release_buf(&o); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &o, 1);
    return 0;
}

/* gather(out|nil, t, dst): out on dst (world x t's elements) */
static int d_gather(lua_State *L)
{
    const char *fn = "gather";
    need_group(L, fn);
    int dst = check_rank(L, 3, fn, "dst");
    buf o = { 0 }, b;
    if (g_rank == dst) get_buf(L, 1, fn, &o);
    get_buf(L, 2, fn, &b);
    if (g_rank == dst && (o.n != b.n * g_size || o.dt != b.dt)) {
        release_buf(&o); release_buf(&b);
        return luaL_error(L, "%s: output size or dtype differs", fn);
    }
    int rc = MPI_Gather(b.p, (int)b.n, mpi_type(b.dt), o.p, (int)b.n, mpi_type(b.dt), dst, g_data);
    release_buf(&b);
    if (rc != MPI_SUCCESS) { release_buf(&o); return mpi_fail(L, fn, rc); }
    if (g_rank == dst) put_back(L, fn, &o, 1);
    return 0;
}

/* scatter(t, in|nil, src): t receives its part of src's in (world x t's elements) */
static int d_scatter(lua_State *L)
{
    const char *fn = "scatter";
    need_group(L, fn);
    int src = check_rank(L, 3, fn, "src");
    buf o, b = { 0 };
    get_buf(L, 1, fn, &o);
    if (g_rank == src) get_buf(L, 2, fn, &b);
    if (g_rank == src && (b.n != o.n * g_size || o.dt != b.dt)) {
        release_buf(&o); release_buf(&b);
        return luaL_error(L, "%s: input size or dtype differs", fn);
    }
    int rc = MPI_Scatter(b.p, (int)o.n, mpi_type(o.dt), o.p, (int)o.n, mpi_type(o.dt), src, g_data);
    release_buf(&b);
    if (rc != MPI_SUCCESS) { release_buf(&o); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &o, 1);
    return 0;
}

/* reduce_scatter(out, in, op): out = op over ranks of in's block r (in: world x out) */
static int d_reduce_scatter(lua_State *L)
{
    const char *fn = "reduce_scatter";
    need_group(L, fn);
    int op = check_op(L, 3, fn);
    buf o, b;
    get_buf(L, 1, fn, &o);
    get_buf(L, 2, fn, &b);
    if (b.n != o.n * g_size || o.dt != b.dt) {
        release_buf(&o); release_buf(&b);
        return luaL_error(L, "%s: input size or dtype differs", fn);
    }
    MPI_Op mop = mpi_op(L, fn, op, o.dt);
    int rc = MPI_Reduce_scatter_block(b.p, o.p, (int)o.n, mpi_type(o.dt), mop, g_data);
    release_buf(&b);
    if (rc == MPI_SUCCESS && op == OP_AVG) divide(o.p, o.n, o.dt, g_size);
    if (rc != MPI_SUCCESS) { release_buf(&o); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &o, 1);
    return 0;
}

/* send(t, dst, tag) */
static int d_send(lua_State *L)
{
    const char *fn = "send";
    need_group(L, fn);
    int dst = check_rank(L, 2, fn, "dst");
    int tag = (int)luaL_optinteger(L, 3, 0);
    if (tag < 0 || tag > 32767) return luaL_error(L, "%s: tag must be 0 to 32767, got %d", fn, tag);
    buf b;
    get_buf(L, 1, fn, &b);
    int rc = MPI_Send(b.p, (int)b.n, mpi_type(b.dt), dst, tag, g_data);
    release_buf(&b);
    if (rc != MPI_SUCCESS) return mpi_fail(L, fn, rc);
    return 0;
}

/* recv(t, src|nil, tag|nil) -> the sender's rank */
static int d_recv(lua_State *L)
{
    const char *fn = "recv";
    need_group(L, fn);
    int src = lua_isnoneornil(L, 2) ? MPI_ANY_SOURCE : check_rank(L, 2, fn, "src");
    int tag = lua_isnoneornil(L, 3) ? MPI_ANY_TAG : (int)luaL_checkinteger(L, 3);
    buf b;
    get_buf(L, 1, fn, &b);
    MPI_Status st;
    int rc = MPI_Recv(b.p, (int)b.n, mpi_type(b.dt), src, tag, g_data, &st);
    if (rc == MPI_SUCCESS) {
        int got = 0;
        MPI_Get_count(&st, mpi_type(b.dt), &got);
        if (got != (int)b.n) {
            release_buf(&b);
            return luaL_error(L, "%s: received %d elements from rank %d, the tensor holds %d",
                              fn, got, st.MPI_SOURCE, (int)b.n);
        }
    }
    if (rc != MPI_SUCCESS) { release_buf(&b); return mpi_fail(L, fn, rc); }
    put_back(L, fn, &b, 1);
    lua_pushinteger(L, st.MPI_SOURCE);
    return 1;
}

static const luaL_Reg dist_fns[] = {
    { "available", d_available }, { "init", d_init }, { "is_initialized", d_is_initialized },
    { "rank", d_rank }, { "size", d_size }, { "ctrl", d_ctrl }, { "finalize", d_finalize },
    { "abort", d_abort }, { "broken", d_broken }, { "barrier", d_barrier },
    { "all_reduce", d_all_reduce }, { "reduce", d_reduce }, { "broadcast", d_broadcast },
    { "all_gather", d_all_gather }, { "gather", d_gather }, { "scatter", d_scatter },
    { "reduce_scatter", d_reduce_scatter }, { "send", d_send }, { "recv", d_recv },
    { NULL, NULL }
};

#else   /* built without MPI */

static int d_available(lua_State *L) { lua_pushboolean(L, 0); return 1; }
static int d_is_initialized(lua_State *L) { lua_pushboolean(L, 0); return 1; }
static int d_none(lua_State *L)
{
    return luaL_error(L, "init_process_group: deepmoon was built without MPI: install Open MPI "
                         "(apt-get install openmpi-bin libopenmpi-dev) and rebuild with `make` "
                         "(MPI=1, the default), then launch with `mpirun -np N ./deepmoon "
                         "script.lua`");
}
static const luaL_Reg dist_fns[] = {
    { "available", d_available }, { "is_initialized", d_is_initialized }, { "init", d_none },
    { NULL, NULL }
};
#endif

void lb_open_dist(lua_State *L, int methods, int module)
{
    (void)methods;
    luaL_newlib(L, dist_fns);
    lua_setfield(L, module, "_dist");
}
