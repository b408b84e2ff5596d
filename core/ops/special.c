/* ops/special.c -- logit with PyTorch's eps: the logit of x clamped to [eps, 1 - eps] (the
 * bounds in x's type, as PyTorch's kernel computes them), recorded as one LogitBackward0 node
 * on x itself whose rule is logit's, 1 / (x (1 - x)), with 0 where x is outside the range
 * and where x is NaN (PyTorch 1.13's vectorised logit_backward gives 0 there; its scalar
 * loop, which only takes the last elements of a row that do not fill a vector, NaN): the
 * unary backward (ops/elementwise.c) passes logit's gradient through clamp's backward
 * kernel.  The one-input special functions themselves (lgamma, digamma, erfinv, logit,
 * sinc) are unary ops (ops/elementwise.c, backend/specfun.h); the predicates isposinf,
 * isneginf and signbit are dm_isclass kinds (ops/reduce_multi.c). */
#include "internal.h"
#include <math.h>

dm_tensor *dm_logit(const dm_tensor *x, double eps)
{
    if (!x) { dm_seterr("logit: expected a tensor, got NULL"); return NULL; }
    if (isnan(eps)) return dm_unary(DM_UN_LOGIT, x);
    if (!dm_is_floating(x->dtype)) {               /* integers and bool: float32 first */
        dm_tensor *fx = dm_to_dtype(x, DM_FLOAT32);
        dm_tensor *out = fx ? dm_logit(fx, eps) : NULL;
        dm_tensor_release(fx);
        return out;
    }
    double lo = eps, hi = 1 - eps;
    if (x->dtype == DM_FLOAT32) {
        lo = (float)eps;
        hi = 1.0f - (float)eps;
    }
    int prev = dm_set_grad_enabled(0);
    dm_tensor *c = dm_clamp(x, lo, hi);
    dm_tensor *out = c ? dm_unary(DM_UN_LOGIT, c) : NULL;
    dm_set_grad_enabled(prev);
    dm_tensor_release(c);
    if (out && dm__needs_grad(1, &x)) {
        dm_node *nd = dm__record(DM_OP_UNARY, DM_UN_LOGIT, out, 1, &x);
        if (!nd) {
            dm_tensor_release(out);
            return NULL;
        }
        nd->par.logit.lo = lo;
        nd->par.logit.hi = hi;
        nd->par.logit.has_eps = 1;
    }
    return out;
}
