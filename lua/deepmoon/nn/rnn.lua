--- deepmoon.nn.rnn: nn.RNN, nn.LSTM, nn.GRU and nn.RNNCell, nn.LSTMCell, nn.GRUCell, as
-- PyTorch 1.13's: the same constructor arguments, parameter names (weight_ih_l0,
-- weight_hh_l0_reverse, bias_ih_l1, weight_hr_l0 ...), shapes, initialisation
-- (U(-1/sqrt(hidden), 1/sqrt(hidden))) and gate order (LSTM i, f, g, o; GRU r, z, n).  Each
-- layer and direction is one op (dm.rnn_layer, core/ops/rnn.c) that runs the whole sequence and
-- its backward through time in C.

local dm = require "deepmoon"
local check = require "deepmoon.check"
local format = require "deepmoon.format"
local module = require "deepmoon.nn.module"
local util = require "deepmoon.nn.util"
local F = require "deepmoon.nn.functional"
local rnnu = require "deepmoon.nn.utils_rnn"

local Module, Parameter = module.Module, module.Parameter
local arg, is_tensor, typename = check.arg, check.is_tensor, check.typename
local rnn_layer = dm.rnn_layer

local function shp (t) return format.shape_str(t:size()) end
local function dims (l) return "[" .. table.concat(l, " x ") .. "]" end

local GATES = { RNN_TANH = 1, RNN_RELU = 1, LSTM = 4, GRU = 3 }

local function need_size (fname, name, v, level)
  return util.pos_int(fname, name, v, level, true)
end

local function need_dtype (fname, dtype, level)
  if dtype ~= nil and dtype ~= dm.float32 and dtype ~= dm.float64 and dtype ~= "float32" and
     dtype ~= "float64" then
    error(("%s: dtype must be float32 or float64, got %s"):format(fname,
          (tostring(dtype):gsub("^deepmoon%.", ""))),
          level + 1)
  end
  return dtype
end

-- U(-1/sqrt(hidden), 1/sqrt(hidden)) for every parameter, as PyTorch's reset_parameters
local function uniform_params (params, hidden)
  local stdv = 1 / math.sqrt(hidden)
  dm.no_grad(function ()
    for _, p in ipairs(params) do p:uniform_(-stdv, stdv) end
  end)
end

-- ---- nn.RNN, nn.LSTM, nn.GRU ---------------------------------------------------------------

