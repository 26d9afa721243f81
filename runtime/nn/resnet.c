/* resnet.c: the residual network container (see resnet.h).
 *
 * Forward and backward are written for the flow x_{k+1} = x_k + h v_k(x_k): the
 * gradient of a state is carried down the blocks, and each block receives
 * h * dL/dx_{k+1} + weight * dC/dv_k, so the transport cost's gradient is added
 * where the displacement is produced rather than through an autograd graph.
 */
#include "nn/resnet.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/parallel.h"
#include "nn/registry.h"

extern const lap_module_ops lap_resnet_ops;

lap_resnet *lap_as_resnet(lap_module *m)
{
    return m && m->ops == &lap_resnet_ops ? (lap_resnet *)m : NULL;
}

/* Adds this container's path to a child's error: "ResNet.block[3].Linear[1]: ...". */
static int wrap_child_error(lap_module *child, const char *label, int index)
{
    if (child->nchildren > 0)
        return lap_error_wrap("ResNet", label, index);
    char path[64];
    if (index > 0)
        snprintf(path, sizeof path, "ResNet.%s[%d]", label, index);
    else
        snprintf(path, sizeof path, "ResNet.%s", label);
    return lap_error_wrap(path, NULL, 0);
}

static int resnet_fwd(lap_module *m, lap_tensor *input)
{
    lap_resnet *net = (lap_resnet *)m;
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    lap_tensor *x = input;
    if (net->encoder) {
        if (lap_module_forward(net->encoder, x) != LAP_OK)
            return wrap_child_error(net->encoder, "encoder", 0);
        x = net->encoder->output;
    }
    /* x_0 is the encoder's output (or the input) itself, kept by reference:
     * nothing overwrites it before the next forward. */
    if (net->states[0] != x) {
        lap_tensor_release(net->states[0]);
        net->states[0] = lap_tensor_retain(x);
    }
    int64_t count = lap_numel(x);
    float h = (float)net->step;
    net->transport_cost = 0;
    /* Inference keeps no x_k: x_1 .. x_K are summed into states[1] in place (the
     * block has read x_k by then); not with relu_after, whose displacement needs both. */
    int running_state = lap_inference_active() && !net->relu_after;
    int failed = 0;
    int fused = lap_inference_active() ? 0 : lap_resnet_fused_forward(net, x, &failed);
    if (fused < 0)
        return wrap_child_error(net->blocks[failed], "block", failed + 1);
    if (!fused)
        lap_resnet_plan_drop(net);
    for (int k = 0; k < net->nblocks && !fused; k++) {
        lap_tensor *state = net->states[k];
        lap_module *block = net->blocks[k];
        int target = running_state && k > 0 ? 1 : k + 1;
        if (running_state && k > 0)
            state = net->states[1];
        if (lap_module_forward(block, state) != LAP_OK)
            return wrap_child_error(block, "block", k + 1);
        if (!lap_same_shape(block->output, state))
            return lap_error("ResNet.block[%d]: output of shape %s differs from its input of shape %s "
                             "(a residual block must keep the shape)",
                             k + 1, lap_shape_str(block->output, a, sizeof a), lap_shape_str(state, b, sizeof b));
        if (lap_tensor_ensure_like(&net->states[target], state) != LAP_OK)
            return LAP_ERR;
        if (net->relu_after) {
            if (lap_tensor_ensure_like(&net->displacements[k], state) != LAP_OK)
                return LAP_ERR;
        } else if (net->displacements[k] != block->output) {
            /* The displacement is the branch output itself: the block keeps that
             * buffer until the next forward, so it is shared, not copied. */
            lap_tensor_release(net->displacements[k]);
            net->displacements[k] = lap_tensor_retain(block->output);
        }
        const float *xk = lap_data(state), *v = lap_data(block->output);
        float *next = lap_data(net->states[target]), *d = lap_data(net->displacements[k]);
        if (net->relu_after) {
            if (lap_tensor_ensure_like(&net->sums[k], state) != LAP_OK)
                return LAP_ERR;
            float *sum = lap_data(net->sums[k]);
            for (int64_t i = 0; i < count; i++) {
                sum[i] = xk[i] + h * v[i];
                next[i] = sum[i] > 0 ? sum[i] : 0.0f;
                d[i] = next[i] - xk[i];
            }
        } else {
            PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
            for (int64_t i = 0; i < count; i++)
                next[i] = xk[i] + h * v[i];);
        }
        net->block_squares[k] = lap_sum_squares(d, count);
        net->block_cost[k] = lap_transport_cost_of(&net->transport, net->block_squares[k], d, count);
        net->transport_cost += net->block_cost[k];
        if (running_state)
            lap_tensor_evict(block->output);   /* v_k: its cost is taken, nothing reads it again */
    }
    if (!fused && !lap_inference_active())
        lap_resnet_plan_forward(net, x);
    lap_tensor *last = net->states[running_state && net->nblocks > 1 ? 1 : net->nblocks];
    if (running_state)
        for (int k = 2; k <= net->nblocks; k++)
            if (net->states[k])
                lap_tensor_evict(net->states[k]);   /* left from a training forward */
    lap_tensor *out = last;
    if (net->classifier) {
        if (lap_module_forward(net->classifier, last) != LAP_OK)
            return wrap_child_error(net->classifier, "classifier", 0);
        out = net->classifier->output;
    }
    if (m->output != out) {
        lap_tensor_release(m->output);
        m->output = lap_tensor_retain(out);
    }
    return LAP_OK;
}

