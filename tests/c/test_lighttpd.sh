#!/bin/sh
# tests/c/test_lighttpd.sh -- deepmoon inside a real Lua-hosting application: lighttpd with
# mod_magnet (Debian's lighttpd + lighttpd-modules-lua, which link Lua 5.4) answers model
# predictions over HTTP through tests/lighttpd/predict.lua.
#
# A plain script trains and saves a small model; lighttpd starts on 127.0.0.1 (a free port)
# twice: once finding deepmoon through LUA_PATH_5_4 / LUA_CPATH_5_4, once opening it from
# the module file alone (package.loadlib(core.so, "luaopen_deepmoon"), no Lua files).  Each
# answer is checked against the same model run by a plain script (to 1e-6), then the server
# is stopped.  `make test` runs this with DM_HOST, DM_LUA and the Lua paths of the
# configuration under test; the last line is "test_lighttpd: N passed, M failed".
root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd -P) || exit 1
host=${DM_HOST:-$root/build/deepmoon-host}
builddir=$(dirname -- "$host")
lua=${DM_LUA:-lua5.4}
export LUA_PATH_5_4="${LUA_PATH_5_4:-$root/lua/?.lua;$root/lua/?/init.lua;;}"
export LUA_CPATH_5_4="${LUA_CPATH_5_4:-$builddir/?.so;;}"
pass=0
fail=0

give_up () {
    echo "test_lighttpd: $1"
    echo "test_lighttpd: 0 passed, 1 failed"
    exit 1
}

lighttpd=$(command -v lighttpd || { [ -x /usr/sbin/lighttpd ] && echo /usr/sbin/lighttpd; })
[ -n "$lighttpd" ] ||
    give_up "lighttpd is missing (tools/deps.sh installs lighttpd, lighttpd-modules-lua, curl)"
[ -f /usr/lib/lighttpd/mod_magnet.so ] ||
    give_up "mod_magnet is missing (apt-get install lighttpd-modules-lua)"
command -v curl > /dev/null || give_up "curl is not installed"
[ -f "$builddir/deepmoon/core.so" ] || give_up "$builddir/deepmoon/core.so is not built"

tmp=$(mktemp -d) || exit 1
pid=
stop_server () {
    if [ -n "$pid" ]; then
        kill "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
        pid=
    fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

# check NAME EXPECTED ACTUAL
check () {
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
    fi
}

# a sanitized module can only load into a process whose first library is ASan's runtime
preload=
if [ "${DM_SANITIZE:-0}" = 1 ]; then
    preload=$(ldd "$builddir/deepmoon/core.so" | awk '/libasan/ { print $3 }')
fi

# ---- the model, saved by a plain script ------------------------------------------------
if ! "$lua" "$root/examples/embed/train_and_save.lua" "$tmp/model.safetensors" \
        > "$tmp/train.out" 2>&1; then
    cat "$tmp/train.out"
    give_up "training the model failed"
fi

# the requests: name|query; names starting with "bad" expect a 400
cat > "$tmp/requests" <<'EOF'
one|x=0.3,0.9
two|x=-2,0.1;2.5,-0.4
three|x=0,2.5;1e-3,-7;4,4
signs|x=-0.5,-0.25
bad_width|x=1,2,3
bad_number|x=1,abc
bad_missing|y=1,2
bad_huge|x=1e308,1e308
EOF

# start_server MODE: lighttpd on a free port; sets $pid and $port
start_server () {
    mode=$1
    for try in 1 2 3 4 5; do
        port=$(( 20000 + ($$ * 7 + try * 1009 + $(date +%S | sed 's/^0//') * 131) % 40000 ))
        sed -e "s|@PORT@|$port|" -e "s|@DIR@|$tmp|g" \
            -e "s|@HANDLER@|$root/tests/lighttpd/predict.lua|" \
            "$root/tests/lighttpd/lighttpd.conf" > "$tmp/lighttpd.conf"
        : > "$tmp/error.log"
        if [ "$mode" = core.so ]; then
            env DM_MODEL="$tmp/model.safetensors" DM_CORE_SO="$builddir/deepmoon/core.so" \
                LUA_PATH_5_4=';;' LUA_CPATH_5_4=';;' LUA_PATH= LUA_CPATH= \
                ${preload:+LD_PRELOAD="$preload"} \
                "$lighttpd" -D -f "$tmp/lighttpd.conf" > "$tmp/server.out" 2>&1 &
        else
            env DM_MODEL="$tmp/model.safetensors" DM_CORE_SO= \
                ${preload:+LD_PRELOAD="$preload"} \
                "$lighttpd" -D -f "$tmp/lighttpd.conf" > "$tmp/server.out" 2>&1 &
        fi
        pid=$!
        # up to 10 s for it to listen
        for _ in $(seq 1 100); do
            if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then return 0; fi
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
        stop_server
        if ! grep -q -i 'address already in use\|bind' "$tmp/error.log" "$tmp/server.out"; then
            cat "$tmp/server.out" "$tmp/error.log"
            return 1
        fi
    done
    return 1
}

# run_requests MODE: every request once, answers into $tmp/MODE.*
run_requests () {
    mode=$1
    while IFS='|' read -r name query; do
        code=$(curl -s -o "$tmp/$mode.$name.body" -D "$tmp/$mode.$name.head" \
                    -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/predict?$query")
        case $name in
            bad*) check "$mode $name: status" 400 "$code" ;;
            *) check "$mode $name: status" 200 "$code"
               check "$mode $name: opened through" "$mode" \
                   "$(sed -n 's/^X-Deepmoon-Opened: *//p' "$tmp/$mode.$name.head" | tr -d '\r')" ;;
        esac
    done < "$tmp/requests"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/elsewhere")
    check "$mode: other paths" 404 "$code"
}

