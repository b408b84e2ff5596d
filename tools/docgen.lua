-- SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
-- tools/docgen.lua OUTDIR -- write the LDoc input of the API reference: one file per
-- namespace (dm, Tensor, nn, nn.functional, nn.init, optim, data, io) holding the doc
-- comment of every public name in it, as deepmoon.help finds them (the `---` blocks of the
-- Lua sources, lua/deepmoon/doc/*.lua for what is written in C).  Reading the API at run
-- time puts every name on a page, including those a source makes in a loop or by a call
-- (nn.ReLU, nn.init.zeros_), which LDoc alone cannot see.  tools/doc.sh runs it with the
-- built module on package.cpath, then LDoc over OUTDIR.

local outdir = assert(arg[1], "usage: lua5.4 tools/docgen.lua OUTDIR")
local help = require "deepmoon.help"

local PAGES = {
  { "dm", "dm", "The top table: tensor creation, math, reductions, random numbers, files, "
    .. "grad mode (`local dm = require \"deepmoon\"`)." },
  { "Tensor", "Tensor", "Tensor methods, called as `t:name(...)`; most are also `dm.name(t, ...)`." },
  { "nn", "nn", nil },
  { "nn.functional", "nn.functional", nil },
  { "nn.init", "nn.init", nil },
  { "optim", "optim", nil },
  { "data", "data", nil },
  { "io", "io", nil },
  { "autograd", "autograd", nil },
  { "nn.utils", "nn.utils", nil },
}

-- the page a public name goes on: the longest page prefix (optim.lr_scheduler -> optim)
local function page_of (name)
  local best
  for _, p in ipairs(PAGES) do
    local pre = p[1]
    if name:sub(1, #pre + 1) == pre .. "." and (not best or #pre > #best) then best = pre end
  end
  return best
end

local function comment (text)
  local out = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do
    -- the name is given by @function below; aliases and a second @function would confuse
    if not l:match("^@function") and not l:match("^@module") then
      out[#out + 1] = (l == "" and "--" or "-- " .. l)
    end
  end
  -- the block opens with ---; LDoc misreads a " -- " in that first line
  out[1] = "-" .. out[1]:gsub("(%S) %-%- ", "%1 - ")
  return table.concat(out, "\n")
end

local by_page = {}
for _, p in ipairs(PAGES) do by_page[p[1]] = {} end
for _, e in ipairs(help.api()) do
  local page = page_of(e.name)
  if page then table.insert(by_page[page], e) end
end

local total = 0
for _, p in ipairs(PAGES) do
  local name = p[1]
  if #by_page[name] == 0 then goto continue end
  local intro = p[3] or help.lookup(name) or name
  local lines = { comment(intro), "-- @module " .. name, "" }
  for _, e in ipairs(by_page[name]) do
    local text, found = help.lookup(e.name)
    if text then
      if found and found ~= e.name and not text:find("@function") then
        text = text .. "\n\n(" .. found .. ")"
      elseif found and found ~= e.name then
        text = "The same as " .. found .. ".\n" .. text
      end
      local short = e.name:sub(#name + 2)
      -- methods read Class:method on the page
      if e.kind == "method" and name ~= "Tensor" then short = short:gsub("%.([%w_]+)$", ":%1") end
      if name == "Tensor" then short = "Tensor:" .. short end
      lines[#lines + 1] = comment(text)
      lines[#lines + 1] = "-- @function " .. short
      lines[#lines + 1] = ""
      total = total + 1
    end
  end
  local f = assert(io.open(outdir .. "/" .. name .. ".lua", "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  ::continue::
end
io.write(("docgen: %d entries on %d pages in %s\n"):format(total, #PAGES, outdir))
