-- nn.BatchNorm2d and nn.BatchNorm3d against PyTorch 1.13 (tests/fixtures/gen_batchnorm2d.py):
-- training steps with running statistics, eval mode, gradients, non-contiguous input, errors.
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")
local cases = dofile(here .. "fixtures/batchnorm2d_cases.lua")

local function tensor (f, dtype)
  return dm.tensor(f.data, { dtype = dtype }):view(f.shape)
end

local function build (c)
  local opts = {}
  for k, v in pairs(c) do
    local name = k:match("^opt_(.*)")
    if name then
      if v == "none" then v = false end
      opts[name] = v
    end
  end
  opts.dtype = dm[c.dtype]
  local m = nn[c.cls](c.num_features, opts)
  if c.weight then
    dm.no_grad(function ()
      m.weight:copy_(tensor(c.weight, opts.dtype))
      m.bias:copy_(tensor(c.bias, opts.dtype))
    end)
  end
  return m, opts.dtype
end

local function input (c, f, dtype)
  local x = tensor(f, dtype)
  if c.transposed then x = x:transpose(-1, -2) end
  return x
end

describe("nn.BatchNorm2d against PyTorch", function ()
  for _, c in ipairs(cases) do
    it(c.cls .. ": " .. c.name, function ()
      local m, dtype = build(c)
      local tol = dtype == dm.float64 and 1e-12 or 1e-5
      m:train()
      for s, f in ipairs(c.inputs) do
        local x = input(c, f, dtype)
        if c.transposed then assert.is_false(x:is_contiguous()) end
        x.requires_grad = true
        local y = m(x)
        util.assert_close(c.outputs[s], y, tol, c.name .. " step " .. s)
        if s == #c.inputs then
          (y * tensor(c.gw, dtype)):sum():backward()
          util.assert_close(c.grad_x, x.grad, tol, c.name .. " grad x")
          if c.grad_weight then
            util.assert_close(c.grad_weight, m.weight.grad, tol, c.name .. " grad weight")
            util.assert_close(c.grad_bias, m.bias.grad, tol, c.name .. " grad bias")
          end
        end
      end
      if c.running_mean then
        util.assert_close(c.running_mean, m.running_mean, tol, c.name .. " running_mean")
        util.assert_close(c.running_var, m.running_var, tol, c.name .. " running_var")
        assert.are.equal(c.num_batches_tracked, m.num_batches_tracked:item())
      else
        assert.is_nil(m.running_mean)
      end
      m:eval()
      local y = dm.no_grad(function () return m(input(c, c.eval_input, dtype)) end)
      util.assert_close(c.eval_output, y, tol, c.name .. " eval")
    end)
  end
end)

describe("nn.BatchNorm2d", function ()
  it("has PyTorch's parameters, buffers and repr", function ()
    local m = nn.BatchNorm2d(8)
    assert.are.same({ 8 }, m.weight:size())
    assert.are.same({ 8 }, m.running_var:size())
    local names = {}
    for k in pairs(m:state_dict()) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "bias", "num_batches_tracked", "running_mean", "running_var", "weight" },
                    names)
    assert.are.equal("BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, " ..
                     "track_running_stats=True)", tostring(m))
    assert.are.equal("BatchNorm3d(2, eps=0.001, momentum=None, affine=False, " ..
                     "track_running_stats=True)",
                     tostring(nn.BatchNorm3d(2, { eps = 1e-3, momentum = false, affine = false })))
    assert.is_true(m:is_a(nn.BatchNorm1d))
  end)

  it("names the layer, the expected and the given shapes in its errors", function ()
    local m = nn.BatchNorm2d(3)
    assert.are.equal("BatchNorm2d: expected input [N x 3 x H x W], got [8 x 1 x 28 x 28]",
                     util.err(m, dm.zeros(8, 1, 28, 28)))
    assert.are.equal("BatchNorm2d: expected 4D input (got 3D input [3 x 4 x 4])",
                     util.err(m, dm.zeros(3, 4, 4)))
    assert.are.equal("BatchNorm3d: expected 5D input (got 4D input [2 x 3 x 4 x 4])",
                     util.err(nn.BatchNorm3d(3), dm.zeros(2, 3, 4, 4)))
    assert.are.equal("BatchNorm2d: expected more than 1 value per channel when training, " ..
                     "got input size [1 x 3 x 1 x 1]", util.err(m, dm.zeros(1, 3, 1, 1)))
    assert.are.equal("BatchNorm2d: expected a float32 input (the module's dtype), got float64",
                     util.err(m, dm.zeros(2, 3, 2, 2, { dtype = dm.float64 })))
    assert.are.equal("BatchNorm2d: num_features must be a positive integer, got 0",
                     util.err(nn.BatchNorm2d, 0))
    m:eval()
    assert.are.same({ 1, 3, 1, 1 }, m(dm.zeros(1, 3, 1, 1)):size())   -- eval: running stats
  end)

  it("matches a finite-difference gradient on a float64 [N x C x H x W] input", function ()
    local m = nn.BatchNorm2d(2, { dtype = dm.float64 })
    local g = dm.Generator(3)
    local x = dm.randn({ 2, 2, 3, 3 }, { generator = g, dtype = dm.float64 })
    local w = dm.randn({ 2, 2, 3, 3 }, { generator = g, dtype = dm.float64 })
    x.requires_grad = true
    local f = function (t) return (m(t) * w):sum() end
    f(x):backward()
    local xv = x:detach():clone()
    local flat = xv:view(-1)
    local h = 1e-6
    for i = 1, flat:numel(), 5 do
      local v = flat[i]:item()
      flat[i] = v + h
      local up = f(xv):item()
      flat[i] = v - h
      local down = f(xv):item()
      flat[i] = v
      local num = (up - down) / (2 * h)
      local got = x.grad:view(-1)[i]:item()
      assert(math.abs(got - num) < 1e-6, ("element %d: %g vs %g"):format(i, got, num))
    end
  end)
end)
