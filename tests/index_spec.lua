-- Indexing in Lua syntax (t[i], t[{i, j}], ranges, steps, int64 and bool tensor indices),
-- assignment through the same forms, index_put, masked_fill, masked_select, nonzero, where,
-- and the errors ports hit (missing members and names, Sequential[0], a no_grad never
-- closed).  Values and gradients against PyTorch 1.13 from tests/fixtures/index_cases.lua
-- (regenerate with /usr/bin/python3 tests/fixtures/gen_index.py).

local dm = require "deepmoon"
local nn = dm.nn

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local fixture = dofile(script_dir() .. "fixtures/index_cases.lua")
local F64 = { dtype = dm.float64 }
local I64 = { dtype = dm.int64 }

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function T (values, shape) return dm.tensor(values, F64):view(shape) end
local function idx (values) return dm.tensor(values, I64) end

-- the same values in a non-contiguous tensor (stored transposed)
local function noncontig (values, shape)
  local n = #shape
  if n < 2 then
    return dm.tensor(values, F64):view(shape):expand(2, table.unpack(shape))[2]
  end
  local perm = {}
  for d = 1, n do perm[d] = n + 1 - d end
  local t = T(values, shape):permute(perm):contiguous():permute(perm)
  assert(not t:is_contiguous())
  return t
end

local function weights (shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return dm.arange(n, F64):mul(0.25):add(1):view(shape)
end

local function assert_values (want, t, what)
  local got = t:values()
  assert.are.equal(#want, #got, what .. ": element count")
  for i = 1, #want do
    local w = want[i]
    if type(w) == "boolean" then w = w and 1 or 0 end
    local g = got[i]
    if type(g) == "boolean" then g = g and 1 or 0 end
    if math.abs(g - w) > 1e-12 then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, g, w), 2)
    end
  end
end

local function assert_shape (want, t, what)
  assert.are.same(want, t:size(), what .. ": shape")
end

-- the fixture's key as deepmoon's
local function slot (s)
  local k = s[1]
  if k == "n" then return s[2] end
  if k == "r" then return { table.unpack(s, 2) } end
  if k == "i" then return idx(s[2]):view(s[3]) end
  if k == "m" then return dm.tensor(s[2]):view(s[3]) end
  error("bad slot " .. tostring(k))
end
local function key (c)
  if c.bare then return slot(c.key) end
  local out = {}
  for i, s in ipairs(c.key) do out[i] = slot(s) end
  return out
end

