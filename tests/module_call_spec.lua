-- The module call's paths (nn.Module __call): a module with neither hooks nor a forward of
-- its own runs its class's forward directly; an instance forward, a hook, nn.trace and a
-- deep copy take the dispatching path.  And the optimizers' hot methods (zero_grad, step),
-- which test a set of built optimizers before the full check: misuse still raises the
-- full check's messages at the caller's line.

local dm = require "deepmoon"
local nn = dm.nn

local function err (f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok)
  return e
end

local function double_forward (_, x) return x * 2 end

describe("module call", function ()
  local x = dm.tensor({ { 1.0, 2.0 } })

  it("an instance forward replaces the class's and removing it restores the class's", function ()
    local lin = nn.Linear(2, 2)
    local want = lin(x):totable()
    lin.forward = double_forward
    assert.are.same({ { 2, 4 } }, lin(x):totable())
    lin.forward = nil
    assert.are.same(want, lin(x):totable())
  end)

  it("an instance forward that is replaced by a child module falls back to the class's", function ()
    local M = nn.Module:extend("CallSpecM")
    function M:forward (v) return v + 1 end
    local m = M()
    m.forward = double_forward
    assert.are.same({ { 2, 4 } }, m(x):totable())
    m.forward = nn.ReLU()           -- registered as a child: no longer a plain field
    assert.are.same({ { 2, 3 } }, m(x):totable())
  end)

  it("hooks run with the class forward and with an instance forward, before and after", function ()
    local lin = nn.Linear(2, 2)
    local seen = {}
    lin:register_forward_hook(function (_, _, out) seen[#seen + 1] = out:size(2); return out * 0 end)
    assert.are.same({ { 0, 0 } }, lin(x):totable())
    lin.forward = double_forward
    assert.are.same({ { 0, 0 } }, lin(x):totable())
    lin.forward = nil
    assert.are.same({ { 0, 0 } }, lin(x):totable())
    assert.are.same({ 2, 2, 2 }, seen)
    local m = nn.ReLU()
    m.forward = double_forward
    local h = m:register_forward_pre_hook(function (_, input) return input[1] + 1 end)
    assert.are.same({ { 4, 6 } }, m(x):totable())
    h:remove()
    assert.are.same({ { 2, 4 } }, m(x):totable())
  end)

  it("a hook on one instance leaves other instances of the class alone", function ()
    local a, b = nn.ReLU(), nn.ReLU()
    a:register_forward_hook(function () return dm.tensor({ 7.0 }) end)
    assert.are.same({ 7 }, a(x):totable())
    assert.are.same({ { 1, 2 } }, b(x):totable())
  end)

  it("nn.trace wraps the leaves and restores their calls after", function ()
    local trace = require "deepmoon.nn.trace"
    local model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    local want = model(x):totable()
    local calls = trace.run(model, x)
    assert.are.equal(2, #calls)
    assert.are.same(want, model(x):totable())
    assert.is_nil(rawget(model[1], "_attrs").forward)
    assert.is_falsy(rawget(model[1], "_attrs")["\0call"])
  end)

  it("a deep copy keeps the hooks and the instance forward", function ()
    local clone = require("deepmoon.nn.transformer")._clone_module
    local m = nn.ReLU()
    m.forward = double_forward
    m:register_forward_hook(function (_, _, out) return out + 1 end)
    local c = clone(m, {})
    assert.are.same({ { 3, 5 } }, c(x):totable())
  end)

  it("errors raised in forward keep their messages on both paths", function ()
    local lin = nn.Linear(3, 2)
    assert.are.equal("Linear: expected input [N x 3], got [1 x 2]",
                     (err(function () return lin(x) end):gsub("^.-:%d+: ", "")))
    lin.forward = function (_, v) error("own forward: " .. v:dim(), 2) end
    assert.are.equal("own forward: 2", (err(function () return lin(x) end):gsub("^.-:%d+: ", "")))
  end)
end)

describe("nn.Linear's own call", function ()
  local x = dm.tensor({ { 1.0, 2.0 } })

  it("gives the forward's results and messages, with and without bias", function ()
    dm.manual_seed(3)
    local lin = nn.Linear(2, 3)
    local want = dm.linear(x, lin.weight, lin.bias):totable()
    assert.are.same(want, lin(x):totable())
    assert.are.same(want, lin:forward(x):totable())
    local nb = nn.Linear(2, 3, false)
    assert.are.same(dm.linear(x, nb.weight):totable(), nb(x):totable())
    assert.are.equal("Linear: expected input [N x 2], got [3]",
                     (err(function () return lin(dm.zeros(3)) end):gsub("^.-:%d+: ", "")))
    assert.are.equal("Linear: expected a Tensor input, got nil",
                     (err(function () return lin() end):gsub("^.-:%d+: ", "")))
    lin.weight = nil
    assert.is_nil(lin.weight)
    assert.has_error(function () return lin(x) end)
  end)

  it("a subclass's forward, a replaced class forward and a 1-D input take the forward", function ()
    local Sub = nn.Linear:extend("CallSpecLinear")
    function Sub:forward (v) return nn.Linear.forward(self, v) * 0 end
    local s = Sub(2, 2)
    assert.are.same({ { 0, 0 } }, s(x):totable())
    local lin = nn.Linear(2, 2)
    local one = lin(dm.tensor({ 1.0, 2.0 }))
    assert.are.same({ 2 }, one:size())
    local saved = nn.Linear.forward
    nn.Linear.forward = function (_, v, extra) return extra or v end
    local ok, r = pcall(function () return lin(x, "extra") end)
    nn.Linear.forward = saved
    assert.is_true(ok)
    assert.are.equal("extra", r)
    assert.are.same({ 1, 2 }, lin(x):size())
  end)
end)

describe("module field reads", function ()
  it("children, plain fields (false too), parameters, None slots, buffers, the class, indices", function ()
    local M = nn.Module:extend("CallSpecFields")
    function M:__init ()
      self.child = nn.ReLU()
      self.flag = false
      self.w = nn.Parameter(dm.ones(2))
      self:register_parameter("none_p", nil)
      self:register_buffer("buf", dm.zeros(3))
      self:register_buffer("none_b", nil)
    end
    function M:hello () return "hi" end
    local m = M()
    assert.is_true(nn.is_module(m.child))
    assert.are.equal(false, m.flag)
    assert.are.same({ 1, 1 }, m.w:totable())
    assert.is_nil(m.none_p)
    assert.are.same({ 0, 0, 0 }, m.buf:totable())
    assert.is_nil(m.none_b)
    assert.are.equal("hi", m:hello())
    assert.is_nil(m.missing)
    assert.is_nil(m[1])
    m.child = nil
    assert.is_nil(m.child)
    local seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert.are.equal("Linear", seq[1]:_get_name())
    assert.are.equal("Sequential: index 3 out of range (1 to 2)",
                     (err(function () return seq[3] end):gsub("^.-:%d+: ", "")))
  end)
end)

describe("optimizer method checks", function ()
  it("misuse raises the full check's messages at the caller's line", function ()
    local p = dm.zeros(2, { requires_grad = true })
    for _, cls in ipairs({ dm.optim.SGD, dm.optim.Adam, dm.optim.AdamW }) do
      local opt = cls({ p }, { lr = 0.1 })
      local line = debug.getinfo(1, "l").currentline + 1
      local e = err(function () opt.step() end)
      assert.are.equal("module_call_spec.lua:" .. line ..
        ": step: expected an optimizer (call it as opt:step()), got nil", e:match("[^/]*$"))
      assert.are.equal("zero_grad: expected an optimizer (call it as opt:zero_grad()), got nil",
        err(opt.zero_grad):gsub("^.-:%d+: ", ""))
      assert.are.equal("step: expected an optimizer (call it as opt:step()), got number",
        err(opt.step, 0 / 0):gsub("^.-:%d+: ", ""))
      p.grad = dm.ones(2)
      opt:zero_grad()
      assert.is_nil(opt:step())
    end
  end)
end)
