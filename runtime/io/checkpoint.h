/* checkpoint.h: network checkpoints and trainer checkpoints, in safetensors files
 * (safetensors.h).
 *
 * Network checkpoints name tensors hierarchically, by each module type's child
 * slots (nn/registry.h): a ResNet's children are "encoder", "block.<k>" (k from 1)
 * and "classifier", a Sequential's are "1".."n", and each leaf adds its parameter
 * names ("weight", "bias") and its buffer names (BatchNorm's "running_mean" /
 * "running_var"): "block.3.2.running_mean".  The architecture is the JSON text in
 * __metadata__["lap.architecture"] (arch.h).  Trainer checkpoints add
 * "optimizer.state1.<i>" / "optimizer.state2.<i>" (i from 1, the optimizer's
 * parameter order) and "lap.trainer.*", "lap.optimizer.*" and "lap.rng.*" metadata.
 */
#ifndef LAP_CHECKPOINT_H
#define LAP_CHECKPOINT_H

#include "core/tensor.h"
#include "io/arch.h"
#include "io/safetensors.h"
#include "nn/module.h"

struct lap_trainer;

/* ---- networks ---- */
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
