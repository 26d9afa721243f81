-- bench/cifar_step.lua: one training step of the paper's CIFAR ResNet9 (batch 128),
-- lap beside PyTorch (bench/cifar_step.py).  `make bench` runs it.
require("lap.bench").step { name = "cifar_step", dataset = "cifar10", steps = tonumber(arg[1]) or 5,
  pytorch = "bench/cifar_step.py" }
