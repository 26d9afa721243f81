/* detector.c: L2-penalized logistic regression by Newton's method, and ROC curves
 * with their AUC (runtime/analysis/detector.h).
 *
 * Newton on this convex objective converges in a handful of steps from w = 0; the
 * step is halved until the objective does not increase, which keeps it safe where
 * the quadratic model overshoots (nearly separable classes).  The intercept's
 * diagonal gets a 1e-12 N ridge so that the Hessian stays positive definite when
 * every probability saturates.
 */
#include "analysis/detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* log(1 + e^z) without overflow. */
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

typedef struct problem {
    const double *x, *y;
    int64_t N, D;
    const double *mean, *scale;   /* D each: feature j is (x_j - mean_j) / scale_j */
    double l2;
} problem;

static double feature(const problem *p, int64_t i, int64_t j)
{
    return j == p->D ? 1.0 : (p->x[i * p->D + j] - p->mean[j]) / p->scale[j];
}

static double margin(const problem *p, const double *w, int64_t i)
{
    double z = w[p->D];
    for (int64_t j = 0; j < p->D; j++)
        z += w[j] * feature(p, i, j);
    return z;
}

static double objective(const problem *p, const double *w)
{
    double f = 0;
    for (int64_t i = 0; i < p->N; i++) {
        double z = margin(p, w, i);
        f += softplus(z) - p->y[i] * z;
    }
    for (int64_t j = 0; j < p->D; j++)
        f += 0.5 * p->l2 * w[j] * w[j];
    return f;
}

/* Solves A s = b in place (b becomes s) for a symmetric positive definite A (n x n,
 * overwritten by its Cholesky factor).  LAP_ERR when A is not positive definite. */
static int cholesky_solve(double *A, double *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int64_t k = 0; k < j; k++)
            d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0))
            return LAP_ERR;
        A[j * n + j] = sqrt(d);
        for (int64_t i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (int64_t k = 0; k < j; k++)
                s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / A[j * n + j];
        }
    }
    for (int64_t i = 0; i < n; i++) {   /* L u = b */
        for (int64_t k = 0; k < i; k++)
            b[i] -= A[i * n + k] * b[k];
        b[i] /= A[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) {   /* L^T s = u */
        for (int64_t k = i + 1; k < n; k++)
            b[i] -= A[k * n + i] * b[k];
        b[i] /= A[i * n + i];
    }
    return LAP_OK;
}

static int check_inputs(const double *x, const double *y, int64_t N, int64_t D, const lap_logistic_options *o)
{
    if (N < 2 || D < 1)
        return lap_error("logistic_fit: needs at least 2 points and 1 feature, got %lld x %lld", (long long)N,
                         (long long)D);
    if (D > 2000)
        return lap_error("logistic_fit: %lld features is too many (at most 2000)", (long long)D);
    if (!(o->l2 >= 0) || !isfinite(o->l2))
        return lap_error("logistic_fit: l2 must be finite and >= 0, got %g", o->l2);
    if (o->max_iterations < 1)
        return lap_error("logistic_fit: max_iterations must be >= 1, got %d", o->max_iterations);
    for (int64_t i = 0; i < N * D; i++)
        if (!isfinite(x[i]))
            return lap_error("logistic_fit: feature %lld of point %lld is %g", (long long)(i % D + 1),
                             (long long)(i / D + 1), x[i]);
    for (int64_t i = 0; i < N; i++)
        if (y[i] != 0 && y[i] != 1)
            return lap_error("logistic_fit: label %lld is %g, expected 0 or 1", (long long)(i + 1), y[i]);
    return LAP_OK;
}

