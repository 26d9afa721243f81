/* probes.h: per-point and per-block probes of a trained network, taken in a "quiet"
 * pass that changes nothing the training sees.
 *
 * A quiet pass runs forward and backward in eval mode (BatchNorm on running
 * statistics) with every module frozen (no parameter gradient is touched; the input
 * gradient still flows) and every ResNet's transport weight 0 (the gradient is the
 * cross-entropy's alone).  lap_quiet_begin saves each module's mode, frozen flag and
 * transport weight, lap_quiet_end puts them back: the frozen flags are set and
 * restored directly, without lap_module_freeze, so caches keyed on the freeze
 * generation stay valid.  What the pass leaves is what any forward and backward
 * leave: output and input-gradient buffers, a ResNet's recorded states and
 * displacements (of the probed x).
 *
 * Probes of a ResNet (x: its input (N, ...), labels: N classes):
 *   state gradients  dL/dx_k for k = 0 .. K, L the mean cross-entropy of the batch
 *                    (x_0 the encoder's output), by the ResNet's own backward recursion
 *   block alignment  per point and block, cos(v_k(x_k), -dL/dx_k): 1 when block k
 *                    moves the point along a steepest-descent direction of the loss
 *   displacement norms  per point and block, ||v_k(x_k)|| (the transport-dynamics
 *                    features of Karkar et al., ECML PKDD 2023)
 *   line shapes      per point, sum_k ||x_{k+1} - x_k|| / ||x_K - x_0|| (1 = straight;
 *                    NaN when ||x_K - x_0|| < 1e-12, the points lap_line_shape skips)
 * Undefined cosines (a zero vector) are NaN.
 */
#ifndef LAP_PROBES_H
#define LAP_PROBES_H

#include <stdint.h>

#include "nn/module.h"

typedef struct lap_quiet_pass {
    lap_module **modules;
    int *training, *frozen;
    double *transport_weight;   /* per module; used for ResNets */
    int count;
} lap_quiet_pass;

int lap_quiet_begin(lap_quiet_pass *pass, lap_module *net);
void lap_quiet_end(lap_quiet_pass *pass);

/* grad_input: same shape as x (written).  *loss, *correct nullable (mean CE, hits).
 * The network must map (N, ...) to (N, C) logits. */
int lap_input_gradient(lap_tensor *grad_input, double *loss, int64_t *correct, lap_module *net, lap_tensor *x,
                       const int32_t *labels);

/* state_grads: K + 1 tensor pointers (NULL or reusable buffers, replaced by
 * lap_tensor_ensure_like; the caller releases them).  net must be a ResNet. */
int lap_state_gradients(lap_tensor **state_grads, double *loss, lap_module *net, lap_tensor *x,
                        const int32_t *labels);

/* cosines: (N, K) doubles, row-major. */
int lap_block_alignment(double *cosines, lap_module *net, lap_tensor *x, const int32_t *labels);
/* norms: (N, K) doubles, from an eval-mode forward of x. */
int lap_displacement_norms(double *norms, lap_module *net, lap_tensor *x);
/* scores: N doubles; states: K + 1 arrays of (N, D). */
void lap_line_shape_points(double *scores, const float *const *states, int K, int64_t N, int64_t D);

#endif
