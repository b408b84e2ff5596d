--- Tensor methods: inspection, conversion, in-place updates and autograd (written in C:
-- bindings/tensor.c; a few in lua/deepmoon/init.lua).  Methods are called as `t:name(...)`;
-- dims and indices are 1-based, negative ones count from the end.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module tensor

--- The Tensor class: its methods table (`dm.Tensor.sum(t)` is `t:sum()`).  Tensors are
-- made by the constructors (dm.tensor, dm.zeros, ...); `t.dtype`, `t.device`, `t.grad`,
-- `t.grad_fn`, `t.requires_grad`, `t.is_leaf`, `t.shape` are fields.
-- @function dm.Tensor
-- @usage dm.Tensor.sum(dm.ones(3))   -- same as dm.ones(3):sum()

--- The sizes: a list of integers, or the size of one dim (1-based).
-- @function Tensor:size
-- @int[opt] dim
-- @usage x:size()      -- {2, 3}
-- @usage x:size(-1)    -- 3

--- The strides, in elements: a list, or the stride of one dim.
-- @function Tensor:stride
-- @int[opt] dim
-- @usage x:t():stride()   -- {1, 3} for a contiguous [2 x 3] x

--- The number of dims.
-- @function Tensor:dim
-- @usage dm.zeros(2, 3):dim()   -- 2

--- The number of elements.
-- @function Tensor:numel
-- @also dm.numel
-- @usage dm.zeros(2, 3):numel()   -- 6