describe("indexing against PyTorch", function ()
  for _, c in ipairs(fixture.cases) do
    if c.kind == "read" then
      it("reads " .. c.name .. ", its gradient and on a non-contiguous input", function ()
        local x = T(c.x, c.shape):requires_grad_()
        local y = x[key(c)]
        assert_shape(c.yshape, y, c.name)
        assert_values(c.y, y, c.name)
        assert.are.equal(dm.float64, y.dtype)
        local w = weights(c.yshape)
        ;(y * w):sum():backward()
        assert_values(c.gx, x.grad, c.name .. " grad")
        local yn = noncontig(c.x, c.shape)[key(c)]
        assert_values(c.y, yn, c.name .. " (non-contiguous)")
      end)
    elseif c.kind == "write" then
      it("writes " .. c.name .. ", its gradients and on a non-contiguous input", function ()
        local v = c.vshape and T(c.value, c.vshape) or c.value
        -- the assignment, in place, without grad
        local x = T(c.x, c.shape)
        x[key(c)] = v
        assert_values(c.y, x, c.name)
        local xn = noncontig(c.x, c.shape)
        xn[key(c)] = v
        assert_values(c.y, xn, c.name .. " (non-contiguous)")
        -- the op it commits, with gradients to the tensor and the value
        local xg = T(c.x, c.shape):requires_grad_()
        local vg = c.vshape and T(c.value, c.vshape):requires_grad_() or c.value
        local y = dm._index_put_key(xg, key(c), vg)
        assert.are.equal("IndexPutBackward0", y.grad_fn)
        assert_values(c.y, y, c.name .. " (op)")
        ;(y * weights(c.yshape)):sum():backward()
        assert_values(c.gx, xg.grad, c.name .. " grad of the tensor")
        if c.vshape then assert_values(c.gv, vg.grad, c.name .. " grad of the value") end
      end)
    else
      it(c.name .. " (index_put, its gradients, index_put_)", function ()
        local x = T(c.x, c.shape):requires_grad_()
        local v = T(c.value, c.vshape):requires_grad_()
        local ix = {}
        for i, s in ipairs(c.key) do ix[i] = slot(s) end
        local y = x:index_put(ix, v, c.accumulate)
        assert_values(c.y, y, c.name)
        ;(y * weights(c.yshape)):sum():backward()
        assert_values(c.gx, x.grad, c.name .. " grad of the tensor")
        assert_values(c.gv, v.grad, c.name .. " grad of the value")
        local z = noncontig(c.x, c.shape)
        assert.are.equal(z, z:index_put_(ix, T(c.value, c.vshape), c.accumulate))
        assert_values(c.y, z, c.name .. " in place, non-contiguous")
      end)
    end
  end

  it("masked_fill, masked_select and nonzero as PyTorch", function ()
    for _, c in ipairs(fixture.masked_fill) do
      local x = T(c.x, c.shape):requires_grad_()
      local y = x:masked_fill(dm.tensor(c.mask):view(c.mshape), c.value)
      assert.are.equal("MaskedFillBackward0", y.grad_fn)
      assert_values(c.y, y, "masked_fill")
      ;(y * weights(c.yshape)):sum():backward()
      assert_values(c.gx, x.grad, "masked_fill grad")
      local z = noncontig(c.x, c.shape)
      z:masked_fill_(dm.tensor(c.mask):view(c.mshape), c.value)
      assert_values(c.y, z, "masked_fill_ non-contiguous")
    end
    for _, c in ipairs(fixture.masked_select) do
      local x = T(c.x, c.shape):requires_grad_()
      local y = x:masked_select(dm.tensor(c.mask):view(c.mshape))
      assert_shape(c.yshape, y, "masked_select")
      assert_values(c.y, y, "masked_select")
      ;(y * weights(c.yshape)):sum():backward()
      assert_values(c.gx, x.grad, "masked_select grad")
      assert_values(c.y, noncontig(c.x, c.shape):masked_select(dm.tensor(c.mask):view(c.mshape)),
                    "masked_select non-contiguous")
    end
    for _, c in ipairs(fixture.nonzero) do
      local n = T(c.x, c.shape):nonzero()
      assert.are.equal(dm.int64, n.dtype)
      assert_shape(c.yshape, n, "nonzero")
      assert_values(c.y, n, "nonzero")
      assert_values(c.y, noncontig(c.x, c.shape):nonzero(), "nonzero non-contiguous")
    end
  end)
end)

