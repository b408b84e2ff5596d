-- Objects reached again after their finalizer ran (from another finalizer) raise instead of
-- crashing: released tensors and generators.
local dm = require "deepmoon"
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local err = util.err

describe("a generator whose finalizer has run", function ()
  it("raises when used, by its methods and as {generator = g}", function ()
    local saved
    do
      local g = dm.Generator(1)
      setmetatable({}, { __gc = function () saved = g end })
    end
    collectgarbage()
    collectgarbage()
    assert.is_not_nil(saved)
    assert.matches("generator was released", err(saved.initial_seed, saved))
    assert.matches("generator was released", err(saved.manual_seed, saved, 3))
    assert.matches("generator was released", err(saved.get_state, saved))
    assert.are.equal("generator option: generator was released", err(dm.rand, 2, { generator = saved }))
  end)
end)

describe("a size table whose __len is negative", function ()
  it("is an error, never a copy of -1 sizes", function ()
    local neg = setmetatable({}, { __len = function () return -1 end })
    local t = dm.tensor({1})
    assert.are.equal("view: -1 dimensions (at most 8 supported)", err(function () return t:view(neg) end))
    assert.are.equal("reshape: -1 dimensions (at most 8 supported)", err(function () return t:reshape(neg) end))
    assert.matches("dimensions", err(dm.zeros, neg))
    assert.matches("number of sizes %(%-1%)", err(function () return t:expand(neg) end))
    assert.matches("%-1 dims given", err(function () return t:permute(neg) end))
  end)
end)

describe("public functions given the wrong kind of argument", function ()
  it("raise their own message, not Lua's 'attempt to ...'", function ()
    assert.are.equal("Linear.apply: fn must be a function, got number",
      err(function () return dm.nn.Linear(2, 2):apply(5) end))
    assert.are.equal("tostring: expected an options table, got number", err(dm.Tensor.tostring, dm.zeros(2), 5))
    assert.are.equal("shape_str: expected a list of sizes, got number", err(dm.format.shape_str, 5))
    assert.are.equal("default_collate: expected a list of samples, got number", err(dm.data.default_collate, 5))
    local opt = dm.optim.SGD(dm.nn.Linear(2, 2):parameters(), { lr = 0.1 })
    local s = dm.optim.lr_scheduler.StepLR(opt, { step_size = 1 })
    assert.are.equal("StepLR: load_state_dict: 'last_epoch' must be a number, got string",
      err(function () s:load_state_dict({ last_epoch = "x" }) end))
    s:step()
    assert.is_true(math.abs(s:get_last_lr()[1] - 0.01) < 1e-12)   -- state intact: one decay
  end)

  it("read_csv of a directory returns nil and a message", function ()
    local t, msg = dm.data.read_csv("/tmp")
    assert.is_nil(t)
    assert.matches("^read_csv: /tmp: ", msg)
  end)
end)

describe("tensors with no elements", function ()
  it("are contiguous whatever their strides, as in PyTorch", function ()
    assert.is_true(dm.zeros(0, 3):t():is_contiguous())
    assert.is_true(dm.zeros(3, 0):is_contiguous())
  end)

  it("softmax and log_softmax over huge empty shapes return at once", function ()
    local x = dm.zeros(0, 2^40, 2^19)
    assert.are.same({0, 2^40, 2^19}, x:softmax(1):size())
    assert.are.same({0, 2^40, 2^19}, x:log_softmax(2):size())
  end)
end)

describe("integer arguments at the ends of Lua's range", function ()
  it("var and std take any correction exactly (no truncation to a C int)", function ()
    local x = dm.tensor({1.0, 2.0, 3.0, 4.0}, {dtype = dm.float64})
    -- sum of squares about the mean is 5; PyTorch divides by max(0, 4 - correction)
    assert.are.equal(5 / (4 + 2^40), x:var(1, {correction = -2^40}):item())
    assert.are.equal(math.huge, x:var(1, {correction = 2^40}):item())
    assert.are.equal(math.huge, x:std(1, {correction = math.maxinteger}):item())
  end)

  it("class targets and ignore_index at math.mininteger do not overflow", function ()
    local x = dm.randn(2, 3)
    local t = dm.tensor({1, math.mininteger})
    local l = dm.nn.functional.cross_entropy(x, t, {ignore_index = math.mininteger})
    local want = dm.nn.functional.cross_entropy(x:narrow(1, 1, 1), dm.tensor({1}))
    assert.is_true(math.abs(l:item() - want:item()) < 1e-6)
    assert.are.equal("nll_loss: target -9223372036854775808 out of range for 3 classes (class "
      .. "labels are 1-based, 1 to 3)", err(dm.nn.functional.nll_loss, x, t))
  end)
end)

