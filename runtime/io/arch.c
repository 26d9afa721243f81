/* arch.c: the architecture of a module tree as JSON, and the module tree an
 * architecture describes (see arch.h).
 *
 * Nothing here names a layer: a module is written as its type, the fields of its
 * ops (module.h) and its child slots, and read back through the type's entry in
 * the registry (nn/registry.h).  Numbers are written with the fewest digits that
 * read back to the same double (or float): exact, and still readable.
 */
#include "io/arch.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json.h"
#include "nn/registry.h"

/* ------------------------------------------------------------------ writing */

/* The shortest of %.15g, %.16g, %.17g (floats: %.6g .. %.9g) that reads back exactly. */
static void write_number(lap_sbuf *b, double x, int is_float)
{
    char text[40];
    for (int digits = is_float ? 6 : 15; digits <= (is_float ? 9 : 17); digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (is_float ? strtof(text, NULL) == (float)x : strtod(text, NULL) == x)
            break;
    }
    lap_sb_str(b, text);
}

static int write_field(lap_sbuf *b, const lap_module *m, const lap_field *f)
{
    double x = lap_field_value(m, f);
    lap_sb_printf(b, ",\"%s\":", f->name);
    switch (f->kind) {
    case LAP_FIELD_INT:
    case LAP_FIELD_INT64:
        lap_sb_printf(b, "%lld", (long long)x);
        break;
    case LAP_FIELD_DOUBLE:
    case LAP_FIELD_FLOAT:
        if (!isfinite(x))   /* JSON has no inf or NaN */
            return lap_error("architecture: %s's '%s' is %g, which a checkpoint cannot hold", m->ops->type, f->name,
                             x);
        write_number(b, x, f->kind == LAP_FIELD_FLOAT);
        break;
    case LAP_FIELD_BOOL:
        lap_sb_str(b, x ? "true" : "false");
        break;
    case LAP_FIELD_ENUM: {
        int count = 0;
        while (f->names[count])
            count++;
        if (!(x >= 0 && x < count))
            return lap_error("architecture: %s's '%s' has no name for the value %g", m->ops->type, f->name, x);
        lap_sb_json_string(b, f->names[(int)x]);
        break;
    }
    }
    return LAP_OK;
}

/* {"type": ..., fields..., "frozen": ...} without the closing brace. */
static int write_config(lap_sbuf *b, const lap_module *m)
{
    lap_sb_str(b, "{\"type\":");
    lap_sb_json_string(b, m->ops->type);
    for (const lap_field *f = m->ops->fields; f && f->name; f++)
        if (write_field(b, m, f) != LAP_OK)
            return LAP_ERR;
    lap_sb_printf(b, ",\"frozen\":%s", m->frozen ? "true" : "false");
    return LAP_OK;
}

const char *lap_module_config(const lap_module *m, char *buf, size_t size)
{
    lap_sbuf b = {0};
    int status = write_config(&b, m);
    lap_sb_str(&b, "}");
    const char *result = NULL;
    if (status != LAP_OK)
        ;
    else if (b.failed)
        lap_error("out of memory");
    else if (b.len >= size)
        lap_error("checkpoint: configuration of %s does not fit in %zu bytes", m->ops->type, size);
    else
        result = memcpy(buf, b.data, b.len + 1);
    free(b.data);
    return result;
}

