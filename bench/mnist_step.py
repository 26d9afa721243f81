"""PyTorch counterpart of lap's MNIST OneRepResNet training-step benchmark.

The model is the image OneRepResNet of skander-karkar/LAP (main.py OneRepResNet,
FirstResBlock, ResBlock; utils.py create_autoencoder with downsampling, no BN, and
the '3Lin' classifier), every parameter trained:

    encoder     Conv2d(1, 16, 3, 1, 1) ReLU Conv2d(16, 32, 5, 2, 2) ReLU  -> 32x14x14
    9 blocks    block 1: z = cv1(x); z = relu(bn2(z)); z = cv2(z)
                others:  z = relu(bn1(x)); z = cv1(z); z = relu(bn2(z)); z = cv2(z)
                out = x + z; cv* Conv2d(32, 32, 3, 1, 1, bias=False), bn* BatchNorm2d(32)
    classifier  Flatten, Linear(6272, 100), BatchNorm1d(100), ReLU, Linear(100, 10)

loss = cross_entropy + 0.1 * sum_k mean(z_k ** 2)    (main.py's transport cost)
optimizer = SGD(lr=0.01, momentum=0.9, weight_decay=1e-4).  torch's default init.
One batch of 128 random N(0, 1) images (torch.manual_seed(--seed)), random labels.

One step = zero_grad, forward, loss, backward, step.  --warmup steps, then --steps
steps timed individually with time.perf_counter.  Prints two lines:

    pytorch_ms <median ms> peak_mb <MB> torch <version> threads <n>
    flops <FLOPs of one step>

peak_mb is the process's peak resident memory (getrusage ru_maxrss, MB = 2^20
bytes) read after the timed loop; it includes the torch library itself.  flops is
analytic: 3 x the forward FLOPs of the convolutions and Linears (2 per
multiply-add; the backward pass counted as twice the forward, including the input
gradient of the first convolution, which torch skips); BatchNorm, ReLU, the loss
and the optimizer are not counted.  If torch cannot be imported, prints
`pytorch_unavailable <reason>` and exits 0.

bench/cifar_step.py runs the same code with the CIFAR-10 model (run_benchmark).

Run with Debian's interpreter: /usr/bin/python3 bench/mnist_step.py [--threads 2]
"""
import argparse
import resource
import statistics
import sys
import time

BATCH = 128
NBLOCKS = 9
NCLASSES = 10
LAMBDA = 0.1

# Image models of skander-karkar/LAP: input (C, H, W), encoder channels (mid, filters),
# downsampled by the 5x5 stride-2 convolution to filters x H/2 x W/2.
CONFIGS = {
    "mnist": {"input": (1, 28, 28), "mid": 16, "filters": 32, "steps": 20, "warmup": 3},
    "cifar": {"input": (3, 32, 32), "mid": 50, "filters": 100, "steps": 5, "warmup": 1},
}


def conv_flops(n, c_in, c_out, k, h_out, w_out):
    return 2 * n * c_out * h_out * w_out * c_in * k * k


def step_flops(cfg, batch=BATCH, nblocks=NBLOCKS, nclasses=NCLASSES):
    """Analytic FLOPs of one training step (3 x forward conv + Linear FLOPs)."""
    c, h, w = cfg["input"]
    mid, f = cfg["mid"], cfg["filters"]
    h2, w2 = (h + 2 * 2 - 5) // 2 + 1, (w + 2 * 2 - 5) // 2 + 1
    hidden = 10 * nclasses
    forward = conv_flops(batch, c, mid, 3, h, w)                 # Conv2d(c, mid, 3, 1, 1)
    forward += conv_flops(batch, mid, f, 5, h2, w2)              # Conv2d(mid, f, 5, 2, 2)
    forward += 2 * nblocks * conv_flops(batch, f, f, 3, h2, w2)  # cv1, cv2 of each block
    forward += 2 * batch * (f * h2 * w2) * hidden                # Linear(F, 10 C)
    forward += 2 * batch * hidden * nclasses                     # Linear(10 C, C)
    return 3 * forward


