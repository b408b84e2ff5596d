-- The two-input math functions atan2, hypot, xlogy, logaddexp, logaddexp2, copysign, fmax,
-- fmin and heaviside (core/ops/bmath.c) against PyTorch 1.13: forward values in float64 and
-- float32 (same shape, broadcast, a number as the second argument, NaN/inf/zeros), grad_fn
-- names and gradients of sum(y * w), from tests/fixtures/binary_math.lua (regenerate with
-- /usr/bin/python3 tests/fixtures/gen_binary_math.py); integer and bool inputs; finite
-- differences in float64; non-contiguous inputs; the error messages.  Then lerp and
-- float_power from the same file.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixture = dofile(dir .. "fixtures/binary_math.lua")

local OPS = { "atan2", "hypot", "xlogy", "logaddexp", "logaddexp2", "copysign", "fmax", "fmin",
              "heaviside" }

local function T (f, dtype) return dm.tensor(f.data, { dtype = dtype }):view(f.shape) end

-- got (a tensor) equals want ({shape, data}) within tol relative to max(1, |want|); NaN
-- matches NaN, infinities must be equal
local function check (want, got, tol, what)
  assert.are.same(want.shape, got:size(), what .. ": shape")
  local g = got:double():contiguous():values()
  assert(#g == #want.data, what .. ": element count")
  for i = 1, #g do
    local w, v = want.data[i], g[i]
    local ok
    if w ~= w then ok = v ~= v
    elseif w == math.huge or w == -math.huge then ok = v == w
    else ok = math.abs(v - w) <= tol * math.max(1, math.abs(w)) end
    if not ok then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, v, w), 2)
    end
  end
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local TOL = { float64 = { y = 1e-14, g = 1e-13 }, float32 = { y = 2e-6, g = 2e-5 } }

