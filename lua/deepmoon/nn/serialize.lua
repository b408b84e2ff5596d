--- deepmoon.nn.serialize: save a model for plain C, PyTorch and Lua, and load it back
-- (nn.save_model, nn.load_model, model:save).
--
--   nn.save_model(model, "model.safetensors")                 -- or model:save(path)
--   local model = assert(nn.load_model("model.safetensors"))  -- a Sequential, eval mode
--
-- The file is safetensors holding model:state_dict() under PyTorch's names ("0.weight"), so
-- PyTorch reads it into the same architecture with
--   model.load_state_dict(safetensors.torch.load_file(path))
-- and the metadata key "deepmoon.model": the chain of layers as text, which plain C reads
-- with dm_model_load (core/deepmoon.h; the format is documented at the top of core/io/model.c).
--
-- Models: nn.Sequential (nested Sequentials are flattened) of the layer kinds of the core's
-- layer registry (core/io/registry.c; dm._layer_kinds() lists them: Linear, BatchNorm1d on
-- [N x C], the activations, Dropout, Flatten, Conv1d/Conv2d/ConvTranspose2d, the max, avg
-- and adaptive pools, BatchNorm2d, Dropout2d, Embedding, RNN/LSTM/GRU with batch_first =
-- true, ...).  This file keeps
-- no list of its own: a registry row names the kind (the nn class of that name), its
-- options (the module's fields of those names: PyTorch's constructor arguments), its
-- tensors (state_dict names) and its shape rule, and the core checks every layer and every
-- file.  Subclasses that keep their base class's forward count as the base class.  A model
-- of another class whose forward is a plain chain names the chain: every tensor of the
-- model is saved, the chain's layers are found in it by identity, and layers without
-- tensors may be new ones:
--   nn.save_model(net, path, {layers = {net.fc1, nn.ReLU(), net.fc2, nn.Sigmoid()}})
-- The description is of inference on [batch x sample...] (rows of in_features, or images
-- [C x H x W] given by {input_shape = {C, H, W}}; plain C passes each sample as a flat row of
-- C*H*W values): Dropout and Dropout2d are the identity there and BatchNorm1d/2d use their
-- running statistics.  Sizes (kernel_size, stride, ...) are written as PyTorch's tuples:
-- "3,3" (an integer alone means every spatial dim).
--
--   nn.save_model(cnn, "cnn.safetensors", {input_shape = {1, 28, 28}})

local dm = require "deepmoon"
local module = require "deepmoon.nn.module"

local M = {}

local Module, is_module = module.Module, module.is_module

local KEY = "deepmoon.model"
local MAX_LAYERS = 10000
local MAX_WIDTH = 1 << 30
local MAX_NAME = 200

-- nn is loaded on first use: deepmoon.nn loads this file
local function nn () return require "deepmoon.nn" end

-- the registry's rows, in its order, and by name (read from the core once)
local kinds, kind_named
local function registry ()
  if not kinds then
    kinds, kind_named = dm._layer_kinds(), {}
    for _, k in ipairs(kinds) do kind_named[k.name] = k end
  end
  return kinds, kind_named
end

-- the shortest text that reads back as the same number (integers as integers)
local function num_str (v)
  if math.type(v) == "integer" then return ("%d"):format(v) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

local function class_name (m) return m:_get_name() end

-- ---- writing ------------------------------------------------------------------------------

-- the registry row of m's class, or of its nearest ancestor whose forward it keeps (a
-- subclass of BatchNorm2d counts as BatchNorm2d, not as BatchNorm1d, which BatchNorm2d
-- extends); nil when there is none
local function kind_of (m)
  local N = nn()
  local _, named = registry()
  local c = getmetatable(m)
  while c do
    local name = rawget(c, "__name")
    local k = name and named[name]
    if k and N[name] == c and m.forward == c.forward then return k end
    c = rawget(c, "super")
  end
  return nil
end

local function is_sequential (m)
  local S = nn().Sequential
  return m:is_a(S) and m.forward == S.forward
end

local function fail (level, fmt, ...)
  error(("save_model: " .. fmt):format(...), level + 1)
end

