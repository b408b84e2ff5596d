-- deepmoon.check: is_tensor and the one option checker (unknown option, wrong type) every
-- Lua file uses; then, per public function that takes options, that an unknown option is
-- refused with the house message at the caller's line.

local dm = require "deepmoon"
local check = require "deepmoon.check"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

-- the full message of fn's error (with its position)
local function full_err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

local function here () return debug.getinfo(2, "l").currentline end

describe("check.is_tensor", function ()
  it("is dm.is_tensor, the C test", function ()
    assert.are.equal(check.is_tensor, dm.is_tensor)
    assert.are.equal(dm._is_tensor, dm.is_tensor)
  end)

  it("tells tensors (released ones too) from everything else", function ()
    local t = dm.ones(2)
    assert.is_true(check.is_tensor(t))
    assert.is_true(check.is_tensor(dm.tensor(3)))
    local r = dm.ones(1)
    r:free()
    assert.is_true(check.is_tensor(r))
    -- a table wearing the tensor metatable is no tensor either
    for i, v in ipairs({ 1, "x", true, {}, print, dm.Generator(1), io.stdout,
                         setmetatable({}, getmetatable(t)) }) do
      assert.is_false(check.is_tensor(v), "value " .. i)
    end
    assert.is_false(check.is_tensor(nil))
    assert.is_false(check.is_tensor())
  end)

  it("has companions is_generator and typename", function ()
    assert.is_true(check.is_generator(dm.Generator(1)))
    assert.is_false(check.is_generator(dm.ones(1)))
    assert.is_false(check.is_generator({}))
    assert.are.equal("tensor", check.typename(dm.ones(1)))
    assert.are.equal("deepmoon.Generator", check.typename(dm.Generator(1)))
    assert.are.equal("table", check.typename({}))
    assert.are.equal("nil", check.typename(nil))
  end)
end)

