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
 * types with sum, avg or prod reduces each block of the elements once and sends its bytes to
 * every rank (reduce_allgather): every rank ends with bit-identical values by construction,
 * whatever algorithm Open MPI picks for the reduction. */
#include "binding.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if DM_USE_MPI
#include <mpi.h>

static int g_inited;          /* this process called MPI_Init through us */
static int g_finalized;
static int g_broken;          /* a header mismatch was seen: no more collectives */
static MPI_Comm g_data = MPI_COMM_NULL, g_ctrl = MPI_COMM_NULL;
static MPI_Comm g_bcast = MPI_COMM_NULL;     /* the overlapped gradient sync's broadcasts */
static int g_rank, g_size;
static MPI_Op g_avg2[2] = { MPI_OP_NULL, MPI_OP_NULL };   /* (a + b) / 2: float32, float64 */
static int *g_counts;         /* reduce_allgather's blocks: counts[size], then displs[size] */

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
typedef struct { dm_tensor *t, *tmp; void *p; int64_t n; dm_dtype dt; } dbuf;

static void get_buf(lua_State *L, int idx, const char *fn, dbuf *b)
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
static void put_back(lua_State *L, const char *fn, dbuf *b, int write)
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

static void release_buf(dbuf *b)
{
    dm_tensor_release(b->tmp);
    b->tmp = NULL;
}

