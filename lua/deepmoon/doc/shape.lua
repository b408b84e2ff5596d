--- Shapes, views, joining and indexing (written in C: bindings/tensor.c, ops_shape.c,
-- ops_index.c, index.c).  Views share their tensor's storage.  Dims and positions are
-- 1-based, negative from the end; counts (chunks, shifts, sizes) keep PyTorch's values.
-- `x[i]`, `x[{1, {2, 3}}]` and `x[mask] = v` index as PyTorch's `x[...]` (see docs/porting.md).
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module shape

--- self with another shape (one size may be -1): a view when the strides allow, else a copy.
-- @function Tensor:reshape
-- @param ... sizes, or one table of them
-- @usage dm.arange(6):reshape(2, -1)

--- Swap two dims (a view).
-- @function Tensor:transpose
-- @int dim0
-- @int dim1
-- @usage x:transpose(1, 2)

--- The transpose of a matrix (a view; a vector is returned as it is).
-- @function Tensor:t
-- @usage w:t()

--- Reorder the dims (a view).
-- @function Tensor:permute
-- @param ... the dims in their new order, or one table of them
-- @usage img:permute(3, 1, 2)

--- Move dim(s) source to position(s) destination (a view).
-- @function Tensor:movedim
-- @param source a dim or a table of dims
-- @param destination a dim or a table of dims
-- @usage x:movedim(1, -1)

--- Remove dims of size 1 (all, or only dim).
-- @function Tensor:squeeze
-- @int[opt] dim
-- @usage dm.zeros(3, 1):squeeze()   -- [3]

--- Insert a dim of size 1 at position dim (1 .. dim() + 1, negative from the end).
-- @function Tensor:unsqueeze
-- @int dim
-- @usage dm.zeros(3):unsqueeze(1)   -- [1 x 3]

--- Merge dims start_dim .. end_dim (default all) into one.
-- @function Tensor:flatten
-- @int[opt=1] start_dim
-- @int[opt=-1] end_dim
-- @usage x:flatten(2)   -- [N x rest]

--- length elements of dim starting at position start (a view).
-- @function Tensor:narrow
-- @int dim
-- @int start 1-based
-- @int length
-- @usage x:narrow(1, 1, 2)   -- rows 1 and 2

--- narrow, as a new tensor of its own.
-- @function Tensor:narrow_copy
-- @int dim
-- @int start 1-based
-- @int length
-- @usage x:narrow_copy(2, 2, 3)

--- The slice at position index of dim, without that dim (a view).
-- @function Tensor:select
-- @int dim
-- @int index 1-based
-- @usage x:select(1, 1)   -- the first row

--- Split into chunks pieces (a count) along dim; returns them as several values.
-- @function Tensor:chunk
-- @int chunks
-- @int[opt=1] dim
-- @usage local a, b = x:chunk(2)

--- Split along dim into pieces of split_size (the last may be shorter), or of the sizes
-- listed; returns them as several values.
-- @function Tensor:split
-- @param split_size an integer or a table of sizes
-- @int[opt=1] dim
-- @usage local tr, te = x:split({80, 20})

--- The slices along dim (default 1), without that dim, as several values.
-- @function Tensor:unbind
-- @int[opt=1] dim
-- @usage local r1, r2 = dm.eye(2):unbind()

--- Join tensors along an existing dim (default 1).
-- @function dm.cat
-- @tparam table tensors a list of tensors
-- @int[opt=1] dim
-- @usage dm.cat({a, b}, 2)

--- Join tensors of one shape along a new dim (default 1).
-- @function dm.stack
-- @tparam table tensors a list of tensors
-- @int[opt=1] dim
-- @usage dm.stack({a, b})   -- [2 x ...]

--- Reverse the order along dim(s).
-- @function Tensor:flip
-- @param ... dims, or one table of them
-- @usage x:flip(1)

--- Shift elements by shifts (counts) along dims, wrapping around; without dims, over the
-- flattened tensor.
-- @function Tensor:roll
-- @param shifts an integer or a table of them
-- @param[opt] dims an integer or a table of them
-- @usage x:roll(1, 1)