# the plain script: the same model through nn.load_model, compared with each answer
cat > "$tmp/check.lua" <<'EOF'
local dm = require "deepmoon"
local dir, mode = ...
local model = assert(dm.nn.load_model(dir .. "/model.safetensors"))
for line in io.lines(dir .. "/requests") do
  local name, query = line:match("^([^|]+)|(.*)$")
  if not name:match("^bad") then
    local rows = {}
    for row in (query:match("^x=(.*)$") .. ";"):gmatch("([^;]*);") do
      local r = {}
      for v in (row .. ","):gmatch("([^,]*),") do r[#r + 1] = tonumber(v) end
      rows[#rows + 1] = r
    end
    local want = model(dm.tensor(rows, { dtype = dm.float32 })):totable()
    local f = io.open(dir .. "/" .. mode .. "." .. name .. ".body")
    local body = f and f:read("a") or ""
    if f then f:close() end
    local got = {}
    for row in body:gmatch("%[([^%[%]]*)%]") do
      local r = {}
      for v in (row .. ","):gmatch("([^,]*),") do r[#r + 1] = tonumber(v) end
      got[#got + 1] = r
    end
    local ok, worst = #got == #want, 0
    for i = 1, #want do
      ok = ok and got[i] and #got[i] == #want[i]
      for j = 1, ok and #want[i] or 0 do
        local d = math.abs(got[i][j] - want[i][j]) / math.max(1, math.abs(want[i][j]))
        if d > worst then worst = d end
      end
    end
    ok = ok and worst <= 1e-6
    print(("%s %s %s: %s"):format(ok and "ok" or "FAIL", mode, name,
                                  ok and "matches" or ("answer " .. body)))
  end
end
EOF

for mode in require core.so; do
    if start_server "$mode"; then
        pass=$((pass + 1))
        run_requests "$mode"
        stop_server
        out=$("$lua" "$tmp/check.lua" "$tmp" "$mode" 2>&1)
        echo "$out"
        pass=$((pass + $(echo "$out" | grep -c '^ok ')))
        fails=$(echo "$out" | grep -vc '^ok ')
        fail=$((fail + fails))
    else
        fail=$((fail + 1))
        echo "FAIL $mode: lighttpd did not start"
    fi
    if grep -q -i 'lua:\|error' "$tmp/error.log"; then
        echo "note: lighttpd's error log ($mode):"
        cat "$tmp/error.log"
    fi
done

echo "test_lighttpd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
