-- deepmoon.format against PyTorch 1.13's str(), from tests/fixtures/print_cases.lua
-- (regenerate with /usr/bin/python3 tests/fixtures/gen_print.py).

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local format = require "deepmoon.format"
local cases = dofile(script_dir() .. "fixtures/print_cases.lua")

local function with_printoptions (o, fn)
  local saved = format.get_printoptions()
  format.set_printoptions(o)
  local ok, res = pcall(fn)
  saved.profile = nil
  format.set_printoptions(saved)
  if not ok then error(res, 0) end
  return res
end

describe("format.tensor matches PyTorch 1.13", function ()
  for i, c in ipairs(cases) do
    it(("#%d %s"):format(i, c.name), function ()
      local opts = { suffix = c.suffix, prefix = c.prefix, dtype = c.dtype }
      local got
      if c.printoptions then
        got = with_printoptions(c.printoptions, function ()
          return format.tensor(c.sizes, c.values, opts)
        end)
      else
        got = format.tensor(c.sizes, c.values, opts)
      end
      assert.are.equal(c.expected, got)
    end)
  end
end)

describe("format.tensor_from_getter", function ()
  it("fetches only the printed elements of a summarized tensor", function ()
    local calls = 0
    -- expected text from PyTorch (float64, same values, dtype suffix dropped)
    local s = format.tensor_from_getter({ 1000, 1000 }, function (k)
      calls = calls + 1
      return (k // 1000) / 4 + (k % 1000) / 1000 + 1
    end)
    assert.are.equal(36, calls)
    assert.are.equal(table.concat({
      "tensor([[  1.0000,   1.0010,   1.0020,  ...,   1.9970,   1.9980,   1.9990],",
      "        [  1.2500,   1.2510,   1.2520,  ...,   2.2470,   2.2480,   2.2490],",
      "        [  1.5000,   1.5010,   1.5020,  ...,   2.4970,   2.4980,   2.4990],",
      "        ...,",
      "        [250.2500, 250.2510, 250.2520,  ..., 251.2470, 251.2480, 251.2490],",
      "        [250.5000, 250.5010, 250.5020,  ..., 251.4970, 251.4980, 251.4990],",
      "        [250.7500, 250.7510, 250.7520,  ..., 251.7470, 251.7480, 251.7490]])",
    }, "\n"), s)
  end)

  it("agrees with format.tensor", function ()
    for _, c in ipairs(cases) do
      if not c.printoptions then
        local got = format.tensor_from_getter(c.sizes, function (k) return c.values[k + 1] end,
                                              { suffix = c.suffix, prefix = c.prefix,
                                                dtype = c.dtype })
        assert.are.equal(c.expected, got)
      end
    end
  end)

  it("takes dtype objects or names, and checks them", function ()
    assert.are.equal("tensor([1, 2], dtype=deepmoon.uint8)",
                     format.tensor({ 2 }, { 1, 2 }, { dtype = { name = "uint8" } }))
    assert.are.equal("tensor([ True, False,  True])",
                     format.tensor({ 3 }, { true, false, 1 }, { dtype = "bool" }))
    assert.are.equal("tensor([1.5000, 2.0000], dtype=deepmoon.float32)",
                     format.tensor({ 2 }, { 1.5, 2 }, { default_dtype = "float64" }))
    assert.has_error(function () format.tensor({ 1 }, { 1 }, { dtype = "int32" }) end,
      "format.tensor: dtype must be float32, float64, int64, uint8 or bool, got int32")
    assert.has_error(function () format.tensor({ 1 }, { true }) end,
      "format.tensor: value #1 is a boolean, expected a number")
  end)

  it("never calls get for an empty tensor", function ()
    local s = format.tensor_from_getter({ 0, 3 }, function () error("called") end)
    assert.are.equal("tensor([], size=(0, 3))", s)
  end)

  it("reports a getter that returns a non-number", function ()
    assert.has_error(function ()
      format.tensor_from_getter({ 2, 2 }, function (k) if k ~= 3 then return 1.0 end end)
    end, "format.tensor_from_getter: get(3) returned nil, expected a number")
  end)
end)

describe("format hand-written cases", function ()
  after_each(function () format.set_printoptions{ profile = "default" } end)

  it("prints 0-dim, integral and empty tensors", function ()
    assert.are.equal("tensor(3.5000)", format.tensor({}, { 3.5 }))
    assert.are.equal("tensor([1., 2., 3.])", format.tensor({ 3 }, { 1, 2, 3 }))
    assert.are.equal("tensor([])", format.tensor({ 0 }, {}))
    assert.are.equal("tensor([], size=(0, 3))", format.tensor({ 0, 3 }, {}))
    assert.are.equal("tensor([], size=(2, 0, 4))", format.tensor({ 2, 0, 4 }, {}))
  end)

  it("accepts a prefix and indents under it", function ()
    assert.are.equal("Foo([[1., 2.],\n     [3., 4.]])",
                     format.tensor({ 2, 2 }, { 1, 2, 3, 4 }, { prefix = "Foo(" }))
  end)

  it("does not change the sizes table it is given", function ()
    local sizes = { 2.0, 1 }
    format.tensor(sizes, { 1, 2 })
    assert.are.same({ 2.0, 1 }, sizes)
    assert.are.equal("float", math.type(sizes[1]))
  end)

  it("honours set_printoptions and restores the defaults", function ()
    local before = format.get_printoptions()
    assert.are.same({ precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 }, before)
    format.set_printoptions{ precision = 2 }
    assert.are.equal("tensor([0.12, 2.00])", format.tensor({ 2 }, { 0.125, 2 }))
    format.set_printoptions{ sci_mode = true }
    -- like torch, sci_mode is reset unless given, but precision stays
    assert.are.equal("tensor([1.25e-01, 2.00e+00])", format.tensor({ 2 }, { 0.125, 2 }))
    format.set_printoptions{ threshold = 3, edgeitems = 1 }
    assert.are.equal("tensor([0.00,  ..., 4.50])", format.tensor({ 5 }, { 0, 1, 2, 3, 4.5 }))
    format.set_printoptions{ profile = "default" }
    assert.are.same(before, format.get_printoptions())
    assert.are.equal("tensor([0.1250, 2.0000])", format.tensor({ 2 }, { 0.125, 2 }))
  end)

  it("get_printoptions returns a copy", function ()
    local o = format.get_printoptions()
    o.precision = 9
    assert.are.equal(4, format.get_printoptions().precision)
  end)

  it("prints nan as nan whatever its sign bit", function ()
    local nan = 0 / 0
    assert.are.equal("tensor([nan, nan, 1.])", format.tensor({ 3 }, { nan, -nan, 1 }))
  end)
end)

describe("format errors", function ()
  it("rejects a value count that does not match the sizes", function ()
    assert.has_error(function () format.tensor({ 2, 4 }, { 1, 2, 3, 4, 5, 6 }) end,
                     "format.tensor: 6 values for size [2 x 4]")
    assert.has_error(function () format.tensor({}, {}) end,
                     "format.tensor: 0 values for size []")
  end)

  it("rejects bad sizes", function ()
    assert.has_error(function () format.tensor({ 2, -1 }, {}) end,
                     "format.tensor: bad size [2 x -1] (dimension 2 must be a non-negative integer)")
    assert.has_error(function () format.tensor({ 1.5 }, { 1 }) end,
                     "format.tensor: bad size [1.5] (dimension 1 must be a non-negative integer)")
    assert.has_error(function () format.tensor(3, { 1 }) end,
                     "format.tensor: sizes must be a table, got number")
  end)

  it("rejects non-number values", function ()
    assert.has_error(function () format.tensor({ 3 }, { 1, "2", 3 }) end,
                     "format.tensor: value #2 is a string, expected a number")
    assert.has_error(function () format.tensor({ 3 }, nil) end,
                     "format.tensor: values must be a table, got nil")
  end)

  it("rejects unknown or malformed options", function ()
    assert.has_error(function () format.tensor({ 1 }, { 1 }, { prefx = "x(" }) end,
                     "format.tensor: unknown option 'prefx'")
    assert.has_error(function () format.tensor({ 1 }, { 1 }, { suffix = { 1 } }) end,
                     "format.tensor: suffix #1 must be a string, got number")
    assert.has_error(function () format.tensor_from_getter({ 1 }, nil) end,
                     "format.tensor_from_getter: get must be a function, got nil")
    assert.has_error(function () format.set_printoptions{ precison = 2 } end,
                     "format.set_printoptions: unknown option 'precison'")
    assert.has_error(function () format.set_printoptions{ precision = -1 } end,
                     "format.set_printoptions: precision must be an integer in 0..99, got -1")
    assert.has_error(function () format.set_printoptions{ profile = "long" } end,
                     "format.set_printoptions: unknown profile 'long' (expected default, short or full)")
  end)

  it("points errors at the caller's line", function ()
    local ok, err = pcall(format.tensor, { 2 }, { 1 })
    assert.is_false(ok)
    local line = debug.getinfo(1, "l").currentline
    local _, err2 = pcall(function () format.tensor({ 2 }, { 1 }) end)
    assert.is_truthy(err2:find("format_spec.lua:" .. (line + 1) .. ":", 1, true))
    assert.is_truthy(err:find("format.tensor: 1 values for size [2]", 1, true))
  end)
end)

describe("format module", function ()
  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.format"] = nil
    local m = require "deepmoon.format"
    m.tensor({ 2 }, { 1, 2 })
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)
end)
