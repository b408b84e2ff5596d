--- deepmoon.data.dataloader: batches of a dataset, PyTorch's torch.utils.data.DataLoader.
--
--   local loader = data.DataLoader(data.TensorDataset(x, y), {batch_size = 32, shuffle = true})
--   for epoch = 1, 10 do
--     for xb, yb in loader do ... end          -- one pass over the data, freshly shuffled
--   end
--   print(#loader)                             -- batches per epoch
--
-- Three ways to iterate, each one epoch:
--   for xb, yb in loader do             the loader is callable: a call whose control value is
--                                       nil (the first call of a for loop) starts an epoch,
--                                       so a loop left early and begun again starts afresh;
--                                       two such loops over one loader cannot be nested
--   for xb, yb in loader:iter() do      an independent iterator (nesting is fine)
--   for i, xb, yb in loader:batches() do   the same with the batch number first
--
-- Options (PyTorch's names): batch_size (1), shuffle (false: a new permutation each epoch
-- from `generator`, or from the default generator), drop_last (false), generator,
-- collate_fn (receives the list of samples; what it returns is yielded, a plain list
-- being spread into several values).  num_workers and pin_memory are accepted and
-- ignored: batches are made in the calling thread, in CPU memory.
--
-- Without collate_fn, a dataset that can fetch whole batches (ds:get_batch(idx), as
-- TensorDataset and its Subsets) gives each batch with one index_select per tensor, or, for
-- a TensorDataset (or a Subset of one) of at most 32 MB, gathers the whole epoch in its
-- order once and gives each batch as a view of that copy (never of the dataset); other
-- datasets go sample by sample through default_collate: tensors are stacked along a new
-- first dim, numbers become a 1-D tensor (int64 when all are integers, else the default
-- float dtype, as dm.tensor infers), booleans a bool tensor, strings stay a list, tables of
-- fields are collated field by field (a sample of several values, or a list {x, y}, yields
-- several batch values; a table with named fields yields one table of batches).

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local dataset = require "deepmoon.data.dataset"

local is_tensor, typename = check.is_tensor, check.typename
local narrow = core.Tensor.narrow        -- the C function: no method lookup per batch
local length = dataset.length

local DataLoader = {}

-- datasets up to this size are gathered once per epoch (one copy), batches being views of it
local GATHER_LIMIT = 32 * 1024 * 1024
local DL = {}              -- methods

local fail = dataset._raise     -- raises at the user's line

-- ---------------------------------------------------------------------------------------
-- default collate

local collate

local function column (batch, f)
  local col = {}
  for j = 1, #batch do col[j] = batch[j][f] end
  return col
end

-- samples nest at most this deep (a table that holds itself would recurse without end)
local MAX_NESTING = 32

collate = function (batch, where, depth)
  depth = depth or 0
  if depth > MAX_NESTING then
    fail("DataLoader: default collate: samples nest deeper than %d tables (does a sample hold itself?)",
         MAX_NESTING)
  end
  local first = batch[1]
  local kind = is_tensor(first) and "tensor" or type(first)
  if first == nil then   -- no sample 1: the message below, without walking a __len that lies
    fail("DataLoader: default collate: %ssamples are %ss; expected tensors, numbers, strings or tables of them",
         where, kind)
  end
  for j = 2, #batch do
    local v = batch[j]
    local k = is_tensor(v) and "tensor" or type(v)
    if k ~= kind then
      fail("DataLoader: default collate: %ssample %d is a %s, sample 1 is a %s", where, j, k, kind)
    end
  end
  if kind == "tensor" then
    local ok, res = pcall(core.stack, batch)
    if not ok then
      local s1 = "[" .. table.concat(first:size(), " x ") .. "]"
      for j = 2, #batch do
        local sj = "[" .. table.concat(batch[j]:size(), " x ") .. "]"
        if sj ~= s1 then
          fail("DataLoader: default collate: %ssample %d has size %s, sample 1 has size %s",
               where, j, sj, s1)
        end
      end
      fail("DataLoader: default collate: %s%s", where, tostring(res))
    end
    return res
  elseif kind == "number" or kind == "boolean" then
    return core.tensor(batch)
  elseif kind == "string" then
    local v = {}
    for j = 1, #batch do v[j] = batch[j] end
    return v
  elseif kind == "table" then
    local nf = #first
    if nf > 0 then
      for j = 2, #batch do
        if #batch[j] ~= nf then
          fail("DataLoader: default collate: %ssample %d has %d fields, sample 1 has %d",
               where, j, #batch[j], nf)
        end
      end
      local out = {}
      for f = 1, nf do out[f] = collate(column(batch, f), ("%sfield %d: "):format(where, f), depth + 1) end
      return out
    end
    local out = {}
    for key in pairs(first) do
      for j = 2, #batch do
        if batch[j][key] == nil then
          fail("DataLoader: default collate: %ssample %d has no field '%s'", where, j, tostring(key))
        end
      end
      out[key] = collate(column(batch, key), ("%sfield '%s': "):format(where, tostring(key)),
                         depth + 1)
    end
    return out
  end
  fail("DataLoader: default collate: %ssamples are %ss; expected tensors, numbers, strings or tables of them",
       where, kind)
end

--- PyTorch's default_collate: the batch of a list of samples (see above); a sample that is
--- a list of fields gives several values.
local function default_collate (samples)
  if type(samples) ~= "table" or is_tensor(samples) then
    error(("default_collate: expected a list of samples, got %s"):format(
      is_tensor(samples) and "tensor" or type(samples)), 2)
  end
  local first = samples[1]
  local out = collate(samples, "")
  if type(first) == "table" and not is_tensor(first) and #first > 0 then
    return table.unpack(out, 1, #first)
  end
  return out
end

-- what a collate_fn returned: one plain list is spread into several values
local function spread (...)
  if select("#", ...) == 1 then
    local v = ...
    if type(v) == "table" and getmetatable(v) == nil and v[1] ~= nil then
      return table.unpack(v, 1, #v)
    end
  end
  return ...
end

-- ---------------------------------------------------------------------------------------
-- epochs

local function sample (ds, i)
  local get = ds.get
  local v
  if type(get) == "function" then
    local r = table.pack(get(ds, i))
    if r.n == 1 then v = r[1]
    elseif r.n > 1 then r.n = nil; v = r end
  else
    v = ds[i]
  end
  if v == nil then fail("DataLoader: sample %d of the dataset is nil", i) end
  return v
end

local function start_epoch (self)
  local ds = self.dataset
  local n = length(ds, "DataLoader")
  local bs = self.batch_size
  local e = { n = n, b = 0, pos = 1, nb = self.drop_last and n // bs or (n + bs - 1) // bs,
              fast = self.collate_fn == nil and type(ds.get_batch) == "function" }
  if self.shuffle then
    local perm = core.randperm(n, self._gen_opts)
    if e.fast then
      e.order = perm
    else
      local v = perm:values()
      for i = 1, n do v[i] = math.tointeger(v[i]) end
      e.list = v
    end
  elseif e.fast then
    if not self._seq or #self._seq ~= n then self._seq = core.arange(1, n + 1) end
    e.order = self._seq
  end
  if e.fast and n > 0 then
    local bytes = dataset.bytes(ds)
    if bytes and bytes <= (self._gather_limit or GATHER_LIMIT) then
      local w = table.pack(ds:get_batch(e.order))
      e.k, e.whole = w.n, w
    end
  end
  return e
end

local function slow_batch (self, e, start, len)
  local ds, list = self.dataset, e.list
  local samples = {}
  for j = 1, len do
    local i = start + j - 1
    samples[j] = sample(ds, list and list[i] or i)
  end
  if self.collate_fn then return spread(self.collate_fn(samples)) end
  return default_collate(samples)
end

-- the next batch of epoch e, or nothing at its end
local function next_batch (self, e)
  if e.b >= e.nb then return nil end
  e.b = e.b + 1
  local start = e.pos
  local len = e.n - start + 1
  if len > self.batch_size then len = self.batch_size end
  e.pos = start + len
  local w = e.whole
  if w then
    local k = e.k
    if k == 2 then return narrow(w[1], 1, start, len), narrow(w[2], 1, start, len) end
    if k == 1 then return narrow(w[1], 1, start, len) end
    local out = {}
    for j = 1, k do out[j] = narrow(w[j], 1, start, len) end
    return table.unpack(out, 1, k)
  end
  if e.fast then return self.dataset:get_batch(e.order:narrow(1, start, len)) end
  return slow_batch(self, e, start, len)
end

--- An iterator over one epoch: `for xb, yb in loader:iter() do`.
function DL.iter (self)
  local e = start_epoch(self)
  return function () return next_batch(self, e) end
end

--- An iterator over one epoch giving the batch number first: `for i, xb, yb in loader:batches()`.
function DL.batches (self)
  local e = start_epoch(self)
  return function ()
    if e.b >= e.nb then return nil end
    local k = e.b + 1
    return k, next_batch(self, e)
  end
end

--- The number of batches in an epoch.
function DL.len (self)
  local n = length(self.dataset, "DataLoader")
  local bs = self.batch_size
  return self.drop_last and n // bs or (n + bs - 1) // bs
end

DataLoader.__index = DL
DataLoader.__len = DL.len
DataLoader.__name = "deepmoon.data.DataLoader"

-- `for xb, yb in loader do`: the generic for calls loader(nil, control); control is nil
-- only on a loop's first call, which starts an epoch
DataLoader.__call = function (self, _, control)
  local e = self._epoch
  if control == nil or not e then
    e = start_epoch(self)
    self._epoch = e
  end
  if e.b >= e.nb then
    self._epoch = nil
    return nil
  end
  return next_batch(self, e)
end

DataLoader.__tostring = function (self)
  return ("DataLoader(%s batches of %s%s%s)"):format(DL.len(self), self.batch_size,
    self.shuffle and ", shuffled" or "", self.drop_last and ", drop_last" or "")
end

-- ---------------------------------------------------------------------------------------
-- construction

-- the options; true: checked in new with the range it must be in
local OPTIONS = { batch_size = true, shuffle = "boolean", drop_last = "boolean",
                  generator = "generator", collate_fn = "callable", num_workers = true,
                  pin_memory = "boolean" }
-- sampler (data.DistributedSampler, or a list of indices): the loader reads ds through it
OPTIONS.sampler = true

local function new (ds, ...)
  local opts = {}
  local nargs = select("#", ...)
  local a, b, c = ...
  if nargs == 1 and type(a) == "table" then
    opts = a
  elseif nargs > 0 then
    -- DataLoader(ds, batch_size [, shuffle] [, opts])
    local last = select(nargs, ...)
    local pos = nargs
    if type(last) == "table" then
      for k, v in pairs(last) do opts[k] = v end
      pos = nargs - 1
    end
    if pos > 2 then fail("DataLoader: too many arguments (batch_size and shuffle may come "
                         .. "before the options table)") end
    local named = { "batch_size", "shuffle" }
    local vals = { a, b, c }
    for i = 1, pos do
      if vals[i] ~= nil then
        if opts[named[i]] ~= nil then fail("DataLoader: option '%s' given twice", named[i]) end
        opts[named[i]] = vals[i]
      end
    end
  end
  check.options("DataLoader", opts, OPTIONS, fail)
  if is_tensor(ds) then
    if ds:dim() == 0 then fail("DataLoader: a 0-dim tensor is not a dataset") end
    ds = dataset.TensorDataset(ds)
  elseif type(ds) ~= "table" and type(ds) ~= "userdata" then
    fail("DataLoader: expected a dataset, got %s", typename(ds))
  end
  if opts.sampler ~= nil then
    if opts.shuffle then fail("DataLoader: sampler option is mutually exclusive with shuffle") end
    ds = require("deepmoon.data.sampler")._sampled(ds, opts.sampler)
  end
  length(ds, "DataLoader")
  local bs = opts.batch_size
  if bs == nil then bs = 1 end
  if type(bs) ~= "number" or math.tointeger(bs) == nil or bs < 1 then
    fail("DataLoader: batch_size must be a positive integer, got %s",
         type(bs) == "number" and tostring(bs) or typename(bs))
  end
  local g = opts.generator
  local nw = opts.num_workers
  if nw ~= nil and (type(nw) ~= "number" or math.tointeger(nw) == nil or nw < 0) then
    fail("DataLoader: num_workers must be a non-negative integer, got %s", tostring(nw))
  end
  return setmetatable({
    dataset = ds,
    batch_size = math.tointeger(bs),
    shuffle = opts.shuffle or false,
    drop_last = opts.drop_last or false,
    generator = g,
    collate_fn = opts.collate_fn,
    _gen_opts = g and { generator = g } or nil,
  }, DataLoader)
end

setmetatable(DataLoader, {
  __call = function (_, ds, ...) return new(ds, ...) end,
})

return { DataLoader = DataLoader, default_collate = default_collate }
