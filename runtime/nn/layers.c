/* layers.c: the elementary modules: Linear, BatchNorm, ReLU, Tanh, Sigmoid, Sequential.
 *
 * Each layer is an explicit forward/backward kernel pair (outputs first, sizes
 * last, gradients of parameters accumulate) wrapped in the Module contract.
 * Linear takes (N, IN) inputs.  BatchNorm normalizes dim 1 of (N, C) or
 * (N, C, ...) inputs, like PyTorch's BatchNorm1d/2d: batch statistics in train
 * mode (biased variance to normalize, unbiased in the running estimate), running
 * statistics in eval mode.  Buffers are reused across calls: a steady training
 * loop allocates nothing here.  Under a distributed trainer with sync_bn
 * (dist.h) BatchNorm's batch statistics are those of every rank's rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/error.h"
#include "nn/module.h"
#include "core/kernels.h"
#include "core/parallel.h"

/* ------------------------------------------------------------------ Linear */

typedef struct linear {
    lap_module base;
    int64_t in_features, out_features;
    int has_bias;
} linear;

/* Narrow layers (the paper's 2-D blocks are 2x2) are much faster as loops over the
 * batch with the layer's sizes known at compile time (the weights and gradient
 * accumulators then live in registers) than as sgemm calls, whose fixed cost
 * dominates at these sizes.  NARROW_KERNEL instantiates them for sizes up to 4. */
#define NARROW_MAX 4

#define NARROW_KERNEL(IN, OUT)                                                                            \
    static void linear_forward_##IN##x##OUT(float *out, const float *in, const float *weight,              \
                                            const float *bias, int64_t N)                                  \
    {                                                                                                      \
        float w[OUT][IN], b[OUT];                                                                          \
        for (int o = 0; o < OUT; o++) {                                                                    \
            b[o] = bias ? bias[o] : 0.0f;                                                                  \
            for (int i = 0; i < IN; i++)                                                                   \
                w[o][i] = weight[o * IN + i];                                                              \
        }                                                                                                  \
        for (int64_t n = 0; n < N; n++)                                                                    \
            for (int o = 0; o < OUT; o++) {                                                                \
                float sum = b[o];                                                                          \
                for (int i = 0; i < IN; i++)                                                               \
                    sum += w[o][i] * in[n * IN + i];                                                       \
                out[n * OUT + o] = sum;                                                                    \
            }                                                                                              \
    }                                                                                                      \
    static void linear_backward_##IN##x##OUT(float *din, float *dweight, float *dbias, const float *dout,  \
                                             const float *in, const float *weight, int64_t N)              \
    {                                                                                                      \
        /* Rows go in pairs with separate accumulators, halving the add-latency chain. */                \
        float w[OUT][IN], dw[2][OUT][IN] = {{{0}}}, db[2][OUT] = {{0}};                                    \
        for (int o = 0; o < OUT; o++)                                                                      \
            for (int i = 0; i < IN; i++)                                                                   \
                w[o][i] = weight[o * IN + i];                                                              \
        int64_t n = 0;                                                                                     \
        for (; n + 2 <= N; n += 2)                                                                         \
            for (int r = 0; r < 2; r++) {                                                                  \
                float dx[IN] = {0};                                                                        \
                for (int o = 0; o < OUT; o++) {                                                            \
                    float g = dout[(n + r) * OUT + o];                                                     \
                    db[r][o] += g;                                                                         \
                    for (int i = 0; i < IN; i++) {                                                         \
                        dx[i] += g * w[o][i];                                                              \
                        dw[r][o][i] += g * in[(n + r) * IN + i];                                           \
                    }                                                                                      \
                }                                                                                          \
                for (int i = 0; i < IN; i++)                                                               \
                    din[(n + r) * IN + i] = dx[i];                                                         \
            }                                                                                              \
        for (; n < N; n++) {                                                                               \
            float dx[IN] = {0};                                                                            \
            for (int o = 0; o < OUT; o++) {                                                                \
                float g = dout[n * OUT + o];                                                               \
                db[0][o] += g;                                                                             \
                for (int i = 0; i < IN; i++) {                                                             \
                    dx[i] += g * w[o][i];                                                                  \
                    dw[0][o][i] += g * in[n * IN + i];                                                     \
                }                                                                                          \
            }                                                                                              \
            for (int i = 0; i < IN; i++)                                                                   \
                din[n * IN + i] = dx[i];                                                                   \
        }                                                                                                  \
        if (dweight)                                                                                       \
            for (int o = 0; o < OUT; o++)                                                                  \
                for (int i = 0; i < IN; i++)                                                               \
                    dweight[o * IN + i] += dw[0][o][i] + dw[1][o][i];                                      \
        if (dbias)                                                                                         \
            for (int o = 0; o < OUT; o++)                                                                  \
                dbias[o] += db[0][o] + db[1][o];                                                           \
    }

