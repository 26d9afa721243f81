/* parallel.h: loops over large activations split across the cores (OpenMP).
 *
 * Small loops run serially without entering OpenMP at all: even a parallel
 * region whose if() clause is false costs about a microsecond, which the 2-D
 * networks feel.  Each macro takes the condition, then the for loop itself.
 * Static schedules only, so an element is always computed by the same code path
 * whatever the timing (results do not depend on it).  The SIMD form vectorizes the
 * serial loop too: its selects (ReLU's) then compile to masks, not branches that
 * mispredict on every other element.
 */
#ifndef LAP_PARALLEL_H
#define LAP_PARALLEL_H

#define PARALLEL_MIN 65536
#define PARALLEL_FOR(parallel, ...) \
    do { \
        if (parallel) { \
            _Pragma("omp parallel for schedule(static)") __VA_ARGS__ \
        } else { \
            __VA_ARGS__ \
        } \
    } while (0)
#define PARALLEL_FOR_SIMD(parallel, ...) \
    do { \
        if (parallel) { \
            _Pragma("omp parallel for simd schedule(static)") __VA_ARGS__ \
        } else { \
            _Pragma("omp simd") __VA_ARGS__ \
        } \
    } while (0)
#define PARALLEL_FOR2(parallel, ...) \
    do { \
        if (parallel) { \
            _Pragma("omp parallel for collapse(2) schedule(static)") __VA_ARGS__ \
        } else { \
            __VA_ARGS__ \
        } \
    } while (0)

#endif
