/* pooling.c: pooling and reshaping modules on NCHW tensors: AvgPool2d, MaxPool2d,
 * GlobalAvgPool, Flatten.
 *
 * AvgPool2d and MaxPool2d follow torch.nn's (square kernel, dilation 1,
 * ceil_mode False): output size floor((H + 2 padding - kernel) / stride) + 1.
 * AvgPool2d counts the zero padding in its divisor (count_include_pad=True), so
 * every window divides by kernel^2.  MaxPool2d pads with -inf; the gradient goes
 * to the first maximum in scan order (row by row), as PyTorch's CPU kernel; a NaN
 * in a window wins (it propagates, and the last NaN gets the gradient, as in
 * PyTorch).  As torch does, padding is limited to half the kernel, so every
 * window holds at least one input element.
 * GlobalAvgPool averages (N, C, H, W) over H*W into (N, C).  Flatten maps
 * (N, ...) to (N, rest) by copying into its own buffer (a view would cost an
 * allocation per step; the copy is cheap next to the convolutions around it).
 *
 * Buffers (outputs, gradients, MaxPool's argmax indices) are reused across calls:
 * a steady training loop allocates nothing here.  Limits: single-threaded loops;
 * one input plane must have fewer than 2^31 elements (argmax indices are int32).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/module.h"
#include "nn/registry.h"

/* ---------------------------------------------------------- 2-D pooling */

typedef struct pool2d {
    lap_module base;
    int kernel, stride, padding;
    int is_max;
    int32_t *argmax;          /* MaxPool: per output, the index of its max in the input plane */
    int64_t argmax_capacity;  /* entries allocated */
} pool2d;

/* Output length of one spatial dimension; 0 when the kernel does not fit. */
static int64_t pool_out_size(int64_t size, int kernel, int stride, int padding)
{
    int64_t padded = size + 2 * (int64_t)padding;
    return padded < kernel ? 0 : (padded - kernel) / stride + 1;
}

/* out: (P, OH, OW), in: (P, H, W) where P = N*C planes.  divisor = kernel^2
 * (count_include_pad: the padding counts, and with ceil_mode False no window
 * reaches past the padded input). */
static void avgpool_forward(float *out, const float *in, int kernel, int stride, int padding, int64_t P,
                            int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    const float inv = 1.0f / ((float)kernel * (float)kernel);
    for (int64_t p = 0; p < P; p++) {
        const float *plane = in + p * H * W;
        float *o = out + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - padding;
            int64_t hlo = h0 < 0 ? 0 : h0, hhi = h0 + kernel > H ? H : h0 + kernel;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - padding;
                int64_t wlo = w0 < 0 ? 0 : w0, whi = w0 + kernel > W ? W : w0 + kernel;
                float sum = 0.0f;
                for (int64_t h = hlo; h < hhi; h++)
                    for (int64_t w = wlo; w < whi; w++)
                        sum += plane[h * W + w];
                o[oh * OW + ow] = sum * inv;
            }
        }
    }
}

/* din: (P, H, W) overwritten; dout: (P, OH, OW).  Each output spreads its gradient
 * evenly over the input elements of its window (padding takes its share too). */
static void avgpool_backward(float *din, const float *dout, int kernel, int stride, int padding, int64_t P,
                             int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    const float inv = 1.0f / ((float)kernel * (float)kernel);
    lap_fill(din, 0.0f, P * H * W);
    for (int64_t p = 0; p < P; p++) {
        float *plane = din + p * H * W;
        const float *g = dout + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - padding;
            int64_t hlo = h0 < 0 ? 0 : h0, hhi = h0 + kernel > H ? H : h0 + kernel;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - padding;
                int64_t wlo = w0 < 0 ? 0 : w0, whi = w0 + kernel > W ? W : w0 + kernel;
                float share = g[oh * OW + ow] * inv;
                for (int64_t h = hlo; h < hhi; h++)
                    for (int64_t w = wlo; w < whi; w++)
                        plane[h * W + w] += share;
            }
        }
    }
}

/* The max of plane[h][w] over [hlo, hhi) x [wlo, whi) (non-empty) and, in *index,
 * where it is: the first maximum in scan order, or the last NaN (PyTorch's rule).
 * Two passes rather than one loop with an if: on random data that if mispredicts
 * half the time, and gcc compiles the one-loop selects back into branches; here
 * pass 1 is a max (maxss) and pass 2 a masked select, neither branches (1.6x). */
