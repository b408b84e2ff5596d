--- deepmoon.convert: `deepmoon convert IN OUT` -- tensors from one file format to another
--- (PyTorch .pt/.pth <-> .safetensors), the input's format told by its bytes, the output's
--- by its name.  Warns on stderr for every tensor whose dtype changes on the way (float16
--- and bfloat16 become float32; int32, int16, int8 become int64), since deepmoon holds
--- those in the wider type.
---
---     deepmoon convert model.pt model.safetensors
---     deepmoon convert model.safetensors model.pt

local core = require "deepmoon.core"
local dmio = require "deepmoon.io"
local check = require "deepmoon.check"

local M = {}

local USAGE = "usage: deepmoon convert IN OUT   (.pt/.pth <-> .safetensors; IN's format is "
  .. "read from its bytes, OUT's from its name)"

local function is_pt (path)
  local ext = (path:match("%.(%w+)$") or ""):lower()
  return ext == "pt" or ext == "pth"
end

-- safetensors dtypes deepmoon widens on loading, from the file's header (name -> dtype)
local ST_WIDENED = { F16 = "float16", BF16 = "bfloat16", I32 = "int32", I16 = "int16",
                     I8 = "int8", U16 = "uint16", U32 = "uint32", U64 = "uint64" }
local function st_widened (path)
  local out = {}
  local f = io.open(path, "rb")
  if not f then return out end
  local head = f:read(8)
  local n = head and #head == 8 and string.unpack("<I8", head)
  local json = n and n < 100000000 and f:read(n) or ""
  f:close()
  for name, dt in json:gmatch('"([^"]+)"%s*:%s*{%s*"dtype"%s*:%s*"(%w+)"') do
    if ST_WIDENED[dt] then out[name] = ST_WIDENED[dt] end
  end
  return out
end

-- what goes into the output: name -> tensor (and metadata) from what came in
local function load_any (path)
  local f = io.open(path, "rb")
  if not f then return nil, ("convert: cannot open %s"):format(path) end
  local head = f:read(4) or ""
  f:close()
  if head == "PK\3\4" or head:sub(1, 1) == "\x80" then
    local v, types = core.pt_load(path)
    if v == nil then return nil, types end
    if check.is_tensor(v) then v = { tensor = v } end
    if type(v) ~= "table" then
      return nil, ("convert: %s holds a %s, not tensors"):format(path, type(v))
    end
    local widened = {}
    for k, t in pairs(v) do
      if check.is_tensor(t) and types[t] then widened[k] = types[t] end
    end
    return v, nil, widened
  end
  local t, meta = dmio.load(path)
  if t == nil then return nil, meta end
  if check.is_tensor(t) then return { tensor = t }, nil, {} end
  return t, meta, st_widened(path)
end

--- Convert in_path to out_path; returns true, or nil and a message.  warn(msg) is called
--- once per tensor whose dtype changed (default: a line on stderr).
function M.convert (in_path, out_path, warn)
  warn = warn or function (msg) io.stderr:write(msg, "\n") end
  local tensors, meta, widened = load_any(in_path)
  if tensors == nil then return nil, meta end
  local names = {}
  for k in pairs(widened) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    warn(("convert: warning: '%s' is %s in %s and is written as %s"):format(
      k, widened[k], in_path, (tostring(tensors[k].dtype):gsub("^deepmoon%.", ""))))
  end
  if is_pt(out_path) then
    local out = tensors
    if meta and next(meta) ~= nil then
      warn(("convert: warning: the metadata of %s is not written to %s (a .pt file has none)")
           :format(in_path, out_path))
    end
    return dmio.save(out_path, out)
  end
  -- safetensors: names to tensors only; other values would be lost, so say which
  local flat = {}
  for k, v in pairs(tensors) do
    if type(k) ~= "string" or not check.is_tensor(v) then
      return nil, ("convert: %s holds %s under %s '%s': safetensors holds named tensors "
                   .. "only (convert a state_dict)"):format(in_path, check.typename(v),
                                                             type(k), tostring(k))
    end
    flat[k] = v
  end
  return dmio.save(out_path, flat, meta)
end

--- The command: args as the host's arg table (arg[1] = IN, arg[2] = OUT); returns the exit
--- status.
function M.main (args)
  if not args or not args[1] or not args[2] or args[3] then
    io.stderr:write(USAGE, "\n")
    return 2
  end
  local ok, msg = M.convert(args[1], args[2])
  if not ok then
    io.stderr:write(msg, "\n")
    return 1
  end
  return 0
end

return M
