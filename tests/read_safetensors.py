#!/usr/bin/env python3
"""read_safetensors.py: reads a safetensors file with nothing but the format
specification (json + struct) and prints one line per tensor:
    <name> <shape as d1xd2...> <sum of the values, %.9g>
and, with --meta, the __metadata__ keys.  Used by tests/test_checkpoint.lua to
check that lap writes files other readers understand."""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise SystemExit("header length %d larger than the file" % n)
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        assert end - begin == 4 * count and end <= len(data), name
        values = struct.unpack("<%df" % count, data[begin:end])
        tensors[name] = (info["shape"], values)
    return tensors, meta


def main():
    tensors, meta = read(sys.argv[1])
    for name in sorted(tensors):
        shape, values = tensors[name]
        print("%s %s %.9g" % (name, "x".join(str(d) for d in shape) or "scalar", sum(values)))
    if "--meta" in sys.argv:
        for key in sorted(meta):
            print("meta %s" % key)


if __name__ == "__main__":
    main()
