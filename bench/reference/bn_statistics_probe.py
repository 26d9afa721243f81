#!/usr/bin/python3
"""bn_statistics_probe.py: why Table 1 runs at 100 images stay at chance level.

Trains the replica's network (lap_main_replica.py: main.py's model, gain-0.01
orthogonal initialization, SGD lr 0.01) with plain cross-entropy on lap's rows for
one size and some seeds, and after chosen steps measures, for every BatchNorm
layer, the ratio of its running variance (what eval mode divides by) to the
variance of the current batch (what train mode divides by), and the accuracy on
the first --test-images of the test half three ways: eval mode (main.py's metric),
train-mode batch statistics (batches of 1000), and running statistics recomputed
as a plain average over the training subset with the current weights.

    /usr/bin/python3 bench/reference/bn_statistics_probe.py --size 100 --seeds 0,1,2 [--encoder FILE]

Prints one line per (seed, step); --out FILE also appends them as JSON lines."""
import argparse
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lap_main_replica as replica  # noqa: E402


def variance_ratios(model, x):
    """Per BatchNorm layer: running_var / batch variance on x (the mean over channels), by hooks."""
    ratios = []

    def hook(module, inputs, _output):
        v = inputs[0].detach()
        dims = [0] + list(range(2, v.dim()))
        batch_var = v.var(dim=dims, unbiased=False)
        ratios.append((module.running_var / batch_var.clamp_min(1e-30)).mean().item())

    probe = copy.deepcopy(model)   # train mode updates the running statistics: not the model's
    handles = [m.register_forward_hook(hook) for m in probe.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    probe.train()
    with torch.no_grad():
        probe(x)
    for h in handles:
        h.remove()
    return ratios


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=30, help="SGD steps (30 = 30 epochs at 100 images)")
    p.add_argument("--at", default="1,5,10,20,30", help="steps after which to measure")
    p.add_argument("--test-images", type=int, default=1000)
    p.add_argument("--encoder", default="", help="a pretrained encoder (main.py -lec 0), as in lap_main_replica.py")
    p.add_argument("--indices", default="")
    p.add_argument("--laprun", default=os.path.join(replica.ROOT, "laprun"))
    p.add_argument("--out", default="")
    options = p.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in options.seeds.split(",")]
    at = {int(s) for s in options.at.split(",")}
    indices_file = options.indices
    if not indices_file:
        indices_file = "/tmp/bn_probe_indices.jsonl"
        replica.lap_indices(options.laprun, options.data, [options.size], seeds, indices_file)
    indices = replica.read_indices(indices_file)
    train_x, train_y, test_x, test_y = replica.load_mnist(options.data)
    for seed in seeds:
        train_rows, test_rows = indices[(options.size, seed)]
        tx, ty = train_x[train_rows], train_y[train_rows]
        ex, ey = test_x[test_rows][:options.test_images], test_y[test_rows][:options.test_images]
        model, _ = replica.build_model(seed, 0.01, options.encoder)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        step = 0
        while step < options.steps:
            model.train()
            order = torch.randperm(len(ty))
            for i in range(0, len(ty), 128):
                rows = order[i:i + 128]
                optimizer.zero_grad()
                loss = F.cross_entropy(model(tx[rows])[0], ty[rows])
                loss.backward()
                optimizer.step()
                step += 1
                if step in at:
                    ratios = variance_ratios(model, tx)
                    line = {"size": options.size, "seed": seed, "encoder": options.encoder, "step": step, "train_loss": loss.item(),
                            "running_over_batch_variance": [round(r, 3) for r in ratios],
                            "accuracy_eval_mode": replica.evaluate(model, ex, ey),
                            "accuracy_batch_statistics": replica.accuracy_with_batch_statistics(model, ex, ey),
                            "accuracy_recomputed_statistics": replica.accuracy_with_recomputed_statistics(model, tx, ex, ey)}
                    print("seed %d step %3d  loss %.4f  accuracy eval %.1f %%  batch stats %.1f %%  recomputed %.1f %%  "
                          "running/batch variance: median %.3g, max %.3g (classifier BN %.3g)"
                          % (seed, step, line["train_loss"], 100 * line["accuracy_eval_mode"],
                             100 * line["accuracy_batch_statistics"], 100 * line["accuracy_recomputed_statistics"],
                             sorted(ratios)[len(ratios) // 2], max(ratios), ratios[-1]), flush=True)
                    if options.out:
                        with open(options.out, "a") as f:
                            f.write(json.dumps(line) + "\n")
                if step >= options.steps:
                    break


if __name__ == "__main__":
    main()
