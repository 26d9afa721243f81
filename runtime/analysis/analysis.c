/* analysis.c: numerical summaries of point clouds and flows (runtime/analysis/analysis.h):
 * PCA, the exact 1-Wasserstein distance via optimal assignment, the line-shape
 * score of trajectories, ordinary least squares with Pearson's r.
 *
 * Everything is computed in double from float32 inputs.  Limits:
 *   - PCA forms the D x D covariance, so D is bounded by memory (D = 4096 is
 *     128 MB) and the eigensolver's O(D^3) time; D must fit LAPACK's int.
 *   - The assignment is dense and O(n^3) worst case: W1 refuses N > 5000
 *     (a 5000 x 5000 cost matrix is 200 MB and the solve takes many seconds).
 *   - Non-finite inputs are refused (PCA, assignment) or skipped (least squares,
 *     where NaN marks a missing pair).
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "core/error.h"

/* LAPACK from OpenBLAS: symmetric eigenproblem, eigenvalues ascending.  Declared
 * here (Fortran calling convention) so the build needs no lapacke headers. */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

#define W1_MAX_POINTS 5000
/* Rows centred per covariance update: bounds the double copy of the cloud. */
#define PCA_CHUNK_ROWS 1024

/* ---- PCA ---- */

/* Flips v so that its largest-magnitude component (the first one on ties) is
 * positive: eigenvectors are defined up to sign, and figures must not flip
 * between runs or between the C side and numpy. */
static void fix_sign(double *v, int64_t D)
{
    int64_t largest = 0;
    for (int64_t j = 1; j < D; j++)
        if (fabs(v[j]) > fabs(v[largest]))
            largest = j;
    if (v[largest] < 0)
        for (int64_t j = 0; j < D; j++)
            v[j] = -v[j];
}

int lap_pca_fit(lap_pca *pca, const float *x, int64_t N, int64_t D)
{
    memset(pca, 0, sizeof *pca);
    if (N < 2)
        return lap_error("pca: needs at least 2 points, got %lld", (long long)N);
    if (D < 1)
        return lap_error("pca: needs at least 1 dimension, got %lld", (long long)D);
    if (D > 46340)   /* D * D must fit LAPACK's int */
        return lap_error("pca: %lld dimensions is too many (at most 46340)", (long long)D);

    double *mean = lap_calloc((size_t)D, sizeof(double));
    double *cov = lap_calloc((size_t)(D * D), sizeof(double));
    int64_t chunk_rows = N < PCA_CHUNK_ROWS ? N : PCA_CHUNK_ROWS;
    double *centred = lap_malloc((size_t)(chunk_rows * D) * sizeof(double));
    double *eigenvalues = lap_malloc((size_t)D * sizeof(double));
    double *axes = lap_calloc((size_t)(2 * D), sizeof(double));
    double *work = NULL;
    int status = LAP_ERR;
    if (!mean || !cov || !centred || !eigenvalues || !axes)
        goto done;

    /* Two passes (mean, then centred products) rather than sum of squares minus
     * the squared mean, which cancels catastrophically for offset clouds. */
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < D; j++)
            mean[j] += x[i * D + j];
    for (int64_t j = 0; j < D; j++) {
        mean[j] /= (double)N;
        if (!isfinite(mean[j])) {
            lap_error("pca: the input has NaN or infinite values");
            goto done;
        }
    }
    /* Upper triangle (column-major view) of sum (x - mean)^T (x - mean), chunk by
     * chunk so that a large cloud needs no full double copy. */
    for (int64_t start = 0; start < N; start += chunk_rows) {
        int64_t rows = N - start < chunk_rows ? N - start : chunk_rows;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < D; j++)
                centred[i * D + j] = (double)x[(start + i) * D + j] - mean[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)D, (int)rows, 1.0, centred,
                    (int)D, 1.0, cov, (int)D);
    }
    for (int64_t k = 0; k < D * D; k++)
        cov[k] /= (double)(N - 1);

    /* Row-major upper = column-major lower: tell LAPACK "L".  Workspace query first. */
    int n = (int)D, lwork = -1, info = 0;
    double work_size = 0;
    dsyev_("V", "L", &n, cov, &n, eigenvalues, &work_size, &lwork, &info);
    if (info != 0) {
        lap_error("pca: eigensolver workspace query failed (dsyev info %d)", info);
        goto done;
    }
    lwork = (int)work_size;
    work = lap_malloc((size_t)lwork * sizeof(double));
    if (!work)
        goto done;
    dsyev_("V", "L", &n, cov, &n, eigenvalues, work, &lwork, &info);
    if (info != 0) {
        lap_error("pca: eigensolver did not converge (dsyev info %d)", info);
        goto done;
    }

    /* Eigenvalues ascend; column k of the column-major result (= row k of cov in
     * memory) is the k-th eigenvector.  The top two are the last two. */
    for (int k = 0; k < 2 && k < n; k++) {
        int column = n - 1 - k;
        memcpy(axes + k * D, cov + (int64_t)column * D, (size_t)D * sizeof(double));
        fix_sign(axes + k * D, D);
        /* Round-off can make a zero variance slightly negative. */
        pca->variance[k] = eigenvalues[column] > 0 ? eigenvalues[column] : 0;
    }
    pca->dims = (int)D;
    pca->mean = mean;
    pca->axes = axes;
    mean = axes = NULL;
    status = LAP_OK;
