-- deepmoon.nn.init: PyTorch's torch.nn.init from Lua.  Deterministic results (gains, fans,
-- the scales the fan-based initialisers use, eye_, dirac_, sparse_'s zero counts) against
-- tests/fixtures/init_cases.lua (regenerate with /usr/bin/python3 tests/fixtures/gen_init.py);
-- random ones statistically; the argument forms, generators and error texts.
-- (tests/c/test_init.c checks the C kernels on large tensors.)

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local dm = require "deepmoon"
local init = require "deepmoon.nn.init"
local fixtures = dofile(script_dir() .. "fixtures/init_cases.lua")

local function close (a, b, tol, what)
  tol = tol or 1e-6
  assert(math.abs(a - b) <= tol * math.max(1, math.abs(b)),
         string.format("%sexpected %.9g, got %.9g", what and (what .. ": ") or "", b, a))
end

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

local function max_abs (t) return t:abs():max():item() end

-- population std of a tensor's values, computed here
local function stats (t)
  local v = t:values()
  local s, sq = 0, 0
  for i = 1, #v do s = s + v[i] end
  local mean = s / #v
  for i = 1, #v do sq = sq + (v[i] - mean) ^ 2 end
  return mean, math.sqrt(sq / #v)
end

local function sizes_str (s) return "[" .. table.concat(s, " x ") .. "]" end

describe("deepmoon.nn.init", function ()
  it("is dm.init and nn.init", function ()
    assert.are.equal(init, dm.init)
    assert.are.equal(init, dm.nn.init)
  end)

  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.nn.init"] = nil
    local m = require "deepmoon.nn.init"
    m.kaiming_uniform_(dm.empty(3, 4), { mode = "fan_out" })
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    package.loaded["deepmoon.nn.init"] = init
  end)
end)

describe("calculate_gain", function ()
  it("matches PyTorch for every nonlinearity", function ()
    for _, c in ipairs(fixtures.gains) do
      close(init.calculate_gain(c.nonlinearity, c.param), c.gain, 1e-15, c.nonlinearity)
    end
  end)

  it("gives the documented values", function ()
    assert.are.equal(1, init.calculate_gain("linear"))
    assert.are.equal(1, init.calculate_gain("conv2d"))
    assert.are.equal(1, init.calculate_gain("sigmoid"))
    assert.are.equal(5 / 3, init.calculate_gain("tanh"))
    assert.are.equal(math.sqrt(2), init.calculate_gain("relu"))
    assert.are.equal(0.75, init.calculate_gain("selu"))
    close(init.calculate_gain("leaky_relu"), math.sqrt(2 / (1 + 0.01 ^ 2)), 1e-15)
    close(init.calculate_gain("leaky_relu", 0.2), math.sqrt(2 / 1.04), 1e-15)
    close(init.calculate_gain("leaky_relu", { param = 0.2 }), math.sqrt(2 / 1.04), 1e-15)
    -- the parameter matters only to leaky_relu, as in PyTorch
    assert.are.equal(5 / 3, init.calculate_gain("tanh", "ignored"))
  end)

  it("reports bad arguments", function ()
    assert.are.equal("calculate_gain: unsupported nonlinearity 'foo'",
                     err(init.calculate_gain, "foo"))
    assert.are.equal("calculate_gain: negative_slope must be a number, got boolean",
                     err(init.calculate_gain, "leaky_relu", true))
    assert.are.equal("calculate_gain: nonlinearity must be a string, got nil",
                     err(init.calculate_gain))
    assert.are.equal("calculate_gain: unknown option 'slope'",
                     err(init.calculate_gain, "leaky_relu", { slope = 0.1 }))
  end)
end)

