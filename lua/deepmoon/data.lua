--- deepmoon.data: datasets and batch loading under PyTorch's names
--- (torch.utils.data: TensorDataset, Subset, random_split, DataLoader, default_collate).
--
--   local data = require "deepmoon.data"          -- or dm.data
--   local ds = data.TensorDataset(x, y)
--   local train, val = data.random_split(ds, {0.8, 0.2}, {generator = dm.Generator(42)})
--   for xb, yb in data.DataLoader(train, {batch_size = 32, shuffle = true}) do ... end
--
-- Indices are 1-based.  Any Lua object with a length and an indexer is a dataset; see
-- data/dataset.lua for the protocol and data/dataloader.lua for batching.
-- Images: data.FashionMNIST (data/vision.lua) and data.transforms (data/transforms.lua), as
-- torchvision.datasets.FashionMNIST and torchvision.transforms.

local core = require "deepmoon.core"
local dataset = require "deepmoon.data.dataset"
local dataloader = require "deepmoon.data.dataloader"

local data = {
  TensorDataset = dataset.TensorDataset,
  Subset = dataset.Subset,
  random_split = dataset.random_split,
  DataLoader = dataloader.DataLoader,
  default_collate = dataloader.default_collate,
}

--- Reads an IDX file (MNIST's format: train-images-idx3-ubyte, t10k-labels-idx1-ubyte), plain
-- or gzipped (a name ending in ".gz", or data starting with gzip's 1f 8b), into a tensor of the
-- file's shape.  Types: uint8 -> dm.uint8; int8, int16, int32 -> dm.int64 (exact); float32 ->
-- dm.float32; float64 -> dm.float64.  A file that is missing or malformed (bad magic, unknown
-- type, 0 or more than 8 dimensions, sizes that overflow, truncated or extra data, a corrupt
-- gzip stream) gives nil and a message "read_idx: <path>: <problem>".
-- @tparam string path
-- @return tensor, or nil and a message
-- @usage local images = assert(data.read_idx("data/mnist/train-images-idx3-ubyte.gz"))
--   -- images is uint8 [60000 x 28 x 28]; images:float():div(255) for training
function data.read_idx (path)
  if type(path) ~= "string" then
    error("bad argument #1 to 'read_idx' (string expected, got " .. type(path) .. ")", 2)
  end
  return core.idx_load(path)
end

-- CSV files and preparation load on first use: data.read_csv, data.standardize,
-- data.train_test_split (and the modules themselves as data.csv, data.prep)
local lazy = {
  csv = function () return require "deepmoon.data.csv" end,
  prep = function () return require "deepmoon.data.prep" end,
  read_csv = function () return require("deepmoon.data.csv").read_csv end,
  standardize = function () return require("deepmoon.data.prep").standardize end,
  train_test_split = function () return require("deepmoon.data.prep").train_test_split end,
  -- image datasets and transforms (torchvision's names): data.FashionMNIST, data.transforms
  FashionMNIST = function () return require("deepmoon.data.vision").FashionMNIST end,
  vision = function () return require "deepmoon.data.vision" end,
  transforms = function () return require "deepmoon.data.transforms" end,
}
-- data.DistributedSampler: each rank's share of a dataset (data/sampler.lua)
lazy.DistributedSampler = function () return require("deepmoon.data.sampler").DistributedSampler end
return setmetatable(data, { __index = function (t, k)
  local load = lazy[k]
  if not load then return nil end
  local v = load()
  rawset(t, k, v)
  return v
end })
