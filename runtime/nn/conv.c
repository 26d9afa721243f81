/* conv.c: Conv2d and ConvTranspose2d (NCHW, PyTorch semantics, dilation 1), and the
 * im2col + sgemm kernels behind them.
 *
 * Conv2d forward, per sample and group: cols = im2col(x) (C/g*kh*kw rows, OH*OW
 * columns), y = W cols.  Backward: dW += dy cols^T, dx = col2im(W^T dy).
 * ConvTranspose2d is the adjoint of a Conv2d whose weight has the same (in, out,
 * k, k) layout: its forward is that convolution's input gradient, its input
 * gradient that convolution's forward, and its weight gradient the same kernel
 * with data and gradient swapped.
 *
 * 3x3 stride-1 padding-1 ungrouped convolutions (the ResNet blocks) go to
 * Winograd F(2x2, 3x3) (winograd.c) unless lap_conv_set_winograd(0).
 *
 * Samples are independent, so the kernels split the batch across OpenMP threads
 * (when built with -fopenmp), each thread with its own column buffer.  Forward and
 * input-gradient passes hand out samples one at a time to whichever thread is
 * free (a thread slowed by another process on its core then does less); the
 * weight gradient splits the batch in fixed contiguous halves, each thread with
 * its own partial sum, added in thread order, so that results do not depend on
 * timing.  OpenBLAS runs single-threaded (tensor.c: OpenMP's threads are lap's
 * only pool): per-sample products are small and fit one core's cache.
 * Limits: dilation 1; ConvTranspose2d has groups 1 and square kernels.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE__
#include <immintrin.h>
#endif

#include "nn/conv.h"
#include "core/error.h"
#include "nn/module.h"
#include "nn/registry.h"

/* ------------------------------------------------------------------ threads */

int lap_conv_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

#ifdef _OPENMP
#define NUM_THREADS() omp_get_num_threads()
#else
#define NUM_THREADS() 1
#endif

/* Grows the scratch tensor to at least count floats; returns its data or NULL. */
static float *scratch_floats(lap_tensor **scratch, int64_t count)
{
    if (count < 1)
        count = 1;
    if (!*scratch || lap_numel(*scratch) < count) {
        if (lap_tensor_ensure(scratch, 1, &count) != LAP_OK)
            return NULL;
    }
    return lap_data(*scratch);
}

static int winograd_enabled = 1;

/* Fewer input or output channels than this go through im2col: the Winograd products
 * are then thin and the transforms dominate (measured: 1 -> 16 and 3 -> 50 are
 * faster with im2col). */
#define WINOGRAD_MIN_CHANNELS 8

static int use_winograd(const lap_conv_geom *g)
{
    if (!winograd_enabled || !lap_winograd_eligible(g))
        return 0;
    return winograd_enabled == 2 || (g->C >= WINOGRAD_MIN_CHANNELS && g->K >= WINOGRAD_MIN_CHANNELS);
}

int lap_conv_uses_winograd(const lap_conv_geom *g) { return use_winograd(g); }

int lap_conv_set_winograd(int enable)
{
    int previous = winograd_enabled;
    winograd_enabled = enable;
    return previous;
}

/* ---------------------------------------------------------- im2col kernels */