int lap_resnet_check_state(const lap_resnet *net, const char *what)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (lap_module_check_forward(&net->base, what) != LAP_OK)
        return LAP_ERR;
    /* The recorded states and displacements are partly the children's own buffers
     * (x_0 is the encoder's output, a displacement a block's output): a child run on
     * its own since then has reshaped them. */
    const lap_tensor *first = net->states[0];
    for (int k = 0; k < net->nblocks; k++) {
        const lap_tensor *other = !lap_same_shape(net->states[k + 1], first) ? net->states[k + 1]
                                  : !lap_same_shape(net->displacements[k], first) ? net->displacements[k]
                                  : NULL;
        if (other)
            return lap_error("ResNet: %s needs the states of the last forward, of shape %s, but block %d's has "
                             "since become %s (a part of the network ran on its own; call forward again)",
                             what, lap_shape_str(first, a, sizeof a), k + 1, lap_shape_str(other, b, sizeof b));
    }
    return LAP_OK;
}

static int resnet_bwd(lap_module *m, const lap_tensor *grad_output)
{
    lap_resnet *net = (lap_resnet *)m;
    /* A current plan means no block ran on its own since the forward: the states
     * and displacements have their shapes. */
    int planned = lap_resnet_plan_current(net);
    if ((planned ? lap_module_check_forward(m, "backward") : lap_resnet_check_state(net, "backward")) != LAP_OK)
        return LAP_ERR;
    lap_tensor *last = net->states[net->nblocks];
    const lap_tensor *grad_last = grad_output;
    if (net->classifier) {
        if (lap_module_backward(net->classifier, grad_output) != LAP_OK)
            return wrap_child_error(net->classifier, "classifier", 0);
        grad_last = net->classifier->grad_input;
    }
    if (lap_tensor_ensure_like(&net->grad_state, last) != LAP_OK ||
        lap_tensor_ensure_like(&net->grad_branch, last) != LAP_OK)
        return LAP_ERR;
    int64_t count = lap_numel(last);
    float h = (float)net->step;
    float *grad = lap_data(net->grad_state), *branch = lap_data(net->grad_branch);
    lap_copy(grad, lap_data(grad_last), count);
    if (net->classifier)
        lap_module_drop_grad_input(net->classifier);
    int failed = 0;
    int fused = planned ? lap_resnet_fused_backward(net, grad, branch, &failed) : 0;
    if (fused < 0)
        return wrap_child_error(net->blocks[failed], "block", failed + 1);
    for (int k = net->nblocks - 1; k >= 0 && !fused; k--) {
        const float *d = lap_data(net->displacements[k]);
        lap_module *block = net->blocks[k];
        if (net->relu_after) {
            /* x_{k+1} = relu(s), s = x_k + h v, d = x_{k+1} - x_k: the cost reaches
             * x_{k+1} with +dC/dd and x_k with -dC/dd. */
            if (lap_tensor_ensure_like(&net->grad_cost, last) != LAP_OK)
                return LAP_ERR;
            float *grad_cost = lap_data(net->grad_cost);
            const float *sum = lap_data(net->sums[k]);
            lap_fill(grad_cost, 0.0f, count);
            lap_transport_grad(grad_cost, &net->transport, d, count, net->block_cost[k], net->transport_weight);
            for (int64_t i = 0; i < count; i++) {
                float through = sum[i] > 0 ? grad[i] + grad_cost[i] : 0.0f;
                grad[i] = through - grad_cost[i];   /* identity path, then the -dC/dd term */
                branch[i] = h * through;
            }
        } else {
            PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
            for (int64_t i = 0; i < count; i++)
                branch[i] = h * grad[i];);
            lap_transport_grad(branch, &net->transport, d, count, net->block_cost[k], net->transport_weight);
        }
        if (lap_module_backward(block, net->grad_branch) != LAP_OK)
            return wrap_child_error(block, "block", k + 1);
        lap_axpy(grad, 1.0f, lap_data(block->grad_input), count);
        lap_module_drop_grad_input(block);
    }
    if (planned && !fused)
        lap_resnet_plan_backward(net);
    lap_tensor *grad_input = net->grad_state;
    if (net->encoder) {
        if (lap_module_backward(net->encoder, net->grad_state) != LAP_OK)
            return wrap_child_error(net->encoder, "encoder", 0);
        grad_input = net->encoder->grad_input;
    }
    if (m->grad_input != grad_input) {
        lap_tensor_release(m->grad_input);
        m->grad_input = lap_tensor_retain(grad_input);
    }
    return LAP_OK;
}

