-- tests/fuzz/api_fuzz.lua -- a seeded random-call fuzzer of deepmoon's whole Lua API.
--
--   deepmoon tests/fuzz/api_fuzz.lua [--seed N] [--seconds S] [--calls N] [--last FILE]
--                                    [--trace-from K] [--quiet]
--
-- Calls every function of dm and its submodules, every Tensor method and metamethod, the
-- methods of whatever objects come back (modules, optimizers, schedulers, loaders), with
-- arguments drawn from a hostile pool: tensors of every dtype and shape (0-dim, zero-size,
-- expanded, transposed, released), NaN/inf/-0.0, extreme integers, strings, booleans, nil,
-- functions, tables whose __len/__index misbehave, dtypes and generators (released ones too).
-- Each call runs under xpcall with an instruction budget (a count hook: a hang on the Lua side
-- is an error); a hang in C is caught by the caller's timeout (tests/fuzz/api_fuzz.sh).
--
-- A Lua error is fine.  Findings are a crash (the process dies: ASan/UBSan report), a hang, or
-- Lua's own message ("attempt to ...", "number has no integer representation", a standard
-- function's "bad argument") raised from inside deepmoon's Lua files: the "internal" class,
-- A call that runs past the instruction budget is printed (SLOW) but is no finding: a
-- table whose __len is math.maxinteger is a legal endless dataset.
-- printed one line each (deduplicated).  Before each call its number and a description are
-- written to --last FILE, so a crash names the call; the same seed replays the same calls
-- (--trace-from K prints every call from the K-th on).  The seed is printed first, the counts
-- last, then "P passed, F failed" (P calls without a finding, F findings).
--
-- Memory: tensors the pool builds are small; shapes from hostile integers are refused by the
-- core (overflow checks) or by the allocator (run it with ASAN_OPTIONS=max_allocation_size_mb=..
-- :allocator_may_return_null=1, as api_fuzz.sh does); the pool is rebuilt when dm.memory()
-- passes a soft limit.  Some int64 tensors hold math.maxinteger and math.mininteger (sums, products
-- and positions that overflow).

local dm = require "deepmoon"

-- ---- options -------------------------------------------------------------------------
local opt = { seed = nil, seconds = 60, calls = math.maxinteger, last = nil, trace_from = nil,
              quiet = false, hook_count = 20000000 }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--seed" then opt.seed = math.tointeger(tonumber(arg[i + 1])); i = i + 1
    elseif a == "--seconds" then opt.seconds = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--calls" then opt.calls = math.tointeger(tonumber(arg[i + 1])); i = i + 1
    elseif a == "--last" then opt.last = arg[i + 1]; i = i + 1
    elseif a == "--trace-from" then opt.trace_from = math.tointeger(tonumber(arg[i + 1])); i = i + 1
    elseif a == "--quiet" then opt.quiet = true
    else io.stderr:write("api_fuzz: unknown option ", a, "\n"); os.exit(2) end
    i = i + 1
  end
end
opt.seed = opt.seed or os.time()
local err = io.stderr
err:write(("api_fuzz: seed %d\n"):format(opt.seed))
err:flush()
math.randomseed(opt.seed)
local rnd = math.random
dm.manual_seed(opt.seed % 2147483647)

