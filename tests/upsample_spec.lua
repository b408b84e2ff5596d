-- F.interpolate (dm.upsample), F.pixel_shuffle, F.pixel_unshuffle and their modules against
-- PyTorch 1.13: nearest, linear and bilinear by size and by scale_factor (align_corners,
-- recompute_scale_factor), transposed inputs, forward and the gradient of sum(y * w), from
-- tests/fixtures/upsample_cases.lua (regenerate with /usr/bin/python3
-- tests/fixtures/gen_upsample.py); module reprs and error messages.

local dm = require "deepmoon"
local nn = dm.nn
local F = nn.functional

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/upsample_cases.lua")
local F64 = { dtype = dm.float64 }

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end

local function call (c, xin, positional)
  if c.shuffle then return F.pixel_shuffle(xin, c.shuffle) end
  if c.unshuffle then return F.pixel_unshuffle(xin, c.unshuffle) end
  if positional then
    return F.interpolate(xin, c.size, c.scale_factor, c.mode, c.align_corners,
                         c.recompute_scale_factor)
  end
  return F.interpolate(xin, { size = c.size, scale_factor = c.scale_factor, mode = c.mode,
                              align_corners = c.align_corners,
                              recompute_scale_factor = c.recompute_scale_factor })
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("F.interpolate against PyTorch 1.13", function ()
  for _, c in ipairs(fixture) do
    it(c.name .. " (float64, forward and gradient)", function ()
      local x = T(c.x):requires_grad_()
      local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
      if c.transpose then assert.is_false(xin:is_contiguous()) end
      local y = call(c, xin, false)
      assert.are.same(c.y.shape, y:size())
      util.assert_close(c.y, y, 1e-14, "forward")
      if not (c.shuffle or c.unshuffle) then assert.are.equal(c.grad_fn, y.grad_fn) end
      local w = T(c.w);
      (y * w):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-12, "gradient")
    end)
    it(c.name .. " (float32, positional)", function ()
      local x = T(c.x, {}):requires_grad_()
      local xin = c.transpose and x:transpose(c.transpose[1], c.transpose[2]) or x
      local y = call(c, xin, true)
      assert.are.equal(dm.float32, y.dtype)
      util.assert_close(c.y, y, 1e-5, "forward");
      (y * T(c.w, {})):sum():backward()
      util.assert_close(c.grad, x.grad, 1e-4, "gradient")
    end)
  end
end)

describe("upsampling modules", function ()
  it("print as PyTorch 1.13 prints them", function ()
    assert.are.equal("Upsample(scale_factor=2.0, mode=nearest)",
                     tostring(nn.Upsample({ scale_factor = 2 })))
    assert.are.equal("Upsample(size=(3, 4), mode=bilinear)",
                     tostring(nn.Upsample({3, 4}, nil, "bilinear", true)))
    assert.are.equal("UpsamplingNearest2d(scale_factor=2.0, mode=nearest)",
                     tostring(nn.UpsamplingNearest2d(nil, 2)))
    assert.are.equal("UpsamplingBilinear2d(size=3, mode=bilinear)",
                     tostring(nn.UpsamplingBilinear2d(3)))
    assert.are.equal("PixelShuffle(upscale_factor=2)", tostring(nn.PixelShuffle(2)))
    assert.are.equal("PixelUnshuffle(downscale_factor=3)", tostring(nn.PixelUnshuffle(3)))
  end)
  it("compute what F computes", function ()
    local x = dm.arange(6):double():view(1, 1, 2, 3)
    assert.are.same(F.interpolate(x, { scale_factor = 2 }):totable(),
                    nn.Upsample({ scale_factor = 2 })(x):totable())
    assert.are.same(F.interpolate(x, { size = {3, 5} }):totable(),
                    nn.UpsamplingNearest2d({3, 5})(x):totable())
    assert.are.same(F.interpolate(x, {3, 5}, nil, "bilinear", true):totable(),
                    nn.UpsamplingBilinear2d({3, 5})(x):totable())
    assert.are.same({0, 0.5, 1, 1.5, 2}, nn.UpsamplingBilinear2d({3, 5})(x)[1][1][1]:totable())
    local p = dm.arange(16):double():view(1, 4, 2, 2)
    assert.are.same(p:totable(), nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(p)):totable())
    assert.are.same({0, 4, 1, 5}, nn.PixelShuffle(2)(p)[1][1][1]:totable())
  end)
