--- deepmoon.data.sampler: data.DistributedSampler, each rank's share of a dataset (PyTorch's
--- torch.utils.data.distributed.DistributedSampler), and the DataLoader's sampler option.
--
--   local sampler = data.DistributedSampler(train)      -- num_replicas, rank from dist
--   local loader = data.DataLoader(train, {batch_size = 64, sampler = sampler})
--   for epoch = 1, 10 do
--     sampler:set_epoch(epoch)                          -- a new permutation each epoch
--     for xb, yb in loader do ... end
--   end
--
-- Padding and striding are PyTorch's: the indices (a permutation of 1..n drawn from a
-- generator seeded with seed + epoch, or 1..n in order) are padded with their own first
-- entries to a multiple of num_replicas (or cut down to one, with drop_last), and rank r
-- takes entries r + 1, r + 1 + num_replicas, ...  Every rank gets the same number of
-- samples.  The permutation itself is deepmoon's generator's, not torch's: the same seed
-- shuffles differently than in PyTorch, and identically on every rank.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local dataset = require "deepmoon.data.dataset"

local typename = check.typename
local M = {}

--- data.DistributedSampler(dataset [, opts]): this rank's share of dataset.  opts:
--- num_replicas (default: dist.get_world_size()), rank (0-based; default
--- dist.get_rank()), shuffle (true), seed (0), drop_last (false: pad with repeated
--- samples so every rank gets ceil(n / num_replicas); true: drop the tail instead).
--- Give it to data.DataLoader as {sampler = s}; call s:set_epoch(e) before each epoch.
local DistributedSampler = {}
local DS = {}
local LIST_LIMIT = 1 << 26       -- indices per rank a Lua list may hold here

local OPTIONS = { num_replicas = "number", rank = "number", shuffle = "boolean",
                  seed = "number", drop_last = "boolean" }

local function int_opt (name, v, level)
  if math.type(v) == "float" then v = math.tointeger(v) or v end
  if math.type(v) ~= "integer" then
    error(("DistributedSampler: %s must be an integer, got %s"):format(name, tostring(v)), level + 1)
  end
  return v
end

-- the constructor (documented above DistributedSampler)
local function new (ds, opts)
  if type(ds) ~= "table" and type(ds) ~= "userdata" then
    error(("DistributedSampler: expected a dataset, got %s"):format(typename(ds)), 3)
  end
  opts = check.options("DistributedSampler", opts, OPTIONS, 3)
  local n = dataset.length(ds, "DistributedSampler")
  local replicas, rank = opts.num_replicas, opts.rank
  if replicas == nil or rank == nil then
    local dist = require "deepmoon.distributed"
    if not dist.is_initialized() then
      error("DistributedSampler: give num_replicas and rank, or call " ..
            "dist.init_process_group(\"mpi\") first", 3)
    end
    replicas = replicas or dist.get_world_size()
    rank = rank or dist.get_rank()
  end
  replicas = int_opt("num_replicas", replicas, 3)
  rank = int_opt("rank", rank, 3)
  if replicas < 1 then
    error(("DistributedSampler: num_replicas must be positive, got %d"):format(replicas), 3)
  end
  if rank < 0 or rank >= replicas then
    error(("DistributedSampler: invalid rank %d, rank should be in the interval [0, %d]")
          :format(rank, replicas - 1), 3)
  end
  local drop_last = opts.drop_last or false
  local num_samples
  if drop_last and n % replicas ~= 0 then
    num_samples = math.ceil((n - replicas) / replicas)
  else
    num_samples = math.ceil(n / replicas)
  end
  return setmetatable({
    dataset = ds, num_replicas = replicas, rank = rank, epoch = 0,
    drop_last = drop_last, shuffle = opts.shuffle ~= false,
    seed = int_opt("seed", opts.seed or 0, 3),
    num_samples = math.tointeger(num_samples), total_size = math.tointeger(num_samples * replicas),
  }, DistributedSampler)
end

