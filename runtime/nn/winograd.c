/* winograd.c: 3x3 stride-1 padding-1 convolutions by Winograd: the F(2x2, 3x3)
 * transforms, the drivers and the tile products, shared with F(4x4, 3x3)
 * (winograd_f4.c), which lap_winograd_tile_for picks where it makes fewer products.
 *
 * Each 2x2 output tile comes from a 4x4 input tile d:  Y = A^T [(G g G^T) . (B^T d B)] A
 * ("." elementwise).  Over all tiles and channels this is 16 independent matrix
 * products, one per position xi of the 4x4 transformed tile (36 of a 6x6 one for
 * F(4x4)):
 *     M[xi] (T x K) = V[xi] (T x C) U[xi]^T,   U = G g G^T (K x C),  V = B^T d B,
 * which multiplies 2.25 times fewer numbers than the direct convolution (F(4x4): 4).
 * The input gradient of such a convolution is the same convolution with the
 * kernel flipped and its channel axes swapped; the weight gradient is computed
 * in the transformed domain:  dU[xi] (K x C) = sum_t (A dY_t A^T)[xi] V_t[xi], i.e.
 * dM[xi]^T V[xi], then dg = G^T dU G.
 *
 * The tile transforms run on 8 channels at once, one vector lane per channel
 * (GCC vector extensions, compiled per kernel path, kernels.h: SSE on the
 * x86-64-v2 baseline, AVX2 or AVX-512 where the CPU has it): each sample's group of
 * 8 channels is first transposed into a channel-interleaved plane (rows x columns x
 * 8), so that every tile reads and writes whole vectors whatever the image width.
 * V, M are stored tile-major (winograd_tiles.h): a tile's positions contiguous for
 * each group of 8 channels, so that a transform stores at fixed offsets; the
 * products read them down the tiles.  The products are lap's own register-blocked
 * kernels (OpenBLAS spent as long zeroing and packing these thin matrices as
 * multiplying).  The input transform can also apply an eval-mode BatchNorm and a
 * ReLU to what it packs (lap_winograd_forward_affine_relu, for inference).
 *
 * Tiles are processed in chunks of whole samples sized so that a chunk's
 * transformed input and output stay in a core's cache; chunks are spread over
 * the OpenMP threads (first come, first served; fixed for the weight gradient, so
 * that its sums are reproducible).
 * Accuracy: the F(2x2) transforms add a few float roundings (entries of G are 1/2,
 * of A and B are 0, +-1): ~5e-7 of the output scale against im2col; F(4x4)'s about
 * ten times that (tests/test_conv.c).
 * Limits: groups 1; width at most 2 MAX_TW.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/winograd_tiles.h"
#include "core/error.h"
#include "core/kernels.h"

#ifdef _OPENMP
#define NUM_THREADS() omp_get_num_threads()
#else
#define NUM_THREADS() 1
#endif

/* Samples per chunk: as many as keep the transformed input and output of a chunk,
 * 16 (Cp + Kp) T floats, within half of one core's L2 (512 KB on an AMD EPYC Zen 3,
 * 1-2 MB on recent Xeons).  Measured on one core: the 100-channel 16x16 blocks (1
 * sample per chunk up to 256K floats) run 20% slower with 2 samples; the 32-channel
 * 14x14 blocks are flat within noise from 1 to 5 samples (64K: 1), and smaller
 * chunks share out better over the threads. */
#ifndef CHUNK_FLOATS
#define CHUNK_FLOATS (64 * 1024)
#endif

int lap_winograd_eligible(const lap_conv_geom *g)
{
    return g->kh == 3 && g->kw == 3 && g->stride == 1 && g->pad == 1 && g->groups == 1 && g->H >= 1 && g->W >= 1 &&
           (g->W + 1) / 2 <= MAX_TW;
}

static int64_t round8(int64_t n) { return (n + 7) & ~(int64_t)7; }
static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* ---- transforms (kernels: outputs first, sizes last) ---- */