describe("two-input math functions against PyTorch 1.13", function ()
  for _, op in ipairs(OPS) do
    for _, dtn in ipairs({ "float64", "float32" }) do
      local dt, tol = dm[dtn], TOL[dtn]
      for _, c in ipairs(fixture[op][dtn]) do
        it(("%s %s: %s"):format(op, dtn, c.name), function ()
          local a = T(c.a, dt)
          -- a 0-dim float64 b is what a Lua number is: both ways; heaviside's takes a's dtype
          local bdt = c.b0dim and op ~= "heaviside" and dm.float64 or dt
          local b = T(c.b, bdt)
          local grad = c.grad_fn ~= nil
          if grad then a:requires_grad_(); b:requires_grad_() end
          local y = dm[op](a, b)
          assert.are.equal(dt, y.dtype)
          check(c.y, y, tol.y, op .. " forward")
          check(c.y, a[op](a, b), tol.y, op .. " as a method")
          if c.b0dim then
            check(c.y, a[op](a, c.b.data[1]), tol.y, op .. " with a number")
            check(c.y, dm[op](a, c.b.data[1]), tol.y, op .. " with a number (dm)")
          end
          if grad then
            assert.are.equal(c.grad_fn, y.grad_fn)
            local w = T(c.w, dt);
            (y * w):sum():backward()
            check(c.ga, a.grad, tol.g, op .. " gradient to a")
            check(c.gb, b.grad, tol.g, op .. " gradient to b")
            assert.are.equal(dt, a.grad.dtype)
            assert.are.equal(bdt, b.grad.dtype)
          else
            assert.is_nil(y.grad_fn)
            assert.is_false(y.requires_grad)
          end
        end)
      end
    end

    for _, c in ipairs(fixture[op].ints) do
      it(("%s of %s tensors"):format(op, c.name), function ()
        local a, b
        if c.name == "bool" then
          a = dm.tensor(c.a.data):bool(); b = dm.tensor(c.b.data):bool()
        else
          a = T(c.a, dm.int64); b = T(c.b, dm.int64)
        end
        if c.error then
          local ok, msg = pcall(dm[op], a, b)
          assert.is_false(ok)
          assert.truthy(tostring(msg):find(op .. ": not implemented for " .. c.name, 1, true), msg)
        else
          local y = dm[op](a, b)
          assert.are.equal(dm[c.dtype], y.dtype)
          check(c.y, y, 1e-6, op .. " " .. c.name)
        end
      end)
    end

    it(op .. ": non-contiguous inputs give the contiguous inputs' values and gradients", function ()
      local c = fixture[op].float64[1]
      local a, b = T(c.a, dm.float64), T(c.b, dm.float64)
      -- the same values through transposed storage
      local an = a:t():contiguous():t()
      local bn = b:t():contiguous():t()
      assert.is_false(an:is_contiguous())
      assert.is_false(bn:is_contiguous())
      local grad = op ~= "heaviside"
      if grad then an:requires_grad_(); bn:requires_grad_() end
      local y = dm[op](an, bn)
      check(c.y, y, 1e-14, op .. " forward (strided)")
      if grad then
        (y * T(c.w, dm.float64)):sum():backward()
        check(c.ga, an.grad, 1e-13, op .. " gradient to a (strided)")
        check(c.gb, bn.grad, 1e-13, op .. " gradient to b (strided)")
      end
    end)

    it(op .. ": the error for shapes that do not broadcast names the function and both shapes", function ()
      local ok, msg = pcall(dm[op], dm.ones(2, 3), dm.ones(4))
      assert.is_false(ok)
      msg = tostring(msg)
      assert.truthy(msg:find(op .. ":", 1, true), msg)
      assert.truthy(msg:find("[2 x 3]", 1, true), msg)
      assert.truthy(msg:find("[4]", 1, true), msg)
      ok, msg = pcall(dm[op], "x", dm.ones(2))
      assert.is_false(ok)
      ok, msg = pcall(dm[op], 1, 2)
      assert.is_false(ok)
      assert.truthy(tostring(msg):find(op .. ": expected at least one tensor", 1, true), msg)
    end)
  end

  -- central differences in float64 at points away from the kinks
  local DOMAIN = {
    atan2 = { 0.3, 1.2, 0.3, 1.2 }, hypot = { -1.2, 1.2, 0.3, 1.2 },
    xlogy = { -1, 1, 0.3, 1.5 }, logaddexp = { -2, 2, -2, 2 }, logaddexp2 = { -2, 2, -2, 2 },
    copysign = { 0.3, 1.2, -1, 1 }, fmax = { -1, 1, -1, 1 }, fmin = { -1, 1, -1, 1 },
  }
  for _, op in ipairs(OPS) do
    local d = DOMAIN[op]
    if d then
      it(op .. ": gradients match central differences (float64, broadcast)", function ()
        dm.manual_seed(7)
        local a = (dm.rand(2, 3, { dtype = dm.float64 }) * (d[2] - d[1]) + d[1]):requires_grad_()
        local b = (dm.rand(3, { dtype = dm.float64 }) * (d[4] - d[3]) + d[3]):requires_grad_()
        local w = dm.randn(2, 3, { dtype = dm.float64 })
        local function f (x, z) return (dm[op](x, z) * w):sum():item() end
        local ok = pcall(function () (dm[op](a, b) * w):sum():backward() end)
        assert.is_true(ok)
        local eps = 1e-6
        for _, pair in ipairs({ { a, a.grad, 1 }, { b, b.grad, 2 } }) do
          local t, g = pair[1], pair[2]:contiguous():values()
          local base = t:detach():clone()
          local vals = base:values()
          for i = 1, #vals do
            local plus, minus = base:clone():view(-1), base:clone():view(-1)
            plus[i] = vals[i] + eps
            minus[i] = vals[i] - eps
            plus, minus = plus:view(base:size()), minus:view(base:size())
            local fp = pair[3] == 1 and f(plus, b:detach()) or f(a:detach(), plus)
            local fm = pair[3] == 1 and f(minus, b:detach()) or f(a:detach(), minus)
            local num = (fp - fm) / (2 * eps)
            assert(math.abs(num - g[i]) <= 1e-7 * math.max(1, math.abs(num)),
                   ("%s: d/d%s[%d]: autograd %.12g, differences %.12g"):format(
                     op, pair[3] == 1 and "a" or "b", i, g[i], num))
          end
        end
      end)
    end
  end

  it("fmax and fmin keep integer dtypes and ignore NaN", function ()
    local y = dm.fmax(dm.tensor({1, 5}), dm.tensor({3, 2}))
    assert.are.equal(dm.int64, y.dtype)
    assert.are.same({3, 5}, y:totable())
    local u = dm.fmin(dm.tensor({200, 3}, { dtype = dm.uint8 }), 7)
    assert.are.equal(dm.uint8, u.dtype)
    assert.are.same({7, 3}, u:totable())
    local nan = 0 / 0
    local m = dm.fmax(dm.tensor({nan, 1, nan}), dm.tensor({2.0, nan, nan})):totable()
    assert.are.equal(2, m[1]); assert.are.equal(1, m[2]); assert.is_true(m[3] ~= m[3])
  end)

  it("fmax and fmin send a tie's gradient to the first argument, as PyTorch", function ()
    local a = dm.tensor({1.0, 2.0}):requires_grad_()
    local b = dm.tensor({1.0, 3.0}):requires_grad_()
    dm.fmax(a, b):sum():backward()
    assert.are.same({1, 0}, a.grad:totable())
    assert.are.same({0, 1}, b.grad:totable())
    a.grad, b.grad = nil, nil
    dm.fmin(a, b):sum():backward()
    assert.are.same({1, 1}, a.grad:totable())
    assert.are.same({0, 0}, b.grad:totable())
  end)

  it("xlogy and copysign take numbers on either side; an integer tensor with a float gives float32", function ()
    local i = dm.tensor({1, 2})
    local y = dm.xlogy(i, 2.5)
    assert.are.equal(dm.float32, y.dtype)
    check({ shape = {2}, data = {math.log(2.5), 2 * math.log(2.5)} }, y, 1e-6, "xlogy(int, 2.5)")
    assert.are.same({0, 0}, dm.xlogy(0, dm.tensor({1.0, 2.0})):totable())
    check({ shape = {2}, data = {math.log(3), 2 * math.log(3)} }, dm.xlogy(i, 3), 1e-6, "xlogy(int, 3)")
    assert.are.equal(dm.float32, dm.xlogy(i, 3).dtype)
    assert.are.same({-1, -2}, dm.copysign(i, -1):totable())
    assert.are.equal(dm.float32, dm.copysign(i, -1).dtype)
    assert.are.equal(dm.float64, dm.atan2(dm.tensor({1.0}, { dtype = dm.float64 }), 1).dtype)
  end)

  it("heaviside wants one dtype, and a number takes the tensor's", function ()
    local ok, msg = pcall(dm.heaviside, dm.tensor({1.0}), dm.tensor({1.0}, { dtype = dm.float64 }))
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("heaviside is not yet implemented for tensors with different dtypes", 1, true), msg)
    assert.are.same({0, 7, 1}, dm.tensor({-1, 0, 4}):heaviside(7):totable())
    assert.are.equal(dm.int64, dm.tensor({-1, 0, 4}):heaviside(7).dtype)
  end)

  it("copysign gives b a zero gradient and a zero's gradient is 0", function ()
    local a = dm.tensor({0.0, -2.0, 3.0}):requires_grad_()
    local b = dm.tensor({-1.0, 1.0, -0.0}):requires_grad_()
    dm.copysign(a, b):sum():backward()
    assert.are.same({0, -1, -1}, a.grad:totable())
    assert.are.same({0, 0, 0}, b.grad:totable())
  end)

  for _, dtn in ipairs({ "float64", "float32" }) do
    local dt, tol = dm[dtn], TOL[dtn]
    for _, c in ipairs(fixture.lerp[dtn]) do
      it(("lerp %s: %s"):format(dtn, c.name), function ()
        local a, b = T(c.a, dt):requires_grad_(), T(c.b, dt):requires_grad_()
        local w = type(c.weight) == "table" and T(c.weight, dt):requires_grad_() or c.weight
        local y = dm.lerp(a, b, w)
        assert.are.equal(dt, y.dtype)
        check(c.y, y, tol.y, "lerp forward")
        check(c.y, a:lerp(b, w), tol.y, "lerp as a method")
        assert.are.equal(c.grad_fn, y.grad_fn);
        (y * T(c.w, dt)):sum():backward()
        check(c.ga, a.grad, tol.g, "lerp gradient to start")
        check(c.gb, b.grad, tol.g, "lerp gradient to end")
        if c.gw then check(c.gw, w.grad, tol.g, "lerp gradient to weight") end
      end)
    end
    for _, c in ipairs(fixture.float_power[dtn]) do
      it(("float_power %s: %s"):format(dtn, c.name), function ()
        local a = type(c.a) == "table" and T(c.a, dt):requires_grad_() or c.a
        local b = type(c.b) == "table" and T(c.b, dt):requires_grad_() or c.b
        local y = dm.float_power(a, b)
        assert.are.equal(dm.float64, y.dtype)
        check(c.y, y, TOL.float64.y, "float_power forward")
        if type(a) ~= "number" then check(c.y, a:float_power(b), TOL.float64.y, "float_power as a method") end
        (y * T(c.w, dm.float64)):sum():backward()
        if c.ga then check(c.ga, a.grad, tol.g, "float_power gradient to self"); assert.are.equal(dt, a.grad.dtype) end
        if c.gb then check(c.gb, b.grad, tol.g, "float_power gradient to exponent"); assert.are.equal(dt, b.grad.dtype) end
      end)
    end
  end

  it("float_power of integer tensors is float64; a negative base to 0.5 is NaN", function ()
    local c = fixture.float_power.ints
    local y = dm.float_power(dm.tensor(c.a), dm.tensor(c.b))
    assert.are.equal(dm.float64, y.dtype)
    check(c.y, y, 0, "float_power ints")
    check(fixture.float_power.negative_base.y, dm.tensor({-8.0, 4.0}):float_power(0.5), 1e-15, "float_power(-8, 0.5)")
    local ok, msg = pcall(dm.float_power, 2, 3)
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("float_power: expected at least one tensor", 1, true), msg)
  end)

  it("lerp: non-contiguous inputs, gradients by central differences (float64)", function ()
    dm.manual_seed(11)
    local F64 = { dtype = dm.float64 }
    local a = dm.randn(3, 2, F64):t()
    local b = dm.randn(3, 2, F64):t()
    local w = (dm.rand(2, 3, F64) * 2 - 0.5)
    assert.is_false(a:is_contiguous())
    local want = a:contiguous() + w * (b:contiguous() - a:contiguous())
    check({ shape = want:size(), data = want:values() }, dm.lerp(a, b, w), 1e-14, "lerp strided")
    local g = dm.randn(2, 3, F64)
    local ins = { a:contiguous():requires_grad_(), b:contiguous():requires_grad_(), w:requires_grad_() }
    local function f (x, y, z) return (dm.lerp(x, y, z) * g):sum():item() end
    (dm.lerp(ins[1], ins[2], ins[3]) * g):sum():backward()
    for k = 1, 3 do
      local grad = ins[k].grad:values()
      local base = ins[k]:detach()
      for i = 1, #grad do
        local args = { ins[1]:detach(), ins[2]:detach(), ins[3]:detach() }
        local p, m = base:clone():view(-1), base:clone():view(-1)
        local v = base:contiguous():view(-1):values()[i]
        p[i] = v + 1e-6; m[i] = v - 1e-6
        args[k] = p:view(base:size()); local fp = f(args[1], args[2], args[3])
        args[k] = m:view(base:size()); local fm = f(args[1], args[2], args[3])
        local num = (fp - fm) / 2e-6
        assert(math.abs(num - grad[i]) <= 1e-7 * math.max(1, math.abs(num)),
               ("lerp d/d input %d [%d]: %.12g vs %.12g"):format(k, i, grad[i], num))
      end
    end
  end)

  it("lerp's errors: dtypes, integer tensors, shapes, the weight's type", function ()
    local ok, msg = pcall(dm.lerp, dm.ones(2), dm.ones(2, { dtype = dm.float64 }), 0.5)
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("lerp: expected dtype float32 for `end` but got dtype float64", 1, true), msg)
    ok, msg = pcall(dm.lerp, dm.ones(2), dm.ones(2), dm.ones(2, { dtype = dm.float64 }))
    assert.truthy(tostring(msg):find("lerp: expected dtype float32 for `weight` but got dtype float64", 1, true), msg)
    ok, msg = pcall(dm.lerp, dm.tensor({1, 2}), dm.tensor({1, 2}), 0.5)
    assert.truthy(tostring(msg):find("lerp: not implemented for int64 tensors", 1, true), msg)
    ok, msg = pcall(dm.lerp, dm.ones(2, 3), dm.ones(4), 0.5)
    assert.truthy(tostring(msg):find("lerp: shapes [2 x 3] and [4]", 1, true), msg)
    ok, msg = pcall(dm.lerp, dm.ones(2, 3), dm.ones(3), dm.ones(4))
    assert.truthy(tostring(msg):find("lerp: shapes [2 x 3] and [4]", 1, true), msg)
    ok, msg = pcall(dm.lerp, dm.ones(2), dm.ones(2), "x")
    assert.is_false(ok)
  end)

  it("in place: atan2_, hypot_, xlogy_, copysign_, heaviside_ write the out-of-place values into self", function ()
    for _, op in ipairs({ "atan2", "hypot", "xlogy", "copysign", "heaviside" }) do
      for _, dtn in ipairs({ "float64", "float32" }) do
        for _, c in ipairs(fixture[op][dtn]) do
          if #c.a.shape >= #c.b.shape and c.a.shape[1] == (c.y.shape[1]) then
            local dt = dm[dtn]
            local t = T(c.a, dt)
            local b = T(c.b, (c.b0dim and op ~= "heaviside") and dm.float64 or dt)
            local v0 = t._version
            local r = t[op .. "_"](t, b)
            assert.are.equal(t, r)
            assert.are.equal(dt, t.dtype)
            check(c.y, t, TOL[dtn].y, op .. "_ " .. dtn .. " " .. c.name)
            if v0 then assert.is_true(t._version > v0) end
          end
        end
      end
      -- a strided self is written through
      local c = fixture[op].float64[1]
      local base = T(c.a, dm.float64):t():contiguous()
      local t = base:t()
      assert.is_false(t:is_contiguous())
      t[op .. "_"](t, T(c.b, dm.float64))
      check(c.y, t, 1e-14, op .. "_ strided")
      check(c.y, base:t(), 1e-14, op .. "_ strided, through the base")
    end
  end)

  it("in place: errors as PyTorch's (integer self, leaf requiring grad, self that would grow)", function ()
    local ok, msg = pcall(function () return dm.tensor({1, 2}):atan2_(dm.tensor({1, 1})) end)
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("atan2_: result type float32 can't be cast to the desired output type int64", 1, true), msg)
    local a = dm.ones(2):requires_grad_()
    ok, msg = pcall(function () return a:hypot_(dm.ones(2)) end)
    assert.truthy(tostring(msg):find("hypot_: a leaf Variable that requires grad is being used in an in-place operation.", 1, true), msg)
    ok, msg = pcall(function () return dm.ones(3):xlogy_(dm.ones(2, 3)) end)
    assert.is_false(ok)
    ok, msg = pcall(function () return dm.ones(2):float_power_(2) end)
    assert.truthy(tostring(msg):find("float_power_: the base given to float_power_ has dtype float32 but the operation's result requires dtype float64", 1, true), msg)
    assert.are.same({0, 7, 1}, dm.tensor({-1, 0, 2}):heaviside_(7):totable())
  end)

  it("in place: lerp_ and float_power_ record their gradients on a non-leaf", function ()
    local a = dm.tensor({1.0, 2.0}):requires_grad_()
    local t = a * 1
    t:lerp_(dm.tensor({3.0, 6.0}), 0.25)
    assert.are.equal("LerpBackward0", t.grad_fn)
    assert.are.same({1.5, 3}, t:totable())
    t:sum():backward()
    assert.are.same({0.75, 0.75}, a.grad:totable())
    local d = dm.tensor({2.0, 3.0}, { dtype = dm.float64 }):requires_grad_()
    local u = d * 1
    u:float_power_(dm.tensor({2.0, 2.0}, { dtype = dm.float64 }))
    assert.are.same({4, 9}, u:totable())
    u:sum():backward()
    assert.are.same({4, 6}, d.grad:totable())
    local w = dm.tensor({0.5, 1.0})
    local s = dm.zeros(2)
    assert.are.equal(s, s:lerp_(dm.tensor({2.0, 4.0}), w))
    assert.are.same({1, 4}, s:totable())
  end)

  it("the reference device cpu:ref gives PyTorch's values and gradients too", function ()
    for _, op in ipairs(OPS) do
      for _, dtn in ipairs({ "float64", "float32" }) do
        local dt, tol = dm[dtn], TOL[dtn]
        for _, c in ipairs(fixture[op][dtn]) do
          local what = ("%s %s %s on cpu:ref"):format(op, dtn, c.name)
          local bdt = c.b0dim and op ~= "heaviside" and dm.float64 or dt
          local a = dm.tensor(c.a.data, { dtype = dt, device = "cpu:ref" }):view(c.a.shape)
          local b = dm.tensor(c.b.data, { dtype = bdt, device = "cpu:ref" }):view(c.b.shape)
          if c.grad_fn then a:requires_grad_(); b:requires_grad_() end
          local y = dm[op](a, b)
          assert.are.equal("cpu:ref", y.device)
          check(c.y, y, tol.y, what)
          if c.grad_fn then
            (y * dm.tensor(c.w.data, { dtype = dt, device = "cpu:ref" }):view(c.w.shape)):sum():backward()
            check(c.ga, a.grad, tol.g, what .. ", gradient to a")
            check(c.gb, b.grad, tol.g, what .. ", gradient to b")
          end
        end
      end
    end
    for _, c in ipairs(fixture.lerp.float64) do
      local function R (f) return dm.tensor(f.data, { dtype = dm.float64, device = "cpu:ref" }):view(f.shape) end
      local w = type(c.weight) == "table" and R(c.weight) or c.weight
      check(c.y, dm.lerp(R(c.a), R(c.b), w), 1e-14, "lerp on cpu:ref " .. c.name)
    end
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
