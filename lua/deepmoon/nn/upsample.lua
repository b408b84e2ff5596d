--- deepmoon.nn.upsample: nn.Upsample, nn.UpsamplingNearest2d and nn.UpsamplingBilinear2d
-- (F.interpolate over [N x C x L] or [N x C x H x W]), printed as PyTorch 1.13 prints them.

local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local vc = require "deepmoon.nn.vision_check"

local Module = module.Module

local function pyval (v, as_float)
  if type(v) == "table" then
    local parts, n = {}, rawlen(v)
    for i = 1, n do parts[i] = util.pyrepr(rawget(v, i), as_float) end
    return "(" .. table.concat(parts, ", ") .. (n == 1 and ",)" or ")")
  end
  return util.pyrepr(v, as_float)
end

local function define (name, fixed_mode, fixed_align)
  local M = Module:extend(name)
  function M:__init (...)
    local a = util.args(name, 3, fixed_mode and { "size", "scale_factor" }
                        or { "size", "scale_factor", "mode", "align_corners",
                             "recompute_scale_factor" }, nil, F._size_list_box(...))
    for _, k in ipairs({ "size", "scale_factor" }) do
      if type(a[k]) == "table" and getmetatable(a[k]) == F._SIZE_BOX then a[k] = a[k].v end
    end
    self.size = a.size
    self.scale_factor = a.scale_factor
    self.mode = fixed_mode or a.mode or "nearest"
    if fixed_mode then self.align_corners = fixed_align else self.align_corners = a.align_corners end
    self.recompute_scale_factor = a.recompute_scale_factor
  end
  function M:forward (x)
    local y = vc.call(name, "interpolate", nil, F.interpolate, x, { size = self.size,
      scale_factor = self.scale_factor, mode = self.mode, align_corners = self.align_corners,
      recompute_scale_factor = self.recompute_scale_factor })
    return y
  end
  function M:extra_repr ()
    local info
    if self.scale_factor ~= nil then
      info = "scale_factor=" .. pyval(self.scale_factor, true)
    else
      info = "size=" .. pyval(self.size)
    end
    return info .. ", mode=" .. tostring(self.mode)
  end
  return M
end

return {
  --- nn.Upsample([size] [, scale_factor] [, mode = "nearest"] [, align_corners]
  --- [, recompute_scale_factor]): F.interpolate as a module
  Upsample = define("Upsample"),
  --- nn.UpsamplingNearest2d([size] [, scale_factor]): nearest upsampling of [N x C x H x W]
  UpsamplingNearest2d = define("UpsamplingNearest2d", "nearest", nil),
  --- nn.UpsamplingBilinear2d([size] [, scale_factor]): bilinear upsampling of
  --- [N x C x H x W] with align_corners = true
  UpsamplingBilinear2d = define("UpsamplingBilinear2d", "bilinear", true),
}
