-- F.max_pool1d/2d, F.avg_pool1d/2d (dm.max_pool2d, dm.avg_pool2d) and nn.MaxPool1d/2d,
-- nn.AvgPool1d/2d against PyTorch 1.13: every option, unbatched and transposed inputs, values,
-- 1-based indices and the gradient of sum(y * w), from tests/fixtures/pool_cases.lua
-- (regenerate with /usr/bin/python3 tests/fixtures/gen_pool.py); reprs and error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/pool_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function run (c, opts)
  local x = T(c.x, opts):requires_grad_()
  local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
  if c.transpose then assert.is_false(xin:is_contiguous()) end
  local o = util.copy(c.opts)
  if c.indices then o.return_indices = true end
  local y, ix = F[c.fn](xin, c.kernel_size, o)
  return x, y, ix
end

describe("pooling against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.name .. " (float64, forward, indices and gradient)", function ()
      local x, y, ix = run(c)
      assert.are.same(c.y.shape, y:size())
      util.assert_close(c.y, y, 1e-14, "forward")
      if c.fn:match("2d$") then assert.are.equal(c.grad_fn, y.grad_fn) end
      if c.indices then
        assert.are.equal(dm.int64, ix.dtype)
        assert.are.same(c.indices.shape, ix:size())
        local got = ix:contiguous():view(-1):totable()
        for i, v in ipairs(c.indices.data) do assert.are.equal(math.tointeger(v), got[i]) end
      end
      (y * T(c.w)):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-12, "gradient")
    end)
    it(c.name .. " (float32)", function ()
      local x, y = run(c, {})
      assert.are.equal(dm.float32, y.dtype)
      util.assert_close(c.y, y, 1e-6, "forward");
      (y * T(c.w, {})):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-5, "gradient")
    end)
  end

  it("max pool propagates NaN (float32 2x2 fast path and the general kernel)", function ()
    local nan = 0 / 0
    for _, dt in ipairs({ dm.float32, dm.float64 }) do
      local x = dm.tensor({ 1, nan, 3, 4, 5, 6, 7, 8 }, { dtype = dt }):view(1, 1, 2, 4)
      local y, i = F.max_pool2d(x, 2, { return_indices = true })
      local v = y:view(-1):totable()
      assert.is_true(v[1] ~= v[1])
      assert.are.equal(8, v[2])
      assert.are.same({ 2, 8 }, i:view(-1):totable())
      local y3 = F.max_pool2d(x, { 2, 3 }, 1)
      local v3 = y3:view(-1):totable()
      assert.is_true(v3[1] ~= v3[1] and v3[2] ~= v3[2])
    end
  end)

  it("the float32 2x2 stride-2 path agrees with the general kernel", function ()
    local x = dm.randn(3, 4, 10, 12)
    local a, ia = F.max_pool2d(x, 2, { return_indices = true })
    local b, ib = F.max_pool2d(x:double(), 2, { return_indices = true })
    assert.are.same(b:float():totable(), a:totable())
    assert.are.same(ib:totable(), ia:totable())
  end)
end)

describe("max_unpool2d against PyTorch 1.13", function ()
  for _, c in ipairs(fixture.unpool) do
    for _, dt in ipairs({ "float64", "float32" }) do
      it(c.name .. " (" .. dt .. ", forward and gradient)", function ()
        local opts = dt == "float64" and F64 or {}
        local x = T(c.x, opts):requires_grad_()
        local ix = dm.tensor(c.indices.data, { dtype = dm.int64 }):view(c.indices.shape)
        local y = F.max_unpool2d(x, ix, c.kernel_size, c.stride, c.padding, c.output_size)
        assert.are.same(c.y.shape, y:size())
        util.assert_close(c.y, y, dt == "float64" and 0 or 1e-6, "forward")
        assert.are.equal(c.grad_fn, y.grad_fn);
        (y * T(c.w, opts)):sum():backward()
        util.assert_close(c.grad, x.grad, dt == "float64" and 1e-15 or 1e-5, "gradient")
      end)
    end
  end
  it("nn.MaxUnpool2d inverts nn.MaxPool2d's indices", function ()
    local x = dm.arange(16):double():view(1, 1, 4, 4)
    local y, i = nn.MaxPool2d(2, { return_indices = true })(x)
    local u = nn.MaxUnpool2d(2)(y, i)
    assert.are.same({ { { { 0, 0, 0, 0 }, { 0, 5, 0, 7 }, { 0, 0, 0, 0 }, { 0, 13, 0, 15 } } } },
                    u:totable())
  end)
end)

