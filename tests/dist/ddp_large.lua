-- DDP with parameters large enough to be averaged in place in their own .grad (16384
-- elements and more; smaller ones share their bucket's collective): float32 and float64,
-- a large parameter that gets no gradient on rank 1 (a branch only the other ranks use), and
-- a large parameter whose .grad is not contiguous (it goes through the bucket).  Against one
-- process computing the mean of the per-rank mean losses: step-1 gradients to 1e-5
-- relative, parameters after 10 SGD-momentum steps to 1e-5, bit-identical on every rank
-- after every step.
local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim
local dist = dm.distributed
local C = dofile((arg[0]:match("^(.*/)") or "./") .. "common.lua")

dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()

-- trunk: 150 -> 128 (19200 weights: in place) -> tanh -> 3; branch: 128 -> 130 -> 3
-- (16640 weights), used by every rank but rank 1
local Net = nn.Module:extend("LargeNet")
function Net:__init ()
  self.trunk = nn.Linear(150, 128)
  self.head = nn.Linear(128, 3)
  self.branch = nn.Linear(128, 130)
  self.bhead = nn.Linear(130, 3)
end
function Net:forward (x, use_branch)
  local h = self.trunk(x):tanh()
  local y = self.head(h)
  if use_branch then y = y + self.bhead(self.branch(h):tanh()) end
  return y
end

for _, dtype in ipairs({ dm.float32, dm.float64 }) do
  local function build ()
    dm.manual_seed(11)
    return Net():to(dtype)
  end
  local g = dm.Generator(5)
  local N = 6 * world
  local X = dm.randn({ N, 150 }, { generator = g }):to(dtype)
  local Y = dm.randint(1, 4, { N }, { generator = g })
  local function shard (t, r) return t:narrow(1, 1 + 6 * r, 6) end
  local function uses_branch (r) return r ~= 1 end

  local model = build()
  local ddp = nn.parallel.DistributedDataParallel(model, { bucket_cap_mb = 0.05 })
  local ref = build()
  local opt = optim.SGD(ddp:parameters(), { lr = 0.05, momentum = 0.9 })
  local ropt = optim.SGD(ref:parameters(), { lr = 0.05, momentum = 0.9 })
  local lossf = nn.CrossEntropyLoss()
  for step = 1, 10 do
    opt:zero_grad()
    -- the trunk's weight gradient accumulates into a transposed (non-contiguous) tensor
    model.trunk.weight.grad = dm.zeros({ 150, 128 }, { dtype = dtype }):t()
    lossf(ddp(shard(X, rank), uses_branch(rank)), shard(Y, rank)):backward()
    assert(not model.trunk.weight.grad:is_contiguous(), "the trunk's .grad stays non-contiguous")
    ropt:zero_grad()
    local total = 0
    for r = 0, world - 1 do total = total + lossf(ref(shard(X, r), uses_branch(r)), shard(Y, r)) end
    (total / world):backward()
    if step == 1 then
      local p, q = ddp:parameters(), ref:parameters()
      for i = 1, #p do
        assert(p[i].grad, "parameter " .. i .. " has a gradient on every rank")
        C.close(p[i].grad, q[i].grad, 1e-5, "step-1 gradient " .. i)
      end
      C.ok(rank, "step-1 gradients " .. dtype.name)
    end
    opt:step()
    ropt:step()
    local v = nn.utils.parameters_to_vector(ddp:parameters())
    local all = {}
    dist.all_gather(all, v)
    for r = 2, world do
      assert(all[r]:eq(all[1]):all():item(),
             ("%s step %d: rank %d's parameters differ from rank 0's"):format(dtype.name, step, r - 1))
    end
  end
  C.ok(rank, "bit-identical parameters " .. dtype.name)
  local p, q = ddp:parameters(), ref:parameters()
  for i = 1, #p do C.close(p[i], q[i], 1e-5, "parameter " .. i .. " after 10 steps") end
  C.ok(rank, "parameters after 10 steps " .. dtype.name)
end
dist.destroy_process_group()
