--- tools/cg_workloads.lua MODE N: fixed work for callgrind instruction counts, the same on this
--- tree and on base dd74404 (BENCHMARKS.md, issue 10): lin | add N calls, article | mlp N
--- steps, none (start-up only).  ./deepmoon tools/cg_workloads.lua lin 100000
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local mode, n = arg[1], tonumber(arg[2])
local function tofloat (t) if t.float then return t:float() end return t end
if mode == "lin" then
  local lin = nn.Linear(2, 2)
  local x = dm.tensor({ { 1.0, 2.0 } })
  for _ = 1, n do local _ = lin(x) end
elseif mode == "add" then
  local a, b = dm.rand(4, 4), dm.rand(4, 4)
  for _ = 1, n do local _ = a + b end
elseif mode == "none" then
  local lin = nn.Linear(2, 2)
  local a, b = dm.rand(4, 4), dm.rand(4, 4)
elseif mode == "article" then
  local init = nn.init
  local C = nn.Module:extend("SimpleClassifier")
  function C:__init ()
    nn.Module.__init(self)
    self.fc1 = nn.Linear(2, 64); self.relu = nn.ReLU()
    self.fc2 = nn.Linear(64, 1); self.sigmoid = nn.Sigmoid()
    init.kaiming_normal_(self.fc1.weight, { nonlinearity = "relu" })
    init.kaiming_normal_(self.fc2.weight, { nonlinearity = "relu" })
  end
  function C:forward (x) return self.sigmoid(self.fc2(self.relu(self.fc1(x)))) end
  dm.manual_seed(42)
  local X = dm.rand(100, 2)
  local y = tofloat(X:sum(2, true):gt(1))
  local loader = data.DataLoader(data.TensorDataset(X, y), { batch_size = 16, shuffle = true })
  local model = C()
  local criterion = nn.BCELoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.01 })
  local step, loss = 0, nil
  while step < n do
    for inputs, labels in loader do
      optimizer:zero_grad()
      loss = criterion(model(inputs), labels)
      loss:backward()
      optimizer:step()
      step = step + 1
    end
  end
  print("loss", loss:item())
elseif mode == "mlp" then
  dm.set_num_threads(1)
  dm.manual_seed(0)
  local batch, nb = 128, 16
  local xs, ys = {}, {}
  local newlabels = dm.tensor({1}).long ~= nil and (function () local ok = pcall(function () return dm.tensor({1}):long() end) return ok end)()
  for k = 1, nb do
    xs[k] = dm.randn(batch, 784)
    local l = (dm.rand(batch) * 10):floor() + 1
    if newlabels then l = l:long() end
    ys[k] = l
  end
  local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
  local criterion = nn.CrossEntropyLoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.01, momentum = 0.9 })
  local loss
  for k = 1, n do
    local i = k % nb + 1
    optimizer:zero_grad()
    loss = criterion(model(xs[i]), ys[i])
    loss:backward()
    optimizer:step()
  end
  print("loss", loss:item())
end