local function define (name)
  local M = Module:extend(name)
  local positional = { "input_size", "hidden_size", "num_layers" }
  if name == "RNN" then positional[#positional + 1] = "nonlinearity" end
  for _, k in ipairs({ "bias", "batch_first", "dropout", "bidirectional" }) do
    positional[#positional + 1] = k
  end
  if name == "LSTM" then positional[#positional + 1] = "proj_size" end

  function M:__init (...)
    local a = util.args(name, 3, positional, { "dtype" }, ...)
    local I = need_size(name, "input_size", a.input_size, 3)
    local H = need_size(name, "hidden_size", a.hidden_size, 3)
    local L = need_size(name, "num_layers", a.num_layers == nil and 1 or a.num_layers, 3)
    local mode = name
    if name == "RNN" then
      local nl = arg(name, "nonlinearity", a.nonlinearity, "string", "tanh", 3)
      if nl ~= "tanh" and nl ~= "relu" then
        error(("%s: Unknown nonlinearity '%s'. Select from 'tanh' or 'relu'."):format(name, nl), 3)
      end
      self.nonlinearity = nl
      mode = nl == "tanh" and "RNN_TANH" or "RNN_RELU"
    end
    local bias = arg(name, "bias", a.bias, "boolean", true, 3)
    local bf = arg(name, "batch_first", a.batch_first, "boolean", false, 3)
    local p = arg(name, "dropout", a.dropout, "number", 0, 3)
    if not (p >= 0 and p <= 1) then
      error(("%s: dropout should be a number in range [0, 1] representing the probability of " ..
             "an element being zeroed, got %s"):format(name, tostring(p)), 3)
    end
    local bidir = arg(name, "bidirectional", a.bidirectional, "boolean", false, 3)
    local proj = 0
    if name == "LSTM" then
      proj = arg(name, "proj_size", a.proj_size, "integer", 0, 3)
      if proj < 0 then
        error(("%s: proj_size should be a positive integer or zero to disable projections, " ..
               "got %d"):format(name, proj), 3)
      end
      if proj >= H then
        error(("%s: proj_size has to be smaller than hidden_size, got proj_size %d, " ..
               "hidden_size %d"):format(name, proj, H), 3)
      end
    end
    local dtype = need_dtype(name, a.dtype, 3)
    self.mode, self.input_size, self.hidden_size, self.num_layers = mode, I, H, L
    self.bias, self.batch_first, self.dropout, self.bidirectional = bias, bf, p, bidir
    self.proj_size = proj
    local D = bidir and 2 or 1
    local G = GATES[mode] * H
    local Ho = proj > 0 and proj or H
    local params = {}
    for l = 0, L - 1 do
      local lin = l == 0 and I or Ho * D
      for d = 0, D - 1 do
        local sfx = ("_l%d%s"):format(l, d == 1 and "_reverse" or "")
        local function add (n, ...)
          local t = dtype and dm.empty({ ... }, { dtype = dtype }) or dm.empty(...)
          self[n .. sfx] = Parameter(t)
          params[#params + 1] = self[n .. sfx]
        end
        add("weight_ih", G, lin)
        add("weight_hh", G, Ho)
        if bias then add("bias_ih", G); add("bias_hh", G) end
        if proj > 0 then add("weight_hr", proj, H) end
      end
    end
    uniform_params(params, H)
  end

  -- the parameters of layer l, direction d (as the module holds them now: load_state_dict
  -- and :to() may have replaced them)
  local function layer_params (self, l, d)
    local sfx = ("_l%d%s"):format(l, d == 1 and "_reverse" or "")
    return self["weight_ih" .. sfx], self["weight_hh" .. sfx],
           self.bias and self["bias_ih" .. sfx] or nil, self.bias and self["bias_hh" .. sfx] or nil,
           self.proj_size > 0 and self["weight_hr" .. sfx] or nil
  end

  --- forward(input [, hx]): input [T x B x input_size] ([B x T x input_size] batch_first),
  --- [T x input_size] unbatched, or a PackedSequence; hx h0 [layers*dirs x B x H_out]
  --- (LSTM: {h0, c0}, c0 [layers*dirs x B x hidden_size]), zeros when nil.  Returns output
  --- [T x B x dirs*H_out] (a PackedSequence for a packed input) and h_n (LSTM: {h_n, c_n}),
  --- each sequence's final state in the batch's order.
  function M:forward (input, hx)
    local mode, L, H = self.mode, self.num_layers, self.hidden_size
    local D = self.bidirectional and 2 or 1
    local Ho = self.proj_size > 0 and self.proj_size or H
    local lstm = mode == "LSTM"
    local packed = rnnu.is_packed(input)
    local x, steps, B, T, unbatched
    local w0 = self.weight_ih_l0
    if packed then
      x = input.data
      if not is_tensor(x) or x:dim() ~= 2 or x:size(2) ~= self.input_size then
        error(("%s: expected a PackedSequence with data [N x %d], got %s"):format(name,
              self.input_size, is_tensor(x) and shp(x) or typename(x)), 2)
      end
      steps = input.batch_sizes:tolist()
      B, T = steps[1], #steps
    else
      if not is_tensor(input) then
        error(("%s: expected a Tensor or a PackedSequence input, got %s"):format(name,
              typename(input)), 2)
      end
      local nd = input:dim()
      if (nd ~= 2 and nd ~= 3) or input:size(nd) ~= self.input_size then
        error(("%s: expected input %s (or %s unbatched), got %s"):format(name,
              self.batch_first and ("[B x T x %d]"):format(self.input_size)
              or ("[T x B x %d]"):format(self.input_size),
              ("[T x %d]"):format(self.input_size), shp(input)), 2)
      end
      unbatched = nd == 2
      x = input
      if unbatched then x = x:unsqueeze(2)
      elseif self.batch_first then x = x:transpose(1, 2) end
      T, B = x:size(1), x:size(2)
      if T == 0 or B == 0 then
        error(("%s: expected a non-empty input, got %s"):format(name, shp(input)), 2)
      end
      x = x:reshape(T * B, self.input_size)
      steps = T
    end
    if x.dtype ~= w0.dtype then
      error(("%s: expected input of dtype %s (the parameters'), got %s"):format(name,
            w0.dtype.name, x.dtype.name), 2)
    end
    -- the initial states [L*D x B x Ho] (and [L*D x B x H])
    local h0, c0
    local hsz = unbatched and { L * D, Ho } or { L * D, B, Ho }
    local csz = unbatched and { L * D, H } or { L * D, B, H }
    if hx ~= nil then
      if lstm then
        if type(hx) ~= "table" or is_tensor(hx) or not is_tensor(rawget(hx, 1)) or
           not is_tensor(rawget(hx, 2)) then
          error(("LSTM: expected hx = {h0, c0}, a list of two Tensors, got %s"):format(
                typename(hx)), 2)
        end
        h0, c0 = rawget(hx, 1), rawget(hx, 2)
      else
        if not is_tensor(hx) then
          error(("%s: expected hx a Tensor, got %s"):format(name, typename(hx)), 2)
        end
        h0 = hx
      end
      local function chk (what, t, want)
        local ok = t:dim() == #want
        for i = 1, #want do ok = ok and t:size(i) == want[i] end
        if not ok then
          error(("%s: expected %s %s, got %s"):format(name, what, dims(want), shp(t)), 3)
        end
        if t.dtype ~= w0.dtype then
          error(("%s: expected %s of dtype %s, got %s"):format(name, what, w0.dtype.name,
                t.dtype.name), 3)
        end
      end
      chk("h0", h0, hsz)
      if lstm then chk("c0", c0, csz) end
      if unbatched then
        h0 = h0:unsqueeze(2)
        if c0 then c0 = c0:unsqueeze(2) end
      end
      if packed and input.sorted_indices ~= nil then
        h0 = h0:index_select(2, input.sorted_indices)
        if c0 then c0 = c0:index_select(2, input.sorted_indices) end
      end
    else
      h0 = dm.zeros({ L * D, B, Ho }, { dtype = w0.dtype })
      if lstm then c0 = dm.zeros({ L * D, B, H }, { dtype = w0.dtype }) end
    end
    local hn, cn = {}, {}
    local layer_in = x
    for l = 0, L - 1 do
      local outs = {}
      for d = 0, D - 1 do
        local k = l * D + d + 1
        local wih, whh, bih, bhh, whr = layer_params(self, l, d)
        local o, h, c = rnn_layer(mode, d == 1, layer_in, steps, h0:select(1, k),
                                  c0 and c0:select(1, k) or nil, wih, whh, bih, bhh, whr)
        outs[d + 1], hn[k], cn[k] = o, h, c
      end
      layer_in = D == 2 and dm.cat(outs, 2) or outs[1]
      if self.dropout > 0 and self.training and l < L - 1 then
        layer_in = F.dropout(layer_in, self.dropout, true)
      end
    end
    local h_n = dm.stack(hn, 1)
    local c_n = lstm and dm.stack(cn, 1) or nil
    local out
    if packed then
      out = rnnu.PackedSequence(layer_in, input.batch_sizes, input.sorted_indices,
                                input.unsorted_indices)
      if input.unsorted_indices ~= nil then
        h_n = h_n:index_select(2, input.unsorted_indices)
        if c_n then c_n = c_n:index_select(2, input.unsorted_indices) end
      end
    else
      out = layer_in:view(T, B, D * Ho)
      if unbatched then
        out = out:squeeze(2)
        h_n = h_n:squeeze(2)
        if c_n then c_n = c_n:squeeze(2) end
      elseif self.batch_first then
        out = out:transpose(1, 2)
      end
    end
    if lstm then return out, { h_n, c_n } end
    return out, h_n
  end

  function M:extra_repr ()
    local s = ("%d, %d"):format(self.input_size, self.hidden_size)
    if self.proj_size > 0 then s = s .. (", proj_size=%d"):format(self.proj_size) end
    if self.num_layers ~= 1 then s = s .. (", num_layers=%d"):format(self.num_layers) end
    if name == "RNN" and self.nonlinearity ~= "tanh" then
      s = s .. (", nonlinearity=%s"):format(self.nonlinearity)
    end
    if not self.bias then s = s .. ", bias=False" end
    if self.batch_first then s = s .. ", batch_first=True" end
    if self.dropout ~= 0 then s = s .. (", dropout=%s"):format(util.pyrepr(self.dropout + 0.0)) end
    if self.bidirectional then s = s .. ", bidirectional=True" end
    return s
  end
  return M
end

-- ---- cells ---------------------------------------------------------------------------------

local function define_cell (name, base)
  local M = Module:extend(name)
  local positional = { "input_size", "hidden_size", "bias" }
  if name == "RNNCell" then positional[4] = "nonlinearity" end

  function M:__init (...)
    local a = util.args(name, 3, positional, { "dtype" }, ...)
    local I = need_size(name, "input_size", a.input_size, 3)
    local H = need_size(name, "hidden_size", a.hidden_size, 3)
    local bias = arg(name, "bias", a.bias, "boolean", true, 3)
    local mode = base
    if name == "RNNCell" then
      local nl = arg(name, "nonlinearity", a.nonlinearity, "string", "tanh", 3)
      if nl ~= "tanh" and nl ~= "relu" then
        error(("%s: Unknown nonlinearity: %s"):format(name, nl), 3)
      end
      self.nonlinearity = nl
      mode = nl == "tanh" and "RNN_TANH" or "RNN_RELU"
    end
    self.mode, self.input_size, self.hidden_size, self.bias = mode, I, H, bias
    local G = GATES[mode] * H
    local dtype = need_dtype(name, a.dtype, 3)
    local function new (...)
      if dtype then return dm.empty({ ... }, { dtype = dtype }) end
      return dm.empty(...)
    end
    self.weight_ih = Parameter(new(G, I))
    self.weight_hh = Parameter(new(G, H))
    local params = { self.weight_ih, self.weight_hh }
    if bias then
      self.bias_ih = Parameter(new(G))
      self.bias_hh = Parameter(new(G))
      params[3], params[4] = self.bias_ih, self.bias_hh
    else
      self:register_parameter("bias_ih", nil)
      self:register_parameter("bias_hh", nil)
    end
    uniform_params(params, H)
  end

  --- forward(input [, hx]): input [B x input_size] or [input_size]; hx h [B x hidden_size]
  --- (LSTMCell: {h, c}), zeros when nil.  Returns h' (LSTMCell: h', c' as two values).
  function M:forward (input, hx)
    local I, H = self.input_size, self.hidden_size
    if not is_tensor(input) then
      error(("%s: expected a Tensor input, got %s"):format(name, typename(input)), 2)
    end
    local nd = input:dim()
    if (nd ~= 1 and nd ~= 2) or input:size(nd) ~= I then
      error(("%s: expected input [B x %d] (or [%d] unbatched), got %s"):format(name, I, I,
            shp(input)), 2)
    end
    local x = nd == 1 and input:unsqueeze(1) or input
    local B = x:size(1)
    local lstm = self.mode == "LSTM"
    local h, c
    if hx ~= nil then
      if lstm then
        if type(hx) ~= "table" or is_tensor(hx) or not is_tensor(rawget(hx, 1)) or
           not is_tensor(rawget(hx, 2)) then
          error(("LSTMCell: expected hx = {h, c}, a list of two Tensors, got %s"):format(
                typename(hx)), 2)
        end
        h, c = rawget(hx, 1), rawget(hx, 2)
      else
        if not is_tensor(hx) then
          error(("%s: expected hx a Tensor, got %s"):format(name, typename(hx)), 2)
        end
        h = hx
      end
      local want = nd == 1 and { H } or { B, H }
      for _, pr in ipairs({ { "hx", h }, { "cx", c } }) do
        local t = pr[2]
        if t ~= nil then
          local ok = t:dim() == #want
          for i = 1, #want do ok = ok and t:size(i) == want[i] end
          if not ok then
            error(("%s: expected %s %s, got %s"):format(name, pr[1], dims(want), shp(t)), 2)
          end
        end
      end
      if nd == 1 then h = h:unsqueeze(1); if c then c = c:unsqueeze(1) end end
    else
      h = dm.zeros({ B, H }, { dtype = x.dtype })
      if lstm then c = dm.zeros({ B, H }, { dtype = x.dtype }) end
    end
    local _, hn, cn = rnn_layer(self.mode, false, x, 1, h, c, self.weight_ih, self.weight_hh,
                                self.bias_ih, self.bias_hh, nil)
    if nd == 1 then hn = hn:squeeze(1); if cn then cn = cn:squeeze(1) end end
    if lstm then return hn, cn end
    return hn
  end

  function M:extra_repr ()
    local s = ("%d, %d"):format(self.input_size, self.hidden_size)
    if not self.bias then s = s .. ", bias=False" end
    if name == "RNNCell" and self.nonlinearity ~= "tanh" then
      s = s .. (", nonlinearity=%s"):format(self.nonlinearity)
    end
    return s
  end
  return M
end

return {
  --- nn.RNN(input_size, hidden_size [, num_layers = 1] [, nonlinearity = "tanh"]
  --- [, bias = true] [, batch_first = false] [, dropout = 0] [, bidirectional = false]) or
  --- with an options table: Elman RNN, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);
  --- out, h_n = rnn(x, h0)
  RNN = define("RNN"),
  --- nn.LSTM(input_size, hidden_size [, num_layers] [, bias] [, batch_first] [, dropout]
  --- [, bidirectional] [, proj_size = 0]) or with an options table; out, {h_n, c_n} =
  --- lstm(x, {h0, c0})
  LSTM = define("LSTM"),
  --- nn.GRU(input_size, hidden_size [, num_layers] [, bias] [, batch_first] [, dropout]
  --- [, bidirectional]) or with an options table; out, h_n = gru(x, h0)
  GRU = define("GRU"),
  --- nn.RNNCell(input_size, hidden_size [, bias = true] [, nonlinearity = "tanh"]): one step;
  --- h' = cell(x, h)
  RNNCell = define_cell("RNNCell", "RNN_TANH"),
  --- nn.LSTMCell(input_size, hidden_size [, bias = true]): one step; h', c' = cell(x, {h, c})
  LSTMCell = define_cell("LSTMCell", "LSTM"),
  --- nn.GRUCell(input_size, hidden_size [, bias = true]): one step; h' = cell(x, h)
  GRUCell = define_cell("GRUCell", "GRU"),
}
