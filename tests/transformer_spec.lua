-- nn.TransformerEncoderLayer, nn.TransformerEncoder, nn.TransformerDecoderLayer,
-- nn.TransformerDecoder and nn.Transformer against PyTorch 1.13: outputs and the gradients of
-- the inputs and of every parameter, from tests/fixtures/transformer_cases.lua (regenerate with
-- /usr/bin/python3 tests/fixtures/gen_attention.py); state_dict keys, deep copies, the causal
-- mask, a safetensors round trip, and the error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local cases = dofile(dir .. "fixtures/transformer_cases.lua")
local F64 = { dtype = dm.float64 }

local T, close = util.fixture_tensor, util.close

local function make (c)
  local k, o = c.kind, c.ctor
  if k == "enc_layer" then return nn.TransformerEncoderLayer(o) end
  if k == "encoder" then
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(o), c.num_layers,
                                 nn.LayerNorm(o.d_model))
  end
  if k == "encoder_nonorm" then
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(o), c.num_layers)
  end
  if k == "dec_layer" then return nn.TransformerDecoderLayer(o) end
  if k == "decoder" then
    return nn.TransformerDecoder(nn.TransformerDecoderLayer(o), c.num_layers,
                                 nn.LayerNorm(o.d_model))
  end
  return nn.Transformer(o)
end

local function build (c, dtype)
  return util.load_fixture_state(make(c):double(), c.state, dtype)
end

