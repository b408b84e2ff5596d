--- deepmoon.nn.utils_rnn (nn.utils.rnn): sequences of different lengths for the recurrent
-- layers, as PyTorch's torch.nn.utils.rnn: pad_sequence, pack_padded_sequence,
-- pad_packed_sequence, pack_sequence and PackedSequence.  sorted_indices and
-- unsorted_indices are 1-based int64 tensors (PyTorch's are 0-based); batch_sizes and the
-- lengths returned are int64 tensors as PyTorch's.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local util = require "deepmoon.nn.util"

local is_tensor, typename = check.is_tensor, check.typename
local M = {}

local function shp (t) return format.shape_str(t:size()) end
local function dims_l (l) return "[" .. table.concat(l, " x ") .. "]" end

-- ---- PackedSequence ------------------------------------------------------------------------

local PackedSequence = { __name = "PackedSequence" }
PackedSequence.__index = PackedSequence

--- PackedSequence(data, batch_sizes [, sorted_indices] [, unsorted_indices]): the rows of
--- every step of a batch of sequences, longest first (what pack_padded_sequence makes).
--- data [sum(batch_sizes) x *], batch_sizes an int64 tensor [T] (non-increasing),
--- sorted_indices / unsorted_indices 1-based int64 permutations of the batch, or nil.
function M.PackedSequence (data, batch_sizes, sorted_indices, unsorted_indices)
  if not is_tensor(data) then
    error(("PackedSequence: data must be a Tensor, got %s"):format(typename(data)), 2)
  end
  if not is_tensor(batch_sizes) or batch_sizes.dtype ~= dm.int64 or batch_sizes:dim() ~= 1 then
    error(("PackedSequence: batch_sizes must be a 1-D int64 Tensor, got %s"):format(
      is_tensor(batch_sizes) and (batch_sizes.dtype.name .. " " .. shp(batch_sizes))
      or typename(batch_sizes)), 2)
  end
  for _, pair in ipairs({ { "sorted_indices", sorted_indices },
                          { "unsorted_indices", unsorted_indices } }) do
    local v = pair[2]
    if v ~= nil and (not is_tensor(v) or v.dtype ~= dm.int64 or v:dim() ~= 1) then
      error(("PackedSequence: %s must be a 1-D int64 Tensor or nil, got %s"):format(pair[1],
            typename(v)), 2)
    end
  end
  -- batch sizes that fit the data (so that every use below stays within it)
  local bs, total = batch_sizes:tolist(), 0
  for i, b in ipairs(bs) do
    if b < 1 or (i > 1 and b > bs[i - 1]) then
      error(("PackedSequence: batch_sizes must be positive and non-increasing, got %d at " ..
             "step %d"):format(b, i), 2)
    end
    total = total + b
  end
  if #bs == 0 or data:dim() < 1 or data:size(1) ~= total then
    error(("PackedSequence: expected data with %d rows (the batch sizes' sum), got %s"):format(
          total, shp(data)), 2)
  end
  for _, pair in ipairs({ { "sorted_indices", sorted_indices },
                          { "unsorted_indices", unsorted_indices } }) do
    local v = pair[2]
    if v ~= nil then
      local l, seen = v:tolist(), {}
      for _, j in ipairs(l) do
        if seen[j] or j < 1 or j > bs[1] then l = nil; break end
        seen[j] = true
      end
      if not l or #l ~= bs[1] then
        error(("PackedSequence: %s must be a permutation of 1..%d (1-based), got %s"):format(
              pair[1], bs[1], table.concat(v:tolist(), ", ")), 2)
      end
    end
  end
  if sorted_indices ~= nil and unsorted_indices == nil then
    -- the inverse permutation
    local s, inv = sorted_indices:tolist(), {}
    for i, v in ipairs(s) do inv[v] = i end
    unsorted_indices = dm.tensor(inv, { dtype = dm.int64 })
  end
  return setmetatable({ data = data, batch_sizes = batch_sizes, sorted_indices = sorted_indices,
                        unsorted_indices = unsorted_indices }, PackedSequence)
end

--- is_packed(v): is v a PackedSequence?
function M.is_packed (v) return getmetatable(v) == PackedSequence end

function PackedSequence.__tostring (p)
  return ("PackedSequence(data=%s, batch_sizes=%s)"):format(shp(p.data),
    table.concat(p.batch_sizes:tolist(), ", "))
end

-- ---- helpers -------------------------------------------------------------------------------

-- a list of tensors, read with rawlen/rawget
local function tensor_list (fname, what, seqs, level)
  if type(seqs) ~= "table" or check.is_tensor(seqs) then
    error(("%s: %s must be a list of Tensors, got %s"):format(fname, what, typename(seqs)),
          level + 1)
  end
  local n, out = rawlen(seqs), {}
  if n == 0 then error(("%s: %s must not be empty"):format(fname, what), level + 1) end
  for i = 1, n do
    local s = rawget(seqs, i)
    if not is_tensor(s) then
      error(("%s: %s[%d] must be a Tensor, got %s"):format(fname, what, i, typename(s)),
            level + 1)
    end
    out[i] = s
  end
  return out
end

-- lengths: a list of integers or a 1-D integer tensor -> a Lua list
local function lengths_list (fname, lengths, level)
  local l
  if is_tensor(lengths) then
    if lengths:dim() ~= 1 or (lengths.dtype ~= dm.int64 and lengths.dtype ~= dm.uint8) then
      error(("%s: lengths must be a 1-D integer Tensor or a list of integers, got %s %s"):format(
        fname, lengths.dtype.name, shp(lengths)), level + 1)
    end
    l = lengths:tolist()
  elseif type(lengths) == "table" then
    l = {}
    for i = 1, rawlen(lengths) do
      local v = rawget(lengths, i)
      if math.type(v) ~= "integer" then
        if math.type(v) == "float" and v == math.floor(v) then v = math.tointeger(v) else
          error(("%s: lengths must be a list of integers, got %s at position %d"):format(
            fname, type(v) == "number" and tostring(v) or typename(v), i), level + 1)
        end
      end
      l[i] = v
    end
  else
    error(("%s: lengths must be a 1-D integer Tensor or a list of integers, got %s"):format(
      fname, typename(lengths)), level + 1)
  end
  return l
end

-- ---- functions -----------------------------------------------------------------------------

--- pad_sequence(sequences [, batch_first = false] [, padding_value = 0]) or with an options
--- table: a list of [L_i x *] tensors padded to [maxL x B x *] ([B x maxL x *] batch_first)
function M.pad_sequence (sequences, ...)
  local a = util.args("pad_sequence", 2, { "batch_first", "padding_value" }, nil, ...)
  local seqs = tensor_list("pad_sequence", "sequences", sequences, 2)
  local bf = check.arg("pad_sequence", "batch_first", a.batch_first, "boolean", false, 2)
  local pv = check.arg("pad_sequence", "padding_value", a.padding_value, "number", 0, 2)
  local first = seqs[1]
  local maxlen = 0
  for i, s in ipairs(seqs) do
    if s:dim() == 0 then
      error(("pad_sequence: sequences[%d] must have at least one dim (the steps), got a 0-dim " ..
             "Tensor"):format(i), 2)
    end
    local ok = s:dim() == first:dim()
    for d = 2, ok and s:dim() or 0 do ok = ok and s:size(d) == first:size(d) end
    if not ok or s.dtype ~= first.dtype then
      error(("pad_sequence: sequences[%d] is %s %s, expected %s %s like sequences[1]")
            :format(i, s.dtype.name, shp(s), first.dtype.name,
                    dims_l({ "L", table.unpack(first:size(), 2) })), 2)
    end
    if s:size(1) > maxlen then maxlen = s:size(1) end
  end
  local padded = {}
  for i, s in ipairs(seqs) do
    local L = s:size(1)
    if L < maxlen then
      local sz = s:size()
      sz[1] = maxlen - L
      s = dm.cat({ s, dm.full(sz, pv, { dtype = s.dtype }) }, 1)
    end
    padded[i] = s
  end
  return dm.stack(padded, bf and 1 or 2)
end

-- the order longest first (ties by position, as a stable sort)
local function sort_desc (l)
  local idx = {}
  for i = 1, #l do idx[i] = i end
  table.sort(idx, function (i, j)
    if l[i] ~= l[j] then return l[i] > l[j] end
    return i < j
  end)
  return idx
end

--- pack_padded_sequence(input, lengths [, batch_first = false] [, enforce_sorted = true]) or
--- with an options table: a PackedSequence of the padded batch input [T x B x *]
--- ([B x T x *] batch_first) whose sequence b has lengths[b] steps (1 <= lengths[b] <= T).
--- enforce_sorted: lengths must be non-increasing; else they are sorted here and the
--- PackedSequence keeps the permutation.
function M.pack_padded_sequence (input, lengths, ...)
  local fn = "pack_padded_sequence"
  if not is_tensor(input) then
    error(("%s: input must be a Tensor, got %s"):format(fn, typename(input)), 2)
  end
  local a = util.args(fn, 2, { "batch_first", "enforce_sorted" }, nil, ...)
  local bf = check.arg(fn, "batch_first", a.batch_first, "boolean", false, 2)
  local es = check.arg(fn, "enforce_sorted", a.enforce_sorted, "boolean", true, 2)
  local l = lengths_list(fn, lengths, 2)
  if input:dim() < 2 then
    error(("%s: expected input [T x B x *] (or [B x T x *] batch_first), got %s"):format(fn,
          shp(input)), 2)
  end
  local T, B = input:size(bf and 2 or 1), input:size(bf and 1 or 2)
  if #l ~= B then
    error(("%s: expected %d lengths (the batch of input %s), got %d"):format(fn, B, shp(input),
          #l), 2)
  end
  for i, v in ipairs(l) do
    if v < 1 or v > T then
      error(("%s: lengths[%d] is %d, but every length must be between 1 and the input's %d " ..
             "steps (input %s)"):format(fn, i, v, T, shp(input)), 2)
    end
  end
  local sorted, unsorted
  if es then
    for i = 2, #l do
      if l[i] > l[i - 1] then
        error(("%s: lengths must be sorted in decreasing order when enforce_sorted is true, " ..
               "got %s (pass enforce_sorted = false)"):format(fn, table.concat(l, ", ")), 2)
      end
    end
  else
    local idx = sort_desc(l)
    local sl = {}
    for i, j in ipairs(idx) do sl[i] = l[j] end
    sorted = dm.tensor(idx, { dtype = dm.int64 })
    input = input:index_select(bf and 1 or 2, sorted)
    l = sl
  end
  if bf then input = input:transpose(1, 2) end
  local Tm = l[1]
  local bs, rows = {}, {}
  for t = 1, Tm do
    local n = 0
    for b = 1, B do
      if l[b] >= t then n = n + 1; rows[#rows + 1] = (t - 1) * B + b end
    end
    bs[t] = n
  end
  local sz = input:size()
  local flat = { T * B, table.unpack(sz, 3) }
  local data = input:reshape(flat):index_select(1, dm.tensor(rows, { dtype = dm.int64 }))
  return M.PackedSequence(data, dm.tensor(bs, { dtype = dm.int64 }), sorted)
end

--- pad_packed_sequence(sequence [, batch_first = false] [, padding_value = 0]
--- [, total_length]) or with an options table: the inverse of pack_padded_sequence.
--- Returns the padded batch [T x B x *] ([B x T x *] batch_first; T the longest length, or
--- total_length) in the original order and its lengths (an int64 tensor).
function M.pad_packed_sequence (sequence, ...)
  local fn = "pad_packed_sequence"
  if not M.is_packed(sequence) then
    error(("%s: sequence must be a PackedSequence, got %s"):format(fn, typename(sequence)), 2)
  end
  local a = util.args(fn, 2, { "batch_first", "padding_value", "total_length" }, nil, ...)
  local bf = check.arg(fn, "batch_first", a.batch_first, "boolean", false, 2)
  local pv = check.arg(fn, "padding_value", a.padding_value, "number", 0, 2)
  local total = check.arg(fn, "total_length", a.total_length, "integer", nil, 2)
  local bs = sequence.batch_sizes:tolist()
  local Tm, B = #bs, bs[1]
  if total ~= nil and total < Tm then
    error(("%s: expected total_length to be at least the length of the longest sequence " ..
           "(%d), got %d"):format(fn, Tm, total), 2)
  end
  local T = total or Tm
  if T * B > (1 << 31) then
    error(("%s: total_length %d is too large (%d x %d rows)"):format(fn, T, T, B), 2)
  end
  local data = sequence.data
  local sz = data:size()
  local padrow = sz
  padrow = { 1, table.unpack(sz, 2) }
  local ext = dm.cat({ data, dm.full(padrow, pv, { dtype = data.dtype }) }, 1)
  local N = sz[1]
  local idx, off = {}, 0
  local lengths = {}
  for b = 1, B do lengths[b] = 0 end
  for t = 1, T do
    local n = bs[t] or 0
    for b = 1, B do
      if b <= n then idx[#idx + 1] = off + b; lengths[b] = t else idx[#idx + 1] = N + 1 end
    end
    off = off + n
  end
  local out = ext:index_select(1, dm.tensor(idx, { dtype = dm.int64 }))
  out = out:view({ T, B, table.unpack(sz, 2) })
  local un = sequence.unsorted_indices
  if un ~= nil then
    out = out:index_select(2, un)
    local ul = {}
    for i, j in ipairs(un:tolist()) do ul[i] = lengths[j] end
    lengths = ul
  end
  if bf then out = out:transpose(1, 2) end
  return out, dm.tensor(lengths, { dtype = dm.int64 })
end

--- pack_sequence(sequences [, enforce_sorted = true]) or with an options table: a list of
--- [L_i x *] tensors packed (pad_sequence then pack_padded_sequence)
function M.pack_sequence (sequences, ...)
  local a = util.args("pack_sequence", 2, { "enforce_sorted" }, nil, ...)
  local seqs = tensor_list("pack_sequence", "sequences", sequences, 2)
  local es = check.arg("pack_sequence", "enforce_sorted", a.enforce_sorted, "boolean", true, 2)
  local l = {}
  for i, s in ipairs(seqs) do l[i] = s:dim() >= 1 and s:size(1) or 0 end
  local padded = M.pad_sequence(seqs)
  local ok, r = pcall(M.pack_padded_sequence, padded, l, { enforce_sorted = es })
  if not ok then error((tostring(r):gsub("^.-pack_padded_sequence", "pack_sequence")), 2) end
  return r
end

return M
