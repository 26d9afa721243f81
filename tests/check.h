/* check.h: the C tests' checks, one copy for every tests/test_*.c.
 *
 *   CHECK(cond)                       counts a check; on failure prints
 *   CHECK(cond, "fmt", ...)           "FAIL file:line: cond: message" and counts it
 *   CHECK_CLOSE(got, expected, tol)   |got - expected| <= tol (absolute), both printed
 *   EXPECT_FAILURE(d, file, p1, p2)   a dataset loader returned NULL with an error
 *                                     naming file, p1 and p2 (each may be NULL)
 *   check_summary("test_x")           prints the totals; returns main's exit status
 *
 * Header-only, for one test program each: it defines the program's static
 * counters `checks` and `failures` (tests with their own comparison helpers
 * count into them too).  Failures go to stdout, like the tests' own output, so
 * the two interleave in order in tests/run.sh's log.  The message of CHECK must
 * be a string literal (it is pasted after "").
 */
#ifndef LAP_TESTS_CHECK_H
#define LAP_TESTS_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/dataset.h"

static int failures = 0;
static int checks = 0;

static inline void check_failed(const char *file, int line, const char *condition, const char *format, ...)
{
    failures++;
    printf("FAIL %s:%d: %s", file, line, condition);
    if (format[0] != '\0') {
        va_list ap;
        va_start(ap, format);
        printf(": ");
        vprintf(format, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond))                                                       \
            check_failed(__FILE__, __LINE__, #cond, "" __VA_ARGS__);       \
    } while (0)

#define CHECK_CLOSE(got, expected, tolerance)                                                        \
    do {                                                                                             \
        double check_got_ = (got), check_expected_ = (expected), check_tolerance_ = (tolerance);    \
        checks++;                                                                                    \
        if (!(fabs(check_got_ - check_expected_) <= check_tolerance_))                              \
            check_failed(__FILE__, __LINE__, #got " close to " #expected,                            \
                         "got %.9g, expected %.9g (tolerance %g)", check_got_, check_expected_,     \
                         check_tolerance_);                                                          \
    } while (0)

static inline int contains(const char *text, const char *piece)
{
    return text && piece && strstr(text, piece) != NULL;
}

/* Expects NULL with a message containing the file's path and every piece given. */
static inline void expect_failure(lap_dataset *d, const char *file, const char *piece1, const char *piece2,
                                  const char *source, int line)
{
    checks++;
    const char *message = lap_last_error();
    int ok = d == NULL && (!file || contains(message, file)) && (!piece1 || contains(message, piece1)) &&
             (!piece2 || contains(message, piece2));
    if (getenv("LAP_TEST_VERBOSE"))
        printf("expected error: %s\n", message ? message : "(none)");
    if (!ok) {
        failures++;
        printf("FAIL %s:%d: expected an error naming '%s' with '%s'%s%s; got %s: %s\n", source, line,
               file ? file : "", piece1 ? piece1 : "", piece2 ? " and " : "", piece2 ? piece2 : "",
               d ? "a dataset" : "NULL", d ? "" : message);
    }
    lap_dataset_release(d);
}
#define EXPECT_FAILURE(d, file, p1, p2) expect_failure((d), (file), (p1), (p2), __FILE__, __LINE__)

/* The last line of every test: "name: all N checks passed" or "name: F of N checks failed". */
static inline int check_summary(const char *name)
{
    if (failures) {
        printf("%s: %d of %d checks failed\n", name, failures, checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, checks);
    return 0;
}

#endif
