-- tests/lighttpd/predict.lua -- a lighttpd mod_magnet handler that answers predictions of a
-- saved deepmoon model over HTTP (tests/c/test_lighttpd.sh runs it).
--
--   GET /predict?x=0.3,0.9            one input row
--   GET /predict?x=0.3,0.9;-1,2       several rows, separated by ';'
--   -> 200 application/json {"y":[[p1,p2,p3],[...]]}  (values as %.9g)
--   -> 400 {"error":"..."} for a malformed query, rows of the wrong width or values beyond
--      float32's range; 422 when the model's output is not finite; 404 elsewhere
--
-- The server's environment says where things are: DM_MODEL (the file nn.save_model wrote),
-- and either DM_CORE_SO (the module file deepmoon/core.so, opened with luaopen_deepmoon:
-- the Lua modules are built into it, so no Lua file is needed) or LUA_PATH_5_4 /
-- LUA_CPATH_5_4 leading to deepmoon for a plain require.
--
-- mod_magnet runs this file once per request, in a Lua state it keeps for the script, with
-- globals reset every time; the model therefore lives in package.loaded, which persists.

local r = lighty.r
local KEY = "deepmoon.tests.lighttpd.predict"
local MAX_ROWS = 256
local FLOAT32_MAX = 3.4028234663852886e38

local function answer (status, body)
  r.resp_header["Content-Type"] = "application/json"
  r.resp_body.set({ body })
  return status
end

local function json_string (s)
  return '"' .. tostring(s):gsub('[%c"\\]', function (c)
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

if r.req_attr["uri.path"] ~= "/predict" then
  return answer(404, '{"error":"not found"}')
end

local state = package.loaded[KEY]
if not state then
  local ok, res = pcall(function ()
    local dm
    local core_so = os.getenv("DM_CORE_SO")
    local opened = "require"
    if core_so and core_so ~= "" then
      dm = assert(package.loadlib(core_so, "luaopen_deepmoon"))()
      opened = "core.so"
    else
      dm = require "deepmoon"
    end
    local model = assert(dm.nn.load_model(assert(os.getenv("DM_MODEL"), "DM_MODEL is not set")))
    return { dm = dm, model = model, opened = opened }
  end)
  if not ok then return answer(500, '{"error":' .. json_string(res) .. '}') end
  state = res
  package.loaded[KEY] = state
end
local dm, model = state.dm, state.model

-- the query: x=ROW;ROW;... with comma-separated numbers
local query = lighty.c.urldec_query(r.req_attr["uri.query"] or "")
local x = query and query.x
if type(x) ~= "string" or x == "" then
  return answer(400, '{"error":"expected /predict?x=v1,v2,..."}')
end
local rows, width = {}, nil
for row in (x .. ";"):gmatch("([^;]*);") do
  if #rows == MAX_ROWS then return answer(400, '{"error":"too many rows"}') end
  local vals = {}
  for v in (row .. ","):gmatch("([^,]*),") do
    local n = tonumber(v)
    if n == nil or n ~= n or n == math.huge or n == -math.huge then
      return answer(400, '{"error":' .. json_string("not a number: '" .. v .. "'") .. '}')
    end
    if math.abs(n) > FLOAT32_MAX then            -- it would reach the model as inf
      return answer(400, '{"error":' .. json_string("out of float32's range: '" .. v .. "'") .. '}')
    end
    vals[#vals + 1] = n
  end
  if width and #vals ~= width then
    return answer(400, '{"error":"rows of different widths"}')
  end
  width = #vals
  rows[#rows + 1] = vals
end

local ok, y = pcall(function ()
  local _ <close> = dm.no_grad()
  return model(dm.tensor(rows, { dtype = dm.float32 })):totable()   -- "1,2" is float data too
end)
if not ok then return answer(400, '{"error":' .. json_string(y) .. '}') end

local out = {}
for i, row in ipairs(y) do
  local vals = {}
  for j, v in ipairs(row) do
    if v ~= v or v == math.huge or v == -math.huge then    -- JSON has no nan or inf
      return answer(422, '{"error":"the model gave a non-finite output"}')
    end
    vals[j] = ("%.9g"):format(v)
  end
  out[i] = "[" .. table.concat(vals, ",") .. "]"
end
r.resp_header["X-Deepmoon-Opened"] = state.opened
return answer(200, '{"y":[' .. table.concat(out, ",") .. ']}')
