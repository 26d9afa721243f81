/* test_pool.c: the pooling and reshaping modules (pool.c) and the MSE loss (mse.c).
 *
 * Forward and backward passes of AvgPool2d, MaxPool2d, GlobalAvgPool and Flatten
 * are compared with naive references (a loop over the whole kernel window that
 * reads the padding explicitly: 0 for the average, -inf for the max) on odd,
 * non-square sizes with and without padding and overlap; input gradients are
 * checked by five-point central differences of L = sum(f(x) * R) as in
 * test_gradcheck.c (MaxPool on inputs spaced well apart, so no perturbation
 * changes which element is the max); ties, errors, descriptions, and buffer
 * reuse are checked directly.  MSE: value, closed-form and finite-difference
 * gradient, scale, NULL gradient, empty input.  Last, the time of one
 * forward+backward on the training step's 128x32x14x14 activations.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "nn/module.h"
#include "train/mse.h"
#include "core/rng.h"

#include "check.h"

static lap_rng rng;

/* check(ok, what): CHECK with a message that may be a variable. */
#define check(ok, what) CHECK(ok, "%s", what)

static lap_tensor *random_tensor(int ndim, const int64_t *shape)
{
    lap_tensor *t = lap_tensor_new(ndim, shape);
    for (int64_t i = 0; i < lap_numel(t); i++)
        lap_data(t)[i] = (float)lap_rng_gauss(&rng);
    return t;
}

/* Distinct values 0.05 apart in random order: no two within reach of a
 * finite-difference step, so the max of every window is stable. */
static lap_tensor *spaced_tensor(int ndim, const int64_t *shape)
{
    lap_tensor *t = lap_tensor_new(ndim, shape);
    int64_t n = lap_numel(t);
    float *x = lap_data(t);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.05 * (double)(i - n / 2));
    for (int64_t i = n - 1; i > 0; i--) {   /* Fisher-Yates */
        int64_t j = (int64_t)(lap_rng_uniform(&rng) * (double)(i + 1));
        if (j > i)
            j = i;
        float tmp = x[i];
        x[i] = x[j];
        x[j] = tmp;
    }
    return t;
}

static double max_abs_diff(const float *a, const float *b, int64_t count)
{
    double worst = 0;
    for (int64_t i = 0; i < count; i++)
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

/* ------------------------------------------------------ naive references */

/* out: (P, OH, OW), din: (P, H, W) overwritten from dout: (P, OH, OW).  Walks the whole
 * kernel window, padding included: AvgPool sums zeros and divides by k^2; MaxPool
 * compares -inf and keeps the first strict max (in scan order). */
static void reference_pool(float *out, float *din, const float *in, const float *dout, int is_max, int k, int s,
                           int pad, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    memset(din, 0, sizeof *din * (size_t)(P * H * W));
    for (int64_t p = 0; p < P; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double sum = 0;
                float best = 0;
                int64_t best_at = -1;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int64_t h = oh * s - pad + i, w = ow * s - pad + j;
                        int inside = h >= 0 && h < H && w >= 0 && w < W;
                        float v = inside ? in[(p * H + h) * W + w] : (is_max ? -INFINITY : 0.0f);
                        sum += v;
                        if (best_at < 0 || v > best) {
                            best = v;
                            best_at = inside ? (p * H + h) * W + w : -1;
                        }
                    }
                int64_t o = (p * OH + oh) * OW + ow;
                if (is_max) {
                    out[o] = best;
                    if (best_at >= 0)
                        din[best_at] += dout[o];
                } else {
                    out[o] = (float)(sum / (k * k));
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int64_t h = oh * s - pad + i, w = ow * s - pad + j;
                            if (h >= 0 && h < H && w >= 0 && w < W)
                                din[(p * H + h) * W + w] += dout[o] / (float)(k * k);
                        }
                }
            }
}

/* --------------------------------------------------- finite differences */

