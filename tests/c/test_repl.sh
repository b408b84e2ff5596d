#!/bin/sh
# tests/c/test_repl.sh -- the deepmoon prompt (host/repl.lua in the host), driven through a
# pipe, then on a terminal under tmux: Tab completion, printing, errors, multi-line input,
# history, Ctrl-C.  `make test` runs it with DM_HOST set to the host under test.  Checks
# that cannot run here (no tmux; a host built without readline) are counted as skipped,
# never as passed.  The last line is "test_repl: N passed, M failed, K skipped".
host=${DM_HOST:-build/deepmoon-host}
case $host in /*) ;; *) host=$PWD/$host ;; esac
tmp=$(mktemp -d) || exit 1
sock=$tmp/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
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

# skip N WHY
skip () {
    skip=$((skip + $1))
    case "$skipped; " in *"; $2; "*) ;; *) skipped="$skipped; $2" ;; esac
}

if ! "$host" -e 'require "deepmoon"' > /dev/null 2>&1; then
    echo "test_repl: require 'deepmoon' fails under $host (LUA_PATH_5_4 / LUA_CPATH_5_4?)"
    echo "test_repl: 0 passed, 1 failed"
    exit 1
fi

# ---- through a pipe ------------------------------------------------------------------------

# prompt NAME: run the prompt on $tmp/in, output without the banner lines and prompts
prompt () {
    DEEPMOON_HISTORY=$tmp/piped_history "$host" -i < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
    echo "$?" > "$tmp/rc"
    grep -v '^Lua 5\|^deepmoon' "$tmp/out" | sed 's/^\(>>* \)*//' > "$tmp/shown"
}

printf '%s\n' 'type(dm), nn == dm.nn, optim == dm.optim, init == dm.nn.init, data == dm.data' \
    > "$tmp/in"
prompt
check "banner" "deepmoon $("$host" -e 'io.write(require "deepmoon".version)'): dm, nn, optim, \
init, data ready" "$(grep '^deepmoon' "$tmp/out")"
check "preloaded" "table	true	true	true	true" "$(cat "$tmp/shown")"
check "no history from a pipe" "absent" "$([ -e "$tmp/piped_history" ] && echo present || echo absent)"

printf '%s\n' 'dm.zeros(2, 3)' 'nn.Linear(2, 3)' 'dm.tensor({' '  {1.0, 2.0},' '  {3.0, 4.0}})' \
    'nn.Sequential(nn.Linear(2, 4), nn.ReLU())' > "$tmp/in"
prompt
check "tensors and modules print as PyTorch does" "tensor([[0., 0., 0.],
        [0., 0., 0.]])
Linear(in_features=2, out_features=3, bias=True)
tensor([[1., 2.],
        [3., 4.]])
Sequential(
  (0): Linear(in_features=2, out_features=4, bias=True)
  (1): ReLU()
)" "$(cat "$tmp/shown")"

printf '%s\n' 'help(dm.ones)' 'help("Tensor.nosuch")' > "$tmp/in"
prompt
check "help prints a doc comment" 'dm.ones

A tensor filled with ones.

Parameters:
  ...: sizes (integers, or one table of them)
  opts (table, optional): `{dtype =, requires_grad =}`

Usage:
  dm.ones(4)
help: no documentation for Tensor.nosuch' "$(cat "$tmp/shown")"

printf '%s\n' '{1, 2, x = "a\nb", [true] = {}}' 'local t = {1}; t.me = t; return t' \
    '{{1, 2}, {3, {4, {5, {6}}}}}' '"text", 1.5, nil' \
    '{a = 1, bb = 2, ccc = 3, dddd = 4, eeeee = 5, ffffff = 6, ggggggg = 7, hhhhhhhh = 8}' \
    > "$tmp/in"
