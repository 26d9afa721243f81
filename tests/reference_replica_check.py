#!/usr/bin/python3
"""reference_replica_check.py: the checks of tests/test_reference_replica.sh.

    reference_replica_check.py make-data DIR   writes small MNIST-format IDX files
    reference_replica_check.py check TMP       checks the replica against lap's files in TMP"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLICA = os.path.join(ROOT, "bench", "reference", "lap_main_replica.py")
sys.path.insert(0, os.path.dirname(REPLICA))
TRAIN, TEST = 300, 40


def write_idx(path, array):
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(">%dI" % array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_data(directory):
    """Digits-like images: a class-dependent bright bar plus noise, so that 2 epochs move."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.RandomState(7)
    for prefix, n in (("train", TRAIN), ("t10k", TEST)):
        labels = rng.randint(0, 10, n)
        images = rng.randint(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c: 5 + 2 * c, 4:24] = 255
        write_idx(os.path.join(directory, prefix + "-images-idx3-ubyte"), images)
        write_idx(os.path.join(directory, prefix + "-labels-idx1-ubyte"), labels)


def fail(message):
    raise SystemExit("test_reference_replica: " + message)


def check(tmp):
    import torch
    import lap_main_replica as replica

    # 1. lap's rows: main.py's training subset for the seed, a test half, read back by the replica.
    indices = replica.read_indices(os.path.join(tmp, "indices.jsonl"))
    if sorted(indices) != [(50, 0), (50, 1), (60, 0), (60, 1)]:
        fail("indices file holds %s, expected sizes 50, 60 x seeds 0, 1" % sorted(indices))
    for (size, seed), (train_rows, test_rows) in indices.items():
        np.random.seed(seed)
        drawn = list(np.random.choice(range(TRAIN), size, False))   # dataloaders.py get_subset_loader
        if train_rows != drawn:
            fail("lap's %d rows for seed %d differ from main.py's np.random.choice draw" % (size, seed))
        if len(test_rows) != TEST // 2 or len(set(test_rows)) != TEST // 2 or not all(0 <= r < TEST for r in test_rows):
            fail("test half of seed %d: %d rows, expected %d distinct in [0, %d)" % (seed, len(test_rows), TEST // 2, TEST))
    if indices[(50, 0)][1] == indices[(50, 1)][1]:
        fail("seeds 0 and 1 drew the same test half")

    # 2. The model: lap's parameter count, every lap tensor in its place with its shape.
    with open(os.path.join(tmp, "lap_net.txt")) as f:
        lap_count = int(f.readline())
        lap_eval = torch.tensor([float(v) for v in f.readline().split()]).reshape(8, 10)
        lap_train = torch.tensor([float(v) for v in f.readline().split()]).reshape(8, 10)
    described = json.loads(subprocess.run([sys.executable, REPLICA, "--describe-model"], check=True,
                                          capture_output=True, text=True).stdout)
    if described["parameters"] != lap_count:
        fail("replica has %d parameters, lap %d" % (described["parameters"], lap_count))
    lap_tensors = replica.read_safetensors(os.path.join(tmp, "net.safetensors"))
    mapped = {replica.lap_to_torch_name(name): list(t.shape) for name, t in lap_tensors.items()}
    if mapped != described["shapes"]:
        only_lap = sorted(set(mapped) - set(described["shapes"]))
        only_torch = sorted(set(described["shapes"]) - set(mapped))
        differ = sorted(k for k in set(mapped) & set(described["shapes"]) if mapped[k] != described["shapes"][k])
        fail("layers differ: only in lap %s, only in the replica %s, shapes differ %s" % (only_lap, only_torch, differ))
    expected = ["encoder.0", "encoder.1", "encoder.2", "encoder.3", "stage1.blocks",
                "classifier.0", "classifier.1", "classifier.2", "classifier.3"]
    if described["initialized"] != expected:
        fail("initialized modules %s, main.py's one-dot rule gives %s" % (described["initialized"], expected))
    model, _ = replica.build_model(0, 0.01, "")
    for name, p in model.named_parameters():
        if p.dim() > 1:   # orthogonal, gain 0.01: rows (or columns) of norm 0.01
            w = p.detach().reshape(p.shape[0], -1)
            norms = (w.norm(dim=1) if w.shape[0] <= w.shape[1] else w.norm(dim=0))
            if (norms - 0.01).abs().max() > 1e-5:
                fail("%s is not orthogonal with gain 0.01 (norms %s)" % (name, norms[:4].tolist()))

    # -lec 0: lap's pretrained encoder loaded, frozen, left out of the initialization.
    encoder_file = os.path.join(tmp, "encoder.safetensors")
    frozen, initialized = replica.build_model(0, 0.01, encoder_file)
    if initialized != expected[4:]:
        fail("with a pretrained encoder, initialized %s" % initialized)
    for name, t in replica.read_safetensors(encoder_file).items():
        p = dict(frozen.named_parameters())[replica.lap_to_torch_name("encoder." + name)]
        if p.requires_grad or not torch.equal(p.detach(), t):
            fail("pretrained encoder: %s not loaded as lap saved it, or not frozen" % name)

    # 3. lap's weights in the replica's model give lap's logits (eval and train mode).
    test_x = replica.load_mnist(os.path.join(tmp, "mnist"))[2][:8]
    model = replica.OneRepResNet(replica.autoencoder_halves()[0])
    replica.load_lap_weights(model, os.path.join(tmp, "net.safetensors"))
    with torch.no_grad():
        model.eval()
        torch_eval = model(test_x)[0]
        model.train()
        torch_train = model(test_x)[0]
    for mode, a, b in (("eval", torch_eval, lap_eval), ("train", torch_train, lap_train)):
        error = ((a - b).abs().max() / b.abs().max()).item()
        print("test_reference_replica: %s-mode logits, largest difference %.2e of the largest logit" % (mode, error))
        if not error < 1e-4:
            fail("%s-mode logits differ from lap's by %.3g (relative), tolerance 1e-4" % (mode, error))

    # 4. A tiny run: records with lap's fields, on lap's rows; --resume adds nothing; --budget 0 runs all.
    out = os.path.join(tmp, "replica.jsonl")
    command = [sys.executable, REPLICA, "--data", os.path.join(tmp, "mnist"), "--indices",
               os.path.join(tmp, "indices.jsonl"), "--sizes", "50", "--instances", "2", "--epochs", "2",
               "--out", out, "--threads", "1"]
    run = subprocess.run(command, check=True, capture_output=True, text=True)
    progress = [line for line in run.stderr.splitlines() if line.startswith("[")]
    if len(progress) != 4:
        fail("expected 4 progress lines, got:\n" + run.stderr)
    with open(out) as f:
        records = [json.loads(line) for line in f]
    got = sorted((r["method"], r["train_size"], r["seed"]) for r in records)
    if got != [("LAP", 50, 0), ("LAP", 50, 1), ("ResNet", 50, 0), ("ResNet", 50, 1)]:
        fail("records %s" % got)
    for r in records:
        if r["config"]["method"] != r["method"] or r["config"]["train_size"] != 50 or len(r["epochs_metrics"]) != 2:
            fail("record fields: %s" % {k: r[k] for k in ("method", "config", "seed")})
        if (r["train_count"], r["test_count"]) != (50, TEST // 2) or not 0 <= r["best_accuracy"] <= 1:
            fail("record of seed %d: %d training rows, %d test rows, best %s"
                 % (r["seed"], r["train_count"], r["test_count"], r["best_accuracy"]))
        if r["best_accuracy"] != max(m["test_accuracy"] for m in r["epochs_metrics"]):
            fail("best_accuracy is not the highest epoch accuracy")
        lam = [m["lambda"] for m in r["epochs_metrics"]]
        if (r["method"] == "LAP") != (lam[0] == 5):
            fail("%s lambda after 1 step (of 5 between updates): %s" % (r["method"], lam))
    subprocess.run(command + ["--resume"], check=True, capture_output=True)
    with open(out) as f:
        if len(f.readlines()) != 4:
            fail("--resume ran recorded instances again")
    print("test_reference_replica: lap's rows (main.py's draw), %d parameters, shapes and one-dot "
          "initialization match; 4 records" % lap_count)


if __name__ == "__main__":
    if sys.argv[1] == "make-data":
        make_data(sys.argv[2])
    else:
        check(sys.argv[2])
