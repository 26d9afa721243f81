/* mse.c: mean squared error loss and its gradient (see mse.h).
 *
 * The sum of squares is accumulated in double so that the mean over a large
 * batch of images (10^6 elements and more) keeps float32's precision; the
 * gradient is computed in float, elementwise.
 */
#include "train/mse.h"

#include "core/error.h"

int lap_mse_loss(double *loss, float *grad, const float *output, const float *target, int64_t count,
                 double scale)
{
    if (count <= 0)
        return lap_error("mse: needs at least one element, got %lld", (long long)count);
    double sum = 0;
    for (int64_t i = 0; i < count; i++) {
        double d = (double)output[i] - (double)target[i];
        sum += d * d;
    }
    if (loss)
        *loss = sum / (double)count;
    if (grad) {
        float factor = (float)(2.0 * scale / (double)count);
        for (int64_t i = 0; i < count; i++)
            grad[i] = factor * (output[i] - target[i]);
    }
    return LAP_OK;
}
