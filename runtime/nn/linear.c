/* linear.c: Linear, y = x W^T + b on (N, IN) inputs, like torch.nn.Linear.
 *
 * An explicit forward/backward kernel pair (outputs first, sizes last, gradients
 * of parameters accumulate) wrapped in the Module contract; narrow layers (the
 * paper's 2-D blocks) get loops with their sizes known at compile time.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "nn/module.h"
#include "nn/registry.h"

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

static const lap_field linear_fields[] = {
    {"in", LAP_FIELD_INT64, offsetof(linear, in_features), 0, NULL},
    {"out", LAP_FIELD_INT64, offsetof(linear, out_features), 0, NULL},
    {"bias", LAP_FIELD_BOOL, offsetof(linear, has_bias), 1, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* weight and bias */
static double linear_floats(const double *v) { return v[0] * v[1] + (v[2] ? v[1] : 0); }

const lap_module_ops lap_linear_ops = {
    .type = "Linear", .forward = linear_fwd, .backward = linear_bwd, .describe = linear_describe,
    .fields = linear_fields, .config_floats = linear_floats,
};

lap_module *lap_linear_from_config(const lap_config *c)
{
    return lap_linear_new((int64_t)c->values[0], (int64_t)c->values[1], (int)c->values[2]);
}

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
    lap_module_init(&l->base, &lap_linear_ops);
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
