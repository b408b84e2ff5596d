--- deepmoon.nn.init: weight initialisers, PyTorch's torch.nn.init (also dm.init, nn.init).
--
--   local init = require "deepmoon.nn.init"
--   init.kaiming_normal_(conv.weight, {mode = "fan_out", nonlinearity = "relu"})
--   init.uniform_(w, -0.1, 0.1)                 -- or init.uniform_(w, {a = -0.1, b = 0.1})
--   init.xavier_uniform_(w, init.calculate_gain("tanh"), {generator = g})
--
-- Every initialiser fills its tensor in place (views too) and returns it.  Optional
-- arguments come in PyTorch's positional order, or as one trailing options table with
-- PyTorch's keyword names, or both; {generator = g} (or a Generator as the last positional
-- argument) picks the random generator, the default one otherwise.  Initialising records no
-- autograd and needs no no_grad: parameters are leaves that require grad, and PyTorch
-- initialises them under no_grad.
--
-- Fans, for a weight [out x in x k1 x k2 ...] (Linear's [out x in], Conv2d's
-- [out x in x kh x kw]): fan_in = in * k1 * k2 * ..., fan_out = out * k1 * k2 * ...
--
-- Beyond PyTorch: lecun_normal_ (std = 1 / sqrt(fan_in)) and lecun_uniform_
-- (bound = sqrt(3 / fan_in)), i.e. kaiming with nonlinearity "linear".  Random values follow
-- PyTorch's formulas, not its random stream.  The kernels live in C (core/ops/init.c), reached
-- through the private table deepmoon.core._init.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local C = core._init

local init = {}

local typename, is_generator = check.typename, check.is_generator

-- Errors point at the user's line.  fail serves the argument checkers, which the public
-- functions call (fail -> checker -> public function -> user: level 4); public functions
-- never tail-call the checkers or `call`, which would drop their frame.
local function fail (fmt, ...)
  error(string.format(fmt, ...), 4)
end

-- run a C kernel; its error (already "fname: ...") re-raised at the user's line
local function call (f, ...)
  local ok, res = pcall(f, ...)
  if not ok then error(res, 3) end
  return res
end

local function check_tensor (fname, t)
  if not check.is_tensor(t) then
    fail("%s: expected a Tensor as argument 1, got %s", fname, typename(t))
  end
  if t:is_released() then fail("%s: the tensor was released", fname) end
end

