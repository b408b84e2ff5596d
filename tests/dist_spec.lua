-- dm.distributed, nn.parallel.DistributedDataParallel and data.DistributedSampler.
-- The MPI cases start `mpirun -np 2|3` on the scripts in tests/dist/ (each rank prints
-- "rank R: ok <check>" per check that holds and raises on the first that does not), under a
-- 60 s watchdog (`timeout 60`): a hang fails the case instead of the run.  As root, Open MPI
-- needs OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); --oversubscribe runs more ranks than cores; each
-- rank gets one BLAS thread.
-- Built without MPI (make MPI=0, and the sanitizer and ThreadSanitizer builds, which leave
-- Open MPI out: its own allocations and threads are not ours to report), the MPI cases are
-- pending and the build-without-MPI behaviour is checked instead.
local dm = require "deepmoon"
local dist = dm.distributed
local data = dm.data

local LUA = os.getenv("DM_LUA") or "lua5.4"
local DIR = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "dist/"

local function run (cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit status: $?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("exit status: (%d+)%s*$"))
  return out, rc
end

local ENV = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 " ..
            "OMPI_MCA_rmaps_base_oversubscribe=1 "
local function mpirun (np, script, args, mca)
  local cmd = ("%s timeout 60 mpirun -np %d --oversubscribe %s %s %s%s %s"):format(ENV, np,
    mca or "", LUA, DIR, script, args or "")
  local t0 = os.time()
  local out, rc = run(cmd)
  return out, rc, os.time() - t0
end
local function alone (script, args)
  return run(("%s timeout 60 %s %s%s %s"):format(ENV, LUA, DIR, script, args or ""))
end

-- every rank printed "rank r: ok <what>" for each what
local function all_ok (out, np, whats)
  for r = 0, np - 1 do
    for _, w in ipairs(whats) do
      assert(out:find(("rank %d: ok %s"):format(r, w), 1, true),
             ("rank %d did not report '%s'; output:\n%s"):format(r, w, out))
    end
  end
end

local have_mpirun = os.execute("command -v mpirun > /dev/null 2>&1")

