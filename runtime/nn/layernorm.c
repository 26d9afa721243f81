/* layernorm.c: LayerNorm over the last dimension, like torch.nn.LayerNorm(F):
 * each row x (F values) of an input (..., F) becomes (x - mean) / sqrt(var + eps),
 * var the biased variance of the row, then weight * . + bias (elementwise, (F) each)
 * when affine.  The same computation in train and eval mode (no running statistics).
 *
 * The module added to show what a new layer takes (README, "Adding a layer"): this
 * file, one line in registry.c, the Lua constructor in bindings/lap_nn.c, its tests
 * (tests/test_gradcheck.c, tests/test_module_types.lua, tests/test_layernorm.lua
 * against PyTorch) and its documentation.
 * Limits: normalizes over one (the last) dimension only, not torch's several
 * trailing dimensions; means and variances are summed in double.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "core/error.h"
#include "nn/module.h"
#include "nn/registry.h"

typedef struct layernorm {
    lap_module base;
    int64_t features;
    double eps;
    int affine;
    lap_tensor *mean, *inv_std;   /* (rows): per row, kept from forward for backward */
} layernorm;

/* y: (rows, F) overwritten; mean, inv_std: (rows) overwritten; x: (rows, F);
 * weight, bias: (F) or NULL (not affine) */
static void layernorm_forward(float *y, float *mean, float *inv_std, const float *x, const float *weight,
                              const float *bias, double eps, int64_t rows, int64_t F)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * F;
        float *yr = y + r * F;
        double sum = 0, squares = 0;
        for (int64_t f = 0; f < F; f++)
            sum += xr[f];
        double mu = sum / (double)F;
        for (int64_t f = 0; f < F; f++)
            squares += ((double)xr[f] - mu) * ((double)xr[f] - mu);
        float m = (float)mu, s = (float)(1.0 / sqrt(squares / (double)F + eps));
        mean[r] = m;
        inv_std[r] = s;
        for (int64_t f = 0; f < F; f++) {
            float normalized = (xr[f] - m) * s;
            yr[f] = weight ? normalized * weight[f] + bias[f] : normalized;
        }
    }
}

/* dx: (rows, F) overwritten; dweight, dbias: (F) accumulated, or NULL (frozen or not
 * affine); dy, x: (rows, F); mean, inv_std: (rows) from the forward pass; weight: (F) or NULL.
 *   dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)),  g = dy * weight */
static void layernorm_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                               const float *mean, const float *inv_std, const float *weight, int64_t rows,
                               int64_t F)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * F, *xr = x + r * F;
        float *dxr = dx + r * F;
        float m = mean[r], s = inv_std[r];
        double g_sum = 0, gx_sum = 0;
        for (int64_t f = 0; f < F; f++) {
            float x_hat = (xr[f] - m) * s, g = weight ? dyr[f] * weight[f] : dyr[f];
            g_sum += g;
            gx_sum += (double)g * x_hat;
            if (dweight)
                dweight[f] += dyr[f] * x_hat;
            if (dbias)
                dbias[f] += dyr[f];
        }
        float g_mean = (float)(g_sum / (double)F), gx_mean = (float)(gx_sum / (double)F);
        for (int64_t f = 0; f < F; f++) {
            float x_hat = (xr[f] - m) * s, g = weight ? dyr[f] * weight[f] : dyr[f];
            dxr[f] = s * (g - g_mean - x_hat * gx_mean);
        }
    }
}

static int layernorm_fwd(lap_module *m, lap_tensor *input)
{
    layernorm *ln = (layernorm *)m;
    char shape[LAP_SHAPE_BUF];
    if (input->ndim < 1 || input->shape[input->ndim - 1] != ln->features)
        return lap_error("LayerNorm: input of shape %s must end with %lld features (weight of shape [%lld])",
                         lap_shape_str(input, shape, sizeof shape), (long long)ln->features,
                         (long long)ln->features);
    int64_t rows = lap_numel(input) / ln->features;
    if (lap_tensor_ensure_like(&m->output, input) != LAP_OK || lap_tensor_ensure(&ln->mean, 1, &rows) != LAP_OK ||
        lap_tensor_ensure(&ln->inv_std, 1, &rows) != LAP_OK)
        return LAP_ERR;
    layernorm_forward(lap_data(m->output), lap_data(ln->mean), lap_data(ln->inv_std), lap_data(input),
                      ln->affine ? lap_data(m->params[0]) : NULL, ln->affine ? lap_data(m->params[1]) : NULL,
                      ln->eps, rows, ln->features);
    return LAP_OK;
}

