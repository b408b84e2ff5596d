--- Reductions, scans and sorting (written in C: bindings/ops_reduce.c, tensor.c).  Each is a
-- Tensor method and a dm function.  Dims are 1-based; several dims are a table; `keepdim`
-- and the dims may be positional or PyTorch's keywords in an options table:
-- `x:sum(2)`, `x:sum({1, 3}, true)`, `x:sum({dim = 2, keepdim = true})`.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module reduce

--- The sum of all elements, or over dim(s).  Integer and bool inputs sum to int64.
-- @function Tensor:sum
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @tparam[opt] table opts `{dim =, keepdim =, dtype =}`
-- @usage x:sum()          -- 0-dim
-- @usage x:sum(2, true)   -- [n x 1]

--- The mean of all elements, or over dim(s) (floating inputs only; `{dtype =}` converts
-- the input first, as PyTorch's dtype=).
-- @function Tensor:mean
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @tparam[opt] table opts `{dim =, keepdim =, dtype =}`
-- @usage x:mean(1)
-- @usage dm.tensor({1, 2}):mean({dtype = dm.float32})   -- 1.5

--- The product of all elements, or over one dim.
-- @function Tensor:prod
-- @int[opt] dim
-- @bool[opt=false] keepdim
-- @tparam[opt] table opts `{dim =, keepdim =, dtype =}`
-- @usage x:prod(2)

--- Standard deviation, with Bessel's correction by default (correction = 1).
-- @function Tensor:std
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @tparam[opt] table opts `{dim =, keepdim =, correction = 1, unbiased =}`
-- @usage x:std({dim = 1, correction = 0})

--- Variance, with Bessel's correction by default.
-- @function Tensor:var
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @tparam[opt] table opts `{dim =, keepdim =, correction = 1, unbiased =}`
-- @usage x:var(1)

--- The largest value; over a dim, the values and their 1-based positions (int64); with a
-- tensor, the elementwise maximum.
-- @function Tensor:max
-- @param[opt] dim an integer, or another Tensor
-- @bool[opt=false] keepdim
-- @usage local values, idx = x:max(2)

--- The smallest value; over a dim, the values and their 1-based positions.
-- @function Tensor:min
-- @param[opt] dim an integer, or another Tensor
-- @bool[opt=false] keepdim
-- @usage local values, idx = x:min(1)

--- The largest values over dim(s), without positions.
-- @function Tensor:amax
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @usage x:amax({1, 2}, true)

--- The smallest values over dim(s), without positions.
-- @function Tensor:amin
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @usage x:amin(2)

--- The 1-based position of the largest value (of the flattened tensor, or along dim), int64.
-- @function Tensor:argmax
-- @int[opt] dim
-- @bool[opt=false] keepdim
-- @usage logits:argmax(2)   -- predicted classes 1..C

--- The 1-based position of the smallest value, int64.
-- @function Tensor:argmin
-- @int[opt] dim
-- @bool[opt=false] keepdim
-- @usage x:argmin()

--- Are all elements true (nonzero), overall or along dim? (bool)
-- @function Tensor:all
-- @int[opt] dim
-- @bool[opt=false] keepdim
-- @usage x:isfinite():all():item()

--- Is any element true (nonzero), overall or along dim? (bool)
-- @function Tensor:any
-- @int[opt] dim
-- @bool[opt=false] keepdim
-- @usage x:isnan():any()

--- log(sum(exp(x))) over dim(s), computed stably.
-- @function Tensor:logsumexp
-- @param dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @usage x:logsumexp(2)

--- The p-norm (default 2, "fro"; also math.huge, 0, 1) of all elements or over dim(s).
-- @function Tensor:norm
-- @param[opt=2] p a number or "fro"
-- @param[opt] dim an integer or a table of them
-- @bool[opt=false] keepdim
-- @usage x:norm()
-- @usage x:norm(1, 2)

--- Cumulative sum along dim.
-- @function Tensor:cumsum
-- @int dim
-- @usage dm.tensor({1, 2, 3}):cumsum(1)   -- 1 3 6

--- Cumulative product along dim.
-- @function Tensor:cumprod
-- @int dim
-- @usage x:cumprod(1)

--- Sorted values and their 1-based positions along dim (default the last), stable.
-- @function Tensor:sort
-- @int[opt=-1] dim
-- @bool[opt=false] descending
-- @tparam[opt] table opts `{dim =, descending =, stable =}`
-- @usage local v, idx = x:sort(1, true)

--- The 1-based positions that sort self along dim.
-- @function Tensor:argsort
-- @int[opt=-1] dim
-- @bool[opt=false] descending
-- @usage x:argsort()

--- The k largest (or smallest) values along dim and their 1-based positions.
-- @function Tensor:topk
-- @int k a count, not a position
-- @int[opt=-1] dim
-- @bool[opt=true] largest
-- @bool[opt=true] sorted
-- @usage local v, idx = logits:topk(3)

--- The k-th smallest value along dim (default the last) and its 1-based position.
-- @function Tensor:kthvalue
-- @int k 1 is the smallest
-- @int[opt=-1] dim
-- @bool[opt=false] keepdim
-- @usage local v, i = x:kthvalue(2)

--- The distinct values (sorted), with opts.return_inverse the 1-based position of each
-- element in them and with opts.return_counts their counts.
-- @function Tensor:unique
-- @tparam[opt] table opts `{sorted = true, return_inverse =, return_counts =, dim =}`
-- @usage local vals, inv, counts = y:unique({return_inverse = true, return_counts = true})

--- Counts of each class label of a 1-D int64 tensor of 1-based labels (1 .. C): position
-- v counts the label v (PyTorch's label y is y + 1 here).
-- @function Tensor:bincount
-- @tparam[opt] Tensor weights
-- @int[opt=0] minlength
-- @usage dm.tensor({1, 2, 2, 4}):bincount()   -- 1 2 0 1