local function run (c, dtype, atol, rtol, mk)
  mk = mk or function (t) return t end
  local m = build(c, dtype)
  local masks = {}
  for name, mt in pairs(c.masks) do masks[name] = T(mt, dtype) end
  local inputs, y = {}, nil
  local function input (name)
    inputs[name] = T(c[name], dtype):requires_grad_()
    return mk(inputs[name])
  end
  if c.kind == "enc_layer" or c.kind == "encoder" or c.kind == "encoder_nonorm" then
    y = m(input("src"), masks)
  elseif c.kind == "transformer" then
    local src = input("src")
    y = m(src, input("tgt"), masks)
  else
    local tgt = input("tgt")
    y = m(tgt, input("memory"), masks)
  end
  close(c.y, y, atol, rtol, "output");
  (y * T(c.wy, dtype)):sum():backward()
  util.check_grads(c.grads, m, inputs, atol, rtol)
  return m
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("Transformer layers against PyTorch 1.13", function ()
  for _, c in ipairs(cases) do
    it(c.name .. " (float64)", function () run(c, dm.float64, 1e-10, 1e-9) end)
    it(c.name .. " (float32)", function () run(c, dm.float32, 1e-5, 1e-4) end)
  end

  it("takes non-contiguous inputs", function ()
    local function noncontig (t)
      if t:dim() < 2 then return t end
      local u = t:transpose(1, 2):contiguous():transpose(1, 2)
      assert.is_false(u:is_contiguous())
      return u
    end
    for _, i in ipairs({ 1, 4, 6 }) do run(cases[i], dm.float64, 1e-10, 1e-9, noncontig) end
  end)

  it("has PyTorch's state_dict keys, in PyTorch's order", function ()
    for _, c in ipairs(cases) do
      local keys = make(c):state_dict():keys()
      local n = 0
      for _, k in ipairs(keys) do assert.is_not_nil(c.state[k], c.name .. ": " .. k); n = n + 1 end
      local want = 0
      for _ in pairs(c.state) do want = want + 1 end
      assert.are.equal(want, n, c.name)
    end
    local e = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    local keys = e:state_dict():keys()
    assert.are.equal("layers.0.self_attn.in_proj_weight", keys[1])
    assert.are.equal("layers.1.norm2.bias", keys[#keys])
    assert.are.equal(24, #keys)
  end)

  it("round-trips a Transformer's state_dict through safetensors", function ()
    local c = cases[#cases]
    local m = build(c)
    local p = util.tmp(".safetensors")
    dm.save(p, m:state_dict())
    local m2 = make(c):double()
    m2:load_state_dict(assert(dm.load(p)))
    local src, tgt = T(c.src), T(c.tgt)
    local mask = nn.Transformer.generate_square_subsequent_mask(tgt:size(1), F64)
    local y1 = m(src, tgt, { tgt_mask = mask })
    local y2 = m2(src, tgt, { tgt_mask = mask })
    assert.are.equal(0, (y1 - y2):abs():max():item())
    util.remove_tmp()
  end)
end)

describe("Transformer layers", function ()
  it("TransformerEncoder holds independent deep copies of its layer", function ()
    dm.manual_seed(1)
    local layer = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16 })
    local e = nn.TransformerEncoder(layer, 3)
    assert.are.equal(3, #e.layers)
    assert.are_not.equal(layer, e.layers[1])
    assert.are_not.equal(e.layers[1].linear1.weight, e.layers[2].linear1.weight)
    assert.are.equal(0, (e.layers[1].linear1.weight - layer.linear1.weight):abs():max():item())
    dm.no_grad(function () e.layers[1].linear1.weight:fill_(1) end)
    assert.is_true((e.layers[2].linear1.weight - 1):abs():max():item() > 0)
    assert.is_true((layer.linear1.weight - 1):abs():max():item() > 0)
    assert.are.equal(#e:parameters(), 3 * #layer:parameters())
    assert.are.equal("TransformerEncoderLayer", e.layers[3]:_get_name())
    assert.is_true(e.layers[2].self_attn.in_proj_weight.requires_grad)
  end)

  it("generate_square_subsequent_mask is 0 on and below the diagonal, -inf above", function ()
    local m = nn.Transformer.generate_square_subsequent_mask(3)
    local inf = math.huge
    assert.are.same({ { 0, -inf, -inf }, { 0, 0, -inf }, { 0, 0, 0 } }, m:totable())
    assert.are.equal(dm.get_default_dtype(), m.dtype)
    assert.are.equal(dm.float64, nn.Transformer.generate_square_subsequent_mask(2, F64).dtype)
  end)

  it("is_causal without a mask equals the causal mask", function ()
    dm.manual_seed(2)
    local layer = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, dropout = 0 })
    local x = dm.randn(5, 2, 8)
    local a = layer(x, { is_causal = true })
    local b = layer(x, { src_mask = nn.Transformer.generate_square_subsequent_mask(5) })
    assert.are.equal(0, (a - b):abs():max():item())
    local e = nn.TransformerEncoder(layer, 2)
    local c1 = e(x, { is_causal = true })
    local c2 = e(x, nn.Transformer.generate_square_subsequent_mask(5))
    assert.are.equal(0, (c1 - c2):abs():max():item())
  end)

  it("takes an activation function or module, and gelu by name", function ()
    dm.manual_seed(3)
    local l1 = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, dropout = 0,
                                                  activation = "gelu" })
    assert.are.equal(F.gelu, l1.activation)
    local l2 = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, dropout = 0,
                                                  activation = nn.GELU() })
    l2:load_state_dict(l1:state_dict())
    local l3 = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, dropout = 0,
                                                  activation = function (x) return F.gelu(x) end })
    l3:load_state_dict(l1:state_dict())
    local x = dm.randn(4, 2, 8)
    assert.are.equal(0, (l1(x) - l2(x)):abs():max():item())
    assert.are.equal(0, (l1(x) - l3(x)):abs():max():item())
  end)

  it("in eval mode dropout is off; in train mode it acts", function ()
    dm.manual_seed(4)
    local l = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16, dropout = 0.5 })
    local x = dm.randn(4, 2, 8)
    l:eval()
    assert.are.equal(0, (l(x) - l(x)):abs():max():item())
    l:train()
    assert.is_true((l(x) - l(x)):abs():max():item() > 0)
  end)

  it("nn.Transformer draws its matrices with xavier_uniform_ and runs batch_first", function ()
    dm.manual_seed(5)
    local m = nn.Transformer({ d_model = 8, nhead = 2, num_encoder_layers = 1,
                               num_decoder_layers = 2, dim_feedforward = 16, dropout = 0,
                               batch_first = true })
    local w = m.encoder.layers[1].linear1.weight                 -- [16 x 8]
    local bound = math.sqrt(6 / (16 + 8))
    assert.is_true(w:abs():max():item() <= bound)
    assert.are.equal(2, #m.decoder.layers)
    local y = m(dm.randn(3, 5, 8), dm.randn(3, 4, 8))
    assert.are.same({ 3, 4, 8 }, y:size())
    local y1 = m(dm.randn(5, 8), dm.randn(4, 8))                 -- unbatched
    assert.are.same({ 4, 8 }, y1:size())
  end)
end)

