/* test_conv.c: Conv2d and ConvTranspose2d against a naive direct convolution.
 *
 * (a) forward passes against a direct convolution in double for many geometries
 *     (stride, padding, kernel, groups, depthwise, non-square, bias), with the
 *     Winograd path and with im2col forced; Winograd against im2col on the
 *     ResNet block shapes for the output and both gradients (errors printed);
 *     all of it for both Winograd tile sizes, F(2x2, 3x3) and F(4x4, 3x3), forced
 *     in turn, and the automatic choice between them; 5x5 stride-2 convolutions
 *     through their input's phases against im2col; the fused BatchNorm + ReLU +
 *     Conv2d inference bit for bit against the unfused forward;
 * (b) five-point finite differences of sum(f(x) * R) in every input, weight and
 *     bias element (convolutions are linear in each, so the differences are
 *     exact up to float rounding; tolerance 5e-3 relative above 1, absolute below);
 * (c) the Module contract: accumulation, frozen modules, shape errors, backward
 *     before forward, describe();
 * then prints (does not assert) timings of the ResNet convolutions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/conv.h"
#include "core/error.h"
#include "nn/module.h"
#include "core/rng.h"

#include "check.h"

static lap_rng rng;

/* The Winograd tile size forced (2 or 4), for the labels. */
static int tile = 2;

static lap_tensor *random_tensor(int ndim, const int64_t *shape, double scale)
{
    lap_tensor *t = lap_tensor_new(ndim, shape);
    for (int64_t i = 0; i < lap_numel(t); i++)
        lap_data(t)[i] = (float)(scale * lap_rng_gauss(&rng));
    return t;
}

static void randomize(lap_tensor *t, double scale)
{
    for (int64_t i = 0; i < lap_numel(t); i++)
        lap_data(t)[i] = (float)(scale * lap_rng_gauss(&rng));
}

/* expect(ok, what): CHECK with a message that may be a variable. */
#define expect(ok, what) CHECK(ok, "%s", what)

/* ---- references, in double ---- */

/* y: (N, K, OH, OW); x: (N, C, H, W); w: (K, C/groups, kh, kw); bias: (K) or NULL */
static void direct_conv(double *y, const float *x, const float *w, const float *bias, int64_t N, int64_t C,
                        int64_t H, int64_t W, int64_t K, int kh, int kw, int stride, int pad, int groups,
                        int64_t OH, int64_t OW)
{
    int64_t Cg = C / groups, Kg = K / groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oy = 0; oy < OH; oy++)
                for (int64_t ox = 0; ox < OW; ox++) {
                    double sum = bias ? bias[k] : 0.0;
                    int64_t g = k / Kg;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int64_t iy = oy * stride - pad + i, ix = ox * stride - pad + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                sum += (double)x[((n * C + g * Cg + c) * H + iy) * W + ix] *
                                       w[((k * Cg + c) * kh + i) * kw + j];
                            }
                    y[((n * K + k) * OH + oy) * OW + ox] = sum;
                }
}

/* y: (N, CO, OH, OW), the transposed convolution by scattering: x: (N, CI, H, W), w: (CI, CO, k, k) */
static void direct_conv_transpose(double *y, const float *x, const float *w, const float *bias, int64_t N,
                                  int64_t CI, int64_t H, int64_t W, int64_t CO, int k, int stride, int pad,
                                  int64_t OH, int64_t OW)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < CO; o++)
            for (int64_t p = 0; p < OH * OW; p++)
                y[(n * CO + o) * OH * OW + p] = bias ? bias[o] : 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < CI; c++)
            for (int64_t iy = 0; iy < H; iy++)
                for (int64_t ix = 0; ix < W; ix++)
                    for (int64_t o = 0; o < CO; o++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int64_t oy = iy * stride - pad + i, ox = ix * stride - pad + j;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW)
                                    continue;
                                y[((n * CO + o) * OH + oy) * OW + ox] +=
                                    (double)x[((n * CI + c) * H + iy) * W + ix] * w[((c * CO + o) * k + i) * k + j];
                            }
}

