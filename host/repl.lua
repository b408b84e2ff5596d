--- host/repl.lua -- the deepmoon prompt: read a statement, run it, print what it returns.
--
-- The deepmoon program compiles this file in and calls it with a host table (line input
-- from lineedit.c, and xpcall with Ctrl-C armed); loaded without one, as the specs do, it
-- returns its functions:
--
--   local repl = assert(loadfile "host/repl.lua")()
--   repl.complete("dm.ze", "", _G)     --> { "dm.zeros", "dm.zeros_like" }
--   repl.format({1, 2, x = "a"})      --> '{1, 2, x = "a"}'
--
-- It behaves as lua5.4's prompt does (a line is first tried as an expression, statements
-- go on over lines while the error ends at <eof>, _PROMPT and _PROMPT2 are the prompts),
-- and adds: `dm`, `nn`, `optim`, `init` and `data` preloaded; help(fn) (deepmoon.help);
-- tables printed as tables; an
-- expression typed over several lines is printed too; tracebacks that end at the typed
-- chunk; and Tab completion of globals, fields and methods (with readline).

local host = ...

local M = {}

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%a+") do
  KEYWORDS[w] = true
end

-- ---- printing ----------------------------------------------------------------------------

local MAX_ITEMS = 50      -- entries of one table printed before "... (N more)"
local MAX_NESTED = 20     -- a nested table with more entries prints as "{...} (N entries)"
local MAX_DEPTH = 3       -- tables nested deeper print as {...}
local WIDTH = 80          -- a table longer than this on one line is printed one entry a line

local function has_tostring (v)
  local mt = debug.getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

