#!/bin/sh
# test_experiments.sh: the image experiments end to end, on small files written here
# in MNIST's IDX and CIFAR-10's binary formats (the real data are not needed):
# experiments/mnist.lua --data, mnist_table1.lua (a sweep), transport_vs_accuracy.lua
# (Figure 2, a sweep), experiments/cifar10.lua, experiments/autoencoder.lua.
# Each must run, print both methods, and write its CSV or PNG files.
: "${LAPRUN:=./laprun}"
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/mnist" "$dir/cifar"

# Random images with labels 0..9: MNIST IDX files, CIFAR-10 binary records.
"$LAPRUN" tests/write_fake_mnist.lua "$dir/mnist" 60 30 1 || fail "could not write the MNIST test data"
TEST_DATA_DIR="$dir" "$LAPRUN" -e '
local dir = os.getenv("TEST_DATA_DIR")
math.randomseed(1)
local function cifar(name, count)
  local f = assert(io.open(dir .. "/cifar/" .. name, "wb"))
  for r = 1, count do
    local record = { (r - 1) % 10 }
    for i = 2, 3073 do record[i] = math.random(0, 255) end
    for i = 1, 3073, 4096 do f:write(string.char(table.unpack(record, i, math.min(3073, i + 4095)))) end
  end
  f:close()
end
for b = 1, 5 do cifar("data_batch_" .. b .. ".bin", 8) end
cifar("test_batch.bin", 10)
' || fail "could not write the test data"

"$LAPRUN" experiments/mnist.lua --data "$dir/mnist" --train-size 20 --epochs 2 --test-size 30 --quiet \
    --out "$dir/out-mnist" > "$dir/log" 2>&1 || fail "mnist.lua failed: $(tail -5 "$dir/log")"
grep -q "^ResNet " "$dir/log" && grep -q "^LAP-ResNet " "$dir/log" || fail "mnist.lua should print both methods"
grep -q "20 training images (seed 1), 30 test images, 2 epochs" "$dir/log" || fail "mnist.lua summary line"
[ "$(wc -l < "$dir/out-mnist/history.csv")" -eq 5 ] || fail "history.csv should have 2 epochs x 2 methods"

# The Table 1 sweep over lap.experiment: 2 sizes x 2 methods x 2 seeds in 2 workers.
"$LAPRUN" experiments/mnist_table1.lua --data "$dir/mnist" --sizes 20,30 --epochs 1 --test-size 30 --instances 2 \
    --jobs 2 --out "$dir/out-table1" > "$dir/log" 2>&1 || fail "mnist_table1.lua failed: $(tail -5 "$dir/log")"
[ "$(wc -l < "$dir/out-table1/mnist_table1.jsonl")" -eq 8 ] || fail "mnist_table1.jsonl should hold 8 instances"
grep -q "^LAP " "$dir/log" && grep -q "30 images" "$dir/log" || fail "mnist_table1.lua should print its table"

# Another Uzawa rule, LAP only: the records carry it and the trainer uses it (20
# images: one step an epoch, so with s = 5 lambda stays at lambda0 for 2 epochs).
"$LAPRUN" experiments/mnist_table1.lua --data "$dir/mnist" --sizes 20 --epochs 2 --test-size 30 --instances 1 \
    --methods lap --lambda0 0.5 --tau 0.2 --jobs 1 --out "$dir/out-rule" > "$dir/log" 2>&1 \
    || fail "mnist_table1.lua --methods lap failed: $(tail -5 "$dir/log")"
[ "$(wc -l < "$dir/out-rule/mnist_table1.jsonl")" -eq 1 ] || fail "--methods lap should run one instance"
grep -q '"lambda0":0.5' "$dir/out-rule/mnist_table1.jsonl" && grep -q '"tau":0.2' "$dir/out-rule/mnist_table1.jsonl" \
    && grep -q '"method":"LAP"' "$dir/out-rule/mnist_table1.jsonl" || fail "the record should carry LAP's rule"
grep -q '"steps"' "$dir/out-rule/mnist_table1.jsonl" && fail "steps kept its default and should not be in the record"
grep -q '"epochs_metrics":\[{"lambda":0.5,' "$dir/out-rule/mnist_table1.jsonl" || fail "LAP should start from lambda0 = 0.5"
if "$LAPRUN" experiments/mnist_table1.lua --data "$dir/mnist" --methods both2 > "$dir/log" 2>&1; then
    fail "--methods both2 should fail"
fi
grep -q "option --methods must be one of resnet, lap, both, got 'both2'" "$dir/log" \
    || fail "the --methods error should say what is allowed: $(cat "$dir/log")"

# Figure 2 as a sweep: 3 initializations x 2 seeds, one point per network; --resume
# with a third seed trains only the 3 new networks and draws all 9.
"$LAPRUN" experiments/transport_vs_accuracy.lua --data "$dir/mnist" --train-size 20 --test-size 30 --epochs 2 \
    --orthogonal 0.1,1 --normal 0.05 --instances 2 --out "$dir/out-fig2" > "$dir/log" 2>&1 \
    || fail "transport_vs_accuracy.lua failed: $(tail -5 "$dir/log")"
