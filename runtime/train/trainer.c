/* trainer.c: training steps, epochs and evaluation for the plain, fixed-lambda and
 * LAP trainers (see trainer.h for the rules).  Buffers for batches and logit
 * gradients live in the trainer and are reused, so an epoch allocates nothing. */
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/error.h"
#include "train/cross_entropy.h"

static const char *trainer_name(lap_trainer_kind kind)
{
    switch (kind) {
    case LAP_TRAIN_PLAIN: return "train.Plain";
    case LAP_TRAIN_FIXED: return "train.Regularized";
    default: return "train.LAP";
    }
}

int lap_trainer_lambda_ok(lap_trainer_kind kind, double lambda)
{
    if (kind == LAP_TRAIN_LAP_COST_OVER_LAMBDA || kind == LAP_TRAIN_LAP_LAMBDA_TIMES_CE)
        return lambda > 0 && isfinite(lambda);
    if (kind == LAP_TRAIN_FIXED)
        return lambda >= 0 && isfinite(lambda);
    return isfinite(lambda);
}

lap_trainer *lap_trainer_new(lap_trainer_kind kind, lap_module *net, lap_optimizer *optimizer, double lambda,
                             double tau, int steps, uint32_t seed)
{
    const char *name = trainer_name(kind);
    if (!net || !optimizer) {
        lap_error("%s: needs a net and an optimizer", name);
        return NULL;
    }
    if (kind != LAP_TRAIN_PLAIN && !lap_as_resnet(net)) {
        lap_error("%s: the transport cost needs a ResNet, got a %s", name, net->ops->type);
        return NULL;
    }
    if ((kind == LAP_TRAIN_LAP_COST_OVER_LAMBDA || kind == LAP_TRAIN_LAP_LAMBDA_TIMES_CE) &&
        (steps < 1 || !lap_trainer_lambda_ok(kind, lambda) || !(tau >= 0 && isfinite(tau)))) {
        lap_error("%s: needs steps >= 1, finite lambda0 > 0 and finite tau >= 0, got steps %d, lambda0 %g, tau %g", name, steps,
                  lambda, tau);
        return NULL;
    }
    if (kind == LAP_TRAIN_FIXED && !lap_trainer_lambda_ok(kind, lambda)) {
        lap_error("%s: lambda must be finite and >= 0, got %g", name, lambda);
        return NULL;
    }
    lap_trainer *t = lap_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->kind = kind;
    t->net = lap_module_retain(net);
    t->optimizer = lap_optimizer_retain(optimizer);
    t->lambda = lambda;
    t->tau = tau;
    t->steps = steps;
    t->refcount = 1;
    lap_rng_seed(&t->rng, seed);
    if (lap_optimizer_bind(optimizer, net) != LAP_OK) {
        lap_trainer_release(t);
        return NULL;
    }
    return t;
}

/* Forward in train mode and cross-entropy of the logits; grad (nullable) gets
 * grad_scale * dCE/dlogits. */
static int forward_loss(lap_trainer *t, lap_tensor *x, const int32_t *y, double *ce, int64_t *correct, int want_grad,
                        double grad_scale)
{
    char shape[LAP_SHAPE_BUF];
    if (lap_module_forward(t->net, x) != LAP_OK)
        return LAP_ERR;
    lap_tensor *logits = t->net->output;
    if (logits->ndim != 2)
        return lap_error("%s: the network's output of shape %s should be (batch, classes)", trainer_name(t->kind),
                         lap_shape_str(logits, shape, sizeof shape));
    if (want_grad && lap_tensor_ensure_like(&t->grad_logits, logits) != LAP_OK)
        return LAP_ERR;
    return lap_cross_entropy(ce, want_grad ? lap_data(t->grad_logits) : NULL, correct, lap_data(logits), y,
                             logits->shape[0], logits->shape[1], grad_scale);
}

/* Whether t trains over several ranks. */
static int spread(const lap_trainer *t)
{
    return t->distributed && lap_dist_size() > 1;
}

