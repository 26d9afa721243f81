#!/bin/sh
# test_laprun.sh: checks the laprun executable itself (options, arg table, error
# reporting and exit codes, stdin statement mode, -i, Ctrl-C while running and at
# the interactive prompt, package.path).  Run from the repository root by
# tests/run.sh with LAPRUN (default ./laprun).  Prints every failed check and
# exits 1 if any failed.  The REPL checks need a pty: python3's pty module, else
# util-linux `script`; without either they are reported as skipped.
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
failures=0
checks=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_laprun.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
}
pass() {
    checks=$((checks + 1))
}
# check NAME CONDITION-COMMAND...: runs the condition, records NAME on failure.
check() {
    name=$1; shift
    if "$@"; then pass; else fail "$name"; fi
}
contains() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
# run [cmd...]: runs with stdin from /dev/null; sets $out, $err, $rc.
run() {
    "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
}
# runin INPUT cmd...: same with INPUT on stdin.
runin() {
    input=$1; shift
    printf '%s' "$input" | "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
}

if [ ! -x "$LAPRUN" ]; then
    echo "FAIL: $LAPRUN is not an executable"
    exit 1
fi

version=$(sed -n 's/^#define LAP_VERSION "\(.*\)"/\1/p' bindings/lap_bindings.h 2>/dev/null)

# --- options
run "$LAPRUN" --help
check "--help exits 0 (got $rc)" test "$rc" -eq 0
check "--help mentions -e" contains "$out" "-e "
check "--help mentions -i" contains "$out" "-i "
run "$LAPRUN" -h
check "-h exits 0 and prints usage" test "$rc" -eq 0 -a -n "$out"

run "$LAPRUN" --version
check "--version exits 0" test "$rc" -eq 0
check "--version prints 'laprun $version (Lua 5.4...)' (got '$out')" contains "$out" "laprun $version (Lua 5.4"
run "$LAPRUN" -v
check "-v prints the version" contains "$out" "laprun $version"

run "$LAPRUN" --bogus
check "unknown option exits 1 (got $rc)" test "$rc" -eq 1
check "unknown option: usage on stderr" contains "$err" "usage:"
check "unknown option: nothing on stdout" test -z "$out"
run "$LAPRUN" -e
check "-e without argument exits 1" test "$rc" -eq 1

# --- scripts and errors
printf 'local x = 1\nerror("kaboom " .. x)\n' > "$tmp/rterr.lua"
run "$LAPRUN" "$tmp/rterr.lua"
check "runtime error exits 1 (got $rc)" test "$rc" -eq 1
check "runtime error: message with script and line (got '$err')" contains "$err" "rterr.lua:2: kaboom 1"
check "runtime error: 'laprun:' prefix" contains "$err" "laprun: "
check "runtime error: stack traceback" contains "$err" "stack traceback"

printf 'x = = 1\n' > "$tmp/synerr.lua"
run "$LAPRUN" "$tmp/synerr.lua"
check "syntax error exits 1 (got $rc)" test "$rc" -eq 1
check "syntax error names the script (got '$err')" contains "$err" "synerr.lua:1:"

run "$LAPRUN" "$tmp/no_such_script.lua"
check "missing script exits 1 (got $rc)" test "$rc" -eq 1
check "missing script is named (got '$err')" contains "$err" "no_such_script.lua"

run "$LAPRUN" -e 'error("boom")'
check "-e error exits 1 (got $rc)" test "$rc" -eq 1
check "-e error message (got '$err')" contains "$err" "boom"

run "$LAPRUN" -e 'error(setmetatable({}, {__tostring = function() return "custom object" end}))'
check "error object with __tostring exits 1" test "$rc" -eq 1
check "error object with __tostring is printed (got '$err')" contains "$err" "custom object"

run "$LAPRUN" -e 'a = 20' -e 'print(a * 2 + 2)'
check "several -e run in order (got '$out', rc $rc)" test "$out" = "42" -a "$rc" -eq 0

