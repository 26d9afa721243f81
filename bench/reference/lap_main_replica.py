#!/usr/bin/python3
"""lap_main_replica.py: the authors' code (skander-karkar/LAP main.py, dataloaders.py,
utils.py) rewritten for one protocol, the paper's Table 1 on MNIST, in PyTorch, so
that lap's numbers can be set beside the reference implementation's, instance by
instance.  Run it with Debian's python3-torch: /usr/bin/python3.

What it replicates (main.py -dat mnist -mod onerep -nfl 32 -nbl 9 -cla 3Lin -lrr 0.01
-inn orthogonal -ing 0.01 -bas 128 -wdc 0.0001 -nep 30, ResNet: -uzs 0, LAP: -lml 5
-tau 1 -uzs 5, -lec 1 or -lec 0):
  - the OneRepResNet for MNIST: encoder Conv(1,16,3,p1) ReLU Conv(16,32,5,s2,p2) ReLU,
    9 residual blocks (the first one Conv BN ReLU Conv, the others BN ReLU Conv BN
    ReLU Conv, 3x3 convs without bias), classifier Linear(6272,100) BatchNorm1d ReLU
    Linear(100,10); the modules, and so the parameter names, as main.py nests them;
  - the torch generator consumed in main.py's order (the autoencoder's two halves
    are built, then the network; the loaders draw a worker seed and a permutation
    each epoch), so that the weights are main.py's for the seed;
  - the initialization main.py applies: every module whose name has exactly one dot
    (encoder.0 ... encoder.3, stage1.blocks, classifier.0 ... classifier.3) gets
    utils.initialize applied recursively, except the encoder's under -lec 0:
    Conv2d and Linear weights orthogonal with the gain, their biases 0, BatchNorm2d
    weight 1 and bias 0 (BatchNorm1d is not touched: PyTorch's default, the same);
  - SGD(lr, momentum 0.9, weight decay 1e-4) over all parameters, MultiStepLR
    [150, 225, 250] (inactive in 30 epochs);
  - the Uzawa rule of main.py's train(): iteration counter from 1 over all
    batches, every uzs-th iteration lambda += tau * CE(batch) before the step,
    loss = CE + transport / lambda, transport = sum over blocks of mean(r^2);
  - MNIST normalized with 0.1306604762738429 / 0.30810780717887876, batch 128
    in a random order each epoch, evaluation in eval mode after each epoch on a
    random half of the test set (main.py's validation loader), and the metric:
    the highest of those accuracies over the epochs.
What it takes from lap instead of drawing it: the training subset and the test
half, read from the file lap writes with
    laprun experiments/mnist_table1.lua --protocol main --save-indices FILE ...
(lap's training subset for a seed is RandomState(seed).permutation(60000)[:n],
which is what main.py's np.random.choice(range(60000), n, False) draws after
np.random.seed(seed); the test half differs from main.py's, which continues that
generator).  Under -lec 0 the pretrained encoder is lap's (experiments/
autoencoder.lua --save-encoder), read from its safetensors file, because main.py's
autoencoder weights are not published.

    /usr/bin/python3 bench/reference/lap_main_replica.py --sizes 100,300 --instances 3
    /usr/bin/python3 bench/reference/lap_main_replica.py --encoder FILE --out F.jsonl

Each instance appends one JSON line (method, train_size, seed, best_accuracy,
config, epochs_metrics, wall_time) to --out; --resume skips those recorded,
--budget M starts no instance after M minutes.  --bn-diagnostics adds, per epoch,
the accuracy of the same network with batch statistics (train-mode BatchNorm over
evaluation batches of 1000) and with running statistics recomputed as a plain
average over the training subset (momentum None), to tell whether the eval-mode
statistics are what keeps a run at chance level (on the first --diagnostics-images
of the test half, 1000 by default, beside eval mode on the same images)."""
import argparse
import copy
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MNIST_MEAN, MNIST_STD = 0.1306604762738429, 0.30810780717887876   # dataloaders.py


# ---------------------------------------------------------------- data

