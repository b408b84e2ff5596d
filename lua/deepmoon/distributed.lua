--- deepmoon.distributed: data-parallel training over MPI (PyTorch's torch.distributed, the
--- "mpi" backend).  Ranks are 0-based, as MPI and mpirun number them.
--
--   local dist = dm.distributed
--   dist.init_process_group("mpi")            -- under `mpirun -np 2 ./deepmoon train.lua`
--   local rank, world = dist.get_rank(), dist.get_world_size()
--   local t = dm.ones(3) * rank
--   dist.all_reduce(t, {op = "sum"})          -- every rank now holds 0 + 1 + ...
--   dist.destroy_process_group()
--
-- A script started without mpirun is a world of one.  Every collective works in place on
-- CPU tensors of any dtype (a non-contiguous tensor is copied and written back).  Before each
-- collective the ranks exchange a small header (what they are about to do, with how many
-- elements of which dtype) on a communicator of its own: ranks that disagree -- one left
-- (destroy_process_group or the end of its script) while the others started another step,
-- or two called different collectives -- all raise a clear error instead of hanging.
-- all_reduce of floating tensors with sum, avg or prod reduces to rank 0 and broadcasts
-- rank 0's bytes, so every rank holds bit-identical results whatever algorithm Open MPI
-- picks.  Each rank uses one BLAS thread under mpirun unless OPENBLAS_NUM_THREADS (or
-- OMP_NUM_THREADS) says otherwise.  Built without MPI (make MPI=0), is_available() is false.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local D = core._dist
local M = {}

local typename = check.typename