describe("data.DistributedSampler", function ()
  local cases = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
                       .. "fixtures/dist_sampler.lua")

  it("pads and strides as PyTorch's (shuffle = false; PyTorch fixtures)", function ()
    for _, c in ipairs(cases) do
      local n, reps, dl, want = c[1], c[2], c[3], c[4]
      local ds = data.TensorDataset(dm.arange(1, n + 1))
      for r = 0, reps - 1 do
        local s = data.DistributedSampler(ds, { num_replicas = reps, rank = r, shuffle = false,
                                                drop_last = dl })
        assert.are.same(want[r + 1], s:indices())
        assert.are.equal(#want[r + 1], #s)
        assert.are.equal(#want[r + 1], s:len())
      end
    end
  end)

  it("shuffles with a permutation from seed + epoch, padded from its start", function ()
    local ds = data.TensorDataset(dm.zeros(10))
    local function perm (e) return dm.randperm(10, { generator = dm.Generator(5 + e) }):totable() end
    for _, epoch in ipairs({ 0, 3 }) do
      local p = perm(epoch)
      local full = {}
      for i = 1, 10 do full[i] = p[i] end
      full[11], full[12] = p[1], p[2]
      for r = 0, 3 do
        local s = data.DistributedSampler(ds, { num_replicas = 4, rank = r, seed = 5 })
        s:set_epoch(epoch)
        local want = {}
        for i = r + 1, 12, 4 do want[#want + 1] = full[i] end
        assert.are.same(want, s:indices())
      end
    end
    local s = data.DistributedSampler(ds, { num_replicas = 2, rank = 0 })
    local a = s:indices()
    s:set_epoch(1)
    assert.are_not.same(a, s:indices())
    local got = {}
    for i in s:iter() do got[#got + 1] = i end
    assert.are.same(s:indices(), got)
    assert.are.equal("DistributedSampler(rank 0 of 2, 5 samples, shuffled)", tostring(s))
  end)

  it("feeds a DataLoader ({sampler = s}), epoch by epoch", function ()
    local x = dm.arange(1, 11):float()
    local ds = data.TensorDataset(x, x * 10)
    local s = data.DistributedSampler(ds, { num_replicas = 3, rank = 1, shuffle = false })
    local loader = data.DataLoader(ds, { batch_size = 3, sampler = s })
    assert.are.equal(2, #loader)
    local got = {}
    for xb, yb in loader do
      for i, v in ipairs(xb:totable()) do got[#got + 1] = v; assert.are.equal(10 * v, yb[i]:item()) end
    end
    assert.are.same({ 2, 5, 8, 1 }, got)
    -- set_epoch takes effect at the next loop; a dataset without get_batch goes sample by sample
    local plain = { len = function () return 6 end, get = function (_, i) return i * 2 end }
    local s2 = data.DistributedSampler(plain, { num_replicas = 2, rank = 0, seed = 1 })
    local l2 = data.DataLoader(plain, { batch_size = 2, sampler = s2 })
    local function epoch_values ()
      local out = {}
      for b in l2 do for _, v in ipairs(b:totable()) do out[#out + 1] = v end end
      return out
    end
    local want = {}
    for i, j in ipairs(s2:indices()) do want[i] = 2 * j end
    assert.are.same(want, epoch_values())
    s2:set_epoch(7)
    want = {}
    for i, j in ipairs(s2:indices()) do want[i] = 2 * j end
    assert.are.same(want, epoch_values())
    -- a plain list of indices is a sampler too
    local l3 = data.DataLoader(ds, { batch_size = 5, sampler = { 3, 1 } })
    for xb in l3 do assert.are.same({ 3, 1 }, xb:totable()) end
  end)

  it("explains bad arguments", function ()
    local ds = data.TensorDataset(dm.zeros(4))
    local ok, err = pcall(data.DistributedSampler, ds, { num_replicas = 2, rank = 2 })
    assert.is_false(ok)
    assert.matches("DistributedSampler: invalid rank 2, rank should be in the interval [0, 1]", err, 1, true)
    ok, err = pcall(data.DistributedSampler, ds, { num_replicas = 0, rank = 0 })
    assert.matches("DistributedSampler: num_replicas must be positive, got 0", err, 1, true)
    ok, err = pcall(data.DistributedSampler, 5)
    assert.matches("DistributedSampler: expected a dataset, got number", err, 1, true)
    ok, err = pcall(data.DistributedSampler, ds, { ranks = 1 })
    assert.matches("DistributedSampler: unknown option 'ranks'", err, 1, true)
    if not dist.is_initialized() then
      ok, err = pcall(data.DistributedSampler, ds)
      assert.matches("give num_replicas and rank, or call dist.init_process_group", err, 1, true)
    end
    local s = data.DistributedSampler(ds, { num_replicas = 2, rank = 0 })
    ok, err = pcall(data.DataLoader, ds, { sampler = s, shuffle = true })
    assert.matches("DataLoader: sampler option is mutually exclusive with shuffle", err, 1, true)
    ok, err = pcall(data.DataLoader, ds, { sampler = 5 })
    assert.matches("DataLoader: sampler must be a list of indices", err, 1, true)
  end)
end)

describe("dm.distributed", function ()
  it("says whether MPI is built in; functions need the process group", function ()
    assert.are.equal("boolean", type(dist.is_available()))
    assert.is_false(dist.is_initialized())
    local ok, err = pcall(dist.get_rank)
    assert.matches("get_rank: the default process group is not initialized", err, 1, true)
    ok, err = pcall(dist.init_process_group, "nccl")
    assert.matches("init_process_group: backend 'nccl' is not supported", err, 1, true)
    ok, err = pcall(dm.nn.parallel.DistributedDataParallel, dm.nn.Linear(2, 2))
    assert.matches("DistributedDataParallel: the default process group is not initialized", err, 1, true)
  end)

  if not dist.is_available() then
    it("built without MPI: init_process_group says how to build with it", function ()
      local ok, err = pcall(dist.init_process_group, "mpi")
      assert.is_false(ok)
      assert.matches("deepmoon was built without MPI", err, 1, true)
      assert.matches("libopenmpi-dev", err, 1, true)
      assert.matches("make", err, 1, true)
    end)
    pending("MPI cases: this build has no MPI (make MPI=0, or a sanitizer/tsan build, " ..
            "which leaves Open MPI out: its own allocations and threads are not ours to report)")
    return
  end
  if not have_mpirun then
    pending("MPI cases: mpirun not found (apt-get install openmpi-bin)")
    return
  end

  it("a script started without mpirun is a world of one", function ()
    local out, rc = alone("collectives.lua")
    assert.are.equal(0, rc, out)
    all_ok(out, 1, { "collectives float32", "collectives bool", "non-contiguous", "argument errors" })
    out, rc = alone("ddp_equiv.lua")
    assert.are.equal(0, rc, out)
    all_ok(out, 1, { "parameters after 25 steps" })
  end)

  it("collectives on every dtype and op, 2 and 3 ranks", function ()
    for _, np in ipairs({ 2, 3 }) do
      local out, rc = mpirun(np, "collectives.lua")
      assert.are.equal(0, rc, out)
      all_ok(out, np, { "collectives float32", "collectives float64", "collectives int64",
                        "collectives uint8", "collectives bool", "non-contiguous",
                        "floating reductions bit-identical", "send/recv",
                        "argument errors", "size mismatch raises" })
    end
  end)

  it("DDP on 2 ranks with half a batch each equals 1 process with the whole batch", function ()
    local out, rc = mpirun(2, "ddp_equiv.lua", "equal")
    assert.are.equal(0, rc, out)
    all_ok(out, 2, { "step-1 gradients", "bit-identical parameters on every rank after every step",
                     "parameters after 25 steps" })
  end)

  it("the same over TCP (--mca btl tcp,self, the transport between machines)", function ()
    local out, rc = mpirun(2, "ddp_equiv.lua", "equal overlap", "--mca btl tcp,self")
    assert.are.equal(0, rc, out)
    all_ok(out, 2, { "step-1 gradients", "parameters after 25 steps" })
  end)

  it("DDP on 3 ranks with unequal shards equals the mean of per-rank means, bit-identical", function ()
    local out, rc = mpirun(3, "ddp_equiv.lua", "unequal")
    assert.are.equal(0, rc, out)
    all_ok(out, 3, { "step-1 gradients", "bit-identical parameters on every rank after every step",
                     "parameters after 25 steps" })
  end)

  it("large parameters averaged in place, float32 and float64, a missing and a strided .grad", function ()
    for _, np in ipairs({ 2, 3 }) do
      local out, rc = mpirun(np, "ddp_large.lua")
      assert.are.equal(0, rc, out)
      local whats = {}
      for _, dt in ipairs({ "float32", "float64" }) do
        for _, w in ipairs({ "step-1 gradients ", "bit-identical parameters ", "parameters after 10 steps " }) do
          whats[#whats + 1] = w .. dt
        end
      end
      all_ok(out, np, whats)
    end
  end)

  it("the same with the gradients averaged during the backward walk (ddp.overlap)", function ()
    local out, rc = mpirun(3, "ddp_equiv.lua", "unequal overlap")
    assert.are.equal(0, rc, out)
    all_ok(out, 3, { "step-1 gradients", "bit-identical parameters on every rank after every step",
                     "parameters after 25 steps" })
  end)

  it("DDP checks the model on every rank; no_sync, module. prefix, buffers", function ()
    local out, rc = mpirun(3, "ddp_misc.lua")
    assert.are.equal(0, rc, out)
    all_ok(out, 3, { "argument errors", "model mismatch", "no_sync", "state_dict prefix", "buffers" })
  end)

  it("uneven inputs raise a clear error on every rank, not a hang", function ()
    for _, how in ipairs({ "destroy", "exit" }) do
      local out, rc = mpirun(3, "uneven.lua", how)
      assert.are_not.equal(0, rc, out)
      assert.are_not.equal(124, rc, "the watchdog ended a hang:\n" .. out)
      for r = 0, 2 do
        assert(out:find(("uneven inputs across ranks (rank %d)"):format(r), 1, true),
               ("rank %d gave no uneven-inputs error (%s):\n%s"):format(r, how, out))
      end
    end
  end)

  -- the example, short (not under BLAS=0, where it would take minutes)
  if os.getenv("DM_BLAS") ~= "0" then
    it("examples/ddp_mnist.lua trains on 2 ranks, rank 0 reports and saves", function ()
      local file = os.tmpname()
      local root = DIR .. "../../"
      local out, rc = run(("%s timeout 300 mpirun -np 2 --oversubscribe %s %sexamples/ddp_mnist.lua " ..
                           "1 2000 %s 2000"):format(ENV, LUA, root, file .. ".safetensors"))
      assert.are.equal(0, rc, out)
      assert.truthy(out:find("2000 training images on 2 ranks, 2000 test images", 1, true), out)
      local acc = tonumber(out:match("Test accuracy: ([%d.]+)%% after 1 epochs"))
      assert(acc and acc >= 60, out)
      local _, n = out:gsub("Test accuracy", "")
      assert.are.equal(1, n)                  -- rank 0 only
      local sd = assert(dm.io.load(file .. ".safetensors"))
      assert.truthy(sd["0.weight"])
      assert.is_nil(sd["module.0.weight"])
      os.remove(file .. ".safetensors")
      os.remove(file)
    end)
  end

  it("a rank that dies ends the job with an error, not a hang", function ()
    for _, how in ipairs({ "kill", "exit" }) do
      local out, rc = mpirun(3, "die.lua", how)
      assert.are_not.equal(0, rc, out)
      assert.are_not.equal(124, rc, "the watchdog ended a hang:\n" .. out)
      assert.is_nil(out:find("rank 0: finished", 1, true), out)
    end
  end)
end)
