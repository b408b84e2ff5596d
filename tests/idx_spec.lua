-- data.read_idx: IDX files (MNIST's format), plain and gzipped, of every type; every kind of
-- bad file gives nil and a message naming read_idx, the path and the problem.

local dm = require "deepmoon"
local data = dm.data
local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")

collectgarbage()
collectgarbage()
local BASELINE = dm.memory()

local FMT = { [0x08] = "B", [0x09] = "b", [0x0B] = ">i2", [0x0C] = ">i4", [0x0D] = ">f",
              [0x0E] = ">d" }

-- an IDX file's bytes: type code, shape, row-major values
local function idx_bytes (code, shape, values)
  local parts = { string.char(0, 0, code, #shape) }
  for _, s in ipairs(shape) do parts[#parts + 1] = string.pack(">I4", s) end
  for _, v in ipairs(values) do parts[#parts + 1] = string.pack(FMT[code], v) end
  return table.concat(parts)
end

local function write_idx (bytes, suffix)
  local p = util.tmp(suffix or ".idx")
  util.write_bytes(p, bytes)
  return p
end

-- bytes gzipped by the gzip program, into the file name (default: a new temporary .gz)
local function write_gz (bytes, name)
  local plain = util.tmp(".raw")
  util.write_bytes(plain, bytes)
  local p = name or util.tmp(".gz")
  assert(os.execute("gzip -c -n '" .. plain .. "' > '" .. p .. "'"))
  return p
end

local function flat (t) return t:double():values() end

local CASES = {
  { code = 0x08, dtype = "uint8", shape = { 2, 3 }, values = { 0, 1, 2, 127, 128, 255 } },
  { code = 0x09, dtype = "int64", shape = { 4 }, values = { -128, -1, 0, 127 } },
  { code = 0x0B, dtype = "int64", shape = { 2, 2 }, values = { -32768, -2, 300, 32767 } },
  { code = 0x0C, dtype = "int64", shape = { 1, 2, 2 },
    values = { -2147483648, -5, 70000, 2147483647 } },
  { code = 0x0D, dtype = "float32", shape = { 3 }, values = { 1.5, -0.25, 1e10 } },
  { code = 0x0E, dtype = "float64", shape = { 2, 1, 1, 2 },
    values = { 0.1, -1e300, math.pi, 5e-324 } },
}

describe("data.read_idx", function ()
  after_each(function () util.remove_tmp() end)

  for _, c in ipairs(CASES) do
    for _, how in ipairs({ "plain", "gzip", "gzip without .gz" }) do
      it(("reads type 0x%02X (%s), %s"):format(c.code, c.dtype, how), function ()
        local bytes = idx_bytes(c.code, c.shape, c.values)
        local p
        if how == "plain" then p = write_idx(bytes)
        elseif how == "gzip" then p = write_gz(bytes)
        else p = write_gz(bytes, util.tmp(".idx")) end
        local t, msg = data.read_idx(p)
        assert(t, msg)
        assert.are.equal(dm[c.dtype], t.dtype)
        assert.are.same(c.shape, t:size())
        local got = flat(t)
        assert.are.equal(#c.values, #got)
        for i, v in ipairs(c.values) do
          if c.code == 0x0D then
            assert.are.equal(string.unpack("f", string.pack("f", v)), got[i])
          else
            assert.are.equal(v, got[i])
          end
        end
      end)
    end
  end

  it("reads an MNIST-shaped image file and a label file", function ()
    local px = {}
    for i = 1, 3 * 28 * 28 do px[i] = (i * 7) % 256 end
    local t = assert(data.read_idx(write_gz(idx_bytes(0x08, { 3, 28, 28 }, px))))
    assert.are.same({ 3, 28, 28 }, t:size())
    assert.are.equal(px[28 * 28 + 2], t[2][1][2]:item())
    local y = assert(data.read_idx(write_idx(idx_bytes(0x08, { 3 }, { 5, 0, 9 }))))
    assert.are.same({ 5, 0, 9 }, flat(y))
  end)

  it("reads a size of 0 as an empty tensor", function ()
    local t = assert(data.read_idx(write_idx(idx_bytes(0x0C, { 0, 4 }, {}))))
    assert.are.same({ 0, 4 }, t:size())
  end)

  describe("bad input gives nil and a message", function ()
    local function bad (p, want)
      local t, msg = data.read_idx(p)
      assert.is_nil(t)
      assert.are.equal("read_idx: " .. p .. ": " .. want, msg)
    end

    it("a missing file", function ()
      bad("/nonexistent/x.idx", "cannot open file (No such file or directory)")
      bad("/nonexistent/x.idx.gz", "cannot open file (No such file or directory)")
    end)

    it("bad magic", function ()
      bad(write_idx("\1\0\8\1\0\0\0\1x"),
          "bad magic 01 00 (an IDX file starts with two zero bytes)")
      bad(write_idx("PK\3\4 a zip file"),
          "bad magic 50 4b (an IDX file starts with two zero bytes)")
    end)

    it("a file too short for a header", function ()
      bad(write_idx(""), "too short for an IDX header (0 bytes)")
      bad(write_idx("\0\0\8"), "too short for an IDX header (3 bytes)")
      bad(write_gz("\0\0"), "too short for an IDX header (2 bytes)")
    end)

    it("an unknown type", function ()
      bad(write_idx("\0\0\10\1\0\0\0\1x"), "unknown element type 0x0a")
      bad(write_gz("\0\0\255\1\0\0\0\1x"), "unknown element type 0xff")
    end)

    it("0 dimensions or more than 8", function ()
      bad(write_idx("\0\0\8\0"), "0 dimensions (1 to 8 are supported)")
      bad(write_idx(idx_bytes(0x08, { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, { 7 })),
          "9 dimensions (1 to 8 are supported)")
      bad(write_gz("\0\0\8\0"), "0 dimensions (1 to 8 are supported)")
    end)

    it("a truncated header", function ()
      bad(write_idx("\0\0\8\3\0\0\0\2\0\0"),
          "header truncated (3 dimensions need 16 bytes, file has 10)")
    end)

    it("sizes whose product overflows", function ()
      local huge = { 4294967295, 4294967295, 4294967295 }
      bad(write_idx(idx_bytes(0x0E, huge, {})), "sizes overflow (their product is too large)")
      bad(write_gz(idx_bytes(0x0E, huge, {})), "sizes overflow (their product is too large)")
    end)

    it("sizes beyond the file, without allocating them", function ()
      local before = dm.memory()
      bad(write_idx(idx_bytes(0x08, { 60000, 65536, 65536 }, { 1, 2, 3 })),
          "truncated data (shape [60000 x 65536 x 65536] of 1-byte elements needs "
          .. "257698037760000 bytes, file has 3)")
      bad(write_gz(idx_bytes(0x0E, { 4000000000 }, { 1 })),
          "truncated data (shape [4000000000] of 8-byte elements needs 32000000000 bytes, "
          .. "file has 8)")
      assert.are.equal(before, dm.memory())
    end)

    it("truncated data", function ()
      local b = idx_bytes(0x0C, { 2, 3 }, { 1, 2, 3, 4, 5, 6 })
      bad(write_idx(b:sub(1, -2)),
          "truncated data (shape [2 x 3] of 4-byte elements needs 24 bytes, file has 23)")
      bad(write_gz(b:sub(1, -5)),
          "truncated data (shape [2 x 3] of 4-byte elements needs 24 bytes, file has 20)")
    end)

    it("data after the end", function ()
      bad(write_idx(idx_bytes(0x08, { 2 }, { 1, 2 }) .. "xyz"),
          "more data than shape [2] needs (2 bytes)")
      bad(write_gz(idx_bytes(0x0B, { 1, 2 }, { 1, 2 }) .. string.rep("z", 100000)),
          "more data than shape [1 x 2] needs (4 bytes)")
    end)

    it("a corrupt gzip stream", function ()
      local gz = util.read_bytes(write_gz(idx_bytes(0x0D, { 64 }, {})
                                           .. string.rep(string.pack(">f", 1.5), 64)))
      -- the first deflate block of a reserved type (gzip -n's header is 10 bytes)
      local p = write_idx(gz:sub(1, 10) .. "\255" .. gz:sub(12), ".gz")
      local t, msg = data.read_idx(p)
      assert.is_nil(t)
      assert.are.equal("read_idx: " .. p .. ": corrupt gzip stream (invalid block type)", msg)
      -- cut short: the stream ends early
      local q = write_idx(gz:sub(1, #gz // 2), ".gz")
      t, msg = data.read_idx(q)
      assert.is_nil(t)
      assert.are.equal("read_idx: " .. q .. ": corrupt gzip stream (unexpected end of file)", msg)
      -- whole data but no trailer (CRC and length)
      local r = write_idx(gz:sub(1, -9), ".gz")
      t, msg = data.read_idx(r)
      assert.is_nil(t)
      assert.are.equal("read_idx: " .. r .. ": corrupt gzip stream (unexpected end of file)", msg)
      -- a wrong CRC
      local s = write_idx(gz:sub(1, -9) .. "\0\0\0\0" .. gz:sub(-4), ".gz")
      t, msg = data.read_idx(s)
      assert.is_nil(t)
      assert.is_truthy(msg:find("read_idx: " .. s .. ": corrupt gzip stream (", 1, true), msg)
    end)

    it("a directory", function ()
      local d = util.tmp("")
      assert(os.execute("mkdir '" .. d .. "'"))
      bad(d, "read error (Is a directory)")
      os.execute("rmdir '" .. d .. "'")
    end)

    it("a path that is not a string raises", function ()
      assert.are.equal("bad argument #1 to 'read_idx' (string expected, got nil)",
                       util.err(data.read_idx))
    end)
  end)

  it("leaves the live-byte counter at its baseline", function ()
    collectgarbage()
    collectgarbage()
    assert.are.equal(BASELINE, dm.memory())
  end)
end)
