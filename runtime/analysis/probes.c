/* probes.c: quiet passes (eval mode, frozen, no transport gradient) and the probes
 * built on them: input gradients, a ResNet's state gradients, block alignment,
 * displacement norms, per-point line shapes (runtime/analysis/probes.h).
 *
 * The state gradients walk a ResNet's blocks backwards as its own backward pass
 * does (resnet.c), keeping dL/dx_k at every k instead of only the running one;
 * with a transport weight of 0 the recursion is dL/dx_k = dL/dx_{k+1} +
 * J_k^T (h dL/dx_{k+1}) (through the ReLU's mask when relu_after).  A test checks
 * that its k = 0 end agrees with the whole network's backward.
 */
#include "analysis/probes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/resnet.h"
#include "train/cross_entropy.h"

/* ---- quiet passes ---- */

static int count_module(lap_module *m, void *context)
{
    (void)m;
    (*(int *)context)++;
    return LAP_OK;
}

static int save_module(lap_module *m, void *context)
{
    lap_quiet_pass *pass = context;
    int i = pass->count++;
    lap_resnet *net = lap_as_resnet(m);
    pass->modules[i] = m;
    pass->training[i] = m->training;
    pass->frozen[i] = m->frozen;
    pass->transport_weight[i] = net ? net->transport_weight : 0.0;
    m->training = 0;
    m->frozen = 1;
    if (net)
        net->transport_weight = 0.0;
    return LAP_OK;
}

int lap_quiet_begin(lap_quiet_pass *pass, lap_module *net)
{
    memset(pass, 0, sizeof *pass);
    int total = 0;
    lap_module_visit(net, count_module, &total);
    pass->modules = lap_calloc((size_t)total, sizeof *pass->modules);
    pass->training = lap_calloc((size_t)total, sizeof *pass->training);
    pass->frozen = lap_calloc((size_t)total, sizeof *pass->frozen);
    pass->transport_weight = lap_calloc((size_t)total, sizeof *pass->transport_weight);
    if (!pass->modules || !pass->training || !pass->frozen || !pass->transport_weight) {
        lap_quiet_end(pass);
        return LAP_ERR;
    }
    lap_module_visit(net, save_module, pass);
    return LAP_OK;
}

void lap_quiet_end(lap_quiet_pass *pass)
{
    /* Backwards, so that a module reached twice (shared) gets its first saved state. */
    for (int i = pass->count - 1; i >= 0; i--) {
        lap_module *m = pass->modules[i];
        lap_resnet *net = lap_as_resnet(m);
        m->training = pass->training[i];
        m->frozen = pass->frozen[i];
        if (net)
            net->transport_weight = pass->transport_weight[i];
    }
    free(pass->modules);
    free(pass->training);
    free(pass->frozen);
    free(pass->transport_weight);
    memset(pass, 0, sizeof *pass);
}

/* ---- the loss at the logits ---- */

/* Forward of x (already in a quiet pass) and the mean cross-entropy's gradient at
 * the logits into *grad_logits (N, C). */
static int forward_loss(lap_tensor **grad_logits, double *loss, int64_t *correct, lap_module *net, lap_tensor *x,
                        const int32_t *labels, const char *what)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (x->ndim < 1)
        return lap_error("%s: input of shape %s needs a batch dimension", what, lap_shape_str(x, a, sizeof a));
    if (lap_module_forward(net, x) != LAP_OK)
        return LAP_ERR;
    const lap_tensor *logits = net->output;
    if (logits->ndim != 2 || logits->shape[0] != x->shape[0])
        return lap_error("%s: the network maps input of shape %s to output of shape %s, expected logits (%lld, classes)",
                         what, lap_shape_str(x, a, sizeof a), lap_shape_str(logits, b, sizeof b),
                         (long long)x->shape[0]);
    if (lap_tensor_ensure_like(grad_logits, logits) != LAP_OK)
        return LAP_ERR;
    double value;
    if (lap_cross_entropy(&value, lap_data(*grad_logits), correct, lap_data(logits), labels, logits->shape[0],
                          logits->shape[1], 1.0) != LAP_OK) {
        char message[256];
        snprintf(message, sizeof message, "%s", lap_last_error());
        return lap_error("%s: %s", what, message);
    }
    if (loss)
        *loss = value;
    return LAP_OK;
}

int lap_input_gradient(lap_tensor *grad_input, double *loss, int64_t *correct, lap_module *net, lap_tensor *x,
                       const int32_t *labels)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (lap_numel(grad_input) != lap_numel(x))
        return lap_error("input_gradient: gradient buffer of shape %s for input of shape %s",
                         lap_shape_str(grad_input, a, sizeof a), lap_shape_str(x, b, sizeof b));
    lap_quiet_pass pass;
    if (lap_quiet_begin(&pass, net) != LAP_OK)
        return LAP_ERR;
    lap_tensor *grad_logits = NULL;
    int status = forward_loss(&grad_logits, loss, correct, net, x, labels, "input_gradient");
    if (status == LAP_OK)
        status = lap_module_backward(net, grad_logits);
    if (status == LAP_OK)
        lap_copy(lap_data(grad_input), lap_data(net->grad_input), lap_numel(x));
    lap_tensor_release(grad_logits);
    lap_quiet_end(&pass);
    return status;
}

/* ---- ResNet state gradients ---- */

