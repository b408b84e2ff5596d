--- deepmoon.nn.dropout: nn.Dropout, inverted dropout while training, identity in eval mode;
--- nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, the same per channel (F.dropout1d ...).

local dm = require "deepmoon"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"

local is_tensor = check.is_tensor

local Dropout = module.Module:extend("Dropout")

--- nn.Dropout([p = 0.5] [, inplace]): while training, zero each value with probability p
--- (drawn from the default generator) and scale the rest by 1 / (1 - p)
function Dropout:__init (...)
  local cls = self:_get_name()
  local a = util.args(cls, 3, { "p", "inplace" }, nil, ...)
  local p = a.p
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(("%s: dropout probability has to be between 0 and 1, but got %s"):format(
      cls, tostring(p)), 3)
  end
  self.p = p
  self.inplace = check.arg(cls, "inplace", a.inplace, "boolean", false, 3)
end

function Dropout:forward (x)
  if not is_tensor(x) then
    error(("Dropout: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  return dm.dropout(x, self.p, self.training and true or false)
end

function Dropout:extra_repr ()
  return ("p=%s, inplace=%s"):format(util.pyrepr(self.p, true), util.pyrepr(self.inplace))
end

-- the channel-wise kinds: Dropout's options, F.dropout1d/2d/3d's forward
local F = require "deepmoon.nn.functional"
local out = { Dropout = Dropout }
for _, k in ipairs({ "1d", "2d", "3d" }) do
  local cls = Dropout:extend("Dropout" .. k)
  local f = F["dropout" .. k]
  --- nn.Dropout1d, nn.Dropout2d, nn.Dropout3d([p = 0.5] [, inplace]): zero whole channels
  --- while training (F.dropout1d ...), identity in eval mode
  function cls:forward (x)
    if not is_tensor(x) then
      error(("%s: expected a Tensor input, got %s"):format(self:_get_name(),
                                                          check.typename(x)), 2)
    end
    return f(x, self.p, self.training and true or false)
  end
  out["Dropout" .. k] = cls
end
return out
