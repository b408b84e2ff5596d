--- deepmoon.nn.collections: nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict.
--
--   self.layers = nn.ModuleList({ nn.Linear(2, 8), nn.Linear(8, 1) })
--   for i, layer in ipairs(self.layers) do x = layer(x) end      -- #self.layers is 2
--   self.heads = nn.ModuleDict({ cls = nn.Linear(8, 3) })        -- self.heads.cls, ["cls"]
--   self.scales = nn.ParameterList({ dm.ones(3), dm.zeros(3) })  -- made Parameters
--
-- Lists are indexed from 1 (negative from the end); an index out of range is an error.  In
-- state_dict() and tostring(model) their entries are named "0", "1", ... as PyTorch names
-- them (and as nn.Sequential does), so `layers.0.weight` loads into PyTorch.  Dicts keep
-- their keys in insertion order; pairs() follows it.

local module = require "deepmoon.nn.module"
local check = require "deepmoon.check"

local Module, is_module, Parameter = module.Module, module.is_module, module.Parameter
local is_tensor, typename = check.is_tensor, check.typename
local NONE = module.NONE

local M = {}

-- ipairs' iterator: a list answers nil one past its end when ipairs asks (so that ipairs
-- stops), and raises for any other index out of range
local ipairs_aux = ipairs({})

local function od (self, field) return rawget(self, field) end

-- a list's entries: field is "_modules" or "_parameters"
local function list_keys (self, field) return od(self, field).keys end

local function norm_index (self, cname, i, n, level)
  if math.type(i) ~= "integer" then
    local j = type(i) == "number" and math.tointeger(i) or nil
    if j == nil then
      error(("%s: indices must be integers, got %s"):format(cname,
            type(i) == "number" and tostring(i) or typename(i)), level + 1)
    end
    i = j
  end
  local j = i < 0 and n + 1 + i or i
  if j < 1 or j > n then
    error(("%s: index %d is out of range (%d entries)"):format(cname, i, n), level + 1)
  end
  return j
end

-- rename the entries "0".."n-1" in their current order (after an insert or a removal)
local function renumber (self, field)
  local o = od(self, field)
  local vals = {}
  for i, k in ipairs(o.keys) do vals[i] = o.map[k] end
  local keys, map = {}, {}
  for i, v in ipairs(vals) do
    keys[i] = tostring(i - 1)
    map[keys[i]] = v
  end
  o.keys, o.map = keys, map
end

-- the receiver of a container's method must be one (a method called with another table)
local function need_self (self, name, field, fname, level)
  if not (is_module(self) and type(rawget(self, field)) == "table") then
    error(("%s.%s: expected a %s as self, got %s"):format(name, fname, name, typename(self)),
          level + 1)
  end
end

