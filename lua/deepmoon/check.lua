--- deepmoon.check: the argument checks the Lua files share -- is_tensor, and the one checker
-- of option tables (unknown option, wrong type) -- so that a message reads the same whatever
-- function raises it.
--
--   local check = require "deepmoon.check"
--   local SPEC = { shuffle = "boolean", generator = "generator", collate_fn = "callable",
--                  batch_size = { "integer", default = 1 } }
--   opts = check.options("DataLoader", opts, SPEC)
--
--   DataLoader: expected an options table, got number
--   DataLoader: unknown option 'batchsize'
--   DataLoader: option 'shuffle' must be a boolean, got number
--
-- Type names: "number", "integer" (a number with an integral value), "boolean", "string",
-- "table", "function", "callable" (a function or an object with __call), "tensor",
-- "generator" (a deepmoon.Generator), "any".  A spec entry is a type name; a list of them
-- (alternatives: {"number", "boolean"} reads "must be a number or a boolean"), which may
-- carry a default ({"number", default = 0.1}); or `true`, any value (the caller checks what
-- it needs, e.g. a range, with a message of its own).  Options a value may also reach
-- positionally are checked after parsing with check.arg, which names the value without
-- "option": "ReLU: inplace must be a boolean, got number".
--
-- `level` is error()'s, counted from the function that calls the check: 1 is that function,
-- 2 (the default) its caller -- the user's line when a public function checks its own
-- arguments (call the check as a statement, never as a tail call, which would drop that
-- frame).  Where errors go through a raiser of the caller's own (the optimizers' fail, the
-- data modules' raise), pass that function as `level`: it receives the message.

local check = {}

-- progress, plot and format work without the C module: then nothing is a tensor
local has_core, core = pcall(require, "deepmoon.core")
local is_tensor, gen_meta
if has_core and type(core) == "table" and core._is_tensor then
  is_tensor = core._is_tensor       -- a C function: no Lua frame, ~3x a getmetatable compare
  gen_meta = getmetatable(core.Generator(0))
else
  is_tensor = function () return false end
end

local type, pairs, ipairs, error, getmetatable = type, pairs, ipairs, error, getmetatable
local math_type, tointeger = math.type, math.tointeger

--- Is x a deepmoon tensor (released or not)?  The one test every file uses (dm.is_tensor).
check.is_tensor = is_tensor

--- Is x a deepmoon.Generator?
local function is_generator (x)
  return gen_meta ~= nil and getmetatable(x) == gen_meta
end
check.is_generator = is_generator

--- x's type as messages name it: "tensor", "deepmoon.Generator", else type(x).
local function typename (x)
  if is_tensor(x) then return "tensor" end
  if is_generator(x) then return "deepmoon.Generator" end
  return type(x)
end
check.typename = typename

local function callable (v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- type name -> { test, how a message says it }
local TYPES = {
  any = { function () return true end, "anything" },
  number = { function (v) return type(v) == "number" end, "a number" },
  integer = { function (v) return math_type(v) == "integer"
                                  or (type(v) == "number" and tointeger(v) ~= nil) end,
              "an integer" },
  boolean = { function (v) return type(v) == "boolean" end, "a boolean" },
  string = { function (v) return type(v) == "string" end, "a string" },
  table = { function (v) return type(v) == "table" end, "a table" },
  ["function"] = { function (v) return type(v) == "function" end, "a function" },
  callable = { callable, "a function" },
  tensor = { is_tensor, "a Tensor" },
  generator = { is_generator, "a deepmoon.Generator" },
}
setmetatable(TYPES, { __index = function (_, k)
  error(("deepmoon.check: unknown type name '%s' in a spec"):format(tostring(k)), 4)
end })

-- does v match spec entry t (a type name, a list of them, or true)?
local function matches (v, t)
  if t == true then return true end
  if type(t) == "string" then return TYPES[t][1](v) end
  local n = #t
  if n == 0 then return true end          -- { default = x }: any type
  for i = 1, n do
    if TYPES[t[i]][1](v) then return true end
  end
  return false
end

local function describe (t)
  if t == true then return TYPES.any[2] end
  if type(t) == "string" then return TYPES[t][2] end
  local n = #t
  if n == 0 then return TYPES.any[2] end
  local parts = {}
  for i = 1, n do parts[i] = TYPES[t[i]][2] end
  if n == 1 then return parts[1] end
  return table.concat(parts, ", ", 1, n - 1) .. " or " .. parts[n]
end

-- does spec entry t name type `name`?
local function names (t, name)
  if t == name then return true end
  if type(t) ~= "table" then return false end
  for i = 1, #t do if t[i] == name then return true end end
  return false
end

-- what a message says v was: a number that should have been an integer shows itself
local function got (v, t)
  if type(v) == "number" and names(t, "integer") then return tostring(v) end
  return typename(v)
end

local function raise (msg, level)
  if type(level) == "function" then
    level(msg)
    error(msg, 0)                  -- a raiser that returned
  end
  -- 1 is this function, 2 the check, 3 its caller: level 1 as the caller counts it
  error(msg, (level or 2) + 2)
end

-- keys in a fixed order, so that the message does not depend on hashing
local function sorted_keys (t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function (a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "string" or ta == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

--- The message for what is wrong with the options table opts (a table) under spec, or nil.
--- Unknown names come before wrong types; each in sorted order.
function check.options_problem (fname, opts, spec)
  local keys = sorted_keys(opts)
  for _, k in ipairs(keys) do
    if type(k) ~= "string" then
      return ("%s: option names must be strings, got %s"):format(fname, type(k))
    end
    if spec[k] == nil then return ("%s: unknown option '%s'"):format(fname, k) end
  end
  for _, k in ipairs(keys) do
    local v, t = opts[k], spec[k]
    if not matches(v, t) then
      return ("%s: option '%s' must be %s, got %s"):format(fname, k, describe(t), got(v, t))
    end
  end
  return nil
end

--- Check an options table: opts is nil or a table whose keys are names in spec and whose
--- values have the types spec gives (see the top of this file).  Returns opts ({} for nil);
--- when spec has defaults, a new table with them filled in.  fname starts each message.
function check.options (fname, opts, spec, level)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    raise(("%s: expected an options table, got %s"):format(fname, typename(opts)), level)
  else
    for k, v in pairs(opts) do
      local t = spec[k]
      if t == nil or not matches(v, t) then
        raise(check.options_problem(fname, opts, spec), level)
      end
    end
  end
  local out = opts
  for k, t in pairs(spec) do
    if type(t) == "table" and t.default ~= nil and opts[k] == nil then
      if out == opts then
        out = {}
        for key, v in pairs(opts) do out[key] = v end
      end
      out[k] = t.default
    end
  end
  return out
end

--- Check one value that may have been given positionally or as an option: nil gives
--- default; otherwise v must have one of the types (a name or a list of names) or
--- "fname: name must be <types>, got <type>" is raised.  An "integer" that is a float with
--- an integral value (3.0) comes back as an integer.
function check.arg (fname, name, v, types, default, level)
  if v == nil then return default end
  if not matches(v, types) then
    raise(("%s: %s must be %s, got %s"):format(fname, name, describe(types), got(v, types)),
          level)
  end
  if math_type(v) == "float" and names(types, "integer") and not names(types, "number") then
    return tointeger(v)
  end
  return v
end

return check
