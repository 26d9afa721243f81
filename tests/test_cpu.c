/* test_cpu.c: the OpenBLAS core decision and lap's kernel paths (cpu.c).
 *
 * The decision is checked on a table of (CPU features, core OpenBLAS reported,
 * user's OPENBLAS_CORETYPE) cases, among them the Intel Xeon that Debian's
 * OpenBLAS 0.3.21 does not know (AVX-512, reported Prescott).  Then the kernel
 * path switch: the best path is supported, forcing an unsupported one fails and
 * changes nothing, names parse both ways.  The re-execution itself is tested from
 * the shell (test_laprun.sh), since it replaces the process.
 */
#include <stdio.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"

#include "check.h"


/* check(ok, what): CHECK with a message that may be a variable. */
#define check(ok, what) CHECK(ok, "%s", what)

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

enum { SSE = 1, AVX = 2, AVX2 = 4, AVX512 = 8, BF16 = 16, AVX512F_ONLY = 32 };

static lap_cpu make_cpu(int flags)
{
    lap_cpu cpu;
    memset(&cpu, 0, sizeof cpu);
    cpu.sse42 = 1;
    cpu.avx = (flags & (AVX | AVX2 | AVX512 | AVX512F_ONLY)) != 0;
    cpu.avx2 = cpu.fma = (flags & (AVX2 | AVX512 | AVX512F_ONLY)) != 0;
    cpu.avx512f = (flags & (AVX512 | AVX512F_ONLY)) != 0;
    cpu.avx512bw = cpu.avx512dq = cpu.avx512vl = (flags & AVX512) != 0;
    cpu.avx512bf16 = (flags & BF16) != 0;
    return cpu;
}

static void test_decision(void)
{
    static const struct {
        int flags;
        const char *reported, *user, *expected, *what;
    } cases[] = {
        {AVX512, "Prescott", NULL, "SkylakeX", "Xeon unknown to OpenBLAS 0.3.21 (AVX-512): SkylakeX"},
        {AVX512 | BF16, "Prescott", NULL, "Cooperlake", "AVX-512 with BF16 reported Prescott: Cooperlake"},
        {AVX512, "Haswell", NULL, "SkylakeX", "AVX-512 CPU on Haswell kernels: SkylakeX"},
        {AVX512, "Zen", NULL, "SkylakeX", "AVX-512 Zen 4 reported Zen: SkylakeX"},
        {AVX512, "SkylakeX", NULL, NULL, "already SkylakeX: keep"},
        {AVX512 | BF16, "SkylakeX", NULL, NULL, "SkylakeX on a BF16 CPU: same vector class, keep"},
        {AVX512 | BF16, "SapphireRapids", NULL, NULL, "SapphireRapids: keep"},
        {AVX512, "Prescott", "Prescott", NULL, "user's OPENBLAS_CORETYPE=Prescott is kept"},
        {AVX512, "Prescott", "Haswell", NULL, "any user's OPENBLAS_CORETYPE is kept"},
        {AVX512, "Prescott", "", "SkylakeX", "an empty OPENBLAS_CORETYPE counts as unset"},
        {AVX2, "Zen", NULL, NULL, "AMD Zen 3 reported Zen: keep"},
        {AVX2, "Haswell", NULL, NULL, "Haswell on Haswell: keep"},
        {AVX2, "Prescott", NULL, "Haswell", "AVX2 CPU on Prescott: Haswell"},
        {AVX2, "Sandybridge", NULL, "Haswell", "AVX2 CPU on Sandybridge: Haswell"},
        {AVX2, "NEHALEM", NULL, "Haswell", "core names compare without case"},
        {AVX512F_ONLY, "Prescott", NULL, "Haswell", "AVX-512F without BW/DQ/VL: Haswell"},
        {AVX, "Prescott", NULL, NULL, "AVX only (no AVX2): leave OpenBLAS's choice"},
        {SSE, "Prescott", NULL, NULL, "SSE only: leave"},
        {AVX512, "SomeFutureCore", NULL, NULL, "a core name lap does not know: leave"},
        {AVX512, NULL, NULL, NULL, "no reported core: leave"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lap_cpu cpu = make_cpu(cases[i].flags);
        const char *got = lap_blas_core_choice(&cpu, cases[i].reported, cases[i].user);
        if (!same(got, cases[i].expected))
            printf("  got %s, expected %s\n", got ? got : "(keep)", cases[i].expected ? cases[i].expected : "(keep)");
        check(same(got, cases[i].expected), cases[i].what);
    }
    check(lap_blas_core_class("SkylakeX") == 3 && lap_blas_core_class("Zen") == 2 &&
          lap_blas_core_class("Prescott") == 0 && lap_blas_core_class("nonsense") == -1, "core classes");
}

static void test_this_machine(void)
{
    const lap_cpu *cpu = lap_cpu_this();
    check(cpu->brand[0] != '\0' && cpu->vendor[0] != '\0', "brand and vendor read");
    check(!cpu->avx2 || cpu->avx, "AVX2 implies AVX");
    check(!cpu->avx512bw || cpu->avx512f, "AVX512BW implies AVX512F");
    char features[128];
    lap_cpu_features(cpu, features, sizeof features);
    check(!cpu->avx2 || strstr(features, "avx2") != NULL, "features list avx2");
    const char *core = lap_blas_core_name();
    check(core != NULL && core[0] != '\0', "OpenBLAS reports a core");
    char version[32];
    lap_blas_version(version, sizeof version);
    check(version[0] >= '0' && version[0] <= '9' && strchr(version, '.') != NULL, "OpenBLAS version parsed");
    printf("this machine: %s, OpenBLAS %s core %s, features %s\n", cpu->brand, version, core, features);
}

static void test_kernel_paths(void)
{
    int best = lap_kernel_path_best();
    check(lap_kernel_path_supported(best), "the best path is supported");
    check(lap_kernel_path_supported(LAP_KERNELS_BASELINE), "baseline always supported on x86-64-v2");
    check(lap_kernel_path_parse("avx2") == LAP_KERNELS_AVX2 && lap_kernel_path_parse("AVX512") == LAP_KERNELS_AVX512 &&
          lap_kernel_path_parse("sse") == -1 && lap_kernel_path_parse(NULL) == -1, "path names parse");
    for (int path = 0; path < LAP_KERNELS_COUNT; path++)
        check(lap_kernel_path_parse(lap_kernel_path_name(path)) == path, "path name round trip");
    int before = lap_kernel_path();
    for (int path = 0; path < LAP_KERNELS_COUNT; path++) {
        int status = lap_kernel_path_set(path);
        if (lap_kernel_path_supported(path))
            check(status == LAP_OK && lap_kernel_path() == path, "a supported path can be forced");
        else {
            check(status == LAP_ERR && strstr(lap_last_error(), "cannot run") != NULL, "an unsupported path fails");
            check(lap_kernel_path() != path, "a failed switch changes nothing");
        }
    }
    check(lap_kernel_path_set(7) == LAP_ERR, "an unknown path number fails");
    lap_kernel_path_set(before);
    char report[1024];
    lap_system_report(report, sizeof report);
    check(strstr(report, "core ") && strstr(report, "CPU: ") && strstr(report, "lap kernels: "), "system report");
}

int main(void)
{
    test_decision();
    test_this_machine();
    test_kernel_paths();
    return check_summary("test_cpu");
}
