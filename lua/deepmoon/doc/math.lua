--- Elementwise math, comparisons and linear algebra (written in C: bindings/tensor.c,
-- ops_*.c).  Each is a Tensor method and a dm function: `x:add(y)` is `dm.add(x, y)`.
-- Binary ops broadcast as PyTorch's and promote dtypes (dm.promote_types); a Lua number
-- on either side is a scalar.  The operators `+ - * / % ^ //`, unary `-`, `&`, `|`, `~`
-- call them too.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module math

--- self + alpha * other.
-- @function Tensor:add
-- @param other Tensor or number
-- @number[opt=1] alpha (also {alpha =})
-- @usage x:add(y)   -- x + y
-- @usage dm.add(x, y, {alpha = 2})

--- self - alpha * other.
-- @function Tensor:sub
-- @param other Tensor or number
-- @number[opt=1] alpha
-- @usage x:sub(1)   -- x - 1

--- self * other, elementwise.
-- @function Tensor:mul
-- @param other Tensor or number
-- @usage x:mul(2)   -- x * 2

--- self / other (true division: integer inputs give a float result).
-- @function Tensor:div
-- @param other Tensor or number
-- @tparam[opt] table opts `{rounding_mode = "trunc" | "floor"}`
-- @usage x:div(y)

--- self raised to exponent, elementwise.
-- @function Tensor:pow
-- @param exponent Tensor or number
-- @usage x:pow(2)   -- x ^ 2