/* u: (16, C, ld) the transformed kernels (G g G^T) of w: (K, C, 3, 3), transposed
 * (the products take U^T as a row-major C x K operand); ld = K rounded up to 8, the
 * padding columns zero, so that the tile products (tile_products) run whole vectors.
 * flip: use instead the kernel of the input-gradient convolution, w'[c][k] = w[k][c]
 * rotated by 180 degrees, and store u as (16, K, ld), ld = C rounded up to 8. */
static void transform_weights(float *u, const float *w, int flip, int64_t K, int64_t C)
{
    int64_t rows = flip ? K : C, ld = round8(flip ? C : K), stride = rows * ld;
    memset(u, 0, (size_t)(16 * stride) * sizeof *u);
#pragma omp parallel for schedule(static) if (K * C >= 256)
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
            int64_t index = flip ? k * ld + c : c * ld + k;
            for (int i = 0; i < 4; i++) {
                float *row = u + (int64_t)(i * 4) * stride + index;
                row[0] = t[i][0];
                row[stride] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                row[2 * stride] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                row[3 * stride] = t[i][2];
            }
        }
}

/* dw: (K, C, 3, 3) += G^T du G for du: (16, K, ld), ld >= C */
static void transform_weight_grad(float *dw, const float *du, int64_t K, int64_t C, int64_t ld)
{
    int64_t stride = K * ld;
#pragma omp parallel for schedule(static) if (K * C >= 256)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            float u[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++)
                u[xi / 4][xi % 4] = du[xi * stride + k * ld + c];
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

/* ---- tile transforms, 8 channels per vector ---- */

/* v: (16, T, cp) the transformed 4x4 input tiles B^T d B of x: (nb, C, H, W), tile t =
 * (b, ty, tx) over a th x tw grid, T = nb th tw, cp = C rounded up to 8 (lanes C ..
 * cp - 1 zero); plane: (2 th + 2, 2 tw + 2, 8) scratch, zero on its border (the padding,
 * padded row/column q is image row/column q - 1), interior overwritten. */
static inline LAP_ALWAYS_INLINE void transform_input_body(float *v, float *plane, const float *x, const float *affine,
                                                          const float *after, int64_t nb, int64_t C, int64_t cp,
                                   int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 2 * tw + 2, stride = 8;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c0 = 0; c0 < C; c0 += 8) {
            const float *src = x + (b * C + c0) * H * W;
            const float *next = b == nb - 1 && c0 + 8 >= C ? after : src + 8 * H * W;
            pack_plane_affine(plane, src, affine ? affine + c0 : NULL, cp, C - c0 < 8 ? C - c0 : 8, H, W, pw, 1);
            float *out = v + b * th * tw * lap_winograd_tile_stride(16, cp) + c0 * 16;
            const int64_t lines = (8 * H * W + 15) / 16, lpt = (lines + th * tw - 1) / (th * tw);
            for (int64_t ty = 0; ty < th; ty++)
                for (int64_t tx = 0; tx < tw; tx++) {
                    if (next)
                        PREFETCH_SLICE(next, lines, ty * tw + tx, lpt, 0);
                    const float *p0 = plane + (2 * ty * pw + 2 * tx) * 8, *p1 = p0 + pw * 8, *p2 = p1 + pw * 8,
                                *p3 = p2 + pw * 8;
                    float *o = out + (ty * tw + tx) * lap_winograd_tile_stride(16, cp);
                    /* Rows of B^T d: (d0 - d2, d1 + d2, d2 - d1, d1 - d3); then the same on
                     * columns.  One output row at a time, reloading d from L1: holding the
                     * whole tile needs more than the 16 vector registers. */
#define INPUT_ROW(i, OP, pa, pb)                                                                     \
    do {                                                                                             \
        v8 r0 = OP(load8(pa), load8(pb)), r1 = OP(load8(pa + 8), load8(pb + 8)),                     \
           r2 = OP(load8(pa + 16), load8(pb + 16)), r3 = OP(load8(pa + 24), load8(pb + 24));         \
        float *oi = o + 4 * (i) * stride;                                                            \
        store8(oi, r0 - r2);                                                                         \
        store8(oi + stride, r1 + r2);                                                                \
        store8(oi + 2 * stride, r2 - r1);                                                            \
        store8(oi + 3 * stride, r1 - r3);                                                            \
    } while (0)
#define SUB(a, b) ((a) - (b))
#define ADD(a, b) ((a) + (b))
                    INPUT_ROW(0, SUB, p0, p2);
                    INPUT_ROW(1, ADD, p1, p2);
                    INPUT_ROW(2, SUB, p2, p1);
                    INPUT_ROW(3, SUB, p1, p3);
                }
        }
}
LAP_KERNEL_INLINE(transform_input, (float *v, float *plane, const float *x, const float *affine, const float *after,
                                   int64_t nb, int64_t C, int64_t cp, int64_t H, int64_t W, int64_t th, int64_t tw),
                  (v, plane, x, affine, after, nb, C, cp, H, W, th, tw))

