-- nn.Embedding / nn.EmbeddingBag / F.embedding / F.embedding_bag against PyTorch 1.13:
-- padding_idx (1-based, negative from the end), scale_grad_by_freq, max_norm (in place),
-- transposed weights, bags of one size or with 1-based offsets, include_last_offset,
-- per_sample_weights; forward and the gradients of sum(y * w), from
-- tests/fixtures/embedding_cases.lua (regenerate with /usr/bin/python3
-- tests/fixtures/gen_embedding.py); and the modules, from_pretrained and the error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/embedding_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end
local function ids (f) return dm.tensor(f.data, { dtype = dm.int64 }):view(f.shape) end
local function L (t) return dm.tensor(t, { dtype = dm.int64 }) end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function run (c, opts)
  local w = T(c.weight, opts):requires_grad_()
  local win = c.transpose and w:t() or w
  if c.transpose then assert.is_false(win:is_contiguous()) end
  local psw = c.psw and T(c.psw, opts):requires_grad_() or nil
  local y
  if c.kind == "embedding" then
    y = F.embedding(ids(c.ids), win, { padding_idx = c.padding_idx, max_norm = c.max_norm,
                                       norm_type = c.norm_type,
                                       scale_grad_by_freq = c.scale_grad_by_freq })
  else
    y = F.embedding_bag(ids(c.ids), win, c.offsets and ids(c.offsets) or nil,
                        { mode = c.mode, per_sample_weights = psw,
                          include_last_offset = c.include_last_offset,
                          padding_idx = c.padding_idx, max_norm = c.max_norm,
                          scale_grad_by_freq = c.scale_grad_by_freq })
  end
  return w, psw, y
end

describe("embeddings against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.kind .. " " .. c.name .. " (float64)", function ()
      local w, psw, y = run(c)
      assert.are.same(c.y.shape, y:size())
      util.assert_close(c.y, y, 1e-12, "forward")
      assert.are.equal(c.kind == "embedding" and "EmbeddingBackward0" or "EmbeddingBagBackward0",
                       y.grad_fn)
      util.assert_close(c.after, w, 1e-12, "weight after the call");
      (y * T(c.w)):sum():backward()
      util.assert_close(c.grad, c.transpose and w.grad:t() or w.grad, 1e-12, "gradient")
      if c.psw_grad then util.assert_close(c.psw_grad, psw.grad, 1e-12, "psw gradient") end
    end)
    it(c.kind .. " " .. c.name .. " (float32)", function ()
      local w, psw, y = run(c, {})
      assert.are.equal(dm.float32, y.dtype)
      util.assert_close(c.y, y, 1e-5, "forward");
      (y * T(c.w, {})):sum():backward()
      util.assert_close(c.grad, c.transpose and w.grad:t() or w.grad, 1e-5, "gradient")
      if c.psw_grad then util.assert_close(c.psw_grad, psw.grad, 1e-5, "psw gradient") end
    end)
  end

  it("uint8 ids are taken as int64 ones", function ()
    local w = dm.randn(4, 2)
    local a = F.embedding(dm.tensor({1, 4, 2}, { dtype = dm.uint8 }), w)
    local b = F.embedding(L({1, 4, 2}), w)
    assert.are.same(b:totable(), a:totable())
  end)

  it("non-contiguous ids", function ()
    local w = dm.randn(5, 2)
    local i = L({{1, 2, 3}, {4, 5, 1}}):t()
    assert.is_false(i:is_contiguous())
    assert.are.same(F.embedding(i:contiguous(), w):totable(), F.embedding(i, w):totable())
  end)
end)

