#!/bin/sh
# test_side_by_side.sh: bench/reference/side_by_side.py's numbers on records whose
# answers are known: a cell's mean and 95 % interval, LAP - ResNet paired by seed,
# and lap's mean against the replica's (Welch: "agree" when the interval holds 0,
# "DIFFER" when not).  Only Python's standard library is needed.
set -e
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ]; then
    echo "test_side_by_side: skipped: no python3"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# lap's records keep method and train_size under config, the replica's at top level.
for seed in 0 1 2; do
    r=$(echo "0.50 0.60 0.70" | cut -d' ' -f$((seed + 1)))
    l=$(echo "0.52 0.63 0.71" | cut -d' ' -f$((seed + 1)))
    x=$(echo "0.90 0.91 0.92" | cut -d' ' -f$((seed + 1)))
    echo "{\"seed\": $seed, \"best_accuracy\": $r, \"config\": {\"method\": \"ResNet\", \"train_size\": 100}}" >> "$tmp/lap.jsonl"
    echo "{\"seed\": $seed, \"best_accuracy\": $l, \"config\": {\"method\": \"LAP\", \"train_size\": 100}}" >> "$tmp/lap.jsonl"
    echo "{\"seed\": $seed, \"best_accuracy\": $r, \"method\": \"ResNet\", \"train_size\": 100}" >> "$tmp/replica.jsonl"
    echo "{\"seed\": $seed, \"best_accuracy\": $x, \"method\": \"LAP\", \"train_size\": 100}" >> "$tmp/replica.jsonl"
done
"$PY" bench/reference/side_by_side.py "$tmp/lap.jsonl" "$tmp/replica.jsonl" > "$tmp/out.txt"
expect() {
    grep -F -- "$1" "$tmp/out.txt" > /dev/null || { echo "test_side_by_side: missing '$1' in:"; cat "$tmp/out.txt"; exit 1; }
}
# ResNet: 50, 60, 70: mean 60, sd 10, t(0.975, 2) = 4.303: 60 +- 24.8
expect "100 images ResNet  lap 60.0, [35.2, 84.8] (n=3, chance 0)"
# LAP - ResNet by seed: +2, +3, +1: mean 2, sd 1: 2 +- 2.48
expect "LAP - ResNet, paired by seed: lap +2.0 [-0.5, +4.5] (n=3)"
# the same ResNet records on both sides agree; lap's LAP (62) and the replica's (91) do not
expect "100 images ResNet  lap - replica +0.0"
expect "agree"
expect "100 images LAP     lap - replica -29.0"
expect "DIFFER"
# the compact table: lap's cells, paired differences, the replica's, the paper's
# row of every size (200 images: the paper's only). LAP 52, 63, 71: mean 62, sd
# 9.54, 62 +- 23.7; the replica's LAP - ResNet 40, 31, 22: 31 +- 4.303 * 9 / sqrt(3)
expect "  100    60.0 [35.2, 84.8] (3)   62.0 [38.3, 85.7] (3)   +2.0 [-0.5, +4.5] (3)   60.0 [35.2, 84.8] (3)   91.0 [88.5, 93.5] (3)   +31.0 [+8.6, +53.4] (3) 56.4   / 70.0"
expect "  200    -                       -                       -                       -                       -                       -                       74.9   / 82.0"

# "FILE@METHOD+FILE": lap's ResNet cells beside another sweep's LAP cells (80, 81, 82):
# LAP - ResNet 30, 21, 12 paired by seed; the replica's side is empty.
for seed in 0 1 2; do
    echo "{\"seed\": $seed, \"best_accuracy\": 0.8$seed, \"config\": {\"method\": \"LAP\", \"train_size\": 100, \"lambda0\": 0.01}}" >> "$tmp/rule.jsonl"
done
"$PY" bench/reference/side_by_side.py "$tmp/lap.jsonl@ResNet+$tmp/rule.jsonl" "$tmp/none.jsonl" > "$tmp/out.txt"
expect "100 images LAP     lap 81.0, [78.5, 83.5] (n=3, chance 0) replica -"
expect "100 images LAP - ResNet, paired by seed: lap +21.0 [-1.4, +43.4] (n=3), replica -"
echo "test_side_by_side: ok"
