-- The one-input special functions lgamma, digamma, erfinv, logit (without and with eps) and
-- sinc, and the predicates isposinf, isneginf, signbit, against PyTorch 1.13
-- (tests/fixtures/special.lua; regenerate with /usr/bin/python3 tests/fixtures/gen_special.py):
-- forward values and the gradient of sum(y) in float32 and float64 (poles, zeros of both
-- signs, +-1, infinities and NaN as PyTorch gives them), grad_fn names, transposed
-- (non-contiguous) inputs, central differences in float64, int64/uint8/bool inputs (dtype and
-- values), logit's eps argument, and argument errors.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixture = dofile(dir .. "fixtures/special.lua")

local ORDER = { "lgamma", "digamma", "erfinv", "logit", "logit_eps", "sinc" }
local FUNCS = { "lgamma", "digamma", "erfinv", "logit", "sinc" }
local PREDICATES = { "isposinf", "isneginf", "signbit" }
local F64 = { dtype = dm.float64 }

-- the function of fixture entry `name` (logit_eps: logit with the fixture's eps)
local function apply (name, x)
  if name == "logit_eps" then return dm.logit(x, fixture.eps) end
  return dm[name](x)
end
local function method (name, x)
  if name == "logit_eps" then return x:logit(fixture.eps) end
  return x[name](x)
end

-- the distance of got from want in units in the last place of want (float32 or float64):
-- 0 for NaN and NaN, equal infinities or equal zeros
local function ulps (want, got, f32)
  if want ~= want then return got ~= got and 0 or math.huge end
  if want == math.huge or want == -math.huge or want == 0 then
    return got == want and 0 or math.huge
  end
  local e = math.floor(math.log(math.abs(want), 2))
  return math.abs(got - want) / 2.0 ^ (e - (f32 and 23 or 52))
end

-- got (a list) matches want element by element within n ulps
local function check (want, got, n, f32, what)
  assert(#got == #want, what .. ": " .. #got .. " elements, PyTorch has " .. #want)
  for i = 1, #want do
    local u = ulps(want[i], got[i], f32)
    if not (u <= n) then
      error(("%s: element %d is %.17g, PyTorch has %.17g (%g ulps)"):format(what, i, got[i],
            want[i], u), 2)
    end
  end
end

-- ulps allowed: values 2 (float32, PyTorch's float formulas) and 4 (float64: lgamma at -2.5
-- is 3 ulps from PyTorch's libm); gradients 4, erfinv's 64 (e^(y^2) near +-1 multiplies
-- y's last-place difference by 2 y^2)
local function allowed (name, key, grad)
  if grad then return name == "erfinv" and 64 or 4 end
  return key == "f32" and 2 or 4
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("special functions against PyTorch 1.13", function ()
  for _, name in ipairs(ORDER) do
    local c = fixture[name]
    for _, key in ipairs({ "f32", "f64" }) do
      local opts = key == "f64" and F64 or {}
      local f32 = key == "f32"
      it(name .. " " .. key .. ": forward, grad_fn, gradient (dm function and method)",
         function ()
        local x = dm.tensor(c.x, opts):requires_grad_()
        local y = apply(name, x)
        assert.are.equal(f32 and dm.float32 or dm.float64, y.dtype)
        check(c[key].y, y:totable(), allowed(name, key), f32, name .. " forward")
        assert.are.equal(c.grad_fn, y.grad_fn)
        y:sum():backward()
        check(c[key].g, x.grad:totable(), allowed(name, key, true), f32, name .. " gradient")
        local m = method(name, dm.tensor(c.x, opts))
        check(c[key].y, m:totable(), allowed(name, key), f32, name .. " method")
      end)
      it(name .. " " .. key .. ": a transposed input", function ()
        local x = dm.tensor({ c.x, c.x }, opts):requires_grad_()    -- [2 x n]
        local xt = x:t()
        assert.is_false(xt:is_contiguous())
        local y = method(name, xt)                                  -- [n x 2]
        local rows = y:totable()
        local c1, c2 = {}, {}
        for i = 1, #rows do c1[i], c2[i] = rows[i][1], rows[i][2] end
        check(c[key].y, c1, allowed(name, key), f32, name .. " transposed, column 1")
        check(c[key].y, c2, allowed(name, key), f32, name .. " transposed, column 2")
        y:sum():backward()
        local g = x.grad:totable()
        check(c[key].g, g[1], allowed(name, key, true), f32, name .. " transposed gradient, row 1")
        check(c[key].g, g[2], allowed(name, key, true), f32, name .. " transposed gradient, row 2")
      end)
    end
    for _, dn in ipairs({ "int64", "uint8", "bool" }) do
      local ic = c.ints[dn]
      it(name .. " of " .. dn .. " gives " .. ic.dtype, function ()
        local x = dm.tensor(ic.x, { dtype = dm[dn] })
        local y = apply(name, x)
        assert.are.equal(dm[ic.dtype], y.dtype)
        check(ic.y, y:totable(), 2, true, name .. " of " .. dn)
      end)
    end
  end

  for _, name in ipairs(PREDICATES) do
    local c = fixture[name]
    for _, key in ipairs({ "f32", "f64" }) do
      it(name .. " " .. key .. ": bool values (dm function and method), no gradient",
         function ()
        local x = dm.tensor(c.x, key == "f64" and F64 or {}):requires_grad_()
        local y = dm[name](x)
        assert.are.equal(dm.bool, y.dtype)
        assert.are.same(c[key], y:totable())
        assert.is_false(y.requires_grad)
        assert.is_nil(y.grad_fn)
        assert.are.same(c[key], x[name](x):totable())
        local xt = dm.tensor({ c.x, c.x }, key == "f64" and F64 or {}):t()
        assert.is_false(xt:is_contiguous())
        local rows = xt[name](xt):totable()
        for i = 1, #rows do assert.are.same({ c[key][i], c[key][i] }, rows[i]) end
      end)
    end
    for _, dn in ipairs({ "int64", "uint8", "bool" }) do
      local ic = c.ints[dn]
      it(name .. " of " .. dn .. " gives " .. ic.dtype, function ()
        local y = dm[name](dm.tensor(ic.x, { dtype = dm[dn] }))
        assert.are.equal(dm[ic.dtype], y.dtype)
        assert.are.same(ic.y, y:totable())
      end)
    end
  end

  it("the reference device cpu:ref gives PyTorch's values and gradients too", function ()
    for _, name in ipairs(ORDER) do
      local c = fixture[name]
      for _, key in ipairs({ "f64", "f32" }) do
        local f32 = key == "f32"
        local x = dm.tensor(c.x, { dtype = f32 and dm.float32 or dm.float64, device = "cpu:ref" })
        x:requires_grad_()
        local y = apply(name, x)
        assert.are.equal("cpu:ref", y.device)
        local what = name .. " " .. key .. " on cpu:ref"
        -- float32 on cpu:ref is the double formula rounded once (PyTorch computes in float,
        -- 16 ulps from it at digamma(-0.5)): compared with PyTorch's float64 values
        check(c.f64.y, y:totable(), allowed(name, key), f32, what)
        assert.are.equal(c.grad_fn, y.grad_fn)
        y:sum():backward()
        check(c.f64.g, x.grad:totable(), allowed(name, key, true), f32, what .. ", gradient")
      end
    end
    for _, name in ipairs(PREDICATES) do
      local c = fixture[name]
      for _, key in ipairs({ "f32", "f64" }) do
        local x = dm.tensor(c.x, { dtype = key == "f64" and dm.float64 or dm.float32,
                                   device = "cpu:ref" })
        assert.are.same(c[key], dm[name](x):totable())
      end
      local i = dm.tensor(c.ints.int64.x, { dtype = dm.int64, device = "cpu:ref" })
      assert.are.same(c.ints.int64.y, dm[name](i):totable())
    end
  end)

  it("signbit reads the sign of NaN and zero (PyTorch: signbit(nan) false, -nan true)",
     function ()
    local pnan, nnan = math.abs(0 / 0), -math.abs(0 / 0)
    for _, opts in ipairs({ {}, F64 }) do
      local x = dm.tensor({ pnan, nnan, 0.0, -0.0 }, opts)
      assert.are.same({ false, true, false, true }, x:signbit():totable())
      assert.are.same({ false, false, false, false }, x:isposinf():totable())
      assert.are.same({ false, false, false, false }, x:isneginf():totable())
    end
  end)
end)

-- inputs inside each domain, away from poles
local DOMAIN = {
  lgamma = { -2.5, -0.3, 0.2, 1.7, 30 }, digamma = { -2.5, -0.3, 0.2, 1.7, 30 },
  erfinv = { -0.9, -0.3, 0.2, 0.75, 0.95 }, logit = { 0.05, 0.3, 0.5, 0.8, 0.97 },
  logit_eps = { 0.01, 0.3, 0.5, 0.8, 0.99 }, sinc = { -2.5, -0.3, 0.2, 1.7, 7.3 },
}

describe("special function gradients by central differences (float64)", function ()
  for _, name in ipairs(ORDER) do
    it(name, function ()
      local xs = DOMAIN[name]
      local x = dm.tensor(xs, F64):requires_grad_()
      apply(name, x):sum():backward()
      local g = x.grad:totable()
      local h = 1e-6
      for i, v in ipairs(xs) do
        local hi = apply(name, dm.tensor({ v + h }, F64)):item()
        local lo = apply(name, dm.tensor({ v - h }, F64)):item()
        local num = (hi - lo) / (2 * h)
        -- logit with eps: 0 outside [eps, 1 - eps]
        if name == "logit_eps" and (v < fixture.eps or v > 1 - fixture.eps) then num = 0 end
        assert(math.abs(g[i] - num) <= 1e-6 * math.max(1, math.abs(num)),
               ("%s'(%g): autograd %.12g, central difference %.12g"):format(name, v, g[i], num))
      end
    end)
  end
end)

describe("special functions", function ()
  it("give the default float dtype for integer inputs", function ()
    local prev = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    local ok, err = pcall(function ()
      for _, name in ipairs(FUNCS) do
        local y = dm[name](dm.tensor({ 1, 2 }, { dtype = dm.int64 }))
        assert.are.equal(dm.float64, y.dtype)
      end
      assert.are.equal(dm.float64, dm.logit(dm.tensor({ 0, 1 }, { dtype = dm.int64 }), 0.1).dtype)
      assert.are.same({ 0, 0 }, dm.tensor({ 1, 2 }, { dtype = dm.int64 }):lgamma():totable())
    end)
    dm.set_default_dtype(prev)
    assert(ok, err)
  end)

  it("logit takes eps as a number, in an options table, or nil", function ()
    local x = dm.tensor({ 0.0, 0.5, 1.0 }, F64)
    local want = dm.logit(x, 0.25):totable()
    assert.are.same(want, x:logit({ eps = 0.25 }):totable())
    assert.are.same(want, dm.logit(x, { eps = 0.25 }):totable())
    assert.is_true(math.abs(want[1] - math.log(1 / 3)) < 1e-15)
    assert.are.same(dm.logit(x):totable(), x:logit(nil):totable())
    assert.are.same(dm.logit(x):totable(), x:logit({}):totable())
    assert.are.same({ -math.huge, 0, math.huge }, dm.logit(x):totable())
    -- one LogitBackward0 node on x (as PyTorch's), 0 outside [eps, 1 - eps] and at NaN (PyTorch
    -- 1.13's vectorised loop; its scalar loop for a row's last elements gives NaN)
    for _, opts in ipairs({ {}, F64 }) do
      local xs = {}
      for i = 1, 32 do xs[i] = ({ 0 / 0, -0.5, 0.01, 0.5, 0.99, 1.5, 0.25, 0.75 })[(i - 1) % 8 + 1] end
      local t = dm.tensor(xs, opts):requires_grad_()
      local y = t:logit(0.05)
      assert.are.equal("LogitBackward0", y.grad_fn)
      y:sum():backward()
      local g = t.grad:totable()
      for i = 1, 32 do
        local v = xs[i]
        local want = (v >= 0.05 and v <= 0.95) and 1 / (v * (1 - v)) or 0
        assert.is_true(math.abs(g[i] - want) <= 1e-6 * math.abs(want), tostring(v))
      end
    end
    for _, bad in ipairs({ "0.1", true, { eps = "x" } }) do
      local ok, err = pcall(dm.logit, x, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("logit: eps must be a number or nil, got", 1, true),
                    tostring(err))
    end
  end)

  it("match the known values of the functions", function ()
    local x = dm.tensor({ 1, 0.5, 10 }, F64)
    local d = x:digamma():totable()
    assert.is_true(math.abs(d[1] + 0.57721566490153286) < 1e-15)
    assert.is_true(math.abs(d[2] + 0.57721566490153286 + 2 * math.log(2)) < 1e-15)
    assert.is_true(math.abs(d[3] - 2.2517525890667211) < 1e-15)
    assert.is_true(math.abs(dm.tensor({ 0.5 }, F64):lgamma():item() - 0.5 * math.log(math.pi))
                   < 1e-15)
    local e = dm.tensor({ 0.3, -0.8 }, F64):erfinv():totable()
    assert.is_true(math.abs(dm.tensor(e, F64):erf():totable()[1] - 0.3) < 1e-15)
    assert.is_true(math.abs(dm.tensor(e, F64):erf():totable()[2] + 0.8) < 1e-15)
    assert.is_true(math.abs(dm.tensor({ 0.5 }, F64):sinc():item() - 2 / math.pi) < 1e-15)
    -- digamma's gradient is trigamma: pi^2 / 6 at 1 (PyTorch's series: to 1e-9)
    local t = dm.tensor({ 1 }, F64):requires_grad_()
    t:digamma():backward()
    assert.is_true(math.abs(t.grad:item() - math.pi ^ 2 / 6) < 1e-9)
  end)

  it("give empty results for empty inputs", function ()
    for _, name in ipairs(FUNCS) do
      assert.are.same({ 0, 3 }, dm[name](dm.zeros(0, 3)):size())
    end
    for _, name in ipairs(PREDICATES) do
      local y = dm[name](dm.zeros(0, 3))
      assert.are.same({ 0, 3 }, y:size())
      assert.are.equal(dm.bool, y.dtype)
    end
  end)

  it("name the function and the argument for a non-tensor", function ()
    local all = { table.unpack(FUNCS) }
    for _, p in ipairs(PREDICATES) do all[#all + 1] = p end
    for _, name in ipairs(all) do
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
    local y = dm.no_grad(function () return x:logit(0.3) end)
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
