--- deepmoon.format: tensor printing that matches PyTorch 1.13 character for character.
--
-- The rules are those of torch/_tensor_str.py. In short:
--   * one formatter is chosen for the whole tensor from its nonzero finite values (or, when the
--     tensor is summarized, from the printed values only): integer mode (`1.`, `-3.`) when all
--     are integral, scientific (`1.0000e+08`) when max/min > 1000, max > 1e8 or (for non-integral
--     values) min < 1e-4, fixed (`0.1235`) otherwise; every element is left-padded to the widest;
--   * PyTorch 1.13 has no common scale factor: each element is printed in full;
--   * numel > threshold prints only `edgeitems` items at each end of every long dimension;
--   * rows wrap at `linewidth`; nested blocks are separated by dim - 1 newlines;
--   * integer tensors (int64, uint8) print each element as Python's str() of it, bool ones as
--     True/False, right-aligned to the widest (no precision, no scientific mode);
--   * suffixes (`size=(0, 3)` for an empty tensor that is not 1-D, `dtype=deepmoon.float64`,
--     then `requires_grad=True` or `grad_fn=<...>`) go inside the parentheses, on a new line
--     when the last line would pass `linewidth`. The dtype is shown when it is not the default
--     dtype and not int64 or bool; an empty tensor shows it whenever it is not the default.
-- Values reach this module as Lua numbers that are exactly the float32 values, and C's printf
-- rounds doubles exactly as Python's format() does, so `%.4f` / `%.4e` give PyTorch's digits.
-- Only nan and the infinities need care: Python prints `nan`, `inf`, `-inf` whatever the sign
-- bit and the format, where glibc may print `-nan`.

local check = require "deepmoon.check"

local M = {}

local huge = math.huge
local floor, ceil = math.floor, math.ceil
local concat, sfmt, srep = table.concat, string.format, string.rep
local type, tostring, pairs, error = type, tostring, pairs, error
local math_type = math.type

local DEFAULTS = { precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 }

local PROFILES = {
  default = { precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 },
  short = { precision = 2, threshold = 1000, edgeitems = 2, linewidth = 80 },
  full = { precision = 4, threshold = huge, edgeitems = 3, linewidth = 80 },
}

-- the module-level print options, like torch's PRINT_OPTS; sci_mode nil means "automatic"
local po = {
  precision = DEFAULTS.precision, threshold = DEFAULTS.threshold,
  edgeitems = DEFAULTS.edgeitems, linewidth = DEFAULTS.linewidth, sci_mode = nil,
}

-- [2 x 3], the one way shapes print in deepmoon messages
-- more sizes than any tensor has (DM_MAX_DIMS is 8): a list this long is not a shape
local MAX_SIZES = 64

local function shape_str (sizes)
  if type(sizes) ~= "table" then
    error(("shape_str: expected a list of sizes, got %s"):format(type(sizes)), 2)
  end
  local n = #sizes
  if math_type(n) ~= "integer" or n < 0 or n > MAX_SIZES then
    error(("shape_str: a shape has 0 to %d sizes, got a list of length %s"):format(MAX_SIZES,
          tostring(n)), 2)
  end
  local parts = {}
  for i = 1, n do parts[i] = tostring(sizes[i]) end
  return "[" .. concat(parts, " x ") .. "]"
end

-- Python's str(tuple(shape)): (0, 3), (0,)
local function tuple_str (sizes)
  local parts = {}
  for i = 1, #sizes do parts[i] = tostring(sizes[i]) end
  if #sizes == 1 then return "(" .. parts[1] .. ",)" end
  return "(" .. concat(parts, ", ") .. ")"
end

local function is_int (x)
  return math_type(x) == "integer" or (math_type(x) == "float" and x == floor(x) and x == x
    and x ~= huge and x ~= -huge)
end

-- (the values are checked below, with their ranges)
local PRINTOPTION_NAMES = {
  precision = true, threshold = true, edgeitems = true, linewidth = true, sci_mode = true,
  profile = true,
}