local function pick (list) return list[rnd(#list)] end

-- ---- what is called --------------------------------------------------------------------
-- Left out: set_num_threads (a legal n up to 4096 starts that many BLAS threads), and names
-- that only change how the host prints (nothing to find, a lot of output).
local skip = { set_num_threads = true }

local targets = {}       -- { name = "dm.nn.Linear", fn = callable }
local seen = {}
local function callable (v)
  if type(v) == "function" then return true end
  local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end
local function add_module (prefix, m)
  if type(m) ~= "table" then return end
  local names = {}
  for k in pairs(m) do if type(k) == "string" then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = rawget(m, k)
    -- names starting with "_" are helpers exposed for the specs, not API
    if not skip[k] and not k:match("^_") and callable(v) and not seen[v] then
      seen[v] = true
      targets[#targets + 1] = { name = prefix .. "." .. k, fn = v }
    end
  end
end
local modules = { { "dm", dm } }
for _, sub in ipairs { "nn", "nn.functional", "nn.init", "init", "optim", "optim.lr_scheduler",
                       "data", "format", "io", "autograd", "progress", "plot" } do
  local m = dm
  for part in sub:gmatch("[^.]+") do
    local ok, v = pcall(function () return m[part] end)
    m = ok and type(v) == "table" and v or nil
    if not m then break end
  end
  if m then modules[#modules + 1] = { "dm." .. sub, m } end
end
for _, m in ipairs(modules) do add_module(m[1], m[2]) end

-- Tensor methods: the class table and the metatable's __index chain
local Tensor = dm.Tensor
local tmeta = getmetatable(dm.zeros(1))
local tmethods = {}
do
  local names, have = {}, {}
  local function collect (t)
    if type(t) ~= "table" then return end
    for k, v in pairs(t) do
      if type(k) == "string" and type(v) == "function" and not have[k] and not k:match("^_") then
        have[k] = v; names[#names + 1] = k
      end
    end
  end
  collect(Tensor); collect(rawget(tmeta, "__index"))
  table.sort(names)
  for _, k in ipairs(names) do tmethods[#tmethods + 1] = { name = "Tensor." .. k, fn = have[k] } end
end
local metamethods = {}
for _, k in ipairs { "__add", "__sub", "__mul", "__div", "__pow", "__unm", "__len", "__index",
                     "__newindex", "__tostring", "__close", "__eq", "__lt", "__le", "__concat",
                     "__mod", "__idiv", "__call", "__name" } do
  local v = rawget(tmeta, k)
  if type(v) == "function" then metamethods[#metamethods + 1] = { name = "meta." .. k, fn = v } end
end

-- ---- the hostile pool ------------------------------------------------------------------
local dtypes = {}
for _, n in ipairs { "float32", "float64", "int64", "uint8", "bool" } do
  if rawget(dm, n) then dtypes[#dtypes + 1] = dm[n] end
end

local function hostile_len (v) return setmetatable({}, { __len = function () return v end }) end
local function hostile_tables ()
  return {
    hostile_len(-1), hostile_len(math.maxinteger), hostile_len(2^63), hostile_len(0 / 0),
    hostile_len("3"), setmetatable({}, { __len = function () error("hostile __len") end }),
    setmetatable({}, { __index = function () error("hostile __index") end }),
    setmetatable({ 1, 2 }, { __index = function (_, k) return k end, __len = function () return 4 end }),
    setmetatable({}, { __index = function () return math.maxinteger end,
                       __len = function () return 3 end }),
    setmetatable({}, { __index = function () return 0 / 0 end, __len = function () return 2 end }),
    setmetatable({}, { __pairs = function () error("hostile __pairs") end }),
    setmetatable({}, { __call = function () error("hostile __call") end }),
    {}, { 1 }, { 2, 3 }, { 1, 2, 3 }, { -1 }, { 0 }, { 0, 2 }, { 1.5 }, { math.maxinteger },
    { math.mininteger }, { 2, -1 }, { {} }, { { 1, 2 }, { 3 } }, { { 1, 2 }, { 3, 4 } },
    { "a" }, { 1, nil, 3 }, { n = 1 }, { lr = 0.1 }, { lr = -1 }, { lr = 0 / 0 },
    { dim = 1 }, { dim = math.maxinteger }, { keepdim = true }, { dtype = "x" },
    { generator = true }, { bogus = 1 }, { batch_size = 0 }, { batch_size = -1 },
    { mode = "fan_out", nonlinearity = "relu" }, { [math.maxinteger] = 1 }, { [-1] = 1 },
    setmetatable({}, { __index = function (t) return t end }),
  }
end

local nested = {}
do
  local t = nested
  for _ = 1, 200 do local n = {}; t[1] = n; t = n end
  t[1] = 1
end
local cyclic = {}; cyclic[1] = cyclic; cyclic.x = cyclic

local scalars = {
  0, 1, 2, 3, -1, -2, 1.0, 0.5, -0.0, 0 / 0, 1 / 0, -1 / 0, math.maxinteger, math.mininteger,
  2^53 + 1, 2^53, 2^63, -2^63, 1e308, -1e308, 1e-320, 4294967296, 2147483648, 65536, 255, 256,
  1e9, 3.5, true, false, nil, "", "x", "1", "float32", "int64", "mean", "sum", "none", "fan_in",
  "relu", "\0", ("z"):rep(300), "/nonexistent/dir/file", function () return 1 end,
  function () error("hostile function") end, print, coroutine.create(function () end),
}

-- sizes drawn small most of the time, hostile sometimes
local function small_int ()
  local r = rnd(20)
  if r <= 14 then return rnd(0, 4) end
  if r <= 16 then return rnd(-3, -1) end
  return pick { math.maxinteger, math.mininteger, 2^53 + 1, 1 << 32, 1 << 40, -1 << 40 }
end

local released_gen
do
  local g = rawget(dm, "Generator") and dm.Generator(7)
  if g then setmetatable({}, { __gc = function () released_gen = g end }) end
  g = nil
  collectgarbage(); collectgarbage()
end

local pool, objects = {}, {}

local function make_tensor ()
  local shapes = { {}, { 0 }, { 1 }, { 3 }, { 2, 3 }, { 3, 2 }, { 0, 3 }, { 2, 0, 2 }, { 4, 4 },
                   { 2, 3, 4 }, { 1, 2, 1, 2 }, { 2, 1, 3, 1, 2 }, { 1, 1, 4, 4 }, { 2, 3, 5, 5 } }
  local shape = pick(shapes)
  local dt = pick(dtypes)
  local t
  local r = rnd(11)
  if r == 11 then      -- int64 at the limits: sums, products and positions that overflow
    local n, vals = 1, {}
    for _, s in ipairs(shape) do n = n * s end
    local lim = { math.maxinteger, math.mininteger, -1, 1, 0, math.maxinteger - 1 }
    for i = 1, n do vals[i] = lim[rnd(#lim)] end
    t = dm.tensor(vals, { dtype = dm.int64 }):reshape(shape)
  elseif r <= 3 then t = dm.randn(shape):to(dt)
  elseif r <= 4 then t = dm.zeros(shape, { dtype = dt })
  elseif r <= 5 then t = dm.ones(shape, { dtype = dt })
  elseif r <= 6 then t = dm.full(shape, pick { 0 / 0, 1 / 0, -1 / 0, -0.0, 1e30 }):to(dt)
  else t = dm.rand(shape):mul(10):sub(5):to(dt) end
  local v = rnd(12)
  if v == 1 and t:dim() >= 2 then t = t:t()
  elseif v == 2 and t:dim() >= 2 then t = t:transpose(1, 2)
  elseif v == 3 then   -- expanded: stride 0
    local s = t:size()
    if #s >= 1 and s[1] == 1 then s[1] = 4; t = t:expand(s)
    elseif #s == 0 then t = t:expand(3, 2) end
  elseif v == 4 then   -- huge but countable (the bytes are one element)
    t = dm.tensor({ 1.5 }):to(dt):expand(pick { { 1024, 1024 }, { 4, 1 << 18 } })
  elseif v == 5 and t:numel() > 0 then t = t:view(-1):narrow(1, 1, 1)
  elseif v == 6 and (dt == dm.float32 or dt == dm.float64) then t:requires_grad_(true)
  elseif v == 7 and (dt == dm.float32 or dt == dm.float64) then
    t = t:clone():requires_grad_(true):mul(2)   -- a non-leaf with a grad_fn
  elseif v == 8 then local u = t:clone(); u:free(); t = u end
  return t
end

local function rebuild_pool ()
  pool = {}
  for _, v in ipairs(scalars) do pool[#pool + 1] = { v } end
  for _, v in ipairs(hostile_tables()) do pool[#pool + 1] = { v } end
  pool[#pool + 1] = { nested }; pool[#pool + 1] = { cyclic }
  for _, d in ipairs(dtypes) do pool[#pool + 1] = { d } end
  if rawget(dm, "Generator") then pool[#pool + 1] = { dm.Generator(3) } end
  if released_gen then pool[#pool + 1] = { released_gen } end
  for _ = 1, 40 do
    local ok, t = pcall(make_tensor)
    if ok then pool[#pool + 1] = { t } end
  end
  objects = {}
  collectgarbage()
end

local function value ()
  local r = rnd(10)
  if r <= 4 then
    -- a tensor most often: search the pool for one
    for _ = 1, 8 do
      local v = pick(pool)[1]
      if dm.is_tensor(v) then return v end
    end
  elseif r == 5 then return small_int()
  elseif r == 6 and #objects > 0 then return pick(objects).obj
  end
  return pick(pool)[1]
end

local function args (n)
  local a = {}
  for i = 1, n do a[i] = value() end
  return a
end

local function describe (v, depth)
  local tv = type(v)
  if tv == "number" then
    if v ~= v then return "0/0" end
    if math.type(v) == "integer" then
      if v == math.mininteger then return "math.mininteger" end
      return tostring(v)
    end
    if v == 1 / 0 then return "1/0" elseif v == -1 / 0 then return "-1/0" end
    return ("%.17g"):format(v)
  elseif tv == "string" then return ("%q"):format(#v > 20 and v:sub(1, 20) .. "..." or v)
  elseif tv == "nil" or tv == "boolean" then return tostring(v)
  elseif dm.is_tensor(v) then
    local ok, s = pcall(function ()
      if v:is_released() then return "<released tensor>" end
      return ("tensor(%s %s stride %s%s)"):format(v.dtype.name, table.concat(v:size(), "x"),
        table.concat(v:stride(), ","), v.requires_grad and " grad" or "")
    end)
    return ok and s or "<tensor>"
  elseif tv == "table" then
    local mt = getmetatable(v)
    if mt and mt.__len then return "<table __len>" end
    if mt and mt.__index then return "<table __index>" end
    local n = rawlen(v)
    -- a short plain list shows its entries (one level), so a replayed finding can be rebuilt
    if n > 0 and n <= 4 and (depth or 0) < 1 then
      local parts = {}
      for i = 1, n do parts[i] = describe(rawget(v, i), (depth or 0) + 1) end
      return ("<table #%d {%s}>"):format(n, table.concat(parts, ", "))
    end
    return ("<table #%d>"):format(n)
  end
  return "<" .. tv .. ">"
end

-- ---- classification -------------------------------------------------------------------
local counts = { calls = 0, ok = 0, errors = 0, internal = 0, hang = 0, other = 0 }
local internal_seen, internal_list = {}, {}
local lua_dir = "deepmoon/"
local stdlib = {}
for _, lib in ipairs { _G, string, table, math, io, os, coroutine, utf8 } do
  for k, v in pairs(lib) do if type(v) == "function" then stdlib[k] = true end end
end

-- the first Lua frame where the error was raised, when it is one of deepmoon's Lua files
local function deepmoon_frame ()
  for level = 3, 40 do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    if info.what == "Lua" or info.what == "main" then
      if info.source:find(lua_dir, 1, true) and not info.source:find("api_fuzz", 1, true) then
        return info.short_src .. ":" .. (info.currentline or 0)
      end
      return nil
    end
  end
end

local HANG = setmetatable({}, { __tostring = function () return "instruction budget exceeded" end })
local function handler (e)
  if e == HANG then return { kind = "hang" } end
  local msg = tostring(e)
  local internal = msg:find("attempt to ", 1, true) or msg:find("no integer representation", 1, true)
  if not internal then
    local fn = msg:match("bad argument #%d+ to '([%w_.:]+)'")
    if fn and stdlib[fn:match("[%w_]+$")] then internal = true end
  end
  if internal and not msg:find("hostile", 1, true) then
    local where = deepmoon_frame()
    if where then return { kind = "internal", msg = msg, where = where } end
  end
  return { kind = "error", msg = msg }
end

-- ---- the loop --------------------------------------------------------------------------
local function note (k, text)
  if opt.last then
    local f = io.open(opt.last, "w")
    if f then f:write(("seed %d call %d: %s\n"):format(opt.seed, k, text)); f:close() end
  end
  if opt.trace_from and k >= opt.trace_from then err:write(k, ": ", text, "\n"); err:flush() end
end

local function sig (a, n)
  local parts = {}
  for i = 1, n do parts[i] = describe(a[i]) end
  return table.concat(parts, ", ")
end

local function methods_of (obj)
  local list, have = {}, {}
  local mt = getmetatable(obj)
  local depth = 0
  while type(mt) == "table" and depth < 6 do
    local idx = rawget(mt, "__index")
    local src = type(idx) == "table" and idx or mt
    for k, v in pairs(src) do
      if type(k) == "string" and type(v) == "function" and not have[k] and not k:match("^_") then
        have[k] = true; list[#list + 1] = k
      end
    end
    if type(idx) ~= "table" then break end
    mt = getmetatable(idx); depth = depth + 1
  end
  for k, v in pairs(obj) do
    if type(k) == "string" and type(v) == "function" and not have[k] and not k:match("^_") then
      have[k] = true; list[#list + 1] = k
    end
  end
  table.sort(list)
  return list
end

local function keep_results (name, res)
  for i = 2, math.min(res.n, 4) do
    local v = res[i]
    if dm.is_tensor(v) then
      local ok, n = pcall(function () return v:is_released() and 0 or v:numel() end)
      if ok and n <= 1 << 16 then pool[rnd(#pool)] = { v } end
    -- objects only: a class (a table that is its own instances' __index) is not a receiver;
    -- methods called on it with itself as self are a programmer's error Lua reports as such
    elseif type(v) == "table" and getmetatable(v) and not rawequal(v, dm)
        and rawget(v, "__index") == nil then
      local ok, list = pcall(methods_of, v)
      if ok and #list > 0 then
        if #objects >= 32 then table.remove(objects, rnd(#objects)) end
        objects[#objects + 1] = { obj = v, name = name, methods = list }
      end
    end
  end
end

local function call (k, name, fn, a, n)
  note(k, ("%s(%s)"):format(name, sig(a, n)))
  counts.calls = counts.calls + 1
  debug.sethook(function () error(HANG) end, "", opt.hook_count)
  local res = table.pack(xpcall(fn, handler, table.unpack(a, 1, n)))
  debug.sethook()
  if res[1] then
    counts.ok = counts.ok + 1
    keep_results(name, res)
    return
  end
  local r = res[2]
  if type(r) ~= "table" then r = { kind = "error", msg = tostring(r) } end
  if r.kind == "hang" then
    counts.hang = counts.hang + 1
    err:write(("api_fuzz: SLOW (instruction budget) seed %d call %d: %s(%s)\n"):format(opt.seed, k, name, sig(a, n)))
  elseif r.kind == "internal" then
    counts.internal = counts.internal + 1
    local key = r.where .. " " .. r.msg:gsub("^[^:]*:%d+: ", "")
    if not internal_seen[key] then
      internal_seen[key] = true
      internal_list[#internal_list + 1] = key
      err:write(("api_fuzz: INTERNAL seed %d call %d: %s(%s)\n    %s\n    raised at %s\n")
        :format(opt.seed, k, name, sig(a, n), r.msg, r.where))
    end
  else
    counts.errors = counts.errors + 1
  end
end

rebuild_pool()
local clock = dm.clock or os.clock
local start = clock()
local k = 0
while k < opt.calls and clock() - start < opt.seconds do
  k = k + 1
  if k % 500 == 0 or dm.memory() > 64 * 1024 * 1024 then
    rebuild_pool()
    if rawget(dm, "empty_cache") then dm.empty_cache() end
  end
  local r = rnd(100)
  local n = rnd(0, 4)
  if r <= 45 then
    local t = pick(targets)
    call(k, t.name, t.fn, args(n), n)
  elseif r <= 80 then
    local m = pick(tmethods)
    local a = args(n + 1)
    if rnd(4) > 1 then   -- the receiver a tensor most of the time
      for _ = 1, 8 do if dm.is_tensor(a[1]) then break end a[1] = value() end
    end
    call(k, m.name, m.fn, a, n + 1)
  elseif r <= 90 then
    local m = pick(metamethods)
    local a = args(3)
    if rnd(3) > 1 then for _ = 1, 8 do if dm.is_tensor(a[1]) then break end a[1] = value() end end
    call(k, m.name, m.fn, a, 3)
  elseif #objects > 0 then
    local o = pick(objects)
    local mname = pick(o.methods)
    local a = args(n)
    table.insert(a, 1, o.obj)
    local fn = o.obj[mname]
    if type(fn) == "function" then call(k, o.name .. ":" .. mname, fn, a, n + 1) end
  else
    local t = pick(targets)
    call(k, t.name, t.fn, args(n), n)
  end
end
if opt.last then os.remove(opt.last) end

rebuild_pool()
-- a Lua-side budget hit is reported, not a finding: a table whose __len is math.maxinteger
-- is a legal (endless) dataset; a hang in C (the outer timeout) and a crash are findings
local findings = #internal_list
err:write(("api_fuzz: seed %d: %d calls in %.1f s over %d functions, %d Tensor methods, " ..
           "%d metamethods: %d returned, %d raised a clear error, %d internal (%d distinct), " ..
           "%d over the instruction budget\n"):format(opt.seed, counts.calls, clock() - start, #targets, #tmethods,
                                #metamethods, counts.ok, counts.errors, counts.internal,
                                #internal_list, counts.hang))
print(("%d passed, %d failed"):format(counts.calls - counts.internal, findings))
os.exit(findings == 0 and 0 or 1)
