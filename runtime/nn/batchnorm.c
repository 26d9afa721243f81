/* batchnorm.c: BatchNorm, which normalizes dim 1 of (N, C) or (N, C, ...) inputs,
 * like PyTorch's BatchNorm1d/2d: batch statistics in train mode (biased variance
 * to normalize, unbiased in the running estimate), running statistics in eval
 * mode.  The running statistics are buffers (saved with the parameters).  Every
 * scratch array belongs to the module (never a file-level static): two networks,
 * or two threads, never share state.  Buffers are reused across calls: a steady
 * training loop allocates nothing here.  Under a distributed trainer with sync_bn
 * (dist.h) the batch statistics are those of every rank's rows.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "nn/module.h"
#include "nn/registry.h"

typedef struct batchnorm {
    lap_module base;
    int64_t features;
    double momentum, eps;
    lap_tensor *running_mean, *running_var;   /* the module's buffers (base.buffers) */
    lap_tensor *normalized;     /* x_hat, shape of the input; (N, C) inputs only */
    float *inv_std;             /* per feature, of the last forward */
    float *mean_used;           /* per feature, of the last forward */
    int synced;                 /* the last train-mode forward used every rank's batch (sync_bn) */
    int fuse_relu;              /* set by a Sequential for one forward: write relu(y) (the in-place ReLU after it) */
    double *work;               /* 4 per feature + 1: forward's and backward's sums (never on the stack: a
                                   stack array sized by the features overflows for large ones) */
    float *work_float;          /* 3 per feature: backward's per-feature factors */
} batchnorm;

/* For (N, C, H, W) inputs x_hat is not kept: the backward pass recomputes it on
 * the way (batchnorm_grad_sums, batchnorm_input_grad), rounded as the forward did. */

/* x viewed as (N, C, S). */
static void bn_dims(const lap_tensor *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++)
        *S *= x->shape[d];
}

/* (N, C) inputs with few features (the paper's 2-D blocks have C = 2): per-feature
 * sums over rows with C known at compile time and four rows in flight, so the
 * accumulators stay in registers and the adds do not wait on each other. */
#define BN_NARROW_MAX 4
#define BN_NARROW(C)                                                                                     \
    static void bn_row_sums_##C(double *sum_x, double *sum_xy, const float *x, const float *y,          \
                                double center_unused, int64_t N)                                          \
    {                                                                                                     \
        double a[4][C] = {{0}}, b[4][C] = {{0}};                                                          \
        int64_t n = 0;                                                                                    \
        for (; n + 4 <= N; n += 4)                                                                        \
            for (int r = 0; r < 4; r++)                                                                   \
                for (int c = 0; c < C; c++) {                                                             \
                    double v = x[(n + r) * C + c];                                                        \
                    a[r][c] += v;                                                                         \
                    b[r][c] += v * (y ? y[(n + r) * C + c] : v);                                          \
                }                                                                                         \
        for (; n < N; n++)                                                                                \
            for (int c = 0; c < C; c++) {                                                                 \
                double v = x[n * C + c];                                                                  \
                a[0][c] += v;                                                                             \
                b[0][c] += v * (y ? y[n * C + c] : v);                                                    \
            }                                                                                             \
        for (int c = 0; c < C; c++) {                                                                     \
            sum_x[c] = (a[0][c] + a[1][c]) + (a[2][c] + a[3][c]);                                         \
            sum_xy[c] = (b[0][c] + b[1][c]) + (b[2][c] + b[3][c]);                                        \
        }                                                                                                 \
    }
/* y = a * x + b per feature, and the same with the normalised value kept:
 * the forward's normalisation and the backward's input gradient. */
