--- deepmoon.nn.lsuv: init.lsuv_, layer-sequential unit-variance initialisation (Mishkin and
-- Matas, "All you need is a good init", ICLR 2016).
--
--   local init = require "deepmoon.nn.init"
--   init.lsuv_(model, x_batch)                    -- x_batch: a few hundred training inputs
--   init.lsuv_(model, x_batch, {tol = 0.05, max_iter = 20, generator = dm.Generator(1)})
--
-- The weights of every weighted layer (Linear, Conv1d, Conv2d, ConvTranspose2d, or any
-- layer with a weight of 2+ dims) are first made orthogonal (init.orthogonal_: a conv weight
-- [out x in/groups x kh x kw] is seen as the matrix [out x in/groups*kh*kw], a transposed
-- one by its first dim as PyTorch does) and their biases zero.  A convolution's output
-- variance is taken over all the values of its feature maps.  Then, layer by layer in
-- forward order, the batch is run through the model and the layer's weight divided by the
-- standard deviation of its output, until that output's variance (over all its values,
-- t:var()) is within tol of 1 or max_iter rescalings were made.  A layer rescaled later
-- does not change what the earlier ones output, so at the end every layer's output has unit
-- variance on the batch: the data, not a formula, sets each scale, whatever the activation
-- (tanh, ReLU, or one no paper gives a gain for).
--
-- The passes run in eval mode (dropout off, batch norm on its running statistics, none of
-- which change), under no_grad; the model's training flags are restored afterwards.  The
-- order of the layers is traced from one forward pass (see deepmoon.nn.trace).

local dm = require "deepmoon"
local check = require "deepmoon.check"
local init = require "deepmoon.nn.init"
local module = require "deepmoon.nn.module"
local trace = require "deepmoon.nn.trace"

local M = {}

-- tol and max_iter: checked in lsuv_ with the values they may take
local OPTIONS = { tol = true, max_iter = true, orthogonal = true, generator = "generator",
                  verbose = true }

-- the weighted layers in the order of their first call, with their names
local function weighted_layers (model, batch)
  local calls = trace.run(model, batch, { keep = function () return false end })
  local out, seen = {}, {}
  for _, c in ipairs(calls) do
    if trace.is_weighted(c.module) and not seen[c.module] then
      seen[c.module] = true
      out[#out + 1] = { name = c.name, module = c.module }
    end
  end
  return out
end

-- the variance of m's output (first call) when the model runs on batch
local function output_var (model, batch, m)
  local found
  local calls = trace.run(model, batch, { keep = function (c)
    if c.module == m and not found then found = true return true end
    return false
  end })
  for _, c in ipairs(calls) do
    if c.output then
      if c.output:numel() < 2 then return 0 end
      return c.output:var():item()
    end
  end
  return nil
end

--- init.lsuv_(model, batch [, {tol = 0.1, max_iter = 10, orthogonal = true,
--- generator = g, verbose = false}]): LSUV in place (see the top of this file).
--- orthogonal = false keeps the current weights as the starting point instead of the
--- orthogonal pre-initialisation (biases are kept too).  Returns model and a list, per
--- weighted layer in forward order, of {name =, module =, var = its final output variance,
--- iterations = rescalings made, converged = |var - 1| < tol}; a layer whose output is
--- constant (variance 0) or not finite cannot be rescaled and is reported unconverged.
function M.lsuv_ (model, batch, opts)
  if not module.is_module(model) then
    error(("init.lsuv_: expected a Module, got %s"):format(type(model)), 2)
  end
  if not dm.is_tensor(batch) then
    error(("init.lsuv_: batch must be a Tensor, got %s"):format(type(batch)), 2)
  end
  opts = check.options("init.lsuv_", opts, OPTIONS)
  local tol = opts.tol or 0.1
  if type(tol) ~= "number" or not (tol > 0) then
    error(("init.lsuv_: tol must be a positive number, got %s"):format(tostring(tol)), 2)
  end
  local max_iter = opts.max_iter or 10
  if math.type(max_iter) ~= "integer" or max_iter < 0 then
    error(("init.lsuv_: max_iter must be a non-negative integer, got %s"):format(
      tostring(max_iter)), 2)
  end
  local g = opts.generator

  local restore_mode = trace.set_mode(model, false)
  local ok, report = pcall(function ()
    local _ <close> = dm.no_grad()
    local x = batch:detach()
    local layers = weighted_layers(model, x)
    if opts.orthogonal ~= false then
      for _, l in ipairs(layers) do
        init.orthogonal_(l.module.weight, { generator = g })
        local b = l.module.bias
        if b ~= nil then b:zero_() end
      end
    end
    local report = {}
    for i, l in ipairs(layers) do
      local w = l.module.weight
      local var = output_var(model, x, l.module)
      local iters = 0
      while var and var == var and var > 0 and var < math.huge
            and math.abs(var - 1) >= tol and iters < max_iter do
        w:mul_(1 / math.sqrt(var))
        iters = iters + 1
        var = output_var(model, x, l.module)
      end
      local converged = var ~= nil and math.abs(var - 1) < tol
      report[i] = { name = l.name, module = l.module, var = var, iterations = iters,
                    converged = converged }
      if opts.verbose then
        print(("init.lsuv_: layer %d (%s): output variance %.4f after %d rescaling%s%s"):format(
          i, l.name, var or 0 / 0, iters, iters == 1 and "" or "s",
          converged and "" or " (not converged)"))
      end
    end
    return report
  end)
  restore_mode()
  if not ok then error(report, 2) end
  return model, report
end

return M
