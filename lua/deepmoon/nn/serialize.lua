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
-- with dm_model_load (core/deepmoon.h; the format is documented at the top of core/model.c).
--
-- Models: nn.Sequential (nested Sequentials are flattened) of Linear, ReLU, LeakyReLU,
-- Sigmoid, Tanh, ELU, SELU, GELU, Softmax, LogSoftmax, Identity, Flatten (the default
-- start_dim = 2, end_dim = -1), Dropout and BatchNorm1d (on [N x C]); subclasses that keep
-- their base class's forward count as the base class.  A model of another class whose
-- forward is a plain chain names the chain: every tensor of the model is saved, the
-- chain's layers are found in it by identity, and layers without tensors may be new ones:
--   nn.save_model(net, path, {layers = {net.fc1, nn.ReLU(), net.fc2, nn.Sigmoid()}})
-- The description is of inference on [batch x in_features] rows: Dropout is the identity
-- there and BatchNorm1d uses its running statistics.

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

-- the shortest text that reads back as the same number (integers as integers)
local function num_str (v)
  if math.type(v) == "integer" then return ("%d"):format(v) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

local function finite (v)
  return type(v) == "number" and v == v and v > -math.huge and v < math.huge
end

local function class_name (m) return m:_get_name() end

-- ---- writing ------------------------------------------------------------------------------

-- the supported class m belongs to (itself or an ancestor whose forward it keeps), or nil
local function supported_class (m)
  local N = nn()
  for _, cname in ipairs({ "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "SELU",
                           "GELU", "Softmax", "LogSoftmax", "Identity", "Flatten", "Dropout",
                           "BatchNorm1d", "Sequential" }) do
    local cls = N[cname]
    if m:is_a(cls) and m.forward == cls.forward then return cname end
  end
  return nil
end

local function fail (level, fmt, ...)
  error(("save_model: " .. fmt):format(...), level + 1)
end

