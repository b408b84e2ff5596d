/* test_threads.c -- several threads, several Lua states, and the C API's default generator
 * at the same time.
 *
 * Each Lua state has its own module state and default generator, so a script that seeds with
 * dm.manual_seed(k) and trains a small model gives, bit for bit, what it gives when run
 * alone, whatever the other states in other threads do meanwhile.  The C API's default
 * generator is thread-local: a thread that seeds it draws the stream of a fresh generator of
 * that seed.  `make test-tsan` runs this under ThreadSanitizer (any report fails it).
 *
 * The harness's counters are not thread-safe: threads record what they saw and the main
 * thread checks it after joining them. */
#include "deepmoon_lua.h"
#include "testutil.h"
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>

#define NLUA 4          /* Lua threads, one state each */
#define NC 4            /* C-API threads */
#define NDRAW 2000      /* draws per C-API thread */

/* trains a small model from seed k (the default generator makes its weights, its data and
   its dropout masks) and returns the final loss, a weight and one more draw */
static const char *const script =
    "local k = ...\n"
    "local dm = require 'deepmoon'\n"
    "local nn, optim = dm.nn, dm.optim\n"
    "dm.manual_seed(k)\n"
    "local model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))\n"
    "local x = dm.randn(32, 4)\n"
    "local y = (x:sum(2, true) * 0.5):sin()\n"
    "local opt = optim.Adam(model:parameters(), {lr = 0.01})\n"
    "local loss_fn = nn.MSELoss()\n"
    "local loss\n"
    "for _ = 1, 40 do\n"
    "  opt:zero_grad()\n"
    "  loss = loss_fn(model(x), y)\n"
    "  loss:backward()\n"
    "  opt:step()\n"
    "end\n"
    "return loss:item(), model:parameters()[1]:sum():item(), dm.rand(1):item()\n";

#define NOUT 3

typedef struct {
    int seed, rounds;
    double out[NOUT];           /* of the last round */
    int same_each_round;        /* every round gave the first round's values */
    char err[256];              /* a Lua error, or "" */
} lua_job;

