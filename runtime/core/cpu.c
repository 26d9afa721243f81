/* cpu.c: cpuid, the OpenBLAS core decision and re-execution, lap's kernel path.
 * See cpu.h for why.  The decision is a pure function of (features, reported
 * core, user's variable), tested on a table of cases (tests/test_cpu.c).
 */
#include "core/cpu.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LAP_X86 1
#endif

/* ------------------------------------------------------------ cpuid */

#ifdef LAP_X86
static unsigned long long read_xcr0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static void detect(lap_cpu *cpu)
{
    memset(cpu, 0, sizeof *cpu);
    strcpy(cpu->vendor, "unknown");
    strcpy(cpu->brand, "unknown");
#ifdef LAP_X86
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
        return;
    unsigned int max_leaf = eax;
    memcpy(cpu->vendor, &ebx, 4);
    memcpy(cpu->vendor + 4, &edx, 4);
    memcpy(cpu->vendor + 8, &ecx, 4);
    cpu->vendor[12] = '\0';
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    int family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    if (family == 0xf)
        family += (eax >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf)
        model |= ((eax >> 16) & 0xf) << 4;
    cpu->family = family;
    cpu->model = model;
    cpu->sse42 = (ecx >> 20) & 1;
    int osxsave = (ecx >> 27) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int ymm_saved = (xcr0 & 0x6) == 0x6;               /* SSE and AVX state */
    int zmm_saved = ymm_saved && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM0-15 upper, ZMM16-31 */
    cpu->avx = ymm_saved && ((ecx >> 28) & 1);
    cpu->fma = cpu->avx && ((ecx >> 12) & 1);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        cpu->avx2 = cpu->avx && ((ebx >> 5) & 1);
        cpu->avx512f = zmm_saved && ((ebx >> 16) & 1);
        cpu->avx512dq = cpu->avx512f && ((ebx >> 17) & 1);
        cpu->avx512bw = cpu->avx512f && ((ebx >> 30) & 1);
        cpu->avx512vl = cpu->avx512f && ((ebx >> 31) & 1);
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        cpu->avx512bf16 = cpu->avx512f && ((eax >> 5) & 1);
    }
    __get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx);
    if (eax >= 0x80000004) {
        unsigned int words[12];
        for (unsigned int leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002 + leaf, &words[4 * leaf], &words[4 * leaf + 1], &words[4 * leaf + 2],
                        &words[4 * leaf + 3]);
        char brand[49];
        memcpy(brand, words, 48);
        brand[48] = '\0';
        const char *start = brand;
        while (*start == ' ')
            start++;
        size_t length = strlen(start);
        while (length > 0 && start[length - 1] == ' ')
            length--;
        memcpy(cpu->brand, start, length);
        cpu->brand[length] = '\0';
    }
#endif
}

const lap_cpu *lap_cpu_this(void)
{
    static lap_cpu cpu;
    static int detected;
    if (!detected) {
        detect(&cpu);
        detected = 1;
    }
    return &cpu;
}

void lap_cpu_features(const lap_cpu *cpu, char *buf, size_t size)
{
    static const struct { const char *name; size_t offset; } flags[] = {
        {"sse4.2", offsetof(lap_cpu, sse42)},       {"avx", offsetof(lap_cpu, avx)},
        {"avx2", offsetof(lap_cpu, avx2)},          {"fma", offsetof(lap_cpu, fma)},
        {"avx512f", offsetof(lap_cpu, avx512f)},    {"avx512bw", offsetof(lap_cpu, avx512bw)},
        {"avx512dq", offsetof(lap_cpu, avx512dq)},  {"avx512vl", offsetof(lap_cpu, avx512vl)},
        {"avx512bf16", offsetof(lap_cpu, avx512bf16)},
    };
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!*(const int *)((const char *)cpu + flags[i].offset))
            continue;
        int n = snprintf(buf + used, size > used ? size - used : 0, "%s%s", used ? " " : "", flags[i].name);
        if (n > 0)
            used += (size_t)n;
    }
}

