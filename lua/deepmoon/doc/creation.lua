--- Creating tensors and drawing random numbers (written in C: bindings/tensor.c, random.c).
-- Sizes are given as several integers or one table of them; an options table may follow
-- with PyTorch's keywords (`dtype`, `requires_grad`, `generator`).  `zeros`, `ones`, `rand`,
-- `randn` and `linspace` give the default dtype (float32 unless `dm.set_default_dtype` says
-- otherwise); the `_like` forms keep their tensor's shape and dtype.
-- This file is read by LDoc and by `help()`; it holds no code.
-- @module creation

--- A tensor from Lua data: a number, a boolean, or nested tables of them.
-- The dtype is inferred as PyTorch infers it: Lua integers give int64, any float gives the
-- default dtype, booleans give bool; `opts.dtype` overrides.
-- @function dm.tensor
-- @param data a number, boolean or nested table (rows of equal length)
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.tensor({{1.0, 2.0}, {3.0, 4.0}})      -- [2 x 2] float32
-- @usage dm.tensor({1, 2}, {dtype = dm.float64})

--- A tensor filled with zeros.
-- @function dm.zeros
-- @param ... sizes (integers, or one table of them)
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.zeros(2, 3, {dtype = dm.float64})

--- A tensor filled with ones.
-- @function dm.ones
-- @param ... sizes (integers, or one table of them)
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.ones(4)

--- A tensor whose values are not set (whatever the memory held).
-- @function dm.empty
-- @param ... sizes (integers, or one table of them)
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage local buf = dm.empty(16, 16)

--- A tensor filled with one value; the dtype follows the value (integer: int64, float:
-- the default dtype, boolean: bool) unless opts.dtype says.
-- @function dm.full
-- @tparam table size the sizes
-- @param value the fill value
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.full({2, 2}, 7.0)

--- Zeros of t's shape and dtype.
-- @function dm.zeros_like
-- @tparam Tensor t
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.zeros_like(x)

--- Ones of t's shape and dtype.
-- @function dm.ones_like
-- @tparam Tensor t
-- @tparam[opt] table opts `{dtype =, requires_grad =}`
-- @usage dm.ones_like(x)

--- An uninitialised tensor of t's shape and dtype.
-- @function dm.empty_like
-- @tparam Tensor t
-- @tparam[opt] table opts `{dtype =}`
-- @usage dm.empty_like(x)

--- A tensor of t's shape filled with value.
-- @function dm.full_like
-- @tparam Tensor t
-- @param value the fill value
-- @tparam[opt] table opts `{dtype =}`
-- @usage dm.full_like(x, 0.5)

--- Values from start (default 0) up to but not including end, by step (default 1).
-- All-integer arguments give int64, any float gives the default dtype.
-- @function dm.arange
-- @param start (or end when alone)
-- @param[opt] end
-- @param[opt] step
-- @tparam[opt] table opts `{dtype =}`
-- @usage dm.arange(5)            -- 0 1 2 3 4 (int64)
-- @usage dm.arange(0, 1, 0.25)   -- float32

--- steps values evenly spaced from start to end, both included.
-- @function dm.linspace
-- @number start
-- @number end
-- @int steps
-- @tparam[opt] table opts `{dtype =}`
-- @usage dm.linspace(0, 1, 5)

--- The identity matrix [n x m] (m defaults to n).
-- @function dm.eye
-- @int n
-- @int[opt] m
-- @tparam[opt] table opts `{dtype =}`
-- @usage dm.eye(3)

--- Uniform random values in [0, 1).
-- @function dm.rand
-- @param ... sizes
-- @tparam[opt] table opts `{dtype =, generator =, requires_grad =}`
-- @usage dm.rand(2, 3, {generator = dm.Generator(1)})

--- Standard normal random values N(0, 1).
-- @function dm.randn
-- @param ... sizes
-- @tparam[opt] table opts `{dtype =, generator =, requires_grad =}`
-- @usage dm.randn(100, 2)

--- rand with t's shape and dtype.
-- @function dm.rand_like
-- @tparam Tensor t
-- @tparam[opt] table opts `{dtype =, generator =}`
-- @usage dm.rand_like(x)

