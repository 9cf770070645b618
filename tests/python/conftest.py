"""Shared helpers of the Python tests. Run them with the built package on the path:
PYTHONPATH=<build>/python /usr/bin/python3 -m pytest tests/python (ctest does this)."""
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import myelin

SOURCE_DIR = Path(__file__).resolve().parents[2]
BUILD_PYTHON_DIR = Path(myelin._myelin.__file__).resolve().parents[1]


def read_safetensors(path):
    """The tensors of a safetensors file, read with numpy alone (independent of myelin's reader)."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[base + begin:base + end], dtype="<f4").reshape(info["shape"])
    return out


def cpp_reference_program():
    """The C++ helper built with the package (tests/python/cpp_reference.cpp), or skip."""
    path = os.environ.get("MYELIN_CPP_REFERENCE") or str(BUILD_PYTHON_DIR / "myelin_cpp_reference")
    if not Path(path).is_file():
        pytest.skip("myelin_cpp_reference is not built (configure with MYELIN_BUILD_TESTS=ON)")
    return path


@pytest.fixture
def seeded():
    myelin.set_random_seed(7)
    yield
    myelin.set_random_seed(0)