-- Found by the API fuzzer (tests/fuzz/api_fuzz.lua); each was a hang or Lua's own message.
describe("api fuzzer findings", function ()
  it("dm.tensor of a table whose __len is math.maxinteger errors at once (was a hang in C)", function ()
    local huge = setmetatable({}, { __len = function () return math.maxinteger end })
    assert.matches("tensor: ", err(dm.tensor, huge))
    local inner = { 1, setmetatable({}, { __len = function () return math.maxinteger end }) }
    assert.matches("tensor: ", err(dm.tensor, inner))
  end)

  it("no_grad / enable_grad given something not callable name it", function ()
    assert.are.equal("no_grad: expected a function or nothing, got number", err(dm.no_grad, 0.5))
    assert.are.equal("enable_grad: expected a function or nothing, got tensor",
      err(dm.enable_grad, dm.zeros(1)))
    assert.are.equal(3, dm.no_grad(setmetatable({}, { __call = function () return 3 end })))
  end)

  it("Lua-written Tensor methods check their receiver", function ()
    assert.are.equal("tostring: expected a Tensor, got number", err(dm.Tensor.tostring, -1))
    assert.are.equal("tolist: expected a Tensor, got table", err(dm.Tensor.tolist, {}))
    assert.are.equal("size_str: expected a Tensor, got number", err(dm.Tensor.size_str, 2))
    assert.are.equal("[2 x 3]", dm.zeros(2, 3):size_str())
  end)

  it("softmax / log_softmax with a dim that is no integer", function ()
    local x = dm.zeros(2, 3)
    assert.are.equal("softmax: dim must be an integer, got -inf",
      err(dm.nn.functional.softmax, x, -1 / 0))
    assert.are.equal("log_softmax: dim must be an integer, got 1.5",
      err(dm.nn.functional.log_softmax, x, 1.5))
    assert.are.equal(3, dm.nn.functional.softmax(x, 2.0):size(2))
  end)

  it("progress.isatty and Bar:set_description check their argument", function ()
    local progress = dm.progress
    assert.are.equal("isatty: fd must be an integer, got table", err(progress.isatty, {}))
    assert.are.equal("isatty: fd must be an integer, got float", err(progress.isatty, 1 / 0))
    local bar = progress.bar { total = 2, disable = true }
    assert.are.equal("set_description: desc must be a string, got userdata",
      err(bar.set_description, bar, dm.zeros(1)))
  end)
end)

