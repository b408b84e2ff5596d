--- bench/run.lua: `make bench`.  Runs every workload of bench/workloads.lua in a fresh
-- process (so each peak RSS is its own), the same workloads in PyTorch through
-- bench/torch_bench.py when /usr/bin/python3 imports torch (at 1 and 2 threads, keeping the
-- best; for (b), (f)-(i) two processes at each), the sgemm ceiling through the helper the bench target builds (bench/sgemm.c), then
-- prints one table and records it, with the machine, in BENCHMARKS.md between the
-- "make bench" markers (the analysis around them is kept).
--
--   ./deepmoon bench/run.lua [--no-write]
--
-- Environment: DM_BENCH_SGEMM (the helper's path; without it the ceiling is "n/a"),
-- DM_BENCH_PYTHON (default /usr/bin/python3), DM_BENCH_THREADS (thread counts to try,
-- default "1 2").

local dm = require "deepmoon"

local here = (arg and arg[0] or "bench/run.lua"):match("^(.*)/[^/]*$") or "."
local root = here:match("^(.*)/[^/]*$") or "."
local write = not (arg and arg[1] == "--no-write")
local python = os.getenv("DM_BENCH_PYTHON") or "/usr/bin/python3"
local sgemm = os.getenv("DM_BENCH_SGEMM")
local thread_counts = {}
for n in (os.getenv("DM_BENCH_THREADS") or "1 2"):gmatch("%d+") do
  thread_counts[#thread_counts + 1] = tonumber(n)
end

local function sh_quote (s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- run a command; its last line of key=value pairs as a table (nil, output on failure)
local function run (cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  if not last or not last:find("=") then return nil, out end
  local t = {}
  for k, v in last:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
  if t.error then return nil, tostring(t.error) end
  return t
end

local function progress (msg) io.stderr:write(msg, "\n") end

local function deepmoon (...)
  local parts = { sh_quote(root .. "/deepmoon"), sh_quote(here .. "/workloads.lua") }
  for i = 1, select("#", ...) do parts[#parts + 1] = sh_quote(select(i, ...)) end
  local r, err = run(table.concat(parts, " "))
  if not r then error("bench: deepmoon workload failed: " .. tostring(err), 0) end
  return r
end

local function torch (workload, threads)
  return run(("%s %s %s %d"):format(sh_quote(python), sh_quote(here .. "/torch_bench.py"),
                                     workload, threads))
end

-- ---- measurements --------------------------------------------------------------------

-- (a) is a tenth of a second: the best of three fresh processes, as PyTorch's below is the
-- best of two runs at each thread count (this machine is shared; its speed varies)
progress("bench: deepmoon (a) article training ...")
local a
for _ = 1, 3 do
  local r = deepmoon("article", "7000")
  if not a or r.time < a.time then a = r end
end
local a_rss = deepmoon("article", "50000", "1000,50000")
progress("bench: deepmoon (b) MLP ...")
local b, b_all = nil, {}
for _, n in ipairs(thread_counts) do
  for _ = 1, 2 do                       -- two processes at each thread count, the best kept
    local r = deepmoon("mlp", tostring(n))
    if not b_all[n] or r.samples_per_s > b_all[n].samples_per_s then b_all[n] = r end
    if not b or r.samples_per_s > b.samples_per_s then b = r end
  end
end
progress("bench: deepmoon (c) per-op overhead ...")
local c
for _ = 1, 3 do                         -- three processes, the best of each figure kept
  local r = deepmoon("ops")
  if not c then c = r else
    c.add_us, c.linear_us = math.min(c.add_us, r.add_us), math.min(c.linear_us, r.linear_us)
  end
end

local ceiling = {}
if sgemm and io.open(sgemm, "r") then
  progress("bench: sgemm ceiling ...")
  for _, n in ipairs(thread_counts) do ceiling[n] = run(sh_quote(sgemm) .. " " .. n) end
end

local ta, tb, tc, torch_err = nil, nil, nil, nil
local tf, tf_inf, tg, tg_inf
do
  local probe, err = torch("ops", 1)
  if not probe then
    err = err and err:gsub("_", " "):gsub("%s+$", ""):match("[^\n]*$") or ""
    torch_err = err ~= "" and err or "torch does not import"
  else
    progress("bench: PyTorch (a), (b), (c) at " .. table.concat(thread_counts, ", ") ..
             " threads ...")
    tc = probe
    for _, n in ipairs(thread_counts) do
      for _ = 1, 2 do
        local ra = torch("article", n)
        if ra and (not ta or ra.time < ta.time) then ta = ra end
      end
      for _ = 1, 2 do
        local rb = torch("mlp", n)
        if rb and (not tb or rb.samples_per_s > tb.samples_per_s) then tb = rb end
      end
      if n ~= 1 then
        local rc = torch("ops", n)
        if rc and rc.add_us < tc.add_us then tc.add_us, tc.threads = rc.add_us, rc.threads end
        if rc and rc.linear_us < tc.linear_us then tc.linear_us = rc.linear_us end
      end
    end
  end
end

-- (f) LeNet-5 and (g) the conv/BatchNorm block: two processes at each thread count on each
-- side, deepmoon's and PyTorch's interleaved (this machine's load changes from minute to
-- minute; (a)-(c) above run all of deepmoon's first), the best training window kept (and,
-- separately, the best inference window)
progress("bench: (f) LeNet-5, (g) conv block, deepmoon and PyTorch interleaved, at " ..
         table.concat(thread_counts, ", ") .. " threads ...")
local f, f_inf, g, g_inf
local function keep (r, best, best_inf)
  if r and (not best or r.samples_per_s > best.samples_per_s) then best = r end
  if r and (not best_inf or r.infer_samples_per_s > best_inf.infer_samples_per_s) then
    best_inf = r
  end
  return best, best_inf
end
for _, n in ipairs(thread_counts) do
  for _ = 1, 2 do
    f, f_inf = keep(deepmoon("lenet", tostring(n)), f, f_inf)
    if not torch_err then tf, tf_inf = keep(torch("lenet", n), tf, tf_inf) end
    g, g_inf = keep(deepmoon("block", tostring(n)), g, g_inf)
    if not torch_err then tg, tg_inf = keep(torch("block", n), tg, tg_inf) end
  end
end

-- (h) the LSTM language model and (i) the Transformer encoder: as (f) and (g), two processes
-- at each thread count on each side, interleaved, the best training window kept
progress("bench: (h) LSTM LM, (i) Transformer encoder, deepmoon and PyTorch interleaved, at " ..
         table.concat(thread_counts, ", ") .. " threads ...")
local h, th, ti_, i_
local function keep_tok (r, best)
  if r and (not best or r.tokens_per_s > best.tokens_per_s) then return r end
  return best
end
for _, n in ipairs(thread_counts) do
  for _ = 1, 2 do
    h = keep_tok(deepmoon("lstm", tostring(n)), h)
    if not torch_err then th = keep_tok(torch("lstm", n), th) end
    i_ = keep_tok(deepmoon("transformer", tostring(n)), i_)
    if not torch_err then ti_ = keep_tok(torch("transformer", n), ti_) end
  end
end

-- ---- the table -----------------------------------------------------------------------

local PARAMS = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10   -- 669 706
local FLOP_PER_SAMPLE = 6 * PARAMS

local function mb (kb) return kb and ("%.1f MB"):format(kb / 1024) or "n/a" end
local function yes (ok) if ok == nil then return "n/a" end return ok and "yes" or "**no**" end
local function thousands (x)
  local s = ("%d"):format(math.floor(x + 0.5))
  return (s:reverse():gsub("(%d%d%d)", "%1 "):reverse():gsub("^ ", ""))
end

-- PyTorch's thread setting governs its own kernels; its matrix products run on the system
-- BLAS's pool (OpenBLAS: every core unless OPENBLAS_NUM_THREADS says otherwise)
local function torch_blas (r) return tonumber(r.blas_threads) or r.threads end
local function torch_threads (r)
  if torch_blas(r) == r.threads then return ("%d thr"):format(r.threads) end
  return ("%d thr, products on %d BLAS thr"):format(r.threads, torch_blas(r))
end

local rows = {}
local function row (...) rows[#rows + 1] = "| " .. table.concat({ ... }, " | ") .. " |" end

local speed_a = ta and ta.time / a.time
row("(a) article training: 7000 SGD steps, 2-64-1, batch 16",
    ("%.3f s (%.1f us/step)"):format(a.time, a.time / a.steps * 1e6),
    ta and ("%.2f s (%s)"):format(ta.time, torch_threads(ta)) or "n/a",
    speed_a and ("%.1fx faster"):format(speed_a) or "n/a",
    "at least 25x faster", yes(speed_a and speed_a >= 25))

local speed_b = tb and b.samples_per_s / tb.samples_per_s
row("(b) MLP 784-512-512-10, ReLU, CE, SGD m=0.9, batch 128",
    ("%s samples/s (%d thr)"):format(thousands(b.samples_per_s), b.threads),
    tb and ("%s samples/s (%s)"):format(thousands(tb.samples_per_s), torch_threads(tb)) or "n/a",
    speed_b and ("%.2fx"):format(speed_b) or "n/a", "at least 1.5x", yes(speed_b and speed_b >= 1.5))

-- (c)'s target is absolute (0.25 us, where the issue saw PyTorch at about 0.8 us); read as
-- a ratio in one run, like (a) and (b), it is 0.8 / 0.25 = 3.2x PyTorch's time.  Both shown.
local function c_row (what, ours, theirs)
  local ratio = theirs and theirs / ours
  row(what, ("%.3f us"):format(ours), theirs and ("%.3f us"):format(theirs) or "n/a",
      ratio and ("%.1fx faster"):format(ratio) or "n/a",
      "at most 0.25 us; as a ratio, 3.2x faster",
      ("%s; ratio %s"):format(yes(ours <= 0.25), yes(ratio and ratio >= 3.2)))
end
c_row("(c) `a + b` on 4x4 tensors", c.add_us, tc and tc.add_us)
c_row("(c) Linear(2, 2) forward on a 1x2 input", c.linear_us, tc and tc.linear_us)

local ceil = ceiling[b.threads]
local frac = ceil and b.samples_per_s * FLOP_PER_SAMPLE / 1e9 / ceil.gflops
row(("(d) sgemm ceiling, OpenBLAS n=1024, %d thr"):format(b.threads),
    ceil and ("%.1f GFLOP/s"):format(ceil.gflops) or "n/a (no BLAS helper)", "", "", "", "")
row("(d) (b) as a fraction of the ceiling at its thread count (6 x params flops/sample)",
    frac and ("%.0f%% (%.1f GFLOP/s)"):format(frac * 100, b.samples_per_s * FLOP_PER_SAMPLE / 1e9)
    or "n/a",
    (tb and ceiling[torch_blas(tb)]) and ("%.0f%%"):format(tb.samples_per_s * FLOP_PER_SAMPLE
                                          / 1e9 / ceiling[torch_blas(tb)].gflops * 100) or "n/a",
    "", "at least 65%", yes(frac and frac >= 0.65))

row("(e) peak RSS of (a)", mb(a.hwm_kb), ta and mb(ta.hwm_kb) or "n/a",
    ta and ("%.0fx smaller"):format(ta.hwm_kb / a.hwm_kb) or "n/a", "at most 20 MB",
    yes(a.hwm_kb <= 20 * 1024))
row("(e) peak RSS of (b)", mb(b.hwm_kb), tb and mb(tb.hwm_kb) or "n/a",
    tb and ("%.0fx smaller"):format(tb.hwm_kb / b.hwm_kb) or "n/a", "", "")
local r1, r50 = a_rss.rss_1000, a_rss.rss_50000
local drift = (r1 and r50) and (r50 - r1) / r1
row("(e) RSS of (a) after 1 000 / 50 000 steps",
    ("%s / %s (%+.1f%%)"):format(mb(r1), mb(r50), (drift or 0) * 100), "", "",
    "within 10%", yes(drift and math.abs(drift) <= 0.10))

-- (f), (g): conv + linear flops of a training step per sample, 3 x the forward's (forward,
-- input gradient, weight gradient; the first conv's input gradient is not computed, so the
-- work done is a little less), as (d) counts 6 x params for the MLP
local LENET_MACS = 6 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10
local BLOCK_MACS = 32 * 3 * 9 * 32 * 32 + 64 * 32 * 9 * 16 * 16 + 4096 * 10
local function cnn_rows (tag, what, r, r_inf, t, t_inf, macs, target)
  local speed = t and r.samples_per_s / t.samples_per_s
  row(("%s %s, training"):format(tag, what),
      ("%s samples/s (%d thr)"):format(thousands(r.samples_per_s), r.threads),
      t and ("%s samples/s (%s)"):format(thousands(t.samples_per_s), torch_threads(t)) or "n/a",
      speed and ("%.2fx"):format(speed) or "n/a", ("at least %.1fx"):format(target),
      yes(speed and speed >= target))
  local si = t_inf and r_inf.infer_samples_per_s / t_inf.infer_samples_per_s
  row(("%s inference (eval, no_grad)"):format(tag),
      ("%s samples/s (%d thr)"):format(thousands(r_inf.infer_samples_per_s), r_inf.threads),
      t_inf and ("%s samples/s (%s)"):format(thousands(t_inf.infer_samples_per_s),
                                             torch_threads(t_inf)) or "n/a",
      si and ("%.2fx"):format(si) or "n/a", "", "")
  local fl = 6 * macs                          -- 3 products of 2 flops per multiply-add
  local cf = ceiling[r.threads]
  local tcf = t and ceiling[torch_blas(t)]
  row(("%s training as a fraction of the sgemm ceiling (%.2f MFLOP/sample)"):format(tag, fl / 1e6),
      cf and ("%.0f%% (%.1f GFLOP/s)"):format(r.samples_per_s * fl / 1e9 / cf.gflops * 100,
                                             r.samples_per_s * fl / 1e9) or "n/a",
      tcf and ("%.0f%% (%.1f GFLOP/s)"):format(t.samples_per_s * fl / 1e9 / tcf.gflops * 100,
                                              t.samples_per_s * fl / 1e9) or "n/a",
      "", "", "")
end
cnn_rows("(f)", "LeNet-5, 1x28x28, CE, SGD m=0.9, batch 64", f, f_inf, tf, tf_inf, LENET_MACS,
         1.5)
row("(f) peak RSS of (f)", mb(f.hwm_kb), tf and mb(tf.hwm_kb) or "n/a",
    tf and ("%.0fx smaller"):format(tf.hwm_kb / f.hwm_kb) or "n/a", "", "")
cnn_rows("(g)", "conv 32/64 3x3 + BatchNorm2d + ReLU + max-pool, 3x32x32, batch 32", g, g_inf, tg,
         tg_inf, BLOCK_MACS, 1.0)

-- (h), (i): training tokens/s in the best windows
local function lm_row (what, r, t, target)
  local speed = t and r.tokens_per_s / t.tokens_per_s
  row(what, ("%s tokens/s (%d thr)"):format(thousands(r.tokens_per_s), r.threads),
      t and ("%s tokens/s (%s)"):format(thousands(t.tokens_per_s), torch_threads(t)) or "n/a",
      speed and ("%.2fx"):format(speed) or "n/a", ("at least %.1fx"):format(target),
      yes(speed and speed >= target))
end
lm_row("(h) LSTM LM: Embedding 1000x64, LSTM 64-128, Linear 128-1000, seq 35, batch 32, Adam, " ..
       "clip 1.0, training", h, th, 1.5)
lm_row("(i) Transformer encoder: 2 layers, d_model 128, 4 heads, ff 512, seq 64, batch 16, " ..
       "Adam, training", i_, ti_, 1.0)

-- ---- the machine ---------------------------------------------------------------------

local function first_line (cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local s = p and p:read("l")
  if p then p:close() end
  return s
end

local cpu = first_line("lscpu | sed -n 's/^Model name: *//p'") or "?"
local family = first_line("lscpu | sed -n 's/^CPU family: *//p'")
local model = first_line("lscpu | sed -n 's/^Model: *//p'")
local cores = first_line("nproc") or "?"
local meminfo = first_line("sed -n 's/^MemTotal: *//p' /proc/meminfo") or ""
local mem_kb = tonumber(meminfo:match("%d+"))
local mem = mem_kb and ("%.1f GiB"):format(mem_kb / 1048576) or "?"
local env_core = os.getenv("OPENBLAS_CORETYPE")
local date = os.date("!%Y-%m-%d %H:%M UTC")
local machine = {
  ("- machine: %s (family %s, model %s), %s cores, %s memory"):format(cpu, family or "?",
                                                                     model or "?", cores, mem),
  ("- OpenBLAS: %s%s"):format(dm.have_blas() and dm.blas_info() or "not built in (BLAS=0)",
                              env_core and (", OPENBLAS_CORETYPE=" .. env_core) or ""),
  ("- %s, deepmoon %s; PyTorch: %s"):format(_VERSION, dm.version,
    torch_err and ("not available (" .. torch_err .. ")") or
    (tc and ("%s, best of %s threads"):format(tc.version, table.concat(thread_counts, " and ")))
    or "n/a"),
  ("- deepmoon (b) at each thread count: %s"):format((function ()
    local parts = {}
    for _, n in ipairs(thread_counts) do
      local r = b_all[n]
      parts[#parts + 1] = ("%d thr %s samples/s"):format(n, thousands(r.samples_per_s))
      if ceiling[n] then
        parts[#parts] = parts[#parts] .. (" (ceiling %.0f GFLOP/s)"):format(ceiling[n].gflops)
      end
    end
    return table.concat(parts, ", ")
  end)()),
  ("- (f) and (g) training, deepmoon / PyTorch, samples/s in their best windows: " ..
   "(f) %s / %s, (g) %s / %s (average over each best process: (f) %s / %s, (g) %s / %s)"):format(
    thousands(f.samples_per_s), tf and thousands(tf.samples_per_s) or "n/a",
    thousands(g.samples_per_s), tg and thousands(tg.samples_per_s) or "n/a",
    thousands(f.samples_per_s_avg), tf and thousands(tf.samples_per_s_avg) or "n/a",
    thousands(g.samples_per_s_avg), tg and thousands(tg.samples_per_s_avg) or "n/a"),
  ("- (h) and (i) training, deepmoon / PyTorch, tokens/s in their best windows: (h) %s / %s, " ..
   "(i) %s / %s (average over each best process: (h) %s / %s, (i) %s / %s)"):format(
    thousands(h.tokens_per_s), th and thousands(th.tokens_per_s) or "n/a",
    thousands(i_.tokens_per_s), ti_ and thousands(ti_.tokens_per_s) or "n/a",
    thousands(h.tokens_per_s_avg), th and thousands(th.tokens_per_s_avg) or "n/a",
    thousands(i_.tokens_per_s_avg), ti_ and thousands(ti_.tokens_per_s_avg) or "n/a"),
}

local lines = {
  ("Run of %s (`make bench`)."):format(date), "",
  table.concat(machine, "\n"), "",
  "| workload | deepmoon | PyTorch | ratio | target | met |",
  "|---|---|---|---|---|---|",
  table.concat(rows, "\n"),
}
if torch_err then
  lines[#lines + 1] = ""
  lines[#lines + 1] = "PyTorch: not available (" .. torch_err .. "); ratios n/a."
end
local report = table.concat(lines, "\n")
print(report)

-- ---- BENCHMARKS.md ---------------------------------------------------------------------

if write then
  local path = root .. "/BENCHMARKS.md"
  local BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
  local f = io.open(path, "r")
  local text = f and f:read("a") or "# Benchmarks\n\n"
  if f then f:close() end
  local block = BEGIN .. "\n" .. report .. "\n" .. END
  local i = text:find(BEGIN, 1, true)
  local k, l = text:find(END, 1, true)
  if i and k and k > i then
    text = text:sub(1, i - 1) .. block .. text:sub(l + 1)
  else
    text = text .. "\n" .. block .. "\n"
  end
  f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  io.stderr:write("bench: recorded in BENCHMARKS.md\n")
end