describe("check.options", function ()
  local SPEC = { lr = "number", nesterov = "boolean", name = "string", steps = "integer",
                 fn = "callable", weight = "tensor", generator = "generator", any = true,
                 size = { "number", "table" }, mode = { "string", "integer", "table" },
                 eps = { "number", default = 1e-5 }, extra = { default = "x" } }
  -- a public function as deepmoon writes them: the check is not a tail call
  local function f (opts)
    local o = check.options("f", opts, SPEC)
    return o
  end

  it("passes a good table back, and nil as an empty table", function ()
    local o = { lr = 0.1, nesterov = true, name = "a", steps = 3, fn = print, weight = dm.ones(1),
                generator = dm.Generator(1), any = {}, size = { 2 }, mode = 2, eps = 1,
                extra = false }
    assert.are.equal(o, check.options("f", o, SPEC))
    assert.are.same({}, check.options("f", nil, { a = "number" }))
    assert.are.same({ a = 1 }, check.options("f", { a = 1 }, { a = "number" }))
  end)

  it("fills in defaults in a new table, leaving the caller's alone", function ()
    local o = { lr = 0.1 }
    local r = f(o)
    assert.are_not.equal(o, r)
    assert.are.same({ lr = 0.1 }, o)
    assert.are.same({ lr = 0.1, eps = 1e-5, extra = "x" }, r)
    assert.are.same({ eps = 1e-5, extra = "x" }, f(nil))
    assert.are.same({ eps = 2, extra = "x" }, f({ eps = 2 }))
  end)

  it("refuses what is not an options table", function ()
    assert.are.equal("f: expected an options table, got number", err(f, 3))
    assert.are.equal("f: expected an options table, got tensor", err(f, dm.ones(1)))
    assert.are.equal("f: expected an options table, got string", err(f, "lr"))
  end)

  it("refuses unknown options", function ()
    assert.are.equal("f: unknown option 'lrate'", err(f, { lrate = 1 }))
    assert.are.equal("f: option names must be strings, got number", err(f, { 0.1 }))
    -- several: the first in sorted order, names before types, whatever the hashing
    assert.are.equal("f: unknown option 'a'", err(f, { zz = 1, a = 1, lr = "x" }))
    assert.are.equal("f: option 'lr' must be a number, got string",
                     err(f, { lr = "x", nesterov = 1 }))
  end)

  it("refuses values of the wrong type", function ()
    assert.are.equal("f: option 'lr' must be a number, got string", err(f, { lr = "0.1" }))
    assert.are.equal("f: option 'nesterov' must be a boolean, got number", err(f, { nesterov = 1 }))
    assert.are.equal("f: option 'name' must be a string, got tensor", err(f, { name = dm.ones(1) }))
    assert.are.equal("f: option 'steps' must be an integer, got 1.5", err(f, { steps = 1.5 }))
    assert.are.equal("f: option 'steps' must be an integer, got string", err(f, { steps = "1" }))
    assert.are.equal("f: option 'fn' must be a function, got table", err(f, { fn = {} }))
    assert.are.equal("f: option 'weight' must be a Tensor, got table", err(f, { weight = { 1 } }))
    assert.are.equal("f: option 'generator' must be a deepmoon.Generator, got number",
                     err(f, { generator = 42 }))
    assert.are.equal("f: option 'eps' must be a number, got boolean", err(f, { eps = false }))
  end)

  it("takes alternatives and names them all", function ()
    local spec = { size = { "number", "table" } }
    assert.are.same({ size = 2 }, check.options("f", { size = 2 }, spec))
    assert.are.same({ size = {} }, check.options("f", { size = {} }, spec))
    assert.are.equal("f: option 'size' must be a number or a table, got string",
                     err(f, { size = "2" }))
    assert.are.equal("f: option 'mode' must be a string, an integer or a table, got 0.5",
                     err(f, { mode = 0.5 }))
    assert.are.equal("f: option 'mode' must be a string, an integer or a table, got boolean",
                     err(f, { mode = true }))
  end)

  it("counts integral floats as integers and callable objects as functions", function ()
    local spec = { steps = "integer", fn = "callable" }
    assert.are.same({ steps = 3.0 }, check.options("f", { steps = 3.0 }, spec))
    local obj = setmetatable({}, { __call = function () end })
    assert.are.equal(obj, check.options("f", { fn = obj }, spec).fn)
    assert.are.equal("f: option 'fn' must be a function, got table",
                     err(check.options, "f", { fn = {} }, spec))
  end)

  it("points at the line that called the checking function", function ()
    local line
    local msg = full_err(function () line = here(); f({ lrate = 1 }) end)
    assert.are.equal(("check_spec.lua:%d: f: unknown option 'lrate'"):format(line),
                     msg:match("[^/]*$"))
    msg = full_err(function () line = here(); f({ lr = "x" }) end)
    assert.are.equal(("check_spec.lua:%d: f: option 'lr' must be a number, got string")
                     :format(line), msg:match("[^/]*$"))
    msg = full_err(function () line = here(); f(1) end)
    assert.are.equal(("check_spec.lua:%d: f: expected an options table, got number"):format(line),
                     msg:match("[^/]*$"))
  end)

  it("takes the level as error() counts it from the function that checks", function ()
    local function deeper (opts) check.options("g", opts, { a = "number" }, 3) end
    local function api (opts) deeper(opts) end
    local line
    local msg = full_err(function () line = here(); api({ b = 1 }) end)
    assert.are.equal(("check_spec.lua:%d: g: unknown option 'b'"):format(line), msg:match("[^/]*$"))
    local function own (opts) check.options("h", opts, { a = "number" }, 1) end
    msg = full_err(own, { b = 1 })
    local _, at = msg:match("([^/]*):(%d+): h: unknown option 'b'$")
    assert.is_truthy(at)
  end)

  it("hands the message to a raiser given in place of the level", function ()
    local seen
    local function raiser (m) seen = m; error({ mine = m }, 0) end
    local ok, e = pcall(check.options, "f", { lrate = 1 }, SPEC, raiser)
    assert.is_false(ok)
    assert.are.same({ mine = "f: unknown option 'lrate'" }, e)
    assert.are.equal("f: unknown option 'lrate'", seen)
    -- a raiser that returns: the message is raised as it is
    ok, e = pcall(check.options, "f", { lr = "x" }, SPEC, function () end)
    assert.is_false(ok)
    assert.are.equal("f: option 'lr' must be a number, got string", e)
  end)

  it("refuses a spec with a type it does not know", function ()
    assert.is_truthy(err(check.options, "f", { a = 1 }, { a = "float" })
                     :find("unknown type name 'float'", 1, true))
  end)

  it("gives the message without raising through options_problem", function ()
    assert.is_nil(check.options_problem("f", { lr = 1 }, SPEC))
    assert.are.equal("f: unknown option 'x'", check.options_problem("f", { x = 1 }, SPEC))
  end)
end)

