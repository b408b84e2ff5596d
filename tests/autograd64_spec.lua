-- The backward engine on float64 graphs from Lua: the seed and every gradient in float64,
-- and a float64 model trained with SGD against PyTorch 1.13, from
-- tests/fixtures/autograd64_cases.lua (regenerate with
-- /usr/bin/python3 tests/fixtures/gen_autograd64.py).

local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local fixture = dofile(script_dir() .. "fixtures/autograd64_cases.lua")
local F64 = { dtype = dm.float64 }

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function T (f) return dm.tensor(f.data, F64):view(f.shape) end

-- |got - want| <= tol max(1, |want|), element by element
local function assert_close (want, t, tol, what)
  assert.are.equal(dm.float64, t.dtype, what .. ": dtype")
  local got = t:values()
  assert.are.equal(#want, #got, what .. ": element count")
  for i = 1, #want do
    if math.abs(got[i] - want[i]) > tol * math.max(1, math.abs(want[i])) then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, got[i], want[i]), 2)
    end
  end
end

describe("float64 backward", function ()
  it("gives a leaf used several times (x*x + x) its exact float64 gradient", function ()
    local v = { 0.1, 1 / 3, -2.7, 1e-9 }
    local x = dm.tensor(v, F64):requires_grad_()
    local y = (x * x + x):sum()
    assert.are.equal(dm.float64, y.dtype)
    y:backward()                                    -- seeded with float64 ones
    assert.are.equal(dm.float64, x.grad.dtype)
    -- bit for bit PyTorch's float64 result: 1 from the add, then x and x from the mul
    -- (float32 anywhere on the way would show in the low bits)
    local g = x.grad:values()
    local torch = { 1.2000000000000002, 1.6666666666666665, -4.4, 1.0000000020000002 }
    for i = 1, #v do
      assert.are.equal((1 + v[i]) + v[i], g[i])
      assert.are.equal(torch[i], g[i])
    end
  end)

  it("converts a gradient of another dtype to the root's", function ()
    local x = dm.tensor({ 0.1, 0.2 }, F64):requires_grad_()
    local y = x * 3
    y:backward(dm.tensor({ 0.5, 2 }))               -- float32, as PyTorch casts it
    assert.are.equal(dm.float64, x.grad.dtype)
    assert.are.same({ 1.5, 6 }, x.grad:values())
    local x32 = dm.tensor({ 1.0, 2.0 }):requires_grad_()
    local y32 = x32 * 2
    y32:backward(dm.tensor({ 0.25, 1 / 3 }, F64))  -- float64 into a float32 graph
    assert.are.equal(dm.float32, x32.grad.dtype)
    assert.are.equal(0.5, x32.grad:values()[1])
  end)

  it("keeps retain_grad and retain_graph working in float64", function ()
    local x = dm.tensor({ 0.1, -0.3, 0.7 }, F64):requires_grad_()
    local z = x * x
    z:retain_grad()
    local s = (z * 2):sum()
    s:backward({ retain_graph = true })
    assert.are.equal(dm.float64, z.grad.dtype)
    assert.are.same({ 2, 2, 2 }, z.grad:values())
    s:backward()                                    -- a second walk adds to .grad
    local g = x.grad:values()
    assert.are.equal(8 * 0.1, g[1])
    assert.are.equal(8 * -0.3, g[2])
    assert.are.equal(8 * 0.7, g[3])
  end)

  it("backs a float64 leaf's own backward with its dtype", function ()
    local x = dm.tensor({ 1.25, 2 }, F64):requires_grad_()
    x:backward(dm.tensor({ 0.1, 0.2 }, F64))
    assert.are.same({ 0.1, 0.2 }, x.grad:values())
    assert.are.equal(dm.float64, x.grad.dtype)
  end)

  it("trains Linear -> ReLU -> Linear -> MSELoss with SGD as PyTorch does (1e-12)", function ()
    local model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)):double()
    local params = model:parameters()
    assert.are.equal(#fixture.init, #params)
    dm.no_grad(function ()
      for i, p in ipairs(params) do
        assert.are.equal(dm.float64, p.dtype)
        p:copy_(T(fixture.init[i]))
      end
    end)
    local x, y = T(fixture.x), T(fixture.y)
    local opt = optim.SGD(params, { lr = fixture.lr, momentum = fixture.momentum })
    local crit = nn.MSELoss()
    for s, want in ipairs(fixture.steps) do
      opt:zero_grad()
      local loss = crit(model(x), y)
      assert.are.equal(dm.float64, loss.dtype)
      loss:backward()
      local l = loss:item()
      assert.is_true(math.abs(l - want.loss) <= 1e-12 * math.max(1, math.abs(want.loss)),
                     ("step %d loss %.17g, PyTorch %.17g"):format(s, l, want.loss))
      for i, p in ipairs(params) do
        assert_close(want.grads[i].data, p.grad, 1e-12, ("step %d grad %d"):format(s, i))
      end
      opt:step()
      for i, p in ipairs(params) do
        assert_close(want.after[i].data, p, 1e-12, ("step %d param %d"):format(s, i))
      end
    end
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
