"""Write tests/fixtures/torch_conv_resnet.txt: PyTorch reference values for lap's
convolutional layers and a small convolutional OneRepResNet.

Regenerate (from the repository root) with Debian's interpreter, which has torch:

    /usr/bin/python3 tests/make_torch_conv_fixture.py

The output is deterministic (float32, torch.manual_seed(4321), one thread).

The model is a scaled-down copy of the image OneRepResNet of skander-karkar/LAP
(main.py FirstResBlock / ResBlock, utils.py create_autoencoder / '3Lin'):

    x (4, 1, 8, 8) = torch.randn, y (4,) = [0, 2, 1, 2]
    encoder     Conv2d(1, 4, 3, 1, 1) ReLU Conv2d(4, 6, 3, 2, 1) ReLU   -> (4, 6, 4, 4)
    block 1     z = cv1(x); z = relu(bn2(z)); z = cv2(z); out = x + z   (FirstResBlock)
    block 2     z = relu(bn1(x)); z = cv1(z); z = relu(bn2(z)); z = cv2(z); out = x + z
                cv1, cv2 Conv2d(6, 6, 3, 1, 1, bias=False); bn* BatchNorm2d(6)
    classifier  Flatten, Linear(96, 20), BatchNorm1d(20), ReLU, Linear(20, 3)

Convolutions and Linears keep torch's default init; every BatchNorm (momentum 0.1,
eps 1e-5) gets weight = 1 + 0.1 randn, bias = 0.1 randn after construction.
Parameters are listed in model.parameters() order (asserted below), which is the
depth-first module order lap uses (ResNet children encoder, blocks, classifier;
a module's weight before its bias):

    1 encoder.0.weight (4,1,3,3)   2 encoder.0.bias (4)
    3 encoder.2.weight (6,4,3,3)   4 encoder.2.bias (6)
    5 blocks.0.cv1.weight (6,6,3,3) 6 blocks.0.bn2.weight (6) 7 blocks.0.bn2.bias (6)
    8 blocks.0.cv2.weight (6,6,3,3)
    9 blocks.1.bn1.weight (6) 10 blocks.1.bn1.bias (6) 11 blocks.1.cv1.weight (6,6,3,3)
    12 blocks.1.bn2.weight (6) 13 blocks.1.bn2.bias (6) 14 blocks.1.cv2.weight (6,6,3,3)
    15 classifier.1.weight (20,96) 16 classifier.1.bias (20)
    17 classifier.2.weight (20) 18 classifier.2.bias (20)
    19 classifier.4.weight (3,20) 20 classifier.4.bias (3)

Note: classifier.1.bias feeds BatchNorm1d, so its gradient is exactly zero in exact
arithmetic; the recorded grad.16 is float32 rounding noise (compare it at the
scale of grad.15).

Records (one per line: `name ndim d1 .. dn v1 .. vN`; float32 values written with
numpy's shortest round-trip repr, labels as integers; ndim 0 is a scalar with one
value and no dims; lines starting with '#' are comments):

    x, y, param.1 .. param.20                   inputs and initial parameters
    logits, ce, transport, block_cost (2), loss  one train-mode forward,
        loss = F.cross_entropy(logits, y) (mean) + 0.1 * C,
        C = sum_k mean(z_k ** 2) (main.py; z_k the branch output of block k)
    grad.1 .. grad.20, grad_x                   of that loss
    running_mean.k, running_var.k (k = 1..4)    after that forward; BN k in module
        order: 1 blocks.0.bn2, 2 blocks.1.bn1, 3 blocks.1.bn2, 4 classifier.2
    sgd.loss.1, sgd.step1.param.1 .. 20, sgd.eval_logits
        one SGD step (lr 0.1, momentum 0.9, weight_decay 1e-3) on that loss from a
        fresh copy of the initial model in train mode, then eval-mode logits on x
    convt.x (2,6,4,4), convt.weight (6,4,5,5), convt.bias (4), convt.R (2,4,8,8),
    convt.out, convt.grad_x, convt.grad_weight, convt.grad_bias
        ConvTranspose2d(6, 4, 5, stride=2, padding=2, output_padding=1) (torch's
        weight layout (in, out, kh, kw)); gradients of sum(out * R)
    pool.x (2,3,6,6); for each of
        max   MaxPool2d(2)            avg   AvgPool2d(2)        gap  global average
        max3  MaxPool2d(3, stride=2, padding=1)
        avg3  AvgPool2d(3, stride=2, padding=1) (count_include_pad=True, torch default)
    pool.<op>.R, pool.<op>.out, pool.<op>.grad_x   (gradient of sum(out * R));
        gap is x.mean((2, 3)) with out (2, 3)
"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "torch_conv_resnet.txt")
LAMBDA = 0.1
CH = 6

EXPECTED_ORDER = [
    ("encoder.0.weight", (4, 1, 3, 3)), ("encoder.0.bias", (4,)),
    ("encoder.2.weight", (6, 4, 3, 3)), ("encoder.2.bias", (6,)),
    ("blocks.0.cv1.weight", (6, 6, 3, 3)), ("blocks.0.bn2.weight", (6,)),
    ("blocks.0.bn2.bias", (6,)), ("blocks.0.cv2.weight", (6, 6, 3, 3)),
    ("blocks.1.bn1.weight", (6,)), ("blocks.1.bn1.bias", (6,)),
    ("blocks.1.cv1.weight", (6, 6, 3, 3)), ("blocks.1.bn2.weight", (6,)),
    ("blocks.1.bn2.bias", (6,)), ("blocks.1.cv2.weight", (6, 6, 3, 3)),
    ("classifier.1.weight", (20, 96)), ("classifier.1.bias", (20,)),
    ("classifier.2.weight", (20,)), ("classifier.2.bias", (20,)),
    ("classifier.4.weight", (3, 20)), ("classifier.4.bias", (3,)),
]


class FirstResBlock(nn.Module):
    """skander-karkar/LAP main.py FirstResBlock (batchnorm, no bias, timestep 1)."""

    def __init__(self, n):
        super().__init__()
        self.cv1 = nn.Conv2d(n, n, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(n)
        self.cv2 = nn.Conv2d(n, n, 3, 1, 1, bias=False)

    def forward(self, x):
        z = self.cv1(x)
        z = F.relu(self.bn2(z))
        z = self.cv2(z)
        return x + z, z


class ResBlock(nn.Module):
    """skander-karkar/LAP main.py ResBlock (batchnorm, no bias, timestep 1)."""

    def __init__(self, n):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(n)
        self.cv1 = nn.Conv2d(n, n, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(n)
        self.cv2 = nn.Conv2d(n, n, 3, 1, 1, bias=False)

    def forward(self, x):
        z = F.relu(self.bn1(x))
        z = self.cv1(z)
        z = F.relu(self.bn2(z))
        z = self.cv2(z)
        return x + z, z


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(),
                                     nn.Conv2d(4, CH, 3, 2, 1), nn.ReLU())
        self.blocks = nn.ModuleList([FirstResBlock(CH), ResBlock(CH)])
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(CH * 4 * 4, 20),
                                        nn.BatchNorm1d(20), nn.ReLU(),
                                        nn.Linear(20, 3))

    def forward(self, x):
        h = self.encoder(x)
        zs = []
        for b in self.blocks:
            h, z = b(h)
            zs.append(z)
        return self.classifier(h), zs

    def batchnorms(self):
        return [self.blocks[0].bn2, self.blocks[1].bn1, self.blocks[1].bn2,
                self.classifier[2]]


def objective(model, x, y):
    logits, zs = model(x)
    ce = F.cross_entropy(logits, y)
    costs = [torch.mean(z ** 2) for z in zs]
    transport = sum(costs)
    return logits, ce, costs, transport, ce + LAMBDA * transport


def fmt(v, integer):
    if integer:
        return str(int(v))
    return str(np.float32(v))  # shortest repr that round-trips the float32


class Writer:
    def __init__(self):
        self.lines = []
        self.names = set()

    def comment(self, text):
        self.lines.append("# " + text)

    def add(self, name, t):
        assert name not in self.names, name
        self.names.add(name)
        t = torch.as_tensor(t).detach()
        integer = not t.is_floating_point()
        dims = list(t.shape)
        vals = t.reshape(-1).tolist()
        fields = [name, str(len(dims))] + [str(d) for d in dims]
        fields += [fmt(v, integer) for v in vals]
        self.lines.append(" ".join(fields))


def model_records(w):
    x0 = torch.randn(4, 1, 8, 8)
    y = torch.tensor([0, 2, 1, 2], dtype=torch.long)
    model0 = Net()
    with torch.no_grad():
        for bn in model0.batchnorms():
            bn.weight.copy_(1 + 0.1 * torch.randn(bn.num_features))
            bn.bias.copy_(0.1 * torch.randn(bn.num_features))
    named = list(model0.named_parameters())
    got = [(n, tuple(p.shape)) for n, p in named]
    assert got == EXPECTED_ORDER, got
    # named_parameters and parameters walk the modules in the same order
    assert all(a is b for (_, a), b in zip(named, model0.parameters()))
    params0 = list(model0.parameters())

    w.comment("params (model.parameters() order): " + ", ".join(
        "%d %s %s" % (i, n, "x".join(str(d) for d in s))
        for i, (n, s) in enumerate(got, 1)))
    w.comment("running stats k: 1 blocks.0.bn2, 2 blocks.1.bn1, 3 blocks.1.bn2, "
              "4 classifier.2 (BatchNorm1d(20))")
    w.add("x", x0)
    w.add("y", y)
    for i, p in enumerate(params0, 1):
        w.add("param.%d" % i, p)

    model = copy.deepcopy(model0)
    model.train()
    x = x0.clone().requires_grad_(True)
    logits, ce, costs, transport, loss = objective(model, x, y)
    loss.backward()
    w.add("logits", logits)
    w.add("ce", ce)
    w.add("transport", transport)
    w.add("block_cost", torch.stack(costs))
    w.add("loss", loss)
    for i, p in enumerate(model.parameters(), 1):
        w.add("grad.%d" % i, p.grad)
    w.add("grad_x", x.grad)
    for k, bn in enumerate(model.batchnorms(), 1):
        w.add("running_mean.%d" % k, bn.running_mean)
        w.add("running_var.%d" % k, bn.running_var)

    model = copy.deepcopy(model0)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                          weight_decay=1e-3)
    opt.zero_grad()
    _, _, _, _, loss = objective(model, x0, y)
    w.add("sgd.loss.1", loss)
    loss.backward()
    opt.step()
    for i, p in enumerate(model.parameters(), 1):
        w.add("sgd.step1.param.%d" % i, p)
    model.eval()
    with torch.no_grad():
        logits, _ = model(x0)
    w.add("sgd.eval_logits", logits)


def convt_records(w):
    m = nn.ConvTranspose2d(6, 4, 5, stride=2, padding=2, output_padding=1)
    x = torch.randn(2, 6, 4, 4, requires_grad=True)
    out = m(x)
    assert out.shape == (2, 4, 8, 8), out.shape
    R = torch.randn(out.shape)
    (out * R).sum().backward()
    w.comment("ConvTranspose2d(6, 4, 5, stride=2, padding=2, output_padding=1); "
              "weight (in, out, kh, kw); gradients of sum(out * R)")
    w.add("convt.x", x)
    w.add("convt.weight", m.weight)
    w.add("convt.bias", m.bias)
    w.add("convt.R", R)
    w.add("convt.out", out)
    w.add("convt.grad_x", x.grad)
    w.add("convt.grad_weight", m.weight.grad)
    w.add("convt.grad_bias", m.bias.grad)


def pool_records(w):
    x0 = torch.randn(2, 3, 6, 6)
    ops = [
        ("max", nn.MaxPool2d(2)),
        ("avg", nn.AvgPool2d(2)),
        ("gap", lambda t: t.mean((2, 3))),
        ("max3", nn.MaxPool2d(3, stride=2, padding=1)),
        ("avg3", nn.AvgPool2d(3, stride=2, padding=1)),
    ]
    w.comment("pools on pool.x: max MaxPool2d(2), avg AvgPool2d(2), gap mean over H, W, "
              "max3 MaxPool2d(3, 2, 1), avg3 AvgPool2d(3, 2, 1) count_include_pad; "
              "gradients of sum(out * R)")
    w.add("pool.x", x0)
    for name, op in ops:
        x = x0.clone().requires_grad_(True)
        out = op(x)
        R = torch.randn(out.shape)
        (out * R).sum().backward()
        w.add("pool.%s.R" % name, R)
        w.add("pool.%s.out" % name, out)
        w.add("pool.%s.grad_x" % name, x.grad)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(4321)
    w = Writer()
    model_records(w)
    convt_records(w)
    pool_records(w)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# torch %s; generated by: /usr/bin/python3 tests/make_torch_conv_fixture.py\n"
                % torch.__version__)
        f.write("\n".join(w.lines) + "\n")
    print("wrote %s (%d records, %d bytes)" % (os.path.relpath(OUT), len(w.names),
                                               os.path.getsize(OUT)), file=sys.stderr)


if __name__ == "__main__":
    main()
