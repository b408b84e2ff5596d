-- The one-input math functions trunc, fix, frac, expm1, log2, log10, exp2, rsqrt, tan, asin,
-- acos, atan, sinh, cosh, asinh, acosh, atanh, erf, erfc, deg2rad, rad2deg, sgn against
-- PyTorch 1.13 (tests/fixtures/unary_math.lua; regenerate with
-- /usr/bin/python3 tests/fixtures/gen_unary_math.py): forward values and the gradient of
-- sum(y) in float32 and float64 (NaN and infinities outside the domain as PyTorch gives
-- them), grad_fn names, transposed (non-contiguous) inputs, central differences in float64,
-- int64/uint8/bool inputs (dtype and values, or the error), and argument errors.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixture = dofile(dir .. "fixtures/unary_math.lua")

local ORDER = { "trunc", "fix", "frac", "expm1", "log2", "log10", "exp2", "rsqrt", "tan",
                "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "erf",
                "erfc", "deg2rad", "rad2deg", "sgn" }
local F64 = { dtype = dm.float64 }

-- got (a list) matches want element by element: NaN for NaN, equal infinities, else
-- |got - want| <= tol |want| (tiny values too: a relative test throughout)
local function check (want, got, tol, what)
  assert(#got == #want, what .. ": " .. #got .. " elements, PyTorch has " .. #want)
  for i = 1, #want do
    local w, g = want[i], got[i]
    local ok
    if w ~= w then ok = g ~= g
    elseif w == math.huge or w == -math.huge then ok = g == w
    else ok = math.abs(g - w) <= tol * math.abs(w) end
    if not ok then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, g, w), 2)
    end
  end
end

local TOL = { f32 = 1e-6, f64 = 1e-12 }

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("unary math functions against PyTorch 1.13", function ()
  for _, name in ipairs(ORDER) do
    local c = fixture[name]
    for _, key in ipairs({ "f32", "f64" }) do
      local opts = key == "f64" and F64 or {}
      it(name .. " " .. key .. ": forward, grad_fn, gradient (dm." .. name .. " and method)",
         function ()
        local x = dm.tensor(c.x, opts):requires_grad_()
        local y = dm[name](x)
        assert.are.equal(key == "f64" and dm.float64 or dm.float32, y.dtype)
        check(c[key].y, y:totable(), TOL[key], name .. " forward")
        assert.are.equal(c.grad_fn, y.grad_fn)
        y:sum():backward()
        check(c[key].g, x.grad:totable(), TOL[key], name .. " gradient")
        local m = dm.tensor(c.x, opts)[name](dm.tensor(c.x, opts))
        check(c[key].y, m:totable(), TOL[key], name .. " method")
      end)
      it(name .. " " .. key .. ": a transposed input", function ()
        local x = dm.tensor({ c.x, c.x }, opts):requires_grad_()    -- [2 x n]
        local xt = x:t()
        assert.is_false(xt:is_contiguous())
        local y = xt[name](xt)                                      -- [n x 2]
        local rows = y:totable()
        local c1, c2 = {}, {}
        for i = 1, #rows do c1[i], c2[i] = rows[i][1], rows[i][2] end
        check(c[key].y, c1, TOL[key], name .. " transposed, column 1")
        check(c[key].y, c2, TOL[key], name .. " transposed, column 2")
        y:sum():backward()
        local g = x.grad:totable()
        check(c[key].g, g[1], TOL[key], name .. " transposed gradient, row 1")
        check(c[key].g, g[2], TOL[key], name .. " transposed gradient, row 2")
      end)
    end
    for _, dn in ipairs({ "int64", "uint8", "bool" }) do
      local ic = c.ints[dn]
      it(name .. " of " .. dn .. (ic.error and " is an error" or " gives " .. ic.dtype),
         function ()
        local x = dm.tensor(ic.x, { dtype = dm[dn] })
        assert.are.equal(dm[dn], x.dtype)
        if ic.error then
          local ok, err = pcall(dm[name], x)
          assert.is_false(ok)
          -- fix is trunc, as in PyTorch, whose message names trunc too
          local op = name == "fix" and "trunc" or name
          assert.are.equal(op .. ": not implemented for " .. dn .. " tensors",
                           tostring(err):match("[%w_]+: not implemented.*$"))
        else
          local y = dm[name](x)
          assert.are.equal(dm[ic.dtype], y.dtype)
          local got = y:totable()
          if ic.dtype == "bool" or ic.dtype == "int64" or ic.dtype == "uint8" then
            assert.are.same(ic.y, got)
          else
            check(ic.y, got, 1e-6, name .. " of " .. dn)
          end
        end
      end)
    end
  end
end)

