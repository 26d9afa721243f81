/* checkpoint.h: safetensors files, network checkpoints and trainer checkpoints.
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
 *
 * Network checkpoints name tensors hierarchically: a ResNet's children are
 * "encoder", "block.<k>" (k from 1) and "classifier", a Sequential's are "1".."n",
 * and each leaf adds its parameter name ("weight", "bias") and, for BatchNorm,
 * "running_mean" / "running_var": "block.3.2.running_mean".  The architecture is
 * the JSON text in __metadata__["lap.architecture"] (see lap_module_architecture).
 * Trainer checkpoints add "optimizer.state1.<i>" / "optimizer.state2.<i>" (i from 1,
 * the optimizer's parameter order) and "lap.trainer.*", "lap.optimizer.*" and
 * "lap.rng.*" metadata.
 */
#ifndef LAP_CHECKPOINT_H
#define LAP_CHECKPOINT_H

#include "nn/module.h"
#include "core/tensor.h"

struct lap_trainer;

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

/* ---- networks ---- */
/* The architecture of a module tree as JSON text (malloc'ed; the caller frees it). */
char *lap_module_architecture(const lap_module *m);
/* Rebuilds a module tree from lap_module_architecture's text. */
lap_module *lap_module_from_architecture(const char *json);
/* The same, refusing before allocating anything an architecture whose parameters and
 * BatchNorm statistics need more than max_floats floats (lap.nn.load passes the size
 * of the file's tensors; the fuzz target a fixed budget). */
lap_module *lap_module_from_architecture_within(const char *json, double max_floats);
/* Saves parameters, BatchNorm running statistics and the architecture. */
int lap_module_save(lap_module *m, const char *path);
/* Loads the weights of a file into m: every tensor of m must be in the file with
 * the same shape, and every network tensor of the file must exist in m.  Nothing
 * is changed when an error is reported. */
int lap_module_load_weights(lap_module *m, const char *path);
/* Rebuilds the network of a checkpoint (architecture, weights, frozen flags). */
lap_module *lap_module_load(const char *path);

/* ---- trainers ---- */
/* Saves the network, the optimizer state (buffers, steps, lr, epoch), lambda, the
 * iteration counter and the trainer's generator. */
int lap_trainer_save(struct lap_trainer *t, const char *path);
/* Restores all of it into a trainer built the same way (same kind, optimizer kind,
 * network architecture).  Nothing is changed when an error is reported. */
int lap_trainer_load(struct lap_trainer *t, const char *path);

#endif
