--- deepmoon.nn.loss: the loss modules.  criterion(output, target) returns the loss (a 0-dim
-- tensor, or per-element values with reduction = "none").  Each takes PyTorch's positional
-- weight (where PyTorch has one) and an options table with PyTorch's keyword names:
--
--   nn.BCELoss()                                   nn.CrossEntropyLoss{ label_smoothing = 0.1 }
--   nn.BCELoss(w)  or  nn.BCELoss{ weight = w, reduction = "sum" }
--
-- Class targets (CrossEntropyLoss, NLLLoss) are 1-based.  A weight or pos_weight is
-- registered as a buffer, as PyTorch does (so it appears in state_dict).

local dm = require "deepmoon"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"

local Module = module.Module
local impl = F._impl
local try_loss = dm._try_loss

-- Fast paths: one C call, core._try_loss, which returns nil unless the arguments pass the
-- checks impl[fn] would make (tensors of one shape, or an [N x C] input with [N] class
-- targets; settings of the right types and values) and the core succeeds.  On nil the call
-- goes the checked way, through impl[fn], which raises the message the user should see.
-- FAST[fn] = the kind number core._try_loss takes.
local FAST = {
  binary_cross_entropy = 1, binary_cross_entropy_with_logits = 2, mse_loss = 3, l1_loss = 4,
  cross_entropy = 5, nll_loss = 6,
}

local L = {}

-- a loss class: settings parsed from `positional` / `extra` names; `weights` are the
-- tensor settings kept as buffers; forward calls impl[fn] with the settings in `order`
local function loss_class (name, fn, positional, extra, weights, order)
  local C = Module:extend(name)
  local is_weight = {}
  for _, k in ipairs(weights) do is_weight[k] = true end
  function C:__init (...)
    local a = util.args(name, 3, positional, extra, ...)
    for _, k in ipairs(order) do
      local v = a[k]
      if is_weight[k] then
        if v ~= nil then self:register_buffer(k, v) end
      else
        self[k] = v
      end
    end
    -- check the settings now rather than at the first call
    if a.reduction ~= nil and a.reduction ~= "mean" and a.reduction ~= "sum" and
       a.reduction ~= "none" then
      error(("%s: %s is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
            :format(name, type(a.reduction) == "string" and ("'" .. a.reduction .. "'")
                    or tostring(a.reduction)), 3)
    end
    self.reduction = a.reduction or "mean"
  end
  local f = impl[fn]
  local n = #order
  local kind = FAST[fn]
  -- the settings this class has (the others are passed to core._try_loss as nil)
  local has = {}
  for _, k in ipairs(order) do has[k] = true end
  local hw, hpw, hii, hls = has.weight, has.pos_weight, has.ignore_index, has.label_smoothing
  function C:forward (input, target)
    if kind then
      local out = try_loss(kind, input, target, hw and self.weight or nil,
                           hpw and self.pos_weight or nil, self.reduction,
                           hii and self.ignore_index or nil, hls and self.label_smoothing or nil)
      if out then return out end
    end
    local s = {}
    for i = 1, n do s[i] = self[order[i]] end
    return f(name, input, target, table.unpack(s, 1, n))
  end
  L[name] = C
  return C
end

--- nn.BCELoss([weight] [, {weight =, reduction = "mean"}]): binary cross entropy of
--- probabilities (after a sigmoid) against targets in [0, 1] of the same shape
loss_class("BCELoss", "binary_cross_entropy", { "weight" }, { "reduction" }, { "weight" },
           { "weight", "reduction" })

--- nn.BCEWithLogitsLoss([weight] [, {weight =, pos_weight =, reduction =}]): sigmoid and
--- BCE fused (numerically stable)
loss_class("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", { "weight" },
           { "reduction", "pos_weight" }, { "weight", "pos_weight" },
           { "weight", "pos_weight", "reduction" })

--- nn.MSELoss([{reduction =}]): mean squared error
loss_class("MSELoss", "mse_loss", {}, { "reduction" }, {}, { "reduction" })

--- nn.L1Loss([{reduction =}]): mean absolute error
loss_class("L1Loss", "l1_loss", {}, { "reduction" }, {}, { "reduction" })

--- nn.SmoothL1Loss([{reduction =, beta = 1}])
loss_class("SmoothL1Loss", "smooth_l1_loss", {}, { "reduction", "beta" }, {},
           { "reduction", "beta" })

--- nn.HuberLoss([{reduction =, delta = 1}])
loss_class("HuberLoss", "huber_loss", {}, { "reduction", "delta" }, {},
           { "reduction", "delta" })

--- nn.CrossEntropyLoss([weight] [, {weight =, ignore_index = -100, reduction =,
--- label_smoothing = 0}]): input [N x C] logits, target [N] of 1-based classes (or [N x C]
--- probabilities); or input [N x C x d1 x ...] with target [N x d1 x ...] (PyTorch's
--- K-dimensional form, e.g. [N x C x T] logits of a sequence model against [N x T] ids)
loss_class("CrossEntropyLoss", "cross_entropy", { "weight" },
           { "ignore_index", "reduction", "label_smoothing" }, { "weight" },
           { "weight", "ignore_index", "reduction", "label_smoothing" })

--- nn.NLLLoss([weight] [, {weight =, ignore_index = -100, reduction =}]): input [N x C]
--- log-probabilities, target [N] of 1-based classes; or [N x C x d1 x ...] with [N x d1 x ...]
loss_class("NLLLoss", "nll_loss", { "weight" }, { "ignore_index", "reduction" }, { "weight" },
           { "weight", "ignore_index", "reduction" })

return L