cat > "$tmp/args.lua" <<'EOF'
local lo = 0
while arg[lo - 1] ~= nil do lo = lo - 1 end
for i = lo, #arg do io.write(i, "=", arg[i], "\n") end
print(select('#', ...), ...)
EOF
run "$LAPRUN" "$tmp/args.lua" a "b c"
expected=$(printf -- '-1=%s\n0=%s\n1=a\n2=b c\n2\ta\tb c' "$LAPRUN" "$tmp/args.lua")
check "arg table and ... for 'laprun script a b' (got '$out')" test "$out" = "$expected" -a "$rc" -eq 0
run "$LAPRUN" -e 'x = 1' "$tmp/args.lua" z
expected=$(printf -- '-3=%s\n-2=-e\n-1=x = 1\n0=%s\n1=z\n1\tz' "$LAPRUN" "$tmp/args.lua")
check "arg with options before the script (got '$out')" test "$out" = "$expected" -a "$rc" -eq 0
run "$LAPRUN" -e 'print(#arg, arg[0] ~= nil, arg[1], arg[2])'
check "arg without a script (got '$out')" test "$out" = "$(printf '2\ttrue\t-e\tprint(#arg, arg[0] ~= nil, arg[1], arg[2])')"

run "$LAPRUN" -e 'os.exit(3)'
check "os.exit(3) gives 3 (got $rc)" test "$rc" -eq 3
run "$LAPRUN" -e 'os.exit(true)'
check "os.exit(true) gives 0 (got $rc)" test "$rc" -eq 0
printf 'print("ok")\n' > "$tmp/ok.lua"
run "$LAPRUN" "$tmp/ok.lua"
check "successful script exits 0 (got $rc, '$out')" test "$rc" -eq 0 -a "$out" = "ok"

run "$LAPRUN" -e 'assert(type(lap) == "table" and require("lap") == lap)'
check "global lap = require 'lap' (rc $rc: $err)" test "$rc" -eq 0

LUA_INIT='init_var = 7' run "$LAPRUN" -e 'print(init_var)'
check "LUA_INIT runs first (got '$out')" test "$out" = "7"
LUA_INIT='init_var = 7' run "$LAPRUN" -E -e 'print(init_var)'
check "-E ignores LUA_INIT (got '$out')" test "$out" = "nil"

# --- package.path: <exe dir>/scripts and <exe dir>/../share/lap/scripts
mkdir -p "$tmp/prefix/bin/scripts/lap" "$tmp/prefix/share/lap/scripts/lap"
cp "$LAPRUN" "$tmp/prefix/bin/laprun"
echo 'return "from-scripts"' > "$tmp/prefix/bin/scripts/lap/probe.lua"
echo 'return "from-init"' > "$tmp/prefix/bin/scripts/lap/init.lua"
echo 'return "from-share"' > "$tmp/prefix/share/lap/scripts/lap/probe2.lua"
(cd / && "$tmp/prefix/bin/laprun" -e 'print((require "lap.probe"), (require "lap.probe2"))') \
    </dev/null >"$tmp/out" 2>"$tmp/err"
out=$(cat "$tmp/out")
check "require finds <exe>/scripts and <exe>/../share/lap/scripts (got '$out' $(cat "$tmp/err"))" \
    test "$out" = "$(printf 'from-scripts\tfrom-share')"

# --- stdin, statement by statement (not a terminal)
runin 'x = 1 + 2; return x
' "$LAPRUN"
check "'x = 1 + 2; return x' | laprun prints 3 (got '$out')" test "$out" = "3" -a "$rc" -eq 0
runin '1 + 1
' "$LAPRUN"
check "'1 + 1' | laprun prints 2 (got '$out')" test "$out" = "2" -a "$rc" -eq 0
runin 'for i=1,2 do
print(i)
end
' "$LAPRUN"
check "multi-line statement from stdin (got '$out')" test "$out" = "$(printf '1\n2')" -a "$rc" -eq 0
runin 'print("before")
error("in the middle")
print("after")
' "$LAPRUN"
check "error in piped input exits 1 (got $rc)" test "$rc" -eq 1
check "error in piped input: later lines still run (got '$out')" test "$out" = "$(printf 'before\nafter')"
check "error in piped input: message on stderr (got '$err')" contains "$err" "in the middle"
runin 'print("x"' "$LAPRUN"
check "incomplete statement at EOF exits 1" test "$rc" -eq 1
runin '' "$LAPRUN"
check "empty stdin exits 0 silently (rc $rc, '$out$err')" test "$rc" -eq 0 -a -z "$out$err"
runin 'local a = 5
print(a)
' "$LAPRUN" -
check "'laprun -' runs stdin as one chunk (got '$out')" test "$out" = "5" -a "$rc" -eq 0

