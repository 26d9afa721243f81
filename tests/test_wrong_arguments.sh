#!/bin/sh
# test_wrong_arguments.sh: runs tests/wrong_arguments.lua (every function and method
# with arguments of every wrong kind) under a memory limit: an argument of 2^31 may
# legitimately ask for 8 GB, which must fail as an error, not exhaust the machine.
# Under ASan (BUILD=build-asan) the limit is ASan's own (a larger allocation fails
# and returns NULL); otherwise it is the process's address space (ulimit -v).
: "${LAPRUN:=./laprun}"
if [ "${BUILD:-build}" = build-asan ]; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=2048" \
        exec "$LAPRUN" tests/wrong_arguments.lua
fi
ulimit -v 6000000
exec "$LAPRUN" tests/wrong_arguments.lua