--- Repeat the tensor along each dim (PyTorch's repeat).  `repeat` is a Lua keyword, so write
-- `x:repeat_tensor(2, 1)` or `x["repeat"](x, 2, 1)`.
-- @function Tensor:repeat_tensor
-- @param ... repetitions per dim, or one table of them
-- @usage dm.tensor({1, 2}):repeat_tensor(2)   -- 1 2 1 2

--- PyTorch's name of repeat_tensor (call it as `x["repeat"](x, ...)`).
-- @function Tensor:repeat
-- @param ... repetitions per dim, or one table of them
-- @usage x["repeat"](x, 2, 2)

--- Repeat as repeat_tensor, with fewer repetitions than dims allowed (leading ones are 1).
-- @function Tensor:tile
-- @param ... repetitions, or one table of them
-- @usage x:tile(2)

--- Values along dim at the 1-based positions in index: out[i][j] = self[index[i][j]][j]
-- for dim 1.
-- @function Tensor:gather
-- @int dim
-- @tparam Tensor index int64 positions, the shape of the result
-- @usage probs:gather(2, y:unsqueeze(2))

--- A copy with src's values (or one value) written at the positions in index along dim:
-- self[index[i][j]][j] = src[i][j] for dim 1.
-- @function Tensor:scatter
-- @int dim
-- @tparam Tensor index int64, 1-based
-- @param src Tensor or number
-- @tparam[opt] table opts `{reduce = "add" | "multiply"}`
-- @usage dm.zeros(3, 4):scatter(2, idx, 1.0)

--- A copy with src added at the positions in index along dim.
-- @function Tensor:scatter_add
-- @int dim
-- @tparam Tensor index int64, 1-based
-- @tparam Tensor src
-- @usage dm.zeros(5):scatter_add(1, labels, dm.ones(n))

--- The slices at the 1-based positions index along dim.
-- @function Tensor:index_select
-- @int dim
-- @tparam Tensor index 1-D int64
-- @usage x:index_select(1, dm.tensor({1, 3}))

--- A copy with alpha * source added to the slices at the positions index along dim.
-- @function Tensor:index_add
-- @int dim
-- @tparam Tensor index 1-D int64, 1-based
-- @tparam Tensor source
-- @tparam[opt] table opts `{alpha = 1}`
-- @usage x:index_add(1, dm.tensor({1, 1}), rows)

--- A copy with values written (or added, accumulate = true) at the elements that the
-- index tensors pick, one per dim (PyTorch's index_put).
-- @function Tensor:index_put
-- @tparam table indices a list of int64 position tensors (1-based)
-- @tparam Tensor values
-- @bool[opt=false] accumulate
-- @usage x:index_put({dm.tensor({1, 2}), dm.tensor({2, 1})}, dm.tensor({9.0, 8.0}))

--- index_put in place; returns self.
-- @function Tensor:index_put_
-- @tparam table indices a list of int64 position tensors (1-based)
-- @tparam Tensor values
-- @bool[opt=false] accumulate
-- @usage x:index_put_({rows}, dm.zeros(1))

--- A copy with value where mask is true (mask broadcast, bool).
-- @function Tensor:masked_fill
-- @tparam Tensor mask bool
-- @param value number or 0-dim Tensor
-- @usage scores:masked_fill(pad, -math.huge)

--- masked_fill in place; returns self.
-- @function Tensor:masked_fill_
-- @tparam Tensor mask bool
-- @param value number or 0-dim Tensor
-- @usage x:masked_fill_(x:lt(0), 0)

--- The elements where mask is true, as a 1-D tensor.
-- @function Tensor:masked_select
-- @tparam Tensor mask bool
-- @usage x:masked_select(x:gt(0))

--- The 1-based positions of the nonzero elements: an [n x dim()] int64 tensor, or one
-- tensor per dim with {as_tuple = true}.
-- @function Tensor:nonzero
-- @tparam[opt] table opts `{as_tuple = false}`
-- @usage dm.tensor({0, 3, 0, 4}):nonzero()   -- [[2], [4]]

--- One-hot rows of 1-based class labels (1 .. C): [...] -> [... x C] int64; num_classes
-- defaults to the largest label.
-- @function Tensor:one_hot
-- @int[opt] num_classes
-- @usage dm.tensor({3, 1}):one_hot(3)
