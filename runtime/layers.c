/* layers.c: the elementary modules: Linear, BatchNorm, ReLU, Tanh, Sigmoid, Sequential.
 *
 * Each layer is an explicit forward/backward kernel pair (outputs first, sizes
 * last, gradients of parameters accumulate) wrapped in the Module contract.
 * Linear takes (N, IN) inputs.  BatchNorm normalizes dim 1 of (N, C) or
 * (N, C, ...) inputs, like PyTorch's BatchNorm1d/2d: batch statistics in train
 * mode (biased variance to normalize, unbiased in the running estimate), running
 * statistics in eval mode.  Buffers are reused across calls: a steady training
 * loop allocates nothing here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "module.h"

/* ------------------------------------------------------------------ Linear */

typedef struct linear {
    lap_module base;
    int64_t in_features, out_features;
    int has_bias;
} linear;

/* out: (N, OUT), in: (N, IN), weight: (OUT, IN), bias: (OUT) or NULL */
static void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                           int64_t N, int64_t IN, int64_t OUT)
{
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
    lap_tensor *normalized;     /* x_hat, shape of the input */
    float *inv_std;             /* per feature, of the last forward */
} batchnorm;

/* x viewed as (N, C, S). */
static void bn_dims(const lap_tensor *x, int64_t *N, int64_t *C, int64_t *S)
{
    *N = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++)
        *S *= x->shape[d];
}

/* out, normalized: (N, C, S); in: (N, C, S); mean, inv_std: (C) given; weight, bias: (C) */
static void batchnorm_apply(float *out, float *normalized, const float *in, const float *mean,
                            const float *inv_std, const float *weight, const float *bias, int64_t N,
                            int64_t C, int64_t S)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *x = in + (n * C + c) * S;
            float *xhat = normalized + (n * C + c) * S, *y = out + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) {
                xhat[s] = (x[s] - mean[c]) * inv_std[c];
                y[s] = weight[c] * xhat[s] + bias[c];
            }
        }
}

/* mean, var (biased): (C) out; in: (N, C, S) */
static void batchnorm_statistics(double *mean, double *var, const float *in, int64_t N, int64_t C, int64_t S)
{
    double count = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *x = in + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++)
                sum += x[s];
        }
        double mu = sum / count, squares = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *x = in + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++)
                squares += (x[s] - mu) * (x[s] - mu);
        }
        mean[c] = mu;
        var[c] = squares / count;
    }
}

/* din: (N, C, S) overwritten; dweight, dbias: (C) += or NULL; dout, normalized: (N, C, S);
 * weight, inv_std: (C).  batch_stats: the forward used batch statistics (train mode). */
static void batchnorm_backward(float *din, float *dweight, float *dbias, const float *dout,
                               const float *normalized, const float *weight, const float *inv_std,
                               int batch_stats, int64_t N, int64_t C, int64_t S)
{
    double count = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *dy = dout + (n * C + c) * S, *xhat = normalized + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) {
                sum_dy += dy[s];
                sum_dy_xhat += dy[s] * xhat[s];
            }
        }
        if (dweight)
            dweight[c] += (float)sum_dy_xhat;
        if (dbias)
            dbias[c] += (float)sum_dy;
        double scale = weight[c] * inv_std[c];
        double mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
        for (int64_t n = 0; n < N; n++) {
            const float *dy = dout + (n * C + c) * S, *xhat = normalized + (n * C + c) * S;
            float *dx = din + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++)
                dx[s] = batch_stats ? (float)(scale * (dy[s] - mean_dy - xhat[s] * mean_dy_xhat))
                                    : (float)(scale * dy[s]);
        }
    }
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
    if (m->training && N * S < 2)
        return lap_error("BatchNorm: training needs more than 1 value per feature, got input of shape %s",
                         lap_shape_str(input, shape, sizeof shape));
    if (lap_tensor_ensure_like(&m->output, input) != LAP_OK ||
        lap_tensor_ensure_like(&bn->normalized, input) != LAP_OK)
        return LAP_ERR;
    float mean[C], *running_mean = lap_data(bn->running_mean), *running_var = lap_data(bn->running_var);
    if (m->training) {
        double batch_mean[C], batch_var[C];
        batchnorm_statistics(batch_mean, batch_var, lap_data(input), N, C, S);
        double count = (double)(N * S);
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
    batchnorm_apply(lap_data(m->output), lap_data(bn->normalized), lap_data(input), mean, bn->inv_std,
                    lap_data(m->params[0]), lap_data(m->params[1]), N, C, S);
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
    batchnorm_backward(lap_data(m->grad_input), learn ? lap_data(m->grads[0]) : NULL,
                       learn ? lap_data(m->grads[1]) : NULL, lap_data(grad_output), lap_data(bn->normalized),
                       lap_data(m->params[0]), bn->inv_std, m->training, N, C, S);
    return LAP_OK;
}