describe("nn.Embedding", function ()
  it("draws N(0, 1) weights with the padding row zero, and repr as PyTorch", function ()
    dm.manual_seed(3)
    local e = nn.Embedding(10, 3, { padding_idx = 2 })
    assert.are.same({10, 3}, e.weight:size())
    assert.are.same({0, 0, 0}, e.weight[2]:totable())
    assert.is_true(e.weight.requires_grad)
    assert.are.equal("Embedding(10, 3, padding_idx=2)", tostring(e))
    assert.are.equal("Embedding(10, 3, padding_idx=10, max_norm=1.0, scale_grad_by_freq=True)",
                     tostring(nn.Embedding(10, 3, { padding_idx = -1, max_norm = 1.0,
                                                    scale_grad_by_freq = true })))
    local names = {}
    for k in pairs(e:state_dict()) do names[#names + 1] = k end
    assert.are.same({ "weight" }, names)
  end)

  it("looks up [N x T] ids into [N x T x dim], padding row gets no gradient", function ()
    local e = nn.Embedding(5, 4, { padding_idx = 1 })
    local y = e(L({{1, 2, 3}, {3, 1, 5}}))
    assert.are.same({2, 3, 4}, y:size())
    y:sum():backward()
    assert.are.same({0, 0, 0, 0}, e.weight.grad[1]:totable())
    assert.are.same({2, 2, 2, 2}, e.weight.grad[3]:totable())
  end)

  it("takes positional options and a float64 dtype, and _weight", function ()
    local e = nn.Embedding(4, 2, { dtype = dm.float64 })
    assert.are.equal(dm.float64, e.weight.dtype)
    local w = dm.randn(4, 2)
    local e2 = nn.Embedding(4, 2, { _weight = w })
    assert.are.same(w:totable(), e2.weight:totable())
  end)

  it("from_pretrained shares the tensor, frozen by default", function ()
    local w = dm.tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}})
    local e = nn.Embedding.from_pretrained(w)
    assert.is_false(e.weight.requires_grad)
    assert.are.same({{3, 4}, {1, 2}}, e(L({2, 1})):totable())
    local e2 = nn.Embedding.from_pretrained(w:clone(), { freeze = false, padding_idx = 3 })
    assert.is_true(e2.weight.requires_grad)
    assert.are.equal(3, e2.padding_idx)
    assert.are.same({5, 6}, e2.weight[3]:totable())     -- not zeroed, as PyTorch's
  end)

  it("max_norm renormalises the looked-up rows in place", function ()
    local e = nn.Embedding.from_pretrained(dm.tensor({{3.0, 4.0}, {0.3, 0.4}}),
                                           { max_norm = 1.0 })
    e(L({1}))
    local r = e.weight[1]:totable()
    assert.is_true(math.abs(r[1] - 0.6) < 1e-6 and math.abs(r[2] - 0.8) < 1e-6)
    assert.are.same({0.3, 0.4}, (function ()
      local v = e.weight[2]:totable()
      return { math.floor(v[1] * 10 + 0.5) / 10, math.floor(v[2] * 10 + 0.5) / 10 }
    end)())
  end)

  it("trains: one SGD step moves only the rows used", function ()
    local e = nn.Embedding(6, 2)
    local before = e.weight:clone()
    local opt = dm.optim.SGD(e:parameters(), { lr = 0.1 })
    e(L({2, 4})):sum():backward()
    opt:step()
    local d = (e.weight - before):abs():sum(2):totable()
    assert.are.same({0, 0, 0, 0}, { d[1], d[3], d[5], d[6] })
    assert.is_true(d[2] > 0 and d[4] > 0)
  end)
end)

describe("embedding state_dicts", function ()
  it("save and load through safetensors with PyTorch's keys", function ()
    local a = nn.Sequential(nn.Embedding(6, 3, { padding_idx = 1 }),
                            nn.EmbeddingBag(4, 2, { mode = "sum" }))
    local sd = a:state_dict()
    assert.are.same({3 * 6, 4 * 2}, { sd["0.weight"]:numel(), sd["1.weight"]:numel() })
    local path = util.tmp(".safetensors")
    dm.save(path, sd)
    local b = nn.Sequential(nn.Embedding(6, 3, { padding_idx = 1 }),
                            nn.EmbeddingBag(4, 2, { mode = "sum" }))
    b:load_state_dict(dm.load(path))
    util.remove_tmp()
    assert.are.same(a[1].weight:totable(), b[1].weight:totable())
    assert.are.same(a[2].weight:totable(), b[2].weight:totable())
    local ids = L({{1, 2}, {6, 3}})
    assert.are.same(a[1](ids):totable(), b[1](ids):totable())
  end)
end)

describe("nn.EmbeddingBag", function ()
  it("defaults to mean, 1-based offsets, repr as PyTorch", function ()
    local w = dm.tensor({{1.0, 1.0}, {2.0, 2.0}, {3.0, 3.0}, {4.0, 4.0}})
    local b = nn.EmbeddingBag.from_pretrained(w)
    assert.are.equal("EmbeddingBag(4, 2, mode='mean')", tostring(b))
    local y = b(L({1, 2, 3, 4}), L({1, 3}))
    assert.are.same({{1.5, 1.5}, {3.5, 3.5}}, y:totable())
    local s = nn.EmbeddingBag(4, 2, { mode = "sum", _weight = w })
    assert.are.same({{3, 3}, {7, 7}}, s(L({{1, 2}, {3, 4}})):totable())
    local m = nn.EmbeddingBag(4, 2, { mode = "max", _weight = w, include_last_offset = true })
    assert.are.same({{3, 3}, {4, 4}}, m(L({1, 3, 4}), L({1, 3, 4})):totable())
  end)
  it("per_sample_weights weigh each id (sum)", function ()
    local w = dm.tensor({{1.0, 1.0}, {2.0, 2.0}})
    local b = nn.EmbeddingBag(2, 2, { mode = "sum", _weight = w })
    local y = b(L({1, 2}), L({1}), dm.tensor({0.5, 2.0}))
    assert.are.same({{4.5, 4.5}}, y:totable())
  end)
end)

