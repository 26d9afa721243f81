#!/bin/sh
# run.sh: the test suite runner used by `make test` and `make asan`.
# Arguments: the compiled C test binaries.  Then every tests/*.lua is run by laprun
# from an empty temporary directory (each must exit 0; a failing assertion raises an
# error, so laprun exits 1), then every tests/test_*.sh with LAPRUN and LAPSO in the environment.  Lines
# "NAME: skipped ..." in a passing test's output are shown.
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$PWD/$LAPRUN ;; esac
export LAPRUN LAPSO BUILD
# The scripts/ directory of this tree, also for a laprun built elsewhere (build-asan/).
LUA_PATH="$PWD/scripts/?.lua;$PWD/scripts/?/init.lua;;"
export LUA_PATH
failed=0
passed=0
run() {
    name=$1; shift
    start=$(date +%s.%N)
    if "$@" > "${BUILD:-build}/last-test.log" 2>&1; then
        passed=$((passed + 1))
        printf 'ok   %-36s %5.1fs\n' "$name" "$(awk "BEGIN { print $(date +%s.%N) - $start }")"
        # A passing test that skipped a part (e.g. real data not fetched) says so.
        grep -E '^[^ ]+: skipped ' "${BUILD:-build}/last-test.log" | sed 's/^/     /'
    else
        failed=$((failed + 1))
        printf 'FAIL %s\n' "$name"
        sed 's/^/     | /' "${BUILD:-build}/last-test.log" | tail -40
    fi
}
for t in "$@"; do run "$(basename "$t")" "$t"; done
# Lua tests run from an empty directory: they find their fixtures from their own path.
root=$PWD
elsewhere=$(mktemp -d "${TMPDIR:-/tmp}/lap-tests.XXXXXX") || exit 1
for t in tests/test_*.lua; do
    [ -f "$t" ] && run "$(basename "$t")" sh -c 'cd "$1" && exec "$2" "$3"' sh "$elsewhere" "$LAPRUN" "$root/$t"
done
rm -rf "$elsewhere"
for t in tests/test_*.sh; do [ -f "$t" ] && run "$(basename "$t")" sh "$t"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
