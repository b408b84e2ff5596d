--- deepmoon.nn.container: nn.Sequential, modules applied one after the other.
--
--   local model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
--   model[1]            -- the first Linear (positions are 1-based, as Lua's)
--   #model              -- 3
--   model:add(nn.Sigmoid())
--   for i, layer in ipairs(model) do ... end
--
-- The children are named "0", "1", ... as PyTorch names them, so state_dict() keys
-- ("0.weight", "2.bias") and tostring(model) ("(0): Linear(...)") match PyTorch's.

local module = require "deepmoon.nn.module"

local Module, is_module = module.Module, module.is_module

local Sequential = Module:extend("Sequential")

local function child_error (i, v)
  error(("Sequential: argument %d is not a Module (got %s)"):format(i, type(v)), 4)
end

--- nn.Sequential(m1, m2, ...)
function Sequential:__init (...)
  for i = 1, select("#", ...) do
    local m = select(i, ...)
    if not is_module(m) then child_error(i, m) end
    self:add_module(tostring(i - 1), m)
  end
end

local function keys (self) return rawget(self, "_modules").keys end

-- ipairs(model) reads model[#model + 1] to stop: that one read (from ipairs's own
-- iterator) gets nil, every other position outside 1..n is an error
local ipairs_iter = ipairs({})
local function from_ipairs ()
  for level = 3, 5 do
    local info = debug.getinfo(level, "f")
    if not info then return false end
    if info.func == ipairs_iter then return true end
  end
  return false
end

-- model[i]: the i-th child (negative from the end); 0 or past the end is an error
function Sequential.__getitem (self, i)
  local ks = keys(self)
  local n = #ks
  local j = math.type(i) == "integer" and i < 0 and n + 1 + i or i
  local k = math.type(j) == "integer" and ks[j]
  if k then return rawget(self, "_modules").map[k] end
  if j == n + 1 and from_ipairs() then return nil end
  error(("Sequential: index %s out of range (1 to %d)"):format(tostring(i), n), 2)
end

-- model[i] = m replaces the i-th child
function Sequential.__setitem (self, i, m)
  local ks = keys(self)
  if math.type(i) == "integer" and i < 0 then i = #ks + 1 + i end
  if math.type(i) ~= "integer" or i < 1 or i > #ks then
    error(("Sequential: index %s out of range (1 to %d)"):format(tostring(i), #ks), 2)
  end
  if not is_module(m) then
    error(("Sequential: can only assign a Module to model[%d], got %s"):format(i, type(m)), 2)
  end
  rawget(self, "_modules").map[ks[i]] = m
end

function Sequential.__len (self)
  return #keys(self)
end

--- Append a module at the end; returns self (also model:append(m)).
function Sequential:add (m)
  if not is_module(m) then
    error(("Sequential: add: expected a Module, got %s"):format(type(m)), 2)
  end
  self:add_module(tostring(#keys(self)), m)
  return self
end
Sequential.append = Sequential.add

local function strip_name (msg, name)
  local prefix = name .. ": "
  if msg:sub(1, #prefix) == prefix then return msg:sub(#prefix + 1) end
  return msg
end

--- Feed x through every child in order.  A child's error is re-raised naming its position
--- and class: "Sequential[3] (Linear): expected input [N x 64], got [16 x 32]".
function Sequential:forward (x)
  local mods = rawget(self, "_modules")
  for i, k in ipairs(mods.keys) do
    local m = mods.map[k]
    local ok, y = pcall(m, x)
    if not ok then
      if type(y) ~= "string" then error(y, 0) end
      local name = m:_get_name()
      error(("Sequential[%d] (%s): %s"):format(i, name, strip_name(y, name)), 2)
    end
    x = y
  end
  return x
end

return { Sequential = Sequential }
