--- bench/workloads.lua: the workloads of `make bench`, run one per process by bench/run.lua
-- (so that each peak RSS is its own):
--
--   ./deepmoon bench/workloads.lua article [steps [checkpoint,...]]
--   ./deepmoon bench/workloads.lua mlp [threads]
--   ./deepmoon bench/workloads.lua ops
--   ./deepmoon bench/workloads.lua lenet [threads]
--   ./deepmoon bench/workloads.lua block [threads]
--   ./deepmoon bench/workloads.lua lstm [threads]
--   ./deepmoon bench/workloads.lua transformer [threads]
--
-- Each prints one line of key=value pairs (times in seconds, memory in KB).  The same
-- workloads in PyTorch are in bench/torch_bench.py; keep the two in step.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"

local clock = dm.clock

local function vm_kb (field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+) kB")
    if kb then return tonumber(kb) end
  end
  return -1
end

local function report (t)
  t.hwm_kb = vm_kb("VmHWM")
  t.rss_kb = vm_kb("VmRSS")
  t.threads = t.threads or dm.get_num_threads()
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. tostring(t[k]) end
  print(table.concat(parts, " "))
end

local W = {}

--- (a) the seed article's training loop, as examples/article.lua writes it: 1000 epochs of
--- 7 batches.  steps > 7000 runs more epochs; checkpoints (comma-separated step counts)
--- record VmRSS when reached.
function W.article (steps, checkpoints)
  steps = tonumber(steps) or 7000
  local marks = {}
  for s in tostring(checkpoints or ""):gmatch("%d+") do marks[tonumber(s)] = true end
  local init = nn.init

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

  dm.manual_seed(42)
  local X = dm.rand(100, 2)
  local y = X:sum(2, true):gt(1):float()
  local loader = data.DataLoader(data.TensorDataset(X, y), { batch_size = 16, shuffle = true })
  local model = SimpleClassifier()
  local criterion = nn.BCELoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.01 })

  local out = {}
  local step, loss = 0, nil
  local t0 = clock()
  while step < steps do
    for inputs, labels in loader do
      optimizer:zero_grad()
      local outputs = model(inputs)
      loss = criterion(outputs, labels)
      loss:backward()
      optimizer:step()
      step = step + 1
      if marks[step] then out["rss_" .. step] = vm_kb("VmRSS") end
    end
  end
  out.time = clock() - t0
  out.steps = step
  out.loss = loss:item()
  report(out)
end

--- (b) a 784-512-512-10 ReLU MLP, cross-entropy, SGD with momentum 0.9, batch 128, on 16
--- fixed batches of random data; samples per second in the best window of 10 steps over
--- ~2 s, after 5 warm-up steps.
function W.mlp (threads)
  threads = tonumber(threads)
  if threads then dm.set_num_threads(threads) end
  dm.manual_seed(0)
  local batch, nbatches = 128, 16
  local xs, ys = {}, {}
  for k = 1, nbatches do
    xs[k] = dm.randn(batch, 784)
    ys[k] = ((dm.rand(batch) * 10):floor() + 1):long() -- classes 1 .. 10 (int64)
  end
  local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
  local criterion = nn.CrossEntropyLoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.01, momentum = 0.9 })
  local function step (k)
    local i = k % nbatches + 1
    optimizer:zero_grad()
    local loss = criterion(model(xs[i]), ys[i])
    loss:backward()
    optimizer:step()
    return loss
  end
  for k = 1, 5 do step(k) end
  -- windows of 10 steps for ~2 s: the best window is the figure (this machine is shared and
  -- its speed varies from second to second), the total the average
  local steps, loss, best = 0, nil, math.huge
  local t0 = clock()
  repeat
    local w0 = clock()
    for _ = 1, 10 do
      loss = step(steps)
      steps = steps + 1
    end
    best = math.min(best, clock() - w0)
  until clock() - t0 > 2.0
  local t = clock() - t0
  report({ time = t, steps = steps, samples_per_s = 10 * batch / best,
           samples_per_s_avg = steps * batch / t, loss = loss:item(),
           threads = dm.get_num_threads() })
