-- The dtype matrix of deepmoon's file formats against numpy and PyTorch: .npy (formats 1.0,
-- 2.0, 3.0, C and Fortran order, big-endian, 0-d, empty), safetensors (every dtype, 0-d,
-- empty, metadata, F16/BF16/I32/U64) and torch.save state dicts (BatchNorm's
-- num_batches_tracked int64, a bool buffer, float64, views) in float32, float64, int64, uint8
-- and bool: loaded values must be exact; files deepmoon writes must equal numpy's byte for
-- byte (.npy) and the hand-written safetensors (same layout) byte for byte; dtypes deepmoon
-- does not read give nil and a message.
-- Fixtures: /usr/bin/python3 tests/fixtures/gen_io_audit.py

local dm = require "deepmoon"

local DIR = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
local FIX = DIR .. "fixtures/io_audit/"
local spec = dofile(DIR .. "fixtures/io_audit_cases.lua")
local util = dofile(DIR .. "helpers/util.lua")
local tmp, read_bytes = util.tmp, util.read_bytes

local function want_value (dtype, v)
  if dtype == "float32" or dtype == "float64" then
    if v == "nan" then return 0 / 0 end
    if v == "inf" then return math.huge end
    if v == "-inf" then return -math.huge end
    if v == "-0x0.0p+0" then return -0.0 end      -- tonumber drops the sign of a hex zero
    return assert(tonumber(v), v)
  end
  return v
end

local function same_value (a, b)
  if type(a) == "number" and type(b) == "number" then
    if a ~= a then return b ~= b end
    if math.type(a) ~= math.type(b) then return false end
    if a == 0 and b == 0 then return 1 / a == 1 / b end      -- -0.0 keeps its sign
    return a == b
  end
  return a == b
end

