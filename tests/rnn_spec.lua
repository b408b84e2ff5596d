-- nn.RNN / nn.LSTM / nn.GRU, their cells and nn.utils.rnn against PyTorch 1.13: outputs, final
-- states and the gradients of inputs, initial states and every parameter for each option
-- (layers, bidirectional, batch_first, proj_size, packed input, relu, no bias, unbatched),
-- from tests/fixtures/rnn_cases.lua (regenerate with /usr/bin/python3
-- tests/fixtures/gen_rnn.py); state_dict keys; packing helpers; long sequences; errors.

local dm = require "deepmoon"
local nn = dm.nn
local R = nn.utils.rnn

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local util = dofile(dir .. "helpers/util.lua")
local fixture = dofile(dir .. "fixtures/rnn_cases.lua")

local function T (f, dtype) return dm.tensor(f.data, { dtype = dtype }):view(f.shape) end

-- |got - want| <= atol + rtol |want| elementwise (the issue's 1e-5 + 1e-4 |want| by default)
local function close (want, t, what, atol, rtol)
  return util.close(want, t, atol or 1e-5, rtol or 1e-4, what)
end

local function build (c, dtype)
  local m = nn[c.kind](c.sizes[1], c.sizes[2], c.opts)
  local sd = {}
  for _, kv in ipairs(c.params) do sd[kv[1]] = T(kv[2], dtype) end
  if dtype == dm.float64 then m:double() end
  m:load_state_dict(sd)
  -- state_dict keys in PyTorch's order
  local keys = {}
  for k in pairs(m:state_dict()) do keys[#keys + 1] = k end
  local want = {}
  for i, kv in ipairs(c.params) do want[i] = kv[1] end
  assert.are.same(want, keys)
  return m
end

-- atol and rtol for dtype
local function tolerances (dtype)
  if dtype == dm.float64 then return 1e-10, 1e-9 end
  return 1e-5, 1e-4
end

-- the gradients of x, h0 and c0 (where given) and of every parameter, against case c
local function check_grads (c, m, x, h0, c0, a, r)
  close(c.grad_x, x.grad, "grad x", a, r)
  if h0 then close(c.grad_h0, h0.grad, "grad h0", a, r) end
  if c0 then close(c.grad_c0, c0.grad, "grad c0", a, r) end
  for _, kv in ipairs(c.grad_params) do close(kv[2], m[kv[1]].grad, "grad " .. kv[1], a, r) end
end

collectgarbage()
collectgarbage()
local baseline = dm.memory()

describe("recurrent layers against PyTorch 1.13", function ()
  for _, c in ipairs(fixture.layers) do
    for _, dt in ipairs({ dm.float64, dm.float32 }) do
      it(("%s (%s)"):format(c.name, tostring(dt)), function ()
        local m = build(c, dt)
        local x = T(c.x, dt):requires_grad_()
        local inp = x
        if c.lengths then
          inp = R.pack_padded_sequence(x, c.lengths, { batch_first = c.opts.batch_first,
                                                       enforce_sorted = c.enforce_sorted })
          assert.are.same(c.batch_sizes, inp.batch_sizes:tolist())
        end
        local h0 = c.h0 and T(c.h0, dt):requires_grad_()
        local c0 = c.c0 and T(c.c0, dt):requires_grad_()
        local hx = h0
        if c.kind == "LSTM" and h0 then hx = { h0, c0 } end
        local out, hn = m(inp, hx)
        local cn
        if c.kind == "LSTM" then hn, cn = hn[1], hn[2] end
        local od = c.lengths and out.data or out
        if c.lengths then assert.is_true(R.is_packed(out)) end
        local a, r = tolerances(dt)
        close(c.out, od, "output", a, r)
        close(c.h_n, hn, "h_n", a, r)
        if cn then close(c.c_n, cn, "c_n", a, r) end
        local loss = (od * T(c.w_out, dt)):sum() + (hn * T(c.w_h, dt)):sum()
        if cn then loss = loss + (cn * T(c.w_c, dt)):sum() end
        loss:backward()
        check_grads(c, m, x, h0, c0, a, r)
      end)
    end
  end
end)

describe("recurrent cells against PyTorch 1.13", function ()
  for _, c in ipairs(fixture.cells) do
    for _, dt in ipairs({ dm.float64, dm.float32 }) do
      it(("%s (%s)"):format(c.name, tostring(dt)), function ()
        local m = build(c, dt)
        local x = T(c.x, dt):requires_grad_()
        local h0 = c.h0 and T(c.h0, dt):requires_grad_()
        local c0 = c.c0 and T(c.c0, dt):requires_grad_()
        local h, cc
        if c.kind == "LSTMCell" then
          h, cc = m(x, h0 and { h0, c0 } or nil)
        else
          h = m(x, h0)
        end
        local a, r = tolerances(dt)
        close(c.h, h, "h'", a, r)
        local loss = (h * T(c.w_h, dt)):sum()
        if cc then
          close(c.c, cc, "c'", a, r)
          loss = loss + (cc * T(c.w_c, dt)):sum()
        end
        loss:backward()
        check_grads(c, m, x, h0, c0, a, r)
      end)
    end
  end
end)

describe("recurrent layers", function ()
  it("initialise every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden))", function ()
    dm.manual_seed(3)
    local m = nn.LSTM(5, 16, { num_layers = 2, bidirectional = true, proj_size = 4 })
    local b = 1 / math.sqrt(16)
    local n = 0
    for _, p in pairs(m:state_dict()) do
      n = n + 1
      assert.is_true(p:max():item() <= b and p:min():item() >= -b)
      assert.is_true(p:abs():max():item() > b * 0.5)
    end
    assert.are.equal(20, n)
    assert.are.same({ 64, 4 }, m.weight_hh_l1_reverse:size())
    assert.are.same({ 64, 8 }, m.weight_ih_l1:size())
    assert.are.same({ 4, 16 }, m.weight_hr_l0:size())
  end)

  it("return the states' shapes", function ()
    local m = nn.GRU(3, 4, { bidirectional = true }):double()
    local x = dm.randn(6, 2, 3, { dtype = dm.float64 })
    local out, h = m(x)
    assert.are.same({ 6, 2, 8 }, out:size())
    local _, h2 = nn.LSTM(3, 4)(dm.randn(6, 2, 3))
    assert.are.same({ 1, 2, 4 }, h2[1]:size())
    assert.are.same({ 2, 2, 4 }, h:size())
  end)

  it("take a non-contiguous input", function ()
    local m = nn.LSTM(3, 4):double()
    local src = dm.randn(2, 5, 3, { dtype = dm.float64 })
    local xt = src:transpose(1, 2)
    assert.is_false(xt:is_contiguous())
    local o1 = m(xt)
    local o2 = m(xt:contiguous())
    assert.is_true((o1 - o2):abs():max():item() == 0)
  end)

  it("apply dropout between layers in training only", function ()
    dm.manual_seed(7)
    local m = nn.GRU(3, 4, { num_layers = 2, dropout = 0.5 }):double()
    local x = dm.randn(5, 2, 3, { dtype = dm.float64 })
    m:eval()
    local e1, e2 = m(x), m(x)
    assert.are.equal(0, (e1 - e2):abs():max():item())
    m:train()
    local t1 = m(x)
    assert.is_true((t1 - e1):abs():max():item() > 0)
    -- one layer: nothing between layers, no dropout
    local one = nn.GRU(3, 4, { dropout = 0.5 }):double()
    local a1 = one(x)
    one:eval()
    assert.are.equal(0, (a1 - one(x)):abs():max():item())
  end)

  it("run back through 1000 steps without deep recursion, saving only the gates", function ()
    local m = nn.LSTM(8, 16)
    local x = dm.randn(1000, 4, 8):requires_grad_()
    collectgarbage(); collectgarbage()
    local before = dm.memory()
    local out, hc = m(x)
    local after = dm.memory()
    -- output (1000 x 4 x 16) + h_n + c_n, and saved: gates and cells (1000 x 4 x 5*16), the
    -- batch sizes (1000 int64), x's contiguous copy (none: x is contiguous) -- floats
    local want = (1000 * 4 * 16 + 2 * 4 * 16 + 1000 * 4 * 80) * 4 + 1000 * 8
    assert.is_true(after - before <= want + 64 * 1024,
                   ("forward kept %d bytes, expected about %d"):format(after - before, want))
    ;(out:sum() + hc[1]:sum() + hc[2]:sum()):backward()
    assert.are.same({ 1000, 4, 8 }, x.grad:size())
    assert.is_true(x.grad:abs():sum():item() > 0)
    assert.is_true(m.weight_hh_l0.grad:abs():sum():item() > 0)
  end)

  it("print as PyTorch", function ()
    assert.are.equal("LSTM(10, 20, num_layers=2, batch_first=True, bidirectional=True)",
                     tostring(nn.LSTM(10, 20, 2, { batch_first = true, bidirectional = true })))
    assert.are.equal("RNN(3, 4, nonlinearity=relu, bias=False)",
                     tostring(nn.RNN(3, 4, 1, "relu", false)))
    assert.are.equal("GRU(3, 4, dropout=0.5)", tostring(nn.GRU(3, 4, { dropout = 0.5 })))
    assert.are.equal("LSTM(3, 4, proj_size=2)", tostring(nn.LSTM(3, 4, { proj_size = 2 })))
    assert.are.equal("GRUCell(3, 4, bias=False)", tostring(nn.GRUCell(3, 4, false)))
  end)
end)

describe("recurrent state_dicts", function ()
  local c = fixture.pt

  it("load from a PyTorch torch.save file and give PyTorch's output", function ()
    local sd = assert(dm.load(dir .. "fixtures/" .. c.file))
    local m = nn.LSTM(c.sizes[1], c.sizes[2], c.opts):double()
    m:load_state_dict(sd)
    local out = m(T(c.x, dm.float64))
    close(c.out, out, "output", 1e-10, 1e-9)
  end)

  it("round-trip through safetensors", function ()
    local m = nn.GRU(3, 4, { num_layers = 2, bidirectional = true })
    local p = util.tmp(".safetensors")
    assert.is_true(dm.save(p, m:state_dict()))
    local m2 = nn.GRU(3, 4, { num_layers = 2, bidirectional = true })
    m2:load_state_dict(assert(dm.load(p)))
    local x = dm.randn(5, 2, 3)
    assert.are.equal(0, (m(x) - m2(x)):abs():max():item())
    util.remove_tmp()
  end)

  it("are read by PyTorch when /usr/bin/python3 has torch", function ()
    local m = nn.LSTM(c.sizes[1], c.sizes[2], c.opts)
    local x = dm.randn(4, 2, c.sizes[1])
    local sd = {}
    for k, v in pairs(m:state_dict()) do sd[k] = v end
    sd.x, sd.out = x, m(x):detach()
    local p = util.tmp(".pt")
    assert.is_true(dm.save(p, sd))
    local h = assert(io.popen(("/usr/bin/python3 %sfixtures/gen_rnn.py check %s 2>&1"):format(dir, p)))
    local out = h:read("a")
    local ok = h:close()
    util.remove_tmp()
    if not ok and (out:find("No module named") or out:find("not found")
                   or out:find("No such file")) then
      pending("/usr/bin/python3 cannot import torch: PyTorch cross-check skipped")
      return
    end
    assert(ok and out:find("check: OK"), "PyTorch check failed:\n" .. out)
  end)
end)

describe("nn.utils.rnn", function ()
  local function seqs ()
    local F32 = { dtype = dm.float32 }
    return { dm.tensor({ 1, 2, 3 }, F32):view(3, 1), dm.tensor({ 4, 5 }, F32):view(2, 1),
             dm.tensor({ 6, 7, 8, 9 }, F32):view(4, 1) }
  end

  it("pad_sequence pads with padding_value, time-major or batch_first", function ()
    local p = R.pad_sequence(seqs(), { padding_value = -1 })
    assert.are.same({ 4, 3, 1 }, p:size())
    assert.are.same({ 1, 4, 6, 2, 5, 7, 3, -1, 8, -1, -1, 9 }, p:values())
    local q = R.pad_sequence(seqs(), true)
    assert.are.same({ 3, 4, 1 }, q:size())
    assert.are.same({ 1, 2, 3, 0, 4, 5, 0, 0, 6, 7, 8, 9 }, q:values())
  end)

  it("pack_sequence and pad_packed_sequence round-trip in the original order", function ()
    local s = seqs()
    local p = R.pack_sequence(s, { enforce_sorted = false })
    assert.are.same({ 3, 3, 2, 1 }, p.batch_sizes:tolist())
    assert.are.same({ 3, 1, 2 }, p.sorted_indices:tolist())
    assert.are.same({ 2, 3, 1 }, p.unsorted_indices:tolist())
    assert.are.same({ 6, 1, 4, 7, 2, 5, 8, 3, 9 }, p.data:values())
    local pad, len = R.pad_packed_sequence(p, { batch_first = true, padding_value = 0.5,
                                                total_length = 5 })
    assert.are.same({ 3, 5, 1 }, pad:size())
    assert.are.same({ 3, 2, 4 }, len:tolist())
    assert.are.same({ 1, 2, 3, 0.5, 0.5, 4, 5, 0.5, 0.5, 0.5, 6, 7, 8, 9, 0.5 }, pad:values())
    assert.are.equal(dm.int64, len.dtype)
  end)

  it("packing passes gradients back to the padded input", function ()
    local x = dm.randn(4, 2, 3):requires_grad_()
    local p = R.pack_padded_sequence(x, { 4, 2 })
    p.data:sum():backward()
    local g = x.grad:sum(3):values()
    assert.are.same({ 3, 3, 3, 3, 3, 0, 3, 0 }, g)
  end)

  it("final states of a packed batch are each sequence's at its own length", function ()
    local m = nn.GRU(2, 3):double()
    local s = { dm.randn(5, 2, { dtype = dm.float64 }), dm.randn(2, 2, { dtype = dm.float64 }),
                dm.randn(4, 2, { dtype = dm.float64 }) }
    local _, h = m(R.pack_sequence(s, { enforce_sorted = false }))
    for b = 1, 3 do
      local _, hb = m(s[b]:unsqueeze(2))
      assert.is_true((h:select(2, b) - hb:select(2, 1)):abs():max():item() < 1e-14)
    end
  end)
end)

describe("recurrent errors", function ()
  it("name the layer and the shapes", function ()
    local lstm = nn.LSTM(3, 4, 2)
    assert.are.equal("LSTM: expected input [T x B x 3] (or [T x 3] unbatched), got [5 x 2 x 7]",
                     util.err(lstm, dm.randn(5, 2, 7)))
    assert.are.equal("LSTM: expected input [T x B x 3] (or [T x 3] unbatched), got [5]",
                     util.err(lstm, dm.randn(5)))
    assert.are.equal("LSTM: expected h0 [2 x 2 x 4], got [1 x 2 x 4]",
                     util.err(lstm, dm.randn(5, 2, 3), { dm.zeros(1, 2, 4), dm.zeros(2, 2, 4) }))
    assert.are.equal("LSTM: expected c0 [2 x 2 x 4], got [2 x 3 x 4]",
                     util.err(lstm, dm.randn(5, 2, 3), { dm.zeros(2, 2, 4), dm.zeros(2, 3, 4) }))
    assert.are.equal("LSTM: expected hx = {h0, c0}, a list of two Tensors, got tensor",
                     util.err(lstm, dm.randn(5, 2, 3), dm.zeros(2, 2, 4)))
    local gru = nn.GRU(3, 4, { batch_first = true })
    assert.are.equal("GRU: expected input [B x T x 3] (or [T x 3] unbatched), got [2 x 5 x 4]",
                     util.err(gru, dm.randn(2, 5, 4)))
    assert.are.equal("GRU: expected h0 [1 x 2 x 4], got [1 x 5 x 4]",
                     util.err(gru, dm.randn(2, 5, 3), dm.zeros(1, 5, 4)))
    assert.are.equal("RNN: expected input of dtype float32 (the parameters'), got " ..
                     "float64", util.err(nn.RNN(3, 4), dm.randn(2, 5, 3, { dtype = dm.float64 })))
    assert.are.equal("GRUCell: expected input [B x 3] (or [3] unbatched), got [2 x 4]",
                     util.err(nn.GRUCell(3, 4), dm.randn(2, 4)))
    assert.are.equal("LSTMCell: expected hx [2 x 4], got [3 x 4]",
                     util.err(nn.LSTMCell(3, 4), dm.randn(2, 3), { dm.zeros(3, 4), dm.zeros(2, 4) }))
    assert.are.equal("RNN: Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'.",
                     util.err(nn.RNN, 3, 4, { nonlinearity = "sigmoid" }))
    assert.are.equal("LSTM: proj_size has to be smaller than hidden_size, got proj_size 4, " ..
                     "hidden_size 4", util.err(nn.LSTM, 3, 4, { proj_size = 4 }))
    assert.are.equal("GRU: hidden_size must be a positive integer, got 0", util.err(nn.GRU, 3, 0))
    assert.are.equal("GRUCell: dtype must be float32 or float64, got int64",
                     util.err(nn.GRUCell, 3, 4, { dtype = "int64" }))
    assert.are.equal("GRU: expected h0 [2 x 4], got [2 x 1 x 4]",
                     util.err(nn.GRU(3, 4, 2), dm.randn(5, 3), dm.zeros(2, 1, 4)))
  end)

  it("refuse lengths that do not fit", function ()
    local x = dm.randn(4, 3, 2)
    assert.are.equal("pack_padded_sequence: lengths must be sorted in decreasing order when " ..
                     "enforce_sorted is true, got 2, 4, 1 (pass enforce_sorted = false)",
                     util.err(R.pack_padded_sequence, x, { 2, 4, 1 }))
    assert.are.equal("pack_padded_sequence: lengths[3] is 0, but every length must be between " ..
                     "1 and the input's 4 steps (input [4 x 3 x 2])",
                     util.err(R.pack_padded_sequence, x, { 4, 2, 0 }))
    assert.are.equal("pack_padded_sequence: lengths[1] is 5, but every length must be between " ..
                     "1 and the input's 4 steps (input [4 x 3 x 2])",
                     util.err(R.pack_padded_sequence, x, { 5, 2, 1 }, { enforce_sorted = false }))
    assert.are.equal("pack_padded_sequence: expected 3 lengths (the batch of input [4 x 3 x 2]), " ..
                     "got 2", util.err(R.pack_padded_sequence, x, { 4, 2 }))
    assert.are.equal("pad_packed_sequence: expected total_length to be at least the length of " ..
                     "the longest sequence (4), got 3",
                     util.err(R.pad_packed_sequence, R.pack_padded_sequence(x, { 4, 2, 1 }),
                              { total_length = 3 }))
    local I64 = { dtype = dm.int64 }
    assert.are.equal("PackedSequence: batch_sizes must be positive and non-increasing, got 3 " ..
                     "at step 2", util.err(R.PackedSequence, dm.randn(5, 2),
                                           dm.tensor({ 2, 3 }, I64)))
    assert.are.equal("PackedSequence: expected data with 5 rows (the batch sizes' sum), got [4 x 2]",
                     util.err(R.PackedSequence, dm.randn(4, 2), dm.tensor({ 3, 2 }, I64)))
    assert.are.equal("PackedSequence: sorted_indices must be a permutation of 1..3 (1-based), " ..
                     "got 0, 1, 2", util.err(R.PackedSequence, dm.randn(5, 2),
                                             dm.tensor({ 3, 2 }, I64), dm.tensor({ 0, 1, 2 }, I64)))
    assert.are.equal("pad_sequence: sequences[2] is float32 [2 x 3], expected " ..
                     "float64 [L x 3] like sequences[1]",
                     util.err(R.pad_sequence, { dm.randn(2, 3, { dtype = dm.float64 }),
                                                dm.randn(2, 3) }))
    assert.are.equal("pad_sequence: sequences[1] must have at least one dim (the steps), got " ..
                     "a 0-dim Tensor", util.err(R.pad_sequence, { dm.tensor(1.0) }))
    assert.are.equal("pack_padded_sequence: lengths must be a list of integers, got 4.5 at " ..
                     "position 1", util.err(R.pack_padded_sequence, x, { 4.5, 2, 1 }))
    assert.are.equal("pack_padded_sequence: lengths must be a 1-D integer Tensor or a list of " ..
                     "integers, got bool [3]", util.err(R.pack_padded_sequence, x,
                                                         dm.tensor({ true, true, false })))
    assert.are.equal("pad_sequence: sequences[2] must be a Tensor, got number",
                     util.err(R.pad_sequence, { dm.randn(2), 3 }))
    assert.are.equal("rnn_layer (GRU): batch sizes must start at the batch size 2 (h0 [2 x 3]) " ..
                     "and not increase, got 3 at step 2",
                     util.err(dm.rnn_layer, "GRU", false, dm.randn(5, 2), { 2, 3 }, dm.zeros(2, 3),
                              nil, dm.zeros(9, 2), dm.zeros(9, 3)))
    assert.are.equal("rnn_layer (LSTM): expected w_hh [16 x 4], got [16 x 3]",
                     util.err(dm.rnn_layer, "LSTM", false, dm.randn(6, 2), 3, dm.zeros(2, 4),
                              dm.zeros(2, 4), dm.zeros(16, 2), dm.zeros(16, 3)))
  end)

  it("survive hostile tables", function ()
    local evil = setmetatable({}, { __len = function () error("boom") end,
                                    __index = function () error("boom") end })
    assert.is_string(util.err(R.pad_sequence, evil))
    assert.is_string(util.err(R.pack_padded_sequence, dm.randn(3, 2, 1), evil))
    assert.is_string(util.err(dm.rnn_layer, "GRU", false, dm.randn(5, 2), evil, dm.zeros(2, 3),
                              nil, dm.zeros(9, 2), dm.zeros(9, 3)))
  end)
end)

describe("rnn memory", function ()
  it("frees what it made", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
