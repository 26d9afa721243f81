/* test_analysis.c: runtime/analysis/analysis.c against numpy / scipy reference values and
 * against brute force.
 *
 * Reads tests/fixtures/analysis.txt (written by tests/make_analysis_fixtures.py;
 * format documented there), relative to the repository root, which is where the
 * suite runs.  Tolerances are 1e-9 relative: PCA projections relative to the
 * largest magnitude of their column (a coordinate near zero has no meaningful
 * relative error), W1, line shape, slope, intercept and r relative to the value.
 * Also checks: the assignment is a permutation and matches brute force over all
 * permutations for n <= 7; W1(a, a) == 0; W1 symmetric; error cases; and that an
 * n = 1000 assignment completes (its time is printed, not checked).
 * Exits nonzero and names every failure.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/analysis.h"
#include "core/error.h"

#include "check.h"

#define FIXTURE "tests/fixtures/analysis.txt"
#define TOLERANCE 1e-9



/* Largest relative error seen in a fixture comparison, printed at the end. */
static double worst_relative = 0;

static int close_relative(double got, double expected, double scale)
{
    double relative = fabs(got - expected) / scale;
    if (relative > worst_relative || isnan(relative))
        worst_relative = relative;
    return fabs(got - expected) <= TOLERANCE * scale;
}

static int close_to(double got, double expected)
{
    return close_relative(got, expected, fabs(expected) > 1e-300 ? fabs(expected) : 1e-300);
}

/* ---- fixture reading ---- */

static FILE *fixture;
static int line_number = 0;
static char line[4096];

/* Next non-comment line of the fixture, or NULL at end of file. */
static const char *next_line(void)
{
    while (fgets(line, sizeof line, fixture)) {
        line_number++;
        if (line[0] != '#')
            return line;
    }
    return NULL;
}

static void fixture_error(const char *what)
{
    fprintf(stderr, "FAIL fixture line %d: expected %s\n", line_number, what);
    exit(1);   /* a malformed fixture makes every later comparison meaningless */
}

/* Reads `count` values (float32-exact in the fixture) from the next line. */
static void read_floats(float *out, int64_t count)
{
    if (!next_line())
        fixture_error("a line of numbers");
    const char *cursor = line;
    for (int64_t k = 0; k < count; k++) {
        double value;
        int used;
        if (sscanf(cursor, "%lf%n", &value, &used) != 1)
            fixture_error("more numbers on the line");
        out[k] = (float)value;
        cursor += used;
    }
}

static void read_doubles(double *out, int64_t count)
{
    if (!next_line())
        fixture_error("a line of numbers");
    const char *cursor = line;
    for (int64_t k = 0; k < count; k++) {
        int used;
        if (sscanf(cursor, "%lf%n", &out[k], &used) != 1)
            fixture_error("more numbers on the line");
        cursor += used;
    }
}

static float *read_cloud(int64_t N, int64_t D)
{
    float *x = malloc((size_t)(N * D) * sizeof(float));
    for (int64_t i = 0; i < N; i++)
        read_floats(x + i * D, D);
    return x;
}

/* ---- fixture cases ---- */

