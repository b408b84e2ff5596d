-- helpers for the scripts tests/dist_spec.lua runs under mpirun: each rank prints
-- "rank R: ok <what>" for each check that holds and raises on the first that does not
local dm = require "deepmoon"
local C = {}

function C.close (a, b, rtol, what)
  a, b = a:double():reshape(-1):totable(), b:double():reshape(-1):totable()
  assert(#a == #b, what .. ": sizes differ")
  local scale = 0
  for i = 1, #b do scale = math.max(scale, math.abs(b[i])) end
  -- relative to the value, or to a tenth of the tensor's largest for values near 0
  for i = 1, #a do
    local tol = rtol * math.max(math.abs(b[i]), 0.1 * scale, 1e-30)
    if math.abs(a[i] - b[i]) > tol then
      error(("%s: element %d: %.9g vs %.9g (tolerance %.3g)"):format(what, i, a[i], b[i], tol), 2)
    end
  end
end

function C.ok (rank, what) io.write(("rank %d: ok %s\n"):format(rank, what)); io.flush() end

return C
