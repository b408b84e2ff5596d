-- Every public function, class and method of the Lua API has a doc comment (deepmoon.help
-- reads them: `---` blocks in the sources, lua/deepmoon/doc/*.lua for what is written in
-- C), and help() prints them.  Runs without LDoc.

local dm = require "deepmoon"

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

describe("doc index", function ()
  it("is not loaded by require 'deepmoon'", function ()
    local code = [[
      package.loaded["deepmoon.help"] = nil
      for k in pairs(package.loaded) do if k:match("^deepmoon") then package.loaded[k] = nil end end
      require "deepmoon"
      io.write(package.loaded["deepmoon.help"] == nil and "lazy" or "loaded")]]
    local lua = os.getenv("DM_LUA") or "lua5.4"
    local p = io.popen(lua .. " -e '" .. code:gsub("'", "'\\''") .. "' 2>&1")
    local out = p:read("a")
    p:close()
    assert.are.equal("lazy", out)
  end)

  local help = require "deepmoon.help"

  it("lists every public name of the namespaces, Tensor and the classes", function ()
    local names = {}
    for _, e in ipairs(help.api()) do names[e.name] = e end
    -- an enumeration of our own, so that api() cannot skip a table unseen
    local function expect (prefix, t)
      for k in pairs(t) do
        if type(k) == "string" and not k:match("^_") then
          assert(names[prefix .. "." .. k], "help.api() lacks " .. prefix .. "." .. k)
        end
      end
    end
    expect("dm", dm)
    expect("nn", dm.nn)
    expect("nn.functional", dm.nn.functional)
    expect("nn.init", dm.nn.init)
    expect("optim", dm.optim)
    expect("data", dm.data)
    expect("io", dm.io)
    if rawget(dm, "autograd") then expect("autograd", dm.autograd) end
    if rawget(dm.nn, "utils") then expect("nn.utils", dm.nn.utils) end
    for k, v in pairs(dm.Tensor) do
      if type(k) == "string" and not k:match("^_") and type(v) == "function" then
        assert(names["Tensor." .. k], "help.api() lacks Tensor." .. k)
      end
    end
    for _, n in ipairs({ "nn.Linear", "nn.Module.parameters", "nn.Sequential", "optim.SGD",
                         "data.DataLoader", "nn.init.recommend", "nn.init.diagnose",
                         "data.read_csv", "dm.zeros", "Tensor.sum" }) do
      assert(names[n], "help.api() lacks " .. n)
    end
  end)

  it("has a doc comment for every public name", function ()
    local missing = {}
    local n = 0
    for _, e in ipairs(help.api()) do
      n = n + 1
      local d = help.lookup(e.name)
      if not d or not d:find("%S") then missing[#missing + 1] = e.name end
    end
    assert.is_true(n > 400)
    assert(#missing == 0, #missing .. " public names have no doc comment: "
                          .. table.concat(missing, " "))
  end)

  it("every doc-file entry names a public function (no stale entries)", function ()
    local names = {}
    for _, e in ipairs(help.api()) do names[e.name] = true end
    local stale = {}
    for name in pairs(help.entries()) do
      if not names[name] then stale[#stale + 1] = name end
    end
    table.sort(stale)
    assert(#stale == 0, "doc entries for names that do not exist: " .. table.concat(stale, " "))
  end)

  it("gives a doc-file entry's parameters and example", function ()
    local d = help.lookup("dm.zeros")
    assert.is_truthy(d:find("@usage", 1, true))
    assert.is_truthy(d:find("dm.zeros(", 1, true))
  end)
end)

describe("help", function ()
  local help = require "deepmoon.help"

  it("prints a C function's entry, by value and by name", function ()
    local t = help.text(dm.zeros)
    assert.are.equal("dm.zeros", t:match("^[^\n]*"))
    assert.is_truthy(t:find("zeros", 3, true))
    assert.are.equal(help.text("dm.zeros"), t)
    assert.is_truthy(help.text("Tensor.sum"):find("^Tensor.sum\n"))
    assert.are.equal(help.text("Tensor.sum"), help.text("Tensor:sum"))
    -- the module-level name of a method finds the method's entry
    assert.is_truthy(help.text(dm.sum):find("Tensor.sum", 1, true))
  end)

  it("prints a class's and a Lua function's comment from the source", function ()
    assert.is_truthy(help.text(dm.nn.Linear):find("^nn.Linear\n\nnn.Linear%(in_features"))
    assert.is_truthy(help.text("nn.Module.parameters"):find("Parameters of this module", 1, true))
    assert.is_truthy(help.text(dm.nn.init.kaiming_normal_):find("kaiming", 1, true))
    assert.is_truthy(help.text("nn.ReLU"):find("max(0, x)", 1, true))
    assert.is_truthy(help.text("F.relu"):find("^nn.functional.relu\n"))
    assert.is_truthy(help.text(dm.no_grad):find("gradient recording off", 1, true))
  end)

  it("documents an instance by its class", function ()
    assert.are.equal(help.text(dm.nn.Linear), help.text(dm.nn.Linear(2, 3)))
    assert.are.equal(help.text(dm.Tensor), help.text(dm.zeros(2)))
  end)

  it("takes a method's doc from its base class when it has none", function ()
    local t = help.text("nn.Linear.forward")
    assert.is_truthy(t:find("see nn.Module.forward", 1, true))
  end)

  it("says when there is no doc or the value is not part of the API", function ()
    assert.are.equal("help: no documentation for dm.nothing_here", help.text("dm.nothing_here"))
    assert.are.equal("help: 42 is not a public deepmoon function or class", help.text(42))
    assert.is_truthy(help.text():find("help(dm.zeros)", 1, true))
  end)

  it("is defined at the prompt and prints the text", function ()
    local repl = assert(loadfile(script_dir() .. "../host/repl.lua"))()
    local env = setmetatable({}, { __index = _G })
    assert(repl.preload(env))
    assert.are.equal("function", type(env.help))
    local out = {}
    local saved = print
    _G.print = function (s) out[#out + 1] = s end
    local ok, err = pcall(env.help, dm.zeros)
    _G.print = saved
    assert(ok, err)
    assert.are.equal(help.text(dm.zeros), out[1])
  end)
end)

describe("tools/cdoc.lua", function ()
  it("turns core/deepmoon.h into a page with every declaration", function ()
    local lua = os.getenv("DM_LUA") or "lua5.4"
    local root = script_dir() .. "../"
    local out = os.tmpname()
    local p = io.popen(("%s %stools/cdoc.lua %score/deepmoon.h %s 2>&1; echo rc=$?"):format(
      lua, root, root, out))
    local msg = p:read("a")
    p:close()
    assert.is_truthy(msg:find("rc=0", 1, true), msg)
    local f = assert(io.open(out))
    local html = f:read("a")
    f:close()
    os.remove(out)
    assert.is_truthy(html:find("<html", 1, true))
    for _, name in ipairs({ "dm_tensor_new", "dm_matmul", "dm_errmsg" }) do
      assert.is_truthy(html:find('id="' .. name .. '"', 1, true), name)
    end
  end)
end)

describe("tools/docgen.lua", function ()
  it("writes one LDoc file per namespace with every documented name", function ()
    local lua = os.getenv("DM_LUA") or "lua5.4"
    local root = script_dir() .. "../"
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local p = io.popen(("%s %stools/docgen.lua %s 2>&1; echo rc=$?"):format(lua, root, dir))
    local msg = p:read("a")
    p:close()
    assert.is_truthy(msg:find("rc=0", 1, true), msg)
    local f = assert(io.open(dir .. "/nn.lua"))
    local text = f:read("a")
    f:close()
    assert.is_truthy(text:find("\n%-%- @module nn\n"))
    assert.is_truthy(text:find("\n%-%- @function Linear\n"))
    f = assert(io.open(dir .. "/Tensor.lua"))
    text = f:read("a")
    f:close()
    assert.is_truthy(text:find("\n%-%- @function Tensor:sum\n"))
    os.execute("rm -rf " .. dir)
  end)
end)

describe("doc spec", function ()
  it("leaves the live-byte counter at its baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