--- dist.ReduceOp: the reduction ops (PyTorch's dist.ReduceOp) SUM, AVG, MAX, MIN, PRODUCT,
--- which are the strings "sum", "avg", "max", "min", "prod" (either may be given as op).
local function reduce_op () end
M.ReduceOp = { SUM = "sum", AVG = "avg", MAX = "max", MIN = "min", PRODUCT = "prod",
               __init = reduce_op }      -- (__init: where help() finds the doc above)

-- header codes (what a rank is about to do)
local CODES = { barrier = 1, all_reduce = 2, broadcast = 3, all_gather = 4, reduce = 5,
                gather = 6, scatter = 7, reduce_scatter = 8, ddp_step = 9, ddp_init = 10,
                leave = 11 }
local NAMES = {}
for k, v in pairs(CODES) do NAMES[v] = k end
local function what (code)
  local n = NAMES[code]
  if n == "leave" then return "left the process group (destroy_process_group or the end of its script)" end
  if n == "ddp_step" then return "started a DistributedDataParallel gradient sync (a backward pass)" end
  if n == "ddp_init" then return "built a DistributedDataParallel" end
  return "called " .. (n or "?")
end

local DTYPE_CODE = { float32 = 1, float64 = 2, int64 = 3, uint8 = 4, bool = 5 }
local OP_CODE = { sum = 1, avg = 2, max = 3, min = 4, prod = 5 }

local state = { rank = 0, size = 1, sentinel = nil, step = 0 }

local function mismatch_message (fn, code, hi, lo, chi, clo)
  local me = ("rank %d"):format(state.rank)
  if hi ~= lo then
    local leave = CODES.leave
    if hi == leave or lo == leave then
      local other = hi == leave and lo or hi
      return ("%s: uneven inputs across ranks (%s): one rank %s while another %s. Every rank " ..
              "must run the same number of steps: give each the same number of batches " ..
              "(data.DistributedSampler gives equal shards; drop_last = true in the " ..
              "DataLoader drops a short last batch)"):format(fn, me, what(leave), what(other))
    end
    return ("%s: ranks disagree (%s): one rank %s while another %s; every rank must call " ..
            "the same collectives in the same order"):format(fn, me, what(lo), what(hi))
  end
  if code == CODES.ddp_step then
    return ("%s: ranks disagree (%s) on the gradients to average (a backward over parameters " ..
            "of another size or dtype on some rank)"):format(fn, me)
  end
  return ("%s: ranks disagree (%s) on the tensor's size, dtype, op or root (the tensors of " ..
          "a collective must have the same number of elements and dtype on every rank)")
         :format(fn, me)
end

-- exchange the header of a collective; raise on every rank when they disagree
local function header (fn, code, count, level)
  local same, hi, lo, chi, clo = D.ctrl(code, count or 0)
  if not same then error(mismatch_message(fn, code, hi, lo, chi, clo), 0) end
end
M._header = header
M._CODES = CODES

local function need_init (fn, level)
  if not D.is_initialized() then
    error(fn .. ": the default process group is not initialized (call " ..
          "dist.init_process_group(\"mpi\") first)", level + 1)
  end
end

local function need_tensor (fn, t, argname, level)
  if not check.is_tensor(t) then
    error(("%s: %s must be a Tensor, got %s"):format(fn, argname, typename(t)), level + 1)
  end
  if t:is_released() then
    error(("%s: %s is a released tensor"):format(fn, argname), level + 1)
  end
end

local function tcount (t, op, root)
  return ((t:numel() * 8 + DTYPE_CODE[t.dtype.name]) * 8 + (OP_CODE[op] or 0)) * 1024
         + (root or 0) % 1024
end

local function get_op (fn, opts, level)
  if opts == nil then return "sum" end
  local op = opts
  if type(opts) == "table" then
    for k in next, opts do
      if k ~= "op" and k ~= "group" and k ~= "async_op" then
        error(("%s: unknown option '%s' (expected op)"):format(fn, tostring(k)), level + 1)
      end
    end
    op = rawget(opts, "op")
    if op == nil then return "sum" end
  end
  if type(op) ~= "string" or not OP_CODE[op] then
    error(("%s: op must be one of \"sum\", \"avg\", \"max\", \"min\", \"prod\", got %s")
          :format(fn, type(op) == "string" and ("'" .. op .. "'") or typename(op)), level + 1)
  end
  return op
end

local function get_rank_arg (fn, r, argname, level)
  if math.type(r) ~= "integer" then
    error(("%s: %s must be an integer rank, got %s"):format(fn, argname, typename(r)), level + 1)
  end
  if r < 0 or r >= state.size then
    error(("%s: %s %d is not a rank (0 to %d)"):format(fn, argname, r, state.size - 1), level + 1)
  end
  return r
end

-- ---- the process group ------------------------------------------------------------------

--- Is deepmoon built with MPI?  (make MPI=0 builds without it.)
function M.is_available ()
  return D.available()
end

--- Has init_process_group run (and destroy_process_group not)?
function M.is_initialized ()
  return D.is_initialized()
end

-- at the end of the script (the Lua state closing): leave as destroy_process_group would;
-- when other ranks started another step instead, say so and end with an error
local function on_exit ()
  if not D.is_initialized() then return end
  if D.broken() then D.finalize(); return end
  local ok, err = pcall(header, "end of script", CODES.leave, 0)
  if ok then D.finalize(); return end
  io.stderr:write("deepmoon.distributed: " .. tostring(err) .. "\n")
  io.stderr:flush()
  D.finalize()
  os.exit(1)
end

--- init_process_group("mpi" [, opts]): join the job mpirun started (a world of one without
--- mpirun).  opts: rank, world_size (checked against MPI's when given), init_method (ignored).
--- Under mpirun each rank uses one BLAS thread unless OPENBLAS_NUM_THREADS or
--- OMP_NUM_THREADS is set.
function M.init_process_group (backend, opts)
  if backend ~= "mpi" and not (type(backend) == "table" and opts == nil) then
    if type(backend) ~= "string" then
      error(("init_process_group: backend must be \"mpi\", got %s"):format(typename(backend)), 2)
    end
    error(("init_process_group: backend '%s' is not supported (deepmoon has \"mpi\")")
          :format(backend), 2)
  end
  if type(backend) == "table" then opts = backend end
  if opts ~= nil and type(opts) ~= "table" then
    error(("init_process_group: expected an options table, got %s"):format(typename(opts)), 2)
  end
  if not D.available() then
    error("init_process_group: deepmoon was built without MPI: install Open MPI (apt-get " ..
          "install openmpi-bin libopenmpi-dev) and rebuild with `make` (MPI=1, the default), " ..
          "then launch with `mpirun -np N ./deepmoon script.lua`", 2)
  end
  local rank, size = D.init()
  state.rank, state.size = rank, size
  if opts then
    for k, v in next, opts do
      if k == "rank" or k == "world_size" then
        local have = k == "rank" and rank or size
        if v ~= -1 and v ~= have then
          error(("init_process_group: %s = %s, but mpirun started this process as %s %d")
                :format(k, tostring(v), k == "rank" and "rank" or "a world of", have), 2)
        end
      elseif k ~= "init_method" and k ~= "timeout" then
        error(("init_process_group: unknown option '%s'"):format(tostring(k)), 2)
      end
    end
  end
  if size > 1 and not os.getenv("OPENBLAS_NUM_THREADS") and not os.getenv("OMP_NUM_THREADS") then
    core.set_num_threads(1)
  end
  state.sentinel = setmetatable({}, { __gc = on_exit })
end

--- destroy_process_group(): leave the job (every rank calls it; a rank that calls it while
--- others start another step makes all of them raise an error about uneven inputs).
function M.destroy_process_group ()
  need_init("destroy_process_group", 2)
  if D.broken() then D.finalize(); return end
  local ok, err = pcall(header, "destroy_process_group", CODES.leave, 0)
  -- on a mismatch the group is broken and MPI is finalized at the end of the script, after
  -- the error is out: MPI_Finalize waits for every rank, and mpirun stops the job as soon as
  -- one rank exits with an error, so a rank finalizing before raising could be stopped
  -- before its message was printed
  if not ok then error(err, 2) end
  D.finalize()
  state.sentinel = nil
end

--- This process's rank, 0 to get_world_size() - 1.
function M.get_rank ()
  need_init("get_rank", 2)
  return state.rank
end

--- The number of processes in the job.
function M.get_world_size ()
  need_init("get_world_size", 2)
  return state.size
end

--- Wait until every rank has reached this call.
function M.barrier ()
  need_init("barrier", 2)
  header("barrier", CODES.barrier, 0)
  D.barrier()
end

-- ---- collectives ------------------------------------------------------------------------

--- all_reduce(t [, {op = "sum"}]): t becomes op over every rank's t, in place.  op: "sum",
--- "avg", "max", "min", "prod" (bool: sum/max are or, min/prod are and; avg of integers
--- truncates).  Floating sum/avg/prod give bit-identical values on every rank.
function M.all_reduce (t, opts)
  need_init("all_reduce", 2)
  need_tensor("all_reduce", t, "tensor", 2)
  local op = get_op("all_reduce", opts, 2)
  header("all_reduce", CODES.all_reduce, tcount(t, op))
  D.all_reduce(t, op)
  return t
end

--- broadcast(t, src): every rank's t becomes rank src's.
function M.broadcast (t, src)
  need_init("broadcast", 2)
  need_tensor("broadcast", t, "tensor", 2)
  src = get_rank_arg("broadcast", src == nil and 0 or src, "src", 2)
  header("broadcast", CODES.broadcast, tcount(t, nil, src))
  D.broadcast(t, src)
  return t
end

--- reduce(t, dst [, {op = "sum"}]): rank dst's t becomes op over every rank's t; the
--- others' t are left as they were.
function M.reduce (t, dst, opts)
  need_init("reduce", 2)
  need_tensor("reduce", t, "tensor", 2)
  dst = get_rank_arg("reduce", dst == nil and 0 or dst, "dst", 2)
  local op = get_op("reduce", opts, 2)
  header("reduce", CODES.reduce, tcount(t, op, dst))
  D.reduce(t, dst, op)
  return t
end

local function check_list (fn, list, t, n, level, create)
  if type(list) ~= "table" then
    error(("%s: expected a list of %d tensors, got %s"):format(fn, n, typename(list)), level + 1)
  end
  for i = 1, n do
    local x = rawget(list, i)
    if x == nil and create then
      x = core.empty(t:size(), { dtype = t.dtype })
      rawset(list, i, x)
    end
    need_tensor(fn, x, ("list[%d]"):format(i), level + 1)
    if x:numel() ~= t:numel() or x.dtype ~= t.dtype then
      error(("%s: list[%d] has %d elements of %s, the tensor %d of %s"):format(fn, i,
            x:numel(), x.dtype.name, t:numel(), t.dtype.name), level + 1)
    end
  end
end

local function flat_of (list, t, n)
  local out = core.empty({ n * t:numel() }, { dtype = t.dtype })
  return out
end

local function split_into (flat, list, n, m)
  for i = 1, n do
    local part = flat:narrow(1, (i - 1) * m + 1, m)
    list[i]:copy_(part:view(list[i]:size()))
  end
end

local function join_from (list, n, t)
  local flat = flat_of(list, t, n)
  local m = t:numel()
  for i = 1, n do flat:narrow(1, (i - 1) * m + 1, m):copy_(list[i]:reshape(-1)) end
  return flat
end

--- all_gather(list, t): list[r + 1] receives rank r's t (entries missing from list are
--- created).
function M.all_gather (list, t)
  need_init("all_gather", 2)
  need_tensor("all_gather", t, "tensor", 2)
  check_list("all_gather", list, t, state.size, 2, true)
  header("all_gather", CODES.all_gather, tcount(t))
  local flat = flat_of(list, t, state.size)
  D.all_gather(flat, t)
  split_into(flat, list, state.size, t:numel())
  return list
end

--- gather(t, list, dst): on rank dst, list[r + 1] receives rank r's t (list may be nil on
--- the other ranks).
function M.gather (t, list, dst)
  need_init("gather", 2)
  need_tensor("gather", t, "tensor", 2)
  dst = get_rank_arg("gather", dst == nil and 0 or dst, "dst", 2)
  if state.rank == dst then check_list("gather", list, t, state.size, 2, true) end
  header("gather", CODES.gather, tcount(t, nil, dst))
  local flat = state.rank == dst and flat_of(list, t, state.size) or nil
  D.gather(flat, t, dst)
  if flat then split_into(flat, list, state.size, t:numel()) end
  return list
