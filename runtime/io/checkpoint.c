/* checkpoint.c: safetensors reading and writing, network and trainer checkpoints
 * (see checkpoint.h for the format and the naming scheme). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "core/error.h"
#include "core/files.h"
#include "nn/module.h"
#include "train/optim.h"
#include "nn/resnet.h"
#include "core/rng.h"
#include "train/trainer.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c writes float32 data in host order: a little-endian host is required"
#endif

/* The largest header accepted (safetensors itself limits it to 100 MB). */
#define MAX_HEADER (100 * 1000 * 1000)
#define MAX_JSON_DEPTH 64

/* ------------------------------------------------------------ string builder */

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_add(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* A JSON string literal. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* -------------------------------------------------------------- JSON parser */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    int boolean;
    double num;
    int is_uint;            /* a plain non-negative integer literal that fits uint64 */
    uint64_t uval;
    char *str;
    int n, cap;
    char **keys;            /* objects */
    struct jv *items;       /* arrays and objects */
} jv;

static void jv_free(jv *v)
{
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        jv_free(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static const jv *jv_get(const jv *v, const char *key)
{
    if (!v || v->type != J_OBJ)
        return NULL;
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return &v->items[i];
    return NULL;
}

typedef struct jparser {
    const char *s;
    size_t n, i;
    int depth;
    char err[200];
} jparser;

static int jp_fail(jparser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jp_fail(jparser *p, const char *fmt, ...)
{
    if (!p->err[0]) {
        char msg[150];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(p->err, sizeof p->err, "%s at byte %zu", msg, p->i);
    }
    return -1;
}

static void jp_ws(jparser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int jp_hex4(jparser *p, unsigned *out)
{
    if (p->n - p->i < 4)
        return jp_fail(p, "JSON syntax error: truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_digit(p->s[p->i + (size_t)k]);
        if (d < 0)
            return jp_fail(p, "JSON syntax error: bad \\u escape");
        v = v * 16 + (unsigned)d;
    }
    p->i += 4;
    *out = v;
    return 0;
}

static int jp_string(jparser *p, char **out)
{
    p->i++;   /* opening quote */
    sbuf b = {0};
    sb_add(&b, "", 0);
    for (;;) {
        if (p->i >= p->n) {
            free(b.data);
            return jp_fail(p, "JSON syntax error: unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) {
            free(b.data);
            return jp_fail(p, "JSON syntax error: control character in a string");
        }
        if (c != '\\') {
            sb_add(&b, (const char *)&c, 1);
            p->i++;
            continue;
        }
        p->i++;
        if (p->i >= p->n) {
            free(b.data);
            return jp_fail(p, "JSON syntax error: unterminated string");
        }
        char e = p->s[p->i++];
        const char *rep = NULL;
        switch (e) {
        case '"': rep = "\""; break;
        case '\\': rep = "\\"; break;
        case '/': rep = "/"; break;
        case 'b': rep = "\b"; break;
        case 'f': rep = "\f"; break;
        case 'n': rep = "\n"; break;
        case 'r': rep = "\r"; break;
        case 't': rep = "\t"; break;
        case 'u': break;
        default:
            free(b.data);
            p->i--;
            return jp_fail(p, "JSON syntax error: bad escape '\\%c'", e);
        }
        if (rep) {
            sb_add(&b, rep, 1);
            continue;
        }
        unsigned cp;
        if (jp_hex4(p, &cp) != 0) {
            free(b.data);
            return -1;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                free(b.data);
                return jp_fail(p, "JSON syntax error: unpaired surrogate");
            }
            p->i += 2;
            if (jp_hex4(p, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                free(b.data);
                return jp_fail(p, "JSON syntax error: unpaired surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(b.data);
            return jp_fail(p, "JSON syntax error: unpaired surrogate");
        }
        if (cp == 0) {
            free(b.data);
            return jp_fail(p, "NUL character (\\u0000) in a string");
        }
        char u[4];
        size_t len;
        if (cp < 0x80) {
            u[0] = (char)cp;
            len = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            len = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            len = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (char)(0x80 | (cp & 0x3F));
            len = 4;
        }
        sb_add(&b, u, len);
    }
    if (b.failed) {
        free(b.data);
        return jp_fail(p, "out of memory");
    }
    *out = b.data;
    return 0;
}

static int jp_number(jparser *p, jv *out)
{
    size_t start = p->i;
    int plain = 1;
    if (p->s[p->i] == '-') {
        plain = 0;
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return jp_fail(p, "JSON syntax error: bad number");
    if (p->s[p->i] == '0')
        p->i++;
    else
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        plain = 0;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return jp_fail(p, "JSON syntax error: bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        plain = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return jp_fail(p, "JSON syntax error: bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    size_t len = p->i - start;
    char text[64];
    if (len >= sizeof text)
        return jp_fail(p, "number too long");
    memcpy(text, p->s + start, len);
    text[len] = '\0';
    out->type = J_NUM;
    out->num = strtod(text, NULL);
    if (plain) {
        uint64_t v = 0;
        int fits = 1;
        for (size_t k = 0; k < len; k++) {
            unsigned d = (unsigned)(text[k] - '0');
            if (v > (UINT64_MAX - d) / 10) {
                fits = 0;
                break;
            }
            v = v * 10 + d;
        }
        out->is_uint = fits;
        out->uval = v;
    }
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

static int jp_value(jparser *p, jv *out);

static int jp_push(jparser *p, jv *v, char *key)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        jv *items = realloc(v->items, sizeof *items * (size_t)cap);
        if (!items)
            return jp_fail(p, "out of memory");
        v->items = items;
        if (v->type == J_OBJ) {
            char **keys = realloc(v->keys, sizeof *keys * (size_t)cap);
            if (!keys)
                return jp_fail(p, "out of memory");
            v->keys = keys;
        }
        v->cap = cap;
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->type == J_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int jp_container(jparser *p, jv *out, int is_obj)
{
    if (++p->depth > MAX_JSON_DEPTH)
        return jp_fail(p, "JSON nested deeper than %d levels", MAX_JSON_DEPTH);
    out->type = is_obj ? J_OBJ : J_ARR;
    char close = is_obj ? '}' : ']';
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        jp_ws(p);
        if (is_obj) {
            if (p->i >= p->n || p->s[p->i] != '"')
                return jp_fail(p, "JSON syntax error: expected a string key");
            if (jp_string(p, &key) != 0)
                return -1;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                free(key);
                return jp_fail(p, "JSON syntax error: expected ':'");
            }
            p->i++;
        }
        if (jp_push(p, out, key) != 0) {
            free(key);
            return -1;
        }
        if (jp_value(p, &out->items[out->n - 1]) != 0)
            return -1;
        jp_ws(p);
        if (p->i >= p->n)
            return jp_fail(p, "JSON syntax error: unexpected end");
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == close) {
            p->i++;
            break;
        }
        return jp_fail(p, "JSON syntax error: expected ',' or '%c'", close);
    }
    p->depth--;
    if (is_obj && out->n > 1) {
        char ***order = malloc(sizeof *order * (size_t)out->n);
        if (!order)
            return jp_fail(p, "out of memory");
        for (int k = 0; k < out->n; k++)
            order[k] = &out->keys[k];
        qsort(order, (size_t)out->n, sizeof *order, cmp_keys);
        for (int k = 1; k < out->n; k++)
            if (strcmp(*order[k - 1], *order[k]) == 0) {
                char key[100];
                snprintf(key, sizeof key, "%s", *order[k]);
                free(order);
                return jp_fail(p, "duplicate key '%s' in a JSON object", key);
            }
        free(order);
    }
    return 0;
}

static int jp_literal(jparser *p, const char *word)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return jp_fail(p, "JSON syntax error: unexpected character '%c'", p->s[p->i]);
    p->i += len;
    return 0;
}

static int jp_value(jparser *p, jv *out)
{
    jp_ws(p);
    if (p->i >= p->n)
        return jp_fail(p, "JSON syntax error: unexpected end");
    char c = p->s[p->i];
    switch (c) {
    case '{': return jp_container(p, out, 1);
    case '[': return jp_container(p, out, 0);
    case '"': out->type = J_STR; return jp_string(p, &out->str);
    case 't': out->type = J_BOOL; out->boolean = 1; return jp_literal(p, "true");
    case 'f': out->type = J_BOOL; out->boolean = 0; return jp_literal(p, "false");
    case 'n': out->type = J_NULL; return jp_literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return jp_number(p, out);
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            return jp_fail(p, "JSON syntax error: unexpected character '%c'", c);
        return jp_fail(p, "JSON syntax error: unexpected byte 0x%02x", (unsigned char)c);
    }
}

/* Parses a whole document (trailing whitespace allowed).  On failure, err holds the reason. */
static int json_parse(const char *s, size_t n, jv *out, char *err, size_t errsize)
{
    jparser p = {s, n, 0, 0, {0}};
    memset(out, 0, sizeof *out);
    int status = jp_value(&p, out);
    if (status == 0) {
        jp_ws(&p);
        if (p.i != p.n)
            status = jp_fail(&p, "JSON syntax error: trailing characters");
    }
    if (status != 0) {
        jv_free(out);
        snprintf(err, errsize, "%s", p.err);
    }
    return status;
}

/* ------------------------------------------------------------- safetensors */

/* ------------------------------------------------------------- name index */

/* A hash index over an array of names (open addressing, linear probing): finding a
 * name among n costs O(1), so a header of 64 000 tensors is not a quadratic search. */
typedef struct name_index {
    int *slots;      /* entry + 1, 0 for an empty slot */
    size_t size;     /* a power of two, at least twice the entries */
} name_index;

static size_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t)h;
}

static int index_find(const name_index *x, char *const *names, const char *name)
{
    if (!x->size)
        return -1;
    for (size_t i = name_hash(name) & (x->size - 1);; i = (i + 1) & (x->size - 1)) {
        if (!x->slots[i])
            return -1;
        if (strcmp(names[x->slots[i] - 1], name) == 0)
            return x->slots[i] - 1;
    }
}

static void index_place(name_index *x, char *const *names, int entry)
{
    size_t i = name_hash(names[entry]) & (x->size - 1);
    while (x->slots[i])
        i = (i + 1) & (x->size - 1);
    x->slots[i] = entry + 1;
}

/* Makes names[entry] findable; names[0 .. entry) already are. */
static int index_add(name_index *x, char *const *names, int entry)
{
    size_t needed = 2 * ((size_t)entry + 1);
    if (needed > x->size) {
        size_t size = x->size ? x->size : 32;
        while (size < needed)
            size *= 2;
        int *slots = calloc(size, sizeof *slots);
        if (!slots)
            return lap_error("out of memory");
        free(x->slots);
        x->slots = slots;
        x->size = size;
        for (int i = 0; i < entry; i++)
            index_place(x, names, i);
    }
    index_place(x, names, entry);
    return LAP_OK;
}

/* ------------------------------------------------------------- safetensors */

struct lap_safetensors {
    int n, cap;
    char **names;
    lap_tensor **tensors;
    name_index by_name;
    int nmeta, metacap;
    char **keys, **values;
    name_index by_key;
};

lap_safetensors *lap_safetensors_new(void) { return lap_calloc(1, sizeof(lap_safetensors)); }

void lap_safetensors_free(lap_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        free(st->names[i]);
        lap_tensor_release(st->tensors[i]);
    }
    for (int i = 0; i < st->nmeta; i++) {
        free(st->keys[i]);
        free(st->values[i]);
    }
    free(st->names);
    free(st->tensors);
    free(st->by_name.slots);
    free(st->keys);
    free(st->values);
    free(st->by_key.slots);
    free(st);
}

int lap_safetensors_count(const lap_safetensors *st) { return st->n; }
const char *lap_safetensors_name(const lap_safetensors *st, int i) { return st->names[i]; }
lap_tensor *lap_safetensors_tensor(const lap_safetensors *st, int i) { return st->tensors[i]; }

lap_tensor *lap_safetensors_get(const lap_safetensors *st, const char *name)
{
    int i = index_find(&st->by_name, st->names, name);
    return i < 0 ? NULL : st->tensors[i];
}

const char *lap_safetensors_meta(const lap_safetensors *st, const char *key)
{
    int i = index_find(&st->by_key, st->keys, key);
    return i < 0 ? NULL : st->values[i];
}

/* Makes room for one more entry in a pair of parallel lists (names, tensors) of
 * capacity *cap holding n entries: doubles the capacity (from `first`) when full. */
static int grow_named_lists(char ***names, lap_tensor ***tensors, int n, int *cap, int first)
{
    if (n < *cap)
        return LAP_OK;
    int grown = *cap ? *cap * 2 : first;
    char **more_names = realloc(*names, sizeof **names * (size_t)grown);
    if (more_names)
        *names = more_names;
    lap_tensor **more_tensors = realloc(*tensors, sizeof **tensors * (size_t)grown);
    if (more_tensors)
        *tensors = more_tensors;
    if (!more_names || !more_tensors)
        return lap_error("out of memory");
    *cap = grown;
    return LAP_OK;
}

int lap_safetensors_add(lap_safetensors *st, const char *name, lap_tensor *t)
{
    if (!name || !*name || strcmp(name, "__metadata__") == 0)
        return lap_error("safetensors: invalid tensor name '%s'", name ? name : "(null)");
    if (lap_safetensors_get(st, name))
        return lap_error("safetensors: duplicate tensor name '%s'", name);
    if (grow_named_lists(&st->names, &st->tensors, st->n, &st->cap, 16) != LAP_OK)
        return LAP_ERR;
    char *copy = strdup(name);
    if (!copy)
        return lap_error("out of memory");
    st->names[st->n] = copy;
    if (index_add(&st->by_name, st->names, st->n) != LAP_OK) {
        free(copy);
        return LAP_ERR;
    }
    st->tensors[st->n] = lap_tensor_retain(t);
    st->n++;
    return LAP_OK;
}

int lap_safetensors_set_meta(lap_safetensors *st, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return lap_error("out of memory");
    int existing = index_find(&st->by_key, st->keys, key);
    if (existing >= 0) {
        free(st->values[existing]);
        st->values[existing] = v;
        return LAP_OK;
    }
    if (st->nmeta == st->metacap) {
        int cap = st->metacap ? st->metacap * 2 : 8;
        char **keys = realloc(st->keys, sizeof *keys * (size_t)cap);
        if (keys)
            st->keys = keys;
        char **values = realloc(st->values, sizeof *values * (size_t)cap);
        if (values)
            st->values = values;
        if (!keys || !values) {
            free(v);
            return lap_error("out of memory");
        }
        st->metacap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return lap_error("out of memory");
    }
    st->keys[st->nmeta] = k;
    if (index_add(&st->by_key, st->keys, st->nmeta) != LAP_OK) {
        free(k);
        free(v);
        return LAP_ERR;
    }
    st->values[st->nmeta] = v;
    st->nmeta++;
    return LAP_OK;
}

int lap_safetensors_write(const lap_safetensors *st, const char *path)
{
    sbuf h = {0};
    sb_str(&h, "{");
    int first = 1;
    if (st->nmeta > 0) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < st->nmeta; i++) {
            if (i)
                sb_str(&h, ",");
            sb_json_string(&h, st->keys[i]);
            sb_str(&h, ":");
            sb_json_string(&h, st->values[i]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    uint64_t offset = 0;
    for (int i = 0; i < st->n; i++) {
        const lap_tensor *t = st->tensors[i];
        if (!first)
            sb_str(&h, ",");
        first = 0;
        sb_json_string(&h, st->names[i]);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++)
            sb_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        uint64_t bytes = (uint64_t)lap_numel(t) * 4;
        sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                  (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    sb_str(&h, "}");
    while (!h.failed && h.len % 8 != 0)
        sb_str(&h, " ");
    if (h.failed) {
        free(h.data);
        return lap_error("checkpoint '%s': out of memory building the header", path);
    }

    /* A symlink's target is replaced, never a device or a FIFO. */
    char *target = lap_replace_target(path, "checkpoint");
    if (!target) {
        free(h.data);
        return LAP_ERR;
    }
    lap_remove_stale_temporaries(target);
    size_t tmplen = strlen(target) + 32;
    char *tmp = malloc(tmplen);
    if (!tmp) {
        free(h.data);
        free(target);
        return lap_error("checkpoint '%s': out of memory", path);
    }
    snprintf(tmp, tmplen, "%s.tmp.%ld", target, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(h.data);
        free(tmp);
        free(target);
        return lap_error("checkpoint '%s': cannot create '%s.tmp.*': %s", path, path, strerror(e));
    }
    unsigned char len8[8];
    uint64_t hl = h.len;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(hl >> (8 * k));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.data, 1, h.len, f) == h.len;
    for (int i = 0; ok && i < st->n; i++) {
        size_t count = (size_t)lap_numel(st->tensors[i]);
        ok = fwrite(lap_data(st->tensors[i]), sizeof(float), count, f) == count;
    }
    int e = errno;
    if (ok && fflush(f) != 0) {
        ok = 0;
        e = errno;
    }
    if (ok && fsync(fileno(f)) != 0) {
        ok = 0;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, target) != 0) {
        ok = 0;
        e = errno;
    }
    free(h.data);
    free(target);
    if (!ok) {
        remove(tmp);
        free(tmp);
        return lap_error("checkpoint '%s': write failed: %s", path, strerror(e ? e : EIO));
    }
    free(tmp);
    return LAP_OK;
}

typedef struct entry {
    const char *name;
    const jv *info;
    int ndim;
    int64_t shape[LAP_MAX_DIMS];
    uint64_t begin, end;
} entry;

static int cmp_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Validates one tensor entry of the header. */
static int check_entry(const char *path, entry *e, uint64_t data_size)
{
    const jv *info = e->info;
    if (info->type != J_OBJ)
        return lap_error("checkpoint '%s': tensor '%s': header entry is not an object", path, e->name);
    for (int k = 0; k < info->n; k++)
        if (strcmp(info->keys[k], "dtype") && strcmp(info->keys[k], "shape") && strcmp(info->keys[k], "data_offsets"))
            return lap_error("checkpoint '%s': tensor '%s': unknown field '%s'", path, e->name, info->keys[k]);
    const jv *dtype = jv_get(info, "dtype"), *shape = jv_get(info, "shape"), *off = jv_get(info, "data_offsets");
    if (!dtype || dtype->type != J_STR)
        return lap_error("checkpoint '%s': tensor '%s': missing dtype", path, e->name);
    if (strcmp(dtype->str, "F32") != 0)
        return lap_error("checkpoint '%s': tensor '%s' has dtype '%s'; only F32 is supported", path, e->name,
                         dtype->str);
    if (!shape || shape->type != J_ARR)
        return lap_error("checkpoint '%s': tensor '%s': missing or invalid shape", path, e->name);
    if (shape->n > LAP_MAX_DIMS)
        return lap_error("checkpoint '%s': tensor '%s' has %d dimensions (at most %d)", path, e->name, shape->n,
                         LAP_MAX_DIMS);
    uint64_t numel = 1;
    e->ndim = shape->n;
    for (int d = 0; d < shape->n; d++) {
        const jv *dim = &shape->items[d];
        if (dim->type != J_NUM || !dim->is_uint || dim->uval > ((uint64_t)1 << 40))
            return lap_error("checkpoint '%s': tensor '%s': shape entry %d is not a valid size", path, e->name, d + 1);
        e->shape[d] = (int64_t)dim->uval;
        if (dim->uval && numel > (UINT64_MAX / 8) / dim->uval)
            return lap_error("checkpoint '%s': tensor '%s': shape too large", path, e->name);
        numel *= dim->uval;
    }
    if (!off || off->type != J_ARR || off->n != 2 || off->items[0].type != J_NUM || !off->items[0].is_uint ||
        off->items[1].type != J_NUM || !off->items[1].is_uint)
        return lap_error("checkpoint '%s': tensor '%s': data_offsets must be [begin, end] (integers)", path,
                         e->name);
    e->begin = off->items[0].uval;
    e->end = off->items[1].uval;
    if (e->begin > e->end || e->end > data_size)
        return lap_error("checkpoint '%s': tensor '%s': data_offsets [%llu, %llu] are outside the data (%llu bytes)",
                         path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_size);
    if (e->end - e->begin != numel * 4) {
        char s[LAP_SHAPE_BUF];
        shape_text(e->shape, e->ndim, s, sizeof s);
        return lap_error("checkpoint '%s': tensor '%s' has shape %s (%llu bytes of F32) but data_offsets [%llu, %llu] "
                         "hold %llu bytes",
                         path, e->name, s, (unsigned long long)(numel * 4), (unsigned long long)e->begin,
                         (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    }
    return LAP_OK;
}

lap_safetensors *lap_safetensors_read(const char *path)
{
    FILE *f = lap_open_regular(path, "checkpoint");
    if (!f)
        return NULL;
    struct stat sbuf_;
    char *header = NULL;
    entry *entries = NULL;
    lap_safetensors *st = NULL;
    jv root = {0};
    if (fstat(fileno(f), &sbuf_) != 0) {
        lap_error("checkpoint '%s': cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)sbuf_.st_size;
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8) {
        lap_error("checkpoint '%s': file is %llu bytes, too short for a safetensors header", path,
                  (unsigned long long)size);
        goto fail;
    }
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)len8[k] << (8 * k);
    if (hl > size - 8) {
        lap_error("checkpoint '%s': header length %llu is larger than the file (%llu bytes): truncated or not a "
                  "safetensors file",
                  path, (unsigned long long)hl, (unsigned long long)size);
        goto fail;
    }
    if (hl < 2 || hl > MAX_HEADER) {
        lap_error("checkpoint '%s': invalid header length %llu", path, (unsigned long long)hl);
        goto fail;
    }
    header = malloc((size_t)hl);
    if (!header || fread(header, 1, (size_t)hl, f) != (size_t)hl) {
        lap_error("checkpoint '%s': cannot read the header", path);
        goto fail;
    }
    char err[200];
    if (json_parse(header, (size_t)hl, &root, err, sizeof err) != 0) {
        lap_error("checkpoint '%s': invalid header: %s", path, err);
        goto fail;
    }
    if (root.type != J_OBJ) {
        lap_error("checkpoint '%s': invalid header: not a JSON object", path);
        goto fail;
    }
    uint64_t data_size = size - 8 - hl;
    st = lap_safetensors_new();
    entries = calloc((size_t)root.n + 1, sizeof *entries);
    if (!st || !entries) {
        lap_error("checkpoint '%s': out of memory", path);
        goto fail;
    }
    int n = 0;
    for (int i = 0; i < root.n; i++) {
        const jv *v = &root.items[i];
        if (strcmp(root.keys[i], "__metadata__") == 0) {
            if (v->type != J_OBJ) {
                lap_error("checkpoint '%s': __metadata__ is not an object", path);
                goto fail;
            }
            for (int k = 0; k < v->n; k++) {
                if (v->items[k].type != J_STR) {
                    lap_error("checkpoint '%s': __metadata__ entry '%s' is not a string", path, v->keys[k]);
                    goto fail;
                }
                if (lap_safetensors_set_meta(st, v->keys[k], v->items[k].str) != LAP_OK)
                    goto fail;
            }
            continue;
        }
        entries[n].name = root.keys[i];
        entries[n].info = v;
        if (root.keys[i][0] == '\0') {
            lap_error("checkpoint '%s': empty tensor name", path);
            goto fail;
        }
        if (check_entry(path, &entries[n], data_size) != LAP_OK)
            goto fail;
        n++;
    }
    /* The tensors must tile the data buffer: no overlaps, no holes. */
    entry *sorted = malloc(sizeof *sorted * (size_t)(n + 1));
    if (!sorted) {
        lap_error("checkpoint '%s': out of memory", path);
        goto fail;
    }
    memcpy(sorted, entries, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entries);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (sorted[i].begin < at) {
            lap_error("checkpoint '%s': tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                      path, sorted[i - 1].name, sorted[i].name, (unsigned long long)sorted[i - 1].begin,
                      (unsigned long long)sorted[i - 1].end, (unsigned long long)sorted[i].begin,
                      (unsigned long long)sorted[i].end);
            free(sorted);
            goto fail;
        }
        if (sorted[i].begin > at) {
            lap_error("checkpoint '%s': bytes %llu to %llu of the data belong to no tensor", path,
                      (unsigned long long)at, (unsigned long long)sorted[i].begin);
            free(sorted);
            goto fail;
        }
        at = sorted[i].end;
    }
    free(sorted);
    if (at != data_size) {
        lap_error("checkpoint '%s': %llu bytes after the last tensor belong to no tensor", path,
                  (unsigned long long)(data_size - at));
        goto fail;
    }
    /* The data, tensor by tensor (header order). */
    for (int i = 0; i < n; i++) {
        lap_tensor *t = lap_tensor_new(entries[i].ndim, entries[i].shape);
        if (!t)
            goto fail;
        size_t count = (size_t)lap_numel(t);
        int ok = fseeko(f, (off_t)(8 + hl + entries[i].begin), SEEK_SET) == 0 &&
                 fread(lap_data(t), sizeof(float), count, f) == count;
        if (!ok || lap_safetensors_add(st, entries[i].name, t) != LAP_OK) {
            lap_tensor_release(t);
            if (!ok)
                lap_error("checkpoint '%s': cannot read the data of tensor '%s'", path, entries[i].name);
            goto fail;
        }
        lap_tensor_release(t);
    }
    free(entries);
    jv_free(&root);
    free(header);
    fclose(f);
    return st;
fail:
    free(entries);
    jv_free(&root);
    free(header);
    lap_safetensors_free(st);
    fclose(f);
    return NULL;
}

/* ----------------------------------------------------- module configuration */

static const char *bool_text(int b) { return b ? "true" : "false"; }

/* Finds ", <key> <int>" in a describe() text. */
static int describe_int(const char *text, const char *key, int def)
{
    char pattern[48];
    snprintf(pattern, sizeof pattern, ", %s ", key);
    const char *at = strstr(text, pattern);
    return at ? atoi(at + strlen(pattern)) : def;
}

const char *lap_module_config(const lap_module *m, char *buf, size_t size)
{
    const char *type = m->ops->type;
    char desc[256];
    lap_module_describe(m, desc, sizeof desc);
    const char *paren = strchr(desc, '(');
    int n;
    if (strcmp(type, "Linear") == 0) {
        const lap_tensor *w = m->params[0];
        n = snprintf(buf, size, "{\"type\":\"Linear\",\"in\":%lld,\"out\":%lld,\"bias\":%s", (long long)w->shape[1],
                     (long long)w->shape[0], bool_text(m->nparams > 1));
    } else if (strcmp(type, "BatchNorm") == 0) {
        long long features;
        double momentum, eps;
        if (!paren || sscanf(paren, "(%lld, momentum %lf, eps %lf)", &features, &momentum, &eps) != 3) {
            lap_error("checkpoint: cannot read the configuration of '%s'", desc);
            return NULL;
        }
        n = snprintf(buf, size, "{\"type\":\"BatchNorm\",\"features\":%lld,\"momentum\":%.17g,\"eps\":%.17g",
                     features, momentum, eps);
    } else if (strcmp(type, "ReLU") == 0) {
        n = snprintf(buf, size, "{\"type\":\"ReLU\",\"inplace\":%s",
                     bool_text(lap_relu_is_inplace(m)));
    } else if (strcmp(type, "Tanh") == 0 || strcmp(type, "Sigmoid") == 0 || strcmp(type, "Flatten") == 0 ||
               strcmp(type, "GlobalAvgPool") == 0 || strcmp(type, "Sequential") == 0) {
        n = snprintf(buf, size, "{\"type\":\"%s\"", type);
    } else if (strcmp(type, "Conv2d") == 0 || strcmp(type, "ConvTranspose2d") == 0) {
        long long in, out;
        int kh, kw;
        if (!paren || sscanf(paren, "(%lld -> %lld, %dx%d", &in, &out, &kh, &kw) != 4) {
            lap_error("checkpoint: cannot read the configuration of '%s'", desc);
            return NULL;
        }
        int stride = describe_int(desc, "stride", 1), padding = describe_int(desc, "padding", 0);
        if (strcmp(type, "Conv2d") == 0)
            n = snprintf(buf, size,
                         "{\"type\":\"Conv2d\",\"in\":%lld,\"out\":%lld,\"kh\":%d,\"kw\":%d,\"stride\":%d,"
                         "\"padding\":%d,\"groups\":%d,\"bias\":%s",
                         in, out, kh, kw, stride, padding, describe_int(desc, "groups", 1),
                         bool_text(m->nparams > 1));
        else
            n = snprintf(buf, size,
                         "{\"type\":\"ConvTranspose2d\",\"in\":%lld,\"out\":%lld,\"kernel\":%d,\"stride\":%d,"
                         "\"padding\":%d,\"output_padding\":%d,\"bias\":%s",
                         in, out, kh, stride, padding, describe_int(desc, "output padding", 0),
                         bool_text(m->nparams > 1));
    } else if (strcmp(type, "AvgPool2d") == 0 || strcmp(type, "MaxPool2d") == 0) {
        int kernel, stride;
        if (!paren || sscanf(paren, "(%d, stride %d", &kernel, &stride) != 2) {
            lap_error("checkpoint: cannot read the configuration of '%s'", desc);
            return NULL;
        }
        n = snprintf(buf, size, "{\"type\":\"%s\",\"kernel\":%d,\"stride\":%d,\"padding\":%d", type, kernel, stride,
                     describe_int(desc, "padding", 0));
    } else if (strcmp(type, "ResNet") == 0) {
        const lap_resnet *net = (const lap_resnet *)m;
        n = snprintf(buf, size, "{\"type\":\"ResNet\",\"step\":%.17g,\"relu_after\":%s,\"transport\":\"%s\",\"p\":%.17g",
                     net->step, bool_text(net->relu_after),
                     net->transport.form == LAP_TRANSPORT_FROBENIUS ? "frobenius" : "mean", net->transport.p);
    } else {
        lap_error("checkpoint: cannot describe a module of type '%s'", type);
        return NULL;
    }
    if (n < 0 || (size_t)n >= size)
        goto small;
    int m2 = snprintf(buf + n, size - (size_t)n, ",\"frozen\":%s}", bool_text(m->frozen));
    if (m2 < 0 || (size_t)(n + m2) >= size)
        goto small;
    return buf;
small:
    lap_error("checkpoint: configuration of %s does not fit in %zu bytes", type, size);
    return NULL;
}

static int arch_write(sbuf *b, const lap_module *m)
{
    char config[512];
    if (!lap_module_config(m, config, sizeof config))
        return LAP_ERR;
    size_t len = strlen(config);
    sb_add(b, config, len - 1);   /* without the closing brace */
    const lap_resnet *net = lap_as_resnet((lap_module *)m);
    if (net) {
        if (net->encoder) {
            sb_str(b, ",\"encoder\":");
            if (arch_write(b, net->encoder) != LAP_OK)
                return LAP_ERR;
        }
        sb_str(b, ",\"blocks\":[");
        for (int k = 0; k < net->nblocks; k++) {
            if (k)
                sb_str(b, ",");
            if (arch_write(b, net->blocks[k]) != LAP_OK)
                return LAP_ERR;
        }
        sb_str(b, "]");
        if (net->classifier) {
            sb_str(b, ",\"classifier\":");
            if (arch_write(b, net->classifier) != LAP_OK)
                return LAP_ERR;
        }
    } else if (m->nchildren > 0 || lap_module_is(m, "Sequential")) {
        sb_str(b, ",\"children\":[");
        for (int i = 0; i < m->nchildren; i++) {
            if (i)
                sb_str(b, ",");
            if (arch_write(b, m->children[i]) != LAP_OK)
                return LAP_ERR;
        }
        sb_str(b, "]");
    }
    sb_str(b, "}");
    return LAP_OK;
}

char *lap_module_architecture(const lap_module *m)
{
    sbuf b = {0};
    if (arch_write(&b, m) != LAP_OK) {
        free(b.data);
        return NULL;
    }
    if (b.failed) {
        free(b.data);
        lap_error("out of memory");
        return NULL;
    }
    return b.data;
}

/* Field getters for the architecture: errors name the module type and the field. */
static int arch_number(const jv *node, const char *key, double *out, const char *type)
{
    const jv *v = jv_get(node, key);
    if (!v || v->type != J_NUM)
        return lap_error("architecture: %s needs a number '%s'", type, key);
    *out = v->num;
    return LAP_OK;
}

static int arch_int(const jv *node, const char *key, long long *out, const char *type)
{
    double x = 0;
    if (arch_number(node, key, &x, type) != LAP_OK)
        return LAP_ERR;
    if (!(x >= -1e15 && x <= 1e15) || x != floor(x))   /* range first: a cast of 2e19 is undefined */
        return lap_error("architecture: %s's '%s' is not an integer", type, key);
    *out = (long long)x;
    return LAP_OK;
}

/* An integer option that the constructor takes as an int: out of int's range is an
 * error, not a truncation (padding 2^32 + 1 is not padding 1). */
static int arch_c_int(const jv *node, const char *key, int *out, const char *type)
{
    long long x = 0;
    if (arch_int(node, key, &x, type) != LAP_OK)
        return LAP_ERR;
    if (x < INT_MIN || x > INT_MAX)
        return lap_error("architecture: %s's '%s' is %lld, out of the range of an int", type, key, x);
    *out = (int)x;
    return LAP_OK;
}

static int arch_bool(const jv *node, const char *key, int *out, int def, const char *type)
{
    const jv *v = jv_get(node, key);
    if (!v) {
        *out = def;
        return LAP_OK;
    }
    if (v->type != J_BOOL)
        return lap_error("architecture: %s's '%s' is not a boolean", type, key);
    *out = v->boolean;
    return LAP_OK;
}

static lap_module *arch_build(const jv *node, int depth);

static lap_module *arch_build_resnet(const jv *node, int depth)
{
    double step = 0, p = 0;
    int relu_after = 0;
    const jv *form = jv_get(node, "transport");
    const jv *blocks = jv_get(node, "blocks");
    if (arch_number(node, "step", &step, "ResNet") != LAP_OK || arch_number(node, "p", &p, "ResNet") != LAP_OK ||
        arch_bool(node, "relu_after", &relu_after, 0, "ResNet") != LAP_OK)
        return NULL;
    if (!form || form->type != J_STR || (strcmp(form->str, "mean") && strcmp(form->str, "frobenius"))) {
        lap_error("architecture: ResNet's transport must be \"mean\" or \"frobenius\"");
        return NULL;
    }
    if (!blocks || blocks->type != J_ARR) {
        lap_error("architecture: ResNet needs an array 'blocks'");
        return NULL;
    }
    lap_transport transport = {strcmp(form->str, "frobenius") == 0 ? LAP_TRANSPORT_FROBENIUS : LAP_TRANSPORT_MEAN,
                               p};
    lap_module *encoder = NULL, *classifier = NULL, *net = NULL;
    lap_module **list = lap_calloc((size_t)blocks->n + 1, sizeof *list);
    if (!list)
        return NULL;
    const jv *e = jv_get(node, "encoder"), *c = jv_get(node, "classifier");
    if (e && !(encoder = arch_build(e, depth + 1)))
        goto done;
    if (c && !(classifier = arch_build(c, depth + 1)))
        goto done;
    for (int k = 0; k < blocks->n; k++)
        if (!(list[k] = arch_build(&blocks->items[k], depth + 1)))
            goto done;
    net = lap_resnet_new(encoder, list, blocks->n, classifier, step, relu_after, transport);
done:
    lap_module_release(encoder);
    lap_module_release(classifier);
    for (int k = 0; k < blocks->n; k++)
        lap_module_release(list[k]);
    free(list);
    return net;
}

static lap_module *arch_build(const jv *node, int depth)
{
    if (depth > MAX_JSON_DEPTH) {
        lap_error("architecture: nested too deeply");
        return NULL;
    }
    const jv *tv = jv_get(node, "type");
    if (!tv || tv->type != J_STR) {
        lap_error("architecture: a module without a \"type\"");
        return NULL;
    }
    const char *type = tv->str;
    lap_module *m = NULL;
    long long a = 0, b = 0;
    int kh = 0, kw = 0, stride = 0, padding = 0, groups = 0;
    double x = 0, y = 0;
    int bias = 1, flag = 0;
    if (strcmp(type, "Linear") == 0) {
        if (arch_int(node, "in", &a, type) || arch_int(node, "out", &b, type) ||
            arch_bool(node, "bias", &bias, 1, type))
            return NULL;
        m = lap_linear_new(a, b, bias);
    } else if (strcmp(type, "BatchNorm") == 0) {
        if (arch_int(node, "features", &a, type) || arch_number(node, "momentum", &x, type) ||
            arch_number(node, "eps", &y, type))
            return NULL;
        m = lap_batchnorm_new(a, x, y);
    } else if (strcmp(type, "ReLU") == 0) {
        if (arch_bool(node, "inplace", &flag, 0, type))
            return NULL;
        m = flag ? lap_relu_inplace_new() : lap_relu_new();
    } else if (strcmp(type, "Tanh") == 0) {
        m = lap_tanh_new();
    } else if (strcmp(type, "Sigmoid") == 0) {
        m = lap_sigmoid_new();
    } else if (strcmp(type, "Flatten") == 0) {
        m = lap_flatten_new();
    } else if (strcmp(type, "GlobalAvgPool") == 0) {
        m = lap_global_avgpool_new();
    } else if (strcmp(type, "Conv2d") == 0) {
        if (arch_int(node, "in", &a, type) || arch_int(node, "out", &b, type) || arch_c_int(node, "kh", &kh, type) ||
            arch_c_int(node, "kw", &kw, type) || arch_c_int(node, "stride", &stride, type) ||
            arch_c_int(node, "padding", &padding, type) || arch_c_int(node, "groups", &groups, type) ||
            arch_bool(node, "bias", &bias, 1, type))
            return NULL;
        m = lap_conv2d_new(a, b, kh, kw, stride, padding, groups, bias);
    } else if (strcmp(type, "ConvTranspose2d") == 0) {
        int outpad = 0;
        if (arch_int(node, "in", &a, type) || arch_int(node, "out", &b, type) ||
            arch_c_int(node, "kernel", &kh, type) || arch_c_int(node, "stride", &stride, type) ||
            arch_c_int(node, "padding", &padding, type) || arch_c_int(node, "output_padding", &outpad, type) ||
            arch_bool(node, "bias", &bias, 1, type))
            return NULL;
        m = lap_conv_transpose2d_new(a, b, kh, stride, padding, outpad, bias);
    } else if (strcmp(type, "AvgPool2d") == 0 || strcmp(type, "MaxPool2d") == 0) {
        int kernel = 0;
        if (arch_c_int(node, "kernel", &kernel, type) || arch_c_int(node, "stride", &stride, type) ||
            arch_c_int(node, "padding", &padding, type))
            return NULL;
        m = (type[0] == 'A' ? lap_avgpool2d_new : lap_maxpool2d_new)(kernel, stride, padding);
    } else if (strcmp(type, "Sequential") == 0) {
        const jv *children = jv_get(node, "children");
        if (!children || children->type != J_ARR) {
            lap_error("architecture: Sequential needs an array 'children'");
            return NULL;
        }
        m = lap_sequential_new();
        for (int i = 0; m && i < children->n; i++) {
            lap_module *child = arch_build(&children->items[i], depth + 1);
            if (!child || lap_module_add_child(m, child, NULL) != LAP_OK) {
                lap_module_release(child);
                lap_module_release(m);
                return NULL;
            }
            lap_module_release(child);
        }
    } else if (strcmp(type, "ResNet") == 0) {
        m = arch_build_resnet(node, depth);
    } else {
        lap_error("architecture: unknown module type '%s'", type);
        return NULL;
    }
    if (!m)
        return NULL;
    if (arch_bool(node, "frozen", &flag, 0, type) != LAP_OK) {
        lap_module_release(m);
        return NULL;
    }
    m->frozen = flag;
    return m;
}

/* A number of the node, 0 when absent or not a positive number (arch_build reports those). */
static double arch_size(const jv *node, const char *key)
{
    const jv *v = jv_get(node, key);
    return v && v->type == J_NUM && v->num > 0 ? v->num : 0;
}

/* The floats of the parameters and buffers (BatchNorm's running statistics) the
 * architecture describes, counted from the JSON alone, before anything is allocated. */
static double arch_floats(const jv *node, int depth)
{
    const jv *tv = jv_get(node, "type");
    if (depth > MAX_JSON_DEPTH || !tv || tv->type != J_STR)
        return 0;
    const char *type = tv->str;
    const jv *v;
    double bias = (v = jv_get(node, "bias")) && v->type == J_BOOL && !v->boolean ? 0 : 1;
    double in = arch_size(node, "in"), out = arch_size(node, "out");
    if (strcmp(type, "Linear") == 0)
        return in * out + bias * out;
    if (strcmp(type, "BatchNorm") == 0)
        return 4 * arch_size(node, "features");
    if (strcmp(type, "Conv2d") == 0) {
        double groups = arch_size(node, "groups");
        return out * (groups >= 1 ? in / groups : in) * arch_size(node, "kh") * arch_size(node, "kw") + bias * out;
    }
    if (strcmp(type, "ConvTranspose2d") == 0)
        return in * out * arch_size(node, "kernel") * arch_size(node, "kernel") + bias * out;
    double total = 0;
    const char *lists[] = {"children", "blocks"};
    for (int l = 0; l < 2; l++)
        if ((v = jv_get(node, lists[l])) && v->type == J_ARR)
            for (int k = 0; k < v->n; k++)
                total += arch_floats(&v->items[k], depth + 1);
    if ((v = jv_get(node, "encoder")))
        total += arch_floats(v, depth + 1);
    if ((v = jv_get(node, "classifier")))
        total += arch_floats(v, depth + 1);
    return total;
}

/* With max_floats < 0, no budget. */
lap_module *lap_module_from_architecture_within(const char *json, double max_floats)
{
    jv root;
    char err[200];
    if (json_parse(json, strlen(json), &root, err, sizeof err) != 0) {
        lap_error("architecture: %s", err);
        return NULL;
    }
    double needed = max_floats >= 0 ? arch_floats(&root, 0) : 0;
    lap_module *m = NULL;
    if (max_floats >= 0 && needed > max_floats)
        lap_error("architecture: its parameters and statistics need %.0f floats, but the file holds only %.0f",
                  needed, max_floats);
    else
        m = arch_build(&root, 0);
    jv_free(&root);
    return m;
}

lap_module *lap_module_from_architecture(const char *json) { return lap_module_from_architecture_within(json, -1); }

/* ------------------------------------------------------------ named tensors */

typedef struct named {
    int n, cap;
    char **names;
    lap_tensor **tensors;
} named;

static void named_free(named *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    free(l->tensors);
}

static int named_add(named *l, const char *prefix, const char *name, lap_tensor *t)
{
    if (grow_named_lists(&l->names, &l->tensors, l->n, &l->cap, 32) != LAP_OK)
        return LAP_ERR;
    size_t len = strlen(prefix) + strlen(name) + 2;
    char *full = malloc(len);
    if (!full)
        return lap_error("out of memory");
    snprintf(full, len, "%s%s%s", prefix, *prefix ? "." : "", name);
    l->names[l->n] = full;
    l->tensors[l->n] = t;
    l->n++;
    return LAP_OK;
}

static int collect(lap_module *m, const char *prefix, named *l)
{
    for (int i = 0; i < m->nparams; i++)
        if (named_add(l, prefix, m->param_names[i], m->params[i]) != LAP_OK)
            return LAP_ERR;
    if (lap_module_is(m, "BatchNorm")) {
        if (named_add(l, prefix, "running_mean", lap_batchnorm_running_mean(m)) != LAP_OK ||
            named_add(l, prefix, "running_var", lap_batchnorm_running_var(m)) != LAP_OK)
            return LAP_ERR;
    }
    char child[256];
    const char *dot = *prefix ? "." : "";
    lap_resnet *net = lap_as_resnet(m);
    if (net) {
        if (net->encoder) {
            snprintf(child, sizeof child, "%s%sencoder", prefix, dot);
            if (collect(net->encoder, child, l) != LAP_OK)
                return LAP_ERR;
        }
        for (int k = 0; k < net->nblocks; k++) {
            snprintf(child, sizeof child, "%s%sblock.%d", prefix, dot, k + 1);
            if (collect(net->blocks[k], child, l) != LAP_OK)
                return LAP_ERR;
        }
        if (net->classifier) {
            snprintf(child, sizeof child, "%s%sclassifier", prefix, dot);
            if (collect(net->classifier, child, l) != LAP_OK)
                return LAP_ERR;
        }
        return LAP_OK;
    }
    for (int i = 0; i < m->nchildren; i++) {
        snprintf(child, sizeof child, "%s%s%d", prefix, dot, i + 1);
        if (collect(m->children[i], child, l) != LAP_OK)
            return LAP_ERR;
    }
    return LAP_OK;
}

/* Prefixes the current error message with "checkpoint '<path>': " unless it names the path. */
static void prefix_error(const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lap_last_error());
    if (!strstr(msg, path))
        lap_error("checkpoint '%s': %s", path, msg);
}

static int is_network_name(const char *name) { return strncmp(name, "optimizer.", 10) != 0; }

/* Adds the network's tensors and architecture to st. */
static int add_network(lap_safetensors *st, lap_module *m)
{
    named l = {0};
    int status = collect(m, "", &l);
    for (int i = 0; status == LAP_OK && i < l.n; i++)
        status = lap_safetensors_add(st, l.names[i], l.tensors[i]);
    named_free(&l);
    if (status != LAP_OK)
        return LAP_ERR;
    char *arch = lap_module_architecture(m);
    if (!arch)
        return LAP_ERR;
    status = lap_safetensors_set_meta(st, "lap.architecture", arch);
    free(arch);
    if (status == LAP_OK)
        status = lap_safetensors_set_meta(st, "format", "pt");
    return status;
}

/* Checks (apply == 0) or copies (apply == 1) the network tensors of st into m. */
static int network_weights(lap_module *m, const lap_safetensors *st, const char *path, int apply)
{
    named l = {0};
    if (collect(m, "", &l) != LAP_OK) {
        named_free(&l);
        return LAP_ERR;
    }
    int status = LAP_OK;
    for (int i = 0; status == LAP_OK && i < l.n; i++) {
        lap_tensor *src = lap_safetensors_get(st, l.names[i]);
        char a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
        if (!src)
            status = lap_error("checkpoint '%s': the network's tensor '%s' (shape %s) is not in the file", path,
                               l.names[i], lap_shape_str(l.tensors[i], a, sizeof a));
        else if (!lap_same_shape(src, l.tensors[i]))
            status = lap_error("checkpoint '%s': tensor '%s' has shape %s in the file but %s in the network", path,
                               l.names[i], lap_shape_str(src, a, sizeof a), lap_shape_str(l.tensors[i], b, sizeof b));
        else if (apply)
            lap_copy(lap_data(l.tensors[i]), lap_data(src), lap_numel(src));
    }
    name_index mine = {0};
    for (int k = 0; status == LAP_OK && k < l.n; k++)
        status = index_add(&mine, l.names, k);
    for (int i = 0; status == LAP_OK && i < lap_safetensors_count(st); i++) {
        const char *name = lap_safetensors_name(st, i);
        if (is_network_name(name) && index_find(&mine, l.names, name) < 0)
            status = lap_error("checkpoint '%s': tensor '%s' of the file is not in the network", path, name);
    }
    free(mine.slots);
    named_free(&l);
    return status;
}

int lap_module_save(lap_module *m, const char *path)
{
    lap_safetensors *st = lap_safetensors_new();
    if (!st)
        return LAP_ERR;
    int status = add_network(st, m);
    if (status == LAP_OK)
        status = lap_safetensors_write(st, path);
    else
        prefix_error(path);
    lap_safetensors_free(st);
    return status;
}

int lap_module_load_weights(lap_module *m, const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return LAP_ERR;
    int status = network_weights(m, st, path, 0);
    if (status == LAP_OK)
        status = network_weights(m, st, path, 1);
    lap_safetensors_free(st);
    return status;
}

/* The floats of the file's network tensors: a network rebuilt from the file's
 * architecture must fit in them, since each of its tensors must be in the file. */
static double network_floats(const lap_safetensors *st)
{
    double total = 0;
    for (int i = 0; i < st->n; i++)
        if (is_network_name(st->names[i]))
            total += (double)lap_numel(st->tensors[i]);
    return total;
}

lap_module *lap_module_load(const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return NULL;
    const char *arch = lap_safetensors_meta(st, "lap.architecture");
    lap_module *m = NULL;
    if (!arch) {
        lap_error("checkpoint '%s': no architecture (__metadata__[\"lap.architecture\"]); build the network and use "
                  "net:load_weights",
                  path);
    } else if (!(m = lap_module_from_architecture_within(arch, network_floats(st)))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", lap_last_error());
        lap_error("checkpoint '%s': %s", path, msg);
    } else if (network_weights(m, st, path, 0) != LAP_OK || network_weights(m, st, path, 1) != LAP_OK) {
        lap_module_release(m);
        m = NULL;
    }
    lap_safetensors_free(st);
    return m;
}

/* ----------------------------------------------------------------- trainers */

static int set_meta_f(lap_safetensors *st, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_meta_f(lap_safetensors *st, const char *key, const char *fmt, ...)
{
    char value[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return lap_safetensors_set_meta(st, key, value);
}

int lap_trainer_save(lap_trainer *t, const char *path)
{
    lap_optimizer *o = t->optimizer;
    lap_safetensors *st = lap_safetensors_new();
    if (!st)
        return LAP_ERR;
    int status = add_network(st, t->net);
    char name[64];
    for (int i = 0; status == LAP_OK && i < o->nparams; i++) {
        snprintf(name, sizeof name, "optimizer.state1.%d", i + 1);
        status = lap_safetensors_add(st, name, o->state1[i]);
        if (status == LAP_OK && o->state2[i]) {
            snprintf(name, sizeof name, "optimizer.state2.%d", i + 1);
            status = lap_safetensors_add(st, name, o->state2[i]);
        }
    }
    /* The generator: 624 words as 8 hex digits each. */
    char *words = malloc(624 * 8 + 1);
    if (!words)
        status = lap_error("out of memory");
    for (int k = 0; words && k < 624; k++)
        snprintf(words + 8 * k, 9, "%08x", (unsigned)t->rng.state[k]);
    if (status == LAP_OK)
        status = lap_safetensors_set_meta(st, "lap.rng.state", words);
    free(words);
    if (status == LAP_OK)
        status = set_meta_f(st, "lap.trainer.kind", "%d", (int)t->kind) ||
                 set_meta_f(st, "lap.trainer.lambda", "%.17g", t->lambda) ||
                 set_meta_f(st, "lap.trainer.tau", "%.17g", t->tau) ||
                 set_meta_f(st, "lap.trainer.steps", "%d", t->steps) ||
                 set_meta_f(st, "lap.trainer.iteration", "%lld", (long long)t->iteration) ||
                 set_meta_f(st, "lap.optimizer.kind", "%s", o->config.kind == LAP_OPTIM_ADAM ? "Adam" : "SGD") ||
                 set_meta_f(st, "lap.optimizer.lr", "%.17g", o->lr) ||
                 set_meta_f(st, "lap.optimizer.steps", "%lld", (long long)o->steps) ||
                 set_meta_f(st, "lap.optimizer.epoch", "%d", o->epoch) ||
                 set_meta_f(st, "lap.optimizer.nparams", "%d", o->nparams) ||
                 set_meta_f(st, "lap.rng.index", "%d", t->rng.index) ||
                 set_meta_f(st, "lap.rng.has_gauss", "%d", t->rng.has_gauss) ||
                 set_meta_f(st, "lap.rng.gauss", "%.17g", t->rng.gauss)
                     ? LAP_ERR
                     : LAP_OK;
    if (status == LAP_OK)
        status = lap_safetensors_write(st, path);
    else
        prefix_error(path);
    lap_safetensors_free(st);
    return status;
}

static int meta_number(const lap_safetensors *st, const char *key, double *out, const char *path)
{
    const char *text = lap_safetensors_meta(st, key);
    char *end = NULL;
    if (text)
        *out = strtod(text, &end);
    if (!text || end == text || *end != '\0')
        return lap_error("checkpoint '%s': metadata '%s' is %s, expected a number (not a trainer checkpoint?)", path,
                         key, text ? "not a number" : "missing");
    return LAP_OK;
}

/* A metadata number that must be an integer in [min, max] (NaN is not). */
static int meta_int(const lap_safetensors *st, const char *key, double min, double max, double *out,
                    const char *path)
{
    if (meta_number(st, key, out, path) != LAP_OK)
        return LAP_ERR;
    if (!(*out >= min && *out <= max) || *out != floor(*out))
        return lap_error("checkpoint '%s': metadata '%s' is %s, expected an integer in [%.0f, %.0f]", path, key,
                         lap_safetensors_meta(st, key), min, max);
    return LAP_OK;
}

int lap_trainer_load(lap_trainer *t, const char *path)
{
    lap_safetensors *st = lap_safetensors_read(path);
    if (!st)
        return LAP_ERR;
    lap_optimizer *o = t->optimizer;
    double kind = 0, lambda = 0, iteration = 0, lr = 0, steps = 0, epoch = 0, nparams = 0, index = 0, has_gauss = 0,
           gauss = 0;
    int status = LAP_ERR;
    /* Every value is checked with the rules its constructor applies: a file is input. */
    const double max_count = 9007199254740992.0;   /* 2^53: counters exact in a double */
    if (meta_int(st, "lap.trainer.kind", 0, 1000, &kind, path) || meta_number(st, "lap.trainer.lambda", &lambda, path) ||
        meta_int(st, "lap.trainer.iteration", 0, max_count, &iteration, path) ||
        meta_number(st, "lap.optimizer.lr", &lr, path) ||
        meta_int(st, "lap.optimizer.steps", 0, max_count, &steps, path) ||
        meta_int(st, "lap.optimizer.epoch", 0, INT_MAX, &epoch, path) ||
        meta_int(st, "lap.optimizer.nparams", 0, INT_MAX, &nparams, path) ||
        meta_int(st, "lap.rng.index", 0, 624, &index, path) ||
        meta_int(st, "lap.rng.has_gauss", 0, 1, &has_gauss, path) || meta_number(st, "lap.rng.gauss", &gauss, path))
        goto done;
    if (!lap_trainer_lambda_ok(t->kind, lambda)) {
        lap_error("checkpoint '%s': lambda %g is not a valid weight for this trainer (finite, > 0 for LAP, >= 0 for "
                  "Regularized)", path, lambda);
        goto done;
    }
    if (!lap_optim_lr_ok(lr)) {
        lap_error("checkpoint '%s': learning rate %g is not finite and >= 0", path, lr);
        goto done;
    }
    if (!isfinite(gauss)) {
        lap_error("checkpoint '%s': invalid generator state (lap.rng.gauss is %g)", path, gauss);
        goto done;
    }
    if ((int)kind != (int)t->kind) {
        lap_error("checkpoint '%s': saved by a trainer of another kind (%d, this one is %d)", path, (int)kind,
                  (int)t->kind);
        goto done;
    }
    const char *okind = lap_safetensors_meta(st, "lap.optimizer.kind");
    const char *mine = o->config.kind == LAP_OPTIM_ADAM ? "Adam" : "SGD";
    if (!okind || strcmp(okind, mine) != 0) {
        lap_error("checkpoint '%s': the optimizer is %s in the file but %s in this trainer", path,
                  okind ? okind : "missing", mine);
        goto done;
    }
    if ((int)nparams != o->nparams) {
        lap_error("checkpoint '%s': the optimizer has %d parameter tensors in the file but %d in this trainer", path,
                  (int)nparams, o->nparams);
        goto done;
    }
    const char *words = lap_safetensors_meta(st, "lap.rng.state");
    if (!words || strlen(words) != 624 * 8) {
        lap_error("checkpoint '%s': invalid generator state (lap.rng.*)", path);
        goto done;
    }
    uint32_t state[624];
    for (int k = 0; k < 624; k++) {
        uint32_t w = 0;
        for (int d = 0; d < 8; d++) {
            int h = hex_digit(words[8 * k + d]);
            if (h < 0) {
                lap_error("checkpoint '%s': invalid generator state (lap.rng.state)", path);
                goto done;
            }
            w = w * 16 + (uint32_t)h;
        }
        state[k] = w;
    }
    char name[64], a[LAP_SHAPE_BUF], b[LAP_SHAPE_BUF];
    for (int i = 0; i < o->nparams; i++)
        for (int which = 1; which <= 2; which++) {
            lap_tensor *mine_t = which == 1 ? o->state1[i] : o->state2[i];
            if (!mine_t)
                continue;
            snprintf(name, sizeof name, "optimizer.state%d.%d", which, i + 1);
            lap_tensor *src = lap_safetensors_get(st, name);
            if (!src) {
                lap_error("checkpoint '%s': optimizer tensor '%s' is not in the file", path, name);
                goto done;
            }
            if (!lap_same_shape(src, mine_t)) {
                lap_error("checkpoint '%s': tensor '%s' has shape %s in the file but %s in the optimizer", path, name,
                          lap_shape_str(src, a, sizeof a), lap_shape_str(mine_t, b, sizeof b));
                goto done;
            }
        }
    if (network_weights(t->net, st, path, 0) != LAP_OK)
        goto done;
    /* Everything checked: apply. */
    network_weights(t->net, st, path, 1);
    for (int i = 0; i < o->nparams; i++) {
        snprintf(name, sizeof name, "optimizer.state1.%d", i + 1);
        lap_tensor *src = lap_safetensors_get(st, name);
        lap_copy(lap_data(o->state1[i]), lap_data(src), lap_numel(src));
        if (o->state2[i]) {
            snprintf(name, sizeof name, "optimizer.state2.%d", i + 1);
            src = lap_safetensors_get(st, name);
            lap_copy(lap_data(o->state2[i]), lap_data(src), lap_numel(src));
        }
    }
    o->lr = lr;
    o->steps = (int64_t)steps;
    o->epoch = (int)epoch;
    t->lambda = lambda;
    t->iteration = (int64_t)iteration;
    memcpy(t->rng.state, state, sizeof state);
    t->rng.index = (int)index;
    t->rng.has_gauss = (int)has_gauss;
    t->rng.gauss = gauss;
    status = LAP_OK;
done:
    lap_safetensors_free(st);
    return status;
}
