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
