-- The dtype a creation function infers from Lua values, as torch.tensor, torch.arange and
-- torch.full infer it from Python's.  A Lua integer (math.type(v) == "integer": 1, not 1.0
-- or 2^3) is a Python int.  Every dtype and printed form below was checked with PyTorch 1.13
-- (/usr/bin/python3):
--   torch.tensor([1, 2])        int64    tensor([1, 2])
--   torch.tensor([1, 2.5])      float32  tensor([1.0000, 2.5000])
--   torch.tensor([True, 1])     int64    tensor([1, 1])
--   torch.tensor([True, 1.5])   float32  tensor([1.0000, 1.5000])
--   torch.tensor([[1, 2], [3, 4.0]])  float32 (one float leaf decides)
--   torch.tensor(5) int64 tensor(5), torch.tensor(5.0) float32 tensor(5.),
--   torch.tensor(True) bool, torch.tensor([]) float32
--   torch.arange(5) int64 tensor([0, 1, 2, 3, 4]), torch.arange(0, 5, 2) int64,
--   torch.arange(0, 1, 0.25) float32, torch.arange(5.0) float32 tensor([0., 1., 2., 3., 4.])
--   torch.full((2,), 7) int64, torch.full((2,), 7.0) float32, torch.full((2,), True) bool
--   torch.full_like(torch.arange(3), 2.5) int64 tensor([2, 2, 2]),
--   torch.full_like(torch.zeros(2), 2) float32; linspace, ones: float32
--   with torch.set_default_dtype(torch.float64), the float cases are float64
local dm = require "deepmoon"

collectgarbage(); collectgarbage()
local BASELINE = dm.memory()

local function dt (t) return t.dtype end

describe("dm.tensor infers its dtype from Lua values", function ()
  it("int64 from integers, the default float from any float leaf, bool from booleans", function ()
    assert.are.equal(dm.int64, dt(dm.tensor({ 1, 2 })))
    assert.are.equal(dm.float32, dt(dm.tensor({ 1, 2.5 })))
    assert.are.equal(dm.float32, dt(dm.tensor({ 1.0, 2.0 })))
    assert.are.equal(dm.float32, dt(dm.tensor({ 2 ^ 3 })))          -- ^ gives a float in Lua
    assert.are.equal(dm.bool, dt(dm.tensor({ true, false })))
    assert.are.equal(dm.int64, dt(dm.tensor({ true, 1 })))
    assert.are.same({ 1, 1 }, dm.tensor({ true, 1 }):values())
    assert.are.equal(dm.float32, dt(dm.tensor({ true, 1.5 })))
    assert.are.same({ 1, 1.5 }, dm.tensor({ true, 1.5 }):values())
    assert.are.same({ 1, 0 }, dm.tensor({ true, false }, { dtype = dm.float32 }):values())
    assert.are.equal(dm.float32, dt(dm.tensor({})))
  end)

  it("scans every leaf of a nested table", function ()
    assert.are.equal(dm.int64, dt(dm.tensor({ { 1, 2 }, { 3, 4 } })))
    assert.are.equal(dm.float32, dt(dm.tensor({ { 1, 2 }, { 3, 4.0 } })))
    assert.are.same({ 1, 2, 3, 4 }, dm.tensor({ { 1, 2 }, { 3, 4.0 } }):values())
    assert.are.equal(dm.bool, dt(dm.tensor({ { true }, { false } })))
    assert.are.equal(dm.int64, dt(dm.tensor({ { true }, { 2 } })))
  end)

  it("infers scalars the same way", function ()
    assert.are.equal(dm.int64, dt(dm.tensor(5)))
    assert.are.equal("tensor(5)", tostring(dm.tensor(5)))
    assert.are.equal(dm.float32, dt(dm.tensor(5.0)))
    assert.are.equal("tensor(5.)", tostring(dm.tensor(5.0)))
    assert.are.equal(dm.bool, dt(dm.tensor(true)))
    assert.are.equal(dm.int64, dt(dm.tensor(1 << 62)))
    assert.are.equal((1 << 62) + 1, dm.tensor((1 << 62) + 1):item())    -- exact, not via float
  end)

  it("lets an explicit dtype win and keeps a tensor's dtype", function ()
    assert.are.equal(dm.float32, dt(dm.tensor({ 1, 2 }, { dtype = dm.float32 })))
    assert.are.equal("tensor([1., 2.])", tostring(dm.tensor({ 1, 2 }, { dtype = dm.float32 })))
    assert.are.equal(dm.int64, dt(dm.tensor({ 1.0, 2.0 }, { dtype = dm.int64 })))
    assert.are.equal(dm.int64, dt(dm.tensor(dm.arange(3))))
    assert.are.equal(dm.float64, dt(dm.tensor(dm.zeros(2):double())))
    assert.are.equal(dm.float64, dt(dm.tensor(dm.arange(3), { dtype = dm.float64 })))
  end)

  it("prints integer data as PyTorch does", function ()
    assert.are.equal("tensor([1, 2, 3])", tostring(dm.tensor({ 1, 2, 3 })))
    assert.are.equal("tensor([1.0000, 2.5000])", tostring(dm.tensor({ 1, 2.5 })))
    assert.are.equal("tensor([[1., 2.],\n        [3., 4.]])",
                     tostring(dm.tensor({ { 1, 2 }, { 3, 4.0 } })))
  end)

  it("explains the fix when integer data reaches a float-only op", function ()
    assert.has_error(function () dm.tensor({ 1, 2 }):mean() end,
                     "mean: expected a floating point tensor, got int64 (use :float())")
    assert.has_error(function () dm.tensor({ 1, 2 }, { requires_grad = true }) end,
                     "requires_grad_: only tensors of floating point dtype can require " ..
                     "gradients (got int64; convert with :float())")
  end)
end)

