--- deepmoon.aliases: PyTorch's other names for functions deepmoon already has (torch.clip
--- is torch.clamp, torch.multiply is torch.mul, ...): methods installed on Tensor by
--- require "deepmoon", and dm.<alias> found by dm's __index (lua/deepmoon/init.lua) without
--- being stored in dm.  An alias is the same function: its errors name the original.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local M = {}

-- alias -> original, as torch's aliases
M.ALIASES = {
  clip = "clamp", multiply = "mul", subtract = "sub", divide = "div", true_divide = "div",
  negative = "neg", absolute = "abs", greater = "gt", greater_equal = "ge", less = "lt",
  less_equal = "le", not_equal = "ne", swapaxes = "transpose", swapdims = "transpose",
  moveaxis = "movedim", concat = "cat", concatenate = "cat",
  arcsin = "asin", arccos = "acos", arctan = "atan", arcsinh = "asinh", arccosh = "acosh",
  arctanh = "atanh", arctan2 = "atan2",
}

local function lookup (t, k)
  local ok, v = pcall(function () return t[k] end)
  if ok and type(v) == "function" then return v end
  return nil
end

--- positive(t): t itself (PyTorch's torch.positive; an error on bool tensors, as there).
local function positive (t)
  if not check.is_tensor(t) then
    error(("positive: expected a Tensor, got %s"):format(check.typename(t)), 2)
  end
  if t.dtype == core.bool then
    error("positive: the `+` operator, on a bool tensor is not supported", 2)
  end
  return t
end

--- the names install() added (alias -> original; positive -> "positive"); tests read it
M.installed = {}

function M.install (dm)
  local T = core.Tensor
  local added = M.installed
  for alias, name in pairs(M.ALIASES) do
    if rawget(dm, name) ~= nil then added[alias] = name end
    local m = lookup(T, name)
    if m and rawget(T, alias) == nil then T[alias] = m; added[alias] = name end
    local inplace = lookup(T, name .. "_")
    if inplace and rawget(T, alias .. "_") == nil then
      T[alias .. "_"] = inplace
      added[alias .. "_"] = name .. "_"
    end
  end
  dm.positive = positive
  T.positive = positive
  added.positive = "positive"
end

return M
