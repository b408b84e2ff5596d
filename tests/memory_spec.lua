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
  -- the interpreter running the specs (the sanitized host under SANITIZE=1)
  local interp = os.getenv("DM_LUA") or "lua5.4"
  local p = assert(io.popen(string.format("%s %s 2>&1", interp, script)))
  local out = p:read("a")
  p:close()
  os.remove(script)
  local mb = tonumber(out:match("([%d%.]+)%s*$"))
  assert(mb, "no RSS reading in: " .. out)
  return mb
end

-- AddressSanitizer keeps freed blocks in quarantine, so RSS says nothing about our memory
-- there; the sanitized run checks live bytes instead and leaves RSS to the normal run.
local sanitized = os.getenv("DM_SANITIZE") == "1"

describe("memory", function ()
  it("stays flat over 20000 temporary 512x512 tensors without collectgarbage()", function ()
    local n = sanitized and 2000 or 20000
    local mb = peak_rss_mb(string.format([[
local dm = require "deepmoon"
local most = 0
for i = 1, %d do
  local t = dm.zeros(512, 512)
  if dm.memory() > most then most = dm.memory() end
end
assert(most < 200 * 2^20, "live tensor bytes reached " .. most)
]], n))
    if not sanitized then
      assert.is_true(mb < 200, string.format("peak RSS %.1f MB", mb))
    end
  end)

  it("stays flat when temporaries come from ops and views", function ()
    local mb = peak_rss_mb([[
local dm = require "deepmoon"
local a = dm.ones(512, 512)
for i = 1, 3000 do
  local b = (a * 2 + 1):t():contiguous()
end
]])
    if not sanitized then
      assert.is_true(mb < 200, string.format("peak RSS %.1f MB", mb))
    end
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
