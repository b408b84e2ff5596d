-- DistributedDataParallel: the model check across ranks, no_sync, state_dict's "module."
-- prefix, buffers from rank 0, argument errors
local dm = require "deepmoon"
local nn = dm.nn
local dist = dm.distributed
local C = dofile((arg[0]:match("^(.*/)") or "./") .. "common.lua")

local ok, err = pcall(nn.parallel.DistributedDataParallel, nn.Linear(2, 2))
assert(not ok and err:find("DistributedDataParallel: the default process group is not initialized", 1, true), err)
dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()
ok, err = pcall(nn.parallel.DistributedDataParallel, 5)
assert(not ok and err:find("DistributedDataParallel: expected an nn.Module to wrap, got number", 1, true), err)
ok, err = pcall(nn.parallel.DistributedDataParallel, nn.Linear(2, 2), { bucket_cap = 1 })
assert(not ok and err:find("unknown option 'bucket_cap'", 1, true), err)
C.ok(rank, "argument errors")

-- a model that differs on the last rank: every rank raises
if world > 1 then
  local m = nn.Sequential(nn.Linear(4, rank == world - 1 and 3 or 2), nn.ReLU())
  ok, err = pcall(nn.parallel.DistributedDataParallel, m)
  assert(not ok and err:find("the model's parameters differ across ranks (rank " .. (world - 1), 1, true), err)
  if rank == world - 1 then
    assert(err:find("this rank has '0.weight [3 x 4] float32' where rank 0 has '0.weight [2 x 4] float32'", 1, true), err)
  end
  C.ok(rank, "model mismatch: " .. err)
end

-- no_sync: gradients of two micro-batches, the first under no_sync, equal the average over
-- ranks of each rank's summed gradients
local function build () dm.manual_seed(3); return nn.Linear(3, 2) end
local function batch (r, k)
  local g = dm.Generator(100 * r + k)
  return dm.randn({ 4, 3 }, { generator = g })
end
local ddp = nn.parallel.DistributedDataParallel(build())
ddp:no_sync(function () ddp(batch(rank, 1)):square():sum():backward() end)
local w1 = ddp.module.weight.grad:clone()
do
  local _ <close> = ddp:no_sync()
  assert(ddp.require_backward_grad_sync == false)
end
assert(ddp.require_backward_grad_sync == true)
ddp(batch(rank, 2)):square():sum():backward()
local ref = build()
for r = 0, world - 1 do
  ref(batch(r, 1)):square():sum():backward()
  ref(batch(r, 2)):square():sum():backward()
end
C.close(ddp.module.weight.grad, ref.weight.grad / world, 1e-5, "no_sync gradient")
local single = build()
single(batch(rank, 1)):square():sum():backward()
C.close(w1, single.weight.grad, 1e-6, "gradient under no_sync (local)")
C.ok(rank, "no_sync")

-- state_dict keys carry "module."; consume_prefix_in_state_dict_if_present strips them
local sd = ddp:state_dict()
assert(table.concat(sd:keys(), ",") == "module.weight,module.bias", table.concat(sd:keys(), ","))
nn.utils.consume_prefix_in_state_dict_if_present(sd, "module.")
assert(table.concat(sd:keys(), ",") == "weight,bias", table.concat(sd:keys(), ","))
local plain = nn.Linear(3, 2)
plain:load_state_dict(sd)
assert(plain.weight:eq(ddp.module.weight):all():item())
assert(ddp.module == ddp.module and dm.nn.is_module(ddp.module))
C.ok(rank, "state_dict prefix")

-- buffers: rank 0's reach every rank at construction and at each forward in training mode
local bn = nn.BatchNorm1d(3)
dm.no_grad(function () bn.running_mean:fill_(rank) end)
local dbn = nn.parallel.DistributedDataParallel(bn)
assert(bn.running_mean:eq(0):all():item(), "running_mean after construction")
dbn(dm.randn(4, 3))
local rm = bn.running_mean:clone()
local all = {}
dist.all_gather(all, rm)
for r = 2, world do assert(all[r]:eq(all[1]):all():item(), "running_mean differs") end
C.ok(rank, "buffers")
dist.destroy_process_group()
