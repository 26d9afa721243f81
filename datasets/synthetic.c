/* synthetic.c: make_circles, make_moons and train_test_split as in scikit-learn 1.2.
 *
 * The order of operations follows sklearn.datasets._samples_generator exactly:
 * points on np.linspace grids (outer class first, n_out = n // 2, inner gets the
 * rest), then sklearn.utils.shuffle (one RandomState.shuffle of arange(n) applied
 * to rows), then Gaussian noise drawn as generator.normal(scale=noise, size=(n, 2))
 * in C order and added.  So labels and their order are exact, and coordinates
 * differ from sklearn's only through libm's sin/cos versus numpy's (last bits).
 * Limits: only the integer n form (not sklearn's (n_out, n_in) tuple); noise == 0
 * means "no noise" (sklearn's noise=None), which gives the same values as
 * sklearn's noise=0.0 because adding 0*g leaves every coordinate unchanged.
 */
#include "datasets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

/* np.linspace(0, stop, count, endpoint)[i] for float64: i * (stop / div), with
 * div = count - 1 or count, and the last value forced to stop when endpoint. */
static double linspace_at(double stop, int64_t count, int endpoint, int64_t i)
{
    int64_t div = endpoint ? count - 1 : count;
    if (div <= 0)
        return (double)i * stop;        /* numpy: step undefined, y * delta */
    if (endpoint && i == count - 1)
        return stop;
    return (double)i * (stop / (double)div);
}

/* Shuffles rows of base (n x 2) and labels like sklearn.utils.shuffle, then adds
 * N(0, noise^2) to every coordinate in C order; writes the result to x, y. */
static int shuffle_and_noise(double *x, int32_t *y, const double *base, const int32_t *base_labels,
                             int64_t n, double noise, lap_rng *rng)
{
    int64_t *order = lap_malloc((size_t)n * sizeof *order);
    if (!order)
        return LAP_ERR;
    lap_rng_permutation(rng, order, n);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = base[2 * order[i]];
        x[2 * i + 1] = base[2 * order[i] + 1];
        y[i] = base_labels[order[i]];
    }
    free(order);
    if (noise > 0.0) {
        for (int64_t k = 0; k < 2 * n; k++) {
            /* legacy_normal(loc=0, scale) = 0 + scale * gauss, then X += that. */
            double draw = 0.0 + noise * lap_rng_gauss(rng);
            x[k] += draw;
        }
    }
    return LAP_OK;
}

static int check_common(const char *what, const double *x, const int32_t *y, int64_t n, double noise)
{
    if (!x || !y)
        return lap_error("%s: output buffers must not be NULL", what);
    if (n < 2)
        return lap_error("%s: n must be >= 2, got %lld", what, (long long)n);
    if (!(noise >= 0.0) || !isfinite(noise))
        return lap_error("%s: noise must be a finite number >= 0, got %g", what, noise);
    return LAP_OK;
}

/* Shuffles and adds noise to the unshuffled points of a generator (a fresh
 * RandomState(seed), as sklearn's check_random_state(int) gives); frees them. */
static int finish(double *x, int32_t *y, double *base, int32_t *labels, int64_t n, double noise,
                  uint32_t seed)
{
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    int rc = shuffle_and_noise(x, y, base, labels, n, noise, &rng);
    free(base);
    free(labels);
    return rc;
}

static int alloc_base(int64_t n, double **base, int32_t **labels)
{
    size_t bytes;
    *base = NULL;
    *labels = NULL;
    if (lap_mul_size(&bytes, (size_t)n, 2 * sizeof **base, "synthetic data") != LAP_OK)
        return LAP_ERR;
    *base = lap_malloc(bytes);
    *labels = lap_malloc((size_t)n * sizeof **labels);
    if (!*base || !*labels) {
        free(*base);
        free(*labels);
        return LAP_ERR;
    }
    return LAP_OK;
}

int lap_make_circles(double *x, int32_t *y, int64_t n, double factor, double noise, uint32_t seed)
{
    if (check_common("circles", x, y, n, noise) != LAP_OK)
        return LAP_ERR;
    if (!(factor >= 0.0 && factor < 1.0))
        return lap_error("circles: factor must be in [0, 1), got %g", factor);
    double *base;
    int32_t *labels;
    if (alloc_base(n, &base, &labels) != LAP_OK)
        return LAP_ERR;
    int64_t n_out = n / 2, n_in = n - n_out;
    const double two_pi = 2.0 * M_PI;   /* 2 * np.pi, exact doubling */
    for (int64_t i = 0; i < n_out; i++) {
        double t = linspace_at(two_pi, n_out, 0, i);
        base[2 * i] = cos(t);
        base[2 * i + 1] = sin(t);
        labels[i] = 0;
    }
    for (int64_t i = 0; i < n_in; i++) {
        double t = linspace_at(two_pi, n_in, 0, i);
        int64_t row = n_out + i;
        base[2 * row] = cos(t) * factor;
        base[2 * row + 1] = sin(t) * factor;
        labels[row] = 1;
    }
    return finish(x, y, base, labels, n, noise, seed);
}

int lap_make_moons(double *x, int32_t *y, int64_t n, double noise, uint32_t seed)
{
    if (check_common("moons", x, y, n, noise) != LAP_OK)
        return LAP_ERR;
    double *base;
    int32_t *labels;
    if (alloc_base(n, &base, &labels) != LAP_OK)
        return LAP_ERR;
    int64_t n_out = n / 2, n_in = n - n_out;
    for (int64_t i = 0; i < n_out; i++) {
        double t = linspace_at(M_PI, n_out, 1, i);
        base[2 * i] = cos(t);
        base[2 * i + 1] = sin(t);
        labels[i] = 0;
    }
    for (int64_t i = 0; i < n_in; i++) {
        double t = linspace_at(M_PI, n_in, 1, i);
        int64_t row = n_out + i;
        base[2 * row] = 1.0 - cos(t);
        base[2 * row + 1] = (1.0 - sin(t)) - 0.5;   /* sklearn: 1 - sin(t) - 0.5 */
        labels[row] = 1;
    }
    return finish(x, y, base, labels, n, noise, seed);
}

int lap_train_test_split(int64_t *train_rows, int64_t *n_train, int64_t *test_rows, int64_t *n_test,
                         int64_t n, double test_size, uint32_t seed)
{
    if (!train_rows || !test_rows || !n_train || !n_test)
        return lap_error("split: output buffers must not be NULL");
    if (n < 1)
        return lap_error("split: need at least one row, got %lld", (long long)n);
    if (!(test_size > 0.0 && test_size < 1.0))
        return lap_error("split: test fraction must be in (0, 1), got %g", test_size);
    /* sklearn's _validate_shuffle_split with train_size=None. */
    int64_t tests = (int64_t)ceil(test_size * (double)n);
    int64_t trains = n - tests;
    if (trains <= 0)
        return lap_error("split: %lld rows with test fraction %g leave an empty train set",
                         (long long)n, test_size);
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    /* The permutation is built in train_rows (capacity n), then split in place:
     * test = perm[:n_test], train = perm[n_test:]. */
    lap_rng_permutation(&rng, train_rows, n);
    memcpy(test_rows, train_rows, (size_t)tests * sizeof *test_rows);
    memmove(train_rows, train_rows + tests, (size_t)trains * sizeof *train_rows);
    *n_test = tests;
    *n_train = trains;
    return LAP_OK;
}
