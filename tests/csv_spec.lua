-- deepmoon.data.csv (read_csv) and deepmoon.data.prep (standardize, train_test_split).

local dm = require "deepmoon"
local csv = require "deepmoon.data.csv"
local prep = require "deepmoon.data.prep"

collectgarbage()
collectgarbage()
local baseline = dm.memory()

-- the message of the error fn raises, without the position; and the position
local function err (fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", "")), tostring(e)
end

local tmpfiles = {}
local function write_tmp (text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  tmpfiles[#tmpfiles + 1] = path
  return path
end

local function close_to (a, b, tol)
  if type(a) == "table" then
    assert.are.equal(#b, #a)
    for i = 1, #a do close_to(a[i], b[i], tol) end
    return
  end
  assert(math.abs(a - b) <= (tol or 1e-5), ("%s is not close to %s"):format(a, b))
end

local DIGITS = "data/digits/digits.csv"

-- a file that fails to load returns nil and a message; give the message
local function fails (fn, ...)
  local r, msg = fn(...)
  assert(r == nil, "expected nil, message")
  assert(type(msg) == "string", "expected a message")
  return msg
end

describe("read_csv", function ()
  it("reads a header, features and a label column named in the header", function ()
    local p = write_tmp("a,b,label\n1,2,0\n3.5,-4,1\n1e3,0.25,2\n")
    local X, y, names = csv.read_csv(p, { label_column = "label" })
    assert.are.same({ 3, 2 }, X:size())
    assert.are.same({ 3 }, y:size())
    assert.are.same({ 1, 2, 3.5, -4, 1000, 0.25 }, X:values())
    assert.are.same({ 0, 1, 2 }, y:values())
    assert.are.same({ "a", "b", label = "label" }, names)
  end)

  it("takes the label as a column number, negative from the end", function ()
    local p = write_tmp("a,b,c\n1,2,3\n4,5,6\n")
    local X, y, names = csv.read_csv(p, { label_column = 1 })
    assert.are.same({ 2, 3, 5, 6 }, X:values())
    assert.are.same({ 1, 4 }, y:values())
    assert.are.same({ "b", "c", label = "a" }, names)
    X, y = csv.read_csv(p, { label_column = -1 })
    assert.are.same({ 1, 2, 4, 5 }, X:values())
    assert.are.same({ 3, 6 }, y:values())
  end)

  it("reads every column into X without a label, and no names without a header", function ()
    local p = write_tmp("1,2,3\n4,5,6\n")
    local X, y, names = csv.read_csv(p, { header = false })
    assert.are.same({ 2, 3 }, X:size())
    assert.is_nil(y)
    assert.is_nil(names)
    X, y = csv.read_csv(p, { header = false, label_column = 2 })
    assert.are.same({ 1, 3, 4, 6 }, X:values())
    assert.are.same({ 2, 5 }, y:values())
  end)

  it("selects and orders feature columns by name or number", function ()
    local p = write_tmp("a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    local X, y, names = csv.read_csv(p, { columns = { "c", 1 }, label_column = "d" })
    assert.are.same({ 3, 1, 7, 5 }, X:values())
    assert.are.same({ 4, 8 }, y:values())
    assert.are.same({ "c", "a", label = "d" }, names)
  end)

  it("skips lines at the top, blank lines, CRLF ends, a byte-order mark and a missing last newline", function ()
    local p = write_tmp("\239\187\191# made by hand\r\nx;y\r\n1;2\r\n\r\n  \r\n3;4")
    local X, _, names = csv.read_csv(p, { skip = 1, delimiter = ";" })
    assert.are.same({ 1, 2, 3, 4 }, X:values())
    assert.are.same({ "x", "y" }, names)
    p = write_tmp("\239\187\191x\ty\n1\t2\n")
    X, _, names = csv.read_csv(p, { delimiter = "\t" })
    assert.are.same({ 1, 2 }, X:values())
    assert.are.same({ "x", "y" }, names)
  end)

  it("reads quoted fields: commas, doubled quotes, line breaks, quoted numbers", function ()
    local p = write_tmp('"width, cm","the ""x""","two\nlines",n\n"1.5", 2 ,3,"4"\n5,"6",7,8\n')
    local X, y, names = csv.read_csv(p, { label_column = "n" })
    assert.are.same({ "width, cm", 'the "x"', "two\nlines", label = "n" }, names)
    assert.are.same({ 1.5, 2, 3, 5, 6, 7 }, X:values())
    assert.are.same({ 4, 8 }, y:values())
  end)

  it("counts lines across a quoted line break in its messages", function ()
    local p = write_tmp('a,b\n"x\ny",1\n1,oops\n')
    assert.are.equal(("read_csv: %s:4: column 2: 'oops' is not a number"):format(p),
                     fails(csv.read_csv, p, { columns = { 2 } }))
  end)

  it("accepts nan and inf but not hexadecimal", function ()
    local p = write_tmp("a,b,c\nnan,inf,-Inf\n")
    local X = csv.read_csv(p)
    local v = X:values()
    assert.is_true(v[1] ~= v[1])
    assert.are.equal(math.huge, v[2])
    assert.are.equal(-math.huge, v[3])
    p = write_tmp("a\n0x10\n")
    assert.are.equal(("read_csv: %s:2: column 1: '0x10' is not a number"):format(p),
                     fails(csv.read_csv, p))
  end)

  it("names the file, line and column of a value that is not a number", function ()
    local p = write_tmp("a,b,c\n1,2,3\n4,5,abc\n")
    local X, msg = csv.read_csv(p)
    assert.is_nil(X)
    assert.are.equal(("read_csv: %s:3: column 3: 'abc' is not a number"):format(p), msg)
    assert.are.equal(("read_csv: %s:3: column 3: 'abc' is not a number"):format(p),
                     fails(csv.read_csv, p, { label_column = "c" }))
  end)

  it("reports missing values and ragged rows", function ()
    local p = write_tmp("a,b,c\n1,,3\n")
    assert.are.equal(("read_csv: %s:2: column 2: missing value"):format(p), fails(csv.read_csv, p))
    p = write_tmp("a,b,c\n1,2,3\n4,5\n")
    assert.are.equal(("read_csv: %s:3: expected 3 fields, got 2"):format(p), fails(csv.read_csv, p))
    p = write_tmp('a,b\n"1,2\n')
    assert.are.equal(("read_csv: %s:2: unterminated quoted field"):format(p), fails(csv.read_csv, p))
    p = write_tmp('a,b\n"1"x,2\n')
    assert.are.equal(("read_csv: %s:2: field 1: text after the closing quote"):format(p),
                     fails(csv.read_csv, p))
  end)

  it("reports columns that are not in the file", function ()
    local p = write_tmp("a,b\n1,2\n")
    assert.are.equal(("read_csv: %s: label_column: no column named 'z' in the header"):format(p),
                     fails(csv.read_csv, p, { label_column = "z" }))
    assert.are.equal(("read_csv: %s: columns[2]: column 3 is out of range for 2 columns"):format(p),
                     fails(csv.read_csv, p, { columns = { 1, 3 } }))
  end)

  it("reports an empty file, and reads a header without rows as [0 x F]", function ()
    local p = write_tmp("")
    assert.are.equal(("read_csv: %s: no header line (the file is empty)"):format(p),
                     fails(csv.read_csv, p))
    assert.are.equal(("read_csv: %s: the file is empty"):format(p),
                     fails(csv.read_csv, p, { header = false }))
    p = write_tmp("a,b,c\n")
    local X, y = csv.read_csv(p, { label_column = "c" })
    assert.are.same({ 0, 2 }, X:size())
    assert.are.same({ 0 }, y:size())
  end)

  it("returns nil and a message for a file that cannot be opened", function ()
    local X, msg = csv.read_csv("/nonexistent/dir/none.csv")
    assert.is_nil(X)
    assert.are.equal("read_csv: /nonexistent/dir/none.csv: No such file or directory", msg)
  end)

  it("rejects bad options", function ()
    local p = write_tmp("a\n1\n")
    assert.are.equal("read_csv: unknown option 'delim'", err(csv.read_csv, p, { delim = ";" }))
    assert.are.equal("read_csv: path must be a string, got nil", err(csv.read_csv))
    assert.are.equal("read_csv: delimiter must be one character other than a quote or a newline, got ';;'",
                     err(csv.read_csv, p, { delimiter = ";;" }))
    assert.are.equal("read_csv: skip must be a non-negative integer, got -1",
                     err(csv.read_csv, p, { skip = -1 }))
    assert.are.equal("read_csv: label_column is a name but the file has no header (header = false)",
                     err(csv.read_csv, p, { header = false, label_column = "a" }))
    assert.are.equal("read_csv: columns must be a non-empty list of column numbers or header names",
                     err(csv.read_csv, p, { columns = {} }))
  end)

  it("reads the digits data set shipped in data/digits", function ()
    local X, y, names = assert(csv.read_csv(DIGITS, { label_column = "digit" }))
    assert.are.same({ 1797, 64 }, X:size())
    assert.are.same({ 1797 }, y:size())
    assert.are.equal("pixel_0_0", names[1])
    assert.are.equal("pixel_7_7", names[64])
    assert.are.equal("digit", names.label)
    -- totals computed with numpy from scikit-learn's copy
    assert.are.equal(561718, X:sum():item())
    assert.are.equal(8070, y:sum():item())
    assert.are.same({ 0, 0, 5, 13, 9, 1, 0, 0 }, X:select(1, 1):narrow(1, 1, 8):values())
    assert.are.equal(8, y:get(1797))
    assert.are.equal(0, X:min():item())
    assert.are.equal(16, X:max():item())
  end)
end)

describe("standardize", function ()
  it("scales each column to mean 0 and population std 1", function ()
    local X = dm.tensor({ { 1, 10, 5 }, { 3, 10, 6 }, { 5, 10, 10 } })
    local Xs, mean, std = prep.standardize(X)
    close_to(mean:values(), { 3, 10, 7 })
    -- column 1: deviations -2, 0, 2 -> population std sqrt(8/3); column 2 is constant
    close_to(std:values(), { math.sqrt(8 / 3), 1, math.sqrt(14 / 3) })
    local s1 = math.sqrt(8 / 3)
    close_to(Xs:select(2, 1):values(), { -2 / s1, 0, 2 / s1 })
    close_to(Xs:select(2, 2):values(), { 0, 0, 0 })
    close_to(Xs:mean(1):values(), { 0, 0, 0 })
  end)

  it("treats a constant column whose float std is rounding noise as constant", function ()
    local X = dm.full({ 7, 2 }, 0.1)
    X:select(2, 2):copy_(dm.arange(7))
    local Xs, _, std = prep.standardize(X)
    assert.are.equal(1, std:get(1))
    close_to(Xs:select(2, 1):values(), { 0, 0, 0, 0, 0, 0, 0 })
  end)

  it("applies given statistics, as tensors or lists", function ()
    local X = dm.tensor({ { 1, 2 }, { 3, 4 } })
    local Xs, mean, std = prep.standardize(X, { mean = { 1, 2 }, std = dm.tensor({ 2, 4 }) })
    assert.are.same({ 0, 0, 1, 0.5 }, Xs:values())
    assert.are.same({ 1, 2 }, mean:values())
    assert.are.same({ 2, 4 }, std:values())
  end)

  it("matches scikit-learn's StandardScaler on the digits", function ()
    local X = assert(csv.read_csv(DIGITS, { label_column = "digit" }))
    local Xs, mean, std = prep.standardize(X)
    -- StandardScaler().fit(X).mean_ and .scale_ at columns 2, 3, 11, 64 (1-based)
    close_to({ mean:get(2), mean:get(3), mean:get(11), mean:get(64) },
             { 0.30383973, 5.20478575, 10.38230384, 0.36449638 }, 1e-4)
    close_to({ std:get(1), std:get(2), std:get(3), std:get(11), std:get(64) },
             { 1, 0.90693964, 4.75350317, 5.41994694, 1.85960409 }, 1e-4)
    assert.is_true(Xs:mean(1):abs():max():item() < 1e-5)
  end)

  it("rejects bad input", function ()
    local X = dm.zeros(3, 2)
    assert.are.equal("standardize: X must be a matrix [N x F], got [3]", err(prep.standardize, dm.zeros(3)))
    assert.are.equal("standardize: unknown option 'scale'", err(prep.standardize, X, { scale = 1 }))
    assert.are.equal("standardize: give both mean and std, or neither",
                     err(prep.standardize, X, { mean = { 0, 0 } }))
    assert.are.equal("standardize: mean must have one value per column, [2], got [3]",
                     err(prep.standardize, X, { mean = { 0, 0, 0 }, std = { 1, 1 } }))
    assert.are.equal("standardize: cannot compute the stats of an empty matrix [0 x 2]",
                     err(prep.standardize, dm.zeros(0, 2)))
  end)
end)

describe("train_test_split", function ()
  -- row i of X is (i, -i) and y[i] = 10 i: each pair stays together
  local function data (n)
    local X = dm.arange(1, n + 1):unsqueeze(2):expand(n, 2):contiguous()
    X:select(2, 2):mul_(-1)
    return X, dm.arange(1, n + 1) * 10
  end

  it("splits rows into disjoint train and test parts, X and y together", function ()
    local X, y = data(10)
    local Xtr, Xte, ytr, yte = prep.train_test_split(X, y, { test_size = 0.2, generator = dm.Generator(3) })
    assert.are.same({ 8, 2 }, Xtr:size())
    assert.are.same({ 2, 2 }, Xte:size())
    assert.are.same({ 8 }, ytr:size())
    assert.are.same({ 2 }, yte:size())
    local seen = {}
    for _, pair in ipairs({ { Xtr, ytr }, { Xte, yte } }) do
      local xs, ys = pair[1]:totable(), pair[2]:values()
      for i, row in ipairs(xs) do
        assert.are.equal(-row[1], row[2])
        assert.are.equal(10 * row[1], ys[i])
        assert.is_nil(seen[row[1]])
        seen[row[1]] = true
      end
    end
    for i = 1, 10 do assert.is_true(seen[i]) end
  end)

  it("is reproducible with a seeded generator and takes the test rows first from the permutation", function ()
    local X, y = data(20)
    local _, Xte1 = prep.train_test_split(X, y, { generator = dm.Generator(5) })
    local _, Xte2 = prep.train_test_split(X, y, { generator = dm.Generator(5) })
    assert.are.same(Xte1:values(), Xte2:values())
    local perm = dm.randperm(20, { generator = dm.Generator(5) }):narrow(1, 1, 5)
    assert.are.same(perm:values(), Xte1:select(2, 1):values())
  end)

  it("sizes like scikit-learn: test rounded up (default 0.25), train rounded down", function ()
    local X, y = data(10)
    local Xtr, Xte = prep.train_test_split(X, y)
    assert.are.equal(7, Xtr:size(1))
    assert.are.equal(3, Xte:size(1))
    Xtr, Xte = prep.train_test_split(X, y, { test_size = 0.33 })
    assert.are.equal(6, Xtr:size(1))
    assert.are.equal(4, Xte:size(1))
    Xtr, Xte = prep.train_test_split(X, y, { test_size = 3 })
    assert.are.equal(7, Xtr:size(1))
    Xtr, Xte = prep.train_test_split(X, y, { train_size = 0.55, test_size = 2 })
    assert.are.equal(5, Xtr:size(1))
    assert.are.equal(2, Xte:size(1))
  end)

  it("keeps the order without shuffling, training rows first; y may be left out", function ()
    local X = data(5)
    local Xtr, Xte, ytr = prep.train_test_split(X, { test_size = 2, shuffle = false })
    assert.are.same({ 1, 2, 3 }, Xtr:select(2, 1):values())
    assert.are.same({ 4, 5 }, Xte:select(2, 1):values())
    assert.is_nil(ytr)
  end)

  it("rejects bad input", function ()
    local X, y = data(4)
    assert.are.equal("train_test_split: X and y have different numbers of rows: X [4 x 2], y [3]",
                     err(prep.train_test_split, X, dm.zeros(3)))
    assert.are.equal("train_test_split: unknown option 'seed'", err(prep.train_test_split, X, y, { seed = 1 }))
    assert.are.equal("train_test_split: test_size = 1.5 must be a fraction in (0, 1) or a row count",
                     err(prep.train_test_split, X, y, { test_size = 1.5 }))
    assert.are.equal("train_test_split: test_size = 4 must be a row count in [1, 4) for 4 rows",
                     err(prep.train_test_split, X, y, { test_size = 4 }))
    assert.are.equal("train_test_split: train_size + test_size = 3 + 2 rows, more than the 4 rows of X",
                     err(prep.train_test_split, X, y, { test_size = 2, train_size = 3 }))
    assert.are.equal("train_test_split: option 'generator' must be a deepmoon.Generator, got number",
                     err(prep.train_test_split, X, y, { generator = 1 }))
  end)
end)

describe("data helpers", function ()
  it("raise errors at the caller's line", function ()
    local X = dm.zeros(3, 2)
    local calls = {
      function () local r = csv.read_csv("x.csv", { bad = 1 }); return r end,
      function () local r = prep.standardize(X, { mean = { 0 }, std = { 1, 1 } }); return r end,
      function () local r = prep.standardize(X, { mean = { "a", 1 }, std = { 1, 1 } }); return r end,
      function () local r = prep.train_test_split(X, nil, { test_size = 7 }); return r end,
      function () local r = prep.train_test_split(X, dm.zeros(2)); return r end,
    }
    for i, fn in ipairs(calls) do
      local _, full = err(fn)
      assert.truthy(full:match("^[^:]*csv_spec%.lua:%d+: "), ("call %d: %s"):format(i, full))
    end
  end)

  it("add no globals", function ()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["deepmoon.data.csv"] = nil
    package.loaded["deepmoon.data.prep"] = nil
    require "deepmoon.data.csv"
    require "deepmoon.data.prep"
    for k in pairs(_G) do assert.is_true(before[k], "new global " .. tostring(k)) end
  end)

  it("leave live tensor bytes at the baseline", function ()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
    collectgarbage()
    collectgarbage()
    assert.are.equal(baseline, dm.memory())
  end)
end)
