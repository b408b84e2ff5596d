--- deepmoon.autograd (also dm.autograd): PyTorch's torch.autograd utilities.
--
--   local h = w:register_hook(function (g) return g * 2 end)   -- w's gradients count double
--   h:remove()
--
--   local Clamp = dm.autograd.Function:extend("Clamp")         -- a custom op
--   function Clamp.forward (ctx, x, lo, hi) return x:clamp(lo, hi) end
--   function Clamp.backward (ctx, g) return g, nil, nil end    -- straight through
--   local y = Clamp.apply(x, 0, 1)
--
--   local gx, gw = table.unpack(dm.autograd.grad(loss, { x, w }))   -- .grad left alone
--   dm.autograd.gradcheck(f, { x64 })                                -- float64 inputs
--
-- Hooks and a Function's backward run inside the C engine's walk (core's tensor hooks and
-- custom nodes), with grad mode off; an error there stops backward and is raised with its
-- message.  Positions (inputs, outputs, entries) are 1-based.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local format = require "deepmoon.format"

local Tensor = core.Tensor
local is_tensor, typename = check.is_tensor, check.typename

local M = {}

local function shape_str (t) return format.shape_str(t:size()) end

local function same_shape (a, b)
  if a:dim() ~= b:dim() then return false end
  local sa, sb = a:size(), b:size()
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return true
end

-- run fn(...) with grad mode on or off, restoring it even when fn raises
local function with_grad (on, fn, ...)
  local prev = core.set_grad_enabled(on)
  local res = table.pack(pcall(fn, ...))
  core.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- ---- tensor hooks ------------------------------------------------------------------------

local Handle = {}
Handle.__index = Handle
Handle.__name = "deepmoon.autograd.RemovableHandle"

--- Remove the hook (a second call does nothing, as PyTorch).
function Handle:remove ()
  local t, id = self._tensor, self._id
  if t ~= nil then
    self._tensor = nil
    if not t:is_released() then core._remove_hook(t, id) end
  end
end

--- t:register_hook(fn): fn(grad) runs when t's gradient of a backward pass is complete (on a
--- leaf before it is added to .grad, on a non-leaf before its grad_fn runs and before
--- retain_grad keeps it); it may return a replacement gradient of t's shape and dtype, or
--- nil to keep it.  Several hooks run in the order registered, each on the one before's
--- result.  Returns a handle whose :remove() takes the hook off.
function Tensor.register_hook (t, fn)
  if not is_tensor(t) then
    error(("register_hook: expected a Tensor, got %s"):format(typename(t)), 2)
  end
  if type(fn) ~= "function" then
    local mt = getmetatable(fn)
    if not (type(mt) == "table" and mt.__call) then
      error(("register_hook: hook must be a function, got %s"):format(typename(fn)), 2)
    end
    local callable = fn
    fn = function (g) return callable(g) end
  end
  local ok, id = pcall(core._add_hook, t, fn)
  if not ok then error(id, 2) end
  return setmetatable({ _tensor = t, _id = id, id = id }, Handle)
end

--- dm.autograd.RemovableHandle: what t:register_hook and the modules' register_*_hook
--- return; h:remove() takes the hook off again.
M.RemovableHandle = Handle

-- PyTorch 1.13's retain_grad on a non-leaf is a hook among the others: it keeps the
-- gradient as the hooks registered before it left it, not those registered after.  The
-- core keeps a retained gradient after all hooks, so a non-leaf's retain_grad is a hook
-- here.  It holds its tensor weakly: a hook holding the tensor it is on would keep it (and
-- its graph) alive.
local core_retain_grad = Tensor.retain_grad
local retaining = setmetatable({}, { __mode = "k" })

--- t:retain_grad(): a non-leaf keeps its gradient in t.grad after backward (summed over
--- backward passes), as the hooks registered before this call leave it.
function Tensor.retain_grad (t)
  if not is_tensor(t) then
    error(("retain_grad: expected a Tensor, got %s"):format(typename(t)), 2)
  end
  if t:is_released() or t.is_leaf or not t.requires_grad then
    local ok, err = pcall(core_retain_grad, t)
    if not ok then error(err, 2) end
    return
  end
  if retaining[t] then return end
  retaining[t] = true
  local ref = setmetatable({ t }, { __mode = "v" })
  core._add_hook(t, function (g)
    local x = ref[1]
    if x == nil or x:is_released() then return nil end
    local old = x.grad
    if old ~= nil then x.grad = old + g else x.grad = g:clone() end
    return nil
  end)