static void check_pca_case(const char *name, int64_t N, int64_t D)
{
    float *x = read_cloud(N, D);
    double variance[2];
    if (!next_line() || sscanf(line, "variance %lf %lf", &variance[0], &variance[1]) != 2)
        fixture_error("variance V1 V2");
    double *expected = malloc((size_t)N * 2 * sizeof(double));
    for (int64_t i = 0; i < N; i++)
        read_doubles(expected + 2 * i, 2);

    lap_pca pca;
    int status = lap_pca_fit(&pca, x, N, D);
    CHECK(status == LAP_OK, "pca %s: fit failed: %s", name, lap_last_error());
    if (status == LAP_OK) {
        for (int k = 0; k < 2; k++)
            CHECK(close_to(pca.variance[k], variance[k]), "pca %s: variance[%d] %.17g, expected %.17g",
                  name, k, pca.variance[k], variance[k]);
        double *got = malloc((size_t)N * 2 * sizeof(double));
        lap_pca_project(&pca, got, x, N);
        for (int axis = 0; axis < 2; axis++) {
            double scale = 0;
            for (int64_t i = 0; i < N; i++)
                scale = fmax(scale, fabs(expected[2 * i + axis]));
            int bad = 0;
            for (int64_t i = 0; i < N; i++)
                if (!close_relative(got[2 * i + axis], expected[2 * i + axis], scale)) {
                    if (!bad++)
                        CHECK(0, "pca %s: point %" PRId64 " axis %d: %.17g, expected %.17g", name, i,
                              axis, got[2 * i + axis], expected[2 * i + axis]);
                }
            CHECK(bad == 0, "pca %s: %d coordinates off on axis %d", name, bad, axis);
        }
        /* Axes unit norm and orthogonal. */
        double n0 = 0, n1 = 0, dot = 0;
        for (int64_t j = 0; j < D; j++) {
            n0 += pca.axes[j] * pca.axes[j];
            n1 += pca.axes[D + j] * pca.axes[D + j];
            dot += pca.axes[j] * pca.axes[D + j];
        }
        CHECK(fabs(n0 - 1) < 1e-12 && fabs(n1 - 1) < 1e-12 && fabs(dot) < 1e-12,
              "pca %s: axes not orthonormal (%g %g %g)", name, n0, n1, dot);
        free(got);
        lap_pca_free(&pca);
    }
    free(x);
    free(expected);
}

static void check_w1_case(const char *name, int64_t N, int64_t D)
{
    float *a = read_cloud(N, D), *b = read_cloud(N, D);
    double expected;
    if (!next_line() || sscanf(line, "distance %lf", &expected) != 1)
        fixture_error("distance W");
    double got = -1, reverse = -1, self = -1;
    CHECK(lap_wasserstein1(&got, a, b, N, D) == LAP_OK, "w1 %s: %s", name, lap_last_error());
    CHECK(close_to(got, expected), "w1 %s: %.17g, expected %.17g", name, got, expected);
    CHECK(lap_wasserstein1(&reverse, b, a, N, D) == LAP_OK, "w1 %s reversed: %s", name, lap_last_error());
    CHECK(close_to(reverse, got), "w1 %s: not symmetric: %.17g vs %.17g", name, reverse, got);
    CHECK(lap_wasserstein1(&self, a, a, N, D) == LAP_OK && self == 0, "w1 %s: W1(a, a) = %g", name, self);
    free(a);
    free(b);
}

static void check_lineshape_case(const char *name, int K, int64_t N, int64_t D)
{
    float **states = malloc((size_t)(K + 1) * sizeof(float *));
    for (int k = 0; k <= K; k++)
        states[k] = read_cloud(N, D);
    double expected;
    long long expected_used;
    if (!next_line() || sscanf(line, "score %lf used %lld", &expected, &expected_used) != 2)
        fixture_error("score S used U");
    double score;
    int64_t used;
    CHECK(lap_line_shape(&score, &used, (const float *const *)states, K, N, D) == LAP_OK,
          "lineshape %s: %s", name, lap_last_error());
    CHECK(close_to(score, expected), "lineshape %s: %.17g, expected %.17g", name, score, expected);
    CHECK(used == expected_used, "lineshape %s: used %" PRId64 ", expected %lld", name, used, expected_used);
    for (int k = 0; k <= K; k++)
        free(states[k]);
    free(states);
}

