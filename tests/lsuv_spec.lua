-- init.lsuv_ (deepmoon.nn.lsuv): layer-sequential unit-variance initialisation.  Every
-- weighted layer's output variance on the batch ends within tol of 1 (measured here by
-- running the layers by hand), in forward order even when the fields were assigned in
-- another; the orthogonal pre-initialisation; options, report and errors.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = require "deepmoon.nn.init"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

-- variance (n - 1 in the denominator, as t:var()) computed in Lua
local function variance (t)
  local v = t:values()
  local s = 0
  for i = 1, #v do s = s + v[i] end
  local mean = s / #v
  local sq = 0
  for i = 1, #v do sq = sq + (v[i] - mean) ^ 2 end
  return sq / (#v - 1)
end

local function mlp (act, depth, width)
  local layers = { nn.Linear(3, width), nn[act]() }
  for _ = 1, depth - 2 do
    layers[#layers + 1] = nn.Linear(width, width)
    layers[#layers + 1] = nn[act]()
  end
  layers[#layers + 1] = nn.Linear(width, 2)
  return nn.Sequential(table.unpack(layers))
end

-- the output variance of every Linear of a Sequential, running its children by hand
local function linear_vars (model, x)
  local vars = {}
  dm.no_grad(function ()
    for _, m in ipairs(model) do
      x = m(x)
      if m:_get_name() == "Linear" then vars[#vars + 1] = variance(x) end
    end
  end)
  return vars
end

describe("init.lsuv_", function ()
  it("is reachable as init.lsuv_, dm.init.lsuv_ and nn.init.lsuv_", function ()
    local lsuv = require "deepmoon.nn.lsuv"
    assert.are.equal(lsuv.lsuv_, init.lsuv_)
    assert.are.equal(lsuv.lsuv_, dm.init.lsuv_)
    assert.are.equal(lsuv.lsuv_, nn.init.lsuv_)
  end)

  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.nn.lsuv"] = nil
    package.loaded["deepmoon.nn.trace"] = nil
    local m = require "deepmoon.nn.lsuv"
    m.lsuv_(mlp("Tanh", 3, 4), dm.randn(8, 3, { generator = dm.Generator(1) }))
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  for _, act in ipairs({ "Tanh", "ReLU", "Sigmoid" }) do
    it("brings every layer of a 12-layer " .. act .. " net to unit output variance", function ()
      local g = dm.Generator(11)
      local model = mlp(act, 12, 16)
      local x = dm.randn(64, 3, { generator = g }) * 3 + 1
      local tol = 0.02
      local same, report = init.lsuv_(model, x, { tol = tol, generator = g })
      assert.are.equal(model, same)
      assert.are.equal(12, #report)
      local vars = linear_vars(model, x)
      assert.are.equal(12, #vars)
      for i, v in ipairs(vars) do
        assert.is_true(math.abs(v - 1) < tol, ("layer %d: variance %.5f"):format(i, v))
        assert.is_true(report[i].converged)
        assert.is_true(math.abs(report[i].var - v) < 1e-4)
        assert.are.equal(model[2 * i - 1], report[i].module)
        assert.are.equal(tostring(2 * i - 2), report[i].name)
      end
    end)
  end

  it("starts from orthogonal weights and zero biases", function ()
    local model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    local x = dm.randn(32, 8, { generator = dm.Generator(3) })
    init.lsuv_(model, x, { generator = dm.Generator(4) })
    for _, i in ipairs({ 1, 3 }) do
      local w = model[i].weight
      -- W W^T = c I: orthogonal rows, all rescaled by the same factor
      local p = w:matmul(w:t()):values()
      local c = p[1]
      for r = 0, 7 do
        for s = 0, 7 do
          local want = r == s and c or 0
          assert.is_true(math.abs(p[r * 8 + s + 1] - want) < 1e-4 * c,
                         ("layer %d: (W W^T)[%d][%d] = %g"):format(i, r + 1, s + 1,
                                                                   p[r * 8 + s + 1]))
        end
      end
      assert.are.equal(0, model[i].bias:abs():max():item())
    end
  end)

  it("is deterministic for a given generator", function ()
    local x = dm.randn(32, 3, { generator = dm.Generator(5) })
    local a, b = mlp("Tanh", 4, 8), mlp("Tanh", 4, 8)
    init.lsuv_(a, x, { generator = dm.Generator(9) })
    init.lsuv_(b, x, { generator = dm.Generator(9) })
    for i = 1, #a do
      if a[i]:_get_name() == "Linear" then
        assert.are.same(a[i].weight:values(), b[i].weight:values())
      end
    end
  end)

  it("follows the forward order, not the order the fields were assigned in", function ()
    local Net = nn.Module:extend("LsuvBackwards")
    function Net:__init ()
      self.out = nn.Linear(6, 1)         -- assigned first, called last
      self.hidden = nn.Linear(6, 6)
      self.inp = nn.Linear(2, 6)
    end
    function Net:forward (x)
      return self.out(self.hidden(self.inp(x):tanh()):relu())
    end
    local model = Net()
    local x = dm.randn(50, 2, { generator = dm.Generator(6) })
    local _, report = init.lsuv_(model, x, { tol = 0.01, generator = dm.Generator(7) })
    assert.are.same({ "inp", "hidden", "out" },
                    { report[1].name, report[2].name, report[3].name })
    dm.no_grad(function ()
      local h1 = model.inp(x)
      local h2 = model.hidden(h1:tanh())
      local o = model.out(h2:relu())
      for _, t in ipairs({ h1, h2, o }) do
        assert.is_true(math.abs(variance(t) - 1) < 0.01)
      end
    end)
  end)

  it("keeps the current weights' directions with orthogonal = false", function ()
    local g = dm.Generator(8)
    local model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    dm.no_grad(function ()
      model[1].weight:normal_(0, 3, { generator = g })
      model[1].bias:copy_(dm.linspace(-0.6, 0.6, 5))   -- its spread adds to the variance
      model[3].weight:normal_(0, 0.01, { generator = g })
    end)
    local w1, b1 = model[1].weight:clone(), model[1].bias:clone()
    local x = dm.randn(40, 4, { generator = g })
    local _, report = init.lsuv_(model, x, { orthogonal = false, tol = 0.01, max_iter = 50 })
    assert.are.same(b1:values(), model[1].bias:values())  -- biases kept
    local ratio = (model[1].weight / w1):values()
    for i = 2, #ratio do assert.is_true(math.abs(ratio[i] - ratio[1]) < 1e-4 * ratio[1]) end
    -- with a bias the output variance is not proportional to the weight's: several rounds
    assert.is_true(report[1].iterations > 1)
    for i, v in ipairs(linear_vars(model, x)) do
      assert.is_true(math.abs(v - 1) < 0.01, ("layer %d: variance %.5f"):format(i, v))
    end
  end)

  it("reports a layer it cannot rescale (constant output) and carries on", function ()
    local model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4))
    dm.no_grad(function ()
      model[1].weight:zero_()
      model[1].bias:zero_()
    end)
    local _, report = init.lsuv_(model, dm.randn(10, 3, { generator = dm.Generator(1) }),
                                 { orthogonal = false })
    assert.is_false(report[1].converged)
    assert.are.equal(0, report[1].var)
    assert.are.equal(0, report[1].iterations)
    assert.is_false(report[2].converged)
  end)

  it("stops after max_iter rescalings", function ()
    local model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4))
    -- biases spread over [-5, 5]: the output variance can never come down to 1
    dm.no_grad(function () model[1].bias:copy_(dm.linspace(-5, 5, 4)) end)
    local _, report = init.lsuv_(model, dm.randn(10, 3, { generator = dm.Generator(2) }),
                                 { orthogonal = false, max_iter = 2, tol = 1e-6 })
    assert.are.equal(2, report[1].iterations)
    assert.is_false(report[1].converged)
  end)

  it("runs in eval mode and restores the training flags, running stats untouched", function ()
    local model = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(6, 2))
    model[4]:eval()
    local x = dm.randn(20, 3, { generator = dm.Generator(3) })
    local rng = dm.get_rng_state()
    init.lsuv_(model, x, { generator = dm.Generator(1) })
    assert.are.equal(rng, dm.get_rng_state())             -- no dropout draws
    assert.is_true(model.training)
    assert.is_true(model[2].training)
    assert.is_false(model[4].training)
    assert.are.same({ 0, 0, 0, 0, 0, 0 }, model[2].running_mean:values())
    assert.are.equal(0, model[2].num_batches_tracked:item())
  end)

  it("prints one line per layer when verbose", function ()
    local lines = {}
    local real = print
    _G.print = function (s) lines[#lines + 1] = s end
    local ok, e = pcall(init.lsuv_, mlp("Tanh", 3, 4), dm.randn(8, 3), { verbose = true })
    _G.print = real
    assert(ok, e)
    assert.are.equal(3, #lines)
    assert.is_truthy(lines[1]:find("^init%.lsuv_: layer 1 %(0%): output variance 1%.0000 " ..
                                   "after 1 rescaling$"))
  end)

  it("raises clear errors at the caller's line", function ()
    local m, x = mlp("Tanh", 3, 4), dm.randn(4, 3)
    assert.are.equal("init.lsuv_: expected a Module, got table", err(init.lsuv_, {}, x))
    assert.are.equal("init.lsuv_: batch must be a Tensor, got nil", err(init.lsuv_, m))
    assert.are.equal("init.lsuv_: unknown option 'tolerance'",
                     err(init.lsuv_, m, x, { tolerance = 0.1 }))
    assert.are.equal("init.lsuv_: tol must be a positive number, got 0",
                     err(init.lsuv_, m, x, { tol = 0 }))
    assert.are.equal("init.lsuv_: max_iter must be a non-negative integer, got 1.5",
                     err(init.lsuv_, m, x, { max_iter = 1.5 }))
    assert.are.equal("init.lsuv_: option 'generator' must be a deepmoon.Generator, got number",
                     err(init.lsuv_, m, x, { generator = 3 }))
    local ok, e = pcall(function () init.lsuv_(m, x, { tol = -1 }) end)
    assert.is_false(ok)
    assert.is_truthy(e:find("lsuv_spec%.lua:%d+: init%.lsuv_: tol"))
    -- the model's own error comes through, and the training flags are restored
    local bad = nn.Sequential(nn.Linear(5, 2))
    assert.is_truthy(err(init.lsuv_, bad, x):find("expected input %[N x 5%], got %[4 x 3%]"))
    assert.is_true(bad.training)
  end)

  it("leaves no live tensor bytes behind", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