describe("arange and full infer as PyTorch does", function ()
  it("arange: int64 when every bound is an integer, else the default float", function ()
    assert.are.equal(dm.int64, dt(dm.arange(5)))
    assert.are.equal("tensor([0, 1, 2, 3, 4])", tostring(dm.arange(5)))
    assert.are.equal(dm.int64, dt(dm.arange(0, 5, 2)))
    assert.are.same({ 0, 2, 4 }, dm.arange(0, 5, 2):values())
    assert.are.equal(dm.float32, dt(dm.arange(0, 1, 0.25)))
    assert.are.equal("tensor([0.0000, 0.2500, 0.5000, 0.7500])", tostring(dm.arange(0, 1, 0.25)))
    assert.are.equal(dm.float32, dt(dm.arange(5.0)))
    assert.are.equal("tensor([0., 1., 2., 3., 4.])", tostring(dm.arange(5.0)))
    assert.are.equal(dm.float32, dt(dm.arange(5, { dtype = dm.float32 })))
  end)

  it("full: the fill value's kind gives the dtype; full_like keeps its tensor's", function ()
    assert.are.equal(dm.int64, dt(dm.full({ 2 }, 7)))
    assert.are.equal("tensor([7, 7])", tostring(dm.full({ 2 }, 7)))
    assert.are.equal(dm.float32, dt(dm.full({ 2 }, 7.0)))
    assert.are.equal("tensor([7., 7.])", tostring(dm.full({ 2 }, 7.0)))
    assert.are.equal(dm.bool, dt(dm.full({ 2 }, true)))
    assert.are.equal("tensor([True, True])", tostring(dm.full({ 2 }, true)))
    assert.are.equal(dm.float64, dt(dm.full({ 2 }, 7, { dtype = dm.float64 })))
    assert.are.equal("tensor([2, 2, 2])", tostring(dm.full_like(dm.arange(3), 2.5)))
    assert.are.equal(dm.float32, dt(dm.full_like(dm.zeros(2), 2)))
  end)

  it("zeros, ones, linspace stay in the default float dtype", function ()
    assert.are.equal(dm.float32, dt(dm.zeros(2)))
    assert.are.equal(dm.float32, dt(dm.ones(2)))
    assert.are.equal(dm.float32, dt(dm.linspace(0, 1, 3)))
  end)

  it("follow set_default_dtype for their float cases", function ()
    local prev = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    local ok, err = pcall(function ()
      assert.are.equal(dm.float64, dt(dm.tensor({ 1, 2.5 })))
      assert.are.equal(dm.int64, dt(dm.tensor({ 1, 2 })))
      assert.are.equal(dm.float64, dt(dm.arange(5.0)))
      assert.are.equal(dm.int64, dt(dm.arange(5)))
      assert.are.equal(dm.float64, dt(dm.full({ 2 }, 7.0)))
    end)
    dm.set_default_dtype(prev)
    assert(ok, err)
  end)
end)

describe("linspace", function ()
  it("gives the default dtype, or {dtype =}, with PyTorch's values (checked against 1.13)", function ()
    -- torch.set_default_dtype(torch.float64); torch.linspace(0, 1, 7).tolist()
    local want = { 0.0, 0.16666666666666666, 0.3333333333333333, 0.5, 0.6666666666666667,
                   0.8333333333333334, 1.0 }
    local prev = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    local ok, err = pcall(function ()
      local t = dm.linspace(0, 1, 7)
      assert.are.equal(dm.float64, t.dtype)
      assert.are.same(want, t:totable())
    end)
    dm.set_default_dtype(prev)
    assert(ok, err)
    assert.are.equal(dm.float32, dm.linspace(0, 1, 3).dtype)
    assert.are.same({ 0.0, 0.5, 1.0 }, dm.linspace(0, 1, 3, { dtype = dm.float64 }):totable())
    assert.is_true(dm.linspace(0, 1, 3, { requires_grad = true }).requires_grad)
  end)
end)

describe("dtype inference", function ()
  it("leaves the live-byte counter at its baseline", function ()
    collectgarbage(); collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
