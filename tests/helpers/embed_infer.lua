-- Running the plain-C inference program (build/examples/embed_infer: dm_model_load and
-- dm_model_forward only) from the specs:
--   local C = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
--                    "helpers/embed_infer.lua")
local C = {}

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
C.ROOT = here .. "../../"
-- the build directory of the configuration under test: the first LUA_CPATH_5_4 entry
C.BUILD = ((os.getenv("LUA_CPATH_5_4") or ""):match("^([^;]*)/%?%.so")) or (C.ROOT .. "build")

--- s quoted for sh.
function C.sh_quote (s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- Run a command: its output (stdout and stderr) and whether it succeeded.
function C.run (cmd)
  local f = assert(io.popen(cmd .. " 2>&1"))
  local out = f:read("a")
  local ok = f:close()
  return out, ok
end

local util = dofile(here .. "util.lua")
--- A fresh temporary path ending in suffix (".safetensors" by default), removed by
--- C.remove_tmp() (util.tmp's).
function C.tmp (suffix) return util.tmp(suffix or ".safetensors") end
C.remove_tmp = util.remove_tmp

--- The rows of x (a 2-D tensor, one flat sample a row) through embed_infer on the model file
--- at path: its output rows (Lua tables of numbers), or nil and its output.
function C.forward (path, x)
  local args = {}
  for i, row in ipairs(x:totable()) do
    local vals = {}
    for j, v in ipairs(row) do vals[j] = ("%.9g"):format(v) end
    args[i] = table.concat(vals, ",")
  end
  local out, ok = C.run(C.sh_quote(C.BUILD .. "/examples/embed_infer") .. " " ..
                        C.sh_quote(path) .. " " .. table.concat(args, " "))
  if not ok then return nil, out end
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    local r = {}
    for v in line:gmatch("%S+") do r[#r + 1] = tonumber(v) end
    rows[#rows + 1] = r
  end
  return rows
end

return C
