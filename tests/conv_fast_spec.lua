-- The convolution's fast path (the cpu device: whole images per gemm, several chunks of
-- images when a batch needs more than the 2 MB the path takes at once) against its reference
-- kernels (the cpu:ref device: the defining sums in double, backend/ref/conv.c),
-- forward and every gradient, float32 and float64; and the 2x2 max-pool fast path against
-- the general one.  Sizes are chosen so the batch spans several chunks.
local dm = require "deepmoon"
local F = require "deepmoon.nn.functional"

local function close (got, want, tol)
  local d = (got - want):abs():max():item()
  local scale = want:abs():max():item()
  assert(d <= tol * (1 + scale), ("max |got - want| = %g (scale %g)"):format(d, scale))
end

-- run f(x, w, b) on cpu and on cpu:ref with the same values; compare y and the gradients
local function both (dtype, xs, ws, bs, f, tol)
  dm.manual_seed(7)
  local x, w, b = dm.randn(table.unpack(xs)), dm.randn(table.unpack(ws)), dm.randn(bs)
  if dtype == "float64" then x, w, b = x:double(), w:double(), b:double() end
  local g
  local res = {}
  for _, dev in ipairs({ "cpu", "cpu:ref" }) do
    local xd = x:detach():to(dev):requires_grad_()
    local wd = w:detach():to(dev):requires_grad_()
    local bd = b:detach():to(dev):requires_grad_()
    local y = f(xd, wd, bd)
    g = g or dm.randn(table.unpack(y:size())):to(y.dtype)
    local loss = (y * g:to(dev)):sum()
    loss:backward()
    res[dev] = { y:cpu(), xd.grad:cpu(), wd.grad:cpu(), (bd.grad or dm.zeros(1)):cpu() }
  end
  for i = 1, 4 do close(res.cpu[i], res["cpu:ref"][i], tol) end
end

describe("conv fast path against the reference path", function ()
  for _, dt in ipairs({ "float32", "float64" }) do
    local tol = dt == "float32" and 1e-4 or 1e-10
    it("conv2d, padded, a batch over several chunks (" .. dt .. ")", function ()
      -- one image: (8*9 + 16) * 30*30 * 4 B ~ 317 KB: 6 per 2 MB chunk, 13 images in 3 chunks
      both(dt, { 13, 8, 30, 30 }, { 16, 8, 3, 3 }, 16,
           function (x, w, b) return F.conv2d(x, w, b, { padding = 1 }) end, tol)
    end)
    it("conv2d, LeNet's first layer (1 channel, 5x5, padding 2, batch 64) (" .. dt .. ")",
       function ()
      both(dt, { 64, 1, 28, 28 }, { 6, 1, 5, 5 }, 6,
           function (x, w, b) return F.conv2d(x, w, b, { padding = 2 }) end, tol)
    end)
    it("conv2d, LeNet's second layer (6 channels, 5x5, no padding, batch 64) (" .. dt .. ")",
       function ()
      both(dt, { 64, 6, 14, 14 }, { 16, 6, 5, 5 }, 16,
           function (x, w, b) return F.conv2d(x, w, b) end, tol)
    end)
    it("conv2d, few output channels, no bias, rows of 8 to 15 (" .. dt .. ")", function ()
      -- float32 takes the direct convolution here (at most 8 output channels, stride 1)
      both(dt, { 5, 3, 11, 13 }, { 4, 3, 3, 2 }, 4,
           function (x, w) return F.conv2d(x, w, nil, { padding = { 1, 0 } }) end, tol)
      both(dt, { 3, 2, 9, 17 }, { 8, 2, 2, 3 }, 8,
           function (x, w, b) return F.conv2d(x, w, b, { padding = 1 }) end, tol)
    end)
    it("conv2d, stride, dilation, uneven padding, groups (" .. dt .. ")", function ()
      both(dt, { 9, 6, 41, 37 }, { 8, 3, 3, 4 }, 8, function (x, w, b)
        return F.conv2d(x, w, b, { stride = { 2, 3 }, padding = { 2, 1 }, dilation = { 2, 1 },
                                   groups = 2 })
      end, tol)
    end)
    it("conv1d and conv_transpose2d (" .. dt .. ")", function ()
      both(dt, { 20, 4, 300 }, { 6, 4, 5 }, 6, function (x, w, b)
        return F.conv1d(x, w, b, { stride = 2, padding = 3 })
      end, tol)
      both(dt, { 7, 6, 20, 20 }, { 6, 4, 3, 3 }, 8, function (x, w, b)
        return F.conv_transpose2d(x, w, b, { stride = 2, padding = 1, output_padding = 1,
                                             groups = 2 })
      end, tol)
    end)
  end
end)

describe("2x2 max-pool fast path", function ()
  it("agrees with the general kernel (a 2x2 window through padding 0 and dilation 1 written "
     .. "as a 3-wide dilated one is not the fast path), ties and NaN included", function ()
    dm.manual_seed(3)
    local x = dm.randn(3, 5, 12, 18):relu()        -- many ties at 0
    x[{ 1, 1, 1, 2 }] = 0 / 0                      -- NaN wins its window
    local y, ix = F.max_pool2d(x, 2, { return_indices = true })
    -- the general kernel on the same windows: float64 takes it
    local y2, ix2 = F.max_pool2d(x:double(), 2, { return_indices = true })
    assert.are.same(ix2:tolist(), ix:tolist())
    local a, b = y:double():tolist(), y2:tolist()
    assert.is_true(a[1][1][1][1] ~= a[1][1][1][1])
    a[1][1][1][1], b[1][1][1][1] = 0, 0
    assert.are.same(b, a)
  end)
end)