/* L = sum(f(x) * R), accumulated in double. */
static double objective(lap_module *m, lap_tensor *x, const lap_tensor *r)
{
    if (lap_module_forward(m, x) != LAP_OK) {
        printf("forward failed: %s\n", lap_last_error());
        exit(1);
    }
    double total = 0;
    for (int64_t i = 0; i < lap_numel(r); i++)
        total += (double)lap_data(m->output)[i] * lap_data(r)[i];
    return total;
}

/* Five-point stencil in x[i] (truncation O(eps^4)), tolerance 5e-3 * max(1, |g|). */
static int gradcheck(const char *what, lap_module *m, lap_tensor *x)
{
    if (lap_module_forward(m, x) != LAP_OK) {
        printf("FAIL %s: forward: %s\n", what, lap_last_error());
        return ++failures, 0;
    }
    lap_tensor *r = random_tensor(m->output->ndim, m->output->shape);
    if (lap_module_backward(m, r) != LAP_OK) {
        printf("FAIL %s: backward: %s\n", what, lap_last_error());
        lap_tensor_release(r);
        return ++failures, 0;
    }
    lap_tensor *analytic = lap_tensor_clone(m->grad_input);
    const float eps = 2e-3f, offsets[4] = {-2, -1, 1, 2};
    float *values = lap_data(x);
    int bad = 0;
    for (int64_t i = 0; i < lap_numel(x); i++) {
        float saved = values[i];
        double f[4];
        for (int j = 0; j < 4; j++) {
            values[i] = saved + offsets[j] * eps;
            f[j] = objective(m, x, r);
        }
        values[i] = saved;
        double numeric = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12.0 * eps);
        double g = lap_data(analytic)[i];
        checks++;
        if (fabs(g - numeric) > 5e-3 * fmax(1.0, fabs(g))) {
            if (bad++ < 5)
                printf("FAIL %s input[%lld]: analytic %.6g numeric %.6g\n", what, (long long)i, g, numeric);
            failures++;
        }
    }
    printf("%s %s gradient (%lld values)\n", bad ? "FAIL" : "ok  ", what, (long long)lap_numel(x));
    lap_tensor_release(analytic);
    lap_tensor_release(r);
    return bad == 0;
}

/* ---------------------------------------------------------------- pools */

typedef struct pool_case {
    int k, s, pad;
    int64_t N, C, H, W;
} pool_case;

static void check_pool_case(int is_max, pool_case c)
{
    char what[96];
    snprintf(what, sizeof what, "%s k%d s%d p%d on [%lld, %lld, %lld, %lld]", is_max ? "MaxPool2d" : "AvgPool2d",
             c.k, c.s, c.pad, (long long)c.N, (long long)c.C, (long long)c.H, (long long)c.W);
    lap_module *m = is_max ? lap_maxpool2d_new(c.k, c.s, c.pad) : lap_avgpool2d_new(c.k, c.s, c.pad);
    int64_t shape[4] = {c.N, c.C, c.H, c.W};
    lap_tensor *x = random_tensor(4, shape);
    int64_t OH = (c.H + 2 * c.pad - c.k) / c.s + 1, OW = (c.W + 2 * c.pad - c.k) / c.s + 1;
    int before = failures;
    if (lap_module_forward(m, x) != LAP_OK) {
        printf("FAIL %s: %s\n", what, lap_last_error());
        failures++;
    } else {
        check(m->output->ndim == 4 && m->output->shape[0] == c.N && m->output->shape[1] == c.C &&
                  m->output->shape[2] == OH && m->output->shape[3] == OW,
              "pool output shape");
        int64_t P = c.N * c.C, nout = P * OH * OW;
        lap_tensor *dout = random_tensor(4, m->output->shape);
        float *ref_out = malloc(sizeof(float) * (size_t)nout), *ref_din = malloc(sizeof(float) * (size_t)lap_numel(x));
        reference_pool(ref_out, ref_din, lap_data(x), lap_data(dout), is_max, c.k, c.s, c.pad, P, c.H, c.W, OH, OW);
        check(max_abs_diff(lap_data(m->output), ref_out, nout) < 1e-5, "pool forward matches the reference");
        check(lap_module_backward(m, dout) == LAP_OK, "pool backward");
        check(max_abs_diff(lap_data(m->grad_input), ref_din, lap_numel(x)) < 1e-5,
              "pool backward matches the reference");
        /* backward overwrites: a second call gives the same gradient */
        lap_module_backward(m, dout);
        check(max_abs_diff(lap_data(m->grad_input), ref_din, lap_numel(x)) < 1e-5, "pool backward overwrites");
        free(ref_out);
        free(ref_din);
        lap_tensor_release(dout);
    }
    printf("%s %s\n", failures == before ? "ok  " : "FAIL", what);
    lap_tensor_release(x);
    /* gradient check on a smaller copy of the case (differences cost 4 forwards per value) */
    int64_t small[4] = {2, 2, c.H, c.W};
    lap_tensor *xs = is_max ? spaced_tensor(4, small) : random_tensor(4, small);
    gradcheck(what, m, xs);
    lap_tensor_release(xs);
    lap_module_release(m);
}

