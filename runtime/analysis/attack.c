/* attack.c: FGSM and PGD in the L-infinity ball (runtime/analysis/attack.h), batched
 * over rows, on lap_input_gradient's quiet pass.
 *
 * The random start is drawn for the whole input at once, in row-major order, before
 * any batch runs, so that the adversarial examples do not depend on the batch size.
 * The projection is written as torchattacks writes it (delta = clamp(x_t - x, -eps,
 * eps), then x_t = clamp(x + delta, lo, hi)) so that the float roundings are the ones
 * PyTorch code usually makes.
 */
#include "analysis/attack.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static float signf(float g) { return g > 0 ? 1.0f : g < 0 ? -1.0f : 0.0f; }

static int check_options(const char *what, const lap_tensor *adversarial, const lap_tensor *x,
                         const lap_attack_options *o, int pgd)
{
    char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    if (x->ndim < 1 || x->shape[0] < 1)
        return lap_error("%s: input of shape %s needs at least one row", what, lap_shape_str(x, a, sizeof a));
    if (!lap_same_shape(adversarial, x))
        return lap_error("%s: output of shape %s for input of shape %s", what, lap_shape_str(adversarial, a, sizeof a),
                         lap_shape_str(x, b, sizeof b));
    if (!(o->epsilon >= 0) || !isfinite(o->epsilon))
        return lap_error("%s: epsilon must be finite and >= 0, got %g", what, o->epsilon);
    if (!isfinite(o->lo) || !isfinite(o->hi))
        return lap_error("%s: the clipping range [%g, %g] must be finite", what, o->lo, o->hi);
    if (o->batch < 1)
        return lap_error("%s: batch must be >= 1, got %lld", what, (long long)o->batch);
    if (pgd) {
        if (!(o->alpha >= 0) || !isfinite(o->alpha))
            return lap_error("%s: alpha must be finite and >= 0, got %g", what, o->alpha);
        if (o->steps < 0)
            return lap_error("%s: steps must be >= 0, got %d", what, o->steps);
        if (o->start && !lap_same_shape(o->start, x))
            return lap_error("%s: start of shape %s for input of shape %s", what, lap_shape_str(o->start, a, sizeof a),
                             lap_shape_str(x, b, sizeof b));
    }
    return LAP_OK;
}

/* The runtime's message prefixed with the attack's name ("pgd: ResNet.block[2]..."). */
static int attack_error(const char *what)
{
    char message[512];
    snprintf(message, sizeof message, "%s", lap_last_error());
    if (strcmp(message, "interrupted") == 0)
        return LAP_ERR;
    return lap_error("%s: %s", what, message);
}

/* `steps` signed-gradient steps of size alpha on the rows of adversarial (already at
 * their start), projected on the eps-ball around x (project) and clipped; FGSM is
 * one step of size eps from x itself, with nothing to project. */
static int signed_steps(lap_tensor *adversarial, lap_module *net, const lap_tensor *x, const int32_t *labels,
                        const lap_attack_options *o, double alpha, int steps, int project, const char *what)
{
    int64_t N = x->shape[0], row = lap_cols(x);
    int clip = o->lo <= o->hi;
    float eps = (float)o->epsilon, step = (float)alpha, lo = (float)o->lo, hi = (float)o->hi;
    lap_tensor *work = NULL, *grad = NULL;
    int status = LAP_OK;
    for (int64_t start = 0; start < N && status == LAP_OK; start += o->batch) {
        int64_t rows = N - start < o->batch ? N - start : o->batch;
        int64_t shape[LAP_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = rows;
        if (lap_tensor_ensure(&work, x->ndim, shape) != LAP_OK || lap_tensor_ensure(&grad, x->ndim, shape) != LAP_OK) {
            status = LAP_ERR;
            break;
        }
        int64_t count = rows * row;
        const float *clean = lap_data(x) + start * row;
        float *out = lap_data(adversarial) + start * row, *current = lap_data(work), *g = lap_data(grad);
        lap_copy(current, out, count);
        for (int t = 0; t < steps; t++) {
            if (lap_check_interrupt() != LAP_OK ||
                lap_input_gradient(grad, NULL, NULL, net, work, labels + start) != LAP_OK) {
                status = attack_error(what);
                break;
            }
            for (int64_t i = 0; i < count; i++) {
                float moved = current[i] + step * signf(g[i]);
                if (project)
                    moved = clean[i] + clampf(moved - clean[i], -eps, eps);
                current[i] = clip ? clampf(moved, lo, hi) : moved;
            }
        }
        lap_copy(out, current, count);
    }
    lap_tensor_release(work);
    lap_tensor_release(grad);
    return status;
}

int lap_fgsm(lap_tensor *adversarial, lap_module *net, const lap_tensor *x, const int32_t *labels,
             const lap_attack_options *o)
{
    if (check_options("fgsm", adversarial, x, o, 0) != LAP_OK)
        return LAP_ERR;
    lap_copy(lap_data(adversarial), lap_data(x), lap_numel(x));
    return signed_steps(adversarial, net, x, labels, o, o->epsilon, 1, 0, "fgsm");
}

int lap_pgd(lap_tensor *adversarial, lap_module *net, const lap_tensor *x, const int32_t *labels,
            const lap_attack_options *o)
{
    if (check_options("pgd", adversarial, x, o, 1) != LAP_OK)
        return LAP_ERR;
    int64_t count = lap_numel(x);
    const float *clean = lap_data(x);
    float *out = lap_data(adversarial);
    float eps = (float)o->epsilon, lo = (float)o->lo, hi = (float)o->hi;
    int clip = o->lo <= o->hi;
    if (o->start || o->random_start) {
        lap_rng *rng = o->rng ? o->rng : lap_global_rng();
        const float *given = o->start ? lap_data(o->start) : NULL;
        for (int64_t i = 0; i < count; i++) {
            /* torch's uniform_(-eps, eps): from + (to - from) u */
            float delta = given ? given[i] : (float)(-o->epsilon + 2 * o->epsilon * lap_rng_uniform(rng));
            float start = clean[i] + clampf(delta, -eps, eps);
            out[i] = clip ? clampf(start, lo, hi) : start;
        }
    } else {
        lap_copy(out, clean, count);
    }
    return signed_steps(adversarial, net, x, labels, o, o->alpha, o->steps, 1, "pgd");
}