local function check (want, t, what)
  assert(t ~= nil, what .. ": missing")
  assert.are.equal(dm[want.dtype], t.dtype, what .. ": dtype")
  assert.are.same(want.shape, t:size(), what .. ": shape")
  local got = t:values()
  assert.are.equal(#want.data, #got, what .. ": element count")
  for i = 1, #got do
    local w = want_value(want.dtype, want.data[i])
    if want.dtype == "float32" or want.dtype == "float64" then
      w = w * 1.0        -- a float (keeps -0.0)
    end
    if not same_value(got[i], w) then
      error(("%s: element %d is %s (%s), expected %s"):format(what, i, tostring(got[i]),
        math.type(got[i]) or type(got[i]), tostring(w)), 2)
    end
  end
end

local function count (t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function by_kind (kind)
  local r = {}
  for _, c in ipairs(spec.cases) do if c.kind == kind then r[#r + 1] = c end end
  return r
end

describe("io audit: .npy from numpy", function ()
  for _, c in ipairs(by_kind("npy")) do
    it("loads " .. c.file, function ()
      local t, msg = dm.load_npy(FIX .. c.file)
      assert(t, msg)
      check(c.want, t, c.file)
      assert(t:is_contiguous(), c.file .. ": contiguous")
      -- dm.load sniffs the format
      local t2 = assert(dm.load(FIX .. c.file))
      check(c.want, t2, "dm.load " .. c.file)
    end)
  end

  for _, c in ipairs(by_kind("npy")) do
    if c.deterministic then
      it("writes " .. c.file .. " byte for byte as numpy.save", function ()
        local t = assert(dm.load_npy(FIX .. c.file))
        local path = tmp(".npy")
        assert(dm.save_npy(path, t))
        assert.are.equal(read_bytes(FIX .. c.file), read_bytes(path))
      end)
    end
  end

  it("writes a non-contiguous view as numpy saves the array", function ()
    local t = assert(dm.load_npy(FIX .. "int64_fortran.npy"))          -- [4 x 3]
    local path = tmp(".npy")
    assert(dm.save_npy(path, t:t()))
    local back = assert(dm.load_npy(path))
    assert.are.same({ 3, 4 }, back:size())
    assert.are.same(t:t():contiguous():values(), back:values())
  end)
end)

describe("io audit: safetensors", function ()
  for _, c in ipairs(by_kind("st")) do
    it("loads " .. c.file, function ()
      local tensors, meta = dm.load(FIX .. c.file)
      assert(tensors, meta)
      assert.are.equal(count(c.tensors), count(tensors), c.file .. ": tensor count")
      for name, want in pairs(c.tensors) do check(want, tensors[name], c.file .. ": " .. name) end
      assert.are.same(c.metadata, meta)
    end)
  end

  for _, c in ipairs(by_kind("st")) do
    if c.file ~= "narrow.safetensors" then
      it("writes " .. c.file .. " as the reference writer does", function ()
        local tensors, meta = assert(dm.load(FIX .. c.file))
        local path = tmp(".safetensors")
        assert(dm.save(path, tensors, next(meta) and meta or nil))
        local got, want = read_bytes(path), read_bytes(FIX .. c.file)
        if got ~= want and c.lib_order then
          -- the library orders data by dtype size; deepmoon by name: the same content
          local back, bmeta = assert(dm.load(path))
          for name, w in pairs(c.tensors) do check(w, back[name], "rewritten " .. name) end
          assert.are.same(c.metadata, bmeta)
        elseif got ~= want then
          -- the same content at least, so the failure names what differs
          local back, bmeta = assert(dm.load(path))
          for name, w in pairs(c.tensors) do check(w, back[name], "rewritten " .. name) end
          assert.are.same(c.metadata, bmeta)
          local hl = string.unpack("<I8", got)
          local wl = string.unpack("<I8", want)
          error(("bytes differ: deepmoon header %q, reference %q"):format(
            got:sub(9, 8 + hl), want:sub(9, 8 + wl)))
        end
      end)
    end
  end

  it("round-trips the narrow dtypes as float32 / int64", function ()
    local tensors = assert(dm.load(FIX .. "narrow.safetensors"))
    local path = tmp(".safetensors")
    assert(dm.save(path, tensors))
    local back = assert(dm.load(path))
    for _, c in ipairs(by_kind("st")) do
      if c.file == "narrow.safetensors" then
        for name, want in pairs(c.tensors) do check(want, back[name], "narrow " .. name) end
      end
    end
  end)
end)

describe("io audit: torch.save state dicts", function ()
  for _, c in ipairs(by_kind("pt")) do
    it("loads " .. c.file, function ()
      local tensors, msg = dm.load(FIX .. c.file)
      assert(tensors, msg)
      assert.are.equal(count(c.tensors), count(tensors), c.file .. ": tensor count")
      for name, want in pairs(c.tensors) do check(want, tensors[name], c.file .. ": " .. name) end
    end)

    it("writes " .. c.file .. "'s tensors back to .pt and reads them again", function ()
      local tensors = assert(dm.load(FIX .. c.file))
      local path = tmp(".pt")
      assert(dm.save(path, tensors))
      local back = assert(dm.load(path))
      for name, want in pairs(c.tensors) do check(want, back[name], "rewritten " .. name) end
    end)
  end

  it("load_state_dict takes num_batches_tracked (int64) and keeps its dtype", function ()
    local sd = assert(dm.load(FIX .. "state_dict.pt"))
    local m = dm.nn.Sequential(dm.nn.Linear(3, 2), dm.nn.BatchNorm1d(2))
    local mapped = {}
    for k, v in pairs(sd) do
      local nk = k:gsub("^fc%.", "0."):gsub("^bn%.", "1.")
      if k ~= "mask" then mapped[nk] = v end
    end
    m:load_state_dict(mapped)
    local out = m:state_dict()
    assert.are.equal(dm.int64, out["1.num_batches_tracked"].dtype)
    assert.are.same(sd["bn.num_batches_tracked"]:values(), out["1.num_batches_tracked"]:values())
    assert.are.same(sd["bn.running_var"]:values(), out["1.running_var"]:values())
    assert.are.same(sd["fc.weight"]:values(), out["0.weight"]:values())
  end)
end)

describe("io audit: read back by PyTorch and numpy", function ()
  it("is checked by torch.load and numpy.load when /usr/bin/python3 has them", function ()
    local pt = tmp(".pt")
    assert(dm.save(pt, assert(dm.load(FIX .. "dtypes.pt"))))
    local dir = tmp(".d")
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local written = {}
    for _, c in ipairs(by_kind("npy")) do
      local path = dir .. "/" .. c.file
      assert(dm.save_npy(path, assert(dm.load_npy(FIX .. c.file))))
      written[#written + 1] = path
    end
    local cmd = ("/usr/bin/python3 %sfixtures/gen_io_audit.py check %s %s 2>&1"):format(DIR, pt, dir)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    local ok = p:close()
    for _, path in ipairs(written) do os.remove(path) end
    os.remove(dir)
    if not ok and (out:find("No module named") or out:find("not found")
                   or out:find("No such file")) then
      pending("/usr/bin/python3 cannot import torch and numpy: cross-check skipped")
      return
    end
    assert(ok and out:find("check: OK"), "PyTorch/numpy check failed:\n" .. out)
  end)
end)

describe("io audit: unsupported dtypes", function ()
  for _, f in ipairs(spec.bad) do
    it("refuses " .. f .. " with a message", function ()
      local t, msg = dm.load(FIX .. f)
      assert.is_nil(t)
      assert.are.equal("string", type(msg))
      assert.truthy(msg:find(f, 1, true), msg)
      if f:match("%.npy$") then
        local t2, msg2 = dm.load_npy(FIX .. f)
        assert.is_nil(t2)
        assert.truthy(msg2:find("^load_npy: "), msg2)
      end
    end)
  end
end)

describe("io audit: clean up", function ()
  it("removes its temporary files", function ()
    util.remove_tmp()
  end)
end)