describe("check.arg", function ()
  it("returns the value, or the default for nil", function ()
    assert.are.equal(0.5, check.arg("f", "p", 0.5, "number"))
    assert.are.equal(0.1, check.arg("f", "p", nil, "number", 0.1))
    assert.is_nil(check.arg("f", "p", nil, "number"))
    assert.is_false(check.arg("f", "inplace", false, "boolean", true))
  end)

  it("names the value without 'option' (it may have come positionally)", function ()
    assert.are.equal("f: inplace must be a boolean, got number",
                     err(check.arg, "f", "inplace", 1, "boolean"))
    assert.are.equal("f: groups must be an integer, got 1.5",
                     err(check.arg, "f", "groups", 1.5, "integer"))
    assert.are.equal("f: p must be a number or a boolean, got tensor",
                     err(check.arg, "f", "p", dm.ones(1), { "number", "boolean" }))
  end)

  it("turns an integral float into an integer where an integer is wanted", function ()
    assert.are.equal("integer", math.type(check.arg("f", "n", 3.0, "integer")))
    assert.are.equal("float", math.type(check.arg("f", "n", 3.0, { "integer", "number" })))
  end)

  it("points at the caller of the checking function, or `level` above", function ()
    local function api (v) return (check.arg("api", "v", v, "string")) end
    local line
    local msg = full_err(function () line = here(); api(1) end)
    assert.are.equal(("check_spec.lua:%d: api: v must be a string, got number"):format(line),
                     msg:match("[^/]*$"))
  end)
end)

