-- gather, scatter, scatter_add, index_add, bincount, one_hot, unique, sort, argsort, topk,
-- kthvalue, cumsum, cumprod against PyTorch 1.13 (fixtures/ops_index_cases.lua, made by
-- fixtures/gen_ops_index.py: values and input gradients, positions 1-based), their messages,
-- and the sampling functions (multinomial, bernoulli, normal, randint_like).  deepmoon's
-- generator is its own (PCG32, core/rng.c), not PyTorch's Mersenne twister, so the samplers
-- are checked statistically at fixed seeds, with bounds far (> 6 sigma) from the expected
-- values.  Float64 gradients are also checked by central differences in
-- tests/c/test_optable.c.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end
local util = dofile(script_dir() .. "helpers/util.lua")
local cases = dofile(script_dir() .. "fixtures/ops_index_cases.lua")

local function is_spec (v) return type(v) == "table" and v.values ~= nil and v.sizes ~= nil end

-- a fixture tensor: {values, sizes, dtype [, t]}; returns the tensor the op sees and its base
local function make (spec, requires_grad)
  local base = dm.tensor(spec.values, { dtype = dm[spec.dtype] }):view(spec.sizes)
  if requires_grad then base:requires_grad_(true) end
  return spec.t and base:t() or base, base
end

local function dtype_name (t) return (tostring(t.dtype):gsub("^deepmoon%.", "")) end

