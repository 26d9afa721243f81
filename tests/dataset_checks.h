/* dataset_checks.h: the check counters, CHECK and EXPECT_FAILURE shared by the
 * dataset loader tests (test_images.c, test_cifar_png.c).  Header-only, for one
 * test program each: it defines the program's static counters. */
#ifndef LAP_TESTS_DATASET_CHECKS_H
#define LAP_TESTS_DATASET_CHECKS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/dataset.h"
#include "core/error.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static int contains(const char *text, const char *piece)
{
    return text && piece && strstr(text, piece) != NULL;
}

/* Expects NULL with a message containing the file's path and every piece given. */
static void expect_failure(lap_dataset *d, const char *file, const char *piece1, const char *piece2, int line)
{
    checks++;
    const char *message = lap_last_error();
    int ok = d == NULL && (!file || contains(message, file)) && (!piece1 || contains(message, piece1)) &&
             (!piece2 || contains(message, piece2));
    if (getenv("LAP_TEST_VERBOSE"))
        printf("expected error: %s\n", message ? message : "(none)");
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL %s:%d: expected an error naming '%s' with '%s'%s%s; got %s: %s\n", __FILE__, line,
                file ? file : "", piece1 ? piece1 : "", piece2 ? " and " : "", piece2 ? piece2 : "",
                d ? "a dataset" : "NULL", d ? "" : message);
    }
    lap_dataset_release(d);
}
#define EXPECT_FAILURE(d, file, p1, p2) expect_failure((d), (file), (p1), (p2), __LINE__)

#endif