/* This rank's rows [*lo, *hi) of a global batch of `total` rows. */
static void share_of(int64_t total, int64_t *lo, int64_t *hi)
{
    int64_t ranks = lap_dist_size(), rank = lap_dist_rank();
    *lo = total * rank / ranks;
    *hi = rank == ranks - 1 ? total : total * (rank + 1) / ranks;
}

static double *reduce_buffer(lap_trainer *t, int count)
{
    if (count > t->reduce_capacity) {
        double *buffer = realloc(t->reduce, sizeof *buffer * (size_t)count);
        if (!buffer) {
            lap_error("out of memory");
            return NULL;
        }
        t->reduce = buffer;
        t->reduce_capacity = count;
    }
    return t->reduce;
}

/* Distributed: the global batch's CE (mean), hits and transport cost from each
 * rank's (count rows of total), written back into *ce, *correct and the ResNet's
 * block costs. */
static int reduce_statistics(lap_trainer *t, lap_resnet *resnet, int64_t count, int64_t total, double *ce,
                             int64_t *correct)
{
    int nblocks = resnet ? resnet->nblocks : 0;
    double *sums = reduce_buffer(t, 2 + nblocks);
    if (!sums)
        return LAP_ERR;
    int frobenius = resnet && resnet->transport.form == LAP_TRANSPORT_FROBENIUS;
    sums[0] = *ce * (double)count;
    sums[1] = (double)*correct;
    for (int k = 0; k < nblocks; k++) {
        double cost = count > 0 ? resnet->block_cost[k] : 0.0;
        /* Frobenius: the sum of squares; mean: the sum of |v|^p over the rows times
         * 1 / (features), the same on every rank. */
        sums[2 + k] = frobenius ? cost * cost : cost * (double)count;
    }
    if (lap_dist_allreduce_double(sums, 2 + nblocks) != LAP_OK)
        return LAP_ERR;
    *ce = sums[0] / (double)total;
    *correct = (int64_t)llround(sums[1]);
    if (resnet) {
        resnet->transport_cost = 0;
        for (int k = 0; k < nblocks; k++) {
            resnet->block_cost[k] = frobenius ? sqrt(sums[2 + k]) : sums[2 + k] / (double)total;
            resnet->transport_cost += resnet->block_cost[k];
        }
    }
    return LAP_OK;
}

/* The forward pass of a step updates BatchNorm running statistics; a step that
 * stops before the optimizer step puts them back.  The list of the net's running
 * statistics is made once (walking a 100-block network at every step cost 15 % of
 * its time) and again when a module was added anywhere. */
static int list_statistics(lap_module *m, void *context)
{
    lap_trainer *t = context;
    lap_tensor *pair[2] = {lap_batchnorm_running_mean(m), lap_batchnorm_running_var(m)};
    for (int i = 0; i < 2 && pair[i]; i++) {
        if (t->nstatistics == t->statistics_capacity) {
            int capacity = 2 * t->statistics_capacity + 8;
            lap_tensor **grown = realloc(t->statistics, sizeof *grown * (size_t)capacity);
            if (!grown)
                return lap_error("out of memory");
            t->statistics = grown;
            t->statistics_capacity = capacity;
        }
        t->statistics[t->nstatistics++] = pair[i];
    }
    return LAP_OK;
}

