--- deepmoon.index_extra: PyTorch's indexing and inspection utilities that deepmoon's C core
--- has no op of its own for (take, take_along_dim, index_fill, index_copy, masked_scatter,
--- argwhere, unflatten, tensor_split and h/v/dsplit, searchsorted, bucketize,
--- unique_consecutive, is_nonzero, result_type, can_cast, logspace), written as compositions
--- of the existing tensor ops so that autograd flows through them.  Installed on dm and
--- Tensor by require "deepmoon" (lua/deepmoon/init.lua).  Dims are 1-based (negative ones
--- count from the end) and positions given or returned are 1-based, as dm.gather's.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local format = require "deepmoon.format"

local type, rawlen, rawget, error, tostring = type, rawlen, rawget, error, tostring
local math_type, tointeger = math.type, math.tointeger

local M = {}

-- ---- argument checks (each raises at `lvl`, counted from the check's caller) ---------------

local function shp (t) return format.shape_str(t:size()) end

local function need_tensor (fname, what, x, lvl)
  if not check.is_tensor(x) then
    error(("%s: expected %s to be a Tensor, got %s"):format(fname, what, check.typename(x)), lvl + 1)
  end
  if x:is_released() then
    error(("%s: %s is a released tensor"):format(fname, what), lvl + 1)
  end
end

local function need_index (fname, what, x, lvl)
  need_tensor(fname, what, x, lvl + 1)
  if x.dtype ~= core.int64 then
    error(("%s: expected %s to be an int64 tensor, got %s"):format(fname, what, x.dtype.name),
          lvl + 1)
  end
end

local function need_int (fname, what, v, lvl)
  local i = (type(v) == "number") and tointeger(v) or nil
  if i == nil then
    error(("%s: expected %s to be an integer, got %s"):format(fname, what,
          type(v) == "number" and tostring(v) or check.typename(v)), lvl + 1)
  end
  return i
end

-- a 1-based dim (negative from the end) of an n-dim tensor (a 0-dim one takes 1 and -1)
local function norm_dim (fname, dim, n, lvl)
  local d = need_int(fname, "dim", dim, lvl + 1)
  local m = n == 0 and 1 or n
  if d < 0 then d = d + m + 1 end
  if d < 1 or d > m then
    error(("%s: dim %s out of range for a %d-dim input"):format(fname, tostring(dim), n), lvl + 1)
  end
  return d
end

-- a list of integers from a plain table (rawlen/rawget: no metamethods run)
local function int_list (fname, what, t, lvl)
  if type(t) ~= "table" then
    error(("%s: expected %s to be a list of integers, got %s"):format(fname, what,
          check.typename(t)), lvl + 1)
  end
  local n = rawlen(t)
  local out = {}
  for i = 1, n do
    local v = rawget(t, i)
    local iv = type(v) == "number" and tointeger(v) or nil
    if iv == nil then
      error(("%s: expected %s to be a list of integers, element %d is %s"):format(fname, what,
            i, type(v) == "number" and tostring(v) or check.typename(v)), lvl + 1)
    end
    out[i] = iv
  end
  return out
end

-- a raw copy of a checked options table (no metamethods run when its fields are read)
local function plain (t)
  local out = {}
  for k, v in next, t do out[k] = v end
  return out
end

-- the smallest and largest value of an int64 tensor (nil for an empty one)
local function range_of (idx)
  if idx:numel() == 0 then return nil end
  return idx:min():item(), idx:max():item()
end

-- index positions 1 .. size (1-based); `neg` also takes -size .. -1 (-1 the last), as
-- PyTorch's -size .. -1; returns the index with negatives turned positive
local function check_positions (fname, what, idx, size, neg, lvl, dimtext)
  local lo, hi = range_of(idx)
  if lo == nil then return idx end
  local bad
  if hi > size then bad = hi
  elseif lo < (neg and -size or 1) then bad = lo
  elseif neg and lo <= 0 and idx:eq(0):any():item() then bad = 0
  end
  if bad ~= nil then
    error(("%s: %s %d out of range for %s"):format(fname, what, bad, dimtext), lvl + 1)
  end
  if neg and lo < 0 then idx = idx + idx:lt(0):long():mul(size + 1) end
  return idx
end

-- the broadcast of two shapes, or nil
local function broadcast (a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x = a[#a - n + i] or 1
    local y = b[#b - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then return nil end
    out[i] = (x == 1) and y or x
  end
  return out
end

local function same_shape (a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- a bool mask [1 x .. x size x .. x 1] (size at dim d of n dims) true at the positions idx
local function dim_mask (idx, size, d, n)
  local m = core.zeros(size):scatter(1, idx:reshape(-1), 1.0):bool()
  if n == 0 then return m:reshape({}) end
  local shape = {}
  for i = 1, n do shape[i] = 1 end
  shape[d] = size
  return m:reshape(shape)
end

-- ---- take, take_along_dim ------------------------------------------------------------------

--- take(input, index): input's elements at the 1-based positions index of the flattened
--- input, in index's shape (PyTorch's torch.take; -1 is the last element, as there).
local function take (input, index)
  need_tensor("take", "input", input, 2)
  need_index("take", "index", index, 2)
  local n = input:numel()
  local idx = check_positions("take", "index", index:reshape(-1), n, true, 2,
                              ("an input of %d elements %s"):format(n, shp(input)))
  return input:reshape(-1):index_select(1, idx):reshape(index:size())
end

--- take_along_dim(input, indices, dim): the values at the 1-based positions indices along dim,
--- input and indices broadcast in the other dims (PyTorch's torch.take_along_dim); without
--- dim, take on the flattened input (a 1-D result).
local function take_along_dim (input, indices, dim)
  need_tensor("take_along_dim", "input", input, 2)
  need_index("take_along_dim", "indices", indices, 2)
  if dim == nil then
    local n = input:numel()
    local idx = check_positions("take_along_dim", "index", indices:reshape(-1), n, false, 2,
                                ("an input of %d elements %s"):format(n, shp(input)))
    return input:reshape(-1):gather(1, idx)
  end
  local n = input:dim()
  if n == 0 then
    error(("take_along_dim: dim %s out of range for a 0-dim input"):format(tostring(dim)), 2)
  end
  local d = norm_dim("take_along_dim", dim, n, 2)
  if indices:dim() ~= n then
    error(("take_along_dim: expected indices with %d dims, got %s"):format(n, shp(indices)), 2)
  end
  local isz, xsz = input:size(), indices:size()
  local a = input:size(); a[d] = xsz[d]
  local shape = broadcast(a, xsz)
  if shape == nil then
    error(("take_along_dim: input %s and indices %s do not broadcast outside dim %d")
          :format(shp(input), shp(indices), d), 2)
  end
  check_positions("take_along_dim", "index", indices, isz[d], false, 2,
                  ("dim %d of size %d"):format(d, isz[d]))
  local ishape = {}
  for i = 1, n do ishape[i] = shape[i] end
  ishape[d] = isz[d]
  local x = same_shape(ishape, isz) and input or input:expand(ishape)
  local ix = same_shape(shape, xsz) and indices or indices:expand(shape)
  return x:gather(d, ix)
end

-- ---- index_fill, index_copy ----------------------------------------------------------------

local function index_fill_args (fname, input, dim, index, value)
  need_tensor(fname, "input", input, 3)
  local n = input:dim()
  local d = norm_dim(fname, dim, n, 3)
  need_index(fname, "index", index, 3)
  if index:dim() > 1 then
    error(("%s: expected index with 0 or 1 dims, got %s"):format(fname, shp(index)), 3)
  end
  if check.is_tensor(value) then
    if value:dim() ~= 0 then
      error(("%s: expected value to be a number or a 0-dim Tensor, got a tensor %s")
            :format(fname, shp(value)), 3)
    end
  elseif type(value) ~= "number" and type(value) ~= "boolean" then
    error(("%s: expected value to be a number or a 0-dim Tensor, got %s")
          :format(fname, check.typename(value)), 3)
  end
  local size = n == 0 and 1 or input:size()[d]
  local idx = check_positions(fname, "index", index:reshape(-1), size, true, 3,
                              ("dim %d of size %d"):format(d, size))
  return dim_mask(idx, size, d, n)
end

--- index_fill(input, dim, index, value): a copy with value (a number or a 0-dim tensor) in the
--- slices at the 1-based positions index along dim (PyTorch's index_fill; -1 the last).
local function index_fill (input, dim, index, value)
  local mask = index_fill_args("index_fill", input, dim, index, value)
  if check.is_tensor(value) and value.requires_grad then
    -- masked_fill passes no gradient to a tensor value; where does (the sum over the slices)
    if value.dtype ~= input.dtype then value = value:to(input.dtype) end
    return core.where(mask, value, input)
  end
  return input:masked_fill(mask, value)
end

--- index_fill_(input, dim, index, value): index_fill in place; returns input.
local function index_fill_ (input, dim, index, value)
  local mask = index_fill_args("index_fill_", input, dim, index, value)
  if check.is_tensor(value) and value.requires_grad then
    if value.dtype ~= input.dtype then value = value:to(input.dtype) end
    input:copy_(core.where(mask, value, input))
    return input
  end
  input:masked_fill_(mask, value)
  return input
end

-- checks; the mask of the slices written and source's values placed there (zeros elsewhere)
local function index_copy_parts (fname, input, dim, index, source)
  need_tensor(fname, "input", input, 3)
  local n = input:dim()
  local d = norm_dim(fname, dim, n, 3)
  need_index(fname, "index", index, 3)
  need_tensor(fname, "source", source, 3)
  if index:dim() > 1 then
    error(("%s: expected index with 0 or 1 dims, got %s"):format(fname, shp(index)), 3)
  end
  if source.dtype ~= input.dtype then
    error(("%s: expected source of input's dtype %s, got %s"):format(fname, input.dtype.name,
          source.dtype.name), 3)
  end
  local k = index:numel()
  local want = input:size()
  if n == 0 then want = {} end
  if n > 0 then want[d] = k end
  local ssz = source:size()
  local ok = same_shape(want, ssz) or (n == 0 and k == 1 and source:numel() == 1 and #ssz <= 1)
  if not ok then
    error(("%s: expected source %s (input %s with %d indices along dim %d), got %s")
          :format(fname, format.shape_str(want), shp(input), k, d, shp(source)), 3)
  end
  local size = n == 0 and 1 or input:size()[d]
  local idx = check_positions(fname, "index", index:reshape(-1), size, false, 3,
                              ("dim %d of size %d"):format(d, size))
  local mask = dim_mask(idx, size, d, n)
  local src = source
  if n == 0 then
    return mask, source:reshape({})
  end
  -- duplicate positions: the last source slice wins (as PyTorch's CPU kernel)
  local vals = idx:totable()
  local last, keep, drop = {}, {}, {}
  for i = 1, #vals do last[vals[i]] = i end
  for i = 1, #vals do
    if last[vals[i]] == i then keep[#keep + 1] = i else drop[#drop + 1] = i end
  end
  local carrier
  if #drop > 0 then
    local kt = core.tensor(keep, { dtype = core.int64 })
    local all = idx
    idx = all:index_select(1, kt)
    src = source:index_select(d, kt)
    if source.requires_grad then
      -- the slices overwritten still get grad[index[i]], as PyTorch's backward gives them:
      -- they enter as s - s:detach(), zero in value (NaN ones zeroed, with no gradient)
      local dt = core.tensor(drop, { dtype = core.int64 })
      local sd = source:index_select(d, dt)
      local c = sd - sd:detach()
      carrier = { all:index_select(1, dt), c:masked_fill(c:ne(0), 0) }
    end
  end
  local bool = input.dtype == core.bool
  local base = bool and core.zeros(input:size(), { dtype = core.uint8 }) or core.zeros_like(input)
  local placed = base:index_add(d, idx, bool and src:to(core.uint8) or src)
  if carrier then placed = placed:index_add(d, carrier[1], carrier[2]) end
  if bool then placed = placed:bool() end
  return mask, placed
end

--- index_copy(input, dim, index, source): a copy with the slices at the 1-based positions
--- index along dim replaced by source's slices (source: input's shape with #index at dim;
--- PyTorch's index_copy; with a position repeated, the last slice wins, as PyTorch's CPU
--- kernel, and every slice gets the gradient of its position).
local function index_copy (input, dim, index, source)
  local mask, placed = index_copy_parts("index_copy", input, dim, index, source)
  return core.where(mask, placed, input)
end

--- index_copy_(input, dim, index, source): index_copy in place; returns input.
local function index_copy_ (input, dim, index, source)
  local mask, placed = index_copy_parts("index_copy_", input, dim, index, source)
  input:copy_(core.where(mask, placed, input))
  return input
end

-- ---- masked_scatter, argwhere, unflatten ---------------------------------------------------

local function masked_scatter_parts (fname, input, mask, source, inplace)
  need_tensor(fname, "input", input, 3)
  need_tensor(fname, "mask", mask, 3)
  need_tensor(fname, "source", source, 3)
  if mask.dtype ~= core.bool then
    error(("%s: expected a bool mask, got %s"):format(fname, mask.dtype.name), 3)
  end
  if source.dtype ~= input.dtype then
    error(("%s: expected source of input's dtype %s, got %s"):format(fname, input.dtype.name,
          source.dtype.name), 3)
  end
  local isz = input:size()
  local shape = broadcast(isz, mask:size())
  if shape == nil or (inplace and not same_shape(shape, isz)) then
    error(("%s: mask %s does not broadcast to input %s"):format(fname, shp(mask), shp(input)), 3)
  end
  local m = same_shape(shape, mask:size()) and mask or mask:expand(shape)
  local x = same_shape(shape, isz) and input or input:expand(shape)
  local pos = m:reshape(-1):nonzero():reshape(-1)
  local k = pos:numel()
  if source:numel() < k then
    error(("%s: mask %s has %d true elements, source %s only %d"):format(fname, shp(mask), k,
          shp(source), source:numel()), 3)
  end
  local bool = input.dtype == core.bool
  local vals = source:reshape(-1):narrow(1, 1, k)
  local total = 1
  for i = 1, #shape do total = total * shape[i] end
  local base = core.zeros(total, { dtype = bool and core.uint8 or input.dtype })
  local placed = base:index_add(1, pos, bool and vals:to(core.uint8) or vals):reshape(shape)
  if bool then placed = placed:bool() end
  return core.where(m, placed, x)
end

--- masked_scatter(input, mask, source): a copy with source's first elements (in order) written
--- where the bool mask (broadcast with input) is true (PyTorch's masked_scatter).
local function masked_scatter (input, mask, source)
  return (masked_scatter_parts("masked_scatter", input, mask, source, false))
end

--- masked_scatter_(input, mask, source): masked_scatter in place (mask broadcast to input's
--- shape); returns input.
local function masked_scatter_ (input, mask, source)
  local out = masked_scatter_parts("masked_scatter_", input, mask, source, true)
  input:copy_(out)
  return input
end

--- argwhere(input): the 1-based positions of input's nonzero elements, an [n x dim] int64
--- tensor (PyTorch's argwhere, whose positions are 0-based; as dm.nonzero).
local function argwhere (input)
  need_tensor("argwhere", "input", input, 2)
  return input:nonzero()
end

--- unflatten(input, dim, sizes): dim expanded into the sizes listed (one may be -1), a view
--- where possible (PyTorch's torch.unflatten).
local function unflatten (input, dim, sizes)
  need_tensor("unflatten", "input", input, 2)
  local n = input:dim()
  if n == 0 then error("unflatten: expected an input with at least 1 dim, got a 0-dim tensor", 2) end
  local d = norm_dim("unflatten", dim, n, 2)
  local list = int_list("unflatten", "sizes", sizes, 2)
  if #list == 0 then error("unflatten: sizes must be a non-empty list", 2) end
  local size = input:size()[d]
  local prod, free = 1, nil
  for i, s in ipairs(list) do
    if s == -1 then
      if free then error("unflatten: only one size can be -1", 2) end
      free = i
    elseif s < 0 then
      error(("unflatten: invalid size %d in sizes %s"):format(s, format.shape_str(list)), 2)
    else
      prod = prod * s
    end
  end
  if free then
    if prod == 0 or size % prod ~= 0 then
      error(("unflatten: sizes %s do not make dim %d's size %d"):format(format.shape_str(list),
            d, size), 2)
    end
    list[free] = size // prod
  elseif prod ~= size then
    error(("unflatten: sizes %s do not make dim %d's size %d"):format(format.shape_str(list),
          d, size), 2)
  end
  local shape = {}
  local isz = input:size()
  for i = 1, d - 1 do shape[#shape + 1] = isz[i] end
  for _, s in ipairs(list) do shape[#shape + 1] = s end
  for i = d + 1, n do shape[#shape + 1] = isz[i] end
  return input:reshape(shape)
end

-- ---- tensor_split, hsplit, vsplit, dsplit --------------------------------------------------

-- the pieces of input along d: `sections` equal-ish pieces, or split at the points listed
local function split_pieces (input, d, sections, points)
  local size = input:size()[d]
  local bounds = {}
  if sections then
    local q, r = size // sections, size % sections
    local s = 0
    bounds[1] = 0
    for i = 1, sections do
      s = s + q + (i <= r and 1 or 0)
      bounds[i + 1] = s
    end
  else
    bounds[1] = 0
    for i, p in ipairs(points) do
      if p < 0 then p = math.max(p + size, 0) end
      bounds[i + 1] = math.min(p, size)
    end
    bounds[#bounds + 1] = size
  end
  local out = {}
  for i = 1, #bounds - 1 do
    local a = bounds[i]
    local b = math.max(bounds[i + 1], a)
    out[i] = input:narrow(d, a + 1, b - a)
  end
  return out
end

-- sections (an integer or a 0-dim int64 tensor) or split points (a list or a 1-D int64 tensor)
local function split_spec (fname, arg, lvl)
  if check.is_tensor(arg) then
    if arg.dtype ~= core.int64 or arg:dim() > 1 then
      error(("%s: expected indices_or_sections to be an int64 tensor of 0 or 1 dims, got %s %s")
            :format(fname, arg.dtype.name, shp(arg)), lvl + 1)
    end
    if arg:dim() == 0 then arg = arg:item() else return nil, arg:totable() end
  end
  if type(arg) == "number" then
    local s = need_int(fname, "sections", arg, lvl + 1)
    if s < 1 then
      error(("%s: number of sections must be larger than 0, got %d"):format(fname, s), lvl + 1)
    end
    if s > 1000000 then   -- returned as that many values: beyond what Lua can unpack
      error(("%s: %d sections are more than the 1000000 a call can return"):format(fname, s),
            lvl + 1)
    end
    return s, nil
  end
  if type(arg) ~= "table" then
    error(("%s: expected indices_or_sections to be an integer or a list of integers, got %s")
          :format(fname, check.typename(arg)), lvl + 1)
  end
  return nil, int_list(fname, "indices", arg, lvl + 1)
end

--- tensor_split(input, indices_or_sections, dim = 1): input split along dim into that many
--- pieces (the first size % n one longer), or at the split points listed -- each point the
--- number of elements before the split, PyTorch's own numbers: {1, 3} gives x[1..1],
--- x[2..3], x[4..] -- returned as several values (PyTorch's tensor_split; views).
local function tensor_split (input, indices_or_sections, dim)
  need_tensor("tensor_split", "input", input, 2)
  if input:dim() == 0 then
    error("tensor_split: expected an input with at least 1 dim, got a 0-dim tensor", 2)
  end
  local d = norm_dim("tensor_split", dim == nil and 1 or dim, input:dim(), 2)
  local sections, points = split_spec("tensor_split", indices_or_sections, 2)
  return table.unpack(split_pieces(input, d, sections, points))
end

local function dir_split (fname, input, arg, mindim, d)
  need_tensor(fname, "input", input, 3)
  if input:dim() < mindim then
    error(("%s: expected an input with at least %d dims, got %s"):format(fname, mindim,
          input:dim() == 0 and "a 0-dim tensor" or shp(input)), 3)
  end
  local sections, points = split_spec(fname, arg, 3)
  if sections then
    local size = input:size()[d]
    if size % sections ~= 0 then
      error(("%s: dim %d of size %d does not split into %d equal sections"):format(fname, d,
            size, sections), 3)
    end
  end
  return split_pieces(input, d, sections, points)
end

--- hsplit(input, indices_or_sections): tensor_split along dim 2 (dim 1 for a 1-D input);
--- a number of sections must divide the size (PyTorch's hsplit).
local function hsplit (input, indices_or_sections)
  local d = (check.is_tensor(input) and input:dim() == 1) and 1 or 2
  local out = dir_split("hsplit", input, indices_or_sections, 1, d)
  return table.unpack(out)
end

--- vsplit(input, indices_or_sections): tensor_split along dim 1 of an input of 2 or more
--- dims; a number of sections must divide the size (PyTorch's vsplit).
local function vsplit (input, indices_or_sections)
  local out = dir_split("vsplit", input, indices_or_sections, 2, 1)
  return table.unpack(out)
end

--- dsplit(input, indices_or_sections): tensor_split along dim 3 of an input of 3 or more
--- dims; a number of sections must divide the size (PyTorch's dsplit).
local function dsplit (input, indices_or_sections)
  local out = dir_split("dsplit", input, indices_or_sections, 3, 3)
  return table.unpack(out)
end

-- ---- searchsorted, bucketize, unique_consecutive -------------------------------------------

-- 1-based insertion positions of values in the rows of seq (checked by the caller)
local function insert_positions (seq, values, right)
  local v = values:unsqueeze(-1)
  local s = seq:dim() == 1 and seq or seq:unsqueeze(-2)
  -- PyTorch's binary search tests !(s >= v) (left) and !(s > v) (right): a NaN value goes last
  local cmp = (right and s:gt(v) or s:ge(v)):logical_not()
  return cmp:sum(-1):long():add(1)
end

local SEARCH_OPTS = { right = "boolean", side = "string" }

--- searchsorted(sorted_sequence, values, {right = false, side = "left"}): for each value, the
--- 1-based position where inserting it keeps the innermost dim of sorted_sequence sorted
--- (PyTorch's 0-based result + 1), int64; right = true (or side = "right") puts it after equal
--- elements.  sorted_sequence is 1-D, or its leading dims are values's.  values may be a
--- number (a 0-dim result).  Compares every value with every element (memory values x length).
local function searchsorted (sorted_sequence, values, opts)
  need_tensor("searchsorted", "sorted_sequence", sorted_sequence, 2)
  local o = plain(check.options("searchsorted", opts, SEARCH_OPTS))
  local right = o.right == true
  if o.side ~= nil then
    if o.side ~= "left" and o.side ~= "right" then
      error(("searchsorted: side must be 'left' or 'right', got '%s'"):format(o.side), 2)
    end
    if o.right == true and o.side == "left" then
      error("searchsorted: side and right can't be set to opposites", 2)
    end
    right = o.side == "right"
  end
  if type(values) == "number" then
    values = core.tensor(values, { dtype = sorted_sequence.dtype })
  end
  need_tensor("searchsorted", "values", values, 2)
  if sorted_sequence:dim() == 0 then
    error("searchsorted: expected sorted_sequence with at least 1 dim, got a 0-dim tensor", 2)
  end
  if sorted_sequence:dim() > 1 then
    local a, b = sorted_sequence:size(), values:size()
    local ok = #a == #b
    for i = 1, #a - 1 do if a[i] ~= b[i] then ok = false end end
    if not ok then
      error(("searchsorted: sorted_sequence %s and values %s must match in all but the last dim")
            :format(shp(sorted_sequence), shp(values)), 2)
    end
  end
  if sorted_sequence.dtype == core.bool or values.dtype == core.bool then
    error("searchsorted: bool tensors are not supported", 2)
  end
  return insert_positions(sorted_sequence, values, right)
end

local BUCKET_OPTS = { right = "boolean" }

--- bucketize(input, boundaries, {right = false}): for each element of input, the 1-based
--- position of its bucket in the sorted 1-D boundaries (PyTorch's 0-based result + 1), int64:
--- the first position i with input <= boundaries[i], or with right = true input < boundaries[i]
--- (#boundaries + 1 past the last).  input may be a number (a 0-dim result).
local function bucketize (input, boundaries, opts)
  need_tensor("bucketize", "boundaries", boundaries, 2)
  local o = plain(check.options("bucketize", opts, BUCKET_OPTS))
  if boundaries:dim() ~= 1 then
    error(("bucketize: expected 1-D boundaries, got %s"):format(shp(boundaries)), 2)
  end
  if type(input) == "number" then input = core.tensor(input, { dtype = boundaries.dtype }) end
  need_tensor("bucketize", "input", input, 2)
  if boundaries.dtype == core.bool or input.dtype == core.bool then
    error("bucketize: bool tensors are not supported", 2)
  end
  return insert_positions(boundaries, input, o.right == true)
end

local UC_OPTS = { return_inverse = "boolean", return_counts = "boolean", dim = "integer" }

--- unique_consecutive(input, {return_inverse = false, return_counts = false, dim}): input with
--- each run of equal consecutive elements (or slices along dim) kept once, then with
--- return_inverse the 1-based run of each element (slice) and with return_counts the run
--- lengths (int64), as PyTorch's unique_consecutive (whose inverse is 0-based).
local function unique_consecutive (input, opts)
  need_tensor("unique_consecutive", "input", input, 2)
  local o = plain(check.options("unique_consecutive", opts, UC_OPTS))
  local x, n, d
  if o.dim == nil then
    x = input:reshape(-1)
    d = 1
  else
    if input:dim() == 0 then
      error(("unique_consecutive: dim %s out of range for a 0-dim input"):format(tostring(o.dim)), 2)
    end
    d = norm_dim("unique_consecutive", o.dim, input:dim(), 2)
    x = input
    local sz = x:size()
    for i = 1, #sz do
      if i ~= d and sz[i] == 0 then
        error(("unique_consecutive: input %s has a 0-sized dim other than dim %d"):format(shp(x), d), 2)
      end
    end
  end
  n = x:size()[d]
  local starts
  if n == 0 then
    starts = core.zeros(0):bool()
  else
    local rows = x:movedim(d, 1):reshape(n, -1)
    local change = rows:narrow(1, 2, n - 1):ne(rows:narrow(1, 1, n - 1))
    if change:size()[2] == 0 then
      change = core.zeros(n - 1):bool()
    else
      change = change:any(2)
    end
    starts = core.cat({ core.ones(1):bool(), change })
  end
  local pos = starts:nonzero():reshape(-1)
  local out = x:index_select(d, pos)
  local res = { out }
  if o.return_inverse then
    local inv = starts:long():cumsum(1)
    if o.dim == nil then inv = inv:reshape(input:size()) end
    res[#res + 1] = inv
  end
  if o.return_counts then
    local counts = pos
    if pos:numel() > 0 then
      local ends = core.cat({ pos:narrow(1, 2, pos:numel() - 1),
                              core.tensor({ n + 1 }, { dtype = core.int64 }) })
      counts = ends - pos
    end
    res[#res + 1] = counts
  end
  return table.unpack(res)
end

-- ---- inspection ----------------------------------------------------------------------------

--- is_floating_point(input): is input's dtype a floating-point one (float32, float64)?
local function is_floating_point (input)
  need_tensor("is_floating_point", "input", input, 2)
  return input.dtype.is_floating_point
end

--- is_nonzero(input): is the single element of input nonzero (true for bool)?  An error for
--- no element or more than one, as PyTorch's.
local function is_nonzero (input)
  need_tensor("is_nonzero", "input", input, 2)
  local n = input:numel()
  if n == 0 then
    error("is_nonzero: Boolean value of Tensor with no values is ambiguous", 2)
  elseif n > 1 then
    error(("is_nonzero: Boolean value of Tensor with more than one value is ambiguous, got %s")
          :format(shp(input)), 2)
  end
  local v = input:reshape(-1):get(1)
  if type(v) == "boolean" then return v end
  return v ~= 0
end

local function is_dtype (x)
  if type(x) ~= "userdata" and type(x) ~= "table" then return false end
  for _, d in ipairs({ core.bool, core.uint8, core.int64, core.float32, core.float64 }) do
    if rawequal(x, d) then return true end
  end
  return false
end

local function category (dt)
  if dt == core.bool then return 0 end
  if dt.is_floating_point then return 2 end
  return 1
end

local function promote (a, b)
  if a == nil then return b end
  if b == nil then return a end
  return core.promote_types(a, b)
end

-- PyTorch's combine_categories (no complex types here)
local function combine (higher, lower)
  if higher ~= nil and higher.is_floating_point then return higher end
  if higher == core.bool or (lower ~= nil and lower.is_floating_point) then
    return promote(higher, lower)
  end
  if higher ~= nil then return higher end
  return lower
end

--- result_type(a, b): the dtype PyTorch's type promotion gives an op of a and b (tensors or
--- numbers): tensors with dims decide, then 0-dim tensors and numbers only when of a higher
--- category (bool < integer < floating; a float number gives the default dtype).
local function result_type (a, b)
  local dimr, zeror, wrapr
  for i, x in ipairs({ a, b }) do
    if check.is_tensor(x) then
      if x:dim() > 0 then dimr = promote(dimr, x.dtype) else zeror = promote(zeror, x.dtype) end
    elseif type(x) == "number" then
      wrapr = promote(wrapr, math_type(x) == "integer" and core.int64 or core.get_default_dtype())
    elseif type(x) == "boolean" then
      wrapr = promote(wrapr, core.bool)
    else
      error(("result_type: expected %s to be a Tensor or a number, got %s")
            :format(i == 1 and "tensor1" or "tensor2", check.typename(x)), 2)
    end
  end
  return combine(dimr, combine(zeror, wrapr))
end

--- can_cast(from, to): does PyTorch's casting rule allow from -> to (dtypes)?  No for
--- floating to integer types and for any non-bool type to bool.
local function can_cast (from, to)
  if not is_dtype(from) then
    error(("can_cast: expected from to be a dtype, got %s"):format(check.typename(from)), 2)
  end
  if not is_dtype(to) then
    error(("can_cast: expected to to be a dtype, got %s"):format(check.typename(to)), 2)
  end
  if from.is_floating_point and not to.is_floating_point and to ~= core.bool then return false end
  if from ~= core.bool and to == core.bool then return false end
  return true
end

local LOGSPACE_OPTS = { dtype = "any", requires_grad = "boolean" }

--- logspace(start, end_, steps, base = 10, {dtype}): steps values base^v for v evenly spaced
--- from start to end_ (PyTorch's torch.logspace), the default dtype unless opts.dtype.
local function logspace (start, end_, steps, base, opts)
  if type(base) == "table" and opts == nil then base, opts = nil, base end
  if type(start) ~= "number" then
    error(("logspace: expected start to be a number, got %s"):format(check.typename(start)), 2)
  end
  if type(end_) ~= "number" then
    error(("logspace: expected end to be a number, got %s"):format(check.typename(end_)), 2)
  end
  local n = need_int("logspace", "steps", steps, 2)
  if n < 0 then error(("logspace: number of steps must be non-negative, got %d"):format(n), 2) end
  if base == nil then base = 10 end
  if type(base) ~= "number" then
    error(("logspace: expected base to be a number, got %s"):format(check.typename(base)), 2)
  end
  local o = plain(check.options("logspace", opts, LOGSPACE_OPTS))
  local dtype = o.dtype or core.get_default_dtype()
  if not is_dtype(dtype) then
    error(("logspace: option 'dtype' must be a dtype, got %s"):format(check.typename(dtype)), 2)
  end
  -- the exponents as linspace's (in float64), then base ^ them, then the dtype
  local ok, lin = pcall(core.linspace, start, end_, n, { dtype = core.float64 })
  if not ok then error("logspace: " .. tostring(lin):gsub("^[^:]*:%d+: ", ""), 2) end
  local t = core.tensor(base, { dtype = core.float64 }):pow(lin)
  if dtype ~= core.float64 then t = t:to(dtype) end
  if o.requires_grad then t:requires_grad_() end
  return t
end

-- ---- installation --------------------------------------------------------------------------

M.functions = {
  take = take, take_along_dim = take_along_dim, index_fill = index_fill,
  index_fill_ = index_fill_, index_copy = index_copy, index_copy_ = index_copy_,
  masked_scatter = masked_scatter, masked_scatter_ = masked_scatter_, argwhere = argwhere,
  unflatten = unflatten, tensor_split = tensor_split, hsplit = hsplit, vsplit = vsplit,
  dsplit = dsplit, searchsorted = searchsorted, bucketize = bucketize,
  unique_consecutive = unique_consecutive, is_floating_point = is_floating_point,
  is_nonzero = is_nonzero, result_type = result_type, can_cast = can_cast, logspace = logspace,
}

-- the ones PyTorch also has as Tensor methods
M.METHODS = {
  "take", "take_along_dim", "index_fill", "index_fill_", "index_copy", "index_copy_",
  "masked_scatter", "masked_scatter_", "argwhere", "unflatten", "tensor_split", "hsplit",
  "vsplit", "dsplit", "unique_consecutive", "is_nonzero",
}

--- the names install() added to dm and to Tensor; tests read them
M.installed = { dm = {}, Tensor = {} }

function M.install (dm)
  local T = core.Tensor
  for name, f in pairs(M.functions) do
    if rawget(dm, name) == nil then dm[name] = f; M.installed.dm[name] = true end
  end
  for _, name in ipairs(M.METHODS) do
    if rawget(T, name) == nil then T[name] = M.functions[name]; M.installed.Tensor[name] = true end
  end
end

return M