done:
    free(mean);
    free(cov);
    free(centred);
    free(eigenvalues);
    free(axes);
    free(work);
    return status;
}

void lap_pca_project(const lap_pca *pca, double *out, const float *x, int64_t N)
{
    int64_t D = pca->dims;
    const double *first = pca->axes, *second = pca->axes + D;
    for (int64_t i = 0; i < N; i++) {
        double p0 = 0, p1 = 0;
        for (int64_t j = 0; j < D; j++) {
            double centred = (double)x[i * D + j] - pca->mean[j];
            p0 += centred * first[j];
            p1 += centred * second[j];
        }
        out[2 * i] = p0;
        out[2 * i + 1] = p1;
    }
}

void lap_pca_free(lap_pca *pca)
{
    if (!pca)
        return;
    free(pca->mean);
    free(pca->axes);
    memset(pca, 0, sizeof *pca);
}

/* ---- assignment ---- */

/* Workspace of the shortest augmenting path solver. */
typedef struct assignment_work {
    double *row_potential, *col_potential;   /* u, v: reduced cost c[i][j] - u[i] - v[j] >= 0 */
    double *path_cost;                       /* shortest path distance to each column */
    int64_t *path;                           /* predecessor row of each column on the path */
    int64_t *row_of_col, *col_of_row;        /* current partial matching, -1 = free */
    int64_t *remaining;                      /* columns not yet scanned in this search */
    char *row_scanned, *col_scanned;
} assignment_work;

/* One Dijkstra search from the free row `start` over reduced costs, until it
 * reaches a free column (the sink, returned).  *min_value is the path length.
 * Ties prefer a free column, which ends the search early.  This is the
 * Jonker-Volgenant / Crouse formulation (as in scipy's linear_sum_assignment). */