/* Saves (restore 0) or restores every running mean and variance of the net. */
static int copy_statistics(lap_trainer *t, int restore)
{
    uint64_t generation = lap_module_structure_generation();
    if (!restore && t->statistics_generation != generation) {   /* generations start at 1 */
        t->nstatistics = 0;
        t->statistics_generation = 0;
        if (lap_module_visit(t->net, list_statistics, t) != LAP_OK)
            return LAP_ERR;
        t->statistics_generation = generation;
        size_t total = 0;
        for (int i = 0; i < t->nstatistics; i++)
            total += (size_t)lap_numel(t->statistics[i]);
        if (total > t->saved_capacity) {
            float *grown = realloc(t->saved_statistics, total * sizeof *grown);
            if (!grown)
                return lap_error("out of memory");
            t->saved_statistics = grown;
            t->saved_capacity = total;
        }
        /* One storage for all of them, so that a step saves them with one copy (a copy
         * per 2-float tensor of a 100-block network cost 3-4 % of its step). */
        lap_tensor_release(t->flat_statistics);
        t->flat_statistics = t->nstatistics > 0 ? lap_tensor_gather(t->statistics, t->nstatistics) : NULL;
        t->statistics_layout = 0;
    }
    if (t->flat_statistics && t->statistics_layout != lap_tensor_layout_generation()) {
        t->statistics_layout = lap_tensor_layout_generation();
        t->statistics_gathered = lap_tensor_gathered(t->statistics, t->nstatistics, t->flat_statistics);
    }
    if (t->flat_statistics && t->statistics_gathered) {
        size_t bytes = (size_t)lap_numel(t->flat_statistics) * sizeof(float);
        if (restore)
            memcpy(lap_data(t->flat_statistics), t->saved_statistics, bytes);
        else
            memcpy(t->saved_statistics, lap_data(t->flat_statistics), bytes);
        return LAP_OK;
    }
    size_t at = 0;
    for (int i = 0; i < t->nstatistics; i++) {
        size_t count = (size_t)lap_numel(t->statistics[i]);
        if (restore)
            memcpy(lap_data(t->statistics[i]), t->saved_statistics + at, count * sizeof(float));
        else
            memcpy(t->saved_statistics + at, lap_data(t->statistics[i]), count * sizeof(float));
        at += count;
    }
    return LAP_OK;
}

static int save_statistics(lap_trainer *t)
{
    return copy_statistics(t, 0);
}

static int restore_statistics(lap_trainer *t)
{
    copy_statistics(t, 1);
    return LAP_ERR;
}

/* The first quantity of a step that is not finite (or not a valid lambda), or NULL. */
static const char *non_finite(const lap_trainer *t, double ce, double transport, double lambda, double loss,
                              double *value)
{
    const char *name = NULL;
    if (!isfinite(ce))
        name = "cross-entropy", *value = ce;
    else if (!isfinite(transport))
        name = "transport cost", *value = transport;
    else if (!lap_trainer_lambda_ok(t->kind, lambda))
        name = "lambda", *value = lambda;
    else if (!isfinite(loss))
        name = "loss", *value = loss;
    if (name && isnan(*value))
        *value = fabs(*value);   /* "nan", not "-nan" */
    return name;
}

/* Distributed: the gradients summed over the ranks (each rank's are already
 * weighted by its share), in one call over the optimizer's flat storage. */
static int reduce_gradients(lap_trainer *t)
{
    lap_optimizer *o = t->optimizer;
    lap_tensor *flat = lap_optimizer_flat_grads(o);
    if (flat)
        return lap_dist_allreduce_float(lap_data(flat), lap_numel(flat));
    for (int i = 0; i < o->nparams; i++)
        if (lap_dist_allreduce_float(lap_data(o->grads[i]), lap_numel(o->grads[i])) != LAP_OK)
            return LAP_ERR;
    return LAP_OK;
}

/* One step on count rows x, y (this rank's share of a global batch of total rows;
 * x may be NULL when count is 0). */
