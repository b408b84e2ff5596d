-- PyTorch checkpoints (.pt): dm.load of files torch.save wrote (tests/fixtures/gen_pt.py,
-- values in pt_cases.lua), the refusals (legacy format, a hostile pickle, compressed
-- records, damaged files), dm.save to .pt and back for every dtype, the committed
-- pt_from_dm.pt written again byte for byte, and, where /usr/bin/python3 can import torch,
-- PyTorch loading what deepmoon writes with weights_only=True.

local dm = require "deepmoon"
local nn = dm.nn

local function script_dir ()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*/)") or "./"
end

local FIX = script_dir() .. "fixtures/"
local cases = dofile(FIX .. "pt_cases.lua")
local gen_dm = dofile(FIX .. "gen_pt_dm.lua")
local util = dofile(script_dir() .. "helpers/util.lua")
local err = util.err

collectgarbage()
collectgarbage()
local baseline = dm.memory()

local tmp, read_bytes, write_bytes = util.tmp, util.read_bytes, util.write_bytes

-- a stored zip of records { {name, bytes}, ... }, as torch.save lays them out (no alignment)
local function crc32 (s)
  local c = 0xffffffff
  for i = 1, #s do
    c = c ~ s:byte(i)
    for _ = 1, 8 do c = (c & 1 == 1) and (0xedb88320 ~ (c >> 1)) or (c >> 1) end
  end
  return ~c & 0xffffffff
end

