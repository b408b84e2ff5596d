--- deepmoon.nn.functional (also nn.F): the layers and losses as plain functions, in
-- PyTorch's argument order, optional arguments also as one trailing options table.
--
--   local F = nn.functional
--   local y = F.relu(F.linear(x, w, b))
--   local loss = F.cross_entropy(logits, target, { label_smoothing = 0.1 })
--
-- Dims are 1-based; class targets of cross_entropy and nll_loss are 1-based class indices.
-- Loss targets must have the input's shape (PyTorch broadcasts some with a warning; here
-- it is an error, the usual cause being a [N] target for an [N x 1] output).

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local util = require "deepmoon.nn.util"

local F = {}
local shape_str = function (t) return format.shape_str(t:size()) end
local is_tensor = check.is_tensor

local function need_tensor (fname, what, v, level)
  if not is_tensor(v) then
    error(("%s: %s must be a Tensor, got %s"):format(fname, what, check.typename(v)), level + 1)
  end
end

-- ---- activations -------------------------------------------------------------------------

--- relu(x) = max(0, x)
function F.relu (x) need_tensor("relu", "input", x, 2); return x:relu() end
--- sigmoid(x) = 1 / (1 + exp(-x))
function F.sigmoid (x) need_tensor("sigmoid", "input", x, 2); return x:sigmoid() end
--- tanh(x)
function F.tanh (x) need_tensor("tanh", "input", x, 2); return x:tanh() end
--- selu(x), PyTorch's constants
function F.selu (x) need_tensor("selu", "input", x, 2); return x:selu() end

--- leaky_relu(x [, negative_slope = 0.01])
function F.leaky_relu (x, ...)
  need_tensor("leaky_relu", "input", x, 2)
  local a = util.args("leaky_relu", 2, { "negative_slope", "inplace" }, nil, ...)
  return x:leaky_relu(a.negative_slope or 0.01)
end

--- elu(x [, alpha = 1])
function F.elu (x, ...)
  need_tensor("elu", "input", x, 2)
  local a = util.args("elu", 2, { "alpha", "inplace" }, nil, ...)
  return x:elu(a.alpha or 1.0)
end

local SQRT_2_OVER_PI = math.sqrt(2 / math.pi)

--- gelu(x [, approximate = "none"]): x * Phi(x); "tanh" gives
--- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) as PyTorch's approximate='tanh'
function F.gelu (x, ...)
  need_tensor("gelu", "input", x, 2)
  local a = util.args("gelu", 2, { "approximate" }, nil, ...)
  local ap = a.approximate or "none"
  if ap == "none" then return x:gelu() end
  if ap ~= "tanh" then
    error(("gelu: approximate must be 'none' or 'tanh', got %s"):format(tostring(ap)), 2)
  end
  local inner = ((x * x * x) * 0.044715 + x) * SQRT_2_OVER_PI
  return (inner:tanh() + 1) * x * 0.5
end

-- PyTorch's legacy implicit softmax dim (0-based 0 for 0-, 1-, 3-D, else 1), 1-based here
local function softmax_dim (fname, x, dim)
  -- level 3: the caller of F.softmax
  if dim ~= nil then return check.arg(fname, "dim", dim, "integer", nil, 3) end
  local d = x:dim()
  if d == 0 or d == 1 or d == 3 then return 1 end
  return 2
end

--- softmax(x, dim): along dim (1-based, negative from the end)
function F.softmax (x, dim)
  need_tensor("softmax", "input", x, 2)
  return x:softmax(softmax_dim("softmax", x, dim))
end

--- log_softmax(x, dim)
function F.log_softmax (x, dim)
  need_tensor("log_softmax", "input", x, 2)
  return x:log_softmax(softmax_dim("log_softmax", x, dim))
end

-- ---- layers ------------------------------------------------------------------------------

--- linear(x, weight [, bias]) = x weight^T + bias; x [* x in], weight [out x in]
function F.linear (x, w, b)
  need_tensor("linear", "input", x, 2)
  need_tensor("linear", "weight", w, 2)
  if b ~= nil then need_tensor("linear", "bias", b, 2) end
  return dm.linear(x, w, b)
end

--- dropout(x [, p = 0.5] [, training = true] [, inplace]) or dropout(x, {p =, training =,
--- generator =}): zero each value with probability p and scale the rest by 1 / (1 - p)
function F.dropout (x, ...)
  need_tensor("dropout", "input", x, 2)
  local a = util.args("dropout", 2, { "p", "training", "inplace" }, { "generator" }, ...)
  local p = a.p
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(("dropout: dropout probability has to be between 0 and 1, but got %s"):format(
      tostring(p)), 2)
  end
  local training = a.training
  if training == nil then training = true end
  return dm.dropout(x, p, training and true or false, a.generator)
end

-- PyTorch's feature dropout: one draw per (sample, channel), kept channels scaled by
-- 1 / (1 - p); x [N x C x ...] (at least 2 dims).  ranks: the ranks the function is meant
-- for (dropout1d refuses others; dropout2d and dropout3d take any rank >= 2, as PyTorch
-- does after a warning); unbatched: the rank taken as one sample without the batch dim.
local function feature_dropout (fname, ranks, strict, unbatched, x, ...)
  need_tensor(fname, "input", x, 3)
  local a = util.args(fname, 3, { "p", "training", "inplace" }, { "generator" }, ...)
  local p = a.p
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(("%s: dropout probability has to be between 0 and 1, but got %s"):format(
      fname, tostring(p)), 3)
  end
  local d = x:dim()
  if (strict and not ranks[d]) or d < 2 and d ~= unbatched then
    error(("%s: expected %s input, got %s"):format(fname, ranks.text, shape_str(x)), 3)
  end
  local training = a.training
  if training == nil then training = true end
  if not training or p == 0 or x:numel() == 0 then return x end
  if not x:is_floating_point() then
    error(("%s: expected a floating-point input, got %s"):format(
      fname, (tostring(x.dtype):gsub("^deepmoon%.", ""))), 3)
  end
  local batched = d ~= unbatched
  local xs = batched and x or x:unsqueeze(1)
  local size = { xs:size(1), xs:size(2) }
  for i = 3, xs:dim() do size[i] = 1 end
  local noise = dm.empty(size, { dtype = x.dtype })
  if p == 1 then
    noise:zero_()
  else
    noise:bernoulli_(1 - p, { generator = a.generator }):div_(1 - p)
  end
  if not batched then noise = noise:squeeze(1) end
  return x * noise
end

--- layer_norm(x, normalized_shape [, weight] [, bias] [, eps = 1e-5]), also {weight =,
--- bias =, eps =}: x's last dims (their sizes normalized_shape, a number or a list)
--- normalised per sample, then weight * xhat + bias
function F.layer_norm (x, normalized_shape, ...)
  need_tensor("layer_norm", "input", x, 2)
  if type(normalized_shape) == "number" then normalized_shape = { normalized_shape } end
  if type(normalized_shape) ~= "table" then
    error(("layer_norm: normalized_shape must be a number or a list, got %s"):format(
      type(normalized_shape)), 2)
  end
  local a = util.args("layer_norm", 2, { "weight", "bias", "eps" }, nil, ...)
  if a.weight ~= nil then need_tensor("layer_norm", "weight", a.weight, 2) end
  if a.bias ~= nil then need_tensor("layer_norm", "bias", a.bias, 2) end
  return dm.layer_norm(x, normalized_shape, a.weight, a.bias, a.eps or 1e-5)
end

--- group_norm(x, num_groups [, weight] [, bias] [, eps = 1e-5]), also {weight =, bias =,
--- eps =}: the channels of x [N x C x ...] in num_groups groups, each group of each sample
--- normalised, then weight and bias [C] per channel
function F.group_norm (x, num_groups, ...)
  need_tensor("group_norm", "input", x, 2)
  if math.type(num_groups) ~= "integer" then
    error(("group_norm: num_groups must be an integer, got %s"):format(tostring(num_groups)), 2)
  end
  local a = util.args("group_norm", 2, { "weight", "bias", "eps" }, nil, ...)
  if a.weight ~= nil then need_tensor("group_norm", "weight", a.weight, 2) end
  if a.bias ~= nil then need_tensor("group_norm", "bias", a.bias, 2) end
  return dm.group_norm(x, num_groups, a.weight, a.bias, a.eps or 1e-5)
