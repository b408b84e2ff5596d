-- The licence: MIT for the project (LICENSE, the rockspec, the installed headers and the Lua
-- module carry it), and every data set shipped under data/ states its own licence beside it.

local util = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "helpers/util.lua")
local read = util.read_bytes

describe("licence", function ()
  it("LICENSE holds the MIT licence text", function ()
    local s = read("LICENSE")
    assert.truthy(s:find("^MIT License\n"))
    assert.truthy(s:find("Permission is hereby granted, free of charge", 1, true))
    assert.truthy(s:find('THE SOFTWARE IS PROVIDED "AS IS"', 1, true))
  end)

  it("the rockspec names it", function ()
    local found
    for name in io.popen("ls *.rockspec"):lines() do
      found = true
      local env = {}
      assert(load(read(name), name, "t", env))()
      assert.are.equal("MIT", env.description.license)
    end
    assert.truthy(found)
  end)

  it("the files installed on their own carry an SPDX line", function ()
    for _, path in ipairs({ "core/deepmoon.h", "bindings/deepmoon_lua.h",
                            "lua/deepmoon/init.lua" }) do
      local first = read(path):match("^[^\n]*")
      assert.truthy(first:find("SPDX-License-Identifier: MIT", 1, true), path)
    end
  end)

  it("every data set under data/ states its licence beside it", function ()
    local n = 0
    for dir in io.popen("ls -d data/*/"):lines() do
      n = n + 1
      local s = read(dir .. "README.md")
      assert.truthy(s:find("\n## Licen[cs]e\n"), dir)
    end
    assert.is_true(n >= 1)
  end)
end)
