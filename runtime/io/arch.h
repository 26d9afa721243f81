/* arch.h: a module tree's architecture as JSON text, and back.
 *
 * The architecture is what a checkpoint needs to rebuild a network without the
 * script that built it: each module's type, its configuration and its frozen flag,
 * and its children, e.g.
 *   {"type":"Sequential","frozen":false,"children":[
 *     {"type":"Linear","in":2,"out":3,"bias":true,"frozen":false}, ...]}
 * Numbers are written so that they read back exactly (a BatchNorm's eps of
 * 0.123456789 is 0.123456789 after a load), enums as names.
 */
#ifndef LAP_ARCH_H
#define LAP_ARCH_H

#include <stddef.h>

#include "nn/module.h"

/* The architecture of a module tree as JSON text (malloc'ed; the caller frees it). */
char *lap_module_architecture(const lap_module *m);
/* Rebuilds a module tree from lap_module_architecture's text. */
lap_module *lap_module_from_architecture(const char *json);
/* The same, refusing before allocating anything an architecture whose parameters and
 * BatchNorm statistics need more than max_floats floats (lap.nn.load passes the size
 * of the file's tensors; the fuzz target a fixed budget). */
lap_module *lap_module_from_architecture_within(const char *json, double max_floats);
/* A module's own configuration (not its children) as a JSON object, e.g.
 * {"type": "Linear", "in": 2, "out": 3, "bias": true, "frozen": false}, into buf;
 * returns buf, or NULL (lap_error) for an unknown type or a too small buffer. */
const char *lap_module_config(const lap_module *m, char *buf, size_t size);

#endif
