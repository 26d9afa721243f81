/* winograd.c: 3x3 stride-1 padding-1 convolutions by Winograd F(2x2, 3x3).
 *
 * Each 2x2 output tile comes from a 4x4 input tile d:  Y = A^T [(G g G^T) . (B^T d B)] A
 * ("." elementwise).  Over all tiles and channels this is 16 independent matrix
 * products, one per position xi of the 4x4 transformed tile:
 *     M[xi] (K x T) = U[xi] (K x C) V[xi] (C x T),   U = G g G^T,  V = B^T d B,
 * which multiplies 2.25 times fewer numbers than the direct convolution.
 * The input gradient of such a convolution is the same convolution with the
 * kernel flipped and its channel axes swapped; the weight gradient is computed
 * in the transformed domain:  dU[xi] = sum_t (A dY_t A^T)[xi] V_t[xi]^T, then
 * dg = G^T dU G.
 *
 * Tiles are processed in chunks of whole samples sized so that a chunk's
 * transformed input and output stay in a core's cache; chunks are spread over
 * the OpenMP threads (first come, first served; fixed for the weight gradient, so
 * that its sums are reproducible), each calling single-threaded sgemm.
 * Accuracy: the transforms add a few float roundings (entries of G are 1/2, of
 * A and B are 0, +-1); measured relative errors are ~1e-6 of the output scale
 * (tests/test_conv.c).
 * Limits: groups 1; F(2x2) only (F(4x4) would cut multiplies further but loses
 * about two digits in float32).
 */
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "error.h"

#ifdef _OPENMP
#define NUM_THREADS() omp_get_num_threads()
#else
#define NUM_THREADS() 1
#endif

/* Samples per chunk: as many as keep the transformed input and output of a chunk,
 * 16 (C + K) T floats, within about one core's L2 (1 MB here).  Measured on one
 * core: the 100-channel 16x16 blocks run 25% faster with 1 sample per chunk than
 * with 4; the 32-channel 14x14 blocks are flat between 3 and 10 samples. */
#ifndef CHUNK_FLOATS
#define CHUNK_FLOATS (256 * 1024)
#endif

/* Tiles in a row, at most (row buffers on the stack); wider images go through im2col. */
#define MAX_TW 64

int lap_winograd_eligible(const lap_conv_geom *g)
{
    return g->kh == 3 && g->kw == 3 && g->stride == 1 && g->pad == 1 && g->groups == 1 && g->H >= 1 && g->W >= 1 &&
           (g->W + 1) / 2 <= MAX_TW;
}

static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* ---- transforms (kernels: outputs first, sizes last) ---- */

/* u: (16, K, C) the transformed kernels (G g G^T) of w: (K, C, 3, 3).  flip: use
 * instead the kernel of the input-gradient convolution, w'[c][k] = w[k][c] rotated
 * by 180 degrees, and store u as (16, C, K). */
static void transform_weights(float *u, const float *w, int flip, int64_t K, int64_t C)
{
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = w + (k * C + c) * 9;
            float g[3][3], t[4][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    g[i][j] = flip ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[0][j];
                t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            int64_t index = flip ? c * K + k : k * C + c, stride = K * C;
            for (int i = 0; i < 4; i++) {
                float *row = u + (int64_t)(i * 4) * stride + index;
                row[0] = t[i][0];
                row[stride] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                row[2 * stride] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                row[3 * stride] = t[i][2];
            }
        }
}

