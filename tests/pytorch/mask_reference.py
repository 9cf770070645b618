"""Reference values from PyTorch for tests/test_masks.cpp: masked batches of unequal lengths.

Usage: python3 mask_reference.py OUTDIR

Writes one file per case into OUTDIR in the format of conv_reference.py. Each batch has trailing
padding (lengths below); the mask written is 1 at a sample's steps and 0 after them.

- rnn, lstm, gru: torch's nn.RNN/LSTM/GRU on pack_padded_sequence, which is Keras's masked RNN for
  trailing padding: the outputs at valid steps, and the final state (h, c), that of each sample's last
  valid step. The loss is sum(y * w) + sum(h * wh) (+ sum(c * wc)) with w zero at padded steps (where
  torch writes zeros and Keras repeats the last output).
- bi_lstm, bi_gru: bidirectional=True on the packed batch, Keras's Bidirectional (concat) with a
  mask: the reverse direction starts at each sample's last valid step. w is zero at padded steps.
- mha: nn.MultiheadAttention self-attention with key_padding_mask, Keras's MultiHeadAttention on a
  masked input. Keras also masks the padded query rows (they attend uniformly), torch does not: w is
  zero there, and the test compares the valid rows only.

Weights in Keras's layout as in recurrent_reference.py and attention_reference.py; float32 draws,
float64 arithmetic.
"""
import os
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_reference import keras_kernel  # noqa: E402
from conv_reference import rand, write_tensors  # noqa: E402
from recurrent_reference import PERM, direction_grads, set_direction  # noqa: E402

LENGTHS = [5, 3, 1]
STEPS = 5


def mask_of(lengths, steps):
    return torch.tensor([[1.0 if t < n else 0.0 for t in range(steps)] for n in lengths])


def module_of(cell, features, units, bidirectional=False):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    return cls(features, units, batch_first=True, bidirectional=bidirectional).double()


def weights(gen, cell, features, units):
    n = len(PERM[cell]) * units
    kernel = rand(gen, features, n, lo=-0.6, hi=0.6)
    recurrent = rand(gen, units, n, lo=-0.6, hi=0.6)
    bias = rand(gen, *((2, n) if cell == "gru" else (n,)), lo=-0.5, hi=0.5)
    return kernel, recurrent, bias


def recurrent_case(gen, path, cell, features=3, units=4):
    batch = len(LENGTHS)
    mask = mask_of(LENGTHS, STEPS)
    x = rand(gen, batch, STEPS, features).requires_grad_()
    kernel, recurrent, bias = weights(gen, cell, features, units)
    module = module_of(cell, features, units)
    set_direction(module, "", cell, units, kernel, recurrent, bias)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out, state = module(packed)
    y, _ = pad_packed_sequence(out, batch_first=True, total_length=STEPS)
    h, c = (state[0][0], state[1][0]) if cell == "lstm" else (state[0], None)
    w = rand(gen, *y.shape) * mask.unsqueeze(-1)
    wh = rand(gen, *h.shape)
    loss = (y * w).sum() + (h * wh).sum()
    result = [("x", x), ("mask", mask), ("kernel", kernel), ("recurrent_kernel", recurrent), ("bias", bias),
              ("w", w), ("wh", wh), ("y", y), ("h", h)]
    if c is not None:
        wc = rand(gen, *c.shape)
        loss = loss + (c * wc).sum()
        result += [("wc", wc), ("c", c)]
    loss.backward()
    dk, dr, db = direction_grads(module, "", cell, units)
    result += [("dx", x.grad), ("dkernel", dk), ("drecurrent_kernel", dr), ("dbias", db)]
    write_tensors(path, result)


def bidirectional_case(gen, path, cell, features=3, units=3):
    batch = len(LENGTHS)
    mask = mask_of(LENGTHS, STEPS)
    x = rand(gen, batch, STEPS, features).requires_grad_()
    module = module_of(cell, features, units, bidirectional=True)
    result = [("x", x), ("mask", mask)]
    for name, suffix in (("forward", ""), ("backward", "_reverse")):
        kernel, recurrent, bias = weights(gen, cell, features, units)
        set_direction(module, suffix, cell, units, kernel, recurrent, bias)
        result += [(name + "/kernel", kernel), (name + "/recurrent_kernel", recurrent), (name + "/bias", bias)]
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    y, _ = pad_packed_sequence(module(packed)[0], batch_first=True, total_length=STEPS)
    w = rand(gen, *y.shape) * mask.unsqueeze(-1)
    (y * w).sum().backward()
    result += [("w", w), ("y", y), ("dx", x.grad)]
    for name, suffix in (("forward", ""), ("backward", "_reverse")):
        dk, dr, db = direction_grads(module, suffix, cell, units)
        result += [("d" + name + "/kernel", dk), ("d" + name + "/recurrent_kernel", dr), ("d" + name + "/bias", db)]
    write_tensors(path, result)


def mha_case(gen, path, lengths=(5, 3), d=8, heads=2):
    batch, tq = len(lengths), STEPS
    mask = mask_of(lengths, tq)
    mha = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(rand(gen, *p.shape, lo=-0.5, hi=0.5))
    x = rand(gen, batch, tq, d).requires_grad_()
    y, _ = mha(x, x, x, key_padding_mask=mask == 0, need_weights=False)
    w = rand(gen, *y.shape) * mask.unsqueeze(-1)
    (y * w).sum().backward()
    kd = d // heads
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    gq, gk, gv = mha.in_proj_weight.grad.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    dbq, dbk, dbv = mha.in_proj_bias.grad.chunk(3)
    wo, bo = mha.out_proj.weight, mha.out_proj.bias
    out = [("x", x), ("mask", mask), ("w", w), ("y", y * mask.unsqueeze(-1)), ("dx", x.grad)]
    out += [("query/kernel", keras_kernel(wq, heads, kd)), ("query/bias", bq.reshape(heads, kd)),
            ("key/kernel", keras_kernel(wk, heads, kd)), ("key/bias", bk.reshape(heads, kd)),
            ("value/kernel", keras_kernel(wv, heads, kd)), ("value/bias", bv.reshape(heads, kd)),
            ("attention_output/kernel", wo.detach().t().reshape(heads, kd, d)), ("attention_output/bias", bo)]
    out += [("d/query/kernel", keras_kernel(gq, heads, kd)), ("d/query/bias", dbq.reshape(heads, kd)),
            ("d/value/kernel", keras_kernel(gv, heads, kd)), ("d/value/bias", dbv.reshape(heads, kd)),
            ("d/attention_output/kernel", wo.grad.t().reshape(heads, kd, d)), ("d/attention_output/bias", bo.grad),
            ("d/key/kernel", keras_kernel(gk, heads, kd))]
    write_tensors(path, out)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(20261201)
    for cell in ("rnn", "lstm", "gru"):
        recurrent_case(gen, os.path.join(outdir, cell + ".txt"), cell)
    for cell in ("lstm", "gru"):
        bidirectional_case(gen, os.path.join(outdir, "bi_" + cell + ".txt"), cell)
    mha_case(gen, os.path.join(outdir, "mha.txt"))


if __name__ == "__main__":
    main()
