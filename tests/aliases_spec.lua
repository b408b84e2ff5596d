-- PyTorch's other names for deepmoon functions (deepmoon.aliases): each is the very function
-- of its original on dm and on Tensor (in-place forms too), gives the original's values, and
-- its errors are the original's; positive returns its input.
local dm = require "deepmoon"
local aliases = require "deepmoon.aliases"

describe("aliases", function ()
  it("are the original functions, on dm and on Tensor", function ()
    local T = dm.Tensor
    local n = 0
    for alias, name in pairs(aliases.ALIASES) do
      if rawget(dm, name) then
        assert.are.equal(rawget(dm, name), dm[alias], "dm." .. alias)
        assert.is_nil(rawget(dm, alias), "dm." .. alias .. " is not stored in dm")
      end
      if T[name] then assert.are.equal(T[name], T[alias], "Tensor." .. alias) end
      n = n + 1
    end
    assert.is_true(n >= 23)
    assert.are.equal(T.mul_, T.multiply_)
    assert.are.equal(T.clamp_, T.clip_)
    assert.are.equal(dm.cat, dm.concatenate)
  end)

  it("give the values of the originals", function ()
    local x = dm.tensor({ { -2, 0.5 }, { 3, -0.25 } })
    local y = dm.tensor({ { 1, 2 }, { 4, 0.5 } })
    assert.are.same({ { -1, 0.5 }, { 1, -0.25 } }, dm.clip(x, -1, 1):totable())
    assert.are.same({ { -2, 1 }, { 12, -0.125 } }, x:multiply(y):totable())
    assert.are.same({ { -3, -1.5 }, { -1, -0.75 } }, dm.subtract(x, y):totable())
    assert.are.same({ { -2, 0.25 }, { 0.75, -0.5 } }, x:divide(y):totable())
    assert.are.same({ { -2, 0.25 }, { 0.75, -0.5 } }, dm.true_divide(x, y):totable())
    assert.are.same({ { 2, -0.5 }, { -3, 0.25 } }, x:negative():totable())
    assert.are.same({ { 2, 0.5 }, { 3, 0.25 } }, dm.absolute(x):totable())
    assert.are.same({ { false, false }, { false, false } }, x:greater(y):totable())
    assert.are.same({ { true, true }, { true, true } }, dm.less_equal(x, y):totable())
    assert.are.same({ { true, true }, { true, true } }, x:not_equal(y):totable())
    assert.are.same({ { -2, 3 }, { 0.5, -0.25 } }, x:swapaxes(1, 2):totable())
    assert.are.same({ { -2, 3 }, { 0.5, -0.25 } }, dm.swapdims(x, 1, 2):totable())
    assert.are.same({ 2, 3, 4 }, dm.zeros(4, 2, 3):moveaxis(1, 3):size())
    assert.are.same({ 4, 2 }, dm.concat({ x, y }):size())
    local u = dm.tensor({ -0.5, 0.25 }, { dtype = dm.float64 })
    for _, pair in ipairs({ { "arcsin", "asin" }, { "arccos", "acos" }, { "arctan", "atan" },
                            { "arcsinh", "asinh" }, { "arctanh", "atanh" } }) do
      assert.are.same(dm[pair[2]](u):totable(), dm[pair[1]](u):totable(), pair[1])
    end
    assert.are.same(dm.acosh(u + 2):totable(), (u + 2):arccosh():totable())
    local z = x:clone()
    z:multiply_(2)
    assert.are.same({ { -4, 1 }, { 6, -0.5 } }, z:totable())
  end)

  it("keep autograd", function ()
    local x = dm.tensor({ -2, 0.5, 3 }, { requires_grad = true })
    dm.clip(x, -1, 1):multiply(3):sum():backward()
    assert.are.same({ 0, 3, 0 }, x.grad:totable())
  end)

  it("raise the originals' errors", function ()
    -- Lua names a C function in an argument error by a field of a loaded module holding
    -- it: the original's name, since the dm aliases are not stored in dm
    for alias, name in pairs(aliases.ALIASES) do
      if type(rawget(dm, name)) == "function" and name ~= "cat" then
        local ok2, e2 = pcall(dm[alias], 3)
        assert.is_false(ok2)
        assert.is_nil(tostring(e2):find("'deepmoon." .. alias .. "'", 1, true), e2)
      end
    end
    local ok, err = pcall(dm.multiply, dm.zeros(2, 3), dm.zeros(4))
    assert.is_false(ok)
    assert.truthy(err:find("mul", 1, true), err)
    assert.truthy(err:find("[2 x 3]", 1, true), err)
  end)

  it("are documented as their originals (help)", function ()
    local help = require "deepmoon.help"
    assert.are.equal(help.lookup("dm.clamp"), help.lookup("dm.clip"))
    assert.are.equal(help.lookup("dm.cat"), help.lookup("concatenate"))
    assert.are.equal(help.lookup("Tensor.mul"), help.lookup("Tensor:multiply"))
    assert.truthy(help.lookup("dm.clip"))
  end)

  it("positive returns its input; bool is an error", function ()
    local x = dm.tensor({ 1, -2 })
    assert.are.equal(x, dm.positive(x))
    assert.are.equal(x, x:positive())
    local ok, err = pcall(dm.positive, dm.tensor({ true }))
    assert.is_false(ok)
    assert.truthy(err:find("positive: the `+` operator, on a bool tensor is not supported", 1, true), err)
    ok, err = pcall(dm.positive, 3)
    assert.is_false(ok)
    assert.truthy(err:find("positive: expected a Tensor, got number", 1, true), err)
  end)
end)
