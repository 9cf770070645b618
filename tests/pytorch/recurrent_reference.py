"""Reference values from PyTorch for the recurrent layers (tests/test_recurrent.cpp).

Usage: python3 recurrent_reference.py OUTDIR

Writes one file per case into OUTDIR, in the format of conv_reference.py. Every tensor is written
in Keras's layout, which myelin keeps: kernel (features, G*units), recurrent_kernel (units,
G*units), bias (G*units), or for GRU (2, 3*units), the input bias then the recurrent one. torch's
nn.RNN, nn.LSTM and nn.GRU hold the transposes, (G*units, features) and (G*units, units), with two
biases; the conversion happens here, never in C++:
  - gate order: LSTM is i, f, c, o in both; Keras's GRU is z, r, h where torch's is r, z, n;
  - SimpleRNN and LSTM have one bias in Keras: torch's bias_ih takes it and bias_hh is zero (its
    gradient equals bias_ih's, so the bias gradient written is bias_ih's);
  - go_backwards: Keras runs the steps from the last and returns them in the order they ran, which
    is torch run on the input flipped in time.

Inputs and weights are drawn in float32 (what myelin holds); the results are computed in float64
from those exact values. Each case has an upstream gradient w and the loss sum(y * w). The Bidirectional cases hold each
direction's weights and gradients under forward/ and backward/ (d-prefixed for gradients). The state
cases add an initial state (h0, c0) and the final state (h, c) with their gradients; the
Bidirectional state cases each direction's final state (h_forward, c_forward, h_backward, c_backward).
"""
import os
import sys

import torch

from conv_reference import rand, write_tensors

# torch's gate at position k is Keras's gate PERM[k]
PERM = {"rnn": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}


def to_torch(w, cell, units):
    """Keras (rows, G*units) -> torch (G*units, rows), gates in torch's order."""
    return torch.cat([w[..., g * units:(g + 1) * units] for g in PERM[cell]], dim=-1).transpose(-1, -2)


def to_keras(w, cell, units):
    """torch (G*units, rows) -> Keras (rows, G*units)."""
    w = w.transpose(-1, -2)
    blocks = [None] * len(PERM[cell])
    for k, g in enumerate(PERM[cell]):
        blocks[g] = w[..., k * units:(k + 1) * units]
    return torch.cat(blocks, dim=-1)


def case(gen, path, cell, batch, steps, features, units, return_sequences, go_backwards, use_bias=True,
         nonlinearity="tanh"):
    gates = len(PERM[cell])
    n = gates * units
    x = rand(gen, batch, steps, features).requires_grad_()
    kernel = rand(gen, features, n, lo=-0.6, hi=0.6)
    recurrent = rand(gen, units, n, lo=-0.6, hi=0.6)
    bias = rand(gen, *((2, n) if cell == "gru" else (n,)), lo=-0.5, hi=0.5)

    if cell == "rnn":
        module = torch.nn.RNN(features, units, nonlinearity=nonlinearity, bias=use_bias, batch_first=True)
    elif cell == "lstm":
        module = torch.nn.LSTM(features, units, bias=use_bias, batch_first=True)
    else:
        module = torch.nn.GRU(features, units, bias=use_bias, batch_first=True)
    module = module.double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(to_torch(kernel, cell, units))
        module.weight_hh_l0.copy_(to_torch(recurrent, cell, units))
        if use_bias:
            if cell == "gru":
                module.bias_ih_l0.copy_(to_torch(bias[0:1], cell, units).reshape(-1))
                module.bias_hh_l0.copy_(to_torch(bias[1:2], cell, units).reshape(-1))
            else:
                module.bias_ih_l0.copy_(to_torch(bias.reshape(1, -1), cell, units).reshape(-1))
                module.bias_hh_l0.zero_()

    seq = torch.flip(x, [1]) if go_backwards else x
    out = module(seq)[0]  # (batch, steps, units), in the order the steps ran
    y = out if return_sequences else out[:, -1]
    up = rand(gen, *y.shape)
    (y * up).sum().backward()

    result = [("x", x), ("kernel", kernel), ("recurrent_kernel", recurrent), ("w", up), ("y", y), ("dx", x.grad),
              ("dkernel", to_keras(module.weight_ih_l0.grad, cell, units)),
              ("drecurrent_kernel", to_keras(module.weight_hh_l0.grad, cell, units))]
    if use_bias:
        result.append(("bias", bias))
        if cell == "gru":
            db = torch.stack([to_keras(module.bias_ih_l0.grad.reshape(-1, 1), cell, units).reshape(-1),
                              to_keras(module.bias_hh_l0.grad.reshape(-1, 1), cell, units).reshape(-1)])
        else:
            db = to_keras(module.bias_ih_l0.grad.reshape(-1, 1), cell, units).reshape(-1)
        result.append(("dbias", db))
    write_tensors(path, result)