static inline float window_max(int64_t *index, const float *plane, int64_t W, int64_t hlo, int64_t hhi,
                               int64_t wlo, int64_t whi)
{
    float best = -INFINITY;
    int has_nan = 0;
    for (int64_t h = hlo; h < hhi; h++)
        for (int64_t w = wlo; w < whi; w++) {
            float v = plane[h * W + w];
            best = v > best ? v : best;
            has_nan |= v != v;
        }
    int64_t at = hlo * W + wlo;
    if (has_nan) {   /* rare: the last NaN */
        for (int64_t h = hlo; h < hhi; h++)
            for (int64_t w = wlo; w < whi; w++)
                if (isnan(plane[h * W + w]))
                    at = h * W + w;
        *index = at;
        return plane[at];
    }
    /* the first element equal to the max: scan backwards, keeping the last hit */
    for (int64_t h = hhi - 1; h >= hlo; h--)
        for (int64_t w = whi - 1; w >= wlo; w--) {
            int64_t hit = -(int64_t)(plane[h * W + w] == best);   /* 0 or all ones */
            at ^= (at ^ (h * W + w)) & hit;
        }
    *index = at;
    return best;
}

/* out: (P, OH, OW), argmax: (P, OH, OW) indices into a plane, in: (P, H, W).
 * Padding is -inf, so it never wins; every window holds an input element
 * (padding <= kernel / 2), so only input elements are scanned. */
static void maxpool_forward(float *out, int32_t *argmax, const float *in, int kernel, int stride, int padding,
                            int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    for (int64_t p = 0; p < P; p++) {
        const float *plane = in + p * H * W;
        float *o = out + p * OH * OW;
        int32_t *a = argmax + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - padding;
            int64_t hlo = h0 < 0 ? 0 : h0, hhi = h0 + kernel > H ? H : h0 + kernel;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - padding;
                int64_t wlo = w0 < 0 ? 0 : w0, whi = w0 + kernel > W ? W : w0 + kernel;
                int64_t at;
                o[oh * OW + ow] = window_max(&at, plane, W, hlo, hhi, wlo, whi);
                a[oh * OW + ow] = (int32_t)at;
            }
        }
    }
}

/* din: (P, H, W) overwritten; dout, argmax: (P, OH, OW).  Overlapping windows
 * (stride < kernel) may route several gradients to one input: they add. */
static void maxpool_backward(float *din, const float *dout, const int32_t *argmax, int64_t P, int64_t H,
                             int64_t W, int64_t OH, int64_t OW)
{
    lap_fill(din, 0.0f, P * H * W);
    for (int64_t p = 0; p < P; p++) {
        float *plane = din + p * H * W;
        const float *g = dout + p * OH * OW;
        const int32_t *a = argmax + p * OH * OW;
        for (int64_t i = 0; i < OH * OW; i++)
            plane[a[i]] += g[i];
    }
}

static const char *pool_name(const pool2d *pool) { return pool->is_max ? "MaxPool2d" : "AvgPool2d"; }

/* Checks an input against the pool; sets the output's spatial size. */
static int pool_check(const pool2d *pool, const lap_tensor *input, int64_t *OH, int64_t *OW)
{
    char shape[LAP_SHAPE_BUF];
    if (input->ndim != 4)
        return lap_error("%s: input of shape %s should be (N, C, H, W)", pool_name(pool),
                         lap_shape_str(input, shape, sizeof shape));
    int64_t H = input->shape[2], W = input->shape[3];
    *OH = pool_out_size(H, pool->kernel, pool->stride, pool->padding);
    *OW = pool_out_size(W, pool->kernel, pool->stride, pool->padding);
    if (*OH == 0 || *OW == 0)
        return lap_error("%s: kernel %d is larger than the input of shape %s with padding %d", pool_name(pool),
                         pool->kernel, lap_shape_str(input, shape, sizeof shape), pool->padding);
    if (pool->is_max && H * W > INT32_MAX)
        return lap_error("%s: input of shape %s has planes of more than 2^31 elements", pool_name(pool),
                         lap_shape_str(input, shape, sizeof shape));
    return LAP_OK;
}

