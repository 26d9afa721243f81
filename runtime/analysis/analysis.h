/* analysis.h: numerical summaries of point clouds and of a network's flow, for
 * figures and probes.  All inputs are float32 row-major (N, D) arrays; results in double.
 *
 *   PCA: principal axes of a cloud (LAPACK's symmetric eigensolver from OpenBLAS on
 *        the D x D covariance), used to project any width to 2-D.
 *   W1:  the exact 1-Wasserstein distance between two clouds of equal size with
 *        uniform weights = the optimal assignment under Euclidean cost (Hungarian /
 *        Jonker-Volgenant, O(n^3), fine up to ~1000 points).
 *   line shape: mean over points of (path length sum_k ||x_{k+1}-x_k||) /
 *        (end-to-end distance ||x_K - x_0||): 1 for straight paths, larger for
 *        winding ones.  Points whose end-to-end distance is below 1e-12 are skipped.
 *   least squares: y = slope x + intercept (ordinary least squares) and Pearson's r.
 */
#ifndef LAP_ANALYSIS_H
#define LAP_ANALYSIS_H

#include <stdint.h>

typedef struct lap_pca {
    int dims;              /* D */
    double *mean;          /* D */
    double *axes;          /* 2 x D: first and second principal directions, unit norm,
                              sign fixed so the largest-magnitude component is positive */
    double variance[2];    /* variance along each axis (divided by N - 1) */
} lap_pca;

/* Fits on x (N, D), N >= 2, D >= 1 (for D == 1 the second axis is zero). */
int lap_pca_fit(lap_pca *pca, const float *x, int64_t N, int64_t D);
/* out: (N, 2) doubles, (x - mean) projected on the two axes. */
void lap_pca_project(const lap_pca *pca, double *out, const float *x, int64_t N);
void lap_pca_free(lap_pca *pca);

/* W1 between clouds a and b, each (N, D).  Returns LAP_ERR on N > 5000 (too slow) or no memory. */
int lap_wasserstein1(double *distance, const float *a, const float *b, int64_t N, int64_t D);
/* Optimal assignment for a square cost matrix (n x n, row-major): assignment[i] = column of row i. */
int lap_assignment(int64_t *assignment, double *total, const double *cost, int64_t n);

/* states: K+1 arrays of (N, D), the flow x_0 .. x_K.  *score = mean ratio; *used = points counted. */
int lap_line_shape(double *score, int64_t *used, const float *const *states, int K, int64_t N, int64_t D);

typedef struct lap_fit {
    double slope, intercept, r;   /* r = NaN when x or y is constant */
    int64_t n;                    /* pairs used (NaN pairs skipped) */
} lap_fit;

int lap_least_squares(lap_fit *fit, const double *x, const double *y, int64_t n);

#endif
