--- deepmoon.reduce_extra: PyTorch's other reductions and comparisons (nansum, nanmean,
--- count_nonzero, isclose, allclose, equal, aminmax, std_mean, var_mean, median, nanmedian,
--- quantile, nanquantile, cummax, cummin, logcumsumexp, msort), written as compositions of
--- the existing tensor ops (autograd works through them), installed on dm and on Tensor by
--- require "deepmoon".  Dims are 1-based (negative from the end), returned positions 1-based.
--- cummax, cummin and logcumsumexp scan the dim in Lua (one step of tensor ops per position).

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local is_tensor, typename = check.is_tensor, check.typename
local type, error, rawget, rawlen, next, getmetatable = type, error, rawget, rawlen, next, getmetatable
local math_type, tointeger, floor = math.type, math.tointeger, math.floor

local M = {}

-- ---- argument helpers ----------------------------------------------------------------

local DTYPES = {}
for _, n in ipairs({ "float32", "float64", "int64", "uint8", "bool" }) do
  local d = rawget(core, n)
  if d ~= nil then DTYPES[d] = n end
end

local FLOAT = {}
if rawget(core, "float32") then FLOAT[core.float32] = true end
if rawget(core, "float64") then FLOAT[core.float64] = true end

local shape_str = require("deepmoon.format").shape_str

local function need_tensor (fn, name, v, lv)
  if not is_tensor(v) then
    error(("%s: %s must be a Tensor, got %s"):format(fn, name, typename(v)), lv or 3)
  end
  if v:is_released() then
    error(("%s: %s is a released tensor"):format(fn, name), lv or 3)
  end
end

-- a plain table: no metatable, so no __index/__len/__pairs to run
local function plain (v)
  return type(v) == "table" and not is_tensor(v) and getmetatable(v) == nil
end

-- an options table: plain, and not a list (a list of dims)
local function is_opts (v) return plain(v) and rawget(v, 1) == nil end

local function is_int (v)
  return math_type(v) == "integer" or (type(v) == "number" and tointeger(v) ~= nil)
end

local function what (v)
  if type(v) == "number" then return tostring(v) end
  return typename(v)
end