-- tostring that cannot fail
local function text (v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "<" .. type(v) .. ": __tostring failed: " .. tostring(s) .. ">"
end

local function quote (s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function is_name (k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

-- keys other than 1..n in a stable order: numbers, then strings, then the rest
local KEY_RANK = { number = 1, string = 2 }
local function key_less (a, b)
  local ra, rb = KEY_RANK[type(a)] or 3, KEY_RANK[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra < 3 then return a < b end
  return text(a) < text(b)
end

local pretty

-- one value inside a table; continuation lines of a multi-line value are indented
local function item (v, indent, depth, seen)
  if type(v) == "table" and not has_tostring(v) then return pretty(v, indent, depth, seen) end
  local s = type(v) == "string" and quote(v) or text(v)
  return (s:gsub("\n", "\n" .. indent))
end

function pretty (t, indent, depth, seen)
  if seen[t] then return "<cycle>" end
  if next(t) == nil then return "{}" end
  if depth > MAX_DEPTH then return "{...}" end
  local inner = indent .. "  "
  local items, n = {}, rawlen(t)
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  local total = n + #keys
  if depth > 1 and total > MAX_NESTED then return ("{...} (%d entries)"):format(total) end
  table.sort(keys, key_less)
  seen[t] = true
  for i = 1, math.min(n, MAX_ITEMS) do
    items[#items + 1] = item(rawget(t, i), inner, depth + 1, seen)
  end
  for i = 1, math.min(#keys, MAX_ITEMS - #items) do
    local k = keys[i]
    local ks = is_name(k) and k or "[" .. item(k, inner, depth + 1, seen) .. "]"
    items[#items + 1] = ks .. " = " .. item(rawget(t, k), inner, depth + 1, seen)
  end
  if total > #items then items[#items + 1] = ("... (%d more)"):format(total - #items) end
  seen[t] = nil
  local line = "{" .. table.concat(items, ", ") .. "}"
  if #line + #indent <= WIDTH and not line:find("\n") then return line end
  return "{\n" .. inner .. table.concat(items, ",\n" .. inner) .. "\n" .. indent .. "}"
end

--- The text the prompt prints for one value: strings as they are, tables without a
--- __tostring as a table constructor, everything else (tensors, modules) through tostring.
function M.format (v)
  if type(v) == "string" then return v end
  if type(v) == "table" and not has_tostring(v) then return pretty(v, "", 1, {}) end
  return text(v)
end

--- The results of one statement (a table.pack), tab-separated as lua5.4 prints them; nil
--- when there are none.
function M.format_results (res)
  if res.n == 0 then return nil end
  local parts = {}
  for i = 1, res.n do parts[i] = M.format(res[i]) end
  return table.concat(parts, "\t")
end

-- ---- completion --------------------------------------------------------------------------

local NOVALUE = {}        -- a field whose value is not looked at (tensor fields)
local TENSOR_FIELDS = { "grad", "requires_grad", "is_leaf", "grad_fn", "shape", "ndim", "T" }

local function add_keys (t, out)
  for k, v in next, t do
    if type(k) == "string" and out[k] == nil then out[k] = v end
  end
end

local function deepmoon ()
  local dm = package.loaded.deepmoon
  if type(dm) == "table" and type(rawget(dm, "is_tensor")) == "function" then return dm end
end

-- nn.Module instances keep parameters, buffers, submodules and plain fields in private
-- tables that their __index reads
local function add_module_fields (v, out)
  for _, slot in ipairs { "_parameters", "_buffers", "_modules" } do
    local od = rawget(v, slot)
    if type(od) == "table" and type(od.map) == "table" then add_keys(od.map, out) end
  end
  local attrs = rawget(v, "_attrs")
  if type(attrs) == "table" then add_keys(attrs, out) end
end

--- The names reachable as v.name or v:name -> their values (NOVALUE where unknown): the
--- table's own keys, then along the metatables' __index (tables are read; where __index is
--- a function, the metatable itself is taken to be the class holding the methods, as for
--- nn modules).  Tensors list deepmoon.Tensor and their fields.
function M.fields (v)
  local out = {}
  local dm = deepmoon()
  if dm and dm.is_tensor(v) then
    add_keys(dm.Tensor, out)
    for _, k in ipairs(TENSOR_FIELDS) do out[k] = out[k] or NOVALUE end
  elseif type(v) == "table" then
    add_keys(v, out)
    add_module_fields(v, out)
  end
  local mt, seen = debug.getmetatable(v), {}
  while type(mt) == "table" and not seen[mt] do
    seen[mt] = true
    local index = rawget(mt, "__index")
    if type(index) == "table" then
      add_keys(index, out)
      mt = debug.getmetatable(index)
    elseif type(index) == "function" then
      add_keys(mt, out)
      mt = debug.getmetatable(mt)
    else
      break
    end
  end
  return out
end

-- is the end of this line inside a string or a comment? (then Tab completes nothing)
local function in_string_or_comment (s)
  local i, quote_char = 1, nil
  while i <= #s do
    local c = s:sub(i, i)
    if quote_char then
      if c == "\\" then i = i + 1 elseif c == quote_char then quote_char = nil end
    elseif c == '"' or c == "'" then
      quote_char = c
    elseif s:sub(i, i + 1) == "--" or s:sub(i, i + 1) == "[[" or s:find("^%[=+%[", i) then
      return true
    end
    i = i + 1
  end
  return quote_char ~= nil
end

local function index (v, k)
  local ok, r = pcall(function () return v[k] end)
  if ok then return r end
end

--- Completions of the word before the cursor: `word` is what readline cut out (names joined
--- by '.', maybe ending in ':'), `before` the line before it, env the globals.  Returns the
--- full replacements of word, sorted; a single function gets "(" appended.  Names starting
--- with '_' are offered only once '_' is typed.
function M.complete (word, before, env)
  before = before or ""
  if word == "" and before:match("^%s*$") then return { "  " } end   -- Tab indents
  if in_string_or_comment(before) then return {} end
  local chain, sep, partial = word:match("^(.-)([.:]?)([%w_]*)$")
  if partial:match("^%d") then return {} end
  local names
  if sep == "" then
    names = M.fields(env)
    for k in pairs(KEYWORDS) do names[k] = names[k] or NOVALUE end
  else
    if not (chain:match("^[%a_][%w_]*$") or chain:match("^[%a_][%w_]*[%w_.]*[%w_]$"))
       or chain:find("%.%.") or chain:find("%.%d") then
      return {}
    end
    local v = env
    for name in chain:gmatch("[^.]+") do
      v = index(v, name)
      if v == nil then return {} end
    end
    names = M.fields(v)
  end
  local out = {}
  local private = partial:sub(1, 1) == "_"
  local meta = partial:sub(1, 2) == "__"
  for k, v in pairs(names) do
    if k:sub(1, #partial) == partial and k:match("^[%a_][%w_]*$")
       and (private or k:sub(1, 1) ~= "_") and (meta or k:sub(1, 2) ~= "__")
       and (sep ~= ":" or type(v) == "function") then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  local prefix = chain .. sep
  for i, k in ipairs(out) do out[i] = prefix .. k end
  if #out == 1 and type(names[out[1]:sub(#prefix + 1)]) == "function" then
    out[1] = out[1] .. "("
  end
  return out
end

-- ---- reading statements ------------------------------------------------------------------

local function prompt (env, first)
  local p = index(env, first and "_PROMPT" or "_PROMPT2")
  if p == nil then return first and "> " or ">> " end
  return text(p)
end

--- Read one statement with readline(prompt) -> line | nil (end) | false (Ctrl-C).
--- Returns "ok", function, source | "error", message, source | "interrupted" | "eof".
--- A statement that reads as an expression is compiled as `return <it>`, so it prints.
function M.read_statement (readline, env)
  local line = readline(prompt(env, true))
  if line == nil then return "eof" end
  if line == false then return "interrupted" end
  local src = line
  while true do
    local f = load("return " .. src .. ";", "=stdin", "t", env)
    if f then return "ok", f, src end
    local err
    f, err = load(src, "=stdin", "t", env)
    if f then return "ok", f, src end
    if not err:find("<eof>$") then return "error", err, src end
    line = readline(prompt(env, false))
    if line == nil then return "eof" end
    if line == false then return "interrupted" end
    src = src .. "\n" .. line
  end
end

-- ---- running them ------------------------------------------------------------------------

-- the name luaL_traceback gives a function found in a loaded module ("error", "dm.zeros")
local function global_name (f)
  for modname, mod in next, package.loaded do
    if type(mod) == "table" then
      for k, v in next, mod do
        if v == f and type(k) == "string" then
          return modname == "_G" and k or modname .. "." .. k
        end
      end
    end
  end
end

local LEVELS1, LEVELS2 = 10, 11     -- a long traceback shows its first and last frames

-- lua5.4's traceback of the given stack levels (relative to the caller of this function)
local function traceback (msg, first, last)
  local frames = {}
  for level = first + 1, last + 1 do
    local ar = debug.getinfo(level, "Slnft")
    if not ar then break end
    local name = global_name(ar.func)
    if name then name = "function '" .. name .. "'"
    elseif ar.namewhat ~= "" then name = ar.namewhat .. " '" .. ar.name .. "'"
    elseif ar.what == "main" then name = "main chunk"
    elseif ar.what ~= "C" then name = ("function <%s:%d>"):format(ar.short_src, ar.linedefined)
    else name = "?" end
    local where = ar.currentline > 0 and ar.short_src .. ":" .. ar.currentline or ar.short_src
    frames[#frames + 1] = "\n\t" .. where .. ": in " .. name
                          .. (ar.istailcall and "\n\t(...tail calls...)" or "")
  end
  if #frames > LEVELS1 + LEVELS2 then
    local skip = #frames - LEVELS1 - LEVELS2
    table.move(frames, LEVELS1 + skip + 1, #frames, LEVELS1 + 2)
    for i = #frames, LEVELS1 + LEVELS2 + 2, -1 do frames[i] = nil end
    frames[LEVELS1 + 1] = ("\n\t...\t(skipping %d levels)"):format(skip)
  end
  return msg .. "\nstack traceback:" .. table.concat(frames)
end

-- The error message with a traceback that stops at the typed chunk: the frames from xp
-- (the protected call that ran it) down are the prompt's own.  As lua5.4 does, an error
-- object with __tostring is shown as that, without a traceback.
local function handler (xp)
  return function (err)
    if type(err) ~= "string" then
      if has_tostring(err) then
        local ok, s = pcall(tostring, err)
        if ok and type(s) == "string" then return s end
      end
      err = ("(error object is a %s value)"):format(type(err))
    end
    local level = 2                       -- 1 is this handler, 2 what raised the error
    while true do
      local info = debug.getinfo(level, "f")
      if not info or info.func == xp then break end
      level = level + 1
    end
    local tb = traceback(err, 2, level - 1)     -- not a tail call: levels count from here
    return tb
  end
end

local function message_only (err)
  return type(err) == "string" and err or text(err)
end

--- Run a compiled statement and return the text to print (nil: nothing), or nil and the
--- error message.  xp is the host's xpcall, which lets Ctrl-C interrupt the statement and
--- the printing of its results (a huge tensor's, say).
function M.evaluate (chunk, xp)
  xp = xp or xpcall
  local res = table.pack(xp(chunk, handler(xp)))
  if not res[1] then return nil, res[2] end
  local values = table.move(res, 2, res.n, 1, { n = res.n - 1 })
  local ok, s = xp(function () return M.format_results(values) end, message_only)
  if ok then return s end
  return nil, s
end

--- require deepmoon into env.dm, its submodules into env.nn, optim, init, data, and define
--- env.help (help(dm.zeros) prints a doc comment, see deepmoon.help).  Returns the
--- line to show ("deepmoon: dm, nn, optim, init, data ready"), or nil and why not.
function M.preload (env)
  local ok, dm = pcall(require, "deepmoon")
  if not ok then return nil, dm end
  env.dm = dm
  local names = { "dm" }
  for _, k in ipairs { "nn", "optim", "init", "data" } do
    local v = type(dm) == "table" and index(dm, k) or nil
    if v == nil and k == "init" then v = index(index(dm, "nn") or {}, "init") end
    if v ~= nil then
      env[k] = v
      names[#names + 1] = k
    end
  end
  -- help(dm.zeros), help(nn.Linear), help("Tensor.sum"): the doc comment; the doc index
  -- (deepmoon.help) is read on the first call only
  if rawget(env, "help") == nil then
    env.help = function (...)
      local ok, h = pcall(require, "deepmoon.help")
      if not ok then error("help: deepmoon.help not found: " .. tostring(h), 2) end
      return h.help(...)
    end
  end
  local version = type(dm) == "table" and (rawget(dm, "_VERSION") or rawget(dm, "version"))
  return "deepmoon" .. (type(version) == "string" and " " .. version or "") .. ": "
         .. table.concat(names, ", ") .. " ready"
end

local function history_path ()
  local path = os.getenv("DEEPMOON_HISTORY")
  if path then return path ~= "" and path or nil end
  local home = os.getenv("HOME")
  return home and home ~= "" and home .. "/.deepmoon_history" or nil
end

--- The prompt's loop, until end of input.
function M.run (h, env)
  env = env or _G
  local out, errout = io.stdout, io.stderr
  local function show_error (msg)
    out:flush()
    errout:write(msg, "\n")
    errout:flush()
  end
  local banner, why = M.preload(env)
  if banner then
    out:write(banner, "\n")
  elseif tostring(why):find("^module 'deepmoon' not found") then
    show_error((h.progname or "deepmoon") .. ": module 'deepmoon' not found (run ./deepmoon "
               .. "from the source tree, or make install)")
  else
    show_error((h.progname or "deepmoon") .. ": deepmoon not loaded: " .. tostring(why))
  end
  local path = history_path()
  if path then h.history_file(path, 1000) end
  h.set_completer(function (word, before) return M.complete(word, before, env) end)
  while true do
    local status, a, src = M.read_statement(h.readline, env)
    if status == "eof" then break end
    if src and src:find("%S") then h.add_history(src) end
    if status == "error" then
      show_error(a)
    elseif status == "ok" then
      local res, err = M.evaluate(a, h.xpcall)
      if res then
        out:write(res, "\n")
      elseif err then
        show_error(err)
      end
    end
  end
  out:write("\n")
  out:flush()
end

if host then
  M.run(host)
  return
end
return M
