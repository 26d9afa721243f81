/* mse.h: mean squared error, torch.nn.functional.mse_loss with reduction 'mean'. */
#ifndef LAP_MSE_H
#define LAP_MSE_H

#include <stdint.h>

/* output, target: (count).  Writes *loss = mean_i (output_i - target_i)^2
 * (accumulated in double) and, when grad is not NULL,
 * grad = scale * 2 (output - target) / count (overwritten, (count)).
 * Returns LAP_ERR when count <= 0 (the mean of nothing). */
int lap_mse_loss(double *loss, float *grad, const float *output, const float *target, int64_t count,
                 double scale);

#endif