#define BN_NARROW_APPLY(C)                                                                               \
    static void bn_row_affine_##C(float *out, float *kept, const float *in, const float *scale,         \
                                  const float *shift, const float *post_scale, const float *post_shift,  \
                                  int64_t N)                                                              \
    {                                                                                                     \
        float a[C], b[C], pa[C], pb[C];                                                                   \
        for (int c = 0; c < C; c++) {                                                                     \
            a[c] = scale[c];                                                                              \
            b[c] = shift[c];                                                                              \
            pa[c] = post_scale ? post_scale[c] : 1.0f;                                                    \
            pb[c] = post_shift ? post_shift[c] : 0.0f;                                                    \
        }                                                                                                 \
        for (int64_t n = 0; n < N; n++)                                                                   \
            for (int c = 0; c < C; c++) {                                                                 \
                float v = (in[n * C + c] + b[c]) * a[c];                                                  \
                if (kept)                                                                                 \
                    kept[n * C + c] = v;                                                                  \
                out[n * C + c] = pa[c] * v + pb[c];                                                       \
            }                                                                                             \
    }
/* The train-mode input gradient: dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)). */
#define BN_NARROW_GRAD(C)                                                                                \
    static void bn_row_grad_##C(float *din, const float *dout, const float *normalized,                 \
                                const float *scale, const float *mean_dy, const float *mean_dy_xhat,     \
                                int64_t N)                                                                \
    {                                                                                                     \
        float a[C], m[C], k[C];                                                                           \
        for (int c = 0; c < C; c++) {                                                                     \
            a[c] = scale[c];                                                                              \
            m[c] = mean_dy[c];                                                                            \
            k[c] = mean_dy_xhat[c];                                                                       \
        }                                                                                                 \
        for (int64_t n = 0; n < N; n++)                                                                   \
            for (int c = 0; c < C; c++)                                                                   \
                din[n * C + c] = a[c] * (dout[n * C + c] - m[c] - normalized[n * C + c] * k[c]);          \
    }
#define BN_NARROW_ALL(C) BN_NARROW(C) BN_NARROW_APPLY(C) BN_NARROW_GRAD(C)
BN_NARROW_ALL(1)
BN_NARROW_ALL(2)
BN_NARROW_ALL(3)
BN_NARROW_ALL(4)
typedef void (*bn_row_sums_fn)(double *, double *, const float *, const float *, double, int64_t);
static const bn_row_sums_fn bn_row_sums[BN_NARROW_MAX] = {bn_row_sums_1, bn_row_sums_2, bn_row_sums_3,
                                                          bn_row_sums_4};
typedef void (*bn_row_affine_fn)(float *, float *, const float *, const float *, const float *, const float *,
                                 const float *, int64_t);
static const bn_row_affine_fn bn_row_affine[BN_NARROW_MAX] = {bn_row_affine_1, bn_row_affine_2,
                                                              bn_row_affine_3, bn_row_affine_4};
typedef void (*bn_row_grad_fn)(float *, const float *, const float *, const float *, const float *, const float *,
                               int64_t);
static const bn_row_grad_fn bn_row_grad[BN_NARROW_MAX] = {bn_row_grad_1, bn_row_grad_2, bn_row_grad_3,
                                                          bn_row_grad_4};

/* out, normalized: (N, C, S); in: (N, C, S); mean, inv_std: (C) given; weight, bias: (C) */
LAP_KERNEL(batchnorm_apply, (float *out, float *normalized, const float *in, const float *mean,
                            const float *inv_std, const float *weight, const float *bias, int relu, int64_t N,
                            int64_t C, int64_t S),
           (out, normalized, in, mean, inv_std, weight, bias, relu, N, C, S),
{
    if (S == 1 && C <= BN_NARROW_MAX) {
        float shift[BN_NARROW_MAX];
        for (int64_t c = 0; c < C; c++)
            shift[c] = -mean[c];
        bn_row_affine[C - 1](out, normalized, in, inv_std, shift, weight, bias, N);
        if (relu)
            for (int64_t i = 0; i < N * C; i++)
                out[i] = out[i] > 0 ? out[i] : 0.0f;
        return;
    }
    PARALLEL_FOR2(N * C * S >= PARALLEL_MIN,
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *x = in + (n * C + c) * S;
            float *xhat = normalized ? normalized + (n * C + c) * S : NULL, *y = out + (n * C + c) * S;
            float m = mean[c], k = inv_std[c], w = weight[c], b = bias[c];
            if (!normalized && relu) {
                /* relu(batchnorm(x)) in one pass: the same roundings as the two passes */
                for (int64_t s = 0; s < S; s++) {
                    float v = w * ((x[s] - m) * k) + b;
                    y[s] = v > 0 ? v : 0.0f;
                }
                continue;
            }
            if (!normalized) {
                for (int64_t s = 0; s < S; s++)
                    y[s] = w * ((x[s] - m) * k) + b;
                continue;
            }
            for (int64_t s = 0; s < S; s++) {
                xhat[s] = (x[s] - m) * k;
                y[s] = w * xhat[s] + b;
            }
            if (relu)
                for (int64_t s = 0; s < S; s++)
                    y[s] = y[s] > 0 ? y[s] : 0.0f;
        });
})