static int same_label(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* The slot of m's child i, or NULL. */
static const lap_child_slot *slot_of(const lap_module *m, int i)
{
    for (const lap_child_slot *s = m->ops->slots; s && s->key; s++)
        if (same_label(s->label, m->child_names[i]))
            return s;
    return NULL;
}

static int arch_write(lap_sbuf *b, const lap_module *m)
{
    if (write_config(b, m) != LAP_OK)
        return LAP_ERR;
    for (int i = 0; i < m->nchildren; i++)
        if (!slot_of(m, i))
            return lap_error("architecture: %s's child %d (%s) has no place in its architecture", m->ops->type, i + 1,
                             m->children[i]->ops->type);
    for (const lap_child_slot *s = m->ops->slots; s && s->key; s++) {
        int written = 0;
        for (int i = 0; i < m->nchildren; i++) {
            if (slot_of(m, i) != s)
                continue;
            if (written == 0)
                lap_sb_printf(b, s->many ? ",\"%s\":[" : ",\"%s\":", s->key);
            else
                lap_sb_str(b, ",");
            if (arch_write(b, m->children[i]) != LAP_OK)
                return LAP_ERR;
            written++;
        }
        if (s->many && written)
            lap_sb_str(b, "]");
        else if (s->many)
            lap_sb_printf(b, ",\"%s\":[]", s->key);
    }
    lap_sb_str(b, "}");
    return LAP_OK;
}

char *lap_module_architecture(const lap_module *m)
{
    lap_sbuf b = {0};
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

/* ------------------------------------------------------------------ reading */

#define MAX_FIELDS 32   /* per type */

/* Reads the fields of a node into values (one per field).  strict: an absent or
 * ill-typed field is an error naming the type and the field; else it reads as 0
 * (the size estimate before building, which the build then reports). */
static int read_fields(const lap_json *node, const lap_module_ops *ops, double *values, int strict)
{
    const char *type = ops->type;
    int k = 0;
    for (const lap_field *f = ops->fields; f && f->name; f++, k++) {
        if (k == MAX_FIELDS)
            return lap_error("architecture: %s has more than %d fields", type, MAX_FIELDS);
        const lap_json *v = lap_json_get(node, f->name);
        values[k] = 0;
        if (f->kind == LAP_FIELD_BOOL) {
            if (!v)
                values[k] = f->fallback;
            else if (v->type == LAP_JSON_BOOL)
                values[k] = v->boolean;
            else if (strict)
                return lap_error("architecture: %s's '%s' is not a boolean", type, f->name);
            continue;
        }
        if (f->kind == LAP_FIELD_ENUM) {
            int found = -1;
            for (int i = 0; v && v->type == LAP_JSON_STR && f->names[i]; i++)
                if (strcmp(v->str, f->names[i]) == 0)
                    found = i;
            if (found < 0 && strict) {
                char choices[200] = "";
                for (int i = 0; f->names[i]; i++)
                    snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s\"%s\"",
                             i == 0 ? "" : f->names[i + 1] ? ", " : " or ", f->names[i]);
                return lap_error("architecture: %s's %s must be %s", type, f->name, choices);
            }
            values[k] = found < 0 ? 0 : found;
            continue;
        }
        if (!v || v->type != LAP_JSON_NUM) {
            if (strict)
                return lap_error("architecture: %s needs a number '%s'", type, f->name);
            continue;
        }
        double x = v->num;
        if (f->kind == LAP_FIELD_INT || f->kind == LAP_FIELD_INT64) {
            /* range first: a cast of 2e19 is undefined */
            if (!(x >= -1e15 && x <= 1e15) || x != floor(x)) {
                if (strict)
                    return lap_error("architecture: %s's '%s' is not an integer", type, f->name);
                continue;
            }
            /* An int option out of int's range is an error, not a truncation
             * (padding 2^32 + 1 is not padding 1). */
            if (f->kind == LAP_FIELD_INT && (x < INT_MIN || x > INT_MAX)) {
                if (strict)
                    return lap_error("architecture: %s's '%s' is %lld, out of the range of an int", type, f->name,
                                     (long long)x);
                continue;
            }
        }
        if (f->kind == LAP_FIELD_FLOAT && isfinite(x) && !isfinite((float)x)) {
            if (strict)
                return lap_error("architecture: %s's '%s' is %g, out of the range of a float", type, f->name, x);
            continue;
        }
        values[k] = x;
    }
    return LAP_OK;
}

static const lap_module_type *node_type(const lap_json *node)
{
    const lap_json *tv = lap_json_get(node, "type");
    if (!tv || tv->type != LAP_JSON_STR) {
        lap_error("architecture: a module without a \"type\"");
        return NULL;
    }
    const lap_module_type *t = lap_module_type_find(tv->str);
    if (!t)
        lap_error("architecture: unknown module type '%s'", tv->str);
    return t;
}

static lap_module *arch_build(const lap_json *node, int depth);

/* The children of node, slot by slot, into a growing list (retained). */
static int build_children(const lap_json *node, const lap_module_ops *ops, int depth, lap_module ***children,
                          const char ***labels, int *count)
{
    for (const lap_child_slot *s = ops->slots; s && s->key; s++) {
        const lap_json *v = lap_json_get(node, s->key);
        if (!v && !s->many)
            continue;
        if (s->many && (!v || v->type != LAP_JSON_ARR))
            return lap_error("architecture: %s needs an array '%s'", ops->type, s->key);
        int n = s->many ? v->n : 1;
        lap_module **more = realloc(*children, sizeof *more * (size_t)(*count + n + 1));
        if (more)
            *children = more;
        const char **more_labels = realloc(*labels, sizeof *more_labels * (size_t)(*count + n + 1));
        if (more_labels)
            *labels = more_labels;
        if (!more || !more_labels)
            return lap_error("out of memory");
        for (int i = 0; i < n; i++) {
            lap_module *child = arch_build(s->many ? &v->items[i] : v, depth + 1);
            if (!child)
                return LAP_ERR;
            (*children)[*count] = child;
            (*labels)[*count] = s->label;
            (*count)++;
        }
    }
    return LAP_OK;
}

static lap_module *arch_build(const lap_json *node, int depth)
{
    if (depth > LAP_JSON_MAX_DEPTH) {
        lap_error("architecture: nested too deeply");
        return NULL;
    }
    const lap_module_type *t = node_type(node);
    if (!t)
        return NULL;
    double values[MAX_FIELDS];
    if (read_fields(node, t->ops, values, 1) != LAP_OK)
        return NULL;
    lap_module **children = NULL, *m = NULL;
    const char **labels = NULL;
    int count = 0;
    if (build_children(node, t->ops, depth, &children, &labels, &count) == LAP_OK) {
        lap_config config = {values, children, labels, count};
        m = t->from_config(&config);
    }
    for (int i = 0; i < count; i++)
        lap_module_release(children[i]);
    free(children);
    free(labels);
    if (!m)
        return NULL;
    const lap_json *frozen = lap_json_get(node, "frozen");
    if (frozen && frozen->type != LAP_JSON_BOOL) {
        lap_error("architecture: %s's 'frozen' is not a boolean", t->name);
        lap_module_release(m);
        return NULL;
    }
    m->frozen = frozen ? frozen->boolean : 0;
    return m;
}

/* The floats of the parameters and buffers the architecture describes, counted
 * from the JSON alone, before anything is allocated. */
static double arch_floats(const lap_json *node, int depth)
{
    const lap_json *tv = lap_json_get(node, "type");
    const lap_module_type *t = tv && tv->type == LAP_JSON_STR ? lap_module_type_find(tv->str) : NULL;
    if (depth > LAP_JSON_MAX_DEPTH || !t)
        return 0;
    double total = 0, values[MAX_FIELDS];
    if (t->ops->config_floats) {
        if (read_fields(node, t->ops, values, 0) != LAP_OK)
            return 0;
        int k = 0;
        for (const lap_field *f = t->ops->fields; f && f->name; f++, k++)
            if (f->kind != LAP_FIELD_BOOL && !(values[k] > 0))
                values[k] = 0;   /* sizes: not positive is refused by the constructor */
        total += t->ops->config_floats(values);
    }
    for (const lap_child_slot *s = t->ops->slots; s && s->key; s++) {
        const lap_json *v = lap_json_get(node, s->key);
        if (v && s->many && v->type == LAP_JSON_ARR)
            for (int k = 0; k < v->n; k++)
                total += arch_floats(&v->items[k], depth + 1);
        else if (v && !s->many)
            total += arch_floats(v, depth + 1);
    }
    return total;
}

/* With max_floats < 0, no budget. */
lap_module *lap_module_from_architecture_within(const char *json, double max_floats)
{
    lap_json root;
    char err[200];
    if (lap_json_parse(json, strlen(json), &root, err, sizeof err) != 0) {
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
    lap_json_free(&root);
    return m;
}

lap_module *lap_module_from_architecture(const char *json) { return lap_module_from_architecture_within(json, -1); }