describe("embedding errors", function ()
  local function E () return nn.Embedding(5, 3) end
  it("names the layer and the id out of range", function ()
    assert.are.equal("Embedding: token id 0 out of range for 5 embeddings (ids are 1-based, "
                     .. "1 to 5)", util.err(function () return E()(L({1, 0})) end))
    assert.are.equal("Embedding: token id 6 out of range for 5 embeddings (ids are 1-based, "
                     .. "1 to 5)", util.err(function () return E()(L({{6}})) end))
    assert.are.equal("embedding: token id 9 out of range for 5 embeddings (ids are 1-based, "
                     .. "1 to 5)", util.err(function () return F.embedding(L({9}), E().weight) end))
  end)
  it("names the dtype of float or bool ids", function ()
    assert.are.equal("Embedding: expected an int64 tensor of token ids, got float32 (use "
                     .. ":long())", util.err(function () return E()(dm.tensor({1.0, 2.0})) end))
    assert.truthy(util.err(function () return E()(dm.tensor({true})) end):find("got bool", 1, true))
  end)
  it("refuses sparse, bad sizes and padding_idx", function ()
    assert.are.equal("Embedding: sparse = true is not supported (deepmoon's gradients are "
                     .. "dense tensors)",
                     util.err(function () return nn.Embedding(3, 2, { sparse = true }) end))
    assert.are.equal("Embedding: padding_idx must be within num_embeddings (1 to 3, or -3 to "
                     .. "-1 from the end), got 0",
                     util.err(function () return nn.Embedding(3, 2, { padding_idx = 0 }) end))
    assert.truthy(util.err(function () return nn.Embedding(3, 2, { padding_idx = 4 }) end)
                  :find("got 4", 1, true))
    assert.truthy(util.err(function () return nn.Embedding(-1, 2) end)
                  :find("Embedding: num_embeddings must be a non-negative integer", 1, true))
    assert.truthy(util.err(function () return nn.Embedding(3, 2, { _weight = dm.randn(2, 2) }) end)
                  :find("Shape of weight does not match", 1, true))
    assert.truthy(util.err(function () return nn.Embedding.from_pretrained(dm.randn(3)) end)
                  :find("expected to be 2-dimensional", 1, true))
    assert.truthy(util.err(function () return E()("x") end)
                  :find("Embedding: input must be a Tensor, got string", 1, true))
  end)
  it("bags: offsets, modes and per_sample_weights", function ()
    local b = nn.EmbeddingBag(5, 3, { mode = "sum" })
    assert.truthy(util.err(function () return b(L({1, 2, 3}), L({2})) end)
                  :find("EmbeddingBag: offsets[1] has to be 1", 1, true))
    assert.truthy(util.err(function () return b(L({1, 2, 3}), L({1, 5})) end)
                  :find("non-decreasing positions within the input of 3 ids", 1, true))
    assert.truthy(util.err(function () return b(L({1, 2, 3})) end)
                  :find("offsets has to be a 1D tensor", 1, true))
    assert.truthy(util.err(function () return b(L({{1, 2}}), L({1})) end)
                  :find("offsets has to be None (nil) if input is 2D", 1, true))
    assert.truthy(util.err(function () return b(L({1, 2}), L({1}), dm.ones(3)) end)
                  :find("per_sample_weights [3] must have the shape of the input [2]", 1, true))
    local m = nn.EmbeddingBag(5, 3)
    assert.truthy(util.err(function () return m(L({1, 2}), L({1}), dm.ones(2)) end)
                  :find("only supported for mode='sum' (got mode='mean')", 1, true))
    assert.truthy(util.err(function () return nn.EmbeddingBag(5, 3, { mode = "median" }) end)
                  :find("mode must be 'sum', 'mean' or 'max', got 'median'", 1, true))
    assert.truthy(util.err(function () return b(L({1, 7}), L({1})) end)
                  :find("EmbeddingBag: token id 7 out of range", 1, true))
  end)
end)

describe("embeddings: memory", function ()
  it("frees everything", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