#define NARROW_ROW(IN) NARROW_KERNEL(IN, 1) NARROW_KERNEL(IN, 2) NARROW_KERNEL(IN, 3) NARROW_KERNEL(IN, 4)
NARROW_ROW(1)
NARROW_ROW(2)
NARROW_ROW(3)
NARROW_ROW(4)

typedef void (*narrow_forward_fn)(float *, const float *, const float *, const float *, int64_t);
typedef void (*narrow_backward_fn)(float *, float *, float *, const float *, const float *, const float *, int64_t);
#define NARROW_ENTRY(IN) {linear_forward_##IN##x1, linear_forward_##IN##x2, linear_forward_##IN##x3, linear_forward_##IN##x4}
#define NARROW_BENTRY(IN) {linear_backward_##IN##x1, linear_backward_##IN##x2, linear_backward_##IN##x3, linear_backward_##IN##x4}
static const narrow_forward_fn narrow_forward[NARROW_MAX][NARROW_MAX] = {NARROW_ENTRY(1), NARROW_ENTRY(2),
                                                                         NARROW_ENTRY(3), NARROW_ENTRY(4)};
static const narrow_backward_fn narrow_backward[NARROW_MAX][NARROW_MAX] = {NARROW_BENTRY(1), NARROW_BENTRY(2),
                                                                           NARROW_BENTRY(3), NARROW_BENTRY(4)};

static int is_narrow(int64_t IN, int64_t OUT) { return IN <= NARROW_MAX && OUT <= NARROW_MAX; }

/* out: (N, OUT), in: (N, IN), weight: (OUT, IN), bias: (OUT) or NULL */
static void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                           int64_t N, int64_t IN, int64_t OUT)
{
    if (is_narrow(IN, OUT)) {
        narrow_forward[IN - 1][OUT - 1](out, in, weight, bias, N);
        return;
    }
    lap_gemm(out, in, weight, 0, 1, N, OUT, IN, 1.0f, 0.0f);
    if (bias)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < OUT; o++)
                out[n * OUT + o] += bias[o];
}

/* din: (N, IN) overwritten; dweight: (OUT, IN) +=; dbias: (OUT) += or NULL;
 * dout: (N, OUT), in: (N, IN), weight: (OUT, IN).  dweight NULL skips parameter grads. */
static void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                            const float *in, const float *weight, int64_t N, int64_t IN, int64_t OUT)
{
    if (is_narrow(IN, OUT)) {
        narrow_backward[IN - 1][OUT - 1](din, dweight, dbias, dout, in, weight, N);
        return;
    }
    lap_gemm(din, dout, weight, 0, 0, N, IN, OUT, 1.0f, 0.0f);
    if (dweight)
        lap_gemm(dweight, dout, in, 1, 0, OUT, IN, N, 1.0f, 1.0f);
    if (dbias)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < OUT; o++)
                dbias[o] += dout[n * OUT + o];
}

static int linear_check(linear *l, const lap_tensor *input)
{
    char shape[LAP_SHAPE_BUF], wshape[LAP_SHAPE_BUF];
    if (input->ndim != 2)
        return lap_error("Linear: input of shape %s must be 2-D (batch, %lld features)",
                         lap_shape_str(input, shape, sizeof shape), (long long)l->in_features);
    if (input->shape[1] != l->in_features)
        return lap_error("Linear: input of shape %s has %lld features, expected %lld (weight of shape %s)",
                         lap_shape_str(input, shape, sizeof shape), (long long)input->shape[1],
                         (long long)l->in_features, lap_shape_str(l->base.params[0], wshape, sizeof wshape));
    return LAP_OK;
}

static int linear_fwd(lap_module *m, lap_tensor *input)
{
    linear *l = (linear *)m;
    if (linear_check(l, input) != LAP_OK)
        return LAP_ERR;
    int64_t N = input->shape[0];
    int64_t shape[2] = {N, l->out_features};
    if (lap_tensor_ensure(&m->output, 2, shape) != LAP_OK)
        return LAP_ERR;
    linear_forward(lap_data(m->output), lap_data(input), lap_data(m->params[0]),
                   l->has_bias ? lap_data(m->params[1]) : NULL, N, l->in_features, l->out_features);
    return LAP_OK;
}

