#!/bin/sh
# test_disk_full.sh: a full disk or a killed writer leaves no partial state behind
# (issue 13, fault 10).  lap.append_line truncates a failed append back to the last
# complete record (and drops a record a killed writer left without its newline before
# appending); a save removes the "<file>.tmp.<pid>" files of saves that were killed.
# The full disk is a file size limit (ulimit -f, with SIGXFSZ ignored so that write
# fails with EFBIG).
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_disk_full.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }

printf '{"a":1}\n{"a":2}\n' >"$tmp/results.jsonl"
cp "$tmp/results.jsonl" "$tmp/expected"
# 1 block of file size: the 3000-byte record fails part-way.
(trap '' XFSZ; ulimit -f 1; "$LAPRUN" -e "lap.append_line('$tmp/results.jsonl', '{\"a\":\"' .. string.rep('x', 3000) .. '\"}')") \
    >"$tmp/out" 2>"$tmp/err" && fail "the append past the size limit succeeded"
grep -q "cannot write '$tmp/results.jsonl'" "$tmp/err" || fail "append error: $(cat "$tmp/err")"
cmp -s "$tmp/results.jsonl" "$tmp/expected" || fail "a failed append left: $(tail -c 80 "$tmp/results.jsonl")"

# A record cut short by a killed writer goes before the next one is appended.
printf '{"a":3,"cut' >>"$tmp/results.jsonl"
"$LAPRUN" -e "lap.append_line('$tmp/results.jsonl', '{\"a\":4}')" || fail "append after a cut record"
printf '{"a":1}\n{"a":2}\n{"a":4}\n' >"$tmp/expected"
cmp -s "$tmp/results.jsonl" "$tmp/expected" || fail "after a cut record: $(cat "$tmp/results.jsonl")"

# Temporaries of killed saves (no process 99999999: above any pid_max) go; one of a
# live process (this shell) stays.
: >"$tmp/net.safetensors.tmp.99999999"
: >"$tmp/net.safetensors.tmp.$$"
"$LAPRUN" -e "lap.nn.Linear(2, 2):save('$tmp/net.safetensors')" || fail "save"
[ -e "$tmp/net.safetensors.tmp.99999999" ] && fail "the temporary of a killed save was left"
[ -e "$tmp/net.safetensors.tmp.$$" ] || fail "the temporary of a live process was removed"
[ -s "$tmp/net.safetensors" ] || fail "the save wrote nothing"

# A save that fails on the size limit leaves the previous file and no temporary.
cp "$tmp/net.safetensors" "$tmp/net.expected"
(trap '' XFSZ; ulimit -f 1; "$LAPRUN" -e "lap.nn.Linear(200, 200):save('$tmp/net.safetensors')") \
    >"$tmp/out" 2>"$tmp/err" && fail "the save past the size limit succeeded"
grep -q "write failed" "$tmp/err" || fail "save error: $(cat "$tmp/err")"
cmp -s "$tmp/net.safetensors" "$tmp/net.expected" || fail "a failed save changed the file"
left=$(ls "$tmp" | grep '\.tmp\.' | grep -v "\.tmp\.$$\$")
[ -z "$left" ] || fail "a failed save left a temporary: $left"

[ $failures -eq 0 ] && echo "test_disk_full: ok"
[ $failures -eq 0 ]
