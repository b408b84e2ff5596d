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

local dataset = require "deepmoon.data.dataset"
local dataloader = require "deepmoon.data.dataloader"

local data = {
  TensorDataset = dataset.TensorDataset,
  Subset = dataset.Subset,
  random_split = dataset.random_split,
  DataLoader = dataloader.DataLoader,
  default_collate = dataloader.default_collate,
}

-- CSV files and preparation load on first use: data.read_csv, data.standardize,
-- data.train_test_split (and the modules themselves as data.csv, data.prep)
local lazy = {
  csv = function () return require "deepmoon.data.csv" end,
  prep = function () return require "deepmoon.data.prep" end,
  read_csv = function () return require("deepmoon.data.csv").read_csv end,
  standardize = function () return require("deepmoon.data.prep").standardize end,
  train_test_split = function () return require("deepmoon.data.prep").train_test_split end,
}
return setmetatable(data, { __index = function (t, k)
  local load = lazy[k]
  if not load then return nil end
  local v = load()
  rawset(t, k, v)
  return v
end })