end

--- (c) per-op overhead from Lua: a + b on 4x4 tensors, and nn.Linear(2, 2) forward on a
--- 1x2 input (recording autograd, as in training).  Windows of 50 000 calls for ~1.5 s per
--- op; the best window is the figure (as for (b): this machine is shared, and its speed
--- changes from second to second), the average is printed beside it.
function W.ops ()
  local a, b = dm.rand(4, 4), dm.rand(4, 4)
  local lin = nn.Linear(2, 2)
  local x = dm.tensor({ { 1.0, 2.0 } })
  local window = 50000
  local function measure (f)
    f(window)                                  -- warm-up
    local best, total, calls = math.huge, 0, 0
    repeat
      local t0 = clock()
      f(window)
      local dt = clock() - t0
      best, total, calls = math.min(best, dt), total + dt, calls + window
    until total > 1.5
    return best / window * 1e6, total / calls * 1e6
  end
  local add_us, add_avg = measure(function (n) for _ = 1, n do local _ = a + b end end)
  local lin_us, lin_avg = measure(function (n) for _ = 1, n do local _ = lin(x) end end)
  report({ add_us = add_us, add_us_avg = add_avg, linear_us = lin_us, linear_us_avg = lin_avg })
end

-- best window of `win` calls of f over ~`secs` seconds (after `warm` calls): the best window's
-- time per call and the average time per call
local function best_window (f, win, secs, warm)
  for _ = 1, warm do f() end
  local best, calls = math.huge, 0
  local t0 = clock()
  repeat
    local w0 = clock()
    for _ = 1, win do f() end
    best = math.min(best, clock() - w0)
    calls = calls + win
  until clock() - t0 > secs
  return best / win, (clock() - t0) / calls, calls
end

-- a CNN's training step and inference pass on fixed random batches: samples/s in the best
-- window of 5 steps over ~2 s (training) and of 10 passes over ~1 s (inference, eval mode,
-- no_grad), after warm-up, as (b)
local function cnn (model, shape, batch, threads)
  threads = tonumber(threads)
  if threads then dm.set_num_threads(threads) end
  local nbatches = 8
  local xs, ys = {}, {}
  for k = 1, nbatches do
    xs[k] = dm.randn(batch, table.unpack(shape))
    ys[k] = ((dm.rand(batch) * 10):floor() + 1):long()
  end
  local criterion = nn.CrossEntropyLoss()
  local optimizer = optim.SGD(model:parameters(), { lr = 0.01, momentum = 0.9 })
  local k, loss = 0, nil
  local function step ()
    k = k + 1
    local i = k % nbatches + 1
    optimizer:zero_grad()
    loss = criterion(model(xs[i]), ys[i])
    loss:backward()
    optimizer:step()
  end
  local t0 = clock()
  local train_s, train_avg, steps = best_window(step, 5, 2.0, 5)
  local t = clock() - t0
  model:eval()
  local function infer ()
    k = k + 1
    local _ = model(xs[k % nbatches + 1])
  end
  local inf_s, inf_avg = dm.no_grad(function () return best_window(infer, 10, 1.0, 3) end)
  report({ time = t, steps = steps, samples_per_s = batch / train_s,
           samples_per_s_avg = batch / train_avg, infer_samples_per_s = batch / inf_s,
           infer_samples_per_s_avg = batch / inf_avg, loss = loss:item(),
           threads = dm.get_num_threads() })
end

