--- deepmoon.progress: a progress bar for training loops, after Python's tqdm.
--
--   local progress = require "deepmoon.progress"
--   for epoch = 1, 30 do
--     local bar = progress.bar{desc = "epoch " .. epoch}
--     for xb, yb in bar:wrap(loader) do             -- yields what the loader yields
--       ...
--       bar:set_postfix{loss = loss:item()}
--     end                                           -- the bar closes with the loop
--   end
--   for xb, yb in progress.wrap(loader, {desc = "eval"}) do ... end   -- no postfix needed
--
-- On a terminal the bar redraws in place (\r) at most every 0.1 s:
--   epoch 3:  45%|█████▍      | 45/100 [00:02<00:03, 20.10it/s, loss=0.1234]
-- Anywhere else (a file, a pipe, CI logs) it prints the same text without the bar as plain
-- lines, one every `every` steps (default: every 10% of the total, or every 10 s when the
-- total is unknown) and one at the end.  The choice: opts.tty (true = bar, false = lines),
-- else the environment variable DEEPMOON_PROGRESS=bar|plain|off, else whether standard output
-- is a terminal (/proc/<pid>/fd/1 links to /dev/pts/N or /dev/ttyX, and TERM is not dumb).

local check = require "deepmoon.check"

local M = {}

local is_tensor = check.is_tensor

-- ---------------------------------------------------------------------------------------
-- time: Lua's os.time counts whole seconds and os.clock counts CPU time (which runs faster
-- than the wall clock under multithreaded BLAS).  A monotonic clock in the C core
-- (core.clock, when present) is used first; else wall time comes from /proc/uptime (1/100 s;
-- an lseek and a read, about 4 us); else os.time.

local uptime_file
local clock_fn, resolution

local function uptime ()
  if uptime_file:seek("set", 0) then
    local v = tonumber((uptime_file:read("a") or ""):match("^%S+"))
    if v then return v end
  end
  return os.time()
end

local function pick_clock ()
  local ok, core = pcall(require, "deepmoon.core")
  if ok and type(core) == "table" and type(core.clock) == "function" then
    return core.clock, 1e-6
  end
  uptime_file = io.open("/proc/uptime", "r")
  if uptime_file then
    -- unbuffered, or a seek back to 0 would reread the stale buffer
    uptime_file:setvbuf("no")
    return uptime, 0.01
  end
  return os.time, 1
end

--- Seconds on a monotonic wall clock (an arbitrary origin): for measuring intervals.
--- progress.resolution() tells how fine its steps are.
function M.clock ()
  if not clock_fn then clock_fn, resolution = pick_clock() end
  return clock_fn()
end

--- The step of progress.clock in seconds (0.01 with /proc/uptime, 1 with os.time).
function M.resolution ()
  if not clock_fn then clock_fn, resolution = pick_clock() end
  return resolution
end

-- ---------------------------------------------------------------------------------------
-- is a file descriptor a terminal?  Lua has no isatty.  The lua-term module (installed with
-- busted) has one; without it, on Linux, the link /proc/<pid>/fd/N names the terminal
-- device.  The pid comes from /proc/self/stat read by this process itself (a child's "self"
-- would be the child), and a child process reads the link.

local tty_cache = {}

-- the /proc way; false where /proc or readlink is missing
local function proc_isatty (fd)
  local f = io.open("/proc/self/stat", "r")
  if not f then return false end
  local pid = (f:read("l") or ""):match("^(%d+)")
  f:close()
  if not pid then return false end
  local ok, p = pcall(io.popen, ("readlink /proc/%s/fd/%d 2>/dev/null"):format(pid, fd))
  if not ok or not p then return false end
  local target = p:read("l") or ""
  p:close()
  return target:match("^/dev/pts/%d+$") ~= nil or target:match("^/dev/tty") ~= nil
end
M._proc_isatty = proc_isatty

