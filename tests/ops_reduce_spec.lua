-- Reductions over several dims (sum, mean, amax/amin, logsumexp, norm), any/all,
-- isnan/isinf/isfinite, nan_to_num, the bitwise and logical ops and the & | ~ // % operators,
-- floor_divide/remainder/fmod, and options tables for the reductions: values, dtypes and
-- gradients against PyTorch 1.13's (fixtures/ops_reduce_cases.lua, made by
-- fixtures/gen_ops_reduce.py), each on a contiguous and a non-contiguous input, and the
-- messages.  Float64 gradients are checked by central differences in tests/c/test_optable.c.

local dm = require "deepmoon"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local cases = dofile(script_dir() .. "fixtures/ops_reduce_cases.lua")

local function dtype_name (t) return (tostring(t.dtype):gsub("^deepmoon%.", "")) end

-- a fixture tensor {sizes, values, dtype} as a deepmoon tensor
local function build (f)
  local n = 1
  for _, s in ipairs(f.sizes) do n = n * s end
  if n == 0 then return dm.zeros(f.sizes, { dtype = dm[f.dtype] }) end
  local v = {}
  for i, e in ipairs(f.values) do v[i] = f.dtype == "bool" and e ~= 0 or e end
  return dm.tensor(v, { dtype = dm[f.dtype] }):view(f.sizes)
end

-- the same values with transposed strides (not contiguous), and the leaf behind it
local function noncontig (t)
  local nd = t:dim()
  local leaf = t:transpose(1, nd):contiguous()
  return leaf:transpose(1, nd), leaf
end