-- Every public function that takes options, given one it does not know: the house message
-- at the line that called it.  Each case's function is one line, so the line it was defined
-- on is the line of the call.
describe("an unknown option", function ()
  local nn = require "deepmoon.nn"
  local F = nn.functional
  local init = require "deepmoon.nn.init"
  local optim = require "deepmoon.optim"
  local data = require "deepmoon.data"
  local format = require "deepmoon.format"
  local progress = require "deepmoon.progress"
  local plot = require "deepmoon.plot"
  local B = { bogus = 1 }

  local X, y, w = dm.randn(4, 2), dm.tensor({ 1, 0, 1, 0 }), dm.empty(3, 2)
  local p, t = dm.rand(4, 1) * 0.5 + 0.25, dm.rand(4, 1):gt(0.5)
  local logits, cls = dm.randn(4, 3), dm.tensor({ 1, 2, 3, 1 })
  local model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
  local function P () return dm.zeros(2):requires_grad_() end
  local function sgd () return optim.SGD({ P() }, { lr = 0.1 }) end

  local cases = {
    { "format.set_printoptions", function () format.set_printoptions(B) end },
    { "format.tensor", function () format.tensor({ 1 }, { 1 }, B) end },
    { "format.tensor_from_getter", function () format.tensor_from_getter({ 1 }, print, B) end },
    { "progress.bar", function () progress.bar(B) end },
    { "progress.bar", function () progress.wrap({ 1 }, B) end },
    { "plot.line", function () plot.line({ series = {}, bogus = 1 }) end },
    { "DataLoader", function () data.DataLoader(X, B) end },
    { "DataLoader", function () data.DataLoader(X, 2, B) end },
    { "random_split", function () data.random_split(X, { 2, 2 }, B) end },
    { "read_csv", function () data.read_csv("none.csv", B) end },
    { "standardize", function () data.standardize(X, B) end },
    { "train_test_split", function () data.train_test_split(X, y, B) end },
    { "SGD", function () optim.SGD({ P() }, { lr = 0.1, bogus = 1 }) end },
    { "SGD", function () optim.SGD({ P() }, 0.1, B) end },
    { "Adam", function () optim.Adam({ P() }, B) end },
    { "AdamW", function () optim.AdamW({ P() }, B) end },
    { "SGD", function () sgd():add_param_group({ params = { P() }, bogus = 1 }) end,
      " in param_groups[2]" },
    { "zero_grad", function () sgd():zero_grad(B) end },
    { "StepLR", function () optim.StepLR(sgd(), { step_size = 1, bogus = 1 }) end },
    { "ExponentialLR", function () optim.ExponentialLR(sgd(), { gamma = 0.5, bogus = 1 }) end },
    { "CosineAnnealingLR", function () optim.CosineAnnealingLR(sgd(), { T_max = 2, x = 1 }) end,
      nil, "x" },
    { "zero_grad", function () model:zero_grad(B) end },
    { "state_dict", function () model:state_dict(B) end },
    { "load_state_dict", function () model:load_state_dict(model:state_dict(), B) end },
    { "register_buffer", function () nn.Module():register_buffer("b", dm.zeros(1), B) end },
    { "Parameter", function () nn.Parameter(dm.zeros(1), B) end },
    { "Linear", function () nn.Linear(2, 3, B) end },
    { "BatchNorm1d", function () nn.BatchNorm1d(3, B) end },
    { "Dropout", function () nn.Dropout(B) end },
    { "Flatten", function () nn.Flatten(B) end },
    { "leaky_relu", function () F.leaky_relu(X, B) end },
    { "elu", function () F.elu(X, B) end },
    { "gelu", function () F.gelu(X, B) end },
    { "dropout", function () F.dropout(X, B) end },
    { "batch_norm", function () F.batch_norm(X, B) end },
    { "binary_cross_entropy", function () F.binary_cross_entropy(p, t, B) end },
    { "binary_cross_entropy_with_logits",
      function () F.binary_cross_entropy_with_logits(p, t, B) end },
    { "mse_loss", function () F.mse_loss(p, t, B) end },
    { "l1_loss", function () F.l1_loss(p, t, B) end },
    { "smooth_l1_loss", function () F.smooth_l1_loss(p, t, B) end },
    { "huber_loss", function () F.huber_loss(p, t, B) end },
    { "cross_entropy", function () F.cross_entropy(logits, cls, B) end },
    { "nll_loss", function () F.nll_loss(logits, cls, B) end },
    { "calculate_gain", function () init.calculate_gain("relu", B) end },
    { "init.recommend", function () init.recommend(model, B) end },
    { "init.diagnose", function () init.diagnose(model, X, B) end },
    { "init.lsuv_", function () init.lsuv_(model, X, B) end },
    { "init.compare", function () init.compare(B) end },
  }
  for _, name in ipairs({ "ReLU", "SELU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU",
                          "Softmax", "LogSoftmax", "BCELoss", "BCEWithLogitsLoss", "MSELoss",
                          "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss" }) do
    cases[#cases + 1] = { name, function () nn[name](B) end }
  end
  for _, name in ipairs({ "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
                          "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                          "kaiming_normal_", "lecun_normal_", "lecun_uniform_", "orthogonal_",
                          "sparse_" }) do
    cases[#cases + 1] = { name, function () init[name](w, B) end }
  end

  teardown(function ()
    X, y, w, p, t, logits, cls, model = nil, nil, nil, nil, nil, nil, nil, nil
  end)

  for _, c in ipairs(cases) do
    local want = ("%s: unknown option '%s'%s"):format(c[1], c[4] or "bogus", c[3] or "")
    it("raises " .. want, function ()
      local msg = full_err(c[2])
      local line = debug.getinfo(c[2], "S").linedefined
      assert.are.equal(("check_spec.lua:%d: %s"):format(line, want), msg:match("[^/]*$"))
    end)
  end
end)

describe("deepmoon.check", function ()
  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.check"] = nil
    require "deepmoon.check"
    package.loaded["deepmoon.check"] = check
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("leaves no live tensor bytes behind", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
