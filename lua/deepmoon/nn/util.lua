--- deepmoon.nn.util: what the nn files share -- constructor arguments (PyTorch's positional
-- order or one trailing options table) and values written the way Python's repr writes them,
-- so that tostring(model) reads like PyTorch's print(model).

local check = require "deepmoon.check"

local util = {}

local function is_options (v)
  -- a plain Lua table; modules and tensors have metatables with __name
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt == nil or mt.__name == nil
end
util.is_options = is_options

--- Parse `...` as positional arguments named by `positional`, then an optional trailing
--- options table whose keys may be any name in `positional` or `extra`.  Returns a table
--- name -> value (nil where not given).  Errors name `fname` and point `level` frames up.
function util.args (fname, level, positional, extra, ...)
  local n = select("#", ...)
  while n > 0 and select(n, ...) == nil do n = n - 1 end
  local opts
  if n > 0 and is_options((select(n, ...))) then
    opts = select(n, ...)
    n = n - 1
  end
  if n > #positional then
    error(("%s: expected at most %d positional arguments, got %d"):format(fname, #positional, n),
          level + 1)
  end
  local out = {}
  for i = 1, n do out[positional[i]] = (select(i, ...)) end
  if opts then
    local spec = {}          -- any value: the caller checks them, named as arguments
    for _, k in ipairs(positional) do spec[k] = true end
    for _, k in ipairs(extra or {}) do spec[k] = true end
    check.options(fname, opts, spec, level + 1)
    for k, v in pairs(opts) do
      if out[k] ~= nil then
        error(("%s: '%s' given both as an argument and as an option"):format(fname, k), level + 1)
      end
      out[k] = v
    end
  end
  return out
end

--- Python's repr of a float: the shortest decimal that reads back as the same double, in
--- fixed notation for exponents -4 .. 15, else scientific with a two-digit exponent.
function util.pyfloat (x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
  if x == 0 then return (1 / x < 0) and "-0.0" or "0.0" end
  local s
  for p = 0, 16 do
    s = ("%." .. p .. "e"):format(x)
    if tonumber(s) == x then break end
  end
  local sign, int, frac, exp = s:match("^(%-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  exp = tonumber(exp)
  if exp < -4 or exp >= 16 then
    local m = digits:sub(1, 1)
    if #digits > 1 then m = m .. "." .. digits:sub(2) end
    return ("%s%se%s%02d"):format(sign, m, exp < 0 and "-" or "+", math.abs(exp))
  end
  if exp < 0 then
    return sign .. "0." .. ("0"):rep(-exp - 1) .. digits
  end
  if #digits <= exp + 1 then
    return sign .. digits .. ("0"):rep(exp + 1 - #digits) .. ".0"
  end
  return sign .. digits:sub(1, exp + 1) .. "." .. digits:sub(exp + 2)
end

--- A value as Python would print it in an extra_repr: floats through pyfloat, booleans as
--- True/False, nil and false-as-None as None, strings quoted.
function util.pyrepr (v, as_float)
  if v == nil then return "None" end
  if type(v) == "boolean" then return v and "True" or "False" end
  if type(v) == "string" then return "'" .. v .. "'" end
  if type(v) == "number" then
    if as_float or math.type(v) == "float" then return util.pyfloat(v + 0.0) end
    return tostring(v)
  end
  return tostring(v)
end

--- v itself when it is a positive integer (with whole_float, a float with an integer value is
--- taken as that integer); otherwise an error "fname: name must be a positive integer, got v"
--- pointing `level` frames up.
function util.pos_int (fname, name, v, level, whole_float)
  if whole_float and math.type(v) == "float" and v == math.floor(v) then
    v = math.tointeger(v)
  end
  if math.type(v) ~= "integer" or v < 1 then
    error(("%s: %s must be a positive integer, got %s"):format(fname, name,
          type(v) == "number" and tostring(v) or check.typename(v)), level + 1)
  end
  return v
end

return util