end

--- instance_norm(x [, running_mean] [, running_var] [, weight] [, bias]
--- [, use_input_stats = true] [, momentum = 0.1] [, eps = 1e-5]), also as an options table
--- (unbatched = true: x is one sample [C x ...]): every channel of every sample of
--- x [N x C x ...] normalised over its own values; with use_input_stats and running
--- statistics, those move towards the mean over the samples of each channel's mean and
--- unbiased variance; without use_input_stats, the running statistics normalise
function F.instance_norm (x, ...)
  need_tensor("instance_norm", "input", x, 2)
  local a = util.args("instance_norm", 2, { "running_mean", "running_var", "weight", "bias",
                                            "use_input_stats", "momentum", "eps" },
                      { "unbatched" }, ...)
  local eps, momentum = a.eps or 1e-5, a.momentum or 0.1
  for _, k in ipairs({ "running_mean", "running_var", "weight", "bias" }) do
    if a[k] ~= nil then need_tensor("instance_norm", k, a[k], 2) end
  end
  if type(eps) ~= "number" or type(momentum) ~= "number" then
    error("instance_norm: eps and momentum must be numbers", 2)
  end
  local use = a.use_input_stats
  if use == nil then use = true end
  local xb = a.unbatched and x:unsqueeze(1) or x
  if xb:dim() < 3 then
    error(("instance_norm: expected input [N x C x *] of at least 3 dims, got %s"):format(
      shape_str(x)), 2)
  end
  local rm, rv = a.running_mean, a.running_var
  local y
  if use then
    local n, c = xb:size(1), xb:size(2)
    y = dm.group_norm(xb, c, a.weight, a.bias, eps)
    if rm or rv then
      dm.no_grad(function ()
        local flat = xb:detach():reshape({ n, c, -1 })
        if rm then rm:mul_(1 - momentum):add_(flat:mean(3):mean(1):to(rm.dtype) * momentum) end
        if rv then
          rv:mul_(1 - momentum):add_(flat:var(3):mean(1):to(rv.dtype) * momentum)
        end
      end)
    end
  else
    if not (rm and rv) then
      error("instance_norm: expected running_mean and running_var when use_input_stats is false", 2)
    end
    y = dm.batch_norm(xb, rm, rv, a.weight, a.bias, false, momentum, eps)
  end
  return a.unbatched and y:squeeze(1) or y
end

--- dropout1d(x [, p = 0.5] [, training = true] [, inplace]), also {p =, training =,
--- generator =}: zero whole channels of x [N x C x L] (or one sample [C x L]) with
--- probability p, scaling the others by 1 / (1 - p)
function F.dropout1d (x, ...)
  return feature_dropout("dropout1d", { [2] = true, [3] = true, text = "[C x L] or [N x C x L]" },
                         true, 2, x, ...)
end

