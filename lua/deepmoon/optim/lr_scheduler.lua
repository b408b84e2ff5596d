--- deepmoon.optim.lr_scheduler: learning-rate schedules, PyTorch 1.13's
--- torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR).
--
--   local sched = optim.lr_scheduler.StepLR(opt, {step_size = 30, gamma = 0.1})
--   for epoch = 1, 100 do train(); sched:step() end
--
-- A scheduler writes each parameter group's lr.  Like PyTorch it steps once when built
-- (last_epoch goes from -1 to 0), records each group's initial_lr, and computes the next lr
-- from the current one (the recursive form) on sched:step(); sched:step(epoch) jumps to an
-- epoch with the closed form.  Options: PyTorch's, as a table or positionally
-- (StepLR(opt, step_size, gamma, last_epoch, verbose)).

local check = require "deepmoon.check"
local Optimizer = require "deepmoon.optim.optimizer"

local fail, guard, typename = Optimizer._fail, Optimizer._guard, check.typename

--- optim.lr_scheduler.LRScheduler: the base class of the schedulers (step, get_last_lr,
--- state_dict, load_state_dict); each scheduler changes the lr of its optimizer's groups.
local LRScheduler = {}
LRScheduler.__index = LRScheduler

local function is_integer (v)
  return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v) and v == v
                                        and v ~= math.huge and v ~= -math.huge)
end

local function init (self, optimizer, opts)
  local name = self._name
  if type(optimizer) ~= "table" or type(optimizer.param_groups) ~= "table" then
    fail("%s: expected an optimizer, got %s", name, typename(optimizer))
  end
  local last_epoch = opts.last_epoch
  if last_epoch == nil then last_epoch = -1 end
  if not is_integer(last_epoch) or last_epoch < -1 then
    fail("%s: last_epoch must be an integer >= -1, got %s", name, tostring(last_epoch))
  end
  last_epoch = math.tointeger(last_epoch)
  local verbose = opts.verbose
  local groups = optimizer.param_groups
  if last_epoch == -1 then
    for _, g in ipairs(groups) do
      if g.initial_lr == nil then g.initial_lr = g.lr end
    end
  else
    for i, g in ipairs(groups) do
      if g.initial_lr == nil then
        fail("%s: param 'initial_lr' is not specified in param_groups[%d] when resuming an optimizer",
             name, i)
      end
    end
  end
  local base = {}
  for i, g in ipairs(groups) do base[i] = g.initial_lr end
  self.optimizer = optimizer
  self.base_lrs = base
  self.last_epoch = last_epoch
  self.verbose = verbose or false
  self._step_count = 0
  self:step()
end

--- Advance one epoch (or jump to `epoch`, computed in closed form) and set the groups' lr.
function LRScheduler.step (self, epoch)
  self._step_count = self._step_count + 1
  local values
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    values = self:get_lr()
  else
    if not is_integer(epoch) then
      error(("%s: step: epoch must be an integer, got %s"):format(self._name, tostring(epoch)), 2)
    end
    self.last_epoch = math.tointeger(epoch)
    values = self:_closed_form_lr()
  end
  local groups = self.optimizer.param_groups
  local last = {}
  for i, g in ipairs(groups) do
    if values[i] ~= nil then
      g.lr = values[i]
      if self.verbose then
        if epoch == nil then
          print(("Adjusting learning rate of group %d to %.4e."):format(i, values[i]))
        else
          print(("Epoch %5d: adjusting learning rate of group %d to %.4e."):format(epoch, i, values[i]))
        end
      end
    end
    last[i] = g.lr
  end
  self._last_lr = last
end

--- The learning rates the last step set, one per parameter group.
function LRScheduler.get_last_lr (self)
  local c = {}
  for i, v in ipairs(self._last_lr) do c[i] = v end
  return c
end

--- Every field but the optimizer, as PyTorch's state_dict.
function LRScheduler.state_dict (self)
  local sd = {}
  for k, v in pairs(self) do
    if k ~= "optimizer" then
      if type(v) == "table" then
        local c = {}
        for i, x in ipairs(v) do c[i] = x end
        v = c
      end
      sd[k] = v
    end
  end
  return sd
end

--- Restore the fields a state_dict() saved.
function LRScheduler.load_state_dict (self, sd)
  if type(sd) ~= "table" then
    error(("%s: load_state_dict expects a table, got %s"):format(self._name, typename(sd)), 2)
  end
  for k, v in pairs(sd) do
    local have = rawget(self, k)
    if k ~= "optimizer" and have ~= nil and type(v) ~= type(have) then
      error(("%s: load_state_dict: '%s' must be a %s, got %s"):format(self._name, tostring(k),
            type(have), typename(v)), 2)
    end
  end
  for k, v in pairs(sd) do
    if k ~= "optimizer" then
      if type(v) == "table" then
        local c = {}
        for i, x in ipairs(v) do c[i] = x end
        v = c
      end
      self[k] = v
    end
  end
end

local function current (self)
  local lrs = {}
  for i, g in ipairs(self.optimizer.param_groups) do lrs[i] = g.lr end
  return lrs
end

