/* sequential.c: Sequential, the chain of modules, like torch.nn.Sequential.
 *
 * It also owns two memory savings that need to see two neighbours at once: a
 * BatchNorm followed by an in-place ReLU runs as one fused pass, and in training
 * the BatchNorm's output is recomputed for the backward pass instead of kept.
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
    if (!seq->training || i < 0 || i + 2 >= seq->nchildren || !lap_batchnorm_is(seq->children[i]) ||
        !lap_relu_is_inplace(seq->children[i + 1]))
        return 0;
    const lap_tensor *out = seq->children[i]->output;
    return out && out == seq->children[i + 1]->output && out->ndim >= 3 && lap_numel(out) >= PARALLEL_MIN;
}

/* A BatchNorm followed by an in-place ReLU computes relu(batchnorm(x)) in one pass
 * (one read and one write of the activation less); the ReLU then only records it. */
static int fuses_relu(const lap_module *seq, int i)
{
    return i + 1 < seq->nchildren && lap_batchnorm_is(seq->children[i]) &&
           lap_relu_is_inplace(seq->children[i + 1]);
}


/* In inference, an eval-mode BatchNorm, a ReLU and a Winograd Conv2d run as one
 * convolution that applies the other two as it reads its input (module.h): one
 * pass over the activation less, the same numbers bit for bit. */
static int fuses_into_conv(const lap_module *seq, int i, const lap_tensor *x)
{
    return i + 2 < seq->nchildren && lap_batchnorm_is(seq->children[i]) && !seq->children[i]->training &&
           lap_relu_is_inplace(seq->children[i + 1]) && lap_conv2d_fuses_input_affine(seq->children[i + 2], x);
}

static int sequential_fwd(lap_module *m, lap_tensor *input)
{
    if (m->nchildren == 0)
        return lap_error("Sequential: no modules");
    lap_tensor *x = input;
    int inference = lap_inference_active();
    for (int i = 0; i < m->nchildren; i++) {
        lap_module *child = m->children[i];
        const float *mean, *inv_std, *weight, *bias;
        if (inference && fuses_into_conv(m, i, x) &&
            lap_batchnorm_eval_params(child, x, &mean, &inv_std, &weight, &bias) == LAP_OK) {
            lap_module *conv = m->children[i + 2];
            if (lap_conv2d_forward_affine_relu(conv, x, mean, inv_std, weight, bias) != LAP_OK)
                return lap_error_wrap("Sequential", NULL, i + 3);
            if (x != input && x != conv->output)
                lap_tensor_evict(x);   /* consumed; kept by nobody else */
            x = conv->output;
            i += 2;
            continue;
        }
        int fused = fuses_relu(m, i);
        if (fused)
            lap_batchnorm_fuse_relu(child, 1);
        int status = lap_module_forward(child, x);
        if (fused)
            lap_batchnorm_fuse_relu(child, 0);
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
            lap_batchnorm_relu_recompute(m->children[i - 2]) != LAP_OK)
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

static const lap_child_slot sequential_slots[] = {{"children", NULL, 1}, {NULL, NULL, 0}};

const lap_module_ops lap_sequential_ops = {.type = "Sequential", .forward = sequential_fwd,
                                           .backward = sequential_bwd, .slots = sequential_slots};

lap_module *lap_sequential_new(void)
{
    lap_module *m = lap_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    lap_module_init(m, &lap_sequential_ops);
    return m;
}

lap_module *lap_sequential_from_config(const lap_config *c)
{
    lap_module *m = lap_sequential_new();
    for (int i = 0; m && i < c->nchildren; i++)
        if (lap_module_add_child(m, c->children[i], NULL) != LAP_OK) {
            lap_module_release(m);
            return NULL;
        }
    return m;
}