static void resnet_destroy(lap_module *m)
{
    lap_resnet *net = (lap_resnet *)m;
    for (int k = 0; k <= net->nblocks; k++)
        lap_tensor_release(net->states[k]);
    for (int k = 0; k < net->nblocks; k++) {
        lap_tensor_release(net->displacements[k]);
        lap_tensor_release(net->sums[k]);
    }
    free(net->states);
    free(net->displacements);
    free(net->sums);
    free(net->block_cost);
    free(net->block_squares);
    free(net->blocks);          /* the blocks themselves are children */
    lap_tensor_release(net->grad_state);
    lap_tensor_release(net->grad_branch);
    lap_tensor_release(net->grad_cost);
    lap_resnet_plan_free(net);
}

static void resnet_describe(const lap_module *m, char *buf, size_t size)
{
    const lap_resnet *net = (const lap_resnet *)m;
    char form[32];
    if (net->transport.form == LAP_TRANSPORT_FROBENIUS)
        snprintf(form, sizeof form, "frobenius");
    else
        snprintf(form, sizeof form, "mean, p = %g", net->transport.p);
    snprintf(buf, size, "ResNet(%d blocks, step %g%s, transport %s)", net->nblocks, net->step,
             net->relu_after ? ", relu after the sum" : "", form);
}

static const char *const transport_names[] = {"mean", "frobenius", NULL};   /* lap_transport_form */