describe("fans", function ()
  it("match PyTorch's _calculate_fan_in_and_fan_out", function ()
    for _, c in ipairs(fixtures.fans) do
      local fi, fo = init.calculate_fan_in_and_fan_out(dm.empty(c.size))
      assert.are.equal(c.fan_in, fi, sizes_str(c.size))
      assert.are.equal(c.fan_out, fo, sizes_str(c.size))
    end
  end)

  it("read a Linear weight [out x in] and a conv weight [o x i x k x k]", function ()
    local fi, fo = init._calculate_fan_in_and_fan_out(dm.empty(30, 200))
    assert.are.equal(200, fi)
    assert.are.equal(30, fo)
    fi, fo = init.calculate_fan_in_and_fan_out(dm.empty(8, 16, 3, 3))
    assert.are.equal(16 * 9, fi)
    assert.are.equal(8 * 9, fo)
  end)

  it("need two dimensions", function ()
    assert.are.equal("xavier_uniform_: fan in and fan out can not be computed for tensor "
                     .. "with fewer than 2 dimensions, got [5]",
                     err(init.xavier_uniform_, dm.empty(5)))
    assert.are.equal("calculate_fan_in_and_fan_out: fan in and fan out can not be computed "
                     .. "for tensor with fewer than 2 dimensions, got []",
                     err(init.calculate_fan_in_and_fan_out, dm.tensor(1)))
    assert.are.equal("kaiming_normal_: fan in and fan out can not be computed for tensor "
                     .. "with fewer than 2 dimensions, got [5]",
                     err(init.kaiming_normal_, dm.empty(5)))
  end)
end)

describe("fan-scaled initialisers", function ()
  it("use PyTorch's bounds and stds", function ()
    local g = dm.Generator(11)
    for _, c in ipairs(fixtures.scales) do
      local w = dm.empty(c.size)
      local what = c.fn .. " " .. sizes_str(c.size) .. " " .. tostring(c.mode)
                   .. " " .. tostring(c.nonlinearity)
      -- positional and options forms alike
      local res
      if c.fn:match("^xavier") then
        res = init[c.fn](w, c.gain, g)
      else
        res = init[c.fn](w, { a = c.a, mode = c.mode, nonlinearity = c.nonlinearity,
                              generator = g })
      end
      assert.are.equal(w, res)
      if c.bound then
        local m = max_abs(w)
        assert.is_true(m <= c.bound * (1 + 1e-6) and m > c.bound * 0.99, what)
        local _, sd = stats(w)
        close(sd, c.bound / math.sqrt(3), 0.04, what)
      else
        local mean, sd = stats(w)
        close(sd, c.std, 0.04, what)
        assert.is_true(math.abs(mean) < 5 * c.std / math.sqrt(w:numel()), what)
      end
    end
  end)

  it("give nn.Linear's and nn.Conv2d's default weight bounds", function ()
    for _, c in ipairs(fixtures.layers) do
      local w = dm.empty(c.size)
      init.kaiming_uniform_(w, math.sqrt(5))
      assert.is_true(max_abs(w) <= c.weight_bound * (1 + 1e-6), c.name)
      assert.is_true(max_abs(w) > c.weight_bound * 0.98, c.name)
      local fan_in = init.calculate_fan_in_and_fan_out(w)
      close(1 / math.sqrt(fan_in), c.bias_bound, 1e-15, c.name)
    end
  end)

  it("accept positional arguments in PyTorch's order, mixed with options", function ()
    local a, b = dm.empty(200, 300), dm.empty(200, 300)
    init.kaiming_normal_(a, 0, "fan_out", "relu", dm.Generator(3))
    init.kaiming_normal_(b, 0, { mode = "fan_out", nonlinearity = "relu",
                                 generator = dm.Generator(3) })
    assert.are.same(a:values(), b:values())
    init.kaiming_normal_(b, 0, "fan_out", { nonlinearity = "relu", generator = dm.Generator(3) })
    assert.are.same(a:values(), b:values())
    local _, sd = stats(a)
    close(sd, math.sqrt(2) / math.sqrt(200), 0.03)
    -- mode is case-insensitive, as PyTorch's
    init.kaiming_normal_(b, 0, "FAN_OUT", "relu", dm.Generator(3))
    assert.are.same(a:values(), b:values())
  end)

  it("offer LeCun's initialisers", function ()
    local w = dm.empty(300, 400)
    init.lecun_normal_(w)
    local _, sd = stats(w)
    close(sd, 1 / math.sqrt(400), 0.03)
    init.lecun_uniform_(w, { generator = dm.Generator(1) })
    assert.is_true(max_abs(w) <= math.sqrt(3 / 400) and max_abs(w) > 0.99 * math.sqrt(3 / 400))
  end)

  it("leave zero-element tensors alone", function ()
    assert.are.same({ 0, 3 }, init.kaiming_normal_(dm.empty(0, 3)):size())
    init.kaiming_uniform_(dm.empty(0))
    init.xavier_uniform_(dm.empty(0, 0))
    init.orthogonal_(dm.empty(4, 0))
    init.lecun_normal_(dm.empty(3, 0, 2))
  end)
end)