--- The indices (1-based) of this rank for the current epoch, as a list.
function DS.indices (self)
  local n = dataset.length(self.dataset, "DistributedSampler")
  if self.num_samples > LIST_LIMIT or n > LIST_LIMIT * 4 then
    error(("DistributedSampler: %d samples (%d per rank) are too many for a list of indices")
          :format(n, self.num_samples), 2)
  end
  local base
  if self.shuffle then
    local g = core.Generator(self.seed + self.epoch)
    base = core.randperm(n, { generator = g }):totable()
  end
  if n == 0 and self.total_size > 0 then error("DistributedSampler: the dataset is empty", 2) end
  -- the whole list is base (1..n in order without shuffle) padded cyclically with its own
  -- first entries to total_size (drop_last: cut to it); rank r takes entries r+1, r+1+R, ...
  local out, reps = {}, self.num_replicas
  for k = 1, self.num_samples do
    local j = self.rank + 1 + (k - 1) * reps
    local p = (j - 1) % n + 1
    out[k] = math.tointeger(base and base[p] or p)
  end
  return out
end

--- An iterator over this rank's indices for the current epoch: `for i in s:iter() do`.
function DS.iter (self)
  local list, k = DS.indices(self), 0
  return function ()
    k = k + 1
    return list[k]
  end
end

--- The number of indices per epoch on this rank (the same on every rank).
function DS.len (self) return self.num_samples end

--- Set the epoch: with shuffle, each epoch draws its own permutation (from seed + epoch),
--- the same on every rank.  Call it before each epoch's DataLoader loop.
function DS.set_epoch (self, epoch)
  self.epoch = int_opt("epoch", epoch, 2)
end

DistributedSampler.__index = DS
DistributedSampler.__len = DS.len
DistributedSampler.__name = "deepmoon.data.DistributedSampler"
DistributedSampler.__tostring = function (self)
  return ("DistributedSampler(rank %d of %d, %d samples%s%s)"):format(self.rank,
    self.num_replicas, self.num_samples, self.shuffle and ", shuffled" or "",
    self.drop_last and ", drop_last" or "")
end
setmetatable(DistributedSampler, { __call = function (_, ...) return new(...) end })
M.DistributedSampler = DistributedSampler

-- ---- the DataLoader's sampler option ----------------------------------------------------
-- DataLoader(ds, {sampler = s}) loads ds through a view whose sample i is ds's sample
-- s:indices()[i]; the indices are drawn again whenever the loader starts an epoch (it asks
-- the length first), so set_epoch takes effect at the next loop.

local Sampled = {}
local SP = {}
Sampled.__index = SP

local function bad_sampler (sampler)
  dataset._raise("DataLoader: sampler must be a list of indices or an object with an indices " ..
                 "or iter method, got %s", typename(sampler))
end

-- a copy of list[1 .. rawlen(list)], every one an integer; otherwise msg (formatted with the
-- position and the type) is raised
local function int_list (list, msg)
  local out = {}
  for i = 1, rawlen(list) do
    local v = rawget(list, i)
    if math.type(v) ~= "integer" then dataset._raise(msg, i, typename(v)) end
    out[i] = v
  end
  return out
end

local function indices_of (sampler)
  if type(sampler) == "table" and getmetatable(sampler) == nil then
    return int_list(sampler, "DataLoader: sampler[%d] must be an integer index, got %s")
  end
  local f = sampler.indices
  if type(f) == "function" then
    local list = f(sampler)
    if type(list) ~= "table" then
      dataset._raise("DataLoader: sampler:indices() must return a list, got %s", typename(list))
    end
    return int_list(list, "DataLoader: sampler index %d must be an integer, got %s")
  end
  f = sampler.iter
  if type(f) == "function" then
    local out = {}
    for i in f(sampler) do
      if math.type(i) ~= "integer" then
        dataset._raise("DataLoader: sampler index %d must be an integer, got %s", #out + 1, typename(i))
      end
      out[#out + 1] = i
    end
    return out
  end
  bad_sampler(sampler)
end

function SP.len (self)
  local list = indices_of(self._sampler)
  self._list, self._order = list, nil
  return #list
end

function SP.get (self, i)
  local j = self._list[i]
  local ds = self._ds
  if type(ds.get) == "function" then return ds:get(j) end
  return ds[j]
end

function SP.get_batch (self, idx)
  if not self._order then
    self._order = core.tensor(#self._list > 0 and self._list or { 1 }, { dtype = core.int64 })
  end
  return self._ds:get_batch(self._order:index_select(1, idx))
end

--- (private) the dataset the DataLoader reads with a sampler
function M._sampled (ds, sampler)
  if type(sampler) ~= "table" and type(sampler) ~= "userdata" then bad_sampler(sampler) end
  local fast = type(ds.get_batch) == "function"
  local v = setmetatable({ _ds = ds, _sampler = sampler, _list = {} }, Sampled)
  if not fast then rawset(v, "get_batch", false) end
  return v
end

return M
