#!/usr/bin/python3
"""make_analysis_fixtures.py: writes tests/fixtures/analysis.txt, the reference
values that tests/test_analysis.c and tests/test_analysis.lua compare
runtime/analysis/analysis.c (PCA, W1, line shape, least squares) against.

Run from the repository root with Debian's interpreter, which has numpy and scipy:
    /usr/bin/python3 tests/make_analysis_fixtures.py
The output is committed; rerun only when the cases below change.

The references are computed independently of the C code: PCA with numpy's eigh
of np.cov, W1 with scipy.optimize.linear_sum_assignment on scipy's cdist, least
squares with scipy.stats.linregress (slope, intercept) and pearsonr (r), the line
shape with plain numpy norms.  Every input is rounded to float32 *before* the
reference is computed, and written as the shortest decimal that round-trips the
double holding it (Python's repr), so the C and Lua sides read exactly the
numbers the reference saw, whether they parse them as float or as double.  Outputs are %.17g doubles.

File format (one token group per line, parsable with sscanf):
    # comment
    pca NAME N D           then N lines of D input values (the cloud), then
                           "variance V1 V2", then N lines "P1 P2" (the cloud
                           projected on the first two principal axes)
    w1 NAME N D            then N lines of D values (a), N lines of D values (b),
                           then "distance W"
    lineshape NAME K N D   then K+1 blocks of N lines of D values (x_0 .. x_K),
                           then "score S used U"
    lstsq NAME N           then N lines "X Y" (nan marks a missing value), then
                           "fit SLOPE INTERCEPT R USED"
    end
"""
import os
import sys

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import linregress, pearsonr

OUT = os.path.join("tests", "fixtures", "analysis.txt")


def f32(a):
    """Rounds to float32 and back: the values the C side will see."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def exact(v):
    """A float32 value as the shortest decimal that parses back to the same double,
    hence to the same float32: exact whether read as float or as double."""
    return repr(float(v))


def rows(out, x):
    for row in np.atleast_2d(x):
        out.append(" ".join(exact(v) for v in row))


def anisotropic_cloud(rs, n, d):
    """Gaussian cloud with distinct variances along a random rotation, so the
    principal axes are well separated (their eigenvectors well conditioned)."""
    scales = np.linspace(3.0, 0.5, d)
    rotation, _ = np.linalg.qr(rs.standard_normal((d, d)))
    offset = rs.uniform(-2, 2, size=d)
    return f32(rs.standard_normal((n, d)) * scales @ rotation.T + offset)


def pca_reference(x):
    cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    axes = np.zeros((2, x.shape[1]))
    variance = np.zeros(2)
    for k in range(min(2, x.shape[1])):
        v = vectors[:, order[k]]
        # Sign convention of runtime/analysis/analysis.h: largest-magnitude component positive.
        if v[np.argmax(np.abs(v))] < 0:
            v = -v
        axes[k] = v
        variance[k] = values[order[k]]
    return variance, (x - x.mean(axis=0)) @ axes.T


def pca_case(out, name, x):
    variance, projection = pca_reference(x)
    out.append("pca %s %d %d" % (name, x.shape[0], x.shape[1]))
    rows(out, x)
    out.append("variance %.17g %.17g" % tuple(variance))
    for p in projection:
        out.append("%.17g %.17g" % tuple(p))


def w1_case(out, name, a, b):
    cost = cdist(a, b)
    row, col = linear_sum_assignment(cost)
    distance = cost[row, col].sum() / a.shape[0]
    out.append("w1 %s %d %d" % (name, a.shape[0], a.shape[1]))
    rows(out, a)
    rows(out, b)
    out.append("distance %.17g" % distance)


def lineshape_case(out, name, states):
    states = [f32(s) for s in states]
    path = sum(np.sqrt(((states[k + 1] - states[k]) ** 2).sum(axis=1))
               for k in range(len(states) - 1))
    end_to_end = np.sqrt(((states[-1] - states[0]) ** 2).sum(axis=1))
    used = end_to_end >= 1e-12
    score = np.mean(path[used] / end_to_end[used])
    n, d = states[0].shape
    out.append("lineshape %s %d %d %d" % (name, len(states) - 1, n, d))
    for s in states:
        rows(out, s)
    out.append("score %.17g used %d" % (score, used.sum()))


def lstsq_case(out, name, x, y):
    x, y = f32(x), f32(y)
    keep = ~(np.isnan(x) | np.isnan(y))
    fit = linregress(x[keep], y[keep])
    r, _ = pearsonr(x[keep], y[keep])
    assert abs(r - fit.rvalue) < 1e-12
    out.append("lstsq %s %d" % (name, len(x)))
    for xi, yi in zip(x, y):
        out.append("%s %s" % (exact(xi), exact(yi)))
    out.append("fit %.17g %.17g %.17g %d" % (fit.slope, fit.intercept, r, keep.sum()))


def main():
    if not os.path.isdir(os.path.dirname(OUT)):
        sys.exit("run from the repository root")
    out = ["# generated by tests/make_analysis_fixtures.py with numpy %s, scipy %s"
           % (np.__version__, scipy.__version__)]

    rs = np.random.RandomState(20200914)
    pca_case(out, "cloud2", anisotropic_cloud(rs, 40, 2))
    pca_case(out, "cloud3", anisotropic_cloud(rs, 60, 3))
    pca_case(out, "cloud10", anisotropic_cloud(rs, 200, 10))

    rs = np.random.RandomState(7)
    for n, d in ((5, 2), (50, 2), (50, 4), (300, 2), (300, 4)):
        a = f32(rs.standard_normal((n, d)))
        b = f32(rs.standard_normal((n, d)) * 1.5 + 0.3)
        w1_case(out, "n%d_d%d" % (n, d), a, b)

    rs = np.random.RandomState(11)
    # A random walk, 2-D: winding paths.
    x0 = rs.standard_normal((20, 2))
    walk = [x0]
    for _ in range(6):
        walk.append(walk[-1] + 0.3 * rs.standard_normal((20, 2)))
    lineshape_case(out, "walk_d2", walk)
    # Near-straight paths in 3-D with two closed loops (x_K == x_0: skipped).
    x0 = rs.standard_normal((15, 3))
    direction = rs.standard_normal((15, 3))
    steps = [x0 + t * direction + 0.05 * rs.standard_normal((15, 3)) for t in np.linspace(0, 1, 5)]
    steps[0] = x0
    steps[-1] = steps[-1].copy()
    steps[-1][3] = x0[3]
    steps[-1][9] = x0[9]
    lineshape_case(out, "straightish_d3", steps)
    # A single step (K = 1): every ratio is exactly 1.
    lineshape_case(out, "one_step", [rs.standard_normal((8, 4)), rs.standard_normal((8, 4))])

    rs = np.random.RandomState(3)
    x = rs.uniform(-3, 3, 30)
    lstsq_case(out, "linear", x, 2.5 * x - 1.0 + 0.4 * rs.standard_normal(30))
    x = rs.standard_normal(100)
    lstsq_case(out, "noisy", x, -0.7 * x + 4.0 + 2.0 * rs.standard_normal(100))
    x = rs.uniform(0, 10, 12)
    y = 0.3 * x + 1.5 + 0.2 * rs.standard_normal(12)
    x[4] = np.nan
    y[7] = np.nan
    lstsq_case(out, "with_nan", x, y)

    out.append("end")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %s (%d lines)" % (OUT, len(out)))


if __name__ == "__main__":
    main()