-- append {name, module, where} for the leaves of the chain starting at m; a Sequential
-- that holds itself, nesting deeper than MAX_DEPTH or more than MAX_LAYERS leaves is an
-- error raised at `level` (before a name grows with every level walked)
local MAX_DEPTH = 64
local function flatten_chain (m, name, where, out, level, path, depth)
  path, depth = path or {}, depth or 0
  if is_sequential(m) then
    if path[m] then fail(level, "%s holds itself: a chain of layers cannot", where) end
    if depth >= MAX_DEPTH then fail(level, "Sequentials nested deeper than %d", MAX_DEPTH) end
    path[m] = true
    for i, child in ipairs(m) do
      flatten_chain(child, name and (name == "" and tostring(i - 1) or (name .. "." .. (i - 1))),
                    ("%s[%d]"):format(where, i), out, level + 1, path, depth + 1)
    end
    path[m] = nil
  else
    if #out >= MAX_LAYERS then fail(level, "more than %d layers", MAX_LAYERS) end
    out[#out + 1] = { name = name, module = m, where = where }
  end
end

-- an option's value as the text writes it: the module's field of the option's name; a
-- boolean option is true when the field is true or a tensor (Linear's bias), and nil or
-- false is none (deepmoon's spelling of PyTorch's None) for the others
local function opt_text (o, v)
  if o.type == "boolean" then
    if v == nil then return "false" end
    if dm.is_tensor(v) then return "true" end
    return tostring(v)
  end
  if v == nil or v == false then return "none" end
  if type(v) == "table" and not dm.is_tensor(v) then      -- a size: "3,2", none entries
    local parts = {}
    for i = 1, rawlen(v) do
      local e = rawget(v, i)
      parts[i] = (e == false or e == nil) and "none"
                 or math.type(e) == "integer" and ("%d"):format(e) or tostring(e)
    end
    return table.concat(parts, ",")
  end
  if type(v) == "number" then
    if o.type ~= "number" and math.type(v) == "integer" then return ("%d"):format(v) end
    return num_str(v)
  end
  return tostring(v)
end

local function unsupported (level, label)
  local names = {}
  for _, k in ipairs((registry())) do
    if nn()[k.name] then names[#names + 1] = k.name end
  end
  fail(level + 1, "%s is not supported in model files (%s and Sequential are)", label,
       table.concat(names, ", "))
end

-- Check chain entry e on the sample x flowing in (nil: not known yet) with its row's
-- rules, in the core.  Returns the sample it takes (nil when still not known), the sample
-- it gives (the same) and its "layer NAME TYPE ..." line.
local function check_layer (e, x, state, level)
  level = level + 1
  local m, name = e.module, e.name
  local label = ("%s (%s)"):format(e.where, class_name(m))
  local k = kind_of(m)
  if not k then unsupported(level, label) end
  local fields = { k.name }
  for _, o in ipairs(k.options) do
    local s = opt_text(o, m[o.name])
    if s == "" or s:find("[^!-~]") then
      fail(level, "%s: %s cannot be written as '%s'", label, o.name, s)
    end
    fields[#fields + 1] = o.name .. "=" .. s
  end
  local spec = table.concat(fields, " ")
  local taken, given, shapes = dm._layer_parse(spec, x)
  if taken == nil then                          -- nil, the core's "TYPE: problem"
    local msg = given
    if msg:sub(1, #k.name + 2) == k.name .. ": " then msg = msg:sub(#k.name + 3) end
    fail(level, "%s: %s", label, msg)
  end
  if name == "" then
    fail(level, "%s is the model itself; wrap it: nn.Sequential(layer)", label)
  elseif name == nil then
    if next(shapes) ~= nil then
      fail(level, "%s is not part of the model, so its tensors have no name", label)
    end
    name = "-"
  elseif #name > MAX_NAME or name:find("[^%w_.]") then
    fail(level, "%s: layer name '%s' has a character other than A-Z a-z 0-9 _ . (or is " ..
         "longer than %d)", label, name, MAX_NAME)
  end
  for _, t in ipairs(k.tensors) do
    local want = shapes[t.name]
    local key = name .. "." .. t.name
    local have = want and state[key]
    if want and have == nil and not t.optional then
      fail(level, "%s: tensor '%s' is missing", label, key)
    end
    if have ~= nil then
      local ok = have:dim() == #want
      for d = 1, #want do ok = ok and have:size(d) == want[d] end
      if not ok then
        fail(level, "%s: tensor '%s' is %s, expected %s", label, key, have:size_str(),
             "[" .. table.concat(want, " x ") .. "]")
      end
    end
  end
  return taken or nil, given or nil, "layer " .. name .. " " .. spec
end

local function check_opts (opts, level)
  level = level + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(level, "expected an options table, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "layers" and k ~= "in_features" and k ~= "input_shape" and k ~= "metadata" then
      fail(level, "unknown option '%s'", tostring(k))
    end
  end
  return opts
end

local function describe (model, opts, level)
  level = level + 1
  if not is_module(model) then fail(level, "expected a Module, got %s", type(model)) end
  local chain = {}
  if opts.layers ~= nil then
    if type(opts.layers) ~= "table" or is_module(opts.layers) then
      fail(level, "layers must be a list of modules, got %s", type(opts.layers))
    end
    local names = {}
    for name, m in model:named_modules() do
      if names[m] == nil then names[m] = name end
    end
    for i, m in ipairs(opts.layers) do
      if not is_module(m) then
        fail(level, "layers[%d] is not a Module (got %s)", i, type(m))
      end
      flatten_chain(m, names[m], ("layers[%d]"):format(i), chain, level + 1)
    end
  else
    if not is_sequential(model) then
      fail(level, "expected a Sequential, got %s (for another model, pass the chain its " ..
           "forward runs: {layers = {...}})", class_name(model))
    end
    flatten_chain(model, "", "Sequential", chain, level + 1)
  end
  if #chain > MAX_LAYERS then fail(level, "more than %d layers", MAX_LAYERS) end
  local state = model:state_dict()
  local input
  if opts.in_features ~= nil and opts.input_shape ~= nil then
    fail(level, "pass in_features or input_shape, not both")
  end
  if opts.in_features ~= nil then
    local w = opts.in_features
    if math.type(w) ~= "integer" or w < 1 or w > MAX_WIDTH then
      fail(level, "in_features must be an integer in 1 .. %d, got %s", MAX_WIDTH, tostring(w))
    end
    input = { w }
  elseif opts.input_shape ~= nil then
    -- one sample's shape, [C x H x W] for images: sizes >= 1, at most 2^30 values
    local v = opts.input_shape
    local n = type(v) == "table" and not is_module(v) and not dm.is_tensor(v) and rawlen(v) or 0
    local total = 1
    input = {}
    for i = 1, n do
      local e = rawget(v, i)
      if math.type(e) ~= "integer" or e < 1 or e > MAX_WIDTH // total then input = nil break end
      total = total * e
      input[i] = e
    end
    if not input or n < 1 or n > 7 then
      fail(level, "input_shape must be a list of 1 to 7 sizes >= 1 (one sample, at most %d " ..
           "values), got %s", MAX_WIDTH, type(v) == "table" and "{...}" or tostring(v))
    end
  else
    -- the first layer that fixes the sample it takes tells the model's input; a layer that
    -- needs a known input before that (a Conv2d: its height and width) is answered with
    -- the input_shape option
    local x
    for _, e in ipairs(chain) do
      local k = kind_of(e.module)
      if x == nil and not input and k and k.name ~= "Sequential" then
        local spec = { k.name }
        for _, o in ipairs(k.options) do
          spec[#spec + 1] = o.name .. "=" .. opt_text(o, e.module[o.name])
        end
        local taken, msg = dm._layer_parse(table.concat(spec, " "))
        if taken == nil and msg:find("no layer before it fixes them", 1, true) then
          fail(level, "cannot tell the shape of the input: %s (%s) %s; pass {input_shape = " ..
               "{...}}, one sample's shape", e.where, class_name(e.module),
               (msg:gsub("^[^:]*: ", ""):gsub(", and no layer.*$", "")))
        end
      end
      local taken
      taken, x = check_layer(e, x, state, level)
      if taken and not input then input = taken end
    end
    if not input then
      fail(level, "cannot tell the width of the input (no layer in the chain fixes it); " ..
           "pass {in_features = n}")
    end
  end
  local lines = { KEY .. " 1", #input == 1 and "in_features=" .. input[1]
                               or "input_shape=" .. table.concat(input, ",") }
  local x = input
  for _, e in ipairs(chain) do
    local _, line
    _, x, line = check_layer(e, x, state, level)
    lines[#lines + 1] = line
  end
  lines[#lines + 1] = "end"
  return table.concat(lines, "\n") .. "\n"
end

--- The "deepmoon.model" text that save_model stores for model (same arguments).
function M.describe_model (model, opts)
  local text = describe(model, check_opts(opts, 2), 2)
  return text
end

local function save (model, path, opts, level)
  level = level + 1
  if type(path) ~= "string" then fail(level, "expected a file name, got %s", type(path)) end
  opts = check_opts(opts, level)
  local text = describe(model, opts, level)
  local meta = {}
  if opts.metadata ~= nil then
    if type(opts.metadata) ~= "table" then
      fail(level, "metadata must be a table, got %s", type(opts.metadata))
    end
    for k, v in pairs(opts.metadata) do
      if k == KEY then fail(level, "metadata key '%s' is reserved", KEY) end
      meta[k] = v
    end
  end
  meta[KEY] = text
  return dm.save(path, model:state_dict(), meta)
end

--- Write model to a safetensors file that dm_model_load (C), nn.load_model and PyTorch's
--- load_state_dict read: model:state_dict() plus the layer chain in the metadata.
--- opts: layers (the chain, for models other than Sequential), in_features (needed only
--- when no layer of the chain fixes it, as a Linear or BatchNorm1d does), input_shape (one
--- sample's shape, {C, H, W}: needed by models that start with a convolution or pooling
--- layer, which do not fix their input's height and width), metadata (more string
--- metadata to store).  Returns true, or nil and a message when the file cannot be
--- written; a model that cannot be described raises.
function M.save_model (model, path, opts)
  local ok, msg = save(model, path, opts, 2)     -- not a tail call: error levels count it
  return ok, msg
end

--- model:save(path [, opts]) is nn.save_model(model, path, opts).
function Module.save (self, path, opts)
  local ok, msg = save(self, path, opts, 2)
  return ok, msg
end

-- ---- reading ------------------------------------------------------------------------------

--- Read a file written by save_model: the model as an nn.Sequential in eval mode (nested
--- Sequentials come back flat), the file's metadata table, and the shape of one sample the
--- model takes (dm_model_input_shape: {in_features}, or {C, H, W} for a CNN saved with
--- {input_shape = ...}); or nil and a message when the file cannot be read or does not
--- describe a model.  The core checks the whole description and every tensor's shape
--- before any layer is built here.
function M.load_model (path)
  if type(path) ~= "string" then
    error(("load_model: expected a file name, got %s"):format(type(path)), 2)
  end
  local tensors, meta = dm.load(path)
  if not tensors then return nil, meta end
  local layers, msg_or_shape = dm._model_parse(meta[KEY], tensors, path)
  local msg, input_shape = msg_or_shape, msg_or_shape
  if not layers then return nil, msg end
  local N = nn()
  local _, named = registry()
  local _ <close> = dm.no_grad()
  local mods = {}
  for i, l in ipairs(layers) do
    local k, cls = named[l.kind], N[l.kind]
    if not cls then
      return nil, ("load_model: %s: line %d: %s has no Lua module"):format(path, i + 2, l.kind)
    end
    -- the constructor's options; none arrives as false, which stays for options whose
    -- default is not none (BatchNorm1d's momentum) and is left out for the others
    -- the required options (kernel_size, ...) positionally, as the pooling layers take
    -- them, then the others as an options table
    local args, pos = {}, {}
    for j, o in ipairs(k.options) do
      local v = l.options[o.name]
      if v == false and o.type ~= "boolean" and o.default == "none" then v = nil end
      if o.default == nil and #pos == j - 1 then pos[#pos + 1] = v else args[o.name] = v end
    end
    pos[#pos + 1] = args
    local m = cls(table.unpack(pos))
    for _, t in ipairs(k.tensors) do
      local src, dst = tensors[l.name .. "." .. t.name], m[t.name]
      if src ~= nil and dst ~= nil then dst:copy_(src) end
    end
    mods[i] = m
  end
  return N.Sequential(table.unpack(mods)):eval(), meta, input_shape
end

return M
