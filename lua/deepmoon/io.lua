--- deepmoon.io: tensors to and from files (also dm.save, dm.load, dm.save_npy, dm.load_npy).
--
--   dm.save("model.safetensors", model:state_dict())          -- PyTorch reads it back
--   local sd, meta = assert(dm.load("model.safetensors"))     -- name -> tensor, metadata
--   model:load_state_dict(sd)
--
-- Safetensors files hold named tensors plus string metadata, each tensor in its own dtype
-- (float32, float64, int64, uint8 and bool round-trip exactly; F16/BF16 load as float32, the
-- other integer types as int64, as PyTorch would hold them); the names of
-- model:state_dict() are PyTorch's, so files go both ways with no renaming (PyTorch:
-- `safetensors.torch.load_file` / `save_file`).  .npy files hold one array (numpy.save /
-- numpy.load).  A file that cannot be read or written gives nil and a message naming the file
-- and the problem; wrong argument types raise.
--
-- Nested tables (an optimizer's state_dict(), a training checkpoint) go through flatten /
-- unflatten: tensors under dotted keys, numbers, booleans and strings in the metadata.
--
--   local tensors, meta = dm.io.flatten({ optim = opt:state_dict(), epoch = 7 })
--   dm.save("ckpt.safetensors", tensors, meta)
--   local ckpt = dm.io.unflatten(assert(dm.load("ckpt.safetensors")))
--   opt:load_state_dict(ckpt.optim)
--
-- A model's state_dict() is flat already and its keys hold dots, which flatten refuses: put
-- it in the same file under a prefix of your own ("model.0.weight") and pick those keys back
-- out by hand; unflatten(tensors, meta, "optim") then reads only the optimizer's part.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local is_tensor, typename = check.is_tensor, check.typename

local M = {}

-- a float with the fewest digits that read back as the same number
local function float_str (v)
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

-- errors raised deep inside a helper are raised again at the user's line
local Fail = {}
local function fail (fmt, ...)
  error(setmetatable({ msg = fmt:format(...) }, Fail), 0)
end
local function guarded (fn, ...)
  local r = table.pack(pcall(fn, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  if getmetatable(r[2]) == Fail then error(r[2].msg, 3) end
  error(r[2], 0)
end

-- .pt / .pth names: PyTorch's checkpoint format (torch.save since PyTorch 1.6)
local function is_pt_name (path)
  local ext = path:match("%.([%w]+)$")
  ext = ext and ext:lower()
  return ext == "pt" or ext == "pth"
end

-- raise a core error at the user's line (the core's message names the function already)
local function guarded_core (fn, ...)
  local r = table.pack(pcall(fn, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  error(r[2], 3)
end

-- the format of a file from its first bytes: "pt" (a zip archive, or a pickle: PyTorch's
-- legacy format, which the core names and refuses), "npy", or nil (safetensors, whose
-- reader gives the messages about anything else)
local function sniff (path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local head = f:read(16) or ""
  f:close()
  if head:sub(1, 4) == "PK\3\4" or head:sub(1, 4) == "PK\5\6" then return "pt" end
  if head:sub(1, 6) == "\x93NUMPY" then return "npy" end
  if head:sub(9, 9) == "{" then return nil end    -- safetensors: a length, then JSON
  if head:sub(1, 1) == "\x80" and head:byte(2) and head:byte(2) <= 5 then return "pt" end
  return nil
end

--- Write tensors (a table name -> tensor, e.g. model:state_dict()) to a safetensors file,
--- or, when the name ends in .pt or .pth, to a PyTorch checkpoint that
--- torch.load(path, weights_only=True) reads as an OrderedDict (model.load_state_dict takes
--- it); there nested tables of tensors, numbers, strings and booleans become dicts (or lists,
--- for tables 1..n) and no metadata is taken (PyTorch 1.13's weights_only loader has no
--- opcode for floats: a file with float values outside tensors needs weights_only=False
--- there).  Safetensors: tensors are written
--- each in its dtype, names sorted; metadata is an optional table of string (or number) values.
--- Returns true, or nil and a message.  The file is replaced only once fully written.
function M.save (path, tensors, metadata)
  if type(path) ~= "string" then
    error(("save: expected a file name, got %s"):format(typename(path)), 2)
  end
  if is_pt_name(path) then
    if type(tensors) ~= "table" or is_tensor(tensors) then
      error(("save: expected a table of tensors, got %s"):format(typename(tensors)), 2)
    end
    if metadata ~= nil then
      error("save: a .pt file takes no metadata table (put the values in the table saved)", 2)
    end
    return guarded_core(core.pt_save, path, tensors)
  end
  if type(tensors) ~= "table" or is_tensor(tensors) then
    error(("save: expected a table of tensors, got %s"):format(typename(tensors)), 2)
  end
  local names, list = {}, {}
  for k, v in pairs(tensors) do
    if type(k) ~= "string" then
      error(("save: tensor names must be strings, got %s %s"):format(type(k), tostring(k)), 2)
    end
    if not is_tensor(v) then
      error(("save: value for '%s' must be a tensor, got %s"):format(k, typename(v)), 2)
    end
    names[#names + 1] = k
  end
  table.sort(names)
  for i, k in ipairs(names) do list[i] = tensors[k] end
  local meta
  if metadata ~= nil then
    if type(metadata) ~= "table" then
      error(("save: metadata must be a table, got %s"):format(typename(metadata)), 2)
    end
    meta = {}
    for k, v in pairs(metadata) do
      if type(k) ~= "string" then
        error(("save: metadata keys must be strings, got %s"):format(type(k)), 2)
      end
      if type(v) == "number" then
        v = math.type(v) == "integer" and ("%d"):format(v) or float_str(v)
      elseif type(v) ~= "string" then
        error(("save: metadata value for '%s' must be a string, got %s"):format(k, typename(v)), 2)
      end
      meta[k] = v
    end
  end
  return core.safetensors_save(path, names, list, meta)
end

--- Read a file of tensors, its format told by its first bytes (not its name):
---
--- * PyTorch's checkpoint (torch.save, PyTorch 1.6 or later: a zip archive): the saved
---   object as Lua values -- a dict a table with the same keys (integer keys stay
---   integers), a list or tuple a 1-based array, None nil, tensors as Tensors (float32,
---   float64, int64, uint8 and bool as themselves; float16 and bfloat16 as float32; int32,
---   int16, int8 as int64).  Tensors that share a storage in the file (views) share one here.
---   Only what weights need is read (PyTorch's weights_only=True); any other object the
---   file would make Python build or call is refused with nil and a message naming it.
--- * a .npy file: its one tensor (as dm.load_npy).
--- * otherwise safetensors, as below.
---
--- Safetensors: a table name -> tensor (F32, F64, I64, U8 and BOOL keep their
--- dtype; F16 and BF16 load as float32, I32, I16, I8, U16, U32, U64 as int64) and the metadata table (empty when the file has none); or nil and
--- a message ("load: model.safetensors: header length ... exceeds file size ...").
--- Mind the second value: `model:load_state_dict((dm.load(path)))` (extra parentheses) or
--- `local sd = assert(dm.load(path))`, since load_state_dict takes options second.
function M.load (path)
  if type(path) ~= "string" then
    error(("load: expected a file name, got %s"):format(typename(path)), 2)
  end
  local kind = sniff(path)
  if kind == "pt" then
    local v, e = core.pt_load(path)     -- e: the message, or the widened dtypes (convert's)
    if v == nil then return nil, e end
    return v
  end
  if kind == "npy" then
    local t, e = core.npy_load(path)
    if t == nil then return nil, (e:gsub("^load_npy: ", "load: ")) end
    return t
  end
  return core.safetensors_load(path)
end

--- Write one tensor as a .npy file in its dtype ('<f4', '<f8', '<i8', '|u1', '|b1'; C order).  Returns true, or nil and a message.
function M.save_npy (path, t)
  if type(path) ~= "string" then
    error(("save_npy: expected a file name, got %s"):format(typename(path)), 2)
  end
  if not is_tensor(t) then
    error(("save_npy: expected a tensor, got %s"):format(typename(t)), 2)
  end
  return core.npy_save(path, t)
end

--- Read a .npy file (float, integer and bool arrays, C or Fortran order) as a tensor of
--- the same dtype (f2 -> float32, other integers -> int64), or nil and a message.
function M.load_npy (path)
  if type(path) ~= "string" then
    error(("load_npy: expected a file name, got %s"):format(typename(path)), 2)
  end
  return core.npy_load(path)
end

-- ---- flatten / unflatten ---------------------------------------------------------------
--
-- Values other than tensors are stored as metadata strings that unflatten decodes back:
-- integers "3", floats "0.001" or "1.0" (the shortest text that reads back exactly, always
-- with a '.' or an exponent), "inf", "-inf", "nan", booleans "true" / "false", an empty table "{}".  A
-- string that would read back as something else (or that starts with a backslash) is
-- stored behind a backslash: "\\3", "\\true".

local function decode (s)
  if s:sub(1, 1) == "\\" then return s:sub(2) end
  if s == "true" then return true end
  if s == "false" then return false end
  if s == "{}" then return {} end
  if s == "inf" then return math.huge end
  if s == "-inf" then return -math.huge end
  if s == "nan" then return 0 / 0 end
  local n = tonumber(s)
  if n ~= nil then return n end
  return s
end

local function encode (v)
  local t = type(v)
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if math.type(v) == "integer" then return ("%d"):format(v) end
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    local s = float_str(v)
    if not s:find("[.eE]") then s = s .. ".0" end
    return s
  end
  -- a string that decodes to itself is stored as it is
  if decode(v) == v then return v end
  return "\\" .. v
end

local function flatten_into (tbl, prefix, tensors, meta, seen)
  if seen[tbl] then fail("flatten: table under '%s' contains itself", prefix) end
  seen[tbl] = true
  local empty = true
  for k, v in pairs(tbl) do
    empty = false
    local seg
    if math.type(k) == "integer" then
      seg = ("%d"):format(k)
    elseif type(k) == "string" then
      if k == "" or k:find(".", 1, true) then
        fail("flatten: key '%s' under '%s' is empty or contains '.'", k, prefix)
      end
      if math.type(tonumber(k)) == "integer" and ("%d"):format(tonumber(k)) == k then
        fail("flatten: string key '%s' would come back as an integer", k)
      end
      seg = k
    else
      fail("flatten: keys must be strings or integers, got %s %s", type(k), tostring(k))
    end
    local key = prefix == "" and seg or prefix .. "." .. seg
    if is_tensor(v) then
      tensors[key] = v
    elseif type(v) == "table" then
      flatten_into(v, key, tensors, meta, seen)
    elseif type(v) == "number" or type(v) == "boolean" or type(v) == "string" then
      meta[key] = encode(v)
    else
      fail("flatten: value at '%s' is a %s (tensors, numbers, booleans, strings and tables "
           .. "only)", key, type(v))
    end
  end
  if empty and prefix ~= "" then meta[prefix] = "{}" end
  seen[tbl] = nil
end

--- A nested table of tensors, numbers, booleans and strings -> (tensors, metadata), flat
--- tables with dotted keys ("state.1.exp_avg") that dm.save takes.  Keys must be strings
--- without '.' or integers; prefix (optional) goes in front of every key.
function M.flatten (tbl, prefix)
  if type(tbl) ~= "table" or is_tensor(tbl) then
    error(("flatten: expected a table, got %s"):format(typename(tbl)), 2)
  end
  if prefix ~= nil and (type(prefix) ~= "string" or prefix == "") then
    error("flatten: prefix must be a non-empty string", 2)
  end
  local tensors, meta = {}, {}
  guarded(flatten_into, tbl, prefix or "", tensors, meta, {})
  return tensors, meta
end

local function split (key)
  local segs = {}
  for seg in (key .. "."):gmatch("(.-)%.") do
    if seg == "" then return nil end
    if seg:match("^%-?[1-9]%d*$") or seg == "0" then
      seg = math.tointeger(tonumber(seg)) or seg
    end
    segs[#segs + 1] = seg
  end
  return segs
end

local function place (root, key, value, prefix)
  local rest = key
  if prefix then
    if key:sub(1, #prefix + 1) ~= prefix .. "." then return end
    rest = key:sub(#prefix + 2)
  end
  local segs = split(rest)
  if not segs then fail("unflatten: key '%s' has an empty part", key) end
  local node = root
  for i = 1, #segs - 1 do
    local s = segs[i]
    local child = node[s]
    if child == nil then
      child = {}
      node[s] = child
    elseif type(child) ~= "table" or is_tensor(child) then
      fail("unflatten: key '%s' runs through a value", key)
    end
    node = child
  end
  local last = segs[#segs]
  if node[last] ~= nil then
    local old = node[last]
    -- an empty table placed first ("{}") gives way to its contents
    if not (type(old) == "table" and not is_tensor(old) and type(value) == "table"
            and not is_tensor(value) and next(value) == nil) then
      fail("unflatten: key '%s' is given twice or holds other keys", key)
    end
    return
  end
  node[last] = value
end

--- The inverse of flatten: (tensors, metadata) with dotted keys -> a nested table; integer
--- parts of keys become integer keys.  With prefix, only keys under "prefix." are taken
--- (and the prefix is dropped).  Metadata values are decoded as flatten encoded them.
function M.unflatten (tensors, metadata, prefix)
  if type(tensors) ~= "table" then
    error(("unflatten: expected a table of tensors, got %s"):format(typename(tensors)), 2)
  end
  if metadata ~= nil and type(metadata) ~= "table" then
    error(("unflatten: metadata must be a table, got %s"):format(typename(metadata)), 2)
  end
  if prefix ~= nil and (type(prefix) ~= "string" or prefix == "") then
    error("unflatten: prefix must be a non-empty string", 2)
  end
  -- sorted keys: "a" = {} ("{}") comes before "a.b", and errors do not depend on hashing
  local keys, from = {}, {}
  for k, v in pairs(tensors) do keys[#keys + 1] = k; from[k] = v end
  for k, v in pairs(metadata or {}) do
    if from[k] ~= nil then error(("unflatten: key '%s' is both a tensor and metadata"):format(k), 2) end
    keys[#keys + 1] = k
    if type(v) == "string" then v = decode(v) end
    from[k] = v
  end
  local root = {}
  for _, k in ipairs(keys) do
    if type(k) ~= "string" then error(("unflatten: keys must be strings, got %s"):format(type(k)), 2) end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do guarded(place, root, k, from[k], prefix) end
  return root
end

return M