describe("plain fills", function ()
  it("uniform_ defaults to [0, 1) and takes a, b positionally or as options", function ()
    local w = dm.empty(200, 200)
    init.uniform_(w)
    assert.is_true(w:min():item() >= 0 and w:max():item() <= 1)
    init.uniform_(w, -0.1, 0.1)
    assert.is_true(w:min():item() >= -0.1 - 1e-7 and w:max():item() <= 0.1 + 1e-7)
    assert.is_true(w:min():item() < -0.099 and w:max():item() > 0.099)
    init.uniform_(w, { a = 2, b = 3 })
    assert.is_true(w:min():item() >= 2 and w:max():item() <= 3)
    init.uniform_(w, { b = -5, a = -6 })
    assert.is_true(w:min():item() >= -6 and w:max():item() <= -5)
  end)

  it("normal_ and trunc_normal_", function ()
    local w = dm.empty(300, 300)
    init.normal_(w, 2, 0.5)
    local mean, sd = stats(w)
    close(mean, 2, 0.01)
    close(sd, 0.5, 0.02)
    init.normal_(w, { std = 0.02 })
    mean, sd = stats(w)
    close(sd, 0.02, 0.02)
    assert.is_true(math.abs(mean) < 0.001)
    init.trunc_normal_(w, { std = 0.02, a = -0.04, b = 0.04 })
    assert.is_true(w:min():item() >= -0.04 - 1e-9 and w:max():item() <= 0.04 + 1e-9)
    -- N(0, 1) cut at +-2 std: std 0.8796
    init.trunc_normal_(w)
    mean, sd = stats(w)
    close(sd, 0.87962566, 0.02)
    assert.is_true(w:min():item() >= -2 and w:max():item() <= 2)
    assert.is_true(w:min():item() < -1.99 and w:max():item() > 1.99)
    init.trunc_normal_(w, 1, 1, 0, 3)
    assert.is_true(w:min():item() >= 0 and w:max():item() <= 3)
  end)

  it("constant_, ones_ and zeros_", function ()
    local w = dm.empty(2, 3)
    assert.are.same({ { 0.5, 0.5, 0.5 }, { 0.5, 0.5, 0.5 } }, init.constant_(w, 0.5):totable())
    assert.are.same({ { 7, 7, 7 }, { 7, 7, 7 } }, init.constant_(w, { val = 7 }):totable())
    assert.are.same({ { 1, 1, 1 }, { 1, 1, 1 } }, init.ones_(w):totable())
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, init.zeros_(w):totable())
  end)

  it("write through non-contiguous views", function ()
    local base = dm.zeros(3, 4)
    local v = base:t()                          -- [4 x 3], non-contiguous
    init.eye_(v)
    assert.are.same({ { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 } }, base:totable())
    local col = base:narrow(2, 2, 1)           -- [3 x 1], strided
    init.constant_(col, 5)
    assert.are.same({ { 1, 5, 0, 0 }, { 0, 5, 0, 0 }, { 0, 5, 1, 0 } }, base:totable())
    local a, b = dm.zeros(40, 30), dm.empty(30, 40)
    init.xavier_normal_(a:t(), { generator = dm.Generator(8) })
    init.xavier_normal_(b, { generator = dm.Generator(8) })
    assert.are.same(b:values(), a:t():contiguous():values())
  end)
end)

