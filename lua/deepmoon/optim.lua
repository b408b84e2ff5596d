--- deepmoon.optim: optimizers and learning-rate schedulers under PyTorch's names.
--
--   local optim = require "deepmoon.optim"          -- or dm.optim
--   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
--   local sched = optim.lr_scheduler.StepLR(opt, {step_size = 10})
--   for epoch = 1, 30 do
--     opt:zero_grad(); loss_fn(model(x), y):backward(); opt:step()
--     sched:step()
--   end
--
-- See optim/optimizer.lua for parameter groups, state and state_dict.

local Optimizer = require "deepmoon.optim.optimizer"
local adam = require "deepmoon.optim.adam"
local lr_scheduler = require "deepmoon.optim.lr_scheduler"

local optim = {
  Optimizer = Optimizer,
  SGD = require "deepmoon.optim.sgd",
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  lr_scheduler = lr_scheduler,
  -- the schedulers are reachable directly too
  StepLR = lr_scheduler.StepLR,
  ExponentialLR = lr_scheduler.ExponentialLR,
  CosineAnnealingLR = lr_scheduler.CosineAnnealingLR,
}

return optim
