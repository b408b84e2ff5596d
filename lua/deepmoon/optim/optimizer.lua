--- deepmoon.optim.optimizer: the base class of the optimizers (PyTorch's torch.optim.Optimizer).
--
-- An optimizer holds parameter groups and per-parameter state:
--
--   opt.param_groups   list of groups; each is a table of the options (lr, momentum, ...)
--                      plus `params`, the list of tensors.  Options may be changed between
--                      steps (lr schedulers do exactly that).
--   opt.defaults       the options given to the constructor, filled with the class defaults
--   opt.state          state of each parameter, keyed by the parameter tensor
--
-- Subclasses (SGD, Adam, AdamW) give a spec (name, option names in PyTorch's positional
-- order, defaults, the options' types, a validation function) and a step method.  The
-- update itself runs in one C kernel per parameter (core.sgd_step, core.adam_step), which
-- records no autograd history, so a step needs no grad-mode switching.
--
-- state_dict() numbers the parameters from 1 across the groups in order (PyTorch numbers
-- them from 0): { state = { [k] = {...} }, param_groups = { {lr = ..., params = {1, 2}} } }.

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local zeros_like = core.zeros_like
local zero_grads = core.zero_grads      -- every parameter in one call, no box per gradient
local is_tensor, typename = check.is_tensor, check.typename

--- optim.Optimizer: the base class of SGD, Adam and AdamW (param_groups, state, zero_grad,
--- state_dict, load_state_dict, add_param_group); new optimizers are made with
--- Optimizer.class(spec).
local Optimizer = {}
Optimizer.__index = Optimizer

-- errors raised deep inside construction are rethrown at the user's line by `guard`
local Fail = {}
local function fail (msg, ...)
  error(setmetatable({ msg = select("#", ...) > 0 and msg:format(...) or msg }, Fail), 0)
end
Optimizer._fail = fail

-- the optimizers Optimizer.class has built (weak keys): the hot methods (zero_grad, step)
-- test `built[self]`, one table read, and call _need_self only when it fails, so a built
-- optimizer pays no function call and the misuse messages stay _need_self's
local built = setmetatable({}, { __mode = "k" })
Optimizer._built = built

--- Raise at the caller's caller unless self is an optimizer (an instance of a class made by
--- Optimizer.class): a method called with `.` instead of `:`, or on something else.
function Optimizer._need_self (self, fname)
  local mt = type(self) == "table" and getmetatable(self)
  if not (type(mt) == "table" and rawget(mt, "_spec")) then
    error(("%s: expected an optimizer (call it as opt:%s()), got %s"):format(fname,
      fname:match("[^.:]*$"), check.typename(self)), 3)
  end
end

--- Run fn(...); an error raised with fail() is raised again pointing `level` frames above
--- the caller of guard (2 = the caller's caller, the user's line for a public function).
function Optimizer._guard (level, fn, ...)
  local r = table.pack(pcall(fn, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  local e = r[2]
  if getmetatable(e) == Fail then error(e.msg, level + 1) end
  error(e, 0)
end


-- option values print as Lua writes them; tables (betas) as {0.9, 0.999}
local function show (v)
  if type(v) == "table" and not is_tensor(v) then
    local parts = {}
    for i = 1, #v do parts[i] = show(v[i]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end
Optimizer._show = show

-- sentinel for options without a default (SGD's lr)
Optimizer.required = setmetatable({}, { __tostring = function () return "<required>" end })

--- Collect the constructor's options: a table, or PyTorch's positional order, or positional
--- values followed by a table for the rest.
function Optimizer._options (name, positional, ...)
  local n = select("#", ...)
  local opts = {}
  for i = 1, n do
    local v = select(i, ...)
    -- the options table comes last and has no array part (betas = {0.9, 0.999} does)
    if i == n and type(v) == "table" and not is_tensor(v) and v[1] == nil then
      for k, x in pairs(v) do
        if type(k) ~= "string" then fail("%s: option names must be strings, got %s", name, type(k)) end
        if opts[k] ~= nil then fail("%s: option '%s' given twice", name, k) end
        opts[k] = x
      end
    else
      local key = positional[i]
      if not key then
        fail("%s: too many arguments (%d positional options; the rest go in an options table)",
             name, #positional)
      end
      opts[key] = v
    end
  end
  return opts
end

-- the names a constructor's options or a parameter group may hold: the class's options,
-- with their types (spec.types; true: any), params, and initial_lr (schedulers add it)
local function option_spec (spec)
  local s = spec._option_spec
  if not s then
    s = { params = true, initial_lr = true }
    for k in pairs(spec.defaults) do s[k] = spec.types and spec.types[k] or true end
    spec._option_spec = s
  end
  return s
end

-- unknown options and wrong types, raised with fail (and `where`, the group, appended)
local function check_options (spec, opts, where)
  check.options(spec.name, opts, option_spec(spec), function (msg) fail(msg .. where) end)
end

-- copy a group's option values (betas is a table: copy it so groups never share one)
local function copy_value (v)
  if type(v) == "table" and not is_tensor(v) then
    local c = {}
    for i = 1, #v do c[i] = v[i] end
    return c
  end
  return v
end

--- Set up self from the constructor's arguments. spec: name, defaults (option -> value or
--- Optimizer.required), types (option -> a deepmoon.check type name), validate(name, group,
--- where) checking the values (their types are checked already), raising with fail().
function Optimizer._init (self, spec, params, opts)
  local name = spec.name
  self._spec = spec
  check_options(spec, opts, "")
  local defaults = {}
  for k, v in pairs(spec.defaults) do
    if opts[k] ~= nil then defaults[k] = copy_value(opts[k]) else defaults[k] = v end
  end
  do   -- check the defaults before the parameters, as PyTorch does
    local values = {}
    for k, v in pairs(defaults) do values[k] = v end
    if values.lr == Optimizer.required then values.lr = 0 end
    spec.validate(name, values, "")
  end
  self.defaults = defaults
  self.state = {}
  self.param_groups = {}
  self._member = {}          -- tensor -> true, to refuse a parameter in two groups

  if is_tensor(params) then
    fail("%s: params must be a list of tensors or of parameter groups, got a single tensor "
         .. "(wrap it in a table: {t})", name)
  end
  if type(params) ~= "table" then
    fail("%s: params must be a list of tensors or of parameter groups, got %s", name, typename(params))
  end
  if #params == 0 then
    if params.params ~= nil then
      fail("%s: params must be a list of parameter groups; wrap the group in a table: {{params = ...}}", name)
    end
    fail("%s: optimizer got an empty parameter list", name)
  end
  if is_tensor(params[1]) then
    self:_add_group({ params = params }, "params")
  else
    for i = 1, #params do
      local g = params[i]
      if type(g) ~= "table" or is_tensor(g) then
        fail("%s: params[%d] is a %s; give a list of tensors or a list of parameter groups",
             name, i, typename(g))
      end
      self:_add_group(g, ("param_groups[%d]"):format(i))
    end
  end
end

function Optimizer._add_group (self, g, where)
  local spec = self._spec
  local name = spec.name
  local ps = g.params
  if ps == nil then fail("%s: %s has no 'params'", name, where) end
  if is_tensor(ps) then ps = { ps } end
  if type(ps) ~= "table" then
    fail("%s: %s.params must be a list of tensors, got %s", name, where, typename(ps))
  end
  local label = where == "params" and "params" or where .. ".params"
  check_options(spec, g, where == "params" and "" or " in " .. where)
  local list, seen = {}, {}
  for i = 1, #ps do
    local p = ps[i]
    if not is_tensor(p) then
      fail("%s: %s[%d] is a %s, expected a tensor", name, label, i, typename(p))
    end
    if not p.is_leaf then
      fail("%s: can't optimize a non-leaf tensor (%s[%d]); use a leaf such as t:detach():requires_grad_()",
           name, label, i)
    end
    if seen[p] then fail("%s: %s[%d] appears twice in one parameter group", name, label, i) end
    if self._member[p] then fail("%s: some parameters appear in more than one parameter group", name) end
    seen[p] = true
    list[i] = p
  end
  local group = {}
  for k, v in pairs(g) do if k ~= "params" then group[k] = copy_value(v) end end
  for k, v in pairs(self.defaults) do
    if group[k] == nil then
      if v == Optimizer.required then
        if where == "params" then
          fail("%s: option '%s' is required (PyTorch's %s has no default for it)", name, k, name)
        end
        fail("%s: %s didn't specify a value of required optimization parameter %s", name, where, k)
      end
      group[k] = copy_value(v)
    end
  end
  spec.validate(name, group, where == "params" and "" or " in " .. where)
  for _, p in ipairs(list) do self._member[p] = true end
  group.params = list
  self.param_groups[#self.param_groups + 1] = group
  return group
end

--- Add a parameter group {params = {...}, lr = ...}; missing options take the defaults.
function Optimizer.add_param_group (self, group)
  Optimizer._need_self(self, "add_param_group")
  if type(group) ~= "table" or is_tensor(group) then
    error(("%s: add_param_group expects a table {params = {...}, ...}, got %s")
          :format(self._spec.name, typename(group)), 2)
  end
  Optimizer._guard(2, Optimizer._add_group, self, group,
                   ("param_groups[%d]"):format(#self.param_groups + 1))
end

local ZERO_GRAD_OPTIONS = { set_to_none = true }

--- Set the gradients of all parameters to zero in place (PyTorch 1.13's default), or drop
--- them with zero_grad({set_to_none = true}) (zero_grad(true) also works).
function Optimizer.zero_grad (self, opts)
  if not built[self] then Optimizer._need_self(self, "zero_grad") end
  local to_none = false
  if opts then               -- nil or false: zero in place
    if type(opts) == "boolean" then
      to_none = opts
    elseif type(opts) == "table" then
      check.options("zero_grad", opts, ZERO_GRAD_OPTIONS)
      to_none = opts.set_to_none and true or false
    else
      error(("zero_grad: expected an options table {set_to_none = ...}, got %s"):format(typename(opts)), 2)
    end
  end
  local groups = self.param_groups
  for gi = 1, #groups do zero_grads(groups[gi].params, to_none) end
end

--- Run the closure (if any) with grad enabled and return its value; used by step().
function Optimizer._closure (closure)
  if closure == nil then return nil end
  local mt = type(closure) ~= "function" and getmetatable(closure)
  if type(closure) ~= "function" and not (type(mt) == "table" and rawget(mt, "__call")) then
    error(("step: closure must be a function that returns the loss, got %s"):format(
      check.typename(closure)), 3)
  end
  local prev = core.set_grad_enabled(true)
  local r = table.pack(pcall(closure))
  core.set_grad_enabled(prev)
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- the index of every parameter, 1-based across the groups in order
local function numbering (self)
  local index, k = {}, 0
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do
      k = k + 1
      index[p] = k
    end
  end
  return index, k
end

--- The optimizer's state as plain tables: { state = {[k] = {...}}, param_groups = {...} }
--- where k numbers the parameters from 1 across the groups and each group's params is the
--- list of its numbers.  State tensors are the optimizer's own (not copies), as in PyTorch.
function Optimizer.state_dict (self)
  Optimizer._need_self(self, "state_dict")
  local index = numbering(self)
  local state = {}
  for p, st in pairs(self.state) do
    local k = index[p]
    if k then
      local copy = {}
      for key, v in pairs(st) do copy[key] = v end
      state[k] = copy
    end
  end
  local groups = {}
  for gi, g in ipairs(self.param_groups) do
    local c = {}
    for key, v in pairs(g) do
      if key ~= "params" then c[key] = copy_value(v) end
    end
    local ids = {}
    for i, p in ipairs(g.params) do ids[i] = index[p] end
    c.params = ids
    groups[gi] = c
  end
  return { state = state, param_groups = groups }
end

local function load_state (self, sd)
  local name = self._spec.name
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" or type(sd.state) ~= "table" then
    fail("%s: load_state_dict expects a table with 'state' and 'param_groups' (from state_dict()), got %s",
         name, type(sd) == "table" and "a table without them" or typename(sd))
  end
  local groups, saved = self.param_groups, sd.param_groups
  if #groups ~= #saved then
    fail("%s: loaded state dict has a different number of parameter groups (%d, the optimizer has %d)",
         name, #saved, #groups)
  end
  local id_map = {}
  for gi, g in ipairs(groups) do
    local sg = saved[gi]
    if type(sg) ~= "table" or type(sg.params) ~= "table" then
      fail("%s: loaded state dict: param_groups[%d] has no params list", name, gi)
    end
    if #sg.params ~= #g.params then
      fail("%s: loaded state dict contains a parameter group that doesn't match the size of "
           .. "optimizer's group (param_groups[%d] has %d parameters, the optimizer's %d)",
           name, gi, #sg.params, #g.params)
    end
    for i, id in ipairs(sg.params) do id_map[id] = g.params[i] end
  end
  -- build everything before touching self, so a failure leaves the optimizer as it was
  local state = {}
  for id, st in pairs(sd.state) do
    local p = id_map[id]
    if p == nil then
      fail("%s: loaded state dict has state for parameter %s, which no group lists", name, tostring(id))
    end
    local copy = {}
    for key, v in pairs(st) do
      if is_tensor(v) then
        if key == "step" then
          v = v:item()
        else
          local want, got = p:size(), v:size()
          local same = #want == #got
          for d = 1, #want do same = same and want[d] == got[d] end
          if not same then
            fail("%s: loaded state dict: %s of parameter %s has size %s, the parameter has size %s",
                 name, key, tostring(id), v:size_str(), p:size_str())
          end
          v = v:detach():clone()
          -- as PyTorch casts it: floating state takes its parameter's dtype
          if v.dtype.is_floating_point and v.dtype ~= p.dtype then v = v:to(p.dtype) end
        end
      end
      copy[key] = v
    end
    state[p] = copy
  end
  local new_groups = {}
  for gi, g in ipairs(groups) do
    local ng = {}
    for key, v in pairs(saved[gi]) do
      if key ~= "params" then ng[key] = copy_value(v) end
    end
    ng.params = g.params
    for key, v in pairs(self.defaults) do
      if ng[key] == nil then ng[key] = copy_value(v) end
    end
    new_groups[gi] = ng
  end
  self.state = state
  -- keep the param_groups table itself (schedulers hold the optimizer, not the list)
  for gi = 1, #new_groups do groups[gi] = new_groups[gi] end
end

--- Load a state from state_dict(); tensors are copied, options replace the groups' own.
function Optimizer.load_state_dict (self, sd)
  Optimizer._need_self(self, "load_state_dict")
  Optimizer._guard(2, load_state, self, sd)
end

--- PyTorch's repr: the class name and each group's options, sorted.
function Optimizer.__tostring (self)
  local lines = { self._spec.name .. " (" }
  for gi, g in ipairs(self.param_groups) do
    lines[#lines + 1] = "Parameter Group " .. (gi - 1)
    local keys = {}
    for k in pairs(g) do if k ~= "params" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do lines[#lines + 1] = "    " .. k .. ": " .. show(g[k]) end
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

--- Make an optimizer class: `Class(params, opts)` builds one; methods come from Optimizer.
--- spec: name, positional (option names in PyTorch's order), defaults, validate.
function Optimizer.class (spec)
  local cls = {}
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  cls._spec = spec
  local function build (params, ...)
    local self = setmetatable({}, cls)
    built[self] = true
    local opts = Optimizer._options(spec.name, spec.positional, ...)
    Optimizer._init(self, spec, params, opts)
    return self
  end
  setmetatable(cls, {
    __index = Optimizer,
    -- not a tail call: guard's level counts this frame
    __call = function (_, params, ...) local o = Optimizer._guard(2, build, params, ...); return o end,
  })
  return cls
end

Optimizer._zeros_like = zeros_like

return Optimizer
