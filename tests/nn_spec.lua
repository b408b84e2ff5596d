-- deepmoon.nn: the Module class, layers, losses and functional forms.
-- PyTorch parity (fixtures) lives in nn_parity_spec.lua.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

-- ---- helpers ------------------------------------------------------------------------------

local function values (t) return t:values() end

local function assert_close (expected, got, tol, what)
  tol = tol or 1e-5
  if dm.is_tensor(expected) then expected = expected:values() end
  if dm.is_tensor(got) then got = got:values() end
  assert.are.equal(#expected, #got, (what or "") .. ": number of values")
  for i = 1, #expected do
    local e, g = expected[i], got[i]
    local ok = math.abs(e - g) <= tol * math.max(1, math.abs(e))
    if not ok then
      error(("%s: value %d: expected %.8g, got %.8g"):format(what or "values", i, e, g), 2)
    end
  end
end

local function set_ (t, v)
  dm.no_grad(function () t:copy_(dm.tensor(v)) end)
end

local function shape (t) return dm.format.shape_str(t:size()) end

--- Central differences against autograd: dm.autograd.gradcheck on the float32 modules and
--- losses (allow_float32, with tolerances for float32).  f() computes the output from the
--- current values of the tensors in wrt (leaves that require grad); opts.before() runs
--- before every evaluation (e.g. to reseed a generator).
local function gradcheck (f, wrt, opts)
  opts = opts or {}
  local ok, err = pcall(dm.autograd.gradcheck, function () return f() end, wrt, {
    eps = opts.eps or 1e-3, atol = opts.atol or 2e-3, rtol = opts.rtol or 1e-2,
    before = opts.before, allow_float32 = true })
  if not ok then error(err, 2) end
  return true
end

-- a leaf tensor with given values that requires grad
local function leaf (v)
  return dm.tensor(v, { dtype = dm.get_default_dtype(), requires_grad = true })
end

-- ---- the class mechanism --------------------------------------------------------------------

describe("nn.Module classes", function ()
  it("defines a class, constructs it and calls forward", function ()
    local Net = nn.Module:extend("Net")
    local seen
    function Net:__init (n)
      nn.Module.__init(self)
      seen = n
      self.scale = n
    end
    function Net:forward (x) return x * self.scale end
    local net = Net(3)
    assert.are.equal(3, seen)
    assert.are.equal(nn.Module, Net.super)
    assert_close({ 3, 6 }, net(dm.tensor{ 1, 2 }))
    assert_close({ 3, 6 }, net:forward(dm.tensor{ 1, 2 }))
    assert.is_true(net:is_a(Net))
    assert.is_true(net:is_a(nn.Module))
    assert.is_false(nn.Linear(1, 1):is_a(Net))
    assert.is_true(nn.is_module(net))
    assert.is_false(nn.is_module(Net))
    assert.are.equal("class Net", tostring(Net))
    assert.are.equal("Net", net:_get_name())
  end)

  it("works without calling nn.Module.__init and supports subclasses of subclasses", function ()
    local Base = nn.Module:extend("Base")
    function Base:__init () self.fc = nn.Linear(2, 2) end
    function Base:forward (x) return self.fc(x) end
    local Derived = Base:extend("Derived")
    function Derived:__init ()
      Derived.super.__init(self)
      self.out = nn.Linear(2, 1)
    end
    function Derived:forward (x) return self.out(Base.forward(self, x)) end
    local d = Derived()
    local names = {}
    for name in d:named_parameters() do names[#names + 1] = name end
    assert.are.same({ "fc.weight", "fc.bias", "out.weight", "out.bias" }, names)
    assert.are.same({ 3, 1 }, d(dm.zeros(3, 2)):size())
    assert.is_true(d:is_a(Base))
    assert.are.equal("Derived(\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n" ..
                     "  (out): Linear(in_features=2, out_features=1, bias=True)\n)", tostring(d))
  end)

  it("registers modules and parameters in assignment order, other values as fields", function ()
    local M = nn.Module:extend("M")
    function M:__init ()
      self.b = nn.Linear(1, 1)
      self.hidden = 7
      self.p = nn.Parameter(dm.zeros(2))
      self.a = nn.ReLU()
      self.plain = dm.ones(1)          -- a plain tensor is a field, not a parameter
    end
    local m = M()
    assert.are.equal(7, m.hidden)
    local names = {}
    for name in m:named_parameters() do names[#names + 1] = name end
    assert.are.same({ "p", "b.weight", "b.bias" }, names)
    local kids = {}
    for name in m:named_children() do kids[#kids + 1] = name end
    assert.are.same({ "b", "a" }, kids)
    assert.are.equal(1, m.plain:numel())
    -- reassigning a field with a module registers it; nil removes it
    m.hidden = nn.Tanh()
    kids = {}
    for name in m:named_children() do kids[#kids + 1] = name end
    assert.are.same({ "b", "a", "hidden" }, kids)
    m.b = nil
    assert.is_nil(m.b)
    assert.are.equal(1, #m:parameters())
  end)

  it("refuses to assign the wrong kind of value to a registered name", function ()
    local lin = nn.Linear(2, 2)
    assert.has_error(function () lin.weight = dm.zeros(2, 2) end,
      "Linear: cannot assign a Tensor as parameter 'weight' (nn.Parameter or nil expected)")
    local bn = nn.BatchNorm1d(2)
    assert.has_error(function () bn.running_mean = 3 end,
      "BatchNorm1d: cannot assign a number as buffer 'running_mean' (Tensor or nil expected)")
    local seq = nn.Sequential(nn.ReLU())
    assert.has_error(function () seq["0"] = 5 end,
      "Sequential: cannot assign a number as child module '0' (nn.Module or nil expected)")
    -- bias = nil keeps the name reserved, like PyTorch's register_parameter("bias", None)
    lin.bias = nil
    assert.is_nil(lin.bias)
    assert.are.equal("Linear(in_features=2, out_features=2, bias=False)", tostring(lin))
    lin.bias = nn.Parameter(dm.zeros(2))
    assert.are.equal(2, #lin:parameters())
  end)

  it("registers explicitly with register_parameter, register_buffer and add_module", function ()
    local m = nn.Module()
    m:register_parameter("w", nn.Parameter(dm.ones(2)))
    m:register_buffer("stats", dm.zeros(3))
    m:register_buffer("scratch", dm.zeros(1), false)
    m:register_buffer("tmp", dm.zeros(1), { persistent = false })
    m:add_module("act", nn.ReLU())
    m:register_module("act2", nn.Tanh())
    assert.are.same({ "w", "stats" }, m:state_dict():keys())
    local bufs = {}
    for name in m:named_buffers() do bufs[#bufs + 1] = name end
    assert.are.same({ "stats", "scratch", "tmp" }, bufs)
    assert.are.equal(3, #m:buffers())
    assert.are.equal(2, #m:children())
    assert.has_error(function () m:register_parameter("a.b", nn.Parameter(dm.ones(1))) end,
                     "Module: parameter name can't contain \".\", got 'a.b'")
    assert.has_error(function () m:register_parameter("x", dm.ones(1)) end,
      "Module: cannot register a plain Tensor as parameter 'x' (nn.Parameter or nil expected)")
    assert.has_error(function () m:register_buffer("", dm.ones(1)) end,
                     "Module: buffer name can't be empty")
    assert.has_error(function () m:register_buffer("b", 5) end,
      "Module: cannot register a number as buffer 'b' (Tensor or nil expected)")
    assert.has_error(function () m:add_module(1, nn.ReLU()) end,
                     "Module: module name should be a string, got number")
    assert.has_error(function () m:add_module("x", {}) end, "Module: table is not a Module")
    assert.has_error(function () m:register_buffer("b", dm.ones(1), { persist = 1 }) end,
                     "register_buffer: unknown option 'persist'")
  end)

  it("gives clear errors for misuse", function ()
    assert.has_error(function () nn.Module("SimpleNN") end,
      "Module: nn.Module takes no arguments (to define a model class, use " ..
      "nn.Module:extend(\"Name\"))")
    assert.has_error(function () nn.Module:extend(3) end,
                     "Module:extend: expected a class name (an identifier), got number")
    assert.has_error(function () nn.Module:extend("a b") end,
                     "Module:extend: expected a class name (an identifier), got 'a b'")
    local NoForward = nn.Module:extend("NoForward")
    assert.has_error(function () NoForward()(dm.zeros(1)) end,
      "NoForward: forward is not implemented (define function NoForward:forward(...))")
    assert.has_error(function () nn.Module():train(1) end,
                     "Module: train: mode should be a boolean, got number")
  end)

  it("points errors at the caller's line", function ()
    local lin = nn.Linear(2, 3)
    local line = debug.getinfo(1, "l").currentline
    local ok, err = pcall(function () local y = lin(dm.zeros(4, 5)); return y end)
    assert.is_false(ok)
    assert.is_truthy(err:find("nn_spec.lua:" .. (line + 1) .. ": Linear: expected input", 1, true))
    ok, err = pcall(function () local l = nn.Linear(2, "x"); return l end)
    assert.is_truthy(err:find("nn_spec.lua:" .. (line + 4) .. ": Linear: out_features", 1, true))
  end)
end)

describe("nn.Parameter", function ()
  it("marks a tensor: requires grad, prints as a parameter, registers on assignment", function ()
    local p = nn.Parameter(dm.tensor{ 1.0, 2.0 })
    assert.is_true(p.requires_grad)
    assert.are.equal("Parameter containing:\ntensor([1., 2.], requires_grad=True)", tostring(p))
    local q = nn.Parameter(dm.tensor{ 1.0 }, false)
    assert.is_false(q.requires_grad)
    assert.are.equal("Parameter containing:\ntensor([1.])", tostring(q))
    local r = nn.Parameter(dm.ones(1), { requires_grad = false })
    assert.is_false(r.requires_grad)
  end)

  it("detaches a tensor produced by an op", function ()
    local a = dm.ones(2, { requires_grad = true })
    local p = nn.Parameter(a * 2)
    assert.is_true(p.is_leaf)
    assert.is_true(p.requires_grad)
    assert_close({ 2, 2 }, p)
  end)

  it("rejects what is not a tensor", function ()
    assert.has_error(function () nn.Parameter({ 1 }) end, "Parameter: expected a Tensor, got table")
    assert.has_error(function () nn.Parameter(dm.ones(1), { grad = true }) end,
                     "Parameter: unknown option 'grad'")
  end)
end)

-- ---- traversal -------------------------------------------------------------------------------

describe("Module traversal", function ()
  local function model ()
    local shared = nn.Linear(2, 2)
    return nn.Sequential(shared, nn.ReLU(), nn.Sequential(nn.Linear(2, 3), shared),
                         nn.BatchNorm1d(2)), shared
  end

  it("lists parameters in registration order, each once, iterable three ways", function ()
    local m, shared = model()
    local ps = m:parameters()
    assert.are.equal(6, #ps)
    assert.are.equal(shared.weight, ps[1])
    assert.are.equal(shared.bias, ps[2])
    assert.are.equal(m[3][1].weight, ps[3])
    assert.are.equal(m[4].weight, ps[5])
    local n = 0
    for p in m:parameters() do
      n = n + 1
      assert.are.equal(ps[n], p)
    end
    assert.are.equal(6, n)
    n = 0
    for i, p in ipairs(ps) do n = i; assert.are.equal(ps[i], p) end
    assert.are.equal(6, n)
    -- an interrupted loop does not disturb the next one
    for _ in ps do break end
    n = 0
    for _ in ps do n = n + 1 end
    assert.are.equal(6, n)
    assert.are.equal(2, #m:parameters(false) + 2)
  end)

  it("names parameters as PyTorch does", function ()
    local m = model()
    local names = {}
    for name, p in m:named_parameters() do
      names[#names + 1] = name
      assert.is_true(dm.is_tensor(p))
    end
    assert.are.same({ "0.weight", "0.bias", "2.0.weight", "2.0.bias", "3.weight", "3.bias" },
                    names)
  end)

  it("walks children and modules", function ()
    local m, shared = model()
    local kids = m:children()
    assert.are.equal(4, #kids)
    assert.are.equal(shared, kids[1])
    local names = {}
    for name in m:named_children() do names[#names + 1] = name end
    assert.are.same({ "0", "1", "2", "3" }, names)
    local mods = m:modules()
    assert.are.equal(6, #mods)          -- shared counted once
    assert.are.equal(m, mods[1])
    names = {}
    for name, mod in m:named_modules() do
      names[#names + 1] = name .. "=" .. mod:_get_name()
    end
    assert.are.same({ "=Sequential", "0=Linear", "1=ReLU", "2=Sequential", "2.0=Linear",
                      "3=BatchNorm1d" }, names)
    local bufs = {}
    for name in m:named_buffers() do bufs[#bufs + 1] = name end
    assert.are.same({ "3.running_mean", "3.running_var", "3.num_batches_tracked" }, bufs)
  end)

  it("applies a function to children first, then self", function ()
    local m = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU(), nn.Tanh()))
    local order = {}
    assert.are.equal(m, m:apply(function (mod) order[#order + 1] = mod:_get_name() end))
    assert.are.same({ "Linear", "ReLU", "Tanh", "Sequential", "Sequential" }, order)
    -- the usual use: initialise every Linear
    m:apply(function (mod)
      if mod:is_a(nn.Linear) then set_(mod.weight, { { 0.5 } }) end
    end)
    assert_close({ 0.5 }, m[1].weight)
  end)

  it("switches training mode recursively", function ()
    local m = model()
    assert.is_true(m.training)
    assert.are.equal(m, m:eval())
    for mod in m:modules() do assert.is_false(mod.training) end
    assert.are.equal(m, m:train())
    for mod in m:modules() do assert.is_true(mod.training) end
    m:train(false)
    assert.is_false(m[3][1].training)
  end)

  it("zeroes gradients in place, or drops them with set_to_none", function ()
    local lin = nn.Linear(2, 1)
    lin(dm.ones(3, 2)):sum():backward()
    local g = lin.weight.grad
    assert.is_not_nil(g)
    lin:zero_grad()
    assert_close({ 0, 0 }, lin.weight.grad)
    assert_close({ 0, 0 }, g)              -- the same tensor, zeroed
    lin:zero_grad({ set_to_none = true })
    assert.is_nil(lin.weight.grad)
    assert.is_nil(lin.bias.grad)
    lin:zero_grad()                        -- no grads: nothing to do
    lin(dm.ones(1, 2)):sum():backward()
    lin:zero_grad(true)
    assert.is_nil(lin.weight.grad)
    assert.has_error(function () lin:zero_grad({ to_none = true }) end,
                     "zero_grad: unknown option 'to_none'")
  end)

  it("sets requires_grad on all parameters", function ()
    local lin = nn.Linear(2, 1)
    lin:requires_grad_(false)
    assert.is_false(lin.weight.requires_grad)
    lin:requires_grad_()
    assert.is_true(lin.bias.requires_grad)
  end)
end)

-- ---- state_dict ---------------------------------------------------------------------------

describe("Module:to(dtype)", function ()
  it("converts parameters in place, their grads, and floating buffers", function ()
    local m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    local w, b = m[1].weight, m[1].bias
    local w0 = w:values()
    m(dm.randn(4, 3)):sum():backward()
    local mean = m[2].running_mean
    m[2]:register_buffer("count", dm.tensor({ 3 }, { dtype = dm.int64 }))
    assert.are.equal(m, m:double())
    assert.is_true(rawequal(w, m[1].weight) and rawequal(b, m[1].bias))
    assert.are.equal(dm.float64, w.dtype)
    assert.are.equal(dm.float64, w.grad.dtype)
    assert.is_true(w.requires_grad and w.is_leaf)
    assert.are.equal("Parameter containing:", tostring(w):match("^[^\n]*"))
    assert.are.same(w0, w:float():values())
    assert.are.equal(dm.float64, m[2].running_mean.dtype)
    assert.is_false(rawequal(mean, m[2].running_mean))
    assert.are.equal(dm.int64, m[2].count.dtype)
    for p in m:parameters() do assert.are.equal(dm.float64, p.dtype) end
    m:to("float32")
    assert.are.equal(dm.float32, w.dtype)
    assert.are.same(w0, w:values())
    m:float()
    assert.are.equal(dm.float32, w.grad.dtype)
    assert.has_error(function () m:to(dm.int64) end,
                     "Sequential.to: only floating dtypes are accepted, got deepmoon.int64")
    assert.has_error(function () m:to("cuda") end, "Sequential.to: expected a dtype, got cuda")
  end)

  it("t.data = x replaces a leaf's values, keeping the object", function ()
    local p = dm.tensor({ 1.0, 2.0 }, { requires_grad = true })
    p.data = dm.tensor({ 3, 4 }, { dtype = dm.float64 })
    assert.are.equal(dm.float64, p.dtype)
    assert.is_true(p.requires_grad)
    assert.are.same({ 3, 4 }, p.data:values())
    assert.has_error(function () p.data = dm.tensor({ 1, 2 }, { dtype = dm.int64 }) end,
                     "data: a tensor that requires grad needs floating data, got int64")
    local q = dm.tensor({ 1.0, 2.0 }, { requires_grad = true }) * 2
    assert.has_error(function () q.data = dm.ones(2) end,
                     "data: only a leaf tensor's data can be replaced")
  end)
end)

describe("state_dict", function ()
  local Simple = nn.Module:extend("SimpleNN")
  function Simple:__init ()
    self.fc1 = nn.Linear(2, 64)
    self.bn = nn.BatchNorm1d(64)
    self.fc2 = nn.Linear(64, 1)
  end

  it("holds parameters and buffers under PyTorch's names, in PyTorch's order", function ()
    local sd = Simple():state_dict()
    local want = { "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean",
                   "bn.running_var", "bn.num_batches_tracked", "fc2.weight", "fc2.bias" }
    assert.are.same(want, sd:keys())
    local got = {}
    for k, v in pairs(sd) do
      got[#got + 1] = k
      assert.is_true(dm.is_tensor(v))
    end
    assert.are.same(want, got)
    assert.are.same({ 64, 2 }, sd["fc1.weight"]:size())
    assert.are.equal(0, sd["bn.num_batches_tracked"]:dim())
  end)

  it("returns detached tensors sharing the parameters' storage", function ()
    local m = Simple()
    local sd = m:state_dict()
    assert.is_false(sd["fc1.weight"].requires_grad)
    assert.are.equal(m.fc1.weight:storage_id(), sd["fc1.weight"]:storage_id())
    local kv = m:state_dict({ keep_vars = true })
    assert.are.equal(m.fc1.weight, kv["fc1.weight"])
    local pre = m.fc1:state_dict({ prefix = "x." })
    assert.are.same({ "x.weight", "x.bias" }, pre:keys())
    assert.has_error(function () m:state_dict({ keepvars = true }) end,
                     "state_dict: unknown option 'keepvars'")
  end)

  it("keeps its order when keys are added or removed", function ()
    local sd = nn.Linear(1, 1):state_dict()
    sd["extra"] = dm.zeros(1)
    sd["a"] = dm.zeros(1)
    sd["weight"] = nil
    assert.are.same({ "bias", "a", "extra" }, sd:keys())
  end)

  it("loads a state_dict into another model", function ()
    local a, b = Simple(), Simple()
    a.bn.running_mean:add_(1.5)
    local r = b:load_state_dict(a:state_dict())
    assert.are.same({ missing_keys = {}, unexpected_keys = {} }, r)
    assert_close(a.fc1.weight, b.fc1.weight)
    assert_close(a.fc2.bias, b.fc2.bias)
    assert_close(a.bn.running_mean, b.bn.running_mean)
    assert.are_not.equal(a.fc1.weight:storage_id(), b.fc1.weight:storage_id())
    assert.is_true(b.fc1.weight.requires_grad)
    assert.is_true(b.fc1.weight.is_leaf)
    -- a plain table works too
    b:load_state_dict({ ["fc1.weight"] = dm.zeros(64, 2), ["fc1.bias"] = dm.zeros(64),
                        ["fc2.weight"] = dm.ones(1, 64), ["fc2.bias"] = dm.zeros(1) },
                      { strict = false })
    assert_close({ 64 }, b.fc2.weight:sum())
  end)

  it("reports missing, unexpected and mis-shaped entries as PyTorch does", function ()
    local SmallNN = nn.Module:extend("SimpleNN")
    function SmallNN:__init ()
      self.fc1 = nn.Linear(2, 64)
      self.fc2 = nn.Linear(64, 1)
    end
    local m = SmallNN()
    local sd = { ["fc1.weight"] = dm.zeros(2, 2), ["fc1.bias"] = dm.zeros(64),
                 ["fc3.weight"] = dm.zeros(1) }
    assert.has_error(function () m:load_state_dict(sd) end,
      'Error(s) in loading state_dict for SimpleNN:\n' ..
      '\tMissing key(s) in state_dict: "fc2.weight", "fc2.bias".\n' ..
      '\tUnexpected key(s) in state_dict: "fc3.weight".\n' ..
      '\tsize mismatch for fc1.weight: copying a param with shape [2 x 2] from checkpoint, ' ..
      'the shape in current model is [64 x 2].')
    -- non-strict: size mismatches are still an error (as in PyTorch)
    assert.has_error(function () m:load_state_dict(sd, { strict = false }) end,
      'Error(s) in loading state_dict for SimpleNN:\n' ..
      '\tsize mismatch for fc1.weight: copying a param with shape [2 x 2] from checkpoint, ' ..
      'the shape in current model is [64 x 2].')
    sd["fc1.weight"] = dm.full({ 64, 2 }, 0.25)
    local r = m:load_state_dict(sd, { strict = false })
    assert.are.same({ "fc2.weight", "fc2.bias" }, r.missing_keys)
    assert.are.same({ "fc3.weight" }, r.unexpected_keys)
    assert_close({ 32 }, m.fc1.weight:sum())
    r = m:load_state_dict(sd, false)
    assert.are.same({ "fc3.weight" }, r.unexpected_keys)
    assert.has_error(function () m:load_state_dict(sd, { strict = false, x = 1 }) end,
                     "load_state_dict: unknown option 'x'")
    assert.has_error(function () m:load_state_dict(nil) end,
                     "load_state_dict: got nil instead of a state_dict: the load that " ..
                     "produced it failed. Check the file's path and that it is a safetensors " ..
                     "file written by dm.save / nn.save or torch's safetensors; dm.load " ..
                     "returns nil and a message on failure, so write " ..
                     "`local sd = assert(dm.load(path))`")
    assert.has_error(function ()
      m:load_state_dict({ ["fc1.weight"] = { 1 } }, { strict = false })
    end, 'Error(s) in loading state_dict for SimpleNN:\n\tWhile copying the parameter named ' ..
         '"fc1.weight", expected a Tensor from checkpoint but received table')
  end)

  it("uses Sequential's PyTorch names", function ()
    local m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert.are.same({ "0.weight", "0.bias", "2.weight", "2.bias" }, m:state_dict():keys())
  end)
end)

-- ---- printing --------------------------------------------------------------------------------

describe("tostring(model)", function ()
  it("prints a model class as PyTorch does", function ()
    local C = nn.Module:extend("SimpleClassifier")
    function C:__init ()
      self.fc1 = nn.Linear(2, 64)
      self.relu = nn.ReLU()
      self.fc2 = nn.Linear(64, 1)
      self.sigmoid = nn.Sigmoid()
    end
    assert.are.equal(table.concat({
      "SimpleClassifier(",
      "  (fc1): Linear(in_features=2, out_features=64, bias=True)",
      "  (relu): ReLU()",
      "  (fc2): Linear(in_features=64, out_features=1, bias=True)",
      "  (sigmoid): Sigmoid()",
      ")" }, "\n"), tostring(C()))
  end)

  it("indents nested containers and numbers Sequential children from 0", function ()
    local m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Dropout(0.1)))
    assert.are.equal(table.concat({
      "Sequential(",
      "  (0): Linear(in_features=2, out_features=3, bias=True)",
      "  (1): Sequential(",
      "    (0): Tanh()",
      "    (1): Dropout(p=0.1, inplace=False)",
      "  )",
      ")" }, "\n"), tostring(m))
    assert.are.equal("Sequential()", tostring(nn.Sequential()))
    assert.are.equal("Module()", tostring(nn.Module()))
  end)

  it("shows dims as given (1-based) for Softmax, LogSoftmax and Flatten", function ()
    assert.are.equal("Softmax(dim=2)", tostring(nn.Softmax(2)))
    assert.are.equal("LogSoftmax(dim=-1)", tostring(nn.LogSoftmax{ dim = -1 }))
    assert.are.equal("Softmax(dim=None)", tostring(nn.Softmax()))
    assert.are.equal("Flatten(start_dim=2, end_dim=-1)", tostring(nn.Flatten()))
    assert.are.equal("Flatten(start_dim=1, end_dim=3)", tostring(nn.Flatten(1, 3)))
  end)

  it("prints settings with Python's float repr", function ()
    assert.are.equal("LeakyReLU(negative_slope=1e-05)", tostring(nn.LeakyReLU(1e-5)))
    assert.are.equal("LeakyReLU(negative_slope=1e+20)", tostring(nn.LeakyReLU(1e20)))
    assert.are.equal("LeakyReLU(negative_slope=0.3333333333333333)",
                     tostring(nn.LeakyReLU(1 / 3)))
    assert.are.equal("ELU(alpha=2.0)", tostring(nn.ELU(2)))
    assert.are.equal("ELU(alpha=1.0, inplace=True)", tostring(nn.ELU(1, true)))
    assert.are.equal("Dropout(p=0.0, inplace=False)", tostring(nn.Dropout(0)))
    assert.are.equal("BatchNorm1d(3, eps=0.001, momentum=0.01, affine=True, " ..
                     "track_running_stats=True)", tostring(nn.BatchNorm1d(3, 1e-3, 0.01)))
    local util = require "deepmoon.nn.util"
    local cases = { [0.1] = "0.1", [100.0] = "100.0", [1e16] = "1e+16", [1.5e-7] = "1.5e-07",
                    [123456.789] = "123456.789", [-0.0001] = "-0.0001", [-2.5e-5] = "-2.5e-05",
                    [1e15] = "1000000000000000.0", [0.0] = "0.0" }
    for v, s in pairs(cases) do assert.are.equal(s, util.pyfloat(v)) end
  end)

  it("lets a class add its own extra_repr", function ()
    local Scale = nn.Module:extend("Scale")
    function Scale:__init (k) self.k = k end
    function Scale:extra_repr () return "k=" .. self.k end
    assert.are.equal("Sequential(\n  (0): Scale(k=3)\n)", tostring(nn.Sequential(Scale(3))))
  end)
end)

-- ---- layers: forward values --------------------------------------------------------------------

describe("nn.Linear", function ()
  it("computes x W^T + b", function ()
    local lin = nn.Linear(2, 3)
    set_(lin.weight, { { 1, 2 }, { 3, 4 }, { 5, 6 } })
    set_(lin.bias, { 0.5, -1, 2 })
    local y = lin(dm.tensor{ { 1.0, 1.0 }, { 0.0, -1.0 } })
    assert.are.same({ 2, 3 }, y:size())
    assert_close({ 3.5, 6, 13, -1.5, -5, -4 }, y)
    assert.are.equal("AddmmBackward0", y.grad_fn)
    -- 1-D and 3-D inputs: the last dim is the feature dim
    assert_close({ 3.5, 6, 13 }, lin(dm.tensor{ 1.0, 1.0 }))
    assert.are.same({ 2, 2, 3 }, lin(dm.zeros(2, 2, 2)):size())
  end)

  it("has no bias when asked, positionally or as an option", function ()
    for _, lin in ipairs({ nn.Linear(2, 3, false), nn.Linear(2, 3, { bias = false }) }) do
      assert.is_nil(lin.bias)
      assert.are.equal(1, #lin:parameters())
      set_(lin.weight, { { 1, 2 }, { 3, 4 }, { 5, 6 } })
      assert_close({ 3, 7, 11 }, lin(dm.tensor{ { 1.0, 1.0 } }))
    end
  end)

  it("draws weight, then bias, from U(-1/sqrt(in), 1/sqrt(in)) (default generator)", function ()
    dm.manual_seed(7)
    local lin = nn.Linear(4, 5)
    dm.manual_seed(7)
    local w = dm.empty(5, 4):uniform_(-0.5, 0.5)
    local b = dm.empty(5):uniform_(-0.5, 0.5)
    assert_close(w, lin.weight, 0)
    assert_close(b, lin.bias, 0)
    local big = nn.Linear(100, 50)
    local bound = 1 / math.sqrt(100)
    for _, v in ipairs(values(big.weight)) do assert.is_true(math.abs(v) <= bound) end
    assert.is_true(big.weight:max():item() > 0.9 * bound)
    assert.is_true(big.weight.requires_grad and big.weight.is_leaf)
  end)

  it("takes init functions for the weight and bias", function ()
    local seen
    local lin = nn.Linear(2, 3, { init = function (w) seen = w; w:fill_(0.5) end,
                                  bias_init = function (b) b:zero_() end })
    assert.are.equal(lin.weight, seen)
    assert_close({ 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }, lin.weight)
    assert_close({ 0, 0, 0 }, lin.bias)
    assert.is_true(lin.weight.requires_grad)
    lin = nn.Linear(2, 3, true, { init = function (w) w:fill_(1) end })
    assert_close({ 2, 2, 2 }, lin(dm.ones(1, 2)) - lin.bias)
    -- nn.init's initialisers fit directly
    dm.manual_seed(1)
    lin = nn.Linear(200, 300, { init = nn.init.xavier_normal_ })
    local std = lin.weight:std():item()
    assert.is_true(math.abs(std - math.sqrt(2 / 500)) < 0.002, "std " .. std)
  end)

  it("checks its arguments and its input", function ()
    assert.has_error(function () nn.Linear(2) end,
                     "Linear: out_features must be a non-negative integer, got nil")
    assert.has_error(function () nn.Linear(2.5, 3) end,
                     "Linear: in_features must be a non-negative integer, got 2.5")
    assert.has_error(function () nn.Linear(2, 3, "yes") end,
                     "Linear: bias must be a boolean, got string")
    assert.has_error(function () nn.Linear(2, 3, { biass = true }) end,
                     "Linear: unknown option 'biass'")
    assert.has_error(function () nn.Linear(2, 3, true, { bias = true }) end,
                     "Linear: 'bias' given both as an argument and as an option")
    assert.has_error(function () nn.Linear(2, 3, true, 4) end,
                     "Linear: expected at most 3 positional arguments, got 4")
    assert.has_error(function () nn.Linear(2, 3, { init = 1 }) end,
                     "Linear: init must be a function, got number")
    local lin = nn.Linear(64, 1)
    assert.has_error(function () lin(dm.zeros(16, 32)) end,
                     "Linear: expected input [N x 64], got [16 x 32]")
    assert.has_error(function () lin(dm.tensor(1)) end,
                     "Linear: expected input [N x 64], got []")
    assert.has_error(function () lin({ 1, 2 }) end, "Linear: expected a Tensor input, got table")
  end)
end)

describe("activations", function ()
  local x = { -2, -0.5, 0, 1.5 }
  local cases = {
    { nn.ReLU(), { 0, 0, 0, 1.5 } },
    { nn.LeakyReLU(0.1), { -0.2, -0.05, 0, 1.5 } },
    { nn.LeakyReLU(), { -0.02, -0.005, 0, 1.5 } },
    { nn.Sigmoid(), { 0.11920292, 0.37754067, 0.5, 0.81757448 } },
    { nn.Tanh(), { -0.96402758, -0.46211716, 0, 0.90514825 } },
    { nn.ELU(), { -0.86466472, -0.39346934, 0, 1.5 } },
    { nn.ELU{ alpha = 2 }, { -1.72932944, -0.78693868, 0, 1.5 } },
    { nn.SELU(), { -1.5201665, -0.69175819, 0, 1.5760515 } },
    { nn.GELU(), { -0.045500264, -0.15426877, 0, 1.3997892 } },
    { nn.GELU("tanh"), { -0.045402306, -0.15428599, 0, 1.3995716 } },
    { nn.Identity(1, 2), x },
  }
  for _, c in ipairs(cases) do
    it(tostring(c[1]) .. " on known values", function ()
      assert_close(c[2], c[1](dm.tensor(x)), 1e-6, tostring(c[1]))
    end)
  end

  it("Softmax and LogSoftmax along a 1-based dim", function ()
    local x2 = dm.tensor{ { 1.0, 2.0, 3.0 }, { 1.0, 1.0, 1.0 } }
    local sm = { 0.09003057317038045, 0.2447284710547976, 0.6652409557748218,
                 1 / 3, 1 / 3, 1 / 3 }
    assert_close(sm, nn.Softmax(2)(x2))
    assert_close(sm, nn.Softmax(-1)(x2))
    assert_close(sm, nn.Softmax()(x2))      -- PyTorch's implicit dim for 2-D
    assert_close({ -2.4076059644443806, -1.4076059644443804, -0.4076059644443804,
                   -1.0986122886681098, -1.0986122886681098, -1.0986122886681098 },
                 nn.LogSoftmax(2)(x2))
    local cols = nn.Softmax(1)(x2)
    assert_close({ 0.5, 0.7310586, 0.8807971, 0.5, 0.2689414, 0.1192029 }, cols)
    assert_close({ 1 / 6, 1 / 3, 1 / 2 }, nn.Softmax()(dm.tensor{ 1.0, 2.0, 3.0 }:log()))
  end)

  it("functional forms agree with the modules", function ()
    local t = dm.tensor(x)
    assert_close(nn.ReLU()(t), F.relu(t))
    assert_close(nn.Sigmoid()(t), F.sigmoid(t))
    assert_close(nn.Tanh()(t), F.tanh(t))
    assert_close(nn.SELU()(t), F.selu(t))
    assert_close(nn.LeakyReLU(0.3)(t), F.leaky_relu(t, 0.3))
    assert_close(nn.LeakyReLU(0.3)(t), F.leaky_relu(t, { negative_slope = 0.3 }))
    assert_close(nn.ELU(0.5)(t), F.elu(t, 0.5))
    assert_close(nn.GELU()(t), F.gelu(t))
    assert_close(nn.GELU("tanh")(t), F.gelu(t, { approximate = "tanh" }))
    local t2 = dm.tensor{ { 1.0, 2.0 }, { 3.0, 5.0 } }
    assert_close(nn.Softmax(1)(t2), F.softmax(t2, 1))
    assert_close(nn.LogSoftmax(2)(t2), F.log_softmax(t2, 2))
    assert_close(nn.LogSoftmax(2)(t2), dm.log_softmax(t2, 2))
  end)

  it("check their arguments", function ()
    assert.has_error(function () nn.ReLU(1) end, "ReLU: inplace must be a boolean, got number")
    assert.has_error(function () nn.LeakyReLU("a") end,
                     "LeakyReLU: negative_slope must be a number, got string")
    assert.has_error(function () nn.Sigmoid(1) end,
                     "Sigmoid: expected at most 0 positional arguments, got 1")
    assert.has_error(function () nn.GELU("fast") end,
                     "GELU: approximate must be 'none' or 'tanh', got fast")
    assert.has_error(function () nn.Softmax(0) end,
                     "Softmax: dim must be a non-zero integer (dims are 1-based), got 0")
    assert.has_error(function () nn.Tanh()(nil) end, "Tanh: expected a Tensor input, got nil")
    assert.has_error(function () F.relu(3) end, "relu: input must be a Tensor, got number")
    assert.has_error(function () F.gelu(dm.ones(1), "x") end,
                     "gelu: approximate must be 'none' or 'tanh', got x")
    assert.has_error(function () nn.ELU{ beta = 1 } end, "ELU: unknown option 'beta'")
  end)
end)

describe("nn.Dropout", function ()
  it("is the identity in eval mode and with p = 0", function ()
    local x = dm.rand(5, 6)
    local d = nn.Dropout(0.5):eval()
    assert_close(x, d(x), 0)
    assert_close(x, nn.Dropout(0)(x), 0)
    assert_close(x, F.dropout(x, 0.5, false), 0)
  end)

  it("zeroes about p of the values while training and scales the rest by 1/(1-p)", function ()
    dm.manual_seed(3)
    local x = dm.ones(100, 100)
    local y = nn.Dropout(0.25)(x)
    local zeros = 0
    for _, v in ipairs(values(y)) do
      if v == 0 then zeros = zeros + 1
      else assert.is_true(math.abs(v - 1 / 0.75) < 1e-6) end
    end
    assert.is_true(zeros > 2300 and zeros < 2700, "zeros: " .. zeros)
    assert_close(dm.zeros(3), nn.Dropout(1)(dm.ones(3)), 0)
  end)

  it("draws from the default generator (same seed, same mask)", function ()
    local x = dm.rand(4, 4)
    dm.manual_seed(11)
    local a = nn.Dropout()(x)
    dm.manual_seed(11)
    local b = F.dropout(x)
    assert_close(a, b, 0)
    local g1, g2 = dm.Generator(5), dm.Generator(5)
    assert_close(F.dropout(x, { p = 0.3, generator = g1 }),
                 F.dropout(x, { p = 0.3, generator = g2 }), 0)
  end)

  it("checks p", function ()
    assert.has_error(function () nn.Dropout(1.5) end,
                     "Dropout: dropout probability has to be between 0 and 1, but got 1.5")
    assert.has_error(function () F.dropout(dm.ones(1), -0.1) end,
                     "dropout: dropout probability has to be between 0 and 1, but got -0.1")
  end)
end)

describe("nn.BatchNorm1d", function ()
  local x = { { 1.0, 2.0 }, { 3.0, 6.0 }, { 5.0, 10.0 }, { 7.0, 14.0 } }   -- means 4, 8; biased var 5, 20

  it("normalises with the batch statistics while training", function ()
    local bn = nn.BatchNorm1d(2)
    local y = bn(dm.tensor(x))
    local s1, s2 = 1 / math.sqrt(5 + 1e-5), 1 / math.sqrt(20 + 1e-5)
    assert_close({ -3 * s1, -6 * s2, -1 * s1, -2 * s2, 1 * s1, 2 * s2, 3 * s1, 6 * s2 }, y)
    -- running stats: 0.9 * old + 0.1 * batch, unbiased variance (20/3, 80/3)
    assert_close({ 0.4, 0.8 }, bn.running_mean)
    assert_close({ 0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 80 / 3 }, bn.running_var)
    assert_close({ 1 }, bn.num_batches_tracked)
    bn(dm.tensor(x))
    assert_close({ 2 }, bn.num_batches_tracked)
    assert_close({ 0.4 * 0.9 + 0.4, 0.8 * 0.9 + 0.8 }, bn.running_mean)
  end)

  it("uses the running statistics in eval mode, with weight and bias", function ()
    local bn = nn.BatchNorm1d(2)
    set_(bn.running_mean, { 1, 2 })
    set_(bn.running_var, { 4, 16 })
    set_(bn.weight, { 2, 3 })
    set_(bn.bias, { 0.5, -1 })
    bn:eval()
    local y = bn(dm.tensor{ { 3.0, 6.0 } })
    local e = 1e-5
    assert_close({ 2 * 2 / math.sqrt(4 + e) + 0.5, 3 * 4 / math.sqrt(16 + e) - 1 }, y)
    assert_close({ 1, 2 }, bn.running_mean)           -- unchanged
    assert_close({ 0 }, bn.num_batches_tracked)
  end)

  it("supports [N x C x L], momentum = false (cumulative), affine = false", function ()
    local bn = nn.BatchNorm1d(2, { momentum = false, affine = false })
    assert.are.equal(0, #bn:parameters())
    local x3 = dm.tensor{ { { 1.0, 3.0 }, { 0.0, 0.0 } }, { { 5.0, 7.0 }, { 2.0, 2.0 } } }   -- [2 x 2 x 2]
    local y = bn(x3)
    assert.are.same({ 2, 2, 2 }, y:size())
    -- channel 1: values 1 3 5 7 (mean 4, var 5); channel 2: 0 0 2 2 (mean 1, var 1)
    local s1, s2 = 1 / math.sqrt(5 + 1e-5), 1 / math.sqrt(1 + 1e-5)
    assert_close({ -3 * s1, -1 * s1, -s2, -s2, 1 * s1, 3 * s1, s2, s2 }, y)
    assert_close({ 4, 1 }, bn.running_mean)           -- factor 1/1 on the first batch
    assert_close({ 20 / 3, 4 / 3 }, bn.running_var)
    bn(x3 * 0)
    assert_close({ 2, 0.5 }, bn.running_mean)         -- factor 1/2 on the second
  end)

  it("without running statistics uses the batch's in eval mode too", function ()
    local bn = nn.BatchNorm1d(2, 1e-5, 0.1, true, false)
    assert.is_nil(bn.running_mean)
    assert.are.same({ "weight", "bias" }, bn:state_dict():keys())
    bn:eval()
    local y = bn(dm.tensor(x))
    assert_close(nn.BatchNorm1d(2)(dm.tensor(x)), y)
  end)

  it("checks its input", function ()
    local bn = nn.BatchNorm1d(4)
    assert.has_error(function () bn(dm.zeros(4)) end,
                     "BatchNorm1d: expected 2D or 3D input (got 1D input [4])")
    assert.has_error(function () bn(dm.zeros(16, 3)) end,
                     "BatchNorm1d: expected input [N x 4] or [N x 4 x L], got [16 x 3]")
    assert.has_error(function () bn(dm.zeros(1, 4)) end,
      "BatchNorm1d: expected more than 1 value per channel when training, got input size [1 x 4]")
    assert_close({ 0 }, bn.num_batches_tracked)
    bn:eval()
    assert.are.same({ 1, 4 }, bn(dm.zeros(1, 4)):size())
    assert.has_error(function () nn.BatchNorm1d(0) end,
                     "BatchNorm1d: num_features must be a positive integer, got 0")
    assert.has_error(function () nn.BatchNorm1d(2, { momentum = "x" }) end,
      "BatchNorm1d: momentum must be a number or false (cumulative average), got string")
    assert.has_error(function () nn.BatchNorm1d(2, { affine = 1 }) end,
                     "BatchNorm1d: affine must be a boolean, got number")
  end)

  it("resets its running statistics", function ()
    local bn = nn.BatchNorm1d(2)
    bn(dm.tensor(x))
    bn:reset_running_stats()
    assert_close({ 0, 0 }, bn.running_mean)
    assert_close({ 1, 1 }, bn.running_var)
    assert_close({ 0 }, bn.num_batches_tracked)
  end)

  it("F.batch_norm matches the module", function ()
    local rm, rv = dm.zeros(2), dm.ones(2)
    local y = F.batch_norm(dm.tensor(x), rm, rv, nil, nil, true)
    assert_close(nn.BatchNorm1d(2)(dm.tensor(x)), y)
    assert_close({ 0.4, 0.8 }, rm)
    local z = F.batch_norm(dm.tensor(x), rm, rv, { training = false, eps = 0 })
    assert_close({ (1 - 0.4) / math.sqrt(rv:get(1)) }, z[1][1])
  end)
end)

describe("nn.Flatten and nn.Identity", function ()
  it("flattens all but the batch dim by default", function ()
    local x = dm.arange(24):view(2, 3, 4)
    assert.are.same({ 2, 12 }, nn.Flatten()(x):size())
    assert.are.same({ 24 }, nn.Flatten(1)(x):size())
    assert.are.same({ 6, 4 }, nn.Flatten(1, 2)(x):size())
    assert.are.same({ 2, 3, 4 }, nn.Flatten{ start_dim = 3 }(x):size())
    assert.has_error(function () nn.Flatten(0) end,
                     "Flatten: start_dim must be a non-zero integer (dims are 1-based), got 0")
  end)

  it("Identity returns its input", function ()
    local x = dm.ones(2)
    assert.are.equal(x, nn.Identity()(x))
  end)
end)

describe("nn.Sequential", function ()
  it("indexes children from 1, counts them, and grows", function ()
    local a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    local m = nn.Sequential(a, b)
    assert.are.equal(2, #m)
    assert.are.equal(a, m[1])
    assert.are.equal(b, m[2])
    assert.are.equal(b, m[-1])
    -- past the end and 0 are errors, as PyTorch's IndexError (ipairs still stops at the end)
    assert.has_error(function () return m[3] end, "Sequential: index 3 out of range (1 to 2)")
    assert.has_error(function () return m[0] end, "Sequential: index 0 out of range (1 to 2)")
    assert.are.equal(m, m:add(c))
    assert.are.equal(c, m[3])
    m:append(nn.Sigmoid())
    assert.are.equal(4, #m)
    local names = {}
    for i, layer in ipairs(m) do names[i] = layer:_get_name() end
    assert.are.same({ "Linear", "ReLU", "Linear", "Sigmoid" }, names)
    local kids = {}
    for layer in m:children() do kids[#kids + 1] = layer end
    assert.are.same({ a, b, c, m[4] }, kids)
    m[2] = nn.Tanh()
    assert.are.equal("Tanh", m[2]:_get_name())
    assert.are.equal("Tanh", m["1"]:_get_name())
  end)

  it("feeds the input through each child", function ()
    local lin = nn.Linear(2, 1)
    set_(lin.weight, { { 1, -1 } })
    set_(lin.bias, { 0 })
    local m = nn.Sequential(lin, nn.ReLU())
    assert_close({ 0, 3 }, m(dm.tensor{ { 1.0, 2.0 }, { 4.0, 1.0 } }))
    assert_close({ 5 }, nn.Sequential()(dm.tensor{ 5.0 }))
  end)

  it("names the failing child in errors (1-based position)", function ()
    local m = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
    assert.has_error(function () m(dm.zeros(16, 3)) end,
                     "Sequential[1] (Linear): expected input [N x 2], got [16 x 3]")
    m[3] = nn.Linear(32, 1)
    assert.has_error(function () m(dm.zeros(16, 2)) end,
                     "Sequential[3] (Linear): expected input [N x 32], got [16 x 64]")
    local outer = nn.Sequential(nn.Identity(), m)
    assert.has_error(function () outer(dm.zeros(16, 2)) end,
      "Sequential[2] (Sequential): Sequential[3] (Linear): expected input [N x 32], got [16 x 64]")
    local line = debug.getinfo(1, "l").currentline
    local _, err = pcall(function () local y = m(dm.zeros(1, 2)); return y end)
    assert.is_truthy(err:find("nn_spec.lua:" .. (line + 1) .. ": Sequential[3]", 1, true))
    assert.has_error(function () nn.Sequential(nn.ReLU(), 5) end,
                     "Sequential: argument 2 is not a Module (got number)")
    assert.has_error(function () m[7] = nn.ReLU() end, "Sequential: index 7 out of range (1 to 3)")
    assert.has_error(function () m[1] = 1 end,
                     "Sequential: can only assign a Module to model[1], got number")
    assert.has_error(function () m:add(nil) end, "Sequential: add: expected a Module, got nil")
  end)
end)

-- ---- losses: values --------------------------------------------------------------------------

describe("losses", function ()
  it("BCELoss on known values, with weight and each reduction", function ()
    local p, t = dm.tensor{ 0.8, 0.4 }, dm.tensor{ 1.0, 0.0 }
    local l1, l2 = -math.log(0.8), -math.log(0.6)
    assert_close({ (l1 + l2) / 2 }, nn.BCELoss()(p, t))
    assert_close({ l1 + l2 }, nn.BCELoss{ reduction = "sum" }(p, t))
    assert_close({ l1, l2 }, nn.BCELoss{ reduction = "none" }(p, t))
    local w = dm.tensor{ 2, 0.5 }
    assert_close({ (2 * l1 + 0.5 * l2) / 2 }, nn.BCELoss(w)(p, t))
    assert_close({ (2 * l1 + 0.5 * l2) / 2 }, nn.BCELoss{ weight = w }(p, t))
    assert_close({ 2 * l1 + 0.5 * l2 }, nn.BCELoss(w, { reduction = "sum" })(p, t))
    assert_close({ (l1 + l2) / 2 }, F.binary_cross_entropy(p, t))
    assert_close({ 2 * l1, 0.5 * l2 }, F.binary_cross_entropy(p, t, w, { reduction = "none" }))
    -- log clamped at -100
    assert_close({ 100 }, nn.BCELoss()(dm.tensor{ 0.0 }, dm.tensor{ 1.0 }))
  end)

  it("BCEWithLogitsLoss equals BCE of the sigmoid; pos_weight weighs positives", function ()
    local z, t = dm.tensor{ { 1.5, -0.3 }, { 0.2, 2.0 } }, dm.tensor{ { 1.0, 0.0 }, { 0.0, 1.0 } }
    assert_close(nn.BCELoss()(z:sigmoid(), t), nn.BCEWithLogitsLoss()(z, t))
    local pw = dm.tensor{ 3.0, 1.0 }
    local s = z:sigmoid():values()
    local want = (-3 * math.log(s[1]) - math.log(1 - s[2]) - math.log(1 - s[3]) -
                  math.log(s[4])) / 4
    assert_close({ want }, nn.BCEWithLogitsLoss{ pos_weight = pw }(z, t))
    assert_close({ want }, F.binary_cross_entropy_with_logits(z, t, { pos_weight = pw }))
  end)

  it("MSELoss, L1Loss, SmoothL1Loss and HuberLoss on known values", function ()
    local x, t = dm.tensor{ 0.0, 1.0, 3.0 }, dm.tensor{ 0.5, 1.0, 0.0 }     -- diffs -0.5, 0, 3
    assert_close({ (0.25 + 9) / 3 }, nn.MSELoss()(x, t))
    assert_close({ 0.25 + 9 }, nn.MSELoss{ reduction = "sum" }(x, t))
    assert_close({ 3.5 / 3 }, nn.L1Loss()(x, t))
    assert_close({ 0.5, 0, 3 }, nn.L1Loss{ reduction = "none" }(x, t))
    -- smooth L1, beta 1: 0.5 d^2 / beta below beta, |d| - beta/2 above
    assert_close({ 0.125, 0, 2.5 }, nn.SmoothL1Loss{ reduction = "none" }(x, t))
    assert_close({ 0.25, 0, 2.75 }, nn.SmoothL1Loss{ reduction = "none", beta = 0.5 }(x, t))
    assert_close({ 0.125, 0, 2.5 }, nn.HuberLoss{ reduction = "none" }(x, t))
    assert_close({ 0.125, 0, 2.5 * 1.75 }, nn.HuberLoss{ reduction = "none", delta = 2.5 }(x, t))
    assert_close({ (0.25 + 9) / 3 }, F.mse_loss(x, t))
    assert_close({ 3.5 }, F.l1_loss(x, t, { reduction = "sum" }))
    assert_close({ 2.625 / 3 }, F.smooth_l1_loss(x, t))
    assert_close({ 2.625 / 3 }, F.huber_loss(x, t, { delta = 1 }))
  end)

  it("CrossEntropyLoss and NLLLoss take 1-based class targets", function ()
    local logits = dm.tensor{ { 1.0, 2.0, 3.0 }, { 1.0, 1.0, 1.0 } }
    local target = dm.tensor({ 3, 1 }, { dtype = dm.int64 })
    local want = (0.4076059644443804 + 1.0986122886681098) / 2
    assert_close({ want }, nn.CrossEntropyLoss()(logits, target))
    assert_close({ want }, nn.NLLLoss()(logits:log_softmax(2), target))
    assert_close({ want }, F.cross_entropy(logits, target))
    assert_close({ want }, F.nll_loss(F.log_softmax(logits, 2), target))
    -- weights: the mean divides by the targets' summed weight
    local w = dm.tensor{ 1.0, 1.0, 3.0 }
    assert_close({ (3 * 0.4076059644443804 + 1.0986122886681098) / 4 },
                 nn.CrossEntropyLoss(w)(logits, target))
    -- ignore_index (1-based class numbers, like the targets)
    assert_close({ 0.4076059644443804 },
                 nn.CrossEntropyLoss{ ignore_index = 1 }(logits, target))
    -- probability targets
    local probs = dm.tensor{ { 0.0, 0.0, 1.0 }, { 1.0, 0.0, 0.0 } }
    assert_close({ want }, nn.CrossEntropyLoss()(logits, probs))
    -- a single sample [C] with a 0-dim target
    assert_close({ 0.4076059644443804 }, nn.CrossEntropyLoss()(dm.tensor{ 1.0, 2.0, 3.0 }, dm.tensor(3)))
    -- label smoothing 0.3: (1 - 0.3) * nll + 0.3 * mean over classes of -log p
    local lp = { -2.4076059644443806, -1.4076059644443804, -0.4076059644443804 }
    local s1 = 0.7 * 0.4076059644443804 - 0.3 * (lp[1] + lp[2] + lp[3]) / 3
    local s2 = 1.0986122886681098
    assert_close({ (s1 + s2) / 2 }, nn.CrossEntropyLoss{ label_smoothing = 0.3 }(logits, target))
  end)

  it("register weights as buffers and print as PyTorch", function ()
    local w = dm.ones(3)
    local ce = nn.CrossEntropyLoss(w)
    assert.are.same({ "weight" }, ce:state_dict():keys())
    assert.are.same({}, nn.CrossEntropyLoss():state_dict():keys())
    assert.are.same({ "weight", "pos_weight" },
                    nn.BCEWithLogitsLoss(w, { pos_weight = w }):state_dict():keys())
    assert.are.equal("CrossEntropyLoss()", tostring(ce))
    assert.are.equal("BCELoss()", tostring(nn.BCELoss()))
    assert.are.equal("HuberLoss()", tostring(nn.HuberLoss{ delta = 2 }))
  end)

  it("report shape mismatches and bad settings clearly", function ()
    local crit = nn.BCELoss()
    assert.has_error(function () crit(dm.rand(16, 1), dm.rand(16)) end,
                     "BCELoss: expected target of the input's size [16 x 1], got [16]")
    assert.has_error(function () nn.MSELoss()(dm.rand(3), dm.rand(3, 1)) end,
                     "MSELoss: expected target of the input's size [3], got [3 x 1]")
    assert.has_error(function () F.l1_loss(dm.rand(3), dm.rand(2)) end,
                     "l1_loss: expected target of the input's size [3], got [2]")
    assert.has_error(function () nn.BCEWithLogitsLoss()(dm.rand(2), nil) end,
                     "BCEWithLogitsLoss: target must be a Tensor, got nil")
    assert.has_error(function () nn.CrossEntropyLoss()(dm.rand(4, 3), dm.ones(4, 1)) end,
      "CrossEntropyLoss: expected target [4] of class indices or [4 x 3] of probabilities, " ..
      "got [4 x 1]")
    assert.has_error(function () nn.NLLLoss()(dm.rand(4, 3), dm.ones(4, 3)) end,
                     "NLLLoss: expected target [4] of class indices, got [4 x 3]")
    assert.has_error(function () nn.CrossEntropyLoss()(dm.rand(2, 3, 4), dm.ones(2)) end,
      "CrossEntropyLoss: expected target [2 x 4] of class indices or [2 x 3 x 4] of " ..
      "probabilities, got [2]")
    assert.has_error(function () nn.CrossEntropyLoss()(dm.tensor(1.5), dm.ones(2)) end,
      "CrossEntropyLoss: expected input [N x C], [C] or [N x C x d1 x ...], got []")
    assert.has_error(function () nn.BCELoss{ reduction = "avg" } end,
      "BCELoss: 'avg' is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
    assert.has_error(function () F.mse_loss(dm.ones(1), dm.ones(1), { reduction = "all" }) end,
      "mse_loss: 'all' is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
    assert.has_error(function () nn.MSELoss{ size_average = true } end,
                     "MSELoss: unknown option 'size_average'")
    assert.has_error(function () nn.HuberLoss{ delta = 0 }(dm.ones(1), dm.ones(1)) end,
                     "HuberLoss: delta must be a positive number, got 0")
    assert.has_error(function ()
      nn.CrossEntropyLoss{ label_smoothing = 2 }(dm.ones(1, 2), dm.ones(1))
    end, "CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got 2")
    assert.has_error(function ()
      nn.CrossEntropyLoss{ ignore_index = 1.5 }(dm.ones(1, 2), dm.ones(1))
    end, "CrossEntropyLoss: ignore_index must be an integer, got 1.5")
    -- the core's checks, under the module's name
    assert.has_error(function () nn.CrossEntropyLoss()(dm.rand(2, 3), dm.tensor{ 4, 1 }) end,
      "CrossEntropyLoss: target 4 out of range for 3 classes (class labels are 1-based, 1 to 3)")
    assert.has_error(function () F.cross_entropy(dm.rand(2, 3), dm.tensor{ 0, 1 }) end,
                     "cross_entropy: target 0 out of range for 3 classes (class labels are " ..
                     "1-based, 1 to 3; 0-based labels need + 1)")
    -- class indices are int64; a float target is probabilities only at the input's size
    assert.has_error(function () nn.NLLLoss()(dm.rand(2, 3), dm.tensor{ 1.5, 1 }) end,
                     "NLLLoss: expected an int64 tensor of class indices, got float32 (use :long())")
    assert.has_error(function () nn.CrossEntropyLoss()(dm.rand(2, 3), dm.tensor{ 3.0, 1.0 }) end,
                     "CrossEntropyLoss: expected an int64 tensor of class indices (or " ..
                     "probabilities of the input's size), got float32 (use :long())")
    assert.has_error(function () nn.BCELoss(dm.ones(2))(dm.rand(2, 3), dm.rand(2, 3)) end,
                     "BCELoss: weight [2] cannot be broadcast to input [2 x 3]")
    local line = debug.getinfo(1, "l").currentline
    local _, err = pcall(function ()
      local l = nn.CrossEntropyLoss()(dm.rand(2, 3), dm.tensor{ 4, 1 }); return l
    end)
    assert.is_truthy(err:find("nn_spec.lua:" .. (line + 2) .. ": CrossEntropyLoss", 1, true))
  end)
end)

-- ---- gradients ------------------------------------------------------------------------------

describe("gradcheck", function ()
  local function input (rows, cols, seed)
    dm.manual_seed(seed or 1)
    -- values away from 0 so that kinks (relu, l1, ...) are not crossed by eps
    local x = dm.rand(rows, cols) * 1.6 + 0.2
    local s = dm.rand(rows, cols):gt(0.5):float() * 2 - 1
    return dm.tensor((x * s):totable(), { requires_grad = true })
  end

  it("catches a wrong gradient (the helper itself)", function ()
    local x = dm.tensor({ 0.5, -1.5, 2 }, { requires_grad = true })
    gradcheck(function () return x * x end, { x })
    -- x * x:detach() has autograd gradient x but true derivative 2x
    assert.has_error(function () gradcheck(function () return x * x:detach() end, { x }) end)
  end)

  it("Linear (input, weight, bias; with and without bias)", function ()
    local lin = nn.Linear(3, 4)
    local x = input(5, 3)
    gradcheck(function () return lin(x) end, { x, lin.weight, lin.bias })
    local nb = nn.Linear(3, 2, false)
    gradcheck(function () return nb(x) end, { x, nb.weight })
  end)

  local acts = { nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(), nn.ELU(0.7), nn.SELU(),
                 nn.GELU(), nn.GELU("tanh"), nn.Softmax(2), nn.Softmax(1), nn.LogSoftmax(2),
                 nn.Identity(), nn.Flatten() }
  for _, m in ipairs(acts) do
    it(tostring(m), function ()
      local x = input(3, 4, 2)
      gradcheck(function () return m(x) end, { x })
    end)
  end

  it("Dropout (same mask on every evaluation)", function ()
    local d = nn.Dropout(0.4)
    local x = input(4, 5)
    gradcheck(function () return d(x) end, { x }, { before = function () dm.manual_seed(9) end })
  end)

  it("BatchNorm1d in training and eval mode, 2-D and 3-D", function ()
    local bn = nn.BatchNorm1d(3)
    set_(bn.weight, { 1.5, 0.5, -1 })
    set_(bn.bias, { 0.1, 0.2, 0.3 })
    local x = input(5, 3)
    gradcheck(function () return bn(x) end, { x, bn.weight, bn.bias }, { atol = 5e-3 })
    dm.manual_seed(4)
    local x3 = dm.tensor((dm.randn(2, 3, 4)):totable(), { requires_grad = true })
    gradcheck(function () return bn(x3) end, { x3, bn.weight, bn.bias }, { atol = 5e-3 })
    bn:eval()
    gradcheck(function () return bn(x) end, { x, bn.weight, bn.bias })
  end)

  it("Sequential of layers", function ()
    local m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.LogSoftmax(2))
    local x = input(3, 3)
    local wrt = { x }
    for p in m:parameters() do wrt[#wrt + 1] = p end
    gradcheck(function () return m(x) end, wrt)
  end)

  local function target (rows, cols, lo, hi, seed)
    dm.manual_seed(seed or 5)
    return dm.rand(rows, cols) * (hi - lo) + lo
  end

  for _, red in ipairs({ "mean", "sum", "none" }) do
    it("losses, reduction = " .. red, function ()
      local o = { reduction = red }
      dm.manual_seed(6)
      local p = dm.tensor((dm.rand(4, 3) * 0.8 + 0.1):totable(), { requires_grad = true })
      local tb = target(4, 3, 0, 1)
      local w = dm.rand(3) + 0.5
      gradcheck(function () return nn.BCELoss(o)(p, tb) end, { p }, { rtol = 2e-2 })
      gradcheck(function () return nn.BCELoss(w, o)(p, tb) end, { p }, { rtol = 2e-2 })
      local z = input(4, 3, 7)
      gradcheck(function () return nn.BCEWithLogitsLoss(o)(z, tb) end, { z })
      gradcheck(function ()
        local pw = dm.tensor{ 2, 1, 0.5 }
        return nn.BCEWithLogitsLoss(w, { pos_weight = pw, reduction = red })(z, tb)
      end, { z })
      local x, t = input(4, 3, 8), target(4, 3, -0.1, 0.1)
      gradcheck(function () return nn.MSELoss(o)(x, t) end, { x })
      gradcheck(function () return nn.L1Loss(o)(x, t) end, { x })
      -- smooth L1 / Huber: elements on both sides of beta / delta, none near it
      local x2 = dm.tensor({ { 0.1, -0.3, 2.0 }, { -1.7, 0.45, 0.6 } }, { requires_grad = true })
      local t2 = dm.zeros(2, 3)
      gradcheck(function () return nn.SmoothL1Loss(o)(x2, t2) end, { x2 })
      gradcheck(function () return nn.SmoothL1Loss{ beta = 0.5, reduction = red }(x2, t2) end,
                { x2 })
      gradcheck(function () return nn.HuberLoss(o)(x2, t2) end, { x2 })
      gradcheck(function () return nn.HuberLoss{ delta = 0.5, reduction = red }(x2, t2) end, { x2 })
      local logits = input(5, 4, 9)
      local cls = dm.tensor({ 1, 4, 2, 2, 3 }, { dtype = dm.int64 })
      local cw = dm.tensor{ 1, 0.5, 2, 1.5 }
      gradcheck(function () return nn.CrossEntropyLoss(o)(logits, cls) end, { logits })
      gradcheck(function ()
        return nn.CrossEntropyLoss(cw, { reduction = red, label_smoothing = 0.1,
                                         ignore_index = 4 })(logits, cls)
      end, { logits })
      local probs = dm.softmax(target(5, 4, -1, 1), 2)
      gradcheck(function () return nn.CrossEntropyLoss(o)(logits, probs) end, { logits })
      gradcheck(function () return nn.NLLLoss(cw, o)(logits, cls) end, { logits })
    end)
  end
end)

-- ---- non-contiguous inputs ----------------------------------------------------------------

describe("non-contiguous inputs", function ()
  it("give the same results as contiguous copies", function ()
    dm.manual_seed(12)
    local base = dm.randn(3, 5)
    local xt = base:t()                 -- [5 x 3], a transposed view
    assert.is_false(xt:is_contiguous())
    local xc = xt:contiguous()
    local layers = { nn.Linear(3, 2), nn.ReLU(), nn.LeakyReLU(), nn.Sigmoid(), nn.Tanh(),
                     nn.ELU(), nn.SELU(), nn.GELU(), nn.GELU("tanh"), nn.Softmax(2),
                     nn.LogSoftmax(1), nn.BatchNorm1d(3), nn.Flatten(1), nn.Identity(),
                     nn.Sequential(nn.Linear(3, 3), nn.Tanh()) }
    for _, m in ipairs(layers) do
      assert_close(m(xc), m(xt), 1e-6, tostring(m))
    end
    local bn = nn.BatchNorm1d(3):eval()
    assert_close(bn(xc), bn(xt), 1e-6)
    local t = dm.rand(3, 5):t()
    local p = xt:sigmoid()
    for _, crit in ipairs({ nn.BCELoss(), nn.MSELoss(), nn.L1Loss(), nn.SmoothL1Loss(),
                            nn.HuberLoss(), nn.BCEWithLogitsLoss() }) do
      assert_close(crit(p:contiguous(), t:contiguous()), crit(p, t), 1e-6, tostring(crit))
    end
    local cls = dm.tensor({ { 1, 2, 3, 1, 2 } }, { dtype = dm.int64 }):t():select(2, 1)
    assert_close(nn.CrossEntropyLoss()(xc, cls:contiguous()), nn.CrossEntropyLoss()(xt, cls), 1e-6)
  end)

  it("backpropagate into a transposed input", function ()
    local lin = nn.Linear(3, 2)
    local base = dm.randn(3, 4, { requires_grad = true })
    gradcheck(function () return lin(base:t()) end, { base, lin.weight })
  end)
end)

-- ---- module hygiene ---------------------------------------------------------------------

describe("deepmoon.nn", function ()
  it("is reachable as dm.nn and exposes nn.F, nn.functional", function ()
    assert.are.equal(nn, dm.nn)
    assert.are.equal(nn.functional, nn.F)
    assert.are.equal(F, require "deepmoon.nn.functional")
  end)

  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    for name in pairs(package.loaded) do
      if name:match("^deepmoon%.nn") then package.loaded[name] = nil end
    end
    local m = require "deepmoon.nn"
    local Net = m.Module:extend("Net")
    function Net:__init () self.l = m.Linear(2, 2) end
    function Net:forward (x) return self.l(x) end
    local net = Net()
    m.BCELoss()(net(dm.rand(3, 2)):sigmoid(), dm.ones(3, 2)):backward()
    tostring(m.Sequential(net, m.ReLU()))
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
    package.loaded["deepmoon.nn"] = nn
  end)

  it("runs the article's example to a low loss and a high accuracy", function ()
    local lines = {}
    local env = setmetatable({ print = function (...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      lines[#lines + 1] = table.concat(parts, "\t")
    end }, { __index = _G })
    local chunk = assert(loadfile(script_dir() .. "../examples/article.lua", "t", env))
    chunk()
    local text = table.concat(lines, "\n")
    assert.is_truthy(text:find("^Parameter containing:\ntensor%(%[%[", 1))
    assert.is_truthy(text:find("\n  %(fc1%): Linear%(in_features=2, out_features=64, bias=True%)"))
    local last_loss = tonumber(text:match("Epoch %[1000/1000%] %- Loss: ([%d.]+)"))
    local acc = tonumber(text:match("Test Accuracy: ([%d.]+)%%"))
    assert.is_true(last_loss <= 0.2, "final loss " .. tostring(last_loss))
    assert.is_true(acc >= 95, "accuracy " .. tostring(acc))
    local n = 0
    for _ in text:gmatch("Epoch %[%d+/1000%] %- Loss: %d%.%d%d%d%d\n") do n = n + 1 end
    assert.are.equal(10, n)
  end)

  it("leaves no live tensor bytes behind", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
