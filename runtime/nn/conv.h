/* conv.h: the convolution kernels behind Conv2d and ConvTranspose2d (conv.c,
 * winograd.c), for the modules and for tests.
 *
 * A convolution is described by its geometry (NCHW, PyTorch semantics, dilation 1):
 * input (N, C, H, W), weight (K, C / groups, kh, kw), output (N, K, OH, OW).  The
 * three kernels are the forward pass and the two halves of its adjoint; the
 * transposed convolution is built from the same three with the roles swapped.
 * Kernels run their per-sample work on the OpenMP threads when built with
 * -fopenmp (serially otherwise); OpenBLAS is single-threaded (tensor.c), so the
 * two kinds of threads never compete.
 * Scratch memory lives in a caller-owned tensor that grows on demand and is then
 * reused: a steady training loop allocates nothing.
 */
#ifndef LAP_CONV_H
#define LAP_CONV_H

#include <stddef.h>

#include "core/tensor.h"

typedef struct lap_conv_geom {
    int64_t N, C, H, W;   /* input */
    int64_t K, OH, OW;    /* output */
    int kh, kw, stride, pad, groups;
} lap_conv_geom;

/* y: (N, K, OH, OW) overwritten; x: (N, C, H, W); w: (K, C / groups, kh, kw).  No bias. */
int lap_conv_forward(float *y, const float *x, const float *w, const lap_conv_geom *g, lap_tensor **scratch);

/* An eval-mode BatchNorm and a ReLU applied to a convolution's input on the way in:
 * the convolution sees relu(weight * ((x - mean) * inv_std) + bias) per channel,
 * rounded as batchnorm.c rounds it, without that activation being written out.
 * Each array has C entries. */
typedef struct lap_conv_input_affine {
    const float *mean, *inv_std, *weight, *bias;
} lap_conv_input_affine;
/* Whether lap_conv_forward_affine_relu serves this geometry (the Winograd path). */
int lap_conv_fuses_input_affine(const lap_conv_geom *g);
int lap_conv_forward_affine_relu(float *y, const float *x, const float *w, const lap_conv_input_affine *affine,
                                 const lap_conv_geom *g, lap_tensor **scratch);
/* dx: (N, C, H, W) overwritten with the adjoint of the forward applied to dy: (N, K, OH, OW). */
int lap_conv_backward_data(float *dx, const float *dy, const float *w, const lap_conv_geom *g,
                           lap_tensor **scratch);
/* dw: (K, C / groups, kh, kw) += the weight gradient for dy: (N, K, OH, OW), x: (N, C, H, W). */
int lap_conv_backward_weight(float *dw, const float *dy, const float *x, const lap_conv_geom *g,
                             lap_tensor **scratch);

/* Algorithm choice, for tests and benchmarks: 0 forces im2col + sgemm everywhere,
 * 1 (the default) uses Winograd F(2x2, 3x3) where lap_winograd_eligible says so and
 * both channel counts are at least 8, 2 wherever lap_winograd_eligible says so.  Returns the previous setting. */
int lap_conv_set_winograd(int enable);

/* ---- Winograd F(2x2, 3x3) (winograd.c) ---- */
/* 3x3, stride 1, padding 1, groups 1, width at most 128. */
int lap_winograd_eligible(const lap_conv_geom *g);
/* The three kernels above for an eligible geometry. */
int lap_winograd_forward(float *y, const float *x, const float *w, const lap_conv_geom *g, lap_tensor **scratch);
/* The forward with relu(affine(x)) as its input (affine may be NULL). */
int lap_winograd_forward_affine_relu(float *y, const float *x, const float *w, const lap_conv_input_affine *affine,
                                     const lap_conv_geom *g, lap_tensor **scratch);
int lap_winograd_backward_data(float *dx, const float *dy, const float *w, const lap_conv_geom *g,
                               lap_tensor **scratch);
int lap_winograd_backward_weight(float *dw, const float *dy, const float *x, const lap_conv_geom *g,
                                 lap_tensor **scratch);

/* Tile size: 2 forces F(2x2, 3x3), 4 forces F(4x4, 3x3) (winograd_f4.c: 1.36-1.78 times
 * fewer multiplications, about ten times the rounding error), 0 (the default) picks
 * the one with fewer products for the image size.  Returns the previous setting. */
int lap_winograd_set_tile(int m);
/* The tile size (2 or 4) the current setting gives an H x W image. */
int lap_winograd_tile_for(int64_t H, int64_t W);
/* The current setting (0 automatic, 2, 4) without changing it. */
int lap_winograd_tile_setting(void);
/* One line for `laprun --version` and lap.info(): how 3x3 convolutions run. */
void lap_conv_report(char *buf, size_t size);

/* 1 when the three kernels above run this geometry through Winograd (winograd.c). */
int lap_conv_uses_winograd(const lap_conv_geom *g);

/* ---- 5x5 stride-2 convolutions through their input's phases (conv_phases.c) ---- */
/* 5x5, stride 2, padding 2, groups 1, even H and W, and Winograd for the phase geometry. */
int lap_conv_phases_eligible(const lap_conv_geom *g);
/* The 3x3 stride-1 geometry (N, 4C, H/2, W/2) -> (N, K, H/2, W/2) of g's phases. */
void lap_conv_phases_geom(lap_conv_geom *phases, const lap_conv_geom *g);
/* phases: (N, 4C, H/2, W/2) = the phases of x: (N, C, H, W) (channel (2p + q) C + c). */
void lap_conv_phases_split(float *phases, const float *x, int64_t N, int64_t C, int64_t H, int64_t W);
/* dx: (N, C, H, W) overwritten from the gradient of the phases, (N, 4C, H/2, W/2). */
void lap_conv_phases_merge(float *dx, const float *dphases, int64_t N, int64_t C, int64_t H, int64_t W);
/* w3: (K, 4C, 3, 3) = the phase kernels of w5: (K, C, 5, 5). */
void lap_conv_phases_weights(float *w3, const float *w5, int64_t K, int64_t C);
/* dw5: (K, C, 5, 5) += the taps of dw3: (K, 4C, 3, 3). */
void lap_conv_phases_weight_grad(float *dw5, const float *dw3, int64_t K, int64_t C);

/* ---- threads (conv.c) ---- */
/* The number of threads a parallel region will have (1 without OpenMP). */
int lap_conv_threads(void);

/* A parallel region over a local `int nthreads` (from lap_conv_threads); without
 * OpenMP the block runs once, as thread 0 of 1. */
#ifdef _OPENMP
#include <omp.h>
#define LAP_OMP_PARALLEL _Pragma("omp parallel num_threads(nthreads)")
#define LAP_THREAD_ID() omp_get_thread_num()
#else
#define LAP_OMP_PARALLEL
#define LAP_THREAD_ID() 0
#endif

#endif
