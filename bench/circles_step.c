/* circles_step.c: one training step of the paper's 2-D circles ResNet, lap vs PyTorch.
 *
 * The model of skander-karkar/internship cloud4.py with BatchNorm: 9 blocks
 * Linear(2,2)-BatchNorm(2)-ReLU-Linear(2,2), fixed classifier W = [[1,1],[0,0]],
 * b = [20,0]; loss CE + 0.1 * sum_k ||v_k||_F (the fixed-lambda trainer);
 * SGD lr 0.01, momentum 0.9, weight decay 1e-4; a batch of 128 random points,
 * label 1 inside radius 0.6.  One step = forward, loss, transport, backward and
 * the optimizer update, through lap_trainer_step.  The median over individually
 * timed steps is printed beside bench/circles_step.py's (run with Debian's
 * /usr/bin/python3 when python3-torch is installed):
 *   circles_step: lap X us, pytorch Y us, speedup Z
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "nn/init.h"
#include "train/trainer.h"

enum { BLOCKS = 9, BATCH = 128, WARMUP = 200, STEPS = 20000 };

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static lap_module *build(void)
{
    lap_module *blocks[BLOCKS];
    for (int k = 0; k < BLOCKS; k++) {
        lap_module *block = lap_sequential_new();
        lap_module *parts[4] = {lap_linear_new(2, 2, 1), lap_batchnorm_new(2, 0.1, 1e-5), lap_relu_new(),
                                lap_linear_new(2, 2, 1)};
        for (int i = 0; i < 4; i++) {
            lap_module_add_child(block, parts[i], NULL);
            lap_module_release(parts[i]);
        }
        blocks[k] = block;
    }
    lap_module *classifier = lap_linear_new(2, 2, 1);
    float w[4] = {1, 1, 0, 0}, b[2] = {20, 0};
    memcpy(lap_data(classifier->params[0]), w, sizeof w);
    memcpy(lap_data(classifier->params[1]), b, sizeof b);
    lap_module_freeze(classifier, 1);
    lap_transport transport = {LAP_TRANSPORT_FROBENIUS, 2.0};
    lap_module *net = lap_resnet_new(NULL, blocks, BLOCKS, classifier, 1.0, 0, transport);
    for (int k = 0; k < BLOCKS; k++)
        lap_module_release(blocks[k]);
    lap_module_release(classifier);
    lap_init_spec kaiming = {.kind = LAP_INIT_KAIMING};
    lap_rng rng;
    lap_rng_seed(&rng, 0);
    lap_init_apply(net, &kaiming, &rng);
    return net;
}

static double pytorch_median_us(char *version, size_t size)
{
    FILE *p = popen("/usr/bin/python3 bench/circles_step.py --threads 2 2>&1", "r");
    if (!p)
        return -1;
    char line[512];
    double us = -1;
    version[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, "pytorch_us %lf", &us) == 1) {
            char *torch = strstr(line, "torch ");
            snprintf(version, size, "%.*s", torch ? (int)strcspn(torch, "\n") % 200 : 0, torch ? torch : "");
        } else if (strncmp(line, "pytorch_unavailable", 19) == 0) {
            snprintf(version, size, "%.*s", (int)strcspn(line, "\n") % 200, line);
        }
    }
    pclose(p);
    return us;
}

int main(void)
{
    lap_module *net = build();
    lap_optim_config sgd = lap_sgd_defaults();
    sgd.lr = 0.01;
    sgd.momentum = 0.9;
    sgd.weight_decay = 1e-4;
    lap_optimizer *optimizer = lap_optimizer_new(&sgd);
    lap_trainer *trainer = lap_trainer_new(LAP_TRAIN_FIXED, net, optimizer, 0.1, 0, 0, 0);
    if (!trainer) {
        fprintf(stderr, "circles_step: %s\n", lap_last_error());
        return 1;
    }
    lap_tensor *x = lap_tensor_new2(BATCH, 2);
    int32_t y[BATCH];
    lap_rng rng;
    lap_rng_seed(&rng, 1);
    for (int i = 0; i < BATCH; i++) {
        float a = (float)(2 * lap_rng_uniform(&rng) - 1), b = (float)(2 * lap_rng_uniform(&rng) - 1);
        lap_data(x)[2 * i] = a;
        lap_data(x)[2 * i + 1] = b;
        y[i] = a * a + b * b < 0.36f;
    }
    static double times[STEPS];
    lap_step_stats stats;
    for (int i = 0; i < WARMUP + STEPS; i++) {
        double start = now_us();
        if (lap_trainer_step(trainer, x, y, &stats) != LAP_OK) {
            fprintf(stderr, "circles_step: %s\n", lap_last_error());
            return 1;
        }
        if (i >= WARMUP)
            times[i - WARMUP] = now_us() - start;
    }
    qsort(times, STEPS, sizeof times[0], compare_doubles);
    double lap_us = times[STEPS / 2];
    char version[256];
    double torch_us = pytorch_median_us(version, sizeof version);
    if (torch_us > 0)
        printf("circles_step: lap %.2f us, pytorch %.1f us, speedup %.0f  (batch %d, %d blocks, %s, final loss %.4f)\n",
               lap_us, torch_us, torch_us / lap_us, BATCH, BLOCKS, version, stats.loss);
    else
        printf("circles_step: lap %.2f us, pytorch skipped (%s; install python3-torch for the side-by-side figure)\n",
               lap_us, version[0] ? version : "/usr/bin/python3 bench/circles_step.py did not run");
    lap_tensor_release(x);
    lap_trainer_release(trainer);
    lap_optimizer_release(optimizer);
    lap_module_release(net);
    return 0;
}
