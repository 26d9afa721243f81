"""Write tests/fixtures/torch_resnet.txt: PyTorch reference values for lap.

Regenerate (from the repository root) with Debian's interpreter, which has torch:

    /usr/bin/python3 tests/make_torch_fixture.py

The model (float32, torch.manual_seed(1234)) is a small residual network:

    x (6, 3) = torch.randn, y (6,) = [0, 1, 2, 1, 0, 2]
    encoder     Linear(3, 4)
    3 blocks    v = fc2(relu(bn(fc1(x)))), out = x + v
                fc1 Linear(4, 5, bias=False), bn BatchNorm1d(5) (momentum 0.1, eps 1e-5),
                fc2 Linear(5, 4); bn.weight = 1 + 0.1*randn, bn.bias = 0.1*randn
    classifier  Linear(4, 3)

Linears keep torch's default init.  Parameters are listed (param.1 .. param.19)
in the order the C side uses: encoder.weight (4x3), encoder.bias, then per block
fc1.weight (5x4), bn.weight, bn.bias, fc2.weight (4x5), fc2.bias, then
classifier.weight (3x4), classifier.bias.  Weights are (out, in) as in torch.

loss = F.cross_entropy(logits, y) (mean) + 0.1 * C, with the transport cost C a
sum over blocks of block_cost_k:
    mean    mean(v_k ** 2)
    frob    torch.norm(v_k)            (Frobenius over the batch, not squared)
    mean15  mean(|v_k| ** 1.5)

Records (one per line: `name ndim d1 .. dn v1 .. vN`, values %.9g; ndim 0 is a
scalar with one value and no dims; lines starting with '#' are comments):

    x, y, param.1 .. param.19                    inputs and initial parameters
    <form>.logits, .ce, .transport, .block_cost (3), .loss,
    <form>.grad.1 .. .grad.19, <form>.grad_x,
    <form>.running_mean.k, <form>.running_var.k  (k = 1..3; BN running stats
                                                  after this single train forward)
        for form in mean, frob, mean15; each from a fresh copy of the initial
        model in train mode.
    <opt>.loss.s (s = 1..3; loss before step s), <opt>.step3.param.1 .. 19,
    <opt>.eval_logits (eval mode after the 3 steps)
        for opt in sgd (lr 0.1, momentum 0.9, weight_decay 1e-3) and
        adam (lr 0.01, betas (0.9, 0.99), eps 1e-8, weight_decay 0), each from a
        fresh copy, train mode, same batch, loss = CE + 0.1 * C_mean.
"""
import copy
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "torch_resnet.txt")
LAMBDA = 0.1
NPARAM = 2 + 3 * 5 + 2  # = 19: encoder, 3 blocks x 5, classifier


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5, bias=False)  # a bias before BatchNorm has an exactly zero gradient, whose float noise Adam would amplify
        self.bn = nn.BatchNorm1d(5, eps=1e-5, momentum=0.1)
        self.fc2 = nn.Linear(5, 4)

    def forward(self, x):
        v = self.fc2(F.relu(self.bn(self.fc1(x))))
        return x + v, v


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([Block() for _ in range(3)])
        self.classifier = nn.Linear(4, 3)

    def forward(self, x):
        h = self.encoder(x)
        vs = []
        for b in self.blocks:
            h, v = b(h)
            vs.append(v)
        return self.classifier(h), vs

    def ordered_params(self):
        ps = [self.encoder.weight, self.encoder.bias]
        for b in self.blocks:
            ps += [b.fc1.weight, b.bn.weight, b.bn.bias,
                   b.fc2.weight, b.fc2.bias]
        ps += [self.classifier.weight, self.classifier.bias]
        return ps


def block_cost(v, form):
    if form == "mean":
        return torch.mean(v ** 2)
    if form == "frob":
        return torch.norm(v)
    if form == "mean15":
        return torch.mean(torch.abs(v) ** 1.5)
    raise ValueError(form)


def objective(model, x, y, form):
    logits, vs = model(x)
    ce = F.cross_entropy(logits, y)
    costs = [block_cost(v, form) for v in vs]
    transport = sum(costs)
    return logits, ce, costs, transport, ce + LAMBDA * transport


class Writer:
    def __init__(self):
        self.lines = []
        self.names = set()

    def add(self, name, t):
        assert name not in self.names, name
        self.names.add(name)
        t = torch.as_tensor(t).detach().to(torch.float64)
        dims = list(t.shape)
        vals = t.reshape(-1).tolist()
        fields = [name, str(len(dims))] + [str(d) for d in dims]
        fields += ["%.9g" % v for v in vals]
        self.lines.append(" ".join(fields))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    x0 = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 1, 0, 2], dtype=torch.long)
    model0 = Net()
    with torch.no_grad():
        for b in model0.blocks:
            b.bn.weight.copy_(1 + 0.1 * torch.randn(5))
            b.bn.bias.copy_(0.1 * torch.randn(5))
    params0 = model0.ordered_params()
    assert len(params0) == NPARAM
    assert len(list(model0.parameters())) == NPARAM

    w = Writer()
    w.add("x", x0)
    w.add("y", y)
    for i, p in enumerate(params0, 1):
        w.add("param.%d" % i, p)

    for form in ("mean", "frob", "mean15"):
        model = copy.deepcopy(model0)
        model.train()
        x = x0.clone().requires_grad_(True)
        logits, ce, costs, transport, loss = objective(model, x, y, form)
        loss.backward()
        w.add(form + ".logits", logits)
        w.add(form + ".ce", ce)
        w.add(form + ".transport", transport)
        w.add(form + ".block_cost", torch.stack(costs))
        w.add(form + ".loss", loss)
        for i, p in enumerate(model.ordered_params(), 1):
            w.add("%s.grad.%d" % (form, i), p.grad)
        w.add(form + ".grad_x", x.grad)
        for k, b in enumerate(model.blocks, 1):
            w.add("%s.running_mean.%d" % (form, k), b.bn.running_mean)
            w.add("%s.running_var.%d" % (form, k), b.bn.running_var)

    optimizers = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9,
                                          weight_decay=1e-3),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.99),
                                            eps=1e-8, weight_decay=0),
    }
    for name in ("sgd", "adam"):
        model = copy.deepcopy(model0)
        model.train()
        ps = model.ordered_params()
        opt = optimizers[name](ps)
        for s in range(1, 4):
            opt.zero_grad()
            _, _, _, _, loss = objective(model, x0, y, "mean")
            w.add("%s.loss.%d" % (name, s), loss)
            loss.backward()
            opt.step()
        for i, p in enumerate(ps, 1):
            w.add("%s.step3.param.%d" % (name, i), p)
        model.eval()
        with torch.no_grad():
            logits, _ = model(x0)
        w.add(name + ".eval_logits", logits)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# torch %s; generated by: /usr/bin/python3 tests/make_torch_fixture.py\n"
                % torch.__version__)
        f.write("\n".join(w.lines) + "\n")
    print("wrote %s (%d records)" % (os.path.relpath(OUT), len(w.lines)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