static int state_gradients(lap_tensor **state_grads, double *loss, lap_resnet *net, lap_tensor *x,
                           const int32_t *labels)
{
    lap_tensor *grad_logits = NULL;
    int K = net->nblocks, status = LAP_ERR;
    if (forward_loss(&grad_logits, loss, NULL, &net->base, x, labels, "state_gradients") != LAP_OK)
        goto done;
    const lap_tensor *grad_last = grad_logits;
    if (net->classifier) {
        if (lap_module_backward(net->classifier, grad_logits) != LAP_OK)
            goto done;
        grad_last = net->classifier->grad_input;
    }
    if (lap_tensor_ensure_like(&state_grads[K], net->states[K]) != LAP_OK)
        goto done;
    int64_t count = lap_numel(net->states[K]);
    lap_copy(lap_data(state_grads[K]), lap_data(grad_last), count);
    float h = (float)net->step;
    for (int k = K - 1; k >= 0; k--) {
        if (lap_tensor_ensure_like(&state_grads[k], net->states[k]) != LAP_OK ||
            lap_tensor_ensure_like(&net->grad_branch, net->states[k]) != LAP_OK)
            goto done;
        const float *after = lap_data(state_grads[k + 1]);
        float *grad = lap_data(state_grads[k]), *branch = lap_data(net->grad_branch);
        for (int64_t i = 0; i < count; i++) {
            /* relu_after: x_{k+1} = relu(s) passes the gradient where s > 0 only */
            float through = !net->relu_after || lap_data(net->sums[k])[i] > 0 ? after[i] : 0.0f;
            grad[i] = through;
            branch[i] = h * through;
        }
        if (lap_module_backward(net->blocks[k], net->grad_branch) != LAP_OK)
            goto done;
        lap_axpy(grad, 1.0f, lap_data(net->blocks[k]->grad_input), count);
    }
    status = LAP_OK;
done:
    lap_tensor_release(grad_logits);
    return status;
}

static lap_resnet *need_resnet(lap_module *net, const char *what)
{
    lap_resnet *resnet = lap_as_resnet(net);
    if (!resnet)
        lap_error("%s: needs a ResNet, got a %s", what, net->ops->type);
    return resnet;
}

int lap_state_gradients(lap_tensor **state_grads, double *loss, lap_module *net, lap_tensor *x,
                        const int32_t *labels)
{
    lap_resnet *resnet = need_resnet(net, "state_gradients");
    lap_quiet_pass pass;
    if (!resnet || lap_quiet_begin(&pass, net) != LAP_OK)
        return LAP_ERR;
    int status = state_gradients(state_grads, loss, resnet, x, labels);
    lap_quiet_end(&pass);
    return status;
}

/* ---- per-point, per-block summaries ---- */

static double dot(const float *a, const float *b, int64_t n)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)a[i] * b[i];
    return sum;
}

int lap_block_alignment(double *cosines, lap_module *net, lap_tensor *x, const int32_t *labels)
{
    lap_resnet *resnet = need_resnet(net, "block_alignment");
    if (!resnet)
        return LAP_ERR;
    int K = resnet->nblocks;
    lap_tensor **grads = lap_calloc((size_t)K + 1, sizeof *grads);
    if (!grads)
        return LAP_ERR;
    int status = lap_state_gradients(grads, NULL, net, x, labels);
    if (status == LAP_OK) {
        int64_t N = lap_rows(resnet->states[0]), D = lap_cols(resnet->states[0]);
        for (int k = 0; k < K; k++)
            for (int64_t i = 0; i < N; i++) {
                const float *v = lap_data(resnet->displacements[k]) + i * D, *g = lap_data(grads[k]) + i * D;
                double vv = dot(v, v, D), gg = dot(g, g, D);
                cosines[i * K + k] = vv > 0 && gg > 0 ? -dot(v, g, D) / sqrt(vv * gg) : NAN;
            }
    }
    for (int k = 0; k <= K; k++)
        lap_tensor_release(grads[k]);
    free(grads);
    return status;
}

int lap_displacement_norms(double *norms, lap_module *net, lap_tensor *x)
{
    lap_resnet *resnet = need_resnet(net, "displacement_norms");
    lap_quiet_pass pass;
    if (!resnet || lap_quiet_begin(&pass, net) != LAP_OK)
        return LAP_ERR;
    int status = lap_module_forward(net, x);
    lap_quiet_end(&pass);
    if (status != LAP_OK)
        return LAP_ERR;
    int K = resnet->nblocks;
    int64_t N = lap_rows(resnet->states[0]), D = lap_cols(resnet->states[0]);
    for (int k = 0; k < K; k++)
        for (int64_t i = 0; i < N; i++) {
            const float *v = lap_data(resnet->displacements[k]) + i * D;
            norms[i * K + k] = sqrt(dot(v, v, D));
        }
    return LAP_OK;
}

void lap_line_shape_points(double *scores, const float *const *states, int K, int64_t N, int64_t D)
{
    for (int64_t i = 0; i < N; i++) {
        double path = 0, end = 0;
        for (int k = 0; k < K; k++) {
            double step = 0;
            for (int64_t j = 0; j < D; j++) {
                double d = (double)states[k + 1][i * D + j] - states[k][i * D + j];
                step += d * d;
            }
            path += sqrt(step);
        }
        for (int64_t j = 0; j < D; j++) {
            double d = (double)states[K][i * D + j] - states[0][i * D + j];
            end += d * d;
        }
        end = sqrt(end);
        scores[i] = end < 1e-12 ? NAN : path / end;
    }
}
