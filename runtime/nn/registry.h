/* registry.h: the table of module types (registry.c), like Lua's linit.c.
 *
 * Everything the program knows of a module type beyond forward and backward is in
 * its ops (module.h: configuration fields, child slots, buffers, its own
 * initialization) and in its entry here: the checkpoint loader, lap.init, the Lua
 * bindings and the help walk this table and the ops, and none of them names a
 * layer.  Adding a layer is: its file (ops with fields, a constructor, a
 * from_config), its entry in registry.c's table, its test.
 */
#ifndef LAP_REGISTRY_H
#define LAP_REGISTRY_H

#include "nn/module.h"

/* A configuration read back from an architecture, for a type's from_config. */
typedef struct lap_config {
    const double *values;          /* one per field of ops->fields, in order: numbers, bools 0/1,
                                      enums as the index of their name */
    lap_module *const *children;   /* built children, slot by slot in the order of ops->slots */
    const char *const *labels;     /* each child's slot label (NULL: unlabelled) */
    int nchildren;
} lap_config;

typedef struct lap_module_type {
    const char *name;                                    /* = ops->type */
    const lap_module_ops *ops;
    lap_module *(*from_config)(const lap_config *config);   /* NULL with lap_error when it refuses */
} lap_module_type;

int lap_module_type_count(void);
const lap_module_type *lap_module_type_at(int i);               /* 0 <= i < count */
const lap_module_type *lap_module_type_find(const char *name);  /* NULL: no such type */

/* A field's value in m, as a double (bools 0/1, enums their index). */
double lap_field_value(const lap_module *m, const lap_field *field);

#endif
