--- deepmoon.nn.attention: F.scaled_dot_product_attention, F.multi_head_attention_forward and
-- nn.MultiheadAttention, built from bmm/baddbmm, softmax, linear and dropout (PyTorch 1.13's
-- math path, op for op, so the numbers and the gradients are PyTorch's).
--
-- Two mask conventions live here, as in PyTorch:
--   * F.scaled_dot_product_attention (PyTorch 2): a bool attn_mask is true where a query MAY
--     attend to a key;
--   * nn.MultiheadAttention and the Transformer layers (PyTorch 1.13): a bool attn_mask or
--     key_padding_mask is true where a key is MASKED OUT (not attended to).
-- A float mask is added to the scores in both.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local Linear = require("deepmoon.nn.linear").Linear

local Module, Parameter = module.Module, module.Parameter
local is_tensor, typename = check.is_tensor, check.typename
local shape_str = format.shape_str
local NEG_INF = -math.huge

local M = {}

local function shp (t) return shape_str(t:size()) end

local function need_tensor (fname, what, v, level)
  if not is_tensor(v) then
    error(("%s: %s must be a Tensor, got %s"):format(fname, what, typename(v)), level + 1)
  end
end

local function need_float (fname, what, v, level)
  need_tensor(fname, what, v, level + 1)
  if not v:is_floating_point() then
    error(("%s: %s must be float32 or float64, got %s"):format(fname, what,
          tostring(v.dtype):gsub("^deepmoon%.", "")), level + 1)
  end
end

local function dtype_name (t) return (tostring(t.dtype):gsub("^deepmoon%.", "")) end

-- a mask's kind: "bool" (uint8 read as bool, as PyTorch does) or "float"; anything else raises
local function mask_kind (fname, what, m, level)
  need_tensor(fname, what, m, level + 1)
  local dt = m.dtype
  if dt == dm.bool then return "bool", m end
  if dt == dm.uint8 then return "bool", m:bool() end
  if m:is_floating_point() then return "float", m end
  error(("%s: %s must be bool or floating point, got %s"):format(fname, what, dtype_name(m)),
        level + 1)
end

-- does a tensor of sizes `ms` broadcast to `ts` (without growing ts)?
local function broadcasts_to (ms, ts)
  if #ms > #ts then return false end
  for i = 1, #ms do
    local a, b = ms[#ms + 1 - i], ts[#ts + 1 - i]
    if a ~= 1 and a ~= b then return false end
  end
  return true
end

-- ---- F.scaled_dot_product_attention ------------------------------------------------------

local SDPA_OPTS = { "attn_mask", "dropout_p", "is_causal" }

--- scaled_dot_product_attention(query, key, value [, attn_mask] [, dropout_p = 0]
--- [, is_causal = false] [, {scale =}]), also with the options in one table: PyTorch 2's
--- softmax(q k^T * scale + mask) v for query [... x L x E], key [... x S x E] and value
--- [... x S x Ev] (leading dims broadcast), scale 1/sqrt(E) unless given.  NOTE: a bool
--- attn_mask here is true where a query MAY attend (PyTorch 2's rule), the opposite of
--- nn.MultiheadAttention's masks, where true means masked out; a float attn_mask is added to
--- the scores.  is_causal masks the keys after each query (no attn_mask with it).  dropout_p
--- is applied whenever it is above 0 (as PyTorch's function does; modules pass 0 in eval).
--- Returns [... x L x Ev].
function F.scaled_dot_product_attention (query, key, value, ...)
  local fname = "scaled_dot_product_attention"
  local a = util.args(fname, 2, SDPA_OPTS, { "scale" }, ...)
  need_float(fname, "query", query, 2)
  need_float(fname, "key", key, 2)
  need_float(fname, "value", value, 2)
  local qd, kd, vd = query:dim(), key:dim(), value:dim()
  if qd < 2 or kd < 2 or vd < 2 then
    error(("%s: expected query [... x L x E], key [... x S x E] and value [... x S x Ev] " ..
           "(at least 2-D), got query %s, key %s, value %s"):format(fname, shp(query),
           shp(key), shp(value)), 2)
  end
  local E, L, S = query:size(qd), query:size(qd - 1), key:size(kd - 1)
  if key:size(kd) ~= E or value:size(vd - 1) ~= S then
    error(("%s: expected query [... x L x E], key [... x S x E] and value [... x S x Ev], " ..
           "got query %s, key %s, value %s"):format(fname, shp(query), shp(key), shp(value)), 2)
  end
  if key.dtype ~= query.dtype or value.dtype ~= query.dtype then
    error(("%s: query, key and value must have one dtype, got %s, %s and %s"):format(fname,
          dtype_name(query), dtype_name(key), dtype_name(value)), 2)
  end
  local p = check.arg(fname, "dropout_p", a.dropout_p, "number", 0, 2)
  if not (p >= 0 and p <= 1) then
    error(("%s: dropout_p must be between 0 and 1, got %s"):format(fname, tostring(p)), 2)
  end
  local causal = check.arg(fname, "is_causal", a.is_causal, "boolean", false, 2)
  local scale = check.arg(fname, "scale", a.scale, "number", nil, 2)
  if scale == nil then scale = 1 / math.sqrt(E) end
  local mask, kind = a.attn_mask, nil
  if mask ~= nil then
    kind, mask = mask_kind(fname, "attn_mask", mask, 2)
    if causal then
      error(("%s: give either attn_mask or is_causal, not both"):format(fname), 2)
    end
  end
  local scores = dm.matmul(query * scale, key:transpose(-2, -1))   -- [... x L x S]
  if causal then
    local keep = dm.tril(dm.ones(L, S, { dtype = dm.bool }))
    scores = scores:masked_fill(keep:logical_not(), NEG_INF)
  elseif mask ~= nil then
    if not broadcasts_to(mask:size(), scores:size()) then
      error(("%s: attn_mask %s does not broadcast to the scores [... x L x S] %s"):format(
            fname, shp(mask), shp(scores)), 2)
    end
    if kind == "bool" then
      scores = scores:masked_fill(mask:logical_not(), NEG_INF)
    else
      scores = scores + mask:to(scores.dtype)
    end
  end
  local attn = dm.softmax(scores, -1)
  if p > 0 then attn = dm.dropout(attn, p, true) end
  return dm.matmul(attn, value)
end

local pos_int = util.pos_int

-- t's three blocks of E along dim (q, k, v of a packed in-projection)
local function split3 (t, dim, E)
  return t:narrow(dim, 1, E), t:narrow(dim, E + 1, E), t:narrow(dim, 2 * E + 1, E)
end

-- ---- F.multi_head_attention_forward ------------------------------------------------------

-- checks a mask's shape against the want list: sizes must be equal
local function same_sizes (t, want)
  local s = t:size()
  if #s ~= #want then return false end
  for i = 1, #s do if s[i] ~= want[i] then return false end end
  return true
end

-- pad a [... x S] mask with one column (false / 0) at the end, as PyTorch's pad(m, (0, 1))
local function pad_col (m)
  local s = m:size()
  s[#s] = 1
  local z = dm.zeros(s, { dtype = m.dtype })
  return dm.cat({ m, z }, #s)
end

-- a bool mask (true = masked out) as an additive float mask of dtype dt
local function bool_to_float (m, dt)
  return dm.zeros(m:size(), { dtype = dt }):masked_fill(m, NEG_INF)
end

local MHA_FORWARD_OPTS = {
  "training", "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight",
  "q_proj_weight", "k_proj_weight", "v_proj_weight", "average_attn_weights", "batch_first",
  "is_causal",
}

--- multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
--- in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
--- out_proj_bias, {training = true, key_padding_mask =, need_weights = true, attn_mask =,
--- use_separate_proj_weight = false, q_proj_weight =, k_proj_weight =, v_proj_weight =,
--- average_attn_weights = true, batch_first = false, is_causal = false}): PyTorch 1.13's
--- F.multi_head_attention_forward (in_proj_weight, bias_k, bias_v, in_proj_bias and
--- out_proj_bias may be nil).  query [L x N x E] (or [N x L x E] with batch_first, or one
--- unbatched sequence [L x E]), key [S x N x kdim], value [S x N x vdim].  attn_mask
--- [L x S] or [N*num_heads x L x S] and key_padding_mask [N x S] ([S] unbatched): bool
--- (true = masked out) or float (added to the scores).  is_causal with no attn_mask masks the
--- keys after each query.  Returns the output and, when need_weights, the attention weights
--- [N x L x S] (averaged over the heads) or [N x num_heads x L x S]; else nil.
function F.multi_head_attention_forward (query, key, value, embed_dim, num_heads, in_w, in_b,
                                         bias_k, bias_v, add_zero_attn, dropout_p, out_w, out_b,
                                         opts)
  local o = opts or {}
  local fname = "multi_head_attention_forward"
  if not util.is_options(o) then
    error(("%s: expected an options table, got %s"):format(fname, typename(o)), 2)
  end
  if opts ~= nil then
    local spec = {}
    for _, k in ipairs(MHA_FORWARD_OPTS) do spec[k] = true end
    check.options(fname, o, spec, 2)
  end
  pos_int(fname, "embed_dim_to_check", embed_dim, 2)
  pos_int(fname, "num_heads", num_heads, 2)
  check.arg(fname, "dropout_p", dropout_p, "number", nil, 2)
  dropout_p = dropout_p or 0
  need_tensor(fname, "out_proj_weight", out_w, 2)
  for _, e in ipairs({ { "in_proj_weight", in_w }, { "in_proj_bias", in_b },
                       { "bias_k", bias_k }, { "bias_v", bias_v }, { "out_proj_bias", out_b },
                       { "q_proj_weight", rawget(o, "q_proj_weight") },
                       { "k_proj_weight", rawget(o, "k_proj_weight") },
                       { "v_proj_weight", rawget(o, "v_proj_weight") } }) do
    if e[2] ~= nil then need_tensor(fname, e[1], e[2], 2) end
  end
  for _, k in ipairs({ "training", "need_weights", "use_separate_proj_weight",
                       "average_attn_weights", "batch_first", "is_causal" }) do
    check.arg(fname, k, rawget(o, k), "boolean", nil, 2)
  end
  return M._mha(fname, 3, query, key, value, embed_dim, num_heads, in_w, in_b, bias_k, bias_v,
                add_zero_attn, dropout_p, out_w, out_b, o)
end

-- the body of multi_head_attention_forward; errors start with fname and point `level` up
function M._mha (fname, level, query, key, value, E, H, in_w, in_b, bias_k, bias_v,
                 add_zero_attn, dropout_p, out_w, out_b, o)
  local training = rawget(o, "training")
  if training == nil then training = true end
  local need_weights = rawget(o, "need_weights")
  if need_weights == nil then need_weights = true end
  local average = rawget(o, "average_attn_weights")
  if average == nil then average = true end
  local batch_first = rawget(o, "batch_first") and true or false
  local separate = rawget(o, "use_separate_proj_weight") and true or false
  local attn_mask, kpm = rawget(o, "attn_mask"), rawget(o, "key_padding_mask")
  local is_causal = rawget(o, "is_causal") and true or false

  need_float(fname, "query", query, level)
  need_tensor(fname, "key", key, level)
  need_tensor(fname, "value", value, level)
  local qd = query:dim()
  local layout = batch_first and "N x L" or "L x N"
  if qd ~= 2 and qd ~= 3 then
    error(("%s: expected query [%s x %d] (batched) or [L x %d] (unbatched), got %s"):format(
          fname, layout, E, E, shp(query)), level)
  end
  local batched = qd == 3
  if key:dim() ~= qd or value:dim() ~= qd then
    error(("%s: for %s query %s, expected key and value %d-D, got key %s and value %s")
          :format(fname, batched and "a batched" or "an unbatched", shp(query), qd, shp(key),
                  shp(value)), level)
  end
  if query:size(qd) ~= E then
    error(("%s: expected query [%s x %d], got %s"):format(fname,
          batched and layout or "L", E, shp(query)), level)
  end
  if key.dtype ~= query.dtype or value.dtype ~= query.dtype then
    error(("%s: query, key and value must have one dtype, got %s, %s and %s"):format(fname,
          dtype_name(query), dtype_name(key), dtype_name(value)), level)
  end
  -- batch-first views [N x L x E] of the inputs (a view, no copy)
  local q_in, k_in, v_in = query, key, value
  if not batched then
    q_in, k_in, v_in = query:unsqueeze(1), key:unsqueeze(1), value:unsqueeze(1)
  elseif not batch_first then
    q_in, k_in, v_in = query:transpose(1, 2), key:transpose(1, 2), value:transpose(1, 2)
  end
  local N, L = q_in:size(1), q_in:size(2)
  local S = k_in:size(2)
  if k_in:size(1) ~= N or v_in:size(1) ~= N or v_in:size(2) ~= S then
    error(("%s: query %s, key %s and value %s disagree in batch size or sequence length")
          :format(fname, shp(query), shp(key), shp(value)), level)
  end
  local hd = E // H
  if hd * H ~= E then
    error(("%s: embed_dim %d is not divisible by num_heads %d"):format(fname, E, H), level)
  end

  -- the masks: their kinds and shapes (PyTorch's checks, before bias_k / zero attention)
  local am_kind, kpm_kind
  if attn_mask ~= nil then
    am_kind, attn_mask = mask_kind(fname, "attn_mask", attn_mask, level)
    local d = attn_mask:dim()
    if d == 2 then
      if not same_sizes(attn_mask, { L, S }) then
        error(("%s: the shape of the 2-D attn_mask is %s, but should be [%d x %d] (L x S)")
              :format(fname, shp(attn_mask), L, S), level)
      end
      attn_mask = attn_mask:unsqueeze(1)
    elseif d == 3 then
      if not same_sizes(attn_mask, { N * H, L, S }) then
        error(("%s: the shape of the 3-D attn_mask is %s, but should be [%d x %d x %d] " ..
               "(N*num_heads x L x S)"):format(fname, shp(attn_mask), N * H, L, S), level)
      end
    else
      error(("%s: attn_mask must be 2-D [L x S] or 3-D [N*num_heads x L x S], got %s")
            :format(fname, shp(attn_mask)), level)
    end
  elseif is_causal then
    attn_mask = dm.triu(dm.ones(L, S, { dtype = dm.bool }), 1):unsqueeze(1)
    am_kind = "bool"
  end
  if kpm ~= nil then
    kpm_kind, kpm = mask_kind(fname, "key_padding_mask", kpm, level)
    local want = batched and { N, S } or { S }
    if not same_sizes(kpm, want) then
      error(("%s: expected key_padding_mask %s, got %s"):format(fname,
            batched and ("[%d x %d] (N x S)"):format(N, S) or ("[%d] (S)"):format(S),
            shp(kpm)), level)
    end
    if not batched then kpm = kpm:unsqueeze(1) end
  end

  -- in-projection: [N x L x E] @ W^T
  local q, k, v
  if not separate then
    if in_w == nil then
      error(("%s: in_proj_weight is nil (use_separate_proj_weight is false)"):format(fname),
            level)
    end
    if key:size(qd) ~= E or value:size(qd) ~= E then
      error(("%s: expected key and value [%s x %d], got key %s and value %s"):format(fname,
            batched and layout:gsub("L", "S") or "S", E, shp(key), shp(value)), level)
    end
    if rawequal(query, key) and rawequal(key, value) then
      local qkv = dm.linear(q_in, in_w, in_b)                 -- [N x L x 3E]
      q, k, v = split3(qkv, 3, E)
    else
      local wq, wk, wv = split3(in_w, 1, E)
      local bq, bk, bv
      if in_b ~= nil then bq, bk, bv = split3(in_b, 1, E) end
      q, k, v = dm.linear(q_in, wq, bq), dm.linear(k_in, wk, bk), dm.linear(v_in, wv, bv)
    end
  else
    local wq, wk, wv = rawget(o, "q_proj_weight"), rawget(o, "k_proj_weight"),
                       rawget(o, "v_proj_weight")
    if wq == nil or wk == nil or wv == nil then
      error(("%s: use_separate_proj_weight needs q_proj_weight, k_proj_weight and " ..
             "v_proj_weight"):format(fname), level)
    end
    local kdim, vdim = wk:size(2), wv:size(2)
    if key:size(qd) ~= kdim or value:size(qd) ~= vdim then
      error(("%s: expected key [%s x %d] and value [%s x %d] (kdim, vdim), got key %s and " ..
             "value %s"):format(fname, batched and layout:gsub("L", "S") or "S", kdim,
             batched and layout:gsub("L", "S") or "S", vdim, shp(key), shp(value)), level)
    end
    local bq, bk, bv
    if in_b ~= nil then bq, bk, bv = split3(in_b, 1, E) end
    q, k, v = dm.linear(q_in, wq, bq), dm.linear(k_in, wk, bk), dm.linear(v_in, wv, bv)
  end

  -- bias_k / bias_v [1 x 1 x E]: one more key and value per sequence
  if bias_k ~= nil and bias_v ~= nil then
    k = dm.cat({ k, bias_k:expand(N, 1, E) }, 2)
    v = dm.cat({ v, bias_v:expand(N, 1, E) }, 2)
    if attn_mask ~= nil then attn_mask = pad_col(attn_mask) end
    if kpm ~= nil then kpm = pad_col(kpm) end
  elseif bias_k ~= nil or bias_v ~= nil then
    error(("%s: bias_k and bias_v must be given together"):format(fname), level)
  end
  local Sk = k:size(2)
  -- heads: [N x L x E] -> [N x L x H x hd] -> [N x H x L x hd] -> [N*H x L x hd]
  q = (q / math.sqrt(hd)):reshape(N, L, H, hd):permute(1, 3, 2, 4):reshape(N * H, L, hd)
  k = k:reshape(N, Sk, H, hd):permute(1, 3, 2, 4):reshape(N * H, Sk, hd)
  v = v:reshape(N, Sk, H, hd):permute(1, 3, 2, 4):reshape(N * H, Sk, hd)
  if add_zero_attn then
    local z = dm.zeros(N * H, 1, hd, { dtype = q.dtype })
    k, v = dm.cat({ k, z }, 2), dm.cat({ v, z }, 2)
    Sk = Sk + 1
    if attn_mask ~= nil then attn_mask = pad_col(attn_mask) end
    if kpm ~= nil then kpm = pad_col(kpm) end
  end

  -- one additive mask [1 or N*H x L or 1 x Sk]
  local mask
  if attn_mask ~= nil then
    mask = am_kind == "bool" and bool_to_float(attn_mask, q.dtype) or attn_mask:to(q.dtype)
  end
  if kpm ~= nil then
    local km = kpm_kind == "bool" and bool_to_float(kpm, q.dtype) or kpm:to(q.dtype)
    km = km:view(N, 1, 1, Sk):expand(N, H, 1, Sk):reshape(N * H, 1, Sk)
    mask = mask and (mask + km) or km
  end

  local scores
  if mask ~= nil then
    scores = dm.baddbmm(mask, q, k:transpose(2, 3))       -- [N*H x L x Sk]
  else
    scores = dm.bmm(q, k:transpose(2, 3))
  end
  local attn = dm.softmax(scores, -1)
  if training and dropout_p > 0 then attn = dm.dropout(attn, dropout_p, true) end
  local out = dm.bmm(attn, v)                              -- [N*H x L x hd]
  out = out:view(N, H, L, hd)
  if batched and not batch_first then
    out = out:permute(3, 1, 2, 4):reshape(L, N, E)
  else
    out = out:permute(1, 3, 2, 4):reshape(N, L, E)
  end
  out = dm.linear(out, out_w, out_b)
  if not batched then out = out:view(L, E) end
  if not need_weights then return out, nil end
  local w = attn:view(N, H, L, Sk)
  if average then w = w:sum(2) / H end
  if not batched then w = w:squeeze(1) end
  return out, w
end

-- ---- nn.MultiheadAttention ---------------------------------------------------------------

-- PyTorch's out_proj class (a Linear under another name, so print(model) reads the same)
local NonDynamicallyQuantizableLinear = Linear:extend("NonDynamicallyQuantizableLinear")
--- nn.NonDynamicallyQuantizableLinear(in_features, out_features [, bias = true]): nn.Linear
--- under PyTorch's name for MultiheadAttention's out_proj (so printed models read the same)
function NonDynamicallyQuantizableLinear:__init (...) return Linear.__init(self, ...) end
M.NonDynamicallyQuantizableLinear = NonDynamicallyQuantizableLinear

local MultiheadAttention = Module:extend("MultiheadAttention")
M.MultiheadAttention = MultiheadAttention

--- nn.MultiheadAttention(embed_dim, num_heads [, dropout = 0] [, bias = true]
--- [, add_bias_kv = false] [, add_zero_attn = false] [, kdim = embed_dim] [, vdim = embed_dim]
--- [, batch_first = false]), also as an options table: PyTorch 1.13's layer, its parameters
--- named and initialised as PyTorch's (in_proj_weight [3E x E] xavier_uniform_, or
--- q_proj_weight, k_proj_weight, v_proj_weight when kdim or vdim differ from embed_dim;
--- in_proj_bias 0; out_proj a Linear with bias 0; bias_k, bias_v [1 x 1 x E]
--- xavier_normal_).  Call it as mha(query, key, value [, {key_padding_mask =,
--- need_weights = true, attn_mask =, average_attn_weights = true, is_causal = false}]):
--- returns the output and the attention weights (nil when need_weights is false).  Its bool
--- masks are true where a key is masked out (see F.multi_head_attention_forward).
function MultiheadAttention:__init (...)
  local cname = "MultiheadAttention"
  local a = util.args(cname, 3, { "embed_dim", "num_heads", "dropout", "bias", "add_bias_kv",
                                  "add_zero_attn", "kdim", "vdim", "batch_first" },
                      { "dtype" }, ...)
  local E = pos_int(cname, "embed_dim", a.embed_dim, 3)
  local H = pos_int(cname, "num_heads", a.num_heads, 3)
  if E % H ~= 0 then
    error(("%s: embed_dim must be divisible by num_heads, got embed_dim %d and num_heads %d")
          :format(cname, E, H), 3)
  end
  local p = check.arg(cname, "dropout", a.dropout, "number", 0.0, 3)
  if not (p >= 0 and p <= 1) then
    error(("%s: dropout probability has to be between 0 and 1, but got %s"):format(cname,
          tostring(p)), 3)
  end
  local bias = check.arg(cname, "bias", a.bias, "boolean", true, 3)
  local add_bias_kv = check.arg(cname, "add_bias_kv", a.add_bias_kv, "boolean", false, 3)
  local add_zero_attn = check.arg(cname, "add_zero_attn", a.add_zero_attn, "boolean", false, 3)
  local kdim = a.kdim == nil and E or pos_int(cname, "kdim", a.kdim, 3)
  local vdim = a.vdim == nil and E or pos_int(cname, "vdim", a.vdim, 3)
  self.embed_dim, self.kdim, self.vdim = E, kdim, vdim
  self._qkv_same_embed_dim = kdim == E and vdim == E
  self.num_heads, self.dropout = H, p
  self.batch_first = check.arg(cname, "batch_first", a.batch_first, "boolean", false, 3)
  self.head_dim = E // H
  local like = a.dtype and { dtype = a.dtype } or nil
  local function param (...)
    local n = select("#", ...)
    local sizes = { ... }
    if like then sizes[n + 1] = like end
    return Parameter(dm.empty(table.unpack(sizes, 1, like and n + 1 or n)))
  end
  if not self._qkv_same_embed_dim then
    self.q_proj_weight = param(E, E)
    self.k_proj_weight = param(E, kdim)
    self.v_proj_weight = param(E, vdim)
    self:register_parameter("in_proj_weight", nil)
  else
    self.in_proj_weight = param(3 * E, E)
    self:register_parameter("q_proj_weight", nil)
    self:register_parameter("k_proj_weight", nil)
    self:register_parameter("v_proj_weight", nil)
  end
  if bias then self.in_proj_bias = param(3 * E)
  else self:register_parameter("in_proj_bias", nil) end
  self.out_proj = NonDynamicallyQuantizableLinear(E, E, { bias = bias })
  if like then self.out_proj:to(a.dtype) end
  if add_bias_kv then
    self.bias_k = param(1, 1, E)
    self.bias_v = param(1, 1, E)
  else
    self:register_parameter("bias_k", nil)
    self:register_parameter("bias_v", nil)
  end
  self.add_zero_attn = add_zero_attn
  self:_reset_parameters()
end

--- Re-draw the parameters as the constructor does (PyTorch's _reset_parameters).
function MultiheadAttention:_reset_parameters ()
  local init = require "deepmoon.nn.init"
  dm.no_grad(function ()
    if self._qkv_same_embed_dim then
      init.xavier_uniform_(self.in_proj_weight)
    else
      init.xavier_uniform_(self.q_proj_weight)
      init.xavier_uniform_(self.k_proj_weight)
      init.xavier_uniform_(self.v_proj_weight)
    end
    if self.in_proj_bias ~= nil then
      self.in_proj_bias:fill_(0)
      self.out_proj.bias:fill_(0)
    end
    if self.bias_k ~= nil then init.xavier_normal_(self.bias_k) end
    if self.bias_v ~= nil then init.xavier_normal_(self.bias_v) end
  end)
end

local MHA_CALL = { "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights" }

function MultiheadAttention:forward (query, key, value, ...)
  local cname = "MultiheadAttention"
  local a = util.args(cname, 2, MHA_CALL, { "is_causal" }, ...)
  local o = {
    training = self.training, key_padding_mask = a.key_padding_mask,
    need_weights = check.arg(cname, "need_weights", a.need_weights, "boolean", true, 2),
    attn_mask = a.attn_mask,
    average_attn_weights = check.arg(cname, "average_attn_weights", a.average_attn_weights,
                                     "boolean", true, 2),
    is_causal = check.arg(cname, "is_causal", a.is_causal, "boolean", false, 2),
    batch_first = self.batch_first,
  }
  if not self._qkv_same_embed_dim then
    o.use_separate_proj_weight = true
    o.q_proj_weight, o.k_proj_weight, o.v_proj_weight =
      self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
  end
  return M._mha(cname, 3, query, key, value, self.embed_dim, self.num_heads,
                self.in_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v,
                self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias, o)
end

return M
