-- bench/mnist_step.lua: one training step of the paper's MNIST ResNet9 (batch 128),
-- lap beside PyTorch (bench/mnist_step.py).  `make bench` runs it.
require("lap.bench").step { name = "mnist_step", dataset = "mnist", steps = tonumber(arg[1]) or 20,
  pytorch = "bench/mnist_step.py" }