--- randn with t's shape and dtype.
-- @function dm.randn_like
-- @tparam Tensor t
-- @tparam[opt] table opts `{dtype =, generator =}`
-- @usage dm.randn_like(x)

--- Random integers in [low, high) (low defaults to 0), int64 unless opts.dtype says.
-- The bounds are values, not positions: they keep PyTorch's meaning.
-- @function dm.randint
-- @int[opt] low
-- @int high
-- @tparam table size
-- @tparam[opt] table opts `{dtype =, generator =}`
-- @usage dm.randint(0, 10, {3})

--- randint with t's shape and dtype.
-- @function dm.randint_like
-- @tparam Tensor t
-- @int[opt] low
-- @int high
-- @tparam[opt] table opts `{dtype =, generator =}`
-- @usage dm.randint_like(labels, 5)

--- A random permutation of the positions 1 .. n (int64), ready to index with.
-- @function dm.randperm
-- @int n
-- @tparam[opt] table opts `{dtype =, generator =}`
-- @usage local idx = dm.randperm(10); local shuffled = x:index_select(1, idx)

--- Normal random values N(mean, std^2): mean and std numbers or tensors (broadcast).
-- @function dm.normal
-- @param mean number or Tensor
-- @param std number or Tensor
-- @tparam[opt] table size the sizes, when both are numbers
-- @tparam[opt] table opts `{generator =}`
-- @usage dm.normal(0, 0.1, {3, 3})

--- 1 with probability p, else 0: p is self's values (dm.bernoulli(p)) or a number.
-- @function Tensor:bernoulli
-- @also dm.bernoulli
-- @param[opt] p probability (a number) or the options
-- @tparam[opt] table opts `{generator =}`
-- @usage dm.bernoulli(dm.full({4}, 0.3))

--- Draw num_samples category indices from the rows of self (weights, not necessarily
-- normalised).  The indices returned are 1-based.
-- @function Tensor:multinomial
-- @also dm.multinomial
-- @int num_samples
-- @bool[opt=false] replacement
-- @tparam[opt] table opts `{replacement =, generator =}`
-- @usage dm.tensor({0.1, 0.9}):multinomial(5, true)

--- Fill self in place with U[from, to) (default [0, 1)); returns self.
-- @function Tensor:uniform_
-- @number[opt=0] from
-- @number[opt=1] to
-- @tparam[opt] table opts `{generator =}`
-- @usage w:uniform_(-0.1, 0.1)

--- Fill self in place with N(mean, std^2) (default N(0, 1)); returns self.
-- @function Tensor:normal_
-- @number[opt=0] mean
-- @number[opt=1] std
-- @tparam[opt] table opts `{generator =}`
-- @usage w:normal_(0, 0.02)

--- Fill self in place with 1 with probability p (default 0.5), else 0; returns self.
-- @function Tensor:bernoulli_
-- @number[opt=0.5] p
-- @tparam[opt] table opts `{generator =}`
-- @usage mask:bernoulli_(0.8)

--- A random number generator of its own (PyTorch's torch.Generator), seeded with seed
-- (default 0).  Pass it as `{generator = g}`.  Methods: g:manual_seed(s), g:initial_seed(),
-- g:get_state(), g:set_state(s).
-- @function dm.Generator
-- @int[opt=0] seed
-- @usage local g = dm.Generator(42); local x = dm.rand(3, {generator = g})

--- Seed the default generator (as torch.manual_seed); returns it.
-- @function dm.manual_seed
-- @int seed
-- @usage dm.manual_seed(42)

--- The seed the default generator was last seeded with.
-- @function dm.initial_seed
-- @usage print(dm.initial_seed())

--- The default generator's state (a string to give back to set_rng_state).
-- @function dm.get_rng_state
-- @usage local s = dm.get_rng_state(); ...; dm.set_rng_state(s)

--- Restore the default generator's state from get_rng_state.
-- @function dm.set_rng_state
-- @string state
-- @usage dm.set_rng_state(s)