-- Parameter lists: { name, kind, default }, kind "number", "integer" or "string"; a nil
-- default makes the argument required.
--
-- parse(fname, params, options, ...) takes the arguments after the tensor and returns the
-- values in params' order plus the generator (nil: the default one); options is the spec of
-- the options table (params' names and generator) for deepmoon.check.
local function parse (fname, params, options, ...)
  local n = select("#", ...)
  local args = { ... }
  local opts, gen
  if n > 0 and type(args[n]) == "table" then
    opts = args[n]
    n = n - 1
  end
  if n > 0 and is_generator(args[n]) then
    gen = args[n]
    n = n - 1
  end
  if n > #params then
    fail("%s: too many arguments (at most %d after the tensor, got %d)", fname, #params, n)
  end
  local vals = {}
  for i = 1, n do vals[i] = args[i] end
  if opts then
    check.options(fname, opts, options, 3)
    if opts.generator ~= nil then
      if gen ~= nil then fail("%s: generator given twice", fname) end
      gen = opts.generator
    end
    for i, p in ipairs(params) do
      local v = opts[p[1]]
      if v ~= nil then
        if vals[i] ~= nil then
          fail("%s: argument '%s' given twice (positionally and as an option)", fname, p[1])
        end
        vals[i] = v
      end
    end
  end
  for i, p in ipairs(params) do
    if vals[i] == nil then
      if p[3] == nil then fail("%s: missing argument '%s'", fname, p[1]) end
      vals[i] = p[3]
    else
      -- named as an argument (it may have come positionally); integral floats -> integers
      vals[i] = check.arg(fname, p[1], vals[i], p[2], nil, 3)
    end
  end
  return vals, gen
end

-- init[name](t, ...) calls the C kernel cfn(t, values..., generator): generator only when
-- random; `fixed` replaces the values (ones_, zeros_)
local function define (name, params, cfn, random, fixed)
  local options = { generator = "generator" }     -- the parameters' types: checked by parse
  for _, p in ipairs(params) do options[p[1]] = true end
  init[name] = function (t, ...)
    check_tensor(name, t)
    local v, g = parse(name, params, options, ...)
    if fixed then v = fixed end
    local n = #v
    if random then
      n = n + 1
      v[n] = g
    end
    call(cfn, t, table.unpack(v, 1, n))
    return t
  end
end

local GAIN_OPTIONS = { param = true }

--- The recommended gain for a nonlinearity (PyTorch's table): linear, conv1d/2d/3d,
--- conv_transpose1d/2d/3d and sigmoid 1; tanh 5/3; relu sqrt(2); selu 3/4; leaky_relu
--- sqrt(2 / (1 + slope^2)) with slope = param or 0.01.  Also calculate_gain(nl, {param = p}).
function init.calculate_gain (nonlinearity, param)
  if type(nonlinearity) ~= "string" then
    error("calculate_gain: nonlinearity must be a string, got " .. typename(nonlinearity), 2)
  end
  if type(param) == "table" then
    check.options("calculate_gain", param, GAIN_OPTIONS)
    param = param.param
  end
  local gain = call(C.calculate_gain, nonlinearity, param)
  return gain
end

--- fan_in, fan_out of a weight with at least 2 dims (see the top of this file).
function init.calculate_fan_in_and_fan_out (t)
  check_tensor("calculate_fan_in_and_fan_out", t)
  local ok, fan_in, fan_out = pcall(C.fans, t, "calculate_fan_in_and_fan_out")
  if not ok then error(fan_in, 2) end
  return fan_in, fan_out
end
-- PyTorch's private name, which layers' reset_parameters use
init._calculate_fan_in_and_fan_out = init.calculate_fan_in_and_fan_out

--- Fill with U(a, b): uniform_(t, a = 0, b = 1).
define("uniform_", { { "a", "number", 0 }, { "b", "number", 1 } }, C.uniform_, true)

--- Fill with N(mean, std^2): normal_(t, mean = 0, std = 1).
define("normal_", { { "mean", "number", 0 }, { "std", "number", 1 } }, C.normal_, true)

--- N(mean, std^2) truncated to [a, b]: trunc_normal_(t, mean = 0, std = 1, a = -2, b = 2).
define("trunc_normal_", { { "mean", "number", 0 }, { "std", "number", 1 },
                          { "a", "number", -2 }, { "b", "number", 2 } },
  C.trunc_normal_, true)

--- Fill with val: constant_(t, val).
define("constant_", { { "val", "number" } }, C.constant_)

--- Fill with 1.
define("ones_", {}, C.constant_, false, { 1 })

--- Fill with 0.
define("zeros_", {}, C.constant_, false, { 0 })

--- A 2-D tensor becomes the identity (ones on the main diagonal of a rectangle).
define("eye_", {}, C.eye_)

--- A 3/4/5-D conv weight passes its inputs through (the Dirac delta at the kernel's
--- centre); with groups, each group of channels does: dirac_(t, groups = 1).
define("dirac_", { { "groups", "integer", 1 } }, C.dirac_)

--- Glorot: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)): xavier_uniform_(t, gain = 1).
define("xavier_uniform_", { { "gain", "number", 1 } }, C.xavier_uniform_, true)

--- Glorot: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)): xavier_normal_(t, gain = 1).
define("xavier_normal_", { { "gain", "number", 1 } }, C.xavier_normal_, true)

local kaiming_params = { { "a", "number", 0 }, { "mode", "string", "fan_in" },
                         { "nonlinearity", "string", "leaky_relu" } }

--- He: U(-b, b), b = gain * sqrt(3 / fan) with gain = calculate_gain(nonlinearity, a) and
--- fan by mode ("fan_in" or "fan_out"):
--- kaiming_uniform_(t, a = 0, mode = "fan_in", nonlinearity = "leaky_relu").
define("kaiming_uniform_", kaiming_params, C.kaiming_uniform_, true)

--- He: N(0, std^2), std = gain / sqrt(fan); arguments as kaiming_uniform_.
define("kaiming_normal_", kaiming_params, C.kaiming_normal_, true)

--- LeCun: N(0, 1 / fan_in).
define("lecun_normal_", {}, C.lecun_normal_, true)

--- LeCun: U(-b, b), b = sqrt(3 / fan_in).
define("lecun_uniform_", {}, C.lecun_uniform_, true)

--- A (semi-)orthogonal matrix times gain, the tensor seen as [size(1) x rest]:
--- orthogonal_(t, gain = 1).
define("orthogonal_", { { "gain", "number", 1 } }, C.orthogonal_, true)

--- A 2-D tensor from N(0, std^2) with ceil(sparsity * rows) zeros in every column:
--- sparse_(t, sparsity, std = 0.01).
define("sparse_", { { "sparsity", "number" }, { "std", "number", 0.01 } }, C.sparse_, true)

-- ---- tools built on the initialisers (loaded on first use) ------------------------------
-- init.lsuv_ (deepmoon.nn.lsuv), init.recommend and init.diagnose (deepmoon.nn.advisor),
-- init.compare (deepmoon.nn.compare).  They require deepmoon.nn, which loads this file, so
-- they are fetched when first read, not here.
local tools = { lsuv_ = "deepmoon.nn.lsuv", recommend = "deepmoon.nn.advisor",
                diagnose = "deepmoon.nn.advisor", compare = "deepmoon.nn.compare" }
setmetatable(init, {
  __index = function (t, k)
    local name = tools[k]
    if name == nil then return nil end
    local f = require(name)[k]
    rawset(t, k, f)
    return f
  end,
})

return init