--- Set the print options, as torch.set_printoptions does: fields precision, threshold,
-- edgeitems, linewidth, sci_mode (true, false or nil for automatic) and profile ("default",
-- "short" or "full", applied before the other fields). As in PyTorch, sci_mode is reset to
-- automatic unless given.
function M.set_printoptions (t)
  t = check.options("format.set_printoptions", t, PRINTOPTION_NAMES)
  local function check_value (name, ok, what)
    if t[name] ~= nil and not ok(t[name]) then
      error(sfmt("format.set_printoptions: %s must be %s, got %s", name, what, tostring(t[name])), 2)
    end
  end
  check_value("precision", function (v) return is_int(v) and v >= 0 and v <= 99 end,
              "an integer in 0..99")
  check_value("threshold", function (v) return type(v) == "number" and v == v and v >= 0 end,
              "a non-negative number")
  check_value("edgeitems", function (v) return is_int(v) and v >= 1 end, "a positive integer")
  check_value("linewidth", function (v) return is_int(v) and v >= 1 end, "a positive integer")
  check_value("sci_mode", function (v) return type(v) == "boolean" end, "a boolean or nil")
  local profile = t.profile
  if profile ~= nil and not PROFILES[profile] then
    error("format.set_printoptions: unknown profile '" .. tostring(profile) ..
          "' (expected default, short or full)", 2)
  end
  if profile then
    for k, v in pairs(PROFILES[profile]) do po[k] = v end
  end
  for _, k in ipairs{ "precision", "threshold", "edgeitems", "linewidth" } do
    local v = t[k]
    if v ~= nil then
      if k ~= "threshold" then v = floor(v) end
      po[k] = v
    end
  end
  po.sci_mode = t.sci_mode
end

--- The current print options, as a fresh table.
function M.get_printoptions ()
  return {
    precision = po.precision, threshold = po.threshold, edgeitems = po.edgeitems,
    linewidth = po.linewidth, sci_mode = po.sci_mode,
  }
end

local function is_finite (v) return v == v and v ~= huge and v ~= -huge end

-- Python's format() of a float with a fixed or exponent spec: printf, except for non-finites
local function pyfmt (spec, v)
  if v ~= v then return "nan" end
  if v == huge then return "inf" end
  if v == -huge then return "-inf" end
  return sfmt(spec, v)
end

-- Pick the formatter for a list of values, the way _Formatter.__init__ does. The widths come
-- from the mode chosen from the data, before a forced sci_mode overrides it (PyTorch's order,
-- which makes e.g. sci_mode=true on integral values pad to the integer widths).
local function make_formatter (vals, n, opt)
  local fixed = "%." .. opt.precision .. "f"
  local sci = "%." .. opt.precision .. "e"
  local f = { int_mode = true, sci_mode = false, max_width = 1, fixed = fixed, sci = sci }

  local nz, count = {}, 0
  local vmin, vmax = huge, 0.0
  for i = 1, n do
    local v = vals[i]
    if v ~= 0 and is_finite(v) then
      count = count + 1
      nz[count] = v
      local a = v < 0 and -v or v
      if a < vmin then vmin = a end
      if a > vmax then vmax = a end
    end
  end
  -- nothing to measure: PyTorch returns before even looking at a forced sci_mode
  if count == 0 then return f end

  for i = 1, count do
    local v = nz[i]
    if v ~= ceil(v) then f.int_mode = false; break end
  end

  local width = 1
  local ratio_big = vmax / vmin > 1000.0 or vmax > 1.0e8
  if (f.int_mode and ratio_big) or (not f.int_mode and (ratio_big or vmin < 1.0e-4)) then
    f.sci_mode = true
    for i = 1, count do
      local w = #sfmt(sci, nz[i])
      if w > width then width = w end
    end
  elseif f.int_mode then
    for i = 1, count do
      local w = #sfmt("%.0f", nz[i]) + 1 -- the trailing '.'
      if w > width then width = w end
    end
  else
    for i = 1, count do
      local w = #sfmt(fixed, nz[i])
      if w > width then width = w end
    end
  end
  f.max_width = width
  if opt.sci_mode ~= nil then f.sci_mode = opt.sci_mode end
  return f
