"""Reference values from PyTorch for the Resizing tests of tests/test_preprocessing_layers.cpp.

Usage: python3 resize_reference.py OUTDIR

Writes one file per case into OUTDIR in the format of conv_reference.py: x {N, H, W, C} (NHWC, as
myelin holds it), the upstream gradient w, y = interpolate(x) and dx = d sum(y * w) / dx.
interpolate(mode="bilinear", align_corners=False) without antialiasing is TensorFlow's half-pixel
bilinear resize, which Keras's Resizing calls; "nearest-exact" is TensorFlow's half-pixel nearest.
Inputs are drawn in float32 and every result is computed in float64 from those exact values.
"""
import os
import sys

import torch
import torch.nn.functional as F

from conv_reference import rand, write_tensors

CASES = [  # name, input {N, H, W, C}, output (height, width), mode
    ("bilinear_up", (2, 5, 4, 3), (9, 11), "bilinear"),
    ("bilinear_down", (2, 9, 8, 2), (4, 3), "bilinear"),
    ("nearest_up", (1, 3, 5, 2), (7, 8), "nearest-exact"),
    ("nearest_down", (2, 8, 7, 1), (3, 5), "nearest-exact"),
]


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    for name, shape, size, mode in CASES:
        x = rand(gen, *shape).requires_grad_(True)
        w = rand(gen, shape[0], size[0], size[1], shape[3])
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        y = F.interpolate(x.permute(0, 3, 1, 2), size=size, mode=mode, **kwargs).permute(0, 2, 3, 1)
        (y * w).sum().backward()
        write_tensors(os.path.join(out_dir, name + ".txt"), [("x", x), ("w", w), ("y", y), ("dx", x.grad)])


if __name__ == "__main__":
    main(sys.argv[1])
