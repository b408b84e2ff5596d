--- deepmoon.nn.activation: elementwise activations and softmax as modules.  Each forward
-- calls the C op of the same name (t:relu(), t:softmax(dim), ...).  `inplace` is accepted
-- for PyTorch compatibility and printed as PyTorch prints it; the result is always a new
-- tensor (autograd needs the input).

local dm = require "deepmoon"
local core = require "deepmoon.core"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"

local Module = module.Module
local pyrepr = util.pyrepr
local is_tensor, arg = check.is_tensor, check.arg

local A = {}

-- A forward makes one C call, which returns nothing for an input that is not a tensor; only
-- then does it raise, from here, so that the message names the module and points at the
-- user's line.  (LeakyReLU, ELU, GELU and the softmaxes still test first with is_tensor.)
local function bad_input (name, x)
  error(("%s: expected a Tensor input, got %s"):format(name, check.typename(x)), 3)
end

-- an activation whose only setting is `inplace` (ReLU, SELU) or nothing (Sigmoid, Tanh)
local function simple (name, method, has_inplace)
  local C = Module:extend(name)
  function C:__init (...)
    if has_inplace then
      local a = util.args(name, 3, { "inplace" }, nil, ...)
      self.inplace = arg(name, "inplace", a.inplace, "boolean", false, 3)
    else
      util.args(name, 3, {}, nil, ...)
    end
  end
  -- one C call: the op, or nothing when x is not a tensor (then the message from here)
  local try, code = core._try_unary, core._unary_codes[method]
  function C:forward (x)
    local y = try(x, code)
    if not y then bad_input(name, x) end
    return y
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
  self.negative_slope = arg("LeakyReLU", "negative_slope", a.negative_slope, "number", 0.01, 3)
  self.inplace = arg("LeakyReLU", "inplace", a.inplace, "boolean", false, 3)
end
local leaky_relu = dm.Tensor.leaky_relu
function LeakyReLU:forward (x)
  if not is_tensor(x) then bad_input("LeakyReLU", x) end
  return leaky_relu(x, self.negative_slope)
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
  self.alpha = arg("ELU", "alpha", a.alpha, "number", 1.0, 3)
  self.inplace = arg("ELU", "inplace", a.inplace, "boolean", false, 3)
end
local elu = dm.Tensor.elu
function ELU:forward (x)
  if not is_tensor(x) then bad_input("ELU", x) end
  return elu(x, self.alpha)
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
local gelu = dm.Tensor.gelu
function GELU:forward (x)
  if not is_tensor(x) then bad_input("GELU", x) end
  if self.approximate == "none" then return gelu(x) end
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
  local f, op = F[fname], dm.Tensor[fname]
  function C:forward (x)
    if not is_tensor(x) then bad_input(name, x) end
    local dim = self.dim
    if dim == nil then return f(x) end      -- PyTorch's implicit dim, chosen by F
    return op(x, dim)
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
