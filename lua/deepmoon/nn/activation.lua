--- deepmoon.nn.activation: elementwise activations and softmax as modules.  Each forward
-- calls the C op of the same name (t:relu(), t:softmax(dim), ...).  `inplace` is accepted
-- for PyTorch compatibility and printed as PyTorch prints it; the result is always a new
-- tensor (autograd needs the input).

local dm = require "deepmoon"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"

local Module = module.Module
local pyrepr = util.pyrepr
local is_tensor = dm._is_tensor      -- the C check: cheaper than getmetatable from Lua

local A = {}

local function check_tensor (name, x)
  if not dm.is_tensor(x) then
    error(("%s: expected a Tensor input, got %s"):format(name, type(x)), 3)
  end
end

local function check_bool (name, k, v, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(("%s: %s must be a boolean, got %s"):format(name, k, type(v)), 4)
  end
  return v
end

local function check_number (name, k, v, default)
  if v == nil then return default end
  if type(v) ~= "number" then
    error(("%s: %s must be a number, got %s"):format(name, k, type(v)), 4)
  end
  return v
end

-- an activation whose only setting is `inplace` (ReLU, SELU) or nothing (Sigmoid, Tanh)
local function simple (name, method, has_inplace)
  local C = Module:extend(name)
  function C:__init (...)
    if has_inplace then
      local a = util.args(name, 3, { "inplace" }, nil, ...)
      self.inplace = check_bool(name, "inplace", a.inplace, false)
    else
      util.args(name, 3, {}, nil, ...)
    end
  end
  local f = dm.Tensor[method]     -- the C function itself: no method lookup per call
  function C:forward (x)
    if not is_tensor(x) then check_tensor(name, x) end
    return f(x)
  end
  if has_inplace then
    function C:extra_repr () return self.inplace and "inplace=True" or "" end
  end
  A[name] = C
  return C
end

--- nn.ReLU([inplace]): max(0, x)
simple("ReLU", "relu", true)
--- nn.SELU([inplace]): scale * (max(0, x) + min(0, alpha * (exp(x) - 1))), PyTorch's constants
simple("SELU", "selu", true)
--- nn.Sigmoid(): 1 / (1 + exp(-x))
simple("Sigmoid", "sigmoid", false)
--- nn.Tanh()
simple("Tanh", "tanh", false)

--- nn.LeakyReLU([negative_slope = 0.01] [, inplace]): x for x >= 0, negative_slope * x below
local LeakyReLU = Module:extend("LeakyReLU")
A.LeakyReLU = LeakyReLU
function LeakyReLU:__init (...)
  local a = util.args("LeakyReLU", 3, { "negative_slope", "inplace" }, nil, ...)
  self.negative_slope = check_number("LeakyReLU", "negative_slope", a.negative_slope, 0.01)
  self.inplace = check_bool("LeakyReLU", "inplace", a.inplace, false)
end
function LeakyReLU:forward (x)
  check_tensor("LeakyReLU", x)
  return x:leaky_relu(self.negative_slope)
end
function LeakyReLU:extra_repr ()
  return "negative_slope=" .. pyrepr(self.negative_slope, true) ..
         (self.inplace and ", inplace=True" or "")
end

--- nn.ELU([alpha = 1] [, inplace]): x for x > 0, alpha * (exp(x) - 1) below
local ELU = Module:extend("ELU")
A.ELU = ELU
function ELU:__init (...)
  local a = util.args("ELU", 3, { "alpha", "inplace" }, nil, ...)
  self.alpha = check_number("ELU", "alpha", a.alpha, 1.0)
  self.inplace = check_bool("ELU", "inplace", a.inplace, false)
end
function ELU:forward (x)
  check_tensor("ELU", x)
  return x:elu(self.alpha)
end
function ELU:extra_repr ()
  return "alpha=" .. pyrepr(self.alpha, true) .. (self.inplace and ", inplace=True" or "")
end

--- nn.GELU([approximate = "none"]): x * Phi(x); approximate = "tanh" uses PyTorch's tanh form
local GELU = Module:extend("GELU")
A.GELU = GELU
function GELU:__init (...)
  local a = util.args("GELU", 3, { "approximate" }, nil, ...)
  local ap = a.approximate or "none"
  if ap ~= "none" and ap ~= "tanh" then
    error(("GELU: approximate must be 'none' or 'tanh', got %s"):format(tostring(ap)), 3)
  end
  self.approximate = ap
end
function GELU:forward (x)
  check_tensor("GELU", x)
  return F.gelu(x, self.approximate)
end
function GELU:extra_repr ()
  return "approximate=" .. pyrepr(self.approximate)
end

-- Softmax and LogSoftmax: dim is 1-based as everywhere in deepmoon, and printed as given
local function softmax_class (name, fname)
  local C = Module:extend(name)
  function C:__init (...)
    local a = util.args(name, 3, { "dim" }, nil, ...)
    if a.dim ~= nil and (math.type(a.dim) ~= "integer" or a.dim == 0) then
      error(("%s: dim must be a non-zero integer (dims are 1-based), got %s"):format(
        name, tostring(a.dim)), 3)
    end
    self.dim = a.dim
  end
  function C:forward (x)
    check_tensor(name, x)
    return F[fname](x, self.dim)
  end
  function C:extra_repr ()
    return "dim=" .. pyrepr(self.dim)
  end
  A[name] = C
  return C
end

--- nn.Softmax(dim): exp(x) / sum(exp(x)) along dim (1-based).  Without dim, PyTorch's
--- legacy choice: dim 1 for 0-, 1- and 3-D inputs, else dim 2.
softmax_class("Softmax", "softmax")
--- nn.LogSoftmax(dim): log(softmax(x)) computed stably
softmax_class("LogSoftmax", "log_softmax")

return A
