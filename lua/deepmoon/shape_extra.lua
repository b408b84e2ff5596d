--- deepmoon.shape_extra: PyTorch 1.13's tensor utilities written as compositions of the
--- existing ops (cat, reshape, expand, flip, matmul, index_select, where, ...), so autograd
--- goes through them: hstack, vstack, dstack, column_stack, atleast_1d/2d/3d, ravel,
--- broadcast_to, broadcast_tensors, fliplr, flipud, rot90, inner, dot, vdot, mv, kron, cross,
--- tensordot, diff, meshgrid, cartesian_prod, block_diag, diag_embed, repeat_interleave.
--- Installed on dm (and, where PyTorch has the method, on Tensor) by require "deepmoon".
--- Dims are 1-based, negative ones count from the end; positions are 1-based.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local format = require "deepmoon.format"

local M = {}

local is_tensor, typename = check.is_tensor, check.typename
local math_type, tointeger = math.type, math.tointeger
local rawlen, rawget, select, type, error, pcall = rawlen, rawget, select, type, error, pcall

-- ---- helpers ------------------------------------------------------------------------------

-- internal errors carry no position; public() adds the function's name and the caller's line
local function fail (fmt, ...)
  error(fmt:format(...), 0)
end

local function shape (t) return format.shape_str(t:size()) end

local function is_plain_table (x) return type(x) == "table" and not is_tensor(x) end

local function as_integer (x)
  if math_type(x) == "integer" then return x end
  if type(x) == "number" then return tointeger(x) end
  return nil
end

local function need_tensor (x, what)
  if not is_tensor(x) then fail("expected %s to be a Tensor, got %s", what, typename(x)) end
  return x
end

-- a dim (1-based; negative counts from the end) as a positive 1-based dim of an n-d tensor
local function norm_dim (d, n, what)
  local i = as_integer(d)
  if i == nil then
    fail("%s must be an integer, got %s", what or "dim", type(d) == "number" and tostring(d) or typename(d))
  end
  if n == 0 or i == 0 or i > n or i < -n then
    fail("%s %d out of range for a tensor of %d dimensions (expected 1 to %d, or -%d to -1)",
         what or "dim", i, n, n, n)
  end
  if i < 0 then i = i + n + 1 end
  return i
end

-- a list of integers (rawlen/rawget; a number alone is a list of one)
local function int_list (x, what)
  if type(x) == "number" then
    local i = as_integer(x)
    if i == nil then fail("%s must be integers, got %s", what, tostring(x)) end
    return { i }
  end
  if not is_plain_table(x) then fail("expected %s to be a list of integers, got %s", what, typename(x)) end
  local n = rawlen(x)
  local out = {}
  for k = 1, n do
    local v = rawget(x, k)
    local i = as_integer(v)
    if i == nil then
      fail("%s must be integers, got %s at position %d", what,
           type(v) == "number" and tostring(v) or typename(v), k)
    end
    out[k] = i
  end
  return out
end

-- the tensors of `...`: one list table, or the tensors themselves
local function tensor_args (...)
  local n = select("#", ...)
  local first = ...
  local list = {}
  if n == 1 and is_plain_table(first) then
    n = rawlen(first)
    for k = 1, n do list[k] = rawget(first, k) end
  else
    for k = 1, n do list[k] = (select(k, ...)) end
  end
  for k = 1, n do
    if not is_tensor(list[k]) then
      fail("expected a list of Tensors, got %s at position %d", typename(list[k]), k)
    end
  end
  return list
end

-- the list argument of hstack and friends (a list of tensors, non-empty)
local function tensor_list (x)
  if not is_plain_table(x) then fail("expected a list of Tensors, got %s", typename(x)) end
  local list = tensor_args(x)
  if #list == 0 then fail("expected a non-empty list of Tensors") end
  return list
end

-- the broadcast shape of a list of tensors
local function broadcast_shape (list)
  local out = {}
  local nd = 0
  for _, t in ipairs(list) do nd = math.max(nd, t:dim()) end
  for d = 1, nd do out[d] = 1 end
  for k, t in ipairs(list) do
    local s = t:size()
    local off = nd - #s
    for d = 1, #s do
      local a, b = out[off + d], s[d]
      if a ~= b then
        if a == 1 then out[off + d] = b
        elseif b ~= 1 then
          fail("shapes %s and %s cannot be broadcast together (tensor %d, dim %d: %d vs %d)",
               format.shape_str(out), shape(t), k, off + d, a, b)
        end
      end
    end
  end
  return out