local function zip (recs)
  local out, cd, off = {}, {}, 0
  for _, r in ipairs(recs) do
    local name, data = r[1], r[2]
    local crc = crc32(data)
    local lh = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 20, 0, 0, 0, 0, crc, #data,
                           #data, #name, 0) .. name .. data
    cd[#cd + 1] = string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, 20, 20, 0, 0,
                              0, 0, crc, #data, #data, #name, 0, 0, 0, 0, 0, off) .. name
    out[#out + 1] = lh
    off = off + #lh
  end
  local cds = table.concat(cd)
  return table.concat(out) .. cds .. string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, #recs,
                                                 #recs, #cds, off, 0)
end

-- a checkpoint whose data.pkl is the given pickle
local function pickled (pk)
  local p = tmp(".pt")
  write_bytes(p, zip({ { "archive/data.pkl", pk }, { "archive/version", "3\n" } }))
  return p
end

-- same shape and dtype, values equal exactly (integers as integers, NaN as NaN)
local function assert_same (want, t, what)
  assert(dm.is_tensor(t), what .. ": not a tensor")
  assert.are.same(want.shape, t:size(), what .. ": shape")
  assert.are.equal(dm[want.dtype], t.dtype, what .. ": dtype")
  local got = t:values()
  assert.are.equal(#want.data, #got, what .. ": element count")
  for i = 1, #got do
    local a, b = got[i], want.data[i]
    if type(b) == "boolean" then b = b and 1 or 0; a = (a == true or a == 1) and 1 or 0 end
    if not (a == b or (a ~= a and b ~= b)) or (math.type(b) == "integer" and math.type(a) ~= "integer") then
      error(("%s: element %d is %s, expected %s"):format(what, i, tostring(got[i]),
                                                         tostring(want.data[i])), 2)
    end
  end
end

local function sorted_keys (t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

describe("dm.load of a PyTorch checkpoint", function ()
  it("reads every dtype: float32/float64/int64/uint8/bool as themselves, the others widened", function ()
    local sd = assert(dm.load(FIX .. "pt_dtypes.pt"))
    assert.are.same(sorted_keys(cases.dtypes), sorted_keys(sd))
    for k, want in pairs(cases.dtypes) do assert_same(want, sd[k], k) end
  end)

  it("keeps views of one storage sharing it (offsets, strides, transposes)", function ()
    local v = assert(dm.load(FIX .. "pt_views.pt"))
    for k, want in pairs(cases.views) do assert_same(want, v[k], k) end
    assert.is_false(v.t:is_contiguous())
    assert.is_false(v.cols:is_contiguous())
    -- one storage: a write through the base shows in every view
    v.base:fill_(-1)
    for _, k in ipairs({ "slice", "t", "row", "cols" }) do
      for _, x in ipairs(v[k]:values()) do assert.are.equal(-1, x, k) end
    end
    local alone = assert(dm.load(FIX .. "pt_view_alone.pt"))
    assert_same(cases.alone, alone, "a view saved alone")
  end)

  it("reads a module's state_dict (BatchNorm buffers, _metadata dropped) into a model", function ()
    local sd = assert(dm.load(FIX .. "pt_module.pt"))
    assert.are.same(sorted_keys(cases.module), sorted_keys(sd))
    for k, want in pairs(cases.module) do assert_same(want, sd[k], k) end
    assert.are.equal(dm.int64, sd["1.num_batches_tracked"].dtype)
    local m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m:load_state_dict(sd)
    assert.are.same(sd["1.running_var"]:values(), m:state_dict()["1.running_var"]:values())
  end)

  it("reads nested dicts, lists and tuples of tensors, numbers, strings, booleans and None", function ()
    local n = assert(dm.load(FIX .. "pt_nested.pt"))
    local want = cases.nested
    assert_same(want.model.w, n.model.w, "model.w")
    assert_same(want.model.b, n.model.b, "model.b")
    assert.are.equal(1, n.list[1])
    assert.are.equal("two", n.list[2])
    assert.are.equal(true, n.list[3])
    assert.is_nil(n.list[4])
    assert.are.same({ 3, 4 }, n.list[5])
    assert_same(want.list[6], n.list[6], "list[6]")
    for _, k in ipairs({ "epoch", "neg", "big", "nbig", "mid" }) do
      assert.are.equal(want[k], n[k], k)
      assert.are.equal("integer", math.type(n[k]), k)
    end
    assert.are.equal("float", math.type(n.lr))
    assert.are.equal(0.001, n.lr)
    assert.are.equal("café", n.name)
    assert.are.equal(false, n.flag)
    assert.are.equal("five", n[5])            -- an integer key stays an integer
    assert.is_nil(n["5"])
    assert.are.same({}, n.empty)
    -- the same tensor twice in the pickle is the same Tensor twice
    assert.are.equal(n.tuple[1], n.tuple[2])
    assert.is_true(rawequal(n.tuple[1], n.tuple[2]))
  end)

  it("reads zip64 archives", function ()
    local sd = assert(dm.load(FIX .. "pt_zip64.pt"))
    for k, want in pairs(cases.module) do assert_same(want, sd[k], k) end
  end)

  it("tells the format by the first bytes, not the name", function ()
    local p = tmp(".safetensors")
    write_bytes(p, read_bytes(FIX .. "pt_module.pt"))
    local sd = assert(dm.load(p))
    assert_same(cases.module["0.weight"], sd["0.weight"], "0.weight")
    local q = tmp(".pt")
    write_bytes(q, read_bytes(FIX .. "st_model.safetensors"))
    local st, meta = dm.load(q)
    assert(st, meta)
    assert.are.equal("table", type(meta))
    assert(dm.is_tensor(st["0.weight"]))
    local r = tmp(".bin")
    write_bytes(r, read_bytes(FIX .. "npy_i8.npy"))
    assert(dm.is_tensor(assert(dm.load(r))))
  end)

  it("refuses the legacy format, naming it and the way out", function ()
    local p = FIX .. "pt_legacy.pt"
    local t, msg = dm.load(p)
    assert.is_nil(t)
    assert.are.equal("load: " .. p .. ": a PyTorch checkpoint in the legacy format (PyTorch "
      .. "before 1.6, or _use_new_zipfile_serialization=False), which is not read; load it with "
      .. "torch.load and save it again with torch.save in PyTorch 1.6 or later", msg)
  end)

  it("refuses a pickle that would call os.system, without calling it", function ()
    local p = FIX .. "pt_hostile.pt"
    local t, msg = dm.load(p)
    assert.is_nil(t)
    assert.are.equal("load: " .. p .. ": data.pkl, offset 13: global 'posix.system' is not "
      .. "allowed (a weights file needs only PyTorch's tensor rebuilders; refused, never called)",
      msg)
  end)

  it("refuses compressed records", function ()
    local p = FIX .. "pt_deflate.pt"
    local t, msg = dm.load(p)
    assert.is_nil(t)
    assert.are.equal("load: " .. p .. ": entry 'pt_module/data.pkl' is compressed (method 8); "
      .. "only stored entries are read (torch.save writes them stored)", msg)
  end)

  it("turns shared and self-referencing values into shared Lua values", function ()
    local t = assert(dm.load(pickled("\x80\x02]q\x00h\x00a.")))     -- l = []; l.append(l)
    assert.is_true(rawequal(t, t[1]))
    local p = pickled("\x80\x02" .. ("]"):rep(300) .. ("a"):rep(299) .. ".")
    local v, msg = dm.load(p)
    assert.is_nil(v)
    assert.are.equal("load: " .. p .. ": values nested more than 200 deep", msg)
  end)

  it("gives nil and a message for values Lua cannot hold", function ()
    local p = pickled("\x80\x02ctorch\nFloatStorage\n.")
    local v, msg = dm.load(p)
    assert.is_nil(v)
    assert.are.equal("load: " .. p .. ": the checkpoint holds a torch.FloatStorage object, "
      .. "which has no value here (tensors, numbers, strings, booleans, None, dicts, lists and "
      .. "tuples do)", msg)
    p = pickled("\x80\x02}(K\x01K\x02\x86K\x03u.")
    v, msg = dm.load(p)
    assert.is_nil(v)
    assert.are.equal("load: " .. p .. ": a dict key is a tuple (keys here are strings, numbers "
      .. "and booleans)", msg)
    p = pickled("\x80\x02N.")
    v, msg = dm.load(p)
    assert.is_nil(v)
    assert.are.equal("load: " .. p .. ": the checkpoint holds None", msg)
    p = pickled("\x80\x02ctorch\nSize\nK\x02K\x03\x86\x85R.")
    assert.are.same({ 2, 3 }, assert(dm.load(p)))                   -- torch.Size((2, 3))
  end)

  it("gives nil and a message for every truncation of a checkpoint", function ()
    local bytes = read_bytes(FIX .. "pt_views.pt")
    local p = tmp(".pt")
    for n = 0, #bytes - 1, 7 do
      write_bytes(p, bytes:sub(1, n))
      local t, msg = dm.load(p)
      assert.is_nil(t, "length " .. n)
      assert.are.equal("string", type(msg), "length " .. n)
      assert(msg:find("^load: "), msg)
    end
  end)
end)

describe("dm.save to .pt", function ()
  it("round-trips every dtype, views, scalars and empty tensors", function ()
    local base = dm.arange(0, 12, { dtype = dm.float64 }):view(3, 4)
    local sd = {
      f32 = dm.tensor({ { 1.5, -2 }, { 1e-30, 0 } }, { dtype = dm.float32 }),
      f64 = base:t(),
      i64 = dm.tensor({ math.mininteger, -1, math.maxinteger }, { dtype = dm.int64 }),
      u8 = dm.tensor({ 0, 128, 255 }, { dtype = dm.uint8 }),
      b = dm.tensor({ true, false }),
      scalar = dm.tensor(7.5),
      empty = dm.zeros(0, 2),
      narrow = base:narrow(2, 2, 2),
    }
    local p = tmp(".pt")
    assert.is_true(dm.save(p, sd))
    local back = assert(dm.load(p))
    assert.are.same(sorted_keys(sd), sorted_keys(back))
    for k, t in pairs(sd) do
      assert.are.equal(t.dtype, back[k].dtype, k)
      assert.are.same(t:size(), back[k]:size(), k)
      assert.are.same(t:values(), back[k]:values(), k)
    end
  end)

  it("writes nested tables as dicts and lists, keeping integer keys", function ()
    local w = dm.ones(2, 2)
    local obj = {
      model = { ["0.weight"] = w }, epoch = 3, lr = 0.25, name = "run", done = true,
      hist = { 1, 2.5, "x", { a = 1 } }, [7] = "seven", big = 1 << 40, neg = -70000,
    }
    local p = tmp(".pth")
    assert.is_true(dm.save(p, obj))
    local back = assert(dm.load(p))
    assert.are.same(w:values(), back.model["0.weight"]:values())
    assert.are.equal(3, back.epoch)
    assert.are.equal("integer", math.type(back.epoch))
    assert.are.equal(0.25, back.lr)
    assert.are.equal("run", back.name)
    assert.are.equal(true, back.done)
    assert.are.same({ 1, 2.5, "x", { a = 1 } }, back.hist)
    assert.are.equal("seven", back[7])
    assert.are.equal(1 << 40, back.big)
    assert.are.equal(-70000, back.neg)
  end)

  it("writes the committed pt_from_dm.pt again byte for byte", function ()
    local p = tmp(".pt")
    assert.is_true(dm.save(p, gen_dm.state()))
    assert.are.equal(read_bytes(FIX .. "pt_from_dm.pt"), read_bytes(p))
    local back = assert(dm.load(FIX .. "pt_from_dm.pt"))
    for k, t in pairs(gen_dm.state()) do
      assert.are.equal(t.dtype, back[k].dtype, k)
      assert.are.same(t:values(), back[k]:values(), k)
    end
  end)

  it("is read by PyTorch (torch.load weights_only=True) when /usr/bin/python3 has torch", function ()
    local p = tmp(".pt")
    assert.is_true(dm.save(p, gen_dm.state()))
    local cmd = ("/usr/bin/python3 %sgen_pt.py check %s 2>&1"):format(FIX, p)
    local h = assert(io.popen(cmd))
    local out = h:read("a")
    local ok = h:close()
    if not ok and (out:find("No module named") or out:find("not found")
                   or out:find("No such file")) then
      pending("/usr/bin/python3 cannot import torch: PyTorch cross-check skipped (the "
              .. "committed pt_from_dm.pt was checked by gen_pt.py when it was made)")
      return
    end
    assert(ok and out:find("check: OK"), "PyTorch check failed:\n" .. out)
  end)

  it("raises on what a .pt file cannot hold", function ()
    local p = tmp(".pt")
    assert.are.equal("save: a function cannot be written to a .pt file (tensors, numbers, "
      .. "strings, booleans and tables of them can)", err(dm.save, p, { f = print }))
    local loop = {}
    loop.self = loop
    assert.are.equal("save: a table contains itself", err(dm.save, p, loop))
    assert.are.equal("save: a table key is a table (strings, numbers and booleans can be "
      .. "written)", err(dm.save, p, { [{}] = 1 }))
    assert.are.equal("save: expected a table of tensors, got tensor", err(dm.save, p, dm.ones(1)))
    assert.are.equal("save: a .pt file takes no metadata table (put the values in the table "
      .. "saved)", err(dm.save, p, { a = dm.ones(1) }, { x = "1" }))
    local ok, msg = dm.save(p, { s = "\xff" })
    assert.is_nil(ok)
    assert.are.equal("save: " .. p .. ": a string is not valid UTF-8", msg)
    local q = tmp("/no/such/dir/x.pt")
    ok, msg = dm.save(q, { a = dm.ones(1) })
    assert.is_nil(ok)
    assert.are.equal("save: " .. q .. ": No such file or directory", msg)
  end)
end)

describe("deepmoon convert", function ()
  local convert = require "deepmoon.convert"

  it("converts .pt to .safetensors and back, warning for every widened dtype", function ()
    local st, pt = tmp(".safetensors"), tmp(".pt")
    local warnings = {}
    local function warn (m) warnings[#warnings + 1] = m end
    assert.is_true(convert.convert(FIX .. "pt_dtypes.pt", st, warn))
    assert.are.same({
      "convert: warning: 'bf16' is bfloat16 in " .. FIX .. "pt_dtypes.pt and is written as float32",
      "convert: warning: 'f16' is float16 in " .. FIX .. "pt_dtypes.pt and is written as float32",
      "convert: warning: 'i16' is int16 in " .. FIX .. "pt_dtypes.pt and is written as int64",
      "convert: warning: 'i32' is int32 in " .. FIX .. "pt_dtypes.pt and is written as int64",
      "convert: warning: 'i8' is int8 in " .. FIX .. "pt_dtypes.pt and is written as int64",
    }, warnings)
    warnings = {}
    assert.is_true(convert.convert(st, pt, warn))
    assert.are.same({}, warnings)
    local back = assert(dm.load(pt))
    for k, want in pairs(cases.dtypes) do assert_same(want, back[k], k) end
    -- safetensors' own narrow dtypes are named too
    assert.is_true(convert.convert(FIX .. "st_dtypes.safetensors", tmp(".pt"), warn))
    assert(warnings[1]:find("'bf16' is bfloat16 in .*st_dtypes.safetensors and is written as float32"),
           warnings[1])
  end)

  it("refuses what safetensors cannot hold and explains its usage", function ()
    local ok, msg = convert.convert(FIX .. "pt_nested.pt", tmp(".safetensors"), function () end)
    assert.is_nil(ok)
    assert(msg:find("safetensors holds named tensors only"), msg)
    ok, msg = convert.convert(FIX .. "pt_hostile.pt", tmp(".safetensors"))
    assert.is_nil(ok)
    assert(msg:find("global 'posix.system' is not allowed"), msg)
    local host = script_dir() .. "../deepmoon"
    if io.open(host) then
      local st = tmp(".safetensors")
      local rc = os.execute(("%s convert %s %s 2>/dev/null"):format(host, FIX .. "pt_module.pt", st))
      assert.is_true(rc)
      local sd = assert(dm.load(st))
      assert_same(cases.module["1.running_mean"], sd["1.running_mean"], "via the command")
    end
  end)
end)

describe("pt memory", function ()
  it("returns to the live-byte baseline", function ()
    util.remove_tmp()
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