end

--- t.retains_grad as PyTorch: true after retain_grad on a non-leaf.
function M.retains_grad (t) return retaining[t] == true end

-- ---- Function ----------------------------------------------------------------------------

local Ctx = {}
Ctx.__name = "deepmoon.autograd.FunctionCtx"

--- ctx:save_for_backward(t1, t2, ...): tensors (or nil) that backward reads back as
--- ctx.saved_tensors, in that order.
function Ctx:save_for_backward (...)
  local n = select("#", ...)
  local saved = { n = n }
  for i = 1, n do
    local v = select(i, ...)
    if v ~= nil and not is_tensor(v) then
      error(("save_for_backward can only save tensors, but argument %d is a %s"):format(
        i, typename(v)), 2)
    end
    saved[i] = v
  end
  rawset(self, "_saved", saved)
end

--- ctx:mark_non_differentiable(t, ...): outputs of forward that get no gradient (indices,
--- masks); they come out not requiring grad, and backward gets zeros for them.
function Ctx:mark_non_differentiable (...)
  local nd = rawget(self, "_non_diff")
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if not is_tensor(v) then
      error(("mark_non_differentiable: argument %d is a %s, expected a Tensor"):format(
        i, typename(v)), 2)
    end
    nd[v] = true
  end
end

--- ctx:set_materialize_grads(false): accepted for PyTorch scripts; undefined output
--- gradients are always given as zeros here.
function Ctx:set_materialize_grads () end

function Ctx.__index (self, k)
  if k == "saved_tensors" then
    local s = rawget(self, "_saved")
    if s == false then
      error("Trying to backward through the graph a second time (or directly access saved " ..
            "tensors after they have already been freed). Saved intermediate values of the " ..
            "graph are freed when you call .backward() or autograd.grad(). Specify " ..
            "retain_graph=True if you need to backward through the graph a second time or " ..
            "if you need to access saved tensors after calling backward.", 2)
    end
    local out = {}
    if s then for i = 1, s.n do out[i] = s[i] end end
    return out
  end
  return Ctx[k]
end

