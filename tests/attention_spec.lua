-- nn.MultiheadAttention, F.multi_head_attention_forward and F.scaled_dot_product_attention
-- against PyTorch 1.13: every option, outputs, attention weights and the gradients of the
-- inputs and of every parameter, from tests/fixtures/attention_cases.lua (regenerate with
-- /usr/bin/python3 tests/fixtures/gen_attention.py); state_dict keys and a safetensors round
-- trip; the error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local cases = dofile(dir .. "fixtures/attention_cases.lua")
local F64 = { dtype = dm.float64 }

local T, close, copy = util.fixture_tensor, util.close, util.copy

-- the case's module with PyTorch's parameters, in dtype
local function build (c, dtype)
  local m = util.load_fixture_state(nn.MultiheadAttention(c.ctor):double(), c.state, dtype)
  if c.eval then m:eval() end
  return m
end

-- run case c in dtype; mk(t) may turn an input into a non-contiguous copy
local function run (c, dtype, atol, rtol, mk)
  mk = mk or function (t) return t end
  local m = build(c, dtype)
  local inputs, q, k, v = {}, nil, nil, nil
  if c.self_attention then
    inputs.x = T(c.x, dtype):requires_grad_()
    q = mk(inputs.x); k, v = q, q
  else
    inputs.q, inputs.k, inputs.v = T(c.q, dtype):requires_grad_(), T(c.k, dtype):requires_grad_(),
                                   T(c.v, dtype):requires_grad_()
    q, k, v = mk(inputs.q), mk(inputs.k), mk(inputs.v)
  end
  local opts = copy(c.call)
  for name, mt in pairs(c.masks) do opts[name] = T(mt, dtype) end
  local y, w = m(q, k, v, opts)
  close(c.y, y, atol, rtol, "output")
  local loss = (y * T(c.wy, dtype)):sum()
  if c.w then
    close(c.w, w, atol, rtol, "attention weights")
    loss = loss + (w * T(c.ww, dtype)):sum()
  else
    assert.is_nil(w)
  end
  loss:backward()
  util.check_grads(c.grads, m, inputs, atol, rtol)
  return m
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("nn.MultiheadAttention against PyTorch 1.13", function ()
  for _, c in ipairs(cases) do
    it(c.name .. " (float64)", function () run(c, dm.float64, 1e-10, 1e-9) end)
    it(c.name .. " (float32)", function () run(c, dm.float32, 1e-5, 1e-4) end)
  end

  it("takes non-contiguous inputs", function ()
    local function noncontig (t)
      local u = t:transpose(1, 2):contiguous():transpose(1, 2)
      assert.is_false(u:is_contiguous())
      return u
    end
    for _, i in ipairs({ 2, 9, 12, 16 }) do run(cases[i], dm.float64, 1e-10, 1e-9, noncontig) end
  end)

  it("names its state_dict entries as PyTorch does, in PyTorch's order", function ()
    local m = nn.MultiheadAttention(8, 2)
    assert.are.same({ "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" },
                    m:state_dict():keys())
    m = nn.MultiheadAttention(8, 2, { kdim = 4, vdim = 6, add_bias_kv = true, bias = false })
    assert.are.same({ "q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v",
                      "out_proj.weight" }, m:state_dict():keys())
    for _, c in ipairs(cases) do
      local keys = build(c):state_dict():keys()
      local n = 0
      for _, k in ipairs(keys) do assert.is_not_nil(c.state[k], k); n = n + 1 end
      local want = 0
      for _ in pairs(c.state) do want = want + 1 end
      assert.are.equal(want, n)
    end
  end)

  it("initialises as PyTorch: xavier_uniform in_proj_weight, zero biases", function ()
    dm.manual_seed(7)
    local m = nn.MultiheadAttention(16, 4, { add_bias_kv = true })
    local bound = math.sqrt(6 / (16 + 48))
    assert.is_true(m.in_proj_weight:abs():max():item() <= bound)
    assert.is_true(m.in_proj_weight:abs():max():item() > 0.8 * bound)
    assert.are.equal(0, m.in_proj_bias:abs():sum():item())
    assert.are.equal(0, m.out_proj.bias:abs():sum():item())
    assert.are.same({ 1, 1, 16 }, m.bias_k:size())
    assert.are.equal(m.out_proj:_get_name(), "NonDynamicallyQuantizableLinear")
    assert.are.equal("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(" ..
                     "in_features=16, out_features=16, bias=True)\n)", tostring(m))
  end)

  it("round-trips its state_dict through safetensors", function ()
    local c = cases[16]
    local m = build(c)
    local p = util.tmp(".safetensors")
    dm.save(p, m:state_dict())
    local m2 = nn.MultiheadAttention(c.ctor):double()
    m2:load_state_dict(assert(dm.load(p)))
    local q, k, v = T(c.q), T(c.k), T(c.v)
    local y1 = m(q, k, v)
    local y2 = m2(q, k, v)
    assert.are.equal(0, (y1 - y2):abs():max():item())
    util.remove_tmp()
  end)

  it("takes its call options positionally too (PyTorch's order)", function ()
    local c = cases[19]                      -- need_weights false, key_padding_mask
    local m = build(c)
    local x = T(c.x)
    local y, w = m(x, x, x, T(c.masks.key_padding_mask), false)
    assert.is_nil(w)
    close(c.y, y, 1e-10, 1e-9, "output")
  end)

  it("in eval mode with dropout gives the same output twice; dropout acts in train mode", function ()
    dm.manual_seed(3)
    local m = nn.MultiheadAttention(8, 2, { dropout = 0.5 })
    local x = dm.randn(4, 2, 8)
    m:eval()
    local a, b = m(x, x, x), m(x, x, x)
    assert.are.equal(0, (a - b):abs():max():item())
    m:train()
    local _, w = m(x, x, x, { average_attn_weights = false })
    -- some weights dropped to zero, the others scaled by 2
    assert.is_true(w:eq(0):sum():item() > 0)
  end)

  it("is_causal masks the keys after each query", function ()
    dm.manual_seed(5)
    local m = nn.MultiheadAttention(8, 2)
    local x = dm.randn(5, 2, 8)
    local _, w = m(x, x, x, { is_causal = true })
    assert.are.equal(0, dm.triu(w, 1):abs():sum():item())
    local mask = nn.Transformer.generate_square_subsequent_mask(5)
    local y1 = m(x, x, x, { attn_mask = mask })
    local y2 = m(x, x, x, { is_causal = true })
    assert.are.equal(0, (y1 - y2):abs():max():item())
  end)
end)