static const lap_field resnet_fields[] = {
    {"step", LAP_FIELD_DOUBLE, offsetof(lap_resnet, step), 0, NULL},
    {"relu_after", LAP_FIELD_BOOL, offsetof(lap_resnet, relu_after), 0, NULL},
    {"transport", LAP_FIELD_ENUM, offsetof(lap_resnet, transport.form), 0, transport_names},
    {"p", LAP_FIELD_DOUBLE, offsetof(lap_resnet, transport.p), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const lap_child_slot resnet_slots[] = {
    {"encoder", "encoder", 0}, {"blocks", "block", 1}, {"classifier", "classifier", 0}, {NULL, NULL, 0},
};

const lap_module_ops lap_resnet_ops = {
    .type = "ResNet", .forward = resnet_fwd, .backward = resnet_bwd, .destroy = resnet_destroy,
    .describe = resnet_describe, .fields = resnet_fields, .slots = resnet_slots,
};

lap_module *lap_resnet_new(lap_module *encoder, lap_module **blocks, int nblocks, lap_module *classifier,
                           double step, int relu_after, lap_transport transport)
{
    if (nblocks < 0) {
        lap_error("ResNet: number of blocks must be >= 0, got %d", nblocks);
        return NULL;
    }
    if (transport.form == LAP_TRANSPORT_MEAN && !(transport.p > 0 && isfinite(transport.p))) {
        lap_error("ResNet: transport exponent p must be finite and > 0, got %g", transport.p);
        return NULL;
    }
    if (!isfinite(step)) {
        lap_error("ResNet: step must be finite, got %g", step);
        return NULL;
    }
    lap_resnet *net = lap_calloc(1, sizeof *net);
    if (!net)
        return NULL;
    lap_module_init(&net->base, &lap_resnet_ops);
    net->nblocks = nblocks;
    net->step = step;
    net->relu_after = relu_after;
    net->transport = transport;
    net->states = lap_calloc((size_t)nblocks + 1, sizeof *net->states);
    net->displacements = lap_calloc((size_t)nblocks + 1, sizeof *net->displacements);
    net->sums = lap_calloc((size_t)nblocks + 1, sizeof *net->sums);
    net->block_cost = lap_calloc((size_t)nblocks + 1, sizeof *net->block_cost);
    net->block_squares = lap_calloc((size_t)nblocks + 1, sizeof *net->block_squares);
    net->blocks = lap_calloc((size_t)nblocks + 1, sizeof *net->blocks);
    if (!net->states || !net->displacements || !net->sums || !net->block_cost || !net->block_squares || !net->blocks)
        goto fail;
    if (encoder) {
        if (lap_module_add_child(&net->base, encoder, "encoder") != LAP_OK)
            goto fail;
        net->encoder = encoder;
    }
    for (int k = 0; k < nblocks; k++) {
        if (!blocks[k]) {
            lap_error("ResNet: block %d is missing", k + 1);
            goto fail;
        }
        if (lap_module_add_child(&net->base, blocks[k], "block") != LAP_OK)
            goto fail;
        net->blocks[k] = blocks[k];
    }
    if (classifier) {
        if (lap_module_add_child(&net->base, classifier, "classifier") != LAP_OK)
            goto fail;
        net->classifier = classifier;
    }
    return &net->base;
fail:
    lap_module_release(&net->base);
    return NULL;
}

lap_module *lap_resnet_from_config(const lap_config *c)
{
    lap_module *encoder = NULL, *classifier = NULL;
    lap_module **blocks = lap_calloc((size_t)c->nchildren + 1, sizeof *blocks);
    if (!blocks)
        return NULL;
    int nblocks = 0;
    for (int i = 0; i < c->nchildren; i++) {
        const char *label = c->labels[i];
        if (strcmp(label, "encoder") == 0)
            encoder = c->children[i];
        else if (strcmp(label, "classifier") == 0)
            classifier = c->children[i];
        else
            blocks[nblocks++] = c->children[i];
    }
    lap_transport transport = {(lap_transport_form)c->values[2], c->values[3]};
    lap_module *net = lap_resnet_new(encoder, blocks, nblocks, classifier, c->values[0], (int)c->values[1], transport);
    free(blocks);
    return net;
}
