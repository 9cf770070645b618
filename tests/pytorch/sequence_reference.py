"""Reference values from PyTorch for the sequence layers' tests (tests/test_sequence_conv.cpp).

Usage: python3 sequence_reference.py OUTDIR

Writes one file per case into OUTDIR in the format of conv_reference.py (whose helpers it uses).

Layouts: myelin's sequences are (batch, steps, channels) with Keras's Conv1D kernel {k, in, out};
torch's are (batch, channels, steps) with weight {out, in, k}. Tensors are written in myelin's layout
and permuted here. Keras's 'same' padding puts the odd step at the end and 'causal' pads
(k - 1) * dilation steps in front only; neither is torch's symmetric padding argument, so inputs
are padded explicitly with F.pad (zeros for convolutions, -inf for max pooling; average pooling
divides by the count of real steps, as Keras).

Inputs and weights are drawn in float32; results are computed in float64 from those exact values.
Each case has an upstream gradient w, and the loss is sum(y * w).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_reference import rand, same_pads, write_tensors  # noqa: E402


def ncl(x):
    return x.permute(0, 2, 1)


def nlc(x):
    return x.permute(0, 2, 1)


def pad_steps(x, k, s, d, padding, value=0.0):
    """x in (N, C, L), padded along L as Keras's padding mode asks."""
    if padding == "causal":
        return F.pad(x, ((k - 1) * d, 0), value=value)
    if padding == "same":
        return F.pad(x, same_pads(x.shape[2], k, s, d), value=value)
    return x


