#!/usr/bin/python3
"""side_by_side.py: lap's Table 1 records beside the PyTorch replica's, per cell
(mean, 95 % Student-t interval, n) and instance by instance (same size, seed and
method: the same training rows and test half).

    /usr/bin/python3 bench/reference/side_by_side.py LAP.jsonl REPLICA.jsonl [more pairs...]
    /usr/bin/python3 bench/reference/side_by_side.py --label "trained encoder" lap.jsonl replica.jsonl \\
        --label "pretrained encoder" lap0.jsonl replica0.jsonl

Records may carry method and train_size at top level (the replica's) or under
config (lap's).  A file that does not exist counts as empty.  A file argument may
join several files with "+", each optionally "FILE@METHOD" (that method only):

    side_by_side.py "table.jsonl@ResNet+other_rule.jsonl" "replica.jsonl@ResNet+replica_rule.jsonl"

Accuracies are in %; "chance" counts the instances whose best accuracy stayed below 15 %.  Per cell it
also prints lap's mean minus the replica's with a 95 % Welch interval ("agree"
when it holds 0), and per size LAP - ResNet paired by seed with a 95 % interval;
then the compact table the README shows: lap's cells, the replica's and the
paper's (Table 1, 50 instances each) side by side."""
import json
import math
import os
import sys

# Student t quantiles t(0.975, df) for small df, then the normal's.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 24: 2.064, 29: 2.045, 49: 2.010}


def t975(df):
    if df in T975:
        return T975[df]
    below = [d for d in T975 if d < df]
    return T975[max(below)] if df < 49 else 1.96


def read(spec):
    """spec: a JSONL file, or several joined by "+", each optionally "FILE@METHOD"
    (only that method's records): "table.jsonl@ResNet+lambda0.01.jsonl" sets one
    sweep's ResNet cells beside another sweep's LAP cells."""
    records = {}
    for part in spec.split("+"):
        path, _, only = part.partition("@")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                c = r.get("config", {})
                key = (r.get("train_size", c.get("train_size")), r.get("method", c.get("method")), r["seed"])
                if only and key[1] != only:
                    continue
                records.setdefault(key, 100 * r["best_accuracy"])
    return records


def mean_sd(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return n, mean, sd


def mean_half(values):
    """n, the mean and the half-width of its 95 % Student-t interval (None for n = 1)."""
    n, mean, sd = mean_sd(values)
    return n, mean, (t975(n - 1) * sd / math.sqrt(n) if n > 1 else None)


def cell(values):
    if not values:
        return "-"
    n, mean, half = mean_half(values)
    chance = sum(1 for v in values if v < 15)
    if half is None:
        return "%.1f (n=1, chance %d)" % (mean, chance)
    return "%.1f, [%.1f, %.1f] (n=%d, chance %d)" % (mean, mean - half, mean + half, n, chance)


def interval(values):
    """mean and its 95 % Student-t interval, as text (paired differences)."""
    n, mean, half = mean_half(values)
    if half is None:
        return "%+.1f (n=%d)" % (mean, n)
    return "%+.1f [%+.1f, %+.1f] (n=%d)" % (mean, mean - half, mean + half, n)


def welch(a, b):
    """The difference of the means of a and b with its 95 % Welch interval, and
    whether that interval holds 0 (the two agree within their combined error)."""
    na, ma, sa = mean_sd(a)
    nb, mb, sb = mean_sd(b)
    if na < 2 or nb < 2:
        return "lap - replica %+.1f (too few instances for an interval)" % (ma - mb)
    va, vb = sa * sa / na, sb * sb / nb
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1)) if va + vb > 0 else na + nb - 2
    half = t975(max(1, int(df))) * se
    d = ma - mb
    return "lap - replica %+.1f [%+.1f, %+.1f]: %s" % (d, d - half, d + half,
                                                       "agree" if d - half <= 0 <= d + half else "DIFFER")


# The paper's Table 1 (MNIST, ResNet9, 50 instances): the means, ResNet and LAP-ResNet.
PAPER = {500: (90.8, 90.9), 400: (88.4, 88.4), 300: (83.5, 86.2), 200: (74.9, 82.0), 100: (56.4, 70.0)}


def short(values, sign=""):
    """mean [95 % interval] (n), narrow, for the compact table; sign="+" for differences."""
    if not values:
        return "-"
    n, mean, half = mean_half(values)
    number = "%" + sign + ".1f"
    if half is None:
        return (number + " (1)") % mean
    return (number + " [" + number + ", " + number + "] (%d)") % (mean, mean - half, mean + half, n)


def table(lap, replica):
    sizes = sorted({k[0] for k in list(lap) + list(replica)} | set(PAPER))
    print("  best test accuracy %, mean [95 % interval] (n); LAP - ResNet paired by seed")
    print("  %-6s %-23s %-23s %-23s %-23s %-23s %-23s %-6s %s" % (
        "images", "lap ResNet", "lap LAP", "lap LAP-ResNet", "replica ResNet", "replica LAP",
        "replica LAP-ResNet", "paper", "ResNet / LAP"))
    for size in sizes:
        row = []
        for records in (lap, replica):
            for method in ("ResNet", "LAP"):
                row.append(short([v for (s, m, _), v in sorted(records.items()) if s == size and m == method]))
            row.append(short(paired(records, size), "+"))
        paper = PAPER.get(size)
        row += ["%.1f" % paper[0], "/ %.1f" % paper[1]] if paper else ["-", ""]
        print("  %-6d %-23s %-23s %-23s %-23s %-23s %-23s %-6s %s" % tuple([size] + row))


def paired(records, size):
    """LAP - ResNet, seed by seed, at one size."""
    seeds = sorted({k[2] for k in records if k[0] == size})
    return [records[(size, "LAP", s)] - records[(size, "ResNet", s)] for s in seeds
            if (size, "LAP", s) in records and (size, "ResNet", s) in records]


def show(label, lap, replica):
    print("== %s" % label)
    sizes = sorted({k[0] for k in list(lap) + list(replica)})
    for size in sizes:
        for method in ("ResNet", "LAP"):
            a = [v for (s, m, _), v in sorted(lap.items()) if s == size and m == method]
            b = [v for (s, m, _), v in sorted(replica.items()) if s == size and m == method]
            print("%4d images %-6s  lap %-34s replica %s" % (size, method, cell(a), cell(b)))
            if a and b:
                print("%4d images %-6s  %s" % (size, method, welch(a, b)))
        d_lap, d_replica = paired(lap, size), paired(replica, size)
        if d_lap or d_replica:
            print("%4d images LAP - ResNet, paired by seed: lap %s, replica %s" % (
                size, interval(d_lap) if d_lap else "-", interval(d_replica) if d_replica else "-"))
    pairs = sorted(k for k in lap if k in replica)
    if pairs:
        print("  instance by instance (size, method, seed: lap / replica):")
        for k in pairs:
            print("    %4d %-6s seed %-3d %5.1f / %5.1f" % (k[0], k[1], k[2], lap[k], replica[k]))
    table(lap, replica)


def main(argv):
    label, files = "", []
    i = 0
    while i < len(argv):
        if argv[i] == "--label":
            label = argv[i + 1]
            i += 2
            continue
        files.append((label, argv[i]))
        i += 1
    if len(files) % 2:
        raise SystemExit("side_by_side.py: give the files in pairs, lap's then the replica's")
    for j in range(0, len(files), 2):
        show(files[j][0] or files[j][1], read(files[j][1]), read(files[j + 1][1]))


if __name__ == "__main__":
    main(sys.argv[1:])
