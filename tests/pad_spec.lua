-- F.pad (dm.pad) and the padding modules against PyTorch 1.13: every mode, 3D and 4D inputs,
-- transposed inputs, forward and the gradient of sum(y * w), from tests/fixtures/pad_cases.lua
-- (regenerate with /usr/bin/python3 tests/fixtures/gen_pad.py); and the error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/pad_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("F.pad against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.name .. " (float64, forward and gradient)", function ()
      local x = T(c.x):requires_grad_()
      local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
      if c.transpose then assert.is_false(xin:is_contiguous()) end
      local y = F.pad(xin, c.pad, c.mode, c.value)
      assert.are.same(c.y.shape, y:size())
      util.assert_close(c.y, y, 1e-15, "forward")
      if c.mode ~= "circular" then
        assert.are.equal(c.grad_fn, y.grad_fn)
      end
      local w = T(c.w);
      (y * w):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-12, "gradient")
    end)
    it(c.name .. " (float32, options table)", function ()
      local x = T(c.x, {}):requires_grad_()
      local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
      local y = F.pad(xin, c.pad, { mode = c.mode, value = c.value })
      assert.are.equal(dm.float32, y.dtype)
      util.assert_close(c.y, y, 1e-6, "forward");
      (y * T(c.w, {})):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-5, "gradient")
    end)
  end

  it("defaults to constant zeros", function ()
    assert.are.same({0, 1, 2, 0, 0}, F.pad(dm.tensor({1.0, 2.0}), {1, 2}):totable())
    assert.are.same({{9, 9, 9}, {9, 1, 2}}, F.pad(dm.tensor({{1.0, 2.0}}), {1, 0, 1, 0}, "constant", 9):totable())
  end)
end)

describe("padding modules", function ()
  it("ZeroPad2d and ConstantPad2d pad with zeros and value", function ()
    local x = dm.arange(9):double():view(1, 1, 3, 3)
    local z = nn.ZeroPad2d(1)(x)
    assert.are.same({1, 1, 5, 5}, z:size())
    assert.are.equal(0, z:sum():item() - x:sum():item())
    local c = nn.ConstantPad2d({1, 0, 0, 2}, 2.5)(x)
    assert.are.same({1, 1, 5, 4}, c:size())
    assert.are.same({2.5, 0, 1, 2}, c[1][1][1]:totable())
    assert.are.same({2.5, 2.5, 2.5, 2.5}, c[1][1][5]:totable())
    assert.are.equal("ZeroPad2d(padding=(1, 1, 1, 1), value=0.0)", tostring(nn.ZeroPad2d(1)))
    assert.are.equal("ConstantPad2d(padding=(1, 0, 0, 2), value=2.5)",
                     tostring(nn.ConstantPad2d({1, 0, 0, 2}, 2.5)))
  end)
  it("ReflectionPad2d and ReplicationPad2d", function ()
    local x = dm.arange(9):double():view(1, 1, 3, 3)
    assert.are.same({4, 3, 4, 5, 4}, nn.ReflectionPad2d(1)(x)[1][1][1]:totable())
    assert.are.same({0, 0, 1, 2}, nn.ReplicationPad2d({1, 0, 0, 1})(x)[1][1][1]:totable())
    assert.are.equal("ReflectionPad2d((2, 2, 2, 2))", tostring(nn.ReflectionPad2d(2)))
    assert.are.equal("ReplicationPad2d((1, 0, 0, 1))", tostring(nn.ReplicationPad2d({1, 0, 0, 1})))
  end)
  it("rejects a bad padding", function ()
    assert.matches("ZeroPad2d: padding must be an integer or a list of 4 integers",
                   util.err(nn.ZeroPad2d, {1, 2}), nil, true)
    assert.matches("ConstantPad2d: value must be a number", util.err(nn.ConstantPad2d, 1), nil, true)
  end)
end)

describe("pad errors", function ()
  it("name pad, the argument and the shapes", function ()
    local x = dm.zeros(1, 1, 3, 3)
    assert.are.equal("pad: padding size 3 should be less than the corresponding input dimension, "
      .. "but got padding (3, 3) at dimension 4 of input [1 x 1 x 3 x 3]",
      util.err(F.pad, x, {3, 3, 0, 0}, "reflect"))
    assert.are.equal("pad: padding length must be divisible by 2, got 3 values",
      util.err(F.pad, x, {1, 1, 1}))
    assert.matches("pad: padding length too large", util.err(F.pad, dm.zeros(2), {1, 1, 1, 1}),
                   nil, true)
    assert.matches("pad: reflect padding takes 2, 4 or 6 values for the last 1, 2 or 3 dims of a "
      .. "2D or 3D input", util.err(F.pad, x, {1, 1}, "reflect"), nil, true)
    assert.matches("[1 x 1 x 3 x 3]", util.err(F.pad, x, {1, 1}, "replicate"), nil, true)
    assert.matches("pad: padding mode \"reflect\" doesn't take in value argument",
                   util.err(F.pad, x, {1, 1, 1, 1}, "reflect", 1), nil, true)
    assert.matches("pad: circular padding 4 wraps around more than once",
                   util.err(F.pad, x, {4, 0, 0, 0}, "circular"), nil, true)
    assert.matches("pad: circular padding (-2, -1) at dimension 4 of input [1 x 1 x 3 x 3] crops "
      .. "the whole dimension", util.err(F.pad, x, {-2, -1, 0, 0}, "circular"), nil, true)
    assert.matches("pad: unknown padding mode 'mirror'", util.err(F.pad, x, {1, 1}, "mirror"),
                   nil, true)
    assert.matches("pad: argument 'pad' must be a list of integers, got number",
                   util.err(F.pad, x, 1), nil, true)
    assert.matches("pad: argument 'pad' must be a list of integers, got string at position 2",
                   util.err(F.pad, x, {1, "a"}), nil, true)
    assert.matches("pad: padding (-2, -2) at dimension 4 of input [1 x 1 x 3 x 3] leaves size -1",
                   util.err(F.pad, x, {-2, -2}), nil, true)
    assert.matches("pad: expected a float32 or float64 input, got int64",
                   util.err(F.pad, dm.tensor({1, 2}, { dtype = dm.int64 }), {1, 1}), nil, true)
  end)
end)

describe("pad memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
