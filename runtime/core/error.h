/* error.h: how the runtime reports failures on user input.
 *
 * Every runtime function that can fail because of what a user passed (a shape,
 * an option, a file) returns LAP_ERR after recording a message with lap_error();
 * the Lua bindings turn that message into a Lua error.  The runtime never aborts
 * on user input.  The message buffer is per thread.
 *
 * Containers add their path to a child's message with lap_error_wrap(), so that
 * an error deep in a network reads "ResNet.block[3].Linear[1]: ...".
 */
#ifndef LAP_ERROR_H
#define LAP_ERROR_H

#include <signal.h>
#include <stddef.h>

#define LAP_OK 0
#define LAP_ERR (-1)

/* Records a printf-style message; returns LAP_ERR so callers can `return lap_error(...)`. */
int lap_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *lap_last_error(void);

/* Rewrites the current message "Head.rest: msg" as
 * "<container>.<Head or replacement>[index].rest: msg".
 * replacement == NULL keeps the child's head; index <= 0 omits "[index]". */
int lap_error_wrap(const char *container, const char *replacement, int index);

/* Set asynchronously (SIGINT in laprun); long loops in the runtime poll it. */
extern volatile sig_atomic_t lap_interrupt_requested;
/* Returns LAP_ERR with message "interrupted" (and clears the flag) if set. */
int lap_check_interrupt(void);

/* Size arithmetic on user input that cannot wrap: *out = a * b, or LAP_ERR with
 * "<what>: size a x b is too large" when the product does not fit a size_t. */
int lap_mul_size(size_t *out, size_t a, size_t b, const char *what);

/* Allocation helpers: on failure they record "out of memory (N bytes)" and return NULL. */
void *lap_malloc(size_t bytes);
void *lap_calloc(size_t count, size_t size);

#endif