/* y: (nb, K, H, W) overwritten from m: (16, T, kp), each tile's A^T m A (2x2, clipped
 * at the border); plane: (2 th, 2 tw, 8) scratch. */
static inline LAP_ALWAYS_INLINE void transform_output_body(float *y, float *plane, const float *m, int64_t nb, int64_t K, int64_t kp,
                                    int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 2 * tw, stride = 8;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k0 = 0; k0 < K; k0 += 8) {
            const float *in = m + b * th * tw * lap_winograd_tile_stride(16, kp) + k0 * 16;
            float *dst = y + (b * K + k0) * H * W;
            const int64_t nk = K - k0 < 8 ? K - k0 : 8, lines = (nk * H * W + 15) / 16,
                          lpt = (lines + th * tw - 1) / (th * tw);
            for (int64_t ty = 0; ty < th; ty++)
                for (int64_t tx = 0; tx < tw; tx++) {
                    PREFETCH_SLICE(dst, lines, ty * tw + tx, lpt, 1);
                    const float *q = in + (ty * tw + tx) * lap_winograd_tile_stride(16, kp);
                    v8 s[2][4];
                    /* Rows of A^T m: (m0 + m1 + m2, m1 - m2 - m3); then the same on columns. */
                    for (int j = 0; j < 4; j++) {
                        v8 m0 = load8(q + j * stride), m1 = load8(q + (4 + j) * stride),
                           m2 = load8(q + (8 + j) * stride), m3 = load8(q + (12 + j) * stride);
                        s[0][j] = m0 + m1 + m2;
                        s[1][j] = m1 - m2 - m3;
                    }
                    float *p = plane + (2 * ty * pw + 2 * tx) * 8;
                    for (int r = 0; r < 2; r++) {
                        store8(p + r * pw * 8, s[r][0] + s[r][1] + s[r][2]);
                        store8(p + r * pw * 8 + 8, s[r][1] - s[r][2] - s[r][3]);
                    }
                }
            unpack_plane(dst, plane, nk, H, W, pw);
        }
}
LAP_KERNEL_INLINE(transform_output, (float *y, float *plane, const float *m, int64_t nb, int64_t K, int64_t kp,
                                    int64_t H, int64_t W, int64_t th, int64_t tw),
                  (y, plane, m, nb, K, kp, H, W, th, tw))

/* dm: (16, T, kp) the tiles A dy A^T of dy: (nb, K, H, W), zero beyond the image
 * (lanes K .. kp - 1 zero); plane: (2 th, 2 tw, 8) scratch, zero beyond the image rows
 * and columns, the rest overwritten. */
