--- deepmoon.nn.linear: nn.Linear, y = x W^T + b.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"

local Module, Parameter = module.Module, module.Parameter
local arg = check.arg

local Linear = Module:extend("Linear")

--- nn.Linear(in_features, out_features [, bias = true] [, {bias =, init =, bias_init =}]):
--- weight [out x in] and bias [out], both drawn from U(-1/sqrt(in), 1/sqrt(in)) as PyTorch
--- does (kaiming_uniform_ with a = sqrt(5)), from the default generator.  init(weight) and
--- bias_init(bias), when given, run afterwards under no_grad (e.g. init = nn.init.xavier_normal_).
function Linear:__init (...)
  local a = util.args("Linear", 3, { "in_features", "out_features", "bias" },
                      { "init", "bias_init" }, ...)
  local nin, nout = a.in_features, a.out_features
  for _, k in ipairs({ "in_features", "out_features" }) do
    local v = a[k]
    if math.type(v) ~= "integer" or v < 0 then
      error(("Linear: %s must be a non-negative integer, got %s"):format(k, tostring(v)), 3)
    end
  end
  local bias = arg("Linear", "bias", a.bias, "boolean", true, 3)
  arg("Linear", "init", a.init, "function", nil, 3)
  arg("Linear", "bias_init", a.bias_init, "function", nil, 3)
  self.in_features, self.out_features = nin, nout
  local bound = nin > 0 and 1 / math.sqrt(nin) or 0
  local w = dm.empty(nout, nin)
  local b = bias and dm.empty(nout) or nil
  dm.no_grad(function ()
    w:uniform_(-bound, bound)
    if b then b:uniform_(-bound, bound) end
  end)
  self.weight = Parameter(w)
  if b then self.bias = Parameter(b) else self:register_parameter("bias", nil) end
  if a.init or a.bias_init then
    dm.no_grad(function ()
      if a.init then a.init(self.weight) end
      if a.bias_init and self.bias then a.bias_init(self.bias) end
    end)
  end
end

local try_linear = dm._try_linear
local NONE = module.NONE

function Linear:forward (x)
  -- fast path: one C call that checks the shapes; on any mismatch it returns nil and the
  -- checks below raise the message
  local p = self._parameters.map      -- a raw field: no __index call
  local b = p.bias
  if b == NONE then b = nil end
  local y = try_linear(x, p.weight, b)
  if y then return y end
  if not check.is_tensor(x) then
    error(("Linear: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  local d = x:dim()
  if d == 0 or x:size(d) ~= self.in_features then
    error(("Linear: expected input [N x %d], got %s"):format(self.in_features,
          format.shape_str(x:size())), 2)
  end
  return dm.linear(x, self.weight, self.bias)
end

-- lin(x): forward's fast path inline (one Lua call less per call) when the module has
-- neither hooks nor a forward of its own (_attrs["\0call"], see nn.Module) and the class's
-- forward is this one; anything else, and any input the fast path does not take, goes the
-- default way (the checks and messages of forward above)
local fast_forward = Linear.forward
local default_call
default_call = module._own_call(Linear, function (self, ...)
  if not self._attrs["\0call"] and Linear.forward == fast_forward then
    local p = self._parameters.map
    local b = p.bias
    if b == NONE then b = nil end
    local y = try_linear((...), p.weight, b)
    if y then return y end
  end
  return default_call(self, ...)
end)

function Linear:extra_repr ()
  return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features,
    self.out_features, self.bias ~= nil and "True" or "False")
end

return { Linear = Linear }