def make_model(torch, cfg, nblocks=NBLOCKS, nclasses=NCLASSES):
    """The OneRepResNet of skander-karkar/LAP for the dataset configuration cfg."""
    import torch.nn as nn
    import torch.nn.functional as F
    c, h, w = cfg["input"]
    mid, f = cfg["mid"], cfg["filters"]

    class FirstResBlock(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.cv1 = nn.Conv2d(n, n, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(n)
            self.cv2 = nn.Conv2d(n, n, 3, 1, 1, bias=False)

        def forward(self, x):
            z = self.cv2(F.relu(self.bn2(self.cv1(x))))
            return x + z, z

    class ResBlock(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(n)
            self.cv1 = nn.Conv2d(n, n, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(n)
            self.cv2 = nn.Conv2d(n, n, 3, 1, 1, bias=False)

        def forward(self, x):
            z = self.cv2(F.relu(self.bn2(self.cv1(F.relu(self.bn1(x))))))
            return x + z, z

    class OneRepResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(c, mid, 3, 1, 1), nn.ReLU(True),
                                         nn.Conv2d(mid, f, 5, 2, 2), nn.ReLU(True))
            self.blocks = nn.ModuleList([FirstResBlock(f) if i == 0 else ResBlock(f)
                                         for i in range(nblocks)])
            with torch.no_grad():
                features = self.encoder(torch.ones(1, c, h, w)).numel()
            hidden = 10 * nclasses
            self.classifier = nn.Sequential(nn.Linear(features, hidden), nn.BatchNorm1d(hidden),
                                            nn.ReLU(True), nn.Linear(hidden, nclasses))

        def forward(self, x):
            x = self.encoder(x)
            rs = []
            for block in self.blocks:
                x, r = block(x)
                rs.append(r)
            return self.classifier(x.view(x.size(0), -1)), rs

    return OneRepResNet()


def run_benchmark(dataset, argv=None):
    cfg = CONFIGS[dataset]
    ap = argparse.ArgumentParser(description="PyTorch %s OneRepResNet training step" % dataset)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=cfg["steps"])
    ap.add_argument("--warmup", type=int, default=cfg["warmup"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:  # ImportError, or a broken install
        print("pytorch_unavailable %s" % (str(e).splitlines()[0] if str(e) else type(e).__name__))
        return 0

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    c, h, w = cfg["input"]
    mid, f = cfg["mid"], cfg["filters"]

    x = torch.randn(BATCH, c, h, w)
    y = torch.randint(0, NCLASSES, (BATCH,))
    model = make_model(torch, cfg)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    # Cross-check the analytic count against the layers' actual output shapes.
    counted = []

    def count(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            counted.append(2 * out.numel() * (m.in_channels // m.groups) * k)
        elif isinstance(m, nn.Linear):
            counted.append(2 * out.numel() * m.in_features)
    hooks = [m.register_forward_hook(count) for m in model.modules()]

    def step():
        opt.zero_grad()
        out, rs = model(x)
        loss = F.cross_entropy(out, y) + LAMBDA * sum(torch.mean(r ** 2) for r in rs)
        loss.backward()
        opt.step()
        return loss

    step()
    for hk in hooks:
        hk.remove()
    flops = step_flops(cfg)
    assert 3 * sum(counted) == flops, (3 * sum(counted), flops)
    for _ in range(args.warmup - 1):
        step()
    times = []
    clock = time.perf_counter
    for _ in range(args.steps):
        t0 = clock()
        step()
        times.append(clock() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux
    print("pytorch_ms %.2f peak_mb %.1f torch %s threads %d"
          % (statistics.median(times) * 1e3, peak_mb, torch.__version__, args.threads))
    print("flops %d" % flops)
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark("mnist"))
