#!/bin/sh
# test_cpu.sh: the BLAS core check at start (laprun re-executes itself with
# OPENBLAS_CORETYPE set; lap.so in a stock lua5.4 warns instead), the user's
# overrides (OPENBLAS_CORETYPE, LAP_NO_REEXEC, LAP_KERNELS), and what
# `laprun --version` / lap.info() report.  This machine's OpenBLAS may well pick
# the right core already, so LAP_TEST_REPORTED_CORE=Prescott makes lap believe
# OpenBLAS reported Prescott: the expected outcome then depends only on the CPU's
# best core (lap.info().blas.best_core).
: "${LAPRUN:=./laprun}"
: "${LAPSO:=./lap.so}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
failures=0
checks=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_cpu.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }
check() { name=$1; shift; if "$@"; then checks=$((checks + 1)); else fail "$name"; fi; }
contains() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
run() { "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); }
unset LAP_NO_REEXEC LAP_KERNELS LAP_BLAS_REEXEC_FROM
# Some machines set OPENBLAS_CORETYPE for everyone (an OpenBLAS that misdetects
# them); it is left as it is, and then no re-execution may happen.
preset_coretype=${OPENBLAS_CORETYPE:-}

run "$LAPRUN" --version
check "--version exits 0" test "$rc" -eq 0
check "--version names the BLAS core (got '$out')" contains "$out" ", core "
check "--version names the CPU" contains "$out" "CPU: "
check "--version names lap's kernel path" contains "$out" "lap kernels: "
core=$("$LAPRUN" -e 'io.write(lap.info().blas.core)')
best=$("$LAPRUN" -e 'io.write(lap.info().blas.best_core or "")')
echo "this machine: OpenBLAS core $core, best core for the CPU '${best:-none}'"

# The user's OPENBLAS_CORETYPE is never overridden.
run env OPENBLAS_CORETYPE=Prescott "$LAPRUN" -e 'io.write(lap.info().blas.core, " ", tostring(lap.info().blas.reexec_from))'
check "OPENBLAS_CORETYPE=Prescott set by the user keeps Prescott (got '$out')" test "$out" = "Prescott nil"
check "no warning when the user chose the core (got '$err')" test -z "$err"

# A weak reported core: laprun re-executes itself once with the best core.
printf 'io.write(lap.info().blas.core, " ", tostring(lap.info().blas.reexec_from), " ", select("#", ...), " ", table.concat({...}, "|"))\n' > "$tmp/args.lua"
run env LAP_TEST_REPORTED_CORE=Prescott "$LAPRUN" "$tmp/args.lua" a "b c"
if [ -n "$preset_coretype" ]; then
    check "OPENBLAS_CORETYPE=$preset_coretype in the environment: no re-execution (got '$out')" \
        test "$out" = "$core nil 2 a|b c"
    best=""
elif [ -n "$best" ]; then
    check "re-executed with OPENBLAS_CORETYPE=$best, arguments kept (got '$out')" test "$out" = "$best Prescott 2 a|b c"
else
    check "no better core for this CPU: no re-execution (got '$out')" test "$out" = "$core nil 2 a|b c"
fi
check "no warning after a successful re-execution (got '$err')" test -z "$err"
run env LAP_TEST_REPORTED_CORE=Prescott LAP_NO_REEXEC=1 "$LAPRUN" -e 'io.write(lap.info().blas.core, " ", tostring(lap.info().blas.reexec_from))'
check "LAP_NO_REEXEC=1 turns it off (got '$out')" test "$out" = "$core nil"
check "LAP_NO_REEXEC=1 is silent (got '$err')" test -z "$err"
out=$(printf 'return 6*7\n' | env LAP_TEST_REPORTED_CORE=Prescott "$LAPRUN")
check "standard input survives the re-execution (got '$out')" test "$out" = "42"

# lap.so cannot re-execute its host: one warning naming the variable.  (An ASan
# build's lap.so cannot be loaded by the stock, uninstrumented lua5.4.)
if [ "${BUILD:-build}" = build-asan ]; then
    echo "skip: lap.so in lua5.4 (an ASan build's lap.so needs an ASan host)"
elif command -v lua5.4 >/dev/null 2>&1 && [ -f "$LAPSO" ]; then
    sodir=$(cd "$(dirname "$LAPSO")" && pwd)
    run env LAP_TEST_REPORTED_CORE=Prescott lua5.4 -e "package.cpath='$sodir/?.so;'..package.cpath
        local lap = require 'lap'; package.loaded.lap = nil; require 'lap'; io.write(lap.info().blas.core)"
    check "lap.so keeps OpenBLAS's core (got '$out')" test "$out" = "$core"
    if [ -n "$best" ]; then
        check "lap.so warns, naming OPENBLAS_CORETYPE=$best (got '$err')" contains "$err" "OPENBLAS_CORETYPE=$best"
        check "lap.so warns once" test "$(printf '%s\n' "$err" | grep -c warning)" -eq 1
    fi
else
    echo "skip: lap.so in lua5.4 (no lua5.4 or no $LAPSO)"
fi

# lap's own kernel paths: forced by LAP_KERNELS, refused when unknown.
run env LAP_KERNELS=baseline "$LAPRUN" -e 'io.write(lap.info().kernels)'
check "LAP_KERNELS=baseline forces the baseline path (got '$out')" test "$out" = "baseline"
run env LAP_KERNELS=sse9 "$LAPRUN" -e 'io.write(lap.kernels())'
check "an unknown LAP_KERNELS warns (got '$err')" contains "$err" "LAP_KERNELS=sse9"
check "... and runs the best path (got '$out')" test "$out" = "$("$LAPRUN" -e 'io.write(lap.info().kernel_paths[#lap.info().kernel_paths])')"
run "$LAPRUN" -e 'lap.kernels("neon")'
check "lap.kernels('neon') is an error" contains "$err" "unknown path 'neon'"

if [ "$failures" -gt 0 ]; then
    echo "test_cpu.sh: $failures failed, $checks passed"
    exit 1
fi
echo "test_cpu.sh: all $checks checks passed"
