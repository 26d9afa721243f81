/* test_input_gradient.c: lap_input_gradient and lap_fgsm from C, on networks whose
 * input gradient is known in closed form.
 *
 *   Linear(D, C): dL/dx = (softmax(W x + b) - onehot(y)) W / N, computed here in double;
 *   ResNet of one block Linear(D, D) with step h and a Linear classifier: dL/dx =
 *   g (I + h A) with g the classifier's input gradient, A the block's weight.
 * Tolerance 1e-6 of the gradient's largest entry (float32 logits).  Also: the
 * parameter gradients stay exactly as they were (set to a pattern first), the
 * frozen flags and modes are restored, and FGSM moves every element by exactly
 * eps in the gradient's sign.  Exits nonzero and names every failure.
 */
#include <math.h>
#include <stdio.h>

#include "analysis/attack.h"
#include "analysis/probes.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/module.h"
#include "nn/resnet.h"
#include "check.h"

enum { N = 5, D = 4, C = 3 };

static void fill_random(lap_tensor *t, lap_rng *rng, double scale)
{
    for (int64_t i = 0; i < lap_numel(t); i++)
        lap_data(t)[i] = (float)(scale * lap_rng_gauss(rng));
}

/* grad_logits (N, C) of the mean cross-entropy, in double. */
static void ce_grad(double grad[N][C], const float *logits, const int32_t *labels)
{
    for (int n = 0; n < N; n++) {
        double top = logits[n * C], sum = 0;
        for (int c = 1; c < C; c++)
            top = fmax(top, logits[n * C + c]);
        for (int c = 0; c < C; c++)
            sum += exp(logits[n * C + c] - top);
        for (int c = 0; c < C; c++)
            grad[n][c] = (exp(logits[n * C + c] - top) / sum - (c == labels[n])) / N;
    }
}

static double largest(const lap_tensor *t)
{
    double m = 0;
    for (int64_t i = 0; i < lap_numel(t); i++)
        m = fmax(m, fabs(lap_data(t)[i]));
    return m;
}

int main(void)
{
    lap_rng rng;
    lap_rng_seed(&rng, 11);
    int32_t labels[N] = {0, 2, 1, 1, 0};
    lap_tensor *x = lap_tensor_new2(N, D), *grad = lap_tensor_new2(N, D), *adversarial = lap_tensor_new2(N, D);
    fill_random(x, &rng, 1.0);

    /* One Linear layer. */
    lap_module *linear = lap_linear_new(D, C, 1);
    fill_random(linear->params[0], &rng, 0.7);
    fill_random(linear->params[1], &rng, 0.3);
    for (int i = 0; i < linear->nparams; i++)
        for (int64_t j = 0; j < lap_numel(linear->grads[i]); j++)
            lap_data(linear->grads[i])[j] = (float)(j + 1);
    double loss;
    CHECK(lap_input_gradient(grad, &loss, NULL, linear, x, labels) == LAP_OK, "%s", lap_last_error());
    double dlogits[N][C];
    ce_grad(dlogits, lap_data(linear->output), labels);
    const float *W = lap_data(linear->params[0]);   /* (C, D) */
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double expected = 0;
            for (int c = 0; c < C; c++)
                expected += dlogits[n][c] * W[c * D + d];
            CHECK(fabs(lap_data(grad)[n * D + d] - expected) <= 1e-6 * largest(grad),
                  "Linear: dL/dx[%d][%d] = %g, expected %g", n, d, lap_data(grad)[n * D + d], expected);
        }
    for (int i = 0; i < linear->nparams; i++)
        for (int64_t j = 0; j < lap_numel(linear->grads[i]); j++)
            CHECK(lap_data(linear->grads[i])[j] == (float)(j + 1), "Linear: parameter gradient %d changed", i);
    CHECK(linear->training == 1 && linear->frozen == 0, "Linear: mode or frozen flag not restored");
    CHECK(loss > 0, "Linear: loss %g", loss);

    /* FGSM: every element moves by eps in the sign of the gradient (no clipping). */
    lap_attack_options o = {.epsilon = 0.25, .lo = 1, .hi = 0, .batch = 2};
    CHECK(lap_fgsm(adversarial, linear, x, labels, &o) == LAP_OK, "%s", lap_last_error());
    for (int64_t i = 0; i < N * D; i++) {
        float g = lap_data(grad)[i], moved = lap_data(adversarial)[i] - lap_data(x)[i];
        CHECK(fabsf(moved - (g > 0 ? 0.25f : g < 0 ? -0.25f : 0.0f)) < 1e-6f, "fgsm element %lld moved %g",
              (long long)i, moved);
    }
    o.epsilon = -1;
    CHECK(lap_fgsm(adversarial, linear, x, labels, &o) == LAP_ERR, "fgsm accepted epsilon -1");

    /* A ResNet: one Linear block (step h), a frozen Linear classifier. */
    lap_module *block = lap_linear_new(D, D, 1), *classifier = lap_linear_new(D, C, 1);
    fill_random(block->params[0], &rng, 0.5);
    fill_random(classifier->params[0], &rng, 0.7);
    lap_module_freeze(classifier, 1);
    lap_transport transport = {0};
    transport.form = LAP_TRANSPORT_MEAN;
    transport.p = 2;
    double h = 0.5;
    lap_module *net = lap_resnet_new(NULL, &block, 1, classifier, h, 0, transport);
    CHECK(net != NULL, "%s", lap_last_error());
    lap_as_resnet(net)->transport_weight = 3.0;   /* must not leak into the gradient, and must come back */
    CHECK(lap_input_gradient(grad, NULL, NULL, net, x, labels) == LAP_OK, "%s", lap_last_error());
    ce_grad(dlogits, lap_data(classifier->output), labels);
    const float *Wc = lap_data(classifier->params[0]), *A = lap_data(block->params[0]);   /* (C, D), (D, D) */
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double expected = 0;
            for (int e = 0; e < D; e++) {
                double g = 0;   /* dL/dx_1[e] */
                for (int c = 0; c < C; c++)
                    g += dlogits[n][c] * Wc[c * D + e];
                expected += g * ((e == d) + h * A[e * D + d]);
            }
            CHECK(fabs(lap_data(grad)[n * D + d] - expected) <= 1e-6 * largest(grad),
                  "ResNet: dL/dx[%d][%d] = %g, expected %g", n, d, lap_data(grad)[n * D + d], expected);
        }
    CHECK(lap_as_resnet(net)->transport_weight == 3.0, "ResNet: transport weight not restored");
    CHECK(classifier->frozen == 1 && block->frozen == 0, "ResNet: frozen flags not restored");

    lap_module_release(net);
    lap_module_release(block);
    lap_module_release(classifier);
    lap_module_release(linear);
    lap_tensor_release(x);
    lap_tensor_release(grad);
    lap_tensor_release(adversarial);
    return check_summary("test_input_gradient");
}
