-- deepmoon.data: TensorDataset, Subset, random_split, DataLoader.

local dm = require "deepmoon"
local data = require "deepmoon.data"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

-- x is [n x 2] with rows (2i, 2i + 1), y is 0 .. n-1 (row i of both belongs to sample i + 1)
local function xy (n)
  return dm.arange(2 * n):view(n, 2), dm.arange(n)
end

local function ints (t)
  local v = t:values()
  for i = 1, #v do v[i] = math.tointeger(v[i]) end
  return v
end

describe("TensorDataset", function ()
  it("has a length and gives rows 1-based", function ()
    local x, y = xy(5)
    local ds = data.TensorDataset(x, y)
    assert.are.equal(5, #ds)
    assert.are.equal(5, ds:len())
    local a, b = ds:get(2)
    assert.are.same({ 2, 3 }, a:values())
    assert.are.equal(1, b:item())
    local s = ds[3]
    assert.are.same({ 4, 5 }, s[1]:values())
    assert.are.equal(2, s[2]:item())
    assert.are.same({ 8, 9 }, ds:get(-1):values())
    assert.are.equal(x, ds.tensors[1])
    assert.are.equal("TensorDataset(5 samples: [5 x 2], [5])", tostring(ds))
  end)

  it("rows are views of the tensors", function ()
    local x = dm.zeros(3, 2)
    local ds = data.TensorDataset(x)
    ds:get(2):fill_(7)
    assert.are.same({ 0, 0, 7, 7, 0, 0 }, x:values())
  end)

  local cases = {
    { "TensorDataset: expected at least one tensor", function () return data.TensorDataset() end },
    { "TensorDataset: argument 2 is a number, expected a tensor",
      function () return data.TensorDataset(dm.ones(2), 3) end },
    { "TensorDataset: tensor 1 is 0-dim; each tensor needs a first dim to index",
      function () return data.TensorDataset(dm.tensor(1)) end },
    { "TensorDataset: size mismatch between tensors: tensor 1 is [4 x 2], tensor 2 is [3] (the first dims must be equal)",
      function () return data.TensorDataset(dm.ones(4, 2), dm.ones(3)) end },
    { "TensorDataset: index 5 out of range for a dataset of 4 samples",
      function () return data.TensorDataset(dm.ones(4)):get(5) end },
    { "TensorDataset: index 0 out of range for a dataset of 4 samples",
      function () return data.TensorDataset(dm.ones(4))[0] end },
    { "TensorDataset: index must be an integer, got 1.5",
      function () return data.TensorDataset(dm.ones(4)):get(1.5) end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end

  it("errors point at the caller's line", function ()
    local ds = data.TensorDataset(dm.ones(4))
    local ok, e = pcall(function () local s = ds[9]; return s end)
    assert.is_false(ok)
    assert.truthy(e:match("data_spec%.lua:%d+: TensorDataset: index 9"))
    ok, e = pcall(function () local s = ds:get(9); return s end)
    assert.truthy(e:match("data_spec%.lua:%d+: TensorDataset: index 9"))
  end)
end)

describe("DataLoader", function ()
  it("counts batches with and without drop_last", function ()
    local x, y = xy(10)
    local ds = data.TensorDataset(x, y)
    for _, c in ipairs({ { 3, false, 4, { 3, 3, 3, 1 } }, { 3, true, 3, { 3, 3, 3 } },
                         { 5, false, 2, { 5, 5 } }, { 5, true, 2, { 5, 5 } },
                         { 20, false, 1, { 10 } }, { 20, true, 0, {} }, { 1, false, 10 } }) do
      local loader = data.DataLoader(ds, { batch_size = c[1], drop_last = c[2] })
      assert.are.equal(c[3], #loader)
      local sizes = {}
      for xb, yb in loader do
        sizes[#sizes + 1] = yb:size(1)
        assert.are.equal(yb:size(1), xb:size(1))
      end
      assert.are.equal(c[3], #sizes)
      if c[4] then assert.are.same(c[4], sizes) end
    end
  end)

  it("defaults to batches of 1 in order", function ()
    local x, y = xy(3)
    local got = {}
    for xb, yb in data.DataLoader(data.TensorDataset(x, y)) do
      assert.are.same({ 1, 2 }, xb:size())
      got[#got + 1] = yb:item()
    end
    assert.are.same({ 0, 1, 2 }, got)
  end)

  it("gives batches as copies, in order, without shuffle", function ()
    local x, y = xy(5)
    local loader = data.DataLoader(data.TensorDataset(x, y), { batch_size = 2 })
    local xb, yb = loader:iter()()
    assert.are.same({ 0, 1, 2, 3 }, xb:values())
    assert.are.same({ 0, 1 }, yb:values())
    xb:fill_(-1)
    assert.are.same({ 0, 1, 2, 3 }, x:narrow(1, 1, 2):values())
  end)

  local function epoch (loader)
    local seen = {}
    for _, yb in loader do
      for _, v in ipairs(ints(yb)) do seen[#seen + 1] = v end
    end
    return seen
  end

  it("visits every sample once per epoch, shuffled or not", function ()
    local x, y = xy(23)
    local ds = data.TensorDataset(x, y)
    for _, shuffle in ipairs({ false, true }) do
      local seen = epoch(data.DataLoader(ds, { batch_size = 4, shuffle = shuffle }))
      table.sort(seen)
      assert.are.equal(23, #seen)
      for i = 1, 23 do assert.are.equal(i - 1, seen[i]) end
    end
    -- drop_last: 20 distinct samples
    local seen = epoch(data.DataLoader(ds, { batch_size = 4, shuffle = true, drop_last = true }))
    assert.are.equal(20, #seen)
    local set = {}
    for _, v in ipairs(seen) do assert.is_nil(set[v]); set[v] = true end
  end)

  it("shuffles deterministically under a seeded generator, anew each epoch", function ()
    local x, y = xy(50)
    local ds = data.TensorDataset(x, y)
    local a = data.DataLoader(ds, { batch_size = 8, shuffle = true, generator = dm.Generator(7) })
    local b = data.DataLoader(ds, { batch_size = 8, shuffle = true, generator = dm.Generator(7) })
    local a1, b1 = epoch(a), epoch(b)
    assert.are.same(a1, b1)
    local a2 = epoch(a)
    assert.are.same(a2, epoch(b))
    assert.are_not.same(a1, a2)
    local sorted = {}
    for i = 1, 50 do sorted[i] = i - 1 end
    assert.are_not.same(sorted, a1)
    -- the default generator follows dm.manual_seed
    local c = data.DataLoader(ds, { batch_size = 8, shuffle = true })
    dm.manual_seed(3)
    local c1 = epoch(c)
    dm.manual_seed(3)
    assert.are.same(c1, epoch(c))
  end)

  it("starts a new epoch in each for loop, even after a break", function ()
    local x, y = xy(6)
    local loader = data.DataLoader(data.TensorDataset(x, y), { batch_size = 2 })
    for _, yb in loader do
      assert.are.same({ 0, 1 }, yb:values())
      break
    end
    local firsts = {}
    for _, yb in loader do firsts[#firsts + 1] = yb:values()[1] end
    assert.are.same({ 0, 2, 4 }, firsts)
    -- loader:iter() loops nest
    local pairs_seen = 0
    for _, yo in loader:iter() do
      for _, yi in loader:iter() do
        pairs_seen = pairs_seen + 1
        assert.are.equal(2, yo:size(1) + yi:size(1) - 2)
      end
    end
    assert.are.equal(9, pairs_seen)
    -- loader:batches() numbers them
    local ks = {}
    for k, xb, yb in loader:batches() do
      ks[#ks + 1] = k
      assert.are.equal(2, xb:size(1))
      assert.are.equal((k - 1) * 2, yb:values()[1])
    end
    assert.are.same({ 1, 2, 3 }, ks)
  end)

  it("takes a tensor as a dataset, and batch_size, shuffle positionally", function ()
    local x = dm.arange(7)
    local n = 0
    for xb, extra in data.DataLoader(x, 3) do
      assert.is_nil(extra)
      assert.are.equal(1, xb:dim())
      n = n + 1
    end
    assert.are.equal(3, n)
    local l = data.DataLoader(x, 2, true, { drop_last = true })
    assert.are.equal(3, #l)
    assert.is_true(l.shuffle)
    assert.are.equal("DataLoader(3 batches of 2, shuffled, drop_last)", tostring(l))
  end)

  it("loads a user dataset: get with several values, numbers collated to a 1-D tensor", function ()
    local Squares = {}
    Squares.__index = Squares
    Squares.__len = function (self) return self.n end
    function Squares:get (i) return dm.tensor({ i, i * i }), i % 2 end
    local ds = setmetatable({ n = 5 }, Squares)
    local batches = {}
    for xb, yb in data.DataLoader(ds, { batch_size = 2 }) do batches[#batches + 1] = { xb, yb } end
    assert.are.equal(3, #batches)
    assert.are.same({ 2, 2 }, batches[1][1]:size())
    assert.are.same({ 1, 1, 2, 4 }, batches[1][1]:values())
    assert.are.same({ 1, 0 }, batches[1][2]:values())
    assert.are.same({ 1, 2 }, batches[3][1]:size())
    assert.are.same({ 1 }, batches[3][2]:values())
  end)

  it("loads a user dataset with a len method and an indexer giving tables", function ()
    local ds = setmetatable({}, { __index = function (_, k)
      if k == "len" then return function () return 4 end end
      if type(k) == "number" then return { x = dm.full({ 3 }, k), y = k * 10, name = "s" .. k } end
    end })
    local got = {}
    for b in data.DataLoader(ds, { batch_size = 3 }) do got[#got + 1] = b end
    assert.are.equal(2, #got)
    assert.are.same({ 3, 3 }, got[1].x:size())
    assert.are.same({ 10, 20, 30 }, got[1].y:values())
    assert.are.same({ "s1", "s2", "s3" }, got[1].name)
    assert.are.same({ "s4" }, got[2].name)
  end)

  it("loads a plain list of {x, y} samples, nested lists field by field", function ()
    local list = {}
    for i = 1, 5 do list[i] = { dm.full({ 2 }, i), i, { i, -i } } end
    local loader = data.DataLoader(list, { batch_size = 5 })
    local xb, yb, zb = loader:iter()()
    assert.are.same({ 5, 2 }, xb:size())
    assert.are.same({ 1, 2, 3, 4, 5 }, yb:values())
    assert.are.same({ 1, 2, 3, 4, 5 }, zb[1]:values())
    assert.are.same({ -1, -2, -3, -4, -5 }, zb[2]:values())
    assert.are.equal(1, #data.DataLoader({ 1, 2, 3 }, 4))
    assert.are.same({ 1, 2, 3 }, data.DataLoader({ 1, 2, 3 }, 4):iter()():values())
    assert.are.equal(dm.int64, data.DataLoader({ 1, 2, 3 }, 4):iter()().dtype)
    assert.are.equal(dm.float32, data.DataLoader({ 1, 2.5 }, 4):iter()().dtype)
    local bools = data.DataLoader({ true, false }, 2):iter()()
    assert.are.equal(dm.bool, bools.dtype)
    assert.are.same({ 1, 0 }, bools:long():values())
  end)

  it("passes the list of samples to collate_fn and yields what it returns", function ()
    local x, y = xy(4)
    local ds = data.TensorDataset(x, y)
    local calls = {}
    local loader = data.DataLoader(ds, { batch_size = 3, collate_fn = function (samples)
      calls[#calls + 1] = #samples
      assert.is_table(samples[1])                -- a sample of two values is a list
      assert.is_true(dm.is_tensor(samples[1][1]))
      local s = 0
      for _, smp in ipairs(samples) do s = s + smp[2]:item() end
      return { s, #samples }                     -- a plain list is spread
    end })
    local got = {}
    for s, n in loader do got[#got + 1] = { s, n } end
    assert.are.same({ { 3, 3 }, { 3, 1 } }, got)
    assert.are.same({ 3, 1 }, calls)
    -- several return values pass through; a single-value sample is the value itself
    local l2 = data.DataLoader(data.TensorDataset(y), { batch_size = 2, collate_fn = function (samples)
      assert.is_true(dm.is_tensor(samples[1]))
      return "batch", #samples
    end })
    local a, b = l2:iter()()
    assert.are.equal("batch", a)
    assert.are.equal(2, b)
  end)

  it("exposes default_collate", function ()
    local a, b = data.default_collate({ { dm.ones(2), 1 }, { dm.zeros(2), 2 } })
    assert.are.same({ 1, 1, 0, 0 }, a:values())
    assert.are.same({ 1, 2 }, b:values())
  end)

  it("gives the same batches whole-epoch, batch by batch, and sample by sample", function ()
    local x, y = xy(11)
    local ds = data.TensorDataset(x, y)
    for _, d in ipairs({ ds, data.Subset(ds, { 11, 3, 5, 7, 1, 2, 9, 4 }) }) do
      for _, shuffle in ipairs({ false, true }) do
        local function loader (o)
          o.batch_size, o.shuffle, o.generator = 3, shuffle, dm.Generator(1)
          return data.DataLoader(d, o)
        end
        local whole = loader({})                    -- small: the epoch is gathered at once
        local per_batch = loader({})
        per_batch._gather_limit = 0                 -- one index_select per tensor and batch
        local slow = loader({ collate_fn = data.default_collate })
        local it1, it2 = per_batch:iter(), slow:iter()
        local n = 0
        for xb, yb in whole do
          local x1, y1 = it1()
          local x2, y2 = it2()
          assert.are.same(x1:values(), xb:values())
          assert.are.same(y1:values(), yb:values())
          assert.are.same(x2:values(), xb:values())
          assert.are.same(y2:values(), yb:values())
          n = n + 1
        end
        assert.are.equal(#whole, n)
        assert.is_nil(it1())
        assert.is_nil(it2())
      end
    end
  end)

  it("uses a user dataset's get_batch with the batch's 1-based indices", function ()
    local seen = {}
    local ds = setmetatable({}, { __len = function () return 5 end, __index = {
      get_batch = function (_, idx) seen[#seen + 1] = ints(idx); return idx * 10 end,
      get = function () error("not used") end } })
    local got = {}
    for b in data.DataLoader(ds, { batch_size = 2 }) do got[#got + 1] = b:values() end
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5 } }, seen)
    assert.are.same({ { 10, 20 }, { 30, 40 }, { 50 } }, got)
  end)

  local function W () return data.TensorDataset(dm.ones(4)) end
  local cases = {
    { "DataLoader: unknown option 'batchsize'", function () return data.DataLoader(W(), { batchsize = 3 }) end },
    { "DataLoader: batch_size must be a positive integer, got 0", function () return data.DataLoader(W(), 0) end },
    { "DataLoader: batch_size must be a positive integer, got 2.5",
      function () return data.DataLoader(W(), { batch_size = 2.5 }) end },
    { "DataLoader: batch_size must be a positive integer, got string",
      function () return data.DataLoader(W(), { batch_size = "8" }) end },
    { "DataLoader: option 'shuffle' must be a boolean, got number",
      function () return data.DataLoader(W(), { shuffle = 1 }) end },
    { "DataLoader: option 'generator' must be a deepmoon.Generator, got number",
      function () return data.DataLoader(W(), { generator = 42 }) end },
    { "DataLoader: option 'collate_fn' must be a function, got string",
      function () return data.DataLoader(W(), { collate_fn = "stack" }) end },
    { "DataLoader: expected a dataset, got nil", function () return data.DataLoader(nil) end },
    { "DataLoader: a 0-dim tensor is not a dataset", function () return data.DataLoader(dm.tensor(3)) end },
    { "DataLoader: the dataset has no length: give it a len method or a __len metamethod (got table)",
      function () return data.DataLoader(setmetatable({}, { __index = function () end })) end },
    { "DataLoader: option 'batch_size' given twice",
      function () return data.DataLoader(W(), 2, { batch_size = 3 }) end },
    { "DataLoader: too many arguments (batch_size and shuffle may come before the options table)",
      function () return data.DataLoader(W(), 2, true, false) end },
    { "DataLoader: sample 3 of the dataset is nil",
      function () for _ in data.DataLoader(setmetatable({ 1, 2 }, { __len = function () return 3 end }), 3) do end end },
    { "DataLoader: default collate: sample 2 is a string, sample 1 is a number",
      function () for _ in data.DataLoader({ 1, "a" }, 2) do end end },
    { "DataLoader: default collate: sample 2 has size [3], sample 1 has size [2]",
      function () for _ in data.DataLoader({ dm.ones(2), dm.ones(3) }, 2) do end end },
    { "DataLoader: default collate: sample 2 has 1 fields, sample 1 has 2",
      function () for _ in data.DataLoader({ { 1, 2 }, { 3 } }, 2) do end end },
    { "DataLoader: default collate: field 2: sample 2 is a string, sample 1 is a number",
      function () for _ in data.DataLoader({ { 1, 2 }, { 3, "x" } }, 2) do end end },
    { "DataLoader: default collate: sample 2 has no field 'y'",
      function () for _ in data.DataLoader({ { x = 1, y = 2 }, { x = 3 } }, 2) do end end },
    { "DataLoader: default collate: samples are functions; expected tensors, numbers, strings or tables of them",
      function () for _ in data.DataLoader({ print, print }, 2) do end end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end

  it("errors point at the caller's line, also from inside a for loop", function ()
    local ok, e = pcall(function () local l = data.DataLoader({}, { batchsize = 1 }); return l end)
    assert.is_false(ok)
    assert.truthy(e:match("data_spec%.lua:%d+: DataLoader: unknown option"))
    ok, e = pcall(function ()
      for _ in data.DataLoader({ 1, "a" }, 2) do end
    end)
    assert.truthy(e:match("data_spec%.lua:%d+: DataLoader: default collate"))
    ok, e = pcall(function ()
      for _ in data.DataLoader({ 1, "a" }, 2):iter() do end
    end)
    assert.truthy(e:match("data_spec%.lua:%d+: DataLoader: default collate"))
  end)
end)

describe("Subset and random_split", function ()
  it("Subset maps indices into the dataset", function ()
    local x, y = xy(6)
    local ds = data.TensorDataset(x, y)
    local sub = data.Subset(ds, { 6, 2, 4 })
    assert.are.equal(3, #sub)
    local a, b = sub:get(1)
    assert.are.same({ 10, 11 }, a:values())
    assert.are.equal(5, b:item())
    assert.are.equal(1, sub[2][2]:item())
    local got = {}
    for _, yb in data.DataLoader(sub, 2) do
      for _, v in ipairs(ints(yb)) do got[#got + 1] = v end
    end
    assert.are.same({ 5, 1, 3 }, got)
    -- over a list dataset too
    local ls = data.Subset({ "a", "b", "c" }, dm.tensor({ 3, 1 }))
    assert.are.equal("c", ls[1])
    assert.are.equal("a", ls:get(2))
    assert.is_nil(ls.get_batch)
    assert.are.equal("Subset: indices[2] = 7 is not an index of a dataset of 3 samples",
                     err(function () return data.Subset({ 1, 2, 3 }, { 1, 7 }) end))
    assert.are.equal("Subset: index 4 out of range for a dataset of 3 samples",
                     err(function () return sub:get(4) end))
  end)

  it("splits into disjoint subsets of the given sizes covering the dataset", function ()
    local x, y = xy(20)
    local ds = data.TensorDataset(x, y)
    local a, b, c = data.random_split(ds, { 10, 7, 3 }, { generator = dm.Generator(5) })
    assert.are.same({ 10, 7, 3 }, { #a, #b, #c })
    local seen = {}
    for _, s in ipairs({ a, b, c }) do
      assert.are.equal(ds, s.dataset)
      for _, i in ipairs(s.indices) do
        assert.is_nil(seen[i])
        seen[i] = true
      end
    end
    for i = 1, 20 do assert.is_true(seen[i]) end
    -- the same generator seed gives the same split; the generator may come directly
    local a2 = data.random_split(ds, { 10, 7, 3 }, dm.Generator(5))
    assert.are.same(a.indices, a2.indices)
  end)

  it("takes fractions as PyTorch 1.13 does", function ()
    local function sizes (n, fr)
      local r = { data.random_split(dm.arange(n), fr) }
      local s = {}
      for i, sub in ipairs(r) do s[i] = #sub end
      return s
    end
    assert.are.same({ 4, 3, 3 }, sizes(10, { 0.33, 0.33, 0.34 }))
    assert.are.same({ 4, 3 }, sizes(7, { 0.5, 0.5 }))
    assert.are.same({ 80, 20 }, sizes(100, { 0.8, 0.2 }))
    assert.are.same({ 1, 1, 1, 0 }, sizes(3, { 0.25, 0.25, 0.25, 0.25 }))
    assert.are.same({ 3, 0 }, sizes(3, { 1, 0 }))
  end)

  local cases = {
    { "random_split: sum of input lengths (9) does not equal the length of the input dataset (10)",
      function () return data.random_split(dm.arange(10), { 5, 4 }) end },
    { "random_split: lengths[2] = 1.5 is neither a non-negative count nor a fraction",
      function () return data.random_split(dm.arange(10), { 5, 1.5 }) end },
    { "random_split: fraction at index 2 is not between 0 and 1",
      function () return data.random_split(dm.arange(10), { 0.5, -0.5, 1 }) end },
    { "random_split: lengths must be a list of numbers, got number",
      function () return data.random_split(dm.arange(10), 5) end },
    { "random_split: lengths[1] is a string, expected a number",
      function () return data.random_split(dm.arange(10), { "5", 5 }) end },
    { "random_split: unknown option 'seed'",
      function () return data.random_split(dm.arange(10), { 5, 5 }, { seed = 1 }) end },
    { "random_split: option 'generator' must be a deepmoon.Generator, got number",
      function () return data.random_split(dm.arange(10), { 5, 5 }, { generator = 1 }) end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end
end)

describe("deepmoon.data", function ()
  it("is dm.data and adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    for _, m in ipairs({ "deepmoon.data", "deepmoon.data.dataset", "deepmoon.data.dataloader" }) do
      package.loaded[m] = nil
    end
    local d = require "deepmoon.data"
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    assert.is_table(d.DataLoader)
    assert.is_table(dm.data.TensorDataset)
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
