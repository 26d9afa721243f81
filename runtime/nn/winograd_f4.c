/* winograd_f4.c: the tile transforms of Winograd F(4x4, 3x3), for the drivers of
 * winograd.c.
 *
 * Each 4x4 output tile comes from a 6x6 input tile d:  Y = A^T [(G g G^T) . (B^T d B)] A,
 * with the interpolation points 0, +-1, +-2 and infinity (Lavin & Gray 2016):
 *     B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *     G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *     A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * 36 products make 16 outputs (2.25 per output, against 4 for F(2x2): 1.78 times
 * fewer multiplications on images whose side is a multiple of 4, 1.36 on 14x14,
 * whose tiles cover 16x16).  The price is accuracy: the transformed inputs are up
 * to 100 times the inputs (F(2x2): 4) and the sums cancel, so an output carries
 * about ten times the rounding error of F(2x2) (tests/test_conv.c measures both
 * against a double-precision direct convolution).  The kernel transforms are done
 * in double and rounded once.
 * Layouts, planes and the kernel paths are those of winograd.c (see there).
 */
#include <string.h>

#include "nn/winograd_tiles.h"
#include "core/kernels.h"

/* The vector helpers below are always inlined: no v8 crosses a call on any path. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* t = G g for three numbers g (G's rows: 1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1), in double. */
static inline void g_times(double t[6], double g0, double g1, double g2)
{
    double even = g0 + g2, quarter = 0.25 * g0 + g2;
    t[0] = 0.25 * g0;
    t[1] = -(even + g1) / 6;
    t[2] = -(even - g1) / 6;
    t[3] = (quarter + 0.5 * g1) / 6;
    t[4] = (quarter - 0.5 * g1) / 6;
    t[5] = g2;
}

/* u: (36, rows, ld) the kernels G g G^T of w: (K, C, 3, 3), stored as winograd.c's
 * transform_weights does (flip: the input-gradient convolution's kernels); in double,
 * rounded once. */
static void weights4(float *u, const float *w, int flip, int64_t K, int64_t C)
{
    int64_t rows = flip ? K : C, ld = (flip ? C + 7 : K + 7) & ~(int64_t)7, stride = rows * ld;
    memset(u, 0, (size_t)(36 * stride) * sizeof *u);
    /* Once per convolution call, but serial it took 2 % of an MNIST training step. */
#pragma omp parallel for schedule(static) if (K * C >= 256)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = w + (k * C + c) * 9;
            double g[3][3], t[3][6], out[6];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    g[i][j] = flip ? src[(2 - i) * 3 + (2 - j)] : src[i * 3 + j];
            for (int j = 0; j < 3; j++)   /* t[j][i] = (G g)[i][j] */
                g_times(t[j], g[0][j], g[1][j], g[2][j]);
            float *dst = u + (flip ? k * ld + c : c * ld + k);
            for (int i = 0; i < 6; i++) {
                g_times(out, t[0][i], t[1][i], t[2][i]);
                for (int j = 0; j < 6; j++)
                    dst[(i * 6 + j) * stride] = (float)out[j];
            }
        }
}

/* s = G^T u for six numbers u, in double. */
static inline void gt_times(double s[3], const double u[6])
{
    double plus = u[1] + u[2], minus = u[2] - u[1], plus34 = u[3] + u[4], minus34 = u[3] - u[4];
    s[0] = 0.25 * u[0] + (plus34 / 4 - plus) / 6;
    s[1] = (minus + minus34 / 2) / 6;
    s[2] = (plus34 - plus) / 6 + u[5];
}

/* dw: (K, C, 3, 3) += G^T du G for du: (36, K, ld), ld >= C */
static void weight_grad4(float *dw, const float *du, int64_t K, int64_t C, int64_t ld)
{
    int64_t stride = K * ld;
#pragma omp parallel for schedule(static) if (K * C >= 256)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            const float *src = du + k * ld + c;
            double t[6][3], column[6], out[3];
            for (int j = 0; j < 6; j++) {   /* t[j][a] = (G^T du)[a][j] */
                for (int i = 0; i < 6; i++)
                    column[i] = src[(i * 6 + j) * stride];
                gt_times(t[j], column);
            }
            float *dst = dw + (k * C + c) * 9;
            for (int a = 0; a < 3; a++) {
                for (int j = 0; j < 6; j++)
                    column[j] = t[j][a];
                gt_times(out, column);
                for (int b = 0; b < 3; b++)
                    dst[a * 3 + b] += (float)out[b];
            }
        }
}

