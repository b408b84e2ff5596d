-- The sequence examples, short and seeded: examples/sine.lua (a GRU continuing sine waves)
-- for 150 steps, and examples/char_lm.lua (both models) on one fortune file for 60 steps.
-- Default stage only (not under the sanitizers or BLAS=0); the full-length results are in
-- the README.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(here .. "helpers/util.lua")
local ROOT = here .. "../"
local default_stage = os.getenv("DM_SANITIZE") ~= "1" and os.getenv("DM_BLAS") ~= "0"

local function run (args) return util.run_lua(ROOT, args) end

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

local TEXT = "/usr/share/games/fortunes/computers"

describe("the character language model example", function ()
  if not default_stage then
    it("runs in the default stage only", function () assert.is_true(true) end)
    return
  end

  for _, kind in ipairs({ "lstm", "transformer" }) do
    it(kind .. " beats the unigram baseline, saves, reloads and samples", function ()
      local prefix = util.tmp("")
      local out, ok = run(("examples/char_lm.lua %s 60 --out=%s %s"):format(kind, prefix, TEXT))
      assert(ok, out)
      assert.truthy(out:find("1 files, 237981 characters", 1, true), out)
      local bits, base = out:match("validation: ([%d.]+) bits per character %(unigram baseline ([%d.]+)%)")
      bits, base = tonumber(bits), tonumber(base)
      assert(bits and base and bits < base, out)
      assert.truthy(out:find("saved to " .. prefix .. ".safetensors and loaded back", 1, true), out)
      local sample = out:match("%-%-%- sample at temperature 0%.5:\n(The [^\n]*)")
      assert(sample and #sample > 4, out)
      local f = io.open(prefix .. ".svg")
      assert(f, "no plot written")
      f:close()
      os.remove(prefix .. ".svg")
      os.remove(prefix .. ".safetensors")
      util.remove_tmp()
    end)
  end
end)
