-- The dtype rules against PyTorch 1.13, case by case: result dtypes (torch.result_type's
-- promotion of tensors, 0-dim tensors and Lua integer/float/boolean scalars), values (uint8
-- wrapping, the signs of floor_divide/remainder/fmod, int64 exactness, conversions), what
-- PyTorch refuses, printed text (tostring of the real result) and the Lua types of totable().
-- Cases and expectations: tests/fixtures/dtype_audit_cases.lua, written by
-- /usr/bin/python3 tests/fixtures/gen_dtype_audit.py.
local dm = require "deepmoon"

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local cases = dofile(script_dir() .. "fixtures/dtype_audit_cases.lua")

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function operand (x)
  if type(x) == "table" then return dm.tensor(x.values, { dtype = dm[x.dtype] }) end
  return x
end

local ROPS = {
  add = function (s, t) return s + t end, sub = function (s, t) return s - t end,
  mul = function (s, t) return s * t end, div = function (s, t) return s / t end,
  floor_divide = function (s, t) return s // t end,
  remainder = function (s, t) return s % t end, pow = function (s, t) return s ^ t end,
}

local function arg (v)
  if type(v) == "string" and v:match("^dt:") then return dm[v:sub(4)] end
  if type(v) == "table" and v.tensor then return dm.tensor(v.values, { dtype = dm[v.dtype] }) end
  return v
end

local function run (c)
  if c.kind == "bin" then
    local a, b = operand(c.a), operand(c.b)
    if dm.is_tensor(a) then return a[c.op](a, b) end
    return ROPS[c.op](a, b)
  elseif c.kind == "un" then
    local a = operand(c.a)
    local args = {}
    for k, v in ipairs(c.args) do args[k] = arg(v) end
    return (a[c.op](a, table.unpack(args)))
  else
    local env = setmetatable({ dm = dm, math = math, select = select }, { __index = _G })
    local fn = assert(load("return " .. c.lua, c.name, "t", env))
    return (fn())
  end
end

local function describe_case (c)
  local function show (x)
    if type(x) == "table" then
      local vs = type(x.values) == "table" and ("{" .. table.concat((function ()
        local o = {}
        for k, v in ipairs(x.values) do o[k] = tostring(v) end
        return o
      end)(), ", ") .. "}") or tostring(x.values)
      return x.dtype .. vs
    end
    return ("%s(%s)"):format(tostring(x), math.type(x) or type(x))
  end
  local d = c.default and (" [default " .. c.default .. "]") or ""
  if c.kind == "bin" then return ("%s %s %s%s"):format(c.op, show(c.a), show(c.b), d) end
  if c.kind == "un" then
    local o = {}
    for k, v in ipairs(c.args) do o[k] = type(v) == "table" and show(v) or tostring(v) end
    return ("%s(%s; %s)%s"):format(c.op, show(c.a), table.concat(o, ", "), d)
  end
  return c.name .. d
end

local function same_value (want, got, dtype)
  if type(want) == "boolean" or math.type(want) == "integer" then
    return want == got and math.type(got) == math.type(want)
  end
  if math.type(got) ~= "float" then return false end
  if want ~= want then return got ~= got end
  if want == got then return true end
  local tol = dtype == "float64" and 1e-13 or 1e-6
  return math.abs(want - got) <= tol * math.max(1, math.abs(want))
end

-- a Lua value as PyTorch's .item()/.tolist() gives it: integers integers, floats floats
local function same_lua (want, got)
  if type(want) == "table" then
    if type(got) ~= "table" or #got ~= #want then return false end
    for k = 1, #want do
      if not same_lua(want[k], got[k]) then return false end
    end
    return true
  end
  if type(want) == "number" then
    if math.type(got) ~= math.type(want) then return false end
    if want ~= want then return got ~= got end
    return want == got or math.abs(want - got) <= 1e-6 * math.max(1, math.abs(want))
  end
  return want == got
end

local function show_lua (v)
  if type(v) == "table" then
    local o = {}
    for k = 1, #v do o[k] = show_lua(v[k]) end
    return "{" .. table.concat(o, ", ") .. "}"
  end
  return ("%s (%s)"):format(tostring(v), math.type(v) or type(v))
end

local check_in_default

-- nil when the case holds, else what differs; printed under the case's default dtype
local function check (c)
  if not c.default then return check_in_default(c) end
  dm.set_default_dtype(dm[c.default])
  local ok, problem = pcall(check_in_default, c)
  dm.set_default_dtype(dm.float32)
  if not ok then error(problem, 0) end
  return problem
end

function check_in_default (c)
  local ok, r = pcall(run, c)
  if c.err then
    if ok then return "PyTorch raises (" .. c.msg .. "), deepmoon gave " .. tostring(r) end
    return nil
  end
  if not ok then return "deepmoon raised: " .. tostring(r) end
  if c.scalar ~= nil then
    if not same_lua(c.scalar, r) then
      return ("expected %s, got %s"):format(show_lua(c.scalar), show_lua(r))
    end
    return nil
  end
  if not dm.is_tensor(r) then return "expected a tensor, got " .. tostring(r) end
  local problems = {}
  if tostring(r.dtype) ~= "deepmoon." .. c.dtype then
    problems[#problems + 1] = ("dtype: expected %s, got %s"):format(c.dtype, tostring(r.dtype))
  end
  local sizes = r:size()
  local same_sizes = #sizes == #c.sizes
  for k = 1, #c.sizes do same_sizes = same_sizes and sizes[k] == c.sizes[k] end
  if not same_sizes then problems[#problems + 1] = "sizes differ" end
  local vals = r:reshape(-1):totable()
  if #vals ~= #c.values then
    problems[#problems + 1] = ("%d values, expected %d"):format(#vals, #c.values)
  else
    for k = 1, #vals do
      if not same_value(c.values[k], vals[k], c.dtype) then
        problems[#problems + 1] = ("value [%d]: expected %s (%s), got %s (%s)"):format(k,
          tostring(c.values[k]), math.type(c.values[k]) or type(c.values[k]),
          tostring(vals[k]), math.type(vals[k]) or type(vals[k]))
        break
      end
    end
  end
  local s = tostring(r)
  if s ~= c.str then
    problems[#problems + 1] = ("printed:\n%s\nexpected:\n%s"):format(s, c.str)
  end
  if #problems > 0 then return table.concat(problems, "; ") end
  return nil
end

describe("dtype audit against PyTorch 1.13", function ()
  for i, c in ipairs(cases) do
    it(("#%d %s"):format(i, describe_case(c)), function ()
      local problem = check(c)
      assert(problem == nil, problem)
    end)
  end

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)

return { cases = cases, check = check, describe_case = describe_case }