local function assert_tensor (want, got, tol, what)
  assert(dm._is_tensor(got), what .. ": expected a Tensor, got " .. type(got))
  assert.are.equal(want.dtype, dtype_name(got), what .. ": dtype")
  assert.are.same(want.sizes, got:size(), what .. ": shape")
  local g = got:values()
  assert.are.equal(#want.values, #g, what .. ": number of values")
  for i, e in ipairs(want.values) do
    local v = g[i]
    if type(v) == "boolean" then v = v and 1 or 0 end
    local ok
    if e ~= e then ok = v ~= v
    else ok = math.abs(e - v) <= tol * math.max(1, math.abs(e)) end
    assert(ok, ("%s: value %d: expected %.17g, got %.17g"):format(what, i, e, v))
  end
end

local function tol_of (dt) return dt == "float32" and 1e-6 or 1e-12 end

local function run_case (c, as_method)
  local args, leaves = {}, {}
  for k, a in ipairs(c.args) do
    if is_spec(a) then
      local floating = a.dtype == "float32" or a.dtype == "float64"
      local t, base = make(a, c.grad ~= nil and floating)
      args[k] = t
      if c.grad and floating then leaves[#leaves + 1] = base end
    elseif type(a) == "table" then
      local o = {}
      for key, v in pairs(a) do o[key] = is_spec(v) and make(v) or v end
      args[k] = o
    else
      args[k] = a
    end
  end
  local res
  if c.op:sub(-1) == "_" then
    local self = args[1]
    local r = self[c.op](table.unpack(args, 1, #c.args))
    assert.are.equal(self, r, c.name .. ": the in-place method returns self")
    res = { self }
  elseif as_method then
    local self = args[1]
    res = { self[c.op](table.unpack(args, 1, #c.args)) }
  else
    res = { dm[c.op](table.unpack(args, 1, #c.args)) }
  end
  assert.are.equal(#c.want, #res, c.name .. ": number of results")
  for k, w in ipairs(c.want) do
    assert_tensor(w, res[k], tol_of(w.dtype), ("%s: result %d"):format(c.name, k))
  end
  if c.grad then
    local out = res[1]
    local w = dm.tensor(c.grad.w, { dtype = out.dtype }):view(out:size())
    local loss = (out * w):sum()
    loss:backward()
    for k, want in ipairs(c.grad.want) do
      if want == "none" then
        assert.is_nil(leaves[k].grad, c.name .. ": no gradient for input " .. k)
      else
        assert_tensor(want, leaves[k].grad, 1e-12, ("%s: gradient of input %d"):format(c.name, k))
      end
    end
  end
end

describe("ops_index against PyTorch 1.13", function ()
  for _, c in ipairs(cases) do
    it(c.name, function () run_case(c, false) end)
  end
  it("every op is a Tensor method too", function ()
    for _, c in ipairs(cases) do
      if c.op:sub(-1) ~= "_" and not c.grad then run_case(c, true) end
    end
  end)
end)

local function i64 (v) return dm.tensor(v, { dtype = dm.int64 }) end

describe("ops_index details", function ()
  it("grad_fn names are PyTorch's", function ()
    local x = dm.randn(3, 4):requires_grad_(true)
    local i = i64({ { 1, 2, 3, 1 } })
    assert.are.equal("GatherBackward0", x:gather(1, i).grad_fn)
    assert.are.equal("ScatterBackward0", x:scatter(1, i, 0).grad_fn)
    assert.are.equal("ScatterAddBackward0", x:scatter_add(1, i, dm.ones(1, 4)).grad_fn)
    assert.are.equal("IndexAddBackward0", x:index_add(1, i64({ 2 }), dm.ones(1, 4)).grad_fn)
    assert.are.equal("SortBackward0", (x:sort()).grad_fn)
    assert.are.equal("TopkBackward0", (x:topk(2)).grad_fn)
    assert.are.equal("KthvalueBackward0", (x:kthvalue(2)).grad_fn)
    assert.are.equal("CumsumBackward0", x:cumsum(1).grad_fn)
    assert.are.equal("CumprodBackward0", x:cumprod(2).grad_fn)
  end)

  it("nn.functional.one_hot is dm.one_hot", function ()
    local y = nn.functional.one_hot(i64({ 2, 1 }), 3)
    assert.are.same({ 0, 1, 0, 1, 0, 0 }, y:values())
    assert.are.equal(dm.int64, y.dtype)
  end)

  it("cumsum {dtype =} converts the input first", function ()
    local y = dm.tensor({ 1, 2, 3 }, { dtype = dm.int64 }):cumsum(1, { dtype = dm.float64 })
    assert.are.equal(dm.float64, y.dtype)
    assert.are.same({ 1, 3, 6 }, y:values())
  end)

  it("scatter_ on a leaf that requires grad is refused, as PyTorch", function ()
    local x = dm.zeros(3):requires_grad_(true)
    assert.are.equal("scatter_: a leaf Variable that requires grad is being used in an in-place "
      .. "operation.", util.err(function () x:scatter_(1, i64({ 1 }), 1) end))
  end)

  it("argsort gives the sort's indices", function ()
    local x = dm.tensor({ 0.3, -2, 5, 1 })
    local _, i = x:sort({ descending = true })
    assert.are.same(i:values(), x:argsort({ descending = true }):values())
    assert.are.same({ 3, 4, 1, 2 }, i:values())
  end)

  it("bincount and multinomial take non-contiguous inputs", function ()
    local l = dm.tensor({ { 1, 9 }, { 3, 9 }, { 3, 9 } }, { dtype = dm.int64 }):select(2, 1)
    assert.is_false(l:is_contiguous())
    assert.are.same({ 1, 0, 2 }, dm.bincount(l):values())
    local p = dm.tensor({ { 0.0, 1.0 }, { 1.0, 0.0 } }):t()      -- rows {0, 1} and {1, 0}
    assert.is_false(p:is_contiguous())
    assert.are.same({ { 2 }, { 1 } }, dm.multinomial(p, 1):totable())
  end)

  it("sort positional forms: sort(dim, descending)", function ()
    local v = dm.tensor({ { 1, 3, 2 } }):sort(2, true)
    assert.are.same({ 3, 2, 1 }, v:values())
  end)
end)

describe("ops_index messages", function ()
  local function xm () return dm.zeros(4), dm.zeros(2, 3) end
  it("gather", function ()
    local x, m = xm()
    assert.are.equal("gather: index [2 x 3] has 2 dims but input [4] has 1",
      util.err(function () x:gather(1, i64({ { 1, 1, 1 }, { 1, 1, 1 } })) end))
    assert.are.equal("gather: index 5 is out of bounds for dim 1 with size 4",
      util.err(function () x:gather(1, i64({ 5 })) end))
    assert.are.equal("gather: index 0 is out of bounds for dim 1 with size 4",
      util.err(function () x:gather(1, i64({ 0 })) end))
    assert.are.equal("gather: index -1 is out of bounds for dim 1 with size 4",
      util.err(function () x:gather(1, i64({ -1 })) end))
    assert.are.equal("gather: expected an int64 index tensor, got float32",
      util.err(function () x:gather(1, dm.tensor({ 1.0 })) end))
    assert.are.equal("gather: index [3 x 1] is larger than input [2 x 3] at dim 1 (only dim 2 "
      .. "may differ)", util.err(function () m:gather(2, i64({ { 1 }, { 1 }, { 1 } })) end))
  end)
  it("scatter, scatter_add, index_add", function ()
    local x, m = xm()
    assert.are.equal("scatter: expected src of the input's dtype float32, got float64",
      util.err(function () x:scatter(1, i64({ 1 }), dm.zeros(1, { dtype = dm.float64 })) end))
    assert.are.equal("scatter_: reduce must be \"add\" or \"multiply\", got max",
      util.err(function () x:scatter_(1, i64({ 1 }), 2, { reduce = "max" }) end))
    assert.are.equal("scatter: unknown option 'reduc'",
      util.err(function () x:scatter(1, i64({ 1 }), 2, { reduc = "add" }) end))
    assert.are.equal("scatter_add: index 9 is out of bounds for dim 1 with size 4",
      util.err(function () x:scatter_add(1, i64({ 9 }), dm.ones(1)) end))
    assert.are.equal("scatter_add: index [3] is larger than src [2] at dim 1",
      util.err(function () x:scatter_add(1, i64({ 1, 2, 3 }), dm.ones(2)) end))
    assert.are.equal("index_add_: index 5 is out of bounds for dim 1 with size 4",
      util.err(function () x:index_add_(1, i64({ 5 }), dm.ones(1)) end))
    assert.are.equal("index_add: source [3] does not fit input [4] with 2 indices along dim 1 "
      .. "(expected the input's shape with 2 at dim 1)",
      util.err(function () x:index_add(1, i64({ 1, 2 }), dm.ones(3)) end))
    local r = dm.tensor({ 1.0 }):requires_grad_(true) * 1
    assert.are.equal("scatter: the derivative with reduce='add' is not implemented (as in "
      .. "PyTorch)", util.err(function () r:scatter(1, i64({ 1 }), 1, { reduce = "add" }) end))
  end)
  it("bincount, one_hot", function ()
    local x, m = xm()
    assert.are.equal("bincount: labels are 1-based (1 .. C), got 0 at position 2",
      util.err(function () dm.bincount(i64({ 1, 0 })) end))
    assert.are.equal("bincount: labels are 1-based (1 .. C), got -3 at position 1",
      util.err(function () dm.bincount(i64({ -3 })) end))
    assert.are.equal("bincount: input must be 1-D, got [1 x 2]",
      util.err(function () dm.bincount(i64({ { 1, 2 } })) end))
    assert.are.equal("bincount: weights [3] should have the input's length, input [2]",
      util.err(function () dm.bincount(i64({ 1, 2 }), { weights = dm.ones(3) }) end))
    assert.are.equal("bincount: expected an int64 labels tensor, got float32",
      util.err(function () dm.bincount(dm.ones(2)) end))
    assert.are.equal("one_hot: labels are 1-based (1 .. C), got 0 at position 1",
      util.err(function () dm.one_hot(i64({ 0 }), 3) end))
    assert.are.equal("one_hot: class value 4 is larger than num_classes 3",
      util.err(function () dm.one_hot(i64({ 4 }), 3) end))
  end)
  it("sort, topk, kthvalue, unique, cumsum", function ()
    local x, m = xm()
    assert.are.equal("topk: k (5) is out of range for dim 1 of input [4] (size 4)",
      util.err(function () x:topk(5) end))
    assert.are.equal("kthvalue: k (0) is out of range for dim 1 of input [4] (k must be in "
      .. "1 .. 4)", util.err(function () x:kthvalue(0) end))
    assert.are.equal("sort: unknown option 'descend'",
      util.err(function () x:sort({ descend = true }) end))
    assert.matches("sort: dim 3 out of range", util.err(function () m:sort(3) end), 1, true)
    assert.are.equal("unique: unknown option 'return_index'",
      util.err(function () dm.unique(x, { return_index = true }) end))
    assert.matches("cumsum: dim 0 is invalid", util.err(function () x:cumsum(0) end), 1, true)
  end)
end)

describe("sampling", function ()
  it("multinomial with replacement follows the probabilities", function ()
    local g = dm.Generator(11)
    local p = dm.tensor({ 0.1, 0.2, 0.0, 0.7 })
    local n = 20000
    local s = dm.multinomial(p, n, { replacement = true, generator = g })
    assert.are.equal(dm.int64, s.dtype)
    assert.are.same({ n }, s:size())
    local c = dm.bincount(s, { minlength = 4 }):values()
    assert.are.equal(0, c[3])                       -- a zero probability is never drawn
    -- binomial sd <= sqrt(n / 4) = 71; bounds at 7 sd
    for k, q in ipairs({ 0.1, 0.2, 0, 0.7 }) do
      assert(math.abs(c[k] - q * n) < 500, ("category %d: %d of %d"):format(k, c[k], n))
    end
  end)

  it("multinomial without replacement: distinct, and the first draw follows p", function ()
    local g = dm.Generator(3)
    local p = dm.tensor({ { 1.0, 2, 3, 4 }, { 4, 0, 0, 1 } })      -- unnormalised rows
    local s = p:multinomial(2, { generator = g })
    assert.are.same({ 2, 2 }, s:size())
    local first = { 0, 0, 0, 0 }
    local n = 4000
    local pr = dm.tensor({ 1.0, 2, 3, 4 })
    for _ = 1, n do
      local v = dm.multinomial(pr, 4, { generator = g }):values()
      local seen = {}
      for _, c in ipairs(v) do assert(not seen[c], "a category drawn twice"); seen[c] = true end
      first[v[1]] = first[v[1]] + 1
    end
    for k = 1, 4 do
      assert(math.abs(first[k] - k / 10 * n) < 220, ("first draw %d: %d"):format(k, first[k]))
    end
    -- the row with two nonzero categories draws both of them
    local r = dm.multinomial(dm.tensor({ 4.0, 0, 0, 1 }), 2, { generator = g }):values()
    table.sort(r)
    assert.are.same({ 1, 4 }, r)
  end)

  it("multinomial messages", function ()
    assert.are.equal("multinomial: cannot sample 5 samples without replacement from 4 categories",
      util.err(function () dm.multinomial(dm.ones(4), 5) end))
    assert.are.equal("multinomial: probs hold inf, nan or a negative value (-1 in row 1)",
      util.err(function () dm.multinomial(dm.tensor({ 1.0, -1 }), 1) end))
    assert.are.equal("multinomial: probs hold inf, nan or a negative value (inf in row 2)",
      util.err(function () dm.multinomial(dm.tensor({ { 1.0, 1 }, { 1 / 0, 1 } }), 1) end))
    assert.are.equal("multinomial: probs hold inf, nan or a negative value (nan in row 1)",
      util.err(function () dm.multinomial(dm.tensor({ 0 / 0, 1 }), 1) end))
    assert.are.equal("multinomial: row 2 of probs sums to 0 (invalid distribution)",
      util.err(function () dm.multinomial(dm.tensor({ { 1.0, 1 }, { 0, 0 } }), 1) end))
    assert.are.equal("multinomial: probs must be 1-D or 2-D, got [1 x 1 x 2]",
      util.err(function () dm.multinomial(dm.ones(1, 1, 2), 1) end))
  end)

  it("bernoulli and bernoulli_ with a tensor of probabilities", function ()
    local g = dm.Generator(5)
    local p = dm.tensor({ 0, 0.25, 1 }, { dtype = dm.float64 }):view(1, 3):expand(4000, 3)
    local b = dm.bernoulli(p, { generator = g })
    assert.are.equal(dm.float64, b.dtype)
    local m = b:mean(1):values()
    assert.are.equal(0, m[1])
    assert.are.equal(1, m[3])
    assert(math.abs(m[2] - 0.25) < 0.05, "mean " .. m[2])     -- sd 0.0068
    local t = dm.zeros(4000, 2, { dtype = dm.int64 })
    assert.are.equal(t, t:bernoulli_(dm.tensor({ 0.5, 0.9 }), { generator = g }))
    local f = t:float():mean(1):values()
    assert(math.abs(f[1] - 0.5) < 0.06 and math.abs(f[2] - 0.9) < 0.04, f[1] .. " " .. f[2])
    local u = dm.zeros(2000)
    u:bernoulli_(0.3, { generator = g })
    assert(math.abs(u:mean():item() - 0.3) < 0.07)
    assert.are.equal("bernoulli: probabilities must be in [0, 1], got 1.5",
      util.err(function () dm.bernoulli(dm.tensor({ 0.5, 1.5 })) end))
  end)

  it("normal: the four forms", function ()
    local g = dm.Generator(9)
    local n = 20000
    local a = dm.normal(dm.full({ n }, 3.0), dm.full({ n }, 2.0), { generator = g })
    assert(math.abs(a:mean():item() - 3) < 0.1 and math.abs(a:std():item() - 2) < 0.1)
    local b = dm.normal(dm.full({ n }, -1.0, { dtype = dm.float64 }), 0.5, { generator = g })
    assert.are.equal(dm.float64, b.dtype)
    assert(math.abs(b:mean():item() + 1) < 0.03 and math.abs(b:std():item() - 0.5) < 0.03)
    local c = dm.normal(4, dm.full({ 2, n / 2 }, 0.1), { generator = g })
    assert.are.same({ 2, n / 2 }, c:size())
    assert(math.abs(c:mean():item() - 4) < 0.01)
    local d = dm.normal(0, 1, { 100, 200 }, { generator = g })
    assert.are.same({ 100, 200 }, d:size())
    assert.are.equal(dm.float32, d.dtype)
    assert(math.abs(d:mean():item()) < 0.05 and math.abs(d:std():item() - 1) < 0.05)
    -- the same seed, the same numbers
    local e1 = dm.normal(dm.zeros(5), 1, { generator = dm.Generator(1) }):values()
    local e2 = dm.normal(dm.zeros(5), 1, { generator = dm.Generator(1) }):values()
    assert.are.same(e1, e2)
    assert.are.equal("normal: std must be >= 0 everywhere, got -1",
      util.err(function () dm.normal(dm.zeros(2), dm.tensor({ 1.0, -1 })) end))
  end)

  it("randint_like", function ()
    local g = dm.Generator(2)
    local t = dm.zeros(3000, { dtype = dm.int64 })
    local r = dm.randint_like(t, 2, 6, { generator = g })
    assert.are.equal(dm.int64, r.dtype)
    assert.are.same({ 3000 }, r:size())
    local lo, hi = r:min():item(), r:max():item()
    assert.are.equal(2, lo)
    assert.are.equal(5, hi)
    local f = dm.randint_like(dm.zeros(2, 2), 3, { generator = g })
    assert.are.equal(dm.float32, f.dtype)
    assert(f:max():item() <= 2 and f:min():item() >= 0)
    assert.are.equal("randint: high (1) must be greater than low (1)",
      util.err(function () dm.randint_like(t, 1, 1) end))
  end)
end)

describe("ops_index memory", function ()
  it("the live-byte counter is back at its baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
