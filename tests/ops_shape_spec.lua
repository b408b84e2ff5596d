-- Products (bmm, baddbmm, addmm, outer/ger, einsum, batched matmul), diagonals (diag,
-- diagonal, trace, tril, triu) and shape ops (repeat, tile, chunk, split, unbind, flip, roll,
-- narrow_copy, movedim) against PyTorch 1.13 (tests/fixtures/ops_shape_cases.lua; regenerate
-- with /usr/bin/python3 tests/fixtures/gen_ops_shape.py), their gradients (central
-- differences in float64), non-contiguous inputs and error messages.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fx = dofile(dir .. "fixtures/ops_shape_cases.lua")
local err = dofile(dir .. "helpers/util.lua").err

collectgarbage()
collectgarbage()
local baseline = dm.memory()

-- PyTorch's 0-based dim (or list of them) as Lua's 1-based one
local function ldim (d)
  if type(d) == "table" then
    local r = {}
    for i, x in ipairs(d) do r[i] = ldim(x) end
    return r
  end
  return d >= 0 and d + 1 or d
end

local function decode (e)
  local t = dm.tensor(e.v, { dtype = dm[e.dt] })
  return t:view(e.s)
end

-- t with the same values laid out non-contiguously (a transposed copy transposed back, or
-- every other element of a larger tensor for 1-D)
local function noncontig (t)
  if t:dim() >= 2 then
    local c = t:transpose(1, 2):contiguous():transpose(1, 2)
    assert(not c:is_contiguous() or t:numel() <= 1 or t:size(1) == 1 or t:size(2) == 1)
    return c
  end
  if t:dim() == 1 and t:numel() > 1 then
    local big = dm.cat({ t:view(-1, 1), t:view(-1, 1) }, 2)
    local c = big:select(2, 1)
    assert(not c:is_contiguous())
    return c
  end
  return t
end

-- the op of a case on its inputs, as a Lua user calls it
local call = {
  bmm = function (x) return x[1]:bmm(x[2]) end,
  baddbmm = function (x, p) return dm.baddbmm(x[1], x[2], x[3], { beta = p.beta, alpha = p.alpha }) end,
  addmm = function (x, p) return x[1]:addmm(x[2], x[3], { beta = p.beta, alpha = p.alpha }) end,
  outer = function (x) return dm.outer(x[1], x[2]) end,
  matmul = function (x) return x[1]:matmul(x[2]) end,
  einsum = function (x, p) return dm.einsum(p.eq, table.unpack(x)) end,
  diag = function (x, p) return x[1]:diag(p.k) end,
  diagonal = function (x, p) return x[1]:diagonal(p.offset, ldim(p.dim1), ldim(p.dim2)) end,
  trace = function (x) return dm.trace(x[1]) end,
  tril = function (x, p) return x[1]:tril(p.k) end,
  triu = function (x, p) return dm.triu(x[1], { diagonal = p.k }) end,
  ["repeat"] = function (x, p) return x[1]:repeat_tensor(table.unpack(p.sizes)) end,
  tile = function (x, p) return x[1]:tile(p.sizes) end,
  chunk = function (x, p) return x[1]:chunk(p.chunks, ldim(p.dim)) end,
  split = function (x, p) return dm.split(x[1], p.size, ldim(p.dim)) end,
  unbind = function (x, p) return x[1]:unbind(ldim(p.dim)) end,
  flip = function (x, p) return x[1]:flip(ldim(p.dims)) end,
  roll = function (x, p) return x[1]:roll(p.shifts, p.dims and ldim(p.dims)) end,
  narrow_copy = function (x, p) return x[1]:narrow_copy(ldim(p.dim), p.start + 1, p.length) end,
  movedim = function (x, p) return x[1]:movedim(ldim(p.source), ldim(p.destination)) end,
}

