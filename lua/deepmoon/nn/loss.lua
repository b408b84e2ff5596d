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
local is_tensor, same_shape, class_target_ok = dm.is_tensor, dm._same_shape,
                                               dm._class_target_ok

-- Fast paths.  When the arguments pass the checks impl[fn] would make (tensors of one shape,
-- or an [N x C] input with [N] class targets; settings of the right types), the core
-- function is called directly: one C call instead of the checks' dozen.  A fast function
-- returns nil when it does not apply, and runs under pcall: on any error the call goes the
-- slow way, through impl[fn], which raises the message the user should see.
local REDUCTION = { mean = true, sum = true, none = true }
local function opt_t (v) return v == nil or is_tensor(v) end
local function opt_r (v) return v == nil or REDUCTION[v] == true end
local function opt_i (v) return v == nil or math.type(v) == "integer" end

local FAST = {
  binary_cross_entropy = function (self, x, t)
    if not same_shape(x, t) then return nil end
    local w, r = self.weight, self.reduction
    if opt_t(w) and opt_r(r) then return dm.bce_loss(x, t, w, r) end
  end,
  binary_cross_entropy_with_logits = function (self, x, t)
    if not same_shape(x, t) then return nil end
    local w, pw, r = self.weight, self.pos_weight, self.reduction
    if opt_t(w) and opt_t(pw) and opt_r(r) then return dm.bce_with_logits_loss(x, t, w, pw, r) end
  end,
  mse_loss = function (self, x, t)
    local r = self.reduction
    if same_shape(x, t) and opt_r(r) then return dm.mse_loss(x, t, r) end
  end,
  l1_loss = function (self, x, t)
    local r = self.reduction
    if same_shape(x, t) and opt_r(r) then return dm.l1_loss(x, t, r) end
  end,
  cross_entropy = function (self, x, t)
    if not class_target_ok(x, t) then return nil end
    local w, ii, r, ls = self.weight, self.ignore_index, self.reduction, self.label_smoothing
    if opt_t(w) and opt_i(ii) and opt_r(r) and
       (ls == nil or (type(ls) == "number" and ls >= 0 and ls <= 1)) then
      return dm.cross_entropy(x, t, w, r, ii, ls)
    end
  end,
  nll_loss = function (self, x, t)
    if not class_target_ok(x, t) then return nil end
    local w, ii, r = self.weight, self.ignore_index, self.reduction
    if opt_t(w) and opt_i(ii) and opt_r(r) then return dm.nll_loss(x, t, w, r, ii) end
  end,
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
  local fast = FAST[fn]
  function C:forward (input, target)
    if fast then
      local ok, out = pcall(fast, self, input, target)
      if ok and out ~= nil then return out end
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
--- probabilities)
loss_class("CrossEntropyLoss", "cross_entropy", { "weight" },
           { "ignore_index", "reduction", "label_smoothing" }, { "weight" },
           { "weight", "ignore_index", "reduction", "label_smoothing" })

--- nn.NLLLoss([weight] [, {weight =, ignore_index = -100, reduction =}]): input [N x C]
--- log-probabilities, target [N] of 1-based classes
loss_class("NLLLoss", "nll_loss", { "weight" }, { "ignore_index", "reduction" }, { "weight" },
           { "weight", "ignore_index", "reduction" })

return L
