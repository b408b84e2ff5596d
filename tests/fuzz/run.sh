#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [--keep] -- fuzz deepmoon's safetensors and .npy readers.
#
# Builds tests/fuzz/fuzz_safetensors.c with libFuzzer + ASan + UBSan (clang; on Debian the
# packages clang and libclang-rt-14-dev, dev tools only) into build-fuzz/ (build.sh), seeds it with the
# fixtures and the regression inputs, and fuzzes for SECONDS (default 240).  A crash, leak or
# failed check is written to tests/fuzz/regress/ (crash-*, leak-*, ...): fix the reader, then
# keep the file; test_io.c loads everything there and expects a clean error.
# With --keep, the smallest input for each distinct error message found is copied to
# tests/fuzz/regress/ too (regression inputs for paths the unit tests do not spell out).
# FUZZ_JOBS=N runs N fuzzing processes in parallel.
# FUZZ_TARGET=pt fuzzes the PyTorch checkpoint reader instead (tests/fuzz/fuzz_pt.c: core/io/pt.c,
# pickle.c, zip.c), seeded with tests/fixtures/pt_*.pt, its findings in tests/fuzz/regress/pt/
# (replayed by tests/c/test_pt_regress.c).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-240}
keep=${2:-}
out=build-fuzz
jobs=""
[ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
target=${FUZZ_TARGET:-safetensors}
if [ "$target" = pt ]; then
    regress=tests/fuzz/regress/pt maxlen=16384
else
    regress=tests/fuzz/regress maxlen=8192
fi
work=$out/run-$target
mkdir -p "$work/corpus" "$work/seeds" "$regress"
tests/fuzz/build.sh "$target"
if [ "$target" = pt ]; then
    cp tests/fixtures/pt_*.pt tests/fixtures/io_audit/*.pt "$work/seeds/"
else
    cp tests/fixtures/*.safetensors tests/fixtures/*.npy tests/fixtures/io_audit/*.safetensors \
       tests/fixtures/io_audit/*.npy "$work/seeds/"
fi
for f in "$regress"/*; do [ -f "$f" ] && cp "$f" "$work/seeds/"; done
"$out/fuzz_$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
    -dict="tests/fuzz/$target.dict" -artifact_prefix="$regress/" $jobs "$work/corpus" "$work/seeds"
if [ "$keep" = "--keep" ]; then
    rm -rf "$work/min" && mkdir -p "$work/min"
    "$out/fuzz_$target" -merge=1 "$work/min" "$work/corpus" "$work/seeds" 2>/dev/null
    # one input (the smallest) per distinct pair of messages, numbers and names blurred;
    # inputs that either reader accepts are not regression inputs
    ls -S -r "$work"/min/* | xargs "$out/classify_$target" | awk -F '\t' '
        $2 != "OK" && $3 != "OK" {
            key = $2 "|" $3
            gsub(/^[^:]*: [^:]*: /, "", key); gsub(/\|[^:]*: [^:]*: /, "|", key)
            gsub(/[0-9]+/, "N", key); gsub(/'"'"'[^'"'"']*'"'"'/, "Q", key)
            if (!(key in seen)) { seen[key] = 1; print $1 }
        }' | while read -r f; do
            cp "$f" "$regress/input-$(basename "$f" | cut -c1-12)"
        done
    echo "run.sh: $(ls "$regress" | wc -l) files in $regress"
fi