def set_direction(module, suffix, cell, units, kernel, recurrent, bias):
    """One direction's weights of a torch module from Keras's layout (suffix '' or '_reverse')."""
    with torch.no_grad():
        getattr(module, "weight_ih_l0" + suffix).copy_(to_torch(kernel, cell, units))
        getattr(module, "weight_hh_l0" + suffix).copy_(to_torch(recurrent, cell, units))
        if cell == "gru":
            getattr(module, "bias_ih_l0" + suffix).copy_(to_torch(bias[0:1], cell, units).reshape(-1))
            getattr(module, "bias_hh_l0" + suffix).copy_(to_torch(bias[1:2], cell, units).reshape(-1))
        else:
            getattr(module, "bias_ih_l0" + suffix).copy_(to_torch(bias.reshape(1, -1), cell, units).reshape(-1))
            getattr(module, "bias_hh_l0" + suffix).zero_()


def direction_grads(module, suffix, cell, units):
    ih = getattr(module, "bias_ih_l0" + suffix).grad.reshape(-1, 1)
    hh = getattr(module, "bias_hh_l0" + suffix).grad.reshape(-1, 1)
    db = to_keras(ih, cell, units).reshape(-1)
    if cell == "gru":
        db = torch.stack([db, to_keras(hh, cell, units).reshape(-1)])
    return (to_keras(getattr(module, "weight_ih_l0" + suffix).grad, cell, units),
            to_keras(getattr(module, "weight_hh_l0" + suffix).grad, cell, units), db)


def bidirectional_case(gen, path, cell, batch, steps, features, units, return_sequences, merge_mode):
    """Keras's Bidirectional against torch's bidirectional=True module: torch's reverse direction is
    Keras's backward layer with its steps put back in time order, so output[:, t, units:] is the
    backward state at step t, and the backward layer's last state is output[:, 0, units:]."""
    n = len(PERM[cell]) * units
    x = rand(gen, batch, steps, features).requires_grad_()
    weights = {}
    for d in ("forward", "backward"):
        weights[d] = (rand(gen, features, n, lo=-0.6, hi=0.6), rand(gen, units, n, lo=-0.6, hi=0.6),
                      rand(gen, *((2, n) if cell == "gru" else (n,)), lo=-0.5, hi=0.5))
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True, bidirectional=True).double()
    set_direction(module, "", cell, units, *weights["forward"])
    set_direction(module, "_reverse", cell, units, *weights["backward"])
    out = module(x)[0]
    f, b = out[..., :units], out[..., units:]
    if not return_sequences:
        f, b = f[:, -1], b[:, 0]
    y = {"concat": lambda: torch.cat([f, b], dim=-1), "sum": lambda: f + b, "mul": lambda: f * b,
         "ave": lambda: (f + b) / 2}[merge_mode]()
    up = rand(gen, *y.shape)
    (y * up).sum().backward()
    result = [("x", x), ("w", up), ("y", y), ("dx", x.grad)]
    for d, suffix in (("forward", ""), ("backward", "_reverse")):
        result += [(f"{d}/kernel", weights[d][0]), (f"{d}/recurrent_kernel", weights[d][1]),
                   (f"{d}/bias", weights[d][2])]
        grads = direction_grads(module, suffix, cell, units)
        result += [(f"d{d}/kernel", grads[0]), (f"d{d}/recurrent_kernel", grads[1]), (f"d{d}/bias", grads[2])]
    write_tensors(path, result)