-- a scheduler class: spec.name, positional option names, types (the class's own options ->
-- a deepmoon.check type name), check(self, opts)
local function class (spec)
  local cls = setmetatable({}, { __index = LRScheduler })
  cls.__index = cls
  local options = { last_epoch = true, verbose = "boolean" }   -- last_epoch: checked in init
  for k, t in pairs(spec.types) do options[k] = t end
  local function build (optimizer, ...)
    local opts = Optimizer._options(spec.name, spec.positional, ...)
    check.options(spec.name, opts, options, fail)
    local self = setmetatable({ _name = spec.name }, cls)
    spec.check(self, opts)
    init(self, optimizer, opts)
    return self
  end
  setmetatable(cls, {
    __index = LRScheduler,
    -- not a tail call: guard's level counts this frame
    __call = function (_, optimizer, ...) local s = guard(2, build, optimizer, ...); return s end,
  })
  return cls
end

-- opts[key], or default; without a default the option is required
local function need (name, opts, key, default)
  local v = opts[key]
  if v == nil then
    if default == nil then fail("%s: option '%s' is required", name, key) end
    return default
  end
  return v
end

--- StepLR(opt, {step_size, gamma = 0.1}): multiply lr by gamma every step_size epochs.
local StepLR = class {
  name = "StepLR",
  positional = { "step_size", "gamma", "last_epoch", "verbose" },
  types = { step_size = "number", gamma = "number" },
  check = function (self, opts)
    local s = need("StepLR", opts, "step_size")
    if not is_integer(s) or s < 1 then
      fail("StepLR: step_size must be a positive integer, got %s", tostring(s))
    end
    self.step_size = math.tointeger(s)
    self.gamma = need("StepLR", opts, "gamma", 0.1)
  end,
}

--- The learning rates of this epoch, one per parameter group (step sets them).
function StepLR.get_lr (self)
  local e = self.last_epoch
  if e == 0 or e % self.step_size ~= 0 then return current(self) end
  local lrs, gamma = {}, self.gamma
  for i, g in ipairs(self.optimizer.param_groups) do lrs[i] = g.lr * gamma end
  return lrs
end

function StepLR._closed_form_lr (self)
  local lrs, k = {}, self.last_epoch // self.step_size
  for i, base in ipairs(self.base_lrs) do lrs[i] = base * self.gamma ^ k end
  return lrs
end

--- ExponentialLR(opt, {gamma}): multiply lr by gamma every epoch.
local ExponentialLR = class {
  name = "ExponentialLR",
  positional = { "gamma", "last_epoch", "verbose" },
  types = { gamma = "number" },
  check = function (self, opts)
    self.gamma = need("ExponentialLR", opts, "gamma")
  end,
}

--- The learning rates of this epoch, one per parameter group (step sets them).
function ExponentialLR.get_lr (self)
  if self.last_epoch == 0 then return current(self) end
  local lrs, gamma = {}, self.gamma
  for i, g in ipairs(self.optimizer.param_groups) do lrs[i] = g.lr * gamma end
  return lrs
end

function ExponentialLR._closed_form_lr (self)
  local lrs = {}
  for i, base in ipairs(self.base_lrs) do lrs[i] = base * self.gamma ^ self.last_epoch end
  return lrs
end

--- CosineAnnealingLR(opt, {T_max, eta_min = 0}): lr follows half a cosine from the initial
--- lr down to eta_min over T_max epochs, then back up (period 2 T_max).  Computed
--- recursively from the current lr exactly as PyTorch 1.13 does.
local CosineAnnealingLR = class {
  name = "CosineAnnealingLR",
  positional = { "T_max", "eta_min", "last_epoch", "verbose" },
  types = { T_max = "number", eta_min = "number" },
  check = function (self, opts)
    local t = need("CosineAnnealingLR", opts, "T_max")
    if not (t > 0) then fail("CosineAnnealingLR: T_max must be positive, got %s", tostring(t)) end
    self.T_max = math.tointeger(t) or t
    self.eta_min = need("CosineAnnealingLR", opts, "eta_min", 0)
  end,
}

--- The learning rates of this epoch, one per parameter group (step sets them).
function CosineAnnealingLR.get_lr (self)
  local e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
  local groups = self.optimizer.param_groups
  local lrs = {}
  if e == 0 then
    return current(self)
  elseif self._step_count == 1 and e > 0 then
    for i, base in ipairs(self.base_lrs) do
      lrs[i] = eta_min + (base - eta_min) * (1 + math.cos(e * math.pi / T)) / 2
    end
  elseif (e - 1 - T) % (2 * T) == 0 then
    for i, base in ipairs(self.base_lrs) do
      lrs[i] = groups[i].lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
    end
  else
    for i, g in ipairs(groups) do
      lrs[i] = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
               * (g.lr - eta_min) + eta_min
    end
  end
  return lrs
end

function CosineAnnealingLR._closed_form_lr (self)
  local lrs, e, T, eta_min = {}, self.last_epoch, self.T_max, self.eta_min
  for i, base in ipairs(self.base_lrs) do
    lrs[i] = eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T)) / 2
  end
  return lrs
end

return {
  LRScheduler = LRScheduler,
  StepLR = StepLR,
  ExponentialLR = ExponentialLR,
  CosineAnnealingLR = CosineAnnealingLR,
}
