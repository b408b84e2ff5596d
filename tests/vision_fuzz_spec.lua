-- Regression cases from the API fuzzer (CI stage fuzz-api, seeds 1-5) for the vision layers:
-- each once raised a Lua runtime error or overflowed instead of a clear message.
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local F = nn.functional
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")

describe("vision layers on hostile input", function ()
  it("Upsample's repr prints any mode", function ()
    local m = nn.Upsample({ scale_factor = 2 })
    assert.truthy(tostring(m):find("mode=nearest", 1, true))
    assert.truthy(nn.Upsample.extra_repr({ scale_factor = 2, mode = {} }):find("mode=table", 1, true))
  end)

  it("instance_norm checks its tensors and numbers", function ()
    local x = dm.randn(2, 3, 4, 4)
    assert.are.equal("instance_norm: running_mean must be a Tensor, got number",
                     (util.err(F.instance_norm, x, 9007199254740992):gsub(" %(.*", "")))
    assert.are.equal("instance_norm: eps and momentum must be numbers",
                     util.err(F.instance_norm, x, { eps = "a" }))
  end)

  it("pool and fold sizes: a hostile __len and overflowing sizes raise clear errors", function ()
    local hostile = setmetatable({}, { __len = function () return "x" end })
    local ok, e = pcall(F.max_pool1d, dm.zeros(1, 1, 4), hostile, hostile)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("max_pool1d", 1, true), tostring(e))
    ok, e = pcall(F.fold, dm.zeros(2, 3), 3, 1099511627776)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("fold: ", 1, true), tostring(e))
  end)

  it("Unflatten reads its sizes as a plain list (a hostile __len)", function ()
    local hostile = setmetatable({}, { __len = function () return "x" end })
    assert.are.equal("Unflatten: unflattened_size must be a list of sizes, e.g. {1, 8, 8}",
                     util.err(nn.Unflatten, 2, hostile))
  end)

  it("max_unpool2d refuses indices below 1 (the most negative integer too)", function ()
    local ix = dm.full({ 1, 1, 2, 2 }, math.mininteger, { dtype = dm.int64 })
    local ok, e = pcall(F.max_unpool2d, dm.zeros(1, 1, 2, 2), ix, 2)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("max_unpool2d", 1, true), tostring(e))
  end)
end)