/* Sums over count floats spaced by stride, in double, with four independent
 * accumulators: a single running sum is bound by the latency of the add. */
static double strided_sum(const float *x, int64_t count, int64_t stride)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        a0 += x[i * stride];
        a1 += x[(i + 1) * stride];
        a2 += x[(i + 2) * stride];
        a3 += x[(i + 3) * stride];
    }
    for (; i < count; i++)
        a0 += x[i * stride];
    return (a0 + a1) + (a2 + a3);
}

/* sum_i (x_i - center)^2 and sum_i x_i * y_i over strided floats, likewise. */
static double strided_deviation(const float *x, int64_t count, int64_t stride, double center)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        double d0 = x[i * stride] - center, d1 = x[(i + 1) * stride] - center;
        double d2 = x[(i + 2) * stride] - center, d3 = x[(i + 3) * stride] - center;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    for (; i < count; i++)
        a0 += (x[i * stride] - center) * (x[i * stride] - center);
    return (a0 + a1) + (a2 + a3);
}

static double strided_dot(const float *x, const float *y, int64_t count, int64_t stride)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        a0 += (double)x[i * stride] * y[i * stride];
        a1 += (double)x[(i + 1) * stride] * y[(i + 1) * stride];
        a2 += (double)x[(i + 2) * stride] * y[(i + 2) * stride];
        a3 += (double)x[(i + 3) * stride] * y[(i + 3) * stride];
    }
    for (; i < count; i++)
        a0 += (double)x[i * stride] * y[i * stride];
    return (a0 + a1) + (a2 + a3);
}

/* The same three sums over a contiguous row of an image plane (S values): float
 * accumulators in 8 lanes, so the loop is one vector add per 8 values, and the
 * row's total in double.  A row is a few hundred values: the float partial sums
 * lose nothing measurable, and the rows are summed in double. */
static double row_sum(const float *x, int64_t n)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            lanes[l] += x[i + l];
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < n; i++)
        total += x[i];
    return total;
}

static double row_deviation(const float *x, int64_t n, float center)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            lanes[l] += (x[i + l] - center) * (x[i + l] - center);
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < n; i++)
        total += (double)(x[i] - center) * (x[i] - center);
    return total;
}

static double row_dot(const float *x, const float *y, int64_t n)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            lanes[l] += x[i + l] * y[i + l];
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < n; i++)
        total += (double)x[i] * y[i];
    return total;
}

/* row_dot(y, x-hat) with x-hat = (x - mean) * inv_std computed on the way, rounded
 * as batchnorm_normalize rounds it, so the sum is the same bit for bit. */
static double row_dot_normalized(const float *y, const float *x, float mean, float inv_std, int64_t n)
{
    float lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            float xhat = (x[i + l] - mean) * inv_std;
            lanes[l] += y[i + l] * xhat;
        }
    double total = 0;
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    for (; i < n; i++)
        total += (double)y[i] * ((x[i] - mean) * inv_std);
    return total;
}

