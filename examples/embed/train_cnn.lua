--- examples/embed/train_cnn.lua: train a small CNN on Fashion-MNIST and save it for C hosts.
--
--   ./deepmoon examples/embed/train_cnn.lua [cnn.safetensors] [images] [epochs]
--   build/examples/embed_classify cnn.safetensors \
--       /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz 0
--
-- Trains on the first `images` training images (default 6000) for `epochs` passes (default
-- 1), inputs x / 255 ([N x 1 x 28 x 28]), and saves the model with nn.save_model and
-- {input_shape = {1, 28, 28}}: plain C (examples/embed/classify_image.c, dm_model_load) then
-- takes each image as one flat row of 784 values.  Prints the test accuracy on the first 2000
-- test images.  The data are Debian's dataset-fashion-mnist (`make` installs it).

local dm = require "deepmoon"
local nn, optim, data = dm.nn, dm.optim, dm.data

local path = arg and arg[1] or "cnn.safetensors"
local n_train = math.tointeger(tonumber(arg and arg[2] or "6000"))
local epochs = math.tointeger(tonumber(arg and arg[3] or "1"))
local ROOT = "/usr/share/datasets/fashion-mnist/"

local function images (name, n)
  local t = assert(data.read_idx(ROOT .. name))
  return t:narrow(1, 1, math.min(n, t:size(1))):float():div(255)
end
local function labels (name, n)
  local t = assert(data.read_idx(ROOT .. name))
  return t:narrow(1, 1, math.min(n, t:size(1))):long() + 1    -- classes 1..10 in Lua
end

dm.manual_seed(7)
local x = images("train-images-idx3-ubyte.gz", n_train):unsqueeze(2)   -- [N x 1 x 28 x 28]
local y = labels("train-labels-idx1-ubyte.gz", n_train)
local model = nn.Sequential(
  nn.Conv2d(1, 8, 5, { padding = 2 }), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),                       -- [16 x 6 x 6]
  nn.Dropout2d(0.1), nn.Flatten(), nn.Linear(16 * 6 * 6, 10))
local opt = optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
local loss_fn = nn.CrossEntropyLoss()
local batch = 64
for _ = 1, epochs do
  model:train()
  local order = dm.randperm(x:size(1))                  -- 1-based positions
  for i = 1, x:size(1), batch do
    local idx = order:narrow(1, i, math.min(batch, x:size(1) - i + 1))
    opt:zero_grad()
    local loss = loss_fn(model(x:index_select(1, idx)), y:index_select(1, idx))
    loss:backward()
    opt:step()
  end
end
model:eval()

local ok, err = nn.save_model(model, path, { input_shape = { 1, 28, 28 } })
if not ok then error(err, 0) end
local tx = images("t10k-images-idx3-ubyte.gz", 2000):unsqueeze(2)
local ty = labels("t10k-labels-idx1-ubyte.gz", 2000)
local correct = dm.no_grad(function () return model(tx):argmax(2):eq(ty):float():sum():item() end)
print(("saved %s: [1 x 28 x 28] -> 10 classes, test accuracy %.3f on 2000 images")
      :format(path, correct / 2000))
