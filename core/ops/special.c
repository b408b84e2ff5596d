/* ops/special.c -- logit with PyTorch's eps: x clamped to [eps, 1 - eps] (in x's type, as
 * PyTorch's kernel computes the bounds), then the logit op, so the gradient is 0 outside the
 * range (the clamp's rule) and 1 / (x (1 - x)) inside (LogitBackward0).  The one-input special
 * functions themselves (lgamma, digamma, erfinv, logit, sinc) are unary ops
 * (ops/elementwise.c, backend/specfun.h); the predicates isposinf, isneginf and signbit are
 * dm_isclass kinds (ops/reduce_multi.c). */
#include "internal.h"
#include <math.h>

dm_tensor *dm_logit(const dm_tensor *x, double eps)
{
    if (!x) { dm_seterr("logit: expected a tensor, got NULL"); return NULL; }
    if (isnan(eps)) return dm_unary(DM_UN_LOGIT, x);
    dm_tensor *fx = dm_is_floating(x->dtype) ? dm_tensor_retain((dm_tensor *)x)
                                             : dm_to_dtype(x, DM_FLOAT32);
    if (!fx) return NULL;
    double lo = eps, hi = 1 - eps;
    if (fx->dtype == DM_FLOAT32) {
        lo = (float)eps;
        hi = 1.0f - (float)eps;
    }
    dm_tensor *c = dm_clamp(fx, lo, hi);
    dm_tensor *out = c ? dm_unary(DM_UN_LOGIT, c) : NULL;
    dm_tensor_release(c);
    dm_tensor_release(fx);
    return out;
}
