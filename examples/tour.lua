-- A short tour of deepmoon tensors: run with ./deepmoon examples/tour.lua
local dm = require "deepmoon"

dm.manual_seed(0)

local a = dm.tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})   -- float data: 1.0, not 1 (int64)
print("a =", a)
print("size:", table.concat(a:size(), " x "), "  a[2][3] =", a:get(2, 3))

-- broadcasting arithmetic, views that share storage, reductions
print("a * 10 + [1, 2, 3] =", a * 10 + dm.tensor({1, 2, 3}))
print("a:t() =", a:t())
print("sum over dim 2:", a:sum(2), " mean:", a:mean():item())

-- matrix products go through OpenBLAS
local w = dm.randn(3, 2)
print("a @ w =", a:matmul(w))

-- autograd: gradients of a scalar with respect to leaf tensors
local x = dm.tensor({0.5, -1, 2}, {requires_grad = true})
local y = (x:sigmoid() * x):sum()
y:backward()
print("y =", y)
print("dy/dx =", x.grad)

-- bad input is a clear error, never a crash
local ok, msg = pcall(dm.matmul, dm.zeros(2, 3), dm.zeros(4, 5))
print("error:", msg)
