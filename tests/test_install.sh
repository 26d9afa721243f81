#!/bin/sh
# test_install.sh: `laprun NAME` finds experiments from any directory, in the
# checkout (experiments/ beside laprun) and after `make install PREFIX=...`
# (share/lap/experiments, share/lap/scripts); `laprun --list` names them; a
# script in the current directory wins; an unknown name is an error naming it.
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
root=$(pwd)
# The installed laprun must find its scripts by itself, not through tests/run.sh's LUA_PATH.
unset LUA_PATH LUA_PATH_5_4
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/elsewhere"

# checks LAPRUN: the lookups, run from a directory without experiments.
checks() {
    laprun=$1 where=$2
    cd "$tmp/elsewhere" || exit 1
    "$laprun" --list > "$tmp/list" 2>&1 || fail "$where: --list failed: $(cat "$tmp/list")"
    grep -q "^  circles.lua  *the paper's 2-D experiment" "$tmp/list" || fail "$where: --list should name circles.lua with its summary: $(cat "$tmp/list")"
    for f in "$root"/experiments/*.lua; do
        grep -q "^  $(basename "$f") " "$tmp/list" || fail "$where: --list misses $(basename "$f")"
    done
    "$laprun" --help | grep -q -- "--list" || fail "$where: laprun --help should describe --list"
    "$laprun" --help | grep -q "share/lap/experiments" || fail "$where: laprun --help should say where scripts are looked up"
    "$laprun" circles.lua --help > "$tmp/out" 2>&1 || fail "$where: circles.lua --help from elsewhere: $(cat "$tmp/out")"
    grep -q -- "--blocks" "$tmp/out" || fail "$where: circles.lua --help should list its options"
    "$laprun" circles --blocks 1 --epochs 1 --points 40 --bn off --no-plots --quiet --out "$tmp/out-$where" \
        > "$tmp/out" 2>&1 || fail "$where: a small circles run (name without .lua): $(tail -5 "$tmp/out")"
    [ "$(wc -l < "$tmp/out-$where/results.csv")" -eq 4 ] || fail "$where: results.csv should hold 3 runs"
    "$laprun" -e 'assert(type(lap.fit) == "function" and type(lap.help) == "function")
        assert(lap.help_text("fit"):find("training loop", 1, true))' \
        || fail "$where: lap.fit and lap.help (with its entries, no README needed) should be loaded"
    # A script of that name in the current directory is the one run.
    echo 'print("the local one")' > circles.lua
    [ "$("$laprun" circles.lua)" = "the local one" ] || fail "$where: a local circles.lua should win"
    rm circles.lua
    if "$laprun" no_such_experiment.lua > "$tmp/out" 2>&1; then fail "$where: an unknown script should fail"; fi
    grep -q "cannot open no_such_experiment.lua" "$tmp/out" || fail "$where: the error should name the script: $(cat "$tmp/out")"
    cd "$root" || exit 1
}

# The checkout: only when this laprun sits beside experiments/ (not build-asan/laprun).
if [ -d "$(dirname "$LAPRUN")/experiments" ]; then
    checks "$LAPRUN" checkout
else
    echo "test_install: skipped the checkout lookup ($LAPRUN is not beside experiments/)"
fi

# An installed copy.
make --no-print-directory -s install PREFIX="$tmp/prefix" > "$tmp/install.log" 2>&1 \
    || fail "make install failed: $(tail -5 "$tmp/install.log")"
for f in bin/laprun lib/lua/5.4/lap.so share/lap/scripts/lap/fit.lua share/lap/scripts/lap/help.lua share/lap/scripts/lap/help_entries.lua \
         share/lap/experiments/circles.lua share/lap/experiments/mnist.lua; do
    [ -f "$tmp/prefix/$f" ] || fail "make install did not install $f"
done
checks "$tmp/prefix/bin/laprun" installed
"$tmp/prefix/bin/laprun" --list | head -1 | grep -q "share/lap/experiments" || fail "installed --list should use share/lap/experiments"
echo "test_install: ok"
