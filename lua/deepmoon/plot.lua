--- deepmoon.plot: line plots of training curves as SVG files, with nothing to install.
--
--   local plot = require "deepmoon.plot"            -- or dm.plot
--   plot.line{
--     series = { {name = "train", y = train_losses}, {name = "test", y = test_losses} },
--     title = "loss", xlabel = "epoch", ylabel = "cross-entropy", log_y = true,
--     path = "loss.svg",
--   }
--
-- A series is {y = values, x = values (default 1, 2, ...), name = "legend text",
-- color = "#rrggbb"}; values are Lua lists or 1-D tensors.  A value that is nan or infinite
-- (or not positive, on a log axis) leaves a gap in its line; a point with no neighbour on
-- either side is drawn as a dot.  Ticks fall on round numbers (1, 2 or 5 times a power of
-- ten); the legend lists the series in their colours.

local check = require "deepmoon.check"

local M = {}

-- Tableau's ten colours: distinct, and readable by most colour-blind viewers
local palette = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" }

local function escape (s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                         ['"'] = "&quot;", ["'"] = "&#39;" }))
end
M._escape = escape

local function finite (v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

local function log10 (v) return math.log(v, 10) end

-- ---------------------------------------------------------------------------------------
-- ticks

-- a round step near range / target: 1, 2 or 5 times a power of ten
local function nice_step (range, target)
  local raw = range / target
  local mag = 10 ^ math.floor(log10(raw))
  local f = raw / mag
  local m = (f < 1.5 and 1) or (f < 3 and 2) or (f < 7 and 5) or 10
  return m * mag
end

-- tick labels with as many decimals as the step needs, and no "-0"
local function step_formatter (step, lo, hi)
  local big = math.max(math.abs(lo), math.abs(hi))
  if big >= 1e6 or step < 1e-4 then
    return function (v) return (("%.3g"):format(v):gsub("e%+?(%-?)0*(%d)", "e%1%2")) end
  end
  local decimals = math.max(0, -math.floor(log10(step) + 1e-9))
  local fmt = "%." .. decimals .. "f"
  return function (v)
    local s = fmt:format(v)
    if s:match("^%-0%.?0*$") then s = s:sub(2) end
    return s
  end
end

--- Linear ticks for data in [lo, hi]: returns axis_lo, axis_hi, ticks, labels.  With
--- `fixed` the axis is [lo, hi] exactly; otherwise it widens to the nearest ticks.  `integer`
--- keeps the step at 1 or more (for epoch numbers).
local function linear_ticks (lo, hi, target, fixed, integer)
  if hi - lo <= 0 then
    -- one value: a unit-wide window around it (or 10% of its size)
    local pad = lo ~= 0 and math.abs(lo) * 0.1 or 1
    if integer then pad = math.max(1, math.ceil(pad)) end
    lo, hi = lo - pad, hi + pad
  end
  local step = nice_step(hi - lo, target)
  if integer and step < 1 then step = 1 end
  local a0, a1 = lo, hi
  if not fixed then
    a0 = math.floor(lo / step + 1e-9) * step
    a1 = math.ceil(hi / step - 1e-9) * step
  end
  local ticks, labels = {}, {}
  local fmt = step_formatter(step, a0, a1)
  local k0, k1 = math.ceil(a0 / step - 1e-9), math.floor(a1 / step + 1e-9)
  for k = k0, k1 do
    local v = k * step
    ticks[#ticks + 1] = v
    labels[#labels + 1] = fmt(v)
  end
  return a0, a1, ticks, labels
end

local function pow10_label (e)
  if e >= -3 and e <= 4 then return (("%.4f"):format(10 ^ e):gsub("%.?0+$", "")) end
  return "1e" .. e
end

--- Log ticks for positive data in [lo, hi]: the axis spans whole decades (as log10 values).
local function log_ticks (lo, hi, fixed)
  local e0, e1 = log10(lo), log10(hi)
  if not fixed then
    e0 = math.floor(e0 + 1e-9)
    e1 = math.ceil(e1 - 1e-9)
    if e1 <= e0 then e1 = e0 + 1 end
  elseif e1 <= e0 then
    e0, e1 = e0 - 1, e1 + 1
  end
  local decades = e1 - e0
  local ticks, labels = {}, {}
  local every = math.max(1, math.ceil(decades / 8))
  for e = math.ceil(e0 - 1e-9), math.floor(e1 + 1e-9) do
    if e % every == 0 then
      ticks[#ticks + 1] = e
      labels[#labels + 1] = pow10_label(e)
    end
    if decades <= 3 then
      -- up to three decades: 2 and 5 times each as well
      for _, m in ipairs({ 2, 5 }) do
        local v = e + log10(m)
        if v >= e0 - 1e-9 and v <= e1 + 1e-9 then
          ticks[#ticks + 1] = v
          local s = pow10_label(e)
          labels[#labels + 1] = s:find("e") and (m .. "e" .. e) or
                                (("%.4f"):format(m * 10 ^ e):gsub("%.?0+$", ""))
        end
      end
    end
  end
  return e0, e1, ticks, labels
end

M._linear_ticks = linear_ticks
M._log_ticks = log_ticks

-- ---------------------------------------------------------------------------------------
-- input checking

-- the options; true: any value, or checked in M.line
local OPTIONS = { series = true, title = true, xlabel = true, ylabel = true, log_y = true,
                  width = true, height = true, path = "string", xlim = true, ylim = true,
                  legend = true }
local known_series = { y = true, x = true, name = true, color = true }
local legend_places = { ["top-right"] = true, ["top-left"] = true, ["bottom-right"] = true,
                        ["bottom-left"] = true }

-- a list of numbers from a Lua list or a tensor
local function values_of (v, what)
  if type(v) == "table" and getmetatable(v) == nil then
    for i = 1, #v do
      if type(v[i]) ~= "number" then
        error(("plot.line: %s[%d] is a %s, expected a number"):format(what, i, type(v[i])), 3)
      end
    end
    return v
  end
  if check.is_tensor(v) then
    if v:dim() > 1 then
      error(("plot.line: %s must be 1-D, got [%s]"):format(what, table.concat(v:size(), " x ")), 3)
    end
    return v:values()
  end
  error(("plot.line: %s must be a list of numbers or a 1-D tensor, got %s")
        :format(what, check.typename(v)), 3)
end

local function check_limits (name, v)
  if v == nil then return nil end
  if type(v) ~= "table" or not finite(v[1]) or not finite(v[2]) or v[1] >= v[2] then
    error(("plot.line: %s must be {lo, hi} with lo < hi"):format(name), 3)
  end
  return v
end

-- ---------------------------------------------------------------------------------------
-- drawing

local function num (v) return (("%.2f"):format(v):gsub("%.?0+$", "")) end

local function text_width (s, size)
  -- average advance of a sans-serif font: a little over half the font size
  return (utf8.len(s) or #s) * size * 0.6
end

--- plot.line(opts) -> svg text, or nil, message when opts.path cannot be written.
--- Options: series (required, see the top of this file), title, xlabel, ylabel, log_y
--- (default false), xlim / ylim ({lo, hi}; default: the data's range widened to round
--- ticks), legend ("top-right" (default), "top-left", "bottom-right", "bottom-left" or
--- false), width (640), height (400), path (a file to write the SVG to).
function M.line (opts)
  if type(opts) ~= "table" then      -- required: series has no default
    error(("plot.line: expected an options table, got %s"):format(check.typename(opts)), 2)
  end
  check.options("plot.line", opts, OPTIONS)
  if type(opts.series) ~= "table" then
    error("plot.line: series must be a list of series tables {y = ..., x = ..., name = ...}", 2)
  end
  local W = opts.width or 640
  local H = opts.height or 400
  if not finite(W) or not finite(H) or W < 100 or H < 80 then
    error(("plot.line: width and height must be at least 100 and 80, got %s and %s")
          :format(tostring(W), tostring(H)), 2)
  end
  local legend = opts.legend
  if legend == nil or legend == true then legend = "top-right" end
  if legend ~= false and not legend_places[legend] then
    error(("plot.line: legend must be top-right, top-left, bottom-right, bottom-left or false, "
           .. "got %s"):format(tostring(legend)), 2)
  end
  local log_y = opts.log_y == true
  local xlim = check_limits("xlim", opts.xlim)
  local ylim = check_limits("ylim", opts.ylim)
  if log_y and ylim and ylim[1] <= 0 then
    error("plot.line: ylim must be positive with log_y", 2)
  end

  -- gather the points; a point is drawable when x and y are finite (and y > 0 on a log axis)
  local series = {}
  local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
  local all_int_x = true
  for i, s in ipairs(opts.series) do
    if type(s) ~= "table" then
      error(("plot.line: series[%d] must be a table {y = ..., name = ...}, got %s"):format(i, type(s)), 2)
    end
    for k in pairs(s) do
      if not known_series[k] then
        error(("plot.line: series[%d]: unknown field '%s'"):format(i, tostring(k)), 2)
      end
    end
    if s.y == nil then error(("plot.line: series[%d] has no y values"):format(i), 2) end
    local ys = values_of(s.y, ("series[%d].y"):format(i))
    local xs
    if s.x ~= nil then
      xs = values_of(s.x, ("series[%d].x"):format(i))
      if #xs ~= #ys then
        error(("plot.line: series[%d] has %d x values and %d y values"):format(i, #xs, #ys), 2)
      end
    end
    if s.color ~= nil and (type(s.color) ~= "string" or not s.color:match("^#%x%x%x%x?%x?%x?$")) then
      error(("plot.line: series[%d].color must be '#rrggbb', got %s"):format(i, tostring(s.color)), 2)
    end
    local pts = {}
    for j = 1, #ys do
      local x = xs and xs[j] or j
      local y = ys[j]
      local ok = finite(x) and finite(y) and (not log_y or y > 0)
      if ok then
        pts[j] = { x, log_y and log10(y) or y }
        if x < xmin then xmin = x end
        if x > xmax then xmax = x end
        if y < ymin then ymin = y end
        if y > ymax then ymax = y end
        if math.type(x) ~= "integer" and x ~= math.floor(x) then all_int_x = false end
      end
    end
    series[i] = { name = s.name and tostring(s.name) or nil, n = #ys, pts = pts,
                  color = s.color or palette[(i - 1) % #palette + 1] }
  end
  if xmin > xmax then xmin, xmax = 1, 2 end          -- nothing to draw: empty axes
  if ymin > ymax then ymin, ymax = log_y and 1 or 0, log_y and 10 or 1 end

  -- layout
  local font, title_font = 12, 15
  local top = opts.title and 40 or 16
  local bottom = opts.xlabel and 54 or 34
  local right = 20
  local x0, x1, xticks, xlabels
  if xlim then
    x0, x1, xticks, xlabels = linear_ticks(xlim[1], xlim[2], math.max(2, W / 100), true, all_int_x)
  else
    x0, x1, xticks, xlabels = linear_ticks(xmin, xmax, math.max(2, W / 100), false, all_int_x)
  end
  local y0, y1, yticks, ylabels
  if log_y then
    y0, y1, yticks, ylabels = log_ticks(ylim and ylim[1] or ymin, ylim and ylim[2] or ymax, ylim ~= nil)
  elseif ylim then
    y0, y1, yticks, ylabels = linear_ticks(ylim[1], ylim[2], math.max(2, H / 60), true, false)
  else
    y0, y1, yticks, ylabels = linear_ticks(ymin, ymax, math.max(2, H / 60), false, false)
  end
  local label_w = 0
  for _, s in ipairs(ylabels) do label_w = math.max(label_w, text_width(s, font)) end
  local left = math.ceil(label_w) + 14 + (opts.ylabel and 22 or 4)
  local pw, ph = W - left - right, H - top - bottom
  if pw < 20 or ph < 20 then
    error(("plot.line: a %sx%s image leaves no room for the plot"):format(num(W), num(H)), 2)
  end
  local function sx (x) return left + (x - x0) / (x1 - x0) * pw end
  local function sy (y) return top + ph - (y - y0) / (y1 - y0) * ph end

  local out = {}
  local function add (...) out[#out + 1] = table.concat({ ... }) end
  add('<?xml version="1.0" encoding="UTF-8"?>')
  add('<svg xmlns="http://www.w3.org/2000/svg" width="', num(W), '" height="', num(H),
      '" viewBox="0 0 ', num(W), ' ', num(H), '" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="',
      font, '">')
  add('<rect x="0" y="0" width="', num(W), '" height="', num(H), '" fill="white"/>')
  add('<defs><clipPath id="plot-area"><rect x="', num(left), '" y="', num(top), '" width="',
      num(pw), '" height="', num(ph), '"/></clipPath></defs>')
  if opts.title then
    add('<text x="', num(W / 2), '" y="', num(top / 2 + 6), '" text-anchor="middle" font-size="',
        title_font, '" font-weight="bold">', escape(opts.title), '</text>')
  end

  -- grid and ticks
  add('<g class="grid" stroke="#e5e5e5" stroke-width="1">')
  for _, v in ipairs(xticks) do
    add('<line x1="', num(sx(v)), '" y1="', num(top), '" x2="', num(sx(v)), '" y2="', num(top + ph), '"/>')
  end
  for _, v in ipairs(yticks) do
    add('<line x1="', num(left), '" y1="', num(sy(v)), '" x2="', num(left + pw), '" y2="', num(sy(v)), '"/>')
  end
  add('</g>')
  add('<g class="axes" stroke="#333333" stroke-width="1" fill="none">')
  add('<rect x="', num(left), '" y="', num(top), '" width="', num(pw), '" height="', num(ph), '"/>')
  for _, v in ipairs(xticks) do
    add('<line x1="', num(sx(v)), '" y1="', num(top + ph), '" x2="', num(sx(v)), '" y2="', num(top + ph + 5), '"/>')
  end
  for _, v in ipairs(yticks) do
    add('<line x1="', num(left - 5), '" y1="', num(sy(v)), '" x2="', num(left), '" y2="', num(sy(v)), '"/>')
  end
  add('</g>')
  add('<g class="tick-labels" fill="#333333">')
  for i, v in ipairs(xticks) do
    add('<text x="', num(sx(v)), '" y="', num(top + ph + 8 + font), '" text-anchor="middle">',
        escape(xlabels[i]), '</text>')
  end
  for i, v in ipairs(yticks) do
    add('<text x="', num(left - 8), '" y="', num(sy(v) + font * 0.35), '" text-anchor="end">',
        escape(ylabels[i]), '</text>')
  end
  add('</g>')
  if opts.xlabel then
    add('<text x="', num(left + pw / 2), '" y="', num(H - 10), '" text-anchor="middle">',
        escape(opts.xlabel), '</text>')
  end
  if opts.ylabel then
    local cx, cy = 14, top + ph / 2
    add('<text x="', num(cx), '" y="', num(cy), '" text-anchor="middle" transform="rotate(-90 ',
        num(cx), ' ', num(cy), ')">', escape(opts.ylabel), '</text>')
  end

  -- the curves: one polyline per run of drawable points
  add('<g class="series" clip-path="url(#plot-area)" fill="none" stroke-width="2" ',
      'stroke-linejoin="round" stroke-linecap="round">')
  for i, s in ipairs(series) do
    add('<g class="series-', i, '" stroke="', s.color, '">')
    local j = 1
    while j <= s.n do
      if s.pts[j] then
        local run = {}
        local k = j
        while k <= s.n and s.pts[k] do
          run[#run + 1] = num(sx(s.pts[k][1])) .. "," .. num(sy(s.pts[k][2]))
          k = k + 1
        end
        add('<polyline points="', table.concat(run, " "), '"/>')
        if #run == 1 then
          local p = s.pts[j]
          add('<circle cx="', num(sx(p[1])), '" cy="', num(sy(p[2])), '" r="3" fill="', s.color,
              '" stroke="none"/>')
        end
        j = k
      else
        j = j + 1
      end
    end
    add('</g>')
  end
  add('</g>')

  -- legend: one entry per named series (all of them when there are several)
  local entries = {}
  for i, s in ipairs(series) do
    if s.name or #series > 1 then entries[#entries + 1] = { s.name or ("series " .. i), s.color } end
  end
  if legend and #entries > 0 then
    local lw = 0
    for _, e in ipairs(entries) do lw = math.max(lw, text_width(e[1], font)) end
    local bw, row = lw + 44, font + 8
    local bh = #entries * row + 8
    local bx = legend:find("left") and left + 10 or left + pw - 10 - bw
    local by = legend:find("top") and top + 10 or top + ph - 10 - bh
    add('<g class="legend">')
    add('<rect x="', num(bx), '" y="', num(by), '" width="', num(bw), '" height="', num(bh),
        '" fill="white" fill-opacity="0.85" stroke="#bbbbbb"/>')
    for k, e in ipairs(entries) do
      local cy = by + 4 + (k - 0.5) * row
      add('<line x1="', num(bx + 8), '" y1="', num(cy), '" x2="', num(bx + 30), '" y2="', num(cy),
          '" stroke="', e[2], '" stroke-width="2"/>')
      add('<text x="', num(bx + 36), '" y="', num(cy + font * 0.35), '">', escape(e[1]), '</text>')
    end
    add('</g>')
  end
  add('</svg>')
  local svg = table.concat(out, "\n") .. "\n"

  if opts.path ~= nil then
    local f, err = io.open(opts.path, "w")
    if not f then return nil, "plot.line: " .. err end
    local ok, werr = f:write(svg)
    f:close()
    if not ok then return nil, "plot.line: " .. tostring(werr) end
  end
  return svg
end

return M
