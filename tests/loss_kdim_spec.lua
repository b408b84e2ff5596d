-- CrossEntropyLoss / NLLLoss (and F.cross_entropy / F.nll_loss) in PyTorch 1.13's
-- K-dimensional form: input [N x C x d1 x ...], target [N x d1 x ...], with weight,
-- ignore_index (1-based, as the targets), reduction none/mean/sum, label smoothing and
-- probability targets; forward values and gradients from tests/fixtures/loss_kdim_cases.lua
-- (regenerate with /usr/bin/python3 tests/fixtures/gen_loss_kdim.py); and the errors.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/loss_kdim_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end
local function ids (f) return dm.tensor(f.data, { dtype = dm.int64 }):view(f.shape) end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function run (c, opts, through_module)
  local x = T(c.x, opts):requires_grad_()
  local xin = c.permute and x:permute(table.unpack(c.permute)) or x
  if c.permute then assert.is_false(xin:is_contiguous()) end
  local target = c.probs and T(c.target, opts) or ids(c.target)
  local weight = c.weight and T(c.weight, opts) or nil
  local o = { weight = weight, ignore_index = c.ignore_index, reduction = c.reduction }
  if c.fn == "cross_entropy" then o.label_smoothing = c.label_smoothing end
  local y
  if through_module then
    local M = c.fn == "cross_entropy" and nn.CrossEntropyLoss or nn.NLLLoss
    y = M(o)(xin, target)
  else
    y = F[c.fn](xin, target, o)
  end
  return x, y
end

describe("K-dimensional class losses against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.name .. " (float64, functional)", function ()
      local x, y = run(c)
      assert.are.same(c.y.shape, y:size())
      util.assert_close(c.y, y, 1e-12, "forward");
      (y * T(c.w)):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-12, "gradient")
    end)
    it(c.name .. " (float32, module)", function ()
      local x, y = run(c, {}, true)
      assert.are.equal(dm.float32, y.dtype)
      util.assert_close(c.y, y, 1e-5, "forward");
      (y * T(c.w, {})):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-5, "gradient")
    end)
  end

  it("[N x C x T] equals the flattened [N*T x C] form", function ()
    local x = dm.randn(2, 3, 4):double()
    local t = dm.tensor({{1, 2, 3, 1}, {3, 3, 2, 1}}, { dtype = dm.int64 })
    local a = F.cross_entropy(x, t):item()
    local b = F.cross_entropy(x:permute(1, 3, 2):reshape(-1, 3), t:reshape(-1)):item()
    assert.is_true(math.abs(a - b) < 1e-12)
  end)

  it("mean with every target ignored is nan, as PyTorch", function ()
    local x = dm.randn(1, 3, 2)
    local t = dm.tensor({{2, 2}}, { dtype = dm.int64 })
    local v = nn.CrossEntropyLoss({ ignore_index = 2 })(x, t):item()
    assert.is_true(v ~= v)
  end)
end)

describe("K-dimensional class losses: errors", function ()
  it("names the expected target shape", function ()
    local x = dm.randn(2, 3, 4)
    local e = util.err(function () return nn.CrossEntropyLoss()(x, dm.ones({2, 5}, { dtype = dm.int64 })) end)
    assert.are.equal("CrossEntropyLoss: expected target [2 x 4] of class indices or "
                     .. "[2 x 3 x 4] of probabilities, got [2 x 5]", e)
    e = util.err(function () return F.nll_loss(x, dm.ones({2, 3, 4}, { dtype = dm.int64 })) end)
    assert.are.equal("nll_loss: expected target [2 x 4] of class indices, got [2 x 3 x 4]", e)
  end)
  it("a class out of range names it, 1-based", function ()
    local x = dm.randn(1, 3, 2)
    local e = util.err(function ()
      return nn.NLLLoss()(x, dm.tensor({{1, 4}}, { dtype = dm.int64 }))
    end)
    assert.truthy(e:find("NLLLoss: target 4 out of range for 3 classes", 1, true), e)
    e = util.err(function ()
      return F.cross_entropy(x, dm.tensor({{0, 1}}, { dtype = dm.int64 }))
    end)
    assert.truthy(e:find("target 0 out of range", 1, true), e)
  end)
  it("float targets of the wrong shape are refused naming the dtype", function ()
    local e = util.err(function () return dm.cross_entropy(dm.randn(2, 3, 4), dm.randn(2, 4)) end)
    assert.truthy(e:find("float32", 1, true), e)
  end)
  it("a weight of the wrong size", function ()
    local e = util.err(function ()
      return F.cross_entropy(dm.randn(2, 3, 4), dm.ones({2, 4}, { dtype = dm.int64 }),
                             { weight = dm.ones(4) })
    end)
    assert.truthy(e:find("weight should have one element per class (3)", 1, true), e)
  end)
end)

describe("K-dimensional class losses: memory", function ()
  it("frees everything", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
