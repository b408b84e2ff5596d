-- every collective on every dtype and op, checked against values computed here from what
-- each rank holds (rank r's tensor is a known function of r)
local dm = require "deepmoon"
local dist = dm.distributed
local C = dofile((arg[0]:match("^(.*/)") or "./") .. "common.lua")

assert(not dist.is_initialized())
dist.init_process_group("mpi")
assert(dist.is_initialized())
local rank, world = dist.get_rank(), dist.get_world_size()

local dtypes = { "float32", "float64", "int64", "uint8", "bool" }
local function values (dt, r)
  if dt == "bool" then return { r == 0, r == 1, true, false } end
  if dt == "float32" or dt == "float64" then return { 1.5 + r, -2 + r, 3 + 0.25 * r, 4 } end
  return { 1 + r, 2 + r, 3 + r, 4 + 2 * r }
end
local function make (dt, r) return dm.tensor(values(dt, r), { dtype = dm[dt] }) end
local function fold (dt, op)
  local acc = values(dt, 0)
  for r = 1, world - 1 do
    local v = values(dt, r)
    for i = 1, #acc do
      local a, b = acc[i], v[i]
      if dt == "bool" then
        if op == "sum" or op == "max" then acc[i] = a or b else acc[i] = a and b end
      elseif op == "sum" or op == "avg" then acc[i] = a + b
      elseif op == "max" then acc[i] = math.max(a, b)
      elseif op == "min" then acc[i] = math.min(a, b)
      else acc[i] = a * b end
    end
  end
  if op == "avg" then
    for i = 1, #acc do
      if dt == "int64" or dt == "uint8" then acc[i] = acc[i] // world else acc[i] = acc[i] / world end
    end
  end
  if dt == "uint8" then for i = 1, #acc do acc[i] = acc[i] % 256 end end
  return acc
end
local function same (t, want, what)
  local got = t:totable()
  for i = 1, #want do
    local a, b = got[i], want[i]
    local ok = (type(b) == "boolean") and a == b or math.abs(a - b) <= 1e-6 * math.max(1, math.abs(b))
    if not ok then
      error(("%s: element %d: got %s, want %s"):format(what, i, tostring(a), tostring(b)), 2)
    end
  end
end

for _, dt in ipairs(dtypes) do
  for _, op in ipairs({ "sum", "avg", "max", "min", "prod" }) do
    if not (dt == "bool" and op == "avg") then
      local t = make(dt, rank)
      dist.all_reduce(t, { op = op })
      same(t, fold(dt, op), ("all_reduce %s %s"):format(dt, op))
      local u = make(dt, rank)
      dist.reduce(u, world - 1, { op = op })
      same(u, rank == world - 1 and fold(dt, op) or values(dt, rank), ("reduce %s %s"):format(dt, op))
    end
  end
  local t = make(dt, rank)
  dist.broadcast(t, world - 1)
  same(t, values(dt, world - 1), "broadcast " .. dt)
  local list = {}
  dist.all_gather(list, make(dt, rank))
  for r = 0, world - 1 do same(list[r + 1], values(dt, r), "all_gather " .. dt) end
  local gl = rank == 0 and {} or nil
  dist.gather(make(dt, rank), gl, 0)
  if rank == 0 then for r = 0, world - 1 do same(gl[r + 1], values(dt, r), "gather " .. dt) end end
  local out = dm.zeros({ 4 }, { dtype = dm[dt] })
  local sl = nil
  if rank == 0 then sl = {}; for r = 0, world - 1 do sl[r + 1] = make(dt, r) end end
  dist.scatter(out, sl, 0)
  same(out, values(dt, rank), "scatter " .. dt)
  if dt ~= "bool" then
    local o = dm.zeros({ 4 }, { dtype = dm[dt] })
    local inl = {}
    for r = 0, world - 1 do inl[r + 1] = make(dt, rank) end
    dist.reduce_scatter(o, inl, { op = "max" })
    same(o, fold(dt, "max"), "reduce_scatter " .. dt)
  end
  C.ok(rank, "collectives " .. dt)
end

-- a non-contiguous tensor: reduced through a copy written back
local m = dm.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):mul(rank + 1)
local tt = m:t()
assert(not tt:is_contiguous())
dist.all_reduce(tt, { op = "sum" })
local k = world * (world + 1) / 2
same(m:reshape(-1), { k, 2 * k, 3 * k, 4 * k, 5 * k, 6 * k }, "non-contiguous all_reduce")
C.ok(rank, "non-contiguous")

-- floating sum, avg and prod of 1001 values (blocks of unequal size over 3 ranks): the value
-- against the reduction computed here from every rank's values, and the same bits on every
-- rank
for _, dt in ipairs({ dm.float32, dm.float64 }) do
  for _, op in ipairs({ "sum", "avg", "prod" }) do
    local function mine (r) return dm.randn({ 1001 }, { generator = dm.Generator(100 + r) }):to(dt) end
    local t = mine(rank)
    dist.all_reduce(t, { op = op })
    local want = mine(0):double()
    for r = 1, world - 1 do
      if op == "prod" then want = want * mine(r):double() else want = want + mine(r):double() end
    end
    if op == "avg" then want = want / world end
    C.close(t, want, 1e-5, ("all_reduce %s %s of 1001 values"):format(dt.name, op))
    local all = {}
    dist.all_gather(all, t)
    for r = 2, world do
      assert(all[r]:eq(all[1]):all():item(),
             ("all_reduce %s %s: rank %d's bits differ from rank 0's"):format(dt.name, op, r - 1))
    end
  end
end
C.ok(rank, "floating reductions bit-identical")

-- point to point: a ring
if world > 1 then
  local nxt, prev = (rank + 1) % world, (rank - 1) % world
  local x = dm.full({ 3 }, rank, { dtype = dm.int64 })
  local y = dm.zeros({ 3 }, { dtype = dm.int64 })
  if rank % 2 == 0 then
    dist.send(x, nxt, { tag = 5 }); assert(dist.recv(y, prev, { tag = 5 }) == prev)
  else
    assert(dist.recv(y, prev, { tag = 5 }) == prev); dist.send(x, nxt, { tag = 5 })
  end
  same(y, { prev, prev, prev }, "send/recv")
  C.ok(rank, "send/recv")
end

-- errors: argument checks, on every rank alike
local ok, err = pcall(dist.all_reduce, dm.ones(2), { op = "mean" })
assert(not ok and err:find("all_reduce: op must be one of", 1, true), err)
ok, err = pcall(dist.broadcast, dm.ones(2), world)
assert(not ok and err:find(("broadcast: src %d is not a rank (0 to %d)"):format(world, world - 1), 1, true), err)
ok, err = pcall(dist.all_reduce, "x")
assert(not ok and err:find("all_reduce: tensor must be a Tensor, got string", 1, true), err)
dist.barrier()
C.ok(rank, "argument errors")

-- ranks that disagree on a tensor's size raise on every rank (not a hang)
if world > 1 then
  ok, err = pcall(dist.all_reduce, dm.ones(rank == 0 and 2 or 3))
  assert(not ok and err:find("ranks disagree", 1, true), err)
  C.ok(rank, "size mismatch raises: " .. err)
end
dist.destroy_process_group()
assert(not dist.is_initialized())
