-- The seed article asks which initial weights to choose and advises to "experiment and
-- observe the training loss and convergence speed".  This script runs that experiment:
--   1. the article's classifier (is x1 + x2 > 1?): what init.recommend advises, then every
--      scheme trained the article's way (SGD, lr 0.01, 1000 epochs);
--   2. a deep narrow MLP (24 Linear layers of width 32 with tanh) on the same task, where
--      the choice decides whether it trains at all: init.diagnose shows why, init.compare
--      shows the result.
-- Each comparison prints a table and writes its loss curves as an SVG.
-- Run from the repository root:  ./deepmoon examples/init_compare.lua [output-prefix]
-- (writes <prefix>article.svg and <prefix>deep.svg; the prefix defaults to "init_").
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = nn.init
local optim = require "deepmoon.optim"

local prefix = arg and arg[1] or "init_"

-- the article's data: label 1 when x1 + x2 > 1; fresh points to validate on
dm.manual_seed(42)
local X = dm.rand(100, 2)
local y = X:sum(2, true):gt(1):float()
local Xval = dm.rand(400, 2)
local yval = Xval:sum(2, true):gt(1):float()

-- 1. The article's classifier ----------------------------------------------------------
local SimpleClassifier = nn.Module:extend("SimpleClassifier")

function SimpleClassifier:__init ()
  self.fc1 = nn.Linear(2, 64)
  self.relu = nn.ReLU()
  self.fc2 = nn.Linear(64, 1)
  self.sigmoid = nn.Sigmoid()
end

function SimpleClassifier:forward (x)
  return self.sigmoid(self.fc2(self.relu(self.fc1(x))))
end

print("== The article's classifier\n")
print(init.recommend(SimpleClassifier()))
print()

init.compare{
  model = SimpleClassifier,
  schemes = { "uniform", "default", "xavier", "kaiming", "orthogonal", "lsuv", "recommended" },
  data = { X, y }, val = { Xval, yval },
  loss = nn.BCELoss(),
  optimizer = function (params) return optim.SGD(params, { lr = 0.01 }) end,
  epochs = 1000, batch_size = 16, seed = 42, target_loss = 0.2,
  plot = prefix .. "article.svg", title = "The article's classifier: training loss",
}

-- 2. A deep narrow MLP ------------------------------------------------------------------
local DEPTH, WIDTH = 24, 32

local function deep_mlp ()
  local layers = { nn.Linear(2, WIDTH), nn.Tanh() }
  for _ = 1, DEPTH - 2 do
    layers[#layers + 1] = nn.Linear(WIDTH, WIDTH)
    layers[#layers + 1] = nn.Tanh()
  end
  layers[#layers + 1] = nn.Linear(WIDTH, 1)
  layers[#layers + 1] = nn.Sigmoid()
  return nn.Sequential(table.unpack(layers))
end

dm.manual_seed(7)
local Xd = dm.rand(400, 2)
local yd = Xd:sum(2, true):gt(1):float()

print(("\n== A deep narrow MLP: %d Linear layers of width %d, tanh\n"):format(DEPTH, WIDTH))

-- weights from U(-0.1, 0.1): every layer shrinks the signal about threefold
local bad = deep_mlp()
bad:apply(function (m)
  if m:_get_name() == "Linear" then
    init.uniform_(m.weight, -0.1, 0.1)
    init.zeros_(m.bias)
  end
end)
init.diagnose(bad, Xd)

-- the same network with Xavier weights keeps its signal
local good = deep_mlp()
good:apply(function (m)
  if m:_get_name() == "Linear" then
    init.xavier_normal_(m.weight)
    init.zeros_(m.bias)
  end
end)
local report = init.diagnose(good, Xd, { verbose = false })
print(("\nwith xavier_normal_ instead: %s (activation std ratio last/first %.3g, " ..
       "gradient std ratio first/last %.3g)\n"):format(
  report.ok and "no flags" or table.concat(report.flags, "; "),
  report.activation_ratio, report.gradient_ratio))

init.compare{
  model = deep_mlp,
  schemes = { "uniform", "default", "xavier", "kaiming", "orthogonal", "lsuv", "recommended" },
  data = { Xd, yd }, val = { Xval, yval },
  loss = nn.BCELoss(),
  optimizer = function (params) return optim.SGD(params, { lr = 0.02, momentum = 0.5 }) end,
  epochs = 50, batch_size = 16, seed = 42, target_loss = 0.3,
  plot = prefix .. "deep.svg",
  title = ("%d-layer tanh MLP (width %d): training loss"):format(DEPTH, WIDTH),
}
