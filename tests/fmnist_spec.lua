-- data.FashionMNIST over Debian's dataset-fashion-mnist files (known values from
-- tests/fixtures/fmnist_cases.lua; regenerate with
-- /usr/bin/python3 tests/fixtures/gen_fmnist.py > tests/fixtures/fmnist_cases.lua), the
-- transforms of data.transforms (torchvision's), a DataLoader over the dataset, and errors.

local dm = require "deepmoon"
local data = require "deepmoon.data"
local T = require "deepmoon.data.transforms"

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixture = dofile(dir .. "fixtures/fmnist_cases.lua")
local ROOT = "/usr/share/datasets/fashion-mnist"

local function near (a, b, tol) return math.abs(a - b) <= (tol or 1e-6) end

local datasets = {}
local function load (train)
  local k = train and "train" or "test"
  datasets[k] = datasets[k] or data.FashionMNIST(nil, { train = train })
  return datasets[k]
end

describe("data.FashionMNIST", function ()
  for _, split in ipairs{ "train", "test" } do
    local fx = fixture[split]
    it(split .. ": shapes, dtypes, fields and the label counts", function ()
      local ds = load(split == "train")
      assert.are.equal(fx.n, #ds)
      assert.are.equal(fx.n, ds:len())
      assert.are.same({ fx.n, 28, 28 }, ds.data:size())
      assert.are.equal(dm.uint8, ds.data.dtype)
      assert.are.same({ fx.n }, ds.targets:size())
      assert.are.equal(dm.int64, ds.targets.dtype)
      assert.are.equal(split == "train", ds.train)
      assert.are.equal(ROOT, ds.root)
      assert.are.equal(1, ds.targets:min():item())
      assert.are.equal(10, ds.targets:max():item())
      for c = 1, 10 do
        assert.are.equal(fx.hist[c], ds.targets:eq(c):sum():item())
      end
    end)

    it(split .. ": known labels and pixels of a few samples", function ()
      local ds = load(split == "train")
      for _, s in ipairs(fx.samples) do
        local img = ds.data:select(1, s.index)
        for _, p in ipairs(s.pixels) do
          assert.are.equal(p[3], img[p[1]][p[2]]:item())
        end
        assert.are.equal(s.sum, img:to(dm.int64):sum():item())
        assert.are.equal(s.max, img:max():item())
        assert.are.equal(s.label + 1, ds.targets[s.index]:item())
        -- the sample: ToTensor's float32 [1 x 28 x 28] in [0, 1], a 1-based integer label
        local x, y = ds:get(s.index)
        assert.are.same({ 1, 28, 28 }, x:size())
        assert.are.equal(dm.float32, x.dtype)
        assert.are.equal(s.label + 1, y)
        assert.are.equal("integer", math.type(y))
        for _, p in ipairs(s.pixels) do
          assert.is_true(near(p[3] / 255, x[1][p[1]][p[2]]:item()))
        end
        assert.is_true(near(s.sum / 255, x:double():sum():item(), 1e-3))
        -- ds[i] is {image, label}; negative indices count from the end
        local pair = ds[s.index]
        assert.are.equal(s.label + 1, pair[2])
        local _, y2 = ds:get(s.index - fx.n - 1)
        assert.are.equal(y, y2)
      end
    end)
  end

  it("test split: the pixel sum of the whole file", function ()
    local ds = load(false)
    assert.are.equal(fixture.test.sum, ds.data:double():sum():item())
  end)

  it("classes and class_to_idx as torchvision's", function ()
    local ds = load(false)
    assert.are.same({ "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot" }, ds.classes)
    assert.are.same(ds.classes, data.FashionMNIST.classes)
    assert.are.equal(10, ds.class_to_idx["Ankle boot"])
    assert.are.equal(1, ds.class_to_idx["T-shirt/top"])
    assert.are.equal("Ankle boot", ds.classes[select(2, ds:get(1))])
  end)

  it("get_batch equals the samples one by one", function ()
    local ds = load(false)
    local idx = dm.tensor({ 5, 1, 10000, 77 }, { dtype = dm.int64 })
    local xb, yb = ds:get_batch(idx)
    assert.are.same({ 4, 1, 28, 28 }, xb:size())
    assert.are.equal(dm.float32, xb.dtype)
    assert.are.equal(dm.int64, yb.dtype)
    for i, k in ipairs{ 5, 1, 10000, 77 } do
      local x, y = ds:get(k)
      assert.are.equal(0, (xb[i] - x):abs():max():item())
      assert.are.equal(y, yb[i]:item())
    end
  end)

  it("transform gets the uint8 [28 x 28] image, target_transform the 1-based label", function ()
    local seen
    local ds = data.FashionMNIST(ROOT, { train = false,
      transform = function (img) seen = img; return img:to(dm.float64) end,
      target_transform = function (y) return y * 10 end })
    local x, y = ds:get(1)
    assert.are.same({ 28, 28 }, seen:size())
    assert.are.equal(dm.uint8, seen.dtype)
    assert.are.equal(dm.float64, x.dtype)
    assert.are.equal((fixture.test.samples[1].label + 1) * 10, y)
    -- batches go through the transforms too
    local xb, yb = ds:get_batch(dm.tensor({ 1, 2 }, { dtype = dm.int64 }))
    assert.are.same({ 2, 28, 28 }, xb:size())
    assert.are.equal(dm.int64, yb.dtype)
    assert.are.equal(y, yb[1]:item())
  end)

  it("tostring reads like torchvision's", function ()
    local ds = data.FashionMNIST(nil, { train = false, transform = T.Compose{ T.ToTensor() } })
    assert.are.equal("Dataset FashionMNIST\n    Number of datapoints: 10000\n" ..
      "    Root location: " .. ROOT .. "\n    Split: Test\n" ..
      "    StandardTransform\nTransform: Compose(\n               ToTensor()\n           )", tostring(ds))
    assert.are.equal("Dataset FashionMNIST\n    Number of datapoints: 60000\n" ..
      "    Root location: " .. ROOT .. "\n    Split: Train", tostring(load(true)))
  end)

  it("a DataLoader: batches of 64, the last one short, and a timed epoch", function ()
    local ds = load(true)
    local loader = data.DataLoader(ds, { batch_size = 64, shuffle = true, generator = dm.Generator(1) })
    local nb, seen, counts = 0, 0, {}
    local t0 = os.clock()
    for xb, yb in loader do
      nb = nb + 1
      local b = xb:size(1)
      if nb < 938 then assert.are.same({ 64, 1, 28, 28 }, xb:size()) end
      assert.are.same({ b }, yb:size())
      assert.are.equal(dm.float32, xb.dtype)
      assert.are.equal(dm.int64, yb.dtype)
      seen = seen + b
      if nb <= 3 then
        for _, v in ipairs(yb:values()) do counts[v] = (counts[v] or 0) + 1 end
        assert.is_true(xb:min():item() >= 0 and xb:max():item() <= 1)
      end
    end
    local dt = os.clock() - t0
    assert.are.equal(938, nb)                     -- 937 x 64 + 32
    assert.are.equal(60000, seen)
    print(("\n  FashionMNIST train: one epoch of DataLoader(batch_size = 64, shuffle) in %.3f s CPU"):format(dt))
  end)

  it("a DataLoader with transforms batches through them", function ()
    local ds = data.FashionMNIST(nil, { train = false,
      transform = T.Compose{ T.ToTensor(), T.Normalize({ 0.5 }, { 0.5 }) } })
    local nb = 0
    for xb, yb in data.DataLoader(ds, { batch_size = 64 }) do
      nb = nb + 1
      if nb == 1 then
        assert.are.same({ 64, 1, 28, 28 }, xb:size())
        assert.are.same({ 64 }, yb:size())
        local ref = load(false):get_batch(dm.arange(1, 65):to(dm.int64))
        assert.is_true((xb - (ref * 2 - 1)):abs():max():item() < 1e-6)
        break
      end
    end
  end)

  it("errors: missing files name the path and the package; bad arguments", function ()
    local ok, err = pcall(data.FashionMNIST, "/nonexistent/fmnist")
    assert.is_false(ok)
    assert.matches("FashionMNIST: /nonexistent/fmnist/train%-images%-idx3%-ubyte.gz not found", err)
    assert.matches("apt%-get install dataset%-fashion%-mnist", err)
    assert.matches("fmnist_spec.lua", err)        -- raised at the caller's line
    ok, err = pcall(data.FashionMNIST, "/nonexistent/fmnist", { train = false })
    assert.matches("t10k%-images%-idx3%-ubyte.gz not found", err)
    assert.has_error(function () data.FashionMNIST(5) end, nil)
    ok, err = pcall(data.FashionMNIST, nil, { transform = 3 })
    assert.matches("FashionMNIST: option 'transform' must be a function, got number", err)
    ok, err = pcall(data.FashionMNIST, nil, "train")
    assert.matches("FashionMNIST: expected an options table, got string", err)
    ok, err = pcall(data.FashionMNIST, nil, { tran = false })
    assert.matches("FashionMNIST: unknown option 'tran'", err)
    ok, err = pcall(data.FashionMNIST, nil, { train = 1 })
    assert.matches("FashionMNIST: option 'train' must be a boolean, got number", err)
    assert.matches("fmnist_spec.lua", err)
    local ds = load(false)
    ok, err = pcall(ds.get, ds, 10001)
    assert.matches("FashionMNIST: index 10001 out of range for a dataset of 10000 samples", err)
    ok, err = pcall(ds.get, ds, 1.5)
    assert.matches("FashionMNIST: index must be an integer, got 1.5", err)
    ok, err = pcall(ds.get_batch, ds, dm.ones(2, 2):to(dm.int64))
    assert.matches("FashionMNIST: get_batch expects a 1%-D tensor or a list of 1%-based indices, got %[2 x 2%]", err)
    ok, err = pcall(ds.get_batch, ds, { 1, 2.5 })
    assert.matches("FashionMNIST: get_batch: index 2 is 2.5, expected an integer", err)
    local xb, yb = ds:get_batch({ 3, 1 })            -- a list works as a tensor does
    assert.are.same({ 2, 1, 28, 28 }, xb:size())
    assert.are.equal(select(2, ds:get(3)), yb[1]:item())
  end)

  it("errors: a corrupt file gives read_idx's message", function ()
    local tmp = os.tmpname()
    os.remove(tmp)
    assert(os.execute("mkdir -p " .. tmp))
    local f = assert(io.open(tmp .. "/train-images-idx3-ubyte.gz", "wb"))
    f:write("not an idx file")
    f:close()
    local ok, err = pcall(data.FashionMNIST, tmp)
    os.execute("rm -rf " .. tmp)
    assert.is_false(ok)
    assert.matches("FashionMNIST: read_idx: .*train%-images%-idx3%-ubyte.gz", err)
  end)
end)

describe("data.transforms", function ()
  it("is data.transforms", function ()
    assert.are.equal(T, data.transforms)
  end)

  it("ToTensor: uint8 [H x W] and [H x W x C] to float [C x H x W] / 255", function ()
    local img = dm.tensor({ { 0, 51, 255 }, { 102, 1, 3 } }, { dtype = dm.uint8 })
    local x = T.ToTensor()(img)
    assert.are.equal(dm.float32, x.dtype)
    assert.are.same({ 1, 2, 3 }, x:size())
    local want = { 0, 51, 255, 102, 1, 3 }
    for i, v in ipairs(x:values()) do assert.are.equal(dm.tensor(want[i] / 255):item(), v) end
    local hwc = dm.arange(24):to(dm.uint8):view(2, 3, 4)
    local y = T.ToTensor()(hwc)
    assert.are.same({ 4, 2, 3 }, y:size())
    for c = 1, 4 do for h = 1, 2 do for w = 1, 3 do
      assert.are.equal(dm.tensor(hwc[h][w][c]:item() / 255):item(), y[c][h][w]:item())
    end end end
    -- non-byte images are converted, not scaled
    local z = T.ToTensor()(dm.tensor({ { 2, 300 } }, { dtype = dm.float64 }))
    assert.are.same({ 2, 300 }, z:values())
    assert.are.equal(dm.float32, z.dtype)
    assert.are.equal("ToTensor()", tostring(T.ToTensor()))
  end)

  it("Normalize: per channel, exact", function ()
    local x = dm.arange(12):float():view(3, 2, 2)
    local y = T.Normalize({ 1, 2, 3 }, { 2, 4, 0.5 })(x)
    local want = {}
    local mean, std = { 1, 2, 3 }, { 2, 4, 0.5 }
    for c = 1, 3 do for k = 1, 4 do want[#want + 1] = ((c - 1) * 4 + k - 1 - mean[c]) / std[c] end end
    assert.are.same(want, y:values())
    assert.are.same(dm.arange(12):float():values(), x:values())    -- not in place
    -- one value for all channels; a batch [N x C x H x W]
    local b = dm.ones(2, 3, 2, 2)
    assert.are.same(dm.zeros(2, 3, 2, 2):values(), T.Normalize({ 1 }, { 3 })(b):values())
    -- inplace
    local z = dm.ones(1, 2, 2)
    T.Normalize({ 0.5 }, { 0.25 }, true)(z)
    assert.are.same({ 2, 2, 2, 2 }, z:values())
    assert.are.equal("Normalize(mean=[0.286], std=[0.353])", tostring(T.Normalize({ 0.2860 }, { 0.353 })))
    assert.are.equal("Normalize(mean=[0.5, 0.25, 1], std=[0.1, 0.2, 0.3])",
                     tostring(T.Normalize({ 0.5, 0.25, 1 }, { 0.1, 0.2, 0.3 })))
  end)

  it("Normalize: errors", function ()
    assert.has_error(function () T.Normalize({ 1, 2 }, { 1, 2 })(dm.zeros(3, 2, 2)) end,
                     "Normalize: mean has 2 values for an image of 3 channels [3 x 2 x 2]")
    assert.has_error(function () T.Normalize({ 1 }, { 1 })(dm.zeros(2, 2, 2):to(dm.uint8)) end)
    assert.has_error(function () T.Normalize({ 1 }, { 1 })(dm.zeros(2, 2)) end,
                     "Normalize: expected an image [..., H x W], got [2 x 2]")
    assert.has_error(function () T.Normalize({ 1 }, { 0 }) end,
                     "Normalize: std[1] is 0, which would divide by zero")
    assert.has_error(function () T.Normalize("a", { 1 }) end,
                     "Normalize: mean must be a number or a non-empty list of numbers, got string")
    assert.has_error(function () T.Normalize({ 1, "x" }, { 1 }) end,
                     "Normalize: mean[2] is a string, expected a number")
  end)

  it("RandomHorizontalFlip: p = 0, 1 and about half at p = 0.5, reproducible", function ()
    local x = dm.arange(6):float():view(1, 2, 3)
    assert.are.same({ 2, 1, 0, 5, 4, 3 }, T.RandomHorizontalFlip(1)(x):values())
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, T.RandomHorizontalFlip(0)(x):values())
    local f = T.RandomHorizontalFlip()
    local function run ()
      dm.manual_seed(7)
      local flips = {}
      for i = 1, 2000 do flips[i] = f(x)[1][1][1]:item() == 2 end
      return flips
    end
    local a, b = run(), run()
    assert.are.same(a, b)
    local n = 0
    for _, v in ipairs(a) do if v then n = n + 1 end end
    assert.is_true(n > 900 and n < 1100, "flips: " .. n)
    assert.are.equal("RandomHorizontalFlip(p=0.5)", tostring(f))
    assert.are.equal("RandomHorizontalFlip(p=0.3)", tostring(T.RandomHorizontalFlip(0.3)))
    assert.has_error(function () T.RandomHorizontalFlip(2) end,
                     "RandomHorizontalFlip: p must be a probability in [0, 1], got 2")
    assert.has_error(function () f(3) end, "RandomHorizontalFlip: expected an image tensor, got number")
  end)

  it("RandomCrop: windows of the padded image, every offset, reproducible", function ()
    local x = (dm.arange(16):float() + 1):view(1, 4, 4)
    local crop = T.RandomCrop(4, { padding = 2 })
    local function run ()
      dm.manual_seed(3)
      local out = {}
      for i = 1, 500 do out[i] = crop(x) end
      return out
    end
    local a, b = run(), run()
    local seen = {}
    for i, y in ipairs(a) do
      assert.are.same({ 1, 4, 4 }, y:size())
      assert.are.same(y:values(), b[i]:values())
      -- the window's offset: where x[1][1][1] (value 1) landed, or by the position of the values
      local padded = dm.nn.functional.pad(x, { 2, 2, 2, 2 })
      local found
      for r = 0, 4 do for c = 0, 4 do
        if not found and (padded:narrow(2, r + 1, 4):narrow(3, c + 1, 4) - y):abs():max():item() == 0 then
          found = r * 5 + c
        end
      end end
      assert.is_not_nil(found)
      seen[found] = (seen[found] or 0) + 1
    end
    local kinds = 0
    for _, cnt in pairs(seen) do kinds = kinds + 1; assert.is_true(cnt < 60) end
    assert.are.equal(25, kinds)                 -- all 5 x 5 offsets, each about 20 times
    assert.are.equal("RandomCrop(size=(4, 4), padding=2)", tostring(crop))
  end)

  it("RandomCrop: no padding, sizes {h, w}, 2-D images, fill, edge, reflect, pad_if_needed", function ()
    local x = dm.arange(12):float():view(1, 3, 4)
    assert.are.same(x:values(), T.RandomCrop({ 3, 4 })(x):values())
    assert.are.equal("RandomCrop(size=(3, 4), padding=None)", tostring(T.RandomCrop({ 3, 4 })))
    dm.manual_seed(0)
    local y = T.RandomCrop({ 2, 3 })(x)
    assert.are.same({ 1, 2, 3 }, y:size())
    local two = T.RandomCrop(2)(dm.arange(9):float():view(3, 3))
    assert.are.same({ 2, 2 }, two:size())
    -- fill: the crop of a 1 x 1 image padded by 1 to 3 x 3 is all the padded image
    local one = dm.ones(1, 1, 1)
    assert.are.same({ 7, 7, 7, 7, 1, 7, 7, 7, 7 },
                    T.RandomCrop(3, { padding = 1, fill = 7 })(one):values())
    local r = dm.tensor({ { { 1, 2, 3 } } })
    assert.are.same({ 1, 1, 2, 3, 3 }, T.RandomCrop({ 1, 5 }, { padding = { 1, 0 }, padding_mode = "edge" })(r):values())
    assert.are.same({ 2, 1, 2, 3, 2 }, T.RandomCrop({ 1, 5 }, { padding = { 1, 0 }, padding_mode = "reflect" })(r):values())
    assert.are.same({ 0, 1, 2, 3, 0 }, T.RandomCrop({ 1, 5 }, { padding = { 1, 0, 1, 0 } })(r):values())
    -- pad_if_needed pads each side by the shortfall, then crops
    dm.manual_seed(0)
    local p = T.RandomCrop({ 1, 5 }, { pad_if_needed = true })(r)
    assert.are.same({ 1, 1, 5 }, p:size())
    assert.are.equal("RandomCrop(size=(28, 28), padding=[1, 2])", tostring(T.RandomCrop(28, { padding = { 1, 2 } })))
    -- uint8 images keep their dtype
    local u = T.RandomCrop(3, { padding = 1 })(dm.ones(1, 1, 1):to(dm.uint8))
    assert.are.equal(dm.uint8, u.dtype)
  end)

  it("RandomCrop: errors", function ()
    assert.has_error(function () T.RandomCrop(5)(dm.zeros(1, 3, 3)) end,
                     "RandomCrop: required crop size (5, 5) is larger than the input image size (3, 3)")
    assert.has_error(function () T.RandomCrop(0) end,
                     "RandomCrop: size must be a positive integer or a list {h, w}, got 0")
    assert.has_error(function () T.RandomCrop(3, { padding = { 1, 2, 3 } }) end,
                     "RandomCrop: padding must be a non-negative integer or a list of 1, 2 or 4 of them, got [1, 2, 3]")
    assert.has_error(function () T.RandomCrop(3, { padding = 1, padding_mode = "symmetric" }) end,
                     "RandomCrop: padding_mode 'symmetric' is not supported (use 'constant', 'edge' or 'reflect')")
    assert.has_error(function () T.RandomCrop(3, { padding_mode = "wrap" }) end,
                     "RandomCrop: padding_mode must be 'constant', 'edge' or 'reflect', got wrap")
    assert.has_error(function () T.RandomCrop(3, { paddding = 1 }) end, "RandomCrop: unknown option 'paddding'")
    assert.has_error(function () T.RandomCrop(3, { fill = "x" }) end,
                     "RandomCrop: option 'fill' must be a number, got string")
    assert.has_error(function () T.RandomCrop(3)(dm.zeros(3)) end,
                     "RandomCrop: expected an image [..., H x W], got [3]")
  end)

  it("Compose: applies in order; repr; errors", function ()
    local tf = T.Compose{ T.ToTensor(), T.Normalize({ 0.5 }, { 0.5 }) }
    local img = dm.tensor({ { 0, 255 } }, { dtype = dm.uint8 })
    assert.are.same({ -1, 1 }, tf(img):values())
    assert.are.equal("Compose(\n    ToTensor()\n    Normalize(mean=[0.5], std=[0.5])\n)", tostring(tf))
    assert.are.equal(2, T.Compose{ function (v) return v + 1 end, function (v) return v * 2 end }(0))
    assert.has_error(function () T.Compose{ T.ToTensor(), 5 } end,
                     "Compose: transforms[2] is a number, expected a callable")
    assert.has_error(function () T.Compose(5) end, "Compose: expected a list of transforms, got number")
  end)
end)