static void check_pools(void)
{
    const pool_case cases[] = {
        {2, 2, 0, 3, 4, 6, 6},  /* the usual downsampling */
        {2, 2, 0, 2, 3, 7, 5},  /* odd sizes: the last row/column is dropped */
        {3, 2, 1, 2, 3, 7, 6},  /* padding, overlap */
        {3, 1, 1, 1, 2, 5, 4},  /* "same" pooling */
        {2, 1, 0, 2, 2, 4, 5},  /* overlap without padding */
        {3, 3, 0, 1, 2, 9, 7},
        {1, 1, 0, 2, 2, 3, 3},  /* identity */
        {4, 2, 2, 1, 3, 6, 5},  /* padding = kernel / 2 */
        {5, 1, 0, 1, 1, 5, 5},  /* kernel = input */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_pool_case(0, cases[i]);
        check_pool_case(1, cases[i]);
    }
}

/* Ties go to the first max in scan order; -inf padding never wins. */
static void check_maxpool_ties(void)
{
    int before = failures;
    lap_module *m = lap_maxpool2d_new(2, 2, 0);
    int64_t shape[4] = {1, 1, 2, 4};
    /* window 1: all equal -> index 0; window 2: 3 at (0,3) and (1,2) -> (0,3) first */
    float data[8] = {1, 1, 2, 3, 1, 1, 3, -1};
    lap_tensor *x = lap_tensor_from_data(4, shape, data);
    lap_module_forward(m, x);
    int64_t oshape[4] = {1, 1, 1, 2};
    float ones[2] = {1, 1};
    lap_tensor *g = lap_tensor_from_data(4, oshape, ones);
    lap_module_backward(m, g);
    const float expected[8] = {1, 0, 0, 1, 0, 0, 0, 0};
    check(lap_data(m->output)[0] == 1 && lap_data(m->output)[1] == 3, "MaxPool2d tie values");
    check(max_abs_diff(lap_data(m->grad_input), expected, 8) == 0, "MaxPool2d ties: gradient to the first max");
    lap_module_release(m);
    lap_tensor_release(x);
    lap_tensor_release(g);

    /* all-negative input with padding: the max is an input element, never the -inf pad */
    m = lap_maxpool2d_new(3, 2, 1);
    int64_t s2[4] = {1, 1, 3, 3};
    float neg[9] = {-5, -4, -3, -2, -1, -6, -7, -8, -9};
    x = lap_tensor_from_data(4, s2, neg);
    lap_module_forward(m, x);
    const float expected_out[4] = {-1, -1, -1, -1};
    check(max_abs_diff(lap_data(m->output), expected_out, 4) == 0, "MaxPool2d ignores the -inf padding");
    lap_module_release(m);
    lap_tensor_release(x);

    /* a NaN wins its window and the last NaN gets the gradient (PyTorch's rule) */
    m = lap_maxpool2d_new(2, 2, 0);
    float nans[8] = {1, NAN, 2, 3, NAN, 5, 4, 0};
    x = lap_tensor_from_data(4, shape, nans);
    g = lap_tensor_from_data(4, oshape, ones);
    lap_module_forward(m, x);
    lap_module_backward(m, g);
    const float expected_nan[8] = {0, 0, 0, 0, 1, 0, 1, 0};
    check(isnan(lap_data(m->output)[0]) && lap_data(m->output)[1] == 4, "MaxPool2d propagates NaN");
    check(max_abs_diff(lap_data(m->grad_input), expected_nan, 8) == 0, "MaxPool2d NaN: gradient to the last NaN");
    lap_module_release(m);
    lap_tensor_release(x);
    lap_tensor_release(g);

    /* AvgPool with padding divides by k^2 (count_include_pad) */
    m = lap_avgpool2d_new(3, 2, 1);
    float ones9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    x = lap_tensor_from_data(4, s2, ones9);
    lap_module_forward(m, x);
    /* corner windows of the 3x3 ones see 4 ones out of 9 */
    check(fabsf(lap_data(m->output)[0] - 4.0f / 9.0f) < 1e-6, "AvgPool2d counts the padding");
    lap_module_release(m);
    lap_tensor_release(x);
    printf("%s MaxPool2d ties and padding\n", failures == before ? "ok  " : "FAIL");
}

