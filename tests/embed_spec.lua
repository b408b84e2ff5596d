-- Embedding: nn.save_model / nn.load_model / model:save (deepmoon.nn.serialize), the same
-- files run by the plain-C inference API (build/examples/embed_infer, which uses only
-- dm_model_load and dm_model_forward) and compared with the Lua forward, and
-- luaopen_deepmoon opening deepmoon from the module file alone in a fresh interpreter.
-- (tests/c/test_model.c covers the C parser in depth; tests/c/test_embed.sh the C hosts.)

local dm = require "deepmoon"
local nn = dm.nn
local serialize = require "deepmoon.nn.serialize"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                 "helpers/embed_infer.lua")
local ROOT, BUILD, sh_quote, run, tmp = C.ROOT, C.BUILD, C.sh_quote, C.run, C.tmp
local LUA = os.getenv("DM_LUA") or "lua5.4"

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

-- rows of x through the C program; a Lua table of rows of numbers
local function c_forward (path, x)
  local rows, out = C.forward(path, x)
  assert(rows, "embed_infer failed: " .. tostring(out))
  return rows
end

local function assert_close (want, got, tol)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert.are.equal(#want[i], #got[i])
    for j = 1, #want[i] do
      local d = math.abs(want[i][j] - got[i][j]) / math.max(1, math.abs(want[i][j]))
      assert(d <= tol, ("row %d col %d: Lua %.9g, C %.9g"):format(i, j, want[i][j], got[i][j]))
    end
  end
end

-- a model with trained-looking running statistics in its BatchNorm1d layers
local function warm_up (model, width)
  model:train()
  dm.no_grad(function ()
    for _ = 1, 3 do model(dm.randn(16, width) * 2 + 0.5) end
  end)
  return model:eval()
end

describe("nn.save_model", function ()
  it("writes the state_dict under PyTorch's names and the layer chain", function ()
    dm.manual_seed(3)
    local model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.25),
                                nn.Linear(4, 2, false), nn.LogSoftmax(2))
    local path = tmp()
    assert.is_true(nn.save_model(model, path, { metadata = { classes = "a,b" } }))
    local tensors, meta = assert(dm.load(path))
    local names = {}
    for k in pairs(tensors) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "0.bias", "0.weight", "3.weight" }, names)
    assert.are.equal(0, (tensors["0.weight"] - model[1].weight):abs():max():item())
    assert.are.equal("a,b", meta.classes)
    assert.are.equal(table.concat({
      "deepmoon.model 1",
      "in_features=3",
      "layer 0 Linear in_features=3 out_features=4 bias=true",
      "layer 1 ReLU",
      "layer 2 Dropout p=0.25",
      "layer 3 Linear in_features=4 out_features=2 bias=false",
      "layer 4 LogSoftmax dim=2",
      "end", "" }, "\n"), meta["deepmoon.model"])
  end)

  it("describes every supported layer, nested Sequentials flattened", function ()
    local model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(2, { momentum = false,
      affine = false }), nn.Sequential(nn.Linear(2, 3), nn.GELU("tanh")), nn.LeakyReLU(0.1),
      nn.ELU(), nn.SELU(), nn.Sigmoid(), nn.Tanh(), nn.Identity(), nn.GELU(),
      nn.Softmax())
    assert.are.equal(table.concat({
      "deepmoon.model 1",
      "in_features=2",
      "layer 0 Flatten start_dim=2 end_dim=-1",
      "layer 1 BatchNorm1d num_features=2 eps=1e-05 momentum=none affine=false " ..
        "track_running_stats=true",
      "layer 2.0 Linear in_features=2 out_features=3 bias=true",
      "layer 2.1 GELU approximate=tanh",
      "layer 3 LeakyReLU negative_slope=0.1",
      "layer 4 ELU alpha=1",
      "layer 5 SELU", "layer 6 Sigmoid", "layer 7 Tanh", "layer 8 Identity",
      "layer 9 GELU approximate=none",
      "layer 10 Softmax dim=none",
      "end", "" }, "\n"), serialize.describe_model(model))
  end)

  it("takes the chain of other models from {layers = ...}", function ()
    local Net = nn.Module:extend("Net")
    function Net:__init ()
      self.fc1 = nn.Linear(2, 5)
      self.fc2 = nn.Linear(5, 1)
    end
    function Net:forward (x) return self.fc2(self.fc1(x):relu()):sigmoid() end
    local net = Net()
    local path = tmp()
    assert.is_true(nn.save_model(net, path,
                                 { layers = { net.fc1, nn.ReLU(), net.fc2, nn.Sigmoid() } }))
    local tensors, meta = assert(dm.load(path))
    assert.is_not_nil(tensors["fc1.weight"])
    assert.is_not_nil(tensors["fc2.bias"])
    assert.truthy(meta["deepmoon.model"]:find("layer fc1 Linear", 1, true))
    assert.truthy(meta["deepmoon.model"]:find("layer - ReLU", 1, true))
    local x = dm.randn(4, 2)
    assert_close(dm.no_grad(function () return net(x) end):totable(), c_forward(path, x), 1e-6)
    local back = assert(nn.load_model(path))
    assert.are.equal(0, (back(x) - net(x)):abs():max():item())
  end)

  it("refuses a Sequential that holds itself, and nesting without end, at once", function ()
    local s = nn.Sequential(nn.Linear(2, 2))
    s:add(s)
    local ok, err = pcall(serialize.describe_model, s)
    assert.is_false(ok)
    assert.are.equal("save_model: Sequential[2] holds itself: a chain of layers cannot", err)
    local t = nn.Sequential(nn.ReLU())
    for _ = 1, 70 do t = nn.Sequential(t) end
    ok, err = pcall(serialize.describe_model, t)
    assert.is_false(ok)
    assert.are.equal("save_model: Sequentials nested deeper than 64", err)
    ok, err = pcall(s.state_dict, s)
    assert.is_false(ok)
    assert.are.equal("state_dict: module '1' (Sequential) holds itself", err)
  end)

  it("is also model:save", function ()
    local model = nn.Sequential(nn.Linear(2, 2))
    local a, b = tmp(), tmp()
    assert.is_true(model:save(a))
    assert.is_true(nn.save_model(model, b))
    local fa, fb = io.open(a, "rb"), io.open(b, "rb")
    assert.are.equal(fa:read("a"), fb:read("a"))
    fa:close()
    fb:close()
  end)

  it("explains what it cannot describe", function ()
    local path = tmp()
    assert.are.equal("save_model: expected a Sequential, got Linear (for another model, pass " ..
                     "the chain its forward runs: {layers = {...}})",
                     err(nn.save_model, nn.Linear(2, 3), path))
    assert.are.equal("save_model: Sequential[2] (MSELoss) is not supported in model files " ..
                     "(Linear, ReLU, LeakyReLU, Sigmoid, Tanh, ELU, SELU, GELU, Softmax, " ..
                     "LogSoftmax, Identity, Flatten, Dropout, BatchNorm1d, Conv1d, Conv2d, " ..
                     "ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, " ..
                     "AdaptiveAvgPool2d, AdaptiveMaxPool2d, BatchNorm2d, Dropout2d, " ..
                     "Embedding, RNN, LSTM, GRU and Sequential are)",
                     err(nn.save_model, nn.Sequential(nn.Linear(2, 3), nn.MSELoss()), path))
    assert.are.equal("save_model: Sequential[2] (Linear): in_features 4 does not match the " ..
                     "width 3 before it",
                     err(nn.save_model, nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), path))
    assert.are.equal("save_model: Sequential[1] (Flatten): start_dim=1 flattens the batch " ..
                     "dim (a model keeps it: start_dim >= 2)",
                     err(nn.save_model, nn.Sequential(nn.Flatten(1), nn.Linear(2, 1)), path))
    assert.are.equal("save_model: cannot tell the width of the input (no layer in the " ..
                     "chain fixes it); pass {in_features = n}",
                     err(nn.save_model, nn.Sequential(nn.ReLU()), path))
    assert.is_true(nn.save_model(nn.Sequential(nn.ReLU()), path, { in_features = 3 }))
    assert.are.equal("save_model: layers[1] (Linear) is not part of the model, so its " ..
                     "tensors have no name",
                     err(nn.save_model, nn.Sequential(), path, { layers = { nn.Linear(1, 1) } }))
    local lin = nn.Linear(2, 3)
    lin.weight = nn.Parameter(dm.zeros(3, 5))
    assert.are.equal("save_model: Sequential[1] (Linear): tensor '0.weight' is [3 x 5], " ..
                     "expected [3 x 2]", err(nn.save_model, nn.Sequential(lin), path))
    assert.are.equal("save_model: Sequential[2] (Softmax): dim must be in -2 .. 2, got 3",
                     err(nn.save_model, nn.Sequential(nn.Linear(2, 3), nn.Softmax(3)), path))
    local gelu = nn.GELU()
    gelu.approximate = "a b"
    assert.are.equal("save_model: Sequential[2] (GELU): approximate cannot be written as " ..
                     "'a b'", err(nn.save_model, nn.Sequential(nn.Linear(2, 3), gelu), path))
    assert.are.equal("save_model: unknown option 'layer'",
                     err(nn.save_model, nn.Sequential(), path, { layer = {} }))
    assert.are.equal("save_model: metadata key 'deepmoon.model' is reserved",
                     err(nn.save_model, nn.Sequential(nn.Linear(1, 1)), path,
                         { metadata = { ["deepmoon.model"] = "x" } }))
    assert.are.equal("save_model: expected a file name, got nil",
                     err(nn.save_model, nn.Sequential()))
    local ok, msg = nn.save_model(nn.Sequential(nn.Linear(1, 1)), "/nonexistent/dir/m.st")
    assert.is_nil(ok)
    assert.truthy(msg:find("/nonexistent/dir/m.st", 1, true))
  end)
