--- deepmoon.data.dataset: datasets (PyTorch's torch.utils.data.TensorDataset, Subset,
--- random_split) and the protocol the DataLoader reads them through.
--
-- A dataset is anything with a length and an indexer, 1-based:
--   length   ds:len() if ds has a len method, else #ds (__len, or a plain Lua list)
--   sample   ds:get(i) if ds has a get method (it may return several values: x, y), else ds[i]
-- A sample is a tensor, a number, or several of them (returned as several values or as a
-- table {x, y}).  A dataset may also offer ds:get_batch(idx), idx a 1-D tensor of 1-based
-- indices, returning the whole batch at once (TensorDataset does: one index_select per
-- tensor); the DataLoader uses it when no collate_fn is given.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local is_tensor, typename = check.is_tensor, check.typename

local M = {}

-- Raise msg at the first caller outside deepmoon's data modules (and the shared checker):
-- the user's line, however deep inside them the problem was found (and through tail calls).
local function raise (fmt, ...)
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then error(msg, 0) end
    if info.what ~= "C" and not info.source:find("deepmoon[/\\]data[/\\]?[%w_]*%.lua$")
       and not info.source:find("deepmoon[/\\]check%.lua$") then
      break
    end
    level = level + 1
  end
  error(msg, level)
end
M._raise = raise

local function shape_str (t)
  return "[" .. table.concat(t:size(), " x ") .. "]"
end

-- 1-based index i (negative from the end) into n samples, or an error
local function check_index (what, i, n)
  local k = type(i) == "number" and math.tointeger(i)
  if not k then
    raise("%s: index must be an integer, got %s", what,
          type(i) == "number" and tostring(i) or typename(i))
  end
  if k < 0 then k = n + 1 + k end
  if k < 1 or k > n then
    raise("%s: index %d out of range for a dataset of %d samples", what, i, n)
  end
  return k
end

--- The number of samples of a dataset (see the protocol above).
-- a length a dataset gave, checked: a non-negative integer (a whole float is taken)
local function checked_length (n, what)
  local k = math.type(n) == "float" and math.tointeger(n) or n
  if math.type(k) ~= "integer" or k < 0 then
    raise("%s: the dataset's length is %s; expected a non-negative integer", what, tostring(n))
  end
  return k
end

