/* rnn.c -- rnn_layer(mode, reverse, x, steps, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr): one
 * recurrent layer in one direction over a whole sequence (core/ops/rnn.c), the op nn.RNN,
 * nn.LSTM and nn.GRU stack.  mode "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"; x [N x I]
 * time-major rows; steps the step count T (every step B = h0's rows) or the list of batch
 * sizes (a PackedSequence's); c0, b_ih, b_hh and w_hr may be nil.  Returns out [N x Hout],
 * h_n [B x Hout] and, for an LSTM, c_n [B x H]: views of the op's one output. */
#include "binding.h"
#include <string.h>
#include <stdlib.h>

#define MAX_STEPS ((lua_Integer)1 << 40)

/* a view [d0 x d1] of y's elements [start, start + d0 * d1) */
static dm_tensor *part(const dm_tensor *y, int64_t start, int64_t d0, int64_t d1)
{
    dm_tensor *nt = dm_narrow(y, 0, start, d0 * d1);
    if (!nt) return NULL;
    dm_tensor *v = dm_view(nt, 2, (int64_t[]){ d0, d1 });
    dm_tensor_release(nt);
    return v;
}

static int o_rnn_layer(lua_State *L)
{
    static const char *const modes[] = { "RNN_TANH", "RNN_RELU", "LSTM", "GRU", NULL };
    int mode = luaL_checkoption(L, 1, NULL, modes);
    int reverse = lua_toboolean(L, 2);
    dm_tensor *x = lb_check(L, 3);
    dm_tensor *h0 = lb_check(L, 5), *c0 = lb_opt(L, 6), *wih = lb_check(L, 7);
    dm_tensor *whh = lb_check(L, 8), *bih = lb_opt(L, 9), *bhh = lb_opt(L, 10);
    dm_tensor *whr = lb_opt(L, 11);
    int64_t nsteps, *bs = NULL;
    if (lua_type(L, 4) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 4);
        if (n < 1 || n > MAX_STEPS)
            return luaL_error(L, "rnn_layer: batch_sizes must list 1 to 2^40 steps, got %I", n);
        bs = malloc((size_t)n * sizeof *bs);
        if (!bs) return luaL_error(L, "rnn_layer: out of memory");
        for (lua_Integer i = 1; i <= n; i++) {
            int ok;
            lua_rawgeti(L, 4, i);
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok) {
                free(bs);
                return luaL_error(L, "rnn_layer: batch_sizes must be a list of integers, bad "
                                     "entry at position %I", i);
            }
            bs[i - 1] = (int64_t)v;
        }
        nsteps = (int64_t)n;
    } else if (lua_isinteger(L, 4)) {
        lua_Integer v = lua_tointeger(L, 4);
        if (v < 1 || v > MAX_STEPS)
            return luaL_error(L, "rnn_layer: steps must be at least 1, got %I", v);
        nsteps = (int64_t)v;
    } else {
        return luaL_error(L, "rnn_layer: argument 'steps' must be an integer or a list of batch "
                             "sizes, got %s", luaL_typename(L, 4));
    }
    int top = lua_gettop(L);
    dm_tensor **yb = lb_newbox(L);
    *yb = dm_rnn_layer(mode, reverse, x, nsteps, bs, h0, c0, wih, whh, bih, bhh, whr);
    free(bs);
    lb_done(L, yb);
    dm_tensor *y = *yb;
    int64_t B = h0->shape[0], Ho = h0->shape[1], N = x->shape[0];
    int64_t H = wih->shape[0] / (mode == DM_RNN_LSTM ? 4 : mode == DM_RNN_GRU ? 3 : 1);
    dm_tensor **o = lb_newbox(L);
    *o = part(y, 0, N, Ho);
    lb_done(L, o);
    dm_tensor **hn = lb_newbox(L);
    *hn = part(y, N * Ho, B, Ho);
    lb_done(L, hn);
    if (mode == DM_RNN_LSTM) {
        dm_tensor **cn = lb_newbox(L);
        *cn = part(y, N * Ho + B * Ho, B, H);
        lb_done(L, cn);
    }
    lua_remove(L, top + 1);          /* the flat output lives on in the views */
    return mode == DM_RNN_LSTM ? 3 : 2;
}

void lb_open_rnn(lua_State *L, int methods, int module)
{
    (void)methods;
    lua_pushcfunction(L, o_rnn_layer);
    lua_setfield(L, module, "rnn_layer");
}