--- Whether file descriptor fd (1: standard output, 2: standard error) of this process is a
--- terminal.  False where neither lua-term nor /proc is there to tell.
function M.isatty (fd)
  fd = fd or 1
  if math.type(fd) ~= "integer" then
    error(("isatty: fd must be an integer, got %s"):format(math.type(fd) or type(fd)), 2)
  end
  if tty_cache[fd] ~= nil then return tty_cache[fd] end
  local result
  local ok, term = pcall(require, "term")
  if ok and type(term) == "table" and type(term.isatty) == "function" and (fd == 1 or fd == 2) then
    local r
    ok, r = pcall(term.isatty, fd == 1 and io.stdout or io.stderr)
    if ok and type(r) == "boolean" then result = r end
  end
  if result == nil then result = proc_isatty(fd) end
  tty_cache[fd] = result
  return result
end

-- ---------------------------------------------------------------------------------------
-- formatting

local function fmt_time (s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  local h, m = s // 3600, s % 3600 // 60
  if h > 0 then return ("%d:%02d:%02d"):format(h, m, s % 60) end
  return ("%02d:%02d"):format(m, s % 60)
end

local function fmt_value (v)
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.4g"):format(v)
  end
  if is_tensor(v) then
    -- a one-element tensor, such as a loss
    local ok, x = pcall(function () return v:item() end)
    if ok and type(x) == "number" then return ("%.4g"):format(x) end
  end
  return tostring(v)
end

local function fmt_postfix (p)
  if p == nil then return "" end
  if type(p) ~= "table" then return tostring(p) end
  local keys = {}
  for k in pairs(p) do keys[#keys + 1] = k end
  table.sort(keys, function (a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = tostring(k) .. "=" .. fmt_value(p[k]) end
  return table.concat(parts, ", ")
end

local function text_width (s) return utf8.len(s) or #s end

-- ---------------------------------------------------------------------------------------
-- the bar

local Bar = {}
Bar.__index = Bar
Bar.__name = "deepmoon.progress.Bar"

-- the options; true: any value, or checked in M.bar with the range it must be in
local OPTIONS = { total = true, desc = "string", every = true, tty = true, disable = true,
                  file = true, width = true, min_interval = true, clock = "function",
                  ascii = true }

local function utf8_locale ()
  for _, name in ipairs({ "LC_ALL", "LC_CTYPE", "LANG" }) do
    local v = os.getenv(name)
    if v and v ~= "" then return v:lower():find("utf%-?8") ~= nil end
  end
  return false
end

-- "bar", "plain" or "off"
local function choose_mode (opts, file)
  if opts.disable == true then return "off" end
  if opts.tty ~= nil then return opts.tty and "bar" or "plain" end
  local env = os.getenv("DEEPMOON_PROGRESS")
  if env == "bar" or env == "plain" then return env end
  if env == "off" then return opts.disable == false and "plain" or "off" end
  local fd = (file == io.stdout and 1) or (file == io.stderr and 2) or nil
  if not fd then return "plain" end
  local term = os.getenv("TERM")
  if term == nil or term == "" or term == "dumb" then return "plain" end
  return M.isatty(fd) and "bar" or "plain"
end

local function check_count (name, v, allow_zero)
  if v == nil then return end
  if math.type(v) ~= "integer" or v < 0 or (v == 0 and not allow_zero) then
    error(("progress.bar: %s must be a %s integer, got %s")
          :format(name, allow_zero and "non-negative" or "positive", tostring(v)), 3)
  end
end

--- progress.bar(opts) -> a Bar.  Options: total (steps expected; without it the bar shows
--- a count and a rate), desc (a label), every (plain mode: a line every this many steps),
--- tty (true: redraw one line, false: plain lines; default: see the top of this file),
--- disable (true: print nothing), file (default io.stdout), width (columns; default $COLUMNS
--- or 80), min_interval (seconds between redraws, default 0.1), clock (a function giving
--- seconds, default progress.clock), ascii (bar drawn with '#'; default unless the locale
--- is UTF-8).
function M.bar (opts)
  opts = check.options("progress.bar", opts, OPTIONS)
  check_count("total", opts.total, true)
  check_count("every", opts.every, false)
  check_count("width", opts.width, false)
  local mi = opts.min_interval
  if mi ~= nil and (type(mi) ~= "number" or not (mi >= 0)) then
    error(("progress.bar: min_interval must be a number of seconds >= 0, got %s"):format(tostring(mi)), 2)
  end
  local file = opts.file or io.stdout
  if io.type(file) ~= "file" and not (type(file) == "table" and type(file.write) == "function") then
    error(("progress.bar: file must be an open file or have a write method, got %s")
          :format(io.type(file) or type(file)), 2)
  end
  local clock = opts.clock or M.clock
  local res = opts.clock and 0 or M.resolution()
  local now = clock()
  local self = setmetatable({
    n = 0, total = opts.total, desc = opts.desc, postfix = nil,
    every = opts.every, file = file, clock = clock,
    mode = choose_mode(opts, file),
    width = opts.width or math.tointeger(tonumber(os.getenv("COLUMNS") or "")) or 80,
    min_interval = opts.min_interval or 0.1,
    ascii = opts.ascii, start = now, resolution = res,
    _last_draw = -math.huge, _last_n = nil, _last_len = 0, _last_time_line = now,
    closed = false,
  }, Bar)
  if self.ascii == nil then self.ascii = not utf8_locale() end
  return self
end

--- Seconds since the bar was made.
function Bar:elapsed () return self.clock() - self.start end

-- the part after the bar: "45/100 [00:02<00:03, 20.10it/s, loss=0.1234]"
local function status (self, elapsed)
  local n, total = self.n, self.total
  -- under five clock steps the rate would be mostly rounding
  local rate = elapsed > 0 and elapsed >= 5 * self.resolution and n / elapsed or nil
  local rate_s
  if not rate or n == 0 then rate_s = "?it/s"
  elseif rate >= 1 then rate_s = ("%.2fit/s"):format(rate)
  else rate_s = ("%.2fs/it"):format(1 / rate) end
  local times
  if total then
    local eta = (rate and n > 0) and (total - n) / rate or 0 / 0
    if n >= total then eta = 0 end
    times = fmt_time(elapsed) .. "<" .. fmt_time(eta)
  else
    times = fmt_time(elapsed)
  end
  local post = fmt_postfix(self.postfix)
  local count = total and ("%d/%d"):format(n, total) or ("%dit"):format(n)
  return count, "[" .. times .. ", " .. rate_s .. (post ~= "" and ", " .. post or "") .. "]"
end

local partial = { "▏", "▎", "▍", "▌", "▋", "▊", "▉" }

--- The text of the bar now (without \r or a newline); `plain` leaves out the bar itself.
function Bar:line (plain)
  local elapsed = self:elapsed()
  local count, tail = status(self, elapsed)
  local head = self.desc and self.desc ~= "" and self.desc .. ": " or ""
  local total = self.total
  if plain or not total then
    local pct = total and total > 0 and (" (%d%%)"):format(math.floor(100 * self.n / total)) or ""
    return head .. count .. pct .. " " .. tail
  end
  local frac = total > 0 and math.min(self.n / total, 1) or 1
  local left = head .. ("%3d%%|"):format(math.floor(100 * frac))
  local right = "| " .. count .. " " .. tail
  -- one column spare: text reaching the last column makes some terminals wrap
  local cells = self.width - 1 - text_width(left) - text_width(right)
  if cells < 10 then cells = 10 end
  local bar
  if self.ascii then
    local full = math.floor(frac * cells)
    bar = ("#"):rep(full) .. (" "):rep(cells - full)
  else
    local eighths = math.floor(frac * cells * 8)
    local full, rest = eighths // 8, eighths % 8
    bar = ("█"):rep(full)
    if rest > 0 and full < cells then
      bar = bar .. partial[rest]
      full = full + 1
    end
    bar = bar .. (" "):rep(cells - full)
  end
  return left .. bar .. right
end

local function flush (file)
  if file.flush then file:flush() end
end

local function draw (self, final)
  local text = self:line(false)
  local len = text_width(text)
  local pad = self._last_len > len and (" "):rep(self._last_len - len) or ""
  self.file:write("\r", text, pad, final and "\n" or "")
  flush(self.file)
  self._last_len = len
  self._last_draw = self.clock()
end

local function print_line (self)
  self.file:write(self:line(true), "\n")
  flush(self.file)
  self._last_n = self.n
  self._last_time_line = self.clock()
end

-- redraw or print as the mode and the pace say
local function refresh (self, before)
  if self.mode == "off" or self.closed then return end
  if self.mode == "bar" then
    local now = self.clock()
    if now - self._last_draw >= self.min_interval or (self.total and self.n >= self.total) then
      draw(self, false)
    end
    return
  end
  local every = self.every
  if not every and self.total then every = math.max(1, math.ceil(self.total / 10)) end
  if every then
    if self.n // every > before // every then print_line(self) end
  elseif self.clock() - self._last_time_line >= 10 then
    print_line(self)
  end
end

--- Advances the count by n (default 1; 0 just refreshes) and, when given, sets the postfix.
function Bar:update (n, postfix)
  if n == nil then n = 1 end
  if math.type(n) ~= "integer" or n < 0 then
    error(("Bar:update: n must be a non-negative integer, got %s"):format(tostring(n)), 2)
  end
  if postfix ~= nil then self.postfix = postfix end
  local before = self.n
  self.n = before + n
  refresh(self, before)
end

--- Sets the values shown after the rate: a table (shown as key=value, keys sorted; numbers
--- and one-element tensors with 4 significant digits) or a string.
function Bar:set_postfix (postfix)
  self.postfix = postfix
end

--- Changes the label.
function Bar:set_description (desc)
  if desc ~= nil and type(desc) ~= "string" then
    error(("set_description: desc must be a string, got %s"):format(type(desc)), 2)
  end
  self.desc = desc
end

--- Prints a message above the bar without breaking it (tqdm.write).
function Bar:write (msg)
  if self.mode == "bar" and not self.closed and self._last_len > 0 then
    self.file:write("\r", (" "):rep(self._last_len), "\r", tostring(msg), "\n")
    draw(self, false)
  else
    self.file:write(tostring(msg), "\n")
    flush(self.file)
  end
end

--- Draws the final state and ends the line; later calls do nothing.  A bar is also closed
--- by a `<close>` variable holding it and at the end of a bar:wrap loop (break included).
function Bar:close ()
  if self.closed then return end
  if self.mode == "bar" then
    draw(self, true)
  elseif self.mode == "plain" and self._last_n ~= self.n then
    print_line(self)
  end
  self.closed = true
end

Bar.__close = function (self) self:close() end
Bar.__tostring = function (self) return self:line(self.mode ~= "bar") end

-- the length of an iterable, or nil
local function length_of (x)
  local t = type(x)
  if t ~= "table" and t ~= "userdata" then return nil end
  local ok, len = pcall(function ()
    if type(x.len) == "function" then return x:len() end
    return #x
  end)
  if ok and math.type(len) == "integer" then return len end
  return nil
end

-- the generic-for triple that iterates x: an object with an iter method (a DataLoader:
-- an independent pass), a function or callable object (an iterator itself), a plain list
local function iterator_of (x)
  local t = type(x)
  if t == "function" then return x, nil end
  if t == "table" or t == "userdata" then
    local ok, it = pcall(function () return x.iter end)
    if ok and type(it) == "function" then return x:iter(), nil end
    local mt = getmetatable(x)
    if type(mt) == "table" and mt.__call then return x, nil end
    if t == "table" then return ipairs(x) end
  end
  error(("progress: cannot iterate over a %s (give a function, a DataLoader or a list)"):format(t), 3)
end

--- An iterator for a generic for that yields what `iterable` yields (a DataLoader's batches,
--- a function's values, a list's index and value) and counts one step per item; the bar
--- closes when the loop ends.  total defaults to #iterable.
function Bar:wrap (iterable)
  local f, s, ctrl = iterator_of(iterable)
  if self.total == nil then self.total = length_of(iterable) end
  local started = false
  local function pass (a, ...)
    if a == nil then
      self:close()
      return nil
    end
    ctrl = a
    return a, ...
  end
  local function step ()
    if started then self:update(1) else started = true end
    return pass(f(s, ctrl))
  end
  return step, nil, nil, self
end

--- progress.wrap(iterable [, opts]): progress.bar(opts):wrap(iterable), for loops that need
--- no postfix.
function M.wrap (iterable, opts)
  local ok, bar = pcall(M.bar, opts)
  if not ok then error(bar, 2) end
  return bar:wrap(iterable)
end

M.Bar = Bar

return M