local function same (want, got, what)
  assert.are.equal(dm[want.dt], got.dtype, what .. ": dtype")
  assert.are.same(want.s, got:size(), what .. ": shape")
  local v = got:values()
  assert.are.equal(#want.v, #v, what .. ": element count")
  for i = 1, #v do
    local g = v[i]
    if type(g) == "boolean" then g = g and 1 or 0 end
    local w = want.v[i]
    local ok = (w ~= w and g ~= g) or math.abs(g - w) <= 1e-5 * math.max(1, math.abs(w))
    if not ok then
      error(("%s: element %d is %.17g, want %.17g"):format(what, i, g, w), 2)
    end
  end
end

local function check_case (k, c, nc)
  local x = {}
  for i, e in ipairs(c.inputs) do
    x[i] = decode(e)
    if nc then x[i] = noncontig(x[i]) end
  end
  local what = ("case %d (%s%s%s)"):format(k, c.op, c.p.eq and " " .. c.p.eq or "",
                                          nc and ", non-contiguous" or "")
  local r = call[c.op](x, c.p)
  if c.outs then
    assert.are.equal(#c.outs, #r, what .. ": number of pieces")
    for i, want in ipairs(c.outs) do same(want, r[i], what .. " piece " .. i) end
  else
    same(c.out, r, what)
  end
end

describe("products, diagonals and shape ops against PyTorch", function ()
  it("every fixture case", function ()
    for k, c in ipairs(fx) do check_case(k, c, false) end
  end)

  it("every fixture case on non-contiguous inputs", function ()
    for k, c in ipairs(fx) do check_case(k, c, true) end
  end)

  it("covers every op of the fixtures", function ()
    local seen = {}
    for _, c in ipairs(fx) do seen[c.op] = true end
    for name in pairs(call) do assert.is_true(seen[name], name) end
  end)
end)

describe("shape ops as functions and methods", function ()
  it("are reachable both ways, with aliases", function ()
    for _, name in ipairs { "bmm", "baddbmm", "addmm", "outer", "ger", "diag", "diagonal",
                            "trace", "tril", "triu", "repeat", "repeat_tensor", "tile",
                            "chunk", "split", "unbind", "flip", "roll", "narrow_copy",
                            "movedim" } do
      assert.is_function(dm[name], name)
      assert.is_function(dm.Tensor[name], name)
    end
    assert.is_function(dm.einsum)
    local a, b = dm.tensor { 1, 2 }, dm.tensor { 3, 4, 5 }
    assert.are.same(dm.outer(a, b):totable(), a:ger(b):totable())
    local t = dm.arange(6):view(2, 3)
    assert.are.same(t["repeat"](t, 2, 1):totable(), t:repeat_tensor(2, 1):totable())
  end)

  it("chunk, split and unbind return Lua arrays of views", function ()
    local t = dm.arange(6):view(3, 2)
    local parts = t:unbind()
    assert.are.equal(3, #parts)
    local n = 0
    for i, p in ipairs(parts) do
      n = n + 1
      assert.are.same({ 2 }, p:size())
      assert.are.same({ 2 * i - 2, 2 * i - 1 }, p:totable())
    end
    assert.are.equal(3, n)
    -- views share storage, as PyTorch's
    assert.are.equal(t:storage_id(), t:chunk(2)[2]:storage_id())
    assert.are.equal(t:storage_id(), t:split({ 1, 2 })[2]:storage_id())
  end)

  it("narrow_copy and repeat copy; movedim and diagonal are views", function ()
    local t = dm.arange(12):view(3, 4)
    assert.are_not.equal(t:storage_id(), t:narrow_copy(2, 1, 2):storage_id())
    assert.are_not.equal(t:storage_id(), t:repeat_tensor(1, 1):storage_id())
    assert.are.equal(t:storage_id(), t:movedim(1, 2):storage_id())
    assert.are.equal(t:storage_id(), t:diagonal():storage_id())
    assert.are.same({ 2, 3 }, t:narrow_copy(2, -2, 2):totable()[1])
  end)

  it("records PyTorch's grad_fn names", function ()
    local x = dm.randn(3, 3, { requires_grad = true })
    assert.are.equal("DiagonalBackward0", x:diagonal().grad_fn)
    assert.are.equal("DiagBackward0", x:select(1, 1):diag().grad_fn)
    assert.are.equal("TrilBackward0", x:tril().grad_fn)
    assert.are.equal("TriuBackward0", x:triu(1).grad_fn)
    assert.are.equal("FlipBackward0", x:flip(1).grad_fn)
  end)

  it("baddbmm and addmm with beta 0 ignore the input, NaNs included (PyTorch's docs)", function ()
    local a, b = dm.randn(2, 3, 4), dm.randn(2, 4, 5)
    local nan = dm.full({ 2, 3, 5 }, 0 / 0)
    local r = dm.baddbmm(nan, a, b, { beta = 0 })
    assert.is_true((r - a:bmm(b)):abs():max():item() < 1e-5)
    local m = dm.addmm(dm.full({ 3, 5 }, 0 / 0), a:select(1, 1), b:select(1, 1), { beta = 0, alpha = 2 })
    assert.is_true((m - a:select(1, 1):matmul(b:select(1, 1)) * 2):abs():max():item() < 1e-5)
  end)
end)

-- ---- gradients ----------------------------------------------------------------------------

local F64 = { dtype = dm.float64 }

-- central differences in float64 against autograd on sum(f(inputs) * R), R fixed weights
local function gradcheck (f, inputs, what)
  local out = f(inputs)
  local n = out:numel()
  local R = {}
  for i = 1, n do R[i] = ((i * 37) % 11 - 5) / 5 + 0.1 end
  local Rt = out:dim() == 0 and dm.tensor(R[1], F64) or dm.tensor(R, F64):view(out:size())
  for _, t in ipairs(inputs) do t.grad = nil end
  out:backward(Rt)
  local function fval ()
    local v = dm.no_grad(function () return f(inputs) end):values()
    local s = 0
    for i = 1, #v do s = s + v[i] * R[i] end
    return s
  end
  local eps = 1e-6
  for w, t in ipairs(inputs) do
    assert.is_not_nil(t.grad, what .. ": no gradient for input " .. w)
    local g = t.grad:values()
    local flat = t:view(-1)
    for k = 1, t:numel() do
      local orig = flat:get(k)
      local fp, fm
      dm.no_grad(function ()
        flat:set(k, orig + eps); fp = fval()
        flat:set(k, orig - eps); fm = fval()
        flat:set(k, orig)
      end)
      local num = (fp - fm) / (2 * eps)
      if math.abs(num - g[k]) > 1e-7 * math.max(1, math.abs(num)) then
        error(("%s: input %d element %d: numeric %.10g, autograd %.10g"):format(
          what, w, k, num, g[k]), 2)
      end
    end
  end
end

local function leaves (...)
  local r = {}
  for i, s in ipairs { ... } do
    r[i] = dm.randn(s, F64):requires_grad_(true)
  end
  return r
end

describe("gradients (float64 central differences)", function ()
  it("of the products", function ()
    gradcheck(function (x) return x[1]:bmm(x[2]) end, leaves({ 2, 3, 4 }, { 2, 4, 2 }), "bmm")
    gradcheck(function (x) return dm.baddbmm(x[1], x[2], x[3], { beta = 0.5, alpha = -2 }) end,
              leaves({ 3, 1 }, { 2, 3, 4 }, { 2, 4, 2 }), "baddbmm")
    gradcheck(function (x) return dm.addmm(x[1], x[2], x[3], { beta = 2, alpha = 0.5 }) end,
              leaves({ 2 }, { 3, 4 }, { 4, 2 }), "addmm")
    gradcheck(function (x) return dm.outer(x[1], x[2]) end, leaves({ 3 }, { 4 }), "outer")
    gradcheck(function (x) return x[1]:matmul(x[2]) end, leaves({ 2, 1, 3, 4 }, { 3, 4, 2 }),
              "matmul 4-D")
    gradcheck(function (x) return x[1]:matmul(x[2]) end, leaves({ 4 }, { 2, 2, 4, 3 }),
              "matmul 1-D @ 4-D")
    gradcheck(function (x) return x[1]:matmul(x[2]) end, leaves({ 2, 2, 3, 4 }, { 4, 2 }),
              "matmul 4-D @ 2-D")
    gradcheck(function (x) return x[1]:matmul(x[2]) end, leaves({ 2, 1, 3, 4 }, { 4 }),
              "matmul 4-D @ 1-D")
  end)

  it("of einsum", function ()
    local eqs = {
      { "bij,bjk->bik", { 2, 3, 4 }, { 2, 4, 2 } },
      { "ij,kj->ik", { 3, 4 }, { 2, 4 } },
      { "ii->i", { 3, 3 } },
      { "ii", { 3, 3 } },
      { "ij->", { 2, 3 } },
      { "bn,anm,bm->ba", { 2, 3 }, { 2, 3, 2 }, { 2, 2 } },
      { "iij->ji", { 3, 3, 2 } },
      { "...ij,...jk->...ik", { 2, 1, 2, 3 }, { 3, 3, 2 } },
      { "ij,ij->ij", { 3, 1 }, { 3, 4 } },
      { "ik,jk,k->ij", { 2, 3 }, { 4, 3 }, { 3 } },
    }
    for _, e in ipairs(eqs) do
      local x = leaves(table.unpack(e, 2))
      gradcheck(function (t) return dm.einsum(e[1], t) end, x, "einsum " .. e[1])
    end
  end)

  it("of the diagonals and shape ops", function ()
    local g = {
      { "diag 1-D", function (x) return x[1]:diag(1) end, { 3 } },
      { "diag 2-D", function (x) return x[1]:diag(-1) end, { 3, 4 } },
      { "diagonal", function (x) return x[1]:diagonal(1, 1, 3) end, { 3, 2, 4 } },
      { "trace", function (x) return x[1]:trace() end, { 3, 4 } },
      { "tril", function (x) return x[1]:tril(-1) end, { 2, 3, 4 } },
      { "triu", function (x) return x[1]:triu(1) end, { 3, 4 } },
      { "repeat", function (x) return x[1]:repeat_tensor(2, 1, 3) end, { 2, 3 } },
      { "tile", function (x) return x[1]:tile(2) end, { 2, 3 } },
      { "chunk", function (x) return x[1]:chunk(2, 2)[2] * 3 end, { 2, 5 } },
      { "split", function (x) local p = x[1]:split({ 1, 2 }) return p[1] + p[2]:sum(1) end, { 3, 2 } },
      { "unbind", function (x) local p = x[1]:unbind(2) return p[1] * p[3] end, { 2, 3 } },
      { "flip", function (x) return x[1]:flip(1, 3) end, { 2, 3, 2 } },
      { "roll", function (x) return x[1]:roll({ 1, -1 }, { 1, 2 }) end, { 3, 4 } },
      { "roll flat", function (x) return x[1]:roll(5) end, { 3, 4 } },
      { "narrow_copy", function (x) return x[1]:narrow_copy(2, 2, 2) end, { 3, 4 } },
      { "movedim", function (x) return x[1]:movedim({ 1, 2 }, { 3, 1 }) end, { 2, 3, 4 } },
    }
    for _, c in ipairs(g) do gradcheck(c[2], leaves(c[3]), c[1]) end
  end)
end)

-- ---- errors ----------------------------------------------------------------------------------

describe("error messages", function ()
  local z = function (...) return dm.zeros(...) end

  it("of the products name the shapes", function ()
    assert.are.equal("bmm: batch1 [2 x 3 x 4] and batch2 [3 x 4 x 5] differ in batch size",
                     err(dm.bmm, z(2, 3, 4), z(3, 4, 5)))
    assert.are.equal("bmm: expected 3-D tensors, got batch1 [3 x 4] and batch2 [2 x 4 x 5]",
                     err(dm.bmm, z(3, 4), z(2, 4, 5)))
    assert.are.equal("bmm: batch1 [2 x 3 x 4] and batch2 [2 x 5 x 6] cannot be multiplied "
                     .. "(4 columns, 5 rows)", err(dm.bmm, z(2, 3, 4), z(2, 5, 6)))
    assert.are.equal("baddbmm: batch1 [2 x 3 x 4] and batch2 [3 x 4 x 5] differ in batch size",
                     err(dm.baddbmm, z(2, 3, 5), z(2, 3, 4), z(3, 4, 5)))
    assert.are.equal("baddbmm: input [4 x 5] cannot be broadcast to the product's shape "
                     .. "[2 x 3 x 5]", err(dm.baddbmm, z(4, 5), z(2, 3, 4), z(2, 4, 5)))
    assert.are.equal("addmm: mat1 [2 x 3] and mat2 [4 x 5] cannot be multiplied "
                     .. "(3 columns, 4 rows)", err(dm.addmm, z(2, 5), z(2, 3), z(4, 5)))
    assert.are.equal("addmm: expected matrices, got mat1 [2 x 3 x 4] and mat2 [4 x 5]",
                     err(dm.addmm, z(3, 5), z(2, 3, 4), z(4, 5)))
    assert.are.equal("addmm: unknown option 'gamma'",
                     err(dm.addmm, z(2, 5), z(2, 3), z(3, 5), { gamma = 1 }))
    assert.are.equal("addmm: expected input of the products' dtype float32, got float64 "
                     .. "(convert it with :to())",
                     err(dm.addmm, z(2, 5, { dtype = dm.float64 }), z(2, 3), z(3, 5)))
    assert.are.equal("outer: expected 1-D vectors, got a [2 x 3] and b [4]",
                     err(dm.outer, z(2, 3), z(4)))
    assert.are.equal("matmul: batch dimensions differ: a [2 x 3 x 3 x 4], b [5 x 4 x 2]",
                     err(dm.matmul, z(2, 3, 3, 4), z(5, 4, 2)))
    assert.are.equal("matmul: shape mismatch: a [2 x 1 x 3 x 4], b [3 x 2]",
                     err(dm.matmul, z(2, 1, 3, 4), z(3, 2)))
  end)

  it("of einsum name the operand and its subscripts", function ()
    assert.are.equal("einsum: operand 2 has 3 dims but the subscripts 'ij' name 2",
                     err(dm.einsum, "ij,ij->i", z(2, 3), z(2, 3, 4)))
    assert.are.equal("einsum: operand 1 has 1 dims but the subscripts 'i...j' name at least 2",
                     err(dm.einsum, "i...j", z(2)))
    assert.are.equal("einsum: the equation 'ij,jk->ik' has 2 operands but 1 tensor was given",
                     err(dm.einsum, "ij,jk->ik", z(2, 3)))
    assert.are.equal("einsum: subscript 'j' has size 4 in operand 2 [4 x 5] but 3 in operand 1",
                     err(dm.einsum, "ij,jk->ik", z(2, 3), z(4, 5)))
    assert.are.equal("einsum: subscript 'i' is repeated in operand 1 [2 x 3] with sizes 2 and 3",
                     err(dm.einsum, "ii->i", z(2, 3)))
    assert.are.equal("einsum: output subscript 'k' does not appear in the operands' subscripts",
                     err(dm.einsum, "ij->k", z(2, 3)))
    assert.are.equal("einsum: output subscript 'i' appears more than once",
                     err(dm.einsum, "ij->ii", z(2, 3)))
    assert.are.equal("einsum: invalid subscript '1' in the subscripts 'i1' (letters and '...' only)",
                     err(dm.einsum, "i1->i", z(2, 3)))
    assert.are.equal("einsum: operands 1 and 2 differ in dtype, float32 and float64 (convert "
                     .. "one with :to())", err(dm.einsum, "ij,jk", z(2, 3), z(3, 2, { dtype = dm.float64 })))
    assert.are.equal("einsum: operand 2 is a number, expected a tensor",
                     err(dm.einsum, "i,i", z(2), 3))
  end)

  it("of the diagonals and shape ops", function ()
    assert.are.equal("diag: expected a 1-D or 2-D tensor, got [2 x 3 x 4]", err(dm.diag, z(2, 3, 4)))
    assert.are.equal("trace: expected a matrix, got [3]", err(dm.trace, z(3)))
    assert.are.equal("trace: not implemented for bool tensors",
                     err(dm.trace, z(2, 2, { dtype = dm.bool })))
    assert.are.equal("tril: expected a tensor of at least 2 dims, got [3]", err(dm.tril, z(3)))
    assert.are.equal("triu: expected a tensor of at least 2 dims, got []", err(dm.triu, dm.tensor(1)))
    assert.are.equal("diagonal: dim1 and dim2 cannot be the same dim (2) of [2 x 3]",
                     err(dm.diagonal, z(2, 3), 0, 2, -1))
    assert.are.equal("repeat: 1 repeats given for a tensor [2 x 3] of 2 dims (at least 2 needed)",
                     err(z(2, 3).repeat_tensor, z(2, 3), 2))
    assert.are.equal("chunk: expected a positive number of chunks, got 0", err(dm.chunk, z(4), 0))
    assert.are.equal("split: split_size 0 is invalid for dim 1 of [3 x 2] (it must be positive, "
                     .. "or 0 for a dim of size 0)", err(dm.split, z(3, 2), 0))
    assert.are.equal("split: sizes [1, 1] must be non-negative and sum to 3, the size of dim 1 "
                     .. "of [3 x 2]", err(dm.split, z(3, 2), { 1, 1 }))
    assert.are.equal("unbind: expected a tensor of at least 1 dim, got []", err(dm.unbind, dm.tensor(1)))
    assert.are.equal("flip: dim 1 appears more than once in the list of dims",
                     err(dm.flip, z(2, 3), { 1, -2 }))
    assert.are.equal("roll: shifts and dims must have the same length, got 2 and 1",
                     err(dm.roll, z(2, 3), { 1, 2 }, 1))
    assert.are.equal("roll: without dims, one shift is expected (the tensor is flattened), got 2",
                     err(dm.roll, z(2, 3), { 1, 2 }))
    assert.are.equal("narrow_copy: start 3 and length 2 out of range for dim 2 of size [2 x 3]",
                     err(dm.narrow_copy, z(2, 3), 2, 3, 2))
    assert.are.equal("movedim: source and destination must name as many dims, got 2 and 1",
                     err(dm.movedim, z(2, 3), { 1, 2 }, { 1 }))
    assert.are.equal("movedim: destination dim 1 appears more than once",
                     err(dm.movedim, z(2, 3), { 1, 2 }, { 1, 1 }))
  end)
end)

describe("speed", function ()
  it("einsum('bij,bjk->bik') runs through the batched product, not a loop", function ()
    -- a smoke check only (timings are measured in benchmarks, not asserted): einsum adds no
    -- copy for this equation, so it takes about bmm's time
    local a, b = dm.randn(8, 64, 64), dm.randn(8, 64, 64)
    local e = dm.einsum("bij,bjk->bik", a, b)
    assert.is_true((e - a:bmm(b)):abs():max():item() < 1e-4)
  end)
end)

describe("memory", function ()
  it("comes back to its baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
