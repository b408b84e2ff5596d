-- init.compare (deepmoon.nn.compare): the same model trained under several initialisation
-- schemes with the same seed and data; per-scheme results, the winner, the SVG plot.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = require "deepmoon.nn.init"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local SIX = { "uniform", "default", "xavier", "kaiming", "orthogonal", "lsuv" }

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

local function captured (fn, ...)
  local out = {}
  local real = print
  _G.print = function (s) out[#out + 1] = tostring(s) end
  local res = table.pack(pcall(fn, ...))
  _G.print = real
  assert(res[1], res[2])
  return table.concat(out, "\n"), table.unpack(res, 2, res.n)
end

-- the article's task, small
local g = dm.Generator(42)
local X = dm.rand(48, 2, { generator = g })
local Y = X:sum(2, true):gt(1):float()
local Xv = dm.rand(64, 2, { generator = g })
local Yv = Xv:sum(2, true):gt(1):float()

local function classifier ()
  return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
end

local function sgd (lr, momentum)
  return function (params) return optim.SGD(params, { lr = lr, momentum = momentum }) end
end

local function base_opts (extra)
  local o = { model = classifier, data = { X, Y }, val = { Xv, Yv }, loss = nn.BCELoss(),
              optimizer = sgd(0.5), epochs = 15, batch_size = 16, seed = 3, target_loss = 0.5,
              verbose = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function is_finite (v) return v == v and v > -math.huge and v < math.huge end

describe("init.compare", function ()
  local res          -- the six-scheme run, shared by the first tests
  local svg_path = os.tmpname()

  it("is reachable as init.compare", function ()
    assert.are.equal(require("deepmoon.nn.compare").compare, init.compare)
  end)

  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.nn.compare"] = nil
    local m = require "deepmoon.nn.compare"
    m.compare(base_opts({ schemes = { "xavier" }, epochs = 1 }))
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("trains every scheme and reports curve, epochs to target, final loss, metric", function ()
    res = init.compare(base_opts({ plot = svg_path }))
    assert.are.equal(6, #res.results)
    for i, name in ipairs(SIX) do
      local r = res.results[i]
      assert.are.equal(name, r.name)
      assert.are.equal(r, res.results[name])
      assert.are.equal(15, #r.curve)
      for _, v in ipairs(r.curve) do assert.is_true(is_finite(v) and v > 0) end
      assert.are.equal(r.curve[15], r.final_loss)
      assert.is_false(r.diverged)
      assert.is_true(r.val_metric >= 0 and r.val_metric <= 1)
      assert.is_true(is_finite(r.val_loss))
      assert.is_number(r.seconds)
      if r.epochs_to_target then
        assert.is_true(r.curve[r.epochs_to_target] <= 0.5)
        for e = 1, r.epochs_to_target - 1 do assert.is_true(r.curve[e] > 0.5) end
      else
        for e = 1, 15 do assert.is_true(r.curve[e] > 0.5) end
      end
    end
    assert.are.equal("accuracy", res.metric)
  end)

  it("names the winner: best validation metric, then lowest final loss", function ()
    local w = res.results[res.winner]
    assert.is_not_nil(w)
    for _, r in ipairs(res.results) do
      assert.is_true(w.val_metric >= r.val_metric)
      if r.val_metric == w.val_metric then assert.is_true(w.final_loss <= r.final_loss) end
    end
  end)

  it("writes the curves as a valid SVG, one line per scheme", function ()
    local f = assert(io.open(svg_path))
    local text = f:read("a")
    f:close()
    os.remove(svg_path)
    assert.are.equal(res.svg, text)
    assert.is_truthy(text:find("^<%?xml version=\"1%.0\""))
    assert.is_truthy(text:find("<svg xmlns=\"http://www%.w3%.org/2000/svg\""))
    assert.is_truthy(text:find("</svg>\n$"))
    for i, name in ipairs(SIX) do
      assert.is_truthy(text:find("<g class=\"series%-" .. i .. "\""))
      assert.is_truthy(text:find(">" .. name .. "</text>", 1, true))
    end
    assert.is_truthy(text:find("Training loss by initialisation", 1, true))
    -- every element opened is closed (a rough well-formedness check)
    local opened, closed = 0, 0
    for rest in text:gmatch("<%a+([^>]*)>") do
      if rest:sub(-1) ~= "/" then opened = opened + 1 end
    end
    for _ in text:gmatch("</%a+>") do closed = closed + 1 end
    assert.are.equal(opened, closed)
  end)

  it("is deterministic: the same options give the same curves", function ()
    local again = init.compare(base_opts({ schemes = { "xavier", "lsuv" } }))
    assert.are.same(res.results.xavier.curve, again.results.xavier.curve)
    assert.are.same(res.results.lsuv.curve, again.results.lsuv.curve)
  end)

  it("trains each scheme on the same seed and data as a hand-written loop would", function ()
    dm.manual_seed(3)
    local model = classifier()
    dm.manual_seed(3)
    local opt = optim.SGD(model:parameters(), { lr = 0.5 })
    local loader = data.DataLoader(data.TensorDataset(X, Y), { batch_size = 16, shuffle = true,
                                                                generator = dm.Generator(3) })
    local crit = nn.BCELoss()
    local curve = {}
    for epoch = 1, 15 do
      local sum = 0
      for xb, yb in loader do
        opt:zero_grad()
        local l = crit(model(xb), yb)
        l:backward()
        opt:step()
        sum = sum + l:item() * xb:size(1)
      end
      curve[epoch] = sum / 48
    end
    for e = 1, 15 do
      assert.is_true(math.abs(curve[e] - res.results.default.curve[e]) < 1e-6)
    end
  end)

  it("restores the default generator", function ()
    dm.manual_seed(11)
    local want = dm.get_rng_state()
    init.compare(base_opts({ schemes = { "default" }, epochs = 2 }))
    assert.are.equal(want, dm.get_rng_state())
  end)

  it("takes custom schemes by name: a function of each weight and its layer", function ()
    local seen = {}
    local r = init.compare(base_opts({
      schemes = { "xavier", halves = function (w, layer)
        seen[#seen + 1] = layer:_get_name() .. " " .. table.concat(w:size(), "x")
        w:fill_(0.5)
      end },
      epochs = 2 }))
    assert.are.same({ "xavier", "halves" }, { r.results[1].name, r.results[2].name })
    assert.are.same({ "Linear 8x2", "Linear 1x8" }, seen)
  end)

  it("runs the recommended scheme too", function ()
    local r = init.compare(base_opts({ schemes = { "recommended", "normal" }, epochs = 3 }))
    assert.are.equal(3, #r.results.recommended.curve)
    assert.are.equal(3, #r.results.normal.curve)
  end)

  it("marks a run that blows up as diverged; it never wins", function ()
    local r = init.compare{
      model = function () return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)) end,
      schemes = { "xavier", huge = function (w) w:fill_(1e30) end },
      data = { X, Y }, loss = nn.MSELoss(), optimizer = sgd(0.01), epochs = 4,
      verbose = false,
    }
    assert.is_true(r.results.huge.diverged)
    assert.is_true(#r.results.huge.curve < 4 or not is_finite(r.results.huge.final_loss))
    assert.is_false(r.results.xavier.diverged)
    assert.are.equal("xavier", r.winner)
    assert.is_nil(r.results.xavier.val_metric)       -- no validation data
    assert.is_truthy(tostring(r):find("diverged", 1, true))
  end)

  it("supports metric = 'loss' (lower is better) and metric functions", function ()
    local r = init.compare(base_opts({ schemes = { "uniform", "kaiming" }, metric = "loss" }))
    assert.is_false(r.maximize)
    local best = math.min(r.results.uniform.val_metric, r.results.kaiming.val_metric)
    assert.are.equal(best, r.results[r.winner].val_metric)
    assert.are.equal(r.results.uniform.val_loss, r.results.uniform.val_metric)
    local calls = 0
    local f = init.compare(base_opts({ schemes = { "xavier" }, epochs = 1,
      metric = function (out, target)
        calls = calls + 1
        assert.are.same({ 64, 1 }, out:size())
        assert.are.same({ 64, 1 }, target:size())
        return 42
      end }))
    assert.are.equal(1, calls)
    assert.are.equal(42, f.results.xavier.val_metric)
  end)

  it("computes accuracy for class scores, logits and probabilities", function ()
    local labels = (Y:reshape(48) + 1):long()                -- classes 1 and 2
    local r = init.compare{
      model = function () return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)) end,
      schemes = { "kaiming" }, data = { X, labels }, val = { X, labels },
      loss = nn.CrossEntropyLoss(), optimizer = sgd(0.5), epochs = 30, verbose = false,
    }
    assert.is_true(r.results.kaiming.val_metric > 0.8)
    local l = init.compare{
      model = function () return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)) end,
      schemes = { "kaiming" }, data = { X, Y }, val = { X, Y },
      loss = nn.BCEWithLogitsLoss(), optimizer = sgd(0.5), epochs = 30, verbose = false,
    }
    assert.is_true(l.results.kaiming.val_metric > 0.8)
  end)

  it("takes a data factory instead of {X, y}", function ()
    local made = 0
    local r = init.compare(base_opts({
      schemes = { "xavier", "lsuv" }, epochs = 2,
      data = function ()
        made = made + 1
        return data.DataLoader(data.TensorDataset(X, Y), { batch_size = 8 })
      end }))
    assert.are.equal(2, #r.results.lsuv.curve)
    assert.are.equal(3, made)             -- one per scheme, one for the LSUV batch
  end)

  it("prints a table and the winner unless verbose = false", function ()
    local text, r = captured(init.compare, base_opts({ schemes = { "uniform", "xavier" },
                                                       verbose = true }))
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.is_truthy(lines[1]:find("^scheme +final loss +epochs to 0%.5 +val accuracy +time$"))
    assert.is_truthy(lines[2]:find("^uniform"))
    assert.is_truthy(lines[3]:find("^xavier"))
    assert.is_truthy(text:find("\nwinner: " .. r.winner .. " %(val accuracy [%d.]+%%, final loss"))
    assert.is_truthy(text:find(r.winner .. " %*"))
    assert.are.equal(tostring(r), text)
  end)

  it("raises clear errors at the caller's line", function ()
    assert.are.equal("init.compare: expected an options table, got nil", err(init.compare))
    assert.are.equal("init.compare: unknown option 'epoch'",
                     err(init.compare, base_opts({ epoch = 3 })))
    local no_loss = base_opts()
    no_loss.loss = nil
    assert.are.equal("init.compare: missing option 'loss'", err(init.compare, no_loss))
    assert.are.equal("init.compare: unknown scheme 'glorot' (known: default, kaiming, lsuv, " ..
                     "normal, orthogonal, recommended, uniform, xavier)",
                     err(init.compare, base_opts({ schemes = { "glorot" } })))
    assert.are.equal("init.compare: scheme 'mine' must be a function (weight, layer), got number",
                     err(init.compare, base_opts({ schemes = { mine = 1 } })))
    assert.are.equal("init.compare: data must be {inputs, targets} (two Tensors)",
                     err(init.compare, base_opts({ data = { X } })))
    assert.are.equal("init.compare: val: 64 inputs but 48 targets",
                     err(init.compare, base_opts({ val = { Xv, Y } })))
    assert.are.equal("init.compare: epochs must be a positive integer, got 0",
                     err(init.compare, base_opts({ epochs = 0 })))
    local ok, e = pcall(function () init.compare(base_opts({ schemes = { "glorot" } })) end)
    assert.is_false(ok)
    assert.is_truthy(e:find("compare_spec%.lua:%d+: init%.compare: unknown scheme"))
    ok, e = pcall(function () init.compare(base_opts({ epochs = -1 })) end)
    assert.is_false(ok)
    assert.is_truthy(e:find("compare_spec%.lua:%d+: init%.compare: epochs"))
  end)

  it("leaves no live tensor bytes behind", function ()
    res = nil
    X, Y, Xv, Yv = nil, nil, nil, nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