def bidirectional_state_case(gen, path, cell, batch, steps, features, units, return_sequences, merge_mode):
    """Keras's Bidirectional(return_state=True) against torch's bidirectional module's h_n (and c_n):
    h_n[0] is the forward layer's final state, h_n[1] the reverse direction's, which is Keras's
    backward layer's. The loss is sum(y * w) plus each final state times its own upstream gradient."""
    n = len(PERM[cell]) * units
    x = rand(gen, batch, steps, features).requires_grad_()
    weights = {}
    for d in ("forward", "backward"):
        weights[d] = (rand(gen, features, n, lo=-0.6, hi=0.6), rand(gen, units, n, lo=-0.6, hi=0.6),
                      rand(gen, *((2, n) if cell == "gru" else (n,)), lo=-0.5, hi=0.5))
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True, bidirectional=True).double()
    set_direction(module, "", cell, units, *weights["forward"])
    set_direction(module, "_reverse", cell, units, *weights["backward"])
    out, state = module(x)
    hn, cn = state if cell == "lstm" else (state, None)
    f, b = out[..., :units], out[..., units:]
    if not return_sequences:
        f, b = f[:, -1], b[:, 0]
    y = {"concat": lambda: torch.cat([f, b], dim=-1), "sum": lambda: f + b}[merge_mode]()
    up = rand(gen, *y.shape)
    loss = (y * up).sum()
    result = [("x", x), ("w", up), ("y", y)]
    states = [("h_forward", hn[0]), ("h_backward", hn[1])]
    if cell == "lstm":
        states += [("c_forward", cn[0]), ("c_backward", cn[1])]
    for name, s in states:
        ups = rand(gen, *s.shape)
        loss = loss + (s * ups).sum()
        result += [(name, s), ("w" + name, ups)]
    loss.backward()
    result.append(("dx", x.grad))
    for d, suffix in (("forward", ""), ("backward", "_reverse")):
        result += [(f"{d}/kernel", weights[d][0]), (f"{d}/recurrent_kernel", weights[d][1]),
                   (f"{d}/bias", weights[d][2])]
        grads = direction_grads(module, suffix, cell, units)
        result += [(f"d{d}/kernel", grads[0]), (f"d{d}/recurrent_kernel", grads[1]), (f"d{d}/bias", grads[2])]
    write_tensors(path, result)


