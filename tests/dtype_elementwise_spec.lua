-- The elementwise ops from Lua on every dtype: result dtypes (torch.result_type's rules, a
-- Lua integer typed as a Python int, a float as a Python float), values, in-place casts and
-- the errors.  (Printing is format.lua's, not tested here.)
local dm = require "deepmoon"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

-- the error message raised by fn, without the position prefix
local function err(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

local function close(a, b, tol)
  tol = tol or 1e-6
  assert.are.equal(#b, #a)
  for k = 1, #a do
    assert(math.abs(a[k] - b[k]) <= tol * math.max(1, math.abs(b[k])),
           string.format("[%d] expected %.17g, got %.17g", k, b[k], a[k]))
  end
end

local function I(t) return dm.tensor(t, { dtype = dm.int64 }) end
local function U(t) return dm.tensor(t, { dtype = dm.uint8 }) end
local function D(t) return dm.tensor(t, { dtype = dm.float64 }) end
local function Bo(t) return dm.tensor(t):bool() end

describe("elementwise ops on every dtype", function ()
  it("type a Lua integer as integral and a float as floating", function ()
    local i = I({3, -2, 0})
    assert.are.equal(dm.int64, (i + 2).dtype)
    assert.are.same({5, 0, 2}, (i + 2):totable())
    assert.are.equal(dm.float32, (i + 2.5).dtype)
    assert.are.same({5.5, 0.5, 2.5}, (i + 2.5):totable())
    assert.are.equal(dm.float32, (i + 2.0).dtype)          -- 2.0 is a float in Lua 5.4
    assert.are.equal(dm.float64, (D({1}) + 2.5).dtype)
    assert.are.equal(dm.int64, (Bo({1, 0}) + 1).dtype)
    assert.are.same({2, 1}, (Bo({1, 0}) + 1):totable())
    assert.are.equal(dm.uint8, (U({1, 2}) + 255).dtype)
    assert.are.same({0, 1}, (U({1, 2}) + 255):totable())   -- wraps as uint8
    assert.are.equal(dm.int64, (2 * i).dtype)
    assert.are.same({-1, 4, 2}, (2 - i):totable())
  end)

  it("promote tensors with one another, 0-dim tensors only from a higher category", function ()
    assert.are.equal(dm.float64, (dm.tensor({1.0}) + D({1})).dtype)
    assert.are.equal(dm.float32, (dm.tensor({1.0}) + I({1})).dtype)
    assert.are.equal(dm.int64, (U({1}) + I({1})).dtype)
    assert.are.equal(dm.uint8, (U({1, 2}) + I({5}):select(1, 1)).dtype)    -- 0-dim int64
    assert.are.equal(dm.float32, (dm.tensor({1.0}) + D({5}):select(1, 1)).dtype)
    assert.are.equal(dm.float32, (I({1}) + dm.tensor({5.0}):select(1, 1)).dtype)
  end)

  it("divide truly: integers give float32", function ()
    local q = I({3, -3, 1}) / I({2, 2, 0})
    assert.are.equal(dm.float32, q.dtype)
    assert.are.same({1.5, -1.5, math.huge}, q:totable())
    assert.are.equal(dm.float32, (I({1}) / 2).dtype)
    assert.are.equal(dm.float32, (1 / I({4})).dtype)
  end)

  it("keep int64 arithmetic exact", function ()
    local big = I({ (1 << 53) + 1, math.maxinteger })
    local r = (big + 1):totable()
    assert.are.equal((1 << 53) + 2, r[1])
    assert.are.equal(math.mininteger, r[2])                 -- wraps, as PyTorch's
    assert.are.equal(math.type(r[1]), "integer")
    assert.are.same({27, 0, 4}, (I({3, 2, -2}) ^ I({3, -1, 2})):totable())
    assert.are.equal(dm.int64, (I({3}) ^ 2).dtype)
    assert.are.equal(dm.float32, (I({4}) ^ 0.5).dtype)
  end)

  it("compare into bool tensors for every dtype", function ()
    local F, T = false, true
    assert.are.equal(dm.bool, I({1, 2}):lt(2).dtype)
    assert.are.same({T, F}, I({1, 2}):lt(2):totable())
    assert.are.same({F, T}, D({1, 2}):eq(D({0, 2})):totable())
    assert.are.same({T, F}, U({1, 2}):ne(2):totable())
    assert.are.same({F, T}, I({1, 2}):ge(1.5):totable())
    assert.are.same({T, F}, Bo({1, 0}):eq(Bo({1, 1})):totable())
  end)

  it("type unary ops as PyTorch", function ()
    local i = I({-2, 0, 3})
    assert.are.equal(dm.int64, (-i).dtype)
    assert.are.same({2, 0, -3}, (-i):totable())
    assert.are.same({2, 0, 3}, i:abs():totable())
    assert.are.same({-1, 0, 1}, i:sign():totable())
    assert.are.same({4, 0, 9}, i:square():totable())
    assert.are.same({0, 0, 3}, i:relu():totable())
    assert.are.equal(dm.int64, i:floor().dtype)
    assert.are.equal(dm.float32, i:exp().dtype)
    assert.are.equal(dm.float32, i:sigmoid().dtype)
    assert.are.equal(dm.float32, U({4}):sqrt().dtype)
    assert.are.same({2}, U({4}):sqrt():totable())
    assert.are.equal(dm.int64, Bo({1, 0}):square().dtype)
    assert.are.equal(dm.bool, Bo({1, 0}):sign().dtype)
    assert.are.equal("neg: negation, the `-` operator, on a bool tensor is not supported; "
                     .. "to invert a mask, use logical_not()", err(function () return -Bo({1}) end))
    assert.are.equal("relu: not implemented for bool tensors", err(Bo({1}).relu, Bo({1})))
  end)

  it("compute float64 in double", function ()
    local x = D({0.1, 0.2, 0.7})
    close((x + 0.1):totable(), {0.1 + 0.1, 0.2 + 0.1, 0.7 + 0.1}, 0)
    close(x:exp():totable(), {math.exp(0.1), math.exp(0.2), math.exp(0.7)}, 1e-15)
    close(x:tanh():totable(), {0.099667994624955819, 0.19737532022490401, 0.60436777711716349},
          1e-15)
    close((x / 3):totable(), {0.1 / 3, 0.2 / 3, 0.7 / 3}, 0)
    close(x:clamp(0.15, 0.5):totable(), {0.15, 0.2, 0.5}, 0)
    close(x:leaky_relu(0.1):totable(), {0.1, 0.2, 0.7}, 0)
    assert.are.equal(dm.float64, x:elu().dtype)
  end)

  it("record float64 nodes under the float32 names", function ()
    local x = D({0.5, 1.5}):requires_grad_()
    assert.are.equal("ExpBackward0", x:exp().grad_fn)
    assert.are.equal("MulBackward0", (x * x).grad_fn)
    assert.are.equal("PowBackward0", (x ^ 2).grad_fn)
    assert.is_nil(I({1}):mul(2).grad_fn)
  end)

  it("clamp keeps integer types for integer bounds", function ()
    assert.are.equal(dm.int64, I({-3, 5}):clamp(0, 1).dtype)
    assert.are.same({0, 1}, I({-3, 5}):clamp(0, 1):totable())
    assert.are.equal(dm.float32, I({-3, 5}):clamp(0.5).dtype)
    assert.are.equal(dm.uint8, U({0, 9}):clamp({min = 1, max = 5}).dtype)
    assert.are.equal("leaky_relu: not implemented for int64 tensors", err(I({1}).leaky_relu, I({1})))
  end)

  it("where takes a bool condition and promotes its values", function ()
    local c = I({1, -1}):gt(0)
    local w = dm.where(c, I({1, 2}), dm.tensor({0.5, 0.5}))
    assert.are.equal(dm.float32, w.dtype)
    assert.are.same({1, 0.5}, w:totable())
    assert.are.equal(dm.int64, dm.where(c, I({1, 2}), 7).dtype)
    assert.are.same({1, 7}, dm.where(c, I({1, 2}), 7):totable())
    assert.are.equal(dm.float32, dm.where(c, I({1, 2}), 7.5).dtype)
    assert.are.equal(dm.float64, dm.where(c, D({1, 2}), 0.1).dtype)
    assert.are.equal(0.1, dm.where(c, D({1, 2}), 0.1):totable()[2])
    assert.are.equal("where: expected a bool condition, got float32",
                     err(dm.where, dm.tensor({1.0, 0.0}), 1, 0))
  end)

  it("in-place ops refuse results that cannot be cast to the tensor's dtype", function ()
    local i = I({1, 2})
    assert.are.equal("add_: result type float32 can't be cast to the desired output type int64",
                     err(i.add_, i, dm.tensor({1.0, 1.0})))
    assert.are.equal("mul_: result type float32 can't be cast to the desired output type int64",
                     err(i.mul_, i, 2.5))
    assert.are.equal("div_: result type float32 can't be cast to the desired output type int64",
                     err(i.div_, i, 2))
    assert.are.same({3, 5}, i:mul_(2):add_(1):totable())
    assert.are.same({2, 4}, i:sub_(I({1, 1})):totable())
    assert.are.same({4, 6}, i:add_(I({1, 1}), 2):totable())   -- an integer alpha
    assert.are.same({2, 4}, i:sub_(I({1, 1}), 2):totable())
    assert.are.equal("add_: For integral input tensors, argument alpha must not be a floating " ..
                     "point number.", err(i.add_, i, I({1, 1}), 0.5))     -- PyTorch's check
    assert.are.same({2, 3}, i:clamp_(0, 3):totable())
    assert.are.equal(dm.int64, i.dtype)
    local f = dm.tensor({0.5, 0.5})
    assert.are.same({2.5, 3.5}, f:add_(i):totable())
    local u = U({250, 1})
    assert.are.same({4, 11}, u:add_(10):totable())          -- wraps in uint8
    local d = D({0.1})
    assert.are.equal(0.1 * 3, d:mul_(3):totable()[1])
    assert.are.equal(7, I({1}):fill_(7):totable()[1])
    assert.are.same({1, 2}, I({0, 0}):copy_(dm.tensor({1.9, 2.2})):totable())
  end)

  it("give integers the default float dtype where PyTorch does", function ()
    dm.set_default_dtype(dm.float64)
    local ok, e = pcall(function ()
      local i = I({1, 2})
      assert.are.equal(dm.float64, (i + 2.5).dtype)
      assert.are.equal(dm.float64, (i / i).dtype)
      assert.are.equal(dm.float64, (i / 2).dtype)
      assert.are.equal(dm.float64, i:exp().dtype)
      assert.are.equal(dm.float64, i:clamp(0.5).dtype)
      assert.are.equal(dm.float64, dm.where(i:gt(1), i, 2.5).dtype)
      assert.are.equal(dm.int64, (i + 2).dtype)
      assert.are.equal(dm.float32, (i * dm.tensor({2.5}, {dtype = dm.float32})).dtype)
    end)
    dm.set_default_dtype(dm.float32)
    assert(ok, e)
    assert.are.equal(dm.float32, (I({1}) + 2.5).dtype)
  end)

  it("refuse what PyTorch refuses", function ()
    assert.are.equal("sub: subtraction, the `-` operator, with two bool tensors is not "
                     .. "supported; use the `^` or logical_xor() operator instead",
                     err(function () return Bo({1}) - Bo({0}) end))
    assert.are.equal("pow: integers to negative integer powers are not allowed",
                     err(function () return I({2}) ^ -1 end))
    assert.are.equal("pow: not implemented for bool tensors",
                     err(function () return Bo({1}) ^ Bo({1}) end))
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
