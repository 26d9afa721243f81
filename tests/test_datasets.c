/* test_datasets.c: the RNG, synthetic datasets, splits and lap_dataset against
 * numpy / scikit-learn reference values.
 *
 * Reads tests/fixtures/sklearn_datasets.txt (written by
 * tests/make_sklearn_fixtures.py; format documented there), relative to the
 * repository root, which is where the suite runs.  Integers, labels, orders and
 * uniform draws must match exactly; Gaussian draws to 1e-15 relative (they go
 * through libm's log); dataset coordinates to 1e-12 absolute (libm's sin/cos
 * versus numpy's).  Also checks reproducibility, argument errors, and the
 * lap_dataset container.  Exits nonzero and names every failure.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/datasets.h"
#include "train/dataset.h"
#include "core/error.h"
#include "core/rng.h"

#include "check.h"

#define FIXTURE "tests/fixtures/sklearn_datasets.txt"



static FILE *fixture;
static int line_number = 0;
static char line[512];

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

static int read_i64(int64_t *value)
{
    long long v;
    if (!next_line() || sscanf(line, "%lld", &v) != 1) {
        fprintf(stderr, "FAIL fixture line %d: expected an integer\n", line_number);
        failures++;
        return 0;
    }
    *value = v;
    return 1;
}

static int read_double(double *value)
{
    if (!next_line() || sscanf(line, "%lf", value) != 1) {
        fprintf(stderr, "FAIL fixture line %d: expected a number\n", line_number);
        failures++;
        return 0;
    }
    return 1;
}

static void check_uint32(uint32_t seed, int count)
{
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    for (int i = 0; i < count; i++) {
        int64_t expected;
        if (!read_i64(&expected))
            return;
        uint32_t got = lap_rng_uint32(&rng);
        CHECK(got == (uint32_t)expected, "uint32 seed %u draw %d: got %u, numpy %lld", seed, i, got,
              (long long)expected);
    }
}

static void check_doubles(const char *kind, uint32_t seed, int count)
{
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    int gauss = strcmp(kind, "gauss") == 0;
    for (int i = 0; i < count; i++) {
        double expected;
        if (!read_double(&expected))
            return;
        double got = gauss ? lap_rng_gauss(&rng) : lap_rng_uniform(&rng);
        double tolerance = gauss ? 1e-15 * fabs(expected) : 0.0;
        CHECK(fabs(got - expected) <= tolerance, "%s seed %u draw %d: got %.17g, numpy %.17g", kind,
              seed, i, got, expected);
    }
}

static void check_permutation(uint32_t seed, int64_t n)
{
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    lap_rng_permutation(&rng, perm, n);
    for (int64_t i = 0; i < n; i++) {
        int64_t expected;
        if (!read_i64(&expected))
            break;
        CHECK(perm[i] == expected, "permutation seed %u n %lld [%lld]: got %lld, numpy %lld", seed,
              (long long)n, (long long)i, (long long)perm[i], (long long)expected);
    }
    free(perm);
}

/* Compares n "label x y" fixture lines against generated data. */
static void check_points(const char *what, const double *x, const int32_t *y, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int label;
        double ex, ey;
        if (!next_line() || sscanf(line, "%d %lf %lf", &label, &ex, &ey) != 3) {
            fprintf(stderr, "FAIL fixture line %d: expected 'label x y'\n", line_number);
            failures++;
            return;
        }
        CHECK(y[i] == label, "%s row %lld: label %d, sklearn %d", what, (long long)i, y[i], label);
        double err = fmax(fabs(x[2 * i] - ex), fabs(x[2 * i + 1] - ey));
        CHECK(err <= 1e-12, "%s row %lld: (%.17g, %.17g), sklearn (%.17g, %.17g)", what, (long long)i,
              x[2 * i], x[2 * i + 1], ex, ey);
        if (err > worst)
            worst = err;
    }
    printf("%-40s max |diff| %.3g\n", what, worst);
}