local function check (want, got, what)
  assert.are.equal(want.dtype, dtype_name(got), what .. ": dtype")
  assert.are.same(want.sizes, got:size(), what .. ": shape")
  local g = got:values()
  assert.are.equal(#want.values, #g, what .. ": number of values")
  local tol = want.dtype == "float32" and 2e-6 or 1e-12
  for i, e in ipairs(want.values) do
    local v = g[i]
    if type(v) == "boolean" then v = v and 1 or 0 end
    local ok
    if e ~= e then ok = v ~= v
    elseif e == math.huge or e == -math.huge then ok = v == e
    else ok = math.abs(e - v) <= tol * math.max(1, math.abs(e)) end
    assert(ok, ("%s: value %d: expected %.17g, got %.17g"):format(what, i, e, v))
  end
end

local function run (c, a, b)
  local f = assert(load("local a, b, dm = ...; return " .. c.call, c.name, "t"))
  return f(a, b, dm)
end

describe("ops_reduce fixtures (PyTorch 1.13)", function ()
  for _, c in ipairs(cases) do
    it(c.name .. ": " .. c.call, function ()
      local a, b = build(c.a), c.b and build(c.b)
      check(c.want, run(c, a, b), c.name)
      if c.ga or c.gb then
        if c.ga then a:requires_grad_(true) end
        if b and c.gb then b:requires_grad_(true) end
        local y = run(c, a, b)
        y:mul(build(c.w)):sum():backward()
        if c.ga then check(c.ga, a.grad, c.name .. ": grad a") end
        if c.gb then check(c.gb, b.grad, c.name .. ": grad b") end
      end
    end)
    if #c.a.sizes >= 2 then
      it(c.name .. " (non-contiguous input)", function ()
        local a, leaf = noncontig(build(c.a))
        local b = c.b and build(c.b)
        assert.is_false(a:is_contiguous())
        check(c.want, run(c, a, b), c.name .. " non-contiguous")
        if c.ga then
          a, leaf = noncontig(build(c.a))
          leaf:requires_grad_(true)
          a = leaf:transpose(1, leaf:dim())
          local y = run(c, a, b)
          y:mul(build(c.w)):sum():backward()
          local nd = leaf:dim()
          check(c.ga, leaf.grad:transpose(1, nd):contiguous(), c.name .. ": non-contiguous grad")
        end
      end)
    end
  end
end)

local x = dm.arange(24):view(2, 3, 4):double()

describe("ops_reduce arguments", function ()

  it("takes dims and keepdim positionally or in an options table, alike", function ()
    local s1 = x:sum({ 1, 3 }, true)
    local s2 = x:sum({ dim = { 1, 3 }, keepdim = true })
    local s3 = x:sum({ 1, 3 }, { keepdim = true })
    assert.are.same(s1:totable(), s2:totable())
    assert.are.same(s1:totable(), s3:totable())
    assert.are.same({ 1, 3, 1 }, s1:size())
    assert.are.same(x:sum(2):totable(), x:sum({ dim = 2 }):totable())
    assert.are.same(x:mean(2, true):totable(), x:mean({ dim = 2, keepdim = true }):totable())
    assert.are.same(x:argmax(3, true):totable(), x:argmax({ dim = 3, keepdim = true }):totable())
    assert.are.same(x:argmin(2):totable(), x:argmin({ dim = 2 }):totable())
    local v1, i1 = x:max(1)
    local v2, i2 = x:max({ dim = 1 })
    assert.are.same(v1:totable(), v2:totable())
    assert.are.same(i1:totable(), i2:totable())
    local m1, j1 = x:min(2, true)
    local m2, j2 = x:min({ dim = 2, keepdim = true })
    assert.are.same(m1:totable(), m2:totable())
    assert.are.same(j1:totable(), j2:totable())
    assert.are.same(x:var(2, false, true):totable(),
                    x:var({ dim = 2, correction = 0, keepdim = true }):totable())
    assert.are.same(x:std(1):totable(), x:std({ dim = 1 }):totable())
    assert.are.same(x:var(1, { unbiased = false }):totable(), x:var(1, false):totable())
    assert.are.same(x:softmax(2):totable(), x:softmax({ dim = 2 }):totable())
    assert.are.same(x:log_softmax(-1):totable(), x:log_softmax({ dim = -1 }):totable())
    assert.are.same(x:prod(2):totable(), x:prod({ dim = 2 }):totable())
    assert.are.same(dm.sum(x, { dim = { 2, 3 } }):totable(), x:sum({ 2, 3 }):totable())
    assert.are.same(x:amax({ dim = { 1, 2 }, keepdim = true }):totable(),
                    x:amax({ 1, 2 }, true):totable())
    assert.are.same(x:norm(1, 2):totable(), x:norm({ p = 1, dim = 2 }):totable())
    assert.are.same(x:norm(1, { dim = 2 }):totable(), x:norm({ p = 1, dim = 2 }):totable())
    assert.are.same(x:norm("fro"):item(), x:norm():item())
    assert.are.same(x:any(2, true):totable(), x:any({ dim = 2, keepdim = true }):totable())
    assert.are.same(x:sum({ dim = {} }):item(), x:sum():item())
    assert.are.equal(276, x:sum({ 1, 2, 3 }):item())
    assert.are.equal(276, x:sum({ 3, 1, 2 }):item())
  end)

  it("has the new ops as dm.<name> too", function ()
    for _, n in ipairs({ "amax", "amin", "logsumexp", "norm", "any", "all", "isnan", "isinf",
                         "isfinite", "nan_to_num", "bitwise_and", "bitwise_or", "bitwise_xor",
                         "bitwise_not", "logical_and", "logical_or", "logical_xor",
                         "logical_not", "floor_divide", "remainder", "fmod" }) do
      assert.are.equal("function", type(dm[n]), n)
      assert.are.equal(dm[n], dm.Tensor[n], n)
    end
  end)

  it("names the argument given twice and unknown options", function ()
    assert.has_error(function () return x:sum(1, { dim = 2 }) end, "sum: dim given twice")
    assert.has_error(function () return x:sum(1, true, { keepdim = true }) end,
                     "sum: keepdim given twice")
    assert.has_error(function () return x:sum({ dims = 2 }) end, "sum: unknown option 'dims'")
    assert.has_error(function () return x:mean({ dim = 1, keep = true }) end,
                     "mean: unknown option 'keep'")
    assert.has_error(function () return x:argmax(1, { dim = 2 }) end, "argmax: dim given twice")
    assert.has_error(function () return x:max(1, { dim = 2 }) end, "max: dim given twice")
    assert.has_error(function () return x:var(1, true, { unbiased = false }) end,
                     "var: unbiased given twice")
    assert.has_error(function () return x:var({ dim = 1, foo = 1 }) end,
                     "var: unknown option 'foo'")
    assert.has_error(function () return x:softmax(2, { dim = 2 }) end, "softmax: dim given twice")
    assert.has_error(function () return x:softmax({ keepdim = true }) end,
                     "softmax: unknown option 'keepdim'")
    assert.has_error(function () return x:softmax({}) end, "softmax: dim is required")
    assert.has_error(function () return x:norm(2, { p = 1 }) end, "norm: p given twice")
    assert.has_error(function () return x:norm("nuc") end,
                     "norm: p must be a number, \"fro\", \"inf\" or \"-inf\", got 'nuc'")
    assert.has_error(function () return x:nan_to_num(1, { nan = 2 }) end,
                     "nan_to_num: nan given twice")
    assert.has_error(function () return x:nan_to_num({ inf = 2 }) end,
                     "nan_to_num: unknown option 'inf'")
    assert.has_error(function () return x:argmax({ 1, 2 }) end,
                     "argmax: dim must be one integer, got a list of dims")
    assert.has_error(function () return x:sum({ 1, 1 }) end,
                     "sum: dim 1 appears multiple times in the list of dims")
    assert.has_error(function () return x:sum({ 1, 0 }) end,
                     "sum: dim 0 is invalid (dims are 1-based)")
    assert.has_error(function () return x:sum({ 1, 4 }) end,
                     "sum: dim 4 out of range for a tensor of 3 dimensions (expected 1 to 3, or -3 to -1)")
    assert.has_error(function () return x:sum({ 1, "a" }) end,
                     "sum: dims must be integers, got string")
    assert.has_error(function () return x:amax({ dim = 2.5 }) end,
                     "amax: dims must be integers, got number")
    assert.has_error(function () return x:prod({ 1, 2 }) end,
                     "prod: dim must be one integer, got a list of dims")
  end)

  it("raises PyTorch's errors in deepmoon's words", function ()
    local i = dm.tensor({ 4, -3, 2 })
    local f = dm.tensor({ 1.5, 2 })
    assert.has_error(function () return f & 1 end,
      "bitwise_and: not implemented for float32 tensors (bitwise ops take integer and bool tensors)")
    assert.has_error(function () return i | 1.5 end,
      "bitwise_or: not implemented for float32 tensors (bitwise ops take integer and bool tensors)")
    assert.has_error(function () return ~f end,
      "bitwise_not: not implemented for float32 tensors (bitwise ops take integer and bool tensors)")
    assert.has_error(function () return i // 0 end, "floor_divide: integer division by zero")
    assert.has_error(function () return i % dm.tensor({ 1, 0, 2 }) end,
                     "remainder: integer division by zero")
    assert.has_error(function () return i:fmod(0) end, "fmod: integer division by zero")
    assert.has_error(function () return dm.tensor({ true }) // dm.tensor({ true }) end,
                     "floor_divide: not implemented for bool tensors")
    assert.has_error(function () return i:norm() end,
                     "norm: expected a floating point tensor, got int64 (use :float())")
    assert.has_error(function () return f:logsumexp() end, "logsumexp: dim is required")
    assert.has_error(function () return dm.zeros(0, 3):amax(1) end,
                     "amax: cannot reduce over a dim of size 0 (tensor of size [0 x 3])")
    assert.has_error(function () return i % dm.tensor({ 1, 2 }) end,
      "remainder: shapes [3] and [2] cannot be broadcast (dim 1: 3 vs 2)")
    assert.has_error(function () return dm.remainder(2, 3) end,
                     "remainder: expected at least one tensor")
    assert.has_error(function () return i & "x" end)
  end)

  it("keeps integer division by -1 of the lowest int64 from trapping", function ()
    local t = dm.tensor({ math.mininteger, 7 })
    assert.are.same({ math.mininteger, -7 }, (t // -1):totable())
    assert.are.same({ 0, 0 }, (t % -1):totable())
  end)

  it("gives bool results that hold 0 or 1", function ()
    local t = dm.tensor({ -1 / 0, 1 / 0, 0 / 0, 1.0 })
    assert.are.same({ 1, 1, 0, 0 }, t:isinf():long():totable())
    assert.are.same({ 0, 0, 1, 0 }, t:isnan():long():totable())
    assert.are.same({ 0, 0, 0, 1 }, t:isfinite():long():totable())
    assert.are.same({ 1, 1, 1, 1 }, t:logical_or(t):long():totable())
  end)

  it("gives the gradient of floor_divide as zero", function ()
    local a = dm.tensor({ 1.5, -2.5, 7 }, { requires_grad = true })
    local y = a // 2
    y:sum():backward()
    assert.are.same({ 0, 0, 0 }, a.grad:totable())
  end)

  it("names the nodes as PyTorch", function ()
    local a = dm.tensor({ { 1.5, -2.5 }, { 3, 4 } }, { requires_grad = true })
    assert.are.equal("AmaxBackward0", a:amax(1).grad_fn)
    assert.are.equal("AminBackward0", a:amin().grad_fn)
    assert.are.equal("LogsumexpBackward0", a:logsumexp(2).grad_fn)
    assert.are.equal("NormBackward1", a:norm().grad_fn)
    assert.are.equal("NanToNumBackward0", a:nan_to_num().grad_fn)
    assert.are.equal("FmodBackward1", a:fmod(a).grad_fn)
  end)
end)

describe("ops_reduce_spec", function ()
  it("leaves no live tensor bytes behind", function ()
    x = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
