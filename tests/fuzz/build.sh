#!/bin/sh
# tests/fuzz/build.sh TARGET... -- build libFuzzer targets tests/fuzz/fuzz_<TARGET>.c into
# build-fuzz/ (build-fuzz/fuzz_<TARGET> and build-fuzz/classify_<TARGET>).
#
# The core (core/**/*.c, naive kernels, no BLAS) is compiled once per object with ASan +
# UBSan + libFuzzer's coverage (objects in build-fuzz/obj/, rebuilt when a source or a core
# header is newer), FUZZ_JOBS at a time (default 2).  Needs clang with libFuzzer (Debian:
# clang and libclang-rt-14-dev).  Used by run.sh and by `make fuzz-files` (fuzz_files.sh).
set -eu
cd "$(dirname "$0")/../.."
cc=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}
out=build-fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
flags="-std=c11 -g -O1 -fno-omit-frame-pointer -Icore -Icore/backend"
mkdir -p "$out/obj" "$out/plain"
newest_h=$(ls -t $(find core -name '*.h') | head -n 1)
# one object per source, for the fuzzers (instrumented) and for classify (plain)
find core -name '*.c' | sort | while read -r src; do
    o=$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
    for kind in obj plain; do
        if [ ! -f "$out/$kind/$o" ] || [ "$src" -nt "$out/$kind/$o" ] || [ "$newest_h" -nt "$out/$kind/$o" ]; then
            echo "$kind $src $out/$kind/$o"
        fi
    done
done | xargs -r -n 3 -P "${FUZZ_JOBS:-2}" sh -c '
    if [ "$0" = obj ]; then
        exec '"\"$cc\" $flags $san -fsanitize=fuzzer-no-link"' -c "$1" -o "$2"
    else
        exec '"\"$cc\" $flags"' -c "$1" -o "$2"
    fi'
# link the objects of today's sources only (an object left by a moved or removed source stays)
objs=$(find core -name '*.c' | sort | tr / _ | sed 's/\.c$/.o/')
for t in "$@"; do
    "$cc" $flags $san -fsanitize=fuzzer $(printf "$out/obj/%s " $objs) "tests/fuzz/fuzz_$t.c" \
        -lz -lm -o "$out/fuzz_$t"
    "$cc" $flags -DFUZZ_CLASSIFY $(printf "$out/plain/%s " $objs) "tests/fuzz/fuzz_$t.c" \
        -lz -lm -o "$out/classify_$t"
done