--- Division rounded toward minus infinity (Lua's `//`).
-- @function Tensor:floor_divide
-- @param other Tensor or number
-- @usage x:floor_divide(2)

--- Remainder with the sign of the divisor (Python's `%`, Lua's `%`).
-- @function Tensor:remainder
-- @param other Tensor or number
-- @usage x:remainder(3)

--- Remainder with the sign of the dividend (C's fmod).
-- @function Tensor:fmod
-- @param other Tensor or number
-- @usage x:fmod(3)

--- -self.
-- @function Tensor:neg
-- @usage x:neg()   -- -x

--- |self|.
-- @function Tensor:abs
-- @usage x:abs()

--- e^self.
-- @function Tensor:exp
-- @usage x:exp()

--- Natural logarithm.
-- @function Tensor:log
-- @usage x:log()

--- log(1 + self), accurate near 0.
-- @function Tensor:log1p
-- @usage x:log1p()

--- Square root.
-- @function Tensor:sqrt
-- @usage x:sqrt()

--- self * self.
-- @function Tensor:square
-- @usage x:square()

--- 1 / self.
-- @function Tensor:reciprocal
-- @usage x:reciprocal()

--- Sine.
-- @function Tensor:sin
-- @usage x:sin()

--- Cosine.
-- @function Tensor:cos
-- @usage x:cos()

--- -1, 0 or 1 by the sign.
-- @function Tensor:sign
-- @usage x:sign()

--- Round down.
-- @function Tensor:floor
-- @usage x:floor()

--- Round up.
-- @function Tensor:ceil
-- @usage x:ceil()

--- Round half to even (PyTorch's round); opts.decimals rounds to that many decimals.
-- @function Tensor:round
-- @tparam[opt] table opts `{decimals = 0}`
-- @usage x:round()

--- Clamp every value into [min, max]; nil leaves that side open.
-- @function Tensor:clamp
-- @param[opt] min number or Tensor
-- @param[opt] max number or Tensor
-- @usage x:clamp(0, 1)
-- @usage x:clamp({min = 0})

--- NaN, +inf and -inf replaced by nan (default 0), posinf and neginf (default the dtype's
-- largest and lowest finite values).
-- @function Tensor:nan_to_num
-- @number[opt=0] nan
-- @number[opt] posinf
-- @number[opt] neginf
-- @usage x:nan_to_num(0)

--- The larger of self and other, elementwise (NaN propagates).
-- @function Tensor:maximum
-- @tparam Tensor other
-- @usage a:maximum(b)

--- The smaller of self and other, elementwise.
-- @function Tensor:minimum
-- @tparam Tensor other
-- @usage a:minimum(b)

--- self == other, elementwise (a bool tensor).
-- @function Tensor:eq
-- @param other Tensor or number
-- @usage x:eq(0)

--- self ~= other, elementwise (bool).
-- @function Tensor:ne
-- @param other Tensor or number
-- @usage x:ne(0)

--- self < other (bool).
-- @function Tensor:lt
-- @param other Tensor or number
-- @usage x:lt(0)

--- self <= other (bool).
-- @function Tensor:le
-- @param other Tensor or number
-- @usage x:le(1)

--- self > other (bool).
-- @function Tensor:gt
-- @param other Tensor or number
-- @usage x:gt(0.5):float()

--- self >= other (bool).
-- @function Tensor:ge
-- @param other Tensor or number
-- @usage x:ge(0)

--- Is each value NaN? (bool)
-- @function Tensor:isnan
-- @usage x:isnan():any()

--- Is each value +inf or -inf? (bool)
-- @function Tensor:isinf
-- @usage x:isinf()

--- Is each value finite? (bool)
-- @function Tensor:isfinite
-- @usage x:isfinite():all()

--- Logical and of the truth values (bool result).
-- @function Tensor:logical_and
-- @tparam Tensor other
-- @usage a:logical_and(b)

--- Logical or (bool).
-- @function Tensor:logical_or
-- @tparam Tensor other
-- @usage a:logical_or(b)

--- Logical exclusive or (bool).
-- @function Tensor:logical_xor
-- @tparam Tensor other
-- @usage a:logical_xor(b)

--- Logical not (bool).
-- @function Tensor:logical_not
-- @usage mask:logical_not()

--- Bitwise and of integer or bool tensors (the `&` operator).
-- @function Tensor:bitwise_and
-- @param other Tensor or integer
-- @usage a:bitwise_and(b)   -- a & b

--- Bitwise or (`|`).
-- @function Tensor:bitwise_or
-- @param other Tensor or integer
-- @usage a:bitwise_or(b)

--- Bitwise exclusive or (binary `~`).
-- @function Tensor:bitwise_xor
-- @param other Tensor or integer
-- @usage a:bitwise_xor(b)

--- Bitwise not (unary `~`; logical not for bool).
-- @function Tensor:bitwise_not
-- @usage a:bitwise_not()

--- Elements of x where cond is true, else of y (broadcast); with only cond, the 1-based
-- positions of its nonzero elements, one tensor per dim.
-- @function dm.where
-- @tparam Tensor cond
-- @param[opt] x Tensor or number
-- @param[opt] y Tensor or number
-- @usage dm.where(x:gt(0), x, 0)

--- The dtype PyTorch's type promotion gives two dtypes (bool < uint8 < int64 < float32 <
-- float64).
-- @function dm.promote_types
-- @param a dtype
-- @param b dtype
-- @usage dm.promote_types(dm.int64, dm.float32)   -- float32

--- Matrix product with PyTorch's rules: vector-vector (dot), matrix-vector, matrix-matrix,
-- and batched with broadcast batch dims.
-- @function Tensor:matmul
-- @tparam Tensor other
-- @usage a:matmul(b)   -- [n x k] @ [k x m] -> [n x m]

--- Product of two matrices, [n x k] @ [k x m] -> [n x m].
-- @function Tensor:mm
-- @tparam Tensor other
-- @usage a:mm(b)

--- Batched matrix product, [B x n x k] @ [B x k x m] -> [B x n x m].
-- @function Tensor:bmm
-- @tparam Tensor other
-- @usage a:bmm(b)

--- beta * self + alpha * (m1 @ m2).
-- @function Tensor:addmm
-- @tparam Tensor m1
-- @tparam Tensor m2
-- @tparam[opt] table opts `{beta = 1, alpha = 1}`
-- @usage bias:addmm(x, w:t())

--- beta * self + alpha * (b1 @ b2) batched.
-- @function Tensor:baddbmm
-- @tparam Tensor b1
-- @tparam Tensor b2
-- @tparam[opt] table opts `{beta = 1, alpha = 1}`
-- @usage c:baddbmm(a, b)

--- Outer product of two vectors, [n] x [m] -> [n x m].
-- @function Tensor:outer
-- @tparam Tensor other
-- @usage u:outer(v)

--- The outer product (PyTorch's older name).
-- @function Tensor:ger
-- @tparam Tensor other
-- @usage u:ger(v)

--- Sum of the main diagonal of a matrix.
-- @function Tensor:trace
-- @usage dm.eye(3):trace()   -- 3

--- A vector's diagonal matrix, or a matrix's diagonal as a vector; diagonal is an offset
-- (0 the main one, > 0 above).
-- @function Tensor:diag
-- @int[opt=0] diagonal
-- @usage dm.tensor({1, 2}):diag()

--- The diagonal (with offset) of the dims dim1 and dim2 (default 1 and 2), as a view.
-- @function Tensor:diagonal
-- @int[opt=0] offset
-- @int[opt=1] dim1
-- @int[opt=2] dim2
-- @usage x:diagonal()

--- The lower triangle (on and below diagonal offset k), zeros elsewhere.
-- @function Tensor:tril
-- @int[opt=0] diagonal
-- @usage x:tril()

--- The upper triangle (on and above diagonal offset k).
-- @function Tensor:triu
-- @int[opt=0] diagonal
-- @usage x:triu(1)

--- Einstein summation, as torch.einsum.
-- @function dm.einsum
-- @string equation e.g. "ij,jk->ik"
-- @param ... the tensors (or one table of them)
-- @usage dm.einsum("ij,jk->ik", a, b)

--- Round toward zero (integer inputs are returned as they are; bool is an error).
-- @function Tensor:trunc
-- @usage dm.tensor({-1.5, 1.5}):trunc()   -- {-1, 1}

--- trunc under its other name.
-- @function Tensor:fix
-- @usage x:fix()

--- The fractional part, self - trunc(self) (floating tensors only, as PyTorch).
-- @function Tensor:frac
-- @usage dm.tensor({-1.25, 2.5}):frac()   -- {-0.25, 0.5}

--- e^self - 1, accurate near 0.
-- @function Tensor:expm1
-- @usage x:expm1()

--- Base-2 logarithm.
-- @function Tensor:log2
-- @usage x:log2()

--- Base-10 logarithm.
-- @function Tensor:log10
-- @usage x:log10()

--- 2^self.
-- @function Tensor:exp2
-- @usage x:exp2()

--- 1 / sqrt(self).
-- @function Tensor:rsqrt
-- @usage x:rsqrt()

--- Tangent.
-- @function Tensor:tan
-- @usage x:tan()

--- Arcsine (NaN outside [-1, 1]).
-- @function Tensor:asin
-- @usage x:asin()

--- Arccosine (NaN outside [-1, 1]).
-- @function Tensor:acos
-- @usage x:acos()

--- Arctangent.
-- @function Tensor:atan
-- @usage x:atan()

--- Hyperbolic sine.
-- @function Tensor:sinh
-- @usage x:sinh()

--- Hyperbolic cosine.
-- @function Tensor:cosh
-- @usage x:cosh()

--- Inverse hyperbolic sine.
-- @function Tensor:asinh
-- @usage x:asinh()

--- Inverse hyperbolic cosine (NaN below 1).
-- @function Tensor:acosh
-- @usage x:acosh()

--- Inverse hyperbolic tangent (NaN outside [-1, 1], infinite at -1 and 1).
-- @function Tensor:atanh
-- @usage x:atanh()

--- The error function.
-- @function Tensor:erf
-- @usage x:erf()

--- The complementary error function, 1 - erf(self), accurate for large self.
-- @function Tensor:erfc
-- @usage x:erfc()

--- Degrees to radians, self * pi / 180.
-- @function Tensor:deg2rad
-- @usage dm.tensor({180}):deg2rad()   -- {3.1416}

--- Radians to degrees, self * 180 / pi.
-- @function Tensor:rad2deg
-- @usage x:rad2deg()

--- sign for real tensors (its grad_fn is SgnBackward0, as PyTorch's).
-- @function Tensor:sgn
-- @usage x:sgn()
--- atan2(self, other): the angle of the point (other, self), elementwise, in (-pi, pi].
-- Broadcasts; integer and bool inputs give float32.  Gradients other / (self^2 + other^2)
-- and -self / (self^2 + other^2).
-- @function Tensor:atan2
-- @param other Tensor or number
-- @usage y:atan2(x)   -- dm.atan2(y, x)

--- sqrt(self^2 + other^2) without overflow, elementwise (floating types only).
-- @function Tensor:hypot
-- @param other Tensor or number
-- @usage a:hypot(b)   -- dm.hypot(a, b)

--- self * log(other), elementwise, 0 where self is 0 (but NaN where other is NaN).
-- Integer and bool inputs give float32.
-- @function Tensor:xlogy
-- @param other Tensor or number
-- @usage p:xlogy(q)   -- dm.xlogy(p, q)

--- log(exp(self) + exp(other)), elementwise, computed without overflow (floating types only).
-- @function Tensor:logaddexp
-- @param other Tensor or number
-- @usage a:logaddexp(b)   -- dm.logaddexp(a, b)

--- log2(2^self + 2^other), elementwise, computed without overflow (floating types only).
-- @function Tensor:logaddexp2
-- @param other Tensor or number
-- @usage a:logaddexp2(b)   -- dm.logaddexp2(a, b)

--- |self| with the sign of other (its sign bit: -0 counts as negative), elementwise.
-- Integer and bool inputs give float32; other gets a zero gradient.
-- @function Tensor:copysign
-- @param other Tensor or number
-- @usage x:copysign(-1)   -- dm.copysign(x, -1)

--- The elementwise maximum ignoring NaN: a NaN operand gives the other one (NaN only when
-- both are).  Integer and bool types are kept.  Ties send the gradient to self.
-- @function Tensor:fmax
-- @param other Tensor or number
-- @usage a:fmax(b)   -- dm.fmax(a, b)

--- The elementwise minimum ignoring NaN: a NaN operand gives the other one (NaN only when
-- both are).  Integer and bool types are kept.  Ties send the gradient to self.
-- @function Tensor:fmin
-- @param other Tensor or number
-- @usage a:fmin(b)   -- dm.fmin(a, b)

--- The Heaviside step: 0 where self < 0, values where self == 0, 1 where self > 0.
-- self and values must have one dtype (a number takes self's); no gradient.
-- @function Tensor:heaviside
-- @param values Tensor or number
-- @usage x:heaviside(0.5)   -- dm.heaviside(x, dm.tensor(0.5))

--- Linear interpolation start + weight * (end - start), elementwise (PyTorch's two formulas:
-- exact at weight 0 and 1).  start, end and a tensor weight broadcast together and must have
-- one floating dtype.  Gradients go to start, end and a tensor weight.
-- @function Tensor:lerp
-- @tparam Tensor end_
-- @param weight Tensor or number
-- @usage a:lerp(b, 0.25)   -- dm.lerp(a, b, w)

--- self ^ exponent computed in float64 (both converted), the result float64.
-- @function Tensor:float_power
-- @param exponent Tensor or number
-- @usage x:float_power(2)   -- dm.float_power(2, x) too

--- In place: self = atan2(self, other) (other broadcast to self's shape; an integer self is
-- an error, as the result is floating).  Returns self.
-- @function Tensor:atan2_
-- @param other Tensor or number
-- @usage y:atan2_(x)

--- In place: self = hypot(self, other).  Returns self.
-- @function Tensor:hypot_
-- @param other Tensor or number
-- @usage a:hypot_(b)

--- In place: self = xlogy(self, other).  Returns self.
-- @function Tensor:xlogy_
-- @param other Tensor or number
-- @usage p:xlogy_(q)

--- In place: self = copysign(self, other).  Returns self.
-- @function Tensor:copysign_
-- @param other Tensor or number
-- @usage x:copysign_(-1)

--- In place: self = heaviside(self, values).  Returns self.
-- @function Tensor:heaviside_
-- @param values Tensor or number
-- @usage x:heaviside_(0.5)

--- In place: self = lerp(self, end_, weight).  Returns self.
-- @function Tensor:lerp_
-- @tparam Tensor end_
-- @param weight Tensor or number
-- @usage a:lerp_(b, 0.1)

--- In place: self = float_power(self, exponent); self must be float64.  Returns self.
-- @function Tensor:float_power_
-- @param exponent Tensor or number
-- @usage x:double():float_power_(2)

--- The logarithm of the absolute value of the gamma function (inf at 0 and the negative
-- integers). Its gradient is digamma(self).
-- @function Tensor:lgamma
-- @usage dm.tensor({0.5, 3}):lgamma()   -- {0.5724, 0.6931}

--- The digamma function, the derivative of lgamma (-inf at 0, +inf at -0, NaN at the
-- negative integers and -inf, as PyTorch 1.13). Its gradient is the trigamma function,
-- PyTorch's polygamma(1, self).
-- @function Tensor:digamma
-- @usage dm.tensor({1}):digamma()   -- {-0.5772}

--- The inverse error function (+-inf at +-1, NaN outside [-1, 1]).
-- @function Tensor:erfinv
-- @usage dm.tensor({0, 0.5}):erfinv()   -- {0, 0.4769}

--- The logit, log(self / (1 - self)), the inverse of sigmoid. With eps (a number; positional
-- or logit({eps = ...})) self is first clamped to [eps, 1 - eps], and the gradient is 0
-- outside that range.
-- @function Tensor:logit
-- @number[opt] eps the clamp's margin (nil: no clamp)
-- @usage dm.tensor({0.25, 1}):logit(1e-6)   -- {-1.0986, 13.8155}

--- The normalized sinc, sin(pi self) / (pi self), 1 at 0.
-- @function Tensor:sinc
-- @usage dm.tensor({0, 0.5}):sinc()   -- {1, 0.6366}

--- Whether each element is +inf (a bool tensor; false for integers).
-- @function Tensor:isposinf
-- @usage dm.tensor({math.huge, -math.huge}):isposinf()   -- {true, false}

--- Whether each element is -inf (a bool tensor; false for integers).
-- @function Tensor:isneginf
-- @usage dm.tensor({math.huge, -math.huge}):isneginf()   -- {false, true}

--- Whether each element's sign bit is set (a bool tensor: true for -0.0 and a negative NaN;
-- integers: self < 0).
-- @function Tensor:signbit
-- @usage dm.tensor({-0.0, 1}):signbit()   -- {true, false}
