/* test_fused_resnet.c: a ResNet's fused path of narrow blocks (resnet_fused.c)
 * computes exactly what the ordinary module calls compute, and keeps the Module
 * contract.
 *
 * Two networks with the same weights are trained side by side on the same batches:
 * one whose blocks use ReLU (the fused path applies), one whose blocks use the
 * in-place ReLU (same numbers, but the fused path does not apply: every step goes
 * through the modules).  After every step their losses, parameters, gradients,
 * BatchNorm statistics and block outputs must be equal bit for bit.  Between steps
 * the test does what could leave the plan stale: a child run on its own at another
 * batch size, a block's backward on its own, an evaluation, freezing a block, a
 * batch of another size; and it checks that the plan is used in the steady state
 * (lap_resnet_plan_current), so that the comparison is not vacuous.
 * Cases: 2 -> 2 -> 2 blocks at an even batch (the paired SSE loops) and an odd one,
 * and 2 -> 3 -> 2 (the loops with run-time sizes), with and without BatchNorm, the
 * fixed-lambda and the cloud4 LAP trainers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/init.h"
#include "nn/resnet.h"
#include "train/trainer.h"
#include "check.h"

enum { BLOCKS = 7 };

static lap_module *build(int hidden, int bn, int inplace, uint32_t seed)
{
    lap_module *blocks[BLOCKS];
    for (int k = 0; k < BLOCKS; k++) {
        lap_module *block = lap_sequential_new();
        lap_module *parts[4];
        int n = 0;
        parts[n++] = lap_linear_new(2, hidden, 1);
        if (bn)
            parts[n++] = lap_batchnorm_new(hidden, 0.1, 1e-5);
        parts[n++] = inplace ? lap_relu_inplace_new() : lap_relu_new();
        parts[n++] = lap_linear_new(hidden, 2, k % 3 != 1);   /* some without bias */
        for (int i = 0; i < n; i++) {
            lap_module_add_child(block, parts[i], NULL);
            lap_module_release(parts[i]);
        }
        blocks[k] = block;
    }
    lap_module *classifier = lap_linear_new(2, 2, 1);
    lap_transport transport = {LAP_TRANSPORT_FROBENIUS, 2.0};
    lap_module *net = lap_resnet_new(NULL, blocks, BLOCKS, classifier, 1.0, 0, transport);
    for (int k = 0; k < BLOCKS; k++)
        lap_module_release(blocks[k]);
    lap_module_release(classifier);
    lap_init_spec normal = {.kind = LAP_INIT_NORMAL, .std = 0.7, .normal_bias = 1};
    lap_rng rng;
    lap_rng_seed(&rng, seed);
    lap_init_apply(net, &normal, &rng);
    return net;
}

static int same_tensor(const lap_tensor *a, const lap_tensor *b)
{
    return a && b && lap_same_shape(a, b) && !lap_tensor_is_evicted(a) && !lap_tensor_is_evicted(b) &&
           memcmp(lap_data(a), lap_data(b), sizeof(float) * (size_t)lap_numel(a)) == 0;
}

/* Every parameter, gradient and running statistic of the two nets, and each block's
 * output and input gradient.  (Inside a block the in-place ReLU overwrites the
 * Linear's output and the next Linear's input gradient, so those differ by design.) */
static int same_state(lap_module *a, lap_module *b)
{
    if (a->nparams != b->nparams || a->nchildren != b->nchildren || a->forward_ok != b->forward_ok)
        return 0;
    for (int i = 0; i < a->nparams; i++)
        if (!same_tensor(a->params[i], b->params[i]) || !same_tensor(a->grads[i], b->grads[i]))
            return 0;
    lap_tensor *mean = lap_batchnorm_running_mean(a);
    if (mean && (!same_tensor(mean, lap_batchnorm_running_mean(b)) ||
                 !same_tensor(lap_batchnorm_running_var(a), lap_batchnorm_running_var(b))))
        return 0;
    if (lap_module_is(a, "Sequential") || lap_module_is(a, "ResNet")) {
        if (!same_tensor(a->output, b->output))
            return 0;
        if (lap_module_is(a, "Sequential") && (a->grad_input || b->grad_input) &&
            !same_tensor(a->grad_input, b->grad_input))
            return 0;
    }
    for (int i = 0; i < a->nchildren; i++)
        if (!same_state(a->children[i], b->children[i]))
            return 0;
    return 1;
}

static lap_tensor *points(int64_t n, lap_rng *rng, int32_t *labels)
{
    lap_tensor *x = lap_tensor_new2(n, 2);
    for (int64_t i = 0; i < n; i++) {
        float u = (float)lap_rng_gauss(rng), v = (float)lap_rng_gauss(rng);
        lap_data(x)[2 * i] = u;
        lap_data(x)[2 * i + 1] = v;
        labels[i] = u * u + v * v < 1.0f;
    }
    return x;
}

