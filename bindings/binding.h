/* binding.h -- shared by the files of the Lua module deepmoon.core.
 *
 * A Lua Tensor is a full userdata holding exactly one reference (dm_tensor *), NULL once
 * released.  The box is created before the C object so that a Lua memory error cannot leak
 * it: `dm_tensor **slot = lb_newbox(L); *slot = dm_op(...); lb_done(L, slot);`.
 * Dims and indices arrive 1-based from Lua and are converted here, never in the core. */
#ifndef DM_BINDING_H
#define DM_BINDING_H

#include "../core/deepmoon.h"
#include <lua.h>
#include <lauxlib.h>

#define LB_TENSOR "deepmoon.Tensor"
#define LB_GENERATOR "deepmoon.Generator"

/* ---- tensors ---------------------------------------------------------------------- */
dm_tensor **lb_newbox(lua_State *L);              /* pushes an empty Tensor box */
/* the device the next lb_newbox makes current ({device = ...} of a constructor), -1: cpu */
#if defined(__GNUC__) && defined(__ELF__)
#define DM_LB_TLS _Thread_local __attribute__((tls_model("initial-exec")))   /* a plain load */
#else
#define DM_LB_TLS _Thread_local
#endif
extern DM_LB_TLS int lb_next_device;
dm_tensor *lb_check(lua_State *L, int idx);   /* a live Tensor (any dtype), or raise */
dm_tensor **lb_checkbox(lua_State *L, int idx);   /* a Tensor box (maybe released), or raise */
dm_tensor *lb_totensor(lua_State *L, int idx);   /* a live Tensor, NULL if not one */
dm_tensor *lb_opt(lua_State *L, int idx);        /* nil/none -> NULL, else lb_check */
int lb_is_tensor(lua_State *L, int idx);
/* after *slot = op(...), slot from lb_newbox: raise the core's message if *slot is NULL,
   else report the new bytes to the collector; returns 1 (the box is on the stack) */
int lb_done(lua_State *L, dm_tensor **slot);
/* push a new reference as a new box (used where the box-first order is not possible,
   e.g. several outputs); raises on NULL */
int lb_push(lua_State *L, dm_tensor *t);
/* t.grad for the box at idx holding t: the same box while the grad tensor is unchanged
   (cached in a weak-keyed registry table); pushes nil when there is none */
void lb_grad_box(lua_State *L, int idx, dm_tensor *t);
void lb_grad_forget(lua_State *L, int idx);       /* drop that cache (grad cleared) */
void lb_grad_set(lua_State *L, int idx, int gidx); /* cache the box at gidx (grad assigned) */
/* tell the collector about bytes the core allocated outside Lua's heap */
void lb_account(lua_State *L, int64_t bytes);
/* lb_newbox, lb_done and lb_account find the Lua state's module state through the running C
   function's first upvalue (module.c): call them from this module's own C functions only.
   A host's C function (upvalues unknown) pushes a box of t (retained) with lb_push_foreign. */
void lb_push_foreign(lua_State *L, dm_tensor *t);
/* fns as Tensor methods (the table at index methods) and as dm.<name> (at module): the
   same functions under both names (module.c) */
void lb_setfuncs_both(lua_State *L, int methods, int module, const luaL_Reg *fns);

/* ---- arguments ---------------------------------------------------------------------- */
/* Lua dim (1-based, negative from the end, 0 invalid) -> core dim (0-based or negative) */
int lb_dim(lua_State *L, int idx, const char *fn);
int lb_optdim(lua_State *L, int idx, const char *fn, int def);
/* sizes given as varargs from idx or as one table at idx; returns ndim */
int lb_sizes(lua_State *L, int idx, int64_t *shape, const char *fn);
/* the options table at idx (or none): field accessors; unknown keys raise via lb_opts_check */
int lb_opts_check(lua_State *L, int idx, const char *fn, const char *const *known);
dm_rng *lb_generator(lua_State *L, int opts_idx);     /* {generator = g} or the default */
dm_rng *lb_check_generator(lua_State *L, int idx);
/* this Lua state's default generator (each state has its own, seeded with 0 when the module
   opens: dm.manual_seed in one state never moves another's stream) */
