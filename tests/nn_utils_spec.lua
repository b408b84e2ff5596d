-- nn utilities: module hooks, ModuleList / ModuleDict / ParameterList / ParameterDict,
-- nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters),
-- tostring(state_dict), load_state_dict(nil), train_test_split's stratify.  Values against
-- PyTorch 1.13 from tests/fixtures/autograd_api_cases.lua (gen_autograd_api.py).

local dm = require "deepmoon"
local nn = dm.nn

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local util = dofile(script_dir() .. "helpers/util.lua")
local fixture = dofile(script_dir() .. "fixtures/autograd_api_cases.lua")
local F64 = { dtype = dm.float64 }

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function T (f, opts) return dm.tensor(f.data, opts or F64):view(f.shape) end

local assert_close = util.assert_close

local function settle ()
  collectgarbage()
  collectgarbage()
end

describe("module hooks", function ()
  local C = fixture.module_hooks

  local function linear ()
    local lin = nn.Linear(3, 2):double()
    dm.no_grad(function ()
      lin.weight:copy_(T(C.weight))
      lin.bias:copy_(T(C.bias))
    end)
    return lin
  end

  it("pre hook, forward hook and full backward hook change values as in PyTorch", function ()
    local lin = linear()
    local x = T(C.x):requires_grad_()
    lin:register_forward_pre_hook(function (_, input) return input[1] + 1 end)
    lin:register_forward_hook(function (_, _, output) return output * 2 end)
    local gin, gout
    lin:register_full_backward_hook(function (m, grad_input, grad_output)
      assert.are.equal(lin, m)
      gin, gout = grad_input[1]:clone(), grad_output[1]:clone()
      return { grad_input[1] * 0.5 }
    end)
    local y = lin(x)
    assert_close(C.y, y, 1e-14, "y")
    ;(y * T(C.wo)):sum():backward()
    assert_close(C.gin, gin, 1e-14, "grad_input")
    assert_close(C.gout, gout, 1e-14, "grad_output")
    assert_close(C.gx, x.grad, 1e-14, "x.grad")
    assert_close(C.gw, lin.weight.grad, 1e-14, "weight.grad")
  end)

  it("handles remove hooks; hooks run in order, each on the one before's result", function ()
    local lin = linear()
    local x = T(C.x)
    local plain = lin(x):values()
    local order = {}
    local h1 = lin:register_forward_hook(function (_, _, out) order[#order + 1] = 1; return out * 2 end)
    local h2 = lin:register_forward_hook(function (_, _, out) order[#order + 1] = 2; return out + 1 end)
    local got = lin(x):values()
    assert.are.same({ 1, 2 }, order)
    for i = 1, #plain do assert.are.equal(plain[i] * 2 + 1, got[i]) end
    h1:remove(); h2:remove(); h2:remove()
    assert.are.same(plain, lin(x):values())
    local seen
    local h3 = lin:register_forward_pre_hook(function (_, input) seen = #input end)
    lin(x)
    assert.are.equal(1, seen)
    h3:remove()
  end)

  it("calls a full backward hook with nil grad_input when the input needs no grad", function ()
    local lin = linear()
    local called, gi1, go1
    lin:register_full_backward_hook(function (_, gi, go) called = true; gi1, go1 = gi[1], go[1] end)
    lin(T(C.x)):sum():backward()
    assert.is_true(called)
    assert.is_nil(gi1)
    assert.are.same({ 4, 2 }, go1:size())
    assert.is_not_nil(lin.weight.grad)
  end)

  it("hooks on a child inside Sequential, and an error naming what is not a function", function ()
    local model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    local shapes = {}
    model[1]:register_forward_hook(function (_, _, out) shapes[#shapes + 1] = out:size() end)
    model(dm.ones(5, 2))
    assert.are.same({ { 5, 3 } }, shapes)
    assert.are.equal("Linear: register_forward_hook: hook must be a function, got number",
                     util.err(function () model[1]:register_forward_hook(1) end))
  end)
end)

describe("containers", function ()
  local Net = nn.Module:extend("ContainerNet")
  function Net:__init ()
    self.layers = nn.ModuleList({ nn.Linear(2, 3), nn.Linear(3, 1) })
    self.heads = nn.ModuleDict({ cls = nn.Linear(1, 2) })
    self.scales = nn.ParameterList({ dm.ones(2) })
    self.extra = nn.ParameterDict({ w = dm.zeros(1) })
  end

  it("ModuleList: 1-based indexing, #, ipairs, pairs, append, extend, insert, errors", function ()
    local ml = nn.ModuleList()
    assert.are.equal(0, #ml)
    local a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    ml:append(a):extend({ b })
    assert.are.equal(2, #ml)
    assert.are.equal(a, ml[1])
    assert.are.equal(b, ml[-1])
    ml:insert(1, c)
    assert.are.same({ c, a, b }, { ml[1], ml[2], ml[3] })
    local seen = {}
    for i, m in ipairs(ml) do seen[i] = m end
    assert.are.same({ c, a, b }, seen)
    seen = {}
    for i, m in pairs(ml) do seen[i] = m end
    assert.are.same({ c, a, b }, seen)
    assert.are.equal("ModuleList: index 4 is out of range (3 entries)",
                     util.err(function () return ml[4] end))
    assert.are.equal("ModuleList: index 0 is out of range (3 entries)",
                     util.err(function () return ml[0] end))
    assert.are.equal("ModuleList: number is not a Module subclass",
                     util.err(function () ml:append(3) end))
    ml[2] = nn.Sigmoid()
    assert.are.equal("Sigmoid", ml[2]:_get_name())
    assert.are.equal(b, ml:pop())
    assert.are.equal(2, #ml)
  end)

  it("state_dict names as PyTorch (layers.0.weight) and as nn.Sequential", function ()
    local m = Net()
    assert.are.same({ "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                      "heads.cls.weight", "heads.cls.bias", "scales.0", "extra.w" },
                    m:state_dict():keys())
    assert.are.same(fixture.p2v.keys,
                    nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)):state_dict():keys())
    -- and a state_dict loads back
    local m2 = Net()
    m2:load_state_dict(m:state_dict())
    assert.are.same(m.layers[2].weight:values(), m2.layers[2].weight:values())
    assert.truthy(tostring(m):find("(layers): ModuleList(\n    (0): Linear", 1, true))
  end)

  it("ModuleDict: keys, values, items, pairs in order, #, pop, update, contains", function ()
    local md = nn.ModuleDict()
    md:update({ { "b", nn.ReLU() }, { "a", nn.Tanh() } })
    md.c = nn.Sigmoid()
    md["d"] = nn.Identity and nn.Identity() or nn.ReLU()
    assert.are.same({ "b", "a", "c", "d" }, md:keys())
    assert.are.equal(4, #md)
    local ks = {}
    for k, v in pairs(md) do ks[#ks + 1] = k; assert.is_true(nn.is_module(v)) end
    assert.are.same({ "b", "a", "c", "d" }, ks)
    assert.are.equal("Tanh", md.a:_get_name())
    assert.is_true(md:contains("c"))
    md:pop("c")
    assert.is_false(md:contains("c"))
    assert.are.equal(3, #md:values())
    assert.are.equal("ModuleDict: key 'zz' is not present", util.err(function () md:pop("zz") end))
  end)

  it("ParameterList and ParameterDict make Parameters and register them", function ()
    local pl = nn.ParameterList({ dm.ones(2), dm.zeros(3) })
    assert.are.equal(2, #pl)
    assert.is_true(pl[1].requires_grad)
    pl:append(dm.ones(1))
    assert.are.equal(3, #pl:parameters())
    assert.are.same({ "0", "1", "2" }, pl:state_dict():keys())
    local pd = nn.ParameterDict({ b = dm.ones(2), a = dm.ones(1) })
    pd.c = dm.zeros(4)
    assert.are.same({ "a", "b", "c" }, pd:keys())
    assert.is_true(pd.c.requires_grad)
    assert.are.equal(3, #pd:parameters())
    assert.are.equal("ParameterList(\n  (0): Parameter containing: [torch.float32 of size 2]\n" ..
                     "  (1): Parameter containing: [torch.float32 of size 3]\n" ..
                     "  (2): Parameter containing: [torch.float32 of size 1]\n)", tostring(pl))
    assert.are.equal("ParameterList: index 4 is out of range (3 entries)",
                     util.err(function () return pl[4] end))
  end)
end)

describe("nn.utils", function ()
  local C = fixture.clip

  -- parameters may come as an iterator too
  local function model_params_iter (list)
    local i = 0
    return function () i = i + 1; return list[i] end
  end

  it("clip_grad_norm_ gives PyTorch's total and clipped grads for norm types 2, 1, inf", function ()
    for _, case in ipairs(C.cases) do
      local pa = dm.zeros(3, 4):requires_grad_()
      local pb = dm.zeros(5):requires_grad_()
      pa.grad = T(C.ga, {}):clone()
      pb.grad = T(C.gb, {}):clone()
      local nt = case.norm_type
      local total = nn.utils.clip_grad_norm_({ pa, pb }, 1.25, { norm_type = nt })
      assert.are.equal(0, total:dim())
      assert.are.equal(dm.float32, total.dtype)
      local what = "norm_type " .. tostring(nt)
      assert_close({ data = { case.total } }, total, 1e-6, what .. " total")
      assert_close(case.ga, pa.grad, 1e-6, what .. " ga")
      assert_close(case.gb, pb.grad, 1e-6, what .. " gb")
    end
    -- positional norm_type and "inf"; max_norm above the total leaves grads alone
    local pa = dm.zeros(3, 4):requires_grad_()
    pa.grad = T(C.ga, {}):clone()
    local total = nn.utils.clip_grad_norm_(pa, 1000)
    assert_close({ data = { C.big_total } }, total, 1e-6, "big total")
    assert_close(C.ga, pa.grad, 0, "unclipped")
    local inf_case = C.cases[3]
    pa.grad = T(C.ga, {}):clone()
    local pb = dm.zeros(5):requires_grad_()
    pb.grad = T(C.gb, {}):clone()
    total = nn.utils.clip_grad_norm_(model_params_iter({ pa, pb }), 1.25, "inf")
    assert_close({ data = { inf_case.total } }, total, 1e-6, "inf total")
    assert_close(inf_case.gb, pb.grad, 1e-6, "inf gb")
  end)

  it("clip_grad_norm_: error_if_nonfinite, skipped params without grad, empty list", function ()
    local p = dm.zeros(2):requires_grad_()
    p.grad = dm.tensor({ 1.0, math.huge })
    assert.are.equal("clip_grad_norm_: The total norm of order 2.0 for gradients from " ..
                     "`parameters` is non-finite, so it cannot be clipped. To disable this " ..
                     "error and scale the gradients by the non-finite norm anyway, set " ..
                     "`error_if_nonfinite=False`", util.err(function ()
                       nn.utils.clip_grad_norm_({ p }, 1, { error_if_nonfinite = true }) end))
    local q = dm.zeros(2):requires_grad_()
    assert.are.equal(0, nn.utils.clip_grad_norm_({ q }, 1):item())
    assert.are.equal("clip_grad_norm_: unknown option 'norm'",
                     util.err(function () nn.utils.clip_grad_norm_({ q }, 1, { norm = 2 }) end))
  end)

  it("clip_grad_value_ clamps every grad in place", function ()
    local p = dm.zeros(3):requires_grad_()
    p.grad = dm.tensor({ -2.0, 0.25, 3.0 })
    nn.utils.clip_grad_value_({ p }, 0.5)
    assert.are.same({ -0.5, 0.25, 0.5 }, p.grad:values())
  end)

  it("parameters_to_vector follows PyTorch's order; vector_to_parameters puts it back", function ()
    local P = fixture.p2v
    local model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    dm.no_grad(function ()
      for i, p in ipairs(model:parameters()) do p:copy_(T(P.params[i], {})) end
    end)
    local v = nn.utils.parameters_to_vector(model:parameters())
    assert_close(P.vec, v, 1e-7, "vec")
    local w = v:detach() * 2
    nn.utils.vector_to_parameters(w, model:parameters())
    assert_close({ data = w:values() }, nn.utils.parameters_to_vector(model:parameters()), 0, "back")
    assert.is_true(model[1].weight.requires_grad)
    assert.are.equal("vector_to_parameters: expected a Tensor, but got: number",
                     util.err(function () nn.utils.vector_to_parameters(3, model:parameters()) end))
    assert.are.equal("vector_to_parameters: vec must be 1-D with 11 elements (the " ..
                     "parameters' total), got [3]", util.err(function ()
                       nn.utils.vector_to_parameters(dm.ones(3), model:parameters()) end))
  end)
end)

describe("state_dict", function ()
  it("tostring lists keys with shapes and dtypes; pairs and indexing still work", function ()
    local model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    local sd = model:state_dict()
    assert.are.equal("state_dict with 4 entries\n" ..
                     "  0.weight  [3 x 2] float32\n" ..
                     "  0.bias    [3] float32\n" ..
                     "  2.weight  [1 x 3] float32\n" ..
                     "  2.bias    [1] float32", tostring(sd))
    local ks = {}
    for k in pairs(sd) do ks[#ks + 1] = k end
    assert.are.same({ "0.weight", "0.bias", "2.weight", "2.bias" }, ks)
    assert.are.same({ 3, 2 }, sd["0.weight"]:size())
    -- a plain table loads too
    model:load_state_dict({ ["0.weight"] = dm.ones(3, 2), ["0.bias"] = dm.zeros(3),
                            ["2.weight"] = dm.ones(1, 3), ["2.bias"] = dm.zeros(1) })
    assert.are.same({ 1, 1, 1 }, model[3].weight:values())
  end)

  it("load_state_dict(nil) after a failed load says so", function ()
    local model = nn.Sequential(nn.Linear(2, 3))
    local msg = util.err(function () model:load_state_dict(dm.load("/nonexistent/m.safetensors")) end)
    assert.truthy(msg:find("^load_state_dict: got nil instead of a state_dict: the load that " ..
                           "produced it failed %(load: /nonexistent/m.safetensors"), msg)
    assert.truthy(msg:find("assert(dm.load(path))", 1, true), msg)
    msg = util.err(function () model:load_state_dict(nil) end)
    assert.truthy(msg:find("^load_state_dict: got nil instead of a state_dict: the load that " ..
                           "produced it failed%. Check"), msg)
  end)
end)

describe("train_test_split stratify", function ()
  local prep = dm.data

  it("splits each class in the same proportion (tensor or table labels)", function ()
    local n = 40
    local X = dm.arange(1, n + 1):unsqueeze(2):to(dm.float32)
    local labels = {}
    for i = 1, n do labels[i] = i <= 24 and 1 or (i <= 36 and 2 or 3) end    -- 24, 12, 4
    for _, strat in ipairs({ dm.tensor(labels), labels }) do
      local Xtr, Xte = prep.train_test_split(X, { test_size = 0.25, stratify = strat,
                                                  generator = dm.Generator(7) })
      assert.are.equal(30, Xtr:size(1))
      assert.are.equal(10, Xte:size(1))
      local count = { 0, 0, 0 }
      local seen = {}
      for _, v in ipairs(Xte:values()) do
        count[labels[v]] = count[labels[v]] + 1
        seen[v] = true
      end
      assert.are.same({ 6, 3, 1 }, count)
      for _, v in ipairs(Xtr:values()) do assert.is_nil(seen[v]); seen[v] = true end
      for i = 1, n do assert.is_true(seen[i]) end
    end
  end)

  it("errors as scikit-learn: a class of one, too few test rows, shuffle = false", function ()
    local X = dm.ones(6, 1)
    assert.are.equal("train_test_split: The least populated class in y has only 1 member, " ..
                     "which is too few. The minimum number of groups for any class cannot " ..
                     "be less than 2.", util.err(function ()
                       prep.train_test_split(X, { stratify = { 1, 1, 1, 1, 1, 2 } }) end))
    assert.are.equal("train_test_split: The test_size = 2 should be greater or equal to the " ..
                     "number of classes = 3", util.err(function ()
                       prep.train_test_split(X, { stratify = { 1, 1, 2, 2, 3, 3 } }) end))
    assert.are.equal("train_test_split: Stratified train/test split is not implemented for " ..
                     "shuffle=False", util.err(function ()
                       prep.train_test_split(X, { shuffle = false, stratify = { 1, 1, 1, 2, 2, 2 } }) end))
    assert.are.equal("train_test_split: stratify has 2 labels but X has 6 rows",
                     util.err(function () prep.train_test_split(X, { stratify = { 1, 2 } }) end))
  end)
end)

describe("nn_utils_spec", function ()
  it("leaves live tensor bytes at the baseline", function ()
    settle()
    assert.are.equal(baseline, dm.memory())
  end)
end)
