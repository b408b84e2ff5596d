-- deepmoon.nn against PyTorch 1.13: with the same weights and data, forward outputs, losses
-- and every gradient agree to 1e-5 relative (1e-6 absolute for tiny values).  The fixture,
-- tests/fixtures/nn_cases.lua, is made by tests/fixtures/gen_nn.py.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local cases = dofile(script_dir() .. "fixtures/nn_cases.lua")

local RTOL, ATOL = 1e-5, 1e-6

-- fixture data is float (PyTorch wrote 1.0 as 1): say so rather than let 1 mean int64
local function T (f)
  if #f.shape == 0 then return dm.tensor(f.data[1], {dtype = dm.float32}) end
  return dm.tensor(f.data, {dtype = dm.float32}):view(f.shape)
end

local function assert_match (expected, got, what)
  assert.are.same(expected.shape, got:size(), what .. ": shape")
  local g = got:values()
  for i, e in ipairs(expected.data) do
    if math.abs(e - g[i]) > math.max(ATOL, RTOL * math.abs(e)) then
      error(("%s: value %d: PyTorch %.9g, deepmoon %.9g"):format(what, i, e, g[i]), 2)
    end
  end
end

local function state_of (fix)
  local sd = {}
  for k, v in pairs(fix) do sd[k] = T(v) end
  return sd
end

