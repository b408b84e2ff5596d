--- deepmoon.nn.dropout: nn.Dropout, inverted dropout while training, identity in eval mode;
--- nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, the same per channel (F.dropout1d ...).

local dm = require "deepmoon"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local vc = require "deepmoon.nn.vision_check"

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

local function channel_forward (self, f, x)
  if not is_tensor(x) then
    error(("%s: expected a Tensor input, got %s"):format(self:_get_name(), check.typename(x)), 3)
  end
  local name = self:_get_name()
  local y = vc.call(name, name:lower(), nil, f, x, self.p, self.training and true or false)
  return y
end

local Dropout1d = Dropout:extend("Dropout1d")
--- nn.Dropout1d([p = 0.5] [, inplace]): while training, zero whole channels of x [N x C x L]
--- (or [C x L]) with probability p and scale the rest by 1 / (1 - p) (F.dropout1d)
function Dropout1d:__init (...) return Dropout.__init(self, ...) end
function Dropout1d:forward (x) return channel_forward(self, F.dropout1d, x) end

local Dropout2d = Dropout:extend("Dropout2d")
--- nn.Dropout2d([p = 0.5] [, inplace]): the same over x [N x C x H x W] (F.dropout2d)
function Dropout2d:__init (...) return Dropout.__init(self, ...) end
function Dropout2d:forward (x) return channel_forward(self, F.dropout2d, x) end

local Dropout3d = Dropout:extend("Dropout3d")
--- nn.Dropout3d([p = 0.5] [, inplace]): the same over x [N x C x D x H x W] (F.dropout3d)
function Dropout3d:__init (...) return Dropout.__init(self, ...) end
function Dropout3d:forward (x) return channel_forward(self, F.dropout3d, x) end

return { Dropout = Dropout, Dropout1d = Dropout1d, Dropout2d = Dropout2d, Dropout3d = Dropout3d }
