--- deepmoon.nn.shape: layers that only pass values on or reshape them: nn.Identity,
-- nn.Flatten and nn.Unflatten.

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local vc = require "deepmoon.nn.vision_check"

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

local function flatten (x, s, e) return x:flatten(s, e) end
local function flatten_problem (x, s, e)
  return vc.flatten_problem("Flatten", x, s, e)
end

function Flatten:forward (x)
  if not check.is_tensor(x) then
    error(("Flatten: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  local y = vc.call("Flatten", "flatten", flatten_problem, flatten, x, self.start_dim,
                    self.end_dim)
  return y
end

function Flatten:extra_repr ()
  return ("start_dim=%d, end_dim=%d"):format(self.start_dim, self.end_dim)
end

local Unflatten = Module:extend("Unflatten")

--- nn.Unflatten(dim, unflattened_size): dim of x (1-based; negative from the end) becomes
--- the dims of unflattened_size (a list whose product is that dim's size; one entry may be
--- -1), as a view: nn.Unflatten(2, {1, 8, 8}) turns [N x 64] into [N x 1 x 8 x 8]
function Unflatten:__init (dim, sizes)
  if math.type(dim) ~= "integer" or dim == 0 then
    error(("Unflatten: dim must be a non-zero integer (dims are 1-based), got %s"):format(
      tostring(dim)), 3)
  end
  local n = type(sizes) == "table" and rawlen(sizes) or 0     -- rawlen: a list, not a __len
  local copy = {}
  for i = 1, n do
    local v = rawget(sizes, i)
    if math.type(v) ~= "integer" or (v < 0 and v ~= -1) then n = 0 break end
    copy[i] = v
  end
  if n < 1 then
    error("Unflatten: unflattened_size must be a list of sizes, e.g. {1, 8, 8}", 3)
  end
  self.dim = dim
  self.unflattened_size = copy
end

function Unflatten:forward (x)
  if not check.is_tensor(x) then
    error(("Unflatten: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  local size, n = x:size(), x:dim()
  local d = self.dim < 0 and n + 1 + self.dim or self.dim
  if d < 1 or d > n then
    error(("Unflatten: dim %d out of range for a %d-dim input"):format(self.dim, n), 2)
  end
  local shape = {}
  for i = 1, d - 1 do shape[#shape + 1] = size[i] end
  local known, free = 1, false
  for _, v in ipairs(self.unflattened_size) do
    shape[#shape + 1] = v
    if v == -1 then free = true else known = known * v end
  end
  for i = d + 1, n do shape[#shape + 1] = size[i] end
  if (free and (known == 0 or size[d] % known ~= 0)) or (not free and known ~= size[d]) then
    error(("Unflatten: sizes [%s] do not make dim %d's size %d"):format(
      table.concat(self.unflattened_size, " x "), d, size[d]), 2)
  end
  return x:reshape(shape)
end

function Unflatten:extra_repr ()
  return ("dim=%d, unflattened_size=(%s)"):format(self.dim,
    table.concat(self.unflattened_size, ", ") .. (#self.unflattened_size == 1 and "," or ""))
end

return { Identity = Identity, Flatten = Flatten, Unflatten = Unflatten }
