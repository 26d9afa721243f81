#!/bin/sh
# test_wrong_arguments.sh: runs tests/wrong_arguments.lua (every function and method
# with arguments of every wrong kind) in a scratch directory (a number is a valid
# path: lap.claim(-1) creates the file "-1") and under a memory limit: an argument of
# 2^31 may legitimately ask for 8 GB, which must fail as an error, not exhaust the
# machine.  Under ASan (BUILD=build-asan) the limit is ASan's own (a larger
# allocation fails and returns NULL); otherwise it is the address space (ulimit -v).
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
script=$(pwd)/tests/wrong_arguments.lua
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_wrong_arguments.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
if [ "${BUILD:-build}" = build-asan ]; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=2048" \
        "$LAPRUN" "$script"
else
    (ulimit -v 6000000 && "$LAPRUN" "$script")
fi
