/* error.c: the per-thread error message, path wrapping for containers, interrupts. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAP_ERROR_SIZE 1024

static _Thread_local char error_message[LAP_ERROR_SIZE];

volatile sig_atomic_t lap_interrupt_requested = 0;

int lap_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return LAP_ERR;
}

const char *lap_last_error(void)
{
    return error_message[0] ? error_message : "unknown error";
}

int lap_error_wrap(const char *container, const char *replacement, int index)
{
    char previous[LAP_ERROR_SIZE];
    memcpy(previous, error_message, sizeof previous);
    /* The child's head is its first path segment: up to the first '.', '[' or ':'. */
    size_t head = strcspn(previous, ".[:");
    const char *rest = previous + head;
    char indexed[32] = "";
    if (index > 0)
        snprintf(indexed, sizeof indexed, "[%d]", index);
    /* A child that already carries an index (a nested Sequential) keeps it. */
    if (*rest == '[')
        indexed[0] = '\0';
    if (replacement)
        snprintf(error_message, sizeof error_message, "%s.%s%s%s", container, replacement, indexed, rest);
    else
        snprintf(error_message, sizeof error_message, "%s.%.*s%s%s", container, (int)head, previous,
                 indexed, rest);
    return LAP_ERR;
}

int lap_check_interrupt(void)
{
    if (!lap_interrupt_requested)
        return LAP_OK;
    lap_interrupt_requested = 0;
    return lap_error("interrupted");
}

int lap_mul_size(size_t *out, size_t a, size_t b, const char *what)
{
    if (__builtin_mul_overflow(a, b, out))
        return lap_error("%s: size %zu x %zu is too large", what, a, b);
    return LAP_OK;
}

void *lap_malloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        lap_error("out of memory (%zu bytes)", bytes);
    return p;
}

void *lap_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        lap_error("out of memory (%zu x %zu bytes)", count, size);
    return p;
}
