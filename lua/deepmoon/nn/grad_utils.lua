--- deepmoon.nn.grad_utils: nn.utils -- gradient clipping and flattening parameters, as
-- PyTorch's torch.nn.utils.
--
--   local total = nn.utils.clip_grad_norm_(model:parameters(), 1.0)     -- a 0-dim tensor
--   nn.utils.clip_grad_value_(model:parameters(), 0.5)
--   local v = nn.utils.parameters_to_vector(model:parameters())
--   nn.utils.vector_to_parameters(v, model:parameters())

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local is_tensor, typename = check.is_tensor, check.typename

local M = {}

-- parameters: a tensor, a list of tensors, or an iterator (for p in ... do)
local function param_list (fname, ps, level)
  if is_tensor(ps) then return { ps } end
  local out = {}
  if type(ps) == "function" then
    for p in ps do out[#out + 1] = p end
  elseif type(ps) == "table" then
    for i, p in ipairs(ps) do out[i] = p end
  else
    error(("%s: parameters must be a Tensor or a list of them, got %s"):format(fname,
          typename(ps)), level + 1)
  end
  for i, p in ipairs(out) do
    if not is_tensor(p) then
      error(("%s: parameters[%d] is a %s, expected a Tensor"):format(fname, i, typename(p)),
            level + 1)
    end
  end
  return out
end

local function norm_of (g, p)
  if p == math.huge then return g:abs():max() end
  if p == -math.huge then return g:abs():min() end
  if p == 2 then return g:square():sum():sqrt() end
  if p == 1 then return g:abs():sum() end
  if p == 0 then return g:ne(0):sum():to(g.dtype) end
  return g:abs():pow(p):sum():pow(1 / p)
end

local CLIP_NORM_OPTIONS = { norm_type = { "number", "string" }, error_if_nonfinite = "boolean",
                            foreach = true }

--- clip_grad_norm_(parameters, max_norm [, norm_type] [, {norm_type = 2,
--- error_if_nonfinite = false}]) -> total_norm: the norm of all the gradients together (as if
--- concatenated; a 0-dim tensor of the gradients' dtype), then every gradient scaled in
--- place by max_norm / (total_norm + 1e-6) when that is below 1.  norm_type may be
--- math.huge or "inf".  Parameters without a .grad are skipped.
function M.clip_grad_norm_ (parameters, max_norm, norm_type, opts)
  if type(norm_type) == "table" then norm_type, opts = nil, norm_type end
  opts = check.options("clip_grad_norm_", opts, CLIP_NORM_OPTIONS, 1)
  if opts.norm_type ~= nil then
    if norm_type ~= nil then
      error("clip_grad_norm_: 'norm_type' given both as an argument and as an option", 2)
    end
    norm_type = opts.norm_type
  end
  check.arg("clip_grad_norm_", "max_norm", max_norm, "number", nil, 1)
  if max_norm == nil then error("clip_grad_norm_: max_norm is required", 2) end
  if norm_type == nil then norm_type = 2 end
  if norm_type == "inf" then norm_type = math.huge
  elseif norm_type == "-inf" then norm_type = -math.huge end
  if type(norm_type) ~= "number" then
    error(("clip_grad_norm_: norm_type must be a number or 'inf', got %s"):format(
      tostring(norm_type)), 2)
  end
  local ps = param_list("clip_grad_norm_", parameters, 1)
  local grads = {}
  for _, p in ipairs(ps) do
    local g = p.grad
    if g ~= nil then grads[#grads + 1] = g end
  end
  if #grads == 0 then return core.tensor(0.0) end
  local prev = core.set_grad_enabled(false)
  local ok, total = pcall(function ()
    local norms = {}
    for i, g in ipairs(grads) do norms[i] = norm_of(g, norm_type) end
    if #norms == 1 then return norms[1] end
    return norm_of(core.stack(norms), norm_type)
  end)
  if not ok then core.set_grad_enabled(prev); error(total, 2) end
  local tn = total:item()
  if opts.error_if_nonfinite and (tn ~= tn or tn == math.huge or tn == -math.huge) then
    core.set_grad_enabled(prev)
    error(("clip_grad_norm_: The total norm of order %s for gradients from `parameters` is " ..
           "non-finite, so it cannot be clipped. To disable this error and scale the " ..
           "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"):format(
           norm_type == math.huge and "inf" or tostring(norm_type + 0.0)), 2)
  end
  -- clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, in the norm's dtype
  local denom = total + 1e-6
  local coef = core.full_like(denom, max_norm) / denom
  coef = coef:clamp(-math.huge, 1.0)
  for _, g in ipairs(grads) do g:mul_(coef:to(g.dtype)) end
  core.set_grad_enabled(prev)
  return total
end

--- clip_grad_value_(parameters, clip_value): every gradient clamped in place to
--- [-clip_value, clip_value].
function M.clip_grad_value_ (parameters, clip_value)
  if type(clip_value) ~= "number" then
    error(("clip_grad_value_: clip_value must be a number, got %s"):format(
      typename(clip_value)), 2)
  end
  local ps = param_list("clip_grad_value_", parameters, 1)
  local prev = core.set_grad_enabled(false)
  for _, p in ipairs(ps) do
    local g = p.grad
    if g ~= nil then g:clamp_(-clip_value, clip_value) end
  end
  core.set_grad_enabled(prev)
end

--- parameters_to_vector(parameters) -> one 1-D tensor of every parameter's values, in
--- order (differentiable, as PyTorch's).
function M.parameters_to_vector (parameters)
  local ps = param_list("parameters_to_vector", parameters, 1)
  if #ps == 0 then error("parameters_to_vector: no parameters given", 2) end
  local flat = {}
  for i, p in ipairs(ps) do flat[i] = p:reshape(-1) end
  return core.cat(flat)
end

--- vector_to_parameters(vec, parameters): each parameter's values become the next slice of
--- vec (a 1-D tensor with as many elements as all the parameters together); each
--- parameter then views vec's memory, as in PyTorch (`param.data = ...`).
function M.vector_to_parameters (vec, parameters)
  if not is_tensor(vec) then
    error(("vector_to_parameters: expected a Tensor, but got: %s"):format(typename(vec)), 2)
  end
  local ps = param_list("vector_to_parameters", parameters, 1)
  local total = 0
  for _, p in ipairs(ps) do total = total + p:numel() end
  if vec:dim() ~= 1 or vec:numel() ~= total then
    error(("vector_to_parameters: vec must be 1-D with %d elements (the parameters' " ..
           "total), got [%s]"):format(total, table.concat(vec:size(), " x ")), 2)
  end
  local v = vec:detach()
  local off = 0
  for _, p in ipairs(ps) do
    local n = p:numel()
    p.data = v:narrow(1, off + 1, n):view(p:size())
    off = off + n
  end
end

return M
