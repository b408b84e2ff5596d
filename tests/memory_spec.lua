-- Tensor memory is visible to Lua's collector: loops of temporaries run flat.
local dm = require "deepmoon"

-- run a Lua snippet in a fresh interpreter and return its peak RSS in MB
local function peak_rss_mb (code)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code, [[

for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s+(%d+) kB")
  if kb then print(tonumber(kb) / 1024) end
end
]])
  f:close()
  local interp = arg and arg[-1] or "lua5.4"
  local p = assert(io.popen(string.format("%s %s 2>&1", "lua5.4", script)))
  local out = p:read("a")
  p:close()
  os.remove(script)
  local mb = tonumber(out:match("([%d%.]+)%s*$"))
  assert(mb, "no RSS reading in: " .. out)
  return mb, interp
end

describe("memory", function ()
  it("stays flat over 20000 temporary 512x512 tensors without collectgarbage()", function ()
    local mb = peak_rss_mb([[
local dm = require "deepmoon"
for i = 1, 20000 do
  local t = dm.zeros(512, 512)
end
]])
    assert.is_true(mb < 200, string.format("peak RSS %.1f MB", mb))
  end)

  it("stays flat when temporaries come from ops and views", function ()
    local mb = peak_rss_mb([[
local dm = require "deepmoon"
local a = dm.ones(512, 512)
for i = 1, 3000 do
  local b = (a * 2 + 1):t():contiguous()
end
]])
    assert.is_true(mb < 200, string.format("peak RSS %.1f MB", mb))
  end)

  it("counts live bytes exactly and returns to the baseline", function ()
    collectgarbage()
    collectgarbage()
    local base = dm.memory()
    do
      local x = dm.randn(100, 100, {requires_grad = true})
      local y = (x:matmul(x) * 2):sum()
      y:backward()
      assert.is_true(dm.memory() > base)
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, dm.memory())
  end)
end)