static int linear_bwd(lap_module *m, const lap_tensor *grad_output)
{
    linear *l = (linear *)m;
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    int learn = !m->frozen;
    linear_backward(lap_data(m->grad_input), learn ? lap_data(m->grads[0]) : NULL,
                    learn && l->has_bias ? lap_data(m->grads[1]) : NULL, lap_data(grad_output),
                    lap_data(m->input), lap_data(m->params[0]), m->input->shape[0], l->in_features,
                    l->out_features);
    return LAP_OK;
}

static void linear_describe(const lap_module *m, char *buf, size_t size)
{
    const linear *l = (const linear *)m;
    snprintf(buf, size, "Linear(%lld -> %lld%s)%s", (long long)l->in_features, (long long)l->out_features,
             l->has_bias ? "" : ", no bias", m->frozen ? " frozen" : "");
}

static const lap_module_ops linear_ops = {"Linear", linear_fwd, linear_bwd, NULL, linear_describe};

lap_module *lap_linear_new(int64_t in_features, int64_t out_features, int bias)
{
    if (in_features <= 0 || out_features <= 0) {
        lap_error("Linear: sizes must be positive, got %lld -> %lld", (long long)in_features,
                  (long long)out_features);
        return NULL;
    }
    linear *l = lap_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    lap_module_init(&l->base, &linear_ops);
    l->in_features = in_features;
    l->out_features = out_features;
    l->has_bias = bias;
    if (lap_module_add_param(&l->base, "weight", lap_tensor_new2(out_features, in_features)) != LAP_OK ||
        (bias && lap_module_add_param(&l->base, "bias", lap_tensor_new(1, &out_features)) != LAP_OK)) {
        lap_module_release(&l->base);
        return NULL;
    }
    return &l->base;
}

/* --------------------------------------------------------------- BatchNorm */

typedef struct batchnorm {
    lap_module base;
    int64_t features;
    double momentum, eps;
    lap_tensor *running_mean, *running_var;
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
    lap_tensor_release(bn->running_mean);
    lap_tensor_release(bn->running_var);
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

static const lap_module_ops batchnorm_ops = {"BatchNorm", batchnorm_fwd, batchnorm_bwd, batchnorm_destroy,
                                             batchnorm_describe};

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
    lap_module_init(&bn->base, &batchnorm_ops);
    bn->features = features;
    bn->momentum = momentum;
    bn->eps = eps;
    bn->running_mean = lap_tensor_new(1, &features);
    bn->running_var = lap_tensor_new(1, &features);
    bn->inv_std = lap_calloc((size_t)features, sizeof(float));
    bn->mean_used = lap_calloc((size_t)features, sizeof(float));
    bn->work = lap_calloc(4 * (size_t)features + 1, sizeof(double));
    bn->work_float = lap_calloc((size_t)features, 3 * sizeof(float));
    lap_tensor *weight = lap_tensor_new(1, &features);
    if (!bn->running_mean || !bn->running_var || !bn->inv_std || !bn->mean_used || !bn->work || !bn->work_float ||
        !weight) {
        lap_tensor_release(weight);
        lap_module_release(&bn->base);
        return NULL;
    }
    lap_fill(lap_data(weight), 1.0f, features);
    lap_fill(lap_data(bn->running_var), 1.0f, features);
    if (lap_module_add_param(&bn->base, "weight", weight) != LAP_OK ||
        lap_module_add_param(&bn->base, "bias", lap_tensor_new(1, &features)) != LAP_OK) {
        lap_module_release(&bn->base);
        return NULL;
    }
    return &bn->base;
}

lap_tensor *lap_batchnorm_running_mean(lap_module *m)
{
    return m && m->ops == &batchnorm_ops ? ((batchnorm *)m)->running_mean : NULL;
}

lap_tensor *lap_batchnorm_running_var(lap_module *m)
{
    return m && m->ops == &batchnorm_ops ? ((batchnorm *)m)->running_var : NULL;
}

/* ------------------------------------------------------------- activations */

/* The three activations differ only in f(x) and f'(x) written as a function of y = f(x). */
typedef enum { ACT_RELU, ACT_TANH, ACT_SIGMOID } activation_kind;

typedef struct activation {
    lap_module base;
    activation_kind kind;
    int inplace;     /* ReLU only: the output overwrites the input (torch's ReLU(inplace=True)) */
} activation;