def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    zero, kind, ndim = struct.unpack(">HBB", blob[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit("%s: not an IDX file of unsigned bytes" % path)
    shape = struct.unpack(">%dI" % ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_idx(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit("no %s in %s (run `make data`, or pass --data DIR)" % (stem, directory))


def load_mnist(directory):
    """(train images, train labels, test images, test labels): images normalized
    float32 (N, 1, 28, 28) as ToTensor + Normalize give them, labels int64."""
    def images(stem):
        x = read_idx(find_idx(directory, stem)).astype(np.float32) / 255.0
        return torch.from_numpy((x - MNIST_MEAN) / MNIST_STD).unsqueeze(1)

    def labels(stem):
        return torch.from_numpy(read_idx(find_idx(directory, stem)).astype(np.int64))

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def read_indices(path):
    """{(train_size, seed): (train rows, test rows)} from lap's --save-indices file."""
    table = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                table[(r["train_size"], r["seed"])] = (r["train_indices"], r["test_indices"])
    return table


def lap_indices(laprun, data, sizes, seeds, path):
    """Has lap write the rows of every size and seed (main.py's protocol) to path."""
    command = [laprun, os.path.join(ROOT, "experiments", "mnist_table1.lua"), "--data", data,
               "--sizes", ",".join(str(s) for s in sizes), "--instances", str(max(seeds) + 1),
               "--protocol", "main", "--save-indices", path]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- model (main.py's modules)

class FirstResBlock(nn.Module):
    """Conv BN ReLU Conv; returns (x + r, r)."""
    def __init__(self, width):
        super().__init__()
        self.cv1 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.cv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)

    def forward(self, x):
        r = self.cv2(F.relu(self.bn2(self.cv1(x))))
        return x + r, r


class ResBlock(nn.Module):
    """BN ReLU Conv BN ReLU Conv; returns (x + r, r)."""
    def __init__(self, width):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(width)
        self.cv1 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.cv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)

    def forward(self, x):
        r = self.cv2(F.relu(self.bn2(self.cv1(F.relu(self.bn1(x))))))
        return x + r, r


class Stage(nn.Module):
    def __init__(self, blocks, width):
        super().__init__()
        self.blocks = nn.ModuleList([FirstResBlock(width) if k == 0 else ResBlock(width) for k in range(blocks)])

    def forward(self, x):
        residues = []
        for block in self.blocks:
            x, r = block(x)
            residues.append(r)
        return x, residues


class OneRepResNet(nn.Module):
    """encoder -> stage1 (the blocks) -> classifier; forward returns (logits, residues)."""
    def __init__(self, encoder, blocks=9, width=32, classes=10):
        super().__init__()
        self.encoder = encoder
        self.stage1 = Stage(blocks, width)
        with torch.no_grad():
            features = self.encoder(torch.ones(1, 1, 28, 28)).numel()
        self.classifier = nn.Sequential(nn.Linear(features, 10 * classes), nn.BatchNorm1d(10 * classes),
                                        nn.ReLU(True), nn.Linear(10 * classes, classes))

    def forward(self, x):
        x, residues = self.stage1(self.encoder(x))
        return self.classifier(x.view(x.size(0), -1)), residues


def autoencoder_halves(width=32):
    """utils.create_autoencoder(1, width, ds=True, bn=False): the encoder and decoder."""
    encoder = nn.Sequential(nn.Conv2d(1, width // 2, 3, 1, 1), nn.ReLU(True),
                            nn.Conv2d(width // 2, width, 5, 2, 2), nn.ReLU(True))
    decoder = nn.Sequential(nn.ConvTranspose2d(width, width // 2, 5, 2, 2, 1), nn.ReLU(True),
                            nn.ConvTranspose2d(width // 2, 1, 3, 1, 1), nn.Tanh())
    return encoder, decoder


def initialize_like_main(model, gain, learn_encoder):
    """main.py: initialize(orthogonal, gain) applied to the modules named with one dot."""
    def init(module):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    initialized = []
    for name, module in model.named_modules():
        if name.count(".") == 1 and (learn_encoder or "encoder" not in name):
            module.apply(init)
            initialized.append(name)
    return initialized


def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file (lap's checkpoints)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from read_safetensors import read
    tensors, _ = read(path)
    return {name: torch.tensor(values, dtype=torch.float32).reshape(shape) for name, (shape, values) in tensors.items()}


def lap_to_torch_name(name):
    """A lap checkpoint name (1-based Sequential positions) as the replica's parameter name:
    encoder.K -> encoder.K-1; block.1.{1,2,4} -> stage1.blocks.0.{cv1,bn2,cv2};
    block.k.{1,3,4,6} -> stage1.blocks.k-1.{bn1,cv1,bn2,cv2}; classifier.{2,3,5} -> classifier.{0,1,3}."""
    parts = name.split(".")
    if parts[0] == "encoder":
        return "encoder.%d.%s" % (int(parts[1]) - 1, parts[2])
    if parts[0] == "block":
        k, position = int(parts[1]), int(parts[2])
        layer = ({1: "cv1", 2: "bn2", 4: "cv2"} if k == 1 else {1: "bn1", 3: "cv1", 4: "bn2", 6: "cv2"})[position]
        return "stage1.blocks.%d.%s.%s" % (k - 1, layer, parts[3])
    if parts[0] == "classifier":
        return "classifier.%d.%s" % ({2: 0, 3: 1, 5: 3}[int(parts[1])], parts[2])
    raise KeyError(name)


def load_lap_weights(module, path, prefix=""):
    """Copies a lap checkpoint (the whole network, or with prefix "encoder." an
    encoder) into module, checking every name and shape."""
    state = module.state_dict()
    for name, tensor in read_safetensors(path).items():
        target = lap_to_torch_name(prefix + name)[len(prefix):]
        if target not in state or tuple(state[target].shape) != tuple(tensor.shape):
            raise SystemExit("%s: %s (%s) has no place in the replica's model" % (path, name, list(tensor.shape)))
        state[target].copy_(tensor)


def build_model(seed, gain, encoder_file):
    """The network as main.py builds it for the seed: (model, initialized module names)."""
    torch.manual_seed(seed)
    encoder, _decoder = autoencoder_halves()   # main.py builds both halves: the generator moves on
    if encoder_file:
        load_lap_weights(encoder, encoder_file, "encoder.")
        for p in encoder.parameters():
            p.requires_grad = False
    model = OneRepResNet(encoder)
    initialized = initialize_like_main(model, gain, learn_encoder=not encoder_file)
    return model, initialized


# ---------------------------------------------------------------- training (main.py's train/test)

def draw_loader_seed():
    """A DataLoader with workers draws its base seed from the global generator."""
    torch.empty((), dtype=torch.int64).random_()


def evaluate(model, x, y, batch=128):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            logits, _ = model(x[i:i + batch])
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def accuracy_with_batch_statistics(model, x, y, batch=1000):
    """Train-mode BatchNorm (each evaluation batch's own statistics), on a copy."""
    probe = copy.deepcopy(model)
    probe.train()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            logits, _ = probe(x[i:i + batch])
            correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def accuracy_with_recomputed_statistics(model, train_x, x, y):
    """Running statistics replaced by the plain average (momentum None) of the
    training subset's batch statistics under the current weights, on a copy."""
    probe = copy.deepcopy(model)
    for m in probe.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    probe.train()
    with torch.no_grad():
        for i in range(0, len(train_x), 128):
            probe(train_x[i:i + 128])
    return evaluate(probe, x, y)


def train_instance(method, train_x, train_y, test_x, test_y, seed, options):
    """One instance; returns the record's fields."""
    lambda0, tau, uzawa_steps = (options.lambda0, options.tau, options.steps) if method == "LAP" else (1, 0, 0)
    model, _ = build_model(seed, options.gain, options.encoder)
    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[150, 225, 250], gamma=0.1)
    uzawa = uzawa_steps > 0 and tau > 0
    lambda_loss = lambda0
    lambda_transport = 1 / lambda_loss if uzawa else 0
    iteration, metrics, n = 0, [], len(train_y)
    for epoch in range(options.epochs):
        model.train()
        draw_loader_seed()
        order = torch.randperm(n)                      # SubsetRandomSampler
        total, count = 0.0, 0
        for i in range(0, n, options.batch):
            rows = order[i:i + options.batch]
            x, y = train_x[rows], train_y[rows]
            iteration += 1
            optimizer.zero_grad()
            logits, residues = model(x)
            ce = F.cross_entropy(logits, y)
            if uzawa and iteration % uzawa_steps == 0:
                lambda_loss += tau * ce.item()
                lambda_transport = 1 / lambda_loss
            if lambda_transport > 0:
                loss = ce + lambda_transport * sum(torch.mean(torch.abs(r) ** 2) for r in residues)
            else:
                loss = ce
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(y), count + len(y)
        optimizer.zero_grad()
        draw_loader_seed()
        torch.randperm(len(test_y))                    # the validation loader's sampler
        entry = {"train_loss": total / count, "test_accuracy": evaluate(model, test_x, test_y),
                 "lambda": lambda_loss if uzawa else None}
        if options.bn_diagnostics:
            # On the first --diagnostics-images of the test half (the metric itself uses all of it).
            dx, dy = test_x[:options.diagnostics_images], test_y[:options.diagnostics_images]
            entry["test_accuracy_running_statistics_subset"] = evaluate(model, dx, dy)
            entry["test_accuracy_batch_statistics"] = accuracy_with_batch_statistics(model, dx, dy)
            entry["test_accuracy_recomputed_statistics"] = accuracy_with_recomputed_statistics(model, train_x, dx, dy)
        metrics.append(entry)
        scheduler.step()
    best = max(m["test_accuracy"] for m in metrics)
    record = {"best_accuracy": best, "epochs_metrics": metrics}
    if options.bn_diagnostics:
        for key in ("test_accuracy_running_statistics_subset", "test_accuracy_batch_statistics",
                    "test_accuracy_recomputed_statistics"):
            record["best_" + key[5:]] = max(m[key] for m in metrics)
    return record


# ---------------------------------------------------------------- sweep

def config_of(method, size, options):
    config = {"method": method, "train_size": size, "epochs": options.epochs, "protocol": "main",
              "implementation": "pytorch-replica"}
    if options.encoder:
        config["encoder"] = options.encoder
    if options.bn_diagnostics:
        config["bn_diagnostics"] = True
    return config


def key_of(record):
    return json.dumps(record["config"], sort_keys=True) + "#" + str(record["seed"])


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist", help="directory of MNIST's IDX files")
    p.add_argument("--sizes", default="100,200,300,400,500", help="training-set sizes, comma-separated")
    p.add_argument("--instances", type=int, default=2, help="seeds 0 .. N-1")
    p.add_argument("--seeds", default="", help="seeds, comma-separated (instead of --instances)")
    p.add_argument("--methods", default="ResNet,LAP")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--encoder", default="", help="lap's pretrained encoder (safetensors): main.py -lec 0")
    p.add_argument("--indices", default="", help="lap's --save-indices file; default: ask laprun for it")
    p.add_argument("--laprun", default=os.path.join(ROOT, "laprun"))
    p.add_argument("--out", default="results/mnist_table1_pytorch.jsonl")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--budget", type=float, default=0, help="minutes after which no instance starts")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lambda0", type=float, default=5)
    p.add_argument("--tau", type=float, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--gain", type=float, default=0.01)
    p.add_argument("--bn-diagnostics", action="store_true")
    p.add_argument("--diagnostics-images", type=int, default=1000,
                   help="test images (the first of the half) the BatchNorm diagnostics use")
    p.add_argument("--describe-model", action="store_true",
                   help="print the model's parameter count, shapes and initialized modules as JSON and exit")
    return p.parse_args()


def main():
    options = parse()
    torch.set_num_threads(options.threads)
    if options.describe_model:
        model, initialized = build_model(0, options.gain, options.encoder)
        print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()),
                          "shapes": {k: list(v.shape) for k, v in model.state_dict().items()
                                     if not k.endswith("num_batches_tracked")},
                          "initialized": initialized}))
        return
    sizes = [int(s) for s in options.sizes.split(",") if s.strip()]
    seeds = [int(s) for s in options.seeds.split(",")] if options.seeds else list(range(options.instances))
    methods = [m for m in options.methods.split(",") if m]
    for m in methods:
        if m not in ("ResNet", "LAP"):
            raise SystemExit("--methods: ResNet and/or LAP, got %s" % m)
    indices_file = options.indices
    if not indices_file:
        handle, indices_file = tempfile.mkstemp(suffix=".jsonl")
        os.close(handle)
        lap_indices(options.laprun, options.data, sizes, seeds, indices_file)
    indices = read_indices(indices_file)
    train_x, train_y, test_x, test_y = load_mnist(options.data)

    done = set()
    if os.path.exists(options.out):
        if options.resume:
            with open(options.out) as f:
                done = {key_of(json.loads(line)) for line in f if line.strip()}
        else:
            os.replace(options.out, options.out + ".previous")
    os.makedirs(os.path.dirname(os.path.abspath(options.out)), exist_ok=True)
    tasks = [(seed, size, method) for seed in seeds for size in sizes for method in methods]
    pending = [t for t in tasks if key_of({"config": config_of(t[2], t[1], options), "seed": t[0]}) not in done]
    print("lap_main_replica: %d instances, %d to run, torch %s, %d thread(s), results in %s"
          % (len(tasks), len(pending), torch.__version__, options.threads, options.out), file=sys.stderr)
    started = time.time()
    for k, (seed, size, method) in enumerate(pending):
        if options.budget > 0 and time.time() - started > options.budget * 60:
            print("lap_main_replica: budget spent, %d instances left (--resume goes on)" % (len(pending) - k),
                  file=sys.stderr)
            break
        if (size, seed) not in indices:
            raise SystemExit("%s has no rows for %d images, seed %d" % (indices_file, size, seed))
        train_rows, test_rows = indices[(size, seed)]
        t0 = time.time()
        result = train_instance(method, train_x[train_rows], train_y[train_rows], test_x[test_rows],
                                test_y[test_rows], seed, options)
        record = {"method": method, "train_size": size, "seed": seed, "best_accuracy": result["best_accuracy"],
                  "config": config_of(method, size, options), "train_count": len(train_rows),
                  "test_count": len(test_rows), "wall_time": time.time() - t0, "torch_version": torch.__version__}
        for key, value in result.items():
            record.setdefault(key, value)
        with open(options.out, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        elapsed = time.time() - started
        eta = elapsed / (k + 1) * (len(pending) - k - 1)
        print("[%d/%d] %s %d images seed %d: best accuracy %.2f %% (%.0fs; elapsed %.0fs, ETA %.0fs)"
              % (k + 1, len(pending), method, size, seed, 100 * result["best_accuracy"], record["wall_time"],
                 elapsed, eta), file=sys.stderr)


if __name__ == "__main__":
    main()