--- dm.autograd.Function: the base class of custom ops with a backward written in Lua
--- (PyTorch's torch.autograd.Function).  Make one with Function:extend("Name"), define
--- Name.forward(ctx, ...) and Name.backward(ctx, grad_out, ...), call Name.apply(...).
---   local Square = dm.autograd.Function:extend("Square")
---   function Square.forward (ctx, x) ctx:save_for_backward(x); return x * x end
---   function Square.backward (ctx, g) local x = ctx.saved_tensors[1]; return g * 2 * x end
---   local y = Square.apply(dm.randn(3, {requires_grad = true}))
local Function = {}
Function.__name = "Function"
M.Function = Function

local function fn_name (cls) return rawget(cls, "__name") or "Function" end

local apply

--- Define a custom op: `local MyFn = dm.autograd.Function:extend("MyFn")`, then
--- `function MyFn.forward (ctx, ...)` (runs with grad mode off; returns one or more values)
--- and `function MyFn.backward (ctx, grad_out1, ...)` (one gradient, or nil, per argument of
--- forward, in order; nil for arguments that are not tensors).  Call it with MyFn.apply(...).
function Function.extend (cls, name)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    error(("Function:extend: expected a class name (an identifier), got %s"):format(
      type(name) == "string" and ("'" .. name .. "'") or typename(name)), 2)
  end
  local sub = setmetatable({ __name = name, super = cls }, {
    __index = cls,
    __tostring = function () return "class " .. name end,
    __call = function ()
      error(("%s: a Function is not instantiated; call %s.apply(...)"):format(name, name), 2)
    end,
  })
  sub.apply = function (...)
    if select("#", ...) > 0 and (select(1, ...)) == sub then return apply(sub, select(2, ...)) end
    return apply(sub, ...)
  end
  return sub
end

--- forward(ctx, ...): a subclass defines it; it runs with grad mode off and returns one or
--- more values (tensors among them get the custom node as grad_fn).
function Function.forward ()
  error("Function.forward: define forward(ctx, ...) in the subclass", 2)
end

--- backward(ctx, grad_out1, ...): a subclass defines it; one gradient (or nil) per
--- argument of forward, in order.
function Function.backward ()
  error("Function.backward: define backward(ctx, grad...) in the subclass", 2)
end

--- Name.apply(...): run the op (forward, and record the node for backward); called on a
--- subclass made with Function:extend.
Function.apply = function ()
  error("Function.apply: call apply on a subclass made with Function:extend(\"Name\")", 2)
end

-- the backward closure of one application: the engine gives the gradient of the recorded
-- output (the packed one for several outputs); backward gets one gradient per value forward
-- returned (zeros for a tensor output without gradient, nil for a value not a tensor, as
-- PyTorch); this returns one gradient per tensor input.  nd: position -> {shape, dtype} of
-- the tensor outputs without gradient; nres: how many values forward returned.
local function make_backward (cls, ctx, args, tpos, outs, nd, nres)
  local name = fn_name(cls)
  return function (g)
    local grads = {}
    if #outs == 1 and not outs[1].packed then
      grads[outs[1].pos] = g
    else
      for _, o in ipairs(outs) do
        grads[o.pos] = g:narrow(1, o.offset + 1, o.numel):reshape(o.shape)
      end
    end
    for pos, z in pairs(nd) do grads[pos] = core.zeros(z.shape, { dtype = z.dtype }) end
    local res = table.pack(cls.backward(ctx, table.unpack(grads, 1, nres)))
    -- one per argument of forward: trailing nils may be left out in Lua
    local n = res.n
    while n > args.n and res[n] == nil do n = n - 1 end
    if n > args.n then
      error(("function %sBackward returned an incorrect number of gradients (expected %d, " ..
             "got %d)"):format(name, args.n, n), 0)
    end
    local out = {}
    for i = 1, args.n do
      local gi = res[i]
      if tpos[i] then
        local x = args[i]
        if gi ~= nil then
          if not is_tensor(gi) then
            error(("function %sBackward returned a %s as the gradient of input %d; expected " ..
                   "a Tensor or nil"):format(name, typename(gi), i), 0)
          end
          if not same_shape(gi, x) then
            error(("Function %sBackward returned an invalid gradient at index %d - got %s " ..
                   "but expected shape compatible with %s"):format(name, i, shape_str(gi),
                   shape_str(x)), 0)
          end
        elseif i > n and x.requires_grad then
          error(("function %sBackward returned an incorrect number of gradients (expected " ..
                 "%d, got %d)"):format(name, args.n, n), 0)
        end
        out[#out + 1] = gi
      elseif gi ~= nil then
        error(("function %sBackward returned a gradient different than nil at position %d, " ..
               "but the corresponding forward input was not a Tensor"):format(name, i), 0)
      end
    end
    -- holes would end the list early for the C side: it reads positions 1..#inputs
    local list = {}
    local k = 0
    for i = 1, args.n do
      if tpos[i] then k = k + 1; list[k] = out[k] or false end
    end
    return list
  end
end

apply = function (cls, ...)
  local name = fn_name(cls)
  local args = table.pack(...)
  local ctx = setmetatable({ _non_diff = {}, needs_input_grad = {} }, Ctx)
  local grad_on = core.is_grad_enabled()
  local tpos, tin, any = {}, {}, false
  for i = 1, args.n do
    local v = args[i]
    if is_tensor(v) then
      tpos[i] = true
      tin[#tin + 1] = v
      local need = grad_on and v.requires_grad
      ctx.needs_input_grad[i] = need
      any = any or need
    else
      ctx.needs_input_grad[i] = false
    end
  end
  local res = table.pack(with_grad(false, cls.forward, ctx, ...))
  if not any then
    rawset(ctx, "_saved", nil)
    return table.unpack(res, 1, res.n)
  end
  -- the differentiable outputs: tensors not marked otherwise
  local marked = rawget(ctx, "_non_diff")
  local outs, nd = {}, {}
  for i = 1, res.n do
    local v = res[i]
    if is_tensor(v) then
      -- integer outputs (indices, counts) cannot carry gradients: left out, as PyTorch
      if marked[v] or not v:is_floating_point() then
        nd[i] = { shape = v:size(), dtype = v.dtype }
        if v.requires_grad then res[i] = v:detach() end
      else
        outs[#outs + 1] = { pos = i, t = v, shape = v:size(), numel = v:numel() }
      end
    end
  end
  if #outs == 0 then return table.unpack(res, 1, res.n) end
  rawset(ctx, "_non_diff", nil)
  local bw = make_backward(cls, ctx, args, tpos, outs, nd, res.n)
  -- the closure keeps shapes only: an output held there would hold its own node (through
  -- the registry reference to the closure) and never be collected
  local ts = {}
  for i, o in ipairs(outs) do ts[i] = o.t; o.t = nil end
  if #outs == 1 then
    res[outs[1].pos] = core._record_custom(ts[1], tin, bw, name .. "Backward")
  else
    -- several outputs: one node records them packed end to end, each output a view of it
    local dt = ts[1].dtype
    local flat, off = {}, 0
    for i, o in ipairs(outs) do
      if ts[i].dtype ~= dt then
        error(("%s.forward: differentiable outputs of different dtypes (%s and %s) are not " ..
               "supported"):format(name, dt.name, ts[i].dtype.name), 2)
      end
      o.packed, o.offset = true, off
      off = off + o.numel
      flat[i] = ts[i]:reshape(-1)
    end
    local packed = with_grad(false, core.cat, flat)
    packed = core._record_custom(packed, tin, bw, name .. "Backward")
    for _, o in ipairs(outs) do
      res[o.pos] = packed:narrow(1, o.offset + 1, o.numel):reshape(o.shape)
    end
  end
  return table.unpack(res, 1, res.n)
end

-- ---- grad --------------------------------------------------------------------------------

local function as_list (v)
  if is_tensor(v) then return { v }, 1 end
  return v, #v
end

local GRAD_OPTIONS = { grad_outputs = true, retain_graph = true, create_graph = true,
                       allow_unused = true, only_inputs = true, is_grads_batched = true }

--- dm.autograd.grad(outputs, inputs [, {grad_outputs =, retain_graph =, allow_unused =}]):
--- the gradients of the outputs (a tensor or a list; several are summed, each weighted by
--- its grad_output) with respect to each input, as a list in the order of inputs; no .grad
--- is touched.  grad_outputs may be left out (or nil in places) for outputs of one element.
--- An input no gradient reaches is an error unless allow_unused, when its entry is nil.
function M.grad (outputs, inputs, opts)
  opts = check.options("autograd.grad", opts, GRAD_OPTIONS, 1)
  if opts.create_graph then
    error("autograd.grad: create_graph = true is not supported yet (gradients are computed " ..
          "without recording a graph, so higher-order derivatives are not available)", 2)
  end
  if opts.is_grads_batched then
    error("autograd.grad: is_grads_batched = true is not supported", 2)
  end
  if not is_tensor(outputs) and type(outputs) ~= "table" then
    error(("autograd.grad: outputs must be a Tensor or a list of them, got %s"):format(
      typename(outputs)), 2)
  end
  if not is_tensor(inputs) and type(inputs) ~= "table" then
    error(("autograd.grad: inputs must be a Tensor or a list of them, got %s"):format(
      typename(inputs)), 2)
  end
  local outs, nout = as_list(outputs)
  local ins, nin = as_list(inputs)
  if nout == 0 then error("autograd.grad: outputs is empty", 2) end
  if nin == 0 then error("autograd.grad: inputs is empty", 2) end
  for i = 1, nout do
    if not is_tensor(outs[i]) then
      error(("autograd.grad: outputs[%d] is a %s, expected a Tensor"):format(i,
        typename(outs[i])), 2)
    end
    if not outs[i].requires_grad then
      error(("autograd.grad: element %d of tensors does not require grad and does not " ..
             "have a grad_fn"):format(i), 2)
    end
  end
  for i = 1, nin do
    if not is_tensor(ins[i]) then
      error(("autograd.grad: inputs[%d] is a %s, expected a Tensor"):format(i,
        typename(ins[i])), 2)
    end
    if not ins[i].requires_grad then
      error(("autograd.grad: One of the differentiated Tensors (inputs[%d]) does not " ..
             "require grad"):format(i), 2)
    end
  end
  local gos = {}
  if opts.grad_outputs ~= nil then
    local g = opts.grad_outputs
    if is_tensor(g) then gos = { g }
    elseif type(g) == "table" then gos = g
    else
      error(("autograd.grad: grad_outputs must be a Tensor or a list, got %s"):format(
        typename(g)), 2)
    end
  end
  for i = 1, nout do
    local g = gos[i]
    if g == nil then
      if outs[i]:numel() ~= 1 then
        error(("autograd.grad: grad can be implicitly created only for scalar outputs " ..
               "(outputs[%d] is %s)"):format(i, shape_str(outs[i])), 2)
      end
    elseif not is_tensor(g) then
      error(("autograd.grad: grad_outputs[%d] is a %s, expected a Tensor or nil"):format(
        i, typename(g)), 2)
    elseif not same_shape(g, outs[i]) then
      error(("autograd.grad: Mismatch in shape: grad_output[%d] has a shape of %s and " ..
             "output[%d] has a shape of %s."):format(i, shape_str(g), i,
             shape_str(outs[i])), 2)
    end
  end
  local root, seed = outs[1], gos[1]
  if nout > 1 then
    -- one walk from sum_i <outputs[i], grad_outputs[i]>: each output gets its grad_output
    root = with_grad(true, function ()
      local s
      for i = 1, nout do
        local term = gos[i] and (outs[i] * gos[i]):sum() or outs[i]:sum()
        s = s and s + term or term
      end
      return s
    end)
    seed = nil
  end
  local ok, res = pcall(core._autograd_grad, root, seed, opts.retain_graph and true or false,
                        ins)
  if not ok then error(res, 2) end
  if not opts.allow_unused then
    for i = 1, nin do
      if res[i] == nil then
        error(("autograd.grad: One of the differentiated Tensors (inputs[%d]) appears to " ..
               "not have been used in the graph. Set allow_unused=True if this is the " ..
               "desired behavior."):format(i), 2)
      end
    end
  end
  return res
end

-- ---- gradcheck ---------------------------------------------------------------------------

local GRADCHECK_OPTIONS = { eps = "number", atol = "number", rtol = "number",
                            raise_exception = "boolean", check_undefined_grad = "boolean",
                            nondet_tol = "number", fast_mode = "boolean",
                            check_grad_dtypes = "boolean", check_batched_grad = "boolean",
                            before = "callable", allow_float32 = "boolean" }

-- positions of the element k (1-based, row-major) of a tensor of these sizes
local function unflatten (sizes, k)
  local idx = {}
  k = k - 1
  for d = #sizes, 1, -1 do
    idx[d] = k % sizes[d] + 1
    k = k // sizes[d]
  end
  return idx
end

local function entry_str (sizes, k)
  if #sizes == 0 then return "[]" end
  return "[" .. table.concat(unflatten(sizes, k), ", ") .. "]"
end

--- dm.autograd.gradcheck(fn, inputs [, opts]) -> true: compares the Jacobian autograd
--- gives for fn(table.unpack(inputs)) (one or several tensor outputs) with central
--- differences, for every input that requires grad; an entry passes when
--- |analytical - numerical| <= atol + rtol * |numerical|.  As PyTorch, inputs requiring
--- grad must be float64.  Options: eps (1e-6), atol (1e-5), rtol (1e-3), raise_exception
--- (true: a mismatch raises, naming output, input and entry; false: returns false and the
--- message); deepmoon's own: before (called before every evaluation of fn, e.g. to reseed
--- a generator) and allow_float32 (for the float32 checks of the test suite, with looser
--- tolerances).  The inputs are perturbed in place and put back.
function M.gradcheck (fn, inputs, opts)
  opts = check.options("gradcheck", opts, GRADCHECK_OPTIONS, 1)
  check.arg("gradcheck", "fn", fn, "callable", nil, 1)
  if is_tensor(inputs) then inputs = { inputs } end
  if type(inputs) ~= "table" then
    error(("gradcheck: inputs must be a Tensor or a list, got %s"):format(typename(inputs)), 2)
  end
  local eps, atol, rtol = opts.eps or 1e-6, opts.atol or 1e-5, opts.rtol or 1e-3
  local raise = opts.raise_exception ~= false
  local before = opts.before or function () end
  local n_in = #inputs
  local wrt = {}
  for i = 1, n_in do
    local x = inputs[i]
    if is_tensor(x) and x.requires_grad then
      if x.dtype ~= core.float64 and not opts.allow_float32 then
        error(("gradcheck: Input #%d requires gradient and is not a double precision " ..
               "floating point or complex. This check will likely fail if all the inputs " ..
               "are not of double precision floating point or complex."):format(i), 2)
      end
      if not x.is_leaf then
        error(("gradcheck: input %d requires grad but is not a leaf; pass leaves (detach " ..
               "and set requires_grad)"):format(i), 2)
      end
      wrt[#wrt + 1] = i
    end
  end
  if #wrt == 0 then
    error("gradcheck: at least one input tensor should require gradient", 2)
  end

  local function outputs_of (res)
    local list = {}
    for i = 1, res.n do
      if is_tensor(res[i]) then list[#list + 1] = { pos = i, t = res[i] } end
    end
    return list
  end
  -- the values at once: an output may alias an input, which is perturbed next
  local function evaluate ()
    before()
    local os = outputs_of(table.pack(with_grad(false, fn, table.unpack(inputs, 1, n_in))))
    for k, o in ipairs(os) do os[k] = o.t:to(core.float64):reshape(-1):totable() end
    return os
  end

  -- analytical: one vector-Jacobian product per output element
  before()
  local outs = outputs_of(table.pack(with_grad(true, fn, table.unpack(inputs, 1, n_in))))
  if #outs == 0 then error("gradcheck: fn returned no tensor", 2) end
  local ana = {}                       -- ana[o][j][e][k]: d out_o[e] / d input_wrt[j][k]
  for oi, o in ipairs(outs) do
    ana[oi] = {}
    for j = 1, #wrt do ana[oi][j] = {} end
    local t = o.t
    local ne = t:numel()
    for e = 1, ne do
      local rows
      if t.requires_grad then
        local go = core.zeros_like(t)
        if t:dim() == 0 then go:fill_(1)
        else
          local at = unflatten(t:size(), e)
          at[#at + 1] = 1
          go:set(table.unpack(at))
        end
        local wx = {}
        for j, i in ipairs(wrt) do wx[j] = inputs[i] end
        rows = M.grad(t, wx, { grad_outputs = go, retain_graph = true, allow_unused = true })
      else
        rows = {}
      end
      for j = 1, #wrt do
        local g = rows[j]
        ana[oi][j][e] = g and g:to(core.float64):reshape(-1):totable() or false
      end
    end
  end

  -- numerical: central differences, perturbing each input element in place
  local num = {}
  for oi = 1, #outs do
    num[oi] = {}
    for j = 1, #wrt do num[oi][j] = {} end
  end
  for j, i in ipairs(wrt) do
    local x = inputs[i]
    local sizes = x:size()
    for k = 1, x:numel() do
      local idx = unflatten(sizes, k)
      local orig = x:get(table.unpack(idx))
      local function put (v)
        local a = { table.unpack(idx) }
        a[#a + 1] = v
        with_grad(false, x.set, x, table.unpack(a))
        return x:get(table.unpack(idx))
      end
      local hi = put(orig + eps)
      local fp = evaluate()
      local lo = put(orig - eps)
      local fm = evaluate()
      put(orig)
      for oi = 1, #outs do
        local vp, vm = fp[oi], fm[oi]
        local col = num[oi][j]
        for e = 1, #vp do
          col[e] = col[e] or {}
          col[e][k] = (vp[e] - vm[e]) / (hi - lo)
        end
      end
    end
  end

  -- compare
  for oi, o in ipairs(outs) do
    for j, i in ipairs(wrt) do
      local x = inputs[i]
      for e = 1, o.t:numel() do
        local arow = ana[oi][j][e]
        for k = 1, x:numel() do
          local a = arow and arow[k] or 0
          local nv = num[oi][j][e][k]
          if not (math.abs(a - nv) <= atol + rtol * math.abs(nv)) then
            local msg = ("gradcheck: Jacobian mismatch for output %d with respect to input " ..
                         "%d, at output entry %s and input entry %s: numerical %.10g, " ..
                         "analytical %.10g"):format(o.pos, i, entry_str(o.t:size(), e),
                         entry_str(x:size(), k), nv, a)
            if raise then error(msg, 2) end
            return false, msg
          end
        end
      end
    end
  end
  return true
end

return M
