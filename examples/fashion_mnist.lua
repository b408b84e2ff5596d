-- Fashion-MNIST: a small convolutional network learns to tell ten kinds of clothing apart
-- from 28x28 greyscale photos (60 000 to train on, 10 000 to test; Debian's
-- dataset-fashion-mnist, which `make` installs), with a progress bar per epoch and the loss
-- and accuracy curves drawn to an SVG file.
-- Run:  ./deepmoon examples/fashion_mnist.lua [epochs [training images [plot.svg]]]
--   defaults: 3 epochs over all 60 000 images, fashion_mnist.svg
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local progress = require "deepmoon.progress"
local plot = require "deepmoon.plot"

local epochs = tonumber(arg and arg[1]) or 3
local n_train = tonumber(arg and arg[2])
local svg = arg and arg[3] or "fashion_mnist.svg"

dm.manual_seed(0)
local train_set = data.FashionMNIST(nil, { train = true })
local test_set = data.FashionMNIST(nil, { train = false })

-- whole splits as tensors: images [N x 1 x 28 x 28] in [0, 1], standardised with the
-- training split's mean and std; labels 1..10
local function tensors (set, n)
  local x = set.data:float():div_(255):unsqueeze(2)     -- in place: one copy of the split
  local y = set.targets
  if n and n < x:size(1) then x, y = x:narrow(1, 1, n), y:narrow(1, 1, n) end
  return x, y
end
local Xtr, ytr = tensors(train_set, n_train)
local Xte, yte = tensors(test_set)
local mean, std = Xtr:mean():item(), Xtr:std():item()
Xtr, Xte = Xtr:sub_(mean):div_(std), Xte:sub_(mean):div_(std)
print(("%d training images, %d test images of %s"):format(Xtr:size(1), Xte:size(1),
      table.concat(train_set.classes, ", ")))

-- two convolutions with batch norm, ReLU and max-pooling, then a small classifier
local model = nn.Sequential(
  nn.Conv2d(1, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(32, 64, 3, { padding = 1 }), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
print(model)

local criterion = nn.CrossEntropyLoss()
local optimizer = optim.Adam(model:parameters(), { lr = 1e-3 })
local loader = data.DataLoader(data.TensorDataset(Xtr, ytr),
                               { batch_size = 64, shuffle = true, generator = dm.Generator(1) })

-- in batches of 250: a batch's activations and convolution workspaces (some 180 MB) stay
-- within the core's block cache; at 1000 images a batch they came to ~700 MB, and what the
-- cache could not hold went back to the system and faulted in afresh at the next batch
local EVAL_BATCH = 250
local function accuracy (X, y)
  model:eval()
  local _ <close> = dm.no_grad()
  local right = 0
  for i = 1, X:size(1), EVAL_BATCH do
    local n = math.min(EVAL_BATCH, X:size(1) - i + 1)
    right = right + model(X:narrow(1, i, n)):argmax(2):eq(y:narrow(1, i, n)):sum():item()
  end
  model:train()
  return right / X:size(1)
end

local losses, accs = {}, {}
local start = dm.clock()
for epoch = 1, epochs do
  local t0, cpu0 = dm.clock(), os.clock()
  local bar = progress.bar{ desc = ("epoch %d/%d"):format(epoch, epochs) }
  local total, batches = 0, 0
  for xb, yb in bar:wrap(loader) do
    optimizer:zero_grad()
    local loss = criterion(model(xb), yb)
    loss:backward()
    optimizer:step()
    total, batches = total + loss:item(), batches + 1
    bar:set_postfix{ loss = total / batches }
  end
  losses[epoch], accs[epoch] = total / batches, accuracy(Xte, yte)
  -- wall time, and CPU time (all threads): on a shared machine the two tell load from work
  print(("  epoch %d: training loss %.4f, test accuracy %.2f%% (%.1f s, %.1f s of CPU)"):format(
    epoch, losses[epoch], 100 * accs[epoch], dm.clock() - t0, os.clock() - cpu0))
end
local seconds = dm.clock() - start

if epochs >= 2 then
  assert(plot.line{ series = { { name = "training loss", y = losses },
                               { name = "test accuracy", y = accs } },
                    title = "Fashion-MNIST: a small CNN", xlabel = "epoch",
                    ylabel = "loss (cross-entropy) and accuracy", path = svg })
  print("wrote " .. svg)
end
print(("Test accuracy: %.2f%% after %d epochs in %.1f s (%.0f images/s)"):format(
  100 * accs[epochs], epochs, seconds, epochs * Xtr:size(1) / seconds))