describe("indexing", function ()
  local function grid () return dm.arange(12):view(3, 4) end

  it("gives views that share storage for numbers and ranges, copies for tensors", function ()
    local t = grid()
    for _, k in ipairs { 2, -1, { 2, 3 }, { {}, 2 }, { { 1, 3, 2 }, { 2 } }, { {}, { 1, -1, 3 } } } do
      assert.are.equal(t:storage_id(), t[k]:storage_id())
    end
    local v = t[{ {}, { 1, 4, 2 } }]
    v:fill_(-1)
    assert.are.same({ { -1, 1, -1, 3 }, { -1, 5, -1, 7 }, { -1, 9, -1, 11 } }, t:totable())
    assert.are_not.equal(t:storage_id(), t[t:gt(5)]:storage_id())
    assert.are_not.equal(t:storage_id(), t[idx({ 1 })]:storage_id())
  end)

  it("gives a 0-dim tensor when every dim is given, get and item give numbers", function ()
    local t = grid()
    local s = t[{ 2, 3 }]
    assert.are.same({}, s:size())
    assert.are.equal(6, s:item())
    assert.are.equal(6, t:get(2, 3))
    local x = dm.tensor({ { 1.0, 2.0 } }):requires_grad_()
    local y = x[{ 1, 2 }] * 3
    y:backward()
    assert.are.same({ { 0, 3 } }, x.grad:totable())
    assert.are.equal("SelectBackward0", x[{ 1, 2 }].grad_fn)
    assert.are.equal("SliceBackward0", x[{ {}, { 1, 2, 2 } }].grad_fn)
    assert.are.equal("IndexBackward0", x[{ {}, idx({ 2, 2 }) }].grad_fn)
  end)

  it("takes {a}, {a, b}, {} and steps, negative from the end", function ()
    local t = grid()
    assert.are.same({ { 4, 5, 6, 7 } }, t[{ { 2 } }]:totable())
    assert.are.same({ { 8, 9, 10, 11 } }, t[{ { -1, -1 } }]:totable())
    assert.are.same({ 1, 3 }, t[{ 1, { 2, 4, 2 } }]:totable())
    assert.are.same({ 0, 8 }, t[{ { 1, 3, 2 }, 1 }]:totable())
    assert.are.same({ 3, 3 }, t[{ {}, { 2, -1 } }]:size())
    assert.are.same({ 0, 4 }, t[{ { 2, 1 } }]:size())    -- empty: b = a - 1
    local all = t[{}]
    assert.are.equal(t:storage_id(), all:storage_id())
    assert.are.same(t:totable(), t[{ {}, {} }]:totable())
    assert.are.same(t:totable(), all:totable())
  end)

  it("mixes index tensors with numbers and ranges as PyTorch", function ()
    local x = dm.arange(60):view(3, 4, 5)
    assert.are.same({ 4, 2 }, x[{ 1, {}, idx({ 1, 3 }) }]:size())        -- the number first
    assert.are.same({ 2, 4 }, x[{ idx({ 1, 3 }), {}, idx({ 2, 2 }) }]:size())
    assert.are.same({ 3, 2 }, x[{ {}, idx({ 1, 3 }), idx({ 2, 2 }) }]:size())
    assert.are.same({ 2, 2, 3, 5 }, x[{ idx({ 1, 3, 2, 1 }):view(2, 2), { 1, 3 } }]:size())
    assert.are.same({ 2, 3 }, x[{ idx({ 1, 3 }):view(2, 1), 2, idx({ 1, 2, 3 }) }]:size())
    assert.are.same({ 2, 5 }, x[{ 2, dm.tensor({ true, false, true, false }) }]:size())
  end)

  it("assigns numbers, booleans and broadcast tensors through every form", function ()
    local t = grid()
    t[{ {}, 2 }] = 0
    assert.are.same({ 0, 0, 0 }, t[{ {}, 2 }]:totable())
    t[1] = dm.tensor({ 9, 8, 7, 6 })
    assert.are.same({ 9, 8, 7, 6 }, t[1]:totable())
    t[-1] = dm.tensor({ 1 })
    assert.are.same({ 1, 1, 1, 1 }, t[3]:totable())
    t[t:eq(1)] = 5
    assert.are.same({ 5, 5, 5, 5 }, t[3]:totable())
    t[{ 2, { 1, 4, 3 } }] = dm.tensor({ -1, -2 })
    assert.are.same({ -1, 0, 6, -2 }, t[2]:totable())
    t[idx({ 1, 3 })] = 2
    assert.are.same({ { 2, 2, 2, 2 }, { -1, 0, 6, -2 }, { 2, 2, 2, 2 } }, t:totable())
    t[{ {}, idx({ 4 }) }] = dm.tensor({ { 1 }, { 2 }, { 3 } })
    assert.are.same({ 1, 2, 3 }, t[{ {}, 4 }]:totable())
    local b = dm.zeros(3):bool()
    b[2] = true
    assert.are.same({ false, true, false }, b:totable())
    local f = dm.zeros(2, 2)
    f[{ 1, 2 }] = 2.5
    f[dm.tensor({ { false, false }, { true, false } })] = dm.tensor({ 7 }, F64)   -- converted
    assert.are.same({ { 0, 2.5 }, { 7, 0 } }, f:totable())
  end)

  it("accumulates repeated indices with index_put_(..., true)", function ()
    local z = dm.zeros(4)
    z:index_put_({ idx({ 1, 1, -1, 1 }) }, dm.tensor({ 1, 2, 3, 4 }), true)
    assert.are.same({ 7, 0, 0, 3 }, z:totable())
    local w = dm.zeros(2, 2)
    w:index_put_({ idx({ 2, 2 }), idx({ 1, 1 }) }, dm.tensor({ 1.5 }), true)
    assert.are.same({ { 0, 0 }, { 3, 0 } }, w:totable())
  end)

  it("refuses to write into a leaf that requires grad, as PyTorch", function ()
    local x = dm.zeros(2, 2):requires_grad_()
    assert.has_error(function () x[1] = 1 end,
      "index_put_: a leaf Variable that requires grad is being used in an in-place operation.")
    dm.no_grad(function () x[1] = 1 end)
    assert.are.same({ { 1, 1 }, { 0, 0 } }, x:totable())
  end)

  it("has nonzero {as_tuple = true} and dm.where(cond), 1-based", function ()
    local m = dm.tensor({ { 0, 1 }, { 2, 0 }, { 3, 4 } })
    assert.are.same({ { 1, 2 }, { 2, 1 }, { 3, 1 }, { 3, 2 } }, m:nonzero():totable())
    local r, c = m:nonzero({ as_tuple = true })
    assert.are.same({ 1, 2, 3, 3 }, r:totable())
    assert.are.same({ 2, 1, 1, 2 }, c:totable())
    local r2, c2 = dm.where(m:gt(0))
    assert.are.same(r:totable(), r2:totable())
    assert.are.same(c:totable(), c2:totable())
    assert.are.same({ 1, 0 }, dm.where(dm.tensor({ true, false }), 1, 0):totable())
    assert.are.same({ 3, 4 }, m[{ dm.where(m:gt(2)) }]:totable())    -- the tuple indexes back
    assert.are.same({ 0, 1 }, dm.zeros(0):nonzero():size())
    assert.has_error(function () m:nonzero({ astuple = true }) end, "nonzero: unknown option 'astuple'")
  end)

  it("names the index, the dim and the shape in every error", function ()
    local t = grid()
    local cases = {
      { function () return t[5] end, "index: index 5 is out of range for dim 1 of size [3 x 4]" },
      { function () return t[-4] end, "index: index -4 is out of range for dim 1 of size [3 x 4]" },
      { function () return t[0] end, "index: index 0 is invalid (indices are 1-based)" },
      { function () return t[{ 1, 5 }] end, "index: index 5 is out of range for dim 2 of size [3 x 4]" },
      { function () return t[{ {}, { 2, 7 } }] end, "index: index 7 is out of range for dim 2 of size [3 x 4]" },
      { function () return t[{ { 3, 1 } }] end, "index: range {3, 1} ends before it starts in dim 1 of size [3 x 4]" },
      { function () return t[{ { 1, 3, 0 } }] end, "index: a range's step must be positive, got 0" },
      { function () return t[{ { 1, 2, 3, 4 } }] end, "index: a range has at most 3 entries {first, last, step}, got 4" },
      { function () return t[{ 1, 2, 3 }] end, "index: too many indices for a tensor of size [3 x 4] (3 given)" },
      { function () return t[{ 1.5 }] end, "index: an index must be an integer, got number" },
      { function () return t[{ "a" }] end, "index: entry 1 of the index: expected a number, a range table or a tensor, got string" },
      { function () return t[true] end, "index: expected a number, a table or a tensor as index, got boolean" },
      { function () return t[idx({ 4 })] end, "index: index 4 is out of range for dim 1 of size [3 x 4]" },
      { function () return t[{ {}, idx({ 1, -5 }) }] end, "index: index -5 is out of range for dim 2 of size [3 x 4]" },
      { function () return t[idx({ 0 })] end, "index: index 0 is invalid (indices are 1-based)" },
      { function () return t[dm.tensor({ 1.0 })] end, "index: tensors used as indices must be int64 or bool, got float32" },
      { function () return t[dm.tensor({ true, false })] end, "index: mask [2] does not match the size [3 x 4] of the tensor at dim 1" },
      { function () return t[{ idx({ 1, 2 }), idx({ 1, 2, 3 }) }] end, "index: shape mismatch: indexing tensors could not be broadcast together with shapes [2], [3]" },
      { function () return dm.tensor(1)[1] end, "index: cannot index a 0-dim tensor" },
      { function () t[{ 1 }] = dm.ones(5) end, "index_put_: shape mismatch: value tensor of shape [5] cannot be broadcast to indexing result of shape [4]" },
      { function () t[9] = 1 end, "index: index 9 is out of range for dim 1 of size [3 x 4]" },
      { function () t[1] = "x" end, "bad argument #3 to 'newindex' (deepmoon.Tensor or number expected, got string)" },
      { function () return t:masked_fill(t:gt(1):float(), 0) end, "masked_fill: expected a bool mask, got float32 (compare with a value, e.g. x:gt(0))" },
      { function () return t:masked_fill(dm.tensor({ true, false }), 0) end, "masked_fill: shapes [3 x 4] and [2] cannot be broadcast (dim 2: 4 vs 2)" },
      { function () return t:masked_select(t) end, "masked_select: expected a bool mask, got int64 (compare with a value, e.g. x:gt(0))" },
      { function () t:masked_fill_(dm.ones(2, 3, 4):bool(), 0) end, "masked_fill_: the result's shape [2 x 3 x 4] differs from the destination's [3 x 4]" },
      { function () t:index_put_({ idx({ 4 }) }, dm.tensor({ 1 })) end, "index: index 4 is out of range for dim 1 of size [3 x 4]" },
      { function () t:index_put_({ idx({ 1 }), 2 }, dm.tensor({ 1 })) end, "index_put_: indices[2] must be an int64 or bool tensor or {}, got number" },
      { function () return t:index_put({ {}, {}, {} }, dm.tensor({ 1 })) end, "index_put: too many indices (3) for a tensor with 2 dims" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, c[2])
      assert.are.equal(c[2], (tostring(err):gsub("^[^:]*:%d+: ", "")))
    end
  end)

  it("raises for a member a Tensor lacks and keeps its fields", function ()
    local t = dm.zeros(2, 3):requires_grad_()
    assert.has_error(function () return t.foo end, "deepmoon.Tensor has no member 'foo'")
    assert.has_error(function () t:foo() end, "deepmoon.Tensor has no member 'foo'")
    assert.has_error(function () return t.shpe end, "deepmoon.Tensor has no member 'shpe'")
    assert.is_nil(t.grad)
    assert.is_nil(t.grad_fn)
    assert.is_true(t.requires_grad)
    assert.is_true(t.is_leaf)
    assert.are.equal(dm.float32, t.dtype)
    assert.are.equal("cpu", t.device)
    assert.are.same({ 2, 3 }, t.shape)
    assert.are.equal(2, t.ndim)
    assert.are.same({ 3, 2 }, t.T:size())
    assert.is_false(t.data.requires_grad)
    assert.is_false(t.is_cuda)
  end)

  it("raises for a name dm, nn or nn.functional lacks; module fields stay plain", function ()
    assert.has_error(function () return dm.foo end, "deepmoon has no dm.foo")
    assert.has_error(function () return nn.Conv3d end, "deepmoon has no nn.Conv3d")
    assert.has_error(function () return nn.functional.foo end, "deepmoon has no nn.functional.foo")
    assert.has_error(function () return nn.F.foo end, "deepmoon has no nn.functional.foo")
    assert.is_nil(rawget(dm, "foo"))
    assert.is_nil(nn.Linear(2, 3, false).bias)
    local m = nn.Linear(2, 3)
    assert.is_nil(m.not_a_field)
  end)

  it("raises for Sequential[0] and past the end; ipairs still stops at the end", function ()
    local m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert.has_error(function () return m[0] end, "Sequential: index 0 out of range (1 to 2)")
    assert.has_error(function () return m[3] end, "Sequential: index 3 out of range (1 to 2)")
    assert.has_error(function () return m[-3] end, "Sequential: index -3 out of range (1 to 2)")
    assert.are.equal(m[2], m[-1])
    local n = 0
    for _ in ipairs(m) do n = n + 1 end
    assert.are.equal(2, n)
  end)

  it("restores grad mode and warns when a no_grad guard is never closed", function ()
    local saved, said = dm._warn, {}
    dm._warn = function (msg) said[#said + 1] = msg end
    local function forget (f) f() end            -- the guard becomes garbage at once
    forget(function () dm.no_grad() end)
    assert.is_false(dm.is_grad_enabled())
    collectgarbage()
    collectgarbage()
    assert.is_true(dm.is_grad_enabled())
    assert.are.equal(1, #said)
    assert.are.equal("deepmoon: the guard of dm.no_grad() was never closed, so grad mode "
      .. "stayed changed until it was collected; write dm.no_grad(function () ... end) or "
      .. "local _ <close> = dm.no_grad()", said[1])
    dm.no_grad(function ()
      forget(function () dm.enable_grad() end)
      collectgarbage()
      collectgarbage()
      assert.is_false(dm.is_grad_enabled())
    end)
    assert.are.equal(2, #said)
    assert.truthy(said[2]:find("dm.enable_grad(function () ... end)", 1, true))
    do                                           -- a closed guard says nothing
      local _ <close> = dm.no_grad()
      assert.is_false(dm.is_grad_enabled())
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(dm.is_grad_enabled())
    assert.are.equal(2, #said)
    dm._warn = saved
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
