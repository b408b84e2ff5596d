-- SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
--- deepmoon.help: the doc comments of the public API, read at run time.
--
--   local help = require "deepmoon.help"
--   help(dm.zeros)                 -- prints the doc comment of dm.zeros
--   help(nn.Linear); help("Tensor.sum"); help("nn.init.kaiming_normal_")
--   help.text(dm.zeros)            -- the same text as a string
--   help.lookup("Tensor.sum")      -- the doc text, or nil
--   help.api()                     -- every public name: a list of {name =, value =}
--
-- Where the text comes from: for a function written in Lua, the `---` comment block just
-- above its definition (debug.getinfo gives the file and line), or above the line that
-- makes it (`define("zeros_", ...)`, `simple("ReLU", ...)`); for the functions written in
-- C (bindings/*.c), the files lua/deepmoon/doc/*.lua, whose LDoc blocks name them with
-- `@function dm.zeros` (and `@also Tensor.zeros` for the other names of the same function);
-- an entry there wins over a comment in the source.  Nothing is read before the first call,
-- so `require "deepmoon"` does not pay for it.  The deepmoon prompt defines help() with it.

local M = {}

-- the doc files (lua/deepmoon/doc/<name>.lua), read through package.path
M.DOC_FILES = { "creation", "tensor", "math", "reduce", "shape", "nn_ops", "system",
                "lua_api" }

-- the namespaces of the public API: name, the module that defines it
M.NAMESPACES = {
  { "dm", "deepmoon" },
  { "nn", "deepmoon.nn" },
  { "nn.functional", "deepmoon.nn.functional" },
  { "nn.init", "deepmoon.nn.init" },
  { "optim", "deepmoon.optim" },
  { "optim.lr_scheduler", "deepmoon.optim.lr_scheduler" },
  { "data", "deepmoon.data" },
  { "io", "deepmoon.io" },
  { "autograd", "deepmoon.autograd" },         -- skipped where a module is absent
  { "nn.utils", "deepmoon.nn.grad_utils" },
  { "data.transforms", "deepmoon.data.transforms" },
  { "distributed", "deepmoon.distributed" },
  { "nn.parallel", "deepmoon.nn.parallel" },
}

-- names that load on first use, so pairs() does not see them until then
M.LAZY = {
  dm = { "nn", "optim", "data", "init", "plot", "progress", "distributed" },
  ["nn.init"] = { "lsuv_", "recommend", "diagnose", "compare" },
  data = { "read_csv", "standardize", "train_test_split", "csv", "prep", "FashionMNIST", "transforms",
           "DistributedSampler" },
}

-- other spellings of a namespace
local ALIASES = { ["dm.nn"] = "nn", ["dm.optim"] = "optim", ["dm.data"] = "data",
                  ["dm.autograd"] = "autograd",
                  ["dm.io"] = "io", ["dm.init"] = "nn.init", init = "nn.init",
                  ["nn.F"] = "nn.functional", F = "nn.functional", ["dm.Tensor"] = "Tensor",
                  deepmoon = "dm", torch = "dm" }

-- ---- reading sources ---------------------------------------------------------------------

local file_cache = {}

local function read_lines (path)
  local lines = file_cache[path]
  if lines ~= nil then return lines or nil end
  local f = io.open(path, "r")
  if not f then file_cache[path] = false; return nil end
  lines = {}
  for l in f:lines() do lines[#lines + 1] = l end
  f:close()
  file_cache[path] = lines
  return lines
end

-- the lines of a chunk whose debug source is "@path"; a relative path (a module built into
-- the host, "@deepmoon/nn/linear.lua") is looked up on package.path
local function source_lines (source)
  if type(source) ~= "string" or source:sub(1, 1) ~= "@" then return nil end
  local path = source:sub(2)
  local lines = read_lines(path)
  if lines then return lines, path end
  local mod = path:match("^(deepmoon/.*)%.lua$")
  if mod then
    local found = package.searchpath(mod:gsub("/", "."), package.path)
    if found then return read_lines(found), found end
  end
  return nil
end

local function module_lines (modname)
  local path = package.searchpath(modname, package.path)
  if path then return read_lines(path), path end
  return nil
end

local function strip (l)
  return (l:gsub("^%s*%-%-%-?%s?", ""))
end

-- the `---` block that ends on the line before `line`, as text; nil when there is none
local function doc_above (lines, line)
  local i = line - 1
  local first
  while i >= 1 and lines[i]:match("^%s*%-%-") and not lines[i]:match("^%s*%-%-%s*%-%-%-%-") do
    if lines[i]:match("^%s*%-%-%-") then first = i end
    i = i - 1
  end
  if not first then return nil end
  local out = {}
  for k = first, line - 1 do out[#out + 1] = strip(lines[k]) end
  return table.concat(out, "\n")
end

-- the first `---` block of a file (its module comment)
local function header_doc (lines)
  for i = 1, math.min(#lines, 10) do
    if lines[i]:match("^%-%-%-") then
      local out = {}
      local k = i
      while lines[k] and lines[k]:match("^%-%-") do
        out[#out + 1] = strip(lines[k]); k = k + 1
      end
      return table.concat(out, "\n")
    end
  end
  return nil
end

-- a doc block above a line that makes `name` by a call: define("name", ...), extend("name")
local function doc_by_literal (lines, name)
  local q = name:gsub("%p", "%%%0")
  local pats = { "%(%s*[\"']" .. q .. "[\"']", "^%s*local%s+" .. q .. "%s*=[^=]",
                 "^%s*[%w_%.]*%." .. q .. "%s*=[^=]", "^%s*" .. q .. "%s*=[^=]" }
  for _, pat in ipairs(pats) do
    for i, l in ipairs(lines) do
      if l:find(pat) and not l:match("^%s*%-%-") then
        local d = doc_above(lines, i)
        if d then return d end
      end
    end
  end
  return nil
end

-- ---- the doc files -----------------------------------------------------------------------

local entries          -- name -> { text =, name =, file = }

local function parse_doc_file (lines, file, into)
  local block
  local function flush ()
    if not block then return end
    local fname, also = nil, {}
    for _, l in ipairs(block) do
      local f = l:match("^@function%s+([%w_%.:]+)")
      if f then fname = f:gsub(":", ".") end
      for a in (l:match("^@also%s+(.*)") or ""):gmatch("[%w_%.:]+") do
        also[#also + 1] = a:gsub(":", ".")
      end
    end
    if fname then
      local e = { name = fname, text = table.concat(block, "\n"), file = file }
      into[fname] = e
      for _, a in ipairs(also) do into[a] = into[a] or e end
    end
    block = nil
  end
  for _, l in ipairs(lines) do
    if l:match("^%-%-%-") then
      flush()
      block = { strip(l) }
    elseif block and l:match("^%-%-") then
      block[#block + 1] = strip(l)
    else
      flush()
    end
  end
  flush()
end

--- The entries of the doc files: a table name -> {name =, text =, file =}.
function M.entries ()
  if entries then return entries end
  entries = {}
  for _, f in ipairs(M.DOC_FILES) do
    local lines, path = module_lines("deepmoon.doc." .. f)
    if lines then parse_doc_file(lines, path, entries) end
  end
  return entries
end

-- ---- the public API ----------------------------------------------------------------------

local function is_class (k, v)
  return type(v) == "table" and type(k) == "string" and k:match("^[A-Z]") ~= nil
end

-- the public methods of a class: its own functions and those of its method table
local function class_methods (cls)
  local out, seen = {}, {}
  local function add (t)
    if type(t) ~= "table" then return end
    for k, v in pairs(t) do
      if type(k) == "string" and not k:match("^_") and type(v) == "function" and not seen[k]
         and k ~= "super" then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  add(cls)
  local idx = rawget(cls, "__index")
  if idx ~= cls then add(idx) end
  table.sort(out)
  return out
end
M.class_methods = class_methods

local api_cache

--- Every public name of the API, sorted: a list of {name =, value =, kind =} where kind
--- is "function", "class", "method", "namespace" or "value".  The namespaces are
--- M.NAMESPACES and Tensor; classes are the tables whose name starts with a capital; names
--- that start with `_` are private.
function M.api ()
  if api_cache then return api_cache end
  local dm = require "deepmoon"
  local list, seen = {}, {}
  local function add (name, v, kind)
    if seen[name] then return end
    seen[name] = true
    list[#list + 1] = { name = name, value = v, kind = kind }
  end
  local function class (name, cls)
    add(name, cls, "class")
    for _, m in ipairs(class_methods(cls)) do
      local v = rawget(cls, m)
      if v == nil and type(rawget(cls, "__index")) == "table" then v = cls.__index[m] end
      add(name .. "." .. m, v, "method")
    end
  end
  local ns_names, ns_tables = {}, {}
  local present = {}
  for _, ns in ipairs(M.NAMESPACES) do
    if package.loaded[ns[2]] or package.searchpath(ns[2], package.path)
       or package.preload[ns[2]] then
      present[#present + 1] = ns
      ns_names[ns[1]] = true
      ns_tables[require(ns[2])] = true
    end
  end
  for _, ns in ipairs(present) do
    local prefix = ns[1]
    local t = require(ns[2])
    for _, k in ipairs(M.LAZY[prefix] or {}) do local _ = t[k] end
    local keys = {}
    for k in pairs(t) do
      if type(k) == "string" and not k:match("^_") then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = rawget(t, k)
      local name = prefix .. "." .. k
      if type(v) == "function" then
        add(name, v, "function")
      elseif k == "Tensor" then
        add(name, v, "value")
      elseif ns_tables[v] then
        add(name, v, "namespace")         -- another name of a namespace (nn.F)
      elseif is_class(k, v) then
        class(name, v)
      elseif type(v) == "table" then
        add(name, v, ns_names[name] and "namespace" or "value")
      else
        add(name, v, "value")
      end
    end
  end
  local keys = {}
  for k, v in pairs(dm.Tensor) do
    if type(k) == "string" and not k:match("^_") and type(v) == "function" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do add("Tensor." .. k, dm.Tensor[k], "method") end
  table.sort(list, function (a, b) return a.name < b.name end)
  api_cache = list
  return list
end

local by_name_cache, names_of_cache

local function maps ()
  if by_name_cache then return by_name_cache, names_of_cache end
  by_name_cache, names_of_cache = {}, {}
  for _, e in ipairs(M.api()) do
    by_name_cache[e.name] = e
    if e.value ~= nil and (type(e.value) == "function" or type(e.value) == "table") then
      local l = names_of_cache[e.value]
      if not l then l = {}; names_of_cache[e.value] = l end
      l[#l + 1] = e.name
    end
  end
  return by_name_cache, names_of_cache
end

-- "Tensor:sum", "dm.nn.Linear", "F.relu", "deepmoon.zeros" -> the index's spelling
local function normalize (name)
  name = name:gsub(":", ".")
  for _ = 1, 3 do
    local changed = false
    for from, to in pairs(ALIASES) do
      if name == from then name = to; changed = true
      elseif name:sub(1, #from + 1) == from .. "." then
        name = to .. name:sub(#from + 1); changed = true
      end
    end
    if not changed then break end
  end
  local by_name = maps()
  -- PyTorch's other names (deepmoon.aliases): dm.clip is documented as dm.clamp
  local short = name:match("^dm%.([%w_]+)$") or (not name:find("%.") and name) or nil
  local orig = short and require("deepmoon.aliases").ALIASES[short]
  if orig and not by_name[name] then name = "dm." .. orig end
  if not by_name[name] and not M.entries()[name] and not name:find("%.") then
    if by_name["dm." .. name] then return "dm." .. name end
    if by_name["Tensor." .. name] then return "Tensor." .. name end
  end
  return name
end

-- the doc of a Lua function `fn` known as `name` (its last part is used to find a
-- definition made by a call)
local function lua_function_doc (fn, name)
  local info = debug.getinfo(fn, "S")
  if info.what ~= "Lua" then return nil end
  local lines = source_lines(info.source)
  if not lines then return nil end
  local short = name:match("([%w_]+)$")
  local _, names_of = maps()
  local shared = false
  for _, n in ipairs(names_of[fn] or {}) do
    if n:match("([%w_]+)$") ~= short then shared = true end
  end
  -- a closure made by a factory for several names: its doc sits at the call naming it
  if not shared then
    local count = 0
    for other in pairs(names_of) do
      if type(other) == "function" and other ~= fn then
        local oi = debug.getinfo(other, "S")
        if oi.source == info.source and oi.linedefined == info.linedefined then
          count = count + 1
          break
        end
      end
    end
    shared = count > 0
  end
  if shared then
    return doc_by_literal(lines, short) or doc_above(lines, info.linedefined)
  end
  return doc_above(lines, info.linedefined) or doc_by_literal(lines, short)
end

-- the file a class's methods come from
local function class_source (cls)
  for _, t in ipairs({ cls, rawget(cls, "__index") or {}, getmetatable(cls) or {} }) do
    if type(t) == "table" then
      for k, v in pairs(t) do
        if type(v) == "function" and (k == "__init" or k == "__call" or not k:match("^__")) then
          local info = debug.getinfo(v, "S")
          if info.what == "Lua" then
            local lines = source_lines(info.source)
            if lines then return lines end
          end
        end
      end
    end
  end
  return nil
end

local function class_doc (cls, name)
  local short = name:match("([%w_]+)$")
  local init = rawget(cls, "__init")
  if type(init) == "function" then
    local d = lua_function_doc(init, name)
    if d and d:find(short, 1, true) then return d end
  end
  local lines = class_source(cls)
  if lines then
    local d = doc_by_literal(lines, short)
    if d then return d end
  end
  if type(init) == "function" then return lua_function_doc(init, name) end
  return nil
end

local function namespace_doc (name, v)
  for _, ns in ipairs(M.NAMESPACES) do
    if ns[1] == name then
      local lines = module_lines(ns[2])
      return lines and header_doc(lines)
    end
  end
  -- a module table reached by another name (dm.nn, dm.plot, data.csv): its file's header
  if type(v) == "table" then
    for mod, loaded in pairs(package.loaded) do
      if loaded == v and type(mod) == "string" and mod:match("^deepmoon") then
        local lines = module_lines(mod)
        if lines then return header_doc(lines) end
      end
    end
  end
  return nil
end

--- The doc text of a public name ("dm.zeros", "Tensor.sum", "Tensor:sum", "nn.Linear",
--- "nn.Module.parameters", "F.relu"), or nil when it has none.  A method without a comment
--- of its own takes its base class's ("nn.Linear.forward" -> "nn.Module.forward").
function M.lookup (name)
  name = normalize(name)
  local e = M.entries()[name]
  if e then return e.text, e.name end
  local by_name, names_of = maps()
  local a = by_name[name]
  if not a then
    local d = namespace_doc(name)
    if d then return d, name end
    -- a method a class inherits (optim.SGD.zero_grad is optim.Optimizer.zero_grad)
    local cname, mname = name:match("^(.*)%.([%w_]+)$")
    local c = cname and by_name[cname]
    if c and c.kind == "class" and not mname:match("^_") then
      local ok, v = pcall(function () return c.value[mname] end)
      if ok and type(v) == "function" then
        for _, n in ipairs(names_of[v] or {}) do
          local d2, found = M.lookup(n)
          if d2 then return d2, found end
        end
      end
    end
    return nil
  end
  local v = a.value
  if a.kind == "namespace" or (a.kind == "value" and type(v) == "table") then
    local d = namespace_doc(name, v)
    if d then return d, name end
  end
  if a.kind == "class" then return class_doc(v, name), name end
  if type(v) == "function" then
    local d = lua_function_doc(v, name)
    if d then return d, name end
    -- another name of the same function may be documented
    local _, names_of = maps()
    for _, n in ipairs(names_of[v] or {}) do
      if n ~= name then
        local oe = M.entries()[n]
        if oe then return oe.text, n end
      end
    end
    if a.kind == "method" then
      local cname, mname = name:match("^(.*)%.([%w_]+)$")
      local cls = by_name[cname] and by_name[cname].value
      local super = type(cls) == "table" and rawget(cls, "super")
      while type(super) == "table" do
        local sv = rawget(super, mname)
        if type(sv) == "function" and sv ~= v then
          local sn = (rawget(super, "__name") and "nn." .. rawget(super, "__name") or "base")
                     .. "." .. mname
          local d2 = M.lookup(sn) or lua_function_doc(sv, mname)
          if d2 then return d2, sn end
        end
        super = rawget(super, "super")
      end
    end
  end
  return nil
end

-- a doc-file block made readable: the description, then the parameters, the other names
-- and the examples under headings
local function render (text)
  local desc, params, usage, also = {}, {}, {}, {}
  local last
  for l in (text .. "\n"):gmatch("(.-)\n") do
    local tag, rest = l:match("^@([%w_]+)%s*(.*)$")
    if tag == "function" or tag == "module" then
      last = nil
    elseif tag == "usage" then
      usage[#usage + 1] = "  " .. rest; last = usage
    elseif tag == "also" then
      also[#also + 1] = rest; last = nil
    elseif tag then
      -- @param[opt] name desc, @tparam[opt=1] type name desc, @int[opt] name desc
      local opt = tag:match("%[(.-)%]") or rest:match("^%[(.-)%]")
      rest = rest:gsub("^%[.-%]%s*", "")
      local kind = tag:gsub("%[.*", "")
      local ty
      if kind == "tparam" then ty, rest = rest:match("^(%S+)%s*(.*)$") end
      if kind ~= "param" and kind ~= "tparam" then ty = kind end
      local pname, pdesc = rest:match("^(%S+)%s*(.*)$")
      local extra = {}
      if ty then extra[#extra + 1] = ty end
      if opt then
        extra[#extra + 1] = opt == "opt" and "optional" or (opt:gsub("^opt=", "default "))
      end
      params[#params + 1] = ("  %s%s%s"):format(pname or rest,
        #extra > 0 and " (" .. table.concat(extra, ", ") .. ")" or "",
        pdesc and pdesc ~= "" and ": " .. pdesc or "")
      last = params
    elseif last and l:find("%S") then
      last[#last + 1] = "    " .. l
    else
      desc[#desc + 1] = l
    end
  end
  while desc[#desc] == "" do desc[#desc] = nil end
  local out = { table.concat(desc, "\n") }
  if #params > 0 then out[#out + 1] = "\nParameters:\n" .. table.concat(params, "\n") end
  if #also > 0 then out[#out + 1] = "\nAlso: " .. table.concat(also, ", ") end
  if #usage > 0 then out[#out + 1] = "\nUsage:\n" .. table.concat(usage, "\n") end
  return table.concat(out, "\n")
end
M.render = render

--- The names a value is known by in the public API (a list; empty when none).
function M.names_of (v)
  local _, names_of = maps()
  return names_of[v] or {}
end

--- The text help(x) prints: x is a public function, class or namespace, or its name.
function M.text (x)
  if x == nil then
    return "help(x): the doc comment of a deepmoon function, class or module, e.g.\n"
      .. "  help(dm.zeros)  help(nn.Linear)  help(\"Tensor.sum\")  help(\"nn.init\")\n"
      .. "The whole reference: `make doc`, then build/doc/index.html."
  end
  local names
  if type(x) == "string" then
    names = { x }
  else
    names = M.names_of(x)
    -- an instance (a model, a tensor, a DataLoader): its class
    local mt = #names == 0 and getmetatable(x)
    if #names == 0 and require("deepmoon").is_tensor(x) then
      names = { "dm.Tensor" }
    elseif type(mt) == "table" then
      names = M.names_of(mt)
      if #names == 0 and type(rawget(mt, "__index")) == "table" then
        names = M.names_of(rawget(mt, "__index"))
      end
    end
    if #names == 0 then
      return ("help: %s is not a public deepmoon function or class"):format(tostring(x))
    end
  end
  for _, n in ipairs(names) do
    local d, found = M.lookup(n)
    if d then
      local title = normalize(n)
      local head = title
      if found and found ~= title then head = title .. "  (see " .. found .. ")" end
      return head .. "\n\n" .. render(d)
    end
  end
  return ("help: no documentation for %s"):format(normalize(names[1]))
end

--- Print the doc comment of x (see M.text).
function M.help (x)
  print(M.text(x))
end

return setmetatable(M, { __call = function (_, x) return M.help(x) end })
