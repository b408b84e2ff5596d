-- Handwritten digits: a two-layer network learns the 8x8 UCI digits (the data set
-- scikit-learn calls `digits`, shipped in data/digits/) and is tested on a held-out fifth.
-- Run:  ./deepmoon examples/digits.lua [--cnn] [path/to/digits.csv]
--   --cnn: a small convolutional network on the 8x8 images instead of the two-layer one
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local progress = require "deepmoon.progress"

-- the data set lies at ../data/digits/ from this script
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local cnn, path = false, here .. "/../data/digits/digits.csv"
for _, a in ipairs(arg or {}) do
  if a == "--cnn" then cnn = true else path = a end
end

-- 1797 images of 64 pixels (0..16) and the digit each shows
local X, digit = assert(data.read_csv(path, { label_column = "digit" }))
local y = (digit + 1):long()                          -- class labels: 1-based int64, digit d -> d + 1
print(("read %d images of %d pixels from %s"):format(X:size(1), X:size(2), path))

-- a seeded split, then each pixel scaled with the training split's statistics
local g = dm.Generator(0)
local Xtr, Xte, ytr, yte = data.train_test_split(X, y, { test_size = 0.2, generator = g })
local mean, std
Xtr, mean, std = data.standardize(Xtr)
Xte = data.standardize(Xte, { mean = mean, std = std })
print(("%d training images, %d test images"):format(Xtr:size(1), Xte:size(1)))

dm.manual_seed(0)
local model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
if cnn then
  -- the rows seen as 1-channel 8x8 images: two 3x3 convolutions, a 2x2 max-pool, a classifier
  model = nn.Sequential(nn.Unflatten(2, { 1, 8, 8 }),
                        nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(),
                        nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10))
end
local criterion = nn.CrossEntropyLoss()
local optimizer = optim.Adam(model:parameters(), { lr = 1e-3 })
local loader = data.DataLoader(data.TensorDataset(Xtr, ytr),
                               { batch_size = 32, shuffle = true, generator = g })

local function accuracy (inputs, labels)
  model:eval()
  local _ <close> = dm.no_grad()
  local predicted = model(inputs):argmax(2)
  model:train()
  return predicted:eq(labels):float():mean():item()
end

local epochs = 30
for epoch = 1, epochs do
  local bar = progress.bar{ desc = ("epoch %2d/%d"):format(epoch, epochs), every = #loader }
  local total, batches = 0, 0
  for xb, yb in bar:wrap(loader) do
    optimizer:zero_grad()
    local loss = criterion(model(xb), yb)
    loss:backward()
    optimizer:step()
    total, batches = total + loss:item(), batches + 1
    bar:set_postfix{ loss = total / batches }
  end
  if epoch % 10 == 0 then
    print(("  train accuracy %.2f%%, test accuracy %.2f%%")
          :format(100 * accuracy(Xtr, ytr), 100 * accuracy(Xte, yte)))
  end
end

print(("Test accuracy: %.2f%%"):format(100 * accuracy(Xte, yte)))