describe("F.multi_head_attention_forward", function ()
  it("gives the layer's numbers", function ()
    for _, i in ipairs({ 3, 9, 14, 15, 18 }) do
      local c = cases[i]
      local m = build(c)
      local q, k, v = T(c.q), T(c.k), T(c.v)
      local opts = copy(c.call)
      for name, mt in pairs(c.masks) do opts[name] = T(mt) end
      local y, w = F.multi_head_attention_forward(q, k, v, m.embed_dim, m.num_heads,
        m.in_proj_weight, m.in_proj_bias, m.bias_k, m.bias_v, m.add_zero_attn, 0.0,
        m.out_proj.weight, m.out_proj.bias, opts)
      close(c.y, y, 1e-10, 1e-9, c.name .. ": output")
      close(c.w, w, 1e-10, 1e-9, c.name .. ": weights")
    end
  end)
end)

-- the heads of an nn.MultiheadAttention computed with F.scaled_dot_product_attention: q, k, v
-- projected, split into [N x H x L x hd], attended, merged and projected out
local function mha_by_sdpa (c, sdpa_opts)
  local m = build(c)
  local E, H = m.embed_dim, m.num_heads
  local hd = E // H
  local q, k, v = T(c.q), T(c.k), T(c.v)           -- [L x N x E], [S x N x E]
  local W, b = m.in_proj_weight, m.in_proj_bias
  local function heads (x, i)
    local y = F.linear(x, W:narrow(1, i * E + 1, E), b:narrow(1, i * E + 1, E))
    local L, N = y:size(1), y:size(2)
    return y:reshape(L, N, H, hd):permute(2, 3, 1, 4)         -- [N x H x L x hd]
  end
  local o = F.scaled_dot_product_attention(heads(q, 0), heads(k, 1), heads(v, 2), sdpa_opts)
  local N, L = o:size(1), o:size(3)
  o = o:permute(3, 1, 2, 4):reshape(L, N, E)
  return F.linear(o, m.out_proj.weight, m.out_proj.bias)
