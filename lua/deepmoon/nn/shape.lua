--- deepmoon.nn.shape: layers that only pass values on or reshape them: nn.Identity and
-- nn.Flatten.

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"

local Module = module.Module

--- nn.Identity(...): returns its input; arguments are ignored, as PyTorch's
local Identity = Module:extend("Identity")
function Identity:__init () end
function Identity:forward (x) return x end

--- nn.Flatten([start_dim = 2] [, end_dim = -1]): x:flatten(start_dim, end_dim); dims are
--- 1-based, so the default keeps dim 1 (the batch) as PyTorch's start_dim=1 does, and the
--- repr prints the dims as given: Flatten(start_dim=2, end_dim=-1)
local Flatten = Module:extend("Flatten")
function Flatten:__init (...)
  local a = util.args("Flatten", 3, { "start_dim", "end_dim" }, nil, ...)
  for _, k in ipairs({ "start_dim", "end_dim" }) do
    local v = a[k]
    if v ~= nil and (math.type(v) ~= "integer" or v == 0) then
      error(("Flatten: %s must be a non-zero integer (dims are 1-based), got %s"):format(
        k, tostring(v)), 3)
    end
  end
  self.start_dim = a.start_dim or 2
  self.end_dim = a.end_dim or -1
end

function Flatten:forward (x)
  if not check.is_tensor(x) then
    error(("Flatten: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  return x:flatten(self.start_dim, self.end_dim)
end

function Flatten:extra_repr ()
  return ("start_dim=%d, end_dim=%d"):format(self.start_dim, self.end_dim)
end

return { Identity = Identity, Flatten = Flatten }
