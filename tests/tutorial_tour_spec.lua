-- A tour of PyTorch's tensor tutorials written in deepmoon, each step checked against what
-- PyTorch 1.13 gives for the same step (tests/fixtures/gen_tutorial_tour.py writes the
-- expected results; positions and class labels there are already 1-based).

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local want = dofile(here .. "fixtures/tutorial_tour_cases.lua")

local seen = {}

-- t must be PyTorch's result for the step: same sizes, dtype and values (1e-5 relative)
local function check (name, t)
  local w = want[name]
  assert(w, "no fixture for step " .. name)
  seen[name] = true
  assert.is_true(dm.is_tensor(t), name .. ": not a tensor")
  assert.are.same(w.sizes, t:size(), name .. ": sizes")
  assert.are.equal(w.dtype, t.dtype.name, name .. ": dtype")
  local got = t:reshape(-1):double():totable()
  if t:dim() == 0 then got = { t:double():item() } end
  assert.are.equal(#w.values, #got, name .. ": numel")
  for i, v in ipairs(w.values) do
    local g = got[i]
    if v ~= v then
      assert.is_true(g ~= g, ("%s: element %d: expected nan, got %s"):format(name, i, g))
    else
      local tol = 1e-5 * math.max(1, math.abs(v))
      assert.is_true(math.abs(g - v) <= tol or g == v,
        ("%s: element %d: expected %.9g, got %.9g"):format(name, i, v, g))
    end
  end
end

describe("a tour of PyTorch's tensor tutorials", function ()
  local x = dm.arange(12.0):reshape(3, 4)             -- float32 0..11
  local m = dm.tensor({ { 3.0, -1.0, 2.0 }, { 0.5, 4.0, -2.0 } })

  it("indexes and slices", function ()
    check("row", x[2])
    check("column", x[{ {}, 2 }])
    check("last column", x[{ {}, -1 }])
    check("rows 1-2", x[{ { 1, 2 } }])
    check("every other column", x[{ {}, { 1, -1, 2 } }])
    check("element", x[{ 2, 3 }])
    check("mask select", x[x:gt(5)])
    check("index rows", x[dm.tensor({ 1, 3 })])
    check("index columns", x[{ {}, dm.tensor({ 4, 1 }) }])
  end)

  it("assigns through indices and masks", function ()
    local y = x:clone()
    y[{ {}, 2 }] = 0
    check("assign column", y)
    y = x:clone()
    y[y:gt(8)] = -1
    check("assign mask", y)
    check("masked_fill", x:masked_fill((x % 2):eq(0), 0.5))
    check("where", dm.where(x:gt(5), x, -x))
    check("nonzero", m:gt(1):nonzero())
    check("gather", x:gather(2, dm.tensor({ { 1, 4 }, { 2, 2 }, { 3, 1 } })))
    check("scatter_add", dm.zeros(2, 4):scatter_add(2, dm.tensor({ { 1, 2, 1 }, { 4, 4, 3 } }), m))
  end)

  it("joins and multiplies", function ()
    check("cat", dm.cat({ x, x }, 2))
    check("stack", dm.stack({ x[1], x[3] }))
    check("matmul", x:t():matmul(x))
    check("bmm", dm.bmm(x:reshape(1, 3, 4), x:t():reshape(1, 4, 3)))
    check("einsum", dm.einsum("ij,kj->ik", x, x))
    check("outer", dm.outer(dm.tensor({ 1.0, 2.0 }), dm.tensor({ 3.0, 4.0, 5.0 })))
  end)

  it("reduces", function ()
    check("sum dims", x:sum({ dim = { 1, 2 } }))
    check("mean keepdim", x:mean({ dim = 2, keepdim = true }))
    local v, i = x:max(2)
    check("max values", v)
    check("max indices", i)
    check("argmax keepdim", m:argmax({ dim = 2, keepdim = true }))
    check("logsumexp", m:logsumexp(2))
    check("norm", m:norm())
    check("norm 1 dim", m:norm(1, 1))
    check("any", m:gt(3):any())
    check("all dim", m:gt(-3):all(2))
  end)

  it("sorts and scans", function ()
    local v, i = m:sort(2, { descending = true })
    check("sort values", v)
    check("sort indices", i)
    check("argsort", m:argsort(1))
    v, i = m:topk(2, { dim = 2 })
    check("topk values", v)
    check("topk indices", i)
    check("cumsum", x:cumsum(2))
    check("cumprod", m:cumprod(1))
  end)

  it("reshapes", function ()
    check("flip", x:flip(1))
    check("roll", x:roll(1, 2))
    check("tril", x:tril())
    check("triu 1", x:triu(1))
    check("diag", dm.diag(x))
    check("trace", dm.trace(x))
    -- `repeat` is a Lua keyword: m["repeat"](m, ...) or its other name, repeat_tensor
    check("repeat", m["repeat"](m, 1, 2))
    check("repeat", m:repeat_tensor(1, 2))
    check("chunk 2", x:chunk(2, 2)[2])
    check("split 2", x:split({ 1, 3 }, 2)[2])
    check("transpose", x:transpose(1, 2):contiguous())
    check("permute", x:reshape(3, 2, 2):permute(3, 1, 2):contiguous())
    check("squeeze", x:reshape(1, 3, 1, 4):squeeze())
    check("clamp", m:clamp(-1, 1))
  end)

  it("counts labels and values", function ()
    local labels = dm.tensor({ 3, 1, 2, 3 })            -- 1-based labels
    check("one_hot", F.one_hot(labels, 3))
    check("bincount", labels:bincount({ minlength = 4 }))
    local u, inv, cnt = dm.tensor({ 3, 1, 3, 2, 1, 3 }):unique({ return_inverse = true,
                                                                return_counts = true })
    check("unique values", u)
    check("unique inverse", inv)
    check("unique counts", cnt)
  end)

  it("handles nan and inf, and Lua's operators", function ()
    local z = dm.tensor({ 1.0, 0 / 0, math.huge, -2.0 })
    check("isnan", z:isnan())
    check("nan_to_num", z:nan_to_num({ nan = 0.0, posinf = 9.0 }))
    local a = dm.tensor({ 7, -7, 5, -5 })
    check("floor_divide", a // 2)
    check("remainder", a % 3)
    local b = dm.tensor({ true, false, true, false })
    local c = dm.tensor({ true, true, false, false })
    check("and", b & c)
    check("or", b | c)
    check("xor", b ~ c)
    check("not", ~b)
  end)

  it("updates in place", function ()
    local y = x:clone()
    y:add_(5)
    y:mul_(2)
    check("in place", y)
  end)

  it("differentiates through indexing and a mask", function ()
    local w = dm.tensor({ { 1.0, -2.0, 3.0 }, { -4.0, 5.0, -6.0 } }, { requires_grad = true })
    local loss = (w[{ {}, 2 }] * 2):sum() + w[w:gt(0)]:pow(2):sum() + w:norm()
    loss:backward()
    check("grad through indexing", w.grad)
  end)

  it("differentiates through assignment into a non-leaf", function ()
    local w = dm.tensor({ { 1.0, -2.0, 3.0 }, { -4.0, 5.0, -6.0 } }, { requires_grad = true })
    local y = w * 3
    y[{ {}, 1 }] = 0.5
    y[y:lt(0)] = 0
    y[dm.tensor({ 2 })] = y[dm.tensor({ 2 })] * 2
    ;(y * y):sum():backward()
    check("grad through assignment", w.grad)
  end)

  it("checked every step PyTorch computed", function ()
    for name in pairs(want) do
      assert.is_true(seen[name] == true, "step not checked: " .. name)
    end
  end)
end)
