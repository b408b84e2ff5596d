#!/bin/sh
# tools/doc.sh -- `make doc`: the API reference in build/doc/.
#   build/doc/index.html   the Lua API (LDoc over what tools/docgen.lua writes from the doc
#                          comments, through deepmoon.help)
#   build/doc/c_api.html   the C API, from core/deepmoon.h (tools/cdoc.lua)
# LDoc is Debian's lua-ldoc; when it is missing it is installed (as root), or the command to
# install it is printed.  `make test` does not need it (tests/doc_spec.lua reads the
# comments itself).  Run from the source tree after `make` (the module must be built).
set -eu
LUA=${LUA:-lua5.4}
BUILDDIR=${BUILDDIR:-build}
out=build/doc
src=build/doc-src

ldoc=$(command -v ldoc || true)
if [ -z "$ldoc" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get > /dev/null 2>&1; then
        echo "doc.sh: installing lua-ldoc"
        DEBIAN_FRONTEND=noninteractive apt-get -q -y install lua-ldoc > /dev/null ||
            { apt-get -q update > /dev/null &&
              DEBIAN_FRONTEND=noninteractive apt-get -q -y install lua-ldoc > /dev/null; }
        ldoc=$(command -v ldoc)
    else
        echo "doc.sh: LDoc is missing; install it:  apt-get install lua-ldoc  (or luarocks install ldoc)" >&2
        exit 1
    fi
fi

rm -rf "$out"
mkdir -p "$out" "$src"
rm -f "$src"/*.lua
LUA_PATH_5_4="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH_5_4="$PWD/$BUILDDIR/?.so;;" \
    "$LUA" tools/docgen.lua "$src"
# Debian's ldoc script asks for Lua 5.1 or 5.2 by name; its modules run under 5.4 too
"$LUA" "$ldoc" -q -c docs/config.ld .
"$LUA" tools/cdoc.lua core/deepmoon.h "$out/c_api.html"
echo "doc.sh: open $out/index.html (Lua API) and $out/c_api.html (C API)"