/* ------------------------------------------------- GlobalAvgPool, Flatten */

static void check_global_and_flatten(void)
{
    int before = failures;
    int64_t shape[4] = {3, 4, 5, 6};
    lap_tensor *x = random_tensor(4, shape);
    lap_module *g = lap_global_avgpool_new();
    check(lap_module_forward(g, x) == LAP_OK, "GlobalAvgPool forward");
    check(g->output->ndim == 2 && g->output->shape[0] == 3 && g->output->shape[1] == 4, "GlobalAvgPool shape");
    double worst = 0;
    for (int64_t p = 0; p < 12; p++) {
        double sum = 0;
        for (int64_t i = 0; i < 30; i++)
            sum += lap_data(x)[p * 30 + i];
        worst = fmax(worst, fabs(sum / 30 - lap_data(g->output)[p]));
    }
    check(worst < 1e-6, "GlobalAvgPool is the mean over H*W");
    lap_tensor *dout = random_tensor(2, g->output->shape);
    lap_module_backward(g, dout);
    worst = 0;
    for (int64_t i = 0; i < lap_numel(x); i++)
        worst = fmax(worst, fabs(lap_data(g->grad_input)[i] - lap_data(dout)[i / 30] / 30.0));
    check(worst < 1e-7, "GlobalAvgPool backward spreads grad / (H*W)");
    lap_tensor_release(dout);

    lap_module *f = lap_flatten_new();
    check(lap_module_forward(f, x) == LAP_OK, "Flatten forward");
    check(f->output->ndim == 2 && f->output->shape[0] == 3 && f->output->shape[1] == 120, "Flatten shape");
    check(max_abs_diff(lap_data(f->output), lap_data(x), lap_numel(x)) == 0, "Flatten keeps row-major order");
    check(f->output->storage != x->storage, "Flatten output is its own buffer");
    dout = random_tensor(2, f->output->shape);
    lap_module_backward(f, dout);
    check(lap_same_shape(f->grad_input, x), "Flatten gradient has the input's shape");
    check(max_abs_diff(lap_data(f->grad_input), lap_data(dout), lap_numel(x)) == 0, "Flatten backward copies");
    lap_tensor_release(dout);
    /* (N, C) already flat; (N, C, L) too */
    int64_t s3[3] = {2, 3, 4};
    lap_tensor *x3 = random_tensor(3, s3);
    check(lap_module_forward(f, x3) == LAP_OK && f->output->shape[1] == 12, "Flatten (N, C, L)");
    lap_tensor_release(x3);
    printf("%s GlobalAvgPool and Flatten\n", failures == before ? "ok  " : "FAIL");

    int64_t small[4] = {2, 3, 3, 4};
    lap_tensor *xs = random_tensor(4, small);
    gradcheck("GlobalAvgPool", g, xs);
    gradcheck("Flatten", f, xs);
    lap_tensor_release(xs);
    lap_tensor_release(x);
    lap_module_release(g);
    lap_module_release(f);
}