describe("Transformer errors", function ()
  it("constructors", function ()
    assert.are.equal("TransformerEncoderLayer: d_model must be divisible by nhead, got " ..
      "d_model 10 and nhead 4", util.err(nn.TransformerEncoderLayer, 10, 4))
    assert.are.equal("TransformerDecoderLayer: activation should be relu/gelu (or a function " ..
      "or module), not tanh", util.err(nn.TransformerDecoderLayer, 8, 2, { activation = "tanh" }))
    assert.are.equal("TransformerEncoderLayer: dropout probability has to be between 0 and 1, " ..
      "but got -1", util.err(nn.TransformerEncoderLayer, 8, 2, { dropout = -1 }))
    assert.are.equal("TransformerEncoder: expected a TransformerEncoderLayer as its layer, got " ..
      "Linear", util.err(nn.TransformerEncoder, nn.Linear(2, 2), 2))
    assert.are.equal("TransformerDecoder: num_layers must be a positive integer, got 0",
      util.err(nn.TransformerDecoder, nn.TransformerDecoderLayer(8, 2, 8), 0))
    assert.are.equal("generate_square_subsequent_mask: sz must be a non-negative integer, got -1",
      util.err(nn.Transformer.generate_square_subsequent_mask, -1))
  end)

  it("inputs and masks name the layer and the shapes", function ()
    local l = nn.TransformerEncoderLayer(8, 2, { dim_feedforward = 16 })
    local x = dm.randn(5, 2, 8)
    assert.are.equal("TransformerEncoderLayer: expected src [S x N x 8] (batched) or [S x 8] " ..
      "(unbatched), got [5 x 2 x 6]", util.err(l, dm.randn(5, 2, 6)))
    assert.are.equal("TransformerEncoderLayer.self_attn: the shape of the 2-D attn_mask is " ..
      "[4 x 4], but should be [5 x 5] (L x S)", util.err(l, x, { src_mask = dm.zeros(4, 4) }))
    assert.are.equal("TransformerEncoderLayer.self_attn: expected key_padding_mask [2 x 5] " ..
      "(N x S), got [5 x 2]", util.err(l, x, { src_key_padding_mask =
                                                 dm.zeros(5, 2, { dtype = dm.bool }) }))
    assert.are.equal("TransformerEncoderLayer.self_attn: attn_mask must be bool or floating " ..
      "point, got int64", util.err(l, x, { src_mask = dm.zeros(5, 5, { dtype = dm.int64 }) }))
    local e = nn.TransformerEncoder(l, 2)
    assert.are.equal("TransformerEncoder.layers[1]: TransformerEncoderLayer.self_attn: the " ..
      "shape of the 2-D attn_mask is [4 x 4], but should be [5 x 5] (L x S)",
      util.err(e, x, { mask = dm.zeros(4, 4) }))
    assert.matches("TransformerEncoder: unknown option 'src_mask'",
      util.err(e, x, { src_mask = dm.zeros(5, 5) }), nil, true)
    local d = nn.TransformerDecoderLayer(8, 2, { dim_feedforward = 16, batch_first = true })
    assert.are.equal("TransformerDecoderLayer: expected memory [N x S x 8] (batched) or " ..
      "[S x 8] (unbatched), got [2 x 8 x 5]", util.err(d, x, dm.randn(2, 8, 5)))
    assert.are.equal("TransformerDecoderLayer.multihead_attn: the shape of the 2-D attn_mask " ..
      "is [2 x 5], but should be [2 x 3] (L x S)",
      util.err(d, dm.randn(5, 2, 8), dm.randn(5, 3, 8), { memory_mask = dm.zeros(2, 5) }))
    local m = nn.Transformer({ d_model = 8, nhead = 2, num_encoder_layers = 1,
                               num_decoder_layers = 1, dim_feedforward = 8 })
    assert.are.equal("Transformer: the batch number of src and tgt must be equal, got src " ..
      "[5 x 2 x 8] and tgt [4 x 3 x 8]", util.err(m, x, dm.randn(4, 3, 8)))
    assert.are.equal("Transformer: the feature number of src and tgt must be equal to d_model " ..
      "8, got src [5 x 2 x 8] and tgt [4 x 2 x 6]", util.err(m, x, dm.randn(4, 2, 6)))
  end)
end)

describe("Transformer memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
