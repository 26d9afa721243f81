"""Write tests/fixtures/torch_attack.txt: PyTorch reference adversarial examples for lap.

Regenerate (from the repository root) with Debian's interpreter, which has torch:

    /usr/bin/python3 tests/make_attack_fixture.py

The network (float32, torch.manual_seed(2020), eval mode) is a small convolutional
ResNet on 6x6 one-channel images, as tests/test_attack_torch.lua builds it in lap:

    encoder     Conv2d(1, 3, 3, padding 1), ReLU
    2 blocks    v = conv2(relu(bn(conv1(x)))), out = x + v
                conv1 Conv2d(3, 3, 3, padding 1, bias=False), bn BatchNorm2d(3),
                conv2 Conv2d(3, 3, 3, padding 1)
    classifier  Flatten, Linear(108, 4)

torch's default init for the convolutions and the linear layer; bn.weight =
1 + 0.2 randn, bn.bias = 0.2 randn, running_mean = 0.3 randn, running_var =
0.5 + rand (so that eval mode differs from the identity).  The inputs are 12
images of uniform [0, 1) pixels normalized as MNIST ((p - 0.1307) / 0.3081), so the
valid range is [lo, hi] = [-0.1307/0.3081, (1 - 0.1307)/0.3081].

Records (one per line: `name ndim d1 .. dn v1 .. vN`, %.9g; ndim 0 a scalar):
    x, y, param.1 .. param.14 (lap's parameter order: encoder weight, bias, then per
    block conv1.weight, bn.weight, bn.bias, conv2.weight, conv2.bias, then the
    linear weight, bias: 14), running_mean.k, running_var.k (k = 1, 2), clip (lo, hi)
    loss, grad_x          the mean cross-entropy and its input gradient (eval mode)
    fgsm.epsilon, fgsm.adv, fgsm.reliable
    pgd.epsilon, pgd.alpha, pgd.steps, pgd.start (the delta of the random start,
    uniform in [-eps, eps] from torch's generator), pgd.adv, pgd.reliable
        adv = clamp(x + start, lo, hi); steps times: adv += alpha sign(grad),
        adv = clamp(x + clamp(adv - x, -eps, eps), lo, hi)  (torchattacks' PGD)
        reliable: 1 where every gradient entry the attack's sign used had
        |g| > 1e-4 max|g| (elsewhere float roundings may flip a sign)
    logistic.x, logistic.y, logistic.l2, logistic.w
        L2-penalized logistic regression in double, sum of log-losses + l2/2 ||w||^2,
        intercept unpenalized (last), solved by torch's LBFGS, then Newton steps with
        autograd's Hessian, to a gradient < 1e-10
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "torch_attack.txt")
MEAN, STD = 0.1307, 0.3081
LO, HI = -MEAN / STD, (1 - MEAN) / STD


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.bn(self.conv1(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv2d(1, 3, 3, padding=1)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.classifier = nn.Linear(108, 4)

    def forward(self, x):
        x = F.relu(self.encoder(x))
        for block in self.blocks:
            x = block(x)
        return self.classifier(x.flatten(1))

    def lap_parameters(self):
        params = [self.encoder.weight, self.encoder.bias]
        for b in self.blocks:
            params += [b.conv1.weight, b.bn.weight, b.bn.bias, b.conv2.weight, b.conv2.bias]
        return params + [self.classifier.weight, self.classifier.bias]


class Writer:
    def __init__(self):
        self.lines = ["# written by tests/make_attack_fixture.py (torch %s)" % torch.__version__]

    def add(self, name, t):
        t = torch.as_tensor(t).detach().double()
        fields = [name, str(t.dim())] + [str(d) for d in t.shape]
        fields += ["%.9g" % v for v in t.reshape(-1).tolist()]
        self.lines.append(" ".join(fields))


def input_gradient(net, x, y):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(net(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def reliable(grads):
    mask = torch.ones_like(grads[0])
    for g in grads:
        mask *= (g.abs() > 1e-4 * g.abs().max()).float()
    return mask


def logistic(w_out):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = ((x[:, 0] - 0.8 * x[:, 2] + 0.6 * torch.randn(40, generator=g, dtype=torch.float64)) > 0).double()
    l2 = 0.5
    w = torch.zeros(4, dtype=torch.float64)

    def objective(w):
        z = x @ w[:3] + w[3]
        return (F.softplus(z) - y * z).sum() + 0.5 * l2 * (w[:3] ** 2).sum()

    # LBFGS to near the optimum, then Newton steps with autograd's Hessian to polish
    w.requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = objective(w)
        f.backward()
        return f

    opt.step(closure)
    w = w.detach()
    for _ in range(5):
        g = torch.autograd.functional.jacobian(objective, w)
        h = torch.autograd.functional.hessian(objective, w)
        w = w - torch.linalg.solve(h, g)
    w.requires_grad_(True)
    w.grad = None
    objective(w).backward()
    assert w.grad.abs().max() < 1e-10, w.grad
    w_out.add("logistic.x", x)
    w_out.add("logistic.y", y)
    w_out.add("logistic.l2", torch.tensor(l2))
    w_out.add("logistic.w", w.detach())


def main():
    torch.set_num_threads(1)
    torch.manual_seed(2020)
    net = Net()
    for b in net.blocks:
        with torch.no_grad():
            b.bn.weight.copy_(1 + 0.2 * torch.randn(3))
            b.bn.bias.copy_(0.2 * torch.randn(3))
            b.bn.running_mean.copy_(0.3 * torch.randn(3))
            b.bn.running_var.copy_(0.5 + torch.rand(3))
    net.eval()
    pixels = torch.rand(12, 1, 6, 6)
    x = (pixels - MEAN) / STD
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], dtype=torch.long)

    w = Writer()
    w.add("x", x)
    w.add("y", y)
    for i, p in enumerate(net.lap_parameters()):
        w.add("param.%d" % (i + 1), p)
    for k, b in enumerate(net.blocks):
        w.add("running_mean.%d" % (k + 1), b.bn.running_mean)
        w.add("running_var.%d" % (k + 1), b.bn.running_var)
    w.add("clip", torch.tensor([LO, HI]))

    loss, grad = input_gradient(net, x, y)
    w.add("loss", loss)
    w.add("grad_x", grad)

    eps = 0.3
    adv = torch.clamp(x + eps * grad.sign(), LO, HI)
    w.add("fgsm.epsilon", torch.tensor(eps))
    w.add("fgsm.adv", adv)
    w.add("fgsm.reliable", reliable([grad]))

    eps, alpha, steps = 0.25, 0.06, 7
    start = torch.empty_like(x).uniform_(-eps, eps)
    adv = torch.clamp(x + start, LO, HI)
    used = []
    for _ in range(steps):
        _, g = input_gradient(net, adv, y)
        used.append(g)
        adv = adv + alpha * g.sign()
        delta = torch.clamp(adv - x, -eps, eps)
        adv = torch.clamp(x + delta, LO, HI)
    w.add("pgd.epsilon", torch.tensor(eps))
    w.add("pgd.alpha", torch.tensor(alpha))
    w.add("pgd.steps", torch.tensor(steps))
    w.add("pgd.start", start)
    w.add("pgd.adv", adv)
    w.add("pgd.reliable", reliable(used))
    clean_right = (net(x).argmax(1) == y).sum().item()
    adv_right = (net(adv).argmax(1) == y).sum().item()
    w.lines.append("# clean correct %d / 12, after PGD %d / 12" % (clean_right, adv_right))

    logistic(w)
    with open(OUT, "w") as f:
        f.write("\n".join(w.lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
