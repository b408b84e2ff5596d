-- Every function the C module exposes, as a Tensor method or a module function, is exercised
-- here at least once with an assertion; a new binding without an entry below fails the
-- "covers every binding" test.  Deeper checks live in the topic specs.
local dm = require "deepmoon"
local core = require "deepmoon.core"

local function close(a, b, tol)
  tol = tol or 1e-5
  if type(a) == "table" then
    assert.are.equal(#b, #a)
    for i = 1, #a do close(a[i], b[i], tol) end
    return
  end
  assert(math.abs(a - b) <= tol * math.max(1, math.abs(b)),
         string.format("expected %.9g, got %.9g", b, a))
end

local x = function () return dm.tensor({{1.0, -2.0}, {3.0, 4.0}}) end
local v = function () return dm.tensor({0.5, -1, 2}) end

-- name -> a check; methods are called on tensors, functions on the module
local methods = {
  abs = function () assert.are.same({0.5, 1, 2}, v():abs():totable()) end,
  add = function () assert.are.same({1.5, 0, 3}, v():add(1):totable()) end,
  add_ = function () assert.are.same({1.5, 0, 3}, v():add_(1):totable()) end,
  argmax = function () assert.are.equal(3, v():argmax():item()) end,
  argmin = function () assert.are.equal(2, v():argmin():item()) end,
  backward = function ()
    local t = v():requires_grad_(); (t * t):sum():backward(); assert.are.same({1, -2, 4}, t.grad:totable())
  end,
  bernoulli_ = function ()
    local t = dm.empty(1000):bernoulli_(0.25, {generator = dm.Generator(1)})
    close(t:mean():item(), 0.25, 0.2)
    assert.are.same({0, 1}, dm.tensor({0, 1}):clone():bernoulli_(1):mul(dm.tensor({0, 1})):totable())
  end,
  ceil = function () assert.are.same({1, -1, 2}, v():ceil():totable()) end,
  clamp = function () assert.are.same({0.5, 0, 1}, v():clamp(0, 1):totable()) end,
  clamp_ = function () assert.are.same({0.5, 0, 1}, v():clamp_(0, 1):totable()) end,
  clip = function () assert.are.same({0.5, -1, 1}, v():clip(nil, 1):totable()) end,
  clone = function () local a = v(); local c = a:clone(); c:fill_(0); assert.are.equal(0.5, a:get(1)) end,
  contiguous = function () assert.is_true(x():t():contiguous():is_contiguous()) end,
  copy_ = function () assert.are.same({1, 1, 1}, v():copy_(dm.ones(3)):totable()) end,
  cos = function () close(dm.tensor({0, math.pi}):cos():totable(), {1, -1}) end,
  detach = function () assert.is_false(v():requires_grad_():detach().requires_grad) end,
  dim = function () assert.are.equal(2, x():dim()) end,
  div = function () assert.are.same({0.25, -0.5, 1}, v():div(2):totable()) end,
  div_ = function () assert.are.same({0.25, -0.5, 1}, v():div_(2):totable()) end,
  elu = function () close(v():elu():totable(), {0.5, math.exp(-1) - 1, 2}) end,
  eq = function () assert.are.same({false, true, false}, v():eq(-1):totable()) end,
  exp = function () close(v():exp():totable(), {math.exp(0.5), math.exp(-1), math.exp(2)}) end,
  expand = function () assert.are.same({2, 3}, v():expand(2, 3):size()) end,
  expand_as = function () assert.are.same({4, 3}, v():expand_as(dm.zeros(4, 3)):size()) end,
  fill_ = function () assert.are.same({7, 7, 7}, v():fill_(7):totable()) end,
  flatten = function () assert.are.same({1, -2, 3, 4}, x():flatten():totable()) end,
  float = function () local a = v(); assert.are.equal(a, a:float()) end,
  double = function () local d = v():double(); assert.are.equal(dm.float64, d.dtype); assert.are.same(v():totable(), d:totable()) end,
  long = function () assert.are.same({0, -1, 2}, v():long():totable()) end,
  byte = function () assert.are.same({0, 255, 2}, v():byte():totable()) end,
  bool = function () assert.are.same({true, true, true}, v():bool():totable()) end,
  to = function () assert.are.equal(dm.int64, v():to(dm.int64).dtype); assert.are.equal(dm.float32, v():to("cpu").dtype) end,
  cpu = function () local a = v(); assert.are.equal(a, a:cpu()) end,
  element_size = function () assert.are.equal(4, v():element_size()); assert.are.equal(8, v():double():element_size()) end,
  is_floating_point = function () assert.is_true(v():is_floating_point()); assert.is_false(v():long():is_floating_point()) end,
  floor = function () assert.are.same({0, -1, 2}, v():floor():totable()) end,
  free = function () local a = v(); a:free(); assert.is_true(a:is_released()) end,
  ge = function () assert.are.same({true, false, true}, v():ge(0.5):totable()) end,
  gelu = function () close(dm.tensor({0.0, 1.0}):gelu():totable(), {0, 0.8413447460685429}) end,
  get = function () assert.are.equal(-2, x():get(1, 2)) end,
  gt = function () assert.are.same({false, false, true}, v():gt(0.5):totable()) end,
  index_select = function () assert.are.same({2, 0.5}, v():index_select(1, {3, 1}):totable()) end,
  index_put = function () assert.are.same({0, 5}, dm.zeros(2):index_put({dm.tensor({2}, {dtype = dm.int64})}, dm.tensor({5})):totable()) end,
  index_put_ = function () local z = dm.zeros(2); z:index_put_({dm.tensor({1, 1}, {dtype = dm.int64})}, dm.tensor({2, 3}), true); assert.are.same({5, 0}, z:totable()) end,
  masked_fill = function () assert.are.same({9, 2}, dm.tensor({1, 2}):masked_fill(dm.tensor({true, false}), 9):totable()) end,
  masked_fill_ = function () local z = dm.zeros(2); z:masked_fill_(dm.tensor({false, true}), 1); assert.are.same({0, 1}, z:totable()) end,
  masked_select = function () assert.are.same({2}, dm.tensor({1, 2}):masked_select(dm.tensor({false, true})):totable()) end,
  nonzero = function () assert.are.same({{2}}, dm.tensor({0, 3}):nonzero():totable()) end,
  is_contiguous = function () assert.is_false(x():t():is_contiguous()) end,
  is_released = function () assert.is_false(v():is_released()) end,
  item = function () assert.are.equal(4, x():max():item()) end,
  le = function () assert.are.same({true, true, false}, v():le(0.5):totable()) end,
  leaky_relu = function () close(v():leaky_relu(0.1):totable(), {0.5, -0.1, 2}) end,
  log = function () close(dm.tensor({1, math.exp(2)}):log():totable(), {0, 2}) end,
  log1p = function () close(dm.tensor({0, math.exp(1) - 1}):log1p():totable(), {0, 1}) end,
  log_softmax = function () close(dm.tensor({0.0, 0.0}):log_softmax(1):totable(), {-math.log(2), -math.log(2)}) end,
  lt = function () assert.are.same({false, true, false}, v():lt(0.5):totable()) end,
  matmul = function () assert.are.same({{-5, -6}, {15, 22}}, x():matmul(x():abs()):totable()) end,
  max = function () local m, i = x():max(1); assert.are.same({3, 4}, m:totable()); assert.are.same({2, 2}, i:totable()) end,
  maximum = function () assert.are.same({0.5, 0, 2}, v():maximum(dm.zeros(3)):totable()) end,
  mean = function () close(v():mean():item(), 0.5) end,
  min = function () assert.are.equal(-2, x():min():item()) end,
  minimum = function () assert.are.same({0, -1, 0}, v():minimum(dm.zeros(3)):totable()) end,
  mm = function () assert.are.same({{1, -2}, {3, 4}}, x():mm(dm.eye(2)):totable()) end,
  mul = function () assert.are.same({1, -2, 4}, v():mul(2):totable()) end,
  mul_ = function () assert.are.same({1, -2, 4}, v():mul_(2):totable()) end,
  narrow = function () assert.are.same({-1, 2}, v():narrow(1, 2, 2):totable()) end,
  ne = function () assert.are.same({true, false, true}, v():ne(-1):totable()) end,
  neg = function () assert.are.same({-0.5, 1, -2}, v():neg():totable()) end,
  nelement = function () assert.are.equal(4, x():nelement()) end,
  normal_ = function () local t = dm.empty(5000):normal_(1, 2); close(t:mean():item(), 1, 0.15) end,
  numel = function () assert.are.equal(3, v():numel()) end,
  numpy = function () assert.has_error(function () v():numpy() end) end,
  permute = function () assert.are.same({3, 1, 2}, dm.zeros(1, 2, 3):permute(3, 1, 2):size()) end,
  pow = function () assert.are.same({0.25, 1, 4}, v():pow(2):totable()) end,
  prod = function () assert.are.equal(-1, v():prod():item()) end,
  reciprocal = function () assert.are.same({2, -1, 0.5}, v():reciprocal():totable()) end,
  relu = function () assert.are.same({0.5, 0, 2}, v():relu():totable()) end,
  requires_grad_ = function () assert.is_true(v():requires_grad_().requires_grad) end,
  reshape = function () assert.are.same({4}, x():t():reshape(-1):size()) end,
  register_hook = function ()
    local a = v():requires_grad_(); a:register_hook(function (g) return g * 2 end)
    a:sum():backward(); assert.are.same({2, 2, 2}, a.grad:totable())
  end,
  retain_grad = function ()
    local a = v():requires_grad_(); local b = a * 2; b:retain_grad(); b:sum():backward()
    assert.are.same({1, 1, 1}, b.grad:totable())
  end,
  round = function () assert.are.same({0, -1, 2}, v():round():totable()) end,
  select = function () assert.are.same({3, 4}, x():select(1, 2):totable()) end,
  selu = function () close(dm.tensor({1.0}):selu():item(), 1.0507009873554805) end,
  set = function () local a = x(); a:set(2, 1, 9); assert.are.equal(9, a:get(2, 1)) end,
  sigmoid = function () close(dm.tensor({0}):sigmoid():item(), 0.5) end,
  sign = function () assert.are.same({1, -1, 1}, v():sign():totable()) end,
  sin = function () close(dm.tensor({0, math.pi / 2}):sin():totable(), {0, 1}) end,
  size = function () assert.are.same({2, 2}, x():size()) end,
  size_str = function () assert.are.equal("[2 x 2]", x():size_str()) end,
  softmax = function () close(dm.tensor({0.0, 0.0}):softmax(1):totable(), {0.5, 0.5}) end,
  sqrt = function () assert.are.same({2, 3}, dm.tensor({4, 9}):sqrt():totable()) end,
  square = function () assert.are.same({0.25, 1, 4}, v():square():totable()) end,
  squeeze = function () assert.are.same({3}, dm.zeros(1, 3):squeeze():size()) end,
  std = function () close(dm.tensor({1.0, 3.0}):std():item(), math.sqrt(2)) end,
  storage_id = function () local a = v(); assert.are.equal(a:storage_id(), a:view(3, 1):storage_id()) end,
  stride = function () assert.are.same({1, 2}, x():t():stride()) end,
  sub = function () assert.are.same({-0.5, -2, 1}, v():sub(1):totable()) end,
  sub_ = function () assert.are.same({-0.5, -2, 1}, v():sub_(1):totable()) end,
  sum = function () assert.are.same({4, 2}, x():sum(1):totable()) end,
  t = function () assert.are.same({{1, 3}, {-2, 4}}, x():t():totable()) end,
  tanh = function () close(dm.tensor({0}):tanh():item(), 0) end,
  tolist = function () assert.are.same({{1, -2}, {3, 4}}, x():tolist()) end,
  tostring = function () assert.are.equal("tensor([ 0.5000, -1.0000,  2.0000])", v():tostring()) end,
  totable = function () assert.are.same({0.5, -1, 2}, v():totable()) end,
  transpose = function () assert.are.same({{1, 3}, {-2, 4}}, x():transpose(1, 2):totable()) end,
  type = function () assert.are.equal("deepmoon.FloatTensor", v():type()); assert.are.equal("deepmoon.LongTensor", v():type(dm.int64):type()) end,
  uniform_ = function () local t = dm.empty(1000):uniform_(2, 3); assert.is_true(t:min():item() >= 2) end,
  unsqueeze = function () assert.are.same({3, 1}, v():unsqueeze(2):size()) end,
  values = function () assert.are.same({1, -2, 3, 4}, x():values()) end,
  var = function () close(dm.tensor({1.0, 3.0}):var():item(), 2) end,
  view = function () assert.are.same({4, 1}, x():view(4, 1):size()) end,
  zero_ = function () assert.are.same({0, 0, 0}, v():zero_():totable()) end,
  amax = function () assert.are.same({3, 4}, x():amax(1):totable()) end,
  amin = function () assert.are.equal(-2, x():amin({1, 2}):item()) end,
  logsumexp = function () close(dm.tensor({0.0, 0.0}):logsumexp(1):item(), math.log(2)) end,
  norm = function () close(dm.tensor({3.0, -4.0}):norm():item(), 5) end,
  any = function () assert.is_true(dm.tensor({0, 1}):any():item()) end,
  all = function () assert.is_false(dm.tensor({0, 1}):all():item()) end,
  isnan = function () assert.are.same({false, true}, dm.tensor({1.0, 0/0}):isnan():totable()) end,
  isinf = function () assert.are.same({true, false}, dm.tensor({1/0, 0/0}):isinf():totable()) end,
  isfinite = function () assert.are.same({true, false}, dm.tensor({1.0, 0/0}):isfinite():totable()) end,
  nan_to_num = function () assert.are.same({0, 1}, dm.tensor({0/0, 1.0}):nan_to_num():totable()) end,
  bitwise_and = function () assert.are.same({3, 2}, dm.tensor({3, 6}):bitwise_and(3):totable()) end,
  bitwise_or = function () assert.are.same({3, 7}, dm.tensor({3, 6}):bitwise_or(1):totable()) end,
  bitwise_xor = function () assert.are.same({2, 7}, dm.tensor({3, 6}):bitwise_xor(1):totable()) end,
  bitwise_not = function () assert.are.same({-4, 5}, dm.tensor({3, -6}):bitwise_not():totable()) end,
  logical_and = function () assert.are.same({false, true}, dm.tensor({0, 2}):logical_and(dm.tensor({1, 1})):totable()) end,
  logical_or = function () assert.are.same({false, true}, dm.tensor({0, 2}):logical_or(dm.tensor({0, 0})):totable()) end,
  logical_xor = function () assert.are.same({true, false}, dm.tensor({0, 2}):logical_xor(dm.tensor({1, 1})):totable()) end,
  logical_not = function () assert.are.same({true, false}, dm.tensor({0, 2}):logical_not():totable()) end,
  floor_divide = function () assert.are.same({-2, 1}, dm.tensor({-3, 3}):floor_divide(2):totable()) end,
  remainder = function () assert.are.same({1, 1}, dm.tensor({-3, 3}):remainder(2):totable()) end,
  fmod = function () assert.are.same({-1, 1}, dm.tensor({-3, 3}):fmod(2):totable()) end,
  -- ops_index (tests/ops_index_spec.lua has the PyTorch fixtures)
  gather = function () assert.are.same({{1, 1}, {4, 3}}, x():gather(2, dm.tensor({{1, 1}, {2, 1}}, {dtype = dm.int64})):totable()) end,
  scatter = function () assert.are.same({0, 7, 0}, dm.zeros(3):scatter(1, dm.tensor({2}, {dtype = dm.int64}), 7):totable()) end,
  scatter_ = function () assert.are.same({0, 9, 0}, dm.zeros(3):scatter_(1, dm.tensor({2}, {dtype = dm.int64}), dm.tensor({9.0})):totable()) end,
  scatter_add = function () assert.are.same({0, 2, 0}, dm.zeros(3):scatter_add(1, dm.tensor({2, 2}, {dtype = dm.int64}), dm.ones(2)):totable()) end,
  scatter_add_ = function () assert.are.same({1, 0, 0}, dm.zeros(3):scatter_add_(1, dm.tensor({1}, {dtype = dm.int64}), dm.ones(1)):totable()) end,
  index_add = function () assert.are.same({2, 0, 0}, dm.zeros(3):index_add(1, dm.tensor({1}, {dtype = dm.int64}), dm.ones(1), {alpha = 2}):totable()) end,
  index_add_ = function () assert.are.same({0, 0, 1}, dm.zeros(3):index_add_(1, dm.tensor({3}, {dtype = dm.int64}), dm.ones(1)):totable()) end,
  bincount = function () assert.are.same({1, 0, 2}, dm.tensor({3, 1, 3}, {dtype = dm.int64}):bincount():totable()) end,
  one_hot = function () assert.are.same({{0, 1}}, dm.tensor({2}, {dtype = dm.int64}):one_hot(2):totable()) end,
  unique = function () assert.are.same({-1, 0.5, 2}, v():unique():totable()) end,
  sort = function () local s, i = v():sort(); assert.are.same({-1, 0.5, 2}, s:totable()); assert.are.same({2, 1, 3}, i:totable()) end,
  argsort = function () assert.are.same({3, 1, 2}, v():argsort({descending = true}):totable()) end,
  topk = function () local s, i = v():topk(1); assert.are.same({2}, s:totable()); assert.are.same({3}, i:totable()) end,
  kthvalue = function () local s, i = v():kthvalue(2); assert.are.equal(0.5, s:item()); assert.are.equal(1, i:item()) end,
  cumsum = function () assert.are.same({0.5, -0.5, 1.5}, v():cumsum(1):totable()) end,
  cumprod = function () assert.are.same({0.5, -0.5, -1}, v():cumprod(1):totable()) end,
  multinomial = function () assert.are.same({2}, dm.tensor({0.0, 1.0}):multinomial(1):totable()) end,
  bernoulli = function () assert.are.same({0, 1}, dm.tensor({0.0, 1.0}):bernoulli():totable()) end,
  -- products, diagonals and shape ops (tests/ops_shape_spec.lua)
  bmm = function () assert.are.same({{{7}}}, dm.ones(1, 1, 7):bmm(dm.ones(1, 7, 1)):totable()) end,
  baddbmm = function () assert.are.same({{{9}}}, dm.ones(1, 1, 1):baddbmm(dm.ones(1, 1, 2), dm.ones(1, 2, 1), {beta = 3, alpha = 3}):totable()) end,
  addmm = function () assert.are.same({{5}}, dm.ones(1):addmm(dm.ones(1, 2), dm.ones(2, 1), {alpha = 2}):totable()) end,
  outer = function () assert.are.same({{0.5, -1, 2}}, dm.ones(1):outer(v()):totable()) end,
  ger = function () assert.are.same({{0.5, -1, 2}}, dm.ones(1):ger(v()):totable()) end,
  diag = function () assert.are.same({1, 4}, x():diag():totable()) end,
  diagonal = function () assert.are.same({-2}, x():diagonal(1):totable()) end,
  trace = function () assert.are.equal(5, x():trace():item()) end,
  tril = function () assert.are.same({{1, 0}, {3, 4}}, x():tril():totable()) end,
  triu = function () assert.are.same({{0, -2}, {0, 0}}, x():triu(1):totable()) end,
  ["repeat"] = function () assert.are.same({0.5, -1, 2, 0.5, -1, 2}, v()["repeat"](v(), 2):totable()) end,
  repeat_tensor = function () assert.are.same({2, 6}, v():repeat_tensor(2, 2):size()) end,
  tile = function () assert.are.same({{1, -2, 1, -2}, {3, 4, 3, 4}}, x():tile(2):totable()) end,
  chunk = function () assert.are.same({2, 1}, { v():chunk(2)[1]:numel(), v():chunk(2)[2]:numel() }) end,
  split = function () assert.are.same({{0.5}, {-1, 2}}, { v():split({1, 2})[1]:totable(), v():split({1, 2})[2]:totable() }) end,
  unbind = function () assert.are.same({3, 4}, x():unbind()[2]:totable()) end,
  flip = function () assert.are.same({2, -1, 0.5}, v():flip(1):totable()) end,
  roll = function () assert.are.same({2, 0.5, -1}, v():roll(1):totable()) end,
  narrow_copy = function () assert.are.same({-1, 2}, v():narrow_copy(1, 2, 2):totable()) end,
  movedim = function () assert.are.same({{1, 3}, {-2, 4}}, x():movedim(1, 2):totable()) end,
  type_as = function () assert.are.equal(dm.int64, v():type_as(dm.tensor({1})).dtype) end,
  trunc = function () assert.are.same({0, -1, 2}, v():trunc():totable()) end,
  fix = function () assert.are.same({0, -1, 2}, v():fix():totable()) end,
  frac = function () assert.are.same({0.5, 0, 0}, v():frac():totable()) end,
  expm1 = function () close(v():expm1():totable(), {math.exp(0.5) - 1, math.exp(-1) - 1, math.exp(2) - 1}) end,
  log2 = function () assert.are.same({-1, 3}, dm.tensor({0.5, 8}):log2():totable()) end,
  log10 = function () assert.are.same({-1, 2}, dm.tensor({0.1, 100}):log10():totable()) end,
  exp2 = function () close(v():exp2():totable(), {math.sqrt(2), 0.5, 4}) end,
  rsqrt = function () close(dm.tensor({4, 0.25}):rsqrt():totable(), {0.5, 2}) end,
  tan = function () close(dm.tensor({0, math.pi / 4}):tan():totable(), {0, 1}) end,
  asin = function () close(dm.tensor({0, 1}):asin():totable(), {0, math.pi / 2}) end,
  acos = function () close(dm.tensor({1, 0}):acos():totable(), {0, math.pi / 2}) end,
  atan = function () close(dm.tensor({0, 1}):atan():totable(), {0, math.pi / 4}) end,
  sinh = function () close(dm.tensor({0, 1}):sinh():totable(), {0, (math.exp(1) - math.exp(-1)) / 2}) end,
  cosh = function () close(dm.tensor({0, 1}):cosh():totable(), {1, (math.exp(1) + math.exp(-1)) / 2}) end,
  asinh = function () close(dm.tensor({0, 1}):asinh():totable(), {0, math.log(1 + math.sqrt(2))}) end,
  acosh = function () close(dm.tensor({1, 2}):acosh():totable(), {0, math.log(2 + math.sqrt(3))}) end,
  atanh = function () close(dm.tensor({0, 0.5}):atanh():totable(), {0, 0.5 * math.log(3)}) end,
  erf = function () close(dm.tensor({0, 1}):erf():totable(), {0, 0.8427007929497149}) end,
  erfc = function () close(dm.tensor({0, 1}):erfc():totable(), {1, 0.15729920705028513}) end,
  deg2rad = function () close(dm.tensor({180, -90}):deg2rad():totable(), {math.pi, -math.pi / 2}) end,
  rad2deg = function () close(dm.tensor({math.pi, -math.pi / 2}):rad2deg():totable(), {180, -90}) end,
  sgn = function () assert.are.same({1, -1, 1}, v():sgn():totable()) end,
  -- bmath (tests/binary_math_spec.lua has the PyTorch fixtures)
  atan2 = function () close(dm.tensor({1.0, 0}):atan2(dm.tensor({1.0, -1})):totable(), {math.pi / 4, math.pi}) end,
  hypot = function () close(dm.tensor({3.0}):hypot(4):totable(), {5}) end,
  xlogy = function () close(dm.tensor({0.0, 2}):xlogy(dm.tensor({0.0, math.exp(1)})):totable(), {0, 2}) end,
  logaddexp = function () close(dm.tensor({0.0}):logaddexp(0):totable(), {math.log(2)}) end,
  logaddexp2 = function () close(dm.tensor({1.0}):logaddexp2(1):totable(), {2}) end,
  copysign = function () assert.are.same({-1, -2}, dm.tensor({1.0, -2}):copysign(-1):totable()) end,
  fmax = function () assert.are.same({1, 2}, dm.tensor({0 / 0, 2}):fmax(dm.tensor({1.0, 0 / 0})):totable()) end,
  fmin = function () assert.are.same({1, 0}, dm.tensor({0 / 0, 0}):fmin(dm.tensor({1.0, 2})):totable()) end,
  heaviside = function () assert.are.same({0, 0.5, 1}, dm.tensor({-2.0, 0, 3}):heaviside(0.5):totable()) end,
  lerp = function () close(dm.tensor({1.0, 2}):lerp(dm.tensor({3.0, 6}), 0.25):totable(), {1.5, 3}) end,
  float_power = function () local y = dm.tensor({2, 3}):float_power(2); assert.are.equal(dm.float64, y.dtype); assert.are.same({4, 9}, y:totable()) end,
  atan2_ = function () close(dm.tensor({1.0}):atan2_(1):totable(), {math.pi / 4}) end,
  hypot_ = function () close(dm.tensor({3.0}):hypot_(4):totable(), {5}) end,
  xlogy_ = function () close(dm.tensor({2.0}):xlogy_(math.exp(1)):totable(), {2}) end,
  copysign_ = function () assert.are.same({-3}, dm.tensor({3.0}):copysign_(-1):totable()) end,
  heaviside_ = function () assert.are.same({0, 7, 1}, dm.tensor({-1, 0, 2}):heaviside_(7):totable()) end,
  lerp_ = function () close(dm.tensor({1.0}):lerp_(dm.tensor({3.0}), 0.5):totable(), {2}) end,
  float_power_ = function () assert.are.same({8}, dm.tensor({2.0}, { dtype = dm.float64 }):float_power_(3):totable()) end,
  ravel = function () assert.are.same({1, 3, -2, 4}, x():t():ravel():totable()) end,
  broadcast_to = function () assert.are.same({2, 3}, v():broadcast_to({2, 3}):size()) end,
  fliplr = function () assert.are.same({{-2, 1}, {4, 3}}, x():fliplr():totable()) end,
  flipud = function () assert.are.same({{3, 4}, {1, -2}}, x():flipud():totable()) end,
  rot90 = function () assert.are.same({{-2, 4}, {1, 3}}, x():rot90():totable()) end,
  dot = function () assert.are.equal(5.25, v():dot(v()):item()) end,
  vdot = function () assert.are.equal(5.25, v():vdot(v()):item()) end,
  mv = function () assert.are.same({-3, 11}, x():mv(dm.tensor({1.0, 2.0})):totable()) end,
  inner = function () assert.are.same({-3, 11}, x():inner(dm.tensor({1.0, 2.0})):totable()) end,
  kron = function () assert.are.same({0.5, 1, -1, -2, 2, 4}, v():kron(dm.tensor({1.0, 2.0})):totable()) end,
  cross = function () assert.are.same({0, 0, 1}, dm.tensor({1.0, 0, 0}):cross(dm.tensor({0.0, 1, 0})):totable()) end,
  diff = function () assert.are.same({-1.5, 3}, v():diff():totable()) end,
  diag_embed = function () assert.are.same({{0.5, 0, 0}, {0, -1, 0}, {0, 0, 2}}, v():diag_embed():totable()) end,
  repeat_interleave = function () assert.are.same({0.5, 0.5, -1, -1, 2, 2}, v():repeat_interleave(2):totable()) end,
  nansum = function () assert.are.same({1.5, 2}, dm.tensor({{0.5, 0 / 0}, {1, 2}}):nansum(1):totable()) end,
  nanmean = function () assert.are.same({0.5, 1.5}, dm.tensor({{0.5, 0 / 0}, {1, 2}}):nanmean(2):totable()) end,
  count_nonzero = function () assert.are.same({0, 2}, dm.tensor({{0, 3}, {0, 4}}):count_nonzero(1):totable()) end,
  isclose = function () assert.are.same({true, false}, v():narrow(1, 1, 2):isclose(dm.tensor({0.5, -1.1})):totable()) end,
  allclose = function () assert.is_true(v():allclose(v() + 1e-9)); assert.is_false(v():allclose(v() + 1)) end,
  equal = function () assert.is_true(x():equal(x())); assert.is_false(x():equal(x():t())) end,
  aminmax = function () local lo, hi = x():aminmax({dim = 2}); assert.are.same({-2, 3}, lo:totable()); assert.are.same({1, 4}, hi:totable()) end,
  std_mean = function () local s, m = v():std_mean(); close(s:item(), math.sqrt(2.25)); close(m:item(), 0.5) end,
  var_mean = function () local s, m = v():var_mean({correction = 0}); close(s:item(), 1.5); close(m:item(), 0.5) end,
  median = function () assert.are.equal(0.5, v():median():item()); local m, i = x():median(2); assert.are.same({-2, 3}, m:totable()); assert.are.same({2, 1}, i:totable()) end,
  nanmedian = function () assert.are.equal(2, dm.tensor({0 / 0, 2, 3}):nanmedian():item()) end,
  quantile = function () close(dm.tensor({1.0, 2.0, 3.0, 4.0}):quantile(0.5):item(), 2.5) end,
  nanquantile = function () close(dm.tensor({1.0, 0 / 0, 3.0}):nanquantile(0.25):item(), 1.5) end,
  cummax = function () local m, i = v():cummax(1); assert.are.same({0.5, 0.5, 2}, m:totable()); assert.are.same({1, 1, 3}, i:totable()) end,
  cummin = function () local m, i = v():cummin(1); assert.are.same({0.5, -1, -1}, m:totable()); assert.are.same({1, 2, 2}, i:totable()) end,
  logcumsumexp = function () close(dm.tensor({0.0, 0.0}):logcumsumexp(1):totable(), {0, math.log(2)}) end,
  msort = function () assert.are.same({{2, 1}, {3, 2}}, dm.tensor({{3, 1}, {2, 2}}):msort():totable()) end,
  take = function () assert.are.same({{4, -2}}, x():take(dm.tensor({{4, 2}})):totable()) end,
  take_along_dim = function () assert.are.same({{-2}, {3}}, x():take_along_dim(dm.tensor({{2}, {1}}), 2):totable()) end,
  index_fill = function () assert.are.same({{0, -2}, {0, 4}}, x():index_fill(2, dm.tensor({1}), 0):totable()) end,
  index_fill_ = function () local t = x(); assert.are.equal(t, t:index_fill_(1, dm.tensor({2}), 7)); assert.are.same({{1, -2}, {7, 7}}, t:totable()) end,
  index_copy = function () assert.are.same({{1, -2}, {5, 6}}, x():index_copy(1, dm.tensor({2}), dm.tensor({{5.0, 6.0}})):totable()) end,
  index_copy_ = function () local t = v(); t:index_copy_(1, dm.tensor({3, 1}), dm.tensor({7.0, 8.0})); assert.are.same({8, -1, 7}, t:totable()) end,
  masked_scatter = function () assert.are.same({9, -1, 8}, v():masked_scatter(v():gt(0), dm.tensor({9.0, 8.0})):totable()) end,
  masked_scatter_ = function () local t = v(); t:masked_scatter_(v():lt(0), dm.tensor({5.0})); assert.are.same({0.5, 5, 2}, t:totable()) end,
  argwhere = function () assert.are.same({{1}, {3}}, v():gt(0):argwhere():totable()) end,
  unflatten = function () assert.are.same({2, 1, 2}, x():unflatten(2, {1, 2}):size()) end,
  tensor_split = function () local a, b = v():tensor_split({1}); assert.are.same({0.5}, a:totable()); assert.are.same({-1, 2}, b:totable()) end,
  hsplit = function () local a, b = x():hsplit(2); assert.are.same({{1}, {3}}, a:totable()); assert.are.same({{-2}, {4}}, b:totable()) end,
  vsplit = function () local a, b = x():vsplit({1}); assert.are.same({{1, -2}}, a:totable()); assert.are.same({{3, 4}}, b:totable()) end,
  dsplit = function () local a, b = x():view(1, 2, 2):dsplit(2); assert.are.same({{{1}, {3}}}, a:totable()); assert.are.same({{{-2}, {4}}}, b:totable()) end,
  unique_consecutive = function () local u, c = dm.tensor({1, 1, 2, 1}):unique_consecutive({return_counts = true}); assert.are.same({1, 2, 1}, u:totable()); assert.are.same({2, 1, 1}, c:totable()) end,
  is_nonzero = function () assert.is_true(dm.tensor({2.0}):is_nonzero()); assert.is_false(dm.tensor(0):is_nonzero()) end,
  -- special functions (tests/special_spec.lua has the PyTorch fixtures)
  lgamma = function () close(dm.tensor({0.5, 3}):lgamma():totable(), {0.5 * math.log(math.pi), math.log(2)}) end,
  digamma = function () close(dm.tensor({1, 0.5}):digamma():totable(), {-0.5772156649, -0.5772156649 - 2 * math.log(2)}) end,
  erfinv = function () close(dm.tensor({0, 0.8427007929497149}):erfinv():totable(), {0, 1}) end,
  logit = function () close(dm.tensor({0.5, 0.75, 1}):logit(0.25):totable(), {0, math.log(3), math.log(3)}) end,
  sinc = function () close(dm.tensor({0, 0.5}):sinc():totable(), {1, 2 / math.pi}) end,
  isposinf = function () assert.are.same({true, false, false}, dm.tensor({1/0, -1/0, 1}):isposinf():totable()) end,
  isneginf = function () assert.are.same({false, true, false}, dm.tensor({1/0, -1/0, 1}):isneginf():totable()) end,
  signbit = function () assert.are.same({true, false, true}, dm.tensor({-0.0, 0.0, -2}):signbit():totable()) end,
}

local function tmpfile(ext) return os.tmpname() .. ext end

local functions = {
  Generator = function () local g = dm.Generator(3); assert.are.equal(3, g:initial_seed()) end,
  adam_step = function ()
    local p, g = dm.tensor({1.0}), dm.tensor({0.5})
    core.adam_step(p, g, dm.zeros(1), dm.zeros(1), nil, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, false)
    close(p:item(), 0.9, 1e-6)
  end,
  arange = function () assert.are.same({0, 1, 2}, dm.arange(3):totable()) end,
  batch_norm = function ()
    local y = core.batch_norm(dm.tensor({{1.0}, {3.0}}), nil, nil, nil, nil, true, 0.1, 0)
    close(y:totable(), {{-1}, {1}})
  end,
  layer_norm = function ()
    close(core.layer_norm(dm.tensor({{1.0, 3.0}}), {2}, nil, nil, 0):totable(), {{-1, 1}})
  end,
  group_norm = function ()
    close(core.group_norm(dm.tensor({{1.0, 3.0}}), 1, nil, nil, 0):totable(), {{-1, 1}})
  end,
  bce_loss = function () close(core.bce_loss(dm.tensor({0.5}), dm.tensor({1.0}), nil, "mean"):item(), math.log(2)) end,
  bce_with_logits_loss = function ()
    close(core.bce_with_logits_loss(dm.tensor({0.0}), dm.tensor({1.0}), nil, nil, "mean"):item(), math.log(2))
  end,
  blas_info = function () assert.are.equal("string", type(dm.blas_info())) end,
  cat = function () assert.are.same({1, 2}, dm.cat({dm.tensor({1}), dm.tensor({2})}):totable()) end,
  clock = function () local a = dm.clock(); assert.is_true(dm.clock() >= a) end,
  cross_entropy = function ()
    close(core.cross_entropy(dm.zeros(1, 4), dm.tensor({2}), nil, "mean", -100, 0):item(), math.log(4))
  end,
  dropout = function () assert.are.same({0, 0}, core.dropout(dm.ones(2), 1, true):totable()) end,
  pad = function () assert.are.same({0, 1, 2, 0}, core.pad(dm.tensor({1.0, 2.0}), {1, 1}):totable()) end,
  empty = function () assert.are.same({2, 1}, dm.empty(2, 1):size()) end,
  empty_cache = function () dm.empty_cache(); assert.is_true(dm.memory_cached() >= 0) end,
  empty_like = function () assert.are.same({2, 2}, dm.empty_like(x()):size()) end,
  eye = function () assert.are.same({{1, 0}, {0, 1}}, dm.eye(2):totable()) end,
  full = function () assert.are.same({3, 3}, dm.full({2}, 3):totable()) end,
  full_like = function () assert.are.same({5, 5, 5}, dm.full_like(v(), 5):totable()) end,
  get_num_threads = function () assert.is_true(dm.get_num_threads() >= 1) end,
  get_rng_state = function ()
    local s = dm.get_rng_state(); local a = dm.rand(3):totable()
    dm.set_rng_state(s); assert.are.same(a, dm.rand(3):totable())
  end,
  has_grad = function ()
    local t = v():requires_grad_()
    assert.is_false(core.has_grad(t))
    t:sum():backward()
    assert.is_true(core.has_grad(t))
  end,
  zero_grads = function ()
    local a, b = v():requires_grad_(), x():requires_grad_()
    ;(a:sum() + b:sum()):backward()
    core.zero_grads({a, b})
    assert.are.same({0, 0, 0}, a.grad:totable())
    assert.are.same({{0, 0}, {0, 0}}, b.grad:totable())
  end,
  have_blas = function () assert.are.equal("boolean", type(dm.have_blas())) end,
  huber_loss = function () close(core.huber_loss(dm.tensor({3.0}), dm.tensor({0.0}), "mean", 1):item(), 2.5) end,
  initial_seed = function () dm.manual_seed(11); assert.are.equal(11, dm.initial_seed()) end,
  is_grad_enabled = function () assert.is_true(dm.is_grad_enabled()) end,
  l1_loss = function () assert.are.equal(2, core.l1_loss(dm.tensor({1.0, -3.0}), dm.zeros(2), "mean"):item()) end,
  linear = function () assert.are.same({{5}}, dm.linear(dm.tensor({{1, 2}}), dm.tensor({{1, 1}}), dm.tensor({2})):totable()) end,
  linspace = function () assert.are.same({0, 0.5, 1}, dm.linspace(0, 1, 3):totable()) end,
  live_tensors = function () local n = dm.live_tensors(); local t = dm.zeros(1); assert.are.equal(n + 1, dm.live_tensors()); t:free() end,
  manual_seed = function () dm.manual_seed(5); local a = dm.rand(2):totable(); dm.manual_seed(5); assert.are.same(a, dm.rand(2):totable()) end,
  memory = function () local t = dm.zeros(16); assert.is_true(dm.memory() > 0); t:free() end,
  memory_cached = function () assert.are.equal("number", math.type(dm.memory_cached()) and "number") end,
  mse_loss = function () assert.are.equal(5, core.mse_loss(dm.tensor({1.0, 3.0}), dm.zeros(2), "mean"):item()) end,
  nll_loss = function () assert.are.equal(2, core.nll_loss(dm.tensor({{-1.0, -2.0}}), dm.tensor({2}), nil, "mean", -100):item()) end,
  npy_save = function ()
    local p = tmpfile(".npy"); dm.save_npy(p, x()); assert.are.same(x():totable(), dm.load_npy(p):totable()); os.remove(p)
  end,
  npy_load = function () local t, msg = dm.load_npy("/nonexistent/x.npy"); assert.is_nil(t); assert.is_string(msg) end,
  idx_load = function () local t, msg = dm.data.read_idx("/nonexistent/x.idx"); assert.is_nil(t); assert.is_string(msg) end,
  pt_load = function () local t, msg = core.pt_load("/nonexistent/x.pt"); assert.is_nil(t); assert.is_string(msg) end,
  pt_save = function ()
    local p = tmpfile(".pt"); assert.is_true(core.pt_save(p, { w = x() })); assert.are.same(x():totable(), dm.load(p).w:totable()); os.remove(p)
  end,
  ones = function () assert.are.same({1, 1}, dm.ones(2):totable()) end,
  ones_like = function () assert.are.same({1, 1, 1}, dm.ones_like(v()):totable()) end,
  rand = function () local t = dm.rand(100); assert.is_true(t:min():item() >= 0 and t:max():item() < 1) end,
  rand_like = function () assert.are.same({3}, dm.rand_like(v()):size()) end,
  randint = function () local t = dm.randint(0, 2, {100}); assert.are.equal(dm.int64, t.dtype); assert.is_true(t:float():max():item() <= 1) end,
  randn = function () assert.are.same({2, 3}, dm.randn(2, 3):size()) end,
  randn_like = function () assert.are.same({2, 2}, dm.randn_like(x()):size()) end,
  randperm = function () local p = dm.randperm(4):totable(); table.sort(p); assert.are.same({1, 2, 3, 4}, p) end,
  safetensors_save = function ()
    local p = tmpfile(".safetensors"); dm.save(p, {w = x()})
    local t = dm.load(p); assert.are.same(x():totable(), t.w:totable()); os.remove(p)
  end,
  safetensors_load = function () local t, msg = dm.load("/nonexistent/m.safetensors"); assert.is_nil(t); assert.is_string(msg) end,
  set_default_dtype = function () dm.set_default_dtype(dm.float64); assert.are.equal(dm.float64, dm.get_default_dtype()); dm.set_default_dtype(dm.float32) end,
  get_default_dtype = function () assert.are.equal(dm.float32, dm.get_default_dtype()) end,
  promote_types = function () assert.are.equal(dm.float32, dm.promote_types(dm.int64, dm.float32)); assert.are.equal(dm.int64, dm.promote_types(dm.bool, dm.int64)) end,
  set_grad_enabled = function () local prev = dm.set_grad_enabled(false); assert.is_false(dm.is_grad_enabled()); dm.set_grad_enabled(prev) end,
  set_num_threads = function () local n = dm.get_num_threads(); dm.set_num_threads(1); assert.are.equal(1, dm.get_num_threads()); dm.set_num_threads(n) end,
  set_rng_state = function () local s = dm.get_rng_state(); dm.rand(5); dm.set_rng_state(s); assert.are.equal(s, dm.get_rng_state()) end,
  set_use_blas = function () dm.set_use_blas(false); assert.are.same({{1, -2}, {3, 4}}, x():matmul(dm.eye(2)):totable()); dm.set_use_blas(true) end,
  sgd_step = function () local p = dm.tensor({1.0}); core.sgd_step(p, dm.tensor({2.0}), nil, 0.1, 0, 0, 0, false, false, true); close(p:item(), 0.8) end,
  smooth_l1_loss = function () close(core.smooth_l1_loss(dm.tensor({0.5}), dm.zeros(1), "mean", 1):item(), 0.125) end,
  stack = function () assert.are.same({{1}, {2}}, dm.stack({dm.tensor({1}), dm.tensor({2})}):totable()) end,
  tensor = function () assert.are.same({{1, 2}}, dm.tensor({{1, 2}}):totable()) end,
  where = function () assert.are.same({1, 0}, dm.where(dm.tensor({1, 0}):bool(), 1, 0):totable()) end,
  zeros = function () assert.are.same({0, 0}, dm.zeros(2):totable()) end,
  zeros_like = function () assert.are.same({0, 0, 0}, dm.zeros_like(v()):totable()) end,
  normal = function () assert.are.same({2, 3}, dm.normal(0, 1, {2, 3}):size()); assert.are.same({1.5}, dm.normal(dm.tensor({1.5}), 0):totable()) end,
  randint_like = function () assert.are.same({4, 4}, dm.randint_like(dm.zeros(2), 4, 5):totable()) end,
  einsum = function () assert.are.same({{1, 3}, {-2, 4}}, dm.einsum("ij->ji", x()):totable()) end,
  upsample = function ()
    assert.are.same({1, 1, 2, 2}, core.upsample(dm.tensor({1.0, 2.0}):view(1, 1, 2), {4}):view(4):totable())
  end,
  conv = function ()
    assert.are.same({{3, 5}}, core.conv(dm.tensor({{1.0, 2.0, 3.0}}), dm.ones(1, 1, 2),
                                          dm.tensor({0.0}), {1}, {0}, {1}, 1):totable())
  end,
  max_pool2d = function ()
    local y, i = core.max_pool2d(dm.arange(4):float():view(1, 2, 2), {2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true)
    assert.are.same({{{3}}}, y:totable()); assert.are.same({{{4}}}, i:totable())
  end,
  avg_pool2d = function ()
    assert.are.same({{{1.5}}}, core.avg_pool2d(dm.arange(4):float():view(1, 2, 2), {2, 2}, {2, 2}, {0, 0}, false, true):totable())
  end,
  adaptive_avg_pool2d = function ()
    assert.are.same({{{1.5}}}, core.adaptive_avg_pool2d(dm.arange(4):float():view(1, 2, 2), {1, 1}):totable())
  end,
  adaptive_max_pool2d = function ()
    local y, i = core.adaptive_max_pool2d(dm.arange(4):float():view(1, 2, 2), {1, 1}, true)
    assert.are.same({{{3}}}, y:totable()); assert.are.same({{{4}}}, i:totable())
  end,
  max_unpool2d = function ()
    local u = core.max_unpool2d(dm.tensor({5.0}):view(1, 1, 1), dm.tensor({2}, {dtype = dm.int64}):view(1, 1, 1), {1, 2})
    assert.are.same({{{0, 5}}}, u:totable())
  end,
  embedding = function ()
    local w = dm.tensor({{1.0, 2.0}, {3.0, 4.0}})
    assert.are.same({{3, 4}, {1, 2}}, core.embedding(w, dm.tensor({2, 1}, {dtype = dm.int64})):totable())
  end,
  embedding_renorm_ = function ()
    local w = dm.tensor({{3.0, 4.0}, {0.3, 0.4}})
    core.embedding_renorm_(w, dm.tensor({1, 2}, {dtype = dm.int64}), 1.0)
    assert.is_true(math.abs(w[1][1]:item() - 0.6) < 1e-6 and w[2][1]:item() < 0.31)
  end,
  embedding_bag = function ()
    local w = dm.tensor({{1.0, 2.0}, {3.0, 4.0}})
    assert.are.same({{4, 6}}, core.embedding_bag(w, dm.tensor({{1, 2}}, {dtype = dm.int64}), nil, "sum"):totable())
  end,
  rnn_layer = function ()
    local o, h = core.rnn_layer("RNN_TANH", false, dm.tensor({0.5}, {dtype = dm.float64}):view(1, 1), 1,
                                dm.zeros({1, 1}, {dtype = dm.float64}), nil,
                                dm.tensor({2.0}, {dtype = dm.float64}):view(1, 1),
                                dm.tensor({1.0}, {dtype = dm.float64}):view(1, 1))
    assert.are.same({{math.tanh(1.0)}}, o:totable())
    assert.are.same({{math.tanh(1.0)}}, h:totable())
  end,
}

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("the Lua API", function ()
  it("covers every binding", function ()
    local missing = {}
    -- PyTorch's other names (dm.clip, t:multiply, ...) are tested in aliases_spec.lua
    local aliases = require("deepmoon.aliases").installed
    for k, f in pairs(dm.Tensor) do
      if type(f) == "function" and not methods[k] and not aliases[k] then
        missing[#missing + 1] = "Tensor:" .. k
      end
    end
    for k, f in pairs(core) do
      -- names starting with "_" are the Lua layer's private helpers
      if type(f) == "function" and not functions[k] and not methods[k] and not k:match("^_") then
        missing[#missing + 1] = "core." .. k
      end
    end
    table.sort(missing)
    assert.are.equal("", table.concat(missing, ", "))
  end)

  local mnames, fnames = {}, {}
  for k in pairs(methods) do mnames[#mnames + 1] = k end
  for k in pairs(functions) do fnames[#fnames + 1] = k end
  table.sort(mnames)
  table.sort(fnames)
  for _, k in ipairs(mnames) do
    it("Tensor:" .. k, methods[k])
  end
  for _, k in ipairs(fnames) do
    it("dm." .. k, functions[k])
  end

  it("adds no globals", function ()
    local p = io.popen((os.getenv("DM_LUA") or "lua5.4") .. [[ -e "local g = {} for k in pairs(_G) do g[k] = true end
      require 'deepmoon' for k in pairs(_G) do if not g[k] then print(k) end end" 2>&1]])
    local out = p:read("a")
    p:close()
    assert.are.equal("", out)
  end)

  it("leaves live tensor bytes at the baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
