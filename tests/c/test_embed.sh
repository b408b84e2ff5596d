#!/bin/sh
# tests/c/test_embed.sh -- the C hosts of examples/embed: embed_host (Lua inside a C program
# through luaopen_deepmoon, its own C arrays in and out) and embed_infer (plain C, no Lua),
# on a model saved by a plain script and checked against that script's own forward; the
# README's in-tree build command; error exits.  `make test` runs this with DM_HOST, DM_LUA
# and the Lua paths of the configuration under test; the last line is
# "test_embed: N passed, M failed".
root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd -P) || exit 1
host=${DM_HOST:-$root/build/deepmoon-host}
builddir=$(dirname -- "$host")
lua=${DM_LUA:-lua5.4}
export LUA_PATH_5_4="${LUA_PATH_5_4:-$root/lua/?.lua;$root/lua/?/init.lua;;}"
export LUA_CPATH_5_4="${LUA_CPATH_5_4:-$builddir/?.so;;}"
embed_host=$builddir/examples/embed_host
embed_infer=$builddir/examples/embed_infer
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# check NAME EXPECTED ACTUAL
check () {
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
    fi
}

# close NAME FILE_A FILE_B: the same numbers, to 1e-6 (relative above 1)
close () {
    if awk 'NR == FNR { a[FNR] = $0; n = FNR; next }
            { m = FNR; k = split(a[FNR], x, " "); l = split($0, y, " ");
              if (k != l || k == 0) bad = 1;
              for (i = 1; i <= k; i++) { d = x[i] - y[i]; if (d < 0) d = -d;
                  s = x[i] < 0 ? -x[i] : x[i]; if (s < 1) s = 1; if (d > 1e-6 * s) bad = 1 } }
            END { exit (bad || n != m || n == 0) }' "$2" "$3"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$(cat "$2")" "$(cat "$3")"
    fi
}

for b in "$embed_host" "$embed_infer"; do
    if [ ! -x "$b" ]; then
        echo "test_embed: $b is not built (make builds it)"
        echo "test_embed: 0 passed, 1 failed"
        exit 1
    fi
done

# ---- a model saved by a plain script, and that script's own answers -----------------------
"$lua" "$root/examples/embed/train_and_save.lua" "$tmp/model.safetensors" > "$tmp/train.out" 2>&1
check "train_and_save.lua exit status" 0 "$?"
rows="-2,0 2,0.5 0,2.5 0.25,-1.75 3,3"
cat > "$tmp/plain.lua" <<'EOF'
local dm = require "deepmoon"
local path = ...
local model = assert(dm.nn.load_model(path))
local rows = {}
for i = 2, select("#", ...) do
  local r = {}
  for v in (select(i, ...) .. ","):gmatch("([^,]*),") do r[#r + 1] = tonumber(v) end
  rows[#rows + 1] = r
end
for _, row in ipairs(model(dm.tensor(rows, { dtype = dm.float32 })):totable()) do
  local vals = {}
  for j, v in ipairs(row) do vals[j] = ("%.9g"):format(v) end
  print(table.concat(vals, " "))
end
EOF
# shellcheck disable=SC2086  # one argument per row
"$lua" "$tmp/plain.lua" "$tmp/model.safetensors" $rows > "$tmp/plain.out" 2>&1
check "plain script exit status" 0 "$?"

# ---- embed_infer: plain C ---------------------------------------------------------------
# shellcheck disable=SC2086
"$embed_infer" "$tmp/model.safetensors" $rows > "$tmp/infer.out" 2>&1
check "embed_infer exit status" 0 "$?"
close "embed_infer answers as the plain script" "$tmp/plain.out" "$tmp/infer.out"

# ---- embed_host: Lua inside C, run where no Lua file can be found -------------------------
(cd "$tmp" && LUA_PATH_5_4=';;' LUA_CPATH_5_4=';;' LUA_PATH='' LUA_CPATH='' \
    "$embed_host" "$tmp/model.safetensors" $rows > "$tmp/host.out" 2>&1)
check "embed_host exit status" 0 "$?"
close "embed_host answers as the plain script" "$tmp/plain.out" "$tmp/host.out"

(cd "$tmp" && LUA_PATH_5_4=';;' LUA_CPATH_5_4=';;' "$embed_host" > "$tmp/xor.out" 2>&1)
check "embed_host trains in Lua" 0 "$?"
check "embed_host learned XOR" "0 1 1 0" \
    "$(awk '{ printf "%s%d", (NR > 1 ? " " : ""), ($1 > 0.5) }' "$tmp/xor.out")"

# ---- errors --------------------------------------------------------------------------------
"$embed_infer" "$tmp/missing.safetensors" 1,2 > "$tmp/err.out" 2>&1
check "embed_infer: missing file status" 1 "$?"
check "embed_infer: missing file message" \
    "load: $tmp/missing.safetensors: No such file or directory" "$(cat "$tmp/err.out")"
"$embed_infer" "$tmp/model.safetensors" 1,2,3 > "$tmp/err.out" 2>&1
check "embed_infer: wrong row status" 1 "$?"
check "embed_infer: wrong row message" "row 1: expected 2 comma-separated numbers, got '1,2,3'" \
    "$(cat "$tmp/err.out")"
"$embed_host" "$tmp/missing.safetensors" > "$tmp/err.out" 2>&1
check "embed_host: missing file status" 1 "$?"
check "embed_host: missing file message" \
    "embed_host: build_model:4: load: $tmp/missing.safetensors: No such file or directory" \
    "$(head -n 1 "$tmp/err.out")"

# ---- the README's in-tree build command -----------------------------------------------------
san=
[ "${DM_SANITIZE:-0}" = 1 ] && san="-fsanitize=address,undefined"
blas="$(pkg-config --libs openblas 2>/dev/null) $(pkg-config --libs zlib)"
# a module built with MPI (the default) holds dist.o, which needs Open MPI's libraries too
if nm "$builddir/libdeepmoon_lua.a" 2>/dev/null | grep -q ' U MPI_Init'; then
    blas="$blas $(pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link)"
fi
# shellcheck disable=SC2086  # flag lists
if cc -std=c11 $san -I"$root/core" -I"$root/bindings" $(pkg-config --cflags lua5.4) \
        -o "$tmp/host" "$root/examples/embed/host.c" "$builddir/libdeepmoon_lua.a" \
        $(pkg-config --libs lua5.4) $blas -lm > "$tmp/cc.out" 2>&1; then
    pass=$((pass + 1))
    (cd "$tmp" && ./host "$tmp/model.safetensors" $rows > "$tmp/host2.out" 2>&1)
    check "the host built by hand runs" 0 "$?"
    close "the host built by hand answers as the plain script" "$tmp/plain.out" "$tmp/host2.out"
else
    fail=$((fail + 1))
    echo "FAIL building examples/embed/host.c by hand:"
    cat "$tmp/cc.out"
fi

echo "test_embed: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