--- (f) LeNet-5 on 1x28x28 (conv 6x5x5 padding 2, ReLU, max-pool 2; conv 16x5x5, ReLU,
--- max-pool 2; Linear 400-120-84-10 with ReLU), batch 64, cross-entropy, SGD momentum 0.9
function W.lenet (threads)
  dm.manual_seed(0)
  local model = nn.Sequential(
    nn.Conv2d(1, 6, 5, { padding = 2 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
  cnn(model, { 1, 28, 28 }, 64, threads)
end

--- (g) a wider block on 3x32x32: conv 3x3 32 (padding 1), BatchNorm2d, ReLU, max-pool 2;
--- conv 3x3 64 (padding 1), BatchNorm2d, ReLU, max-pool 2; Linear 4096-10; batch 32,
--- cross-entropy, SGD momentum 0.9
function W.block (threads)
  dm.manual_seed(0)
  local model = nn.Sequential(
    nn.Conv2d(3, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, { padding = 1 }), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 8 * 8, 10))
  cnn(model, { 3, 32, 32 }, 32, threads)
end

-- a language model's training step on fixed random token batches ([batch x seq] ids in
-- 1 .. vocab, targets the same shape): tokens/s in the best window of 5 steps over ~2 s,
-- after 5 warm-up steps, as (b).  `forward(x)` gives the [batch x seq x vocab] logits.
local function lm (model, forward, batch, seq, vocab, clip, threads)
  threads = tonumber(threads)
  if threads then dm.set_num_threads(threads) end
  local nbatches = 8
  local xs, ys = {}, {}
  for k = 1, nbatches do
    xs[k] = ((dm.rand(batch, seq) * vocab):floor() + 1):long()
    ys[k] = ((dm.rand(batch * seq) * vocab):floor() + 1):long()
  end
  local criterion = nn.CrossEntropyLoss()
  local params = model:parameters()
  local optimizer = optim.Adam(params, { lr = 1e-3 })
  local k, loss = 0, nil
  local function step ()
    k = k + 1
    local i = k % nbatches + 1
    optimizer:zero_grad()
    loss = criterion(forward(xs[i]):reshape(batch * seq, vocab), ys[i])
    loss:backward()
    if clip then nn.utils.clip_grad_norm_(params, clip) end
    optimizer:step()
  end
  for _ = 1, 5 do step() end
  local c0 = os.clock()
  local t0 = clock()
  local train_s, train_avg, steps = best_window(step, 5, 2.0, 0)
  local t, cpu = clock() - t0, os.clock() - c0
  -- cpu_tokens_per_s: tokens per second of the process's CPU time (all its threads), the
  -- figure least moved by other processes on a shared machine
  report({ time = t, cpu = cpu, steps = steps, tokens_per_s = batch * seq / train_s,
           tokens_per_s_avg = batch * seq / train_avg, cpu_tokens_per_s = batch * seq * steps / cpu,
           loss = loss:item(), threads = dm.get_num_threads() })
end

--- (h) an LSTM language model: Embedding(1000, 64), LSTM(64, 128, batch_first),
--- Linear(128, 1000); sequence 35, batch 32, cross-entropy, Adam, clip_grad_norm_ 1.0
function W.lstm (threads)
  dm.manual_seed(0)
  local emb, rnn, head = nn.Embedding(1000, 64), nn.LSTM(64, 128, { batch_first = true }),
                         nn.Linear(128, 1000)
  local model = nn.ModuleList({ emb, rnn, head })
  lm(model, function (x) return head((rnn(emb(x)))) end, 32, 35, 1000, 1.0, threads)
end

--- (i) a 2-layer Transformer encoder (d_model 128, 4 heads, ff 512, dropout 0.1,
--- batch_first) between Embedding(1000, 128) and Linear(128, 1000); sequence 64, batch 16,
--- cross-entropy, Adam
function W.transformer (threads)
  dm.manual_seed(0)
  local emb = nn.Embedding(1000, 128)
  local enc = nn.TransformerEncoder(
    nn.TransformerEncoderLayer(128, 4, { dim_feedforward = 512, dropout = 0.1,
                                         batch_first = true }), 2)
  local head = nn.Linear(128, 1000)
  local model = nn.ModuleList({ emb, enc, head })
  model:train()
  lm(model, function (x) return head(enc(emb(x))) end, 16, 64, 1000, nil, threads)
end

local name = arg and arg[1]
if not W[name] then
  io.stderr:write("usage: workloads.lua article|mlp|ops|lenet|block|lstm|transformer [args]\n")
  os.exit(2)
end
W[name](select(2, table.unpack(arg)))