static void check_lstsq_case(const char *name, int64_t n)
{
    double *x = malloc((size_t)n * sizeof(double)), *y = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double pair[2];
        read_doubles(pair, 2);   /* glibc's sscanf reads "nan" */
        x[i] = pair[0];
        y[i] = pair[1];
    }
    double slope, intercept, r;
    long long used;
    if (!next_line() || sscanf(line, "fit %lf %lf %lf %lld", &slope, &intercept, &r, &used) != 4)
        fixture_error("fit SLOPE INTERCEPT R USED");
    lap_fit fit;
    CHECK(lap_least_squares(&fit, x, y, n) == LAP_OK, "lstsq %s: %s", name, lap_last_error());
    CHECK(close_to(fit.slope, slope), "lstsq %s: slope %.17g, expected %.17g", name, fit.slope, slope);
    CHECK(close_to(fit.intercept, intercept), "lstsq %s: intercept %.17g, expected %.17g", name,
          fit.intercept, intercept);
    CHECK(close_to(fit.r, r), "lstsq %s: r %.17g, expected %.17g", name, fit.r, r);
    CHECK(fit.n == used, "lstsq %s: n %" PRId64 ", expected %lld", name, fit.n, used);
    free(x);
    free(y);
}

static void check_fixture(void)
{
    fixture = fopen(FIXTURE, "r");
    if (!fixture) {
        fprintf(stderr, "FAIL cannot open %s (run from the repository root)\n", FIXTURE);
        exit(1);
    }
    int cases = 0, ended = 0;
    while (next_line()) {
        char name[64];
        long long N, D, K;
        if (strncmp(line, "end", 3) == 0) {
            ended = 1;
            break;
        }
        if (sscanf(line, "pca %63s %lld %lld", name, &N, &D) == 3)
            check_pca_case(name, N, D);
        else if (sscanf(line, "w1 %63s %lld %lld", name, &N, &D) == 3)
            check_w1_case(name, N, D);
        else if (sscanf(line, "lineshape %63s %lld %lld %lld", name, &K, &N, &D) == 4)
            check_lineshape_case(name, (int)K, N, D);
        else if (sscanf(line, "lstsq %63s %lld", name, &N) == 2)
            check_lstsq_case(name, N);
        else
            fixture_error("a case header");
        cases++;
    }
    CHECK(ended, "fixture has no 'end' line");
    CHECK(cases == 14, "fixture: %d cases, expected 14", cases);
    fclose(fixture);
    printf("fixture: %d cases, worst relative error %.3g\n", cases, worst_relative);
}

/* ---- assignment against brute force ---- */

/* xorshift64*: deterministic test matrices, independent of the runtime's RNG. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Minimum over all permutations of the columns (Heap's algorithm would do; plain
 * recursion is clearer and n <= 7 is 5040 leaves). */
static void brute_force(const double *cost, int n, int row, int *used, double partial, double *best)
{
    if (row == n) {
        if (partial < *best)
            *best = partial;
        return;
    }
    for (int col = 0; col < n; col++)
        if (!used[col]) {
            used[col] = 1;
            brute_force(cost, n, row + 1, used, partial + cost[row * n + col], best);
            used[col] = 0;
        }
}

static int is_permutation(const int64_t *assignment, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        if (assignment[i] < 0 || assignment[i] >= n || seen[assignment[i]])
            ok = 0;
        else
            seen[assignment[i]] = 1;
    }
    free(seen);
    return ok;
}

static void check_assignment_brute_force(void)
{
    double cost[49];
    int64_t assignment[7];
    for (int n = 1; n <= 7; n++)
        for (int trial = 0; trial < 30; trial++) {
            for (int k = 0; k < n * n; k++) {
                cost[k] = uniform() * 10 - 3;
                /* Some matrices with many ties (integer costs) and negative entries. */
                if (trial % 3 == 1)
                    cost[k] = floor(cost[k]);
            }
            double total = -1, best = INFINITY;
            int used[7] = {0};
            CHECK(lap_assignment(assignment, &total, cost, n) == LAP_OK, "assignment n=%d: %s", n,
                  lap_last_error());
            CHECK(is_permutation(assignment, n), "assignment n=%d trial %d: not a permutation", n, trial);
            double recomputed = 0;
            for (int i = 0; i < n; i++)
                recomputed += cost[i * n + assignment[i]];
            brute_force(cost, n, 0, used, 0, &best);
            CHECK(fabs(total - best) < 1e-12 && fabs(recomputed - total) < 1e-12,
                  "assignment n=%d trial %d: total %.17g (recomputed %.17g), brute force %.17g", n,
                  trial, total, recomputed, best);
        }
    double total = -1;
    CHECK(lap_assignment(NULL, &total, NULL, 0) == LAP_OK && total == 0, "assignment n=0");
}

