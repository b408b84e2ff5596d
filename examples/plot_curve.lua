-- Training curves as an SVG image: the same small classifier (is x1 + x2 > 1?) trained
-- three times, with Xavier, He (Kaiming) and PyTorch's default initialisation, and the
-- loss of each epoch plotted on a log scale.
-- Run from the repository root:  ./deepmoon examples/plot_curve.lua [curve.svg]
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local plot = require "deepmoon.plot"

local path = arg and arg[1] or "curve.svg"

dm.manual_seed(42)
local X = dm.rand(200, 2)
local y = X:sum(2, true):gt(1):float()                  -- [200 x 1] of 0 and 1

local function train (init_fn, epochs)
  dm.manual_seed(1)
  local model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
  if init_fn then
    for _, m in ipairs({ model[1], model[3] }) do
      init_fn(m.weight)
      nn.init.zeros_(m.bias)
    end
  end
  local criterion = nn.BCELoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.1, momentum = 0.9 })
  local loader = data.DataLoader(data.TensorDataset(X, y),
                                 { batch_size = 20, shuffle = true, generator = dm.Generator(7) })
  local losses = {}
  for epoch = 1, epochs do
    local total = 0
    for xb, yb in loader do
      optimizer:zero_grad()
      local loss = criterion(model(xb), yb)
      loss:backward()
      optimizer:step()
      total = total + loss:item() * xb:size(1)
    end
    losses[epoch] = total / X:size(1)
  end
  return losses
end

local epochs = 60
local series = {
  { name = "Xavier normal", y = train(nn.init.xavier_normal_, epochs) },
  { name = "He (Kaiming) normal",
    y = train(function (w) nn.init.kaiming_normal_(w, { nonlinearity = "relu" }) end, epochs) },
  { name = "PyTorch default", y = train(nil, epochs) },
}
for _, s in ipairs(series) do
  print(("%-20s loss after %d epochs: %.4f"):format(s.name, epochs, s.y[epochs]))
end

assert(plot.line{
  series = series,
  title = "Training loss: is x1 + x2 > 1?",
  xlabel = "epoch", ylabel = "binary cross-entropy (log scale)", log_y = true,
  path = path,
})
print("wrote " .. path)
