-- deepmoon.reduce_extra (dm.nansum, nanmean, count_nonzero, isclose, allclose, equal,
-- aminmax, std_mean, var_mean, median, nanmedian) against PyTorch 1.13: values over several
-- shapes, dims, NaN cases and ties, gradients, non-contiguous inputs, dtypes, from
-- tests/fixtures/reduce_extra.lua (regenerate with /usr/bin/python3
-- tests/fixtures/gen_reduce_extra.py); float64 central differences; argument errors.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixture = dofile(dir .. "fixtures/reduce_extra.lua")
local F64 = { dtype = dm.float64 }

local function numel (shape)
  local n = 1
  for i = 1, #shape do n = n * shape[i] end
  return n
end

local function T (f)
  local dt = dm[f.dtype]
  if numel(f.shape) == 0 then return dm.zeros(f.shape, { dtype = dt }) end
  return dm.tensor(f.data, { dtype = dt }):reshape(f.shape)
end

local function flat (t) return t:numel() == 0 and {} or t:reshape(-1):totable() end

local function close (want, got, tol, what, skip)
  if type(want) == "boolean" then
    assert.are.equal(want, got, what)
    return
  end
  assert(dm.is_tensor(got), what .. ": expected a tensor, got " .. type(got))
  assert.are.same(want.shape, got:size(), what .. " shape")
  assert.are.equal(dm[want.dtype], got.dtype, what .. " dtype")
  local g = flat(got)
  for i = 1, #want.data do
    local a, b = g[i], want.data[i]
    if not (skip and skip[i]) then
      if b ~= b then
        assert(a ~= a, ("%s[%d]: expected nan, got %s"):format(what, i, tostring(a)))
      elseif type(b) == "boolean" or b == math.huge or b == -math.huge or math.type(b) == "integer" then
        assert(a == b, ("%s[%d]: expected %s, got %s"):format(what, i, tostring(b), tostring(a)))
      else
        assert(math.abs(a - b) <= tol * (1 + math.abs(b)),
               ("%s[%d]: expected %.17g, got %.17g"):format(what, i, b, a))
      end
    end
  end
end

local function tol_of (f) return f.dtype == "float32" and 1e-5 or 1e-12 end

