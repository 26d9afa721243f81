/* init.c: weight initializations over a whole network (see init.h).
 *
 * A module with a "weight" parameter of rank >= 2 is treated as a layer with
 * fan_in = product of weight dims after the first and fan_out = shape[0] * receptive
 * field, as torch.nn.init computes them.  The orthogonal init uses modified
 * Gram-Schmidt in double, which yields the Q of a QR with positive diag(R), the
 * same matrix as torch's sign-corrected QR.
 */
#include "nn/init.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int lap_init_orthogonal_matrix(float *w, int64_t rows, int64_t cols, double gain, lap_rng *rng)
{
    /* Work on the tall orientation (torch transposes when rows < cols). */
    int transpose = rows < cols;
    int64_t tall = transpose ? cols : rows, wide = transpose ? rows : cols;
    double *a = lap_malloc(sizeof(double) * (size_t)(tall * wide));
    if (!a)
        return LAP_ERR;
    /* torch draws the Gaussian matrix as (rows, cols) row-major, then transposes. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double g = lap_rng_gauss(rng);
            if (transpose)
                a[c * wide + r] = g;
            else
                a[r * wide + c] = g;
        }
    /* Columns of the (tall, wide) matrix a are orthonormalised in place. */
    for (int64_t j = 0; j < wide; j++) {
        for (int pass = 0; pass < 2; pass++)   /* re-orthogonalise once for accuracy */
            for (int64_t i = 0; i < j; i++) {
                double dot = 0;
                for (int64_t r = 0; r < tall; r++)
                    dot += a[r * wide + i] * a[r * wide + j];
                for (int64_t r = 0; r < tall; r++)
                    a[r * wide + j] -= dot * a[r * wide + i];
            }
        double norm = 0;
        for (int64_t r = 0; r < tall; r++)
            norm += a[r * wide + j] * a[r * wide + j];
        norm = sqrt(norm);
        for (int64_t r = 0; r < tall; r++)
            a[r * wide + j] = norm > 0 ? a[r * wide + j] / norm : 0.0;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            w[r * cols + c] = (float)(gain * (transpose ? a[c * wide + r] : a[r * wide + c]));
    free(a);
    return LAP_OK;
}

typedef struct init_context {
    const lap_init_spec *spec;
    lap_rng *rng;
} init_context;

static int param_index(const lap_module *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->param_names[i], name) == 0)
            return i;
    return -1;
}

static int init_module(lap_module *m, void *context)
{
    const init_context *ctx = context;
    const lap_init_spec *spec = ctx->spec;
    if (m->frozen)
        return LAP_OK;
    if (m->ops->reset)   /* a type with an initialization of its own (BatchNorm) */
        return m->ops->reset(m);
    int wi = param_index(m, "weight"), bi = param_index(m, "bias");
    if (wi < 0 || m->params[wi]->ndim < 2)
        return LAP_OK;
    lap_tensor *weight = m->params[wi];
    float *w = lap_data(weight);
    int64_t rows = weight->shape[0], cols = lap_numel(weight) / rows;
    int64_t receptive = 1;
    for (int d = 2; d < weight->ndim; d++)
        receptive *= weight->shape[d];
    int64_t fan_in = cols, fan_out = rows * receptive;
    switch (spec->kind) {
    case LAP_INIT_ORTHOGONAL:
        if (lap_init_orthogonal_matrix(w, rows, cols, spec->gain, ctx->rng) != LAP_OK)
            return LAP_ERR;
        break;
    case LAP_INIT_NORMAL:
        for (int64_t i = 0; i < rows * cols; i++)
            w[i] = (float)(spec->std * lap_rng_gauss(ctx->rng));
        break;
    case LAP_INIT_KAIMING: {
        double std = sqrt(2.0 / (double)(spec->fan_out ? fan_out : fan_in));
        for (int64_t i = 0; i < rows * cols; i++)
            w[i] = (float)(std * lap_rng_gauss(ctx->rng));
        break;
    }
    }
    if (bi >= 0) {
        float *b = lap_data(m->params[bi]);
        int64_t n = lap_numel(m->params[bi]);
        for (int64_t i = 0; i < n; i++)
            b[i] = spec->kind == LAP_INIT_NORMAL && spec->normal_bias ? (float)(spec->std * lap_rng_gauss(ctx->rng))
                                                                      : 0.0f;
    }
    return LAP_OK;
}

int lap_init_apply(lap_module *m, const lap_init_spec *spec, lap_rng *rng)
{
    if (spec->kind == LAP_INIT_NORMAL && !(spec->std >= 0 && isfinite(spec->std)))
        return lap_error("init.normal: std must be finite and >= 0, got %g", spec->std);
    if (!isfinite(spec->gain))
        return lap_error("init: gain must be finite, got %g", spec->gain);
    init_context ctx = {spec, rng};
    return lap_module_visit(m, init_module, &ctx);
}