static inline LAP_ALWAYS_INLINE void transform_output_grad_body(float *dm, float *plane, const float *dy, int64_t nb, int64_t K,
                                         int64_t kp, int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 2 * tw, stride = 8;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k0 = 0; k0 < K; k0 += 8) {
            const float *src = dy + (b * K + k0) * H * W, *next = src + 8 * H * W;
            pack_plane(plane, src, K - k0 < 8 ? K - k0 : 8, H, W, pw, 0);
            float *out = dm + b * th * tw * lap_winograd_tile_stride(16, kp) + k0 * 16;
            const int64_t lines = (8 * H * W + 15) / 16, lpt = (lines + th * tw - 1) / (th * tw);
            int last = b == nb - 1 && k0 + 8 >= K;
            for (int64_t ty = 0; ty < th; ty++)
                for (int64_t tx = 0; tx < tw; tx++) {
                    if (!last)
                        PREFETCH_SLICE(next, lines, ty * tw + tx, lpt, 0);
                    const float *p = plane + (2 * ty * pw + 2 * tx) * 8;
                    v8 g00 = load8(p), g01 = load8(p + 8), g10 = load8(p + pw * 8), g11 = load8(p + pw * 8 + 8);
                    /* Rows of A g: (g0, g0 + g1, g0 - g1, -g1); then the same on columns. */
                    v8 a[4] = {g00, g00 + g10, g00 - g10, -g10}, c[4] = {g01, g01 + g11, g01 - g11, -g11};
                    float *o = out + (ty * tw + tx) * lap_winograd_tile_stride(16, kp);
                    for (int i = 0; i < 4; i++) {
                        store8(o + (4 * i + 0) * stride, a[i]);
                        store8(o + (4 * i + 1) * stride, a[i] + c[i]);
                        store8(o + (4 * i + 2) * stride, a[i] - c[i]);
                        store8(o + (4 * i + 3) * stride, -c[i]);
                    }
                }
        }
}
LAP_KERNEL_INLINE(transform_output_grad, (float *dm, float *plane, const float *dy, int64_t nb, int64_t K,
                                         int64_t kp, int64_t H, int64_t W, int64_t th, int64_t tw),
                  (dm, plane, dy, nb, K, kp, H, W, th, tw))

/* ---- the tile products ---- */

/* m = v u for one position xi of the transformed tile: m (T x kp), v (T x cp) in the
 * tile-major layout (winograd_tiles.h; element (t, c) of v at t tile_stride + (c / 8) 8 P + c % 8,
 * P positions a tile, v and m pointing at position xi), u: (CIN, kp) row-major;
 * cp, kp multiples of 8, v's columns CIN .. cp - 1 ignored, u's padding columns zero.
 * With CIN and COUT a few dozen, OpenBLAS spent as long zeroing m (beta = 0) and
 * packing the operands as multiplying; here 6 rows of m and 16 of its columns stay in
 * 12 vector registers while c runs over CIN, u's rows (kp floats) coming from L1.
 * Multiply-adds are contracted (fused on the AVX2 and AVX-512 paths): results differ
 * from the baseline path in the last bits (tests/test_kernel_paths.lua). */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
/* Rows t .. t + R - 1 of m (R <= 6 a compile-time constant once inlined); v0, m0 at row t. */
INLINE void tile_products_rows(float *m0, const float *v0, const float *u, int R, int64_t CIN, int64_t cp, int64_t kp,
                               int64_t P)
{
    const int64_t v_row = lap_winograd_tile_stride(P, cp), m_row = lap_winograd_tile_stride(P, kp), group = 8 * P;
    int64_t k = 0;
    for (; k + 16 <= kp; k += 16) {
        v8 a[6][2] = {{{0}}};
        for (int64_t c = 0; c < CIN; c++) {
            v8 b0 = load8(u + c * kp + k), b1 = load8(u + c * kp + k + 8);
            const float *vc = v0 + (c >> 3) * group + (c & 7);
            for (int r = 0; r < R; r++) {
                float x = vc[r * v_row];
                a[r][0] += x * b0;
                a[r][1] += x * b1;
            }
        }
        float *mk = m0 + (k >> 3) * group;
        for (int r = 0; r < R; r++) {
            store8(mk + r * m_row, a[r][0]);
            store8(mk + r * m_row + group, a[r][1]);
        }
    }
    for (; k < kp; k += 8) {
        v8 a[6] = {{0}};
        for (int64_t c = 0; c < CIN; c++) {
            v8 b = load8(u + c * kp + k);
            const float *vc = v0 + (c >> 3) * group + (c & 7);
            for (int r = 0; r < R; r++)
                a[r] += vc[r * v_row] * b;
        }
        float *mk = m0 + (k >> 3) * group;
        for (int r = 0; r < R; r++)
            store8(mk + r * m_row, a[r]);
    }
}

