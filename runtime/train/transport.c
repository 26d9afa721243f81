/* transport.c: per-block transport cost and its gradient (see transport.h). */
#include "train/transport.h"

#include <math.h>

#include "core/parallel.h"
#include "core/tensor.h"

double lap_transport_cost(const lap_transport *t, const float *displacement, int64_t count)
{
    if (count == 0)
        return 0.0;
    double total = 0;
    if (t->form == LAP_TRANSPORT_FROBENIUS)
        return sqrt(lap_sum_squares(displacement, count));
    if (t->p == 2.0) {
        total = lap_sum_squares(displacement, count);
    } else {
        for (int64_t i = 0; i < count; i++)
            total += pow(fabs((double)displacement[i]), t->p);
    }
    return total / (double)count;
}

double lap_transport_cost_of(const lap_transport *t, double squares, const float *displacement, int64_t count)
{
    if (count == 0)
        return 0.0;
    if (t->form == LAP_TRANSPORT_FROBENIUS)
        return sqrt(squares);
    if (t->p == 2.0)
        return squares / (double)count;
    return lap_transport_cost(t, displacement, count);
}

void lap_transport_grad(float *grad, const lap_transport *t, const float *displacement, int64_t count,
                        double cost, double weight)
{
    if (weight == 0.0 || count == 0)
        return;
    if (t->form == LAP_TRANSPORT_FROBENIUS) {
        /* d||v||/dv = v / ||v||; at v = 0 the subgradient 0 (as PyTorch's norm backward). */
        if (cost == 0.0)
            return;
        float scale = (float)(weight / cost);
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            grad[i] += scale * displacement[i];);
        return;
    }
    double scale = weight * t->p / (double)count;
    if (t->p == 2.0) {
        PARALLEL_FOR_SIMD(count >= PARALLEL_MIN,
        for (int64_t i = 0; i < count; i++)
            grad[i] += (float)(scale * displacement[i]););
    } else {
        /* d|v|^p/dv = p |v|^(p-1) sign(v) */
        for (int64_t i = 0; i < count; i++) {
            double v = displacement[i];
            if (v != 0.0)
                grad[i] += (float)(scale * pow(fabs(v), t->p - 1.0) * (v > 0 ? 1.0 : -1.0));
        }
    }
}