/* out: (count); in: (count) */
LAP_KERNEL(activation_forward, (float *restrict out, const float *restrict in, activation_kind kind, int64_t count),
           (out, in, kind, count),
{
    switch (kind) {
    case ACT_RELU:
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            out[i] = in[i] > 0 ? in[i] : 0.0f;);
        break;
    case ACT_TANH:
        PARALLEL_FOR(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            out[i] = tanhf(in[i]););
        break;
    case ACT_SIGMOID:
        PARALLEL_FOR(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            out[i] = 1.0f / (1.0f + expf(-in[i])););
        break;
    }
})

/* din: (count) overwritten; dout, out: (count) */
LAP_KERNEL(activation_backward, (float *restrict din, const float *restrict dout, const float *restrict out,
                                activation_kind kind, int64_t count),
           (din, dout, out, kind, count),
{
    switch (kind) {
    case ACT_RELU:
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++) {
            float g = dout[i];   /* loaded unconditionally, so the select needs no branch */
            din[i] = out[i] > 0 ? g : 0.0f;
        });
        break;
    case ACT_TANH:
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            din[i] = dout[i] * (1.0f - out[i] * out[i]););
        break;
    case ACT_SIGMOID:
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            din[i] = dout[i] * out[i] * (1.0f - out[i]););
        break;
    }
})

/* x: (count) overwritten by relu(x) */
LAP_KERNEL(relu_inplace, (float *x, int64_t count), (x, count),
{
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++)
        x[i] = x[i] > 0 ? x[i] : 0.0f;);
})

/* g: (count) overwritten by the ReLU's input gradient; out: (count) its output */
LAP_KERNEL(relu_grad_inplace, (float *g, const float *out, int64_t count), (g, out, count),
{
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++)
        g[i] = out[i] > 0 ? g[i] : 0.0f;);
})

static int activation_fwd(lap_module *m, lap_tensor *input)
{
    if (((activation *)m)->inplace) {
        /* The output is the input's own storage: one activation-sized buffer less.
         * The backward pass needs only the output, so nothing is lost. */
        if (m->output != input) {
            lap_tensor_release(m->output);
            m->output = lap_tensor_retain(input);
        }
        relu_inplace(lap_data(input), lap_numel(input));
        return LAP_OK;
    }
    if (lap_tensor_ensure_like(&m->output, input) != LAP_OK)
        return LAP_ERR;
    activation_forward(lap_data(m->output), lap_data(input), ((activation *)m)->kind, lap_numel(input));
    return LAP_OK;
}

static int activation_bwd(lap_module *m, const lap_tensor *grad_output)
{
    if (((activation *)m)->inplace) {
        /* In place here too: the gradient overwrites grad_output, which in a
         * network is the next module's input gradient, dead once consumed. */
        lap_tensor *grad = (lap_tensor *)grad_output;
        if (m->grad_input != grad) {
            lap_tensor_release(m->grad_input);
            m->grad_input = lap_tensor_retain(grad);
        }
        relu_grad_inplace(lap_data(grad), lap_data(m->output), lap_numel(grad));
        return LAP_OK;
    }
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    activation_backward(lap_data(m->grad_input), lap_data(grad_output), lap_data(m->output),
                        ((activation *)m)->kind, lap_numel(grad_output));
    return LAP_OK;
}

static const lap_module_ops relu_ops = {"ReLU", activation_fwd, activation_bwd, NULL, NULL};
static const lap_module_ops tanh_ops = {"Tanh", activation_fwd, activation_bwd, NULL, NULL};
static const lap_module_ops sigmoid_ops = {"Sigmoid", activation_fwd, activation_bwd, NULL, NULL};

static lap_module *activation_new(const lap_module_ops *ops, activation_kind kind)
{
    activation *a = lap_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    lap_module_init(&a->base, ops);
    a->kind = kind;
    return &a->base;
}

lap_module *lap_relu_new(void) { return activation_new(&relu_ops, ACT_RELU); }

int lap_relu_is_inplace(const lap_module *m)
{
    return lap_module_is(m, "ReLU") && ((const activation *)m)->inplace;
}

lap_module *lap_relu_inplace_new(void)
{
    lap_module *m = activation_new(&relu_ops, ACT_RELU);
    if (m)
        ((activation *)m)->inplace = 1;
    return m;
}
lap_module *lap_tanh_new(void) { return activation_new(&tanh_ops, ACT_TANH); }
lap_module *lap_sigmoid_new(void) { return activation_new(&sigmoid_ops, ACT_SIGMOID); }

/* -------------------------------------------------------------- Sequential */