def state_case(gen, path, cell, batch, steps, features, units, return_sequences, go_backwards):
    """An initial state (Keras's initial_state: h0, and c0 for LSTM) and the final state returned
    (return_state), each with an upstream gradient: the loss is sum(y * w) + sum(h_n * wh) (+ sum(c_n * wc))."""
    gates = len(PERM[cell])
    n = gates * units
    x = rand(gen, batch, steps, features).requires_grad_()
    kernel = rand(gen, features, n, lo=-0.6, hi=0.6)
    recurrent = rand(gen, units, n, lo=-0.6, hi=0.6)
    bias = rand(gen, *((2, n) if cell == "gru" else (n,)), lo=-0.5, hi=0.5)
    h0 = rand(gen, batch, units).requires_grad_()
    c0 = rand(gen, batch, units).requires_grad_()
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True).double()
    set_direction(module, "", cell, units, kernel, recurrent, bias)
    seq = torch.flip(x, [1]) if go_backwards else x
    if cell == "lstm":
        out, (hn, cn) = module(seq, (h0[None], c0[None]))
        cn = cn[0]
    else:
        out, hn = module(seq, h0[None])
    hn = hn[0]
    y = out if return_sequences else out[:, -1]
    up, uph = rand(gen, *y.shape), rand(gen, *hn.shape)
    loss = (y * up).sum() + (hn * uph).sum()
    result = [("x", x), ("kernel", kernel), ("recurrent_kernel", recurrent), ("bias", bias), ("h0", h0),
              ("w", up), ("wh", uph), ("y", y), ("h", hn)]
    if cell == "lstm":
        upc = rand(gen, *cn.shape)
        loss = loss + (cn * upc).sum()
        result += [("c0", c0), ("wc", upc), ("c", cn)]
    loss.backward()
    grads = direction_grads(module, "", cell, units)
    result += [("dx", x.grad), ("dh0", h0.grad), ("dkernel", grads[0]), ("drecurrent_kernel", grads[1]),
               ("dbias", grads[2])]
    if cell == "lstm":
        result.append(("dc0", c0.grad))
    write_tensors(path, result)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20240611)
    cases = [
        # name, cell, batch, steps, features, units, return_sequences, go_backwards, use_bias, nonlinearity
        ("rnn_last", "rnn", 3, 5, 4, 6, False, False, True, "tanh"),
        ("rnn_sequences_backwards_relu", "rnn", 2, 6, 3, 5, True, True, True, "relu"),
        ("lstm_sequences", "lstm", 3, 7, 5, 4, True, False, True, "tanh"),
        ("lstm_last_backwards", "lstm", 2, 5, 3, 6, False, True, True, "tanh"),
        ("lstm_no_bias_one_step", "lstm", 4, 1, 2, 3, True, False, False, "tanh"),
        ("gru_sequences", "gru", 3, 6, 4, 5, True, False, True, "tanh"),
        ("gru_last_backwards", "gru", 2, 8, 3, 4, False, True, True, "tanh"),
        ("gru_many_units", "gru", 2, 4, 9, 33, True, True, True, "tanh"),
    ]
    for name, *args in cases:
        case(gen, os.path.join(outdir, name + ".txt"), *args)
    bidirectional_cases = [
        # name, cell, batch, steps, features, units, return_sequences, merge_mode
        ("bi_lstm_concat_sequences", "lstm", 2, 5, 3, 4, True, "concat"),
        ("bi_gru_sum_last", "gru", 3, 4, 2, 5, False, "sum"),
        ("bi_rnn_mul_sequences", "rnn", 2, 6, 3, 3, True, "mul"),
        ("bi_lstm_ave_last", "lstm", 2, 3, 4, 3, False, "ave"),
    ]
    for name, *args in bidirectional_cases:
        bidirectional_case(gen, os.path.join(outdir, name + ".txt"), *args)
    state_cases = [
        # name, cell, batch, steps, features, units, return_sequences, go_backwards
        ("state_rnn_sequences", "rnn", 3, 5, 4, 6, True, False),
        ("state_lstm_last", "lstm", 2, 6, 3, 4, False, False),
        ("state_lstm_sequences_backwards", "lstm", 3, 4, 2, 5, True, True),
        ("state_gru_last_backwards", "gru", 2, 5, 3, 4, False, True),
    ]
    for name, *args in state_cases:
        state_case(gen, os.path.join(outdir, name + ".txt"), *args)
    bidirectional_state_cases = [
        # name, cell, batch, steps, features, units, return_sequences, merge_mode
        ("bi_state_lstm_concat_last", "lstm", 2, 5, 3, 4, False, "concat"),
        ("bi_state_lstm_sum_sequences", "lstm", 3, 4, 2, 3, True, "sum"),
        ("bi_state_gru_concat_sequences", "gru", 2, 6, 3, 4, True, "concat"),
        ("bi_state_rnn_concat_last", "rnn", 2, 4, 3, 5, False, "concat"),
    ]
    for name, *args in bidirectional_state_cases:
        bidirectional_state_case(gen, os.path.join(outdir, name + ".txt"), *args)


if __name__ == "__main__":
    main()
