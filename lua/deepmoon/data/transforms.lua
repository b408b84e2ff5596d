--- deepmoon.data.transforms: image transforms under torchvision's names (torchvision.transforms:
--- Compose, ToTensor, Normalize, RandomHorizontalFlip, RandomCrop).  Also data.transforms.
--
--   local T = require "deepmoon.data.transforms"
--   local tf = T.Compose{ T.ToTensor(), T.RandomCrop(28, {padding = 4}),
--                         T.RandomHorizontalFlip(), T.Normalize({0.2860}, {0.3530}) }
--   local ds = data.FashionMNIST(nil, {train = true, transform = tf})
--
-- Each transform is a callable object: tf(img) -> img, and tostring(tf) reads like torchvision's
-- repr.  Images are tensors, one at a time: ToTensor takes uint8 [H x W] or [H x W x C] (what a
-- dataset reads, in place of a PIL image); the others take [..., H x W] ([C x H x W]).  Random
-- transforms draw from the default generator (dm.manual_seed makes them reproducible), the same
-- draws as torchvision's: torch.rand(1) for a flip, torch.randint for a crop's corner.

local dm = require "deepmoon"
local check = require "deepmoon.check"

local is_tensor, typename = check.is_tensor, check.typename

local M = {}

local function shape_str (t) return "[" .. table.concat(t:size(), " x ") .. "]" end

-- a Lua number as Python prints it in a repr (0.5, 4, 0.1307)
local function num (v)
  if math.type(v) == "integer" then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d.0"):format(v) end
  for digits = 15, 17 do        -- the shortest that reads back, as Python's repr
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end
local function seq (list, open, close)
  if type(list) ~= "table" then return type(list) == "number" and num(list) or tostring(list) end
  local parts = {}
  for i, v in ipairs(list) do parts[i] = type(v) == "number" and num(v) or tostring(v) end
  return (open or "[") .. table.concat(parts, ", ") .. (close or "]")
end

local function class (name, call, repr)
  local cls = { __name = "deepmoon.data.transforms." .. name }
  cls.__index = cls
  cls.__call = call
  cls.__tostring = repr
  return cls
end

local function need_image (who, img, min_dim)
  if not is_tensor(img) then
    error(("%s: expected an image tensor, got %s"):format(who, typename(img)), 3)
  end
  if img:dim() < min_dim then
    error(("%s: expected an image [..., H x W], got %s"):format(who, shape_str(img)), 3)
  end
end

-- ---------------------------------------------------------------------------------------