/* r = B^T d for six vectors d. */
INLINE void bt6(v8 r[6], v8 d0, v8 d1, v8 d2, v8 d3, v8 d4, v8 d5)
{
    v8 a = d4 - 4.0f * d2, b = d3 - 4.0f * d1, c = d4 - d2, e = 2.0f * (d3 - d1);
    r[0] = (4.0f * d0 - 5.0f * d2) + d4;
    r[1] = a + b;
    r[2] = a - b;
    r[3] = c + e;
    r[4] = c - e;
    r[5] = (4.0f * d1 - 5.0f * d3) + d5;
}

/* o = A^T m for six vectors m. */
INLINE void at6(v8 o[4], v8 m0, v8 m1, v8 m2, v8 m3, v8 m4, v8 m5)
{
    v8 a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[0] = (m0 + a) + c;
    o[1] = b + 2.0f * d;
    o[2] = a + 4.0f * c;
    o[3] = (b + 8.0f * d) + m5;
}

/* h = A g for four vectors g. */
INLINE void a4(v8 h[6], v8 g0, v8 g1, v8 g2, v8 g3)
{
    v8 e = g0 + g2, o = g1 + g3, e4 = g0 + 4.0f * g2, o4 = 2.0f * g1 + 8.0f * g3;
    h[0] = g0;
    h[1] = e + o;
    h[2] = e - o;
    h[3] = e4 + o4;
    h[4] = e4 - o4;
    h[5] = g3;
}

/* Row i of B^T d in column j, d[k] the tile's input row k; i and j constants once
 * unrolled, so that every load is a row pointer plus a fixed offset (with a row
 * stride in each address, GCC spilled the 36 addresses of a tile to the stack). */
INLINE v8 bt_row(int i, const float *const d[6], int j)
{
    const int c = 8 * j;
    switch (i) {
    case 0: return (4.0f * load8(d[0] + c) - 5.0f * load8(d[2] + c)) + load8(d[4] + c);
    case 1: return (load8(d[4] + c) - 4.0f * load8(d[2] + c)) + (load8(d[3] + c) - 4.0f * load8(d[1] + c));
    case 2: return (load8(d[4] + c) - 4.0f * load8(d[2] + c)) - (load8(d[3] + c) - 4.0f * load8(d[1] + c));
    case 3: return (load8(d[4] + c) - load8(d[2] + c)) + 2.0f * (load8(d[3] + c) - load8(d[1] + c));
    case 4: return (load8(d[4] + c) - load8(d[2] + c)) - 2.0f * (load8(d[3] + c) - load8(d[1] + c));
    default: return (4.0f * load8(d[1] + c) - 5.0f * load8(d[3] + c)) + load8(d[5] + c);
    }
}

/* Row r of A^T m in column j, m[i] + 6 j stride... : q[i] points at position (i, 0). */
INLINE v8 at_row(int r, const float *const q[6], int64_t off)
{
    v8 m1 = load8(q[1] + off), m2 = load8(q[2] + off), m3 = load8(q[3] + off), m4 = load8(q[4] + off);
    switch (r) {
    case 0: return (load8(q[0] + off) + (m1 + m2)) + (m3 + m4);
    case 1: return (m1 - m2) + 2.0f * (m3 - m4);
    case 2: return (m1 + m2) + 4.0f * (m3 + m4);
    default: return ((m1 - m2) + 8.0f * (m3 - m4)) + load8(q[5] + off);
    }
}

/* Row i of A g in column c, g[k] the tile's output-gradient row k. */
INLINE v8 a_row(int i, const float *const g[4], int c)
{
    const int o = 8 * c;
    switch (i) {
    case 0: return load8(g[0] + o);
    case 1: return (load8(g[0] + o) + load8(g[2] + o)) + (load8(g[1] + o) + load8(g[3] + o));
    case 2: return (load8(g[0] + o) + load8(g[2] + o)) - (load8(g[1] + o) + load8(g[3] + o));
    case 3: return (load8(g[0] + o) + 4.0f * load8(g[2] + o)) + (2.0f * load8(g[1] + o) + 8.0f * load8(g[3] + o));
    case 4: return (load8(g[0] + o) + 4.0f * load8(g[2] + o)) - (2.0f * load8(g[1] + o) + 8.0f * load8(g[3] + o));
    default: return load8(g[3] + o);
    }
}