end

--- scatter(t, list, src): rank r's t receives rank src's list[r + 1] (list may be nil on
--- the other ranks).
function M.scatter (t, list, src)
  need_init("scatter", 2)
  need_tensor("scatter", t, "tensor", 2)
  src = get_rank_arg("scatter", src == nil and 0 or src, "src", 2)
  if state.rank == src then check_list("scatter", list, t, state.size, 2, false) end
  header("scatter", CODES.scatter, tcount(t, nil, src))
  local flat = state.rank == src and join_from(list, state.size, t) or nil
  D.scatter(t, flat, src)
  return t
end

--- reduce_scatter(out, list [, {op = "sum"}]): rank r's out becomes op over every rank's
--- list[r + 1].
function M.reduce_scatter (out, list, opts)
  need_init("reduce_scatter", 2)
  need_tensor("reduce_scatter", out, "output", 2)
  check_list("reduce_scatter", list, out, state.size, 2, false)
  local op = get_op("reduce_scatter", opts, 2)
  header("reduce_scatter", CODES.reduce_scatter, tcount(out, op))
  D.reduce_scatter(out, join_from(list, state.size, out), op)
  return out
end

local function tag_of (fn, opts, level)
  if opts == nil then return 0 end
  if type(opts) ~= "table" then
    error(("%s: expected an options table ({tag = n}), got %s"):format(fn, typename(opts)), level + 1)
  end
  local tag = rawget(opts, "tag")
  if tag == nil then return 0 end
  if math.type(tag) ~= "integer" or tag < 0 or tag > 32767 then
    error(("%s: tag must be an integer 0 to 32767, got %s"):format(fn, tostring(tag)), level + 1)
  end
  return tag
end

--- send(t, dst [, {tag = 0}]): send t to rank dst (point to point; blocks until sent).
function M.send (t, dst, opts)
  need_init("send", 2)
  need_tensor("send", t, "tensor", 2)
  dst = get_rank_arg("send", dst, "dst", 2)
  if dst == state.rank then error("send: dst is this rank itself", 2) end
  D.send(t, dst, tag_of("send", opts, 2))
end

--- recv(t [, src [, {tag = 0}]]): receive into t from rank src (any rank when nil); returns
--- the sender's rank.
function M.recv (t, src, opts)
  need_init("recv", 2)
  need_tensor("recv", t, "tensor", 2)
  if src ~= nil then src = get_rank_arg("recv", src, "src", 2) end
  local tag = tag_of("recv", opts, 2)
  return D.recv(t, src, tag)
end

return M