-- append {name, module, where} for the leaves of the chain starting at m
local function flatten_chain (m, name, where, out)
  if supported_class(m) == "Sequential" then
    for i, child in ipairs(m) do
      flatten_chain(child, name and (name == "" and tostring(i - 1) or (name .. "." .. (i - 1))),
                    ("%s[%d]"):format(where, i), out)
    end
  else
    out[#out + 1] = { name = name, module = m, where = where }
  end
end

local function has_state (m)
  return next(m:state_dict()) ~= nil
end

local function bool_str (v) return v and "true" or "false" end

-- one "layer NAME TYPE ..." line for entry e; width flows in and the new width comes out
local function layer_line (e, width, level)
  local m, name = e.module, e.name
  local cname = supported_class(m)
  local label = ("%s (%s)"):format(e.where, class_name(m))
  if not cname then
    fail(level, "%s is not supported in model files (Linear, ReLU, LeakyReLU, Sigmoid, Tanh, " ..
         "ELU, SELU, GELU, Softmax, LogSoftmax, Identity, Flatten, Dropout, BatchNorm1d " ..
         "and Sequential are)", label)
  end
  local needs_name = (cname == "Linear") or (cname == "BatchNorm1d" and has_state(m))
  if name == nil then
    if needs_name then
      fail(level, "%s is not part of the model, so its tensors have no name", label)
    end
    name = "-"
  elseif name == "" then
    fail(level, "%s is the model itself; wrap it: nn.Sequential(layer)", label)
  elseif #name > MAX_NAME or name:find("[^%w_.]") then
    fail(level, "%s: layer name '%s' has a character other than A-Z a-z 0-9 _ . (or is " ..
         "longer than %d)", label, name, MAX_NAME)
  end
  local function number (k, v)
    if not finite(v) then
      fail(level + 1, "%s: %s must be a finite number, got %s", label, k, tostring(v))
    end
    return k .. "=" .. num_str(v)
  end
  local fields = { "layer", name, cname }
  local function add (s) fields[#fields + 1] = s end
  if cname == "Linear" then
    if m.in_features ~= width then
      fail(level, "%s: in_features %d does not match the width %d before it", label,
           m.in_features, width)
    end
    if m.out_features < 1 then fail(level, "%s: out_features must be at least 1", label) end
    add("in_features=" .. m.in_features); add("out_features=" .. m.out_features)
    add("bias=" .. bool_str(m.bias ~= nil))
    width = m.out_features
  elseif cname == "LeakyReLU" then
    add(number("negative_slope", m.negative_slope))
  elseif cname == "ELU" then
    add(number("alpha", m.alpha))
  elseif cname == "GELU" then
    add("approximate=" .. m.approximate)
  elseif cname == "Softmax" or cname == "LogSoftmax" then
    local d = m.dim
    if d ~= nil and (d < -2 or d > 2) then
      fail(level, "%s: dim %d does not exist in [batch x width] rows", label, d)
    end
    add("dim=" .. (d == nil and "none" or tostring(d)))
  elseif cname == "Dropout" then
    add(number("p", m.p))
  elseif cname == "Flatten" then
    if m.start_dim ~= 2 or m.end_dim ~= -1 then
      fail(level, "%s: only Flatten(2, -1) (the default) is supported, got Flatten(%d, %d)",
           label, m.start_dim, m.end_dim)
    end
    add("start_dim=2"); add("end_dim=-1")
  elseif cname == "BatchNorm1d" then
    if m.num_features ~= width then
      fail(level, "%s: num_features %d does not match the width %d before it", label,
           m.num_features, width)
    end
    add("num_features=" .. m.num_features)
    add(number("eps", m.eps))
    add(m.momentum == false and "momentum=none" or number("momentum", m.momentum))
    add("affine=" .. bool_str(m.affine))
    add("track_running_stats=" .. bool_str(m.track_running_stats))
  end
  return table.concat(fields, " "), width
end

local function check_opts (opts, level)
  level = level + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(level, "expected an options table, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "layers" and k ~= "in_features" and k ~= "metadata" then
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
      flatten_chain(m, names[m], ("layers[%d]"):format(i), chain)
    end
  else
    if supported_class(model) ~= "Sequential" then
      fail(level, "expected a Sequential, got %s (for another model, pass the chain its " ..
           "forward runs: {layers = {...}})", class_name(model))
    end
    flatten_chain(model, "", "Sequential", chain)
  end
  if #chain > MAX_LAYERS then fail(level, "more than %d layers", MAX_LAYERS) end
  local width = opts.in_features
  if width ~= nil then
    if math.type(width) ~= "integer" or width < 1 or width > MAX_WIDTH then
      fail(level, "in_features must be an integer in 1 .. %d, got %s", MAX_WIDTH,
           tostring(width))
    end
  else
    for _, e in ipairs(chain) do
      local c = supported_class(e.module)
      if c == "Linear" then width = e.module.in_features break end
      if c == "BatchNorm1d" then width = e.module.num_features break end
    end
    if width == nil then
      fail(level, "cannot tell the width of the input (no Linear or BatchNorm1d); " ..
           "pass {in_features = n}")
    end
  end
  local lines = { KEY .. " 1", "in_features=" .. width }
  for _, e in ipairs(chain) do
    local line
    line, width = layer_line(e, width, level + 1)
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
--- when no Linear or BatchNorm1d tells it), metadata (more string metadata to store).
--- Returns true, or nil and a message when the file cannot be written; a model that
--- cannot be described raises.
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

-- errors in a file are environmental: load_model returns nil and the message
local Bad = {}
local function bad (ctx, fmt, ...)
  local msg = fmt:format(...)
  if ctx.line > 0 then
    msg = ("load_model: %s: line %d: %s"):format(ctx.path, ctx.line, msg)
  else
    msg = ("load_model: %s: %s"):format(ctx.path, msg)
  end
  error(setmetatable({ msg = msg }, Bad), 0)
end

local function keyval (ctx, f, i, key, type_)
  local s = f[i]
  if s == nil then bad(ctx, "%s: missing %s", type_, key) end
  if s:sub(1, #key + 1) ~= key .. "=" then
    bad(ctx, "%s: expected %s=..., got '%s'", type_, key, s:sub(1, 60))
  end
  return s:sub(#key + 2)
end

local function parse_int (ctx, s, key, type_, lo, hi)
  if not s:match("^%-?%d+$") then
    bad(ctx, "%s: %s must be an integer, got '%s'", type_, key, s:sub(1, 60))
  end
  local v = #s <= 12 and math.tointeger(tonumber(s)) or nil
  if v == nil or v < lo or v > hi then
    bad(ctx, "%s: %s must be in %d .. %d, got %s", type_, key, lo, hi, s:sub(1, 60))
  end
  return v
end

local function parse_num (ctx, s, key, type_)
  if s == "" or s:find("[^0-9+%-.eE]") or #s > 40 then
    bad(ctx, "%s: %s must be a number, got '%s'", type_, key, s:sub(1, 60))
  end
  local v = tonumber(s)
  if v == nil then bad(ctx, "%s: %s must be a number, got '%s'", type_, key, s) end
  if not finite(v) then bad(ctx, "%s: %s must be finite, got %s", type_, key, s) end
  return v + 0.0
end

local function parse_bool (ctx, s, key, type_)
  if s == "true" then return true end
  if s == "false" then return false end
  bad(ctx, "%s: %s must be true or false, got '%s'", type_, key, s:sub(1, 60))
end

local function no_more (ctx, f, n, type_)
  if #f > n then bad(ctx, "%s: unexpected field '%s'", type_, f[n + 1]:sub(1, 60)) end
end

-- the tensor name.suffix with exactly the shape dims
local function need (ctx, tensors, name, suffix, type_, dims)
  if name == "-" then bad(ctx, "%s: a layer with tensors needs a name", type_) end
  local key = name .. "." .. suffix
  local t = tensors[key]
  if t == nil then bad(ctx, "%s: tensor '%s' is missing", type_, key) end
  local ok = t:dim() == #dims
  for i, d in ipairs(dims) do ok = ok and t:size(i) == d end
  if not ok then
    bad(ctx, "%s: tensor '%s' is %s, expected %s", type_, key, t:size_str(),
        "[" .. table.concat(dims, " x ") .. "]")
  end
  return t
end

local SIMPLE = { ReLU = true, Sigmoid = true, Tanh = true, SELU = true, Identity = true }

-- one layer line -> module; width in, width out
local function parse_layer (ctx, f, tensors, width)
  local N = nn()
  if #f < 3 or f[1] ~= "layer" then
    bad(ctx, "expected 'layer NAME TYPE ...' or 'end', got '%s'", f[1]:sub(1, 60))
  end
  local name, t = f[2], f[3]
  if name ~= "-" then
    if #name > MAX_NAME then bad(ctx, "layer name longer than %d characters", MAX_NAME) end
    if name:find("[^%w_.]") then
      bad(ctx, "layer name '%s' has a character other than A-Z a-z 0-9 _ .", name:sub(1, 60))
    end
    if name:sub(1, 1) == "." or name:sub(-1) == "." or name:find("..", 1, true) then
      bad(ctx, "layer name '%s' has an empty part", name:sub(1, 60))
    end
  end
  if SIMPLE[t] then
    no_more(ctx, f, 3, t)
    return N[t](), width
  elseif t == "Linear" then
    local nin = parse_int(ctx, keyval(ctx, f, 4, "in_features", t), "in_features", t, 1,
                          MAX_WIDTH)
    local nout = parse_int(ctx, keyval(ctx, f, 5, "out_features", t), "out_features", t, 1,
                           MAX_WIDTH)
    local bias = parse_bool(ctx, keyval(ctx, f, 6, "bias", t), "bias", t)
    no_more(ctx, f, 6, t)
    if nin ~= width then
      bad(ctx, "Linear: in_features %d does not match the width %d before it", nin, width)
    end
    local w = need(ctx, tensors, name, "weight", t, { nout, nin })
    local b = bias and need(ctx, tensors, name, "bias", t, { nout }) or nil
    local m = N.Linear(nin, nout, bias)
    m.weight:copy_(w)
    if b then m.bias:copy_(b) end
    return m, nout
  elseif t == "LeakyReLU" or t == "ELU" then
    local key = t == "LeakyReLU" and "negative_slope" or "alpha"
    local v = parse_num(ctx, keyval(ctx, f, 4, key, t), key, t)
    no_more(ctx, f, 4, t)
    return N[t](v), width
  elseif t == "GELU" then
    local ap = keyval(ctx, f, 4, "approximate", t)
    if ap ~= "none" and ap ~= "tanh" then
      bad(ctx, "GELU: approximate must be none or tanh, got '%s'", ap:sub(1, 60))
    end
    no_more(ctx, f, 4, t)
    return N.GELU(ap), width
  elseif t == "Softmax" or t == "LogSoftmax" then
    local s = keyval(ctx, f, 4, "dim", t)
    local d = nil
    if s ~= "none" then
      d = parse_int(ctx, s, "dim", t, -2, 2)
      if d == 0 then bad(ctx, "%s: dim 0 is invalid (dims are 1-based)", t) end
    end
    no_more(ctx, f, 4, t)
    return N[t](d), width
  elseif t == "Dropout" then
    local s = keyval(ctx, f, 4, "p", t)
    local p = parse_num(ctx, s, "p", t)
    if p < 0 or p > 1 then bad(ctx, "Dropout: p must be in 0 .. 1, got %s", s) end
    no_more(ctx, f, 4, t)
    return N.Dropout(p), width
  elseif t == "Flatten" then
    local s, e = keyval(ctx, f, 4, "start_dim", t), keyval(ctx, f, 5, "end_dim", t)
    if s ~= "2" or e ~= "-1" then
      bad(ctx, "Flatten: only start_dim=2 end_dim=-1 is supported, got start_dim=%s " ..
          "end_dim=%s", s:sub(1, 20), e:sub(1, 20))
    end
    no_more(ctx, f, 5, t)
    return N.Flatten(), width
  elseif t == "BatchNorm1d" then
    local c = parse_int(ctx, keyval(ctx, f, 4, "num_features", t), "num_features", t, 1, MAX_WIDTH)
    local es = keyval(ctx, f, 5, "eps", t)
    local eps = parse_num(ctx, es, "eps", t)
    if eps < 0 then bad(ctx, "BatchNorm1d: eps must be >= 0, got %s", es) end
    local ms = keyval(ctx, f, 6, "momentum", t)
    local momentum = false                       -- "none": PyTorch's None
    if ms ~= "none" then momentum = parse_num(ctx, ms, "momentum", t) end
    local affine = parse_bool(ctx, keyval(ctx, f, 7, "affine", t), "affine", t)
    local track = parse_bool(ctx, keyval(ctx, f, 8, "track_running_stats", t),
                             "track_running_stats", t)
    no_more(ctx, f, 8, t)
    if c ~= width then
      bad(ctx, "BatchNorm1d: num_features %d does not match the width %d before it", c, width)
    end
    local m = N.BatchNorm1d(c, { eps = eps, momentum = momentum, affine = affine,
                                 track_running_stats = track })
    if affine then
      m.weight:copy_(need(ctx, tensors, name, "weight", t, { c }))
      m.bias:copy_(need(ctx, tensors, name, "bias", t, { c }))
    end
    if track then
      m.running_mean:copy_(need(ctx, tensors, name, "running_mean", t, { c }))
      m.running_var:copy_(need(ctx, tensors, name, "running_var", t, { c }))
      local nbt = tensors[name .. ".num_batches_tracked"]
      if nbt ~= nil and nbt:numel() == 1 then m.num_batches_tracked:fill_(nbt:item()) end
    end
    return m, width
  end
  bad(ctx, "unknown layer type '%s'", t:sub(1, 60))
end

local function build (ctx, text, tensors)
  local n = 0
  for i = 1, #text do
    local c = text:byte(i)
    if c == 10 then n = n + 1
    elseif c < 32 or c > 126 then
      ctx.line = n + 1
      bad(ctx, "character 0x%02x is not printable ASCII", c)
    end
  end
  local layers, width, ended = {}, nil, false
  local lines = {}
  if text ~= "" then
    for line in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("(.-)\n") do
      lines[#lines + 1] = line
    end
  end
  for i, line in ipairs(lines) do
    ctx.line = i
    if ended then bad(ctx, "text after 'end'") end
    if line == "" then bad(ctx, "empty line") end
    local f = {}
    for field in (line .. " "):gmatch("(.-) ") do     -- as the C parser: count, then check
      if #f == 16 then bad(ctx, "too many fields") end
      if field == "" then bad(ctx, "extra space") end
      f[#f + 1] = field
    end
    if i == 1 then
      if #f ~= 2 or f[1] ~= KEY then bad(ctx, "expected '%s 1'", KEY) end
      if f[2] ~= "1" then
        bad(ctx, "format version '%s' is not supported (this build reads 1)", f[2]:sub(1, 20))
      end
    elseif i == 2 then
      if #f ~= 1 then bad(ctx, "expected 'in_features=N'") end
      width = parse_int(ctx, keyval(ctx, f, 1, "in_features", "model"), "in_features", "model",
                        1, MAX_WIDTH)
    elseif #f == 1 and f[1] == "end" then
      ended = true
    else
      if #layers == MAX_LAYERS then bad(ctx, "more than %d layers", MAX_LAYERS) end
      local m
      m, width = parse_layer(ctx, f, tensors, width)
      layers[#layers + 1] = m
    end
  end
  if not ended then
    ctx.line = 0
    bad(ctx, "the model description is truncated (no 'end' line)")
  end
  return nn().Sequential(table.unpack(layers))
end

--- Read a file written by save_model: the model as an nn.Sequential in eval mode (nested
--- Sequentials come back flat), and the file's metadata table; or nil and a message when
--- the file cannot be read or does not describe a model.
function M.load_model (path)
  if type(path) ~= "string" then
    error(("load_model: expected a file name, got %s"):format(type(path)), 2)
  end
  local tensors, meta = dm.load(path)
  if not tensors then return nil, meta end
  local ctx = { path = path, line = 0 }
  local text = meta[KEY]
  local ok, model = pcall(function ()
    if text == nil then bad(ctx, "no '%s' metadata (write the file with nn.save_model)", KEY) end
    local _ <close> = dm.no_grad()
    return build(ctx, text, tensors)
  end)
  if not ok then
    if getmetatable(model) == Bad then return nil, model.msg end
    error(model, 0)
  end
  return model:eval(), meta
end

return M