static int64_t augmenting_path(assignment_work *w, const double *cost, int64_t n, int64_t start,
                               double *min_value)
{
    int64_t remaining_count = n;
    for (int64_t k = 0; k < n; k++) {
        w->remaining[k] = n - k - 1;
        w->path_cost[k] = INFINITY;
        w->row_scanned[k] = w->col_scanned[k] = 0;
    }
    double min_val = 0;
    int64_t row = start, sink = -1;
    while (sink == -1) {
        w->row_scanned[row] = 1;
        int64_t best_index = -1;
        double lowest = INFINITY;
        const double *cost_row = cost + row * n;
        double base = min_val - w->row_potential[row];
        for (int64_t k = 0; k < remaining_count; k++) {
            int64_t col = w->remaining[k];
            double reduced = base + cost_row[col] - w->col_potential[col];
            if (reduced < w->path_cost[col]) {
                w->path[col] = row;
                w->path_cost[col] = reduced;
            }
            if (w->path_cost[col] < lowest || (w->path_cost[col] == lowest && w->row_of_col[col] == -1)) {
                lowest = w->path_cost[col];
                best_index = k;
            }
        }
        min_val = lowest;
        if (best_index < 0 || min_val == INFINITY)
            return -1;   /* cannot happen with finite costs */
        int64_t col = w->remaining[best_index];
        w->col_scanned[col] = 1;
        w->remaining[best_index] = w->remaining[--remaining_count];
        if (w->row_of_col[col] == -1)
            sink = col;
        else
            row = w->row_of_col[col];
    }
    *min_value = min_val;
    return sink;
}

int lap_assignment(int64_t *assignment, double *total, const double *cost, int64_t n)
{
    *total = 0;
    if (n < 0)
        return lap_error("assignment: negative size %lld", (long long)n);
    if (n == 0)
        return LAP_OK;
    for (int64_t k = 0; k < n * n; k++)
        if (!isfinite(cost[k]))
            return lap_error("assignment: cost[%lld][%lld] is not finite", (long long)(k / n),
                             (long long)(k % n));

    assignment_work w;
    size_t nd = (size_t)n * sizeof(double), ni = (size_t)n * sizeof(int64_t);
    w.row_potential = lap_calloc((size_t)n, sizeof(double));
    w.col_potential = lap_calloc((size_t)n, sizeof(double));
    w.path_cost = lap_malloc(nd);
    w.path = lap_malloc(ni);
    w.row_of_col = lap_malloc(ni);
    w.col_of_row = lap_malloc(ni);
    w.remaining = lap_malloc(ni);
    w.row_scanned = lap_malloc((size_t)n);
    w.col_scanned = lap_malloc((size_t)n);
    int status = LAP_ERR;
    if (!w.row_potential || !w.col_potential || !w.path_cost || !w.path || !w.row_of_col ||
        !w.col_of_row || !w.remaining || !w.row_scanned || !w.col_scanned)
        goto done;
    for (int64_t k = 0; k < n; k++)
        w.row_of_col[k] = w.col_of_row[k] = -1;

    for (int64_t row = 0; row < n; row++) {
        /* A 5000-point W1 takes seconds: let Ctrl-C in laprun stop it. */
        if (lap_check_interrupt() != LAP_OK)
            goto done;
        double min_val = 0;
        int64_t sink = augmenting_path(&w, cost, n, row, &min_val);
        if (sink < 0) {
            lap_error("assignment: no augmenting path (internal error)");
            goto done;
        }
        /* Update potentials so reduced costs stay >= 0 and matched edges stay tight. */
        w.row_potential[row] += min_val;
        for (int64_t i = 0; i < n; i++)
            if (w.row_scanned[i] && i != row)
                w.row_potential[i] += min_val - w.path_cost[w.col_of_row[i]];
        for (int64_t j = 0; j < n; j++)
            if (w.col_scanned[j])
                w.col_potential[j] -= min_val - w.path_cost[j];
        /* Flip the matching along the path back from the sink. */
        for (int64_t col = sink;;) {
            int64_t i = w.path[col];
            w.row_of_col[col] = i;
            int64_t previous = w.col_of_row[i];
            w.col_of_row[i] = col;
            col = previous;
            if (i == row)
                break;
        }
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        assignment[i] = w.col_of_row[i];
        sum += cost[i * n + w.col_of_row[i]];
    }
    *total = sum;
    status = LAP_OK;
done:
    free(w.row_potential);
    free(w.col_potential);
    free(w.path_cost);
    free(w.path);
    free(w.row_of_col);
    free(w.col_of_row);
    free(w.remaining);
    free(w.row_scanned);
    free(w.col_scanned);
    return status;
}

