-- Data-parallel training: the Fashion-MNIST CNN of examples/fashion_mnist.lua on several
-- processes (or machines) at once.  Each rank trains on its own shard of every epoch
-- (data.DistributedSampler) and DistributedDataParallel averages the gradients, so the ranks
-- move together as one model trained with the whole batch; rank 0 prints the progress and
-- the test accuracy and saves the model.
-- Run:  mpirun -np 2 ./deepmoon examples/ddp_mnist.lua [epochs [training images [model file
--                                                         [test images]]]]
--   (as root: OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; more ranks than
--   cores: --oversubscribe; across machines: a host file, e.g. --hostfile hosts)
--   defaults: 3 epochs over all 60 000 images, ddp_mnist.safetensors, all 10 000 test images
-- With batch 32 per rank, 2 ranks train with batch 64 as examples/fashion_mnist.lua does.
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local dist = dm.distributed

local epochs = tonumber(arg and arg[1]) or 3
local n_train = tonumber(arg and arg[2])
local path = arg and arg[3] or "ddp_mnist.safetensors"
local n_test = tonumber(arg and arg[4])

dist.init_process_group("mpi")
local rank, world = dist.get_rank(), dist.get_world_size()
local function say (...) if rank == 0 then print(...) end end

-- the same seed on every rank for the model (DDP starts every rank from rank 0's values
-- anyway); after it is built, each rank seeds its own stream for its dropout masks
dm.manual_seed(0)
local train_set = data.FashionMNIST(nil, { train = true })
local test_set = data.FashionMNIST(nil, { train = false })
local function tensors (set, n)
  local x = set.data:float():div(255):unsqueeze(2)
  local y = set.targets
  if n and n < x:size(1) then x, y = x:narrow(1, 1, n), y:narrow(1, 1, n) end
  return x, y
end
local Xtr, ytr = tensors(train_set, n_train)
local Xte, yte = tensors(test_set, n_test)
local mean, std = Xtr:mean():item(), Xtr:std():item()
Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
say(("%d training images on %d ranks, %d test images"):format(Xtr:size(1), world, Xte:size(1)))

local net = nn.Sequential(
  nn.Conv2d(1, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(32, 64, 3, { padding = 1 }), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
local model = nn.parallel.DistributedDataParallel(net)
dm.manual_seed(1000 + rank)          -- each rank its own dropout masks from here on

local criterion = nn.CrossEntropyLoss()
local optimizer = optim.Adam(model:parameters(), { lr = 1e-3 })
local train = data.TensorDataset(Xtr, ytr)
local sampler = data.DistributedSampler(train, { shuffle = true, seed = 1 })
local loader = data.DataLoader(train, { batch_size = 64 // world, sampler = sampler })

local function accuracy ()
  net:eval()
  local _ <close> = dm.no_grad()
  local right = 0
  for i = 1, Xte:size(1), 1000 do
    local n = math.min(1000, Xte:size(1) - i + 1)
    right = right + net(Xte:narrow(1, i, n)):argmax(2):eq(yte:narrow(1, i, n)):sum():item()
  end
  net:train()
  return right / Xte:size(1)
end

local start = dm.clock()
local acc
for epoch = 1, epochs do
  sampler:set_epoch(epoch)
  local total, batches = 0, 0
  for xb, yb in loader do
    optimizer:zero_grad()
    local loss = criterion(model(xb), yb)
    loss:backward()                  -- the gradients are averaged over the ranks here
    optimizer:step()
    total, batches = total + loss:item(), batches + 1
    if rank == 0 and batches % 100 == 0 then
      io.write(("\r  epoch %d: batch %d/%d, loss %.4f"):format(epoch, batches, #loader,
               total / batches))
      io.flush()
    end
  end
  -- the mean training loss over every rank's batches
  local l = dm.tensor({ total / batches })
  dist.all_reduce(l, { op = "avg" })
  if rank == 0 then
    acc = accuracy()
    print(("\r  epoch %d: training loss %.4f, test accuracy %.2f%%          "):format(
      epoch, l:item(), 100 * acc))
  end
end
local seconds = dm.clock() - start

if rank == 0 then
  -- the wrapped model's state_dict (model.module:state_dict() is the same): DDP's keys carry
  -- "module.", which consume_prefix_in_state_dict_if_present strips
  local sd = model:state_dict()
  nn.utils.consume_prefix_in_state_dict_if_present(sd, "module.")
  assert(dm.io.save(path, sd))
  say("saved " .. path)
  say(("Test accuracy: %.2f%% after %d epochs in %.1f s (%.0f images/s on %d ranks)"):format(
    100 * acc, epochs, seconds, epochs * Xtr:size(1) / seconds, world))
end
dist.destroy_process_group()
