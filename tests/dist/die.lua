-- a rank that dies (SIGKILL, arg[1] = "kill"; or os.exit(3) without closing, "exit") while
-- the others wait in a collective: mpirun must end the job with an error, not hang
local dm = require "deepmoon"
local dist = dm.distributed
dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()
local t = dm.ones(1000)
dist.all_reduce(t)
if rank == world - 1 then
  if arg[1] == "kill" then
    local pid = io.open("/proc/self/stat"):read("a"):match("^(%d+)")
    os.execute("kill -KILL " .. pid)
  end
  os.exit(3, false)
end
for _ = 1, 100 do dist.all_reduce(t) end
io.write(("rank %d: finished\n"):format(rank))