end

describe("F.scaled_dot_product_attention", function ()
  it("with no mask gives MultiheadAttention's numbers", function ()
    close(cases[2].y, mha_by_sdpa(cases[2]), 1e-10, 1e-9, "output")
  end)

  it("takes a bool mask true = may attend (the opposite of MultiheadAttention's)", function ()
    local c = cases[3]                                   -- bool 2-D attn_mask, true = masked
    local keep = T(c.masks.attn_mask):logical_not()
    close(c.y, mha_by_sdpa(c, { attn_mask = keep }), 1e-10, 1e-9, "output")
  end)

  it("adds a float mask to the scores (broadcast over batch and heads)", function ()
    local c = cases[4]
    close(c.y, mha_by_sdpa(c, { attn_mask = T(c.masks.attn_mask) }), 1e-10, 1e-9, "output")
    local c3 = cases[6]                                  -- 3-D [N*H x L x S] float mask
    local m3 = T(c3.masks.attn_mask)
    local s = m3:size()
    local mask4 = m3:view(s[1] // 3, 3, s[2], s[3])      -- [N x H x L x S]
    close(c3.y, mha_by_sdpa(c3, { attn_mask = mask4 }), 1e-10, 1e-9, "output")
  end)

  it("is_causal equals a lower-triangular bool mask", function ()
    dm.manual_seed(11)
    local q, k, v = dm.randn(2, 5, 4, F64), dm.randn(2, 5, 4, F64), dm.randn(2, 5, 3, F64)
    local a = F.scaled_dot_product_attention(q, k, v, { is_causal = true })
    local keep = dm.tril(dm.ones(5, 5, { dtype = dm.bool }))
    local b = F.scaled_dot_product_attention(q, k, v, keep)
    assert.are.equal(0, (a - b):abs():max():item())
    -- the first query sees only the first key
    local first = a:narrow(2, 1, 1)
    assert.is_true((first - v:narrow(2, 1, 1)):abs():max():item() < 1e-12)
  end)

  it("computes softmax(q k^T / sqrt(E)) v by hand, with scale, and its gradient flows", function ()
    local q = dm.tensor({ { 1.0, 0.0 }, { 0.0, 1.0 } }, F64):requires_grad_()
    local k = dm.tensor({ { 1.0, 0.0 }, { 0.0, 2.0 } }, F64)
    local v = dm.tensor({ { 1.0, 2.0 }, { 3.0, 4.0 } }, F64)
    local y = F.scaled_dot_product_attention(q, k, v)
    local s = 1 / math.sqrt(2)
    local p1 = math.exp(s) / (math.exp(s) + 1)
    local p2 = 1 / (1 + math.exp(2 * s))
    local want = { p1 * 1 + (1 - p1) * 3, p1 * 2 + (1 - p1) * 4,
                   p2 * 1 + (1 - p2) * 3, p2 * 2 + (1 - p2) * 4 }
    local got = y:values()
    for i = 1, 4 do assert.is_true(math.abs(got[i] - want[i]) < 1e-12) end
    local y2 = F.scaled_dot_product_attention(q, k, v, { scale = 1.0 })
    local e = math.exp(1) / (math.exp(1) + 1)
    assert.is_true(math.abs(y2:values()[1] - (e * 1 + (1 - e) * 3)) < 1e-12)
    y:sum():backward()
    assert.are.same({ 2, 2 }, q.grad:size())
  end)

  it("takes non-contiguous inputs", function ()
    dm.manual_seed(12)
    local q, k, v = dm.randn(3, 2, 4, F64), dm.randn(5, 2, 4, F64), dm.randn(5, 2, 4, F64)
    local a = F.scaled_dot_product_attention(q:transpose(1, 2), k:transpose(1, 2),
                                             v:transpose(1, 2))
    local b = F.scaled_dot_product_attention(q:transpose(1, 2):contiguous(),
      k:transpose(1, 2):contiguous(), v:transpose(1, 2):contiguous())
    assert.are.equal(0, (a - b):abs():max():item())
  end)
end)

describe("attention errors", function ()

  it("MultiheadAttention's constructor", function ()
    assert.are.equal("MultiheadAttention: embed_dim must be divisible by num_heads, got " ..
      "embed_dim 10 and num_heads 3", util.err(nn.MultiheadAttention, 10, 3))
    assert.are.equal("MultiheadAttention: num_heads must be a positive integer, got 0",
      util.err(nn.MultiheadAttention, 8, 0))
    assert.are.equal("MultiheadAttention: dropout probability has to be between 0 and 1, " ..
      "but got 1.5", util.err(nn.MultiheadAttention, 8, 2, { dropout = 1.5 }))
    assert.matches("MultiheadAttention: unknown option 'heads'",
      util.err(nn.MultiheadAttention, 8, 2, { heads = 2 }), nil, true)
  end)

  it("MultiheadAttention's inputs", function ()
    local m = nn.MultiheadAttention(8, 2)
    local x = dm.randn(5, 2, 8)
    assert.are.equal("MultiheadAttention: expected query [L x N x 8] (batched) or [L x 8] " ..
      "(unbatched), got [2 x 5 x 2 x 8]", util.err(m, dm.randn(2, 5, 2, 8), x, x))
    assert.are.equal("MultiheadAttention: expected query [L x N x 8], got [5 x 2 x 6]",
      util.err(m, dm.randn(5, 2, 6), x, x))
    assert.are.equal("MultiheadAttention: for a batched query [5 x 2 x 8], expected key and " ..
      "value 3-D, got key [5 x 8] and value [5 x 2 x 8]", util.err(m, x, dm.randn(5, 8), x))
    assert.are.equal("MultiheadAttention: expected key and value [S x N x 8], got key " ..
      "[5 x 2 x 4] and value [5 x 2 x 8]", util.err(m, x, dm.randn(5, 2, 4), x))
    assert.are.equal("MultiheadAttention: query [5 x 2 x 8], key [5 x 3 x 8] and value " ..
      "[5 x 3 x 8] disagree in batch size or sequence length",
      util.err(m, x, dm.randn(5, 3, 8), dm.randn(5, 3, 8)))
    assert.are.equal("MultiheadAttention: query must be a Tensor, got nil", util.err(m, nil, x, x))
    local mb = nn.MultiheadAttention(8, 2, { batch_first = true, kdim = 3, vdim = 5 })
    assert.are.equal("MultiheadAttention: expected key [N x S x 3] and value [N x S x 5] " ..
      "(kdim, vdim), got key [2 x 5 x 8] and value [2 x 5 x 8]",
      util.err(mb, dm.randn(2, 4, 8), dm.randn(2, 5, 8), dm.randn(2, 5, 8)))
  end)

  it("MultiheadAttention's masks", function ()
    local m = nn.MultiheadAttention(8, 2)
    local x = dm.randn(5, 2, 8)
    local q = dm.randn(4, 2, 8)
    assert.are.equal("MultiheadAttention: the shape of the 2-D attn_mask is [5 x 4], but " ..
      "should be [4 x 5] (L x S)",
      util.err(m, q, x, x, { attn_mask = dm.zeros(5, 4) }))
    assert.are.equal("MultiheadAttention: the shape of the 3-D attn_mask is [2 x 4 x 5], but " ..
      "should be [4 x 4 x 5] (N*num_heads x L x S)",
      util.err(m, q, x, x, { attn_mask = dm.zeros(2, 4, 5) }))
    assert.are.equal("MultiheadAttention: attn_mask must be 2-D [L x S] or 3-D " ..
      "[N*num_heads x L x S], got [1 x 2 x 4 x 5]",
      util.err(m, q, x, x, { attn_mask = dm.zeros(1, 2, 4, 5) }))
    assert.are.equal("MultiheadAttention: attn_mask must be bool or floating point, got int64",
      util.err(m, q, x, x, { attn_mask = dm.zeros(4, 5, { dtype = dm.int64 }) }))
    assert.are.equal("MultiheadAttention: expected key_padding_mask [2 x 5] (N x S), got [5 x 2]",
      util.err(m, q, x, x, { key_padding_mask = dm.zeros(5, 2, { dtype = dm.bool }) }))
    assert.are.equal("MultiheadAttention: key_padding_mask must be bool or floating point, " ..
      "got int64", util.err(m, q, x, x, { key_padding_mask = dm.zeros(2, 5, { dtype = dm.int64 }) }))
    assert.are.equal("MultiheadAttention: expected key_padding_mask [5] (S), got [1 x 5]",
      util.err(m, dm.randn(4, 8), dm.randn(5, 8), dm.randn(5, 8),
               { key_padding_mask = dm.zeros(1, 5, { dtype = dm.bool }) }))
    assert.are.equal("MultiheadAttention: need_weights must be a boolean, got number",
      util.err(m, q, x, x, { need_weights = 1 }))
    assert.matches("MultiheadAttention: unknown option 'mask'",
      util.err(m, q, x, x, { mask = dm.zeros(4, 5) }), nil, true)
  end)

  it("F.scaled_dot_product_attention's", function ()
    local q, k, v = dm.randn(2, 3, 4), dm.randn(2, 5, 4), dm.randn(2, 5, 6)
    assert.are.equal("scaled_dot_product_attention: expected query [... x L x E], key " ..
      "[... x S x E] and value [... x S x Ev], got query [2 x 3 x 4], key [2 x 5 x 3], " ..
      "value [2 x 5 x 6]", util.err(F.scaled_dot_product_attention, q, dm.randn(2, 5, 3), v))
    assert.are.equal("scaled_dot_product_attention: attn_mask [4 x 5] does not broadcast to " ..
      "the scores [... x L x S] [2 x 3 x 5]",
      util.err(F.scaled_dot_product_attention, q, k, v, dm.zeros(4, 5, { dtype = dm.bool })))
    assert.are.equal("scaled_dot_product_attention: attn_mask must be bool or floating point, " ..
      "got int64", util.err(F.scaled_dot_product_attention, q, k, v,
                            dm.zeros(3, 5, { dtype = dm.int64 })))
    assert.are.equal("scaled_dot_product_attention: give either attn_mask or is_causal, not both",
      util.err(F.scaled_dot_product_attention, q, k, v,
               { attn_mask = dm.zeros(3, 5), is_causal = true }))
    assert.are.equal("scaled_dot_product_attention: query must be float32 or float64, got int64",
      util.err(F.scaled_dot_product_attention, dm.zeros(2, 3, 4, { dtype = dm.int64 }), k, v))
    assert.are.equal("scaled_dot_product_attention: dropout_p must be between 0 and 1, got 2",
      util.err(F.scaled_dot_product_attention, q, k, v, { dropout_p = 2 }))
  end)
end)

describe("attention with hostile arguments", function ()
  it("raises deepmoon's errors, never Lua's own", function ()
    local bad = setmetatable({}, { __len = function () return math.maxinteger end,
                                   __index = function () return 1 end })
    local pool = { false, 1.5, -1, "x", {}, bad, dm.tensor(1.0), dm.zeros(2, 5, { dtype = dm.int64 }),
                   nn.Linear(2, 2), function () end }
    local m = nn.MultiheadAttention(8, 2)
    local x = dm.randn(5, 2, 8)
    local function clean (f, ...)
      local ok, e = pcall(f, ...)
      if not ok then assert.is_nil(tostring(e):find("attempt to", 1, true), tostring(e)) end
    end
    for _, v in ipairs(pool) do
      clean(nn.MultiheadAttention, v, 2)
      clean(nn.MultiheadAttention, 8, 2, { kdim = v, dropout = v })
      clean(m, v, x, x)
      clean(m, x, x, x, { attn_mask = v })
      clean(m, x, x, x, v, v, v, v)
      clean(F.scaled_dot_product_attention, x, x, x, v, v)
      clean(F.scaled_dot_product_attention, x, x, x, { scale = v, is_causal = v })
      clean(F.multi_head_attention_forward, x, x, x, 8, 2, v, v, v, v, v, 0.0, v, v, v)
      clean(nn.TransformerEncoderLayer, 8, 2, { activation = v, dim_feedforward = v })
      clean(nn.TransformerEncoder, v, v)
      clean(nn.Transformer.generate_square_subsequent_mask, v, v)
    end
  end)
end)

describe("attention memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
