-- Small helpers shared by the busted specs:
--   local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local util = {}

--- The message of the error fn raises, without the "file:line: " position.
function util.err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

--- t's values match a fixture entry want = {data = {...}} (relative tol, absolute near 0);
--- the error names what, the element and both values.
function util.assert_close (want, t, tol, what)
  local got = t:double():values()
  assert(#want.data == #got, what .. ": element count " .. #got .. ", PyTorch has " .. #want.data)
  for i = 1, #got do
    local w = want.data[i]
    if math.abs(got[i] - w) > tol * math.max(1, math.abs(w)) then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, got[i], w), 2)
    end
  end
end

--- A fixture entry {data =, shape = [, dtype = "bool"]} as a tensor: bool masks from 0/1,
--- everything else as dtype (float64 by default).
function util.fixture_tensor (f, dtype)
  local dm = require "deepmoon"
  if f.dtype == "bool" then return dm.tensor(f.data):view(f.shape):bool() end
  return dm.tensor(f.data, { dtype = dtype or dm.float64 }):view(f.shape)
end

--- t has want's shape and |got - want| <= atol + rtol |want| element by element; the error
--- names what, the element and both values.
function util.close (want, t, atol, rtol, what)
  require("luassert").are.same(want.shape, t:size(), what .. ": shape")
  local got = t:double():contiguous():values()
  for i = 1, #got do
    local w = want.data[i]
    if not (math.abs(got[i] - w) <= atol + rtol * math.abs(w)) then
      error(("%s: element %d is %.17g, PyTorch has %.17g"):format(what, i, got[i], w), 2)
    end
  end
end

--- m (a float64 module) with a fixture's state {key = tensor entry} loaded, then cast to
--- dtype (float32 or float64); returns m.
function util.load_fixture_state (m, state, dtype)
  local dm = require "deepmoon"
  local sd = {}
  for k, v in pairs(state) do sd[k] = util.fixture_tensor(v) end
  m:load_state_dict(sd)
  if dtype == dm.float32 then m:float() end
  return m
end

--- Every gradient a fixture names is checked with util.close: grads["name"] for each of
--- module m's parameters, grads["input:name"] for each inputs[name]; and no other is named.
function util.check_grads (grads, m, inputs, atol, rtol)
  local seen = 0
  for name, p in m:named_parameters() do
    util.close(grads[name], p.grad, atol, rtol, "gradient of " .. name)
    seen = seen + 1
  end
  for name, t in pairs(inputs) do
    util.close(grads["input:" .. name], t.grad, atol, rtol, "gradient of input " .. name)
    seen = seen + 1
  end
  local want = 0
  for _ in pairs(grads) do want = want + 1 end
  require("luassert").are.equal(want, seen)
end

--- A shallow copy of table t.
function util.copy (t)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  return o
end

--- Runs `lua args` (the interpreter DM_LUA names, else lua5.4) in folder dir: its output
--- (stdout and stderr together) and whether it exited with 0.
function util.run_lua (dir, args)
  local lua = os.getenv("DM_LUA") or "lua5.4"
  local p = assert(io.popen(("cd %q && %s %s 2>&1"):format(dir, lua, args)))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

--- A file's bytes, and bytes written to a file (raising on failure).
function util.read_bytes (path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function util.write_bytes (path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

--- A fresh temporary path ending in suffix; util.remove_tmp() deletes every one made.
local tmpfiles = {}
function util.tmp (suffix)
  local base = os.tmpname()
  os.remove(base)
  local p = base .. (suffix or "")
  tmpfiles[#tmpfiles + 1] = p
  return p
end

function util.remove_tmp ()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
  tmpfiles = {}
end

return util
