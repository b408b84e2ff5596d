-- nn.Unflatten: a dim split into several, as a view (PyTorch's nn.Unflatten, dims 1-based)
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")

describe("nn.Unflatten", function ()
  it("splits a dim, keeps the values and passes the gradient back", function ()
    local x = dm.arange(0, 24):float():view(2, 12)
    x.requires_grad = true
    local y = nn.Unflatten(2, { 3, 4 })(x)
    assert.are.same({ 2, 3, 4 }, y:size())
    assert.are.equal(7, y[1][2][4]:item())
    assert.are.same({ 2, 12, 1 }, nn.Unflatten(-1, { 12, 1 })(x):size())
    assert.are.same({ 2, 2, 6 }, nn.Unflatten(2, { 2, -1 })(x):size())
    assert.are.same({ 1, 2, 12 }, nn.Unflatten(1, { 1, 2 })(x):size())
    ;(y * dm.arange(0, 24):float():view(2, 3, 4)):sum():backward()
    assert.are.same(dm.arange(0, 24):float():view(2, 12):totable(), x.grad:totable())
    -- non-contiguous input
    local t = dm.arange(0, 24):float():view(4, 6):t()
    assert.are.same(t:contiguous():view(6, 2, 2):totable(), nn.Unflatten(2, { 2, 2 })(t):totable())
  end)

  it("prints as PyTorch and names the problem in its errors", function ()
    assert.are.equal("Unflatten(dim=2, unflattened_size=(1, 8, 8))",
                     tostring(nn.Unflatten(2, { 1, 8, 8 })))
    assert.are.equal("Unflatten: sizes [1 x 8 x 8] do not make dim 2's size 63",
                     util.err(nn.Unflatten(2, { 1, 8, 8 }), dm.zeros(3, 63)))
    assert.are.equal("Unflatten: dim 3 out of range for a 2-dim input",
                     util.err(nn.Unflatten(3, { 1 }), dm.zeros(3, 63)))
    assert.are.equal("Unflatten: dim must be a non-zero integer (dims are 1-based), got 0",
                     util.err(nn.Unflatten, 0, { 1 }))
    assert.are.equal("Unflatten: unflattened_size must be a list of sizes, e.g. {1, 8, 8}",
                     util.err(nn.Unflatten, 1, 8))
  end)
end)
