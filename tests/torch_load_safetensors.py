#!/usr/bin/env python3
"""torch_load_safetensors.py: loads a lap checkpoint of a circles-style ResNet
(blocks Linear(2,h) BatchNorm(h) ReLU Linear(h,2), x + v per block, a Linear
classifier) into the equivalent PyTorch model and prints the largest absolute
difference between PyTorch's eval-mode logits and lap's.

    /usr/bin/python3 tests/torch_load_safetensors.py net.safetensors io.txt

io.txt holds two lines written by tests/test_checkpoint.lua: the inputs (N*2
values) and lap's logits (N*2 values).  The weights are read with
read_safetensors.read (json + struct, the format specification) and copied into
the torch modules by name.  Prints "torch_unavailable" when torch cannot be
imported."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read  # noqa: E402


def main():
    try:
        import torch
        import torch.nn as nn
    except Exception:
        print("torch_unavailable")
        return 0
    tensors, _ = read(sys.argv[1])
    with open(sys.argv[2]) as f:
        x_values = [float(v) for v in f.readline().split()]
        lap_logits = [float(v) for v in f.readline().split()]
    blocks = sorted({int(name.split(".")[1]) for name in tensors if name.startswith("block.")})

    def value(name):
        shape, values = tensors[name]
        return torch.tensor(values, dtype=torch.float32).reshape(shape)

    class Block(nn.Module):
        def __init__(self, k):
            super().__init__()
            hidden = value("block.%d.1.weight" % k).shape[0]
            self.fc1, self.bn, self.fc2 = nn.Linear(2, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, 2)
            with torch.no_grad():
                for module, index in ((self.fc1, 1), (self.fc2, 4)):
                    module.weight.copy_(value("block.%d.%d.weight" % (k, index)))
                    module.bias.copy_(value("block.%d.%d.bias" % (k, index)))
                for field in ("weight", "bias", "running_mean", "running_var"):
                    getattr(self.bn, field).copy_(value("block.%d.2.%s" % (k, field)))

        def forward(self, x):
            return x + self.fc2(torch.relu(self.bn(self.fc1(x))))

    model_blocks = nn.ModuleList([Block(k) for k in blocks])
    classifier = nn.Linear(2, 2)
    with torch.no_grad():
        classifier.weight.copy_(value("classifier.weight"))
        classifier.bias.copy_(value("classifier.bias"))
    model_blocks.eval()
    x = torch.tensor(x_values, dtype=torch.float32).reshape(-1, 2)
    with torch.no_grad():
        for block in model_blocks:
            x = block(x)
        logits = classifier(x).reshape(-1).tolist()
    print("max_abs_diff %.9g" % max(abs(a - b) for a, b in zip(logits, lap_logits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
