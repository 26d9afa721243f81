/* cpu.h: what this x86-64 CPU can do, which OpenBLAS core suits it, and which of
 * lap's own kernel paths runs.
 *
 * OpenBLAS picks its kernels from cpuid when the library loads, and an OpenBLAS
 * older than the CPU (Debian 12's 0.3.21 on an Intel model it does not know)
 * falls back to its SSE3 "Prescott" kernels, 4 to 5 times slower.  The only way
 * to change that choice is the OPENBLAS_CORETYPE variable, read at load, so laprun
 * sets it and re-executes itself once (lap_blas_check_core); lap.so, loaded into
 * someone else's interpreter, can only warn.
 *
 * lap's own hot loops (BatchNorm, the Winograd transforms, im2col, elementwise
 * updates) are compiled once per path: baseline (x86-64-v2, SSE4.2), AVX2+FMA and
 * AVX-512; lap_kernel_path() says which one runs.  The best the CPU supports is
 * chosen at start; LAP_KERNELS=baseline|avx2|avx512 in the environment, or
 * lap_kernel_path_set(), forces one (tests run every available path).
 * Limits: x86-64 only (elsewhere every query answers "baseline" and nothing is
 * re-executed).
 */
#ifndef LAP_CPU_H
#define LAP_CPU_H

#include <stddef.h>

typedef struct lap_cpu {
    char vendor[13];        /* "GenuineIntel", "AuthenticAMD" */
    char brand[49];         /* "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz" */
    int family, model;      /* display family and model, as /proc/cpuinfo shows them */
    /* Each flag is set only when the OS also saves the registers it needs (XGETBV). */
    int sse42, avx, avx2, fma, avx512f, avx512bw, avx512dq, avx512vl, avx512bf16;
} lap_cpu;

/* This machine's CPU (detected once). */
const lap_cpu *lap_cpu_this(void);
/* "sse4.2 avx avx2 fma avx512f ..." into buf. */
void lap_cpu_features(const lap_cpu *cpu, char *buf, size_t size);

/* The OpenBLAS core lap asks for on this CPU: "Cooperlake" (AVX-512 F/BW/DQ/VL and
 * BF16), "SkylakeX" (AVX-512 F/BW/DQ/VL), "Haswell" (AVX2 and FMA), or NULL (leave
 * OpenBLAS's choice alone). */
const char *lap_blas_core_best(const lap_cpu *cpu);
/* Vector class of an OpenBLAS core name: 3 AVX-512, 2 AVX2, 1 AVX, 0 older, -1 unknown. */
int lap_blas_core_class(const char *core);
/* The decision: the core to set through OPENBLAS_CORETYPE, or NULL to keep the
 * reported one.  NULL when the user set OPENBLAS_CORETYPE (user_coretype not NULL),
 * when the reported core is unknown to lap, or when it is as good as the best. */
const char *lap_blas_core_choice(const lap_cpu *cpu, const char *reported, const char *user_coretype);

/* OpenBLAS's own report. */
const char *lap_blas_core_name(void);      /* openblas_get_corename() */
const char *lap_blas_config(void);         /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." */
int lap_blas_threads(void);
/* At start: when OpenBLAS runs weaker kernels than the CPU supports (and neither
 * OPENBLAS_CORETYPE nor LAP_NO_REEXEC=1 is set), set OPENBLAS_CORETYPE and, when
 * argv is not NULL, execv this program with argv (returns only if that fails);
 * with argv NULL (lap.so), print one warning to stderr naming the variable.
 * LAP_TEST_REPORTED_CORE pretends OpenBLAS reported that core (for the tests). */
void lap_blas_check_core(char **argv);
/* After a re-execution: the core OpenBLAS had chosen first, else NULL. */
const char *lap_blas_reexec_from(void);

enum { LAP_KERNELS_BASELINE, LAP_KERNELS_AVX2, LAP_KERNELS_AVX512, LAP_KERNELS_COUNT };
extern int lap_kernels;                    /* the path in use; read it with lap_kernel_path() */
static inline int lap_kernel_path(void) { return lap_kernels; }
const char *lap_kernel_path_name(int path);  /* "baseline", "avx2", "avx512" */
int lap_kernel_path_supported(int path);     /* 1 when this CPU can run it */
int lap_kernel_path_best(void);
/* Forces a path (an error, changing nothing, when the CPU cannot run it). */
int lap_kernel_path_set(int path);
int lap_kernel_path_parse(const char *name); /* -1 when unknown */

/* What `laprun --version`, lap.info() and `make bench` print about the machine:
 *   OpenBLAS 0.3.21, core Zen (OpenBLAS single-threaded; 2 OpenMP threads)
 *   CPU: AMD EPYC 7B13 (family 25, model 1): sse4.2 avx avx2 fma
 *   lap kernels: avx2 (this CPU runs: baseline avx2)
 * one line each, into buf. */
void lap_system_report(char *buf, size_t size);
/* OpenBLAS's version ("0.3.21") from its configuration string. */
void lap_blas_version(char *buf, size_t size);
int lap_threads(void);                       /* OpenMP threads lap's loops use */

#endif
