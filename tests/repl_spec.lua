-- The prompt's Lua side (host/repl.lua): printing, Tab completion, reading statements over
-- lines, running them.  tests/c/test_repl.sh drives the whole prompt through a pipe and tmux.

local dm = require "deepmoon"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local REPL_FILE = script_dir() .. "../host/repl.lua"
local repl = assert(loadfile(REPL_FILE))()

-- a fresh global table for the prompt, reading through to the real one
local function new_env ()
  local env = setmetatable({}, { __index = _G })
  assert(repl.preload(env))
  return env
end

-- readline from a list of lines; the prompts it was given are kept in .prompts
local function lines_reader (list)
  local i, r = 0, { prompts = {} }
  r.read = function (p)
    r.prompts[#r.prompts + 1] = p
    i = i + 1
    return list[i]
  end
  return r
end

describe("repl.format", function ()
  it("shows strings as they are and other scalars through tostring", function ()
    assert.are.equal("text", repl.format("text"))
    assert.are.equal("1.5", repl.format(1.5))
    assert.are.equal("3", repl.format(3))
    assert.are.equal("nil", repl.format(nil))
    assert.are.equal("true", repl.format(true))
  end)

  it("prints tensors and modules as tostring does (PyTorch's format)", function ()
    local t = dm.tensor({ { 1.0, 2.0 }, { 3.0, 4.0 } })
    assert.are.equal("tensor([[1., 2.],\n        [3., 4.]])", repl.format(t))
    local lin = dm.nn.Linear(2, 3)
    assert.are.equal("Linear(in_features=2, out_features=3, bias=True)", repl.format(lin))
    assert.are.equal(tostring(lin.weight), repl.format(lin.weight))
  end)

  it("prints tables as constructors: list part, then sorted keys", function ()
    assert.are.equal('{1, 2, x = "a\\nb", ["y z"] = 3, [true] = {}}',
                     repl.format({ 1, 2, x = "a\nb", ["y z"] = 3, [true] = {} }))
    assert.are.equal("{}", repl.format({}))
    assert.are.equal("{[2] = 1, [3.5] = 2}", repl.format({ [2] = 1, [3.5] = 2 }))
    assert.are.equal("{[\"end\"] = 1}", repl.format({ ["end"] = 1 }))
  end)

  it("breaks long tables over lines and indents multi-line values", function ()
    assert.are.equal("{\n  tensor([[0., 0.],\n          [0., 0.]]),\n  n = ReLU()\n}",
                     repl.format({ dm.zeros(2, 2), n = dm.nn.ReLU() }))
    local long = {}
    for i = 1, 30 do long[i] = i * 1000 end
    local s = repl.format(long)
    assert.are.equal("{\n  1000,\n  2000,", s:sub(1, 17))
  end)

  it("limits cycles, depth and size", function ()
    local t = { 1 }
    t.me = t
    assert.are.equal("{1, me = <cycle>}", repl.format(t))
    assert.are.equal("{{1, {2, {...}}}}", repl.format({ { 1, { 2, { 3 } } } }))
    local big = {}
    for i = 1, 60 do big[i] = i end
    assert.is_truthy(repl.format(big):find("... (10 more)", 1, true))
    local nested = { inner = {} }
    for i = 1, 25 do nested.inner[i] = i end
    assert.are.equal("{inner = {...} (25 entries)}", repl.format(nested))
  end)

  it("survives a failing __tostring", function ()
    local bad = setmetatable({}, { __tostring = function () error("broken") end })
    assert.is_truthy(repl.format(bad):find("^<table: __tostring failed: .*broken>$"))
    assert.is_truthy(repl.format({ bad }):find("__tostring failed", 1, true))
  end)

  it("joins several results with tabs, as lua5.4 does", function ()
    assert.are.equal("1\tnil\ttext", repl.format_results(table.pack(1, nil, "text")))
    assert.is_nil(repl.format_results(table.pack()))
  end)
end)

describe("repl.complete", function ()
  local env = new_env()
  env.t = dm.ones(2)
  env.lin = dm.nn.Linear(2, 3)
  env.net = dm.nn.Sequential(dm.nn.Linear(2, 3))
  env.s = "abc"
  local function complete (word, before) return repl.complete(word, before or "", env) end
  teardown(function () env.t, env.lin, env.net = nil, nil, nil end)

  it("completes globals and keywords", function ()
    assert.are.same({ "print(" }, complete("pri"))
    assert.are.same({ "function" }, complete("functi"))
    assert.are.same({ "dm" }, complete("dm"))
    assert.are.same({ "optim" }, complete("opti"))
  end)

  it("completes fields of tables, to their common prefix first", function ()
    assert.are.same({ "dm.zeros", "dm.zeros_like" }, complete("dm.zeros"))
    assert.are.same({ "dm.arange(" }, complete("dm.arang"))
    assert.are.same({ "nn.Linear" }, complete("nn.Linea"))
    assert.are.same({ "dm.nn.Linear" }, complete("dm.nn.Linea"))
    assert.are.same({ "string.format(" }, complete("string.form"))
    assert.are.same({ "nn.init.kaiming_normal_(" }, complete("nn.init.kaiming_n"))
  end)

  it("adds ( to a single function", function ()
    assert.are.same({ "dm.zeros_like(" }, complete("dm.zeros_l"))
  end)

  it("completes tensor methods after ':' and methods and fields after '.'", function ()
    assert.are.same({ "t:unsqueeze(" }, complete("t:unsq"))
    assert.are.same({ "t.grad", "t.grad_fn" }, complete("t.grad"))
    assert.are.same({ "t:greater", "t:greater_equal" }, complete("t:gr"))
    assert.are.same({}, complete("t:grad"))
    assert.are.same({ "t.shape" }, complete("t.sha"))
    assert.are.same({ "t.matmul(" }, complete("t.matm"))
  end)

  it("completes a module's parameters, submodules and its class chain's methods", function ()
    assert.are.same({ "lin.weight" }, complete("lin.wei"))
    assert.are.same({ "lin:forward(" }, complete("lin:forw"))
    assert.are.same({ "lin:parameters(" }, complete("lin:parame"))
    assert.are.same({}, complete("net.0"))                   -- not a name
    local all = complete("net:")
    local set = {}
    for _, v in ipairs(all) do set[v] = true end
    assert.is_true(set["net:append"])                        -- Sequential's own
    assert.is_true(set["net:zero_grad"])                     -- inherited from Module
    assert.is_nil(set["net:__call"])                         -- metamethods hidden
  end)

  it("offers names starting with _ only once _ is typed", function ()
    for _, v in ipairs(complete("lin.")) do assert.is_nil(v:find("^lin%._")) end
    assert.is_truthy(#complete("lin._") > 0)
    assert.are.same({ "lin.__call(" }, complete("lin.__ca"))
  end)

  it("follows __index tables (string methods, class chains)", function ()
    assert.are.same({ "s:upper(" }, complete("s:upp"))
    local Base = { base_method = function () end }
    Base.__index = Base
    local Derived = setmetatable({ own_method = function () end }, Base)
    Derived.__index = Derived
    env.obj = setmetatable({ field = 1 }, Derived)
    assert.are.same({ "obj:base_method(" }, complete("obj:base"))
    assert.are.same({ "obj:own_method(" }, complete("obj:own"))
    assert.are.same({ "obj.field" }, complete("obj.fie"))
    env.obj = nil
  end)

  it("indents on an empty line and completes nothing in strings, comments or numbers",
     function ()
    assert.are.same({ "  " }, complete("", "  "))
    assert.are.same({}, complete("dm", 'print("'))
    assert.are.same({}, complete("dm", "x = 1 -- "))
    assert.are.same({}, complete("1.5"))
    assert.are.same({}, complete("dm..x"))
    assert.are.same({}, complete(":x"))
    assert.are.same({}, complete("nosuchglobal.x"))
  end)

  it("does not fail on fields that raise", function ()
    env.strict = setmetatable({}, { __index = function () error("no such field") end })
    assert.are.same({}, complete("strict.a.b"))
    env.strict = nil
  end)
end)

describe("repl.read_statement", function ()
  it("compiles an expression as return <it>", function ()
    local r = lines_reader { "1 + 1" }
    local status, f, src = repl.read_statement(r.read, new_env())
    assert.are.equal("ok", status)
    assert.are.equal(2, f())
    assert.are.equal("1 + 1", src)
  end)

  it("reads a statement over lines while the error is at <eof>", function ()
    local env = new_env()
    local r = lines_reader { "for i = 1, 2 do", "  x = (x or 0) + i", "end" }
    local status, f, src = repl.read_statement(r.read, env)
    assert.are.equal("ok", status)
    f()
    assert.are.equal(3, env.x)
    assert.are.equal("for i = 1, 2 do\n  x = (x or 0) + i\nend", src)
    assert.are.same({ "> ", ">> ", ">> " }, r.prompts)
  end)

  it("returns the value of an expression typed over lines", function ()
    local r = lines_reader { "dm.tensor({", "{1, 2}})" }
    local status, f = repl.read_statement(r.read, new_env())
    assert.are.equal("ok", status)
    assert.is_true(dm.is_tensor(f()))
  end)

  it("reports syntax errors, end of input and Ctrl-C", function ()
    local status, msg, src = repl.read_statement(lines_reader({ "x = = 1" }).read, new_env())
    assert.are.equal("error", status)
    assert.are.equal("stdin:1: unexpected symbol near '='", msg)
    assert.are.equal("x = = 1", src)
    assert.are.equal("eof", repl.read_statement(lines_reader({}).read, new_env()))
    assert.are.equal("eof", repl.read_statement(lines_reader({ "if x then" }).read, new_env()))
    assert.are.equal("interrupted", repl.read_statement(lines_reader({ false }).read, new_env()))
    assert.are.equal("interrupted",
                     repl.read_statement(lines_reader({ "do", false }).read, new_env()))
  end)

  it("prompts with _PROMPT and _PROMPT2", function ()
    local env = new_env()
    env._PROMPT, env._PROMPT2 = "dm> ", 7
    local r = lines_reader { "do", "end" }
    repl.read_statement(r.read, env)
    assert.are.same({ "dm> ", "7" }, r.prompts)
  end)
end)

describe("repl.evaluate", function ()
  local function run (src)
    local env = new_env()
    local _, f = repl.read_statement(lines_reader({ src }).read, env)
    return repl.evaluate(f)
  end

  it("returns the text to print", function ()
    assert.are.equal("tensor([0., 0.])", run("dm.zeros(2)"))
    assert.are.equal("2\tx", run("2, 'x'"))
    assert.is_nil(run("local y = 1"))
  end)

  it("returns the error with a traceback that ends at the typed chunk", function ()
    local res, err = run("error('boom')")
    assert.is_nil(res)
    assert.are.equal("stdin:1: boom\nstack traceback:\n\t[C]: in function 'error'\n" ..
                     "\tstdin:1: in main chunk", err)
    _, err = run("local function f() error('x') end return f()")
    assert.are.equal("stdin:1: x\nstack traceback:\n\t[C]: in function 'error'\n" ..
                     "\tstdin:1: in function <stdin:1>\n\t(...tail calls...)", err)
    _, err = run("error(setmetatable({}, {__tostring = function () return 'custom' end}))")
    assert.are.equal("custom", err)
    _, err = run("error({})")
    assert.are.equal("(error object is a table value)", err:match("^[^\n]*"))
  end)

  it("keeps the ends of a deep traceback", function ()
    local _, err = run("local function g(n) if n == 0 then error('deep') end " ..
                       "return 1 + g(n - 1) end g(40)")
    assert.is_truthy(err:find("(skipping", 1, true))
    assert.are.equal("\tstdin:1: in main chunk", err:match("[^\n]*$"))
  end)
end)

describe("repl.preload", function ()
  it("puts dm and its submodules in the prompt's globals, not in _G", function ()
    local env = {}
    local banner = repl.preload(env)
    assert.is_truthy(banner:find(": dm, nn, optim, init, data ready$"))
    assert.are.equal(dm, env.dm)
    assert.are.equal(dm.nn, env.nn)
    assert.are.equal(dm.optim, env.optim)
    assert.are.equal(dm.nn.init, env.init)
    assert.are.equal(dm.data, env.data)
    assert.is_nil(rawget(_G, "dm"))
  end)
end)

describe("repl module", function ()
  it("adds no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    local r = assert(loadfile(REPL_FILE))()
    r.complete("dm.ze", "", new_env())
    r.format({ 1 })
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("leaves no tensor memory behind", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
