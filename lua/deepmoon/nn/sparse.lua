--- deepmoon.nn.sparse: nn.Embedding and nn.EmbeddingBag (PyTorch's torch/nn/modules/sparse.py),
-- lookup tables of num_embeddings rows of embedding_dim values, indexed by 1-based int64 token
-- ids:
--
--   local emb = nn.Embedding(1000, 64, { padding_idx = 1 })
--   local x = emb(ids)                  -- ids [N x T] int64 in 1..1000 -> [N x T x 64]
--   local bag = nn.EmbeddingBag(1000, 64, { mode = "sum" })
--   local y = bag(flat_ids, offsets)    -- offsets: 1-based start of each bag in flat_ids
--
-- padding_idx is 1-based too (negative counts from the end, -1 the last row), and so are the
-- bag offsets: positions in the flat list of ids, as every position deepmoon takes.  The
-- weight is the parameter "weight" in state_dict, as PyTorch's.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"

local Module, Parameter = module.Module, module.Parameter
local impl = F._impl

local function count (name, what, v)
  if math.type(v) ~= "integer" or v < 0 then
    error(("%s: %s must be a non-negative integer, got %s"):format(name, what,
      check.typename(v) == "number" and tostring(v) or check.typename(v)), 4)
  end
  return v
end

-- the settings both classes share, checked; the weight made (N(0, 1), padding row zeroed)
-- or taken from _weight
local function setup (self, name, a)
  local num = count(name, "num_embeddings", a.num_embeddings)
  local dim = count(name, "embedding_dim", a.embedding_dim)
  self.num_embeddings, self.embedding_dim = num, dim
  self.padding_idx = impl.padding_idx(name, a.padding_idx, num)
  if a.max_norm ~= nil and type(a.max_norm) ~= "number" then
    error(("%s: max_norm must be a number, got %s"):format(name, check.typename(a.max_norm)), 3)
  end
  if a.norm_type ~= nil and type(a.norm_type) ~= "number" then
    error(("%s: norm_type must be a number, got %s"):format(name, check.typename(a.norm_type)),
          3)
  end
  if a.sparse then
    error(("%s: sparse = true is not supported (deepmoon's gradients are dense tensors)")
          :format(name), 3)
  end
  self.max_norm = a.max_norm
  self.norm_type = a.norm_type or 2.0
  self.scale_grad_by_freq = a.scale_grad_by_freq and true or false
  self.sparse = false
  local w = a._weight
  if w ~= nil then
    if not check.is_tensor(w) then
      error(("%s: _weight must be a Tensor, got %s"):format(name, check.typename(w)), 3)
    end
    local s = w:size()
    if #s ~= 2 or s[1] ~= num or s[2] ~= dim then
      error(("%s: Shape of weight does not match num_embeddings and embedding_dim: expected "
             .. "[%d x %d], got [%s]"):format(name, num, dim, table.concat(s, " x ")), 3)
    end
    self.weight = Parameter(w)
  else
    local dt = a.dtype or dm.float32
    if dt ~= dm.float32 and dt ~= dm.float64 then
      error(("%s: dtype must be float32 or float64, got %s"):format(name, tostring(dt)), 3)
    end
    local t = dm.empty({ num, dim }, { dtype = dt })
    dm.no_grad(function ()
      t:normal_()
      if self.padding_idx then t[self.padding_idx]:fill_(0) end
    end)
    self.weight = Parameter(t)
  end
end

local function repr_common (self, s)
  if self.padding_idx ~= nil then s = s .. ", padding_idx=" .. self.padding_idx end
  if self.max_norm ~= nil then s = s .. ", max_norm=" .. util.pyfloat(self.max_norm) end
  if self.norm_type ~= 2 then s = s .. ", norm_type=" .. util.pyfloat(self.norm_type) end
  if self.scale_grad_by_freq then s = s .. ", scale_grad_by_freq=True" end
  return s
end

-- ---- Embedding -----------------------------------------------------------------------------

local Embedding = Module:extend("Embedding")

local EMB_POS = { "num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                  "scale_grad_by_freq", "sparse", "_weight" }

--- nn.Embedding(num_embeddings, embedding_dim [, {padding_idx, max_norm, norm_type = 2,
--- scale_grad_by_freq = false, sparse = false, _weight, dtype}]): weight [num x dim] drawn
--- from N(0, 1) (padding_idx's row zeros); emb(ids) -> [ids... x dim] for 1-based int64 ids.
--- padding_idx (1-based, negative from the end) gets no gradient; max_norm renormalises each
--- row looked up whose norm_type-norm exceeds it, in place; sparse = true is not supported
function Embedding:__init (...)
  local a = util.args("Embedding", 3, EMB_POS, { "dtype" }, ...)
  setup(self, "Embedding", a)
end

function Embedding:forward (input)
  return impl.embedding("Embedding", input, self.weight, self.padding_idx, self.max_norm,
                        self.norm_type, self.scale_grad_by_freq, false)
end

function Embedding:extra_repr ()
  return repr_common(self, ("%d, %d"):format(self.num_embeddings, self.embedding_dim))
end

local PRETRAINED = { "freeze", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                     "sparse" }

local function pretrained (cls, name, embeddings, a, extra)
  if not check.is_tensor(embeddings) then
    error(("%s.from_pretrained: embeddings must be a Tensor, got %s"):format(name,
      check.typename(embeddings)), 3)
  end
  if embeddings:dim() ~= 2 then
    error(("%s.from_pretrained: embeddings parameter is expected to be 2-dimensional, got %s")
          :format(name, "[" .. table.concat(embeddings:size(), " x ") .. "]"), 3)
  end
  local s = embeddings:size()
  local opts = { _weight = embeddings, padding_idx = a.padding_idx, max_norm = a.max_norm,
                 norm_type = a.norm_type, scale_grad_by_freq = a.scale_grad_by_freq,
                 sparse = a.sparse }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local m = cls(s[1], s[2], opts)
  local freeze = a.freeze
  if freeze == nil then freeze = true end
  m.weight.requires_grad = not freeze
  return m
end

--- nn.Embedding.from_pretrained(embeddings [, {freeze = true, padding_idx, max_norm,
--- norm_type = 2, scale_grad_by_freq = false, sparse = false}]): an Embedding whose weight is
--- embeddings [num x dim] itself (shared, as PyTorch's), not trained when freeze
function Embedding.from_pretrained (embeddings, ...)
  local a = util.args("Embedding.from_pretrained", 2, PRETRAINED, {}, ...)
  return pretrained(Embedding, "Embedding", embeddings, a)
end

-- ---- EmbeddingBag --------------------------------------------------------------------------

local EmbeddingBag = Module:extend("EmbeddingBag")

local BAG_POS = { "num_embeddings", "embedding_dim", "max_norm", "norm_type",
                  "scale_grad_by_freq", "mode", "sparse", "_weight", "include_last_offset",
                  "padding_idx" }

--- nn.EmbeddingBag(num_embeddings, embedding_dim [, {max_norm, norm_type = 2,
--- scale_grad_by_freq = false, mode = "mean", sparse = false, _weight,
--- include_last_offset = false, padding_idx, dtype}]): bag(input [, offsets]
--- [, per_sample_weights]) -> [B x dim], the sum, mean or max of each bag's rows.  input
--- [B x L] holds B bags of L ids; or input [n] with offsets [B], the 1-based position where
--- each bag starts (offsets[1] = 1; include_last_offset: [B + 1], the last n + 1).
--- per_sample_weights (mode "sum" only) has input's shape; padding_idx's entries are left
--- out of the bags (a mean divides by the rest); an empty bag gives zeros
function EmbeddingBag:__init (...)
  local a = util.args("EmbeddingBag", 3, BAG_POS, { "dtype" }, ...)
  setup(self, "EmbeddingBag", a)
  local mode = a.mode or "mean"
  if mode ~= "sum" and mode ~= "mean" and mode ~= "max" then
    error(("EmbeddingBag: mode must be 'sum', 'mean' or 'max', got %s"):format(
      type(mode) == "string" and ("'" .. mode .. "'") or check.typename(mode)), 3)
  end
  self.mode = mode
  self.include_last_offset = a.include_last_offset and true or false
end

function EmbeddingBag:forward (input, offsets, per_sample_weights)
  return impl.embedding_bag("EmbeddingBag", input, self.weight, offsets, self.max_norm,
                            self.norm_type, self.scale_grad_by_freq, self.mode, false,
                            per_sample_weights, self.include_last_offset, self.padding_idx)
end

function EmbeddingBag:extra_repr ()
  local s = ("%d, %d"):format(self.num_embeddings, self.embedding_dim)
  if self.max_norm ~= nil then s = s .. ", max_norm=" .. util.pyfloat(self.max_norm) end
  if self.norm_type ~= 2 then s = s .. ", norm_type=" .. util.pyfloat(self.norm_type) end
  if self.scale_grad_by_freq then s = s .. ", scale_grad_by_freq=True" end
  s = s .. ", mode='" .. self.mode .. "'"
  if self.padding_idx ~= nil then s = s .. ", padding_idx=" .. self.padding_idx end
  return s
end

--- nn.EmbeddingBag.from_pretrained(embeddings [, {freeze = true, max_norm, norm_type = 2,
--- scale_grad_by_freq = false, mode = "mean", sparse = false, include_last_offset = false,
--- padding_idx}]): an EmbeddingBag whose weight is embeddings itself
function EmbeddingBag.from_pretrained (embeddings, ...)
  local a = util.args("EmbeddingBag.from_pretrained", 2,
                      { "freeze", "max_norm", "norm_type", "scale_grad_by_freq", "mode",
                        "sparse", "include_last_offset", "padding_idx" }, {}, ...)
  return pretrained(EmbeddingBag, "EmbeddingBag", embeddings, a,
                    { mode = a.mode, include_last_offset = a.include_last_offset })
end

return { Embedding = Embedding, EmbeddingBag = EmbeddingBag }
