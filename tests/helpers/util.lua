-- Small helpers shared by the busted specs:
--   local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local util = {}

--- The message of the error fn raises, without the "file:line: " position.
function util.err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

return util