INLINE void tile_products_body(float *m, const float *v, const float *u, int64_t T, int64_t CIN, int64_t cp,
                               int64_t kp, int64_t P)
{
    const int64_t v_row = lap_winograd_tile_stride(P, cp), m_row = lap_winograd_tile_stride(P, kp);
    int64_t t = 0;
    for (; t + 6 <= T; t += 6)
        tile_products_rows(m + t * m_row, v + t * v_row, u, 6, CIN, cp, kp, P);
    /* The last rows in one pass over u too (a chunk of F(4x4) tiles may have only 16). */
    switch (T - t) {
    case 5: tile_products_rows(m + t * m_row, v + t * v_row, u, 5, CIN, cp, kp, P); break;
    case 4: tile_products_rows(m + t * m_row, v + t * v_row, u, 4, CIN, cp, kp, P); break;
    case 3: tile_products_rows(m + t * m_row, v + t * v_row, u, 3, CIN, cp, kp, P); break;
    case 2: tile_products_rows(m + t * m_row, v + t * v_row, u, 2, CIN, cp, kp, P); break;
    case 1: tile_products_rows(m + t * m_row, v + t * v_row, u, 1, CIN, cp, kp, P); break;
    default: break;
    }
}
LAP_KERNEL_INLINE(tile_products, (float *m, const float *v, const float *u, int64_t T, int64_t CIN, int64_t cp,
                                  int64_t kp, int64_t P),
                  (m, v, u, T, CIN, cp, kp, P))

/* du: (K, cp) += dm^T v for one position xi of the tile (dm, v tile-major as above,
 * pointing at position xi): the weight gradient in the transformed domain.  The sum
 * runs over the T tiles of a chunk (16-49 for one sample), too short for OpenBLAS to
 * amortize its packing; here 6 rows of du and 16 of its columns stay in registers
 * while t runs. */
/* Rows k .. k + R - 1 of du (R <= 6 a compile-time constant once inlined). */
INLINE void weight_products_rows(float *du, const float *dm, const float *v, int R, int64_t k, int64_t T, int64_t kp,
                                 int64_t cp, int64_t P)
{
    const int64_t v_row = lap_winograd_tile_stride(P, cp), m_row = lap_winograd_tile_stride(P, kp), group = 8 * P;
    const float *g[6];
    for (int r = 0; r < 6; r++)   /* row k + r of dm^T: tile t's value at g[r][t * m_row] */
        g[r] = dm + ((k + (r < R ? r : 0)) >> 3) * group + ((k + (r < R ? r : 0)) & 7);
    int64_t c = 0;
    for (; c + 16 <= cp; c += 16) {
        v8 a[6][2];
        for (int r = 0; r < R; r++) {
            a[r][0] = load8(du + (k + r) * cp + c);
            a[r][1] = load8(du + (k + r) * cp + c + 8);
        }
        const float *vc = v + (c >> 3) * group;
        for (int64_t t = 0; t < T; t++) {
            v8 b0 = load8(vc + t * v_row), b1 = load8(vc + t * v_row + group);
            for (int r = 0; r < R; r++) {
                float x = g[r][t * m_row];
                a[r][0] += x * b0;
                a[r][1] += x * b1;
            }
        }
        for (int r = 0; r < R; r++) {
            store8(du + (k + r) * cp + c, a[r][0]);
            store8(du + (k + r) * cp + c + 8, a[r][1]);
        }
    }
    for (; c < cp; c += 8) {
        v8 a[6];
        for (int r = 0; r < R; r++)
            a[r] = load8(du + (k + r) * cp + c);
        const float *vc = v + (c >> 3) * group;
        for (int64_t t = 0; t < T; t++) {
            v8 b = load8(vc + t * v_row);
            for (int r = 0; r < R; r++)
                a[r] += g[r][t * m_row] * b;
        }
        for (int r = 0; r < R; r++)
            store8(du + (k + r) * cp + c, a[r]);
    }
}

