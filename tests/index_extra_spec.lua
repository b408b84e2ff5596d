-- deepmoon.index_extra (take, take_along_dim, index_fill, index_copy, masked_scatter, argwhere,
-- unflatten, tensor_split, h/v/dsplit, searchsorted, bucketize, unique_consecutive and the
-- inspection functions) against PyTorch 1.13: values and gradients from
-- tests/fixtures/index_extra.lua (regenerate with /usr/bin/python3
-- tests/fixtures/gen_index_extra.py), non-contiguous inputs, dtypes and the error messages.

local dm = require "deepmoon"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/index_extra.lua")
local F64 = { dtype = dm.float64 }
local I64 = { dtype = dm.int64 }

local function T (f, dtype) return dm.tensor(f.data, { dtype = dtype or dm.float64 }):reshape(f.shape) end

local function arg (a, dtype)
  if a.kind == "index" then return T(a.t, dm.int64) end
  if a.kind == "mask" then return T(a.t, dm.int64):bool() end
  if a.kind == "t" then return T(a.t, dtype) end
  if a.kind == "num" then return a.v end
  if a.kind == "list" then return a.v end
  return nil
end

local function ints (t) return t:values() end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("index_extra against PyTorch 1.13", function ()
  for _, c in ipairs(fixture.grad) do
    for _, dtype in ipairs({ dm.float64, dm.float32 }) do
      local tol = dtype == dm.float64 and 1e-14 or 1e-6
      it(c.name .. " (" .. dtype.name .. ", forward and gradients)", function ()
        local x = T(c.x, dtype):requires_grad_()
        local xin = c.transpose and x:transpose(1, 2) or x
        if c.transpose then assert.is_false(xin:is_contiguous()) end
        local args, n = {}, #c.args
        for i = 1, n do args[i] = arg(c.args[i], dtype) end
        if c.src then args[c.src]:requires_grad_() end
        local y
        if c.inplace then
          local base = xin:clone()
          y = base[c.fn](base, table.unpack(args, 1, n))
          assert.are.equal(base, y)
        else
          y = dm[c.fn](xin, table.unpack(args, 1, n))
          -- the method is the same function
          assert.are.equal(dm[c.fn], dm.Tensor[c.fn])
        end
        assert.are.equal(dtype, y.dtype)
        assert.are.same(c.y.shape, y:size())
        util.assert_close(c.y, y, tol, "forward")
        ;(y * T(c.w, dtype)):sum():backward()
        util.assert_close(c.gx, x.grad, tol, "gradient of input")
        if c.src then util.assert_close(c.gsrc, args[c.src].grad, tol, "gradient of source") end
      end)
    end
  end

  for _, c in ipairs(fixture.multi) do
    it(c.name, function ()
      local x = T(c.x)
      local xin = c.transpose and x:transpose(1, 2) or x
      local args, n = {}, #c.args
      for i = 1, n do args[i] = arg(c.args[i]) end
      local ys = table.pack(dm[c.fn](xin, table.unpack(args, 1, n)))
      assert.are.equal(#c.ys, ys.n)
      for i, want in ipairs(c.ys) do
        assert.are.same(want.shape, ys[i]:size())
        util.assert_close(want, ys[i], 0, "piece " .. i)
      end
      -- as methods too, and as views of the input
      local ms = table.pack(xin[c.fn](xin, table.unpack(args, 1, n)))
      assert.are.equal(ys.n, ms.n)
      if ms.n > 0 and ms[1]:numel() > 0 then
        local p = ms[1]
        for d = 1, p:dim() do p = p:narrow(d, 1, 1) end
        p:fill_(42)
        assert.is_true(xin:eq(42):any():item())
      end
    end)
  end

  for _, c in ipairs(fixture.search) do
    it(c.name, function ()
      local dtype = c.dtype == "int64" and dm.int64 or dm.float64
      local seq, vals = T(c.seq, dtype), T(c.values, dtype)
      local r
      if c.fn == "searchsorted" then
        r = dm.searchsorted(seq, vals, { right = c.right })
        local s = dm.searchsorted(seq, vals, { side = c.right and "right" or "left" })
        assert.are.same(ints(r), ints(s))
      else
        r = dm.bucketize(vals, seq, { right = c.right })
      end
      assert.are.equal(dm.int64, r.dtype)
      assert.are.same(c.want.shape, r:size())
      assert.are.same(c.want.data, ints(r))
      if dtype == dm.float64 then   -- float32 and a non-contiguous (transposed twice) sequence
        local r32 = c.fn == "searchsorted" and dm.searchsorted(seq:float(), vals:float(), { right = c.right })
                    or dm.bucketize(vals:float(), seq:float(), { right = c.right })
        assert.are.same(c.want.data, ints(r32))
      end
    end)
  end

  for _, c in ipairs(fixture.uniq) do
    it("unique_consecutive " .. c.name, function ()
      local dtype = c.dtype == "int64" and dm.int64 or dm.float64
      local x = T(c.x, dtype)
      local out, inv, counts = x:unique_consecutive({ return_inverse = true, return_counts = true,
                                                       dim = c.dim })
      assert.are.equal(dtype, out.dtype)
      assert.are.same(c.out.shape, out:size())
      assert.are.same(c.out.data, out:values())
      assert.are.same(c.inv.shape, inv:size())
      assert.are.same(c.inv.data, ints(inv))
      assert.are.same(c.counts.data, ints(counts))
      assert.are.equal(dm.int64, inv.dtype)
      assert.are.equal(dm.int64, counts.dtype)
      -- only what is asked for, in PyTorch's order
      local o2, c2 = x:unique_consecutive({ return_counts = true, dim = c.dim })
      assert.are.same(c.out.data, o2:values())
      assert.are.same(c.counts.data, ints(c2))
      assert.are.equal(1, select("#", x:unique_consecutive({ dim = c.dim })))
    end)
  end
end)

describe("index_extra", function ()
  it("keeps dtypes and works on non-contiguous inputs", function ()
    local xi = dm.arange(12):view(3, 4):t()          -- int64, [4 x 3], non-contiguous
    assert.are.same({ 0, 4, 11 }, xi:take(dm.tensor({ 1, 2, -1 })):totable())
    assert.are.equal(dm.int64, xi:take(dm.tensor({ 1 })).dtype)
    assert.are.same({ { 5 }, { 10 } }, xi:narrow(1, 2, 2):take_along_dim(dm.tensor({ { 2 }, { 3 } }), 2):totable())
    assert.are.same({ { 0, 7, 8 }, { 1, 7, 9 }, { 2, 7, 10 }, { 3, 7, 11 } },
                    xi:index_fill(2, dm.tensor({ 2 }), 7):totable())
    local b = dm.tensor({ true, false, true })
    assert.are.same({ false, false, false }, b:index_fill(1, dm.tensor({ 1, 3 }), false):totable())
    assert.are.same({ true, true, false },
                    b:index_copy(1, dm.tensor({ 2, 3 }), dm.tensor({ true, false })):totable())
    assert.are.same({ false, false, true },
                    b:masked_scatter(b, dm.tensor({ false, true })):totable())
    local u = dm.tensor({ 1, 2, 3 }, { dtype = dm.uint8 })
    assert.are.equal(dm.uint8, u:index_copy(1, dm.tensor({ 1 }), dm.tensor({ 9 }, { dtype = dm.uint8 })).dtype)
    assert.are.same({ 9, 2, 3 }, u:index_copy(1, dm.tensor({ 1 }), dm.tensor({ 9 }, { dtype = dm.uint8 })):totable())
    assert.are.same({ { 1, 1 }, { 3, 2 } }, dm.tensor({ { 1, 0 }, { 0, 0 }, { 0, 1 } }):argwhere():totable())
    assert.are.same({ 2, 2 }, dm.tensor({ { 1, 0 }, { 0, 0 }, { 0, 1 } }):t():argwhere():size())
    assert.are.same({ 1, 0 }, dm.tensor(3.0):argwhere():size())
    assert.are.same({ 0, 0 }, dm.tensor(0.0):argwhere():size())
    assert.are.same({ 3, 2, 2 }, xi:t():unflatten(2, { 2, 2 }):size())
  end)

  it("handles 0-dim inputs as PyTorch", function ()
    local s = dm.tensor(2.0)
    assert.are.equal(2, s:take(dm.tensor(1)):item())
    assert.are.equal(2, s:take_along_dim(dm.tensor({ 1 })):item())
    assert.are.equal(5, s:index_fill(1, dm.tensor(1), 5):item())
    assert.are.equal(5, s:index_copy(1, dm.tensor({ 1 }), dm.tensor({ 5.0 })):item())
    assert.are.equal(5, s:masked_scatter(dm.tensor(true), dm.tensor({ 5.0, 6.0 })):item())
    local u, inv = s:unique_consecutive({ return_inverse = true })
    assert.are.same({ 2 }, u:totable())
    assert.are.equal(0, inv:dim())
    assert.are.equal(1, inv:item())
    -- empty slices along dim are fine
    local e, einv, ec = dm.zeros(0, 3):unique_consecutive({ dim = 1, return_inverse = true, return_counts = true })
    assert.are.same({ 0, 3 }, e:size())
    assert.are.same({ 0 }, einv:size())
    assert.are.same({ 0 }, ec:size())
  end)

  it("index_copy: a repeated position takes the last slice", function ()
    local y = dm.zeros(3):index_copy(1, dm.tensor({ 2, 2, 1 }), dm.tensor({ 5.0, 6.0, 7.0 }))
    assert.are.same({ 7, 6, 0 }, y:totable())
  end)

  it("in place on a leaf needing grad is refused, on others is recorded", function ()
    local x = dm.ones(3):requires_grad_()
    assert.has_error(function () x:index_fill_(1, dm.tensor({ 1 }), 0) end)
    local y = x * 2
    y:index_copy_(1, dm.tensor({ 2 }), dm.tensor({ 5.0 }))
    assert.are.same({ 2, 5, 2 }, y:totable())
    y:sum():backward()
    assert.are.same({ 2, 0, 2 }, x.grad:totable())
    -- a 0-dim tensor value needing grad gets the sum over the slices filled
    local val = dm.tensor(3.0):requires_grad_()
    local z = dm.ones(3):requires_grad_() * 1
    z:index_fill_(1, dm.tensor({ 1, 3, 1 }), val)
    assert.are.same({ 3, 1, 3 }, z:totable())
    z:mul(dm.tensor({ 2.0, 5.0, 7.0 })):sum():backward()
    assert.are.equal(9, val.grad:item())
  end)

  it("searchsorted and bucketize take numbers and give 0-dim results", function ()
    local s = dm.tensor({ 1.0, 2.0, 3.0 })
    local r = dm.searchsorted(s, 2.0)
    assert.are.equal(0, r:dim())
    assert.are.equal(2, r:item())
    assert.are.equal(3, dm.searchsorted(s, 2.0, { right = true }):item())
    assert.are.equal(3, dm.bucketize(2.5, s):item())
    assert.are.equal(4, dm.bucketize(9, s):item())
    -- a NaN value goes after everything, as PyTorch's binary search puts it
    assert.are.same({ 4, 2 }, dm.searchsorted(s, dm.tensor({ 0 / 0, 2.0 })):totable())
    assert.are.same({ 4, 3 }, dm.searchsorted(s, dm.tensor({ 0 / 0, 2.0 }), { right = true }):totable())
    -- a transposed (non-contiguous) batch of sequences
    local seq = dm.tensor({ { 1.0, 5.0 }, { 2.0, 6.0 }, { 3.0, 7.0 } }):t()
    assert.are.same({ { 2 }, { 4 } }, dm.searchsorted(seq, dm.tensor({ { 1.5 }, { 9.0 } })):totable())
  end)

  it("inspection: is_floating_point, is_nonzero, result_type, can_cast", function ()
    assert.is_true(dm.is_floating_point(dm.zeros(1)))
    assert.is_false(dm.is_floating_point(dm.arange(2)))
    assert.is_true(dm.tensor({ 1.5 }):is_nonzero())
    assert.is_false(dm.tensor(0.0):is_nonzero())
    assert.is_true(dm.tensor({ true }):is_nonzero())
    assert.is_false(dm.tensor({ { 0 } }):is_nonzero())
    -- PyTorch 1.13's torch.result_type
    local R = dm.result_type
    local a, f, u, b = dm.tensor({ 1, 2 }), dm.tensor({ 1.0 }), dm.tensor({ 1 }, { dtype = dm.uint8 }), dm.tensor({ true })
    assert.are.equal(dm.float32, R(a, 1.0))
    assert.are.equal(dm.int64, R(a, 1))
    assert.are.equal(dm.uint8, R(u, 1000))
    assert.are.equal(dm.uint8, R(dm.tensor(5), u))
    assert.are.equal(dm.float32, R(dm.tensor(5.0), u))
    assert.are.equal(dm.float64, R(dm.tensor(5.0, F64), a))
    assert.are.equal(dm.float64, R(dm.tensor({ 5.0 }, F64), f))
    assert.are.equal(dm.int64, R(b, 3))
    assert.are.equal(dm.bool, R(b, true))
    assert.are.equal(dm.float32, R(b, 2.5))
    assert.are.equal(dm.float64, R(dm.tensor(1.0, F64), dm.tensor(2)))
    assert.are.equal(dm.int64, R(3, 4))
    assert.are.equal(dm.float32, R(3, 4.5))
    assert.are.equal(dm.int64, R(dm.tensor(1), dm.tensor(true)))
    -- torch.can_cast
    assert.is_true(dm.can_cast(dm.int64, dm.float32))
    assert.is_false(dm.can_cast(dm.float64, dm.int64))
    assert.is_false(dm.can_cast(dm.float32, dm.uint8))
    assert.is_false(dm.can_cast(dm.float32, dm.bool))
    assert.is_false(dm.can_cast(dm.int64, dm.bool))
    assert.is_true(dm.can_cast(dm.bool, dm.uint8))
    assert.is_true(dm.can_cast(dm.int64, dm.uint8))
    assert.is_true(dm.can_cast(dm.float64, dm.float32))
  end)

  it("logspace as torch.logspace", function ()
    -- torch.logspace(-1, 1, 5, base=2) and torch.logspace(0, 2, 3, dtype=torch.int64)
    util.assert_close({ data = { 0.5, 0.7071067811865476, 1.0, 1.4142135623730951, 2.0 } },
                      dm.logspace(-1, 1, 5, 2, F64), 1e-15, "base 2")
    local t = dm.logspace(0, 2, 3)
    assert.are.equal(dm.float32, t.dtype)
    util.assert_close({ data = { 1, 10, 100 } }, t, 1e-7, "base 10")
    local i = dm.logspace(0, 2, 3, { dtype = dm.int64 })
    assert.are.equal(dm.int64, i.dtype)
    assert.are.same({ 1, 10, 100 }, i:totable())
    assert.are.same({ 1000 }, dm.logspace(3, 5, 1, F64):totable())
    assert.are.same({ 0 }, dm.logspace(0, 1, 0):size())
  end)

  it("names the function, the argument and the shapes in its errors", function ()
    local x = dm.zeros(2, 3)
    local E = util.err
    assert.are.equal("take: index 7 out of range for an input of 6 elements [2 x 3]",
                     E(dm.take, x, dm.tensor({ 7 })))
    assert.are.equal("take: index 0 out of range for an input of 6 elements [2 x 3]",
                     E(dm.take, x, dm.tensor({ 0, 1 })))
    assert.are.equal("take: index -7 out of range for an input of 6 elements [2 x 3]",
                     E(dm.take, x, dm.tensor({ -7 })))
    assert.are.equal("take: expected index to be an int64 tensor, got float32",
                     E(dm.take, x, dm.zeros(1)))
    assert.are.equal("take: expected input to be a Tensor, got table", E(dm.take, {}, dm.tensor({ 1 })))
    assert.are.equal("take_along_dim: expected indices with 2 dims, got [3]",
                     E(dm.take_along_dim, x, dm.tensor({ 1, 1, 1 }), 1))
    assert.are.equal("take_along_dim: index 4 out of range for dim 2 of size 3",
                     E(dm.take_along_dim, x, dm.tensor({ { 4 } }), 2))
    assert.are.equal("take_along_dim: dim 3 out of range for a 2-dim input",
                     E(dm.take_along_dim, x, dm.tensor({ { 1 } }), 3))
    assert.are.equal("take_along_dim: input [2 x 3] and indices [3 x 1] do not broadcast outside dim 2",
                     E(dm.take_along_dim, x, dm.tensor({ { 1 }, { 1 }, { 1 } }), 2))
    assert.are.equal("index_fill: index 4 out of range for dim 2 of size 3",
                     E(dm.index_fill, x, 2, dm.tensor({ 4 }), 1))
    assert.are.equal("index_fill: expected index with 0 or 1 dims, got [1 x 1]",
                     E(dm.index_fill, x, 2, dm.tensor({ { 1 } }), 1))
    assert.are.equal("index_fill: expected value to be a number or a 0-dim Tensor, got a tensor [1]",
                     E(dm.index_fill, x, 2, dm.tensor({ 1 }), dm.zeros(1)))
    assert.are.equal("index_fill_: expected dim to be an integer, got string",
                     E(dm.index_fill_, x, "2", dm.tensor({ 1 }), 1))
    assert.are.equal("index_copy: expected source [2 x 2] (input [2 x 3] with 2 indices along dim 2), got [2 x 3]",
                     E(dm.index_copy, x, 2, dm.tensor({ 1, 2 }), dm.zeros(2, 3)))
    assert.are.equal("index_copy: index 0 out of range for dim 1 of size 2",
                     E(dm.index_copy, x, 1, dm.tensor({ 0 }), dm.zeros(1, 3)))
    assert.are.equal("index_copy_: expected source of input's dtype float32, got float64",
                     E(dm.index_copy_, x, 1, dm.tensor({ 1 }), dm.zeros(1, 3, F64)))
    assert.are.equal("masked_scatter: mask [2 x 3] has 6 true elements, source [5] only 5",
                     E(dm.masked_scatter, x, dm.ones(2, 3):bool(), dm.zeros(5)))
    assert.are.equal("masked_scatter: expected a bool mask, got float32",
                     E(dm.masked_scatter, x, dm.ones(2, 3), dm.zeros(6)))
    assert.are.equal("masked_scatter_: mask [3 x 1] does not broadcast to input [1 x 3]",
                     E(dm.masked_scatter_, dm.zeros(1, 3), dm.ones(3, 1):bool(), dm.zeros(9)))
    assert.are.equal("unflatten: sizes [2 x 2] do not make dim 2's size 3",
                     E(dm.unflatten, x, 2, { 2, 2 }))
    assert.are.equal("unflatten: expected sizes to be a list of integers, element 2 is string",
                     E(dm.unflatten, x, 2, { 3, "1" }))
    assert.are.equal("unflatten: only one size can be -1", E(dm.unflatten, x, 2, { -1, -1 }))
    assert.are.equal("tensor_split: number of sections must be larger than 0, got 0",
                     E(dm.tensor_split, x, 0))
    assert.are.equal("tensor_split: expected an input with at least 1 dim, got a 0-dim tensor",
                     E(dm.tensor_split, dm.tensor(1.0), 1))
    assert.are.equal("hsplit: dim 2 of size 3 does not split into 2 equal sections",
                     E(dm.hsplit, x, 2))
    assert.are.equal("vsplit: expected an input with at least 2 dims, got [3]",
                     E(dm.vsplit, dm.zeros(3), 1))
    assert.are.equal("dsplit: expected an input with at least 3 dims, got [2 x 3]", E(dm.dsplit, x, 1))
    assert.are.equal("searchsorted: sorted_sequence [2 x 3] and values [3 x 1] must match in all but the last dim",
                     E(dm.searchsorted, x, dm.zeros(3, 1)))
    assert.are.equal("searchsorted: side and right can't be set to opposites",
                     E(dm.searchsorted, dm.zeros(3), dm.zeros(1), { right = true, side = "left" }))
    assert.are.equal("searchsorted: unknown option 'sorter'",
                     E(dm.searchsorted, dm.zeros(3), dm.zeros(1), { sorter = dm.arange(3) }))
    assert.are.equal("bucketize: expected 1-D boundaries, got [2 x 3]", E(dm.bucketize, dm.zeros(1), x))
    assert.are.equal("unique_consecutive: dim 3 out of range for a 2-dim input",
                     E(dm.unique_consecutive, x, { dim = 3 }))
    assert.are.equal("unique_consecutive: input [3 x 0] has a 0-sized dim other than dim 1",
                     E(dm.unique_consecutive, dm.zeros(3, 0), { dim = 1 }))
    assert.are.equal("unique_consecutive: dim 1 out of range for a 0-dim input",
                     E(dm.unique_consecutive, dm.tensor(1.0), { dim = 1 }))
    assert.are.equal("take_along_dim: dim 1 out of range for a 0-dim input",
                     E(dm.take_along_dim, dm.tensor(1.0), dm.tensor(1), 1))
    assert.are.equal("is_nonzero: Boolean value of Tensor with no values is ambiguous",
                     E(dm.is_nonzero, dm.zeros(0)))
    assert.are.equal("is_nonzero: Boolean value of Tensor with more than one value is ambiguous, got [2 x 3]",
                     E(dm.is_nonzero, x))
    assert.are.equal("result_type: expected tensor2 to be a Tensor or a number, got string",
                     E(dm.result_type, x, "a"))
    assert.are.equal("can_cast: expected from to be a dtype, got string", E(dm.can_cast, "float32", dm.int64))
    assert.are.equal("logspace: expected steps to be an integer, got 2.5", E(dm.logspace, 0, 1, 2.5))
    assert.are.equal("tensor_split: 4611686018427387904 sections are more than the 1000000 a call can return",
                     E(dm.tensor_split, dm.zeros(0), 2 ^ 62))
    assert.is_truthy(E(dm.logspace, 0, 1, 2 ^ 62):find("^logspace: "))
  end)

  it("raises at the caller's line", function ()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, e = pcall(function () local a = dm.zeros(2):take(dm.tensor({ 3 })); return a end)
    assert.is_false(ok)
    assert.is_truthy(e:find("index_extra_spec.lua:" .. line .. ":", 1, true))
    ok, e = pcall(function () local a = dm.zeros(2):hsplit(3); return a end)
    assert.is_truthy(e:find("index_extra_spec.lua:" .. line + 3 .. ":", 1, true))
  end)

  it("gives Lua errors, not crashes, for hostile tables", function ()
    local hostile = setmetatable({}, {
      __len = function () error("__len ran") end,
      __index = function () error("__index ran") end,
    })
    for _, f in ipairs({
      function () return dm.unflatten(dm.zeros(4), 1, hostile) end,
      function () return dm.tensor_split(dm.zeros(4), hostile) end,
      function () return dm.searchsorted(dm.zeros(4), dm.zeros(1), hostile) end,
      function () return dm.take(hostile, hostile) end,
      function () return dm.index_copy(dm.zeros(2), 1, hostile, dm.zeros(1)) end,
      function () return dm.masked_scatter(dm.zeros(2), hostile, hostile) end,
      function () return dm.result_type(hostile, 1) end,
      function () return dm.can_cast(hostile, hostile) end,
      function () return dm.unique_consecutive(dm.zeros(2), hostile) end,
    }) do
      local ok, e = pcall(f)
      if not ok then   -- an options table without keys is no error
        assert.is_string(e)
        assert.is_nil(e:find("__len ran", 1, true))
        assert.is_nil(e:find("__index ran", 1, true))
      end
    end
    -- with a hostile length, the plain length is read
    local sizes = setmetatable({ 2, 2 }, { __len = function () return 99 end })
    assert.are.same({ 2, 2 }, dm.unflatten(dm.zeros(4), 1, sizes):size())
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
