--- bench/vmath_bench.lua: the float32 exp-based kernels (softmax, log_softmax, sigmoid, tanh,
--- exp, cross-entropy forward+backward); best of several runs, milliseconds.
--   LUA_PATH/LUA_CPATH as for the specs; lua5.4 bench/vmath_bench.lua
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local clock = dm.clock

local function best (f, reps)
  local b = math.huge
  for _ = 1, reps do
    local t0 = clock()
    f()
    b = math.min(b, clock() - t0)
  end
  return b * 1e3
end

dm.manual_seed(1)
local att = dm.randn(1024, 64, 64)
local small = dm.randn(16 * 4, 64, 64)
local v = dm.randn(1024 * 1024)
local logits = dm.randn(128, 1000)
local target = dm.randint(1, 1001, { 128 })
local ce = nn.CrossEntropyLoss()
local sq = small:clone():requires_grad_()
local gsq = dm.randn(16 * 4, 64, 64)
local lg = logits:clone():requires_grad_()

local rows = {
  { "softmax [64x64x64] dim 3", function () dm.softmax(small, 3) end, 50 },
  { "softmax [1024x64x64] dim 3", function () dm.softmax(att, 3) end, 10 },
  { "softmax [1024x64x64] dim 2", function () dm.softmax(att, 2) end, 10 },
  { "log_softmax [1024x64x64] dim 3", function () dm.log_softmax(att, 3) end, 10 },
  { "softmax [64x64x64] fwd+bwd", function () dm.softmax(sq, 3):backward(gsq) end, 50 },
  { "log_softmax [64x64x64] fwd+bwd", function () dm.log_softmax(sq, 3):backward(gsq) end, 50 },
  { "sigmoid 1M", function () dm.sigmoid(v) end, 30 },
  { "tanh 1M", function () dm.tanh(v) end, 30 },
  { "exp 1M", function () dm.exp(v) end, 30 },
  { "CrossEntropy [128x1000] fwd", function () ce(logits, target) end, 50 },
  { "CrossEntropy [128x1000] fwd+bwd", function () ce(lg, target):backward() end, 50 },
}
for _, r in ipairs(rows) do
  print(string.format("%-34s %8.3f ms", r[1], best(r[2], r[3])))
end
