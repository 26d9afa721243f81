/* kernels.h: hot loops compiled once per kernel path, chosen at run time.
 *
 * The build targets x86-64-v2 (SSE4.2) so that one binary runs on any x86-64
 * machine; a loop written once is compiled here three times, for that baseline,
 * for AVX2+FMA and for AVX-512 (F/BW/DQ/VL), and each call goes to the copy that
 * lap_kernel_path() names (cpu.h: the best the CPU runs, or the one LAP_KERNELS
 * forces).  Two forms:
 *
 *   LAP_KERNEL(name, (params), (args), { body })
 *       a static void function `name`; the body is stamped three times, so an
 *       OpenMP region inside it is outlined once per path (an inlined body would
 *       keep the baseline code in its outlined regions);
 *   LAP_KERNEL_INLINE(name, (params), (args))
 *       after `static inline LAP_ALWAYS_INLINE void name##_body(params) {...}`:
 *       three wrappers that inline the body, for loops without OpenMP (their
 *       line numbers survive in a debugger).
 *
 * The build compiles with -ffp-contract=off (ISO C mode): no path fuses a
 * multiply and an add the others do not, so results agree to the rounding of
 * reductions, which the loops here do in a fixed order (8 fixed float lanes,
 * then double) and so agree exactly.
 * Limits: void functions only; no preprocessor directives inside a LAP_KERNEL
 * body (it is a macro argument).
 */
#ifndef LAP_KERNELS_H
#define LAP_KERNELS_H

#include "core/cpu.h"

#define LAP_ALWAYS_INLINE __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__)
#define LAP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define LAP_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#else
#define LAP_TARGET_AVX2
#define LAP_TARGET_AVX512
#endif

#define LAP_KERNEL_DISPATCH(name, params, args)                                                   \
    static void name params                                                                       \
    {                                                                                             \
        static void (*const paths[LAP_KERNELS_COUNT]) params = {name##_baseline, name##_avx2,    \
                                                                 name##_avx512};                 \
        paths[lap_kernel_path()] args;                                                            \
    }

#define LAP_KERNEL(name, params, args, ...)                                                       \
    static void name##_baseline params __VA_ARGS__                                                \
    LAP_TARGET_AVX2 static void name##_avx2 params __VA_ARGS__                                   \
    LAP_TARGET_AVX512 static void name##_avx512 params __VA_ARGS__                               \
    LAP_KERNEL_DISPATCH(name, params, args)

#define LAP_KERNEL_INLINE(name, params, args)                                                     \
    static void name##_baseline params { name##_body args; }                                      \
    LAP_TARGET_AVX2 static void name##_avx2 params { name##_body args; }                         \
    LAP_TARGET_AVX512 static void name##_avx512 params { name##_body args; }                     \
    LAP_KERNEL_DISPATCH(name, params, args)

#endif
