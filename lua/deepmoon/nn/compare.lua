--- deepmoon.nn.compare: init.compare, the article's "experiment and observe the training loss
-- and convergence speed" as one call: the same model trained under several initialisation
-- schemes, with the same seed, data order and optimiser settings.
--
--   local res = init.compare{
--     model = function () return nn.Sequential(nn.Linear(2, 64), nn.ReLU(),
--                                              nn.Linear(64, 1), nn.Sigmoid()) end,
--     data = { X, y }, val = { Xv, yv },
--     loss = nn.BCELoss(),
--     optimizer = function (params) return optim.SGD(params, { lr = 0.1 }) end,
--     epochs = 100, batch_size = 16, seed = 42, target_loss = 0.2,
--     plot = "curves.svg",
--   }
--   print(res.winner, res.results.xavier.final_loss)
--
-- Schemes (opts.schemes, default { "uniform", "default", "xavier", "kaiming", "orthogonal",
-- "lsuv" }); every one but "default" also zeroes the biases:
--   default      the layers as constructed (PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
--   uniform      init.uniform_(w, -0.1, 0.1), a fixed range
--   normal       init.normal_(w, 0, 0.01), small random numbers
--   xavier       init.xavier_normal_(w), gain 1
--   kaiming      init.kaiming_normal_(w, {nonlinearity = "relu"})
--   orthogonal   init.orthogonal_(w), gain 1
--   lsuv         init.lsuv_(model, batch) on up to 256 random training rows
--   recommended  what init.recommend(model) advises for each layer
-- and custom ones by name, `schemes = { "xavier", mine = function (w, layer) ... end }`: the
-- function gets each weighted layer's weight (under no_grad) and the layer.  Built-in
-- schemes draw from dm.Generator(seed).
--
-- Each run: dm.manual_seed(seed), model = opts.model(), the scheme, then dm.manual_seed(seed)
-- again, so the data order (and dropout) are the same for every scheme whatever the scheme
-- drew.  The default generator is restored to its state before compare afterwards.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local init = require "deepmoon.nn.init"
local trace = require "deepmoon.nn.trace"
local advisor = require "deepmoon.nn.advisor"
local lsuv = require "deepmoon.nn.lsuv"

local M = {}

local DEFAULT_SCHEMES = { "uniform", "default", "xavier", "kaiming", "orthogonal", "lsuv" }
local LSUV_ROWS = 256

-- the options; true: any value, or checked in compare with the values it may take
local OPTIONS = { model = true, schemes = true, data = true, val = true, loss = true,
                  optimizer = true, epochs = true, batch_size = true, seed = true,
                  target_loss = "number", metric = true, maximize = true, plot = true,
                  title = true, verbose = true }

-- errors point at the user's line: fail is called from compare itself (level 3), fail4 from
-- the helpers compare calls
local function fail (fmt, ...) error(("init.compare: " .. fmt):format(...), 3) end
local function fail4 (fmt, ...) error(("init.compare: " .. fmt):format(...), 4) end

local function finite (v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- apply fn(weight, layer) to every weighted layer, biases zeroed first
local function per_weight (model, fn)
  dm.no_grad(function ()
    for m in model:modules() do
      if trace.is_weighted(m) then
        if m.bias ~= nil then m.bias:zero_() end
        fn(m.weight, m)
      end
    end
  end)
end

local BUILTIN = {
  default = function () end,
  uniform = function (model, g)
    per_weight(model, function (w) init.uniform_(w, -0.1, 0.1, { generator = g }) end)
  end,
  normal = function (model, g)
    per_weight(model, function (w) init.normal_(w, 0, 0.01, { generator = g }) end)
  end,
  xavier = function (model, g)
    per_weight(model, function (w) init.xavier_normal_(w, { generator = g }) end)
  end,
  kaiming = function (model, g)
    per_weight(model, function (w)
      init.kaiming_normal_(w, { nonlinearity = "relu", generator = g })
    end)
  end,
  orthogonal = function (model, g)
    per_weight(model, function (w) init.orthogonal_(w, { generator = g }) end)
  end,
  lsuv = function (model, g, batch)
    lsuv.lsuv_(model, batch, { generator = g })
  end,
  recommended = function (model, g, batch)
    advisor.recommend(model, { apply = true, batch = batch, generator = g })
  end,
}

-- the list of {name =, apply = fn(model, g, batch)} in order: the array part, then the
-- named functions sorted by name
local function parse_schemes (schemes)
  local out, seen = {}, {}
  local function add (name, apply)
    if seen[name] then error(("init.compare: scheme '%s' given twice"):format(name), 5) end
    seen[name] = true
    out[#out + 1] = { name = name, apply = apply }
  end
  for i, s in ipairs(schemes) do
    if type(s) ~= "string" then
      fail4("schemes[%d] must be a scheme name, got %s (name custom schemes: {mine = fn})",
           i, type(s))
    end
    if not BUILTIN[s] then
      local names = {}
      for k in pairs(BUILTIN) do names[#names + 1] = k end
      table.sort(names)
      fail4("unknown scheme '%s' (known: %s)", s, table.concat(names, ", "))
    end
    add(s, BUILTIN[s])
  end
  local named = {}
  for k, v in pairs(schemes) do
    if math.type(k) ~= "integer" or k < 1 or k > #schemes then
      if type(k) ~= "string" then fail4("scheme keys must be names, got %s", tostring(k)) end
      if type(v) ~= "function" then
        fail4("scheme '%s' must be a function (weight, layer), got %s", k, type(v))
      end
      named[#named + 1] = k
    end
  end
  table.sort(named)
  for _, k in ipairs(named) do
    local fn = schemes[k]
    add(k, function (model) per_weight(model, fn) end)
  end
  if #out == 0 then fail4("no schemes to compare") end
  return out
end

local function check_pair (what, v)
  if type(v) ~= "table" or not dm.is_tensor(v[1]) or not dm.is_tensor(v[2]) then
    fail4("%s must be {inputs, targets} (two Tensors)", what)
  end
  if v[1]:size(1) ~= v[2]:size(1) then
    fail4("%s: %d inputs but %d targets", what, v[1]:size(1), v[2]:size(1))
  end
end

-- accuracy of out against target: classes by argmax when out has several columns, else a
-- threshold (0 for logits, 0.5 for probabilities)
local function accuracy (out, target, logits)
  local n = out:size(1)
  local pred, truth
  if out:dim() >= 2 and out:size(out:dim()) > 1 then
    pred = out:argmax(out:dim())
    if target:dim() == out:dim() then truth = target:argmax(target:dim())
    else truth = target end
  else
    pred = out:gt(logits and 0 or 0.5)
    truth = target:gt(0.5)
  end
  return pred:reshape(n):eq(truth:reshape(n)):float():mean():item()
end

local function fmt_loss (v)
  if v == nil then return "-" end
  if not finite(v) then return tostring(v) end
  return ("%.4f"):format(v)
end

-- the corner of the plot whose legend box would cover the fewest curve points (the y axis
-- is logarithmic and spans whole decades, as plot.line draws it)
local function legend_corner (results)
  local lo, hi, n = math.huge, -math.huge, 1
  for _, r in ipairs(results) do
    n = math.max(n, #r.curve)
    for _, v in ipairs(r.curve) do
      if finite(v) and v > 0 then
        lo, hi = math.min(lo, math.log(v, 10)), math.max(hi, math.log(v, 10))
      end
    end
  end
  if lo > hi then return "top-right" end
  lo, hi = math.floor(lo), math.ceil(hi)
  if hi <= lo then hi = lo + 1 end
  -- the legend's share of the plot: about 20 px per entry of a 310 px high, 560 px wide area
  local h = math.min(0.9, (#results * 20 + 8) / 310)
  local w = 0.3
  local best, fewest
  for _, corner in ipairs({ "top-right", "bottom-left", "top-left", "bottom-right" }) do
    local x0 = corner:find("left") and 0 or 1 - w
    local y0 = corner:find("bottom") and 0 or 1 - h
    local count = 0
    for _, r in ipairs(results) do
      for e, v in ipairs(r.curve) do
        local x = n > 1 and (e - 1) / (n - 1) or 0
        if finite(v) and v > 0 and x >= x0 and x <= x0 + w then
          local y = (math.log(v, 10) - lo) / (hi - lo)
          if y >= y0 and y <= y0 + h then count = count + 1 end
        end
      end
    end
    if fewest == nil or count < fewest then best, fewest = corner, count end
  end
  return best
end

--- init.compare(opts): train opts.model() under each scheme and compare.  Options:
---   model        function returning a fresh model, or a model class (required)
---   data         {X, y}, batched by a DataLoader (shuffled by dm.Generator(seed)), or a
---                function returning something to iterate per epoch (for xb, yb in ...)
---                (required)
---   loss         the criterion, loss(output, target) (required)
---   val          {Xv, yv} for the validation metric (default: none; the winner is then
---                the lowest final training loss)
---   optimizer    function(params) -> optimizer (default optim.SGD(params, {lr = 0.01}))
---   epochs (100), batch_size (16), seed (42), target_loss (nil: no epochs-to-target)
---   metric       "accuracy" (default), "loss", or function(output, target) -> number
---   maximize     whether a larger metric is better (default: true, false for "loss")
---   schemes      see the top of this file
---   plot         a path to write the loss curves to as SVG; title: its title
---   verbose      print the table (default true)
--- Returns {results = per scheme in order, also by name: {name =, curve = mean training
--- loss per epoch, epochs_to_target = first epoch at or below target_loss (nil: never),
--- final_loss =, val_loss =, val_metric =, diverged = a loss became nan/inf (training
--- stopped), seconds =}, winner = name, metric = name, svg = the plot's text}; tostring
--- gives the table.  The winner has the best validation metric, ties broken by the lower
--- final loss, then by the fewer epochs to target; diverged runs never win.
function M.compare (opts)
  if type(opts) ~= "table" then      -- required: model, data and loss have no default
    error(("init.compare: expected an options table, got %s"):format(check.typename(opts)), 2)
  end
  check.options("init.compare", opts, OPTIONS)
  local mt = type(opts.model) == "table" and getmetatable(opts.model)
  if type(opts.model) ~= "function" and not (mt and mt.__call) then
    fail("model must be a function (or a model class) returning a fresh model, got %s",
         type(opts.model))
  end
  if opts.loss == nil then fail("missing option 'loss'") end
  if opts.data == nil then fail("missing option 'data'") end
  if type(opts.data) ~= "function" then check_pair("data", opts.data) end
  if opts.val ~= nil then check_pair("val", opts.val) end
  local epochs = opts.epochs or 100
  local batch_size = opts.batch_size or 16
  local seed = opts.seed or 42
  for k, v in pairs({ epochs = epochs, batch_size = batch_size, seed = seed }) do
    if math.type(v) ~= "integer" or v < (k == "seed" and 0 or 1) then
      fail("%s must be a %s integer, got %s", k, k == "seed" and "non-negative" or "positive",
           tostring(v))
    end
  end
  local target = opts.target_loss
  local metric = opts.metric or "accuracy"
  if metric ~= "accuracy" and metric ~= "loss" and type(metric) ~= "function" then
    fail("metric must be \"accuracy\", \"loss\" or a function, got %s", tostring(metric))
  end
  local maximize = opts.maximize
  if maximize == nil then maximize = metric ~= "loss" end
  local make_opt = opts.optimizer or function (params)
    return require("deepmoon.optim").SGD(params, { lr = 0.01 })
  end
  if type(make_opt) ~= "function" then
    fail("optimizer must be a function(params) returning an optimizer, got %s", type(make_opt))
  end
  if opts.plot ~= nil and type(opts.plot) ~= "string" then
    fail("plot must be a file path, got %s", type(opts.plot))
  end
  local schemes = parse_schemes(opts.schemes or DEFAULT_SCHEMES)
  local loss_fn = opts.loss
  local logits = module.is_module(loss_fn) and loss_fn:_get_name() == "BCEWithLogitsLoss"
  local metric_name = type(metric) == "string" and metric or "metric"

  local data = require "deepmoon.data"
  local X, Y
  if type(opts.data) == "table" then X, Y = opts.data[1], opts.data[2] end

  -- the LSUV / recommend batch: up to 256 random training rows (or the first batch)
  local probe
  local function probe_batch (loader)
    if X then
      local n = X:size(1)
      local idx = dm.randperm(n, { generator = dm.Generator(seed) })
      if n > LSUV_ROWS then idx = idx:narrow(1, 1, LSUV_ROWS) end
      return X:index_select(1, idx)
    end
    for xb in loader() do return xb end
  end

  local function new_loader ()
    if X then
      return data.DataLoader(data.TensorDataset(X, Y), { batch_size = batch_size,
        shuffle = true, generator = dm.Generator(seed) })
    end
    return opts.data()
  end

  local rng = dm.get_rng_state()
  local results = {}
  local ok, err = pcall(function ()
    for _, s in ipairs(schemes) do
      if s.name == "lsuv" or s.name == "recommended" then
        dm.manual_seed(seed)
        probe = probe_batch(new_loader)
        break
      end
    end
    for i, s in ipairs(schemes) do
      local t0 = dm.clock()
      dm.manual_seed(seed)
      local model = opts.model()
      if not module.is_module(model) then
        error(("init.compare: model() returned a %s, not a Module"):format(type(model)), 0)
      end
      s.apply(model, dm.Generator(seed), probe)
      dm.manual_seed(seed)
      local optimizer = make_opt(model:parameters())
      local loader = new_loader()
      local r = { name = s.name, curve = {}, diverged = false }
      model:train()
      for epoch = 1, epochs do
        local sum, count = 0, 0
        for xb, yb in loader do
          optimizer:zero_grad()
          local l = loss_fn(model(xb), yb)
          l:backward()
          optimizer:step()
          local v = l:item()
          local n = dm.is_tensor(xb) and xb:size(1) or 1
          sum, count = sum + v * n, count + n
        end
        local mean = count > 0 and sum / count or 0 / 0
        r.curve[epoch] = mean
        if not finite(mean) then
          r.diverged = true
          break
        end
        if target and r.epochs_to_target == nil and mean <= target then
          r.epochs_to_target = epoch
        end
      end
      r.final_loss = r.curve[#r.curve]
      if opts.val and not r.diverged then
        model:eval()
        dm.no_grad(function ()
          local out = model(opts.val[1])
          r.val_loss = loss_fn(out, opts.val[2]):item()
          if metric == "accuracy" then r.val_metric = accuracy(out, opts.val[2], logits)
          elseif metric == "loss" then r.val_metric = r.val_loss
          else r.val_metric = metric(out, opts.val[2]) end
        end)
        model:train()
      end
      r.seconds = dm.clock() - t0
      results[i] = r
      results[s.name] = r
    end
  end)
  dm.set_rng_state(rng)
  if not ok then error(err, 2) end

  -- the winner
  local function better (a, b)
    if a.diverged ~= b.diverged then return not a.diverged end
    local am, bm = a.val_metric, b.val_metric
    if am ~= nil and bm ~= nil and finite(am) and finite(bm) and am ~= bm then
      if maximize then return am > bm else return am < bm end
    end
    local af, bf = a.final_loss, b.final_loss
    if finite(af) and finite(bf) and af ~= bf then return af < bf end
    if finite(af) ~= finite(bf) then return finite(af) end
    local ae, be = a.epochs_to_target or math.huge, b.epochs_to_target or math.huge
    return ae < be
  end
  local best
  for _, r in ipairs(results) do
    if not r.diverged and (best == nil or better(r, best)) then best = r end
  end

  local res = setmetatable({ results = results, winner = best and best.name or nil,
                             metric = metric_name, maximize = maximize, target_loss = target,
                             has_val = opts.val ~= nil }, M.Comparison)

  -- the curves
  local series = {}
  for i, r in ipairs(results) do series[i] = { name = r.name, y = r.curve } end
  local plot = require "deepmoon.plot"
  local svg, perr = plot.line{ series = series, title = opts.title or
                               "Training loss by initialisation", xlabel = "epoch",
                               ylabel = "mean training loss", log_y = true,
                               legend = legend_corner(results), path = opts.plot }
  if not svg then error("init.compare: " .. tostring(perr), 2) end
  res.svg = svg
  res.plot = opts.plot

  if opts.verbose ~= false then print(tostring(res)) end
  return res
end

M.Comparison = { __name = "deepmoon.init.Comparison" }
M.Comparison.__index = M.Comparison

function M.Comparison.__tostring (res)
  local pct = res.metric == "accuracy"
  local any_diverged = false
  for _, r in ipairs(res.results) do any_diverged = any_diverged or r.diverged end
  local rows = {}
  for i, r in ipairs(res.results) do
    local vm = r.val_metric
    local vtext = "-"
    if vm ~= nil then vtext = pct and ("%.1f%%"):format(vm * 100) or ("%.4g"):format(vm) end
    rows[i] = { r.name .. (r.name == res.winner and " *" or ""), fmt_loss(r.final_loss),
                r.epochs_to_target and tostring(r.epochs_to_target) or "-",
                vtext, ("%.1f s"):format(r.seconds) }
    if any_diverged then table.insert(rows[i], 5, r.diverged and "yes" or "") end
  end
  local target = res.target_loss and ("epochs to %g"):format(res.target_loss) or "epochs to target"
  local headers = { "scheme", "final loss", target, "val " .. res.metric, "time" }
  local right = { false, true, true, true, true }
  if any_diverged then
    table.insert(headers, 5, "diverged")
    table.insert(right, 5, false)
  end
  local s = advisor._table(headers, rows, right)
  if res.winner then
    local w = res.results[res.winner]
    local why
    if res.has_val then
      why = ("val %s %s, final loss %s"):format(res.metric,
        pct and ("%.1f%%"):format(w.val_metric * 100) or ("%.4g"):format(w.val_metric),
        fmt_loss(w.final_loss))
    else
      why = "final loss " .. fmt_loss(w.final_loss)
    end
    s = s .. ("\nwinner: %s (%s)"):format(res.winner, why)
  else
    s = s .. "\nwinner: none (every run diverged)"
  end
  if res.plot then s = s .. "\ncurves: " .. res.plot end
  return s
end

return M