/* divide n values of dtype dt at p by d (avg); integers divide truncating, as C */
static void divide(void *p, int64_t n, dm_dtype dt, int d)
{
    /* a power of two: multiplying by its reciprocal is exact (the same bytes as dividing)
       and vectorizes; a division per element costs about 1 ms for the MLP's 2.7 MB */
    if ((dt == DM_FLOAT32 || dt == DM_FLOAT64) && d > 0 && (d & (d - 1)) == 0) {
        if (dt == DM_FLOAT32) { float *x = p, r = 1.0f / (float)d; for (int64_t i = 0; i < n; i++) x[i] *= r; }
        else { double *x = p, r = 1.0 / d; for (int64_t i = 0; i < n; i++) x[i] *= r; }
        return;
    }
    switch (dt) {
    case DM_FLOAT32: { float *x = p; for (int64_t i = 0; i < n; i++) x[i] /= (float)d; break; }
    case DM_FLOAT64: { double *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    case DM_INT64: { int64_t *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    case DM_UINT8: { unsigned char *x = p; for (int64_t i = 0; i < n; i++) x[i] /= d; break; }
    default: break;
    }
}

/* The average of two ranks' values as one MPI operation, (a + b) * 0.5: the same bytes as
   the sum divided by 2 (halving is exact), in one pass over the data instead of a sum and a
   division after it.  With two ranks each element meets the operation exactly once, and
   a + b is b + a in IEEE arithmetic, so both ranks hold the same bytes whatever algorithm
   Open MPI picks (a NaN, whose bits could depend on the order, is written as one NaN).
   O3 vectorizes the loops (no fast-math: the same results). */
#pragma GCC push_options
#pragma GCC optimize("O3")
static void avg2_f32(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    const float *restrict a = in;
    float *restrict b = inout;
    for (int i = 0, n = *len; i < n; i++) {
        float v = (a[i] + b[i]) * 0.5f;
        b[i] = v == v ? v : NAN;
    }
}

static void avg2_f64(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    const double *restrict a = in;
    double *restrict b = inout;
    for (int i = 0, n = *len; i < n; i++) {
        double v = (a[i] + b[i]) * 0.5;
        b[i] = v == v ? v : (double)NAN;
    }
}
#pragma GCC pop_options

/* The reduction (op; avg: the sum divided by the world size) of n values at p over the
   ranks, in place, with the same bytes on every rank by construction: MPI_Reduce_scatter
   leaves each rank the reduction of its own block of the elements, computed once (avg: the
   owner divides it), and MPI_Allgatherv then hands every rank the owners' bytes.  Every
   element crosses the network about twice whatever the number of ranks (the ring
   allreduce's cost), where a reduce to rank 0 and a broadcast funnel all of it through one
   rank.  Two ranks averaging floats take one allreduce with the avg2 operation instead. */
static int reduce_allgather(void *p, int64_t n, dm_dtype dt, MPI_Op op, int avg)
{
    MPI_Datatype ty = mpi_type(dt);
    if (avg && g_size == 2 && (dt == DM_FLOAT32 || dt == DM_FLOAT64))
        return MPI_Allreduce(MPI_IN_PLACE, p, (int)n, ty, g_avg2[dt == DM_FLOAT64], g_data);
    int *cnt = g_counts, *dsp = g_counts + g_size;
    for (int r = 0; r < g_size; r++) {
        int64_t lo = n * r / g_size, hi = n * (r + 1) / g_size;
        cnt[r] = (int)(hi - lo);
        dsp[r] = (int)lo;
    }
    /* in place: the input is p, the rank's block lands at p[0] */
    int rc = MPI_Reduce_scatter(MPI_IN_PLACE, p, cnt, ty, op, g_data);
    if (rc != MPI_SUCCESS) return rc;
    size_t es = dm_dtype_size(dt);
    char *mine = (char *)p + (size_t)dsp[g_rank] * es;
    if (dsp[g_rank] > 0) memmove(mine, p, (size_t)cnt[g_rank] * es);
    if (avg) divide(mine, cnt[g_rank], dt, g_size);
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p, cnt, dsp, ty, g_data);
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
    MPI_Comm_dup(MPI_COMM_WORLD, &g_bcast);
    MPI_Comm_set_errhandler(g_data, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(g_ctrl, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(g_bcast, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g_data, &g_rank);
    MPI_Comm_size(g_data, &g_size);
    if (!g_counts) g_counts = malloc(2 * (size_t)g_size * sizeof *g_counts);
    if (!g_counts) return luaL_error(L, "init_process_group: out of memory");
    MPI_Op_create(avg2_f32, 1, &g_avg2[0]);
    MPI_Op_create(avg2_f64, 1, &g_avg2[1]);
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
        if (g_bcast != MPI_COMM_NULL) MPI_Comm_free(&g_bcast);
        for (int i = 0; i < 2; i++) if (g_avg2[i] != MPI_OP_NULL) MPI_Op_free(&g_avg2[i]);
        free(g_counts);
        g_counts = NULL;
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
    dbuf b;
    get_buf(L, 1, fn, &b);
    MPI_Op mop = mpi_op(L, fn, op, b.dt);
    int rc;
    if (dm_is_floating(b.dt) && (op == OP_SUM || op == OP_AVG || op == OP_PROD)) {
        /* each block reduced once, then its bytes sent to all: identical on every rank */
        rc = reduce_allgather(b.p, b.n, b.dt, mop, op == OP_AVG);
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
    dbuf b;
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
    dbuf b;
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
    dbuf o, b;
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
    dbuf o = { 0 }, b;
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
    dbuf o, b = { 0 };
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
    dbuf o, b;
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
    dbuf b;
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
    dbuf b;
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

/* ---- DistributedDataParallel: the gradient sync overlapped with the backward walk -------
 * A reducer holds a DDP's buckets: a flat buffer each, and the parameters whose gradients it
 * carries (slots).  ddp_backward runs the walk with engine callbacks: when a leaf's .grad is
 * final its gradient is copied into its slot; a bucket whose slots are all filled starts a
 * nonblocking reduce to rank 0 (buckets start strictly in order, so every rank issues the
 * same sequence); each node the walk runs polls the requests (Open MPI has no progress
 * thread: a request advances only inside MPI calls), and a reduced bucket is divided by the
 * world size on rank 0 and broadcast (again in bucket order, on a communicator of its own).
 * After the walk the rest is started and waited for, and every gradient takes its bucket's
 * values: rank 0's bytes on every rank. */

#define LB_REDUCER "deepmoon.dist.Reducer"

typedef struct { dm_tensor *p; int64_t off, n; int seen; } rslot;
typedef struct {
    dm_tensor *buf;
    char *data;
    int64_t numel;
    dm_dtype dt;
    int nslots, ready, state;      /* state: 0 filling, 1 reducing, 2 reduced, 3 bcasting, 4 done */
    rslot *slots;
    MPI_Request req;
} rbucket;
typedef struct { int nb, next_start, next_bcast; rbucket *b; } reducer;

static int reducer_gc(lua_State *L)
{
    reducer *r = luaL_checkudata(L, 1, LB_REDUCER);
    for (int k = 0; k < r->nb; k++) {
        for (int i = 0; i < r->b[k].nslots; i++) dm_tensor_release(r->b[k].slots[i].p);
        free(r->b[k].slots);
        dm_tensor_release(r->b[k].buf);
    }
    free(r->b);
    r->b = NULL;
    r->nb = 0;
    return 0;
}

/* reducer({ {buf = tensor, params = {p1, p2, ...}}, ... }): buf contiguous, float32/64, of the
   params' dtype, holding their elements one after the other */
static int d_reducer(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int nb = (int)lua_rawlen(L, 1);
    reducer *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    if (luaL_newmetatable(L, LB_REDUCER)) {
        lua_pushcfunction(L, reducer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    r->b = calloc((size_t)(nb > 0 ? nb : 1), sizeof *r->b);
    if (!r->b) return luaL_error(L, "DistributedDataParallel: out of memory");
    r->nb = nb;
    for (int k = 0; k < nb; k++) {
        rbucket *b = &r->b[k];
        lua_rawgeti(L, 1, k + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_getfield(L, -1, "buf");
        dm_tensor *buf = lb_check(L, -1);
        if (!dm_is_contiguous(buf) || !dm_is_floating(buf->dtype))
            return luaL_error(L, "DistributedDataParallel: a bucket must be contiguous and floating");
        b->buf = dm_tensor_retain(buf);
        b->data = dm_data_ptr(buf);
        b->numel = dm_numel(buf);
        b->dt = buf->dtype;
        lua_pop(L, 1);
        lua_getfield(L, -1, "params");
        luaL_checktype(L, -1, LUA_TTABLE);
        int n = (int)lua_rawlen(L, -1);
        b->slots = calloc((size_t)(n > 0 ? n : 1), sizeof *b->slots);
        if (!b->slots) return luaL_error(L, "DistributedDataParallel: out of memory");
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            dm_tensor *p = lb_check(L, -1);
            if (p->dtype != b->dt || off + dm_numel(p) > b->numel)
                return luaL_error(L, "DistributedDataParallel: a parameter does not fit its bucket");
            b->slots[i].p = dm_tensor_retain(p);
            b->slots[i].off = off;
            b->slots[i].n = dm_numel(p);
            b->nslots = i + 1;
            off += dm_numel(p);
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
    }
    return 1;
}

typedef struct { reducer **r; int nr; int mpi_rc; } walk_ctx;

/* a view of bucket b's elements for slot s, with the parameter's shape */
static dm_tensor *slot_view(rbucket *b, rslot *s)
{
    int64_t stride[DM_MAX_DIMS];
    int64_t acc = 1;
    for (int d = s->p->ndim - 1; d >= 0; d--) { stride[d] = acc; acc *= s->p->shape[d]; }
    return dm_tensor_alias(b->buf, s->p->ndim, s->p->shape, stride, s->off);
}

/* the slot's gradient (or zeros) into the bucket */
static int fill_slot(rbucket *b, rslot *s)
{
    size_t es = dm_dtype_size(b->dt);
    char *dst = b->data + s->off * (int64_t)es;
    dm_tensor *g = s->p->grad;
    s->seen = 1;
    b->ready++;
    if (!g) { memset(dst, 0, (size_t)s->n * es); return 0; }
    if (g->dtype == b->dt && dm_is_contiguous(g)) {
        memcpy(dst, dm_data_ptr(g), (size_t)s->n * es);
        return 0;
    }
    dm_tensor *v = slot_view(b, s);
    int rc = v ? dm_copy_(v, g) : -1;
    dm_tensor_release(v);
    return rc;
}

static int start_ready(reducer *r)
{
    while (r->next_start < r->nb && r->b[r->next_start].ready == r->b[r->next_start].nslots) {
        rbucket *b = &r->b[r->next_start];
        int rc = MPI_Ireduce(g_rank == 0 ? MPI_IN_PLACE : b->data, g_rank == 0 ? b->data : NULL,
                             (int)b->numel, mpi_type(b->dt), MPI_SUM, 0, g_data, &b->req);
        if (rc != MPI_SUCCESS) return rc;
        b->state = 1;
        r->next_start++;
    }
    return MPI_SUCCESS;
}

/* advance the requests; wait = 1 blocks until every started bucket is done */
static int progress(reducer *r, int wait)
{
    for (int k = 0; k < r->next_start; k++) {
        rbucket *b = &r->b[k];
        if (b->state == 1) {
            int flag = 1, rc;
            rc = wait ? MPI_Wait(&b->req, MPI_STATUS_IGNORE)
                      : MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) return rc;
            if (flag) {
                if (g_rank == 0) divide(b->data, b->numel, b->dt, g_size);
                b->state = 2;
            }
        }
        if (b->state == 2 && r->next_bcast == k) {
            int rc = MPI_Ibcast(b->data, (int)b->numel, mpi_type(b->dt), 0, g_bcast, &b->req);
            if (rc != MPI_SUCCESS) return rc;
            b->state = 3;
            r->next_bcast++;
        }
        if (b->state == 3) {
            int flag = 1, rc;
            rc = wait ? MPI_Wait(&b->req, MPI_STATUS_IGNORE)
                      : MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) return rc;
            if (flag) b->state = 4;
        }
    }
    return MPI_SUCCESS;
}

static int on_leaf(void *ud, dm_tensor *leaf)
{
    walk_ctx *c = ud;
    if (c->mpi_rc != MPI_SUCCESS) return 0;
    for (int i = 0; i < c->nr; i++) {
        reducer *r = c->r[i];
        for (int k = 0; k < r->nb; k++) {
            rbucket *b = &r->b[k];
            for (int j = 0; j < b->nslots; j++) {
                if (b->slots[j].p != leaf || b->slots[j].seen) continue;
                if (fill_slot(b, &b->slots[j]) != 0) return -1;
                int rc = start_ready(r);
                if (rc != MPI_SUCCESS) c->mpi_rc = rc;
            }
        }
    }
    return 0;
}

static int on_node(void *ud, const char *name, const dm_tensor *out, const dm_tensor *grad,
                   int after)
{
    (void)name; (void)out; (void)grad;
    walk_ctx *c = ud;
    if (!after || c->mpi_rc != MPI_SUCCESS) return 0;
    for (int i = 0; i < c->nr; i++) {
        int rc = progress(c->r[i], 0);
        if (rc != MPI_SUCCESS) { c->mpi_rc = rc; break; }
    }
    return 0;
}

/* ddp_backward(t, gradient|nil, retain_graph, reducer, ...): t:backward() with every
   reducer's gradients averaged across the ranks, overlapped with the walk */
static int d_ddp_backward(lua_State *L)
{
    const char *fn = "backward";
    need_group(L, fn);
    dm_tensor *t = lb_check(L, 1);
    dm_tensor *g = lb_opt(L, 2);
    int retain = lua_toboolean(L, 3);
    int nr = lua_gettop(L) - 3;
    if (nr < 1 || nr > 64) return luaL_error(L, "%s: expected 1 to 64 reducers", fn);
    reducer *rs[64];
    for (int i = 0; i < nr; i++) {
        rs[i] = luaL_checkudata(L, 4 + i, LB_REDUCER);
        rs[i]->next_start = rs[i]->next_bcast = 0;
        for (int k = 0; k < rs[i]->nb; k++) {
            rs[i]->b[k].ready = 0;
            rs[i]->b[k].state = 0;
            for (int j = 0; j < rs[i]->b[k].nslots; j++) rs[i]->b[k].slots[j].seen = 0;
        }
    }
    walk_ctx c = { rs, nr, MPI_SUCCESS };
    dm_backward_hooks h = { on_node, on_leaf, &c };
    lua_State *prev = lb_walk_L;
    lb_walk_L = L;
    int rc = dm_backward_ex(t, g, retain, g_size > 1 ? &h : NULL);
    lb_walk_L = prev;
    char msg[512] = "";
    if (rc != 0) snprintf(msg, sizeof msg, "%s", dm_errmsg());
    if (g_size > 1) {
        /* the rest: slots no gradient reached (their .grad, or zeros), then wait for all;
           done even after a failed walk, so the other ranks are not left waiting */
        for (int i = 0; i < nr && c.mpi_rc == MPI_SUCCESS; i++) {
            reducer *r = rs[i];
            for (int k = 0; k < r->nb; k++)
                for (int j = 0; j < r->b[k].nslots; j++)
                    if (!r->b[k].slots[j].seen && fill_slot(&r->b[k], &r->b[k].slots[j]) != 0
                        && !msg[0])
                        snprintf(msg, sizeof msg, "%s", dm_errmsg());
            int mrc = start_ready(r);
            if (mrc == MPI_SUCCESS) mrc = progress(r, 1);
            if (mrc != MPI_SUCCESS) c.mpi_rc = mrc;
        }
        if (c.mpi_rc != MPI_SUCCESS) { g_broken = 1; return mpi_fail(L, fn, c.mpi_rc); }
        /* every gradient takes its bucket's values (those without one: the Lua side) */
        for (int i = 0; i < nr; i++) {
            reducer *r = rs[i];
            for (int k = 0; k < r->nb; k++) {
                rbucket *b = &r->b[k];
                size_t es = dm_dtype_size(b->dt);
                for (int j = 0; j < b->nslots; j++) {
                    rslot *s = &b->slots[j];
                    dm_tensor *gr = s->p->grad;
                    if (!gr) continue;
                    if (gr->dtype == b->dt && dm_is_contiguous(gr)) {
                        memcpy(dm_data_ptr(gr), b->data + s->off * (int64_t)es, (size_t)s->n * es);
                    } else {
                        dm_tensor *v = slot_view(b, s);
                        if ((!v || dm_copy_(gr, v) != 0) && !msg[0])
                            snprintf(msg, sizeof msg, "%s", dm_errmsg());
                        dm_tensor_release(v);
                    }
                }
            }
        }
    }
    if (msg[0]) return luaL_error(L, "backward: %s", msg);
    return 0;
}

/* Slots of at least this many elements are averaged in place in their own .grad (a
   collective each, nothing copied); a run of smaller neighbours shares one collective on
   their bucket.  The choice depends on the sizes alone, so every rank issues the same
   sequence of collectives. */
#define DIRECT_MIN 16384

/* the slot's average from the bucket into its .grad (none: the Lua side clones the view) */
static int copy_out(rbucket *b, rslot *s)
{
    dm_tensor *gr = s->p->grad;
    if (!gr) return 0;
    size_t es = dm_dtype_size(b->dt);
    if (gr->dtype == b->dt && dm_is_contiguous(gr)) {
        memcpy(dm_data_ptr(gr), b->data + s->off * (int64_t)es, (size_t)s->n * es);
        return 0;
    }
    dm_tensor *v = slot_view(b, s);
    int rc = v ? dm_copy_(gr, v) : -1;
    dm_tensor_release(v);
    return rc;
}

/* ddp_sync(reducer): the gradient average after the walk, in one call.  A large slot whose
   .grad is contiguous is averaged in place there; other large slots, and each run of small
   ones, go through their bucket (copied in, averaged, copied back).  Every rank ends with
   the same bytes (see reduce_allgather). */
static int d_ddp_sync(lua_State *L)
{
    const char *fn = "DistributedDataParallel";
    need_group(L, fn);
    reducer *r = luaL_checkudata(L, 1, LB_REDUCER);
    if (g_size < 2) return 0;
    char msg[512] = "";
#define KEEP_FIRST_ERROR(x) do { if ((x) != 0 && !msg[0]) snprintf(msg, sizeof msg, "%s", dm_errmsg()); } while (0)
    /* the collectives run even after a failed copy, so the other ranks are not left waiting */
    for (int k = 0; k < r->nb; k++) {
        rbucket *b = &r->b[k];
        size_t es = dm_dtype_size(b->dt);
        b->ready = 0;
        for (int j = 0; j < b->nslots;) {
            rslot *s = &b->slots[j];
            int rc;
            if (s->n >= DIRECT_MIN) {
                dm_tensor *gr = s->p->grad;
                if (gr && gr->dtype == b->dt && dm_is_contiguous(gr)) {
                    rc = reduce_allgather(dm_data_ptr(gr), s->n, b->dt, MPI_SUM, 1);
                } else {
                    KEEP_FIRST_ERROR(fill_slot(b, s));
                    rc = reduce_allgather(b->data + s->off * (int64_t)es, s->n, b->dt, MPI_SUM, 1);
                    if (rc == MPI_SUCCESS) KEEP_FIRST_ERROR(copy_out(b, s));
                }
                j++;
            } else {
                int e = j;
                while (e < b->nslots && b->slots[e].n < DIRECT_MIN) KEEP_FIRST_ERROR(fill_slot(b, &b->slots[e++]));
                rslot *last = &b->slots[e - 1];
                rc = reduce_allgather(b->data + s->off * (int64_t)es, last->off + last->n - s->off, b->dt,
                                      MPI_SUM, 1);
                for (; rc == MPI_SUCCESS && j < e; j++) KEEP_FIRST_ERROR(copy_out(b, &b->slots[j]));
                j = e;
            }
            if (rc != MPI_SUCCESS) { g_broken = 1; return mpi_fail(L, fn, rc); }
        }
    }
#undef KEEP_FIRST_ERROR
    if (msg[0]) return luaL_error(L, "%s: %s", fn, msg);
    return 0;
}

static const luaL_Reg dist_fns[] = {
    { "reducer", d_reducer }, { "ddp_backward", d_ddp_backward }, { "ddp_sync", d_ddp_sync },
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
