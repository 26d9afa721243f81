/* cross_entropy.c: cross-entropy with a numerically stable log-softmax (see cross_entropy.h). */
#include "train/cross_entropy.h"

#include <math.h>

#include "core/error.h"

int lap_cross_entropy(double *loss, float *grad, int64_t *correct, const float *logits,
                      const int32_t *labels, int64_t N, int64_t C, double scale)
{
    if (N <= 0)
        return lap_error("cross_entropy: empty batch");
    double total = 0;
    int64_t hits = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *row = logits + n * C;
        int32_t label = labels[n];
        if (label < 0 || label >= C)
            return lap_error("cross_entropy: label %d of sample %lld is out of range for %lld classes",
                             (int)label, (long long)n + 1, (long long)C);
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (row[c] > row[best])
                best = c;
        hits += best == label;
        double max = row[best], sum = 0;
        /* exp(0) is exactly 1: the largest logit's term needs no call (a third of the
         * 2-class loss's exps); not for an infinite max, whose term is exp(NaN). */
        for (int64_t c = 0; c < C; c++)
            sum += c == best && isfinite(max) ? 1.0 : exp((double)row[c] - max);
        double log_sum = log(sum) + max;
        total += log_sum - row[label];
        if (grad) {
            float *g = grad + n * C;
            for (int64_t c = 0; c < C; c++)
                g[c] = (float)(scale * (exp((double)row[c] - log_sum) - (c == label)) / (double)N);
        }
    }
    *loss = total / (double)N;
    if (correct)
        *correct = hits;
    return LAP_OK;
}