static int train_step(lap_trainer *t, lap_tensor *x, const int32_t *y, int64_t count, int64_t total,
                      lap_step_stats *stats)
{
    lap_resnet *resnet = lap_as_resnet(t->net);
    int distributed = spread(t);
    int64_t iteration = t->iteration + 1;
    int uzawa_now = t->steps > 0 && iteration % t->steps == 0;
    double share = distributed ? (double)count / (double)total : 1.0;
    double ce = 0;
    int64_t correct = 0;
    if (distributed && t->sync_bn && total < lap_dist_size())
        return lap_error("%s: sync_bn needs a row per rank, but a batch has %lld rows for %d ranks",
                         trainer_name(t->kind), (long long)total, lap_dist_size());
    /* Walking a 100-block network to set a mode it is already in cost 2-5 % of a step. */
    if (t->train_mode_generation != lap_module_mode_generation() ||
        t->train_mode_structure != lap_module_structure_generation() || !t->net->training) {
        lap_module_train(t->net, 1);
        t->train_mode_generation = lap_module_mode_generation();
        t->train_mode_structure = lap_module_structure_generation();
    }
    lap_dist_set_sync_batchnorm(distributed && t->sync_bn);
    int status = LAP_ERR;
    if (save_statistics(t) != LAP_OK)
        goto done;
    if (count > 0 && forward_loss(t, x, y, &ce, &correct, 1, share) != LAP_OK)
        goto restore;
    if (distributed && reduce_statistics(t, resnet, count, total, &ce, &correct) != LAP_OK)
        goto restore;
    double ce_weight = 1.0, transport_weight = 0.0, lambda = t->lambda;
    switch (t->kind) {
    case LAP_TRAIN_PLAIN:
        break;
    case LAP_TRAIN_FIXED:
        transport_weight = lambda;
        break;
    case LAP_TRAIN_LAP_COST_OVER_LAMBDA:
        if (uzawa_now)
            lambda += t->tau * ce;
        transport_weight = 1.0 / lambda;
        break;
    case LAP_TRAIN_LAP_LAMBDA_TIMES_CE:
        ce_weight = lambda;
        transport_weight = 1.0;
        break;
    }
    double transport = resnet ? resnet->transport_cost : 0.0;
    double value = 0;
    const char *bad = non_finite(t, ce, transport, lambda, ce_weight * ce + transport_weight * transport, &value);
    if (bad) {
        lap_error("%s: epoch %d, step %lld: the %s is %g (a NaN or an infinity in the batch, or a diverging "
                  "run); the step was not taken: weights, lambda and statistics are those from before it",
                  trainer_name(t->kind), t->optimizer->epoch + 1, (long long)iteration, bad, value);
        goto restore;
    }
    lap_optimizer_zero_net_grads(t->optimizer, t->net);
    if (count > 0) {
        if (ce_weight != 1.0)
            lap_scale(lap_data(t->grad_logits), (float)ce_weight, lap_numel(t->grad_logits));
        /* The mean form's gradient is a sum over rows divided by this rank's count:
         * weighted by the share it is the global batch's. */
        if (resnet)
            resnet->transport_weight =
                resnet->transport.form == LAP_TRANSPORT_MEAN ? transport_weight * share : transport_weight;
        int backward = lap_module_backward(t->net, t->grad_logits);
        if (resnet)
            resnet->transport_weight = 0.0;
        if (backward != LAP_OK)
            goto restore;
        lap_module_drop_grad_input(t->net);   /* the data's gradient is not needed */
    }
    if (distributed && reduce_gradients(t) != LAP_OK)
        goto restore;
    t->lambda = lambda;
    lap_optimizer_step(t->optimizer);
    t->iteration = iteration;
    if (stats) {
        stats->loss = ce_weight * ce + transport_weight * transport;
        stats->ce = ce;
        stats->transport = transport;
        stats->correct = correct;
        stats->count = total;
    }
    if (t->kind == LAP_TRAIN_LAP_LAMBDA_TIMES_CE && uzawa_now) {
        /* cloud4.py recomputes the loss on the same batch after the step, in train
         * mode (so BatchNorm's running statistics see this batch once more). */
        double ce_after = 0;
        if (count > 0 && forward_loss(t, x, y, &ce_after, NULL, 0, 1.0) != LAP_OK)
            goto done;
        if (distributed) {
            double sum = ce_after * (double)count;
            if (lap_dist_allreduce_double(&sum, 1) != LAP_OK)
                goto done;
            ce_after = sum / (double)total;
        }
        double value_after = 0, lambda_after = t->lambda + t->tau * ce_after;
        const char *bad_after = non_finite(t, ce_after, 0.0, lambda_after, 0.0, &value_after);
        if (bad_after) {   /* the optimizer step is taken: only lambda can still be kept */
            lap_error("%s: epoch %d, step %lld: the %s after the optimizer step is %g (a diverging run); "
                      "lambda is the one from before the step, the weights are those after it",
                      trainer_name(t->kind), t->optimizer->epoch + 1, (long long)iteration, bad_after, value_after);
            goto done;
        }
        t->lambda = lambda_after;
    }
    status = LAP_OK;
    goto done;
restore:
    restore_statistics(t);
done:
    lap_dist_set_sync_batchnorm(0);
    return status;
}