/* ------------------------------------------------------------ OpenBLAS cores */

static int has_avx512_core(const lap_cpu *cpu)
{
    return cpu->avx512f && cpu->avx512bw && cpu->avx512dq && cpu->avx512vl;
}

const char *lap_blas_core_best(const lap_cpu *cpu)
{
    if (has_avx512_core(cpu))
        return cpu->avx512bf16 ? "Cooperlake" : "SkylakeX";
    if (cpu->avx2 && cpu->fma)
        return "Haswell";
    return NULL;
}

int lap_blas_core_class(const char *core)
{
    /* The DYNAMIC_ARCH core names of OpenBLAS 0.3.x (x86-64). */
    static const struct { const char *name; int vector_class; } cores[] = {
        {"SapphireRapids", 3}, {"Cooperlake", 3}, {"SkylakeX", 3},
        {"Haswell", 2}, {"Zen", 2},
        {"Sandybridge", 1}, {"Bulldozer", 1}, {"Piledriver", 1}, {"Steamroller", 1}, {"Excavator", 1},
        {"Prescott", 0}, {"Core2", 0}, {"Penryn", 0}, {"Dunnington", 0}, {"Nehalem", 0}, {"Atom", 0},
        {"Opteron", 0}, {"Opteron_SSE3", 0}, {"Barcelona", 0}, {"Nano", 0}, {"Bobcat", 0},
        {"Katmai", 0}, {"Coppermine", 0}, {"Northwood", 0}, {"Banias", 0}, {"Athlon", 0},
    };
    if (!core)
        return -1;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (strcasecmp(core, cores[i].name) == 0)
            return cores[i].vector_class;
    return -1;
}

const char *lap_blas_core_choice(const lap_cpu *cpu, const char *reported, const char *user_coretype)
{
    if (user_coretype && user_coretype[0])
        return NULL;
    const char *best = lap_blas_core_best(cpu);
    int reported_class = lap_blas_core_class(reported);
    if (!best || reported_class < 0)
        return NULL;
    return reported_class < lap_blas_core_class(best) ? best : NULL;
}

const char *lap_blas_core_name(void)
{
    return openblas_get_corename();
}

const char *lap_blas_config(void)
{
    return openblas_get_config();
}

int lap_blas_threads(void)
{
    return openblas_get_num_threads();
}

#define REEXEC_MARK "LAP_BLAS_REEXEC_FROM"

const char *lap_blas_reexec_from(void)
{
    const char *from = getenv(REEXEC_MARK);
    return from && from[0] ? from : NULL;
}

void lap_blas_check_core(char **argv)
{
    const char *no_reexec = getenv("LAP_NO_REEXEC");
    if (no_reexec && no_reexec[0] && strcmp(no_reexec, "0") != 0)
        return;
    const char *reported = getenv("LAP_TEST_REPORTED_CORE");
    if (!reported || !reported[0] || lap_blas_reexec_from())
        reported = lap_blas_core_name();
    const char *user_coretype = lap_blas_reexec_from() ? NULL : getenv("OPENBLAS_CORETYPE");
    const char *wanted = lap_blas_core_choice(lap_cpu_this(), reported, user_coretype);
    if (!wanted)
        return;
    if (argv && !lap_blas_reexec_from()) {
        setenv("OPENBLAS_CORETYPE", wanted, 1);
        setenv(REEXEC_MARK, reported, 1);
        execv("/proc/self/exe", argv);
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv(REEXEC_MARK);
    }
    static int warned;
    if (warned++)
        return;
    fprintf(stderr,
            "lap: warning: OpenBLAS runs its %s kernels on this %s, which supports %s's: start the "
            "process with OPENBLAS_CORETYPE=%s for full speed (LAP_NO_REEXEC=1 silences this)\n",
            reported, lap_cpu_this()->brand, wanted, wanted);
}

/* ------------------------------------------------------------ lap's kernel paths */

int lap_kernels = LAP_KERNELS_BASELINE;