int lap_logistic_fit(double *weights, int *iterations, const double *x, const double *y, int64_t N, int64_t D,
                     const lap_logistic_options *o)
{
    if (check_inputs(x, y, N, D, o) != LAP_OK)
        return LAP_ERR;
    int64_t n = D + 1;
    double *mean = lap_calloc((size_t)D, sizeof *mean), *scale = lap_calloc((size_t)D, sizeof *scale);
    double *w = lap_calloc((size_t)n, sizeof *w), *trial = lap_calloc((size_t)n, sizeof *trial);
    double *grad = lap_calloc((size_t)n, sizeof *grad), *hessian = lap_calloc((size_t)(n * n), sizeof *hessian);
    double *row = lap_calloc((size_t)n, sizeof *row);
    int status = LAP_ERR, steps = 0;
    if (!mean || !scale || !w || !trial || !grad || !hessian || !row)
        goto done;
    for (int64_t j = 0; j < D; j++) {
        scale[j] = 1;
        if (!o->standardize)
            continue;
        double sum = 0, squares = 0;
        for (int64_t i = 0; i < N; i++)
            sum += x[i * D + j];
        mean[j] = sum / N;
        for (int64_t i = 0; i < N; i++)
            squares += (x[i * D + j] - mean[j]) * (x[i * D + j] - mean[j]);
        double sd = sqrt(squares / N);
        scale[j] = sd > 0 ? sd : 1;
    }
    problem p = {x, y, N, D, mean, scale, o->l2};
    double f = objective(&p, w);
    int converged = 0;
    for (steps = 0; steps < o->max_iterations && !converged; steps++) {
        memset(grad, 0, (size_t)n * sizeof *grad);
        memset(hessian, 0, (size_t)(n * n) * sizeof *hessian);
        for (int64_t i = 0; i < N; i++) {
            for (int64_t j = 0; j < n; j++)
                row[j] = feature(&p, i, j);
            double q = sigmoid(margin(&p, w, i)), r = q - y[i], s = q * (1 - q);
            for (int64_t j = 0; j < n; j++) {
                grad[j] += r * row[j];
                for (int64_t k = 0; k <= j; k++)
                    hessian[j * n + k] += s * row[j] * row[k];
            }
        }
        double largest = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j < D) {
                grad[j] += o->l2 * w[j];
                hessian[j * n + j] += o->l2;
            }
            for (int64_t k = 0; k < j; k++)
                hessian[k * n + j] = hessian[j * n + k];
            largest = fmax(largest, fabs(grad[j]));
        }
        hessian[D * n + D] += 1e-12 * N;
        if (largest <= 1e-10 * N) {
            converged = 1;
            break;
        }
        memcpy(row, grad, (size_t)n * sizeof *row);
        if (cholesky_solve(hessian, grad, n) != LAP_OK) {
            lap_error("logistic_fit: the Hessian is singular (collinear or constant features? use l2 > 0)");
            goto done;
        }
        /* Newton decrement g^T H^-1 g / 2: the objective's predicted decrease.  Below
         * double precision's resolution of f the answer cannot improve. */
        double decrement = 0;
        for (int64_t j = 0; j < n; j++)
            decrement += row[j] * grad[j];
        if (decrement / 2 <= 1e-13 * (1 + fabs(f))) {
            converged = 1;
            break;
        }
        double t = 1, trial_f = f;
        for (int halvings = 0; halvings < 60; halvings++, t *= 0.5) {
            for (int64_t j = 0; j < n; j++)
                trial[j] = w[j] - t * grad[j];
            trial_f = objective(&p, trial);
            if (trial_f <= f)
                break;
        }
        if (!(trial_f <= f))
            converged = 1;   /* no descent left at double precision */
        else {
            memcpy(w, trial, (size_t)n * sizeof *w);
            f = trial_f;
        }
    }
    if (!converged) {
        lap_error("logistic_fit: no convergence in %d Newton steps (separable classes? use l2 > 0)",
                  o->max_iterations);
        goto done;
    }
    weights[D] = w[D];
    for (int64_t j = 0; j < D; j++) {
        weights[j] = w[j] / scale[j];
        weights[D] -= weights[j] * mean[j];
    }
    if (iterations)
        *iterations = steps;
    status = LAP_OK;
done:
    free(mean);
    free(scale);
    free(w);
    free(trial);
    free(grad);
    free(hessian);
    free(row);
    return status;
}

void lap_logistic_predict(double *probability, const double *weights, const double *x, int64_t N, int64_t D)
{
    for (int64_t i = 0; i < N; i++) {
        double z = weights[D];
        for (int64_t j = 0; j < D; j++)
            z += weights[j] * x[i * D + j];
        probability[i] = sigmoid(z);
    }
}

/* ---- ROC ---- */

typedef struct scored {
    double score;
    int positive;
} scored;

static int by_score_descending(const void *a, const void *b)
{
    double sa = ((const scored *)a)->score, sb = ((const scored *)b)->score;
    return sa > sb ? -1 : sa < sb ? 1 : 0;
}

int lap_roc(double *fpr, double *tpr, int64_t *points, double *auc, const double *scores, const double *y, int64_t N)
{
    int64_t positives = 0;
    for (int64_t i = 0; i < N; i++) {
        if (y[i] != 0 && y[i] != 1)
            return lap_error("roc: label %lld is %g, expected 0 or 1", (long long)(i + 1), y[i]);
        if (isnan(scores[i]))
            return lap_error("roc: score %lld is NaN", (long long)(i + 1));
        positives += y[i] == 1;
    }
    int64_t negatives = N - positives;
    if (positives == 0 || negatives == 0)
        return lap_error("roc: needs both classes, got %lld positives and %lld negatives", (long long)positives,
                         (long long)negatives);
    scored *order = lap_malloc((size_t)N * sizeof *order);
    if (!order)
        return LAP_ERR;
    for (int64_t i = 0; i < N; i++)
        order[i] = (scored){scores[i], y[i] == 1};
    qsort(order, (size_t)N, sizeof *order, by_score_descending);
    int64_t tp = 0, fp = 0, count = 1;
    double area = 0;
    fpr[0] = tpr[0] = 0;
    for (int64_t i = 0; i < N;) {
        int64_t j = i;
        for (; j < N && order[j].score == order[i].score; j++) {   /* one threshold per distinct score */
            tp += order[j].positive;
            fp += !order[j].positive;
        }
        fpr[count] = (double)fp / negatives;
        tpr[count] = (double)tp / positives;
        area += (fpr[count] - fpr[count - 1]) * (tpr[count] + tpr[count - 1]) / 2;
        count++;
        i = j;
    }
    free(order);
    *points = count;
    *auc = area;
    return LAP_OK;
}