describe("reduce_extra against PyTorch 1.13", function ()
  for ci, c in ipairs(fixture) do
    it(c.name, function ()
      local x = T(c.x)
      if c.grad then x:requires_grad_() end
      local xin = c.transpose and x:t() or x
      if c.transpose then assert.is_false(xin:is_contiguous()) end
      local args = c.args
      local outs
      -- alternate the dm.X and the method forms
      local f = ci % 2 == 0 and dm[c.fn] or dm.Tensor[c.fn]
      if c.other then
        outs = table.pack(f(xin, T(c.other), table.unpack(args, 1, args.n)))
      else
        outs = table.pack(f(xin, table.unpack(args, 1, args.n)))
      end
      assert.are.equal(#c.out, outs.n, "number of results")
      local skip
      if c.fn == "nanmedian" and #c.out == 2 then
        -- PyTorch's index for an all-NaN slice is nth_element's pick; deepmoon gives the first
        skip = {}
        for i, v in ipairs(c.out[1].data) do if v ~= v then skip[i] = true end end
      end
      for k = 1, #c.out do
        local want = c.out[k]
        close(want, outs[k], type(want) == "table" and tol_of(want) or 0, "result " .. k,
              k == 2 and skip or nil)
      end
      if c.grad then
        (outs[1] * T(c.w)):sum():backward()
        local want = c.grad
        if c.fn == "nanmean" then
          -- departure: PyTorch's gradient is NaN on an all-NaN slice (inf * 0), deepmoon's 0
          want = { shape = want.shape, dtype = want.dtype, data = {} }
          for i, v in ipairs(c.grad.data) do want.data[i] = v ~= v and 0 or v end
        end
        close(want, x.grad, 1e-12, "gradient")
      end
    end)
  end
end)

-- central differences of sum(f(x) * w) in float64
local function fd_check (shape, vals, fn)
  local x = dm.tensor(vals, F64):reshape(shape):requires_grad_()
  local y = fn(x)
  local w = dm.randn(y:size(), F64)
  local wv = w:numel() > 0 and w:reshape(-1):totable() or {}
  local function loss (v)
    local out = fn(dm.tensor(v, F64):reshape(shape))
    local o = out:reshape(-1):totable()
    local s = 0
    for i = 1, #o do s = s + o[i] * wv[i] end
    return s
  end
  (y * w):sum():backward()
  local g = x.grad:reshape(-1):totable()
  local h = 1e-6
  for i = 1, #vals do
    local p, m = { table.unpack(vals) }, { table.unpack(vals) }
    p[i] = p[i] + h
    m[i] = m[i] - h
    local num = (loss(p) - loss(m)) / (2 * h)
    assert(math.abs(num - g[i]) < 1e-6, ("d/dx[%d]: numeric %.10g, autograd %.10g"):format(i, num, g[i]))
  end
end

describe("reduce_extra gradients by central differences (float64)", function ()
  local vals = { 0.3, -1.2, 2.5, 0.7, -0.4, 1.9, -2.2, 0.05, 1.1, -0.8, 0.6, 3.3 }
  it("nansum and nanmean with NaN", function ()
    local v = { table.unpack(vals) }
    v[2], v[7] = 0 / 0, 0 / 0
    -- NaN positions have zero gradient; perturbing them keeps NaN, so check the others
    fd_check({ 3, 4 }, vals, function (x) return dm.nanmean(x, 2) end)
    fd_check({ 3, 4 }, vals, function (x) return dm.nansum(x, { 1 }, true) end)
    local x = dm.tensor(v, F64):reshape(3, 4):requires_grad_()
    dm.nanmean(x):backward()
    local g = x.grad:reshape(-1):totable()
    assert.are.equal(0, g[2]); assert.are.equal(0, g[7])
    assert.is_true(math.abs(g[1] - 0.1) < 1e-15)
  end)
  it("std_mean and var_mean", function ()
    fd_check({ 3, 4 }, vals, function (x) local s, m = dm.std_mean(x, 1); return s + m * 2 end)
    fd_check({ 3, 4 }, vals, function (x) local s, m = dm.var_mean(x, { dim = 2, correction = 0 }); return s * m end)
  end)
  it("median and nanmedian over a dim, and of all elements", function ()
    fd_check({ 3, 4 }, vals, function (x) return (dm.median(x, 2)) end)
    fd_check({ 3, 4 }, vals, function (x) return (dm.nanmedian(x, 1, true)) end)
    fd_check({ 3, 4 }, vals, function (x) return dm.median(x) end)
  end)
  it("quantile, nanquantile, cummax, cummin, logcumsumexp", function ()
    fd_check({ 3, 4 }, vals, function (x) return dm.quantile(x, 0.3, 2) end)
    fd_check({ 3, 4 }, vals, function (x) return dm.nanquantile(x, dm.tensor({ 0.1, 0.8 }, F64), 1, true) end)
    fd_check({ 3, 4 }, vals, function (x) return (dm.cummax(x, 2)) end)
    fd_check({ 3, 4 }, vals, function (x) return (dm.cummin(x, 1)) end)
    fd_check({ 3, 4 }, vals, function (x) return dm.logcumsumexp(x, 2) end)
  end)
end)

describe("reduce_extra dtypes and results", function ()
  it("count_nonzero gives int64; isclose bool; equal and allclose Lua booleans", function ()
    assert.are.equal(dm.int64, dm.count_nonzero(dm.randn(3, 2)).dtype)
    assert.are.equal(dm.int64, dm.count_nonzero(dm.tensor({ true, false }), 1).dtype)
    assert.are.equal(dm.bool, dm.randn(2):isclose(dm.randn(2)).dtype)
    assert.are.equal("boolean", type(dm.equal(dm.ones(2), dm.ones(2))))
    assert.are.equal("boolean", type(dm.ones(2):allclose(dm.ones(2))))
    assert.is_true(dm.equal(dm.zeros(0), dm.zeros(0)))
  end)
  it("median keeps integer dtypes; nansum of int64 stays int64; float32 stays float32", function ()
    assert.are.equal(dm.int64, dm.median(dm.tensor({ 3, 1, 2 })).dtype)
    assert.are.equal(dm.int64, (dm.median(dm.tensor({ { 3, 1, 2 } }), 2)).dtype)
    local _, i = dm.median(dm.tensor({ { 3, 1, 2 } }), 2)
    assert.are.equal(dm.int64, i.dtype)
    assert.are.same({ 3 }, i:totable())
    assert.are.equal(dm.int64, dm.nansum(dm.tensor({ 1, 2 })).dtype)
    assert.are.equal(dm.float32, dm.nanmean(dm.randn(3)).dtype)
    local s, m = dm.std_mean(dm.randn(4))
    assert.are.equal(dm.float32, s.dtype); assert.are.equal(dm.float32, m.dtype)
  end)
  it("median of all elements spreads the gradient over ties, as PyTorch", function ()
    local x = dm.tensor({ 1, 2, 2, 1, 2, 0, 0, 0, 3, 3 }, F64):requires_grad_()
    local m = dm.median(x)
    assert.are.equal(1, m:item())
    m:backward()
    assert.are.same({ 0.5, 0, 0, 0.5, 0, 0, 0, 0, 0, 0 }, x.grad:totable())
  end)
  it("median of an empty float tensor is NaN", function ()
    local m = dm.median(dm.zeros(0))
    assert.is_true(m:item() ~= m:item())
  end)
end)

describe("reduce_extra argument errors", function ()
  local x = dm.randn(2, 3)
  local cases = {
    { function () local r = dm.nansum(x, 3); return r end,
      "nansum: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)" },
    { function () local r = dm.nansum(x, 0); return r end, "nansum: dim 0 is invalid (dims are 1-based)" },
    { function () local r = dm.nansum(x, "a"); return r end, "nansum: dim must be an integer or a list of integers, got string" },
    { function () local r = dm.nansum(x, { 1, 1 }); return r end, "nansum: dim 1 appears more than once" },
    { function () local r = dm.nansum(x, 1, { keepdim = true, foo = 1 }); return r end, "nansum: unknown option 'foo'" },
    { function () local r = dm.nansum(x, 1, { dim = 2 }); return r end, "nansum: dim given twice" },
    { function () local r = dm.nansum(x, 1, 2); return r end, "nansum: keepdim must be a boolean, got 2" },
    { function () local r = dm.nansum(x, nil, nil, "f"); return r end, "nansum: dtype must be a deepmoon dtype (dm.float32, ...), got string" },
    { function () local r = dm.nansum(3); return r end, "nansum: self must be a Tensor, got number" },
    { function () local r = dm.nanmean(dm.tensor({ 1, 2 })); return r end,
      "nanmean: expected a floating point tensor, got int64 (use :float())" },
    { function () local r = dm.count_nonzero(x, 1, true); return r end, "count_nonzero: too many arguments" },
    { function () local r = x:isclose(dm.randn(4)); return r end, "isclose: shapes [2 x 3] and [4] do not broadcast" },
    { function () local r = x:isclose(dm.tensor({ 1, 2, 3 })); return r end,
      "isclose: self is float32 but other is int64 (the dtypes must match)" },
    { function () local r = x:isclose(1); return r end, "isclose: other must be a Tensor, got number" },
    { function () local r = x:isclose(x, -1); return r end, "isclose: rtol must be greater than or equal to zero, got -1" },
    { function () local r = x:allclose(x, 0, -0.5); return r end, "allclose: atol must be greater than or equal to zero, got -0.5" },
    { function () local r = x:isclose(x, nil, nil, 1); return r end, "isclose: equal_nan must be a boolean, got 1" },
    { function () local r = dm.equal(x, {}); return r end, "equal: other must be a Tensor, got table" },
    { function () local r = dm.aminmax(dm.zeros(0, 3), { dim = 1 }); return r end,
      "aminmax: cannot compute aminmax over an empty dimension (the operation has no identity; input of size [0 x 3])" },
    { function () local r = dm.aminmax(x, { dim = { 1, 2 } }); return r end, "aminmax: dim must be an integer, got table" },
    { function () local r = dm.std_mean(x, 1, false, true, 5); return r end, "std_mean: too many arguments" },
    { function () local r = dm.var_mean(x, { correction = 1, unbiased = true }); return r end,
      "var_mean: give unbiased or correction, not both" },
    { function () local r = dm.var_mean(x, { correction = 0.5 }); return r end, "var_mean: correction must be an integer, got 0.5" },
    { function () local r = dm.std_mean(dm.tensor({ 1, 2 })); return r end,
      "std_mean: expected a floating point tensor, got int64 (use :float())" },
    { function () local r = dm.std_mean(x, -3); return r end,
      "std_mean: dim -3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)" },
    { function () local r = dm.median(dm.zeros(0, 2), 1); return r end,
      "median: cannot take the median over dim 1 of size 0 (input of size [0 x 2])" },
    { function () local r = dm.median(dm.tensor({ true })); return r end, "median: not implemented for bool tensors" },
    { function () local r = dm.nanmedian(x, { 1 }); return r end, "nanmedian: dim must be an integer, got table" },
    { function () local r = dm.median(x, nil, true); return r end, "median: keepdim needs a dim" },
    { function () local r = dm.quantile(dm.tensor({ 1, 2 }), 0.5); return r end,
      "quantile: expected a floating point tensor (float32 or float64), got int64 (use :float())" },
    { function () local r = dm.quantile(x, 1.5); return r end, "quantile: q values must be in the range [0, 1], got 1.5" },
    { function () local r = dm.nanquantile(x, dm.tensor({ 0.5, 0 / 0 })); return r end,
      "nanquantile: q values must be in the range [0, 1], got " },
    { function () local r = dm.quantile(x, "a"); return r end, "quantile: q must be a number or a 1-D Tensor, got string" },
    { function () local r = dm.quantile(x, dm.zeros(1, 1)); return r end,
      "quantile: q must be a number or a 1-D tensor, got a tensor of size [1 x 1]" },
    { function () local r = dm.quantile(x, dm.zeros(1, F64)); return r end,
      "quantile: q is float64 but self is float32 (the dtypes must match)" },
    { function () local r = dm.quantile(x, 0.5, 1, { interpolation = "cubic" }); return r end,
      "quantile: interpolation must be 'linear', 'lower', 'higher', 'midpoint' or 'nearest', got 'cubic'" },
    { function () local r = dm.quantile(dm.zeros(0), 0.5); return r end, "quantile: the input must be non-empty, got size [0]" },
    { function () local r = dm.quantile(x, 0.5, 3); return r end,
      "quantile: dim 3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)" },
    { function () local r = dm.cummax(x); return r end, "cummax: dim is required" },
    { function () local r = dm.cummin(x, { 1 }); return r end, "cummin: dim must be an integer, got table" },
    { function () local r = dm.cummin(x, -3); return r end,
      "cummin: dim -3 out of range for a tensor of 2 dimensions (expected 1 to 2, or -2 to -1)" },
    { function () local r = dm.logcumsumexp(dm.tensor({ 1, 2 }), 1); return r end,
      "logcumsumexp: expected a floating point tensor, got int64 (use :float())" },
    { function () local r = dm.logcumsumexp(x); return r end, "logcumsumexp: dim is required" },
    { function () local r = dm.msort(x, 1); return r end, "msort: too many arguments (expected msort(self))" },
    { function () local r = dm.msort("x"); return r end, "msort: self must be a Tensor, got string" },
    { function () local t = dm.randn(2); t:free(); local r = dm.nansum(t); return r end,
      "nansum: self is a released tensor" },
    { function () local t = dm.randn(2); t:free(); local r = dm.randn(2):isclose(t); return r end,
      "isclose: other is a released tensor" },
    { function () local t = dm.randn(2); t:free(); local r = dm.quantile(dm.randn(2), t); return r end,
      "quantile: q is a released tensor" },
    { function () local r = dm.quantile(dm.tensor({ true }), dm.tensor({ true })); return r end,
      "quantile: expected a floating point tensor (float32 or float64), got bool (use :float())" },
  }
  for i, c in ipairs(cases) do
    it(c[2], function ()
      local ok, msg = pcall(c[1])
      assert.is_false(ok)
      assert.is_string(msg)
      assert(msg:find(c[2], 1, true), ("case %d: got %q"):format(i, msg))
      -- raised at the caller's level: the message starts with this file's name
      assert(msg:find("reduce_extra_spec.lua:", 1, true), ("case %d: no caller position in %q"):format(i, msg))
    end)
  end

  it("hostile tables are refused with Lua errors, never run", function ()
    local boom = setmetatable({}, {
      __index = function () error("touched __index") end,
      __len = function () error("touched __len") end,
      __pairs = function () error("touched __pairs") end,
    })
    for _, name in ipairs({ "nansum", "nanmean", "count_nonzero", "isclose", "allclose", "equal",
                            "aminmax", "std_mean", "var_mean", "median", "nanmedian", "quantile",
                            "nanquantile", "cummax", "cummin", "logcumsumexp", "msort" }) do
      for _, args in ipairs({ { boom }, { x, boom }, { x, 1, boom }, { x, { boom } } }) do
        local ok, msg = pcall(dm[name], table.unpack(args))
        assert.is_false(ok)
        assert.is_string(msg)
        assert(not msg:find("touched", 1, true), name .. ": " .. msg)
        assert(msg:find(name .. ":", 1, true), name .. ": " .. msg)
      end
    end
  end)
end)