/* run the script once in L with seed k; 0, or -1 with err filled */
static int run_script(lua_State *L, int k, double *out, char *err, size_t errlen)
{
    if (luaL_loadstring(L, script) != LUA_OK) goto fail;
    lua_pushinteger(L, k);
    if (lua_pcall(L, 1, NOUT, 0) != LUA_OK) goto fail;
    for (int i = 0; i < NOUT; i++) out[i] = lua_tonumber(L, i - NOUT);
    lua_pop(L, NOUT);
    return 0;
fail:
    snprintf(err, errlen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return -1;
}

/* run code in L (errors are the test's: they show as wrong values), returning the number at
   the top of the stack if the code returned one */
static double eval(lua_State *L, const char *code)
{
    double v = 0;
    if (luaL_dostring(L, code) != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
    else if (lua_gettop(L) > 0) v = lua_tonumber(L, -1);
    lua_settop(L, 0);
    return v;
}

static lua_State *open_state(void)
{
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    luaL_openlibs(L);
    luaL_requiref(L, "deepmoon", luaopen_deepmoon, 0);
    lua_pop(L, 1);
    return L;
}

static void *lua_thread(void *arg)
{
    lua_job *j = arg;
    lua_State *L = open_state();
    if (!L) { snprintf(j->err, sizeof j->err, "luaL_newstate failed"); return NULL; }
    j->same_each_round = 1;
    double first[NOUT];
    for (int r = 0; r < j->rounds; r++) {
        if (run_script(L, j->seed, j->out, j->err, sizeof j->err) != 0) break;
        if (r == 0) memcpy(first, j->out, sizeof first);
        else if (memcmp(first, j->out, sizeof first) != 0) j->same_each_round = 0;
    }
    lua_close(L);
    return NULL;
}

typedef struct {
    uint64_t seed;
    double draws[NDRAW];
    float fill[64];             /* dm_uniform_ with g = NULL (the default generator) */
    dm_rng *def;                /* this thread's dm_default_rng() (its address may be reused
                                   by a later thread once this one has exited) */
} c_job;

static void *c_thread(void *arg)
{
    c_job *j = arg;
    j->def = dm_default_rng();
    dm_rng_seed(j->def, j->seed);
    for (int i = 0; i < NDRAW; i++) j->draws[i] = dm_rng_uniform(dm_default_rng());
    dm_tensor *t = dm_tensor_new(1, (int64_t[]){ 64 });
    if (t && dm_uniform_(t, 0, 1, NULL) == 0) memcpy(j->fill, dm_data(t), sizeof j->fill);
    dm_tensor_release(t);
    return NULL;
}

int main(void)
{
    int64_t live0 = dm_live_bytes();

    /* the expected values: each seed's script alone, one state after another */
    double want[NLUA][NOUT];
    for (int k = 0; k < NLUA; k++) {
        char err[256] = "";
        lua_State *L = open_state();
        CHECK(L != NULL, "a Lua state opens");
        if (!L) return TEST_END("test_threads");
        CHECKF(run_script(L, k + 1, want[k], err, sizeof err) == 0, "seed %d alone: %s",
               k + 1, err);
        lua_close(L);
    }
    CHECK(memcmp(want[0], want[1], sizeof want[0]) != 0, "different seeds train differently");

    /* two states in one thread: seeding one leaves the other's stream where it was */
    {
        lua_State *A = open_state(), *B = open_state();
        const char *draw = "return require('deepmoon').rand(1):item()";
        eval(A, "require('deepmoon').manual_seed(5)");
        double a1 = eval(A, draw);
        eval(B, "require('deepmoon').manual_seed(6)");
        double b1 = eval(B, draw);
        double a2 = eval(A, draw);
        lua_close(B);
        eval(A, "require('deepmoon').manual_seed(5)");
        double ref1 = eval(A, draw), ref2 = eval(A, draw);
        CHECK(a1 == ref1 && a2 == ref2, "manual_seed in one state does not move another's stream");
        CHECK(a1 != b1, "two seeds, two streams");
        /* a new state starts from seed 0, whatever the others did */
        lua_State *C = open_state();
        CHECK(eval(C, "return require('deepmoon').initial_seed()") == 0,
              "a new state's default generator is seeded with 0");
        lua_close(C);
        lua_close(A);
    }

    /* the C API's expected streams, from explicit generators */
    static c_job cj[NC];
    static double cwant[NC][NDRAW];
    for (int k = 0; k < NC; k++) {
        cj[k].seed = 100 + (uint64_t)k;
        dm_rng *g = dm_rng_new(cj[k].seed);
        for (int i = 0; i < NDRAW; i++) cwant[k][i] = dm_rng_uniform(g);
        dm_rng_free(g);
    }

    dm_rng_seed(dm_default_rng(), 7);

    /* everything at once: NLUA states training, NC threads drawing from their default */
    lua_job lj[NLUA];
    pthread_t lt[NLUA], ct[NC];
    for (int k = 0; k < NLUA; k++) {
        lj[k] = (lua_job){ .seed = k + 1, .rounds = 2 };
        CHECK(pthread_create(&lt[k], NULL, lua_thread, &lj[k]) == 0, "pthread_create (Lua)");
    }
    for (int k = 0; k < NC; k++)
        CHECK(pthread_create(&ct[k], NULL, c_thread, &cj[k]) == 0, "pthread_create (C)");
    for (int k = 0; k < NLUA; k++) pthread_join(lt[k], NULL);
    for (int k = 0; k < NC; k++) pthread_join(ct[k], NULL);

    for (int k = 0; k < NLUA; k++) {
        CHECKF(lj[k].err[0] == 0, "Lua thread %d: %s", k, lj[k].err);
        CHECKF(memcmp(lj[k].out, want[k], sizeof want[k]) == 0,
               "Lua thread %d (seed %d) reproduces its run alone: loss %.9g, want %.9g", k,
               lj[k].seed, lj[k].out[0], want[k][0]);
        CHECKF(lj[k].same_each_round, "Lua thread %d: manual_seed repeats the run", k);
    }
    for (int k = 0; k < NC; k++) {
        CHECKF(memcmp(cj[k].draws, cwant[k], sizeof cwant[k]) == 0,
               "C thread %d: its default generator's stream is its seed's", k);
        int fill_ok = 1;
        for (int i = 0; i < 64; i++) fill_ok &= cj[k].fill[i] >= 0 && cj[k].fill[i] < 1;
        CHECKF(fill_ok, "C thread %d: dm_uniform_ with the default generator", k);
        CHECKF(cj[k].def != dm_default_rng(), "C thread %d has its own default generator", k);
    }
    {
        dm_rng *g = dm_rng_new(7);
        CHECK(dm_rng_uniform(dm_default_rng()) == dm_rng_uniform(g),
              "the main thread's default stream did not move while the threads drew");
        dm_rng_free(g);
    }

    dm_empty_cache();
    CHECK(dm_live_bytes() == live0, "live bytes back to the start");
    return TEST_END("test_threads");
}