--- dropout2d(x [, p = 0.5] [, training = true] [, inplace]): the same over x [N x C x H x W]
--- (PyTorch 1.13's rule: a 3-dim input is [N x C x L], not one unbatched sample)
function F.dropout2d (x, ...)
  return feature_dropout("dropout2d", { [3] = true, [4] = true, text = "[N x C x H x W]" },
                         false, nil, x, ...)
end

--- dropout3d(x [, p = 0.5] [, training = true] [, inplace]): the same over x
--- [N x C x D x H x W] (or one sample [C x D x H x W])
function F.dropout3d (x, ...)
  return feature_dropout("dropout3d", { [4] = true, [5] = true, text = "[N x C x D x H x W]" },
                         false, 4, x, ...)
end

-- pad(x, pad [, mode = "constant"] [, value = 0]) or pad(x, pad, {mode =, value =}):
-- PyTorch's F.pad; pad lists the last dim's left and right, then the dim before's, ...;
-- "constant" pads any dims (negative values crop), "reflect", "replicate" and "circular"
-- the last 1..3 dims of a [N x] C x ... input
local function raw_pad (x, pad, ...)
  need_tensor("pad", "input", x, 2)
  if type(pad) ~= "table" or not util.is_options(pad) then
    error(("pad: argument 'pad' must be a list of integers, got %s"):format(
      check.typename(pad)), 2)
  end
  local a = util.args("pad", 2, { "mode", "value" }, nil, ...)
  local mode = a.mode
  if mode == nil then mode = "constant" end
  if type(mode) ~= "string" then
    error(("pad: argument 'mode' must be a string, got %s"):format(check.typename(mode)), 2)
  end
  local value = a.value
  if value ~= nil and type(value) ~= "number" then
    error(("pad: argument 'value' must be a number, got %s"):format(check.typename(value)), 2)
  end
  return dm.pad(x, pad, mode, value or 0)
end

--- batch_norm(x, running_mean, running_var [, weight] [, bias] [, training = false]
--- [, momentum = 0.1] [, eps = 1e-5]): normalise over dim 2 of x [N x C] or [N x C x L];
--- when training, batch statistics are used and the running ones (if given) updated in place
function F.batch_norm (x, ...)
  need_tensor("batch_norm", "input", x, 2)
  local a = util.args("batch_norm", 2, { "running_mean", "running_var", "weight", "bias",
                                         "training", "momentum", "eps" }, nil, ...)
  local training = a.training and true or false
  local momentum = a.momentum
  if momentum == nil then momentum = 0.1 end
  return dm.batch_norm(x, a.running_mean, a.running_var, a.weight, a.bias, training,
                       momentum, a.eps or 1e-5)
end

-- ---- losses ------------------------------------------------------------------------------
-- The implementations take the name to report (the module's, e.g. "BCELoss", or the
-- function's) and are reached by tail calls, so level 2 (3 in helpers) is the user's line.

local REDUCTIONS = { none = true, mean = true, sum = true }

local function check_reduction (fname, r)
  if r == nil then return "mean" end
  if not REDUCTIONS[r] then
    error(("%s: %s is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
          :format(fname, type(r) == "string" and ("'" .. r .. "'") or tostring(r)), 3)
  end
  return r
end

local function check_pair (fname, input, target)
  need_tensor(fname, "input", input, 3)
  need_tensor(fname, "target", target, 3)
  if input:dim() ~= target:dim() or shape_str(input) ~= shape_str(target) then
    error(("%s: expected target of the input's size %s, got %s"):format(
      fname, shape_str(input), shape_str(target)), 3)
  end
end

local function opt_tensor (fname, what, v)
  if v ~= nil then need_tensor(fname, what, v, 3) end
  return v
end

-- run a core loss; its error ("cross_entropy: target 4 out of range ...") is re-raised
-- under the caller's name ("CrossEntropyLoss: target 4 ...") at the user's line
local function core_loss (fname, cname, f, ...)
  local ok, res = pcall(f, ...)
  if ok then return res end
  if type(res) == "string" then
    local prefix = cname .. ": "
    if res:sub(1, #prefix) == prefix then res = res:sub(#prefix + 1) end
    error(fname .. ": " .. res, 3)
  end
  error(res, 0)
end

local impl = {}
F._impl = impl

function impl.binary_cross_entropy (fname, input, target, weight, reduction)
  check_pair(fname, input, target)
  opt_tensor(fname, "weight", weight)
  local out = core_loss(fname, "binary_cross_entropy", dm.bce_loss, input, target, weight,
                        check_reduction(fname, reduction))
  return out
end

function impl.binary_cross_entropy_with_logits (fname, input, target, weight, pos_weight,
                                                reduction)
  check_pair(fname, input, target)
  opt_tensor(fname, "weight", weight)
  opt_tensor(fname, "pos_weight", pos_weight)
  local out = core_loss(fname, "binary_cross_entropy_with_logits", dm.bce_with_logits_loss,
                        input, target, weight, pos_weight, check_reduction(fname, reduction))
  return out
end

function impl.mse_loss (fname, input, target, reduction)
  check_pair(fname, input, target)
  local out = core_loss(fname, "mse_loss", dm.mse_loss, input, target,
                        check_reduction(fname, reduction))
  return out
end

function impl.l1_loss (fname, input, target, reduction)
  check_pair(fname, input, target)
  local out = core_loss(fname, "l1_loss", dm.l1_loss, input, target,
                        check_reduction(fname, reduction))
  return out
end

local function check_positive (fname, what, v, default, allow_zero)
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 or (v == 0 and not allow_zero) then
    error(("%s: %s must be a %s number, got %s"):format(fname, what,
      allow_zero and "non-negative" or "positive", tostring(v)), 3)
  end
  return v
end

function impl.smooth_l1_loss (fname, input, target, reduction, beta)
  check_pair(fname, input, target)
  beta = check_positive(fname, "beta", beta, 1.0, true)
  local out = core_loss(fname, "smooth_l1_loss", dm.smooth_l1_loss, input, target,
                        check_reduction(fname, reduction), beta)
  return out
end

function impl.huber_loss (fname, input, target, reduction, delta)
  check_pair(fname, input, target)
  delta = check_positive(fname, "delta", delta, 1.0, false)
  local out = core_loss(fname, "huber_loss", dm.huber_loss, input, target,
                        check_reduction(fname, reduction), delta)
  return out
end

-- input [N x C] (or [C], or [N x C x d1 x ...], PyTorch's K-dimensional form); target [N]
-- (or [], or [N x d1 x ...]) of 1-based classes, or probabilities of input's shape when allowed
local function check_class_target (fname, input, target, allow_probs)
  need_tensor(fname, "input", input, 3)
  need_tensor(fname, "target", target, 3)
  local d = input:dim()
  if d < 1 then
    error(("%s: expected input [N x C], [C] or [N x C x d1 x ...], got %s"):format(
      fname, shape_str(input)), 3)
  end
  local want
  if d == 1 then
    want = "[]"
  else
    local s = input:size()
    table.remove(s, 2)
    want = "[" .. table.concat(s, " x ") .. "]"
  end
  local got = shape_str(target)
  if got == want then return end
  if allow_probs and got == shape_str(input) then return end
  if allow_probs then
    error(("%s: expected target %s of class indices or %s of probabilities, got %s"):format(
      fname, want, shape_str(input), got), 3)
  end
  error(("%s: expected target %s of class indices, got %s"):format(fname, want, got), 3)
end

local function check_ignore (fname, v)
  if v == nil then return -100 end
  if math.type(v) ~= "integer" then
    error(("%s: ignore_index must be an integer, got %s"):format(fname, tostring(v)), 3)
  end
  return v
end

function impl.cross_entropy (fname, input, target, weight, ignore_index, reduction,
                             label_smoothing)
  check_class_target(fname, input, target, true)
  opt_tensor(fname, "weight", weight)
  ignore_index = check_ignore(fname, ignore_index)
  label_smoothing = label_smoothing or 0.0
  if type(label_smoothing) ~= "number" or label_smoothing < 0 or label_smoothing > 1 then
    error(("%s: label_smoothing must be between 0.0 and 1.0, got %s"):format(
      fname, tostring(label_smoothing)), 2)
  end
  local out = core_loss(fname, "cross_entropy", dm.cross_entropy, input, target, weight,
                        check_reduction(fname, reduction), ignore_index, label_smoothing)
  return out
end

function impl.nll_loss (fname, input, target, weight, ignore_index, reduction)
  check_class_target(fname, input, target, false)
  opt_tensor(fname, "weight", weight)
  ignore_index = check_ignore(fname, ignore_index)
  local out = core_loss(fname, "nll_loss", dm.nll_loss, input, target, weight,
                        check_reduction(fname, reduction), ignore_index)
  return out
end

--- binary_cross_entropy(input, target [, weight] [, {weight =, reduction = "mean"}]):
--- -w (t log x + (1 - t) log(1 - x)), logs clamped at -100 as PyTorch
function F.binary_cross_entropy (input, target, ...)
  local a = util.args("binary_cross_entropy", 2, { "weight" }, { "reduction" }, ...)
  return impl.binary_cross_entropy("binary_cross_entropy", input, target, a.weight,
                                   a.reduction)
end

--- binary_cross_entropy_with_logits(input, target [, weight] [, {weight =, pos_weight =,
--- reduction =}]): sigmoid and BCE in one stable step; pos_weight [C] weighs positives
function F.binary_cross_entropy_with_logits (input, target, ...)
  local a = util.args("binary_cross_entropy_with_logits", 2, { "weight" },
                      { "pos_weight", "reduction" }, ...)
  return impl.binary_cross_entropy_with_logits("binary_cross_entropy_with_logits", input,
    target, a.weight, a.pos_weight, a.reduction)
end

--- mse_loss(input, target [, {reduction =}]): (x - t)^2
function F.mse_loss (input, target, ...)
  local a = util.args("mse_loss", 2, {}, { "reduction" }, ...)
  return impl.mse_loss("mse_loss", input, target, a.reduction)
end

--- l1_loss(input, target [, {reduction =}]): |x - t|
function F.l1_loss (input, target, ...)
  local a = util.args("l1_loss", 2, {}, { "reduction" }, ...)
  return impl.l1_loss("l1_loss", input, target, a.reduction)
end

--- smooth_l1_loss(input, target [, {reduction =, beta = 1}]): 0.5 d^2 / beta for |d| < beta,
--- else |d| - 0.5 beta
function F.smooth_l1_loss (input, target, ...)
  local a = util.args("smooth_l1_loss", 2, {}, { "reduction", "beta" }, ...)
  return impl.smooth_l1_loss("smooth_l1_loss", input, target, a.reduction, a.beta)
end

--- huber_loss(input, target [, {reduction =, delta = 1}]): 0.5 d^2 for |d| < delta,
--- else delta (|d| - 0.5 delta)
function F.huber_loss (input, target, ...)
  local a = util.args("huber_loss", 2, {}, { "reduction", "delta" }, ...)
  return impl.huber_loss("huber_loss", input, target, a.reduction, a.delta)
end

--- cross_entropy(input, target [, weight] [, {weight =, ignore_index = -100, reduction =,
--- label_smoothing = 0}]): log_softmax then nll; input [N x C] logits, target [N] of
--- 1-based classes or [N x C] of probabilities; or the K-dimensional form: input
--- [N x C x d1 x ...], target [N x d1 x ...] (or probabilities of the input's shape)
function F.cross_entropy (input, target, ...)
  local a = util.args("cross_entropy", 2, { "weight" },
                      { "ignore_index", "reduction", "label_smoothing" }, ...)
  return impl.cross_entropy("cross_entropy", input, target, a.weight, a.ignore_index,
                            a.reduction, a.label_smoothing)
end

--- nll_loss(input, target [, weight] [, {weight =, ignore_index = -100, reduction =}]):
--- -input[i][target[i]], input [N x C] log-probabilities, target [N] of 1-based classes;
--- or input [N x C x d1 x ...] with target [N x d1 x ...]
function F.nll_loss (input, target, ...)
  local a = util.args("nll_loss", 2, { "weight" }, { "ignore_index", "reduction" }, ...)
  return impl.nll_loss("nll_loss", input, target, a.weight, a.ignore_index, a.reduction)
end

--- one_hot(labels [, num_classes = -1]): labels 1..C (int64) -> int64 [... x C]; -1 takes
--- C from the largest label
function F.one_hot (labels, num_classes)
  need_tensor("one_hot", "labels", labels, 2)
  if num_classes == nil then num_classes = -1 end
  local n = math.tointeger(num_classes)
  if not n then
    error(("one_hot: num_classes must be an integer, got %s"):format(
      type(num_classes) == "number" and tostring(num_classes) or type(num_classes)), 2)
  end
  return dm.one_hot(labels, n)
end

-- a size argument of a convolution: a number or a list of sp integers -> a list of sp
local function conv_size (fn, name, v, sp, lo)
  local out = {}
  if math.type(v) == "integer" then
    for i = 1, sp do out[i] = v end
  elseif type(v) == "table" and rawlen(v) == sp then
    for i = 1, sp do
      if math.type(v[i]) ~= "integer" then out = nil break end
      out[i] = v[i]
    end
  else
    out = nil
  end
  if out then
    for i = 1, sp do if out[i] < lo or out[i] > 2147483647 then out = nil break end end
  end
  if not out then
    error(("%s: %s must be an integer >= %d or a list of %d such integers, got %s"):format(
      fn, name, lo, sp, type(v) == "table" and "{" .. table.concat(v, ", ") .. "}"
                        or check.typename(v)), 4)
  end
  return out
end
F._conv_size = conv_size

-- conv with padding "valid", "same" (PyTorch's split: the odd extra on the right, padded
-- first) or sizes
local function conv_nd (fn, sp, x, w, ...)
  need_tensor(fn, "input", x, 3)
  need_tensor(fn, "weight", w, 3)
  local a = util.args(fn, 3, { "bias", "stride", "padding", "dilation", "groups" }, nil, ...)
  if a.bias ~= nil then need_tensor(fn, "bias", a.bias, 3) end
  local stride = conv_size(fn, "stride", a.stride == nil and 1 or a.stride, sp, 1)
  local dilation = conv_size(fn, "dilation", a.dilation == nil and 1 or a.dilation, sp, 1)
  local groups = a.groups == nil and 1 or a.groups
  if math.type(groups) ~= "integer" or groups < 1 then
    error(("%s: groups must be a positive integer, got %s"):format(fn, tostring(groups)), 3)
  end
  local padding = a.padding == nil and 0 or a.padding
  if padding == "valid" then
    padding = 0
  elseif padding == "same" then
    for i = 1, sp do
      if stride[i] ~= 1 then
        error(("%s: padding='same' is not supported for strided convolutions"):format(fn), 3)
      end
    end
    local pads, sym, extra = {}, {}, false
    for i = 1, sp do
      local k = w:dim() == sp + 2 and w:size(2 + i) or 1
      local total = dilation[i] * (k - 1)
      sym[i] = total // 2
      local r = total - 2 * sym[i]
      -- F.pad lists the last dim first
      pads[2 * (sp - i) + 1], pads[2 * (sp - i) + 2] = 0, r
      if r > 0 then extra = true end
    end
    if extra then x = raw_pad(x, pads) end
    padding = sym
  elseif type(padding) == "string" then
    error(("%s: padding must be \"valid\", \"same\", an integer or a list, got '%s'"):format(
      fn, padding), 3)
  end
  padding = conv_size(fn, "padding", padding, sp, 0)
  return dm.conv(x, w, a.bias, stride, padding, dilation, groups)
end

-- conv1d(x, weight [, bias] [, stride = 1] [, padding = 0] [, dilation = 1] [, groups = 1]):
-- x [N x Cin x L] or [Cin x L], weight [Cout x Cin/groups x k]; padding a number, a list,
-- "valid" or "same"
local function raw_conv1d (x, w, ...) return conv_nd("conv1d", 1, x, w, ...) end

-- conv2d(x, weight [, bias] [, stride = 1] [, padding = 0] [, dilation = 1] [, groups = 1]):
-- x [N x Cin x H x W] or [Cin x H x W], weight [Cout x Cin/groups x kh x kw]; sizes a
-- number or {h, w}; padding also "valid" or "same"
local function raw_conv2d (x, w, ...) return conv_nd("conv2d", 2, x, w, ...) end

-- conv_transpose2d(x, weight [, bias] [, stride = 1] [, padding = 0] [, output_padding = 0]
-- [, groups = 1] [, dilation = 1]): x [N x Cin x H x W], weight [Cin x Cout/groups x kh x kw]
local function raw_conv_transpose2d (x, w, ...)
  local fn = "conv_transpose2d"
  need_tensor(fn, "input", x, 2)
  need_tensor(fn, "weight", w, 2)
  local a = util.args(fn, 2, { "bias", "stride", "padding", "output_padding", "groups",
                               "dilation" }, nil, ...)
  if a.bias ~= nil then need_tensor(fn, "bias", a.bias, 2) end
  local groups = a.groups == nil and 1 or a.groups
  if math.type(groups) ~= "integer" or groups < 1 then
    error(("%s: groups must be a positive integer, got %s"):format(fn, tostring(groups)), 2)
  end
  return dm.conv(x, w, a.bias, conv_size(fn, "stride", a.stride == nil and 1 or a.stride, 2, 1),
                 conv_size(fn, "padding", a.padding == nil and 0 or a.padding, 2, 0),
                 conv_size(fn, "dilation", a.dilation == nil and 1 or a.dilation, 2, 1), groups,
                 conv_size(fn, "output_padding", a.output_padding == nil and 0
                           or a.output_padding, 2, 0))
end

-- the [C*kh*kw x 1 x kh x kw] weight that picks each kernel position of each channel: unfold
-- is a grouped conv2d with it, fold its adjoint (conv_transpose2d)
local function pick_weight (c, k, dtype)
  local kk = k[1] * k[2]
  local e = dm.eye(kk):to(dtype):view(kk, 1, k[1], k[2])
  if c == 1 then return e end
  local parts = {}
  for i = 1, c do parts[i] = e end
  return dm.cat(parts, 1)
end

-- unfold(x, kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): im2col of
-- x [N x C x H x W] (or [C x H x W]) -> [N x C*kh*kw x L], L the number of blocks
local function raw_unfold (x, ...)
  local fn = "unfold"
  need_tensor(fn, "input", x, 2)
  local a = util.args(fn, 2, { "kernel_size", "dilation", "padding", "stride" }, nil, ...)
  local d = x:dim()
  if d ~= 3 and d ~= 4 then
    error(("unfold: expected input [N x C x H x W] or [C x H x W], got %s"):format(
      require("deepmoon.format").shape_str(x:size())), 2)
  end
  local k = conv_size(fn, "kernel_size", a.kernel_size, 2, 1)
  local c = x:size(d - 2)
  local y = dm.conv(x, pick_weight(c, k, x.dtype), nil,
                    conv_size(fn, "stride", a.stride == nil and 1 or a.stride, 2, 1),
                    conv_size(fn, "padding", a.padding == nil and 0 or a.padding, 2, 0),
                    conv_size(fn, "dilation", a.dilation == nil and 1 or a.dilation, 2, 1), c)
  local s = y:size()
  if d == 4 then return y:reshape(s[1], s[2], s[3] * s[4]) end
  return y:reshape(s[1], s[2] * s[3])
end

-- fold(x, output_size, kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): col2im,
-- x [N x C*kh*kw x L] (or [C*kh*kw x L]) summed into [N x C x H x W], (H, W) = output_size
local function raw_fold (x, ...)
  local fn = "fold"
  need_tensor(fn, "input", x, 2)
  local a = util.args(fn, 2, { "output_size", "kernel_size", "dilation", "padding", "stride" },
                      nil, ...)
  local osz = conv_size(fn, "output_size", a.output_size, 2, 1)
  local k = conv_size(fn, "kernel_size", a.kernel_size, 2, 1)
  local dil = conv_size(fn, "dilation", a.dilation == nil and 1 or a.dilation, 2, 1)
  local pad = conv_size(fn, "padding", a.padding == nil and 0 or a.padding, 2, 0)
  local st = conv_size(fn, "stride", a.stride == nil and 1 or a.stride, 2, 1)
  local d = x:dim()
  local kk = k[1] * k[2]
  local shape = require("deepmoon.format").shape_str(x:size())
  if (d ~= 2 and d ~= 3) or x:size(d - 1) % kk ~= 0 then
    error(("fold: expected input [N x C*%d x L] or [C*%d x L] (kernel_size (%d, %d)), got %s")
          :format(kk, kk, k[1], k[2], shape), 2)
  end
  local blocks, op = {}, {}
  for i = 1, 2 do
    local span = osz[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1
    if span < 0 then
      error(("fold: kernel_size (%d, %d) with dilation (%d, %d) doesn't fit output_size "
             .. "(%d, %d) with padding (%d, %d)"):format(k[1], k[2], dil[1], dil[2], osz[1],
             osz[2], pad[1], pad[2]), 2)
    end
    blocks[i] = span // st[i] + 1
    op[i] = span % st[i]
  end
  if x:size(d) ~= blocks[1] * blocks[2] then
    error(("fold: expected input with %d blocks (%d x %d) in its last dim, got %s"):format(
      blocks[1] * blocks[2], blocks[1], blocks[2], shape), 2)
  end
  local c = x:size(d - 1) // kk
  local x4 = d == 3 and x:reshape(x:size(1), c * kk, blocks[1], blocks[2])
                     or x:reshape(c * kk, blocks[1], blocks[2])
  return dm.conv(x4, pick_weight(c, k, x.dtype), nil, st, pad, dil, c, op)
end

-- ---- pooling -----------------------------------------------------------------------------
-- Sizes are a number or a list ({h, w} in 2d, {l} in 1d); the 1d forms run the 2d op on
-- [N x C x 1 x L].  Indices are 1-based flat positions in each H x W (or L) plane.

local function pool_size (fname, name, v, n, default)
  if v == nil then v = default end
  if math.type(v) == "integer" then
    return n == 2 and { v, v } or { v }
  end
  if type(v) == "table" and rawlen(v) == n then
    local out = {}
    for i = 1, n do
      if math.type(v[i]) ~= "integer" then
        error(("%s: %s must be an integer or a list of %d integers, got %s at position %d")
              :format(fname, name, n, check.typename(v[i]), i), 4)
      end
      out[i] = v[i]
    end
    return out
  end
  error(("%s: %s must be an integer or a list of %d integers, got %s"):format(fname, name, n,
        type(v) == "table" and ("a list of " .. rawlen(v)) or check.typename(v)), 4)
end
F._pool_size = pool_size

-- util.args, but a trailing list ({2, 1}: a size) is a positional argument, not options
local function pool_args (fname, level, names, ...)
  local n = select("#", ...)
  while n > 0 and select(n, ...) == nil do n = n - 1 end
  local last = n > 0 and select(n, ...) or nil
  if type(last) == "table" and util.is_options(last) and rawlen(last) > 0 then
    local t = table.pack(...)
    t[n + 1] = {}
    return util.args(fname, level + 1, names, nil, table.unpack(t, 1, n + 1))
  end
  return util.args(fname, level + 1, names, nil, ...)
end
F._pool_args = pool_args

local function pool_rank (fname, x, n)
  local d = x:dim()
  if d ~= n + 1 and d ~= n + 2 then
    error(("%s: expected %dD or %dD input, got %s"):format(fname, n + 1, n + 2, shape_str(x)), 4)
  end
end
F._pool_rank = pool_rank

local function maxpool (fname, n, x, kernel_size, ...)
  need_tensor(fname, "input", x, 3)
  local a = pool_args(fname, 3, { "stride", "padding", "dilation", "ceil_mode",
                                  "return_indices" }, ...)
  local k = pool_size(fname, "kernel_size", kernel_size, n)
  local s = pool_size(fname, "stride", a.stride, n, kernel_size)
  local p = pool_size(fname, "padding", a.padding, n, 0)
  local d = pool_size(fname, "dilation", a.dilation, n, 1)
  pool_rank(fname, x, n)
  if n == 1 then
    local y, ix = dm.max_pool2d(x:unsqueeze(-2), { 1, k[1] }, { 1, s[1] }, { 0, p[1] },
                                { 1, d[1] }, a.ceil_mode, a.return_indices)
    if a.return_indices then return y:squeeze(-2), ix:squeeze(-2) end
    return y:squeeze(-2)
  end
  return dm.max_pool2d(x, k, s, p, d, a.ceil_mode, a.return_indices)
end
F._maxpool = maxpool

local function avgpool (fname, n, x, kernel_size, ...)
  need_tensor(fname, "input", x, 3)
  local a = pool_args(fname, 3, n == 2 and { "stride", "padding", "ceil_mode",
                        "count_include_pad", "divisor_override" }
                        or { "stride", "padding", "ceil_mode", "count_include_pad" }, ...)
  local k = pool_size(fname, "kernel_size", kernel_size, n)
  local s = pool_size(fname, "stride", a.stride, n, kernel_size)
  local p = pool_size(fname, "padding", a.padding, n, 0)
  local cip = a.count_include_pad
  if cip == nil then cip = true end
  local dv = a.divisor_override
  if dv ~= nil and dv ~= false and math.type(dv) ~= "integer" then
    error(("%s: divisor_override must be an integer, got %s"):format(fname,
          check.typename(dv)), 3)
  end
  pool_rank(fname, x, n)
  if n == 1 then
    return dm.avg_pool2d(x:unsqueeze(-2), { 1, k[1] }, { 1, s[1] }, { 0, p[1] }, a.ceil_mode,
                         cip):squeeze(-2)
  end
  return dm.avg_pool2d(x, k, s, p, a.ceil_mode, cip, dv or nil)
end
F._avgpool = avgpool

-- output_size of the adaptive pools: a number, or a list of 2 whose nil/false entries keep
-- the input's size (PyTorch's None)
local function adaptive_size (fname, v, x)
  local d = x:dim()
  if d ~= 3 and d ~= 4 then
    error(("%s: expected 3D or 4D input, got %s"):format(fname, shape_str(x)), 4)
  end
  local sz = x:size()
  if math.type(v) == "integer" then return { v, v } end
  if type(v) == "table" and util.is_options(v) and rawlen(v) <= 2 then
    local out = {}
    for i = 1, 2 do
      local e = v[i]
      if e == nil or e == false then out[i] = sz[d - 2 + i]
      elseif math.type(e) == "integer" then out[i] = e
      else
        error(("%s: output_size must be an integer or a list of 2 integers (nil keeps the "
               .. "input size), got %s at position %d"):format(fname, check.typename(e), i), 4)
      end
    end
    return out
  end
  error(("%s: output_size must be an integer or a list of 2 integers, got %s"):format(fname,
        check.typename(v)), 4)
end
F._adaptive_size = adaptive_size

local function adaptive_avg (fname, x, output_size)
  need_tensor(fname, "input", x, 3)
  return dm.adaptive_avg_pool2d(x, adaptive_size(fname, output_size, x))
end
F._adaptive_avg = adaptive_avg

local function adaptive_max (fname, x, output_size, return_indices)
  need_tensor(fname, "input", x, 3)
  return dm.adaptive_max_pool2d(x, adaptive_size(fname, output_size, x), return_indices)
end
F._adaptive_max = adaptive_max

-- adaptive_avg_pool2d(x, output_size): the mean over PyTorch's adaptive windows of the last
-- two dims of [N x] C x H x W to output_size (a number or {h, w}, nil entries keep the size)
local function raw_adaptive_avg (x, output_size)
  return adaptive_avg("adaptive_avg_pool2d", x, output_size)
end

-- adaptive_max_pool2d(x, output_size [, return_indices = false]): the maximum over
-- adaptive windows; with return_indices also the 1-based flat index in H x W
local function raw_adaptive_max (x, output_size, return_indices)
  if util.is_options(return_indices) then
    local a = util.args("adaptive_max_pool2d", 2, { "return_indices" }, nil, return_indices)
    return_indices = a.return_indices
  end
  return adaptive_max("adaptive_max_pool2d", x, output_size, return_indices)
end

local function unpool (fname, x, indices, kernel_size, stride, padding, output_size)
  need_tensor(fname, "input", x, 3)
  need_tensor(fname, "indices", indices, 3)
  local k = pool_size(fname, "kernel_size", kernel_size, 2)
  local s = pool_size(fname, "stride", stride, 2, kernel_size)
  local p = pool_size(fname, "padding", padding, 2, 0)
  local d = x:dim()
  if d ~= 3 and d ~= 4 then
    error(("%s: expected 3D or 4D input, got %s"):format(fname, shape_str(x)), 3)
  end
  local sz = x:size()
  local o = {}
  for i = 1, 2 do o[i] = (sz[d - 2 + i] - 1) * s[i] - 2 * p[i] + k[i] end
  if output_size ~= nil then
    if type(output_size) ~= "table" or (#output_size ~= 2 and #output_size ~= d) then
      error(("%s: output_size must be a list of 2 or %d integers, got %s"):format(fname, d,
            check.typename(output_size)), 3)
    end
    local n = #output_size
    for i = 1, 2 do
      local v = output_size[n - 2 + i]
      if math.type(v) ~= "integer" or v < o[i] - s[i] or v > o[i] + s[i] then
        error(("%s: invalid output_size %s: each must be between %d x %d and %d x %d")
              :format(fname, format.shape_str(output_size), o[1] - s[1], o[2] - s[2],
                      o[1] + s[1], o[2] + s[2]), 3)
      end
      o[i] = v
    end
  end
  return dm.max_unpool2d(x, indices, o)
end
F._unpool = unpool

-- max_unpool2d(x, indices, kernel_size [, stride = kernel_size] [, padding = 0]
-- [, output_size]): scatters x to the 1-based indices max_pool2d returned, zeros elsewhere
local function raw_unpool (x, indices, kernel_size, ...)
  local a = pool_args("max_unpool2d", 2, { "stride", "padding", "output_size" }, ...)
  return unpool("max_unpool2d", x, indices, kernel_size, a.stride, a.padding, a.output_size)
end

-- a name deepmoon lacks is an error, not a nil that fails later (probe with rawget)
-- size and scale_factor lists given as positional arguments, boxed so that util.args does not take
-- it for the options table (unboxed by the caller)
local SIZE_BOX = { __name = "size" }
--- _size_list_box(...): the arguments with their lists (a size, a scale_factor) boxed, for F.interpolate
--- and the upsampling modules
function F._size_list_box (...)
  local args = table.pack(...)
  for i = 1, args.n do
    local v = args[i]
    if type(v) == "table" and getmetatable(v) == nil and v[1] ~= nil then
      args[i] = setmetatable({ v = v }, SIZE_BOX)
    end
  end
  return table.unpack(args, 1, args.n)
end
F._SIZE_BOX = SIZE_BOX

--- interpolate(x [, size] [, scale_factor] [, mode = "nearest"] [, align_corners]
--- [, recompute_scale_factor]) or interpolate(x, {size =, scale_factor =, mode =, ...}):
--- PyTorch 1.13's F.interpolate for "nearest" (3D or 4D input), "linear" ([N x C x L]) and
--- "bilinear" ([N x C x H x W]); size and scale_factor a number or one per spatial dim
function F.interpolate (x, ...)
  need_tensor("interpolate", "input", x, 2)
  local a = util.args("interpolate", 2, { "size", "scale_factor", "mode", "align_corners",
                                          "recompute_scale_factor" }, { "antialias" },
                      F._size_list_box(...))
  for _, k in ipairs({ "size", "scale_factor" }) do
    if type(a[k]) == "table" and getmetatable(a[k]) == SIZE_BOX then a[k] = a[k].v end
  end
  local mode = a.mode or "nearest"
  local modes = { nearest = true, linear = true, bilinear = true }
  if type(mode) ~= "string" or not modes[mode] then
    error(("interpolate: unsupported mode %s (expected nearest, linear or bilinear)"):format(
      type(mode) == "string" and ("'" .. mode .. "'") or check.typename(mode)), 2)
  end
  if a.antialias then error("interpolate: antialias is not supported", 2) end
  if a.align_corners ~= nil and type(a.align_corners) ~= "boolean" then
    error(("interpolate: argument 'align_corners' must be a boolean, got %s"):format(
      check.typename(a.align_corners)), 2)
  end
  if a.align_corners ~= nil and mode == "nearest" then
    error("interpolate: align_corners option can only be set with the interpolating modes: "
          .. "linear | bilinear | bicubic | trilinear", 2)
  end
  local nd = x:dim()
  local want = mode == "linear" and 3 or mode == "bilinear" and 4 or nil
  if (want and nd ~= want) or (not want and nd ~= 3 and nd ~= 4) then
    error(("interpolate: %s mode expects a %s input, got %s"):format(mode,
      want == 3 and "3D [N x C x L]" or want == 4 and "4D [N x C x H x W]"
        or "3D [N x C x L] or 4D [N x C x H x W]", shape_str(x)), 2)
  end
  local k = nd - 2
  local size, sf = a.size, a.scale_factor
  if size ~= nil and sf ~= nil then
    error("interpolate: expected size or scale_factor, not both", 2)
  end
  if size == nil and sf == nil then
    error("interpolate: expected size or scale_factor, got neither", 2)
  end
  local function list (what, v, isint)
    if type(v) == "number" then v = k == 2 and { v, v } or { v } end
    if type(v) ~= "table" or rawlen(v) ~= k then
      error(("interpolate: %s must be a number or a list of %d (the spatial dims of input %s), "
             .. "got %s"):format(what, k, shape_str(x), type(v) == "table"
             and ("a list of " .. rawlen(v)) or check.typename(v)), 3)
    end
    local out = {}
    for i = 1, k do
      if (isint and math.type(v[i]) ~= "integer") or type(v[i]) ~= "number" then
        error(("interpolate: %s must hold %s, got %s at position %d"):format(what,
          isint and "integers" or "numbers", check.typename(v[i]), i), 3)
      end
      out[i] = v[i]
    end
    return out
  end
  local osize, scales
  if size ~= nil then
    osize = list("size", size, true)
  else
    local s = list("scale_factor", sf, false)
    osize = {}
    for i = 1, k do osize[i] = math.floor(x:size()[2 + i] * s[i]) end
    if not a.recompute_scale_factor then scales = s end
  end
  return dm.upsample(x, osize, scales, mode == "nearest" and "nearest" or "linear",
                     a.align_corners == true)
end

--- pixel_shuffle(x, upscale_factor): [*, C*r*r, H, W] -> [*, C, H*r, W*r] (PyTorch's
--- F.pixel_shuffle)
function F.pixel_shuffle (x, r)
  need_tensor("pixel_shuffle", "input", x, 2)
  if math.type(r) ~= "integer" or r < 1 then
    error(("pixel_shuffle: upscale_factor must be a positive integer, got %s"):format(
      check.typename(r)), 2)
  end
  if r > 0x7fffffff then     -- r * r must not wrap around
    error(("pixel_shuffle: upscale_factor must be at most 2^31 - 1, got %d"):format(r), 2)
  end
  local s = x:size()
  local nd = #s
  if nd < 3 then
    error(("pixel_shuffle: expected input of at least 3 dims [* x C x H x W], got %s"):format(
      shape_str(x)), 2)
  end
  local c, h, w = s[nd - 2], s[nd - 1], s[nd]
  if c % (r * r) ~= 0 then
    error(("pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
           .. "square of upscale_factor, but input.size(-3)=%d is not divisible by %d"):format(
           c, r * r), 2)
  end
  local b = {}
  for i = 1, nd - 3 do b[i] = s[i] end
  local nb = #b
  local v = {}
  for i = 1, nb do v[i] = b[i] end
  for _, d in ipairs({ c // (r * r), r, r, h, w }) do v[#v + 1] = d end
  local perm = {}
  for i = 1, nb do perm[i] = i end
  for _, d in ipairs({ 1, 4, 2, 5, 3 }) do perm[#perm + 1] = nb + d end
  local o = {}
  for i = 1, nb do o[i] = b[i] end
  for _, d in ipairs({ c // (r * r), h * r, w * r }) do o[#o + 1] = d end
  return x:reshape(v):permute(table.unpack(perm)):reshape(o)
end

--- pixel_unshuffle(x, downscale_factor): [*, C, H*r, W*r] -> [*, C*r*r, H, W] (PyTorch's
--- F.pixel_unshuffle)
function F.pixel_unshuffle (x, r)
  need_tensor("pixel_unshuffle", "input", x, 2)
  if math.type(r) ~= "integer" or r < 1 then
    error(("pixel_unshuffle: downscale_factor must be a positive integer, got %s"):format(
      check.typename(r)), 2)
  end
  if r > 0x7fffffff then     -- r * r must not wrap around
    error(("pixel_unshuffle: downscale_factor must be at most 2^31 - 1, got %d"):format(r), 2)
  end
  local s = x:size()
  local nd = #s
  if nd < 3 then
    error(("pixel_unshuffle: expected input of at least 3 dims [* x C x H x W], got %s"):format(
      shape_str(x)), 2)
  end
  local c, h, w = s[nd - 2], s[nd - 1], s[nd]
  if h % r ~= 0 then
    error(("pixel_unshuffle expects height to be divisible by downscale_factor, but "
           .. "input.size(-2)=%d is not divisible by %d"):format(h, r), 2)
  end
  if w % r ~= 0 then
    error(("pixel_unshuffle expects width to be divisible by downscale_factor, but "
           .. "input.size(-1)=%d is not divisible by %d"):format(w, r), 2)
  end
  local nb = nd - 3
  local v, perm, o = {}, {}, {}
  for i = 1, nb do v[i] = s[i]; perm[i] = i; o[i] = s[i] end
  for _, d in ipairs({ c, h // r, r, w // r, r }) do v[#v + 1] = d end
  for _, d in ipairs({ 1, 3, 5, 2, 4 }) do perm[#perm + 1] = nb + d end
  for _, d in ipairs({ c * r * r, h // r, w // r }) do o[#o + 1] = d end
  return x:reshape(v):permute(table.unpack(perm)):reshape(o)
end

-- ---- embeddings (core/ops/embedding.c; nn.Embedding and nn.EmbeddingBag in nn/sparse.lua) ----
-- Token ids, padding_idx and the bag offsets are 1-based.  A core message ("embedding: token
-- id 0 out of range ...") is re-raised under the caller's name ("Embedding: token id 0 ...").

local function core_call (fname, cname, f, ...)
  local ok, res = pcall(f, ...)
  if ok then return res end
  if type(res) == "string" then
    local prefix = cname .. ": "
    if res:sub(1, #prefix) == prefix then res = res:sub(#prefix + 1) end
    error(fname .. ": " .. res, 4)
  end
  error(res, 0)
end

--- impl.padding_idx(fname, p, num): a 1-based padding_idx (negative counts from the end, as
--- PyTorch's: -1 is the last row) as its positive 1-based position, or nil for none
function impl.padding_idx (fname, p, num)
  if p == nil then return nil end
  if math.type(p) ~= "integer" or p == 0 or p > num or p < -num then
    error(("%s: padding_idx must be within num_embeddings (1 to %d, or -%d to -1 from the "
           .. "end), got %s"):format(fname, num, num, tostring(p)), 4)
  end
  return p < 0 and num + p + 1 or p
end

local function embedding_args (fname, input, weight, max_norm, norm_type, sparse)
  need_tensor(fname, "input", input, 4)
  need_tensor(fname, "weight", weight, 4)
  if sparse then
    error(("%s: sparse = true is not supported (deepmoon's gradients are dense tensors)")
          :format(fname), 4)
  end
  if max_norm ~= nil and type(max_norm) ~= "number" then
    error(("%s: max_norm must be a number, got %s"):format(fname, check.typename(max_norm)), 4)
  end
  if norm_type ~= nil and type(norm_type) ~= "number" then
    error(("%s: norm_type must be a number, got %s"):format(fname, check.typename(norm_type)),
          4)
  end
  if weight:dim() ~= 2 then
    error(("%s: expected weight [num_embeddings x embedding_dim], got %s"):format(
      fname, shape_str(weight)), 4)
  end
end

--- impl.embedding(fname, input, weight, padding_idx, max_norm, norm_type, scale, sparse):
--- F.embedding with messages under fname (padding_idx 1-based, already resolved or not)
function impl.embedding (fname, input, weight, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, sparse)
  embedding_args(fname, input, weight, max_norm, norm_type, sparse)
  padding_idx = impl.padding_idx(fname, padding_idx, weight:size(1))
  if max_norm ~= nil then
    core_call(fname, "embedding_renorm_", dm.embedding_renorm_, weight, input, max_norm,
              norm_type or 2)
  end
  return core_call(fname, "embedding", dm.embedding, weight, input, padding_idx,
                   scale_grad_by_freq and true or false)
end

local BAG_MODES = { sum = true, mean = true, max = true }

--- impl.embedding_bag(fname, input, weight, offsets, max_norm, norm_type, scale, mode,
--- sparse, per_sample_weights, include_last_offset, padding_idx): F.embedding_bag with
--- messages under fname
function impl.embedding_bag (fname, input, weight, offsets, max_norm, norm_type,
                             scale_grad_by_freq, mode, sparse, per_sample_weights,
                             include_last_offset, padding_idx)
  embedding_args(fname, input, weight, max_norm, norm_type, sparse)
  if offsets ~= nil then need_tensor(fname, "offsets", offsets, 3) end
  if per_sample_weights ~= nil then
    need_tensor(fname, "per_sample_weights", per_sample_weights, 3)
  end
  mode = mode or "mean"
  if not BAG_MODES[mode] then
    error(("%s: mode must be 'sum', 'mean' or 'max', got %s"):format(fname,
      type(mode) == "string" and ("'" .. mode .. "'") or check.typename(mode)), 3)
  end
  padding_idx = impl.padding_idx(fname, padding_idx, weight:size(1))
  if max_norm ~= nil then
    core_call(fname, "embedding_renorm_", dm.embedding_renorm_, weight, input, max_norm,
              norm_type or 2)
  end
  return core_call(fname, "embedding_bag", dm.embedding_bag, weight, input, offsets, mode,
                   per_sample_weights, include_last_offset and true or false, padding_idx,
                   scale_grad_by_freq and true or false)
end

--- embedding(input, weight [, padding_idx] [, max_norm] [, norm_type = 2]
--- [, scale_grad_by_freq = false] [, sparse = false]) (or those names in an options table):
--- the rows of weight [num x dim] at the 1-based int64 token ids of input -> [input... x dim].
--- padding_idx (1-based; negative counts from the end) gets no gradient; max_norm renormalises
--- the rows looked up, in place, as PyTorch does
function F.embedding (input, weight, ...)
  local a = util.args("embedding", 2, { "padding_idx", "max_norm", "norm_type",
                                        "scale_grad_by_freq", "sparse" }, {}, ...)
  return impl.embedding("embedding", input, weight, a.padding_idx, a.max_norm, a.norm_type,
                        a.scale_grad_by_freq, a.sparse)
end

--- embedding_bag(input, weight [, offsets] [, {max_norm, norm_type = 2, scale_grad_by_freq,
--- mode = "mean", sparse, per_sample_weights, include_last_offset = false, padding_idx}]):
--- sums, means or maxima of bags of rows -> [B x dim].  input [B x L] (bags of L ids) or [n]
--- with offsets: the 1-based position in input where each bag starts (offsets[1] = 1; with
--- include_last_offset one more, n + 1, ends the last bag).  per_sample_weights (mode "sum"
--- only) has input's shape; padding_idx's entries are left out of every bag
function F.embedding_bag (input, weight, ...)
  local a = util.args("embedding_bag", 2, { "offsets", "max_norm", "norm_type",
    "scale_grad_by_freq", "mode", "sparse", "per_sample_weights", "include_last_offset",
    "padding_idx" }, {}, ...)
  return impl.embedding_bag("embedding_bag", input, weight, a.offsets, a.max_norm, a.norm_type,
                            a.scale_grad_by_freq, a.mode, a.sparse, a.per_sample_weights,
                            a.include_last_offset, a.padding_idx)
end

-- ---- pooling errors in the function's own terms (deepmoon.nn.vision_check) -------------------
-- The 1-d forms run the 2-d op on [N x C x 1 x L]: a failure is re-examined, so that the
-- message names max_pool1d and the 1-d shapes, and points at the caller's line; unfold, a
-- grouped conv2d, names itself and the input, not the conv2d's weight.
local vc = require "deepmoon.nn.vision_check"

local MAX_NAMES = { "stride", "padding", "dilation", "ceil_mode", "return_indices" }
local AVG_NAMES = { [1] = { "stride", "padding", "ceil_mode", "count_include_pad" },
                    [2] = { "stride", "padding", "ceil_mode", "count_include_pad",
                            "divisor_override" } }

local function pool_problem (fname, n, is_max)
  return function (x, kernel_size, ...)
    local a = pool_args(fname, 2, is_max and MAX_NAMES or AVG_NAMES[n], ...)
    return vc.pool_problem(fname, n, x, pool_size(fname, "kernel_size", kernel_size, n),
                           pool_size(fname, "stride", a.stride, n, kernel_size),
                           pool_size(fname, "padding", a.padding, n, 0),
                           is_max and pool_size(fname, "dilation", a.dilation, n, 1) or nil,
                           a.ceil_mode)
  end
end

local max1_problem, max2_problem = pool_problem("max_pool1d", 1, true),
                                   pool_problem("max_pool2d", 2, true)
local avg1_problem, avg2_problem = pool_problem("avg_pool1d", 1, false),
                                   pool_problem("avg_pool2d", 2, false)
local function max1 (...) return maxpool("max_pool1d", 1, ...) end
local function max2 (...) return maxpool("max_pool2d", 2, ...) end
local function avg1 (...) return avgpool("avg_pool1d", 1, ...) end
local function avg2 (...) return avgpool("avg_pool2d", 2, ...) end

--- max_pool2d(x, kernel_size [, stride = kernel_size] [, padding = 0] [, dilation = 1]
--- [, ceil_mode = false] [, return_indices = false]): the maximum of each window over the
--- last two dims of [N x] C x H x W; with return_indices also the 1-based flat index in H x W
function F.max_pool2d (x, kernel_size, ...)
  local y, i = vc.call("max_pool2d", "max_pool2d", max2_problem, max2, x, kernel_size, ...)
  if i ~= nil then return y, i end
  return y
end

--- max_pool1d(x, kernel_size [, stride] [, padding] [, dilation] [, ceil_mode]
--- [, return_indices]): max_pool2d over the last dim of [N x] C x L
function F.max_pool1d (x, kernel_size, ...)
  local y, i = vc.call("max_pool1d", { "max_pool2d", "max_pool1d" }, max1_problem, max1, x,
                       kernel_size, ...)
  if i ~= nil then return y, i end
  return y
end

--- avg_pool2d(x, kernel_size [, stride = kernel_size] [, padding = 0] [, ceil_mode = false]
--- [, count_include_pad = true] [, divisor_override]): the mean of each window over the last
--- two dims of [N x] C x H x W
function F.avg_pool2d (x, kernel_size, ...)
  local y = vc.call("avg_pool2d", "avg_pool2d", avg2_problem, avg2, x, kernel_size, ...)
  return y
end

--- avg_pool1d(x, kernel_size [, stride] [, padding] [, ceil_mode] [, count_include_pad]):
--- avg_pool2d over the last dim of [N x] C x L
function F.avg_pool1d (x, kernel_size, ...)
  local y = vc.call("avg_pool1d", { "avg_pool2d", "avg_pool1d" }, avg1_problem, avg1, x,
                    kernel_size, ...)
  return y
end

local function unfold_problem (x, ...)
  local a = util.args("unfold", 2, { "kernel_size", "dilation", "padding", "stride" }, nil, ...)
  return vc.unfold_problem("unfold", x, a.kernel_size, a.dilation, a.padding)
end

--- unfold(x, kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): im2col of
--- x [N x C x H x W] (or [C x H x W]) -> [N x C*kh*kw x L], L the number of blocks
function F.unfold (x, ...)
  local y = vc.call("unfold", { "unfold", "conv2d" }, unfold_problem, raw_unfold, x, ...)
  return y
end

-- The convolutions, the adaptive pools, max_unpool2d, fold and pad raise the C op's message
-- (it names the function and the shapes); re-raised here at the caller's line.
local function adaptive_avg_problem (x, o)
  return vc.adaptive_problem("adaptive_avg_pool2d", x, o)
end
local function adaptive_max_problem (x, o)
  return vc.adaptive_problem("adaptive_max_pool2d", x, o)
end

--- conv1d(x, weight [, bias] [, stride = 1] [, padding = 0] [, dilation = 1] [, groups = 1]):
--- x [N x Cin x L] or [Cin x L], weight [Cout x Cin/groups x k]; padding a number, a list,
--- "valid" or "same"
function F.conv1d (x, w, ...)
  local y = vc.call("conv1d", { "conv1d", "pad" }, nil, raw_conv1d, x, w, ...)
  return y
end

--- conv2d(x, weight [, bias] [, stride = 1] [, padding = 0] [, dilation = 1] [, groups = 1]):
--- x [N x Cin x H x W] or [Cin x H x W], weight [Cout x Cin/groups x kh x kw]; sizes a
--- number or {h, w}; padding also "valid" or "same"
function F.conv2d (x, w, ...)
  local y = vc.call("conv2d", { "conv2d", "pad" }, nil, raw_conv2d, x, w, ...)
  return y
end

--- conv_transpose2d(x, weight [, bias] [, stride = 1] [, padding = 0] [, output_padding = 0]
--- [, groups = 1] [, dilation = 1]): x [N x Cin x H x W], weight [Cin x Cout/groups x kh x kw]
function F.conv_transpose2d (x, w, ...)
  local y = vc.call("conv_transpose2d", "conv_transpose2d", nil, raw_conv_transpose2d, x, w,
                    ...)
  return y
end

--- adaptive_avg_pool2d(x, output_size): the mean over PyTorch's adaptive windows of the last
--- two dims of [N x] C x H x W to output_size (a number or {h, w}, nil entries keep the size)
function F.adaptive_avg_pool2d (x, output_size)
  local y = vc.call("adaptive_avg_pool2d", "adaptive_avg_pool2d", adaptive_avg_problem,
                    raw_adaptive_avg, x, output_size)
  return y
end

--- adaptive_max_pool2d(x, output_size [, return_indices = false]): the maximum over
--- adaptive windows; with return_indices also the 1-based flat index in H x W
function F.adaptive_max_pool2d (x, output_size, return_indices)
  local y, i = vc.call("adaptive_max_pool2d", "adaptive_max_pool2d", adaptive_max_problem,
                       raw_adaptive_max, x, output_size, return_indices)
  if i ~= nil then return y, i end
  return y
end

--- max_unpool2d(x, indices, kernel_size [, stride = kernel_size] [, padding = 0]
--- [, output_size]): scatters x to the 1-based indices max_pool2d returned, zeros elsewhere
function F.max_unpool2d (x, indices, kernel_size, ...)
  local y = vc.call("max_unpool2d", "max_unpool2d", nil, raw_unpool, x, indices, kernel_size,
                    ...)
  return y
end

--- fold(x, output_size, kernel_size [, dilation = 1] [, padding = 0] [, stride = 1]): col2im,
--- x [N x C*kh*kw x L] (or [C*kh*kw x L]) summed into [N x C x H x W], (H, W) = output_size
function F.fold (x, ...)
  local y = vc.call("fold", { "fold", "conv_transpose2d" }, nil, raw_fold, x, ...)
  return y
end

--- pad(x, pad [, mode = "constant"] [, value = 0]) or pad(x, pad, {mode =, value =}):
--- PyTorch's F.pad; pad lists the last dim's left and right, then the dim before's, ...;
--- "constant" pads any dims (negative values crop), "reflect", "replicate" and "circular"
--- the last 1..3 dims of a [N x] C x ... input
function F.pad (x, pad, ...)
  local y = vc.call("pad", "pad", nil, raw_pad, x, pad, ...)
  return y
end

setmetatable(F, { __index = function (_, k)
  if type(k) == "string" then error("deepmoon has no nn.functional." .. k, 2) end
  return nil
end })

return F
