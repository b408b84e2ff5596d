--- deepmoon.nn.padding: nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d and
-- nn.ReplicationPad2d, F.pad over the last two dims of [C x H x W] or [N x C x H x W].

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local vc = require "deepmoon.nn.vision_check"

local Module = module.Module

-- padding: a number (all four sides) or a list {left, right, top, bottom}
local function padding4 (fname, p)
  if math.type(p) == "integer" then return { p, p, p, p } end
  if type(p) == "table" and #p == 4 then
    local out = {}
    for i = 1, 4 do
      if math.type(p[i]) ~= "integer" then
        error(("%s: padding must be an integer or a list of 4 integers, got %s at position %d")
              :format(fname, check.typename(p[i]), i), 4)
      end
      out[i] = p[i]
    end
    return out
  end
  error(("%s: padding must be an integer or a list of 4 integers {left, right, top, bottom}, "
         .. "got %s"):format(fname, type(p) == "table" and ("a list of " .. #p) or
                             check.typename(p)), 4)
end

local function tuple (p) return ("(%d, %d, %d, %d)"):format(p[1], p[2], p[3], p[4]) end

local function define (name, mode, with_value)
  local M = Module:extend(name)
  function M:__init (padding, ...)
    local a = util.args(name, 3, with_value == "given" and { "value" } or {}, nil, ...)
    self.padding = padding4(name, padding)
    self.mode = mode
    if with_value == "given" then
      if type(a.value) ~= "number" then
        error(("%s: value must be a number, got %s"):format(name, check.typename(a.value)), 3)
      end
      self.value = a.value
    elseif with_value == "zero" then
      self.value = 0
    end
  end
  function M:forward (x)
    if not check.is_tensor(x) then
      error(("%s: expected a Tensor input, got %s"):format(name, check.typename(x)), 2)
    end
    local y = vc.call(name, "pad", nil, F.pad, x, self.padding, self.mode, self.value)
    return y
  end
  function M:extra_repr ()
    if self.value ~= nil then
      return ("padding=%s, value=%s"):format(tuple(self.padding), util.pyrepr(self.value + 0.0))
    end
    return tuple(self.padding)
  end
  return M
end

return {
  --- nn.ZeroPad2d(padding): pads the last two dims with zeros; padding an integer or
  --- {left, right, top, bottom}
  ZeroPad2d = define("ZeroPad2d", "constant", "zero"),
  --- nn.ConstantPad2d(padding, value): pads the last two dims with value
  ConstantPad2d = define("ConstantPad2d", "constant", "given"),
  --- nn.ReflectionPad2d(padding): pads the last two dims with their reflection (the edge
  --- not repeated); each pad less than its dim
  ReflectionPad2d = define("ReflectionPad2d", "reflect"),
  --- nn.ReplicationPad2d(padding): pads the last two dims by repeating the edge values
  ReplicationPad2d = define("ReplicationPad2d", "replicate"),
}
