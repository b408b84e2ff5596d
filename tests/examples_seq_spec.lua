-- The sequence examples, short and seeded: examples/sine.lua (a GRU continuing sine waves)
-- for 150 steps.  Default stage only (not under the sanitizers or BLAS=0).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local ROOT = here .. "../"
local LUA = os.getenv("DM_LUA") or "lua5.4"
local default_stage = os.getenv("DM_SANITIZE") ~= "1" and os.getenv("DM_BLAS") ~= "0"

local function run (args)
  local p = assert(io.popen(("cd %q && %s %s 2>&1"):format(ROOT, LUA, args)))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

describe("the sequence examples", function ()
  if not default_stage then
    it("run in the default stage only", function () assert.is_true(true) end)
    return
  end

  it("sine: a GRU beats repeating the last sample five times over in 150 steps", function ()
    local out, ok = run("examples/sine.lua 150")
    assert(ok, out)
    assert.truthy(out:find("(gru): GRU(1, 32, batch_first=True)", 1, true), out)
    local final, base = out:match("final loss: ([%d.]+) %(baseline, the next sample equals " ..
                                  "this one: ([%d.]+)%)")
    final, base = tonumber(final), tonumber(base)
    assert(final and base and final < base / 5, out)
  end)
end)