describe("pooling modules", function ()
  it("MaxPool2d and MaxPool1d: forward, return_indices, repr", function ()
    local x = dm.arange(16):double():view(1, 1, 4, 4)
    assert.are.same({ { { { 5, 7 }, { 13, 15 } } } }, nn.MaxPool2d(2)(x):totable())
    local y, i = nn.MaxPool2d(2, { return_indices = true })(x)
    assert.are.same({ { { { 6, 8 }, { 14, 16 } } } }, i:totable())
    assert.are.same({ { 1, 3, 5 } }, nn.MaxPool1d(2)(dm.arange(6):double():view(1, 6)):totable())
    assert.are.equal("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
                     tostring(nn.MaxPool2d(2)))
    assert.are.equal("MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, "
                     .. "ceil_mode=True)", tostring(nn.MaxPool2d({ 3, 2 }, 1, 1, { ceil_mode = true })))
    assert.are.equal("MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)",
                     tostring(nn.MaxPool1d(3, 2, 1)))
  end)
  it("AdaptiveAvgPool2d and AdaptiveMaxPool2d: sizes with None, return_indices, repr", function ()
    local x = dm.arange(20):double():view(1, 4, 5)
    assert.are.same({ { { 3.5, 5.5 }, { 13.5, 15.5 } } }, nn.AdaptiveAvgPool2d(2)(x):totable())
    assert.are.same({ 1, 4, 3 }, nn.AdaptiveAvgPool2d({ nil, 3 })(x):size())
    assert.are.same({ 1, 2, 5 }, nn.AdaptiveMaxPool2d({ 2, false })(x):size())
    local y, i = nn.AdaptiveMaxPool2d(1, true)(x)
    assert.are.same({ { { 19 } } }, y:totable())
    assert.are.same({ { { 20 } } }, i:totable())
    assert.are.equal("AdaptiveAvgPool2d(output_size=(None, 7))", tostring(nn.AdaptiveAvgPool2d({ nil, 7 })))
    assert.are.equal("AdaptiveAvgPool2d(output_size=(5, 7))", tostring(nn.AdaptiveAvgPool2d({ 5, 7 })))
    assert.are.equal("AdaptiveMaxPool2d(output_size=5)", tostring(nn.AdaptiveMaxPool2d(5)))
    assert.are.equal("MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))",
                     tostring(nn.MaxUnpool2d(2)))
  end)
  it("AvgPool2d and AvgPool1d: forward, options, repr", function ()
    local x = dm.arange(16):double():view(1, 4, 4)
    assert.are.same({ { { 2.5, 4.5 }, { 10.5, 12.5 } } }, nn.AvgPool2d(2)(x):totable())
    assert.are.same({ { { 5, 9 }, { 21, 25 } } },
                    nn.AvgPool2d(2, { divisor_override = 2 })(x):totable())
    assert.are.same({ { 0.5, 2.5, 4.5 } }, nn.AvgPool1d(2)(dm.arange(6):double():view(1, 6)):totable())
    assert.are.equal("AvgPool2d(kernel_size=3, stride=(2, 1), padding=0)",
                     tostring(nn.AvgPool2d(3, { 2, 1 })))
    assert.are.equal("AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))",
                     tostring(nn.AvgPool1d(3)))
  end)
end)

