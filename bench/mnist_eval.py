"""PyTorch counterpart of lap's MNIST evaluation benchmark (bench/mnist_eval.lua).

The forward pass, in eval mode under torch.no_grad(), of N (default 10 000)
MNIST-shaped N(0, 1) images through the OneRepResNet of bench/mnist_step.py (the
paper's MNIST ResNet9), in batches of --batch (default 1000: PyTorch's throughput
is flat from about 500 up on 2 threads), counting correct predictions against
random labels and summing each block's transport cost mean(z ** 2) as an epoch's
evaluation does.  --repeats evaluations after one warm-up; prints

    pytorch_ms <median ms of one evaluation> peak_mb <MB> torch <version> threads <n> batch <b>

If torch cannot be imported, prints `pytorch_unavailable <reason>` and exits 0.
Run with Debian's interpreter: /usr/bin/python3 bench/mnist_eval.py [--threads 2]
"""
import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_step import CONFIGS, NCLASSES, make_model  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch MNIST OneRepResNet evaluation")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        import torch
    except Exception as e:
        print("pytorch_unavailable %s" % (str(e).splitlines()[0] if str(e) else type(e).__name__))
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = CONFIGS["mnist"]
    model = make_model(torch, cfg)
    model.eval()
    x = torch.randn(args.images, *cfg["input"])
    y = torch.randint(0, NCLASSES, (args.images,))

    def evaluate():
        correct, transport = 0, 0.0
        with torch.no_grad():
            for start in range(0, args.images, args.batch):
                out, rs = model(x[start:start + args.batch])
                correct += int((out.argmax(1) == y[start:start + args.batch]).sum())
                transport += float(sum(torch.mean(r ** 2) for r in rs))
        return correct, transport

    evaluate()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        evaluate()
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("pytorch_ms %.2f peak_mb %.1f torch %s threads %d batch %d"
          % (statistics.median(times) * 1e3, peak_mb, torch.__version__, args.threads, args.batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
