-- Objects reached again after their finalizer ran (from another finalizer) raise instead of
-- crashing: released tensors and generators.
local dm = require "deepmoon"
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local err = util.err

describe("a generator whose finalizer has run", function ()
  it("raises when used, by its methods and as {generator = g}", function ()
    local saved
    do
      local g = dm.Generator(1)
      setmetatable({}, { __gc = function () saved = g end })
    end
    collectgarbage()
    collectgarbage()
    assert.is_not_nil(saved)
    assert.matches("generator was released", err(saved.initial_seed, saved))
    assert.matches("generator was released", err(saved.manual_seed, saved, 3))
    assert.matches("generator was released", err(saved.get_state, saved))
    assert.are.equal("generator option: generator was released", err(dm.rand, 2, { generator = saved }))
  end)
end)

describe("a size table whose __len is negative", function ()
  it("is an error, never a copy of -1 sizes", function ()
    local neg = setmetatable({}, { __len = function () return -1 end })
    local t = dm.tensor({1})
    assert.are.equal("view: -1 dimensions (at most 8 supported)", err(function () return t:view(neg) end))
    assert.are.equal("reshape: -1 dimensions (at most 8 supported)", err(function () return t:reshape(neg) end))
    assert.matches("dimensions", err(dm.zeros, neg))
    assert.matches("number of sizes %(%-1%)", err(function () return t:expand(neg) end))
    assert.matches("%-1 dims given", err(function () return t:permute(neg) end))
  end)
end)
