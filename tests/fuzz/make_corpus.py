#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpora of the fuzz targets (tests/fuzz/corpus/).

Run from the repository root with a built ./laprun (for the checkpoints):
    python3 tests/fuzz/make_corpus.py
Uses only the standard library (struct, zlib, gzip, json)."""
import gzip
import json
import os
import struct
import subprocess
import zlib

ROOT = os.path.join("tests", "fuzz", "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes((i * 37) % 256 for i in range(n * rows * cols))


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def two_files(first, second):
    # fuzz_idx and fuzz_cifar_png read a 16-bit little-endian length, then the two files.
    return struct.pack("<H", len(first)) + first + second


put("fuzz_idx", "plain", two_files(idx_images(3, 4, 5), idx_labels(3)))
put("fuzz_idx", "gzip", two_files(gzip.compress(idx_images(2, 3, 3)), gzip.compress(idx_labels(2))))
put("fuzz_idx", "wrong-magic", two_files(struct.pack(">IIII", 0x804, 1, 1, 1) + b"\0", idx_labels(1)))

put("fuzz_cifar", "cifar10-one", bytes([3]) + bytes((i * 7) % 256 for i in range(3072)))
put("fuzz_cifar", "cifar100-one", bytes([1, 42]) + bytes((i * 5) % 256 for i in range(3072)))


def png(width, height, rows, color_type=2, depth=8):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


put("fuzz_png", "rgb-3x2", png(3, 2, [bytes(range(9)), bytes(range(9, 18))]))
put("fuzz_png", "grey-2x2", png(2, 2, [b"\x00\xff", b"\x80\x40"], color_type=0))
put("fuzz_png", "rgba-1x1", png(1, 1, [b"\x10\x20\x30\x80"], color_type=6))

sheet = png(1024, 2, [bytes((i * 3 + r) % 256 for i in range(3072)) for r in range(2)])
put("fuzz_cifar_png", "two-rows", two_files(sheet, b"[3, 7]"))
put("fuzz_cifar_png", "grey-one-row", two_files(png(1024, 1, [bytes(1024)], color_type=0), b"[0]"))

nets = {
    "linear": "lap.nn.Linear(2, 3)",
    "resnet-bn": "lap.nn.ResNet{blocks = 2, block = function() return lap.nn.Sequential{lap.nn.Linear(2, 2), "
                 "lap.nn.BatchNorm(2), lap.nn.ReLU()} end, classifier = lap.nn.Linear(2, 2):freeze()}",
    "conv": "lap.nn.Sequential{lap.nn.Conv2d(1, 2, 3, {padding = 1}), lap.nn.MaxPool2d(2), lap.nn.Flatten()}",
}
os.makedirs(os.path.join(ROOT, "fuzz_safetensors"), exist_ok=True)
for name, code in nets.items():
    path = os.path.join(ROOT, "fuzz_safetensors", name)
    subprocess.run(["./laprun", "-e", "(%s):save('%s')" % (code, path)], check=True)
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    put("fuzz_architecture", name, header["__metadata__"]["lap.architecture"].encode())
