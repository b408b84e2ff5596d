-- devices from Lua: "cpu" and "cpu:ref" (the naive reference kernels, core/backend/ref),
-- t:to(device), t:cpu(), t.device, {device = ...} at creation, gradients through a device
-- copy, and the one message for tensors on different devices.
local dm = require "deepmoon"
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local err = util.err

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("devices", function ()
  it("copy a tensor to cpu:ref and back", function ()
    local x = dm.tensor({{1, 2}, {3, 4}})
    local r = x:to("cpu:ref")
    assert.are.equal("cpu", x.device)
    assert.are.equal("cpu:ref", r.device)
    assert.are.equal(r, r:to("cpu:ref"))             -- already there: the tensor itself
    local c = r:cpu()
    assert.are.equal("cpu", c.device)
    assert.are.same({{1, 2}, {3, 4}}, c:tolist())
    assert.are.equal(x, x:cpu())
  end)

  it("make tensors there with {device = 'cpu:ref'}", function ()
    assert.are.equal("cpu:ref", dm.zeros(2, 3, {device = "cpu:ref"}).device)
    assert.are.equal("cpu", dm.zeros(2).device)       -- the next one is on cpu again
  end)

  it("keep results and gradients on their inputs' device", function ()
    local a = dm.tensor({{1.0, 2.0}, {3.0, 4.0}}, {device = "cpu:ref", requires_grad = true})
    local b = dm.tensor({{0.5}, {-1}}, {device = "cpu:ref"})
    local y = (a:matmul(b) * 2):sum()
    assert.are.equal("cpu:ref", y.device)
    y:backward()
    assert.are.equal("cpu:ref", a.grad.device)
    assert.are.same({{1, -2}, {1, -2}}, a.grad:tolist())
    -- the same on cpu
    local a2 = a:detach():cpu():requires_grad_()
    local y2 = (a2:matmul(b:cpu()) * 2):sum()
    assert.are.equal(y:item(), y2:item())
  end)

  it("send the gradient back through a copy (ToCopyBackward0)", function ()
    local x = dm.tensor({1.0, 2.0, 3.0}, {requires_grad = true})
    local r = x:to("cpu:ref")
    assert.are.equal("ToCopyBackward0", r.grad_fn)
    ;(r * r):sum():backward()
    assert.are.equal("cpu", x.grad.device)
    assert.are.same({2, 4, 6}, x.grad:tolist())
  end)

  it("refuse tensors on different devices in one op", function ()
    local x, r = dm.ones(3), dm.ones(3, {device = "cpu:ref"})
    assert.matches("add: expected all tensors on one device, got cpu and cpu:ref",
                   err(function () return x + r end), 1, true)
    assert.matches("matmul: expected all tensors on one device, got cpu:ref and cpu",
                   err(function () return r:matmul(x) end), 1, true)
    assert.matches("unknown device 'cuda'", err(dm.zeros, 2, {device = "cuda"}), 1, true)
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