describe("parity with PyTorch 1.13", function ()
  it("the article's classifier: forward, BCE loss and every gradient", function ()
    local c = cases.mlp
    local Classifier = nn.Module:extend("SimpleClassifier")
    function Classifier:__init ()
      self.fc1 = nn.Linear(2, 64)
      self.relu = nn.ReLU()
      self.fc2 = nn.Linear(64, 1)
      self.sigmoid = nn.Sigmoid()
    end
    function Classifier:forward (x)
      return self.sigmoid(self.fc2(self.relu(self.fc1(x))))
    end
    local model = Classifier()
    assert.are.equal(c.repr, tostring(model))
    assert.are.same(c.state_keys, model:state_dict():keys())
    model:load_state_dict(state_of(c.state))
    local out = model(T(c.x))
    assert_match(c.output, out, "output")
    local loss = nn.BCELoss()(out, T(c.y))
    assert_match(c.loss, loss, "loss")
    loss:backward()
    for name, p in model:named_parameters() do
      assert_match(c.grads[name], p.grad, "grad of " .. name)
    end
  end)

  it("a 4-8-3 net with BatchNorm1d, Tanh, GELU, SELU, ELU, LeakyReLU and CrossEntropy", function ()
    local c = cases.net
    local net = nn.Sequential(
      nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(),
      nn.Linear(8, 8), nn.GELU(),
      nn.Linear(8, 8), nn.SELU(),
      nn.Linear(8, 8), nn.ELU{ alpha = 0.7 },
      nn.Linear(8, 8), nn.LeakyReLU(0.1),
      nn.Linear(8, 3))
    assert.are.equal(c.repr, tostring(net))
    assert.are.same(c.state_keys, net:state_dict():keys())
    net:load_state_dict(state_of(c.state))
    net:train()
    local out = net(T(c.x))
    assert_match(c.output, out, "output")
    local loss = nn.CrossEntropyLoss()(out, T(c.y):long())
    assert_match(c.loss, loss, "loss")
    loss:backward()
    local n = 0
    for name, p in net:named_parameters() do
      assert_match(c.grads[name], p.grad, "grad of " .. name)
      n = n + 1
    end
    assert.are.equal(14, n)
    local sd = net:state_dict()
    for name, v in pairs(c.state_after) do assert_match(v, sd[name], name) end
    net:eval()
    assert_match(c.output_eval, dm.no_grad(function () return net(T(c.x)) end), "eval output")
  end)

  local fn_of = {
    binary_cross_entropy = F.binary_cross_entropy,
    binary_cross_entropy_with_logits = F.binary_cross_entropy_with_logits,
    mse_loss = F.mse_loss, l1_loss = F.l1_loss, smooth_l1_loss = F.smooth_l1_loss,
    huber_loss = F.huber_loss, cross_entropy = F.cross_entropy, nll_loss = F.nll_loss,
  }
  local module_of = {
    binary_cross_entropy = nn.BCELoss, binary_cross_entropy_with_logits = nn.BCEWithLogitsLoss,
    mse_loss = nn.MSELoss, l1_loss = nn.L1Loss, smooth_l1_loss = nn.SmoothL1Loss,
    huber_loss = nn.HuberLoss, cross_entropy = nn.CrossEntropyLoss, nll_loss = nn.NLLLoss,
  }

  for i, c in ipairs(cases.losses) do
    local opts_str = {}
    for k in pairs(c.opts) do opts_str[#opts_str + 1] = k end
    table.sort(opts_str)
    it(("loss #%d %s (%s) reduction=%s"):format(i, c.name, table.concat(opts_str, ", "),
                                               c.reduction), function ()
      local opts = { reduction = c.reduction }
      for k, v in pairs(c.opts) do
        opts[k] = type(v) == "table" and T(v) or v
      end
      local target = T(c.target)
      -- class indices are int64 (probabilities, of the input's shape, stay float)
      if (c.name == "cross_entropy" or c.name == "nll_loss") and #c.target.shape ~= #c.input.shape
      then target = target:long() end
      for _, how in ipairs({ "functional", "module" }) do
        local x = T(c.input)
        x.requires_grad = true
        local out
        if how == "functional" then out = fn_of[c.name](x, target, opts)
        else out = module_of[c.name](opts)(x, target) end
        assert_match(c.output, out, how .. " output")
        out:backward(T(c.gradout))
        assert_match(c.grad, x.grad, how .. " input gradient")
      end
    end)
  end

  local act_of = {
    relu = function () return nn.ReLU() end, sigmoid = function () return nn.Sigmoid() end,
    tanh = function () return nn.Tanh() end, selu = function () return nn.SELU() end,
    leaky_relu = function (o) return nn.LeakyReLU(o) end,
    elu = function (o) return nn.ELU(o) end, gelu = function () return nn.GELU() end,
    gelu_tanh = function (o) return nn.GELU(o) end,
    softmax = function (o) return nn.Softmax(o) end,
    softmax0 = function (o) return nn.Softmax(o) end,
    log_softmax = function (o) return nn.LogSoftmax(o) end,
  }

  for _, c in ipairs(cases.activations) do
    it("activation " .. c.name .. ": values and gradient", function ()
      local x = T(c.input)
      x.requires_grad = true
      local y = act_of[c.name](c.opts)(x)
      assert_match(c.output, y, "output")
      y:backward(T(c.gradout))
      assert_match(c.grad, x.grad, "gradient")
    end)
  end

  it("prints every layer as PyTorch does", function ()
    local mods = {
      nn.Linear(2, 64), nn.Linear(3, 1, false), nn.ReLU(), nn.ReLU(true),
      nn.LeakyReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(), nn.ELU(), nn.ELU{ alpha = 0.5 },
      nn.SELU(), nn.GELU(), nn.GELU{ approximate = "tanh" }, nn.Dropout(), nn.Dropout(0.25),
      nn.BatchNorm1d(4), nn.BatchNorm1d(3, { eps = 1e-3, momentum = false, affine = false,
                                             track_running_stats = false }),
      nn.Identity(), nn.BCELoss(), nn.BCEWithLogitsLoss(), nn.MSELoss(), nn.L1Loss(),
      nn.SmoothL1Loss{ beta = 0.5 }, nn.HuberLoss{ delta = 2.0 }, nn.CrossEntropyLoss(),
      nn.NLLLoss(),
    }
    assert.are.equal(#cases.reprs, #mods)
    for i, m in ipairs(mods) do assert.are.equal(cases.reprs[i], tostring(m)) end
  end)

  it("leaves no live tensor bytes behind", function ()
    cases = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