static int pool_fwd(lap_module *m, lap_tensor *input)
{
    pool2d *pool = (pool2d *)m;
    int64_t OH = 0, OW = 0;
    if (pool_check(pool, input, &OH, &OW) != LAP_OK)
        return LAP_ERR;
    int64_t N = input->shape[0], C = input->shape[1], H = input->shape[2], W = input->shape[3];
    int64_t shape[4] = {N, C, OH, OW};
    if (lap_tensor_ensure(&m->output, 4, shape) != LAP_OK)
        return LAP_ERR;
    if (!pool->is_max) {
        avgpool_forward(lap_data(m->output), lap_data(input), pool->kernel, pool->stride, pool->padding, N * C, H,
                        W, OH, OW);
        return LAP_OK;
    }
    int64_t count = N * C * OH * OW;
    if (count > pool->argmax_capacity) {
        int32_t *argmax = lap_malloc(sizeof *argmax * (size_t)count);
        if (!argmax)
            return LAP_ERR;
        free(pool->argmax);
        pool->argmax = argmax;
        pool->argmax_capacity = count;
    }
    maxpool_forward(lap_data(m->output), pool->argmax, lap_data(input), pool->kernel, pool->stride,
                    pool->padding, N * C, H, W, OH, OW);
    return LAP_OK;
}

static int pool_bwd(lap_module *m, const lap_tensor *grad_output)
{
    pool2d *pool = (pool2d *)m;
    const lap_tensor *x = m->input;
    if (lap_tensor_ensure_like(&m->grad_input, x) != LAP_OK)
        return LAP_ERR;
    int64_t P = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t OH = m->output->shape[2], OW = m->output->shape[3];
    if (pool->is_max)
        maxpool_backward(lap_data(m->grad_input), lap_data(grad_output), pool->argmax, P, H, W, OH, OW);
    else
        avgpool_backward(lap_data(m->grad_input), lap_data(grad_output), pool->kernel, pool->stride,
                         pool->padding, P, H, W, OH, OW);
    return LAP_OK;
}

static void pool_destroy(lap_module *m) { free(((pool2d *)m)->argmax); }

static void pool_describe(const lap_module *m, char *buf, size_t size)
{
    const pool2d *pool = (const pool2d *)m;
    if (pool->padding)
        snprintf(buf, size, "%s(%d, stride %d, padding %d)", pool_name(pool), pool->kernel, pool->stride,
                 pool->padding);
    else
        snprintf(buf, size, "%s(%d, stride %d)", pool_name(pool), pool->kernel, pool->stride);
}

