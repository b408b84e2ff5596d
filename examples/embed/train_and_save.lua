--- examples/embed/train_and_save.lua: train a small classifier and save it for C hosts.
--
--   ./deepmoon examples/embed/train_and_save.lua [model.safetensors]
--
-- Three clusters of points in the plane, one class each; the model ends in Softmax, so it
-- answers three probabilities per point.  The saved file is read by nn.load_model (Lua),
-- dm_model_load (plain C: examples/embed/infer.c), and PyTorch's load_state_dict (its
-- tensors are the state_dict, "0.weight", ...).

local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim

local path = arg and arg[1] or "model.safetensors"

dm.manual_seed(42)
local centers = { { -2, 0 }, { 2, 0 }, { 0, 2.5 } }
local n = 60                                          -- points per class
local x = dm.zeros(3 * n, 2)
local y = dm.zeros(3 * n, { dtype = dm.int64 })           -- class labels: int64
local noise = dm.randn(3 * n, 2) * 0.6
for c, center in ipairs(centers) do
  for i = 1, n do
    local r = (c - 1) * n + i
    x:set(r, 1, center[1] + noise:get(r, 1))
    x:set(r, 2, center[2] + noise:get(r, 2))
    y:set(r, c)                                       -- class labels are 1-based
  end
end

local model = nn.Sequential(
  nn.Linear(2, 16), nn.ReLU(),
  nn.Linear(16, 16), nn.Tanh(),
  nn.Linear(16, 3))
local opt = optim.Adam(model:parameters(), { lr = 0.02 })
local loss_fn = nn.CrossEntropyLoss()
for _ = 1, 200 do
  opt:zero_grad()
  local loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
end

model:add(nn.Softmax(2))                              -- probabilities for the hosts
model:eval()
local ok, err = nn.save_model(model, path)
if not ok then error(err, 0) end
local correct = model(x):argmax(2):eq(y):float():sum():item()
print(("saved %s: %d -> %d, training accuracy %.3f"):format(path, 2, 3, correct / (3 * n)))
