-- Bad input to the vision layers: wrong channel counts, inputs of the wrong rank, kernels
-- larger than the padded input, groups that do not divide the channels, output sizes below
-- 1.  Each error names the layer (or, for the functional forms, the function) and the shapes
-- as the layer sees them (a 1-d pool speaks of [N x C x L], not of the 2-d op it runs), and
-- points at the caller's line.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional
local Z = dm.zeros
local L = dm.int64

local THIS = debug.getinfo(1, "S").short_src

-- { description, function raising the error, the message without its position }
local CASES = {
  -- conv
  { "Conv2d channels", function () nn.Conv2d(3, 8, 3)(Z(8, 1, 28, 28)) end,
    "Conv2d: expected input [N x 3 x H x W], got [8 x 1 x 28 x 28]" },
  { "Conv2d rank", function () nn.Conv2d(3, 8, 3)(Z(28, 28)) end,
    "Conv2d: expected input [N x 3 x H x W] or [3 x H x W], got [28 x 28]" },
  { "Conv2d unbatched channels", function () nn.Conv2d(3, 8, 3)(Z(1, 28, 28)) end,
    "Conv2d: expected input [3 x H x W], got [1 x 28 x 28]" },
  { "Conv2d kernel", function () nn.Conv2d(3, 8, 5)(Z(2, 3, 4, 9)) end,
    "Conv2d: kernel_size (5, 5) is larger than the padded input 4 x 9 (input [2 x 3 x 4 x 9], padding (0, 0))" },
  { "Conv2d kernel padded", function () nn.Conv2d(3, 8, 5, { padding = 1 })(Z(2, 3, 2, 9)) end,
    "Conv2d: kernel_size (5, 5) is larger than the padded input 4 x 11 (input [2 x 3 x 2 x 9], padding (1, 1))" },
  { "Conv2d kernel dilated", function () nn.Conv2d(3, 8, 3, { dilation = 3 })(Z(2, 3, 6, 6)) end,
    "Conv2d: kernel_size (3, 3) (dilated (7, 7)) is larger than the padded input 6 x 6 (input [2 x 3 x 6 x 6], padding (0, 0))" },
  { "Conv2d reflect", function () nn.Conv2d(3, 8, 3, { padding = 3, padding_mode = "reflect" })(Z(1, 3, 2, 2)) end,
    "Conv2d: padding size 3 should be less than the corresponding input dimension, but got padding (3, 3) at dimension 4 of input [1 x 3 x 2 x 2]" },
  { "Conv2d groups in", function () nn.Conv2d(3, 8, 3, { groups = 2 }) end,
    "Conv2d: in_channels (3) must be divisible by groups (2)" },
  { "Conv2d groups out", function () nn.Conv2d(4, 6, 3, { groups = 4 }) end,
    "Conv2d: out_channels (6) must be divisible by groups (4)" },
  { "Conv1d channels", function () nn.Conv1d(4, 8, 3)(Z(2, 3, 10)) end,
    "Conv1d: expected input [N x 4 x L], got [2 x 3 x 10]" },
  { "Conv1d rank", function () nn.Conv1d(4, 8, 3)(Z(2, 4, 10, 10)) end,
    "Conv1d: expected input [N x 4 x L] or [4 x L], got [2 x 4 x 10 x 10]" },
  { "Conv1d kernel", function () nn.Conv1d(4, 8, 5)(Z(2, 4, 3)) end,
    "Conv1d: kernel_size 5 is larger than the padded input 3 (input [2 x 4 x 3], padding 0)" },
  { "Conv1d groups", function () nn.Conv1d(4, 6, 3, { groups = 3 }) end,
    "Conv1d: in_channels (4) must be divisible by groups (3)" },
  { "ConvT channels", function () nn.ConvTranspose2d(3, 8, 3)(Z(1, 2, 4, 4)) end,
    "ConvTranspose2d: expected input [N x 3 x H x W], got [1 x 2 x 4 x 4]" },
  { "ConvT rank", function () nn.ConvTranspose2d(3, 8, 3)(Z(3, 4)) end,
    "ConvTranspose2d: expected input [N x 3 x H x W] or [3 x H x W], got [3 x 4]" },
  { "ConvT out", function () nn.ConvTranspose2d(3, 8, 3, { padding = 3 })(Z(1, 3, 1, 1)) end,
    "ConvTranspose2d: output size -3 x -3 is below 1 (input [1 x 3 x 1 x 1], kernel_size (3, 3), stride (1, 1), padding (3, 3))" },
  { "ConvT outpad", function () nn.ConvTranspose2d(3, 8, 3, { stride = 2, output_padding = 2 })(Z(1, 3, 4, 4)) end,
    "ConvTranspose2d: output_padding (2, 2) must be smaller than either stride (2, 2) or dilation (1, 1) (input [1 x 3 x 4 x 4])" },
  { "ConvT groups", function () nn.ConvTranspose2d(3, 8, 3, { groups = 2 }) end,
    "ConvTranspose2d: in_channels (3) must be divisible by groups (2)" },
  { "F.conv2d channels", function () F.conv2d(Z(1, 3, 4, 4), Z(8, 2, 3, 3)) end,
    "conv2d: expected input with 2 channels (weight [8 x 2 x 3 x 3], groups 1), got input [1 x 3 x 4 x 4]" },
  { "F.conv2d rank", function () F.conv2d(Z(4, 4), Z(8, 3, 3, 3)) end,
    "conv2d: expected a 3D (unbatched) or 4D (batched) input, got input [4 x 4]" },
  { "F.conv2d kernel", function () F.conv2d(Z(1, 3, 2, 2), Z(8, 3, 3, 3)) end,
    "conv2d: kernel size 3 (dilated 3) can't be greater than the padded input size 2, got input [1 x 3 x 2 x 2], weight [8 x 3 x 3 x 3]" },
  { "F.conv2d groups", function () F.conv2d(Z(1, 4, 4, 4), Z(8, 4, 3, 3), { groups = 3 }) end,
    "conv2d: out_channels (8) must be divisible by groups (3), got weight [8 x 4 x 3 x 3]" },
  { "F.conv1d kernel", function () F.conv1d(Z(1, 3, 2), Z(8, 3, 3)) end,
    "conv1d: kernel size 3 (dilated 3) can't be greater than the padded input size 2, got input [1 x 3 x 2], weight [8 x 3 x 3]" },
  { "F.conv_transpose2d out", function () F.conv_transpose2d(Z(1, 3, 1, 1), Z(3, 8, 3, 3), { padding = 3 }) end,
    "conv_transpose2d: output size is too small: -3, got input [1 x 3 x 1 x 1], weight [3 x 8 x 3 x 3]" },
  -- pooling
  { "MaxPool1d small", function () nn.MaxPool1d(3)(Z(1, 3, 2)) end,
    "MaxPool1d: input [1 x 3 x 2] is too small for kernel_size 3 with padding 0 and dilation 1: output size 0" },
  { "MaxPool1d rank", function () nn.MaxPool1d(3)(Z(1, 3, 2, 2)) end,
    "MaxPool1d: expected 2D or 3D input, got [1 x 3 x 2 x 2]" },
  { "MaxPool1d pad", function () nn.MaxPool1d(3, { padding = 2 })(Z(1, 3, 8)) end,
    "MaxPool1d: pad should be at most half of kernel size, but got padding 2 and kernel_size 3 (input [1 x 3 x 8])" },
  { "MaxPool1d dil", function () nn.MaxPool1d(2, { dilation = 4 })(Z(1, 3, 4)) end,
    "MaxPool1d: input [1 x 3 x 4] is too small for kernel_size 2 with padding 0 and dilation 4: output size 0" },
  { "MaxPool2d small", function () nn.MaxPool2d(3)(Z(1, 3, 2, 5)) end,
    "MaxPool2d: input [1 x 3 x 2 x 5] is too small for kernel_size (3, 3) with padding (0, 0) and dilation (1, 1): output size 0 x 1" },
  { "MaxPool2d rank", function () nn.MaxPool2d(3)(Z(5, 5)) end,
    "MaxPool2d: expected 3D or 4D input, got [5 x 5]" },
  { "MaxPool2d pad", function () nn.MaxPool2d(3, { padding = 2 })(Z(1, 3, 8, 8)) end,
    "MaxPool2d: pad should be at most half of kernel size, but got padding (2, 2) and kernel_size (3, 3) (input [1 x 3 x 8 x 8])" },
  { "MaxPool2d zero", function () nn.MaxPool2d(0)(Z(1, 3, 8, 8)) end,
    "MaxPool2d: kernel_size, stride and dilation must be greater than zero and padding non-negative, got kernel_size (0, 0), stride (0, 0), padding (0, 0), dilation (1, 1) (input [1 x 3 x 8 x 8])" },
  { "MaxPool2d empty", function () nn.MaxPool2d(2)(Z(1, 0, 8, 8)) end,
    "MaxPool2d: expected non-empty batch and channel dims, got input [1 x 0 x 8 x 8]" },
  { "AvgPool1d small", function () nn.AvgPool1d(4)(Z(2, 3)) end,
    "AvgPool1d: input [2 x 3] is too small for kernel_size 4 with padding 0 and dilation 1: output size 0" },
  { "AvgPool1d rank", function () nn.AvgPool1d(2)(Z(6)) end,
    "AvgPool1d: expected 2D or 3D input, got [6]" },
  { "AvgPool2d small", function () nn.AvgPool2d({ 2, 6 })(Z(3, 4, 4)) end,
    "AvgPool2d: input [3 x 4 x 4] is too small for kernel_size (2, 6) with padding (0, 0) and dilation (1, 1): output size 2 x 0" },
  { "AvgPool2d pad", function () nn.AvgPool2d(2, { padding = 2 })(Z(3, 4, 4)) end,
    "AvgPool2d: pad should be at most half of kernel size, but got padding (2, 2) and kernel_size (2, 2) (input [3 x 4 x 4])" },
  { "AvgPool2d divisor", function () nn.AvgPool2d(2, { divisor_override = 0 })(Z(1, 3, 4, 4)) end,
    "AvgPool2d: divisor must be not zero" },
  { "AdaptiveAvgPool2d rank", function () nn.AdaptiveAvgPool2d(2)(Z(4)) end,
    "AdaptiveAvgPool2d: expected 3D or 4D input, got [4]" },
  { "AdaptiveAvgPool2d out", function () nn.AdaptiveAvgPool2d({ 0, 2 })(Z(1, 3, 4, 4)) end,
    "AdaptiveAvgPool2d: output_size must be positive, got (0, 2) for input [1 x 3 x 4 x 4]" },
  { "AdaptiveAvgPool2d empty", function () nn.AdaptiveAvgPool2d(2)(Z(1, 3, 0, 4)) end,
    "AdaptiveAvgPool2d: expected input with non-zero sizes, got [1 x 3 x 0 x 4]" },
  { "AdaptiveMaxPool2d out", function () nn.AdaptiveMaxPool2d(0)(Z(3, 4, 4)) end,
    "AdaptiveMaxPool2d: output_size must be positive, got (0, 0) for input [3 x 4 x 4]" },
  { "AdaptiveMaxPool2d rank", function () nn.AdaptiveMaxPool2d(1)(Z(2, 3, 4, 4, 4)) end,
    "AdaptiveMaxPool2d: expected 3D or 4D input, got [2 x 3 x 4 x 4 x 4]" },
  { "MaxUnpool2d index", function () nn.MaxUnpool2d(2)(Z(1, 1, 2, 2), Z(1, 1, 2, 2):long()) end,
    "MaxUnpool2d: found an invalid max index 0 (indices are 1-based: 1 to 16 for output planes of size 4 x 4)" },
  { "MaxUnpool2d index high", function () nn.MaxUnpool2d(2)(Z(1, 1, 2, 2), dm.full({1, 1, 2, 2}, 17, { dtype = L })) end,
    "MaxUnpool2d: found an invalid max index 17 (indices are 1-based: 1 to 16 for output planes of size 4 x 4)" },
  { "MaxUnpool2d shape", function () nn.MaxUnpool2d(2)(Z(1, 1, 2, 2), Z(1, 4):long()) end,
    "MaxUnpool2d: expected indices of the input's shape [1 x 1 x 2 x 2], got [1 x 4]" },
  { "MaxUnpool2d rank", function () nn.MaxUnpool2d(2)(Z(2, 2), Z(2, 2):long()) end,
    "MaxUnpool2d: expected 3D or 4D input, got [2 x 2]" },
  { "F.max_pool1d small", function () F.max_pool1d(Z(1, 3, 2), 3) end,
    "max_pool1d: input [1 x 3 x 2] is too small for kernel_size 3 with padding 0 and dilation 1: output size 0" },
  { "F.max_pool1d pad", function () F.max_pool1d(Z(1, 3, 8), 3, 1, 2) end,
    "max_pool1d: pad should be at most half of kernel size, but got padding 2 and kernel_size 3 (input [1 x 3 x 8])" },
  { "F.max_pool2d small", function () F.max_pool2d(Z(1, 3, 2, 2), 3) end,
    "max_pool2d: input [1 x 3 x 2 x 2] is too small for kernel_size (3, 3) with padding (0, 0) and dilation (1, 1): output size 0 x 0" },
  { "F.avg_pool1d small", function () F.avg_pool1d(Z(1, 3, 2), 3) end,
    "avg_pool1d: input [1 x 3 x 2] is too small for kernel_size 3 with padding 0 and dilation 1: output size 0" },
  { "F.avg_pool1d rank", function () F.avg_pool1d(Z(3), 3) end,
    "avg_pool1d: expected 2D or 3D input, got [3]" },
  { "F.avg_pool2d small", function () F.avg_pool2d(Z(3, 2, 2), 3) end,
    "avg_pool2d: input [3 x 2 x 2] is too small for kernel_size (3, 3) with padding (0, 0) and dilation (1, 1): output size 0 x 0" },
  { "F.adaptive_avg_pool2d out", function () F.adaptive_avg_pool2d(Z(3, 2, 2), 0) end,
    "adaptive_avg_pool2d: output_size must be positive, got (0, 0) for input [3 x 2 x 2]" },
  { "F.max_unpool2d index", function () F.max_unpool2d(Z(1, 1, 2, 2), Z(1, 1, 2, 2):long(), 2) end,
    "max_unpool2d: found an invalid max index 0 (indices are 1-based: 1 to 16 for output planes of size 4 x 4)" },
  -- normalization
  { "BatchNorm2d channels", function () nn.BatchNorm2d(3)(Z(8, 1, 28, 28)) end,
    "BatchNorm2d: expected input [N x 3 x H x W], got [8 x 1 x 28 x 28]" },
  { "BatchNorm2d rank", function () nn.BatchNorm2d(3)(Z(4, 3)) end,
    "BatchNorm2d: expected 4D input (got 2D input [4 x 3])" },
  { "BatchNorm1d channels", function () nn.BatchNorm1d(3)(Z(4, 4)) end,
    "BatchNorm1d: expected input [N x 3] or [N x 3 x L], got [4 x 4]" },
  { "BatchNorm1d rank", function () nn.BatchNorm1d(3)(Z(4, 3, 2, 2)) end,
    "BatchNorm1d: expected 2D or 3D input (got 4D input [4 x 3 x 2 x 2])" },
  { "BatchNorm3d rank", function () nn.BatchNorm3d(3)(Z(2, 3, 4, 4)) end,
    "BatchNorm3d: expected 5D input (got 4D input [2 x 3 x 4 x 4])" },
  { "GroupNorm groups", function () nn.GroupNorm(2, 3) end,
    "GroupNorm: num_channels (3) must be divisible by num_groups (2)" },
  { "GroupNorm channels", function () nn.GroupNorm(2, 4)(Z(2, 3, 4)) end,
    "GroupNorm: expected input [N x 4 x *], got [2 x 3 x 4]" },
  { "InstanceNorm2d channels", function () nn.InstanceNorm2d(3, { affine = true })(Z(2, 4, 4, 4)) end,
    "InstanceNorm2d: expected input [N x 3 x H x W], got [2 x 4 x 4 x 4]" },
  { "InstanceNorm2d rank", function () nn.InstanceNorm2d(3)(Z(2, 4)) end,
    "InstanceNorm2d: expected 3D or 4D input (got 2D input [2 x 4])" },
  { "LayerNorm shape", function () nn.LayerNorm({ 4, 4 })(Z(2, 3, 4)) end,
    "LayerNorm: expected input [* x 4 x 4], got [2 x 3 x 4]" },
  -- padding
  { "ZeroPad2d rank", function () nn.ZeroPad2d(1)(Z(2)) end,
    "ZeroPad2d: padding length too large: 4 values pad 2 dims, but the input [2] has 1" },
  { "ZeroPad2d negative", function () nn.ZeroPad2d(-3)(Z(1, 1, 2, 2)) end,
    "ZeroPad2d: padding (-3, -3) at dimension 4 of input [1 x 1 x 2 x 2] leaves size -4" },
  { "ReflectionPad2d big", function () nn.ReflectionPad2d(3)(Z(1, 3, 2, 2)) end,
    "ReflectionPad2d: padding size 3 should be less than the corresponding input dimension, but got padding (3, 3) at dimension 4 of input [1 x 3 x 2 x 2]" },
  { "ReplicationPad2d empty", function () nn.ReplicationPad2d(1)(Z(1, 3, 0, 2)) end,
    "ReplicationPad2d: replicate padding needs a non-empty dimension 3, got input [1 x 3 x 0 x 2]" },
  { "ConstantPad2d rank", function () nn.ConstantPad2d(1, 2)(Z(3)) end,
    "ConstantPad2d: padding length too large: 4 values pad 2 dims, but the input [3] has 1" },
  -- upsampling, pixel shuffle
  { "Upsample rank", function () nn.Upsample({ scale_factor = 2 })(Z(2)) end,
    "Upsample: nearest mode expects a 3D [N x C x L] or 4D [N x C x H x W] input, got [2]" },
  { "Upsample bilinear rank", function () nn.Upsample({ scale_factor = 2, mode = "bilinear" })(Z(1, 2, 3)) end,
    "Upsample: bilinear mode expects a 4D [N x C x H x W] input, got [1 x 2 x 3]" },
  { "UpsamplingNearest2d rank", function () nn.UpsamplingNearest2d({ scale_factor = 2 })(Z(2, 3)) end,
    "UpsamplingNearest2d: nearest mode expects a 3D [N x C x L] or 4D [N x C x H x W] input, got [2 x 3]" },
  { "UpsamplingBilinear2d rank", function () nn.UpsamplingBilinear2d({ scale_factor = 2 })(Z(2, 3)) end,
    "UpsamplingBilinear2d: bilinear mode expects a 4D [N x C x H x W] input, got [2 x 3]" },
  { "PixelShuffle channels", function () nn.PixelShuffle(2)(Z(1, 3, 2, 2)) end,
    "PixelShuffle: expected input [* x C x H x W] with C divisible by upscale_factor^2 = 4, got [1 x 3 x 2 x 2]" },
  { "PixelShuffle rank", function () nn.PixelShuffle(2)(Z(4, 2)) end,
    "PixelShuffle: expected input of at least 3 dims [* x C x H x W], got [4 x 2]" },
  { "PixelUnshuffle size", function () nn.PixelUnshuffle(2)(Z(1, 3, 3, 4)) end,
    "PixelUnshuffle: expected input [* x C x H x W] with H and W divisible by downscale_factor 2, got [1 x 3 x 3 x 4]" },
  -- shape, dropout
  { "Flatten start", function () nn.Flatten()(Z(2)) end,
    "Flatten: start_dim 2 out of range for input [2] (expected 1 to 1, or -1 to -1)" },
  { "Flatten end", function () nn.Flatten(1, 3)(Z(2, 3)) end,
    "Flatten: end_dim 3 out of range for input [2 x 3] (expected 1 to 2, or -2 to -1)" },
  { "Unflatten size", function () nn.Unflatten(2, { 2, 3 })(Z(2, 5)) end,
    "Unflatten: sizes [2 x 3] do not make dim 2's size 5" },
  { "Dropout1d rank", function () nn.Dropout1d()(Z(2, 3, 4, 5)) end,
    "Dropout1d: expected [C x L] or [N x C x L] input, got [2 x 3 x 4 x 5]" },
  { "Dropout2d rank", function () nn.Dropout2d()(Z(3)) end,
    "Dropout2d: expected [N x C x H x W] input, got [3]" },
  -- unfold, fold
  { "Unfold kernel", function () nn.Unfold(3)(Z(1, 3, 2, 2)) end,
    "Unfold: kernel_size (3, 3) is larger than the padded input 2 x 2 (input [1 x 3 x 2 x 2], padding (0, 0))" },
  { "Unfold rank", function () nn.Unfold(3)(Z(4, 4)) end,
    "Unfold: expected input [N x C x H x W] or [C x H x W], got [4 x 4]" },
  { "F.unfold kernel", function () F.unfold(Z(1, 3, 2, 5), { kernel_size = 3 }) end,
    "unfold: kernel_size (3, 3) is larger than the padded input 2 x 5 (input [1 x 3 x 2 x 5], padding (0, 0))" },
  { "Fold shape", function () nn.Fold({ 4, 4 }, 3)(Z(1, 3, 2)) end,
    "Fold: expected input [N x C*9 x L] or [C*9 x L] (kernel_size (3, 3)), got [1 x 3 x 2]" },
  { "Fold blocks", function () nn.Fold({ 4, 4 }, 3)(Z(1, 9, 3)) end,
    "Fold: expected input with 4 blocks (2 x 2) in its last dim, got [1 x 9 x 3]" },
}

