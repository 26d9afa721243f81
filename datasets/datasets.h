/* datasets.h: synthetic 2-D datasets identical to scikit-learn's, and splits.
 *
 * make_circles / make_moons reproduce sklearn.datasets.make_circles/make_moons
 * (shuffle=True, random_state=seed): same labels in the same order, and
 * coordinates computed in double that agree with sklearn's to ~1e-12 (libm's
 * sin/cos may differ from numpy's in the last bit).  They use MT19937 seeded like
 * numpy's RandomState(seed), numpy's legacy shuffle, then legacy Gaussian noise,
 * in sklearn's order.
 */
#ifndef LAP_DATASETS_H
#define LAP_DATASETS_H

#include <stdint.h>

/* x: out, n*2 doubles, row-major; y: out, n labels (0 outer circle, 1 inner).
 * factor in [0, 1), noise >= 0.  Returns LAP_OK or LAP_ERR (lap_error set). */
int lap_make_circles(double *x, int32_t *y, int64_t n, double factor, double noise, uint32_t seed);
int lap_make_moons(double *x, int32_t *y, int64_t n, double noise, uint32_t seed);

/* sklearn.model_selection.train_test_split(..., test_size, random_state=seed) row
 * selection: n_test = ceil(test_size * n), n_train = n - n_test;
 * perm = RandomState(seed).permutation(n); test = perm[:n_test],
 * train = perm[n_test:].  test_rows and train_rows are caller-allocated (n each). */
int lap_train_test_split(int64_t *train_rows, int64_t *n_train, int64_t *test_rows, int64_t *n_test,
                         int64_t n, double test_size, uint32_t seed);

#endif