/* max |a - b| / max(max |b|, 1e-30) */
static double relative_error(const float *a, const double *b, int64_t count)
{
    double diff = 0, scale = 1e-30;
    for (int64_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return diff / scale;
}

static double relative_error_f(const float *a, const float *b, int64_t count)
{
    double diff = 0, scale = 1e-30;
    for (int64_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

/* ---- (a) forward against the direct convolution ---- */

typedef struct shape_case {
    int64_t N, C, H, W, K;
    int kh, kw, stride, pad, groups, bias;
} shape_case;

static void check_forward(const shape_case *s)
{
    char what[160];
    snprintf(what, sizeof what, "forward N%lld C%lld %lldx%lld -> K%lld k%dx%d s%d p%d g%d%s", (long long)s->N,
             (long long)s->C, (long long)s->H, (long long)s->W, (long long)s->K, s->kh, s->kw, s->stride, s->pad,
             s->groups, s->bias ? " bias" : "");
    lap_module *m = lap_conv2d_new(s->C, s->K, s->kh, s->kw, s->stride, s->pad, s->groups, s->bias);
    if (!m) {
        expect(0, what);
        printf("  %s\n", lap_last_error());
        return;
    }
    randomize(m->params[0], 0.5);
    if (s->bias)
        randomize(m->params[1], 0.5);
    int64_t shape[4] = {s->N, s->C, s->H, s->W};
    lap_tensor *x = random_tensor(4, shape, 1.0);
    int64_t OH = (s->H + 2 * s->pad - s->kh) / s->stride + 1, OW = (s->W + 2 * s->pad - s->kw) / s->stride + 1;
    int64_t count = s->N * s->K * OH * OW;
    double *ref = malloc((size_t)count * sizeof *ref);
    direct_conv(ref, lap_data(x), lap_data(m->params[0]), s->bias ? lap_data(m->params[1]) : NULL, s->N, s->C,
                s->H, s->W, s->K, s->kh, s->kw, s->stride, s->pad, s->groups, OH, OW);
    for (int winograd = 2; winograd >= 0; winograd--) {
        lap_conv_set_winograd(winograd);
        int ok = lap_module_forward(m, x) == LAP_OK;
        ok = ok && m->output->ndim == 4 && m->output->shape[0] == s->N && m->output->shape[1] == s->K &&
             m->output->shape[2] == OH && m->output->shape[3] == OW;
        double err = ok ? relative_error(lap_data(m->output), ref, count) : 1.0;
        char label[320];
        snprintf(label, sizeof label, "%s [%s, F(%dx%d)] (rel. error %.2g)", what,
                 winograd == 2 ? "winograd" : winograd ? "default" : "im2col", tile, tile, err);
        expect(ok && err < 1e-5, label);
    }
    lap_conv_set_winograd(1);
    printf("ok   %s\n", what);
    free(ref);
    lap_tensor_release(x);
    lap_module_release(m);
}

static void check_transpose_forward(int64_t N, int64_t CI, int64_t H, int64_t W, int64_t CO, int k, int stride,
                                    int pad, int output_padding, int bias)
{
    char what[160];
    snprintf(what, sizeof what, "transpose forward N%lld C%lld %lldx%lld -> %lld k%d s%d p%d op%d%s", (long long)N,
             (long long)CI, (long long)H, (long long)W, (long long)CO, k, stride, pad, output_padding,
             bias ? " bias" : "");
    lap_module *m = lap_conv_transpose2d_new(CI, CO, k, stride, pad, output_padding, bias);
    randomize(m->params[0], 0.5);
    if (bias)
        randomize(m->params[1], 0.5);
    int64_t shape[4] = {N, CI, H, W};
    lap_tensor *x = random_tensor(4, shape, 1.0);
    int64_t OH = (H - 1) * stride - 2 * pad + k + output_padding, OW = (W - 1) * stride - 2 * pad + k + output_padding;
    double *ref = malloc((size_t)(N * CO * OH * OW) * sizeof *ref);
    direct_conv_transpose(ref, lap_data(x), lap_data(m->params[0]), bias ? lap_data(m->params[1]) : NULL, N, CI, H,
                          W, CO, k, stride, pad, OH, OW);
    int ok = lap_module_forward(m, x) == LAP_OK && m->output->shape[1] == CO && m->output->shape[2] == OH &&
             m->output->shape[3] == OW;
    double err = ok ? relative_error(lap_data(m->output), ref, N * CO * OH * OW) : 1.0;
    char label[200];
    snprintf(label, sizeof label, "%s (rel. error %.2g)", what, err);
    expect(ok && err < 1e-5, label);
    printf("ok   %s\n", what);
    free(ref);
    lap_tensor_release(x);
    lap_module_release(m);
}

/* Winograd against im2col on one geometry: output, input gradient, weight gradient. */
static void check_accuracy_vs_im2col(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int k, int stride, int pad);

static void check_winograd_accuracy(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K)
{
    check_accuracy_vs_im2col(N, C, H, W, K, 3, 1, 1);
}

/* Winograd (3x3, or 5x5 stride 2 through the input's phases) against im2col on one
 * geometry: output, input gradient, weight gradient. */
static void check_accuracy_vs_im2col(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int k, int stride, int pad)
{
    lap_module *m = lap_conv2d_new(C, K, k, k, stride, pad, 1, 0);
    randomize(m->params[0], sqrt(2.0 / ((double)k * k * C)));
    int64_t shape[4] = {N, C, H, W};
    lap_tensor *x = random_tensor(4, shape, 1.0);
    lap_tensor *out[2], *dx[2], *dw[2], *dy = NULL;
    for (int winograd = 0; winograd < 2; winograd++) {
        lap_conv_set_winograd(2 * winograd);
        lap_module_zero_grad(m);
        lap_module_forward(m, x);
        if (!dy)
            dy = random_tensor(4, m->output->shape, 1.0);
        lap_module_backward(m, dy);
        out[winograd] = lap_tensor_clone(m->output);
        dx[winograd] = lap_tensor_clone(m->grad_input);
        dw[winograd] = lap_tensor_clone(m->grads[0]);
    }
    lap_conv_set_winograd(1);
    double eo = relative_error_f(lap_data(out[1]), lap_data(out[0]), lap_numel(out[0]));
    double ex = relative_error_f(lap_data(dx[1]), lap_data(dx[0]), lap_numel(dx[0]));
    double ew = relative_error_f(lap_data(dw[1]), lap_data(dw[0]), lap_numel(dw[0]));
    char what[200];
    snprintf(what, sizeof what,
             "winograd F(%dx%d) vs im2col %dx%d s%d N%lld C%lld %lldx%lld K%lld: rel. error output %.2g, input grad %.2g, weight grad %.2g",
             tile, tile, k, k, stride, (long long)N, (long long)C, (long long)H, (long long)W, (long long)K, eo, ex, ew);
    expect(eo < 1e-4 && ex < 1e-4 && ew < 1e-4, what);
    printf("ok   %s\n", what);
    for (int i = 0; i < 2; i++) {
        lap_tensor_release(out[i]);
        lap_tensor_release(dx[i]);
        lap_tensor_release(dw[i]);
    }
    lap_tensor_release(dy);
    lap_tensor_release(x);
    lap_module_release(m);
}

/* ---- (b) finite differences ---- */

typedef struct objective {
    lap_module *module;
    lap_tensor *input, *weights;
} objective;

static double evaluate(objective *o)
{
    if (lap_module_forward(o->module, o->input) != LAP_OK) {
        printf("forward failed: %s\n", lap_last_error());
        exit(1);
    }
    double total = 0;
    const float *out = lap_data(o->module->output), *r = lap_data(o->weights);
    for (int64_t i = 0; i < lap_numel(o->module->output); i++)
        total += (double)out[i] * r[i];
    return total;
}

/* Five-point central difference of the objective in values[i]. */
static double derivative(float *values, int64_t i, float eps, objective *o)
{
    float saved = values[i];
    const float offsets[4] = {-2, -1, 1, 2};
    double f[4];
    for (int j = 0; j < 4; j++) {
        values[i] = saved + offsets[j] * eps;
        f[j] = evaluate(o);
    }
    values[i] = saved;
    return (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12.0 * eps);
}

static int check_values(const char *what, const char *name, float *values, const float *analytic, int64_t count,
                        objective *o)
{
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        double numeric = derivative(values, i, 1e-2f, o);
        checks++;
        if (fabs(analytic[i] - numeric) > 5e-3 * fmax(1.0, fabs(numeric))) {
            failures++;
            if (bad++ < 5)
                printf("FAIL %s %s[%lld]: analytic %.6g numeric %.6g\n", what, name, (long long)i, analytic[i],
                       numeric);
        }
    }
    return bad;
}

/* Checks input, weight and bias gradients of m on a random input of this shape; releases m. */
static void gradcheck(const char *what, lap_module *m, int64_t N, int64_t C, int64_t H, int64_t W)
{
    if (!m) {
        expect(0, what);
        return;
    }
    for (int i = 0; i < m->nparams; i++)
        randomize(m->params[i], 0.5);
    int64_t shape[4] = {N, C, H, W};
    objective o = {m, random_tensor(4, shape, 1.0), NULL};
    if (lap_module_forward(m, o.input) != LAP_OK) {
        printf("FAIL %s: forward: %s\n", what, lap_last_error());
        exit(1);
    }
    o.weights = random_tensor(4, m->output->shape, 1.0);
    lap_module_zero_grad(m);
    int bad = 0;
    if (lap_module_backward(m, o.weights) != LAP_OK) {
        printf("FAIL %s: backward: %s\n", what, lap_last_error());
        failures++;
        bad++;
    } else {
        lap_tensor *dx = lap_tensor_clone(m->grad_input);
        bad += check_values(what, "input", lap_data(o.input), lap_data(dx), lap_numel(dx), &o);
        for (int i = 0; i < m->nparams; i++) {
            lap_tensor *grad = lap_tensor_clone(m->grads[i]);
            bad += check_values(what, m->param_names[i], lap_data(m->params[i]), lap_data(grad), lap_numel(grad), &o);
            lap_tensor_release(grad);
        }
        lap_tensor_release(dx);
    }
    printf("%s gradcheck %s\n", bad ? "FAIL" : "ok  ", what);
    lap_tensor_release(o.input);
    lap_tensor_release(o.weights);
    lap_module_release(m);
}

static void gradchecks(void)
{
    /* Winograd forced (2): these channel counts would otherwise go through im2col. */
    lap_conv_set_winograd(2);
    gradcheck("Conv2d 2->3 3x3 p1 (winograd) 5x6", lap_conv2d_new(2, 3, 3, 3, 1, 1, 1, 1), 2, 2, 5, 6);
    gradcheck("Conv2d 3->4 3x3 p1 no bias (winograd) 4x4", lap_conv2d_new(3, 4, 3, 3, 1, 1, 1, 0), 2, 3, 4, 4);
    gradcheck("ConvTranspose2d 2->2 3x3 s1 p1 (winograd)", lap_conv_transpose2d_new(2, 2, 3, 1, 1, 0, 0), 2, 2, 4, 5);
    gradcheck("Conv2d 2->3 5x5 s2 p2 (phases, winograd) 6x8", lap_conv2d_new(2, 3, 5, 5, 2, 2, 1, 1), 2, 2, 6, 8);
    lap_conv_set_winograd(0);
    gradcheck("Conv2d 2->3 3x3 p1 (im2col) 5x6", lap_conv2d_new(2, 3, 3, 3, 1, 1, 1, 1), 2, 2, 5, 6);
    lap_conv_set_winograd(1);
    gradcheck("Conv2d 8->8 3x3 p1 (default: winograd) 3x5", lap_conv2d_new(8, 8, 3, 3, 1, 1, 1, 1), 1, 8, 3, 5);
    gradcheck("Conv2d 2->4 5x5 s2 p2 7x6", lap_conv2d_new(2, 4, 5, 5, 2, 2, 1, 1), 2, 2, 7, 6);
    gradcheck("Conv2d 4->4 3x3 s2 p0 groups 2 7x7", lap_conv2d_new(4, 4, 3, 3, 2, 0, 2, 1), 2, 4, 7, 7);
    gradcheck("Conv2d 3->3 depthwise 3x3 p1 5x4", lap_conv2d_new(3, 3, 3, 3, 1, 1, 3, 1), 2, 3, 5, 4);
    gradcheck("Conv2d 3->2 1x1 4x5", lap_conv2d_new(3, 2, 1, 1, 1, 0, 1, 1), 2, 3, 4, 5);
    gradcheck("Conv2d 2->3 2x3 s1 p1 non-square kernel", lap_conv2d_new(2, 3, 2, 3, 1, 1, 1, 1), 1, 2, 4, 5);
    gradcheck("ConvTranspose2d 3->2 4x4 s2 p1", lap_conv_transpose2d_new(3, 2, 4, 2, 1, 0, 1), 2, 3, 3, 4);
    gradcheck("ConvTranspose2d 2->3 3x3 s2 p1 op1", lap_conv_transpose2d_new(2, 3, 3, 2, 1, 1, 1), 2, 2, 3, 3);
}

/* ---- (c) the Module contract ---- */

static void check_contract(void)
{
    /* Two backward calls double the parameter gradients; grad_input is overwritten. */
    for (int transposed = 0; transposed < 2; transposed++) {
        lap_module *m = transposed ? lap_conv_transpose2d_new(3, 4, 3, 2, 1, 1, 1) : lap_conv2d_new(3, 4, 3, 3, 1, 1, 1, 1);
        randomize(m->params[0], 0.5);
        randomize(m->params[1], 0.5);
        int64_t shape[4] = {2, 3, 5, 5};
        lap_tensor *x = random_tensor(4, shape, 1.0);
        lap_module_forward(m, x);
        lap_tensor *dy = random_tensor(4, m->output->shape, 1.0);
        lap_module_zero_grad(m);
        lap_module_backward(m, dy);
        lap_tensor *w1 = lap_tensor_clone(m->grads[0]), *b1 = lap_tensor_clone(m->grads[1]);
        lap_tensor *dx1 = lap_tensor_clone(m->grad_input);
        lap_module_backward(m, dy);
        int ok = 1;
        for (int64_t i = 0; i < lap_numel(w1); i++)
            ok &= fabsf(lap_data(m->grads[0])[i] - 2 * lap_data(w1)[i]) <= 1e-5f * (1 + fabsf(lap_data(w1)[i]));
        for (int64_t i = 0; i < lap_numel(b1); i++)
            ok &= fabsf(lap_data(m->grads[1])[i] - 2 * lap_data(b1)[i]) <= 1e-5f * (1 + fabsf(lap_data(b1)[i]));
        for (int64_t i = 0; i < lap_numel(dx1); i++)
            ok &= lap_data(m->grad_input)[i] == lap_data(dx1)[i];
        expect(ok, transposed ? "ConvTranspose2d: two backward calls double the gradients" :
                                "Conv2d: two backward calls double the gradients");
        /* Frozen: no parameter gradients, grad_input still computed. */
        lap_module_zero_grad(m);
        lap_module_freeze(m, 1);
        lap_module_backward(m, dy);
        ok = lap_sum_squares(lap_data(m->grads[0]), lap_numel(m->grads[0])) == 0 &&
             lap_sum_squares(lap_data(m->grads[1]), lap_numel(m->grads[1])) == 0;
        for (int64_t i = 0; i < lap_numel(dx1); i++)
            ok &= lap_data(m->grad_input)[i] == lap_data(dx1)[i];
        expect(ok, "frozen: no parameter gradients, same input gradient");
        char buf[128];
        lap_module_describe(m, buf, sizeof buf);
        expect(strstr(buf, "frozen") != NULL, "describe says frozen");
        lap_tensor_release(w1);
        lap_tensor_release(b1);
        lap_tensor_release(dx1);
        lap_tensor_release(dy);
        lap_tensor_release(x);
        lap_module_release(m);
    }

    /* Errors. */
    lap_module *m = lap_conv2d_new(1, 16, 3, 3, 1, 1, 1, 1);
    int64_t bad_shape[4] = {128, 3, 28, 28};
    lap_tensor *x = lap_tensor_new(4, bad_shape);
    expect(lap_module_backward(m, x) == LAP_ERR && strstr(lap_last_error(), "Conv2d: backward called before forward"),
           "backward before forward is an error");
    expect(lap_module_forward(m, x) == LAP_ERR &&
               strcmp(lap_last_error(), "Conv2d: input of shape [128, 3, 28, 28] has 3 channels, expected 1 "
                                        "(weight of shape [16, 1, 3, 3])") == 0,
           "channel mismatch message");
    printf("     message: %s\n", lap_last_error());
    lap_tensor *flat = lap_tensor_new2(4, 9);
    expect(lap_module_forward(m, flat) == LAP_ERR && strstr(lap_last_error(), "Conv2d: input of shape [4, 9] must be 4-D"),
           "2-D input is an error");
    printf("     message: %s\n", lap_last_error());
    lap_module *big = lap_conv2d_new(1, 2, 5, 5, 1, 0, 1, 1);
    int64_t small[4] = {1, 1, 3, 3};
    lap_tensor *xs = lap_tensor_new(4, small);
    expect(lap_module_forward(big, xs) == LAP_ERR && strstr(lap_last_error(), "smaller than the 5x5 kernel"),
           "input smaller than the kernel is an error");
    printf("     message: %s\n", lap_last_error());
    expect(lap_conv2d_new(3, 4, 3, 3, 1, 1, 2, 1) == NULL && strstr(lap_last_error(), "groups"), "groups must divide");
    expect(lap_conv_transpose2d_new(3, 4, 3, 2, 1, 2, 1) == NULL && strstr(lap_last_error(), "output padding"),
           "output padding < stride");
    lap_module *t = lap_conv_transpose2d_new(2, 3, 3, 2, 1, 1, 1);
    expect(lap_module_forward(t, xs) == LAP_ERR &&
               strstr(lap_last_error(), "ConvTranspose2d: input of shape [1, 1, 3, 3] has 1 channels, expected 2"),
           "ConvTranspose2d channel mismatch message");
    /* Wrong gradient shape after a good forward. */
    int64_t good[4] = {2, 1, 6, 6};
    lap_tensor *xg = lap_tensor_new(4, good);
    lap_module_forward(m, xg);
    expect(lap_module_backward(m, xg) == LAP_ERR && strstr(lap_last_error(), "does not match"),
           "gradient shape mismatch is an error");

    char buf[128];
    lap_module *c = lap_conv2d_new(16, 32, 5, 5, 2, 2, 1, 1);
    lap_module_describe(c, buf, sizeof buf);
    expect(strcmp(buf, "Conv2d(16 -> 32, 5x5, stride 2, padding 2)") == 0, buf);
    lap_module_release(c);
    c = lap_conv2d_new(32, 32, 3, 3, 1, 1, 1, 0);
    lap_module_describe(c, buf, sizeof buf);
    expect(strcmp(buf, "Conv2d(32 -> 32, 3x3, padding 1, no bias)") == 0, buf);
    lap_module_release(c);
    lap_module_describe(t, buf, sizeof buf);
    expect(strcmp(buf, "ConvTranspose2d(2 -> 3, 3x3, stride 2, padding 1, output padding 1)") == 0, buf);
    /* Parameters: names and shapes as torch. */
    expect(strcmp(t->param_names[0], "weight") == 0 && t->params[0]->shape[0] == 2 && t->params[0]->shape[1] == 3 &&
               strcmp(t->param_names[1], "bias") == 0 && t->params[1]->shape[0] == 3,
           "ConvTranspose2d weight (in, out, k, k), bias (out)");
    lap_module *gconv = lap_conv2d_new(4, 6, 3, 2, 1, 0, 2, 0);
    expect(gconv->nparams == 1 && gconv->params[0]->shape[0] == 6 && gconv->params[0]->shape[1] == 2 &&
               gconv->params[0]->shape[2] == 3 && gconv->params[0]->shape[3] == 2,
           "Conv2d weight (out, in / groups, kh, kw), no bias");
    lap_module_release(gconv);
    lap_module_release(t);
    lap_module_release(big);
    lap_tensor_release(xs);
    lap_tensor_release(xg);
    lap_tensor_release(flat);
    lap_tensor_release(x);
    lap_module_release(m);
    printf("ok   contract: accumulation, frozen, errors, describe\n");
}

/* ---- timings ---- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void time_conv(const char *what, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int k, int stride,
                      int pad, int winograd)
{
    lap_conv_set_winograd(winograd);
    lap_module *m = lap_conv2d_new(C, K, k, k, stride, pad, 1, 0);
    randomize(m->params[0], 0.1);
    int64_t shape[4] = {N, C, H, W};
    lap_tensor *x = random_tensor(4, shape, 1.0);
    lap_module_forward(m, x);
    lap_tensor *dy = random_tensor(4, m->output->shape, 1.0);
    lap_module_backward(m, dy);
    double flops = 2.0 * (double)(N * K * m->output->shape[2] * m->output->shape[3]) * (double)(C * k * k);
    double best[3] = {1e9, 1e9, 1e9};
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        lap_module_forward(m, x);
        double t1 = now();
        lap_module_backward(m, dy);
        double t2 = now();
        best[0] = fmin(best[0], t1 - t0);
        best[1] = fmin(best[1], t2 - t1);
        best[2] = fmin(best[2], t2 - t0);
    }
    printf("time %-34s %-8s fwd %6.2f ms (%5.0f GF/s)  bwd %6.2f ms (%5.0f GF/s)  total %6.2f ms (%5.0f GF/s)\n",
           what, winograd ? "default" : "im2col", best[0] * 1e3, flops / best[0] * 1e-9, best[1] * 1e3,
           2 * flops / best[1] * 1e-9, best[2] * 1e3, 3 * flops / best[2] * 1e-9);
    lap_tensor_release(x);
    lap_tensor_release(dy);
    lap_module_release(m);
    lap_conv_set_winograd(1);
}

/* Inference of BatchNorm (eval) -> in-place ReLU -> Conv2d runs as one convolution
 * that normalizes its input as it reads it: the output must be the unfused forward's
 * bit for bit, and the BatchNorm's output is never written. */
static void check_fused_inference(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K)
{
    lap_module *seq = lap_sequential_new(), *bn = lap_batchnorm_new(C, 0.1, 1e-5), *relu = lap_relu_inplace_new(),
               *conv = lap_conv2d_new(C, K, 3, 3, 1, 1, 1, 1);
    lap_module_add_child(seq, bn, NULL);   /* the Sequential retains its children */
    lap_module_add_child(seq, relu, NULL);
    lap_module_add_child(seq, conv, NULL);
    lap_module_release(bn);
    lap_module_release(relu);
    lap_module_release(conv);
    for (int i = 0; i < seq->children[2]->nparams; i++)
        randomize(seq->children[2]->params[i], 0.3);
    randomize(bn->params[0], 1.0);
    randomize(bn->params[1], 0.5);
    lap_tensor *running_mean = lap_batchnorm_running_mean(bn), *running_var = lap_batchnorm_running_var(bn);
    for (int64_t c = 0; c < C; c++) {
        lap_data(running_mean)[c] = (float)(0.3 * lap_rng_gauss(&rng));
        lap_data(running_var)[c] = (float)(0.5 + fabs(lap_rng_gauss(&rng)));
    }
    lap_module_train(seq, 0);
    int64_t shape[4] = {N, C, H, W};
    lap_tensor *x = random_tensor(4, shape, 1.0);
    int ok = lap_module_infer(seq, x) == LAP_OK;
    int not_written = bn->output == NULL;
    lap_tensor *fused = ok ? lap_tensor_clone(seq->output) : NULL;
    ok = ok && lap_module_forward(seq, x) == LAP_OK;
    int same = ok && lap_numel(fused) == lap_numel(seq->output) &&
               memcmp(lap_data(fused), lap_data(seq->output), (size_t)lap_numel(fused) * sizeof(float)) == 0;
    char what[200];
    snprintf(what, sizeof what, "fused BatchNorm+ReLU+Conv2d inference N%lld C%lld %lldx%lld K%lld F(%dx%d): bit for bit",
             (long long)N, (long long)C, (long long)H, (long long)W, (long long)K, tile, tile);
    expect(ok && same && not_written, what);
    printf("ok   %s\n", what);
    lap_tensor_release(fused);
    lap_tensor_release(x);
    lap_module_release(seq);
}

int main(int argc, char **argv)
{
    lap_rng_seed(&rng, 7);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int timings_only = argc > 1 && strcmp(argv[1], "--time") == 0;
    if (!timings_only) {
        const shape_case cases[] = {
            {2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1},   {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 0},   {2, 3, 8, 6, 5, 3, 3, 1, 0, 1, 1},
            {2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1},   {3, 2, 11, 10, 4, 5, 5, 2, 2, 1, 1}, {2, 4, 6, 7, 6, 1, 1, 1, 0, 2, 1},
            {2, 4, 6, 7, 6, 1, 1, 2, 0, 1, 0},   {2, 4, 7, 7, 4, 3, 3, 1, 1, 2, 1},   {2, 6, 7, 5, 6, 3, 3, 1, 1, 6, 1},
            {2, 4, 7, 7, 8, 3, 3, 2, 1, 4, 0},   {2, 3, 5, 5, 2, 5, 5, 1, 2, 1, 1},   {1, 2, 6, 9, 3, 2, 3, 1, 1, 1, 1},
            {2, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1}, {2, 16, 28, 28, 32, 5, 5, 2, 2, 1, 1}, {3, 32, 14, 14, 32, 3, 3, 1, 1, 1, 0},
            {2, 3, 1, 1, 2, 3, 3, 1, 1, 1, 1},   {2, 5, 2, 3, 3, 3, 3, 1, 1, 1, 0},   {2, 3, 5, 5, 4, 3, 3, 3, 2, 1, 1},
        };
        for (tile = 2; tile <= 4; tile += 2) {
            lap_winograd_set_tile(tile);
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                check_forward(&cases[i]);
            check_winograd_accuracy(4, 32, 14, 14, 32);
            check_winograd_accuracy(2, 100, 16, 16, 100);
            check_winograd_accuracy(3, 7, 9, 11, 5);
            /* Channel groups of 8 with a partial last group on either side, odd widths and
             * heights, H != W, widths with and without a multiple of 4 columns, several
             * chunks with a shorter last one (N 37 on 13 samples per chunk). */
            check_winograd_accuracy(5, 12, 7, 13, 20);
            check_winograd_accuracy(2, 17, 12, 5, 9);
            check_winograd_accuracy(37, 24, 10, 8, 16);
            check_winograd_accuracy(3, 8, 1, 1, 8);
            check_winograd_accuracy(2, 3, 2, 128, 4);
            check_winograd_accuracy(2, 9, 3, 6, 16);
            /* 5x5 stride 2 through the phases (conv_phases.c): the MNIST and CIFAR encoders' shapes, small. */
            check_accuracy_vs_im2col(3, 16, 28, 28, 32, 5, 2, 2);
            check_accuracy_vs_im2col(2, 50, 32, 32, 100, 5, 2, 2);
            check_accuracy_vs_im2col(2, 3, 10, 6, 9, 5, 2, 2);
            check_fused_inference(3, 12, 7, 13, 16);
            check_fused_inference(2, 32, 14, 14, 32);
            check_fused_inference(2, 8, 2, 3, 8);
            gradchecks();
        }
        /* The automatic choice: F(4x4) where it makes fewer products. */
        lap_winograd_set_tile(0);
        expect(lap_winograd_tile_for(14, 14) == 4 && lap_winograd_tile_for(16, 16) == 4 &&
                   lap_winograd_tile_for(7, 7) == 4 && lap_winograd_tile_for(2, 2) == 2 &&
                   lap_winograd_tile_for(5, 5) == 2 && lap_winograd_tile_for(6, 6) == 2 &&
                   lap_winograd_tile_for(1, 128) == 2,
               "automatic tile size: F(4x4) on 14x14, 16x16, 7x7; F(2x2) on 2x2, 5x5, 6x6, 1x128");
        expect(lap_winograd_set_tile(2) == 0 && lap_winograd_tile_for(14, 14) == 2 && lap_winograd_set_tile(0) == 2,
               "lap_winograd_set_tile forces and returns the previous setting");
        check_transpose_forward(2, 3, 4, 5, 2, 4, 2, 1, 0, 1);
        check_transpose_forward(2, 3, 4, 4, 2, 3, 2, 1, 1, 0);
        check_transpose_forward(2, 4, 5, 3, 3, 3, 1, 1, 0, 1);
        check_transpose_forward(1, 2, 3, 3, 3, 5, 3, 2, 2, 1);
        check_contract();
    }
    time_conv("32->32 3x3 on 128x32x14x14", 128, 32, 14, 14, 32, 3, 1, 1, 1);
    time_conv("32->32 3x3 on 128x32x14x14", 128, 32, 14, 14, 32, 3, 1, 1, 0);
    time_conv("100->100 3x3 on 128x100x16x16", 128, 100, 16, 16, 100, 3, 1, 1, 1);
    time_conv("100->100 3x3 on 128x100x16x16", 128, 100, 16, 16, 100, 3, 1, 1, 0);
    time_conv("1->16 3x3 p1 on 128x1x28x28", 128, 1, 28, 28, 16, 3, 1, 1, 1);
    time_conv("16->32 5x5 s2 p2 on 128x16x28x28", 128, 16, 28, 28, 32, 5, 2, 2, 1);
    time_conv("3->50 3x3 p1 on 128x3x32x32", 128, 3, 32, 32, 50, 3, 1, 1, 1);
    time_conv("50->100 5x5 s2 p2 on 128x50x32x32", 128, 50, 32, 32, 100, 5, 2, 2, 1);
    return check_summary("test_conv");
}
