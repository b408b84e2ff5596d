--- deepmoon.data.csv: numeric CSV files into tensors.
--
--   local csv = require "deepmoon.data.csv"
--   local X, y, names = assert(csv.read_csv("data/digits/digits.csv", {label_column = "digit"}))
--   -- X is [1797 x 64], y is [1797], names[1] == "pixel_0_0", names.label == "digit"
--
-- Fields follow RFC 4180: a field may be quoted ("a, b"), a quote inside a quoted field is
-- doubled (""), and a quoted field may span lines.  Every value read into a tensor must be a
-- number (Lua's tonumber, plus nan and inf; no hexadecimal).  A file that cannot be opened gives
-- nil, message as io.open does; a bad value or a ragged row raises an error naming the file,
-- the line and the column, so that `assert` is not needed to see what went wrong.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local M = {}

-- the options; true: checked in check_opts with the values they may take
local OPTIONS = { header = true, label_column = true, columns = true, delimiter = true,
                  skip = true }

local special = { nan = 0 / 0, ["+nan"] = 0 / 0, ["-nan"] = 0 / 0,
                  inf = math.huge, ["+inf"] = math.huge, ["-inf"] = -math.huge,
                  infinity = math.huge, ["+infinity"] = math.huge, ["-infinity"] = -math.huge }

local function trim (s) return (s:match("^%s*(.-)%s*$")) end

-- a field's number, or nil when it is not one (tonumber would take "0x10" too)
local function to_number (s)
  if s:find("[xX]") then return nil end
  return tonumber(s) or special[trim(s):lower()]
end

-- Splits one record into `out` (cleared first) and returns the number of fields.  `line` may
-- end inside an open quote; then `more()` supplies the next physical line (without its
-- newline) or nil at the end of the file.  Returns nil, message for an unterminated quote.
local function split_record (line, delim, out, more)
  local n = 0
  if not line:find('"', 1, true) then
    -- the fast path: no quotes anywhere on the line
    local pos = 1
    while true do
      local i = line:find(delim, pos, true)
      n = n + 1
      if not i then out[n] = line:sub(pos); break end
      out[n] = line:sub(pos, i - 1)
      pos = i + 1
    end
    for k = n + 1, #out do out[k] = nil end
    return n
  end
  local pos, len = 1, #line
  while true do
    -- a field starts at pos; leading blanks before a quote are allowed
    local q = line:match('^[ \t]*()"', pos)
    if q then
      local parts, p = {}, q + 1
      while true do
        local close = line:find('"', p, true)
        if not close then
          parts[#parts + 1] = line:sub(p)
          local nextline = more()
          if not nextline then return nil, "unterminated quoted field" end
          parts[#parts + 1] = "\n"
          line, p, len = nextline, 1, #nextline
        elseif line:sub(close + 1, close + 1) == '"' then
          parts[#parts + 1] = line:sub(p, close)          -- "" is one quote
          p = close + 2
        else
          parts[#parts + 1] = line:sub(p, close - 1)
          p = close + 1
          break
        end
      end
      n = n + 1
      out[n] = table.concat(parts)
      -- only blanks may sit between the closing quote and the delimiter
      local after = line:match("^[ \t]*()", p)
      if after > len then break end
      if line:sub(after, after) ~= delim then
        return nil, ("field %d: text after the closing quote"):format(n)
      end
      pos = after + 1
    else
      local i = line:find(delim, pos, true)
      n = n + 1
      if not i then out[n] = line:sub(pos); break end
      out[n] = line:sub(pos, i - 1)
      pos = i + 1
    end
  end
  for k = n + 1, #out do out[k] = nil end
  return n
end

local function check_opts (opts)
  opts = check.options("read_csv", opts, OPTIONS, 3)
  local d = opts.delimiter
  if d ~= nil and (type(d) ~= "string" or #d ~= 1 or d == '"' or d == "\n" or d == "\r") then
    error(("read_csv: delimiter must be one character other than a quote or a newline, got %s")
          :format(type(d) == "string" and ("'" .. d .. "'") or type(d)), 3)
  end
  local skip = opts.skip
  if skip ~= nil and (math.type(skip) ~= "integer" or skip < 0) then
    error(("read_csv: skip must be a non-negative integer, got %s"):format(tostring(skip)), 3)
  end
  local lc = opts.label_column
  if lc ~= nil and type(lc) ~= "string" and math.type(lc) ~= "integer" then
    error(("read_csv: label_column must be a column number or a header name, got %s")
          :format(tostring(lc)), 3)
  end
  if type(lc) == "string" and opts.header == false then
    error("read_csv: label_column is a name but the file has no header (header = false)", 3)
  end
  local cols = opts.columns
  if cols ~= nil then
    if type(cols) ~= "table" or #cols == 0 then
      error("read_csv: columns must be a non-empty list of column numbers or header names", 3)
    end
    for i = 1, #cols do
      local c = cols[i]
      if type(c) ~= "string" and math.type(c) ~= "integer" then
        error(("read_csv: columns[%d] must be a column number or a header name, got %s")
              :format(i, tostring(c)), 3)
      end
      if type(c) == "string" and opts.header == false then
        error("read_csv: columns names a column but the file has no header (header = false)", 3)
      end
    end
  end
  return opts
end

-- The 1-based column number that `c` (a number, negative from the end, or a header name)
-- means in a file of `nf` fields; raises a parse error otherwise.
local function resolve_column (c, what, nf, names, fail)
  if type(c) == "string" then
    for i = 1, nf do if names[i] == c then return i end end
    fail(("%s: no column named '%s' in the header"):format(what, c))
  end
  local k = c < 0 and nf + 1 + c or c
  if k < 1 or k > nf then
    fail(("%s: column %d is out of range for %d columns"):format(what, c, nf))
  end
  return k
end

--- read_csv(path [, opts]) -> X, y, names | nil, message.
--- X is a [N x F] tensor of the feature columns, in the default floating dtype; y (when
--- opts.label_column is given) is a 1-D [N] tensor of the label column, int64 when every label
--- is an integer (as pandas reads such a column), else in the default floating dtype; names
--- lists X's column names from the header (nil with header = false), names.label naming the
--- label column.
--- Options: header (default true: the first line after `skip` holds column names),
--- label_column (a 1-based column number, negative from the end, or a header name),
--- columns (the feature columns, numbers or names, in the order wanted; default every column
--- but the label), delimiter (one character, default ","), skip (lines to ignore at the top,
--- default 0).  Blank lines are skipped; "\r\n" line ends and a UTF-8 byte-order mark are fine.
function M.read_csv (path, opts)
  if type(path) ~= "string" then
    error(("read_csv: path must be a string, got %s"):format(type(path)), 2)
  end
  opts = check_opts(opts)
  local header = opts.header ~= false
  local delim = opts.delimiter or ","
  local skip = opts.skip or 0

  local f, err = io.open(path, "rb")
  if not f then return nil, "read_csv: " .. err end

  -- a directory opens on Linux but cannot be read: say so as for a missing file
  local probe, rerr = f:read(0)
  if probe == nil and rerr then
    f:close()
    return nil, "read_csv: " .. path .. ": " .. rerr
  end
  local lineno = 0
  local lines = f:lines()
  local function nextline ()
    local l = lines()
    if l == nil then return nil end
    lineno = lineno + 1
    if lineno == 1 and l:sub(1, 3) == "\239\187\191" then l = l:sub(4) end
    if l:sub(-1) == "\r" then l = l:sub(1, -2) end
    return l
  end

  -- parse errors travel as a table so that only they are turned into a clean message
  local function fail (msg, line)
    error({ line and ("read_csv: %s:%d: %s"):format(path, line, msg)
                  or ("read_csv: %s: %s"):format(path, msg) }, 0)
  end

  local function parse ()
    for _ = 1, skip do
      if not nextline() then fail(("the file has fewer than %d lines to skip"):format(skip)) end
    end
    local fields = {}
    local function record ()
      while true do
        local l = nextline()
        if l == nil then return nil end
        if l:find("%S") then
          local start = lineno
          local n, msg = split_record(l, delim, fields, nextline)
          if not n then fail(msg, start) end
          return n, start
        end
      end
    end

    local names, nf
    local n, start
    if header then
      nf = record()
      if not nf then fail("no header line (the file is empty)") end
      names = {}
      for i = 1, nf do names[i] = trim(fields[i]) end
      n, start = record()
    else
      n, start = record()
      if not n then fail("the file is empty") end
      nf = n
    end

    local label
    if opts.label_column ~= nil then
      label = resolve_column(opts.label_column, "label_column", nf, names, fail)
    end
    local cols = {}
    if opts.columns then
      for i, c in ipairs(opts.columns) do
        cols[i] = resolve_column(c, ("columns[%d]"):format(i), nf, names, fail)
      end
    else
      for i = 1, nf do if i ~= label then cols[#cols + 1] = i end end
    end
    local F = #cols

    local X, y, rows, k = {}, {}, 0, 0
    while n do
      if n ~= nf then
        fail(("expected %d fields, got %d"):format(nf, n), start)
      end
      rows = rows + 1
      for j = 1, F do
        local c = cols[j]
        local s = fields[c]
        local v = to_number(s)
        if not v then
          if s:find("^%s*$") then fail(("column %d: missing value"):format(c), start) end
          fail(("column %d: '%s' is not a number"):format(c, s), start)
        end
        k = k + 1
        X[k] = v
      end
      if label then
        local s = fields[label]
        local v = to_number(s)
        if not v then
          if s:find("^%s*$") then fail(("column %d: missing value"):format(label), start) end
          fail(("column %d: '%s' is not a number"):format(label, s), start)
        end
        y[rows] = v
      end
      n, start = record()
    end

    local xnames
    if names then
      xnames = {}
      for j = 1, F do xnames[j] = names[cols[j]] end
      if label then xnames.label = names[label] end
    end
    return X, y, rows, F, label, xnames
  end

  local ok, X, y, rows, F, label, names = pcall(parse)
  f:close()
  if not ok then
    -- a file whose contents cannot be read as numbers fails to load: nil, message, as
    -- io.open does for a missing one; anything else is a bug and raises
    if type(X) == "table" then return nil, X[1] end
    error(X, 0)
  end
  local Xt = core.tensor(X, { dtype = core.get_default_dtype() }):view(rows, F)
  local yt = label and core.tensor(y) or nil
  return Xt, yt, names
end

return M