static void batchnorm_destroy(lap_module *m)
{
    batchnorm *bn = (batchnorm *)m;
    lap_tensor_release(bn->running_mean);
    lap_tensor_release(bn->running_var);
    lap_tensor_release(bn->normalized);
    free(bn->inv_std);
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
    if (!(momentum >= 0 && momentum <= 1) || !(eps > 0)) {
        lap_error("BatchNorm: momentum must be in [0, 1] and eps > 0, got %g and %g", momentum, eps);
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
    lap_tensor *weight = lap_tensor_new(1, &features);
    if (!bn->running_mean || !bn->running_var || !bn->inv_std || !weight) {
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
    return lap_module_is(m, "BatchNorm") ? ((batchnorm *)m)->running_mean : NULL;
}

lap_tensor *lap_batchnorm_running_var(lap_module *m)
{
    return lap_module_is(m, "BatchNorm") ? ((batchnorm *)m)->running_var : NULL;
}

/* ------------------------------------------------------------- activations */

/* The three activations differ only in f(x) and f'(x) written as a function of y = f(x). */
typedef enum { ACT_RELU, ACT_TANH, ACT_SIGMOID } activation_kind;

typedef struct activation {
    lap_module base;
    activation_kind kind;
} activation;

/* out: (count); in: (count) */
static void activation_forward(float *out, const float *in, activation_kind kind, int64_t count)
{
    switch (kind) {
    case ACT_RELU:
        for (int64_t i = 0; i < count; i++)
            out[i] = in[i] > 0 ? in[i] : 0.0f;
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < count; i++)
            out[i] = tanhf(in[i]);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < count; i++)
            out[i] = 1.0f / (1.0f + expf(-in[i]));
        break;
    }
}

/* din: (count) overwritten; dout, out: (count) */
static void activation_backward(float *din, const float *dout, const float *out, activation_kind kind,
                                int64_t count)
{
    switch (kind) {
    case ACT_RELU:
        for (int64_t i = 0; i < count; i++)
            din[i] = out[i] > 0 ? dout[i] : 0.0f;
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < count; i++)
            din[i] = dout[i] * (1.0f - out[i] * out[i]);
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < count; i++)
            din[i] = dout[i] * out[i] * (1.0f - out[i]);
        break;
    }
}

static int activation_fwd(lap_module *m, lap_tensor *input)
{
    if (lap_tensor_ensure_like(&m->output, input) != LAP_OK)
        return LAP_ERR;
    activation_forward(lap_data(m->output), lap_data(input), ((activation *)m)->kind, lap_numel(input));
    return LAP_OK;
}

static int activation_bwd(lap_module *m, const lap_tensor *grad_output)
{
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
lap_module *lap_tanh_new(void) { return activation_new(&tanh_ops, ACT_TANH); }
lap_module *lap_sigmoid_new(void) { return activation_new(&sigmoid_ops, ACT_SIGMOID); }

/* -------------------------------------------------------------- Sequential */

static int sequential_fwd(lap_module *m, lap_tensor *input)
{
    if (m->nchildren == 0)
        return lap_error("Sequential: no modules");
    lap_tensor *x = input;
    for (int i = 0; i < m->nchildren; i++) {
        if (lap_module_forward(m->children[i], x) != LAP_OK)
            return lap_error_wrap("Sequential", NULL, i + 1);
        x = m->children[i]->output;
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
        if (lap_module_backward(m->children[i], grad) != LAP_OK)
            return lap_error_wrap("Sequential", NULL, i + 1);
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
