--- deepmoon.nn.pixel_shuffle: nn.PixelShuffle and nn.PixelUnshuffle (F.pixel_shuffle,
-- F.pixel_unshuffle: a reshape, permute and reshape of [* x C x H x W]).

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local F = require "deepmoon.nn.functional"
local vc = require "deepmoon.nn.vision_check"

local Module = module.Module

local function define (name, key, fn, fname)
  local M = Module:extend(name)
  local unshuffle = fname == "pixel_unshuffle"
  local function problem (x, r)
    return vc.pixel_shuffle_problem(name, x, r, unshuffle)
  end
  function M:__init (r)
    if math.type(r) ~= "integer" or r < 1 then
      error(("%s: %s must be a positive integer, got %s"):format(name, key,
        check.typename(r)), 3)
    end
    self[key] = r
  end
  function M:forward (x)
    local y = vc.call(name, fname, problem, fn, x, self[key])
    return y
  end
  function M:extra_repr () return ("%s=%d"):format(key, self[key]) end
  return M
end

return {
  --- nn.PixelShuffle(upscale_factor): [*, C*r*r, H, W] -> [*, C, H*r, W*r]
  PixelShuffle = define("PixelShuffle", "upscale_factor", F.pixel_shuffle,
                        "pixel_shuffle"),
  --- nn.PixelUnshuffle(downscale_factor): [*, C, H*r, W*r] -> [*, C*r*r, H, W]
  PixelUnshuffle = define("PixelUnshuffle", "downscale_factor",
                          F.pixel_unshuffle, "pixel_unshuffle"),
}
