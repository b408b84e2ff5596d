#!/bin/sh
# tests/c/test_install.sh -- `make install PREFIX=/usr/local DESTDIR=<tmp>` stages the files it
# should and nothing else; from the staged tree lua5.4 requires deepmoon, the installed
# deepmoon program runs, and pkg-config compiles a C program against libdeepmoon;
# `make uninstall` removes it all.  Then the rockspec: its fields, and, where luarocks is
# installed, `luarocks make` into a scratch tree.  `make test` runs it with DM_HOST set to
# the host of the configuration under test, whose build directory this installs from.
# The last line is "test_install: N passed, M failed, K skipped".
host=${DM_HOST:-build/deepmoon-host}
builddir=$(dirname "$host")
lua=${DM_LUA:-lua5.4}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
pass=0
fail=0
skip=0
skipped=""

# check NAME EXPECTED ACTUAL
check () {
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
    fi
}

version=$(sed -n 's/^#define DM_VERSION "\(.*\)"/\1/p' core/deepmoon.h)

# the configuration of $builddir, so the sub-make installs what is built and rebuilds nothing
# (its own MAKEFLAGS would carry the parent's jobserver, which it cannot use)
cfg="BUILDDIR=$builddir $(cat "$builddir/host.conf" 2>/dev/null)"
case ${builddir##*/} in *asan*) cfg="$cfg SANITIZE=1" ;; esac
case ${builddir##*/} in *noblas*) cfg="$cfg BLAS=0" ;; esac
submake () {
    # shellcheck disable=SC2086  # cfg is words
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s --no-print-directory "$@" $cfg
}

# ---- make install into a staging directory -----------------------------------------------

before=$(ls -l --time-style=+%s.%N "$host" "$builddir/deepmoon/core.so" 2>&1)
submake install PREFIX=/usr/local DESTDIR="$stage" > "$tmp/log" 2>&1
rc=$?
check "make install status" "0" "$rc"
[ "$rc" = 0 ] || cat "$tmp/log"
check "make install rebuilt nothing" "$before" \
    "$(ls -l --time-style=+%s.%N "$host" "$builddir/deepmoon/core.so" 2>&1)"

expected=$({
    echo usr/local/bin/deepmoon
    echo usr/local/include/deepmoon.h
    echo usr/local/include/deepmoon_lua.h
    echo usr/local/lib/libdeepmoon.a
    echo usr/local/lib/libdeepmoon.so
    echo usr/local/lib/libdeepmoon_lua.a
    echo usr/local/lib/lua/5.4/deepmoon/core.so
    echo usr/local/lib/pkgconfig/deepmoon.pc
    echo usr/local/lib/pkgconfig/deepmoon-lua.pc
    (cd lua && find deepmoon -name '*.lua') | sed 's|^|usr/local/share/lua/5.4/|'
} | sort)
check "installed files" "$expected" "$(cd "$stage" && find . -type f | sed 's|^\./||' | sort)"
check "modes" "755 755 644 644" "$(stat -c %a "$stage/usr/local/bin/deepmoon" \
    "$stage/usr/local/lib/lua/5.4/deepmoon/core.so" "$stage/usr/local/include/deepmoon.h" \
    "$stage/usr/local/share/lua/5.4/deepmoon/init.lua" | tr '\n' ' ' | sed 's/ $//')"

# lua5.4 with only the staged directories on its paths (no ';;': not the source tree, not a
# real /usr/local install)
L=$stage/usr/local/share/lua/5.4
C=$stage/usr/local/lib/lua/5.4
staged () {
    env -u LUA_PATH -u LUA_CPATH -u LUA_INIT -u LUA_INIT_5_4 \
        LUA_PATH_5_4="$L/?.lua;$L/?/init.lua" LUA_CPATH_5_4="$C/?.so" "$@"
}
check "lua5.4 requires the staged deepmoon" "$C/deepmoon/core.so
tensor([0., 0.])" "$(staged "$lua" -e 'local dm = require "deepmoon"
    print(package.searchpath("deepmoon.core", package.cpath)) print(dm.zeros(2))' 2>&1)"
check "the staged submodules load" "table	table	table	table" "$(staged "$lua" -e '
    local dm = require "deepmoon"
    print(type(dm.nn), type(dm.optim), type(dm.data), type(dm.nn.init))' 2>&1)"
check "the installed deepmoon runs scripts" "tensor([1., 1., 1.])" \
    "$(staged "$stage/usr/local/bin/deepmoon" -e 'print(require "deepmoon".ones(3))' 2>&1)"
check "the installed deepmoon's prompt" "deepmoon $version: dm, nn, optim, init, data ready
> tensor([[1., 0.],
        [0., 1.]])
> " "$(echo 'dm.eye(2)' | staged "$stage/usr/local/bin/deepmoon" -i 2>&1 | sed 1d)"

pc () { PKG_CONFIG_PATH=$stage/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage \
        pkg-config "$@" deepmoon; }
check "pkg-config --modversion" "$version" "$(pc --modversion 2>&1)"
check "pkg-config --cflags --libs" "-I$stage/usr/local/include -L$stage/usr/local/lib -ldeepmoon" \
    "$(echo $(pc --cflags --libs 2>&1))"
cat > "$tmp/prog.c" <<'C'
#include <stdio.h>
#include <deepmoon.h>
int main (void) {
    dm_tensor *a = dm_tensor_full(2, (int64_t[]){2, 3}, 1.0f);
    dm_tensor *b = dm_tensor_full(2, (int64_t[]){3, 4}, 2.0f);
    dm_tensor *c = dm_matmul(a, b);
    if (!c) { fprintf(stderr, "%s\n", dm_errmsg()); return 1; }
    printf("%s %g %lld\n", DM_VERSION, dm_get(c, (int64_t[]){1, 3}), (long long)dm_numel(c));
    dm_tensor_release(a); dm_tensor_release(b); dm_tensor_release(c);
    return 0;
}
C
san=""
[ -n "$DM_SANITIZE" ] && san="-fsanitize=address,undefined"
# shellcheck disable=SC2046  # pkg-config output is words
${CC:-cc} $san -o "$tmp/prog" "$tmp/prog.c" $(pc --cflags --libs) > "$tmp/log" 2>&1
check "a C program builds with pkg-config" "0" "$?"
check "and runs against the staged libdeepmoon.so" "$version 6 8" \
    "$(LD_LIBRARY_PATH=$stage/usr/local/lib "$tmp/prog" 2>&1)"

submake uninstall PREFIX=/usr/local DESTDIR="$stage" > "$tmp/log" 2>&1
check "make uninstall status" "0" "$?"
check "make uninstall leaves no files" "" "$(cd "$stage" && find . -type f)"
check "nor deepmoon directories" "" "$(cd "$stage" && find . -type d -name deepmoon)"

# ---- the rockspec ---------------------------------------------------------------------------

set -- deepmoon-*.rockspec
check "one rockspec, for this version" "deepmoon-$version-1.rockspec" "$*"
rockspec=$1
cat > "$tmp/rockspec.lua" <<'LUA'
local spec = {}
local f = assert(loadfile(arg[1], "t", spec))
f()
local b, iv = spec.build or {}, (spec.build or {}).install_variables or {}
local want = {
  package = spec.package == "deepmoon",
  version = spec.version == arg[2] .. "-1",
  source = type(spec.source) == "table" and type(spec.source.url) == "string",
  lua = type(spec.dependencies) == "table" and spec.dependencies[1] == "lua >= 5.4, < 5.5",
  make = b.type == "make",
  dirs = iv.PREFIX == "$(PREFIX)" and iv.BINDIR == "$(BINDIR)" and
         iv.LUA_LDIR == "$(LUADIR)" and iv.LUA_CDIR == "$(LIBDIR)",
  dev = iv.INSTALL_DEV == "0",
}
local bad = {}
for k, ok in pairs(want) do if not ok then bad[#bad + 1] = k end end
table.sort(bad)
print(#bad == 0 and "ok" or "bad: " .. table.concat(bad, " "))
LUA
check "rockspec fields" "ok" "$("$lua" "$tmp/rockspec.lua" "$rockspec" "$version" 2>&1)"

if ! command -v luarocks > /dev/null 2>&1; then
    skip=$((skip + 4))
    skipped="luarocks make: luarocks not installed"
elif [ "${builddir##*/}" != build ]; then
    skip=$((skip + 4))
    skipped="luarocks make: runs on the default build only"
else
    tree=$tmp/tree
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL luarocks --lua-version 5.4 --tree "$tree" \
        make "$rockspec" > "$tmp/log" 2>&1
    rc=$?
    check "luarocks make status" "0" "$rc"
    [ "$rc" = 0 ] || cat "$tmp/log"
    check "luarocks deployed the program and the modules" "bin/deepmoon
lib/lua/5.4/deepmoon/core.so
share/lua/5.4/deepmoon/init.lua" "$(cd "$tree" && ls bin/deepmoon lib/lua/5.4/deepmoon/core.so \
        share/lua/5.4/deepmoon/init.lua 2>&1)"
    check "no C library deployed as a Lua module" "" \
        "$(find "$tree/lib/lua" "$tree/share/lua" -name 'libdeepmoon*' -o -name '*.pc')"
    rocks () {
        env -u LUA_PATH -u LUA_CPATH LUA_PATH_5_4="$tree/share/lua/5.4/?.lua;$tree/share/lua/5.4/?/init.lua" \
            LUA_CPATH_5_4="$tree/lib/lua/5.4/?.so" "$@"
    }
    check "the rock's deepmoon runs" "tensor([0., 0.])" \
        "$(rocks "$tree/bin/deepmoon" -e 'print(require "deepmoon".zeros(2))' 2>&1)"
fi

echo "test_install: $pass passed, $fail failed, $skip skipped${skipped:+ ($skipped)}"
[ "$fail" -eq 0 ]