static const lap_field pool_fields[] = {
    {"kernel", LAP_FIELD_INT, offsetof(pool2d, kernel), 0, NULL},
    {"stride", LAP_FIELD_INT, offsetof(pool2d, stride), 0, NULL},
    {"padding", LAP_FIELD_INT, offsetof(pool2d, padding), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

const lap_module_ops lap_avgpool2d_ops = {.type = "AvgPool2d", .forward = pool_fwd, .backward = pool_bwd,
                                          .destroy = pool_destroy, .describe = pool_describe, .fields = pool_fields};
const lap_module_ops lap_maxpool2d_ops = {.type = "MaxPool2d", .forward = pool_fwd, .backward = pool_bwd,
                                          .destroy = pool_destroy, .describe = pool_describe, .fields = pool_fields};

static lap_module *pool_new(const lap_module_ops *ops, int is_max, int kernel, int stride, int padding)
{
    if (kernel <= 0 || stride < 0 || padding < 0) {
        lap_error("%s: kernel must be positive and stride, padding >= 0, got kernel %d, stride %d, padding %d",
                  ops->type, kernel, stride, padding);
        return NULL;
    }
    /* torch's limit, which also guarantees every window covers an input element */
    if (padding > kernel / 2) {
        lap_error("%s: padding %d should be at most half the kernel size %d", ops->type, padding, kernel);
        return NULL;
    }
    pool2d *pool = lap_calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    lap_module_init(&pool->base, ops);
    pool->kernel = kernel;
    pool->stride = stride ? stride : kernel;
    pool->padding = padding;
    pool->is_max = is_max;
    return &pool->base;
}

lap_module *lap_avgpool2d_new(int kernel, int stride, int padding)
{
    return pool_new(&lap_avgpool2d_ops, 0, kernel, stride, padding);
}

lap_module *lap_maxpool2d_new(int kernel, int stride, int padding)
{
    return pool_new(&lap_maxpool2d_ops, 1, kernel, stride, padding);
}

/* ------------------------------------------------------- GlobalAvgPool */

/* out: (P), in: (P, S): the mean of each plane, accumulated in double. */
static void global_avgpool_forward(float *out, const float *in, int64_t P, int64_t S)
{
    for (int64_t p = 0; p < P; p++)
        out[p] = (float)(lap_sum(in + p * S, S) / (double)S);
}

/* din: (P, S) overwritten; dout: (P). */
static void global_avgpool_backward(float *din, const float *dout, int64_t P, int64_t S)
{
    for (int64_t p = 0; p < P; p++)
        lap_fill(din + p * S, dout[p] / (float)S, S);
}

static int global_avgpool_fwd(lap_module *m, lap_tensor *input)
{
    char shape[LAP_SHAPE_BUF];
    if (input->ndim != 4)
        return lap_error("GlobalAvgPool: input of shape %s should be (N, C, H, W)",
                         lap_shape_str(input, shape, sizeof shape));
    int64_t S = input->shape[2] * input->shape[3];
    if (S == 0)
        return lap_error("GlobalAvgPool: input of shape %s has no spatial elements to average",
                         lap_shape_str(input, shape, sizeof shape));
    int64_t out_shape[2] = {input->shape[0], input->shape[1]};
    if (lap_tensor_ensure(&m->output, 2, out_shape) != LAP_OK)
        return LAP_ERR;
    global_avgpool_forward(lap_data(m->output), lap_data(input), out_shape[0] * out_shape[1], S);
    return LAP_OK;
}

static int global_avgpool_bwd(lap_module *m, const lap_tensor *grad_output)
{
    const lap_tensor *x = m->input;
    if (lap_tensor_ensure_like(&m->grad_input, x) != LAP_OK)
        return LAP_ERR;
    global_avgpool_backward(lap_data(m->grad_input), lap_data(grad_output), x->shape[0] * x->shape[1],
                            x->shape[2] * x->shape[3]);
    return LAP_OK;
}

const lap_module_ops lap_global_avgpool_ops = {.type = "GlobalAvgPool", .forward = global_avgpool_fwd,
                                              .backward = global_avgpool_bwd};

/* ------------------------------------------------------------- Flatten */

static int flatten_fwd(lap_module *m, lap_tensor *input)
{
    char shape[LAP_SHAPE_BUF];
    if (input->ndim < 2)
        return lap_error("Flatten: input of shape %s should be (N, ...) with at least 2 dimensions",
                         lap_shape_str(input, shape, sizeof shape));
    int64_t out_shape[2] = {input->shape[0], lap_cols(input)};
    if (lap_tensor_ensure(&m->output, 2, out_shape) != LAP_OK)
        return LAP_ERR;
    lap_copy(lap_data(m->output), lap_data(input), lap_numel(input));
    return LAP_OK;
}

static int flatten_bwd(lap_module *m, const lap_tensor *grad_output)
{
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    lap_copy(lap_data(m->grad_input), lap_data(grad_output), lap_numel(grad_output));
    return LAP_OK;
}

const lap_module_ops lap_flatten_ops = {.type = "Flatten", .forward = flatten_fwd, .backward = flatten_bwd};

static lap_module *stateless_new(const lap_module_ops *ops)
{
    lap_module *m = lap_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    lap_module_init(m, ops);
    return m;
}

lap_module *lap_global_avgpool_new(void) { return stateless_new(&lap_global_avgpool_ops); }
lap_module *lap_flatten_new(void) { return stateless_new(&lap_flatten_ops); }

lap_module *lap_avgpool2d_from_config(const lap_config *c)
{
    return lap_avgpool2d_new((int)c->values[0], (int)c->values[1], (int)c->values[2]);
}

lap_module *lap_maxpool2d_from_config(const lap_config *c)
{
    return lap_maxpool2d_new((int)c->values[0], (int)c->values[1], (int)c->values[2]);
}

lap_module *lap_global_avgpool_from_config(const lap_config *c) { return lap_global_avgpool_new(); }
lap_module *lap_flatten_from_config(const lap_config *c) { return lap_flatten_new(); }
