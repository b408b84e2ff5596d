-- Reductions, losses, dropout and batch norm per dtype, from Lua: float64 results against
-- PyTorch 1.13's (fixtures/dtype_reduce_cases.lua, made by fixtures/gen_dtype_reduce.py),
-- integer and bool reductions, int64 indices and class targets, and the messages.
-- Float64 gradients are checked by central differences in tests/c/test_dtype_reduce.c.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local cases = dofile(script_dir() .. "fixtures/dtype_reduce_cases.lua")

-- the generator's inputs: sin(1.3 k + seed) * scale + shift, k row-major, float64
local function pattern (shape, seed, scale, shift)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local v = {}
  for k = 0, n - 1 do v[k + 1] = math.sin(1.3 * k + seed) * scale + shift end
  return dm.tensor(v, { dtype = dm.float64 }):view(shape)
end

local function dtype_name (t) return (tostring(t.dtype):gsub("^deepmoon%.", "")) end

local function assert_case (want, got, tol, what)
  assert.are.equal(want.dtype, dtype_name(got), what .. ": dtype")
  assert.are.same(want.sizes, got:size(), what .. ": shape")
  local g = got:values()
  assert.are.equal(#want.values, #g, what .. ": number of values")
  for i, e in ipairs(want.values) do
    if type(g[i]) == "boolean" then g[i] = g[i] and 1 or 0 end
    local ok = math.abs(e - g[i]) <= tol * math.max(1, math.abs(e))
    assert(ok, ("%s: value %d: expected %.17g, got %.17g"):format(what, i, e, g[i]))
  end
end

local x = pattern({ 3, 4 }, 0.5, 2, 0.25)
local p = pattern({ 3, 4 }, 0.2, 0.4, 0.5)
local t = pattern({ 3, 4 }, 2.1, 0.45, 0.5)
local w = pattern({ 4 }, 0.9, 0.4, 1.1)
local cls = dm.tensor({ 4, 2, 1 }, { dtype = dm.int64 })     -- PyTorch's 3, 1, 0
local probs = t:softmax(2)

-- name -> how deepmoon computes it
local compute = {}
for _, d in ipairs({ "all", 1, 2 }) do
  local tag = d == "all" and "all" or ("dim" .. d)
  local function arg (f) return function () if d == "all" then return f(x) end return f(x, d) end end
  compute["sum " .. tag] = arg(function (a, ...) return a:sum(...) end)
  compute["mean " .. tag] = arg(function (a, ...) return a:mean(...) end)
  compute["prod " .. tag] = arg(function (a, ...) return a:prod(...) end)
  compute["var " .. tag] = arg(function (a, ...) return a:var(...) end)
  compute["std " .. tag] = arg(function (a, ...) return a:std(...) end)
  compute["max " .. tag] = arg(function (a, ...) return (a:max(...)) end)
  compute["min " .. tag] = arg(function (a, ...) return (a:min(...)) end)
  compute["argmax " .. tag] = arg(function (a, ...) return a:argmax(...) end)
  compute["argmin " .. tag] = arg(function (a, ...) return a:argmin(...) end)
end
compute["softmax dim2"] = function () return x:softmax(2) end
compute["log_softmax dim1"] = function () return F.log_softmax(x, 1) end
for _, r in ipairs({ "none", "mean", "sum" }) do
  compute["mse " .. r] = function () return F.mse_loss(x, t, { reduction = r }) end
  compute["l1 " .. r] = function () return nn.L1Loss{ reduction = r }(x, t) end
  compute["smooth_l1 " .. r] = function ()
    return F.smooth_l1_loss(x, t, { reduction = r, beta = 0.7 }) end
  compute["huber " .. r] = function () return nn.HuberLoss{ reduction = r, delta = 0.6 }(x, t) end
  compute["bce " .. r] = function () return nn.BCELoss(w, { reduction = r })(p, t) end
  compute["bce_logits " .. r] = function ()
    return F.binary_cross_entropy_with_logits(x, t, w, { pos_weight = w, reduction = r }) end
  compute["nll " .. r] = function ()
    return nn.NLLLoss(w, { reduction = r, ignore_index = 2 })(x, cls) end
  compute["cross_entropy " .. r] = function ()
    return F.cross_entropy(x, cls, w, { reduction = r, ignore_index = 1,
                                        label_smoothing = 0.15 }) end
  compute["cross_entropy probs " .. r] = function ()
    return nn.CrossEntropyLoss{ reduction = r, label_smoothing = 0.1 }(x, probs) end
end
local li = dm.tensor({ { 5, -7, 5 }, { 0, 9, 9 } }, { dtype = dm.int64 })
local u8 = dm.tensor({ 255, 255, 3 }, { dtype = dm.uint8 })
local bo = dm.tensor({ true, false, true }, { dtype = dm.bool })
compute["int64 sum"] = function () return li:sum() end
compute["int64 prod dim2"] = function () return li:prod(2) end
compute["int64 max dim1"] = function () return (li:max(1)) end
compute["int64 argmax dim2"] = function () return li:argmax(2) end
compute["uint8 sum"] = function () return u8:sum() end
compute["uint8 max"] = function () return u8:max() end
compute["bool sum"] = function () return bo:sum() end
compute["bool max"] = function () return bo:max() end

describe("per-dtype reductions and losses match PyTorch 1.13", function ()
  for _, c in ipairs(cases) do
    it(c.name, function ()
      local f = assert(compute[c.name], "no computation for " .. c.name)
      assert_case(c.want, f(), 1e-12, c.name)
    end)
  end
end)

describe("reductions of integer and bool tensors", function ()
  it("sum exactly into int64, keep the dtype in max and min", function ()
    local big = dm.tensor({ (1 << 53) + 1, 1, -2 }, { dtype = dm.int64 })   -- not a double
    assert.are.equal(1 << 53, big:sum():item())
    assert.are.equal(dm.int64, big:sum().dtype)
    assert.are.equal(dm.uint8, u8:min(1).dtype)
    assert.are.equal(3, u8:min():item())
  end)

  it("give 1-based int64 indices from argmax and max(dim)", function ()
    local v, i = li:max(2)
    assert.are.same({ 5, 9 }, v:values())
    assert.are.same({ 1, 2 }, i:values())
    assert.are.equal(dm.int64, i.dtype)
    local fv, fi = x:max(2)
    assert.are.equal(dm.float64, fv.dtype)
    assert.are.equal(dm.int64, fi.dtype)
    assert.are.equal(dm.int64, dm.tensor({ 1, 3, 2 }):argmax().dtype)
    assert.are.equal(2, dm.tensor({ 1, 3, 2 }):argmax():item())
  end)

  it("refuse mean, var, std and softmax of integers with the fix", function ()
    assert.has_error(function () return li:mean() end,
                     "mean: expected a floating point tensor, got int64 (use :float())")
    assert.has_error(function () return bo:var() end,
                     "var: expected a floating point tensor, got bool (use :float())")
    assert.has_error(function () return li:std(1) end,
                     "std: expected a floating point tensor, got int64 (use :float())")
    assert.has_error(function () return li:softmax(2) end,
                     "softmax: not implemented for int64 tensors (convert with :float())")
    assert.are.equal(dm.float32, li:float():mean().dtype)
  end)
end)

describe("loss targets and dtypes", function ()
  it("take int64 (or uint8) class targets, 1-based", function ()
    local logits = dm.tensor{ { 1.0, 2.0, 3.0 }, { 1.0, 1.0, 1.0 } }
    local want = (0.4076059644443804 + 1.0986122886681098) / 2
    local l = nn.CrossEntropyLoss()(logits, dm.tensor({ 3, 1 }, { dtype = dm.int64 }))
    assert(math.abs(l:item() - want) < 1e-6)
    l = nn.NLLLoss()(logits:log_softmax(2), dm.tensor({ 3, 1 }, { dtype = dm.uint8 }))
    assert(math.abs(l:item() - want) < 1e-6)
    assert.are.equal(dm.float64, nn.CrossEntropyLoss()(logits:double(),
                                                       dm.tensor({ 3, 1 }):long()).dtype)
  end)

  it("refuse float class indices with advice; float targets of the input's size are probabilities", function ()
    local logits = dm.rand(2, 3)
    assert.has_error(function () nn.NLLLoss()(logits, dm.tensor{ 3.0, 1.0 }) end,
                     "NLLLoss: expected an int64 tensor of class indices, got float32 (use :long())")
    assert.has_error(function () F.cross_entropy(logits, dm.tensor{ 3.0, 1.0 }) end,
                     "cross_entropy: expected an int64 tensor of class indices (or probabilities " ..
                     "of the input's size), got float32 (use :long())")
    local probs2 = dm.tensor{ { 0.0, 0.0, 1.0 }, { 1.0, 0.0, 0.0 } }
    local a = nn.CrossEntropyLoss()(logits, probs2)
    local b = nn.CrossEntropyLoss()(logits, dm.tensor({ 3, 1 }, { dtype = dm.int64 }))
    assert(math.abs(a:item() - b:item()) < 1e-6)
  end)

  it("say labels are 1-based when a class is out of range", function ()
    assert.has_error(function ()
      nn.CrossEntropyLoss()(dm.rand(2, 3), dm.tensor({ 0, 2 }, { dtype = dm.int64 }))
    end, "CrossEntropyLoss: target 0 out of range for 3 classes (class labels are 1-based, " ..
         "1 to 3; 0-based labels need + 1)")
    assert.has_error(function ()
      nn.NLLLoss()(dm.rand(2, 3), dm.tensor({ 4, 2 }, { dtype = dm.int64 }))
    end, "NLLLoss: target 4 out of range for 3 classes (class labels are 1-based, 1 to 3)")
  end)

  it("refuse integer and bool targets of BCELoss with advice", function ()
    assert.has_error(function () nn.BCELoss()(dm.rand(2), dm.tensor({ 0, 1 }):long()) end,
                     "BCELoss: expected a floating point target, got int64 (use :float())")
    assert.has_error(function ()
      nn.BCEWithLogitsLoss()(dm.rand(2), dm.tensor({ true, false }, { dtype = dm.bool }))
    end, "BCEWithLogitsLoss: expected a floating point target, got bool (use :float())")
  end)

  it("promote float32 with float64 as PyTorch", function ()
    local a, b = dm.rand(3), dm.rand(3):double()
    assert.are.equal(dm.float64, F.mse_loss(a, b).dtype)
    assert.are.equal(dm.float64, nn.L1Loss()(b, a).dtype)
    assert.are.equal(dm.float32, F.mse_loss(a, dm.tensor({ 1, 0, 2 }):long()).dtype)
    assert.has_error(function () nn.BCELoss()(a, b) end,
                     "BCELoss: target is float64 but input is float32 (convert one of them)")
  end)
end)

describe("layers per dtype", function ()
  it("BatchNorm1d keeps float64 running statistics for a float64 module", function ()
    local bn = nn.BatchNorm1d(4, { dtype = dm.float64 })
    local y = bn(x)
    assert.are.equal(dm.float64, y.dtype)
    assert.are.equal(dm.float64, bn.running_mean.dtype)
    assert.are.equal(dm.float64, bn.weight.dtype)
    local m1 = (x:get(1, 1) + x:get(2, 1) + x:get(3, 1)) / 3
    assert(math.abs(bn.running_mean:get(1) - 0.1 * m1) < 1e-15)
    assert.has_error(function () bn(x:float()) end,
                     "BatchNorm1d: expected a float64 input (the module's dtype), got float32")
    assert.are.equal(dm.float32, nn.BatchNorm1d(4)(x:float()).dtype)
    assert.has_error(function () nn.BatchNorm1d(4, { dtype = dm.int64 }) end,
                     "BatchNorm1d: dtype must be dm.float32 or dm.float64, got deepmoon.int64")
  end)

  it("Dropout keeps float64 and refuses integers", function ()
    local y = nn.Dropout(0.5)(x)
    assert.are.equal(dm.float64, y.dtype)
    for i, v in ipairs(y:values()) do
      local xv = x:values()[i]
      assert(v == 0 or math.abs(v - 2 * xv) < 1e-15)
    end
    assert.has_error(function () F.dropout(li, 0.5) end,
                     "dropout: expected a floating point tensor, got int64 (use :float())")
  end)
end)

describe("int64 labels in the data helpers", function ()
  it("split and batch exactly (index_select takes float32 only for now)", function ()
    local data = require "deepmoon.data"
    local X = dm.arange(1, 7):view(6, 1)
    local y = dm.tensor({ 1, 2, 3, 1, 2, (1 << 40) + 1 }, { dtype = dm.int64 })
    local Xtr, Xte, ytr, yte = data.train_test_split(X, y, { test_size = 2, shuffle = false })
    assert.are.equal(dm.int64, ytr.dtype)
    assert.are.same({ 2, (1 << 40) + 1 }, yte:values())
    assert.are.same({ 4 }, { Xtr:size(1) })
    local seen = {}
    for xb, yb in data.DataLoader(data.TensorDataset(X, y), { batch_size = 4 }) do
      assert.are.equal(dm.int64, yb.dtype)
      for _, v in ipairs(yb:values()) do seen[#seen + 1] = v end
      assert.are.equal(xb:size(1), yb:size(1))
    end
    assert.are.same(y:values(), seen)
    assert.are.same({ 2, 1 }, Xte:size())
  end)
end)

describe("dtype_reduce_spec", function ()
  it("leaves no live tensor bytes behind", function ()
    x, p, t, w, cls, probs, li, u8, bo = nil, nil, nil, nil, nil, nil, nil, nil, nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