end)

describe("interpolate errors", function ()
  it("name interpolate, the argument and the shapes", function ()
    local x = dm.zeros(1, 1, 3, 3)
    assert.are.equal("interpolate: expected size or scale_factor, not both",
                     util.err(F.interpolate, x, { size = 4, scale_factor = 2 }))
    assert.are.equal("interpolate: expected size or scale_factor, got neither",
                     util.err(F.interpolate, x))
    assert.are.equal("interpolate: bilinear mode expects a 4D [N x C x H x W] input, got "
      .. "[1 x 3 x 3]", util.err(F.interpolate, dm.zeros(1, 3, 3), 4, nil, "bilinear"))
    assert.are.equal("interpolate: linear mode expects a 3D [N x C x L] input, got "
      .. "[1 x 1 x 3 x 3]", util.err(F.interpolate, x, 4, nil, "linear"))
    assert.matches("interpolate: nearest mode expects a 3D [N x C x L] or 4D [N x C x H x W] "
      .. "input, got [3 x 3]", util.err(F.interpolate, dm.zeros(3, 3), 4), nil, true)
    assert.matches("interpolate: size must be a number or a list of 2 (the spatial dims of "
      .. "input [1 x 1 x 3 x 3]), got a list of 3", util.err(F.interpolate, x, {1, 2, 3}),
      nil, true)
    assert.matches("interpolate: align_corners option can only be set with the interpolating "
      .. "modes", util.err(F.interpolate, x, 4, nil, "nearest", true), nil, true)
    assert.matches("interpolate: unsupported mode 'bicubic'",
                   util.err(F.interpolate, x, 4, nil, "bicubic"), nil, true)
    assert.matches("interpolate: input and output sizes should be greater than 0",
                   util.err(F.interpolate, x, { scale_factor = 0.2 }), nil, true)
    assert.matches("interpolate: expected a float32 or float64 input, got int64",
      util.err(F.interpolate, dm.zeros(1, 1, 2, 2):long(), 4), nil, true)
    assert.matches("interpolate: unknown option 'sizes'",
                   util.err(F.interpolate, x, { sizes = 4 }), nil, true)
  end)
  it("pixel_shuffle and pixel_unshuffle name the sizes not divisible", function ()
    assert.matches("pixel_shuffle expects its input's 'channel' dimension to be divisible by "
      .. "the square of upscale_factor, but input.size(-3)=3 is not divisible by 4",
      util.err(F.pixel_shuffle, dm.zeros(1, 3, 2, 2), 2), nil, true)
    assert.matches("pixel_unshuffle expects height to be divisible by downscale_factor, but "
      .. "input.size(-2)=3 is not divisible by 2",
      util.err(F.pixel_unshuffle, dm.zeros(1, 1, 3, 4), 2), nil, true)
    assert.matches("pixel_unshuffle expects width to be divisible by downscale_factor, but "
      .. "input.size(-1)=5 is not divisible by 2",
      util.err(F.pixel_unshuffle, dm.zeros(1, 1, 4, 5), 2), nil, true)
    assert.matches("pixel_shuffle: expected input of at least 3 dims",
                   util.err(F.pixel_shuffle, dm.zeros(4, 2), 2), nil, true)
    assert.matches("PixelShuffle: upscale_factor must be a positive integer",
                   util.err(nn.PixelShuffle, 1.5), nil, true)
  end)
end)

describe("upsample memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