/* dw: (K, C, 3, 3) += G^T du G for du: (16, K, C) */
static void transform_weight_grad(float *dw, const float *du, int64_t K, int64_t C)
{
    int64_t stride = K * C;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            float u[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++)
                u[xi / 4][xi % 4] = du[xi * stride + k * C + c];
            for (int j = 0; j < 4; j++) {
                t[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
                t[1][j] = 0.5f * (u[1][j] - u[2][j]);
                t[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
            }
            float *dst = dw + (k * C + c) * 9;
            for (int i = 0; i < 3; i++) {
                dst[i * 3 + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                dst[i * 3 + 1] += 0.5f * (t[i][1] - t[i][2]);
                dst[i * 3 + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}

/* The transforms below work on whole rows of tiles, with the even and odd image
 * columns in separate arrays: every inner loop then runs over tx on contiguous
 * data and vectorizes (AVX2 clones where the CPU has it; the build targets
 * x86-64-v2). */
#define CLONES __attribute__((target_clones("avx2", "default")))

/* v: (16, C, T) the transformed 4x4 input tiles B^T d B of x: (nb, C, H, W), tile t =
 * (b, ty, tx) over a th x tw grid, T = nb th tw; even, odd: (2 th + 2, tw + 1) scratch,
 * the even and odd columns of the zero-padded image (padded column q is image column q - 1). */
CLONES static void transform_input(float *v, float *even, float *odd, const float *x, int64_t nb, int64_t C,
                                   int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t PH = 2 * th + 2, PW = tw + 1, T = nb * th * tw, stride = C * T;
    memset(even, 0, (size_t)(PH * PW) * sizeof *even);
    memset(odd, 0, (size_t)(PH * PW) * sizeof *odd);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = x + (b * C + c) * H * W;
            /* Image column 2t - 1 is padded column 2t (even[t]), image column 2t is odd[t]. */
            for (int64_t r = 0; r < H; r++) {
                float *e = even + (r + 1) * PW, *o = odd + (r + 1) * PW;
                const float *row = src + r * W;
                for (int64_t t = 0; 2 * t < W; t++)
                    o[t] = row[2 * t];
                for (int64_t t = 1; 2 * t - 1 < W; t++)
                    e[t] = row[2 * t - 1];
            }
            float *dst = v + c * T + b * th * tw;
            for (int64_t ty = 0; ty < th; ty++) {
                const float *e0 = even + 2 * ty * PW, *e1 = e0 + PW, *e2 = e1 + PW, *e3 = e2 + PW;
                const float *o0 = odd + 2 * ty * PW, *o1 = o0 + PW, *o2 = o1 + PW, *o3 = o2 + PW;
                float re[4][MAX_TW + 1], ro[4][MAX_TW + 1];
                /* Rows of B^T d: (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */
                for (int64_t t = 0; t < PW; t++) {
                    re[0][t] = e0[t] - e2[t];
                    re[1][t] = e1[t] + e2[t];
                    re[2][t] = e2[t] - e1[t];
                    re[3][t] = e1[t] - e3[t];
                    ro[0][t] = o0[t] - o2[t];
                    ro[1][t] = o1[t] + o2[t];
                    ro[2][t] = o2[t] - o1[t];
                    ro[3][t] = o1[t] - o3[t];
                }
                /* Then the same on the columns 2tx .. 2tx + 3 = even[tx], odd[tx], even[tx+1], odd[tx+1]. */
                float *out = dst + ty * tw;
                for (int i = 0; i < 4; i++) {
                    float *v0 = out + (int64_t)(i * 4) * stride, *v1 = v0 + stride, *v2 = v1 + stride,
                          *v3 = v2 + stride;
                    const float *e = re[i], *o = ro[i];
                    for (int64_t tx = 0; tx < tw; tx++) {
                        v0[tx] = e[tx] - e[tx + 1];
                        v1[tx] = o[tx] + e[tx + 1];
                        v2[tx] = e[tx + 1] - o[tx];
                        v3[tx] = o[tx] - o[tx + 1];
                    }
                }
            }
        }
}

/* y: (nb, K, H, W) overwritten from m: (16, K, T), each tile's A^T m A (2x2, clipped at the border). */
CLONES static void transform_output(float *y, const float *m, int64_t nb, int64_t K, int64_t H, int64_t W,
                                    int64_t th, int64_t tw)
{
    const int64_t T = nb * th * tw, stride = K * T;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k = 0; k < K; k++) {
            const float *src = m + k * T + b * th * tw;
            float *dst = y + (b * K + k) * H * W;
            for (int64_t ty = 0; ty < th; ty++) {
                const float *in = src + ty * tw;
                float s[2][4][MAX_TW], out[4][MAX_TW];
                /* Rows of A^T m: (m0 + m1 + m2, m1 - m2 - m3); then the same on columns. */
                for (int j = 0; j < 4; j++) {
                    const float *m0 = in + (int64_t)j * stride, *m1 = m0 + 4 * stride, *m2 = m1 + 4 * stride,
                                *m3 = m2 + 4 * stride;
                    for (int64_t tx = 0; tx < tw; tx++) {
                        s[0][j][tx] = m0[tx] + m1[tx] + m2[tx];
                        s[1][j][tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                for (int r = 0; r < 2; r++)
                    for (int64_t tx = 0; tx < tw; tx++) {
                        out[2 * r][tx] = s[r][0][tx] + s[r][1][tx] + s[r][2][tx];
                        out[2 * r + 1][tx] = s[r][1][tx] - s[r][2][tx] - s[r][3][tx];
                    }
                for (int r = 0; r < 2 && 2 * ty + r < H; r++) {
                    float *row = dst + (2 * ty + r) * W;
                    const float *a = out[2 * r], *c = out[2 * r + 1];
                    int64_t ox = 0;
                    for (; ox + 1 < W; ox += 2) {
                        row[ox] = a[ox / 2];
                        row[ox + 1] = c[ox / 2];
                    }
                    if (ox < W)
                        row[ox] = a[ox / 2];
                }
            }
        }
}

/* dm: (16, K, T) the tiles A dy A^T of dy: (nb, K, H, W), zero beyond the image. */
CLONES static void transform_output_grad(float *dm, const float *dy, int64_t nb, int64_t K, int64_t H, int64_t W,
                                         int64_t th, int64_t tw)
{
    const int64_t T = nb * th * tw, stride = K * T;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k = 0; k < K; k++) {
            const float *src = dy + (b * K + k) * H * W;
            float *dst = dm + k * T + b * th * tw;
            for (int64_t ty = 0; ty < th; ty++) {
                /* g[r][0][tx], g[r][1][tx]: dy at row 2ty + r, columns 2tx and 2tx + 1. */
                float g[2][2][MAX_TW];
                for (int r = 0; r < 2; r++) {
                    if (2 * ty + r >= H) {
                        memset(g[r], 0, sizeof g[r]);
                        continue;
                    }
                    const float *row = src + (2 * ty + r) * W;
                    int64_t tx = 0;
                    for (; 2 * tx + 1 < W; tx++) {
                        g[r][0][tx] = row[2 * tx];
                        g[r][1][tx] = row[2 * tx + 1];
                    }
                    if (tx < tw) {
                        g[r][0][tx] = row[2 * tx];
                        g[r][1][tx] = 0.0f;
                    }
                }
                /* Rows of A g: (g0, g0 + g1, g0 - g1, -g1); then the same on columns. */
                float *out = dst + ty * tw;
                for (int i = 0; i < 4; i++) {
                    float *v0 = out + (int64_t)(i * 4) * stride, *v1 = v0 + stride, *v2 = v1 + stride,
                          *v3 = v2 + stride;
                    for (int64_t tx = 0; tx < tw; tx++) {
                        float a, c;
                        if (i == 0) {
                            a = g[0][0][tx];
                            c = g[0][1][tx];
                        } else if (i == 1) {
                            a = g[0][0][tx] + g[1][0][tx];
                            c = g[0][1][tx] + g[1][1][tx];
                        } else if (i == 2) {
                            a = g[0][0][tx] - g[1][0][tx];
                            c = g[0][1][tx] - g[1][1][tx];
                        } else {
                            a = -g[1][0][tx];
                            c = -g[1][1][tx];
                        }
                        v0[tx] = a;
                        v1[tx] = a + c;
                        v2[tx] = a - c;
                        v3[tx] = -c;
                    }
                }
            }
        }
}

/* ---- drivers ---- */

typedef struct plan {
    int64_t th, tw, per_sample, nb, chunks;   /* tiles per sample, samples per chunk */
    int64_t v_size, m_size, plane_size;       /* per-thread buffers, floats */
} plan;

static plan make_plan(int64_t N, int64_t C, int64_t K, int64_t H, int64_t W)
{
    plan p;
    p.th = (H + 1) / 2;
    p.tw = (W + 1) / 2;
    p.per_sample = p.th * p.tw;
    p.nb = CHUNK_FLOATS / (16 * (C + K) * p.per_sample);
    if (p.nb < 1)
        p.nb = 1;
    if (p.nb > N)
        p.nb = N;
    p.chunks = (N + p.nb - 1) / p.nb;
    int64_t T = p.nb * p.per_sample;
    p.v_size = round16(16 * C * T);
    p.m_size = round16(16 * K * T);
    p.plane_size = 2 * round16((2 * p.th + 2) * (p.tw + 1));
    return p;
}

static float *scratch_floats(lap_tensor **scratch, int64_t count)
{
    if (!*scratch || lap_numel(*scratch) < count) {
        if (lap_tensor_ensure(scratch, 1, &count) != LAP_OK)
            return NULL;
    }
    return lap_data(*scratch);
}

/* y: (N, COUT, H, W) = the convolution of x: (N, CIN, H, W) with transformed kernels u: (16, COUT, CIN). */
static int winograd_conv(float *y, const float *x, const float *u, float *buffer, const plan *p, int nthreads,
                         int64_t N, int64_t CIN, int64_t COUT, int64_t H, int64_t W)
{
    const int64_t per_thread = p->v_size + p->m_size + p->plane_size;
    int64_t next = 0;  /* the next chunk: whichever thread is free takes it (outputs do not depend on who) */
    lap_conv_blas_serial(nthreads);
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID();
        float *v = buffer + per_thread * tid, *m = v + p->v_size, *plane = m + p->m_size;
        for (int64_t chunk; (chunk = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < p->chunks;) {
            int64_t n0 = chunk * p->nb, nb = N - n0 < p->nb ? N - n0 : p->nb, T = nb * p->per_sample;
            transform_input(v, plane, plane + p->plane_size / 2, x + n0 * CIN * H * W, nb, CIN, H, W, p->th, p->tw);
            for (int xi = 0; xi < 16; xi++)
                lap_gemm(m + xi * COUT * T, u + xi * COUT * CIN, v + xi * CIN * T, 0, 0, COUT, T, CIN, 1.0f, 0.0f);
            transform_output(y + n0 * COUT * H * W, m, nb, COUT, H, W, p->th, p->tw);
        }
    }
    lap_conv_blas_restore(nthreads);
    return LAP_OK;
}

int lap_winograd_forward(float *y, const float *x, const float *w, const lap_conv_geom *g, lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    plan p = make_plan(g->N, g->C, g->K, g->H, g->W);
    int64_t u_size = round16(16 * g->K * g->C);
    float *buffer = scratch_floats(scratch, u_size + (p.v_size + p.m_size + p.plane_size) * nthreads);
    if (!buffer)
        return LAP_ERR;
    transform_weights(buffer, w, 0, g->K, g->C);
    return winograd_conv(y, x, buffer, buffer + u_size, &p, nthreads, g->N, g->C, g->K, g->H, g->W);
}

int lap_winograd_backward_data(float *dx, const float *dy, const float *w, const lap_conv_geom *g,
                               lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    plan p = make_plan(g->N, g->K, g->C, g->H, g->W);
    int64_t u_size = round16(16 * g->K * g->C);
    float *buffer = scratch_floats(scratch, u_size + (p.v_size + p.m_size + p.plane_size) * nthreads);
    if (!buffer)
        return LAP_ERR;
    transform_weights(buffer, w, 1, g->K, g->C);
    return winograd_conv(dx, dy, buffer, buffer + u_size, &p, nthreads, g->N, g->K, g->C, g->H, g->W);
}

int lap_winograd_backward_weight(float *dw, const float *dy, const float *x, const lap_conv_geom *g,
                                 lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    const int64_t N = g->N, C = g->C, K = g->K, H = g->H, W = g->W;
    plan p = make_plan(N, C, K, H, W);
    int64_t u_size = round16(16 * K * C), per_thread = p.v_size + p.m_size + p.plane_size + u_size;
    float *buffer = scratch_floats(scratch, per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    int used = 1;
    lap_conv_blas_serial(nthreads);
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID(), nt = NUM_THREADS();
        float *v = buffer + per_thread * tid, *dm = v + p.v_size, *plane = dm + p.m_size, *du = plane + p.plane_size;
        if (tid == 0)
            used = nt;
        memset(du, 0, (size_t)u_size * sizeof *du);
        /* Fixed chunks per thread: the partial sums, hence the rounding, do not depend on timing. */
        for (int64_t chunk = tid; chunk < p.chunks; chunk += nt) {
            int64_t n0 = chunk * p.nb, nb = N - n0 < p.nb ? N - n0 : p.nb, T = nb * p.per_sample;
            transform_input(v, plane, plane + p.plane_size / 2, x + n0 * C * H * W, nb, C, H, W, p.th, p.tw);
            transform_output_grad(dm, dy + n0 * K * H * W, nb, K, H, W, p.th, p.tw);
            for (int xi = 0; xi < 16; xi++)
                lap_gemm(du + xi * K * C, dm + xi * K * T, v + xi * C * T, 0, 1, K, C, T, 1.0f, 1.0f);
        }
    }
    lap_conv_blas_restore(nthreads);
    float *du = buffer + p.v_size + p.m_size + p.plane_size;
    for (int t = 1; t < used; t++)
        lap_axpy(du, 1.0f, du + per_thread * t, u_size);
    transform_weight_grad(dw, du, K, C);
    return LAP_OK;
}