int lap_trainer_step(lap_trainer *t, lap_tensor *x, const int32_t *y, lap_step_stats *stats)
{
    if (!spread(t))
        return train_step(t, x, y, x->ndim > 0 ? x->shape[0] : 1, x->ndim > 0 ? x->shape[0] : 1, stats);
    if (x->ndim < 1)
        return lap_error("%s: a batch needs a first dimension", trainer_name(t->kind));
    int64_t lo, hi;
    share_of(x->shape[0], &lo, &hi);
    lap_tensor *rows = hi > lo ? lap_tensor_narrow(x, lo, hi - lo) : NULL;
    if (hi > lo && !rows)
        return LAP_ERR;
    int status = train_step(t, rows, y + lo, hi - lo, x->shape[0], stats);
    lap_tensor_release(rows);
    return status;
}

/* Every parameter (trainable or not) and BatchNorm statistic of net becomes rank 0's. */
static int broadcast_module(lap_module *m, void *context)
{
    int buffers_only = *(const int *)context;
    for (int i = 0; i < m->nparams && !buffers_only; i++)
        if (lap_dist_broadcast_float(lap_data(m->params[i]), lap_numel(m->params[i]), 0) != LAP_OK)
            return LAP_ERR;
    lap_tensor *mean = lap_batchnorm_running_mean(m), *var = lap_batchnorm_running_var(m);
    if (mean && (lap_dist_broadcast_float(lap_data(mean), lap_numel(mean), 0) != LAP_OK ||
                 lap_dist_broadcast_float(lap_data(var), lap_numel(var), 0) != LAP_OK))
        return LAP_ERR;
    return LAP_OK;
}

static int broadcast_state(lap_module *net, int buffers_only)
{
    return lap_module_visit(net, broadcast_module, &buffers_only);
}

int lap_trainer_distribute(lap_trainer *t, int sync_bn)
{
    if (lap_dist_init() != LAP_OK)
        return LAP_ERR;
    t->distributed = 1;
    t->sync_bn = sync_bn;
    return lap_dist_size() > 1 ? broadcast_state(t->net, 0) : LAP_OK;
}

static int ensure_batch(lap_trainer *t, int64_t n, int64_t batch)
{
    if (n > t->order_capacity) {
        int64_t *order = realloc(t->order, sizeof *order * (size_t)n);
        if (!order)
            return lap_error("out of memory");
        t->order = order;
        t->order_capacity = n;
    }
    if (batch > t->batch_capacity) {
        int32_t *labels = realloc(t->batch_y, sizeof *labels * (size_t)batch);
        if (!labels)
            return lap_error("out of memory");
        t->batch_y = labels;
        t->batch_capacity = batch;
    }
    return LAP_OK;
}

