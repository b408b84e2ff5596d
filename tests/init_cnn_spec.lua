-- The initialisation tools on convolutional models: PyTorch's default init of Conv1d, Conv2d
-- and ConvTranspose2d (kaiming_uniform_ with a = sqrt(5) over the fan of the weight's layout),
-- the fans of 3-D/4-D/5-D weights, and init.recommend, init.diagnose, init.lsuv_ and
-- init.compare on models with convolutions, batch norm, pooling and Flatten.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local init = require "deepmoon.nn.init"
local optim = require "deepmoon.optim"

local SQRT2 = math.sqrt(2)

local function close (a, b, tol, what)
  assert(math.abs(a - b) <= (tol or 1e-6) * math.max(1, math.abs(b)),
         ("%sexpected %.9g, got %.9g"):format(what and (what .. ": ") or "", b, a))
end

-- max |v|, population variance, mean and the fraction within [-h, h] of a tensor's values
local function stats (t, h)
  local v = t:double():values()
  local s, mx, inside = 0, 0, 0
  for i = 1, #v do
    s = s + v[i]
    if math.abs(v[i]) > mx then mx = math.abs(v[i]) end
    if h and math.abs(v[i]) <= h then inside = inside + 1 end
  end
  local mean = s / #v
  local sq = 0
  for i = 1, #v do sq = sq + (v[i] - mean) ^ 2 end
  return mx, sq / #v, mean, inside / #v, #v
end

local function is_conv (m)
  local n = m:_get_name()
  return n == "Conv1d" or n == "Conv2d" or n == "ConvTranspose2d"
end

-- run model (in eval mode) on xb layer by layer: each convolution's output has variance 1 to tol
local function conv_outputs_unit_var (model, xb, tol)
  model:eval()
  dm.no_grad(function ()
    local h = xb
    for i = 1, #model do
      h = model[i](h)
      if is_conv(model[i]) then
        close(h:var():item(), 1, tol, "layer " .. (i - 1) .. " output variance")
      end
    end
  end)
end

-- every weight of 2+ dims by fn(w), biases zeroed
local function set_weights (model, fn)
  dm.no_grad(function ()
    for m in model:modules() do
      local w = rawget(m, "_parameters").map.weight
      if w ~= nil and w:dim() >= 2 then
        fn(w)
        if m.bias ~= nil then m.bias:zero_() end
      end
    end
  end)
end

-- depth 3x3 convolutions of 8 channels with tanh, global average pooling, a classifier
local function tanh_cnn (depth)
  local layers = { nn.Conv2d(3, 8, 3, { padding = 1 }), nn.Tanh() }
  for _ = 2, depth do
    layers[#layers + 1] = nn.Conv2d(8, 8, 3, { padding = 1 })
    layers[#layers + 1] = nn.Tanh()
  end
  layers[#layers + 1] = nn.AdaptiveAvgPool2d(1)
  layers[#layers + 1] = nn.Flatten()
  layers[#layers + 1] = nn.Linear(8, 10)
  return nn.Sequential(table.unpack(layers))
end

describe("the convolutions' default init (PyTorch's reset_parameters)", function ()
  it("computes PyTorch's fans for 3-D, 4-D and 5-D weights, grouped and transposed", function ()
    -- torch.nn.init._calculate_fan_in_and_fan_out on the same layers (PyTorch 1.13)
    local cases = {
      { nn.Conv2d(6, 4, { 3, 5 }, { groups = 2 }).weight, 45, 60 },      -- [4 x 3 x 3 x 5]
      { nn.Conv1d(4, 8, 5, { groups = 2 }).weight, 10, 40 },             -- [8 x 2 x 5]
      { nn.ConvTranspose2d(6, 4, 3, { groups = 2 }).weight, 18, 54 },    -- [6 x 2 x 3 x 3]
      { dm.empty(2, 3, 4, 5, 6), 360, 240 },
    }
    for i, c in ipairs(cases) do
      local fi, fo = init.calculate_fan_in_and_fan_out(c[1])
      assert.are.equal(c[2], fi, "case " .. i .. " fan_in")
      assert.are.equal(c[3], fo, "case " .. i .. " fan_out")
    end
  end)

  it("gives the convolutions' nonlinearity names gain 1", function ()
    for _, nl in ipairs({ "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                          "conv_transpose3d" }) do
      assert.are.equal(1, init.calculate_gain(nl), nl)
    end
  end)

  -- kaiming_uniform_(a = sqrt(5)): bound = sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in);
  -- the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in
  local layers = {
    { "Conv1d(64, 128, 5)", function () return nn.Conv1d(64, 128, 5) end, 64 * 5 },
    { "Conv2d(32, 64, 3)", function () return nn.Conv2d(32, 64, 3) end, 32 * 9 },
    { "Conv2d(64, 64, 3, groups 8)", function () return nn.Conv2d(64, 64, 3, { groups = 8 }) end,
      8 * 9 },
    { "Conv2d(8, 16, {3, 5}, stride 2)", function ()
        return nn.Conv2d(8, 16, { 3, 5 }, { stride = 2 }) end, 8 * 15 },
    -- the transposed weight is [in x out/groups x kh x kw]: fan_in = out/groups * kh * kw
    { "ConvTranspose2d(64, 32, 3, groups 2)", function ()
        return nn.ConvTranspose2d(64, 32, 3, { groups = 2 }) end, 16 * 9 },
    { "ConvTranspose2d(16, 48, 4)", function () return nn.ConvTranspose2d(16, 48, 4) end, 48 * 16 },
  }
  for _, c in ipairs(layers) do
    it("draws " .. c[1] .. "'s weight from U(-1/sqrt(fan_in), 1/sqrt(fan_in))", function ()
      dm.manual_seed(7)
      local m = c[2]()
      local bound = 1 / math.sqrt(c[3])
      local fi = init.calculate_fan_in_and_fan_out(m.weight)
      assert.are.equal(c[3], fi)
      local mx, var, mean, half, n = stats(m.weight, bound / 2)
      assert.is_true(mx <= bound * (1 + 1e-6), ("max %g above the bound %g"):format(mx, bound))
      -- the largest of n uniform draws lies above (1 - 20/n) bound but for e^-20
      assert.is_true(mx >= bound * (1 - 20 / n), ("max %g, bound %g"):format(mx, bound))
      -- variance bound^2 / 3 (a wrong fan, e.g. ignoring groups, is off by a factor >= 2)
      assert.is_true(math.abs(var / (bound ^ 2 / 3) - 1) < 0.1,
                     ("variance %g, want %g"):format(var, bound ^ 2 / 3))
      assert.is_true(math.abs(mean) < 5 * bound / math.sqrt(3 * n), "mean " .. mean)
      -- uniform, not normal: half the draws within bound / 2 (a normal of that variance
      -- puts 62% there)
      assert.is_true(math.abs(half - 0.5) < 0.03, "fraction within bound/2: " .. half)
      local bmx = stats(m.bias)
      assert.is_true(bmx <= bound * (1 + 1e-6), ("bias max %g above %g"):format(bmx, bound))
      assert.is_true(bmx >= bound / 4, ("bias max %g far below the bound %g"):format(bmx, bound))
    end)
  end

  it("draws the bias with the weight's fan_in over many channels", function ()
    dm.manual_seed(3)
    local m = nn.Conv2d(2, 2048, 2)              -- fan_in 8: bound 1 / sqrt(8)
    local bound = 1 / math.sqrt(8)
    local mx, var, _, half = stats(m.bias, bound / 2)
    assert.is_true(mx <= bound * (1 + 1e-6) and mx >= bound * 0.99)
    assert.is_true(math.abs(var / (bound ^ 2 / 3) - 1) < 0.12, "bias variance " .. var)
    assert.is_true(math.abs(half - 0.5) < 0.06, "bias fraction within bound/2: " .. half)
  end)
end)

describe("init.recommend on CNNs", function ()
  it("traces a CNN without a batch and reads the activation after each convolution", function ()
    local model = nn.Sequential(
      nn.Conv2d(1, 8, 3, { padding = 1 }), nn.MaxPool2d(2), nn.ReLU(),
      nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.Tanh(), nn.Dropout2d(0.1),
      nn.Conv2d(16, 16, 3, { padding = 1 }), nn.LeakyReLU(0.2),
      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    local r = init.recommend(model)
    assert.is_true(r.traced)
    assert.are.equal(4, r.depth)
    local e1, e2, bn, e3, e4 = r[1], r[2], r[3], r[4], r[5]
    assert.are.equal("0", e1.name)
    assert.are.equal("ReLU", e1.activation)             -- through the max pooling
    assert.are.equal("kaiming_normal_", e1.scheme)
    close(e1.std, SQRT2 / 3, 1e-9, "conv1 std (fan_in 1 x 3 x 3)")
    assert.is_true(bn.norm)
    assert.are.equal("BatchNorm2d", bn.layer)
    assert.are.equal("Tanh", e2.activation)
    assert.is_true(e2.batch_norm)
    assert.are.equal("xavier_normal_", e2.scheme)
    close(e2.std, 5 / 3 * math.sqrt(2 / ((8 + 16) * 9)), 1e-9, "conv2 std")
    assert.are.equal("LeakyReLU", e3.activation)
    close(e3.param, 0.2, 1e-9)
    close(e3.std, math.sqrt(2 / (1 + 0.04)) / math.sqrt(16 * 9), 1e-9, "conv3 std")
    assert.are.equal("Linear", e4.layer)
    assert.is_true(e4.last)
    assert.are.equal("xavier_normal_", e4.scheme)
    assert.is_nil(e4.unknown)
    assert.matches("Conv2d %[8 x 1 x 3 x 3%]", tostring(r))
  end)

  it("traces Conv1d models without a batch, and ConvTranspose2d ones", function ()
    local m1 = nn.Sequential(nn.Conv1d(3, 6, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(6, 4, 3),
                             nn.Sigmoid())
    local r = init.recommend(m1)
    assert.is_true(r.traced)
    assert.are.equal("ReLU", r[1].activation)
    close(r[1].std, SQRT2 / math.sqrt(15), 1e-9)
    assert.are.equal("Sigmoid", r[2].activation)
    close(r[2].std, math.sqrt(2 / ((6 + 4) * 3)), 1e-9)
    local m2 = nn.Sequential(nn.ConvTranspose2d(4, 2, 2, { stride = 2 }), nn.Tanh())
    local r2 = init.recommend(m2, { batch = dm.randn(2, 4, 5, 5) })
    assert.is_true(r2.traced)
    assert.are.equal("Tanh", r2[1].activation)
    -- fans from the weight's layout [4 x 2 x 2 x 2]: fan_in 8, fan_out 16
    close(r2[1].std, 5 / 3 * math.sqrt(2 / 24), 1e-9)
  end)

  it("applies its advice to the convolutions' weights", function ()
    local model = nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3),
                                nn.Tanh(), nn.Flatten(), nn.Linear(32, 2))
    local r = init.recommend(model, { apply = true, generator = dm.Generator(5),
                                      batch = dm.randn(2, 16, 5, 5) })
    for i = 1, 2 do
      local _, var, mean = stats(r[i].module.weight)
      close(math.sqrt(var), r[i].std, 0.06, "layer " .. i .. " weight std")
      assert.is_true(math.abs(mean) < 0.01)
      assert.are.equal(0, r[i].module.bias:abs():max():item())
    end
  end)
end)

describe("init.diagnose on CNNs", function ()
  local x = dm.randn(8, 3, 12, 12, { generator = dm.Generator(1) })

  it("flags a deep tanh CNN under U(-0.01, 0.01) as vanishing, not under Xavier", function ()
    local model = tanh_cnn(8)
    local g = dm.Generator(3)
    set_weights(model, function (w) init.uniform_(w, -0.01, 0.01, { generator = g }) end)
    local d = init.diagnose(model, x, { verbose = false })
    assert.is_true(d.vanishing)
    assert.is_true(d.activation_ratio < 1e-2, "activation ratio " .. tostring(d.activation_ratio))
    assert.is_true(d.gradient_ratio < 1e-2, "gradient ratio " .. tostring(d.gradient_ratio))
    assert.matches("vanishing: activation std falls", table.concat(d.flags, "\n"))

    set_weights(model, function (w)
      init.xavier_normal_(w, init.calculate_gain("tanh"), { generator = g })
    end)
    d = init.diagnose(model, x, { verbose = false })
    assert.is_false(d.vanishing)
    assert.is_false(d.exploding)
    assert.is_true(d.ok, table.concat(d.flags, "\n"))
  end)

  it("flags saturating tanh feature maps and exploding ReLU ones under N(0, 1) weights", function ()
    local model = tanh_cnn(6)
    local g = dm.Generator(4)
    set_weights(model, function (w) init.normal_(w, 0, 1, { generator = g }) end)
    local d = init.diagnose(model, x, { verbose = false })
    assert.is_true(d.saturating)
    local layers = { nn.Conv2d(3, 8, 3, { padding = 1 }), nn.ReLU() }
    for _ = 2, 6 do
      layers[#layers + 1] = nn.Conv2d(8, 8, 3, { padding = 1 })
      layers[#layers + 1] = nn.ReLU()
    end
    local relu = nn.Sequential(table.unpack(layers))
    set_weights(relu, function (w) init.normal_(w, 0, 1, { generator = g }) end)
    d = init.diagnose(relu, x, { verbose = false })
    assert.is_true(d.exploding)
    assert.is_true(d.activation_ratio > 1e2, "activation ratio " .. d.activation_ratio)
    assert.is_true(d.gradient_ratio > 1e2, "gradient ratio " .. d.gradient_ratio)
  end)

  it("does not take global average pooling for a vanishing signal", function ()
    -- averaging a 48 x 48 map divides its std (and each position's gradient) by up to 48:
    -- a healthy He-initialised CNN stays ok
    local model = nn.Sequential(nn.Conv2d(3, 16, 3, { padding = 1 }), nn.ReLU(),
                                nn.Conv2d(16, 16, 3, { padding = 1 }), nn.ReLU(),
                                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    init.recommend(model, { apply = true, generator = dm.Generator(2),
                            batch = dm.randn(2, 3, 48, 48) })
    local d = init.diagnose(model, dm.randn(4, 3, 48, 48, { generator = dm.Generator(2) }),
                            { verbose = false })
    assert.is_true(d.ok, table.concat(d.flags, "\n"))
    assert.is_true(d.gradient_ratio > 1e-2 and d.gradient_ratio < 1e2)
  end)

  it("reports feature-map statistics per layer call, pooling and batch norm included", function ()
    local model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(64, 2))
    local xb = dm.randn(4, 3, 10, 10, { generator = dm.Generator(9) })
    model:eval()
    local d = init.diagnose(model, xb, { verbose = false })
    local names = {}
    for i, l in ipairs(d.layers) do names[i] = l.layer end
    assert.are.same({ "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear" }, names)
    local y = dm.no_grad(function () return model[1](xb) end)
    close(d.layers[1].mean, y:mean():item(), 1e-5, "conv output mean")
    close(d.layers[1].std, y:std(nil, { correction = 0 }):item(), 1e-5, "conv output std")
    assert.are.equal("Conv2d [4 x 3 x 3 x 3]", d.layers[1].label)
    assert.is_true(d.layers[1].weighted and d.layers[1].weight_grad_std > 0)
    assert.is_true(d.layers[3].zeros > 0.2 and d.layers[3].zeros < 0.8)
    assert.matches("MaxPool2d", tostring(d))
  end)

  it("flags dead ReLUs after a convolution", function ()
    local model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                                nn.Flatten(), nn.Linear(256, 2))
    dm.no_grad(function () model[1].bias:fill_(-100) end)
    local d = init.diagnose(model, x, { verbose = false })
    assert.is_true(d.dead)
  end)
end)

describe("init.lsuv_ on CNNs", function ()
  it("brings every convolution's output to unit variance", function ()
    local model = nn.Sequential(
      nn.Conv2d(3, 8, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.Tanh(),
      nn.Conv2d(16, 16, 3, { padding = 1 }), nn.ReLU(),
      nn.ConvTranspose2d(16, 4, 2, { stride = 2 }), nn.ReLU(),
      nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    local xb = dm.randn(32, 3, 14, 14, { generator = dm.Generator(11) })
    local _, report = init.lsuv_(model, xb, { generator = dm.Generator(1), tol = 0.02 })
    local names = {}
    for i, l in ipairs(report) do names[i] = l.module:_get_name() end
    assert.are.same({ "Conv2d", "Conv2d", "Conv2d", "ConvTranspose2d", "Linear" }, names)
    for _, l in ipairs(report) do
      assert.is_true(l.converged, l.name)
      assert.is_true(math.abs(l.var - 1) < 0.02, l.name .. " " .. l.var)
    end
    -- measured independently: run the layers one by one
    conv_outputs_unit_var(model, xb, 0.02)
  end)

  it("rescales Conv1d layers too", function ()
    local model = nn.Sequential(nn.Conv1d(2, 8, 5), nn.Tanh(), nn.MaxPool1d(2),
                                nn.Conv1d(8, 8, 3, { groups = 2 }), nn.ReLU(), nn.Flatten(),
                                nn.Linear(8 * 12, 2))
    local xb = dm.randn(16, 2, 32, { generator = dm.Generator(4) }):mul(5)
    local _, report = init.lsuv_(model, xb, { generator = dm.Generator(5), tol = 0.05 })
    assert.are.equal(3, #report)
    conv_outputs_unit_var(model, xb, 0.05)
  end)

  it("starts each convolution orthogonal, its weight viewed [out x in*kh*kw]", function ()
    local model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3))
    local xb = dm.randn(16, 3, 9, 9, { generator = dm.Generator(2) })
    init.lsuv_(model, xb, { generator = dm.Generator(3) })
    for _, m in ipairs({ model[1], model[3] }) do
      local w = m.weight:detach()
      local rows = w:reshape(w:size(1), -1)
      -- rescaled orthonormal rows: W W^T = c I
      local gram = rows:matmul(rows:t())
      local c = gram[1][1]:item()
      assert.is_true(c > 0)
      local eye = dm.eye(w:size(1)):mul(c)
      assert.is_true((gram - eye):abs():max():item() < 1e-4 * c)
      assert.are.equal(0, m.bias:abs():max():item())
    end
  end)
end)

describe("init.compare on CNNs", function ()
  it("trains a small CNN under each scheme, custom ones seeing the convolutions", function ()
    local g = dm.Generator(42)
    local X = dm.randn(32, 1, 6, 6, { generator = g })
    -- class: is the top half brighter than the bottom half
    local top = X:narrow(3, 1, 3):sum({ 2, 3, 4 })
    local bottom = X:narrow(3, 4, 3):sum({ 2, 3, 4 })
    local Y = top:gt(bottom):long() + 1
    local seen = {}
    local res = init.compare{
      model = function ()
        return nn.Sequential(nn.Conv2d(1, 4, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(36, 2))
      end,
      data = { X, Y }, val = { X, Y }, loss = nn.CrossEntropyLoss(),
      optimizer = function (p) return optim.SGD(p, { lr = 0.05 }) end,
      epochs = 3, batch_size = 8, seed = 1, verbose = false,
      schemes = { "default", "kaiming", "lsuv", "recommended",
                  mine = function (w, layer)
                    seen[#seen + 1] = layer:_get_name()
                    w:fill_(0.01)
                  end },
    }
    assert.are.same({ "Conv2d", "Linear" }, seen)
    for _, name in ipairs({ "default", "kaiming", "lsuv", "recommended", "mine" }) do
      local r = res.results[name]
      assert.are.equal(3, #r.curve, name)
      assert.is_false(r.diverged, name)
      assert.is_true(r.final_loss > 0 and r.final_loss < 10, name)
      assert.is_true(r.val_metric >= 0 and r.val_metric <= 1, name)
    end
    assert.is_not_nil(res.winner)
    -- the schemes start from different weights: their curves differ
    assert.are_not.equal(res.results.default.curve[1], res.results.kaiming.curve[1])
  end)
end)