function M.length (ds, what)
  if is_tensor(ds) and ds:is_released() then raise("%s: the dataset is a released tensor", what) end
  if type(ds) == "table" or type(ds) == "userdata" then
    local len = not is_tensor(ds) and ds.len      -- a Tensor has no member len: #ds
    if type(len) == "function" then return checked_length(len(ds), what) end
    local mt = getmetatable(ds)
    if type(ds) == "table" and (mt == nil or mt.__len) then return checked_length(#ds, what) end
    if mt and mt.__len then return checked_length(#ds, what) end
  end
  raise("%s: the dataset has no length: give it a len method or a __len metamethod (got %s)", what, typename(ds))
end

-- ---------------------------------------------------------------------------------------
-- TensorDataset

local TensorDataset = {}
local TD = {}          -- methods

--- TensorDataset(t1, t2, ...): sample i is (t1[i], t2[i], ...); all first dims equal.
local function new_tensor_dataset (...)
  local n = select("#", ...)
  if n == 0 then raise("TensorDataset: expected at least one tensor") end
  local ts = { ... }
  for k = 1, n do
    local t = ts[k]
    if not is_tensor(t) then
      raise("TensorDataset: argument %d is a %s, expected a tensor", k, typename(t))
    end
    if t:dim() == 0 then
      raise("TensorDataset: tensor %d is 0-dim; each tensor needs a first dim to index", k)
    end
  end
  local rows = ts[1]:size(1)
  for k = 2, n do
    if ts[k]:size(1) ~= rows then
      raise("TensorDataset: size mismatch between tensors: tensor 1 is %s, tensor %d is %s " .. "(the first dims must be equal)", shape_str(ts[1]), k, shape_str(ts[k]))
    end
  end
  return setmetatable({ tensors = ts, _n = rows, _k = n }, TensorDataset)
end

--- The number of samples.
function TD.len (self) return self._n end

local function td_get (self, i)
  local k = check_index("TensorDataset", i, self._n)
  local ts = self.tensors
  if self._k == 1 then return ts[1]:select(1, k) end
  if self._k == 2 then return ts[1]:select(1, k), ts[2]:select(1, k) end
  local out = {}
  for j = 1, self._k do out[j] = ts[j]:select(1, k) end
  return table.unpack(out, 1, self._k)
end

--- Sample i (1-based, negative from the end) as several values: t1[i], t2[i], ...
function TD.get (self, i) return td_get(self, i) end


--- The samples at idx (1-D tensor or list of 1-based indices), one tensor per field.
function TD.get_batch (self, idx)
  local ts = self.tensors
  if self._k == 1 then return ts[1]:index_select(1, idx) end
  if self._k == 2 then return ts[1]:index_select(1, idx), ts[2]:index_select(1, idx) end
  local out = {}
  for j = 1, self._k do out[j] = ts[j]:index_select(1, idx) end
  return table.unpack(out, 1, self._k)
end

TensorDataset.__len = TD.len
-- ds[i] is a table {t1[i], t2[i], ...} (an index can give one value only)
TensorDataset.__index = function (self, key)
  if type(key) == "number" then return { td_get(self, key) } end
  return TD[key]
end
TensorDataset.__tostring = function (self)
  local parts = {}
  for k, t in ipairs(self.tensors) do parts[k] = shape_str(t) end
  return ("TensorDataset(%d samples: %s)"):format(self._n, table.concat(parts, ", "))
end
TensorDataset.__name = "deepmoon.data.TensorDataset"
setmetatable(TensorDataset, { __call = function (_, ...) return new_tensor_dataset(...) end })
M.TensorDataset = TensorDataset

-- ---------------------------------------------------------------------------------------
-- Subset

local Subset = {}
local SS = {}

local function new_subset (dataset, indices)
  if type(dataset) ~= "table" and type(dataset) ~= "userdata" then
    raise("Subset: expected a dataset, got %s", typename(dataset))
  end
  local list
  if is_tensor(indices) then
    list = {}
    for i, v in ipairs(indices:values()) do list[i] = math.tointeger(v) or v end
  elseif type(indices) == "table" then
    -- a table whose __len claims more than it holds stops at its first hole, not at __len
    list = {}
    local len = #indices
    local n = math.tointeger(len)     -- a __len may return a float beyond integers, NaN, a string
    if not n then
      raise("Subset: the indices' length is %s; expected an integer", tostring(len))
    end
    for i = 1, n do
      local v = indices[i]
      if v == nil then
        raise("Subset: indices[%d] is nil, but the list's length is %d", i, n)
      end
      list[i] = v
    end
  else
    raise("Subset: indices must be a list of integers or a tensor, got %s", typename(indices))
  end
  local n = M.length(dataset, "Subset")
  for i, v in ipairs(list) do
    local k = type(v) == "number" and math.tointeger(v)
    if not k or k < 1 or k > n then
      raise("Subset: indices[%d] = %s is not an index of a dataset of %d samples", i, tostring(v), n)
    end
    list[i] = k
  end
  return setmetatable({ dataset = dataset, indices = list }, Subset)
end

function SS.len (self) return #self.indices end

--- Sample i of the subset: sample indices[i] of the dataset, as the dataset gives it.
function SS.get (self, i)
  local k = check_index("Subset", i, #self.indices)
  local ds = self.dataset
  if type(ds.get) == "function" then return ds:get(self.indices[k]) end
  return ds[self.indices[k]]
end

--- The batch at idx, when the dataset can fetch batches itself.
function SS.get_batch (self, idx)
  local ds = self.dataset
  if not self._index_tensor then
    self._index_tensor = core.tensor(self.indices)
  end
  return ds:get_batch(self._index_tensor:index_select(1, idx))
end

Subset.__len = SS.len
Subset.__index = function (self, key)
  if type(key) == "number" then
    local k = check_index("Subset", key, #self.indices)
    local ds = self.dataset
    if type(ds.get) == "function" and getmetatable(ds) ~= TensorDataset then
      local r = table.pack(ds:get(self.indices[k]))
      if r.n == 1 then return r[1] end
      return { table.unpack(r, 1, r.n) }
    end
    return ds[self.indices[k]]
  end
  if key == "get_batch" then
    -- only when the wrapped dataset has one
    local ds = rawget(self, "dataset")
    if ds and type(ds.get_batch) == "function" then return SS.get_batch end
    return nil
  end
  return SS[key]
end
Subset.__tostring = function (self)
  return ("Subset(%d of %d samples)"):format(#self.indices, M.length(self.dataset, "Subset"))
end
Subset.__name = "deepmoon.data.Subset"
setmetatable(Subset, { __call = function (_, dataset, indices) return new_subset(dataset, indices) end })
M.Subset = Subset

-- ---------------------------------------------------------------------------------------
-- size

--- The bytes of tensor data a dataset holds, for a TensorDataset or a Subset of one (nil for
--- other datasets).  The DataLoader uses it to decide whether a whole epoch may be gathered
--- at once.
function M.bytes (ds)
  local mt = getmetatable(ds)
  if mt == TensorDataset then
    local b = 0
    for _, t in ipairs(ds.tensors) do b = b + 4 * t:numel() end
    return b
  elseif mt == Subset then
    local inner = M.bytes(ds.dataset)
    local n = M.length(ds.dataset, "Subset")
    if inner == nil or n == 0 then return inner end
    return inner // n * #ds.indices
  end
  return nil
end

-- ---------------------------------------------------------------------------------------
-- random_split

local SPLIT_OPTIONS = { generator = "generator" }

--- random_split(dataset, lengths [, {generator = g}]): disjoint random Subsets, returned as
--- several values.  lengths are counts summing to #dataset, or fractions summing to 1
--- (PyTorch 1.13's rule: floor(n * f) each, the remainder handed out one by one from the
--- first).  The generator may also be given directly as the third argument.
function M.random_split (dataset, lengths, opts)
  local g
  if check.is_generator(opts) then
    g = opts
  else
    g = check.options("random_split", opts, SPLIT_OPTIONS, raise).generator
  end
  if type(lengths) ~= "table" or is_tensor(lengths) then
    raise("random_split: lengths must be a list of numbers, got %s", typename(lengths))
  end
  local n = M.length(dataset, "random_split")
  local total = 0
  for i = 1, #lengths do
    local v = lengths[i]
    if type(v) ~= "number" then
      raise("random_split: lengths[%d] is a %s, expected a number", i, typename(v))
    end
    total = total + v
  end
  local counts = {}
  -- math.isclose(total, 1) with Python's default rel_tol 1e-9
  if math.abs(total - 1) <= 1e-9 * math.max(math.abs(total), 1) and total <= 1 then
    local sum = 0
    for i = 1, #lengths do
      local f = lengths[i]
      if f < 0 or f > 1 then
        raise("random_split: fraction at index %d is not between 0 and 1", i)
      end
      counts[i] = math.floor(n * f)
      sum = sum + counts[i]
    end
    for r = 0, n - sum - 1 do
      local k = r % #counts + 1
      counts[k] = counts[k] + 1
    end
  else
    for i = 1, #lengths do
      local c = math.tointeger(lengths[i])
      if not c or c < 0 then
        raise("random_split: lengths[%d] = %s is neither a non-negative count nor a fraction", i, tostring(lengths[i]))
      end
      counts[i] = c
    end
  end
  local sum = 0
  for i = 1, #counts do sum = sum + counts[i] end
  if sum ~= n then
    raise("random_split: sum of input lengths (%d) does not equal the length of the input dataset (%d)", sum, n)
  end
  local perm = core.randperm(n, g and { generator = g } or nil):values()
  local out, offset = {}, 0
  for i = 1, #counts do
    local idx = {}
    for j = 1, counts[i] do idx[j] = math.tointeger(perm[offset + j]) end
    offset = offset + counts[i]
    out[i] = setmetatable({ dataset = dataset, indices = idx }, Subset)
  end
  return table.unpack(out, 1, #counts)
end

return M