end

-- _Formatter.format: one element, left-padded to the common width
local function format_value (f, v)
  local s
  if f.sci_mode then
    s = pyfmt(f.sci, v)
  elseif f.int_mode then
    s = pyfmt("%.0f", v)
    if is_finite(v) then s = s .. "." end
  else
    s = pyfmt(f.fixed, v)
  end
  local pad = f.max_width - #s
  if pad > 0 then s = srep(" ", pad) .. s end
  return s
end

local FLOATING = { float32 = true, float64 = true }
local DTYPES = { float32 = true, float64 = true, int64 = true, uint8 = true, bool = true }

-- The non-floating formatter: Python's str() of each element (True/False for bool),
-- left-padded to the widest of them
local function int_strings (vals, n, is_bool)
  local strs, width = {}, 1
  for i = 1, n do
    local v, s = vals[i], nil
    if is_bool then
      if type(v) == "number" then v = v ~= 0 end
      s = v and "True" or "False"
    else
      local iv = math.tointeger(v)
      s = iv and tostring(iv) or sfmt("%.0f", v)
    end
    strs[i] = s
    if #s > width then width = #s end
  end
  for i = 1, n do
    local pad = width - #strs[i]
    if pad > 0 then strs[i] = srep(" ", pad) .. strs[i] end
  end
  return { max_width = width }, strs
end

