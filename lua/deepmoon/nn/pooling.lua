--- deepmoon.nn.pooling: nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d and nn.AvgPool2d over the
-- last one or two dims of [N x] C x L or [N x] C x H x W (F.max_pool2d / F.avg_pool2d).

local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local vc = require "deepmoon.nn.vision_check"

local Module = module.Module

-- a size as PyTorch prints it: a number as is, a list as a tuple ("(2,)" for one entry)
local function size_repr (v)
  if type(v) ~= "table" then return tostring(v) end
  if #v == 1 then return ("(%d,)"):format(v[1]) end
  local parts = {}
  for i = 1, #v do parts[i] = tostring(v[i]) end
  return "(" .. table.concat(parts, ", ") .. ")"
end

local function copy (v)
  if type(v) ~= "table" then return v end
  local out = {}
  for i = 1, #v do out[i] = v[i] end
  return out
end

-- a size as a list of n (the constructors checked it)
local function list (v, n)
  if type(v) == "table" then return v end
  return n == 2 and { v, v } or { v }
end

local function need_input (name, x, n)
  if not check.is_tensor(x) then
    error(("%s: expected a Tensor input, got %s"):format(name, check.typename(x)), 3)
  end
  local d = x:dim()
  if d ~= n + 1 and d ~= n + 2 then
    error(("%s: expected %dD or %dD input, got %s"):format(name, n + 1, n + 2,
          require("deepmoon.format").shape_str(x:size())), 3)
  end
end

local function max_pool (name, n)
  local M = Module:extend(name)
  function M:__init (kernel_size, ...)
    local a = F._pool_args(name, 3, { "stride", "padding", "dilation", "return_indices",
                                      "ceil_mode" }, ...)
    F._pool_size(name, "kernel_size", kernel_size, n)
    if a.stride ~= nil then F._pool_size(name, "stride", a.stride, n) end
    F._pool_size(name, "padding", a.padding, n, 0)
    F._pool_size(name, "dilation", a.dilation, n, 1)
    self.kernel_size = copy(kernel_size)
    self.stride = copy(a.stride ~= nil and a.stride or kernel_size)
    self.padding = copy(a.padding or 0)
    self.dilation = copy(a.dilation or 1)
    self.return_indices = a.return_indices and true or false
    self.ceil_mode = a.ceil_mode and true or false
  end
  local fname = n == 2 and "max_pool2d" or "max_pool1d"
  local function run (self, x)
    return F._maxpool(fname, n, x, self.kernel_size, self.stride, self.padding, self.dilation,
                      self.ceil_mode, self.return_indices)
  end
  local function problem (self, x)
    return vc.pool_problem(name, n, x, list(self.kernel_size, n), list(self.stride, n),
                           list(self.padding, n), list(self.dilation, n), self.ceil_mode)
  end
  function M:forward (x)
    need_input(name, x, n)
    local y, i = vc.call(name, { "max_pool2d", fname }, problem, run, self, x)
    if self.return_indices then return y, i end
    return y
  end
  function M:extra_repr ()
    return ("kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s"):format(
      size_repr(self.kernel_size), size_repr(self.stride), size_repr(self.padding),
      size_repr(self.dilation), util.pyrepr(self.ceil_mode))
  end
  return M
end

