/* json.h: a strict JSON reader (safetensors headers, architectures) and a string
 * builder for writing JSON.
 *
 * lap_json_parse reads a whole document into a tree of lap_json values; object
 * keys are unique (a duplicate is an error) and kept in the document's order.
 * Numbers are doubles; a plain non-negative integer literal that fits 64 bits is
 * also kept exactly (is_uint, uval), for file offsets.  Limits: depth
 * LAP_JSON_MAX_DEPTH; lookups by key are linear (objects here are small).
 */
#ifndef LAP_JSON_H
#define LAP_JSON_H

#include <stddef.h>
#include <stdint.h>

#define LAP_JSON_MAX_DEPTH 64

enum { LAP_JSON_NULL, LAP_JSON_BOOL, LAP_JSON_NUM, LAP_JSON_STR, LAP_JSON_ARR, LAP_JSON_OBJ };

typedef struct lap_json {
    int type;
    int boolean;
    double num;
    int is_uint;            /* a plain non-negative integer literal that fits uint64 */
    uint64_t uval;
    char *str;
    int n, cap;
    char **keys;            /* objects */
    struct lap_json *items;       /* arrays and objects */
} lap_json;

/* Parses s[0 .. n) (trailing whitespace allowed) into *out; 0 on success, else -1
 * with the reason and the byte offset in err. */
int lap_json_parse(const char *s, size_t n, lap_json *out, char *err, size_t errsize);
void lap_json_free(lap_json *v);
/* The value of key in object v; NULL when v is not an object or has no such key. */
const lap_json *lap_json_get(const lap_json *v, const char *key);
int lap_json_hex_digit(char c);   /* 0..15, or -1 */

/* A growing NUL-terminated string; `failed` is set by the first allocation failure
 * (every later call is then a no-op): check it once at the end. */
typedef struct lap_sbuf {
    char *data;
    size_t len, cap;
    int failed;
} lap_sbuf;

void lap_sb_add(lap_sbuf *b, const char *s, size_t n);
void lap_sb_str(lap_sbuf *b, const char *s);
void lap_sb_printf(lap_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lap_sb_json_string(lap_sbuf *b, const char *s);   /* a quoted, escaped JSON string */

#endif
