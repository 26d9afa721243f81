/* safetensors.h: safetensors files, read and written.
 *
 * File format (https://github.com/huggingface/safetensors):
 *   8 bytes     N, the header length, unsigned little-endian
 *   N bytes     a JSON object: for each tensor
 *                 "name": {"dtype": "F32", "shape": [d1, ...], "data_offsets": [begin, end]}
 *               and optionally "__metadata__": {"key": "value", ...} (strings only);
 *               padded with spaces to a multiple of 8 bytes
 *   the rest    the byte buffer: float32 little-endian, each tensor at
 *               [begin, end) relative to the start of the buffer
 * Reading validates everything: header length against the file size, strict JSON
 * syntax (no duplicate keys), dtype F32 only, shape product * 4 == end - begin,
 * offsets inside the buffer, and the tensors covering the buffer exactly, without
 * overlaps or holes.  Writing is atomic ("<path>.tmp.<pid>", fsync, rename).
 * Names and metadata keys are found through a hash index (a header of 64 000
 * tensors is not a quadratic search).
 */
#ifndef LAP_SAFETENSORS_H
#define LAP_SAFETENSORS_H

#include "core/tensor.h"

typedef struct lap_safetensors lap_safetensors;

lap_safetensors *lap_safetensors_new(void);
void lap_safetensors_free(lap_safetensors *st);   /* NULL-safe */
/* Adds a named tensor (retained).  Names must be unique and non-empty. */
int lap_safetensors_add(lap_safetensors *st, const char *name, lap_tensor *t);
/* Sets a metadata entry (copied; replaces an existing key). */
int lap_safetensors_set_meta(lap_safetensors *st, const char *key, const char *value);
/* Atomic write. */
int lap_safetensors_write(const lap_safetensors *st, const char *path);
/* Reads and validates a file; NULL with lap_error naming the file on any problem. */
lap_safetensors *lap_safetensors_read(const char *path);

int lap_safetensors_count(const lap_safetensors *st);
const char *lap_safetensors_name(const lap_safetensors *st, int i);
lap_tensor *lap_safetensors_tensor(const lap_safetensors *st, int i);
lap_tensor *lap_safetensors_get(const lap_safetensors *st, const char *name);   /* NULL if absent */
const char *lap_safetensors_meta(const lap_safetensors *st, const char *key);   /* NULL if absent */

#endif
