/* detector.h: a binary detector on per-point features (L2-penalized logistic
 * regression) and its ROC curve.  Used to tell adversarial inputs from clean ones
 * by their per-block displacement norms (Karkar et al., ECML PKDD 2023).
 *
 *   logistic regression  minimizes sum_i [log(1 + e^{z_i}) - y_i z_i] + l2/2 ||w||^2,
 *        z_i = w . x_i + b, the intercept b not penalized (scikit-learn's
 *        LogisticRegression with C = 1 / l2), by Newton's method with step halving
 *        (Cholesky on the (D+1) x (D+1) Hessian), in double.  With standardize, the
 *        fit is on features scaled to mean 0, standard deviation 1 (a constant feature
 *        is left centred) and the weights are mapped back to the raw features, so the
 *        penalty acts on the standardized coefficients.
 *   ROC  the true- and false-positive rates at every distinct score threshold, from
 *        (0, 0) to (1, 1); AUC by the trapezoid rule, which equals the Mann-Whitney
 *        probability that a positive outscores a negative, ties counting one half.
 * Limits: D up to a few hundred (dense Hessian); NaN features or scores are refused.
 */
#ifndef LAP_DETECTOR_H
#define LAP_DETECTOR_H

#include <stdint.h>

typedef struct lap_logistic_options {
    double l2;          /* > 0 keeps separable data finite; 0 allowed when not separable */
    int standardize;
    int max_iterations; /* Newton steps, >= 1 */
} lap_logistic_options;

/* weights: D + 1 (coefficients, then the intercept).  x: (N, D) row-major; y: N values 0 or 1.
 * *iterations (nullable): Newton steps taken.  LAP_ERR on bad input or no convergence. */
int lap_logistic_fit(double *weights, int *iterations, const double *x, const double *y, int64_t N, int64_t D,
                     const lap_logistic_options *o);
/* probability: N values of 1 / (1 + e^{-z}). */
void lap_logistic_predict(double *probability, const double *weights, const double *x, int64_t N, int64_t D);

/* fpr, tpr: room for N + 1 points each; *points: the number written; y: 0 or 1, both present. */
int lap_roc(double *fpr, double *tpr, int64_t *points, double *auc, const double *scores, const double *y, int64_t N);

#endif