/* mean, var (biased): (C) out; in: (N, C, S).  Sums in double, two passes. */
LAP_KERNEL(batchnorm_statistics, (double *mean, double *var, const float *in, int64_t N, int64_t C, int64_t S),
           (mean, var, in, N, C, S),
{
    double count = (double)(N * S);
    if (S == 1 && C <= BN_NARROW_MAX) {
        /* One pass: sum and sum of squares in double.  float32 inputs of a
         * normalised-scale layer lose nothing measurable to the subtraction. */
        double sums[BN_NARROW_MAX], squares[BN_NARROW_MAX];
        bn_row_sums[C - 1](sums, squares, in, NULL, 0.0, N);
        for (int64_t c = 0; c < C; c++) {
            mean[c] = sums[c] / count;
            var[c] = squares[c] / count - mean[c] * mean[c];
            if (var[c] < 0)
                var[c] = 0;
        }
        return;
    }
    PARALLEL_FOR(N * C * S >= PARALLEL_MIN,
    for (int64_t c = 0; c < C; c++) {
        double sum = 0;
        if (S == 1) {
            sum = strided_sum(in + c, N, C);
        } else {
            for (int64_t n = 0; n < N; n++)
                sum += row_sum(in + (n * C + c) * S, S);
        }
        double mu = sum / count, squares = 0;
        if (S == 1) {
            squares = strided_deviation(in + c, N, C, mu);
        } else {
            for (int64_t n = 0; n < N; n++)
                squares += row_deviation(in + (n * C + c) * S, S, (float)mu);
        }
        mean[c] = mu;
        var[c] = squares / count;
    });
})

/* sum_dy, sum_dy_xhat: (C) out, the per-feature sums of dout and of dout * normalized;
 * dout, normalized: (N, C, S) */
LAP_KERNEL(batchnorm_grad_sums, (double *sum_dy, double *sum_dy_xhat, const float *dout, const float *normalized,
                                 const float *x, const float *mean, const float *inv_std, int64_t N, int64_t C,
                                 int64_t S),
           (sum_dy, sum_dy_xhat, dout, normalized, x, mean, inv_std, N, C, S),
{
    PARALLEL_FOR(N * C * S >= PARALLEL_MIN,
    for (int64_t c = 0; c < C; c++) {
        if (S == 1) {
            sum_dy[c] = strided_sum(dout + c, N, C);
            sum_dy_xhat[c] = strided_dot(dout + c, normalized + c, N, C);
        } else {
            sum_dy[c] = sum_dy_xhat[c] = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *dy = dout + (n * C + c) * S;
                sum_dy[c] += row_sum(dy, S);
                sum_dy_xhat[c] += normalized ? row_dot(dy, normalized + (n * C + c) * S, S)
                                             : row_dot_normalized(dy, x + (n * C + c) * S, mean[c], inv_std[c], S);
            }
        }
    });
})

/* The input gradient din = scale * (dout - mean_dy - normalized * mean_dy_xhat), per feature;
 * din, dout, normalized: (N, C, S); scale, mean_dy, mean_dy_xhat: (C) */
LAP_KERNEL(batchnorm_input_grad, (float *din, const float *dout, const float *normalized, const float *x,
                                  const float *mean, const float *inv_std, const float *scale, const float *mean_dy,
                                  const float *mean_dy_xhat, int64_t N, int64_t C, int64_t S),
           (din, dout, normalized, x, mean, inv_std, scale, mean_dy, mean_dy_xhat, N, C, S),
{
    PARALLEL_FOR2(N * C * S >= PARALLEL_MIN,
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *dy = dout + (n * C + c) * S;
            float *dx = din + (n * C + c) * S;
            float a = scale[c], m = mean_dy[c], k = mean_dy_xhat[c];
            if (normalized) {
                const float *xhat = normalized + (n * C + c) * S;
                for (int64_t s = 0; s < S; s++)
                    dx[s] = a * (dy[s] - m - xhat[s] * k);
            } else {
                const float *xr = x + (n * C + c) * S;
                float mu = mean[c], is = inv_std[c];
                for (int64_t s = 0; s < S; s++) {
                    float xhat = (xr[s] - mu) * is;   /* x-hat as the forward rounded it */
                    dx[s] = a * (dy[s] - m - xhat * k);
                }
            }
        });
})

/* din: (N, C, S) overwritten; dweight, dbias: (C) += or NULL; dout, normalized: (N, C, S);
 * weight, inv_std: (C).  batch_stats: the forward used batch statistics (train mode).
 * synced: they were the statistics of every rank's batch (sync_bn, dist.h): the
 * sums that the input gradient subtracts are then reduced over the ranks too (the
 * parameter gradients stay this rank's share; the trainer reduces them). */
