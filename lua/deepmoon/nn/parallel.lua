--- deepmoon.nn.parallel: nn.parallel.DistributedDataParallel, the same model on every rank
--- of an MPI job, each on its own part of the data (PyTorch's torch.nn.parallel).
--
--   local dist = dm.distributed
--   dist.init_process_group("mpi")                     -- mpirun -np 2 ./deepmoon train.lua
--   dm.manual_seed(0)                                  -- the same seed on every rank ...
--   local model = nn.parallel.DistributedDataParallel(Net())  -- ... and rank 0's values anyway
--   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
--   for xb, yb in loader do                            -- a DistributedSampler's shard
--     opt:zero_grad()
--     loss_fn(model(xb), yb):backward()                -- gradients averaged over the ranks
--     opt:step()
--   end
--   if dist.get_rank() == 0 then
--     nn.save(model.module:state_dict(), "model.safetensors")  -- keys without "module."
--   end
--
-- Gradients are averaged when backward returns (loss:backward() after a forward through the
-- wrapper in grad mode): the parameters' gradients, in buckets of about bucket_cap_mb, are
-- averaged in place (2 ranks: one allreduce whose operation is (a + b) / 2, the same bytes
-- on both since a + b is b + a; more: a sum on rank 0 broadcast to all, and every rank
-- divides the same sum by the world size) -- bit-identical gradients by construction,
-- whatever algorithm Open MPI picks -- and, with the same optimizer, bit-identical
-- parameters after every step.  A parameter of 16384 elements or more is averaged in its
-- own .grad, nothing copied; smaller neighbours share one collective on their bucket.
-- ddp.overlap = true (a deepmoon switch, off by default) starts each bucket's average while
-- the backward walk goes on, as soon as its gradients are final (engine callbacks; the
-- requests are polled at each node, since Open MPI has no progress thread).  It pays only
-- where the transfer runs beside the computation (a network card); over shared memory the
-- copies are the CPU's own work and Open MPI's nonblocking collectives were slower than its
-- blocking ones (BENCHMARKS.md, (j)).

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"

local Module = module.Module
local typename = check.typename

local M = {}

local function dist () return require "deepmoon.distributed" end

-- ---- running the gradient sync after backward ---------------------------------------------
-- A forward through a DDP in grad mode (outside no_sync) queues it; the backward that follows
-- averages its gradients.  Tensor.backward is wrapped once, when the first DDP is built.
local pending = {}
local wrapped = false

local function sync_pending ()
  local list = pending
  pending = {}
  for _, ddp in ipairs(list) do ddp:_sync_gradients() end
end

-- the arguments of t:backward([gradient] [, {gradient =, retain_graph =}]) when they are
-- well formed (else nil: the plain backward then raises its own error)
local function backward_args (a, b)
  local g, opts
  if check.is_tensor(a) then g, opts = a, b
  elseif type(a) == "table" then opts = a
  elseif a ~= nil then return nil end
  if opts == nil then return true, g, false end
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then return nil end
  for k in next, opts do
    if k ~= "gradient" and k ~= "retain_graph" then return nil end
  end
  local og = rawget(opts, "gradient")
  if og ~= nil then
    if not check.is_tensor(og) then return nil end
    g = og
  end
  return true, g, rawget(opts, "retain_graph") and true or false
end

local function wrap_backward ()
  if wrapped then return end
  wrapped = true
  local Tensor = core.Tensor
  local raw = Tensor.backward
  local D = core._dist
  --- backward (with DistributedDataParallel: averages the gradients of the models a forward
  --- in grad mode queued, across the ranks, overlapped with the walk)
  local function backward (t, a, b)
    if pending[1] == nil then return raw(t, a, b) end
    local ok, g, retain = backward_args(a, b)
    local overlap = ok and D.ddp_backward ~= nil
    for _, d in ipairs(pending) do
      if not d._reducer or not d.overlap then overlap = false end
    end
    if not overlap then
      raw(t, a, b)
      return sync_pending()
    end
    local list = pending
    pending = {}
    local reducers, count = {}, 0
    for i, d in ipairs(list) do reducers[i] = d._reducer; count = count + d._grad_numel end
    local d = dist()
    local hok, err = pcall(d._header, "DistributedDataParallel", d._CODES.ddp_step, count)
    if not hok then error(err, 0) end
    D.ddp_backward(t, g, retain, table.unpack(reducers))
    for _, m in ipairs(list) do m:_fill_missing_grads() end
  end
  Tensor.backward = backward
end

-- ---- DistributedDataParallel -----------------------------------------------------------

local DDP = Module:extend("DistributedDataParallel")

local OPTIONS = { bucket_cap_mb = "number", broadcast_buffers = "boolean", device_ids = true,
                  output_device = true, dim = true, find_unused_parameters = "boolean",
                  gradient_as_bucket_view = "boolean", static_graph = "boolean",
                  process_group = true, check_reduction = true }

local function shape_str (t) return "[" .. table.concat(t:size(), " x ") .. "]" end

-- every rank holds the same parameter names, shapes and dtypes, or all raise
local function check_same (d, names, tensors)
  local parts = {}
  for i, n in ipairs(names) do
    parts[i] = n .. " " .. shape_str(tensors[i]) .. " " .. tensors[i].dtype.name
  end
  local sig = table.concat(parts, "\n")
  local rank, world = d.get_rank(), d.get_world_size()
  local len = core.tensor({ #sig }, { dtype = core.int64 })
  d.broadcast(len, 0)
  local n0 = len:item()
  local bytes = core.zeros({ math.max(n0, 1) }, { dtype = core.uint8 })
  if rank == 0 and #sig > 0 then
    bytes:narrow(1, 1, #sig):copy_(core.tensor({ sig:byte(1, -1) }, { dtype = core.uint8 }))
  end
  d.broadcast(bytes, 0)
  local sig0 = ""
  if n0 > 0 then
    local vals = bytes:narrow(1, 1, n0):totable()
    local chunks = {}
    for i = 1, #vals, 4096 do
      chunks[#chunks + 1] = string.char(table.unpack(vals, i, math.min(i + 4095, #vals)))
    end
    sig0 = table.concat(chunks)
  end
  local bad = core.tensor({ sig0 == sig and 0 or 1 }, { dtype = core.int64 })
  local flags = {}
  d.all_gather(flags, bad)
  local differ = {}
  for r = 1, world do if flags[r]:item() ~= 0 then differ[#differ + 1] = tostring(r - 1) end end
  if #differ == 0 then return end
  local detail = ""
  if sig0 ~= sig then
    local theirs = {}
    for line in (sig0 .. "\n"):gmatch("(.-)\n") do theirs[#theirs + 1] = line end
    local k = 1
    while parts[k] == theirs[k] do k = k + 1 end
    detail = (": this rank has %s where rank 0 has %s"):format(
      parts[k] and ("'" .. parts[k] .. "'") or "no more parameters",
      theirs[k] and ("'" .. theirs[k] .. "'") or "no more parameters")
  end
  error(("DistributedDataParallel: the model's parameters differ across ranks (rank %s " ..
         "differ%s from rank 0 in parameter names, shapes or dtypes; on rank %d%s). Build " ..
         "the same model on every rank"):format(table.concat(differ, ", "),
         #differ == 1 and "s" or "", rank, detail ~= "" and detail or ", they match rank 0's"), 0)
end

--- nn.parallel.DistributedDataParallel(model [, opts]): wrap model for data-parallel
--- training over the ranks of dist.init_process_group.  opts: bucket_cap_mb (25: the size of
--- the gradient buckets averaged in one collective), broadcast_buffers (true: rank 0's
--- buffers are sent to every rank at each forward).  Checks that every rank holds the same
--- parameter names and shapes (an error on every rank otherwise) and starts every rank
--- from rank 0's parameters and buffers.  ddp.module is the model; state_dict() keys carry
--- the "module." prefix (nn.utils.consume_prefix_in_state_dict_if_present strips it).
function DDP.__init (self, model, opts)
  if not module.is_module(model) then
    error(("DistributedDataParallel: expected an nn.Module to wrap, got %s"):format(
          typename(model)), 3)
  end
  opts = check.options("DistributedDataParallel", opts, OPTIONS, 3)
  local d = dist()
  if not d.is_initialized() then
    error("DistributedDataParallel: the default process group is not initialized (call " ..
          "dist.init_process_group(\"mpi\") first)", 3)
  end
  local cap = opts.bucket_cap_mb
  if cap == nil then cap = 25 end
  if cap <= 0 then
    error(("DistributedDataParallel: bucket_cap_mb must be positive, got %s"):format(cap), 3)
  end
  self.module = model
  self.broadcast_buffers = opts.broadcast_buffers ~= false
  self.bucket_cap_mb = cap
  self.require_backward_grad_sync = true
  self.world_size = d.get_world_size()

  local names, params = {}, {}
  for n, p in model:named_parameters() do names[#names + 1] = n; params[#params + 1] = p end
  local bnames, buffers = {}, {}
  for n, b in model:named_buffers() do bnames[#bnames + 1] = n; buffers[#buffers + 1] = b end
  local all_names, all = {}, {}
  for i = 1, #names do all_names[#all_names + 1] = names[i]; all[#all + 1] = params[i] end
  for i = 1, #bnames do all_names[#all_names + 1] = "buffer " .. bnames[i]; all[#all + 1] = buffers[i] end
  local ok, err = pcall(d._header, "DistributedDataParallel", d._CODES.ddp_init, #all)
  if not ok then error(err, 3) end
  ok, err = pcall(check_same, d, all_names, all)
  if not ok then error(err, 3) end
  -- every rank starts from rank 0's values
  require("deepmoon").no_grad(function ()
    for _, t in ipairs(all) do d.broadcast(t:detach(), 0) end
  end)
  self._buffers_list = buffers
  -- buckets: parameters that require grad, last registered first (the order backward
  -- finishes them), of one dtype each, about bucket_cap_mb each
  local buckets, cur, cur_bytes = {}, nil, 0
  local limit = cap * 1024 * 1024
  for i = #params, 1, -1 do
    local p = params[i]
    if p.requires_grad then
      local bytes = p:numel() * (p.dtype == core.float64 and 8 or 4)
      if not cur or cur.dtype ~= p.dtype or (cur_bytes + bytes > limit and #cur.params > 0) then
        cur = { dtype = p.dtype, params = {}, numel = 0 }
        buckets[#buckets + 1] = cur
        cur_bytes = 0
      end
      cur.params[#cur.params + 1] = p
      cur.numel = cur.numel + p:numel()
      cur_bytes = cur_bytes + bytes
    end
  end
  local total = 0
  for _, b in ipairs(buckets) do
    b.buf = core.zeros({ math.max(b.numel, 1) }, { dtype = b.dtype })
    b.views = {}
    local off = 0
    for k, p in ipairs(b.params) do
      b.views[k] = b.buf:narrow(1, off + 1, p:numel()):view(p:size())
      off = off + p:numel()
    end
    total = total + b.numel
  end
  self._buckets = buckets
  self._grad_numel = total
  -- the C side of the overlapped sync (nil without MPI), used when ddp.overlap is true
  self.overlap = false
  if core._dist.reducer and self.world_size > 1 and #buckets > 0 then
    local specs = {}
    for i, b in ipairs(buckets) do specs[i] = { buf = b.buf, params = b.params } end
    self._reducer = core._dist.reducer(specs)
  end
  wrap_backward()
end

--- forward(...): the wrapped model's forward (rank 0's buffers first, with
--- broadcast_buffers in training mode); in grad mode it queues the gradient average for
--- the next backward, unless inside no_sync.
function DDP.forward (self, ...)
  local d = dist()
  if self.broadcast_buffers and self.training and self.world_size > 1 then
    local bufs = self._buffers_list
    if bufs[1] then
      require("deepmoon").no_grad(function ()
        for _, b in ipairs(bufs) do d.broadcast(b:detach(), 0) end
      end)
    end
  end
  if core.is_grad_enabled() and self.require_backward_grad_sync then
    local queued = false
    for _, q in ipairs(pending) do if q == self then queued = true end end
    if not queued then pending[#pending + 1] = self end
  end
  return self.module(...)
end

--- Average the parameters' gradients across the ranks now (backward does it by itself after
--- a forward in grad mode; call this after a backward that did not go through the wrapper).
function DDP._sync_gradients (self)
  local d = dist()
  local hdr = d._header
  local ok, err = pcall(hdr, "DistributedDataParallel", d._CODES.ddp_step, self._grad_numel)
  if not ok then error(err, 0) end
  if self.world_size == 1 then return end
  if self._reducer then
    -- in C: large gradients averaged where they are, small ones through their bucket
    core._dist.ddp_sync(self._reducer)
    return self:_fill_missing_grads()
  end
  require("deepmoon").no_grad(function ()
    for _, b in ipairs(self._buckets) do
      for k, p in ipairs(b.params) do
        local g = p.grad
        if g then b.views[k]:copy_(g) else b.views[k]:zero_() end
      end
      core._dist.all_reduce(b.buf, "avg")
      for k, p in ipairs(b.params) do
        local g = p.grad
        if g then g:copy_(b.views[k]) else p.grad = b.views[k]:clone() end
      end
    end
  end)
end

-- after an overlapped sync: parameters without a .grad take their bucket's average
function DDP._fill_missing_grads (self)
  for _, b in ipairs(self._buckets) do
    for k, p in ipairs(b.params) do
      if p.grad == nil then p.grad = b.views[k]:clone() end
    end
  end
end

local guard_mt = {
  __close = function (g)
    if not g.closed then g.closed = true; g.ddp.require_backward_grad_sync = g.prev end
  end,
}

--- ddp:no_sync([fn]): forwards and backwards inside skip the gradient average, so gradients
--- accumulate locally (the next backward outside averages the sum).  With fn: runs fn;
--- without: returns a guard to close, `local _ <close> = ddp:no_sync()`.
function DDP.no_sync (self, fn)
  local prev = self.require_backward_grad_sync
  self.require_backward_grad_sync = false
  if fn == nil then return setmetatable({ ddp = self, prev = prev, closed = false }, guard_mt) end
  if type(fn) ~= "function" then
    self.require_backward_grad_sync = prev
    error(("no_sync: expected a function or nothing, got %s"):format(typename(fn)), 2)
  end
  local res = table.pack(pcall(fn))
  self.require_backward_grad_sync = prev
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

M.DistributedDataParallel = DDP

--- nn.utils.consume_prefix_in_state_dict_if_present(state_dict, prefix): strip prefix (e.g.
--- "module." of a DistributedDataParallel's state_dict) from the keys that start with it, in
--- place, keeping their order.
function M._consume_prefix_in_state_dict_if_present (state_dict, prefix)
  if type(state_dict) ~= "table" then
    error(("consume_prefix_in_state_dict_if_present: expected a state_dict table, got %s")
          :format(typename(state_dict)), 2)
  end
  if type(prefix) ~= "string" then
    error(("consume_prefix_in_state_dict_if_present: prefix must be a string, got %s")
          :format(typename(prefix)), 2)
  end
  local mt = getmetatable(state_dict)
  local keys
  if type(mt) == "table" and type(rawget(mt, "keys")) == "function" then
    keys = mt.keys(state_dict)
  else
    keys = {}
    for k in next, state_dict do keys[#keys + 1] = k end
    table.sort(keys, function (a, b) return tostring(a) < tostring(b) end)
  end
  local vals, out = {}, {}
  for i, k in ipairs(keys) do
    vals[i] = rawget(state_dict, k)
    local nk = k
    if type(k) == "string" and prefix ~= "" and k:sub(1, #prefix) == prefix then
      nk = k:sub(#prefix + 1)
    end
    out[i] = nk
  end
  for _, k in ipairs(keys) do rawset(state_dict, k, nil) end
  for i, k in ipairs(out) do rawset(state_dict, k, vals[i]) end
  if module._set_state_dict_order then module._set_state_dict_order(state_dict, out) end
  return state_dict
end

return M
