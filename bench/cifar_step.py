"""PyTorch counterpart of lap's CIFAR-10 OneRepResNet training-step benchmark.

The same benchmark as bench/mnist_step.py (whose docstring describes the step, the
output lines, the memory and FLOP accounting), with the CIFAR-10 model of
skander-karkar/LAP:

    encoder     Conv2d(3, 50, 3, 1, 1) ReLU Conv2d(50, 100, 5, 2, 2) ReLU  -> 100x16x16
    9 blocks    of 100 channels (FirstResBlock, then 8 ResBlocks), 3x3 convs without bias
    classifier  Flatten, Linear(25600, 100), BatchNorm1d(100), ReLU, Linear(100, 10)

on a batch of 128 random 3x32x32 images; default 1 warm-up step and --steps 5.
Prints `pytorch_ms <median ms> peak_mb <MB> torch <version> threads <n>` and
`flops <FLOPs of one step>`, or `pytorch_unavailable <reason>`.

Run with Debian's interpreter: /usr/bin/python3 bench/cifar_step.py [--threads 2]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_step import run_benchmark  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_benchmark("cifar"))
