-- Sequence regression: a GRU learns to continue sine waves.  Each sequence is 24 samples of
-- sin(w t + phase) with its own frequency and phase; at every step the model (GRU(1, 32) ->
-- Linear(32, 1)) predicts the next sample.  Seeded; prints the loss as it trains, the final
-- loss beside the baseline "the next sample equals this one", and one continued wave.
-- Run:  ./deepmoon examples/sine.lua [steps = 300]
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"

local steps = tonumber(arg and arg[1]) or 300
local T, B = 24, 32

-- B waves of T + 1 samples: inputs are samples 1..T, targets 2..T+1 ([B x T x 1] each)
local rng = dm.Generator(1)
local function batch ()
  local w = dm.rand({ B }, { generator = rng }) * 0.6 + 0.2        -- radians per sample
  local ph = dm.rand({ B }, { generator = rng }) * (2 * math.pi)
  local x, y = {}, {}
  local wv, pv = w:values(), ph:values()
  for b = 1, B do
    for t = 1, T do
      x[#x + 1] = math.sin(wv[b] * (t - 1) + pv[b])
      y[#y + 1] = math.sin(wv[b] * t + pv[b])
    end
  end
  return dm.tensor(x):view(B, T, 1), dm.tensor(y):view(B, T, 1)
end

local Model = nn.Module:extend("SineGRU")
function Model:__init ()
  self.gru = nn.GRU(1, 32, { batch_first = true })
  self.head = nn.Linear(32, 1)
end
function Model:forward (x)
  local out = self.gru(x)                                         -- [B x T x 32]
  return self.head(out)                                           -- [B x T x 1]
end

dm.manual_seed(0)
local model = Model()
print(model)
local optimizer = optim.Adam(model:parameters(), { lr = 1e-2 })
local mse = nn.MSELoss()

local loss
for step = 1, steps do
  local x, y = batch()
  optimizer:zero_grad()
  loss = mse(model(x), y)
  loss:backward()
  optimizer:step()
  if step % 50 == 0 or step == 1 then
    print(("step %4d  loss %.5f"):format(step, loss:item()))
  end
end

-- held-out waves: the model against repeating the last sample
local x, y = batch()
local pred = dm.no_grad(function () return model(x) end)
local final = mse(pred, y):item()
local baseline = mse(x, y):item()
print(("final loss: %.5f (baseline, the next sample equals this one: %.5f)"):format(final,
      baseline))
local p, w = pred:select(1, 1):view(T):values(), y:select(1, 1):view(T):values()
local row = {}
for t = T - 5, T do row[#row + 1] = ("%+.3f/%+.3f"):format(p[t], w[t]) end
print("last steps of one wave, predicted/true: " .. table.concat(row, "  "))
