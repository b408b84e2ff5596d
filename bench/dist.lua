--- bench/dist.lua: (j), data-parallel throughput over MPI (`make bench-dist`).
--
--   ./deepmoon bench/dist.lua                 runs everything below through mpirun and prints
--                                             a markdown table and the scaling projection
--   mpirun -np N ./deepmoon bench/dist.lua mlp BATCH [after|overlap [BUCKET_CAP_MB]]
--                                             one measurement (rank 0 prints key=value)
--   mpirun -np 2 ./deepmoon bench/dist.lua allreduce
--
-- The workload is (b) of bench/workloads.lua (784-512-512-10 ReLU MLP, cross-entropy, SGD
-- momentum 0.9) with BATCH samples per rank, one BLAS thread per rank; samples/s summed over
-- the ranks in the best window of 10 steps over ~3 s (the machine is shared).  "after"
-- averages the gradients after the backward walk instead of overlapped with it; the
-- difference is what the overlap buys.  allreduce: the time of one average of the MLP's
-- gradients (2.7 MB of float32) as DistributedDataParallel does it after the walk (each
-- large gradient averaged in place by one allreduce of 2 ranks whose operation is
-- (a + b) / 2, the small ones through their bucket), over shared memory and over TCP: the
-- best of 25 and the median.

local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim
local clock = dm.clock

local function mlp_model ()
  return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                       nn.Linear(512, 10))
end

local function measure_mlp (batch, after, cap)
  local dist = dm.distributed
  dist.init_process_group("mpi")
  dm.set_num_threads(tonumber(os.getenv("OPENBLAS_NUM_THREADS") or "1") or 1)
  local rank, world = dist.get_rank(), dist.get_world_size()
  dm.manual_seed(rank)
  local nbatches = 16
  local xs, ys = {}, {}
  for k = 1, nbatches do
    xs[k] = dm.randn(batch, 784)
    ys[k] = ((dm.rand(batch) * 10):floor() + 1):long()
  end
  dm.manual_seed(0)
  local model = mlp_model()
  if world > 1 then
    model = nn.parallel.DistributedDataParallel(model, { bucket_cap_mb = cap or 25 })
    model.overlap = not after
  end
  local criterion = nn.CrossEntropyLoss()
  local opt = optim.SGD(model:parameters(), { lr = 0.01, momentum = 0.9 })
  local function step (k)
    local i = k % nbatches + 1
    opt:zero_grad()
    criterion(model(xs[i]), ys[i]):backward()
    opt:step()
  end
  for k = 1, 5 do step(k) end
  local steps, best = 0, math.huge
  local t0 = clock()
  repeat
    dist.barrier()
    local w0 = clock()
    for _ = 1, 10 do step(steps); steps = steps + 1 end
    local w = dm.tensor({ clock() - w0 })
    dist.all_reduce(w, { op = "max" })         -- the slowest rank's window
    best = math.min(best, w:item())
    local go = dm.tensor({ clock() - t0 > 3.0 and 1 or 0 })
    dist.all_reduce(go, { op = "max" })
  until go:item() == 1
  if rank == 0 then
    print(("ranks=%d batch=%d sync=%s samples_per_s=%.1f step_ms=%.3f"):format(world, batch,
          world == 1 and "none" or (after and "after" or "overlap"), 10 * batch * world / best,
          1000 * best / 10))
  end
  dist.destroy_process_group()
end

local function measure_allreduce ()
  local dist = dm.distributed
  dist.init_process_group("mpi")
  local rank = dist.get_rank()
  local n = 0
  dm.manual_seed(0)
  local model = mlp_model()
  for p in model:parameters() do n = n + p:numel(); p.grad = dm.randn(p:size()) end
  local ddp = nn.parallel.DistributedDataParallel(model)
  local times = {}
  for k = 1, 25 do
    dist.barrier()
    local t0 = clock()
    ddp:_sync_gradients()                       -- what backward runs after the walk
    times[k] = clock() - t0
  end
  table.sort(times)
  local b = dm.tensor({ times[1], times[13] })
  dist.all_reduce(b, { op = "max" })
  if rank == 0 then
    print(("allreduce_bytes=%d allreduce_ms=%.3f allreduce_median_ms=%.3f"):format(4 * n,
          1000 * b[1]:item(), 1000 * b[2]:item()))
  end
  dist.destroy_process_group()