static int batchnorm_backward(float *din, float *dweight, float *dbias, const float *dout,
                              const float *normalized, const float *x, const float *mean, const float *weight,
                              const float *inv_std,
                              int batch_stats, int synced, int64_t N, int64_t C, int64_t S, double *work,
                              float *work_float)
{
    double count = (double)(N * S);
    double *sum_dy = work, *sum_dy_xhat = work + C;   /* and work[2 C], the count, when synced */
    if (S == 1 && C <= BN_NARROW_MAX)
        bn_row_sums[C - 1](sum_dy, sum_dy_xhat, dout, normalized, 0.0, N);
    else
        batchnorm_grad_sums(sum_dy, sum_dy_xhat, dout, normalized, x, mean, inv_std, N, C, S);
    float *scale = work_float, *mean_dy = work_float + C, *mean_dy_xhat = work_float + 2 * C;
    for (int64_t c = 0; c < C; c++) {
        if (dweight)
            dweight[c] += (float)sum_dy_xhat[c];
        if (dbias)
            dbias[c] += (float)sum_dy[c];
    }
    if (synced) {
        work[2 * C] = count;
        if (lap_dist_allreduce_double(work, 2 * C + 1) != LAP_OK)
            return LAP_ERR;
        count = work[2 * C];
    }
    for (int64_t c = 0; c < C; c++) {
        scale[c] = weight[c] * inv_std[c];
        mean_dy[c] = batch_stats ? (float)(sum_dy[c] / count) : 0.0f;
        mean_dy_xhat[c] = batch_stats ? (float)(sum_dy_xhat[c] / count) : 0.0f;
    }
    if (S == 1 && C <= BN_NARROW_MAX) {
        bn_row_grad[C - 1](din, dout, normalized, scale, mean_dy, mean_dy_xhat, N);
        return LAP_OK;
    }
    batchnorm_input_grad(din, dout, normalized, x, mean, inv_std, scale, mean_dy, mean_dy_xhat, N, C, S);
    return LAP_OK;
}

/* sync_bn: the batch statistics of every rank's rows from this rank's (mean, var
 * of count values each): one reduction of the counts, the sums and the sums of
 * squares (count (var + mean^2)), in double, through sums (2 C + 1).  Returns the total count. */
static int batchnorm_sync_statistics(double *mean, double *var, double *count, double *sums, int64_t C)
{
    for (int64_t c = 0; c < C; c++) {
        sums[c] = *count * mean[c];
        sums[C + c] = *count * (var[c] + mean[c] * mean[c]);
    }
    sums[2 * C] = *count;
    if (lap_dist_allreduce_double(sums, 2 * C + 1) != LAP_OK)
        return LAP_ERR;
    *count = sums[2 * C];
    for (int64_t c = 0; c < C; c++) {
        mean[c] = sums[c] / *count;
        var[c] = sums[C + c] / *count - mean[c] * mean[c];
        if (var[c] < 0)
            var[c] = 0;
    }
    return LAP_OK;
}

