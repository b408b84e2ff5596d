-- A character-level language model: it reads a text one byte at a time and learns to predict
-- the next one.  By default the text is the fortune cookies Debian ships (`fortunes`, which
-- `make` installs, plain text under /usr/share/games/fortunes); any files named on the
-- command line replace it.  Two models: an LSTM (Embedding -> 2-layer LSTM -> Linear) and a
-- small Transformer encoder with a causal mask.  It reports the validation loss in bits per
-- character beside a unigram baseline, draws a loss plot, saves the model with its
-- vocabulary, loads it back and samples text from it at two temperatures.
-- Run:  ./deepmoon examples/char_lm.lua [lstm|transformer] [steps] [--out=prefix] [file ...]
--   defaults: lstm, 1500 steps, the fortunes; writes <prefix>.svg and <prefix>.safetensors
--   (prefix: char_lm_<model>)
local dm = require "deepmoon"
local nn = require "deepmoon.nn"
local optim = require "deepmoon.optim"
local progress = require "deepmoon.progress"
local plot = require "deepmoon.plot"

local kind = arg and arg[1] or "lstm"
assert(kind == "lstm" or kind == "transformer", "char_lm: the model is lstm or transformer")
local steps = tonumber(arg and arg[2]) or 1500
local files, prefix = {}, "char_lm_" .. kind
for i = 3, arg and #arg or 0 do
  local out = arg[i]:match("^%-%-out=(.+)$")
  if out then prefix = out else files[#files + 1] = arg[i] end
end
local SEQ, BATCH = 64, 32

-- the text: the named files, or every plain fortune file (not the .dat indexes, .u8 copies,
-- or the offensive ones under off/)
if #files == 0 then
  local dir = "/usr/share/games/fortunes"
  local p = io.popen("ls " .. dir .. " 2>/dev/null")
  for name in p:lines() do
    if not name:find("%.") and name ~= "off" then files[#files + 1] = dir .. "/" .. name end
  end
  p:close()
  assert(#files > 0, "char_lm: no text: install Debian's fortunes or name files to read")
end
local parts = {}
for _, path in ipairs(files) do
  local f = assert(io.open(path, "rb"))
  parts[#parts + 1] = f:read("a")
  f:close()
end
local text = table.concat(parts)

-- the vocabulary: every byte the text uses, in byte order; ids are 1-based
local seen, chars, id = {}, {}, {}
for i = 1, #text do seen[text:byte(i)] = true end
for b = 0, 255 do
  if seen[b] then chars[#chars + 1] = string.char(b); id[b] = #chars end
end
local V = #chars
local ids = {}
for i = 1, #text do ids[i] = id[text:byte(i)] end
local all = dm.tensor(ids)                                   -- int64 [#text]
local n_val = #text // 10
local train, val = all:narrow(1, 1, #text - n_val), all:narrow(1, #text - n_val + 1, n_val)
print(("%d files, %d characters (%d distinct); %d to train on, %d to validate"):format(
  #files, #text, V, train:size(1), n_val))

-- the unigram baseline: cross-entropy of the validation text under the training text's
-- character frequencies (add-one smoothed), in bits per character
local counts = dm.zeros(V):index_add(1, train, dm.ones(train:size(1))) + 1
local logp = (counts / counts:sum()):log()
local unigram = -logp:index_select(1, val):mean():item() / math.log(2)

dm.manual_seed(0)
local Model = nn.Module:extend("CharModel")
function Model:__init (vocab, k)
  self.kind = k
  if k == "lstm" then
    self.embed = nn.Embedding(vocab, 64)
    self.rnn = nn.LSTM(64, 192, { num_layers = 2, batch_first = true })
    self.head = nn.Linear(192, vocab)
  else
    self.embed = nn.Embedding(vocab, 128)
    self.pos = nn.Embedding(SEQ, 128)
    self.encoder = nn.TransformerEncoder(
      nn.TransformerEncoderLayer(128, 4, { dim_feedforward = 512, dropout = 0, batch_first = true }), 2)
    self.head = nn.Linear(128, vocab)
  end
end
-- x [B x T] ids -> logits [B x T x V] (and the LSTM's state, to carry while sampling)
function Model:forward (x, state)
  if self.kind == "lstm" then
    local out, hc = self.rnn(self.embed(x), state)
    return self.head(out), hc
  end
  local T = x:size(2)
  local h = self.embed(x) + self.pos(dm.arange(1, T + 1))
  local mask = nn.Transformer.generate_square_subsequent_mask(T)
  return self.head(self.encoder(h, { mask = mask }))
end

local model = Model(V, kind)
local n_params = 0
for _, p in ipairs(model:parameters()) do n_params = n_params + p:numel() end
print(("%s model, %d parameters"):format(kind, n_params))

-- a batch: BATCH windows of SEQ + 1 characters at random places in src
local offsets = dm.arange(0, SEQ + 1):view(1, SEQ + 1)
local function batch (src, gen)
  local starts = dm.randint(1, src:size(1) - SEQ, { BATCH, 1 }, { generator = gen })
  local w = src:index_select(1, (starts + offsets):view(-1)):view(BATCH, SEQ + 1)
  return w:narrow(2, 1, SEQ), w:narrow(2, 2, SEQ)
end

local criterion = nn.CrossEntropyLoss()
local function loss_of (x, y)
  local logits = model(x)
  return criterion(logits:reshape(-1, V), y:reshape(-1))
end

-- validation loss in bits per character over fixed windows of the validation text
local val_gen = dm.Generator(7)
local val_batches = {}
for i = 1, 10 do val_batches[i] = { batch(val, val_gen) } end
local function val_bits ()
  model:eval()
  local _ <close> = dm.no_grad()
  local total = 0
  for _, b in ipairs(val_batches) do total = total + loss_of(b[1], b[2]):item() end
  model:train()
  return total / #val_batches / math.log(2)
end

local optimizer = optim.Adam(model:parameters(), { lr = kind == "lstm" and 3e-3 or 1e-3 })
local gen = dm.Generator(1)
local every = math.max(1, steps // 10)
local xs, train_bits, val_curve = {}, {}, {}
local bar = progress.bar{ total = steps, desc = kind }
local start, running = dm.clock(), 0
for step = 1, steps do
  local x, y = batch(train, gen)
  optimizer:zero_grad()
  local loss = loss_of(x, y)
  loss:backward()
  nn.utils.clip_grad_norm_(model:parameters(), 1.0)
  optimizer:step()
  running = running + loss:item()
  bar:update(1, { loss = loss:item() })
  if step % every == 0 or step == steps then
    local n = step % every == 0 and every or step % every
    xs[#xs + 1], train_bits[#train_bits + 1] = step, running / n / math.log(2)
    val_curve[#val_curve + 1] = val_bits()
    running = 0
  end
end
bar:close()
local seconds = dm.clock() - start
local final = val_curve[#val_curve]
print(("validation: %.3f bits per character (unigram baseline %.3f) after %d steps in %.1f s (%.0f characters/s)")
      :format(final, unigram, steps, seconds, steps * BATCH * SEQ / seconds))

local svg = prefix .. ".svg"
if #xs >= 2 then
  assert(plot.line{ series = { { name = "training", x = xs, y = train_bits },
                               { name = "validation", x = xs, y = val_curve },
                               { name = "unigram baseline", x = xs,
                                 y = (function () local t = {} for i = 1, #xs do t[i] = unigram end return t end)() } },
                    title = "character language model (" .. kind .. ")", xlabel = "step",
                    ylabel = "bits per character", path = svg })
  print("wrote " .. svg)
end

-- save the weights with the vocabulary and the model kind, then load them into a new model
local path = prefix .. ".safetensors"
-- (metadata values are UTF-8 text: the vocabulary is stored as its byte values)
local codes = {}
for i, c in ipairs(chars) do codes[i] = c:byte() end
assert(dm.save(path, model:state_dict(), { vocabulary = table.concat(codes, ","), kind = kind }))
local sd, meta = assert(dm.load(path))
local vocab = {}
for b in meta.vocabulary:gmatch("%d+") do vocab[#vocab + 1] = string.char(tonumber(b)) end
local loaded = Model(#vocab, meta.kind)
loaded:load_state_dict(sd)
loaded:eval()
print(("saved to %s and loaded back (%d characters of vocabulary)"):format(path, #vocab))

-- sampling: feed the text so far, draw the next character from softmax(logits / temperature)
local function sample (m, prompt, n, temperature, g)
  local _ <close> = dm.no_grad()
  local out, state = { prompt }, nil
  local pid = {}
  for i = 1, #prompt do pid[i] = id[prompt:byte(i)] end
  local x = dm.tensor({ pid })
  local hist = pid
  for _ = 1, n do
    local logits
    if m.kind == "lstm" then
      logits, state = m(x, state)
    else
      local from = math.max(1, #hist - SEQ + 1)
      logits = m(dm.tensor({ table.move(hist, from, #hist, 1, {}) }))
    end
    local last = logits:select(2, logits:size(2)):view(-1)
    local c = dm.softmax(last / temperature, 1):multinomial(1, { generator = g }):item()
    out[#out + 1] = vocab[c]
    hist[#hist + 1] = c
    x = dm.tensor({ { c } })
  end
  return table.concat(out)
end
for _, t in ipairs({ 0.5, 1.0 }) do
  print(("--- sample at temperature %.1f:"):format(t))
  print(sample(loaded, "The ", 300, t, dm.Generator(3)))
end