describe("structured initialisers", function ()
  it("eye_ matches PyTorch", function ()
    for _, c in ipairs(fixtures.eye) do
      assert.are.same(c.values, init.eye_(dm.full(c.size, 3)):values())
    end
    assert.are.equal("eye_: only tensors with 2 dimensions are supported, got [2 x 2 x 2]",
                     err(init.eye_, dm.empty(2, 2, 2)))
  end)

  it("dirac_ matches PyTorch", function ()
    for _, c in ipairs(fixtures.dirac) do
      local w = dm.full(c.size, 3)
      if c.groups == 1 then init.dirac_(w) else init.dirac_(w, c.groups) end
      assert.are.same(c.values, w:values(), sizes_str(c.size))
      init.dirac_(w, { groups = c.groups })
      assert.are.same(c.values, w:values(), sizes_str(c.size))
    end
    assert.are.equal("dirac_: dim 1 (size 4) must be divisible by groups (3)",
                     err(init.dirac_, dm.empty(4, 2, 3), 3))
    assert.are.equal("dirac_: only tensors with 3, 4, or 5 dimensions are supported, got [4 x 2]",
                     err(init.dirac_, dm.empty(4, 2)))
    assert.are.equal("dirac_: groups must be an integer, got 1.5",
                     err(init.dirac_, dm.empty(4, 2, 3), 1.5))
  end)

  it("orthogonal_ gives orthonormal rows or columns", function ()
    local function gram_error (w, gain)
      local rows = w:size()[1]
      local m = w:reshape(rows, -1)
      local gm = m:size()[1] >= m:size()[2] and m:t():matmul(m) or m:matmul(m:t())
      local n = gm:size()[1]
      local worst = 0
      local v = gm:totable()
      for i = 1, n do
        for j = 1, n do
          worst = math.max(worst, math.abs(v[i][j] - (i == j and gain * gain or 0)))
        end
      end
      return worst
    end
    for _, s in ipairs({ { 60, 40 }, { 40, 60 }, { 50, 50 }, { 8, 3, 3, 3 } }) do
      local w = init.orthogonal_(dm.empty(s))
      assert.is_true(gram_error(w, 1) < 1e-4, sizes_str(s))
    end
    local w = init.orthogonal_(dm.empty(30, 20), { gain = 2 })
    assert.is_true(gram_error(w, 2) < 4e-4)
    w = init.orthogonal_(dm.empty(30, 20), 0.5, dm.Generator(1))
    assert.is_true(gram_error(w, 0.5) < 1e-4)
    assert.are.equal("orthogonal_: only tensors with 2 or more dimensions are supported, got [5]",
                     err(init.orthogonal_, dm.empty(5)))
  end)

  it("sparse_ zeros as many entries per column as PyTorch", function ()
    for _, c in ipairs(fixtures.sparse) do
      local w = init.sparse_(dm.empty(c.rows, c.cols), c.sparsity)
      local v = w:totable()
      for j = 1, c.cols do
        local zeros = 0
        for i = 1, c.rows do if v[i][j] == 0 then zeros = zeros + 1 end end
        assert.are.equal(c.zeros_per_column, zeros)
      end
    end
    local w = init.sparse_(dm.empty(200, 50), { sparsity = 0.5, std = 2 })
    local sq, n = 0, 0
    for _, x in ipairs(w:values()) do
      if x ~= 0 then sq, n = sq + x * x, n + 1 end
    end
    assert.are.equal(5000, n)
    close(math.sqrt(sq / n), 2, 0.05)
    assert.are.equal("sparse_: missing argument 'sparsity'", err(init.sparse_, w))
    assert.are.equal("sparse_: only tensors with 2 dimensions are supported, got [2 x 2 x 2]",
                     err(init.sparse_, dm.empty(2, 2, 2), 0.1))
    assert.are.equal("sparse_: sparsity must be in [0, 1], got 2", err(init.sparse_, w, 2))
  end)
end)

