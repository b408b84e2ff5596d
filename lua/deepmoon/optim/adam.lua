--- deepmoon.optim.adam: Adam and AdamW, PyTorch 1.13's torch.optim.Adam / torch.optim.AdamW.
--
--   local opt = optim.Adam(model:parameters(), {lr = 1e-3})
--   local opt = optim.AdamW(model:parameters(), {lr = 1e-3, weight_decay = 1e-2})
--
-- Per parameter with a gradient g, at step t (counted per parameter from 1), as PyTorch
-- (run by core.adam_step in one pass):
--   g = maximize and -g or g
--   Adam:  g = g + weight_decay * p          AdamW:  p = p * (1 - lr * weight_decay)
--   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;  amsgrad: vmax = max(vmax, v)
--   p = p - lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
-- State per parameter: step (a number; PyTorch keeps a 0-dim tensor), exp_avg, exp_avg_sq,
-- and max_exp_avg_sq with amsgrad.

local core = require "deepmoon.core"
local check = require "deepmoon.check"
local Optimizer = require "deepmoon.optim.optimizer"

local adam_step = core.adam_step
local has_grad = core.has_grad
local zeros_like = core.zeros_like
local fail = Optimizer._fail
local built = Optimizer._built

-- the values of a group whose types are checked (TYPES), but for betas
local function validate (name, g, where)
  local lr, eps, wd = g.lr, g.eps, g.weight_decay
  local betas = g.betas
  if type(betas) ~= "table" or type(betas[1]) ~= "number" or type(betas[2]) ~= "number"
     or betas[3] ~= nil then
    local got = type(betas) == "table" and Optimizer._show(betas) or check.typename(betas)
    fail("%s: option 'betas' must be a table of two numbers {beta1, beta2}, got %s%s",
         name, got, where)
  end
  if lr < 0 then fail("%s: invalid learning rate: %s%s", name, lr, where) end
  if eps < 0 then fail("%s: invalid epsilon value: %s%s", name, eps, where) end
  if not (betas[1] >= 0 and betas[1] < 1) then
    fail("%s: invalid beta parameter at index 1: %s%s", name, betas[1], where)
  end
  if not (betas[2] >= 0 and betas[2] < 1) then
    fail("%s: invalid beta parameter at index 2: %s%s", name, betas[2], where)
  end
  if wd < 0 then fail("%s: invalid weight_decay value: %s%s", name, wd, where) end
end

local function step (self, closure, decoupled)
  local loss
  if closure ~= nil then loss = Optimizer._closure(closure) end
  local state = self.state
  local groups = self.param_groups
  for gi = 1, #groups do
    local group = groups[gi]
    local params = group.params
    local lr, eps, wd = group.lr, group.eps, group.weight_decay
    local betas = group.betas
    local beta1, beta2 = betas[1], betas[2]
    local amsgrad, maximize = group.amsgrad, group.maximize
    for i = 1, #params do
      local p = params[i]
      if has_grad(p) then
        local st = state[p]
        if not st or st.exp_avg == nil then
          st = { step = 0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p) }
          state[p] = st
        elseif st.exp_avg.dtype ~= p.dtype then
          -- the parameter changed dtype (model:double()): its state follows
          for _, k in ipairs({ "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }) do
            if st[k] then st[k] = st[k]:to(p.dtype) end
          end
        end
        local vmax = nil
        if amsgrad then
          vmax = st.max_exp_avg_sq
          if not vmax then vmax = zeros_like(p); st.max_exp_avg_sq = vmax end
        end
        local t = st.step + 1
        st.step = t
        adam_step(p, nil, st.exp_avg, st.exp_avg_sq, vmax, t, lr, beta1, beta2, eps, wd,
                  decoupled, maximize)
      end
    end
  end
  return loss
end

local positional = { "lr", "betas", "eps", "weight_decay", "amsgrad" }
local TYPES = { lr = "number", eps = "number", weight_decay = "number", amsgrad = "boolean",
                maximize = "boolean" }

--- optim.Adam(params [, lr, betas, eps, weight_decay, amsgrad] | [, {lr = 1e-3,
--- betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false}]):
--- Adam, with L2 weight decay added to the gradient as PyTorch's.
---   local opt = optim.Adam(model:parameters(), {lr = 1e-3})
local Adam = Optimizer.class {
  name = "Adam",
  positional = positional,
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0,
               amsgrad = false, maximize = false },
  types = TYPES,
  validate = validate,
}

--- One Adam update of every parameter that has a gradient (nil grads are skipped);
--- closure (optional) re-evaluates the model and returns the loss, which step returns.
function Adam.step (self, closure)
  if not built[self] then Optimizer._need_self(self, "step") end
  return step(self, closure, false)
end

--- optim.AdamW(params [, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2,
--- amsgrad = false, maximize = false}]): Adam with decoupled weight decay.
---   local opt = optim.AdamW(model:parameters(), {lr = 1e-3, weight_decay = 0.01})
local AdamW = Optimizer.class {
  name = "AdamW",
  positional = positional,
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2,
               amsgrad = false, maximize = false },
  types = TYPES,
  validate = validate,
}

--- One AdamW update (decoupled weight decay); as Adam.step otherwise.
function AdamW.step (self, closure)
  if not built[self] then Optimizer._need_self(self, "step") end
  return step(self, closure, true)
end

return { Adam = Adam, AdamW = AdamW }
