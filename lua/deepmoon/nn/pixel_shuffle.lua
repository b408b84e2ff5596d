--- deepmoon.nn.pixel_shuffle: nn.PixelShuffle and nn.PixelUnshuffle (F.pixel_shuffle,
-- F.pixel_unshuffle: a reshape, permute and reshape of [* x C x H x W]).

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local F = require "deepmoon.nn.functional"

local Module = module.Module

local function define (name, key, fn)
  local M = Module:extend(name)
  function M:__init (r)
    if math.type(r) ~= "integer" or r < 1 then
      error(("%s: %s must be a positive integer, got %s"):format(name, key,
        check.typename(r)), 3)
    end
    self[key] = r
  end
  function M:forward (x) return fn(x, self[key]) end
  function M:extra_repr () return ("%s=%d"):format(key, self[key]) end
  return M
end

return {
  --- nn.PixelShuffle(upscale_factor): [*, C*r*r, H, W] -> [*, C, H*r, W*r]
  PixelShuffle = define("PixelShuffle", "upscale_factor", F.pixel_shuffle),
  --- nn.PixelUnshuffle(downscale_factor): [*, C, H*r, W*r] -> [*, C*r*r, H, W]
  PixelUnshuffle = define("PixelUnshuffle", "downscale_factor", F.pixel_unshuffle),
}