static void check_dataset_case(const char *header)
{
    long long n;
    double factor = 0.0, noise;
    unsigned seed;
    int circles = strncmp(header, "circles", 7) == 0;
    int parsed = circles ? sscanf(header, "circles %lld %lf %lf %u", &n, &factor, &noise, &seed)
                         : sscanf(header, "moons %lld %lf %u", &n, &noise, &seed);
    if (parsed != (circles ? 4 : 3) || n < 1) {
        fprintf(stderr, "FAIL fixture line %d: bad header %s", line_number, header);
        failures++;
        return;
    }
    char what[128];
    if (circles)
        snprintf(what, sizeof what, "circles n=%lld factor=%g noise=%g seed=%u", n, factor, noise, seed);
    else
        snprintf(what, sizeof what, "moons n=%lld noise=%g seed=%u", n, noise, seed);
    double *x = malloc((size_t)n * 2 * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    int rc = circles ? lap_make_circles(x, y, n, factor, noise, seed) : lap_make_moons(x, y, n, noise, seed);
    CHECK(rc == LAP_OK, "%s: returned %d (%s)", what, rc, lap_last_error());
    if (rc == LAP_OK)
        check_points(what, x, y, n);

    /* Same seed twice: identical bits. */
    double *x2 = malloc((size_t)n * 2 * sizeof *x2);
    int32_t *y2 = malloc((size_t)n * sizeof *y2);
    rc = circles ? lap_make_circles(x2, y2, n, factor, noise, seed) : lap_make_moons(x2, y2, n, noise, seed);
    CHECK(rc == LAP_OK && memcmp(x, x2, (size_t)n * 2 * sizeof *x) == 0 &&
              memcmp(y, y2, (size_t)n * sizeof *y) == 0,
          "%s: not reproducible with the same seed", what);
    free(x);
    free(y);
    free(x2);
    free(y2);
}

static void check_split_case(const char *header)
{
    long long n, expected_test, expected_train;
    double test_size;
    unsigned seed;
    if (sscanf(header, "split %lld %lf %u %lld %lld", &n, &test_size, &seed, &expected_test,
               &expected_train) != 5) {
        fprintf(stderr, "FAIL fixture line %d: bad header %s", line_number, header);
        failures++;
        return;
    }
    int64_t *train = malloc((size_t)n * sizeof *train);
    int64_t *test = malloc((size_t)n * sizeof *test);
    int64_t n_train = -1, n_test = -1;
    int rc = lap_train_test_split(train, &n_train, test, &n_test, n, test_size, seed);
    CHECK(rc == LAP_OK, "split n=%lld seed=%u: returned %d (%s)", n, seed, rc, lap_last_error());
    CHECK(n_test == expected_test && n_train == expected_train,
          "split n=%lld seed=%u: sizes test %lld train %lld, sklearn %lld %lld", n, seed,
          (long long)n_test, (long long)n_train, expected_test, expected_train);
    for (long long i = 0; i < expected_test + expected_train; i++) {
        int64_t expected;
        if (!read_i64(&expected))
            break;
        int is_test = i < expected_test;
        int64_t got = -1;
        if (rc == LAP_OK) {
            if (is_test && i < n_test)
                got = test[i];
            else if (!is_test && i - expected_test < n_train)
                got = train[i - expected_test];
        }
        CHECK(got == expected, "split n=%lld seed=%u %s[%lld]: got %lld, sklearn %lld", n, seed,
              is_test ? "test" : "train", is_test ? i : i - expected_test, (long long)got,
              (long long)expected);
    }
    printf("split n=%lld test=%g seed=%u: %lld/%lld checked\n", n, test_size, seed, expected_train,
           expected_test);
    free(train);
    free(test);
}

static void check_fixture(void)
{
    fixture = fopen(FIXTURE, "r");
    if (!fixture) {
        fprintf(stderr, "FAIL cannot open %s (run from the repository root)\n", FIXTURE);
        failures++;
        return;
    }
    int cases = 0, saw_end = 0;
    const char *header;
    while ((header = next_line())) {
        char kind[32];
        unsigned seed;
        long long count;
        if (sscanf(header, "%31s", kind) != 1)
            continue;
        char copy[512];
        snprintf(copy, sizeof copy, "%s", header);   /* line[] is reused by the readers */
        cases++;
        if (strcmp(kind, "end") == 0) {
            saw_end = 1;
            cases--;
            break;
        } else if (strcmp(kind, "uint32") == 0 && sscanf(copy, "uint32 %u %lld", &seed, &count) == 2) {
            check_uint32(seed, (int)count);
        } else if ((strcmp(kind, "uniform") == 0 || strcmp(kind, "gauss") == 0) &&
                   sscanf(copy, "%*s %u %lld", &seed, &count) == 2) {
            check_doubles(kind, seed, (int)count);
        } else if (strcmp(kind, "permutation") == 0 &&
                   sscanf(copy, "permutation %u %lld", &seed, &count) == 2) {
            check_permutation(seed, count);
        } else if (strcmp(kind, "circles") == 0 || strcmp(kind, "moons") == 0) {
            check_dataset_case(copy);
        } else if (strcmp(kind, "split") == 0) {
            check_split_case(copy);
        } else {
            fprintf(stderr, "FAIL fixture line %d: unknown case %s", line_number, copy);
            failures++;
            break;
        }
    }
    fclose(fixture);
    CHECK(saw_end, "fixture: no 'end' line (truncated file?)");
    CHECK(cases >= 20, "fixture: only %d cases read", cases);
}

static void check_rng_properties(void)
{
    lap_rng a, b;
    /* interval(0) draws nothing; interval(max) stays in range. */
    lap_rng_seed(&a, 11);
    lap_rng_seed(&b, 11);
    CHECK(lap_rng_interval(&a, 0) == 0, "interval(0) must be 0");
    CHECK(lap_rng_uint32(&a) == lap_rng_uint32(&b), "interval(0) must not consume a draw");
    for (int i = 0; i < 1000; i++) {
        uint64_t v = lap_rng_interval(&a, 6);
        CHECK(v <= 6, "interval(6) gave %" PRIu64, v);
        uint64_t big = lap_rng_interval(&a, 0x1ffffffffULL);   /* the 64-bit path */
        CHECK(big <= 0x1ffffffffULL, "interval(2^33-1) gave %" PRIu64, big);
    }
    /* Reseeding clears the cached Gaussian, as RandomState.seed does. */
    lap_rng_seed(&a, 0);
    double first = lap_rng_gauss(&a);
    lap_rng_seed(&a, 0);
    CHECK(lap_rng_gauss(&a) == first, "reseeding must drop the cached Gaussian");
    /* The global generator starts from seed 0. */
    lap_rng_seed(&b, 0);
    CHECK(lap_rng_uint32(lap_global_rng()) == lap_rng_uint32(&b), "global generator not seeded with 0");
    /* Different seeds give different data. */
    double x1[40], x2[40];
    int32_t y1[20], y2[20];
    lap_make_circles(x1, y1, 20, 0.5, 0.1, 1);
    lap_make_circles(x2, y2, 20, 0.5, 0.1, 2);
    CHECK(memcmp(x1, x2, sizeof x1) != 0, "seeds 1 and 2 gave the same circles");
}

static void expect_error(int rc, const char *needle, const char *what)
{
    CHECK(rc == LAP_ERR, "%s: expected LAP_ERR, got %d", what, rc);
    CHECK(strstr(lap_last_error(), needle) != NULL, "%s: message '%s' should mention '%s'", what,
          lap_last_error(), needle);
}

static void check_errors(void)
{
    double x[20];
    int32_t y[10];
    int64_t train[10], test[10], n_train, n_test;
    expect_error(lap_make_circles(x, y, 0, 0.5, 0.0, 0), "circles", "circles n=0");
    expect_error(lap_make_circles(x, y, 0, 0.5, 0.0, 0), "got 0", "circles n=0 value");
    expect_error(lap_make_circles(x, y, 10, 1.5, 0.0, 0), "factor must be in [0, 1), got 1.5",
                 "circles factor=1.5");
    expect_error(lap_make_circles(x, y, 10, 1.0, 0.0, 0), "factor", "circles factor=1");
    expect_error(lap_make_circles(x, y, 10, 0.5, -0.1, 0), "noise", "circles noise<0");
    expect_error(lap_make_circles(x, y, 10, 0.5, NAN, 0), "noise", "circles noise=nan");
    expect_error(lap_make_moons(x, y, 1, 0.0, 0), "moons: n must be >= 2", "moons n=1");
    expect_error(lap_make_moons(NULL, y, 10, 0.0, 0), "moons", "moons x=NULL");
    expect_error(lap_train_test_split(train, &n_train, test, &n_test, 10, 1.2, 0),
                 "split: test fraction must be in (0, 1), got 1.2", "split 1.2");
    expect_error(lap_train_test_split(train, &n_train, test, &n_test, 10, 0.0, 0), "split", "split 0");
    expect_error(lap_train_test_split(train, &n_train, test, &n_test, 1, 0.5, 0), "split", "split n=1");
}

static void check_dataset_container(void)
{
    /* 4 rows of shape (2, 3): row r holds 6 floats r*10 + k. */
    float data[24];
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 6; k++)
            data[r * 6 + k] = (float)(r * 10 + k);
    int64_t shape[3] = {4, 2, 3};
    int32_t labels[4] = {0, 2, 1, 2};
    lap_tensor *x = lap_tensor_from_data(3, shape, data);
    CHECK(x != NULL, "tensor_from_data failed: %s", lap_last_error());
    if (!x)
        return;
    lap_dataset *d = lap_dataset_new(x, labels);
    CHECK(d && d->n == 4 && d->nclasses == 3 && d->x == x && d->refcount == 1,
          "dataset_new: wrong n/nclasses/x/refcount");
    if (!d)
        return;
    labels[0] = 7;
    CHECK(d->y[0] == 0, "dataset_new must copy labels");

    int64_t rows[3] = {3, 0, 3};
    lap_dataset *sub = lap_dataset_subset(d, rows, 3);
    CHECK(sub && sub->n == 3 && sub->x->ndim == 3 && sub->x->shape[0] == 3 && sub->x->shape[1] == 2 &&
              sub->x->shape[2] == 3,
          "subset: wrong shape");
    if (sub) {
        const float *s = lap_data(sub->x);
        CHECK(s[0] == 30.0f && s[5] == 35.0f && s[6] == 0.0f && s[12] == 30.0f, "subset: wrong rows");
        CHECK(sub->y[0] == 2 && sub->y[1] == 0 && sub->y[2] == 2, "subset: wrong labels");
        CHECK(sub->nclasses == 3, "subset keeps the parent's classes");
        CHECK(sub->x->storage != d->x->storage, "subset must copy");
    }
    int64_t one[1] = {2};
    lap_dataset *single = lap_dataset_subset(d, one, 1);
    CHECK(single && single->nclasses == 3 && single->y[0] == 1, "subset of one row");
    lap_dataset_release(single);

    lap_tensor *batch = NULL;
    int32_t ybatch[2];
    int64_t brows[2] = {1, 2};
    CHECK(lap_dataset_gather(d, brows, 2, &batch, ybatch) == LAP_OK, "gather: %s", lap_last_error());
    CHECK(batch && batch->shape[0] == 2 && lap_data(batch)[0] == 10.0f && lap_data(batch)[11] == 25.0f &&
              ybatch[0] == 2 && ybatch[1] == 1,
          "gather: wrong contents");
    int64_t bad[1] = {4};
    expect_error(lap_dataset_gather(d, bad, 1, &batch, ybatch), "out of range", "gather row 4");
    CHECK(lap_dataset_subset(d, bad, 1) == NULL, "subset with a bad row must fail");
    lap_tensor_release(batch);

    CHECK(lap_dataset_retain(d) == d && d->refcount == 2, "retain");
    lap_dataset_release(d);
    CHECK(d->refcount == 1, "release");
    lap_dataset_release(sub);
    lap_dataset_release(d);

    int32_t negative[4] = {0, -1, 0, 0};
    lap_tensor *x2 = lap_tensor_from_data(3, shape, data);
    CHECK(lap_dataset_new(x2, negative) == NULL, "negative labels must be rejected");
    CHECK(strstr(lap_last_error(), ">= 0") != NULL, "negative label message: %s", lap_last_error());
}

int main(void)
{
    check_fixture();
    check_rng_properties();
    check_errors();
    check_dataset_container();
    return check_summary("test_datasets");
}
