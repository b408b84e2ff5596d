-- Sizes, strides and element counts go through one checked helper: shapes that int64 cannot
-- count (or whose strides it cannot hold) are errors naming the function and the shape,
-- never undefined behaviour or an out-of-bounds read.
local dm = require "deepmoon"
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local err = util.err
local maxint, minint = math.maxinteger, math.mininteger

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("checked sizes", function ()
  it("refuse shapes whose span overflows, even with a zero size", function ()
    assert.are.equal("tensor: size [0 x 1099511627776 x 1099511627776] is too large (more than 2^60 elements)",
      err(dm.zeros, 0, 2^40, 2^40))
    assert.matches("too large", err(dm.ones, 2^31, 2^31))
    assert.are.same({0, 2^30, 4}, dm.zeros(0, 2^30, 4):size())    -- large but countable
  end)

  it("refuse expanding to a count int64 cannot hold, and negative sizes", function ()
    local z = dm.zeros(1, 1)
    assert.are.equal("expand: size [4611686018427387904 x 4] is too large (more than 2^60 elements)",
      err(function () return z:expand(2^62, 4) end))
    assert.are.equal("expand: negative size -3 in [-3 x -3]", err(function () return z:expand(-3, -3) end))
    assert.are.same({3, 3}, z:expand(3, -1):expand(3, 3):size())
  end)

  it("refuse view and reshape sizes that overflow", function ()
    local t = dm.tensor({1})
    assert.matches("^view: size %[2147483647 x 9223372036854775806%] is too large",
      err(function () return t:view(2147483647, 9223372036854775806) end))
    assert.matches("^reshape: size", err(function () return t:reshape(maxint, maxint) end))
    assert.matches("invalid size %-2", err(function () return t:view(-2) end))
  end)

  it("refuse narrow ranges that overflow", function ()
    local t = dm.zeros(4)
    assert.matches("out of range for dim 1 of size %[4%]", err(function () return t:narrow(1, 2, maxint) end))
    assert.matches("out of range", err(function () return dm.tensor({1}):narrow(1, minint, 1) end))
  end)

  it("refuse cat of expanded tensors whose sizes overflow; flatten stays countable", function ()
    local big = dm.zeros(1):expand(2^59)
    local parts = {}
    for i = 1, 9 do parts[i] = big end
    assert.are.equal("cat: the sizes along dim 1 add up to more than 2^60", err(dm.cat, parts))
    local e = dm.zeros(1, 1):expand(2^40, 2^19)     -- every shape is checked: no product
    assert.are.same({2^59}, e:flatten():size())     -- of its sizes can overflow
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