end)

describe("the plain-C inference API", function ()
  -- each layer type after a Linear 3 -> 5, run by Lua and by C on the same rows
  local cases = {
    { "Linear", function () return nn.Linear(5, 2, false) end },
    { "ReLU", function () return nn.ReLU() end },
    { "LeakyReLU", function () return nn.LeakyReLU(0.3) end },
    { "Sigmoid", function () return nn.Sigmoid() end },
    { "Tanh", function () return nn.Tanh() end },
    { "ELU", function () return nn.ELU(0.6) end },
    { "SELU", function () return nn.SELU() end },
    { "GELU", function () return nn.GELU() end },
    { "GELU tanh", function () return nn.GELU("tanh") end },
    { "Softmax", function () return nn.Softmax(2) end },
    { "Softmax over the batch", function () return nn.Softmax(1) end },
    { "LogSoftmax", function () return nn.LogSoftmax(-1) end },
    { "Identity", function () return nn.Identity() end },
    { "Flatten", function () return nn.Flatten() end },
    { "Dropout", function () return nn.Dropout(0.5) end },
    { "BatchNorm1d", function () return nn.BatchNorm1d(5) end },
    { "BatchNorm1d without affine", function () return nn.BatchNorm1d(5, { affine = false }) end },
    { "BatchNorm1d with batch statistics",
      function () return nn.BatchNorm1d(5, { eps = 1e-3, track_running_stats = false }) end },
    { "BatchNorm1d with a cumulative average",
      function () return nn.BatchNorm1d(5, { momentum = false }) end },
  }

  -- each image layer on samples of the given shape ({C, H, W} or {C, L}), run by Lua and by
  -- C on the same flat rows of C*H*W values
  local image_cases = {
    { "Conv2d", function () return nn.Conv2d(2, 3, 3) end, { 2, 7, 6 } },
    { "Conv2d tuples, no bias", function ()
      return nn.Conv2d(2, 4, { 3, 2 }, { stride = { 2, 1 }, padding = { 1, 0 }, bias = false })
    end, { 2, 7, 6 } },
    { "Conv2d same, dilated", function ()
      return nn.Conv2d(2, 3, { 4, 3 }, { padding = "same", dilation = { 1, 2 } })
    end, { 2, 7, 6 } },
    { "Conv2d valid, groups", function ()
      return nn.Conv2d(2, 4, 3, { padding = "valid", groups = 2 })
    end, { 2, 7, 6 } },
    { "Conv2d reflect", function ()
      return nn.Conv2d(2, 3, 3, { padding = 1, padding_mode = "reflect" })
    end, { 2, 7, 6 } },
    { "Conv2d replicate same", function ()
      return nn.Conv2d(2, 3, 2, { padding = "same", padding_mode = "replicate" })
    end, { 2, 7, 6 } },
    { "Conv2d circular strided", function ()
      return nn.Conv2d(2, 2, 3, { stride = 2, padding = 2, padding_mode = "circular" })
    end, { 2, 7, 6 } },
    { "Conv1d", function ()
      return nn.Conv1d(3, 2, 4, { padding = "same", padding_mode = "reflect" })
    end, { 3, 9 } },
    { "Conv1d strided, grouped", function ()
      return nn.Conv1d(3, 6, 2, { stride = 2, padding = 1, dilation = 2, groups = 3 })
    end, { 3, 9 } },
    { "BatchNorm1d after a Conv1d", function ()
      return nn.Sequential(nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4))
    end, { 3, 9 } },
    { "ConvTranspose2d", function ()
      return nn.ConvTranspose2d(2, 4, { 3, 2 }, { stride = 2, padding = 1, output_padding = 1,
                                                 groups = 2, dilation = { 1, 2 } })
    end, { 2, 5, 4 } },
    { "MaxPool2d", function () return nn.MaxPool2d(2) end, { 2, 7, 6 } },
    { "MaxPool2d tuples, ceil_mode", function ()
      return nn.MaxPool2d({ 3, 2 }, { stride = { 2, 1 }, padding = { 1, 0 }, dilation = { 1, 2 },
                                     ceil_mode = true })
    end, { 2, 7, 6 } },
    { "MaxPool1d", function () return nn.MaxPool1d(3, { stride = 2, padding = 1 }) end, { 3, 9 } },
    { "AvgPool2d", function ()
      return nn.AvgPool2d(3, { stride = 2, padding = 1, count_include_pad = false })
    end, { 2, 7, 6 } },
    { "AvgPool2d divisor_override", function ()
      return nn.AvgPool2d(2, { divisor_override = 3 })
    end, { 2, 7, 6 } },
    { "AvgPool1d", function () return nn.AvgPool1d(3, { stride = 2, ceil_mode = true }) end,
      { 3, 9 } },
    { "AdaptiveAvgPool2d", function () return nn.AdaptiveAvgPool2d({ 2, false }) end, { 2, 7, 6 } },
    { "AdaptiveMaxPool2d", function () return nn.AdaptiveMaxPool2d(3) end, { 2, 7, 6 } },
    { "BatchNorm2d", function () return nn.BatchNorm2d(2) end, { 2, 7, 6 } },
    { "BatchNorm2d with batch statistics", function ()
      return nn.BatchNorm2d(2, { affine = false, track_running_stats = false })
    end, { 2, 7, 6 } },
    { "Dropout2d", function () return nn.Dropout2d(0.3) end, { 2, 7, 6 } },
    { "Flatten start_dim=3", function () return nn.Flatten(3) end, { 2, 7, 6 } },
    { "Flatten start_dim=2 end_dim=3", function () return nn.Flatten(2, 3) end, { 2, 7, 6 } },
    -- sequences [T x features] (batch_first), and token ids [T] (a maker of inputs)
    { "RNN", function ()
      return nn.RNN(3, 4, { nonlinearity = "relu", batch_first = true, bidirectional = true })
    end, { 5, 3 } },
    { "LSTM", function () return nn.LSTM(3, 4, 2, { batch_first = true }) end, { 5, 3 } },
    { "GRU", function () return nn.GRU(3, 2, { batch_first = true }) end, { 5, 3 } },
    { "Embedding", function () return nn.Embedding(9, 3, { padding_idx = 2 }) end, { 6 },
      function (n, shape) return dm.randint(1, 10, { n, table.unpack(shape) }) end },
  }

  it("has a case above for every row of the layer registry", function ()
    local covered = {}
    for _, case in ipairs(cases) do covered[case[2]():_get_name()] = true end
    for _, case in ipairs(image_cases) do covered[case[2]():_get_name()] = true end
    local kinds = dm._layer_kinds()
    assert(#kinds >= 14)
    for _, k in ipairs(kinds) do
      assert(covered[k.name], "no round-trip case for the layer kind " .. k.name ..
             ": add one to the cases of tests/embed_spec.lua")
      assert(nn[k.name], "no nn class for the layer kind " .. k.name)
    end
  end)
  for _, case in ipairs(cases) do
    it("matches the Lua forward: " .. case[1], function ()
      dm.manual_seed(11)
      local model = nn.Sequential(nn.Linear(3, 5), case[2]())
      warm_up(model, 3)
      local path = tmp()
      assert.is_true(nn.save_model(model, path))
      local x = dm.randn(6, 3) * 2
      local want = model(x):totable()
      assert_close(want, c_forward(path, x), 1e-6)
      -- and nn.load_model gives the same model back
      local back = assert(nn.load_model(path))
      assert.is_false(back.training)
      assert_close(want, back(x):totable(), 0)
    end)
  end

  for _, case in ipairs(image_cases) do
    it("matches the Lua forward: " .. case[1], function ()
      dm.manual_seed(12)
      local shape = case[3]
      local model = nn.Sequential(case[2]())
      model:train()
      local make = case[4] or function (n, s) return dm.randn(n, table.unpack(s)) * 2 + 0.5 end
      dm.no_grad(function ()             -- running statistics that look trained
        for _ = 1, 3 do model(make(8, shape)) end
      end)
      model:eval()
      local path = tmp()
      assert.is_true(nn.save_model(model, path, { input_shape = shape }))
      local x = case[4] and case[4](5, shape) or dm.randn(5, table.unpack(shape)) * 2
      local y = model(x)
      local want = y:reshape(5, y:numel() // 5):totable()
      local xf = x:to(dm.float32)
      assert_close(want, c_forward(path, xf:reshape(5, xf:numel() // 5)), 1e-5)
      local back = assert(nn.load_model(path))
      assert.is_false(back.training)
      local first = case[2]()
      if first:_get_name() == "Sequential" then first = first[1] end
      assert.are.equal(first:_get_name(), back[1]:_get_name())
      local yb = back(x)
      assert_close(want, yb:reshape(5, yb:numel() // 5):totable(), 0)
    end)
  end

  local function file_for_shape (layer)
    local p = tmp()
    assert.is_true(nn.save_model(nn.Sequential(layer), p))
    return p
  end

  it("says which input a CNN needs and checks it", function ()
    local model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(18, 2))
    local path = tmp()
    assert.are.equal("save_model: cannot tell the shape of the input: Sequential[1] (Conv2d) " ..
                     "needs to know its input, samples [C x H x W]; pass {input_shape = {...}}, " ..
                     "one sample's shape", err(nn.save_model, model, path))
    assert.are.equal("save_model: Sequential[5] (Linear): in_features 18 does not match the " ..
                     "width 32 before it",
                     err(nn.save_model, model, path, { input_shape = { 1, 10, 10 } }))
    assert.are.equal("save_model: Sequential[1] (Conv2d): in_channels 1 does not match the 3 " ..
                     "channels of the samples [3 x 8 x 8] before it",
                     err(nn.save_model, model, path, { input_shape = { 3, 8, 8 } }))
    assert.are.equal("save_model: input_shape must be a list of 1 to 7 sizes >= 1 (one " ..
                     "sample, at most 1073741824 values), got {...}",
                     err(nn.save_model, model, path, { input_shape = { 1, 0, 8 } }))
    assert.are.equal("save_model: pass in_features or input_shape, not both",
                     err(nn.save_model, model, path, { input_shape = { 1, 8, 8 }, in_features = 64 }))
    assert.is_true(nn.save_model(model, path, { input_shape = { 1, 8, 8 } }))
    local back, meta0, shape = nn.load_model(path)
    assert(back, meta0)
    assert.are.same({ 1, 8, 8 }, shape)                 -- dm_model_input_shape
    assert.are.same({ 2 }, select(3, nn.load_model(file_for_shape(nn.Linear(2, 1)))))
    local _, meta = assert(dm.load(path))
    assert.truthy(meta["deepmoon.model"]:find("\ninput_shape=1,8,8\n", 1, true))
    assert.truthy(meta["deepmoon.model"]:find("layer 0 Conv2d in_channels=1 out_channels=2 " ..
      "kernel_size=3,3 stride=1,1 padding=0,0 dilation=1,1 groups=1 bias=true " ..
      "padding_mode=zeros\n", 1, true))
    assert.truthy(meta["deepmoon.model"]:find("layer 2 MaxPool2d kernel_size=2 stride=2 " ..
      "padding=0 dilation=1 return_indices=false ceil_mode=false\n", 1, true))
    -- a subclass keeping its base's forward is saved as the nearest registered class
    local MyBN = nn.BatchNorm2d:extend("MyBN")
    local text = serialize.describe_model(nn.Sequential(MyBN(1)), { input_shape = { 1, 4, 4 } })
    assert.truthy(text:find("layer 0 BatchNorm2d num_features=1", 1, true), text)
    -- a pool with return_indices gives two values: not a chain layer
    assert.are.equal("save_model: Sequential[1] (MaxPool2d): return_indices=true gives two " ..
                     "outputs; a model's layers pass one",
                     err(nn.save_model, nn.Sequential(nn.MaxPool2d(2, { return_indices = true })),
                         path, { input_shape = { 1, 4, 4 } }))
  end)

  it("runs the example script's model", function ()
    local path = tmp()
    local out, ok = run(("%s %s %s"):format(sh_quote(LUA),
      sh_quote(ROOT .. "examples/embed/train_and_save.lua"), sh_quote(path)))
    assert(ok, out)
    assert.truthy(out:find("training accuracy", 1, true))
    local model = assert(nn.load_model(path))
    local x = dm.tensor({ { -2, 0 }, { 2, 0 }, { 0, 2.5 }, { 0.3, -0.7 } })
    local want = model(x):totable()
    assert_close(want, c_forward(path, x), 1e-6)
    local predicted = model(x):argmax(2)
    for i = 1, 3 do                                  -- the cluster centres are learned
      assert.are.equal(i, predicted:get(i))
    end
  end)
end)

describe("nn.load_model", function ()
  -- a file holding Linear 2 -> 3 as "0" and the given description
  local function file_with (text)
    local path = tmp()
    local tensors = { ["0.weight"] = dm.full({ 3, 2 }, 0.5), ["0.bias"] = dm.full({ 3 }, 0.1) }
    assert.is_true(dm.save(path, tensors, text and { ["deepmoon.model"] = text } or nil))
    return path
  end
  local HEAD = "deepmoon.model 1\nin_features=2\n"
  local LIN = "layer 0 Linear in_features=2 out_features=3 bias=true\n"

  it("returns nil and the same messages as the C loader for bad descriptions", function ()
    local cases = {
      { nil, "no 'deepmoon.model' metadata (write the file with nn.save_model)" },
      { "", "the model description is truncated (no 'end' line)" },
      { "deepmoon.model 2\nin_features=2\nend\n",
        "line 1: format version '2' is not supported (this build reads 1)" },
      { HEAD .. "end\nend\n", "line 4: text after 'end'" },
      { HEAD .. "layer 0 Conv7d\nend\n", "line 3: unknown layer type 'Conv7d'" },
      { "deepmoon.model 1\ninput_shape=1,8,8\nlayer 0 Conv2d in_channels=2 out_channels=1 " ..
        "kernel_size=3\nend\n", "line 3: Conv2d: in_channels 2 does not match the 1 channels " ..
        "of the samples [1 x 8 x 8] before it" },
      { "deepmoon.model 1\ninput_shape=1,8,8\nlayer 0 MaxPool2d kernel_size=3,3,3,3\nend\n",
        "line 3: MaxPool2d: kernel_size takes at most 3 sizes, got '3,3,3,3'" },
      { "deepmoon.model 1\ninput_shape=1,0,8\nend\n",
        "line 2: model: input_shape sizes must be in 1 .. 1073741824, got 0" },
      { HEAD .. "layer 0 Linear in_features=3 out_features=3 bias=true\nend\n",
        "line 3: Linear: in_features 3 does not match the width 2 before it" },
      { HEAD .. "layer 0 Linear in_features=2 out_features=4 bias=true\nend\n",
        "line 3: Linear: tensor '0.weight' is [3 x 2], expected [4 x 2]" },
      { HEAD .. "layer 1 Linear in_features=2 out_features=3 bias=true\nend\n",
        "line 3: Linear: tensor '1.weight' is missing" },
      { "deepmoon.model 1\nin_features=99999999999999999999999\nend\n",
        "line 2: model: in_features must be in 1 .. 1073741824, got 99999999999999999999999" },
      { "deepmoon.model 1\nin_features=0x10\nend\n",
        "line 2: model: in_features must be an integer, got '0x10'" },
      { HEAD .. LIN .. "layer 1 LeakyReLU negative_slope=nan\nend\n",
        "line 4: LeakyReLU: negative_slope must be a number, got 'nan'" },
      { HEAD .. LIN .. "layer 1 ELU alpha=1e999\nend\n",
        "line 4: ELU: alpha must be finite, got 1e999" },
      { HEAD .. LIN .. "layer 1 Softmax dim=3\nend\n",
        "line 4: Softmax: dim must be in -2 .. 2, got 3" },
      { HEAD .. LIN .. "layer 1 Flatten start_dim=1 end_dim=-1\nend\n",
        "line 4: Flatten: start_dim=1 flattens the batch dim (a model keeps it: start_dim >= 2)" },
      { HEAD .. LIN .. "layer 1\tReLU\nend\n", "line 4: character 0x09 is not printable ASCII" },
      { HEAD .. LIN .. "layer 1  ReLU\nend\n", "line 4: extra space" },
      { HEAD .. LIN .. "layer ../x ReLU\nend\n",
        "line 4: layer name '../x' has a character other than A-Z a-z 0-9 _ ." },
      { HEAD .. LIN .. "layer 1 ReLU inplace=true\nend\n",
        "line 4: ReLU: unexpected field 'inplace=true'" },
      { HEAD .. LIN .. "layer 1 ReLU a b c d e f g h i j k l m n\nend\n",
        "line 4: too many fields" },
      { HEAD .. LIN .. "\nend\n", "line 4: empty line" },
      { HEAD .. "layer - Linear in_features=2 out_features=3 bias=true\nend\n",
        "line 3: Linear: a layer with tensors needs a name" },
      { HEAD .. LIN .. "layer 1 BatchNorm1d num_features=3 eps=1e-05 momentum=0.1 " ..
        "affine=true track_running_stats=false\nend\n",
        "line 4: BatchNorm1d: tensor '1.weight' is missing" },
    }
    for _, case in ipairs(cases) do
      local path = file_with(case[1])
      local model, msg = nn.load_model(path)
      assert.is_nil(model)
      assert.are.equal("load_model: " .. path .. ": " .. case[2], msg)
      -- the C loader agrees
      local out, ok = run(sh_quote(BUILD .. "/examples/embed_infer") .. " " .. sh_quote(path) ..
                          " 1,2")
      assert.is_falsy(ok)
      assert.are.equal("load_model: " .. path .. ": " .. case[2] .. "\n", out)
    end
  end)

  it("loads a file written before the layer registry, in Lua and in C", function ()
    local path = ROOT .. "tests/fixtures/st_saved_model_v1.safetensors"
    local model, meta = nn.load_model(path)
    assert(model, meta)
    local function rows (s)
      local out = {}
      for r in s:gmatch("[^;]+") do
        local row = {}
        for v in r:gmatch("[^,]+") do row[#row + 1] = tonumber(v) end
        out[#out + 1] = row
      end
      return out
    end
    local x, want = dm.tensor(rows(meta["test.x"])), rows(meta["test.y"])
    assert.are.equal(19, #model)
    assert_close(want, model(x):totable(), 1e-6)
    assert_close(want, c_forward(path, x), 1e-6)
  end)

  it("names an unknown layer kind, in Lua and in C", function ()
    local path = file_with(HEAD .. LIN .. "layer 1 Conv7d kernel_size=3\nend\n")
    local model, msg = nn.load_model(path)
    assert.is_nil(model)
    assert.are.equal("load_model: " .. path .. ": line 4: unknown layer type 'Conv7d'", msg)
    local out, ok = run(sh_quote(BUILD .. "/examples/embed_infer") .. " " .. sh_quote(path) ..
                        " 1,2")
    assert.is_falsy(ok)
    assert.are.equal(msg .. "\n", out)
  end)

  it("refuses a layer larger than the file's tensors before building anything", function ()
    local built = 0
    local saved = {}                   -- every registered class's constructor, counted
    for _, k in ipairs(dm._layer_kinds()) do
      local cls = nn[k.name]
      local init = rawget(cls, "__init")
      local run_init = cls.__init
      saved[#saved + 1] = { cls, init }
      cls.__init = function (...)
        built = built + 1
        return run_init(...)
      end
    end
    local ok, err_ = pcall(function ()
      local cases = {
        { "deepmoon.model 1\nin_features=1073741824\nlayer 0 BatchNorm1d " ..
          "num_features=1073741824\nend\n",
          "line 3: BatchNorm1d: tensor '0.weight' is [3 x 2], expected [1073741824]" },
        { HEAD .. "layer 0 Linear in_features=2 out_features=1073741824\nend\n",
          "line 3: Linear: tensor '0.weight' is [3 x 2], expected [1073741824 x 2]" },
        { HEAD .. LIN .. "layer 1 Linear in_features=3 out_features=1073741824\nend\n",
          "line 4: Linear: tensor '1.weight' is missing" },
      }
      for _, case in ipairs(cases) do
        local path = file_with(case[1])
        local f = assert(io.open(path, "rb"))
        local size = #f:read("a")
        f:close()
        assert(size < 400, "the file is small")
        collectgarbage()
        local before = dm.memory()
        local model, msg = nn.load_model(path)
        assert.is_nil(model)
        assert.are.equal("load_model: " .. path .. ": " .. case[2], msg)
        collectgarbage()
        assert.are.equal(before, dm.memory())
        local out = run(sh_quote(BUILD .. "/examples/embed_infer") .. " " .. sh_quote(path) ..
                        " 1,2")
        assert.are.equal(msg .. "\n", out)
      end
      assert.are.equal(0, built)
      assert(nn.load_model(file_with(HEAD .. LIN .. "end\n")))    -- the count counts
    end)
    for _, e in ipairs(saved) do rawset(e[1], "__init", e[2]) end
    assert(ok, err_)
    assert.are.equal(1, built)                     -- the Linear of the last file
  end)

  it("fills in the defaults of options a description leaves out", function ()
    local path = file_with(HEAD .. LIN .. "layer - ELU\nlayer - LeakyReLU\nlayer - Dropout\n" ..
                           "layer - GELU\nlayer - Softmax\nlayer - BatchNorm1d " ..
                           "num_features=3 affine=false track_running_stats=false\nend\n")
    local m = assert(nn.load_model(path))
    assert.are.equal(1, m[2].alpha)
    assert.are.equal(0.01, m[3].negative_slope)
    assert.are.equal(0.5, m[4].p)
    assert.are.equal("none", m[5].approximate)
    assert.is_nil(m[6].dim)
    assert.are.equal(1e-5, m[7].eps)
    assert.are.equal(0.1, m[7].momentum)
    local x = dm.randn(4, 2)
    assert_close(m(x):totable(), c_forward(path, x), 1e-6)
  end)

  it("returns nil and the loader's message for files that are not safetensors", function ()
    local path = tmp()
    local f = assert(io.open(path, "wb"))
    f:write("not a model")
    f:close()
    local model, msg = nn.load_model(path)
    assert.is_nil(model)
    assert.truthy(msg:find("^load: "))
    assert.are.equal("load_model: expected a file name, got nil", err(nn.load_model))
  end)
end)

describe("luaopen_deepmoon", function ()
  it("opens deepmoon from the module file alone, no Lua files on the path", function ()
    local so = BUILD .. "/deepmoon/core.so"
    local script = ([[
      local open = assert(package.loadlib(%q, "luaopen_deepmoon"))
      local dm = open()
      assert(package.searchpath("deepmoon.nn", package.path) == nil, "Lua files reachable")
      assert(dm == require "deepmoon")
      local model = dm.nn.Sequential(dm.nn.Linear(2, 3), dm.nn.ReLU())
      assert(model(dm.ones(4, 2)):size(1) == 4)
      print(debug.getinfo(dm.nn.Sequential.forward, "S").source)
      print(package.preload["deepmoon.optim.adam"] ~= nil, dm.optim.Adam ~= nil)
    ]]):format(so)
    local out, ok = run(("cd / && LUA_PATH_5_4=';;' LUA_CPATH_5_4=';;' LUA_PATH= LUA_CPATH= " ..
                         "%s -e %s"):format(sh_quote(LUA), sh_quote(script)))
    assert(ok, out)
    assert.are.equal("@deepmoon/nn/container.lua\ntrue\ttrue\n", out)
  end)
end)

describe("embed", function ()
  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.nn.serialize"] = nil
    local s = require "deepmoon.nn.serialize"
    s.describe_model(nn.Sequential(nn.Linear(1, 1)))
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("returns to the live-byte baseline", function ()
    C.remove_tmp()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