/* ----------------------------------------------- errors, describe, reuse */

static void expect_error(lap_module *m, lap_tensor *x, const char *expected)
{
    int status = lap_module_forward(m, x);
    checks++;
    if (status == LAP_OK || !strstr(lap_last_error(), expected)) {
        failures++;
        printf("FAIL expected error '%s', got %s\n", expected, status == LAP_OK ? "success" : lap_last_error());
    }
}

static void expect_constructor_error(lap_module *m, const char *expected)
{
    checks++;
    if (m || !strstr(lap_last_error(), expected)) {
        failures++;
        printf("FAIL expected constructor error '%s', got %s\n", expected, m ? "a module" : lap_last_error());
        lap_module_release(m);
    }
}

static void check_errors_and_describe(void)
{
    int before = failures;
    int64_t s2[2] = {2, 3}, s4[4] = {1, 2, 3, 3}, s1[1] = {5};
    lap_tensor *x2 = lap_tensor_new(2, s2), *x4 = lap_tensor_new(4, s4), *x1 = lap_tensor_new(1, s1);
    lap_module *max = lap_maxpool2d_new(2, 2, 0), *avg = lap_avgpool2d_new(4, 1, 1);
    expect_error(max, x2, "MaxPool2d: input of shape [2, 3] should be (N, C, H, W)");
    expect_error(avg, x2, "AvgPool2d: input of shape [2, 3] should be (N, C, H, W)");
    /* kernel 4 on 3 + 2*1 = 5 fits; kernel 4 with no padding does not */
    check(lap_module_forward(avg, x4) == LAP_OK, "AvgPool2d kernel 4 fits a padded 3x3");
    lap_module *big = lap_maxpool2d_new(4, 1, 0);
    expect_error(big, x4, "MaxPool2d: kernel 4 is larger than the input of shape [1, 2, 3, 3] with padding 0");
    lap_module *g = lap_global_avgpool_new(), *f = lap_flatten_new();
    expect_error(g, x2, "GlobalAvgPool: input of shape [2, 3] should be (N, C, H, W)");
    expect_error(f, x1, "Flatten: input of shape [5]");
    expect_constructor_error(lap_maxpool2d_new(0, 1, 0), "MaxPool2d: kernel must be positive");
    expect_constructor_error(lap_avgpool2d_new(2, -1, 0), "AvgPool2d: kernel must be positive");
    expect_constructor_error(lap_maxpool2d_new(3, 1, 2), "MaxPool2d: padding 2 should be at most half");

    char buf[64];
    lap_module_describe(max, buf, sizeof buf);
    check(strcmp(buf, "MaxPool2d(2, stride 2)") == 0, "MaxPool2d describe");
    lap_module_describe(avg, buf, sizeof buf);
    check(strcmp(buf, "AvgPool2d(4, stride 1, padding 1)") == 0, "AvgPool2d describe");
    lap_module *dflt = lap_avgpool2d_new(3, 0, 0);
    lap_module_describe(dflt, buf, sizeof buf);
    check(strcmp(buf, "AvgPool2d(3, stride 3)") == 0, "stride 0 means stride = kernel");
    lap_module_describe(g, buf, sizeof buf);
    check(strcmp(buf, "GlobalAvgPool") == 0, "GlobalAvgPool describe");
    lap_module_describe(f, buf, sizeof buf);
    check(strcmp(buf, "Flatten") == 0, "Flatten describe");

    /* buffers are reused: same shape, same storage */
    int64_t s[4] = {4, 3, 8, 8};
    lap_tensor *x = random_tensor(4, s);
    lap_module_forward(max, x);
    lap_module_backward(max, max->output);
    lap_storage *out = max->output->storage, *gin = max->grad_input->storage;
    lap_tensor *dout = lap_tensor_clone(max->output);
    lap_module_forward(max, x);
    lap_module_backward(max, dout);
    check(max->output->storage == out && max->grad_input->storage == gin, "MaxPool2d reuses its buffers");
    lap_tensor_release(dout);
    lap_tensor_release(x);

    lap_module_release(dflt);
    lap_module_release(max);
    lap_module_release(avg);
    lap_module_release(big);
    lap_module_release(g);
    lap_module_release(f);
    lap_tensor_release(x1);
    lap_tensor_release(x2);
    lap_tensor_release(x4);
    printf("%s errors, describe, buffer reuse\n", failures == before ? "ok  " : "FAIL");
}

