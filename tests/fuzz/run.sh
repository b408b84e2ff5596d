#!/bin/sh
# tests/fuzz/run.sh [SECONDS] [--keep] -- fuzz deepmoon's safetensors and .npy readers.
#
# Builds tests/fuzz/fuzz_safetensors.c with libFuzzer + ASan + UBSan (clang; on Debian the
# packages clang and libclang-rt-14-dev, dev tools only) into build-fuzz/, seeds it with the
# fixtures and the regression inputs, and fuzzes for SECONDS (default 240).  A crash, leak or
# failed check is written to tests/fuzz/regress/ (crash-*, leak-*, ...): fix the reader, then
# keep the file; test_io.c loads everything there and expects a clean error.
# With --keep, the smallest input for each distinct error message found is copied to
# tests/fuzz/regress/ too (regression inputs for paths the unit tests do not spell out).
# FUZZ_JOBS=N runs N fuzzing processes in parallel.
# FUZZ_TARGET=pt fuzzes the PyTorch checkpoint reader instead (tests/fuzz/fuzz_pt.c: core/pt.c,
# pickle.c, zip.c), seeded with tests/fixtures/pt_*.pt, its findings in tests/fuzz/regress/pt/
# (replayed by tests/c/test_pt_regress.c).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-240}
keep=${2:-}
cc=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
out=build-fuzz
jobs=""
[ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
target=${FUZZ_TARGET:-safetensors}
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
if [ "$target" = pt ]; then
    out=build-fuzz/pt regress=tests/fuzz/regress/pt dict=tests/fuzz/pt.dict maxlen=16384
else
    regress=tests/fuzz/regress dict=tests/fuzz/safetensors.dict maxlen=8192
fi
mkdir -p "$out/corpus" "$out/seeds" "$regress"
"$cc" -std=c11 -g -O1 -fno-omit-frame-pointer $san -Icore core/*.c "tests/fuzz/fuzz_$target.c" \
    -lm -o "$out/fuzz_$target"
"$cc" -std=c11 -g -O1 -DFUZZ_CLASSIFY -Icore core/*.c "tests/fuzz/fuzz_$target.c" -lm \
    -o "$out/classify"
if [ "$target" = pt ]; then
    cp tests/fixtures/pt_*.pt "$out/seeds/"
else
    cp tests/fixtures/*.safetensors tests/fixtures/*.npy "$out/seeds/"
fi
for f in "$regress"/*; do [ -f "$f" ] && cp "$f" "$out/seeds/"; done
"$out/fuzz_$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
    -dict=$dict -artifact_prefix="$regress/" $jobs "$out/corpus" "$out/seeds"
if [ "$keep" = "--keep" ]; then
    rm -rf "$out/min" && mkdir -p "$out/min"
    "$out/fuzz_$target" -merge=1 "$out/min" "$out/corpus" "$out/seeds" 2>/dev/null
    # one input (the smallest) per distinct pair of messages, numbers and names blurred;
    # inputs that either reader accepts are not regression inputs
    ls -S -r "$out"/min/* | xargs "$out/classify" | awk -F '\t' '
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