[ "$(wc -l < "$dir/out-fig2/transport_vs_accuracy.jsonl")" -eq 6 ] || fail "transport_vs_accuracy.jsonl should hold 6 networks"
[ "$(wc -l < "$dir/out-fig2/points.csv")" -eq 7 ] || fail "points.csv should have a header and 6 points"
grep -q "^6 networks; least squares: transport = .* Pearson r = -\{0,1\}[0-9.]* (p = [0-9.e-]*)$" "$dir/log" || fail "the fit line: $(tail -3 "$dir/log")"
"$LAPRUN" experiments/transport_vs_accuracy.lua --data "$dir/mnist" --train-size 20 --test-size 30 --epochs 2 \
    --orthogonal 0.1,1 --normal 0.05 --instances 3 --resume --out "$dir/out-fig2" > "$dir/log" 2>&1 \
    || fail "transport_vs_accuracy.lua --resume failed: $(tail -5 "$dir/log")"
grep -q "9 instances (3 configs x 3 seeds), 3 to run" "$dir/log" || fail "--resume should train only the new seed"
[ "$(wc -l < "$dir/out-fig2/points.csv")" -eq 10 ] || fail "points.csv should have 9 points after --resume"
"$LAPRUN" -e "local image = lap.plot.read('$dir/out-fig2/figure2.png')
    assert(image:size(1) > 100 and image:size(2) > 400)" || fail "figure2.png does not decode"
if "$LAPRUN" experiments/transport_vs_accuracy.lua --data "$dir/mnist" --normal 0.1,zero > "$dir/log" 2>&1; then
    fail "--normal 0.1,zero should fail"
fi
grep -q "option --normal: 'zero' is not a positive number" "$dir/log" || fail "the gain error: $(cat "$dir/log")"

if "$LAPRUN" experiments/mnist.lua --data "$dir/nowhere" --epochs 1 > "$dir/log" 2>&1; then
    fail "a missing data directory should fail"
fi
grep -q "nowhere" "$dir/log" || fail "the error should name the missing files: $(cat "$dir/log")"

"$LAPRUN" experiments/cifar10.lua --data "$dir/cifar" --train-size 16 --epochs 1 --test-size 10 --quiet \
    --out "$dir/out-cifar" > "$dir/log" 2>&1 || fail "cifar10.lua failed: $(tail -5 "$dir/log")"
grep -q "^LAP-ResNet " "$dir/log" || fail "cifar10.lua should print both methods"
grep -q "^data: CIFAR-10 ($dir/cifar)" "$dir/log" || fail "cifar10.lua should say which data it used"
"$LAPRUN" -e "local image = lap.plot.read('$dir/out-cifar/curves.png')
    assert(image:size(1) > 100 and image:size(2) > 400)" || fail "cifar10.lua's curves.png does not decode"
# --minutes: no epoch starts once the budget is spent (checked after each epoch).
"$LAPRUN" experiments/cifar10.lua --data "$dir/cifar" --train-size 16 --epochs 3 --test-size 10 --minutes 1e-9 \
    --out "$dir/out-cifar" > "$dir/log" 2>&1 || fail "cifar10.lua --minutes failed: $(tail -5 "$dir/log")"
grep -q "epoch   1/3" "$dir/log" || fail "cifar10.lua --minutes 1e-9 should run one epoch: $(cat "$dir/log")"
if grep -q "epoch   2/3" "$dir/log"; then fail "cifar10.lua --minutes 1e-9 should stop after one epoch"; fi

# Default data: data/mnist and data/cifar10 relative to the current directory,
# Fashion-MNIST with --data fashion; the first line says which.
root=$(pwd)
laprun_abs=$(cd "$(dirname "$LAPRUN")" && pwd)/$(basename "$LAPRUN")
mkdir -p "$dir/work/data" "$dir/empty"
ln -s "$dir/mnist" "$dir/work/data/mnist"
(cd "$dir/work" && "$laprun_abs" "$root/experiments/mnist.lua" --train-size 20 --epochs 1 --test-size 10 --quiet \
    --out "$dir/out-default" > "$dir/log" 2>&1) || fail "mnist.lua with data/mnist failed: $(tail -5 "$dir/log")"
[ "$(head -1 "$dir/log")" = "data: MNIST (data/mnist)" ] || fail "mnist.lua should use data/mnist: $(head -1 "$dir/log")"
(cd "$dir/work" && "$laprun_abs" "$root/experiments/mnist.lua" --data fashion --train-size 20 --epochs 1 --test-size 10 \
    --quiet --out "$dir/out-default" > "$dir/log" 2>&1) || fail "mnist.lua --data fashion failed: $(tail -5 "$dir/log")"
[ "$(head -1 "$dir/log")" = "data: Fashion-MNIST (--data fashion)" ] || fail "--data fashion: $(head -1 "$dir/log")"
if (cd "$dir/empty" && "$laprun_abs" "$root/experiments/cifar10.lua" > "$dir/log" 2>&1); then
    fail "cifar10.lua without data/cifar10 should fail"
fi
grep -q "make data" "$dir/log" || fail "cifar10.lua should say how to get the data: $(cat "$dir/log")"

"$LAPRUN" experiments/autoencoder.lua --data "$dir/mnist" --ae-size 20 --ae-epochs 1 --train-size 20 --epochs 1 \
    --images 2 --out "$dir/out-ae" > "$dir/log" 2>&1 || fail "autoencoder.lua failed: $(tail -5 "$dir/log")"
for figure in decoded_resnet decoded_lap; do
    "$LAPRUN" -e "local image = lap.plot.read('$dir/out-ae/$figure.png')
        assert(image:size(1) > 100 and image:size(2) > 400)" || fail "$figure.png does not decode"
done
echo "test_experiments: ok"