/* v: (36, T, cp) the tiles B^T d B of x: (nb, C, H, W); plane: one (4 th + 2, 4 tw + 2, 8)
 * plane per group of 8 channels (lap_winograd_plane_floats apart), zero on its border.
 * All groups of a sample are packed first and each tile then runs over the groups,
 * so that a tile's rows of v (cp floats at each of the 36 positions) are written
 * whole while their cache lines are in L1: group by group, the 36 x T half-written
 * lines of a chunk left L1 before the next group came back to them. */
static inline LAP_ALWAYS_INLINE void input4_body(float *v, float *plane, const float *x, const float *affine,
                                                 const float *after, int64_t nb, int64_t C,
                                                 int64_t cp, int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 4 * tw + 2, stride = 8,
                  group_floats = lap_winograd_plane_floats(4 * th + 2, pw);
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t c0 = 0; c0 < C; c0 += 8)
            pack_plane_affine(plane + c0 / 8 * group_floats, x + (b * C + c0) * H * W, affine ? affine + c0 : NULL, cp,
                              C - c0 < 8 ? C - c0 : 8, H, W, pw, 1);
        const float *next = b + 1 < nb ? x + (b + 1) * C * H * W : after;
        const int64_t lines = (C * H * W + 15) / 16, lpt = (lines + th * tw - 1) / (th * tw);
        float *out = v + b * th * tw * lap_winograd_tile_stride(36, cp);
        for (int64_t ty = 0; ty < th; ty++)
            for (int64_t tx = 0; tx < tw; tx++) {
                if (next)
                    PREFETCH_SLICE(next, lines, ty * tw + tx, lpt, 0);
                for (int64_t c0 = 0; c0 < C; c0 += 8) {
                    const float *p = plane + c0 / 8 * group_floats + (4 * ty * pw + 4 * tx) * 8;
                    float *o = out + (ty * tw + tx) * lap_winograd_tile_stride(36, cp) + c0 * 36;
                    /* Row by row of B^T d, from the plane (L1): the whole tile in registers
                     * would need 36 of them. */
                    const float *const d[6] = {p, p + pw * 8, p + 2 * pw * 8, p + 3 * pw * 8, p + 4 * pw * 8, p + 5 * pw * 8};
                    float *const out_j[6] = {o, o + stride, o + 2 * stride, o + 3 * stride, o + 4 * stride, o + 5 * stride};
#pragma GCC unroll 6
                    for (int i = 0; i < 6; i++) {
                        v8 r[6];
                        bt6(r, bt_row(i, d, 0), bt_row(i, d, 1), bt_row(i, d, 2), bt_row(i, d, 3), bt_row(i, d, 4),
                            bt_row(i, d, 5));
                        const int64_t row = 6 * i * stride;
                        for (int j = 0; j < 6; j++)
                            store8(out_j[j] + row, r[j]);
                    }
                }
            }
    }
}
LAP_KERNEL_INLINE(input4, (float *v, float *plane, const float *x, const float *affine, const float *after,
                           int64_t nb, int64_t C, int64_t cp, int64_t H, int64_t W, int64_t th, int64_t tw),
                  (v, plane, x, affine, after, nb, C, cp, H, W, th, tw))

/* y: (nb, K, H, W) overwritten from m: (36, T, kp), each tile's A^T m A (4x4, clipped
 * at the border); plane: (4 th, 4 tw, 8) scratch. */
