"""PyTorch counterpart of lap's circles ResNet training-step benchmark.

The model is the 2-D circles ResNet of skander-karkar/internship cloud4.py
(OneRepResNet with batchnorm): 9 residual blocks, each
Linear(2,2) -> BatchNorm1d(2) -> ReLU -> Linear(2,2), block output (x + z, z);
a fixed classifier Linear(2,2) with weight [[1,1],[0,0]] and bias [20,0]
(requires_grad False).  Initialisation follows cloud4's initialize_ (kaiming_normal_
weights, zero biases, BN weight 1 / bias 0).
loss = cross_entropy + 0.1 * sum_k torch.norm(z_k)   (cloud4's regularised form)
optimizer = SGD(trainable params, lr=0.01, momentum=0.9, weight_decay=1e-4).
One batch of 128 random 2-D points (fixed seed), label 1 inside radius 0.6.

One step = zero_grad, forward, loss, backward, step.  50 warm-up steps, then
--steps (default 2000) steps timed individually with time.perf_counter; prints
    pytorch_us <median microseconds> torch <version> threads <n>
--check instead prints `pytorch_check_loss <L> step10_loss <L10> ...`: L is the
loss of a (train-mode, no-grad) forward after 10 steps, L10 the loss computed
inside the 10th step (before its update).  If torch cannot be imported,
prints `pytorch_unavailable <reason>` and exits 0.

Run with Debian's interpreter: /usr/bin/python3 bench/circles_step.py
"""
import argparse
import statistics
import sys
import time

NBLOCKS = 9
BATCH = 128
LAMBDA = 0.1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true",
                    help="print the loss after 10 steps and exit")
    args = ap.parse_args()

    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:  # ImportError, or a broken install
        print("pytorch_unavailable %s" % (str(e).splitlines()[0] if str(e) else type(e).__name__))
        return 0

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    class ResBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(2, 2)
            self.bn = nn.BatchNorm1d(2)
            self.fc2 = nn.Linear(2, 2)

        def forward(self, x):
            z = self.fc2(F.relu(self.bn(self.fc1(x))))
            return x + z, z

    class OneRepResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([ResBlock() for _ in range(NBLOCKS)])
            self.fcOut = nn.Linear(2, 2)
            for m in self.blocks.modules():
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight)
                    nn.init.constant_(m.bias, 0.0)
                elif isinstance(m, nn.BatchNorm1d):
                    nn.init.constant_(m.weight, 1.0)
                    nn.init.constant_(m.bias, 0.0)
            with torch.no_grad():
                self.fcOut.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
                self.fcOut.bias.copy_(torch.tensor([20.0, 0.0]))
            for p in self.fcOut.parameters():
                p.requires_grad = False

        def forward(self, x):
            rs = []
            for block in self.blocks:
                x, r = block(x)
                rs.append(r)
            return self.fcOut(x), rs

    x = torch.rand(BATCH, 2) * 2 - 1
    y = (x.norm(dim=1) < 0.6).long()
    model = OneRepResNet()
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.01, momentum=0.9, weight_decay=1e-4)

    def step():
        opt.zero_grad()
        out, rs = model(x)
        loss = F.cross_entropy(out, y) + LAMBDA * sum(torch.norm(r) for r in rs)
        loss.backward()
        opt.step()
        return loss

    if args.check:
        for _ in range(10):
            last = step()
        with torch.no_grad():
            out, rs = model(x)
            loss = F.cross_entropy(out, y) + LAMBDA * sum(torch.norm(r) for r in rs)
        print("pytorch_check_loss %.9g step10_loss %.9g torch %s threads %d"
              % (loss.item(), last.item(), torch.__version__, args.threads))
        return 0

    for _ in range(args.warmup):
        step()
    times = []
    clock = time.perf_counter
    for _ in range(args.steps):
        t0 = clock()
        step()
        times.append(clock() - t0)
    print("pytorch_us %.2f torch %s threads %d"
          % (statistics.median(times) * 1e6, torch.__version__, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