prompt
check "tables print as tables" '{1, 2, x = "a\nb", [true] = {}}
{1, me = <cycle>}
{{1, 2}, {3, {4, {...}}}}
text	1.5	nil
{
  a = 1,
  bb = 2,
  ccc = 3,
  dddd = 4,
  eeeee = 5,
  ffffff = 6,
  ggggggg = 7,
  hhhhhhhh = 8
}' "$(cat "$tmp/shown")"

printf '%s\n' 'x = = 1' 'local function f() error("deep") end f()' 'error(setmetatable({}, ' \
    '  {__tostring = function() return "custom" end}))' 'dm.zeros(2):view(3)' '40 + 2' \
    > "$tmp/in"
prompt
check "errors do not end the prompt" "0 42" "$(cat "$tmp/rc") $(cat "$tmp/shown")"
check "error messages and tracebacks" "stdin:1: unexpected symbol near '='
stdin:1: deep
stack traceback:
	[C]: in function 'error'
	stdin:1: in local 'f'
	stdin:1: in main chunk
custom" "$(sed -n 1,7p "$tmp/err")"
check "traceback ends at the typed chunk" "	stdin:1: in main chunk" "$(tail -n 1 "$tmp/err")"
check "a core error names the op" "1" \
    "$(grep -c '^stdin:1: view: .*\[2\]' "$tmp/err")"

printf '%s\n' '_PROMPT = "dm> "' '_PROMPT2 = "..> "' 'for i = 1, 2 do' 'print(i)' 'end' \
    'if true then' > "$tmp/in"
prompt
check "_PROMPT, _PROMPT2, end of input inside a statement" "0 > dm> dm> ..> ..> 1
2
dm> ..> " "$(cat "$tmp/rc") $(grep -v '^Lua 5\|^deepmoon' "$tmp/out")"

# ---- on a terminal, under tmux -------------------------------------------------------------

TMUX_CHECKS=20    # the checks below, for the skipped count

tm () { tmux -S "$sock" -f /dev/null "$@"; }

screen () { tm capture-pane -p -J -S - -t t 2>/dev/null; }