/* Memory: in training, the output of a BatchNorm over (N, C, ...) followed by an
 * in-place ReLU (the input of the next module, in the paper's blocks a convolution)
 * is not kept from the forward to the backward pass: it is evicted once the next
 * module's forward has run, recomputed from the BatchNorm's input and the statistics
 * its forward used just before the next module's backward, and evicted again once
 * the ReLU's backward is done.  The recomputation repeats the forward's arithmetic,
 * so values are bit for bit the same; it costs one elementwise pass per BatchNorm
 * and saves one activation per BatchNorm (CIFAR ResNet9: 17 of 13 MB). */
static int recomputes_output(const lap_module *seq, int i)
{
    /* Called for every child in both passes: pointer tests, no string compares. */
    if (!seq->training || i < 0 || i + 2 >= seq->nchildren || seq->children[i]->ops != &batchnorm_ops ||
        seq->children[i + 1]->ops != &relu_ops || !((const activation *)seq->children[i + 1])->inplace)
        return 0;
    const lap_tensor *out = seq->children[i]->output;
    return out && out == seq->children[i + 1]->output && out->ndim >= 3 && lap_numel(out) >= PARALLEL_MIN;
}

/* A BatchNorm followed by an in-place ReLU computes relu(batchnorm(x)) in one pass
 * (one read and one write of the activation less); the ReLU then only records it. */
static int fuses_relu(const lap_module *seq, int i)
{
    return i + 1 < seq->nchildren && seq->children[i]->ops == &batchnorm_ops &&
           seq->children[i + 1]->ops == &relu_ops && ((const activation *)seq->children[i + 1])->inplace;
}


/* Recomputes relu(batchnorm(input)) into the BatchNorm's (evicted) output. */
static int batchnorm_relu_recompute(lap_module *m)
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

static int sequential_fwd(lap_module *m, lap_tensor *input)
{
    if (m->nchildren == 0)
        return lap_error("Sequential: no modules");
    lap_tensor *x = input;
    int inference = lap_inference_active();
    for (int i = 0; i < m->nchildren; i++) {
        lap_module *child = m->children[i];
        int fused = fuses_relu(m, i);
        if (fused)
            ((batchnorm *)child)->fuse_relu = 1;
        int status = lap_module_forward(child, x);
        if (fused)
            ((batchnorm *)child)->fuse_relu = 0;
        if (status != LAP_OK)
            return lap_error_wrap("Sequential", NULL, i + 1);
        if (inference && i > 0 && m->children[i - 1]->output != child->output && m->children[i - 1]->output != input)
            lap_tensor_evict(m->children[i - 1]->output);   /* consumed; kept by nobody else */
        x = child->output;
        if (fused) {
            /* The ReLU's output is already in x: it only takes it as input and output. */
            i++;
            lap_module_adopt_forward(m->children[i], x, x);
        }
        if (recomputes_output(m, i - 2))
            lap_tensor_evict(m->children[i - 2]->output);
    }
    /* The output is the last child's buffer, shared (one more reference). */
    if (m->output != x) {
        lap_tensor_release(m->output);
        m->output = lap_tensor_retain(x);
    }
    return LAP_OK;
}

static int sequential_bwd(lap_module *m, const lap_tensor *grad_output)
{
    const lap_tensor *grad = grad_output;
    for (int i = m->nchildren - 1; i >= 0; i--) {
        if (recomputes_output(m, i - 2) && lap_tensor_is_evicted(m->children[i - 2]->output) &&
            batchnorm_relu_recompute(m->children[i - 2]) != LAP_OK)
            return lap_error_wrap("Sequential", NULL, i - 1);
        if (lap_module_backward(m->children[i], grad) != LAP_OK)
            return lap_error_wrap("Sequential", NULL, i + 1);
        if (recomputes_output(m, i - 1))
            lap_tensor_evict(m->children[i - 1]->output);
        /* Child i+1's gradient has been consumed: its memory can serve the next one. */
        if (i + 1 < m->nchildren)
            lap_module_drop_grad_input(m->children[i + 1]);
        grad = m->children[i]->grad_input;
    }
    if (m->grad_input != grad) {
        lap_tensor_release(m->grad_input);
        m->grad_input = lap_tensor_retain((lap_tensor *)grad);
    }
    return LAP_OK;
}

static const lap_module_ops sequential_ops = {"Sequential", sequential_fwd, sequential_bwd, NULL, NULL};

lap_module *lap_sequential_new(void)
{
    lap_module *m = lap_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    lap_module_init(m, &sequential_ops);
    return m;
}