static int batchnorm_fwd(lap_module *m, lap_tensor *input)
{
    batchnorm *bn = (batchnorm *)m;
    char shape[LAP_SHAPE_BUF];
    if (input->ndim < 2 || input->shape[1] != bn->features)
        return lap_error("BatchNorm: input of shape %s should be (batch, %lld, ...): expected %lld features",
                         lap_shape_str(input, shape, sizeof shape), (long long)bn->features,
                         (long long)bn->features);
    int64_t N, C, S;
    bn_dims(input, &N, &C, &S);
    int synced = m->training && lap_dist_sync_batchnorm();
    if (m->training && !synced && N * S < 2)
        return lap_error("BatchNorm: training needs more than 1 value per feature, got input of shape %s",
                         lap_shape_str(input, shape, sizeof shape));
    if (lap_tensor_ensure_like(&m->output, input) != LAP_OK ||
        (S == 1 && lap_tensor_ensure_like(&bn->normalized, input) != LAP_OK))
        return LAP_ERR;
    float *mean = bn->mean_used, *running_mean = lap_data(bn->running_mean), *running_var = lap_data(bn->running_var);
    if (m->training) {
        double *batch_mean = bn->work, *batch_var = bn->work + C;
        batchnorm_statistics(batch_mean, batch_var, lap_data(input), N, C, S);
        double count = (double)(N * S);
        if (synced && batchnorm_sync_statistics(batch_mean, batch_var, &count, bn->work + 2 * C, C) != LAP_OK)
            return LAP_ERR;
        if (count < 2)
            return lap_error("BatchNorm: training needs more than 1 value per feature, got %g over the ranks",
                             count);
        bn->synced = synced;
        for (int64_t c = 0; c < C; c++) {
            mean[c] = (float)batch_mean[c];
            bn->inv_std[c] = (float)(1.0 / sqrt(batch_var[c] + bn->eps));
            running_mean[c] = (float)((1 - bn->momentum) * running_mean[c] + bn->momentum * batch_mean[c]);
            running_var[c] = (float)((1 - bn->momentum) * running_var[c] +
                                     bn->momentum * batch_var[c] * count / (count - 1));
        }
    } else {
        for (int64_t c = 0; c < C; c++) {
            mean[c] = running_mean[c];
            bn->inv_std[c] = (float)(1.0 / sqrt((double)running_var[c] + bn->eps));
        }
    }
    batchnorm_apply(lap_data(m->output), S == 1 ? lap_data(bn->normalized) : NULL, lap_data(input), mean,
                    bn->inv_std, lap_data(m->params[0]), lap_data(m->params[1]), bn->fuse_relu, N, C, S);
    return LAP_OK;
}

int lap_batchnorm_eval_params(lap_module *m, const lap_tensor *input, const float **mean, const float **inv_std,
                              const float **weight, const float **bias)
{
    batchnorm *bn = (batchnorm *)m;
    if (!lap_batchnorm_is(m) || m->training || input->ndim < 2 || input->shape[1] != bn->features)
        return LAP_ERR;
    const float *running_mean = lap_data(bn->running_mean), *running_var = lap_data(bn->running_var);
    for (int64_t c = 0; c < bn->features; c++) {   /* as batchnorm_fwd in eval mode */
        bn->mean_used[c] = running_mean[c];
        bn->inv_std[c] = (float)(1.0 / sqrt((double)running_var[c] + bn->eps));
    }
    *mean = bn->mean_used;
    *inv_std = bn->inv_std;
    *weight = lap_data(m->params[0]);
    *bias = lap_data(m->params[1]);
    return LAP_OK;
}

static int batchnorm_bwd(lap_module *m, const lap_tensor *grad_output)
{
    batchnorm *bn = (batchnorm *)m;
    int64_t N, C, S;
    bn_dims(m->input, &N, &C, &S);
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    int learn = !m->frozen;
    /* (N, C) inputs keep x-hat from the forward; on images it is recomputed on the
     * way by the two passes that read it (not kept, not written). */
    const float *normalized = S == 1 ? lap_data(bn->normalized) : NULL;
    return batchnorm_backward(lap_data(m->grad_input), learn ? lap_data(m->grads[0]) : NULL,
                              learn ? lap_data(m->grads[1]) : NULL, lap_data(grad_output), normalized,
                              lap_data(m->input), bn->mean_used, lap_data(m->params[0]), bn->inv_std, m->training, m->training && bn->synced, N, C,
                              S, bn->work, bn->work_float);
}

static void batchnorm_destroy(lap_module *m)
{
    batchnorm *bn = (batchnorm *)m;
    lap_tensor_release(bn->normalized);
    free(bn->inv_std);
    free(bn->mean_used);
    free(bn->work);
    free(bn->work_float);
}

static void batchnorm_describe(const lap_module *m, char *buf, size_t size)
{
    const batchnorm *bn = (const batchnorm *)m;
    snprintf(buf, size, "BatchNorm(%lld, momentum %g, eps %g)%s", (long long)bn->features, bn->momentum,
             bn->eps, m->frozen ? " frozen" : "");
}

/* weight 1, bias 0: the identity until trained, as torch's reset_parameters. */
static int batchnorm_reset(lap_module *m)
{
    lap_fill(lap_data(m->params[0]), 1.0f, lap_numel(m->params[0]));
    lap_fill(lap_data(m->params[1]), 0.0f, lap_numel(m->params[1]));
    return LAP_OK;
}

