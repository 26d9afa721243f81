/* activations.c: the elementwise activations ReLU (also in place, like torch's
 * ReLU(inplace=True)), Tanh and Sigmoid: f(x) forward, f'(x) written as a function
 * of y = f(x) backward, so only the output is kept.
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

static const lap_field relu_fields[] = {
    {"inplace", LAP_FIELD_BOOL, offsetof(activation, inplace), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

const lap_module_ops lap_relu_ops = {.type = "ReLU", .forward = activation_fwd, .backward = activation_bwd,
                                     .fields = relu_fields};
const lap_module_ops lap_tanh_ops = {.type = "Tanh", .forward = activation_fwd, .backward = activation_bwd};
const lap_module_ops lap_sigmoid_ops = {.type = "Sigmoid", .forward = activation_fwd, .backward = activation_bwd};

static lap_module *activation_new(const lap_module_ops *ops, activation_kind kind)
{
    activation *a = lap_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    lap_module_init(&a->base, ops);
    a->kind = kind;
    return &a->base;
}

lap_module *lap_relu_new(void) { return activation_new(&lap_relu_ops, ACT_RELU); }

int lap_relu_is_inplace(const lap_module *m)
{
    return m && m->ops == &lap_relu_ops && ((const activation *)m)->inplace;
}

lap_module *lap_relu_inplace_new(void)
{
    lap_module *m = activation_new(&lap_relu_ops, ACT_RELU);
    if (m)
        ((activation *)m)->inplace = 1;
    return m;
}
lap_module *lap_tanh_new(void) { return activation_new(&lap_tanh_ops, ACT_TANH); }
lap_module *lap_sigmoid_new(void) { return activation_new(&lap_sigmoid_ops, ACT_SIGMOID); }

lap_module *lap_relu_from_config(const lap_config *c) { return c->values[0] ? lap_relu_inplace_new() : lap_relu_new(); }
lap_module *lap_tanh_from_config(const lap_config *c) { return lap_tanh_new(); }
lap_module *lap_sigmoid_from_config(const lap_config *c) { return lap_sigmoid_new(); }
