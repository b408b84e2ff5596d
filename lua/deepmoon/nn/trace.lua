--- deepmoon.nn.trace: the layers of a model in the order they run, for the initialisation
-- tools (init.lsuv_, init.recommend, init.diagnose).
--
--   local trace = require "deepmoon.nn.trace"
--   local calls, out = trace.run(model, x)      -- every leaf module call, in execution order
--   for _, c in ipairs(calls) do print(c.name, c.module:_get_name(), c.output:std():item()) end
--
-- A leaf is a module without children (Linear, ReLU, BatchNorm1d, ...).  trace.run wraps
-- each leaf's forward for the length of one forward pass, recording its input and output,
-- so the order is the one the model's forward really follows, whatever the order its fields
-- were assigned in.  Without a batch, trace.leaves gives the registration order instead
-- (nn.Sequential's child order; a custom module's children in the order its __init assigned
-- them), which is the forward order for the usual models but not for all of them.
--
-- Activations called as tensor methods inside a custom forward (`self.fc2(self.fc1(x):relu())`)
-- are not modules; trace.op_activation recognises them afterwards from the grad_fn of the
-- tensor the next layer received (ReluBackward0, TanhBackward0, ...).

local dm = require "deepmoon"
local module = require "deepmoon.nn.module"

local M = {}

local is_module = module.is_module

local function has_children (m)
  return #rawget(m, "_modules").keys > 0
end

--- Does m carry a weight matrix that an initialiser sets (a `weight` parameter with at least
--- 2 dims: Linear and any user layer shaped like one)?
function M.is_weighted (m)
  local w = rawget(m, "_parameters").map.weight
  return dm.is_tensor(w) and w:dim() >= 2
end

--- The leaf modules of model in registration order, each once: a list of {name =, module =}
--- (name as named_modules gives it: "fc1", "0", "block.2").
function M.leaves (model)
  local out = {}
  for name, m in model:named_modules() do
    if not has_children(m) then out[#out + 1] = { name = name, module = m } end
  end
  return out
end

--- Run model(input) once with every leaf's forward wrapped; returns the list of calls in
--- execution order, {index =, name =, module =, input = first argument if a tensor,
--- output = first result if a tensor}, and the model's output.  opts.keep(call) -> false
--- drops a call's tensors (input and output become nil) to save memory.  The wrappers are
--- removed even when the forward raises (the error is re-raised).
function M.run (model, input, opts)
  if not is_module(model) then
    error(("trace: expected a Module, got %s"):format(type(model)), 2)
  end
  local keep = opts and opts.keep
  local leaves = M.leaves(model)
  local name_of = {}
  for _, l in ipairs(leaves) do name_of[l.module] = l.name end
  local calls = {}
  local saved = {}
  for _, l in ipairs(leaves) do
    local m = l.module
    local attrs = rawget(m, "_attrs")
    saved[m] = { had = attrs.forward }
    local inner = m.forward
    attrs.forward = function (self, ...)
      local x = ...
      local res = table.pack(inner(self, ...))
      local c = { index = #calls + 1, name = name_of[m], module = m }
      if keep == nil or keep(c) ~= false then
        if dm.is_tensor(x) then c.input = x end
        if dm.is_tensor(res[1]) then c.output = res[1] end
      end
      calls[#calls + 1] = c
      return table.unpack(res, 1, res.n)
    end
    module._sync_call(attrs)
  end
  local ok, out = pcall(model, input)
  for m, s in pairs(saved) do
    local attrs = rawget(m, "_attrs")
    attrs.forward = s.had
    module._sync_call(attrs)
  end
  if not ok then error(out, 0) end
  return calls, out
end

-- activation ops by the grad_fn name of their result
local op_names = {
  ReluBackward0 = "ReLU", LeakyReluBackward0 = "LeakyReLU", TanhBackward0 = "Tanh",
  SigmoidBackward0 = "Sigmoid", GeluBackward0 = "GELU", EluBackward0 = "ELU",
  SoftmaxBackward0 = "Softmax", LogSoftmaxBackward0 = "LogSoftmax",
}

local SELU_SCALE = 1.0507009873554805

local function same_shape (a, b)
  if a:dim() ~= b:dim() then return false end
  for d = 1, a:dim() do
    if a:size(d) ~= b:size(d) then return false end
  end
  return true
end

-- sum(a * mask) / sum(b * mask), nil when the mask is empty
local function masked_ratio (a, b, mask)
  local den = (b * mask):sum():item()
  if den == 0 then return nil end
  return (a * mask):sum():item() / den
end

--- The activation that turned `before` into `after` when it was a tensor op rather than a
--- module: returns name ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "ELU", "SELU",
--- "Softmax", "LogSoftmax") and, for LeakyReLU, its slope; nil when after's grad_fn is not
--- an activation.  EluBackward0 serves ELU and SELU (as in PyTorch), told apart by SELU's
--- scale on the positive side; LeakyReLU's slope is read off the negative side.  Both need
--- `before` (the tensor the activation received) of after's shape; without it the slope is
--- taken as PyTorch's default 0.01.
function M.op_activation (after, before)
  if not dm.is_tensor(after) then return nil end
  local name = op_names[after.grad_fn or ""]
  if not name then return nil end
  local param
  local ok_before = dm.is_tensor(before) and same_shape(before, after)
  if name == "LeakyReLU" then
    param = 0.01
    if ok_before then
      local r = dm.no_grad(masked_ratio, after, before, before:lt(0))
      if r then param = tonumber(("%.6g"):format(r)) end
    end
  elseif name == "ELU" and ok_before then
    local r = dm.no_grad(masked_ratio, after, before, before:gt(0))
    if r and math.abs(r - SELU_SCALE) < 1e-3 then name = "SELU" end
  end
  return name, param
end

--- Set every module of model to training mode `mode`, returning a function that restores
--- the modes they had.
function M.set_mode (model, mode)
  local was = {}
  for m in model:modules() do was[m] = rawget(m, "training") end
  for m in pairs(was) do rawset(m, "training", mode) end
  return function ()
    for m, t in pairs(was) do rawset(m, "training", t) end
  end
end

--- Snapshot the buffers of model (batch norm's running statistics), returning a function
--- that copies them back.
function M.save_buffers (model)
  local saved = {}
  for b in model:buffers() do saved[#saved + 1] = { b, b:clone() } end
  return function ()
    dm.no_grad(function ()
      for _, s in ipairs(saved) do s[1]:copy_(s[2]) end
    end)
  end
end

return M
