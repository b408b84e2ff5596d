-- The cpu device's two-thread sections (core/backend/cpu/par.c): with dm.set_num_threads(2)
-- a convolution over a batch of two images or more (forward, input gradient, weight
-- gradient) and a max-pool over enough planes run in two halves of the batch at once.  Their
-- results against the cpu:ref device (the defining sums in double), float32 and float64,
-- odd batches (halves of unequal size), groups, the transposed convolution, and the same
-- values as one thread gives.
local dm = require "deepmoon"
local F = require "deepmoon.nn.functional"

local function close (got, want, tol)
  local d = (got - want):abs():max():item()
  local scale = want:abs():max():item()
  assert(d <= tol * (1 + scale), ("max |got - want| = %g (scale %g)"):format(d, scale))
end

-- exactly the same values (and shapes)
local function same (a, b)
  assert.are.same(a:size(), b:size())
  assert.are.equal(0, (a:double() - b:double()):abs():max():item())
end

-- f(x, w, b) on cpu and on cpu:ref with the same values: y and the three gradients
local function run (dev, x, w, b, g, f)
  local xd = x:detach():to(dev):requires_grad_()
  local wd = w:detach():to(dev):requires_grad_()
  local bd = b:detach():to(dev):requires_grad_()
  local y = f(xd, wd, bd)
  local loss = (y * g:to(dev)):sum()
  loss:backward()
  return { y:cpu(), xd.grad:cpu(), wd.grad:cpu(), (bd.grad or dm.zeros(1)):cpu() }
end

local function both (dtype, xs, ws, bs, f, tol)
  dm.manual_seed(11)
  local x, w, b = dm.randn(table.unpack(xs)), dm.randn(table.unpack(ws)), dm.randn(bs)
  if dtype == "float64" then x, w, b = x:double(), w:double(), b:double() end
  local y = f(x, w, b)
  local g = dm.randn(table.unpack(y:size())):to(y.dtype)
  local got, want = run("cpu", x, w, b, g, f), run("cpu:ref", x, w, b, g, f)
  for i = 1, 4 do close(got[i], want[i], tol) end
  return got
end

describe("conv and max-pool on two threads", function ()
  local before
  setup(function () before = dm.get_num_threads(); dm.set_num_threads(2) end)
  teardown(function () dm.set_num_threads(before) end)

  for _, dt in ipairs({ "float32", "float64" }) do
    local tol = dt == "float32" and 1e-4 or 1e-10
    it("conv2d, LeNet's layers, batch 64 and 13 (" .. dt .. ")", function ()
      for _, n in ipairs({ 64, 13 }) do
        both(dt, { n, 1, 28, 28 }, { 6, 1, 5, 5 }, 6,
             function (x, w, b) return F.conv2d(x, w, b, { padding = 2 }) end, tol)
        both(dt, { n, 6, 14, 14 }, { 16, 6, 5, 5 }, 16,
             function (x, w, b) return F.conv2d(x, w, b) end, tol)
      end
    end)
    it("conv2d over several chunks a half, groups, stride (" .. dt .. ")", function ()
      both(dt, { 27, 8, 30, 30 }, { 16, 8, 3, 3 }, 16,
           function (x, w, b) return F.conv2d(x, w, b, { padding = 1 }) end, tol)
      both(dt, { 9, 8, 20, 20 }, { 12, 4, 3, 3 }, 12,
           function (x, w, b) return F.conv2d(x, w, b, { stride = 2, groups = 2 }) end, tol)
    end)
    it("conv_transpose2d (" .. dt .. ")", function ()
      both(dt, { 11, 16, 12, 12 }, { 16, 8, 3, 3 }, 8,
           function (x, w, b) return F.conv_transpose2d(x, w, b, { stride = 2 }) end, tol)
    end)
  end

  it("gives the values one thread gives (within rounding), the same on every call", function ()
    local f = function (x, w, b) return F.conv2d(x, w, b) end
    local two = both("float32", { 64, 6, 14, 14 }, { 16, 6, 5, 5 }, 16, f, 1e-4)
    local again = both("float32", { 64, 6, 14, 14 }, { 16, 6, 5, 5 }, 16, f, 1e-4)
    dm.set_num_threads(1)
    local one = both("float32", { 64, 6, 14, 14 }, { 16, 6, 5, 5 }, 16, f, 1e-4)
    dm.set_num_threads(2)
    for i = 1, 4 do
      close(two[i], one[i], 1e-5)
      same(two[i], again[i])
    end
  end)

  it("max_pool2d over many planes: values and indices as one thread's", function ()
    dm.manual_seed(5)
    for _, dt in ipairs({ "float32", "float64" }) do
      local x = dm.randn(64, 6, 28, 28):to(dt):relu()
      local y2, i2 = F.max_pool2d(x, 2, { return_indices = true })
      local y3, i3 = F.max_pool2d(x, 3, { stride = 2, padding = 1, return_indices = true })
      dm.set_num_threads(1)
      local y1, i1 = F.max_pool2d(x, 2, { return_indices = true })
      local z1, j1 = F.max_pool2d(x, 3, { stride = 2, padding = 1, return_indices = true })
      dm.set_num_threads(2)
      same(y2, y1)
      same(i2, i1)
      same(y3, z1)
      same(i3, j1)
      local r = x:to("cpu:ref")
      local yr, ir = F.max_pool2d(r, 2, { return_indices = true })
      same(y2, yr:cpu())
      same(i2, ir:cpu())
    end
  end)
end)