int lap_trainer_epoch(lap_trainer *t, const lap_dataset *d, int64_t batch, int shuffle, lap_epoch_stats *stats)
{
    if (batch < 1)
        return lap_error("%s: batch size must be >= 1, got %lld", trainer_name(t->kind), (long long)batch);
    if (d->n == 0)
        return lap_error("%s: empty dataset", trainer_name(t->kind));
    int64_t n = d->n, step_batch = batch < n ? batch : n;
    if (ensure_batch(t, n, step_batch) != LAP_OK)
        return LAP_ERR;
    for (int64_t i = 0; i < n; i++)
        t->order[i] = i;
    if (shuffle)
        lap_rng_shuffle_i64(&t->rng, t->order, n);
    memset(stats, 0, sizeof *stats);
    int64_t correct = 0;
    int distributed = spread(t);
    for (int64_t start = 0; start < n; start += step_batch) {
        if (lap_check_interrupt() != LAP_OK)
            return LAP_ERR;
        int64_t count = n - start < step_batch ? n - start : step_batch;
        /* Distributed: every rank has the same order and gathers only its rows. */
        int64_t lo = 0, hi = count;
        if (distributed)
            share_of(count, &lo, &hi);
        if (hi > lo && lap_dataset_gather(d, t->order + start + lo, hi - lo, &t->batch_x, t->batch_y) != LAP_OK)
            return LAP_ERR;
        lap_step_stats step;
        if (train_step(t, hi > lo ? t->batch_x : NULL, t->batch_y, hi - lo, count, &step) != LAP_OK)
            return LAP_ERR;
        stats->loss += step.loss * (double)count;
        stats->ce += step.ce * (double)count;
        stats->transport += step.transport * (double)count;
        correct += step.correct;
        stats->steps++;
    }
    stats->count = n;
    stats->loss /= (double)n;
    stats->ce /= (double)n;
    stats->transport /= (double)n;
    stats->accuracy = (double)correct / (double)n;
    stats->lambda = t->lambda;
    lap_optimizer_epoch_end(t->optimizer);
    return LAP_OK;
}

lap_trainer *lap_trainer_retain(lap_trainer *t)
{
    if (t)
        t->refcount++;
    return t;
}

void lap_trainer_release(lap_trainer *t)
{
    if (!t || --t->refcount > 0)
        return;
    lap_module_release(t->net);
    lap_optimizer_release(t->optimizer);
    lap_tensor_release(t->batch_x);
    lap_tensor_release(t->grad_logits);
    free(t->reduce);
    free(t->order);
    free(t->batch_y);
    free(t->saved_statistics);
    free(t->statistics);
    lap_tensor_release(t->flat_statistics);
    free(t);
}

void lap_eval_stats_free(lap_eval_stats *stats)
{
    free(stats->block_cost);
    free(stats->block_energy);
    stats->block_cost = stats->block_energy = NULL;
}

/* Distributed evaluation: the sums of every rank's share, in place: ce_total,
 * correct, elements, then the blocks' energies and cost sums. */
static int reduce_evaluation(double *ce_total, int64_t *correct, int64_t *elements, double *block_energy,
                             double *block_cost, int nblocks)
{
    double *sums = lap_malloc(sizeof *sums * (size_t)(3 + 2 * nblocks));
    if (!sums)
        return LAP_ERR;
    sums[0] = *ce_total;
    sums[1] = (double)*correct;
    sums[2] = (double)*elements;
    memcpy(sums + 3, block_energy, sizeof *sums * (size_t)nblocks);
    memcpy(sums + 3 + nblocks, block_cost, sizeof *sums * (size_t)nblocks);
    int status = lap_dist_allreduce_double(sums, 3 + 2 * nblocks);
    if (status == LAP_OK) {
        *ce_total = sums[0];
        *correct = (int64_t)llround(sums[1]);
        *elements = (int64_t)llround(sums[2]);
        memcpy(block_energy, sums + 3, sizeof *sums * (size_t)nblocks);
        memcpy(block_cost, sums + 3 + nblocks, sizeof *sums * (size_t)nblocks);
    }
    free(sums);
    return status;
}

