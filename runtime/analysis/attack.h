/* attack.h: L-infinity adversarial attacks (FGSM, PGD) on any
 * classifier lap builds.
 *
 * The gradient is lap_input_gradient's (probes.h): the mean cross-entropy's, in
 * eval mode, in a quiet pass that touches no parameter gradient.
 *
 * Attacks (Goodfellow et al. 2015; Madry et al. 2018), with g = sign(dL/dx),
 * sign(0) = 0 as torch.sign:
 *   FGSM  x' = clip(x + eps g, lo, hi)
 *   PGD   x_0 = clip(x + delta, lo, hi), delta uniform in [-eps, eps] (random
 *         start) or given, or 0; then `steps` times
 *         x_{t+1} = clip(proj_eps(x_t + alpha g(x_t)), lo, hi),
 *         proj_eps clamping to [x - eps, x + eps] elementwise
 *   (torchattacks' and the common PyTorch order).  lo > hi means no clipping.
 * Batched by `batch` rows (the result does not depend on it: eval mode treats rows
 * independently, and the sign of a mean's gradient is that of each row's term).
 * Limits: one [lo, hi] range for every input element (per-channel ranges of
 * normalized RGB data are not supported); the attack's loss is cross-entropy only.
 */
#ifndef LAP_ATTACK_H
#define LAP_ATTACK_H

#include <stdint.h>

#include "core/rng.h"
#include "nn/module.h"
#include "analysis/probes.h"   /* lap_input_gradient */

typedef struct lap_attack_options {
    double epsilon;          /* L-infinity radius, >= 0 */
    double alpha;            /* PGD step size */
    int steps;               /* PGD steps, >= 0 */
    double lo, hi;           /* valid input range; lo > hi: no clipping */
    int random_start;        /* PGD: delta uniform in [-eps, eps] drawn from rng */
    const lap_tensor *start; /* PGD: the start's delta (shape of x), overrides random_start; NULL: none */
    lap_rng *rng;            /* for the random start; NULL: the global generator */
    int64_t batch;           /* rows per pass, >= 1 */
} lap_attack_options;

/* adversarial: same shape as x (written).  Returns LAP_ERR (lap_error set, prefixed
 * "fgsm:" / "pgd:") on bad options, shapes or labels. */
int lap_fgsm(lap_tensor *adversarial, lap_module *net, const lap_tensor *x, const int32_t *labels,
             const lap_attack_options *o);
int lap_pgd(lap_tensor *adversarial, lap_module *net, const lap_tensor *x, const int32_t *labels,
            const lap_attack_options *o);

#endif
