/* winograd_tiles.h: what the Winograd tile sizes share (winograd.c: F(2x2, 3x3)
 * and the drivers; winograd_f4.c: F(4x4, 3x3)): 8-channel vectors, the
 * channel-interleaved planes the tile transforms read and write, and the table of
 * one tile size's transforms.  Internal to runtime/nn.
 */
#ifndef LAP_WINOGRAD_TILES_H
#define LAP_WINOGRAD_TILES_H

#include <stdint.h>
#ifdef __SSE__
#include <immintrin.h>
#endif

/* Tiles in a row of the F(2x2) grid, at most; wider images go through im2col. */
#define MAX_TW 64

/* The transforms of one tile size m (outputs m x m, inputs alpha x alpha, alpha = m + 2,
 * P = alpha^2 positions).  Layouts as in winograd.c: u (P, rows, ld), v (P, T, cp),
 * m (P, T, kp); th x tw tiles a sample; planes (m th + 2, m tw + 2, 8) for the input
 * and (m th, m tw, 8) for the output. */
typedef struct lap_winograd_tiles {
    int m, alpha;
    void (*weights)(float *u, const float *w, int flip, int64_t K, int64_t C);
    void (*weight_grad)(float *dw, const float *du, int64_t K, int64_t C, int64_t ld);
    /* affine: NULL, or (4, cp) floats: mean, inv_std, weight, bias per channel (zero
     * beyond C), applied with a ReLU to x while it is packed (lap_conv_input_affine). */
    /* after: the input this thread transforms next (prefetched during this one's
     * tiles: an activation written by the previous layer is in L3 or memory), or NULL. */
    void (*input)(float *v, float *plane, const float *x, const float *affine, const float *after, int64_t nb,
                  int64_t C, int64_t cp, int64_t H, int64_t W, int64_t th, int64_t tw);
    void (*output)(float *y, float *plane, const float *m, int64_t nb, int64_t K, int64_t kp, int64_t H, int64_t W,
                   int64_t th, int64_t tw);
    void (*output_grad)(float *dm, float *plane, const float *dy, int64_t nb, int64_t K, int64_t kp, int64_t H,
                        int64_t W, int64_t th, int64_t tw);
} lap_winograd_tiles;

extern const lap_winograd_tiles lap_winograd_f4;

/* The tile-major layout of the transformed tiles v (and m, dm): tile t's P positions
 * for channel group g (8 channels, one vector) are 8 P contiguous floats at
 * t * tile_stride + g * 8 P, position xi at offset 8 xi.  A tile's row (all groups) is
 * one cache line longer than P c: P c is often a multiple of 4 KB (16 positions x 32
 * channels: 2 KB), and the products, which walk down the tiles, would then read rows
 * that share two of L1's 64 sets and evict one another (measured: the F(2x2) weight
 * gradient 2 times slower). */
static inline int64_t lap_winograd_tile_stride(int64_t P, int64_t c) { return P * c + 16; }

/* Floats of one channel group's plane of rows x cols, rounded up to whole cache lines;
 * the plane buffers hold one such plane per group of 8 channels. */
static inline int64_t lap_winograd_plane_floats(int64_t rows, int64_t cols) { return (rows * cols * 8 + 15) & ~(int64_t)15; }

/* ---- channel-interleaved planes ---- */

/* 8 floats, one per channel of a group; v8u is the same for loads and stores at
 * any float address (as GCC's own __m256_u). */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define load8(p) (*(const v8u *)(p))
#define store8(p, v) (*(v8u *)(p) = (v))
#define INLINE static inline __attribute__((always_inline))

/* The source row of a missing channel (beyond C in the last group). */
static const float zero_row[2 * MAX_TW] __attribute__((unused));

/* plane: (., pw, 8), rows off .. off + H - 1, columns off .. off + W - 1 overwritten
 * with src: (nc, H, W) (lane c = channel c, lanes nc .. 7 zero); the rest untouched.
 * affine: NULL, or the 8 channels' mean, inv_std, weight and bias at affine, + ld,
 * + 2 ld, + 3 ld (zero for missing channels): then each value x is written as
 * relu(weight * ((x - mean) * inv_std) + bias), the operations and roundings of
 * batchnorm.c's eval-mode BatchNorm followed by a ReLU (maxps(v, 0) gives +0 for
 * -0 and NaN, as v > 0 ? v : 0 does).
 * 4x4 transposes in SSE registers: a scalar loop here costs as much as the tile
 * transforms. */
