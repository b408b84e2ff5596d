--- deepmoon.nn.advisor: init.recommend and init.diagnose -- which initialisation a model's
-- layers call for, and whether the signal survives its depth.
--
--   local init = require "deepmoon.nn.init"
--   print(init.recommend(model))                  -- per layer: scheme, gain, one-line reason
--   init.recommend(model, {apply = true})         -- ... and apply it
--   local report = init.diagnose(model, x)        -- one forward + backward, prints a table
--   if report.vanishing then ... end
--
-- Layers are found in forward order by tracing one forward pass (see deepmoon.nn.trace): on
-- the batch given, or, for recommend without one, on 8 random rows shaped for the first
-- layer (a first convolution: [4 x C x L] or [4 x C x S x S] inputs of a few usual sizes,
-- S = 28, 32, 8, 64, 16, until one runs), in eval mode, so dropout and batch norm change
-- nothing.  When the forward cannot run, the registration order stands in (nn.Sequential's
-- child order; a custom module's children in the order its __init assigned them).  "The
-- activation that follows a layer" is the first activation met after it, skipping Dropout,
-- Identity, Flatten, pooling, padding, upsampling and batch
-- norm, before the next weighted layer -- an activation module, or a tensor method
-- (x:relu()) recognised by the grad_fn of what the next layer received.
--
-- The rules recommend follows (weights; biases start at zero):
--   ReLU                     kaiming_normal_(a = 0, nonlinearity = "relu"), gain sqrt(2)
--   LeakyReLU(s), PReLU      kaiming_normal_(a = s, nonlinearity = "leaky_relu"),
--                            gain sqrt(2 / (1 + s^2))
--   ELU, GELU, SiLU, ...     as ReLU (ReLU-like: identity for large x, ~0 below)
--   Tanh                     xavier_normal_(gain = 5/3)
--   Sigmoid                  xavier_normal_(gain = 1)
--   SELU                     lecun_normal_ (self-normalisation is proved for it alone)
--   nothing (an output layer, or a linear layer feeding another), Softmax, LogSoftmax
--                            xavier_normal_(gain = 1): with no nonlinearity Glorot's
--                            derivation holds exactly, and it keeps the backward variance
--                            too, which matters most next to the loss (PyTorch's default,
--                            std 1 / sqrt(3 fan_in), shrinks the logits by sqrt(3))
--   BatchNorm (the layer)    weight 1, bias 0
-- A batch norm after a layer keeps the activation's rule (the scale then matters little).
--
-- diagnose's flags (thresholds: opts.ratio, default 100):
--   vanishing   last weighted layer's output std < first's / ratio (with convolutions: last
--               convolution's < first's, and the same over the dense layers after them), or
--               the gradient std at the first weighted layer's output < the last's / ratio
--               (with convolutions, over the same two spans: pooling spreads the gradient
--               of a feature map over its positions); activation_ratio and gradient_ratio
--               are the spans' ratios furthest from 1
--   exploding   the same ratios above ratio (gradients growing towards the input), or any
--               nan / inf on the way
--   saturating  on average over the Tanh and Sigmoid modules, more than half their outputs
--               within 0.01 of the asymptotes (|tanh| > 0.99, sigmoid < 0.01 or > 0.99)
--   dead        a ReLU-family module outputs more than 90% zeros

local dm = require "deepmoon"
local check = require "deepmoon.check"
local init = require "deepmoon.nn.init"
local module = require "deepmoon.nn.module"
local trace = require "deepmoon.nn.trace"

local M = {}

local is_module = module.is_module

-- ---- what each module is ------------------------------------------------------------------

-- layers that pass the signal on without a nonlinearity of their own that an init should
-- answer (max pooling commutes with the monotone activations that follow it)
local PASS = { Dropout = true, AlphaDropout = true, Identity = true, Flatten = true,
               Unflatten = true, Dropout1d = true, Dropout2d = true, Dropout3d = true,
               MaxPool1d = true, MaxPool2d = true, AvgPool1d = true, AvgPool2d = true,
               AdaptiveAvgPool2d = true, AdaptiveMaxPool2d = true, ZeroPad2d = true,
               ConstantPad1d = true, ConstantPad2d = true, ReflectionPad1d = true,
               ReflectionPad2d = true, ReplicationPad1d = true, ReplicationPad2d = true,
               CircularPad1d = true, CircularPad2d = true, Upsample = true,
               UpsamplingNearest2d = true, UpsamplingBilinear2d = true, PixelShuffle = true,
               PixelUnshuffle = true }

-- activation families: "relu" (He), "tanh", "sigmoid" (Xavier with gain), "selu" (LeCun),
-- "output" (Xavier gain 1)
local FAMILY = {
  ReLU = "relu", ReLU6 = "relu", LeakyReLU = "leaky", PReLU = "leaky", RReLU = "leaky",
  ELU = "relu", CELU = "relu", GELU = "relu", SiLU = "relu", Mish = "relu", Softplus = "relu",
  Tanh = "tanh", Hardtanh = "tanh", Softsign = "tanh",
  Sigmoid = "sigmoid", SELU = "selu",
  Softmax = "output", LogSoftmax = "output",
}

local function class_of (m) return m:_get_name() end

-- "weighted", "activation", "norm", "pass" or "other"
local function kind_of (m)
  local name = class_of(m)
  if FAMILY[name] then return "activation" end
  if PASS[name] then return "pass" end
  if name:find("Norm") then return "norm" end
  if trace.is_weighted(m) then return "weighted" end
  return "other"
end

-- the slope of a leaky activation module
local function slope_of (m)
  local name = class_of(m)
  if name == "PReLU" then
    local w = rawget(m, "_parameters").map.weight
    if dm.is_tensor(w) then return w:mean():item() end
    return 0.25
  end
  if name == "RReLU" then
    local lo, hi = m.lower or 1 / 8, m.upper or 1 / 3
    return (lo + hi) / 2
  end
  return m.negative_slope or 0.01
end

-- ---- finding the layers -----------------------------------------------------------------

-- the steps of the forward pass: traced calls (with tensors) or the leaves (without)
local function steps_of (model, batch, want_trace)
  local candidates = {}
  if want_trace and batch ~= nil then
    candidates[1] = batch
  elseif want_trace then
    -- batches shaped for each 2-D weighted layer's input, in registration order, until one
    -- runs (the first registered is usually, not always, the first called)
    -- (a convolution: [4 x C x L] or [4 x C x S x S] images of the usual sizes)
    local tried = {}
    local function try (shape)
      local key = table.concat(shape, "x")
      if not tried[key] then
        tried[key] = true
        candidates[#candidates + 1] = shape
      end
    end
    for _, l in ipairs(trace.leaves(model)) do
      local m = l.module
      local w = trace.is_weighted(m) and m.weight
      if w and w:dim() == 2 then
        try({ 8, w:size(2) })
      elseif w and w:dim() >= 3 and w:dim() <= 4 then
        local c = math.type(m.in_channels) == "integer" and m.in_channels or w:size(2)
        for _, s in ipairs(w:dim() == 3 and { 128, 64, 32, 100, 256 } or { 28, 32, 8, 64, 16 }) do
          if w:dim() == 3 then try({ 4, c, s }) else try({ 4, c, s, s }) end
        end
      end
    end
  end
  for _, c in ipairs(candidates) do
    local x
    if dm.is_tensor(c) then x = c:detach()
    else
      local shape = { table.unpack(c) }
      shape[#shape + 1] = { generator = dm.Generator(0) }
      x = dm.randn(table.unpack(shape))
    end
    x.requires_grad = true        -- so that every op on the way records its grad_fn
    local restore_mode = trace.set_mode(model, false)
    local ok, calls, out = pcall(function ()
      return dm.enable_grad(trace.run, model, x)
    end)
    restore_mode()
    if ok then return calls, out, true end
  end
  return trace.leaves(model), nil, false
end

-- For each weighted layer (first call only), what follows it: returns a list of
-- {step =, index =, name =, module =, activation =, param =, via =, batch_norm =,
-- last =, unknown =} in forward order, the norm layers as {norm = true, ...} among them.
local function analyse (steps, final_out)
  local out, seen = {}, {}
  local last_weighted
  for i, s in ipairs(steps) do
    if kind_of(s.module) == "weighted" then last_weighted = i end
  end
  for i, s in ipairs(steps) do
    local m = s.module
    local kind = kind_of(m)
    if kind == "norm" and not seen[m] then
      seen[m] = true
      out[#out + 1] = { index = i, name = s.name, module = m, norm = true }
    elseif kind == "weighted" and not seen[m] then
      seen[m] = true
      local e = { index = i, name = s.name, module = m, batch_norm = false,
                  last = (i == last_weighted) }
      local prev = s.output
      local j = i + 1
      while true do
        local t = steps[j]
        if t == nil then
          local a, p = trace.op_activation(final_out, prev)
          if a then e.activation, e.param, e.via = a, p, "op" end
          break
        end
        local a, p = trace.op_activation(t.input, prev)
        if a then
          e.activation, e.param, e.via = a, p, "op"
          break
        end
        local k = kind_of(t.module)
        if k == "activation" then
          e.activation, e.via = class_of(t.module), "module"
          if FAMILY[e.activation] == "leaky" then e.param = slope_of(t.module) end
          break
        elseif k == "norm" then
          e.batch_norm = true
        elseif k == "other" then
          e.activation, e.via, e.unknown = class_of(t.module), "module", true
          break
        elseif k ~= "pass" then
          break
        end
        prev = t.output
        j = j + 1
      end
      out[#out + 1] = e
    end
  end
  return out
end

-- ---- the rules ----------------------------------------------------------------------------

local function fmt_num (v) return (("%.4g"):format(v)) end

-- fill e.scheme, e.args, e.gain, e.std, e.reason
local function rule (e)
  local w = e.module.weight
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(w)
  local act = e.activation
  local family = act and FAMILY[act]
  local function kaiming (a, nl)
    e.scheme, e.args = "kaiming_normal_", { a = a, mode = "fan_in", nonlinearity = nl }
    e.gain = init.calculate_gain(nl, a)
    e.std = e.gain / math.sqrt(fan_in)
  end
  local function xavier (gain)
    e.scheme, e.args = "xavier_normal_", { gain = gain }
    e.gain = gain
    e.std = gain * math.sqrt(2 / (fan_in + fan_out))
  end
  if family == "relu" then
    kaiming(0, "relu")
    if act == "ReLU" then
      e.reason = "ReLU zeroes half its inputs: He (Kaiming) with gain sqrt(2) keeps the " ..
                 "variance from layer to layer"
    else
      e.reason = act .. " is ReLU-like (identity for large inputs, near 0 below): He " ..
                 "(Kaiming) with ReLU's gain sqrt(2)"
    end
  elseif family == "leaky" then
    local a = e.param or 0.01
    kaiming(a, "leaky_relu")
    e.reason = ("%s with slope %s: He (Kaiming) with a = %s, gain sqrt(2 / (1 + a^2)) = %.4f")
               :format(act, fmt_num(a), fmt_num(a), e.gain)
  elseif family == "tanh" then
    xavier(init.calculate_gain("tanh"))
    e.reason = act .. " is linear near 0 and squashes beyond: Xavier (Glorot) with tanh's " ..
               "gain 5/3"
  elseif family == "sigmoid" then
    xavier(1)
    e.reason = "Sigmoid: Xavier (Glorot) with gain 1, the case Glorot and Bengio derived it for"
  elseif family == "selu" then
    e.scheme, e.args = "lecun_normal_", {}
    e.gain, e.std = 1, 1 / math.sqrt(fan_in)
    e.reason = "SELU self-normalises only from LeCun normal weights (std 1 / sqrt(fan_in))"
  elseif family == "output" then
    xavier(1)
    e.reason = act .. " output: Xavier with gain 1 keeps forward and backward variance " ..
               "(logits of unit scale)"
  elseif e.unknown then
    xavier(1)
    e.reason = ("followed by %s, which the advisor does not know: Xavier with gain 1 " ..
                "(check with init.diagnose)"):format(act)
  elseif e.last then
    xavier(1)
    e.reason = "output layer, no activation: Xavier with gain 1 (linear) keeps forward and " ..
               "backward variance next to the loss"
  else
    xavier(1)
    e.reason = "no activation before the next layer: Xavier with gain 1 (linear)"
  end
  if e.batch_norm then
    e.reason = e.reason .. "; batch norm follows, so the scale matters little and the bias " ..
               "is redundant"
  end
  e.bias = e.module.bias ~= nil and "zeros_" or nil
end

local function norm_rule (e)
  local m = e.module
  e.scheme = m.weight ~= nil and "ones_" or nil
  e.bias = m.bias ~= nil and "zeros_" or nil
  e.reason = class_of(m) .. ": scale 1 and shift 0 (its own default), so it starts as a " ..
             "plain normalisation"
end

-- ---- printing -----------------------------------------------------------------------------

--- Lay out rows (lists of strings) under headers, columns padded to their widest cell;
--- `right` marks the columns to right-align.  Returns the lines joined by "\n".
function M._table (headers, rows, right)
  right = right or {}
  local widths = {}
  for c, h in ipairs(headers) do widths[c] = utf8.len(h) end
  for _, r in ipairs(rows) do
    for c = 1, #headers do
      local n = utf8.len(r[c] or "") or #(r[c] or "")
      if n > widths[c] then widths[c] = n end
    end
  end
  local function line (cells)
    local parts = {}
    for c = 1, #headers do
      local s = cells[c] or ""
      local pad = (" "):rep(widths[c] - (utf8.len(s) or #s))
      parts[c] = right[c] and (pad .. s) or (s .. pad)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local lines = { line(headers) }
  for _, r in ipairs(rows) do lines[#lines + 1] = line(r) end
  return table.concat(lines, "\n")
end

local function layer_label (m)
  local name = class_of(m)
  if trace.is_weighted(m) then
    local w = m.weight
    if w:dim() == 2 then return ("%s %d->%d"):format(name, w:size(2), w:size(1)) end
    return name .. " [" .. table.concat(w:size(), " x ") .. "]"
  end
  return name
end

local function scheme_label (e)
  if e.scheme == nil then return "-" end
  local a = e.args
  if e.scheme == "kaiming_normal_" then
    return ("kaiming_normal_(a=%s, %s)"):format(fmt_num(a.a), a.nonlinearity)
  elseif e.scheme == "xavier_normal_" then
    return ("xavier_normal_(gain=%s)"):format(fmt_num(a.gain))
  end
  return e.scheme
end

local Recommendation = { __name = "deepmoon.init.Recommendation" }
Recommendation.__index = Recommendation

function Recommendation.__tostring (r)
  local rows = {}
  for i, e in ipairs(r) do
    local act = e.norm and "" or (e.activation or (e.last and "(output)" or "none"))
    if e.param and not e.norm then act = ("%s(%s)"):format(act, fmt_num(e.param)) end
    if e.batch_norm then act = "BatchNorm, " .. act end
    rows[i] = { tostring(i), e.name ~= "" and e.name or "(model)", layer_label(e.module), act,
                scheme_label(e), e.std and fmt_num(e.std) or "", e.reason }
  end
  local head = ("init.recommend: %d weighted layer%s%s"):format(r.depth, r.depth == 1 and "" or "s",
    r.traced and ", order traced" or ", registration order")
  local s = head .. "\n" .. M._table({ "#", "name", "layer", "followed by", "init", "std",
                                      "reason" }, rows, { true, false, false, false, false, true })
  for _, n in ipairs(r.notes) do s = s .. "\nnote: " .. n end
  return s
end

-- ---- recommend ----------------------------------------------------------------------------

local RECOMMEND_OPTIONS = { apply = true, batch = "tensor", trace = true, generator = "generator" }
-- loss and ratio: checked in diagnose with the values they may take
local DIAGNOSE_OPTIONS = { loss = true, target = true, ratio = true, verbose = true }

--- Apply one recommendation entry (as recommend returns them) under no_grad, drawing from
--- generator g (nil: the default one).
function M.apply_entry (e, g)
  dm.no_grad(function ()
    local m = e.module
    if e.scheme == "ones_" then
      init.ones_(m.weight)
    elseif e.scheme then
      local o = {}
      for k, v in pairs(e.args) do o[k] = v end
      o.generator = g
      init[e.scheme](m.weight, o)
    end
    if e.bias and m.bias ~= nil then init.zeros_(m.bias) end
  end)
end

--- init.recommend(model [, {apply = false, batch = x, trace = true, generator = g}]):
--- per layer in forward order, the recommended initialisation and why.  Returns a list of
--- entries {name =, module =, layer =, activation = "ReLU" or nil, param = slope or nil,
--- batch_norm =, last =, scheme = "kaiming_normal_" ..., args = {...}, gain =, std =,
--- bias = "zeros_" or nil, reason =} (batch norm layers too, with norm = true), with fields
--- depth (weighted layers), traced, notes; tostring gives a table.  apply = true also
--- initialises the layers that way (random draws from `generator`).  batch: the input to
--- trace the order with (default: 8 random rows); trace = false: registration order.
function M.recommend (model, opts)
  if not is_module(model) then
    error(("init.recommend: expected a Module, got %s"):format(type(model)), 2)
  end
  opts = check.options("init.recommend", opts, RECOMMEND_OPTIONS)
  local steps, out, traced = steps_of(model, opts.batch, opts.trace ~= false)
  local entries = analyse(steps, out)
  steps, out = nil, nil
  local r = setmetatable({ depth = 0, traced = traced, notes = {}, batch_norm = false },
                         Recommendation)
  local families = {}
  for i, e in ipairs(entries) do
    if e.norm then
      norm_rule(e)
      r.batch_norm = true
    else
      rule(e)
      r.depth = r.depth + 1
      if e.activation then families[FAMILY[e.activation] or "other"] = true end
    end
    e.layer = class_of(e.module)
    e.index = nil
    r[i] = e
  end
  if r.depth >= 10 and families.sigmoid then
    r.notes[#r.notes + 1] = ("%d layers with sigmoid: its outputs average 0.5, a shift no " ..
      "variance-preserving scheme removes; prefer tanh or ReLU, batch norm, or " ..
      "init.lsuv_(model, batch)"):format(r.depth)
  end
  if r.depth >= 20 and not r.batch_norm then
    r.notes[#r.notes + 1] = ("%d weighted layers and no batch norm: check that the signal " ..
      "reaches the end with init.diagnose(model, batch), or fit the scales to data with " ..
      "init.lsuv_(model, batch)"):format(r.depth)
  end
  if not traced and r.depth > 0 then
    r.notes[#r.notes + 1] = "the forward could not be traced: layers are in registration " ..
      "order, and activations called as tensor methods are not seen (pass {batch = x})"
  end
  if opts.apply then
    for _, e in ipairs(r) do M.apply_entry(e, opts.generator) end
  end
  return r
end

-- ---- diagnose -----------------------------------------------------------------------------

local function finite (v) return v == v and v > -math.huge and v < math.huge end

local function std_of (t)
  if t:numel() < 2 then return 0 end
  return t:std(nil, { correction = 0 }):item()
end

local function fmt (v)
  if v == nil then return "-" end
  return (("%.3g"):format(v))
end

local Diagnosis = { __name = "deepmoon.init.Diagnosis" }
Diagnosis.__index = Diagnosis

function Diagnosis.__tostring (d)
  local rows = {}
  for i, l in ipairs(d.layers) do
    local note = {}
    if l.saturated and l.saturated > 0.05 then
      note[#note + 1] = ("%.0f%% saturated"):format(l.saturated * 100)
    end
    if l.zeros and l.zeros > 0.5 then note[#note + 1] = ("%.0f%% zero"):format(l.zeros * 100) end
    if not l.finite then note[#note + 1] = "nan/inf" end
    rows[i] = { tostring(i), l.name ~= "" and l.name or "(model)", l.label, fmt(l.mean),
                fmt(l.std), fmt(l.grad_std), fmt(l.weight_std), fmt(l.weight_grad_std),
                table.concat(note, ", ") }
  end
  local s = ("init.diagnose: %d layer call%s, batch [%s]\n"):format(#d.layers,
    #d.layers == 1 and "" or "s", d.batch_shape) ..
    M._table({ "#", "name", "layer", "out mean", "out std", "grad std", "w std", "w grad std",
               "note" }, rows, { true, false, false, true, true, true, true, true, false })
  if #d.flags == 0 then
    s = s .. "\nok: the signal keeps its scale through the depth, forward and backward"
  else
    for _, f in ipairs(d.flags) do s = s .. "\n" .. f end
  end
  return s
end

--- init.diagnose(model, batch [, {loss =, target =, ratio = 100, verbose = true}]): one
--- forward and backward pass on batch, reporting per layer call (forward order) the output's
--- mean and std, the std of the gradient reaching that output, and for weighted layers the
--- weight's std and its gradient's std; flags vanishing, exploding, saturating or dead
--- signal (see the top of this file).  The gradient comes from loss(output, target) (an nn
--- loss or a function; loss(output) without target), else from a random N(0, 1) gradient at
--- the output, which shows how the network itself scales gradients.  Prints the table
--- unless verbose = false; returns {layers = {...}, flags = {...}, vanishing =, exploding =,
--- saturating =, dead =, ok =, activation_ratio =, gradient_ratio =} (tostring: the table).
--- The model's gradients, buffers and the default generator are left as they were.
function M.diagnose (model, batch, opts)
  if not is_module(model) then
    error(("init.diagnose: expected a Module, got %s"):format(type(model)), 2)
  end
  if not dm.is_tensor(batch) then
    error(("init.diagnose: batch must be a Tensor, got %s"):format(type(batch)), 2)
  end
  opts = check.options("init.diagnose", opts, DIAGNOSE_OPTIONS)
  local ratio = opts.ratio or 100
  if type(ratio) ~= "number" or ratio <= 1 then
    error("init.diagnose: ratio must be a number above 1, got " .. tostring(ratio), 2)
  end
  if opts.loss ~= nil and type(opts.loss) ~= "function" and not is_module(opts.loss) then
    error(("init.diagnose: loss must be a function or an nn loss, got %s"):format(
      type(opts.loss)), 2)
  end

  -- leave the model as found: its gradients, running statistics and the default generator
  local rng = dm.get_rng_state()
  local restore_buffers = trace.save_buffers(model)
  local grads = {}
  local params = model:parameters()
  for i, p in ipairs(params) do grads[i] = p.grad or false; p.grad = nil end

  local ok, err = pcall(function ()
    local _ <close> = dm.enable_grad()
    local calls, out = trace.run(model, batch:detach())
    for _, c in ipairs(calls) do
      if c.output and c.output.grad_fn then c.output:retain_grad() end
    end
    if not dm.is_tensor(out) then
      error(("init.diagnose: the model returned a %s, not a Tensor"):format(type(out)), 0)
    end
    local root_grad
    if opts.loss then
      local l
      if opts.target ~= nil then l = opts.loss(out, opts.target) else l = opts.loss(out) end
      l:backward()
    elseif out.grad_fn then
      local sizes = out:size()
      sizes[#sizes + 1] = { generator = dm.Generator(0) }
      root_grad = dm.randn(table.unpack(sizes))
      out:backward(root_grad)
    end
    -- the output the backward started from keeps no .grad: it is the one given
    for _, c in ipairs(calls) do
      if c.output == out and root_grad then c.grad = root_grad end
    end
    return calls
  end)
  local calls = ok and err or nil

  local layers = {}
  if ok then
    local _ <close> = dm.no_grad()
    for i, c in ipairs(calls) do
      local m, y = c.module, c.output
      local l = { name = c.name, module = m, layer = class_of(m), label = layer_label(m),
                  finite = true }
      if y then
        l.mean = y:mean():item()
        l.std = std_of(y)
        l.finite = finite(l.mean) and finite(l.std)
        local g = y.grad or c.grad
        if g then l.grad_std = std_of(g); l.finite = l.finite and finite(l.grad_std) end
        local fam = FAMILY[l.layer]
        if fam == "tanh" then
          l.saturated = y:abs():gt(0.99):float():mean():item()
        elseif fam == "sigmoid" then
          l.saturated = (y:lt(0.01):float() + y:gt(0.99):float()):mean():item()
        elseif fam == "relu" or fam == "leaky" then
          l.zeros = y:eq(0):float():mean():item()
        end
      end
      if trace.is_weighted(m) then
        local w = m.weight
        l.weighted = true
        l.weight_std = std_of(w)
        if w.grad then l.weight_grad_std = std_of(w.grad) end
      end
      layers[i] = l
    end
  end
  calls = nil

  for i, p in ipairs(params) do p.grad = grads[i] or nil end
  restore_buffers()
  dm.set_rng_state(rng)
  if not ok then error(err, 2) end

  -- the verdict
  local d = setmetatable({ layers = layers, flags = {}, vanishing = false, exploding = false,
                           saturating = false, dead = false,
                           batch_shape = table.concat(batch:size(), " x ") }, Diagnosis)
  local function flag (kind, msg)
    d[kind] = true
    d.flags[#d.flags + 1] = kind .. ": " .. msg
  end
  for i, l in ipairs(layers) do
    if not l.finite then
      flag("exploding", ("nan or inf from layer %d (%s) on"):format(i, l.label))
      break
    end
  end
  local first, last
  local spatial = false   -- a convolution among the weighted layers
  for i, l in ipairs(layers) do
    if l.weighted and l.module.weight:dim() > 2 then spatial = true end
    if l.weighted and l.std then
      first = first or i
      last = i
    end
  end
  if first and last ~= first then
    local f, z = layers[first], layers[last]
    -- the spans whose output stds are compared: first to last weighted layer; in a model
    -- with convolutions, the convolutions' feature maps and the dense layers after them
    -- apart (pooling over H x W shrinks a map's std by up to sqrt(H x W) with no init at
    -- fault); activation_ratio is the span's ratio furthest from 1
    local spans = { { first, last } }
    if spatial then
      local c1, c2, d1
      for i, l in ipairs(layers) do
        if l.weighted and l.std and l.module.weight:dim() > 2 then c1 = c1 or i; c2 = i end
      end
      for i = (c2 or 0) + 1, #layers do
        if layers[i].weighted and layers[i].std then d1 = d1 or i end
      end
      spans = {}
      if c1 and c2 ~= c1 then spans[#spans + 1] = { c1, c2 } end
      if d1 and last ~= d1 then spans[#spans + 1] = { d1, last } end
    end
    for _, sp in ipairs(spans) do
      local a, b = sp[1], sp[2]
      local la, lb = layers[a], layers[b]
      if la.std > 0 then
        local r = lb.std / la.std
        if d.activation_ratio == nil
           or math.abs(math.log(r)) > math.abs(math.log(d.activation_ratio)) then
          d.activation_ratio = r
        end
        if r < 1 / ratio then
          flag("vanishing", ("activation std falls %.3gx from layer %d (%s, %.3g) to layer %d " ..
                             "(%s, %.3g)"):format(1 / r, a, la.label, la.std, b, lb.label, lb.std))
        elseif r > ratio then
          flag("exploding", ("activation std grows %.3gx from layer %d (%s, %.3g) to layer %d " ..
                             "(%s, %.3g)"):format(r, a, la.label, la.std, b, lb.label, lb.std))
        end
      elseif lb.std == 0 and a == first then
        flag("vanishing", "the first weighted layer's output is constant")
      end
    end
    -- the gradient reaching each span's first layer's output against its last's
    for _, sp in ipairs(spans) do
      local la, lb = layers[sp[1]], layers[sp[2]]
      if la.grad_std and lb.grad_std and lb.grad_std > 0 then
        local r = la.grad_std / lb.grad_std
        if d.gradient_ratio == nil
           or math.abs(math.log(r)) > math.abs(math.log(d.gradient_ratio)) then
          d.gradient_ratio, d._gspan = r, sp
        end
      end
    end
    if d.gradient_ratio then
      local r = d.gradient_ratio
      local a, b = d._gspan[1], d._gspan[2]
      local la, lb = layers[a], layers[b]
      if r < 1 / ratio then
        flag("vanishing", ("gradient std falls %.3gx from layer %d (%s) back to layer %d (%s): " ..
                           "the first layers barely learn"):format(1 / r, b, lb.label, a,
                                                                  la.label))
      elseif r > ratio then
        flag("exploding", ("gradient std grows %.3gx from layer %d (%s) back to layer %d (%s)")
                          :format(r, b, lb.label, a, la.label))
      end
    end
    d._gspan = nil
  end
  local sat, nsat = 0, 0
  for _, l in ipairs(layers) do
    if l.saturated then sat, nsat = sat + l.saturated, nsat + 1 end
  end
  if nsat > 0 and sat / nsat > 0.5 then
    flag("saturating", ("%.0f%% of tanh/sigmoid outputs sit at their asymptotes, where " ..
                        "their gradient is ~0"):format(100 * sat / nsat))
  end
  for i, l in ipairs(layers) do
    if l.zeros and l.zeros > 0.9 then
      flag("dead", ("layer %d (%s) outputs %.0f%% zeros"):format(i, l.label, l.zeros * 100))
      break
    end
  end
  d.ok = #d.flags == 0
  if opts.verbose ~= false then print(tostring(d)) end
  return d
end

return M
