-- The performance paths (issue 5): they must give what the general paths give.  Timings are
-- measured by `make bench`, never asserted here.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local err = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua").err

local function same_values (a, b)
  local x, y = a:values(), b:values()
  assert.are.equal(#x, #y)
  for i = 1, #x do assert.are.equal(x[i], y[i], "element " .. i) end
end

describe("t.grad", function ()
  it("is the same box while the gradient tensor is the same", function ()
    local w = dm.randn(3, 2, { requires_grad = true })
    ;(w * 2):sum():backward()
    local g1, g2 = w.grad, w.grad
    assert.are.equal(g1, g2)
    ;(w * 3):sum():backward()              -- accumulates into the same tensor
    assert.are.equal(g1, w.grad)
    same_values(w.grad, dm.full({ 3, 2 }, 5))
  end)

  it("follows assignment and clearing", function ()
    local w = dm.randn(2, { requires_grad = true })
    local g = dm.ones(2)
    w.grad = g
    assert.are.equal(g, w.grad)
    w.grad = nil
    assert.is_nil(w.grad)
    ;(w * 4):sum():backward()
    same_values(w.grad, dm.full({ 2 }, 4))
  end)

  it("does not keep the tensor or its gradient alive (the cache has weak keys)", function ()
    collectgarbage()
    collectgarbage()
    local before = dm.memory()
    do
      local w = dm.randn(1000, { requires_grad = true })
      w:sum():backward()
      local g = w.grad
      assert.are.equal(g, w.grad)
      assert.is_true(dm.memory() >= before + 2 * 4000)       -- w and its gradient
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(before, dm.memory())
  end)

  it("is a fresh box after the box was freed", function ()
    local w = dm.randn(2, { requires_grad = true })
    w:sum():backward()
    w.grad:free()
    assert.is_false(w.grad:is_released())
    same_values(w.grad, dm.ones(2))
  end)
end)

describe("accumulating into .grad", function ()
  it("adds a linear layer's gradients to the existing ones, as the general path does", function ()
    local x = dm.randn(5, 3)
    local w1 = dm.randn(4, 3, { requires_grad = true })
    local b1 = dm.randn(4, { requires_grad = true })
    local w2 = w1:detach():clone():requires_grad_()
    local b2 = b1:detach():clone():requires_grad_()
    dm.linear(x, w1, b1):sum():backward()
    dm.linear(x, w1, b1):sum():backward()             -- w1.grad exists: added in the kernel
    local y = dm.linear(x, w2, b2):sum()
    y:backward({ retain_graph = true })
    local gw, gb = w2.grad:clone(), b2.grad:clone()
    y:backward()
    local max = 0
    for i, v in ipairs(w1.grad:values()) do max = math.max(max, math.abs(v - 2 * gw:values()[i])) end
    for i, v in ipairs(b1.grad:values()) do max = math.max(max, math.abs(v - 2 * gb:values()[i])) end
    assert.is_true(max < 1e-5, "difference " .. max)
  end)
end)

describe("fast module paths", function ()
  it("Linear gives dm.linear's values and still raises its own messages", function ()
    local lin = nn.Linear(3, 2)
    local x = dm.randn(4, 3)
    same_values(lin(x), dm.linear(x, lin.weight, lin.bias))
    assert.are.equal("Linear: expected input [N x 3], got [4 x 2]", err(lin, dm.randn(4, 2)))
    assert.are.equal("Linear: expected a Tensor input, got table", err(lin, { 1, 2, 3 }))
    local nb = nn.Linear(3, 2, false)
    same_values(nb(x), dm.linear(x, nb.weight))
  end)

  it("a forward assigned to an instance replaces the class's", function ()
    local m = nn.ReLU()
    local x = dm.tensor({ -1, 2 })
    m.forward = function (_, v) return v * 10 end
    same_values(m(x), dm.tensor({ -10, 20 }))
  end)

  it("loss modules give the functional values and messages", function ()
    local p = dm.rand(6, 1) * 0.8 + 0.1
    local t = dm.rand(6, 1):gt(0.5):float()
    same_values(nn.BCELoss()(p, t), dm.bce_loss(p, t))
    same_values(nn.BCELoss({ reduction = "sum" })(p, t), dm.bce_loss(p, t, nil, "sum"))
    assert.are.equal("BCELoss: expected target of the input's size [6 x 1], got [6]",
                     err(nn.BCELoss(), p, dm.rand(6)))
    assert.are.equal("BCELoss: all elements of input should be between 0 and 1",
                     err(nn.BCELoss(), p * 3, t))
    local logits = dm.randn(5, 4)
    local cls = dm.tensor({ 1, 4, 2, 2, 3 }, { dtype = dm.int64 })
    same_values(nn.CrossEntropyLoss()(logits, cls), dm.cross_entropy(logits, cls))
    same_values(nn.CrossEntropyLoss({ label_smoothing = 0.1 })(logits, cls),
                dm.cross_entropy(logits, cls, nil, "mean", -100, 0.1))
    assert.is_truthy(err(nn.CrossEntropyLoss(), logits, dm.tensor({ 1, 9, 2, 2, 3 }):long())
                     :find("^CrossEntropyLoss: "))
    same_values(nn.MSELoss()(p, t), dm.mse_loss(p, t))
  end)
end)

describe("optimizers on the fused paths", function ()
  local function setup (momentum)
    dm.manual_seed(3)
    local a = nn.Linear(3, 4)
    local b = nn.Linear(3, 4)
    b:load_state_dict(a:state_dict())
    return a, b, optim.SGD(a:parameters(), { lr = 0.1, momentum = momentum }),
           optim.SGD(b:parameters(), { lr = 0.1, momentum = momentum })
  end

  for _, momentum in ipairs({ 0, 0.9 }) do
    it(("SGD (momentum %g) over a group equals per-parameter updates"):format(momentum), function ()
      local a, b, oa, ob = setup(momentum)
      local x = dm.randn(8, 3)
      for _ = 1, 3 do
        oa:zero_grad()
        a(x):pow(2):sum():backward()
        oa:step()
        -- b by hand through core.sgd_step, one parameter at a time
        ob:zero_grad()
        b(x):pow(2):sum():backward()
        for _, p in ipairs(b:parameters()) do
          local st = ob.state[p] or {}
          ob.state[p] = st
          local first = st.momentum_buffer == nil
          if momentum ~= 0 and first then st.momentum_buffer = dm.zeros_like(p) end
          dm.sgd_step(p, p.grad, st.momentum_buffer, 0.1, momentum, 0, 0, false, false, first)
        end
      end
      local pa, pb = a:parameters(), b:parameters()
      for i = 1, #pa do same_values(pa[i], pb[i]) end
    end)
  end

  it("zero_grad zeroes or drops every gradient in one call", function ()
    local m = nn.Linear(2, 2)
    local o = optim.SGD(m:parameters(), { lr = 0.1 })
    m(dm.ones(1, 2)):sum():backward()
    o:zero_grad()
    for _, p in ipairs(m:parameters()) do
      for _, v in ipairs(p.grad:values()) do assert.are.equal(0, v) end
    end
    o:zero_grad({ set_to_none = true })
    for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
    m(dm.ones(1, 2)):sum():backward()
    m:zero_grad(true)
    for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
  end)

  it("sgd_step and adam_step take nil for p's own grad and report a missing one", function ()
    local p = dm.ones(2)
    assert.is_false(dm.sgd_step(p, nil, nil, 0.1))
    p.grad = dm.ones(2)
    assert.is_true(dm.sgd_step(p, nil, nil, 0.5))
    same_values(p, dm.full({ 2 }, 0.5))
    assert.is_true(dm.has_grad(p))
  end)
end)

describe("threads, clock and the memory cache", function ()
  it("sets and reports the thread count", function ()
    local n = dm.get_num_threads()
    assert.is_true(n >= 1)
    dm.set_num_threads(1)
    assert.are.equal(1, dm.get_num_threads())
    dm.set_num_threads(n)
    assert.are.equal(n, dm.get_num_threads())
    assert.is_truthy(err(dm.set_num_threads, 0):find(
      "set_num_threads: expected a positive number of threads, got 0", 1, true))
    assert.is_string(dm.blas_info())
  end)

  it("has a monotonic clock", function ()
    local a = dm.clock()
    local b = dm.clock()
    assert.is_true(b >= a)
  end)

  it("keeps freed blocks for reuse outside live bytes, and can give them back", function ()
    collectgarbage()
    local live = dm.memory()
    do local _ = dm.zeros(1000) end
    collectgarbage()
    collectgarbage()
    assert.are.equal(live, dm.memory())
    if os.getenv("DM_SANITIZE") ~= "1" then
      assert.is_true(dm.memory_cached() >= 4000)
    end
    dm.empty_cache()
    assert.are.equal(0, dm.memory_cached())
    assert.are.equal(live, dm.memory())
  end)
end)

describe("deepmoon.core additions", function ()
  it("leave live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
