-- deepmoon.progress: the progress bar, its plain-line mode and the loop wrapper.

local dm = require "deepmoon"
local data = require "deepmoon.data"
local progress = require "deepmoon.progress"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", "")), tostring(e)
end

-- a file that keeps what is written to it
local function sink ()
  local s = { parts = {} }
  function s:write (...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
    return self
  end
  function s:flush () return self end
  function s:text () return table.concat(self.parts) end
  return s
end

-- a clock the test moves by hand
local function fake_clock ()
  local c = { t = 0 }
  return c, function () return c.t end
end

local function count (s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

-- run a Lua snippet in a fresh interpreter with extra environment settings; its stdout
local function run_lua (env, code)
  local interp = os.getenv("DM_LUA") or "lua5.4"
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local cmd = ("%s LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' %s %s"):format(env, package.path,
              package.cpath, interp, script)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(script)
  return out
end

describe("progress.bar in plain mode", function ()
  it("prints a line every `every` steps and one at the end", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 5, desc = "train", every = 2, tty = false, file = out,
                              clock = clock }
    for i = 1, 5 do
      c.t = i
      bar:update()
    end
    bar:close()
    bar:close()
    assert.are.equal("train: 2/5 (40%) [00:02<00:03, 1.00it/s]\n"
                  .. "train: 4/5 (80%) [00:04<00:01, 1.00it/s]\n"
                  .. "train: 5/5 (100%) [00:05<00:00, 1.00it/s]\n", out:text())
  end)

  it("prints every 10% by default, the last line once", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 20, tty = false, file = out, clock = clock }
    for i = 1, 20 do
      c.t = 4 * i
      bar:update(1)
    end
    bar:close()
    local text = out:text()
    assert.are.equal(10, count(text, "\n"))
    assert.truthy(text:find("^2/20 %(10%%%) %[00:08<01:12, 4%.00s/it%]\n"))
    assert.truthy(text:find("\n20/20 %(100%%%) %[01:20<00:00, 4%.00s/it%]\n$"))
  end)

  it("shows a count and a rate without a total, a line every 10 s", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ desc = "stream", tty = false, file = out, clock = clock }
    for i = 1, 7 do
      c.t = 4 * i
      bar:update()
    end
    bar:close()
    assert.are.equal("stream: 3it [00:12, 4.00s/it]\n"
                  .. "stream: 6it [00:24, 4.00s/it]\n"
                  .. "stream: 7it [00:28, 4.00s/it]\n", out:text())
  end)

  it("shows postfix values sorted by name, numbers to 4 digits, tensors by value", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 1, tty = false, file = out, clock = clock }
    c.t = 3725
    bar:update(1, { loss = 0.123456, acc = 3, name = "x", t = dm.tensor(0.5) })
    bar:close()
    assert.are.equal("1/1 (100%) [1:02:05<00:00, 3725.00s/it, acc=3, loss=0.1235, name=x, t=0.5]\n",
                     out:text())
  end)

  it("prints nothing when disabled", function ()
    local out = sink()
    local bar = progress.bar{ total = 3, disable = true, file = out }
    bar:update(3)
    bar:close()
    assert.are.equal("", out:text())
  end)
end)