-- The indices printed along one dimension of size n; false stands for the "..." row/column.
local function printed_indices (n, summarize, edge)
  local idx = {}
  if summarize and n > 2 * edge then
    for i = 0, edge - 1 do idx[#idx + 1] = i end
    idx[#idx + 1] = false
    for i = n - edge, n - 1 do idx[#idx + 1] = i end
  else
    for i = 0, n - 1 do idx[i + 1] = i end
  end
  return idx
end

-- PyTorch's _add_suffixes: ", suffix" unless that would run the last line past linewidth.
-- A dtype suffix is measured as PyTorch's "dtype=torch.float64", three characters shorter
-- than "dtype=deepmoon.float64", so that the lines break where PyTorch's break.
local DTYPE_PREFIX = "dtype=deepmoon."
local function suffix_len (suffix)
  if suffix:sub(1, #DTYPE_PREFIX) == DTYPE_PREFIX then
    return #suffix - (#"deepmoon" - #"torch")
  end
  return #suffix
end

local function add_suffixes (s, suffixes, indent, linewidth)
  local out = { s }
  local last_nl = s:match(".*()\n") -- 1-based position of the last newline
  local last_line_len = #s - (last_nl and last_nl - 1 or -1) + 1
  for i = 1, #suffixes do
    local suffix = suffixes[i]
    local len = suffix_len(suffix)
    if last_line_len + len + 2 > linewidth then
      out[#out + 1] = ",\n" .. srep(" ", indent) .. suffix
      last_line_len = indent + len
    else
      out[#out + 1] = ", " .. suffix
      last_line_len = last_line_len + len + 2
    end
  end
  out[#out + 1] = ")"
  return concat(out)
end

-- Everything after the arguments were checked. Returns the string, or nil and a message when
-- the getter misbehaves.
local function render (fname, sizes, numel, get, prefix, suffix_in, dtype, default_dtype)
  local opt = po
  local ndim = #sizes
  local indent = #prefix
  local suffixes = {}
  local floating = FLOATING[dtype]
  local is_bool = dtype == "bool"

  local body
  if numel == 0 then
    body = "[]"
    -- PyTorch shows the shape of an empty tensor unless it is 1-D, and its dtype whenever it
    -- is not the default: there are no elements to tell int64 from float32
    if ndim ~= 1 then suffixes[1] = "size=" .. tuple_str(sizes) end
    if dtype ~= default_dtype then suffixes[#suffixes + 1] = "dtype=deepmoon." .. dtype end
  else
    if dtype ~= default_dtype and dtype ~= "int64" and dtype ~= "bool" then
      suffixes[1] = "dtype=deepmoon." .. dtype
    end
    local summarize = numel > opt.threshold
    local edge = opt.edgeitems

    -- row-major strides and the printed indices of every dimension
    local strides, idx = {}, {}
    local s = 1
    for d = ndim, 1, -1 do
      strides[d] = s
      s = s * sizes[d]
      idx[d] = printed_indices(sizes[d], summarize, edge)
    end

    -- fetch the printed values in print order; the formatter is chosen from these alone,
    -- as PyTorch does with get_summarized_data
    local vals, n = {}, 0
    local function fetch (d, base)
      if d > ndim then
        local v = get(base)
        if type(v) ~= "number" and not (is_bool and type(v) == "boolean") then
          return sfmt("%s: get(%d) returned %s, expected a %s", fname, base,
                      v == nil and "nil" or "a " .. type(v), is_bool and "boolean" or "number")
        end
        n = n + 1
        if floating then v = v * 1.0 end -- a float, keeping the sign of -0.0
        vals[n] = v
        return nil
      end
      local id, st = idx[d], strides[d]
      for k = 1, #id do
        if id[k] then
          local err = fetch(d + 1, base + id[k] * st)
          if err then return err end
        end
      end
      return nil
    end
    local err = fetch(1, 0)
    if err then return nil, err end

    local f, strs
    if floating then
      f = make_formatter(vals, n, opt)
      strs = {}
      for i = 1, n do strs[i] = format_value(f, vals[i]) end
    else
      f, strs = int_strings(vals, n, is_bool)
    end

    if ndim == 0 then
      body = strs[1]
    else
      local pos = 0
      local linewidth = opt.linewidth
      -- _vector_str / _tensor_str_with_formatter, consuming strs in print order
      local function build (d, ind)
        local id = idx[d]
        if d == ndim then
          local items = {}
          for k = 1, #id do
            if id[k] then
              pos = pos + 1
              items[k] = strs[pos]
            else
              items[k] = " ..."
            end
          end
          local per_line = floor((linewidth - ind) / (f.max_width + 2))
          if per_line < 1 then per_line = 1 end
          local lines = {}
          for i = 1, #items, per_line do
            lines[#lines + 1] = concat(items, ", ", i, math.min(i + per_line - 1, #items))
          end
          return "[" .. concat(lines, ",\n" .. srep(" ", ind + 1)) .. "]"
        end
        local slices = {}
        for k = 1, #id do
          slices[k] = id[k] and build(d + 1, ind + 1) or "..."
        end
        local dim = ndim - d + 1
        return "[" .. concat(slices, "," .. srep("\n", dim - 1) .. srep(" ", ind + 1)) .. "]"
      end
      body = build(1, indent)
    end
  end

  for i = 1, #suffix_in do suffixes[#suffixes + 1] = suffix_in[i] end
  return add_suffixes(prefix .. body, suffixes, indent, opt.linewidth)
end

-- Argument checks shared by the two entry points; errors point at the caller's caller.
local function check_sizes (fname, sizes)
  if type(sizes) ~= "table" then
    error(sfmt("%s: sizes must be a table, got %s", fname, type(sizes)), 3)
  end
  local dims, numel = {}, 1
  local nd = #sizes
  if math.type(nd) ~= "integer" or nd < 0 or nd > 64 then   -- a __len that lies
    error(sfmt("%s: sizes has %s dimensions", fname, tostring(nd)), 3)
  end
  for d = 1, nd do
    local n = sizes[d]
    n = type(n) == "number" and math.tointeger(n) or nil
    if not n or n < 0 then
      local shown = {}
      for i = 1, #sizes do shown[i] = tostring(sizes[i]) end
      error(sfmt("%s: bad size %s (dimension %d must be a non-negative integer)", fname,
                 shape_str(shown), d), 3)
    end
    dims[d] = n -- 3.0 becomes 3, so shapes print as [3]
    numel = numel * n
  end
  return dims, numel
end

-- a dtype option: a name ("int64") or a dtype object (dm.int64, whose name field is that)
local function check_dtype (fname, key, v)
  if v == nil then return "float32" end
  local name = v
  if type(v) ~= "string" then
    local ok, n = pcall(function () return v.name end)
    name = ok and n or nil
  end
  if type(name) ~= "string" or not DTYPES[name] then
    error(sfmt("%s: %s must be float32, float64, int64, uint8 or bool, got %s", fname, key,
               tostring(v)), 4)
  end
  return name
end

local OPTIONS = { prefix = "string", suffix = true, dtype = true, default_dtype = true }

local function check_opts (fname, opts)
  if opts == nil then return "tensor(", {}, "float32", "float32" end
  check.options(fname, opts, OPTIONS, 3)
  local prefix = opts.prefix or "tensor("
  local suffix = opts.suffix or {}
  if type(suffix) == "string" then suffix = { suffix } end
  if type(suffix) ~= "table" then
    error(sfmt("%s: suffix must be a list of strings, got %s", fname, type(suffix)), 3)
  end
  for i = 1, #suffix do
    if type(suffix[i]) ~= "string" then
      error(sfmt("%s: suffix #%d must be a string, got %s", fname, i, type(suffix[i])), 3)
    end
  end
  return prefix, suffix, check_dtype(fname, "dtype", opts.dtype),
    check_dtype(fname, "default_dtype", opts.default_dtype)
end

--- Print a tensor whose elements are fetched on demand: get(k) returns the element at the
-- 0-based row-major flat index k. Only the printed elements are fetched, so a summarized huge
-- tensor costs a few dozen calls. sizes is a list of dims ({} for a 0-dim tensor); opts as for
-- format.tensor.
function M.tensor_from_getter (sizes, get, opts)
  local fname = "format.tensor_from_getter"
  local numel
  sizes, numel = check_sizes(fname, sizes)
  if type(get) ~= "function" then
    error(sfmt("%s: get must be a function, got %s", fname, type(get)), 2)
  end
  local prefix, suffix, dtype, default_dtype = check_opts(fname, opts)
  local s, err = render(fname, sizes, numel, get, prefix, suffix, dtype, default_dtype)
  if not s then error(err, 2) end
  return s
end

--- Print a tensor as PyTorch's str() would. sizes: list of dims ({} for 0-dim); values: the
-- elements in row-major order (numbers; booleans or numbers for bool); opts (optional):
-- prefix (default "tensor("), suffix, a list of strings such as "requires_grad=True" or
-- "grad_fn=<MulBackward0>", dtype and default_dtype (names or dtype objects, both float32
-- unless given).
function M.tensor (sizes, values, opts)
  local fname = "format.tensor"
  local numel
  sizes, numel = check_sizes(fname, sizes)
  if type(values) ~= "table" then
    error(sfmt("%s: values must be a table, got %s", fname, type(values)), 2)
  end
  if #values ~= numel then
    error(sfmt("%s: %s values for size %s", fname, tostring(#values), shape_str(sizes)), 2)
  end
  local prefix, suffix, dtype, default_dtype = check_opts(fname, opts)
  for i = 1, numel do
    local ty = type(values[i])
    if ty ~= "number" and not (dtype == "bool" and ty == "boolean") then
      error(sfmt("%s: value #%d is a %s, expected a %s", fname, i, ty,
                 dtype == "bool" and "boolean" or "number"), 2)
    end
  end
  local s, err = render(fname, sizes, numel, function (k) return values[k + 1] end,
                        prefix, suffix, dtype, default_dtype)
  if not s then error(err, 2) end
  return s
end

M.shape_str = shape_str

return M
