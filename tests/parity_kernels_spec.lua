-- The loss, batch norm and optimizer kernels of deepmoon.core against PyTorch 1.13, through
-- the fixtures written by tests/fixtures/gen_parity.py.  Agreement: 1e-5 relative (absolute
-- for values below 1).
local core = require "deepmoon.core"

local function load_fixture (name)
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests"
  return dofile(dir .. "/fixtures/" .. name)
end

local losses = load_fixture("parity_losses.lua")
local bn = load_fixture("parity_batchnorm.lua")
local optim = load_fixture("parity_optim.lua")

-- a fixture tensor {sizes, values} as a new float Tensor (the fixtures write 1.0 as 1)
local function T (f)
  if not f then return nil end
  local t = core.tensor(#f.values > 0 and f.values or {}, {dtype = core.float32})
  return t:reshape(f.sizes)
end

local TOL = 1e-5

-- compare a Tensor with a fixture tensor; returns nil or a message
local function mismatch (t, f, what)
  local sizes = t:size()
  if #sizes ~= #f.sizes then
    return string.format("%s: %d dims, expected %d", what, #sizes, #f.sizes)
  end
  for d = 1, #sizes do
    if sizes[d] ~= f.sizes[d] then return what .. ": size differs" end
  end
  local v = t:values()
  for i, e in ipairs(f.values) do
    local a = v[i]
    local ok
    if e ~= e then ok = a ~= a
    elseif e == math.huge or e == -math.huge then ok = a == e
    else ok = math.abs(a - e) <= TOL * math.max(1, math.abs(e)) end
    if not ok then
      return string.format("%s[%d]: got %.9g, expected %.9g", what, i, a, e)
    end
  end
  return nil
end

local function check (t, f, what)
  local m = mismatch(t, f, what)
  assert(m == nil, m)
end

local function run_loss (c)
  local x = T(c.input):requires_grad_()
  local t = T(c.target)
  -- class indices are int64 (probabilities, of the input's shape, stay float)
  if (c.fn == "nll_loss" or c.fn == "cross_entropy") and t:dim() ~= x:dim() then t = t:long() end
  if c.grad_target then t:requires_grad_() end
  local loss
  if c.fn == "bce_loss" then
    loss = core.bce_loss(x, t, T(c.weight), c.reduction)
  elseif c.fn == "bce_with_logits_loss" then
    loss = core.bce_with_logits_loss(x, t, T(c.weight), T(c.pos_weight), c.reduction)
  elseif c.fn == "mse_loss" or c.fn == "l1_loss" then
    loss = core[c.fn](x, t, c.reduction)
  elseif c.fn == "smooth_l1_loss" then
    loss = core.smooth_l1_loss(x, t, c.reduction, c.beta)
  elseif c.fn == "huber_loss" then
    loss = core.huber_loss(x, t, c.reduction, c.delta)
  elseif c.fn == "nll_loss" then
    loss = core.nll_loss(x, t, T(c.weight), c.reduction, c.ignore_index)
  elseif c.fn == "cross_entropy" then
    loss = core.cross_entropy(x, t, T(c.weight), c.reduction, c.ignore_index,
                              c.label_smoothing)
  else
    error("unknown loss " .. c.fn)
  end
  check(loss, c.loss, "loss")
  if c.grad_output then loss:backward(T(c.grad_output)) else loss:backward() end
  check(x.grad, c.grad_input, "grad_input")
  if c.grad_target then check(t.grad, c.grad_target, "grad_target") end
end

collectgarbage(); collectgarbage()
local base_memory = core.memory()

describe("parity with PyTorch: losses", function ()
  for _, c in ipairs(losses) do
    it(c.name, function () run_loss(c) end)
  end
end)

describe("parity with PyTorch: batch_norm", function ()
  for _, c in ipairs(bn) do
    it(c.name, function ()
      local x = T(c.input):requires_grad_()
      local w = c.weight and T(c.weight):requires_grad_()
      local b = c.bias and T(c.bias):requires_grad_()
      local rm, rv = T(c.running_mean), T(c.running_var)
      local y = core.batch_norm(x, rm, rv, w, b, c.training, c.momentum, c.eps)
      check(y, c.output, "output")
      y:backward(T(c.grad_output))
      check(x.grad, c.grad_input, "grad_input")
      if w then
        check(w.grad, c.grad_weight, "grad_weight")
        check(b.grad, c.grad_bias, "grad_bias")
      end
      if rm then
        check(rm, c.running_mean_after, "running_mean")
        check(rv, c.running_var_after, "running_var")
      end
    end)
  end
end)

describe("parity with PyTorch: optimizers", function ()
  for _, c in ipairs(optim.cases) do
    it(c.name, function ()
      local p = T(optim.param)
      local prev = core.set_grad_enabled(false)
      local buf = core.zeros(table.unpack(optim.param.sizes))
      local m = core.zeros(table.unpack(optim.param.sizes))
      local v = core.zeros(table.unpack(optim.param.sizes))
      local vmax = c.amsgrad and core.zeros(table.unpack(optim.param.sizes)) or nil
      local ok, err = pcall(function ()
        for k, gf in ipairs(optim.grads) do
          local g = T(gf)
          if c.optimizer == "sgd" then
            core.sgd_step(p, g, buf, c.lr, c.momentum or 0, c.dampening or 0,
                          c.weight_decay or 0, c.nesterov or false, c.maximize or false, k == 1)
          else
            local decoupled = c.optimizer == "adamw"
            local wd = c.weight_decay or (decoupled and 1e-2 or 0)
            core.adam_step(p, g, m, v, vmax, k, c.lr or 1e-3, c.beta1 or 0.9, c.beta2 or 0.999,
                           c.eps or 1e-8, wd, decoupled, c.maximize or false)
          end
          check(p, c.steps[k], "step " .. k)
        end
      end)
      core.set_grad_enabled(prev)
      assert(ok, err)
    end)
  end
end)

describe("deepmoon.core kernels from Lua", function ()
  it("convert 1-based class targets and ignore_index", function ()
    local lp = core.tensor({{-1.0, -2.0, -3.0}, {-4.0, -5.0, -6.0}})
    local l = core.nll_loss(lp, core.tensor({3, 1}), nil, "none")
    assert.are.same({3, 4}, l:values())
    l = core.nll_loss(lp, core.tensor({3, 2}), nil, "sum", 2)
    assert.are.same({3}, l:values())
  end)

  it("report class targets out of range in 1-based terms", function ()
    local lp = core.tensor({{-1.0, -2.0, -3.0}})
    assert.has_error(function () core.nll_loss(lp, core.tensor({4})) end,
                     "nll_loss: target 4 out of range for 3 classes (class labels are 1-based, "
                     .. "1 to 3)")
    assert.has_error(function () core.cross_entropy(lp, core.tensor({0})) end,
                     "cross_entropy: target 0 out of range for 3 classes (class labels are "
                     .. "1-based, 1 to 3; 0-based labels need + 1)")
  end)

  it("name the function in a bad reduction", function ()
    local x = core.tensor({1, 2})
    assert.has_error(function () core.mse_loss(x, x, "avg") end,
                     "bad argument #3 to 'mse_loss' (invalid option 'avg')")
  end)

  it("raise the core's messages", function ()
    assert.has_error(function () core.dropout(core.tensor({1}), 1.5) end,
                     "dropout: probability has to be between 0 and 1, but got 1.5")
    assert.has_error(function ()
      core.sgd_step(core.zeros(2, 3), core.zeros(3), nil, 0.1)
    end, "sgd_step: grad size [3] differs from parameter size [2 x 3]")
  end)

  it("dropout draws from the given generator", function ()
    local x = core.ones(1000)
    local g1, g2 = core.Generator(7), core.Generator(7)
    local a = core.dropout(x, 0.3, true, g1):values()
    local b = core.dropout(x, 0.3, true, g2):values()
    assert.are.same(a, b)
    local kept = 0
    for _, v in ipairs(a) do
      if v ~= 0 then kept = kept + 1; assert.is_true(math.abs(v - 1 / 0.7) < 1e-6) end
    end
    assert.is_true(kept > 600 and kept < 800)
    assert.are.equal(x:storage_id(), core.dropout(x, 0.3, false):storage_id())
  end)
end)

describe("parity_kernels_spec", function ()
  it("leaves the live-byte counter at its baseline", function ()
    collectgarbage(); collectgarbage()
    assert.are.equal(base_memory, core.memory())
  end)
end)