INLINE void weight_products_body(float *du, const float *dm, const float *v, int64_t T, int64_t K, int64_t kp,
                                 int64_t cp, int64_t P)
{
    int64_t k = 0;
    for (; k + 6 <= K; k += 6)
        weight_products_rows(du, dm, v, 6, k, T, kp, cp, P);
    /* The last rows in one pass too: one row at a time, each sum was one chain of
     * dependent multiply-adds (a third of the time for K = 32). */
    switch (K - k) {
    case 5: weight_products_rows(du, dm, v, 5, k, T, kp, cp, P); break;
    case 4: weight_products_rows(du, dm, v, 4, k, T, kp, cp, P); break;
    case 3: weight_products_rows(du, dm, v, 3, k, T, kp, cp, P); break;
    case 2: weight_products_rows(du, dm, v, 2, k, T, kp, cp, P); break;
    case 1: weight_products_rows(du, dm, v, 1, k, T, kp, cp, P); break;
    default: break;
    }
}
LAP_KERNEL_INLINE(weight_products, (float *du, const float *dm, const float *v, int64_t T, int64_t K, int64_t kp,
                                    int64_t cp, int64_t P),
                  (du, dm, v, T, K, kp, cp, P))
#pragma GCC pop_options

/* ---- drivers ---- */

static const lap_winograd_tiles f2 = {2, 4, transform_weights, transform_weight_grad, transform_input,
                                      transform_output, transform_output_grad};

/* 0: F(4x4) where it multiplies fewer numbers than F(2x2), else F(2x2); 2 or 4: that
 * one; -1: not yet read from LAP_WINOGRAD_TILE (the first convolution reads it, on
 * the thread that calls the kernels, before any parallel region). */
static int tile_setting = -1;

static int current_tile_setting(void)
{
    if (tile_setting < 0) {
        const char *env = getenv("LAP_WINOGRAD_TILE");
        tile_setting = env && (atoi(env) == 2 || atoi(env) == 4) ? atoi(env) : 0;
    }
    return tile_setting;
}

int lap_winograd_tile_setting(void) { return current_tile_setting(); }

void lap_conv_report(char *buf, size_t size)
{
    int setting = current_tile_setting();
    if (setting)
        snprintf(buf, size, "convolutions: 3x3 stride 1 as Winograd F(%dx%d, 3x3) (forced)\n", setting, setting);
    else
        snprintf(buf, size, "convolutions: 3x3 stride 1 as Winograd F(4x4, 3x3), or F(2x2, 3x3) where that makes "
                            "fewer products\n");
}

int lap_winograd_set_tile(int m)
{
    int previous = current_tile_setting();
    tile_setting = m == 2 || m == 4 ? m : 0;
    return previous;
}

/* F(4x4) makes 36 products a tile where F(2x2) makes 16, so it wins unless its
 * tiles hang far over the image (2x2, 5x5, 6x6). */
int lap_winograd_tile_for(int64_t H, int64_t W)
{
    current_tile_setting();
    if (tile_setting == 2 || tile_setting == 4)
        return tile_setting;
    int64_t f2_products = 16 * ((H + 1) / 2) * ((W + 1) / 2), f4_products = 36 * ((H + 3) / 4) * ((W + 3) / 4);
    return f4_products < f2_products ? 4 : 2;
}

typedef struct plan {
    const lap_winograd_tiles *tiles;
    int64_t positions;                        /* alpha^2 */
    int64_t th, tw, per_sample, nb, chunks;   /* tiles per sample, samples per chunk */
    int64_t cp, kp;                           /* channel counts rounded up to 8 */
    int64_t v_size, m_size, in_plane, out_plane, per_thread;   /* per-thread buffers, floats */
} plan;