describe("api fuzzer findings: a __len that lies", function ()
  local huge = setmetatable({}, { __len = function () return math.maxinteger end })
  it("format.tensor refuses sizes with that many dimensions", function ()
    assert.are.equal("format.tensor: sizes has 9223372036854775807 dimensions",
      err(dm.format.tensor, huge, {}))
  end)
  it("default_collate of a batch without a sample 1 fails at once (was a hang)", function ()
    assert.are.equal("DataLoader: default collate: samples are nils; expected tensors, numbers, "
      .. "strings or tables of them", err(dm.data.default_collate, huge))
    assert.are.equal("DataLoader: default collate: samples are nils; expected tensors, numbers, "
      .. "strings or tables of them", err(dm.data.default_collate, {}))
  end)
  it("Subset of an index list whose __len lies stops at its first hole (was a long walk)", function ()
    local ds = dm.data.TensorDataset(dm.zeros(4, 2))
    assert.are.equal("Subset: indices[1] is nil, but the list's length is 9223372036854775807",
      err(dm.data.Subset, ds, huge))
    local two = setmetatable({ 2, 3 }, { __len = function () return 1000000000 end })
    assert.are.equal("Subset: indices[3] is nil, but the list's length is 1000000000",
      err(dm.data.Subset, ds, two))
    assert.are.equal(2, #dm.data.Subset(ds, { 2, 3 }))
  end)
  it("a dataset whose length is not a non-negative integer is refused by name (was Lua's format error)", function ()
    local nan = setmetatable({}, { __len = function () return 0 / 0 end })
    assert.truthy(err(dm.data.Subset, nan, { 1 }):find("^Subset: the dataset's length is %-?nan; "
      .. "expected a non%-negative integer$"))
    local neg = setmetatable({}, { __len = function () return -2 end })
    assert.are.equal("DataLoader: the dataset's length is -2; expected a non-negative integer",
      err(dm.data.DataLoader, neg))
  end)
  it("default_collate of a sample that holds itself fails at once (was a hang: endless nesting)", function ()
    local cyc = {}
    cyc[1] = cyc
    assert.are.equal("DataLoader: default collate: samples nest deeper than 32 tables (does a "
      .. "sample hold itself?)", err(dm.data.default_collate, { cyc }))
    local keyed = {}
    keyed.x = keyed
    assert.are.equal("DataLoader: default collate: samples nest deeper than 32 tables (does a "
      .. "sample hold itself?)", err(dm.data.default_collate, { keyed, keyed }))
  end)
  it("one_hot with a num_classes that is no integer, Subset of a released tensor: their own messages", function ()
    assert.are.equal("one_hot: num_classes must be an integer, got 1e+308",
      err(dm.nn.functional.one_hot, dm.tensor({ 1, 2 }), 1e308))
    assert.are.equal("one_hot: num_classes must be an integer, got table",
      err(dm.nn.functional.one_hot, dm.tensor({ 1, 2 }), {}))
    assert.are.equal("one_hot: num_classes must be an integer, got 2.5",
      err(dm.nn.functional.one_hot, dm.tensor({ 1, 2 }), 2.5))
    assert.are.same({ { 0, 1 } }, dm.nn.functional.one_hot(dm.tensor({ 2 }), 2.0):totable())
    local t = dm.zeros(3)
    t:free()
    assert.are.equal("Subset: the dataset is a released tensor", err(dm.data.Subset, t, {}))
  end)
  it("tril/triu with an offset at the integer limits (was signed overflow), diag refuses one", function ()
    local x = dm.arange(1, 13):reshape(1, 3, 4)
    assert.are.same(x:totable(), x:tril(math.maxinteger):totable())
    assert.are.same(dm.zeros(1, 3, 4, { dtype = dm.int64 }):totable(), x:triu(math.maxinteger):totable())
    assert.are.same(dm.zeros(1, 3, 4, { dtype = dm.int64 }):totable(), x:tril(math.mininteger):totable())
    assert.are.same(x:totable(), x:triu(math.mininteger):totable())
    assert.are.same({ { 0, 2, 3, 4 }, { 0, 0, 7, 8 }, { 0, 0, 0, 12 } }, x[1]:triu(1):totable())
    assert.are.equal("diag: offset -9223372036854775808 is out of range for a vector of 2 elements",
      err(dm.diag, dm.tensor({ 1, 2 }), math.mininteger))
    assert.are.equal("diag: offset 9223372036854775807 is out of range for a vector of 2 elements",
      err(dm.diag, dm.tensor({ 1, 2 }), math.maxinteger))
    assert.are.same({ 0 }, { dm.diag(x[1], math.maxinteger):numel() })
  end)
  it("optimizer methods called on something that is not an optimizer say so (was Lua's index error)", function ()
    local hostile = setmetatable({}, { __index = function (_, k) return k end })
    for _, cls in ipairs({ dm.optim.SGD, dm.optim.Adam, dm.optim.AdamW }) do
      assert.are.equal("step: expected an optimizer (call it as opt:step()), got table",
        err(cls.step, hostile))
      assert.are.equal("zero_grad: expected an optimizer (call it as opt:zero_grad()), got table",
        err(cls.zero_grad, cls))
    end
    assert.are.equal("state_dict: expected an optimizer (call it as opt:state_dict()), got number",
      err(dm.optim.SGD.state_dict, 3))
    local p = dm.zeros(2, { requires_grad = true })
    local opt = dm.optim.SGD({ p }, { lr = 0.1 })
    p.grad = dm.ones(2)
    for _, bad in ipairs({ 0.5, setmetatable({}, { __index = function (t) return t end }) }) do
      assert.are.equal("step: closure must be a function that returns the loss, got "
        .. (type(bad) == "number" and "number" or "table"), err(opt.step, opt, bad))
      local adam = dm.optim.AdamW({ p })
      assert.are.equal("step: closure must be a function that returns the loss, got "
        .. (type(bad) == "number" and "number" or "table"), err(adam.step, adam, bad))
    end
    opt:step()
    assert.is_true(math.abs(p[1]:item() + 0.1) < 1e-7 and math.abs(p[2]:item() + 0.1) < 1e-7)
  end)
  it("format.shape_str refuses a list longer than any shape (was a long walk)", function ()
    assert.are.equal("shape_str: a shape has 0 to 64 sizes, got a list of length "
      .. "9223372036854775807", err(dm.format.shape_str, huge))
    assert.are.equal("[2 x 3]", dm.format.shape_str({ 2, 3 }))
    assert.are.equal("[]", dm.format.shape_str({}))
  end)
end)

-- Extreme integers against the shape ops and indexing (review for the API fuzzer's classes):
-- each was signed overflow (UBSan) or an unchecked size; now a clean error or the right result.
describe("api fuzzer findings: extreme counts, offsets and steps", function ()
  local M, m = math.maxinteger, math.mininteger
  local function sizes (list) local s = {} for i, t in ipairs(list) do s[i] = t:size(1) end return s end

  it("repeat/tile check the result's size first (repeats * size overflowed, the copy list too)", function ()
    local x = dm.arange(1, 13):reshape(3, 4)
    assert.are.equal("repeat: 2305843009213693952 repeats of dim 1 of [3 x 4] are too many (the "
      .. "result would have more than 1152921504606846976 elements)", err(x["repeat"], x, 2^61, 1))
    assert.matches("^repeat: 9223372036854775807 repeats of dim 1", err(x["repeat"], x, M, M))
    assert.matches("^repeat: 4611686018427387904 repeats of dim 2", err(x.tile, x, 2^62))
    assert.matches("^repeat: 2147483648 repeats are too many", err(x["repeat"], x, 2^31, 1))
    -- nothing to copy: any number of repeats gives the empty result of PyTorch's shape
    local e = dm.zeros(0, 3)["repeat"](dm.zeros(0, 3), 2^40, 2)
    assert.are.same({ 0, 6 }, e:size())
    assert.are.same({ 0, 2^40 * 4 }, x["repeat"](x, 0, 2^40):size())
    assert.are.same({ 6, 4 }, x["repeat"](x, 2, 1):size())
    local g = dm.zeros(0, 2, { requires_grad = true })
    assert.are.same({ 0, 4 }, g["repeat"](g, 5, 2):size())
  end)

  it("split/chunk with a size or count of math.maxinteger (len + size - 1 overflowed)", function ()
    local x = dm.arange(1, 13):reshape(3, 4)
    assert.are.same({ 3 }, sizes(x:split(M)))
    assert.are.same({ 1, 1, 1 }, sizes(x:chunk(M)))          -- as PyTorch: pieces of 1
    assert.are.same({ 1, 1, 1 }, sizes(x:chunk(3)))
    assert.are.same({ 2, 1 }, sizes(x:split(2)))
    assert.are.equal("split: sizes [9223372036854775807, 9223372036854775807, 2] must be "
      .. "non-negative and sum to 3, the size of dim 1 of [3 x 4]", err(x.split, x, { M, M, 2 }))
    assert.matches("^split: sizes %[%-1, 4%]", err(x.split, x, { -1, 4 }))
    assert.are.same({ 1, 2 }, sizes(x:split({ 1, 2 })))
    local lies = setmetatable({}, { __len = function () return -1 end })
    assert.matches("^split: a list of %-1 sizes", err(x.split, x, lies))
    local many = setmetatable({}, { __len = function () return M end })
    assert.matches("^roll: 9223372036854775807 shifts given", err(x.roll, x, many, 1))
    assert.matches("^flip: 9223372036854775807 dims given", err(x.flip, x, many))
  end)

  it("narrow_copy of a 0-dim tensor with start math.mininteger (start - 1 overflowed)", function ()
    assert.are.equal("narrow_copy: cannot narrow a 0-dim tensor",
      err(dm.narrow_copy, dm.tensor(1), 1, m, 1))
    assert.matches("^narrow_copy: start 9223372036854775807 and length",
      err(dm.narrow_copy, dm.arange(1, 4), 1, M, M))
  end)

  it("a slice with a huge step (start + (len - 1) * step and stride * step overflowed)", function ()
    local x = dm.arange(1, 13):reshape(3, 4)
    assert.are.same({ { 1, 2, 3, 4 } }, x[{ { 1, 1, M } }]:totable())
    assert.are.same({ { 1, 2, 3, 4 } }, x[{ { 1, 3, M } }]:totable())
    assert.are.same({ { 1 }, { 5 }, { 9 } }, x[{ {}, { 1, 4, 2^62 } }]:totable())
    local y = x:clone()
    y[{ { 2, 3, M } }] = 0
    assert.are.same({ { 1, 2, 3, 4 }, { 0, 0, 0, 0 }, { 9, 10, 11, 12 } }, y:totable())
    local g = dm.ones(3, 2, { requires_grad = true })
    g[{ { 2, 3, M } }]:sum():backward()
    assert.are.same({ { 0, 0 }, { 1, 1 }, { 0, 0 } }, g.grad:totable())
  end)

  it("advanced indexing of an expanded tensor checks the result's size (the count overflowed)", function ()
    local e = dm.zeros(1, 1):expand(2^58, 1)
    assert.are.equal("index: size [288230376151711744 x 63] is too large (more than 2^60 elements)",
      err(function () return e[{ {}, dm.ones(63, { dtype = dm.int64 }) }] end))
  end)

  it("bincount of math.maxinteger and one_hot of math.maxinteger (value + 1 overflowed)", function ()
    assert.are.equal("tensor: size [9223372036854775807] is too large (more than 2^60 elements)",
      err(dm.bincount, dm.tensor({ M }, { dtype = dm.int64 })))
    assert.are.equal("tensor: size [4611686018427387904] is too large (more than 2^60 elements)",
      err(dm.bincount, dm.tensor({ 1 }, { dtype = dm.int64 }), nil, 2^62))
    assert.are.same({ 1, 0, 0 }, dm.bincount(dm.tensor({ 1 }, { dtype = dm.int64 }), nil, 3):totable())
    assert.matches("size %[1 x 9223372036854775807%] is too large",
      err(dm.nn.functional.one_hot, dm.tensor({ M }, { dtype = dm.int64 })))
    assert.matches("size %[1 x 4611686018427387904%] is too large",
      err(dm.nn.functional.one_hot, dm.tensor({ 1 }, { dtype = dm.int64 }), 2^62))
  end)

  it("int64 cumsum/cumprod, scatter_add, scatter reduce and index_add wrap (were signed overflow)", function ()
    local I = { dtype = dm.int64 }
    local t = dm.tensor({ M, 1, m, -1 }, I)
    assert.are.same({ M, m, 0, -1 }, t:cumsum(1):totable())
    assert.are.same({ M, M, m, m }, t:cumprod(1):totable())
    local one = dm.tensor({ 1, 1 }, I)
    local two = dm.tensor({ M, M }, I)
    assert.are.same({ M + M + M, M }, two:clone():scatter_add(1, one, two):totable())
    assert.are.same({ M * M * M, M }, two:scatter(1, one, two, { reduce = "multiply" }):totable())
    assert.are.same({ M + M + M, M }, two:scatter(1, one, two, { reduce = "add" }):totable())
    assert.are.same({ M + M + M, M }, two:index_add(1, one, two):totable())
    assert.are.same({ M + 3 * M + 3 * M, M }, two:index_add(1, one, two, { alpha = 3 }):totable())
    assert.are.equal("index_add: alpha 1e+300 must be an integer (within int64's range) for a "
      .. "int64 input", err(two.index_add, two, 1, one, two, { alpha = 1e300 }))
  end)

  it("matmul of expanded batches whose broadcast passes the size limit (the product overflowed)", function ()
    local a = dm.ones(1, 1, 1, 1):expand(2^40, 1, 1, 1)
    local b = dm.ones(1, 1, 1, 1):expand(1, 2^40, 1, 1)
    assert.are.equal("matmul: size [1099511627776 x 1099511627776] is too large (more than 2^60 "
      .. "elements)", err(a.matmul, a, b))
    assert.are.same({ 2, 3, 1, 1 }, dm.ones(2, 1, 1, 1):matmul(dm.ones(1, 3, 1, 1)):size())
  end)

  it("Subset with indices whose __len is 2^63 or NaN (was string.format's own message)", function ()
    local function hl (v) return setmetatable({}, { __len = function () return v end }) end
    assert.are.equal("Subset: the indices' length is 9.2233720368548e+18; expected an integer",
      err(dm.data.Subset, dm.zeros(3, 2), hl(2^63)))
    assert.matches("^Subset: the indices' length is %-?nan; expected an integer$",
      err(dm.data.Subset, dm.zeros(3, 2), hl(0 / 0)))
    assert.are.equal("Subset: indices[1] is nil, but the list's length is 2",
      err(dm.data.Subset, dm.zeros(3, 2), hl(2.0)))
    assert.are.equal(2, #dm.data.Subset(dm.zeros(3, 2), { 3, 1 }))
  end)
end)
