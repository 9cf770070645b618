"""Reference values from PyTorch for tests/test_activations.cpp: every Keras activation's value and
gradient.

Usage: python3 activation_reference.py OUTDIR

Writes OUTDIR/<name>.txt for each activation, in the format of conv_reference.py ("name ndim d0
d1 ...", then the values, row-major, on one line): x (drawn in float32, [4, 96], spread over
[-14, 14] so that the tails where the functions saturate or underflow are in it), w (an upstream
gradient), y = activation(x) and dx, the gradient of sum(y * w), both computed in float64 from those
exact values.

Keras's constants: leaky_relu's slope 0.2 (F.leaky_relu's default is 0.01), elu's alpha 1, gelu in
its exact erf form (approximate="none"), swish = silu, softplus = ln(1 + e^x) (F.softplus with a
threshold past the inputs, so it never switches to x), softmax over the last axis.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_reference import rand, write_tensors  # noqa: E402

ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "elu": lambda x: F.elu(x, alpha=1.0),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "softplus": lambda x: F.softplus(x, beta=1.0, threshold=1e4),
    "swish": F.silu,
}


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    gen = torch.Generator().manual_seed(5)
    for name, f in ACTIVATIONS.items():
        x = rand(gen, 4, 96, lo=-14.0, hi=14.0)
        # Points near 0, where a relu's kink or a series' first terms are: a quarter of each row.
        x[:, :24] = rand(gen, 4, 24, lo=-0.5, hi=0.5)
        # No input within float rounding of relu's kink, whose side would decide the gradient.
        x = torch.where(x.abs() < 1e-3, torch.full_like(x, 1e-3), x).float().double().requires_grad_()
        w = rand(gen, 4, 96)
        y = f(x)
        (y * w).sum().backward()
        write_tensors(os.path.join(outdir, name + ".txt"), [("x", x), ("w", w), ("y", y), ("dx", x.grad)])


if __name__ == "__main__":
    main(sys.argv[1])
