#!/bin/sh
# test_robustness.sh: experiments/robustness.lua end to end at a tiny size: both
# sweeps (circles, and MNIST on random images written here in MNIST's IDX format),
# the robust-accuracy tables with intervals, the paired differences, the detector
# and diagnostics table,
# the three PNG files and the summary CSV.
: "${LAPRUN:=./laprun}"
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/mnist"

"$LAPRUN" tests/write_fake_mnist.lua "$dir/mnist" 40 20 2 || fail "could not write the test data"

out="$dir/out"
"$LAPRUN" experiments/robustness.lua --circles-instances 2 --attack-size 60 --circles-eps 0,0.3 \
  --mnist-instances 1 --mnist-size 20 --mnist-epochs 1 --mnist-eps 0,0.1 --mnist-steps 2 --data "$dir/mnist" \
  --out "$out" > "$dir/log" 2>&1 || { cat "$dir/log"; fail "robustness.lua exited non-zero"; }
for text in "circles PGD accuracy %" "circles FGSM accuracy %" "MNIST PGD accuracy %" "detector AUC" \
    "LAP-ResNet (n=2)" "ResNet (n=1)" "eps 0.3" "eps 0.1 px" "LAP - ResNet, paired by seed"; do
  grep -q -F "$text" "$dir/log" || { cat "$dir/log"; fail "the output has no '$text'"; }
done
# circles: two instances, so cells are intervals "mean, [low, high]"
grep -F "LAP-ResNet (n=2)" "$dir/log" | grep -q "\[" || { cat "$dir/log"; fail "no interval in the circles table"; }
for f in robustness.png detection_roc.png diagnostics.png robustness_summary.csv robustness_circles.jsonl \
    robustness_mnist.jsonl; do
  [ -s "$out/$f" ] || { cat "$dir/log"; fail "$f was not written"; }
done
lines=$(wc -l < "$out/robustness_summary.csv")
[ "$lines" -eq 17 ] || fail "robustness_summary.csv has $lines lines, expected 17 (header + 2 datasets x 2 attacks x 2 methods x 2 eps)"
echo "test_robustness: ok"