describe("vision layer errors", function ()
  for _, c in ipairs(CASES) do
    it(c[1] .. ": " .. c[3], function ()
      local ok, e = pcall(c[2])
      assert.is_false(ok, "expected an error")
      e = tostring(e)
      local body = e:gsub("^[^\n]-:%d+: ", "", 1)
      assert.are.equal(c[3], body)
      -- raised at this file's line (the caller), not inside the library
      assert.are.equal(THIS, e:match("^(.-):%d+: "), e)
    end)
  end

  it("name the layer (nn.*) or the function (F.*) first, and give a shape", function ()
    for _, c in ipairs(CASES) do
      local who = c[1]:match("^F%.([%w_]+)") or c[1]:match("^(%w+)")
      if who == "ConvT" then who = "ConvTranspose2d" end
      assert.are.equal(who .. ":", c[3]:match("^[%w_]+:"), c[1])
      if not c[1]:find("groups") and not c[1]:find("divisor") then
        assert.truthy(c[3]:find("%[[%d x*]*%]") or c[3]:find("%[%*") or c[3]:find("%d+ x %d+"),
                      c[1] .. ": no shape in " .. c[3])
      end
    end
  end)

  it("keep the layer's name inside a Sequential", function ()
    local model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool1d(3))
    local ok, e = pcall(model, Z(2, 1, 4, 4))
    assert.is_false(ok)
    assert.matches("Sequential[3] (MaxPool1d): expected 2D or 3D input, got [2 x 4 x 2 x 2]",
                   tostring(e), 1, true)
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.MaxPool1d(3))
    ok, e = pcall(model, Z(2, 1, 4))
    assert.is_false(ok)
    assert.matches("Sequential[2] (MaxPool1d): input [2 x 4 x 2] is too small for kernel_size 3 " ..
                   "with padding 0 and dilation 1: output size 0", tostring(e), 1, true)
  end)

  it("leave the results of valid calls as they were", function ()
    local x = dm.randn(2, 3, 8)
    assert.are.equal(1, select("#", nn.MaxPool1d(2)(x)))
    local y, i = nn.MaxPool1d(2, { return_indices = true })(x)
    assert.are.same({ 2, 3, 4 }, y:size())
    assert.are.same({ 2, 3, 4 }, i:size())
    assert.are.equal(1, select("#", F.max_pool1d(x, 2)))
    assert.are.equal(2, select("#", F.max_pool1d(x, 2, { return_indices = true })))
    local x2 = dm.randn(2, 3, 8, 8)
    assert.are.equal(1, select("#", nn.MaxPool2d(2)(x2)))
    assert.are.equal(2, select("#", nn.AdaptiveMaxPool2d(2, true)(x2)))
    assert.are.equal(1, select("#", nn.AdaptiveMaxPool2d(2)(x2)))
    assert.are.equal(1, select("#", nn.Conv2d(3, 4, 3)(x2)))
    assert.are.same({ 2, 4, 6, 6 }, nn.Conv2d(3, 4, 3)(x2):size())
    -- a kernel exactly as large as the padded input is fine
    assert.are.same({ 2, 4, 1, 1 }, nn.Conv2d(3, 4, 10, { padding = 1 })(x2):size())
    assert.are.same({ 2, 3, 1, 1 }, nn.MaxPool2d(8)(x2):size())
    assert.are.same({ 2, 3, 1 }, nn.AvgPool1d(8)(x):size())
    -- ceil_mode's extra window, PyTorch's rule (it must start inside the input)
    assert.are.same({ 2, 3, 3 }, nn.MaxPool1d(3, { stride = 3, ceil_mode = true })(x):size())
    local p, idx = nn.MaxPool2d(2, { return_indices = true })(x2)
    assert.are.same({ 2, 3, 8, 8 }, nn.MaxUnpool2d(2)(p, idx):size())
  end)

  it("pass errors that are not the layer's own through unchanged", function ()
    local m = nn.Conv2d(3, 4, 3)
    m:register_forward_pre_hook(function () error("my hook failed", 0) end)
    local ok, e = pcall(m, Z(1, 3, 5, 5))
    assert.is_false(ok)
    assert.are.equal("my hook failed", e)
    -- a dtype error from the op, named by the layer
    local q = nn.MaxPool2d(2)
    ok, e = pcall(q, dm.tensor({ 1, 2, 3, 4 }, { dtype = L }):view(1, 2, 2))
    assert.is_false(ok)
    assert.matches("MaxPool2d: expected a float32 or float64 input, got int64", e, 1, true)
  end)
end)
