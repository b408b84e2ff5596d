-- init.recommend and init.diagnose (deepmoon.nn.advisor), and the custom / per-layer
-- initialisation the issue asks for: any function of a tensor as an initialiser,
-- model:apply visiting every module, layers taking an init at construction.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = require "deepmoon.nn.init"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local SQRT2 = math.sqrt(2)

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

local function close (a, b, tol, what)
  assert(math.abs(a - b) <= (tol or 1e-6) * math.max(1, math.abs(b)),
         ("%sexpected %.9g, got %.9g"):format(what and (what .. ": ") or "", b, a))
end

-- population std computed in Lua
local function std (t)
  local v = t:values()
  local s = 0
  for i = 1, #v do s = s + v[i] end
  local mean = s / #v
  local sq = 0
  for i = 1, #v do sq = sq + (v[i] - mean) ^ 2 end
  return math.sqrt(sq / #v), mean
end

-- run fn with print captured; returns the printed text
local function captured (fn, ...)
  local out = {}
  local real = print
  _G.print = function (...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    out[#out + 1] = table.concat(parts, "\t")
  end
  local res = table.pack(pcall(fn, ...))
  _G.print = real
  assert(res[1], res[2])
  return table.concat(out, "\n"), table.unpack(res, 2, res.n)
end

-- a Sequential of depth Linear layers, width wide, with act after each but the last
local function deep (act, depth, width, nin)
  local layers = { nn.Linear(nin or 2, width), nn[act]() }
  for _ = 1, depth - 2 do
    layers[#layers + 1] = nn.Linear(width, width)
    layers[#layers + 1] = nn[act]()
  end
  layers[#layers + 1] = nn.Linear(width, 1)
  return nn.Sequential(table.unpack(layers))
end

-- the entries for weighted layers only
local function weighted (r)
  local out = {}
  for _, e in ipairs(r) do
    if not e.norm then out[#out + 1] = e end
  end
  return out
end

describe("custom and per-layer initialisation", function ()
  it("takes any function of a tensor as an initialiser", function ()
    local function halves (w) return w:fill_(0.5) end
    local l = nn.Linear(3, 4, { init = halves, bias_init = init.zeros_ })
    assert.are.same({ 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }, l.weight:narrow(1, 1, 2):values())
    assert.are.same({ 0, 0, 0, 0 }, l.bias:values())
    assert.is_true(l.weight.requires_grad)
    assert.is_nil(l.weight.grad_fn)
  end)

  it("accepts an initialiser at construction: nn.Linear(2, 64, {init = kaiming_normal_})", function ()
    dm.manual_seed(5)
    local l = nn.Linear(400, 300, { init = init.kaiming_normal_ })
    local s, mean = std(l.weight)
    close(s, SQRT2 / math.sqrt(400), 0.03, "std")          -- He: gain sqrt(2), fan_in 400
    assert.is_true(math.abs(mean) < 0.003)
    local small = nn.Linear(2, 64, { init = init.kaiming_normal_ })
    assert.are.same({ 64, 2 }, small.weight:size())
  end)

  it("visits every module with model:apply, children first", function ()
    local model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(),
                                nn.Sequential(nn.Linear(8, 8), nn.Tanh()), nn.Linear(8, 1))
    local seen = {}
    model:apply(function (m) seen[#seen + 1] = m:_get_name() end)
    assert.are.same({ "Linear", "ReLU", "Linear", "Tanh", "Sequential", "Linear", "Sequential" },
                    seen)
  end)

  it("makes 'kaiming for every Linear followed by ReLU' a few lines", function ()
    dm.manual_seed(1)
    local model = nn.Sequential(nn.Linear(300, 300), nn.ReLU(), nn.Linear(300, 300), nn.Tanh(),
                                nn.Linear(300, 1))
    local before3 = model[3].weight:clone()
    for i, m in ipairs(model) do
      local nxt = i < #model and model[i + 1]
      if m:_get_name() == "Linear" and nxt and nxt:_get_name() == "ReLU" then
        init.kaiming_normal_(m.weight, { nonlinearity = "relu" })
        init.zeros_(m.bias)
      end
    end
    close(std(model[1].weight), SQRT2 / math.sqrt(300), 0.03, "std of the ReLU layer")
    assert.are.same({ 0 }, { model[1].bias:abs():max():item() })
    assert.are.same(before3:values(), model[3].weight:values())   -- the tanh layer untouched
  end)
end)

describe("init.recommend", function ()
  it("is reachable as init.recommend and dm.init.recommend", function ()
    local advisor = require "deepmoon.nn.advisor"
    assert.are.equal(advisor.recommend, init.recommend)
    assert.are.equal(advisor.diagnose, dm.init.diagnose)
  end)

  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.nn.advisor"] = nil
    local m = require "deepmoon.nn.advisor"
    local r = m.recommend(deep("ReLU", 3, 4))
    tostring(r)
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("reads which activation follows each Linear and picks scheme and gain", function ()
    local model = nn.Sequential(
      nn.Linear(2, 16), nn.ReLU(),
      nn.Linear(16, 16), nn.LeakyReLU(0.2),
      nn.Linear(16, 16), nn.Tanh(),
      nn.Linear(16, 16), nn.Sigmoid(),
      nn.Linear(16, 16), nn.SELU(), nn.Dropout(0.1),
      nn.Linear(16, 3))
    local r = init.recommend(model)
    assert.are.equal(6, r.depth)
    assert.is_true(r.traced)
    local e = weighted(r)
    assert.are.same({ "0", "2", "4", "6", "8", "11" },
                    { e[1].name, e[2].name, e[3].name, e[4].name, e[5].name, e[6].name })

    -- Linear -> ReLU: He with a = 0
    assert.are.equal("ReLU", e[1].activation)
    assert.are.equal("kaiming_normal_", e[1].scheme)
    assert.are.same({ a = 0, mode = "fan_in", nonlinearity = "relu" }, e[1].args)
    close(e[1].gain, SQRT2)
    close(e[1].std, SQRT2 / math.sqrt(2))
    -- Linear -> LeakyReLU(0.2): He with a = 0.2
    assert.are.equal("LeakyReLU", e[2].activation)
    close(e[2].param, 0.2)
    assert.are.equal("kaiming_normal_", e[2].scheme)
    close(e[2].args.a, 0.2)
    assert.are.equal("leaky_relu", e[2].args.nonlinearity)
    close(e[2].gain, math.sqrt(2 / (1 + 0.04)))
    -- Linear -> Tanh: Xavier with gain 5/3
    assert.are.equal("xavier_normal_", e[3].scheme)
    close(e[3].args.gain, 5 / 3)
    close(e[3].gain, 5 / 3)
    close(e[3].std, 5 / 3 * math.sqrt(2 / 32))
    -- Linear -> Sigmoid: Xavier with gain 1
    assert.are.equal("xavier_normal_", e[4].scheme)
    close(e[4].args.gain, 1)
    -- Linear -> SELU: LeCun normal
    assert.are.equal("SELU", e[5].activation)
    assert.are.equal("lecun_normal_", e[5].scheme)
    close(e[5].std, 1 / 4)
    -- the final Linear, no activation: Xavier with gain 1
    assert.is_nil(e[6].activation)
    assert.is_true(e[6].last)
    assert.are.equal("xavier_normal_", e[6].scheme)
    close(e[6].args.gain, 1)
    assert.is_truthy(e[6].reason:find("output layer"))
    for i = 1, 6 do
      assert.are.equal("zeros_", e[i].bias)
      assert.are.equal("Linear", e[i].layer)
      assert.is_false(e[i].batch_norm)
      assert.are.equal("string", type(e[i].reason))
      assert.is_nil(e[i].reason:find("\n"))
    end
    assert.are.same({}, r.notes)
  end)

  it("sees batch norm between a Linear and its activation", function ()
    local model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    local r = init.recommend(model)
    assert.are.equal(3, #r)
    assert.are.equal(2, r.depth)
    assert.is_true(r.batch_norm)
    assert.are.equal("ReLU", r[1].activation)
    assert.is_true(r[1].batch_norm)
    assert.are.equal("kaiming_normal_", r[1].scheme)
    assert.is_truthy(r[1].reason:find("batch norm follows"))
    assert.is_true(r[2].norm)
    assert.are.equal("BatchNorm1d", r[2].layer)
    assert.are.equal("ones_", r[2].scheme)
    assert.are.equal("zeros_", r[2].bias)
    assert.is_false(r[3].batch_norm)
  end)

  it("recognises activations called as tensor methods in a custom forward", function ()
    local Net = nn.Module:extend("AdvisorFunctional")
    function Net:__init ()
      self.fc1 = nn.Linear(2, 8)
      self.fc2 = nn.Linear(8, 8)
      self.fc3 = nn.Linear(8, 8)
      self.fc4 = nn.Linear(8, 8)
      self.fc5 = nn.Linear(8, 1)
    end
    function Net:forward (x)
      x = self.fc1(x):relu()
      x = self.fc2(x):leaky_relu(0.3)
      x = self.fc3(x):selu()
      x = self.fc4(x):tanh()
      return self.fc5(x):sigmoid()
    end
    local r = init.recommend(Net())
    assert.are.same({ "ReLU", "LeakyReLU", "SELU", "Tanh", "Sigmoid" },
                    { r[1].activation, r[2].activation, r[3].activation, r[4].activation,
                      r[5].activation })
    close(r[2].param, 0.3)
    close(r[2].args.a, 0.3)
    assert.are.equal("lecun_normal_", r[3].scheme)
    assert.are.equal("op", r[1].via)
  end)

  it("traces the forward order, or falls back to the registration order", function ()
    local Net = nn.Module:extend("AdvisorBackwards")
    function Net:__init ()
      self.head = nn.Linear(8, 1)       -- assigned first, called last
      self.act = nn.Tanh()
      self.body = nn.Linear(3, 8)
    end
    function Net:forward (x) return self.head(self.act(self.body(x))) end
    local r = init.recommend(Net())
    assert.is_true(r.traced)
    assert.are.same({ "body", "head" }, { r[1].name, r[2].name })
    assert.are.equal("Tanh", r[1].activation)
    assert.is_true(r[2].last)
    -- without tracing, the order the fields were assigned in
    local s = init.recommend(Net(), { trace = false })
    assert.is_false(s.traced)
    assert.are.same({ "head", "body" }, { s[1].name, s[2].name })
    assert.are.equal(1, #s.notes)
    assert.is_truthy(s.notes[1]:find("registration order"))
    -- a batch given is used for the trace
    local t = init.recommend(Net(), { batch = dm.zeros(2, 3) })
    assert.are.same({ "body", "head" }, { t[1].name, t[2].name })
  end)

  it("applies its advice with apply = true", function ()
    local model = nn.Sequential(nn.Linear(200, 300), nn.ReLU(), nn.Linear(300, 300), nn.Tanh(),
                                nn.Linear(300, 100), nn.BatchNorm1d(100), nn.SELU(),
                                nn.Linear(100, 1))
    dm.no_grad(function () model[6].weight:fill_(3) end)
    init.recommend(model, { apply = true, generator = dm.Generator(4) })
    close(std(model[1].weight), SQRT2 / math.sqrt(200), 0.03, "He")
    close(std(model[3].weight), 5 / 3 * math.sqrt(2 / 600), 0.03, "Xavier, tanh gain")
    close(std(model[5].weight), 1 / math.sqrt(300), 0.03, "LeCun")
    assert.are.equal(1, model[6].weight:min():item())
    assert.are.equal(1, model[6].weight:max():item())
    for _, i in ipairs({ 1, 3, 5, 8 }) do
      assert.are.equal(0, model[i].bias:abs():max():item())
    end
    -- the same generator seed gives the same weights
    local again = nn.Sequential(nn.Linear(200, 300), nn.ReLU(), nn.Linear(300, 300), nn.Tanh(),
                                nn.Linear(300, 100), nn.BatchNorm1d(100), nn.SELU(),
                                nn.Linear(100, 1))
    init.recommend(again, { apply = true, generator = dm.Generator(4) })
    assert.are.same(model[3].weight:values(), again[3].weight:values())
  end)

  it("changes nothing without apply: weights, modes, buffers, default generator", function ()
    local model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(4, 1))
    local w = model[1].weight:clone()
    local rng = dm.get_rng_state()
    init.recommend(model)
    assert.are.equal(rng, dm.get_rng_state())
    assert.are.same(w:values(), model[1].weight:values())
    assert.is_true(model.training and model[2].training and model[4].training)
    assert.are.equal(0, model[2].num_batches_tracked:item())
  end)

  it("notes depth: a deep stack without batch norm, a deep sigmoid stack", function ()
    local r = init.recommend(deep("Sigmoid", 22, 8))
    assert.are.equal(22, r.depth)
    assert.are.equal(2, #r.notes)
    assert.is_truthy(r.notes[1]:find("sigmoid"))
    assert.is_truthy(r.notes[2]:find("init.diagnose", 1, true))
  end)

  it("prints as a table, one row per layer", function ()
    local r = init.recommend(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1),
                                           nn.Sigmoid()))
    local s = tostring(r)
    local lines = {}
    for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("init.recommend: 2 weighted layers, order traced", lines[1])
    assert.is_truthy(lines[2]:find("^#  name  layer"))
    assert.is_truthy(lines[3]:find("^1  0     Linear 2%->4  ReLU +kaiming_normal_%(a=0, relu%) +1  ReLU"))
    assert.is_truthy(lines[4]:find("^2  2     Linear 4%->1  Sigmoid +xavier_normal_%(gain=1%) +0%.6325  Sigmoid"))
    assert.are.equal(4, #lines)
  end)

  it("raises clear errors", function ()
    assert.are.equal("init.recommend: expected a Module, got number", err(init.recommend, 3))
    assert.are.equal("init.recommend: unknown option 'aply'",
                     err(init.recommend, nn.Linear(2, 2), { aply = true }))
    assert.are.equal("init.recommend: option 'batch' must be a Tensor, got table",
                     err(init.recommend, nn.Linear(2, 2), { batch = {} }))
  end)
end)

describe("init.diagnose", function ()
  local X = dm.rand(128, 2, { generator = dm.Generator(1) })

  local function deep_tanh (fn)
    local model = deep("Tanh", 20, 32)
    local g = dm.Generator(2)
    model:apply(function (m)
      if m:_get_name() == "Linear" then fn(m, g) end
    end)
    return model
  end

  it("flags a deep tanh net initialised with U(-0.01, 0.01) as vanishing", function ()
    local model = deep_tanh(function (m, g)
      init.uniform_(m.weight, -0.01, 0.01, g)
      init.zeros_(m.bias)
    end)
    local d = init.diagnose(model, X, { verbose = false })
    assert.is_true(d.vanishing)
    assert.is_false(d.exploding)
    assert.is_false(d.ok)
    assert.is_true(d.activation_ratio < 1e-2)
    assert.is_true(d.gradient_ratio < 1e-2)
    assert.is_truthy(d.flags[1]:find("^vanishing: activation std falls"))
  end)

  it("flags large normal weights as exploding gradients and saturating", function ()
    local model = deep_tanh(function (m, g) init.normal_(m.weight, 0, 1, g) end)
    local d = init.diagnose(model, X, { verbose = false })
    assert.is_true(d.saturating)
    assert.is_true(d.exploding)
    assert.is_false(d.vanishing)
    assert.is_true(d.gradient_ratio > 1e2)
  end)

  it("does not flag a well-initialised net", function ()
    local model = deep("Tanh", 20, 32)
    init.recommend(model, { apply = true, generator = dm.Generator(3) })
    local d = init.diagnose(model, X, { verbose = false })
    assert.is_true(d.ok, table.concat(d.flags, "\n"))
    assert.are.same({}, d.flags)
    local relu = deep("ReLU", 20, 32)
    init.recommend(relu, { apply = true, generator = dm.Generator(3) })
    assert.is_true(init.diagnose(relu, X, { verbose = false }).ok)
  end)

  it("flags dead ReLUs", function ()
    local model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    dm.no_grad(function () model[1].bias:fill_(-100) end)
    local d = init.diagnose(model, X, { verbose = false })
    assert.is_true(d.dead)
    assert.are.equal(1, d.layers[2].zeros)
  end)

  it("returns the numbers per layer call, in forward order", function ()
    local model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1))
    local d = init.diagnose(model, X, { verbose = false })
    assert.are.equal(3, #d.layers)
    assert.are.same({ "Linear", "Tanh", "Linear" },
                    { d.layers[1].layer, d.layers[2].layer, d.layers[3].layer })
    local h = dm.no_grad(model[1], X)
    local s, mean = std(h)
    close(d.layers[1].std, s, 1e-4)
    close(d.layers[1].mean, mean, 1e-4)
    close(d.layers[1].weight_std, std(model[1].weight), 1e-4)
    for _, l in ipairs(d.layers) do assert.is_number(l.grad_std) end
    assert.is_number(d.layers[3].weight_grad_std)
    assert.is_nil(d.layers[2].weight_std)
    assert.is_number(d.layers[2].saturated)
    -- the random gradient at the output is N(0, 1)
    close(d.layers[3].grad_std, 1, 0.25)
  end)

  it("uses a loss when given one", function ()
    local model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1), nn.Sigmoid())
    local y = X:sum(2, true):gt(1):float()
    local d = init.diagnose(model, X, { loss = nn.BCELoss(), target = y, verbose = false })
    -- BCE after sigmoid: d loss / d logit = (p - y) / N
    local p = dm.no_grad(model, X)
    close(d.layers[3].grad_std, std((p - y) / 128), 1e-3)
    local f = init.diagnose(model, X, { loss = function (out) return out:sum() end,
                                        verbose = false })
    close(f.layers[4].grad_std, 0, 1e-9)   -- d sum / d out is all ones
  end)

  it("leaves the model as it was: gradients, running stats, generator, mode", function ()
    local model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(4, 1))
    model[1].weight.grad = dm.ones(4, 2)
    local rng = dm.get_rng_state()
    init.diagnose(model, X, { verbose = false })
    assert.are.equal(rng, dm.get_rng_state())
    assert.are.same({ 1, 1, 1, 1, 1, 1, 1, 1 }, model[1].weight.grad:values())
    assert.is_nil(model[5].weight.grad)
    assert.are.equal(0, model[2].num_batches_tracked:item())
    assert.are.same({ 0, 0, 0, 0 }, model[2].running_mean:values())
    assert.is_true(model.training)
  end)

  it("prints a readable table unless verbose = false", function ()
    local model = deep_tanh(function (m, g)
      init.uniform_(m.weight, -0.01, 0.01, g)
      init.zeros_(m.bias)
    end)
    local text, d = captured(init.diagnose, model, X)
    assert.is_truthy(text:find("^init%.diagnose: 39 layer calls, batch %[128 x 2%]\n"))
    assert.is_truthy(text:find("\n #  name  layer +out mean +out std +grad std +w std +w grad std  note\n"))
    assert.is_truthy(text:find("\n 1  0     Linear 2%->32"))
    assert.is_truthy(text:find("\nvanishing: activation std falls"))
    assert.are.equal(tostring(d), text)
    local quiet = captured(init.diagnose, model, X, { verbose = false })
    assert.are.equal("", quiet)
    local ok_text = tostring(init.diagnose(nn.Sequential(nn.Linear(2, 2)), X, { verbose = false }))
    assert.is_truthy(ok_text:find("\nok: "))
  end)

  it("raises clear errors", function ()
    local m = nn.Linear(2, 1)
    assert.are.equal("init.diagnose: expected a Module, got nil", err(init.diagnose, nil, X))
    assert.are.equal("init.diagnose: batch must be a Tensor, got table",
                     err(init.diagnose, m, { 1, 2 }))
    assert.are.equal("init.diagnose: unknown option 'print'",
                     err(init.diagnose, m, X, { print = false }))
    assert.are.equal("init.diagnose: ratio must be a number above 1, got 0.5",
                     err(init.diagnose, m, X, { ratio = 0.5 }))
    assert.is_truthy(err(init.diagnose, nn.Linear(3, 1), X):find("expected input %[N x 3%]"))
  end)

  it("leaves no live tensor bytes behind", function ()
    X = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