static plan make_plan(int64_t N, int64_t C, int64_t K, int64_t H, int64_t W)
{
    plan p;
    p.tiles = lap_winograd_tile_for(H, W) == 4 ? &lap_winograd_f4 : &f2;
    const int64_t m = p.tiles->m, P = p.tiles->alpha * p.tiles->alpha;
    p.positions = P;
    p.th = (H + m - 1) / m;
    p.tw = (W + m - 1) / m;
    p.per_sample = p.th * p.tw;
    p.cp = round8(C);
    p.kp = round8(K);
    p.nb = CHUNK_FLOATS / (P * (p.cp + p.kp) * p.per_sample);
    if (p.nb < 1)
        p.nb = 1;
    if (p.nb > N)
        p.nb = N;
    p.chunks = (N + p.nb - 1) / p.nb;
    int64_t T = p.nb * p.per_sample;
    p.v_size = round16(lap_winograd_tile_stride(P, p.cp) * T);
    p.m_size = round16(lap_winograd_tile_stride(P, p.kp) * T);
    p.in_plane = p.cp / 8 * lap_winograd_plane_floats(m * p.th + 2, m * p.tw + 2);
    p.out_plane = p.kp / 8 * lap_winograd_plane_floats(m * p.th, m * p.tw);
    p.per_thread = p.v_size + p.m_size + p.in_plane + p.out_plane;
    return p;
}

/* count floats of scratch, 64-byte aligned (whole vectors never straddle a cache line). */
static float *scratch_floats(lap_tensor **scratch, int64_t count)
{
    count += 16;
    if (!*scratch || lap_numel(*scratch) < count) {
        if (lap_tensor_ensure(scratch, 1, &count) != LAP_OK)
            return NULL;
    }
    float *data = lap_data(*scratch);
    return data + ((16 - ((uintptr_t)data / sizeof(float)) % 16) % 16);
}

/* y: (N, COUT, H, W) = the convolution of x: (N, CIN, H, W) with transformed kernels u: (16, CIN, kp)
 * (U^T, padded: transform_weights). */
static int winograd_conv(float *y, const float *x, const float *affine, const float *u, float *buffer, const plan *p,
                         int nthreads, int64_t N, int64_t CIN, int64_t COUT, int64_t H, int64_t W)
{
    int64_t next = 0;  /* the next chunk: whichever thread is free takes it (outputs do not depend on who) */
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID();
        float *v = buffer + p->per_thread * tid, *m = v + p->v_size, *in_plane = m + p->m_size,
              *out_plane = in_plane + p->in_plane;
        memset(in_plane, 0, (size_t)p->in_plane * sizeof *in_plane);
        /* Each thread claims its next chunk before it starts one, so that the one can
         * prefetch the other's input. */
        int64_t chunk = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
        while (chunk < p->chunks) {
            int64_t following = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
            int64_t n0 = chunk * p->nb, nb = N - n0 < p->nb ? N - n0 : p->nb, T = nb * p->per_sample;
            const float *after = following < p->chunks ? x + following * p->nb * CIN * H * W : NULL;
            p->tiles->input(v, in_plane, x + n0 * CIN * H * W, affine, after, nb, CIN, p->cp, H, W, p->th, p->tw);
            for (int64_t xi = 0; xi < p->positions; xi++)
                tile_products(m + xi * 8, v + xi * 8, u + xi * CIN * p->kp, T, CIN, p->cp, p->kp, p->positions);
            p->tiles->output(y + n0 * COUT * H * W, out_plane, m, nb, COUT, p->kp, H, W, p->th, p->tw);
            chunk = following;
        }
    }
    return LAP_OK;
}

