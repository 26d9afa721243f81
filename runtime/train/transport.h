/* transport.h: the transport cost of a residual network's displacements, and its gradient.
 *
 * Two forms, as in the authors' code:
 *   LAP_TRANSPORT_MEAN       C_k = mean(|v_k|^p) over every element (skander-karkar/LAP main.py)
 *   LAP_TRANSPORT_FROBENIUS  C_k = ||v_k||_F over the batch, not squared (internship cloud4.py)
 * The network's cost is sum_k C_k.
 */
#ifndef LAP_TRANSPORT_H
#define LAP_TRANSPORT_H

#include <stdint.h>

typedef enum { LAP_TRANSPORT_MEAN = 0, LAP_TRANSPORT_FROBENIUS = 1 } lap_transport_form;

typedef struct lap_transport {
    lap_transport_form form;
    double p;                 /* exponent of the mean form (default 2) */
} lap_transport;

/* C_k of one displacement v: (count floats). */
double lap_transport_cost(const lap_transport *t, const float *displacement, int64_t count);
/* The same, given squares = sum of displacement^2 (the Frobenius and p = 2 forms
 * need nothing else; other p read the displacement). */
double lap_transport_cost_of(const lap_transport *t, double squares, const float *displacement, int64_t count);
/* grad += weight * dC_k/dv.  cost is the value lap_transport_cost returned for v. */
void lap_transport_grad(float *grad, const lap_transport *t, const float *displacement,
                        int64_t count, double cost, double weight);

#endif
