#!/bin/sh
# tests/c/test_classify.sh -- plain C classifies Fashion-MNIST images with a CNN saved from Lua:
# examples/embed/train_cnn.lua trains a small CNN briefly (1000 images, one epoch; 128 images
# under the sanitizers or BLAS=0, where it would be slow) and saves it with input_shape
# {1, 28, 28}; build/examples/embed_classify (classify_image.c: dm_idx_load, dm_model_load,
# dm_model_forward, no Lua) must print the same scores (to 1e-5) and the same class as the
# Lua model for several test images, with and without --normalize; then its error exits.
# `make test` runs this with DM_HOST, DM_LUA and the Lua paths of the configuration under
# test; the last line is "test_classify: N passed, M failed".
root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd -P) || exit 1
host=${DM_HOST:-$root/build/deepmoon-host}
builddir=$(dirname -- "$host")
lua=${DM_LUA:-lua5.4}
export LUA_PATH_5_4="${LUA_PATH_5_4:-$root/lua/?.lua;$root/lua/?/init.lua;;}"
export LUA_CPATH_5_4="${LUA_CPATH_5_4:-$builddir/?.so;;}"
classify=$builddir/examples/embed_classify
data=/usr/share/datasets/fashion-mnist
images=$data/t10k-images-idx3-ubyte.gz
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check () {
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$3"
    fi
}

# close NAME FILE_A FILE_B: the first lines the same numbers to 1e-5 (relative above 1), the
# rest ("class K NAME") equal
close () {
    if awk 'NR == FNR { a[FNR] = $0; n = FNR; next }
            { m = FNR;
              if (FNR > 1) { if (a[FNR] != $0) bad = 1; next }
              k = split(a[FNR], x, " "); l = split($0, y, " ");
              if (k != l || k == 0) bad = 1;
              for (i = 1; i <= k; i++) { d = x[i] - y[i]; if (d < 0) d = -d;
                  s = x[i] < 0 ? -x[i] : x[i]; if (s < 1) s = 1; if (d > 1e-5 * s) bad = 1 } }
            END { exit (bad || n != m || n == 0) }' "$2" "$3"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$(cat "$2")" "$(cat "$3")"
    fi
}

if [ ! -x "$classify" ]; then
    echo "test_classify: $classify is not built (make builds it)"
    echo "test_classify: 0 passed, 1 failed"
    exit 1
fi
if [ ! -r "$images" ]; then
    echo "test_classify: $images is missing (apt-get install dataset-fashion-mnist; make installs it)"
    echo "test_classify: 0 passed, 1 failed"
    exit 1
fi

n=1000
if [ "${DM_SANITIZE:-0}" = 1 ] || [ "${DM_BLAS:-1}" = 0 ]; then n=128; fi
"$lua" "$root/examples/embed/train_cnn.lua" "$tmp/cnn.safetensors" $n 1 > "$tmp/train.out" 2>&1
check "train_cnn.lua exit status" 0 "$?"
check "train_cnn.lua saved the model" "saved $tmp/cnn.safetensors: [1 x 28 x 28] -> 10 classes" \
    "$(sed 's/, test accuracy.*//' "$tmp/train.out")"

# the Lua model's answer for image INDEX (from 0) of the file: scores, then "class K NAME"
cat > "$tmp/lua_classify.lua" <<'EOF'
local dm = require "deepmoon"
local path, images, index, norm = ...
local names = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot" }
local model = assert(dm.nn.load_model(path))
local x = assert(dm.data.read_idx(images)):select(1, tonumber(index) + 1):float():div(255)
if norm then
  local mean, std = norm:match("([^,]+),([^,]+)")
  x = (x - tonumber(mean)) / tonumber(std)
end
local y = dm.no_grad(function () return model(x:view(1, 1, 28, 28)) end):view(10)
local vals = {}
for j = 1, 10 do vals[j] = ("%.9g"):format(y:get(j)) end
print(table.concat(vals, " "))
local k = y:argmax(1):item()
print(("class %d %s"):format(k - 1, names[k]))
EOF

for i in 0 1 2 17 9999; do
    "$lua" "$tmp/lua_classify.lua" "$tmp/cnn.safetensors" "$images" $i > "$tmp/lua.out" 2>&1
    check "Lua classifies image $i" 0 "$?"
    "$classify" "$tmp/cnn.safetensors" "$images" $i > "$tmp/c.out" 2>&1
    check "embed_classify image $i exit status" 0 "$?"
    close "embed_classify image $i: the Lua model's scores and class" "$tmp/lua.out" "$tmp/c.out"
done
"$lua" "$tmp/lua_classify.lua" "$tmp/cnn.safetensors" "$images" 5 0.2860,0.3530 > "$tmp/lua.out" 2>&1
"$classify" "$tmp/cnn.safetensors" "$images" 5 --normalize 0.2860,0.3530 > "$tmp/c.out" 2>&1
check "embed_classify --normalize exit status" 0 "$?"
close "embed_classify --normalize: the Lua model's answer" "$tmp/lua.out" "$tmp/c.out"

# ---- errors --------------------------------------------------------------------------------
"$classify" "$tmp/cnn.safetensors" "$images" 10000 > "$tmp/err.out" 2>&1
check "an index past the file: status" 1 "$?"
check "an index past the file: message" "INDEX 10000 is past the 10000 images of $images" \
    "$(cat "$tmp/err.out")"
"$classify" "$tmp/missing.safetensors" "$images" 0 > "$tmp/err.out" 2>&1
check "a missing model: status" 1 "$?"
check "a missing model: message" "load: $tmp/missing.safetensors: No such file or directory" \
    "$(cat "$tmp/err.out")"
"$classify" "$tmp/cnn.safetensors" "$data/t10k-labels-idx1-ubyte.gz" 0 > "$tmp/err.out" 2>&1
check "labels for images: status" 1 "$?"
check "labels for images: message" \
    "$data/t10k-labels-idx1-ubyte.gz: expected uint8 images [N x H x W], got uint8 [10000]" \
    "$(cat "$tmp/err.out")"
cat > "$tmp/small.lua" <<'EOF'
local dm = require "deepmoon"
assert(dm.nn.save_model(dm.nn.Sequential(dm.nn.Conv2d(1, 2, 3), dm.nn.Flatten()), ...,
                        { input_shape = { 1, 8, 8 } }))
EOF
"$lua" "$tmp/small.lua" "$tmp/small.safetensors" > "$tmp/err.out" 2>&1
"$classify" "$tmp/small.safetensors" "$images" 0 > "$tmp/err.out" 2>&1
check "a model for other images: status" 1 "$?"
check "a model for other images: message" "the model takes samples [1 x 8 x 8], not one 28 x 28 image" \
    "$(cat "$tmp/err.out")"
"$classify" "$tmp/cnn.safetensors" "$images" > "$tmp/err.out" 2>&1
check "usage: status" 2 "$?"
"$classify" "$tmp/cnn.safetensors" "$images" 1 --normalize 0.5,0 > "$tmp/err.out" 2>&1
check "--normalize with std 0: status" 2 "$?"

echo "test_classify: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