dm_rng *lb_default_rng(lua_State *L);

/* the dims and keepdim of a reduction (reduce_args.c): arguments from idx are
   [dim | {dims}] [nmid arguments the caller reads] [keepdim] [options table]; the options
   table (dim=, keepdim=, and the caller's extra names) may stand anywhere after self as the
   last argument.  A name given both ways raises "fn: dim given twice". */
#define LB_RA_MULTI 1      /* a list of dims is allowed */
#define LB_RA_NOKEEP 2     /* no keepdim (softmax) */
typedef struct {
    int n;                 /* dims given (-1: none; 0: an empty list, i.e. all) */
    int dims[DM_MAX_DIMS]; /* core dims (0-based, or negative from the end) */
    int keepdim;
    int opts;              /* stack index of the options table, 0 when none */
} lb_rargs;
void lb_reduce_args(lua_State *L, int idx, const char *fn, int flags, int nmid,
                    const char *const *extra, lb_rargs *a);

/* ---- dtypes (dtype.c) ---------------------------------------------------------------- */
/* Every op takes tensors of any dtype (lb_check): the core checks dtypes and says how
   to convert. */
void lb_push_dtype(lua_State *L, dm_dtype dt);
dm_dtype lb_check_dtype(lua_State *L, int idx);
int lb_opt_dtype(lua_State *L, int opts, dm_dtype def);    /* {dtype = ...} of the table at opts */
dm_dtype lb_default_dtype(lua_State *L);
void lb_push_value(lua_State *L, const dm_tensor *t, const int64_t *idx);  /* by dtype */
void lb_set_value(lua_State *L, dm_tensor *t, const int64_t *at, int vidx);

/* ---- registration (each file registers its functions) ------------------------------ */
void lb_open_tensor(lua_State *L, int methods, int module);
void lb_open_random(lua_State *L, int methods, int module);
void lb_open_nn(lua_State *L, int methods, int module);
void lb_open_io(lua_State *L, int methods, int module);
void lb_open_idx(lua_State *L, int methods, int module);
void lb_open_init(lua_State *L, int methods, int module);
void lb_open_dtype(lua_State *L, int methods, int module);
void lb_open_model(lua_State *L, int methods, int module);
void lb_open_ops_reduce(lua_State *L, int methods, int module);
void lb_open_ops_index(lua_State *L, int methods, int module);
void lb_open_ops_shape(lua_State *L, int methods, int module);
void lb_open_pad(lua_State *L, int methods, int module);
void lb_open_upsample(lua_State *L, int methods, int module);
void lb_open_conv(lua_State *L, int methods, int module);
void lb_open_pool(lua_State *L, int methods, int module);
void lb_open_index(lua_State *L, int methods, int module);
/* t[key] and t[key] = v for a key that is not a string (index.c): Tensor at 1, key at 2
   (value at 3); lb_index_get pushes the result */
int lb_index_get(lua_State *L);
int lb_index_set(lua_State *L);
void lb_open_pt(lua_State *L, int methods, int module);
void lb_open_autograd(lua_State *L, int methods, int module);
void lb_open_embedding(lua_State *L, int methods, int module);
void lb_open_rnn(lua_State *L, int methods, int module);
/* the Lua state a backward walk runs in (set by the functions that start one, for the hooks
   and custom nodes written in Lua that it calls: bindings/autograd.c) */
extern DM_LB_TLS lua_State *lb_walk_L;
/* core._dist: the MPI layer of deepmoon.distributed (dist.c; stubs without MPI) */
void lb_open_dist(lua_State *L, int methods, int module);
/* atan2, hypot, xlogy, logaddexp(2), copysign, fmax, fmin, heaviside (bmath.c) */
void lb_open_bmath(lua_State *L, int methods, int module);

#endif
