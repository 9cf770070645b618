#!/usr/bin/python3
"""Reads a safetensors file with the standard library and numpy alone (no myelin code) and prints
every tensor as `name shape sum first-value`, one per line, then the metadata keys.

    /usr/bin/python3 read_safetensors.py FILE
"""
import json
import struct
import sys

import numpy as np


def main(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    for name, info in header.items():
        assert info["dtype"] == "F32", info
        begin, end = info["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
        first = values.flat[0] if values.size else 0.0
        print(f"{name} {'x'.join(map(str, info['shape']))} {values.astype(np.float64).sum():.9g} {first:.9g}")
    print("metadata " + ",".join(sorted(meta)))


if __name__ == "__main__":
    main(sys.argv[1])
