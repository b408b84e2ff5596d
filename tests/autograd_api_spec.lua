-- dm.autograd: tensor hooks (t:register_hook, retain_grad with hooks), autograd.Function,
-- autograd.grad and gradcheck, checked against PyTorch 1.13 values from
-- tests/fixtures/autograd_api_cases.lua (regenerate with
-- /usr/bin/python3 tests/fixtures/gen_autograd_api.py).

local dm = require "deepmoon"

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local util = dofile(script_dir() .. "helpers/util.lua")
local fixture = dofile(script_dir() .. "fixtures/autograd_api_cases.lua")
local F64 = { dtype = dm.float64 }

collectgarbage()
collectgarbage()
local baseline, baseline_tensors = dm.memory(), dm.live_tensors()

local function T (f) return dm.tensor(f.data, F64):view(f.shape) end
local function leaf (f) return T(f):requires_grad_() end

local assert_close = util.assert_close

local function settle ()
  collectgarbage()
  collectgarbage()
end

describe("t:register_hook", function ()
  local H = fixture.hooks

  it("replaces a leaf's gradient (x * x * w, hook doubling)", function ()
    local x, w = leaf(H.x), T(H.w)
    x:register_hook(function (g) return g * 2 end)
    ;(x * x * w):sum():backward()
    assert_close(H.leaf_double, x.grad, 1e-14, "x.grad")
  end)

  it("runs several hooks in the order registered, each on the one before's result", function ()
    local x, w = leaf(H.x), T(H.w)
    local order = {}
    x:register_hook(function (g) order[#order + 1] = 1; return g * 3 end)
    x:register_hook(function (g) order[#order + 1] = 2; return g + 1 end)
    ;(x * x * w):sum():backward()
    assert.are.same({ 1, 2 }, order)
    assert_close(H.two_in_order, x.grad, 1e-14, "x.grad")
  end)

  it("on a non-leaf changes what flows on; retain_grad before it keeps the unhooked one", function ()
    local x, w = leaf(H.x), T(H.w)
    local m = x:exp()
    m:retain_grad()
    m:register_hook(function (g) return g * w end)
    ;(m * m):sum():backward()
    assert_close(H.nonleaf_x, x.grad, 1e-14, "x.grad")
    assert_close(H.nonleaf_retained, m.grad, 1e-14, "m.grad")
  end)

  it("retain_grad after a hook keeps the hooked gradient (PyTorch 1.13's order)", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local m = x * 1
    m:register_hook(function (g) return g * 10 end)
    m:retain_grad()
    ;(m * m):sum():backward()
    assert.are.same({ 20, 40 }, m.grad:values())
    -- a leaf's retain_grad does nothing; its hook still applies to .grad
    local y = dm.tensor({ 1, 2 }, F64):requires_grad_()
    y:register_hook(function (g) return g * 10 end)
    y:retain_grad()
    ;(y * y):sum():backward()
    assert.are.same({ 20, 40 }, y.grad:values())
  end)

  it("keeps the gradient when the hook returns nil, and sees it whole", function ()
    local x = dm.tensor({ 1, 2, 3 }, F64):requires_grad_()
    local seen
    x:register_hook(function (g) seen = g:values() end)
    ;(x * x + x):sum():backward()
    assert.are.same({ 3, 5, 7 }, seen)
    assert.are.same({ 3, 5, 7 }, x.grad:values())
  end)

  it("returns a handle whose remove() takes the hook off (twice is harmless)", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local calls = 0
    local h = x:register_hook(function (g) calls = calls + 1; return g * 0 end)
    h:remove()
    h:remove()
    ;(x * 3):sum():backward()
    assert.are.equal(0, calls)
    assert.are.same({ 3, 3 }, x.grad:values())
  end)

  it("runs on the seed of a leaf root and on a non-leaf the caller let go", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local y = x * 2
    y:register_hook(function (g) return g * 5 end)
    local s = y:sum()
    y = nil
    settle()
    s:backward()
    assert.are.same({ 10, 10 }, x.grad:values())
  end)

  it("raises the hook's own error from backward, and the graph is still released", function ()
    settle()
    local before = dm.live_tensors()
    do
      local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
      local m = x * 2
      m:register_hook(function () error("my hook failed") end)
      local msg = util.err(function () (m * m):sum():backward() end)
      assert.truthy(msg:find("my hook failed", 1, true), msg)
    end
    settle()
    assert.are.equal(before, dm.live_tensors())
  end)

  it("refuses replacements of the wrong shape, dtype or type", function ()
    local x = dm.tensor({ 1, 2, 3 }, F64):requires_grad_()
    local h = x:register_hook(function () return dm.zeros(2, F64) end)
    assert.are.equal("backward: backward: a hook on a tensor of shape [3] returned a " ..
                     "gradient of shape [2]", util.err(function () (x * 1):sum():backward() end))
    h:remove()
    h = x:register_hook(function () return dm.zeros(3) end)
    assert.are.equal("backward: backward: a hook on a tensor of dtype float64 returned a " ..
                     "gradient of dtype float32", util.err(function () (x * 1):sum():backward() end))
    h:remove()
    x:register_hook(function () return 3 end)
    local msg = util.err(function () (x * 1):sum():backward() end)
    assert.truthy(msg:find("a tensor hook must return a Tensor or nil, got number", 1, true), msg)
  end)

  it("errors on a tensor that does not require grad, or a hook that is not a function", function ()
    assert.are.equal("register_hook: cannot register a hook on a tensor that doesn't " ..
                     "require gradient", util.err(function ()
                       dm.ones(2):register_hook(function () end) end))
    assert.are.equal("register_hook: hook must be a function, got number",
                     util.err(function () dm.ones(2):requires_grad_():register_hook(3) end))
  end)
end)

describe("dm.autograd.Function", function ()
  local Clamp = dm.autograd.Function:extend("Clamp")
  function Clamp.forward (ctx, x, lo, hi)
    ctx.lo, ctx.hi = lo, hi
    return x:clamp(lo, hi)
  end
  function Clamp.backward (ctx, g) return g, nil, nil end   -- straight through

  it("a clamp with a straight-through gradient matches PyTorch", function ()
    local C = fixture.clamp
    local x, w = leaf(C.x), T(C.w)
    local y = Clamp.apply(x, -0.5, 0.5)
    assert.are.equal("ClampBackward", y.grad_fn)
    assert_close(C.y, y, 0, "y")
    ;(y * w):sum():backward()
    assert_close(C.grad, x.grad, 0, "x.grad")
  end)

  local TwoOut = dm.autograd.Function:extend("TwoOut")
  function TwoOut.forward (ctx, a, b, k)
    ctx:save_for_backward(a, b)
    ctx.k = k
    assert.are.same({ true, true, false }, ctx.needs_input_grad)
    return a * b * k, a + b
  end
  function TwoOut.backward (ctx, gp, gs)
    local a, b = table.unpack(ctx.saved_tensors)
    return gp * b * ctx.k + gs, gp * a * ctx.k + gs, nil
  end

  it("two outputs, saved tensors, a non-tensor argument match PyTorch", function ()
    local C = fixture.two_out
    local a, b = leaf(C.a), leaf(C.b)
    local p, s = TwoOut.apply(a, b, 1.5)
    assert_close(C.p, p, 1e-15, "p")
    assert_close(C.s, s, 1e-15, "s")
    ;((p * T(C.wp)):sum() + (s * T(C.ws)):sum()):backward()
    assert_close(C.ga, a.grad, 1e-14, "a.grad")
    assert_close(C.gb, b.grad, 1e-14, "b.grad")
  end)

  it("gives zeros for an output that gets no gradient", function ()
    local a = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local b = dm.tensor({ 3, 4 }, F64):requires_grad_()
    local _, s = TwoOut.apply(a, b, 2)
    s:sum():backward()
    assert.are.same({ 1, 1 }, a.grad:values())
  end)

  it("records nothing without grad, and in no_grad mode", function ()
    local x = dm.tensor({ -1, 2 }, F64)
    local y = Clamp.apply(x, 0, 1)
    assert.is_nil(y.grad_fn)
    assert.are.same({ 0, 1 }, y:values())
    local z = dm.no_grad(Clamp.apply, x:requires_grad_(), 0, 1)
    assert.is_false(z.requires_grad)
  end)

  it("mark_non_differentiable outputs do not require grad", function ()
    local ArgMaxAndMax = dm.autograd.Function:extend("MaxWithIndex")
    function ArgMaxAndMax.forward (ctx, x)
      local v, i = x:max(1), x:argmax(1)
      ctx:mark_non_differentiable(i)
      ctx:save_for_backward(x, i)
      return v, i
    end
    local gi_seen
    function ArgMaxAndMax.backward (ctx, g, gi)
      gi_seen = gi
      local x, i = table.unpack(ctx.saved_tensors)
      local out = dm.zeros_like(x)
      out:set(i:item(), g:item())
      return out
    end
    local x = dm.tensor({ 1, 5, 2 }, F64):requires_grad_()
    local v, i = ArgMaxAndMax.apply(x)
    assert.is_true(v.requires_grad)
    assert.is_false(i.requires_grad)
    v:backward()
    assert.are.same({ 0, 1, 0 }, x.grad:values())
    assert.are.equal(0, gi_seen:item())       -- zeros for the output without gradient
    -- an integer output is left out without being marked
    local Count = dm.autograd.Function:extend("CountPositive")
    function Count.forward (_, t) return t * 2, t:gt(0):sum() end
    function Count.backward (_, g, gc) assert.are.equal(dm.int64, gc.dtype); return g * 2 end
    local d, c = Count.apply(x)
    assert.is_false(c.requires_grad)
    assert.are.equal(3, c:item())
    x.grad = nil
    d:sum():backward()
    assert.are.same({ 2, 2, 2 }, x.grad:values())
  end)

  it("an input returned as it came is recorded on a copy", function ()
    local Id = dm.autograd.Function:extend("Id")
    function Id.forward (_, x) return x end
    function Id.backward (_, g) return g * 2 end
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local y = Id.apply(x)
    assert.are.equal("IdBackward", y.grad_fn)
    y:sum():backward()
    assert.are.same({ 2, 2 }, x.grad:values())
  end)

  it("names the Function and the input when backward returns too many or a wrong shape", function ()
    local Bad = dm.autograd.Function:extend("Bad")
    function Bad.forward (_, x, y) return x * y end
    function Bad.backward (_, g) return g, g, g end
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local y = dm.tensor({ 3, 4 }, F64):requires_grad_()
    assert.are.equal("backward: function BadBackward returned an incorrect number of " ..
                     "gradients (expected 2, got 3)",
                     util.err(function () Bad.apply(x, y):sum():backward() end))
    function Bad.backward (_, g) return g end
    assert.are.equal("backward: function BadBackward returned an incorrect number of " ..
                     "gradients (expected 2, got 1)",
                     util.err(function () Bad.apply(x, y):sum():backward() end))
    function Bad.backward (_, g) return g, g:narrow(1, 1, 1) end
    assert.are.equal("backward: Function BadBackward returned an invalid gradient at index 2 " ..
                     "- got [1] but expected shape compatible with [2]",
                     util.err(function () Bad.apply(x, y):sum():backward() end))
    function Bad.backward (_, g) error("inside backward") end
    local msg = util.err(function () Bad.apply(x, y):sum():backward() end)
    assert.truthy(msg:find("inside backward", 1, true), msg)
    local NonT = dm.autograd.Function:extend("NonT")
    function NonT.forward (_, x, k) return x * k end
    function NonT.backward (_, g) return g, g end
    assert.are.equal("backward: function NonTBackward returned a gradient different than nil " ..
                     "at position 2, but the corresponding forward input was not a Tensor",
                     util.err(function () NonT.apply(x, 2):sum():backward() end))
  end)

  it("frees its graph and context after backward", function ()
    settle()
    local before = dm.live_tensors()
    do
      local a = dm.tensor({ 1, 2 }, F64):requires_grad_()
      local b = dm.tensor({ 3, 4 }, F64):requires_grad_()
      local p, s = TwoOut.apply(a, b, 2)
      ;(p:sum() + s:sum()):backward()
      local y = Clamp.apply(a, 0, 1)
      y = nil                                  -- never backward: collected all the same
    end
    settle()
    assert.are.equal(before, dm.live_tensors())
  end)
end)

describe("dm.autograd.grad", function ()
  local G = fixture.grad

  it("returns the gradients of several outputs without touching .grad", function ()
    local x, W = leaf(G.x), leaf(G.W)
    W.grad = dm.full({ 2, 3 }, 7, F64)
    local o1 = W:matmul(x)
    local o2 = (x * x):sum() * W:sum()
    local r = dm.autograd.grad({ o1, o2 }, { x, W }, { grad_outputs = { T(G.g1), nil },
                                                      retain_graph = true })
    assert_close(G.gx, r[1], 1e-14, "gx")
    assert_close(G.gW, r[2], 1e-14, "gW")
    assert.is_nil(x.grad)
    assert.are.same({ 7, 7, 7, 7, 7, 7 }, W.grad:values())
    local r2 = dm.autograd.grad(o2, x)
    assert_close(G.gx_o2, r2[1], 1e-14, "gx of o2")
    assert.is_nil(x.grad)
  end)

  it("gives a non-leaf input its gradient; allow_unused gives nil", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local z = dm.tensor({ 5 }, F64):requires_grad_()
    local m = x * 3
    local r = dm.autograd.grad((m * m):sum(), { m, z }, { allow_unused = true })
    assert.are.same({ 6, 12 }, r[1]:values())
    assert.is_nil(r[2])
    assert.is_nil(m.grad)
  end)

  it("errors: unused input, create_graph, non-scalar output, no grad", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local z = dm.tensor({ 5 }, F64):requires_grad_()
    assert.are.equal("autograd.grad: One of the differentiated Tensors (inputs[2]) appears " ..
                     "to not have been used in the graph. Set allow_unused=True if this is " ..
                     "the desired behavior.",
                     util.err(function () dm.autograd.grad((x * 2):sum(), { x, z }) end))
    assert.are.equal("autograd.grad: create_graph = true is not supported yet (gradients are " ..
                     "computed without recording a graph, so higher-order derivatives are " ..
                     "not available)", util.err(function ()
                       dm.autograd.grad((x * 2):sum(), x, { create_graph = true }) end))
    assert.are.equal("autograd.grad: grad can be implicitly created only for scalar outputs " ..
                     "(outputs[1] is [2])",
                     util.err(function () dm.autograd.grad(x * 2, x) end))
    assert.are.equal("autograd.grad: element 1 of tensors does not require grad and does " ..
                     "not have a grad_fn",
                     util.err(function () dm.autograd.grad(dm.ones(1), x) end))
    assert.are.equal("autograd.grad: unknown option 'retain'",
                     util.err(function () dm.autograd.grad((x * 2):sum(), x, { retain = 1 }) end))
  end)

  it("frees the graph unless retain_graph", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local s = (x * x):sum()
    dm.autograd.grad(s, x)
    local msg = util.err(function () dm.autograd.grad(s, x) end)
    assert.truthy(msg:find("backward through the graph a second time", 1, true), msg)
  end)
end)

describe("dm.autograd.gradcheck", function ()
  it("passes for correct gradients of several inputs and outputs", function ()
    local a = dm.tensor({ { 0.3, -1.2 }, { 0.7, 2.0 } }, F64):requires_grad_()
    local b = dm.tensor({ 0.5, -0.25 }, F64):requires_grad_()
    assert.is_true(dm.autograd.gradcheck(function (p, q)
      return p:matmul(q):tanh(), (p * p):sum(), p:t() * q:exp()
    end, { a, b }))
  end)

  it("reports the mismatching entry, or returns false without raise_exception", function ()
    local x = dm.tensor({ 1, 2 }, F64):requires_grad_()
    local f = function (u) return u * u:detach() end
    assert.are.equal("gradcheck: Jacobian mismatch for output 1 with respect to input 1, at " ..
                     "output entry [1] and input entry [1]: numerical 2, analytical 1",
                     util.err(dm.autograd.gradcheck, f, { x }))
    local ok, msg = dm.autograd.gradcheck(f, { x }, { raise_exception = false })
    assert.is_false(ok)
    assert.truthy(msg:find("Jacobian mismatch", 1, true))
  end)

  it("checks a custom Function's backward", function ()
    local Cube = dm.autograd.Function:extend("Cube")
    function Cube.forward (ctx, x) ctx:save_for_backward(x); return x * x * x end
    function Cube.backward (ctx, g) local x = ctx.saved_tensors[1]; return g * 3 * x * x end
    local x = dm.tensor({ 0.5, -1.5, 2 }, F64):requires_grad_()
    assert.is_true(dm.autograd.gradcheck(Cube.apply, { x }))
    function Cube.backward (ctx, g) local x = ctx.saved_tensors[1]; return g * 2 * x * x end
    assert.is_false((dm.autograd.gradcheck(Cube.apply, { x }, { raise_exception = false })))
  end)

  it("refuses float32 inputs that require grad, as PyTorch warns", function ()
    local x = dm.tensor({ 1.0, 2.0 }):requires_grad_()
    assert.are.equal("gradcheck: Input #1 requires gradient and is not a double precision " ..
                     "floating point or complex. This check will likely fail if all the " ..
                     "inputs are not of double precision floating point or complex.",
                     util.err(dm.autograd.gradcheck, function (u) return u * 2 end, { x }))
    assert.are.equal("gradcheck: unknown option 'tol'",
                     util.err(dm.autograd.gradcheck, function (u) return u end,
                              { x:double():detach():requires_grad_() }, { tol = 1 }))
  end)
end)

describe("autograd_api_spec", function ()
  it("leaves live tensor bytes at the baseline", function ()
    settle()
    assert.are.equal(baseline, dm.memory())
    assert.are.equal(baseline_tensors, dm.live_tensors())
  end)
end)
