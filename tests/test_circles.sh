#!/bin/sh
# test_circles.sh: experiments/circles.lua end to end.
# The default run (the authors' 2-D protocol, seed 0) must give the issue's
# result: with BatchNorm, plain ResNet reaches >= 99 % test accuracy and LAP's
# test transport cost is below plain ResNet's.  Also: --help, a bad option, and
# a small custom run writing its CSV files where --out says; the figures of
# the default run decode.
: "${LAPRUN:=./laprun}"
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$LAPRUN" experiments/circles.lua --help > "$out/help" || fail "--help exited non-zero"
grep -q -- "--blocks" "$out/help" && grep -q -- "--bn" "$out/help" && grep -q -- "--init" "$out/help" \
    || fail "--help does not list the options"
if "$LAPRUN" experiments/circles.lua --hiden 3 2> "$out/err"; then fail "unknown option accepted"; fi
grep -q "unknown option --hiden" "$out/err" || fail "unknown option message: $(cat "$out/err")"
if "$LAPRUN" experiments/circles.lua --bn maybe 2> "$out/err"; then fail "bad --bn accepted"; fi

"$LAPRUN" experiments/circles.lua --out "$out/default" > "$out/log" || fail "default run failed: $(tail -5 "$out/log")"
grep -q "wrote $out/default/results.csv" "$out/log" || fail "table does not say where the files are"
[ "$(wc -l < "$out/default/results.csv")" -eq 7 ] || fail "results.csv should have a header and 6 runs"
# The figures exist, decode, and have the expected layout sizes.
for figure in transport trajectories trajectories_lap curves profile; do
    grep -q "$out/default/$figure.png" "$out/log" || fail "the summary does not list $figure.png"
    "$LAPRUN" -e "local image = lap.plot.read('$out/default/$figure.png')
        assert(image:size(1) > 300 and image:size(2) > 300 and image:size(3) == 3)" \
        || fail "$figure.png does not decode"
done
"$LAPRUN" -e "local image = lap.plot.read('$out/default/transport.png')
    assert(image:size(2) > 3 * image:size(1) / 4, 'transport.png should be a 3 x 4 grid')" \
    || fail "transport.png is not Figure 1's 3 rows x 4 panels"
awk -F, '
    $1 == "ResNet" && $2 == "on" { resnet_acc = $4; resnet_cost = $6 }
    $1 == "LAP" && $2 == "on" { lap_cost = $6 }
    END {
        if (resnet_acc < 0.99) { print "ResNet with BN best accuracy " resnet_acc " < 0.99"; exit 1 }
        if (!(lap_cost < resnet_cost)) { print "LAP transport " lap_cost " not below ResNet " resnet_cost; exit 1 }
    }' "$out/default/results.csv" || fail "default run does not reproduce the expected result"

"$LAPRUN" experiments/circles.lua --blocks 2 --epochs 2 --bn off --points 200 --quiet --no-plots \
    --out "$out/small" > "$out/log" || fail "small run failed"
[ ! -e "$out/small/transport.png" ] || fail "--no-plots still drew figures"
[ "$(wc -l < "$out/small/results.csv")" -eq 4 ] || fail "--bn off should give 3 runs"
[ "$(wc -l < "$out/small/history.csv")" -eq 7 ] || fail "history.csv should have 2 epochs x 3 runs"
grep -q "2 blocks" "$out/log" || fail "summary line should give the block count"
echo "test_circles: ok"