# wait_for NAME GREP-PATTERN [COUNT]: until the screen has COUNT lines matching (10 s)
wait_for () {
    want=${3:-1}
    i=0
    while [ "$i" -lt 100 ]; do
        [ "$(screen | grep -c -e "$2")" -ge "$want" ] && { pass=$((pass + 1)); return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    fail=$((fail + 1))
    printf 'FAIL %s: no line matching %s (x%s) on the screen:\n' "$1" "$2" "$want"
    return 1
}

# the line the cursor is on, as shown
current () { tm capture-pane -p -t t | sed '/^$/d' | tail -n 1; }

# wait_line NAME EXPECTED: until the cursor's line reads EXPECTED (5 s)
wait_line () {
    i=0
    while [ "$i" -lt 50 ]; do
        [ "$(current)" = "$2" ] && { pass=$((pass + 1)); return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    check "$1" "$2" "$(current)"
}

type_line () { tm send-keys -t t -l "$1"; tm send-keys -t t Enter; }

if ! command -v tmux > /dev/null 2>&1; then
    skip "$TMUX_CHECKS" "terminal checks: tmux not installed"
else
    if ldd "$host" 2>/dev/null | grep -q libreadline; then rl=1; else rl=0; fi
    q () { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
    {
        echo "#!/bin/sh"
        echo "trap : INT          # Ctrl-C is for deepmoon; this shell waits for its status"
        for v in LUA_PATH_5_4 LUA_CPATH_5_4 ASAN_OPTIONS UBSAN_OPTIONS; do
            eval "val=\${$v-}"
            [ -n "$val" ] && echo "export $v=$(q "$val")"
        done
        echo "export INPUTRC=/dev/null DEEPMOON_HISTORY=$(q "$tmp/history")"
        echo "$(q "$host")"
        echo "echo \$? > $(q "$tmp/status")"
    } > "$tmp/run.sh"
    tm new-session -d -s t -x 120 -y 50 "sh $(q "$tmp/run.sh")"
    tm set-option -t t remain-on-exit on > /dev/null

    wait_for "tty banner" '^deepmoon.* ready$'
    if [ "$rl" = 1 ]; then
        tm send-keys -t t -l 'dm.arang'
        tm send-keys -t t Tab
        wait_line "Tab completes dm.arang" "> dm.arange("
        type_line '1, 4)'
        wait_for "its result" '^tensor(\[1, 2, 3\])$'
        tm send-keys -t t -l 'dm.zeros'
        tm send-keys -t t Tab Tab
        wait_for "Tab Tab lists the matches" '^zeros  *zeros_like *$'
        type_line '(2, 3)'
    else
        type_line 'dm.arange(1, 4)'
        wait_for "its result" '^tensor(\[1, 2, 3\])$'
        type_line 'dm.zeros(2, 3)'
        skip 2 "completion and history: host built without readline"
    fi
    wait_for "tensor printed" '^tensor(\[\[0., 0., 0.\],$'
    type_line 'lin = nn.Linear(2, 3)'
    if [ "$rl" = 1 ]; then
        tm send-keys -t t -l 'lin.wei'
        tm send-keys -t t Tab
        wait_line "Tab completes a module's field" "> lin.weight"
        tm send-keys -t t Enter
        wait_for "parameter printed" '^Parameter containing:$'
        type_line 't = dm.ones(2)'
        tm send-keys -t t -l 't:unsq'
        tm send-keys -t t Tab
        wait_line "Tab completes a tensor's method" "> t:unsqueeze("
        type_line '1)'
        wait_for "method result printed" '^tensor(\[\[1., 1.\]\])$'
    else
        skip 2 "completion and history: host built without readline"
        type_line 'lin.weight'
        wait_for "parameter printed" '^Parameter containing:$'
        type_line 'dm.ones(2):unsqueeze(1)'
        wait_for "method result printed" '^tensor(\[\[1., 1.\]\])$'
    fi
    type_line 'error("boom")'
    wait_for "error shown" '^stdin:1: boom$'
    type_line '6 * 7'
    wait_for "prompt goes on after an error" '^42$'
    if [ "$rl" = 1 ]; then
        tm send-keys -t t Up
        tm send-keys -t t Enter
        wait_for "Up recalls the last line" '^42$' 2       # kept once in the history
    else
        skip 1 "completion and history: host built without readline"
    fi
    type_line 'for i = 1, 2 do'
    type_line 'print(i * 10)'
    type_line 'end'
    wait_for "statement over lines" '^>> end$'
    wait_for "its output" '^20$'
    tm send-keys -t t -l 'abc'
    wait_line "typed, not entered" "> abc"
    tm send-keys -t t C-c
    type_line '7 * 7'
    wait_for "Ctrl-C at the prompt drops the line" '^49$'
    type_line 'while true do end'
    sleep 0.3
    tm send-keys -t t C-c
    wait_for "Ctrl-C interrupts a statement" 'interrupted!$'
    type_line '8 * 8'
    wait_for "and the prompt goes on" '^64$'
    tm send-keys -t t C-d
    i=0
    while [ "$i" -lt 50 ] && [ ! -s "$tmp/status" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    check "Ctrl-D ends the prompt, exit status 0" "0" "$(cat "$tmp/status" 2>/dev/null)"
    if [ "$rl" = 1 ]; then
        check "history file (a repeated line kept once)" "t = dm.ones(2)
t:unsqueeze(1)
error(\"boom\")
6 * 7
for i = 1, 2 do" "$(sed -n '/^t = /,/^for/p' "$tmp/history" 2>/dev/null)"
    else
        skip 1 "completion and history: host built without readline"
    fi
fi

echo "test_repl: $pass passed, $fail failed, $skip skipped${skipped:+ (${skipped#; })}"
[ "$fail" -eq 0 ]
