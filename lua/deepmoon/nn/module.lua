--- deepmoon.nn.module: nn.Module, the base class of layers and models, its class mechanism,
-- and nn.Parameter.
--
--   local SimpleNN = nn.Module:extend("SimpleNN")     -- a class; SimpleNN.super is nn.Module
--
--   function SimpleNN:__init(n)                        -- the constructor
--     nn.Module.__init(self)                           -- optional (PyTorch's super().__init__())
--     self.fc1 = nn.Linear(2, n)                       -- registered in assignment order
--     self.fc2 = nn.Linear(n, 1)
--   end
--
--   function SimpleNN:forward(x) return self.fc2(self.fc1(x):relu()) end
--
--   local model = SimpleNN(64)                         -- construct; model(x) calls forward
--
-- Assigning a module, or a tensor marked with nn.Parameter, to a field of an instance
-- registers it (PyTorch's __setattr__), so parameters(), state_dict() and tostring(model)
-- see it under that name.  Other values are kept as plain fields.
--
-- Collections: parameters(), buffers(), children() and modules() return Lua lists that can
-- also be iterated directly (`for p in model:parameters() do`); the named_* forms return
-- iterators of (name, value) in registration order (`for name, p in model:named_parameters()`).
-- state_dict() returns a table name -> tensor whose pairs() and :keys() follow PyTorch's order.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"

local M = {}

local is_tensor = check.is_tensor

-- the value a registered-but-empty slot holds (PyTorch's `self.bias = None` after
-- register_parameter("bias", None)): the name stays reserved, iteration skips it
local NONE = setmetatable({}, { __name = "None", __tostring = function () return "None" end })

-- ---- ordered dictionaries ---------------------------------------------------------------

local function od_new () return { keys = {}, map = {} } end

local function od_set (od, k, v)
  if v == nil then
    if od.map[k] ~= nil then
      od.map[k] = nil
      for i, name in ipairs(od.keys) do
        if name == k then table.remove(od.keys, i) break end
      end
    end
    return
  end
  if od.map[k] == nil then od.keys[#od.keys + 1] = k end
  od.map[k] = v
end

-- ---- lists that a generic for can call --------------------------------------------------

-- `for v in list do` calls the list with the previous value; values are unique (the
-- collections deduplicate), so a value -> position map finds the next one
local positions = setmetatable({}, { __mode = "k" })
local List = {
  __name = "deepmoon.nn.List",
  __call = function (list, _, prev)
    local pos
    if prev == nil then
      pos = {}
      for i, v in ipairs(list) do pos[v] = i end
      positions[list] = pos
      return list[1]
    end
    pos = positions[list]
    local i = pos and pos[prev]
    if i == nil then return nil end
    return list[i + 1]
  end,
}

local function list (t) return setmetatable(t, List) end

-- an iterator over parallel arrays of names and values
local function pairs_iter (names, values)
  local i = 0
  return function ()
    i = i + 1
    if names[i] ~= nil then return names[i], values[i] end
  end
end

-- ---- classes ------------------------------------------------------------------------------

-- metamethods live in each class table (Lua reads them raw from the metatable), so a
-- subclass copies its parent's
local METAMETHODS = { "__index", "__newindex", "__call", "__tostring", "__len", "__close",
                      "__concat", "__eq", "__lt", "__le", "__unm", "__add", "__pairs" }

local Module = {}
M.Module = Module

--- Is v a module (an instance of nn.Module or a subclass)?
local function is_module (v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(v, "_modules") ~= nil and mt.__is_module == true
end
M.is_module = is_module
Module.__is_module = true

local function class_name (self)
  local mt = getmetatable(self)
  return mt and rawget(mt, "__name") or "Module"
end

-- the fresh private state of an instance (raw fields; everything else goes through
-- __index / __newindex)
local function new_state ()
  return { _parameters = od_new(), _buffers = od_new(), _modules = od_new(),
           _attrs = { ["\0call"] = false },
           _non_persistent = {}, training = true }
end

-- Each class gets its own __call that knows the class, so a call finds forward without the
-- general field lookup (Module.__index, a function call per access): the instance's own
-- forward when one was assigned to it (as trace.lua does), else the class's.
local default_calls = setmetatable({}, { __mode = "k" })

local hooked_call              -- defined with the hooks, below
-- a module's hooks ({pre, fwd, bwd}) live in its _attrs under this key
local HOOKS = "\0hooks"

-- The call of a module with neither hooks nor a forward of its own (nearly every call) reads
-- one field of _attrs, "\0call" (a constant key: one GETFIELD; false, not nil, so that the
-- read hits and the test is a TEST, not a comparison) and runs the class's forward.  An
-- instance forward or a hook puts `dispatch` there (sync_call), which finds the forward and
-- runs the hooks.  Every write of _attrs.forward or _attrs[HOOKS] goes through sync_call.
local function dispatch (self, cls, ...)
  local attrs = self._attrs
  local f = attrs.forward
  if f == nil then f = cls.forward end
  if attrs[HOOKS] then return hooked_call(self, f, ...) end
  return f(self, ...)
end

local function sync_call (attrs)
  if attrs.forward ~= nil or attrs[HOOKS] ~= nil then
    attrs["\0call"] = dispatch
  else
    attrs["\0call"] = false
  end
end
M._sync_call = sync_call

local function make_call (cls)
  local function call (self, ...)
    local d = self._attrs["\0call"]
    if not d then return cls.forward(self, ...) end
    return d(self, cls, ...)
  end
  default_calls[call] = true
  return call
end

-- (internal) give cls its own __call, e.g. one with forward's fast path inline (nn.Linear):
-- `call` is treated as a default call, so a subclass (which may define its own forward)
-- gets make_call's; returns make_call(cls), for `call` to fall back on
function M._own_call (cls, call)
  cls.__call = call
  default_calls[call] = true
  return make_call(cls)
end

local default_indexes = setmetatable({}, { __mode = "k" })

local function make_index (cls)
  -- The maps of modules, parameters and buffers hold no false (modules, tensors, NONE), so
  -- they are tested with TEST; a comparison (== nil, == NONE) is a C call in Lua 5.4's VM.
  -- The modules map holds no NONE either (a module slot set to nil is removed): a child,
  -- the most read field (a forward's self.fc1), returns after one test.
  local function index (self, k)
    local v = self._modules.map[k]
    if v then return v end
    v = self._attrs[k]
    if v == nil then
      v = self._parameters.map[k]
      if not v then
        v = self._buffers.map[k]
        if not v then
          if type(k) == "number" then
            local get = cls.__getitem
            if get then return get(self, k) end
            return nil
          end
          return cls[k]
        end
      end
    end
    if v == NONE then return nil end
    return v
  end
  default_indexes[index] = true
  return index
end

local function construct (cls, ...)
  local self = setmetatable(new_state(), cls)
  cls.__init(self, ...)
  return self
end

local function class_tostring (cls) return "class " .. rawget(cls, "__name") end

--- Define a subclass: `local MyNet = nn.Module:extend("MyNet")`.  Instances are made by
--- calling the class, `MyNet(...)`, which runs `MyNet:__init(...)`.
function Module.extend (cls, name)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error(("%s:extend: expected a class name (an identifier), got %s"):format(
      rawget(cls, "__name") or "Module", type(name) == "string" and ("'" .. name .. "'")
      or type(name)), 2)
  end
  local sub = {}
  for _, k in ipairs(METAMETHODS) do sub[k] = rawget(cls, k) end
  if default_calls[sub.__call] then sub.__call = make_call(sub) end
  if default_indexes[sub.__index] then sub.__index = make_index(sub) end
  sub.__name = name
  sub.super = cls
  return setmetatable(sub, { __index = cls, __call = construct, __tostring = class_tostring })
end

--- Is self an instance of cls or of one of its subclasses?
function Module.is_a (self, cls)
  local c = getmetatable(self)
  while c do
    if c == cls then return true end
    c = rawget(c, "super")
  end
  return false
end

--- The base constructor.  Subclasses may call it (`nn.Module.__init(self)`, as PyTorch's
--- super().__init__()); the state it sets up already exists, so forgetting it is harmless.
function Module.__init (self, ...)
  if select("#", ...) > 0 then
    error(("%s: nn.Module takes no arguments (to define a model class, use " ..
           "nn.Module:extend(\"Name\"))"):format(class_name(self)), 3)
  end
end

-- field reads: plain fields, parameters, buffers and submodules (a name lives in one of
-- them at most: registration removes it from the others), then the class.  Each class gets
-- its own closure (see make_index), which knows the class without a getmetatable call, and
-- the private tables are raw fields, read without rawget: a forward reads several fields
-- per call, and this lookup was a tenth of a small model's training step.
Module.__index = make_index(Module)

local function typename (v)
  if is_tensor(v) then return "Tensor" end
  if is_module(v) then return class_name(v) end
  return type(v)
end

local function remove_everywhere (self, k)
  od_set(rawget(self, "_parameters"), k, nil)
  od_set(rawget(self, "_buffers"), k, nil)
  od_set(rawget(self, "_modules"), k, nil)
  local attrs = rawget(self, "_attrs")
  attrs[k] = nil
  if k == "forward" then sync_call(attrs) end
end

-- field writes register modules and parameters (PyTorch's Module.__setattr__)
function Module.__newindex (self, k, v)
  if type(k) ~= "string" then
    local set = getmetatable(self).__setitem
    if set then return set(self, k, v) end
    error(("%s: cannot assign to index %s"):format(class_name(self), tostring(k)), 2)
  end
  local params, bufs, mods = rawget(self, "_parameters"), rawget(self, "_buffers"),
                             rawget(self, "_modules")
  if is_module(v) then
    remove_everywhere(self, k)
    od_set(mods, k, v)
  elseif is_tensor(v) and dm._parameters[v] then
    remove_everywhere(self, k)
    od_set(params, k, v)
  elseif params.map[k] ~= nil then
    if v ~= nil then
      error(("%s: cannot assign a %s as parameter '%s' (nn.Parameter or nil expected)"):format(
        class_name(self), typename(v), k), 2)
    end
    od_set(params, k, NONE)
  elseif bufs.map[k] ~= nil then
    if v ~= nil and not is_tensor(v) then
      error(("%s: cannot assign a %s as buffer '%s' (Tensor or nil expected)"):format(
        class_name(self), typename(v), k), 2)
    end
    od_set(bufs, k, v == nil and NONE or v)
  elseif mods.map[k] ~= nil then
    if v ~= nil then
      error(("%s: cannot assign a %s as child module '%s' (nn.Module or nil expected)"):format(
        class_name(self), typename(v), k), 2)
    end
    od_set(mods, k, nil)
  else
    local attrs = rawget(self, "_attrs")
    attrs[k] = v
    if k == "forward" then sync_call(attrs) end
  end
end

--- model(...) runs model:forward(...)
Module.__call = make_call(Module)

--- Subclasses define forward.
function Module.forward (self)
  error(("%s: forward is not implemented (define function %s:forward(...))"):format(
    class_name(self), class_name(self)), 2)
end

-- ---- registration ------------------------------------------------------------------------

local function check_name (self, what, name, level)
  if type(name) ~= "string" then
    error(("%s: %s name should be a string, got %s"):format(class_name(self), what, type(name)),
          level + 1)
  end
  if name == "" then
    error(("%s: %s name can't be empty"):format(class_name(self), what), level + 1)
  end
  if name:find(".", 1, true) then
    error(("%s: %s name can't contain \".\", got '%s'"):format(class_name(self), what, name),
          level + 1)
  end
end

--- Register a parameter (a tensor marked with nn.Parameter, or nil to reserve the name).
function Module.register_parameter (self, name, param)
  check_name(self, "parameter", name, 2)
  if param ~= nil and not (is_tensor(param) and dm._parameters[param]) then
    error(("%s: cannot register a %s as parameter '%s' (nn.Parameter or nil expected)"):format(
      class_name(self), is_tensor(param) and "plain Tensor" or type(param), name), 2)
  end
  remove_everywhere(self, name)
  od_set(rawget(self, "_parameters"), name, param == nil and NONE or param)
end

local BUFFER_OPTIONS = { persistent = true }

--- Register a buffer: state that is saved in state_dict but is not a parameter (running
--- statistics).  `persistent` (default true; also {persistent = false}) keeps it out of
--- state_dict when false.
function Module.register_buffer (self, name, t, persistent)
  check_name(self, "buffer", name, 2)
  if type(persistent) == "table" then
    check.options("register_buffer", persistent, BUFFER_OPTIONS)
    persistent = persistent.persistent
  end
  if t ~= nil and not is_tensor(t) then
    error(("%s: cannot register a %s as buffer '%s' (Tensor or nil expected)"):format(
      class_name(self), type(t), name), 2)
  end
  remove_everywhere(self, name)
  od_set(rawget(self, "_buffers"), name, t == nil and NONE or t)
  rawget(self, "_non_persistent")[name] = (persistent == false) or nil
end

--- Register a child module under name.
function Module.add_module (self, name, module)
  check_name(self, "module", name, 2)
  if module ~= nil and not is_module(module) then
    error(("%s: %s is not a Module"):format(class_name(self), type(module)), 2)
  end
  remove_everywhere(self, name)
  od_set(rawget(self, "_modules"), name, module)
end
Module.register_module = Module.add_module

-- ---- traversal ---------------------------------------------------------------------------

-- (prefix .. name, module) for self and every module below it, pre-order, each module once
local function walk_modules (self, prefix, out_names, out_mods, seen)
  if seen[self] then return end
  seen[self] = true
  out_names[#out_names + 1] = prefix
  out_mods[#out_mods + 1] = self
  local mods = rawget(self, "_modules")
  for _, k in ipairs(mods.keys) do
    local child = mods.map[k]
    walk_modules(child, prefix == "" and k or (prefix .. "." .. k), out_names, out_mods, seen)
  end
end

local function all_modules (self)
  local names, mods = {}, {}
  walk_modules(self, "", names, mods, {})
  return names, mods
end

-- named members (parameters or buffers) of every module, each tensor once
local function named_members (self, field, recurse)
  local names, values, seen = {}, {}, {}
  local mnames, mods
  if recurse == false then mnames, mods = { "" }, { self }
  else mnames, mods = all_modules(self) end
  for i, m in ipairs(mods) do
    local od = rawget(m, field)
    for _, k in ipairs(od.keys) do
      local v = od.map[k]
      if v ~= NONE and not seen[v] then
        seen[v] = true
        names[#names + 1] = mnames[i] == "" and k or (mnames[i] .. "." .. k)
        values[#values + 1] = v
      end
    end
  end
  return names, values
end

--- Parameters of this module and all below it, in registration order, each once: a list
--- (`#`, ipairs, or `for p in model:parameters() do`).  recurse = false: this module's own.
function Module.parameters (self, recurse)
  local _, values = named_members(self, "_parameters", recurse)
  return list(values)
end

--- Iterator of (dotted name, parameter): `fc1.weight`, `0.bias`, as PyTorch names them.
function Module.named_parameters (self, recurse)
  return pairs_iter(named_members(self, "_parameters", recurse))
end

--- Buffers (running statistics, ...) of this module and all below it: a list.
function Module.buffers (self, recurse)
  local _, values = named_members(self, "_buffers", recurse)
  return list(values)
end

--- Iterator of (dotted name, buffer).
function Module.named_buffers (self, recurse)
  return pairs_iter(named_members(self, "_buffers", recurse))
end

local function named_children (self)
  local names, values, seen = {}, {}, {}
  local mods = rawget(self, "_modules")
  for _, k in ipairs(mods.keys) do
    local m = mods.map[k]
    if not seen[m] then
      seen[m] = true
      names[#names + 1] = k
      values[#values + 1] = m
    end
  end
  return names, values
end

--- The direct children: a list.
function Module.children (self)
  local _, values = named_children(self)
  return list(values)
end

--- Iterator of (name, child).
function Module.named_children (self)
  return pairs_iter(named_children(self))
end

--- self and every module below it, pre-order, each once: a list.
function Module.modules (self)
  local _, mods = all_modules(self)
  return list(mods)
end

--- Iterator of (dotted name, module); self comes first with the name "".
function Module.named_modules (self)
  return pairs_iter(all_modules(self))
end

--- Call fn on every child (recursively) and then on self, as PyTorch; returns self.
function Module.apply (self, fn)
  if fn == nil then error(("%s.apply: fn must be a function, got nil"):format(class_name(self)), 2) end
  check.arg(class_name(self) .. ".apply", "fn", fn, "callable", nil, 2)
  for m in Module.children(self) do m:apply(fn) end
  fn(self)
  return self
end

--- Set training mode (default true) on this module and all below it; returns self.
function Module.train (self, mode)
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then
    error(("%s: train: mode should be a boolean, got %s"):format(class_name(self), type(mode)), 2)
  end
  for m in Module.modules(self) do rawset(m, "training", mode) end
  return self
end

--- Evaluation mode (dropout off, batch norm uses running statistics); returns self.
function Module.eval (self)
  return Module.train(self, false)
end

--- Set requires_grad on every parameter; returns self.
function Module.requires_grad_ (self, on)
  if on == nil then on = true end
  for p in Module.parameters(self) do p.requires_grad = on end
  return self
end

--- Convert the floating parameters and buffers of every module to a floating dtype
--- (dm.float32, dm.float64 or their names), as PyTorch's module.to(dtype): parameters keep
--- their identity (the objects optimizers hold now view the converted values), their grads
--- are converted too, and floating buffers are replaced by converted ones; integer buffers
--- and tensors already of that dtype are left alone. Returns self.
function Module.to (self, dtype)
  local dt = type(dtype) == "string" and rawget(dm, dtype) or dtype
  if type(dt) ~= "table" or getmetatable(dt) ~= getmetatable(dm.float32) then
    error(("%s.to: expected a dtype, got %s"):format(class_name(self), tostring(dtype)), 2)
  end
  if not dt.is_floating_point then
    error(("%s.to: only floating dtypes are accepted, got %s"):format(class_name(self),
          tostring(dt)), 2)
  end
  local _, mods = all_modules(self)
  for _, m in ipairs(mods) do
    local params, bufs = rawget(m, "_parameters"), rawget(m, "_buffers")
    for _, k in ipairs(params.keys) do
      local p = params.map[k]
      if p ~= NONE and p.dtype.is_floating_point and p.dtype ~= dt then
        local g = p.grad
        p.data = p:detach():to(dt)
        if g then p.grad = g:to(dt) end
      end
    end
    for _, k in ipairs(bufs.keys) do
      local b = bufs.map[k]
      if b ~= NONE and b.dtype.is_floating_point and b.dtype ~= dt then
        bufs.map[k] = b:to(dt)
      end
    end
  end
  return self
end

--- model:to(dm.float64); returns self.
function Module.double (self) return Module.to(self, dm.float64) end

--- model:to(dm.float32); returns self.
function Module.float (self) return Module.to(self, dm.float32) end

local ZERO_GRAD_OPTIONS = { set_to_none = true }

--- Zero the gradients of every parameter in place (PyTorch 1.13's default), or drop them
--- with `model:zero_grad{set_to_none = true}` (also `model:zero_grad(true)`).
function Module.zero_grad (self, opts)
  local to_none = false
  if type(opts) == "table" then
    check.options("zero_grad", opts, ZERO_GRAD_OPTIONS)
    to_none = opts.set_to_none and true or false
  elseif opts ~= nil then
    to_none = opts and true or false
  end
  dm.zero_grads(Module.parameters(self), to_none)
end

-- ---- hooks -------------------------------------------------------------------------------
-- Kept in the instance's _attrs, made when the first hook is registered: a module
-- without hooks pays nothing for them (see dispatch).  Each list holds { id =, fn = } in the order
-- registered; a handle's remove() takes its entry out.

local hook_ids = 0

local HookHandle = {}
HookHandle.__index = HookHandle
HookHandle.__name = "deepmoon.nn.RemovableHandle"

--- Remove the hook (again: nothing happens).
function HookHandle:remove ()
  local list = self._list
  if not list then return end
  self._list = nil
  for i, h in ipairs(list) do
    if h.id == self.id then table.remove(list, i) break end
  end
end

local function add_hook (self, kind, fn, what)
  local mt = getmetatable(fn)
  if type(fn) ~= "function" and not (type(mt) == "table" and mt.__call) then
    error(("%s: %s: hook must be a function, got %s"):format(class_name(self), what,
          check.typename(fn)), 3)
  end
  local H = self._attrs[HOOKS]
  if not H then
    H = { pre = {}, fwd = {}, bwd = {} }
    local attrs = self._attrs
    attrs[HOOKS] = H
    sync_call(attrs)
  end
  hook_ids = hook_ids + 1
  local list = H[kind]
  list[#list + 1] = { id = hook_ids, fn = fn }
  return setmetatable({ id = hook_ids, _list = list }, HookHandle)
end

--- hook(module, input) runs before forward; input is the list of forward's arguments.  It
--- may return a replacement: a list of arguments, or one value (the only argument).
--- Returns a handle with :remove().
function Module.register_forward_pre_hook (self, fn)
  return add_hook(self, "pre", fn, "register_forward_pre_hook")
end

--- hook(module, input, output) runs after forward; it may return a replacement output.
function Module.register_forward_hook (self, fn)
  return add_hook(self, "fwd", fn, "register_forward_hook")
end

--- hook(module, grad_input, grad_output) runs when the gradients with respect to the
--- module's tensor inputs are computed: grad_input and grad_output are lists, one entry per
--- tensor argument of forward (nil where it needs no gradient) and per tensor output.  It
--- may return a replacement list for grad_input.  As PyTorch's full backward hooks, the
--- tensor inputs and outputs pass through an identity op ("BackwardHookFunctionBackward").
function Module.register_full_backward_hook (self, fn)
  return add_hook(self, "bwd", fn, "register_full_backward_hook")
end

--- Not provided (deprecated in PyTorch): raises, naming register_full_backward_hook.
function Module.register_backward_hook ()
  error("register_backward_hook is deprecated in PyTorch and not provided; use " ..
        "register_full_backward_hook", 2)
end

local function pack_result (r)
  if type(r) == "table" and not is_tensor(r) and not is_module(r) then
    if r.n == nil then r = table.pack(table.unpack(r)) end
    return r
  end
  return table.pack(r)
end

-- copies: a hook may remove itself while the list is walked
local function snapshot (list)
  local c = {}
  for i, h in ipairs(list) do c[i] = h end
  return c
end

local InHook, OutHook            -- the identity Functions of full backward hooks

local function bw_functions ()
  if InHook then return end
  local Function = require("deepmoon.autograd").Function
  -- inputs: forward(ctx, state, x1, ...) returns x1, ...; its backward sees grad_input
  InHook = Function:extend("BackwardHookFunction")
  function InHook.forward (ctx, st, ...)
    ctx.st = st
    return ...
  end
  function InHook.backward (ctx, ...)
    local st = ctx.st
    local gi = {}
    local n = select("#", ...)
    for k = 1, #st.tin do gi[st.tin[k]] = k <= n and (select(k, ...)) or nil end
    local grad_input = {}
    for i = 1, st.n_in do grad_input[i] = gi[i] end
    for _, h in ipairs(snapshot(st.hooks)) do
      local r = h.fn(st.module, grad_input, st.grad_output or {})
      if r ~= nil then
        if is_tensor(r) then r = { r } end
        grad_input = r
      end
    end
    local out = { n = #st.tin + 1 }
    for k, i in ipairs(st.tin) do out[k + 1] = grad_input[i] end
    return table.unpack(out, 1, out.n)
  end
  -- outputs: its backward sees grad_output (and calls the hooks when no input needs a grad)
  OutHook = Function:extend("BackwardHookFunction")
  function OutHook.forward (ctx, st, ...)
    ctx.st = st
    return ...
  end
  function OutHook.backward (ctx, ...)
    local st = ctx.st
    local go = {}
    local n = select("#", ...)
    for k = 1, #st.tout do go[st.tout[k]] = k <= n and (select(k, ...)) or nil end
    st.grad_output = go
    if #st.tin == 0 then
      for _, h in ipairs(snapshot(st.hooks)) do h.fn(st.module, {}, go) end
    end
    return nil, ...
  end
end

hooked_call = function (self, f, ...)
  local H = self._attrs[HOOKS]
  local input = table.pack(...)
  for _, h in ipairs(snapshot(H.pre)) do
    local r = h.fn(self, input)
    if r ~= nil then input = pack_result(r) end
  end
  local st
  if #H.bwd > 0 and dm.is_grad_enabled() then
    bw_functions()
    st = { module = self, hooks = H.bwd, tin = {}, tout = {}, n_in = 0 }
    local xs = {}
    for i = 1, input.n do
      local v = input[i]
      if is_tensor(v) then
        st.n_in = st.n_in + 1
        if v.requires_grad then
          st.tin[#st.tin + 1] = st.n_in
          xs[#xs + 1] = i
        end
      end
    end
    if #xs > 0 then
      local args = {}
      for k, i in ipairs(xs) do args[k] = input[i] end
      local wrapped = table.pack(InHook.apply(st, table.unpack(args, 1, #xs)))
      input = table.pack(table.unpack(input, 1, input.n))
      for k, i in ipairs(xs) do input[i] = wrapped[k] end
    end
  end
  local out = table.pack(f(self, table.unpack(input, 1, input.n)))
  for _, h in ipairs(snapshot(H.fwd)) do
    local r = h.fn(self, input, out.n == 1 and out[1] or out)
    if r ~= nil then
      if out.n == 1 then out = table.pack(r) else out = pack_result(r) end
    end
  end
  if st then
    local ys, t = {}, 0
    for i = 1, out.n do
      local v = out[i]
      if is_tensor(v) then
        t = t + 1
        if v.requires_grad then st.tout[#st.tout + 1] = t; ys[#ys + 1] = i end
      end
    end
    if #ys > 0 then
      local args = {}
      for k, i in ipairs(ys) do args[k] = out[i] end
      local wrapped = table.pack(OutHook.apply(st, table.unpack(args, 1, #ys)))
      for k, i in ipairs(ys) do out[i] = wrapped[k] end
    end
  end
  return table.unpack(out, 1, out.n)
end

-- ---- state_dict --------------------------------------------------------------------------

local StateDict = {}
StateDict.__index = StateDict
local sd_order = setmetatable({}, { __mode = "k" })

--- The keys in order: those the state_dict was made with (still present), then any added
--- since, sorted.
function StateDict.keys (sd)
  local out, seen = {}, {}
  for _, k in ipairs(sd_order[sd] or {}) do
    if rawget(sd, k) ~= nil then out[#out + 1] = k; seen[k] = true end
  end
  local extra = {}
  for k in next, sd do
    if not seen[k] then extra[#extra + 1] = k end
  end
  table.sort(extra, function (a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(extra) do out[#out + 1] = k end
  return out
end

function StateDict.__pairs (sd)
  local keys = StateDict.keys(sd)
  local i = 0
  return function ()
    i = i + 1
    local k = keys[i]
    if k ~= nil then return k, rawget(sd, k) end
  end, sd, nil
end

StateDict.__name = "deepmoon.nn.StateDict"

--- tostring(sd): one line per entry, its name, shape and dtype, in the state_dict's order.
function StateDict.__tostring (sd)
  local keys = StateDict.keys(sd)
  local lines = { ("state_dict with %d %s"):format(#keys, #keys == 1 and "entry" or "entries") }
  local w = 0
  for _, k in ipairs(keys) do w = math.max(w, #tostring(k)) end
  for _, k in ipairs(keys) do
    local v = rawget(sd, k)
    local desc
    if is_tensor(v) then
      desc = v:is_released() and "<released>"
             or ("%s %s"):format(format.shape_str(v:size()), v.dtype.name)
    else
      desc = tostring(v)
    end
    lines[#lines + 1] = ("  %-" .. w .. "s  %s"):format(tostring(k), desc)
  end
  return table.concat(lines, "\n")
end

--- A state_dict-like ordered table from a list of names and a name -> tensor map.
function M.state_dict_from (names, map)
  local sd = setmetatable({}, StateDict)
  for _, k in ipairs(names) do rawset(sd, k, map[k]) end
  sd_order[sd] = { table.unpack(names) }
  return sd
end
-- a state_dict's key order set anew (nn.utils.consume_prefix_in_state_dict_if_present)
function M._set_state_dict_order (sd, names) sd_order[sd] = { table.unpack(names) } end

-- (name, tensor) of everything state_dict holds, in PyTorch's order: each module's
-- parameters, then its persistent buffers, then its children's, recursively; a module that
-- holds itself (a cycle: path holds the modules being walked) is an error, not a walk
-- without end
local function state_entries (self, prefix, names, values, path)
  path = path or {}
  if path[self] then
    error(("state_dict: module '%s' (%s) holds itself"):format(prefix:sub(1, -2),
      class_name(self)), 0)
  end
  path[self] = true
  local params, bufs = rawget(self, "_parameters"), rawget(self, "_buffers")
  for _, k in ipairs(params.keys) do
    local v = params.map[k]
    if v ~= NONE then names[#names + 1] = prefix .. k; values[#values + 1] = v end
  end
  local np = rawget(self, "_non_persistent")
  for _, k in ipairs(bufs.keys) do
    local v = bufs.map[k]
    if v ~= NONE and not np[k] then
      names[#names + 1] = prefix .. k; values[#values + 1] = v
    end
  end
  local mods = rawget(self, "_modules")
  for _, k in ipairs(mods.keys) do
    state_entries(mods.map[k], prefix .. k .. ".", names, values, path)
  end
  path[self] = nil
  return names, values
end

local STATE_DICT_OPTIONS = { keep_vars = true, prefix = true }

--- The module's state: a table dotted name -> tensor (parameters and persistent buffers),
--- detached (sharing storage) unless {keep_vars = true}.  pairs(sd) and sd:keys() give
--- PyTorch's order; the names are PyTorch's state_dict keys.
function Module.state_dict (self, opts)
  local keep, prefix = false, ""
  if opts ~= nil then
    check.options("state_dict", opts, STATE_DICT_OPTIONS)
    keep = opts.keep_vars and true or false
    prefix = opts.prefix or ""
  end
  local names, values = state_entries(self, prefix, {}, {})
  local map = {}
  for i, k in ipairs(names) do map[k] = keep and values[i] or values[i]:detach() end
  return M.state_dict_from(names, map)
end

local function quoted_list (keys)
  local q = {}
  for i, k in ipairs(keys) do q[i] = '"' .. tostring(k) .. '"' end
  return table.concat(q, ", ")
end

local LOAD_OPTIONS = { strict = true }

--- Copy the tensors of sd into this module's parameters and buffers (under no_grad).
--- strict (default true; `{strict = false}` or a boolean) makes missing and unexpected keys
--- an error; a shape mismatch is always one.  Returns {missing_keys =, unexpected_keys =}.
function Module.load_state_dict (self, sd, opts)
  if sd == nil then
    -- what dm.load / nn.load give back when the file could not be read: nil, message
    local why = type(opts) == "string" and (" (" .. opts .. ")") or ""
    error(("load_state_dict: got nil instead of a state_dict: the load that produced it " ..
           "failed%s. Check the file's path and that it is a safetensors file written by " ..
           "dm.save / nn.save or torch's safetensors; dm.load returns nil and a message " ..
           "on failure, so write `local sd = assert(dm.load(path))`"):format(why), 2)
  end
  local strict = true
  if type(opts) == "boolean" then
    strict = opts
  elseif type(opts) == "table" then
    check.options("load_state_dict", opts, LOAD_OPTIONS)
    if opts.strict ~= nil then strict = opts.strict and true or false end
  elseif opts ~= nil then
    error(("load_state_dict: expected an options table, got %s"):format(type(opts)), 2)
  end
  if type(sd) ~= "table" then
    error(("load_state_dict: expected a state_dict table, got %s"):format(type(sd)), 2)
  end
  local names, values = state_entries(self, "", {}, {})
  local expected = {}
  local missing, unexpected, errors = {}, {}, {}
  local _ <close> = dm.no_grad()
  for i, k in ipairs(names) do
    expected[k] = true
    local src = sd[k]
    if src == nil then
      missing[#missing + 1] = k
    elseif not is_tensor(src) then
      errors[#errors + 1] = ('While copying the parameter named "%s", expected a Tensor ' ..
                             'from checkpoint but received %s'):format(k, type(src))
    else
      local dst = values[i]
      if not (dst:dim() == src:dim() and dst:numel() == src:numel() and
              format.shape_str(dst:size()) == format.shape_str(src:size())) then
        errors[#errors + 1] = ("size mismatch for %s: copying a param with shape %s from " ..
                               "checkpoint, the shape in current model is %s."):format(
          k, format.shape_str(src:size()), format.shape_str(dst:size()))
      else
        dst:copy_(src)
      end
    end
  end
  local sd_keys
  if getmetatable(sd) == StateDict then
    sd_keys = StateDict.keys(sd)
  else
    sd_keys = {}
    for k in pairs(sd) do sd_keys[#sd_keys + 1] = k end
    table.sort(sd_keys, function (a, b) return tostring(a) < tostring(b) end)
  end
  for _, k in ipairs(sd_keys) do
    if not expected[k] then unexpected[#unexpected + 1] = k end
  end
  if strict then
    if #unexpected > 0 then
      table.insert(errors, 1, "Unexpected key(s) in state_dict: " .. quoted_list(unexpected) .. ".")
    end
    if #missing > 0 then
      table.insert(errors, 1, "Missing key(s) in state_dict: " .. quoted_list(missing) .. ".")
    end
  end
  if #errors > 0 then
    error(("Error(s) in loading state_dict for %s:\n\t%s"):format(
      class_name(self), table.concat(errors, "\n\t")), 2)
  end
  return { missing_keys = missing, unexpected_keys = unexpected }
end

-- ---- printing ----------------------------------------------------------------------------

--- The class name (PyTorch's _get_name).
function Module._get_name (self)
  return class_name(self)
end

--- The layer's own settings for printing, e.g. "in_features=2, out_features=64, bias=True";
--- layers override it.
function Module.extra_repr ()
  return ""
end

local function add_indent (s, n)
  local pad = ("\n" .. (" "):rep(n))
  return (s:gsub("\n", pad))
end

--- PyTorch's repr: "Name(extra)" or "Name(\n  (child): ...\n)".
function Module.__tostring (self)
  local lines = {}
  local extra = self:extra_repr()
  local n_extra = 0
  if extra ~= nil and extra ~= "" then
    for line in (extra .. "\n"):gmatch("(.-)\n") do
      lines[#lines + 1] = line
      n_extra = n_extra + 1
    end
  end
  local mods = rawget(self, "_modules")
  for _, k in ipairs(mods.keys) do
    lines[#lines + 1] = "(" .. k .. "): " .. add_indent(tostring(mods.map[k]), 2)
  end
  local s = class_name(self) .. "("
  if #lines > 0 then
    if n_extra == 1 and #lines == 1 then
      s = s .. lines[1]
    else
      s = s .. "\n  " .. table.concat(lines, "\n  ") .. "\n"
    end
  end
  return s .. ")"
end

Module.__name = "Module"
setmetatable(Module, { __call = construct, __tostring = class_tostring })

-- ---- Parameter ---------------------------------------------------------------------------

local PARAMETER_OPTIONS = { requires_grad = true }

--- Mark a tensor as a parameter: it requires grad (unless requires_grad is false), prints
--- as "Parameter containing:", and a module registers it when it is assigned to a field.
--- A tensor produced by an op is detached first (a parameter is a leaf).  Returns it.
function M.Parameter (t, requires_grad)
  if not is_tensor(t) then
    error(("Parameter: expected a Tensor, got %s"):format(type(t)), 2)
  end
  if type(requires_grad) == "table" then
    check.options("Parameter", requires_grad, PARAMETER_OPTIONS)
    requires_grad = requires_grad.requires_grad
  end
  if requires_grad == nil then requires_grad = true end
  if not t.is_leaf then t = t:detach() end
  t.requires_grad = requires_grad and true or false
  dm._parameters[t] = true
  return t
end

M.list = list
M.NONE = NONE

return M