printf 'shared = 41\n' > "$tmp/globals.lua"
runin 'print(shared + 1)
' "$LAPRUN" -i "$tmp/globals.lua"
check "-i script then stdin sees the script's globals (got '$out' / '$err')" test "$out" = "42" -a "$rc" -eq 0

runin 'x = lap.tensor{{1,2}}; return x:sum()
' "$LAPRUN"
check "lap.tensor{{1,2}}:sum() through stdin prints 3 (got '$out', err '$err')" test "$out" = "3" -a "$rc" -eq 0

# --- Ctrl-C while running Lua code
"$LAPRUN" -e "io.open('$tmp/started', 'w'):close() while true do end" </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while [ ! -f "$tmp/started" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
    fail "SIGINT did not stop 'while true do end' within 2 s"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
else
    wait "$pid"
    rc=$?
    err=$(cat "$tmp/err")
    check "SIGINT: exit status 1 (got $rc)" test "$rc" -eq 1
    check "SIGINT: 'interrupted' on stderr (got '$err')" contains "$err" "interrupted"
fi

# --- the interactive REPL through a pty
mkdir -p "$tmp/home"
PY=
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
    cat > "$tmp/repl_check.py" <<'EOF'
import os, pty, select, sys, time
exe, home = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["HOME"] = home
    os.environ["TERM"] = "dumb"
    os.execv(exe, [exe])
buf = b""
pos = 0
def expect(pat, timeout=10.0):
    """Waits for pat after the previous match; moves past it."""
    global buf, pos
    end = time.time() + timeout
    while buf.find(pat, pos) < 0:
        left = end - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            buf += data
    pos = buf.find(pat, pos) + len(pat)
    return True
def step(name, ok):
    if not ok:
        print("FAIL: REPL:", name)
        print("     output so far:", repr(buf.decode(errors="replace")))
        os.kill(pid, 9)
        sys.exit(1)
step("banner and prompt", expect(b"> "))
os.write(fd, b"while true do end\r")
step("echo of the loop", expect(b"while true do end\r\n"))
time.sleep(0.3)
os.write(fd, b"\x03")
step("'interrupted' after Ctrl-C", expect(b"interrupted"))
step("prompt after the interrupt", expect(b"> "))
time.sleep(0.2)
os.write(fd, b"print(40+2)\r")
step("42 printed after the interrupt (session survived)", expect(b"\n42\r\n"))
os.write(fd, b"print('dis' .. 'carded')")
time.sleep(0.2)
os.write(fd, b"\x03")
time.sleep(0.3)
os.write(fd, b"print(6*9)\r")
step("Ctrl-C at the prompt discards the line and the REPL goes on", expect(b"\n54\r\n"))
step("the discarded line did not run", b"discarded" not in buf)
os.write(fd, b"y = 1 +\r")
step("continuation prompt", expect(b">> "))
os.write(fd, b"2\r")
os.write(fd, b"y * 100\r")
step("continued statement ran", expect(b"\n300\r\n"))
step("prompt before Ctrl-D", expect(b"> "))
os.write(fd, b"\x04")
end = time.time() + 10
while time.time() < end:
    p, status = os.waitpid(pid, os.WNOHANG)
    if p:
        break
    try:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            os.read(fd, 4096)
    except OSError:
        pass
else:
    step("exit on Ctrl-D", False)
step("exit status 0 on Ctrl-D (status %d)" % status, os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
EOF
    if "$PY" "$tmp/repl_check.py" "$LAPRUN" "$tmp/home"; then pass; else fail "REPL through a pty (see above)"; fi
    check "REPL history file written" grep -q 'print(40+2)' "$tmp/home/.laprun_history"
elif command -v script >/dev/null 2>&1; then
    { sleep 1; printf 'while true do end\r'; sleep 1; printf '\003'; sleep 1; printf 'print(40+2)\r';
      sleep 1; printf '\004'; sleep 1; } | HOME="$tmp/home" script -qec "$LAPRUN" /dev/null >"$tmp/out" 2>&1
    out=$(cat "$tmp/out")
    check "REPL (script): interrupted" contains "$out" "interrupted"
    if printf '%s\n' "$out" | tr -d '\r' | grep -q '42$'; then pass; else
        fail "REPL (script): 42 after the interrupt (got '$out')"; fi
else
    echo "skip: REPL pty checks (neither python3 nor script available)"
fi

if [ "$failures" -gt 0 ]; then
    echo "test_laprun: $failures failed, $checks passed"
    exit 1
fi
echo "test_laprun: all $checks checks passed"