def conv_case(gen, path, n, steps, c, f, k, s, d, padding, activation, use_bias):
    x = rand(gen, n, steps, c).requires_grad_()
    kernel = rand(gen, k, c, f, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(gen, f, lo=-0.5, hi=0.5).requires_grad_()
    z = F.conv1d(pad_steps(ncl(x), k, s, d, padding), kernel.permute(2, 1, 0), b if use_bias else None,
                 stride=s, dilation=d)
    y = nlc(torch.relu(z) if activation == "relu" else torch.tanh(z) if activation == "tanh" else z)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    out = [("x", x), ("kernel", kernel), ("bias", b), ("w", up), ("y", y), ("dx", x.grad), ("dkernel", kernel.grad)]
    if use_bias:
        out.append(("dbias", b.grad))
    write_tensors(path, out)


def pool_case(gen, path, kind, n, steps, c, p, s, same):
    # Distinct values well apart, so each max is unique and the gradient well defined.
    x = (torch.randperm(n * steps * c, generator=gen).double() * 0.01 - 1.0).reshape(n, steps, c).requires_grad_()
    xin = ncl(x)
    padding = "same" if same else "valid"
    if kind == "max":
        y = F.max_pool1d(pad_steps(xin, p, s, 1, padding, value=float("-inf")), p, s)
    else:
        ones = torch.ones_like(xin)
        y = F.avg_pool1d(pad_steps(xin, p, s, 1, padding), p, s) / F.avg_pool1d(pad_steps(ones, p, s, 1, padding), p, s)
    y = nlc(y)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    write_tensors(path, [("x", x), ("w", up), ("y", y), ("dx", x.grad)])


def global_case(gen, path):
    x = rand(gen, 3, 7, 5).requires_grad_()
    ya = x.mean(dim=1)
    ym = x.amax(dim=1)
    wa = rand(gen, *ya.shape)
    wm = rand(gen, *ym.shape)
    (ya * wa).sum().backward()
    dxa = x.grad.clone()
    x.grad = None
    (ym * wm).sum().backward()
    write_tensors(path, [("x", x), ("wa", wa), ("ya", ya), ("dxa", dxa), ("wm", wm), ("ym", ym), ("dxm", x.grad)])


def upsampling_case(gen, path, size):
    x = rand(gen, 2, 5, 3).requires_grad_()
    y = torch.repeat_interleave(x, size, dim=1)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    write_tensors(path, [("x", x), ("w", up), ("y", y), ("dx", x.grad)])


def model_case(gen, path):
    """Conv1D(6, 3, causal, dilation 2, relu) -> MaxPooling1D(2) -> Conv1D(5, 4, 'same', stride 2)
    -> GlobalAveragePooling1D -> Dense(3, softmax), sparse categorical cross-entropy (mean over the
    batch), on 4 sequences of 13 steps and 3 channels. Weights under myelin's parameter names."""
    n = 4
    x = rand(gen, n, 13, 3)
    labels = torch.randint(0, 3, (n,), generator=gen)
    k1 = rand(gen, 3, 3, 6, lo=-0.5, hi=0.5).requires_grad_()
    b1 = rand(gen, 6, lo=-0.1, hi=0.1).requires_grad_()
    k2 = rand(gen, 4, 6, 5, lo=-0.5, hi=0.5).requires_grad_()
    b2 = rand(gen, 5, lo=-0.1, hi=0.1).requires_grad_()
    dk = rand(gen, 5, 3, lo=-0.5, hi=0.5).requires_grad_()
    db = rand(gen, 3, lo=-0.1, hi=0.1).requires_grad_()

    h = torch.relu(F.conv1d(pad_steps(ncl(x), 3, 1, 2, "causal"), k1.permute(2, 1, 0), b1, dilation=2))  # 13
    h = F.max_pool1d(h, 2)                                                                               # 6
    h = F.conv1d(pad_steps(h, 4, 2, 1, "same"), k2.permute(2, 1, 0), b2, stride=2)                     # 3
    logits = h.mean(dim=2) @ dk + db
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    params = [("conv1d/kernel", k1), ("conv1d/bias", b1), ("conv1d_1/kernel", k2), ("conv1d_1/bias", b2),
              ("dense/kernel", dk), ("dense/bias", db)]
    out = [("x", x), ("y", labels.double()), ("loss", loss.reshape(1)), ("pred", torch.softmax(logits, dim=1))]
    out += [("w0/" + name, p) for name, p in params]
    out += [("grad/" + name, p.grad) for name, p in params]
    write_tensors(path, out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20261201)
    conv_cases = [
        # name, n, steps, c, f, k, s, d, padding, activation, use_bias
        ("conv1d_valid_k3", 2, 11, 4, 5, 3, 1, 1, "valid", "linear", True),
        ("conv1d_same_even_stride2", 3, 10, 3, 6, 4, 2, 1, "same", "relu", True),
        ("conv1d_causal_dilated", 2, 12, 2, 3, 3, 1, 2, "causal", "tanh", True),
        ("conv1d_causal_stride3", 2, 11, 5, 4, 2, 3, 1, "causal", "linear", False),
        ("conv1d_same_dilated_one_channel", 2, 9, 1, 4, 3, 1, 3, "same", "relu", True),
        ("conv1d_many_channels", 3, 20, 24, 32, 5, 1, 1, "valid", "linear", True),
    ]
    for case in conv_cases:
        conv_case(gen, os.path.join(outdir, case[0] + ".txt"), *case[1:])
    pool_cases = [
        # name, kind, n, steps, c, pool, stride, same
        ("max1d_valid_2", "max", 2, 9, 3, 2, 2, False),
        ("max1d_same_3_stride2", "max", 2, 8, 2, 3, 2, True),
        ("avg1d_same_2", "avg", 2, 7, 3, 2, 2, True),
        ("avg1d_valid_3_stride1", "avg", 2, 6, 1, 3, 1, False),
        ("avg1d_same_4_stride3", "avg", 2, 11, 4, 4, 3, True),
    ]
    for case in pool_cases:
        pool_case(gen, os.path.join(outdir, case[0] + ".txt"), *case[1:])
    global_case(gen, os.path.join(outdir, "global1d.txt"))
    upsampling_case(gen, os.path.join(outdir, "upsampling1d_3.txt"), 3)
    model_case(gen, os.path.join(outdir, "sequence_model.txt"))


if __name__ == "__main__":
    main()
