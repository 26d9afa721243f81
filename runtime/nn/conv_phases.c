/* conv_phases.c: a 5x5 stride-2 padding-2 convolution as one 3x3 stride-1 convolution
 * of the input's four phases, which then runs through Winograd (winograd.c).
 *
 * With i = 2a + p and j = 2b + q, the output
 *     y[k][oy][ox] = sum_{c,i,j} w[k][c][i][j] x[c][2 oy + i - 2][2 ox + j - 2]
 * is sum_{p,q,c,a,b} w[k][c][2a+p][2b+q] x_pq[c][oy + a - 1][ox + b - 1], where the
 * phase x_pq[c][u][v] = x[c][2u + p][2v + q]: a 3x3 convolution with padding 1 of the
 * 4C phase channels (channel (2p + q) C + c), whose kernel takes w's taps 2a + p,
 * 2b + q and zero where they pass 4.  The adjoints follow: the input gradient of the
 * phase convolution, merged back, is the input gradient; the weight gradient's
 * taps are those of the phase kernel.
 * The MNIST encoder's 16 -> 32 convolution on 28x28 images multiplies 2.1 times
 * fewer numbers this way (Winograd F(4x4) on 64 channels of 14x14) than directly,
 * and needs no im2col matrix; CIFAR's 50 -> 100 on 32x32, 2.8 times fewer.
 * Limits: even H and W (the output is then H/2 x W/2), groups 1, and only where
 * Winograd runs the phase geometry (lap_conv_set_winograd).
 */
#include <string.h>

#include "nn/conv.h"

void lap_conv_phases_geom(lap_conv_geom *phases, const lap_conv_geom *g)
{
    *phases = (lap_conv_geom){g->N, 4 * g->C, g->H / 2, g->W / 2, g->K, g->H / 2, g->W / 2, 3, 3, 1, 1, 1};
}

int lap_conv_phases_eligible(const lap_conv_geom *g)
{
    if (g->kh != 5 || g->kw != 5 || g->stride != 2 || g->pad != 2 || g->groups != 1 || g->H < 2 || g->W < 2 ||
        g->H % 2 || g->W % 2)
        return 0;
    lap_conv_geom phases;
    lap_conv_phases_geom(&phases, g);
    return lap_conv_uses_winograd(&phases);
}

/* phases: (N, 4C, H/2, W/2) overwritten with the phases of x: (N, C, H, W). */
void lap_conv_phases_split(float *phases, const float *x, int64_t N, int64_t C, int64_t H, int64_t W)
{
    const int64_t h = H / 2, w = W / 2;
#pragma omp parallel for collapse(2) if (N * C * H * W >= 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = x + (n * C + c) * H * W;
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) {
                    float *dst = phases + ((n * 4 + 2 * p + q) * C + c) * h * w;
                    for (int64_t u = 0; u < h; u++)
                        for (int64_t v = 0; v < w; v++)
                            dst[u * w + v] = src[(2 * u + p) * W + 2 * v + q];
                }
        }
}

/* dx: (N, C, H, W) overwritten from the phases' gradient dphases: (N, 4C, H/2, W/2). */
void lap_conv_phases_merge(float *dx, const float *dphases, int64_t N, int64_t C, int64_t H, int64_t W)
{
    const int64_t h = H / 2, w = W / 2;
#pragma omp parallel for collapse(2) if (N * C * H * W >= 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float *dst = dx + (n * C + c) * H * W;
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) {
                    const float *src = dphases + ((n * 4 + 2 * p + q) * C + c) * h * w;
                    for (int64_t u = 0; u < h; u++)
                        for (int64_t v = 0; v < w; v++)
                            dst[(2 * u + p) * W + 2 * v + q] = src[u * w + v];
                }
        }
}

/* w3: (K, 4C, 3, 3) overwritten with the phase kernels of w5: (K, C, 5, 5). */
void lap_conv_phases_weights(float *w3, const float *w5, int64_t K, int64_t C)
{
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) {
                    float *dst = w3 + (k * 4 * C + (2 * p + q) * C + c) * 9;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) {
                            int i = 2 * a + p, j = 2 * b + q;
                            dst[a * 3 + b] = i < 5 && j < 5 ? w5[(k * C + c) * 25 + i * 5 + j] : 0.0f;
                        }
                }
}

/* dw5: (K, C, 5, 5) += the taps of the phase kernels' gradient dw3: (K, 4C, 3, 3). */
void lap_conv_phases_weight_grad(float *dw5, const float *dw3, int64_t K, int64_t C)
{
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) {
                    const float *src = dw3 + (k * 4 * C + (2 * p + q) * C + c) * 9;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) {
                            int i = 2 * a + p, j = 2 * b + q;
                            if (i < 5 && j < 5)
                                dw5[(k * C + c) * 25 + i * 5 + j] += src[a * 3 + b];
                        }
                }
}