end

local mode = arg[1]
if mode == "mlp" then return measure_mlp(tonumber(arg[2]) or 128, arg[3] == "after", tonumber(arg[4])) end
if mode == "allreduce" then return measure_allreduce() end

-- ---- the driver: every measurement in its own mpirun, then the table ---------------------
local here = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local root = here .. "../"
local ENV = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 "
local function run (np, args, mca)
  local cmd = ("%s timeout 120 mpirun -np %d --oversubscribe %s %sdeepmoon %sdist.lua %s 2>&1")
              :format(ENV, np, mca or "", root, here, args)
  io.stderr:write("bench-dist: mpirun -np ", np, " ", mca or "", " ", args, "\n")
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local kv = {}
  for k, v in out:gmatch("([%w_]+)=([%w_.]+)") do kv[k] = tonumber(v) or v end
  if not next(kv) then error("bench-dist: no result from " .. cmd .. ":\n" .. out, 0) end
  return kv
end

local lines = {}
local function out (s) lines[#lines + 1] = s or "" end
local r = {}
-- the machine is shared: 1 process and 2 ranks are measured ROUNDS times each, in turn, and
-- the best of each is kept (every reading is listed under the table)
local ROUNDS = tonumber(os.getenv("DM_BENCH_DIST_ROUNDS") or "3") or 3
local readings = {}
local function best_of (key, np, args)
  readings[key] = readings[key] or {}
  local x = run(np, args)
  table.insert(readings[key], x.step_ms)
  if not r[key] or x.samples_per_s > r[key].samples_per_s then r[key] = x end
end
for _ = 1, ROUNDS do
  best_of("one128", 1, "mlp 128")
  best_of("two128", 2, "mlp 128 after")
  best_of("one64", 1, "mlp 64")
  best_of("two64", 2, "mlp 64 after")
end
r.two128_ov = run(2, "mlp 128 overlap")
r.two128_ov_small = run(2, "mlp 128 overlap 0.5")
-- the allreduce likewise: best of ROUNDS runs (its cost flips between runs on this machine)
local ar_readings = { shm = {}, tcp = {} }
for _ = 1, ROUNDS do
  for _, k in ipairs({ "shm", "tcp" }) do
    local x = run(2, "allreduce", k == "tcp" and "--mca btl tcp,self" or nil)
    table.insert(ar_readings[k], ("%.3f"):format(x.allreduce_ms))
    if not r["ar_" .. k] or x.allreduce_ms < r["ar_" .. k].allreduce_ms then r["ar_" .. k] = x end
  end
end

local function ratio (a, b) return ("%.2fx"):format(a.samples_per_s / b.samples_per_s) end
local function line (what, x, base)
  out(("| %s | %.0f | %.2f ms | %s |"):format(what, x.samples_per_s, x.step_ms, ratio(x, base)))
end
out("| (j) data-parallel MLP (b), 1 BLAS thread per rank | samples/s | step | vs 1 process |")
out("|---|---|---|---|")
line("1 process, batch 128", r.one128, r.one128)
line("2 ranks, batch 128 each (sync after the walk, the default)", r.two128, r.one128)
line("2 ranks, batch 128 each, ddp.overlap (1 bucket of 25 MB)", r.two128_ov, r.one128)
line("2 ranks, batch 128 each, ddp.overlap, buckets of 0.5 MB", r.two128_ov_small, r.one128)
line("1 process, batch 64", r.one64, r.one64)
line("2 ranks, batch 64 each", r.two64, r.one64)
out()
local function list (key)
  local t = {}
  for i, v in ipairs(readings[key]) do t[i] = ("%.2f"):format(v) end
  return table.concat(t, ", ")
end
out(("- every reading (ms per step; the table keeps the best of each): 1 process, batch 128: %s; " ..
     "2 ranks, batch 128: %s; 1 process, batch 64: %s; 2 ranks, batch 64: %s"):format(
     list("one128"), list("two128"), list("one64"), list("two64")))
out(("- communication per step (2 ranks, batch 128: the step time over 1 process's): %.2f ms"):format(
  r.two128.step_ms - r.one128.step_ms))
out(("- one average of the MLP's gradients (%.2f MB; best of 25, median in brackets): " ..
     "%.3f ms (%.3f) over shared memory, %.3f ms (%.3f) over TCP (loopback)"):format(
     r.ar_shm.allreduce_bytes / 1e6, r.ar_shm.allreduce_ms, r.ar_shm.allreduce_median_ms,
     r.ar_tcp.allreduce_ms, r.ar_tcp.allreduce_median_ms))
out(("  (the best of %d runs each; their best-of-25 readings: %s ms over shared memory, %s ms over TCP)")
    :format(ROUNDS, table.concat(ar_readings.shm, ", "), table.concat(ar_readings.tcp, ", ")))

-- projection: p machines on 10 Gbit/s, ring allreduce 2 (p - 1) / p x bytes / bandwidth plus
-- a latency of 2 (p - 1) x 50 us, with no overlap; compute per step as measured (1 process,
-- batch 128 per machine)
local BW = 10e9 / 8
local function project (name, bytes, compute_ms, per_step)
  out()
  out(("Projection, %s (%.2f MB of gradients, %.2f ms compute per step of %s):"):format(
    name, bytes / 1e6, compute_ms, per_step or "128"))
  out("| machines | allreduce | step | speed-up | efficiency |")
  out("|---|---|---|---|---|")
  for _, p in ipairs({ 2, 8, 64 }) do
    local c = 1000 * (2 * (p - 1) / p * bytes / BW + 2 * (p - 1) * 50e-6)
    local step = compute_ms + c
    out(("| %d | %.2f ms | %.2f ms | %.1fx | %.0f%% |"):format(p, c, step,
      p * compute_ms / step, 100 * compute_ms / step))
  end
end
project("MLP (b)", r.ar_shm.allreduce_bytes, r.one128.step_ms)
-- LeNet-5 (61 706 parameters, 0.25 MB): its compute per step is (f)'s training step at one
-- thread, batch 64, measured here by bench/workloads.lua in a process of its own
do
  local cmd = ("OPENBLAS_NUM_THREADS=1 %sdeepmoon %sworkloads.lua lenet 1 2>&1"):format(root, here)
  io.stderr:write("bench-dist: workloads.lua lenet 1\n")
  local p = io.popen(cmd)
  local res = p:read("a")
  p:close()
  local sps = tonumber(res:match("samples_per_s=([%d.e+-]+)"))
  if not sps then error("bench-dist: no result from " .. cmd .. ":\n" .. res, 0) end
  local bytes = 61706 * 4
  local compute_ms = 1000 * 64 / sps
  project("LeNet-5 (f)", bytes, compute_ms, "64, one thread")
end

local report = table.concat(lines, "\n")
print(report)

-- recorded in BENCHMARKS.md between its own markers (make bench keeps its block apart)
local path = root .. "BENCHMARKS.md"
local BEGIN, END = "<!-- make bench-dist: begin -->", "<!-- make bench-dist: end -->"
local f = io.open(path, "r")
local text = f and f:read("a") or "# Benchmarks\n\n"
if f then f:close() end
local cpu = "?"
for l in io.lines("/proc/cpuinfo") do
  local m = l:match("^model name%s*:%s*(.+)")
  if m then cpu = m; break end
end
local np = io.popen("nproc"):read("l")
local block = ("%s\n%s, %s cores, load average %s; Open MPI %s\n\n%s\n%s"):format(BEGIN,
  os.date("!%Y-%m-%d %H:%M UTC"), np, io.open("/proc/loadavg"):read("l"):match("^(%S+)"),
  (io.popen("mpirun --version 2>/dev/null"):read("l") or "?"):match("[%d.]+$") or "?", report, END)
local i = text:find(BEGIN, 1, true)
local k, l = text:find(END, 1, true)
if i and k and k > i then text = text:sub(1, i - 1) .. block .. text:sub(l + 1)
else text = text .. "\n" .. block .. "\n" end
f = assert(io.open(path, "w"))
f:write(text)
f:close()
io.stderr:write("bench-dist: recorded in BENCHMARKS.md\n")
