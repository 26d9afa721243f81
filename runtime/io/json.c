/* json.c: the strict JSON reader and the string builder that checkpoints write
 * JSON with (see json.h).  The reader refuses what RFC 8259 refuses (trailing
 * commas, bare control characters, lone surrogates, leading zeros) and duplicate
 * keys, and nests at most LAP_JSON_MAX_DEPTH levels: its input is a file. */
#include "io/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ------------------------------------------------------------ string builder */


void lap_sb_add(lap_sbuf *b, const char *s, size_t n)
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

void lap_sb_str(lap_sbuf *b, const char *s) { lap_sb_add(b, s, strlen(s)); }

void lap_sb_printf(lap_sbuf *b, const char *fmt, ...)
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
        lap_sb_add(b, small, (size_t)n);
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
    lap_sb_add(b, big, (size_t)n);
    free(big);
}

/* A JSON string literal. */
void lap_sb_json_string(lap_sbuf *b, const char *s)
{
    lap_sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            lap_sb_add(b, esc, 2);
        } else if (c < 0x20) {
            lap_sb_printf(b, "\\u%04x", c);
        } else {
            lap_sb_add(b, (const char *)&c, 1);
        }
    }
    lap_sb_add(b, "\"", 1);
}

/* -------------------------------------------------------------- JSON parser */



void lap_json_free(lap_json *v)
{
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        lap_json_free(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
    memset(v, 0, sizeof *v);
}

const lap_json *lap_json_get(const lap_json *v, const char *key)
{
    if (!v || v->type != LAP_JSON_OBJ)
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

int lap_json_hex_digit(char c)
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
        int d = lap_json_hex_digit(p->s[p->i + (size_t)k]);
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
    lap_sbuf b = {0};
    lap_sb_add(&b, "", 0);
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
            lap_sb_add(&b, (const char *)&c, 1);
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
            lap_sb_add(&b, rep, 1);
            continue;
        }
        unsigned cp = 0;
        if (jp_hex4(p, &cp) != 0) {
            free(b.data);
            return -1;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo = 0;
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
        lap_sb_add(&b, u, len);
    }
    if (b.failed) {
        free(b.data);
        return jp_fail(p, "out of memory");
    }
    *out = b.data;
    return 0;
}

static int jp_number(jparser *p, lap_json *out)
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
    out->type = LAP_JSON_NUM;
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

static int jp_value(jparser *p, lap_json *out);

static int jp_push(jparser *p, lap_json *v, char *key)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        lap_json *items = realloc(v->items, sizeof *items * (size_t)cap);
        if (!items)
            return jp_fail(p, "out of memory");
        v->items = items;
        if (v->type == LAP_JSON_OBJ) {
            char **keys = realloc(v->keys, sizeof *keys * (size_t)cap);
            if (!keys)
                return jp_fail(p, "out of memory");
            v->keys = keys;
        }
        v->cap = cap;
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->type == LAP_JSON_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int jp_container(jparser *p, lap_json *out, int is_obj)
{
    if (++p->depth > LAP_JSON_MAX_DEPTH)
        return jp_fail(p, "JSON nested deeper than %d levels", LAP_JSON_MAX_DEPTH);
    out->type = is_obj ? LAP_JSON_OBJ : LAP_JSON_ARR;
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

static int jp_value(jparser *p, lap_json *out)
{
    jp_ws(p);
    if (p->i >= p->n)
        return jp_fail(p, "JSON syntax error: unexpected end");
    char c = p->s[p->i];
    switch (c) {
    case '{': return jp_container(p, out, 1);
    case '[': return jp_container(p, out, 0);
    case '"': out->type = LAP_JSON_STR; return jp_string(p, &out->str);
    case 't': out->type = LAP_JSON_BOOL; out->boolean = 1; return jp_literal(p, "true");
    case 'f': out->type = LAP_JSON_BOOL; out->boolean = 0; return jp_literal(p, "false");
    case 'n': out->type = LAP_JSON_NULL; return jp_literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return jp_number(p, out);
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            return jp_fail(p, "JSON syntax error: unexpected character '%c'", c);
        return jp_fail(p, "JSON syntax error: unexpected byte 0x%02x", (unsigned char)c);
    }
}

/* Parses a whole document (trailing whitespace allowed).  On failure, err holds the reason. */
int lap_json_parse(const char *s, size_t n, lap_json *out, char *err, size_t errsize)
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
        lap_json_free(out);
        snprintf(err, errsize, "%s", p.err);
    }
    return status;
}