-- the entries of a list given to extend: a plain Lua list (read raw) or a list container
local function entries_of (name, fname, vs, level)
  if is_module(vs) and type(rawget(vs, "_modules")) == "table" and getmetatable(vs).__getitem then
    local out = {}
    for _, v in ipairs(vs) do out[#out + 1] = v end
    return out
  end
  if type(vs) ~= "table" or is_tensor(vs) or is_module(vs) then
    error(("%s.%s should be called with a list, but got %s"):format(name, fname,
          typename(vs)), level + 1)
  end
  local out = {}
  for i = 1, rawlen(vs) do out[i] = rawget(vs, i) end
  return out
end

local function make_list_class (name, field, accept)
  local L = Module:extend(name)

  local function getitem (self, i)
    local ks = list_keys(self, field)
    if i == #ks + 1 then
      -- ipairs -> __index (make_index, which may tail-call) -> here
      for level = 2, 3 do
        local info = debug.getinfo(level, "f")
        if info and info.func == ipairs_aux then return nil end
      end
    end
    local j = norm_index(self, name, i, #ks, 3)
    local v = od(self, field).map[ks[j]]
    if v == NONE then return nil end
    return v
  end
  L.__getitem = getitem

  function L.__setitem (self, i, v)
    local ks = list_keys(self, field)
    local j = norm_index(self, name, i, #ks, 2)
    v = accept(self, v, 3)
    od(self, field).map[ks[j]] = v
  end

  function L.__len (self) return #list_keys(self, field) end

  function L.__pairs (self)
    local i = 0
    return function ()
      i = i + 1
      local ks = list_keys(self, field)
      if ks[i] == nil then return nil end
      return i, od(self, field).map[ks[i]]
    end, self, nil
  end

  --- Append v at the end; returns self.
  function L.append (self, v)
    need_self(self, name, field, "append", 2)
    v = accept(self, v, 3)
    local o = od(self, field)
    local k = tostring(#o.keys)
    o.keys[#o.keys + 1] = k
    o.map[k] = v
    return self
  end

  --- Append every entry of a list (or of another list container); returns self.
  function L.extend (self, vs)
    need_self(self, name, field, "extend", 2)
    for _, v in ipairs(entries_of(name, "extend", vs, 2)) do L.append(self, v) end
    return self
  end

  --- Insert v before position i (1-based; #list + 1 appends).
  function L.insert (self, i, v)
    need_self(self, name, field, "insert", 2)
    local ks = list_keys(self, field)
    local n = #ks
    if math.type(i) ~= "integer" then
      error(("%s.insert: index must be an integer, got %s"):format(name, typename(i)), 2)
    end
    local j = i < 0 and n + 1 + i or i
    if j < 1 then j = 1 elseif j > n + 1 then j = n + 1 end   -- as Python's list.insert
    v = accept(self, v, 3)
    local o = od(self, field)
    table.insert(o.keys, j, "\0new")
    o.map["\0new"] = v
    renumber(self, field)
    return self
  end

  --- Remove and return the entry at position i (default the last).
  function L.pop (self, i)
    need_self(self, name, field, "pop", 2)
    local ks = list_keys(self, field)
    local j = norm_index(self, name, i or #ks, #ks, 2)
    local o = od(self, field)
    local v = o.map[ks[j]]
    o.map[ks[j]] = nil
    table.remove(o.keys, j)
    renumber(self, field)
    return v
  end

  function L.__init (self, vs)
    if vs ~= nil then L.extend(self, vs) end
  end

  return L
end

local function accept_module (self, m, level)
  if not is_module(m) then
    error(("%s: %s is not a Module subclass"):format(self:_get_name(), typename(m)), level + 1)
  end
  return m
end

-- a tensor becomes a Parameter (as PyTorch's ParameterList does)
local function accept_param (self, p, level)
  if not is_tensor(p) then
    error(("%s: expected a Tensor (made a Parameter), got %s"):format(self:_get_name(),
          typename(p)), level + 1)
  end
  local dm = require "deepmoon"
  if not dm._parameters[p] then p = Parameter(p) end
  return p
end

--- nn.ModuleList([modules]): a list of modules registered as children (named "0", "1", ...
--- in state_dict); m[i] (1-based), #m, ipairs, m:append(mod), m:extend(list), m:insert(i, mod).
---   self.layers = nn.ModuleList({ nn.Linear(2, 8), nn.Linear(8, 1) })
M.ModuleList = make_list_class("ModuleList", "_modules", accept_module)
--- nn.ParameterList([tensors]): a list of parameters (plain tensors become Parameters);
--- indexed and extended as ModuleList.
---   self.scales = nn.ParameterList({ dm.ones(3), dm.zeros(3) })
M.ParameterList = make_list_class("ParameterList", "_parameters", accept_param)

-- a ParameterList or ParameterDict prints its entries as PyTorch does:
-- (0): Parameter containing: [torch.float32 of size 2x3]
local function params_repr (self)
  local lines = {}
  local o = rawget(self, "_parameters")
  for _, k in ipairs(o.keys) do
    local p = o.map[k]
    if p ~= NONE then
      lines[#lines + 1] = ("(%s): Parameter containing: [torch.%s of size %s]"):format(k,
        p.dtype.name, table.concat(p:size(), "x"))
    end
  end
  return table.concat(lines, "\n")
end
M.ParameterList.extra_repr = params_repr

-- ---- dicts ---------------------------------------------------------------------------------

local function make_dict_class (name, field, accept)
  local D = Module:extend(name)

  local function check_key (k, level)
    if type(k) ~= "string" then
      error(("%s: keys must be strings, got %s"):format(name, typename(k)), level + 1)
    end
  end

  local function set (self, k, v, level)
    check_key(k, level + 1)
    v = accept(self, v, level + 1)
    if field == "_modules" then Module.add_module(self, k, v)
    else Module.register_parameter(self, k, v) end
  end

  function D.__len (self) return #od(self, field).keys end

  function D.__pairs (self)
    local ks = { table.unpack(od(self, field).keys) }
    local i = 0
    return function ()
      i = i + 1
      local k = ks[i]
      if k == nil then return nil end
      return k, od(self, field).map[k]
    end, self, nil
  end

  --- d:keys(), d:values(), d:items(): lists in insertion order (items: {key, value} pairs).
  function D.keys (self)
    need_self(self, name, field, "keys", 2)
    return { table.unpack(od(self, field).keys) }
  end
  --- d:values(): the entries in insertion order, a list.
  function D.values (self)
    need_self(self, name, field, "values", 2)
    local o, out = od(self, field), {}
    for i, k in ipairs(o.keys) do out[i] = o.map[k] end
    return out
  end
  --- d:items(): {key, value} pairs in insertion order, a list.
  function D.items (self)
    need_self(self, name, field, "items", 2)
    local o, out = od(self, field), {}
    for i, k in ipairs(o.keys) do out[i] = { k, o.map[k] } end
    return out
  end

  --- Is key present?
  function D.contains (self, k)
    need_self(self, name, field, "contains", 2)
    return k ~= nil and od(self, field).map[k] ~= nil
  end

  --- Remove key and return its value (an error when absent, as Python's pop).
  function D.pop (self, k)
    need_self(self, name, field, "pop", 2)
    check_key(k, 2)
    local v = od(self, field).map[k]
    if v == nil then error(("%s: key '%s' is not present"):format(name, k), 2) end
    if field == "_modules" then Module.add_module(self, k, nil)
    else
      local o = od(self, field)
      o.map[k] = nil
      for i, key in ipairs(o.keys) do if key == k then table.remove(o.keys, i) break end end
    end
    return v
  end

  --- Remove every entry.
  function D.clear (self)
    need_self(self, name, field, "clear", 2)
    local o = od(self, field)
    o.keys, o.map = {}, {}
  end

  --- Add the entries of a table (sorted keys), a list of {key, value} pairs, or another
  --- dict (its order); returns self.
  function D.update (self, t)
    need_self(self, name, field, "update", 2)
    if type(t) ~= "table" or is_tensor(t) or (is_module(t) and not t.contains) then
      error(("%s.update should be called with a table, but got %s"):format(name,
            typename(t)), 2)
    end
    if is_module(t) then
      for k, v in pairs(t) do set(self, k, v, 2) end
    elseif rawlen(t) > 0 then
      for i = 1, rawlen(t) do
        local kv = rawget(t, i)
        if type(kv) ~= "table" or rawlen(kv) ~= 2 then
          error(("%s.update: element %d should be a {key, value} pair"):format(name, i), 2)
        end
        set(self, rawget(kv, 1), rawget(kv, 2), 2)
      end
    else
      local ks = {}
      for k in next, t do ks[#ks + 1] = k end
      table.sort(ks, function (a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(ks) do set(self, k, rawget(t, k), 2) end
    end
    return self
  end

  -- d[k] = v registers (d.k = v as well, through Module's field writes)
  function D.__setitem (self, k, v) set(self, k, v, 2) end

  function D.__init (self, t)
    if t ~= nil then D.update(self, t) end
  end

  return D
end

--- nn.ModuleDict([table]): modules under string keys, registered as children, in insertion
--- order; d.key or d["key"], #d, pairs, d:keys(), d:values(), d:items(), d:update(t).
---   self.heads = nn.ModuleDict({ cls = nn.Linear(8, 3) })
M.ModuleDict = make_dict_class("ModuleDict", "_modules", accept_module)
--- nn.ParameterDict([table]): parameters under string keys (plain tensors become
--- Parameters), used as ModuleDict.
M.ParameterDict = make_dict_class("ParameterDict", "_parameters", accept_param)
M.ParameterDict.extra_repr = params_repr

-- a plain tensor assigned to a ParameterDict field becomes a Parameter
local base_newindex = M.ParameterDict.__newindex
function M.ParameterDict.__newindex (self, k, v)
  if type(k) == "string" and is_tensor(v) then
    return Module.register_parameter(self, k, accept_param(self, v, 2))
  end
  return base_newindex(self, k, v)
end

return M