describe("generators", function ()
  local fns = {
    { "uniform_", {} }, { "normal_", {} }, { "trunc_normal_", {} },
    { "xavier_uniform_", {} }, { "xavier_normal_", {} }, { "kaiming_uniform_", {} },
    { "kaiming_normal_", { 0, "fan_out", "relu" } }, { "lecun_normal_", {} },
    { "lecun_uniform_", {} }, { "orthogonal_", { 1.5 } }, { "sparse_", { 0.25 } },
  }

  it("make every random initialiser repeatable", function ()
    for _, f in ipairs(fns) do
      local name, args = f[1], f[2]
      local a, b, c = dm.empty(12, 9), dm.empty(12, 9), dm.empty(12, 9)
      local pos = { table.unpack(args) }
      pos[#pos + 1] = dm.Generator(77)
      init[name](a, table.unpack(pos))
      local withopts = { table.unpack(args) }
      withopts[#withopts + 1] = { generator = dm.Generator(77) }
      init[name](b, table.unpack(withopts))
      assert.are.same(a:values(), b:values(), name)
      local other = { table.unpack(args) }
      other[#other + 1] = { generator = dm.Generator(78) }
      init[name](c, table.unpack(other))
      assert.are_not.same(a:values(), c:values(), name)
    end
  end)

  it("default to the module's generator", function ()
    local a, b = dm.empty(10, 10), dm.empty(10, 10)
    dm.manual_seed(5)
    init.kaiming_uniform_(a)
    dm.manual_seed(5)
    init.kaiming_uniform_(b)
    assert.are.same(a:values(), b:values())
  end)

  it("are checked", function ()
    assert.are.equal("normal_: option 'generator' must be a deepmoon.Generator, got number",
                     err(init.normal_, dm.empty(2, 2), { generator = 3 }))
    assert.are.equal("normal_: generator given twice",
                     err(init.normal_, dm.empty(2, 2), dm.Generator(1),
                         { generator = dm.Generator(2) }))
  end)
end)

describe("parameters", function ()
  it("are initialised in grad mode without recording", function ()
    local w = dm.zeros(5, 4, { requires_grad = true })
    assert.is_true(dm.is_grad_enabled())
    for _, name in ipairs({ "kaiming_uniform_", "xavier_normal_", "orthogonal_", "ones_",
                            "eye_", "lecun_normal_" }) do
      assert.are.equal(w, init[name](w))
    end
    init.sparse_(w, 0.5)
    init.constant_(w, 0.1)
    assert.is_true(w.requires_grad)
    assert.is_nil(w.grad_fn)
    w:sum():backward()
    assert.are.same({ 1, 1, 1, 1 }, w.grad:totable()[1])
  end)
end)

describe("argument errors", function ()
  local w = dm.empty(4, 3)
  local cases = {
    { "kaiming_normal_: unknown option 'mdoe'",
      function () init.kaiming_normal_(w, { mdoe = "fan_out" }) end },
    { "kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan'",
      function () init.kaiming_normal_(w, { mode = "fan" }) end },
    { "kaiming_uniform_: unsupported nonlinearity 'foo'",
      function () init.kaiming_uniform_(w, 0, "fan_in", "foo") end },
    { "kaiming_normal_: mode must be a string, got number",
      function () init.kaiming_normal_(w, 0, 1) end },
    { "kaiming_normal_: argument 'a' given twice (positionally and as an option)",
      function () init.kaiming_normal_(w, 0.1, { a = 0.2 }) end },
    { "uniform_: unknown option 'low'", function () init.uniform_(w, { low = 0 }) end },
    { "uniform_: a must be a number, got string", function () init.uniform_(w, "0") end },
    { "uniform_: too many arguments (at most 2 after the tensor, got 3)",
      function () init.uniform_(w, 0, 1, 2) end },
    { "uniform_: expected a <= b, got a = 1, b = 0", function () init.uniform_(w, 1, 0) end },
    { "normal_: std must be non-negative, got -1", function () init.normal_(w, 0, -1) end },
    { "trunc_normal_: std must be positive, got 0", function () init.trunc_normal_(w, 0, 0) end },
    { "constant_: missing argument 'val'", function () init.constant_(w) end },
    { "ones_: unknown option 'val'", function () init.ones_(w, { val = 2 }) end },
    { "xavier_uniform_: expected a Tensor as argument 1, got nil",
      function () init.xavier_uniform_() end },
    { "xavier_uniform_: expected a Tensor as argument 1, got table",
      function () init.xavier_uniform_({ 1, 2 }) end },
    { "eye_: too many arguments (at most 0 after the tensor, got 1)",
      function () init.eye_(w, 2) end },
  }
  for _, c in ipairs(cases) do
    it(c[1], function () assert.are.equal(c[1], err(c[2])) end)
  end

  it("point at the caller's line", function ()
    local ok, e = pcall(function () init.kaiming_normal_(w, { mode = "fan" }) end)
    assert.is_false(ok)
    assert.is_truthy(tostring(e):match("^[^:]*init_spec%.lua:%d+: kaiming_normal_"), e)
    ok, e = pcall(function () init.uniform_(w, { low = 0 }) end)
    assert.is_truthy(tostring(e):match("^[^:]*init_spec%.lua:%d+: uniform_"), e)
    ok, e = pcall(function () init.calculate_gain("foo") end)
    assert.is_truthy(tostring(e):match("^[^:]*init_spec%.lua:%d+: calculate_gain"), e)
  end)

  it("refuse a released tensor", function ()
    local t = dm.empty(2, 2)
    t:free()
    assert.are.equal("normal_: the tensor was released", err(init.normal_, t))
  end)
end)

describe("memory", function ()
  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    local base = dm.memory()
    do
      local w = dm.empty(100, 80)
      init.orthogonal_(w)
      init.sparse_(w, 0.3)
      init.kaiming_normal_(w, { generator = dm.Generator(1) })
      init.calculate_fan_in_and_fan_out(w)
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, dm.memory())
  end)
end)