static const char *const path_names[LAP_KERNELS_COUNT] = {"baseline", "avx2", "avx512"};

const char *lap_kernel_path_name(int path)
{
    return path >= 0 && path < LAP_KERNELS_COUNT ? path_names[path] : "unknown";
}

int lap_kernel_path_supported(int path)
{
    const lap_cpu *cpu = lap_cpu_this();
    switch (path) {
    case LAP_KERNELS_BASELINE: return cpu->sse42;
    case LAP_KERNELS_AVX2: return cpu->avx2 && cpu->fma;
    case LAP_KERNELS_AVX512: return has_avx512_core(cpu) && cpu->avx2 && cpu->fma;
    default: return 0;
    }
}

int lap_kernel_path_best(void)
{
    for (int path = LAP_KERNELS_COUNT - 1; path > 0; path--)
        if (lap_kernel_path_supported(path))
            return path;
    return LAP_KERNELS_BASELINE;
}

int lap_kernel_path_parse(const char *name)
{
    for (int path = 0; path < LAP_KERNELS_COUNT; path++)
        if (name && strcasecmp(name, path_names[path]) == 0)
            return path;
    return -1;
}

int lap_kernel_path_set(int path)
{
    if (path < 0 || path >= LAP_KERNELS_COUNT)
        return lap_error("kernels: unknown path %d (expected baseline, avx2 or avx512)", path);
    if (path != LAP_KERNELS_BASELINE && !lap_kernel_path_supported(path))
        return lap_error("kernels: this CPU (%s) cannot run the %s path", lap_cpu_this()->brand, path_names[path]);
    lap_kernels = path;
    return LAP_OK;
}

__attribute__((constructor)) static void choose_kernel_path(void)
{
    const char *forced = getenv("LAP_KERNELS");
    lap_kernels = lap_kernel_path_best();
    if (!forced || !forced[0])
        return;
    int path = lap_kernel_path_parse(forced);
    if (path < 0 || lap_kernel_path_set(path) != LAP_OK)
        fprintf(stderr, "lap: warning: LAP_KERNELS=%s is %s; using the %s path\n", forced,
                path < 0 ? "not one of baseline, avx2, avx512" : "not supported by this CPU",
                path_names[lap_kernels]);
}

/* ------------------------------------------------------------ report */

void lap_blas_version(char *buf, size_t size)
{
    const char *config = lap_blas_config();
    const char *version = config ? strchr(config, ' ') : NULL;
    size_t length = version ? strcspn(version + 1, " ") : 0;
    snprintf(buf, size, "%.*s", (int)length, version ? version + 1 : "");
}

int lap_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void lap_system_report(char *buf, size_t size)
{
    const lap_cpu *cpu = lap_cpu_this();
    char version[32], features[128], paths[64] = "";
    lap_blas_version(version, sizeof version);
    lap_cpu_features(cpu, features, sizeof features);
    for (int path = 0; path < LAP_KERNELS_COUNT; path++)
        if (lap_kernel_path_supported(path))
            snprintf(paths + strlen(paths), sizeof paths - strlen(paths), "%s%s", paths[0] ? " " : "",
                     path_names[path]);
    const char *from = lap_blas_reexec_from();
    char reexec[96] = "";
    if (from)
        snprintf(reexec, sizeof reexec, ", set by laprun: OpenBLAS had chosen %s", from);
    snprintf(buf, size,
             "OpenBLAS %s, core %s (%d OpenBLAS thread%s, %d OpenMP thread%s%s)\n"
             "CPU: %s (%s family %d, model %d): %s\n"
             "lap kernels: %s (this CPU runs: %s)\n",
             version, lap_blas_core_name(), lap_blas_threads(), lap_blas_threads() == 1 ? "" : "s", lap_threads(),
             lap_threads() == 1 ? "" : "s", reexec, cpu->brand, cpu->vendor, cpu->family, cpu->model, features,
             lap_kernel_path_name(lap_kernel_path()), paths);
}
