/* optim.h: SGD and Adam with PyTorch's update rules, and multistep learning-rate decay.
 *
 * SGD (torch.optim.SGD): g += wd*p; buf = g on the first step, else
 * buf = momentum*buf + (1 - dampening)*g; g = nesterov ? g + momentum*buf : buf; p -= lr*g.
 * Adam (torch.optim.Adam, L2 weight decay): g += wd*p; m = b1*m + (1-b1)g;
 * v = b2*v + (1-b2)g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Multistep: after each epoch_end, lr = lr0 * gamma^(number of milestones <= epoch).
 */
#ifndef LAP_OPTIM_H
#define LAP_OPTIM_H

#include "nn/module.h"

typedef enum { LAP_OPTIM_SGD, LAP_OPTIM_ADAM } lap_optim_kind;

#define LAP_MAX_MILESTONES 16

typedef struct lap_optim_config {
    lap_optim_kind kind;
    double lr;
    double momentum, dampening, weight_decay;
    int nesterov;
    double beta1, beta2, eps;
    int nmilestones;
    int milestones[LAP_MAX_MILESTONES];
    double gamma;
} lap_optim_config;

typedef struct lap_optimizer {
    lap_optim_config config;
    double lr;                  /* current learning rate */
    int64_t steps;              /* optimizer steps taken */
    int epoch;                  /* epochs ended */
    int nparams;
    lap_tensor **params, **grads;   /* retained */
    lap_tensor **state1, **state2;  /* momentum buffer / Adam moments */
    /* The same four lists gathered into one storage each (lap_tensor_gather), so
     * that a step over many small parameters is one loop; NULL when they could not be. */
    lap_tensor *flat_params, *flat_grads, *flat_state1, *flat_state2;
    uint64_t checked_generation;    /* lap_tensor_layout_generation when last checked */
    int checked_flat;               /* whether the lists were still gathered then */
    const void *covered_net;        /* lap_optimizer_zero_net_grads: the net last checked, */
    uint64_t covered_freeze, covered_layout;   /* ... the generations then, */
    int covers;                     /* ... and whether grads were exactly its trainable gradients */
    int refcount;
} lap_optimizer;

lap_optim_config lap_sgd_defaults(void);   /* lr 0.01, momentum 0, ... like torch */
lap_optim_config lap_adam_defaults(void);  /* lr 0.001, betas (0.9, 0.999), eps 1e-8 */
lap_optimizer *lap_optimizer_new(const lap_optim_config *config);
/* The constructor's rule for a learning rate (finite, >= 0), also applied to one
 * read from a checkpoint. */
int lap_optim_lr_ok(double lr);
/* Collects the trainable parameters of m (frozen ones are skipped). Resets state. */
int lap_optimizer_bind(lap_optimizer *o, lap_module *m);
void lap_optimizer_zero_grad(lap_optimizer *o);
/* Zeroes net's gradients in one fill of the gathered gradient storage when that holds
 * exactly net's trainable gradients (frozen ones receive none), which a deep network
 * of tiny layers otherwise zeroes tensor by tensor (8 % of a 100-block 2-D step);
 * otherwise, or after a freeze or layout change, falls back to lap_module_zero_grad. */
struct lap_module;
void lap_optimizer_zero_net_grads(lap_optimizer *o, struct lap_module *net);
int lap_optimizer_step(lap_optimizer *o);
/* The gradients gathered in one storage (a 1-D view), or NULL when they are not
 * (any more): a distributed trainer reduces them in one call. */
lap_tensor *lap_optimizer_flat_grads(lap_optimizer *o);
void lap_optimizer_epoch_end(lap_optimizer *o);
lap_optimizer *lap_optimizer_retain(lap_optimizer *o);
void lap_optimizer_release(lap_optimizer *o);

#endif
