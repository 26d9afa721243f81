/* init.h: weight initializations, applied to one module or a whole network.
 *
 * Weights are the first parameter of Linear (and later Conv) modules; biases the
 * second.  BatchNorm gets weight 1, bias 0.  Frozen modules are skipped, so a fixed
 * classifier set by hand survives.  All draws come from the given generator.
 *   orthogonal: weight flattened to (out, rest); QR of a Gaussian matrix, signs
 *               fixed by diag(R) (torch.nn.init.orthogonal_), times gain.
 *   normal:     N(0, std^2) on weights, and on biases too if normal_bias.
 *   kaiming:    N(0, 2 / fan) with fan = fan_in or fan_out (ReLU gain).
 */
#ifndef LAP_INIT_H
#define LAP_INIT_H

#include "nn/module.h"
#include "core/rng.h"

typedef enum { LAP_INIT_ORTHOGONAL, LAP_INIT_NORMAL, LAP_INIT_KAIMING } lap_init_kind;

typedef struct lap_init_spec {
    lap_init_kind kind;
    double gain;        /* orthogonal */
    double std;         /* normal */
    int normal_bias;    /* normal: also draw biases from N(0, std^2) */
    int fan_out;        /* kaiming: 1 fan_out, 0 fan_in */
} lap_init_spec;

int lap_init_apply(lap_module *m, const lap_init_spec *spec, lap_rng *rng);
/* Orthogonal fill of a (rows, cols) matrix. */
int lap_init_orthogonal_matrix(float *w, int64_t rows, int64_t cols, double gain, lap_rng *rng);

#endif