static int layernorm_bwd(lap_module *m, const lap_tensor *grad_output)
{
    layernorm *ln = (layernorm *)m;
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    int learn = ln->affine && !m->frozen;
    layernorm_backward(lap_data(m->grad_input), learn ? lap_data(m->grads[0]) : NULL,
                       learn ? lap_data(m->grads[1]) : NULL, lap_data(grad_output), lap_data(m->input),
                       lap_data(ln->mean), lap_data(ln->inv_std), ln->affine ? lap_data(m->params[0]) : NULL,
                       lap_numel(m->input) / ln->features, ln->features);
    return LAP_OK;
}

static void layernorm_destroy(lap_module *m)
{
    layernorm *ln = (layernorm *)m;
    lap_tensor_release(ln->mean);
    lap_tensor_release(ln->inv_std);
}

static void layernorm_describe(const lap_module *m, char *buf, size_t size)
{
    const layernorm *ln = (const layernorm *)m;
    snprintf(buf, size, "LayerNorm(%lld, eps=%g%s)%s", (long long)ln->features, ln->eps,
             ln->affine ? "" : ", no affine", m->frozen ? " frozen" : "");
}

/* weight 1, bias 0 (torch's reset_parameters) */
static int layernorm_reset(lap_module *m)
{
    if (m->nparams == 2) {
        lap_fill(lap_data(m->params[0]), 1.0f, lap_numel(m->params[0]));
        lap_fill(lap_data(m->params[1]), 0.0f, lap_numel(m->params[1]));
    }
    return LAP_OK;
}

static const lap_field layernorm_fields[] = {
    {"features", LAP_FIELD_INT64, offsetof(layernorm, features), 0, NULL},
    {"eps", LAP_FIELD_DOUBLE, offsetof(layernorm, eps), 0, NULL},
    {"affine", LAP_FIELD_BOOL, offsetof(layernorm, affine), 1, NULL},
    {NULL, 0, 0, 0, NULL},
};

static double layernorm_floats(const double *v) { return v[2] ? 2 * v[0] : 0; }

const lap_module_ops lap_layernorm_ops = {
    .type = "LayerNorm", .forward = layernorm_fwd, .backward = layernorm_bwd, .destroy = layernorm_destroy,
    .describe = layernorm_describe, .fields = layernorm_fields, .reset = layernorm_reset,
    .config_floats = layernorm_floats,
};

lap_module *lap_layernorm_from_config(const lap_config *c)
{
    return lap_layernorm_new((int64_t)c->values[0], c->values[1], (int)c->values[2]);
}

lap_module *lap_layernorm_new(int64_t features, double eps, int affine)
{
    if (features <= 0) {
        lap_error("LayerNorm: number of features must be positive, got %lld", (long long)features);
        return NULL;
    }
    if (!(eps > 0) || !isfinite(eps)) {
        lap_error("LayerNorm: eps must be a positive number, got %g", eps);
        return NULL;
    }
    layernorm *ln = lap_calloc(1, sizeof *ln);
    if (!ln)
        return NULL;
    lap_module_init(&ln->base, &lap_layernorm_ops);
    ln->features = features;
    ln->eps = eps;
    ln->affine = affine ? 1 : 0;
    if (affine && (lap_module_add_param(&ln->base, "weight", lap_tensor_new(1, &features)) != LAP_OK ||
                   lap_module_add_param(&ln->base, "bias", lap_tensor_new(1, &features)) != LAP_OK)) {
        lap_module_release(&ln->base);
        return NULL;
    }
    layernorm_reset(&ln->base);
    return &ln->base;
}
