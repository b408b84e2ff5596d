--- deepmoon.nn.transformer: nn.TransformerEncoderLayer, nn.TransformerEncoder,
-- nn.TransformerDecoderLayer, nn.TransformerDecoder and nn.Transformer, as PyTorch 1.13's
-- (the same submodule names, so state_dict keys such as `layers.0.self_attn.in_proj_weight`
-- load both ways), built from nn.MultiheadAttention, Linear, LayerNorm and Dropout.
--
-- Masks are passed in the options table with PyTorch's keyword names:
--   layer(src, {src_mask =, src_key_padding_mask =, is_causal =})
--   encoder(src, {mask =, src_key_padding_mask =, is_causal =})
--   decoder(tgt, memory, {tgt_mask =, memory_mask =, tgt_key_padding_mask =,
--                         memory_key_padding_mask =, tgt_is_causal =, memory_is_causal =})
-- Their bool masks are true where a position is masked out (nn.MultiheadAttention's rule);
-- float masks are added to the attention scores.  is_causal with no mask applies the causal
-- mask; with a mask it is only a hint (the mask is used as given).

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local attention = require "deepmoon.nn.attention"
local Linear = require("deepmoon.nn.linear").Linear
local LayerNorm = require("deepmoon.nn.normalization").LayerNorm
local Dropout = require("deepmoon.nn.dropout").Dropout
local ModuleList = require("deepmoon.nn.collections").ModuleList

local Module, Parameter, is_module = module.Module, module.Parameter, module.is_module
local MultiheadAttention = attention.MultiheadAttention
local is_tensor, typename = check.is_tensor, check.typename
local NONE = module.NONE

local function typename_of (v)
  if is_module(v) then return v:_get_name() end
  return typename(v)
end

local M = {}

-- ---- helpers -------------------------------------------------------------------------------

-- a deep copy of a module (PyTorch's copy.deepcopy): parameters and buffers cloned, children
-- copied, plain fields copied (tables one level deep); a tensor shared inside the module
-- stays shared between the copy's users
local function clone_module (m, memo)
  if memo[m] then return memo[m] end
  local c = setmetatable({}, getmetatable(m))
  memo[m] = c
  local function tensor_copy (t, is_param)
    if memo[t] then return memo[t] end
    local u = dm.no_grad(function () return t:detach():clone() end)
    if is_param then u = Parameter(u, t.requires_grad) end
    memo[t] = u
    return u
  end
  local function od_copy (od, f)
    local keys, map = {}, {}
    for i, k in ipairs(od.keys) do
      keys[i] = k
      local v = od.map[k]
      map[k] = (v == NONE) and NONE or f(v)
    end
    return { keys = keys, map = map }
  end
  for k, v in next, m do
    if k == "_parameters" then
      rawset(c, k, od_copy(v, function (t) return tensor_copy(t, true) end))
    elseif k == "_buffers" then
      rawset(c, k, od_copy(v, function (t) return tensor_copy(t, false) end))
    elseif k == "_modules" then
      rawset(c, k, od_copy(v, function (child) return clone_module(child, memo) end))
    elseif type(v) == "table" and getmetatable(v) == nil then
      local t = {}
      for kk, vv in next, v do t[kk] = vv end
      rawset(c, k, t)
    else
      rawset(c, k, v)
    end
  end
  return c
end
M._clone_module = clone_module

local function clones (m, n)
  local list = {}
  for i = 1, n do list[i] = clone_module(m, {}) end
  return ModuleList(list)
end

local pos_int = util.pos_int

local function prob (cname, v, level)
  if v == nil then return 0.1 end
  if type(v) ~= "number" or not (v >= 0 and v <= 1) then
    error(("%s: dropout probability has to be between 0 and 1, but got %s"):format(cname,
          type(v) == "number" and tostring(v) or typename(v)), level + 1)
  end
  return v
end

-- activation: "relu", "gelu", a function or a module (PyTorch's _get_activation_fn)
local function activation_of (cname, a, level)
  if a == nil or a == "relu" then return F.relu end
  if a == "gelu" then return F.gelu end
  if type(a) == "function" or is_module(a) then return a end
  error(("%s: activation should be relu/gelu (or a function or module), not %s"):format(
        cname, type(a) == "string" and a or typename(a)), level + 1)
end

local function strip (msg, prefix)
  prefix = prefix .. ": "
  if msg:sub(1, #prefix) == prefix then return msg:sub(#prefix + 1) end
  return msg
end

-- call a child; its error is re-raised as "Outer.child: message"
local function call_child (cname, child_name, child, level, ...)
  local ok, a, b = pcall(child, ...)
  if not ok then
    if type(a) ~= "string" then error(a, 0) end
    a = a:gsub("^[^:]*:%d+: ", "")
    error(("%s.%s: %s"):format(cname, child_name, strip(a, child:_get_name())), level + 1)
  end
  return a, b
end

local function check_seq (cname, what, x, d_model, batch_first, level)
  if not is_tensor(x) then
    error(("%s: %s must be a Tensor, got %s"):format(cname, what, typename(x)), level + 1)
  end
  local d = x:dim()
  if (d ~= 2 and d ~= 3) or x:size(d) ~= d_model then
    local letter = what == "src" and "S" or (what == "memory" and "S" or "T")
    error(("%s: expected %s [%s x %d] (batched) or [%s x %d] (unbatched), got %s"):format(
          cname, what, batch_first and ("N x " .. letter) or (letter .. " x N"), d_model,
          letter, d_model, format.shape_str(x:size())), level + 1)
  end
end

-- the constructor arguments the layers share
local LAYER_ARGS = { "d_model", "nhead", "dim_feedforward", "dropout", "activation",
                     "layer_norm_eps", "batch_first", "norm_first" }

local function layer_args (self, cname, level, ...)
  local a = util.args(cname, level + 1, LAYER_ARGS, nil, ...)
  local d = pos_int(cname, "d_model", a.d_model, level + 1)
  local h = pos_int(cname, "nhead", a.nhead, level + 1)
  if d % h ~= 0 then
    error(("%s: d_model must be divisible by nhead, got d_model %d and nhead %d"):format(
          cname, d, h), level + 1)
  end
  local ff = a.dim_feedforward == nil and 2048 or
             pos_int(cname, "dim_feedforward", a.dim_feedforward, level + 1)
  local p = prob(cname, a.dropout, level + 1)
  local eps = check.arg(cname, "layer_norm_eps", a.layer_norm_eps, "number", 1e-5, level + 1)
  local bf = check.arg(cname, "batch_first", a.batch_first, "boolean", false, level + 1)
  local nf = check.arg(cname, "norm_first", a.norm_first, "boolean", false, level + 1)
  local act = activation_of(cname, a.activation, level + 1)
  self.d_model, self.nhead, self.batch_first = d, h, bf
  return d, h, ff, p, eps, bf, nf, act
end

-- a layer's children in PyTorch's order (state_dict keys follow it): self-attention, (for a
-- decoder layer, attention over memory,) the feed-forward block, the norms and the dropouts
local function layer_init (self, cname, decoder, ...)
  local d, h, ff, p, eps, bf, nf, act = layer_args(self, cname, 3, ...)
  self.self_attn = MultiheadAttention(d, h, { dropout = p, batch_first = bf })
  if decoder then
    self.multihead_attn = MultiheadAttention(d, h, { dropout = p, batch_first = bf })
  end
  self.linear1 = Linear(d, ff)
  self.dropout = Dropout(p)
  self.linear2 = Linear(ff, d)
  self.norm_first = nf
  self.norm1 = LayerNorm(d, { eps = eps })
  self.norm2 = LayerNorm(d, { eps = eps })
  if decoder then self.norm3 = LayerNorm(d, { eps = eps }) end
  self.dropout1 = Dropout(p)
  self.dropout2 = Dropout(p)
  if decoder then self.dropout3 = Dropout(p) end
  self.activation = act
end

-- ---- TransformerEncoderLayer ---------------------------------------------------------------

local TransformerEncoderLayer = Module:extend("TransformerEncoderLayer")
M.TransformerEncoderLayer = TransformerEncoderLayer

--- nn.TransformerEncoderLayer(d_model, nhead [, dim_feedforward = 2048] [, dropout = 0.1]
--- [, activation = "relu"] [, layer_norm_eps = 1e-5] [, batch_first = false]
--- [, norm_first = false]), also as an options table: self-attention then a feed-forward
--- block (linear1, activation, dropout, linear2), each with a residual and a LayerNorm
--- (after, or before with norm_first); activation "relu", "gelu", a function or a module.
--- Call layer(src [, {src_mask =, src_key_padding_mask =, is_causal =}]) with src
--- [S x N x d_model] ([N x S x d_model] with batch_first, or [S x d_model]); src_mask [S x S]
--- or [N*nhead x S x S] and src_key_padding_mask [N x S], bool (true = masked out) or float.
function TransformerEncoderLayer:__init (...)
  layer_init(self, "TransformerEncoderLayer", false, ...)
end

local ENC_LAYER_CALL = { "src_mask", "src_key_padding_mask", "is_causal" }

function TransformerEncoderLayer:forward (src, ...)
  local cname = "TransformerEncoderLayer"
  local a = util.args(cname, 2, ENC_LAYER_CALL, nil, ...)
  check_seq(cname, "src", src, self.d_model, self.batch_first, 2)
  local causal = check.arg(cname, "is_causal", a.is_causal, "boolean", false, 2)
  local sa_opts = { attn_mask = a.src_mask, key_padding_mask = a.src_key_padding_mask,
                    need_weights = false, is_causal = causal }
  local function sa (x)
    return self.dropout1(call_child(cname, "self_attn", self.self_attn, 4, x, x, x, sa_opts))
  end
  local function ff (x)
    return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
  end
  local x = src
  if self.norm_first then
    x = x + sa(self.norm1(x))
    x = x + ff(self.norm2(x))
  else
    x = self.norm1(x + sa(x))
    x = self.norm2(x + ff(x))
  end
  return x
end

-- ---- TransformerDecoderLayer ---------------------------------------------------------------

local TransformerDecoderLayer = Module:extend("TransformerDecoderLayer")
M.TransformerDecoderLayer = TransformerDecoderLayer

--- nn.TransformerDecoderLayer(d_model, nhead [, dim_feedforward = 2048] [, dropout = 0.1]
--- [, activation = "relu"] [, layer_norm_eps = 1e-5] [, batch_first = false]
--- [, norm_first = false]): self-attention over tgt, attention over memory (multihead_attn),
--- then the feed-forward block, each with a residual and a LayerNorm (norm1, norm2, norm3).
--- Call layer(tgt, memory [, {tgt_mask =, memory_mask =, tgt_key_padding_mask =,
--- memory_key_padding_mask =, tgt_is_causal =, memory_is_causal =}]): tgt [T x N x d_model],
--- memory [S x N x d_model] (batch_first: N first), tgt_mask [T x T], memory_mask [T x S],
--- key padding masks [N x T] and [N x S]; bool masks true = masked out, float masks added.
function TransformerDecoderLayer:__init (...)
  layer_init(self, "TransformerDecoderLayer", true, ...)
end

local DEC_CALL = { "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
                   "tgt_is_causal", "memory_is_causal" }

function TransformerDecoderLayer:forward (tgt, memory, ...)
  local cname = "TransformerDecoderLayer"
  local a = util.args(cname, 2, DEC_CALL, nil, ...)
  check_seq(cname, "tgt", tgt, self.d_model, self.batch_first, 2)
  check_seq(cname, "memory", memory, self.d_model, self.batch_first, 2)
  local sa_opts = { attn_mask = a.tgt_mask, key_padding_mask = a.tgt_key_padding_mask,
                    need_weights = false,
                    is_causal = check.arg(cname, "tgt_is_causal", a.tgt_is_causal, "boolean",
                                          false, 2) }
  local mha_opts = { attn_mask = a.memory_mask, key_padding_mask = a.memory_key_padding_mask,
                     need_weights = false,
                     is_causal = check.arg(cname, "memory_is_causal", a.memory_is_causal,
                                           "boolean", false, 2) }
  local function sa (x)
    return self.dropout1(call_child(cname, "self_attn", self.self_attn, 4, x, x, x, sa_opts))
  end
  local function mha (x)
    return self.dropout2(call_child(cname, "multihead_attn", self.multihead_attn, 4, x, memory,
                                    memory, mha_opts))
  end
  local function ff (x)
    return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))
  end
  local x = tgt
  if self.norm_first then
    x = x + sa(self.norm1(x))
    x = x + mha(self.norm2(x))
    x = x + ff(self.norm3(x))
  else
    x = self.norm1(x + sa(x))
    x = self.norm2(x + mha(x))
    x = self.norm3(x + ff(x))
  end
  return x
end

-- ---- the stacks ----------------------------------------------------------------------------

local function stack_init (self, cname, layer_cls, ...)
  local a = util.args(cname, 3, { cname == "TransformerEncoder" and "encoder_layer" or
                                  "decoder_layer", "num_layers", "norm" },
                      { "enable_nested_tensor", "mask_check" }, ...)
  local layer = a.encoder_layer or a.decoder_layer
  if not (is_module(layer) and layer:is_a(layer_cls)) then
    error(("%s: expected a %s as its layer, got %s"):format(cname, layer_cls.__name,
          typename_of(layer)), 3)
  end
  local n = pos_int(cname, "num_layers", a.num_layers, 3)
  if n > 4096 then
    error(("%s: num_layers must be at most 4096, got %d"):format(cname, n), 3)
  end
  if a.norm ~= nil and not is_module(a.norm) then
    error(("%s: norm must be a Module (a LayerNorm) or nil, got %s"):format(cname,
          typename(a.norm)), 3)
  end
  self.layers = clones(layer, n)
  self.num_layers = n
  if a.norm ~= nil then self.norm = a.norm else self:add_module("norm", nil) end
end

-- run layer i of a stack; its error is re-raised as "Stack.layers[i] message"
local function run_layer (cname, i, layer, level, ...)
  local ok, y = pcall(layer, ...)
  if not ok then
    if type(y) ~= "string" then error(y, 0) end
    error(("%s.layers[%d]: %s"):format(cname, i, (y:gsub("^[^:]*:%d+: ", ""))), level + 1)
  end
  return y
end

local TransformerEncoder = Module:extend("TransformerEncoder")
M.TransformerEncoder = TransformerEncoder

--- nn.TransformerEncoder(encoder_layer, num_layers [, norm]), also {norm =}: num_layers deep
--- copies of encoder_layer (state_dict keys layers.0..., as PyTorch's) and an optional final
--- norm.  Call encoder(src [, {mask =, src_key_padding_mask =, is_causal =}]).
function TransformerEncoder:__init (...)
  stack_init(self, "TransformerEncoder", TransformerEncoderLayer, ...)
end

local ENC_CALL = { "mask", "src_key_padding_mask", "is_causal" }

function TransformerEncoder:forward (src, ...)
  local cname = "TransformerEncoder"
  local a = util.args(cname, 2, ENC_CALL, nil, ...)
  local opts = { src_mask = a.mask, src_key_padding_mask = a.src_key_padding_mask,
                 is_causal = a.is_causal }
  local x = src
  for i, layer in ipairs(rawget(self, "_modules").map.layers) do
    x = run_layer(cname, i, layer, 2, x, opts)
  end
  if self.norm ~= nil then x = self.norm(x) end
  return x
end

local TransformerDecoder = Module:extend("TransformerDecoder")
M.TransformerDecoder = TransformerDecoder

--- nn.TransformerDecoder(decoder_layer, num_layers [, norm]), also {norm =}: num_layers deep
--- copies of decoder_layer and an optional final norm.  Call decoder(tgt, memory
--- [, {tgt_mask =, memory_mask =, tgt_key_padding_mask =, memory_key_padding_mask =,
--- tgt_is_causal =, memory_is_causal =}]).
function TransformerDecoder:__init (...)
  stack_init(self, "TransformerDecoder", TransformerDecoderLayer, ...)
end

function TransformerDecoder:forward (tgt, memory, ...)
  local cname = "TransformerDecoder"
  local a = util.args(cname, 2, DEC_CALL, nil, ...)
  local x = tgt
  for i, layer in ipairs(rawget(self, "_modules").map.layers) do
    x = run_layer(cname, i, layer, 2, x, memory, a)
  end
  if self.norm ~= nil then x = self.norm(x) end
  return x
end

-- ---- Transformer ---------------------------------------------------------------------------

local Transformer = Module:extend("Transformer")
M.Transformer = Transformer

local TR_ARGS = { "d_model", "nhead", "num_encoder_layers", "num_decoder_layers",
                  "dim_feedforward", "dropout", "activation", "custom_encoder", "custom_decoder",
                  "layer_norm_eps", "batch_first", "norm_first" }

--- nn.Transformer([d_model = 512] [, nhead = 8] [, num_encoder_layers = 6]
--- [, num_decoder_layers = 6] [, dim_feedforward = 2048] [, dropout = 0.1]
--- [, activation = "relu"] [, custom_encoder] [, custom_decoder] [, layer_norm_eps = 1e-5]
--- [, batch_first = false] [, norm_first = false]), also as an options table: PyTorch 1.13's
--- encoder-decoder (encoder and decoder stacks, each with a final LayerNorm), every matrix
--- parameter drawn with xavier_uniform_.  Call model(src, tgt [, {src_mask =, tgt_mask =,
--- memory_mask =, src_key_padding_mask =, tgt_key_padding_mask =,
--- memory_key_padding_mask =}]).
function Transformer:__init (...)
  local cname = "Transformer"
  local a = util.args(cname, 3, TR_ARGS, nil, ...)
  local d = a.d_model == nil and 512 or pos_int(cname, "d_model", a.d_model, 3)
  local h = a.nhead == nil and 8 or pos_int(cname, "nhead", a.nhead, 3)
  local ne = a.num_encoder_layers == nil and 6 or
             pos_int(cname, "num_encoder_layers", a.num_encoder_layers, 3)
  local nd = a.num_decoder_layers == nil and 6 or
             pos_int(cname, "num_decoder_layers", a.num_decoder_layers, 3)
  local eps = check.arg(cname, "layer_norm_eps", a.layer_norm_eps, "number", 1e-5, 3)
  local lopts = { dim_feedforward = a.dim_feedforward, dropout = a.dropout,
                  activation = a.activation, layer_norm_eps = eps, batch_first = a.batch_first,
                  norm_first = a.norm_first }
  if a.custom_encoder ~= nil then
    if not is_module(a.custom_encoder) then
      error(("%s: custom_encoder must be a Module, got %s"):format(cname,
            typename(a.custom_encoder)), 3)
    end
    self.encoder = a.custom_encoder
  else
    self.encoder = TransformerEncoder(TransformerEncoderLayer(d, h, lopts), ne,
                                      LayerNorm(d, { eps = eps }))
  end
  if a.custom_decoder ~= nil then
    if not is_module(a.custom_decoder) then
      error(("%s: custom_decoder must be a Module, got %s"):format(cname,
            typename(a.custom_decoder)), 3)
    end
    self.decoder = a.custom_decoder
  else
    self.decoder = TransformerDecoder(TransformerDecoderLayer(d, h, lopts), nd,
                                      LayerNorm(d, { eps = eps }))
  end
  self.d_model, self.nhead = d, h
  self.batch_first = a.batch_first and true or false
  self:_reset_parameters()
end

--- Draw every parameter with more than one dim from xavier_uniform_ (PyTorch's
--- Transformer._reset_parameters).
function Transformer:_reset_parameters ()
  local init = require "deepmoon.nn.init"
  dm.no_grad(function ()
    for p in self:parameters() do
      if p:dim() > 1 then init.xavier_uniform_(p) end
    end
  end)
end

local TR_CALL = { "src_mask", "tgt_mask", "memory_mask", "src_key_padding_mask",
                  "tgt_key_padding_mask", "memory_key_padding_mask" }

function Transformer:forward (src, tgt, ...)
  local cname = "Transformer"
  local a = util.args(cname, 2, TR_CALL, nil, ...)
  for _, v in ipairs({ { "src", src }, { "tgt", tgt } }) do
    if not is_tensor(v[2]) then
      error(("%s: %s must be a Tensor, got %s"):format(cname, v[1], typename(v[2])), 2)
    end
  end
  local batched = src:dim() == 3
  if batched and tgt:dim() == 3 then
    local b = self.batch_first and 1 or 2
    if src:size(b) ~= tgt:size(b) then
      error(("%s: the batch number of src and tgt must be equal, got src %s and tgt %s")
            :format(cname, format.shape_str(src:size()), format.shape_str(tgt:size())), 2)
    end
  end
  if src:dim() == 0 or tgt:dim() == 0 or src:size(-1) ~= self.d_model or
     tgt:size(-1) ~= self.d_model then
    error(("%s: the feature number of src and tgt must be equal to d_model %d, got src %s and " ..
           "tgt %s"):format(cname, self.d_model, format.shape_str(src:size()),
           format.shape_str(tgt:size())), 2)
  end
  local memory = self.encoder(src, { mask = a.src_mask,
                                     src_key_padding_mask = a.src_key_padding_mask })
  return self.decoder(tgt, memory, { tgt_mask = a.tgt_mask, memory_mask = a.memory_mask,
                                     tgt_key_padding_mask = a.tgt_key_padding_mask,
                                     memory_key_padding_mask = a.memory_key_padding_mask })
end

--- nn.Transformer.generate_square_subsequent_mask(sz [, {dtype =}]): the causal mask
--- [sz x sz], -inf above the diagonal and 0 elsewhere (a float mask: added to the scores), as
--- PyTorch 1.13's.  Also callable as model:generate_square_subsequent_mask(sz).
function Transformer.generate_square_subsequent_mask (sz, opts)
  if is_module(sz) then sz, opts = opts, nil end
  if math.type(sz) ~= "integer" or sz < 0 then
    error(("generate_square_subsequent_mask: sz must be a non-negative integer, got %s"):format(
          type(sz) == "number" and tostring(sz) or typename_of(sz)), 2)
  end
  local dtype
  if opts ~= nil then
    if not util.is_options(opts) then
      error(("generate_square_subsequent_mask: expected an options table, got %s"):format(
            typename_of(opts)), 2)
    end
    check.options("generate_square_subsequent_mask", opts, { dtype = true }, 2)
    dtype = opts.dtype
  end
  return dm.triu(dm.full({ sz, sz }, -math.huge, dtype and { dtype = dtype } or nil), 1)
end

return M