-- inputs inside each domain, away from the steps of trunc and frac
local DOMAIN = {
  trunc = { 0.2, 0.7, 1.3, -1.6 }, fix = { 0.2, 0.7, 1.3, -1.6 }, frac = { 0.2, 0.7, 1.3, -1.6 },
  expm1 = { -2, -0.3, 1e-3, 1.5 }, log2 = { 0.2, 0.9, 1.7, 30 }, log10 = { 0.2, 0.9, 1.7, 30 },
  exp2 = { -2, -0.3, 0.4, 3 }, rsqrt = { 0.2, 0.9, 1.7, 30 }, tan = { -1.2, -0.3, 0.5, 1.4 },
  asin = { -0.9, -0.3, 0.2, 0.8 }, acos = { -0.9, -0.3, 0.2, 0.8 }, atan = { -5, -0.3, 0.2, 2 },
  sinh = { -2, -0.3, 0.2, 3 }, cosh = { -2, -0.3, 0.2, 3 }, asinh = { -5, -0.3, 0.2, 2 },
  acosh = { 1.1, 1.5, 3, 20 }, atanh = { -0.9, -0.3, 0.2, 0.8 }, erf = { -2, -0.3, 0.2, 1.5 },
  erfc = { -2, -0.3, 0.2, 1.5 }, deg2rad = { -90, -0.3, 0.2, 400 },
  rad2deg = { -3, -0.3, 0.2, 7 }, sgn = { -2, -0.3, 0.2, 3 },
}

describe("unary math gradients by central differences (float64)", function ()
  for _, name in ipairs(ORDER) do
    it(name, function ()
      local xs = DOMAIN[name]
      local x = dm.tensor(xs, F64):requires_grad_()
      dm[name](x):sum():backward()
      local g = x.grad:totable()
      local h = 1e-6
      for i, v in ipairs(xs) do
        local hi = dm[name](dm.tensor({ v + h }, F64)):item()
        local lo = dm[name](dm.tensor({ v - h }, F64)):item()
        local num = (hi - lo) / (2 * h)
        assert(math.abs(g[i] - num) <= 1e-6 * math.max(1, math.abs(num)),
               ("%s'(%g): autograd %.12g, central difference %.12g"):format(name, v, g[i], num))
      end
    end)
  end
end)

describe("unary math functions", function ()
  it("give the default float dtype for integer inputs", function ()
    local prev = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    local ok, err = pcall(function ()
      local y = dm.tensor({ 1, 4 }, { dtype = dm.int64 }):log2()
      assert.are.equal(dm.float64, y.dtype)
      assert.are.same({ 0, 2 }, y:totable())
      -- trunc and sgn keep the integer type
      assert.are.equal(dm.int64, dm.tensor({ 1, -4 }, { dtype = dm.int64 }):trunc().dtype)
      assert.are.same({ 1, -1 }, dm.tensor({ 1, -4 }, { dtype = dm.int64 }):sgn():totable())
    end)
    dm.set_default_dtype(prev)
    assert(ok, err)
  end)

  it("keep precision where the plain formula loses it", function ()
    local y = dm.tensor({ 1e-10 }, F64):expm1():item()
    assert.is_true(math.abs(y - 1.00000000005e-10) <= 1e-25)
    assert.are.equal(3, dm.tensor({ 1000 }, F64):log10():item())
    assert.are.equal(10, dm.tensor({ 1024 }, F64):log2():item())
    assert.are.equal(1024, dm.tensor({ 10 }, F64):exp2():item())
  end)

  it("fix is trunc and sgn is sign on real tensors", function ()
    local x = dm.tensor({ -2.5, -0.5, 0, 0.5, 2.5 })
    assert.are.same(x:trunc():totable(), x:fix():totable())
    assert.are.same(x:sign():totable(), x:sgn():totable())
    local a = x:clone():requires_grad_()
    assert.are.equal("TruncBackward0", a:fix().grad_fn)
    assert.are.equal("SgnBackward0", a:sgn().grad_fn)
    assert.are.equal("SignBackward0", a:sign().grad_fn)
  end)

  it("give empty results for empty inputs", function ()
    for _, name in ipairs(ORDER) do
      local y = dm[name](dm.zeros(0, 3))
      assert.are.same({ 0, 3 }, y:size())
    end
  end)

  it("name the function and the argument for a non-tensor", function ()
    for _, name in ipairs(ORDER) do
      for _, bad in ipairs({ 3, "x", {}, false }) do
        local ok, err = pcall(dm[name], bad)
        assert.is_false(ok)
        err = tostring(err)
        assert(err:find("bad argument #1 to '", 1, true) and err:find(name .. "'", 1, true)
               and err:find("deepmoon.Tensor expected, got " .. type(bad), 1, true),
               name .. ": " .. err)
      end
      local ok, err = pcall(dm[name])
      assert.is_false(ok)
      assert.truthy(tostring(err):find("deepmoon.Tensor expected, got no value", 1, true))
    end
  end)

  it("do not record a graph under no_grad and leave inputs untouched", function ()
    local x = dm.tensor({ 0.25, 0.5 }):requires_grad_()
    local y = dm.no_grad(function () return x:asin() end)
    assert.is_nil(y.grad_fn)
    assert.is_false(y.requires_grad)
    assert.are.same({ 0.25, 0.5 }, x:totable())
  end)

  it("leave live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
