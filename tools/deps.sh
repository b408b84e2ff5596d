#!/bin/sh
# tools/deps.sh -- install the Debian packages deepmoon builds and tests with, if any is missing.
#
# Does nothing when all are present.  Otherwise runs `apt-get update` once and installs the
# missing ones non-interactively; needs root (or sudo without a password).
set -eu

PACKAGES="build-essential pkg-config lua5.4 liblua5.4-dev libopenblas-dev zlib1g-dev lua-busted"
# the embedding test (tests/c/test_lighttpd.sh) serves predictions from a real Lua-hosting
# application: lighttpd's mod_magnet (linked with Lua 5.4), asked through curl
PACKAGES="$PACKAGES lighttpd lighttpd-modules-lua curl"
# optional for the build (the Makefile uses readline when present), wanted for the tests: the
# prompt's line editing and Tab completion, checked on a terminal under tmux
PACKAGES="$PACKAGES libreadline-dev tmux"
# the image datasets' tests (tests/fmnist_spec.lua) read Debian's Fashion-MNIST files from
# /usr/share/datasets/fashion-mnist (data.FashionMNIST's default root)
PACKAGES="$PACKAGES dataset-fashion-mnist"
# the character language model (examples/char_lm.lua, tests/examples_seq_spec.lua) reads the
# fortune cookie texts under /usr/share/games/fortunes
PACKAGES="$PACKAGES fortunes"
# data-parallel training (bindings/dist.c, tests/dist_spec.lua): Open MPI, unless the build
# leaves it out (make MPI=0; make exports the setting to this script)
if [ "${MPI:-1}" != 0 ]; then
    PACKAGES="$PACKAGES openmpi-bin libopenmpi-dev"
fi

installed () {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

if ! command -v dpkg >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; make sure these (or their equivalents) are installed:" >&2
    echo "  $PACKAGES" >&2
    exit 0
fi

missing=""
for p in $PACKAGES; do
    installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo"
else
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root:  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt_get () {
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
apt_get update
# lua-busted depends on "lua5.2 | lua": with lua5.4 installed first, apt takes it as the
# interpreter instead of pulling in lua5.2.
first=""
for p in $missing; do
    [ "$p" = lua-busted ] || first="$first $p"
done
if [ -n "$first" ]; then
    # shellcheck disable=SC2086  # one word per package
    apt_get install $first
fi
case " $missing " in *" lua-busted "*) apt_get install lua-busted ;; esac

for p in $PACKAGES; do
    if ! installed "$p"; then
        echo "deps.sh: $p is still not installed" >&2
        exit 1
    fi
done