static void check_large_assignment(void)
{
    const int64_t n = 1000;
    double *cost = malloc((size_t)(n * n) * sizeof(double));
    int64_t *assignment = malloc((size_t)n * sizeof(int64_t));
    for (int64_t k = 0; k < n * n; k++)
        cost[k] = uniform();
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double total = 0;
    int status = lap_assignment(assignment, &total, cost, n);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    CHECK(status == LAP_OK, "assignment n=1000: %s", lap_last_error());
    CHECK(is_permutation(assignment, n), "assignment n=1000: not a permutation");
    /* For uniform costs the optimum tends to zeta(2) ~ 1.645 (Aldous); the identity
     * assignment would be about n/2 = 500. */
    CHECK(total > 1.0 && total < 2.5, "assignment n=1000: total %g, expected about 1.64", total);
    printf("assignment n=1000 uniform costs: total %.6f in %.3f s\n", total, seconds);
    free(cost);
    free(assignment);

    /* Euclidean costs between clouds have more near-ties than uniform ones: time W1 too. */
    float *a = malloc((size_t)n * 2 * sizeof(float)), *b = malloc((size_t)n * 2 * sizeof(float));
    for (int64_t k = 0; k < 2 * n; k++) {
        a[k] = (float)uniform();
        b[k] = (float)(uniform() + 0.5);
    }
    double distance = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    status = lap_wasserstein1(&distance, a, b, n, 2);
    clock_gettime(CLOCK_MONOTONIC, &end);
    seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    CHECK(status == LAP_OK && distance > 0.5, "w1 n=1000: %s, distance %g", lap_last_error(), distance);
    printf("wasserstein1 n=1000 D=2 (squares offset by 0.5): %.6f in %.3f s\n", distance, seconds);
    free(a);
    free(b);
}

/* ---- errors and edge cases ---- */