/* ---------------------------------------------------------------- MSE */

static void check_mse(void)
{
    int before = failures;
    float out[3] = {1, 2, 3}, target[3] = {0, 4, 3}, grad[3];
    double loss;
    check(lap_mse_loss(&loss, grad, out, target, 3, 1.0) == LAP_OK, "mse status");
    check(fabs(loss - 5.0 / 3.0) < 1e-12, "mse value: (1 + 4 + 0) / 3");
    const float expected[3] = {2.0f / 3.0f, -4.0f / 3.0f, 0};
    check(max_abs_diff(grad, expected, 3) < 1e-7, "mse gradient 2 (o - t) / n");
    check(lap_mse_loss(&loss, grad, out, target, 3, 0.5) == LAP_OK && max_abs_diff(grad, expected, 1) > 0.3 &&
              fabsf(grad[0] - 1.0f / 3.0f) < 1e-7,
          "mse gradient is scaled");
    check(lap_mse_loss(&loss, NULL, out, target, 3, 1.0) == LAP_OK && fabs(loss - 5.0 / 3.0) < 1e-12,
          "mse with a NULL gradient");
    check(lap_mse_loss(&loss, grad, out, target, 0, 1.0) == LAP_ERR && strstr(lap_last_error(), "mse"),
          "mse of nothing is an error");

    enum { N = 40 };
    float o[N], t[N], g[N];
    for (int i = 0; i < N; i++) {
        o[i] = (float)lap_rng_gauss(&rng);
        t[i] = (float)lap_rng_gauss(&rng);
    }
    lap_mse_loss(&loss, g, o, t, N, 1.0);
    for (int i = 0; i < N; i++) {
        double plus, minus;
        float saved = o[i];
        o[i] = saved + 1e-3f;
        lap_mse_loss(&plus, NULL, o, t, N, 1.0);
        o[i] = saved - 1e-3f;
        lap_mse_loss(&minus, NULL, o, t, N, 1.0);
        o[i] = saved;
        /* the loss is quadratic: the central difference is exact up to rounding */
        check(fabs((plus - minus) / 2e-3 - g[i]) < 1e-4, "mse gradient by finite differences");
    }
    printf("%s mse\n", failures == before ? "ok  " : "FAIL");
}

/* ------------------------------------------------------------- timing */

static double seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* Not a pass/fail check: prints the cost on the training step's activation size. */
static void time_pools(void)
{
    int64_t shape[4] = {128, 32, 14, 14};
    lap_tensor *x = random_tensor(4, shape);
    lap_module *mods[4] = {lap_maxpool2d_new(2, 2, 0), lap_avgpool2d_new(2, 2, 0), lap_maxpool2d_new(3, 2, 1),
                           lap_global_avgpool_new()};
    for (int i = 0; i < 4; i++) {
        lap_module *m = mods[i];
        lap_module_forward(m, x);
        lap_tensor *dout = lap_tensor_clone(m->output);
        lap_module_backward(m, dout);   /* warm: buffers allocated and touched */
        double start = seconds();
        for (int rep = 0; rep < 20; rep++) {
            lap_module_forward(m, x);
            lap_module_backward(m, dout);
        }
        char name[64];
        lap_module_describe(m, name, sizeof name);
        printf("time %-28s forward+backward on [128, 32, 14, 14]: %.2f ms\n", name, (seconds() - start) / 20 * 1e3);
        lap_tensor_release(dout);
        lap_module_release(m);
    }
    lap_tensor_release(x);
}

int main(void)
{
    lap_rng_seed(&rng, 7);
    check_pools();
    check_maxpool_ties();
    check_global_and_flatten();
    check_errors_and_describe();
    check_mse();
    time_pools();
    return check_summary("test_pool");
}
