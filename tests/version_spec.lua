-- Version counters and in-place autograd, PyTorch's semantics: every in-place write bumps a
-- counter shared by a tensor, its views and its detach(); backward refuses values its rules
-- read that were written after the forward; in-place ops on non-leaves are recorded.  Chains
-- of in-place ops are checked against PyTorch 1.13 (tests/fixtures/inplace_cases.lua, from
-- /usr/bin/python3 tests/fixtures/gen_inplace.py) and one against central differences.
local dm = require "deepmoon"
local nn, optim = dm.nn, dm.optim
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local err = util.err
local cases = dofile(dir .. "fixtures/inplace_cases.lua")

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local MODIFIED = "backward: one of the variables needed for gradient computation has been "
  .. "modified by an inplace operation: "

local function close (want, got, tol, what)
  if type(want) == "table" then
    assert.are.equal(#want, #got, what .. ": size")
    for i = 1, #want do close(want[i], got[i], tol, what .. "[" .. i .. "]") end
    return
  end
  if math.abs(got - want) > tol * math.max(1, math.abs(want)) then
    error(("%s: %.17g, PyTorch has %.17g"):format(what, got, want), 3)
  end
end

describe("version counters", function ()
  it("start at 0 and every in-place op adds 1", function ()
    local t = dm.zeros(2, 3)
    assert.are.equal(0, t._version)
    local o = dm.ones(3)
    local steps = {
      function () t:add_(1) end, function () t:add_(o) end, function () t:add_(o, 2) end,
      function () t:sub_(1) end, function () t:sub_(o) end, function () t:mul_(2) end,
      function () t:mul_(o) end, function () t:div_(2) end, function () t:div_(o) end,
      function () t:clamp_(-1, 1) end, function () t:copy_(o) end, function () t:fill_(3) end,
      function () t:zero_() end, function () t:set(1, 2, 5) end, function () t[1] = 4 end,
      function () t:uniform_() end, function () t:normal_() end, function () t:bernoulli_(0.5) end,
      function () nn.init.constant_(t, 0.5) end, function () nn.init.normal_(t) end,
      function () nn.init.xavier_uniform_(t) end, function () nn.init.eye_(t) end,
    }
    for i, f in ipairs(steps) do
      f()
      assert.are.equal(i, t._version, "step " .. i)
    end
    assert.are.equal(0, o._version, "a source is not written")
  end)

  it("count writes into int64, bool and float64 tensors too", function ()
    for _, dt in ipairs({ dm.int64, dm.bool, dm.float64 }) do
      local t = dm.zeros(3, { dtype = dt })
      t:fill_(1)
      t:zero_()
      assert.are.equal(2, t._version, tostring(dt))
    end
  end)

  it("are shared by views and detach(); t.data shares it too (PyTorch's has its own)", function ()
    local x = dm.zeros(4, 3)
    local v, d = x:narrow(1, 2, 2), x:detach()
    v:mul_(2)
    assert.are.same({ 1, 1, 1 }, { x._version, v._version, d._version })
    d:add_(1)
    x:t():fill_(2)
    assert.are.same({ 3, 3, 3 }, { x._version, v._version, d._version })
    x.data:add_(1)
    assert.are.equal(4, x._version)
    local c = x:clone()
    assert.are.equal(0, c._version, "a clone has its own")
  end)

  it("are read-only", function ()
    assert.are.equal("Tensor: cannot set field '_version'",
      err(function () dm.zeros(2)._version = 3 end))
  end)

  it("move on an optimizer step (the parameter and its state) but not on backward", function ()
    local lin = nn.Linear(3, 2)
    local opt = optim.SGD(lin:parameters(), { lr = 0.1, momentum = 0.9 })
    local w = lin.weight
    local v0 = w._version
    lin(dm.ones(4, 3)):sum():backward()
    assert.are.equal(v0, w._version)
    opt:step()
    assert.are.equal(v0 + 1, w._version)
    local adam = optim.Adam(lin:parameters())
    adam:step()
    assert.are.equal(v0 + 2, w._version)
  end)

  it("move on batch norm's running statistics, and a training step does not raise", function ()
    local bn = nn.BatchNorm1d(3)
    local opt = optim.SGD(bn:parameters(), { lr = 0.1 })
    local x = dm.randn(8, 3)
    for step = 1, 2 do
      local y = bn(x)
      assert.are.equal(step, bn.running_mean._version)
      assert.are.equal(step, bn.running_var._version)
      opt:zero_grad()
      y:pow(2):sum():backward()
      opt:step()
    end
  end)
end)

describe("backward after an in-place write", function ()
  it("raises when an op reads the tensor it then writes into through another node", function ()
    local x = dm.ones(3, { requires_grad = true })
    local y = x * 2
    y:mul_(y:sin())                     -- sin's node reads y, written by mul_ (PyTorch raises too)
    assert.are.equal(MODIFIED .. "[float32 [3]], which is output 0 of MulBackward0, is at "
      .. "version 1; expected version 0 instead", err(y.backward, y:sum()))
  end)

  it("raises for a leaf written under no_grad after the forward", function ()
    local a = dm.ones(2, 3, { requires_grad = true })
    local b = dm.ones(2, 3, { requires_grad = true })
    local z = a * b
    dm.no_grad(function () a:add_(1) end)
    assert.are.equal(MODIFIED .. "[float32 [2 x 3]], which is input 0 of MulBackward0, is at "
      .. "version 1; expected version 0 instead", err(z.backward, z:sum()))
  end)

  it("raises for an output written through detach()", function ()
    local a = dm.ones(2, 3, { requires_grad = true })
    local y = a * 2
    local z = y * y
    y:detach():add_(1)
    assert.are.equal(MODIFIED .. "[float32 [2 x 3]], which is output 0 of MulBackward0, is at "
      .. "version 1; expected version 0 instead", err(z.backward, z:sum()))
  end)

  it("raises for a saved output written in place (exp's)", function ()
    local a = dm.ones(3, { requires_grad = true })
    local y = a:exp()
    y:add_(1)
    assert.are.equal("AddBackward0", y.grad_fn)
    assert.are.equal(MODIFIED .. "[float32 [3]], which is output 0 of ExpBackward0, is at "
      .. "version 1; expected version 0 instead", err(y.backward, y:sum()))
  end)

  it("raises for an optimizer step between the forward and backward", function ()
    local lin = nn.Linear(3, 2)
    local opt = optim.SGD(lin:parameters(), { lr = 0.1 })
    local x = dm.ones(4, 3)
    lin(x):sum():backward()               -- the parameters have gradients: the step moves them
    local loss = lin(x):sum()
    opt:step()
    local v = lin.weight._version
    assert.are.equal(MODIFIED .. ("[float32 [2 x 3]], which is input 1 of AddmmBackward0, is "
      .. "at version %d; expected version %d instead"):format(v, v - 1), err(loss.backward, loss))
  end)

  it("does not raise for inputs the rule does not read", function ()
    local a = dm.ones(2, 3, { requires_grad = true })
    local b = dm.ones(3, { requires_grad = true })
    local z = (a + b) * 3
    dm.no_grad(function () a:mul_(5); b:add_(1) end)
    z:sum():backward()
    assert.are.same({ 3, 3, 3 }, a.grad[1]:totable())
    assert.are.same({ 6, 6, 6 }, b.grad:totable())
  end)

  it("raises for a view whose base got a new history after the view was taken", function ()
    local x = dm.ones(4, { requires_grad = true })
    local y = x * 2
    local v = y:narrow(1, 1, 2)
    y:mul_(3)
    assert.are.equal("backward: the base [float32 [4]] of a view (SliceBackward0) was modified "
      .. "by an inplace operation after the view was taken; this is not supported yet (take the "
      .. "view after the in-place operation)", err(v.backward, v:sum()))
  end)
end)

describe("in-place ops on tensors that require grad", function ()
  it("record the op on a non-leaf: y = x*2; y:add_(1); y:mul_(3) gives x.grad 6", function ()
    local x = dm.randn(2, 3, { requires_grad = true })
    local y = x * 2
    y:add_(1)
    y:mul_(3)
    assert.are.equal("MulBackward0", y.grad_fn)
    assert.is_false(y.is_leaf)
    assert.are.equal(2, y._version)
    y:sum():backward()
    assert.are.same({ 6, 6, 6 }, x.grad[2]:totable())
  end)

  it("name each op's node as PyTorch does", function ()
    local x = dm.randn(3, { requires_grad = true })
    local o = dm.randn(3, { requires_grad = true })
    local y = x * 1
    local want = {
      { function () y:sub_(1) end, "SubBackward0" }, { function () y:sub_(o) end, "SubBackward0" },
      { function () y:div_(2) end, "DivBackward0" }, { function () y:div_(o) end, "DivBackward0" },
      { function () y:clamp_(-1, 1) end, "ClampBackward1" },
      { function () y:fill_(1) end, "FillBackward2" }, { function () y:zero_() end, "ZeroBackward0" },
      { function () y:copy_(o) end, "CopyBackwards" }, { function () y:add_(o, 2) end, "AddBackward0" },
      { function () y:mul_(2) end, "MulBackward0" },
    }
    for _, w in ipairs(want) do
      w[1]()
      assert.are.equal(w[2], y.grad_fn)
    end
    y:sum():backward()
    assert.are.same({ 0, 0, 0 }, x.grad:totable(), "fill_ and copy_ cut x off")
  end)

  it("make a tensor that did not require grad a non-leaf when the source does", function ()
    local x = dm.ones(3, { requires_grad = true })
    local a = dm.zeros(3)
    a:add_(x, 2)
    assert.is_true(a.requires_grad)
    assert.are.equal("AddBackward0", a.grad_fn)
    a:sum():backward()
    assert.are.same({ 2, 2, 2 }, x.grad:totable())
  end)

  it("keep the old history for nodes recorded before the write", function ()
    local x = dm.ones(3, { requires_grad = true })
    local y = x * 2
    local z = y * 3                     -- recorded before: its gradient goes to y's old node
    y:mul_(5)
    ;(z + y):sum():backward()
    assert.are.same({ 16, 16, 16 }, x.grad:totable())      -- PyTorch: 6 + 10
  end)

  it("refuse a leaf that requires grad, naming the op called", function ()
    local w = dm.zeros(3, { requires_grad = true })
    local o = dm.ones(3)
    local msg = ": a leaf Variable that requires grad is being used in an in-place operation."
    local ops = {
      add_ = function () w:add_(1) end, sub_ = function () w:sub_(1) end,
      mul_ = function () w:mul_(2) end, div_ = function () w:div_(2) end,
      clamp_ = function () w:clamp_(0, 1) end, copy_ = function () w:copy_(o) end,
      fill_ = function () w:fill_(1) end, zero_ = function () w:zero_() end,
      set = function () w:set(1, 5) end, uniform_ = function () w:uniform_() end,
    }
    for name, f in pairs(ops) do
      assert.are.equal(name .. msg, err(f))
    end
    assert.are.equal("sub_" .. msg, err(function () w:sub_(o) end))
    assert.are.equal("div_" .. msg, err(function () w:div_(o) end))
    assert.are.equal(0, w._version)
    dm.no_grad(function () w:sub_(1) end)
    assert.are.equal(1, w._version)
  end)

  it("into a view of a non-leaf rewrite the base's history (CopySlices)", function ()
    local x = dm.tensor({ 1.0, 2, 3, 4 }, { requires_grad = true })
    local y = x * 2
    local v = y:narrow(1, 2, 2)
    v:mul_(3)
    assert.are.equal("CopySlices", y.grad_fn)
    assert.are.same({ 2, 12, 18, 8 }, y:totable())
    assert.are.equal(1, y._version)
    y:sum():backward()
    assert.are.same({ 2, 6, 6, 2 }, x.grad:totable())      -- PyTorch's
    x.grad = nil
    y = x * 2
    v = y:narrow(1, 2, 2)
    v:fill_(7)
    v:sum():backward()                     -- the view leads to the base's new history
    assert.are.same({ 0, 0, 0, 0 }, x.grad:totable())
  end)

  it("refuse a view of a leaf, and views in cases not supported yet", function ()
    local x = dm.ones(4, { requires_grad = true })
    local y = x * 2
    assert.are.equal("mul_: a view of a leaf Variable that requires grad is being used in an "
      .. "in-place operation.", err(function () x:narrow(1, 2, 2):mul_(2) end))
    local v = y:narrow(1, 2, 2)
    y:add_(1)
    assert.are.equal("mul_: an in-place operation on a view (SliceBackward0) of a tensor that "
      .. "requires grad is not supported when its base was itself written in place after the "
      .. "view was taken", err(function () v:mul_(2) end))
    local z = (x * 2):view(2, 2):t()
    assert.are.equal("add_: an in-place operation on a view (TransposeBackward0) of a tensor "
      .. "that requires grad is not supported when the result has another dtype",
      err(function () z:add_(dm.ones(2, { dtype = dm.float64 })) end))
    y = x * 2
    y:set(2, 7)                            -- a non-leaf's element: through a view, CopySlices
    assert.are.equal("CopySlices", y.grad_fn)
    y:sum():backward()
    assert.are.same({ 2, 0, 2, 2 }, x.grad:totable())
  end)

  for _, c in ipairs(cases) do
    it("match PyTorch on a chain: " .. c.name, function ()
      local opts = { dtype = dm[c.dtype], requires_grad = true }
      local tol = c.dtype == "float64" and 1e-12 or 1e-5
      local x = dm.tensor(c.x, opts)
      local src = {}
      for k, v in pairs(c.src) do src[k] = dm.tensor(v, opts) end
      local y = x * 2
      for _, op in ipairs(c.ops) do
        local name, args = op[1], {}
        for i = 2, #op do args[i - 1] = type(op[i]) == "string" and src[op[i]] or op[i] end
        if name == "mul" then y = y * args[1]
        elseif name == "sin" then y = y:sin()
        elseif name == "narrow" then         -- in place into a view of y (CopySlices)
          local v = y:narrow(args[1], args[2], args[3])
          v[args[4]](v, table.unpack(args, 5))
        elseif name == "tselect" then
          local v = y:t():select(1, args[1])
          v[args[2]](v, table.unpack(args, 3))
        else y[name](y, table.unpack(args)) end
      end
      assert.are.equal(c.grad_fn, y.grad_fn)
      close(c.y, y:totable(), tol, "y")
      local w = dm.tensor(c.w, { dtype = dm[c.dtype] })
      ;(y * w):sum():backward()
      close(c.x_grad, x.grad:totable(), tol, "x.grad")
      for k, g in pairs(c.src_grad) do close(g, src[k].grad:totable(), tol, k .. ".grad") end
    end)
  end

  it("give central differences' gradients on a float64 chain", function ()
    local F64 = { dtype = dm.float64 }
    local xv = { { 0.3, -0.7, 1.1 }, { -0.2, 0.9, -1.4 } }
    local av, bv = { 0.5, -1.5, 0.8 }, { { 1.3 }, { 0.6 } }
    local w = dm.tensor({ { 0.7, -0.4, 1.2 }, { -0.9, 0.5, 0.3 } }, F64)
    local function chain (x, a, b)
      local y = x * 2
      y:add_(a, 0.5)
      y:mul_(b)
      y:sub_(x)
      y:div_(b)
      y:clamp_(-2, 1.5)
      y:mul_(a:sin())
      y = y:sin()                 -- sin reads the y it was given; the next write makes a new one
      y:add_(b, 3)
      return (y * w):sum()
    end
    local x = dm.tensor(xv, { dtype = dm.float64, requires_grad = true })
    local a = dm.tensor(av, { dtype = dm.float64, requires_grad = true })
    local b = dm.tensor(bv, { dtype = dm.float64, requires_grad = true })
    chain(x, a, b):backward()
    local eps = 1e-6
    local function numeric (vals, which)
      local flat = {}
      local function walk (t) for _, v in ipairs(t) do if type(v) == "table" then walk(v) else flat[#flat + 1] = v end end end
      walk(vals)
      local grads = {}
      for i = 1, #flat do
        local f = {}
        for s, sign in ipairs({ 1, -1 }) do
          local p = dm.tensor(vals, F64):view(-1)
          dm.no_grad(function () p:set(i, flat[i] + sign * eps) end)
          local xs = { x = dm.tensor(xv, F64), a = dm.tensor(av, F64), b = dm.tensor(bv, F64) }
          xs[which] = p:view(dm.tensor(vals, F64).shape)
          f[s] = dm.no_grad(function () return chain(xs.x, xs.a, xs.b):item() end)
        end
        grads[i] = (f[1] - f[2]) / (2 * eps)
      end
      return grads
    end
    close(numeric(xv, "x"), x.grad:values(), 1e-7, "x.grad")
    close(numeric(av, "a"), a.grad:values(), 1e-7, "a.grad")
    close(numeric(bv, "b"), b.grad:values(), 1e-7, "b.grad")
  end)
end)

describe("version_spec", function ()
  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
