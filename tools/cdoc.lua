-- SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
-- tools/cdoc.lua HEADER OUT.html -- the C API reference page, made from core/deepmoon.h as
-- it is written: its opening prose block, the section rules (/* ---- errors and memory --- */),
-- the comment blocks between declarations, and each declaration with its trailing comment.
-- Every function declared gets an anchor (id="dm_matmul") and a line in the index at the
-- end.  `make doc` runs it into build/doc/c_api.html; plain Lua 5.4, no library.

local input, output = arg[1], arg[2]
if not input or not output then
  io.stderr:write("usage: lua5.4 tools/cdoc.lua core/deepmoon.h out.html\n")
  os.exit(2)
end

local f = assert(io.open(input, "r"))
local lines = {}
for l in f:lines() do lines[#lines + 1] = l end
f:close()

local function esc (s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- the text of a comment: "/*", "*/" and the leading " * " of its lines removed
local function comment_text (raw)
  local s = raw:gsub("^%s*/%*+", ""):gsub("%*+/%s*$", "")
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do
    out[#out + 1] = (l:gsub("^%s*%* ?", "", 1):gsub("^%s%s%s", "", 1))
  end
  while out[1] and not out[1]:find("%S") do table.remove(out, 1) end
  while out[#out] and not out[#out]:find("%S") do table.remove(out) end
  return table.concat(out, "\n")
end

local body, sections, index, seen = {}, {}, {}, {}
local function emit (s) body[#body + 1] = s end

-- prose: blank-line separated paragraphs; indented lines (code, lists) kept as they are
local function prose (text)
  local para, pre = {}, {}
  local function flush_para ()
    if #para > 0 then emit("<p>" .. esc(table.concat(para, " ")) .. "</p>") end
    para = {}
  end
  local function flush_pre ()
    if #pre > 0 then emit("<pre>" .. esc(table.concat(pre, "\n")) .. "</pre>") end
    pre = {}
  end
  for l in (text .. "\n"):gmatch("(.-)\n") do
    if l:match("^%s%s") then
      flush_para(); pre[#pre + 1] = l
    elseif not l:find("%S") then
      flush_para(); flush_pre()
    else
      flush_pre(); para[#para + 1] = l
    end
  end
  flush_para(); flush_pre()
end

local i, n = 1, #lines
local first_block = true

-- a comment starting at line i; returns its raw text and the line after it
local function read_comment (k)
  local buf = { lines[k] }
  while not buf[#buf]:find("%*/") and k < n do
    k = k + 1
    buf[#buf + 1] = lines[k]
  end
  return table.concat(buf, "\n"), k + 1
end

local function strip_comments (s)
  return (s:gsub("/%*.-%*/", ""):gsub("//[^\n]*", ""))
end

while i <= n do
  local l = lines[i]
  if l:match("^%s*$") then
    i = i + 1
  elseif l:match("^%s*/%*") then
    local raw, nxt = read_comment(i)
    i = nxt
    local first_line = raw:match("^[^\n]*")
    local title = first_line:match("^%s*/%*%s*%-%-%-%-%s*(.-)[%s%-]*%*?/?%s*$")
    if first_block then
      first_block = false
      local text = comment_text(raw):gsub("^SPDX[^\n]*\n", "")
      emit('<section id="intro">')
      prose(text)
      emit("</section>")
    elseif title then
      -- a section rule; its comment may go on past the rule line
      local rest = raw:match("^[^\n]*\n(.*)")
      local id = "s" .. (#sections + 1)
      sections[#sections + 1] = { id = id, title = title }
      emit(('<h2 id="%s">%s</h2>'):format(id, esc(title)))
      if rest then
        local t = comment_text("/*" .. rest)
        if t:find("%S") then prose(t) end
      end
    else
      emit('<div class="note">')
      prose(comment_text(raw))
      emit("</div>")
    end
  elseif l:match("^%s*#") then
    -- preprocessor: show the version and limits, skip the guards
    if l:match("^#define DM_") then
      emit('<pre class="decl">' .. esc(l) .. "</pre>")
    end
    while lines[i] and lines[i]:match("\\%s*$") do i = i + 1 end
    i = i + 1
  elseif l:match('^extern "C"') or l:match("^}%s*$") and not l:match(";") then
    i = i + 1
  else
    -- a declaration: up to the ';' that closes it at brace depth 0, with its comments
    local buf, depth = {}, 0
    local done = false
    while i <= n and not done do
      local line = lines[i]
      buf[#buf + 1] = line
      local code = strip_comments(line):gsub("/%*.*$", "")
      for c in code:gmatch("[{}]") do depth = depth + (c == "{" and 1 or -1) end
      -- an open comment at the end of the line goes on
      if line:find("/%*") and not line:match("/%*.*%*/") then
        repeat
          i = i + 1
          buf[#buf + 1] = lines[i]
        until not lines[i] or lines[i]:find("%*/")
      end
      if depth <= 0 and code:find(";%s*$") then done = true end
      i = i + 1
    end
    local decl = table.concat(buf, "\n")
    local code = strip_comments(decl)
    -- the trailing comments (after the code on its lines)
    local notes = {}
    local is_type = code:match("^%s*typedef") or code:match("^%s*struct") or code:match("^%s*enum")
    if not is_type then
      for c in decl:gmatch("/%*(.-)%*/") do notes[#notes + 1] = comment_text("/*" .. c .. "*/") end
    end
    local name = code:match("([%w_]+)%s*%(") or nil
    if name and code:match("%(%s*%*%s*[%w_]+%s*%)%s*%(") then
      name = code:match("%(%s*%*%s*([%w_]+)%s*%)")          -- a function pointer type
    end
    if is_type then name = code:match("([%w_]+)%s*;%s*$") or name end
    local id = name and (' id="' .. esc(name) .. '"') or ""
    if name and not is_type and not seen[name] then index[#index + 1] = name end
    if name then
      if seen[name] then id = "" end
      seen[name] = true
    end
    emit(('<div class="decl"%s><pre>%s</pre>'):format(id, esc(is_type and decl
      or (code:gsub("%s+$", "")))))
    if #notes > 0 then
      emit("<p>" .. esc((table.concat(notes, " "):gsub("%s+", " "))) .. "</p>")
    end
    emit("</div>")
  end
end

table.sort(index)
local out = assert(io.open(output, "w"))
out:write([[<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>deepmoon C API (core/deepmoon.h)</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.4; }
pre { background: #f4f4f4; padding: .4em .6em; overflow-x: auto; }
.decl pre { margin: .6em 0 .1em 0; } .decl p { margin: 0 0 .6em 1.5em; color: #333; }
.note { border-left: 3px solid #ccc; padding-left: .8em; }
nav a, .index a { margin-right: 1em; }
</style></head><body>
<h1>deepmoon C API</h1>
<p>Generated by tools/cdoc.lua from <code>core/deepmoon.h</code>; the Lua API is
<a href="index.html">the main reference</a>.</p>
<nav>]])
for _, s in ipairs(sections) do
  out:write(('<a href="#%s">%s</a> '):format(s.id, esc(s.title)))
end
out:write('<a href="#index">index</a></nav>\n')
out:write(table.concat(body, "\n"))
out:write('\n<h2 id="index">Index of functions</h2>\n<p class="index">')
for _, name in ipairs(index) do
  out:write(('<a href="#%s">%s</a> '):format(esc(name), esc(name)))
end
out:write("</p>\n</body></html>\n")
out:close()
io.write(("cdoc: %s: %d sections, %d functions\n"):format(output, #sections, #index))
