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
