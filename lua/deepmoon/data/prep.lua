--- deepmoon.data.prep: preparing a feature matrix for training, after scikit-learn's
--- StandardScaler and train_test_split.
--
--   local Xtr, Xte, ytr, yte = prep.train_test_split(X, y, {test_size = 0.2, generator = g})
--   local Xtr_s, mean, std = prep.standardize(Xtr)
--   local Xte_s = prep.standardize(Xte, {mean = mean, std = std})

local core = require "deepmoon.core"
local check = require "deepmoon.check"

local M = {}

local is_tensor, typename = check.is_tensor, check.typename

local function shape_str (t) return "[" .. table.concat(t:size(), " x ") .. "]" end

-- a given mean or std as a [F] tensor (a Lua list of numbers is accepted too)
local function stat_tensor (name, v, F)
  if type(v) == "table" and not is_tensor(v) then
    for i = 1, #v do
      if type(v[i]) ~= "number" then
        error(("standardize: %s[%d] is a %s, expected a number"):format(name, i, type(v[i])), 3)
      end
    end
    v = core.tensor(v, { dtype = core.get_default_dtype() })
  end
  if not is_tensor(v) then
    error(("standardize: %s must be a tensor, got %s"):format(name, typename(v)), 3)
  end
  if v:numel() ~= F or v:dim() > 2 or (v:dim() == 2 and v:size(1) ~= 1) then
    error(("standardize: %s must have one value per column, [%d], got %s")
          :format(name, F, shape_str(v)), 3)
  end
  return v:reshape(F)
end

-- mean and std: a tensor or a list of numbers, checked by stat_tensor
local STANDARDIZE_OPTIONS = { mean = true, std = true }

--- standardize(X [, {mean =, std =}]) -> Xs, mean, std.
--- Per column of the [N x F] matrix X: Xs = (X - mean) / std, mean and std [F] tensors.
--- Without options they are X's own column means and population standard deviations
--- (divisor N, as StandardScaler); a constant column gets std 1, so it maps to 0 rather than
--- to nan.  Give the stats of the training split to scale a test split the same way.  An
--- integer X is scaled in the default floating dtype, as StandardScaler does.
function M.standardize (X, opts)
  opts = check.options("standardize", opts, STANDARDIZE_OPTIONS)
  if not is_tensor(X) then
    error(("standardize: X must be a tensor, got %s"):format(typename(X)), 2)
  end
  if X:dim() ~= 2 then
    error(("standardize: X must be a matrix [N x F], got %s"):format(shape_str(X)), 2)
  end
  local N, F = X:size(1), X:size(2)
  if not X:is_floating_point() then X = X:to(core.get_default_dtype()) end
  local mean, std
  if opts.mean ~= nil or opts.std ~= nil then
    if opts.mean == nil or opts.std == nil then
      error("standardize: give both mean and std, or neither", 2)
    end
    mean = stat_tensor("mean", opts.mean, F)
    std = stat_tensor("std", opts.std, F)
  else
    if N == 0 then
      error(("standardize: cannot compute the stats of an empty matrix %s"):format(shape_str(X)), 2)
    end
    local prev = core.set_grad_enabled(false)
    local ok, err = pcall(function ()       -- grad mode comes back even if this raises
      mean = X:mean(1)
      std = X:std(1, { correction = 0 })
      -- a constant column's computed std is its rounding noise (float32 sums of N copies of
      -- the same value); treat anything below that as zero, as StandardScaler does
      local noise = mean:abs() * (N * 1.2e-7)
      std = core.where(std:le(noise), 1, std)
    end)
    core.set_grad_enabled(prev)
    if not ok then error(err, 0) end
  end
  return (X - mean) / std, mean, std
end

local SPLIT_OPTIONS = { test_size = "number", train_size = "number", shuffle = true,
                        generator = "generator", stratify = { "tensor", "table" } }

-- n rows split as counts per class in proportion (largest remainders, ties to the earlier
-- class), none above cap[k]
local function allocate (n, counts, total, cap)
  local out, rem, given = {}, {}, 0
  for k, c in ipairs(counts) do
    local exact = n * c / total
    out[k] = math.min(math.floor(exact), cap[k])
    rem[k] = exact - out[k]
    given = given + out[k]
  end
  local order = {}
  for k = 1, #counts do order[k] = k end
  table.sort(order, function (a, b)
    if rem[a] ~= rem[b] then return rem[a] > rem[b] end
    return a < b
  end)
  while given < n do
    local moved = false
    for _, k in ipairs(order) do
      if given < n and out[k] < cap[k] then
        out[k] = out[k] + 1
        given = given + 1
        moved = true
      end
    end
    if not moved then break end
  end
  return out
end

