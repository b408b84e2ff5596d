-- The seed article's example in deepmoon: a tiny network initialised with Xavier, then a
-- classifier with He (Kaiming) initialisation trained to tell whether x1 + x2 > 1.
-- Run with: ./deepmoon examples/article.lua   (or make demo)
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = nn.init
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"

-- 1. A simple network with Xavier initialisation
local SimpleNN = nn.Module:extend("SimpleNN")

function SimpleNN:__init ()
  nn.Module.__init(self)
  self.fc = nn.Linear(2, 2)
  init.xavier_normal_(self.fc.weight)
end

function SimpleNN:forward (x)
  return self.fc(x)
end

local model = SimpleNN()
print(model.fc.weight)
print(model(dm.tensor({ { 1.0, 2.0 } })))

-- 2. A classifier with He initialisation for its ReLU layer
local SimpleClassifier = nn.Module:extend("SimpleClassifier")

function SimpleClassifier:__init ()
  nn.Module.__init(self)
  self.fc1 = nn.Linear(2, 64)
  self.relu = nn.ReLU()
  self.fc2 = nn.Linear(64, 1)
  self.sigmoid = nn.Sigmoid()
  init.kaiming_normal_(self.fc1.weight, { nonlinearity = "relu" })
  init.kaiming_normal_(self.fc2.weight, { nonlinearity = "relu" })
end

function SimpleClassifier:forward (x)
  x = self.relu(self.fc1(x))
  return self.sigmoid(self.fc2(x))
end

-- data: label 1 when x1 + x2 > 1
dm.manual_seed(42)
local X = dm.rand(100, 2)
local y = X:sum(2, true):gt(1):float()                -- [100 x 1] of 0 and 1

local loader = data.DataLoader(data.TensorDataset(X, y), { batch_size = 16, shuffle = true })

model = SimpleClassifier()
print(model)
local criterion = nn.BCELoss()
local optimizer = optim.SGD(model:parameters(), { lr = 0.01 })

local epochs = 1000
for epoch = 1, epochs do
  local loss
  for inputs, labels in loader do
    optimizer:zero_grad()
    local outputs = model(inputs)
    loss = criterion(outputs, labels)
    loss:backward()
    optimizer:step()
  end
  if epoch % 100 == 0 then
    print(("Epoch [%d/%d] - Loss: %.4f"):format(epoch, epochs, loss:item()))
  end
end

-- evaluate on 20 fresh points
model:eval()
dm.no_grad(function ()
  local test_data = dm.rand(20, 2)
  local test_labels = test_data:sum(2, true):gt(1):float()
  local predicted = model(test_data):gt(0.5)
  local accuracy = predicted:eq(test_labels):float():mean():item()
  print(("Test Accuracy: %.2f%%"):format(accuracy * 100))
end)