--- The number of elements (PyTorch's other name for numel).
-- @function Tensor:nelement
-- @usage x:nelement()

--- Bytes per element of the dtype (4 for float32).
-- @function Tensor:element_size
-- @usage x:element_size()

--- Are the elements laid out in row-major order without gaps?
-- @function Tensor:is_contiguous
-- @usage x:t():is_contiguous()   -- false

--- Is the dtype float32 or float64?
-- @function Tensor:is_floating_point
-- @usage dm.arange(3):is_floating_point()   -- false

--- The value of a one-element tensor as a Lua number (integer for integer dtypes, boolean
-- for bool).
-- @function Tensor:item
-- @usage loss:item()

--- One element by 1-based indices (one per dim), as a Lua number.
-- @function Tensor:get
-- @int ... indices
-- @usage x:get(1, 2)

--- Set one element by 1-based indices: t:set(i, j, ..., value).  No autograd.
-- @function Tensor:set
-- @param ... the indices, then the value
-- @usage x:set(1, 2, 5.0)

--- The values as a flat Lua list in row-major order.
-- @function Tensor:values
-- @usage dm.eye(2):values()   -- {1, 0, 0, 1}

--- The values as nested Lua tables (PyTorch's tolist); a 0-dim tensor gives a number.
-- @function Tensor:totable
-- @usage dm.eye(2):totable()   -- {{1, 0}, {0, 1}}

--- The same as totable (PyTorch's name).
-- @function Tensor:tolist
-- @usage x:tolist()

--- The text `print(t)` shows, as PyTorch prints the tensor; opts.prefix replaces "tensor(".
-- @function Tensor:tostring
-- @tparam[opt] table opts `{prefix =}`
-- @usage print(x:tostring())

--- The shape as text, "[2 x 3]".
-- @function Tensor:size_str
-- @usage x:size_str()

--- deepmoon has no numpy: raises, naming t:totable() instead.
-- @function Tensor:numpy
-- @usage x:totable()   -- instead of x:numpy()

--- The type's name as PyTorch gives it ("deepmoon.FloatTensor", "deepmoon.LongTensor"), or
-- with a dtype: the tensor converted (t:to(dtype)).
-- @function Tensor:type
-- @param[opt] dtype a dtype or its name
-- @usage x:type()              -- "deepmoon.FloatTensor"
-- @usage x:type(dm.float64)

--- Convert to a dtype and/or a device; returns self when nothing changes (unless
-- `copy = true`).  Differentiable between floating dtypes.  The forms of PyTorch's
-- Tensor.to: `to(dtype)`, `to(device [, dtype])`, `to(other)` (other's dtype and device),
-- each with an optional options table `{dtype =, device =, copy =, non_blocking =}`, which
-- may also come alone.
-- @function Tensor:to
-- @param target a dtype (dm.float64), a dtype's name, a device name ("cpu"), a Tensor or
-- the options table
-- @usage x:to(dm.float64)
-- @usage x:to("cpu", dm.float64)
-- @usage x:to({dtype = dm.float64})

--- t converted to other's dtype (t:to(other.dtype)).
-- @function Tensor:type_as
-- @tparam Tensor other
-- @usage dm.tensor({1.5}):type_as(dm.tensor({1}))   -- tensor([1])

--- t:to(dm.float32).
-- @function Tensor:float
-- @usage dm.arange(3):float()

--- t:to(dm.float64).
-- @function Tensor:double
-- @usage x:double()

--- t:to(dm.int64).
-- @function Tensor:long
-- @usage y:long()

--- t:to(dm.bool).
-- @function Tensor:bool
-- @usage x:gt(0):bool()

--- t:to(dm.uint8).
-- @function Tensor:byte
-- @usage mask:byte()

--- The tensor on the CPU (itself when it is there already).
-- @function Tensor:cpu
-- @usage x:cpu()

--- A contiguous tensor with the same values (self when already contiguous).
-- @function Tensor:contiguous
-- @usage x:t():contiguous()

--- A view with another shape (one size may be -1); the tensor must be viewable so
-- (contiguous in the dims merged).  Shares the storage.
-- @function Tensor:view
-- @param ... sizes, or one table of them
-- @usage dm.arange(6):view(2, 3)

--- A view with size-1 dims (or the sizes given, -1 keeping a size) broadcast to sizes.
-- @function Tensor:expand
-- @param ... sizes, or one table of them
-- @usage dm.ones(3, 1):expand(3, 4)

--- t expanded to other's shape.
-- @function Tensor:expand_as
-- @tparam Tensor other
-- @usage b:expand_as(x)

--- A copy with its own storage (differentiable).
-- @function Tensor:clone
-- @also dm.clone
-- @usage local y = x:clone()

--- A tensor sharing self's storage, cut from the graph (requires_grad false).
-- @function Tensor:detach
-- @also dm.detach
-- @usage local v = loss:detach()

--- Fill with a value in place; returns self.
-- @function Tensor:fill_
-- @number value
-- @usage w:fill_(0.5)

--- Fill with zeros in place; returns self.
-- @function Tensor:zero_
-- @usage g:zero_()

--- Copy src's values into self in place (broadcast, converted to self's dtype); returns self.
-- @function Tensor:copy_
-- @tparam Tensor src
-- @usage w:copy_(dm.zeros(3, 3))

--- In place self = self + alpha * other; returns self.
-- @function Tensor:add_
-- @param other Tensor or number
-- @number[opt=1] alpha (also {alpha =})
-- @usage p:add_(g, -0.1)

--- In place self = self - alpha * other; returns self.
-- @function Tensor:sub_
-- @param other Tensor or number
-- @number[opt=1] alpha
-- @usage p:sub_(g)

--- In place self = self * other; returns self.
-- @function Tensor:mul_
-- @param other Tensor or number
-- @usage w:mul_(0.9)

--- In place self = self / other; returns self.
-- @function Tensor:div_
-- @param other Tensor or number
-- @usage w:div_(2)

--- In place clamp to [min, max] (nil: no bound); returns self.
-- @function Tensor:clamp_
-- @param[opt] min
-- @param[opt] max
-- @usage x:clamp_(0, 1)

--- clamp's other name (PyTorch's clip).
-- @function Tensor:clip
-- @param[opt] min
-- @param[opt] max
-- @usage x:clip(-1, 1)

--- In-place index_add: self[..., index[i], ...] += alpha * src[..., i, ...] along dim (1-based
-- positions); returns self.
-- @function Tensor:index_add_
-- @int dim
-- @tparam Tensor index int64 positions
-- @tparam Tensor src
-- @usage x:index_add_(1, dm.tensor({1, 3}), dm.ones(2, 4))

--- In-place scatter along dim: self[index[i][j]][j] = src[i][j] (dim 1); returns self.
-- @function Tensor:scatter_
-- @int dim
-- @tparam Tensor index int64, 1-based
-- @param src Tensor or number
-- @usage x:scatter_(2, idx, 1.0)

--- In-place scatter_add along dim; returns self.
-- @function Tensor:scatter_add_
-- @int dim
-- @tparam Tensor index int64, 1-based
-- @tparam Tensor src
-- @usage counts:scatter_add_(1, labels, dm.ones(n))

--- Set requires_grad (default true) on a leaf; returns self.
-- @function Tensor:requires_grad_
-- @bool[opt=true] on
-- @usage local w = dm.randn(3, 3):requires_grad_()

--- Accumulate the gradient of self (a scalar, or with a gradient of its shape) into the
-- .grad of the leaves that require grad, as PyTorch's backward.
-- @function Tensor:backward
-- @tparam[opt] Tensor gradient
-- @tparam[opt] table opts `{retain_graph = false}`
-- @usage loss:backward(); print(w.grad)

--- Keep .grad on a non-leaf tensor during backward; returns self.
-- @function Tensor:retain_grad
-- @usage h:retain_grad()

--- Release the tensor's data now (the object stays, as released); later use raises.
-- Tensors are also released when collected, or by `local t <close> = ...`.
-- @function Tensor:free
-- @usage big:free()

--- Has the tensor been released (t:free(), or closed)?
-- @function Tensor:is_released
-- @usage x:is_released()

--- An identifier of the storage (views of one storage share it).
-- @function Tensor:storage_id
-- @usage x:view(-1):storage_id() == x:storage_id()   -- true