static void run_case(int hidden, int bn, lap_trainer_kind kind, int64_t batch)
{
    lap_module *fused = build(hidden, bn, 0, 11), *plain = build(hidden, bn, 1, 11);
    lap_optim_config adam = lap_adam_defaults();
    adam.lr = 0.01;
    adam.beta2 = 0.99;
    lap_optimizer *oa = lap_optimizer_new(&adam), *ob = lap_optimizer_new(&adam);
    lap_trainer *ta = lap_trainer_new(kind, fused, oa, 0.1, 0.1, 3, 5);
    lap_trainer *tb = lap_trainer_new(kind, plain, ob, 0.1, 0.1, 3, 5);
    lap_rng rng;
    lap_rng_seed(&rng, 3);
    int32_t labels[64];
    lap_tensor *batches[3];
    int64_t sizes[3] = {batch, 10, 5};
    int32_t *batch_labels[3];
    for (int i = 0; i < 3; i++) {
        batch_labels[i] = malloc(sizeof(int32_t) * (size_t)sizes[i]);
        batches[i] = points(sizes[i], &rng, batch_labels[i]);
    }
    lap_tensor *test_x = points(40, &rng, labels);
    lap_dataset *test = lap_dataset_new(test_x, labels);
    lap_resnet *net = lap_as_resnet(fused);
    int steady = 0;
    char label[96];
    snprintf(label, sizeof label, "hidden %d, %s, %s, batch %d", hidden, bn ? "BatchNorm" : "no BatchNorm",
             kind == LAP_TRAIN_FIXED ? "Regularized" : "LAP cloud4", (int)batch);
    for (int step = 0; step < 60; step++) {
        /* mostly `batch`, sometimes another size; the same tensor object each time
         * for a size, as a trainer's batch buffer */
        int which = step % 13 == 12 ? 1 : step % 17 == 16 ? 2 : 0;
        lap_step_stats sa, sb;
        int status_a = lap_trainer_step(ta, batches[which], batch_labels[which], &sa);
        int status_b = lap_trainer_step(tb, batches[which], batch_labels[which], &sb);
        CHECK(status_a == LAP_OK && status_b == LAP_OK, "%s step %d failed: %s", label, step, lap_last_error());
        CHECK(sa.loss == sb.loss && sa.transport == sb.transport && sa.correct == sb.correct,
              "%s step %d: loss %.17g vs %.17g", label, step, sa.loss, sb.loss);
        CHECK(same_state(fused, plain), "%s step %d: the networks differ", label, step);
        if (failures > 0)
            break;
        if (lap_resnet_plan_current(net))
            steady++;
        lap_module *block = net->blocks[step % BLOCKS], *other = lap_as_resnet(plain)->blocks[step % BLOCKS];
        if (step == 20) {   /* a child on its own, at another batch size */
            lap_tensor *x = points(3, &rng, labels);
            lap_module *child = block->children[0], *twin = other->children[0];
            CHECK(lap_module_forward(child, x) == LAP_OK && lap_module_forward(twin, x) == LAP_OK,
                  "%s: child forward failed", label);
            CHECK(!lap_resnet_plan_current(net), "%s: a child ran on its own, the plan is still current", label);
            lap_tensor_release(x);
        } else if (step == 27) {   /* a block's backward on its own, after the net's forward */
            lap_tensor *grad = lap_tensor_new2(block->output->shape[0], 2);
            lap_fill(lap_data(grad), 0.25f, lap_numel(grad));
            CHECK(lap_module_backward(block, grad) == LAP_OK && lap_module_backward(other, grad) == LAP_OK,
                  "%s: block backward failed: %s", label, lap_last_error());
            CHECK(same_tensor(block->grad_input, other->grad_input), "%s: block backward differs", label);
            lap_tensor_release(grad);
        } else if (step == 33) {
            lap_eval_stats ea, eb;
            CHECK(lap_evaluate(fused, test, 0, 0, &ea) == LAP_OK && lap_evaluate(plain, test, 0, 0, &eb) == LAP_OK,
                  "%s: evaluate failed", label);
            CHECK(ea.ce == eb.ce && ea.transport == eb.transport, "%s: evaluations differ", label);
            lap_eval_stats_free(&ea);
            lap_eval_stats_free(&eb);
        } else if (step == 40) {
            lap_module_freeze(block, 1);
            lap_module_freeze(other, 1);
        } else if (step == 47) {   /* a block put in eval mode on its own: the next step sets train mode again */
            lap_module_train(block, 0);
            lap_module_train(other, 0);
        }
    }
    CHECK(steady >= 30, "%s: the fused path ran in %d of 60 steps", label, steady);
    for (int i = 0; i < 3; i++) {
        lap_tensor_release(batches[i]);
        free(batch_labels[i]);
    }
    lap_dataset_release(test);
    lap_trainer_release(ta);
    lap_trainer_release(tb);
    lap_optimizer_release(oa);
    lap_optimizer_release(ob);
    lap_module_release(fused);
    lap_module_release(plain);
}

int main(void)
{
    /* hidden 2 at an even batch: the paired SSE loops; at an odd one: the per-layer
     * loops and their odd last row; hidden 3: the loops with run-time sizes */
    const struct { int hidden; int64_t batch; } shapes[3] = {{2, 8}, {2, 7}, {3, 7}};
    for (int i = 0; i < 3; i++)
        for (int bn = 0; bn <= 1; bn++) {
            run_case(shapes[i].hidden, bn, LAP_TRAIN_FIXED, shapes[i].batch);
            run_case(shapes[i].hidden, bn, LAP_TRAIN_LAP_LAMBDA_TIMES_CE, shapes[i].batch);
        }
    return check_summary("test_fused_resnet");
}
