--- deepmoon.nn.vision_check: errors of the vision layers in the layer's own terms.
--
-- A layer (MaxPool1d, Conv2d, ...) runs its functional form or the C op; when that fails,
-- the message must name the layer, not the function it happens to call (max_pool2d), and
-- the shapes as the layer sees them (a 1-d pool runs the 2-d op on [N x C x 1 x L]).  The
-- success path costs one pcall: only a failure is examined.
--
--   local vc = require "deepmoon.nn.vision_check"
--   local y, i = vc.call("MaxPool1d", "max_pool2d", problem, F._maxpool, ...)
--
-- vc.call runs f(...); on an error it asks problem(...) (if given, with f's arguments) for
-- the layer's own
-- message ("MaxPool1d: input [1 x 3 x 2] is too small for kernel_size 3 ..."), else it
-- replaces the leading "fname:" of the error (after its position) by "Layer:".  Either is
-- raised at the caller of the layer (forward must call vc.call, not tail-call it).

local format = require "deepmoon.format"

local M = {}

--- The shape of tensor x as "[8 x 1 x 28 x 28]".
function M.shape (x) return format.shape_str(x:size()) end

--- A size list as the messages print it: "3" for one entry, "(3, 5)" for more.
function M.tuple (v)
  if #v == 1 then return tostring(v[1]) end
  return "(" .. table.concat(v, ", ") .. ")"
end

-- the message without its "file:line: " position
local function strip (msg)
  return (msg:gsub("^[^\n]-%.lua:%d+: ", "", 1))
end

--- Rename an error message: its leading "fname:" (or "fname " as in "pixel_shuffle expects
--- ...") becomes "layer:", its position dropped; fname may be a list of names.  Returns the
--- new message, or nil when it names none of them.
function M.rename (layer, fname, msg)
  if type(msg) ~= "string" then return nil end
  local body = strip(msg)
  for _, f in ipairs(type(fname) == "table" and fname or { fname }) do
    if body:sub(1, #f + 1) == f .. ":" then return layer .. body:sub(#f + 1) end
    if body:sub(1, #f + 1) == f .. " " then return layer .. ":" .. body:sub(#f + 1) end
  end
  return nil
end

-- raise msg at the caller of the layer: raise, vc.call, the layer's forward (which the
-- module's __call tail-calls), the caller
local function raise (msg)
  error(msg, 4)
end

--- Run f(...) for layer: on an error, problem(...) (a function of f's arguments returning
--- the layer's message or nil) or the renamed message.  Returns f's first two results.
function M.call (layer, fname, problem, f, ...)
  local ok, a, b = pcall(f, ...)
  if ok then return a, b end
  if problem then
    local ok2, msg = pcall(problem, ...)
    if ok2 and msg then raise(msg) end
  end
  local renamed = M.rename(layer, fname, a)
  if renamed then raise(renamed) end
  error(a, 0)             -- someone else's error (out of memory, a hook): as it was
end

-- ---- pooling --------------------------------------------------------------------------------

--- The problem with pooling x over its last n dims (1 or 2) with sizes k, s, p (lists of n)
--- and dilation d (a list, or nil for average pooling), as layer `name` words it, or nil.
--- Output sizes follow PyTorch's pooling_output_shape (ceil_mode: a last window must start
--- inside the input or its left padding).
function M.pool_problem (name, n, x, k, s, p, d, ceil_mode)
  local dims = x:dim()
  if dims ~= n + 1 and dims ~= n + 2 then
    return ("%s: expected %dD or %dD input, got %s"):format(name, n + 1, n + 2, M.shape(x))
  end
  d = d or (n == 1 and { 1 } or { 1, 1 })
  for i = 1, n do
    if k[i] < 1 or s[i] < 1 or d[i] < 1 or p[i] < 0 then
      return ("%s: kernel_size, stride and dilation must be greater than zero and padding " ..
              "non-negative, got kernel_size %s, stride %s, padding %s, dilation %s (input %s)")
              :format(name, M.tuple(k), M.tuple(s), M.tuple(p), M.tuple(d), M.shape(x))
    end
    if p[i] > k[i] // 2 then
      return ("%s: pad should be at most half of kernel size, but got padding %s and " ..
              "kernel_size %s (input %s)"):format(name, M.tuple(p), M.tuple(k), M.shape(x))
    end
  end
  for i = 1, dims - n do
    if x:size(i) < 1 then
      return ("%s: expected non-empty batch and channel dims, got input %s"):format(name,
        M.shape(x))
    end
  end
  local out, bad = {}, false
  for i = 1, n do
    local len = x:size(dims - n + i)
    local span = len + 2 * p[i] - d[i] * (k[i] - 1) - 1
    local o
    if span < 0 then o = 0
    else
      o = (ceil_mode and (span + s[i] - 1) // s[i] or span // s[i]) + 1
      if ceil_mode and (o - 1) * s[i] >= len + p[i] then o = o - 1 end
    end
    out[i] = o
    if o < 1 then bad = true end
  end
  if bad then
    return ("%s: input %s is too small for kernel_size %s with padding %s and dilation %s: " ..
            "output size %s"):format(name, M.shape(x), M.tuple(k), M.tuple(p), M.tuple(d),
                                     table.concat(out, " x "))
  end
  return nil
end

--- The problem with adaptive pooling x ([N x] C x H x W) to output_size o (a list of 2 whose
--- false entries keep the input's size), as layer `name` words it, or nil.
function M.adaptive_problem (name, x, o)
  local dims = x:dim()
  if dims ~= 3 and dims ~= 4 then
    return ("%s: expected input [N x C x H x W] or [C x H x W], got %s"):format(name,
      M.shape(x))
  end
  for i = 1, dims do
    if x:size(i) < 1 then
      return ("%s: expected input with non-zero sizes, got %s"):format(name, M.shape(x))
    end
  end
  if type(o) == "number" then o = { o, o } end
  if type(o) == "table" then
    for i = 1, 2 do
      local v = o[i]
      if math.type(v) == "integer" and v < 1 then
        return ("%s: output_size must be positive, got (%s, %s) for input %s"):format(name,
          tostring(o[1] or "None"), tostring(o[2] or "None"), M.shape(x))
      end
    end
  end
  return nil
end

-- ---- convolution ------------------------------------------------------------------------------

--- The problem with convolving x by a Conv1d/Conv2d layer m (sp spatial dims) after its
--- rank and channels were checked: kernels larger than the padded input, or an output size
--- below 1; nil when none.  padding: the layer's list (or "same"/"valid").
function M.conv_problem (name, sp, x, m)
  local dims = x:dim()
  local k, dil = m.kernel_size, m.dilation
  local pad = m.padding
  if pad == "same" then return nil end
  if pad == "valid" then pad = sp == 1 and { 0 } or { 0, 0 } end
  local padded, eff, bad = {}, {}, false
  for i = 1, sp do
    padded[i] = x:size(dims - sp + i) + 2 * pad[i]
    eff[i] = dil[i] * (k[i] - 1) + 1
    if eff[i] > padded[i] then bad = true end
  end
  if bad then
    local what = "kernel_size " .. M.tuple(k)
    for i = 1, sp do
      if dil[i] ~= 1 then
        what = what .. " (dilated " .. M.tuple(eff) .. ")"
        break
      end
    end
    return ("%s: %s is larger than the padded input %s (input %s, padding %s)"):format(name,
      what, table.concat(padded, " x "), M.shape(x), M.tuple(pad))
  end
  return nil
end

--- The problem with a transposed convolution m of x: an output size below 1, or nil.
function M.conv_transpose_problem (name, x, m)
  local dims = x:dim()
  local out, bad = {}, false
  for i = 1, 2 do
    local len = x:size(dims - 2 + i)
    out[i] = (len - 1) * m.stride[i] - 2 * m.padding[i] + m.dilation[i] * (m.kernel_size[i] - 1)
             + m.output_padding[i] + 1
    if out[i] < 1 then bad = true end
  end
  if bad then
    return ("%s: output size %s is below 1 (input %s, kernel_size %s, stride %s, padding %s)")
      :format(name, table.concat(out, " x "), M.shape(x), M.tuple(m.kernel_size),
              M.tuple(m.stride), M.tuple(m.padding))
  end
  for i = 1, 2 do
    local op = m.output_padding[i]
    if op >= m.stride[i] and op >= m.dilation[i] then
      return ("%s: output_padding %s must be smaller than either stride %s or dilation %s " ..
              "(input %s)"):format(name, M.tuple(m.output_padding), M.tuple(m.stride),
                                   M.tuple(m.dilation), M.shape(x))
    end
  end
  return nil
end

-- ---- unfold, pixel shuffle, flatten -----------------------------------------------------------

local function pair (v)
  if type(v) == "table" then return { v[1], v[2] } end
  return { v, v }
end

--- The problem with unfolding x ([N x] C x H x W) into blocks, as `name` words it, or nil:
--- a kernel larger than the padded input.  Sizes: numbers or lists of 2 (checked by F.unfold).
function M.unfold_problem (name, x, kernel_size, dilation, padding)
  local dims = x:dim()
  if dims ~= 3 and dims ~= 4 then return nil end
  local k, dil, pad = pair(kernel_size), pair(dilation or 1), pair(padding or 0)
  local padded, eff, bad = {}, {}, false
  for i = 1, 2 do
    padded[i] = x:size(dims - 2 + i) + 2 * pad[i]
    eff[i] = dil[i] * (k[i] - 1) + 1
    if eff[i] > padded[i] then bad = true end
  end
  if not bad then return nil end
  local what = "kernel_size " .. M.tuple(k)
  if dil[1] ~= 1 or dil[2] ~= 1 then what = what .. " (dilated " .. M.tuple(eff) .. ")" end
  return ("%s: %s is larger than the padded input %s (input %s, padding %s)"):format(name,
    what, table.concat(padded, " x "), M.shape(x), M.tuple(pad))
end

--- The problem with pixel-shuffling x by r (shuffle: C divisible by r^2; unshuffle: H and
--- W divisible by r), as `name` words it, or nil.
function M.pixel_shuffle_problem (name, x, r, unshuffle)
  local dims = x:dim()
  if dims < 3 then
    return ("%s: expected input of at least 3 dims [* x C x H x W], got %s"):format(name,
      M.shape(x))
  end
  if unshuffle then
    if x:size(dims - 1) % r ~= 0 or x:size(dims) % r ~= 0 then
      return ("%s: expected input [* x C x H x W] with H and W divisible by " ..
              "downscale_factor %d, got %s"):format(name, r, M.shape(x))
    end
  elseif x:size(dims - 2) % (r * r) ~= 0 then
    return ("%s: expected input [* x C x H x W] with C divisible by upscale_factor^2 = %d, " ..
            "got %s"):format(name, r * r, M.shape(x))
  end
  return nil
end

--- The problem with flattening x from start_dim to end_dim (1-based, negative from the end),
--- as `name` words it, or nil.
function M.flatten_problem (name, x, start_dim, end_dim)
  local n = math.max(x:dim(), 1)
  local function norm (d) return d < 0 and n + 1 + d or d end
  local s, e = norm(start_dim), norm(end_dim)
  for _, c in ipairs({ { "start_dim", start_dim, s }, { "end_dim", end_dim, e } }) do
    if c[3] < 1 or c[3] > n then
      return ("%s: %s %d out of range for input %s (expected 1 to %d, or -%d to -1)"):format(
        name, c[1], c[2], M.shape(x), n, n)
    end
  end
  if s > e then
    return ("%s: start_dim %d comes after end_dim %d for input %s"):format(name, start_dim,
      end_dim, M.shape(x))
  end
  return nil
end

return M
