#!/bin/sh
# tests/c/test_host.sh -- the deepmoon host program behaves like lua5.4 (arg table, options,
# errors, exit status) and its prompt works through a pipe.  `make test` runs it with DM_HOST
# set to the host of the configuration under test; the last line is "N passed, M failed".
host=${DM_HOST:-build/deepmoon-host}
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

cat > "$tmp/args.lua" <<'LUA'
local t = {}
for i = -2, #arg do t[#t + 1] = i .. "=" .. tostring(arg[i]) end
print(table.concat(t, " "))
print("...", select("#", ...), ...)
LUA
check "arg table" "-2=nil -1=$host 0=$tmp/args.lua 1=a 2=b c
...	2	a	b c" "$("$host" "$tmp/args.lua" a 'b c')"
check "options in arg" "-2=-e -1=x=1 0=$tmp/args.lua 1=-v
...	1	-v" "$("$host" -e x=1 "$tmp/args.lua" -v)"
check "-- ends options" "-1=-- 0=$tmp/args.lua" \
    "$("$host" -- "$tmp/args.lua" | head -n 1 | sed 's/^-2=[^ ]* //')"
check "-e in order" "1
2" "$("$host" -e 'x = 1' -e 'print(x)' -e 'print(x + 1)')"
check "-e attached" "7" "$("$host" '-eprint(7)')"
check "-l g=mod" "abab" "$("$host" -l s=string -e 'print(s.rep("ab", 2))')"
check "-l mod" "table" "$("$host" -l string -e 'print(type(string))')"
check "- reads stdin" "stdin	x" "$(echo 'print("stdin", ...)' | "$host" - x)"
check "piped stdin runs as a script" "piped" "$(echo 'print("piped")' | "$host")"
check "-v" "$(lua5.4 -v)" "$("$host" -v)"

"$host" -e 'error("boom")' > "$tmp/out" 2> "$tmp/err"
check "error exit status" "1" "$?"
check "error message" "deepmoon: (command line):1: boom" "$(head -n 1 "$tmp/err")"
check "error traceback" "stack traceback:" "$(sed -n 2p "$tmp/err")"
"$host" -e 'error(setmetatable({}, {__tostring = function() return "custom" end}))' \
    2> "$tmp/err"
check "__tostring error" "deepmoon: custom" "$(head -n 1 "$tmp/err")"
"$host" -e 'error({})' 2> "$tmp/err"
check "table error" "deepmoon: (error object is a table value)" "$(head -n 1 "$tmp/err")"
"$host" -e 'os.exit(3)'
check "os.exit status" "3" "$?"
"$host" "$tmp/missing.lua" 2> "$tmp/err"
check "missing script status" "1" "$?"
check "missing script message" \
    "deepmoon: cannot open $tmp/missing.lua: No such file or directory" "$(cat "$tmp/err")"
"$host" -x > /dev/null 2> "$tmp/err"
check "bad option status" "1" "$?"
check "bad option message" "deepmoon: unrecognized option '-x'" "$(head -n 1 "$tmp/err")"
"$host" -e 2> "$tmp/err"
check "-e needs argument" "deepmoon: '-e' needs argument" "$(head -n 1 "$tmp/err")"

# warnings behave as in lua5.4: off unless -W or "@on"; pieces join into one line
check "warnings off by default" "" "$("$host" -e 'warn("hidden")' 2>&1)"
check "-W turns warnings on" "Lua warning: shown" "$("$host" -W -e 'warn("shown")' 2>&1)"
check "@on and pieces" "Lua warning: a-b-c" "$("$host" -e 'warn("@on"); warn("a-", "b-", "c")' 2>&1)"
check "@off" "" "$("$host" -W -e 'warn("@off"); warn("gone")' 2>&1)"
check "same as lua5.4" "$(lua5.4 -W -e 'warn("x", "y")' 2>&1)" "$("$host" -W -e 'warn("x", "y")' 2>&1)"

# the host's small-block heap: blocks grow and shrink across its size classes and past its
# largest one, keep their contents, and are reused (memory stays flat over many cycles)
cat > "$tmp/heap.lua" <<'LUA'
local ok = true
local t = {}
for i = 1, 3000 do t[i] = i end                    -- a table grows through every class
for i = 1, 3000 do if t[i] ~= i then ok = false end end
for i = 3000, 11, -1 do t[i] = nil end             -- and shrinks back (rehash on insert)
collectgarbage()
t.x = 1
for i = 1, 10 do if t[i] ~= i then ok = false end end
local s = ""
for i = 1, 600 do s = s .. string.char(65 + i % 26) end   -- strings of every small size
for i = 1, 600 do if s:byte(i) ~= 65 + i % 26 then ok = false end end
local function rss ()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end
local function churn ()
  for _ = 1, 200000 do local _ = { 1, 2, 3, { x = 1 }, "s" .. _ } end
end
churn(); collectgarbage()
local r1 = rss()
for _ = 1, 5 do churn() end
collectgarbage()
local r2 = rss()
print(ok, r2 - r1 < 8192)
LUA
"$host" "$tmp/heap.lua" > "$tmp/heap.out" 2>&1
check "heap keeps contents" "true" "$(cut -f 1 "$tmp/heap.out")"
DEEPMOON_LUA_MALLOC=1 "$host" "$tmp/heap.lua" > "$tmp/heap2.out" 2>&1
check "heap with DEEPMOON_LUA_MALLOC keeps contents" "true" "$(cut -f 1 "$tmp/heap2.out")"
if [ -n "$ASAN_OPTIONS" ]; then
    echo "note: under AddressSanitizer (which holds freed memory back) RSS is not checked"
else
    check "heap reuses blocks (RSS flat)" "true" "$(cut -f 2 "$tmp/heap.out")"
fi

# the prompt: expressions print, statements continue over lines, errors do not end it
printf '%s\n' '1 + 1' 'x = 10' 'x, nil' 'for i = 1, 2 do' '  print(i)' 'end' \
    'error("oops")' '"still here"' 'local y =' > "$tmp/in"
"$host" -i < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
check "prompt exit status" "0" "$?"
check "prompt output" "> 2
> > 10	nil
> >> >> 1
2
> > still here
> >> " "$(grep -v '^Lua 5\|^deepmoon' "$tmp/out")"
check "prompt error" "stdin:1: oops" "$(grep -v '^deepmoon' "$tmp/err" | head -n 1)"
printf 'print(#arg, arg[0], arg[1])\n' | "$host" -i "$tmp/args.lua" q > "$tmp/out" 2>/dev/null
check "-i after script" "> 1	$tmp/args.lua	q" "$(grep "^> 1" "$tmp/out")"

# the prompt preloads deepmoon when it loads
if "$host" -e 'require "deepmoon"' > /dev/null 2>&1; then
    printf 'type(dm), dm == require "deepmoon"\n' | "$host" -i > "$tmp/out" 2>&1
    check "prompt has dm" "> table	true" "$(grep '^> table' "$tmp/out")"
    check "scripts get no dm" "nil" "$("$host" -e 'print(dm)')"
else
    echo "note: require 'deepmoon' fails here; prompt preload not checked"
fi

echo "test_host: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
