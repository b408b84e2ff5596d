-- deepmoon.shape_extra (hstack ... repeat_interleave) against PyTorch 1.13: values, shapes and
-- dtypes of the outputs, gradients of sum(out_k * W_k) for the floating-point inputs (some of
-- them transposed, non-contiguous), a float64 central-difference check, and the argument
-- errors (naming the function, the argument and the shapes, at the caller's line).
-- Fixtures: tests/fixtures/shape_extra.lua, made by tests/fixtures/gen_shape_extra.py.
local dm = require "deepmoon"
local shape_extra = require "deepmoon.shape_extra"

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end
local CASES = dofile(script_dir() .. "fixtures/shape_extra.lua")

local DT = { float32 = dm.float32, float64 = dm.float64, int64 = dm.int64, uint8 = dm.uint8,
             bool = dm.bool }

local function build (spec)
  local t = dm.tensor(spec.data, { dtype = DT[spec.dtype] })
  return t:reshape(spec.shape)
end

local function flat (t) return t:contiguous():reshape({ -1 }):values() end

local function close (got, want, tol, what)
  assert.are.equal(#want, #got, what .. ": element count")
  for i = 1, #want do
    local a, b = got[i], want[i]
    if type(b) ~= "number" then
      assert(a == b, ("%s: element %d: expected %s, got %s"):format(what, i, tostring(b), tostring(a)))
    else
      assert(math.abs(a - b) <= tol * math.max(1, math.abs(b)),
             ("%s: element %d: expected %.9g, got %.9g"):format(what, i, b, a))
    end
  end
end

local function tol_of (dtype) return dtype == dm.float64 and 1e-12 or 2e-5 end

local function run (c)
  local I, leaves = {}, {}
  for k, s in ipairs(c.inputs) do
    local base = build(s.base)
    if base:is_floating_point() then base:requires_grad_(); leaves[k] = base end
    I[k] = s.perm and base:permute(s.perm) or base
    if s.perm and base:numel() > 1 then assert.is_false(I[k]:is_contiguous(), c.name .. ": a non-contiguous input") end
  end
  local f = assert(load("local dm, I = ...; return " .. c.lua, c.name, "t"))
  return f(dm, I), leaves
end

describe("shape_extra against PyTorch 1.13", function ()
  for _, c in ipairs(CASES) do
    it(c.name .. ": " .. c.lua, function ()
      local r, leaves = run(c)
      local outs = r
      if c.list then
        assert.is_false(dm.is_tensor(r), "a list of tensors")
        assert.are.equal(#c.out, #r)
      else
        assert.is_true(dm.is_tensor(r), "a tensor")
        outs = { r }
      end
      local loss
      for k, want in ipairs(c.out) do
        local o = outs[k]
        assert.are.same(want.shape, o:size(), c.name .. ": shape of output " .. k)
        assert.are.equal(want.dtype, o.dtype.name, c.name .. ": dtype of output " .. k)
        close(flat(o), want.data, tol_of(o.dtype), c.name .. ": output " .. k)
        if o:is_floating_point() and o.requires_grad then
          local term = (o * build(c.w[k]):to(o.dtype)):sum()
          loss = loss and loss + term or term
        end
      end
      local want_grads = false
      for k = 1, #c.inputs do if c.grads[k] then want_grads = true end end
      assert.are.equal(want_grads, loss ~= nil, c.name .. ": gradients expected")
      if loss then
        loss:backward()
        for k = 1, #c.inputs do
          local g = c.grads[k]
          if g then
            local got = leaves[k].grad
            assert.is_truthy(got, c.name .. ": gradient of input " .. k)
            assert.are.same(c.inputs[k].base.shape, got:size())
            -- PyTorch's gradient is for the permuted input: bring ours to that layout
            local gg = c.inputs[k].perm and got:permute(c.inputs[k].perm) or got
            close(flat(gg), g.data, tol_of(got.dtype) * 10, c.name .. ": gradient of input " .. k)
          end
        end
      end
    end)
  end

  it("covers every function", function ()
    local seen = {}
    for _, c in ipairs(CASES) do
      for name in c.lua:gmatch("dm%.([%w_]+)%(") do seen[name] = true end
      for name in c.lua:gmatch(":([%w_]+)%(") do seen[name] = true end
    end
    local missing = {}
    for name in pairs(shape_extra.installed.dm) do
      if not seen[name] then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.equal("", table.concat(missing, " "))
  end)
end)

describe("shape_extra", function ()
  it("is installed on dm and on Tensor (PyTorch's methods only)", function ()
    for _, name in ipairs({ "hstack", "vstack", "row_stack", "dstack", "column_stack", "atleast_1d",
                            "atleast_2d", "atleast_3d", "ravel", "broadcast_to", "broadcast_tensors",
                            "fliplr", "flipud", "rot90", "inner", "dot", "vdot", "mv", "kron", "cross",
                            "tensordot", "diff", "meshgrid", "cartesian_prod", "block_diag",
                            "diag_embed", "repeat_interleave" }) do
      assert.are.equal("function", type(rawget(dm, name)), "dm." .. name)
    end
    for _, name in ipairs(shape_extra.METHODS) do
      assert.are.equal(dm[name], dm.Tensor[name], "Tensor." .. name)
    end
    assert.is_nil(rawget(dm.Tensor, "hstack"))
  end)

  it("returns views or the input itself where PyTorch does", function ()
    local x = dm.tensor({ 1.0, 2.0, 3.0 })
    assert.are.equal(x, dm.atleast_1d(x))
    assert.are.equal(x, dm.diff(x, 0))
    assert.are.equal(x, dm.cartesian_prod(x))
    local m = dm.zeros(2, 3)
    assert.are.equal(m, dm.atleast_2d(m))
    assert.are.equal(m:storage_id(), m:ravel():storage_id())
    assert.are.equal(x:storage_id(), x:broadcast_to({ 4, 3 }):storage_id())
  end)

  it("float64 gradients match central differences", function ()
    local function fd (name, f, shapes)
      local xs = {}
      for k, s in ipairs(shapes) do
        xs[k] = dm.randn(s, { dtype = dm.float64, generator = dm.Generator(10 + k) })
      end
      local w
      local function loss (args)
        local o = f(table.unpack(args))
        if not dm.is_tensor(o) then o = dm.cat((function ()
          local parts = {}
          for i, t in ipairs(o) do parts[i] = t:reshape({ -1 }) end
          return parts end)())
        end
        w = w or dm.randn(o:size(), { dtype = dm.float64, generator = dm.Generator(7) })
        return (o * w):sum()
      end
      local leaves = {}
      for k, x in ipairs(xs) do leaves[k] = x:clone():requires_grad_() end
      loss(leaves):backward()
      local h = 1e-6
      for k, x in ipairs(xs) do
        local vals = flat(x)
        local g = flat(leaves[k].grad)
        for i = 1, #vals do
          local function at (delta)
            local v = { table.unpack(vals) }
            v[i] = v[i] + delta
            local args = { table.unpack(xs) }
            args[k] = dm.tensor(v, { dtype = dm.float64 }):reshape(x:size())
            return loss(args):item()
          end
          local num = (at(h) - at(-h)) / (2 * h)
          assert(math.abs(num - g[i]) <= 1e-6 * math.max(1, math.abs(num)),
                 ("%s: d/dx%d[%d]: numeric %.10g, autograd %.10g"):format(name, k, i, num, g[i]))
        end
      end
    end
    fd("rot90", function (a) return dm.rot90(a, 3, { 1, 3 }) end, { { 2, 2, 3 } })
    fd("cross", function (a, b) return dm.cross(a, b, 1) end, { { 3, 2 }, { 3, 1 } })
    fd("tensordot", function (a, b) return dm.tensordot(a, b, { { 1 }, { 2 } }) end, { { 3, 2 }, { 2, 3 } })
    fd("kron", dm.kron, { { 2, 2 }, { 1, 3 } })
    fd("diff", function (a, b) return dm.diff(a, 2, 1, b) end, { { 3, 2 }, { 1, 2 } })
    fd("diag_embed", function (a) return dm.diag_embed(a, -1, 3, 1) end, { { 2, 2 } })
    fd("block_diag", dm.block_diag, { { 2, 1 }, { 3 } })
    fd("meshgrid", function (a, b) return dm.meshgrid(a, b, { indexing = "xy" }) end, { { 2 }, { 3 } })
    fd("repeat_interleave", function (a) return dm.repeat_interleave(a, dm.tensor({ 2, 0, 1 }), 2) end, { { 2, 3 } })
    fd("inner", dm.inner, { { 2, 3 }, { 3 } })
    fd("mv", dm.mv, { { 2, 3 }, { 3 } })
  end)

  local function err (pattern, f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok, "expected an error: " .. pattern)
    assert.are.equal("string", type(e))
    assert(e:find(pattern, 1, true), ("expected %q in %q"):format(pattern, e))
    return e
  end

  it("raise errors that name the function, the argument and the shapes", function ()
    local v3, v4 = dm.zeros(3), dm.zeros(4)
    local m = dm.zeros(2, 3)
    err("dot: expected 1-D tensors of the same size, got [3] and [4]", dm.dot, v3, v4)
    err("dot: expected both tensors to have the same dtype, got int64 [3] and float32 [3]", dm.dot,
        dm.tensor({ 1, 2, 3 }), v3)
    err("dot: not implemented for bool tensors", dm.dot, dm.tensor({ true }), dm.tensor({ false }))
    err("vdot: expected 1-D tensors of the same size, got [2 x 3] and [3]", dm.vdot, m, v3)
    err("dot: expected other to be a Tensor, got number", dm.dot, v3, 3)
    err("mv: expected a 2-D matrix and a 1-D vector of matching sizes, got [2 x 3] and [4]", dm.mv, m, v4)
    err("inner: the last dimension must match on both inputs, got [2 x 3] and [4]", dm.inner, m, v4)
    err("inner: expected both tensors to have the same dtype", dm.inner, m, dm.tensor({ 1, 2, 3 }))
    err("cross: no dimension of size 3 in input [2 x 4]", dm.cross, dm.zeros(2, 4), dm.zeros(2, 4))
    err("cross: dim 1 must have size 3 in both inputs, got [2 x 3] and [2 x 3]", dm.cross, m, m, 1)
    err("cross: expected inputs with the same number of dimensions, got [2 x 3] and [3]", dm.cross, m, v3)
    err("cross: dim 3 out of range for a tensor of 2 dimensions", dm.cross, m, m, 3)
    err("cross: shapes [2 x 3] and [4 x 3] cannot be broadcast together", dm.cross, m, dm.zeros(4, 3))
    err("cross: not implemented for bool tensors", dm.cross, dm.tensor({ true, true, true }),
        dm.tensor({ true, false, true }))
    err("tensordot: contracted dimensions must match, got size 3 in dim 2 of [2 x 3] and size 4 in dim 1 of [4 x 4]",
        dm.tensordot, m, dm.zeros(4, 4), 1)
    err("tensordot: expected dims >= 0, got -1", dm.tensordot, m, m, -1)
    err("tensordot: dims 3 is more than the dimensions of [2 x 3] or [2 x 3]", dm.tensordot, m, m, 3)
    err("tensordot: expected both lists of dims to have the same length, got 2 and 1", dm.tensordot, m, m,
        { { 1, 2 }, { 1 } })
    err("tensordot: dim 1 appears twice in dims[1]", dm.tensordot, m, dm.zeros(2, 2), { { 1, 1 }, { 1, 2 } })
    err("tensordot: expected dims to be an integer or a pair of lists of dims, got string", dm.tensordot, m, m, "x")
    err("kron: expected other to be a Tensor, got nil", dm.kron, m)
    err("hstack: expected a list of Tensors, got number", dm.hstack, 3)
    err("hstack: expected a list of Tensors, got string at position 2", dm.hstack, { m, "x" })
    err("vstack: expected a non-empty list of Tensors", dm.vstack, {})
    err("hstack: cat: tensors must have the same shape except in dim 2: [2 x 3] vs [3 x 3]", dm.hstack,
        { m, dm.zeros(3, 3) })
    err("column_stack: cat:", dm.column_stack, { dm.zeros(3), dm.zeros(2) })
    err("atleast_2d: expected a list of Tensors, got number at position 2", dm.atleast_2d, m, 2)
    err("ravel: expected input to be a Tensor, got table", dm.ravel, {})
    err("broadcast_to: expand: size [3] cannot be expanded to [2 x 4]", dm.broadcast_to, v3, { 2, 4 })
    err("broadcast_to: size must be integers, got string at position 2", dm.broadcast_to, v3, { 2, "a" })
    err("broadcast_tensors: shapes [3] and [4] cannot be broadcast together (tensor 2, dim 1: 3 vs 4)",
        dm.broadcast_tensors, v3, v4)
    err("fliplr: expected a tensor of at least 2 dimensions, got [3]", dm.fliplr, v3)
    err("flipud: expected a tensor of at least 1 dimension, got []", dm.flipud, dm.tensor(1.0))
    err("rot90: expected a tensor of at least 2 dimensions, got [3]", dm.rot90, v3)
    err("rot90: expected rotation dims to be different, got 1 and -2 for [2 x 3]", dm.rot90, m, 1, { 1, -2 })
    err("rot90: expected dims to be a list of 2 dims, got 3", dm.rot90, m, 1, { 1, 2, 3 })
    err("rot90: dims[2] 3 out of range for a tensor of 2 dimensions", dm.rot90, m, 1, { 1, 3 })
    err("rot90: k must be an integer, got 1.5", dm.rot90, m, 1.5)
    err("diff: expected a tensor of at least 1 dimension, got []", dm.diff, dm.tensor(1.0))
    err("diff: order must be non-negative, got -1", dm.diff, v3, -1)
    err("diff: expected prepend to have the dimensions of the input [2 x 3], got []", dm.diff, m, 1, -1,
        dm.tensor(1.0))
    err("diff: expected append to match the input [2 x 3] except along dim 1, got [3 x 2]", dm.diff, m,
        { dim = 1, append = dm.zeros(2, 3):t() })
    err("diff: unknown option 'order'", dm.diff, v3, { order = 2 })
    err("diff: dim 2 out of range for a tensor of 1 dimensions", dm.diff, v3, 1, 2)
    err("meshgrid: expected all tensors to have the same dtype, got float32 and int64 at position 2",
        dm.meshgrid, v3, dm.tensor({ 1 }))
    err("meshgrid: expected 0-D or 1-D tensors, got [2 x 3] at position 2", dm.meshgrid, v3, m)
    err("meshgrid: expected a non-empty list of Tensors", dm.meshgrid)
    err("meshgrid: indexing must be \"ij\" or \"xy\", got \"ab\"", dm.meshgrid, v3, { indexing = "ab" })
    err("meshgrid: unknown option 'index'", dm.meshgrid, { v3 }, { index = "xy" })
    err("cartesian_prod: expected 1-D tensors, got [] at position 1", dm.cartesian_prod, dm.tensor(1.0), v3)
    err("block_diag: expected tensors of 2 or fewer dimensions, got [1 x 2 x 3] at position 2",
        dm.block_diag, m, dm.zeros(1, 2, 3))
    err("diag_embed: diagonal dimensions cannot be identical, got dim1 = 1 and dim2 = -2", dm.diag_embed, v3,
        0, 1, -2)
    err("diag_embed: expected a tensor of at least 1 dimension, got []", dm.diag_embed, dm.tensor(1.0))
    err("diag_embed: dim2 3 out of range for a tensor of 2 dimensions", dm.diag_embed, v3, 0, 1, 3)
    err("repeat_interleave: expected repeats to have the size of the input along dim (3), got [2]",
        dm.repeat_interleave, v3, dm.tensor({ 1, 2 }))
    err("repeat_interleave: repeats must not be negative, got -1 at position 2", dm.repeat_interleave, v3,
        dm.tensor({ 1, -1, 2 }))
    err("repeat_interleave: repeats must not be negative, got -2", dm.repeat_interleave, v3, -2)
    err("repeat_interleave: expected repeats to be an int64 tensor, got float32", dm.repeat_interleave, v3,
        dm.tensor({ 1.0, 2.0, 3.0 }))
    err("repeat_interleave: expected repeats to be a 0-D or 1-D tensor, got [1 x 2]", dm.repeat_interleave, m,
        dm.tensor({ { 1, 2 } }), 1)
    err("repeat_interleave: output_size 5 does not match the sum of repeats (6)", dm.repeat_interleave, v3, 2,
        { output_size = 5 })
    err("repeat_interleave: dim 3 out of range for a tensor of 2 dimensions", dm.repeat_interleave, m, 2, 3)
    err("repeat_interleave: the repeats add up to more than", dm.repeat_interleave, dm.zeros(2),
        dm.tensor({ math.maxinteger, 2 }))
    err("repeat_interleave: expected repeats to be an integer or an int64 tensor, got 1.5", dm.repeat_interleave,
        v3, 1.5)
  end)

  it("raise at the caller's line", function ()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function () local r = dm.dot(dm.zeros(3), dm.zeros(4)); return r end)
    assert.is_false(ok)
    assert.truthy(e:find("shape_extra_spec.lua:" .. line .. ": dot: ", 1, true), e)
    line = debug.getinfo(1, "l").currentline + 1
    ok, e = pcall(function () local r = dm.zeros(3):fliplr(); return r end)
    assert.truthy(e:find("shape_extra_spec.lua:" .. line .. ": fliplr: ", 1, true), e)
    line = debug.getinfo(1, "l").currentline + 1
    ok, e = pcall(function () local r = dm.hstack({ dm.zeros(2, 3), dm.zeros(3, 3) }); return r end)
    assert.truthy(e:find("shape_extra_spec.lua:" .. line .. ": hstack: cat: ", 1, true), e)
  end)

  it("read user lists raw: hostile tables give Lua errors, not crashes", function ()
    local hostile = setmetatable({}, {
      __len = function () error("__len called") end,
      __index = function () error("__index called") end,
      __pairs = function () error("__pairs called") end,
    })
    for _, call in ipairs({
      function () return dm.hstack(hostile) end,
      function () return dm.broadcast_to(dm.zeros(3), hostile) end,
      function () return dm.rot90(dm.zeros(2, 2), 1, hostile) end,
      function () return dm.tensordot(dm.zeros(2), dm.zeros(2), hostile) end,
      function () return dm.meshgrid(hostile) end,
      function () return dm.block_diag(hostile) end,
      function () return dm.atleast_1d(hostile) end,
    }) do
      local ok, e = pcall(call)
      if not ok then
        assert.are.equal("string", type(e))
        assert.is_nil(e:find("called", 1, true), e)
      end
    end
    -- a list padded by __index is read raw: the missing element is nil
    local padded = setmetatable({ dm.zeros(2) }, { __index = function () return dm.zeros(2) end,
                                                    __len = function () return 2 end })
    assert.are.same({ 2 }, dm.hstack(padded):size())
    err("tensordot: dims[1] must be integers, got string at position 1", dm.tensordot, dm.zeros(2),
        dm.zeros(2), { { "a" }, { 1 } })
  end)
end)
