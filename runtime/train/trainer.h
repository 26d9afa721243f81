/* trainer.h: the plain, fixed-lambda and LAP (Uzawa) trainers.
 *
 * Loss of a step, with CE the batch cross-entropy and C the transport cost:
 *   PLAIN                   CE
 *   FIXED                   CE + lambda * C
 *   LAP_COST_OVER_LAMBDA    CE + C / lambda; every `steps` optimizer steps, before the
 *                           step, lambda += tau * CE(current batch)
 *                           (skander-karkar/LAP main.py; Lua rule = "main")
 *   LAP_LAMBDA_TIMES_CE     lambda * CE + C; every `steps` steps, after the optimizer
 *                           step, CE is recomputed on the same batch (train mode) and
 *                           lambda += tau * CE  (internship cloud4.py; rule = "cloud4")
 * The step counter counts optimizer steps since the trainer was created (1-based,
 * like the reference's `it`).  Batches: in order or shuffled by the trainer's own
 * generator; the last batch may be smaller (DataLoader, drop_last=False).
 *
 * Distributed (data-parallel over the P ranks of an MPI job, dist.h; a trainer made
 * distributed in a single process trains as before).  Every rank holds the same
 * data, trainer seed and network; a batch is the global batch of B rows, rank r
 * computes rows floor(r B / P) .. floor((r + 1) B / P) (the last rank up to B).
 * Parameters and BatchNorm statistics are broadcast from rank 0 when the trainer
 * becomes distributed.  Each step:
 *   - forward on the rank's rows; the CE gradient is scaled by n_r / B, so the
 *     rank's share is its part of the gradient of the global batch's mean CE;
 *   - one small MPI_Allreduce (doubles) of the CE sum, the hits and the blocks'
 *     transport sums: CE, accuracy and the transport cost are the global batch's,
 *     so lambda (both LAP rules) is the same on every rank;
 *   - the transport cost is the global batch's in both forms: the mean form's
 *     weight is scaled by n_r / B (its gradient is a sum over rows); the Frobenius
 *     form's gradient w v / ||v_k|| uses the norm over the global batch (the
 *     reduced sums of squares), not the rank's own;
 *   - backward, then ONE MPI_Allreduce (sum) over the optimizer's flat gradient
 *     storage (a call per parameter when the parameters are not gathered), then
 *     the optimizer step, identical on every rank.
 * Without BatchNorm this is single-process training on the same global batches,
 * within float rounding (the order of the sums differs).  BatchNorm uses each
 * rank's own batch statistics unless sync_bn (then the statistics of the global
 * batch, two reductions per BatchNorm forward and one per backward).  A rank
 * with no rows (B < P) contributes zeros; with sync_bn that is an error.
 */
#ifndef LAP_TRAINER_H
#define LAP_TRAINER_H

#include "train/dataset.h"
#include "train/optim.h"
#include "nn/resnet.h"
#include "core/rng.h"

typedef enum {
    LAP_TRAIN_PLAIN,
    LAP_TRAIN_FIXED,
    LAP_TRAIN_LAP_COST_OVER_LAMBDA,
    LAP_TRAIN_LAP_LAMBDA_TIMES_CE
} lap_trainer_kind;   /* checkpoints save them by name (io/checkpoint.c) */

typedef struct lap_step_stats {
    double loss;        /* the minimized loss */
    double ce;          /* cross-entropy */
    double transport;   /* C */
    int64_t correct, count;
} lap_step_stats;

typedef struct lap_epoch_stats {
    double loss, ce, transport;   /* means over samples (weighted by batch size) */
    double accuracy;              /* training accuracy of the train-mode outputs */
    double lambda;                /* lambda at the end of the epoch */
    int64_t steps, count;
} lap_epoch_stats;

typedef struct lap_eval_stats {
    double accuracy, ce;
    double transport;             /* sum of block costs, form of the net, whole set */
    double energy;                /* sum_k mean_x ||v_k(x)||^2: the paper's C / N */
    int nblocks;
    double *block_cost;           /* nblocks, owned by the caller's struct: lap_eval_stats_free */
    double *block_energy;
    int64_t count;
} lap_eval_stats;