local function avg_pool (name, n)
  local M = Module:extend(name)
  function M:__init (kernel_size, ...)
    local a = F._pool_args(name, 3, n == 2 and { "stride", "padding", "ceil_mode",
                             "count_include_pad", "divisor_override" }
                             or { "stride", "padding", "ceil_mode", "count_include_pad" }, ...)
    local k = F._pool_size(name, "kernel_size", kernel_size, n)
    local s = a.stride ~= nil and F._pool_size(name, "stride", a.stride, n) or k
    local p = F._pool_size(name, "padding", a.padding, n, 0)
    -- AvgPool1d keeps one-tuples (PyTorch's _single); AvgPool2d what was given
    self.kernel_size = n == 1 and k or copy(kernel_size)
    self.stride = n == 1 and s or copy(a.stride ~= nil and a.stride or kernel_size)
    self.padding = n == 1 and p or copy(a.padding or 0)
    self.ceil_mode = a.ceil_mode and true or false
    self.count_include_pad = a.count_include_pad == nil or a.count_include_pad and true or false
    if n == 2 then
      local dv = a.divisor_override
      if dv ~= nil and dv ~= false and math.type(dv) ~= "integer" then
        error(("%s: divisor_override must be an integer, got %s"):format(name,
              check.typename(dv)), 3)
      end
      self.divisor_override = dv or nil
    end
  end
  local fname = n == 2 and "avg_pool2d" or "avg_pool1d"
  local function run (self, x)
    return F._avgpool(fname, n, x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                      self.count_include_pad, self.divisor_override)
  end
  local function problem (self, x)
    return vc.pool_problem(name, n, x, list(self.kernel_size, n), list(self.stride, n),
                           list(self.padding, n), nil, self.ceil_mode)
  end
  function M:forward (x)
    need_input(name, x, n)
    local y = vc.call(name, { "avg_pool2d", fname }, problem, run, self, x)
    return y
  end
  function M:extra_repr ()
    return ("kernel_size=%s, stride=%s, padding=%s"):format(size_repr(self.kernel_size),
      size_repr(self.stride), size_repr(self.padding))
  end
  return M
end

local function none_repr (v)
  if type(v) ~= "table" then return tostring(v) end
  local a, b = v[1], v[2]
  return ("(%s, %s)"):format(a and tostring(a) or "None", b and tostring(b) or "None")
end

local function adaptive (name, is_max)
  local M = Module:extend(name)
  function M:__init (output_size, ...)
    local a = util.args(name, 3, is_max and { "return_indices" } or {}, nil, ...)
    if output_size == nil or (math.type(output_size) ~= "integer" and
                              not (type(output_size) == "table" and #output_size <= 2)) then
      error(("%s: output_size must be an integer or a list of 2 integers, got %s"):format(
            name, check.typename(output_size)), 3)
    end
    self.output_size = type(output_size) == "table"
      and { output_size[1] or false, output_size[2] or false } or output_size
    if is_max then self.return_indices = a.return_indices and true or false end
  end
  local fname = is_max and "adaptive_max_pool2d" or "adaptive_avg_pool2d"
  local function run (self, x)
    if is_max then return F._adaptive_max(name, x, self.output_size, self.return_indices) end
    return F._adaptive_avg(name, x, self.output_size)
  end
  local function problem (self, x) return vc.adaptive_problem(name, x, self.output_size) end
  function M:forward (x)
    need_input(name, x, 2)
    local y, i = vc.call(name, fname, problem, run, self, x)
    if is_max and self.return_indices then return y, i end
    return y
  end
  function M:extra_repr () return "output_size=" .. none_repr(self.output_size) end
  return M
end

local MaxUnpool2d = Module:extend("MaxUnpool2d")
function MaxUnpool2d:__init (kernel_size, ...)
  local a = F._pool_args("MaxUnpool2d", 3, { "stride", "padding" }, ...)
  self.kernel_size = F._pool_size("MaxUnpool2d", "kernel_size", kernel_size, 2)
  self.stride = F._pool_size("MaxUnpool2d", "stride", a.stride, 2, kernel_size)
  self.padding = F._pool_size("MaxUnpool2d", "padding", a.padding, 2, 0)
end
function MaxUnpool2d:forward (x, indices, output_size)
  need_input("MaxUnpool2d", x, 2)
  local y = vc.call("MaxUnpool2d", "max_unpool2d", nil, F._unpool, "MaxUnpool2d", x, indices,
                    self.kernel_size, self.stride, self.padding, output_size)
  return y
end
function MaxUnpool2d:extra_repr ()
  return ("kernel_size=%s, stride=%s, padding=%s"):format(size_repr(self.kernel_size),
    size_repr(self.stride), size_repr(self.padding))
end

return {
  --- nn.AdaptiveAvgPool2d(output_size): means over adaptive windows to output_size (a
  --- number or {h, w}; nil/false entries keep the input size)
  AdaptiveAvgPool2d = adaptive("AdaptiveAvgPool2d", false),
  --- nn.AdaptiveMaxPool2d(output_size [, return_indices = false]): maxima over adaptive
  --- windows; with return_indices also 1-based flat indices per H x W plane
  AdaptiveMaxPool2d = adaptive("AdaptiveMaxPool2d", true),
  --- nn.MaxUnpool2d(kernel_size [, stride = kernel_size] [, padding = 0]): forward(x,
  --- indices [, output_size]) puts x at MaxPool2d's 1-based indices, zeros elsewhere
  MaxUnpool2d = MaxUnpool2d,
  --- nn.MaxPool2d(kernel_size [, stride = kernel_size] [, padding = 0] [, dilation = 1]
  --- [, return_indices = false] [, ceil_mode = false]): window maxima over H x W; with
  --- return_indices forward also returns 1-based flat indices per H x W plane
  MaxPool2d = max_pool("MaxPool2d", 2),
  --- nn.MaxPool1d(kernel_size [, stride] [, padding] [, dilation] [, return_indices]
  --- [, ceil_mode]): window maxima over the last dim of [N x] C x L
  MaxPool1d = max_pool("MaxPool1d", 1),
  --- nn.AvgPool2d(kernel_size [, stride = kernel_size] [, padding = 0] [, ceil_mode = false]
  --- [, count_include_pad = true] [, divisor_override]): window means over H x W
  AvgPool2d = avg_pool("AvgPool2d", 2),
  --- nn.AvgPool1d(kernel_size [, stride] [, padding] [, ceil_mode] [, count_include_pad]):
  --- window means over the last dim of [N x] C x L
  AvgPool1d = avg_pool("AvgPool1d", 1),
}