INLINE void pack_plane_affine(float *plane, const float *src, const float *affine, int64_t ld, int64_t nc, int64_t H,
                              int64_t W, int64_t pw, int64_t off)
{
    for (int64_t r = 0; r < H; r++) {
        const float *s[8];
        for (int c = 0; c < 8; c++)
            s[c] = c < nc ? src + (c * H + r) * W : zero_row;
        float *d = plane + ((r + off) * pw + off) * 8;
        int64_t x = 0;
#ifdef __SSE__
        /* The last 4 columns again when W is not a multiple of 4 (the same values
         * twice), instead of a scalar tail: 14-wide rows had 16 scalar copies. */
        for (int64_t step = 0; x < W && W >= 4; x += step) {
            if (x + 4 > W)
                x = W - 4;
            for (int h = 0; h < 8; h += 4) {
                __m128 r0 = _mm_loadu_ps(s[h] + x), r1 = _mm_loadu_ps(s[h + 1] + x), r2 = _mm_loadu_ps(s[h + 2] + x),
                       r3 = _mm_loadu_ps(s[h + 3] + x);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                if (affine) {
                    const __m128 mean = _mm_loadu_ps(affine + h), inv_std = _mm_loadu_ps(affine + ld + h),
                                 weight = _mm_loadu_ps(affine + 2 * ld + h), bias = _mm_loadu_ps(affine + 3 * ld + h),
                                 zero = _mm_setzero_ps();
#define LAP_AFFINE_RELU(r) \
    r = _mm_max_ps(_mm_add_ps(_mm_mul_ps(weight, _mm_mul_ps(_mm_sub_ps(r, mean), inv_std)), bias), zero)
                    LAP_AFFINE_RELU(r0);
                    LAP_AFFINE_RELU(r1);
                    LAP_AFFINE_RELU(r2);
                    LAP_AFFINE_RELU(r3);
#undef LAP_AFFINE_RELU
                }
                _mm_storeu_ps(d + x * 8 + h, r0);
                _mm_storeu_ps(d + x * 8 + 8 + h, r1);
                _mm_storeu_ps(d + x * 8 + 16 + h, r2);
                _mm_storeu_ps(d + x * 8 + 24 + h, r3);
            }
            step = 4;
        }
#endif
        for (; x < W; x++)
            for (int c = 0; c < 8; c++) {
                float value = s[c][x];
                if (affine) {
                    value = affine[2 * ld + c] * ((value - affine[c]) * affine[ld + c]) + affine[3 * ld + c];
                    value = value > 0 ? value : 0.0f;
                }
                d[x * 8 + c] = value;
            }
    }
}

INLINE void pack_plane(float *plane, const float *src, int64_t nc, int64_t H, int64_t W, int64_t pw, int64_t off)
{
    pack_plane_affine(plane, src, NULL, 0, nc, H, W, pw, off);
}

/* dst: (nc, H, W) overwritten with lanes 0 .. nc - 1 of rows and columns 0 .. H - 1,
 * 0 .. W - 1 of plane: (., pw, 8). */
INLINE void unpack_plane(float *dst, const float *plane, int64_t nc, int64_t H, int64_t W, int64_t pw)
{
    for (int64_t r = 0; r < H; r++) {
        float *d[8];
        for (int c = 0; c < 8; c++)
            d[c] = dst + (c * H + r) * W;
        const float *s = plane + r * pw * 8;
        int64_t x = 0;
#ifdef __SSE__
        for (int64_t step = 0; x < W && W >= 4; x += step) {   /* the last 4 columns as in pack_plane */
            if (x + 4 > W)
                x = W - 4;
            step = 4;
            for (int h = 0; h < nc; h += 4) {
                __m128 r0 = _mm_loadu_ps(s + x * 8 + h), r1 = _mm_loadu_ps(s + x * 8 + 8 + h),
                       r2 = _mm_loadu_ps(s + x * 8 + 16 + h), r3 = _mm_loadu_ps(s + x * 8 + 24 + h);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(d[h] + x, r0);
                if (h + 1 < nc)
                    _mm_storeu_ps(d[h + 1] + x, r1);
                if (h + 2 < nc)
                    _mm_storeu_ps(d[h + 2] + x, r2);
                if (h + 3 < nc)
                    _mm_storeu_ps(d[h + 3] + x, r3);
            }
        }
#endif
        for (; x < W; x++)
            for (int c = 0; c < nc; c++)
                d[c][x] = s[x * 8 + c];
    }
}

/* Prefetch the lines lpt t .. lpt (t + 1) - 1 of p (16 floats a line, `lines` in all):
 * spread over the tiles of one channel group, this brings in the next group's
 * image (8 short rows far apart, which the hardware prefetcher does not follow) or
 * the lines the group's output goes to, while the arithmetic runs. */
#define PREFETCH_SLICE(p, lines, t, lpt, rw)                                  \
    for (int64_t l_ = (t) * (lpt); l_ < ((t) + 1) * (lpt) && l_ < (lines); l_++) \
    __builtin_prefetch((p) + l_ * 16, rw, 3)



#endif