describe("progress.bar on a terminal", function ()
  it("redraws one line with \\r: percentage, bar, count, times, rate", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 4, desc = "d", tty = true, width = 60, ascii = true,
                              file = out, clock = clock }
    c.t = 1
    bar:update()
    local line = "d:  25%|#####                 | 1/4 [00:01<00:03, 1.00it/s]"
    assert.are.equal("\r" .. line, out:text())
    assert.are.equal(59, #line)
    c.t = 4
    bar:update(3)
    bar:close()
    assert.are.equal("\r" .. line .. "\rd: 100%|######################| 4/4 [00:04<00:00, 1.00it/s]"
                     .. "\rd: 100%|######################| 4/4 [00:04<00:00, 1.00it/s]\n", out:text())
  end)

  it("redraws at most every min_interval seconds, and always at the end", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 100, tty = true, file = out, clock = clock }
    for i = 1, 100 do
      c.t = i * 0.01
      bar:update()
    end
    -- the first step, then one per 0.1 s (steps 11, 21, ..., 91), and the last
    assert.are.equal(11, count(out:text(), "\r"))
    bar:close()
    assert.are.equal(12, count(out:text(), "\r"))
    assert.truthy(out:text():find("\n$"))
  end)

  it("draws a Unicode bar with eighth blocks", function ()
    local out = sink()
    local _, clock = fake_clock()
    local bar = progress.bar{ total = 16, tty = true, ascii = false, width = 60, file = out,
                              clock = clock }
    bar:update(5)
    local line = bar:line()
    -- 31 cells at 5/16: 77 eighths, 9 full blocks and a 5/8 one
    assert.truthy(line:find("|█████████▋                     |", 1, true), line)
    assert.are.equal(59, utf8.len(line))
    bar:close()
  end)

  it("pads a shorter line so no old text stays behind", function ()
    local out = sink()
    local c, clock = fake_clock()
    local bar = progress.bar{ total = 2, tty = true, width = 80, ascii = true, file = out,
                              clock = clock }
    c.t = 1
    bar:update(1, "a long postfix string")
    local first = out:text()
    c.t = 2
    bar:update(1, "short")
    local second = out:text():sub(#first + 1)
    assert.are.equal(#first, #second)
    bar:close()
  end)

  it("writes messages above the bar", function ()
    local out = sink()
    local bar = progress.bar{ total = 2, tty = true, width = 40, ascii = true, file = out }
    bar:update()
    local before = out:text()
    bar:write("hello")
    local after = out:text():sub(#before + 1)
    assert.truthy(after:find("^\r +\rhello\n\r"), after)
    bar:close()
  end)
end)

describe("bar:wrap and progress.wrap", function ()
  it("yields a list's index and value and counts each item", function ()
    local out = sink()
    local bar = progress.bar{ tty = false, every = 1, file = out }
    local got = {}
    for i, v in bar:wrap({ "a", "b", "c" }) do got[i] = v end
    assert.are.same({ "a", "b", "c" }, got)
    assert.are.equal(3, bar.total)
    assert.are.equal(3, bar.n)
    assert.is_true(bar.closed)
    assert.are.equal(3, count(out:text(), "\n"))
  end)

  it("yields a DataLoader's batches with #loader as the total", function ()
    local x, y = dm.arange(10):view(5, 2), dm.arange(5)
    local loader = data.DataLoader(data.TensorDataset(x, y), { batch_size = 2 })
    local out = sink()
    local bar = progress.bar{ desc = "epoch 1", tty = false, file = out }
    local rows = 0
    for xb, yb in bar:wrap(loader) do
      assert.is_true(dm.is_tensor(xb))
      assert.are.equal(xb:size(1), yb:size(1))
      rows = rows + xb:size(1)
      bar:set_postfix{ rows = rows }
    end
    assert.are.equal(5, rows)
    assert.are.equal(3, bar.total)
    assert.are.equal(3, bar.n)
    assert.truthy(out:text():find("epoch 1: 3/3 (100%)", 1, true))
    assert.truthy(out:text():find("rows=5]", 1, true))
  end)

  it("iterates a function and closes the bar on break and on error", function ()
    local out = sink()
    local bar = progress.bar{ tty = false, file = out }
    local words = {}
    for w in bar:wrap(("one two three"):gmatch("%a+")) do
      words[#words + 1] = w
      if #words == 2 then break end
    end
    assert.are.same({ "one", "two" }, words)
    assert.is_true(bar.closed)
    assert.are.equal(1, bar.n)
    local bar2 = progress.bar{ tty = false, file = sink() }
    local ok = pcall(function ()
      for _ in bar2:wrap({ 1, 2, 3 }) do error("boom") end
    end)
    assert.is_false(ok)
    assert.is_true(bar2.closed)
  end)

  it("is progress.wrap(iterable, opts) in one call", function ()
    local out = sink()
    local sum = 0
    for _, v in progress.wrap({ 1, 2, 3, 4 }, { desc = "sum", tty = false, every = 2, file = out }) do
      sum = sum + v
    end
    assert.are.equal(10, sum)
    local text = out:text()
    assert.truthy(text:find("^sum: 2/4 %(50%%%) "))
    assert.truthy(text:find("\nsum: 4/4 %(100%%%) "))
    assert.are.equal(2, count(text, "\n"))
  end)
end)

describe("terminal detection", function ()
  local code = [[
local progress = require "deepmoon.progress"
local bar = progress.bar{total = 2}
bar:update(2)
bar:close()
]]

  it("follows DEEPMOON_PROGRESS=bar|plain|off", function ()
    local bar = run_lua("DEEPMOON_PROGRESS=bar", code)
    assert.truthy(bar:find("^\r"), bar)
    assert.truthy(bar:find("2/2", 1, true))
    local plain = run_lua("DEEPMOON_PROGRESS=plain", code)
    assert.truthy(plain:find("^2/2 %(100%%%) "), plain)
    assert.is_nil(plain:find("\r", 1, true))
    assert.are.equal("", run_lua("DEEPMOON_PROGRESS=off", code))
  end)

  it("uses plain lines when standard output is a pipe", function ()
    local out = run_lua("DEEPMOON_PROGRESS= TERM=xterm", code)
    assert.truthy(out:find("^2/2 %(100%%%) "), out)
    local p = run_lua("", [[
local progress = require "deepmoon.progress"
io.write(tostring(progress.isatty(1)), " ", tostring(progress._proc_isatty(1)))]])
    assert.are.equal("false false", p)
  end)

  it("sees a terminal on a pseudo-terminal (needs util-linux script)", function ()
    if not os.execute("command -v script >/dev/null 2>&1") then
      pending("no `script` command to make a pseudo-terminal")
      return
    end
    local interp = os.getenv("DM_LUA") or "lua5.4"
    local lua = os.tmpname()
    local f = assert(io.open(lua, "w"))
    f:write([[
local progress = require "deepmoon.progress"
io.write("tty=", tostring(progress.isatty(1)), " proc=", tostring(progress._proc_isatty(1)), "\n")]])
    f:close()
    local cmd = ("LUA_PATH_5_4='%s' script -qec '%s %s' /dev/null </dev/null"):format(package.path, interp, lua)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    os.remove(lua)
    assert.truthy(out:find("tty=true proc=true", 1, true), out)
  end)

  it("has a wall clock that moves forward", function ()
    local a = progress.clock()
    assert.are.equal("number", type(a))
    assert.is_true(progress.resolution() > 0)
    local t0 = os.time()
    while os.time() - t0 < 1 do end
    assert.is_true(progress.clock() > a)
  end)
end)

describe("progress errors", function ()
  it("name the function and the value", function ()
    assert.are.equal("progress.bar: unknown option 'totl'", err(progress.bar, { totl = 3 }))
    assert.are.equal("progress.bar: total must be a non-negative integer, got -1",
                     err(progress.bar, { total = -1 }))
    assert.are.equal("progress.bar: every must be a positive integer, got 0",
                     err(progress.bar, { every = 0 }))
    assert.are.equal("progress.bar: min_interval must be a number of seconds >= 0, got fast",
                     err(progress.bar, { min_interval = "fast" }))
    assert.are.equal("progress.bar: file must be an open file or have a write method, got string",
                     err(progress.bar, { file = "out.txt" }))
    local bar = progress.bar{ disable = true }
    assert.are.equal("Bar:update: n must be a non-negative integer, got 1.5", err(bar.update, bar, 1.5))
    assert.are.equal("progress: cannot iterate over a number (give a function, a DataLoader or a list)",
                     err(progress.wrap, 42))
    local _, full = err(function () local b = progress.bar{ total = "x" }; return b end)
    assert.truthy(full:match("^[^:]*progress_spec%.lua:%d+: "), full)
    _, full = err(function () local f = progress.wrap(42); return f end)
    assert.truthy(full:match("^[^:]*progress_spec%.lua:%d+: "), full)
  end)
end)

describe("deepmoon.progress", function ()
  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.progress"] = nil
    require "deepmoon.progress"
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
