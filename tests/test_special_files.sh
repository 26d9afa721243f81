#!/bin/sh
# test_special_files.sh: loading never blocks on, and saving never replaces, anything
# but a regular file (issue 13, fault 6).  lap.nn.load on a FIFO waited forever for a
# writer; net:save on a device or a FIFO renamed a regular file over it (as root,
# Linear(1,1):save("/dev/null") replaced /dev/null).  A symlink to a regular file is
# followed: its target is replaced and the link stays.
: "${LAPRUN:=./laprun}"
case $LAPRUN in /*) ;; *) LAPRUN=$(pwd)/$LAPRUN ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_special_files.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { failures=$((failures + 1)); echo "FAIL: $*"; }
# expect_error NAME TEXT CODE: runs CODE in laprun (at most 20 s) and wants an error containing TEXT.
expect_error() {
    name=$1 text=$2 code=$3
    timeout 20 "$LAPRUN" -e "$code" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 124 ]; then fail "$name: timed out (blocked)"; return; fi
    if [ $rc -eq 0 ] || ! grep -qF "$text" "$tmp/err"; then fail "$name: rc $rc, stderr: $(cat "$tmp/err")"; fi
}

mkfifo "$tmp/fifo"
expect_error "load a FIFO" "checkpoint '$tmp/fifo': not a regular file" "lap.nn.load('$tmp/fifo')"
expect_error "load_weights from a FIFO" "not a regular file" "lap.nn.Linear(1, 1):load_weights('$tmp/fifo')"
expect_error "plot.diff of a FIFO" "plot: cannot read '$tmp/fifo': not a regular file" "lap.plot.diff('$tmp/fifo', '$tmp/fifo')"
expect_error "save over a FIFO" "refusing to replace it" "lap.nn.Linear(1, 1):save('$tmp/fifo')"
[ -p "$tmp/fifo" ] || fail "the FIFO was replaced"
ls "$tmp" | grep -q '\.tmp\.' && fail "a temporary file was left behind"

mkdir "$tmp/sheets"   # a CIFAR-10 PNG sheet that is a FIFO
mkfifo "$tmp/sheets/test_batch.png"
echo "[1]" >"$tmp/sheets/test_lables.json"
expect_error "cifar10 sheet that is a FIFO" "cifar10 '$tmp/sheets/test_batch.png': not a regular file" \
    "lap.data.cifar10{dir = '$tmp/sheets', split = 'test'}"

mkdir "$tmp/dir"
expect_error "save over a directory" "refusing to replace it" "lap.nn.Linear(1, 1):save('$tmp/dir')"
[ -d "$tmp/dir" ] || fail "the directory was replaced"

ln -s "$tmp/missing" "$tmp/dangling"
expect_error "save through a dangling symlink" "refusing to replace it" "lap.nn.Linear(1, 1):save('$tmp/dangling')"
[ -L "$tmp/dangling" ] || fail "the dangling symlink was replaced"

if mknod "$tmp/null" c 1 3 2>/dev/null; then   # a /dev/null of our own (root only)
    expect_error "save over a device" "refusing to replace it" "lap.nn.Linear(1, 1):save('$tmp/null')"
    [ -c "$tmp/null" ] || fail "the device was replaced"
fi

# A symlink to a regular file: the target gets the checkpoint, the link stays.
: >"$tmp/real.safetensors"
ln -s "$tmp/real.safetensors" "$tmp/link.safetensors"
if ! timeout 20 "$LAPRUN" -e "lap.nn.Linear(2, 3):save('$tmp/link.safetensors')
    assert(lap.nn.load('$tmp/real.safetensors'):type() == 'Linear')" </dev/null >"$tmp/out" 2>"$tmp/err"; then
    fail "save through a symlink: $(cat "$tmp/err")"
fi
[ -L "$tmp/link.safetensors" ] || fail "the symlink was replaced by a regular file"
[ -s "$tmp/real.safetensors" ] || fail "the symlink's target was not written"

[ $failures -eq 0 ] && echo "test_special_files: ok"
[ $failures -eq 0 ]
