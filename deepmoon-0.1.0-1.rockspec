-- deepmoon-0.1.0-1.rockspec -- `luarocks make` in the source tree builds deepmoon with its
-- Makefile and installs into the rock tree: the Lua files (LUADIR), the C module
-- deepmoon/core.so (LIBDIR) and the deepmoon program (BINDIR).  libdeepmoon, deepmoon.h and
-- deepmoon.pc are for C programs and come with `make install` only (INSTALL_DEV=0 here).
-- Needs a C compiler, pkg-config, the Lua 5.4 headers and library, and OpenBLAS
-- (Debian: build-essential pkg-config liblua5.4-dev libopenblas-dev zlib1g-dev; libreadline-dev for
-- line editing at the prompt, optional).  Tests: `make test` (luarocks test runs it).
rockspec_format = "3.0"
package = "deepmoon"
version = "0.1.0-1"
source = {
  -- placeholder until the project has a public repository; `luarocks make` does not fetch
  url = "git+https://deepmoon.invalid/deepmoon.git",
  tag = "v0.1.0",
}
description = {
  summary = "Deep learning for Lua 5.4: tensors, autograd and PyTorch-style nn in C and Lua",
  detailed = [[
A small C11 core holds tensors (float32, float64, int64, uint8, bool), their kernels (OpenBLAS for matrix products) and
reverse-mode autograd; pure Lua on top gives PyTorch-style layers, losses, optimizers and
data loaders under PyTorch's names.  The deepmoon program is a Lua 5.4 interpreter whose
prompt has deepmoon loaded, line editing and Tab completion.
]],
  homepage = "https://deepmoon.invalid",
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUA_LDIR = "$(LUADIR)",
    LUA_CDIR = "$(LIBDIR)",
    INSTALL_DEV = "0",
  },
}
test = {
  type = "command",
  command = "make test",
}
