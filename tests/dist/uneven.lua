-- uneven inputs: the last rank has fewer batches than the others.  arg[1] = "destroy": it
-- then calls destroy_process_group; "exit": its script just ends.  Every rank must raise a
-- clear error (the spec checks each rank's message) and the job end, not hang.
local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim
local dist = dm.distributed

dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()
dm.manual_seed(1)
local ddp = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
local opt = optim.SGD(ddp:parameters(), { lr = 0.1 })
local batches = rank == world - 1 and 2 or 4
for _ = 1, batches do
  opt:zero_grad()
  ddp(dm.randn(3, 4)):sum():backward()
  opt:step()
end
if arg[1] == "destroy" then dist.destroy_process_group() end
io.write(("rank %d: finished without an error\n"):format(rank))
