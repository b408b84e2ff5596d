#!/bin/sh
# tests/fuzz/fuzz_files.sh [SECONDS] [SEED] -- what `make fuzz-files` and CI's stage fuzz-files
# run: build the file readers' libFuzzer targets (tests/fuzz/build.sh) and fuzz each for
# SECONDS (default 60) from the fixtures and the regression inputs, libFuzzer's -seed=SEED
# (default: from the date; printed, so a finding replays with the same seed).
#   safetensors   tests/fuzz/fuzz_safetensors.c (core/io/safetensors.c, npy.c)
#   pt            tests/fuzz/fuzz_pt.c (core/io/pt.c, pickle.c, zip.c: torch.save checkpoints)
# A crash, leak, timeout (10 s), out-of-memory (2 GB) or failed check is a finding: its input
# is kept in build-fuzz/findings/<target>/ and named here, and the target counts as failed
# (copy the input to the target's regression folder once the reader is fixed; see README).
# Prints the executions run per target; the last line is "fuzz-files: N passed, N failed"
# (one count per target).
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
seed=${2:-}
[ -n "$seed" ] || seed=$(date -u +%Y%m%d)
targets="safetensors pt"
pass=0 fail=0
if ! tests/fuzz/build.sh $targets; then
    echo "fuzz-files: cannot build the fuzz targets (clang with libFuzzer: clang, libclang-rt-14-dev)"
    echo "fuzz-files: 0 passed, 2 failed"
    exit 1
fi
for t in $targets; do
    if [ "$t" = pt ]; then
        seeds="tests/fixtures/pt_*.pt tests/fixtures/io_audit/*.pt" regress=tests/fuzz/regress/pt maxlen=16384
    else
        seeds="tests/fixtures/*.safetensors tests/fixtures/*.npy tests/fixtures/io_audit/*.safetensors tests/fixtures/io_audit/*.npy"
        regress=tests/fuzz/regress maxlen=8192
    fi
    work=build-fuzz/ci/$t found=build-fuzz/findings/$t
    rm -rf "$work" "$found" && mkdir -p "$work/corpus" "$work/seeds" "$found"
    cp $seeds "$work/seeds/"
    for f in "$regress"/*; do [ -f "$f" ] && cp "$f" "$work/seeds/"; done
    echo "fuzz-files: $t for $secs s, -seed=$seed (replay: make fuzz-files FUZZ_SECONDS=$secs FUZZ_SEED=$seed)"
    rc=0
    build-fuzz/fuzz_$t -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=$maxlen -dict=tests/fuzz/$t.dict -artifact_prefix="$found/" \
        -print_final_stats=1 "$work/corpus" "$work/seeds" > "$work/log" 2>&1 || rc=$?
    execs=$(grep -a 'stat::number_of_executed_units' "$work/log" | tail -n 1 | awk '{print $2}')
    finds=$(ls "$found" | wc -l)
    if [ "$rc" -eq 0 ] && [ "$finds" -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz-files: $t: ${execs:-?} executions, no finding"
    else
        fail=$((fail + 1))
        tail -n 60 "$work/log"
        echo "fuzz-files: $t: FAILED (exit status $rc) after ${execs:-?} executions; finding(s):"
        ls "$found" | sed "s|^|    $found/|"
    fi
done
echo "fuzz-files: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