static inline LAP_ALWAYS_INLINE void output4_body(float *y, float *plane, const float *m, int64_t nb, int64_t K,
                                                  int64_t kp, int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 4 * tw, stride = 8;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k0 = 0; k0 < K; k0 += 8) {
            const float *in = m + b * th * tw * lap_winograd_tile_stride(36, kp) + k0 * 36;
            float *dst = y + (b * K + k0) * H * W;
            const int64_t nk = K - k0 < 8 ? K - k0 : 8, lines = (nk * H * W + 15) / 16,
                          lpt = (lines + th * tw - 1) / (th * tw);
            for (int64_t ty = 0; ty < th; ty++)
                for (int64_t tx = 0; tx < tw; tx++) {
                    PREFETCH_SLICE(dst, lines, ty * tw + tx, lpt, 1);
                    const float *q = in + (ty * tw + tx) * lap_winograd_tile_stride(36, kp);
                    float *p = plane + (4 * ty * pw + 4 * tx) * 8;
                    const float *const rows[6] = {q, q + 6 * stride, q + 12 * stride, q + 18 * stride, q + 24 * stride,
                                                  q + 30 * stride};
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++) {
                        v8 o[4];
                        at6(o, at_row(r, rows, 0), at_row(r, rows, stride), at_row(r, rows, 2 * stride),
                            at_row(r, rows, 3 * stride), at_row(r, rows, 4 * stride), at_row(r, rows, 5 * stride));
                        store8(p + r * pw * 8, o[0]);
                        store8(p + r * pw * 8 + 8, o[1]);
                        store8(p + r * pw * 8 + 16, o[2]);
                        store8(p + r * pw * 8 + 24, o[3]);
                    }
                }
            unpack_plane(dst, plane, nk, H, W, pw);
        }
}
LAP_KERNEL_INLINE(output4, (float *y, float *plane, const float *m, int64_t nb, int64_t K, int64_t kp, int64_t H,
                            int64_t W, int64_t th, int64_t tw),
                  (y, plane, m, nb, K, kp, H, W, th, tw))

/* dm: (36, T, kp) the tiles A dy A^T of dy: (nb, K, H, W), zero beyond the image;
 * plane: (4 th, 4 tw, 8) scratch, zero beyond the image rows and columns. */
static inline LAP_ALWAYS_INLINE void output_grad4_body(float *dm, float *plane, const float *dy, int64_t nb, int64_t K,
                                                       int64_t kp, int64_t H, int64_t W, int64_t th, int64_t tw)
{
    const int64_t pw = 4 * tw, stride = 8;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k0 = 0; k0 < K; k0 += 8) {
            const float *src = dy + (b * K + k0) * H * W, *next = src + 8 * H * W;
            pack_plane(plane, src, K - k0 < 8 ? K - k0 : 8, H, W, pw, 0);
            float *out = dm + b * th * tw * lap_winograd_tile_stride(36, kp) + k0 * 36;
            const int64_t lines = (8 * H * W + 15) / 16, lpt = (lines + th * tw - 1) / (th * tw);
            int last = b == nb - 1 && k0 + 8 >= K;
            for (int64_t ty = 0; ty < th; ty++)
                for (int64_t tx = 0; tx < tw; tx++) {
                    if (!last)
                        PREFETCH_SLICE(next, lines, ty * tw + tx, lpt, 0);
                    const float *p = plane + (4 * ty * pw + 4 * tx) * 8;
                    float *o = out + (ty * tw + tx) * lap_winograd_tile_stride(36, kp);
                    const float *const g[4] = {p, p + pw * 8, p + 2 * pw * 8, p + 3 * pw * 8};
                    float *const out_j[6] = {o, o + stride, o + 2 * stride, o + 3 * stride, o + 4 * stride, o + 5 * stride};
#pragma GCC unroll 6
                    for (int i = 0; i < 6; i++) {
                        v8 h[6];
                        a4(h, a_row(i, g, 0), a_row(i, g, 1), a_row(i, g, 2), a_row(i, g, 3));
                        const int64_t row = 6 * i * stride;
                        for (int j = 0; j < 6; j++)
                            store8(out_j[j] + row, h[j]);
                    }
                }
        }
}
LAP_KERNEL_INLINE(output_grad4, (float *dm, float *plane, const float *dy, int64_t nb, int64_t K, int64_t kp,
                                 int64_t H, int64_t W, int64_t th, int64_t tw),
                  (dm, plane, dy, nb, K, kp, H, W, th, tw))

const lap_winograd_tiles lap_winograd_f4 = {4, 6, weights4, weight_grad4, input4, output4, output_grad4};