describe("pooling errors", function ()
  it("name the layer or function, the argument and the shapes", function ()
    assert.are.equal("MaxPool2d: expected 3D or 4D input, got [2 x 3]",
                     util.err(nn.MaxPool2d(2), dm.zeros(2, 3)))
    assert.are.equal("AvgPool1d: expected 2D or 3D input, got [2 x 3 x 4 x 5]",
                     util.err(nn.AvgPool1d(2), dm.zeros(2, 3, 4, 5)))
    assert.are.equal("max_pool2d: expected 3D or 4D input, got [5]",
                     util.err(F.max_pool2d, dm.zeros(5), 2))
    assert.matches("max_pool2d: pad should be at most half of kernel size, but got padding "
                   .. "(2, 2) and kernel_size (3, 3)",
                   util.err(F.max_pool2d, dm.zeros(1, 1, 8, 8), 3, 1, 2), nil, true)
    assert.matches("max_pool2d: input [1 x 1 x 2 x 2] is too small for kernel_size (3, 3) with "
                   .. "padding (0, 0) and dilation (1, 1): output size 0 x 0",
                   util.err(F.max_pool2d, dm.zeros(1, 1, 2, 2), 3), nil, true)
    assert.matches("avg_pool2d: input [1 x 2 x 2] is too small for kernel_size (5, 5) with "
                   .. "padding (0, 0) and dilation (1, 1): output size 0 x 0",
                   util.err(F.avg_pool2d, dm.zeros(1, 2, 2), 5), nil, true)
    assert.matches("kernel_size, stride and dilation must be greater than zero",
                   util.err(F.max_pool2d, dm.zeros(1, 1, 4, 4), 2, 0), nil, true)
    assert.matches("avg_pool2d: divisor must be not zero",
                   util.err(F.avg_pool2d, dm.zeros(1, 1, 4, 4), 2, { divisor_override = 0 }),
                   nil, true)
    assert.matches("MaxPool2d: kernel_size must be an integer or a list of 2 integers, got a "
                   .. "list of 3", util.err(nn.MaxPool2d, { 1, 2, 3 }), nil, true)
    assert.matches("max_pool2d: expected a float32 or float64 input, got int64",
                   util.err(F.max_pool2d, dm.tensor({ 1, 2, 3, 4 }, { dtype = dm.int64 })
                            :view(1, 2, 2), 2), nil, true)
    assert.are.equal("AdaptiveAvgPool2d: expected 3D or 4D input, got [4]",
                     util.err(nn.AdaptiveAvgPool2d(2), dm.zeros(4)))
    assert.matches("adaptive_max_pool2d: output_size must be positive, got (0, 2)",
                   util.err(F.adaptive_max_pool2d, dm.zeros(1, 3, 3), { 0, 2 }), nil, true)
    assert.matches("adaptive_avg_pool2d: expected input with non-zero sizes, got [1 x 0 x 3]",
                   util.err(F.adaptive_avg_pool2d, dm.zeros(1, 0, 3), 2), nil, true)
    -- increasing values: every window's maximum is its last element, so the lower windows'
    -- indices (17, 19) lie past the 4 x 4 default output whatever the random state
    local y, i = F.max_pool2d(dm.arange(1, 21):float():view(1, 1, 4, 5), 2, { return_indices = true })
    assert.matches("max_unpool2d: found an invalid max index",
                   util.err(F.max_unpool2d, y, i, 2), nil, true)
    assert.matches("max_unpool2d: invalid output_size [9 x 9]",
                   util.err(F.max_unpool2d, y, i, 2, { output_size = { 9, 9 } }), nil, true)
    assert.matches("max_unpool2d: expected indices of the input's shape [1 x 1 x 2 x 2], got [1 x 4]",
                   util.err(F.max_unpool2d, y, i:view(1, 4), 2), nil, true)
  end)
end)

describe("pool memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
