--- deepmoon.nn.normalization: nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm,
--- nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d.
--
-- The three differ only in the input ranks they take (PyTorch's _BatchNorm and its
-- _check_input_dim); all run core.batch_norm, which folds the dims after the channels.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"

local Module, Parameter = module.Module, module.Parameter
local pyrepr = util.pyrepr

local function check_eps (cls, eps)
  if eps == nil then return 1e-5 end
  if type(eps) ~= "number" or eps < 0 then
    error(("%s: eps must be a non-negative number, got %s"):format(cls, tostring(eps)), 4)
  end
  return eps
end

local function check_dtype (cls, dtype)
  dtype = dtype or dm.float32
  if dtype ~= dm.float32 and dtype ~= dm.float64 then
    error(("%s: dtype must be dm.float32 or dm.float64, got %s"):format(cls, tostring(dtype)), 4)
  end
  return dtype
end

local function is_pos_int (n) return math.type(n) == "integer" and n > 0 end

local function shape_text (s) return "[" .. table.concat(s, " x ") .. "]" end

-- weight (ones) and bias (zeros) of the given size as parameters, or both registered as none
local function affine_params (self, on, size, like)
  if on then
    self.weight = Parameter(dm.ones(size, like))
    self.bias = Parameter(dm.zeros(size, like))
  else
    self:register_parameter("weight", nil)
    self:register_parameter("bias", nil)
  end
end

-- running_mean (zeros), running_var (ones) and num_batches_tracked (int64 0) as buffers, or
-- all three registered as none
local function running_stats (self, on, n, like)
  self:register_buffer("running_mean", on and dm.zeros(n, like) or nil)
  self:register_buffer("running_var", on and dm.ones(n, like) or nil)
  self:register_buffer("num_batches_tracked", on and dm.tensor(0) or nil)   -- int64, as PyTorch
end

local BatchNorm1d = Module:extend("BatchNorm1d")
-- the ranks each class takes, and how its error messages show a sample
BatchNorm1d._ranks, BatchNorm1d._rank_text = { [2] = true, [3] = true }, "2D or 3D"
BatchNorm1d._sample = function (n) return ("[N x %d] or [N x %d x L]"):format(n, n) end

