"""Reference values from PyTorch for tests/test_pytorch_conv.cpp.

Usage: python3 conv_reference.py OUTDIR

Writes one file per case into OUTDIR, each a list of named tensors in the format of
mlp_reference.py ("name ndim d0 d1 ...", then the values, row-major, on one line).

Layouts: myelin is NHWC with Keras's kernel {kh, kw, in, out}; torch is NCHW with weight
{out, in, kh, kw}. Tensors are written in myelin's layout and permuted here, never in C++.
Keras's 'same' padding puts the odd row/column at the bottom/right, which torch's symmetric
padding argument cannot express, so inputs are padded explicitly with F.pad (zeros for
convolutions, -inf for max pooling; average pooling divides by the count of real pixels, as Keras).

Inputs and weights are drawn in float32 (what myelin holds); every result is computed in float64
from those exact values, so the reference carries no float32 rounding of its own.

Each case has an upstream gradient w, and the loss is sum(y * w): the gradients written are those
of that loss.
"""
import os
import sys

import torch
import torch.nn.functional as F


def write_tensors(path, tensors):
    with open(path, "w") as f:
        for name, t in tensors:
            t = t.detach().to(torch.float64).contiguous()
            f.write(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)}\n")
            f.write(" ".join(repr(float(v)) for v in t.reshape(-1).tolist()) + "\n")


def rand(gen, *shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo).double()