typedef struct lap_trainer {
    lap_trainer_kind kind;
    lap_module *net;              /* retained */
    lap_optimizer *optimizer;     /* retained */
    double lambda, tau;
    int steps;                    /* s */
    int64_t iteration;            /* optimizer steps taken */
    lap_rng rng;                  /* batch shuffling */
    int64_t *order;
    int64_t order_capacity;
    lap_tensor *batch_x, *grad_logits;
    int32_t *batch_y;
    int64_t batch_capacity;
    int distributed, sync_bn;     /* lap_trainer_distribute */
    double *reduce;               /* scratch for the per-step statistics reduction */
    int reduce_capacity;
    float *saved_statistics;      /* BatchNorm running statistics from before the current step */
    size_t saved_capacity;
    lap_tensor **statistics;      /* the net's running statistics (not retained: the net holds them), */
    int nstatistics, statistics_capacity;
    uint64_t statistics_generation;   /* ... listed at this lap_module_structure_generation */
    lap_tensor *flat_statistics;  /* the same gathered into one storage (lap_tensor_gather), or NULL */
    uint64_t statistics_layout;   /* lap_tensor_layout_generation at which they were seen gathered */
    int statistics_gathered;
    uint64_t train_mode_generation, train_mode_structure;   /* net set to train mode at these generations */
    int refcount;
} lap_trainer;

lap_trainer *lap_trainer_new(lap_trainer_kind kind, lap_module *net, lap_optimizer *optimizer,
                             double lambda, double tau, int steps, uint32_t seed);
/* Makes t data-parallel over the ranks (see above): broadcasts the network's
 * parameters and BatchNorm statistics from rank 0. */
int lap_trainer_distribute(lap_trainer *t, int sync_bn);
/* The constructor's rule for lambda (finite; > 0 for LAP, >= 0 for a fixed weight),
 * also applied to one read from a checkpoint. */
int lap_trainer_lambda_ok(lap_trainer_kind kind, double lambda);
/* One optimizer step on a batch x (N, ...) with labels y (distributed: the global
 * batch, the same on every rank; each takes its rows).  A cross-entropy, transport
 * cost, lambda or loss that is not finite stops it with an error naming the epoch,
 * the step and the quantity, before the optimizer step: weights, optimizer state,
 * lambda and BatchNorm running statistics stay as they were before the step. */
int lap_trainer_step(lap_trainer *t, lap_tensor *x, const int32_t *y, lap_step_stats *stats);
/* One pass over d in batches of `batch`. */
int lap_trainer_epoch(lap_trainer *t, const lap_dataset *d, int64_t batch, int shuffle,
                      lap_epoch_stats *stats);
lap_trainer *lap_trainer_retain(lap_trainer *t);
void lap_trainer_release(lap_trainer *t);

/* The chunk evaluation uses when given none (chunk < 1): large enough that the
 * per-batch costs (thread start-ups, weight transforms) vanish, small enough that
 * an activation of the chunk stays in the last-level cache for the passes between
 * convolutions (BatchNorm, the ResNet's sums): measured on the MNIST ResNet9, 200-320
 * took 10 % less time than 1000, whose 25 MB activations went to memory. */
#define LAP_EVAL_BATCH 256

/* Eval-mode pass over d in chunks of `chunk` rows, by inference (lap_module_infer:
 * nothing kept for a backward pass; the train/eval mode is restored afterwards).
 * distributed: each rank evaluates its contiguous share of d (rows as a batch's
 * above) with rank 0's BatchNorm running statistics (broadcast first, as
 * PyTorch's DistributedDataParallel does), and the sums are reduced: every rank
 * gets the whole set's numbers. */
int lap_evaluate(lap_module *net, const lap_dataset *d, int64_t chunk, int distributed, lap_eval_stats *stats);
void lap_eval_stats_free(lap_eval_stats *stats);

#endif
