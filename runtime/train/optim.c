/* optim.c: SGD and Adam (see optim.h for the exact update rules). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kernels.h"
#include "core/parallel.h"

lap_optim_config lap_sgd_defaults(void)
{
    lap_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = LAP_OPTIM_SGD;
    c.lr = 0.01;
    c.gamma = 0.1;
    return c;
}

lap_optim_config lap_adam_defaults(void)
{
    lap_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = LAP_OPTIM_ADAM;
    c.lr = 0.001;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.gamma = 0.1;
    return c;
}

static void unbind(lap_optimizer *o)
{
    for (int i = 0; i < o->nparams; i++) {
        lap_tensor_release(o->params[i]);
        lap_tensor_release(o->grads[i]);
        lap_tensor_release(o->state1[i]);
        lap_tensor_release(o->state2[i]);
    }
    lap_tensor_release(o->flat_params);
    lap_tensor_release(o->flat_grads);
    lap_tensor_release(o->flat_state1);
    lap_tensor_release(o->flat_state2);
    o->flat_params = o->flat_grads = o->flat_state1 = o->flat_state2 = NULL;
    free(o->params);
    free(o->grads);
    free(o->state1);
    free(o->state2);
    o->params = o->grads = o->state1 = o->state2 = NULL;
    o->nparams = 0;
}

int lap_optim_lr_ok(double lr) { return lr >= 0 && isfinite(lr); }

lap_optimizer *lap_optimizer_new(const lap_optim_config *config)
{
    const char *name = config->kind == LAP_OPTIM_SGD ? "optim.SGD" : "optim.Adam";
    if (!lap_optim_lr_ok(config->lr)) {
        lap_error("%s: lr must be >= 0, got %g", name, config->lr);
        return NULL;
    }
    if (!(config->momentum >= 0 && isfinite(config->momentum)) ||
        !(config->weight_decay >= 0 && isfinite(config->weight_decay))) {
        lap_error("%s: momentum and weight_decay must be finite and >= 0, got %g and %g", name, config->momentum,
                  config->weight_decay);
        return NULL;
    }
    if (!isfinite(config->dampening) || !(config->gamma >= 0 && isfinite(config->gamma))) {
        lap_error("%s: dampening must be finite and gamma finite and >= 0, got %g and %g", name, config->dampening,
                  config->gamma);
        return NULL;
    }
    if (config->kind == LAP_OPTIM_ADAM &&
        !(config->beta1 >= 0 && config->beta1 < 1 && config->beta2 >= 0 && config->beta2 < 1 && config->eps >= 0 &&
          isfinite(config->eps))) {
        lap_error("optim.Adam: betas must be in [0, 1) and eps finite and >= 0, got (%g, %g) and %g", config->beta1,
                  config->beta2, config->eps);
        return NULL;
    }
    if (config->nesterov && (config->momentum <= 0 || config->dampening != 0)) {
        lap_error("optim.SGD: nesterov needs momentum > 0 and dampening 0");
        return NULL;
    }
    for (int i = 1; i < config->nmilestones; i++)
        if (config->milestones[i] <= config->milestones[i - 1]) {
            lap_error("%s: milestones must be increasing", name);
            return NULL;
        }
    lap_optimizer *o = lap_calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->config = *config;
    o->lr = config->lr;
    o->refcount = 1;
    return o;
}

int lap_optimizer_bind(lap_optimizer *o, lap_module *m)
{
    unbind(o);
    int n = lap_module_parameters(m, 1, NULL, NULL, 0);
    o->params = lap_calloc((size_t)n + 1, sizeof *o->params);
    o->grads = lap_calloc((size_t)n + 1, sizeof *o->grads);
    o->state1 = lap_calloc((size_t)n + 1, sizeof *o->state1);
    o->state2 = lap_calloc((size_t)n + 1, sizeof *o->state2);
    if (!o->params || !o->grads || !o->state1 || !o->state2)
        return LAP_ERR;
    lap_module_parameters(m, 1, o->params, o->grads, n);
    o->nparams = n;
    for (int i = 0; i < n; i++) {
        lap_tensor_retain(o->params[i]);
        lap_tensor_retain(o->grads[i]);
        o->state1[i] = lap_tensor_new(o->params[i]->ndim, o->params[i]->shape);
        o->state2[i] = o->config.kind == LAP_OPTIM_ADAM ? lap_tensor_new(o->params[i]->ndim, o->params[i]->shape)
                                                         : NULL;
        if (!o->state1[i] || (o->config.kind == LAP_OPTIM_ADAM && !o->state2[i]))
            return LAP_ERR;
    }
    o->checked_generation = 0;   /* generations start at 1: the next step checks */
    o->flat_params = lap_tensor_gather(o->params, n);
    o->flat_grads = lap_tensor_gather(o->grads, n);
    o->flat_state1 = lap_tensor_gather(o->state1, n);
    o->flat_state2 = o->config.kind == LAP_OPTIM_ADAM ? lap_tensor_gather(o->state2, n) : NULL;
    o->steps = 0;
    return LAP_OK;
}

/* Whether the parameters and gradients still lie in the gathered storages (a
 * parameter given another storage since, say by lap_tensor_ensure, would not).  The
 * states are this optimizer's own and stay where they are. */