int lap_winograd_forward_affine_relu(float *y, const float *x, const float *w, const lap_conv_input_affine *affine,
                                     const lap_conv_geom *g, lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    plan p = make_plan(g->N, g->C, g->K, g->H, g->W);
    int64_t u_size = round16(p.positions * g->C * p.kp), affine_size = affine ? round16(4 * p.cp) : 0;
    float *buffer = scratch_floats(scratch, u_size + affine_size + p.per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    p.tiles->weights(buffer, w, 0, g->K, g->C);
    float *padded = NULL;
    if (affine) {
        /* (4, cp): the channels' parameters, zero for the padding lanes (which then stay zero). */
        padded = buffer + u_size;
        memset(padded, 0, (size_t)(4 * p.cp) * sizeof *padded);
        const float *fields[4] = {affine->mean, affine->inv_std, affine->weight, affine->bias};
        for (int f = 0; f < 4; f++)
            memcpy(padded + f * p.cp, fields[f], (size_t)g->C * sizeof *padded);
    }
    return winograd_conv(y, x, padded, buffer, buffer + u_size + affine_size, &p, nthreads, g->N, g->C, g->K, g->H,
                         g->W);
}

int lap_winograd_forward(float *y, const float *x, const float *w, const lap_conv_geom *g, lap_tensor **scratch)
{
    return lap_winograd_forward_affine_relu(y, x, w, NULL, g, scratch);
}

int lap_winograd_backward_data(float *dx, const float *dy, const float *w, const lap_conv_geom *g,
                               lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    plan p = make_plan(g->N, g->K, g->C, g->H, g->W);
    int64_t u_size = round16(p.positions * g->K * p.kp);
    float *buffer = scratch_floats(scratch, u_size + p.per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    p.tiles->weights(buffer, w, 1, g->K, g->C);
    return winograd_conv(dx, dy, NULL, buffer, buffer + u_size, &p, nthreads, g->N, g->K, g->C, g->H, g->W);
}

int lap_winograd_backward_weight(float *dw, const float *dy, const float *x, const lap_conv_geom *g,
                                 lap_tensor **scratch)
{
    int nthreads = lap_conv_threads();
    const int64_t N = g->N, C = g->C, K = g->K, H = g->H, W = g->W;
    plan p = make_plan(N, C, K, H, W);
    int64_t u_size = round16(p.positions * K * p.cp), per_thread = p.per_thread + u_size;
    float *buffer = scratch_floats(scratch, per_thread * nthreads);
    if (!buffer)
        return LAP_ERR;
    int used = 1;
    LAP_OMP_PARALLEL
    {
        int tid = LAP_THREAD_ID(), nt = NUM_THREADS();
        float *v = buffer + per_thread * tid, *dm = v + p.v_size, *in_plane = dm + p.m_size,
              *out_plane = in_plane + p.in_plane, *du = out_plane + p.out_plane;
        if (tid == 0)
            used = nt;
        memset(in_plane, 0, (size_t)(p.in_plane + p.out_plane) * sizeof *in_plane);
        memset(du, 0, (size_t)u_size * sizeof *du);
        /* Fixed chunks per thread: the partial sums, hence the rounding, do not depend on timing. */
        for (int64_t chunk = tid; chunk < p.chunks; chunk += nt) {
            int64_t n0 = chunk * p.nb, nb = N - n0 < p.nb ? N - n0 : p.nb, T = nb * p.per_sample;
            const float *after = chunk + nt < p.chunks ? x + (chunk + nt) * p.nb * C * H * W : NULL;
            p.tiles->input(v, in_plane, x + n0 * C * H * W, NULL, after, nb, C, p.cp, H, W, p.th, p.tw);
            p.tiles->output_grad(dm, out_plane, dy + n0 * K * H * W, nb, K, p.kp, H, W, p.th, p.tw);
            for (int64_t xi = 0; xi < p.positions; xi++)
                weight_products(du + xi * K * p.cp, dm + xi * 8, v + xi * 8, T, K, p.kp, p.cp, p.positions);
        }
    }
    float *du = buffer + p.per_thread;
    for (int t = 1; t < used; t++)
        lap_axpy(du, 1.0f, du + per_thread * t, u_size);
    p.tiles->weight_grad(dw, du, K, C, p.cp);
    return LAP_OK;
}