-- the class of each row (1..C, classes in sorted order) and the count per class
local function classes_of (labels, n, level)
  local vals
  if is_tensor(labels) then
    if labels:dim() ~= 1 then
      error(("train_test_split: stratify must be a 1-D tensor of labels, got %s"):format(
        shape_str(labels)), level + 1)
    end
    vals = labels:values()
  else
    vals = labels
  end
  if #vals ~= n then
    error(("train_test_split: stratify has %d labels but X has %d rows"):format(#vals, n),
          level + 1)
  end
  local uniq, seen = {}, {}
  for i = 1, n do
    local v = vals[i]
    if v == nil or (type(v) ~= "number" and type(v) ~= "string" and type(v) ~= "boolean") then
      error(("train_test_split: stratify[%d] is a %s, expected a label (number or string)")
            :format(i, typename(v)), level + 1)
    end
    if not seen[v] then seen[v] = true; uniq[#uniq + 1] = v end
  end
  table.sort(uniq, function (a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "boolean" then return (not a) and b end
    return a < b
  end)
  local index, counts = {}, {}
  for k, v in ipairs(uniq) do index[v] = k; counts[k] = 0 end
  local cls = {}
  for i = 1, n do
    cls[i] = index[vals[i]]
    counts[cls[i]] = counts[cls[i]] + 1
  end
  return cls, counts
end

--- train_test_split(X [, y] [, opts]) -> Xtrain, Xtest, ytrain, ytest (scikit-learn's order).
--- Rows of X (and the matching entries of y) go to one side or the other.  Options:
--- test_size (a fraction in (0, 1), rounded up, or a row count; default 0.25 as scikit-learn),
--- train_size (likewise, rounded down; default all the rows not in the test split),
--- shuffle (default true: a random permutation from dm.randperm; false keeps the order, the
--- training rows first), generator (a dm.Generator for a reproducible split), stratify (the
--- rows' class labels, a 1-D tensor or a Lua list: each class goes to the two sides in the
--- proportion of the split, as scikit-learn's stratify; needs shuffle).
function M.train_test_split (X, y, opts)
  if opts == nil and type(y) == "table" and not is_tensor(y) then y, opts = nil, y end
  opts = check.options("train_test_split", opts, SPLIT_OPTIONS)
  if not is_tensor(X) then
    error(("train_test_split: X must be a tensor, got %s"):format(typename(X)), 2)
  end
  if X:dim() == 0 then error("train_test_split: X is 0-dim; it needs rows to split", 2) end
  if y ~= nil then
    if not is_tensor(y) then
      error(("train_test_split: y must be a tensor, got %s"):format(typename(y)), 2)
    end
    if y:dim() == 0 or y:size(1) ~= X:size(1) then
      error(("train_test_split: X and y have different numbers of rows: X %s, y %s")
            :format(shape_str(X), shape_str(y)), 2)
    end
  end
  local g = opts.generator
  local n = X:size(1)

  -- sizes as scikit-learn computes them
  local function size_of (name, v, round)
    if v == nil then return nil end
    if math.type(v) == "integer" then
      if v < 1 or v >= n then
        error(("train_test_split: %s = %d must be a row count in [1, %d) for %d rows")
              :format(name, v, n, n), 3)
      end
      return v
    end
    if not (v > 0 and v < 1) then
      error(("train_test_split: %s = %s must be a fraction in (0, 1) or a row count")
            :format(name, tostring(v)), 3)
    end
    return math.tointeger(round(v * n))
  end
  local n_test = size_of("test_size", opts.test_size, math.ceil)
  local n_train = size_of("train_size", opts.train_size, math.floor)
  if n_test == nil and n_train == nil then n_test = math.ceil(0.25 * n) end
  n_test = n_test or n - n_train
  n_train = n_train or n - n_test
  if n_train + n_test > n then
    error(("train_test_split: train_size + test_size = %d + %d rows, more than the %d rows of X")
          :format(n_train, n_test, n), 2)
  end
  if n_train == 0 or n_test == 0 then
    error(("train_test_split: with %d rows, test_size and train_size leave an empty split "
           .. "(%d train, %d test)"):format(n, n_train, n_test), 2)
  end

  local train_idx, test_idx
  if opts.stratify ~= nil then
    -- each class split in the same proportion (scikit-learn's StratifiedShuffleSplit):
    -- per-class counts by largest remainders, rows taken in the order of one permutation
    if opts.shuffle == false then
      error("train_test_split: Stratified train/test split is not implemented for " ..
            "shuffle=False", 2)
    end
    local cls, counts = classes_of(opts.stratify, n, 2)
    local C = #counts
    for k = 1, C do
      if counts[k] < 2 then
        error("train_test_split: The least populated class in y has only 1 member, which " ..
              "is too few. The minimum number of groups for any class cannot be less than 2.", 2)
      end
    end
    if n_test < C then
      error(("train_test_split: The test_size = %d should be greater or equal to the " ..
             "number of classes = %d"):format(n_test, C), 2)
    end
    if n_train < C then
      error(("train_test_split: The train_size = %d should be greater or equal to the " ..
             "number of classes = %d"):format(n_train, C), 2)
    end
    local t_k = allocate(n_test, counts, n, counts)
    local left = {}
    for k = 1, C do left[k] = counts[k] - t_k[k] end
    local r_k = allocate(n_train, left, n - n_test, left)
    local perm = core.randperm(n, g and { generator = g } or nil):values()
    local tr, te = {}, {}
    for _, i in ipairs(perm) do
      local k = cls[i]
      if t_k[k] > 0 then
        t_k[k] = t_k[k] - 1
        te[#te + 1] = i
      elseif r_k[k] > 0 then
        r_k[k] = r_k[k] - 1
        tr[#tr + 1] = i
      end
    end
    train_idx = core.tensor(tr, { dtype = core.int64 })
    test_idx = core.tensor(te, { dtype = core.int64 })
  elseif opts.shuffle == false then
    local order = core.arange(1, n_train + n_test + 1)
    train_idx = order:narrow(1, 1, n_train)
    test_idx = order:narrow(1, n_train + 1, n_test)
  else
    local perm = core.randperm(n, g and { generator = g } or nil)
    test_idx = perm:narrow(1, 1, n_test)
    train_idx = perm:narrow(1, n_test + 1, n_train)
  end
  local Xtr, Xte = X:index_select(1, train_idx), X:index_select(1, test_idx)
  if y == nil then return Xtr, Xte end
  return Xtr, Xte, y:index_select(1, train_idx), y:index_select(1, test_idx)
end

return M