int lap_evaluate(lap_module *net, const lap_dataset *d, int64_t chunk, int distributed, lap_eval_stats *stats)
{
    char shape[LAP_SHAPE_BUF];
    memset(stats, 0, sizeof *stats);
    if (d->n == 0)
        return lap_error("evaluate: empty dataset");
    if (chunk < 1)
        chunk = LAP_EVAL_BATCH;
    distributed = distributed && lap_dist_size() > 1;
    /* This rank's rows: all of them, or its contiguous share. */
    int64_t first = 0, end = d->n;
    if (distributed) {
        share_of(d->n, &first, &end);
        if (broadcast_state(net, 1) != LAP_OK)
            return LAP_ERR;
    }
    lap_resnet *resnet = lap_as_resnet(net);
    int nblocks = resnet ? resnet->nblocks : 0;
    stats->nblocks = nblocks;
    stats->block_cost = lap_calloc((size_t)nblocks + 1, sizeof(double));
    stats->block_energy = lap_calloc((size_t)nblocks + 1, sizeof(double));
    int64_t batch = chunk < end - first ? chunk : end - first;
    int64_t *rows = lap_malloc(sizeof *rows * (size_t)batch);
    int32_t *labels = lap_malloc(sizeof *labels * (size_t)batch);
    lap_tensor *x = NULL;
    int status = LAP_ERR, was_training = net->training;
    if (!stats->block_cost || !stats->block_energy || !rows || !labels)
        goto done;
    lap_module_train(net, 0);
    int64_t correct_total = 0, elements = 0;
    double ce_total = 0;
    for (int64_t start = first; start < end; start += batch) {
        if (lap_check_interrupt() != LAP_OK)
            goto done;
        int64_t count = end - start < batch ? end - start : batch;
        for (int64_t i = 0; i < count; i++)
            rows[i] = start + i;
        if (lap_dataset_gather(d, rows, count, &x, labels) != LAP_OK || lap_module_infer(net, x) != LAP_OK)
            goto done;
        lap_tensor *logits = net->output;
        if (logits->ndim != 2) {
            lap_error("evaluate: the network's output of shape %s should be (batch, classes)",
                      lap_shape_str(logits, shape, sizeof shape));
            goto done;
        }
        double ce;
        int64_t correct;
        if (lap_cross_entropy(&ce, NULL, &correct, lap_data(logits), labels, count, logits->shape[1], 1.0) != LAP_OK)
            goto done;
        ce_total += ce * (double)count;
        correct_total += correct;
        for (int k = 0; k < nblocks; k++) {
            int64_t numel = lap_numel(resnet->states[0]);   /* a displacement has x_0's shape */
            double squares = resnet->block_squares[k];
            stats->block_energy[k] += squares;
            /* Accumulate what makes the whole-set cost exact whatever the chunking. */
            stats->block_cost[k] += resnet->transport.form == LAP_TRANSPORT_FROBENIUS
                                        ? squares
                                        : resnet->block_cost[k] * (double)numel;
            if (k == 0)
                elements += numel;
        }
    }
    if (distributed && reduce_evaluation(&ce_total, &correct_total, &elements, stats->block_energy,
                                         stats->block_cost, nblocks) != LAP_OK)
        goto done;
    stats->count = d->n;
    stats->accuracy = (double)correct_total / (double)d->n;
    stats->ce = ce_total / (double)d->n;
    for (int k = 0; k < nblocks; k++) {
        if (resnet->transport.form == LAP_TRANSPORT_FROBENIUS)
            stats->block_cost[k] = sqrt(stats->block_cost[k]);
        else
            stats->block_cost[k] /= (double)elements;
        stats->block_energy[k] /= (double)d->n;
        stats->transport += stats->block_cost[k];
        stats->energy += stats->block_energy[k];
    }
    status = LAP_OK;
done:
    lap_module_train(net, was_training);
    lap_tensor_release(x);
    free(rows);
    free(labels);
    if (status != LAP_OK)
        lap_eval_stats_free(stats);
    return status;
}