static void check_errors(void)
{
    float point[4] = {1, 2, 3, 4};
    double distance = -1;
    lap_pca pca;

    CHECK(lap_pca_fit(&pca, point, 1, 2) == LAP_ERR, "pca with N=1 accepted");
    CHECK(strcmp(lap_last_error(), "pca: needs at least 2 points, got 1") == 0, "pca N=1 message: %s",
          lap_last_error());
    CHECK(lap_pca_fit(&pca, point, 2, 0) == LAP_ERR, "pca with D=0 accepted");
    float with_nan[4] = {1, NAN, 3, 4};
    CHECK(lap_pca_fit(&pca, with_nan, 2, 2) == LAP_ERR && strstr(lap_last_error(), "NaN"),
          "pca with NaN input: %s", lap_last_error());

    /* D = 1: the second axis is zero, the first is +1. */
    float line1[4] = {1, 2, 4, 7};
    CHECK(lap_pca_fit(&pca, line1, 4, 1) == LAP_OK, "pca D=1: %s", lap_last_error());
    CHECK(pca.axes[0] == 1 && pca.axes[1] == 0 && pca.variance[1] == 0 &&
          close_to(pca.variance[0], 7.0), "pca D=1: axes %g %g variance %g %g", pca.axes[0],
          pca.axes[1], pca.variance[0], pca.variance[1]);
    double projected[8];
    lap_pca_project(&pca, projected, line1, 4);
    CHECK(projected[0] == -2.5 && projected[1] == 0 && projected[6] == 3.5, "pca D=1 projection");
    lap_pca_free(&pca);

    CHECK(lap_wasserstein1(&distance, point, point, 0, 2) == LAP_ERR, "w1 with N=0 accepted");
    CHECK(strstr(lap_last_error(), "wasserstein1: needs at least 1 point") != NULL, "w1 N=0 message: %s",
          lap_last_error());
    /* Refused before any allocation or reading, so the tiny buffers are never read. */
    CHECK(lap_wasserstein1(&distance, point, point, 5001, 2) == LAP_ERR, "w1 with N=5001 accepted");
    CHECK(strstr(lap_last_error(), "5001 points is too many") != NULL, "w1 N>5000 message: %s",
          lap_last_error());

    /* W1 of a single point pair = their distance; translation by t gives |t|. */
    float a1[2] = {0, 0}, b1[2] = {3, 4};
    CHECK(lap_wasserstein1(&distance, a1, b1, 1, 2) == LAP_OK && distance == 5, "w1 one point: %g", distance);

    double bad_cost[4] = {1, NAN, 0, 2};
    int64_t assignment[2];
    double total;
    CHECK(lap_assignment(assignment, &total, bad_cost, 2) == LAP_ERR &&
          strstr(lap_last_error(), "cost[0][1] is not finite"), "assignment NaN: %s", lap_last_error());

    /* Least squares: constant x -> r (and slope) NaN; constant y -> slope 0, r NaN. */
    double x_const[4] = {2, 2, 2, 2}, y_var[4] = {1, 2, 3, 5};
    lap_fit fit;
    CHECK(lap_least_squares(&fit, x_const, y_var, 4) == LAP_OK, "lstsq constant x: %s", lap_last_error());
    CHECK(isnan(fit.r) && isnan(fit.slope) && fit.n == 4, "lstsq constant x: r %g slope %g", fit.r, fit.slope);
    CHECK(lap_least_squares(&fit, y_var, x_const, 4) == LAP_OK, "lstsq constant y: %s", lap_last_error());
    CHECK(isnan(fit.r) && fit.slope == 0 && fit.intercept == 2, "lstsq constant y: r %g slope %g intercept %g",
          fit.r, fit.slope, fit.intercept);
    double x_nan[3] = {1, NAN, 3}, y_nan[3] = {NAN, 2, 3};
    CHECK(lap_least_squares(&fit, x_nan, y_nan, 3) == LAP_ERR &&
          strstr(lap_last_error(), "least_squares: needs at least 2"), "lstsq one pair: %s", lap_last_error());
    CHECK(lap_least_squares(&fit, x_nan, y_nan, 0) == LAP_ERR, "lstsq n=0 accepted");
    double x_exact[3] = {0, 1, 2}, y_exact[3] = {1, 3, 5};
    CHECK(lap_least_squares(&fit, x_exact, y_exact, 3) == LAP_OK && fit.slope == 2 && fit.intercept == 1 &&
          fit.r == 1, "lstsq exact line: %g %g %g", fit.slope, fit.intercept, fit.r);

    /* Line shape: one state is too few; an all-closed flow gives NaN with 0 used. */
    const float *one_state[1] = {point};
    double score;
    int64_t used;
    CHECK(lap_line_shape(&score, &used, one_state, 0, 2, 2) == LAP_ERR &&
          strstr(lap_last_error(), "line_shape: needs at least 2 states"), "line shape K=0: %s", lap_last_error());
    float middle[4] = {5, 5, 5, 5};
    const float *closed[3] = {point, middle, point};
    CHECK(lap_line_shape(&score, &used, closed, 2, 2, 2) == LAP_OK && isnan(score) && used == 0,
          "line shape closed paths: score %g used %" PRId64, score, used);
}

int main(void)
{
    check_fixture();
    check_assignment_brute_force();
    check_errors();
    check_large_assignment();
    return check_summary("test_analysis");
}