static int flat(lap_optimizer *o)
{
    if (!o->flat_state1 || (o->config.kind == LAP_OPTIM_ADAM && !o->flat_state2))
        return 0;
    /* Checking every tensor costs as much as a small network's update: only when some
     * shared storage has been replaced since the last check. */
    uint64_t generation = lap_tensor_layout_generation();
    if (generation == o->checked_generation)
        return o->checked_flat;
    o->checked_generation = generation;
    o->checked_flat = lap_tensor_gathered(o->params, o->nparams, o->flat_params) &&
                      lap_tensor_gathered(o->grads, o->nparams, o->flat_grads);
    return o->checked_flat;
}

lap_tensor *lap_optimizer_flat_grads(lap_optimizer *o)
{
    return flat(o) ? o->flat_grads : NULL;
}

void lap_optimizer_zero_net_grads(lap_optimizer *o, lap_module *net)
{
    uint64_t freeze = lap_module_freeze_generation(), layout = lap_tensor_layout_generation();
    if (o->covered_net != net || o->covered_freeze != freeze || o->covered_layout != layout) {
        o->covered_net = net;
        o->covered_freeze = freeze;
        o->covered_layout = layout;
        o->covers = 0;
        int n = lap_module_parameters(net, 1, NULL, NULL, 0);
        lap_tensor **grads = n == o->nparams && n > 0 ? lap_malloc(sizeof *grads * (size_t)n) : NULL;
        if (grads) {
            lap_module_parameters(net, 1, NULL, grads, n);
            o->covers = memcmp(grads, o->grads, sizeof *grads * (size_t)n) == 0;
            free(grads);
        }
        lap_module_zero_grad(net);   /* this once everything, frozen gradients included */
        return;
    }
    if (o->covers && flat(o)) {
        lap_fill(lap_data(o->flat_grads), 0.0f, lap_numel(o->flat_grads));
        return;
    }
    lap_module_zero_grad(net);
}

void lap_optimizer_zero_grad(lap_optimizer *o)
{
    for (int i = 0; i < o->nparams; i++)
        lap_fill(lap_data(o->grads[i]), 0.0f, lap_numel(o->grads[i]));
}

/* param, grad, buf: (count) */
LAP_KERNEL(sgd_update, (float *param, const float *grad, float *buf, const lap_optim_config *c, double lr,
                       int first, int64_t count),
           (param, grad, buf, c, lr, first, count),
{
    float wd = (float)c->weight_decay, momentum = (float)c->momentum, damp = 1.0f - (float)c->dampening;
    int nesterov = c->nesterov;
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++) {
        float g = grad[i] + wd * param[i];
        if (momentum != 0.0f) {
            buf[i] = first ? g : momentum * buf[i] + damp * g;
            g = nesterov ? g + momentum * buf[i] : buf[i];
        }
        param[i] -= (float)lr * g;
    });
})

/* param, grad, m, v: (count); step_size = lr / (1 - beta1^t), bias2_sqrt = sqrt(1 - beta2^t)
 * (computed once per step by the caller: pow per tensor was 18 % of a 100-block 2-D step).
 * The build's -fno-math-errno lets sqrtf be the vector instruction (correctly rounded
 * like the scalar one: the numbers do not change). */
LAP_KERNEL(adam_update, (float *restrict param, const float *restrict grad, float *restrict m, float *restrict v,
                        const lap_optim_config *c, float step_size, float bias2_sqrt, int64_t count),
           (param, grad, m, v, c, step_size, bias2_sqrt, count),
{
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps, wd = (float)c->weight_decay;
    PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
    for (int64_t i = 0; i < count; i++) {
        float g = grad[i] + wd * param[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bias2_sqrt + eps;
        param[i] -= step_size * m[i] / denom;
    });
})

int lap_optimizer_step(lap_optimizer *o)
{
    o->steps++;
    float step_size = 0, bias2_sqrt = 0;
    if (o->config.kind == LAP_OPTIM_ADAM) {
        double bias1 = 1.0 - pow(o->config.beta1, (double)o->steps);
        double bias2 = 1.0 - pow(o->config.beta2, (double)o->steps);
        step_size = (float)(o->lr / bias1);
        bias2_sqrt = (float)sqrt(bias2);
    }
    /* The updates are elementwise: one loop over the gathered storages gives the same
     * numbers as a loop per tensor, without a call per (often 2-float) tensor. */
    int gathered = flat(o);
    int count_tensors = gathered ? 1 : o->nparams;
    for (int i = 0; i < count_tensors; i++) {
        lap_tensor *param = gathered ? o->flat_params : o->params[i];
        lap_tensor *grad = gathered ? o->flat_grads : o->grads[i];
        lap_tensor *state1 = gathered ? o->flat_state1 : o->state1[i];
        lap_tensor *state2 = gathered ? o->flat_state2 : o->state2[i];
        int64_t count = lap_numel(param);
        if (o->config.kind == LAP_OPTIM_SGD)
            sgd_update(lap_data(param), lap_data(grad), lap_data(state1), &o->config, o->lr, o->steps == 1, count);
        else
            adam_update(lap_data(param), lap_data(grad), lap_data(state1), lap_data(state2), &o->config, step_size,
                        bias2_sqrt, count);
    }
    return LAP_OK;
}

void lap_optimizer_epoch_end(lap_optimizer *o)
{
    o->epoch++;
    int passed = 0;
    for (int i = 0; i < o->config.nmilestones; i++)
        passed += o->config.milestones[i] <= o->epoch;
    o->lr = o->config.lr * pow(o->config.gamma, passed);
}

lap_optimizer *lap_optimizer_retain(lap_optimizer *o)
{
    if (o)
        o->refcount++;
    return o;
}

void lap_optimizer_release(lap_optimizer *o)
{
    if (!o || --o->refcount > 0)
        return;
    unbind(o);
    free(o);
}