local Compose = class("Compose", function (self, img)
  for _, t in ipairs(self.transforms) do img = t(img) end
  return img
end, function (self)
  local lines = { "Compose(" }
  for _, t in ipairs(self.transforms) do lines[#lines + 1] = "    " .. tostring(t) end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end)

--- Compose(transforms): applies the transforms (a list of callables) in order.
-- @usage local tf = T.Compose{ T.ToTensor(), T.Normalize({0.5}, {0.5}) }
function M.Compose (transforms)
  if type(transforms) ~= "table" then
    error(("Compose: expected a list of transforms, got %s"):format(typename(transforms)), 2)
  end
  local list = {}
  for i, t in ipairs(transforms) do
    local mt = getmetatable(t)
    if type(t) ~= "function" and not (mt and mt.__call) then
      error(("Compose: transforms[%d] is a %s, expected a callable"):format(i, typename(t)), 2)
    end
    list[i] = t
  end
  return setmetatable({ transforms = list }, Compose)
end

-- ---------------------------------------------------------------------------------------

local ToTensor = class("ToTensor", function (_, img)
  if not is_tensor(img) then
    error(("ToTensor: expected an image tensor, got %s"):format(typename(img)), 2)
  end
  local d = img:dim()
  if d == 2 then
    img = img:unsqueeze(1)
  elseif d == 3 then
    img = img:permute(3, 1, 2)
  else
    error(("ToTensor: expected an image [H x W] or [H x W x C], got %s"):format(shape_str(img)), 2)
  end
  if img.dtype == dm.uint8 then return img:float():div(255) end
  return img:float():contiguous()
end, function () return "ToTensor()" end)

--- ToTensor(): uint8 [H x W] or [H x W x C] -> float32 [C x H x W] scaled to [0, 1] (divided
-- by 255); other dtypes are converted to float32 unscaled (as torchvision does for non-byte arrays).
function M.ToTensor () return setmetatable({}, ToTensor) end

-- ---------------------------------------------------------------------------------------

local function as_list (who, what, v)
  if type(v) == "number" then return { v } end
  local list = {}
  if type(v) == "table" then
    for i, x in ipairs(v) do
      if type(x) ~= "number" then
        error(("%s: %s[%d] is a %s, expected a number"):format(who, what, i, typename(x)), 3)
      end
      list[i] = x
    end
  end
  if #list == 0 then
    error(("%s: %s must be a number or a non-empty list of numbers, got %s"):format(who, what, typename(v)), 3)
  end
  return list
end

local Normalize = class("Normalize", function (self, img)
  need_image("Normalize", img, 3)
  if not img:is_floating_point() then
    error(("Normalize: expected a float image, got %s (use ToTensor first)"):format(tostring(img.dtype)), 2)
  end
  local c = img:size(img:dim() - 2)
  local m, s = self.mean, self.std
  for _, l in ipairs{ { "mean", m }, { "std", s } } do
    if #l[2] ~= 1 and #l[2] ~= c then
      error(("Normalize: %s has %d values for an image of %d channels %s"):format(l[1], #l[2], c, shape_str(img)), 2)
    end
  end
  local shape = { #m, 1, 1 }
  local mt = dm.tensor(m, { dtype = img.dtype }):view(table.unpack(shape))
  shape[1] = #s
  local st = dm.tensor(s, { dtype = img.dtype }):view(table.unpack(shape))
  if self.inplace then return img:sub_(mt):div_(st) end
  return img:sub(mt):div(st)
end, function (self)
  return ("Normalize(mean=%s, std=%s)"):format(seq(self.mean), seq(self.std))
end)

--- Normalize(mean, std, inplace = false): (img - mean[c]) / std[c] per channel of a float
-- [..., C x H x W] image; mean and std are lists (one value for all channels, or one per channel).
function M.Normalize (mean, std, inplace)
  mean = as_list("Normalize", "mean", mean)
  std = as_list("Normalize", "std", std)
  for i, v in ipairs(std) do
    if v == 0 then error(("Normalize: std[%d] is 0, which would divide by zero"):format(i), 2) end
  end
  return setmetatable({ mean = mean, std = std, inplace = inplace and true or false }, Normalize)
end

-- ---------------------------------------------------------------------------------------

local RandomHorizontalFlip = class("RandomHorizontalFlip", function (self, img)
  need_image("RandomHorizontalFlip", img, 2)
  if dm.rand(1):item() < self.p then return img:flip(img:dim()) end
  return img
end, function (self) return ("RandomHorizontalFlip(p=%s)"):format(num(self.p)) end)

--- RandomHorizontalFlip(p = 0.5): flips the image's last dim (W) with probability p.
function M.RandomHorizontalFlip (p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or p < 0 or p > 1 then
    error(("RandomHorizontalFlip: p must be a probability in [0, 1], got %s"):format(tostring(p)), 2)
  end
  return setmetatable({ p = p }, RandomHorizontalFlip)
end

-- ---------------------------------------------------------------------------------------

local pad_modes = { constant = "constant", edge = "replicate", reflect = "reflect" }

-- pads {left, top, right, bottom} (torchvision's order) onto the last two dims
local function pad_image (img, l, t, r, b, fill, mode)
  if l == 0 and t == 0 and r == 0 and b == 0 then return img end
  local F = dm.nn.functional
  local dtype = img.dtype
  local x = img:is_floating_point() and img or img:float()
  local d = x:dim()
  if d == 2 then x = x:unsqueeze(1) end
  x = F.pad(x, { l, r, t, b }, pad_modes[mode], fill)
  if d == 2 then x = x:select(1, 1) end
  if x.dtype ~= dtype then x = x:to(dtype) end
  return x
end

local RandomCrop = class("RandomCrop", function (self, img)
  need_image("RandomCrop", img, 2)
  local p = self._pad
  if p then img = pad_image(img, p[1], p[2], p[3], p[4], self.fill, self.padding_mode) end
  local d = img:dim()
  local h, w = img:size(d - 1), img:size(d)
  local th, tw = self.size[1], self.size[2]
  if self.pad_if_needed and w < tw then
    img = pad_image(img, tw - w, 0, tw - w, 0, self.fill, self.padding_mode); w = img:size(d)
  end
  if self.pad_if_needed and h < th then
    img = pad_image(img, 0, th - h, 0, th - h, self.fill, self.padding_mode); h = img:size(d - 1)
  end
  if h < th or w < tw then
    error(("RandomCrop: required crop size (%d, %d) is larger than the input image size (%d, %d)")
      :format(th, tw, h, w), 2)
  end
  if h == th and w == tw then return img end
  local i = dm.randint(0, h - th + 1, { 1 }):item()
  local j = dm.randint(0, w - tw + 1, { 1 }):item()
  return img:narrow(d - 1, i + 1, th):narrow(d, j + 1, tw)
end, function (self)
  -- torchvision prints padding=None when there is none
  return ("RandomCrop(size=(%d, %d), padding=%s)"):format(self.size[1], self.size[2],
    self.padding == nil and "None" or seq(self.padding))
end)

local CROP_OPTIONS = { padding = true, pad_if_needed = "boolean", fill = "number", padding_mode = "string" }

--- RandomCrop(size, {padding = nil, pad_if_needed = false, fill = 0, padding_mode = "constant"}):
-- crops a random size[1] x size[2] window (size a number or {h, w}) out of an image [..., H x W],
-- after padding it by padding (a number for all sides, {left/right, top/bottom} or
-- {left, top, right, bottom}); pad_if_needed pads an image smaller than size up to it.
-- padding_mode: "constant" (with fill), "edge" or "reflect" ("symmetric" is not supported).
function M.RandomCrop (size, opts)
  opts = check.options("RandomCrop", opts, CROP_OPTIONS)
  local sz
  if math.type(size) == "integer" then sz = { size, size }
  elseif type(size) == "table" and #size == 1 and math.type(size[1]) == "integer" then sz = { size[1], size[1] }
  elseif type(size) == "table" and #size == 2 and math.type(size[1]) == "integer" and math.type(size[2]) == "integer" then
    sz = { size[1], size[2] }
  end
  if not sz or sz[1] < 1 or sz[2] < 1 then
    error(("RandomCrop: size must be a positive integer or a list {h, w}, got %s"):format(
      type(size) == "table" and seq(size) or tostring(size)), 2)
  end
  local padding, pad = opts.padding, nil
  if padding ~= nil then
    local bad = false
    if math.type(padding) == "integer" then pad = { padding, padding, padding, padding }
    elseif type(padding) == "table" then
      for _, v in ipairs(padding) do if math.type(v) ~= "integer" then bad = true end end
      if #padding == 1 then pad = { padding[1], padding[1], padding[1], padding[1] }
      elseif #padding == 2 then pad = { padding[1], padding[2], padding[1], padding[2] }
      elseif #padding == 4 then pad = { padding[1], padding[2], padding[3], padding[4] }
      else bad = true end
    else bad = true end
    if not bad then for _, v in ipairs(pad) do if v < 0 then bad = true end end end
    if bad then
      error(("RandomCrop: padding must be a non-negative integer or a list of 1, 2 or 4 of them, got %s"):format(
        type(padding) == "table" and seq(padding) or tostring(padding)), 2)
    end
  end
  local mode = opts.padding_mode or "constant"
  if mode == "symmetric" then
    error("RandomCrop: padding_mode 'symmetric' is not supported (use 'constant', 'edge' or 'reflect')", 2)
  end
  if not pad_modes[mode] then
    error(("RandomCrop: padding_mode must be 'constant', 'edge' or 'reflect', got %s"):format(tostring(mode)), 2)
  end
  local fill = opts.fill or 0
  return setmetatable({ size = sz, padding = padding, _pad = pad, pad_if_needed = opts.pad_if_needed and true or false,
                        fill = fill, padding_mode = mode }, RandomCrop)
end

return M
