-- Embedding and the recurrent layers in model files: chains built in Lua, saved with
-- nn.save_model, run by the plain-C inference API (build/examples/embed_infer: dm_model_load
-- and dm_model_forward only) and by nn.load_model, and compared with the Lua forward; and
-- what save_model and the C forward refuse (batch_first=false, ids that are not token ids).

local dm = require "deepmoon"
local nn = dm.nn

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                   "helpers/util.lua").err

local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
                 "helpers/embed_infer.lua")
local tmp, c_forward = C.tmp, C.forward

local function assert_close (want, got, tol)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert.are.equal(#want[i], #got[i])
    for j = 1, #want[i] do
      local d = math.abs(want[i][j] - got[i][j])
      assert(d <= tol, ("row %d col %d: Lua %.9g, C %.9g"):format(i, j, want[i][j], got[i][j]))
    end
  end
end

-- y [B x ...] as B flat rows
local function rows (y) return y:reshape(y:size(1), y:numel() // y:size(1)):totable() end

-- model saved, run from C on x (as float rows) and loaded back; all three agree
local function round_trip (model, x, opts)
  model:eval()
  local path = tmp()
  assert.is_true(nn.save_model(model, path, opts))
  local want = rows(model(x))
  local xf = x:to(dm.float32)
  local got = assert(c_forward(path, xf:reshape(xf:size(1), xf:numel() // xf:size(1))))
  assert_close(want, got, 1e-5)
  local back = assert(nn.load_model(path))
  assert.is_false(back.training)
  assert_close(want, rows(back(x)), 0)
  return path, back
end

describe("recurrent layers in model files", function ()
  teardown(C.remove_tmp)

  it("Embedding -> LSTM -> Linear runs from C as in Lua", function ()
    dm.manual_seed(3)
    local model = nn.Sequential(nn.Embedding(12, 5, { padding_idx = 1 }),
                                nn.LSTM(5, 4, { batch_first = true }),
                                nn.Linear(4, 3))
    local ids = dm.randint(1, 13, { 4, 7 })
    local path, back = round_trip(model, ids, { in_features = 7 })
    local _, meta = assert(dm.load(path))
    local text = meta["deepmoon.model"]
    assert.truthy(text:find("\nin_features=7\n", 1, true), text)
    assert.truthy(text:find("layer 0 Embedding num_embeddings=12 embedding_dim=5 padding_idx=1 " ..
                            "max_norm=none norm_type=2 scale_grad_by_freq=false sparse=false\n",
                            1, true), text)
    assert.truthy(text:find("layer 1 LSTM input_size=5 hidden_size=4 num_layers=1 bias=true " ..
                            "batch_first=true dropout=0 bidirectional=false proj_size=0\n", 1,
                            true), text)
    assert.are.equal(1, back[1].padding_idx)
    assert.is_true(back[2].batch_first)
    -- PyTorch's state_dict names
    local tensors = assert(dm.load(path))
    for _, k in ipairs({ "0.weight", "1.weight_ih_l0", "1.weight_hh_l0", "1.bias_ih_l0",
                         "1.bias_hh_l0", "2.weight", "2.bias" }) do
      assert(tensors[k], k)
    end
  end)

  it("GRU, 2 layers, on sequences of features", function ()
    dm.manual_seed(4)
    local model = nn.Sequential(nn.GRU(3, 5, 2, { batch_first = true, dropout = 0.3 }))
    round_trip(model, dm.randn(5, 6, 3), { input_shape = { 6, 3 } })
  end)

  it("RNN relu, bidirectional, 2 layers, then a Linear", function ()
    dm.manual_seed(5)
    local model = nn.Sequential(
      nn.RNN(3, 4, { num_layers = 2, nonlinearity = "relu", batch_first = true,
                     bidirectional = true }),
      nn.Linear(8, 2))
    local path, back = round_trip(model, dm.randn(3, 5, 3), { input_shape = { 5, 3 } })
    assert.are.equal("relu", back[1].nonlinearity)
    assert.is_true(back[1].bidirectional)
    local tensors = assert(dm.load(path))
    assert(tensors["0.weight_ih_l1_reverse"] and tensors["0.bias_hh_l1_reverse"])
  end)

  it("LSTM with proj_size, bidirectional, no bias", function ()
    dm.manual_seed(6)
    local model = nn.Sequential(nn.Embedding(6, 3),
      nn.LSTM(3, 5, { num_layers = 2, bias = false, batch_first = true, bidirectional = true,
                      proj_size = 2 }))
    round_trip(model, dm.randint(1, 7, { 3, 4 }), { in_features = 4 })
  end)

  it("Embedding alone on [T] ids, padding_idx from the end", function ()
    dm.manual_seed(7)
    local model = nn.Sequential(nn.Embedding(5, 2, { padding_idx = -1 }), nn.Tanh())
    round_trip(model, dm.randint(1, 6, { 4, 3 }), { in_features = 3 })
  end)

  it("refuses what a model file cannot run", function ()
    local path = tmp()
    assert.are.equal("save_model: Sequential[2] (LSTM): batch_first=false reads [T x batch x " ..
                     "input_size], but a model's batch dim comes first: build the layer with " ..
                     "batch_first = true",
                     err(nn.save_model, nn.Sequential(nn.Embedding(5, 2), nn.LSTM(2, 3)), path,
                         { in_features = 4 }))
    assert.are.equal("save_model: cannot tell the shape of the input: Sequential[1] " ..
                     "(Embedding) needs to know its input, samples [T] of token ids; pass " ..
                     "{input_shape = {...}}, one sample's shape",
                     err(nn.save_model, nn.Sequential(nn.Embedding(5, 2)), path))
    assert.are.equal("save_model: cannot tell the shape of the input: Sequential[1] (GRU) " ..
                     "needs to know its input, samples [T x 2]; pass {input_shape = {...}}, " ..
                     "one sample's shape",
                     err(nn.save_model, nn.Sequential(nn.GRU(2, 3, { batch_first = true })),
                         path))
    assert.are.equal("save_model: Sequential[1] (Embedding): max_norm=1 renormalises the " ..
                     "weight at every lookup; a model file's weight is fixed (save the layer " ..
                     "with max_norm = nil)",
                     err(nn.save_model, nn.Sequential(nn.Embedding(5, 2, { max_norm = 1 })),
                         path, { in_features = 3 }))
    assert.are.equal("save_model: Sequential[2] (RNN): input_size 3 does not match the " ..
                     "samples [4 x 2] before it",
                     err(nn.save_model, nn.Sequential(nn.Embedding(5, 2),
                                                      nn.RNN(3, 3, { batch_first = true })),
                         path, { in_features = 4 }))
  end)

  it("the C forward refuses inputs that are not token ids", function ()
    local path = tmp()
    assert.is_true(nn.save_model(nn.Sequential(nn.Embedding(4, 2)), path, { in_features = 3 }))
    local _, msg = c_forward(path, dm.tensor({ { 1, 2, 3 }, { 1, 2.5, 4 } }))
    assert.are.equal("Embedding: input 2.5 (sample 2, position 2) is not a token id: ids are " ..
                     "integers in 1 .. 4\n", msg)
    _, msg = c_forward(path, dm.tensor({ { 1, 5, 3 } }))
    assert.are.equal("Embedding: input 5 (sample 1, position 2) is not a token id: ids are " ..
                     "integers in 1 .. 4\n", msg)
    _, msg = c_forward(path, dm.tensor({ { 0, 1, 1 } }))
    assert.are.equal("Embedding: input 0 (sample 1, position 1) is not a token id: ids are " ..
                     "integers in 1 .. 4\n", msg)
    assert(c_forward(path, dm.tensor({ { 4, 1, 2 } })))
  end)
end)