--- nn.BatchNorm1d(num_features [, eps = 1e-5] [, momentum = 0.1] [, affine = true]
--- [, track_running_stats = true]), also as an options table.  Normalises x [N x C] or
--- [N x C x L] per channel: with the batch's statistics while training (updating the running
--- ones: new = (1 - momentum) old + momentum batch, unbiased variance), with the running ones
--- in eval mode.  momentum = false is PyTorch's momentum=None (a cumulative average).
--- Parameters weight (ones) and bias (zeros) when affine; buffers running_mean,
--- running_var and num_batches_tracked when track_running_stats.  Option dtype = dm.float64
--- makes the parameters and running statistics float64 (the input's dtype must match).
function BatchNorm1d:__init (...)
  local cls = self:_get_name()
  local a = util.args(cls, 3, { "num_features", "eps", "momentum", "affine",
                                          "track_running_stats" }, { "dtype" }, ...)
  local n = a.num_features
  if math.type(n) ~= "integer" or n <= 0 then
    error((cls .. ": num_features must be a positive integer, got %s"):format(tostring(n)),
          3)
  end
  local eps = check_eps(cls, a.eps)
  local momentum = a.momentum
  if momentum == nil then momentum = 0.1 end
  if momentum ~= false and type(momentum) ~= "number" then
    error((cls .. ": momentum must be a number or false (cumulative average), got %s")
          :format(type(momentum)), 3)
  end
  local affine = check.arg(cls, "affine", a.affine, "boolean", true, 3)
  local track = check.arg(cls, "track_running_stats", a.track_running_stats,
                          "boolean", true, 3)
  -- {dtype = dm.float64}: parameters and running statistics of that dtype (the input's must
  -- match, as in PyTorch)
  local like = { dtype = check_dtype(cls, a.dtype) }
  self.num_features, self.eps, self.momentum = n, eps, momentum
  self.affine, self.track_running_stats = affine, track
  affine_params(self, affine, n, like)
  running_stats(self, track, n, like)
end

--- Running statistics back to mean 0, variance 1, no batches seen.
function BatchNorm1d:reset_running_stats ()
  if not self.track_running_stats then return end
  dm.no_grad(function ()
    self.running_mean:zero_()
    self.running_var:fill_(1)
    self.num_batches_tracked:zero_()
  end)
end

function BatchNorm1d:forward (x)
  local cls = self:_get_name()
  if not check.is_tensor(x) then
    error((cls .. ": expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  local d = x:dim()
  if not self._ranks[d] then
    error(("%s: expected %s input (got %dD input %s)"):format(cls, self._rank_text, d,
      format.shape_str(x:size())), 2)
  end
  local n = self.num_features
  if x:size(2) ~= n then
    error(("%s: expected input %s, got %s"):format(cls, self._sample(n),
      format.shape_str(x:size())), 2)
  end
  local own = self.weight or self.running_mean         -- the module's dtype, as PyTorch's check
  if own and x.dtype ~= own.dtype then
    local name = function (t) return (tostring(t.dtype):gsub("^deepmoon%.", "")) end
    error(("%s: expected a %s input (the module's dtype), got %s"):format(
      cls, name(own), name(x)), 2)
  end
  local training = self.training
  local use_batch = training or self.running_mean == nil
  if use_batch and x:numel() // n <= 1 then
    error(("%s: expected more than 1 value per channel when training, got input " ..
           "size %s"):format(cls, format.shape_str(x:size())), 2)
  end
  local factor = self.momentum or 0.0
  if training and self.track_running_stats then
    local nbt = self.num_batches_tracked
    dm.no_grad(function () nbt:add_(1) end)
    if self.momentum == false then factor = 1.0 / nbt:item() end
  end
  local rm, rv
  if not training or self.track_running_stats then
    rm, rv = self.running_mean, self.running_var
  end
  return dm.batch_norm(x, rm, rv, self.weight, self.bias, use_batch and true or false,
                       factor, self.eps)
end

function BatchNorm1d:extra_repr ()
  return ("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s"):format(
    self.num_features, pyrepr(self.eps, true),
    self.momentum == false and "None" or pyrepr(self.momentum, true),
    pyrepr(self.affine), pyrepr(self.track_running_stats))
end

local BatchNorm2d = BatchNorm1d:extend("BatchNorm2d")
BatchNorm2d._ranks, BatchNorm2d._rank_text = { [4] = true }, "4D"
BatchNorm2d._sample = function (n) return ("[N x %d x H x W]"):format(n) end
--- nn.BatchNorm2d(num_features [, eps] [, momentum] [, affine] [, track_running_stats]):
--- BatchNorm1d's options and statistics over x [N x C x H x W], per channel over N, H and W.
function BatchNorm2d:__init (...) return BatchNorm1d.__init(self, ...) end

local BatchNorm3d = BatchNorm1d:extend("BatchNorm3d")
BatchNorm3d._ranks, BatchNorm3d._rank_text = { [5] = true }, "5D"
BatchNorm3d._sample = function (n) return ("[N x %d x D x H x W]"):format(n) end
--- nn.BatchNorm3d(num_features [, eps] [, momentum] [, affine] [, track_running_stats]):
--- the same over x [N x C x D x H x W].
function BatchNorm3d:__init (...) return BatchNorm1d.__init(self, ...) end

local F = require "deepmoon.nn.functional"

local LayerNorm = Module:extend("LayerNorm")

--- nn.LayerNorm(normalized_shape [, eps = 1e-5] [, elementwise_affine = true]), also as an
--- options table (dtype = dm.float64 too).  Normalises the last dims of x (their sizes
--- normalized_shape, a number or a list) per sample with the biased variance, then
--- weight * xhat + bias, both of normalized_shape (ones and zeros) when elementwise_affine.
function LayerNorm:__init (ns, ...)
  local a
  if type(ns) == "table" and ns[1] ~= nil then      -- a list first: the shape, not options
    a = util.args("LayerNorm", 3, { "eps", "elementwise_affine" }, { "dtype" }, ...)
    a.normalized_shape = ns
  else
    a = util.args("LayerNorm", 3, { "normalized_shape", "eps", "elementwise_affine" },
                  { "dtype" }, ns, ...)
  end
  ns = a.normalized_shape
  if type(ns) == "number" then ns = { ns } end
  local ok = type(ns) == "table" and #ns >= 1
  for i = 1, ok and #ns or 0 do ok = ok and is_pos_int(ns[i]) end
  if not ok then
    error(("LayerNorm: normalized_shape must be a positive integer or a list of them, got %s")
          :format(type(a.normalized_shape) == "table" and "a table" or tostring(a.normalized_shape)), 3)
  end
  local shape = {}
  for i = 1, #ns do shape[i] = ns[i] end
  self.normalized_shape = shape
  self.eps = check_eps("LayerNorm", a.eps)
  self.elementwise_affine = check.arg("LayerNorm", "elementwise_affine", a.elementwise_affine,
                                      "boolean", true, 3)
  local like = { dtype = check_dtype("LayerNorm", a.dtype) }
  affine_params(self, self.elementwise_affine, shape, like)
end

function LayerNorm:forward (x)
  if not check.is_tensor(x) then
    error(("LayerNorm: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  local ns, d = self.normalized_shape, x:dim()
  local ok = d >= #ns
  for i = 1, ok and #ns or 0 do ok = ok and x:size(d - #ns + i) == ns[i] end
  if not ok then
    error(("LayerNorm: expected input [* x %s], got %s"):format(
      shape_text(ns):sub(2, -2), format.shape_str(x:size())), 2)
  end
  return dm.layer_norm(x, ns, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr ()
  return ("(%s), eps=%s, elementwise_affine=%s"):format(
    table.concat(self.normalized_shape, ", ") .. (#self.normalized_shape == 1 and "," or ""),
    pyrepr(self.eps, true), pyrepr(self.elementwise_affine))
end

local GroupNorm = Module:extend("GroupNorm")

--- nn.GroupNorm(num_groups, num_channels [, eps = 1e-5] [, affine = true]), also as an
--- options table.  Splits the channels of x [N x C x ...] into num_groups groups and
--- normalises each group of each sample (biased variance), then weight and bias per channel.
function GroupNorm:__init (...)
  local a = util.args("GroupNorm", 3, { "num_groups", "num_channels", "eps", "affine" },
                      { "dtype" }, ...)
  local g, c = a.num_groups, a.num_channels
  if not is_pos_int(g) then
    error(("GroupNorm: num_groups must be a positive integer, got %s"):format(tostring(g)), 3)
  end
  if not is_pos_int(c) then
    error(("GroupNorm: num_channels must be a positive integer, got %s"):format(tostring(c)), 3)
  end
  if c % g ~= 0 then
    error(("GroupNorm: num_channels (%d) must be divisible by num_groups (%d)"):format(c, g), 3)
  end
  self.num_groups, self.num_channels = g, c
  self.eps = check_eps("GroupNorm", a.eps)
  self.affine = check.arg("GroupNorm", "affine", a.affine, "boolean", true, 3)
  local like = { dtype = check_dtype("GroupNorm", a.dtype) }
  affine_params(self, self.affine, c, like)
end

function GroupNorm:forward (x)
  if not check.is_tensor(x) then
    error(("GroupNorm: expected a Tensor input, got %s"):format(check.typename(x)), 2)
  end
  if x:dim() < 2 or x:size(2) ~= self.num_channels then
    error(("GroupNorm: expected input [N x %d x *], got %s"):format(
      self.num_channels, format.shape_str(x:size())), 2)
  end
  return dm.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
end

function GroupNorm:extra_repr ()
  return ("%d, %d, eps=%s, affine=%s"):format(self.num_groups, self.num_channels,
                                              pyrepr(self.eps, true), pyrepr(self.affine))
end

local InstanceNorm1d = Module:extend("InstanceNorm1d")
InstanceNorm1d._rank = 3               -- a batched input's rank (one less: one sample)
InstanceNorm1d._sample = "L"

--- nn.InstanceNorm1d(num_features [, eps = 1e-5] [, momentum = 0.1] [, affine = false]
--- [, track_running_stats = false]), also as an options table.  Normalises every channel of
--- every sample of x [N x C x L] (or one sample [C x L]) over L; with track_running_stats,
--- running statistics (the mean of the samples' means and unbiased variances) are kept
--- while training and used in eval mode.
function InstanceNorm1d:__init (...)
  local cls = self:_get_name()
  local a = util.args(cls, 3, { "num_features", "eps", "momentum", "affine",
                                "track_running_stats" }, { "dtype" }, ...)
  local n = a.num_features
  if not is_pos_int(n) then
    error(("%s: num_features must be a positive integer, got %s"):format(cls, tostring(n)), 3)
  end
  self.num_features = n
  self.eps = check_eps(cls, a.eps)
  local momentum = a.momentum
  if momentum == nil then momentum = 0.1 end
  if type(momentum) ~= "number" then
    error(("%s: momentum must be a number, got %s"):format(cls, type(momentum)), 3)
  end
  self.momentum = momentum
  self.affine = check.arg(cls, "affine", a.affine, "boolean", false, 3)
  self.track_running_stats = check.arg(cls, "track_running_stats", a.track_running_stats,
                                       "boolean", false, 3)
  local like = { dtype = check_dtype(cls, a.dtype) }
  affine_params(self, self.affine, n, like)
  running_stats(self, self.track_running_stats, n, like)
end

function InstanceNorm1d:forward (x)
  local cls = self:_get_name()
  if not check.is_tensor(x) then
    error(("%s: expected a Tensor input, got %s"):format(cls, check.typename(x)), 2)
  end
  local r, d = self._rank, x:dim()
  if d ~= r and d ~= r - 1 then
    error(("%s: expected %dD or %dD input (got %dD input %s)"):format(cls, r - 1, r, d,
      format.shape_str(x:size())), 2)
  end
  local c = x:size(d == r and 2 or 1)
  if c ~= self.num_features and (self.affine or self.track_running_stats) then
    error(("%s: expected input [N x %d x %s], got %s"):format(cls, self.num_features,
      self._sample, format.shape_str(x:size())), 2)
  end
  local use_input = self.training or not self.track_running_stats
  return F.instance_norm(x, { running_mean = self.running_mean, running_var = self.running_var,
                              weight = self.weight, bias = self.bias,
                              use_input_stats = use_input, momentum = self.momentum,
                              eps = self.eps, unbatched = d == r - 1 })
end

function InstanceNorm1d:extra_repr ()
  return ("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s"):format(
    self.num_features, pyrepr(self.eps, true), pyrepr(self.momentum, true),
    pyrepr(self.affine), pyrepr(self.track_running_stats))
end

local InstanceNorm2d = InstanceNorm1d:extend("InstanceNorm2d")
InstanceNorm2d._rank, InstanceNorm2d._sample = 4, "H x W"
--- nn.InstanceNorm2d(num_features [, eps] [, momentum] [, affine = false]
--- [, track_running_stats = false]): InstanceNorm1d's over x [N x C x H x W] (or [C x H x W]).
function InstanceNorm2d:__init (...) return InstanceNorm1d.__init(self, ...) end

return { BatchNorm1d = BatchNorm1d, BatchNorm2d = BatchNorm2d, BatchNorm3d = BatchNorm3d,
         LayerNorm = LayerNorm, GroupNorm = GroupNorm, InstanceNorm1d = InstanceNorm1d,
         InstanceNorm2d = InstanceNorm2d }
