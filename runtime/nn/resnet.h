/* resnet.h: the residual network container: encoder -> K residual blocks -> classifier.
 *
 * Block k computes x_{k+1} = x_k + h * v_k(x_k), or, with relu_after,
 * x_{k+1} = relu(x_k + h * v_k(x_k)).  The forward pass records every state x_k
 * and every displacement: v_k(x_k) in the first case (the branch output, as the
 * authors' code records it, without h), x_{k+1} - x_k in the second.  It also
 * computes each block's transport cost on the displacement.  The backward pass
 * adds transport_weight * dC/dv_k to each displacement's gradient, in C.
 * Encoder and classifier are optional (NULL).
 */
#ifndef LAP_RESNET_H
#define LAP_RESNET_H

#include "nn/module.h"
#include "train/transport.h"

typedef struct lap_resnet_plan lap_resnet_plan;

typedef struct lap_resnet {
    lap_module base;             /* children: [encoder], blocks..., [classifier] */
    lap_module *encoder;
    lap_module *classifier;
    lap_module **blocks;
    int nblocks;
    double step;                 /* h */
    int relu_after;
    lap_transport transport;
    double transport_weight;     /* used by backward; 0 = no transport gradient */
    lap_tensor **states;         /* nblocks + 1 buffers: x_0 .. x_K */
    lap_tensor **displacements;  /* nblocks buffers */
    lap_tensor **sums;           /* relu_after: pre-activation x_k + h v_k */
    double *block_cost;          /* nblocks, from the last forward */
    double *block_squares;       /* nblocks, sum of v_k^2 over the last forward's batch */
    double transport_cost;       /* sum of block_cost */
    lap_tensor *grad_state;      /* scratch for backward */
    lap_tensor *grad_branch;
    lap_tensor *grad_cost;       /* relu_after: transport gradient of a displacement */
    lap_resnet_plan *plan;       /* the fused path's cached blocks (resnet_fused.c), or NULL */
} lap_resnet;

/* blocks: nblocks modules (retained).  encoder / classifier may be NULL. */
lap_module *lap_resnet_new(lap_module *encoder, lap_module **blocks, int nblocks,
                           lap_module *classifier, double step, int relu_after,
                           lap_transport transport);
lap_resnet *lap_as_resnet(lap_module *m);   /* NULL if m is not a ResNet */
/* LAP_OK when the last forward succeeded and every state and displacement it recorded
 * still has its shape (backward and the probes read them); else LAP_ERR naming `what`. */
int lap_resnet_check_state(const lap_resnet *net, const char *what);

/* ---- the fused path of narrow blocks (resnet_fused.c), for resnet.c ----
 * Blocks Sequential(Linear(F, H), [BatchNorm(H)], ReLU, Linear(H, F)) with F, H <= 4,
 * trained at the same batch size step after step, run in one loop over cached
 * pointers instead of a module call per layer.  The plan is made after an ordinary
 * forward (and its backward half after an ordinary backward) and serves while no
 * planned module was called from outside (lap_module_state_generation), no tensor
 * moved and nothing was frozen or added; it computes what the modules would, in
 * their own buffers, with the same arithmetic (the numbers are bit for bit the same). */
/* 1: the blocks' forward is done; 0: not applicable (take the ordinary path);
 * LAP_ERR (< 0): a block failed, *failed_block set (0-based). */
int lap_resnet_fused_forward(lap_resnet *net, lap_tensor *x, int *failed_block);
/* after an ordinary training forward of the blocks: (re)makes the forward half */
void lap_resnet_plan_forward(lap_resnet *net, lap_tensor *x);
/* at the start of backward: 1 when the fused backward may run (the plan is current) */
int lap_resnet_plan_current(lap_resnet *net);
/* the blocks' backward, grad: dL/dx_K in, dL/dx_0 out; branch: scratch.  Same returns. */
int lap_resnet_fused_backward(lap_resnet *net, float *grad, float *branch, int *failed_block);
/* after an ordinary backward of the blocks that found the plan current: its backward half */
void lap_resnet_plan_backward(lap_resnet *net);
void lap_resnet_plan_drop(lap_resnet *net);   /* forgets the plan (the ordinary path runs) */
void lap_resnet_plan_free(lap_resnet *net);

#endif