def same_pads(size, k, s, d):
    """Keras's 'same': (before, after) padding along one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def pad_nchw(x, kh, kw, sh, sw, dh, dw, value=0.0):
    pt, pb = same_pads(x.shape[2], kh, sh, dh)
    pl, pr = same_pads(x.shape[3], kw, sw, dw)
    return F.pad(x, (pl, pr, pt, pb), value=value)


def conv_case(gen, path, n, h, w, c, f, kh, kw, sh, sw, dh, dw, same, activation, use_bias):
    x = rand(gen, n, h, w, c).requires_grad_()
    k = rand(gen, kh, kw, c, f, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(gen, f, lo=-0.5, hi=0.5).requires_grad_()
    xin = nchw(x)
    if same:
        xin = pad_nchw(xin, kh, kw, sh, sw, dh, dw)
    z = F.conv2d(xin, k.permute(3, 2, 0, 1), b if use_bias else None, stride=(sh, sw), dilation=(dh, dw))
    y = nhwc(torch.relu(z) if activation == "relu" else torch.tanh(z) if activation == "tanh" else z)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    out = [("x", x), ("kernel", k), ("bias", b), ("w", up), ("y", y), ("dx", x.grad), ("dkernel", k.grad)]
    if use_bias:
        out.append(("dbias", b.grad))
    write_tensors(path, out)


def pool_case(gen, path, kind, n, h, w, c, ph, pw, sh, sw, same):
    # Distinct values well apart, so each max is unique and the gradient well defined.
    x = (torch.randperm(n * h * w * c, generator=gen).double() * 0.01 - 1.0).reshape(n, h, w, c).requires_grad_()
    xin = nchw(x)
    if kind == "max":
        if same:
            xin = pad_nchw(xin, ph, pw, sh, sw, 1, 1, value=float("-inf"))
        y = F.max_pool2d(xin, (ph, pw), (sh, sw))
    else:
        ones = torch.ones_like(xin)
        if same:
            xin = pad_nchw(xin, ph, pw, sh, sw, 1, 1)
            ones = pad_nchw(ones, ph, pw, sh, sw, 1, 1)
        y = F.avg_pool2d(xin, (ph, pw), (sh, sw)) / F.avg_pool2d(ones, (ph, pw), (sh, sw))
    y = nhwc(y)
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    write_tensors(path, [("x", x), ("w", up), ("y", y), ("dx", x.grad)])


def global_case(gen, path):
    x = rand(gen, 3, 5, 4, 6).requires_grad_()
    ya = x.mean(dim=(1, 2))
    ym = x.amax(dim=(1, 2))
    wa = rand(gen, *ya.shape)
    wm = rand(gen, *ym.shape)
    (ya * wa).sum().backward()
    dxa = x.grad.clone()
    x.grad = None
    (ym * wm).sum().backward()
    write_tensors(path, [("x", x), ("wa", wa), ("ya", ya), ("dxa", dxa), ("wm", wm), ("ym", ym), ("dxm", x.grad)])


def batchnorm_case(gen, path, shape, momentum, eps):
    """Training step (batch statistics) and inference (moving statistics) of Keras's BatchNormalization."""
    c = shape[-1]
    x = rand(gen, *shape, lo=-2.0, hi=3.0).requires_grad_()
    gamma = rand(gen, c, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(gen, c, lo=-0.5, hi=0.5).requires_grad_()
    mm = rand(gen, c, lo=-0.5, hi=0.5)
    mv = rand(gen, c, lo=0.5, hi=1.5)
    flat = x.reshape(-1, c)
    # torch normalises with the biased variance in training, as Keras does.
    y = F.batch_norm(flat, None, None, gamma, beta, training=True, eps=eps).reshape(shape)
    up = rand(gen, *shape)
    (y * up).sum().backward()
    # Keras's moving update: moving * momentum + batch * (1 - momentum), with the biased batch variance.
    batch_mean = flat.mean(0)
    batch_var = flat.var(0, unbiased=False)
    new_mm = mm * momentum + batch_mean * (1 - momentum)
    new_mv = mv * momentum + batch_var * (1 - momentum)
    y_inf = F.batch_norm(flat, mm, mv, gamma, beta, training=False, eps=eps).reshape(shape)
    write_tensors(path, [("x", x), ("gamma", gamma), ("beta", beta), ("moving_mean", mm), ("moving_variance", mv),
                         ("w", up), ("y", y), ("dx", x.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad),
                         ("new_moving_mean", new_mm), ("new_moving_variance", new_mv), ("y_inference", y_inf)])


def cnn_case(gen, path):
    """Conv2D(4, 3x3, relu) -> MaxPooling2D(2) -> Conv2D(6, 2x2, 'same', stride 2) -> BatchNormalization
    -> Flatten -> Dense(3, softmax), sparse categorical cross-entropy (mean over the batch), on 5
    images 9x8x2. The weights are written under myelin's parameter names."""
    n = 5
    x = rand(gen, n, 9, 8, 2)
    labels = torch.randint(0, 3, (n,), generator=gen)
    k1 = rand(gen, 3, 3, 2, 4, lo=-0.5, hi=0.5).requires_grad_()
    b1 = rand(gen, 4, lo=-0.1, hi=0.1).requires_grad_()
    k2 = rand(gen, 2, 2, 4, 6, lo=-0.5, hi=0.5).requires_grad_()
    b2 = rand(gen, 6, lo=-0.1, hi=0.1).requires_grad_()
    gamma = rand(gen, 6, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(gen, 6, lo=-0.5, hi=0.5).requires_grad_()
    mm = torch.zeros(6, dtype=torch.float64)
    mv = torch.ones(6, dtype=torch.float64)
    dk = rand(gen, 2 * 2 * 6, 3, lo=-0.5, hi=0.5).requires_grad_()
    db = rand(gen, 3, lo=-0.1, hi=0.1).requires_grad_()

    def forward(training):
        h = torch.relu(F.conv2d(nchw(x), k1.permute(3, 2, 0, 1), b1))  # 7x6x4
        h = F.max_pool2d(h, 2)                                         # 3x3x4
        h = F.conv2d(pad_nchw(h, 2, 2, 2, 2, 1, 1), k2.permute(3, 2, 0, 1), b2, stride=2)  # 2x2x6
        h = nhwc(h)
        flat = h.reshape(-1, 6)
        flat = F.batch_norm(flat, None if training else mm, None if training else mv, gamma, beta,
                            training=training, eps=1e-3)
        h = flat.reshape(n, -1)  # NHWC order, as myelin's Flatten
        return h @ dk + db

    logits = forward(True)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    params = [("conv2d/kernel", k1), ("conv2d/bias", b1), ("conv2d_1/kernel", k2), ("conv2d_1/bias", b2),
              ("batch_normalization/gamma", gamma), ("batch_normalization/beta", beta),
              ("dense/kernel", dk), ("dense/bias", db)]
    out = [("x", x), ("y", labels.double()), ("loss", loss.reshape(1)),
           ("pred_inference", torch.softmax(forward(False), dim=1))]
    out += [("w0/" + name, p) for name, p in params]
    out += [("grad/" + name, p.grad) for name, p in params]
    write_tensors(path, out)


def residual_case(gen, path):
    """A residual block with batch normalisation, as a functional myelin model builds it:
    x -> Conv2D(16, 3x3, 'same', no bias) -> BatchNormalization -> relu -> Conv2D(16, 3x3, 'same', no
    bias) -> BatchNormalization, added to x, relu -> GlobalAveragePooling2D -> Dense(4, softmax),
    sparse categorical cross-entropy (mean over the batch), on 16 images 8x9x16 (a shape myelin
    may run as Winograd). Both batch normalisations have momentum 0 and epsilon 1e-3, so that after
    one training step their moving statistics are that step's batch statistics (mean and biased
    variance). Written: the inference-mode prediction with the given moving statistics
    (pred_inference), the training-mode prediction with batch statistics (pred_training), the
    training loss, every weight's gradient, and each normalisation's batch statistics."""
    n, h, w, c, k = 16, 8, 9, 16, 4
    x = rand(gen, n, h, w, c)
    labels = torch.randint(0, k, (n,), generator=gen)
    k1 = rand(gen, 3, 3, c, c, lo=-0.25, hi=0.25).requires_grad_()
    g1 = rand(gen, c, lo=0.5, hi=1.5).requires_grad_()
    b1 = rand(gen, c, lo=-0.5, hi=0.5).requires_grad_()
    mm1, mv1 = rand(gen, c, lo=-0.2, hi=0.2), rand(gen, c, lo=0.5, hi=2.0)
    k2 = rand(gen, 3, 3, c, c, lo=-0.25, hi=0.25).requires_grad_()
    g2 = rand(gen, c, lo=0.5, hi=1.5).requires_grad_()
    b2 = rand(gen, c, lo=-0.5, hi=0.5).requires_grad_()
    mm2, mv2 = rand(gen, c, lo=-0.2, hi=0.2), rand(gen, c, lo=0.5, hi=2.0)
    dk = rand(gen, c, k, lo=-1.0, hi=1.0).requires_grad_()
    db = rand(gen, k, lo=-0.1, hi=0.1).requires_grad_()

    def batch_norm(t, gamma, beta, mm, mv, training, stats):
        if training:
            stats += [t.mean(dim=(0, 2, 3)), t.var(dim=(0, 2, 3), unbiased=False)]
        return F.batch_norm(t, None if training else mm, None if training else mv, gamma, beta,
                            training=training, eps=1e-3)

    def forward(training, stats):
        xc = nchw(x)
        t = F.conv2d(pad_nchw(xc, 3, 3, 1, 1, 1, 1), k1.permute(3, 2, 0, 1))
        t = torch.relu(batch_norm(t, g1, b1, mm1, mv1, training, stats))
        t = F.conv2d(pad_nchw(t, 3, 3, 1, 1, 1, 1), k2.permute(3, 2, 0, 1))
        t = torch.relu(batch_norm(t, g2, b2, mm2, mv2, training, stats) + xc)
        return t.mean(dim=(2, 3)) @ dk + db

    stats = []
    logits = forward(True, stats)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    params = [("conv2d/kernel", k1), ("batch_normalization/gamma", g1), ("batch_normalization/beta", b1),
              ("conv2d_1/kernel", k2), ("batch_normalization_1/gamma", g2), ("batch_normalization_1/beta", b2),
              ("dense/kernel", dk), ("dense/bias", db)]
    moving = [("batch_normalization/moving_mean", mm1), ("batch_normalization/moving_variance", mv1),
              ("batch_normalization_1/moving_mean", mm2), ("batch_normalization_1/moving_variance", mv2)]
    out = [("x", x), ("y", labels.double()), ("loss", loss.reshape(1)),
           ("pred_training", torch.softmax(logits, dim=1)),
           ("pred_inference", torch.softmax(forward(False, []), dim=1))]
    out += [("w0/" + name, p) for name, p in params + moving]
    out += [("grad/" + name, p.grad) for name, p in params]
    out += [("batch/" + name, s) for (name, _), s in zip(moving, stats)]
    write_tensors(path, out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20240607)
    conv_cases = [
        # name, n, h, w, c, f, kh, kw, sh, sw, dh, dw, same, activation, use_bias
        ("conv_valid_3x3", 2, 7, 9, 3, 5, 3, 3, 1, 1, 1, 1, False, "linear", True),
        ("conv_same_even_stride2", 3, 8, 7, 4, 6, 2, 2, 2, 2, 1, 1, True, "relu", True),
        ("conv_one_channel_same_dilated", 2, 9, 6, 1, 3, 3, 2, 1, 1, 2, 2, True, "tanh", True),
        ("conv_many_channels_stride21", 2, 6, 5, 24, 20, 3, 3, 2, 1, 1, 1, False, "linear", False),
        ("conv_same_4x4_stride3", 2, 10, 11, 3, 4, 4, 4, 3, 3, 1, 1, True, "relu", True),
        # Shapes myelin runs with oneDNN's Winograd kernel (3x3, stride 1, 16-channel blocks,
        # batch >= 16, >= 64 output positions).
        ("conv_winograd_valid_relu", 16, 12, 10, 16, 32, 3, 3, 1, 1, 1, 1, False, "relu", True),
        ("conv_winograd_same", 16, 9, 11, 32, 16, 3, 3, 1, 1, 1, 1, True, "linear", False),
    ]
    for case in conv_cases:
        conv_case(gen, os.path.join(outdir, case[0] + ".txt"), *case[1:])
    pool_cases = [
        ("max_valid_2x2", "max", 2, 7, 9, 3, 2, 2, 2, 2, False),
        ("max_same_3x3_stride2", "max", 2, 8, 7, 2, 3, 3, 2, 2, True),
        ("avg_same_2x2", "avg", 2, 5, 7, 3, 2, 2, 2, 2, True),
        ("avg_valid_3x2_stride1", "avg", 2, 6, 5, 1, 3, 2, 1, 1, False),
    ]
    for case in pool_cases:
        pool_case(gen, os.path.join(outdir, case[0] + ".txt"), *case[1:])
    global_case(gen, os.path.join(outdir, "global.txt"))
    batchnorm_case(gen, os.path.join(outdir, "bn_dense.txt"), (6, 5), 0.9, 1e-3)
    batchnorm_case(gen, os.path.join(outdir, "bn_image.txt"), (3, 4, 5, 7), 0.99, 1e-5)
    cnn_case(gen, os.path.join(outdir, "cnn.txt"))
    residual_case(gen, os.path.join(outdir, "residual.txt"))


if __name__ == "__main__":
    main()