/* The output columns ox in [*lo, *hi) read input columns ix = ox*stride - pad + j inside [0, W). */
static void valid_range(int64_t *lo, int64_t *hi, int64_t j, int64_t W, int64_t OW, int stride, int pad)
{
    int64_t a = pad - j;   /* ox*stride >= a */
    int64_t l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int64_t b = W - 1 + pad - j;  /* ox*stride <= b */
    int64_t h = b < 0 ? 0 : b / stride + 1;
    if (h > OW)
        h = OW;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* dst[ox] = src[2 ox] for ox in [lo, hi): the stride-2 row copy of im2col (the
 * encoders' 5x5 stride-2 convolutions), four at a time from two loads and a shuffle.
 * Only src[2 lo] .. src[2 (hi - 1)] are inside the image row (valid_range): a group
 * of four reads up to src[2 ox + 7], so the vector loop stops while ox + 4 < hi. */
static void gather_even(float *dst, const float *src, int64_t lo, int64_t hi)
{
    int64_t ox = lo;
#ifdef __SSE__
    for (; ox + 4 < hi; ox += 4) {
        __m128 a = _mm_loadu_ps(src + 2 * ox), b = _mm_loadu_ps(src + 2 * ox + 4);
        _mm_storeu_ps(dst + ox, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    }
#endif
    for (; ox < hi; ox++)
        dst[ox] = src[2 * ox];
}

/* cols: (C*kh*kw, OH*OW) overwritten; x: (C, H, W) */
static void im2col(float *cols, const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                   int pad, int64_t OH, int64_t OW)
{
    for (int64_t c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *row = cols + ((c * kh + i) * kw + j) * OH * OW;
                int64_t lo, hi;
                valid_range(&lo, &hi, j, W, OW, stride, pad);
                for (int64_t oy = 0; oy < OH; oy++) {
                    float *dst = row + oy * OW;
                    int64_t iy = oy * stride - pad + i;
                    if (iy < 0 || iy >= H) {
                        memset(dst, 0, (size_t)OW * sizeof *dst);
                        continue;
                    }
                    const float *src = x + (c * H + iy) * W - pad + j;
                    for (int64_t ox = 0; ox < lo; ox++)
                        dst[ox] = 0.0f;
                    if (stride == 1)
                        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof *dst);
                    else if (stride == 2)
                        gather_even(dst, src, lo, hi);
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            dst[ox] = src[ox * stride];
                    for (int64_t ox = hi; ox < OW; ox++)
                        dst[ox] = 0.0f;
                }
            }
}

/* x: (C, H, W) overwritten with the adjoint of im2col applied to cols: (C*kh*kw, OH*OW) */
static void col2im(float *x, const float *cols, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                   int pad, int64_t OH, int64_t OW)
{
    memset(x, 0, (size_t)(C * H * W) * sizeof *x);
    for (int64_t c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *row = cols + ((c * kh + i) * kw + j) * OH * OW;
                int64_t lo, hi;
                valid_range(&lo, &hi, j, W, OW, stride, pad);
                for (int64_t oy = 0; oy < OH; oy++) {
                    int64_t iy = oy * stride - pad + i;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *src = row + oy * OW;
                    float *dst = x + (c * H + iy) * W - pad + j;
                    if (stride == 1)
                        for (int64_t ox = lo; ox < hi; ox++)
                            dst[ox] += src[ox];
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            dst[ox * stride] += src[ox];
                }
            }
}

/* A 1x1 stride-1 unpadded convolution needs no columns: the input is already one. */
static int is_pointwise(const lap_conv_geom *g) { return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0; }

/* ---------------------------------------------------------- the three kernels */

/* y: (N, K, OH, OW) overwritten; x: (N, C, H, W); w: (K, C/groups, kh, kw) */
int lap_conv_forward(float *y, const float *x, const float *w, const lap_conv_geom *g, lap_tensor **scratch)
{
    if (use_winograd(g))
        return lap_winograd_forward(y, x, w, g, scratch);
    const int64_t N = g->N, C = g->C, K = g->K, HW = g->H * g->W, OHW = g->OH * g->OW;
    const int64_t Cg = C / g->groups, Kg = K / g->groups, rows = Cg * g->kh * g->kw;
    const int pointwise = is_pointwise(g);
    int nthreads = lap_conv_threads();
    int64_t per_thread = pointwise ? 0 : C * g->kh * g->kw * OHW;
    float *buffer = scratch_floats(scratch, per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    int64_t next = 0;  /* the next sample to take: whichever thread is free takes it */
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID();
        float *cols = buffer + per_thread * tid;
        for (int64_t n; (n = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < N;) {
            const float *xn = x + n * C * HW;
            if (pointwise)
                cols = (float *)xn;
            else
                im2col(cols, xn, C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH, g->OW);
            for (int gi = 0; gi < g->groups; gi++)
                lap_gemm(y + (n * K + gi * Kg) * OHW, w + gi * Kg * rows, cols + gi * rows * OHW, 0, 0, Kg, OHW,
                         rows, 1.0f, 0.0f);
        }
    }
    return LAP_OK;
}

int lap_conv_fuses_input_affine(const lap_conv_geom *g) { return use_winograd(g); }

int lap_conv_forward_affine_relu(float *y, const float *x, const float *w, const lap_conv_input_affine *affine,
                                 const lap_conv_geom *g, lap_tensor **scratch)
{
    if (!use_winograd(g))
        return lap_error("Conv2d: the input's BatchNorm and ReLU fold into Winograd convolutions only");
    return lap_winograd_forward_affine_relu(y, x, w, affine, g, scratch);
}

/* dx: (N, C, H, W) overwritten; dy: (N, K, OH, OW); w: (K, C/groups, kh, kw) */
int lap_conv_backward_data(float *dx, const float *dy, const float *w, const lap_conv_geom *g,
                           lap_tensor **scratch)
{
    if (use_winograd(g))
        return lap_winograd_backward_data(dx, dy, w, g, scratch);
    const int64_t N = g->N, C = g->C, K = g->K, HW = g->H * g->W, OHW = g->OH * g->OW;
    const int64_t Cg = C / g->groups, Kg = K / g->groups, rows = Cg * g->kh * g->kw;
    const int pointwise = is_pointwise(g);
    int nthreads = lap_conv_threads();
    int64_t per_thread = pointwise ? 0 : C * g->kh * g->kw * OHW;
    float *buffer = scratch_floats(scratch, per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    int64_t next = 0;  /* the next sample to take: whichever thread is free takes it */
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID();
        float *cols = buffer + per_thread * tid;
        for (int64_t n; (n = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < N;) {
            float *dxn = dx + n * C * HW;
            if (pointwise)
                cols = dxn;
            for (int gi = 0; gi < g->groups; gi++)
                lap_gemm(cols + gi * rows * OHW, w + gi * Kg * rows, dy + (n * K + gi * Kg) * OHW, 1, 0, rows, OHW,
                         Kg, 1.0f, 0.0f);
            if (!pointwise)
                col2im(dxn, cols, C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH, g->OW);
        }
    }
    return LAP_OK;
}

/* dw: (K, C/groups, kh, kw) +=; dy: (N, K, OH, OW); x: (N, C, H, W) */
int lap_conv_backward_weight(float *dw, const float *dy, const float *x, const lap_conv_geom *g,
                             lap_tensor **scratch)
{
    if (use_winograd(g))
        return lap_winograd_backward_weight(dw, dy, x, g, scratch);
    const int64_t N = g->N, C = g->C, K = g->K, HW = g->H * g->W, OHW = g->OH * g->OW;
    const int64_t Cg = C / g->groups, Kg = K / g->groups, rows = Cg * g->kh * g->kw;
    const int pointwise = is_pointwise(g);
    int nthreads = lap_conv_threads();
    /* Per thread: columns, then a partial weight gradient (thread 0 adds into dw directly). */
    int64_t cols_size = pointwise ? 0 : C * g->kh * g->kw * OHW, wsize = K * rows;
    int64_t per_thread = cols_size + wsize;
    float *buffer = scratch_floats(scratch, per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    int used = 1;
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID(), nt = NUM_THREADS();
        float *cols = buffer + per_thread * tid, *partial = tid == 0 ? dw : cols + cols_size;
        if (tid == 0)
            used = nt;
        if (tid > 0)
            memset(partial, 0, (size_t)wsize * sizeof *partial);
        for (int64_t n = N * tid / nt; n < N * (tid + 1) / nt; n++) {
            const float *xn = x + n * C * HW;
            if (pointwise)
                cols = (float *)xn;
            else
                im2col(cols, xn, C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH, g->OW);
            for (int gi = 0; gi < g->groups; gi++)
                lap_gemm(partial + gi * Kg * rows, dy + (n * K + gi * Kg) * OHW, cols + gi * rows * OHW, 0, 1, Kg,
                         rows, OHW, 1.0f, 1.0f);
        }
    }
    for (int t = 1; t < used; t++)
        lap_axpy(dw, 1.0f, buffer + per_thread * t + cols_size, wsize);
    return LAP_OK;
}

/* y: (N, K, S) += bias per channel; bias: (K) */
static void add_bias(float *y, const float *bias, int64_t N, int64_t K, int64_t S)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            float b = bias[k], *row = y + (n * K + k) * S;
            for (int64_t s = 0; s < S; s++)
                row[s] += b;
        }
}

/* dbias: (K) += sums of dy: (N, K, S) over n and s */
static void bias_grad(float *dbias, const float *dy, int64_t N, int64_t K, int64_t S)
{
    for (int64_t k = 0; k < K; k++) {
        double total = 0;
        for (int64_t n = 0; n < N; n++)
            total += lap_sum(dy + (n * K + k) * S, S);
        dbias[k] += (float)total;
    }
}

/* ------------------------------------------------------------------ Conv2d */

typedef struct conv2d {
    lap_module base;
    int64_t in_channels, out_channels;
    int kh, kw, stride, padding, groups, has_bias;
    int transposed, output_padding;  /* ConvTranspose2d */
    lap_tensor *scratch;
    lap_tensor *phases, *phase_weights, *phase_grads;   /* 5x5 stride 2 through conv_phases.c */
    const lap_conv_input_affine *input_affine;   /* set for one forward by lap_conv2d_forward_affine_relu */
} conv2d;

static int conv_check(conv2d *c, const lap_tensor *input, lap_conv_geom *g)
{
    char shape[LAP_SHAPE_BUF], wshape[LAP_SHAPE_BUF];
    const char *type = c->base.ops->type;
    if (input->ndim != 4)
        return lap_error("%s: input of shape %s must be 4-D (batch, %lld channels, height, width)", type,
                         lap_shape_str(input, shape, sizeof shape), (long long)c->in_channels);
    if (input->shape[1] != c->in_channels)
        return lap_error("%s: input of shape %s has %lld channels, expected %lld (weight of shape %s)", type,
                         lap_shape_str(input, shape, sizeof shape), (long long)input->shape[1],
                         (long long)c->in_channels, lap_shape_str(c->base.params[0], wshape, sizeof wshape));
    int64_t N = input->shape[0], H = input->shape[2], W = input->shape[3];
    if (!c->transposed) {
        if (H + 2 * c->padding < c->kh || W + 2 * c->padding < c->kw)
            return lap_error("%s: input of shape %s is smaller than the %dx%d kernel (padding %d)", type,
                             lap_shape_str(input, shape, sizeof shape), c->kh, c->kw, c->padding);
        *g = (lap_conv_geom){N, c->in_channels, H, W, c->out_channels,
                             (H + 2 * c->padding - c->kh) / c->stride + 1, (W + 2 * c->padding - c->kw) / c->stride + 1,
                             c->kh, c->kw, c->stride, c->padding, c->groups};
        return LAP_OK;
    }
    /* The transposed convolution's output is the input of the convolution it is the adjoint of. */
    int64_t OH = (H - 1) * c->stride - 2 * c->padding + c->kh + c->output_padding;
    int64_t OW = (W - 1) * c->stride - 2 * c->padding + c->kw + c->output_padding;
    if (OH < 1 || OW < 1 || H < 1 || W < 1)
        return lap_error("%s: input of shape %s gives an empty output (%lld x %lld)", type,
                         lap_shape_str(input, shape, sizeof shape), (long long)OH, (long long)OW);
    *g = (lap_conv_geom){N, c->out_channels, OH, OW, c->in_channels, H, W,
                         c->kh, c->kw, c->stride, c->padding, 1};
    return LAP_OK;
}

/* The phases of x and the phase kernels of the weight (conv_phases.c), in the module's buffers. */
static int phases_prepare(conv2d *c, const lap_conv_geom *g, const float *x, lap_conv_geom *phase_geom)
{
    lap_conv_phases_geom(phase_geom, g);
    int64_t shape[4] = {g->N, 4 * g->C, g->H / 2, g->W / 2}, wshape[4] = {g->K, 4 * g->C, 3, 3};
    if (lap_tensor_ensure(&c->phases, 4, shape) != LAP_OK || lap_tensor_ensure(&c->phase_weights, 4, wshape) != LAP_OK)
        return LAP_ERR;
    lap_conv_phases_split(lap_data(c->phases), x, g->N, g->C, g->H, g->W);
    lap_conv_phases_weights(lap_data(c->phase_weights), lap_data(c->base.params[0]), g->K, g->C);
    return LAP_OK;
}

static int conv_fwd(lap_module *m, lap_tensor *input)
{
    conv2d *c = (conv2d *)m;
    lap_conv_geom g;
    if (conv_check(c, input, &g) != LAP_OK)
        return LAP_ERR;
    const float *w = lap_data(m->params[0]), *bias = c->has_bias ? lap_data(m->params[1]) : NULL;
    if (!c->transposed) {
        int64_t shape[4] = {g.N, g.K, g.OH, g.OW};
        if (lap_tensor_ensure(&m->output, 4, shape) != LAP_OK)
            return LAP_ERR;
        if (c->input_affine) {
            if (lap_conv_forward_affine_relu(lap_data(m->output), lap_data(input), w, c->input_affine, &g, &c->scratch) !=
                LAP_OK)
                return LAP_ERR;
        } else if (lap_conv_phases_eligible(&g)) {
            lap_conv_geom phase_geom;
            if (phases_prepare(c, &g, lap_data(input), &phase_geom) != LAP_OK ||
                lap_conv_forward(lap_data(m->output), lap_data(c->phases), lap_data(c->phase_weights), &phase_geom,
                                 &c->scratch) != LAP_OK)
                return LAP_ERR;
        } else if (lap_conv_forward(lap_data(m->output), lap_data(input), w, &g, &c->scratch) != LAP_OK)
            return LAP_ERR;
        if (bias)
            add_bias(lap_data(m->output), bias, g.N, g.K, g.OH * g.OW);
    } else {
        int64_t shape[4] = {g.N, g.C, g.H, g.W};
        if (lap_tensor_ensure(&m->output, 4, shape) != LAP_OK ||
            lap_conv_backward_data(lap_data(m->output), lap_data(input), w, &g, &c->scratch) != LAP_OK)
            return LAP_ERR;
        if (bias)
            add_bias(lap_data(m->output), bias, g.N, g.C, g.H * g.W);
    }
    return LAP_OK;
}

static int conv_bwd(lap_module *m, const lap_tensor *grad_output)
{
    conv2d *c = (conv2d *)m;
    lap_conv_geom g;
    if (conv_check(c, m->input, &g) != LAP_OK)
        return LAP_ERR;
    if (lap_tensor_ensure_like(&m->grad_input, m->input) != LAP_OK)
        return LAP_ERR;
    const float *w = lap_data(m->params[0]), *x = lap_data(m->input), *dy = lap_data(grad_output);
    float *dx = lap_data(m->grad_input);
    int learn = !m->frozen;
    if (!c->transposed && lap_conv_phases_eligible(&g)) {
        lap_conv_geom phase_geom;
        if (phases_prepare(c, &g, x, &phase_geom) != LAP_OK)
            return LAP_ERR;
        if (learn) {
            if (lap_tensor_ensure_like(&c->phase_grads, c->phase_weights) != LAP_OK)
                return LAP_ERR;
            memset(lap_data(c->phase_grads), 0, (size_t)lap_numel(c->phase_grads) * sizeof(float));
            if (lap_conv_backward_weight(lap_data(c->phase_grads), dy, lap_data(c->phases), &phase_geom, &c->scratch) !=
                LAP_OK)
                return LAP_ERR;
            lap_conv_phases_weight_grad(lap_data(m->grads[0]), lap_data(c->phase_grads), g.K, g.C);
            if (c->has_bias)
                bias_grad(lap_data(m->grads[1]), dy, g.N, g.K, g.OH * g.OW);
        }
        /* The phases' gradient overwrites the phases (no longer needed), then goes back into dx. */
        if (lap_conv_backward_data(lap_data(c->phases), dy, lap_data(c->phase_weights), &phase_geom, &c->scratch) !=
            LAP_OK)
            return LAP_ERR;
        lap_conv_phases_merge(dx, lap_data(c->phases), g.N, g.C, g.H, g.W);
    } else if (!c->transposed) {
        if (lap_conv_backward_data(dx, dy, w, &g, &c->scratch) != LAP_OK ||
            (learn && lap_conv_backward_weight(lap_data(m->grads[0]), dy, x, &g, &c->scratch) != LAP_OK))
            return LAP_ERR;
        if (learn && c->has_bias)
            bias_grad(lap_data(m->grads[1]), dy, g.N, g.K, g.OH * g.OW);
    } else {
        /* Conv geometry: its input is our output (dy), its output our input (x). */
        if (lap_conv_forward(dx, dy, w, &g, &c->scratch) != LAP_OK ||
            (learn && lap_conv_backward_weight(lap_data(m->grads[0]), x, dy, &g, &c->scratch) != LAP_OK))
            return LAP_ERR;
        if (learn && c->has_bias)
            bias_grad(lap_data(m->grads[1]), dy, g.N, g.C, g.H * g.W);
    }
    return LAP_OK;
}

static void conv_destroy(lap_module *m)
{
    conv2d *c = (conv2d *)m;
    lap_tensor_release(c->scratch);
    lap_tensor_release(c->phases);
    lap_tensor_release(c->phase_weights);
    lap_tensor_release(c->phase_grads);
}


static void conv_describe(const lap_module *m, char *buf, size_t size)
{
    const conv2d *c = (const conv2d *)m;
    size_t used = (size_t)snprintf(buf, size, "%s(%lld -> %lld, %dx%d", m->ops->type, (long long)c->in_channels,
                                   (long long)c->out_channels, c->kh, c->kw);
#define APPEND(...)                                                                                  \
    do {                                                                                             \
        if (used < size)                                                                             \
            used += (size_t)snprintf(buf + used, size - used, __VA_ARGS__);                          \
    } while (0)
    if (c->stride != 1)
        APPEND(", stride %d", c->stride);
    if (c->padding != 0)
        APPEND(", padding %d", c->padding);
    if (c->output_padding != 0)
        APPEND(", output padding %d", c->output_padding);
    if (c->groups != 1)
        APPEND(", groups %d", c->groups);
    if (!c->has_bias)
        APPEND(", no bias");
    APPEND(")%s", m->frozen ? " frozen" : "");
#undef APPEND
}

static const lap_field conv2d_fields[] = {
    {"in", LAP_FIELD_INT64, offsetof(conv2d, in_channels), 0, NULL},
    {"out", LAP_FIELD_INT64, offsetof(conv2d, out_channels), 0, NULL},
    {"kh", LAP_FIELD_INT, offsetof(conv2d, kh), 0, NULL},
    {"kw", LAP_FIELD_INT, offsetof(conv2d, kw), 0, NULL},
    {"stride", LAP_FIELD_INT, offsetof(conv2d, stride), 0, NULL},
    {"padding", LAP_FIELD_INT, offsetof(conv2d, padding), 0, NULL},
    {"groups", LAP_FIELD_INT, offsetof(conv2d, groups), 0, NULL},
    {"bias", LAP_FIELD_BOOL, offsetof(conv2d, has_bias), 1, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const lap_field conv_transpose2d_fields[] = {
    {"in", LAP_FIELD_INT64, offsetof(conv2d, in_channels), 0, NULL},
    {"out", LAP_FIELD_INT64, offsetof(conv2d, out_channels), 0, NULL},
    {"kernel", LAP_FIELD_INT, offsetof(conv2d, kh), 0, NULL},
    {"stride", LAP_FIELD_INT, offsetof(conv2d, stride), 0, NULL},
    {"padding", LAP_FIELD_INT, offsetof(conv2d, padding), 0, NULL},
    {"output_padding", LAP_FIELD_INT, offsetof(conv2d, output_padding), 0, NULL},
    {"bias", LAP_FIELD_BOOL, offsetof(conv2d, has_bias), 1, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* weight (out, in / groups, kh, kw) and bias */
static double conv2d_floats(const double *v)
{
    return v[1] * (v[6] >= 1 ? v[0] / v[6] : v[0]) * v[2] * v[3] + (v[7] ? v[1] : 0);
}

static double conv_transpose2d_floats(const double *v) { return v[0] * v[1] * v[2] * v[2] + (v[6] ? v[1] : 0); }

const lap_module_ops lap_conv2d_ops = {
    .type = "Conv2d", .forward = conv_fwd, .backward = conv_bwd, .destroy = conv_destroy, .describe = conv_describe,
    .fields = conv2d_fields, .config_floats = conv2d_floats,
};
const lap_module_ops lap_conv_transpose2d_ops = {
    .type = "ConvTranspose2d", .forward = conv_fwd, .backward = conv_bwd, .destroy = conv_destroy,
    .describe = conv_describe, .fields = conv_transpose2d_fields, .config_floats = conv_transpose2d_floats,
};

int lap_conv2d_fuses_input_affine(const lap_module *m, const lap_tensor *input)
{
    const conv2d *c = (const conv2d *)m;
    if (!m || m->ops != &lap_conv2d_ops || input->ndim != 4 || input->shape[1] != c->in_channels)
        return 0;
    lap_conv_geom g = {input->shape[0], input->shape[1], input->shape[2], input->shape[3], c->out_channels, 0, 0,
                       c->kh, c->kw, c->stride, c->padding, c->groups};
    g.OH = (g.H + 2 * g.pad - g.kh) / g.stride + 1;
    g.OW = (g.W + 2 * g.pad - g.kw) / g.stride + 1;
    return g.OH >= 1 && g.OW >= 1 && lap_conv_fuses_input_affine(&g);
}

int lap_conv2d_forward_affine_relu(lap_module *m, lap_tensor *input, const float *mean, const float *inv_std,
                                   const float *weight, const float *bias)
{
    conv2d *c = (conv2d *)m;
    const lap_conv_input_affine affine = {mean, inv_std, weight, bias};
    c->input_affine = &affine;
    int status = lap_module_forward(m, input);
    c->input_affine = NULL;
    return status;
}

static lap_module *conv_new(const lap_module_ops *ops, int64_t in, int64_t out, int kh, int kw, int stride,
                            int padding, int output_padding, int groups, int bias)
{
    const char *type = ops->type;
    int transposed = ops == &lap_conv_transpose2d_ops;
    if (in <= 0 || out <= 0) {
        lap_error("%s: channel counts must be positive, got %lld -> %lld", type, (long long)in, (long long)out);
        return NULL;
    }
    if (kh <= 0 || kw <= 0 || stride <= 0 || padding < 0) {
        lap_error("%s: kernel %dx%d, stride %d, padding %d: kernel and stride must be positive, padding >= 0",
                  type, kh, kw, stride, padding);
        return NULL;
    }
    if (groups <= 0 || in % groups || out % groups) {
        lap_error("%s: %d groups must divide both channel counts (%lld -> %lld)", type, groups, (long long)in,
                  (long long)out);
        return NULL;
    }
    if (output_padding < 0 || (transposed && output_padding >= stride)) {
        lap_error("%s: output padding %d must be >= 0 and smaller than the stride %d", type, output_padding,
                  stride);
        return NULL;
    }
    conv2d *c = lap_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    lap_module_init(&c->base, ops);
    *c = (conv2d){c->base, in, out, kh, kw, stride, padding, groups, bias, transposed, output_padding, NULL, NULL, NULL, NULL, NULL};
    int64_t wshape[4] = {transposed ? in : out, transposed ? out : in / groups, kh, kw};
    if (lap_module_add_param(&c->base, "weight", lap_tensor_new(4, wshape)) != LAP_OK ||
        (bias && lap_module_add_param(&c->base, "bias", lap_tensor_new(1, &out)) != LAP_OK)) {
        lap_module_release(&c->base);
        return NULL;
    }
    return &c->base;
}

lap_module *lap_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride,
                           int padding, int groups, int bias)
{
    return conv_new(&lap_conv2d_ops, in_channels, out_channels, kernel_h, kernel_w, stride, padding, 0, groups, bias);
}

lap_module *lap_conv_transpose2d_new(int64_t in_channels, int64_t out_channels, int kernel, int stride,
                                     int padding, int output_padding, int bias)
{
    return conv_new(&lap_conv_transpose2d_ops, in_channels, out_channels, kernel, kernel, stride, padding,
                    output_padding, 1, bias);
}

lap_module *lap_conv2d_from_config(const lap_config *c)
{
    const double *v = c->values;
    return lap_conv2d_new((int64_t)v[0], (int64_t)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5], (int)v[6],
                          (int)v[7]);
}

lap_module *lap_conv_transpose2d_from_config(const lap_config *c)
{
    const double *v = c->values;
    return lap_conv_transpose2d_new((int64_t)v[0], (int64_t)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5],
                                    (int)v[6]);
}
