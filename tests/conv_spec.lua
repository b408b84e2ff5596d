-- nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d (and F.conv1d, F.conv2d, F.conv_transpose2d under
-- them) against PyTorch 1.13: every option, unbatched and non-contiguous inputs, forward and
-- the gradients of sum(y * gy) for x, weight and bias, in float64 and float32, from
-- tests/fixtures/conv_cases.lua (regenerate with /usr/bin/python3 tests/fixtures/gen_conv.py);
-- reprs, default init bounds, nn.init's fans of 4-dim weights and the error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/conv_cases.lua")
local folds = dofile(dir .. "fixtures/fold_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end

-- |got - want| <= atol + rtol |want|
local function close (want, t, atol, rtol, what)
  local got = t:double():values()
  assert(#want.data == #got, what .. ": element count " .. #got .. ", PyTorch has " .. #want.data)
  for i = 1, #got do
    local w = want.data[i]
    if math.abs(got[i] - w) > atol + rtol * math.abs(w) then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, got[i], w), 2)
    end
  end
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function run (c, opts, atol, rtol)
  local args = {}
  for i, v in ipairs(c.args) do args[i] = v end
  args[#args + 1] = c.opts
  local m = nn[c.class](table.unpack(args))
  assert.are.equal(c.repr, tostring(m))
  m.weight = nn.Parameter(T(c.weight, opts))
  if c.bias then m.bias = nn.Parameter(T(c.bias, opts)) end
  local x = T(c.x, opts):requires_grad_()
  local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
  if c.transpose then assert.is_false(xin:is_contiguous()) end
  local y = m(xin)
  assert.are.same(c.y.shape, y:size())
  assert.are.equal("ConvolutionBackward0", y.grad_fn)
  close(c.y, y, atol, rtol, "forward");
  (y * T(c.gy, opts)):sum():backward()
  close(c.gx, x.grad, atol, rtol, "grad input")
  close(c.gw, m.weight.grad, atol, rtol, "grad weight")
  if c.bias then close(c.gb, m.bias.grad, atol, rtol, "grad bias") end
end

describe("convolutions against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.name .. " (float64)", function () run(c, F64, 1e-12, 1e-10) end)
    it(c.name .. " (float32)", function () run(c, {}, 1e-5, 1e-4) end)
  end
end)

describe("nn.Unfold and nn.Fold against PyTorch 1.13", function ()
  for _, c in ipairs(folds) do
    for _, dt in ipairs({ { F64, 1e-12, 1e-10, "float64" }, { {}, 1e-5, 1e-4, "float32" } }) do
      it(c.name .. " (" .. dt[4] .. ")", function ()
        local args = {}
        for i, v in ipairs(c.args) do args[i] = v end
        args[#args + 1] = c.opts
        local m = nn[c.class](table.unpack(args))
        assert.are.equal(c.repr, tostring(m))
        local x = T(c.x, dt[1]):requires_grad_()
        local y = m(x)
        assert.are.same(c.y.shape, y:size())
        close(c.y, y, dt[2], dt[3], "forward");
        (y * T(c.gy, dt[1])):sum():backward()
        close(c.gx, x.grad, dt[2], dt[3], "grad input")
      end)
    end
  end

  it("unfold then fold counts each pixel's blocks", function ()
    local x = dm.ones(1, 1, 3, 3)
    local y = F.fold(F.unfold(x, 2), {3, 3}, 2)
    assert.are.same({{{{1, 2, 1}, {2, 4, 2}, {1, 2, 1}}}}, y:totable())
  end)

  it("raise clear errors", function ()
    assert.matches("unfold: expected input [N x C x H x W] or [C x H x W], got [3 x 4]",
                   util.err(F.unfold, dm.randn(3, 4), 2), nil, true)
    assert.matches("fold: expected input with 12 blocks (3 x 4) in its last dim, got [1 x 4 x 5]",
                   util.err(F.fold, dm.randn(1, 4, 5), {4, 5}, 2), nil, true)
    assert.matches("fold: expected input [N x C*4 x L] or [C*4 x L] (kernel_size (2, 2)), got "
                   .. "[1 x 5 x 12]", util.err(F.fold, dm.randn(1, 5, 12), {4, 5}, 2), nil, true)
  end)
end)

describe("convolution layers", function ()
  it("draw PyTorch's default init bounds (1 / sqrt(fan_in))", function ()
    local m = nn.Conv2d(4, 6, {3, 2}, { groups = 2 })
    assert.are.same({6, 2, 3, 2}, m.weight:size())
    local bound = 1 / math.sqrt(2 * 3 * 2)
    assert.is_true(m.weight:abs():max():item() <= bound)
    assert.is_true(m.bias:abs():max():item() <= bound)
    local t = nn.ConvTranspose2d(4, 6, 3, { groups = 2 })
    assert.are.same({4, 3, 3, 3}, t.weight:size())
    assert.are.same({6}, t.bias:size())
    assert.is_true(t.weight:abs():max():item() <= 1 / math.sqrt(27))
    local c1 = nn.Conv1d(3, 5, 4, { bias = false })
    assert.are.same({5, 3, 4}, c1.weight:size())
    assert.is_nil(c1.bias)
    local names = {}
    for name in pairs(nn.Conv2d(1, 2, 3):state_dict()) do names[#names + 1] = name end
    table.sort(names)
    assert.are.same({"bias", "weight"}, names)
  end)

  it("nn.init computes the fans of 4-dim weights (fan_in = size(2) x receptive field)", function ()
    local fi, fo = nn.init.calculate_fan_in_and_fan_out(dm.empty(6, 3, 5, 5))
    assert.are.equal(75, fi)
    assert.are.equal(150, fo)
    fi, fo = nn.init._calculate_fan_in_and_fan_out(dm.empty(4, 2, 3))
    assert.are.equal(6, fi)
    assert.are.equal(12, fo)
  end)

  it("F.conv2d takes positional and option arguments", function ()
    local x = dm.randn(1, 2, 5, 5)
    local w = dm.randn(4, 1, 3, 3)
    local a = F.conv2d(x, w, nil, 2, 1, 1, 2)
    local b = F.conv2d(x, w, { stride = 2, padding = 1, groups = 2 })
    assert.are.same({1, 4, 3, 3}, a:size())
    assert.is_true((a - b):abs():max():item() == 0)
    local s = F.conv2d(x, dm.randn(3, 2, 2, 2), { padding = "same" })
    assert.are.same({1, 3, 5, 5}, s:size())
  end)

  it("raise clear errors", function ()
    assert.matches("Conv2d: expected input [N x 3 x H x W], got [8 x 1 x 28 x 28]",
                   util.err(function () return nn.Conv2d(3, 6, 5)(dm.randn(8, 1, 28, 28)) end),
                   nil, true)
    assert.matches("Conv1d: expected input [N x 2 x L] or [2 x L], got [2]",
                   util.err(function () return nn.Conv1d(2, 6, 3)(dm.randn(2)) end), nil, true)
    assert.matches("Conv2d: in_channels (3) must be divisible by groups (2)",
                   util.err(nn.Conv2d, 3, 4, 3, { groups = 2 }), nil, true)
    assert.matches("ConvTranspose2d: out_channels (3) must be divisible by groups (2)",
                   util.err(nn.ConvTranspose2d, 4, 3, 3, { groups = 2 }), nil, true)
    assert.matches("conv2d: kernel size 5 (dilated 5) can't be greater than the padded input "
      .. "size 3, got input [1 x 1 x 3 x 3], weight [1 x 1 x 5 x 5]",
      util.err(F.conv2d, dm.randn(1, 1, 3, 3), dm.randn(1, 1, 5, 5)), nil, true)
    assert.matches("conv_transpose2d: output size is too small: -1, got input [1 x 1 x 1 x 1], "
                   .. "weight [1 x 1 x 1 x 1]",
                   util.err(F.conv_transpose2d, dm.randn(1, 1, 1, 1), dm.randn(1, 1, 1, 1),
                            { padding = 1 }), nil, true)
    assert.matches("conv2d: expected input with 4 channels (weight [6 x 2 x 3 x 3], groups 2), "
      .. "got input [1 x 3 x 5 x 5]", util.err(F.conv2d, dm.randn(1, 3, 5, 5),
      dm.randn(6, 2, 3, 3), { groups = 2 }), nil, true)
    assert.matches("conv2d: expected a 3D (unbatched) or 4D (batched) input, got input [5 x 5]",
                   util.err(F.conv2d, dm.randn(5, 5), dm.randn(1, 1, 3, 3)), nil, true)
    assert.matches("conv2d: out_channels (5) must be divisible by groups (2)",
                   util.err(F.conv2d, dm.randn(1, 4, 5, 5), dm.randn(5, 2, 3, 3), { groups = 2 }),
                   nil, true)
    assert.matches("conv2d: expected bias [2], got bias [3]",
                   util.err(F.conv2d, dm.randn(1, 1, 5, 5), dm.randn(2, 1, 3, 3), dm.randn(3)),
                   nil, true)
    assert.matches("conv2d: padding='same' is not supported for strided convolutions",
                   util.err(F.conv2d, dm.randn(1, 1, 5, 5), dm.randn(2, 1, 3, 3), nil, 2, "same"),
                   nil, true)
    assert.matches("Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
      .. "got 'mirror'", util.err(nn.Conv2d, 1, 1, 3, { padding_mode = "mirror" }), nil, true)
    assert.matches("conv2d: expected a float32 or float64 input, got int64",
                   util.err(F.conv2d, dm.tensor({{{{1}}}}, { dtype = dm.int64 }),
                            dm.randn(1, 1, 1, 1)), nil, true)
  end)
end)

describe("conv memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
