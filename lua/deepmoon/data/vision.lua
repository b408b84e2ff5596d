--- deepmoon.data.vision: image datasets under torchvision's names (torchvision.datasets.FashionMNIST),
--- reachable as data.FashionMNIST.
--
--   local ds = data.FashionMNIST()                      -- training set, 60000 images
--   local test = data.FashionMNIST(nil, {train = false})
--   for xb, yb in data.DataLoader(ds, {batch_size = 64, shuffle = true}) do
--     -- xb float32 [64 x 1 x 28 x 28] in [0, 1], yb int64 [64] with labels 1..10
--   end
--
-- The files are Debian's (apt-get install dataset-fashion-mnist), read with data.read_idx.

local dm = require "deepmoon"
local core = require "deepmoon.core"
local check = require "deepmoon.check"
local dataset = require "deepmoon.data.dataset"
local transforms = require "deepmoon.data.transforms"

local raise, typename = dataset._raise, check.typename

local M = {}

local DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"

--- FashionMNIST(root, {train = true, transform = nil, target_transform = nil}): the
-- Fashion-MNIST images (torchvision.datasets.FashionMNIST) read from root (default
-- /usr/share/datasets/fashion-mnist: Debian's dataset-fashion-mnist).  Sample i is
-- (image, label): the image float32 [1 x 28 x 28] in [0, 1] (ToTensor applied), or, with a
-- transform, transform(uint8 [28 x 28] image); the label an integer 1..10 (1-based: class
-- ds.classes[label]), or target_transform(label).  Fields: data (uint8 [N x 28 x 28]),
-- targets (int64 [N], 1-based), classes, class_to_idx, train, root.  download is accepted
-- and ignored (the files come from the package; missing ones are an error).  Without transforms,
-- ds:get_batch(idx) gives a whole batch in one indexing (the DataLoader uses it).
-- @usage local ds = data.FashionMNIST(nil, {train = false})
--   local x, y = ds:get(1)     -- float32 [1 x 28 x 28], 10 ("Ankle boot")
local FashionMNIST = {}
local FM = {}

FashionMNIST.classes = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot" }

local function read (root, name)
  local path = root .. "/" .. name
  local f = io.open(path, "rb")
  if not f then
    raise("FashionMNIST: %s not found (Debian ships the dataset: apt-get install dataset-fashion-mnist)", path)
  end
  f:close()
  local t, err = core.idx_load(path)
  if not t then raise("FashionMNIST: %s", err) end
  return t
end

-- download: accepted for torchvision's signature; the files come from Debian's package
local OPTIONS = { train = { "boolean", default = true }, transform = "callable",
                  target_transform = "callable", download = "boolean" }

local function new_fashion_mnist (root, opts)
  if root == nil then root = DEFAULT_ROOT end
  if type(root) ~= "string" then raise("FashionMNIST: root must be a directory name, got %s", typename(root)) end
  opts = check.options("FashionMNIST", opts, OPTIONS, raise)
  local train = opts.train
  local prefix = train and "train" or "t10k"
  local images = read(root, prefix .. "-images-idx3-ubyte.gz")
  local labels = read(root, prefix .. "-labels-idx1-ubyte.gz")
  if images:dim() ~= 3 or images.dtype ~= dm.uint8 then
    raise("FashionMNIST: %s-images-idx3-ubyte.gz: expected uint8 images [N x H x W], got %s [%s]",
          prefix, tostring(images.dtype), table.concat(images:size(), " x "))
  end
  if labels:dim() ~= 1 or labels:size(1) ~= images:size(1) then
    raise("FashionMNIST: %s-labels-idx1-ubyte.gz holds %s labels for %d images", prefix,
          table.concat(labels:size(), " x "), images:size(1))
  end
  local class_to_idx = {}
  for i, c in ipairs(FashionMNIST.classes) do class_to_idx[c] = i end
  return setmetatable({
    root = root, train = train and true or false,
    transform = opts.transform, target_transform = opts.target_transform,
    data = images, targets = labels:to(dm.int64):add(1),
    class_to_idx = class_to_idx, _n = images:size(1),
  }, FashionMNIST)
end

--- The number of images (60000 for train, 10000 for test).
function FM.len (self) return self._n end

local to_tensor = transforms.ToTensor()

--- Sample i (1-based, negative from the end): image, label (see FashionMNIST).
function FM.get (self, i)
  local n = self._n
  local k = type(i) == "number" and math.tointeger(i)
  if not k then raise("FashionMNIST: index must be an integer, got %s", type(i) == "number" and tostring(i) or typename(i)) end
  if k < 0 then k = n + 1 + k end
  if k < 1 or k > n then raise("FashionMNIST: index %d out of range for a dataset of %d samples", i, n) end
  local img = self.data:select(1, k)
  img = self.transform and self.transform(img) or to_tensor(img)
  local y = math.tointeger(self.targets[k]:item())
  if self.target_transform then y = self.target_transform(y) end
  return img, y
end

--- The samples at idx (a 1-D int64 tensor or a list of 1-based indices) at once: images [B x 1 x 28 x 28]
-- and labels int64 [B]; one index_select each without transforms, else each image transformed
-- and stacked (labels through target_transform collated like the DataLoader does).
function FM.get_batch (self, idx)
  if type(idx) == "table" and not check.is_tensor(idx) then
    local list = {}
    for i, v in ipairs(idx) do
      if math.type(v) ~= "integer" then
        raise("FashionMNIST: get_batch: index %d is %s, expected an integer", i, type(v) == "number" and tostring(v) or typename(v))
      end
      list[i] = v
    end
    idx = dm.tensor(list, { dtype = dm.int64 })
  end
  if not check.is_tensor(idx) or idx:dim() ~= 1 then
    raise("FashionMNIST: get_batch expects a 1-D tensor or a list of 1-based indices, got %s",
          check.is_tensor(idx) and "[" .. table.concat(idx:size(), " x ") .. "]" or typename(idx))
  end
  if not self.transform and not self.target_transform then
    local x = self.data:index_select(1, idx)
    return x:float():div(255):unsqueeze(2), self.targets:index_select(1, idx)
  end
  local xs, ys, ints = {}, {}, true
  for i, k in ipairs(idx:values()) do
    xs[i], ys[i] = self:get(math.tointeger(k))
    if math.type(ys[i]) ~= "integer" then ints = false end
  end
  local collate = require("deepmoon.data.dataloader").default_collate
  local x = dm.stack(xs)
  if ints then return x, dm.tensor(ys, { dtype = dm.int64 }) end
  return x, collate(ys)
end

FashionMNIST.__len = FM.len
FashionMNIST.__index = function (self, key)
  if type(key) == "number" then return { self:get(key) } end
  return FM[key] or FashionMNIST[key]
end
-- torchvision's VisionDataset repr, StandardTransform's layout included
local function format_transform (f, head)
  local lines = {}
  for l in (tostring(f) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
  local out = { head .. lines[1] }
  for i = 2, #lines do out[i] = (" "):rep(#head) .. lines[i] end
  return table.concat(out, "\n")
end

FashionMNIST.__tostring = function (self)
  local lines = { "Dataset FashionMNIST", "    Number of datapoints: " .. self._n,
                  "    Root location: " .. self.root, "    Split: " .. (self.train and "Train" or "Test") }
  if self.transform or self.target_transform then
    local body = { "StandardTransform" }
    if self.transform then body[#body + 1] = format_transform(self.transform, "Transform: ") end
    if self.target_transform then
      body[#body + 1] = format_transform(self.target_transform, "Target transform: ")
    end
    lines[#lines + 1] = "    " .. table.concat(body, "\n")
  end
  return table.concat(lines, "\n")
end
FashionMNIST.__name = "deepmoon.data.FashionMNIST"
setmetatable(FashionMNIST, { __call = function (_, ...) return new_fashion_mnist(...) end })
M.FashionMNIST = FashionMNIST

return M
