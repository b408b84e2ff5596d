--- deepmoon.nn.conv: nn.Conv1d, nn.Conv2d and nn.ConvTranspose2d (PyTorch 1.13's layers,
-- parameters, default init and reprs) over F.conv1d, F.conv2d and F.conv_transpose2d.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local vc = require "deepmoon.nn.vision_check"

local Module, Parameter = module.Module, module.Parameter
local size = F._conv_size

local function tuple (t)
  if #t == 1 then return ("(%d,)"):format(t[1]) end
  return "(" .. table.concat(t, ", ") .. ")"
end

local function all (t, v)
  for i = 1, #t do if t[i] ~= v then return false end end
  return true
end

local MODES = { zeros = true, reflect = true, replicate = true, circular = true }

-- the shared constructor: sp spatial dims, transposed or not
local function init_conv (self, name, sp, transposed, ...)
  local pos = { "in_channels", "out_channels", "kernel_size", "stride", "padding" }
  if transposed then
    for _, k in ipairs({ "output_padding", "groups", "bias", "dilation", "padding_mode" }) do
      pos[#pos + 1] = k
    end
  else
    for _, k in ipairs({ "dilation", "groups", "bias", "padding_mode" }) do pos[#pos + 1] = k end
  end
  local a = util.args(name, 4, pos, nil, ...)
  for _, k in ipairs({ "in_channels", "out_channels" }) do
    if math.type(a[k]) ~= "integer" or a[k] < 1 then
      error(("%s: %s must be a positive integer, got %s"):format(name, k, tostring(a[k])), 4)
    end
  end
  if a.kernel_size == nil then error(name .. ": kernel_size is required", 4) end
  local groups = a.groups == nil and 1 or a.groups
  if math.type(groups) ~= "integer" or groups < 1 then
    error(("%s: groups must be a positive integer, got %s"):format(name, tostring(groups)), 4)
  end
  if a.in_channels % groups ~= 0 then
    error(("%s: in_channels (%d) must be divisible by groups (%d)"):format(name,
          a.in_channels, groups), 4)
  end
  if a.out_channels % groups ~= 0 then
    error(("%s: out_channels (%d) must be divisible by groups (%d)"):format(name,
          a.out_channels, groups), 4)
  end
  self.in_channels, self.out_channels, self.groups = a.in_channels, a.out_channels, groups
  self.kernel_size = size(name, "kernel_size", a.kernel_size, sp, 1)
  self.stride = size(name, "stride", a.stride == nil and 1 or a.stride, sp, 1)
  self.dilation = size(name, "dilation", a.dilation == nil and 1 or a.dilation, sp, 1)
  local mode = a.padding_mode == nil and "zeros" or a.padding_mode
  if not MODES[mode] or (transposed and mode ~= "zeros") then
    error(("%s: padding_mode must be %s, got '%s'"):format(name,
          transposed and "'zeros'" or "'zeros', 'reflect', 'replicate' or 'circular'",
          tostring(mode)), 4)
  end
  self.padding_mode = mode
  local p = a.padding == nil and 0 or a.padding
  if type(p) == "string" and not transposed then
    if p ~= "valid" and p ~= "same" then
      error(("%s: padding must be 'valid', 'same', an integer or a list, got '%s'"):format(
        name, p), 4)
    end
    if p == "same" and not all(self.stride, 1) then
      error(name .. ": padding='same' is not supported for strided convolutions", 4)
    end
    self.padding = p
  else
    self.padding = size(name, "padding", p, sp, 0)
  end
  -- F.pad's list for the non-zero modes: last dim first, left then right
  local rp = {}
  for i = 1, sp do
    local l, r
    if self.padding == "same" then
      local total = self.dilation[i] * (self.kernel_size[i] - 1)
      l = total // 2; r = total - l
    elseif self.padding == "valid" then
      l, r = 0, 0
    else
      l, r = self.padding[i], self.padding[i]
    end
    rp[2 * (sp - i) + 1], rp[2 * (sp - i) + 2] = l, r
  end
  self._reversed_padding_repeated_twice = rp
  if transposed then
    self.output_padding = size(name, "output_padding",
                               a.output_padding == nil and 0 or a.output_padding, sp, 0)
  end
  local bias = check.arg(name, "bias", a.bias, "boolean", true, 4)
  local wshape = transposed and { a.in_channels, a.out_channels // groups }
                            or { a.out_channels, a.in_channels // groups }
  for i = 1, sp do wshape[#wshape + 1] = self.kernel_size[i] end
  local fan_in = wshape[2]
  for i = 1, sp do fan_in = fan_in * self.kernel_size[i] end
  -- kaiming_uniform_(a = sqrt(5)): bound = sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in)
  local bound = 1 / math.sqrt(fan_in)
  local w = dm.empty(table.unpack(wshape))
  local b = bias and dm.empty(a.out_channels) or nil
  dm.no_grad(function ()
    w:uniform_(-bound, bound)
    if b then b:uniform_(-bound, bound) end
  end)
  self.weight = Parameter(w)
  if b then self.bias = Parameter(b) else self:register_parameter("bias", nil) end
end

local function check_input (self, name, sp, x)
  if not check.is_tensor(x) then
    error(("%s: expected a Tensor input, got %s"):format(name, check.typename(x)), 3)
  end
  local d = x:dim()
  local c = self.in_channels
  local hw = sp == 1 and "L" or "H x W"
  if d == sp + 2 then
    if x:size(2) ~= c then
      error(("%s: expected input [N x %d x %s], got %s"):format(name, c, hw,
            format.shape_str(x:size())), 3)
    end
  elseif d == sp + 1 then
    if x:size(1) ~= c then
      error(("%s: expected input [%d x %s], got %s"):format(name, c, hw,
            format.shape_str(x:size())), 3)
    end
  else
    error(("%s: expected input [N x %d x %s] or [%d x %s], got %s"):format(name, c, hw, c, hw,
          format.shape_str(x:size())), 3)
  end
end

local function repr (self, transposed)
  local s = ("%d, %d, kernel_size=%s, stride=%s"):format(self.in_channels, self.out_channels,
    tuple(self.kernel_size), tuple(self.stride))
  if type(self.padding) == "string" then
    s = s .. ", padding=" .. self.padding
  elseif not all(self.padding, 0) then
    s = s .. ", padding=" .. tuple(self.padding)
  end
  if not all(self.dilation, 1) then s = s .. ", dilation=" .. tuple(self.dilation) end
  if transposed and not all(self.output_padding, 0) then
    s = s .. ", output_padding=" .. tuple(self.output_padding)
  end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=False" end
  if self.padding_mode ~= "zeros" then s = s .. ", padding_mode=" .. self.padding_mode end
  return s
end

local function define (name, sp, fconv)
  local M = Module:extend(name)
  local fname = { sp == 1 and "conv1d" or "conv2d", "pad" }
  local function run (self, x)
    if self.padding_mode ~= "zeros" then
      x = F.pad(x, self._reversed_padding_repeated_twice, self.padding_mode)
      return fconv(x, self.weight, { bias = self.bias, stride = self.stride, padding = 0,
                                     dilation = self.dilation, groups = self.groups })
    end
    return fconv(x, self.weight, { bias = self.bias, stride = self.stride,
                                   padding = self.padding, dilation = self.dilation,
                                   groups = self.groups })
  end
  local function problem (self, x) return vc.conv_problem(name, sp, x, self) end
  function M:__init (...) init_conv(self, name, sp, false, ...) end
  function M:forward (x)
    check_input(self, name, sp, x)
    local y = vc.call(name, fname, problem, run, self, x)
    return y
  end
  function M:extra_repr () return repr(self, false) end
  return M
end

local ConvTranspose2d = Module:extend("ConvTranspose2d")
--- nn.ConvTranspose2d(in_channels, out_channels, kernel_size [, stride = 1] [, padding = 0]
--- [, output_padding = 0] [, groups = 1] [, bias = true] [, dilation = 1]): weight
--- [in x out/groups x kh x kw], bias [out]
function ConvTranspose2d:__init (...) init_conv(self, "ConvTranspose2d", 2, true, ...) end
local function run_transpose (self, x)
  return F.conv_transpose2d(x, self.weight, { bias = self.bias, stride = self.stride,
    padding = self.padding, output_padding = self.output_padding, groups = self.groups,
    dilation = self.dilation })
end
local function transpose_problem (self, x)
  return vc.conv_transpose_problem("ConvTranspose2d", x, self)
end
function ConvTranspose2d:forward (x)
  check_input(self, "ConvTranspose2d", 2, x)
  local y = vc.call("ConvTranspose2d", "conv_transpose2d", transpose_problem, run_transpose,
                    self, x)
  return y
end
function ConvTranspose2d:extra_repr () return repr(self, true) end

-- Unfold and Fold keep their arguments as given (PyTorch's reprs show them so)
local function show (v)
  if type(v) == "table" then return "(" .. table.concat(v, ", ") .. ")" end
  return tostring(v)
end

local Unfold = Module:extend("Unfold")
--- nn.Unfold(kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): F.unfold as a layer
function Unfold:__init (...)
  local a = util.args("Unfold", 3, { "kernel_size", "dilation", "padding", "stride" }, nil, ...)
  self.kernel_size, self.dilation = a.kernel_size, a.dilation == nil and 1 or a.dilation
  self.padding, self.stride = a.padding == nil and 0 or a.padding, a.stride == nil and 1 or a.stride
  size("Unfold", "kernel_size", self.kernel_size, 2, 1)
end
local function unfold_problem (x, o)
  return vc.unfold_problem("Unfold", x, o.kernel_size, o.dilation, o.padding)
end
function Unfold:forward (x)
  local y = vc.call("Unfold", { "unfold", "conv2d" }, unfold_problem, F.unfold, x,
                    { kernel_size = self.kernel_size, dilation = self.dilation,
                      padding = self.padding, stride = self.stride })
  return y
end
function Unfold:extra_repr ()
  return ("kernel_size=%s, dilation=%s, padding=%s, stride=%s"):format(show(self.kernel_size),
    show(self.dilation), show(self.padding), show(self.stride))
end

local Fold = Module:extend("Fold")
--- nn.Fold(output_size, kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): F.fold as
--- a layer
function Fold:__init (...)
  local a = util.args("Fold", 3, { "output_size", "kernel_size", "dilation", "padding", "stride" },
                      nil, ...)
  self.output_size, self.kernel_size = a.output_size, a.kernel_size
  self.dilation = a.dilation == nil and 1 or a.dilation
  self.padding, self.stride = a.padding == nil and 0 or a.padding, a.stride == nil and 1 or a.stride
  size("Fold", "output_size", self.output_size, 2, 1)
  size("Fold", "kernel_size", self.kernel_size, 2, 1)
end
function Fold:forward (x)
  local y = vc.call("Fold", "fold", nil, F.fold, x, { output_size = self.output_size,
    kernel_size = self.kernel_size, dilation = self.dilation, padding = self.padding,
    stride = self.stride })
  return y
end
function Fold:extra_repr ()
  return ("output_size=%s, kernel_size=%s, dilation=%s, padding=%s, stride=%s"):format(
    show(self.output_size), show(self.kernel_size), show(self.dilation), show(self.padding),
    show(self.stride))
end

return {
  Unfold = Unfold,
  Fold = Fold,
  --- nn.Conv1d(in_channels, out_channels, kernel_size [, stride = 1] [, padding = 0]
  --- [, dilation = 1] [, groups = 1] [, bias = true] [, padding_mode = "zeros"]): weight
  --- [out x in/groups x k], bias [out]; padding a number, a list, "valid" or "same"
  Conv1d = define("Conv1d", 1, F.conv1d),
  --- nn.Conv2d(in_channels, out_channels, kernel_size [, stride = 1] [, padding = 0]
  --- [, dilation = 1] [, groups = 1] [, bias = true] [, padding_mode = "zeros"]): weight
  --- [out x in/groups x kh x kw], bias [out]; sizes a number or {h, w}; padding also "valid"
  --- or "same"; padding_mode "zeros", "reflect", "replicate" or "circular"
  Conv2d = define("Conv2d", 2, F.conv2d),
  ConvTranspose2d = ConvTranspose2d,
}
