#!/usr/bin/env bash
# tools/bench_compare.sh BASE [ROUNDS] -- make bench's (a), (b) and (c) on the tree at git
# revision BASE and on this working tree, built side by side and run interleaved (BASE, this,
# BASE, this, ...), best of ROUNDS processes each (default 5).  Prints one line per measure
# with both bests and the ratio this/BASE (times: < 1 is faster; throughput: > 1 is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: tools/bench_compare.sh BASE [ROUNDS]}
rounds=${2:-5}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$base"
make -s -C "$tmp/base" all >/dev/null
make -s all >/dev/null

# the value of key in the last key=value line of a workload run
val() { tr ' ' '\n' | sed -n "s/^$1=//p" | tail -n 1; }
best_min() { sort -g | head -n 1; }
best_max() { sort -g | tail -n 1; }

declare -A res
for r in $(seq 1 "$rounds"); do
    for side in base this; do
        dir=$([ $side = base ] && echo "$tmp/base" || echo .)
        a=$(cd "$dir" && ./deepmoon bench/workloads.lua article | tail -n 1)
        b=$(cd "$dir" && ./deepmoon bench/workloads.lua mlp 1 | tail -n 1)
        c=$(cd "$dir" && ./deepmoon bench/workloads.lua ops | tail -n 1)
        res[$side.a]+="$(echo "$a" | val time) "
        res[$side.b]+="$(echo "$b" | val samples_per_s) "
        res[$side.add]+="$(echo "$c" | val add_us) "
        res[$side.lin]+="$(echo "$c" | val linear_us) "
    done
done

row() {   # name, base values, this values, min|max
    local b t
    if [ "$4" = min ]; then
        b=$(echo $2 | tr ' ' '\n' | best_min); t=$(echo $3 | tr ' ' '\n' | best_min)
    else
        b=$(echo $2 | tr ' ' '\n' | best_max); t=$(echo $3 | tr ' ' '\n' | best_max)
    fi
    awk -v n="$1" -v b="$b" -v t="$t" 'BEGIN { printf "%-28s base %-12.6g this %-12.6g this/base %.3f\n", n, b, t, t / b }'
}
echo "best of $rounds processes each, interleaved; base = $(git rev-parse --short "$base")"
row "(a) article loop, s" "${res[base.a]}" "${res[this.a]}" min
row "(b) MLP, samples/s" "${res[base.b]}" "${res[this.b]}" max
row "(c) a + b, us" "${res[base.add]}" "${res[this.add]}" min
row "(c) Linear(2, 2), us" "${res[base.lin]}" "${res[this.lin]}" min