static const lap_field batchnorm_fields[] = {
    {"features", LAP_FIELD_INT64, offsetof(batchnorm, features), 0, NULL},
    {"momentum", LAP_FIELD_DOUBLE, offsetof(batchnorm, momentum), 0, NULL},
    {"eps", LAP_FIELD_DOUBLE, offsetof(batchnorm, eps), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* weight, bias, running mean and variance */
static double batchnorm_floats(const double *v) { return 4 * v[0]; }

const lap_module_ops lap_batchnorm_ops = {
    .type = "BatchNorm", .forward = batchnorm_fwd, .backward = batchnorm_bwd, .destroy = batchnorm_destroy,
    .describe = batchnorm_describe, .fields = batchnorm_fields, .reset = batchnorm_reset,
    .config_floats = batchnorm_floats,
};

lap_module *lap_batchnorm_from_config(const lap_config *c)
{
    return lap_batchnorm_new((int64_t)c->values[0], c->values[1], c->values[2]);
}

lap_module *lap_batchnorm_new(int64_t features, double momentum, double eps)
{
    if (features <= 0) {
        lap_error("BatchNorm: number of features must be positive, got %lld", (long long)features);
        return NULL;
    }
    if (!(momentum >= 0 && momentum <= 1) || !(eps > 0 && isfinite(eps))) {
        lap_error("BatchNorm: momentum must be in [0, 1] and eps finite and > 0, got %g and %g", momentum, eps);
        return NULL;
    }
    batchnorm *bn = lap_calloc(1, sizeof *bn);
    if (!bn)
        return NULL;
    lap_module_init(&bn->base, &lap_batchnorm_ops);
    bn->features = features;
    bn->momentum = momentum;
    bn->eps = eps;
    bn->inv_std = lap_calloc((size_t)features, sizeof(float));
    bn->mean_used = lap_calloc((size_t)features, sizeof(float));
    bn->work = lap_calloc(4 * (size_t)features + 1, sizeof(double));
    bn->work_float = lap_calloc((size_t)features, 3 * sizeof(float));
    if (!bn->inv_std || !bn->mean_used || !bn->work || !bn->work_float ||
        lap_module_add_param(&bn->base, "weight", lap_tensor_new(1, &features)) != LAP_OK ||
        lap_module_add_param(&bn->base, "bias", lap_tensor_new(1, &features)) != LAP_OK ||
        lap_module_add_buffer(&bn->base, "running_mean", lap_tensor_new(1, &features)) != LAP_OK ||
        lap_module_add_buffer(&bn->base, "running_var", lap_tensor_new(1, &features)) != LAP_OK) {
        lap_module_release(&bn->base);
        return NULL;
    }
    bn->running_mean = bn->base.buffers[0];
    bn->running_var = bn->base.buffers[1];
    lap_fill(lap_data(bn->running_var), 1.0f, features);
    batchnorm_reset(&bn->base);
    return &bn->base;
}

lap_tensor *lap_batchnorm_running_mean(lap_module *m)
{
    return m && m->ops == &lap_batchnorm_ops ? ((batchnorm *)m)->running_mean : NULL;
}

lap_tensor *lap_batchnorm_running_var(lap_module *m)
{
    return m && m->ops == &lap_batchnorm_ops ? ((batchnorm *)m)->running_var : NULL;
}

/* Recomputes relu(batchnorm(input)) into the BatchNorm's (evicted) output. */
int lap_batchnorm_relu_recompute(lap_module *m)
{
    batchnorm *bn = (batchnorm *)m;
    lap_tensor *out = m->output;
    if (lap_module_check_forward(m, "recomputation") != LAP_OK ||
        lap_tensor_ensure(&out, out->ndim, out->shape) != LAP_OK)
        return LAP_ERR;
    int64_t N, C, S;
    bn_dims(m->input, &N, &C, &S);
    batchnorm_apply(lap_data(out), NULL, lap_data(m->input), bn->mean_used, bn->inv_std, lap_data(m->params[0]),
                    lap_data(m->params[1]), 1, N, C, S);
    return LAP_OK;
}

void lap_batchnorm_fuse_relu(lap_module *m, int on) { ((batchnorm *)m)->fuse_relu = on; }
