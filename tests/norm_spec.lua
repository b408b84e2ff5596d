-- nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d/2d and F.layer_norm, F.group_norm,
-- F.instance_norm against PyTorch 1.13 (tests/fixtures/gen_norm.py): outputs, gradients,
-- running statistics, non-contiguous inputs; their messages.  The float64 gradients are also
-- checked by central differences in tests/c/test_optable.c (layer_norm, group_norm).
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")
local cases = dofile(here .. "fixtures/norm_cases.lua")

local function tensor (f, dtype) return dm.tensor(f.data, { dtype = dtype }):view(f.shape) end

local function input (c, f, dtype)
  local x = tensor(f, dtype)
  if c.transposed then x = x:transpose(-1, -2) end
  return x
end

describe("normalization layers against PyTorch", function ()
  for _, c in ipairs(cases) do
    it(c.name, function ()
      local dtype = dm[c.dtype]
      local opts = { dtype = dtype }
      for k, v in pairs(c.opts) do opts[k] = v end
      local args = {}
      for i, v in ipairs(c.args) do args[i] = v end
      args[#args + 1] = opts
      local m = nn[c.cls](table.unpack(args))
      if c.weight then
        dm.no_grad(function ()
          m.weight:copy_(tensor(c.weight, dtype))
          m.bias:copy_(tensor(c.bias, dtype))
        end)
      else
        assert.is_nil(m.weight)
      end
      local tol = dtype == dm.float64 and 1e-10 or 1e-5
      m:train()
      for s, f in ipairs(c.inputs) do
        local x = input(c, f, dtype)
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
      end
      m:eval()
      local y = dm.no_grad(function () return m(input(c, c.eval_input, dtype)) end)
      util.assert_close(c.eval_output, y, tol, c.name .. " eval")
    end)
  end
end)

describe("normalization layers", function ()
  it("have PyTorch's reprs, parameters and grad_fn names", function ()
    assert.are.equal("LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)",
                     tostring(nn.LayerNorm({ 3, 4 })))
    assert.are.equal("LayerNorm((8,), eps=0.001, elementwise_affine=False)",
                     tostring(nn.LayerNorm(8, { eps = 1e-3, elementwise_affine = false })))
    assert.are.equal("GroupNorm(2, 6, eps=1e-05, affine=True)", tostring(nn.GroupNorm(2, 6)))
    assert.are.equal("InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, " ..
                     "track_running_stats=False)", tostring(nn.InstanceNorm2d(3)))
    assert.are.same({ 3, 4 }, nn.LayerNorm({ 3, 4 }).weight:size())
    local x = dm.randn(2, 4, 3)
    x.requires_grad = true
    assert.are.equal("NativeLayerNormBackward0", nn.LayerNorm(3)(x).grad_fn)
    assert.are.equal("NativeGroupNormBackward0", nn.GroupNorm(2, 4)(x).grad_fn)
  end)

  it("functional forms match the modules", function ()
    local g = dm.Generator(1)
    local x = dm.randn({ 2, 4, 3, 3 }, { generator = g })
    local w, b = dm.rand({ 4 }, { generator = g }), dm.randn({ 4 }, { generator = g })
    local m = nn.GroupNorm(2, 4)
    dm.no_grad(function () m.weight:copy_(w); m.bias:copy_(b) end)
    assert.are.same(m(x):totable(), F.group_norm(x, 2, w, b):totable())
    assert.are.same(m(x):totable(), F.group_norm(x, 2, { weight = w, bias = b }):totable())
    assert.are.same(nn.LayerNorm({ 3, 3 })(x):totable(), F.layer_norm(x, { 3, 3 }):totable())
    assert.are.same(nn.InstanceNorm2d(4)(x):totable(), F.instance_norm(x):totable())
    assert.are.same(F.group_norm(x, 4):totable(), F.instance_norm(x):totable())
  end)

  it("name the layer, the expected and the given shapes in their errors", function ()
    local x = dm.zeros(8, 1, 28, 28)
    assert.are.equal("LayerNorm: expected input [* x 28 x 27], got [8 x 1 x 28 x 28]",
                     util.err(nn.LayerNorm({ 28, 27 }), x))
    assert.are.equal("GroupNorm: expected input [N x 3 x *], got [8 x 1 x 28 x 28]",
                     util.err(nn.GroupNorm(1, 3), x))
    assert.are.equal("GroupNorm: num_channels (4) must be divisible by num_groups (3)",
                     util.err(nn.GroupNorm, 3, 4))
    assert.are.equal("InstanceNorm2d: expected 3D or 4D input (got 2D input [3 x 4])",
                     util.err(nn.InstanceNorm2d(3), dm.zeros(3, 4)))
    assert.are.equal("InstanceNorm2d: expected input [N x 3 x H x W], got [8 x 1 x 28 x 28]",
                     util.err(nn.InstanceNorm2d(3, { affine = true }), x))
    assert.are.equal("LayerNorm: normalized_shape must be a positive integer or a list of " ..
                     "them, got 0", util.err(nn.LayerNorm, 0))
    assert.are.equal("group_norm: expected the number of channels 1 to be divisible by " ..
                     "num_groups 2, got input [8 x 1 x 28 x 28]", util.err(F.group_norm, x, 2))
    assert.are.equal("layer_norm: expected input [* x 5], got [8 x 1 x 28 x 28]",
                     util.err(F.layer_norm, x, 5))
    assert.are.equal("layer_norm: expected weight of shape [28], got [3]",
                     util.err(F.layer_norm, x, 28, dm.ones(3)))
    assert.are.equal("layer_norm: expected a floating point input, got int64",
                     (util.err(F.layer_norm, dm.tensor({ { 1, 2 } }), 2):gsub(" %(.*", "")))
  end)
end)
