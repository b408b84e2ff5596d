--- deepmoon.nn: layers, losses and the Module class to build models from (PyTorch's torch.nn).
--
--   local dm = require "deepmoon"
--   local nn = require "deepmoon.nn"          -- also dm.nn
--
--   local Net = nn.Module:extend("Net")
--   function Net:__init ()
--     self.fc1 = nn.Linear(2, 64)
--     self.fc2 = nn.Linear(64, 1)
--   end
--   function Net:forward (x) return self.fc2(self.fc1(x):relu()):sigmoid() end
--
--   local model = Net()
--   local loss = nn.BCELoss()(model(x), y)
--
-- nn.functional (also nn.F) holds the same operations as functions; nn.init (loaded on
-- first use) the weight initializers.  Dims, positions (model[1]) and class labels are
-- 1-based; names in state_dict() and tostring(model) are PyTorch's ("0.weight").

local module = require "deepmoon.nn.module"

local nn = {
  Module = module.Module,
  Parameter = module.Parameter,
  is_module = module.is_module,
  functional = require "deepmoon.nn.functional",
}
nn.F = nn.functional

-- (attention also adds F.scaled_dot_product_attention and F.multi_head_attention_forward to
-- nn.functional)
for _, name in ipairs({ "linear", "activation", "container", "normalization", "dropout",
                        "shape", "loss", "serialize", "collections", "padding", "upsample",
                        "pixel_shuffle", "conv", "pooling", "sparse", "rnn", "attention",
                        "transformer" }) do
  for k, v in pairs(require("deepmoon.nn." .. name)) do nn[k] = v end
end

-- nn.utils: gradient clipping, parameters <-> one vector
nn.utils = require "deepmoon.nn.grad_utils"
-- nn.parallel: DistributedDataParallel (data-parallel training over MPI, deepmoon.distributed)
nn.parallel = require "deepmoon.nn.parallel"
nn.utils.consume_prefix_in_state_dict_if_present = nn.parallel._consume_prefix_in_state_dict_if_present
-- nn.utils.rnn: padding and packing sequences of different lengths
nn.utils.rnn = require "deepmoon.nn.utils_rnn"

-- nn.init is written separately (deepmoon.nn.init) and loaded when first used
setmetatable(nn, {
  __index = function (t, k)
    if k == "init" then
      local m = require "deepmoon.nn.init"
      rawset(t, k, m)
      return m
    end
    -- a name deepmoon lacks is an error, not a nil that fails later (probe with rawget)
    if type(k) == "string" then error("deepmoon has no nn." .. k, 2) end
    return nil
  end,
})

return nn
