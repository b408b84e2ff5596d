-- SPDX-License-Identifier: MIT -- Copyright (c) 2026 The deepmoon authors
--- deepmoon: deep learning for Lua 5.4 with a C core.
--
--   local dm = require "deepmoon"
--   local x = dm.randn(3, 4)
--   print(x:matmul(x:t()))
--
-- The C module deepmoon.core holds tensors, ops and autograd; this file adds what is easier
-- in Lua (printing, grad-mode helpers) and the submodules nn, optim, data, init.

local core = require "deepmoon.core"
local format = require "deepmoon.format"
local check = require "deepmoon.check"

local dm = {}
for k, v in pairs(core) do dm[k] = v end

local Tensor = core.Tensor
local meta = getmetatable(core.zeros(0))

dm.Tensor = Tensor
dm.format = format
dm.set_printoptions = format.set_printoptions
dm.get_printoptions = format.get_printoptions

--- Is x a deepmoon tensor (released or not)?  dm.is_tensor(x)
dm.is_tensor = check.is_tensor

-- PyTorch's repr: values, then requires_grad=True or grad_fn=<...>
local function suffixes (t)
  local grad_fn = t.grad_fn
  if grad_fn then return { "grad_fn=<" .. grad_fn .. ">" } end
  if t.requires_grad then return { "requires_grad=True" } end
  return nil
end

-- tensors that nn.Parameter marked; they print as "Parameter containing:" first
dm._parameters = setmetatable({}, { __mode = "k" })

--- The text PyTorch would print for this tensor; opts.prefix replaces "tensor(".
-- methods written in Lua check their receiver, as the C ones do
local function need_self (fname, t)
  if not check.is_tensor(t) then
    error(("%s: expected a Tensor, got %s"):format(fname, check.typename(t)), 3)
  end
end

function Tensor.tostring (t, opts)
  need_self("tostring", t)
  if opts ~= nil and type(opts) ~= "table" then
    error(("tostring: expected an options table, got %s"):format(type(opts)), 2)
  end
  if t:is_released() then return "tensor(<released>)" end
  if dm._parameters[t] and not (opts and opts.plain) then
    return "Parameter containing:\n" .. Tensor.tostring(t, { plain = true })
  end
  local sizes, n = t:size(), t:numel()
  local values
  local get
  if n <= format.get_printoptions().threshold then
    values = t:values()
    get = function (k) return values[k + 1] end
  else
    -- only the printed corners are fetched; strides turn a flat index into an element
    local dims = #sizes
    local idx = {}
    get = function (k)
      for d = dims, 1, -1 do
        idx[d] = k % sizes[d] + 1
        k = k // sizes[d]
      end
      return t:get(table.unpack(idx, 1, dims))
    end
  end
  return format.tensor_from_getter(sizes, get, {
    prefix = opts and opts.prefix, suffix = (opts and opts.suffix) or suffixes(t),
    dtype = t.dtype.name, default_dtype = core.get_default_dtype().name })
end

meta.__tostring = Tensor.tostring

-- t:type() and friends that scripts ported from PyTorch expect
function Tensor.numpy () error("numpy: deepmoon has no numpy; use t:totable()", 2) end
function Tensor.tolist (t) need_self("tolist", t); return t:totable() end
function Tensor.size_str (t) need_self("size_str", t); return format.shape_str(t:size()) end

-- The guard dm.no_grad() returns: closing it restores grad mode.  One never closed (Python's
-- `with torch.no_grad():` habit, written `dm.no_grad()`) would leave grad mode switched for
-- good; when it is collected it restores the mode and warns, naming the two right forms.
local guard_mt = {}
function guard_mt.__close (g)
  if not g.closed then g.closed = true; core.set_grad_enabled(g.prev) end
end
function guard_mt.__gc (g)
  if g.closed then return end
  g.closed = true
  core.set_grad_enabled(g.prev)
  dm._warn(("deepmoon: the guard of dm.%s() was never closed, so grad mode stayed changed "
            .. "until it was collected; write dm.%s(function () ... end) or "
            .. "local _ <close> = dm.%s()"):format(g.fn, g.fn, g.fn))
end
local function guard (fn, prev)
  return setmetatable({ prev = prev, fn = fn, closed = false }, guard_mt)
end
--- where the warning of a guard never closed goes (warn by default; tests capture it)
dm._warn = warn

-- set grad mode for the duration of fn, or until the returned value is closed
local function grad_mode (on, fn, ...)
  local mt = getmetatable(fn)
  if fn ~= nil and type(fn) ~= "function" and not (type(mt) == "table" and rawget(mt, "__call")) then
    error(("%s: expected a function or nothing, got %s"):format(on and "enable_grad" or "no_grad",
          check.typename(fn)), 3)
  end
  local prev = core.set_grad_enabled(on)
  if fn == nil then return guard(on and "enable_grad" or "no_grad", prev) end
  local res = table.pack(pcall(fn, ...))
  core.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- Run fn with gradient recording off, or, called with no function, turn it off until the
--- returned value is closed: `local _ <close> = dm.no_grad()`.
function dm.no_grad (fn, ...) return grad_mode(false, fn, ...) end

--- The opposite of no_grad, same two forms.
function dm.enable_grad (fn, ...) return grad_mode(true, fn, ...) end

-- PyTorch's other names (dm.clip, dm.multiply, ...; deepmoon.aliases): found here rather
-- than stored in dm, so that Lua's argument errors, which name a C function by the first
-- field of a loaded module holding it, keep naming the original (dm.atan, not dm.arctan)
local ALIASES = require("deepmoon.aliases").ALIASES

-- submodules load on first use so `require "deepmoon"` stays cheap
local submodules = { nn = "deepmoon.nn", optim = "deepmoon.optim", data = "deepmoon.data",
                     init = "deepmoon.nn.init", plot = "deepmoon.plot",
                     progress = "deepmoon.progress" }
-- dm.distributed: data-parallel training over MPI (deepmoon.distributed)
submodules.distributed = "deepmoon.distributed"
setmetatable(dm, {
  __index = function (t, k)
    local name = submodules[k]
    if name then
      local m = require(name)
      rawset(t, k, m)
      return m
    end
    local orig = ALIASES[k]
    if orig ~= nil then
      local f = rawget(t, orig)
      if f ~= nil then return f end
    end
    -- a name deepmoon lacks is an error, not a nil that fails later (probe with rawget)
    if type(k) == "string" then error("deepmoon has no dm." .. k, 2) end
    return nil
  end
})

-- ---- PyTorch's other names (dm.clip, t:multiply, ...): deepmoon.aliases --------------
require("deepmoon.aliases").install(dm)

-- ---- autograd (deepmoon.autograd): loaded now, since it adds t:register_hook ---------
dm.autograd = require "deepmoon.autograd"

-- ---- files (deepmoon.io) -------------------------------------------------------------
local dmio = require "deepmoon.io"
dm.io = dmio
dm.save, dm.load = dmio.save, dmio.load
dm.save_npy, dm.load_npy = dmio.save_npy, dmio.load_npy

-- ---- PyTorch 1.13 shape and product utilities (hstack, rot90, kron, ...): deepmoon.shape_extra
require("deepmoon.shape_extra").install(dm)
-- ---- NaN-aware reductions and comparisons (dm.nansum, t:isclose, ...): deepmoon.reduce_extra
require("deepmoon.reduce_extra").install(dm)
-- ---- PyTorch's indexing and inspection utilities in Lua (deepmoon.index_extra) -------
require("deepmoon.index_extra").install(dm)

return dm
