#!/bin/sh
# tests/fuzz/api_fuzz.sh SECONDS [SEED] -- run tests/fuzz/api_fuzz.lua under the sanitized host
# (make fuzz-api builds build-asan/ and calls this) for SECONDS in total, one process per seed:
# the first seed is SEED or one derived from the date (printed, so a failure replays with
# `tests/fuzz/api_fuzz.sh 60 SEED`); a process that dies (an ASan/UBSan report, a signal) or
# outlives its timeout (a hang in C) is a finding, and the call it was making is printed from
# the --last file; the next process takes seed + 1 for the time left.  The last line is
# "P passed, F failed": calls without a finding, and findings.
# DM_HOST names the host (default build-asan/deepmoon-host).
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
secs=${1:-120}
seed=${2:-$(date -u +%Y%m%d)}
host=${DM_HOST:-$root/build-asan/deepmoon-host}
per=${FUZZ_PER_SEED:-40}
hang=${FUZZ_HANG:-90}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LUA_PATH_5_4="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH_5_4="$root/build-asan/?.so;;"
# a call whose shape asks for more than 64 MB at once gets NULL (a clean error), never the
# machine's memory; leaks are not what this looks for
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=64
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export DM_SANITIZE=1
pass=0 fail=0 calls=0
start=$(date +%s)
echo "api_fuzz.sh: first seed $seed, $secs s in all ($per s a seed)"
while :; do
    left=$((secs - ($(date +%s) - start)))
    [ "$left" -ge 5 ] || break
    run=$per; [ "$run" -le "$left" ] || run=$left
    rc=0
    ( cd "$work" && timeout -k 5 $((run + hang)) "$host" "$root/tests/fuzz/api_fuzz.lua" --seed "$seed" \
        --seconds "$run" --last "$work/last" > "$work/out" 2> "$work/err" ) || rc=$?
    grep -v '^[0-9]* passed, [0-9]* failed$' "$work/err" | grep -a '^api_fuzz' | head -n 60
    line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$work/out" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed}
        calls=$((calls + p + f)); fail=$((fail + f))
        [ "$f" -ne 0 ] || pass=$((pass + 1))
    else
        fail=$((fail + 1))
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "api_fuzz.sh: HANG (timeout) seed $seed"
        else echo "api_fuzz.sh: CRASH seed $seed (exit status $rc)"; fi
        [ -f "$work/last" ] && sed -n 1p "$work/last"
        grep -aE 'ERROR: AddressSanitizer|runtime error|SUMMARY|^    #[0-9] ' "$work/err" | head -n 20
    fi
    seed=$((seed + 1))
done
echo "api_fuzz.sh: $calls calls over $pass seeds without a finding, $fail findings"
echo "fuzz-api: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
