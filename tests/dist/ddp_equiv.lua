-- DDP equivalence: each rank trains on its shard of one batch through DistributedDataParallel;
-- the same process also trains a plain copy on the mean of the per-shard mean losses (the
-- whole batch when shards are equal).  Step 1's gradients agree to 1e-5 relative, the
-- parameters after 25 SGD-momentum steps to 1e-5; and every rank's parameters are
-- bit-identical after every step.  arg[1]: "equal" or "unequal" shards; arg[2]: "overlap" to
-- average the gradients overlapped with the backward walk (ddp.overlap) rather than after it.
local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim
local dist = dm.distributed
local C = dofile((arg[0]:match("^(.*/)") or "./") .. "common.lua")

dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()
local mode = arg[1] or "equal"

local function build ()
  dm.manual_seed(7)
  return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
end
local g = dm.Generator(3)
local N = 24
local X = dm.randn({ N, 5 }, { generator = g })
local Y = dm.randint(1, 4, { N }, { generator = g })

-- shards: equal (N / world each), or unequal (rank r gets r + 2 parts)
local bounds = {}
do
  local w = {}
  local tot = 0
  for r = 1, world do w[r] = mode == "equal" and 1 or (r + 1); tot = tot + w[r] end
  local start = 1
  for r = 1, world do
    local n = (r == world) and (N - start + 1) or math.floor(N * w[r] / tot)
    bounds[r] = { start, n }
    start = start + n
  end
end
local function shard (t, r) return t:narrow(1, bounds[r + 1][1], bounds[r + 1][2]) end

-- rank r != 0 starts from other values: DDP must broadcast rank 0's
local model = build()
if rank ~= 0 then dm.no_grad(function () for p in model:parameters() do p:add_(1) end end) end
local ddp = nn.parallel.DistributedDataParallel(model, { bucket_cap_mb = 0.0005 })
assert(#ddp._buckets > 1, "several buckets")
-- arg[2] = "overlap": average overlapped with the backward walk (ddp.overlap)
assert(ddp.overlap == false)
if arg[2] == "overlap" then
  ddp.overlap = true
  if world > 1 then assert(ddp._reducer, "the overlapped sync is available") end
end
local ref = build()
local opt = optim.SGD(ddp:parameters(), { lr = 0.1, momentum = 0.9 })
local ropt = optim.SGD(ref:parameters(), { lr = 0.1, momentum = 0.9 })
local lossf = nn.CrossEntropyLoss()

for step = 1, 25 do
  opt:zero_grad()
  lossf(ddp(shard(X, rank)), shard(Y, rank)):backward()
  ropt:zero_grad()
  local total = 0
  for r = 0, world - 1 do total = total + lossf(ref(shard(X, r)), shard(Y, r)) end
  (total / world):backward()
  if step == 1 then
    local p, q = ddp:parameters(), ref:parameters()
    for i = 1, #p do C.close(p[i].grad, q[i].grad, 1e-5, "step-1 gradient " .. i) end
    C.ok(rank, "step-1 gradients")
  end
  opt:step()
  ropt:step()
  -- every rank holds the same bits
  local v = nn.utils.parameters_to_vector(ddp:parameters())
  local all = {}
  dist.all_gather(all, v)
  for r = 2, world do
    assert(all[r]:eq(all[1]):all():item(), ("step %d: rank %d's parameters differ from rank 0's"):format(step, r - 1))
  end
end
C.ok(rank, "bit-identical parameters on every rank after every step")
local p, q = ddp:parameters(), ref:parameters()
for i = 1, #p do C.close(p[i], q[i], 1e-5, "parameter " .. i .. " after 25 steps") end
C.ok(rank, "parameters after 25 steps")
dist.destroy_process_group()
