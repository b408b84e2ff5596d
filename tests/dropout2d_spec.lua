-- nn.Dropout1d, nn.Dropout2d, nn.Dropout3d and F.dropout1d/2d/3d: PyTorch's feature dropout
-- (one Bernoulli draw per sample and channel, kept channels scaled by 1 / (1 - p)).  The
-- generator is deepmoon's own, so the draws are checked statistically at fixed seeds (bounds
-- more than 6 sigma from the expected counts), the rest exactly.
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")

-- every channel ([i][j]) of y is either all 0 or all x * scale; the count of zeroed ones
local function channels (x, y, scale)
  local N, C = x:size(1), x:size(2)
  local xs, ys = x:reshape({ N, C, -1 }), y:reshape({ N, C, -1 })
  local zeroed = 0
  for i = 1, N do
    for j = 1, C do
      local yc, xc = ys[i][j], xs[i][j]
      if yc:abs():max():item() == 0 then
        zeroed = zeroed + 1
      else
        assert((yc - xc * scale):abs():max():item() < 1e-6, "a kept channel is not x / (1 - p)")
      end
    end
  end
  return zeroed, N * C
end

describe("nn.Dropout2d", function ()
  it("zeroes whole channels with probability p and scales the rest", function ()
    dm.manual_seed(11)
    local p = 0.3
    local x = dm.rand({ 40, 50, 3, 3 }) + 0.5
    local m = nn.Dropout2d(p)
    local y = m(x)
    local zeroed, n = channels(x, y, 1 / (1 - p))
    local sd = math.sqrt(n * p * (1 - p))
    assert(math.abs(zeroed - n * p) < 6 * sd, ("%d of %d channels zeroed"):format(zeroed, n))
  end)

  it("passes the mask to the gradient, and is the identity in eval mode or for p = 0", function ()
    local x = dm.rand({ 4, 5, 2, 3 }, { generator = dm.Generator(2) }) + 0.5
    x.requires_grad = true
    local y = F.dropout2d(x, { p = 0.4, generator = dm.Generator(3) })
    y:sum():backward()
    util.assert_close({ data = (y / x):detach():view(-1):totable() }, x.grad, 1e-6, "grad")
    local m = nn.Dropout2d(0.4)
    m:eval()
    assert.are.equal(x, m(x))
    assert.are.equal(x, F.dropout2d(x, 0))
    assert.are.equal(x, F.dropout2d(x, 0.5, false))
  end)

  it("repeats its draws for the same generator seed and zeroes everything for p = 1", function ()
    local x = dm.ones(6, 8, 2, 2)
    local a = F.dropout2d(x, { p = 0.5, generator = dm.Generator(5) })
    local b = F.dropout2d(x, { p = 0.5, generator = dm.Generator(5) })
    assert.are.same(a:totable(), b:totable())
    assert.are.equal(0, F.dropout2d(x, 1):abs():sum():item())
  end)

  it("takes a 3-dim input as [N x C x L], as PyTorch 1.13 does", function ()
    dm.manual_seed(4)
    local x = dm.rand({ 30, 40, 5 }) + 0.5
    local zeroed, n = channels(x, F.dropout2d(x, 0.5), 2)
    assert(math.abs(zeroed - n / 2) < 6 * math.sqrt(n / 4))
  end)

  it("Dropout1d and Dropout3d: batched and one-sample inputs", function ()
    dm.manual_seed(8)
    local x = dm.rand({ 20, 30, 4 }) + 0.5
    local zeroed, n = channels(x, nn.Dropout1d(0.2)(x), 1 / 0.8)
    assert(math.abs(zeroed - n * 0.2) < 6 * math.sqrt(n * 0.16))
    -- one sample [C x L]: channels are the rows
    local s = dm.rand({ 400, 3 }) + 0.5
    zeroed, n = channels(s:unsqueeze(1), nn.Dropout1d(0.5)(s):unsqueeze(1), 2)
    assert(math.abs(zeroed - 200) < 6 * 10)
    local v = dm.rand({ 10, 20, 2, 2, 2 }) + 0.5
    zeroed, n = channels(v, nn.Dropout3d(0.5)(v), 2)
    assert(math.abs(zeroed - n / 2) < 6 * math.sqrt(n / 4))
    local one = dm.rand({ 300, 2, 2, 2 }) + 0.5
    zeroed = channels(one:unsqueeze(1), F.dropout3d(one, 0.5):unsqueeze(1), 2)
    assert(math.abs(zeroed - 150) < 6 * math.sqrt(75))
  end)

  it("repr and errors name the layer or function, the argument and the shape", function ()
    assert.are.equal("Dropout2d(p=0.5, inplace=False)", tostring(nn.Dropout2d()))
    assert.are.equal("Dropout3d(p=0.1, inplace=False)", tostring(nn.Dropout3d(0.1)))
    assert.are.equal("Dropout2d: dropout probability has to be between 0 and 1, but got 1.5",
                     util.err(nn.Dropout2d, 1.5))
    assert.are.equal("dropout2d: dropout probability has to be between 0 and 1, but got -1",
                     util.err(F.dropout2d, dm.ones(2, 2, 2, 2), -1))
    assert.are.equal("Dropout1d: expected [C x L] or [N x C x L] input, got [2 x 3 x 4 x 5]",
                     util.err(nn.Dropout1d(), dm.ones(2, 3, 4, 5)))
    assert.are.equal("Dropout2d: expected [N x C x H x W] input, got [3]",
                     util.err(nn.Dropout2d(), dm.ones(3)))
    assert.are.equal("dropout2d: expected a floating-point input, got int64",
                     util.err(F.dropout2d, dm.tensor({ { 1, 2 } }), 0.5))
    assert.are.equal("Dropout2d: expected a Tensor input, got number", util.err(nn.Dropout2d(), 3))
  end)
end)