int lap_wasserstein1(double *distance, const float *a, const float *b, int64_t N, int64_t D)
{
    *distance = 0;
    if (N < 1)
        return lap_error("wasserstein1: needs at least 1 point, got %lld", (long long)N);
    if (N > W1_MAX_POINTS)
        return lap_error("wasserstein1: %lld points is too many for the exact O(N^3) assignment "
                         "(at most %d; subsample the clouds)", (long long)N, W1_MAX_POINTS);
    if (D < 1)
        return lap_error("wasserstein1: needs at least 1 dimension, got %lld", (long long)D);

    double *cost = lap_malloc((size_t)(N * N) * sizeof(double));
    int64_t *assignment = lap_malloc((size_t)N * sizeof(int64_t));
    int status = LAP_ERR;
    if (!cost || !assignment)
        goto done;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            double squared = 0;
            for (int64_t k = 0; k < D; k++) {
                double diff = (double)a[i * D + k] - (double)b[j * D + k];
                squared += diff * diff;
            }
            cost[i * N + j] = sqrt(squared);
        }
    double total = 0;
    /* Its only failures here are "interrupted" and out of memory: kept as they are. */
    if (lap_assignment(assignment, &total, cost, N) != LAP_OK)
        goto done;
    *distance = total / (double)N;
    status = LAP_OK;
done:
    free(cost);
    free(assignment);
    return status;
}

/* ---- line shape ---- */

static double distance_between(const float *p, const float *q, int64_t D)
{
    double squared = 0;
    for (int64_t k = 0; k < D; k++) {
        double diff = (double)q[k] - (double)p[k];
        squared += diff * diff;
    }
    return sqrt(squared);
}

int lap_line_shape(double *score, int64_t *used, const float *const *states, int K, int64_t N, int64_t D)
{
    *score = NAN;
    *used = 0;
    if (K < 1)
        return lap_error("line_shape: needs at least 2 states (x_0 and x_K), got %d", K + 1);
    if (N < 1)
        return lap_error("line_shape: needs at least 1 point, got %lld", (long long)N);
    if (D < 1)
        return lap_error("line_shape: needs at least 1 dimension, got %lld", (long long)D);
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        double end_to_end = distance_between(states[0] + i * D, states[K] + i * D, D);
        /* A closed (or motionless) path has no meaningful ratio. */
        if (!(end_to_end >= 1e-12))
            continue;
        double length = 0;
        for (int k = 0; k < K; k++)
            length += distance_between(states[k] + i * D, states[k + 1] + i * D, D);
        sum += length / end_to_end;
        count++;
    }
    *used = count;
    *score = count > 0 ? sum / (double)count : NAN;
    return LAP_OK;
}

/* ---- least squares ---- */

int lap_least_squares(lap_fit *fit, const double *x, const double *y, int64_t n)
{
    fit->slope = fit->intercept = fit->r = NAN;
    fit->n = 0;
    double sum_x = 0, sum_y = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i])) {
            sum_x += x[i];
            sum_y += y[i];
            used++;
        }
    if (used < 2)
        return lap_error("least_squares: needs at least 2 (x, y) pairs without NaN, got %lld",
                         (long long)used);
    double mean_x = sum_x / (double)used, mean_y = sum_y / (double)used;
    /* Centred second pass, as numpy/scipy do: stable for offset data. */
    double sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i])) {
            double dx = x[i] - mean_x, dy = y[i] - mean_y;
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
    fit->n = used;
    if (sxx > 0) {   /* constant x: no slope, no intercept (both stay NaN) */
        fit->slope = sxy / sxx;
        fit->intercept = mean_y - fit->slope * mean_x;
    }
    if (sxx > 0 && syy > 0) {   /* constant x or y: r undefined, stays NaN */
        double r = sxy / sqrt(sxx * syy);
        /* Round-off can push |r| just past 1. */
        fit->r = r > 1 ? 1 : (r < -1 ? -1 : r);
    }
    return LAP_OK;
}
