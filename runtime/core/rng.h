/* rng.h: the runtime's seeded random generator.
 *
 * One documented algorithm: MT19937 (Matsumoto & Nishimura), seeded exactly as
 * numpy's legacy RandomState(seed) (init_genrand for a 32-bit seed), with numpy's
 * legacy draws on top of it, so that a given seed gives the same numbers on
 * every run and the same numbers as numpy.random.RandomState(seed):
 *   - lap_rng_uniform: random_sample(), 53-bit double in [0, 1)
 *   - lap_rng_gauss:   legacy_gauss(), the polar Box-Muller method that caches
 *                      its second value (RandomState.standard_normal)
 *   - lap_rng_interval: numpy's legacy bounded integer in [0, max] by masked
 *                      rejection (used by RandomState.shuffle / permutation)
 */
#ifndef LAP_RNG_H
#define LAP_RNG_H

#include <stdint.h>

typedef struct lap_rng {
    uint32_t state[624];
    int index;
    int has_gauss;      /* legacy_gauss keeps the second draw of each pair */
    double gauss;
} lap_rng;

void lap_rng_seed(lap_rng *rng, uint32_t seed);
uint32_t lap_rng_uint32(lap_rng *rng);
double lap_rng_uniform(lap_rng *rng);                 /* [0, 1) */
double lap_rng_gauss(lap_rng *rng);                   /* N(0, 1) */
uint64_t lap_rng_interval(lap_rng *rng, uint64_t max); /* uniform in [0, max] */
/* RandomState.shuffle of an int64 array, in place. */
void lap_rng_shuffle_i64(lap_rng *rng, int64_t *values, int64_t n);
/* RandomState.permutation(n). */
void lap_rng_permutation(lap_rng *rng, int64_t *out, int64_t n);

/* The runtime's global generator, used by initializations and trainers when
 * no generator is given.  Seeded with 0 at start; lap.manual_seed(s) reseeds. */
lap_rng *lap_global_rng(void);

#endif
