/* rng.c: MT19937 with numpy's legacy RandomState draws on top (see rng.h).
 *
 * The point of this file is bit-for-bit agreement with
 * numpy.random.RandomState(seed) for the draws the runtime uses: the raw 32-bit
 * stream, random_sample, standard_normal (legacy polar Box-Muller), and the
 * masked-rejection bounded integers behind shuffle/permutation.  Only 32-bit
 * integer seeds are supported (numpy's array seeding, init_by_array, is not).
 * Gaussian values go through libm's log and sqrt, as numpy's legacy code does;
 * sqrt is exact, log is glibc's correctly-rounded-in-practice log.
 * A generator is not thread safe; the global one is meant for the main thread.
 */
#include "core/rng.h"

#include <math.h>

#define MT_N 624
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfU
#define MT_UPPER_MASK 0x80000000U
#define MT_LOWER_MASK 0x7fffffffU

void lap_rng_seed(lap_rng *rng, uint32_t seed)
{
    /* Knuth's multiplier, as in the reference init_genrand and numpy's mt19937_seed. */
    rng->state[0] = seed;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = rng->state[i - 1];
        rng->state[i] = 1812433253U * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    rng->index = MT_N;      /* forces a full regeneration on the first draw */
    rng->has_gauss = 0;     /* numpy resets the cached Gaussian when reseeding */
    rng->gauss = 0.0;
}

/* Regenerates the 624 words of state (the MT19937 "twist"). */
static void mt_twist(lap_rng *rng)
{
    uint32_t *mt = rng->state;
    for (int k = 0; k < MT_N; k++) {
        uint32_t y = (mt[k] & MT_UPPER_MASK) | (mt[(k + 1) % MT_N] & MT_LOWER_MASK);
        uint32_t mixed = mt[(k + MT_M) % MT_N] ^ (y >> 1);
        mt[k] = (y & 1U) ? mixed ^ MT_MATRIX_A : mixed;
    }
    rng->index = 0;
}

uint32_t lap_rng_uint32(lap_rng *rng)
{
    if (rng->index >= MT_N)
        mt_twist(rng);
    uint32_t y = rng->state[rng->index++];
    /* Tempering. */
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

/* numpy's next_uint64 for MT19937: the first word is the high half. */
static uint64_t rng_uint64(lap_rng *rng)
{
    uint64_t high = lap_rng_uint32(rng);
    uint64_t low = lap_rng_uint32(rng);
    return (high << 32) | low;
}

double lap_rng_uniform(lap_rng *rng)
{
    /* 27 high bits of one word and 26 of the next make a 53-bit mantissa. */
    uint32_t a = lap_rng_uint32(rng) >> 5;
    uint32_t b = lap_rng_uint32(rng) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double lap_rng_gauss(lap_rng *rng)
{
    if (rng->has_gauss) {
        rng->has_gauss = 0;
        double cached = rng->gauss;
        rng->gauss = 0.0;
        return cached;
    }
    double u, v, r2;
    do {
        u = 2.0 * lap_rng_uniform(rng) - 1.0;
        v = 2.0 * lap_rng_uniform(rng) - 1.0;
        r2 = u * u + v * v;
    } while (r2 >= 1.0 || r2 == 0.0);
    double scale = sqrt(-2.0 * log(r2) / r2);
    /* numpy returns the product with the second uniform and keeps the first. */
    rng->gauss = scale * u;
    rng->has_gauss = 1;
    return scale * v;
}

uint64_t lap_rng_interval(lap_rng *rng, uint64_t max)
{
    if (max == 0)
        return 0;
    /* Smallest all-ones mask covering max; draws above max are rejected. */
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t value;
    if (max <= 0xffffffffULL) {
        do
            value = lap_rng_uint32(rng) & mask;
        while (value > max);
    } else {
        do
            value = rng_uint64(rng) & mask;
        while (value > max);
    }
    return value;
}

void lap_rng_shuffle_i64(lap_rng *rng, int64_t *values, int64_t n)
{
    /* Fisher-Yates from the end, exactly RandomState.shuffle's order of draws. */
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)lap_rng_interval(rng, (uint64_t)i);
        int64_t tmp = values[i];
        values[i] = values[j];
        values[j] = tmp;
    }
}

void lap_rng_permutation(lap_rng *rng, int64_t *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    lap_rng_shuffle_i64(rng, out, n);
}

lap_rng *lap_global_rng(void)
{
    static lap_rng global;
    static int seeded = 0;
    if (!seeded) {
        lap_rng_seed(&global, 0);
        seeded = 1;
    }
    return &global;
}
