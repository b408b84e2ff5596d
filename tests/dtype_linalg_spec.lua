-- matmul, linear, cat/stack, index_select, optimizers and random fills on float64 and int64
-- tensors, against PyTorch 1.13 (tests/fixtures/dtype_linalg_cases.lua; regenerate with
-- /usr/bin/python3 tests/fixtures/gen_dtype_linalg.py).

local dm = require "deepmoon"
local optim = require "deepmoon.optim"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fx = dofile(dir .. "fixtures/dtype_linalg_cases.lua")
local err = dofile(dir .. "helpers/util.lua").err

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local F64 = { dtype = dm.float64 }

local function close (want, got, tol, what)
  assert.are.equal(#want, #got, what .. ": element count")
  for i = 1, #want do
    local w, g = want[i], got[i]
    if math.abs(g - w) > tol * math.max(1, math.abs(w)) then
      error(string.format("%s: element %d is %.17g, want %.17g", what, i, g, w), 2)
    end
  end
end

describe("float64 and int64 linear algebra", function ()
  it("matmul in every form matches PyTorch in float64", function ()
    for k, c in ipairs(fx.matmul) do
      local a = dm.tensor(c.a, F64):view(c.sa)
      local b = dm.tensor(c.b, F64):view(c.sb)
      local out = a:matmul(b)
      assert.are.equal(dm.float64, out.dtype)
      assert.are.same(c.sout, out:size())
      close(c.out, out:values(), 1e-12, "matmul case " .. k)
    end
  end)

  it("matmul of a transposed float64 view", function ()
    local c = fx.matmul[4]                       -- [3 x 5] @ [5 x 4]
    local a = dm.tensor(c.a, F64):view(c.sa):t():contiguous():t()
    assert.is_false(a:is_contiguous())
    close(c.out, a:matmul(dm.tensor(c.b, F64):view(c.sb)):values(), 1e-12, "transposed")
  end)

  it("int64 matmul is exact", function ()
    local c = fx.matmul_i64[1]
    local a = dm.tensor(c.a, { dtype = dm.int64 }):view(2, 2)
    local b = dm.tensor(c.b, { dtype = dm.int64 }):view(2, 2)
    local out = a:matmul(b)
    assert.are.equal(dm.int64, out.dtype)
    assert.are.same(c.out, out:values())
    assert.are.equal("integer", math.type(out:values()[1]))
  end)

  it("linear in float64 matches PyTorch", function ()
    local c = fx.linear[1]
    local y = dm.linear(dm.tensor(c.x, F64):view(4, 3), dm.tensor(c.w, F64):view(5, 3),
                        dm.tensor(c.b, F64))
    assert.are.equal(dm.float64, y.dtype)
    close(c.out, y:values(), 1e-12, "linear")
  end)

  it("records the same grad_fn as float32", function ()
    local a = dm.randn(2, 3, F64):requires_grad_()
    local y = a:matmul(dm.randn(3, 2, F64))
    assert.are.equal(tostring(dm.randn(2, 3):requires_grad_():matmul(dm.randn(3, 2)).grad_fn),
                     tostring(y.grad_fn))
  end)

  it("nn.Linear's fast path takes float64 weights and names a dtype mismatch", function ()
    local l = dm.nn.Linear(3, 2)
    assert.are.equal("linear: expected input and weight of one dtype, got input float64 "
                     .. "[4 x 3] and weight float32 [2 x 3] (convert one with :to())",
                     err(l, dm.ones(4, 3, F64)))
    local y = require("deepmoon.core")._try_linear(dm.ones(4, 3, F64), dm.ones(2, 3, F64))
    assert.are.equal(dm.float64, y.dtype)
    assert.are.same({ 3, 3, 3, 3, 3, 3, 3, 3 }, y:values())
  end)

  it("mixed dtypes raise naming both", function ()
    assert.are.equal("matmul: expected a and b of one dtype, got a float32 [2 x 3] and b "
                     .. "float64 [3 x 2] (convert one with :to())",
                     err(dm.matmul, dm.ones(2, 3), dm.ones(3, 2, F64)))
    assert.are.equal("linear: expected input and weight of one dtype, got input float64 "
                     .. "[2 x 3] and weight float32 [4 x 3] (convert one with :to())",
                     err(dm.linear, dm.ones(2, 3, F64), dm.ones(4, 3)))
  end)
end)

describe("float64 and int64 joining", function ()
  it("cat promotes as PyTorch", function ()
    local dts = { bool = dm.bool, uint8 = dm.uint8, int64 = dm.int64, float32 = dm.float32,
                  float64 = dm.float64 }
    for _, c in ipairs(fx.cat) do
      local a = dm.ones(2, { dtype = dts[c.a] })
      local b = dm.ones(2, { dtype = dts[c.b] })
      assert.are.equal(dts[c.out], dm.cat({ a, b }).dtype, c.a .. " + " .. c.b)
      assert.are.equal(dts[c.out], dm.stack({ a, b }).dtype, c.a .. " + " .. c.b)
    end
  end)

  it("cat and stack keep int64 values exact", function ()
    local big = (1 << 53) + 1
    local a = dm.tensor({ big, 2 }, { dtype = dm.int64 })
    local b = dm.tensor({ 3, -big }, { dtype = dm.int64 })
    assert.are.same({ big, 2, 3, -big }, dm.cat({ a, b }):values())
    assert.are.same({ big, 3, 2, -big }, dm.stack({ a, b }, 2):values())
  end)

  it("index_select takes int64 indices (1-based) on any dtype", function ()
    local t = dm.tensor({ 10, 20, 30 }, { dtype = dm.int64 })
    local idx = dm.tensor({ 3, 1, 3 }, { dtype = dm.int64 })
    local r = t:index_select(1, idx)
    assert.are.equal(dm.int64, r.dtype)
    assert.are.same({ 30, 10, 30 }, r:values())
    local d = dm.tensor({ 0.1, 0.2, 0.3 }, F64):index_select(1, { 2 })
    assert.are.same({ 0.2 }, d:values())
    assert.are.equal("index_select: expected an int64 index tensor, got float64",
                     err(t.index_select, t, 1, dm.tensor({ 1 }, F64)))
  end)
end)

describe("float64 optimizers", function ()
  it("SGD, Adam and AdamW match PyTorch on float64 parameters", function ()
    local make = { sgd = optim.SGD, adam = optim.Adam, adamw = optim.AdamW }
    for _, c in ipairs(fx.optim) do
      local p = dm.tensor(c.init, F64):view(3, 4):clone():requires_grad_()
      local opt = make[c.name]({ p }, c.opts)
      for s = 1, #c.grads do
        p.grad = dm.tensor(c.grads[s], F64):view(3, 4)
        opt:step()
        assert.are.equal(dm.float64, p.dtype)
        close(c.after[s], p:values(), 1e-13, c.name .. " step " .. s)
      end
    end
  end)
end)

describe("float64 and int64 random numbers", function ()
  it("randint is int64 by default, exact beyond 2^53", function ()
    local lo = (1 << 60) + 1
    local r = dm.randint(lo, lo + 4, { 100 })
    assert.are.equal(dm.int64, r.dtype)
    for _, v in ipairs(r:values()) do
      assert.are.equal("integer", math.type(v))
      assert.is_true(v >= lo and v < lo + 4)
    end
    assert.are.equal(dm.float32, dm.randint(5, { 3 }, { dtype = dm.float32 }).dtype)
  end)

  it("randperm is an int64 permutation of 1..n", function ()
    local p = dm.randperm(6)
    assert.are.equal(dm.int64, p.dtype)
    local v = p:values()
    table.sort(v)
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, v)
  end)

  it("rand, randn and their _like forms draw in double for float64", function ()
    local function has_double (t)
      for _, v in ipairs(t:values()) do
        if string.pack("f", v) and string.unpack("f", string.pack("f", v)) ~= v then return true end
      end
      return false
    end
    local r = dm.rand(100, F64)
    assert.are.equal(dm.float64, r.dtype)
    assert.is_true(has_double(r))
    assert.is_true(has_double(dm.randn(100, F64)))
    assert.is_true(has_double(dm.rand_like(r)))
    assert.is_true(has_double(dm.randn_like(dm.zeros(100), F64)))
    -- the same seed gives the same float64 numbers
    dm.manual_seed(7)
    local a = dm.rand(5, F64):values()
    dm.manual_seed(7)
    assert.are.same(a, dm.rand(5, F64):values())
  end)

  it("in-place fills and init functions on float64", function ()
    local t = dm.empty(50, 20, F64)
    t:uniform_(-1, 1)
    t:normal_(0, 1)
    dm.nn.init.kaiming_uniform_(t)
    dm.nn.init.constant_(t, 0.1)
    assert.are.equal(0.1, t:values()[1])
    assert.are.equal("uniform_: expected a floating point tensor, got int64 (use :float())",
                     err(function () dm.zeros(3, { dtype = dm.int64 }):uniform_() end))
  end)
end)

describe("dtype_linalg memory", function ()
  it("returns to its baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
