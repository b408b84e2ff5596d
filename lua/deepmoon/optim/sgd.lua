--- deepmoon.optim.sgd: stochastic gradient descent, PyTorch 1.13's torch.optim.SGD.
--
--   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
--   opt:zero_grad(); loss:backward(); opt:step()
--
-- Per parameter with a gradient g (PyTorch's rule, run by core.sgd_step in one pass):
--   g = maximize and -g or g;  g = g + weight_decay * p
--   momentum ~= 0:  buf = g on the first step, else momentum * buf + (1 - dampening) * g;
--                   g = nesterov and g + momentum * buf or buf
--   p = p - lr * g
-- State per parameter: momentum_buffer (only when momentum ~= 0).

local core = require "deepmoon.core"
local Optimizer = require "deepmoon.optim.optimizer"

local sgd_step, sgd_steps = core.sgd_step, core._sgd_steps
local has_grad = core.has_grad
local zeros_like = core.zeros_like
local fail = Optimizer._fail
local built = Optimizer._built

-- the values of a group whose types are checked (spec.types)
local function validate (name, g, where)
  local lr, momentum, dampening = g.lr, g.momentum, g.dampening
  local wd, nesterov = g.weight_decay, g.nesterov
  if lr < 0 then fail("%s: invalid learning rate: %s%s", name, lr, where) end
  if momentum < 0 then fail("%s: invalid momentum value: %s%s", name, momentum, where) end
  if wd < 0 then fail("%s: invalid weight_decay value: %s%s", name, wd, where) end
  if nesterov and (momentum <= 0 or dampening ~= 0) then
    fail("%s: nesterov momentum requires a momentum and zero dampening%s", name, where)
  end
end

--- optim.SGD(params [, lr, momentum, dampening, weight_decay, nesterov] | [, {lr =,
--- momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false}]):
--- stochastic gradient descent; lr is required.  params: a list of tensors (model:parameters())
--- or of parameter groups ({params = {...}, lr = ...}).
---   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9})
local SGD = Optimizer.class {
  name = "SGD",
  positional = { "lr", "momentum", "dampening", "weight_decay", "nesterov" },
  defaults = { lr = Optimizer.required, momentum = 0, dampening = 0, weight_decay = 0,
               nesterov = false, maximize = false },
  types = { lr = "number", momentum = "number", dampening = "number", weight_decay = "number",
            nesterov = "boolean", maximize = "boolean" },
  validate = validate,
}

--- One update of every parameter that has a gradient; parameters whose grad is nil are
--- skipped.  closure (optional) re-evaluates the model and returns the loss, which step
--- returns.
function SGD.step (self, closure)
  if not built[self] then Optimizer._need_self(self, "step") end
  if not self._bufs then self._bufs = setmetatable({}, { __mode = "k" }) end
  local loss
  if closure ~= nil then loss = Optimizer._closure(closure) end
  local state = self.state
  local groups = self.param_groups
  for gi = 1, #groups do
    local group = groups[gi]
    local params = group.params
    local lr, momentum, dampening = group.lr, group.momentum, group.dampening
    local wd, nesterov, maximize = group.weight_decay, group.nesterov, group.maximize
    -- the kernel reads p's own .grad (nil grad argument): no Lua box per gradient; in the
    -- steady state (no momentum, or every buffer made) the whole group is one C call
    local bufs, all = nil, true
    if momentum ~= 0 then
      bufs = self._bufs[group]
      if not bufs then bufs = {}; self._bufs[group] = bufs end
      for i = 1, #params do
        local st = state[params[i]]
        local b = st and st.momentum_buffer
        -- the parameter changed dtype (model:double()): its buffer follows
        if b and b.dtype ~= params[i].dtype then b = b:to(params[i].dtype); st.momentum_buffer = b end
        bufs[i] = b
        if not b then all = false end
      end
      for i = #params + 1, #bufs do bufs[i] = nil end
    end
    if all then
      sgd_steps(params, bufs, lr, momentum, dampening, wd, nesterov, maximize)
      goto next_group
    end
    for i = 1, #params do
      local p = params[i]
      if momentum ~= 0 then
        local st = state[p]
        local buf = st and st.momentum_buffer
        if buf then
          sgd_step(p, nil, buf, lr, momentum, dampening, wd, nesterov, maximize, false)
        elseif has_grad(p) then
          buf = zeros_like(p)
          if st then st.momentum_buffer = buf else state[p] = { momentum_buffer = buf } end
          sgd_step(p, nil, buf, lr, momentum, dampening, wd, nesterov, maximize, true)
        end
      else
        sgd_step(p, nil, nil, lr, 0, dampening, wd, nesterov, maximize, false)
      end
    end
    ::next_group::
  end
  return loss
end

return SGD
