-- docs/porting.md stays true: every ```lua block in it runs (with a small dataset, loss and
-- loader defined first), and the claims its tables make about deepmoon's forms hold.

local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local data = require "deepmoon.data"
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")

local read = util.read_bytes

local page = read("docs/porting.md")

describe("docs/porting.md", function ()
  it("runs every lua block", function ()
    local n = 0
    for code in page:gmatch("```lua\n(.-)```") do
      n = n + 1
      dm.manual_seed(0)
      local X = dm.rand(32, 2)
      local env = setmetatable({
        dm = dm, nn = nn, optim = optim, data = data,
        loader = data.DataLoader(data.TensorDataset(X, X:sum(2, true):gt(1):float()),
                                 { batch_size = 16 }),
        criterion = nn.BCELoss(),
      }, { __index = _G })
      local chunk = assert(load(code, "porting.md block " .. n, "t", env))
      chunk()
    end
    assert.is_true(n >= 1)
  end)

  it("holds to its claims", function ()
    local x = dm.arange(1, 13):reshape(3, 4)
    -- x[{1, 3}] is the element (1, 3); rows 1 and 3 are x[dm.tensor({1, 3})]
    assert.are.equal(3, x[{ 1, 3 }]:item())
    assert.are.same({ { 1, 2, 3, 4 }, { 9, 10, 11, 12 } }, x[dm.tensor({ 1, 3 })]:totable())
    assert.are.same({ 2, 4 }, { x[{ { 2, 3 } }]:size(1), x:size(2) })
    assert.are.same({ 1, 3 }, x[{ 1, { 1, -1, 2 } }]:totable())
    assert.are.equal("deepmoon has no nn.Conv3d", util.err(function () return nn.Conv3d end))
    assert.are.equal("deepmoon.Tensor has no member 'foo'", util.err(function () return x:foo() end))
    assert.are.equal("bad argument #1 to 'sum' (deepmoon.Tensor expected, got no value)",
      util.err(function () return x.sum() end))
    assert.are.same({ 2, 3 }, x:repeat_tensor(1, 1)[{ {}, { 2, 3 } }][1]:totable())
    assert.are.equal(dm.int64, dm.tensor({ 1, 2 }).dtype)
    assert.are.equal(dm.float32, dm.tensor({ 1.0, 2.0 }).dtype)
    local v, i = x:max(2)
    assert.are.same({ 4, 8, 12 }, v:totable())
    assert.are.same({ 4, 4, 4 }, i:totable())
    local parts = x:chunk(2, 1)
    assert.are.equal(2, #parts)
    -- autograd's forms
    local w = dm.tensor({ 1.0, 2.0 }, { requires_grad = true })
    local h = w:register_hook(function (g) return g * 2 end)
    w:sum():backward()
    assert.are.same({ 2, 2 }, w.grad:totable())
    h:remove()
    local Twice = dm.autograd.Function:extend("Twice")
    function Twice.forward (ctx, a) return a * 2 end
    function Twice.backward (ctx, g) return g * 2 end
    local a = dm.tensor({ 3.0 }, { requires_grad = true })
    local ga = dm.autograd.grad(Twice.apply(a):sum(), { a })
    assert.are.same({ 2 }, ga[1]:totable())
    local _ <close> = dm.no_grad()
    assert.is_false(dm.is_grad_enabled())
    -- the trap: a line that starts with "(" continues the previous call
    local f = load("local function g () return 1 end\nlocal y = g\n(print)('x')")
    assert.is_function(f)                   -- parses as g(print)('x'): a call of a number
    assert.is_false((pcall(f)))
  end)
end)
