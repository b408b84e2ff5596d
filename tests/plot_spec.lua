-- deepmoon.plot: SVG line plots.

local dm = require "deepmoon"
local plot = require "deepmoon.plot"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local function err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", "")), tostring(e)
end

-- A small XML well-formedness check: every tag closed in order, attributes quoted and
-- unique, text and attribute values free of raw '<' and of '&' that starts no entity.
-- Returns the list of elements {name =, attrs =, text =} or raises with the reason.
local function parse_xml (s)
  local pos, stack, elements = 1, {}, {}
  local function check_text (t, where)
    local bad = t:find("<", 1, true)
    if bad then error(("raw '<' in %s"):format(where)) end
    for amp in t:gmatch("&[^;]*;?") do
      if not (amp:match("^&%a+;$") or amp:match("^&#%d+;$") or amp:match("^&#x%x+;$")) then
        error(("bad entity '%s' in %s"):format(amp, where))
      end
      local name = amp:match("^&(%a+);$")
      if name and not ({ amp = 1, lt = 1, gt = 1, quot = 1, apos = 1 })[name] then
        error(("unknown entity '%s'"):format(amp))
      end
    end
  end
  local decl = s:match("^<%?xml[^?]*%?>%s*()")
  if decl then pos = decl end
  local root_done = false
  while pos <= #s do
    local lt = s:find("<", pos, true)
    local text = s:sub(pos, (lt or #s + 1) - 1)
    if #stack == 0 and text:find("%S") then error("text outside the root element") end
    check_text(text, "text")
    if #stack > 0 then stack[#stack].text = stack[#stack].text .. text end
    if not lt then break end
    if s:sub(lt, lt + 3) == "<!--" then
      local e = s:find("-->", lt + 4, true)
      if not e then error("unclosed comment") end
      pos = e + 3
    else
      local gt = s:find(">", lt, true)
      if not gt then error("unclosed tag") end
      local tag = s:sub(lt + 1, gt - 1)
      pos = gt + 1
      local close = tag:match("^/([%w:_%-%.]+)%s*$")
      if close then
        local top = table.remove(stack)
        if not top or top.name ~= close then
          error(("</%s> closes <%s>"):format(close, top and top.name or "nothing"))
        end
        if #stack == 0 then root_done = true end
      else
        local self_closing = tag:sub(-1) == "/"
        if self_closing then tag = tag:sub(1, -2) end
        local name, rest = tag:match("^([%a_][%w:_%-%.]*)(.*)$")
        if not name then error(("bad tag <%s>"):format(tag)) end
        if #stack == 0 and root_done then error("a second root element") end
        local attrs, seen = {}, {}
        local p = 1
        while true do
          local ws, an, q, after = rest:match("^(%s*)([%a_][%w:_%-%.]*)=([\"'])()", p)
          if not an then
            if rest:sub(p):find("%S") then error(("bad attributes in <%s>: %s"):format(name, rest:sub(p))) end
            break
          end
          if ws == "" then error(("no space before attribute %s in <%s>"):format(an, name)) end
          local e = rest:find(q, after, true)
          if not e then error(("unterminated attribute %s in <%s>"):format(an, name)) end
          local v = rest:sub(after, e - 1)
          check_text(v, "attribute " .. an)
          if seen[an] then error(("attribute %s twice in <%s>"):format(an, name)) end
          seen[an] = true
          attrs[an] = v
          p = e + 1
        end
        local el = { name = name, attrs = attrs, text = "" }
        elements[#elements + 1] = el
        if not self_closing then stack[#stack + 1] = el
        elseif #stack == 0 then root_done = true end
      end
    end
  end
  if #stack > 0 then error(("<%s> is never closed"):format(stack[#stack].name)) end
  if not root_done then error("no root element") end
  return elements
end

local function unescape (s)
  return (s:gsub("&(#?%w+);", { lt = "<", gt = ">", amp = "&", quot = '"', ["#39"] = "'" }))
end

local function find_all (elements, pred)
  local out = {}
  for _, e in ipairs(elements) do if pred(e) then out[#out + 1] = e end end
  return out
end

local function npoints (pl)
  local n = 0
  for _ in pl.attrs.points:gmatch("[^%s]+") do n = n + 1 end
  return n
end

-- the polylines of series i, in order
local function series_lines (svg, i)
  local chunk = svg:match('<g class="series%-' .. i .. '"[^>]*>(.-)</g>')
  assert(chunk, "no group for series " .. i)
  local els = parse_xml("<g>" .. chunk .. "</g>")
  return find_all(els, function (e) return e.name == "polyline" end),
         find_all(els, function (e) return e.name == "circle" end)
end

describe("the XML checker itself", function ()
  it("accepts good XML and rejects bad", function ()
    parse_xml('<?xml version="1.0"?>\n<a x="1"><b/><c y="&amp;">t &lt; u</c></a>\n')
    for _, bad in ipairs({ "<a><b></a></b>", "<a>", "<a x=1/>", "<a>&</a>", '<a x="<"/>',
                           "<a/><b/>", '<a x="1" x="2"/>', "<a>x < y</a>" }) do
      assert.is_false(pcall(parse_xml, bad), bad)
    end
  end)
end)

describe("plot.line", function ()
  it("writes well-formed SVG with one polyline point per value", function ()
    local a, b = {}, {}
    for i = 1, 30 do a[i] = 2 / i; b[i] = 1 / (i + 1) end
    local svg = plot.line{ series = { { name = "xavier", y = a }, { name = "kaiming", y = b } },
                           title = "loss", xlabel = "epoch", ylabel = "loss" }
    local els = parse_xml(svg)
    assert.are.equal("svg", els[1].name)
    assert.are.equal("640", els[1].attrs.width)
    assert.are.equal("400", els[1].attrs.height)
    for i = 1, 2 do
      local lines = series_lines(svg, i)
      assert.are.equal(1, #lines)
      assert.are.equal(30, npoints(lines[1]))
    end
    -- the legend names both, and the texts include the labels
    local texts = {}
    for _, e in ipairs(els) do if e.name == "text" then texts[unescape(e.text)] = true end end
    for _, t in ipairs({ "xavier", "kaiming", "loss", "epoch" }) do
      assert.is_true(texts[t], "no text " .. t)
    end
  end)

  it("gives each series its own colour", function ()
    local series = {}
    for i = 1, 10 do series[i] = { y = { i, i + 1 } } end
    local svg = plot.line{ series = series }
    local colours = {}
    for c in svg:gmatch('<g class="series%-%d+" stroke="(#%x+)">') do
      assert.is_nil(colours[c], "colour used twice: " .. c)
      colours[c] = true
    end
    assert.is_true(svg:find('<g class="series-10" stroke="#', 1, true) ~= nil)
    svg = plot.line{ series = { { y = { 1, 2 }, color = "#123456" } } }
    assert.truthy(svg:find('<g class="series-1" stroke="#123456">', 1, true))
  end)

  it("leaves gaps at nan and inf and draws lone points as dots", function ()
    local nan = 0 / 0
    local y = { 1, 2, nan, 4, 5, 6, math.huge, 8, -math.huge }
    local svg = plot.line{ series = { { y = y, name = "gappy" } } }
    parse_xml(svg)
    local lines, dots = series_lines(svg, 1)
    assert.are.same({ 2, 3, 1 }, { npoints(lines[1]), npoints(lines[2]), npoints(lines[3]) })
    assert.are.equal(3, #lines)
    assert.are.equal(1, #dots)
    assert.is_nil(svg:find("nan", 1, true))
    assert.is_nil(svg:find("inf", 1, true))
  end)

  it("plots a single point and a series of nothing but gaps", function ()
    local svg = plot.line{ series = { { y = { 5 } } } }
    parse_xml(svg)
    local lines, dots = series_lines(svg, 1)
    assert.are.equal(1, npoints(lines[1]))
    assert.are.equal(1, #dots)
    svg = plot.line{ series = { { y = { 0 / 0, 0 / 0 } }, { y = {} } } }
    parse_xml(svg)
    assert.are.equal(0, #series_lines(svg, 1))
  end)

  it("uses the x values given, and tensors as well as lists", function ()
    local svg = plot.line{ series = { { x = dm.tensor({ 0.5, 1, 4 }), y = dm.tensor({ 3, 2, 1 }) } },
                           xlim = { 0, 4 } }
    parse_xml(svg)
    local lines = series_lines(svg, 1)
    assert.are.equal(3, npoints(lines[1]))
    -- x from 0 to 4 (xlim): the first point sits 1/8 of the way, the last at the right edge
    local xs = {}
    for x in lines[1].attrs.points:gmatch("([%d%.]+),") do xs[#xs + 1] = tonumber(x) end
    local els = parse_xml(svg)
    local frame = find_all(els, function (e)
      return e.name == "rect" and e.attrs.fill == nil and e.attrs.x ~= "0"
    end)[1]
    local left, width = tonumber(frame.attrs.x), tonumber(frame.attrs.width)
    assert.is_true(math.abs(xs[1] - (left + width / 8)) < 0.02)
    assert.is_true(math.abs(xs[3] - (left + width)) < 0.02)
  end)

  it("escapes text", function ()
    local svg = plot.line{ series = { { name = 'a < b & "c"', y = { 1, 2 } } },
                           title = "Tom's <plot>", xlabel = "x & y" }
    parse_xml(svg)
    assert.truthy(svg:find("a &lt; b &amp; &quot;c&quot;", 1, true))
    assert.truthy(svg:find("Tom&#39;s &lt;plot&gt;", 1, true))
    assert.truthy(svg:find("x &amp; y", 1, true))
  end)

  it("puts ticks on round numbers", function ()
    local a0, a1, ticks, labels = plot._linear_ticks(0.02, 2.3, 6)
    assert.are.equal(0, a0)
    assert.are.equal(2.5, a1)
    assert.are.same({ "0.0", "0.5", "1.0", "1.5", "2.0", "2.5" }, labels)
    assert.are.equal(6, #ticks)
    -- epochs 1..30: whole numbers
    _, _, _, labels = plot._linear_ticks(1, 30, 6, false, true)
    assert.are.same({ "0", "5", "10", "15", "20", "25", "30" }, labels)
    _, _, _, labels = plot._linear_ticks(1, 3, 6, false, true)
    assert.are.same({ "1", "2", "3" }, labels)
    _, _, _, labels = plot._linear_ticks(-0.3, 0.3, 6)
    assert.are.same({ "-0.3", "-0.2", "-0.1", "0.0", "0.1", "0.2", "0.3" }, labels)
    _, _, _, labels = plot._linear_ticks(0, 3e6, 4)
    assert.are.same({ "0", "1e6", "2e6", "3e6" }, labels)
    -- log: whole decades, 2 and 5 in between when there are few
    local e0, e1
    e0, e1, _, labels = plot._log_ticks(0.004, 0.9)
    assert.are.same({ -3, 0 }, { e0, e1 })
    assert.are.same({ "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1" },
                    labels)
    _, _, _, labels = plot._log_ticks(1e-8, 1e4)
    assert.are.same({ "1e-8", "1e-6", "1e-4", "0.01", "1", "100", "10000" }, labels)
  end)

  it("draws a log axis and drops values that are not positive on it", function ()
    local svg = plot.line{ series = { { y = { 1, 0.1, 0, 0.01, -1, 0.001 } } }, log_y = true,
                           ylim = { 1e-4, 10 } }
    parse_xml(svg)
    local lines = series_lines(svg, 1)
    assert.are.same({ 2, 1, 1 }, { npoints(lines[1]), npoints(lines[2]), npoints(lines[3]) })
  end)

  it("writes the file given as path, or returns nil and a message", function ()
    local path = os.tmpname()
    local svg = plot.line{ series = { { y = { 1, 2, 3 } } }, path = path, width = 300, height = 200 }
    local f = assert(io.open(path))
    assert.are.equal(svg, f:read("a"))
    f:close()
    os.remove(path)
    local r, msg = plot.line{ series = { { y = { 1 } } }, path = "/nonexistent/dir/x.svg" }
    assert.is_nil(r)
    assert.are.equal("plot.line: /nonexistent/dir/x.svg: No such file or directory", msg)
  end)

  it("rejects bad options", function ()
    assert.are.equal("plot.line: unknown option 'colour'", err(plot.line, { series = {}, colour = 1 }))
    assert.are.equal("plot.line: series must be a list of series tables {y = ..., x = ..., name = ...}",
                     err(plot.line, {}))
    assert.are.equal("plot.line: series[1] has 2 x values and 3 y values",
                     err(plot.line, { series = { { x = { 1, 2 }, y = { 1, 2, 3 } } } }))
    assert.are.equal("plot.line: series[1].y[2] is a string, expected a number",
                     err(plot.line, { series = { { y = { 1, "2" } } } }))
    assert.are.equal("plot.line: series[1]: unknown field 'colour'",
                     err(plot.line, { series = { { y = { 1 }, colour = "red" } } }))
    assert.are.equal("plot.line: series[1].y must be 1-D, got [2 x 2]",
                     err(plot.line, { series = { { y = dm.zeros(2, 2) } } }))
    assert.are.equal("plot.line: ylim must be {lo, hi} with lo < hi",
                     err(plot.line, { series = {}, ylim = { 2, 1 } }))
    local _, full = err(function () local s = plot.line{ series = { { y = { "a" } } } }; return s end)
    assert.truthy(full:match("^[^:]*plot_spec%.lua:%d+: "), full)
  end)

  it("is dm.plot and adds no globals", function ()
    assert.are.equal(plot, dm.plot)
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.plot"] = nil
    require "deepmoon.plot"
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