-- Read self's arguments after it: positionals named by `names` (in order), then an optional
-- options table (the last argument) whose keys are names or extra option names.  Returns a
-- table name -> value.  level: error()'s level of the public function's caller.
-- lv: error()'s level counted from parse's caller (2: the public function's caller)
local function parse (lv, fn, names, extra, n, ...)
  lv = lv + 1
  local args = { ... }
  local opts
  if n >= 1 and is_opts(args[n]) then opts = args[n]; n = n - 1 end
  if n > #names then
    error(("%s: too many arguments (%d given, at most %d before an options table)")
          :format(fn, n, #names), lv)
  end
  local out = {}
  for i = 1, n do out[names[i]] = args[i] end
  if opts then
    local known = {}
    for i = 1, #names do known[names[i]] = true end
    if extra then for i = 1, #extra do known[extra[i]] = true end end
    local k, val = next(opts)
    local seen = 0
    while k ~= nil do
      seen = seen + 1
      if seen > 64 then error(("%s: too many options"):format(fn), lv) end
      if type(k) ~= "string" then
        error(("%s: option names must be strings, got %s"):format(fn, type(k)), lv)
      end
      if not known[k] then error(("%s: unknown option '%s'"):format(fn, k), lv) end
      if out[k] ~= nil then error(("%s: %s given twice"):format(fn, k), lv) end
      out[k] = val
      k, val = next(opts, k)
    end
  end
  return out
end

-- one dim (1-based, negative from the end) -> 1-based positive; a 0-dim tensor takes 1/-1
local function norm_dim (fn, d, nd, level)
  if not is_int(d) then
    error(("%s: dim must be an integer, got %s"):format(fn, what(d)), level)
  end
  d = tointeger(d)
  local n = nd == 0 and 1 or nd
  if d == 0 then error(("%s: dim 0 is invalid (dims are 1-based)"):format(fn), level) end
  if d > n or d < -n then
    error(("%s: dim %d out of range for a tensor of %d dimensions (expected 1 to %d, or %d to -1)")
          :format(fn, d, nd, n, -n), level)
  end
  return d > 0 and d or d + n + 1
end

-- dim: nil, an integer, or (multi) a list of them -> nil or a list of 1-based dims
local function norm_dims (fn, v, nd, multi, level)
  level = level or 3
  if v == nil then return nil end
  if type(v) == "number" then return { norm_dim(fn, v, nd, level + 1) } end
  if not multi then
    error(("%s: dim must be an integer, got %s"):format(fn, what(v)), level)
  end
  if not plain(v) then
    error(("%s: dim must be an integer or a list of integers, got %s"):format(fn, what(v)), level)
  end
  local n = rawlen(v)
  if n > 64 then error(("%s: %d dims given"):format(fn, n), level) end
  local count = 0
  for _ in next, v do count = count + 1; if count > n then break end end
  if count ~= n then error(("%s: a list of dims holds integers only"):format(fn), level) end
  local out, used = {}, {}
  for i = 1, n do
    local d = norm_dim(fn, rawget(v, i), nd, level + 1)
    if used[d] then error(("%s: dim %d appears more than once"):format(fn, d), level) end
    used[d] = true
    out[i] = d
  end
  return out
end

local function opt_bool (fn, name, v, default, lv)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(("%s: %s must be a boolean, got %s"):format(fn, name, what(v)), lv or 3)
  end
  return v
end

local function opt_dtype (fn, v)
  if v == nil then return nil end
  if DTYPES[v] == nil then
    error(("%s: dtype must be a deepmoon dtype (dm.float32, ...), got %s"):format(fn, what(v)), 3)
  end
  return v
end

local function opt_number (fn, name, v, default, lv)
  if v == nil then return default end
  if type(v) ~= "number" then
    error(("%s: %s must be a number, got %s"):format(fn, name, what(v)), lv or 3)
  end
  return v
end

local function dtname (t) return DTYPES[t.dtype] or tostring(t.dtype) end

local function is_float (t) return FLOAT[t.dtype] == true end

local function need_float (fn, t)
  if not is_float(t) then
    error(("%s: expected a floating point tensor, got %s (use :float())"):format(fn, dtname(t)), 3)
  end
end

-- options for sum/mean/amin: dims as a list, keepdim, dtype
local function red_opts (dims, keepdim, dtype)
  local o = { keepdim = keepdim }
  if dims then o.dim = dims end
  if dtype then o.dtype = dtype end
  return o
end

-- the broadcast shape of two shapes, or nil
local function broadcast (a, b)
  local na, nb = #a, #b
  local n = na > nb and na or nb
  local out = {}
  for i = 1, n do
    local x = a[na - n + i] or 1
    local y = b[nb - n + i] or 1
    if x == y or y == 1 then out[i] = x
    elseif x == 1 then out[i] = y
    else return nil end
  end
  return out
end

-- ---- group 1 -------------------------------------------------------------------------

--- nansum(t, dim, keepdim, dtype): the sum treating NaN as zero, of all elements or over
--- dim(s) (an integer or a list); also `{dim =, keepdim =, dtype =}` (torch.nansum).
local function nansum (t, ...)
  need_tensor("nansum", "self", t)
  local a = parse(2, "nansum", { "dim", "keepdim", "dtype" }, nil, select("#", ...), ...)
  local dims = norm_dims("nansum", a.dim, t:dim(), true)
  local keepdim = opt_bool("nansum", "keepdim", a.keepdim, false)
  local dtype = opt_dtype("nansum", a.dtype)
  local x = t
  if is_float(t) then x = core.where(t:isnan(), 0, t) end
  return x:sum(red_opts(dims, keepdim, dtype))
end

--- nanmean(t, dim, keepdim): the mean of the non-NaN elements, of all elements or over
--- dim(s); NaN where a slice holds only NaN; floating inputs only; also
--- `{dim =, keepdim =, dtype =}` (torch.nanmean).
local function nanmean (t, ...)
  need_tensor("nanmean", "self", t)
  local a = parse(2, "nanmean", { "dim", "keepdim" }, { "dtype" }, select("#", ...), ...)
  need_float("nanmean", t)
  local dims = norm_dims("nanmean", a.dim, t:dim(), true)
  local keepdim = opt_bool("nanmean", "keepdim", a.keepdim, false)
  local dtype = opt_dtype("nanmean", a.dtype)
  if dtype and not FLOAT[dtype] then
    error(("nanmean: dtype must be a floating point dtype, got %s"):format(DTYPES[dtype]), 2)
  end
  local o = red_opts(dims, keepdim)
  local count = t:isnan():logical_not():sum(o)
  local s = core.where(t:isnan(), 0, t):sum(red_opts(dims, keepdim, dtype))
  return s / count
end

--- count_nonzero(t, dim): how many elements are nonzero (NaN counts), of all elements or
--- over dim(s) (an integer or a list), int64; also `{dim =}` (torch.count_nonzero).
local function count_nonzero (t, ...)
  need_tensor("count_nonzero", "self", t)
  local a = parse(2, "count_nonzero", { "dim" }, nil, select("#", ...), ...)
  local dims = norm_dims("count_nonzero", a.dim, t:dim(), true)
  return t:ne(0):sum(red_opts(dims, false))
end

local function isclose_args (fn, t, n, ...)
  need_tensor(fn, "self", t, 4)
  local a = parse(3, fn, { "other", "rtol", "atol", "equal_nan" }, nil, n, ...)
  local other = a.other
  need_tensor(fn, "other", other, 4)
  local rtol = opt_number(fn, "rtol", a.rtol, 1e-5, 4)
  local atol = opt_number(fn, "atol", a.atol, 1e-8, 4)
  local equal_nan = opt_bool(fn, "equal_nan", a.equal_nan, false, 4)
  if not (rtol >= 0) then
    error(("%s: rtol must be greater than or equal to zero, got %s"):format(fn, tostring(rtol)), 3)
  end
  if not (atol >= 0) then
    error(("%s: atol must be greater than or equal to zero, got %s"):format(fn, tostring(atol)), 3)
  end
  if t.dtype ~= other.dtype then
    error(("%s: self is %s but other is %s (the dtypes must match)")
          :format(fn, dtname(t), dtname(other)), 3)
  end
  if not broadcast(t:size(), other:size()) then
    error(("%s: shapes %s and %s do not broadcast"):format(fn, shape_str(t:size()),
          shape_str(other:size())), 3)
  end
  return other, rtol, atol, equal_nan
end

local function isclose_impl (t, other, rtol, atol, equal_nan)
  local close = t:eq(other)
  if equal_nan and is_float(t) then
    close = close:logical_or(t:isnan():logical_and(other:isnan()))
  end
  if rtol == 0 and atol == 0 then return close end
  local cs, co = t, other
  if not is_float(t) then
    local dt = core.get_default_dtype()
    cs, co = t:to(dt), other:to(dt)
  end
  local allowed = (co * rtol):abs() + atol
  local actual = (cs - co):abs()
  return close:logical_or(actual:isfinite():logical_and(actual:le(allowed)))
end

--- isclose(t, other, rtol, atol, equal_nan): elementwise |t - other| <= atol + rtol * |other|
--- (bool, broadcast; equal infinities are close; NaN only with equal_nan); rtol = 1e-5,
--- atol = 1e-8, equal_nan = false; also `{other =, rtol =, atol =, equal_nan =}`.
local function isclose (t, ...)
  local other, rtol, atol, equal_nan = isclose_args("isclose", t, select("#", ...), ...)
  return isclose_impl(t, other, rtol, atol, equal_nan)
end

--- allclose(t, other, rtol, atol, equal_nan): is every element of isclose true? (a Lua
--- boolean; torch.allclose).
local function allclose (t, ...)
  local other, rtol, atol, equal_nan = isclose_args("allclose", t, select("#", ...), ...)
  return isclose_impl(t, other, rtol, atol, equal_nan):all():item() == true
end

--- equal(t, other): do t and other have the same shape and the same values? (a Lua boolean;
--- NaN equals nothing; dtypes may differ, as torch.equal).
local function equal (t, other, ...)
  need_tensor("equal", "self", t)
  if select("#", ...) > 0 then error("equal: too many arguments (expected equal(self, other))", 2) end
  need_tensor("equal", "other", other)
  local a, b = t:size(), other:size()
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return t:eq(other):all():item() == true
end

--- aminmax(t, {dim =, keepdim =}): the smallest and the largest values, of all elements or
--- over one dim (also positional aminmax(dim, keepdim)); NaN propagates (torch.aminmax).
local function aminmax (t, ...)
  need_tensor("aminmax", "self", t)
  local a = parse(2, "aminmax", { "dim", "keepdim" }, nil, select("#", ...), ...)
  local dims = norm_dims("aminmax", a.dim, t:dim(), false)
  local keepdim = opt_bool("aminmax", "keepdim", a.keepdim, false)
  local size = t:size()
  local empty = dims and #size > 0 and size[dims[1]] == 0 or (not dims and t:numel() == 0)
  if empty then
    error(("aminmax: cannot compute aminmax over an empty dimension (the operation has no identity; input of size %s)")
          :format(shape_str(size)), 2)
  end
  local o = red_opts(dims, keepdim)
  if not dims then
    if keepdim then
      local all = {}
      for i = 1, #size do all[i] = i end
      if #all > 0 then o.dim = all end
    end
  end
  return t:amin(o), t:amax(o)
end

-- ---- group 2 -------------------------------------------------------------------------

-- std_mean/var_mean: var's arguments, dim, unbiased, keepdim, {dim, keepdim, correction, unbiased}
local function moments (fn, op, t, n, ...)
  need_tensor(fn, "self", t, 4)
  local a = parse(3, fn, { "dim", "unbiased", "keepdim" }, { "correction" }, n, ...)
  local dims = norm_dims(fn, a.dim, t:dim(), false, 4)
  local keepdim = opt_bool(fn, "keepdim", a.keepdim, false, 4)
  local unbiased = opt_bool(fn, "unbiased", a.unbiased, nil, 4)
  local correction = a.correction
  if correction ~= nil then
    if not is_int(correction) then
      error(("%s: correction must be an integer, got %s"):format(fn, what(correction)), 3)
    end
    if unbiased ~= nil then
      error(("%s: give unbiased or correction, not both"):format(fn), 3)
    end
    correction = tointeger(correction)
  elseif unbiased ~= nil then
    correction = unbiased and 1 or 0
  else
    correction = 1
  end
  if not is_float(t) then
    error(("%s: expected a floating point tensor, got %s (use :float())"):format(fn, dtname(t)), 3)
  end
  local o = red_opts(dims and dims[1], keepdim)
  o.correction = correction
  local first = op == "std" and t:std(o) or t:var(o)
  return first, t:mean(red_opts(dims, keepdim))
end

--- std_mean(t, dim, unbiased, keepdim): the standard deviation and the mean, over all
--- elements or one dim, with std's arguments (also `{dim =, keepdim =, correction = 1,
--- unbiased =}`); returns std, mean (torch.std_mean).
local function std_mean (t, ...)
  local s, m = moments("std_mean", "std", t, select("#", ...), ...)
  return s, m
end

--- var_mean(t, dim, unbiased, keepdim): the variance and the mean, over all elements or one
--- dim, with var's arguments (also `{dim =, keepdim =, correction = 1, unbiased =}`); returns
--- var, mean (torch.var_mean).
local function var_mean (t, ...)
  local v, m = moments("var_mean", "var", t, select("#", ...), ...)
  return v, m
end

-- the median of all elements: a 0-dim tensor; gradient shared evenly among the elements
-- equal to it (NaN: among the NaNs), as PyTorch's
local function median_all (fn, t, skip_nan)
  local n = t:numel()
  local float = is_float(t)
  if n == 0 then
    if not float then
      error(("%s: cannot take the median of an empty %s tensor"):format(fn, dtname(t)), 4)
    end
    return core.full({}, 0 / 0, { dtype = t.dtype })
  end
  local flat = t:detach():reshape(-1)
  local sorted = flat:sort()
  local nnan = float and flat:isnan():sum():item() or 0
  local k
  if skip_nan then
    local c = n - nnan
    k = c > 0 and floor((c - 1) / 2) or 0
  else
    k = nnan > 0 and n - nnan or floor((n - 1) / 2)
  end
  local m = sorted:narrow(1, k + 1, 1):reshape({})
  if not (float and t.requires_grad and core.is_grad_enabled()) then return m end
  local mv = m:item()
  local mask = mv ~= mv and t:isnan() or t:eq(m)
  local g = core.where(mask, t / mask:sum(), 0):sum()
  if mv ~= mv or mv == math.huge or mv == -math.huge then return g end
  return (g - g:detach()) + m
end

-- values and 1-based indices along dim d
local function median_dim (fn, t, d, keepdim, skip_nan)
  local size = t:size()
  local n = #size == 0 and 1 or size[d]
  if n == 0 then
    error(("%s: cannot take the median over dim %d of size 0 (input of size %s)")
          :format(fn, d, shape_str(size)), 4)
  end
  local _, si = t:detach():sort(d)
  local pos                                          -- 0-based position in the sorted slice
  if is_float(t) then
    local nnan = t:isnan():sum({ dim = d, keepdim = true })
    if skip_nan then
      local c = nnan:neg() + n
      pos = core.where(c:gt(0), (c - 1):floor_divide(2), 0)
    else
      pos = core.where(nnan:gt(0), nnan:neg() + n, floor((n - 1) / 2))
    end
  else
    local ks = {}
    for i = 1, #size do ks[i] = size[i] end
    if #ks > 0 then ks[d] = 1 end
    pos = core.full(ks, floor((n - 1) / 2), { dtype = core.int64 })
  end
  local idx = si:gather(d, pos + 1)
  local values = t:gather(d, idx)
  if not keepdim and #size > 0 then
    values, idx = values:squeeze(d), idx:squeeze(d)
  end
  return values, idx
end

local function median_impl (fn, skip_nan, t, n, ...)
  need_tensor(fn, "self", t, 4)
  local a = parse(3, fn, { "dim", "keepdim" }, nil, n, ...)
  local dims = norm_dims(fn, a.dim, t:dim(), false, 4)
  local keepdim = opt_bool(fn, "keepdim", a.keepdim, false, 4)
  if t.dtype == core.bool then
    error(("%s: not implemented for bool tensors"):format(fn), 3)
  end
  if not dims then
    if a.keepdim ~= nil then
      error(("%s: keepdim needs a dim"):format(fn), 3)
    end
    local m = median_all(fn, t, skip_nan)
    return m
  end
  local v, i = median_dim(fn, t, dims[1], keepdim, skip_nan)
  return v, i
end

--- median(t, dim, keepdim): without dim, the lower median of all elements (NaN if any is
--- NaN); with dim, the lower medians along it and their 1-based positions (int64); also
--- `{dim =, keepdim =}` (torch.median).
local function median (t, ...)
  local v, i = median_impl("median", false, t, select("#", ...), ...)
  if i == nil then return v end
  return v, i
end

--- nanmedian(t, dim, keepdim): median ignoring NaN (NaN only where a slice is all NaN);
--- without dim, of all elements; with dim, values and 1-based positions; also
--- `{dim =, keepdim =}` (torch.nanmedian).
local function nanmedian (t, ...)
  local v, i = median_impl("nanmedian", true, t, select("#", ...), ...)
  if i == nil then return v end
  return v, i
end

-- ---- group 3 -------------------------------------------------------------------------

local INTERP = { linear = true, lower = true, higher = true, midpoint = true, nearest = true }

-- one quantile q (a number in [0, 1]) of t along d (t at least 1-D), keepdim shape
local function quantile_one (t, sorted, d, n, q, skip_nan)
  local ks = t:size()
  ks[d] = 1
  local isnan = t:detach():isnan()
  local ranks
  if skip_nan then
    local cnt = isnan:logical_not():sum({ dim = d, keepdim = true })
    ranks = core.full(ks, q, { dtype = t.dtype }) * (cnt - 1)
    ranks = core.where(ranks:lt(0), 0, ranks)
  else
    ranks = core.full(ks, q, { dtype = t.dtype }) * (n - 1)
    ranks = core.where(isnan:any(d, true), n - 1, ranks)
  end
  return ranks
end

local function quantile_impl (fn, skip_nan, t, n, ...)
  need_tensor(fn, "self", t, 4)
  local a = parse(3, fn, { "q", "dim", "keepdim" }, { "interpolation" }, n, ...)
  if not is_float(t) then
    error(("%s: expected a floating point tensor (float32 or float64), got %s (use :float())")
          :format(fn, dtname(t)), 3)
  end
  local q = a.q
  local qs, qvec
  if type(q) == "number" then
    qs = { q }
  elseif is_tensor(q) then
    need_tensor(fn, "q", q, 4)
    if q:dim() > 1 then
      error(("%s: q must be a number or a 1-D tensor, got a tensor of size %s")
            :format(fn, shape_str(q:size())), 3)
    end
    if q.dtype ~= t.dtype then
      error(("%s: q is %s but self is %s (the dtypes must match)"):format(fn, dtname(q), dtname(t)), 3)
    end
    qvec = q:dim() == 1
    qs = q:numel() > 0 and q:reshape(-1):totable() or {}
  else
    error(("%s: q must be a number or a 1-D Tensor, got %s"):format(fn, what(q)), 3)
  end
  for i = 1, #qs do
    local v = qs[i]
    if not (v >= 0 and v <= 1) then
      error(("%s: q values must be in the range [0, 1], got %s"):format(fn, tostring(v)), 3)
    end
  end
  local dims = norm_dims(fn, a.dim, t:dim(), false, 4)
  local keepdim = opt_bool(fn, "keepdim", a.keepdim, false, 4)
  local interp = a.interpolation
  if interp == nil then interp = "linear" end
  if type(interp) ~= "string" or not INTERP[interp] then
    error(("%s: interpolation must be 'linear', 'lower', 'higher', 'midpoint' or 'nearest', got %s")
          :format(fn, type(interp) == "string" and ("'" .. interp .. "'") or what(interp)), 3)
  end
  if t:numel() == 0 then
    error(("%s: the input must be non-empty, got size %s"):format(fn, shape_str(t:size())), 3)
  end
  local size = t:size()
  local x, d = t, nil
  if not dims or #size == 0 then x, d = t:reshape(-1), 1 else d = dims[1] end
  local nd = x:size()[d]
  local _, si = x:detach():sort(d)
  local sorted = x:gather(d, si)
  local outs = {}
  local no_q = #qs == 0                             -- an empty q: a result with a 0-size dim
  if no_q then qs = { 0 } end
  for i = 1, #qs do
    local ranks = quantile_one(x, sorted, d, nd, qs[i], skip_nan)
    if interp == "lower" then ranks = ranks:floor()
    elseif interp == "higher" then ranks = ranks:ceil()
    elseif interp == "nearest" then ranks = ranks:round() end
    local below = ranks:floor()
    local vb = sorted:gather(d, below:to(core.int64) + 1)
    local r = vb
    if interp == "linear" or interp == "midpoint" then
      local w = interp == "midpoint" and core.full_like(ranks, 0.5) or ranks - below
      local va = sorted:gather(d, ranks:ceil():to(core.int64) + 1)
      -- lerp as PyTorch computes it (from the nearer end)
      r = core.where(w:lt(0.5), vb + w * (va - vb), va - (va - vb) * (1 - w))
    end
    -- the reduced shape
    if not dims or #size == 0 then
      if keepdim then
        local ones = {}
        for k = 1, #size do ones[k] = 1 end
        r = r:reshape(ones)
      else
        r = r:reshape({})
      end
    elseif not keepdim then
      r = r:squeeze(d)
    end
    outs[i] = r
  end
  if qvec then
    if no_q then
      local shape = outs[1]:size()
      table.insert(shape, 1, 0)
      local z = core.zeros(shape, { dtype = t.dtype })
      return z
    end
    local st = core.stack(outs, 1)
    return st
  end
  return outs[1]
end

--- quantile(t, q, dim, keepdim): the q-th quantiles (q a number in [0, 1] or a 1-D tensor of
--- them, which adds a first dim) of all elements or along dim, NaN where a slice holds NaN;
--- `{dim =, keepdim =, interpolation = "linear" | "lower" | "higher" | "midpoint" |
--- "nearest"}`; floating inputs only (torch.quantile).
local function quantile (t, ...)
  local r = quantile_impl("quantile", false, t, select("#", ...), ...)
  return r
end

--- nanquantile(t, q, dim, keepdim): quantile ignoring NaN (NaN only where a slice is all
--- NaN); the same arguments and options as quantile (torch.nanquantile).
local function nanquantile (t, ...)
  local r = quantile_impl("nanquantile", true, t, select("#", ...), ...)
  return r
end

-- cummax/cummin: the positions by a scan of slices (no gradient), values gathered from them
local function cumext (fn, is_min, t, n, ...)
  need_tensor(fn, "self", t, 4)
  local a = parse(3, fn, { "dim" }, nil, n, ...)
  if a.dim == nil then error(("%s: dim is required"):format(fn), 3) end
  local d = norm_dims(fn, a.dim, t:dim(), false, 4)[1]
  local size = t:size()
  if #size == 0 then
    return t:gather(1, core.ones({}, { dtype = core.int64 })), core.ones({}, { dtype = core.int64 })
  end
  local len = size[d]
  if len == 0 or t:numel() == 0 then
    return t:clone(), core.zeros(size, { dtype = core.int64 })
  end
  local x = t:detach()
  local float = is_float(t)
  local best = x:narrow(d, 1, 1)
  local pos = core.ones(best:size(), { dtype = core.int64 })
  local parts = { pos }
  for k = 2, len do
    local xk = x:narrow(d, k, 1)
    local take = is_min and xk:le(best) or xk:ge(best)
    if float then take = take:logical_or(xk:isnan()) end
    best = core.where(take, xk, best)
    pos = core.where(take, k, pos)
    parts[k] = pos
  end
  local idx = core.cat(parts, d)
  return t:gather(d, idx), idx
end

--- cummax(t, dim): the running maximum along dim and the 1-based positions (int64) where it
--- was found (the last on ties; NaN propagates, at the latest NaN); also `{dim =}`
--- (torch.cummax).
local function cummax (t, ...)
  local v, i = cumext("cummax", false, t, select("#", ...), ...)
  return v, i
end

--- cummin(t, dim): the running minimum along dim and its 1-based positions (int64), as
--- cummax (torch.cummin).
local function cummin (t, ...)
  local v, i = cumext("cummin", true, t, select("#", ...), ...)
  return v, i
end

--- logcumsumexp(t, dim): log(cumsum(exp(t))) along dim, computed stably (floating inputs
--- only); also `{dim =}` (torch.logcumsumexp).
local function logcumsumexp (t, ...)
  need_tensor("logcumsumexp", "self", t)
  local a = parse(2, "logcumsumexp", { "dim" }, nil, select("#", ...), ...)
  if a.dim == nil then error("logcumsumexp: dim is required", 2) end
  local d = norm_dims("logcumsumexp", a.dim, t:dim(), false)[1]
  if not is_float(t) then
    error(("logcumsumexp: expected a floating point tensor, got %s (use :float())"):format(dtname(t)), 2)
  end
  local size = t:size()
  if #size == 0 or size[d] <= 1 or t:numel() == 0 then return t * 1 end
  local acc = t:narrow(d, 1, 1)
  local parts = { acc }
  for k = 2, size[d] do
    local xk = t:narrow(d, k, 1)
    local m = core.maximum(acc, xk):detach()
    m = core.where(m:isinf(), 0, m)
    acc = ((acc - m):exp() + (xk - m):exp()):log() + m
    parts[k] = acc
  end
  return core.cat(parts, d)
end

--- msort(t): t sorted along its first dim, values only (torch.msort).
local function msort (t, ...)
  need_tensor("msort", "self", t)
  if select("#", ...) > 0 then error("msort: too many arguments (expected msort(self))", 2) end
  local v = t:sort(1)
  return v
end

M.functions = {
  nansum = nansum, nanmean = nanmean, count_nonzero = count_nonzero, isclose = isclose,
  allclose = allclose, equal = equal, aminmax = aminmax,
  std_mean = std_mean, var_mean = var_mean, median = median, nanmedian = nanmedian,
  quantile = quantile, nanquantile = nanquantile, cummax = cummax, cummin = cummin,
  logcumsumexp = logcumsumexp, msort = msort,
}

--- the names install() added; tests read it
M.installed = {}

function M.install (dm)
  local T = core.Tensor
  for name, f in pairs(M.functions) do
    if rawget(dm, name) == nil then dm[name] = f; M.installed[name] = true end
    if rawget(T, name) == nil then T[name] = f; M.installed[name] = true end
  end
end

return M
