/* cross_entropy.h: cross-entropy on logits (log-softmax, mean over the batch), and accuracy. */
#ifndef LAP_LOSS_H
#define LAP_LOSS_H

#include <stdint.h>

/* logits: (N, C); labels: (N) in [0, C).  Writes *loss = mean_i -log softmax(logits_i)[y_i]
 * (accumulated in double) and, when grad is not NULL, grad = scale * dloss/dlogits
 * (overwritten, (N, C)).  *correct (nullable) counts argmax hits.
 * Returns LAP_ERR on a label out of range. */
int lap_cross_entropy(double *loss, float *grad, int64_t *correct, const float *logits,
                      const int32_t *labels, int64_t N, int64_t C, double scale);

#endif