end

local function same_dtype (a, b)
  if a.dtype ~= b.dtype then
    fail("expected both tensors to have the same dtype, got %s %s and %s %s",
         a.dtype.name, shape(a), b.dtype.name, shape(b))
  end
end

local function no_bool (t)
  if t.dtype == core.bool then fail("not implemented for bool tensors") end
end

-- t reshaped; a non-contiguous t is copied first (reshape's view of some expanded layouts,
-- e.g. [3 x 1 x 2] with strides (1, 1, 0), reads the wrong elements)
local function reshape (t, sizes)
  if not t:is_contiguous() then t = t:contiguous() end
  return t:reshape(sizes)
end

local function product (s, i, j)
  local p = 1
  for k = i or 1, j or #s do p = p * s[k] end
  return p
end

-- the names made by public(), in order; the implementations, for calls between them
local impl = {}
local public_names = {}

-- a public function: its errors name it and point at the caller's line
local function public (name, f)
  impl[name] = f
  public_names[#public_names + 1] = name
  local prefix = name .. ": "
  local fn = function (...)
    local r = table.pack(pcall(f, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if type(e) == "string" then
      -- an op called here reports this file's line: the user's line is what matters
      e = e:gsub("^[^\n]-shape_extra%.lua:%d+: ", "")
      if e:sub(1, #prefix) ~= prefix then e = prefix .. e end
      error(e, 2)
    end
    error(e, 0)
  end
  M[name] = fn
  return fn
end

-- ---- group 1: stacking, atleast, broadcasting, flips -----------------------------------------

local function atleast (nd, t)
  local d = t:dim()
  if d >= nd then return t end
  if nd == 1 then return reshape(t, { 1 }) end
  if nd == 2 then
    if d == 0 then return reshape(t, { 1, 1 }) end
    return t:unsqueeze(1)
  end
  if d == 0 then return reshape(t, { 1, 1, 1 }) end
  if d == 1 then return t:unsqueeze(1):unsqueeze(3) end
  return t:unsqueeze(3)
end

local function atleast_fn (nd)
  return function (...)
    local first = ...
    if select("#", ...) == 1 and is_tensor(first) then return atleast(nd, first) end
    local list = tensor_args(...)
    local out = {}
    for k, t in ipairs(list) do out[k] = atleast(nd, t) end
    return out
  end
end

--- atleast_1d(t) or atleast_1d(t1, t2, ...) / atleast_1d({...}): t viewed with at least one dimension (a 0-d tensor becomes [1]); several tensors give a list.
public("atleast_1d", atleast_fn(1))
--- atleast_2d(t) or atleast_2d(t1, t2, ...) / atleast_2d({...}): t viewed with at least two dimensions ([] -> [1 x 1], [n] -> [1 x n]); several tensors give a list.
public("atleast_2d", atleast_fn(2))
--- atleast_3d(t) or atleast_3d(t1, t2, ...) / atleast_3d({...}): t viewed with at least three dimensions ([] -> [1 x 1 x 1], [n] -> [1 x n x 1], [m x n] -> [m x n x 1]); several tensors give a list.
public("atleast_3d", atleast_fn(3))

local function stack_along (list, nd, dim)
  local parts = {}
  for k, t in ipairs(list) do parts[k] = atleast(nd, t) end
  return core.cat(parts, dim)
end

--- hstack(tensors): the tensors (a list) joined column-wise: 1-D ones end to end, others along dim 2 (0-d ones count as [1]).
public("hstack", function (tensors)
  local list = tensor_list(tensors)
  local dim = atleast(1, list[1]):dim() == 1 and 1 or 2
  return stack_along(list, 1, dim)
end)

--- vstack(tensors): the tensors (a list) joined row-wise, after atleast_2d ([n] becomes [1 x n]).
public("vstack", function (tensors)
  return stack_along(tensor_list(tensors), 2, 1)
end)

--- row_stack(tensors): vstack's other name.
public("row_stack", function (tensors)
  return stack_along(tensor_list(tensors), 2, 1)
end)

--- dstack(tensors): the tensors (a list) joined depth-wise (dim 3), after atleast_3d.
public("dstack", function (tensors)
  return stack_along(tensor_list(tensors), 3, 3)
end)

--- column_stack(tensors): the tensors (a list) as columns: 0-d and 1-d ones become [n x 1] columns, then all are joined along dim 2.
public("column_stack", function (tensors)
  local list = tensor_list(tensors)
  local parts = {}
  for k, t in ipairs(list) do
    if t:dim() <= 1 then parts[k] = reshape(t, { t:numel(), 1 }) else parts[k] = t end
  end
  return core.cat(parts, 2)
end)

--- ravel(t): t as a 1-D tensor (a view when t is contiguous, a copy otherwise).
public("ravel", function (t)
  need_tensor(t, "input")
  return reshape(t, { -1 })
end)

--- broadcast_to(t, size): t expanded to size (a list, -1 keeps a dim; a view, as expand).
public("broadcast_to", function (t, ...)
  need_tensor(t, "input")
  local size = ...
  if type(size) == "number" then size = { ... } end
  local sizes = int_list(size, "size")
  return t:expand(sizes)
end)

--- broadcast_tensors(t1, t2, ...) or broadcast_tensors({...}): the tensors expanded to their common broadcast shape (a list of views).
public("broadcast_tensors", function (...)
  local list = tensor_args(...)
  local s = broadcast_shape(list)
  local out = {}
  for k, t in ipairs(list) do out[k] = t:expand(s) end
  return out
end)

--- fliplr(t): t with the order of its columns (dim 2) reversed; t has at least 2 dims.
public("fliplr", function (t)
  need_tensor(t, "input")
  if t:dim() < 2 then fail("expected a tensor of at least 2 dimensions, got %s", shape(t)) end
  return t:flip({ 2 })
end)

--- flipud(t): t with the order of its rows (dim 1) reversed; t has at least 1 dim.
public("flipud", function (t)
  need_tensor(t, "input")
  if t:dim() < 1 then fail("expected a tensor of at least 1 dimension, got %s", shape(t)) end
  return t:flip({ 1 })
end)

--- rot90(t, k = 1, dims = {1, 2}): t rotated by k quarter turns in the plane of dims, from the first dim towards the second (k may be negative).
public("rot90", function (t, k, dims)
  need_tensor(t, "input")
  if k == nil then k = 1 end
  local kk = as_integer(k)
  if kk == nil then fail("k must be an integer, got %s", type(k) == "number" and tostring(k) or typename(k)) end
  local dl = dims == nil and { 1, 2 } or int_list(dims, "dims")
  if #dl ~= 2 then fail("expected dims to be a list of 2 dims, got %d", #dl) end
  local n = t:dim()
  if n < 2 then fail("expected a tensor of at least 2 dimensions, got %s", shape(t)) end
  local d1, d2 = norm_dim(dl[1], n, "dims[1]"), norm_dim(dl[2], n, "dims[2]")
  if d1 == d2 then
    fail("expected rotation dims to be different, got %d and %d for %s", dl[1], dl[2], shape(t))
  end
  kk = kk % 4
  if kk == 1 then return t:flip({ d2 }):transpose(d1, d2)
  elseif kk == 2 then return t:flip({ d1, d2 })
  elseif kk == 3 then return t:flip({ d1 }):transpose(d1, d2)
  end
  return t:clone()
end)

-- ---- group 2: products ---------------------------------------------------------------------

--- dot(a, b): the dot product of two 1-D tensors of the same size and dtype (a 0-d tensor).
public("dot", function (a, b)
  need_tensor(a, "input"); need_tensor(b, "other")
  if a:dim() ~= 1 or b:dim() ~= 1 or a:numel() ~= b:numel() then
    fail("expected 1-D tensors of the same size, got %s and %s", shape(a), shape(b))
  end
  same_dtype(a, b); no_bool(a)
  return core.matmul(a, b)
end)

--- vdot(a, b): the dot product of two 1-D tensors (for real tensors the same as dot).
public("vdot", function (a, b)
  return impl.dot(a, b)
end)

--- mv(mat, vec): the product of a 2-D matrix [n x m] and a 1-D vector [m] (same dtype): a vector [n].
public("mv", function (a, b)
  need_tensor(a, "input"); need_tensor(b, "vec")
  if a:dim() ~= 2 or b:dim() ~= 1 or a:size(2) ~= b:size(1) then
    fail("expected a 2-D matrix and a 1-D vector of matching sizes, got %s and %s", shape(a), shape(b))
  end
  same_dtype(a, b); no_bool(a)
  return core.matmul(a, b)
end)

-- the dims of a tensordot's dims argument as two lists of positive dims
local function contraction (a, b, dims)
  local na, nb = a:dim(), b:dim()
  local da, db
  local n = type(dims) == "number" and as_integer(dims) or nil
  if type(dims) == "number" then
    if n == nil then fail("dims must be an integer or a pair of lists, got %s", tostring(dims)) end
    if n < 0 then fail("expected dims >= 0, got %d", n) end
    if n > na or n > nb then
      fail("dims %d is more than the dimensions of %s or %s", n, shape(a), shape(b))
    end
    da, db = {}, {}
    for k = 1, n do da[k] = na - n + k; db[k] = k end
  elseif is_plain_table(dims) then
    if rawlen(dims) ~= 2 then
      fail("expected dims to be an integer or a pair of lists of dims, got a list of length %d", rawlen(dims))
    end
    local la, lb = int_list(rawget(dims, 1), "dims[1]"), int_list(rawget(dims, 2), "dims[2]")
    if #la ~= #lb then
      fail("expected both lists of dims to have the same length, got %d and %d", #la, #lb)
    end
    da, db = {}, {}
    local seen_a, seen_b = {}, {}
    for k = 1, #la do
      da[k] = norm_dim(la[k], na, "dims[1]")
      db[k] = norm_dim(lb[k], nb, "dims[2]")
      if seen_a[da[k]] then fail("dim %d appears twice in dims[1]", la[k]) end
      if seen_b[db[k]] then fail("dim %d appears twice in dims[2]", lb[k]) end
      seen_a[da[k]], seen_b[db[k]] = true, true
    end
  else
    fail("expected dims to be an integer or a pair of lists of dims, got %s", typename(dims))
  end
  for k = 1, #da do
    if a:size(da[k]) ~= b:size(db[k]) then
      fail("contracted dimensions must match, got size %d in dim %d of %s and size %d in dim %d of %s",
           a:size(da[k]), da[k], shape(a), b:size(db[k]), db[k], shape(b))
    end
  end
  return da, db
end

local function tensordot (a, b, da, db)
  local sa, sb = a:size(), b:size()
  local in_a, in_b = {}, {}
  for _, d in ipairs(da) do in_a[d] = true end
  for _, d in ipairs(db) do in_b[d] = true end
  local pa, pb, out = {}, {}, {}
  for d = 1, #sa do if not in_a[d] then pa[#pa + 1] = d; out[#out + 1] = sa[d] end end
  local free_a = #pa
  for _, d in ipairs(da) do pa[#pa + 1] = d end
  for _, d in ipairs(db) do pb[#pb + 1] = d end
  for d = 1, #sb do if not in_b[d] then pb[#pb + 1] = d; out[#out + 1] = sb[d] end end
  local K = 1
  for _, d in ipairs(da) do K = K * sa[d] end
  local ra, rb = a, b
  if #pa > 0 then ra = a:permute(pa) end
  if #pb > 0 then rb = b:permute(pb) end
  local rows = product(out, 1, free_a)
  local cols = product(out, free_a + 1, #out)
  local r = core.mm(reshape(ra, { rows, K }), reshape(rb, { K, cols }))
  return reshape(r, out)
end

--- tensordot(a, b, dims = 2): the sum of products over dims: a number n (the last n dims of a with the first n of b) or a pair of lists {{dims of a}, {dims of b}} (1-based); a and b of one dtype.
public("tensordot", function (a, b, dims)
  need_tensor(a, "a"); need_tensor(b, "b")
  if dims == nil then dims = 2 end
  local da, db = contraction(a, b, dims)
  same_dtype(a, b); no_bool(a)
  return tensordot(a, b, da, db)
end)

--- inner(a, b): the sum of products over the last dims of a and b (same size and dtype); the result is [a's other dims, b's other dims]; a 0-d a or b multiplies.
public("inner", function (a, b)
  need_tensor(a, "input"); need_tensor(b, "other")
  if a:dim() == 0 or b:dim() == 0 then return core.mul(a, b) end
  if a:size(-1) ~= b:size(-1) then
    fail("the last dimension must match on both inputs, got %s and %s", shape(a), shape(b))
  end
  same_dtype(a, b); no_bool(a)
  return tensordot(a, b, { a:dim() }, { b:dim() })
end)

--- kron(a, b): the Kronecker product of a and b (the dims of the shorter padded with leading ones; the dtype promoted as in mul).
public("kron", function (a, b)
  need_tensor(a, "input"); need_tensor(b, "other")
  local sa, sb = a:size(), b:size()
  local nd = math.max(#sa, #sb)
  if nd == 0 then return core.mul(a, b) end
  local va, vb, out = {}, {}, {}
  for d = 1, nd do
    local x = sa[d - (nd - #sa)] or 1
    local y = sb[d - (nd - #sb)] or 1
    va[2 * d - 1], va[2 * d] = x, 1
    vb[2 * d - 1], vb[2 * d] = 1, y
    out[d] = x * y
  end
  return core.mul(reshape(a, va), reshape(b, vb)):reshape(out)
end)

--- cross(a, b, dim): the cross product of 3-vectors along dim (both inputs size 3 there, the same number of dims and one dtype; other dims broadcast); with no dim, the first dim of a of size 3.
public("cross", function (a, b, dim)
  need_tensor(a, "input"); need_tensor(b, "other")
  local n = a:dim()
  if n ~= b:dim() then
    fail("expected inputs with the same number of dimensions, got %s and %s", shape(a), shape(b))
  end
  local d
  if dim == nil then
    for k = 1, n do if a:size(k) == 3 then d = k; break end end
    if d == nil then fail("no dimension of size 3 in input %s", shape(a)) end
  else
    d = norm_dim(dim, n)
  end
  if a:size(d) ~= 3 or b:size(d) ~= 3 then
    fail("dim %d must have size 3 in both inputs, got %s and %s", dim or d, shape(a), shape(b))
  end
  same_dtype(a, b); no_bool(a)
  broadcast_shape({ a, b })
  local i1 = core.tensor({ 2, 3, 1 }, { dtype = core.int64 })
  local i2 = core.tensor({ 3, 1, 2 }, { dtype = core.int64 })
  local a1, a2 = a:index_select(d, i1), a:index_select(d, i2)
  local b1, b2 = b:index_select(d, i1), b:index_select(d, i2)
  return core.sub(core.mul(a1, b2), core.mul(a2, b1))
end)

-- ---- group 3: diff, meshgrid, cartesian_prod, block_diag, diag_embed, repeat_interleave --

local DIFF_OPTS = { n = true, dim = true, prepend = true, append = true }

--- diff(t, n = 1, dim = -1, prepend, append): the n-th forward difference along dim (for bool tensors, xor); prepend and append (tensors of t's dims, same sizes but along dim) are joined first; the options may also come as a table {n =, dim =, prepend =, append =}.
public("diff", function (t, ...)
  need_tensor(t, "input")
  local args = { n = 1, dim = -1 }
  local nargs = select("#", ...)
  local names = { "n", "dim", "prepend", "append" }
  for k = 1, nargs do
    local v = select(k, ...)
    if is_plain_table(v) and k == nargs then
      for key in next, v do
        if not DIFF_OPTS[key] then fail("unknown option '%s'", tostring(key)) end
      end
      for key in pairs(DIFF_OPTS) do
        local o = rawget(v, key)
        if o ~= nil then args[key] = o end
      end
    elseif k <= 4 then
      if v ~= nil then args[names[k]] = v end
    else
      fail("expected at most 4 arguments after the input, got %d", nargs)
    end
  end
  local n = as_integer(args.n)
  if n == nil then fail("n must be an integer, got %s", type(args.n) == "number" and tostring(args.n) or typename(args.n)) end
  if n < 0 then fail("order must be non-negative, got %d", n) end
  if t:dim() == 0 then fail("expected a tensor of at least 1 dimension, got %s", shape(t)) end
  local nd = t:dim()
  local d = norm_dim(args.dim, nd)
  local parts = {}
  for _, key in ipairs({ "prepend", "append" }) do
    local p = args[key]
    if p ~= nil then
      if not is_tensor(p) then fail("expected %s to be a Tensor, got %s", key, typename(p)) end
      if p:dim() ~= nd then
        fail("expected %s to have the dimensions of the input %s, got %s", key, shape(t), shape(p))
      end
      for k = 1, nd do
        if k ~= d and p:size(k) ~= t:size(k) then
          fail("expected %s to match the input %s except along dim %d, got %s", key, shape(t), d, shape(p))
        end
      end
    end
  end
  if n == 0 then return t end
  local x = t
  if args.prepend ~= nil or args.append ~= nil then
    if args.prepend ~= nil then parts[#parts + 1] = args.prepend end
    parts[#parts + 1] = t
    if args.append ~= nil then parts[#parts + 1] = args.append end
    x = core.cat(parts, d)
  end
  local is_bool = x.dtype == core.bool
  for _ = 1, n do
    local len = x:size(d)
    if len == 0 then break end
    local hi, lo = x:narrow(d, 2, len - 1), x:narrow(d, 1, len - 1)
    x = is_bool and core.logical_xor(hi, lo) or core.sub(hi, lo)
  end
  return x
end)

-- the tensors and the options of meshgrid
local function mesh_args (...)
  local n = select("#", ...)
  local first = ...
  local opts, list
  if is_plain_table(first) then
    if n > 2 then fail("expected a list of Tensors and an options table, got %d arguments", n) end
    list = tensor_args(first)
    opts = select(2, ...)
  else
    local args = { ... }
    if n > 0 and not is_tensor(args[n]) and (is_plain_table(args[n]) or args[n] == nil) then
      opts = args[n]
      n = n - 1
    end
    list = tensor_args(table.unpack(args, 1, n))
  end
  local indexing = "ij"
  if opts ~= nil then
    if not is_plain_table(opts) then fail("expected an options table, got %s", typename(opts)) end
    for key in next, opts do
      if key ~= "indexing" then fail("unknown option '%s'", tostring(key)) end
    end
    local ix = rawget(opts, "indexing")
    if ix ~= nil then
      if ix ~= "ij" and ix ~= "xy" then
        fail("indexing must be \"ij\" or \"xy\", got %s", type(ix) == "string" and ("\"" .. ix .. "\"") or typename(ix))
      end
      indexing = ix
    end
  end
  return list, indexing
end

local function meshgrid (list, indexing)
  if #list == 0 then fail("expected a non-empty list of Tensors") end
  for k, t in ipairs(list) do
    if t:dim() > 1 then fail("expected 0-D or 1-D tensors, got %s at position %d", shape(t), k) end
    if t.dtype ~= list[1].dtype then
      fail("expected all tensors to have the same dtype, got %s and %s at position %d",
           list[1].dtype.name, t.dtype.name, k)
    end
  end
  local n = #list
  local pos = {}
  for k = 1, n do pos[k] = k end
  if indexing == "xy" and n >= 2 then pos[1], pos[2] = 2, 1 end
  local sizes = {}
  for k = 1, n do sizes[pos[k]] = list[k]:numel() end
  local out = {}
  for k, t in ipairs(list) do
    local v = {}
    for j = 1, n do v[j] = 1 end
    v[pos[k]] = sizes[pos[k]]
    out[k] = reshape(t, v):expand(sizes)
  end
  return out
end

--- meshgrid(t1, t2, ..., {indexing = "ij"}) or meshgrid({t1, t2, ...}, opts): grids (a list) that repeat each 0-D or 1-D tensor along the other tensors' dims; indexing "ij" (the default, as PyTorch 1.13) or "xy" (the first two dims swapped).
public("meshgrid", function (...)
  return meshgrid(mesh_args(...))
end)

--- cartesian_prod(t1, t2, ...) or cartesian_prod({...}): the cartesian product of 1-D tensors of one dtype, as rows of a [N x k] tensor (one tensor: itself).
public("cartesian_prod", function (...)
  local list = tensor_args(...)
  if #list == 0 then fail("expected a non-empty list of Tensors") end
  for k, t in ipairs(list) do
    if t:dim() ~= 1 then fail("expected 1-D tensors, got %s at position %d", shape(t), k) end
  end
  if #list == 1 then return list[1] end
  local grids = meshgrid(list, "ij")
  for k, g in ipairs(grids) do grids[k] = reshape(g, { -1 }) end
  return core.stack(grids, 2)
end)

--- block_diag(t1, t2, ...) or block_diag({...}): a 2-D tensor with the tensors (0-D, 1-D as a row, or 2-D) on its diagonal and zeros elsewhere; the dtype promoted over all.
public("block_diag", function (...)
  local list = tensor_args(...)
  if #list == 0 then return core.zeros({ 1, 0 }) end
  local dtype = list[1].dtype
  local blocks = {}
  local cols = 0
  for k, t in ipairs(list) do
    if t:dim() > 2 then
      fail("expected tensors of 2 or fewer dimensions, got %s at position %d", shape(t), k)
    end
    dtype = core.promote_types(dtype, t.dtype)
    blocks[k] = t:dim() == 2 and t or reshape(t, { 1, -1 })
    cols = cols + blocks[k]:size(2)
  end
  local rows = {}
  local left = 0
  for k, b in ipairs(blocks) do
    local r, c = b:size(1), b:size(2)
    rows[k] = core.cat({ core.zeros({ r, left }, { dtype = dtype }), b,
                         core.zeros({ r, cols - left - c }, { dtype = dtype }) }, 2)
    left = left + c
  end
  local out = core.cat(rows, 1)
  if out.dtype ~= dtype then out = out:to(dtype) end
  return out
end)

--- diag_embed(t, offset = 0, dim1 = -2, dim2 = -1): a tensor whose diagonals (offset, in the plane of dims dim1, dim2 of the result) hold t's last dim; the other dims are t's.
public("diag_embed", function (t, offset, dim1, dim2)
  need_tensor(t, "input")
  if offset == nil then offset = 0 end
  local k = as_integer(offset)
  if k == nil then fail("offset must be an integer, got %s", type(offset) == "number" and tostring(offset) or typename(offset)) end
  if t:dim() == 0 then fail("expected a tensor of at least 1 dimension, got %s", shape(t)) end
  local r = t:dim() + 1
  local d1 = norm_dim(dim1 == nil and -2 or dim1, r, "dim1")
  local d2 = norm_dim(dim2 == nil and -1 or dim2, r, "dim2")
  if d1 == d2 then
    fail("diagonal dimensions cannot be identical, got dim1 = %s and dim2 = %s", tostring(dim1), tostring(dim2))
  end
  local n = t:size(-1)
  local ak = math.abs(k)
  local x = t
  if ak > 0 then
    local zs = t:size()
    zs[#zs] = ak
    x = core.cat({ t, core.zeros(zs, { dtype = t.dtype }) }, -1)
  end
  -- rows hold x for offsets >= 0 (x[i] at (i, i + k)), columns for offsets < 0
  local vals = k >= 0 and x:unsqueeze(-1) or x:unsqueeze(-2)
  local mask = core.diag(core.ones({ n }), k):bool()
  local D = core.where(mask, vals, core.zeros({ 1 }, { dtype = t.dtype }))
  local perm = {}
  local b = 1
  for p = 1, r do
    if p == d1 then perm[p] = r - 1
    elseif p == d2 then perm[p] = r
    else perm[p] = b; b = b + 1 end
  end
  return D:permute(perm)
end)

local RI_OPTS = { output_size = true }
-- the most elements a tensor of repeats may ask for (its positions are built in a Lua table)
local MAX_REPEAT = 1 << 28

--- repeat_interleave(t, repeats, dim) (opts {output_size =}): each element of t (flattened when dim is nil) repeated along dim: repeats is a number or a 1-D int64 tensor of counts (one per element along dim, or one for all); repeat_interleave(counts) alone gives the 1-based positions 1..n, each repeated counts[i] times.
public("repeat_interleave", function (t, repeats, dim, opts)
  need_tensor(t, "input")
  if is_plain_table(dim) and opts == nil then opts, dim = dim, nil end
  if is_plain_table(repeats) and dim == nil and opts == nil then opts, repeats = repeats, nil end
  local output_size
  if opts ~= nil then
    if not is_plain_table(opts) then fail("expected an options table, got %s", typename(opts)) end
    for key in next, opts do
      if not RI_OPTS[key] then fail("unknown option '%s'", tostring(key)) end
    end
    output_size = rawget(opts, "output_size")
    if output_size ~= nil and as_integer(output_size) == nil then
      fail("output_size must be an integer, got %s", typename(output_size))
    end
  end
  local function counts_of (c, len)
    if c.dtype ~= core.int64 then fail("expected repeats to be an int64 tensor, got %s", c.dtype.name) end
    if c:dim() > 1 then fail("expected repeats to be a 0-D or 1-D tensor, got %s", shape(c)) end
    local v = reshape(c, { -1 }):values()
    if #v == 1 and len ~= nil and len ~= 1 then
      local one = v[1]
      v = {}
      for i = 1, len do v[i] = one end
    end
    if len ~= nil and #v ~= len then
      fail("expected repeats to have the size of the input along dim (%d), got %s", len, shape(c))
    end
    local idx, total = {}, 0
    for i = 1, #v do
      if v[i] < 0 then fail("repeats must not be negative, got %d at position %d", v[i], i) end
      total = total + v[i]
      if total > MAX_REPEAT or total < 0 then
        fail("the repeats add up to more than %d elements", MAX_REPEAT)
      end
    end
    total = 0
    for i = 1, #v do
      for _ = 1, v[i] do total = total + 1; idx[total] = i end
    end
    if output_size ~= nil and as_integer(output_size) ~= total then
      fail("output_size %s does not match the sum of repeats (%d)", tostring(output_size), total)
    end
    return idx, total
  end
  if repeats == nil then
    local idx = counts_of(t, nil)
    return reshape(core.tensor(idx, { dtype = core.int64 }), { #idx })
  end
  local x, d
  if dim == nil then x, d = reshape(t, { -1 }), 1
  else x, d = t, norm_dim(dim, t:dim()) end
  if is_tensor(repeats) then
    local idx = counts_of(repeats, x:size(d))
    local it = reshape(core.tensor(idx, { dtype = core.int64 }), { #idx })
    return x:index_select(d, it)
  end
  local rn = as_integer(repeats)
  if rn == nil then
    fail("expected repeats to be an integer or an int64 tensor, got %s", type(repeats) == "number" and tostring(repeats) or typename(repeats))
  end
  if rn < 0 then fail("repeats must not be negative, got %d", rn) end
  local s = x:size()
  if output_size ~= nil and as_integer(output_size) ~= s[d] * rn then
    fail("output_size %s does not match the sum of repeats (%d)", tostring(output_size), s[d] * rn)
  end
  local e = {}
  for i = 1, d do e[i] = s[i] end
  e[d + 1] = rn
  for i = d + 1, #s do e[i + 1] = s[i] end
  local out = {}
  for i = 1, #s do out[i] = s[i] end
  out[d] = s[d] * rn
  return reshape(x:unsqueeze(d + 1):expand(e), out)
end)

-- ---- install ----------------------------------------------------------------------------

--- the Tensor methods PyTorch has among these (the others are dm functions only)
M.METHODS = { "ravel", "broadcast_to", "fliplr", "flipud", "rot90", "dot", "vdot", "mv",
              "inner", "kron", "cross", "diff", "diag_embed", "repeat_interleave" }

--- the names install() added to dm and to Tensor (name -> true); tests read it
M.installed = { dm = {}, Tensor = {} }

local function lookup (t, k)
  local ok, v = pcall(function () return t[k] end)
  if ok and type(v) == "function" then return v end
  return nil
end

--- install(dm): puts the functions on dm, and the methods on Tensor, where the name is free.
function M.install (dm)
  local T = core.Tensor
  for _, name in ipairs(public_names) do
    if rawget(dm, name) == nil then dm[name] = M[name]; M.installed.dm[name] = true end
  end
  for _, name in ipairs(M.METHODS) do
    if lookup(T, name) == nil then T[name] = M[name]; M.installed.Tensor[name] = true end
  end
end

return M
